//! The DPDK Environment Abstraction Layer: started once per process, cleaned up last.
//!
//! # Design
//! `rte_eal_init` may run once per process (even after `rte_eal_cleanup`), so [`Eal::init`]
//! claims a process-wide flag first and refuses a second call. Every mempool and port counts
//! itself in [`LIVE`]; [`Eal`]'s `Drop` runs `rte_eal_cleanup` only when that count is zero,
//! because cleanup unmaps the memory every mbuf lives in. Drop the [`Eal`] after every port,
//! mempool, queue, packet and worker (`DpdkEnv` does this by field order); if something is still
//! alive, cleanup is skipped (and logged) rather than pulling memory from under it.
//!
//! Drivers: Debian's shared DPDK loads its plugin directory (`RTE_EAL_PMD_PATH`,
//! `/usr/lib/<triplet>/dpdk/pmds-<ABI>`) by itself when `librte_eal` is a shared library, which
//! is how vxgate links it, so virtual devices (`--vdev net_pcap0,...`, `net_null0`, `net_ring0`)
//! work without `-d`. [`pmd_dir`] reports the directory found at build time for callers who
//! want to pass it explicitly.

use std::ffi::{c_char, CString};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::{ffi, DpdkError};

/// Set by the first `Eal::init`, never cleared: the EAL cannot start twice in one process.
static CLAIMED: AtomicBool = AtomicBool::new(false);
/// True between a successful `rte_eal_init` and `rte_eal_cleanup`.
static READY: AtomicBool = AtomicBool::new(false);
/// Mempools and ports still alive; cleanup waits for zero.
pub(crate) static LIVE: AtomicUsize = AtomicUsize::new(0);

/// Whether the EAL is initialized (and not cleaned up), i.e. DPDK objects may be created.
pub fn eal_ready() -> bool {
    READY.load(Ordering::Acquire)
}

/// The driver plugin directory of the DPDK found by `build.rs`
/// (`pkg-config --variable=libdir libdpdk` + `/dpdk/pmds-<ABI>`), if it found one.
pub fn pmd_dir() -> Option<&'static str> {
    option_env!("VXGATE_DPDK_PMD_DIR")
}

/// The initialized EAL. Not `Send`: it is created and cleaned up by the main thread.
#[derive(Debug)]
pub struct Eal {
    _main_thread_only: PhantomData<*const ()>,
}

impl Eal {
    /// Starts the EAL with `args` (EAL arguments only, without a program name, e.g.
    /// `["--no-huge", "-m", "512", "--no-pci", "--vdev", "net_null0"]`). The calling thread
    /// becomes the main lcore. Fails if the EAL was already started in this process.
    pub fn init(args: &[String]) -> Result<Eal, DpdkError> {
        let mut argv_owned = Vec::with_capacity(args.len() + 1);
        argv_owned.push(
            CString::new("vxgate").map_err(|_| DpdkError::InvalidArgument {
                what: "program name".into(),
            })?,
        );
        for a in args {
            argv_owned.push(
                CString::new(a.as_str()).map_err(|_| DpdkError::InvalidArgument {
                    what: format!("EAL argument {a:?} contains a NUL byte"),
                })?,
            );
        }
        if CLAIMED
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(DpdkError::EalAlreadyInitialized);
        }
        // rte_eal_init may keep pointers into argv (and permutes it), so argv and its strings
        // live for the rest of the process: a one-time, bounded leak.
        let argv: &'static mut [*mut c_char] = Box::leak(
            argv_owned
                .into_iter()
                .map(CString::into_raw)
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        );
        let argc = i32::try_from(argv.len()).map_err(|_| DpdkError::InvalidArgument {
            what: "too many EAL arguments".into(),
        })?;
        // SAFETY: argv holds argc valid, NUL-terminated, leaked (hence 'static) C strings; the
        // CLAIMED flag guarantees this is the only call of rte_eal_init in the process.
        let ret = unsafe { ffi::rte_eal_init(argc, argv.as_mut_ptr()) };
        if ret < 0 {
            let e = DpdkError::last("rte_eal_init", "");
            let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
            let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
            return match eal_hint(args, &mounts, &meminfo) {
                Some(hint) => Err(DpdkError::EalStart {
                    cause: e.to_string(),
                    hint,
                }),
                None => Err(e),
            };
        }
        READY.store(true, Ordering::Release);
        Ok(Eal {
            _main_thread_only: PhantomData,
        })
    }

    /// Number of lcores the EAL was started with.
    pub fn lcore_count(&self) -> u32 {
        // SAFETY: the EAL is initialized while `self` exists; the call only reads its config.
        unsafe { ffi::rte_lcore_count() }
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        let live = LIVE.load(Ordering::Acquire);
        if live != 0 {
            tracing::warn!(
                live,
                "DPDK objects still alive: skipping rte_eal_cleanup (drop ports and mempools first)"
            );
            return;
        }
        READY.store(false, Ordering::Release);
        // SAFETY: no mempool or port is alive (LIVE == 0), so no mbuf or queue refers to EAL
        // memory any more; this runs once because Eal is created once per process.
        let ret = unsafe { ffi::rte_eal_cleanup() };
        if ret != 0 {
            tracing::warn!(err = %DpdkError::last("rte_eal_cleanup", ""), "EAL cleanup failed");
        }
    }
}

/// Why the EAL most likely failed to start and how to fix it, from its arguments and the
/// machine's mounts and hugepages (the EAL itself only logs it, a line above its error).
pub fn eal_hint(args: &[String], mounts: &str, meminfo: &str) -> Option<String> {
    let has = |a: &str| args.iter().any(|x| x == a);
    if has("--no-huge") {
        return None;
    }
    let mounted = mounts
        .lines()
        .any(|l| l.split_whitespace().nth(2) == Some("hugetlbfs"));
    if !has("--in-memory") && !mounted {
        return Some(
            "no hugetlbfs is mounted, and without --in-memory the EAL keeps its hugepages in \
             one. Fix: mount one (mount -t hugetlbfs nodev /dev/hugepages), or add \
             \"--in-memory\" to dpdk.eal_args (with hugepages reserved: echo 512 > \
             /proc/sys/vm/nr_hugepages), or run without hugepages: \"--no-huge\", \"-m\", \"512\""
                .into(),
        );
    }
    let free = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("HugePages_Free:"))
        .and_then(|v| v.trim().parse::<u64>().ok());
    if free == Some(0) {
        return Some(
            "no free hugepages. Fix: reserve some (echo 512 > /proc/sys/vm/nr_hugepages), or \
             run without hugepages: \"--no-huge\", \"-m\", \"512\" in dpdk.eal_args"
                .into(),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_hint_names_the_missing_hugetlbfs_or_hugepages() {
        let free = "HugePages_Total: 512\nHugePages_Free: 512\n";
        let none = "HugePages_Total: 0\nHugePages_Free: 0\n";
        let mounted = "nodev /dev/hugepages hugetlbfs rw,relatime 0 0\n";
        let hint = eal_hint(&args(&["--no-pci"]), "proc /proc proc rw 0 0\n", free).unwrap();
        assert!(hint.contains("no hugetlbfs is mounted") && hint.contains("--in-memory"));
        assert_eq!(eal_hint(&args(&["--no-pci"]), mounted, free), None);
        assert_eq!(eal_hint(&args(&["--in-memory"]), "", free), None);
        assert!(eal_hint(&args(&["--in-memory"]), "", none)
            .unwrap()
            .contains("no free hugepages"));
        assert_eq!(eal_hint(&args(&["--no-huge", "-m", "512"]), "", none), None);
    }
}
