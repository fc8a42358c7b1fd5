//! Configuration: TOML read with serde, then `validate()`.
//!
//! # Contract
//!
//! - [`Config::from_toml_str`] only parses. Every struct denies unknown keys, and the types carry
//!   the range checks that need no context (`Vni` 1..=16777215, `VlanId` 1..=4094, `MacAddr`,
//!   `Ipv4Addr` for every underlay address, `u16`/`u8` widths). Parsing goes through
//!   `serde_path_to_error`, so a parse error names the key path where it happened
//!   (`vni[1].id: VNI 0 is outside 1..=16777215`).
//! - [`Config::validate`] checks everything that needs more than one value: duplicates, cross
//!   references (an FDB entry's VNI must be configured), queue/core counts, limits. It reports
//!   the first mistake it finds, with the key that caused it.
//! - [`Config::load`] = read + parse + validate against the cores this process may run on. It
//!   touches no port and no EAL; main calls it before anything else so that every mistake is
//!   reported before a NIC is bound.
//!
//! Sections whose every key has a default (`[dpdk]`, `[learning]`, `[arp]`, `[metrics]`,
//! `[control]`) may be omitted. `[vtep]`, `[ports]` and `[workers]` are required: the VTEP
//! address, the port names and the cores to pin cannot be guessed safely.
//!
//! # Limits worth knowing
//!
//! - One worker per queue pair: `ports.queues` must equal the number of `workers.cores`. More
//!   queues than cores would leave queues nobody polls (their packets are silently lost at the
//!   NIC); fewer would leave workers with nothing to poll. Both are errors.
//! - `vtep.underlay_mtu` is the IPv4 MTU of the underlay, [`MIN_UNDERLAY_MTU`]..=[`MAX_UNDERLAY_MTU`].
//!   The lower bound is the 50 bytes of VXLAN overhead (outer Ethernet 14 + IPv4 20 + UDP 8 +
//!   VXLAN 8), the inner Ethernet header (14) and IPv4's minimum MTU (68): 132. Counting the outer
//!   Ethernet header although an IP MTU excludes it errs on the side of rejecting an underlay
//!   that could not carry a minimal inner IPv4 packet. The upper bound is the common jumbo size.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::types::{MacAddr, VlanId, Vni};

/// VXLAN overhead as counted against the underlay MTU: outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8.
pub const VXLAN_OVERHEAD: u16 = 50;
/// Smallest accepted `vtep.underlay_mtu`: overhead (50) + inner Ethernet (14) + minimum IPv4 MTU (68).
pub const MIN_UNDERLAY_MTU: u16 = VXLAN_OVERHEAD + 14 + 68;
/// Largest accepted `vtep.underlay_mtu` (jumbo frames).
pub const MAX_UNDERLAY_MTU: u16 = 9000;
/// Largest burst a worker handles at once (`io::Burst` holds 32).
pub const MAX_BURST: usize = 32;
/// DPDK's RTE_MEMPOOL_CACHE_MAX_SIZE.
pub const MAX_MEMPOOL_CACHE: u32 = 512;

/// Why a configuration could not be read, parsed or accepted. Every variant's message names
/// what to fix: the file for `Io`, the key path for `Parse` and `Invalid`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{key}: {reason}")]
    Parse { key: String, reason: String },
    #[error("{key}: {reason}")]
    Invalid { key: String, reason: String },
}

impl ConfigError {
    /// The message for a file's error with the file named once (an I/O error already names it).
    pub fn in_file(&self, file: &Path) -> String {
        match self {
            ConfigError::Io { .. } => self.to_string(),
            _ => format!("{}: {self}", file.display()),
        }
    }

    /// The key path the error is about (`vni[1].id`), or the file path for an I/O error.
    pub fn key(&self) -> String {
        match self {
            ConfigError::Io { path, .. } => path.display().to_string(),
            ConfigError::Parse { key, .. } | ConfigError::Invalid { key, .. } => key.clone(),
        }
    }
}

fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub dpdk: DpdkConfig,
    pub vtep: VtepConfig,
    pub ports: PortsConfig,
    pub workers: WorkersConfig,
    #[serde(default)]
    pub learning: LearningConfig,
    #[serde(default)]
    pub arp: ArpConfig,
    #[serde(default)]
    pub vni: Vec<VniConfig>,
    #[serde(default)]
    pub fdb: Vec<FdbEntryConfig>,
    #[serde(default)]
    pub neighbor: Vec<NeighborConfig>,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default)]
    pub control: ControlConfig,
    /// `[cluster]`: a fleet sharing one overlay through etcd. Absent = a standalone gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterConfig>,
}

/// `[dpdk]`: EAL arguments and buffer sizing. Optional as a whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DpdkConfig {
    /// Passed to `rte_eal_init` after the program name.
    pub eal_args: Vec<String>,
    /// Mbufs in the pool (DPDK prefers 2^n - 1).
    pub mempool_size: u32,
    /// Per-lcore mbuf cache.
    pub mempool_cache: u32,
    pub rx_descriptors: u16,
    pub tx_descriptors: u16,
}

impl Default for DpdkConfig {
    fn default() -> Self {
        DpdkConfig {
            eal_args: Vec::new(),
            mempool_size: 16383,
            mempool_cache: 256,
            rx_descriptors: 1024,
            tx_descriptors: 1024,
        }
    }
}

/// `[vtep]`: this gateway's tunnel endpoint on the underlay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VtepConfig {
    /// The VTEP's IPv4 address; may be left out when `ip6` is set (an IPv6-only underlay).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<Ipv4Addr>,
    /// Source MAC on the underlay; `None` = the underlay port's own MAC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<MacAddr>,
    #[serde(default = "default_udp_port")]
    pub udp_port: u16,
    /// Inclusive range the outer UDP source port (a flow hash) is mapped into.
    #[serde(default = "default_src_port_range")]
    pub src_port_range: [u16; 2],
    #[serde(default = "default_ttl")]
    pub ttl: u8,
    #[serde(default = "default_true")]
    pub dont_fragment: bool,
    #[serde(default = "default_underlay_mtu")]
    pub underlay_mtu: u16,
    #[serde(default = "default_prefix_len")]
    pub prefix_len: u8,
    /// Next hop for remote VTEPs outside `ip/prefix_len`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<Ipv4Addr>,
    /// The VTEP's IPv6 address: tunnels to IPv6 remotes leave from it, and it answers
    /// neighbour solicitations and ICMPv6 echo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip6: Option<Ipv6Addr>,
    #[serde(default = "default_prefix6_len")]
    pub prefix6_len: u8,
    /// Next hop for IPv6 remotes outside `ip6/prefix6_len`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway6: Option<Ipv6Addr>,
    /// Outer IPv6 hop limit.
    #[serde(default = "default_ttl")]
    pub hop_limit: u8,
    /// Outer TTL of frames sent to a multicast group (Linux sends them with TTL 1 unless a TTL
    /// is configured).
    #[serde(default = "default_multicast_ttl")]
    pub multicast_ttl: u8,
    /// Send VXLAN over IPv6 with UDP checksum 0 (Linux `udp6zerocsumtx`).
    #[serde(default)]
    pub udp6_zero_checksum_tx: bool,
    /// Accept VXLAN over IPv6 with UDP checksum 0 (Linux `udp6zerocsumrx`).
    #[serde(default)]
    pub udp6_zero_checksum_rx: bool,
    /// IGMP version of the membership reports (2 or 3); queries are answered in their own.
    #[serde(default = "default_igmp_version")]
    pub igmp_version: u8,
}

fn default_prefix6_len() -> u8 {
    64
}
fn default_multicast_ttl() -> u8 {
    1
}
fn default_igmp_version() -> u8 {
    3
}

fn default_udp_port() -> u16 {
    4789
}
fn default_src_port_range() -> [u16; 2] {
    [49152, 65535]
}
fn default_ttl() -> u8 {
    64
}
fn default_true() -> bool {
    true
}
fn default_underlay_mtu() -> u16 {
    1500
}
fn default_prefix_len() -> u8 {
    24
}

