//! Fleet members on the software port with a real etcd on loopback: 10 000 MACs learned behind
//! one gateway appear on another, forwarding survives an etcd restart, and on-demand mode
//! installs a missed MAC after flooding the first packet (with negative caching).

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;
mod etcd_server;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::inner_frame;
use etcd_server::EtcdServer;
use vxgate::config::Config;
use vxgate::control::client;
use vxgate::control::protocol::{ClusterStatus, FdbEntry, Request, Response};
use vxgate::io::mem::{Mem, MemPool, MemRing, MemRx, MemTx};
use vxgate::io::WorkerIo;
use vxgate::runtime::{self, Gateway, StartOptions};
use vxgate::MacAddr;

struct Member {
    gw: Option<Gateway>,
    rings: Vec<MemRing>,
    socket: PathBuf,
}

#[allow(clippy::too_many_arguments)]
fn start(
    dir: &Path,
    name: &str,
    ip: &str,
    peer: &str,
    etcd: &str,
    prefix: &str,
    mode: &str,
) -> Member {
    let socket = dir.join(format!("{name}.sock"));
    let text = format!(
        r#"
[vtep]
ip = "{ip}"
mac = "02:00:00:00:00:{last:02x}"
[ports]
access = "mem0"
underlay = "mem1"
[workers]
cores = [0]
[[vni]]
id = 5000
learning = false
arp_suppress = true
[[neighbor]]
ip = "{peer}"
mac = "02:00:00:00:01:01"
[cluster]
etcd = ["{etcd}"]
prefix = "{prefix}"
lease_secs = 5
mode = "{mode}"
name = "{name}"
[metrics]
enabled = false
[control]
socket = "{}"
"#,
        socket.display(),
        last = ip.rsplit('.').next().unwrap().parse::<u8>().unwrap(),
    );
    let cfg = Config::from_toml_str(&text).unwrap();
    cfg.validate(&[0]).unwrap();
    let rings: Vec<MemRing> = (0..4).map(|_| MemRing::new(32 * 1024)).collect();
    let io = WorkerIo::<Mem> {
        access_rx: MemRx(rings[0].clone()),
        access_tx: MemTx(rings[1].clone()),
        underlay_rx: MemRx(rings[2].clone()),
        underlay_tx: MemTx(rings[3].clone()),
        pool: MemPool::new(32 * 1024),
    };
    let opts = StartOptions {
        pin_workers: false,
        serve_metrics: false,
        ..StartOptions::default()
    };
    let vtep_mac = cfg.vtep.mac.unwrap();
    let gw = runtime::start::<Mem>(&cfg, vtep_mac, vec![io], opts).unwrap();
    Member {
        gw: Some(gw),
        rings,
        socket,
    }
}

impl Member {
    fn fdb(&self) -> Vec<FdbEntry> {
        match client::request(&self.socket, &Request::FdbList { vni: None }).unwrap() {
            Response::Fdb(rows) => rows,
            r => panic!("{r:?}"),
        }
    }
    /// Remote entries, from `cluster status` (cheap to poll, unlike a 10 000-row `fdb list`).
    fn remote_count(&self) -> usize {
        self.status().remote_entries as usize
    }
    fn status(&self) -> ClusterStatus {
        match client::request(&self.socket, &Request::ClusterStatus).unwrap() {
            Response::Cluster(c) => *c,
            r => panic!("{r:?}"),
        }
    }
    fn flood_packets(&self) -> u64 {
        let t = &self.gw.as_ref().unwrap().telemetry;
        t.workers.iter().map(|w| w.flood_packets.get()).sum()
    }
    fn encap_packets(&self) -> u64 {
        let t = &self.gw.as_ref().unwrap().telemetry;
        t.workers.iter().map(|w| w.encap_packets.get()).sum()
    }
    fn stop(&mut self) {
        if let Some(gw) = self.gw.take() {
            gw.shutdown();
        }
    }
}

