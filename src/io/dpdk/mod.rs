//! DPDK binding (feature `dpdk`): vxgate's own thin layer over DPDK 22.11.
//!
//! # Design
//! - `ffi`: bindgen output over `shim.h`, allowlisted in `build.rs`. `shim.c` exports DPDK's
//!   static inline functions (rx/tx burst, mbuf alloc/free/clone/chain, rte_errno). `rte_mbuf`
//!   has its real layout (checked against C's `offsetof` at compile time), so `mbuf.rs` reads
//!   and writes the per-packet fields inline, with no call per access.
//! - Safe types: [`Eal`] (once per process, cleaned up last), [`Mempool`], [`Mbuf`] (an owned
//!   packet implementing [`Packet`]), [`Port`] with its [`DpdkRx`]/[`DpdkTx`] queues, and
//!   [`DpdkPool`] (a worker's [`PacketPool`]). All `unsafe` of the crate lives in this module.
//! - [`open`] builds everything a gateway needs from a [`DpdkSetup`] and returns a [`DpdkEnv`]
//!   (owning ports, mempool and EAL, dropped in that order) plus one [`WorkerIo`] per queue.
//!
//! Shutdown order: stop and join the workers (dropping their `WorkerIo`), then drop the
//! `DpdkEnv`. Worker threads call [`Io::thread_init`] first so DPDK gives them an lcore id (and
//! with it a mempool cache), and [`Io::thread_exit`] last.

pub mod eal;
#[allow(unsafe_op_in_unsafe_fn)]
pub mod ffi;
pub mod mbuf;
pub mod mempool;
pub mod port;

use crate::types::MacAddr;
use std::ffi::CStr;
use std::ptr::NonNull;

pub use eal::{eal_ready, pmd_dir, Eal};
pub use mbuf::{ipv4_cksum_offload_enabled, Mbuf};
pub use mempool::Mempool;
pub use port::{port_names, DpdkRx, DpdkTx, Port, PortOptions, PortStats};

use crate::io::{Io, Packet, PacketPool, WorkerIo};

/// Headroom DPDK reserves in front of received and freshly allocated mbufs.
pub const PKTMBUF_HEADROOM: usize = ffi::VXGATE_PKTMBUF_HEADROOM as usize;
/// The default mbuf buffer size: 2048 bytes of data behind the headroom.
pub const MBUF_DEFAULT_BUF_SIZE: u16 = ffi::VXGATE_MBUF_DEFAULT_BUF_SIZE as u16;

/// What went wrong setting DPDK up.
#[derive(Debug, thiserror::Error)]
pub enum DpdkError {
    #[error("{call} failed{}: {reason} (errno {errno})", context_suffix(.context))]
    Call {
        call: &'static str,
        /// Which port or pool, empty when the call concerns neither.
        context: String,
        errno: i32,
        reason: String,
    },
    #[error("the DPDK EAL was already started in this process (it can start only once)")]
    EalAlreadyInitialized,
    /// The EAL did not start, with the likely cause on this machine.
    #[error("{cause}: {hint}")]
    EalStart { cause: String, hint: String },
    #[error("the DPDK EAL is not initialized (call Eal::init first)")]
    EalNotInitialized,
    #[error("port '{name}' not found (known ports: [{known}]); pass it to the EAL with --vdev or a PCI allow-list")]
    PortNotFound { name: String, known: String },
    #[error("invalid argument: {what}")]
    InvalidArgument { what: String },
}

fn context_suffix(context: &str) -> String {
    if context.is_empty() {
        String::new()
    } else {
        format!(" for {context}")
    }
}

