//! End to end through DPDK virtual devices: the real `vxgate` binary, real mbufs, real ports.
//!
//! The EAL starts once per process, so every test spawns `vxgate run` with a configuration it
//! writes into its own temp dir: the access port is `net_pcap0` and the underlay `net_pcap1`,
//! each reading a finite input pcap (`rx_pcap`) and writing what the gateway sends (`tx_pcap`).
//! Input frames and expected output are built here byte by byte, independently of the crate's
//! own wire code, so a bug there cannot hide in the expectation.
//!
//! - `both_directions_exact_bytes`: every output frame equals the expected bytes, the summary
//!   shows the right drop reasons and no leaked mbuf, and tshark (when installed) dissects every
//!   encapsulated frame as VXLAN over UDP 4789 with a good outer IPv4 checksum.
//! - `live_metrics_and_cli`: a live scrape counts exactly what was sent, drops under the right
//!   reasons, has latency samples and passes `promtool check metrics`; the CLI round-trips the
//!   FDB and neighbour tables against the running gateway; SIGTERM shuts it down cleanly.
//!
//! EAL mode: `--in-memory --no-pci` when free hugepages exist, else
//! `--no-huge -m 512 --no-pci --no-shconf`; always a unique `--file-prefix`.
//! `VXGATE_EAL_MODE=nohuge` (or `hugepages`) forces a mode.
#![cfg(feature = "dpdk")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use vxgate::dataplane::DropReason;
use vxgate::metrics::http;

mod dpdk_common;
use dpdk_common::*;

// ---------------------------------------------------------------------------------------------
// Addresses of the test topology.

/// An underlay peer that is not a VTEP: it ARPs for and pings the gateway.
const PEER_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 9);
/// Another underlay host that ARPs for the gateway unasked: answered, but not believed.
const STRANGER_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const STRANGER_MAC: Mac = [0x02, 0, 0, 0, 0, 0x0a];

/// Remote hosts (static FDB): H1, H2 behind R2 and R3 in VNI 5000; H5 behind R2 in VNI 5001.
const H1: Mac = [0x02, 0, 0, 0, 0x10, 0x01];
/// Remote hosts that only appear as inner sources on the underlay (learned, never static).
const LEARN_1: Mac = [0x02, 0, 0, 0, 0x10, 0x07];
const LEARN_2: Mac = [0x02, 0, 0, 0, 0x10, 0x08];

// ---------------------------------------------------------------------------------------------
// Byte-level frame builders (independent of vxgate::wire).

struct Ip {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    ident: u16,
    dont_frag: bool,
    ttl: u8,
}

/// An IPv4 packet with a 20-byte header and a correct header checksum.
fn ipv4(ip: &Ip, payload: &[u8]) -> Vec<u8> {
    let total = u16::try_from(20 + payload.len()).unwrap();
    let mut h = vec![0x45, 0x00];
    h.extend_from_slice(&be16(total));
    h.extend_from_slice(&be16(ip.ident));
    h.extend_from_slice(&be16(if ip.dont_frag { 0x4000 } else { 0 }));
    h.push(ip.ttl);
    h.push(ip.proto);
    h.extend_from_slice(&[0, 0]);
    h.extend_from_slice(&ip.src.octets());
    h.extend_from_slice(&ip.dst.octets());
    let ck = inet_checksum(&h);
    h[10..12].copy_from_slice(&be16(ck));
    h.extend_from_slice(payload);
    h
}

/// A complete VXLAN frame `src_ip` → `dst_ip` carrying `inner`.
#[allow(clippy::too_many_arguments)]
fn vxlan_frame(
    eth_dst: Mac,
    eth_src: Mac,
    src_ip: Ipv4Addr,
    dst_ip: Ipv4Addr,
    ident: u16,
    sport: u16,
    dport: u16,
    vni: u32,
    inner: &[u8],
) -> Vec<u8> {
    let ip = Ip {
        src: src_ip,
        dst: dst_ip,
        proto: 17,
        ident,
        dont_frag: true,
        ttl: 64,
    };
    eth(
        eth_dst,
        eth_src,
        0x0800,
        &ipv4(&ip, &udp(sport, dport, &vxlan(vni, inner))),
    )
}

