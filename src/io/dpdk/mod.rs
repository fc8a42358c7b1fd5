//! DPDK binding (feature `dpdk`).
