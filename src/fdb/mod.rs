//! The forwarding database: one authoritative table owned by the control thread, one lock-free
//! replica per worker.
//!
//! # Design
//! - The control thread is the only writer of the authoritative tables (`table`, `neighbor`).
//!   It publishes every change as a [`Delta`] stamped with a generation number into a bounded
//!   single-producer/single-consumer ring per worker (`rtrb`: plain loads and stores, no
//!   read-modify-write).
//! - Each worker owns a [`Replica`] and applies pending deltas at the top of its poll loop, a
//!   bounded number per iteration, so lookups never wait for the writer.
//! - Learning flows the other way: workers push [`Event`]s into their own bounded ring towards
//!   the control thread; when it is full the event is dropped and counted by the worker.

use std::net::{IpAddr, Ipv4Addr};

use crate::types::{MacAddr, TunnelId, Vni};

pub mod control;
pub mod hash;
pub mod neighbor;
pub mod replica;
pub mod source;
pub mod state;
pub mod table;
pub mod tunnel;

pub use control::{ControlPlane, FdbError};
pub use replica::Replica;

/// The key of an FDB entry: a MAC address within a VNI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FdbKey {
    pub vni: Vni,
    pub mac: MacAddr,
}

impl FdbKey {
    pub fn new(vni: Vni, mac: MacAddr) -> FdbKey {
        FdbKey { vni, mac }
    }
}

/// One change to a worker's replica, published by the control thread.
///
/// FDB entries and flood lists name remote VTEPs by [`TunnelId`]; a `TunnelSet` for that id
/// always comes earlier in the stream than any delta that names it, so a replica never sees an
/// id it cannot resolve (an unknown id would only make the entry unusable, never unsafe).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delta {
    /// Insert or replace the entry for `key`.
    FdbSet {
        key: FdbKey,
        tunnel: TunnelId,
    },
    /// Remove the entry for `key` (absent is fine).
    FdbRemove {
        key: FdbKey,
    },
    /// Remove every entry, or every entry of one VNI.
    FdbFlush {
        vni: Option<Vni>,
    },
    /// Create (or re-address) tunnel row `id` towards `remote`: a unicast VTEP of either family
    /// or a multicast group. Its next hop is unresolved and its counters start from zero.
    TunnelSet {
        id: TunnelId,
        remote: IpAddr,
    },
    /// Retire tunnel row `id` (nothing names it any more).
    TunnelRemove {
        id: TunnelId,
    },
    /// The underlay next-hop MAC for the tunnel towards `ip`.
    NeighborSet {
        ip: IpAddr,
        mac: MacAddr,
    },
    NeighborRemove {
        ip: IpAddr,
    },
    /// Add a tunnel to a VNI's flood list (configured VTEPs, the VNI's multicast group, fleet
    /// members).
    FloodAdd {
        vni: Vni,
        tunnel: TunnelId,
    },
    FloodRemove {
        vni: Vni,
        tunnel: TunnelId,
    },
    /// An IPv4 → MAC binding of an overlay host, for ARP suppression in its VNI.
    ArpSet {
        vni: Vni,
        ip: Ipv4Addr,
        mac: MacAddr,
    },
    ArpRemove {
        vni: Vni,
        ip: Ipv4Addr,
    },
    /// Ask the worker to transmit an ARP request (IPv4) or a Neighbor Solicitation (IPv6) for
    /// `ip` on the underlay port (the control thread owns no queue; worker 0 sends on its
    /// behalf).
    Solicit {
        ip: IpAddr,
    },
    /// A configuration reload: the worker takes its new pipeline settings and flood-list
    /// slots from its reconfiguration channel (pushed there before this delta was published)
    /// before it applies anything published after it.
    Reconfigure,
}

/// A delta with the generation it brings the replica to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versioned {
    pub generation: u64,
    pub delta: Delta,
}

/// What a worker reports to the control thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// `key` was seen behind `remote` (new, moved, or a refresh of a known entry).
    Learn { key: FdbKey, remote: IpAddr },
    /// A packet needed the next hop of the tunnel towards `ip`, which the replica lacks.
    NeighborMiss { ip: IpAddr },
    /// An ARP packet or a Neighbor Advertisement from the underlay told us `ip` is at `mac`.
    NeighborSeen { ip: IpAddr, mac: MacAddr },
    /// `key` was seen as a source on the access side (behind this gateway), with the IPv4
    /// address its frame carried (ARP sender or IPv4 source), if any.
    LocalSeen { key: FdbKey, ip: Option<Ipv4Addr> },
    /// A known-unicast destination missed the replica (reported only in on-demand mode).
    Miss { key: FdbKey },
}

/// The value a replica holds for a MAC behind this gateway's own access side: no tunnel.
pub const LOCAL: TunnelId = TunnelId::LOCAL;
/// The remote address the authoritative table records for a local entry.
pub const LOCAL_ADDR: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

/// What became of a report from the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// Nothing needed reporting (already known and recently refreshed, or rate-limited).
    NotNeeded,
    /// Pushed to the control thread.
    Sent,
    /// The queue to the control thread was full: dropped, to be counted by the caller.
    QueueFull,
}
