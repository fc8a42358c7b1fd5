//! Two queues, two workers, end to end through DPDK virtual devices.
//!
//! `ports.queues = 2` with `workers.cores = [0, 1]`: worker `i` owns queue pair `i` on both
//! ports. The test spawns the real `vxgate run --no-pin` binary on a configuration it writes
//! into its own temp dir. Both ports are `net_pcap` vdevs with two RX and two TX queues each,
//! made by repeating the devargs (DPDK 22.11's pcap PMD opens one queue per `rx_pcap` /
//! `tx_pcap` occurrence):
//!
//! ```text
//! --vdev=net_pcap0,rx_pcap=in-access-0.pcap,rx_pcap=in-access-1.pcap,
//!                  tx_pcap=out-access-0.pcap,tx_pcap=out-access-1.pcap
//! ```
//!
//! so every RX queue reads its own finite input and every TX queue writes its own file. Each
//! queue gets different traffic (known unicast, a broadcast flooded to a 3-VTEP list, VXLAN
//! from remotes that teaches one MAC per underlay queue, an ARP request, a drop), built here
//! byte by byte independently of `vxgate::wire`.
//!
//! `per_queue_workers_end_to_end` checks, on one run:
//! - every output file holds exactly what its worker produced, byte for byte (each worker has
//!   its own outer IPv4 identification counter starting at 1; the UDP source port is pinned by
//!   `src_port_range = [50000, 50000]`);
//! - `/metrics`: `vxgate_rx_packets_total` / `vxgate_tx_packets_total` per port and queue, and
//!   encap / decap / flood / ARP-reply / learn-event counters per worker;
//! - the MAC learned by worker 0 and the one learned by worker 1 are both in `vxgate fdb list`,
//!   and `vxgate_fdb_replica_lag` is 0 for both workers (published to both replicas);
//! - `vxgate fdb add` answers with an applied generation covering both workers;
//! - SIGTERM ends the run with the right summary totals and no leaked mbuf.
//!
//! EAL mode: `--in-memory --no-pci` when free hugepages exist, else
//! `--no-huge -m 512 --no-pci --no-shconf`; always a unique `--file-prefix`.
//! `VXGATE_EAL_MODE=nohuge` (or `hugepages`) forces a mode.
#![cfg(feature = "dpdk")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use vxgate::dataplane::DropReason;
use vxgate::metrics::http;

mod dpdk_common;
use dpdk_common::*;

// ---------------------------------------------------------------------------------------------
// Addresses of the test topology.

const QUEUES: usize = 2;
const ACCESS: &str = "net_pcap0";
const UNDERLAY: &str = "net_pcap1";

/// An underlay peer (the configured gateway) that ARPs for the VTEP address.
const PEER_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 9);

/// Remote hosts (static FDB): H1 behind R2, H3 behind R3 in VNI 5000; H5 behind R2 in 5001.
const H1: Mac = [0x02, 0, 0, 0, 0x10, 0x01];
/// Remote hosts that only appear as inner sources on the underlay: LEARN_0 arrives on underlay
/// queue 0 (worker 0 learns it), LEARN_1 on queue 1 (worker 1 learns it).
const LEARN_0: Mac = [0x02, 0, 0, 0, 0x20, 0x01];
const LEARN_1: Mac = [0x02, 0, 0, 0, 0x20, 0x02];

// ---------------------------------------------------------------------------------------------
// Byte-level frame builders (independent of vxgate::wire).

struct Ip {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    ident: u16,
    dont_frag: bool,
}

/// An IPv4 packet (TTL 64) with a 20-byte header and a correct header checksum.
fn ipv4(ip: &Ip, payload: &[u8]) -> Vec<u8> {
    let total = u16::try_from(20 + payload.len()).unwrap();
    let mut h = vec![0x45, 0x00];
    h.extend_from_slice(&be16(total));
    h.extend_from_slice(&be16(ip.ident));
    h.extend_from_slice(&be16(if ip.dont_frag { 0x4000 } else { 0 }));
    h.push(64);
    h.push(ip.proto);
    h.extend_from_slice(&[0, 0]);
    h.extend_from_slice(&ip.src.octets());
    h.extend_from_slice(&ip.dst.octets());
    let ck = inet_checksum(&h);
    h[10..12].copy_from_slice(&be16(ck));
    h.extend_from_slice(payload);
    h
}

