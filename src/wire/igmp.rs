//! IGMP (RFC 2236 version 2, RFC 3376 version 3): the queries a gateway answers and the
//! membership reports and leaves it sends for the multicast groups its VNIs flood to.
//!
//! The view covers the IGMP message (the IPv4 payload). A version 2 query is 8 bytes, a
//! version 3 query at least 12 (RFC 3376 §7.1 tells them apart by length).

use std::net::Ipv4Addr;

use super::{check_min_len, checksum, get_4, Field, WireError};

mod field {
    use super::Field;
    pub const TYPE: usize = 0;
    pub const MAX_RESP: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    pub const GROUP: usize = 4;
}

/// Length of an IGMPv2 message (and of the common part of every IGMP message).
pub const HEADER_LEN: usize = 8;
/// Shortest IGMPv3 query.
pub const V3_QUERY_LEN: usize = 12;

pub const MEMBERSHIP_QUERY: u8 = 0x11;
pub const V2_MEMBERSHIP_REPORT: u8 = 0x16;
pub const V2_LEAVE_GROUP: u8 = 0x17;
pub const V3_MEMBERSHIP_REPORT: u8 = 0x22;
/// IGMPv3 group record types (RFC 3376 §4.2.12): state reports and changes.
pub const MODE_IS_EXCLUDE: u8 = 2;
pub const CHANGE_TO_INCLUDE: u8 = 3;
pub const CHANGE_TO_EXCLUDE: u8 = 4;

/// All systems on this subnet (general queries), all routers (v2 leaves), IGMPv3 routers.
pub const ALL_SYSTEMS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 1);
pub const ALL_ROUTERS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 2);
pub const V3_ROUTERS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 22);

wire_view! {
    /// A view of an IGMP message.
    ///
    /// ```text
    ///  0                   1                   2                   3
    ///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// |     Type      | Max Resp Time |           Checksum            |
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// |                         Group Address                         |
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// |  v3 query: Resv|S|QRV, QQIC, Number of Sources, Sources ...
    /// ```
    pub struct Packet;
    /// Wraps `buffer` without checking it.
    fn new_unchecked;
    /// Wraps `buffer` after checking it holds the 8-byte message (`Truncated` otherwise).
    fn new_checked;
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// `Truncated` when the buffer is shorter than [`HEADER_LEN`].
    pub fn check_len(&self) -> Result<(), WireError> {
        check_min_len(self.buffer.as_ref(), HEADER_LEN)
    }
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }
    pub fn max_resp(&self) -> u8 {
        self.buffer.as_ref()[field::MAX_RESP]
    }
    pub fn group(&self) -> Ipv4Addr {
        Ipv4Addr::from(get_4(self.buffer.as_ref(), field::GROUP))
    }
    /// Whether the checksum over the whole message verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::data(self.buffer.as_ref()) == 0xffff
    }
    /// The query's version: 3 for a query of 12 bytes or more, 2 for an 8-byte one with a
    /// response time, 1 for an 8-byte one without (RFC 3376 §7.1). `None` for anything else.
    pub fn query_version(&self) -> Option<u8> {
        if self.msg_type() != MEMBERSHIP_QUERY {
            return None;
        }
        match self.buffer.as_ref().len() {
            HEADER_LEN if self.max_resp() == 0 => Some(1),
            HEADER_LEN => Some(2),
            n if n >= V3_QUERY_LEN => Some(3),
            _ => None,
        }
    }
}

/// Writes an IGMPv2 report or leave (`kind`) for `group` into `buf`. Returns 8, or `None`
/// when `buf` is shorter.
pub fn emit_v2(buf: &mut [u8], kind: u8, group: Ipv4Addr) -> Option<usize> {
    let b = buf.get_mut(..HEADER_LEN)?;
    b.fill(0);
    b[field::TYPE] = kind;
    b[field::GROUP..field::GROUP + 4].copy_from_slice(&group.octets());
    let ck = !checksum::data(b);
    b[field::CHECKSUM].copy_from_slice(&ck.to_be_bytes());
    Some(HEADER_LEN)
}

/// Writes an IGMPv3 membership report with one record of `record_type` and no sources per
/// group (EXCLUDE {} = join, INCLUDE {} = leave) into `buf`. Returns its length (8 + 8 per
/// group), or `None` when `buf` is shorter or there are more than 65535 groups.
pub fn emit_v3_report(buf: &mut [u8], record_type: u8, groups: &[Ipv4Addr]) -> Option<usize> {
    let n = u16::try_from(groups.len()).ok()?;
    let len = HEADER_LEN + 8 * groups.len();
    let b = buf.get_mut(..len)?;
    b.fill(0);
    b[field::TYPE] = V3_MEMBERSHIP_REPORT;
    b[6..8].copy_from_slice(&n.to_be_bytes());
    for (rec, g) in b[HEADER_LEN..].chunks_exact_mut(8).zip(groups) {
        rec[0] = record_type;
        rec[4..8].copy_from_slice(&g.octets());
    }
    let ck = !checksum::data(b);
    b[field::CHECKSUM].copy_from_slice(&ck.to_be_bytes());
    Some(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: Ipv4Addr = Ipv4Addr::new(239, 1, 1, 1);

    #[test]
    fn v2_report_bytes() {
        let mut b = [0u8; 8];
        assert_eq!(emit_v2(&mut b, V2_MEMBERSHIP_REPORT, G), Some(8));
        assert_eq!(b, [0x16, 0, 0xf9, 0xfc, 239, 1, 1, 1]);
        assert!(Packet::new_checked(&b[..]).unwrap().verify_checksum());
        assert!(emit_v2(&mut [0u8; 7], V2_LEAVE_GROUP, G).is_none());
    }

    #[test]
    fn v3_report_records_every_group() {
        let mut b = [0u8; 64];
        let groups = [G, Ipv4Addr::new(239, 2, 2, 2)];
        let n = emit_v3_report(&mut b, CHANGE_TO_EXCLUDE, &groups).unwrap();
        assert_eq!(n, 24);
        assert_eq!(&b[..8], &[0x22, 0, b[2], b[3], 0, 0, 0, 2]);
        assert_eq!(&b[8..16], &[4, 0, 0, 0, 239, 1, 1, 1]);
        assert_eq!(&b[16..24], &[4, 0, 0, 0, 239, 2, 2, 2]);
        assert!(Packet::new_checked(&b[..n]).unwrap().verify_checksum());
        assert!(emit_v3_report(&mut [0u8; 15], MODE_IS_EXCLUDE, &groups).is_none());
    }

    #[test]
    fn query_versions_by_length() {
        let mut q = [0x11, 100, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            Packet::new_checked(&q[..8]).unwrap().query_version(),
            Some(2)
        );
        assert_eq!(
            Packet::new_checked(&q[..]).unwrap().query_version(),
            Some(3)
        );
        assert_eq!(Packet::new_checked(&q[..10]).unwrap().query_version(), None);
        q[1] = 0;
        assert_eq!(
            Packet::new_checked(&q[..8]).unwrap().query_version(),
            Some(1)
        );
        q[0] = 0x16;
        assert_eq!(Packet::new_checked(&q[..8]).unwrap().query_version(), None);
        assert!(Packet::new_checked(&q[..7]).is_err());
    }
}
