//! Shared by the DPDK end-to-end tests (`dpdk_e2e`, `dpdk_multiqueue`, `dpdk_hostile`): addresses, frame
//! builders written independently of `vxgate::wire`, the spawned gateway's CLI and metrics
//! helpers, and output checks.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub type Mac = [u8; 6];

pub const VTEP_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

pub const VTEP_MAC: Mac = [0x02, 0, 0, 0, 0, 0x01];

pub const R2: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

pub const R3: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 3);

pub const R4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 4);

pub const R2_MAC: Mac = [0x02, 0, 0, 0, 0, 0x02];

pub const R3_MAC: Mac = [0x02, 0, 0, 0, 0, 0x03];

pub const R4_MAC: Mac = [0x02, 0, 0, 0, 0, 0x04];

pub const PEER_MAC: Mac = [0x02, 0, 0, 0, 0, 0x09];

pub const H3: Mac = [0x02, 0, 0, 0, 0x10, 0x03];

pub const H5: Mac = [0x02, 0, 0, 0, 0x10, 0x05];

/// Local hosts on the access side.
pub const LOCAL_A: Mac = [0x02, 0, 0, 0, 0xaa, 0x01];

pub const LOCAL_B: Mac = [0x02, 0, 0, 0, 0xaa, 0x02];

pub const VNI_TAGGED: u32 = 5000;

pub const VLAN_TAGGED: u16 = 100;

pub const VNI_UNTAGGED: u32 = 5001;

pub const SRC_PORT: u16 = 50000;

pub const VXLAN_PORT: u16 = 4789;

pub const UNDERLAY_MTU: usize = 1500;

pub fn be16(v: u16) -> [u8; 2] {
    v.to_be_bytes()
}

pub fn eth(dst: Mac, src: Mac, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&be16(ethertype));
    f.extend_from_slice(payload);
    f
}

/// Inserts an 802.1Q tag (PCP 0, DEI 0, `vid`) after the MAC addresses of an untagged frame.
pub fn tag(untagged: &[u8], vid: u16) -> Vec<u8> {
    let mut f = untagged[..12].to_vec();
    f.extend_from_slice(&be16(0x8100));
    f.extend_from_slice(&be16(vid));
    f.extend_from_slice(&untagged[12..]);
    f
}

/// UDP with checksum 0 (what the gateway emits, and allowed over IPv4).
pub fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::with_capacity(8 + payload.len());
    u.extend_from_slice(&be16(sport));
    u.extend_from_slice(&be16(dport));
    u.extend_from_slice(&be16(u16::try_from(8 + payload.len()).unwrap()));
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

/// VXLAN header (flags: I) and the inner frame.
pub fn vxlan(vni: u32, inner: &[u8]) -> Vec<u8> {
    let mut v = vec![0x08, 0, 0, 0];
    v.extend_from_slice(&vni.to_be_bytes()[1..]);
    v.push(0);
    v.extend_from_slice(inner);
    v
}

/// An Ethernet/IPv4 ARP body (28 bytes).
/// An IPv4 header (no options, TTL 64, UDP, checksum filled in) before `payload`.
pub fn ipv4_udp(src: Ipv4Addr, dst: Ipv4Addr, payload: &[u8]) -> Vec<u8> {
    let total = u16::try_from(20 + payload.len()).unwrap();
    let mut h = vec![0x45, 0];
    h.extend_from_slice(&be16(total));
    h.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0]);
    h.extend_from_slice(&src.octets());
    h.extend_from_slice(&dst.octets());
    let c = inet_checksum(&h);
    h[10..12].copy_from_slice(&be16(c));
    h.extend_from_slice(payload);
    h
}

pub fn arp(op: u16, sha: Mac, spa: Ipv4Addr, tha: Mac, tpa: Ipv4Addr) -> Vec<u8> {
    let mut a = vec![0, 1, 0x08, 0x00, 6, 4];
    a.extend_from_slice(&be16(op));
    a.extend_from_slice(&sha);
    a.extend_from_slice(&spa.octets());
    a.extend_from_slice(&tha);
    a.extend_from_slice(&tpa.octets());
    a
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn toml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

pub fn mac_str(m: Mac) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

pub fn vxgate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vxgate"))
}