impl VtepConfig {
    /// The address a fleet member registers as its VTEP: `ip`, else `ip6`.
    pub fn vtep_addr(&self) -> IpAddr {
        match (self.ip, self.ip6) {
            (None, Some(v6)) => IpAddr::V6(v6),
            _ => IpAddr::V4(self.ipv4()),
        }
    }

    /// The IPv4 address, or 0.0.0.0 on an IPv6-only gateway (which then neither answers nor
    /// sends anything IPv4 on the underlay).
    pub fn ipv4(&self) -> Ipv4Addr {
        self.ip.unwrap_or(Ipv4Addr::UNSPECIFIED)
    }

    /// The largest inner Ethernet frame (without FCS, untagged) that fits the underlay MTU.
    pub fn overlay_frame_max(&self) -> u16 {
        self.underlay_mtu.saturating_sub(VXLAN_OVERHEAD - 14)
    }
}

/// `[ports]`: DPDK port names (or devargs-created vdev names) and the queue pairs per port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortsConfig {
    pub access: String,
    pub underlay: String,
    #[serde(default = "default_queues")]
    pub queues: u16,
    /// The access port receives every destination MAC (a bridge port must). Default true.
    #[serde(default = "default_true")]
    pub access_promiscuous: bool,
    /// The access port receives every multicast frame (implied by promiscuous). Default false.
    #[serde(default)]
    pub access_allmulticast: bool,
    /// The underlay port receives frames for other MACs too; an IP endpoint needs only its
    /// own, broadcast and its groups. Default false.
    #[serde(default)]
    pub underlay_promiscuous: bool,
    /// The underlay port receives every multicast frame instead of only the joined groups
    /// (through the device's filter). Default false.
    #[serde(default)]
    pub underlay_allmulticast: bool,
}

fn default_queues() -> u16 {
    1
}

/// `[workers]`: one pinned worker per core; worker i owns queue pair i on each port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkersConfig {
    pub cores: Vec<usize>,
    #[serde(default = "default_burst_size")]
    pub burst_size: usize,
}

fn default_burst_size() -> usize {
    32
}

/// `[learning]`: MAC learning from decapsulated traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LearningConfig {
    pub aging_secs: u64,
    pub max_per_vni: usize,
    pub max_total: usize,
    /// MAC flap damping: more than `flap_moves` moves within `flap_window_secs` freeze the
    /// entry where it is for `flap_hold_secs` (0 moves: never damp).
    pub flap_moves: u32,
    pub flap_window_secs: u64,
    pub flap_hold_secs: u64,
}

impl Default for LearningConfig {
    fn default() -> Self {
        LearningConfig {
            aging_secs: 300,
            max_per_vni: 65536,
            max_total: 1_048_576,
            flap_moves: 5,
            flap_window_secs: 10,
            flap_hold_secs: 30,
        }
    }
}

/// `[arp]`: resolution of underlay next hops not listed under `[[neighbor]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArpConfig {
    pub retry_ms: u64,
    pub max_retries: u32,
}

impl Default for ArpConfig {
    fn default() -> Self {
        ArpConfig {
            retry_ms: 1000,
            max_retries: 3,
        }
    }
}

/// `[[vni]]`: one overlay segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VniConfig {
    pub id: Vni,
    /// Access-side VLAN; `None` = untagged frames (at most one VNI may be untagged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<VlanId>,
    /// Remote VTEPs (IPv4 or IPv6) that receive head-end replicated BUM traffic.
    #[serde(default)]
    pub flood: Vec<IpAddr>,
    /// An IPv4 multicast group the VNI's BUM traffic is sent to once (RFC 7348 §4.2); the
    /// gateway joins it with IGMP. Several VNIs may share a group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<Ipv4Addr>,
    #[serde(default = "default_true")]
    pub learning: bool,
    /// Overrides `learning.max_per_vni` for this VNI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_learned: Option<usize>,
    /// Answer access-side ARP requests for addresses whose MAC is known (from the fleet or
    /// local snooping) instead of flooding them.
    #[serde(default)]
    pub arp_suppress: bool,
}

/// `[[fdb]]`: a static entry, never aged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FdbEntryConfig {
    pub vni: Vni,
    pub mac: MacAddr,
    pub remote: IpAddr,
}

/// `[[neighbor]]`: a static underlay ARP entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NeighborConfig {
    pub ip: IpAddr,
    pub mac: MacAddr,
}

/// `[metrics]`: Prometheus exposition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    pub listen: SocketAddr,
    /// Must be set to listen on anything but loopback: the endpoint has no authentication.
    pub allow_remote: bool,
    pub enabled: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 9417)),
            allow_remote: false,
            enabled: true,
        }
    }
}

/// `[control]`: the operator's Unix socket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ControlConfig {
    pub socket: PathBuf,
    /// Warm restart: save the learned FDB and resolved neighbours on a clean stop and restore
    /// them at start (off by default).
    pub warm_restart: bool,
    /// Where; default `<socket name>-state.json` beside the control socket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_file: Option<PathBuf>,
}

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig {
            socket: PathBuf::from("/run/vxgate/control.sock"),
            warm_restart: false,
            state_file: None,
        }
    }
}

impl ControlConfig {
    /// The warm-restart state file, when warm restart is on.
    pub fn state_path(&self) -> Option<PathBuf> {
        if !self.warm_restart {
            return None;
        }
        Some(self.state_file.clone().unwrap_or_else(|| {
            let stem = self
                .socket
                .file_stem()
                .map_or_else(|| "vxgate".into(), |s| s.to_string_lossy().into_owned());
            self.socket
                .parent()
                .unwrap_or_else(|| Path::new("."))
                .join(format!("{stem}-state.json"))
        }))
    }
}

/// How a fleet member learns the other members' MACs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClusterMode {
    /// Watch the whole prefix and hold every other gateway's MACs (small and medium fleets).
    #[default]
    Replicate,
    /// Look a MAC up in etcd when the FDB misses it (flannel's l2miss, for large fleets).
    OnDemand,
}

/// `[cluster.tls]`: TLS towards etcd (`https://` endpoints).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterTlsConfig {
    /// PEM file of the CA that signed the etcd servers' certificates.
    pub ca: PathBuf,
    /// Client certificate and key (PEM) for etcd's `--client-cert-auth`; both or neither.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
    /// Server name to verify instead of the endpoint's host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

/// `[cluster]`: membership in a fleet of gateways that share MAC reachability through etcd.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// etcd v3 endpoints, `http://host:port` or `https://host:port`.
    pub etcd: Vec<String>,
    /// Key prefix the fleet shares (no trailing `/`).
    #[serde(default = "default_cluster_prefix")]
    pub prefix: String,
    /// TTL of this gateway's lease: its keys vanish this long after it dies.
    #[serde(default = "default_lease_secs")]
    pub lease_secs: u64,
    #[serde(default)]
    pub mode: ClusterMode,
    /// This gateway's member name in the fleet (default: the VTEP address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ClusterTlsConfig>,
    /// etcd authentication; both or neither.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// on-demand: a key etcd does not have is not asked for again for this long.
    #[serde(default = "default_negative_secs")]
    pub negative_cache_secs: u64,
    /// on-demand: lookups per second at most (misses beyond it wait for the next second).
    #[serde(default = "default_lookups_per_sec")]
    pub max_lookups_per_sec: u32,
}

fn default_cluster_prefix() -> String {
    "/vxgate".to_string()
}
fn default_lease_secs() -> u64 {
    10
}
fn default_negative_secs() -> u64 {
    5
}
fn default_lookups_per_sec() -> u32 {
    1000
}

impl ClusterConfig {
    /// The member name: configured, or the VTEP address.
    pub fn member_name(&self, vtep_ip: IpAddr) -> String {
        self.name.clone().unwrap_or_else(|| vtep_ip.to_string())
    }
}

