//! I/O backends: the contract between the packet pipeline and whatever moves the bytes.
//!
//! # Design
//! The pipeline (`dataplane`) is generic over [`Io`], so the same code runs on DPDK mbufs
//! (`io::dpdk`, feature `dpdk`) and on the software port (`io::mem`), which is what the unit and
//! integration tests drive. A worker owns its queues outright (`RxQueue`/`TxQueue` are `Send`
//! but never shared), which is what makes the fast path lock-free.
//!
//! Buffers are owned values: dropping a packet frees it (mbuf back to its pool), handing it to
//! `tx_burst` transfers ownership, and whatever a queue could not send stays in the caller's
//! burst, so the caller decides whether to retry or to drop and count.

use arrayvec::ArrayVec;

pub mod mem;
pub mod vdev;

#[cfg(feature = "dpdk")]
#[allow(unsafe_code)]
pub mod dpdk;

/// Packets per receive/transmit burst (DPDK's customary 32).
pub const BURST_SIZE: usize = 32;

/// A fixed-capacity burst of owned packets: no allocation on the fast path.
pub type Burst<P> = ArrayVec<P, BURST_SIZE>;

/// A packet buffer the pipeline can parse and rewrite in place.
///
/// `data` is the first (usually only) segment; `pkt_len` is the whole packet. Encapsulation
/// prepends into the headroom and decapsulation trims the front, both without copying.
pub trait Packet: Send + Sized {
    /// The bytes of the first segment, starting at the current packet start.
    fn data(&self) -> &[u8];
    fn data_mut(&mut self) -> &mut [u8];
    /// Total packet length over all segments.
    fn pkt_len(&self) -> usize;
    /// Free space in front of the data.
    fn headroom(&self) -> usize;
    /// Grows the packet by `n` bytes at the front and returns them (contents unspecified);
    /// `None`, with the packet unchanged, when the headroom is too small.
    fn prepend(&mut self, n: usize) -> Option<&mut [u8]>;
    /// Removes `n` bytes from the front; `false`, with the packet unchanged, if the first
    /// segment is shorter than `n`.
    fn trim_front(&mut self, n: usize) -> bool;
    /// Shortens the packet to `len` bytes (a no-op when it is already shorter); used to drop
    /// Ethernet padding after the IP total length.
    fn truncate(&mut self, len: usize);
    /// Asks the port to compute the outer IPv4 header checksum on transmit, for headers of
    /// these lengths at the packet start. Returns `false` when it cannot (the caller then
    /// computes it in software). The software port never offloads.
    fn request_ipv4_cksum_offload(&mut self, _l2_len: usize, _l3_len: usize) -> bool {
        false
    }
}

/// One receive queue, owned by exactly one worker.
pub trait RxQueue: Send {
    type Pkt: Packet;
    /// Appends up to `max` received packets (never more than the burst's free capacity);
    /// returns how many.
    fn rx_burst(&mut self, out: &mut Burst<Self::Pkt>, max: usize) -> usize;
}

/// One transmit queue, owned by exactly one worker.
pub trait TxQueue: Send {
    type Pkt: Packet;
    /// Sends packets from the front of `pkts`, removing the ones sent; the ones the queue could
    /// not take stay in `pkts` in order. Returns how many were sent.
    fn tx_burst(&mut self, pkts: &mut Burst<Self::Pkt>) -> usize;
}

/// Where a worker gets new buffers: for replies it builds and for flood replicas.
pub trait PacketPool: Send {
    type Pkt: Packet;
    /// A fresh, empty packet with the pool's default headroom; `None` when the pool is empty.
    fn alloc(&mut self) -> Option<Self::Pkt>;
    /// A copy of `pkt` for head-end replication with at least `headroom` bytes free in front.
    /// A backend may share the payload (DPDK: a header mbuf chained to an indirect clone)
    /// instead of copying it, so callers must not write into the data of either packet after
    /// this call, only prepend. `None` when buffers ran out.
    fn replicate(&mut self, pkt: &Self::Pkt, headroom: usize) -> Option<Self::Pkt>;
}

/// A backend: the set of types one worker is built from.
pub trait Io: 'static {
    type Pkt: Packet;
    type Rx: RxQueue<Pkt = Self::Pkt>;
    type Tx: TxQueue<Pkt = Self::Pkt>;
    type Pool: PacketPool<Pkt = Self::Pkt>;

    /// Called by each worker thread when it starts, before touching its queues (DPDK registers
    /// the thread so it has an lcore id and a mempool cache).
    fn thread_init() -> Result<(), String> {
        Ok(())
    }

    /// Called by each worker thread when it ends.
    fn thread_exit() {}
}

/// The queues and buffer source of one worker: one queue pair on each port.
pub struct WorkerIo<I: Io> {
    pub access_rx: I::Rx,
    pub access_tx: I::Tx,
    pub underlay_rx: I::Rx,
    pub underlay_tx: I::Tx,
    pub pool: I::Pool,
}
