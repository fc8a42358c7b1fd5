//! The control socket's wire protocol: one JSON object per line each way.
//!
//! A client writes a [`Request`] line and reads one [`Response`] line; it may send several
//! requests on one connection. Requests carry addresses as strings so that every value is
//! validated by the newtypes' `FromStr` on the server ([`Request::validate`]); a bad value is
//! answered with [`Response::Error`] and changes nothing.
//!
//! ```text
//! {"op":"fdb_add","vni":100,"mac":"02:00:00:00:00:01","remote":"192.0.2.2"}
//! {"status":"ok","body":{"generation":7,"applied_generation":7}}
//! ```

use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

use crate::fdb::FdbKey;
use crate::metrics::rates::{Rates, Traffic};
use crate::metrics::{DeviceStats, FdbSummary, Quantiles};
use crate::types::{MacAddr, Vni};

/// Longest accepted request line, newline included (what the server reads from a client).
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// Longest accepted response line: the gateway's own answer, which grows with its tables
/// (`fdb list` of a million entries is ~150 MB), so the client's bound is far larger.
pub const MAX_RESPONSE_BYTES: usize = 1 << 29;

/// What the CLI can ask.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    FdbList {
        #[serde(default)]
        vni: Option<u32>,
    },
    FdbAdd {
        vni: u32,
        mac: String,
        remote: String,
    },
    FdbDel {
        vni: u32,
        mac: String,
    },
    FdbFlush {
        #[serde(default)]
        vni: Option<u32>,
    },
    NeighborList,
    TunnelList,
    NeighborAdd {
        ip: String,
        mac: String,
    },
    NeighborDel {
        ip: String,
    },
    Stats,
    ClusterStatus,
    Ping,
    /// Re-read the configuration file the gateway was started with and apply it.
    Reload,
    /// Many FDB changes in one request, applied in order and answered once every replica
    /// has them all (at most [`MAX_BATCH`]).
    FdbBatch {
        changes: Vec<FdbChange>,
    },
}

/// Changes one [`Request::FdbBatch`] may carry.
pub const MAX_BATCH: usize = 10_000;

/// One change of a batch: `{"op":"add","vni":5000,"mac":"…","remote":"…"}` or
/// `{"op":"del","vni":5000,"mac":"…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum FdbChange {
    Add {
        vni: u32,
        mac: String,
        remote: String,
    },
    Del {
        vni: u32,
        mac: String,
    },
}

/// A validated batch change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchOp {
    Add { key: FdbKey, remote: IpAddr },
    Del { key: FdbKey },
}

/// A request whose values passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    FdbList { vni: Option<Vni> },
    FdbAdd { key: FdbKey, remote: IpAddr },
    FdbDel { key: FdbKey },
    FdbFlush { vni: Option<Vni> },
    NeighborList,
    TunnelList,
    NeighborAdd { ip: IpAddr, mac: MacAddr },
    NeighborDel { ip: IpAddr },
    Stats,
    ClusterStatus,
    Ping,
    Reload,
    FdbBatch(Vec<BatchOp>),
}

impl Command {
    /// Whether the command changes the tables (and so waits for the replicas).
    pub fn is_mutation(&self) -> bool {
        matches!(
            self,
            Command::FdbAdd { .. }
                | Command::FdbDel { .. }
                | Command::FdbFlush { .. }
                | Command::NeighborAdd { .. }
                | Command::NeighborDel { .. }
                | Command::Reload
                | Command::FdbBatch(_)
        )
    }
}

fn vni(v: u32) -> Result<Vni, String> {
    Vni::try_from(u64::from(v)).map_err(|e| e.to_string())
}
fn mac(s: &str) -> Result<MacAddr, String> {
    s.parse::<MacAddr>().map_err(|e| e.to_string())
}
/// A MAC usable as an FDB key: unicast and not all-zero.
fn unicast_mac(s: &str) -> Result<MacAddr, String> {
    let m = mac(s)?;
    if m.is_multicast() || m.is_zero() {
        return Err(format!(
            "{m} is not a unicast MAC address (FDB entries are per unicast MAC)"
        ));
    }
    Ok(m)
}

