//! The authoritative FDB, owned by the control thread.
//!
//! # Design
//! - One entry per (VNI, MAC) with its kind: `Static` (config or CLI), `Remote` (from a
//!   distributed store), `Local` (seen as a source on this gateway's access side) or `Learned`
//!   (reported by a worker from the underlay). Precedence is static > remote, local > learned:
//!   a learned sighting never replaces anything else, a static entry replaces all and is never
//!   replaced. Remote and local follow the host (MAC mobility): a local sighting replaces a
//!   remote entry (the host moved here) and a store update replaces a local one (it moved
//!   away), whichever is newer.
//! - Learning is per VNI: a VNI without a policy is unknown (its events are rejected), a VNI
//!   with learning off ignores events (counted apart), and learned entries are capped per VNI
//!   and globally. A known MAC seen behind a new VTEP moves (counted).
//! - Learned entries age: removed once not refreshed for `aging`; static and remote never do.
//! - MAC flapping is damped: a MAC that moves more than [`FlapDamping::moves`] times within
//!   [`FlapDamping::window`] (a loop, or a spoofer) is frozen where it is for
//!   [`FlapDamping::hold`]; its moves meanwhile are counted and dropped, so a loop cannot churn
//!   every replica.
//! - Every method returns what changed so the caller (`control`) publishes exactly that.
//! - Std collections (a `BTreeMap`, so listings come out sorted): this is the control thread.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::control::FdbError;
use super::FdbKey;
use crate::types::{MacAddr, Vni};

/// Where an entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EntryKind {
    /// From the configuration or the control socket; never ages, never replaced by learning.
    Static,
    /// Reported by a worker from the underlay; ages.
    Learned,
    /// From the distributed store; never ages, replaces learned entries.
    Remote,
    /// Behind this gateway's access side (its remote is [`super::LOCAL_ADDR`], its replica value [`super::LOCAL`]); ages.
    Local,
}

impl fmt::Display for EntryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EntryKind::Static => "static",
            EntryKind::Learned => "learned",
            EntryKind::Remote => "remote",
            EntryKind::Local => "local",
        })
    }
}

/// Learning policy of one VNI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VniPolicy {
    pub learning: bool,
    pub max_learned: usize,
}

/// One row of an FDB listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdbRow {
    pub vni: Vni,
    pub mac: MacAddr,
    pub remote: IpAddr,
    pub kind: EntryKind,
    /// Seconds since the entry was added or last refreshed.
    pub age_secs: u64,
}

/// One entry of the authoritative table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdbEntry {
    pub remote: IpAddr,
    pub kind: EntryKind,
    pub last_seen: Instant,
}

/// When a moving MAC is frozen in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlapDamping {
    /// Moves tolerated within `window`; one more freezes the entry (0: never damp).
    pub moves: u32,
    pub window: Duration,
    /// How long a frozen entry ignores moves.
    pub hold: Duration,
}

impl Default for FlapDamping {
    fn default() -> Self {
        // A worker reports a moving MAC at most once a second, so a loop shows as about one
        // move a second per worker: five in ten seconds is a loop, a migration moves once.
        FlapDamping {
            moves: 5,
            window: Duration::from_secs(10),
            hold: Duration::from_secs(30),
        }
    }
}

/// The recent moves of one MAC.
#[derive(Debug, Clone, Copy)]
struct Flap {
    window_start: Instant,
    moves: u32,
    frozen_until: Option<Instant>,
}

/// What a learn event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LearnOutcome {
    /// A new learned entry: publish it.
    Added,
    /// Moved to a new remote: publish it.
    Moved,
    /// This move was one too many: the entry is frozen where it is (log it once).
    Frozen,
    /// A move of a frozen entry, dropped.
    Damped,
    /// Same remote, ageing clock restarted: nothing to publish.
    Refreshed,
    /// Learning is off for the VNI.
    Ignored,
    /// Unknown VNI, static or remote entry in the way, or a limit reached.
    Rejected,
}

