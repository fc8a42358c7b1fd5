//! Human-readable tables for the CLI. Pure functions from protocol values to text, so they are
//! tested without a socket.

use std::fmt::Write;

use super::protocol::{
    ClusterStatus, FdbEntry, NeighborEntry, Response, StatsSnapshot, TunnelEntry,
};
use crate::metrics::rates::{fmt_ns, Throughput};
use crate::metrics::Quantiles;

/// Left-aligned columns separated by two spaces; every row has as many cells as the header.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.zip(&widths).enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            let _ = write!(s, "{cell:<w$}");
        }
        out.push_str(s.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

/// Seconds as "42s", "5m03s", "2h07m".
pub fn fmt_age(secs: u64) -> String {
    if secs < 60 {
        format!("{secs}s")
    } else if secs < 3600 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60)
    }
}

/// `vxgate fdb list`: VNI MAC REMOTE TYPE AGE FROM (the fleet member of a remote entry, the
/// access side for a local one, the underlay for a learned one).
pub fn fdb_table(entries: &[FdbEntry]) -> String {
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                e.vni.to_string(),
                e.mac.clone(),
                e.remote.to_string(),
                e.kind.clone(),
                if e.kind == "learned" || e.kind == "local" {
                    fmt_age(e.age_secs)
                } else {
                    "-".into()
                },
                match (e.kind.as_str(), &e.origin) {
                    (_, Some(o)) => format!("etcd:{o}"),
                    ("learned", None) => "underlay".into(),
                    ("local", None) => "access".into(),
                    ("static", None) => "config".into(),
                    _ => "-".into(),
                },
            ]
        })
        .collect();
    let mut s = table(&["VNI", "MAC", "REMOTE", "TYPE", "AGE", "FROM"], &rows);
    let _ = writeln!(s, "{} entries", entries.len());
    s
}

/// `vxgate cluster status`: the connection, then one line per member.
pub fn cluster_status(c: &ClusterStatus) -> String {
    let mut s = String::new();
    if !c.enabled {
        s.push_str("cluster: not configured (no [cluster] section)\n");
        return s;
    }
    let _ = writeln!(
        s,
        "cluster: {} as {} ({} mode), prefix {}, etcd {}",
        if c.connected {
            "connected"
        } else {
            "DISCONNECTED"
        },
        c.member,
        c.mode,
        c.prefix,
        c.endpoints.join(",")
    );
    let _ = writeln!(
        s,
        "lease {:x} ttl {} s | last resync at unix {} ({} keys in {} ms), {} resyncs",
        c.lease_id,
        c.lease_secs,
        c.last_resync_unix,
        c.last_resync_keys,
        c.last_resync_ms,
        c.resyncs
    );
    let _ = writeln!(
        s,
        "puts {} deletes {} watch events {} errors {} lookups {} | local {} remote {} arp bindings {}",
        c.puts, c.deletes, c.watch_events, c.errors, c.lookups, c.local_entries, c.remote_entries, c.arp_bindings
    );
    if c.lookups > 0 {
        let _ = writeln!(
            s,
            "miss → installed: last {} µs, mean {} µs",
            c.miss_latency_last_us, c.miss_latency_avg_us
        );
    }
    if !c.detail.is_empty() {
        let _ = writeln!(s, "state: {}", c.detail);
    }
    let rows: Vec<Vec<String>> = c
        .members
        .iter()
        .map(|m| {
            let vnis: Vec<String> = m.vnis.iter().map(u32::to_string).collect();
            vec![
                m.name.clone(),
                m.vtep.to_string(),
                vnis.join(","),
                m.version.clone(),
            ]
        })
        .collect();
    s.push_str(&table(&["MEMBER", "VTEP", "VNIS", "VERSION"], &rows));
    let _ = writeln!(s, "{} other members", c.members.len());
    s
}

/// `vxgate neighbor list`: IP MAC STATE.
pub fn neighbor_table(entries: &[NeighborEntry]) -> String {
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                e.ip.to_string(),
                e.mac.clone().unwrap_or_else(|| "-".into()),
                e.state.clone(),
            ]
        })
        .collect();
    let mut s = table(&["IP", "MAC", "STATE"], &rows);
    let _ = writeln!(s, "{} entries", entries.len());
    s
}

/// `vxgate tunnel list`: ID REMOTE NEXT-HOP FDB FLOOD TX-PKTS TX-BYTES RX-PKTS RX-BYTES.
pub fn tunnel_table(entries: &[TunnelEntry]) -> String {
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                e.id.to_string(),
                e.remote.to_string(),
                e.next_hop.clone().unwrap_or_else(|| "-".into()),
                e.fdb_entries.to_string(),
                e.flood_vnis.to_string(),
                e.tx_packets.to_string(),
                e.tx_bytes.to_string(),
                e.rx_packets.to_string(),
                e.rx_bytes.to_string(),
            ]
        })
        .collect();
    let head = [
        "ID", "REMOTE", "NEXT-HOP", "FDB", "FLOOD", "TX-PKTS", "TX-BYTES", "RX-PKTS", "RX-BYTES",
    ];
    let mut s = table(&head, &rows);
    let _ = writeln!(s, "{} tunnels", entries.len());
    s
}

