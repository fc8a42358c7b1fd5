//! A worker's replica of the FDB and neighbour tables.
//!
//! # Contract
//! - Written only by its worker, inside `apply_pending`, from deltas the control thread
//!   published; read only by the same worker. No other thread ever touches it, so it needs no
//!   lock and no atomic read-modify-write (the `applied` generation is a plain release store).
//! - A change becomes visible to lookups at the top of the worker's next poll iteration after
//!   it was published (bounded by `max` deltas per iteration).
//! - After applying, the worker stores the generation it reached into `applied`, which the
//!   control thread reads to tell when every replica has converged.
//! - Nothing here allocates after [`channel_with_capacity`]: the FDB, the next-hop map, the
//!   miss rate limiter and the learn-report filter are fixed-capacity tables sized at creation.
//!   An FDB insert beyond capacity is refused and counted ([`Replica::refused_inserts`]); the
//!   control thread keeps its own limits below the replica capacity, so it never happens.
//! - Reports to the control thread are rate limited per key so a busy flow costs one event per
//!   interval, not one per packet.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrayvec::ArrayVec;
use crossbeam_utils::CachePadded;

use super::hash::{FdbMap, IpMap, Stamp};
use super::{Delta, Event, FdbKey, Report, Versioned};
use crate::types::{MacAddr, TunnelId, Vni};

/// Seconds between two refresh reports for the same learned entry.
pub const REFRESH_INTERVAL_SECS: u32 = 10;
/// Seconds between two miss reports for the same next hop.
pub const MISS_REPORT_INTERVAL_SECS: u32 = 1;
/// FDB entries a replica holds when made by [`channel`].
pub const DEFAULT_FDB_CAPACITY: usize = 64 * 1024;
/// Next-hop resolutions queued for transmission at most.
pub const ARP_QUEUE_CAPACITY: usize = 64;
/// Slots of the direct-mapped filter that rate limits reports of not-yet-known keys.
const LEARN_FILTER_SLOTS: usize = 1024;
/// IPv4 → MAC bindings a replica holds for ARP suppression.
pub const ARP_CAPACITY: usize = 64 * 1024;
/// Tunnels a VNI's flood list holds (configured VTEPs, its group and fleet members).
pub const FLOOD_CAPACITY: usize = 128;

/// The control thread's end of one worker's channels.
pub struct WorkerLink {
    pub deltas: rtrb::Producer<Versioned>,
    pub events: rtrb::Consumer<Event>,
    pub applied: Arc<CachePadded<AtomicU64>>,
}

/// Creates the channels between the control thread and one worker, with a replica of
/// [`DEFAULT_FDB_CAPACITY`] entries.
pub fn channel(delta_capacity: usize, event_capacity: usize) -> (WorkerLink, Replica) {
    channel_with_capacity(delta_capacity, event_capacity, DEFAULT_FDB_CAPACITY)
}

/// Creates the channels between the control thread and one worker, with a replica that holds
/// up to `fdb_capacity` FDB entries (all memory allocated here).
pub fn channel_with_capacity(
    delta_capacity: usize,
    event_capacity: usize,
    fdb_capacity: usize,
) -> (WorkerLink, Replica) {
    let (dp, dc) = rtrb::RingBuffer::new(delta_capacity);
    let (ep, ec) = rtrb::RingBuffer::new(event_capacity);
    let applied = Arc::new(CachePadded::new(AtomicU64::new(0)));
    (
        WorkerLink {
            deltas: dp,
            events: ec,
            applied: applied.clone(),
        },
        Replica {
            fdb: FdbMap::with_capacity(fdb_capacity),
            tunnels: vec![TunnelRow::EMPTY; TunnelId::CAPACITY].into_boxed_slice(),
            tunnel_v4: IpMap::with_capacity(TunnelId::CAPACITY),
            tunnel_v6: IpMap::with_capacity(TunnelId::CAPACITY),
            learn_filter: vec![0; LEARN_FILTER_SLOTS].into_boxed_slice(),
            miss_filter: vec![0; LEARN_FILTER_SLOTS].into_boxed_slice(),
            arp: IpMap::with_capacity(ARP_CAPACITY),
            flood: Vec::new(),
            refused_floods: 0,
            deltas: dc,
            events: ep,
            applied,
            generation: 0,
            solicits: ArrayVec::new(),
            refused_tunnels: 0,
            reconfigure_due: None,
        },
    )
}

