//! An owned `rte_mbuf`: the DPDK implementation of [`Packet`].
//!
//! # Design
//! [`Mbuf`] owns one packet (a chain of segments) and frees it on drop. `data()` is the first
//! segment; `pkt_len()` counts all of them. Prepend, trim and truncate move offsets only.
//!
//! Shared buffers: head-end replication (`DpdkPool::replicate`) chains a fresh header mbuf to
//! an indirect clone of the original, so the original's data buffer is then referenced twice.
//! To keep that sound, an mbuf whose buffer is shared (a direct mbuf with refcount > 1) or not
//! its own (indirect) refuses what could write into bytes another packet shows:
//! `data_mut()` returns an empty slice, `trim_front` fails on a shared direct buffer (so its
//! start can only move down while shared, and `prepend` writes only below every clone's view),
//! and `prepend` fails on an indirect one. These checks are plain loads, no atomics RMW.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};

use super::ffi;
use crate::io::Packet;

/// Set while the underlay port has TX IPv4 header checksum offload enabled; read with one plain
/// load per packet by [`Mbuf::request_ipv4_cksum_offload`].
static IPV4_CKSUM_OFFLOAD: AtomicBool = AtomicBool::new(false);

pub(crate) fn set_ipv4_cksum_offload(on: bool) {
    IPV4_CKSUM_OFFLOAD.store(on, Ordering::Release);
}

/// Whether packets may request TX IPv4 checksum offload (the underlay port enabled it).
pub fn ipv4_cksum_offload_enabled() -> bool {
    IPV4_CKSUM_OFFLOAD.load(Ordering::Relaxed)
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

    /// Number of segments in the chain.
    pub fn nb_segs(&self) -> usize {
        // SAFETY: self owns a valid mbuf; reads one field.
        usize::from(unsafe { ffi::vxgate_pktmbuf_nb_segs(self.0.as_ptr()) })
    }

    /// Reference count of the first segment's data buffer (for an indirect segment, that of
    /// the mbuf it is attached to).
    pub fn refcnt(&self) -> u16 {
        // SAFETY: self owns a valid mbuf; an atomic load of its (or its direct mbuf's) refcount.
        unsafe { ffi::vxgate_mbuf_refcnt_read(self.0.as_ptr()) }
    }

    /// Whether the first segment's data buffer belongs to another mbuf (an indirect clone).
    pub fn is_indirect(&self) -> bool {
        // SAFETY: self owns a valid mbuf; reads its flags.
        unsafe { ffi::vxgate_pktmbuf_is_indirect(self.0.as_ptr()) != 0 }
    }

    /// Whether the first segment may be written: its buffer is its own and not shared.
    fn exclusive(&self) -> bool {
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
                out.push(ffi::vxgate_mbuf_refcnt_read(seg));
                seg = ffi::vxgate_pktmbuf_next(seg);
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
                let len = usize::from(ffi::vxgate_pktmbuf_data_len(seg));
                let ptr = ffi::vxgate_pktmbuf_mtod(seg).cast::<u8>();
                if len > 0 && !ptr.is_null() {
                    f(std::slice::from_raw_parts(ptr, len));
                }
                seg = ffi::vxgate_pktmbuf_next(seg);
            }
        }
    }

    /// Room after the data of the last segment (the first, for a single-segment packet).
    pub fn tailroom(&self) -> usize {
        // SAFETY: self owns a valid mbuf; reads offsets of its first segment.
        usize::from(unsafe { ffi::vxgate_pktmbuf_tailroom(self.0.as_ptr()) })
    }

    /// Grows the first segment by `n` bytes at the end and returns them; `None` if there is not
    /// enough tailroom or the packet has more than one segment.
    pub fn append(&mut self, n: usize) -> Option<&mut [u8]> {
        if self.nb_segs() != 1 || !self.exclusive() {
            return None;
        }
        let n16 = u16::try_from(n).ok()?;
        // SAFETY: self owns the mbuf and its buffer exclusively; append checks the tailroom and
        // returns NULL (changing nothing) when it is too small.
        let p = unsafe { ffi::vxgate_pktmbuf_append(self.0.as_ptr(), n16) };
        let p = NonNull::new(p.cast::<u8>())?;
        // SAFETY: append returned n bytes inside the mbuf's buffer, owned exclusively by self
        // and borrowed mutably through &mut self.
        Some(unsafe { std::slice::from_raw_parts_mut(p.as_ptr(), n) })
    }

    /// Sets the headroom of an empty single-segment mbuf; `false` if it is not empty or the
    /// buffer is smaller than `headroom`.
    pub(crate) fn set_headroom(&mut self, headroom: usize) -> bool {
        let Ok(h) = u16::try_from(headroom) else {
            return false;
        };
        // SAFETY: self owns the mbuf; the shim changes data_off only for an empty mbuf whose
        // buffer is at least `headroom` long.
        unsafe { ffi::vxgate_pktmbuf_set_headroom(self.0.as_ptr(), h) == 0 }
    }

    /// Size of the first segment's buffer.
    pub fn buf_len(&self) -> usize {
        // SAFETY: self owns a valid mbuf; reads one field.
        usize::from(unsafe { ffi::vxgate_pktmbuf_buf_len(self.0.as_ptr()) })
    }

    /// The mbuf's offload flags (`RTE_MBUF_F_*`).
    pub fn ol_flags(&self) -> u64 {
        // SAFETY: self owns a valid mbuf; reads one field.
        unsafe { ffi::vxgate_pktmbuf_ol_flags(self.0.as_ptr()) }
    }
}