fn rate_cells(t: &Throughput) -> [String; 4] {
    [
        format!("{:.3}", t.rx_mpps),
        format!("{:.3}", t.rx_gbps),
        format!("{:.3}", t.tx_mpps),
        format!("{:.3}", t.tx_gbps),
    ]
}

fn latency_cells(q: &Quantiles) -> [String; 3] {
    if q.count == 0 {
        return ["-".into(), "-".into(), "-".into()];
    }
    [fmt_ns(q.p50_ns), fmt_ns(q.p99_ns), fmt_ns(q.p999_ns)]
}

/// `vxgate stats`.
pub fn stats(s: &StatsSnapshot) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "vxgate {}  up {}  workers {}",
        s.version,
        fmt_age(s.uptime_secs),
        s.workers.len()
    );
    out.push('\n');
    match &s.rates {
        Some(r) => {
            let _ = writeln!(out, "Rates over the last {:.1}s:", r.interval_secs);
            let mut rows: Vec<Vec<String>> = r
                .ports
                .iter()
                .map(|p| {
                    let mut row = vec![format!("port {}", p.port)];
                    row.extend(rate_cells(&p.rate));
                    row.extend(["".into(), "".into(), "".into(), "".into()]);
                    row
                })
                .collect();
            for w in &r.workers {
                let mut row = vec![format!("worker {}", w.worker)];
                row.extend(rate_cells(&w.rate));
                row.push(format!("{:.0}%", w.busy_ratio * 100.0));
                row.extend(latency_cells(&w.latency));
                rows.push(row);
            }
            let mut total = vec!["total".to_string()];
            total.extend(rate_cells(&r.total));
            total.push(String::new());
            total.extend(latency_cells(&r.latency));
            rows.push(total);
            out.push_str(&table(
                &[
                    "", "RX Mpps", "RX Gbps", "TX Mpps", "TX Gbps", "BUSY", "P50", "P99", "P99.9",
                ],
                &rows,
            ));
            let _ = writeln!(out, "{r}");
        }
        None => out.push_str("Rates: not yet available (sampled once per second)\n"),
    }
    out.push('\n');

    let rows: Vec<Vec<String>> = s
        .workers
        .iter()
        .map(|w| {
            let mut row = vec![
                w.worker.to_string(),
                w.access.rx_packets.to_string(),
                w.access.tx_packets.to_string(),
                w.underlay.rx_packets.to_string(),
                w.underlay.tx_packets.to_string(),
                w.encap_packets.to_string(),
                w.decap_packets.to_string(),
                w.flood_packets.to_string(),
                w.drops.to_string(),
            ];
            row.extend(latency_cells(&w.latency));
            row
        })
        .collect();
    let _ = writeln!(out, "Packets since start:");
    out.push_str(&table(
        &[
            "WORKER",
            &format!("{} RX", s.ports.0),
            &format!("{} TX", s.ports.0),
            &format!("{} RX", s.ports.1),
            &format!("{} TX", s.ports.1),
            "ENCAP",
            "DECAP",
            "FLOOD",
            "DROPS",
            "P50",
            "P99",
            "P99.9",
        ],
        &rows,
    ));
    out.push('\n');

    let drops: Vec<Vec<String>> = s
        .drops_by_reason
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(r, n)| vec![r.clone(), n.to_string()])
        .collect();
    if drops.is_empty() {
        out.push_str("Drops: none\n");
    } else {
        let _ = writeln!(out, "Drops by reason:");
        out.push_str(&table(&["REASON", "PACKETS"], &drops));
    }
    out.push('\n');

    let f = &s.fdb;
    let _ = writeln!(
        out,
        "FDB: {} static, {} learned, {} remote; {} learn events, {} moves, {} rejected, {} aged out",
        f.static_entries,
        f.learned_entries,
        f.remote_entries,
        f.learn_events,
        f.moves,
        f.learn_rejected,
        f.aged_out
    );
    if f.flaps_damped > 0 {
        let _ = writeln!(
            out,
            "FDB flap damping: {} MACs frozen, {} moves dropped",
            f.flaps_damped, f.moves_suppressed
        );
    }
    let _ = writeln!(
        out,
        "FDB generation: published {}, applied by all workers {}; neighbours {}",
        f.published_generation, s.min_applied_generation, f.neighbor_entries
    );
    for (port, d) in &s.devices {
        let _ = writeln!(
            out,
            "Device {port}: link {}; imissed {} ierrors {} oerrors {} rx_nombuf {}",
            link_text(d),
            d.imissed,
            d.ierrors,
            d.oerrors,
            d.rx_nombuf
        );
    }
    if let Some((used, cap)) = s.mempool {
        let _ = writeln!(out, "Mempool: {used} of {cap} buffers in use");
    }
    out
}