/// One row of a replica's tunnel table: where the tunnel goes and through which next hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunnelRow {
    /// The remote VTEP or multicast group; meaningless unless `live`.
    pub remote: IpAddr,
    /// The underlay MAC to send to; `None` until the control thread resolved it.
    pub next_hop: Option<MacAddr>,
    pub live: bool,
    /// Worker second of the last next-hop miss reported for this row.
    last_miss: u32,
}

impl TunnelRow {
    const EMPTY: TunnelRow = TunnelRow {
        remote: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        next_hop: None,
        live: false,
        last_miss: 0,
    };
}

/// The key of an IPv6 address in the replica's reverse map: the two halves folded. Two
/// addresses may share a key; [`Replica::tunnel_of`] compares the row's address, so a
/// collision only makes one of the two unknown to the worker (it is then reported as a
/// sighting every second instead of being matched), never mistaken for the other.
#[inline]
fn v6_key(ip: &std::net::Ipv6Addr) -> u64 {
    let v = u128::from(*ip);
    (v as u64) ^ ((v >> 64) as u64).rotate_left(29)
}

/// One worker's replica.
pub struct Replica {
    fdb: FdbMap,
    /// Indexed by [`TunnelId`]; row 0 is never live.
    tunnels: Box<[TunnelRow]>,
    /// Remote address → tunnel, for decapsulated traffic (learning, per-tunnel counters).
    tunnel_v4: IpMap<TunnelId>,
    tunnel_v6: IpMap<TunnelId>,
    /// Direct-mapped: high 32 bits of a key hash, low 32 bits the second it was last reported.
    learn_filter: Box<[u64]>,
    /// The same for on-demand miss reports.
    miss_filter: Box<[u64]>,
    /// (VNI << 32 | IPv4) → MAC of overlay hosts, for ARP suppression.
    arp: IpMap<MacAddr>,
    /// Per VNI (sorted), the tunnels its broadcast, multicast and unknown unicast go to.
    /// Capacity is reserved before the worker starts ([`Replica::reserve_flood`]), so applying
    /// a delta never allocates.
    flood: Vec<(Vni, Vec<TunnelId>)>,
    refused_floods: u64,
    deltas: rtrb::Consumer<Versioned>,
    events: rtrb::Producer<Event>,
    applied: Arc<CachePadded<AtomicU64>>,
    generation: u64,
    solicits: ArrayVec<IpAddr, ARP_QUEUE_CAPACITY>,
    refused_tunnels: u64,
    /// The generation of a [`Delta::Reconfigure`] taken from the ring but not yet carried out
    /// by the worker; nothing after it is applied until [`Replica::finish_reconfigure`].
    reconfigure_due: Option<u64>,
}

/// Per VNI (sorted), the tunnels its broadcast, multicast and unknown unicast go to; each
/// list's capacity is [`FLOOD_CAPACITY`], allocated off the worker.
pub type FloodLists = Vec<(Vni, Vec<TunnelId>)>;

/// Empty flood lists for `vnis`, with their room reserved (the control thread makes them for
/// a reload; the worker fills them from its current lists in [`Replica::finish_reconfigure`]).
pub fn flood_lists(vnis: &[Vni]) -> FloodLists {
    let mut v: FloodLists = vnis
        .iter()
        .map(|vni| (*vni, Vec::with_capacity(FLOOD_CAPACITY)))
        .collect();
    v.sort_unstable_by_key(|(vni, _)| *vni);
    v.dedup_by_key(|(vni, _)| *vni);
    v
}

impl Replica {
    /// Applies up to `max` pending deltas; returns how many. Stops at a
    /// [`Delta::Reconfigure`], which the worker carries out ([`Replica::reconfigure_due`])
    /// before anything after it applies.
    pub fn apply_pending(&mut self, max: usize) -> usize {
        let mut n = 0;
        while n < max && self.reconfigure_due.is_none() {
            let Ok(v) = self.deltas.pop() else { break };
            if v.delta == Delta::Reconfigure {
                self.reconfigure_due = Some(v.generation);
                break;
            }
            self.apply(v.delta);
            self.generation = v.generation;
            n += 1;
        }
        if n > 0 {
            self.applied.store(self.generation, Ordering::Release);
        }
        n
    }