/// A complete VXLAN frame between two VTEPs carrying `inner`.
struct Vx {
    eth_dst: Mac,
    eth_src: Mac,
    src_ip: Ipv4Addr,
    dst_ip: Ipv4Addr,
    ident: u16,
    sport: u16,
    vni: u32,
}

fn vxlan_frame(v: &Vx, inner: &[u8]) -> Vec<u8> {
    let ip = Ip {
        src: v.src_ip,
        dst: v.dst_ip,
        proto: 17,
        ident: v.ident,
        dont_frag: true,
    };
    eth(
        v.eth_dst,
        v.eth_src,
        0x0800,
        &ipv4(&ip, &udp(v.sport, VXLAN_PORT, &vxlan(v.vni, inner))),
    )
}

/// A remote VTEP's frame to the gateway.
fn from_remote(remote_mac: Mac, remote: Ipv4Addr, ident: u16, vni: u32, inner: &[u8]) -> Vec<u8> {
    vxlan_frame(
        &Vx {
            eth_dst: VTEP_MAC,
            eth_src: remote_mac,
            src_ip: remote,
            dst_ip: VTEP_IP,
            ident,
            sport: 40000 + ident,
            vni,
        },
        inner,
    )
}

/// An untagged IPv4/UDP host frame of exactly `len` bytes with a seeded payload.
fn host_frame(dst: Mac, src: Mac, len: usize, seed: u8) -> Vec<u8> {
    assert!(len >= 14 + 20 + 8);
    let body: Vec<u8> = (0..len - 14 - 28)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect();
    let ip = Ip {
        src: Ipv4Addr::new(10, 0, 0, seed),
        dst: Ipv4Addr::new(10, 0, 1, seed),
        proto: 17,
        ident: u16::from(seed),
        dont_frag: false,
    };
    let f = eth(
        dst,
        src,
        0x0800,
        &ipv4(&ip, &udp(1000 + u16::from(seed), 2000, &body)),
    );
    assert_eq!(f.len(), len);
    f
}

fn pad_to(mut f: Vec<u8>, len: usize) -> Vec<u8> {
    if f.len() < len {
        f.resize(len, 0);
    }
    f
}

/// A broadcast ARP request from a local host (60 bytes on the wire).
fn local_arp_request(src: Mac, seed: u8) -> Vec<u8> {
    let body = arp(
        1,
        src,
        Ipv4Addr::new(10, 0, 0, seed),
        [0; 6],
        Ipv4Addr::new(10, 0, 0, seed + 1),
    );
    pad_to(eth([0xff; 6], src, 0x0806, &body), 60)
}

// ---------------------------------------------------------------------------------------------
// The traffic of one queue pair (one worker): what goes in, what must come out.

#[derive(Default)]
struct QueueTraffic {
    access_in: Vec<Vec<u8>>,
    underlay_in: Vec<Vec<u8>>,
    /// Underlay TX caused by access RX (encapsulated), in order.
    encap_out: Vec<Vec<u8>>,
    /// Underlay TX caused by underlay RX (ARP replies), in order.
    reply_out: Vec<Vec<u8>>,
    /// Access TX (decapsulated), in order.
    decap_out: Vec<Vec<u8>>,
    /// The outer IPv4 identification of this worker's last encapsulated packet.
    ident: u16,
    encap: u64,
    flood: u64,
    decap: u64,
    arp_replies: u64,
    drops: BTreeMap<&'static str, u64>,
}

impl QueueTraffic {
    /// Records the frame this worker sends for `inner` (untagged) to `remote`; each worker
    /// numbers its own encapsulated packets from 1.
    fn expect_encap(&mut self, next_hop: Mac, remote: Ipv4Addr, vni: u32, inner: &[u8]) {
        self.ident += 1;
        self.encap_out.push(vxlan_frame(
            &Vx {
                eth_dst: next_hop,
                eth_src: VTEP_MAC,
                src_ip: VTEP_IP,
                dst_ip: remote,
                ident: self.ident,
                sport: SRC_PORT,
                vni,
            },
            inner,
        ));
    }