/// Event and ageing counters of the table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableCounters {
    pub learn_events: u64,
    pub moves: u64,
    pub learn_rejected: u64,
    pub learn_ignored: u64,
    pub aged_out: u64,
    /// Entries frozen for flapping.
    pub flaps_damped: u64,
    /// Moves dropped because the entry was frozen.
    pub moves_suppressed: u64,
}

/// The authoritative FDB.
pub struct FdbTable {
    entries: BTreeMap<FdbKey, FdbEntry>,
    policies: BTreeMap<Vni, VniPolicy>,
    learned_per_vni: BTreeMap<Vni, usize>,
    local_per_vni: BTreeMap<Vni, usize>,
    learned_total: usize,
    static_total: usize,
    remote_total: usize,
    local_total: usize,
    max_learned_total: usize,
    max_entries: usize,
    aging: Duration,
    counters: TableCounters,
    damping: FlapDamping,
    /// MACs that moved recently (pruned by [`FdbTable::expire`]).
    flaps: HashMap<FdbKey, Flap>,
}

impl FdbTable {
    /// An empty table. `max_entries` bounds all kinds together (the replica capacity).
    pub fn new(
        policies: BTreeMap<Vni, VniPolicy>,
        max_learned_total: usize,
        max_entries: usize,
        aging: Duration,
    ) -> FdbTable {
        FdbTable {
            entries: BTreeMap::new(),
            policies,
            learned_per_vni: BTreeMap::new(),
            local_per_vni: BTreeMap::new(),
            learned_total: 0,
            static_total: 0,
            remote_total: 0,
            local_total: 0,
            max_learned_total,
            max_entries,
            aging,
            counters: TableCounters::default(),
            damping: FlapDamping::default(),
            flaps: HashMap::new(),
        }
    }

    pub fn flap_damping(&self) -> FlapDamping {
        self.damping
    }

    /// Changes the flap damping (existing freezes keep their hold).
    pub fn set_flap_damping(&mut self, damping: FlapDamping) {
        self.damping = damping;
    }

    /// Whether `key` may move now; counts the move and freezes a flapping entry.
    fn allow_move(&mut self, key: FdbKey, now: Instant) -> LearnOutcome {
        let d = self.damping;
        if d.moves == 0 {
            return LearnOutcome::Moved;
        }
        let f = self.flaps.entry(key).or_insert(Flap {
            window_start: now,
            moves: 0,
            frozen_until: None,
        });
        if let Some(until) = f.frozen_until {
            if now < until {
                self.counters.moves_suppressed += 1;
                return LearnOutcome::Damped;
            }
            f.frozen_until = None;
            f.moves = 0;
            f.window_start = now;
        }
        if now.saturating_duration_since(f.window_start) > d.window {
            f.window_start = now;
            f.moves = 0;
        }
        f.moves += 1;
        if f.moves > d.moves {
            f.frozen_until = Some(now + d.hold);
            self.counters.flaps_damped += 1;
            self.counters.moves_suppressed += 1;
            return LearnOutcome::Frozen;
        }
        LearnOutcome::Moved
    }

    /// Whether `key` is frozen for flapping at `now`.
    pub fn frozen(&self, key: &FdbKey, now: Instant) -> bool {
        self.flaps
            .get(key)
            .and_then(|f| f.frozen_until)
            .is_some_and(|u| now < u)
    }

    /// Changes the bound on all entries together; existing entries stay.
    pub fn set_max_entries(&mut self, max_entries: usize) {
        self.max_entries = max_entries;
    }

