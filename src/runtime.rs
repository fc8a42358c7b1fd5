//! Assembling a running gateway from a validated configuration and a backend's queues.
//!
//! # Design
//! `start` is generic over the I/O backend: `vxgate run` passes DPDK queues, the integration
//! tests pass software rings, and everything above the queues (workers, control thread,
//! metrics, control socket) is the same code. Start-up order: control plane seeded with the
//! static entries → replicas converged → workers pinned and polling → control thread → control
//! socket and metrics. Shutdown is the reverse: the stop flag ends the workers' loops, they are
//! joined, then the control side. The backend (ports, mempool, EAL) is dropped by the caller
//! only after `Gateway::shutdown` returned, so no worker can touch a freed queue.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::cluster::{etcd, ClusterInfo, ClusterState};
use crate::config::{ClusterMode, Config};
use crate::control::{self, ControlError, Request, Response};
use crate::dataplane::reconfig::reconfig_channel;
use crate::dataplane::{DropReason, LatencySink, PipelineSettings, VniSettings, Worker};
use crate::fdb::control::{
    ControlPlane, FdbError, FdbSettings, FlapDamping, FleetSettings, VniPolicy,
};
use crate::fdb::source::source_channel;
use crate::fdb::FdbKey;
use crate::fdb::{replica, state};
use crate::io::{Io, WorkerIo};
use crate::metrics::histogram::{latency_pair, LatencyCollector, LatencyRecorder};
use crate::metrics::telemetry::{DeviceStatsSource, PortNames, Telemetry};
use crate::metrics::{MetricsError, WorkerCounters};
use crate::reload::Reloader;
use crate::types::MacAddr;

/// Capacity of each worker's delta ring (control → worker) and event ring (worker → control).
pub const DELTA_RING: usize = 16 * 1024;
pub const EVENT_RING: usize = 16 * 1024;
/// Room in each replica for static entries added at run time (beyond the configured ones).
pub const RUNTIME_STATIC_ENTRIES: usize = 65536;

/// Why a gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("pipeline settings: {0}")]
    Settings(crate::dataplane::settings::SettingsError),
    #[error("static FDB/neighbour entry rejected: {0}")]
    Fdb(FdbError),
    #[error("{workers} workers configured but the backend provided {queues} queue pairs")]
    QueueCount { workers: usize, queues: usize },
    #[error("metrics: {0}")]
    Metrics(MetricsError),
    #[error("control: {0}")]
    Control(ControlError),
    #[error("cannot start worker thread: {0}")]
    Spawn(std::io::Error),
    #[error("worker {worker} could not initialise on core {core}: {reason}")]
    WorkerInit {
        worker: usize,
        core: usize,
        reason: String,
    },
    #[error("replicas did not converge on the static entries within {0:?}")]
    Converge(Duration),
}

// Each message includes its cause; none is also returned as `source()`, so a reporter that
// walks the chain prints every cause once.
macro_rules! runtime_error_from {
    ($($variant:ident($ty:ty)),* $(,)?) => {$(
        impl From<$ty> for RuntimeError {
            fn from(e: $ty) -> Self {
                RuntimeError::$variant(e)
            }
        }
    )*};
}
runtime_error_from!(
    Settings(crate::dataplane::settings::SettingsError),
    Fdb(FdbError),
    Metrics(MetricsError),
    Control(ControlError),
);

/// The pipeline's view of the configuration.
pub fn pipeline_settings(
    cfg: &Config,
    vtep_mac: MacAddr,
) -> Result<PipelineSettings, RuntimeError> {
    let v = &cfg.vtep;
    let mut s = PipelineSettings::new(v.ipv4(), vtep_mac);
    s.udp_port = v.udp_port;
    s.set_src_port_range(v.src_port_range[0], v.src_port_range[1])?;
    s.ttl = v.ttl;
    s.dont_fragment = v.dont_fragment;
    s.underlay_mtu = v.underlay_mtu;
    s.vtep_ip6 = v.ip6;
    s.hop_limit = v.hop_limit;
    s.multicast_ttl = v.multicast_ttl;
    s.udp6_zero_checksum_tx = v.udp6_zero_checksum_tx;
    s.udp6_zero_checksum_rx = v.udp6_zero_checksum_rx;
    s.igmp_version = v.igmp_version;
    for g in cfg.vni.iter().filter_map(|n| n.group) {
        s.join(g);
    }
    s.report_misses = cfg
        .cluster
        .as_ref()
        .is_some_and(|c| c.mode == ClusterMode::OnDemand);
    for n in &cfg.vni {
        s.add_vni(VniSettings {
            vni: n.id,
            vlan: n.vlan,
            learning: n.learning,
            // The fleet publishes what the access side learns; ARP suppression answers
            // from it even without a fleet.
            local_learning: cfg.cluster.is_some() || n.arp_suppress,
            arp_suppress: n.arp_suppress,
        })?;
    }
    Ok(s)
}