    /// Access input `inner` (tagged with `vlan` on the wire, if any) for a known remote host.
    fn unicast(&mut self, inner: Vec<u8>, vlan: Option<u16>, nh: Mac, remote: Ipv4Addr, vni: u32) {
        self.access_in
            .push(vlan.map_or_else(|| inner.clone(), |v| tag(&inner, v)));
        self.expect_encap(nh, remote, vni, &inner);
        self.encap += 1;
    }

    /// Access input broadcast on VLAN 100: head-end replicated to R2, R3, R4.
    fn broadcast(&mut self, inner: Vec<u8>) {
        self.access_in.push(tag(&inner, VLAN_TAGGED));
        for (nh, r) in [(R2_MAC, R2), (R3_MAC, R3), (R4_MAC, R4)] {
            self.expect_encap(nh, r, VNI_TAGGED, &inner);
            self.flood += 1;
        }
    }

    /// Underlay input: VXLAN from a remote VTEP, decapsulated to the access port.
    fn decap(&mut self, remote_mac: Mac, remote: Ipv4Addr, ident: u16, vni: u32, inner: Vec<u8>) {
        self.underlay_in
            .push(from_remote(remote_mac, remote, ident, vni, &inner));
        let out = if vni == VNI_TAGGED {
            tag(&inner, VLAN_TAGGED)
        } else {
            inner
        };
        self.decap_out.push(out);
        self.decap += 1;
    }

    fn drop(&mut self, r: DropReason) {
        *self.drops.entry(r.as_str()).or_default() += 1;
    }
}

/// Different traffic for each queue pair. Access frames only go to static FDB entries or are
/// flooded, so the learned entries (asynchronous) cannot change what a worker sends.
fn traffic() -> [QueueTraffic; QUEUES] {
    let mut q0 = QueueTraffic::default();
    let mut q1 = QueueTraffic::default();

    // ---- queue 0 (worker 0) ----
    // Known unicast on VLAN 100 → H1 behind R2.
    q0.unicast(
        host_frame(H1, LOCAL_A, 64, 1),
        Some(VLAN_TAGGED),
        R2_MAC,
        R2,
        VNI_TAGGED,
    );
    // Broadcast on VLAN 100 → R2, R3, R4.
    q0.broadcast(local_arp_request(LOCAL_A, 10));
    // Untagged known unicast → H5 behind R2 in VNI 5001.
    q0.unicast(
        host_frame(H5, LOCAL_A, 128, 2),
        None,
        R2_MAC,
        R2,
        VNI_UNTAGGED,
    );
    // Underlay: R2 sends from LEARN_0 in VNI 5000 (worker 0 learns it), twice.
    q0.decap(
        R2_MAC,
        R2,
        1,
        VNI_TAGGED,
        host_frame(LOCAL_A, LEARN_0, 100, 21),
    );
    q0.decap(
        R2_MAC,
        R2,
        2,
        VNI_TAGGED,
        host_frame(LOCAL_B, LEARN_0, 400, 22),
    );

    // ---- queue 1 (worker 1) ----
    // Known unicast on VLAN 100 → H3 behind R3, a larger frame.
    q1.unicast(
        host_frame(H3, LOCAL_B, 300, 3),
        Some(VLAN_TAGGED),
        R3_MAC,
        R3,
        VNI_TAGGED,
    );
    // A VLAN no VNI maps.
    q1.access_in.push(tag(&host_frame(H1, LOCAL_B, 80, 4), 300));
    q1.drop(DropReason::UnknownVlan);
    // A different broadcast on VLAN 100 → R2, R3, R4.
    q1.broadcast(local_arp_request(LOCAL_B, 20));
    // Known unicast on VLAN 100 → H1 behind R2, exactly at the MTU (1464 + 36 = 1500).
    q1.unicast(
        host_frame(H1, LOCAL_B, UNDERLAY_MTU - 36, 5),
        Some(VLAN_TAGGED),
        R2_MAC,
        R2,
        VNI_TAGGED,
    );
    // Underlay: R3 sends from LEARN_1 in VNI 5001 (worker 1 learns it).
    q1.decap(
        R3_MAC,
        R3,
        3,
        VNI_UNTAGGED,
        host_frame(LOCAL_A, LEARN_1, 200, 23),
    );
    // The underlay gateway ARPs for the VTEP address: answered on this worker's TX queue.
    let req = arp(1, PEER_MAC, PEER_IP, [0; 6], VTEP_IP);
    q1.underlay_in
        .push(pad_to(eth([0xff; 6], PEER_MAC, 0x0806, &req), 60));
    let rep = arp(2, VTEP_MAC, VTEP_IP, PEER_MAC, PEER_IP);
    q1.reply_out
        .push(pad_to(eth(PEER_MAC, VTEP_MAC, 0x0806, &rep), 60));
    q1.arp_replies += 1;
    // A VNI this gateway does not have.
    q1.underlay_in.push(from_remote(
        R3_MAC,
        R3,
        4,
        7777,
        &host_frame(LOCAL_A, LEARN_1, 90, 24),
    ));
    q1.drop(DropReason::UnknownVni);

    [q0, q1]
}

