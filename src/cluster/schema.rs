//! The fleet's key schema in etcd, so other tools (an orchestrator, a script) can read or
//! pre-provision it. Every value is JSON.
//!
//! ```text
//! <prefix>/vteps/<member>        {"name":"gw-a","ip":"192.0.2.1","mac":"02:00:00:00:00:01",
//!                                 "vnis":[42],"version":"0.1.0"}        under the member's lease
//! <prefix>/macs/<vni>/<mac>      {"vtep":"192.0.2.1","member":"gw-a","ips":["10.0.0.1"]}
//!                                 under the lease of the member the MAC sits behind
//! ```
//! - `<vni>` is decimal, `<mac>` lower-case `aa:bb:cc:dd:ee:ff`. One key per MAC: a host that
//!   moves is re-put by its new gateway (last writer wins, as EVPN's MAC mobility resolves to
//!   the latest sighting), so the key moves to the new gateway's lease.
//! - A gateway deletes a MAC key only inside a transaction that checks the key is still under
//!   its own lease: it never deletes another gateway's keys.
//! - Keys are parsed strictly; a key or value that does not parse is skipped and counted, never
//!   trusted (another writer may share the prefix).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::fdb::source::{Member, RemoteEntry};
use crate::fdb::FdbKey;
use crate::types::{MacAddr, Vni};

/// The value of a `vteps/<member>` key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VtepValue {
    pub name: String,
    pub ip: IpAddr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    pub vnis: Vec<u32>,
    #[serde(default)]
    pub version: String,
}

/// The value of a `macs/<vni>/<mac>` key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MacValue {
    pub vtep: IpAddr,
    pub member: String,
    #[serde(default)]
    pub ips: Vec<Ipv4Addr>,
}

/// What a key under the prefix names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyName {
    Vtep(String),
    Mac(FdbKey),
}

/// The key layout under one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    prefix: String,
}

impl Schema {
    pub fn new(prefix: &str) -> Schema {
        Schema {
            prefix: prefix.trim_end_matches('/').to_string(),
        }
    }

    /// Everything the fleet writes.
    pub fn root(&self) -> String {
        format!("{}/", self.prefix)
    }
    pub fn vteps(&self) -> String {
        format!("{}/vteps/", self.prefix)
    }
    pub fn macs(&self) -> String {
        format!("{}/macs/", self.prefix)
    }
    pub fn vtep_key(&self, member: &str) -> String {
        format!("{}/vteps/{member}", self.prefix)
    }
    pub fn mac_key(&self, key: &FdbKey) -> String {
        format!("{}/macs/{}/{}", self.prefix, key.vni.get(), key.mac)
    }

    /// Parses a key under the prefix; `None` for anything else.
    pub fn parse_key(&self, key: &[u8]) -> Option<KeyName> {
        let key = std::str::from_utf8(key).ok()?;
        let rest = key.strip_prefix(&self.prefix)?.strip_prefix('/')?;
        if let Some(name) = rest.strip_prefix("vteps/") {
            if name.is_empty() || name.contains('/') {
                return None;
            }
            return Some(KeyName::Vtep(name.to_string()));
        }
        let rest = rest.strip_prefix("macs/")?;
        let (vni, mac) = rest.split_once('/')?;
        // Decimal without leading zeros: one spelling per VNI.
        if vni.is_empty()
            || !vni.bytes().all(|b| b.is_ascii_digit())
            || vni.len() > 8
            || vni.starts_with('0')
        {
            return None;
        }
        let vni = Vni::new(vni.parse().ok()?)?;
        if mac.len() != 17 {
            return None;
        }
        let parsed: MacAddr = mac.parse().ok()?;
        // One spelling per MAC, or two keys would name one entry.
        if parsed.to_string() != mac {
            return None;
        }
        let mac = parsed;
        if mac.is_multicast() || mac.is_zero() {
            return None;
        }
        Some(KeyName::Mac(FdbKey::new(vni, mac)))
    }
}

