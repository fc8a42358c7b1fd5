//! The control plane of the FDB: the single writer of the authoritative tables.
//!
//! # Contract
//! - [`ControlPlane`] runs on the control thread and owns the authoritative FDB
//!   ([`FdbTable`]) and neighbour table ([`NeighborTable`]). Nothing else writes them.
//! - Every change is published to every worker as a [`Versioned`] delta; generations increase
//!   by one per delta and are the same on every worker. ARP requests go to worker 0 only and
//!   carry the current generation unchanged, so they never make another worker look behind.
//! - Publishing never blocks and never loses: when a worker's ring is full, its deltas wait in
//!   a per-worker backlog (control side, may allocate) that [`ControlPlane::poll`] pushes
//!   first, in order.
//! - Time is whatever the caller passes to `poll(now)`; changes made between polls are stamped
//!   with the last `now` seen, so tests drive the clock.
//! - A new control plane holds nothing: the integrator adds the configuration's static FDB
//!   and neighbour entries through `add_static` / `neighbor_add`.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::neighbor::{NeighborConfig, NeighborTable};
use super::replica::{WorkerLink, DEFAULT_FDB_CAPACITY};
use super::source::{Member, RemoteEntry, SourceRequest, SourceUpdate};
use super::state::{SavedEntry, SavedNeighbor, SavedState, STATE_VERSION};
use super::table::{FdbTable, LearnOutcome};
use super::tunnel::TunnelTable;
use super::{Delta, Event, FdbKey, Versioned, LOCAL, LOCAL_ADDR};
use crate::types::{MacAddr, TunnelId, Vni};

pub use super::neighbor::{NeighborRow, NeighborState};
pub use super::table::{EntryKind, FdbRow, FlapDamping, VniPolicy};

/// Default ageing time of learned entries.
pub const DEFAULT_AGING: Duration = Duration::from_secs(300);
/// Default interval between two ARP requests for one address.
pub const DEFAULT_ARP_RETRY: Duration = Duration::from_secs(1);
/// Default number of ARP retries after the first request.
pub const DEFAULT_ARP_MAX_RETRIES: u32 = 3;
/// A failed address is held down for this many retry intervals before a miss retries it.
pub const ARP_HOLD_DOWN_INTERVALS: u32 = 10;

/// Why a control-plane request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FdbError {
    #[error("no FDB entry for {mac} in VNI {vni}")]
    NotFound { vni: Vni, mac: MacAddr },
    #[error("VNI {0} is not configured")]
    UnknownVni(Vni),
    #[error("{mac} in VNI {vni} is a static entry and cannot be replaced by a remote one")]
    StaticEntry { vni: Vni, mac: MacAddr },
    #[error("the FDB is full ({max} entries)")]
    TableFull { max: usize },
    #[error("no neighbour entry for {0}")]
    NeighborNotFound(IpAddr),
    #[error("the tunnel table is full ({} tunnels)", TunnelId::CAPACITY - 1)]
    TunnelsFull,
    #[error("{remote} needs {key} on this gateway (it has no address of that family)")]
    NoAddressFamily { remote: IpAddr, key: &'static str },
}

/// Settings of the control plane, from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdbSettings {
    pub aging: Duration,
    pub max_learned_total: usize,
    pub vni_policy: BTreeMap<Vni, VniPolicy>,
    pub vtep_ip: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Option<Ipv4Addr>,
    /// The IPv6 underlay, when configured: address, prefix length, gateway.
    pub vtep_ip6: Option<std::net::Ipv6Addr>,
    pub prefix6_len: u8,
    pub gateway6: Option<std::net::Ipv6Addr>,
    pub arp_retry: Duration,
    pub arp_max_retries: u32,
    /// Configured flood lists: unicast VTEPs and the VNI's multicast group, published into
    /// every replica at start.
    pub flood: BTreeMap<Vni, Vec<IpAddr>>,
    /// When a flapping MAC is frozen in place.
    pub flap: FlapDamping,
}

impl Default for FdbSettings {
    fn default() -> Self {
        FdbSettings {
            aging: DEFAULT_AGING,
            max_learned_total: DEFAULT_FDB_CAPACITY,
            vni_policy: BTreeMap::new(),
            vtep_ip: Ipv4Addr::UNSPECIFIED,
            prefix_len: 24,
            gateway: None,
            vtep_ip6: None,
            prefix6_len: 64,
            gateway6: None,
            arp_retry: DEFAULT_ARP_RETRY,
            arp_max_retries: DEFAULT_ARP_MAX_RETRIES,
            flood: BTreeMap::new(),
            flap: FlapDamping::default(),
        }
    }
}

/// IPv4 addresses remembered per local MAC (ARP and IPv4 sources seen), at most.
pub const MAX_IPS_PER_MAC: usize = 4;

/// How the control plane takes part in a fleet (see `fdb::source`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetSettings {
    /// This gateway's member name: the source's reports of its own entries are ignored.
    pub member: Arc<str>,
    /// VNIs whose ARP requests workers answer from their replica.
    pub arp_suppress: BTreeSet<Vni>,
    /// Look misses up in the source instead of holding every remote entry.
    pub on_demand: bool,
    /// On-demand: how long a key the source does not have is not asked for again.
    pub negative: Duration,
    /// On-demand: lookups per second at most.
    pub max_lookups_per_sec: u32,
    /// Whether a source is attached (requests are queued for it only then).
    pub has_source: bool,
}

impl Default for FleetSettings {
    fn default() -> Self {
        FleetSettings {
            member: Arc::from(""),
            arp_suppress: BTreeSet::new(),
            on_demand: false,
            negative: Duration::from_secs(5),
            max_lookups_per_sec: 1000,
            has_source: false,
        }
    }
}

/// Fleet counters, for `/metrics` and `vxgate cluster status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FleetStats {
    pub members: u64,
    pub local_published: u64,
    pub local_withdrawn: u64,
    pub remote_applied: u64,
    pub remote_withdrawn: u64,
    pub snapshots: u64,
    pub lookups: u64,
    pub lookups_found: u64,
    pub lookups_negative: u64,
    pub lookups_rate_limited: u64,
    /// Miss reported by a worker → entry installed, summed and last, in microseconds.
    pub miss_latency_sum_us: u64,
    pub miss_latency_count: u64,
    pub miss_latency_last_us: u64,
    pub miss_latency_max_us: u64,
    pub arp_bindings: u64,
    pub flood_members: u64,
}

/// One row of `vxgate tunnel list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunnelRow {
    pub id: TunnelId,
    pub remote: IpAddr,
    /// The next hop's MAC as published (the group MAC for a multicast group).
    pub next_hop: Option<MacAddr>,
    /// FDB entries that name it.
    pub fdb_entries: u64,
    /// VNIs that flood to it.
    pub flood_vnis: u64,
}

/// What the fleet knows of an entry beyond the table: who published it, its addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct EntryInfo {
    origin: Option<Arc<str>>,
    ips: Vec<Ipv4Addr>,
}

/// An on-demand lookup in flight, or a negative answer being remembered.
#[derive(Debug, Clone, Copy)]
struct Lookup {
    since: Instant,
    negative: bool,
}

/// Counters for `/metrics` and the CLI.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FdbStats {
    pub static_entries: u64,
    pub learned_entries: u64,
    pub remote_entries: u64,
    pub learn_events: u64,
    pub moves: u64,
    /// Unknown VNI, a static/remote entry in the way, or a limit reached.
    pub learn_rejected: u64,
    pub aged_out: u64,
    pub neighbor_entries: u64,
    pub published_generation: u64,
    /// Learn events for a VNI with learning off (added field).
    pub learn_ignored: u64,
    /// Deltas waiting in worker backlogs (added field).
    pub backlog_deltas: u64,
    /// ARP requests asked of worker 0 (added field).
    pub arp_requests: u64,
    /// Entries behind this gateway's access side (added field).
    pub local_entries: u64,
    /// Addresses that got no tunnel because the tunnel table was full (added field).
    pub tunnels_full: u64,
    /// Entries frozen for flapping, and the moves dropped while frozen (added fields).
    pub flaps_damped: u64,
    pub moves_suppressed: u64,
}

/// The single writer of the FDB and neighbour tables.
pub struct ControlPlane {
    table: FdbTable,
    neighbors: NeighborTable,
    links: Vec<WorkerLink>,
    backlogs: Vec<VecDeque<Versioned>>,
    generation: u64,
    now: Instant,
    aging_scan: Duration,
    last_aging_scan: Instant,
    /// Reused buffers (drained events, neighbour deltas).
    events: Vec<Event>,
    pending: Vec<Delta>,
    fleet: FleetSettings,
    info: HashMap<FdbKey, EntryInfo>,
    /// ARP bindings published to the replicas.
    arp_bound: HashMap<(Vni, Ipv4Addr), MacAddr>,
    members: BTreeMap<Arc<str>, Member>,
    /// Fleet members published into each VNI's flood list.
    flood_published: BTreeMap<Vni, BTreeSet<IpAddr>>,
    /// Configured flood lists (fleet members already in them are not added again).
    static_flood: BTreeMap<Vni, Vec<IpAddr>>,
    tunnels: TunnelTable,
    /// Changes every time a tunnel is created or retired (for the metrics' label cache).
    tunnel_epoch: u64,
    tunnel_errors: u64,
    /// Next hops of new tunnels, to start resolving at the end of the current or next poll.
    to_prepare: Vec<IpAddr>,
    lookups: HashMap<FdbKey, Lookup>,
    lookup_window: (Instant, u32),
    requests: Vec<SourceRequest>,
    fleet_stats: FleetStats,
}