// ---------------------------------------------------------------------------------------------
// Harness: temp dir, configuration, running the binary.

fn in_file(side: &str, q: usize) -> String {
    format!("in-{side}-{q}.pcap")
}

fn out_file(side: &str, q: usize) -> String {
    format!("out-{side}-{q}.pcap")
}

/// `--vdev=<name>,rx_pcap=<in q0>,rx_pcap=<in q1>,tx_pcap=<out q0>,tx_pcap=<out q1>`.
fn vdev(dir: &TempDir, name: &str, side: &str) -> String {
    let mut v = format!("--vdev={name}");
    for q in 0..QUEUES {
        write!(v, ",rx_pcap={}", dir.path(&in_file(side, q)).display()).unwrap();
    }
    for q in 0..QUEUES {
        write!(v, ",tx_pcap={}", dir.path(&out_file(side, q)).display()).unwrap();
    }
    v
}

/// Writes the per-queue input pcaps and the configuration into `dir`; returns the config path.
fn write_config(dir: &TempDir, t: &[QueueTraffic; QUEUES], metrics_port: u16) -> PathBuf {
    for (q, qt) in t.iter().enumerate() {
        vxgate::pcap::write_frames(&dir.path(&in_file("access", q)), &qt.access_in).unwrap();
        vxgate::pcap::write_frames(&dir.path(&in_file("underlay", q)), &qt.underlay_in).unwrap();
    }

    let mut eal = eal_base(dir);
    eal.push(vdev(dir, ACCESS, "access"));
    eal.push(vdev(dir, UNDERLAY, "underlay"));

    let mut c = String::new();
    let eal_list: Vec<String> = eal.iter().map(|a| toml_str(a)).collect();
    writeln!(c, "[dpdk]\neal_args = [{}]", eal_list.join(", ")).unwrap();
    // Both ports' RX+TX rings for two queues: 2 ports * 2 queues * (512 + 512) = 4096.
    writeln!(
        c,
        "mempool_size = 8191\nmempool_cache = 128\nrx_descriptors = 512\ntx_descriptors = 512\n"
    )
    .unwrap();
    writeln!(
        c,
        "[vtep]\nip = \"{VTEP_IP}\"\nmac = \"{}\"\n\
         src_port_range = [{SRC_PORT}, {SRC_PORT}]\nunderlay_mtu = {UNDERLAY_MTU}\n\
         gateway = \"{PEER_IP}\"\n",
        mac_str(VTEP_MAC)
    )
    .unwrap();
    writeln!(
        c,
        "[ports]\naccess = \"{ACCESS}\"\nunderlay = \"{UNDERLAY}\"\nqueues = {QUEUES}\n"
    )
    .unwrap();
    writeln!(c, "[workers]\ncores = [0, 1]\n").unwrap();
    writeln!(
        c,
        "[[vni]]\nid = {VNI_TAGGED}\nvlan = {VLAN_TAGGED}\nflood = [\"{R2}\", \"{R3}\", \"{R4}\"]\n"
    )
    .unwrap();
    writeln!(c, "[[vni]]\nid = {VNI_UNTAGGED}\nflood = [\"{R2}\"]\n").unwrap();
    for (vni, mac, remote) in [
        (VNI_TAGGED, H1, R2),
        (VNI_TAGGED, H3, R3),
        (VNI_UNTAGGED, H5, R2),
    ] {
        writeln!(
            c,
            "[[fdb]]\nvni = {vni}\nmac = \"{}\"\nremote = \"{remote}\"\n",
            mac_str(mac)
        )
        .unwrap();
    }
    for (ip, mac) in [(R2, R2_MAC), (R3, R3_MAC), (R4, R4_MAC)] {
        writeln!(
            c,
            "[[neighbor]]\nip = \"{ip}\"\nmac = \"{}\"\n",
            mac_str(mac)
        )
        .unwrap();
    }
    writeln!(c, "[metrics]\nlisten = \"127.0.0.1:{metrics_port}\"\n").unwrap();
    c.push_str(&control_section(dir));
    let path = dir.path("vxgate.toml");
    std::fs::write(&path, c).unwrap();
    path
}

