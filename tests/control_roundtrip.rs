//! End to end over the real control socket: a ControlPlane with two fake workers (threads that
//! apply their replicas until stopped), the control thread, the socket server and the metrics
//! server; every CLI request round-trips through `control::client`, and the scrape passes
//! `promtool check metrics` when promtool is installed.

// Test helpers outside #[test] functions: a failed setup should abort the test loudly.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeMap;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use vxgate::cli::{self, ControlCommand, FdbCommand, NeighborCommand, SocketArg};
use vxgate::control::protocol::{FdbEntry, Request, Response};
use vxgate::control::{client, request_channel, server, thread};
use vxgate::dataplane::DropReason;
use vxgate::fdb::control::{ControlPlane, FdbSettings, VniPolicy};
use vxgate::fdb::{replica, Replica};
use vxgate::metrics::{
    http, latency_pair, LatencyCollector, LatencyRecorder, PortNames, Telemetry, WorkerCounters,
    WorkerCountersInner,
};
use vxgate::{MacAddr, Vni};

const MAC: &str = "02:00:00:00:00:01";

fn settings() -> FdbSettings {
    let mut vni_policy = BTreeMap::new();
    vni_policy.insert(
        Vni::new(100).unwrap(),
        VniPolicy {
            learning: true,
            max_learned: 100,
        },
    );
    FdbSettings {
        aging: Duration::from_secs(300),
        max_learned_total: 1000,
        vni_policy,
        vtep_ip: Ipv4Addr::new(192, 0, 2, 1),
        prefix_len: 24,
        gateway: None,
        arp_retry: Duration::from_secs(1),
        arp_max_retries: 3,
        ..Default::default()
    }
}

/// A stand-in worker: applies its replica, mirrors the applied generation into its counters
/// and records a little latency, until stopped.
fn fake_worker(
    replica: Arc<Mutex<Replica>>,
    counters: Arc<WorkerCounters>,
    mut latency: LatencyRecorder,
    stop: Arc<AtomicBool>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut fake_ns = 0u64;
        while !stop.load(Ordering::Relaxed) {
            {
                let mut r = replica.lock().unwrap();
                r.apply_pending(usize::MAX);
                counters.applied_generation.set(r.generation());
            }
            counters.access_rx.add(32, 32 * 64);
            counters.underlay_tx.add(32, 32 * 114);
            latency.record(2_000);
            fake_ns += 10_000_000;
            latency.maybe_handoff(fake_ns);
            std::thread::sleep(Duration::from_millis(1));
        }
    })
}

struct Gateway {
    socket: PathBuf,
    replicas: Vec<Arc<Mutex<Replica>>>,
    telemetry: Arc<Telemetry>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    control: Option<JoinHandle<ControlPlane>>,
}

impl Gateway {
    fn start(name: &str) -> Gateway {
        let dir =
            std::env::temp_dir().join(format!("vxgate-roundtrip-{}-{name}", std::process::id()));
        let socket = dir.join("run/control.sock");
        let stop = Arc::new(AtomicBool::new(false));
        let mut links = Vec::new();
        let mut replicas = Vec::new();
        let mut counters = Vec::new();
        let mut recorders = Vec::new();
        let mut handles = Vec::new();
        for _ in 0..2 {
            let (link, rep) = replica::channel(1024, 1024);
            links.push(link);
            replicas.push(Arc::new(Mutex::new(rep)));
            counters.push(Arc::new(WorkerCounters::default()));
            let (rec, h) = latency_pair().unwrap();
            recorders.push(rec);
            handles.push(h);
        }
        let telemetry = Arc::new(Telemetry::new(
            counters.clone(),
            PortNames::default(),
            LatencyCollector::new(handles).unwrap(),
        ));
        let mut threads = Vec::new();
        for ((r, c), rec) in replicas.iter().zip(&counters).zip(recorders) {
            threads.push(fake_worker(r.clone(), c.clone(), rec, stop.clone()));
        }
        let cp = ControlPlane::new(settings(), links);
        let (tx, rx) = request_channel();
        let control = thread::spawn(cp, None, None, telemetry.clone(), rx, stop.clone()).unwrap();
        threads.push(server::serve(&socket, tx, stop.clone()).unwrap());
        Gateway {
            socket,
            replicas,
            telemetry,
            stop,
            threads,
            control: Some(control),
        }
    }

    fn ask(&self, req: Request) -> Response {
        client::request(&self.socket, &req).unwrap()
    }

    fn fdb(&self) -> Vec<FdbEntry> {
        match self.ask(Request::FdbList { vni: None }) {
            Response::Fdb(rows) => rows,
            r => panic!("{r:?}"),
        }
    }

