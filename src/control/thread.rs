//! The control thread: the only owner of the [`ControlPlane`].
//!
//! # Loop
//! ```text
//! while !stop {
//!     wait ≤ 1 ms for a request; serve it and every other queued one
//!     cp.poll(now)                      // worker events, ageing, ARP, backlogs
//!     answer changes every replica has applied; fail those older than APPLY_TIMEOUT
//!     refresh Telemetry's FDB summary, drain latency histograms, rotate the rates sample
//! }
//! ```
//! A change (FDB add/del/flush, neighbour add/del) is answered only once
//! `cp.min_applied_generation() >= generation`, with the applied generation, so an operator who
//! sees "ok" knows every worker forwards by the new table. When the replicas lag longer than
//! [`APPLY_TIMEOUT`] the answer is an error saying so (the change stays published and will
//! still apply).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::protocol::{
    BatchOp, ClusterStatus, Command, FdbEntry, MemberEntry, NeighborEntry, Response, StatsSnapshot,
    TunnelEntry, WorkerStats,
};
use super::{ControlError, ControlMsg};
use crate::dataplane::DropReason;
use crate::fdb::control::{ControlPlane, FdbStats};
use crate::fdb::source::SourceLink;
use crate::metrics::rates::{Rates, Sample, Traffic};
use crate::metrics::{FdbSummary, Telemetry};
use crate::reload::Reloader;

/// How long a change may wait for every replica before the client gets an error.
pub const APPLY_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest sleep when idle (requests wake the thread earlier).
pub const IDLE_WAIT: Duration = Duration::from_millis(1);
/// Longest sleep while a change waits for the replicas: workers apply within microseconds, and
/// a client waiting for its answer should not wait for the idle tick.
pub const PENDING_WAIT: Duration = Duration::from_micros(20);
/// Updates from the source of remote entries applied per tick at most.
pub const MAX_SOURCE_UPDATES_PER_TICK: usize = 65536;
/// Interval of the rates `vxgate stats` reports.
pub const RATES_INTERVAL: Duration = Duration::from_secs(1);

impl From<&FdbStats> for FdbSummary {
    fn from(s: &FdbStats) -> FdbSummary {
        FdbSummary {
            static_entries: s.static_entries,
            learned_entries: s.learned_entries,
            remote_entries: s.remote_entries,
            learn_events: s.learn_events,
            moves: s.moves,
            learn_rejected: s.learn_rejected,
            aged_out: s.aged_out,
            neighbor_entries: s.neighbor_entries,
            published_generation: s.published_generation,
            local_entries: s.local_entries,
            tunnels_full: s.tunnels_full,
            flaps_damped: s.flaps_damped,
            moves_suppressed: s.moves_suppressed,
        }
    }
}

/// A change waiting for the replicas.
struct Pending {
    generation: u64,
    reply: Sender<Response>,
    deadline: Instant,
    what: Waiting,
}

/// What kind of answer a pending change gets.
enum Waiting {
    /// One change: `Response::Ok`.
    Change,
    /// A reload: when it was asked for, and what it changed.
    Reload { asked: Instant, summary: String },
    /// A batch: what it changed and refused.
    Batch {
        changed: u64,
        failed: u64,
        errors: Vec<String>,
    },
}

/// Reasons a batch answer lists at most.
const BATCH_ERRORS: usize = 10;

/// The control thread's state.
pub struct ControlThread {
    cp: ControlPlane,
    source: Option<SourceLink>,
    telemetry: Arc<Telemetry>,
    pending: Vec<Pending>,
    rates_base: Sample,
    rates: Option<Rates>,
    /// Re-reads the configuration file (absent when the gateway was started without one).
    reloader: Option<Reloader>,
}

