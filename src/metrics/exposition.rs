//! Prometheus exposition: a custom `prometheus::core::Collector` that turns [`Telemetry`] into
//! metric families at scrape time, encoded by `TextEncoder`.
//!
//! # Design
//! - Nothing is registered per event: each scrape reads the workers' single-writer counters and
//!   the control side's snapshots and builds the families from scratch, so the workers never pay
//!   for the exposition.
//! - Every family whose source exists is present from start, including one
//!   `vxgate_drop_packets_total{reason}` series per [`DropReason`] (zero until it happens), so
//!   dashboards and alerts never see a series appear out of nowhere.
//! - The latency histogram is derived from each worker's cumulative HdrHistogram with fixed
//!   1-2-5 buckets from 1 µs to 10 ms; its `_sum` is mean × count (HdrHistogram keeps no exact
//!   sum), accurate to the histogram's 3 significant digits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use prometheus::core::{Collector, Desc};
use prometheus::proto::{self, MetricFamily, MetricType};
use prometheus::{Encoder, Registry, TextEncoder};

use super::telemetry::{lock, Telemetry};
use super::MetricsError;
use crate::dataplane::DropReason;

/// The Content-Type of the text exposition format.
pub const CONTENT_TYPE: &str = prometheus::TEXT_FORMAT;

/// Upper bounds of the latency histogram buckets, in seconds (1-2-5 steps, 1 µs .. 10 ms).
pub const LATENCY_BUCKETS_SECONDS: [f64; 13] = [
    1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2,
];