/// `up 10000 Mbps full-duplex`, `up` (speed unknown) or `down`.
pub fn link_text(d: &crate::metrics::DeviceStats) -> String {
    if !d.link_up {
        return "down".into();
    }
    let mut t = "up".to_string();
    if d.speed_mbps > 0 {
        t.push_str(&format!(" {} Mbps", d.speed_mbps));
    }
    t.push_str(if d.full_duplex {
        " full-duplex"
    } else {
        " half-duplex"
    });
    t
}

/// The one-line answer to a change.
pub fn ok(r: &Response) -> String {
    match r {
        Response::Ok {
            generation: Some(g),
            applied_generation: Some(a),
        } => format!("ok (generation {g}, applied by all workers: {a})\n"),
        Response::Ok { .. } => "ok\n".into(),
        Response::Error { message } => format!("error: {message}\n"),
        _ => "ok\n".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::protocol::WorkerStats;
    use crate::metrics::rates::{PortRates, Rates, Traffic, WorkerRates};
    use crate::metrics::FdbSummary;
    use std::net::Ipv4Addr;

    #[test]
    fn fdb_table_columns() {
        let t = fdb_table(&[
            FdbEntry {
                vni: 100,
                mac: "02:00:00:00:00:01".into(),
                remote: Ipv4Addr::new(192, 0, 2, 2).into(),
                kind: "static".into(),
                age_secs: 0,
                origin: None,
                ips: vec![],
            },
            FdbEntry {
                vni: 16_000_000,
                mac: "02:00:00:00:00:02".into(),
                remote: Ipv4Addr::new(10, 0, 0, 1).into(),
                kind: "learned".into(),
                age_secs: 75,
                origin: None,
                ips: vec![],
            },
            FdbEntry {
                vni: 100,
                mac: "02:00:00:00:00:03".into(),
                remote: Ipv4Addr::new(192, 0, 2, 3).into(),
                kind: "remote".into(),
                age_secs: 0,
                origin: Some("gw-b".into()),
                ips: vec![],
            },
        ]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            "VNI       MAC                REMOTE     TYPE     AGE    FROM"
        );
        assert_eq!(
            lines[1],
            "100       02:00:00:00:00:01  192.0.2.2  static   -      config"
        );
        assert_eq!(
            lines[2],
            "16000000  02:00:00:00:00:02  10.0.0.1   learned  1m15s  underlay"
        );
        assert_eq!(
            lines[3],
            "100       02:00:00:00:00:03  192.0.2.3  remote   -      etcd:gw-b"
        );
        assert_eq!(lines[4], "3 entries");
    }

    #[test]
    fn stats_shows_rates_nonzero_drops_and_latency() {
        let q = Quantiles {
            count: 5,
            p50_ns: 900,
            p99_ns: 4_100,
            p999_ns: 12_000,
            max_ns: 13_000,
        };
        let snap = StatsSnapshot {
            version: "0.1.0".into(),
            uptime_secs: 3,
            ports: ("access".into(), "underlay".into()),
            workers: vec![WorkerStats {
                worker: 0,
                access: Traffic::default(),
                underlay: Traffic::default(),
                encap_packets: 0,
                decap_packets: 0,
                flood_packets: 0,
                drops: 2,
                learn_events_dropped: 0,
                applied_generation: 1,
                latency: q,
            }],
            drops_by_reason: vec![("tx_full".into(), 2), ("malformed".into(), 0)],
            rates: Some(Rates {
                interval_secs: 1.0,
                ports: vec![PortRates {
                    port: "access".into(),
                    rate: Throughput {
                        rx_mpps: 1.5,
                        ..Throughput::default()
                    },
                }],
                workers: vec![WorkerRates {
                    worker: 0,
                    rate: Throughput::default(),
                    drops: 0,
                    busy_ratio: 0.5,
                    latency: q,
                }],
                total: Throughput::default(),
                drops: 0,
                drops_by_reason: vec![],
                latency: q,
            }),
            fdb: FdbSummary::default(),
            min_applied_generation: 1,
            devices: vec![],
            mempool: None,
        };
        let s = stats(&snap);
        assert!(s.contains("port access  1.500"), "{s}");
        assert!(s.contains("tx_full"), "{s}");
        assert!(!s.contains("malformed"), "{s}");
        assert!(s.contains("4.1 µs") && s.contains("12.0 µs") && s.contains("900 ns"));
        assert!(s.contains("50%"));
    }

    #[test]
    fn ages() {
        assert_eq!(fmt_age(5), "5s");
        assert_eq!(fmt_age(303), "5m03s");
        assert_eq!(fmt_age(7620), "2h07m");
    }
}