/// What the gateway sends for `inner` (untagged) to `remote` behind `next_hop`.
fn encapsulated(next_hop: Mac, remote: Ipv4Addr, ident: u16, vni: u32, inner: &[u8]) -> Vec<u8> {
    vxlan_frame(
        next_hop, VTEP_MAC, VTEP_IP, remote, ident, SRC_PORT, VXLAN_PORT, vni, inner,
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
        ttl: 64,
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

/// ICMP echo (request type 8, reply type 0) with a correct checksum.
fn icmp_echo(ty: u8, id: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut m = vec![ty, 0, 0, 0];
    m.extend_from_slice(&be16(id));
    m.extend_from_slice(&be16(seq));
    m.extend_from_slice(data);
    let ck = inet_checksum(&m);
    m[2..4].copy_from_slice(&be16(ck));
    m
}

/// Recomputes the IPv4 header checksum of an Ethernet frame after its header was edited.
fn refresh_ip_checksum(f: &mut [u8]) {
    f[24..26].copy_from_slice(&[0, 0]);
    let ck = inet_checksum(&f[14..34]);
    f[24..26].copy_from_slice(&be16(ck));
}

fn pad_to(mut f: Vec<u8>, len: usize, byte: u8) -> Vec<u8> {
    if f.len() < len {
        f.resize(len, byte);
    }
    f
}

// ---------------------------------------------------------------------------------------------
// The traffic: input frames and the exact output they must produce.

/// One scenario: what goes in on each port, what must come out of each, and the drops.
struct Traffic {
    access_in: Vec<Vec<u8>>,
    underlay_in: Vec<Vec<u8>>,
    /// Underlay output caused by access input (encapsulated), in order.
    encap_out: Vec<Vec<u8>>,
    /// Underlay output caused by underlay input (ARP and ICMP replies), in order.
    reply_out: Vec<Vec<u8>>,
    /// Access output (decapsulated), in order.
    decap_out: Vec<Vec<u8>>,
    /// Expected drop count per reason (absent = 0).
    drops: BTreeMap<&'static str, u64>,
    /// The VNI of every encapsulated output frame, in order.
    encap_vnis: Vec<u32>,
    encap: u64,
    flood: u64,
    decap: u64,
    arp_replies: u64,
    icmp_replies: u64,
}

fn traffic() -> Traffic {
    let mut t = Traffic {
        access_in: Vec::new(),
        underlay_in: Vec::new(),
        encap_out: Vec::new(),
        reply_out: Vec::new(),
        decap_out: Vec::new(),
        drops: BTreeMap::new(),
        encap_vnis: Vec::new(),
        encap: 0,
        flood: 0,
        decap: 0,
        arp_replies: 0,
        icmp_replies: 0,
    };
    // The outer IPv4 identification counts every encapsulated packet, from 1.
    let mut ident = 0u16;
    let mut out = |t: &mut Traffic, nh: Mac, remote: Ipv4Addr, vni: u32, inner: &[u8]| {
        ident += 1;
        t.encap_out
            .push(encapsulated(nh, remote, ident, vni, inner));
        t.encap_vnis.push(vni);
    };
    let drop = |t: &mut Traffic, r: DropReason| *t.drops.entry(r.as_str()).or_default() += 1;

    // ---- access side ----
    // A1: known unicast on VLAN 100 → H1 behind R2.
    let u = host_frame(H1, LOCAL_A, 64, 1);
    t.access_in.push(tag(&u, VLAN_TAGGED));
    out(&mut t, R2_MAC, R2, VNI_TAGGED, &u);
    t.encap += 1;
    // A2: known unicast on VLAN 100 → H3 behind R3, a larger frame.
    let u = host_frame(H3, LOCAL_A, 300, 2);
    t.access_in.push(tag(&u, VLAN_TAGGED));
    out(&mut t, R3_MAC, R3, VNI_TAGGED, &u);
    t.encap += 1;
    // A3: broadcast (an ARP request) on VLAN 100 → head-end replicated to R2, R3, R4.
    let u = pad_to(
        eth(
            [0xff; 6],
            LOCAL_B,
            0x0806,
            &arp(
                1,
                LOCAL_B,
                Ipv4Addr::new(10, 0, 0, 50),
                [0; 6],
                Ipv4Addr::new(10, 0, 0, 51),
            ),
        ),
        60,
        0,
    );
    t.access_in.push(tag(&u, VLAN_TAGGED));
    for (nh, r) in [(R2_MAC, R2), (R3_MAC, R3), (R4_MAC, R4)] {
        out(&mut t, nh, r, VNI_TAGGED, &u);
        t.flood += 1;
    }
    // A4: untagged known unicast → H5 behind R2 in VNI 5001.
    let u = host_frame(H5, LOCAL_A, 128, 4);
    t.access_in.push(u.clone());
    out(&mut t, R2_MAC, R2, VNI_UNTAGGED, &u);
    t.encap += 1;
    // A5: untagged unknown unicast → flooded to VNI 5001's single VTEP (R2).
    let u = host_frame([0x02, 0, 0, 0, 0x99, 0x99], LOCAL_A, 100, 5);
    t.access_in.push(u.clone());
    out(&mut t, R2_MAC, R2, VNI_UNTAGGED, &u);
    t.flood += 1;
    // A6: a VLAN no VNI maps.
    t.access_in.push(tag(&host_frame(H1, LOCAL_A, 80, 6), 300));
    drop(&mut t, DropReason::UnknownVlan);
    // A7: oversize: 1514 untagged + 36 > 1500.
    t.access_in
        .push(tag(&host_frame(H1, LOCAL_A, 1514, 7), VLAN_TAGGED));
    drop(&mut t, DropReason::MtuExceeded);
    // A8: exactly at the MTU: 1464 untagged + 36 = 1500.
    let u = host_frame(H1, LOCAL_A, UNDERLAY_MTU - 36, 8);
    t.access_in.push(tag(&u, VLAN_TAGGED));
    out(&mut t, R2_MAC, R2, VNI_TAGGED, &u);
    t.encap += 1;
    // A9: priority tag (VLAN 0) belongs to the untagged VNI; the tag is stripped.
    let u = host_frame(H5, LOCAL_B, 90, 9);
    t.access_in.push(tag(&u, 0));
    out(&mut t, R2_MAC, R2, VNI_UNTAGGED, &u);
    t.encap += 1;
    // A10: shorter than an Ethernet header.
    t.access_in.push(vec![0xff; 10]);
    drop(&mut t, DropReason::Malformed);

    // ---- underlay side ----
    // U1: VXLAN VNI 5000 from R2 → decapsulated and tagged VLAN 100.
    let inner = host_frame(LOCAL_A, LEARN_1, 100, 21);
    t.underlay_in.push(vxlan_frame(
        VTEP_MAC, R2_MAC, R2, VTEP_IP, 7, 40000, VXLAN_PORT, VNI_TAGGED, &inner,
    ));
    t.decap_out.push(tag(&inner, VLAN_TAGGED));
    t.decap += 1;
    // U2: VXLAN VNI 5001 from R3 → decapsulated, untagged.
    let inner = host_frame(LOCAL_B, LEARN_2, 200, 22);
    t.underlay_in.push(vxlan_frame(
        VTEP_MAC,
        R3_MAC,
        R3,
        VTEP_IP,
        8,
        40001,
        VXLAN_PORT,
        VNI_UNTAGGED,
        &inner,
    ));
    t.decap_out.push(inner);
    t.decap += 1;
    // U3: VXLAN VNI 5000 with 4 trailing bytes after the IP datagram (like an FCS left on):
    // the inner frame ends where the UDP length says.
    let inner = host_frame(LOCAL_A, LEARN_1, 60, 23);
    let mut f = vxlan_frame(
        VTEP_MAC, R2_MAC, R2, VTEP_IP, 9, 40002, VXLAN_PORT, VNI_TAGGED, &inner,
    );
    f.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    t.underlay_in.push(f);
    t.decap_out.push(tag(&inner, VLAN_TAGGED));
    t.decap += 1;
    // U4: outer IPv4 header checksum wrong.
    let mut f = vxlan_frame(
        VTEP_MAC, R2_MAC, R2, VTEP_IP, 10, 40003, VXLAN_PORT, VNI_TAGGED, &inner,
    );
    f[24] ^= 0x5a;
    t.underlay_in.push(f);
    drop(&mut t, DropReason::BadIpv4Checksum);
    // U5: a VNI this gateway does not have.
    t.underlay_in.push(vxlan_frame(
        VTEP_MAC, R2_MAC, R2, VTEP_IP, 11, 40004, VXLAN_PORT, 7777, &inner,
    ));
    drop(&mut t, DropReason::UnknownVni);
    // U6: UDP to another port.
    t.underlay_in.push(vxlan_frame(
        VTEP_MAC, R2_MAC, R2, VTEP_IP, 12, 40005, 4790, VNI_TAGGED, &inner,
    ));
    drop(&mut t, DropReason::WrongUdpPort);
    // U7: unicast to another MAC.
    t.underlay_in.push(vxlan_frame(
        [0x02, 0, 0, 0, 0, 0x77],
        R2_MAC,
        R2,
        VTEP_IP,
        13,
        40006,
        VXLAN_PORT,
        VNI_TAGGED,
        &inner,
    ));
    drop(&mut t, DropReason::NotOurMac);
    // U8: ARP request for the VTEP address, padded to 60 bytes with non-zero garbage: the
    // reply is built in place and its padding is zeroed.
    let req = arp(1, PEER_MAC, PEER_IP, [0; 6], VTEP_IP);
    t.underlay_in
        .push(pad_to(eth([0xff; 6], PEER_MAC, 0x0806, &req), 60, 0xab));
    let rep = arp(2, VTEP_MAC, VTEP_IP, PEER_MAC, PEER_IP);
    t.reply_out
        .push(pad_to(eth(PEER_MAC, VTEP_MAC, 0x0806, &rep), 60, 0));
    t.arp_replies += 1;
    // U9: ICMP echo request to the VTEP address (56 data bytes, as ping sends).
    let data: Vec<u8> = (0..56u8).collect();
    let req_ip = Ip {
        src: PEER_IP,
        dst: VTEP_IP,
        proto: 1,
        ident: 0x1234,
        dont_frag: true,
        ttl: 63,
    };
    t.underlay_in.push(eth(
        VTEP_MAC,
        PEER_MAC,
        0x0800,
        &ipv4(&req_ip, &icmp_echo(8, 0x4242, 1, &data)),
    ));
    let rep_ip = Ip {
        src: VTEP_IP,
        dst: PEER_IP,
        ttl: 64,
        ..req_ip
    };
    t.reply_out.push(eth(
        PEER_MAC,
        VTEP_MAC,
        0x0800,
        &ipv4(&rep_ip, &icmp_echo(0, 0x4242, 1, &data)),
    ));
    t.icmp_replies += 1;
    // U10: a minimal ping (4 data bytes), padded on the wire to 60 bytes with garbage: the
    // reply drops the request's padding and is zero-padded to the 60-byte minimum.
    let data = [0xc0, 0xff, 0xee, 0x00];
    let req_ip = Ip {
        ident: 0x1235,
        dont_frag: false,
        ..req_ip
    };
    t.underlay_in.push(pad_to(
        eth(
            VTEP_MAC,
            PEER_MAC,
            0x0800,
            &ipv4(&req_ip, &icmp_echo(8, 0x4242, 2, &data)),
        ),
        60,
        0x55,
    ));
    let rep_ip = Ip {
        src: VTEP_IP,
        dst: PEER_IP,
        ttl: 64,
        ..req_ip
    };
    t.reply_out.push(pad_to(
        eth(
            PEER_MAC,
            VTEP_MAC,
            0x0800,
            &ipv4(&rep_ip, &icmp_echo(0, 0x4242, 2, &data)),
        ),
        60,
        0,
    ));
    t.icmp_replies += 1;
    // U11: ARP request for the VTEP address without Ethernet padding (42 bytes, as a Linux
    // veth delivers it): the reply is still padded to the 60-byte minimum.
    let req = arp(1, STRANGER_MAC, STRANGER_IP, [0; 6], VTEP_IP);
    t.underlay_in
        .push(eth([0xff; 6], STRANGER_MAC, 0x0806, &req));
    let rep = arp(2, VTEP_MAC, VTEP_IP, STRANGER_MAC, STRANGER_IP);
    t.reply_out
        .push(pad_to(eth(STRANGER_MAC, VTEP_MAC, 0x0806, &rep), 60, 0));
    t.arp_replies += 1;
    // U12: VXLAN without the I flag.
    let mut f = vxlan_frame(
        VTEP_MAC, R2_MAC, R2, VTEP_IP, 14, 40007, VXLAN_PORT, VNI_TAGGED, &inner,
    );
    f[42] = 0;
    t.underlay_in.push(f);
    drop(&mut t, DropReason::BadVxlanFlags);
    // U13: an outer fragment (MF set, DF cleared).
    let mut f = vxlan_frame(
        VTEP_MAC, R2_MAC, R2, VTEP_IP, 15, 40008, VXLAN_PORT, VNI_TAGGED, &inner,
    );
    f[20..22].copy_from_slice(&be16(0x2000));
    refresh_ip_checksum(&mut f);
    t.underlay_in.push(f);
    drop(&mut t, DropReason::Ipv4Fragment);
    // U14: to our MAC but another IP.
    t.underlay_in.push(vxlan_frame(
        VTEP_MAC,
        R2_MAC,
        R2,
        Ipv4Addr::new(192, 0, 2, 99),
        16,
        40009,
        VXLAN_PORT,
        VNI_TAGGED,
        &inner,
    ));
    drop(&mut t, DropReason::NotOurIp);
    // U15: an ARP reply to us (the gateway answering): consumed, nothing sent, not a drop.
    let rep = arp(2, PEER_MAC, PEER_IP, VTEP_MAC, VTEP_IP);
    t.underlay_in
        .push(pad_to(eth(VTEP_MAC, PEER_MAC, 0x0806, &rep), 60, 0));
    t
}

// ---------------------------------------------------------------------------------------------
// Harness: temp dir, configuration, running the binary.

/// Writes the input pcaps and the configuration into `dir`; returns the config path.
fn write_config(dir: &TempDir, t: &Traffic, metrics_port: u16) -> PathBuf {
    let in_a = dir.path("in-access.pcap");
    let in_u = dir.path("in-underlay.pcap");
    vxgate::pcap::write_frames(&in_a, &t.access_in).unwrap();
    vxgate::pcap::write_frames(&in_u, &t.underlay_in).unwrap();

    let mut eal = eal_base(dir);
    eal.push(format!(
        "--vdev=net_pcap0,rx_pcap={},tx_pcap={}",
        in_a.display(),
        dir.path("out-access.pcap").display()
    ));
    eal.push(format!(
        "--vdev=net_pcap1,rx_pcap={},tx_pcap={}",
        in_u.display(),
        dir.path("out-underlay.pcap").display()
    ));
    let core = if vxgate::config::available_cores().contains(&1) {
        1
    } else {
        0
    };

    let mut c = String::new();
    let eal_list: Vec<String> = eal.iter().map(|a| toml_str(a)).collect();
    writeln!(c, "[dpdk]\neal_args = [{}]", eal_list.join(", ")).unwrap();
    writeln!(c, "mempool_size = 4095\nmempool_cache = 128\n").unwrap();
    writeln!(
        c,
        "[vtep]\nip = \"{VTEP_IP}\"\nmac = \"02:00:00:00:00:01\"\n\
         src_port_range = [{SRC_PORT}, {SRC_PORT}]\nunderlay_mtu = {UNDERLAY_MTU}\n\
         gateway = \"{PEER_IP}\"\n"
    )
    .unwrap();
    writeln!(
        c,
        "[ports]\naccess = \"net_pcap0\"\nunderlay = \"net_pcap1\"\nqueues = 1\n"
    )
    .unwrap();
    writeln!(c, "[workers]\ncores = [{core}]\n").unwrap();
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
// Checks shared by the tests.

/// Checks the summary `vxgate run` prints: drop reasons, encap/decap/flood totals, no leak.
fn check_summary(stdout: &str, t: &Traffic) {
    let want: BTreeMap<String, u64> = t.drops.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    assert_eq!(summary_drops(stdout), want, "drops in summary:\n{stdout}");
    let totals = format!(
        "encap {}  decap {}  flood replicas {}",
        t.encap, t.decap, t.flood
    );
    assert!(stdout.contains(&totals), "want `{totals}` in:\n{stdout}");
    assert_no_leak(stdout);
}

/// The tshark sub-check: every encapsulated frame is VXLAN over UDP 4789 with a good outer
/// IPv4 header checksum, and carries the expected VNI.
fn check_with_tshark(out_u: &Path, vnis: &[u32]) {
    let run = vxgate_tshark(out_u);
    let Some(out) = run else {
        eprintln!("NOTICE: tshark not installed; skipping the dissection check");
        return;
    };
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<Vec<&str>> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split('\t').collect())
        .collect();
    assert_eq!(rows.len(), vnis.len(), "tshark saw:\n{text}");
    for (row, vni) in rows.iter().zip(vnis) {
        // ip.checksum.status: 0 bad, 1 good, 2 unverified.
        assert_eq!(
            row.as_slice(),
            [vni.to_string().as_str(), "1", "4789"],
            "tshark row; all:\n{text}"
        );
    }
}

fn vxgate_tshark(pcap: &Path) -> Option<Output> {
    Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .args([
            "-n",
            "-o",
            "ip.check_checksum:TRUE",
            "-Y",
            "vxlan",
            "-T",
            "fields",
            // The outer headers are the first occurrence (the inner frames carry IPv4/UDP too).
            "-E",
            "occurrence=f",
            "-e",
            "vxlan.vni",
            "-e",
            "ip.checksum.status",
            "-e",
            "udp.dstport",
        ])
        .output()
        .ok()
}

// ---------------------------------------------------------------------------------------------
// 1. Both directions, exact bytes.

#[test]
fn both_directions_exact_bytes() {
    let dir = TempDir::new("e2e", "bytes");
    let t = traffic();
    let config = write_config(&dir, &t, free_port());
    let gw = Gateway::spawn(&dir, &config, 3);
    let (status, stdout, stderr) = gw.wait(Duration::from_secs(30));
    assert!(
        status.success(),
        "vxgate run failed: {status}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
    );

    let out_a = vxgate::pcap::read_frames(&dir.path("out-access.pcap")).unwrap();
    let out_u = vxgate::pcap::read_frames(&dir.path("out-underlay.pcap")).unwrap();

    // Access output comes only from underlay input: its order is the input order.
    assert_frames("access tx (decapsulated)", &out_a, &t.decap_out);
    // Underlay output mixes encapsulated frames (from access input) and replies (from underlay
    // input); each keeps the order of its own source.
    let (encap, replies): (Vec<Vec<u8>>, Vec<Vec<u8>>) =
        out_u.iter().cloned().partition(|f| is_vxlan(f));
    assert_frames("underlay tx (encapsulated)", &encap, &t.encap_out);
    assert_frames("underlay tx (replies)", &replies, &t.reply_out);

    check_summary(&stdout, &t);
    check_with_tshark(&dir.path("out-underlay.pcap"), &t.encap_vnis);
}

// ---------------------------------------------------------------------------------------------
// 3. Metrics and the CLI on a live gateway.

/// The sum of `name` over every series whose labels include `want`.
fn sum(samples: &[Sample], name: &str, want: &[(&str, &str)]) -> u64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            want.iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value as u64)
        .sum()
}

