//! An owned `rte_mbuf`: the DPDK implementation of [`Packet`].
//!
//! # Design
//! [`Mbuf`] owns one packet (a chain of segments) and frees it on drop. `data()` is the first
//! segment; `pkt_len()` counts all of them. Prepend, trim and truncate move offsets only.
//!
//! Field access: bindgen generates the real layout of `struct rte_mbuf` (build.rs), so the
//! per-packet accessors (data pointer and lengths, headroom, prepend, trim, truncate of a
//! single segment, refcount, flags, TX offload lengths) are plain loads and stores the compiler
//! inlines into the worker loop, not calls into the C shim. They do exactly what DPDK's static
//! inline functions do (`rte_pktmbuf_prepend`, `rte_pktmbuf_adj`, `rte_pktmbuf_mtod`, ...).
//! The layout is checked at compile time against clang's `offsetof` of every field used
//! (a `const` assertion below), and the unit tests run each accessor against the shim's C version on
//! the same mbuf. What remains a shim call: alloc/free/clone/chain, truncating a chain of
//! several segments, and the refcount of an indirect mbuf (it lives in another mbuf).
//!
//! Shared buffers: head-end replication (`DpdkPool::replicate`) chains a fresh header mbuf to
//! an indirect clone of the original, so the original's data buffer is then referenced twice.
//! To keep that sound, an mbuf whose buffer is shared (a direct mbuf with refcount > 1) or not
//! its own (indirect) refuses what could write into bytes another packet shows:
//! `data_mut()` returns an empty slice, `trim_front` fails on a shared direct buffer (so its
//! start can only move down while shared, and `prepend` writes only below every clone's view),
//! and `prepend` fails on an indirect one. These checks are plain loads, no atomics RMW.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};

use super::ffi;
use crate::io::Packet;

/// bindgen's layout of `rte_mbuf` against clang's `offsetof` (`enum vxgate_mbuf_layout` in
/// shim.h): a field bindgen placed elsewhere than C does fails the build here.
const _: () = {
    use ffi::rte_mbuf as M;
    use std::mem::{offset_of, size_of};
    assert!(size_of::<M>() == ffi::VXGATE_MBUF_SIZE as usize);
    assert!(offset_of!(M, buf_addr) == ffi::VXGATE_MBUF_OFF_BUF_ADDR as usize);
    assert!(offset_of!(M, data_off) == ffi::VXGATE_MBUF_OFF_DATA_OFF as usize);
    assert!(offset_of!(M, refcnt) == ffi::VXGATE_MBUF_OFF_REFCNT as usize);
    assert!(size_of::<u16>() == ffi::VXGATE_MBUF_SIZEOF_REFCNT as usize);
    assert!(offset_of!(M, nb_segs) == ffi::VXGATE_MBUF_OFF_NB_SEGS as usize);
    assert!(offset_of!(M, ol_flags) == ffi::VXGATE_MBUF_OFF_OL_FLAGS as usize);
    assert!(offset_of!(M, pkt_len) == ffi::VXGATE_MBUF_OFF_PKT_LEN as usize);
    assert!(offset_of!(M, data_len) == ffi::VXGATE_MBUF_OFF_DATA_LEN as usize);
    assert!(offset_of!(M, buf_len) == ffi::VXGATE_MBUF_OFF_BUF_LEN as usize);
    assert!(offset_of!(M, next) == ffi::VXGATE_MBUF_OFF_NEXT as usize);
    assert!(offset_of!(M, __bindgen_anon_3.tx_offload) == ffi::VXGATE_MBUF_OFF_TX_OFFLOAD as usize);
};

/// The field types the accessors rely on (a type change in DPDK fails to compile here).
#[allow(dead_code)]
fn field_types(m: &ffi::rte_mbuf) -> (u16, u16, u16, u16, u32, u16, u64, *mut ffi::rte_mbuf) {
    (
        m.data_off, m.refcnt, m.nb_segs, m.data_len, m.pkt_len, m.buf_len, m.ol_flags, m.next,
    )
}

