//! Benchmarks: wire.
fn main() {}