/// A remote VTEP or neighbour address: a unicast host address of either family.
fn unicast_ip(s: &str) -> Result<IpAddr, String> {
    let ip = s
        .trim()
        .parse::<IpAddr>()
        .map_err(|_| format!("'{s}' is not an IPv4 or IPv6 address"))?;
    let broadcast = matches!(ip, IpAddr::V4(a) if a.is_broadcast());
    if ip.is_unspecified() || broadcast || ip.is_multicast() {
        return Err(format!("{ip} is not a unicast address"));
    }
    Ok(ip)
}

impl FdbChange {
    /// Parses the change's strings through the newtypes, as [`Request::validate`] does.
    pub fn validate(&self) -> Result<BatchOp, String> {
        Ok(match self {
            FdbChange::Add {
                vni: v,
                mac: m,
                remote,
            } => BatchOp::Add {
                key: FdbKey::new(vni(*v)?, unicast_mac(m)?),
                remote: unicast_ip(remote)?,
            },
            FdbChange::Del { vni: v, mac: m } => BatchOp::Del {
                key: FdbKey::new(vni(*v)?, unicast_mac(m)?),
            },
        })
    }
}

impl Request {
    /// Parses every string through the newtypes; the error text is meant for the operator.
    pub fn validate(&self) -> Result<Command, String> {
        Ok(match self {
            Request::FdbList { vni: v } => Command::FdbList {
                vni: v.map(vni).transpose()?,
            },
            Request::FdbAdd {
                vni: v,
                mac: m,
                remote,
            } => Command::FdbAdd {
                key: FdbKey::new(vni(*v)?, unicast_mac(m)?),
                remote: unicast_ip(remote)?,
            },
            Request::FdbDel { vni: v, mac: m } => Command::FdbDel {
                key: FdbKey::new(vni(*v)?, unicast_mac(m)?),
            },
            Request::FdbFlush { vni: v } => Command::FdbFlush {
                vni: v.map(vni).transpose()?,
            },
            Request::NeighborList => Command::NeighborList,
            Request::TunnelList => Command::TunnelList,
            Request::NeighborAdd { ip, mac: m } => Command::NeighborAdd {
                ip: unicast_ip(ip)?,
                mac: unicast_mac(m)?,
            },
            Request::NeighborDel { ip } => Command::NeighborDel {
                ip: unicast_ip(ip)?,
            },
            Request::Stats => Command::Stats,
            Request::ClusterStatus => Command::ClusterStatus,
            Request::Ping => Command::Ping,
            Request::Reload => Command::Reload,
            Request::FdbBatch { changes } => {
                if changes.len() > MAX_BATCH {
                    return Err(format!(
                        "{} changes in one batch; at most {MAX_BATCH}",
                        changes.len()
                    ));
                }
                // All or nothing: one bad value and no change is made.
                let ops = changes
                    .iter()
                    .enumerate()
                    .map(|(i, c)| c.validate().map_err(|e| format!("change {i}: {e}")))
                    .collect::<Result<Vec<_>, String>>()?;
                Command::FdbBatch(ops)
            }
        })
    }
}

/// One FDB entry as shown to operators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FdbEntry {
    pub vni: u32,
    pub mac: String,
    pub remote: IpAddr,
    /// "static", "learned", "local" or "remote".
    pub kind: String,
    pub age_secs: u64,
    /// Where the entry came from: the fleet member that published a remote entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// IPv4 addresses known for the MAC (ARP suppression answers for these).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<Ipv4Addr>,
}

/// One member of the fleet, as `vxgate cluster status` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberEntry {
    pub name: String,
    pub vtep: IpAddr,
    pub vnis: Vec<u32>,
    pub version: String,
}

/// `vxgate cluster status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ClusterStatus {
    /// False when `[cluster]` is not configured (everything else is then empty).
    pub enabled: bool,
    pub member: String,
    pub mode: String,
    pub endpoints: Vec<String>,
    pub prefix: String,
    pub connected: bool,
    pub lease_id: i64,
    pub lease_secs: u64,
    pub last_resync_unix: u64,
    pub last_resync_ms: u64,
    pub last_resync_keys: u64,
    pub resyncs: u64,
    pub puts: u64,
    pub deletes: u64,
    pub watch_events: u64,
    pub errors: u64,
    pub lookups: u64,
    pub local_entries: u64,
    pub remote_entries: u64,
    pub arp_bindings: u64,
    pub miss_latency_last_us: u64,
    pub miss_latency_avg_us: u64,
    pub detail: String,
    /// The other members, by name.
    pub members: Vec<MemberEntry>,
}

