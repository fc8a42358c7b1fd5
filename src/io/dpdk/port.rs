//! Ethernet ports (`rte_ethdev`) and their queues.
//!
//! # Design
//! [`Port::open`] finds a probed device by name (a vdev name such as `net_pcap0` or a PCI
//! address such as `0000:01:00.0`), configures N RX and N TX queues, starts it, and hands out
//! each (RX, TX) queue pair exactly once through [`Port::take_queues`], so every queue has a
//! single owner (one worker) and the fast path needs no locks. `Drop` stops and closes the
//! port. A queue used after its port stopped is harmless: DPDK points a stopped port's burst
//! functions at dummies that return 0.

use std::ffi::{c_char, CStr, CString};
use std::sync::atomic::Ordering;

use super::eal::{eal_ready, LIVE};
use super::mbuf::{set_ipv4_cksum_offload, Mbuf};
use super::mempool::Mempool;
use super::{ffi, DpdkError};
use crate::io::{Burst, RxQueue, TxQueue, BURST_SIZE};
use crate::types::MacAddr;

/// The RSS hash fields vxgate asks for: IPv4 addresses and, for UDP (the VXLAN underlay,
/// whose source port carries the inner flow's entropy) and TCP, ports too.
const RSS_HF: u64 = (ffi::VXGATE_ETH_RSS_IPV4
    | ffi::VXGATE_ETH_RSS_FRAG_IPV4
    | ffi::VXGATE_ETH_RSS_NONFRAG_IPV4_TCP
    | ffi::VXGATE_ETH_RSS_NONFRAG_IPV4_UDP
    | ffi::VXGATE_ETH_RSS_NONFRAG_IPV4_OTHER) as u64;

/// What to ask of a port; features the device does not support are left off (and logged).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PortOptions<'a> {
    /// MTU in bytes (L3); `None` keeps the device default (1500).
    pub mtu: Option<u16>,
    /// Spread flows over the RX queues by RSS (only where the device supports it).
    pub rss: bool,
    pub promiscuous: bool,
    /// Enable TX IPv4 header checksum offload if the device has it; this also lets
    /// `Mbuf::request_ipv4_cksum_offload` succeed (a process-wide switch: set it on the
    /// underlay port only).
    pub ipv4_cksum_offload: bool,
    /// Enable multi-segment TX if the device has it; required for zero-copy replication
    /// (header mbuf chained to an indirect clone). Without it replication copies.
    pub multi_seg_tx: bool,
    /// Multicast MACs to receive: the device's multicast filter where it has one, else
    /// allmulticast (empty: neither).
    pub multicast: &'a [MacAddr],
    /// Receive every multicast frame (allmulticast), filter or not.
    pub allmulticast: bool,
}

/// Port counters from `rte_eth_stats_get`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PortStats {
    pub ipackets: u64,
    pub opackets: u64,
    pub ibytes: u64,
    pub obytes: u64,
    /// Dropped by the device because no RX descriptor was free.
    pub imissed: u64,
    pub ierrors: u64,
    pub oerrors: u64,
    /// RX mbuf allocation failures (the mempool ran dry).
    pub rx_nombuf: u64,
    pub link_up: bool,
    /// 0 when the device does not say.
    pub speed_mbps: u32,
    pub full_duplex: bool,
}

/// A configured and started Ethernet port.
#[derive(Debug)]
pub struct Port {
    id: u16,
    name: String,
    queues: u16,
    queues_taken: bool,
    started: bool,
    ipv4_cksum_offload: bool,
    multi_seg_tx: bool,
    /// RX rings refill from this pool: keep it alive as long as the port.
    _pool: Mempool,
}

/// Names of every port DPDK knows, for error messages.
pub fn port_names() -> Vec<String> {
    let mut names = Vec::new();
    if !eal_ready() {
        return names;
    }
    let mut id: u16 = 0;
    loop {
        // SAFETY: the EAL is initialized; rte_eth_find_next only reads the port table.
        let next = unsafe { ffi::rte_eth_find_next(id) };
        if u32::from(next) >= ffi::RTE_MAX_ETHPORTS {
            break;
        }
        names.push(port_name(next));
        id = next.saturating_add(1);
    }
    names
}

