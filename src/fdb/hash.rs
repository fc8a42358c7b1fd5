//! Fixed-capacity open-addressing tables for a worker's replica.
//!
//! # Design
//! - [`FdbMap`] holds the (VNI, MAC) → remote VTEP entries for the cache-miss case (a million
//!   keys spread over tens of MB): every entry is 16 bytes, four to a 64-byte cache line, so a
//!   hit usually costs one line. The 72-bit key is packed into a `u64` (MAC + low 16 VNI bits)
//!   and a 16-bit tag (high 8 VNI bits + an occupied bit), the other 16 bits of the second word
//!   hold a worker-local report stamp and the last 32 bits the tunnel index (either address
//!   family costs the same 4 bytes).
//! - Power-of-two slot count, at least twice the entry limit (load ≤ 0.5, so even a miss
//!   probes few lines), linear probing across lines, deletion by backward shift (no
//!   tombstones, so probe lengths never degrade with churn).
//! - The slot array is sized once at creation; an insert beyond the entry limit is refused and
//!   counted, never grown: nothing here allocates after `with_capacity`.
//! - The hash is a seeded folded multiply (multiply to 128 bits, xor the halves) over the
//!   packed key, twice. The seed is random per table so keys chosen by a remote sender cannot
//!   be aimed at one probe chain.
//! - [`FdbMap::get_burst`] hashes a whole burst and prefetches every home line before it probes
//!   any, so the cache misses of a burst overlap instead of queueing.
//! - Slot arrays of 4 MiB and more are advised to use transparent huge pages (`madvise`,
//!   before first touch), which removes most TLB misses from the million-entry case.
//! - [`IpMap`] is a small fixed-capacity map keyed by IPv4 address, for next hops and miss
//!   rate limiting.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::Ipv4Addr;

use super::FdbKey;
use crate::types::{MacAddr, TunnelId, Vni};

/// Slots per 64-byte cache line.
const SLOTS_PER_LINE: usize = 4;
/// Set in the tag of every occupied slot, so an all-zero key never matches an empty slot.
const OCCUPIED: u64 = 0x100;
/// Set when the report stamp of a slot is valid.
const STAMPED: u64 = 0x200;
/// The bits of the second word that belong to the key.
const TAG_MASK: u64 = 0x1ff;
const MAC_MASK: u64 = 0xffff_ffff_ffff;
/// Most keys looked up in one pass of `get_burst`.
pub const BURST: usize = 32;

/// Multiplies to 128 bits and folds the halves: every input bit reaches every output bit.
#[inline(always)]
fn folded_mul(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// A key packed for storage and comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PackedKey {
    /// MAC in bits 0..48, VNI bits 0..16 in bits 48..64.
    lo: u64,
    /// VNI bits 16..24 in bits 0..8, plus [`OCCUPIED`].
    tag: u64,
}

impl PackedKey {
    const NONE: PackedKey = PackedKey { lo: 0, tag: 0 };

    #[inline(always)]
    fn new(key: &FdbKey) -> PackedKey {
        let v = u64::from(key.vni.get());
        PackedKey {
            lo: key.mac.to_u64() | ((v & 0xffff) << 48),
            tag: ((v >> 16) & 0xff) | OCCUPIED,
        }
    }

    fn unpack(self) -> FdbKey {
        let vni = ((self.lo >> 48) | ((self.tag & 0xff) << 16)) as u32;
        FdbKey {
            vni: Vni::from_wire(vni),
            mac: MacAddr::from_u64(self.lo & MAC_MASK),
        }
    }
}

/// One 16-byte entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(C)]
struct Slot {
    lo: u64,
    /// Bits 0..9 the key tag, bit 9 [`STAMPED`], bits 16..32 the report stamp, 32..64 tunnel.
    hi: u64,
}

impl Slot {
    const EMPTY: Slot = Slot { lo: 0, hi: 0 };