    /// Replaces the learning policies and the ageing time (a configuration reload). Entries
    /// of every kind in VNIs no longer served leave the table; their keys and kinds are
    /// returned. Entries over a lowered limit stay until they age.
    pub fn reconfigure(
        &mut self,
        policies: BTreeMap<Vni, VniPolicy>,
        max_learned_total: usize,
        aging: Duration,
    ) -> Vec<(FdbKey, EntryKind)> {
        let gone: Vec<(FdbKey, EntryKind)> = self
            .entries
            .iter()
            .filter(|(k, _)| !policies.contains_key(&k.vni))
            .map(|(k, e)| (*k, e.kind))
            .collect();
        for (k, _) in &gone {
            if let Some(e) = self.entries.remove(k) {
                self.account(k.vni, e.kind, false);
            }
        }
        self.policies = policies;
        self.max_learned_total = max_learned_total;
        self.aging = aging;
        gone
    }

    /// Whether `vni` is configured here.
    pub fn serves(&self, vni: Vni) -> bool {
        self.policies.contains_key(&vni)
    }

    /// The bound on all entries together.
    /// The ageing time of learned entries.
    pub fn aging(&self) -> Duration {
        self.aging
    }

    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    pub fn get(&self, key: &FdbKey) -> Option<&FdbEntry> {
        self.entries.get(key)
    }
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    pub fn counters(&self) -> TableCounters {
        self.counters
    }
    /// (static, learned, remote) entry counts.
    pub fn counts(&self) -> (usize, usize, usize) {
        (self.static_total, self.learned_total, self.remote_total)
    }
    /// Entries behind this gateway's access side.
    pub fn local_count(&self) -> usize {
        self.local_total
    }
    /// Learned entries of one VNI.
    pub fn learned_in(&self, vni: Vni) -> usize {
        self.learned_per_vni.get(&vni).copied().unwrap_or(0)
    }

    fn account(&mut self, vni: Vni, kind: EntryKind, add: bool) {
        let d = |n: &mut usize| {
            if add {
                *n += 1
            } else {
                *n = n.saturating_sub(1)
            }
        };
        match kind {
            EntryKind::Static => d(&mut self.static_total),
            EntryKind::Remote => d(&mut self.remote_total),
            EntryKind::Local => {
                d(&mut self.local_total);
                d(self.local_per_vni.entry(vni).or_insert(0));
            }
            EntryKind::Learned => {
                d(&mut self.learned_total);
                d(self.learned_per_vni.entry(vni).or_insert(0));
            }
        }
    }

    fn put(&mut self, key: FdbKey, e: FdbEntry) {
        if let Some(old) = self.entries.insert(key, e) {
            self.account(key.vni, old.kind, false);
        }
        self.account(key.vni, e.kind, true);
    }

    fn check_room(&self, key: &FdbKey) -> Result<(), FdbError> {
        if !self.entries.contains_key(key) && self.entries.len() >= self.max_entries {
            return Err(FdbError::TableFull {
                max: self.max_entries,
            });
        }
        Ok(())
    }

    /// Sets a static entry (replacing any other kind). Returns whether the published
    /// mapping (key → remote) changed.
    pub fn set_static(
        &mut self,
        key: FdbKey,
        remote: IpAddr,
        now: Instant,
    ) -> Result<bool, FdbError> {
        if !self.policies.contains_key(&key.vni) {
            return Err(FdbError::UnknownVni(key.vni));
        }
        self.check_room(&key)?;
        let changed = self.entries.get(&key).map(|e| e.remote) != Some(remote);
        self.put(
            key,
            FdbEntry {
                remote,
                kind: EntryKind::Static,
                last_seen: now,
            },
        );
        Ok(changed)
    }

