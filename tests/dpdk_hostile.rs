//! Hostile input through the real DPDK path (net_pcap virtual devices, `vxgate run`): frames
//! truncated at every offset of every header, wrong IHL and total lengths, IPv4 options and
//! fragments, wrong UDP port, VXLAN without the I flag or with reserved bits set, unknown VNIs,
//! runts and oversized frames, two VLAN tags, frames from the gateway's own addresses,
//! multicast and broadcast outer sources, ARP with bad lengths — mixed with valid traffic.
//!
//! The oracle is the software pipeline (`vxgate::fuzzing::PipelineHarness`) fed the same frames
//! in the same order under the same configuration: the DPDK run must forward the same frames
//! byte for byte (outer IPv4 identification aside, which counts packets in send order) and count
//! every dropped frame under the same reason. A second run replays both files forever at full
//! rate, 9 KB frames included: no crash, exit 0, every mbuf back in the pool.

#![cfg(feature = "dpdk")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use vxgate::config::Config;
use vxgate::dataplane::DropReason;
use vxgate::fuzzing::PipelineHarness;
use vxgate::trafficgen::{self, hostile, TrafficSpec};

mod dpdk_common;
use dpdk_common::*;

/// The gateway under test (ports and cores filled in per run).
const GATEWAY: &str = r#"
[vtep]
ip = "192.0.2.1"
mac = "02:00:00:00:00:01"
underlay_mtu = 1500

[ports]
access = "@ACCESS@"
underlay = "@UNDERLAY@"

[workers]
cores = [@CORE@]

[[vni]]
id = 5000
vlan = 100
flood = ["192.0.2.2", "192.0.2.3"]

[[vni]]
id = 5001
flood = ["192.0.2.2"]

[[fdb]]
vni = 5000
mac = "02:00:00:00:20:02"
remote = "192.0.2.2"

[[neighbor]]
ip = "192.0.2.2"
mac = "02:00:00:00:00:02"

[[neighbor]]
ip = "192.0.2.3"
mac = "02:00:00:00:00:03"
"#;

const VTEP: [u8; 4] = [192, 0, 2, 1];
const GATEWAY_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];

fn gateway_text(access: &str, underlay: &str, core: usize) -> String {
    GATEWAY
        .replace("@ACCESS@", access)
        .replace("@UNDERLAY@", underlay)
        .replace("@CORE@", &core.to_string())
}

/// What pcap-gen makes for this gateway: (access frames, underlay frames).
fn valid_traffic() -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let cfg = Config::from_toml_str(&gateway_text("mem0", "mem1", 0)).unwrap();
    let spec = TrafficSpec {
        hosts_per_vni: 4,
        frame_sizes: vec![64, 300, 1400],
        broadcast_every: 7,
        frames: 48,
    };
    (
        trafficgen::access_frames(&cfg, &spec),
        trafficgen::underlay_frames(&cfg, &spec),
    )
}

/// The outer IPv4 identification and header checksum of a VXLAN frame zeroed: they count
/// packets in the order they were sent, which batching may change.
fn normalise(frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = frames
        .iter()
        .map(|f| {
            let mut f = f.clone();
            if is_vxlan(&f) {
                f[18..20].copy_from_slice(&[0, 0]);
                f[24..26].copy_from_slice(&[0, 0]);
            }
            f
        })
        .collect();
    v.sort();
    v
}

/// Frames out of each port and drops by reason.
struct Outcome {
    access: Vec<Vec<u8>>,
    underlay: Vec<Vec<u8>>,
    drops: BTreeMap<String, u64>,
}

/// What the software pipeline does with the frames.
fn oracle(access: &[Vec<u8>], underlay: &[Vec<u8>]) -> Outcome {
    oracle_with(access, underlay, "")
}

