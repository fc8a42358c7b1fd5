//! The software port: in-memory rings with the same contract as a DPDK port.
//!
//! It exists so the whole pipeline (workers, control thread, replicas) runs in unit and
//! integration tests without DPDK. A [`MemRing`] is one direction of a wire: the gateway's
//! `MemTx` pushes into it and a test (or another gateway's `MemRx`) pops from it. Buffers come
//! from a bounded [`MemPool`] and return to it on drop, so pool exhaustion is testable.

use std::sync::Arc;

use crossbeam_queue::ArrayQueue;

use super::{Burst, Io, Packet, PacketPool, RxQueue, TxQueue};

/// Buffer size, like DPDK's default mbuf data room (2048) plus its 128-byte headroom.
pub const BUF_SIZE: usize = 2176;
/// Headroom of a received or freshly allocated packet (DPDK's RTE_PKTMBUF_HEADROOM).
pub const HEADROOM: usize = 128;

type FreeList = Arc<ArrayQueue<Box<[u8]>>>;

/// A packet in a heap buffer, returned to its pool's free list when dropped.
pub struct MemPacket {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    home: Option<FreeList>,
}

impl MemPacket {
    /// A packet holding a copy of `data` behind `headroom` bytes of free space, owned by no
    /// pool (for tests and traffic injection). Data longer than the buffer is cut.
    pub fn from_bytes(data: &[u8], headroom: usize) -> MemPacket {
        let headroom = headroom.min(BUF_SIZE);
        let mut buf = vec![0u8; BUF_SIZE.max(headroom + data.len())].into_boxed_slice();
        let end = headroom + data.len();
        buf[headroom..end].copy_from_slice(data);
        MemPacket {
            buf,
            start: headroom,
            end,
            home: None,
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        self.data().to_vec()
    }
}

impl Drop for MemPacket {
    fn drop(&mut self) {
        if let Some(home) = self.home.take() {
            let buf = std::mem::take(&mut self.buf);
            let _ = home.push(buf);
        }
    }
}

impl Packet for MemPacket {
    fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }
    fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.end]
    }
    fn pkt_len(&self) -> usize {
        self.end - self.start
    }
    fn headroom(&self) -> usize {
        self.start
    }
    fn prepend(&mut self, n: usize) -> Option<&mut [u8]> {
        if n > self.start {
            return None;
        }
        self.start -= n;
        Some(&mut self.buf[self.start..self.start + n])
    }
    fn trim_front(&mut self, n: usize) -> bool {
        if n > self.end - self.start {
            return false;
        }
        self.start += n;
        true
    }
    fn truncate(&mut self, len: usize) {
        if len < self.end - self.start {
            self.end = self.start + len;
        }
    }
}

/// A bounded pool of software buffers.
pub struct MemPool {
    free: FreeList,
    /// Buffers not yet created; the pool creates lazily up to its capacity.
    uncreated: usize,
}

impl MemPool {
    pub fn new(capacity: usize) -> MemPool {
        MemPool {
            free: Arc::new(ArrayQueue::new(capacity.max(1))),
            uncreated: capacity,
        }
    }

    fn take_buf(&mut self) -> Option<Box<[u8]>> {
        if let Some(b) = self.free.pop() {
            return Some(b);
        }
        if self.uncreated == 0 {
            return None;
        }
        self.uncreated -= 1;
        Some(vec![0u8; BUF_SIZE].into_boxed_slice())
    }

    /// A pooled packet holding a copy of `data`, or `None` when the pool is exhausted.
    pub fn packet_from(&mut self, data: &[u8], headroom: usize) -> Option<MemPacket> {
        if headroom + data.len() > BUF_SIZE {
            return None;
        }
        let mut buf = self.take_buf()?;
        buf[headroom..headroom + data.len()].copy_from_slice(data);
        Some(MemPacket {
            buf,
            start: headroom,
            end: headroom + data.len(),
            home: Some(self.free.clone()),
        })
    }

