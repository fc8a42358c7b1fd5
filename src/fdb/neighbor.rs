//! The underlay neighbour table (IPv4 and IPv6 → MAC), owned by the control thread.
//!
//! # Design
//! - Two layers. The ARP cache maps on-link addresses to MACs: `Static` (config or CLI),
//!   `Resolved` (learned from an ARP packet a worker saw), `Incomplete` (a request is out) or
//!   `Failed` (no answer after the retries; held down, then tried again on the next miss).
//!   The next-hop map is what the replicas hold: remote VTEP → MAC of the next hop.
//! - A remote VTEP's next hop is itself when it has a static entry, when it is inside the
//!   VTEP's subnet (`vtep_ip`/`prefix_len`) or when no gateway is configured; otherwise it is
//!   the gateway, and the MAC published for the VTEP is the gateway's.
//! - Workers report misses; the table starts resolving the next hop: one ARP request (IPv4)
//!   or Neighbor Solicitation (IPv6, RFC 4861 §7.2) right away, then one per `retry` interval
//!   up to `max_retries` more, then `Failed` for `hold_down`. Requests are returned as
//!   [`Delta::Solicit`] for the caller to give to worker 0 only.
//! - A multicast group needs no resolution: its MAC is derived from the address (RFC 1112
//!   §6.4 for IPv4, RFC 2464 §7 for IPv6) and published as soon as a flood list names it.
//! - Every method appends the deltas it causes to `out`; the caller publishes them. The
//!   next-hop map is diffed against what was published, so each change is sent once.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use super::control::FdbError;
use super::Delta;
use crate::types::MacAddr;

/// State of an ARP cache entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeighborState {
    Static,
    Resolved,
    Incomplete,
    Failed,
}

impl fmt::Display for NeighborState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NeighborState::Static => "static",
            NeighborState::Resolved => "resolved",
            NeighborState::Incomplete => "incomplete",
            NeighborState::Failed => "failed",
        })
    }
}

/// One row of a neighbour listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighborRow {
    pub ip: IpAddr,
    pub mac: Option<MacAddr>,
    pub state: NeighborState,
}

/// How the table resolves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighborConfig {
    pub vtep_ip: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Option<Ipv4Addr>,
    /// Time between two ARP requests for the same address.
    pub retry: Duration,
    /// Requests after the first before giving up.
    pub max_retries: u32,
    /// How long a failed address is left alone before a miss retries it.
    pub hold_down: Duration,
    /// The IPv6 underlay: this VTEP's address, its prefix length and the gateway.
    pub vtep_ip6: Option<Ipv6Addr>,
    pub prefix6_len: u8,
    pub gateway6: Option<Ipv6Addr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arp {
    Static(MacAddr),
    Resolved(MacAddr),
    Incomplete { sent: u32, next: Instant },
    Failed { until: Instant },
}

impl Arp {
    fn mac(&self) -> Option<MacAddr> {
        match self {
            Arp::Static(m) | Arp::Resolved(m) => Some(*m),
            _ => None,
        }
    }
}

/// Counters of the neighbour side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NeighborCounters {
    pub arp_requests: u64,
    pub failures: u64,
}

/// The underlay neighbour table.
pub struct NeighborTable {
    cfg: NeighborConfig,
    arp: BTreeMap<IpAddr, Arp>,
    /// Remote VTEPs the workers need (missed or statically configured).
    wanted: BTreeSet<IpAddr>,
    /// What the replicas hold: remote VTEP → next-hop MAC.
    published: BTreeMap<IpAddr, MacAddr>,
    counters: NeighborCounters,
}

impl NeighborTable {
    /// Changes how unresolved addresses are retried (a reload); resolutions under way keep
    /// their schedule and follow the new one from their next retry.
    pub fn set_retry(&mut self, retry: Duration, max_retries: u32, hold_down: Duration) {
        self.cfg.retry = retry;
        self.cfg.max_retries = max_retries;
        self.cfg.hold_down = hold_down;
    }

    pub fn new(cfg: NeighborConfig) -> NeighborTable {
        NeighborTable {
            cfg,
            arp: BTreeMap::new(),
            wanted: BTreeSet::new(),
            published: BTreeMap::new(),
            counters: NeighborCounters::default(),
        }
    }

    /// This gateway's own VTEP address.
    pub fn vtep_ip(&self) -> Ipv4Addr {
        self.cfg.vtep_ip
    }

    /// The address this gateway registers as its VTEP: the IPv4 one when it has one.
    pub fn own_vtep(&self) -> IpAddr {
        match (self.cfg.vtep_ip, self.cfg.vtep_ip6) {
            (v4, Some(v6)) if v4.is_unspecified() => IpAddr::V6(v6),
            (v4, _) => IpAddr::V4(v4),
        }
    }