/// [`oracle`] with `extra` appended to the configuration.
fn oracle_with(access: &[Vec<u8>], underlay: &[Vec<u8>], extra: &str) -> Outcome {
    let mut h = PipelineHarness::with_config(&(gateway_text("mem0", "mem1", 0) + extra));
    let (mut a, mut u) = (Vec::new(), Vec::new());
    for f in access {
        let (x, y) = h.run_access(f);
        a.extend(x);
        u.extend(y);
    }
    for f in underlay {
        let (x, y) = h.run_underlay(f);
        a.extend(x);
        u.extend(y);
    }
    let drops = DropReason::ALL
        .iter()
        .map(|r| (r.as_str().to_string(), h.counters().dropped(*r)))
        .filter(|(_, n)| *n > 0)
        .collect();
    Outcome {
        access: a,
        underlay: u,
        drops,
    }
}

/// Runs vxgate on two net_pcap ports reading `access` and `underlay`; returns stdout and the
/// two captures (empty when replaying forever).
fn run(
    dir: &TempDir,
    access: &[Vec<u8>],
    underlay: &[Vec<u8>],
    infinite: bool,
    secs: u32,
) -> (String, Vec<Vec<u8>>, Vec<Vec<u8>>) {
    run_with(dir, access, underlay, infinite, secs, "")
}

/// Writes the pcaps and the configuration (`extra` appended) of a run; returns the config path.
fn write_config(
    dir: &TempDir,
    access: &[Vec<u8>],
    underlay: &[Vec<u8>],
    infinite: bool,
    extra: &str,
) -> std::path::PathBuf {
    let (in_a, in_u) = (dir.path("in-access.pcap"), dir.path("in-underlay.pcap"));
    vxgate::pcap::write_frames(&in_a, access).unwrap();
    vxgate::pcap::write_frames(&in_u, underlay).unwrap();
    let (out_a, out_u) = (dir.path("out-access.pcap"), dir.path("out-underlay.pcap"));
    let mut eal = eal_base(dir);
    let rx = |p: &std::path::Path| {
        if infinite {
            format!("rx_pcap={},infinite_rx=1", p.display())
        } else {
            format!("rx_pcap={}", p.display())
        }
    };
    let tx = |p: &std::path::Path| {
        if infinite {
            "tx_pcap=/dev/null".to_string()
        } else {
            format!("tx_pcap={}", p.display())
        }
    };
    eal.push(format!("--vdev=net_pcap0,{},{}", rx(&in_a), tx(&out_a)));
    eal.push(format!("--vdev=net_pcap1,{},{}", rx(&in_u), tx(&out_u)));
    let core = if vxgate::config::available_cores().contains(&1) {
        1
    } else {
        0
    };
    let mut c = String::new();
    let list: Vec<String> = eal.iter().map(|a| toml_str(a)).collect();
    writeln!(
        c,
        "[dpdk]\neal_args = [{}]\nmempool_size = 16383\n",
        list.join(", ")
    )
    .unwrap();
    c.push_str(&gateway_text("net_pcap0", "net_pcap1", core));
    c.push_str(extra);
    writeln!(c, "\n[metrics]\nenabled = false\n").unwrap();
    c.push_str(&control_section(dir));
    let config = dir.path("vxgate.toml");
    std::fs::write(&config, c).unwrap();
    config
}

/// [`run`] with `extra` appended to the configuration.
fn run_with(
    dir: &TempDir,
    access: &[Vec<u8>],
    underlay: &[Vec<u8>],
    infinite: bool,
    secs: u32,
    extra: &str,
) -> (String, Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let config = write_config(dir, access, underlay, infinite, extra);
    let gw = Gateway::spawn(dir, &config, secs);
    let (status, stdout, stderr) = gw.wait(Duration::from_secs(u64::from(secs) + 30));
    assert!(
        status.success(),
        "vxgate failed: {status}\n{stdout}\n{stderr}"
    );
    let read = |p: &std::path::Path| {
        if infinite {
            Vec::new()
        } else {
            vxgate::pcap::read_frames(p).unwrap()
        }
    };
    (
        stdout,
        read(&dir.path("out-access.pcap")),
        read(&dir.path("out-underlay.pcap")),
    )
}

