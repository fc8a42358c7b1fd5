//! The fleet over TLS, against an etcd that requires it: client certificates
//! (`--client-cert-auth`), authentication on, and a user whose role reaches only the fleet's
//! prefix. Certificates are made here with openssl.
//!
//! - A gateway with the right CA, certificate, key and password joins, registers and
//!   publishes the MACs behind it.
//! - One with a wrong CA, without a client certificate, or with a bad password stays out,
//!   says why in `cluster status` (and its log), and keeps forwarding on what it has.
//! - A key file that is missing, or a certificate without a key, is refused with the key's
//!   name before the gateway starts.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;
mod etcd_server;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::inner_frame;
use etcd_server::{EtcdServer, ServerTls};
use vxgate::config::Config;
use vxgate::control::client;
use vxgate::control::protocol::{ClusterStatus, Request, Response};
use vxgate::io::mem::{Mem, MemPool, MemRing, MemRx, MemTx};
use vxgate::io::WorkerIo;
use vxgate::runtime::{self, Gateway, StartOptions};
use vxgate::MacAddr;

const PREFIX: &str = "/vx-tls";
const USER: &str = "vxgate";
const PASSWORD: &str = "s3cret-fleet";
/// A host behind the remote VTEP 192.0.2.2, in the static FDB of every gateway here.
const STATIC_HOST: MacAddr = MacAddr([0x02, 0, 0, 0, 0x20, 0x01]);

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl ({e}): scripts/setup.sh installs it"));
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (`NAME-ca.pem`, `NAME-ca.key`).
fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name} test CA"),
            "-keyout",
            &format!("{name}-ca.key"),
            "-out",
            &format!("{name}-ca.pem"),
        ],
    );
}