/// `ol_flags` bits of an mbuf whose data buffer is not its own (`!RTE_MBUF_DIRECT`).
const NOT_DIRECT: u64 = ffi::RTE_MBUF_F_INDIRECT | ffi::RTE_MBUF_F_EXTERNAL;

/// `tx_offload` bits of the l2_len and l3_len bit-fields.
const L2_LEN_MASK: u64 = ((1 << ffi::VXGATE_MBUF_L2_LEN_BITS) - 1) << ffi::VXGATE_MBUF_L2_LEN_OFS;
const L3_LEN_MASK: u64 = ((1 << ffi::VXGATE_MBUF_L3_LEN_BITS) - 1) << ffi::VXGATE_MBUF_L3_LEN_OFS;

/// Set while the underlay port has TX IPv4 header checksum offload enabled; read with one plain
/// load per packet by [`Mbuf::request_ipv4_cksum_offload`].
static IPV4_CKSUM_OFFLOAD: AtomicBool = AtomicBool::new(false);

pub(crate) fn set_ipv4_cksum_offload(on: bool) {
    IPV4_CKSUM_OFFLOAD.store(on, Ordering::Release);
}

/// Whether packets may request TX IPv4 checksum offload (the underlay port enabled it).
#[inline]
pub fn ipv4_cksum_offload_enabled() -> bool {
    IPV4_CKSUM_OFFLOAD.load(Ordering::Relaxed)
}

/// Reference count of one segment's data buffer (for an indirect segment, that of the mbuf it
/// is attached to).
///
/// # Safety
/// `seg` must point to a valid mbuf.
#[inline]
unsafe fn seg_refcnt(seg: *mut ffi::rte_mbuf) -> u16 {
    // SAFETY: seg is valid (caller); ol_flags is written only by the segment's owner.
    if unsafe { (*seg).ol_flags } & ffi::RTE_MBUF_F_INDIRECT != 0 {
        // SAFETY: as this function's contract.
        return unsafe { indirect_refcnt(seg) };
    }
    // SAFETY: seg is valid and refcnt is a naturally aligned u16. DPDK (RTE_MBUF_REFCNT_ATOMIC)
    // reads and writes it only with __atomic builtins, so a relaxed atomic load (a plain mov on
    // x86, as rte_mbuf_refcnt_read) is race-free against clones freed elsewhere.
    unsafe { AtomicU16::from_ptr(std::ptr::addr_of_mut!((*seg).refcnt)).load(Ordering::Relaxed) }
}

/// The rare case of [`seg_refcnt`], kept out of line: the direct mbuf sits at `buf_addr` minus
/// its size and private area, which the shim computes with DPDK's own macro.
///
/// # Safety
/// `seg` must point to a valid indirect mbuf, attached to a live direct one.
#[cold]
#[inline(never)]
unsafe fn indirect_refcnt(seg: *mut ffi::rte_mbuf) -> u16 {
    // SAFETY: the caller's contract.
    unsafe { ffi::vxgate_mbuf_refcnt_read(seg) }
}

/// First byte of a segment's data (`rte_pktmbuf_mtod`), null if it has no buffer.
///
/// # Safety
/// `seg` must point to a valid mbuf.
#[inline]
unsafe fn seg_mtod(seg: *mut ffi::rte_mbuf) -> *mut u8 {
    // SAFETY: seg is valid (caller); two plain field reads. wrapping_add keeps a null base
    // null instead of making the offset UB; for a real buffer data_off <= buf_len keeps the
    // result inside it.
    unsafe {
        (*seg)
            .buf_addr
            .cast::<u8>()
            .wrapping_add(usize::from((*seg).data_off))
    }
}

/// An owned packet mbuf (possibly a chain of segments), freed on drop.
#[derive(Debug)]
#[repr(transparent)]
pub struct Mbuf(NonNull<ffi::rte_mbuf>);

// SAFETY: an Mbuf is the only owner of its mbuf chain, so moving it to another thread moves
// that ownership; freeing from any thread is allowed (mempool puts are multi-producer safe).
// Buffers shared with clones are only read through this handle once shared (see module docs).
unsafe impl Send for Mbuf {}

