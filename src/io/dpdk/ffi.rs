//! Raw bindings: bindgen's output over `shim.h` (DPDK 22.11 plus vxgate's shim), allowlisted in
//! `build.rs`. Nothing here is safe to call directly from outside `io::dpdk`; the sibling
//! modules wrap it.

#![allow(
    non_camel_case_types,
    non_upper_case_globals,
    non_snake_case,
    dead_code,
    unused_imports,
    improper_ctypes,
    unsafe_op_in_unsafe_fn,
    missing_docs,
    clippy::all,
    clippy::pedantic,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]

include!(concat!(env!("OUT_DIR"), "/dpdk_bindings.rs"));