impl ControlPlane {
    /// A control plane publishing to `links` (one per worker, in worker order). It bounds the
    /// FDB at [`DEFAULT_FDB_CAPACITY`] entries, the default replica size; see
    /// [`ControlPlane::with_max_entries`].
    pub fn new(settings: FdbSettings, links: Vec<WorkerLink>) -> ControlPlane {
        let mut cp = Self::empty(&settings, links);
        // Each new tunnel's next hop is resolved at the first poll, after the integrator added
        // the static neighbours.
        for (vni, list) in &settings.flood {
            for ip in list {
                if let Some(tunnel) = cp.tunnel(*ip) {
                    cp.publish(Delta::FloodAdd { vni: *vni, tunnel });
                }
            }
        }
        cp.static_flood = settings.flood;
        cp
    }

    fn empty(settings: &FdbSettings, links: Vec<WorkerLink>) -> ControlPlane {
        let now = Instant::now();
        let retry = settings.arp_retry.max(Duration::from_millis(1));
        let backlogs = links.iter().map(|_| VecDeque::new()).collect();
        let mut table = FdbTable::new(
            settings.vni_policy.clone(),
            settings.max_learned_total,
            DEFAULT_FDB_CAPACITY,
            settings.aging,
        );
        table.set_flap_damping(settings.flap);
        ControlPlane {
            table,
            neighbors: NeighborTable::new(NeighborConfig {
                vtep_ip: settings.vtep_ip,
                prefix_len: settings.prefix_len,
                gateway: settings.gateway,
                retry,
                max_retries: settings.arp_max_retries,
                hold_down: retry.saturating_mul(ARP_HOLD_DOWN_INTERVALS),
                vtep_ip6: settings.vtep_ip6,
                prefix6_len: settings.prefix6_len,
                gateway6: settings.gateway6,
            }),
            links,
            backlogs,
            generation: 0,
            now,
            // Ageing is exact to a fraction of the ageing time, scanned at most once a second.
            aging_scan: (settings.aging / 8).min(Duration::from_secs(1)),
            last_aging_scan: now,
            events: Vec::new(),
            pending: Vec::new(),
            fleet: FleetSettings::default(),
            info: HashMap::new(),
            arp_bound: HashMap::new(),
            members: BTreeMap::new(),
            flood_published: BTreeMap::new(),
            static_flood: BTreeMap::new(),
            tunnels: TunnelTable::default(),
            tunnel_epoch: 0,
            tunnel_errors: 0,
            to_prepare: Vec::new(),
            lookups: HashMap::new(),
            lookup_window: (now, 0),
            requests: Vec::new(),
            fleet_stats: FleetStats::default(),
        }
    }

    /// Takes part in a fleet (ARP suppression works without one too: local snooping).
    pub fn with_fleet(mut self, fleet: FleetSettings) -> ControlPlane {
        self.fleet = fleet;
        self
    }

    /// Bounds the FDB (all kinds together) at `max_entries`; set it to the replicas' capacity
    /// (`channel_with_capacity`) so no replica ever refuses an insert.
    pub fn with_max_entries(mut self, max_entries: usize) -> ControlPlane {
        self.table.set_max_entries(max_entries);
        self
    }

    /// Sends `delta` to every worker under a new generation.
    fn publish(&mut self, delta: Delta) {
        self.generation += 1;
        let v = Versioned {
            generation: self.generation,
            delta,
        };
        for i in 0..self.links.len() {
            self.send(i, v);
        }
    }

    /// The tunnel towards `ip`, created (and published, with its next hop when already known)
    /// when missing. A full table is swept for unused rows once before giving up.
    fn tunnel(&mut self, ip: IpAddr) -> Option<TunnelId> {
        let r = match self.tunnels.ensure(ip) {
            Err(_) => {
                self.collect_tunnels();
                self.tunnels.ensure(ip)
            }
            ok => ok,
        };
        let Ok((id, new)) = r else {
            self.tunnel_errors += 1;
            return None;
        };
        if new {
            self.tunnel_epoch += 1;
            self.publish(Delta::TunnelSet { id, remote: ip });
            match self.neighbors.published(ip) {
                Some(mac) => self.publish(Delta::NeighborSet { ip, mac }),
                // Resolve it now: a learned VTEP's first unicast frame follows the learn
                // event closely, and would be dropped waiting for a worker to miss.
                None => self.to_prepare.push(ip),
            }
        }
        Some(id)
    }

    /// Retires every tunnel nothing names any more: no FDB entry, no flood list. Runs when
    /// the table is full, so its scan of the FDB is rare.
    fn collect_tunnels(&mut self) {
        let mut used: BTreeSet<IpAddr> = self.table.remotes();
        used.extend(self.static_flood.values().flatten().copied());
        used.extend(self.flood_published.values().flatten().copied());
        let unused: Vec<TunnelId> = self
            .tunnels
            .iter()
            .filter(|(_, ip)| !used.contains(ip))
            .map(|(id, _)| id)
            .collect();
        for id in unused {
            self.tunnels.remove(id);
            self.tunnel_epoch += 1;
            self.publish(Delta::TunnelRemove { id });
        }
    }

    /// Publishes `key` → `remote` (a local entry when `remote` is [`LOCAL_ADDR`]).
    fn publish_fdb(&mut self, key: FdbKey, remote: IpAddr) {
        let tunnel = if remote == LOCAL_ADDR {
            Some(LOCAL)
        } else {
            self.tunnel(remote)
        };
        match tunnel {
            Some(tunnel) => self.publish(Delta::FdbSet { key, tunnel }),
            // No row for it: the entry goes (from the table too, so the replicas stay equal
            // to it) rather than forwarding to where the MAC was before.
            None => {
                let _ = self.table.remove(key);
                self.publish(Delta::FdbRemove { key });
            }
        }
    }

    /// Adds `ip` to the flood list of `vni` in every replica.
    fn flood_add(&mut self, vni: Vni, ip: IpAddr) {
        if let Some(tunnel) = self.tunnel(ip) {
            self.prepare_next_hop(ip);
            self.publish(Delta::FloodAdd { vni, tunnel });
        }
    }

    fn flood_remove(&mut self, vni: Vni, ip: IpAddr) {
        if let Some(tunnel) = self.tunnels.get(ip) {
            self.publish(Delta::FloodRemove { vni, tunnel });
        }
    }

    /// What a warm restart keeps: learned entries with their age, resolved neighbours.
    pub fn saved_state(&self, now_unix: u64) -> SavedState {
        let fdb = self
            .table
            .rows(None, self.now)
            .into_iter()
            .filter(|r| r.kind == EntryKind::Learned)
            .map(|r| SavedEntry {
                vni: r.vni,
                mac: r.mac,
                remote: r.remote,
                age_secs: r.age_secs,
            })
            .collect();
        let neighbors = self
            .neighbors
            .rows()
            .into_iter()
            .filter(|n| n.state == NeighborState::Resolved)
            .filter_map(|n| n.mac.map(|mac| SavedNeighbor { ip: n.ip, mac }))
            .collect();
        SavedState {
            version: STATE_VERSION,
            saved_unix: now_unix,
            fdb,
            neighbors,
        }
    }

    /// Restores a warm-restart state saved at `state.saved_unix`, at `now_unix`: neighbours
    /// first (so restored entries need no resolution), then every learned entry still young
    /// enough, aged by the downtime, through the usual learning limits. Returns the entries
    /// restored.
    pub fn restore(&mut self, state: &SavedState, now_unix: u64) -> usize {
        for n in &state.neighbors {
            if self.neighbors.reaches(n.ip) {
                self.neighbors.restore(n.ip, n.mac);
            }
        }
        let down = now_unix.saturating_sub(state.saved_unix);
        let aging = self.table.aging();
        let mut restored = 0;
        for e in &state.fdb {
            let age = Duration::from_secs(e.age_secs.saturating_add(down));
            if age >= aging || !self.neighbors.reaches(e.remote) {
                continue;
            }
            let last_seen = self.now.checked_sub(age).unwrap_or(self.now);
            let key = FdbKey::new(e.vni, e.mac);
            if self.table.learn(key, e.remote, last_seen) == LearnOutcome::Added {
                self.publish_fdb(key, e.remote);
                restored += 1;
            }
        }
        self.publish_pending();
        restored
    }