    #[inline(always)]
    fn occupied(&self) -> bool {
        self.hi & OCCUPIED != 0
    }
    #[inline(always)]
    fn matches(&self, k: &PackedKey) -> bool {
        self.lo == k.lo && self.hi & TAG_MASK == k.tag
    }
    #[inline(always)]
    fn remote(&self) -> TunnelId {
        TunnelId((self.hi >> 32) as u32)
    }
    fn key(&self) -> PackedKey {
        PackedKey {
            lo: self.lo,
            tag: self.hi & TAG_MASK,
        }
    }
    fn new(k: &PackedKey, remote: TunnelId) -> Slot {
        Slot {
            lo: k.lo,
            hi: k.tag | (u64::from(remote.0) << 32),
        }
    }
}

/// Four slots, aligned so that one never straddles two cache lines.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(64))]
struct Line([Slot; SLOTS_PER_LINE]);

/// Issues a prefetch of the line at `p` into all cache levels.
#[inline(always)]
fn prefetch_line(p: *const Line) {
    crate::prefetch::prefetch(p);
}

/// What [`FdbMap::check_and_stamp`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamp {
    /// No entry for the key.
    Absent,
    /// The entry points at another remote.
    Moved,
    /// Same remote, reported within the interval.
    Fresh,
    /// Same remote, a refresh report is due (the stamp was just renewed).
    Due,
}

/// Slot arrays at least this large ask for transparent huge pages.
const HUGE_PAGE_MIN_BYTES: usize = 4 << 20;

/// Allocates `n` empty lines. Large arrays are advised to use transparent huge pages before
/// any page is touched, so a million-entry table costs one TLB entry per 2 MiB, not per 4 KiB.
fn alloc_lines(n: usize) -> Box<[Line]> {
    let mut v: Vec<Line> = Vec::with_capacity(n);
    let bytes = n.saturating_mul(std::mem::size_of::<Line>());
    if bytes >= HUGE_PAGE_MIN_BYTES {
        advise_huge_pages(v.spare_capacity_mut().as_ptr() as usize, bytes);
    }
    v.resize(n, Line::default());
    v.into_boxed_slice()
}

/// Asks the kernel to back `[addr, addr + len)` with transparent huge pages. Best effort.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn advise_huge_pages(addr: usize, len: usize) {
    const PAGE: usize = 4096;
    let start = addr.saturating_add(PAGE - 1) & !(PAGE - 1);
    let end = addr.saturating_add(len) & !(PAGE - 1);
    if end <= start {
        return;
    }
    // SAFETY: madvise(MADV_HUGEPAGE) only changes how the kernel backs the pages of the range,
    // never their contents or whether they are mapped; the range is page-aligned and lies
    // inside an allocation this function's caller owns and has not shared. A failure (THP
    // disabled, old kernel) leaves normal pages and is deliberately ignored.
    let _ = unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_addr: usize, _len: usize) {}

/// The insert was refused because the table holds its maximum number of entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableFull;

/// The FDB of one replica: (VNI, MAC) → remote VTEP, fixed capacity.
pub struct FdbMap {
    lines: Box<[Line]>,
    /// Slot count minus one (the slot count is a power of two).
    mask: usize,
    len: usize,
    max_len: usize,
    refused: u64,
    seed: [u64; 3],
}

impl FdbMap {
    /// A table that holds up to `max_entries` entries (at least 1), all memory allocated now.
    pub fn with_capacity(max_entries: usize) -> FdbMap {
        let max_len = max_entries.max(1);
        let slots = max_len
            .saturating_mul(2)
            .max(2 * SLOTS_PER_LINE)
            .next_power_of_two();
        let rs = RandomState::new();
        FdbMap {
            lines: alloc_lines(slots / SLOTS_PER_LINE),
            mask: slots - 1,
            len: 0,
            max_len,
            refused: 0,
            // The second factor must never be zero, whatever the tag: force its top bit.
            seed: [
                rs.hash_one(0x5eed_0001_u64),
                rs.hash_one(0x5eed_0002_u64) | (1 << 63),
                rs.hash_one(0x5eed_0003_u64),
            ],
        }
    }

