//! UDP headers (RFC 768).
//!
//! `new_checked`: buffer >= 8 bytes (`Truncated`), length field >= 8 (`Malformed`), length field
//! <= buffer length (`Truncated`). `payload()` ends at the length field, so trailing bytes (IP
//! or Ethernet padding) are ignored.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::checksum;
use super::{bytes, get_u16, put_u16, span, span_mut, Field, WireError};

mod field {
    use super::Field;
    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const LENGTH: Field = 4..6;
    pub const CHECKSUM: Field = 6..8;
}

/// Length of the UDP header.
pub const HEADER_LEN: usize = field::CHECKSUM.end;

wire_view! {
    /// A view of a UDP datagram.
    ///
    /// ```text
    ///  0                   1                   2                   3
    ///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// |          Source Port          |       Destination Port        |
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// |            Length             |           Checksum            |
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// |  Data ...
    /// ```
    pub struct Packet;
    /// Wraps `buffer` without checking it.
    fn new_unchecked;
    /// Wraps `buffer` after the checks in the module docs.
    fn new_checked;
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// The checks of `new_checked`.
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let field_len = usize::from(self.len());
        if field_len < HEADER_LEN {
            return Err(WireError::Malformed);
        }
        if field_len > len {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    pub fn src_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::SRC_PORT.start)
    }

    pub fn dst_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::DST_PORT.start)
    }

    /// The length field: header + data, in bytes.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH.start)
    }

    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// The datagram as the length field delimits it (header included); the whole buffer if
    /// setters made the length inconsistent.
    pub fn datagram(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        b.get(..usize::from(self.len())).unwrap_or(b)
    }

    /// The data after the header, up to the length field (empty if inconsistent).
    pub fn payload(&self) -> &[u8] {
        span(self.buffer.as_ref(), self.payload_range())
    }

    /// Where the data lies: after the header, up to the length field.
    fn payload_range(&self) -> Field {
        HEADER_LEN..usize::from(self.len())
    }

    /// Whether the checksum verifies under the IPv4 pseudo-header; a zero checksum field means
    /// "not computed" (RFC 768) and verifies.
    pub fn verify_checksum_ipv4(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        let c = self.checksum();
        c == 0 || checksum_ipv4(src, dst, self.datagram()) == c
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_src_port(&mut self, port: u16) {
        put_u16(self.buffer.as_mut(), field::SRC_PORT.start, port);
    }

    pub fn set_dst_port(&mut self, port: u16) {
        put_u16(self.buffer.as_mut(), field::DST_PORT.start, port);
    }

    pub fn set_len(&mut self, len: u16) {
        put_u16(self.buffer.as_mut(), field::LENGTH.start, len);
    }

    pub fn set_checksum(&mut self, c: u16) {
        put_u16(self.buffer.as_mut(), field::CHECKSUM.start, c);
    }

    /// Computes the IPv4 pseudo-header checksum over the datagram and stores it.
    pub fn fill_checksum_ipv4(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        let c = checksum_ipv4(src, dst, self.datagram());
        self.set_checksum(c);
    }

    /// The data, mutable (see [`Packet::payload`]).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let range = self.payload_range();
        span_mut(self.buffer.as_mut(), range)
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The payload borrowed for the buffer's lifetime `'a` rather than the view's, so a parser
    /// can drop this view and keep walking the next layer (`payload()` borrows the view).
    pub fn into_payload(self) -> &'a [u8] {
        span(bytes(self.buffer), self.payload_range())
    }
}

/// Writes a UDP header into the first 8 bytes of `buf`. Returns `false` and writes nothing when
/// `buf` is shorter than [`HEADER_LEN`].
pub fn emit_header(buf: &mut [u8], src_port: u16, dst_port: u16, len: u16, checksum: u16) -> bool {
    let Some(hdr) = buf.get_mut(..HEADER_LEN) else {
        return false;
    };
    let mut p = Packet::new_unchecked(hdr);
    p.set_src_port(src_port);
    p.set_dst_port(dst_port);
    p.set_len(len);
    p.set_checksum(checksum);
    true
}

/// Whether the datagram `udp` (header + data, exactly, checksum field included) verifies
/// under the IPv6 pseudo-header (RFC 8200 §8.1). Over IPv6 the checksum is mandatory, so a
/// zero field does not verify here; callers that accept zero (RFC 6935) check for it first.
pub fn verify_checksum_ipv6(src: Ipv6Addr, dst: Ipv6Addr, udp: &[u8]) -> bool {
    if udp.get(field::CHECKSUM) == Some(&[0, 0][..]) {
        return false;
    }
    checksum::fold(checksum::combine(
        pseudo_sum_ipv6(src, dst, udp.len()),
        checksum::sum(udp),
    )) == 0xffff
}

/// The UDP checksum to store for the datagram `udp` (checksum field treated as zero) under the
/// IPv6 pseudo-header; a computed 0 is sent as 0xffff.
pub fn checksum_ipv6(src: Ipv6Addr, dst: Ipv6Addr, udp: &[u8]) -> u16 {
    let s = checksum::combine(
        pseudo_sum_ipv6(src, dst, udp.len()),
        checksum::sum_skipping(udp, field::CHECKSUM.start),
    );
    match !checksum::fold(s) {
        0 => 0xffff,
        c => c,
    }
}

fn pseudo_sum_ipv6(src: Ipv6Addr, dst: Ipv6Addr, len: usize) -> u32 {
    let len = len as u32;
    checksum::sum(&src.octets()) + checksum::sum(&dst.octets()) + (len >> 16) + (len & 0xffff) + 17
}

/// The UDP checksum of the datagram `udp` (header + data, exactly) under the IPv4 pseudo-header,
/// i.e. the value to store in the checksum field. The checksum field inside `udp` is treated as
/// zero, so the same call computes it and verifies it (`== packet.checksum()`). A computed 0 is
/// returned as 0xffff (RFC 768: 0 means "no checksum"). The pseudo-header length is `udp.len()`.
pub fn checksum_ipv4(src: Ipv4Addr, dst: Ipv4Addr, udp: &[u8]) -> u16 {
    let mut pseudo = [0u8; 12];
    pseudo[0..4].copy_from_slice(&src.octets());
    pseudo[4..8].copy_from_slice(&dst.octets());
    pseudo[9] = 17;
    // A datagram longer than 65535 cannot be valid; truncating keeps this total.
    pseudo[10..12].copy_from_slice(&(udp.len() as u16).to_be_bytes());
    let s = checksum::combine(
        checksum::sum(&pseudo),
        checksum::sum_skipping(udp, field::CHECKSUM.start),
    );
    match !checksum::fold(s) {
        0 => 0xffff,
        c => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A DNS query for example.com: 192.168.1.10:53000 -> 8.8.8.8:53.
    const SRC: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);
    const DST: Ipv4Addr = Ipv4Addr::new(8, 8, 8, 8);

    fn datagram() -> Vec<u8> {
        let data = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01";
        let mut v = vec![0u8; 8];
        assert!(emit_header(&mut v, 53000, 53, (8 + data.len()) as u16, 0));
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn parse_and_checksum() {
        let mut v = datagram();
        let c = checksum_ipv4(SRC, DST, &v);
        // Verifies the RFC 1071 property: summing everything with the field set gives 0xffff.
        v[6..8].copy_from_slice(&c.to_be_bytes());
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&SRC.octets());
        pseudo.extend_from_slice(&DST.octets());
        pseudo.extend_from_slice(&[0, 17]);
        pseudo.extend_from_slice(&(v.len() as u16).to_be_bytes());
        pseudo.extend_from_slice(&v);
        assert_eq!(checksum::data(&pseudo), 0xffff);

        let p = Packet::new_checked(&v[..]).unwrap();
        assert_eq!(p.src_port(), 53000);
        assert_eq!(p.dst_port(), 53);
        assert_eq!(usize::from(p.len()), v.len());
        assert_eq!(p.checksum(), c);
        assert_eq!(p.payload().len(), v.len() - 8);
        assert!(p.verify_checksum_ipv4(SRC, DST));
        assert!(!p.verify_checksum_ipv4(SRC, Ipv4Addr::new(8, 8, 4, 4)));
    }

    #[test]
    fn known_checksum() {
        // Fixed fixture: ports 1234 -> 5678, data "hi", 10.0.0.1 -> 10.0.0.2.
        let v = [0x04, 0xd2, 0x16, 0x2e, 0x00, 0x0a, 0x00, 0x00, b'h', b'i'];
        // pseudo: 0x0a00+0x0001+0x0a00+0x0002+0x0011+0x000a = 0x141e
        // udp:    0x04d2+0x162e+0x000a+0x0000+0x6869        = 0x8373
        // total 0x9791, complemented 0x686e (cross-checked with a Python RFC 1071 sum).
        assert_eq!(
            checksum_ipv4(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2), &v),
            0x686e
        );
    }

    #[test]
    fn errors_and_padding() {
        let v = datagram();
        assert_eq!(
            Packet::new_checked(&v[..7]).unwrap_err(),
            WireError::Truncated
        );
        assert_eq!(
            Packet::new_checked(&v[..v.len() - 1]).unwrap_err(),
            WireError::Truncated
        );
        let mut w = v.clone();
        w[4..6].copy_from_slice(&7u16.to_be_bytes());
        assert_eq!(
            Packet::new_checked(&w[..]).unwrap_err(),
            WireError::Malformed
        );
        let mut w = v.clone();
        w.extend_from_slice(&[0; 6]);
        let p = Packet::new_checked(&w[..]).unwrap();
        assert_eq!(p.payload().len(), v.len() - 8);
        let mut short = [0u8; 7];
        assert!(!emit_header(&mut short, 1, 2, 8, 0));
    }

    #[test]
    fn setters() {
        let mut v = datagram();
        let mut p = Packet::new_checked(&mut v[..]).unwrap();
        p.set_src_port(1);
        p.set_dst_port(4789);
        p.fill_checksum_ipv4(SRC, DST);
        assert!(p.verify_checksum_ipv4(SRC, DST));
        p.set_checksum(0);
        assert!(p.verify_checksum_ipv4(SRC, DST));
        p.set_len(0xffff);
        assert!(p.payload().is_empty());
        assert!(p.payload_mut().is_empty());
    }
}