    /// Sets an entry from the distributed store: replaces learned and remote entries, never a
    /// static one. Returns whether the published mapping changed.
    pub fn set_remote(
        &mut self,
        key: FdbKey,
        remote: IpAddr,
        now: Instant,
    ) -> Result<bool, FdbError> {
        if !self.policies.contains_key(&key.vni) {
            return Err(FdbError::UnknownVni(key.vni));
        }
        if let Some(e) = self.entries.get(&key) {
            if e.kind == EntryKind::Static {
                return Err(FdbError::StaticEntry {
                    vni: key.vni,
                    mac: key.mac,
                });
            }
        }
        self.check_room(&key)?;
        let changed = self.entries.get(&key).map(|e| e.remote) != Some(remote);
        self.put(
            key,
            FdbEntry {
                remote,
                kind: EntryKind::Remote,
                last_seen: now,
            },
        );
        Ok(changed)
    }

    /// Removes an entry of any kind.
    pub fn remove(&mut self, key: FdbKey) -> Result<FdbEntry, FdbError> {
        let e = self.entries.remove(&key).ok_or(FdbError::NotFound {
            vni: key.vni,
            mac: key.mac,
        })?;
        self.account(key.vni, e.kind, false);
        Ok(e)
    }

    /// Whether every entry in scope (one VNI or all) is learned, so a flush of learned
    /// entries empties the scope.
    pub fn only_learned(&self, vni: Option<Vni>) -> bool {
        match vni {
            None => self.static_total == 0 && self.remote_total == 0 && self.local_total == 0,
            Some(v) => self
                .scope(Some(v))
                .all(|(_, e)| e.kind == EntryKind::Learned),
        }
    }