/// One underlay neighbour entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeighborEntry {
    pub ip: IpAddr,
    pub mac: Option<String>,
    /// "static", "resolved", "incomplete" or "failed".
    pub state: String,
}

/// One row of the tunnel table, as `vxgate tunnel list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelEntry {
    pub id: u32,
    /// The remote VTEP or multicast group.
    pub remote: IpAddr,
    /// The next hop's MAC, when resolved.
    pub next_hop: Option<String>,
    /// FDB entries and VNI flood lists that name the tunnel.
    pub fdb_entries: u64,
    pub flood_vnis: u64,
    /// Inner frames and their bytes, summed over the workers.
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub rx_packets: u64,
    pub rx_bytes: u64,
}

/// One worker's counters and latency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerStats {
    pub worker: usize,
    pub access: Traffic,
    pub underlay: Traffic,
    pub encap_packets: u64,
    pub decap_packets: u64,
    pub flood_packets: u64,
    pub drops: u64,
    pub learn_events_dropped: u64,
    pub applied_generation: u64,
    /// Latency of the last window.
    pub latency: Quantiles,
}

/// Everything `vxgate stats` shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsSnapshot {
    pub version: String,
    pub uptime_secs: u64,
    pub ports: (String, String),
    pub workers: Vec<WorkerStats>,
    /// Totals since start, by reason (every reason).
    pub drops_by_reason: Vec<(String, u64)>,
    /// Rates over the last interval (about a second).
    pub rates: Option<Rates>,
    pub fdb: FdbSummary,
    pub min_applied_generation: u64,
    pub devices: Vec<(String, DeviceStats)>,
    pub mempool: Option<(u64, u64)>,
}

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", content = "body", rename_all = "snake_case")]
pub enum Response {
    /// Done. For a change: the generation that carries it and the generation every replica
    /// has applied (>= generation).
    Ok {
        generation: Option<u64>,
        applied_generation: Option<u64>,
    },
    Fdb(Vec<FdbEntry>),
    Neighbors(Vec<NeighborEntry>),
    Tunnels(Vec<TunnelEntry>),
    Stats(Box<StatsSnapshot>),
    Cluster(Box<ClusterStatus>),
    /// A batch every replica applied: changes made, changes refused (with the first reasons),
    /// the generation that carries them and the generation every replica has applied.
    Batch {
        changed: u64,
        failed: u64,
        errors: Vec<String>,
        generation: u64,
        applied_generation: u64,
    },
    /// A reload every worker applied: what changed, the generation that carries it, the
    /// generation every replica has applied, and how long it took.
    Reloaded {
        summary: String,
        generation: u64,
        applied_generation: u64,
        millis: f64,
    },
    Error {
        message: String,
    },
}

impl Response {
    pub fn ok() -> Response {
        Response::Ok {
            generation: None,
            applied_generation: None,
        }
    }
    pub fn error(message: impl Into<String>) -> Response {
        Response::Error {
            message: message.into(),
        }
    }
}