    /// The tunnel table, by id, with what names each row.
    pub fn tunnels(&self) -> Vec<TunnelRow> {
        let mut fdb: HashMap<IpAddr, u64> = HashMap::new();
        for r in self.table.rows(None, self.now) {
            *fdb.entry(r.remote).or_default() += 1;
        }
        let mut flood: HashMap<IpAddr, u64> = HashMap::new();
        for ip in self
            .static_flood
            .values()
            .flatten()
            .chain(self.flood_published.values().flatten())
        {
            *flood.entry(*ip).or_default() += 1;
        }
        self.tunnels
            .iter()
            .map(|(id, ip)| TunnelRow {
                id,
                remote: ip,
                next_hop: self.neighbors.published(ip),
                fdb_entries: fdb.get(&ip).copied().unwrap_or(0),
                flood_vnis: flood.get(&ip).copied().unwrap_or(0),
            })
            .collect()
    }

    /// Tunnel ids and addresses (for the metrics' labels), and an epoch that changes whenever
    /// they do.
    pub fn tunnel_labels(&self) -> (u64, Vec<(TunnelId, IpAddr)>) {
        (self.tunnel_epoch, self.tunnels.iter().collect())
    }

    fn send(&mut self, i: usize, v: Versioned) {
        let (Some(link), Some(backlog)) = (self.links.get_mut(i), self.backlogs.get_mut(i)) else {
            return;
        };
        if !backlog.is_empty() {
            backlog.push_back(v);
        } else if let Err(rtrb::PushError::Full(v)) = link.deltas.push(v) {
            backlog.push_back(v);
        }
    }

    /// Publishes neighbour deltas: solicitations to worker 0 only, next hops of existing
    /// tunnels to everyone.
    fn publish_pending(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        for d in &pending {
            match d {
                // A next hop matters to the replicas only for a tunnel they hold; a tunnel
                // created later is given its next hop when it is created.
                Delta::NeighborSet { ip, .. } | Delta::NeighborRemove { ip } => {
                    if self.tunnels.get(*ip).is_some() {
                        self.publish(*d);
                    }
                }
                Delta::Solicit { .. } => {
                    let v = Versioned {
                        generation: self.generation,
                        delta: *d,
                    };
                    self.send(0, v);
                }
                _ => self.publish(*d),
            }
        }
        self.pending = pending;
        self.pending.clear();
    }

    fn push_backlogs(&mut self) {
        for (link, backlog) in self.links.iter_mut().zip(self.backlogs.iter_mut()) {
            while let Some(v) = backlog.front().copied() {
                if link.deltas.push(v).is_err() {
                    break;
                }
                backlog.pop_front();
            }
        }
    }

    /// Applies a reloaded configuration's VNI set, learning policies, ageing, ARP retries, flood
    /// lists and ARP-suppressed VNIs; returns the generation that carries it all.
    ///
    /// The caller has pushed each worker its new pipeline settings and flood-list slots
    /// (`dataplane::reconfig`); the [`Delta::Reconfigure`] published first tells the workers
    /// to take them, so every delta after it (flood lists of new VNIs, entries of removed
    /// ones) meets the new VNI set. Unchanged VNIs keep their entries and flood lists:
    /// nothing they forward by changes. Static FDB and neighbour entries are the caller's
    /// ([`ControlPlane::add_static`], [`ControlPlane::remove`], ...).
    pub fn reconfigure(&mut self, new: &FdbSettings, arp_suppress: BTreeSet<Vni>) -> u64 {
        self.publish(Delta::Reconfigure);
        let removed =
            self.table
                .reconfigure(new.vni_policy.clone(), new.max_learned_total, new.aging);
        // The replicas dropped the removed VNIs' slots with their flood lists; their entries
        // go one by one (a flush of one VNI scans a replica's whole table).
        for (key, kind) in removed {
            self.publish(Delta::FdbRemove { key });
            self.forget(key);
            if kind == EntryKind::Local {
                self.request(SourceRequest::WithdrawLocal { key });
                self.fleet_stats.local_withdrawn += 1;
            }
        }
        self.lookups
            .retain(|k, _| new.vni_policy.contains_key(&k.vni));
        let gone: Vec<(Vni, Ipv4Addr)> = self
            .arp_bound
            .keys()
            .filter(|(vni, _)| !new.vni_policy.contains_key(vni))
            .copied()
            .collect();
        for k in gone {
            self.arp_bound.remove(&k);
        }
        self.table.set_flap_damping(new.flap);
        self.aging_scan = (new.aging / 8).min(Duration::from_secs(1));
        let retry = new.arp_retry.max(Duration::from_millis(1));
        self.neighbors.set_retry(
            retry,
            new.arp_max_retries,
            retry.saturating_mul(ARP_HOLD_DOWN_INTERVALS),
        );
        self.fleet.arp_suppress = arp_suppress;

        // Configured flood lists: a new VNI's slot starts empty, a kept one holds its old
        // list, so only the difference is published.
        let old = std::mem::take(&mut self.static_flood);
        for (vni, list) in &old {
            let keep = new.flood.get(vni);
            for ip in list {
                if new.vni_policy.contains_key(vni) && !keep.is_some_and(|k| k.contains(ip)) {
                    self.flood_remove(*vni, *ip);
                }
            }
        }
        for (vni, list) in &new.flood {
            let had = old.get(vni);
            for ip in list {
                if !had.is_some_and(|h| h.contains(ip)) {
                    self.flood_add(*vni, *ip);
                }
            }
        }
        self.static_flood = new.flood.clone();
        self.flood_published
            .retain(|vni, _| new.vni_policy.contains_key(vni));
        // Fleet members serving a new VNI join its flood list.
        self.sync_flood();
        self.publish_pending();
        self.generation
    }

    /// Adds or replaces a static entry; returns the generation that carries it.
    pub fn add_static(&mut self, key: FdbKey, remote: impl Into<IpAddr>) -> Result<u64, FdbError> {
        let remote = remote.into();
        if !self.neighbors.reaches(remote) {
            let key = if remote.is_ipv6() {
                "vtep.ip6"
            } else {
                "vtep.ip"
            };
            return Err(FdbError::NoAddressFamily { remote, key });
        }
        if self.tunnels.get(remote).is_none() && self.tunnels.is_full() {
            self.collect_tunnels();
            if self.tunnels.is_full() {
                return Err(FdbError::TunnelsFull);
            }
        }
        if self.table.set_static(key, remote, self.now)? {
            self.publish_fdb(key, remote);
            self.publish_pending();
        }
        Ok(self.generation)
    }

    /// Adds or replaces an entry from the distributed store (replaces learned, never static).
    pub fn add_remote(&mut self, key: FdbKey, remote: impl Into<IpAddr>) -> Result<u64, FdbError> {
        let remote = remote.into();
        if self.table.set_remote(key, remote, self.now)? {
            self.publish_fdb(key, remote);
            self.publish_pending();
        }
        Ok(self.generation)
    }

    /// Removes an entry of any kind.
    pub fn remove(&mut self, key: FdbKey) -> Result<u64, FdbError> {
        self.table.remove(key)?;
        self.publish(Delta::FdbRemove { key });
        Ok(self.generation)
    }

    /// Removes the learned entries of one VNI or of all (static and remote stay).
    pub fn flush(&mut self, vni: Option<Vni>) -> u64 {
        // When nothing else lives in scope and many entries go, one flush delta does the work
        // of many removes. A replica applies a flush by scanning its whole slot array, so for
        // a few entries individual removes (spread over poll iterations) cost workers less.
        let whole = self.table.only_learned(vni);
        let keys = self.table.flush_learned(vni);
        if keys.is_empty() {
            return self.generation;
        }
        if whole && keys.len().saturating_mul(4) >= self.table.max_entries() {
            self.publish(Delta::FdbFlush { vni });
        } else {
            for key in keys {
                self.publish(Delta::FdbRemove { key });
            }
        }
        self.generation
    }

    /// The FDB of one VNI or of all, sorted by (VNI, MAC).
    pub fn entries(&self, vni: Option<Vni>) -> Vec<FdbRow> {
        self.table.rows(vni, self.now)
    }

    /// Adds or replaces a static neighbour (a remote VTEP or the gateway).
    pub fn neighbor_add(&mut self, ip: impl Into<IpAddr>, mac: MacAddr) -> u64 {
        let ip = ip.into();
        self.neighbors.add_static(ip, mac, &mut self.pending);
        self.publish_pending();
        self.generation
    }

    /// Deletes a neighbour entry, whatever its state.
    pub fn neighbor_del(&mut self, ip: impl Into<IpAddr>) -> Result<u64, FdbError> {
        let ip = ip.into();
        let r = self.neighbors.remove(ip, &mut self.pending);
        self.publish_pending();
        r.map(|()| self.generation)
    }