    fn scope(&self, vni: Option<Vni>) -> impl Iterator<Item = (&FdbKey, &FdbEntry)> + '_ {
        let (lo, hi) = match vni {
            Some(v) => (
                FdbKey::new(v, MacAddr::ZERO),
                FdbKey::new(v, MacAddr::from_u64(0xffff_ffff_ffff)),
            ),
            None => (
                FdbKey::new(Vni::from_wire(0), MacAddr::ZERO),
                FdbKey::new(
                    Vni::from_wire(Vni::MAX),
                    MacAddr::from_u64(0xffff_ffff_ffff),
                ),
            ),
        };
        self.entries.range(lo..=hi)
    }

    /// Removes the learned entries of one VNI or of all; returns their keys.
    pub fn flush_learned(&mut self, vni: Option<Vni>) -> Vec<FdbKey> {
        let keys: Vec<FdbKey> = self
            .scope(vni)
            .filter(|(_, e)| e.kind == EntryKind::Learned)
            .map(|(k, _)| *k)
            .collect();
        for k in &keys {
            if let Some(e) = self.entries.remove(k) {
                self.account(k.vni, e.kind, false);
            }
        }
        keys
    }

    /// Handles a worker's sighting of `key` behind `remote` at `now`.
    pub fn learn(&mut self, key: FdbKey, remote: IpAddr, now: Instant) -> LearnOutcome {
        self.counters.learn_events += 1;
        let Some(policy) = self.policies.get(&key.vni).copied() else {
            self.counters.learn_rejected += 1;
            return LearnOutcome::Rejected;
        };
        if !policy.learning {
            self.counters.learn_ignored += 1;
            return LearnOutcome::Ignored;
        }
        if let Some(e) = self.entries.get_mut(&key) {
            return match e.kind {
                EntryKind::Learned if e.remote == remote => {
                    e.last_seen = now;
                    LearnOutcome::Refreshed
                }
                EntryKind::Learned => {
                    let outcome = self.allow_move(key, now);
                    if outcome == LearnOutcome::Moved {
                        if let Some(e) = self.entries.get_mut(&key) {
                            e.remote = remote;
                            e.last_seen = now;
                        }
                        self.counters.moves += 1;
                    }
                    outcome
                }
                // The configured or distributed answer stands; a sighting that agrees with it
                // is not a rejection.
                _ if e.remote == remote => LearnOutcome::Refreshed,
                _ => {
                    self.counters.learn_rejected += 1;
                    LearnOutcome::Rejected
                }
            };
        }
        if !self.room_for_dynamic(key.vni, policy) {
            self.counters.learn_rejected += 1;
            return LearnOutcome::Rejected;
        }
        self.put(
            key,
            FdbEntry {
                remote,
                kind: EntryKind::Learned,
                last_seen: now,
            },
        );
        LearnOutcome::Added
    }

    /// Handles a worker's sighting of `key` as a source on the access side at `now`. Local
    /// entries share the learned limits (per VNI and in total), whatever the VNI's learning
    /// switch says: that switch is about the underlay.
    pub fn learn_local(&mut self, key: FdbKey, now: Instant) -> LearnOutcome {
        self.counters.learn_events += 1;
        let Some(policy) = self.policies.get(&key.vni).copied() else {
            self.counters.learn_rejected += 1;
            return LearnOutcome::Rejected;
        };
        let room = self.room_for_dynamic(key.vni, policy);
        let outcome = match self.entries.get_mut(&key) {
            Some(e) if e.kind == EntryKind::Local => {
                e.last_seen = now;
                return LearnOutcome::Refreshed;
            }
            Some(e) if e.kind == EntryKind::Static => {
                self.counters.learn_rejected += 1;
                return LearnOutcome::Rejected;
            }
            // Learned or remote: the host is here now, unless it keeps moving.
            Some(_) => {
                let outcome = self.allow_move(key, now);
                if outcome != LearnOutcome::Moved {
                    return outcome;
                }
                self.counters.moves += 1;
                LearnOutcome::Moved
            }
            None if !room => {
                self.counters.learn_rejected += 1;
                return LearnOutcome::Rejected;
            }
            None => LearnOutcome::Added,
        };
        self.put(
            key,
            FdbEntry {
                remote: super::LOCAL_ADDR,
                kind: EntryKind::Local,
                last_seen: now,
            },
        );
        outcome
    }

    /// Whether one more learned or local entry fits the VNI's and the global limits (the two
    /// kinds count together) and the table.
    fn room_for_dynamic(&self, vni: Vni, policy: VniPolicy) -> bool {
        self.learned_in(vni) + self.local_in(vni) < policy.max_learned
            && self.learned_total + self.local_total < self.max_learned_total
            && self.entries.len() < self.max_entries
    }

    /// Local entries of one VNI.
    pub fn local_in(&self, vni: Vni) -> usize {
        self.local_per_vni.get(&vni).copied().unwrap_or(0)
    }

    /// Removes learned and local entries not refreshed for the ageing time; returns their
    /// keys and kinds.
    pub fn expire(&mut self, now: Instant) -> Vec<(FdbKey, EntryKind)> {
        let aging = self.aging;
        let keys: Vec<(FdbKey, EntryKind)> = self
            .entries
            .iter()
            .filter(|(_, e)| {
                matches!(e.kind, EntryKind::Learned | EntryKind::Local)
                    && now.saturating_duration_since(e.last_seen) >= aging
            })
            .map(|(k, e)| (*k, e.kind))
            .collect();
        for (k, _) in &keys {
            if let Some(e) = self.entries.remove(k) {
                self.account(k.vni, e.kind, false);
            }
        }
        self.counters.aged_out += keys.len() as u64;
        // Forget moves that no longer count: outside the window and not frozen.
        let window = self.damping.window;
        self.flaps.retain(|_, f| {
            f.frozen_until.is_some_and(|u| now < u)
                || now.saturating_duration_since(f.window_start) <= window
        });
        keys
    }

    /// The keys of one kind (control-side resync; a scan of the whole table).
    /// Every remote address an entry names (local entries excluded).
    pub fn remotes(&self) -> std::collections::BTreeSet<IpAddr> {
        self.entries
            .values()
            .filter(|e| e.kind != EntryKind::Local)
            .map(|e| e.remote)
            .collect()
    }

    pub fn keys_of(&self, kind: EntryKind) -> Vec<FdbKey> {
        self.entries
            .iter()
            .filter(|(_, e)| e.kind == kind)
            .map(|(k, _)| *k)
            .collect()
    }

    /// Rows of one VNI or of all, sorted by (VNI, MAC).
    pub fn rows(&self, vni: Option<Vni>, now: Instant) -> Vec<FdbRow> {
        self.scope(vni)
            .map(|(k, e)| FdbRow {
                vni: k.vni,
                mac: k.mac,
                remote: e.remote,
                kind: e.kind,
                age_secs: now.saturating_duration_since(e.last_seen).as_secs(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vni(v: u32) -> Vni {
        Vni::from_wire(v)
    }
    fn key(v: u32, m: u64) -> FdbKey {
        FdbKey::new(vni(v), MacAddr::from_u64(m))
    }
    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    fn table(max_per_vni: usize, max_total: usize) -> FdbTable {
        let mut p = BTreeMap::new();
        p.insert(
            vni(1),
            VniPolicy {
                learning: true,
                max_learned: max_per_vni,
            },
        );
        p.insert(
            vni(2),
            VniPolicy {
                learning: true,
                max_learned: max_per_vni,
            },
        );
        p.insert(
            vni(3),
            VniPolicy {
                learning: false,
                max_learned: max_per_vni,
            },
        );
        FdbTable::new(p, max_total, 1000, Duration::from_secs(300))
    }

    #[test]
    fn a_flapping_mac_is_frozen_for_the_hold_time_then_moves_again() {
        let mut t = table(100, 100);
        t.set_flap_damping(FlapDamping {
            moves: 3,
            window: Duration::from_secs(5),
            hold: Duration::from_secs(30),
        });
        let k = key(1, 7);
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        assert_eq!(t.learn(k, A, at(0)), LearnOutcome::Added);
        // Three moves within the window are followed.
        for (i, to) in [B, A, B].into_iter().enumerate() {
            assert_eq!(
                t.learn(k, to, at(100 * (i as u64 + 1))),
                LearnOutcome::Moved
            );
        }
        // The fourth freezes it where it is; later ones are dropped.
        assert_eq!(t.learn(k, A, at(400)), LearnOutcome::Frozen);
        assert_eq!(t.get(&k).unwrap().remote, B);
        assert!(t.frozen(&k, at(400)));
        assert_eq!(t.learn(k, A, at(500)), LearnOutcome::Damped);
        assert_eq!(t.learn_local(k, at(600)), LearnOutcome::Damped);
        assert_eq!(t.get(&k).unwrap().remote, B);
        // A sighting where it is frozen still refreshes it.
        assert_eq!(t.learn(k, B, at(700)), LearnOutcome::Refreshed);
        let c = t.counters();
        assert_eq!((c.moves, c.flaps_damped, c.moves_suppressed), (3, 1, 3));
        // After the hold it follows the host again.
        assert_eq!(t.learn(k, A, at(30_500)), LearnOutcome::Moved);
        assert!(!t.frozen(&k, at(30_500)));
        // Moves spread wider than the window never freeze.
        let k2 = key(1, 8);
        t.learn(k2, A, at(0));
        for i in 1..10u64 {
            let to = if i % 2 == 1 { B } else { A };
            assert_eq!(t.learn(k2, to, at(6_000 * i)), LearnOutcome::Moved);
        }
        // Damping off: every move is followed.
        t.set_flap_damping(FlapDamping {
            moves: 0,
            ..FlapDamping::default()
        });
        let k3 = key(2, 9);
        t.learn(k3, A, at(0));
        for i in 1..50u64 {
            let to = if i % 2 == 1 { B } else { A };
            assert_eq!(t.learn(k3, to, at(i)), LearnOutcome::Moved);
        }
        // Expiry forgets the move history of what no longer flaps.
        t.expire(at(200_000));
        assert!(t.flaps.is_empty());
    }

    #[test]
    fn learned_never_replaces_static_or_remote() {
        let mut t = table(10, 10);
        let now = Instant::now();
        assert_eq!(t.set_static(key(1, 1), A, now), Ok(true));
        assert_eq!(t.learn(key(1, 1), B, now), LearnOutcome::Rejected);
        assert_eq!(t.learn(key(1, 1), A, now), LearnOutcome::Refreshed);
        assert_eq!(
            t.get(&key(1, 1)).map(|e| (e.remote, e.kind)),
            Some((A, EntryKind::Static))
        );
        assert_eq!(t.set_remote(key(1, 2), A, now), Ok(true));
        assert_eq!(t.learn(key(1, 2), B, now), LearnOutcome::Rejected);
        assert_eq!(t.counters().learn_rejected, 2);
        // Remote never replaces static; static replaces anything.
        assert!(matches!(
            t.set_remote(key(1, 1), B, now),
            Err(FdbError::StaticEntry { .. })
        ));
        assert_eq!(t.set_static(key(1, 2), B, now), Ok(true));
        assert_eq!(t.counts(), (2, 0, 0));
        assert_eq!(
            t.set_static(key(9, 1), A, now),
            Err(FdbError::UnknownVni(vni(9)))
        );
    }

    #[test]
    fn move_is_counted_and_remote_replaces_learned() {
        let mut t = table(10, 10);
        let now = Instant::now();
        assert_eq!(t.learn(key(1, 1), A, now), LearnOutcome::Added);
        assert_eq!(t.learn(key(1, 1), A, now), LearnOutcome::Refreshed);
        assert_eq!(t.learn(key(1, 1), B, now), LearnOutcome::Moved);
        assert_eq!(t.counters().moves, 1);
        assert_eq!(t.counters().learn_events, 3);
        assert_eq!(t.set_remote(key(1, 1), B, now), Ok(false));
        assert_eq!(t.counts(), (0, 0, 1));
        assert_eq!(t.learned_in(vni(1)), 0);
    }

    #[test]
    fn per_vni_and_global_limits_and_learning_off() {
        let mut t = table(2, 3);
        let now = Instant::now();
        assert_eq!(t.learn(key(1, 1), A, now), LearnOutcome::Added);
        assert_eq!(t.learn(key(1, 2), A, now), LearnOutcome::Added);
        assert_eq!(t.learn(key(1, 3), A, now), LearnOutcome::Rejected);
        assert_eq!(t.learn(key(2, 1), A, now), LearnOutcome::Added);
        assert_eq!(t.learn(key(2, 2), A, now), LearnOutcome::Rejected); // global cap
        assert_eq!(t.learn(key(3, 1), A, now), LearnOutcome::Ignored);
        assert_eq!(t.learn(key(4, 1), A, now), LearnOutcome::Rejected); // unknown VNI
        let c = t.counters();
        assert_eq!((c.learn_rejected, c.learn_ignored), (3, 1));
        // Removing one makes room again.
        assert!(t.remove(key(1, 1)).is_ok());
        assert_eq!(t.learn(key(1, 3), A, now), LearnOutcome::Added);
        assert!(matches!(
            t.remove(key(1, 1)),
            Err(FdbError::NotFound { .. })
        ));
    }

    #[test]
    fn ageing_removes_learned_only_and_refresh_restarts_it() {
        let mut t = table(10, 10);
        let t0 = Instant::now();
        assert_eq!(t.set_static(key(1, 1), A, t0), Ok(true));
        assert_eq!(t.set_remote(key(1, 2), A, t0), Ok(true));
        t.learn(key(1, 3), A, t0);
        t.learn(key(1, 4), A, t0);
        t.learn(key(1, 4), A, t0 + Duration::from_secs(200));
        assert!(t.expire(t0 + Duration::from_secs(299)).is_empty());
        assert_eq!(
            t.expire(t0 + Duration::from_secs(300)),
            vec![(key(1, 3), EntryKind::Learned)]
        );
        assert_eq!(
            t.expire(t0 + Duration::from_secs(500)),
            vec![(key(1, 4), EntryKind::Learned)]
        );
        assert!(t.expire(t0 + Duration::from_secs(100_000)).is_empty());
        assert_eq!(t.len(), 2);
        assert_eq!(t.counters().aged_out, 2);
    }

    #[test]
    fn flush_and_rows() {
        let mut t = table(10, 10);
        let t0 = Instant::now();
        assert_eq!(t.set_static(key(2, 9), A, t0), Ok(true));
        t.learn(key(1, 5), A, t0);
        t.learn(key(1, 1), B, t0);
        t.learn(key(2, 1), B, t0);
        assert!(t.only_learned(Some(vni(1))));
        assert!(!t.only_learned(Some(vni(2))));
        assert!(!t.only_learned(None));
        let rows = t.rows(None, t0 + Duration::from_secs(7));
        let keys: Vec<_> = rows.iter().map(|r| (r.vni.get(), r.mac.to_u64())).collect();
        assert_eq!(keys, vec![(1, 1), (1, 5), (2, 1), (2, 9)]);
        assert_eq!(rows[0].age_secs, 7);
        assert_eq!(rows[3].kind.to_string(), "static");
        assert_eq!(t.flush_learned(Some(vni(1))), vec![key(1, 1), key(1, 5)]);
        assert_eq!(t.flush_learned(None), vec![key(2, 1)]);
        assert_eq!(t.counts(), (1, 0, 0));
    }

    #[test]
    fn table_full() {
        let mut p = BTreeMap::new();
        p.insert(
            vni(1),
            VniPolicy {
                learning: true,
                max_learned: 10,
            },
        );
        let mut t = FdbTable::new(p, 10, 2, Duration::from_secs(300));
        let now = Instant::now();
        assert!(t.set_static(key(1, 1), A, now).is_ok());
        assert_eq!(t.learn(key(1, 2), A, now), LearnOutcome::Added);
        assert_eq!(t.learn(key(1, 3), A, now), LearnOutcome::Rejected);
        assert_eq!(
            t.set_static(key(1, 3), A, now),
            Err(FdbError::TableFull { max: 2 })
        );
        assert_eq!(t.set_static(key(1, 2), A, now), Ok(false));
    }

    #[test]
    fn local_sightings_follow_the_host_and_share_the_learned_limits() {
        let mut t = table(2, 10);
        let t0 = Instant::now();
        assert_eq!(t.set_static(key(1, 1), A, t0), Ok(true));
        assert_eq!(
            t.learn_local(key(1, 1), t0),
            LearnOutcome::Rejected,
            "static stands"
        );
        assert_eq!(t.set_remote(key(1, 2), B, t0), Ok(true));
        assert_eq!(
            t.learn_local(key(1, 2), t0),
            LearnOutcome::Moved,
            "the host moved here"
        );
        assert_eq!(
            t.get(&key(1, 2)).map(|e| (e.kind, e.remote)),
            Some((EntryKind::Local, crate::fdb::LOCAL_ADDR))
        );
        assert_eq!(t.learn_local(key(1, 2), t0), LearnOutcome::Refreshed);
        assert_eq!(
            t.set_remote(key(1, 2), B, t0),
            Ok(true),
            "and moved away again"
        );
        assert_eq!(t.learn_local(key(1, 3), t0), LearnOutcome::Added);
        t.learn(key(1, 4), A, t0);
        // Two per VNI (learned and local together): the next one is refused.
        assert_eq!(t.learn_local(key(1, 5), t0), LearnOutcome::Rejected);
        assert_eq!((t.local_count(), t.local_in(vni(1))), (1, 1));
        assert_eq!(t.expire(t0 + Duration::from_secs(300)).len(), 2);
        assert_eq!((t.local_count(), t.local_in(vni(1))), (0, 0));
    }
}