    /// Whether a reconfiguration waits for the worker.
    #[inline]
    pub fn reconfigure_due(&self) -> bool {
        self.reconfigure_due.is_some()
    }

    /// Carries out the pending reconfiguration. With `flood` (the new VNI set, empty lists
    /// with room) it takes the current list of every VNI it shares with the old set and
    /// becomes the replica's; the old lists are left in `flood` for the control thread to
    /// free. Copies within reserved capacity: no allocation. Without, the lists stay.
    pub fn finish_reconfigure(&mut self, flood: Option<&mut FloodLists>) {
        let Some(generation) = self.reconfigure_due.take() else {
            return;
        };
        if let Some(flood) = flood {
            for (vni, list) in flood.iter_mut() {
                list.clear();
                let old = self.flood_list(*vni);
                let n = old.len().min(list.capacity());
                list.extend_from_slice(old.get(..n).unwrap_or(&[]));
            }
            std::mem::swap(&mut self.flood, flood);
        }
        self.generation = generation;
        self.applied.store(generation, Ordering::Release);
    }

    fn apply(&mut self, d: Delta) {
        match d {
            Delta::FdbSet { key, tunnel } => {
                // A refusal is counted inside the map.
                let _ = self.fdb.insert(&key, tunnel);
            }
            Delta::FdbRemove { key } => {
                self.fdb.remove(&key);
            }
            Delta::FdbFlush { vni } => self.fdb.flush(vni),
            Delta::TunnelSet { id, remote } => self.tunnel_set(id, remote),
            Delta::TunnelRemove { id } => self.tunnel_remove(id),
            Delta::NeighborSet { ip, mac } => {
                if let Some(row) = self.row_of_mut(ip) {
                    row.next_hop = Some(mac);
                    row.last_miss = 0;
                }
            }
            Delta::NeighborRemove { ip } => {
                if let Some(row) = self.row_of_mut(ip) {
                    row.next_hop = None;
                }
            }
            Delta::FloodAdd { vni, tunnel } => {
                if let Ok(i) = self.flood.binary_search_by_key(&vni, |(v, _)| *v) {
                    if let Some((_, list)) = self.flood.get_mut(i) {
                        if !list.contains(&tunnel) {
                            // Never past the reserved capacity: no allocation here.
                            if list.len() < list.capacity() {
                                list.push(tunnel);
                            } else {
                                self.refused_floods += 1;
                            }
                        }
                    }
                } else {
                    self.refused_floods += 1;
                }
            }
            Delta::FloodRemove { vni, tunnel } => {
                if let Ok(i) = self.flood.binary_search_by_key(&vni, |(v, _)| *v) {
                    if let Some((_, list)) = self.flood.get_mut(i) {
                        list.retain(|r| *r != tunnel);
                    }
                }
            }
            Delta::ArpSet { vni, ip, mac } => {
                if self.arp.insert_u64(arp_key(vni, ip), mac).is_err() {
                    self.refused_floods += 1;
                }
            }
            Delta::ArpRemove { vni, ip } => {
                self.arp.remove_u64(arp_key(vni, ip));
            }
            Delta::Solicit { ip } => {
                // The control thread retries, so a request lost to a full queue is harmless.
                let _ = self.solicits.try_push(ip);
            }
            // Taken by `apply_pending` before it gets here.
            Delta::Reconfigure => {}
        }
    }

    fn tunnel_set(&mut self, id: TunnelId, remote: IpAddr) {
        if id.is_local() || id.index() >= self.tunnels.len() {
            self.refused_tunnels += 1;
            return;
        }
        self.tunnel_remove(id);
        let inserted = match remote {
            IpAddr::V4(a) => self.tunnel_v4.insert(a, id),
            IpAddr::V6(a) => self.tunnel_v6.insert_u64(v6_key(&a), id),
        };
        if inserted.is_err() {
            self.refused_tunnels += 1;
            return;
        }
        if let Some(row) = self.tunnels.get_mut(id.index()) {
            *row = TunnelRow {
                remote,
                next_hop: None,
                live: true,
                last_miss: 0,
            };
        }
    }

