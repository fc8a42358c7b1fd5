//! Newtypes for the values that must never be mixed up: a 24-bit VNI, a 12-bit VLAN id, a MAC
//! address. Each parses through `FromStr` (so config and CLI share one parser) and checks its
//! range once, at construction; after that every holder can trust it.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

/// Why a textual value did not parse into one of the newtypes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("VNI {0} is outside 1..=16777215")]
    VniRange(u64),
    #[error("VLAN {0} is outside 1..=4094")]
    VlanRange(u64),
    #[error("'{0}' is not a MAC address (expected six hex octets like 02:00:00:00:00:01)")]
    Mac(String),
    #[error("'{0}' is not a number")]
    Number(String),
}

/// An Ethernet MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// Reads a MAC from the first six bytes of `b`; `None` when `b` is shorter.
    pub fn from_slice(b: &[u8]) -> Option<MacAddr> {
        let a: [u8; 6] = b.get(..6)?.try_into().ok()?;
        Some(MacAddr(a))
    }
    pub const fn octets(&self) -> [u8; 6] {
        self.0
    }
    pub fn is_broadcast(&self) -> bool {
        self.0 == [0xff; 6]
    }
    /// Group bit set: broadcast and multicast alike (both are flooded).
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }
    pub fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 6]
    }
    /// The address as the low 48 bits of a u64 (big-endian order), for compact keys and hashing.
    pub fn to_u64(&self) -> u64 {
        let b = self.0;
        u64::from_be_bytes([0, 0, b[0], b[1], b[2], b[3], b[4], b[5]])
    }
    /// The Ethernet address a multicast group is sent to: 01:00:5e + the group's low 23 bits
    /// (RFC 1112 §6.4), or 33:33 + an IPv6 group's low 32 bits (RFC 2464 §7). `None` for a
    /// unicast address.
    pub fn for_multicast_ip(ip: std::net::IpAddr) -> Option<MacAddr> {
        match ip {
            std::net::IpAddr::V4(a) if a.is_multicast() => {
                let o = a.octets();
                Some(MacAddr([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]))
            }
            std::net::IpAddr::V6(a) if a.is_multicast() => {
                let o = a.octets();
                Some(MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]]))
            }
            _ => None,
        }
    }
    pub fn from_u64(v: u64) -> MacAddr {
        let b = v.to_be_bytes();
        MacAddr([b[2], b[3], b[4], b[5], b[6], b[7]])
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for MacAddr {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for o in out.iter_mut() {
            let p = parts.next().ok_or_else(|| ValueError::Mac(s.to_string()))?;
            if p.len() != 2 {
                return Err(ValueError::Mac(s.to_string()));
            }
            *o = u8::from_str_radix(p, 16).map_err(|_| ValueError::Mac(s.to_string()))?;
        }
        if parts.next().is_some() {
            return Err(ValueError::Mac(s.to_string()));
        }
        Ok(MacAddr(out))
    }
}

impl Serialize for MacAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MacAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

/// A VXLAN network identifier: 24 bits, 1..=16777215 (0 is reserved here as "none").
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Vni(u32);

impl Vni {
    pub const MAX: u32 = 0x00ff_ffff;

    /// A checked VNI: `None` for 0 or anything wider than 24 bits.
    pub const fn new(v: u32) -> Option<Vni> {
        if v == 0 || v > Self::MAX {
            None
        } else {
            Some(Vni(v))
        }
    }
    /// The 24-bit value as carried on the wire, without the range check; for values read from a
    /// header (which can never exceed 24 bits) where 0 is reported separately.
    pub const fn from_wire(v: u32) -> Vni {
        Vni(v & Self::MAX)
    }
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for Vni {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
impl fmt::Debug for Vni {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Vni({})", self.0)
    }
}

impl FromStr for Vni {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let v: u64 = s
            .trim()
            .parse()
            .map_err(|_| ValueError::Number(s.to_string()))?;
        u32::try_from(v)
            .ok()
            .and_then(Vni::new)
            .ok_or(ValueError::VniRange(v))
    }
}

impl TryFrom<u64> for Vni {
    type Error = ValueError;
    fn try_from(v: u64) -> Result<Self, Self::Error> {
        u32::try_from(v)
            .ok()
            .and_then(Vni::new)
            .ok_or(ValueError::VniRange(v))
    }
}

