//! Ethernet II frames (IEEE 802.3 with an EtherType), without the FCS (NICs strip it).
//!
//! The view checks only that the 14-byte header is present; the payload is whatever follows.

use super::{bytes, check_min_len, get_6, get_u16, put_u16, tail, tail_mut, Field, WireError};
use crate::types::MacAddr;

mod field {
    use super::Field;
    pub const DESTINATION: Field = 0..6;
    pub const SOURCE: Field = 6..12;
    pub const ETHERTYPE: Field = 12..14;
    pub const PAYLOAD: usize = 14;
}

/// Length of the Ethernet II header.
pub const HEADER_LEN: usize = field::PAYLOAD;

/// The EtherType field. Values the gateway does not handle stay values (`Unknown`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EtherType {
    /// 0x0800
    Ipv4,
    /// 0x0806
    Arp,
    /// 0x8100 (IEEE 802.1Q tag follows)
    Vlan,
    /// 0x86DD
    Ipv6,
    /// Anything else, including 802.3 length values (< 0x0600).
    Unknown(u16),
}

impl From<u16> for EtherType {
    fn from(v: u16) -> Self {
        match v {
            0x0800 => EtherType::Ipv4,
            0x0806 => EtherType::Arp,
            0x8100 => EtherType::Vlan,
            0x86dd => EtherType::Ipv6,
            other => EtherType::Unknown(other),
        }
    }
}

impl From<EtherType> for u16 {
    fn from(v: EtherType) -> u16 {
        match v {
            EtherType::Ipv4 => 0x0800,
            EtherType::Arp => 0x0806,
            EtherType::Vlan => 0x8100,
            EtherType::Ipv6 => 0x86dd,
            EtherType::Unknown(other) => other,
        }
    }
}

wire_view! {
    /// A view of an Ethernet II frame.
    ///
    /// ```text
    ///  0                   1                   2                   3
    ///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// |                  Destination MAC address                      |
    /// +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// |                               |                               |
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
    /// |                    Source MAC address                         |
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// |          EtherType            |  Payload ...                  |
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// ```
    pub struct Frame;
    /// Wraps `buffer` without checking its length; accessors may panic on a short buffer.
    fn new_unchecked;
    /// Wraps `buffer` after checking it holds a full header (`Truncated` otherwise).
    fn new_checked;
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// `Truncated` when the buffer is shorter than [`HEADER_LEN`].
    pub fn check_len(&self) -> Result<(), WireError> {
        check_min_len(self.buffer.as_ref(), HEADER_LEN)
    }

    /// The header length (always [`HEADER_LEN`]).
    pub const fn header_len() -> usize {
        HEADER_LEN
    }

    #[inline]
    pub fn dst_addr(&self) -> MacAddr {
        MacAddr(get_6(self.buffer.as_ref(), field::DESTINATION.start))
    }

    #[inline]
    pub fn src_addr(&self) -> MacAddr {
        MacAddr(get_6(self.buffer.as_ref(), field::SOURCE.start))
    }

    #[inline]
    pub fn ethertype(&self) -> EtherType {
        EtherType::from(get_u16(self.buffer.as_ref(), field::ETHERTYPE.start))
    }

    /// Everything after the header.
    pub fn payload(&self) -> &[u8] {
        tail(self.buffer.as_ref(), field::PAYLOAD)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    pub fn set_dst_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::DESTINATION].copy_from_slice(&addr.0);
    }

    pub fn set_src_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::SOURCE].copy_from_slice(&addr.0);
    }

    pub fn set_ethertype(&mut self, ethertype: EtherType) {
        put_u16(
            self.buffer.as_mut(),
            field::ETHERTYPE.start,
            u16::from(ethertype),
        );
    }

    /// Everything after the header, mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        tail_mut(self.buffer.as_mut(), field::PAYLOAD)
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Frame<&'a T> {
    /// The payload borrowed for the buffer's lifetime `'a` rather than the view's, so a parser
    /// can drop this view and keep walking the next layer (`payload()` borrows the view).
    pub fn into_payload(self) -> &'a [u8] {
        tail(bytes(self.buffer), field::PAYLOAD)
    }
}

/// Writes an Ethernet header into the first 14 bytes of `buf`. Returns `false` and writes
/// nothing when `buf` is shorter than [`HEADER_LEN`].
pub fn emit_header(buf: &mut [u8], dst: MacAddr, src: MacAddr, ethertype: EtherType) -> bool {
    let Some(hdr) = buf.get_mut(..HEADER_LEN) else {
        return false;
    };
    let mut f = Frame::new_unchecked(hdr);
    f.set_dst_addr(dst);
    f.set_src_addr(src);
    f.set_ethertype(ethertype);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    // A broadcast ARP frame header as captured: ff:ff:ff:ff:ff:ff <- 52:54:00:12:34:56, 0x0806.
    const FRAME: [u8; 18] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x06, 0xaa,
        0xbb, 0xcc, 0xdd,
    ];

    #[test]
    fn parse_fixture() {
        let f = Frame::new_checked(&FRAME[..]).unwrap();
        assert_eq!(f.dst_addr(), MacAddr::BROADCAST);
        assert_eq!(f.src_addr(), MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]));
        assert_eq!(f.ethertype(), EtherType::Arp);
        assert_eq!(f.payload(), &[0xaa, 0xbb, 0xcc, 0xdd]);
    }

    #[test]
    fn emit_matches_fixture() {
        let mut buf = [0u8; 18];
        assert!(emit_header(
            &mut buf,
            MacAddr::BROADCAST,
            MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]),
            EtherType::Arp
        ));
        buf[14..].copy_from_slice(&[0xaa, 0xbb, 0xcc, 0xdd]);
        assert_eq!(buf, FRAME);
    }

    #[test]
    fn short_buffers() {
        assert_eq!(
            Frame::new_checked(&FRAME[..13]).unwrap_err(),
            WireError::Truncated
        );
        let f = Frame::new_checked(&FRAME[..14]).unwrap();
        assert!(f.payload().is_empty());
        let mut short = [0u8; 13];
        assert!(!emit_header(
            &mut short,
            MacAddr::ZERO,
            MacAddr::ZERO,
            EtherType::Ipv4
        ));
        assert_eq!(short, [0u8; 13]);
    }

    #[test]
    fn ethertype_values() {
        for v in [0x0800u16, 0x0806, 0x8100, 0x86dd, 0x88cc, 0x0000, 0xffff] {
            assert_eq!(u16::from(EtherType::from(v)), v);
        }
        assert_eq!(EtherType::from(0x88cc), EtherType::Unknown(0x88cc));
        assert_eq!(EtherType::from(0x86dd), EtherType::Ipv6);
    }

    #[test]
    fn setters() {
        let mut buf = [0u8; 20];
        let mut f = Frame::new_checked(&mut buf[..]).unwrap();
        f.set_dst_addr(MacAddr([1, 2, 3, 4, 5, 6]));
        f.set_src_addr(MacAddr([7, 8, 9, 10, 11, 12]));
        f.set_ethertype(EtherType::Vlan);
        f.payload_mut()[0] = 0x42;
        assert_eq!(f.dst_addr(), MacAddr([1, 2, 3, 4, 5, 6]));
        assert_eq!(f.src_addr(), MacAddr([7, 8, 9, 10, 11, 12]));
        assert_eq!(f.ethertype(), EtherType::Vlan);
        assert_eq!(buf[14], 0x42);
    }
}