    fn tunnel_remove(&mut self, id: TunnelId) {
        let Some(row) = self.tunnels.get_mut(id.index()) else {
            return;
        };
        if !row.live {
            return;
        }
        let old = row.remote;
        *row = TunnelRow::EMPTY;
        // The reverse map may already point at another row (an IPv6 key collision): only
        // remove what points here.
        match old {
            IpAddr::V4(a) => {
                if self.tunnel_v4.get(a) == Some(id) {
                    self.tunnel_v4.remove(a);
                }
            }
            IpAddr::V6(a) => {
                let k = v6_key(&a);
                if self.tunnel_v6.get_u64(k) == Some(id) {
                    self.tunnel_v6.remove_u64(k);
                }
            }
        }
    }

    /// The live tunnel whose remote address is `ip`.
    #[inline]
    pub fn tunnel_of(&self, ip: IpAddr) -> Option<TunnelId> {
        let id = match ip {
            IpAddr::V4(a) => self.tunnel_v4.get(a)?,
            IpAddr::V6(a) => self.tunnel_v6.get_u64(v6_key(&a))?,
        };
        let row = self.tunnels.get(id.index())?;
        (row.live && row.remote == ip).then_some(id)
    }

    fn row_of_mut(&mut self, ip: IpAddr) -> Option<&mut TunnelRow> {
        let id = self.tunnel_of(ip)?;
        self.tunnels.get_mut(id.index())
    }

    /// Row `id` of the tunnel table, when live.
    #[inline]
    pub fn tunnel(&self, id: TunnelId) -> Option<&TunnelRow> {
        self.tunnels.get(id.index()).filter(|r| r.live)
    }

    /// Live tunnels (allocates: tests and listings only).
    pub fn tunnels(&self) -> Vec<(TunnelId, IpAddr, Option<MacAddr>)> {
        self.tunnels
            .iter()
            .enumerate()
            .filter(|(_, r)| r.live)
            .map(|(i, r)| (TunnelId(i as u32), r.remote, r.next_hop))
            .collect()
    }

    /// Tunnel deltas refused (an id out of range or a full reverse map; should stay 0).
    pub fn refused_tunnels(&self) -> u64 {
        self.refused_tunnels
    }

    /// Reserves the flood lists of `vnis` (before the worker starts; allocates).
    pub fn reserve_flood(&mut self, vnis: &[Vni]) {
        for &vni in vnis {
            if let Err(i) = self.flood.binary_search_by_key(&vni, |(v, _)| *v) {
                self.flood
                    .insert(i, (vni, Vec::with_capacity(FLOOD_CAPACITY)));
            }
        }
    }

    /// The tunnels a VNI floods to.
    #[inline]
    pub fn flood_list(&self, vni: Vni) -> &[TunnelId] {
        match self.flood.binary_search_by_key(&vni, |(v, _)| *v) {
            Ok(i) => self.flood.get(i).map_or(&[], |(_, l)| l.as_slice()),
            Err(_) => &[],
        }
    }

    /// The addresses a VNI floods to, in list order (allocates: tests and listings only).
    pub fn flood_remotes(&self, vni: Vni) -> Vec<IpAddr> {
        self.flood_list(vni)
            .iter()
            .filter_map(|id| self.tunnel(*id).map(|r| r.remote))
            .collect()
    }

    /// The MAC of overlay host `ip` in `vni`, for ARP suppression.
    #[inline]
    pub fn arp_lookup(&self, vni: Vni, ip: Ipv4Addr) -> Option<MacAddr> {
        if self.arp.is_empty() {
            return None;
        }
        self.arp.get_u64(arp_key(vni, ip))
    }

    /// Flood-list or ARP-binding deltas refused for lack of room (should stay 0).
    pub fn refused_floods(&self) -> u64 {
        self.refused_floods
    }

    /// The generation of the last applied delta.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The tunnel for `(vni, mac)`.
    #[inline]
    pub fn lookup(&self, vni: Vni, mac: MacAddr) -> Option<TunnelId> {
        self.fdb.get(&FdbKey { vni, mac })
    }

    /// The remote address of the tunnel for `(vni, mac)` (tests and listings).
    pub fn lookup_remote(&self, vni: Vni, mac: MacAddr) -> Option<IpAddr> {
        let id = self.lookup(vni, mac)?;
        self.tunnel(id).map(|r| r.remote)
    }

