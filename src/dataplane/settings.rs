//! The read-only settings a worker's pipeline needs, derived once from the configuration.
//!
//! Lookups on the fast path are array indexing (VLAN → VNI, 4096 slots) or a binary search over
//! a handful of VNIs; nothing here changes while workers run.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::types::{MacAddr, VlanId, Vni};

/// Bytes VXLAN adds in front of the inner frame: outer Ethernet, IPv4, UDP, VXLAN.
pub const OUTER_LEN: usize = 14 + 20 + 8 + 8;
/// What VXLAN adds to the outer IPv4 packet beyond the inner frame: IPv4 + UDP + VXLAN.
pub const OUTER_IP_OVERHEAD: usize = 20 + 8 + 8;
/// Bytes VXLAN over IPv6 adds in front of the inner frame: outer Ethernet, IPv6, UDP, VXLAN.
pub const OUTER6_LEN: usize = 14 + 40 + 8 + 8;
/// What VXLAN adds to the outer IPv6 packet beyond the inner frame: IPv6 + UDP + VXLAN.
pub const OUTER6_IP_OVERHEAD: usize = 40 + 8 + 8;

/// One VNI as the pipeline sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VniSettings {
    pub vni: Vni,
    /// The access-side VLAN; `None` for the untagged VNI.
    pub vlan: Option<VlanId>,
    /// Whether decapsulated frames teach the FDB their source MAC.
    pub learning: bool,
    /// Whether access-side source MACs are reported as local (a fleet publishes them; ARP
    /// suppression answers from them). Costs one replica probe per frame when on.
    pub local_learning: bool,
    /// Answer access-side ARP requests for known overlay hosts instead of flooding them.
    pub arp_suppress: bool,
}

/// Index into [`PipelineSettings::vnis`]; `u16::MAX` means "not mapped".
const NONE: u16 = u16::MAX;

/// Everything the encap/decap pipeline reads.
#[derive(Debug, Clone)]
pub struct PipelineSettings {
    pub vtep_ip: Ipv4Addr,
    pub vtep_mac: MacAddr,
    pub udp_port: u16,
    pub src_port_min: u16,
    pub src_port_max: u16,
    pub ttl: u8,
    pub dont_fragment: bool,
    pub underlay_mtu: u16,
    /// The IPv6 underlay address, when the gateway has one.
    pub vtep_ip6: Option<Ipv6Addr>,
    /// Outer IPv6 hop limit.
    pub hop_limit: u8,
    /// Outer TTL towards a multicast group (Linux uses 1 unless a TTL is set).
    pub multicast_ttl: u8,
    /// Send VXLAN over IPv6 with a zero UDP checksum (Linux `udp6zerocsumtx`).
    pub udp6_zero_checksum_tx: bool,
    /// Accept VXLAN over IPv6 with a zero UDP checksum (Linux `udp6zerocsumrx`).
    pub udp6_zero_checksum_rx: bool,
    /// Multicast groups this gateway joined on the underlay (sorted): decap accepts VXLAN
    /// sent to them, and IGMP queries are answered with reports for them.
    pub groups: Vec<Ipv4Addr>,
    /// IGMP version of unsolicited reports and leaves (2 or 3); queries are answered in the
    /// version they came in.
    pub igmp_version: u8,
    /// Report unicast FDB misses to the control thread (the fleet's on-demand mode).
    pub report_misses: bool,
    vnis: Vec<VniSettings>,
    /// VLAN id → index into `vnis`.
    by_vlan: Box<[u16; 4096]>,
    untagged: u16,
    /// (VNI, index) sorted by VNI, for decap.
    by_vni: Vec<(Vni, u16)>,
}

/// Why settings could not be built (the config validation normally catches these first).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("VNI {0} is configured twice")]
    DuplicateVni(Vni),
    #[error("VLAN {0} maps to two VNIs")]
    DuplicateVlan(String),
    #[error("too many VNIs (at most 65534)")]
    TooManyVnis,
    #[error("source port range {0}..{1} is empty")]
    PortRange(u16, u16),
}

impl PipelineSettings {
    /// Settings with defaults for everything but the addresses (tests and benches).
    pub fn new(vtep_ip: Ipv4Addr, vtep_mac: MacAddr) -> PipelineSettings {
        PipelineSettings {
            vtep_ip,
            vtep_mac,
            udp_port: 4789,
            src_port_min: 49152,
            src_port_max: 65535,
            ttl: 64,
            dont_fragment: true,
            underlay_mtu: 1500,
            vtep_ip6: None,
            hop_limit: 64,
            multicast_ttl: 1,
            udp6_zero_checksum_tx: false,
            udp6_zero_checksum_rx: false,
            groups: Vec::new(),
            igmp_version: 3,
            report_misses: false,
            vnis: Vec::new(),
            by_vlan: Box::new([NONE; 4096]),
            untagged: NONE,
            by_vni: Vec::new(),
        }
    }