/// Whether `ip` can be a VTEP: a unicast address of either family.
fn is_vtep(ip: IpAddr) -> bool {
    let broadcast = matches!(ip, IpAddr::V4(a) if a.is_broadcast());
    !(ip.is_unspecified() || ip.is_multicast() || broadcast)
}

/// A member from its registration value (the key's name must match the value's).
pub fn parse_member(name: &str, value: &[u8]) -> Option<Member> {
    let v: VtepValue = serde_json::from_slice(value).ok()?;
    if v.name != name || !is_vtep(v.ip) {
        return None;
    }
    let mac = match &v.mac {
        Some(m) => Some(m.parse::<MacAddr>().ok()?),
        None => None,
    };
    let vnis = v.vnis.iter().filter_map(|n| Vni::new(*n)).collect();
    Some(Member {
        name: Arc::from(v.name.as_str()),
        vtep: v.ip,
        mac,
        vnis,
        version: v.version,
    })
}

/// A remote entry from a MAC key's value.
pub fn parse_mac(key: FdbKey, value: &[u8]) -> Option<RemoteEntry> {
    let v: MacValue = serde_json::from_slice(value).ok()?;
    if !is_vtep(v.vtep) {
        return None;
    }
    if v.member.is_empty() {
        return None;
    }
    let mut ips = v.ips;
    ips.truncate(crate::fdb::control::MAX_IPS_PER_MAC);
    Some(RemoteEntry {
        key,
        vtep: v.vtep,
        origin: Arc::from(v.member.as_str()),
        ips,
    })
}

/// The JSON of a MAC key's value.
pub fn mac_value(vtep: IpAddr, member: &str, ips: &[Ipv4Addr]) -> String {
    serde_json::to_string(&MacValue {
        vtep,
        member: member.to_string(),
        ips: ips.to_vec(),
    })
    .unwrap_or_default()
}

/// The JSON of a registration value.
pub fn vtep_value(name: &str, ip: IpAddr, mac: Option<MacAddr>, vnis: &[Vni]) -> String {
    serde_json::to_string(&VtepValue {
        name: name.to_string(),
        ip,
        mac: mac.map(|m| m.to_string()),
        vnis: vnis.iter().map(|v| v.get()).collect(),
        version: env!("CARGO_PKG_VERSION").to_string(),
    })
    .unwrap_or_default()
}

