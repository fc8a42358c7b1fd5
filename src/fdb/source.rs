//! A source of remote entries: the one interface through which a distributed store (etcd
//! today; BGP EVPN type-2/type-3 routes next) feeds the control plane.
//!
//! # Contract
//! - A source runs on its own thread and never touches a worker or a replica. It talks to the
//!   control thread only through a [`SourceLink`]: [`SourceUpdate`]s in, [`SourceRequest`]s
//!   out, both unbounded channels on the control side (allocation is fine here).
//! - `Snapshot` is the whole truth at one moment (start-up and every resync after a
//!   reconnect): the control plane makes its remote entries and fleet members equal to it,
//!   removing whatever the snapshot lacks, so nothing written while the store was out of
//!   reach is left behind. `complete = false` (on-demand mode, which holds only what it looked
//!   up) drops every cached remote entry instead; the next miss fetches it again.
//! - After a snapshot, single updates follow in store order. A source reports its own
//!   gateway's entries too; the control plane ignores those (`origin` is this member).
//! - Precedence is the table's (static > local, remote, learned): a source never replaces a
//!   static entry, and a host seen on the access side since is moved here by the next
//!   sighting.
//! - The control plane asks the source to publish what its access side learns and to look up
//!   misses (on-demand); the source decides how (etcd: keys under this gateway's lease).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use super::FdbKey;
use crate::types::{MacAddr, Vni};

/// One MAC reachable through another gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteEntry {
    pub key: FdbKey,
    /// The VTEP the MAC sits behind.
    pub vtep: IpAddr,
    /// Which member published it (shown by `vxgate fdb list`).
    pub origin: Arc<str>,
    /// IPv4 addresses seen for the MAC (ARP suppression answers for these).
    pub ips: Vec<Ipv4Addr>,
}

/// One gateway of the fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: Arc<str>,
    pub vtep: IpAddr,
    pub mac: Option<MacAddr>,
    /// The VNIs it serves: it joins their flood lists.
    pub vnis: Vec<Vni>,
    pub version: String,
}

/// What a source tells the control plane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceUpdate {
    /// The whole state (see the module contract).
    Snapshot {
        members: Vec<Member>,
        entries: Vec<RemoteEntry>,
        complete: bool,
    },
    /// A MAC appeared or moved (or, on-demand, a lookup's answer).
    Upsert(RemoteEntry),
    /// A MAC is gone from the store.
    Withdraw { key: FdbKey },
    /// A member registered or changed.
    MemberUp(Member),
    /// A member's registration vanished (its lease expired or it stopped).
    MemberDown { name: Arc<str> },
    /// On-demand: the store has no entry for `key` (cached as negative).
    NotFound { key: FdbKey },
}

/// What the control plane asks of its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceRequest {
    /// A MAC behind this gateway's access side appeared, moved here, or changed addresses.
    PublishLocal { key: FdbKey, ips: Vec<Ipv4Addr> },
    /// A MAC behind this gateway aged out or moved away.
    WithdrawLocal { key: FdbKey },
    /// On-demand: a unicast destination missed; find it.
    Lookup { key: FdbKey },
}

/// The control thread's end of a source.
pub struct SourceLink {
    pub updates: Receiver<SourceUpdate>,
    pub requests: Sender<SourceRequest>,
}

/// The source's end.
pub struct SourceEnd {
    pub updates: Sender<SourceUpdate>,
    pub requests: Receiver<SourceRequest>,
}

/// A connected pair of ends.
pub fn source_channel() -> (SourceLink, SourceEnd) {
    let (ut, ur) = crossbeam_channel::unbounded();
    let (rt, rr) = crossbeam_channel::unbounded();
    (
        SourceLink {
            updates: ur,
            requests: rt,
        },
        SourceEnd {
            updates: ut,
            requests: rr,
        },
    )
}