// ---------------------------------------------------------------------------------------------
// Checks.

/// Checks the summary `vxgate run` prints: drops, encap/decap/flood totals over both workers,
/// and no leaked mbuf.
fn check_summary(stdout: &str, t: &[QueueTraffic; QUEUES]) {
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    for qt in t {
        for (r, n) in &qt.drops {
            *want.entry((*r).to_string()).or_default() += n;
        }
    }
    assert_eq!(summary_drops(stdout), want, "drops in summary:\n{stdout}");
    let total = |f: fn(&QueueTraffic) -> u64| t.iter().map(f).sum::<u64>();
    let totals = format!(
        "encap {}  decap {}  flood replicas {}",
        total(|q| q.encap),
        total(|q| q.decap),
        total(|q| q.flood)
    );
    assert!(stdout.contains(&totals), "want `{totals}` in:\n{stdout}");
    assert_no_leak(stdout);
}

/// The value of the one series `name` whose labels are exactly `want`; panics when there is
/// no such series (a missing per-queue or per-worker series is a failure in itself).
fn value(samples: &[Sample], name: &str, want: &[(&str, &str)]) -> u64 {
    let want: BTreeMap<String, String> = want
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
    let found: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.name == name && s.labels == want)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "series {name}{want:?}: {} found",
        found.len()
    );
    found[0].value as u64
}

/// Every per-queue and per-worker counter the traffic determines: (name, labels, value).
type Expected = (&'static str, Vec<(&'static str, String)>, u64);

fn expected_counters(t: &[QueueTraffic; QUEUES]) -> Vec<Expected> {
    let mut out: Vec<Expected> = Vec::new();
    for (q, qt) in t.iter().enumerate() {
        let port_q = |p: &str| vec![("port", p.to_string()), ("queue", q.to_string())];
        let len = |v: &[Vec<u8>]| v.len() as u64;
        let bytes = |v: &[Vec<u8>]| v.iter().map(|f| f.len() as u64).sum::<u64>();
        let underlay_tx = len(&qt.encap_out) + len(&qt.reply_out);
        let underlay_tx_bytes = bytes(&qt.encap_out) + bytes(&qt.reply_out);
        out.extend([
            (
                "vxgate_rx_packets_total",
                port_q(ACCESS),
                len(&qt.access_in),
            ),
            (
                "vxgate_rx_bytes_total",
                port_q(ACCESS),
                bytes(&qt.access_in),
            ),
            (
                "vxgate_rx_packets_total",
                port_q(UNDERLAY),
                len(&qt.underlay_in),
            ),
            (
                "vxgate_rx_bytes_total",
                port_q(UNDERLAY),
                bytes(&qt.underlay_in),
            ),
            (
                "vxgate_tx_packets_total",
                port_q(ACCESS),
                len(&qt.decap_out),
            ),
            (
                "vxgate_tx_bytes_total",
                port_q(ACCESS),
                bytes(&qt.decap_out),
            ),
            ("vxgate_tx_packets_total", port_q(UNDERLAY), underlay_tx),
            ("vxgate_tx_bytes_total", port_q(UNDERLAY), underlay_tx_bytes),
        ]);
        let worker = || vec![("worker", q.to_string())];
        out.extend([
            ("vxgate_encap_packets_total", worker(), qt.encap),
            ("vxgate_flood_packets_total", worker(), qt.flood),
            ("vxgate_decap_packets_total", worker(), qt.decap),
            ("vxgate_arp_replies_total", worker(), qt.arp_replies),
        ]);
    }
    out
}