    /// Looks up a whole burst of keys at once; `out[i]` answers `keys[i]`. Hashes and
    /// prefetches every key's bucket before probing any, so the cache misses overlap.
    #[inline]
    pub fn lookup_burst(&self, keys: &[FdbKey], out: &mut [Option<TunnelId>]) {
        self.fdb.get_burst(keys, out);
    }

    /// Number of FDB entries in the replica.
    pub fn len(&self) -> usize {
        self.fdb.len()
    }
    pub fn is_empty(&self) -> bool {
        self.fdb.is_empty()
    }
    /// Most FDB entries the replica holds.
    pub fn capacity(&self) -> usize {
        self.fdb.capacity()
    }
    /// FDB inserts refused because the replica was full (should stay 0).
    pub fn refused_inserts(&self) -> u64 {
        self.fdb.refused()
    }
    /// Number of tunnels whose next hop is resolved.
    pub fn neighbor_len(&self) -> usize {
        self.tunnels
            .iter()
            .filter(|r| r.live && r.next_hop.is_some())
            .count()
    }

    /// All entries with their tunnels' remote addresses, sorted, for convergence checks in
    /// tests (allocates: not for the fast path).
    pub fn entries(&self) -> Vec<(FdbKey, IpAddr)> {
        let mut v: Vec<_> = self
            .fdb
            .iter()
            .map(|(k, id)| {
                let ip = if id.is_local() {
                    IpAddr::V4(Ipv4Addr::UNSPECIFIED)
                } else {
                    self.tunnel(id)
                        .map_or(IpAddr::V4(Ipv4Addr::BROADCAST), |r| r.remote)
                };
                (k, ip)
            })
            .collect();
        v.sort();
        v
    }

    /// Records that `key` was seen behind `remote` at worker tick `now_secs`, and reports it
    /// to the control thread when it is new, moved, or due for an ageing refresh. New and
    /// moved keys are reported at most once per second each (a direct-mapped filter; a
    /// collision only costs an extra report). A sender without a tunnel yet is new by
    /// definition: the control thread creates its tunnel.
    pub fn learn(&mut self, key: FdbKey, remote: IpAddr, now_secs: u32) -> Report {
        let tunnel = self.tunnel_of(remote);
        self.learn_via(key, remote, tunnel, now_secs)
    }

    /// [`Replica::learn`] with the sender's tunnel already looked up (`tunnel_of(remote)`).
    #[inline]
    pub fn learn_via(
        &mut self,
        key: FdbKey,
        remote: IpAddr,
        tunnel: Option<TunnelId>,
        now_secs: u32,
    ) -> Report {
        let stamp = match tunnel {
            Some(id) => self
                .fdb
                .check_and_stamp(&key, id, now_secs, REFRESH_INTERVAL_SECS),
            None => Stamp::Moved,
        };
        match stamp {
            Stamp::Fresh => Report::NotNeeded,
            Stamp::Due => Self::push(&mut self.events, Event::Learn { key, remote }),
            Stamp::Absent | Stamp::Moved => {
                let h = self.fdb.key_hash(&key);
                let ev = Event::Learn { key, remote };
                Self::filtered_push(&mut self.learn_filter, &mut self.events, h, now_secs, ev)
            }
        }
    }

    /// Records that `key` was seen as a source on the access side, and reports it when it is
    /// new here, moved here, or due for an ageing refresh — the same one-probe, rate-limited
    /// path as [`Replica::learn`], with [`super::LOCAL`] as the stored value. `ip` is the
    /// address the frame carried, sent along with the report.
    #[inline]
    pub fn learn_local(&mut self, key: FdbKey, ip: Option<Ipv4Addr>, now_secs: u32) -> Report {
        let ev = Event::LocalSeen { key, ip };
        match self
            .fdb
            .check_and_stamp(&key, super::LOCAL, now_secs, REFRESH_INTERVAL_SECS)
        {
            Stamp::Fresh => Report::NotNeeded,
            Stamp::Due => Self::push(&mut self.events, ev),
            Stamp::Absent | Stamp::Moved => {
                let h = self.fdb.key_hash(&key);
                Self::filtered_push(&mut self.learn_filter, &mut self.events, h, now_secs, ev)
            }
        }
    }

