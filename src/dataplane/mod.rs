//! The packet pipeline and the worker poll loop.

pub mod drop;

pub use drop::DropReason;