/// A certificate for `cn` signed by `ca` (`NAME.pem`, `NAME.key`).
fn make_cert(dir: &Path, ca: &str, name: &str, cn: &str, usage: &str) {
    let ext = format!("{name}.ext");
    std::fs::write(
        dir.join(&ext),
        format!(
            "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n\
             extendedKeyUsage={usage}\n"
        ),
    )
    .unwrap();
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            &format!("/CN={cn}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}-ca.pem"),
            "-CAkey",
            &format!("{ca}-ca.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &ext,
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

fn etcdctl_ok(etcd: &EtcdServer, args: &[&str]) -> String {
    let out = etcd.etcdctl().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "etcdctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Member {
    gw: Option<Gateway>,
    rings: Vec<MemRing>,
    socket: PathBuf,
}

impl Member {
    fn status(&self) -> ClusterStatus {
        match client::request(&self.socket, &Request::ClusterStatus).unwrap() {
            Response::Cluster(c) => *c,
            r => panic!("{r:?}"),
        }
    }

    /// A frame to the static host leaves on the underlay, encapsulated.
    fn forwards_static(&self) -> bool {
        self.rings[3].drain();
        self.rings[0].inject(&inner_frame(
            STATIC_HOST,
            MacAddr::from_u64(0x0200_0000_1001),
            64,
        ));
        wait(10, "a frame to the static host encapsulated", || {
            !self.rings[3].is_empty()
        });
        let out = self.rings[3].drain();
        // Outer Ethernet + IPv4 + UDP + VXLAN, then the inner frame to the static host.
        out.iter()
            .any(|f| f.get(50..56) == Some(&STATIC_HOST.octets()[..]))
    }

    fn stop(&mut self) {
        if let Some(gw) = self.gw.take() {
            gw.shutdown();
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A gateway on the software port whose `[cluster]` section ends with `tls_and_auth`.
fn config_text(dir: &Path, name: &str, last: u8, etcd: &str, tls_and_auth: &str) -> String {
    format!(
        r#"
[vtep]
ip = "192.0.2.{last}"
mac = "02:00:00:00:00:{last:02x}"
[ports]
access = "mem0"
underlay = "mem1"
[workers]
cores = [0]
[[vni]]
id = 5000
[[fdb]]
vni = 5000
mac = "{STATIC_HOST}"
remote = "192.0.2.2"
[[neighbor]]
ip = "192.0.2.2"
mac = "02:00:00:00:01:01"
[metrics]
enabled = false
[control]
socket = "{}"
[cluster]
etcd = ["{etcd}"]
prefix = "{PREFIX}"
lease_secs = 5
name = "{name}"
{tls_and_auth}
"#,
        dir.join(format!("{name}.sock")).display()
    )
}

fn start(dir: &Path, name: &str, last: u8, etcd: &str, tls_and_auth: &str) -> Member {
    let cfg = Config::from_toml_str(&config_text(dir, name, last, etcd, tls_and_auth)).unwrap();
    cfg.validate(&[0]).unwrap();
    let rings: Vec<MemRing> = (0..4).map(|_| MemRing::new(1024)).collect();
    let io = WorkerIo::<Mem> {
        access_rx: MemRx(rings[0].clone()),
        access_tx: MemTx(rings[1].clone()),
        underlay_rx: MemRx(rings[2].clone()),
        underlay_tx: MemTx(rings[3].clone()),
        pool: MemPool::new(1024),
    };
    let opts = StartOptions {
        pin_workers: false,
        serve_metrics: false,
        ..StartOptions::default()
    };
    let gw = runtime::start::<Mem>(&cfg, cfg.vtep.mac.unwrap(), vec![io], opts).unwrap();
    Member {
        gw: Some(gw),
        rings,
        socket: dir.join(format!("{name}.sock")),
    }
}

fn wait(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(
            t0.elapsed() < Duration::from_secs(secs),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn tls_section(dir: &Path, ca: &str, identity: Option<&str>, password: &str) -> String {
    let mut s = format!("user = \"{USER}\"\npassword = \"{password}\"\n[cluster.tls]\n");
    s.push_str(&format!(
        "ca = \"{}\"\n",
        dir.join(format!("{ca}-ca.pem")).display()
    ));
    if let Some(id) = identity {
        s.push_str(&format!(
            "cert = \"{}\"\nkey = \"{}\"\n",
            dir.join(format!("{id}.pem")).display(),
            dir.join(format!("{id}.key")).display()
        ));
    }
    s
}

#[test]
fn tls_client_certificates_and_passwords_admit_the_right_gateway_only() {
    let dir = std::env::temp_dir().join(format!("vxgate-fleet-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    make_ca(&dir, "fleet");
    make_ca(&dir, "other");
    make_cert(&dir, "fleet", "server", "etcd", "serverAuth");
    // etcdctl's identity: with client-certificate authentication its CN is its user.
    make_cert(&dir, "fleet", "admin", "root", "clientAuth");
    make_cert(&dir, "fleet", "gateway", "vxgate-gateway", "clientAuth");
    let etcd = EtcdServer::start_tls(
        "tls",
        ServerTls {
            ca: dir.join("fleet-ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
            client_cert: dir.join("admin.pem"),
            client_key: dir.join("admin.key"),
        },
    );
    // Authentication on: root, and a user whose role reaches only the fleet's prefix.
    etcdctl_ok(
        &etcd,
        &["user", "add", "root", "--new-user-password=root-pw"],
    );
    etcdctl_ok(
        &etcd,
        &[
            "user",
            "add",
            USER,
            &format!("--new-user-password={PASSWORD}"),
        ],
    );
    etcdctl_ok(&etcd, &["role", "add", "fleet"]);
    etcdctl_ok(
        &etcd,
        &[
            "role",
            "grant-permission",
            "fleet",
            "--prefix=true",
            "readwrite",
            &format!("{PREFIX}/"),
        ],
    );
    etcdctl_ok(&etcd, &["user", "grant-role", USER, "fleet"]);
    etcdctl_ok(&etcd, &["auth", "enable"]);

    // The right files and password: joins, registers, publishes what it learns.
    let good = start(
        &dir,
        "good",
        1,
        &etcd.url(),
        &tls_section(&dir, "fleet", Some("gateway"), PASSWORD),
    );
    wait(20, "the good gateway connects", || good.status().connected);
    let local = MacAddr::from_u64(0x0200_0000_1001);
    good.rings[0].inject(&inner_frame(MacAddr::BROADCAST, local, 64));
    let keys = || {
        etcdctl_ok(
            &etcd,
            &["get", "--prefix", "--keys-only", &format!("{PREFIX}/")],
        )
    };
    wait(20, "the good gateway's MAC in etcd", || {
        keys().contains(&local.to_string())
    });
    assert!(
        keys().contains("good"),
        "no registration of `good` in:\n{}",
        keys()
    );

    // Each wrong setting: refused, said in the status, and the data path still forwards.
    for (name, last, section, why) in [
        (
            "wrong-ca",
            3,
            tls_section(&dir, "other", Some("gateway"), PASSWORD),
            &["UnknownIssuer", "cluster.tls.ca"][..],
        ),
        (
            "no-cert",
            4,
            tls_section(&dir, "fleet", None, PASSWORD),
            &["client certificate", "cluster.tls.cert"][..],
        ),
        (
            "bad-password",
            5,
            tls_section(&dir, "fleet", Some("gateway"), "not-the-password"),
            &["invalid user ID or password", "cluster.password"][..],
        ),
    ] {
        let m = start(&dir, name, last, &etcd.url(), &section);
        wait(20, &format!("{name}: an error reported"), || {
            m.status().errors > 0
        });
        let st = m.status();
        eprintln!("{name}: {}", st.detail);
        assert!(!st.connected, "{name}: connected");
        for w in why {
            assert!(
                st.detail.contains(w),
                "{name}: `{w}` not in the status detail: {}",
                st.detail
            );
        }
        assert!(
            m.forwards_static(),
            "{name}: the static entry stopped forwarding"
        );
        assert!(
            !keys().contains(name),
            "{name} registered in etcd:\n{}",
            keys()
        );
    }

    // Files that are not there: refused before start, naming the key.
    let missing_key = config_text(
        &dir,
        "missing-key",
        6,
        &etcd.url(),
        &tls_section(&dir, "fleet", Some("gateway"), PASSWORD).replace("gateway.key", "absent.key"),
    );
    let e = Config::from_toml_str(&missing_key)
        .unwrap()
        .validate(&[0])
        .unwrap_err();
    assert!(e.to_string().starts_with("cluster.tls.key: "), "{e}");
    let no_key = config_text(
        &dir,
        "no-key",
        7,
        &etcd.url(),
        &tls_section(&dir, "fleet", Some("gateway"), PASSWORD),
    )
    .lines()
    .filter(|l| !l.starts_with("key ="))
    .collect::<Vec<_>>()
    .join("\n");
    let e = Config::from_toml_str(&no_key)
        .unwrap()
        .validate(&[0])
        .unwrap_err();
    assert!(e.to_string().starts_with("cluster.tls.key: "), "{e}");

    drop(good);
    drop(etcd);
    let _ = std::fs::remove_dir_all(&dir);
}