/// The multicast MACs the underlay port must receive: each VNI's group (RFC 1112 §6.4) and,
/// with an IPv6 address, all-nodes and the address's solicited-node group (neighbour
/// discovery, RFC 4861).
pub fn underlay_multicast_macs(cfg: &Config) -> Vec<MacAddr> {
    let mut macs: Vec<MacAddr> = cfg
        .vni
        .iter()
        .filter_map(|n| n.group)
        .filter_map(|g| MacAddr::for_multicast_ip(IpAddr::V4(g)))
        .collect();
    if let Some(ip6) = cfg.vtep.ip6 {
        let sn = crate::wire::icmpv6::solicited_node(ip6);
        macs.extend(MacAddr::for_multicast_ip(IpAddr::V6(sn)));
        macs.push(MacAddr([0x33, 0x33, 0, 0, 0, 1]));
    }
    macs.sort();
    macs.dedup();
    macs
}

/// The control plane's view of the configuration.
pub fn fdb_settings(cfg: &Config) -> FdbSettings {
    let vni_policy: BTreeMap<_, _> = cfg
        .vni
        .iter()
        .map(|n| {
            (
                n.id,
                VniPolicy {
                    learning: n.learning,
                    max_learned: n.max_learned.unwrap_or(cfg.learning.max_per_vni),
                },
            )
        })
        .collect();
    FdbSettings {
        aging: Duration::from_secs(cfg.learning.aging_secs),
        max_learned_total: cfg.learning.max_total,
        vni_policy,
        vtep_ip: cfg.vtep.ipv4(),
        prefix_len: cfg.vtep.prefix_len,
        gateway: cfg.vtep.gateway,
        vtep_ip6: cfg.vtep.ip6,
        prefix6_len: cfg.vtep.prefix6_len,
        gateway6: cfg.vtep.gateway6,
        arp_retry: Duration::from_millis(cfg.arp.retry_ms),
        arp_max_retries: cfg.arp.max_retries,
        flap: FlapDamping {
            moves: cfg.learning.flap_moves,
            window: Duration::from_secs(cfg.learning.flap_window_secs),
            hold: Duration::from_secs(cfg.learning.flap_hold_secs),
        },
        // The group goes first: it reaches every member, the unicast list only adds to it.
        flood: cfg
            .vni
            .iter()
            .map(|n| {
                let group = n.group.map(IpAddr::V4);
                (
                    n.id,
                    group.into_iter().chain(n.flood.iter().copied()).collect(),
                )
            })
            .collect(),
    }
}

/// The control plane's part in the fleet, from the configuration.
pub fn fleet_settings(cfg: &Config) -> FleetSettings {
    let c = cfg.cluster.as_ref();
    FleetSettings {
        member: Arc::from(c.map_or(String::new(), |c| c.member_name(cfg.vtep.vtep_addr()))),
        arp_suppress: cfg
            .vni
            .iter()
            .filter(|n| n.arp_suppress)
            .map(|n| n.id)
            .collect(),
        on_demand: c.is_some_and(|c| c.mode == ClusterMode::OnDemand),
        negative: Duration::from_secs(c.map_or(5, |c| c.negative_cache_secs)),
        max_lookups_per_sec: c.map_or(1000, |c| c.max_lookups_per_sec),
        has_source: c.is_some(),
    }
}