    #[inline(always)]
    fn hash(&self, k: &PackedKey) -> u64 {
        let h = folded_mul(k.lo ^ self.seed[0], k.tag ^ self.seed[1]);
        folded_mul(h ^ self.seed[2], 0x9e37_79b9_7f4a_7c15)
    }

    #[inline(always)]
    fn home(&self, k: &PackedKey) -> usize {
        (self.hash(k) as usize) & self.mask
    }

    #[inline(always)]
    fn slot(&self, i: usize) -> &Slot {
        // `i` is always masked, so both indices are in range.
        &self.lines[(i & self.mask) / SLOTS_PER_LINE].0[i % SLOTS_PER_LINE]
    }

    #[inline(always)]
    fn slot_mut(&mut self, i: usize) -> &mut Slot {
        let m = self.mask;
        &mut self.lines[(i & m) / SLOTS_PER_LINE].0[i % SLOTS_PER_LINE]
    }

    /// The slot index holding `k`, probing from `home`. Terminates: at least half the slots
    /// are always empty.
    #[inline(always)]
    fn find_from(&self, k: &PackedKey, home: usize) -> Option<usize> {
        let mut i = home;
        loop {
            let s = self.slot(i);
            if s.matches(k) {
                return Some(i);
            }
            if !s.occupied() {
                return None;
            }
            i = (i + 1) & self.mask;
        }
    }

    /// The remote VTEP for `key`.
    #[inline]
    pub fn get(&self, key: &FdbKey) -> Option<TunnelId> {
        let k = PackedKey::new(key);
        self.find_from(&k, self.home(&k))
            .map(|i| self.slot(i).remote())
    }

    /// Looks up every key of `keys`; `out[i]` answers `keys[i]` (extra `out` is untouched).
    /// Hashes and prefetches a burst of up to [`BURST`] keys before probing any of them.
    pub fn get_burst(&self, keys: &[FdbKey], out: &mut [Option<TunnelId>]) {
        for (kc, oc) in keys.chunks(BURST).zip(out.chunks_mut(BURST)) {
            let mut packed = [PackedKey::NONE; BURST];
            let mut homes = [0usize; BURST];
            for ((k, p), h) in kc.iter().zip(packed.iter_mut()).zip(homes.iter_mut()) {
                *p = PackedKey::new(k);
                *h = self.home(p);
                prefetch_line(&self.lines[*h / SLOTS_PER_LINE]);
            }
            for ((p, h), o) in packed.iter().zip(homes.iter()).zip(oc.iter_mut()) {
                *o = self.find_from(p, *h).map(|i| self.slot(i).remote());
            }
        }
    }

