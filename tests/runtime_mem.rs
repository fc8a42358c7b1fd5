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
    let text = format!(
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
    );
    let cfg = Config::from_toml_str(&text).unwrap();
    cfg.validate(&[0]).unwrap();
    cfg
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
    let rings: Vec<MemRing> = (0..4).map(|_| MemRing::new(4096)).collect();
    let io = WorkerIo::<Mem> {
        access_rx: MemRx(rings[0].clone()),
        access_tx: MemTx(rings[1].clone()),
        underlay_rx: MemRx(rings[2].clone()),
        underlay_tx: MemTx(rings[3].clone()),
        pool: MemPool::new(4096),
    };
    let opts = StartOptions {
        pin_workers: false,
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