impl Mbuf {
    /// Takes ownership of a raw mbuf.
    ///
    /// # Safety
    /// `m` must be a valid mbuf (chain) that nobody else owns or frees, from a mempool that
    /// stays alive as long as the returned `Mbuf`.
    pub unsafe fn from_raw(m: NonNull<ffi::rte_mbuf>) -> Mbuf {
        Mbuf(m)
    }

    /// Gives up ownership; the caller must free the mbuf (or hand it to DPDK, which will).
    pub fn into_raw(self) -> NonNull<ffi::rte_mbuf> {
        let m = self.0;
        std::mem::forget(self);
        m
    }

    pub fn as_ptr(&self) -> *mut ffi::rte_mbuf {
        self.0.as_ptr()
    }

    // Field access to the first segment's header goes through the raw pointer, one field at a
    // time, never through a reference to the whole struct: another thread may atomically
    // change `refcnt` of a buffer we share with a clone, which a `&rte_mbuf` would forbid.

    #[inline]
    fn hdr_data_off(&self) -> u16 {
        // SAFETY: self owns a valid mbuf (from_raw's contract); only its owner writes this field.
        unsafe { (*self.0.as_ptr()).data_off }
    }

    #[inline]
    fn hdr_data_len(&self) -> u16 {
        // SAFETY: as hdr_data_off.
        unsafe { (*self.0.as_ptr()).data_len }
    }

    #[inline]
    fn hdr_pkt_len(&self) -> u32 {
        // SAFETY: as hdr_data_off.
        unsafe { (*self.0.as_ptr()).pkt_len }
    }

    #[inline]
    fn hdr_buf_addr_is_null(&self) -> bool {
        // SAFETY: as hdr_data_off.
        unsafe { (*self.0.as_ptr()).buf_addr.is_null() }
    }

    /// Writes the three lengths of the first segment that prepend/adj/append/trim change.
    #[inline]
    fn hdr_set_geometry(&mut self, data_off: u16, data_len: u16, pkt_len: u32) {
        let m = self.0.as_ptr();
        // SAFETY: self owns a valid mbuf and is borrowed mutably; only its owner writes these
        // fields, and each is written through a place of its own (no whole-struct reference).
        unsafe {
            (*m).data_off = data_off;
            (*m).data_len = data_len;
            (*m).pkt_len = pkt_len;
        }
    }

    /// Number of segments in the chain.
    #[inline]
    pub fn nb_segs(&self) -> usize {
        // SAFETY: as hdr_data_off.
        usize::from(unsafe { (*self.0.as_ptr()).nb_segs })
    }

    /// Reference count of the first segment's data buffer (for an indirect segment, that of
    /// the mbuf it is attached to).
    #[inline]
    pub fn refcnt(&self) -> u16 {
        // SAFETY: self owns a valid mbuf.
        unsafe { seg_refcnt(self.0.as_ptr()) }
    }

    /// Whether the first segment's data buffer belongs to another mbuf (an indirect clone or an
    /// external buffer).
    #[inline]
    pub fn is_indirect(&self) -> bool {
        self.ol_flags() & NOT_DIRECT != 0
    }

    /// Whether the first segment may be written: its buffer is its own and not shared.
    #[inline]
    fn exclusive(&self) -> bool {
        // A direct mbuf counts its own buffer, so refcnt() takes no shim call here.
        !self.is_indirect() && self.refcnt() == 1
    }

    /// Reference counts of the data buffers of every segment, in order (for tests and
    /// diagnostics).
    pub fn segment_refcnts(&self) -> Vec<u16> {
        let mut out = Vec::with_capacity(self.nb_segs());
        let mut seg = self.0.as_ptr();
        while !seg.is_null() {
            // SAFETY: seg is a segment of the chain self owns (the head, then `next` links).
            unsafe {
                out.push(seg_refcnt(seg));
                seg = (*seg).next;
            }
        }
        out
    }