    /// Inserts or replaces `key`; clears its report stamp. Returns whether it was new.
    pub fn insert(&mut self, key: &FdbKey, remote: TunnelId) -> Result<bool, TableFull> {
        let k = PackedKey::new(key);
        let mut i = self.home(&k);
        loop {
            let s = *self.slot(i);
            if s.matches(&k) {
                *self.slot_mut(i) = Slot::new(&k, remote);
                return Ok(false);
            }
            if !s.occupied() {
                if self.len >= self.max_len {
                    self.refused += 1;
                    return Err(TableFull);
                }
                *self.slot_mut(i) = Slot::new(&k, remote);
                self.len += 1;
                return Ok(true);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Removes `key`; returns whether it was present.
    pub fn remove(&mut self, key: &FdbKey) -> bool {
        let k = PackedKey::new(key);
        match self.find_from(&k, self.home(&k)) {
            Some(i) => {
                self.remove_at(i);
                true
            }
            None => false,
        }
    }

    /// Empties slot `hole` and shifts back every later entry of its cluster that may move
    /// closer to its home, so no tombstone is needed.
    fn remove_at(&mut self, mut hole: usize) {
        let mask = self.mask;
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let s = *self.slot(j);
            if !s.occupied() {
                break;
            }
            let home = self.home(&s.key());
            // `s` may fill the hole when its home is not cyclically inside (hole, j].
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                *self.slot_mut(hole) = s;
                hole = j;
            }
        }
        *self.slot_mut(hole) = Slot::EMPTY;
        self.len -= 1;
    }

    /// Removes every entry of `vni`, or every entry. O(slots), no allocation.
    pub fn flush(&mut self, vni: Option<Vni>) {
        let Some(vni) = vni else {
            self.lines.fill(Line::default());
            self.len = 0;
            return;
        };
        let mut i = 0;
        while i <= self.mask {
            let s = *self.slot(i);
            if s.occupied() && s.key().unpack().vni == vni {
                // The backward shift may pull a later (unvisited) entry into `i`: look again.
                // Entries only ever move towards `i`, never behind it, so none is skipped.
                self.remove_at(i);
            } else {
                i += 1;
            }
        }
    }

    /// Checks `key`'s report stamp against `remote` at `now_secs`, and restamps it when a
    /// refresh report is due.
    pub fn check_and_stamp(
        &mut self,
        key: &FdbKey,
        remote: TunnelId,
        now_secs: u32,
        interval_secs: u32,
    ) -> Stamp {
        let k = PackedKey::new(key);
        let Some(i) = self.find_from(&k, self.home(&k)) else {
            return Stamp::Absent;
        };
        let s = self.slot_mut(i);
        if s.remote() != remote {
            return Stamp::Moved;
        }
        let stamp = ((s.hi >> 16) & 0xffff) as u16;
        let now16 = now_secs as u16;
        if s.hi & STAMPED != 0 && u32::from(now16.wrapping_sub(stamp)) < interval_secs {
            return Stamp::Fresh;
        }
        s.hi = (s.hi & !0xffff_0000) | (u64::from(now16) << 16) | STAMPED;
        Stamp::Due
    }

    /// A hash of `key` for the replica's report filter (independent of the slot index bits).
    pub fn key_hash(&self, key: &FdbKey) -> u64 {
        self.hash(&PackedKey::new(key)).rotate_left(32)
    }

    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Most entries the table accepts.
    pub fn capacity(&self) -> usize {
        self.max_len
    }
    /// Slots allocated (a power of two).
    pub fn slots(&self) -> usize {
        self.mask + 1
    }
    /// Inserts refused because the table was full.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Every entry, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (FdbKey, TunnelId)> + '_ {
        self.lines
            .iter()
            .flat_map(|l| l.0.iter())
            .filter(|s| s.occupied())
            .map(|s| (s.key().unpack(), s.remote()))
    }
}

/// A small fixed-capacity map keyed by IPv4 address, or by any 64-bit key through the `*_u64`
/// methods (linear probing, backward-shift delete).
pub struct IpMap<V: Copy> {
    slots: Box<[Option<(u64, V)>]>,
    mask: usize,
    len: usize,
    max_len: usize,
    seed: u64,
}

impl<V: Copy> IpMap<V> {
    /// A map of at most `max_entries` entries, all memory allocated now.
    pub fn with_capacity(max_entries: usize) -> IpMap<V> {
        let max_len = max_entries.max(1);
        let slots = max_len.saturating_mul(2).next_power_of_two();
        IpMap {
            slots: vec![None; slots].into_boxed_slice(),
            mask: slots - 1,
            len: 0,
            max_len,
            seed: RandomState::new().hash_one(0x1ead_u64) | 1,
        }
    }

    #[inline(always)]
    fn home(&self, ip: u64) -> usize {
        (folded_mul(ip ^ self.seed, 0x9e37_79b9_7f4a_7c15) as usize) & self.mask
    }

    #[inline]
    fn find(&self, ip: u64) -> Option<usize> {
        let mut i = self.home(ip);
        loop {
            match self.slots[i & self.mask] {
                Some((k, _)) if k == ip => return Some(i),
                Some(_) => i = (i + 1) & self.mask,
                None => return None,
            }
        }
    }

    #[inline]
    pub fn get(&self, ip: Ipv4Addr) -> Option<V> {
        self.get_u64(u64::from(u32::from(ip)))
    }