    /// Turns a static neighbour into a resolved one with the same MAC, checked by one
    /// request (a reload that drops it from the file: forwarding through it goes on).
    pub fn neighbor_unpin(&mut self, ip: impl Into<IpAddr>) -> u64 {
        let ip = ip.into();
        if self.neighbors.unpin(ip, &mut self.pending) {
            self.publish_pending();
        }
        self.generation
    }

    /// The ARP cache, sorted by address.
    pub fn neighbors(&self) -> Vec<NeighborRow> {
        self.neighbors.rows()
    }

    /// The next-hop MAC published for a remote VTEP.
    pub fn next_hop(&self, remote: impl Into<IpAddr>) -> Option<MacAddr> {
        let remote = remote.into();
        self.neighbors.published(remote)
    }

    /// One round of control work at `now`: push backlogs, drain every worker's events, age
    /// learned entries, run ARP retries, push backlogs again.
    pub fn poll(&mut self, now: Instant) {
        self.now = self.now.max(now);
        let now = self.now;
        self.push_backlogs();

        let mut events = std::mem::take(&mut self.events);
        for link in &mut self.links {
            // Bounded by what is there now, so a busy worker cannot keep us here.
            for _ in 0..link.events.slots() {
                match link.events.pop() {
                    Ok(ev) => events.push(ev),
                    Err(_) => break,
                }
            }
        }
        for ev in events.drain(..) {
            match ev {
                Event::Learn { key, remote } => match self.table.learn(key, remote, now) {
                    LearnOutcome::Added | LearnOutcome::Moved => {
                        self.publish_fdb(key, remote);
                    }
                    LearnOutcome::Frozen => self.log_frozen(key, Some(remote)),
                    _ => {}
                },
                Event::NeighborMiss { ip } => self.neighbors.miss(ip, now, &mut self.pending),
                Event::NeighborSeen { ip, mac } => self.neighbors.seen(ip, mac, &mut self.pending),
                Event::LocalSeen { key, ip } => self.local_seen(key, ip, now),
                Event::Miss { key } => self.miss(key, now),
            }
            self.publish_pending();
        }
        self.events = events;

        if now.saturating_duration_since(self.last_aging_scan) >= self.aging_scan {
            self.last_aging_scan = now;
            for (key, kind) in self.table.expire(now) {
                self.publish(Delta::FdbRemove { key });
                self.forget(key);
                if kind == EntryKind::Local {
                    self.request(SourceRequest::WithdrawLocal { key });
                    self.fleet_stats.local_withdrawn += 1;
                }
            }
            let negative = self.fleet.negative;
            self.lookups
                .retain(|_, l| now.saturating_duration_since(l.since) < negative);
        }
        for ip in std::mem::take(&mut self.to_prepare) {
            self.prepare_next_hop(ip);
        }
        self.neighbors.tick(now, &mut self.pending);
        self.publish_pending();
        self.push_backlogs();
    }

    /// The generation of the last published change.
    pub fn published_generation(&self) -> u64 {
        self.generation
    }

    /// The lowest generation any worker has applied (the published one with no workers).
    pub fn min_applied_generation(&self) -> u64 {
        self.links
            .iter()
            .map(|l| l.applied.load(Ordering::Acquire))
            .min()
            .unwrap_or(self.generation)
    }

    pub fn stats(&self) -> FdbStats {
        let (s, l, r) = self.table.counts();
        let c = self.table.counters();
        FdbStats {
            static_entries: s as u64,
            learned_entries: l as u64,
            remote_entries: r as u64,
            learn_events: c.learn_events,
            moves: c.moves,
            learn_rejected: c.learn_rejected,
            aged_out: c.aged_out,
            neighbor_entries: self.neighbors.len() as u64,
            published_generation: self.generation,
            learn_ignored: c.learn_ignored,
            backlog_deltas: self.backlogs.iter().map(|b| b.len() as u64).sum(),
            arp_requests: self.neighbors.counters().arp_requests,
            local_entries: self.table.local_count() as u64,
            tunnels_full: self.tunnel_errors,
            flaps_damped: c.flaps_damped,
            moves_suppressed: c.moves_suppressed,
        }
    }

    // ---- the fleet: local MACs out, remote entries and members in (see `fdb::source`) ----

    fn request(&mut self, r: SourceRequest) {
        if self.fleet.has_source {
            self.requests.push(r);
        }
    }

    /// Requests for the source queued since the last call.
    pub fn take_requests(&mut self) -> Vec<SourceRequest> {
        std::mem::take(&mut self.requests)
    }

    /// One line per freeze (a freeze lasts the hold time, so a loop logs each MAC at most
    /// once per hold).
    fn log_frozen(&self, key: FdbKey, towards: Option<IpAddr>) {
        let at = self.table.get(&key).map(|e| e.remote);
        let d = self.table.flap_damping();
        tracing::warn!(
            "MAC {} in VNI {} moved more than {} times in {:?} (last towards {}): frozen at {} \
             for {:?}",
            key.mac,
            key.vni,
            d.moves,
            d.window,
            towards.map_or_else(|| "the access side".to_string(), |r| r.to_string()),
            at.map_or_else(
                || "?".to_string(),
                |r| if r == LOCAL_ADDR {
                    "the access side".to_string()
                } else {
                    r.to_string()
                }
            ),
            d.hold
        );
    }

    fn local_seen(&mut self, key: FdbKey, ip: Option<Ipv4Addr>, now: Instant) {
        let outcome = self.table.learn_local(key, now);
        if outcome == LearnOutcome::Frozen {
            self.log_frozen(key, None);
        }
        let fresh = match outcome {
            LearnOutcome::Added | LearnOutcome::Moved => {
                self.publish(Delta::FdbSet { key, tunnel: LOCAL });
                // Moved here from another gateway: whatever it published is not ours to keep.
                self.forget(key);
                true
            }
            LearnOutcome::Refreshed => false,
            _ => return,
        };
        let info = self.info.entry(key).or_default();
        let mut changed = fresh;
        if let Some(ip) = ip.filter(|ip| !ip.is_unspecified() && !ip.is_broadcast()) {
            if !info.ips.contains(&ip) {
                if info.ips.len() >= MAX_IPS_PER_MAC {
                    info.ips.remove(0);
                }
                info.ips.push(ip);
                changed = true;
            }
        }
        if changed {
            let ips = info.ips.clone();
            for ip in &ips {
                self.bind(key.vni, *ip, key.mac);
            }
            self.request(SourceRequest::PublishLocal { key, ips });
            self.fleet_stats.local_published += 1;
        }
    }

    fn miss(&mut self, key: FdbKey, now: Instant) {
        if !self.fleet.on_demand || !self.fleet.has_source || self.table.get(&key).is_some() {
            return;
        }
        if self.lookups.contains_key(&key) {
            return; // in flight, or known absent for a while
        }
        let (second, used) = self.lookup_window;
        if now.saturating_duration_since(second) >= Duration::from_secs(1) {
            self.lookup_window = (now, 0);
        } else if used >= self.fleet.max_lookups_per_sec {
            self.fleet_stats.lookups_rate_limited += 1;
            return;
        }
        self.lookup_window.1 += 1;
        self.lookups.insert(
            key,
            Lookup {
                since: now,
                negative: false,
            },
        );
        self.fleet_stats.lookups += 1;
        self.request(SourceRequest::Lookup { key });
    }

    /// Publishes an ARP binding for a VNI with suppression on.
    fn bind(&mut self, vni: Vni, ip: Ipv4Addr, mac: MacAddr) {
        if !self.fleet.arp_suppress.contains(&vni) {
            return;
        }
        if self.arp_bound.insert((vni, ip), mac) != Some(mac) {
            self.publish(Delta::ArpSet { vni, ip, mac });
        }
    }

    /// Drops what the fleet knew of an entry, and the ARP bindings it held.
    fn forget(&mut self, key: FdbKey) {
        let Some(info) = self.info.remove(&key) else {
            return;
        };
        for ip in info.ips {
            if self.arp_bound.get(&(key.vni, ip)) == Some(&key.mac) {
                self.arp_bound.remove(&(key.vni, ip));
                self.publish(Delta::ArpRemove { vni: key.vni, ip });
            }
        }
    }

    /// Applies one update from the source of remote entries.
    pub fn apply_source(&mut self, update: SourceUpdate, now: Instant) {
        self.now = self.now.max(now);
        match update {
            SourceUpdate::Snapshot {
                members,
                entries,
                complete,
            } => self.snapshot(members, entries, complete),
            SourceUpdate::Upsert(e) => self.upsert(e),
            SourceUpdate::Withdraw { key } => self.withdraw(key),
            SourceUpdate::MemberUp(m) => {
                if *m.name != *self.fleet.member {
                    self.members.insert(m.name.clone(), m);
                    self.sync_flood();
                }
            }
            SourceUpdate::MemberDown { name } => {
                if self.members.remove(&name).is_some() {
                    self.sync_flood();
                }
            }
            SourceUpdate::NotFound { key } => {
                if let Some(l) = self.lookups.get_mut(&key) {
                    l.negative = true;
                    l.since = self.now;
                    self.fleet_stats.lookups_negative += 1;
                }
            }
        }
        self.publish_pending();
    }