/// (name, help, type, label names) of every family this collector may produce.
pub const FAMILIES: &[(&str, &str, MetricType, &[&str])] = &[
    (
        "vxgate_build_info",
        "Build information; always 1.",
        MetricType::GAUGE,
        &["version"],
    ),
    (
        "vxgate_start_time_seconds",
        "Start time of the gateway since the Unix epoch.",
        MetricType::GAUGE,
        &[],
    ),
    (
        "vxgate_rx_packets_total",
        "Packets received per port and queue.",
        MetricType::COUNTER,
        &["port", "queue"],
    ),
    (
        "vxgate_rx_bytes_total",
        "Bytes received per port and queue.",
        MetricType::COUNTER,
        &["port", "queue"],
    ),
    (
        "vxgate_tx_packets_total",
        "Packets transmitted per port and queue.",
        MetricType::COUNTER,
        &["port", "queue"],
    ),
    (
        "vxgate_tx_bytes_total",
        "Bytes transmitted per port and queue.",
        MetricType::COUNTER,
        &["port", "queue"],
    ),
    (
        "vxgate_encap_packets_total",
        "Frames encapsulated towards a known remote VTEP.",
        MetricType::COUNTER,
        &["worker"],
    ),
    (
        "vxgate_decap_packets_total",
        "Frames decapsulated and delivered to the access side.",
        MetricType::COUNTER,
        &["worker"],
    ),
    (
        "vxgate_flood_packets_total",
        "Copies sent by head-end replication.",
        MetricType::COUNTER,
        &["worker"],
    ),
    (
        "vxgate_arp_replies_total",
        "ARP replies sent for the VTEP address.",
        MetricType::COUNTER,
        &["worker"],
    ),
    (
        "vxgate_arp_suppressed_total",
        "Access-side ARP requests answered from the replica instead of flooded (ARP suppression).",
        MetricType::COUNTER,
        &["worker"],
    ),
    (
        "vxgate_arp_requests_total",
        "ARP requests sent to resolve underlay next hops.",
        MetricType::COUNTER,
        &["worker"],
    ),
    (
        "vxgate_icmp_replies_total",
        "ICMP echo replies sent for the VTEP address.",
        MetricType::COUNTER,
        &["worker"],
    ),
    (
        "vxgate_drop_packets_total",
        "Packets dropped, by reason (sum over workers).",
        MetricType::COUNTER,
        &["reason"],
    ),
    (
        "vxgate_learn_events_reported_total",
        "Learn events workers reported to the control thread.",
        MetricType::COUNTER,
        &["worker"],
    ),
    (
        "vxgate_learn_events_dropped_total",
        "Learn events lost because the queue to the control thread was full.",
        MetricType::COUNTER,
        &["worker"],
    ),
    (
        "vxgate_port_up",
        "1 when the port's link is up (as the device reports it; virtual devices report up).",
        MetricType::GAUGE,
        &["port"],
    ),
    (
        "vxgate_port_speed_bytes",
        "Link speed in bytes per second (Prometheus' base unit; 0 when the device does not say).",
        MetricType::GAUGE,
        &["port"],
    ),
    (
        "vxgate_port_full_duplex",
        "1 when the link is full duplex.",
        MetricType::GAUGE,
        &["port"],
    ),
    (
        "vxgate_device_imissed_total",
        "Packets the NIC dropped for lack of RX descriptors.",
        MetricType::COUNTER,
        &["port"],
    ),
    (
        "vxgate_device_rx_nombuf_total",
        "RX buffer allocation failures in the NIC driver.",
        MetricType::COUNTER,
        &["port"],
    ),
    (
        "vxgate_device_errors_total",
        "Device errors per port and direction.",
        MetricType::COUNTER,
        &["port", "direction"],
    ),
    (
        "vxgate_fdb_entries",
        "FDB entries by type.",
        MetricType::GAUGE,
        &["type"],
    ),
    (
        "vxgate_fdb_learn_events_total",
        "Learn events accepted by the control thread.",
        MetricType::COUNTER,
        &[],
    ),
    (
        "vxgate_fdb_moves_total",
        "Learned MACs that moved to another remote VTEP.",
        MetricType::COUNTER,
        &[],
    ),
    (
        "vxgate_fdb_learn_rejected_total",
        "Learn events rejected by policy or limits.",
        MetricType::COUNTER,
        &[],
    ),
    (
        "vxgate_fdb_flaps_damped_total",
        "MACs frozen in place for moving too often (a loop or a spoofer).",
        MetricType::COUNTER,
        &[],
    ),
    (
        "vxgate_fdb_moves_suppressed_total",
        "Moves of frozen MACs that were dropped.",
        MetricType::COUNTER,
        &[],
    ),
    (
        "vxgate_fdb_aged_out_total",
        "Learned entries removed by ageing.",
        MetricType::COUNTER,
        &[],
    ),
    (
        "vxgate_fdb_published_generation",
        "Generation of the last published FDB change.",
        MetricType::GAUGE,
        &[],
    ),
    (
        "vxgate_fdb_replica_lag",
        "Published FDB generation minus the generation a worker applied.",
        MetricType::GAUGE,
        &["worker"],
    ),
    (
        "vxgate_neighbor_entries",
        "Underlay neighbour (ARP) entries.",
        MetricType::GAUGE,
        &[],
    ),
    (
        "vxgate_cluster_connected",
        "1 while the etcd session is up (registered, resynced, watching).",
        MetricType::GAUGE,
        &[],
    ),
    (
        "vxgate_cluster_members",
        "Other gateways registered in the fleet.",
        MetricType::GAUGE,
        &[],
    ),
    (
        "vxgate_cluster_puts_total",
        "Keys put into etcd (registration and local MACs).",
        MetricType::COUNTER,
        &[],
    ),
    (
        "vxgate_cluster_deletes_total",
        "Own MAC keys deleted from etcd.",
        MetricType::COUNTER,
        &[],
    ),
    (
        "vxgate_cluster_watch_events_total",
        "Watch events received from etcd.",
        MetricType::COUNTER,
        &[],
    ),
    (
        "vxgate_cluster_resyncs_total",
        "Full resyncs (one per etcd session).",
        MetricType::COUNTER,
        &[],
    ),
    (
        "vxgate_cluster_errors_total",
        "Failed etcd connections, requests and broken streams.",
        MetricType::COUNTER,
        &[],
    ),
    (
        "vxgate_cluster_invalid_keys_total",
        "Keys or values under the prefix that did not parse (skipped).",
        MetricType::COUNTER,
        &[],
    ),
    (
        "vxgate_cluster_lookups_total",
        "On-demand lookups of missed MACs, by result.",
        MetricType::COUNTER,
        &["result"],
    ),
    (
        "vxgate_cluster_miss_latency_seconds_total",
        "On-demand: time from a worker's miss report to the entry installed, summed.",
        MetricType::COUNTER,
        &[],
    ),
    (
        "vxgate_cluster_misses_resolved_total",
        "On-demand: misses resolved to an installed entry.",
        MetricType::COUNTER,
        &[],
    ),
    (
        "vxgate_cluster_last_resync_seconds",
        "Duration of the last full resync.",
        MetricType::GAUGE,
        &[],
    ),
    (
        "vxgate_tunnel_tx_packets_total",
        "Inner frames sent into each tunnel (remote VTEP or multicast group).",
        MetricType::COUNTER,
        &["remote"],
    ),
    (
        "vxgate_tunnel_tx_bytes_total",
        "Bytes of the inner frames sent into each tunnel.",
        MetricType::COUNTER,
        &["remote"],
    ),
    (
        "vxgate_tunnel_rx_packets_total",
        "Inner frames decapsulated from each tunnel (by outer source address).",
        MetricType::COUNTER,
        &["remote"],
    ),
    (
        "vxgate_tunnel_rx_bytes_total",
        "Bytes of the inner frames decapsulated from each tunnel.",
        MetricType::COUNTER,
        &["remote"],
    ),
    (
        "vxgate_tunnels",
        "Rows of the tunnel table.",
        MetricType::GAUGE,
        &[],
    ),
    (
        "vxgate_tunnel_table_full_total",
        "Remote addresses that got no tunnel (and no FDB entry) because the table was full.",
        MetricType::COUNTER,
        &[],
    ),
    (
        "vxgate_numa_remote_ports",
        "Worker and port pairs on different NUMA nodes (each costs a cross-node trip per packet).",
        MetricType::GAUGE,
        &[],
    ),
    (
        "vxgate_config_reloads_total",
        "Configuration reloads (SIGHUP or vxgate reload) by result: applied, refused (a key that needs a restart changed) or invalid (the file did not validate).",
        MetricType::COUNTER,
        &["result"],
    ),
    (
        "vxgate_config_reload_duration_seconds",
        "Time from the last applied reload's request until every worker had applied it.",
        MetricType::GAUGE,
        &[],
    ),
    (
        "vxgate_config_last_reload_success_timestamp_seconds",
        "Unix time of the last applied reload (0: none since start).",
        MetricType::GAUGE,
        &[],
    ),
    (
        "vxgate_igmp_reports_total",
        "IGMP membership reports and leaves sent for the joined groups.",
        MetricType::COUNTER,
        &["worker"],
    ),
    (
        "vxgate_nd_solicits_total",
        "IPv6 neighbour solicitations sent to resolve next hops.",
        MetricType::COUNTER,
        &["worker"],
    ),
    (
        "vxgate_nd_adverts_total",
        "IPv6 neighbour advertisements sent for the VTEP address.",
        MetricType::COUNTER,
        &["worker"],
    ),
    (
        "vxgate_icmpv6_replies_total",
        "ICMPv6 echo replies sent by the VTEP.",
        MetricType::COUNTER,
        &["worker"],
    ),
    (
        "vxgate_arp_bindings",
        "IPv4 to MAC bindings published for ARP suppression.",
        MetricType::GAUGE,
        &[],
    ),
    (
        "vxgate_mempool_in_use",
        "Packet buffers in use.",
        MetricType::GAUGE,
        &[],
    ),
    (
        "vxgate_mempool_capacity",
        "Packet buffers in the pool.",
        MetricType::GAUGE,
        &[],
    ),
    (
        "vxgate_processing_latency_seconds",
        "Burst processing latency, received to sent.",
        MetricType::HISTOGRAM,
        &["worker"],
    ),
    (
        "vxgate_worker_busy_ratio",
        "Share of wall time a worker spent processing packets since the previous scrape.",
        MetricType::GAUGE,
        &["worker"],
    ),
];