    /// The whole packet, all segments, copied into a `Vec` (not for the fast path).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.pkt_len());
        self.copy_segments(|bytes| out.extend_from_slice(bytes));
        out
    }

    /// Calls `f` with each segment's bytes in order.
    pub(crate) fn copy_segments(&self, mut f: impl FnMut(&[u8])) {
        let mut seg = self.0.as_ptr();
        while !seg.is_null() {
            // SAFETY: seg is a segment of the chain self owns; data_len bytes at mtod are
            // initialized packet data. Shared buffers are only written below every clone's view
            // (module docs), so these bytes are not written while the slice lives.
            unsafe {
                let len = usize::from((*seg).data_len);
                let ptr = seg_mtod(seg);
                if len > 0 && !(*seg).buf_addr.is_null() {
                    f(std::slice::from_raw_parts(ptr, len));
                }
                seg = (*seg).next;
            }
        }
    }

    /// Room after the data of the first segment (`rte_pktmbuf_tailroom`).
    #[inline]
    pub fn tailroom(&self) -> usize {
        let room = self
            .buf_len()
            .saturating_sub(usize::from(self.hdr_data_off()));
        room.saturating_sub(usize::from(self.hdr_data_len()))
    }

    /// Grows the first segment by `n` bytes at the end and returns them; `None` if there is not
    /// enough tailroom or the packet has more than one segment.
    pub fn append(&mut self, n: usize) -> Option<&mut [u8]> {
        if self.nb_segs() != 1 || !self.exclusive() || n > self.tailroom() {
            return None;
        }
        let n16 = u16::try_from(n).ok()?;
        if self.hdr_buf_addr_is_null() {
            return None;
        }
        // As rte_pktmbuf_append on a single segment: the data grows at its end.
        let (off, len) = (self.hdr_data_off(), self.hdr_data_len());
        self.hdr_set_geometry(
            off,
            len.wrapping_add(n16),
            self.hdr_pkt_len().wrapping_add(u32::from(n16)),
        );
        let m = self.0.as_ptr();
        // SAFETY: n <= tailroom, so the n bytes after the old data end lie inside the buffer
        // (buf_len bytes at buf_addr), which self owns exclusively (direct, refcount 1) and
        // borrows mutably.
        Some(unsafe {
            let end = seg_mtod(m).add(usize::from(len));
            std::slice::from_raw_parts_mut(end, n)
        })
    }

    /// Sets the headroom of an empty single-segment mbuf; `false` if it is not empty or the
    /// buffer is smaller than `headroom`.
    pub(crate) fn set_headroom(&mut self, headroom: usize) -> bool {
        let Ok(h) = u16::try_from(headroom) else {
            return false;
        };
        let m = self.0.as_ptr();
        // SAFETY: self owns a valid mbuf and is borrowed mutably; single-field accesses.
        unsafe {
            if (*m).data_len != 0 || !(*m).next.is_null() || h > (*m).buf_len {
                return false;
            }
            (*m).data_off = h;
        }
        true
    }

    /// Size of the first segment's buffer.
    #[inline]
    pub fn buf_len(&self) -> usize {
        // SAFETY: as hdr_data_off.
        usize::from(unsafe { (*self.0.as_ptr()).buf_len })
    }

    /// The mbuf's offload flags (`RTE_MBUF_F_*`).
    #[inline]
    pub fn ol_flags(&self) -> u64 {
        // SAFETY: as hdr_data_off.
        unsafe { (*self.0.as_ptr()).ol_flags }
    }
}

impl Drop for Mbuf {
    fn drop(&mut self) {
        // SAFETY: self owns the chain (from_raw's contract); it is freed exactly once here.
        unsafe { ffi::vxgate_pktmbuf_free(self.0.as_ptr()) }
    }
}

impl Packet for Mbuf {
    #[inline]
    fn data(&self) -> &[u8] {
        let len = usize::from(self.hdr_data_len());
        if len == 0 || self.hdr_buf_addr_is_null() {
            return &[];
        }
        // SAFETY: self owns a valid mbuf; data_len bytes at buf_addr + data_off are initialized
        // packet data inside its buffer, not written by anyone else while &self is borrowed
        // (module docs on sharing).
        unsafe { std::slice::from_raw_parts(seg_mtod(self.0.as_ptr()), len) }
    }

