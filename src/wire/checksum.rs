//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! Vocabulary: `sum` is the unfolded ones'-complement partial sum (a `u32` that may carry past
//! 16 bits; partial sums of even-length, even-aligned pieces add with [`combine`]); `fold` turns it
//! into 16 bits; `data` is the folded sum *not* complemented; the value stored in a checksum field
//! is its complement (see [`ipv4_header`]). A buffer including a correct checksum field has
//! `data(buf) == 0xffff`.

/// Ones'-complement partial sum of `data` as big-endian 16-bit words; an odd trailing byte is
/// padded with a zero byte. Not folded, but kept within `u32` by end-around carries, so any
/// length is safe.
pub fn sum(data: &[u8]) -> u32 {
    // Sum in u64 so that the hot loop has no carry handling; a u64 cannot overflow before
    // 2^48 words, far beyond any packet.
    let mut acc: u64 = 0;
    let mut words = data.chunks_exact(2);
    for w in &mut words {
        acc += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        acc += u64::from(*last) << 8;
    }
    // 2^32 = 1 (mod 0xffff), so end-around carries keep the ones'-complement value.
    while acc >> 32 != 0 {
        acc = (acc & 0xffff_ffff) + (acc >> 32);
    }
    acc as u32
}

/// Adds two partial sums (ones'-complement addition, end-around carry on u32 overflow).
pub fn combine(a: u32, b: u32) -> u32 {
    let (s, carry) = a.overflowing_add(b);
    s.wrapping_add(u32::from(carry))
}

/// Folds the carries of a partial sum into 16 bits.
pub fn fold(mut sum: u32) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The folded ones'-complement sum of `data` (`fold(sum(data))`), not complemented.
pub fn data(data: &[u8]) -> u16 {
    fold(sum(data))
}

/// The value to store in the checksum field of the IPv4 header `hdr` (the whole header,
/// options included): the complemented sum with the checksum field (bytes 10..12) treated as
/// zero, whatever it holds now.
pub fn ipv4_header(hdr: &[u8]) -> u16 {
    !fold(sum_skipping(hdr, 10))
}

/// Partial sum of `data` with the 16-bit word at the even offset `at` treated as zero.
pub(crate) fn sum_skipping(data: &[u8], at: usize) -> u32 {
    match (data.get(..at), data.get(at + 2..)) {
        (Some(head), Some(tail)) => combine(sum(head), sum(tail)),
        // Shorter than the field: nothing to skip beyond what exists.
        (Some(head), None) => sum(head),
        _ => sum(data),
    }
}

/// RFC 1624 (eqn. 3) incremental update: the new checksum field after one 16-bit word of the
/// covered data changed from `old` to `new`, given the stored checksum `old_cksum`.
///
/// Agrees exactly with a full recompute whenever the covered data is not all zeros before and
/// after the change (always true for IPv4 headers, whose version nibble is non-zero); for
/// all-zero data the two may differ only between the two ones'-complement zeros 0x0000/0xffff.
pub fn update16(old_cksum: u16, old: u16, new: u16) -> u16 {
    let s = u32::from(!old_cksum) + u32::from(!old) + u32::from(new);
    !fold(s)
}

/// Like [`update16`] for a 32-bit value (e.g. an IPv4 address) that changed as a whole.
pub fn update32(old_cksum: u16, old: u32, new: u32) -> u16 {
    let c = update16(old_cksum, (old >> 16) as u16, (new >> 16) as u16);
    update16(c, old as u16, new as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The classic example header (Wikipedia "IPv4 header checksum"): checksum 0xb861.
    const HDR: [u8; 20] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];

    #[test]
    fn ipv4_known_checksum() {
        assert_eq!(ipv4_header(&HDR), 0xb861);
        let mut z = HDR;
        z[10] = 0;
        z[11] = 0;
        assert_eq!(ipv4_header(&z), 0xb861);
        assert_eq!(!data(&z), 0xb861);
        assert_eq!(data(&HDR), 0xffff);
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0x2ddf0, folded 0xddf2.
        let b = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(sum(&b), 0x2ddf0);
        assert_eq!(fold(sum(&b)), 0xddf2);
    }

    #[test]
    fn odd_length_pads() {
        assert_eq!(sum(&[0x12]), 0x1200);
        assert_eq!(sum(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
        assert_eq!(sum(&[]), 0);
    }

    #[test]
    fn combine_carries() {
        assert_eq!(combine(0xffff_ffff, 1), 1);
        assert_eq!(fold(combine(sum(&HDR[..10]), sum(&HDR[10..]))), data(&HDR));
    }

    #[test]
    fn incremental_ttl_decrement() {
        let mut h = HDR;
        let old = u16::from_be_bytes([h[8], h[9]]);
        h[8] -= 1;
        let new = u16::from_be_bytes([h[8], h[9]]);
        let c = update16(0xb861, old, new);
        assert_eq!(c, ipv4_header(&h));
    }

    #[test]
    fn incremental_address_change() {
        let mut h = HDR;
        let old = u32::from_be_bytes([h[12], h[13], h[14], h[15]]);
        h[12..16].copy_from_slice(&[10, 1, 2, 3]);
        let c = update32(0xb861, old, u32::from_be_bytes([10, 1, 2, 3]));
        assert_eq!(c, ipv4_header(&h));
    }

    #[test]
    fn short_headers_do_not_panic() {
        for n in 0..HDR.len() {
            let _ = ipv4_header(&HDR[..n]);
        }
    }
}