/// Starts the control thread. It runs until `stop` is set (or every request sender is gone
/// and `stop` is set), then answers what is still pending and returns the control plane.
pub fn spawn(
    cp: ControlPlane,
    source: Option<SourceLink>,
    reloader: Option<Reloader>,
    telemetry: Arc<Telemetry>,
    requests: Receiver<ControlMsg>,
    stop: Arc<AtomicBool>,
) -> Result<JoinHandle<ControlPlane>, ControlError> {
    std::thread::Builder::new()
        .name("vxgate-control".into())
        .spawn(move || {
            let mut t = ControlThread::new(cp, telemetry);
            t.source = source;
            t.reloader = reloader;
            t.run(&requests, &stop);
            t.into_control_plane()
        })
        .map_err(ControlError::Spawn)
}

impl ControlThread {
    pub fn new(cp: ControlPlane, telemetry: Arc<Telemetry>) -> ControlThread {
        let rates_base = Sample::take(&telemetry);
        ControlThread {
            cp,
            source: None,
            telemetry,
            pending: Vec::new(),
            rates_base,
            rates: None,
            reloader: None,
        }
    }

    pub fn into_control_plane(self) -> ControlPlane {
        self.cp
    }

    /// The loop; returns once `stop` is set.
    pub fn run(&mut self, requests: &Receiver<ControlMsg>, stop: &AtomicBool) {
        let mut disconnected = false;
        while !stop.load(Ordering::Relaxed) {
            if disconnected {
                std::thread::sleep(IDLE_WAIT);
            } else {
                let wait = if self.pending.is_empty() {
                    IDLE_WAIT
                } else {
                    PENDING_WAIT
                };
                match requests.recv_timeout(wait) {
                    Ok(msg) => {
                        self.handle(msg);
                        while let Ok(msg) = requests.try_recv() {
                            self.handle(msg);
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => disconnected = true,
                }
            }
            self.tick(Instant::now());
        }
        for p in self.pending.drain(..) {
            let _ = p.reply.send(Response::error(
                "vxgate is shutting down; the change was published but not confirmed",
            ));
        }
    }

    /// Polls the control plane and does the periodic work.
    pub fn tick(&mut self, now: Instant) {
        if let Some(src) = &self.source {
            // Bounded per tick so a flood of watch events cannot starve the CLI or ageing.
            for _ in 0..MAX_SOURCE_UPDATES_PER_TICK {
                match src.updates.try_recv() {
                    Ok(u) => self.cp.apply_source(u, now),
                    Err(_) => break,
                }
            }
        }
        self.cp.poll(now);
        if let Some(src) = &self.source {
            for r in self.cp.take_requests() {
                let _ = src.requests.send(r);
            }
        }
        self.telemetry.set_fleet_stats(self.cp.fleet_stats());
        let (epoch, rows) = self.cp.tunnel_labels();
        self.telemetry.set_tunnels(epoch, rows);
        self.answer_applied(now);
        self.telemetry
            .set_fdb_summary(FdbSummary::from(&self.cp.stats()));
        // Drains the workers' latency histograms (the scrape drains too; whoever comes first).
        self.telemetry.collect_latency(now);
        if now.saturating_duration_since(self.rates_base.at) >= RATES_INTERVAL {
            let (rates, sample) = Rates::since(&self.rates_base, &self.telemetry);
            self.rates = Some(rates);
            self.rates_base = sample;
        }
    }

    fn answer_applied(&mut self, now: Instant) {
        if self.pending.is_empty() {
            return;
        }
        let applied = self.cp.min_applied_generation();
        let telemetry = &self.telemetry;
        self.pending.retain(|p| {
            if applied >= p.generation {
                let answer = match &p.what {
                    Waiting::Change => Response::Ok {
                        generation: Some(p.generation),
                        applied_generation: Some(applied),
                    },
                    Waiting::Batch {
                        changed,
                        failed,
                        errors,
                    } => Response::Batch {
                        changed: *changed,
                        failed: *failed,
                        errors: errors.clone(),
                        generation: p.generation,
                        applied_generation: applied,
                    },
                    Waiting::Reload { asked, summary } => {
                        let took = now.saturating_duration_since(*asked);
                        telemetry.record_reload("applied", Some(took));
                        tracing::info!(
                            "configuration reloaded ({summary}): generation {} applied by \
                             every worker in {:.1} ms",
                            p.generation,
                            took.as_secs_f64() * 1e3
                        );
                        Response::Reloaded {
                            summary: summary.clone(),
                            generation: p.generation,
                            applied_generation: applied,
                            millis: took.as_secs_f64() * 1e3,
                        }
                    }
                };
                let _ = p.reply.send(answer);
                false
            } else if now >= p.deadline {
                if matches!(p.what, Waiting::Reload { .. }) {
                    telemetry.record_reload("applied", None);
                }
                let _ = p.reply.send(Response::error(format!(
                    "change published as generation {} but the replicas lag: \
                     slowest worker has applied generation {applied} after {:?}",
                    p.generation, APPLY_TIMEOUT
                )));
                false
            } else {
                true
            }
        });
    }

    /// Serves one request: answers now, or queues the answer until the replicas caught up.
    pub fn handle(&mut self, msg: ControlMsg) {
        let cmd = match msg.request.validate() {
            Ok(c) => c,
            Err(e) => {
                let _ = msg.reply.send(Response::error(e));
                return;
            }
        };
        let change = match cmd {
            Command::FdbList { vni } => {
                let rows = self
                    .cp
                    .entries(vni)
                    .into_iter()
                    .map(|r| {
                        let key = crate::fdb::FdbKey::new(r.vni, r.mac);
                        FdbEntry {
                            vni: r.vni.get(),
                            mac: r.mac.to_string(),
                            remote: r.remote,
                            kind: r.kind.to_string(),
                            age_secs: r.age_secs,
                            origin: self.cp.origin(&key).map(str::to_string),
                            ips: self.cp.ips(&key).to_vec(),
                        }
                    })
                    .collect();
                let _ = msg.reply.send(Response::Fdb(rows));
                return;
            }
            Command::NeighborList => {
                let rows = self
                    .cp
                    .neighbors()
                    .into_iter()
                    .map(|r| NeighborEntry {
                        ip: r.ip,
                        mac: r.mac.map(|m| m.to_string()),
                        state: r.state.to_string(),
                    })
                    .collect();
                let _ = msg.reply.send(Response::Neighbors(rows));
                return;
            }
            Command::TunnelList => {
                let _ = msg.reply.send(Response::Tunnels(self.tunnel_entries()));
                return;
            }
            Command::Stats => {
                let _ = msg.reply.send(Response::Stats(Box::new(self.snapshot())));
                return;
            }
            Command::ClusterStatus => {
                let _ = msg
                    .reply
                    .send(Response::Cluster(Box::new(self.cluster_status())));
                return;
            }
            Command::Ping => {
                let _ = msg.reply.send(Response::ok());
                return;
            }
            Command::FdbAdd { key, remote } => {
                self.cp.add_static(key, remote).map_err(|e| e.to_string())
            }
            Command::FdbDel { key } => self.cp.remove(key).map_err(|e| e.to_string()),
            Command::FdbFlush { vni } => Ok(self.cp.flush(vni)),
            Command::NeighborAdd { ip, mac } => Ok(self.cp.neighbor_add(ip, mac)),
            Command::NeighborDel { ip } => self.cp.neighbor_del(ip).map_err(|e| e.to_string()),
            Command::Reload => {
                self.reload(msg.reply);
                return;
            }
            Command::FdbBatch(ops) => {
                let (mut changed, mut failed, mut errors) = (0, 0, Vec::new());
                for op in ops {
                    let r = match op {
                        BatchOp::Add { key, remote } => self.cp.add_static(key, remote),
                        BatchOp::Del { key } => self.cp.remove(key),
                    };
                    match r {
                        Ok(_) => changed += 1,
                        Err(e) => {
                            failed += 1;
                            if errors.len() < BATCH_ERRORS {
                                errors.push(e.to_string());
                            }
                        }
                    }
                }
                self.pending.push(Pending {
                    generation: self.cp.published_generation(),
                    reply: msg.reply,
                    deadline: Instant::now() + APPLY_TIMEOUT,
                    what: Waiting::Batch {
                        changed,
                        failed,
                        errors,
                    },
                });
                self.answer_applied(Instant::now());
                return;
            }
        };
        match change {
            Ok(generation) => {
                self.pending.push(Pending {
                    generation,
                    reply: msg.reply,
                    deadline: Instant::now() + APPLY_TIMEOUT,
                    what: Waiting::Change,
                });
                // Answers at once when nothing changed or the replicas are already there.
                self.answer_applied(Instant::now());
            }
            Err(e) => {
                let _ = msg.reply.send(Response::error(e));
            }
        }
    }

    /// Re-reads the configuration file and applies it; answered once every worker applied it.
    pub fn reload(&mut self, reply: Sender<Response>) {
        let asked = Instant::now();
        let Some(r) = self.reloader.as_mut() else {
            let _ = reply.send(Response::error(
                "this gateway was not started from a configuration file; nothing to reload",
            ));
            return;
        };
        match r.reload(&mut self.cp) {
            Ok(summary) => {
                self.pending.push(Pending {
                    generation: self.cp.published_generation(),
                    reply,
                    deadline: asked + APPLY_TIMEOUT,
                    what: Waiting::Reload {
                        asked,
                        summary: summary.to_string(),
                    },
                });
                self.answer_applied(Instant::now());
            }
            Err(e) => {
                self.telemetry.record_reload(e.result(), None);
                tracing::warn!("configuration reload from {}: {e}", r.path().display());
                let _ = reply.send(Response::error(e.to_string()));
            }
        }
    }

    /// The tunnel table with each row's traffic summed over the workers (less what the row
    /// had counted before it was given its current address).
    pub fn tunnel_entries(&self) -> Vec<TunnelEntry> {
        self.cp
            .tunnels()
            .into_iter()
            .map(|t| {
                let [tx_packets, tx_bytes, rx_packets, rx_bytes] =
                    self.telemetry.tunnel_traffic(t.id);
                TunnelEntry {
                    id: t.id.0,
                    remote: t.remote,
                    next_hop: t.next_hop.map(|m| m.to_string()),
                    fdb_entries: t.fdb_entries,
                    flood_vnis: t.flood_vnis,
                    tx_packets,
                    tx_bytes,
                    rx_packets,
                    rx_bytes,
                }
            })
            .collect()
    }

    /// Everything `vxgate cluster status` shows.
    pub fn cluster_status(&self) -> ClusterStatus {
        let Some(info) = &self.telemetry.cluster else {
            return ClusterStatus::default();
        };
        let st = &info.state;
        let g = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        let f = self.cp.fleet_stats();
        let fdb = self.cp.stats();
        ClusterStatus {
            enabled: true,
            member: info.member.clone(),
            mode: match info.mode {
                crate::config::ClusterMode::Replicate => "replicate".into(),
                crate::config::ClusterMode::OnDemand => "on-demand".into(),
            },
            endpoints: info.endpoints.clone(),
            prefix: info.prefix.clone(),
            connected: st.connected.load(Ordering::Relaxed),
            lease_id: st.lease_id.load(Ordering::Relaxed),
            lease_secs: info.lease_secs,
            last_resync_unix: g(&st.last_resync_unix),
            last_resync_ms: g(&st.last_resync_ms),
            last_resync_keys: g(&st.last_resync_keys),
            resyncs: g(&st.resyncs),
            puts: g(&st.puts),
            deletes: g(&st.deletes),
            watch_events: g(&st.watch_events),
            errors: g(&st.errors),
            lookups: g(&st.lookups),
            local_entries: fdb.local_entries,
            remote_entries: fdb.remote_entries,
            arp_bindings: f.arp_bindings,
            miss_latency_last_us: f.miss_latency_last_us,
            miss_latency_avg_us: f.miss_latency_sum_us / f.miss_latency_count.max(1),
            detail: st.detail(),
            members: self
                .cp
                .members()
                .into_iter()
                .map(|m| MemberEntry {
                    name: m.name.to_string(),
                    vtep: m.vtep,
                    vnis: m.vnis.iter().map(|v| v.get()).collect(),
                    version: m.version,
                })
                .collect(),
        }
    }

    /// Everything `vxgate stats` shows.
    pub fn snapshot(&self) -> StatsSnapshot {
        let t = &self.telemetry;
        let now = Instant::now();
        let lat = t.latency(now);
        let workers = t
            .workers
            .iter()
            .enumerate()
            .map(|(w, c)| WorkerStats {
                worker: w,
                access: Traffic::read(&c.access_rx, &c.access_tx),
                underlay: Traffic::read(&c.underlay_rx, &c.underlay_tx),
                encap_packets: c.encap_packets.get(),
                decap_packets: c.decap_packets.get(),
                flood_packets: c.flood_packets.get(),
                drops: c.total_drops(),
                learn_events_dropped: c.events_dropped.get(),
                applied_generation: c.applied_generation.get(),
                latency: lat.recent(w),
            })
            .collect();
        drop(lat);
        let drops_by_reason = DropReason::ALL
            .iter()
            .map(|r| {
                (
                    r.as_str().to_string(),
                    t.workers.iter().map(|c| c.dropped(*r)).sum(),
                )
            })
            .collect();
        StatsSnapshot {
            version: env!("CARGO_PKG_VERSION").to_string(),
            uptime_secs: now.saturating_duration_since(t.started).as_secs(),
            ports: (t.ports.access.clone(), t.ports.underlay.clone()),
            workers,
            drops_by_reason,
            rates: self.rates.clone(),
            fdb: FdbSummary::from(&self.cp.stats()),
            min_applied_generation: self.cp.min_applied_generation(),
            devices: t.device_stats(),
            mempool: t.mempool(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::protocol::Request;
    use crate::fdb::control::{FdbSettings, VniPolicy};
    use crate::fdb::replica;
    use crate::metrics::{LatencyCollector, PortNames, WorkerCounters};
    use std::collections::BTreeMap;
    use std::net::Ipv4Addr;

    fn settings() -> FdbSettings {
        let mut vni_policy = BTreeMap::new();
        vni_policy.insert(
            crate::Vni::new(100).unwrap(),
            VniPolicy {
                learning: true,
                max_learned: 100,
            },
        );
        FdbSettings {
            aging: Duration::from_secs(300),
            max_learned_total: 1000,
            vni_policy,
            vtep_ip: Ipv4Addr::new(192, 0, 2, 1),
            prefix_len: 24,
            gateway: None,
            arp_retry: Duration::from_secs(1),
            arp_max_retries: 3,
            ..Default::default()
        }
    }

    fn ask(t: &mut ControlThread, request: Request) -> crossbeam_channel::Receiver<Response> {
        let (reply, rx) = crossbeam_channel::bounded(1);
        t.handle(ControlMsg { request, reply });
        rx
    }

    #[test]
    fn change_is_answered_only_after_replicas_apply_and_times_out_otherwise() {
        let (link, mut rep) = replica::channel(64, 64);
        let cp = ControlPlane::new(settings(), vec![link]);
        let tel = Arc::new(Telemetry::new(
            vec![Arc::new(WorkerCounters::default())],
            PortNames::default(),
            LatencyCollector::new(vec![]).unwrap(),
        ));
        let mut t = ControlThread::new(cp, tel.clone());
        let add = Request::FdbAdd {
            vni: 100,
            mac: "02:00:00:00:00:01".into(),
            remote: "192.0.2.2".into(),
        };
        let rx = ask(&mut t, add);
        t.tick(Instant::now());
        assert!(
            rx.try_recv().is_err(),
            "answered before the replica applied"
        );
        rep.apply_pending(usize::MAX);
        t.tick(Instant::now());
        match rx.try_recv().unwrap() {
            Response::Ok {
                generation: Some(g),
                applied_generation: Some(a),
            } => assert!(a >= g && g > 0),
            r => panic!("{r:?}"),
        }
        assert_eq!(tel.fdb_summary().static_entries, 1);

        // A delete nobody applies fails after the timeout, explaining the lag.
        let rx = ask(
            &mut t,
            Request::FdbDel {
                vni: 100,
                mac: "02:00:00:00:00:01".into(),
            },
        );
        t.tick(Instant::now() + APPLY_TIMEOUT + Duration::from_millis(1));
        match rx.try_recv().unwrap() {
            Response::Error { message } => assert!(message.contains("lag"), "{message}"),
            r => panic!("{r:?}"),
        }
    }

    #[test]
    fn a_batch_is_validated_whole_applied_in_order_and_answered_once() {
        use crate::control::protocol::FdbChange;
        let (link, mut rep) = replica::channel(64, 64);
        let cp = ControlPlane::new(settings(), vec![link]);
        let tel = Arc::new(Telemetry::new(
            vec![],
            PortNames::default(),
            LatencyCollector::new(vec![]).unwrap(),
        ));
        let mut t = ControlThread::new(cp, tel);
        let add = |m: &str| FdbChange::Add {
            vni: 100,
            mac: m.into(),
            remote: "192.0.2.2".into(),
        };
        // One bad MAC: nothing is applied.
        let bad = ask(
            &mut t,
            Request::FdbBatch {
                changes: vec![add("02:00:00:00:00:01"), add("nope")],
            },
        );
        match bad.try_recv().unwrap() {
            Response::Error { message } => assert!(message.contains("change 1"), "{message}"),
            r => panic!("{r:?}"),
        }
        assert_eq!(t.cp.published_generation(), 0);
        // Add two, delete one of them and one that does not exist.
        let del = |m: &str| FdbChange::Del {
            vni: 100,
            mac: m.into(),
        };
        let rx = ask(
            &mut t,
            Request::FdbBatch {
                changes: vec![
                    add("02:00:00:00:00:01"),
                    add("02:00:00:00:00:02"),
                    del("02:00:00:00:00:01"),
                    del("02:00:00:00:00:09"),
                ],
            },
        );
        assert!(
            rx.try_recv().is_err(),
            "answered before the replica applied"
        );
        rep.apply_pending(usize::MAX);
        t.tick(Instant::now());
        match rx.try_recv().unwrap() {
            Response::Batch {
                changed: 3,
                failed: 1,
                errors,
                generation,
                applied_generation,
            } => {
                assert_eq!(errors.len(), 1);
                assert!(applied_generation >= generation);
            }
            r => panic!("{r:?}"),
        }
        let keys: Vec<_> =
            t.cp.entries(None)
                .iter()
                .map(|r| r.mac.to_string())
                .collect();
        assert_eq!(keys, vec!["02:00:00:00:00:02".to_string()]);
    }

    #[test]
    fn invalid_and_failing_requests_change_nothing() {
        let (link, _rep) = replica::channel(64, 64);
        let cp = ControlPlane::new(settings(), vec![link]);
        let tel = Arc::new(Telemetry::new(
            vec![],
            PortNames::default(),
            LatencyCollector::new(vec![]).unwrap(),
        ));
        let mut t = ControlThread::new(cp, tel);
        let bad = ask(
            &mut t,
            Request::FdbAdd {
                vni: 100,
                mac: "nope".into(),
                remote: "192.0.2.2".into(),
            },
        );
        assert!(matches!(bad.try_recv().unwrap(), Response::Error { .. }));
        let unknown_vni = ask(
            &mut t,
            Request::FdbAdd {
                vni: 7,
                mac: "02:00:00:00:00:01".into(),
                remote: "192.0.2.2".into(),
            },
        );
        assert!(matches!(
            unknown_vni.try_recv().unwrap(),
            Response::Error { .. }
        ));
        assert_eq!(t.cp.published_generation(), 0);
        let list = ask(&mut t, Request::FdbList { vni: None });
        assert_eq!(list.try_recv().unwrap(), Response::Fdb(vec![]));
        let ping = ask(&mut t, Request::Ping);
        assert_eq!(ping.try_recv().unwrap(), Response::ok());
    }
}