fn promtool_check(text: &str) {
    let Ok(mut child) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        eprintln!("NOTICE: promtool not installed; skipping `promtool check metrics`");
        return;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn live_metrics_and_cli() {
    let dir = TempDir::new("e2e", "live");
    let t = traffic();
    let port = free_port();
    let config = write_config(&dir, &t, port);
    let socket = dir.path("control.sock");
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    // A long cap; the test ends the run with SIGTERM once its checks are done.
    let mut gw = Gateway::spawn(&dir, &config, 30);

    // Scrape until the finite input is fully processed and the latency histogram has had its
    // hand-off (or give up after a generous bound; the asserts below then say what is missing).
    let n_access = t.access_in.len() as u64;
    let n_underlay = t.underlay_in.len() as u64;
    let deadline = Instant::now() + Duration::from_secs(20);
    let (text, m) = loop {
        assert!(gw.is_running(), "vxgate exited early");
        if let Ok((200, text)) = http::get(addr, "/metrics") {
            let m = parse_metrics(&text);
            let done = sum(&m, "vxgate_rx_packets_total", &[("port", "net_pcap0")]) == n_access
                && sum(&m, "vxgate_rx_packets_total", &[("port", "net_pcap1")]) == n_underlay
                && sum(&m, "vxgate_processing_latency_seconds_count", &[]) > 0;
            if done || Instant::now() > deadline {
                break (text, m);
            }
        } else {
            assert!(Instant::now() < deadline, "no /metrics on {addr}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };

    let ctx = || format!("--- scrape ---\n{text}");
    let rx = |p| sum(&m, "vxgate_rx_packets_total", &[("port", p)]);
    let tx = |p| sum(&m, "vxgate_tx_packets_total", &[("port", p)]);
    assert_eq!(rx("net_pcap0"), n_access, "{}", ctx());
    assert_eq!(rx("net_pcap1"), n_underlay, "{}", ctx());
    assert_eq!(tx("net_pcap0"), t.decap_out.len() as u64, "{}", ctx());
    assert_eq!(
        tx("net_pcap1"),
        (t.encap_out.len() + t.reply_out.len()) as u64,
        "{}",
        ctx()
    );
    let rx_bytes: u64 = t.access_in.iter().map(|f| f.len() as u64).sum();
    assert_eq!(
        sum(&m, "vxgate_rx_bytes_total", &[("port", "net_pcap0")]),
        rx_bytes,
        "{}",
        ctx()
    );
    for (name, want) in [
        ("vxgate_encap_packets_total", t.encap),
        ("vxgate_flood_packets_total", t.flood),
        ("vxgate_decap_packets_total", t.decap),
        ("vxgate_arp_replies_total", t.arp_replies),
        ("vxgate_icmp_replies_total", t.icmp_replies),
    ] {
        assert_eq!(sum(&m, name, &[]), want, "{name}\n{}", ctx());
    }
    // net_pcap reports its link up once started.
    for port in ["net_pcap0", "net_pcap1"] {
        assert_eq!(
            sum(&m, "vxgate_port_up", &[("port", port)]),
            1,
            "{port}\n{}",
            ctx()
        );
    }
    for r in DropReason::ALL {
        let present = m.iter().any(|s| {
            s.name == "vxgate_drop_packets_total"
                && s.labels.get("reason").map(String::as_str) == Some(r.as_str())
        });
        assert!(present, "no drop series for {}\n{}", r.as_str(), ctx());
        let want = t.drops.get(r.as_str()).copied().unwrap_or(0);
        assert_eq!(
            sum(&m, "vxgate_drop_packets_total", &[("reason", r.as_str())]),
            want,
            "drops for {}\n{}",
            r.as_str(),
            ctx()
        );
    }
    assert!(
        sum(&m, "vxgate_processing_latency_seconds_count", &[]) > 0,
        "no latency samples\n{}",
        ctx()
    );
    promtool_check(&text);

    // ---- the CLI against the live gateway ----
    let list = cli_ok(&socket, &["fdb", "list"]);
    let rows = fdb_rows(&list);
    for r in [
        row(VNI_TAGGED, H1, R2, "static"),
        row(VNI_TAGGED, H3, R3, "static"),
        row(VNI_UNTAGGED, H5, R2, "static"),
    ] {
        assert!(rows.contains(&r), "{r:?} missing from:\n{list}");
    }
    // Decapsulated frames taught the FDB their inner source MAC (learning is on by default);
    // learning is asynchronous (worker → control thread), so wait for it, bounded.
    let learned = [
        row(VNI_TAGGED, LEARN_1, R2, "learned"),
        row(VNI_UNTAGGED, LEARN_2, R3, "learned"),
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
    assert!(
        list.contains(&format!("{} entries", rows.len())),
        "entry count line in:\n{list}"
    );
    let only_5001 = cli_ok(&socket, &["fdb", "list", "--vni", "5001"]);
    assert!(
        fdb_rows(&only_5001).iter().all(|r| r.0 == "5001"),
        "{only_5001}"
    );

    // Add, see, delete, gone.
    let new_mac: Mac = [0x02, 0, 0, 0, 0x30, 0x01];
    cli_ok(
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
    let list = cli_ok(&socket, &["fdb", "list"]);
    assert!(
        fdb_rows(&list).contains(&row(VNI_TAGGED, new_mac, R4, "static")),
        "added entry missing:\n{list}"
    );
    cli_ok(
        &socket,
        &["fdb", "del", "--vni", "5000", "--mac", &mac_str(new_mac)],
    );
    let list = cli_ok(&socket, &["fdb", "list"]);
    assert!(
        !fdb_rows(&list).iter().any(|r| r.1 == mac_str(new_mac)),
        "deleted entry still listed:\n{list}"
    );
    // Mistakes are refused with a non-zero exit and a message naming the problem.
    let (ok, out, err) = cli(
        &socket,
        &[
            "fdb",
            "add",
            "--vni",
            "5000",
            "--mac",
            "02:00:zz",
            "--remote",
            "192.0.2.4",
        ],
    );
    assert!(!ok, "bad MAC accepted: {out}");
    assert!(err.contains("vxgate:"), "{err}");
    let (ok, out, _) = cli(
        &socket,
        &[
            "fdb",
            "add",
            "--vni",
            "4242",
            "--mac",
            "02:00:00:00:30:02",
            "--remote",
            "192.0.2.4",
        ],
    );
    assert!(!ok, "unknown VNI accepted: {out}");

    // Neighbours: the three static ones and the gateway, whose ARP request taught us its MAC;
    // an unsolicited ARP from any other host is answered but never enters the table.
    let neigh = cli_ok(&socket, &["neighbor", "list"]);
    for (ip, mac) in [(R2, R2_MAC), (R3, R3_MAC), (R4, R4_MAC)] {
        assert!(
            neigh.lines().any(|l| {
                let c: Vec<&str> = l.split_whitespace().collect();
                c == [ip.to_string().as_str(), mac_str(mac).as_str(), "static"]
            }),
            "{ip} missing:\n{neigh}"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let neigh = loop {
        let n = cli_ok(&socket, &["neighbor", "list"]);
        if n.contains(&PEER_IP.to_string()) || Instant::now() > deadline {
            break n;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        neigh
            .lines()
            .any(|l| l.contains(&PEER_IP.to_string()) && l.contains(&mac_str(PEER_MAC))),
        "the ARP peer was not learned:\n{neigh}"
    );
    assert!(
        !neigh.contains(&STRANGER_IP.to_string()),
        "an unsolicited ARP entered the neighbour table:\n{neigh}"
    );

    let stats = cli_ok(&socket, &["stats"]);
    assert!(stats.starts_with("vxgate "), "{stats}");
    assert!(stats.contains("workers 1"), "{stats}");

    // SIGTERM ends the run like --duration: summary, no leak, exit 0.
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
}