/// How `start` wires the gateway up.
pub struct StartOptions {
    /// Pin each worker to its configured core (off in tests that share a small machine).
    pub pin_workers: bool,
    /// Serve `/metrics` at the configured address (when metrics are enabled).
    pub serve_metrics: bool,
    /// Serve the control socket at the configured path.
    pub serve_control: bool,
    /// Device and mempool counters of the backend.
    pub device_stats: Option<Box<dyn DeviceStatsSource>>,
    pub port_names: PortNames,
    /// The file the configuration was read from: reloads (SIGHUP, `vxgate reload`) re-read
    /// it. Without one, reloads are refused.
    pub config_path: Option<PathBuf>,
    /// The CPUs this process may run on, taken before anything pinned a thread (DPDK's EAL
    /// pins the main thread to its main lcore): reloaded files are validated against them and
    /// the control side is kept on one of them that no worker uses.
    pub process_cores: Vec<usize>,
}

impl Default for StartOptions {
    fn default() -> Self {
        StartOptions {
            pin_workers: true,
            serve_metrics: true,
            serve_control: true,
            device_stats: None,
            port_names: PortNames::default(),
            config_path: None,
            process_cores: crate::config::available_cores(),
        }
    }
}

/// Lets workers record into the metrics' histogram recorder.
impl LatencySink for LatencyRecorder {
    #[inline]
    fn record_ns(&mut self, ns: u64) {
        self.record(ns);
    }
    #[inline]
    fn tick(&mut self, now_ns: u64) {
        self.maybe_handoff(now_ns);
    }
}

/// A running gateway.
pub struct Gateway {
    stop: Arc<AtomicBool>,
    control_stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
    control: Option<JoinHandle<ControlPlane>>,
    socket: Option<JoinHandle<()>>,
    metrics: Option<JoinHandle<()>>,
    cluster: Option<JoinHandle<()>>,
    metrics_addr: Option<SocketAddr>,
    requests: crossbeam_channel::Sender<control::ControlMsg>,
    pub telemetry: Arc<Telemetry>,
    started: Instant,
    /// Where a clean stop saves the warm-restart state.
    state_file: Option<PathBuf>,
}

