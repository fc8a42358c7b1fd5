//! ICMPv6 (RFC 4443) and the neighbour discovery messages (RFC 4861) the underlay needs: echo,
//! Neighbor Solicitation and Neighbor Advertisement with their link-layer address options.
//!
//! The view covers the whole ICMPv6 message (the IPv6 payload exactly); the checksum covers it
//! and the IPv6 pseudo-header. `new_checked` checks only the 4-byte header; the neighbour
//! discovery accessors return `None` when the message is too short for them.

use std::net::Ipv6Addr;

use super::{check_min_len, checksum, get_u16, put_u16, tail, Field, WireError};
use crate::types::MacAddr;

mod field {
    use super::Field;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    /// Neighbour solicitation/advertisement: flags (NA) or reserved, then the target.
    pub const ND_FLAGS: usize = 4;
    pub const ND_TARGET: Field = 8..24;
    pub const ND_OPTIONS: usize = 24;
}

/// Length of the ICMPv6 header (type, code, checksum).
pub const HEADER_LEN: usize = 4;
/// Length of a neighbour solicitation or advertisement without options.
pub const ND_LEN: usize = field::ND_OPTIONS;

pub const ECHO_REQUEST: u8 = 128;
pub const ECHO_REPLY: u8 = 129;
pub const NEIGHBOR_SOLICIT: u8 = 135;
pub const NEIGHBOR_ADVERT: u8 = 136;
/// Option types: source and target link-layer address.
pub const OPT_SOURCE_LL: u8 = 1;
pub const OPT_TARGET_LL: u8 = 2;
/// Neighbor Advertisement flags (first byte): router, solicited, override.
pub const NA_SOLICITED: u8 = 0x40;
pub const NA_OVERRIDE: u8 = 0x20;