fn labels_of<'a>(l: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    l.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Parses `ok (generation G, applied by all workers: A)`.
fn generations(answer: &str) -> Option<(u64, u64)> {
    let rest = answer.trim().strip_prefix("ok (generation ")?;
    let (g, rest) = rest.split_once(", applied by all workers: ")?;
    let a = rest.strip_suffix(')')?;
    Some((g.parse().ok()?, a.parse().ok()?))
}

/// Scrapes `/metrics` until `done` holds for the parsed samples, bounded by `limit`; returns
/// the last scrape (the caller's asserts then say what is missing).
fn scrape_until(
    gw: &mut Gateway,
    addr: SocketAddr,
    limit: Duration,
    done: impl Fn(&[Sample]) -> bool,
) -> (String, Vec<Sample>) {
    let deadline = Instant::now() + limit;
    loop {
        assert!(gw.is_running(), "vxgate exited early:\n{}", gw.stderr());
        if let Ok((200, text)) = http::get(addr, "/metrics") {
            let m = parse_metrics(&text);
            if done(&m) || Instant::now() > deadline {
                return (text, m);
            }
        } else {
            assert!(Instant::now() < deadline, "no /metrics on {addr}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

// ---------------------------------------------------------------------------------------------
// The test.

#[test]
fn per_queue_workers_end_to_end() {
    let dir = TempDir::new("mq", "2q");
    let t = traffic();
    let port = free_port();
    let config = write_config(&dir, &t, port);
    let socket = dir.path("control.sock");
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    // A long cap; the test ends the run with SIGTERM once its live checks are done.
    let mut gw = Gateway::spawn(&dir, &config, 30);

    // ---- live counters, per port and queue, per worker ----
    let qs: Vec<String> = (0..QUEUES).map(|q| q.to_string()).collect();
    let want = expected_counters(&t);
    // A worker counts a burst's RX before it processes it: wait until every counter (not just
    // RX) has its final value.
    let settled = |m: &[Sample]| {
        want.iter()
            .all(|(name, labels, n)| value(m, name, &labels_of(labels)) == *n)
    };
    let (text, m) = scrape_until(&mut gw, addr, Duration::from_secs(10), settled);
    let ctx = || format!("--- scrape ---\n{text}");
    for (name, labels, n) in &want {
        assert_eq!(
            value(&m, name, &labels_of(labels)),
            *n,
            "{name}{labels:?}\n{}",
            ctx()
        );
    }
    for q in &qs {
        let q = q.as_str();
        // Each worker reported the MAC its own underlay queue taught it (worker 0 saw LEARN_0
        // twice: once or twice reported, depending on whether a second boundary fell between).
        assert!(
            value(&m, "vxgate_learn_events_reported_total", &[("worker", q)]) >= 1,
            "worker {q} reported no learn event\n{}",
            ctx()
        );
        assert_eq!(
            value(&m, "vxgate_learn_events_dropped_total", &[("worker", q)]),
            0,
            "{}",
            ctx()
        );
    }
    assert!(
        !m.iter().any(|s| s
            .labels
            .get("queue")
            .is_some_and(|q| q.parse::<usize>().map_or(true, |q| q >= QUEUES))),
        "a series for a queue that does not exist\n{}",
        ctx()
    );

    // ---- learned by different workers, published to both replicas ----
    let learned = [
        row(VNI_TAGGED, LEARN_0, R2, "learned"),
        row(VNI_UNTAGGED, LEARN_1, R3, "learned"),
    ];
    let deadline = Instant::now() + Duration::from_secs(10);
    let list = loop {
        let list = cli_ok(&socket, &["fdb", "list"]);
        let rows = fdb_rows(&list);
        if learned.iter().all(|r| rows.contains(r)) || Instant::now() > deadline {
            break list;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let rows = fdb_rows(&list);
    for r in &learned {
        assert!(rows.contains(r), "{r:?} not learned:\n{list}");
    }
    for r in [
        row(VNI_TAGGED, H1, R2, "static"),
        row(VNI_TAGGED, H3, R3, "static"),
        row(VNI_UNTAGGED, H5, R2, "static"),
    ] {
        assert!(rows.contains(&r), "{r:?} missing from:\n{list}");
    }
    let lag_zero = |m: &[Sample]| {
        qs.iter()
            .all(|q| value(m, "vxgate_fdb_replica_lag", &[("worker", q)]) == 0)
    };
    // The FDB gauges come from one control-thread snapshot: once it counts both learned
    // entries, a zero lag means both replicas applied the generation that carries them.
    let (text, m) = scrape_until(&mut gw, addr, Duration::from_secs(10), |m| {
        value(m, "vxgate_fdb_entries", &[("type", "learned")]) == 2 && lag_zero(m)
    });
    let published = value(&m, "vxgate_fdb_published_generation", &[]);
    for q in &qs {
        assert_eq!(
            value(&m, "vxgate_fdb_replica_lag", &[("worker", q)]),
            0,
            "worker {q} lags\n--- scrape ---\n{text}"
        );
    }
    assert_eq!(
        value(&m, "vxgate_fdb_entries", &[("type", "learned")]),
        2,
        "--- scrape ---\n{text}"
    );

    // ---- a change over the CLI is applied by both workers before it is answered ----
    let new_mac: Mac = [0x02, 0, 0, 0, 0x30, 0x01];
    let answer = cli_ok(
        &socket,
        &[
            "fdb",
            "add",
            "--vni",
            "5000",
            "--mac",
            &mac_str(new_mac),
            "--remote",
            &R4.to_string(),
        ],
    );
    let (generation, applied) =
        generations(&answer).unwrap_or_else(|| panic!("unexpected answer: {answer}"));
    assert!(
        generation > published,
        "generation {generation} not after {published}: {answer}"
    );
    assert!(
        applied >= generation,
        "answered before every worker applied: {answer}"
    );
    let stats = cli_ok(&socket, &["stats"]);
    assert!(stats.contains("workers 2"), "{stats}");
    // The scrape reads the control thread's periodic snapshot: wait for it to show the add.
    let (text, m) = scrape_until(&mut gw, addr, Duration::from_secs(10), |m| {
        value(m, "vxgate_fdb_published_generation", &[]) >= generation && lag_zero(m)
    });
    assert!(
        value(&m, "vxgate_fdb_published_generation", &[]) >= generation,
        "--- scrape ---\n{text}"
    );
    for q in &qs {
        let lag = value(&m, "vxgate_fdb_replica_lag", &[("worker", q)]);
        assert_eq!(
            lag, 0,
            "worker {q} lags after the add\n--- scrape ---\n{text}"
        );
    }
    let list = cli_ok(&socket, &["fdb", "list"]);
    assert!(
        fdb_rows(&list).contains(&row(VNI_TAGGED, new_mac, R4, "static")),
        "added entry missing:\n{list}"
    );

    // ---- SIGTERM: summary, no leak, then every output file holds its worker's frames ----
    let killed = Command::new("kill")
        .args(["-TERM", &gw.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let (status, stdout, stderr) = gw.wait(Duration::from_secs(30));
    assert!(
        status.success(),
        "vxgate run failed: {status}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
    );
    check_summary(&stdout, &t);

    for (q, qt) in t.iter().enumerate() {
        let out_a = vxgate::pcap::read_frames(&dir.path(&out_file("access", q))).unwrap();
        let out_u = vxgate::pcap::read_frames(&dir.path(&out_file("underlay", q))).unwrap();
        // Access output comes only from underlay input: its order is the input order.
        assert_frames(
            &format!("access tx queue {q} (decapsulated)"),
            &out_a,
            &qt.decap_out,
        );
        // Underlay output mixes encapsulated frames (from access input) and replies (from
        // underlay input); each keeps the order of its own source.
        let (encap, replies): (Vec<Vec<u8>>, Vec<Vec<u8>>) =
            out_u.iter().cloned().partition(|f| is_vxlan(f));
        assert_frames(
            &format!("underlay tx queue {q} (encapsulated)"),
            &encap,
            &qt.encap_out,
        );
        assert_frames(
            &format!("underlay tx queue {q} (replies)"),
            &replies,
            &qt.reply_out,
        );
    }
}