/// Starts workers (one per queue pair in `ios`, in order), the control thread, the control
/// socket and the metrics server.
pub fn start<I: Io>(
    cfg: &Config,
    vtep_mac: MacAddr,
    ios: Vec<WorkerIo<I>>,
    opts: StartOptions,
) -> Result<Gateway, RuntimeError> {
    let n = cfg.workers.cores.len();
    if ios.len() != n {
        return Err(RuntimeError::QueueCount {
            workers: n,
            queues: ios.len(),
        });
    }
    let settings = pipeline_settings(cfg, vtep_mac)?;
    let cores = opts.process_cores.clone();

    // Every replica holds the whole table: the learned maximum, the static entries, and room
    // for entries added at run time through the control socket.
    let fdb_capacity = cfg.learning.max_total + cfg.fdb.len() + RUNTIME_STATIC_ENTRIES;
    let mut links = Vec::with_capacity(n);
    let mut replicas = Vec::with_capacity(n);
    for _ in 0..n {
        let (link, replica) = replica::channel_with_capacity(DELTA_RING, EVENT_RING, fdb_capacity);
        links.push(link);
        replicas.push(replica);
    }
    let vnis: Vec<_> = cfg.vni.iter().map(|n| n.id).collect();
    for r in &mut replicas {
        r.reserve_flood(&vnis);
    }
    let mut cp = ControlPlane::new(fdb_settings(cfg), links)
        .with_max_entries(fdb_capacity)
        .with_fleet(fleet_settings(cfg));
    for nb in &cfg.neighbor {
        cp.neighbor_add(nb.ip, nb.mac);
    }
    for e in &cfg.fdb {
        cp.add_static(FdbKey::new(e.vni, e.mac), e.remote)?;
    }
    // Warm restart: what the previous run learned, before the first packet.
    let state_file = cfg.control.state_path();
    if let Some(path) = &state_file {
        match state::load(path) {
            Ok(Some(saved)) => {
                let n = cp.restore(&saved, state::unix_now());
                tracing::info!(
                    "warm restart: {n} of {} learned entries and {} neighbours restored from {}",
                    saved.fdb.len(),
                    saved.neighbors.len(),
                    path.display()
                );
            }
            Ok(None) => {}
            Err(e) => tracing::warn!("warm restart: starting empty: {e}"),
        }
    }
    cp.poll(Instant::now());
    // Static entries are in the replicas before the first packet: apply them here, on this
    // thread, while the replicas are still ours.
    for r in &mut replicas {
        r.apply_pending(usize::MAX);
    }
    if cp.min_applied_generation() < cp.published_generation() {
        return Err(RuntimeError::Converge(Duration::ZERO));
    }

    let counters: Vec<Arc<WorkerCounters>> = (0..n)
        .map(|_| Arc::new(WorkerCounters::default()))
        .collect();
    let mut recorders = Vec::with_capacity(n);
    let mut handles = Vec::with_capacity(n);
    for _ in 0..n {
        let (rec, handle) = latency_pair()?;
        recorders.push(rec);
        handles.push(handle);
    }
    let collector = LatencyCollector::new(handles)?;
    let mut telemetry = Telemetry::new(counters.clone(), opts.port_names, collector);
    if let Some(d) = opts.device_stats {
        telemetry = telemetry.with_device_stats(d);
    }
    let cluster = cfg.cluster.as_ref().map(|c| ClusterInfo {
        member: c.member_name(cfg.vtep.vtep_addr()),
        endpoints: c.etcd.clone(),
        prefix: c.prefix.clone(),
        mode: c.mode,
        lease_secs: c.lease_secs,
        state: Arc::new(ClusterState::default()),
    });
    if let Some(c) = &cluster {
        telemetry = telemetry.with_cluster(c.clone());
    }
    let telemetry = Arc::new(telemetry);

    let stop = Arc::new(AtomicBool::new(false));
    let control_stop = Arc::new(AtomicBool::new(false));
    let (req_tx, req_rx) = control::request_channel();

    let mut gw = Gateway {
        stop: stop.clone(),
        control_stop: control_stop.clone(),
        workers: Vec::with_capacity(n),
        control: None,
        socket: None,
        metrics: None,
        cluster: None,
        metrics_addr: None,
        requests: req_tx.clone(),
        telemetry: telemetry.clone(),
        started: Instant::now(),
        state_file,
    };

    // Workers report whether they initialised before the gateway counts as started.
    let (ready_tx, ready_rx) = crossbeam_channel::bounded::<Result<(), String>>(n);
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..n).map(|_| reconfig_channel()).unzip();
    let mut receivers = receivers.into_iter();
    let items = ios
        .into_iter()
        .zip(replicas)
        .zip(recorders)
        .zip(counters)
        .enumerate();
    for (id, (((io, replica), rec), ctr)) in items {
        let core = cfg.workers.cores.get(id).copied().unwrap_or(0);
        let mut worker: Worker<I, LatencyRecorder> =
            Worker::new(id, settings.clone(), io, replica, ctr, rec)
                .with_burst_size(cfg.workers.burst_size);
        if let Some(rx) = receivers.next() {
            worker = worker.with_reconfig(rx);
        }
        let stop = stop.clone();
        let ready = ready_tx.clone();
        let pin = opts.pin_workers;
        let spawned = std::thread::Builder::new()
            .name(format!("vxgate-w{id}"))
            .spawn(move || {
                let mut worker = worker;
                if pin && !core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
                    let _ = ready.send(Err(format!("cannot pin to core {core}")));
                    return;
                }
                if let Err(e) = I::thread_init() {
                    let _ = ready.send(Err(e));
                    return;
                }
                let _ = ready.send(Ok(()));
                worker.run(&stop);
                I::thread_exit();
            });
        match spawned {
            Ok(h) => gw.workers.push(h),
            Err(e) => {
                gw.abort();
                return Err(RuntimeError::Spawn(e));
            }
        }
    }
    for id in 0..n {
        let r = ready_rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| Err("did not report within 10 s".into()));
        if let Err(reason) = r {
            gw.abort();
            return Err(RuntimeError::WorkerInit {
                worker: id,
                core: cfg.workers.cores.get(id).copied().unwrap_or(0),
                reason,
            });
        }
    }

    // Keep the control side (control thread, socket server, metrics server: all spawned from
    // here, and threads inherit their creator's affinity) off the workers' cores, so a scrape
    // or a CLI request never preempts a worker.
    if opts.pin_workers {
        if let Some(core) = cores
            .iter()
            .copied()
            .find(|c| !cfg.workers.cores.contains(c))
        {
            core_affinity::set_for_current(core_affinity::CoreId { id: core });
        }
    }

    // The fleet's source of remote entries (control side only; workers never see it).
    let mut source = None;
    if let (Some(c), Some(info)) = (&cfg.cluster, &cluster) {
        let (link, end) = source_channel();
        let settings = etcd::EtcdSettings {
            cluster: c.clone(),
            member: info.member.clone(),
            vtep_ip: cfg.vtep.vtep_addr(),
            vtep_mac: Some(vtep_mac),
            vnis: vnis.clone(),
        };
        match etcd::spawn(settings, end, info.state.clone(), control_stop.clone()) {
            Ok(h) => gw.cluster = Some(h),
            Err(e) => {
                gw.abort();
                return Err(RuntimeError::Spawn(e));
            }
        }
        source = Some(link);
    }

    let reloader = opts
        .config_path
        .map(|path| Reloader::new(path, cfg.clone(), vtep_mac, senders).with_cores(cores));
    match control::thread::spawn(
        cp,
        source,
        reloader,
        telemetry.clone(),
        req_rx,
        control_stop.clone(),
    ) {
        Ok(h) => gw.control = Some(h),
        Err(e) => {
            gw.abort();
            return Err(e.into());
        }
    }
    if opts.serve_control {
        match control::server::serve(&cfg.control.socket, req_tx, control_stop.clone()) {
            Ok(h) => gw.socket = Some(h),
            Err(e) => {
                gw.abort();
                return Err(e.into());
            }
        }
    }
    if opts.serve_metrics && cfg.metrics.enabled {
        match crate::metrics::http::serve(
            cfg.metrics.listen,
            cfg.metrics.allow_remote,
            telemetry,
            control_stop,
        ) {
            Ok((addr, h)) => {
                gw.metrics_addr = Some(addr);
                gw.metrics = Some(h);
            }
            Err(e) => {
                gw.abort();
                return Err(e.into());
            }
        }
    }
    Ok(gw)
}