pub fn hex(f: &[u8]) -> String {
    f.chunks(16)
        .map(|c| {
            c.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n    ")
}

/// Compares two frame lists one by one, showing the first differing byte.
pub fn assert_frames(what: &str, got: &[Vec<u8>], want: &[Vec<u8>]) {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        if g != w {
            let at = g.iter().zip(w).position(|(a, b)| a != b);
            panic!(
                "{what}: frame {i} differs (lengths {} vs {} expected, first difference at byte \
                 {at:?})\n  got:\n    {}\n  expected:\n    {}",
                g.len(),
                w.len(),
                hex(g),
                hex(w)
            );
        }
    }
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: {} frames, expected {}",
        got.len(),
        want.len()
    );
}

/// Whether an underlay output frame is VXLAN (caused by access input) rather than a reply.
pub fn is_vxlan(f: &[u8]) -> bool {
    f.len() >= 42 && f[12..14] == [0x08, 0x00] && f[23] == 17 && f[36..38] == be16(VXLAN_PORT)
}

/// The drop lines of the run summary: reason → count.
pub fn summary_drops(stdout: &str) -> BTreeMap<String, u64> {
    let mut drops = BTreeMap::new();
    let mut inside = false;
    for line in stdout.lines() {
        if line.trim_start().starts_with("drops (") {
            inside = true;
            continue;
        }
        if inside {
            let mut it = line.split_whitespace();
            match (it.next(), it.next().and_then(|n| n.parse::<u64>().ok())) {
                (Some(r), Some(n)) if line.starts_with("    ") => {
                    drops.insert(r.to_string(), n);
                }
                _ => inside = false,
            }
        }
    }
    drops
}

/// One parsed sample: metric name, labels, value.
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Parses the Prometheus text format (enough of it for vxgate's own output).
pub fn parse_metrics(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in `{line}`")),
        };
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => {
                let body = rest.strip_suffix('}').unwrap();
                let mut labels = BTreeMap::new();
                // Values in vxgate's output contain no commas or escaped quotes.
                for kv in body.split(',').filter(|s| !s.is_empty()) {
                    let (k, v) = kv.split_once('=').unwrap();
                    labels.insert(k.to_string(), v.trim_matches('"').to_string());
                }
                (n.to_string(), labels)
            }
            None => (series.to_string(), BTreeMap::new()),
        };
        out.push(Sample {
            name,
            labels,
            value,
        });
    }
    out
}

/// Runs a control subcommand against the gateway; returns (success, stdout, stderr).
pub fn cli(socket: &Path, args: &[&str]) -> (bool, String, String) {
    let out = vxgate()
        .args(args)
        .arg("--socket")
        .arg(socket)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn cli_ok(socket: &Path, args: &[&str]) -> String {
    let (ok, out, err) = cli(socket, args);
    assert!(ok, "vxgate {args:?} failed:\n{out}{err}");
    out
}

/// The rows of an FDB table (VNI MAC REMOTE TYPE AGE FROM) as (VNI, MAC, REMOTE, TYPE).
pub fn fdb_rows(table: &str) -> Vec<(String, String, String, String)> {
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let c: Vec<&str> = l.split_whitespace().collect();
            (c.len() == 6).then(|| (c[0].into(), c[1].into(), c[2].into(), c[3].into()))
        })
        .collect()
}

pub fn row(vni: u32, mac: Mac, remote: Ipv4Addr, kind: &str) -> (String, String, String, String) {
    (
        vni.to_string(),
        mac_str(mac),
        remote.to_string(),
        kind.to_string(),
    )
}