    /// Adds a VNI; fails on a duplicate VNI or VLAN.
    pub fn add_vni(&mut self, v: VniSettings) -> Result<(), SettingsError> {
        if self.by_vni.iter().any(|(x, _)| *x == v.vni) {
            return Err(SettingsError::DuplicateVni(v.vni));
        }
        let idx = u16::try_from(self.vnis.len())
            .ok()
            .filter(|i| *i < NONE)
            .ok_or(SettingsError::TooManyVnis)?;
        let slot = match v.vlan {
            Some(vlan) => &mut self.by_vlan[usize::from(vlan.get())],
            None => &mut self.untagged,
        };
        if *slot != NONE {
            return Err(SettingsError::DuplicateVlan(
                v.vlan.map_or("untagged".into(), |x| x.to_string()),
            ));
        }
        *slot = idx;
        self.by_vni.push((v.vni, idx));
        self.by_vni.sort_unstable();
        self.vnis.push(v);
        Ok(())
    }

    /// Sets the UDP source-port range (inclusive).
    pub fn set_src_port_range(&mut self, min: u16, max: u16) -> Result<(), SettingsError> {
        if min > max {
            return Err(SettingsError::PortRange(min, max));
        }
        self.src_port_min = min;
        self.src_port_max = max;
        Ok(())
    }

    /// The VNI for an access frame's VLAN (`None` = untagged or priority-tagged).
    #[inline]
    pub fn vni_for_vlan(&self, vlan: Option<u16>) -> Option<&VniSettings> {
        let idx = match vlan {
            Some(id) => *self.by_vlan.get(usize::from(id))?,
            None => self.untagged,
        };
        self.vnis.get(usize::from(idx))
    }

    /// The settings of a VNI received from the underlay.
    #[inline]
    pub fn vni(&self, vni: u32) -> Option<&VniSettings> {
        let i = self
            .by_vni
            .binary_search_by(|(v, _)| v.get().cmp(&vni))
            .ok()?;
        let (_, idx) = self.by_vni.get(i)?;
        self.vnis.get(usize::from(*idx))
    }

    /// Whether `ip` is a multicast group this gateway joined.
    #[inline]
    pub fn joined(&self, ip: Ipv4Addr) -> bool {
        !self.groups.is_empty() && self.groups.binary_search(&ip).is_ok()
    }

    /// Joins `group` (before the workers start).
    pub fn join(&mut self, group: Ipv4Addr) {
        if let Err(i) = self.groups.binary_search(&group) {
            self.groups.insert(i, group);
        }
    }

    pub fn vnis(&self) -> &[VniSettings] {
        &self.vnis
    }

    /// Maps a flow hash into the configured UDP source-port range.
    #[inline]
    pub fn src_port(&self, hash: u32) -> u16 {
        let span = u32::from(self.src_port_max - self.src_port_min) + 1;
        // Multiply-shift instead of modulo: uniform enough and no division on the fast path.
        let off = ((u64::from(hash) * u64::from(span)) >> 32) as u16;
        self.src_port_min.wrapping_add(off)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vni(v: u32, vlan: Option<u16>) -> VniSettings {
        VniSettings {
            vni: Vni::new(v).unwrap(),
            vlan: vlan.and_then(VlanId::new),
            learning: true,
            local_learning: false,
            arp_suppress: false,
        }
    }

    #[test]
    fn maps_vlans_and_vnis() {
        let mut s = PipelineSettings::new(Ipv4Addr::new(192, 0, 2, 1), MacAddr([2, 0, 0, 0, 0, 1]));
        s.add_vni(vni(5000, Some(100))).unwrap();
        s.add_vni(vni(7, None)).unwrap();
        assert_eq!(s.vni_for_vlan(Some(100)).unwrap().vni.get(), 5000);
        assert_eq!(s.vni_for_vlan(None).unwrap().vni.get(), 7);
        assert!(s.vni_for_vlan(Some(101)).is_none());
        assert!(s.vni_for_vlan(Some(9999)).is_none());
        assert_eq!(s.vni(5000).unwrap().vlan.unwrap().get(), 100);
        assert!(s.vni(5001).is_none());
        assert!(s.add_vni(vni(5000, Some(5))).is_err());
        assert!(s.add_vni(vni(5002, Some(100))).is_err());
        assert!(s.add_vni(vni(5003, None)).is_err());
    }

    #[test]
    fn source_ports_stay_in_range() {
        let mut s = PipelineSettings::new(Ipv4Addr::LOCALHOST, MacAddr::ZERO);
        s.set_src_port_range(50000, 50009).unwrap();
        for h in [0u32, 1, u32::MAX, 0x8000_0000, 12345] {
            let p = s.src_port(h);
            assert!((50000..=50009).contains(&p), "{p}");
        }
        assert_eq!(s.src_port(0), 50000);
        assert_eq!(s.src_port(u32::MAX), 50009);
        assert!(s.set_src_port_range(2, 1).is_err());
    }
}