    fn snapshot(&mut self, members: Vec<Member>, entries: Vec<RemoteEntry>, complete: bool) {
        self.fleet_stats.snapshots += 1;
        self.members = members
            .into_iter()
            .filter(|m| *m.name != *self.fleet.member)
            .map(|m| (m.name.clone(), m))
            .collect();
        self.sync_flood();
        let mine: BTreeSet<FdbKey> = self.table.keys_of(EntryKind::Local).into_iter().collect();
        // Our own keys in the store that we no longer hold: ours to delete.
        let mut theirs = BTreeSet::new();
        for e in &entries {
            if *e.origin == *self.fleet.member {
                if !mine.contains(&e.key) {
                    self.request(SourceRequest::WithdrawLocal { key: e.key });
                }
            } else {
                theirs.insert(e.key);
            }
        }
        for key in self.table.keys_of(EntryKind::Remote) {
            if !complete || !theirs.contains(&key) {
                self.withdraw(key);
            }
        }
        if complete {
            for e in entries {
                self.upsert(e);
            }
        }
        // The store may have lost ours (our lease expired while it was out of reach).
        for key in mine {
            let ips = self
                .info
                .get(&key)
                .map(|i| i.ips.clone())
                .unwrap_or_default();
            self.request(SourceRequest::PublishLocal { key, ips });
        }
    }

    fn upsert(&mut self, e: RemoteEntry) {
        if *e.origin == *self.fleet.member {
            return;
        }
        let current = self.table.get(&e.key).map(|x| x.kind);
        if self.fleet.on_demand && current != Some(EntryKind::Remote) {
            // Only what was asked for (or is cached) is held.
            match self.lookups.remove(&e.key) {
                Some(l) if !l.negative => {
                    let us = u64::try_from(self.now.saturating_duration_since(l.since).as_micros())
                        .unwrap_or(u64::MAX);
                    let s = &mut self.fleet_stats;
                    s.lookups_found += 1;
                    s.miss_latency_sum_us += us;
                    s.miss_latency_count += 1;
                    s.miss_latency_last_us = us;
                    s.miss_latency_max_us = s.miss_latency_max_us.max(us);
                }
                Some(_) => {}
                None => return,
            }
        }
        // Another gateway's VNI we do not serve, a static entry in the way, or a full table:
        // the entry is not held here.
        let vtep = e.vtep;
        if !self.neighbors.reaches(vtep) {
            return;
        }
        if let Ok(changed) = self.table.set_remote(e.key, vtep, self.now) {
            if changed {
                self.publish_fdb(e.key, vtep);
                self.prepare_next_hop(vtep);
            }
            if current == Some(EntryKind::Local) {
                self.fleet_stats.local_withdrawn += 1;
            }
            self.forget(e.key);
            for ip in &e.ips {
                self.bind(e.key.vni, *ip, e.key.mac);
            }
            self.info.insert(
                e.key,
                EntryInfo {
                    origin: Some(e.origin),
                    ips: e.ips,
                },
            );
            self.fleet_stats.remote_applied += 1;
        }
    }

    fn withdraw(&mut self, key: FdbKey) {
        if self.table.get(&key).map(|e| e.kind) == Some(EntryKind::Remote) {
            let _ = self.table.remove(key);
            self.publish(Delta::FdbRemove { key });
            self.forget(key);
            self.fleet_stats.remote_withdrawn += 1;
        }
    }

    /// Makes the published fleet flood lists equal to the members serving each VNI.
    fn sync_flood(&mut self) {
        let own = self.neighbors_vtep();
        let mut want: BTreeMap<Vni, BTreeSet<IpAddr>> = BTreeMap::new();
        for m in self.members.values() {
            for vni in &m.vnis {
                let configured = self.static_flood.get(vni);
                let vtep = m.vtep;
                // A member of a family this gateway has no address in cannot be reached.
                if self.table.serves(*vni)
                    && self.neighbors.reaches(vtep)
                    && vtep != own
                    && !configured.is_some_and(|l| l.contains(&vtep))
                {
                    want.entry(*vni).or_default().insert(vtep);
                }
            }
        }
        let mut gone = Vec::new();
        for (vni, have) in &self.flood_published {
            let w = want.get(vni);
            for ip in have {
                if !w.is_some_and(|w| w.contains(ip)) {
                    gone.push((*vni, *ip));
                }
            }
        }
        let mut new = Vec::new();
        for (vni, w) in &want {
            let have = self.flood_published.get(vni);
            for ip in w {
                if !have.is_some_and(|h| h.contains(ip)) {
                    new.push((*vni, *ip));
                }
            }
        }
        self.flood_published = want;
        for (vni, ip) in gone {
            self.flood_remove(vni, ip);
        }
        for (vni, ip) in new {
            self.flood_add(vni, ip);
        }
    }

    /// Starts resolving the underlay next hop of a VTEP the fleet just told us of, so the
    /// first frame sent to it is not dropped while a worker discovers the miss.
    fn prepare_next_hop(&mut self, vtep: IpAddr) {
        if self.neighbors.published(vtep).is_none() {
            self.neighbors.miss(vtep, self.now, &mut self.pending);
        }
    }

    fn neighbors_vtep(&self) -> IpAddr {
        self.neighbors.own_vtep()
    }

    /// The fleet members known (this gateway excluded), by name.
    pub fn members(&self) -> Vec<Member> {
        self.members.values().cloned().collect()
    }

    /// The fleet members each VNI floods to beside its configured list.
    pub fn fleet_flood(&self) -> &BTreeMap<Vni, BTreeSet<IpAddr>> {
        &self.flood_published
    }

    /// Who published an entry (a member name), for remote entries.
    pub fn origin(&self, key: &FdbKey) -> Option<&str> {
        self.info.get(key).and_then(|i| i.origin.as_deref())
    }

    /// The IPv4 addresses known for an entry.
    pub fn ips(&self, key: &FdbKey) -> &[Ipv4Addr] {
        self.info.get(key).map_or(&[], |i| i.ips.as_slice())
    }

