//! IPv4 headers (RFC 791), options carried but not interpreted.
//!
//! `Packet::new_checked` validates the lengths and the version, in this order, each with the
//! error it returns:
//!
//! | check                                   | error       |
//! |-----------------------------------------|-------------|
//! | buffer >= 20 bytes                      | `Truncated` |
//! | version == 4                            | `Malformed` |
//! | IHL >= 5 (header >= 20 bytes)           | `Malformed` |
//! | header length <= buffer length          | `Truncated` |
//! | total length >= header length           | `Malformed` |
//! | total length <= buffer length           | `Truncated` |
//!
//! It does *not* verify the checksum (`verify_checksum`, or `Ipv4Repr::parse` which does);
//! bytes beyond `total_len` (Ethernet padding) are ignored by `payload()`.

use std::net::Ipv4Addr;

use super::{bytes, checksum, get_4, get_u16, put_u16, span, span_mut, Field, WireError};

mod field {
    use super::Field;
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Field = 2..4;
    pub const IDENT: Field = 4..6;
    pub const FLG_OFF: Field = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Field = 10..12;
    pub const SRC_ADDR: Field = 12..16;
    pub const DST_ADDR: Field = 16..20;
}

/// Length of an IPv4 header without options (the minimum).
pub const HEADER_LEN: usize = field::DST_ADDR.end;

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// The IPv4 protocol / IPv6 next-header number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpProtocol {
    /// 1
    Icmp,
    /// 6
    Tcp,
    /// 17
    Udp,
    /// Anything else.
    Unknown(u8),
}

impl From<u8> for IpProtocol {
    fn from(v: u8) -> Self {
        match v {
            1 => IpProtocol::Icmp,
            6 => IpProtocol::Tcp,
            17 => IpProtocol::Udp,
            other => IpProtocol::Unknown(other),
        }
    }
}

impl From<IpProtocol> for u8 {
    fn from(v: IpProtocol) -> u8 {
        match v {
            IpProtocol::Icmp => 1,
            IpProtocol::Tcp => 6,
            IpProtocol::Udp => 17,
            IpProtocol::Unknown(other) => other,
        }
    }
}

wire_view! {
    /// A view of an IPv4 packet.
    ///
    /// ```text
    ///  0                   1                   2                   3
    ///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// |Version|  IHL  |   DSCP    |ECN|          Total Length         |
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// |         Identification        |Flags|      Fragment Offset    |
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// |  Time to Live |    Protocol   |         Header Checksum       |
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// |                       Source Address                          |
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// |                    Destination Address                        |
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// |                    Options (IHL > 5)                          |
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// ```
    /// Flags: bit 0 reserved, bit 1 DF (don't fragment), bit 2 MF (more fragments).
    pub struct Packet;
    /// Wraps `buffer` without checking it; accessors may panic on a short buffer.
    fn new_unchecked;
    /// Wraps `buffer` after the checks in the module docs.
    fn new_checked;
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// The checks of `new_checked` (see the module docs for which error each gives).
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if self.version() != 4 {
            return Err(WireError::Malformed);
        }
        let hlen = self.header_len();
        if hlen < HEADER_LEN {
            return Err(WireError::Malformed);
        }
        if hlen > len {
            return Err(WireError::Truncated);
        }
        let total = usize::from(self.total_len());
        if total < hlen {
            return Err(WireError::Malformed);
        }
        if total > len {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL × 4), options included.
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// The DSCP and ECN bits, as the whole second byte.
    pub fn dscp_ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN]
    }

    /// Total length of the packet (header + payload) in bytes.
    pub fn total_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH.start)
    }

    pub fn ident(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::IDENT.start)
    }

    fn flg_off(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::FLG_OFF.start)
    }

    pub fn dont_frag(&self) -> bool {
        self.flg_off() & FLAG_DF != 0
    }

    pub fn more_frags(&self) -> bool {
        self.flg_off() & FLAG_MF != 0
    }

    /// Fragment offset in bytes (the field × 8).
    pub fn frag_offset(&self) -> u16 {
        (self.flg_off() & OFFSET_MASK) << 3
    }

    /// Part of a fragmented datagram: MF set or a non-zero offset.
    pub fn is_fragment(&self) -> bool {
        self.flg_off() & (FLAG_MF | OFFSET_MASK) != 0
    }

    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    pub fn protocol(&self) -> IpProtocol {
        IpProtocol::from(self.buffer.as_ref()[field::PROTOCOL])
    }

    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(get_4(self.buffer.as_ref(), field::SRC_ADDR.start))
    }

    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(get_4(self.buffer.as_ref(), field::DST_ADDR.start))
    }

    /// The whole header, options included (clamped to the buffer).
    pub fn header(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        b.get(..self.header_len()).unwrap_or(b)
    }

    /// Whether the header checksum (over the full header, options included) verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::data(self.header()) == 0xffff
    }

    /// The payload: from the end of the header up to `total_len` (padding excluded). Empty
    /// if setters made the lengths inconsistent.
    pub fn payload(&self) -> &[u8] {
        span(self.buffer.as_ref(), self.payload_range())
    }

    /// Where the payload lies: from the end of the header up to `total_len`.
    fn payload_range(&self) -> Field {
        self.header_len()..usize::from(self.total_len())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the version nibble (low 4 bits of `v`).
    pub fn set_version(&mut self, v: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0x0f) | (v << 4);
    }

    /// Sets the header length in bytes (stored as `len / 4`, at most 60).
    pub fn set_header_len(&mut self, len: usize) {
        let ihl = ((len / 4).min(0x0f)) as u8;
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0xf0) | ihl;
    }

    pub fn set_dscp_ecn(&mut self, v: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = v;
    }

    pub fn set_total_len(&mut self, len: u16) {
        put_u16(self.buffer.as_mut(), field::LENGTH.start, len);
    }

    pub fn set_ident(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::IDENT.start, v);
    }

    fn set_flg_off(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::FLG_OFF.start, v);
    }

    pub fn set_dont_frag(&mut self, df: bool) {
        let v = self.flg_off();
        self.set_flg_off(if df { v | FLAG_DF } else { v & !FLAG_DF });
    }

    pub fn set_more_frags(&mut self, mf: bool) {
        let v = self.flg_off();
        self.set_flg_off(if mf { v | FLAG_MF } else { v & !FLAG_MF });
    }

    /// Sets the fragment offset in bytes (stored as `bytes / 8`).
    pub fn set_frag_offset(&mut self, bytes: u16) {
        let v = (self.flg_off() & !OFFSET_MASK) | ((bytes >> 3) & OFFSET_MASK);
        self.set_flg_off(v);
    }

    pub fn set_ttl(&mut self, ttl: u8) {
        self.buffer.as_mut()[field::TTL] = ttl;
    }

    pub fn set_protocol(&mut self, p: IpProtocol) {
        self.buffer.as_mut()[field::PROTOCOL] = u8::from(p);
    }

    pub fn set_checksum(&mut self, c: u16) {
        put_u16(self.buffer.as_mut(), field::CHECKSUM.start, c);
    }

    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&a.octets());
    }

    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&a.octets());
    }

    /// Computes the header checksum (options included) and stores it.
    pub fn fill_checksum(&mut self) {
        let c = checksum::ipv4_header(self.header());
        self.set_checksum(c);
    }

    /// The payload, mutable (see [`Packet::payload`]).
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