impl Drop for Mbuf {
    fn drop(&mut self) {
        // SAFETY: self owns the chain (from_raw's contract); it is freed exactly once here.
        unsafe { ffi::vxgate_pktmbuf_free(self.0.as_ptr()) }
    }
}

impl Packet for Mbuf {
    fn data(&self) -> &[u8] {
        // SAFETY: self owns a valid mbuf; data_len bytes at mtod are initialized packet data,
        // not written by anyone else while &self is borrowed (module docs on sharing).
        unsafe {
            let m = self.0.as_ptr();
            let len = usize::from(ffi::vxgate_pktmbuf_data_len(m));
            let ptr = ffi::vxgate_pktmbuf_mtod(m).cast::<u8>();
            if len == 0 || ptr.is_null() {
                return &[];
            }
            std::slice::from_raw_parts(ptr, len)
        }
    }

    fn data_mut(&mut self) -> &mut [u8] {
        if !self.exclusive() {
            // Another packet shows these bytes: writing them would change it too.
            return &mut [];
        }
        // SAFETY: self owns the mbuf and its buffer exclusively (direct, refcount 1) and is
        // borrowed mutably; data_len bytes at mtod are initialized.
        unsafe {
            let m = self.0.as_ptr();
            let len = usize::from(ffi::vxgate_pktmbuf_data_len(m));
            let ptr = ffi::vxgate_pktmbuf_mtod(m).cast::<u8>();
            if len == 0 || ptr.is_null() {
                return &mut [];
            }
            std::slice::from_raw_parts_mut(ptr, len)
        }
    }

    fn pkt_len(&self) -> usize {
        // SAFETY: self owns a valid mbuf; reads one field.
        unsafe { ffi::vxgate_pktmbuf_pkt_len(self.0.as_ptr()) as usize }
    }

    fn headroom(&self) -> usize {
        if self.is_indirect() {
            return 0;
        }
        // SAFETY: self owns a valid mbuf; reads its data offset.
        usize::from(unsafe { ffi::vxgate_pktmbuf_headroom(self.0.as_ptr()) })
    }

    fn prepend(&mut self, n: usize) -> Option<&mut [u8]> {
        if self.is_indirect() {
            return None;
        }
        let n16 = u16::try_from(n).ok()?;
        // SAFETY: self owns a direct mbuf; prepend checks the headroom and returns NULL
        // (changing nothing) when it is too small.
        let p = unsafe { ffi::vxgate_pktmbuf_prepend(self.0.as_ptr(), n16) };
        let p = NonNull::new(p.cast::<u8>())?;
        // SAFETY: the n bytes lie in the headroom of self's own buffer, below the data start;
        // while the buffer is shared that start never moves up (trim_front refuses), so no clone
        // shows these bytes. &mut self makes the borrow unique.
        Some(unsafe { std::slice::from_raw_parts_mut(p.as_ptr(), n) })
    }

    fn trim_front(&mut self, n: usize) -> bool {
        let Ok(n16) = u16::try_from(n) else {
            return false;
        };
        if !self.is_indirect() && self.refcnt() > 1 {
            return false;
        }
        // SAFETY: self owns the mbuf; adj checks n against the first segment's length and
        // returns NULL (changing nothing) when it is longer.
        !unsafe { ffi::vxgate_pktmbuf_adj(self.0.as_ptr(), n16) }.is_null()
    }

    fn truncate(&mut self, len: usize) {
        if len >= self.pkt_len() {
            return;
        }
        // len < pkt_len, which is a u32.
        let len = u32::try_from(len).unwrap_or(u32::MAX);
        // SAFETY: self owns the chain; the shim only shortens lengths and frees the segments
        // past `len`, which belong to this chain.
        unsafe { ffi::vxgate_pktmbuf_truncate(self.0.as_ptr(), len) }
    }

    fn request_ipv4_cksum_offload(&mut self, l2_len: usize, l3_len: usize) -> bool {
        if !ipv4_cksum_offload_enabled() {
            return false;
        }
        let (Ok(l2), Ok(l3)) = (u16::try_from(l2_len), u16::try_from(l3_len)) else {
            return false;
        };
        // SAFETY: self owns the mbuf; the shim checks the bit-field widths before writing the
        // TX offload metadata (no packet bytes).
        unsafe { ffi::vxgate_pktmbuf_tx_ipv4_cksum(self.0.as_ptr(), l2, l3) == 0 }
    }
}
