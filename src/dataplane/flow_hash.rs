//! The hash of an inner flow that picks the outer UDP source port, so the underlay's ECMP
//! spreads tunnels' flows the way it would spread the flows themselves (RFC 7348 §5).
//!
//! It covers the inner MAC pair and ethertype, and for IPv4 the addresses, protocol and (for
//! unfragmented TCP/UDP) the ports. Every read is bounds-checked: a short frame hashes what it
//! has.

/// Odd 64-bit multipliers (from the fractional digits of π and of the golden ratio), one per
/// input word so that equal words in different fields do not cancel.
const K: [u64; 5] = [
    0x9e37_79b9_7f4a_7c15,
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7345,
    0xa409_3822_299f_31d1,
    0x082e_fa98_ec4e_6c89,
];

/// `N` bytes at `at` as a big-endian integer, or 0 when the frame is shorter.
#[inline(always)]
fn word<const N: usize>(b: &[u8], at: usize) -> u64 {
    let Some(bytes) = b.get(at..at.saturating_add(N)) else {
        return 0;
    };
    let mut v = [0u8; 8];
    if let Some(tail) = v.get_mut(8 - N..) {
        tail.copy_from_slice(bytes);
    }
    u64::from_be_bytes(v)
}

/// Hashes an untagged inner Ethernet frame into 32 bits.
///
/// The fields are packed into up to four 64-bit words that are multiplied by different
/// constants independently and xored, then finalised once: the multiplications overlap
/// instead of forming one long dependent chain (a serial multiply-xorshift per field was one
/// of the hottest spots of the encap path). Not meant to resist an adversary; it only has to
/// spread flows over the source-port range.
#[inline]
pub fn inner_flow_hash(frame: &[u8]) -> u32 {
    let ethertype = word::<2>(frame, 12);
    let macs_dst = word::<6>(frame, 0) | ethertype << 48;
    let macs_src = word::<6>(frame, 6);
    let mut h = (macs_dst ^ K[4]).wrapping_mul(K[0]) ^ macs_src.wrapping_mul(K[1]);
    if ethertype == 0x0800 {
        let ip = frame.get(14..).unwrap_or(&[]);
        let ihl = usize::from(ip.first().copied().unwrap_or(0) & 0x0f) * 4;
        let proto = word::<1>(ip, 9);
        let addrs = word::<8>(ip, 12);
        // Ports only for the first fragment of TCP (6) or UDP (17).
        let frag = word::<2>(ip, 6) & 0x3fff;
        let ports = if (proto == 6 || proto == 17) && frag == 0 && ihl >= 20 {
            word::<4>(ip, ihl)
        } else {
            0
        };
        h ^= addrs.wrapping_mul(K[2]) ^ (proto << 32 | ports).wrapping_mul(K[3]);
    }
    // Finalise: fold the well-mixed high bits down, once more through a multiply.
    h ^= h >> 29;
    h = h.wrapping_mul(K[0]);
    (h ^ (h >> 32)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_frames_hash_without_panicking() {
        for len in 0..80 {
            let f = vec![0x45u8; len];
            let _ = inner_flow_hash(&f);
        }
    }

    #[test]
    fn ports_change_the_hash() {
        let mut f = vec![0u8; 14 + 20 + 8];
        f[12] = 0x08;
        f[14] = 0x45;
        f[14 + 9] = 17;
        let a = inner_flow_hash(&f);
        f[14 + 20] = 1;
        let b = inner_flow_hash(&f);
        assert_ne!(a, b);
    }

    /// A UDP/IPv4 frame from the given fields.
    fn frame(
        dst: [u8; 6],
        src: [u8; 6],
        sip: [u8; 4],
        dip: [u8; 4],
        proto: u8,
        sport: u16,
        dport: u16,
    ) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 8];
        f[..6].copy_from_slice(&dst);
        f[6..12].copy_from_slice(&src);
        f[12] = 0x08;
        f[14] = 0x45;
        f[14 + 9] = proto;
        f[14 + 12..14 + 16].copy_from_slice(&sip);
        f[14 + 16..14 + 20].copy_from_slice(&dip);
        f[34..36].copy_from_slice(&sport.to_be_bytes());
        f[36..38].copy_from_slice(&dport.to_be_bytes());
        f
    }

    #[test]
    fn every_field_changes_the_hash() {
        let base = frame(
            [2, 0, 0, 0, 0, 1],
            [2, 0, 0, 0, 0, 2],
            [10, 0, 0, 1],
            [10, 0, 0, 2],
            17,
            1000,
            53,
        );
        let h = inner_flow_hash(&base);
        let variants = [
            frame(
                [2, 0, 0, 0, 0, 9],
                [2, 0, 0, 0, 0, 2],
                [10, 0, 0, 1],
                [10, 0, 0, 2],
                17,
                1000,
                53,
            ),
            frame(
                [2, 0, 0, 0, 0, 1],
                [2, 0, 0, 0, 0, 9],
                [10, 0, 0, 1],
                [10, 0, 0, 2],
                17,
                1000,
                53,
            ),
            frame(
                [2, 0, 0, 0, 0, 1],
                [2, 0, 0, 0, 0, 2],
                [10, 0, 0, 9],
                [10, 0, 0, 2],
                17,
                1000,
                53,
            ),
            frame(
                [2, 0, 0, 0, 0, 1],
                [2, 0, 0, 0, 0, 2],
                [10, 0, 0, 1],
                [10, 0, 0, 9],
                17,
                1000,
                53,
            ),
            frame(
                [2, 0, 0, 0, 0, 1],
                [2, 0, 0, 0, 0, 2],
                [10, 0, 0, 1],
                [10, 0, 0, 2],
                6,
                1000,
                53,
            ),
            frame(
                [2, 0, 0, 0, 0, 1],
                [2, 0, 0, 0, 0, 2],
                [10, 0, 0, 1],
                [10, 0, 0, 2],
                17,
                1001,
                53,
            ),
            frame(
                [2, 0, 0, 0, 0, 1],
                [2, 0, 0, 0, 0, 2],
                [10, 0, 0, 1],
                [10, 0, 0, 2],
                17,
                1000,
                54,
            ),
        ];
        for (i, v) in variants.iter().enumerate() {
            assert_ne!(inner_flow_hash(v), h, "variant {i}");
        }
        // Swapping the two addresses is a different flow direction, with its own hash.
        let swapped = frame(
            [2, 0, 0, 0, 0, 1],
            [2, 0, 0, 0, 0, 2],
            [10, 0, 0, 2],
            [10, 0, 0, 1],
            17,
            1000,
            53,
        );
        assert_ne!(inner_flow_hash(&swapped), h);
    }

    #[test]
    fn non_first_fragments_and_other_protocols_ignore_ports() {
        let mut a = frame([2; 6], [4; 6], [10, 0, 0, 1], [10, 0, 0, 2], 17, 1, 2);
        let mut b = frame([2; 6], [4; 6], [10, 0, 0, 1], [10, 0, 0, 2], 17, 3, 4);
        // Fragment offset 8: the "ports" are payload.
        a[14 + 7] = 1;
        b[14 + 7] = 1;
        assert_eq!(inner_flow_hash(&a), inner_flow_hash(&b));
        let a = frame([2; 6], [4; 6], [10, 0, 0, 1], [10, 0, 0, 2], 47, 1, 2);
        let b = frame([2; 6], [4; 6], [10, 0, 0, 1], [10, 0, 0, 2], 47, 3, 4);
        assert_eq!(inner_flow_hash(&a), inner_flow_hash(&b));
    }

    #[test]
    fn flows_spread_over_a_port_range() {
        // 4096 flows differing only in the UDP source port, mapped like PipelineSettings does
        // onto 16 ports: every port gets a fair share.
        let mut buckets = [0u32; 16];
        for sport in 0..4096u16 {
            let f = frame(
                [2; 6],
                [4; 6],
                [10, 0, 0, 1],
                [10, 0, 0, 2],
                17,
                sport,
                4789,
            );
            let h = inner_flow_hash(&f);
            buckets[((u64::from(h) * 16) >> 32) as usize] += 1;
        }
        for (i, n) in buckets.iter().enumerate() {
            assert!(
                (160..=352).contains(n),
                "bucket {i}: {n} of 4096 (expected 256)"
            );
        }
    }
}