/// What the previous scrape saw, for the busy ratio.
struct BusyBaseline {
    at: Instant,
    busy_ns: Vec<u64>,
}

/// The collector registered in the exposition registry.
pub struct TelemetryCollector {
    telemetry: Arc<Telemetry>,
    descs: Vec<Desc>,
    busy: Mutex<BusyBaseline>,
}

impl TelemetryCollector {
    pub fn new(telemetry: Arc<Telemetry>) -> Result<TelemetryCollector, MetricsError> {
        let descs = FAMILIES
            .iter()
            .map(|(name, help, _, labels)| {
                Desc::new(
                    (*name).to_string(),
                    (*help).to_string(),
                    labels.iter().map(|l| (*l).to_string()).collect(),
                    HashMap::new(),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let busy = BusyBaseline {
            at: telemetry.started,
            busy_ns: vec![0; telemetry.workers.len()],
        };
        Ok(TelemetryCollector {
            telemetry,
            descs,
            busy: Mutex::new(busy),
        })
    }
}

/// Builds families in the order of [`FAMILIES`].
struct Families {
    out: Vec<MetricFamily>,
}

impl Families {
    fn push(&mut self, name: &str, metrics: Vec<proto::Metric>) {
        let Some((_, help, ty, _)) = FAMILIES.iter().find(|f| f.0 == name) else {
            return;
        };
        let mut mf = MetricFamily::default();
        mf.set_name(name.to_string());
        mf.set_help((*help).to_string());
        mf.set_field_type(*ty);
        mf.set_metric(metrics);
        self.out.push(mf);
    }
}

fn labels(pairs: &[(&str, &str)]) -> Vec<proto::LabelPair> {
    pairs
        .iter()
        .map(|(k, v)| {
            let mut l = proto::LabelPair::default();
            l.set_name((*k).to_string());
            l.set_value((*v).to_string());
            l
        })
        .collect()
}

fn counter(pairs: &[(&str, &str)], v: u64) -> proto::Metric {
    let mut c = proto::Counter::default();
    c.set_value(v as f64);
    let mut m = proto::Metric::default();
    m.set_label(labels(pairs));
    m.set_counter(c);
    m
}

fn proto_counter_f64(v: f64) -> proto::Metric {
    let mut c = proto::Counter::default();
    c.set_value(v);
    let mut m = proto::Metric::default();
    m.set_counter(c);
    m
}

fn gauge(pairs: &[(&str, &str)], v: f64) -> proto::Metric {
    let mut g = proto::Gauge::default();
    g.set_value(v);
    let mut m = proto::Metric::default();
    m.set_label(labels(pairs));
    m.set_gauge(g);
    m
}

impl Collector for TelemetryCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let t = &self.telemetry;
        let now = Instant::now();
        let mut f = Families {
            out: Vec::with_capacity(FAMILIES.len()),
        };
        let ids: Vec<String> = (0..t.workers.len()).map(|i| i.to_string()).collect();

        f.push(
            "vxgate_build_info",
            vec![gauge(&[("version", env!("CARGO_PKG_VERSION"))], 1.0)],
        );
        let start = t
            .started_wall
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        f.push("vxgate_start_time_seconds", vec![gauge(&[], start)]);

        // Per port and queue.
        let ports = [t.ports.access.as_str(), t.ports.underlay.as_str()];
        let mut rxp = Vec::new();
        let mut rxb = Vec::new();
        let mut txp = Vec::new();
        let mut txb = Vec::new();
        for (w, c) in t.workers.iter().enumerate() {
            let q = ids[w].as_str();
            for (port, rx, tx) in [
                (ports[0], &c.access_rx, &c.access_tx),
                (ports[1], &c.underlay_rx, &c.underlay_tx),
            ] {
                let l = [("port", port), ("queue", q)];
                rxp.push(counter(&l, rx.packets.get()));
                rxb.push(counter(&l, rx.bytes.get()));
                txp.push(counter(&l, tx.packets.get()));
                txb.push(counter(&l, tx.bytes.get()));
            }
        }
        f.push("vxgate_rx_packets_total", rxp);
        f.push("vxgate_rx_bytes_total", rxb);
        f.push("vxgate_tx_packets_total", txp);
        f.push("vxgate_tx_bytes_total", txb);

        // Per worker.
        type Get = fn(&crate::metrics::WorkerCountersInner) -> u64;
        let per_worker: [(&str, Get); 13] = [
            ("vxgate_igmp_reports_total", |c| c.igmp_reports.get()),
            ("vxgate_nd_solicits_total", |c| c.nd_solicits.get()),
            ("vxgate_nd_adverts_total", |c| c.nd_adverts.get()),
            ("vxgate_icmpv6_replies_total", |c| c.icmpv6_replies.get()),
            ("vxgate_encap_packets_total", |c| c.encap_packets.get()),
            ("vxgate_decap_packets_total", |c| c.decap_packets.get()),
            ("vxgate_flood_packets_total", |c| c.flood_packets.get()),
            ("vxgate_arp_replies_total", |c| c.arp_replies.get()),
            ("vxgate_arp_requests_total", |c| c.arp_requests.get()),
            ("vxgate_arp_suppressed_total", |c| c.arp_suppressed.get()),
            ("vxgate_icmp_replies_total", |c| c.icmp_replies.get()),
            ("vxgate_learn_events_reported_total", |c| {
                c.learn_events.get()
            }),
            ("vxgate_learn_events_dropped_total", |c| {
                c.events_dropped.get()
            }),
        ];
        for (name, get) in per_worker {
            let ms = t
                .workers
                .iter()
                .zip(&ids)
                .map(|(c, id)| counter(&[("worker", id)], get(c)))
                .collect();
            f.push(name, ms);
        }

        // Drops: every reason, summed over workers.
        let drops = DropReason::ALL
            .iter()
            .map(|r| {
                let n = t.workers.iter().map(|c| c.dropped(*r)).sum();
                counter(&[("reason", r.as_str())], n)
            })
            .collect();
        f.push("vxgate_drop_packets_total", drops);

        // Device statistics (absent for the software port).
        let dev = t.device_stats();
        if t.device.is_some() {
            let mut imissed = Vec::new();
            let mut nombuf = Vec::new();
            let mut errors = Vec::new();
            let (mut up, mut speed, mut duplex) = (Vec::new(), Vec::new(), Vec::new());
            for (port, s) in &dev {
                up.push(gauge(&[("port", port)], f64::from(u8::from(s.link_up))));
                speed.push(gauge(
                    &[("port", port)],
                    f64::from(s.speed_mbps) * 1e6 / 8.0,
                ));
                duplex.push(gauge(&[("port", port)], f64::from(u8::from(s.full_duplex))));
                imissed.push(counter(&[("port", port)], s.imissed));
                nombuf.push(counter(&[("port", port)], s.rx_nombuf));
                errors.push(counter(&[("port", port), ("direction", "rx")], s.ierrors));
                errors.push(counter(&[("port", port), ("direction", "tx")], s.oerrors));
            }
            f.push("vxgate_device_imissed_total", imissed);
            f.push("vxgate_device_rx_nombuf_total", nombuf);
            f.push("vxgate_device_errors_total", errors);
            f.push("vxgate_port_up", up);
            f.push("vxgate_port_speed_bytes", speed);
            f.push("vxgate_port_full_duplex", duplex);
        }

        // FDB, from the control thread's snapshot.
        let fdb = t.fdb_summary();
        f.push(
            "vxgate_fdb_entries",
            vec![
                gauge(&[("type", "static")], fdb.static_entries as f64),
                gauge(&[("type", "learned")], fdb.learned_entries as f64),
                gauge(&[("type", "remote")], fdb.remote_entries as f64),
                gauge(&[("type", "local")], fdb.local_entries as f64),
            ],
        );
        f.push(
            "vxgate_fdb_learn_events_total",
            vec![counter(&[], fdb.learn_events)],
        );
        f.push("vxgate_fdb_moves_total", vec![counter(&[], fdb.moves)]);
        f.push(
            "vxgate_fdb_learn_rejected_total",
            vec![counter(&[], fdb.learn_rejected)],
        );
        f.push(
            "vxgate_fdb_flaps_damped_total",
            vec![counter(&[], fdb.flaps_damped)],
        );
        f.push(
            "vxgate_fdb_moves_suppressed_total",
            vec![counter(&[], fdb.moves_suppressed)],
        );
        f.push(
            "vxgate_fdb_aged_out_total",
            vec![counter(&[], fdb.aged_out)],
        );
        f.push(
            "vxgate_fdb_published_generation",
            vec![gauge(&[], fdb.published_generation as f64)],
        );
        let lag = t
            .workers
            .iter()
            .zip(&ids)
            .map(|(c, id)| {
                let applied = c.applied_generation.get();
                let lag = fdb.published_generation.saturating_sub(applied);
                gauge(&[("worker", id)], lag as f64)
            })
            .collect();
        f.push("vxgate_fdb_replica_lag", lag);
        f.push(
            "vxgate_neighbor_entries",
            vec![gauge(&[], fdb.neighbor_entries as f64)],
        );

        // Per tunnel, labelled by its remote address.
        {
            let rows = t.tunnel_rows();
            let mut fams: [Vec<proto::Metric>; 4] = Default::default();
            for (id, ip) in &rows {
                let remote = ip.to_string();
                let v = t.tunnel_traffic(*id);
                for (fam, x) in fams.iter_mut().zip(v) {
                    fam.push(counter(&[("remote", &remote)], x));
                }
            }
            let [txp, txb, rxp, rxb] = fams;
            f.push("vxgate_tunnel_tx_packets_total", txp);
            f.push("vxgate_tunnel_tx_bytes_total", txb);
            f.push("vxgate_tunnel_rx_packets_total", rxp);
            f.push("vxgate_tunnel_rx_bytes_total", rxb);
            f.push("vxgate_tunnels", vec![gauge(&[], rows.len() as f64)]);
            f.push(
                "vxgate_tunnel_table_full_total",
                vec![counter(&[], t.fdb_summary().tunnels_full)],
            );
        }

        f.push(
            "vxgate_numa_remote_ports",
            vec![gauge(
                &[],
                t.numa_remote.load(std::sync::atomic::Ordering::Relaxed) as f64,
            )],
        );
        let r = t.reload_stats();
        f.push(
            "vxgate_config_reloads_total",
            vec![
                counter(&[("result", "applied")], r.applied),
                counter(&[("result", "refused")], r.refused),
                counter(&[("result", "invalid")], r.invalid),
            ],
        );
        f.push(
            "vxgate_config_reload_duration_seconds",
            vec![gauge(&[], r.last_seconds)],
        );
        f.push(
            "vxgate_config_last_reload_success_timestamp_seconds",
            vec![gauge(&[], r.last_success_unix as f64)],
        );

        let fleet = t.fleet_stats();
        f.push(
            "vxgate_arp_bindings",
            vec![gauge(&[], fleet.arp_bindings as f64)],
        );
        if let Some(c) = &t.cluster {
            use std::sync::atomic::Ordering::Relaxed;
            let st = &c.state;
            let up = if st.connected.load(Relaxed) { 1.0 } else { 0.0 };
            f.push("vxgate_cluster_connected", vec![gauge(&[], up)]);
            f.push(
                "vxgate_cluster_members",
                vec![gauge(&[], fleet.members as f64)],
            );
            for (name, v) in [
                ("vxgate_cluster_puts_total", &st.puts),
                ("vxgate_cluster_deletes_total", &st.deletes),
                ("vxgate_cluster_watch_events_total", &st.watch_events),
                ("vxgate_cluster_resyncs_total", &st.resyncs),
                ("vxgate_cluster_errors_total", &st.errors),
                ("vxgate_cluster_invalid_keys_total", &st.invalid_keys),
            ] {
                f.push(name, vec![counter(&[], v.load(Relaxed))]);
            }
            f.push(
                "vxgate_cluster_lookups_total",
                vec![
                    counter(&[("result", "found")], fleet.lookups_found),
                    counter(&[("result", "not_found")], fleet.lookups_negative),
                    counter(&[("result", "rate_limited")], fleet.lookups_rate_limited),
                ],
            );
            let sum = proto_counter_f64(fleet.miss_latency_sum_us as f64 / 1e6);
            f.push("vxgate_cluster_miss_latency_seconds_total", vec![sum]);
            f.push(
                "vxgate_cluster_misses_resolved_total",
                vec![counter(&[], fleet.miss_latency_count)],
            );
            let ms = st.last_resync_ms.load(Relaxed) as f64 / 1e3;
            f.push("vxgate_cluster_last_resync_seconds", vec![gauge(&[], ms)]);
        }

        if let Some((in_use, capacity)) = t.mempool() {
            f.push("vxgate_mempool_in_use", vec![gauge(&[], in_use as f64)]);
            f.push("vxgate_mempool_capacity", vec![gauge(&[], capacity as f64)]);
        }

        // Latency histograms.
        {
            let lat = t.latency(now);
            let ms = (0..t.workers.len())
                .map(|w| {
                    let mut h = proto::Histogram::default();
                    if let Some(hist) = lat.cumulative(w) {
                        let buckets = LATENCY_BUCKETS_SECONDS
                            .iter()
                            .map(|ub| {
                                let ub_ns = (ub * 1e9) as u64;
                                let mut b = proto::Bucket::default();
                                b.set_upper_bound(*ub);
                                b.set_cumulative_count(if hist.is_empty() {
                                    0
                                } else {
                                    hist.count_between(0, ub_ns)
                                });
                                b
                            })
                            .collect();
                        h.set_bucket(buckets);
                        h.set_sample_count(hist.len());
                        h.set_sample_sum(if hist.is_empty() {
                            0.0
                        } else {
                            hist.mean() * hist.len() as f64 / 1e9
                        });
                    }
                    let mut m = proto::Metric::default();
                    m.set_label(labels(&[("worker", ids[w].as_str())]));
                    m.set_histogram(h);
                    m
                })
                .collect();
            f.push("vxgate_processing_latency_seconds", ms);
        }

        // Busy ratio since the previous scrape.
        {
            let mut base = lock(&self.busy);
            let wall_ns = now.saturating_duration_since(base.at).as_nanos() as f64;
            let mut ms = Vec::with_capacity(t.workers.len());
            for (w, c) in t.workers.iter().enumerate() {
                let busy = c.busy_ns.get();
                let prev = base.busy_ns.get(w).copied().unwrap_or(0);
                let ratio = if wall_ns > 0.0 {
                    (busy.saturating_sub(prev) as f64 / wall_ns).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                ms.push(gauge(&[("worker", ids[w].as_str())], ratio));
                if let Some(p) = base.busy_ns.get_mut(w) {
                    *p = busy;
                }
            }
            base.at = now;
            f.push("vxgate_worker_busy_ratio", ms);
        }

        f.out
    }
}

/// A registry holding the telemetry collector; renders the text format.
pub struct Exposition {
    registry: Registry,
}

impl Exposition {
    pub fn new(telemetry: Arc<Telemetry>) -> Result<Exposition, MetricsError> {
        let registry = Registry::new();
        registry.register(Box::new(TelemetryCollector::new(telemetry)?))?;
        Ok(Exposition { registry })
    }

    /// The current metrics in the Prometheus text format (version 0.0.4).
    pub fn render(&self) -> Result<String, MetricsError> {
        let families = self.registry.gather();
        let mut buf = Vec::with_capacity(16 * 1024);
        TextEncoder::new().encode(&families, &mut buf)?;
        String::from_utf8(buf).map_err(|e| MetricsError::Encode(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::histogram::{latency_pair, LatencyCollector, HANDOFF_INTERVAL_NS};
    use crate::metrics::telemetry::{DeviceStats, DeviceStatsSource, PortNames};
    use crate::metrics::{WorkerCounters, WorkerCountersInner};

    struct FakeDevice;
    impl DeviceStatsSource for FakeDevice {
        fn device_stats(&self) -> Vec<(String, DeviceStats)> {
            vec![
                (
                    "access".into(),
                    DeviceStats {
                        imissed: 7,
                        link_up: true,
                        speed_mbps: 25000,
                        full_duplex: true,
                        ..DeviceStats::default()
                    },
                ),
                ("underlay".into(), DeviceStats::default()),
            ]
        }
        fn mempool(&self) -> Option<(u64, u64)> {
            Some((10, 8191))
        }
    }

    fn telemetry(device: bool) -> (Arc<Telemetry>, crate::metrics::LatencyRecorder) {
        let (rec, h0) = latency_pair().unwrap();
        let (_rec1, h1) = latency_pair().unwrap();
        let workers = vec![
            Arc::new(WorkerCounters::default()),
            Arc::new(WorkerCounters::default()),
        ];
        let mut t = Telemetry::new(
            workers,
            PortNames::default(),
            LatencyCollector::new(vec![h0, h1]).unwrap(),
        );
        if device {
            t = t.with_device_stats(Box::new(FakeDevice));
            let state = Arc::new(crate::cluster::ClusterState::default());
            state
                .connected
                .store(true, std::sync::atomic::Ordering::Relaxed);
            state.puts.store(3, std::sync::atomic::Ordering::Relaxed);
            t = t.with_cluster(crate::cluster::ClusterInfo {
                member: "gw-a".into(),
                endpoints: vec!["http://127.0.0.1:2379".into()],
                prefix: "/vxgate".into(),
                mode: crate::config::ClusterMode::Replicate,
                lease_secs: 10,
                state,
            });
        }
        (Arc::new(t), rec)
    }

    #[test]
    fn every_family_and_drop_reason_present_with_zeros() {
        let (t, _rec) = telemetry(true);
        let text = Exposition::new(t).unwrap().render().unwrap();
        for (name, _, ty, _) in FAMILIES {
            // Per-tunnel families have a series per tunnel, and this gateway has none.
            if name.starts_with("vxgate_tunnel_") && !name.starts_with("vxgate_tunnel_table") {
                continue;
            }
            let ty = format!("{ty:?}").to_lowercase();
            assert!(
                text.contains(&format!("# TYPE {name} {ty}\n")),
                "missing {name}\n{text}"
            );
        }
        for r in DropReason::ALL {
            let line = format!("vxgate_drop_packets_total{{reason=\"{}\"}} 0\n", r.as_str());
            assert!(text.contains(&line), "missing {line}");
        }
        assert!(text.contains("vxgate_device_imissed_total{port=\"access\"} 7\n"));
        assert!(text.contains("vxgate_port_up{port=\"access\"} 1\n"));
        assert!(text.contains("vxgate_port_up{port=\"underlay\"} 0\n"));
        assert!(text.contains("vxgate_port_speed_bytes{port=\"access\"} 3125000000\n"));
        assert!(text.contains("vxgate_port_full_duplex{port=\"access\"} 1\n"));
        assert!(text.contains("vxgate_cluster_connected 1\n"));
        assert!(text.contains("vxgate_cluster_puts_total 3\n"));
        assert!(text.contains("vxgate_mempool_capacity 8191\n"));
        assert!(text.contains("vxgate_build_info{version=\""));
        assert!(
            text.contains("vxgate_processing_latency_seconds_bucket{worker=\"1\",le=\"+Inf\"} 0\n")
        );
    }

    #[test]
    fn values_reflect_counters_and_latency() {
        let (t, mut rec) = telemetry(false);
        t.workers[0].access_rx.add(5, 300);
        WorkerCountersInner::drop(&t.workers[1], DropReason::UnknownVni);
        WorkerCountersInner::drop(&t.workers[0], DropReason::UnknownVni);
        t.set_fdb_summary(crate::metrics::FdbSummary {
            static_entries: 2,
            published_generation: 9,
            ..Default::default()
        });
        t.workers[1].applied_generation.set(4);
        rec.record(1_500); // 1.5 µs
        rec.record(3_000_000); // 3 ms
        rec.maybe_handoff(HANDOFF_INTERVAL_NS);
        let text = Exposition::new(t).unwrap().render().unwrap();
        assert!(text.contains("vxgate_rx_packets_total{port=\"access\",queue=\"0\"} 5\n"));
        assert!(text.contains("vxgate_rx_bytes_total{port=\"access\",queue=\"0\"} 300\n"));
        assert!(text.contains("vxgate_drop_packets_total{reason=\"unknown_vni\"} 2\n"));
        assert!(text.contains("vxgate_fdb_entries{type=\"static\"} 2\n"));
        assert!(text.contains("vxgate_fdb_replica_lag{worker=\"0\"} 9\n"));
        assert!(text.contains("vxgate_fdb_replica_lag{worker=\"1\"} 5\n"));
        assert!(text.contains(
            "vxgate_processing_latency_seconds_bucket{worker=\"0\",le=\"0.000001\"} 0\n"
        ));
        assert!(text.contains(
            "vxgate_processing_latency_seconds_bucket{worker=\"0\",le=\"0.000002\"} 1\n"
        ));
        assert!(text
            .contains("vxgate_processing_latency_seconds_bucket{worker=\"0\",le=\"0.005\"} 2\n"));
        assert!(text.contains("vxgate_processing_latency_seconds_count{worker=\"0\"} 2\n"));
        // No device source: no device or mempool families.
        assert!(!text.contains("vxgate_device_imissed_total"));
        assert!(!text.contains("vxgate_mempool_in_use"));
    }
}