fn check_direction(name: &str, access: Vec<Vec<u8>>, underlay: Vec<Vec<u8>>) {
    let dir = TempDir::new("hostile", name);
    let Outcome {
        access: want_a,
        underlay: want_u,
        drops: want_drops,
    } = oracle(&access, &underlay);
    let (stdout, got_a, got_u) = run(&dir, &access, &underlay, false, 2);
    assert_no_leak(&stdout);
    assert_eq!(
        summary_drops(&stdout),
        want_drops,
        "{name}: drops by reason differ from the software pipeline's\n{stdout}"
    );
    assert_frames(
        &format!("{name}: access out"),
        &normalise(&got_a),
        &normalise(&want_a),
    );
    assert_frames(
        &format!("{name}: underlay out"),
        &normalise(&got_u),
        &normalise(&want_u),
    );
    let dropped: u64 = want_drops.values().sum();
    eprintln!(
        "{name}: {} frames in, {} forwarded to the access side, {} to the underlay, {dropped} \
         dropped: {want_drops:?}",
        access.len() + underlay.len(),
        got_a.len(),
        got_u.len()
    );
    assert!(dropped > 0);
}

#[test]
fn hostile_underlay_frames_are_counted_and_valid_ones_forwarded_exactly() {
    let (_, valid_u) = valid_traffic();
    let frames = hostile::interleave(hostile::underlay(&valid_u[0], VTEP, true), &valid_u);
    check_direction("underlay", Vec::new(), frames);
}

#[test]
fn hostile_access_frames_are_counted_and_valid_ones_forwarded_exactly() {
    let (valid_a, _) = valid_traffic();
    let tagged = valid_a
        .iter()
        .find(|f| f.len() > 18 && f[12..14] == [0x81, 0x00])
        .unwrap()
        .clone();
    let frames = hostile::interleave(hostile::access(&tagged, GATEWAY_MAC, true), &valid_a);
    check_direction("access", frames, Vec::new());
}

#[test]
fn hostile_traffic_at_full_rate_leaves_no_mbuf_behind() {
    let (valid_a, valid_u) = valid_traffic();
    // No 9 KB frames here: net_pcap cannot replay multi-segment frames forever.
    let access = hostile::interleave(hostile::access(&valid_a[0], GATEWAY_MAC, false), &valid_a);
    let underlay = hostile::interleave(hostile::underlay(&valid_u[0], VTEP, false), &valid_u);
    let dir = TempDir::new("hostile", "rate");
    let (stdout, _, _) = run(&dir, &access, &underlay, true, 2);
    assert_no_leak(&stdout);
    let drops = summary_drops(&stdout);
    let total: u64 = drops.values().sum();
    eprintln!("full rate, 2 s: {total} dropped: {drops:?}\n{stdout}");
    for reason in [
        "malformed",
        "bad_ipv4_header",
        "unknown_vni",
        "bad_vxlan_flags",
    ] {
        assert!(
            drops.get(reason).is_some_and(|n| *n > 100),
            "{reason}: {drops:?}"
        );
    }
}

/// Random unicast, locally administered MACs (xorshift: the same every run).
fn random_macs(n: usize, mut seed: u64) -> Vec<Mac> {
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let b = seed.to_be_bytes();
            [(b[2] & 0xfe) | 0x02, b[3], b[4], b[5], b[6], b[7]]
        })
        .collect()
}