/// Polls `f` every 5 ms until it holds or `secs` pass; returns the time it took.
fn wait(secs: u64, what: &str, mut f: impl FnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    while !f() {
        assert!(
            t0.elapsed() < Duration::from_secs(secs),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    t0.elapsed()
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vxgate-fleet-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn host(i: u64) -> MacAddr {
    MacAddr::from_u64(0x0200_0100_0000 | i)
}

#[test]
fn ten_thousand_macs_reach_the_other_gateway_and_survive_an_etcd_restart() {
    let dir = scratch("scale");
    let mut etcd = EtcdServer::start("scale");
    let mut a = start(
        &dir,
        "gw-a",
        "192.0.2.1",
        "192.0.2.2",
        &etcd.url(),
        "/t-scale",
        "replicate",
    );
    let mut b = start(
        &dir,
        "gw-b",
        "192.0.2.2",
        "192.0.2.1",
        &etcd.url(),
        "/t-scale",
        "replicate",
    );
    wait(10, "members see each other", || {
        a.status().members.len() == 1 && b.status().members.len() == 1
    });

    const N: u64 = 10_000;
    let t0 = Instant::now();
    for chunk in (0..N).collect::<Vec<_>>().chunks(2000) {
        for &i in chunk {
            a.rings[0].inject(&inner_frame(MacAddr::BROADCAST, host(i), 64));
        }
        wait(10, "chunk received", || a.rings[0].is_empty());
        a.rings[3].drain();
    }
    wait(60, "10 000 MACs on gw-b", || {
        if std::env::var("FLEET_TRACE").is_ok() {
            let (sa, sb) = (a.status(), b.status());
            eprintln!(
                "{:?} a: local {} puts {} | b: remote {} watch {}",
                t0.elapsed(),
                sa.local_entries,
                sa.puts,
                sb.remote_entries,
                sb.watch_events
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        b.remote_count() == N as usize
    });
    let took = t0.elapsed();
    eprintln!("fleet: {N} MACs learned behind gw-a were remote on gw-b after {took:?}");
    let rows = b.fdb();
    assert!(rows
        .iter()
        .all(|e| e.remote.to_string() == "192.0.2.1" && e.origin.as_deref() == Some("gw-a")));
    assert_eq!(a.status().local_entries, N);

    // etcd goes away: forwarding state stays, the status says so; it comes back: resync.
    let resyncs = b.status().resyncs;
    etcd.stop();
    wait(10, "gw-b notices", || !b.status().connected);
    assert_eq!(
        b.remote_count(),
        N as usize,
        "last known state kept while etcd is down"
    );
    etcd.restart();
    wait(20, "gw-b reconnects", || {
        b.status().connected && b.status().resyncs > resyncs
    });
    wait(20, "gw-a reconnects", || a.status().connected);
    assert_eq!(b.remote_count(), N as usize);
    a.stop();
    // A clean stop revokes gw-a's lease: its MACs leave gw-b at once, not after the TTL.
    let gone = wait(4, "gw-a's MACs withdrawn", || b.remote_count() == 0);
    eprintln!("fleet: clean stop of gw-a withdrew its {N} MACs from gw-b in {gone:?}");
    assert!(b.status().members.is_empty());
    b.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn on_demand_floods_the_first_packet_then_installs_the_entry_and_caches_misses() {
    let dir = scratch("ondemand");
    let etcd = EtcdServer::start("ondemand");
    let mut a = start(
        &dir,
        "gw-a",
        "192.0.2.1",
        "192.0.2.2",
        &etcd.url(),
        "/t-od",
        "replicate",
    );
    let mut b = start(
        &dir,
        "gw-b",
        "192.0.2.2",
        "192.0.2.1",
        &etcd.url(),
        "/t-od",
        "on-demand",
    );
    wait(10, "members see each other", || {
        a.status().members.len() == 1 && b.status().members.len() == 1
    });
    // A host behind gw-a speaks once: gw-a publishes it. gw-b (on demand) does not hold it.
    let h = host(1);
    a.rings[0].inject(&inner_frame(MacAddr::BROADCAST, h, 64));
    wait(10, "published", || a.status().puts >= 2);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        b.remote_count(),
        0,
        "on-demand holds nothing it did not ask for"
    );

    // A frame for it on gw-b: flooded to gw-a meanwhile, looked up, installed.
    let to_h = inner_frame(h, host(2), 64);
    let t0 = Instant::now();
    b.rings[0].inject(&to_h);
    let installed = wait(10, "installed on gw-b", || b.remote_count() == 1);
    assert_eq!(b.flood_packets(), 1, "the first packet floods");
    let st = b.status();
    eprintln!(
        "fleet: on-demand miss -> installed {installed:?} from injection; control side measured {} µs",
        st.miss_latency_last_us
    );
    assert!(
        st.miss_latency_last_us > 0
            && Duration::from_micros(st.miss_latency_last_us) <= t0.elapsed()
    );
    b.rings[0].inject(&to_h);
    wait(10, "unicast", || b.encap_packets() == 1);
    assert_eq!(b.flood_packets(), 1, "later packets are unicast");

    // A MAC nobody has: looked up once, then cached as absent (the frames still flood).
    let nobody = inner_frame(host(99), host(2), 64);
    b.rings[0].inject(&nobody);
    wait(10, "first lookup", || b.status().lookups == 2);
    std::thread::sleep(Duration::from_millis(1100)); // past the workers' 1 s report filter
    b.rings[0].inject(&nobody);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(b.status().lookups, 2, "negative answer cached");
    assert_eq!(b.flood_packets(), 3);
    a.stop();
    b.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