/// DPDK's text for an errno value (DPDK's own codes included).
fn strerror(errno: i32) -> String {
    // SAFETY: rte_strerror accepts any value and returns a NUL-terminated string, static or in
    // a per-thread buffer that stays valid until the next call on this thread; it is copied
    // before returning.
    unsafe {
        let p = ffi::rte_strerror(errno);
        if p.is_null() {
            return format!("errno {errno}");
        }
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

impl DpdkError {
    /// An error for `call` (on `context`, e.g. "port net_pcap0") that failed with `errno`.
    pub fn call(call: &'static str, context: &str, errno: i32) -> DpdkError {
        DpdkError::Call {
            call,
            context: context.to_string(),
            errno,
            reason: strerror(errno),
        }
    }

    /// An error for `call` that reported its failure in `rte_errno`.
    pub fn last(call: &'static str, context: &str) -> DpdkError {
        // SAFETY: reads this thread's rte_errno (a thread-local), always valid.
        let errno = unsafe { ffi::vxgate_errno() };
        DpdkError::call(call, context, errno)
    }
}

/// A worker's source of new mbufs (replies, flood replicas).
///
/// `replicate` shares the payload when it can: for a single direct segment, and only if the
/// underlay port has multi-segment TX (`RTE_ETH_TX_OFFLOAD_MULTI_SEGS`, see
/// [`PortOptions::multi_seg_tx`]), it allocates an empty header mbuf whose whole buffer is
/// headroom and chains an indirect clone of the packet behind it, so prepending the outer
/// headers writes into the header mbuf and the payload is referenced, not copied. Otherwise
/// (no multi-segment TX, or the packet is already chained or indirect) it copies the packet
/// into one new mbuf.
#[derive(Debug)]
pub struct DpdkPool {
    pool: Mempool,
    chain: bool,
}

impl DpdkPool {
    /// A pool handle for one worker; `chain` enables zero-copy replication (only when every port
    /// replicas are sent to has multi-segment TX enabled).
    pub fn new(pool: &Mempool, chain: bool) -> DpdkPool {
        DpdkPool {
            pool: pool.clone(),
            chain,
        }
    }

    /// Whether `replicate` chains (shares the payload) rather than copies.
    pub fn chains(&self) -> bool {
        self.chain
    }

    fn alloc_raw(&self) -> Option<Mbuf> {
        // SAFETY: the mempool is alive (self.pool holds it); alloc returns NULL or a fresh mbuf
        // that nobody else owns.
        let m = NonNull::new(unsafe { ffi::vxgate_pktmbuf_alloc(self.pool.as_ptr()) })?;
        // SAFETY: m is fresh and owned by no one else; its pool outlives it (see Mempool).
        Some(unsafe { Mbuf::from_raw(m) })
    }

    fn replicate_chained(&self, pkt: &Mbuf) -> Option<Mbuf> {
        let mut header = self.alloc_raw()?;
        let full = header.buf_len();
        if !header.set_headroom(full) {
            return None;
        }
        // SAFETY: pkt is a valid direct single-segment mbuf owned by the caller; clone returns
        // NULL or a new indirect mbuf attached to it (raising pkt's refcount), owned by us.
        let clone =
            NonNull::new(unsafe { ffi::vxgate_pktmbuf_clone(pkt.as_ptr(), self.pool.as_ptr()) })?;
        // SAFETY: clone is a fresh indirect mbuf owned by no one else; freeing it drops the
        // reference it holds on pkt's buffer.
        let clone = unsafe { Mbuf::from_raw(clone) };
        // SAFETY: both are valid chains owned by us; on success the header's chain owns the
        // clone, on failure nothing changed.
        let ret = unsafe { ffi::vxgate_pktmbuf_chain(header.as_ptr(), clone.as_ptr()) };
        if ret != 0 {
            return None;
        }
        // The clone now belongs to the header's chain: freed with it.
        let _ = clone.into_raw();
        Some(header)
    }

    fn replicate_copy(&self, pkt: &Mbuf, headroom: usize) -> Option<Mbuf> {
        let mut m = self.alloc_raw()?;
        let len = pkt.pkt_len();
        if headroom.saturating_add(len) > m.buf_len() || !m.set_headroom(headroom) {
            return None;
        }
        let dst = m.append(len)?;
        let mut at = 0;
        pkt.copy_segments(|seg| {
            if let Some(d) = dst.get_mut(at..at + seg.len()) {
                d.copy_from_slice(seg);
            }
            at += seg.len();
        });
        Some(m)
    }
}

impl PacketPool for DpdkPool {
    type Pkt = Mbuf;

    fn alloc(&mut self) -> Option<Mbuf> {
        self.alloc_raw()
    }

    fn replicate(&mut self, pkt: &Mbuf, headroom: usize) -> Option<Mbuf> {
        let headroom = headroom.max(PKTMBUF_HEADROOM);
        if self.chain && pkt.nb_segs() == 1 && !pkt.is_indirect() {
            // The header mbuf's headroom is its whole buffer; only a larger request copies.
            if let Some(m) = self.replicate_chained(pkt) {
                if m.headroom() >= headroom {
                    return Some(m);
                }
            }
        }
        self.replicate_copy(pkt, headroom)
    }
}

/// The DPDK backend.
#[derive(Debug)]
pub struct Dpdk;

impl Io for Dpdk {
    type Pkt = Mbuf;
    type Rx = DpdkRx;
    type Tx = DpdkTx;
    type Pool = DpdkPool;

    /// Registers the calling thread with DPDK (`rte_thread_register`): it gets an lcore id and
    /// with it a per-lcore mempool cache. Threads that already are lcores are left alone.
    fn thread_init() -> Result<(), String> {
        if !eal_ready() {
            return Err(DpdkError::EalNotInitialized.to_string());
        }
        // SAFETY: reads this thread's lcore id (a thread-local).
        if unsafe { ffi::vxgate_lcore_id() } != u32::MAX {
            return Ok(());
        }
        // SAFETY: the EAL is initialized; registering the calling thread touches only EAL state.
        if unsafe { ffi::rte_thread_register() } != 0 {
            return Err(DpdkError::last("rte_thread_register", "").to_string());
        }
        Ok(())
    }

    /// Releases the lcore id `thread_init` took.
    fn thread_exit() {
        if eal_ready() {
            // SAFETY: the EAL is initialized; a thread without an lcore is a no-op for DPDK.
            unsafe { ffi::rte_thread_unregister() }
        }
    }
}

/// Everything [`open`] needs, usually from the config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpdkSetup {
    /// EAL arguments without a program name (`--vdev`, `-l`, `--no-huge`, ...).
    pub eal_args: Vec<String>,
    /// Mbufs in the shared pool; must cover both ports' RX and TX rings plus bursts in flight.
    pub mempool_size: u32,
    pub mempool_cache: u32,
    pub rx_descriptors: u16,
    pub tx_descriptors: u16,
    /// DPDK port names (vdev name or PCI address).
    pub access: String,
    pub underlay: String,
    /// Queues per port, one pair on each port per worker.
    pub queues: u16,
    pub underlay_mtu: u16,
    /// Multicast MACs the underlay must receive (joined groups, IPv6 neighbour discovery):
    /// installed as the device's multicast filter, or allmulticast where it has none.
    pub underlay_multicast: Vec<MacAddr>,
    /// Receive modes (`ports.*_promiscuous`, `ports.*_allmulticast`).
    pub access_promiscuous: bool,
    pub access_allmulticast: bool,
    pub underlay_promiscuous: bool,
    pub underlay_allmulticast: bool,
}

/// The started DPDK environment. Fields drop in declaration order: ports, mempools, EAL.
#[derive(Debug)]
pub struct DpdkEnv {
    access: Port,
    underlay: Port,
    /// One pool per NUMA socket the ports sit on (one on single-socket machines and virtual
    /// devices): each port receives into the pool on its own socket, as DPDK's l3fwd does.
    mempools: Vec<Mempool>,
    _eal: Eal,
}

impl DpdkEnv {
    pub fn access_port(&self) -> &Port {
        &self.access
    }
    pub fn underlay_port(&self) -> &Port {
        &self.underlay
    }
    pub fn access_port_mut(&mut self) -> &mut Port {
        &mut self.access
    }
    pub fn underlay_port_mut(&mut self) -> &mut Port {
        &mut self.underlay
    }
    /// The mbuf pools, one per NUMA socket of the ports.
    pub fn mempools(&self) -> &[Mempool] {
        &self.mempools
    }

    /// Mbufs in use over all pools.
    pub fn mempool_in_use(&self) -> usize {
        self.mempools.iter().map(Mempool::in_use).sum()
    }

    /// Mbufs over all pools.
    pub fn mempool_capacity(&self) -> usize {
        self.mempools.iter().map(Mempool::capacity).sum()
    }

    /// Closes both ports (their drivers return every mbuf they held), then reports how many
    /// buffers are still in use: anything but zero is a leak. The mempool and the EAL are
    /// released when the returned value's owner, this function, ends.
    pub fn close(self) -> usize {
        let DpdkEnv {
            access,
            underlay,
            mempools,
            _eal,
        } = self;
        drop(access);
        drop(underlay);
        let in_use = mempools.iter().map(Mempool::in_use).sum();
        drop(mempools);
        drop(_eal);
        in_use
    }
}

/// Starts the EAL, creates the mbuf pool, opens both ports and builds one [`WorkerIo`] per
/// queue. On error everything already started is stopped and released again (the EAL itself
/// cannot be restarted in this process).
pub fn open(setup: &DpdkSetup) -> Result<(DpdkEnv, Vec<WorkerIo<Dpdk>>), DpdkError> {
    check_setup(setup)?;
    let eal = Eal::init(&setup.eal_args)?;
    open_with_eal(eal, setup)
}

/// [`open`] on an EAL the caller already started (`setup.eal_args` is ignored); the returned
/// environment takes ownership of it.
pub fn open_with_eal(
    eal: Eal,
    setup: &DpdkSetup,
) -> Result<(DpdkEnv, Vec<WorkerIo<Dpdk>>), DpdkError> {
    check_setup(setup)?;
    let mut mempools: Vec<(i32, Mempool)> = Vec::new();
    let access_pool = pool_for(&mut mempools, &setup.access, setup)?;
    let underlay_pool = pool_for(&mut mempools, &setup.underlay, setup)?;
    let mut access = Port::open(
        &setup.access,
        setup.queues,
        setup.rx_descriptors,
        setup.tx_descriptors,
        &access_pool,
        PortOptions {
            mtu: None,
            rss: true,
            // A bridge port must see every destination MAC (the default).
            promiscuous: setup.access_promiscuous,
            ipv4_cksum_offload: false,
            multi_seg_tx: false,
            multicast: &[],
            allmulticast: setup.access_allmulticast,
        },
    )?;
    let mut underlay = Port::open(
        &setup.underlay,
        setup.queues,
        setup.rx_descriptors,
        setup.tx_descriptors,
        &underlay_pool,
        PortOptions {
            mtu: Some(setup.underlay_mtu),
            rss: true,
            // An IP endpoint: its own MAC, broadcast (ARP) and its multicast groups (the
            // defaults).
            promiscuous: setup.underlay_promiscuous,
            ipv4_cksum_offload: true,
            multi_seg_tx: true,
            multicast: &setup.underlay_multicast,
            allmulticast: setup.underlay_allmulticast,
        },
    )?;
    // Replicas (encapsulated floods) go out of the underlay port.
    let chain = underlay.multi_seg_tx();
    let workers = access
        .take_queues()
        .into_iter()
        .zip(underlay.take_queues())
        .map(
            |((access_rx, access_tx), (underlay_rx, underlay_tx))| WorkerIo {
                access_rx,
                access_tx,
                underlay_rx,
                underlay_tx,
                // What a worker allocates (flood replicas, ARP replies) mostly leaves by the
                // underlay, so it comes from the underlay's socket.
                pool: DpdkPool::new(&underlay_pool, chain),
            },
        )
        .collect();
    Ok((
        DpdkEnv {
            access,
            underlay,
            mempools: mempools.into_iter().map(|(_, p)| p).collect(),
            _eal: eal,
        },
        workers,
    ))
}

/// The pool on the NUMA socket of the device `port`, created on first use. A device whose
/// socket DPDK does not know (virtual devices) shares the calling thread's socket.
fn pool_for(
    pools: &mut Vec<(i32, Mempool)>,
    port: &str,
    setup: &DpdkSetup,
) -> Result<Mempool, DpdkError> {
    let mut socket = port::device_socket(port)?;
    if socket < 0 {
        // SAFETY: rte_socket_id only reads the calling thread's lcore variables.
        socket = unsafe { ffi::rte_socket_id() } as i32;
    }
    if let Some((_, p)) = pools.iter().find(|(s, _)| *s == socket) {
        return Ok(p.clone());
    }
    let pool = Mempool::on_socket(
        &format!("vxgate_mbufs_s{socket}"),
        setup.mempool_size,
        setup.mempool_cache,
        MBUF_DEFAULT_BUF_SIZE,
        socket,
    )?;
    tracing::info!(socket, mbufs = setup.mempool_size, "mbuf pool created");
    pools.push((socket, pool.clone()));
    Ok(pool)
}

fn check_setup(setup: &DpdkSetup) -> Result<(), DpdkError> {
    if setup.access == setup.underlay {
        return Err(DpdkError::InvalidArgument {
            what: format!("access and underlay are the same port '{}'", setup.access),
        });
    }
    let ring_mbufs = 2
        * u64::from(setup.queues)
        * (u64::from(setup.rx_descriptors) + u64::from(setup.tx_descriptors));
    if u64::from(setup.mempool_size) < ring_mbufs {
        tracing::warn!(
            mempool_size = setup.mempool_size,
            ring_mbufs,
            "mempool is smaller than the RX+TX rings of both ports: expect rx_nombuf drops"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Checks that need no EAL (the lib test binary never starts one; see tests/dpdk_port.rs).
    use super::*;

    #[test]
    fn errors_name_the_call_and_the_port() {
        let e = DpdkError::call("rte_eth_dev_start", "port net_pcap0", libc::EINVAL);
        let s = e.to_string();
        assert!(
            s.starts_with("rte_eth_dev_start failed for port net_pcap0: "),
            "{s}"
        );
        assert!(s.ends_with(&format!("(errno {})", libc::EINVAL)), "{s}");
        let e = DpdkError::call("rte_eal_init", "", libc::ENOMEM);
        assert!(e.to_string().starts_with("rte_eal_init failed: "));
    }

    #[test]
    fn nothing_is_created_without_an_eal() {
        assert!(!eal_ready());
        assert!(matches!(
            Mempool::new("p", 63, 0, MBUF_DEFAULT_BUF_SIZE),
            Err(DpdkError::EalNotInitialized)
        ));
        assert!(port_names().is_empty());
        assert!(Dpdk::thread_init().is_err());
    }

    #[test]
    fn eal_args_with_nul_are_rejected_before_claiming_the_eal() {
        let r = Eal::init(&["--no-huge\0".to_string()]);
        assert!(matches!(r, Err(DpdkError::InvalidArgument { .. })));
    }

    #[test]
    fn setup_rejects_one_port_for_both_sides() {
        let setup = DpdkSetup {
            eal_args: Vec::new(),
            mempool_size: 8191,
            mempool_cache: 256,
            rx_descriptors: 1024,
            tx_descriptors: 1024,
            access: "net_null0".into(),
            underlay: "net_null0".into(),
            queues: 1,
            underlay_mtu: 1600,
            underlay_multicast: Vec::new(),
            access_promiscuous: true,
            access_allmulticast: false,
            underlay_promiscuous: false,
            underlay_allmulticast: true,
        };
        assert!(matches!(
            open(&setup),
            Err(DpdkError::InvalidArgument { .. })
        ));
    }

    #[test]
    fn constants_match_dpdk() {
        assert_eq!(PKTMBUF_HEADROOM, 128);
        assert_eq!(MBUF_DEFAULT_BUF_SIZE, 2048 + 128);
    }
}
