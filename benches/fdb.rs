//! Benchmarks: fdb.
fn main() {}