    /// Reports a unicast miss (on-demand mode), at most once per second per key.
    #[inline]
    pub fn report_miss(&mut self, key: FdbKey, now_secs: u32) -> Report {
        let h = self.fdb.key_hash(&key);
        Self::filtered_push(
            &mut self.miss_filter,
            &mut self.events,
            h,
            now_secs,
            Event::Miss { key },
        )
    }

    /// Pushes `ev` unless the direct-mapped `filter` saw the same key hash this second.
    #[inline]
    fn filtered_push(
        filter: &mut [u64],
        events: &mut rtrb::Producer<Event>,
        h: u64,
        now_secs: u32,
        ev: Event,
    ) -> Report {
        let tag = h & 0xffff_ffff_0000_0000;
        let idx = (h as usize) & (LEARN_FILTER_SLOTS - 1);
        let Some(slot) = filter.get_mut(idx) else {
            return Report::NotNeeded;
        };
        if *slot & 0xffff_ffff_0000_0000 == tag && *slot as u32 == now_secs {
            return Report::NotNeeded;
        }
        let r = Self::push(events, ev);
        if r == Report::Sent {
            *slot = tag | u64::from(now_secs);
        }
        r
    }

    /// The row of tunnel `id` when its next hop is known (remote address and next-hop MAC).
    /// When it is not, reports it (at most once per `MISS_REPORT_INTERVAL_SECS` per tunnel)
    /// so the control thread resolves it.
    #[inline]
    pub fn next_hop(&mut self, id: TunnelId, now_secs: u32) -> Result<(IpAddr, MacAddr), Report> {
        match self.resolved(id, now_secs) {
            Ok(row) => match row.next_hop {
                Some(mac) => Ok((row.remote, mac)),
                None => Err(Report::NotNeeded),
            },
            Err(r) => Err(r),
        }
    }

    /// [`Replica::next_hop`] without copying the row: a row returned here has `next_hop` set.
    #[inline]
    pub fn resolved(&mut self, id: TunnelId, now_secs: u32) -> Result<&TunnelRow, Report> {
        let Some(row) = self.tunnels.get_mut(id.index()) else {
            return Err(Report::NotNeeded);
        };
        if row.next_hop.is_some() && row.live {
            return Ok(row);
        }
        if !row.live
            || (row.last_miss != 0
                && now_secs.wrapping_sub(row.last_miss) < MISS_REPORT_INTERVAL_SECS)
        {
            return Err(Report::NotNeeded);
        }
        let ip = row.remote;
        let r = Self::push(&mut self.events, Event::NeighborMiss { ip });
        if r == Report::Sent {
            row.last_miss = now_secs;
        }
        Err(r)
    }

    /// Reports an ARP or Neighbor Advertisement sighting from the underlay.
    pub fn neighbor_seen(&mut self, ip: IpAddr, mac: MacAddr) -> Report {
        if self.neighbor(ip) == Some(mac) {
            return Report::NotNeeded;
        }
        Self::push(&mut self.events, Event::NeighborSeen { ip, mac })
    }

    /// The next-hop MAC this replica holds for the tunnel towards `ip`, without reporting.
    pub fn neighbor(&self, ip: IpAddr) -> Option<MacAddr> {
        let id = self.tunnel_of(ip)?;
        self.tunnel(id)?.next_hop
    }

    /// A next-hop resolution the control thread asked this worker to transmit.
    pub fn take_solicit(&mut self) -> Option<IpAddr> {
        self.solicits.pop()
    }

    fn push(events: &mut rtrb::Producer<Event>, ev: Event) -> Report {
        match events.push(ev) {
            Ok(()) => Report::Sent,
            Err(_) => Report::QueueFull,
        }
    }
}

