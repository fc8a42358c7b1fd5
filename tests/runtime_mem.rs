//! The whole gateway as `vxgate run` assembles it (pinned-worker threads, control thread,
//! control socket, metrics server), on the software port: traffic in, exact frames out, and a
//! static entry added over the control socket reaching the running worker.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use vxgate::config::Config;
use vxgate::control::client;
use vxgate::control::protocol::{Request, Response};
use vxgate::io::mem::{Mem, MemPool, MemRing, MemRx, MemTx};
use vxgate::io::WorkerIo;
use vxgate::runtime::{self, StartOptions};

fn config(dir: &std::path::Path) -> Config {
    let cfg = Config::from_toml_str(&config_text(dir)).unwrap();
    cfg.validate(&[0]).unwrap();
    cfg
}

fn config_text(dir: &std::path::Path) -> String {
    format!(
        r#"
[vtep]
ip = "192.0.2.1"
mac = "02:00:00:00:00:01"
src_port_range = [50000, 50000]
[ports]
access = "mem0"
underlay = "mem1"
[workers]
cores = [0]
[[vni]]
id = 5000
vlan = 100
flood = ["192.0.2.2", "192.0.2.3", "192.0.2.4"]
[[neighbor]]
ip = "192.0.2.2"
mac = "02:00:00:00:00:02"
[[neighbor]]
ip = "192.0.2.3"
mac = "02:00:00:00:00:03"
[[neighbor]]
ip = "192.0.2.4"
mac = "02:00:00:00:00:04"
[metrics]
listen = "127.0.0.1:0"
[control]
socket = "{}/ctl.sock"
"#,
        dir.display()
    )
}

/// Waits (bounded) until `ring` holds `n` frames; returns them.
fn wait_for(ring: &MemRing, n: usize) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while ring.len() < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    ring.drain()
}

