//! The packet pipeline and the worker poll loop.
//!
//! `encap` (access → underlay), `decap` (underlay → access, plus the VTEP's ARP and ICMP
//! replies), `originate` (ARP, neighbour solicitations and IGMP reports the worker sends),
//! `tx` (sinks and buffered transmit), `worker` (the poll loop), `settings` (what the
//! pipeline reads), `reconfig` (new settings handed to a running worker on a reload), `drop`
//! (every reason a packet is not forwarded). All of it is generic over `io::Io`, so it runs on
//! DPDK mbufs and on the software port alike.

pub mod decap;
pub mod drop;
pub mod encap;
pub mod flow_hash;
pub mod originate;
pub mod reconfig;
pub mod settings;
pub mod tx;
pub mod worker;

pub use drop::DropReason;
pub use settings::{PipelineSettings, VniSettings, OUTER_LEN};
pub use worker::{LatencySink, Worker};