    fn cli(&self, cmd: ControlCommand) -> Result<String, vxgate::control::ControlError> {
        let mut out = Vec::new();
        cli::run_to(&cmd, &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    fn sock(&self) -> SocketArg {
        SocketArg {
            socket: self.socket.clone(),
            json: false,
        }
    }

    fn sock_json(&self) -> SocketArg {
        SocketArg {
            json: true,
            ..self.sock()
        }
    }

    fn in_every_replica(&self, vni: u32, mac: &str) -> Vec<Option<std::net::IpAddr>> {
        let mac: MacAddr = mac.parse().unwrap();
        self.replicas
            .iter()
            .map(|r| r.lock().unwrap().lookup_remote(Vni::new(vni).unwrap(), mac))
            .collect()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        if let Some(c) = self.control.take() {
            let _ = c.join();
        }
        if let Some(dir) = self.socket.parent().and_then(|p| p.parent()) {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn expect_applied(r: Response) -> (u64, u64) {
    match r {
        Response::Ok {
            generation: Some(g),
            applied_generation: Some(a),
        } => {
            assert!(a >= g, "applied {a} < generation {g}");
            (g, a)
        }
        r => panic!("expected a confirmed change, got {r:?}"),
    }
}

#[test]
fn every_request_round_trips() {
    let gw = Gateway::start("rt");
    let remote = std::net::IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));

    assert_eq!(gw.ask(Request::Ping), Response::ok());

    // fdb add: confirmed only once both replicas have it.
    let (g, _) = expect_applied(gw.ask(Request::FdbAdd {
        vni: 100,
        mac: MAC.into(),
        remote: remote.to_string(),
    }));
    assert!(g > 0);
    assert_eq!(gw.in_every_replica(100, MAC), vec![Some(remote); 2]);
    let rows = gw.fdb();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            rows[0].vni,
            rows[0].mac.as_str(),
            rows[0].remote,
            rows[0].kind.as_str()
        ),
        (100, MAC, remote, "static")
    );
    let table = gw
        .cli(ControlCommand::Fdb {
            cmd: FdbCommand::List { vni: Some(100) },
            socket: gw.sock(),
        })
        .unwrap();
    assert!(table.starts_with("VNI"), "{table}");
    assert!(table.contains(MAC) && table.contains("192.0.2.2") && table.contains("static"));

    // The entry's VTEP is a row of the tunnel table; an IPv6 VTEP needs vtep.ip6 (not set here),
    // so it is refused and changes nothing.
    let Response::Tunnels(tunnels) = gw.ask(Request::TunnelList) else {
        panic!("tunnel_list answered with something else");
    };
    assert_eq!(tunnels.len(), 1);
    assert_eq!((tunnels[0].remote, tunnels[0].fdb_entries), (remote, 1));
    let listed = gw
        .cli(ControlCommand::Tunnel {
            cmd: vxgate::cli::TunnelCommand::List,
            socket: gw.sock(),
        })
        .unwrap();
    assert!(
        listed.starts_with("ID") && listed.contains("192.0.2.2"),
        "{listed}"
    );
    assert!(listed.contains("1 tunnels"), "{listed}");
    let v6 = gw.ask(Request::FdbAdd {
        vni: 100,
        mac: "02:00:00:00:00:66".into(),
        remote: "fd00::2".into(),
    });
    assert!(
        matches!(&v6, Response::Error { message } if message.contains("vtep.ip6")),
        "{v6:?}"
    );

    // Bad input: an error, and nothing changed.
    for bad in [
        Request::FdbAdd {
            vni: 100,
            mac: "02:00:00:00:01".into(),
            remote: "192.0.2.3".into(),
        },
        Request::FdbAdd {
            vni: 0,
            mac: "02:00:00:00:00:09".into(),
            remote: "192.0.2.3".into(),
        },
        Request::FdbAdd {
            vni: 100,
            mac: "02:00:00:00:00:09".into(),
            remote: "192.0.2.300".into(),
        },
        Request::FdbAdd {
            vni: 4242,
            mac: "02:00:00:00:00:09".into(),
            remote: "192.0.2.3".into(),
        },
    ] {
        assert!(
            matches!(gw.ask(bad.clone()), Response::Error { .. }),
            "{bad:?}"
        );
    }
    assert_eq!(gw.fdb(), rows);
    let err = gw
        .cli(ControlCommand::Fdb {
            cmd: FdbCommand::Add {
                vni: 100,
                mac: "not-a-mac".into(),
                remote: "192.0.2.3".into(),
            },
            socket: gw.sock(),
        })
        .unwrap_err();
    assert!(err.to_string().contains("not-a-mac"), "{err}");
    assert_eq!(gw.fdb(), rows);

    // Raw garbage on the socket is answered with an error too.
    {
        use std::io::{BufRead, BufReader};
        let mut s = std::os::unix::net::UnixStream::connect(&gw.socket).unwrap();
        s.write_all(b"{\"op\":\"format_disk\"}\n").unwrap();
        let mut line = String::new();
        BufReader::new(&s).read_line(&mut line).unwrap();
        assert!(line.contains("\"error\""), "{line}");
    }

    // fdb del.
    expect_applied(gw.ask(Request::FdbDel {
        vni: 100,
        mac: MAC.into(),
    }));
    assert_eq!(gw.in_every_replica(100, MAC), vec![None; 2]);
    assert!(gw.fdb().is_empty());
    assert!(matches!(
        gw.ask(Request::FdbDel {
            vni: 100,
            mac: MAC.into()
        }),
        Response::Error { .. }
    ));

    // fdb flush (learned entries only; static ones stay).
    expect_applied(gw.ask(Request::FdbAdd {
        vni: 100,
        mac: MAC.into(),
        remote: remote.to_string(),
    }));
    let out = gw
        .cli(ControlCommand::Fdb {
            cmd: FdbCommand::Flush { vni: None },
            socket: gw.sock(),
        })
        .unwrap();
    assert!(out.starts_with("ok"), "{out}");
    assert_eq!(gw.fdb().len(), 1);

    // neighbours.
    let nip = "192.0.2.9";
    expect_applied(gw.ask(Request::NeighborAdd {
        ip: nip.into(),
        mac: "02:00:00:00:00:fe".into(),
    }));
    match gw.ask(Request::NeighborList) {
        Response::Neighbors(rows) => {
            assert!(rows.iter().any(|n| n.ip.to_string() == nip
                && n.mac.as_deref() == Some("02:00:00:00:00:fe")
                && n.state == "static"));
        }
        r => panic!("{r:?}"),
    }
    let table = gw
        .cli(ControlCommand::Neighbor {
            cmd: NeighborCommand::List,
            socket: gw.sock(),
        })
        .unwrap();
    assert!(table.contains(nip) && table.contains("static"), "{table}");
    let out = gw
        .cli(ControlCommand::Neighbor {
            cmd: NeighborCommand::Del { ip: nip.into() },
            socket: gw.sock(),
        })
        .unwrap();
    assert!(out.starts_with("ok"), "{out}");
    match gw.ask(Request::NeighborList) {
        Response::Neighbors(rows) => assert!(rows.iter().all(|n| n.ip.to_string() != nip)),
        r => panic!("{r:?}"),
    }

    // stats.
    WorkerCountersInner::drop(&gw.telemetry.workers[1], DropReason::UnknownVni);
    match gw.ask(Request::Stats) {
        Response::Stats(s) => {
            assert_eq!(s.workers.len(), 2);
            assert_eq!(s.fdb.static_entries, 1);
            assert_eq!(s.min_applied_generation, s.fdb.published_generation);
            assert!(s
                .drops_by_reason
                .iter()
                .any(|(r, n)| r == "unknown_vni" && *n == 1));
        }
        r => panic!("{r:?}"),
    }
    let table = gw.cli(ControlCommand::Stats { socket: gw.sock() }).unwrap();
    assert!(
        table.contains("unknown_vni") && table.contains("WORKER"),
        "{table}"
    );

    // --json: the protocol's own object, for scripts; an error is JSON too, and fails.
    let text = gw
        .cli(ControlCommand::Stats {
            socket: gw.sock_json(),
        })
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["status"], "stats");
    assert_eq!(v["body"]["fdb"]["static_entries"], 1);
    let mut out = Vec::new();
    let cmd = ControlCommand::Fdb {
        cmd: cli::FdbCommand::Del {
            vni: 100,
            mac: "02:00:00:00:99:99".into(),
        },
        socket: gw.sock_json(),
    };
    assert!(cli::run_to(&cmd, &mut out).is_err());
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["status"], "error");
    assert!(v["body"]["message"]
        .as_str()
        .unwrap()
        .contains("02:00:00:00:99:99"));
}

