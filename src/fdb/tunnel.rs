//! The gateway's tunnel table, owned by the control thread.
//!
//! # Design
//! - A tunnel is one remote VTEP (IPv4 or IPv6) or one multicast group the gateway floods to.
//!   The control thread gives each address it publishes a [`TunnelId`] (a row index); FDB
//!   entries and flood lists in the replicas carry that index, never the address. A replica
//!   entry therefore stays 16 bytes for IPv6, a next-hop change rewrites one row, and the
//!   workers count per tunnel by indexing an array.
//! - Rows are created on first use (a static entry, a learned sender, a fleet member, a flood
//!   list) and live while anything may name them. Ids are reused only after the control
//!   thread retired the row (see `ControlPlane::collect_tunnels`): the retirement delta
//!   reaches every replica before the new `TunnelSet` for the same id, since deltas are applied
//!   in order.
//! - Row 0 is [`TunnelId::LOCAL`] and never allocated.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::types::TunnelId;

/// Every row is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the tunnel table is full ({} tunnels)", TunnelId::CAPACITY - 1)]
pub struct TunnelsFull;

/// Remote address ↔ tunnel id, with free-id reuse.
#[derive(Debug)]
pub struct TunnelTable {
    by_addr: HashMap<IpAddr, TunnelId>,
    /// Index = id; `None` for free rows (and row 0).
    rows: Vec<Option<IpAddr>>,
    free: Vec<TunnelId>,
    capacity: usize,
}

impl Default for TunnelTable {
    fn default() -> Self {
        TunnelTable::with_capacity(TunnelId::CAPACITY)
    }
}

impl TunnelTable {
    /// A table of `capacity` rows (row 0 included, never used).
    pub fn with_capacity(capacity: usize) -> TunnelTable {
        TunnelTable {
            by_addr: HashMap::new(),
            rows: vec![None],
            free: Vec::new(),
            capacity: capacity.clamp(2, TunnelId::CAPACITY),
        }
    }

    /// The tunnel towards `ip`, if it has one.
    pub fn get(&self, ip: IpAddr) -> Option<TunnelId> {
        self.by_addr.get(&ip).copied()
    }

    /// The address of tunnel `id`.
    pub fn addr(&self, id: TunnelId) -> Option<IpAddr> {
        self.rows.get(id.index()).copied().flatten()
    }

    /// The tunnel towards `ip`, created when missing; the flag says it is new (the caller
    /// publishes its `TunnelSet` before anything that names it).
    pub fn ensure(&mut self, ip: IpAddr) -> Result<(TunnelId, bool), TunnelsFull> {
        if let Some(id) = self.get(ip) {
            return Ok((id, false));
        }
        let id = if let Some(id) = self.free.pop() {
            id
        } else if self.rows.len() < self.capacity {
            self.rows.push(None);
            TunnelId(u32::try_from(self.rows.len() - 1).map_err(|_| TunnelsFull)?)
        } else {
            return Err(TunnelsFull);
        };
        if let Some(row) = self.rows.get_mut(id.index()) {
            *row = Some(ip);
        }
        self.by_addr.insert(ip, id);
        Ok((id, true))
    }

    /// Retires tunnel `id`; its id may be given out again.
    pub fn remove(&mut self, id: TunnelId) -> Option<IpAddr> {
        let ip = self.rows.get_mut(id.index())?.take()?;
        self.by_addr.remove(&ip);
        self.free.push(id);
        Some(ip)
    }

    /// Every tunnel, by id.
    pub fn iter(&self) -> impl Iterator<Item = (TunnelId, IpAddr)> + '_ {
        self.rows
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.map(|ip| (TunnelId(i as u32), ip)))
    }

    pub fn len(&self) -> usize {
        self.by_addr.len()
    }
    pub fn is_empty(&self) -> bool {
        self.by_addr.is_empty()
    }
    /// Whether every row is taken.
    pub fn is_full(&self) -> bool {
        self.free.is_empty() && self.rows.len() >= self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn ids_start_at_one_are_stable_and_reused_after_removal() {
        let mut t = TunnelTable::with_capacity(4);
        let a = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
        let b = IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2));
        let c = IpAddr::V4(Ipv4Addr::new(239, 1, 1, 1));
        assert_eq!(t.ensure(a), Ok((TunnelId(1), true)));
        assert_eq!(t.ensure(a), Ok((TunnelId(1), false)));
        assert_eq!(t.ensure(b), Ok((TunnelId(2), true)));
        assert_eq!(t.ensure(c), Ok((TunnelId(3), true)));
        assert!(t.is_full());
        assert_eq!(t.ensure(IpAddr::V4(Ipv4Addr::LOCALHOST)), Err(TunnelsFull));
        assert_eq!(t.addr(TunnelId(2)), Some(b));
        assert_eq!(t.remove(TunnelId(2)), Some(b));
        assert_eq!(t.remove(TunnelId(2)), None);
        assert_eq!(t.get(b), None);
        let d = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 9));
        assert_eq!(t.ensure(d), Ok((TunnelId(2), true)));
        assert_eq!(
            t.iter().collect::<Vec<_>>(),
            vec![(TunnelId(1), a), (TunnelId(2), d), (TunnelId(3), c)]
        );
        assert_eq!(t.addr(TunnelId::LOCAL), None);
    }
}