    #[inline]
    fn data_mut(&mut self) -> &mut [u8] {
        if !self.exclusive() {
            // Another packet shows these bytes: writing them would change it too.
            return &mut [];
        }
        let len = usize::from(self.hdr_data_len());
        if len == 0 || self.hdr_buf_addr_is_null() {
            return &mut [];
        }
        // SAFETY: self owns the mbuf and its buffer exclusively (direct, refcount 1) and is
        // borrowed mutably; data_len bytes at buf_addr + data_off are initialized.
        unsafe { std::slice::from_raw_parts_mut(seg_mtod(self.0.as_ptr()), len) }
    }

    #[inline]
    fn pkt_len(&self) -> usize {
        self.hdr_pkt_len() as usize
    }

    #[inline]
    fn headroom(&self) -> usize {
        if self.is_indirect() {
            return 0;
        }
        usize::from(self.hdr_data_off())
    }

    #[inline]
    fn prepend(&mut self, n: usize) -> Option<&mut [u8]> {
        if self.is_indirect() {
            return None;
        }
        let n16 = u16::try_from(n).ok()?;
        // rte_pktmbuf_prepend: fails, changing nothing, when the headroom is too small; only
        // the first segment moves, also in a chain. data_off + data_len <= buf_len, so the
        // lengths cannot overflow; wrapping_add mirrors C's truncating casts.
        let off = self.hdr_data_off();
        if n16 > off || self.hdr_buf_addr_is_null() {
            return None;
        }
        self.hdr_set_geometry(
            off - n16,
            self.hdr_data_len().wrapping_add(n16),
            self.hdr_pkt_len().wrapping_add(u32::from(n16)),
        );
        // SAFETY: the n bytes at the new data start lie in the headroom of self's own (direct)
        // buffer, below the old data start; while the buffer is shared that start never moves
        // up (trim_front refuses), so no clone shows these bytes. &mut self makes the borrow
        // unique.
        Some(unsafe { std::slice::from_raw_parts_mut(seg_mtod(self.0.as_ptr()), n) })
    }

    #[inline]
    fn trim_front(&mut self, n: usize) -> bool {
        let Ok(n16) = u16::try_from(n) else {
            return false;
        };
        if !self.is_indirect() && self.refcnt() > 1 {
            return false;
        }
        // rte_pktmbuf_adj: fails, changing nothing, when n exceeds the first segment.
        let len = self.hdr_data_len();
        if n16 > len {
            return false;
        }
        self.hdr_set_geometry(
            self.hdr_data_off().wrapping_add(n16),
            len - n16,
            self.hdr_pkt_len().wrapping_sub(u32::from(n16)),
        );
        true
    }

    #[inline]
    fn truncate(&mut self, len: usize) {
        if len >= self.pkt_len() {
            return;
        }
        if self.nb_segs() == 1 {
            // One segment (DPDK's rte_pktmbuf_is_contiguous): only the lengths change.
            if let Ok(len16) = u16::try_from(len) {
                let data_len = self.hdr_data_len().min(len16);
                self.hdr_set_geometry(self.hdr_data_off(), data_len, u32::from(len16));
                return;
            }
        }
        // len < pkt_len, which is a u32.
        let len = u32::try_from(len).unwrap_or(u32::MAX);
        // SAFETY: self owns the chain; the shim only shortens lengths and frees the segments
        // past `len`, which belong to this chain.
        unsafe { ffi::vxgate_pktmbuf_truncate(self.0.as_ptr(), len) }
    }

