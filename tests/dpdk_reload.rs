//! Reloads of a DPDK gateway whose worker is pinned, as the packaged service runs it (worker
//! cores apart from the EAL's main lcore): `vxgate reload` and SIGHUP both apply a changed static
//! FDB entry, and the worker then sends that host's frames to the new remote VTEP.
//!
//! The EAL pins the process's main thread to its main lcore when it starts; a reload must still
//! validate the file against every core the process was given, not only that one.
#![cfg(feature = "dpdk")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod dpdk_common;
use dpdk_common::*;

/// The remote host whose static entry the reloads move: R2, then R3, then R4.
const H1: Mac = [0x02, 0, 0, 0, 0x10, 0x01];

fn write_config(dir: &TempDir, input: &Path, core: usize, remote: Ipv4Addr) -> PathBuf {
    let mut eal = eal_base(dir);
    eal.push(format!(
        "--vdev=net_pcap0,rx_pcap={},infinite_rx=1",
        input.display()
    ));
    eal.push("--vdev=net_null0,no-rx=1".into());
    let eal: Vec<String> = eal.iter().map(|a| toml_str(a)).collect();
    let mut c = String::new();
    writeln!(c, "[dpdk]\neal_args = [{}]", eal.join(", ")).unwrap();
    writeln!(c, "mempool_size = 4095\nmempool_cache = 128\n").unwrap();
    writeln!(
        c,
        "[vtep]\nip = \"{VTEP_IP}\"\nmac = \"{}\"\n",
        mac_str(VTEP_MAC)
    )
    .unwrap();
    writeln!(
        c,
        "[ports]\naccess = \"net_pcap0\"\nunderlay = \"net_null0\"\nqueues = 1\n"
    )
    .unwrap();
    writeln!(c, "[workers]\ncores = [{core}]\n").unwrap();
    writeln!(c, "[[vni]]\nid = {VNI_UNTAGGED}\n").unwrap();
    writeln!(
        c,
        "[[fdb]]\nvni = {VNI_UNTAGGED}\nmac = \"{}\"\nremote = \"{remote}\"\n",
        mac_str(H1)
    )
    .unwrap();
    for (ip, mac) in [(R2, R2_MAC), (R3, R3_MAC), (R4, R4_MAC)] {
        writeln!(
            c,
            "[[neighbor]]\nip = \"{ip}\"\nmac = \"{}\"\n",
            mac_str(mac)
        )
        .unwrap();
    }
    writeln!(c, "[metrics]\nenabled = false\n").unwrap();
    c.push_str(&control_section(dir));
    let path = dir.path("vxgate.toml");
    std::fs::write(&path, c).unwrap();
    path
}

/// Frames the worker has sent through the tunnel to `remote`, from `vxgate tunnel list`
/// (ID REMOTE NEXT-HOP FDB FLOOD TX-PKTS ...); 0 while the tunnel does not exist.
fn tunnel_tx(socket: &Path, remote: Ipv4Addr) -> u64 {
    let table = cli_ok(socket, &["tunnel", "list"]);
    table
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|c| c.len() == 9 && c[1] == remote.to_string())
        .map_or(0, |c| c[5].parse().unwrap())
}

/// Waits (bounded) until the worker's frames to H1 reach `remote`.
fn wait_traffic_to(gw: &mut Gateway, socket: &Path, remote: Ipv4Addr) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let start = tunnel_tx(socket, remote);
    loop {
        assert!(gw.is_running(), "vxgate exited:\n{}", gw.stderr());
        if tunnel_tx(socket, remote) > start {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no frame to {remote} within 20 s:\n{}",
            cli_ok(socket, &["tunnel", "list"])
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn h1_remote(socket: &Path) -> String {
    let rows = fdb_rows(&cli_ok(socket, &["fdb", "list"]));
    let h1 = mac_str(H1);
    let row = rows.iter().find(|r| r.1 == h1);
    row.map_or_else(|| format!("no entry in {rows:?}"), |r| r.2.clone())
}

#[test]
fn pinned_worker_applies_vxgate_reload_and_sighup() {
    // The worker on a core other than the EAL's main lcore (the first core, as the EAL picks
    // without -l): the case the packaged service (cores 1 and 2) is in.
    let cores = vxgate::config::available_cores();
    let Some(&core) = cores.iter().find(|&&c| c != cores[0]) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs two cores for a pinned worker apart from the main lcore (have {cores:?})"
        );
        eprintln!("skipped: one core only ({cores:?})");
        return;
    };
    let dir = TempDir::new("reload", "pinned");
    let input = dir.path("access.pcap");
    let frame = eth(H1, LOCAL_A, 0x0800, &[0x45; 86]);
    vxgate::pcap::write_frames(&input, &[frame]).unwrap();
    let config = write_config(&dir, &input, core, R2);
    let socket = dir.path("control.sock");
    let mut gw = Gateway::spawn_pinned(&dir, &config, 60);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !socket.exists() {
        assert!(gw.is_running(), "vxgate exited:\n{}", gw.stderr());
        assert!(
            Instant::now() < deadline,
            "no control socket:\n{}",
            gw.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    wait_traffic_to(&mut gw, &socket, R2);

    // `vxgate reload`: the file now says R3.
    write_config(&dir, &input, core, R3);
    let (ok, out, err) = cli(&socket, &["reload"]);
    assert!(ok, "vxgate reload refused:\n{out}{err}");
    assert!(out.starts_with("reloaded:"), "{out}");
    assert_eq!(h1_remote(&socket), R3.to_string());
    wait_traffic_to(&mut gw, &socket, R3);

    // SIGHUP: the file now says R4.
    write_config(&dir, &input, core, R4);
    let hup = Command::new("kill")
        .args(["-HUP", &gw.pid().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while h1_remote(&socket) != R4.to_string() {
        assert!(
            Instant::now() < deadline,
            "SIGHUP not applied within 20 s: H1 -> {}\n{}",
            h1_remote(&socket),
            gw.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    wait_traffic_to(&mut gw, &socket, R4);

    let term = Command::new("kill")
        .args(["-TERM", &gw.pid().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let (status, stdout, stderr) = gw.wait(Duration::from_secs(10));
    assert!(status.success(), "{stderr}");
    assert_no_leak(&stdout);
}