#[test]
fn running_gateway_forwards_and_obeys_the_control_socket() {
    let dir = std::env::temp_dir().join(format!("vxgate-rt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = config(&dir);
    let (gw, rings) = start_mem(&cfg);

    // Unknown unicast floods to the three VTEPs.
    let inner = inner_frame(HOST_B, HOST_A, 100);
    rings[0].inject(&tagged(&inner, 100));
    let out = wait_for(&rings[3], 3);
    assert_eq!(out.len(), 3);
    assert_eq!(
        out[0],
        vxlan_frame(R2_MAC, VTEP_MAC, VTEP_IP, R2, 1, SRC_PORT, 5000, &inner)
    );

    // A static entry through the control socket: answered once the worker applied it.
    let socket = cfg.control.socket.clone();
    let resp = client::request(
        &socket,
        &Request::FdbAdd {
            vni: 5000,
            mac: HOST_B.to_string(),
            remote: R3.to_string(),
        },
    )
    .unwrap();
    let Response::Ok {
        generation: Some(g),
        applied_generation: Some(a),
    } = resp
    else {
        panic!("unexpected response {resp:?}");
    };
    assert!(a >= g);
    rings[0].inject(&tagged(&inner, 100));
    let out = wait_for(&rings[3], 1);
    assert_eq!(
        out,
        vec![vxlan_frame(
            R3_MAC, VTEP_MAC, VTEP_IP, R3, 4, SRC_PORT, 5000, &inner
        )]
    );

    // Decap towards the access side, and learning visible over the socket.
    let from_r4 = inner_frame(HOST_A, MacAddr([2, 0, 0, 0, 0x40, 4]), 90);
    rings[2].inject(&vxlan_frame(
        VTEP_MAC, R4_MAC, R4, VTEP_IP, 9, 60000, 5000, &from_r4,
    ));
    assert_eq!(wait_for(&rings[1], 1), vec![tagged(&from_r4, 100)]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let resp = client::request(&socket, &Request::FdbList { vni: Some(5000) }).unwrap();
        let text = format!("{resp:?}");
        if text.contains("02:00:00:00:40:04") {
            break;
        }
        assert!(Instant::now() < deadline, "not learned: {text}");
        std::thread::sleep(Duration::from_millis(10));
    }

    // /metrics is served while it runs.
    let addr = gw.metrics_addr().unwrap();
    let (status, body) = vxgate::metrics::http::get(addr, "/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("vxgate_encap_packets_total"));

    let (summary, _) = gw.shutdown();
    assert_eq!(summary.access_rx.0, 2);
    assert_eq!(summary.underlay_tx.0, 4);
    assert_eq!(summary.decap, 1);
    assert_eq!(summary.total_drops(), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

use vxgate::MacAddr;

/// One gateway on fresh software rings: (gateway, rings).
fn start_mem(cfg: &Config) -> (runtime::Gateway, Vec<MemRing>) {
    start_mem_from(cfg, None)
}

/// The same, reloadable from `file`.
fn start_mem_from(
    cfg: &Config,
    file: Option<&std::path::Path>,
) -> (runtime::Gateway, Vec<MemRing>) {
    start_mem_with(cfg, file, false, [4096; 4])
}

/// The same with the ring sizes (access rx, access tx, underlay rx, underlay tx).
fn start_mem_with(
    cfg: &Config,
    file: Option<&std::path::Path>,
    pin_workers: bool,
    ring_sizes: [usize; 4],
) -> (runtime::Gateway, Vec<MemRing>) {
    let rings: Vec<MemRing> = ring_sizes.into_iter().map(MemRing::new).collect();
    let io = WorkerIo::<Mem> {
        access_rx: MemRx(rings[0].clone()),
        access_tx: MemTx(rings[1].clone()),
        underlay_rx: MemRx(rings[2].clone()),
        underlay_tx: MemTx(rings[3].clone()),
        pool: MemPool::new(4096),
    };
    let opts = StartOptions {
        pin_workers,
        config_path: file.map(std::path::Path::to_path_buf),
        ..StartOptions::default()
    };
    (
        runtime::start::<Mem>(cfg, VTEP_MAC, vec![io], opts).unwrap(),
        rings,
    )
}

#[test]
fn warm_restart_sends_the_first_frames_to_learned_macs_unicast() {
    let dir = std::env::temp_dir().join(format!("vxgate-warm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cfg = config(&dir);
    assert_eq!(cfg.control.state_path(), None, "off by default");
    cfg.control.warm_restart = true;
    let state = cfg.control.state_path().unwrap();
    assert_eq!(state, dir.join("ctl-state.json"));
    let _ = std::fs::remove_file(&state);

    // First run: HOST_B is learned behind R4 from decapsulated traffic.
    let (gw, rings) = start_mem(&cfg);
    let from_b = inner_frame(HOST_A, HOST_B, 90);
    rings[2].inject(&vxlan_frame(
        VTEP_MAC, R4_MAC, R4, VTEP_IP, 9, 60000, 5000, &from_b,
    ));
    assert_eq!(wait_for(&rings[1], 1).len(), 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !format!(
        "{:?}",
        client::request(&cfg.control.socket, &Request::FdbList { vni: None }).unwrap()
    )
    .contains(&HOST_B.to_string())
    {
        assert!(Instant::now() < deadline, "not learned");
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = gw.shutdown();
    assert!(state.exists(), "a clean stop saves the state");

    // Second run: the first frame to HOST_B goes to R4 alone, not flooded to three VTEPs.
    let (gw, rings) = start_mem(&cfg);
    let to_b = inner_frame(HOST_B, HOST_A, 100);
    rings[0].inject(&tagged(&to_b, 100));
    let out = wait_for(&rings[3], 1);
    assert_eq!(
        out,
        vec![vxlan_frame(
            R4_MAC, VTEP_MAC, VTEP_IP, R4, 1, SRC_PORT, 5000, &to_b
        )]
    );
    std::thread::sleep(Duration::from_millis(50));
    assert!(rings[3].is_empty(), "no flood copies");
    let (summary, _) = gw.shutdown();
    assert_eq!(summary.flood, 0);

    // Without warm restart the same start floods.
    let mut cold = cfg.clone();
    cold.control.warm_restart = false;
    let (gw, rings) = start_mem(&cold);
    rings[0].inject(&tagged(&to_b, 100));
    assert_eq!(wait_for(&rings[3], 3).len(), 3);
    let _ = gw.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A scratch directory and the test configuration with HOST_B static behind R2.
fn with_host_b(name: &str) -> (std::path::PathBuf, Config) {
    let dir = std::env::temp_dir().join(format!("vxgate-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = config_text(&dir)
        + "[[fdb]]\nvni = 5000\nmac = \"02:00:00:00:20:02\"\nremote = \"192.0.2.2\"\n";
    let cfg = Config::from_toml_str(&text).unwrap();
    cfg.validate(&[0]).unwrap();
    (dir, cfg)
}

/// The VNI of a VXLAN-over-IPv4 frame (untagged outer Ethernet).
fn vni_of(frame: &[u8]) -> u32 {
    u32::from_be_bytes([0, frame[46], frame[47], frame[48]])
}

fn reload(socket: &std::path::Path) -> Response {
    client::request(socket, &Request::Reload).unwrap()
}

#[test]
fn reload_adds_and_removes_a_vni_while_the_unchanged_one_loses_no_frame() {
    let dir = std::env::temp_dir().join(format!("vxgate-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("vxgate.toml");
    let base = config_text(&dir)
        + "[[fdb]]\nvni = 5000\nmac = \"02:00:00:00:20:02\"\nremote = \"192.0.2.2\"\n";
    std::fs::write(&file, &base).unwrap();
    let cfg = Config::load(&file).unwrap();
    let (gw, rings) = start_mem_from(&cfg, Some(&file));
    let socket = cfg.control.socket.clone();

    // A steady stream to HOST_B in the unchanged VNI 5000 for the whole test.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sender = {
        let (ring, stop) = (rings[0].clone(), stop.clone());
        std::thread::spawn(move || {
            let frame = tagged(&inner_frame(HOST_B, HOST_A, 100), 100);
            let mut sent = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if ring.inject(&frame) {
                    sent += 1;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            sent
        })
    };
    let mut out: Vec<Vec<u8>> = Vec::new();
    let collect = |out: &mut Vec<Vec<u8>>, ms: u64| {
        std::thread::sleep(Duration::from_millis(ms));
        out.extend(rings[3].drain());
    };
    collect(&mut out, 50);

    // Add VNI 6000 on VLAN 200 with a flood list and a static entry.
    let added = base.clone()
        + "[[vni]]\nid = 6000\nvlan = 200\nflood = [\"192.0.2.3\"]\n\
           [[fdb]]\nvni = 6000\nmac = \"02:00:00:00:60:01\"\nremote = \"192.0.2.4\"\n";
    std::fs::write(&file, &added).unwrap();
    let r = reload(&socket);
    let Response::Reloaded {
        summary,
        generation,
        applied_generation,
        ..
    } = &r
    else {
        panic!("{r:?}");
    };
    assert!(summary.contains("VNIs added: 6000"), "{summary}");
    assert!(applied_generation >= generation);
    collect(&mut out, 20);
    let to_static = inner_frame(MacAddr([2, 0, 0, 0, 0x60, 1]), HOST_A, 80);
    let unknown = inner_frame(MacAddr([2, 0, 0, 0, 0x60, 9]), HOST_A, 80);
    rings[0].inject(&tagged(&to_static, 200));
    rings[0].inject(&tagged(&unknown, 200));
    collect(&mut out, 50);
    let new_vni: Vec<&Vec<u8>> = out.iter().filter(|f| vni_of(f) == 6000).collect();
    assert_eq!(new_vni.len(), 2, "one unicast, one flooded");
    // The IPv4 identification counts every outer packet: expect the one each was sent with.
    let ident = |f: &[u8]| u16::from_be_bytes([f[18], f[19]]);
    assert_eq!(
        *new_vni[0],
        vxlan_frame(
            R4_MAC,
            VTEP_MAC,
            VTEP_IP,
            R4,
            ident(new_vni[0]),
            SRC_PORT,
            6000,
            &to_static
        )
    );
    assert_eq!(
        *new_vni[1],
        vxlan_frame(
            R3_MAC,
            VTEP_MAC,
            VTEP_IP,
            R3,
            ident(new_vni[1]),
            SRC_PORT,
            6000,
            &unknown
        )
    );

    // An invalid file: refused with `vxgate check`'s words, the running configuration stays.
    std::fs::write(&file, added.replace("vlan = 200", "vlan = 5000")).unwrap();
    let r = reload(&socket);
    let Response::Error { message } = &r else {
        panic!("{r:?}")
    };
    assert!(
        message.contains("invalid configuration") && message.contains("vni"),
        "{message}"
    );
    // A key that needs a restart: refused by name.
    std::fs::write(&file, added.replace("mem0", "mem9")).unwrap();
    let Response::Error { message } = reload(&socket) else {
        panic!()
    };
    assert!(message.contains("ports.access"), "{message}");

    // Back to the base file: VNI 6000 goes, its frames are dropped as unmapped.
    std::fs::write(&file, &base).unwrap();
    let r = reload(&socket);
    assert!(
        matches!(&r, Response::Reloaded { summary, .. } if summary.contains("VNIs removed: 6000")),
        "{r:?}"
    );
    let before = out.iter().filter(|f| vni_of(f) == 6000).count();
    rings[0].inject(&tagged(&to_static, 200));
    collect(&mut out, 50);
    assert_eq!(out.iter().filter(|f| vni_of(f) == 6000).count(), before);

    // The metrics count two applied, one refused, one invalid.
    let (_, body) = vxgate::metrics::http::get(gw.metrics_addr().unwrap(), "/metrics").unwrap();
    for line in [
        "vxgate_config_reloads_total{result=\"applied\"} 2",
        "vxgate_config_reloads_total{result=\"refused\"} 1",
        "vxgate_config_reloads_total{result=\"invalid\"} 1",
    ] {
        assert!(body.contains(line), "{line} missing");
    }

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = sender.join().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while (out.iter().filter(|f| vni_of(f) == 5000).count() as u64) < sent
        && Instant::now() < deadline
    {
        collect(&mut out, 10);
    }
    let unchanged = out.iter().filter(|f| vni_of(f) == 5000).count() as u64;
    assert!(sent > 100, "{sent}");
    assert_eq!(
        unchanged, sent,
        "every frame of the unchanged VNI forwarded"
    );
    let (summary, _) = gw.shutdown();
    assert_eq!(summary.total_drops(), 1, "{summary}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn reload_of_a_pinned_gateway_validates_against_the_process_cores() {
    // The control side is pinned off the workers' cores; the file names the workers' core.
    let cores = vxgate::config::available_cores();
    if cores.len() < 2 {
        eprintln!("skipped: needs two usable cores, have {cores:?}");
        return;
    }
    let dir = std::env::temp_dir().join(format!("vxgate-reload-pin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("vxgate.toml");
    let text = config_text(&dir).replace("cores = [0]", &format!("cores = [{}]", cores[0]));
    std::fs::write(&file, &text).unwrap();
    let cfg = Config::load(&file).unwrap();
    let (gw, _rings) = start_mem_with(&cfg, Some(&file), true, [4096; 4]);
    std::fs::write(&file, text + "[[vni]]\nid = 6000\nvlan = 200\n").unwrap();
    let r = reload(&cfg.control.socket);
    assert!(
        matches!(&r, Response::Reloaded { summary, .. } if summary.contains("VNIs added: 6000")),
        "{r:?}"
    );
    let _ = gw.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_mac_flood_on_both_sides_stays_within_the_limits_and_known_hosts_keep_forwarding() {
    let dir = std::env::temp_dir().join(format!("vxgate-flood-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // ARP suppression makes the access side learn too; limits far below the flood.
    let text = config_text(&dir).replace(
        "flood = [\"192.0.2.2\", \"192.0.2.3\", \"192.0.2.4\"]",
        "flood = [\"192.0.2.2\", \"192.0.2.3\", \"192.0.2.4\"]\narp_suppress = true\nmax_learned = 300",
    ) + "[learning]\nmax_per_vni = 300\nmax_total = 400\n\
         [[fdb]]\nvni = 5000\nmac = \"02:00:00:00:20:02\"\nremote = \"192.0.2.2\"\n";
    let cfg = Config::from_toml_str(&text).unwrap();
    cfg.validate(&[0]).unwrap();
    let (gw, rings) = start_mem(&cfg);

    // 20 000 random source MACs each way, with a frame to the known HOST_B after every 10.
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut random_mac = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut m = MacAddr::from_u64(seed & 0xffff_ffff_ffff);
        m.0[0] = (m.0[0] & 0xfe) | 0x02; // unicast, locally administered
        m
    };
    let to_b = tagged(&inner_frame(HOST_B, HOST_A, 100), 100);
    let mut known = 0u64;
    let mut out = Vec::new();
    for i in 0..20_000u32 {
        let flood_src = random_mac();
        let inner = inner_frame(HOST_A, flood_src, 64);
        while !rings[2].inject(&vxlan_frame(
            VTEP_MAC, R4_MAC, R4, VTEP_IP, 1, 60000, 5000, &inner,
        )) {
            std::thread::sleep(Duration::from_micros(50));
        }
        let local = tagged(&inner_frame(HOST_A, random_mac(), 64), 100);
        while !rings[0].inject(&local) {
            std::thread::sleep(Duration::from_micros(50));
        }
        if i % 10 == 0 {
            while !rings[0].inject(&to_b) {
                std::thread::sleep(Duration::from_micros(50));
            }
            known += 1;
        }
        if i % 256 == 0 {
            out.extend(rings[3].drain());
            rings[1].drain();
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let to_r2 = loop {
        out.extend(rings[3].drain());
        rings[1].drain();
        let to_r2 = out
            .iter()
            .filter(|f| f[0..6] == R2_MAC.0 && f.len() == 50 + 100)
            .count() as u64;
        if to_r2 >= known || Instant::now() > deadline {
            break to_r2;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    // Every frame to the known host went to its VTEP, unicast (none flooded to the others).
    assert_eq!(
        to_r2, known,
        "frames to the static entry lost or misdirected"
    );
    let elsewhere = out
        .iter()
        .filter(|f| f[0..6] != R2_MAC.0 && f.len() == 50 + 100)
        .count();
    assert_eq!(elsewhere, 0, "frames to the static entry flooded");

    // The table stayed within its limits; the excess was refused and counted.
    std::thread::sleep(Duration::from_millis(100));
    let fdb = gw.telemetry.fdb_summary();
    assert!(fdb.learned_entries + fdb.local_entries <= 300, "{fdb:?}");
    assert!(fdb.learn_rejected > 0, "{fdb:?}");
    assert_eq!(fdb.static_entries, 1);
    let (summary, cp) = gw.shutdown();
    let cp = cp.unwrap();
    assert!(cp.entries(None).len() <= 301);
    eprintln!(
        "MAC flood: 40 000 random sources, {} learned + {} local kept, {} learn events \
         rejected, {known} frames to the known host all forwarded; {summary}",
        fdb.learned_entries, fdb.local_entries, fdb.learn_rejected
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_stalled_control_thread_and_a_full_tx_queue_never_stop_the_worker() {
    let (dir, cfg) = with_host_b("stall");
    // A small access transmit ring that nobody drains fills up.
    let (gw, rings) = start_mem_with(&cfg, None, false, [4096, 64, 4096, 8192]);
    let ctr = gw.telemetry.workers[0].clone();

    // Stall the control thread: it takes this lock once per tick.
    let stalled = gw.telemetry.fdb.lock().unwrap();
    // Meanwhile: 20 000 decapsulated frames from new MACs (their learn reports overflow the
    // worker's 16 K report ring, towards the stalled thread, and the 64-slot access ring),
    // and 2 000 frames to the known host.
    let to_b = tagged(&inner_frame(HOST_B, HOST_A, 100), 100);
    let mut out = Vec::new();
    for i in 0..20_000u64 {
        let src = MacAddr::from_u64(0x0200_0001_0000 + i);
        let inner = inner_frame(HOST_A, src, 64);
        while !rings[2].inject(&vxlan_frame(
            VTEP_MAC, R4_MAC, R4, VTEP_IP, 1, 60000, 5000, &inner,
        )) {
            std::thread::sleep(Duration::from_micros(20));
        }
        if i % 10 == 0 {
            while !rings[0].inject(&to_b) {
                std::thread::sleep(Duration::from_micros(20));
            }
        }
        if i % 512 == 0 {
            out.extend(rings[3].drain());
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while (out.len() < 2000 || ctr.decap_packets.get() < 20_000) && Instant::now() < deadline {
        out.extend(rings[3].drain());
        std::thread::sleep(Duration::from_millis(2));
    }
    // Every frame was handled while the control thread stood still.
    assert_eq!(
        out.len(),
        2000,
        "frames to the known host while the control thread stalled"
    );
    assert!(out.iter().all(|f| f[0..6] == R2_MAC.0));
    assert_eq!(ctr.decap_packets.get(), 20_000);
    let reports_lost = ctr.events_dropped.get();
    let tx_full = ctr.dropped(vxgate::dataplane::DropReason::TxFull);
    assert!(reports_lost > 0, "the report ring never overflowed");
    assert_eq!(
        tx_full,
        20_000 - 64,
        "a full transmit ring is a counted drop"
    );
    drop(stalled);
    let (summary, _) = gw.shutdown();
    eprintln!(
        "stalled control thread: 22 000 frames handled, {reports_lost} learn reports dropped \
         (counted), {tx_full} frames dropped as tx_full (counted); {summary}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn fdb_churn_through_the_socket_leaves_unchanged_entries_forwarding() {
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::net::UnixStream;
    let (dir, cfg) = with_host_b("churn");
    let (gw, rings) = start_mem(&cfg);
    let socket = cfg.control.socket.clone();

    // Four clients, each adding and then deleting its own 1000 MACs (towards R3 and R4) in
    // batches of 1000 changes, for one second.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..4u64)
        .map(|c| {
            let (socket, stop) = (socket.clone(), stop.clone());
            std::thread::spawn(move || {
                let s = UnixStream::connect(&socket).unwrap();
                let mut w = s.try_clone().unwrap();
                let mut r = BufReader::new(s);
                let (mut n, mut changed, mut line) = (0u64, 0u64, String::new());
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let add = (n / 1000) % 2 == 0;
                    let changes: Vec<String> = (0..1000u64)
                        .map(|i| {
                            let mac = MacAddr::from_u64(0x0200_0a00_0000 | (c << 16) | i);
                            let remote = if i % 2 == 0 { R3 } else { R4 };
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
                    changed += v["body"]["changed"].as_u64().unwrap();
                    n += 1000;
                }
                (n, changed)
            })
        })
        .collect();

    // Traffic to the unchanged entry meanwhile.
    let to_b = tagged(&inner_frame(HOST_B, HOST_A, 100), 100);
    let started = Instant::now();
    let (mut sent, mut out) = (0u64, Vec::new());
    while started.elapsed() < Duration::from_secs(1) {
        if rings[0].inject(&to_b) {
            sent += 1;
        }
        std::thread::sleep(Duration::from_micros(100));
        if sent % 256 == 0 {
            out.extend(rings[3].drain());
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let elapsed = started.elapsed();
    let (mut changes, mut answered) = (0, 0);
    for c in clients {
        let (n, ok) = c.join().unwrap();
        changes += n;
        answered += ok;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while (out.len() as u64) < sent && Instant::now() < deadline {
        out.extend(rings[3].drain());
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(out.len() as u64, sent, "frames to the unchanged entry lost");
    assert!(
        out.iter().all(|f| f[0..6] == R2_MAC.0),
        "sent to the wrong VTEP"
    );
    // Every change made (each add and delete is of a MAC the client itself added or not),
    // and the replicas converged.
    assert_eq!(answered, changes);
    let resp = client::request(&socket, &Request::Stats).unwrap();
    let Response::Stats(st) = resp else { panic!() };
    assert_eq!(st.min_applied_generation, st.fdb.published_generation);
    let rate = changes as f64 / elapsed.as_secs_f64();
    eprintln!(
        "FDB churn: {changes} changes in {elapsed:?} ({rate:.0}/s, {answered} answered ok) \
         while {sent} frames to an unchanged entry all reached R2; replicas at generation {}",
        st.min_applied_generation
    );
    let _ = gw.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}