    /// Whether this gateway has an address of `ip`'s family to tunnel from (`vtep.ip`,
    /// `vtep.ip6`).
    pub fn reaches(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(_) => !self.cfg.vtep_ip.is_unspecified(),
            IpAddr::V6(_) => self.cfg.vtep_ip6.is_some(),
        }
    }

    pub fn counters(&self) -> NeighborCounters {
        self.counters
    }
    /// Entries of the ARP cache.
    pub fn len(&self) -> usize {
        self.arp.len()
    }
    pub fn is_empty(&self) -> bool {
        self.arp.is_empty()
    }
    /// The next-hop MAC currently published for a remote VTEP.
    pub fn published(&self, remote: IpAddr) -> Option<MacAddr> {
        self.published.get(&remote).copied()
    }

    fn on_link(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(ip) => {
                let len = u32::from(self.cfg.prefix_len.min(32));
                let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
                u32::from(ip) & mask == u32::from(self.cfg.vtep_ip) & mask
            }
            IpAddr::V6(ip) => {
                let Some(own) = self.cfg.vtep_ip6 else {
                    return true;
                };
                let len = u32::from(self.cfg.prefix6_len.min(128));
                let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
                u128::from(ip) & mask == u128::from(own) & mask
            }
        }
    }

    /// The address to resolve to reach `remote`.
    fn via(&self, remote: IpAddr) -> IpAddr {
        if matches!(self.arp.get(&remote), Some(Arp::Static(_))) || self.on_link(remote) {
            return remote;
        }
        let gateway = match remote {
            IpAddr::V4(_) => self.cfg.gateway.map(IpAddr::V4),
            IpAddr::V6(_) => self.cfg.gateway6.map(IpAddr::V6),
        };
        gateway.unwrap_or(remote)
    }

    fn resolve(&self, remote: IpAddr) -> Option<MacAddr> {
        if let Some(mac) = MacAddr::for_multicast_ip(remote) {
            return Some(mac);
        }
        self.arp.get(&self.via(remote)).and_then(Arp::mac)
    }

    fn is_gateway(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(ip) => Some(ip) == self.cfg.gateway,
            IpAddr::V6(ip) => Some(ip) == self.cfg.gateway6,
        }
    }

    fn is_own(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(ip) => ip == self.cfg.vtep_ip || ip.is_broadcast(),
            IpAddr::V6(ip) => Some(ip) == self.cfg.vtep_ip6,
        }
    }

    /// Brings the published next hop of `remote` in line with the tables.
    fn sync(&mut self, remote: IpAddr, out: &mut Vec<Delta>) {
        let want = if self.wanted.contains(&remote) {
            self.resolve(remote)
        } else {
            None
        };
        match (self.published.get(&remote).copied(), want) {
            (old, Some(mac)) if old != Some(mac) => {
                self.published.insert(remote, mac);
                out.push(Delta::NeighborSet { ip: remote, mac });
            }
            (Some(_), None) => {
                self.published.remove(&remote);
                out.push(Delta::NeighborRemove { ip: remote });
            }
            _ => {}
        }
    }

    fn sync_all(&mut self, out: &mut Vec<Delta>) {
        let remotes: Vec<IpAddr> = self
            .wanted
            .iter()
            .chain(self.published.keys())
            .copied()
            .collect();
        for r in remotes {
            self.sync(r, out);
        }
    }

    fn request(&mut self, ip: IpAddr, now: Instant, out: &mut Vec<Delta>) {
        self.arp.insert(
            ip,
            Arp::Incomplete {
                sent: 1,
                next: now + self.cfg.retry,
            },
        );
        self.counters.arp_requests += 1;
        out.push(Delta::Solicit { ip });
    }

    /// A static entry: `ip` (a remote VTEP or the gateway) is at `mac`.
    pub fn add_static(&mut self, ip: IpAddr, mac: MacAddr, out: &mut Vec<Delta>) {
        self.arp.insert(ip, Arp::Static(mac));
        self.wanted.insert(ip);
        self.sync_all(out);
    }

    /// A neighbour resolved before a restart (warm restart): resolved again without asking,
    /// unless a static entry says otherwise. Its next hop is published once a tunnel wants it.
    pub fn restore(&mut self, ip: IpAddr, mac: MacAddr) {
        if mac.is_multicast() || mac.is_zero() || matches!(self.arp.get(&ip), Some(Arp::Static(_)))
        {
            return;
        }
        self.arp.insert(ip, Arp::Resolved(mac));
    }

    /// A static entry that left the configuration (a reload): it becomes a resolved entry
    /// with the same MAC, so tunnels through it keep forwarding, and one ARP request (or
    /// neighbour solicitation) checks it: an answer with another MAC replaces it. Returns
    /// whether `ip` was static.
    pub fn unpin(&mut self, ip: IpAddr, out: &mut Vec<Delta>) -> bool {
        let Some(Arp::Static(mac)) = self.arp.get(&ip).copied() else {
            return false;
        };
        self.arp.insert(ip, Arp::Resolved(mac));
        self.counters.arp_requests += 1;
        out.push(Delta::Solicit { ip });
        true
    }

    /// Deletes the ARP cache entry of `ip`, whatever its state.
    pub fn remove(&mut self, ip: IpAddr, out: &mut Vec<Delta>) -> Result<(), FdbError> {
        self.arp.remove(&ip).ok_or(FdbError::NeighborNotFound(ip))?;
        // Workers that still need it will miss and ask again.
        self.wanted.remove(&ip);
        self.sync_all(out);
        Ok(())
    }

    /// A worker needed the next hop of `remote` and did not have it.
    pub fn miss(&mut self, remote: IpAddr, now: Instant, out: &mut Vec<Delta>) {
        if self.is_own(remote) || remote.is_unspecified() {
            return;
        }
        self.wanted.insert(remote);
        if remote.is_multicast() {
            self.sync(remote, out);
            return;
        }
        let via = self.via(remote);
        match self.arp.get(&via) {
            None => self.request(via, now, out),
            Some(Arp::Failed { until }) if now >= *until => self.request(via, now, out),
            _ => {}
        }
        self.sync(remote, out);
    }

    /// An ARP packet said `ip` is at `mac`. Accepted for addresses being resolved or already
    /// known, and for the gateway; never overrides a static entry.
    pub fn seen(&mut self, ip: IpAddr, mac: MacAddr, out: &mut Vec<Delta>) {
        match self.arp.get(&ip) {
            Some(Arp::Static(_)) => return,
            Some(_) => {}
            None if self.is_gateway(ip) || self.wanted.contains(&ip) => {}
            None => return,
        }
        if mac.is_multicast() || mac.is_zero() {
            return;
        }
        self.arp.insert(ip, Arp::Resolved(mac));
        self.sync_all(out);
    }

    /// Runs due retries and gives up on addresses out of retries.
    pub fn tick(&mut self, now: Instant, out: &mut Vec<Delta>) {
        let due: Vec<(IpAddr, u32)> = self
            .arp
            .iter()
            .filter_map(|(ip, a)| match a {
                Arp::Incomplete { sent, next } if *next <= now => Some((*ip, *sent)),
                _ => None,
            })
            .collect();
        for (ip, sent) in due {
            if sent > self.cfg.max_retries {
                self.counters.failures += 1;
                self.arp.insert(
                    ip,
                    Arp::Failed {
                        until: now + self.cfg.hold_down,
                    },
                );
            } else {
                self.arp.insert(
                    ip,
                    Arp::Incomplete {
                        sent: sent + 1,
                        next: now + self.cfg.retry,
                    },
                );
                self.counters.arp_requests += 1;
                out.push(Delta::Solicit { ip });
            }
        }
    }

    /// The ARP cache, sorted by address.
    pub fn rows(&self) -> Vec<NeighborRow> {
        self.arp
            .iter()
            .map(|(ip, a)| NeighborRow {
                ip: *ip,
                mac: a.mac(),
                state: match a {
                    Arp::Static(_) => NeighborState::Static,
                    Arp::Resolved(_) => NeighborState::Resolved,
                    Arp::Incomplete { .. } => NeighborState::Incomplete,
                    Arp::Failed { .. } => NeighborState::Failed,
                },
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VTEP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));
    const FAR: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 9));
    const GW4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 254);
    const GW: IpAddr = IpAddr::V4(GW4);
    const M1: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
    const M2: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);

    fn table(gateway: Option<Ipv4Addr>) -> NeighborTable {
        NeighborTable::new(NeighborConfig {
            vtep_ip: VTEP,
            prefix_len: 24,
            gateway,
            retry: Duration::from_secs(1),
            max_retries: 3,
            hold_down: Duration::from_secs(5),
            vtep_ip6: Some("fd00::1".parse().unwrap()),
            prefix6_len: 64,
            gateway6: None,
        })
    }

    fn state(t: &NeighborTable, ip: IpAddr) -> Option<NeighborState> {
        t.rows().iter().find(|r| r.ip == ip).map(|r| r.state)
    }

    #[test]
    fn an_unpinned_static_entry_keeps_its_mac_and_is_checked_once() {
        let mut t = table(None);
        let mut out = Vec::new();
        t.add_static(PEER, M1, &mut out);
        assert_eq!(out, vec![Delta::NeighborSet { ip: PEER, mac: M1 }]);
        out.clear();
        assert!(t.unpin(PEER, &mut out));
        // No NeighborRemove: tunnels through it keep their next hop.
        assert_eq!(out, vec![Delta::Solicit { ip: PEER }]);
        assert_eq!(state(&t, PEER), Some(NeighborState::Resolved));
        // Not static any more: an answer with another MAC replaces it.
        out.clear();
        t.seen(PEER, M2, &mut out);
        assert_eq!(out, vec![Delta::NeighborSet { ip: PEER, mac: M2 }]);
        assert!(!t.unpin(PEER, &mut out), "only static entries are unpinned");
        assert!(!t.unpin(GW, &mut out));
    }

    #[test]
    fn groups_resolve_without_solicitation_and_ipv6_peers_are_solicited() {
        let mut t = table(None);
        let mut out = Vec::new();
        let now = Instant::now();
        let group: IpAddr = "239.1.1.1".parse().unwrap();
        t.miss(group, now, &mut out);
        assert_eq!(
            out,
            vec![Delta::NeighborSet {
                ip: group,
                mac: MacAddr([1, 0, 0x5e, 1, 1, 1])
            }]
        );
        out.clear();
        let v6: IpAddr = "fd00::2".parse().unwrap();
        t.miss(v6, now, &mut out);
        assert_eq!(out, vec![Delta::Solicit { ip: v6 }]);
        out.clear();
        t.seen(v6, M1, &mut out);
        assert_eq!(out, vec![Delta::NeighborSet { ip: v6, mac: M1 }]);
        // Our own IPv6 address is never resolved.
        out.clear();
        t.miss("fd00::1".parse().unwrap(), now, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn static_entry_is_published_and_not_overridden() {
        let mut t = table(None);
        let mut out = Vec::new();
        t.add_static(PEER, M1, &mut out);
        assert_eq!(out, vec![Delta::NeighborSet { ip: PEER, mac: M1 }]);
        out.clear();
        t.seen(PEER, M2, &mut out);
        assert!(out.is_empty());
        assert!(t.remove(PEER, &mut out).is_ok());
        assert_eq!(out, vec![Delta::NeighborRemove { ip: PEER }]);
        assert_eq!(
            t.remove(PEER, &mut out),
            Err(FdbError::NeighborNotFound(PEER))
        );
    }

    #[test]
    fn miss_retries_then_fails_then_retries_after_hold_down() {
        let mut t = table(None);
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut out = Vec::new();
        t.miss(PEER, t0, &mut out);
        t.miss(PEER, t0, &mut out);
        for i in 1..=6 {
            t.tick(t0 + s(i), &mut out);
        }
        assert_eq!(out, vec![Delta::Solicit { ip: PEER }; 4]);
        assert_eq!(state(&t, PEER), Some(NeighborState::Failed));
        out.clear();
        t.miss(PEER, t0 + s(6), &mut out); // held down until t0+9
        assert!(out.is_empty());
        t.miss(PEER, t0 + s(9), &mut out);
        assert_eq!(out, vec![Delta::Solicit { ip: PEER }]);
        assert_eq!(state(&t, PEER), Some(NeighborState::Incomplete));
        out.clear();
        t.seen(PEER, M1, &mut out);
        assert_eq!(out, vec![Delta::NeighborSet { ip: PEER, mac: M1 }]);
        assert_eq!(state(&t, PEER), Some(NeighborState::Resolved));
        assert_eq!(t.counters().failures, 1);
    }

    #[test]
    fn off_subnet_resolves_through_gateway() {
        let mut t = table(Some(GW4));
        let t0 = Instant::now();
        let mut out = Vec::new();
        t.miss(FAR, t0, &mut out);
        assert_eq!(out, vec![Delta::Solicit { ip: GW }]);
        out.clear();
        t.seen(GW, M2, &mut out);
        assert_eq!(out, vec![Delta::NeighborSet { ip: FAR, mac: M2 }]);
        out.clear();
        // A second far VTEP needs no new request.
        let far2 = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 5));
        t.miss(far2, t0, &mut out);
        assert_eq!(out, vec![Delta::NeighborSet { ip: far2, mac: M2 }]);
        out.clear();
        // The gateway's MAC changes: every VTEP behind it follows.
        t.seen(GW, M1, &mut out);
        assert_eq!(out.len(), 2);
        assert!(out.contains(&Delta::NeighborSet { ip: FAR, mac: M1 }));
        out.clear();
        // Unsolicited ARP for an unknown address is ignored.
        t.seen(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 99)), M1, &mut out);
        assert!(out.is_empty());
        assert_eq!(t.len(), 1);
        // Without a gateway, a far VTEP is asked for directly.
        let mut t = table(None);
        t.miss(FAR, t0, &mut out);
        assert_eq!(out, vec![Delta::Solicit { ip: FAR }]);
    }
}