impl Gateway {
    /// The flag that stops the workers (set it from a signal handler).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// Where `/metrics` is served, once bound.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Re-reads the configuration file and applies it (what SIGHUP does), waiting for the
    /// answer: what changed and the generation every worker applied, or why nothing did.
    pub fn reload(&self) -> Response {
        let (reply, rx) = crossbeam_channel::bounded(1);
        let msg = control::ControlMsg {
            request: Request::Reload,
            reply,
        };
        if self.requests.send(msg).is_err() {
            return Response::error("the control thread has stopped");
        }
        rx.recv_timeout(control::thread::APPLY_TIMEOUT + Duration::from_secs(1))
            .unwrap_or_else(|_| Response::error("no answer from the control thread"))
    }

    /// A sender into the control thread (what the socket server uses), for in-process callers.
    pub fn requests(&self) -> crossbeam_channel::Sender<control::ControlMsg> {
        self.requests.clone()
    }

    pub fn is_stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn abort(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.control_stop.store(true, Ordering::Relaxed);
        for h in self.workers.drain(..) {
            let _ = h.join();
        }
        if let Some(h) = self.control.take() {
            let _ = h.join();
        }
        if let Some(h) = self.socket.take() {
            let _ = h.join();
        }
        if let Some(h) = self.metrics.take() {
            let _ = h.join();
        }
        if let Some(h) = self.cluster.take() {
            let _ = h.join();
        }
    }

    /// Stops the workers, then the control side, and returns the final summary and the
    /// control plane (for tests that inspect the authoritative tables).
    pub fn shutdown(mut self) -> (Summary, Option<ControlPlane>) {
        self.stop.store(true, Ordering::Relaxed);
        for h in self.workers.drain(..) {
            let _ = h.join();
        }
        let elapsed = self.started.elapsed();
        self.control_stop.store(true, Ordering::Relaxed);
        let cp = self.control.take().and_then(|h| h.join().ok());
        if let (Some(cp), Some(path)) = (&cp, &self.state_file) {
            let saved = cp.saved_state(state::unix_now());
            match state::save(path, &saved) {
                Ok(()) => tracing::info!(
                    "warm restart: {} learned entries and {} neighbours saved to {}",
                    saved.fdb.len(),
                    saved.neighbors.len(),
                    path.display()
                ),
                Err(e) => tracing::warn!("warm restart: state not saved: {e}"),
            }
        }
        if let Some(h) = self.socket.take() {
            let _ = h.join();
        }
        if let Some(h) = self.metrics.take() {
            let _ = h.join();
        }
        if let Some(h) = self.cluster.take() {
            let _ = h.join();
        }
        (Summary::from_telemetry(&self.telemetry, elapsed), cp)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.abort();
    }
}