    /// Buffers currently free for reuse (created and returned).
    pub fn available(&self) -> usize {
        self.free.len() + self.uncreated
    }
}

impl PacketPool for MemPool {
    type Pkt = MemPacket;
    fn alloc(&mut self) -> Option<MemPacket> {
        self.packet_from(&[], HEADROOM)
    }
    fn replicate(&mut self, pkt: &MemPacket, headroom: usize) -> Option<MemPacket> {
        self.packet_from(pkt.data(), headroom.max(HEADROOM))
    }
}

/// One direction of a software wire.
#[derive(Clone)]
pub struct MemRing(Arc<ArrayQueue<MemPacket>>);

impl MemRing {
    pub fn new(capacity: usize) -> MemRing {
        MemRing(Arc::new(ArrayQueue::new(capacity.max(1))))
    }
    /// Puts a frame on the wire; `false` when the ring is full.
    pub fn inject(&self, frame: &[u8]) -> bool {
        self.0.push(MemPacket::from_bytes(frame, HEADROOM)).is_ok()
    }
    /// Takes every frame currently on the wire.
    pub fn drain(&self) -> Vec<Vec<u8>> {
        std::iter::from_fn(|| self.0.pop())
            .map(|p| p.to_vec())
            .collect()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Receive side of a software queue.
pub struct MemRx(pub MemRing);
/// Transmit side of a software queue.
pub struct MemTx(pub MemRing);

impl RxQueue for MemRx {
    type Pkt = MemPacket;
    fn rx_burst(&mut self, out: &mut Burst<MemPacket>, max: usize) -> usize {
        let mut n = 0;
        while !out.is_full() && n < max {
            let Some(p) = self.0 .0.pop() else { break };
            out.push(p);
            n += 1;
        }
        n
    }
}

impl TxQueue for MemTx {
    type Pkt = MemPacket;
    fn tx_burst(&mut self, pkts: &mut Burst<MemPacket>) -> usize {
        // Single producer: the free space cannot shrink under us, so move exactly what fits.
        let room = self.0 .0.capacity() - self.0 .0.len();
        let sent = room.min(pkts.len());
        for p in pkts.drain(..sent) {
            if let Err(p) = self.0 .0.push(p) {
                drop(p);
            }
        }
        sent
    }
}

/// The software backend.
pub struct Mem;

impl Io for Mem {
    type Pkt = MemPacket;
    type Rx = MemRx;
    type Tx = MemTx;
    type Pool = MemPool;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepend_and_trim_stay_in_bounds() {
        let mut p = MemPacket::from_bytes(&[1, 2, 3, 4], 8);
        assert!(p.prepend(9).is_none());
        p.prepend(8).unwrap().copy_from_slice(&[9; 8]);
        assert_eq!(p.pkt_len(), 12);
        assert!(p.trim_front(10));
        assert_eq!(p.data(), &[3, 4]);
        assert!(!p.trim_front(3));
        p.truncate(1);
        assert_eq!(p.data(), &[3]);
    }

    #[test]
    fn pool_is_bounded_and_recycles() {
        let mut pool = MemPool::new(2);
        let a = pool.alloc().unwrap();
        let b = pool.alloc().unwrap();
        assert!(pool.alloc().is_none());
        drop(a);
        assert_eq!(pool.available(), 1);
        let c = pool.replicate(&b, 64).unwrap();
        assert_eq!(c.data(), b.data());
        assert!(c.headroom() >= 64);
    }

    #[test]
    fn tx_keeps_what_does_not_fit() {
        let ring = MemRing::new(2);
        let mut tx = MemTx(ring.clone());
        let mut burst = Burst::new();
        for i in 0..3u8 {
            burst.push(MemPacket::from_bytes(&[i], 0));
        }
        assert_eq!(tx.tx_burst(&mut burst), 2);
        assert_eq!(burst.len(), 1);
        assert_eq!(burst[0].data(), &[2]);
        assert_eq!(ring.drain(), vec![vec![0], vec![1]]);
    }
}