/// Turns serde's message plus the path where it happened into (key, reason). serde reports a
/// missing or unknown field at the enclosing table; appending the field's name makes the key
/// point at what to fix.
fn parse_error(
    path: &serde_path_to_error::Path,
    err: &toml::de::Error,
    input: &str,
) -> ConfigError {
    let message = err.message().trim().to_string();
    let mut key = path.to_string();
    if key == "." || key == "?" {
        key.clear();
    }
    for prefix in ["missing field `", "unknown field `", "duplicate key `"] {
        if let Some(rest) = message.strip_prefix(prefix) {
            if let Some(field) = rest.split('`').next() {
                if !key.is_empty() && !key.ends_with(&format!(".{field}")) && key != field {
                    key.push('.');
                    key.push_str(field);
                } else if key.is_empty() {
                    key = field.to_string();
                }
            }
            break;
        }
    }
    if key.is_empty() {
        // A syntax error has no key yet; the position is the next best thing.
        key = match err.span() {
            Some(span) => {
                let before = input.get(..span.start).unwrap_or(input);
                let line = before.matches('\n').count() + 1;
                let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                format!("line {line}, column {col}")
            }
            None => "(document)".to_string(),
        };
    }
    ConfigError::Parse {
        key,
        reason: message,
    }
}

impl Config {
    /// Reads, parses and validates `path` against the cores this process may be pinned to.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_for(path, &available_cores())
    }

    /// Reads, parses and validates `path` against `cores` (a reload: the calling thread may
    /// be pinned to one core, so the process's cores are taken at start).
    pub fn load_for(path: &Path, cores: &[usize]) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Io {
            path: path.to_path_buf(),
            error,
        })?;
        let cfg = Config::from_toml_str(&text)?;
        cfg.validate(cores)?;
        Ok(cfg)
    }

    /// Parses only; call [`Config::validate`] before using the result.
    pub fn from_toml_str(s: &str) -> Result<Config, ConfigError> {
        let de = toml::Deserializer::new(s);
        serde_path_to_error::deserialize(de).map_err(|e| parse_error(e.path(), e.inner(), s))
    }

    /// Serializes back to TOML (for `config check --dump` and round-trip tests).
    pub fn to_toml_string(&self) -> Result<String, ConfigError> {
        toml::to_string(self).map_err(|e| ConfigError::Parse {
            key: "(document)".to_string(),
            reason: e.to_string(),
        })
    }

    /// The VNI mapped to an access-side VLAN (`None` = untagged).
    pub fn vni_for_vlan(&self, vlan: Option<VlanId>) -> Option<Vni> {
        self.vni.iter().find(|v| v.vlan == vlan).map(|v| v.id)
    }

    /// The VNI's configuration, if configured.
    pub fn vni_config(&self, vni: Vni) -> Option<&VniConfig> {
        self.vni.iter().find(|v| v.id == vni)
    }

    /// Checks everything the types alone cannot; reports the first mistake with its key.
    pub fn validate(&self, available_cores: &[usize]) -> Result<(), ConfigError> {
        self.validate_dpdk()?;
        self.validate_vtep()?;
        self.validate_ports_and_workers(available_cores)?;
        self.validate_learning()?;
        self.validate_arp()?;
        self.validate_vnis()?;
        self.validate_fdb()?;
        self.validate_neighbors()?;
        self.validate_metrics_and_control()?;
        self.validate_cluster()?;
        Ok(())
    }

    fn validate_cluster(&self) -> Result<(), ConfigError> {
        let Some(c) = &self.cluster else {
            return Ok(());
        };
        if c.etcd.is_empty() {
            return Err(invalid("cluster.etcd", "no endpoint; list at least one"));
        }
        let mut https = false;
        for (i, e) in c.etcd.iter().enumerate() {
            let key = format!("cluster.etcd[{i}]");
            let rest = if let Some(r) = e.strip_prefix("https://") {
                https = true;
                r
            } else if let Some(r) = e.strip_prefix("http://") {
                r
            } else {
                return Err(invalid(
                    key,
                    format!("{e:?} must start with http:// or https://"),
                ));
            };
            let hostport = rest.strip_suffix('/').unwrap_or(rest);
            let port_ok = hostport
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
            if !port_ok || hostport.contains('/') {
                return Err(invalid(key, format!("{e:?} is not scheme://host:port")));
            }
        }
        let p = &c.prefix;
        if !p.starts_with('/') || p.ends_with('/') || p.chars().any(char::is_whitespace) {
            return Err(invalid(
                "cluster.prefix",
                format!("{p:?} must start with '/', not end with '/', and have no spaces"),
            ));
        }
        if !(2..=3600).contains(&c.lease_secs) {
            return Err(invalid(
                "cluster.lease_secs",
                format!("{} is outside 2..=3600", c.lease_secs),
            ));
        }
        if let Some(n) = &c.name {
            if n.is_empty() || n.contains('/') || n.chars().any(char::is_whitespace) {
                return Err(invalid(
                    "cluster.name",
                    format!("{n:?} must be non-empty, without '/' or spaces"),
                ));
            }
        }
        match (&c.user, &c.password) {
            (Some(_), None) => {
                return Err(invalid("cluster.password", "user set without password"))
            }
            (None, Some(_)) => return Err(invalid("cluster.user", "password set without user")),
            _ => {}
        }
        match &c.tls {
            None if https => {
                return Err(invalid(
                    "cluster.tls",
                    "https:// endpoints need [cluster.tls] with at least ca",
                ))
            }
            None => {}
            Some(t) => {
                match (&t.cert, &t.key) {
                    (Some(_), None) => {
                        return Err(invalid("cluster.tls.key", "cert set without key"))
                    }
                    (None, Some(_)) => {
                        return Err(invalid("cluster.tls.cert", "key set without cert"))
                    }
                    _ => {}
                }
                let files = [
                    ("ca", Some(&t.ca)),
                    ("cert", t.cert.as_ref()),
                    ("key", t.key.as_ref()),
                ];
                for (name, f) in files {
                    if let Some(f) = f {
                        if !f.is_file() {
                            return Err(invalid(
                                format!("cluster.tls.{name}"),
                                format!("{} is not a readable file", f.display()),
                            ));
                        }
                    }
                }
            }
        }
        if c.max_lookups_per_sec == 0 {
            return Err(invalid("cluster.max_lookups_per_sec", "must be at least 1"));
        }
        Ok(())
    }

    fn validate_dpdk(&self) -> Result<(), ConfigError> {
        let d = &self.dpdk;
        if d.mempool_size == 0 {
            return Err(invalid("dpdk.mempool_size", "must be at least 1"));
        }
        if d.mempool_cache > MAX_MEMPOOL_CACHE {
            return Err(invalid(
                "dpdk.mempool_cache",
                format!(
                    "{} exceeds DPDK's maximum of {MAX_MEMPOOL_CACHE}",
                    d.mempool_cache
                ),
            ));
        }
        // rte_mempool_create refuses a cache larger than the pool / 1.5.
        if u64::from(d.mempool_cache) * 3 > u64::from(d.mempool_size) * 2 {
            return Err(invalid(
                "dpdk.mempool_cache",
                format!(
                    "{} is more than mempool_size / 1.5 ({}), which DPDK refuses",
                    d.mempool_cache,
                    u64::from(d.mempool_size) * 2 / 3
                ),
            ));
        }
        if d.rx_descriptors == 0 {
            return Err(invalid("dpdk.rx_descriptors", "must be at least 1"));
        }
        if d.tx_descriptors == 0 {
            return Err(invalid("dpdk.tx_descriptors", "must be at least 1"));
        }
        Ok(())
    }

    fn validate_vtep(&self) -> Result<(), ConfigError> {
        let v = &self.vtep;
        match (v.ip, v.ip6) {
            (None, None) => {
                return Err(invalid(
                    "vtep.ip",
                    "missing: set vtep.ip (IPv4), vtep.ip6 (IPv6) or both",
                ))
            }
            (Some(ip), _) if ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast() => {
                return Err(invalid("vtep.ip", format!("{ip} is not a unicast address")));
            }
            _ => {}
        }
        if v.ip.is_none() {
            // What needs an IPv4 address of our own: a gateway, IGMP, a fleet's registration.
            if v.gateway.is_some() {
                return Err(invalid("vtep.gateway", "an IPv4 gateway needs vtep.ip"));
            }
            if let Some(i) = self.vni.iter().position(|n| n.group.is_some()) {
                return Err(invalid(
                    format!("vni[{i}].group"),
                    "a multicast group is joined from vtep.ip: set it",
                ));
            }
        }
        if let Some(mac) = v.mac {
            if mac.is_multicast() || mac.is_zero() {
                return Err(invalid(
                    "vtep.mac",
                    format!("{mac} is not a unicast MAC address"),
                ));
            }
        }
        if v.udp_port == 0 {
            return Err(invalid("vtep.udp_port", "UDP port 0 cannot be used"));
        }
        let [lo, hi] = v.src_port_range;
        if lo == 0 || hi == 0 {
            return Err(invalid(
                "vtep.src_port_range",
                format!("[{lo}, {hi}] contains port 0"),
            ));
        }
        if lo > hi {
            return Err(invalid(
                "vtep.src_port_range",
                format!("[{lo}, {hi}] is inverted (first must be <= second)"),
            ));
        }
        if v.ttl == 0 {
            return Err(invalid(
                "vtep.ttl",
                "TTL 0 would be dropped by the first hop",
            ));
        }
        if !(MIN_UNDERLAY_MTU..=MAX_UNDERLAY_MTU).contains(&v.underlay_mtu) {
            return Err(invalid(
                "vtep.underlay_mtu",
                format!(
                    "{} is outside {MIN_UNDERLAY_MTU}..={MAX_UNDERLAY_MTU} (VXLAN overhead {VXLAN_OVERHEAD} + inner Ethernet 14 + minimum IPv4 MTU 68)",
                    v.underlay_mtu
                ),
            ));
        }
        if v.prefix_len > 32 {
            return Err(invalid(
                "vtep.prefix_len",
                format!("{} is more than 32", v.prefix_len),
            ));
        }
        if let Some(ip6) = v.ip6 {
            if ip6.is_unspecified() || ip6.is_multicast() || ip6.is_loopback() {
                return Err(invalid(
                    "vtep.ip6",
                    format!("{ip6} is not a unicast address"),
                ));
            }
        }
        if v.prefix6_len > 128 {
            return Err(invalid(
                "vtep.prefix6_len",
                format!("{} is more than 128", v.prefix6_len),
            ));
        }
        if v.gateway6.is_some() && v.ip6.is_none() {
            return Err(invalid("vtep.gateway6", "set vtep.ip6 first"));
        }
        if let Some(gw) = v.gateway6 {
            if Some(gw) == v.ip6 || gw.is_unspecified() || gw.is_multicast() {
                return Err(invalid(
                    "vtep.gateway6",
                    format!("{gw} is not another unicast address"),
                ));
            }
        }
        if v.hop_limit == 0 {
            return Err(invalid(
                "vtep.hop_limit",
                "hop limit 0 would be dropped by the first hop",
            ));
        }
        if v.multicast_ttl == 0 {
            return Err(invalid(
                "vtep.multicast_ttl",
                "TTL 0 would not leave the gateway",
            ));
        }
        if !(2..=3).contains(&v.igmp_version) {
            return Err(invalid(
                "vtep.igmp_version",
                format!("{} is not 2 or 3", v.igmp_version),
            ));
        }
        if let Some(gw) = v.gateway {
            if Some(gw) == v.ip {
                return Err(invalid(
                    "vtep.gateway",
                    format!("{gw} is the VTEP's own address"),
                ));
            }
            if gw.is_unspecified() || gw.is_multicast() || gw.is_broadcast() {
                return Err(invalid(
                    "vtep.gateway",
                    format!("{gw} is not a unicast address"),
                ));
            }
        }
        Ok(())
    }

    fn validate_ports_and_workers(&self, available_cores: &[usize]) -> Result<(), ConfigError> {
        let p = &self.ports;
        if p.access.trim().is_empty() {
            return Err(invalid("ports.access", "port name is empty"));
        }
        if p.underlay.trim().is_empty() {
            return Err(invalid("ports.underlay", "port name is empty"));
        }
        if p.access == p.underlay {
            return Err(invalid(
                "ports.underlay",
                format!("'{}' is also the access port", p.underlay),
            ));
        }
        if p.queues == 0 {
            return Err(invalid("ports.queues", "must be at least 1"));
        }
        let w = &self.workers;
        if w.cores.is_empty() {
            return Err(invalid("workers.cores", "at least one core is needed"));
        }
        let mut seen = HashSet::new();
        for (i, core) in w.cores.iter().enumerate() {
            if !available_cores.contains(core) {
                return Err(invalid(
                    format!("workers.cores[{i}]"),
                    format!("core {core} is not available to this process (available: {available_cores:?})"),
                ));
            }
            if !seen.insert(*core) {
                return Err(invalid(
                    format!("workers.cores[{i}]"),
                    format!("core {core} is listed twice"),
                ));
            }
        }
        if usize::from(p.queues) != w.cores.len() {
            let which = if usize::from(p.queues) > w.cores.len() {
                "more queues than worker cores: the extra queues would never be polled"
            } else {
                "fewer queues than worker cores: the extra workers would have no queue to poll"
            };
            return Err(invalid(
                "ports.queues",
                format!(
                    "{} queues but {} worker cores; one worker per queue pair is required ({which})",
                    p.queues,
                    w.cores.len()
                ),
            ));
        }
        if w.burst_size == 0 || w.burst_size > MAX_BURST {
            return Err(invalid(
                "workers.burst_size",
                format!("{} is outside 1..={MAX_BURST}", w.burst_size),
            ));
        }
        Ok(())
    }

    fn validate_learning(&self) -> Result<(), ConfigError> {
        let l = &self.learning;
        if l.aging_secs == 0 {
            return Err(invalid(
                "learning.aging_secs",
                "0 would age every entry out at once",
            ));
        }
        if l.max_per_vni > l.max_total {
            return Err(invalid(
                "learning.max_per_vni",
                format!(
                    "{} is more than learning.max_total ({})",
                    l.max_per_vni, l.max_total
                ),
            ));
        }
        if l.flap_moves > 0 && l.flap_window_secs == 0 {
            return Err(invalid(
                "learning.flap_window_secs",
                "must be at least 1 while flap_moves is set (flap_moves = 0 turns damping off)",
            ));
        }
        if l.flap_moves > 0 && l.flap_hold_secs == 0 {
            return Err(invalid(
                "learning.flap_hold_secs",
                "must be at least 1 while flap_moves is set (flap_moves = 0 turns damping off)",
            ));
        }
        Ok(())
    }

    fn validate_arp(&self) -> Result<(), ConfigError> {
        if self.arp.retry_ms == 0 {
            return Err(invalid("arp.retry_ms", "must be at least 1"));
        }
        Ok(())
    }

    fn validate_vnis(&self) -> Result<(), ConfigError> {
        if self.vni.is_empty() {
            return Err(invalid(
                "vni",
                "no [[vni]] configured; at least one is needed",
            ));
        }
        let mut ids: HashMap<Vni, usize> = HashMap::new();
        let mut vlans: HashMap<Option<VlanId>, usize> = HashMap::new();
        for (i, v) in self.vni.iter().enumerate() {
            if let Some(first) = ids.insert(v.id, i) {
                return Err(invalid(
                    format!("vni[{i}].id"),
                    format!("duplicate VNI {} (also vni[{first}].id)", v.id),
                ));
            }
            if let Some(first) = vlans.insert(v.vlan, i) {
                let reason = match v.vlan {
                    Some(vlan) => format!(
                        "VLAN {vlan} is already mapped to VNI {} (vni[{first}])",
                        self.vni[first].id
                    ),
                    None => format!(
                        "a second untagged VNI; VNI {} (vni[{first}]) already takes untagged frames",
                        self.vni[first].id
                    ),
                };
                return Err(invalid(format!("vni[{i}].vlan"), reason));
            }
            let mut flood = HashSet::new();
            for (j, ip) in v.flood.iter().enumerate() {
                self.check_remote(format!("vni[{i}].flood[{j}]"), *ip)?;
                let key = format!("vni[{i}].flood[{j}]");
                if !flood.insert(*ip) {
                    return Err(invalid(key, format!("{ip} is listed twice")));
                }
            }
            if let Some(g) = v.group {
                // 224.0.0.0/24 is link-local control traffic (IGMP itself, routing protocols).
                if !g.is_multicast() || g.octets()[..3] == [224, 0, 0] {
                    return Err(invalid(
                        format!("vni[{i}].group"),
                        format!("{g} is not a multicast group outside 224.0.0.0/24"),
                    ));
                }
            }
            if let Some(max) = v.max_learned {
                if max > self.learning.max_total {
                    return Err(invalid(
                        format!("vni[{i}].max_learned"),
                        format!(
                            "{max} is more than learning.max_total ({})",
                            self.learning.max_total
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn validate_fdb(&self) -> Result<(), ConfigError> {
        let mut seen: HashMap<(Vni, MacAddr), usize> = HashMap::new();
        for (i, e) in self.fdb.iter().enumerate() {
            if self.vni_config(e.vni).is_none() {
                return Err(invalid(
                    format!("fdb[{i}].vni"),
                    format!("VNI {} is not configured under [[vni]]", e.vni),
                ));
            }
            if e.mac.is_multicast() || e.mac.is_zero() {
                return Err(invalid(
                    format!("fdb[{i}].mac"),
                    format!("{} is not a unicast MAC address", e.mac),
                ));
            }
            if let Some(first) = seen.insert((e.vni, e.mac), i) {
                return Err(invalid(
                    format!("fdb[{i}].mac"),
                    format!(
                        "duplicate entry for {} in VNI {} (also fdb[{first}])",
                        e.mac, e.vni
                    ),
                ));
            }
            self.check_remote(format!("fdb[{i}].remote"), e.remote)?;
        }
        Ok(())
    }

    /// A remote VTEP address: unicast, not ours, and of a family this gateway has.
    fn check_remote(&self, key: String, ip: IpAddr) -> Result<(), ConfigError> {
        let own = match ip {
            IpAddr::V4(a) => Some(a) == self.vtep.ip,
            IpAddr::V6(a) => Some(a) == self.vtep.ip6,
        };
        if own {
            return Err(invalid(key, format!("{ip} is this VTEP's own address")));
        }
        let broadcast = matches!(ip, IpAddr::V4(a) if a.is_broadcast());
        if ip.is_unspecified() || ip.is_multicast() || broadcast {
            return Err(invalid(key, format!("{ip} is not a unicast address")));
        }
        if ip.is_ipv6() && self.vtep.ip6.is_none() {
            return Err(invalid(
                key,
                format!("{ip} is an IPv6 VTEP but vtep.ip6 is not set"),
            ));
        }
        if ip.is_ipv4() && self.vtep.ip.is_none() {
            return Err(invalid(
                key,
                format!("{ip} is an IPv4 VTEP but vtep.ip is not set"),
            ));
        }
        Ok(())
    }

    fn validate_neighbors(&self) -> Result<(), ConfigError> {
        let mut seen: HashMap<IpAddr, usize> = HashMap::new();
        for (i, n) in self.neighbor.iter().enumerate() {
            if let Some(first) = seen.insert(n.ip, i) {
                return Err(invalid(
                    format!("neighbor[{i}].ip"),
                    format!("duplicate neighbor {} (also neighbor[{first}])", n.ip),
                ));
            }
            if n.mac.is_multicast() || n.mac.is_zero() {
                return Err(invalid(
                    format!("neighbor[{i}].mac"),
                    format!("{} is not a unicast MAC address", n.mac),
                ));
            }
        }
        Ok(())
    }

    fn validate_metrics_and_control(&self) -> Result<(), ConfigError> {
        let m = &self.metrics;
        if m.enabled && !m.allow_remote && !m.listen.ip().is_loopback() {
            return Err(invalid(
                "metrics.listen",
                format!(
                    "{} is not a loopback address; set metrics.allow_remote = true to expose the unauthenticated endpoint",
                    m.listen
                ),
            ));
        }
        if self.control.socket.as_os_str().is_empty() {
            return Err(invalid("control.socket", "path is empty"));
        }
        Ok(())
    }
}

/// The NUMA node of CPU `core` (from sysfs), `None` when the machine does not say.
pub fn numa_node_of_core(core: usize) -> Option<u32> {
    let dir = std::fs::read_dir(format!("/sys/devices/system/cpu/cpu{core}")).ok()?;
    dir.filter_map(Result::ok).find_map(|e| {
        e.file_name()
            .to_str()?
            .strip_prefix("node")?
            .parse::<u32>()
            .ok()
    })
}

/// The CPU ids this process may be pinned to: the affinity mask when it can be read, else
/// `0..available_parallelism`.
pub fn available_cores() -> Vec<usize> {
    match core_affinity::get_core_ids() {
        Some(ids) if !ids.is_empty() => ids.into_iter().map(|c| c.id).collect(),
        _ => {
            let n = std::thread::available_parallelism().map_or(1, |n| n.get());
            (0..n).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GATEWAY: &str = include_str!("../config/gateway.toml");
    const DEMO: &str = include_str!("../config/demo.toml");
    const CORES: &[usize] = &[0, 1, 2, 3];

    /// A small valid configuration that each rejection test breaks in one place.
    const BASE: &str = r#"
[vtep]
ip = "10.0.0.1"
mac = "02:00:00:00:00:01"

[ports]
access = "acc0"
underlay = "und0"
queues = 2

[workers]
cores = [1, 2]

[[vni]]
id = 5000
vlan = 100
flood = ["10.0.0.2", "10.0.0.3"]

[[vni]]
id = 5001
vlan = 200
flood = ["10.0.0.2"]

[[fdb]]
vni = 5000
mac = "02:00:00:00:10:01"
remote = "10.0.0.2"

[[neighbor]]
ip = "10.0.0.2"
mac = "02:00:00:00:00:02"
"#;

    fn base() -> Config {
        Config::from_toml_str(BASE).unwrap()
    }

    /// Asserts that `cfg` fails validation on `key`, and that the message starts with it.
    #[track_caller]
    fn rejects(cfg: &Config, key: &str) {
        match cfg.validate(CORES) {
            Err(e @ ConfigError::Invalid { .. }) => {
                assert_eq!(e.key(), key, "wrong key in: {e}");
                assert!(e.to_string().starts_with(&format!("{key}: ")), "{e}");
            }
            other => panic!("expected Invalid on {key}, got {other:?}"),
        }
    }

    /// Asserts that `text` fails to parse with `key` named.
    #[track_caller]
    fn parse_rejects(text: &str, key: &str) -> String {
        match Config::from_toml_str(text) {
            Err(e @ ConfigError::Parse { .. }) => {
                assert_eq!(e.key(), key, "wrong key in: {e}");
                assert!(e.to_string().starts_with(&format!("{key}: ")), "{e}");
                e.to_string()
            }
            other => panic!("expected Parse error on {key}, got {other:?}"),
        }
    }

    fn vlan(v: u16) -> Option<VlanId> {
        VlanId::new(v)
    }
    fn vni(v: u32) -> Vni {
        Vni::new(v).unwrap()
    }
    fn mac(s: &str) -> MacAddr {
        s.parse().unwrap()
    }

    #[test]
    fn happy_path() {
        let cfg = base();
        cfg.validate(CORES).unwrap();
        assert_eq!(cfg.vni.len(), 2);
        assert_eq!(cfg.vni_for_vlan(vlan(200)), Some(vni(5001)));
        assert_eq!(cfg.vni_for_vlan(vlan(300)), None);
        assert_eq!(cfg.vni_for_vlan(None), None);
        assert_eq!(cfg.fdb[0].remote, Ipv4Addr::new(10, 0, 0, 2));
    }

    #[test]
    fn defaults() {
        let cfg = base();
        assert_eq!(cfg.dpdk, DpdkConfig::default());
        assert_eq!(cfg.dpdk.mempool_size, 16383);
        assert_eq!(cfg.dpdk.mempool_cache, 256);
        assert_eq!(cfg.dpdk.rx_descriptors, 1024);
        assert_eq!(cfg.dpdk.tx_descriptors, 1024);
        assert!(cfg.dpdk.eal_args.is_empty());
        assert_eq!(cfg.vtep.udp_port, 4789);
        assert_eq!(cfg.vtep.src_port_range, [49152, 65535]);
        assert_eq!(cfg.vtep.ttl, 64);
        assert!(cfg.vtep.dont_fragment);
        assert_eq!(cfg.vtep.underlay_mtu, 1500);
        assert_eq!(cfg.vtep.prefix_len, 24);
        assert_eq!(cfg.vtep.gateway, None);
        assert_eq!(cfg.workers.burst_size, 32);
        assert_eq!(cfg.learning.aging_secs, 300);
        assert_eq!(cfg.learning.max_per_vni, 65536);
        assert_eq!(cfg.learning.max_total, 1_048_576);
        assert_eq!(cfg.arp.retry_ms, 1000);
        assert_eq!(cfg.arp.max_retries, 3);
        assert!(cfg.vni[0].learning);
        assert_eq!(cfg.vni[0].max_learned, None);
        assert_eq!(cfg.metrics.listen, "127.0.0.1:9417".parse().unwrap());
        assert!(!cfg.metrics.allow_remote);
        assert!(cfg.metrics.enabled);
        assert_eq!(
            cfg.control.socket,
            PathBuf::from("/run/vxgate/control.sock")
        );
        assert_eq!(cfg.vtep.overlay_frame_max(), 1464);

        let minimal = "[vtep]\nip = \"10.0.0.1\"\n[ports]\naccess = \"a\"\nunderlay = \"u\"\n\
                       [workers]\ncores = [0]\n[[vni]]\nid = 1\n";
        let cfg = Config::from_toml_str(minimal).unwrap();
        cfg.validate(&[0]).unwrap();
        assert_eq!(cfg.ports.queues, 1);
        assert_eq!(cfg.vni_for_vlan(None), Some(vni(1)));
    }

    #[test]
    fn example_files_parse_validate_and_round_trip() {
        for (name, text) in [("gateway.toml", GATEWAY), ("demo.toml", DEMO)] {
            let cfg = Config::from_toml_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            let cores: Vec<usize> = (0..64).collect();
            cfg.validate(&cores)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let again = Config::from_toml_str(&cfg.to_toml_string().unwrap()).unwrap();
            assert_eq!(cfg, again, "{name} does not round-trip");
        }
    }

    #[test]
    fn demo_file_contents() {
        let cfg = Config::from_toml_str(DEMO).unwrap();
        assert_eq!(cfg.ports.access, "net_pcap0");
        assert_eq!(cfg.ports.underlay, "net_null0");
        assert_eq!(cfg.workers.cores, vec![1]);
        assert_eq!(cfg.vtep.ip, Some(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(cfg.vtep.mac, Some(mac("02:00:00:00:00:01")));
        assert_eq!(cfg.vni_for_vlan(vlan(100)), Some(vni(5000)));
        assert_eq!(cfg.vni_for_vlan(vlan(200)), Some(vni(5001)));
        assert_eq!(cfg.vni[0].flood.len(), 3);
        assert_eq!(cfg.neighbor.len(), 3);
        assert_eq!(
            cfg.control.socket,
            PathBuf::from("/tmp/vxgate-demo/control.sock")
        );
    }

    // --- parse-level rejections (types and serde) ---

    #[test]
    fn rejects_vni_out_of_range() {
        let text = BASE.replacen("id = 5001", "id = 0", 1);
        let msg = parse_rejects(&text, "vni[1].id");
        assert!(msg.contains("VNI 0 is outside 1..=16777215"), "{msg}");
        parse_rejects(&BASE.replacen("id = 5001", "id = 16777216", 1), "vni[1].id");
        parse_rejects(&BASE.replacen("id = 5001", "id = -1", 1), "vni[1].id");
    }

    #[test]
    fn rejects_vlan_out_of_range() {
        parse_rejects(
            &BASE.replacen("vlan = 200", "vlan = 4095", 1),
            "vni[1].vlan",
        );
        parse_rejects(&BASE.replacen("vlan = 200", "vlan = 0", 1), "vni[1].vlan");
    }

    #[test]
    fn an_ipv6_only_gateway_needs_no_ipv4_address_and_uses_none() {
        let t = BASE
            .replacen(
                "[vtep]\nip = \"10.0.0.1\"\n",
                "[vtep]\nip6 = \"fd00::1\"\n",
                1,
            )
            .replace("\"10.0.0.2\"", "\"fd00::2\"")
            .replace("\"10.0.0.3\"", "\"fd00::3\"");
        let c = Config::from_toml_str(&t).unwrap();
        assert_eq!(c.vtep.ip, None);
        assert_eq!(c.vtep.ipv4(), Ipv4Addr::UNSPECIFIED);
        c.validate(CORES).unwrap();
        // IPv4 VTEPs, an IPv4 gateway or a group need an IPv4 address of our own.
        let mut bad = c.clone();
        bad.fdb[0].remote = Ipv4Addr::new(10, 0, 0, 2).into();
        rejects(&bad, "fdb[0].remote");
        let mut bad = c.clone();
        bad.vtep.gateway = Some(Ipv4Addr::new(10, 0, 0, 254));
        rejects(&bad, "vtep.gateway");
        let mut bad = c.clone();
        bad.vni[1].group = Some(Ipv4Addr::new(239, 1, 1, 1));
        rejects(&bad, "vni[1].group");
        // Neither address: the key is named.
        let mut bad = c;
        bad.vtep.ip6 = None;
        rejects(&bad, "vtep.ip");
    }

    #[test]
    fn rejects_non_ipv4_addresses() {
        // IPv6 VTEPs parse, but need an IPv6 address of our own.
        let t = BASE.replacen("[\"10.0.0.2\"]", "[\"2001:db8::1\"]", 1);
        rejects(&Config::from_toml_str(&t).unwrap(), "vni[1].flood[0]");
        let t = BASE.replacen("remote = \"10.0.0.2\"", "remote = \"fe80::1\"", 1);
        rejects(&Config::from_toml_str(&t).unwrap(), "fdb[0].remote");
        let with6 = t.replacen("[vtep]\n", "[vtep]\nip6 = \"fe80::9\"\n", 1);
        assert!(Config::from_toml_str(&with6)
            .unwrap()
            .validate(CORES)
            .is_ok());
        let t = BASE.replacen("vlan = 200", "vlan = 200\ngroup = \"224.0.0.5\"", 1);
        rejects(&Config::from_toml_str(&t).unwrap(), "vni[1].group");
        let t = BASE.replacen("vlan = 200", "vlan = 200\ngroup = \"239.1.1.1\"", 1);
        assert!(Config::from_toml_str(&t).unwrap().validate(CORES).is_ok());
        let t = BASE.replacen("ip = \"10.0.0.2\"", "ip = \"host.example\"", 1);
        parse_rejects(&t, "neighbor[0].ip");
        let t = BASE.replacen("[vtep]\n", "[vtep]\ngateway = \"::1\"\n", 1);
        parse_rejects(&t, "vtep.gateway");
        let t = BASE.replacen("ip = \"10.0.0.1\"", "ip = \"::1\"", 1);
        parse_rejects(&t, "vtep.ip");
    }

    #[test]
    fn rejects_bad_mac_and_widths() {
        let t = BASE.replacen("\"02:00:00:00:10:01\"", "\"02:00:00:00:10\"", 1);
        parse_rejects(&t, "fdb[0].mac");
        let t = BASE.replacen("[vtep]\n", "[vtep]\nudp_port = 70000\n", 1);
        parse_rejects(&t, "vtep.udp_port");
        let t = BASE.replacen("[vtep]\n", "[vtep]\nttl = 256\n", 1);
        parse_rejects(&t, "vtep.ttl");
    }

    #[test]
    fn rejects_unknown_keys_naming_them() {
        let t = BASE.replacen("[vtep]\n", "[vtep]\nmtu = 1500\n", 1);
        let msg = parse_rejects(&t, "vtep.mtu");
        assert!(msg.contains("unknown field"), "{msg}");
        let t = BASE.replacen("id = 5001", "id = 5001\nfloods = []", 1);
        parse_rejects(&t, "vni[1].floods");
        let t = format!("{BASE}\n[bogus]\nx = 1\n");
        parse_rejects(&t, "bogus");
        let t = format!("[dpdk]\nealargs = []\n{BASE}");
        parse_rejects(&t, "dpdk.ealargs");
    }

    #[test]
    fn rejects_missing_required_keys() {
        // vtep.ip may be left out for vtep.ip6, but one of the two is required.
        let t = BASE.replacen("ip = \"10.0.0.1\"\n", "", 1);
        rejects(&Config::from_toml_str(&t).unwrap(), "vtep.ip");
        let t = BASE.replacen("[workers]\ncores = [1, 2]\n", "", 1);
        parse_rejects(&t, "workers");
    }

    #[test]
    fn syntax_error_names_position() {
        let err = Config::from_toml_str("[vtep\nip = 1").unwrap_err();
        assert!(err.key().starts_with("line 1"), "{err}");
    }

    // --- validate() rejections, one per rule ---

    #[test]
    fn rejects_duplicate_vni() {
        let mut c = base();
        c.vni[1].id = vni(5000);
        rejects(&c, "vni[1].id");
    }

    #[test]
    fn rejects_duplicate_vlan() {
        let mut c = base();
        c.vni[1].vlan = vlan(100);
        rejects(&c, "vni[1].vlan");
    }

    #[test]
    fn rejects_two_untagged_vnis() {
        let mut c = base();
        c.vni[0].vlan = None;
        c.vni[1].vlan = None;
        rejects(&c, "vni[1].vlan");
        let msg = c.validate(CORES).unwrap_err().to_string();
        assert!(msg.contains("untagged"), "{msg}");
    }

    #[test]
    fn rejects_flood_to_self() {
        let mut c = base();
        c.vni[0].flood.push(c.vtep.ipv4().into());
        rejects(&c, "vni[0].flood[2]");
    }

    #[test]
    fn rejects_flood_duplicate_or_multicast() {
        let mut c = base();
        c.vni[0].flood.push(Ipv4Addr::new(10, 0, 0, 2).into());
        rejects(&c, "vni[0].flood[2]");
        let mut c = base();
        c.vni[1].flood[0] = Ipv4Addr::new(239, 1, 1, 1).into();
        rejects(&c, "vni[1].flood[0]");
    }

    #[test]
    fn rejects_bad_src_port_range() {
        let mut c = base();
        c.vtep.src_port_range = [60000, 50000];
        rejects(&c, "vtep.src_port_range");
        c.vtep.src_port_range = [0, 50000];
        rejects(&c, "vtep.src_port_range");
        c.vtep.src_port_range = [0, 0];
        rejects(&c, "vtep.src_port_range");
        c.vtep.src_port_range = [5000, 5000];
        c.validate(CORES).unwrap();
    }

    #[test]
    fn rejects_underlay_mtu_out_of_range() {
        let mut c = base();
        c.vtep.underlay_mtu = MIN_UNDERLAY_MTU - 1;
        rejects(&c, "vtep.underlay_mtu");
        c.vtep.underlay_mtu = MAX_UNDERLAY_MTU + 1;
        rejects(&c, "vtep.underlay_mtu");
        c.vtep.underlay_mtu = MIN_UNDERLAY_MTU;
        c.validate(CORES).unwrap();
        assert_eq!(MIN_UNDERLAY_MTU, 132);
    }

    #[test]
    fn rejects_ttl_zero() {
        let mut c = base();
        c.vtep.ttl = 0;
        rejects(&c, "vtep.ttl");
    }

    #[test]
    fn rejects_udp_port_zero() {
        let mut c = base();
        c.vtep.udp_port = 0;
        rejects(&c, "vtep.udp_port");
    }

    #[test]
    fn rejects_prefix_len_over_32() {
        let mut c = base();
        c.vtep.prefix_len = 33;
        rejects(&c, "vtep.prefix_len");
        c.vtep.prefix_len = 32;
        c.validate(CORES).unwrap();
    }

    #[test]
    fn rejects_bad_vtep_addresses() {
        let mut c = base();
        c.vtep.ip = Some(Ipv4Addr::UNSPECIFIED);
        rejects(&c, "vtep.ip");
        let mut c = base();
        c.vtep.mac = Some(MacAddr::BROADCAST);
        rejects(&c, "vtep.mac");
        let mut c = base();
        c.vtep.gateway = c.vtep.ip;
        rejects(&c, "vtep.gateway");
    }

    #[test]
    fn rejects_unavailable_core() {
        let mut c = base();
        c.workers.cores = vec![1, 7];
        rejects(&c, "workers.cores[1]");
    }

    #[test]
    fn rejects_duplicate_core() {
        let mut c = base();
        c.workers.cores = vec![2, 2];
        rejects(&c, "workers.cores[1]");
    }

    #[test]
    fn rejects_no_cores() {
        let mut c = base();
        c.workers.cores.clear();
        rejects(&c, "workers.cores");
    }

    #[test]
    fn rejects_zero_queues() {
        let mut c = base();
        c.ports.queues = 0;
        rejects(&c, "ports.queues");
    }

    #[test]
    fn rejects_more_queues_than_cores() {
        let mut c = base();
        c.ports.queues = 3;
        rejects(&c, "ports.queues");
        let msg = c.validate(CORES).unwrap_err().to_string();
        assert!(msg.contains("more queues than worker cores"), "{msg}");
    }

    #[test]
    fn rejects_fewer_queues_than_cores() {
        let mut c = base();
        c.ports.queues = 1;
        rejects(&c, "ports.queues");
        let msg = c.validate(CORES).unwrap_err().to_string();
        assert!(msg.contains("fewer queues than worker cores"), "{msg}");
    }

    #[test]
    fn rejects_burst_size() {
        let mut c = base();
        c.workers.burst_size = 0;
        rejects(&c, "workers.burst_size");
        c.workers.burst_size = 33;
        rejects(&c, "workers.burst_size");
        c.workers.burst_size = 1;
        c.validate(CORES).unwrap();
    }

    #[test]
    fn rejects_fdb_unknown_vni() {
        let mut c = base();
        c.fdb[0].vni = vni(7777);
        rejects(&c, "fdb[0].vni");
    }

    #[test]
    fn rejects_duplicate_fdb_entry() {
        let mut c = base();
        let mut dup = c.fdb[0].clone();
        dup.remote = Ipv4Addr::new(10, 0, 0, 3).into();
        c.fdb.push(dup.clone());
        rejects(&c, "fdb[1].mac");
        // The same MAC in another VNI is a different entry.
        c.fdb[1].vni = vni(5001);
        c.validate(CORES).unwrap();
    }

    #[test]
    fn rejects_multicast_fdb_mac() {
        let mut c = base();
        c.fdb[0].mac = mac("01:00:5e:00:00:01");
        rejects(&c, "fdb[0].mac");
        c.fdb[0].mac = MacAddr::BROADCAST;
        rejects(&c, "fdb[0].mac");
    }

    #[test]
    fn rejects_fdb_remote_self() {
        let mut c = base();
        c.fdb[0].remote = c.vtep.ipv4().into();
        rejects(&c, "fdb[0].remote");
    }

    #[test]
    fn rejects_duplicate_neighbor() {
        let mut c = base();
        c.neighbor.push(NeighborConfig {
            ip: Ipv4Addr::new(10, 0, 0, 2).into(),
            mac: mac("02:00:00:00:00:09"),
        });
        rejects(&c, "neighbor[1].ip");
    }

    #[test]
    fn rejects_multicast_neighbor_mac() {
        let mut c = base();
        c.neighbor[0].mac = MacAddr::BROADCAST;
        rejects(&c, "neighbor[0].mac");
    }

    #[test]
    fn rejects_no_vni() {
        let mut c = base();
        c.vni.clear();
        c.fdb.clear();
        rejects(&c, "vni");
        // Also straight from a file with no [[vni]] table.
        let text = "[vtep]\nip = \"10.0.0.1\"\n[ports]\naccess = \"a\"\nunderlay = \"u\"\n\
                    [workers]\ncores = [0]\n";
        let c = Config::from_toml_str(text).unwrap();
        rejects(&c, "vni");
    }

    #[test]
    fn rejects_empty_port_names() {
        let mut c = base();
        c.ports.access = String::new();
        rejects(&c, "ports.access");
        let mut c = base();
        c.ports.underlay = "  ".to_string();
        rejects(&c, "ports.underlay");
    }

    #[test]
    fn rejects_same_access_and_underlay() {
        let mut c = base();
        c.ports.underlay = c.ports.access.clone();
        rejects(&c, "ports.underlay");
    }

    #[test]
    fn rejects_remote_metrics_without_opt_in() {
        let mut c = base();
        c.metrics.listen = "0.0.0.0:9417".parse().unwrap();
        rejects(&c, "metrics.listen");
        c.metrics.listen = "[::]:9417".parse().unwrap();
        rejects(&c, "metrics.listen");
        c.metrics.allow_remote = true;
        c.validate(CORES).unwrap();
        c.metrics.allow_remote = false;
        c.metrics.listen = "[::1]:9417".parse().unwrap();
        c.validate(CORES).unwrap();
    }

    #[test]
    fn rejects_aging_zero() {
        let mut c = base();
        c.learning.aging_secs = 0;
        rejects(&c, "learning.aging_secs");
    }

    #[test]
    fn rejects_max_per_vni_over_total() {
        let mut c = base();
        c.learning.max_per_vni = c.learning.max_total + 1;
        rejects(&c, "learning.max_per_vni");
    }

    #[test]
    fn rejects_vni_max_learned_over_total() {
        let mut c = base();
        c.vni[0].max_learned = Some(c.learning.max_total + 1);
        rejects(&c, "vni[0].max_learned");
    }

    #[test]
    fn rejects_dpdk_sizing() {
        let mut c = base();
        c.dpdk.mempool_size = 0;
        rejects(&c, "dpdk.mempool_size");
        let mut c = base();
        c.dpdk.mempool_cache = 513;
        rejects(&c, "dpdk.mempool_cache");
        let mut c = base();
        c.dpdk.mempool_size = 255;
        rejects(&c, "dpdk.mempool_cache");
        let mut c = base();
        c.dpdk.rx_descriptors = 0;
        rejects(&c, "dpdk.rx_descriptors");
        let mut c = base();
        c.dpdk.tx_descriptors = 0;
        rejects(&c, "dpdk.tx_descriptors");
    }

    #[test]
    fn rejects_arp_retry_zero() {
        let mut c = base();
        c.arp.retry_ms = 0;
        rejects(&c, "arp.retry_ms");
    }

    #[test]
    fn rejects_empty_control_socket() {
        let mut c = base();
        c.control.socket = PathBuf::new();
        rejects(&c, "control.socket");
    }

    #[test]
    fn load_reports_io_error_with_path() {
        let err = Config::load(Path::new("/nonexistent/vxgate.toml")).unwrap_err();
        assert!(matches!(err, ConfigError::Io { .. }));
        assert!(
            err.to_string().starts_with("/nonexistent/vxgate.toml: "),
            "{err}"
        );
    }

    fn with_cluster(extra: &str) -> Config {
        Config::from_toml_str(&format!(
            "{BASE}\n[cluster]\netcd = [\"http://127.0.0.1:2379\"]\n{extra}"
        ))
        .unwrap()
    }

    #[test]
    fn cluster_defaults_and_modes() {
        let c = with_cluster("");
        c.validate(CORES).unwrap();
        let k = c.cluster.as_ref().unwrap();
        assert_eq!(k.prefix, "/vxgate");
        assert_eq!(k.lease_secs, 10);
        assert_eq!(k.mode, ClusterMode::Replicate);
        assert_eq!(k.member_name(c.vtep.vtep_addr()), "10.0.0.1");
        assert!(!c.vni[0].arp_suppress);
        let c = with_cluster("mode = \"on-demand\"\nname = \"gw-a\"");
        c.validate(CORES).unwrap();
        let k = c.cluster.as_ref().unwrap();
        assert_eq!(
            (k.mode, k.member_name(c.vtep.vtep_addr()).as_str()),
            (ClusterMode::OnDemand, "gw-a")
        );
        // Round trip through TOML keeps the section.
        let back = Config::from_toml_str(&c.to_toml_string().unwrap()).unwrap();
        assert_eq!(back, c);
        assert!(base().cluster.is_none());
    }

    #[test]
    fn cluster_rejections_name_their_key() {
        let text = format!("{BASE}\n[cluster]\netcd = [\"x\"]\nmode = \"gossip\"");
        parse_rejects(&text, "cluster.mode");
        let text = format!("{BASE}\n[cluster]\netcd = []\nleases = 3");
        parse_rejects(&text, "cluster.leases");
        let mut c = with_cluster("");
        c.cluster.as_mut().unwrap().etcd.clear();
        rejects(&c, "cluster.etcd");
        for bad in [
            "127.0.0.1:2379",
            "http://127.0.0.1",
            "http://:2379",
            "http://h:0",
            "http://h:1/x",
        ] {
            let mut c = with_cluster("");
            c.cluster.as_mut().unwrap().etcd = vec!["http://ok:1".into(), bad.into()];
            rejects(&c, "cluster.etcd[1]");
        }
        for bad in ["vxgate", "/vxgate/", "/vx gate", ""] {
            let mut c = with_cluster("");
            c.cluster.as_mut().unwrap().prefix = bad.into();
            rejects(&c, "cluster.prefix");
        }
        for bad in [0, 1, 3601] {
            let mut c = with_cluster("");
            c.cluster.as_mut().unwrap().lease_secs = bad;
            rejects(&c, "cluster.lease_secs");
        }
        rejects(&with_cluster("name = \"a/b\""), "cluster.name");
        rejects(&with_cluster("user = \"u\""), "cluster.password");
        rejects(&with_cluster("password = \"p\""), "cluster.user");
        rejects(
            &with_cluster("max_lookups_per_sec = 0"),
            "cluster.max_lookups_per_sec",
        );
        let mut c = with_cluster("");
        c.cluster.as_mut().unwrap().etcd = vec!["https://etcd:2379".into()];
        rejects(&c, "cluster.tls");
        rejects(
            &with_cluster("[cluster.tls]\nca = \"/nonexistent/ca.pem\""),
            "cluster.tls.ca",
        );
        rejects(
            &with_cluster("[cluster.tls]\nca = \"Cargo.toml\"\ncert = \"Cargo.toml\""),
            "cluster.tls.key",
        );
        with_cluster(
            "[cluster.tls]\nca = \"Cargo.toml\"\ncert = \"Cargo.toml\"\nkey = \"Cargo.toml\"",
        )
        .validate(CORES)
        .unwrap();
    }

    #[test]
    fn numa_nodes_come_from_sysfs() {
        assert_eq!(numa_node_of_core(1 << 20), None);
        let listed = std::fs::read_dir("/sys/devices/system/cpu/cpu0")
            .map(|d| {
                d.filter_map(Result::ok)
                    .any(|e| e.file_name().to_string_lossy().starts_with("node"))
            })
            .unwrap_or(false);
        assert_eq!(numa_node_of_core(0).is_some(), listed);
    }

    #[test]
    fn available_cores_is_not_empty() {
        assert!(!available_cores().is_empty());
    }
}