    #[inline]
    pub fn get_u64(&self, key: u64) -> Option<V> {
        let i = self.find(key)?;
        self.slots[i & self.mask].map(|(_, v)| v)
    }

    /// Inserts or replaces; refused when full.
    pub fn insert(&mut self, ip: Ipv4Addr, v: V) -> Result<(), TableFull> {
        self.insert_u64(u64::from(u32::from(ip)), v)
    }

    /// Inserts or replaces under a 64-bit key; refused when full.
    pub fn insert_u64(&mut self, key: u64, v: V) -> Result<(), TableFull> {
        let mut i = self.home(key);
        loop {
            match self.slots[i & self.mask] {
                Some((k, _)) if k == key => break,
                Some(_) => i = (i + 1) & self.mask,
                None => {
                    if self.len >= self.max_len {
                        return Err(TableFull);
                    }
                    self.len += 1;
                    break;
                }
            }
        }
        self.slots[i & self.mask] = Some((key, v));
        Ok(())
    }

    pub fn remove(&mut self, ip: Ipv4Addr) -> bool {
        self.remove_u64(u64::from(u32::from(ip)))
    }

    pub fn remove_u64(&mut self, key: u64) -> bool {
        let Some(mut hole) = self.find(key) else {
            return false;
        };
        let mask = self.mask;
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let Some((k, v)) = self.slots[j] else { break };
            let home = self.home(k);
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.slots[hole] = Some((k, v));
                hole = j;
            }
        }
        self.slots[hole & mask] = None;
        self.len -= 1;
        true
    }

    pub fn clear(&mut self) {
        self.slots.fill(None);
        self.len = 0;
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn is_full(&self) -> bool {
        self.len >= self.max_len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn key(vni: u32, mac: u64) -> FdbKey {
        FdbKey::new(Vni::from_wire(vni), MacAddr::from_u64(mac))
    }

    #[test]
    fn slot_is_16_bytes_and_lines_are_aligned() {
        assert_eq!(std::mem::size_of::<Slot>(), 16);
        assert_eq!(std::mem::size_of::<Line>(), 64);
        assert_eq!(std::mem::align_of::<Line>(), 64);
    }

    #[test]
    fn packed_key_round_trip() {
        for (v, m) in [
            (1, 0),
            (0xff_ffff, 0xffff_ffff_ffff),
            (0x12_3456, 0x0200_0000_0001),
        ] {
            assert_eq!(PackedKey::new(&key(v, m)).unpack(), key(v, m));
        }
        // The zero key is distinct from an empty slot.
        assert!(!Slot::EMPTY.matches(&PackedKey::new(&key(0, 0))));
    }

    #[test]
    fn insert_get_remove_and_refuse_when_full() {
        let mut t = FdbMap::with_capacity(3);
        let ip = TunnelId(1);
        assert_eq!(t.insert(&key(1, 1), ip), Ok(true));
        assert_eq!(t.insert(&key(1, 1), TunnelId(2)), Ok(false));
        assert_eq!(t.get(&key(1, 1)), Some(TunnelId(2)));
        assert_eq!(t.get(&key(2, 1)), None);
        assert_eq!(t.insert(&key(2, 1), ip), Ok(true));
        assert_eq!(t.insert(&key(3, 1), ip), Ok(true));
        assert_eq!(t.insert(&key(4, 1), ip), Err(TableFull));
        assert_eq!(t.refused(), 1);
        assert!(t.remove(&key(2, 1)));
        assert!(!t.remove(&key(2, 1)));
        assert_eq!(t.insert(&key(4, 1), ip), Ok(true));
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn matches_a_model_under_churn_with_tiny_table() {
        // A tiny table forces long clusters and wrap-around, exercising backward shift.
        let mut t = FdbMap::with_capacity(50);
        let mut model: HashMap<FdbKey, TunnelId> = HashMap::new();
        let mut x: u64 = 0x1234_5678;
        for step in 0..20_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let k = key((x % 3 + 1) as u32, (x >> 8) % 97);
            let ip = TunnelId(step);
            match x % 5 {
                0 | 1 => {
                    let full = model.len() >= 50 && !model.contains_key(&k);
                    assert_eq!(t.insert(&k, ip).is_err(), full);
                    if !full {
                        model.insert(k, ip);
                    }
                }
                2 | 3 => assert_eq!(t.remove(&k), model.remove(&k).is_some()),
                _ => {
                    if step % 97 == 0 {
                        let v = Vni::from_wire((x % 3 + 1) as u32);
                        t.flush(Some(v));
                        model.retain(|k, _| k.vni != v);
                    }
                }
            }
            assert_eq!(t.len(), model.len());
            assert_eq!(t.get(&k), model.get(&k).copied());
        }
        let mut got: Vec<_> = t.iter().collect();
        let mut want: Vec<_> = model.into_iter().collect();
        got.sort();
        want.sort();
        assert_eq!(got, want);
        t.flush(None);
        assert!(t.is_empty() && t.iter().next().is_none());
    }

    #[test]
    fn burst_agrees_with_single_lookups() {
        let mut t = FdbMap::with_capacity(1000);
        for i in 0..500u64 {
            assert!(t.insert(&key(7, i * 3), TunnelId(i as u32)).is_ok());
        }
        let keys: Vec<_> = (0..100u64).map(|i| key(7, i)).collect();
        let mut out = vec![None; 100];
        t.get_burst(&keys, &mut out);
        for (k, o) in keys.iter().zip(&out) {
            assert_eq!(*o, t.get(k));
        }
        assert_eq!(out.iter().filter(|o| o.is_some()).count(), 34);
    }

    #[test]
    fn report_stamp() {
        let mut t = FdbMap::with_capacity(4);
        let ip = TunnelId(1);
        let k = key(1, 1);
        assert_eq!(t.check_and_stamp(&k, ip, 5, 10), Stamp::Absent);
        assert!(t.insert(&k, ip).is_ok());
        assert_eq!(t.check_and_stamp(&k, ip, 5, 10), Stamp::Due);
        assert_eq!(t.check_and_stamp(&k, ip, 14, 10), Stamp::Fresh);
        assert_eq!(t.check_and_stamp(&k, ip, 15, 10), Stamp::Due);
        let other = TunnelId(2);
        assert_eq!(t.check_and_stamp(&k, other, 15, 10), Stamp::Moved);
        // A re-insert clears the stamp.
        assert!(t.insert(&k, ip).is_ok());
        assert_eq!(t.check_and_stamp(&k, ip, 16, 10), Stamp::Due);
        assert_eq!(t.get(&key(1, 1)), Some(ip));
    }

    #[test]
    fn large_table_takes_the_huge_page_path() {
        let mut t = FdbMap::with_capacity(200_000);
        assert!(t.slots() * 16 >= HUGE_PAGE_MIN_BYTES);
        assert_eq!(t.insert(&key(5, 5), TunnelId(7)), Ok(true));
        assert_eq!(t.get(&key(5, 5)), Some(TunnelId(7)));
        assert_eq!(t.get(&key(5, 6)), None);
    }

    #[test]
    fn ip_map() {
        let mut m: IpMap<u32> = IpMap::with_capacity(8);
        for i in 0..8u32 {
            assert!(m.insert(Ipv4Addr::from(i), i).is_ok());
        }
        assert!(m.is_full());
        assert!(m.insert(Ipv4Addr::from(100), 1).is_err());
        assert!(m.insert(Ipv4Addr::from(3), 33).is_ok());
        assert_eq!(m.get(Ipv4Addr::from(3)), Some(33));
        for i in (0..8u32).step_by(2) {
            assert!(m.remove(Ipv4Addr::from(i)));
        }
        for i in 0..8u32 {
            assert_eq!(m.get(Ipv4Addr::from(i)).is_some(), i % 2 == 1);
        }
        m.clear();
        assert!(m.is_empty());
    }
}