#[test]
fn metrics_scrape_passes_promtool() {
    let gw = Gateway::start("metrics");
    expect_applied(gw.ask(Request::FdbAdd {
        vni: 100,
        mac: MAC.into(),
        remote: "192.0.2.2".into(),
    }));
    let (addr, server) = http::serve(
        "127.0.0.1:0".parse().unwrap(),
        false,
        gw.telemetry.clone(),
        gw.stop.clone(),
    )
    .unwrap();
    let (code, text) = http::get(addr, "/metrics").unwrap();
    assert_eq!(code, 200);
    for r in DropReason::ALL {
        assert!(
            text.contains(&format!(
                "vxgate_drop_packets_total{{reason=\"{}\"}}",
                r.as_str()
            )),
            "missing {r:?}"
        );
    }
    assert!(
        text.contains("vxgate_fdb_entries{type=\"static\"} 1\n"),
        "{text}"
    );
    assert!(text.contains("vxgate_processing_latency_seconds_bucket{worker=\"1\",le=\"+Inf\"}"));
    assert_eq!(http::get(addr, "/healthz").unwrap(), (200, "ok\n".into()));
    assert_eq!(http::get(addr, "/admin").unwrap().0, 404);

    if let Ok(mut child) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool check metrics failed:\n{}{}\n---\n{text}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        eprintln!("promtool not found; skipping the promtool check");
    }
    drop(gw);
    server.join().unwrap();
}