/// Resident memory of a process in KiB.
fn rss_kib(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// A MAC flood on both sides through the real DPDK path: access frames from random source
/// MACs to a known host, VXLAN frames from a remote VTEP with random inner sources, first once
/// (forwarding compared with the software pipeline, frame by frame) and then replayed forever
/// at full rate for a few seconds while the control socket is asked for the table: learned
/// entries stay within the limits, the excess is refused and counted, memory stays flat, and
/// every frame to the known host still goes to its VTEP.
#[test]
fn a_mac_flood_at_full_rate_stays_within_the_limits_and_known_hosts_keep_forwarding() {
    const KNOWN: Mac = [0x02, 0, 0, 0, 0x20, 0x02];
    const FRAMES: usize = 4096;
    let limits = "\n[learning]\nmax_per_vni = 300\nmax_total = 400\n";
    let access: Vec<Vec<u8>> = random_macs(FRAMES, 0x9e37_79b9_7f4a_7c15)
        .into_iter()
        .map(|src| tag(&eth(KNOWN, src, 0x0800, &[0x45; 46]), VLAN_TAGGED))
        .collect();
    let underlay: Vec<Vec<u8>> = random_macs(FRAMES, 0x2545_f491_4f6c_dd1d)
        .into_iter()
        .map(|src| {
            let inner = eth(LOCAL_A, src, 0x0800, &[0x45; 46]);
            let ip = ipv4_udp(
                R3,
                VTEP_IP,
                &udp(SRC_PORT, VXLAN_PORT, &vxlan(5000, &inner)),
            );
            eth(VTEP_MAC, R3_MAC, 0x0800, &ip)
        })
        .collect();

    // Once, exactly: what the software pipeline forwards under the same configuration.
    let dir = TempDir::new("flood", "once");
    let want = oracle_with(&access, &underlay, limits);
    let (stdout, got_a, got_u) = run_with(&dir, &access, &underlay, false, 2, limits);
    assert_no_leak(&stdout);
    assert_eq!(
        got_u.len(),
        FRAMES,
        "every frame to the known host encapsulated"
    );
    assert!(
        got_u.iter().all(|f| f[0..6] == R2_MAC),
        "a frame to the known host went elsewhere than its VTEP"
    );
    assert_frames(
        "flood: underlay out",
        &normalise(&got_u),
        &normalise(&want.underlay),
    );
    assert_frames(
        "flood: access out",
        &normalise(&got_a),
        &normalise(&want.access),
    );
    drop(dir);

    // Forever, at full rate, the table watched through the control socket.
    let dir = TempDir::new("flood", "rate");
    let config = write_config(&dir, &access, &underlay, true, limits);
    let mut gw = Gateway::spawn(&dir, &config, 5);
    let socket = dir.path("control.sock");
    for _ in 0..200 {
        if socket.exists() || !gw.is_running() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    assert!(socket.exists(), "no control socket: {}", gw.stderr());
    std::thread::sleep(Duration::from_millis(1000));
    let rss_early = rss_kib(gw.pid());
    let stats = |socket: &std::path::Path| -> serde_json::Value {
        let out = cli_ok(socket, &["stats", "--json"]);
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["body"].clone()
    };
    let early = stats(&socket);
    std::thread::sleep(Duration::from_millis(1500));
    let late = stats(&socket);
    let rss_late = rss_kib(gw.pid());
    let (status, stdout, stderr) = gw.wait(Duration::from_secs(30));
    assert!(status.success(), "{status}\n{stdout}\n{stderr}");
    assert_no_leak(&stdout);
    let fdb = |v: &serde_json::Value, k: &str| v["fdb"][k].as_u64().unwrap();
    for s in [&early, &late] {
        assert!(
            fdb(s, "learned_entries") <= 300,
            "per-VNI limit: {}",
            s["fdb"]
        );
        assert_eq!(fdb(s, "static_entries"), 1);
    }
    assert!(
        fdb(&late, "learn_rejected") > 0,
        "excess refused: {}",
        late["fdb"]
    );
    let lost: u64 = late["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["learn_events_dropped"].as_u64().unwrap())
        .sum();
    let received: u64 = late["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            w["access"]["rx_packets"].as_u64().unwrap_or(0)
                + w["underlay"]["rx_packets"].as_u64().unwrap_or(0)
        })
        .sum();
    // Memory stays flat: no per-MAC growth once the limits are reached.
    assert!(
        rss_late <= rss_early + 8 * 1024,
        "RSS grew from {rss_early} KiB to {rss_late} KiB under the flood"
    );
    let drops = summary_drops(&stdout);
    eprintln!(
        "DPDK MAC flood: {FRAMES} + {FRAMES} random sources replayed for 5 s ({received} frames \
         seen by the 2.5 s mark), learned {} (limit 300), {} learn events refused, {lost} learn \
         reports dropped at a full queue, RSS {rss_early} -> {rss_late} KiB, drops {drops:?}",
        fdb(&late, "learned_entries"),
        fdb(&late, "learn_rejected"),
    );
}

/// FDB churn through the control socket while the DPDK path forwards a long pcap at full
/// rate: four clients add and delete their own 1 000 MACs in batches; every frame to the
/// unchanged entry must reach its VTEP (none lost, none elsewhere) and the replicas converge.
#[test]
fn fdb_churn_at_full_rate_loses_no_frame_to_an_unchanged_entry() {
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::net::UnixStream;
    const KNOWN: Mac = [0x02, 0, 0, 0, 0x20, 0x02];
    const FRAMES: usize = 400_000;
    let frame = tag(&eth(KNOWN, LOCAL_A, 0x0800, &[0x45; 46]), VLAN_TAGGED);
    let access = vec![frame; FRAMES];
    let dir = TempDir::new("churn", "rate");
    let config = write_config(&dir, &access, &[], false, "");
    let mut gw = Gateway::spawn(&dir, &config, 6);
    let socket = dir.path("control.sock");
    for _ in 0..400 {
        if socket.exists() || !gw.is_running() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(socket.exists(), "no control socket: {}", gw.stderr());

    let forwarded = |socket: &std::path::Path| -> u64 {
        let out = cli_ok(socket, &["stats", "--json"]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["body"]["workers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["encap_packets"].as_u64().unwrap())
            .sum()
    };
    let before = forwarded(&socket);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let started = std::time::Instant::now();
    let clients: Vec<_> = (0..4u64)
        .map(|c| {
            let (socket, stop) = (socket.clone(), stop.clone());
            std::thread::spawn(move || {
                let s = UnixStream::connect(&socket).unwrap();
                let mut w = s.try_clone().unwrap();
                let mut r = BufReader::new(s);
                let (mut n, mut line) = (0u64, String::new());
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let add = (n / 1000) % 2 == 0;
                    let changes: Vec<String> = (0..1000u64)
                        .map(|i| {
                            let mac = format!("02:0b:00:{c:02x}:{:02x}:{:02x}", i >> 8, i & 0xff);
                            let remote = if i % 2 == 0 { R2 } else { R3 };
                            if add {
                                format!(
                                    r#"{{"op":"add","vni":5000,"mac":"{mac}","remote":"{remote}"}}"#
                                )
                            } else {
                                format!(r#"{{"op":"del","vni":5000,"mac":"{mac}"}}"#)
                            }
                        })
                        .collect();
                    let req = format!(r#"{{"op":"fdb_batch","changes":[{}]}}"#, changes.join(","));
                    w.write_all(req.as_bytes()).unwrap();
                    w.write_all(b"\n").unwrap();
                    line.clear();
                    r.read_line(&mut line).unwrap();
                    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
                    assert_eq!(v["status"], "batch", "{line}");
                    assert_eq!(v["body"]["changed"].as_u64(), Some(1000), "{line}");
                    n += 1000;
                }
                n
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let changes: u64 = clients.into_iter().map(|c| c.join().unwrap()).sum();
    let elapsed = started.elapsed();
    let after = forwarded(&socket);
    let out = cli_ok(&socket, &["stats", "--json"]);
    let st: serde_json::Value = serde_json::from_str(&out).unwrap();
    let (status, stdout, stderr) = gw.wait(Duration::from_secs(30));
    assert!(status.success(), "{status}\n{stdout}\n{stderr}");
    assert_no_leak(&stdout);
    assert_eq!(
        st["body"]["min_applied_generation"], st["body"]["fdb"]["published_generation"],
        "replicas converged"
    );
    let got = vxgate::pcap::read_frames(&dir.path("out-underlay.pcap")).unwrap();
    assert_eq!(
        got.len(),
        FRAMES,
        "frames to the unchanged entry lost\n{stdout}"
    );
    assert!(
        got.iter().all(|f| f[0..6] == R2_MAC),
        "sent to the wrong VTEP"
    );
    eprintln!(
        "DPDK FDB churn: {changes} changes through the socket in {elapsed:?} ({:.0}/s) while \
         {FRAMES} frames to an unchanged entry were replayed ({} of them forwarded during the \
         churn): all {} reached R2; replicas at generation {}",
        changes as f64 / elapsed.as_secs_f64(),
        after - before,
        got.len(),
        st["body"]["min_applied_generation"]
    );
}