/// Totals at shutdown.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub seconds: f64,
    /// How long traffic flowed (set by the caller that watched it); rates are over this.
    pub active_seconds: Option<f64>,
    pub access_rx: (u64, u64),
    pub access_tx: (u64, u64),
    pub underlay_rx: (u64, u64),
    pub underlay_tx: (u64, u64),
    pub encap: u64,
    pub decap: u64,
    pub flood: u64,
    pub drops: Vec<(&'static str, u64)>,
}

impl Summary {
    pub fn from_telemetry(t: &Telemetry, elapsed: Duration) -> Summary {
        let mut s = Summary {
            seconds: elapsed.as_secs_f64(),
            ..Summary::default()
        };
        let add = |a: &mut (u64, u64), q: &crate::metrics::QueueCounters| {
            a.0 += q.packets.get();
            a.1 += q.bytes.get();
        };
        for w in &t.workers {
            add(&mut s.access_rx, &w.access_rx);
            add(&mut s.access_tx, &w.access_tx);
            add(&mut s.underlay_rx, &w.underlay_rx);
            add(&mut s.underlay_tx, &w.underlay_tx);
            s.encap += w.encap_packets.get();
            s.decap += w.decap_packets.get();
            s.flood += w.flood_packets.get();
        }
        for r in DropReason::ALL {
            let n: u64 = t.workers.iter().map(|w| w.dropped(r)).sum();
            if n > 0 {
                s.drops.push((r.as_str(), n));
            }
        }
        s
    }

    /// Rates over `secs` of traffic instead of the whole run (an idle tail or head would
    /// dilute them).
    pub fn with_active_seconds(mut self, secs: f64) -> Summary {
        self.active_seconds = Some(secs);
        self
    }

    pub fn total_drops(&self) -> u64 {
        self.drops.iter().map(|(_, n)| n).sum()
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Worth saying only when traffic did not flow for (nearly) the whole run.
        let active = self
            .active_seconds
            .filter(|a| *a > 0.0 && *a < self.seconds * 0.95);
        let secs = active.unwrap_or(self.seconds).max(1e-9);
        let line = |f: &mut fmt::Formatter<'_>, name: &str, (p, b): (u64, u64)| {
            writeln!(
                f,
                "  {name:<12} {p:>14} pkts {b:>16} bytes  {:>8.3} Mpps {:>8.3} Gbps",
                p as f64 / secs / 1e6,
                b as f64 * 8.0 / secs / 1e9
            )
        };
        match active {
            Some(a) => writeln!(
                f,
                "vxgate summary after {:.1} s (traffic flowed for {a:.1} s: rates are over that)",
                self.seconds
            )?,
            None => writeln!(f, "vxgate summary after {:.1} s", self.seconds)?,
        }
        line(f, "access rx", self.access_rx)?;
        line(f, "access tx", self.access_tx)?;
        line(f, "underlay rx", self.underlay_rx)?;
        line(f, "underlay tx", self.underlay_tx)?;
        writeln!(
            f,
            "  encap {}  decap {}  flood replicas {}",
            self.encap, self.decap, self.flood
        )?;
        if self.drops.is_empty() {
            writeln!(f, "  drops: none")
        } else {
            writeln!(f, "  drops ({} total):", self.total_drops())?;
            for (r, n) in &self.drops {
                writeln!(f, "    {r:<24} {n}")?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_over_the_time_traffic_flowed() {
        let s = Summary {
            seconds: 10.0,
            access_rx: (1_500_000, 96_000_000),
            ..Summary::default()
        };
        let idle_tail = s.clone().with_active_seconds(1.0).to_string();
        assert!(
            idle_tail.contains("traffic flowed for 1.0 s"),
            "{idle_tail}"
        );
        assert!(idle_tail.contains("1.500 Mpps"), "{idle_tail}");
        let busy = s.with_active_seconds(9.99).to_string();
        assert!(!busy.contains("traffic flowed"), "{busy}");
        assert!(busy.contains("0.150 Mpps"), "{busy}");
    }
}
