//! Benchmarks: pipeline.
fn main() {}