/// The ARP-suppression key of `ip` in `vni`.
#[inline]
fn arp_key(vni: Vni, ip: Ipv4Addr) -> u64 {
    (u64::from(vni.get()) << 32) | u64::from(u32::from(ip))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    fn key(v: u32, m: u64) -> FdbKey {
        FdbKey::new(Vni::from_wire(v), MacAddr::from_u64(m))
    }

    fn send(link: &mut WorkerLink, generation: u64, delta: Delta) {
        assert!(link.deltas.push(Versioned { generation, delta }).is_ok());
    }

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    const V6: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2));

    /// A replica with tunnel 1 → A, 2 → B, 3 → V6.
    fn with_tunnels() -> (WorkerLink, Replica) {
        let (mut link, mut r) = channel_with_capacity(64, 64, 100);
        send(
            &mut link,
            1,
            Delta::TunnelSet {
                id: TunnelId(1),
                remote: A,
            },
        );
        send(
            &mut link,
            2,
            Delta::TunnelSet {
                id: TunnelId(2),
                remote: B,
            },
        );
        send(
            &mut link,
            3,
            Delta::TunnelSet {
                id: TunnelId(3),
                remote: V6,
            },
        );
        r.apply_pending(8);
        (link, r)
    }

    #[test]
    fn applies_deltas_and_reports_generation() {
        let (mut link, mut r) = with_tunnels();
        let t1 = TunnelId(1);
        send(
            &mut link,
            4,
            Delta::FdbSet {
                key: key(1, 1),
                tunnel: t1,
            },
        );
        send(
            &mut link,
            5,
            Delta::FdbSet {
                key: key(2, 1),
                tunnel: t1,
            },
        );
        send(&mut link, 6, Delta::FdbRemove { key: key(1, 1) });
        assert_eq!(r.apply_pending(2), 2);
        assert_eq!(r.generation(), 5);
        assert_eq!(link.applied.load(Ordering::Acquire), 5);
        assert_eq!(r.lookup(Vni::from_wire(1), MacAddr::from_u64(1)), Some(t1));
        assert_eq!(
            r.lookup_remote(Vni::from_wire(1), MacAddr::from_u64(1)),
            Some(A)
        );
        assert_eq!(r.apply_pending(10), 1);
        assert_eq!(r.entries(), vec![(key(2, 1), A)]);
        send(
            &mut link,
            7,
            Delta::FdbFlush {
                vni: Some(Vni::from_wire(2)),
            },
        );
        r.apply_pending(10);
        assert!(r.is_empty());
        assert_eq!(r.capacity(), 100);
    }

    #[test]
    fn tunnels_of_both_families_are_found_by_address_and_retired() {
        let (mut link, mut r) = with_tunnels();
        assert_eq!(r.tunnel_of(A), Some(TunnelId(1)));
        assert_eq!(r.tunnel_of(V6), Some(TunnelId(3)));
        assert_eq!(r.tunnel_of("fd00::3".parse().unwrap()), None);
        // A re-addressed row forgets its old address and next hop.
        let mac = MacAddr([2, 0, 0, 0, 0, 9]);
        send(&mut link, 4, Delta::NeighborSet { ip: B, mac });
        send(
            &mut link,
            5,
            Delta::TunnelSet {
                id: TunnelId(2),
                remote: V6,
            },
        );
        r.apply_pending(8);
        assert_eq!(r.tunnel(TunnelId(2)).map(|t| t.next_hop), Some(None));
        send(&mut link, 6, Delta::TunnelRemove { id: TunnelId(1) });
        send(
            &mut link,
            7,
            Delta::TunnelSet {
                id: TunnelId(0),
                remote: A,
            },
        );
        send(
            &mut link,
            8,
            Delta::TunnelSet {
                id: TunnelId(9999),
                remote: A,
            },
        );
        r.apply_pending(8);
        assert_eq!(r.tunnel_of(A), None);
        assert!(r.tunnel(TunnelId(1)).is_none());
        assert_eq!(r.refused_tunnels(), 2);
    }

    #[test]
    fn learn_reports_new_moved_and_due_refresh_only() {
        let (mut link, mut r) = with_tunnels();
        let k = key(1, 1);
        assert_eq!(r.learn(k, A, 100), Report::Sent);
        // Same second, still unknown: filtered.
        assert_eq!(r.learn(k, A, 100), Report::NotNeeded);
        assert_eq!(r.learn(k, A, 101), Report::Sent);
        send(
            &mut link,
            4,
            Delta::FdbSet {
                key: k,
                tunnel: TunnelId(1),
            },
        );
        r.apply_pending(8);
        assert_eq!(r.learn(k, A, 102), Report::Sent); // first refresh stamp
        assert_eq!(r.learn(k, A, 103), Report::NotNeeded);
        assert_eq!(r.learn(k, A, 111), Report::NotNeeded);
        assert_eq!(r.learn(k, A, 112), Report::Sent);
        // Moved: reported, then filtered within the second.
        assert_eq!(r.learn(k, B, 112), Report::Sent);
        assert_eq!(r.learn(k, B, 112), Report::NotNeeded);
        // A sender without a tunnel yet is reported with its address.
        let fresh = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 99));
        assert_eq!(r.learn(key(1, 2), fresh, 112), Report::Sent);
        let mut n = 0;
        while let Ok(ev) = link.events.pop() {
            assert!(matches!(ev, Event::Learn { .. }));
            n += 1;
        }
        assert_eq!(n, 6);
    }

    #[test]
    fn queue_full_is_reported() {
        let (_link, mut r) = channel_with_capacity(4, 1, 10);
        assert_eq!(r.learn(key(1, 1), A, 1), Report::Sent);
        assert_eq!(r.learn(key(1, 2), A, 1), Report::QueueFull);
        // A dropped report is not remembered: the next packet tries again.
        assert_eq!(r.learn(key(1, 2), A, 1), Report::QueueFull);
    }

    #[test]
    fn next_hop_miss_is_rate_limited_and_resolved_by_delta() {
        let (mut link, mut r) = with_tunnels();
        let id = TunnelId(3);
        let mac = MacAddr([2, 0, 0, 0, 0, 9]);
        assert_eq!(r.next_hop(id, 5), Err(Report::Sent));
        assert_eq!(r.next_hop(id, 5), Err(Report::NotNeeded));
        assert_eq!(r.next_hop(id, 6), Err(Report::Sent));
        assert_eq!(r.next_hop(TunnelId(77), 6), Err(Report::NotNeeded));
        send(&mut link, 4, Delta::NeighborSet { ip: V6, mac });
        send(&mut link, 4, Delta::Solicit { ip: V6 });
        r.apply_pending(8);
        assert_eq!(r.next_hop(id, 6), Ok((V6, mac)));
        assert_eq!(r.neighbor_seen(V6, mac), Report::NotNeeded);
        assert_eq!(r.take_solicit(), Some(V6));
        assert_eq!(r.take_solicit(), None);
        send(&mut link, 5, Delta::NeighborRemove { ip: V6 });
        r.apply_pending(8);
        assert_eq!(r.next_hop(id, 7), Err(Report::Sent));
        let mut misses = 0;
        while let Ok(ev) = link.events.pop() {
            assert_eq!(ev, Event::NeighborMiss { ip: V6 });
            misses += 1;
        }
        assert_eq!(misses, 3);
    }

    #[test]
    fn flood_lists_hold_tunnels_within_the_reserved_room() {
        let (mut link, mut r) = with_tunnels();
        r.reserve_flood(&[Vni::from_wire(5)]);
        let v = Vni::from_wire(5);
        send(
            &mut link,
            4,
            Delta::FloodAdd {
                vni: v,
                tunnel: TunnelId(1),
            },
        );
        send(
            &mut link,
            5,
            Delta::FloodAdd {
                vni: v,
                tunnel: TunnelId(3),
            },
        );
        send(
            &mut link,
            6,
            Delta::FloodAdd {
                vni: v,
                tunnel: TunnelId(1),
            },
        );
        send(
            &mut link,
            7,
            Delta::FloodAdd {
                vni: Vni::from_wire(6),
                tunnel: TunnelId(1),
            },
        );
        r.apply_pending(8);
        assert_eq!(r.flood_list(v), &[TunnelId(1), TunnelId(3)]);
        assert_eq!(r.flood_remotes(v), vec![A, V6]);
        assert_eq!(r.refused_floods(), 1);
        send(
            &mut link,
            8,
            Delta::FloodRemove {
                vni: v,
                tunnel: TunnelId(1),
            },
        );
        r.apply_pending(8);
        assert_eq!(r.flood_list(v), &[TunnelId(3)]);
    }

    #[test]
    fn full_replica_refuses_and_counts() {
        let (mut link, mut r) = channel_with_capacity(16, 16, 2);
        for i in 0..3 {
            send(
                &mut link,
                i + 1,
                Delta::FdbSet {
                    key: key(1, i),
                    tunnel: TunnelId(1),
                },
            );
        }
        r.apply_pending(8);
        assert_eq!(r.len(), 2);
        assert_eq!(r.refused_inserts(), 1);
        assert_eq!(r.generation(), 3);
    }
}