    pub fn fleet_stats(&self) -> FleetStats {
        FleetStats {
            members: self.members.len() as u64,
            arp_bindings: self.arp_bound.len() as u64,
            flood_members: self.flood_published.values().map(|s| s.len() as u64).sum(),
            ..self.fleet_stats
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fdb::replica::{channel, Replica};
    use crate::fdb::Report;

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));
    const GW: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 254));
    const FAR: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
    const M: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x42]);

    fn vni(v: u32) -> Vni {
        Vni::from_wire(v)
    }
    fn key(v: u32, m: u64) -> FdbKey {
        FdbKey::new(vni(v), MacAddr::from_u64(m))
    }

    fn settings() -> FdbSettings {
        let mut p = BTreeMap::new();
        p.insert(
            vni(100),
            VniPolicy {
                learning: true,
                max_learned: 2,
            },
        );
        p.insert(
            vni(200),
            VniPolicy {
                learning: false,
                max_learned: 10,
            },
        );
        FdbSettings {
            aging: DEFAULT_AGING,
            max_learned_total: 100,
            vni_policy: p,
            vtep_ip: Ipv4Addr::new(192, 0, 2, 1),
            prefix_len: 24,
            gateway: Some(Ipv4Addr::new(192, 0, 2, 254)),
            arp_retry: DEFAULT_ARP_RETRY,
            arp_max_retries: DEFAULT_ARP_MAX_RETRIES,
            ..Default::default()
        }
    }

    fn setup(workers: usize, ring: usize) -> (ControlPlane, Vec<Replica>) {
        let (links, replicas): (Vec<_>, Vec<_>) = (0..workers).map(|_| channel(ring, 64)).unzip();
        (ControlPlane::new(settings(), links), replicas)
    }

    fn converge(cp: &mut ControlPlane, rs: &mut [Replica], now: Instant) {
        for _ in 0..1000 {
            cp.poll(now);
            for r in rs.iter_mut() {
                r.apply_pending(3);
            }
            if cp.min_applied_generation() == cp.published_generation()
                && cp.stats().backlog_deltas == 0
            {
                return;
            }
        }
        unreachable!("did not converge");
    }

    #[test]
    fn static_entries_reach_every_worker_through_the_backlog() {
        let (mut cp, mut rs) = setup(2, 2);
        // Generation 1 creates the tunnel towards A; the entries follow.
        for i in 0..10 {
            assert_eq!(cp.add_static(key(100, i), A), Ok(i + 2));
        }
        assert!(cp.stats().backlog_deltas > 0);
        assert_eq!(cp.add_static(key(100, 0), A), Ok(11)); // unchanged: nothing published
        assert_eq!(
            cp.add_static(key(7, 0), A),
            Err(FdbError::UnknownVni(vni(7)))
        );
        let now = Instant::now();
        converge(&mut cp, &mut rs, now);
        for r in &rs {
            assert_eq!(r.len(), 10);
            assert_eq!(r.generation(), 11);
            assert_eq!(r.tunnel_of(A), Some(TunnelId(1)));
        }
        assert_eq!(cp.remove(key(100, 3)), Ok(12));
        assert!(matches!(
            cp.remove(key(100, 3)),
            Err(FdbError::NotFound { .. })
        ));
        converge(&mut cp, &mut rs, now);
        assert_eq!(rs[1].lookup_remote(vni(100), MacAddr::from_u64(3)), None);
        assert_eq!(cp.stats().static_entries, 9);
    }

    #[test]
    fn learning_through_the_ring_with_limits_moves_and_ageing() {
        let (mut cp, mut rs) = setup(2, 8);
        let t0 = Instant::now();
        assert!(cp.add_static(key(100, 1), A).is_ok());
        converge(&mut cp, &mut rs, t0);
        // Learned never replaces static.
        assert_eq!(rs[0].learn(key(100, 1), B, 1), Report::Sent);
        // Learning off.
        assert_eq!(rs[0].learn(key(200, 1), B, 1), Report::Sent);
        assert_eq!(rs[1].learn(key(100, 2), A, 1), Report::Sent);
        assert_eq!(rs[1].learn(key(100, 3), A, 1), Report::Sent);
        assert_eq!(rs[1].learn(key(100, 4), A, 1), Report::Sent); // over the VNI limit
        converge(&mut cp, &mut rs, t0);
        let s = cp.stats();
        assert_eq!(
            (s.learned_entries, s.learn_rejected, s.learn_ignored),
            (2, 2, 1)
        );
        assert_eq!(rs[0].lookup_remote(vni(100), MacAddr::from_u64(1)), Some(A));
        assert_eq!(rs[0].lookup_remote(vni(100), MacAddr::from_u64(2)), Some(A));
        // A move, seen by the other worker.
        assert_eq!(rs[0].learn(key(100, 2), B, 2), Report::Sent);
        converge(&mut cp, &mut rs, t0 + Duration::from_secs(100));
        assert_eq!(cp.stats().moves, 1);
        assert_eq!(rs[1].lookup_remote(vni(100), MacAddr::from_u64(2)), Some(B));
        // Ageing: key 3 (last seen t0) goes, key 2 (moved at t0+100) stays, static stays.
        converge(&mut cp, &mut rs, t0 + Duration::from_secs(301));
        let keys: Vec<_> = cp.entries(None).iter().map(|r| r.mac.to_u64()).collect();
        assert_eq!(keys, vec![1, 2]);
        converge(&mut cp, &mut rs, t0 + Duration::from_secs(401));
        assert_eq!(cp.entries(Some(vni(100))).len(), 1);
        assert_eq!(cp.stats().aged_out, 2);
        for r in &rs {
            assert_eq!(r.entries(), vec![(key(100, 1), A)]);
        }
    }

    #[test]
    fn a_mac_flapping_between_vteps_stops_churning_the_replicas() {
        let (mut cp, mut rs) = setup(1, 4096);
        let t0 = Instant::now();
        let k = key(100, 7);
        let mut published = Vec::new();
        // A loop: the MAC seen behind A and B alternately, reported once a second (what a
        // worker's filter lets through), for 30 seconds.
        for i in 0..30u32 {
            let to = if i % 2 == 0 { A } else { B };
            // (Where the replica already has it, the sighting is not even reported.)
            let _ = rs[0].learn(k, to, i + 1);
            let before = cp.published_generation();
            converge(&mut cp, &mut rs, t0 + Duration::from_secs(u64::from(i)));
            published.push(cp.published_generation() - before);
        }
        let s = cp.stats();
        let d = FlapDamping::default();
        assert_eq!(s.flaps_damped, 1);
        assert_eq!(s.moves, u64::from(d.moves));
        // The added entry, its tunnel rows and the tolerated moves: then nothing.
        let total: u64 = published.iter().sum();
        assert!(
            total <= u64::from(d.moves) + 4,
            "{total} deltas for one flapping MAC"
        );
        assert!(published[10..].iter().all(|n| *n == 0), "{published:?}");
        assert!(s.moves_suppressed >= 10, "{}", s.moves_suppressed);
        // The replica still forwards it (to where it was frozen).
        assert!(rs[0].lookup(vni(100), MacAddr::from_u64(7)).is_some());
    }

    #[test]
    fn flush_removes_learned_only() {
        let (mut cp, mut rs) = setup(1, 64);
        let t0 = Instant::now();
        assert!(cp.add_static(key(100, 1), A).is_ok());
        assert!(cp.add_remote(key(100, 5), B).is_ok());
        rs[0].learn(key(100, 2), B, 1);
        converge(&mut cp, &mut rs, t0);
        assert_eq!(rs[0].len(), 3);
        cp.flush(None);
        converge(&mut cp, &mut rs, t0);
        assert_eq!(rs[0].entries(), vec![(key(100, 1), A), (key(100, 5), B)]);
        assert_eq!(cp.entries(None)[1].kind, EntryKind::Remote);
    }

    /// The next hop of the tunnel towards `ip` in replica `r` (a miss is reported).
    fn hop(r: &mut Replica, ip: IpAddr, now_secs: u32) -> Result<MacAddr, Report> {
        let id = r.tunnel_of(ip).ok_or(Report::NotNeeded)?;
        r.next_hop(id, now_secs).map(|(_, mac)| mac)
    }

    /// Gives the replicas a tunnel towards `ip` (through a static entry).
    fn tunnel_to(cp: &mut ControlPlane, rs: &mut [Replica], ip: IpAddr, mac: u64) {
        assert!(cp.add_static(key(100, mac), ip).is_ok());
        converge(cp, rs, Instant::now());
    }

    #[test]
    fn a_full_tunnel_table_retires_unused_rows_and_reuses_their_ids() {
        let (mut cp, mut rs) = setup(1, 64);
        let t0 = Instant::now();
        let ip = |i: u32| IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
        let last = TunnelId::CAPACITY as u32 - 1;
        for i in 1..=last {
            assert!(cp.add_static(key(100, u64::from(i)), ip(i)).is_ok());
            if i % 512 == 0 {
                converge(&mut cp, &mut rs, t0);
            }
        }
        converge(&mut cp, &mut rs, t0);
        assert_eq!(cp.tunnels().len(), last as usize);
        assert_eq!(rs[0].tunnel_of(ip(7)), Some(TunnelId(7)));
        let new_key = key(100, 99_999);
        assert_eq!(cp.add_static(new_key, ip(5000)), Err(FdbError::TunnelsFull));
        // A learned sender gets no tunnel either: counted, and the entry not published.
        assert_eq!(rs[0].learn(key(100, 88_888), ip(6000), 1), Report::Sent);
        converge(&mut cp, &mut rs, t0);
        assert_eq!(cp.stats().tunnels_full, 1);
        assert_eq!(rs[0].lookup(vni(100), MacAddr::from_u64(88_888)), None);
        let held = cp
            .entries(None)
            .iter()
            .any(|r| r.mac == MacAddr::from_u64(88_888));
        assert!(!held, "the control plane holds no entry the replicas lack");
        // Row 7 loses its only entry: the next new address sweeps it and takes its id.
        assert!(cp.remove(key(100, 7)).is_ok());
        assert!(cp.add_static(new_key, ip(5000)).is_ok());
        converge(&mut cp, &mut rs, t0);
        assert_eq!(rs[0].tunnel_of(ip(5000)), Some(TunnelId(7)));
        assert_eq!(rs[0].tunnel_of(ip(7)), None);
        assert_eq!(rs[0].lookup_remote(vni(100), new_key.mac), Some(ip(5000)));
        let row = cp
            .tunnels()
            .into_iter()
            .find(|t| t.id == TunnelId(7))
            .unwrap();
        assert_eq!(
            (row.remote, row.fdb_entries, row.flood_vnis),
            (ip(5000), 1, 0)
        );
        let (_, labels) = cp.tunnel_labels();
        assert_eq!(labels.len(), last as usize);
    }

    #[test]
    fn warm_restart_restores_learned_entries_aged_by_the_downtime() {
        let (mut cp, mut rs) = setup(1, 64);
        let t0 = Instant::now();
        assert!(cp.add_static(key(100, 9), A).is_ok());
        assert_eq!(rs[0].learn(key(100, 1), B, 1), Report::Sent);
        assert_eq!(rs[0].learn(key(100, 2), A, 1), Report::Sent);
        converge(&mut cp, &mut rs, t0);
        cp.neighbor_add(GW, M);
        assert_eq!(rs[0].neighbor_seen(B, M), Report::Sent);
        converge(&mut cp, &mut rs, t0 + Duration::from_secs(100));
        let saved = cp.saved_state(1_000);
        // Learned only (the static entry comes back from the config), with their age.
        let mut macs: Vec<_> = saved
            .fdb
            .iter()
            .map(|e| (e.mac.to_u64(), e.age_secs))
            .collect();
        macs.sort();
        assert_eq!(macs, vec![(1, 100), (2, 100)]);
        assert!(
            saved.neighbors.iter().all(|n| n.ip != GW),
            "static neighbours not saved"
        );

        // Down for 150 s of the 300 s ageing time: both come back, with 250 s of age, and the
        // next hop of B without a solicitation.
        let (mut cp2, mut rs2) = setup(1, 64);
        assert_eq!(cp2.restore(&saved, 1_150), 2);
        let t1 = Instant::now();
        converge(&mut cp2, &mut rs2, t1);
        assert_eq!(
            rs2[0].lookup_remote(vni(100), MacAddr::from_u64(1)),
            Some(B)
        );
        assert_eq!(rs2[0].neighbor(B), Some(M));
        let asked: Vec<_> = std::iter::from_fn(|| rs2[0].take_solicit()).collect();
        assert!(!asked.contains(&B), "{asked:?}");
        // They age out 50 s later, as if the gateway had never stopped.
        converge(&mut cp2, &mut rs2, t1 + Duration::from_secs(51));
        assert!(cp2.entries(None).is_empty());

        // Down for longer than the ageing time: nothing comes back.
        let (mut cp3, _rs3) = setup(1, 64);
        assert_eq!(cp3.restore(&saved, 1_000 + 300), 0);
    }

    #[test]
    fn neighbour_resolution_arp_to_worker_zero_then_failed() {
        let (mut cp, mut rs) = setup(2, 64);
        let t0 = Instant::now();
        let peer = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 50));
        tunnel_to(&mut cp, &mut rs, peer, 77);
        assert_eq!(hop(&mut rs[1], peer, 1), Err(Report::Sent));
        let mut sent = 0;
        for i in 0..8 {
            converge(&mut cp, &mut rs, t0 + Duration::from_secs(i));
            while let Some(ip) = rs[0].take_solicit() {
                assert_eq!(ip, peer);
                sent += 1;
            }
            assert_eq!(rs[1].take_solicit(), None);
        }
        assert_eq!(sent, 1 + DEFAULT_ARP_MAX_RETRIES);
        assert_eq!(
            cp.neighbors(),
            vec![NeighborRow {
                ip: peer,
                mac: None,
                state: NeighborState::Failed
            }]
        );
        // Generations stay in step even though only worker 0 got the requests.
        assert_eq!(rs[0].generation(), rs[1].generation());
    }

    #[test]
    fn gateway_resolution_publishes_gateway_mac_for_far_vtep() {
        let (mut cp, mut rs) = setup(2, 64);
        let t0 = Instant::now();
        tunnel_to(&mut cp, &mut rs, FAR, 77);
        tunnel_to(&mut cp, &mut rs, A, 78);
        assert!(hop(&mut rs[1], FAR, 1).is_err());
        converge(&mut cp, &mut rs, t0);
        // New tunnels are resolved at once: FAR through the gateway, A directly.
        let asked: Vec<_> = std::iter::from_fn(|| rs[0].take_solicit()).collect();
        assert!(asked.contains(&GW) && asked.contains(&A), "{asked:?}");
        assert_eq!(rs[0].neighbor_seen(GW, M), Report::Sent);
        converge(&mut cp, &mut rs, t0);
        for r in rs.iter_mut() {
            assert_eq!(hop(r, FAR, 2), Ok(M));
        }
        assert_eq!(cp.next_hop(FAR), Some(M));
        let gw = cp.neighbors().into_iter().find(|n| n.ip == GW);
        assert_eq!(gw.map(|n| n.state), Some(NeighborState::Resolved));
        // Deleting the gateway withdraws the next hop everywhere.
        assert!(cp.neighbor_del(GW).is_ok());
        converge(&mut cp, &mut rs, t0);
        assert!(hop(&mut rs[0], FAR, 3).is_err());
        assert_eq!(cp.neighbor_del(GW), Err(FdbError::NeighborNotFound(GW)));
        // A static neighbour is published directly.
        let g = cp.neighbor_add(A, M);
        converge(&mut cp, &mut rs, t0);
        assert_eq!(rs[1].generation(), g);
        assert_eq!(hop(&mut rs[1], A, 4), Ok(M));
    }

    fn fleet(on_demand: bool) -> FleetSettings {
        FleetSettings {
            member: Arc::from("me"),
            arp_suppress: [vni(100)].into_iter().collect(),
            on_demand,
            negative: Duration::from_secs(5),
            max_lookups_per_sec: 2,
            has_source: true,
        }
    }

    fn fleet_setup(on_demand: bool) -> (ControlPlane, Vec<Replica>) {
        let (links, mut replicas): (Vec<_>, Vec<_>) = (0..2).map(|_| channel(8, 64)).unzip();
        for r in &mut replicas {
            r.reserve_flood(&[vni(100), vni(200)]);
        }
        let mut s = settings();
        s.vni_policy.get_mut(&vni(100)).unwrap().max_learned = 100;
        s.flood.insert(vni(100), vec![A]);
        let mut cp = ControlPlane::new(s, links).with_fleet(fleet(on_demand));
        // The configured flood list is published (and its VTEP solicited) at once.
        converge(&mut cp, &mut replicas, Instant::now());
        assert_eq!(replicas[0].flood_remotes(vni(100)), vec![A]);
        assert_eq!(replicas[0].take_solicit(), Some(A));
        (cp, replicas)
    }

    fn member(name: &str, vtep: IpAddr, vnis: &[u32]) -> Member {
        Member {
            name: Arc::from(name),
            vtep,
            mac: None,
            vnis: vnis.iter().map(|v| vni(*v)).collect(),
            version: "t".into(),
        }
    }

    fn remote(k: FdbKey, vtep: IpAddr, origin: &str, ips: &[Ipv4Addr]) -> RemoteEntry {
        RemoteEntry {
            key: k,
            vtep,
            origin: Arc::from(origin),
            ips: ips.to_vec(),
        }
    }

    const C: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 12));
    const H1: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

    #[test]
    fn local_macs_are_published_moved_by_the_store_and_withdrawn_when_aged() {
        let (mut cp, mut rs) = fleet_setup(false);
        let t0 = Instant::now();
        let k = key(100, 7);
        // Seen on the access side, with its ARP sender address.
        assert_eq!(rs[0].learn_local(k, Some(H1), 1), Report::Sent);
        converge(&mut cp, &mut rs, t0);
        assert_eq!(rs[1].lookup(vni(100), k.mac), Some(LOCAL));
        assert_eq!(rs[1].arp_lookup(vni(100), H1), Some(k.mac));
        assert_eq!(
            cp.take_requests(),
            vec![SourceRequest::PublishLocal {
                key: k,
                ips: vec![H1]
            }]
        );
        assert_eq!(cp.stats().local_entries, 1);
        // A refresh with the same address publishes nothing new.
        cp.poll(t0);
        rs[0].learn_local(k, Some(H1), 20);
        converge(&mut cp, &mut rs, t0);
        assert!(cp.take_requests().is_empty());
        // The host moved behind gateway "b": the store says so, and it is remote now.
        cp.apply_source(SourceUpdate::Upsert(remote(k, B, "b", &[H1])), t0);
        converge(&mut cp, &mut rs, t0);
        assert_eq!(rs[0].lookup_remote(vni(100), k.mac), Some(B));
        assert_eq!(cp.origin(&k), Some("b"));
        assert_eq!(rs[0].arp_lookup(vni(100), H1), Some(k.mac));
        // Our own entries echoed by the store are ignored.
        cp.apply_source(SourceUpdate::Upsert(remote(k, A, "me", &[])), t0);
        converge(&mut cp, &mut rs, t0);
        assert_eq!(rs[0].lookup_remote(vni(100), k.mac), Some(B));
        // It comes back here: local again, published again.
        rs[1].learn_local(k, None, 30);
        converge(&mut cp, &mut rs, t0);
        assert_eq!(rs[0].lookup(vni(100), k.mac), Some(LOCAL));
        assert!(matches!(
            cp.take_requests()[..],
            [SourceRequest::PublishLocal { .. }]
        ));
        // Ageing withdraws it from the store and from the replicas.
        converge(
            &mut cp,
            &mut rs,
            t0 + DEFAULT_AGING + Duration::from_secs(2),
        );
        assert_eq!(rs[0].lookup_remote(vni(100), k.mac), None);
        assert_eq!(
            cp.take_requests(),
            vec![SourceRequest::WithdrawLocal { key: k }]
        );
    }

    #[test]
    fn fleet_vteps_are_resolved_before_the_first_frame_needs_them() {
        let (mut cp, mut rs) = fleet_setup(false);
        let t0 = Instant::now();
        // A member joins the flood list of a VNI we serve: its next hop is asked for at once,
        // not when the first flood finds it missing (and drops that copy).
        cp.apply_source(SourceUpdate::MemberUp(member("b", B, &[100])), t0);
        converge(&mut cp, &mut rs, t0);
        assert_eq!(rs[0].take_solicit(), Some(B));
        assert_eq!(rs[0].neighbor_seen(B, M), Report::Sent);
        converge(&mut cp, &mut rs, t0);
        assert_eq!(hop(&mut rs[1], B, 1), Ok(M));
        // An entry behind a VTEP that is not a member yet (on-demand installs, early
        // watch events) is resolved the same way; one already resolved is not asked again.
        cp.apply_source(SourceUpdate::Upsert(remote(key(100, 4), C, "c", &[])), t0);
        cp.apply_source(SourceUpdate::Upsert(remote(key(100, 5), B, "b", &[])), t0);
        converge(&mut cp, &mut rs, t0);
        assert_eq!(rs[0].take_solicit(), Some(C));
        assert_eq!(rs[0].take_solicit(), None);
    }

    #[test]
    fn members_and_entries_of_an_unreachable_family_are_left_out() {
        // This gateway has no IPv6 address: an IPv6 member and what it publishes are skipped.
        let (mut cp, mut rs) = fleet_setup(false);
        let t0 = Instant::now();
        let v6: IpAddr = "fd00::2".parse().unwrap();
        cp.apply_source(SourceUpdate::MemberUp(member("six", v6, &[100])), t0);
        cp.apply_source(SourceUpdate::MemberUp(member("b", B, &[100])), t0);
        cp.apply_source(
            SourceUpdate::Upsert(remote(key(100, 61), v6, "six", &[])),
            t0,
        );
        converge(&mut cp, &mut rs, t0);
        assert_eq!(rs[0].flood_remotes(vni(100)), vec![A, B]);
        assert_eq!(rs[0].lookup(vni(100), MacAddr::from_u64(61)), None);
        assert!(cp.tunnels().iter().all(|t| t.remote.is_ipv4()));

        // With an IPv6 address of its own, the same member joins the flood list.
        let (links, mut rs6): (Vec<_>, Vec<_>) = (0..1).map(|_| channel(8, 64)).unzip();
        for r in &mut rs6 {
            r.reserve_flood(&[vni(100)]);
        }
        let mut s = settings();
        s.vtep_ip6 = Some("fd00::1".parse().unwrap());
        let mut cp6 = ControlPlane::new(s, links).with_fleet(fleet(false));
        cp6.apply_source(SourceUpdate::MemberUp(member("six", v6, &[100])), t0);
        cp6.apply_source(
            SourceUpdate::Upsert(remote(key(100, 61), v6, "six", &[])),
            t0,
        );
        converge(&mut cp6, &mut rs6, t0);
        assert_eq!(rs6[0].flood_remotes(vni(100)), vec![v6]);
        assert_eq!(
            rs6[0].lookup_remote(vni(100), MacAddr::from_u64(61)),
            Some(v6)
        );
    }

    #[test]
    fn members_join_flood_lists_and_snapshots_remove_what_is_stale() {
        let (mut cp, mut rs) = fleet_setup(false);
        let t0 = Instant::now();
        cp.apply_source(
            SourceUpdate::Snapshot {
                members: vec![
                    member("me", IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), &[100]),
                    member("a", A, &[100]), // already in the static list
                    member("b", B, &[100, 200]),
                    member("c", C, &[300]), // a VNI we do not serve
                ],
                entries: vec![
                    remote(key(100, 1), B, "b", &[H1]),
                    remote(key(300, 1), C, "c", &[]),
                ],
                complete: true,
            },
            t0,
        );
        converge(&mut cp, &mut rs, t0);
        assert_eq!(rs[0].flood_remotes(vni(100)), vec![A, B]);
        assert_eq!(rs[1].flood_remotes(vni(200)), vec![B]);
        assert_eq!(rs[0].lookup_remote(vni(100), MacAddr::from_u64(1)), Some(B));
        assert_eq!(cp.members().len(), 3);
        cp.apply_source(SourceUpdate::MemberUp(member("d", C, &[100])), t0);
        converge(&mut cp, &mut rs, t0);
        assert_eq!(rs[1].flood_remotes(vni(100)), vec![A, B, C]);
        // b's lease expired: its registration and MAC go.
        cp.apply_source(
            SourceUpdate::MemberDown {
                name: Arc::from("b"),
            },
            t0,
        );
        cp.apply_source(SourceUpdate::Withdraw { key: key(100, 1) }, t0);
        converge(&mut cp, &mut rs, t0);
        assert_eq!(rs[0].flood_remotes(vni(100)), vec![A, C]);
        assert!(rs[0].flood_remotes(vni(200)).is_empty());
        assert_eq!(rs[0].lookup_remote(vni(100), MacAddr::from_u64(1)), None);
        assert_eq!(rs[0].arp_lookup(vni(100), H1), None);
        // A resync after an outage: whatever the snapshot lacks is gone, own stale keys are
        // deleted, own live keys published again.
        cp.apply_source(SourceUpdate::Upsert(remote(key(100, 2), C, "d", &[])), t0);
        rs[0].learn_local(key(100, 9), None, 1);
        converge(&mut cp, &mut rs, t0);
        cp.take_requests();
        cp.apply_source(
            SourceUpdate::Snapshot {
                members: vec![member("d", C, &[100])],
                entries: vec![
                    remote(key(100, 3), C, "d", &[]),
                    remote(key(100, 8), A, "me", &[]),
                ],
                complete: true,
            },
            t0,
        );
        converge(&mut cp, &mut rs, t0);
        assert_eq!(rs[1].lookup_remote(vni(100), MacAddr::from_u64(2)), None);
        assert_eq!(rs[1].lookup_remote(vni(100), MacAddr::from_u64(3)), Some(C));
        let reqs = cp.take_requests();
        assert!(reqs.contains(&SourceRequest::WithdrawLocal { key: key(100, 8) }));
        assert!(reqs.contains(&SourceRequest::PublishLocal {
            key: key(100, 9),
            ips: vec![]
        }));
        assert_eq!(cp.fleet_stats().snapshots, 2);
    }

    #[test]
    fn on_demand_looks_up_misses_once_caches_negatives_and_rate_limits() {
        let (mut cp, mut rs) = fleet_setup(true);
        let t0 = Instant::now();
        let k = key(100, 5);
        rs[0].report_miss(k, 1);
        rs[1].report_miss(k, 1);
        converge(&mut cp, &mut rs, t0);
        assert_eq!(cp.take_requests(), vec![SourceRequest::Lookup { key: k }]);
        // An update for a key nobody asked for is not held.
        cp.apply_source(SourceUpdate::Upsert(remote(key(100, 6), B, "b", &[])), t0);
        cp.apply_source(
            SourceUpdate::Upsert(remote(k, B, "b", &[])),
            t0 + Duration::from_millis(3),
        );
        converge(&mut cp, &mut rs, t0);
        assert_eq!(rs[0].lookup_remote(vni(100), k.mac), Some(B));
        assert_eq!(rs[0].lookup_remote(vni(100), MacAddr::from_u64(6)), None);
        let f = cp.fleet_stats();
        assert_eq!(
            (f.lookups, f.lookups_found, f.miss_latency_count),
            (1, 1, 1)
        );
        // A cached entry follows the store.
        cp.apply_source(SourceUpdate::Upsert(remote(k, C, "c", &[])), t0);
        cp.poll(t0);
        assert_eq!(cp.entries(None)[0].remote, C);
        // Negative answers are remembered for `negative`, and lookups are rate limited.
        let n = key(100, 50);
        rs[0].report_miss(n, 2);
        converge(&mut cp, &mut rs, t0);
        cp.apply_source(SourceUpdate::NotFound { key: n }, t0);
        rs[0].report_miss(n, 3);
        rs[0].report_miss(key(100, 51), 3);
        rs[0].report_miss(key(100, 52), 3);
        converge(&mut cp, &mut rs, t0);
        // Two lookups a second: k and n took this second's budget.
        assert_eq!(cp.take_requests(), vec![SourceRequest::Lookup { key: n }]);
        assert_eq!(cp.fleet_stats().lookups_rate_limited, 2);
        converge(&mut cp, &mut rs, t0 + Duration::from_secs(6));
        rs[0].report_miss(n, 9);
        converge(&mut cp, &mut rs, t0 + Duration::from_secs(6));
        assert_eq!(cp.take_requests(), vec![SourceRequest::Lookup { key: n }]);
        // A resync of an on-demand source drops the cache.
        cp.apply_source(
            SourceUpdate::Snapshot {
                members: vec![],
                entries: vec![],
                complete: false,
            },
            t0,
        );
        converge(&mut cp, &mut rs, t0);
        assert_eq!(rs[0].lookup_remote(vni(100), k.mac), None);
    }
}