    #[inline]
    fn request_ipv4_cksum_offload(&mut self, l2_len: usize, l3_len: usize) -> bool {
        if !ipv4_cksum_offload_enabled() {
            return false;
        }
        // l2_len and l3_len are 7- and 9-bit fields of the tx_offload word.
        let (Ok(l2), Ok(l3)) = (u64::try_from(l2_len), u64::try_from(l3_len)) else {
            return false;
        };
        if l2 >= 1 << ffi::VXGATE_MBUF_L2_LEN_BITS || l3 >= 1 << ffi::VXGATE_MBUF_L3_LEN_BITS {
            return false;
        }
        let m = self.0.as_ptr();
        // SAFETY: self owns a valid mbuf and is borrowed mutably; tx_offload is a u64
        // overlaying bit-fields of the same u64, so every bit pattern is valid to read and
        // write; single-field accesses as in hdr_set_geometry.
        unsafe {
            let word = (*m).__bindgen_anon_3.tx_offload;
            (*m).__bindgen_anon_3.tx_offload = (word & !(L2_LEN_MASK | L3_LEN_MASK))
                | (l2 << ffi::VXGATE_MBUF_L2_LEN_OFS)
                | (l3 << ffi::VXGATE_MBUF_L3_LEN_OFS);
            (*m).ol_flags |= ffi::RTE_MBUF_F_TX_IPV4 | ffi::RTE_MBUF_F_TX_IP_CKSUM;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    //! Every inline accessor against the shim's C version (DPDK's own static inline functions)
    //! on identical mbufs. The mbufs are fakes in Rust memory: no EAL, no mempool, never freed
    //! (wrapped in `ManuallyDrop`, since dropping an `Mbuf` returns it to its pool).
    use super::*;
    use std::mem::ManuallyDrop;

    const BUF: usize = 512;

    /// An mbuf header followed by its buffer, as a direct mbuf without private area lies in a
    /// mempool (what `rte_mbuf_from_indirect` relies on).
    #[repr(C)]
    struct Fake {
        m: ffi::rte_mbuf,
        buf: [u8; BUF],
    }

    fn fake(data_off: u16, data_len: u16) -> Box<Fake> {
        let mut f = Box::new(Fake {
            m: ffi::rte_mbuf::default(),
            buf: [0; BUF],
        });
        for (i, b) in f.buf.iter_mut().enumerate() {
            *b = (i % 251) as u8;
        }
        f.m.buf_addr = f.buf.as_mut_ptr().cast();
        f.m.buf_len = BUF as u16;
        f.m.data_off = data_off;
        f.m.data_len = data_len;
        f.m.pkt_len = u32::from(data_len);
        f.m.nb_segs = 1;
        f.m.refcnt = 1;
        // Bits the offload request must leave alone (l4_len, tso_segsz, outer lengths).
        f.m.__bindgen_anon_3.tx_offload = 0xabcd_ef01_2345_0000;
        f
    }

    fn own(f: &mut Fake) -> ManuallyDrop<Mbuf> {
        // SAFETY: f is a well-formed single-segment mbuf that outlives the handle, and the
        // handle is never dropped, so nothing frees it into a (non-existent) mempool.
        ManuallyDrop::new(unsafe { Mbuf::from_raw(NonNull::from(&mut f.m)) })
    }

    /// (data_off, data_len, pkt_len, nb_segs)
    fn geometry(m: *const ffi::rte_mbuf) -> (u16, u16, u32, u16) {
        // SAFETY: m points to a live fake.
        unsafe { ((*m).data_off, (*m).data_len, (*m).pkt_len, (*m).nb_segs) }
    }

    /// Offset of p from the start of f's buffer.
    fn offset_in(f: &Fake, p: *const u8) -> usize {
        (p as usize).wrapping_sub(f.buf.as_ptr() as usize)
    }

    const CASES: [(u16, u16); 5] = [(128, 64), (0, 100), (128, 0), (200, 312), (64, 1)];
    const LENS: [usize; 10] = [0, 1, 4, 50, 63, 64, 65, 128, 129, 70_000];

    #[test]
    fn getters_match_the_shim() {
        for (off, len) in CASES {
            let mut f = fake(off, len);
            let raw: *mut ffi::rte_mbuf = &mut f.m;
            let m = own(&mut f);
            // SAFETY: raw points to a live, well-formed fake.
            unsafe {
                assert_eq!(
                    m.data().len(),
                    usize::from(ffi::vxgate_pktmbuf_data_len(raw))
                );
                if len > 0 {
                    assert_eq!(
                        m.data().as_ptr(),
                        ffi::vxgate_pktmbuf_mtod(raw).cast::<u8>()
                    );
                }
                assert_eq!(m.pkt_len(), ffi::vxgate_pktmbuf_pkt_len(raw) as usize);
                assert_eq!(m.headroom(), usize::from(ffi::vxgate_pktmbuf_headroom(raw)));
                assert_eq!(m.tailroom(), usize::from(ffi::vxgate_pktmbuf_tailroom(raw)));
                assert_eq!(m.nb_segs(), usize::from(ffi::vxgate_pktmbuf_nb_segs(raw)));
                assert_eq!(m.buf_len(), usize::from(ffi::vxgate_pktmbuf_buf_len(raw)));
                assert_eq!(m.ol_flags(), ffi::vxgate_pktmbuf_ol_flags(raw));
                assert_eq!(m.refcnt(), ffi::vxgate_mbuf_refcnt_read(raw));
                assert_eq!(m.is_indirect(), ffi::vxgate_pktmbuf_is_indirect(raw) != 0);
            }
            let start = usize::from(off);
            assert_eq!(m.data(), &f.buf[start..start + usize::from(len)]);
        }
    }

    #[test]
    fn prepend_is_rte_pktmbuf_prepend() {
        for (off, len) in CASES {
            for n in LENS {
                let (mut a, mut b) = (fake(off, len), fake(off, len));
                let mut m = own(&mut a);
                let got = m.prepend(n).map(|s| (s.as_ptr(), s.len()));
                let want = match u16::try_from(n) {
                    // SAFETY: b is a live, well-formed fake.
                    Ok(n16) => unsafe { ffi::vxgate_pktmbuf_prepend(&mut b.m, n16) },
                    Err(_) => std::ptr::null_mut(),
                };
                assert_eq!(got.is_some(), !want.is_null(), "off {off} len {len} n {n}");
                if let Some((p, l)) = got {
                    assert_eq!(l, n);
                    assert_eq!(offset_in(&a, p), offset_in(&b, want.cast()));
                }
                assert_eq!(
                    geometry(m.as_ptr()),
                    geometry(&b.m),
                    "off {off} len {len} n {n}"
                );
            }
        }
    }

    #[test]
    fn trim_front_is_rte_pktmbuf_adj() {
        for (off, len) in CASES {
            for n in LENS {
                let (mut a, mut b) = (fake(off, len), fake(off, len));
                let mut m = own(&mut a);
                let got = m.trim_front(n);
                let want = match u16::try_from(n) {
                    // SAFETY: b is a live, well-formed fake.
                    Ok(n16) => unsafe { !ffi::vxgate_pktmbuf_adj(&mut b.m, n16).is_null() },
                    Err(_) => false,
                };
                assert_eq!(got, want, "off {off} len {len} n {n}");
                assert_eq!(
                    geometry(m.as_ptr()),
                    geometry(&b.m),
                    "off {off} len {len} n {n}"
                );
            }
        }
    }

    #[test]
    fn append_and_truncate_match_the_shim() {
        for (off, len) in CASES {
            for n in LENS {
                let (mut a, mut b) = (fake(off, len), fake(off, len));
                let mut m = own(&mut a);
                let got = m.append(n).map(|s| s.as_ptr());
                let want = match u16::try_from(n) {
                    // SAFETY: b is a live, well-formed fake.
                    Ok(n16) => unsafe { ffi::vxgate_pktmbuf_append(&mut b.m, n16) },
                    Err(_) => std::ptr::null_mut(),
                };
                assert_eq!(got.is_some(), !want.is_null(), "off {off} len {len} n {n}");
                if let Some(p) = got {
                    assert_eq!(offset_in(&a, p), offset_in(&b, want.cast()));
                }
                assert_eq!(geometry(m.as_ptr()), geometry(&b.m));

                let (mut a, mut b) = (fake(off, len), fake(off, len));
                let mut m = own(&mut a);
                m.truncate(n);
                // SAFETY: b is a live single-segment fake, so the shim frees nothing.
                unsafe { ffi::vxgate_pktmbuf_truncate(&mut b.m, u32::try_from(n).unwrap()) };
                assert_eq!(
                    geometry(m.as_ptr()),
                    geometry(&b.m),
                    "off {off} len {len} n {n}"
                );
            }
        }
    }

    #[test]
    fn set_headroom_only_on_empty_mbufs() {
        let mut a = fake(128, 0);
        let mut m = own(&mut a);
        assert!(m.set_headroom(16));
        assert_eq!(m.headroom(), 16);
        assert!(!m.set_headroom(BUF + 1));
        assert!(m.set_headroom(BUF));
        let mut a = fake(128, 10);
        let mut m = own(&mut a);
        assert!(!m.set_headroom(16));
        assert_eq!(m.headroom(), 128);
    }

    #[test]
    fn truncate_of_a_chain_keeps_the_segments_it_needs() {
        // Two segments of 40 and 30 bytes; truncating inside the second frees nothing.
        let mut a = fake(128, 40);
        let mut t = fake(128, 30);
        a.m.next = &mut t.m;
        a.m.nb_segs = 2;
        a.m.pkt_len = 70;
        let mut m = own(&mut a);
        m.truncate(60);
        assert_eq!(m.pkt_len(), 60);
        assert_eq!(m.data().len(), 40);
        assert_eq!(m.nb_segs(), 2);
        assert_eq!(m.to_vec().len(), 60);
        assert_eq!(geometry(&t.m), (128, 20, 30, 1));
    }

    #[test]
    fn shared_and_indirect_buffers_are_not_written() {
        // A direct mbuf whose buffer a clone shares: readable, growable downwards only.
        let mut a = fake(128, 64);
        a.m.refcnt = 2;
        let mut m = own(&mut a);
        assert!(m.data_mut().is_empty());
        assert_eq!(m.data().len(), 64);
        assert!(!m.trim_front(4));
        assert!(m.prepend(50).is_some());
        assert_eq!(m.refcnt(), 2);

        // An indirect clone of `d`: its refcnt is d's (read by the shim), never writable.
        let mut d = fake(128, 64);
        d.m.refcnt = 3;
        let mut i = fake(128, 64);
        i.m.buf_addr = d.buf.as_mut_ptr().cast();
        i.m.ol_flags = ffi::RTE_MBUF_F_INDIRECT;
        let mut m = own(&mut i);
        assert!(m.is_indirect());
        assert_eq!(m.refcnt(), 3);
        assert_eq!(m.segment_refcnts(), vec![3]);
        assert_eq!(m.headroom(), 0);
        assert!(m.prepend(1).is_none());
        assert!(m.data_mut().is_empty());
        assert!(m.append(1).is_none());
        assert!(m.trim_front(4));
        assert_eq!(m.data().len(), 60);

        // An external buffer counts as not direct either.
        let mut e = fake(128, 64);
        e.m.ol_flags = ffi::RTE_MBUF_F_EXTERNAL;
        let mut m = own(&mut e);
        assert!(m.is_indirect());
        assert!(m.data_mut().is_empty());
        assert!(m.prepend(1).is_none());
    }

    #[test]
    fn ipv4_cksum_offload_request_matches_the_shim() {
        let (mut a, mut b) = (fake(128, 64), fake(128, 64));
        let mut m = own(&mut a);
        set_ipv4_cksum_offload(false);
        assert!(!m.request_ipv4_cksum_offload(14, 20));
        set_ipv4_cksum_offload(true);
        assert!(m.request_ipv4_cksum_offload(14, 20));
        assert!(!m.request_ipv4_cksum_offload(128, 20));
        assert!(!m.request_ipv4_cksum_offload(14, 512));
        set_ipv4_cksum_offload(false);
        // SAFETY: b is a live, well-formed fake.
        let ret = unsafe { ffi::vxgate_pktmbuf_tx_ipv4_cksum(&mut b.m, 14, 20) };
        assert_eq!(ret, 0);
        // SAFETY: both are live fakes; tx_offload is a plain u64 in a union of u64 views.
        unsafe {
            let (ma, mb) = (&*m.as_ptr(), &b.m);
            assert_eq!(
                ma.__bindgen_anon_3.tx_offload,
                mb.__bindgen_anon_3.tx_offload
            );
            assert_eq!(ma.ol_flags, mb.ol_flags);
            assert_eq!(ma.__bindgen_anon_3.__bindgen_anon_1.l2_len(), 14);
            assert_eq!(ma.__bindgen_anon_3.__bindgen_anon_1.l3_len(), 20);
        }
    }
}