/// The fields of an IPv4 header the gateway reads and writes. Emitted headers carry no options,
/// DSCP/ECN 0 and no fragmentation (offset 0, MF clear).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Repr {
    pub src_addr: Ipv4Addr,
    pub dst_addr: Ipv4Addr,
    pub protocol: IpProtocol,
    /// Payload length in bytes (total length − header length).
    pub payload_len: usize,
    pub ttl: u8,
    pub dont_frag: bool,
    pub ident: u16,
}

impl Ipv4Repr {
    /// Reads a checked packet; `Checksum` when its header checksum does not verify.
    /// Options are skipped; fragment fields other than DF are not represented.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&T>) -> Result<Ipv4Repr, WireError> {
        packet.check_len()?;
        if !packet.verify_checksum() {
            return Err(WireError::Checksum);
        }
        Ok(Ipv4Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            payload_len: usize::from(packet.total_len()) - packet.header_len(),
            ttl: packet.ttl(),
            dont_frag: packet.dont_frag(),
            ident: packet.ident(),
        })
    }

    /// Bytes [`Ipv4Repr::emit`] writes (a header without options).
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes a 20-byte header into the start of `buf`, with the checksum computed when
    /// `fill_checksum` (else 0, e.g. for NIC offload). Returns `false` and writes nothing when
    /// `buf` is shorter than 20 bytes or the total length would not fit in 16 bits.
    pub fn emit(&self, buf: &mut [u8], fill_checksum: bool) -> bool {
        let Some(total) = self
            .payload_len
            .checked_add(HEADER_LEN)
            .and_then(|t| u16::try_from(t).ok())
        else {
            return false;
        };
        let Some(hdr) = buf.get_mut(..HEADER_LEN) else {
            return false;
        };
        let mut p = Packet::new_unchecked(hdr);
        p.buffer[field::VER_IHL] = 0x45;
        p.set_dscp_ecn(0);
        p.set_total_len(total);
        p.set_ident(self.ident);
        p.set_flg_off(if self.dont_frag { FLAG_DF } else { 0 });
        p.set_ttl(self.ttl);
        p.set_protocol(self.protocol);
        p.set_checksum(0);
        p.set_src_addr(self.src_addr);
        p.set_dst_addr(self.dst_addr);
        if fill_checksum {
            p.fill_checksum();
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The classic example (Wikipedia "IPv4 header checksum"): UDP 192.168.0.1 -> .199,
    /// total length 0x73, DF, TTL 64, checksum 0xb861.
    const HDR: [u8; 20] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];

    fn packet_bytes() -> Vec<u8> {
        let mut v = HDR.to_vec();
        v.resize(0x73, 0xab);
        v
    }

    #[test]
    fn parse_fixture() {
        let bytes = packet_bytes();
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.dscp_ecn(), 0);
        assert_eq!(p.total_len(), 0x73);
        assert_eq!(p.ident(), 0);
        assert!(p.dont_frag());
        assert!(!p.more_frags());
        assert_eq!(p.frag_offset(), 0);
        assert!(!p.is_fragment());
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), IpProtocol::Udp);
        assert_eq!(p.checksum(), 0xb861);
        assert_eq!(p.src_addr(), Ipv4Addr::new(192, 168, 0, 1));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(192, 168, 0, 199));
        assert!(p.verify_checksum());
        assert_eq!(p.payload().len(), 0x73 - 20);
    }

    #[test]
    fn repr_round_trip_matches_fixture() {
        let bytes = packet_bytes();
        let p = Packet::new_checked(&bytes[..]).unwrap();
        let r = Ipv4Repr::parse(&p).unwrap();
        assert_eq!(r.payload_len, 0x73 - 20);
        let mut out = [0u8; 20];
        assert!(r.emit(&mut out, true));
        assert_eq!(out, HDR);
        assert!(r.emit(&mut out, false));
        assert_eq!(&out[10..12], &[0, 0]);
        assert!(!r.emit(&mut out[..19], true));
        let huge = Ipv4Repr {
            payload_len: 65_516,
            ..r
        };
        assert!(!huge.emit(&mut out, true));
    }

    #[test]
    fn bad_checksum_is_reported() {
        let mut bytes = packet_bytes();
        bytes[11] ^= 1;
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert!(!p.verify_checksum());
        assert_eq!(Ipv4Repr::parse(&p), Err(WireError::Checksum));
    }

    #[test]
    fn check_errors() {
        let bytes = packet_bytes();
        let err = |b: &[u8]| Packet::new_checked(b).unwrap_err();
        assert_eq!(err(&bytes[..19]), WireError::Truncated);
        let mut v = bytes.clone();
        v[0] = 0x65;
        assert_eq!(err(&v), WireError::Malformed);
        v[0] = 0x44;
        assert_eq!(err(&v), WireError::Malformed);
        let mut v = bytes.clone();
        v[0] = 0x4f; // 60-byte header in a 0x73-byte buffer: fine lengthwise...
        v[2..4].copy_from_slice(&20u16.to_be_bytes()); // ...but total < header
        assert_eq!(err(&v), WireError::Malformed);
        assert_eq!(err(&v[..40]), WireError::Truncated); // header longer than buffer
        let mut v = bytes.clone();
        v[2..4].copy_from_slice(&0x74u16.to_be_bytes());
        assert_eq!(err(&v), WireError::Truncated);
        // Ethernet padding after total_len is allowed and excluded from the payload.
        let mut v = bytes.clone();
        v.extend_from_slice(&[0; 10]);
        assert_eq!(
            Packet::new_checked(&v[..]).unwrap().payload().len(),
            0x73 - 20
        );
    }

    #[test]
    fn options_and_fragments() {
        let mut v = [0u8; 32];
        let mut p = Packet::new_unchecked(&mut v[..]);
        p.set_version(4);
        p.set_header_len(24);
        p.set_total_len(32);
        p.set_more_frags(true);
        p.set_frag_offset(1480);
        p.set_dont_frag(false);
        p.set_ttl(1);
        p.set_protocol(IpProtocol::Unknown(200));
        p.set_src_addr(Ipv4Addr::new(10, 0, 0, 1));
        p.set_dst_addr(Ipv4Addr::new(10, 0, 0, 2));
        p.fill_checksum();
        let p = Packet::new_checked(&v[..]).unwrap();
        assert_eq!(p.header_len(), 24);
        assert!(p.verify_checksum());
        assert!(p.more_frags() && p.is_fragment());
        assert_eq!(p.frag_offset(), 1480);
        assert_eq!(p.protocol(), IpProtocol::Unknown(200));
        assert_eq!(p.payload().len(), 8);
        let r = Ipv4Repr::parse(&p).unwrap();
        assert_eq!(r.payload_len, 8);
    }

    #[test]
    fn inconsistent_setters_do_not_panic() {
        let mut bytes = packet_bytes();
        let mut p = Packet::new_checked(&mut bytes[..]).unwrap();
        p.set_total_len(0xffff);
        assert!(p.payload().is_empty());
        assert!(p.payload_mut().is_empty());
        p.set_header_len(60);
        p.set_total_len(10);
        assert!(p.payload().is_empty());
        let _ = p.verify_checksum();
        p.fill_checksum();
    }

    #[test]
    fn protocol_values() {
        for v in 0..=255u8 {
            assert_eq!(u8::from(IpProtocol::from(v)), v);
        }
    }
}