wire_view! {
    /// A view of an ICMPv6 message.
    ///
    /// ```text
    ///  0                   1                   2                   3
    ///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// |     Type      |     Code      |          Checksum             |
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// |R|S|O|  Reserved (NS: all reserved)  /  echo: ident, sequence  |
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// |                 Target Address (NS, NA: 16 bytes)             |
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// |   Options: type, length (units of 8 bytes), value ...
    /// ```
    pub struct Packet;
    /// Wraps `buffer` without checking it.
    fn new_unchecked;
    /// Wraps `buffer` after checking it holds the 4-byte header (`Truncated` otherwise).
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

    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// Whether the checksum verifies under the pseudo-header of `src` → `dst`.
    pub fn verify_checksum(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        checksum::fold(checksum::combine(
            pseudo_sum(src, dst, self.buffer.as_ref().len()),
            checksum::sum(self.buffer.as_ref()),
        )) == 0xffff
    }

    /// The target address of a neighbour solicitation or advertisement.
    pub fn nd_target(&self) -> Option<Ipv6Addr> {
        let b: [u8; 16] = self
            .buffer
            .as_ref()
            .get(field::ND_TARGET)?
            .try_into()
            .ok()?;
        Some(Ipv6Addr::from(b))
    }

    /// The flags byte of a neighbour advertisement.
    pub fn nd_flags(&self) -> Option<u8> {
        self.buffer.as_ref().get(field::ND_FLAGS).copied()
    }

    /// The link-layer address carried in the first option of `kind` (`OPT_SOURCE_LL` or
    /// `OPT_TARGET_LL`). `None` when absent or when an option is malformed (length 0, or
    /// running past the end): RFC 4861 §7.1.1 says to discard such messages.
    pub fn nd_option_ll(&self, kind: u8) -> Option<MacAddr> {
        let mut opts = tail(self.buffer.as_ref(), field::ND_OPTIONS);
        while opts.len() >= 2 {
            let len = usize::from(opts[1]) * 8;
            if len == 0 || len > opts.len() {
                return None;
            }
            if opts[0] == kind && len == 8 {
                return MacAddr::from_slice(&opts[2..8]);
            }
            opts = &opts[len..];
        }
        None
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_msg_type(&mut self, t: u8) {
        self.buffer.as_mut()[field::TYPE] = t;
    }
    pub fn set_code(&mut self, c: u8) {
        self.buffer.as_mut()[field::CODE] = c;
    }
    pub fn set_checksum(&mut self, c: u16) {
        put_u16(self.buffer.as_mut(), field::CHECKSUM.start, c);
    }
    /// Computes and stores the checksum under the pseudo-header of `src` → `dst`.
    pub fn fill_checksum(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        self.set_checksum(0);
        let len = self.buffer.as_ref().len();
        let s = checksum::combine(
            pseudo_sum(src, dst, len),
            checksum::sum(self.buffer.as_ref()),
        );
        self.set_checksum(!checksum::fold(s));
    }
}

/// The partial sum of the IPv6 pseudo-header (RFC 8200 §8.1) for an ICMPv6 message of `len`.
fn pseudo_sum(src: Ipv6Addr, dst: Ipv6Addr, len: usize) -> u32 {
    let len = len as u32;
    checksum::sum(&src.octets()) + checksum::sum(&dst.octets()) + (len >> 16) + (len & 0xffff) + 58
}

/// Writes a Neighbor Advertisement for `target` at `mac` (solicited and override flags as
/// given, a target link-layer address option) into `buf`, checksum included. Returns the
/// length written (32), or `None` when `buf` is shorter.
pub fn emit_neighbor_advert(
    buf: &mut [u8],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    target: Ipv6Addr,
    mac: MacAddr,
    flags: u8,
) -> Option<usize> {
    let b = buf.get_mut(..ND_LEN + 8)?;
    b.fill(0);
    b[field::TYPE] = NEIGHBOR_ADVERT;
    b[field::ND_FLAGS] = flags;
    b[field::ND_TARGET].copy_from_slice(&target.octets());
    b[ND_LEN] = OPT_TARGET_LL;
    b[ND_LEN + 1] = 1;
    b[ND_LEN + 2..ND_LEN + 8].copy_from_slice(&mac.0);
    Packet::new_unchecked(b).fill_checksum(src, dst);
    Some(ND_LEN + 8)
}

/// Writes a Neighbor Solicitation for `target` with a source link-layer address option
/// (`mac`) into `buf`, checksum included. Returns the length written (32).
pub fn emit_neighbor_solicit(
    buf: &mut [u8],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    target: Ipv6Addr,
    mac: MacAddr,
) -> Option<usize> {
    let b = buf.get_mut(..ND_LEN + 8)?;
    b.fill(0);
    b[field::TYPE] = NEIGHBOR_SOLICIT;
    b[field::ND_TARGET].copy_from_slice(&target.octets());
    b[ND_LEN] = OPT_SOURCE_LL;
    b[ND_LEN + 1] = 1;
    b[ND_LEN + 2..ND_LEN + 8].copy_from_slice(&mac.0);
    Packet::new_unchecked(b).fill_checksum(src, dst);
    Some(ND_LEN + 8)
}

/// The solicited-node multicast address of `ip` (RFC 4291 §2.7.1): ff02::1:ffXX:XXXX.
pub fn solicited_node(ip: Ipv6Addr) -> Ipv6Addr {
    let o = ip.octets();
    Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, o[13], o[14], o[15],
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
    const B: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);
    const MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 9]);

    #[test]
    fn solicit_and_advert_round_trip() {
        let mut buf = [0u8; 32];
        let target = B;
        let dst = solicited_node(target);
        assert_eq!(dst.to_string(), "ff02::1:ff00:2");
        assert_eq!(
            emit_neighbor_solicit(&mut buf, A, dst, target, MAC),
            Some(32)
        );
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.msg_type(), NEIGHBOR_SOLICIT);
        assert!(p.verify_checksum(A, dst));
        assert!(!p.verify_checksum(B, dst));
        assert_eq!(p.nd_target(), Some(target));
        assert_eq!(p.nd_option_ll(OPT_SOURCE_LL), Some(MAC));
        assert_eq!(p.nd_option_ll(OPT_TARGET_LL), None);

        let flags = NA_SOLICITED | NA_OVERRIDE;
        assert_eq!(
            emit_neighbor_advert(&mut buf, B, A, B, MAC, flags),
            Some(32)
        );
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.msg_type(), NEIGHBOR_ADVERT);
        assert!(p.verify_checksum(B, A));
        assert_eq!(p.nd_flags(), Some(0x60));
        assert_eq!(p.nd_option_ll(OPT_TARGET_LL), Some(MAC));
        assert!(emit_neighbor_advert(&mut [0u8; 31], B, A, B, MAC, flags).is_none());
    }

    #[test]
    fn malformed_options_are_refused() {
        let mut buf = [0u8; 40];
        emit_neighbor_solicit(&mut buf, A, B, B, MAC);
        // A zero-length option first: the whole option area is invalid.
        buf[24] = 14;
        buf[25] = 0;
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.nd_option_ll(OPT_SOURCE_LL), None);
        assert_eq!(
            Packet::new_checked(&buf[..3]).err(),
            Some(WireError::Truncated)
        );
        assert_eq!(Packet::new_checked(&buf[..4]).unwrap().nd_target(), None);
    }
}