impl Serialize for Vni {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.0)
    }
}

impl<'de> Deserialize<'de> for Vni {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = i64::deserialize(d)?;
        Vni::try_from(u64::try_from(v).unwrap_or(u64::MAX)).map_err(de::Error::custom)
    }
}

/// An 802.1Q VLAN id, 1..=4094 (0 means priority-tagged, 4095 is reserved).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct VlanId(u16);

impl VlanId {
    pub const fn new(v: u16) -> Option<VlanId> {
        if v == 0 || v > 4094 {
            None
        } else {
            Some(VlanId(v))
        }
    }
    pub const fn get(self) -> u16 {
        self.0
    }
}

impl fmt::Display for VlanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl TryFrom<u64> for VlanId {
    type Error = ValueError;
    fn try_from(v: u64) -> Result<Self, Self::Error> {
        u16::try_from(v)
            .ok()
            .and_then(VlanId::new)
            .ok_or(ValueError::VlanRange(v))
    }
}

impl Serialize for VlanId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u16(self.0)
    }
}

impl<'de> Deserialize<'de> for VlanId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = i64::deserialize(d)?;
        VlanId::try_from(u64::try_from(v).unwrap_or(u64::MAX)).map_err(de::Error::custom)
    }
}

/// A remote VTEP (or multicast group) as the data plane names it: an index into the gateway's
/// tunnel table. FDB entries and flood lists hold this, not an address, so an entry stays 4
/// bytes whatever the underlay's address family, and a next-hop change touches one row.
/// [`TunnelId::LOCAL`] (0) is no tunnel: the MAC is behind this gateway's own access side.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
pub struct TunnelId(pub u32);

impl TunnelId {
    /// Not a tunnel: the entry's MAC is behind this gateway's access side.
    pub const LOCAL: TunnelId = TunnelId(0);
    /// Rows of the tunnel table (row 0, [`TunnelId::LOCAL`], is never a tunnel).
    pub const CAPACITY: usize = 4096;

    pub const fn index(self) -> usize {
        self.0 as usize
    }
    pub const fn is_local(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for TunnelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Index of a worker (0-based), also the index of the queue pair it owns on each port.
pub type WorkerId = usize;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_round_trip() {
        let m: MacAddr = "02:00:00:0a:Bc:ff".parse().unwrap();
        assert_eq!(m.0, [2, 0, 0, 0x0a, 0xbc, 0xff]);
        assert_eq!(m.to_string(), "02:00:00:0a:bc:ff");
        assert_eq!(MacAddr::from_u64(m.to_u64()), m);
        assert!("02:00:00:00:00".parse::<MacAddr>().is_err());
        assert!("02:00:00:00:00:00:00".parse::<MacAddr>().is_err());
        assert!("0g:00:00:00:00:00".parse::<MacAddr>().is_err());
        assert!(MacAddr::BROADCAST.is_multicast() && MacAddr::BROADCAST.is_broadcast());
    }

    #[test]
    fn multicast_group_macs() {
        let g4: std::net::IpAddr = "239.129.1.2".parse().unwrap();
        assert_eq!(
            MacAddr::for_multicast_ip(g4),
            Some(MacAddr([0x01, 0x00, 0x5e, 0x01, 0x01, 0x02]))
        );
        let g6: std::net::IpAddr = "ff05::1:3".parse().unwrap();
        assert_eq!(
            MacAddr::for_multicast_ip(g6),
            Some(MacAddr([0x33, 0x33, 0, 0x01, 0, 0x03]))
        );
        assert_eq!(
            MacAddr::for_multicast_ip("192.0.2.1".parse().unwrap()),
            None
        );
    }

    #[test]
    fn vni_and_vlan_ranges() {
        assert!(Vni::new(0).is_none());
        assert!(Vni::new(16_777_215).is_some());
        assert!(Vni::new(16_777_216).is_none());
        assert!("5000".parse::<Vni>().is_ok());
        assert!(VlanId::new(0).is_none() && VlanId::new(4095).is_none());
        assert_eq!(VlanId::new(4094).map(VlanId::get), Some(4094));
    }
}
