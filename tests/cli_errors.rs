//! What an operator reads when a command fails: each error names its cause once (no message
//! repeated by a wrapper that also prints its source), a control socket in a directory any user
//! could write to is refused before any port starts and reported by `vxgate check`, and values
//! the CLI can check (MAC, VNI, address) are refused as such, before it connects.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn vxgate(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_vxgate"))
        .args(args)
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `text` holds each of `causes` exactly once.
fn names_once(what: &str, text: &str, causes: &[&str]) {
    for cause in causes {
        assert_eq!(
            text.matches(cause).count(),
            1,
            "{what}: expected `{cause}` exactly once in:\n{text}"
        );
    }
}

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let d =
            std::env::temp_dir().join(format!("vxgate-cli-errors-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The demo configuration on core 0 (every machine has it), its socket at `socket`.
fn demo_config(dir: &Scratch, socket: &Path) -> PathBuf {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo.toml"))
            .unwrap()
            .replace("cores = [1]", "cores = [0]")
            .replace(
                "socket = \"/tmp/vxgate-demo/control.sock\"",
                &format!("socket = \"{}\"", socket.display()),
            )
            .replace("listen = \"127.0.0.1:9417\"", "listen = \"127.0.0.1:0\"");
    assert!(
        text.contains(&socket.display().to_string()),
        "demo.toml changed its socket line"
    );
    let path = dir.path("gateway.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_missing_file_is_named_once() {
    let r = vxgate(&["check", "--config", "/nonexistent/vxgate.toml"]);
    assert!(!r.ok);
    names_once(
        "check",
        &r.stderr,
        &["/nonexistent/vxgate.toml", "No such file or directory"],
    );
}

#[test]
fn an_invalid_key_is_named_once_with_its_file() {
    let dir = Scratch::new("key");
    let cfg = demo_config(&dir, &dir.path("run/control.sock"));
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replacen("id = 5001", "id = 0", 1);
    std::fs::write(&cfg, text).unwrap();
    let r = vxgate(&["check", "--config", cfg.to_str().unwrap()]);
    assert!(!r.ok);
    names_once(
        "check",
        &r.stderr,
        &[cfg.to_str().unwrap(), "vni[1].id", "outside 1..=16777215"],
    );
}

#[test]
fn no_gateway_on_the_socket_is_said_once() {
    let dir = Scratch::new("connect");
    let socket = dir.path("none.sock");
    let r = vxgate(&["stats", "--socket", socket.to_str().unwrap()]);
    assert!(!r.ok);
    names_once(
        "stats",
        &r.stderr,
        &[
            socket.to_str().unwrap(),
            "No such file or directory",
            "is vxgate running?",
        ],
    );
}

#[test]
fn malformed_arguments_are_refused_before_connecting() {
    let dir = Scratch::new("args");
    let socket = dir.path("none.sock");
    let s = socket.to_str().unwrap();
    for (args, cause) in [
        (
            vec![
                "fdb",
                "add",
                "--vni",
                "5000",
                "--mac",
                "zz",
                "--remote",
                "192.0.2.2",
            ],
            "'zz' is not a MAC address",
        ),
        (
            vec![
                "fdb",
                "add",
                "--vni",
                "0",
                "--mac",
                "02:00:00:00:10:01",
                "--remote",
                "192.0.2.2",
            ],
            "VNI 0 is outside",
        ),
        (
            vec![
                "fdb",
                "add",
                "--vni",
                "5000",
                "--mac",
                "02:00:00:00:10:01",
                "--remote",
                "192.0.2",
            ],
            "'192.0.2' is not an IPv4 or IPv6 address",
        ),
        (
            vec!["fdb", "del", "--vni", "5000", "--mac", "01:00:5e:00:00:01"],
            "not a unicast MAC",
        ),
        (
            vec![
                "neighbor",
                "add",
                "--ip",
                "0.0.0.0",
                "--mac",
                "02:00:00:00:00:02",
            ],
            "not a unicast address",
        ),
        (
            vec!["neighbor", "del", "--ip", "gateway"],
            "is not an IPv4 or IPv6 address",
        ),
    ] {
        let mut a = args.clone();
        a.extend(["--socket", s]);
        let r = vxgate(&a);
        assert!(!r.ok, "{args:?} succeeded");
        names_once(&format!("{args:?}"), &r.stderr, &[cause]);
        assert!(
            !r.stderr.contains("connect"),
            "{args:?} tried the socket:\n{}",
            r.stderr
        );
        // As JSON too: one error object on stdout, the same cause.
        a.push("--json");
        let r = vxgate(&a);
        assert!(!r.ok);
        assert!(
            r.stdout.starts_with("{\"status\":\"error\""),
            "{}",
            r.stdout
        );
        names_once(&format!("{args:?} --json"), &r.stdout, &[cause]);
    }
    // A batch file: the bad line is named, nothing is sent.
    let batch = dir.path("batch.txt");
    std::fs::write(
        &batch,
        "add 5000 02:00:00:00:10:01 192.0.2.2\nadd 5000 zz 192.0.2.2\n",
    )
    .unwrap();
    let r = vxgate(&[
        "fdb",
        "batch",
        "--file",
        batch.to_str().unwrap(),
        "--socket",
        s,
    ]);
    assert!(!r.ok);
    names_once("batch", &r.stderr, &["line 2", "'zz' is not a MAC address"]);
    assert!(!r.stderr.contains("connect"), "{}", r.stderr);
}

/// A socket directory every user can write to: `check` refuses it (and `check --offline`
/// warns), and `run` refuses it before DPDK starts a port.
#[test]
fn a_world_writable_socket_directory_is_refused_before_any_port() {
    let dir = Scratch::new("socketdir");
    let open = dir.path("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let cfg = demo_config(&dir, &open.join("control.sock"));
    let cfg = cfg.to_str().unwrap();
    let cause = "is writable by every user";

    let r = vxgate(&["check", "--config", cfg]);
    assert!(!r.ok, "check accepted it:\n{}", r.stdout);
    names_once("check", &r.stderr, &[cause, cfg]);

    let r = vxgate(&["check", "--offline", "--config", cfg]);
    assert!(r.ok, "{}", r.stderr);
    names_once("check --offline", &r.stderr, &[cause]);
    assert!(r.stderr.contains("warning"), "{}", r.stderr);

    if cfg!(feature = "dpdk") {
        let r = vxgate(&["run", "--no-pin", "--duration", "1", "--config", cfg]);
        assert!(!r.ok, "run accepted it:\n{}{}", r.stdout, r.stderr);
        names_once("run", &r.stderr, &[cause, cfg]);
        for started in ["EAL", "ports started", "net_pcap0"] {
            assert!(
                !r.stderr.contains(started),
                "a port started first:\n{}",
                r.stderr
            );
        }
    }

    // The same file with the socket in a directory of its own is accepted.
    let private = demo_config(&dir, &dir.path("run/control.sock"));
    let r = vxgate(&["check", "--config", private.to_str().unwrap()]);
    assert!(r.ok, "{}", r.stderr);
}
