//! VXLAN headers (RFC 7348).
//!
//! Receive side: only the I flag and the VNI are read; the reserved bits are ignored, as the
//! RFC requires. Transmit side: [`emit_header`] writes the I flag and zeroes every reserved bit.

use super::{bytes, check_min_len, tail, tail_mut, Field, WireError};
use crate::types::Vni;

mod field {
    use super::Field;
    pub const FLAGS: usize = 0;
    pub const RESERVED0: Field = 1..4;
    pub const VNI: Field = 4..7;
    pub const RESERVED1: usize = 7;
    pub const PAYLOAD: usize = 8;
}

/// Length of the VXLAN header.
pub const HEADER_LEN: usize = field::PAYLOAD;

/// The I flag: the VNI is valid.
pub const FLAG_I: u8 = 0x08;

/// The IANA-assigned VXLAN UDP destination port.
pub const UDP_PORT: u16 = 4789;

wire_view! {
    /// A view of a VXLAN header and the inner Ethernet frame after it.
    ///
    /// ```text
    ///  0                   1                   2                   3
    ///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// |R|R|R|R|I|R|R|R|            Reserved                           |
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// |                VXLAN Network Identifier (VNI) |   Reserved    |
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// |  Inner Ethernet frame ...
    /// ```
    pub struct Packet;
    /// Wraps `buffer` without checking it.
    fn new_unchecked;
    /// Wraps `buffer` after checking it holds the 8-byte header (`Truncated` otherwise).
    /// Flags are not checked here: the pipeline decides what a missing I flag means.
    fn new_checked;
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// `Truncated` when the buffer is shorter than [`HEADER_LEN`].
    pub fn check_len(&self) -> Result<(), WireError> {
        check_min_len(self.buffer.as_ref(), HEADER_LEN)
    }

    /// The whole flags byte (reserved bits included, as received).
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    /// Whether the I flag (valid VNI) is set.
    #[inline]
    pub fn i_flag(&self) -> bool {
        self.flags() & FLAG_I != 0
    }

    /// The 24-bit VNI field as received, 0 included.
    #[inline]
    pub fn vni_raw(&self) -> u32 {
        let b = &self.buffer.as_ref()[field::VNI];
        u32::from_be_bytes([0, b[0], b[1], b[2]])
    }

    /// The VNI; `None` for 0 (not a usable segment here).
    pub fn vni(&self) -> Option<Vni> {
        Vni::new(self.vni_raw())
    }

    /// The inner Ethernet frame.
    pub fn payload(&self) -> &[u8] {
        tail(self.buffer.as_ref(), field::PAYLOAD)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_flags(&mut self, flags: u8) {
        self.buffer.as_mut()[field::FLAGS] = flags;
    }

    /// Writes the VNI and zeroes the reserved byte after it.
    pub fn set_vni(&mut self, vni: Vni) {
        let b = vni.get().to_be_bytes();
        let d = self.buffer.as_mut();
        d[field::VNI].copy_from_slice(&b[1..4]);
        d[field::RESERVED1] = 0;
    }

    /// The inner Ethernet frame, mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        tail_mut(self.buffer.as_mut(), field::PAYLOAD)
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The payload borrowed for the buffer's lifetime `'a` rather than the view's, so a parser
    /// can drop this view and keep walking the next layer (`payload()` borrows the view).
    pub fn into_payload(self) -> &'a [u8] {
        tail(bytes(self.buffer), field::PAYLOAD)
    }
}

/// Writes a VXLAN header (I flag, `vni`, all reserved bits zero) into the first 8 bytes of
/// `buf`. Returns `false` and writes nothing when `buf` is shorter than [`HEADER_LEN`].
pub fn emit_header(buf: &mut [u8], vni: Vni) -> bool {
    let Some(hdr) = buf.get_mut(..HEADER_LEN) else {
        return false;
    };
    let mut p = Packet::new_unchecked(hdr);
    p.set_flags(FLAG_I);
    p.buffer[field::RESERVED0].fill(0);
    p.set_vni(vni);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::MacAddr;
    use crate::wire::{checksum, ethernet, ipv4, udp};
    use std::net::Ipv4Addr;

    /// A complete VXLAN packet as Linux's vxlan driver sends it: outer 10.0.0.1 -> 10.0.0.2,
    /// UDP 49152 -> 4789 (checksum 0, as Linux sends by default), VNI 5000, inner Ethernet
    /// 02:..:01 -> 02:..:02 carrying 4 bytes with an unknown EtherType. The outer IPv4
    /// checksum 0x1481 was computed independently (Python RFC 1071 sum).
    const PKT: [u8; 68] = [
        // outer Ethernet
        0x02, 0, 0, 0, 0, 0xb2, 0x02, 0, 0, 0, 0, 0xb1, 0x08, 0x00,
        // outer IPv4: len 54, ident 0x1234, DF, TTL 64, UDP
        0x45, 0x00, 0x00, 0x36, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11, 0x14, 0x81, 10, 0, 0, 1, 10, 0,
        0, 2, // UDP: 49152 -> 4789, len 34, checksum 0
        0xc0, 0x00, 0x12, 0xb5, 0x00, 0x22, 0x00, 0x00,
        // VXLAN: I flag, VNI 5000 (0x001388)
        0x08, 0x00, 0x00, 0x00, 0x00, 0x13, 0x88, 0x00, // inner Ethernet
        0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x88, 0xb5, 0xde, 0xad, 0xbe, 0xef,
    ];

    #[test]
    fn parse_full_packet() {
        let eth = ethernet::Frame::new_checked(&PKT[..]).unwrap();
        assert_eq!(eth.ethertype(), ethernet::EtherType::Ipv4);
        let ip = ipv4::Packet::new_checked(eth.payload()).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(ip.checksum(), 0x1481);
        assert_eq!(checksum::ipv4_header(&PKT[14..34]), 0x1481);
        let u = udp::Packet::new_checked(ip.payload()).unwrap();
        assert_eq!(u.dst_port(), UDP_PORT);
        assert!(u.verify_checksum_ipv4(ip.src_addr(), ip.dst_addr()));
        let vx = Packet::new_checked(u.payload()).unwrap();
        assert!(vx.i_flag());
        assert_eq!(vx.flags(), FLAG_I);
        assert_eq!(vx.vni_raw(), 5000);
        assert_eq!(vx.vni(), Vni::new(5000));
        let inner = ethernet::Frame::new_checked(vx.payload()).unwrap();
        assert_eq!(inner.dst_addr(), MacAddr([2, 0, 0, 0, 0, 2]));
        assert_eq!(inner.ethertype(), ethernet::EtherType::Unknown(0x88b5));
        assert_eq!(inner.payload(), &[0xde, 0xad, 0xbe, 0xef]);
    }

    /// The layers chain through `into_payload` without keeping every view alive.
    fn inner_frame(buf: &[u8]) -> Option<&[u8]> {
        let mut payload = ethernet::Frame::new_checked(buf).ok()?.into_payload();
        payload = ipv4::Packet::new_checked(payload).ok()?.into_payload();
        payload = udp::Packet::new_checked(payload).ok()?.into_payload();
        Some(Packet::new_checked(payload).ok()?.into_payload())
    }

    #[test]
    fn into_payload_chains() {
        assert_eq!(inner_frame(&PKT), Some(&PKT[50..]));
        assert_eq!(inner_frame(&PKT[..49]), None);
    }

    #[test]
    fn build_full_packet() {
        let mut out = [0u8; 68];
        assert!(ethernet::emit_header(
            &mut out,
            MacAddr([2, 0, 0, 0, 0, 0xb2]),
            MacAddr([2, 0, 0, 0, 0, 0xb1]),
            ethernet::EtherType::Ipv4
        ));
        let repr = ipv4::Ipv4Repr {
            src_addr: Ipv4Addr::new(10, 0, 0, 1),
            dst_addr: Ipv4Addr::new(10, 0, 0, 2),
            protocol: ipv4::IpProtocol::Udp,
            payload_len: 34,
            ttl: 64,
            dont_frag: true,
            ident: 0x1234,
        };
        assert!(repr.emit(&mut out[14..], true));
        assert!(udp::emit_header(&mut out[34..], 49152, UDP_PORT, 34, 0));
        assert!(emit_header(&mut out[42..], Vni::new(5000).unwrap()));
        out[50..].copy_from_slice(&PKT[50..]);
        assert_eq!(out, PKT);
    }

    #[test]
    fn reserved_bits_ignored_on_receive() {
        let h = [0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x01, 0xff];
        let p = Packet::new_checked(&h[..]).unwrap();
        assert!(p.i_flag());
        assert_eq!(p.vni_raw(), 1);
        let h = [0xf7, 0, 0, 0, 0, 0, 0, 0];
        let p = Packet::new_checked(&h[..]).unwrap();
        assert!(!p.i_flag());
        assert_eq!(p.vni(), None);
    }

    #[test]
    fn emit_zeroes_reserved_and_short() {
        let mut b = [0xffu8; 9];
        assert!(emit_header(&mut b, Vni::new(0x00ab_cdef).unwrap()));
        assert_eq!(b, [0x08, 0, 0, 0, 0xab, 0xcd, 0xef, 0, 0xff]);
        let mut s = [0u8; 7];
        assert!(!emit_header(&mut s, Vni::new(1).unwrap()));
        assert_eq!(
            Packet::new_checked(&s[..]).unwrap_err(),
            WireError::Truncated
        );
    }
}
