//! Packet-buffer pools (`rte_pktmbuf_pool_create`).
//!
//! # Design
//! A [`Mempool`] is a cheap, cloneable handle (an `Arc`) so every user of the pool (ports,
//! worker pools) keeps it alive. When the last handle goes, the pool is freed only if no mbuf
//! is still out of it; otherwise it is deliberately leaked (and logged), because freeing it
//! would turn every outstanding `Mbuf` into a dangling pointer.

use std::ffi::CString;
use std::ptr::NonNull;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::eal::{eal_ready, LIVE};
use super::{ffi, DpdkError};

struct Raw {
    ptr: NonNull<ffi::rte_mempool>,
    name: String,
}

// SAFETY: an rte_mempool is built for concurrent use: its default ops ("ring_mp_mc") are
// multi-producer/multi-consumer, and per-lcore caches are only touched by their own lcore.
unsafe impl Send for Raw {}
// SAFETY: as above; the handle itself is never mutated after creation.
unsafe impl Sync for Raw {}

impl Drop for Raw {
    fn drop(&mut self) {
        let in_use = in_use_count(self.ptr);
        if in_use != 0 {
            tracing::warn!(pool = %self.name, in_use, "mbufs still in use: leaking the mempool");
            return;
        }
        // SAFETY: this is the last handle and no mbuf of the pool is outstanding, so nothing
        // can refer to the pool after it is freed.
        unsafe { ffi::rte_mempool_free(self.ptr.as_ptr()) };
        LIVE.fetch_sub(1, Ordering::AcqRel);
    }
}

fn in_use_count(p: NonNull<ffi::rte_mempool>) -> usize {
    // SAFETY: p is a live mempool (held by a Raw); the count only reads its rings and caches.
    unsafe { ffi::rte_mempool_in_use_count(p.as_ptr()) as usize }
}

/// A pool of packet mbufs.
#[derive(Clone)]
pub struct Mempool(Arc<Raw>);

impl std::fmt::Debug for Mempool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mempool")
            .field("name", &self.0.name)
            .field("capacity", &self.capacity())
            .finish()
    }
}

impl Mempool {
    /// Creates a pool of `n_mbufs` mbufs with a per-lcore cache of `cache` and `data_room`
    /// bytes of buffer each (headroom included: `RTE_MBUF_DEFAULT_BUF_SIZE` = 2176 gives 128 of
    /// headroom and 2048 of data), on the calling thread's NUMA socket.
    pub fn new(name: &str, n_mbufs: u32, cache: u32, data_room: u16) -> Result<Mempool, DpdkError> {
        let socket = if eal_ready() {
            // SAFETY: rte_socket_id only reads the calling thread's lcore variables.
            unsafe { ffi::rte_socket_id() as i32 }
        } else {
            -1
        };
        Mempool::on_socket(name, n_mbufs, cache, data_room, socket)
    }

    /// [`Mempool::new`] with its memory on NUMA socket `socket` (-1: any socket).
    pub fn on_socket(
        name: &str,
        n_mbufs: u32,
        cache: u32,
        data_room: u16,
        socket: i32,
    ) -> Result<Mempool, DpdkError> {
        if !eal_ready() {
            return Err(DpdkError::EalNotInitialized);
        }
        let cname = CString::new(name).map_err(|_| DpdkError::InvalidArgument {
            what: format!("mempool name {name:?} contains a NUL byte"),
        })?;
        // SAFETY: the EAL is initialized; cname is a valid C string that DPDK copies.
        let ptr = unsafe {
            ffi::rte_pktmbuf_pool_create(cname.as_ptr(), n_mbufs, cache, 0, data_room, socket)
        };
        let ptr = NonNull::new(ptr).ok_or_else(|| {
            DpdkError::last("rte_pktmbuf_pool_create", &format!("mempool {name}"))
        })?;
        LIVE.fetch_add(1, Ordering::AcqRel);
        Ok(Mempool(Arc::new(Raw {
            ptr,
            name: name.to_string(),
        })))
    }

    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// Mbufs currently allocated (including those held by port rings).
    pub fn in_use(&self) -> usize {
        in_use_count(self.0.ptr)
    }

    /// Mbufs free (in the pool or in per-lcore caches).
    pub fn available(&self) -> usize {
        // SAFETY: the pool is alive while self holds the Arc; the call only reads counters.
        unsafe { ffi::rte_mempool_avail_count(self.0.ptr.as_ptr()) as usize }
    }

    /// Total mbufs in the pool.
    pub fn capacity(&self) -> usize {
        // SAFETY: the pool is alive while self holds the Arc; reads an immutable field.
        unsafe { ffi::vxgate_mempool_size(self.0.ptr.as_ptr()) as usize }
    }

    /// The raw pool, valid while any handle to it exists.
    pub(crate) fn as_ptr(&self) -> *mut ffi::rte_mempool {
        self.0.ptr.as_ptr()
    }
}