fn port_name(id: u16) -> String {
    let mut buf = [0 as c_char; ffi::RTE_ETH_NAME_MAX_LEN as usize];
    // SAFETY: buf has RTE_ETH_NAME_MAX_LEN bytes, the size DPDK writes at most (NUL included).
    let ret = unsafe { ffi::rte_eth_dev_get_name_by_port(id, buf.as_mut_ptr()) };
    if ret != 0 {
        return format!("port{id}");
    }
    // SAFETY: on success DPDK wrote a NUL-terminated string into buf.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// Turns a DPDK ethdev return value (0 or -errno) into a Result.
fn check(ret: i32, call: &'static str, port: &str) -> Result<(), DpdkError> {
    if ret < 0 {
        Err(DpdkError::call(call, port, -ret))
    } else {
        Ok(())
    }
}

/// The NUMA socket of the device named `name` before it is opened (-1 when DPDK does not
/// know, as for virtual devices), so its receive buffers can be allocated next to it.
pub fn device_socket(name: &str) -> Result<i32, DpdkError> {
    if !eal_ready() {
        return Err(DpdkError::EalNotInitialized);
    }
    let id = port_id_by_name(name)?;
    // SAFETY: id is a valid port.
    Ok(unsafe { ffi::rte_eth_dev_socket_id(id) })
}

fn port_id_by_name(name: &str) -> Result<u16, DpdkError> {
    let cname = CString::new(name).map_err(|_| DpdkError::InvalidArgument {
        what: format!("port name {name:?} contains a NUL byte"),
    })?;
    let mut id: u16 = 0;
    // SAFETY: the EAL is initialized; cname is a valid C string and id a valid out pointer.
    let ret = unsafe { ffi::rte_eth_dev_get_port_by_name(cname.as_ptr(), &mut id) };
    if ret != 0 {
        return Err(DpdkError::PortNotFound {
            name: name.to_string(),
            known: port_names().join(", "),
        });
    }
    Ok(id)
}

impl Port {
    /// Finds, configures and starts the port `name` with `queues` RX and `queues` TX queues of
    /// `rx_desc`/`tx_desc` descriptors (adjusted to the device's limits), receiving into
    /// `mempool`. On error the port is left stopped and closed.
    pub fn open(
        name: &str,
        queues: u16,
        rx_desc: u16,
        tx_desc: u16,
        mempool: &Mempool,
        opts: PortOptions,
    ) -> Result<Port, DpdkError> {
        if !eal_ready() {
            return Err(DpdkError::EalNotInitialized);
        }
        if queues == 0 {
            return Err(DpdkError::InvalidArgument {
                what: format!("port {name}: at least one queue is needed"),
            });
        }
        let id = port_id_by_name(name)?;
        LIVE.fetch_add(1, Ordering::AcqRel);
        // From here on, Drop stops and closes the port whatever happens.
        let mut port = Port {
            id,
            name: name.to_string(),
            queues,
            queues_taken: false,
            started: false,
            ipv4_cksum_offload: false,
            multi_seg_tx: false,
            _pool: mempool.clone(),
        };
        port.configure(rx_desc, tx_desc, mempool, opts)?;
        Ok(port)
    }

    /// Receives the multicast MACs `macs`: through the device's multicast address filter when
    /// it has one, else by allmulticast (a device with neither is logged and left as it is:
    /// virtual devices without filtering already deliver everything).
    fn accept_multicast(&self, id: u16, name: &str, macs: &[MacAddr]) -> Result<(), DpdkError> {
        let mut list: Vec<ffi::rte_ether_addr> = macs
            .iter()
            .map(|m| ffi::rte_ether_addr { addr_bytes: m.0 })
            .collect();
        let n = u32::try_from(list.len()).unwrap_or(u32::MAX);
        // SAFETY: id is a started port; list holds n valid addresses and outlives the call.
        let ret = unsafe { ffi::rte_eth_dev_set_mc_addr_list(id, list.as_mut_ptr(), n) };
        if ret == 0 {
            tracing::info!(port = name, groups = macs.len(), "multicast filter set");
            return Ok(());
        }
        // SAFETY: id is a started port.
        let ret = unsafe { ffi::rte_eth_allmulticast_enable(id) };
        if ret == -libc::ENOTSUP {
            tracing::debug!(port = name, "no multicast filter and no allmulticast");
            Ok(())
        } else {
            check(ret, "rte_eth_allmulticast_enable", name)
        }
    }

    fn configure(
        &mut self,
        rx_desc: u16,
        tx_desc: u16,
        mempool: &Mempool,
        opts: PortOptions<'_>,
    ) -> Result<(), DpdkError> {
        let (id, name, queues) = (self.id, self.name.as_str(), self.queues);
        let mut info = ffi::rte_eth_dev_info::default();
        // SAFETY: id is a valid port; info is a valid out pointer.
        let ret = unsafe { ffi::rte_eth_dev_info_get(id, &mut info) };
        check(ret, "rte_eth_dev_info_get", name)?;
        if queues > info.max_rx_queues || queues > info.max_tx_queues {
            return Err(DpdkError::InvalidArgument {
                what: format!(
                    "port {name}: {queues} queues requested, the device has at most {} RX / {} TX",
                    info.max_rx_queues, info.max_tx_queues
                ),
            });
        }

        let mut conf = ffi::rte_eth_conf::default();
        let rss_hf = RSS_HF & info.flow_type_rss_offloads;
        if opts.rss && queues > 1 {
            if rss_hf != 0 {
                conf.rxmode.mq_mode = ffi::RTE_ETH_MQ_RX_RSS;
                conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
            } else {
                tracing::warn!(
                    port = name,
                    "device has no IPv4/UDP RSS: queues are not balanced"
                );
            }
        }
        if let Some(mtu) = opts.mtu {
            conf.rxmode.mtu = u32::from(mtu);
        }
        let capa = info.tx_offload_capa;
        let want_cksum = u64::from(ffi::VXGATE_ETH_TX_OFFLOAD_IPV4_CKSUM);
        let want_segs = u64::from(ffi::VXGATE_ETH_TX_OFFLOAD_MULTI_SEGS);
        if opts.ipv4_cksum_offload && capa & want_cksum != 0 {
            conf.txmode.offloads |= want_cksum;
        }
        if opts.multi_seg_tx && capa & want_segs != 0 {
            conf.txmode.offloads |= want_segs;
        }

        // SAFETY: id is a valid, stopped port; conf is a fully initialized rte_eth_conf.
        let ret = unsafe { ffi::rte_eth_dev_configure(id, queues, queues, &conf) };
        check(ret, "rte_eth_dev_configure", name)?;
        let (mut nb_rx, mut nb_tx) = (rx_desc, tx_desc);
        // SAFETY: id is a configured port; both are valid in/out pointers.
        let ret = unsafe { ffi::rte_eth_dev_adjust_nb_rx_tx_desc(id, &mut nb_rx, &mut nb_tx) };
        check(ret, "rte_eth_dev_adjust_nb_rx_tx_desc", name)?;
        // SAFETY: id is a valid port.
        let socket = unsafe { ffi::rte_eth_dev_socket_id(id) };
        // SOCKET_ID_ANY (-1) is how DPDK spells "any socket" in these unsigned parameters.
        let socket = socket as u32;
        for q in 0..queues {
            // SAFETY: id is configured with `queues` RX queues; a NULL rxconf selects the
            // device defaults; the mempool outlives the port (held in self._pool).
            let ret = unsafe {
                ffi::rte_eth_rx_queue_setup(
                    id,
                    q,
                    nb_rx,
                    socket,
                    std::ptr::null(),
                    mempool.as_ptr(),
                )
            };
            check(ret, "rte_eth_rx_queue_setup", name)?;
            // SAFETY: id is configured with `queues` TX queues; a NULL txconf selects the
            // device defaults plus the port-level offloads configured above.
            let ret =
                unsafe { ffi::rte_eth_tx_queue_setup(id, q, nb_tx, socket, std::ptr::null()) };
            check(ret, "rte_eth_tx_queue_setup", name)?;
        }
        // SAFETY: id is configured and all its queues are set up.
        let ret = unsafe { ffi::rte_eth_dev_start(id) };
        check(ret, "rte_eth_dev_start", name)?;
        self.started = true;
        if opts.promiscuous {
            // SAFETY: id is a started port.
            let ret = unsafe { ffi::rte_eth_promiscuous_enable(id) };
            if ret == -libc::ENOTSUP {
                tracing::debug!(port = name, "promiscuous mode not supported");
            } else {
                check(ret, "rte_eth_promiscuous_enable", name)?;
            }
        }
        if opts.allmulticast {
            // SAFETY: id is a started port.
            let ret = unsafe { ffi::rte_eth_allmulticast_enable(id) };
            if ret == -libc::ENOTSUP {
                tracing::warn!(port = name, "allmulticast not supported");
            } else {
                check(ret, "rte_eth_allmulticast_enable", name)?;
            }
        } else if !opts.multicast.is_empty() {
            self.accept_multicast(id, name, opts.multicast)?;
        }
        self.ipv4_cksum_offload = conf.txmode.offloads & want_cksum != 0;
        self.multi_seg_tx = conf.txmode.offloads & want_segs != 0;
        if opts.ipv4_cksum_offload {
            set_ipv4_cksum_offload(self.ipv4_cksum_offload);
        }
        tracing::info!(
            port = name,
            id,
            queues,
            rx_desc = nb_rx,
            tx_desc = nb_tx,
            rss = conf.rxmode.mq_mode == ffi::RTE_ETH_MQ_RX_RSS,
            ipv4_cksum_offload = self.ipv4_cksum_offload,
            multi_seg_tx = self.multi_seg_tx,
            "port started"
        );
        Ok(())
    }

    pub fn port_id(&self) -> u16 {
        self.id
    }

    /// The NUMA node the device is attached to, `None` when DPDK does not know (virtual
    /// devices, single-node machines).
    pub fn numa_node(&self) -> Option<u32> {
        // SAFETY: self.id is a valid port.
        let s = unsafe { ffi::rte_eth_dev_socket_id(self.id) };
        u32::try_from(s).ok()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn queues(&self) -> u16 {
        self.queues
    }

    /// Whether TX IPv4 header checksum offload is enabled on this port.
    pub fn ipv4_cksum_offload(&self) -> bool {
        self.ipv4_cksum_offload
    }

    /// Whether multi-segment TX is enabled (zero-copy replication may be used towards it).
    pub fn multi_seg_tx(&self) -> bool {
        self.multi_seg_tx
    }

    pub fn mac_addr(&self) -> MacAddr {
        let mut a = ffi::rte_ether_addr::default();
        // SAFETY: id is a valid port; a is a valid out pointer.
        let ret = unsafe { ffi::rte_eth_macaddr_get(self.id, &mut a) };
        if ret != 0 {
            return MacAddr::ZERO;
        }
        MacAddr(a.addr_bytes)
    }

    pub fn link_up(&self) -> bool {
        // SAFETY: id is a valid port; the shim reads its link status without waiting.
        unsafe { ffi::vxgate_eth_link_up(self.id) != 0 }
    }

    /// The device's counters (all zero if the driver cannot report them).
    pub fn stats(&self) -> PortStats {
        stats_of(self.id)
    }

    /// Hands out every (RX, TX) queue pair once; later calls return nothing.
    pub fn take_queues(&mut self) -> Vec<(DpdkRx, DpdkTx)> {
        if self.queues_taken {
            return Vec::new();
        }
        self.queues_taken = true;
        (0..self.queues)
            .map(|q| {
                (
                    DpdkRx {
                        port: self.id,
                        queue: q,
                    },
                    DpdkTx {
                        port: self.id,
                        queue: q,
                    },
                )
            })
            .collect()
    }

    /// Stops the port (flushing what the driver buffers, e.g. a pcap file); its queues then
    /// receive and send nothing. Idempotent.
    pub fn stop(&mut self) -> Result<(), DpdkError> {
        if !self.started {
            return Ok(());
        }
        self.started = false;
        // SAFETY: id is a valid, started port.
        check(
            unsafe { ffi::rte_eth_dev_stop(self.id) },
            "rte_eth_dev_stop",
            &self.name,
        )
    }
}

impl Drop for Port {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::warn!(err = %e, "stopping port");
        }
        if self.ipv4_cksum_offload {
            set_ipv4_cksum_offload(false);
        }
        // SAFETY: id is a valid, stopped port; after close nothing uses it (queues left behind
        // hit DPDK's dummy burst functions).
        let ret = unsafe { ffi::rte_eth_dev_close(self.id) };
        if ret != 0 {
            tracing::warn!(err = %DpdkError::call("rte_eth_dev_close", &self.name, -ret), "closing port");
        }
        LIVE.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One RX queue of a port, owned by one worker.
#[derive(Debug)]
pub struct DpdkRx {
    port: u16,
    queue: u16,
}

/// One TX queue of a port, owned by one worker.
#[derive(Debug)]
pub struct DpdkTx {
    port: u16,
    queue: u16,
}

impl DpdkRx {
    pub fn port_id(&self) -> u16 {
        self.port
    }
    pub fn queue_id(&self) -> u16 {
        self.queue
    }
}

impl DpdkTx {
    pub fn port_id(&self) -> u16 {
        self.port
    }
    pub fn queue_id(&self) -> u16 {
        self.queue
    }
}

impl RxQueue for DpdkRx {
    type Pkt = Mbuf;

    fn rx_burst(&mut self, out: &mut Burst<Mbuf>, max: usize) -> usize {
        let room = out.remaining_capacity().min(max);
        if room == 0 {
            return 0;
        }
        let mut raw = [std::ptr::null_mut::<ffi::rte_mbuf>(); BURST_SIZE];
        // room <= BURST_SIZE (32), so it fits in u16 and in raw.
        // SAFETY: this queue is set up and owned only by self; raw has room for `room` pointers.
        let n = unsafe {
            ffi::vxgate_eth_rx_burst(self.port, self.queue, raw.as_mut_ptr(), room as u16)
        };
        let n = usize::from(n).min(room);
        for p in raw.iter().take(n) {
            let Some(p) = std::ptr::NonNull::new(*p) else {
                continue;
            };
            // SAFETY: rx_burst returned ownership of n valid mbufs from the port's mempool,
            // which the port keeps alive.
            let m = unsafe { Mbuf::from_raw(p) };
            // Cannot fail (n <= room); if it did, the mbuf would be freed, not leaked.
            let _ = out.try_push(m);
        }
        n
    }
}

impl TxQueue for DpdkTx {
    type Pkt = Mbuf;

    fn tx_burst(&mut self, pkts: &mut Burst<Mbuf>) -> usize {
        let n = pkts.len();
        if n == 0 {
            return 0;
        }
        let mut raw = [std::ptr::null_mut::<ffi::rte_mbuf>(); BURST_SIZE];
        for (slot, p) in raw.iter_mut().zip(pkts.drain(..)) {
            *slot = p.into_raw().as_ptr();
        }
        // SAFETY: this queue is set up and owned only by self; raw holds n owned mbufs whose
        // ownership passes to the driver for the first `sent` of them.
        let sent =
            unsafe { ffi::vxgate_eth_tx_burst(self.port, self.queue, raw.as_mut_ptr(), n as u16) };
        let sent = usize::from(sent).min(n);
        for p in raw.iter().take(n).skip(sent) {
            let Some(p) = std::ptr::NonNull::new(*p) else {
                continue;
            };
            // SAFETY: the driver did not take these; ownership comes back to us.
            let m = unsafe { Mbuf::from_raw(p) };
            let _ = pkts.try_push(m);
        }
        sent
    }
}

impl From<PortStats> for crate::metrics::telemetry::DeviceStats {
    fn from(s: PortStats) -> Self {
        crate::metrics::telemetry::DeviceStats {
            ipackets: s.ipackets,
            opackets: s.opackets,
            ibytes: s.ibytes,
            obytes: s.obytes,
            imissed: s.imissed,
            ierrors: s.ierrors,
            oerrors: s.oerrors,
            rx_nombuf: s.rx_nombuf,
            link_up: s.link_up,
            speed_mbps: s.speed_mbps,
            full_duplex: s.full_duplex,
        }
    }
}

/// The counters of port `id` without holding its `Port` (for the metrics thread, which must
/// not own ports). All zero when the port id is unknown or the driver cannot report them.
pub fn stats_of(id: u16) -> PortStats {
    let mut s = ffi::rte_eth_stats::default();
    // SAFETY: rte_eth_stats_get validates the port id itself and only writes through the valid
    // out pointer; reading counters concurrently with the data path is supported by DPDK.
    if unsafe { ffi::rte_eth_stats_get(id, &mut s) } != 0 {
        return PortStats::default();
    }
    let (mut speed_mbps, mut full_duplex) = (0u32, 0i32);
    // SAFETY: the shim validates the port id (rte_eth_link_get_nowait) and writes only through
    // the two valid out pointers; reading the link concurrently with the data path is allowed.
    let up = unsafe { ffi::vxgate_eth_link(id, &mut speed_mbps, &mut full_duplex) } != 0;
    PortStats {
        link_up: up,
        speed_mbps,
        full_duplex: full_duplex != 0,
        ipackets: s.ipackets,
        opackets: s.opackets,
        ibytes: s.ibytes,
        obytes: s.obytes,
        imissed: s.imissed,
        ierrors: s.ierrors,
        oerrors: s.oerrors,
        rx_nombuf: s.rx_nombuf,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_asks_for_ipv4_and_udp_fields() {
        assert_ne!(RSS_HF & u64::from(ffi::VXGATE_ETH_RSS_NONFRAG_IPV4_UDP), 0);
        assert_ne!(RSS_HF & u64::from(ffi::VXGATE_ETH_RSS_IPV4), 0);
    }

    #[test]
    fn options_default_to_nothing_special() {
        let o = PortOptions::default();
        assert!(o.mtu.is_none() && !o.rss && !o.promiscuous && !o.ipv4_cksum_offload);
    }
}