/// Encodes a value as one JSON line (with the trailing newline).
pub fn to_line<T: Serialize>(v: &T) -> Result<String, serde_json::Error> {
    let mut s = serde_json::to_string(v)?;
    s.push('\n');
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_requests() -> Vec<Request> {
        vec![
            Request::FdbList { vni: None },
            Request::FdbList { vni: Some(100) },
            Request::FdbAdd {
                vni: 100,
                mac: "02:00:00:00:00:01".into(),
                remote: "192.0.2.2".into(),
            },
            Request::FdbDel {
                vni: 100,
                mac: "02:00:00:00:00:01".into(),
            },
            Request::FdbFlush { vni: None },
            Request::NeighborList,
            Request::NeighborAdd {
                ip: "192.0.2.1".into(),
                mac: "02:00:00:00:00:fe".into(),
            },
            Request::NeighborDel {
                ip: "192.0.2.1".into(),
            },
            Request::Stats,
            Request::Ping,
            Request::Reload,
        ]
    }

    #[test]
    fn requests_round_trip_and_validate() {
        for r in all_requests() {
            let line = to_line(&r).unwrap();
            assert!(line.ends_with('\n') && !line[..line.len() - 1].contains('\n'));
            let back: Request = serde_json::from_str(&line).unwrap();
            assert_eq!(back, r);
            assert!(r.validate().is_ok(), "{r:?}");
        }
        let r: Request = serde_json::from_str(r#"{"op":"fdb_list"}"#).unwrap();
        assert_eq!(r, Request::FdbList { vni: None });
    }

    #[test]
    fn responses_round_trip() {
        let rs = vec![
            Response::Ok {
                generation: Some(3),
                applied_generation: Some(4),
            },
            Response::Fdb(vec![FdbEntry {
                vni: 5,
                mac: "02:00:00:00:00:01".into(),
                remote: Ipv4Addr::new(192, 0, 2, 9).into(),
                kind: "static".into(),
                age_secs: 0,
                origin: None,
                ips: vec![],
            }]),
            Response::Neighbors(vec![NeighborEntry {
                ip: Ipv4Addr::new(192, 0, 2, 1).into(),
                mac: None,
                state: "incomplete".into(),
            }]),
            Response::Reloaded {
                summary: "VNIs added: 200".into(),
                generation: 9,
                applied_generation: 9,
                millis: 1.5,
            },
            Response::error("nope"),
        ];
        for r in rs {
            let back: Response = serde_json::from_str(&to_line(&r).unwrap()).unwrap();
            assert_eq!(back, r);
        }
    }

    #[test]
    fn bad_values_rejected() {
        let bad = [
            Request::FdbAdd {
                vni: 100,
                mac: "02:00:00:00:00".into(),
                remote: "192.0.2.2".into(),
            },
            Request::FdbAdd {
                vni: 0,
                mac: "02:00:00:00:00:01".into(),
                remote: "192.0.2.2".into(),
            },
            Request::FdbAdd {
                vni: 1 << 24,
                mac: "02:00:00:00:00:01".into(),
                remote: "192.0.2.2".into(),
            },
            Request::FdbAdd {
                vni: 1,
                mac: "ff:ff:ff:ff:ff:ff".into(),
                remote: "192.0.2.2".into(),
            },
            Request::FdbAdd {
                vni: 1,
                mac: "02:00:00:00:00:01".into(),
                remote: "192.0.2".into(),
            },
            Request::FdbAdd {
                vni: 1,
                mac: "02:00:00:00:00:01".into(),
                remote: "0.0.0.0".into(),
            },
            Request::FdbDel {
                vni: 1,
                mac: "zz:00:00:00:00:01".into(),
            },
            Request::FdbList { vni: Some(0) },
            Request::NeighborAdd {
                ip: "224.0.0.1".into(),
                mac: "02:00:00:00:00:01".into(),
            },
            Request::NeighborDel { ip: "x".into() },
            Request::FdbAdd {
                vni: 1,
                mac: "02:00:00:00:00:01".into(),
                remote: "ff02::1".into(),
            },
        ];
        for r in bad {
            assert!(r.validate().is_err(), "{r:?}");
        }
        // IPv6 VTEPs and neighbours are addresses like any other.
        let v6 = Request::FdbAdd {
            vni: 1,
            mac: "02:00:00:00:00:01".into(),
            remote: "fd00::2".into(),
        };
        assert!(matches!(
            v6.validate(),
            Ok(Command::FdbAdd { remote, .. }) if remote == "fd00::2".parse::<IpAddr>().unwrap()
        ));
        let n6 = Request::NeighborDel {
            ip: "fd00::1".into(),
        };
        assert!(n6.validate().is_ok());
        assert_eq!(Request::TunnelList.validate(), Ok(Command::TunnelList));
        // Unknown ops and unknown fields do not parse.
        assert!(serde_json::from_str::<Request>(r#"{"op":"reboot"}"#).is_err());
        assert!(serde_json::from_str::<Request>(
            r#"{"op":"fdb_del","vni":1,"mac":"02:00:00:00:00:01","x":1}"#
        )
        .is_err());
        assert!(serde_json::from_str::<Request>(r#"{"op":"fdb_add","vni":-1}"#).is_err());
    }
}