/// The end of the key range that starts with `prefix` (etcd's "prefix end": the last byte
/// incremented).
pub fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn schema() -> Schema {
        Schema::new("/vxgate")
    }

    #[test]
    fn keys_round_trip() {
        let s = schema();
        let k = FdbKey::new(Vni::new(42).unwrap(), "02:00:00:00:00:0a".parse().unwrap());
        assert_eq!(s.mac_key(&k), "/vxgate/macs/42/02:00:00:00:00:0a");
        assert_eq!(s.parse_key(s.mac_key(&k).as_bytes()), Some(KeyName::Mac(k)));
        assert_eq!(
            s.parse_key(b"/vxgate/vteps/gw-a"),
            Some(KeyName::Vtep("gw-a".into()))
        );
        assert_eq!(s.vtep_key("gw-a"), "/vxgate/vteps/gw-a");
        assert_eq!(prefix_end("/vxgate/"), b"/vxgate0".to_vec());
    }

    #[test]
    fn foreign_and_malformed_keys_are_not_ours() {
        let s = schema();
        for bad in [
            &b"/other/macs/42/02:00:00:00:00:0a"[..],
            b"/vxgatex/vteps/a",
            b"/vxgate/vteps/",
            b"/vxgate/vteps/a/b",
            b"/vxgate/macs/0/02:00:00:00:00:0a",
            b"/vxgate/macs/16777216/02:00:00:00:00:0a",
            b"/vxgate/macs/+42/02:00:00:00:00:0a",
            b"/vxgate/macs/042/02:00:00:00:00:0a",
            b"/vxgate/macs/42/ff:ff:ff:ff:ff:ff",
            b"/vxgate/macs/42/00:00:00:00:00:00",
            b"/vxgate/macs/42/2:0:0:0:0:a",
            b"/vxgate/macs/42/02:00:00:00:00:0A",
            b"/vxgate/macs/42/02-00-00-00-00-0a",
            b"/vxgate/macs/42",
            b"/vxgate/\xff",
        ] {
            assert_eq!(s.parse_key(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn values_round_trip_and_bad_ones_are_refused() {
        let vni = Vni::new(7).unwrap();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let v = vtep_value("gw-a", a, None, &[vni]);
        let m = parse_member("gw-a", v.as_bytes()).unwrap();
        assert_eq!((m.vtep, m.vnis.as_slice()), (a, &[vni][..]));
        // An IPv6 VTEP registers the same way.
        let a6: IpAddr = "fd00::1".parse().unwrap();
        let v6 = vtep_value("gw-6", a6, None, &[vni]);
        assert!(v6.contains(r#""ip":"fd00::1""#), "{v6}");
        assert_eq!(
            parse_member("gw-6", v6.as_bytes()).map(|m| m.vtep),
            Some(a6)
        );
        assert_eq!(
            parse_member("gw-b", v.as_bytes()),
            None,
            "name must match the key"
        );
        let k = FdbKey::new(vni, MacAddr::from_u64(5));
        let ips = [Ipv4Addr::new(10, 0, 0, 1)];
        let b: IpAddr = "192.0.2.9".parse().unwrap();
        let e = parse_mac(k, mac_value(b, "gw-b", &ips).as_bytes()).unwrap();
        assert_eq!(
            (e.vtep, &*e.origin, e.ips.as_slice()),
            (b, "gw-b", &ips[..])
        );
        let b6: IpAddr = "fd00::9".parse().unwrap();
        let e6 = parse_mac(k, mac_value(b6, "gw-b", &[]).as_bytes()).unwrap();
        assert_eq!(e6.vtep, b6);
        assert_eq!(parse_mac(k, br#"{"vtep":"ff02::1","member":"x"}"#), None);
        assert_eq!(parse_mac(k, br#"{"vtep":"::","member":"x"}"#), None);
        assert_eq!(parse_mac(k, b"{}"), None);
        assert_eq!(parse_mac(k, br#"{"vtep":"0.0.0.0","member":"x"}"#), None);
        assert_eq!(parse_mac(k, br#"{"vtep":"192.0.2.1","member":""}"#), None);
        assert_eq!(
            parse_member("a", br#"{"name":"a","ip":"224.0.0.1","vnis":[]}"#),
            None
        );
    }

    proptest! {
        #[test]
        fn arbitrary_keys_and_values_never_panic(key in proptest::collection::vec(any::<u8>(), 0..64),
                                                 value in proptest::collection::vec(any::<u8>(), 0..128)) {
            let s = schema();
            let mut k = b"/vxgate/".to_vec();
            k.extend_from_slice(&key);
            let _ = s.parse_key(&k);
            let _ = parse_member("a", &value);
            let _ = parse_mac(FdbKey::new(Vni::new(1).unwrap(), MacAddr::from_u64(1)), &value);
        }

        #[test]
        fn every_mac_key_parses_back(vni in 1u32..=16_777_215, mac in 0u64..(1 << 48)) {
            let s = schema();
            let m = MacAddr::from_u64(mac & !(1u64 << 40)); // unicast
            prop_assume!(!m.is_zero());
            let k = FdbKey::new(Vni::new(vni).unwrap(), m);
            prop_assert_eq!(s.parse_key(s.mac_key(&k).as_bytes()), Some(KeyName::Mac(k)));
        }
    }
}