/// Internet checksum (RFC 1071) of `data`.
pub fn inet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in data.chunks(2) {
        let word = if chunk.len() == 2 {
            u32::from(chunk[0]) << 8 | u32::from(chunk[1])
        } else {
            u32::from(chunk[0]) << 8
        };
        sum += word;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Whether to run the EAL on hugepages: `VXGATE_EAL_MODE=hugepages|nohuge` (what
/// scripts/eal-mode.sh prints) forces a mode, else free hugepages decide.
pub fn use_hugepages() -> bool {
    match std::env::var("VXGATE_EAL_MODE").as_deref() {
        Ok("nohuge") => false,
        Ok("hugepages") => true,
        _ => hugepages_free(),
    }
}

pub fn hugepages_free() -> bool {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("HugePages_Free:"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|n| n > 0)
}

/// The EAL arguments every run starts with: hugepages (in memory) or not, no PCI, the run's
/// own file prefix, quiet EAL logs; the caller adds its `--vdev`s.
pub fn eal_base(dir: &TempDir) -> Vec<String> {
    let mut eal: Vec<String> = if use_hugepages() {
        vec!["--in-memory".into(), "--no-pci".into()]
    } else {
        ["--no-huge", "-m", "512", "--no-pci", "--no-shconf"]
            .map(String::from)
            .to_vec()
    };
    eal.push(format!("--file-prefix={}", dir.file_prefix));
    eal.push("--log-level=lib.eal:warning".into());
    eal
}

/// The `[control]` section: the socket in the run's temp dir.
pub fn control_section(dir: &TempDir) -> String {
    format!(
        "[control]\nsocket = {}\n",
        toml_str(&dir.path("control.sock").display().to_string())
    )
}

/// A temp dir, and the EAL's runtime dir for the run's `--file-prefix`, both removed on drop
/// (also when the test fails).
pub struct TempDir {
    dir: PathBuf,
    pub file_prefix: String,
}

impl TempDir {
    pub fn new(suite: &str, name: &str) -> TempDir {
        let pid = std::process::id();
        let d = std::env::temp_dir().join(format!("vxgate-{suite}-{name}-{pid}"));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        TempDir {
            dir: d,
            file_prefix: format!("vxgate_{suite}_{name}_{pid}"),
        }
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        // The EAL leaves an (empty) runtime dir per file prefix even with --in-memory: under
        // /var/run/dpdk for root, else under $XDG_RUNTIME_DIR or /tmp.
        let mut roots = vec![PathBuf::from("/var/run/dpdk"), PathBuf::from("/tmp/dpdk")];
        if let Some(x) = std::env::var_os("XDG_RUNTIME_DIR") {
            roots.push(PathBuf::from(x).join("dpdk"));
        }
        for r in roots {
            let _ = std::fs::remove_dir_all(r.join(&self.file_prefix));
        }
    }
}

/// `vxgate run --no-pin` as a child process; stdout and stderr go to files in the temp dir (so
/// a chatty child can never block on a full pipe).
pub struct Gateway {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Gateway {
    pub fn spawn(dir: &TempDir, config: &Path, duration_secs: u32) -> Gateway {
        Gateway::spawn_with(dir, config, duration_secs, false)
    }

    /// `vxgate run` with its workers pinned to the configured cores, as the packaged service
    /// runs it.
    pub fn spawn_pinned(dir: &TempDir, config: &Path, duration_secs: u32) -> Gateway {
        Gateway::spawn_with(dir, config, duration_secs, true)
    }

    fn spawn_with(dir: &TempDir, config: &Path, duration_secs: u32, pin: bool) -> Gateway {
        let stdout = dir.path("stdout.txt");
        let stderr = dir.path("stderr.txt");
        let mut cmd = vxgate();
        cmd.arg("run");
        if !pin {
            cmd.arg("--no-pin");
        }
        let child = cmd
            .args(["--duration", &duration_secs.to_string()])
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        Gateway {
            child,
            stdout,
            stderr,
        }
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).unwrap()
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Waits (bounded) for the exit; returns the status, stdout and stderr.
    pub fn wait(mut self, limit: Duration) -> (ExitStatus, String, String) {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "vxgate did not exit within {limit:?}\n--- stderr ---\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let out = std::fs::read_to_string(&self.stdout).unwrap_or_default();
        (status, out, self.stderr())
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        // Only when the test failed before waiting: never leave a polling process behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The run summary's mempool line says every mbuf went back to the pool.
pub fn assert_no_leak(stdout: &str) {
    let leak = stdout
        .lines()
        .find(|l| l.contains("buffers still in use"))
        .unwrap_or_else(|| panic!("no mempool line in:\n{stdout}"));
    assert!(
        leak.trim_start().starts_with("mempool: 0 of "),
        "mbuf leak: {leak}"
    );
}
