//! The hash of an inner flow that picks the outer UDP source port, so the underlay's ECMP
//! spreads tunnels' flows the way it would spread the flows themselves (RFC 7348 §5).
//!
//! It covers the inner MAC pair and ethertype, and for IPv4 the addresses, protocol and (for
//! unfragmented TCP/UDP) the ports. Every read is bounds-checked: a short frame hashes what it
//! has.
//!
//! # Design
//! The fields are gathered into four 64-bit words — both MACs and the ethertype in two, the
//! IPv4 addresses in the third, protocol and ports in the fourth — and mixed by two
//! independent folded multiplies (64 × 64 → 128 bits, halves xored), which already carry every
//! input bit into every output bit, so no finalising round follows. The common frame (IPv4
//! without options, or anything not IPv4, at least 38 bytes past the MACs' start) is read
//! through fixed-size arrays after one length check: no per-field bounds checks or branches.
//! Anything else takes a slower path that gathers the very same words field by field, so both
//! paths give one hash per frame.
//!
//! [`flow_hash_at`] hashes a frame whose L3 header does not start at byte 14 (a still-tagged
//! 802.1Q frame), so encap can hash while it parses the header, before stripping the tag.

/// Odd 64-bit constants (fractional digits of π and of the golden ratio). `K[1]` and `K[3]`
/// have bits set where their words are always zero (bits 48..64 of the MAC/ethertype word,
/// bits 8..32 of the protocol/ports word), so those multiplier operands are never zero and
/// the other operand always counts.
const K: [u64; 4] = [
    0x9e37_79b9_7f4a_7c15,
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7345,
    0xa409_3822_299f_31d1,
];

/// L4 header start of the fast path: IPv4 without options.
const FAST_IHL: usize = 20;
/// Ethertype + IPv4 header without options + the two ports.
const FAST_TAIL: usize = 2 + FAST_IHL + 4;

/// Multiplies to 128 bits and folds the halves together.
#[inline(always)]
fn folded_mul(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// Mixes the four gathered words into 32 bits.
#[inline(always)]
fn mix(macs_lo: u64, macs_hi: u64, addrs: u64, proto_ports: u64) -> u32 {
    let h =
        folded_mul(macs_lo ^ K[0], macs_hi ^ K[1]) ^ folded_mul(addrs ^ K[2], proto_ports ^ K[3]);
    (h ^ (h >> 32)) as u32
}

/// The protocol/ports word: ports only for the first fragment of TCP (6) or UDP (17).
#[inline(always)]
fn proto_ports(proto: u8, frag: [u8; 2], ports: [u8; 4]) -> u64 {
    let first_fragment = u16::from_be_bytes(frag) & 0x3fff == 0;
    let ports = if (proto == 6 || proto == 17) && first_fragment {
        u64::from(u32::from_le_bytes(ports))
    } else {
        0
    };
    u64::from(proto) | ports << 32
}

/// The word holding bytes 8..12 (end of the source MAC) and the ethertype.
#[inline(always)]
fn macs_hi(src_tail: [u8; 4], ethertype: [u8; 2]) -> u64 {
    u64::from(u32::from_le_bytes(src_tail)) | u64::from(u16::from_le_bytes(ethertype)) << 32
}

/// Hashes an untagged inner Ethernet frame into 32 bits. Not meant to resist an adversary;
/// it only has to spread flows over the source-port range.
#[inline]
pub fn inner_flow_hash(frame: &[u8]) -> u32 {
    flow_hash_at(frame, 14)
}

/// Hashes the frame's flow as [`inner_flow_hash`] would after removing everything between the
/// MACs and the ethertype: the MACs are bytes 0..12, the ethertype the two bytes before `l3`
/// and the L3 header starts at `l3` (18 for one 802.1Q tag). `l3 < 14` hashes no ethertype.
#[inline(always)]
pub fn flow_hash_at(frame: &[u8], l3: usize) -> u32 {
    let macs = frame.first_chunk::<12>();
    let tail = frame
        .get(l3.wrapping_sub(2)..)
        .and_then(<[u8]>::first_chunk::<FAST_TAIL>);
    let (Some(macs), Some(tail), true) = (macs, tail, l3 >= 14) else {
        return flow_hash_slow(frame, l3);
    };
    let [e0, e1, ip @ ..] = *tail;
    let is_ipv4 = [e0, e1] == [0x08, 0x00];
    if is_ipv4 && ip[0] & 0x0f != 5 {
        // IPv4 options move the ports: rare, done field by field.
        return flow_hash_slow(frame, l3);
    }
    let [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11] = *macs;
    let lo = u64::from_le_bytes([m0, m1, m2, m3, m4, m5, m6, m7]);
    let hi = macs_hi([m8, m9, m10, m11], [e0, e1]);
    let (addrs, pp) = if is_ipv4 {
        let [_, _, _, _, _, _, f0, f1, _, proto, _, _, a0, a1, a2, a3, a4, a5, a6, a7, p0, p1, p2, p3] =
            ip;
        (
            u64::from_le_bytes([a0, a1, a2, a3, a4, a5, a6, a7]),
            proto_ports(proto, [f0, f1], [p0, p1, p2, p3]),
        )
    } else {
        (0, 0)
    };
    mix(lo, hi, addrs, pp)
}

/// `N` bytes at `at`, or zeros when the frame is shorter.
#[inline(always)]
fn bytes<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    b.get(at..)
        .and_then(<[u8]>::first_chunk::<N>)
        .copied()
        .unwrap_or([0; N])
}

/// The same words as the fast path, gathered field by field: for short frames, IPv4 options
/// and odd `l3` offsets. A field the frame does not fully hold counts as zero.
#[inline(never)]
fn flow_hash_slow(frame: &[u8], l3: usize) -> u32 {
    let lo = u64::from_le_bytes(bytes::<8>(frame, 0));
    let ethertype = match l3.checked_sub(2) {
        Some(at) if l3 >= 14 => bytes::<2>(frame, at),
        _ => [0; 2],
    };
    let hi = macs_hi(bytes::<4>(frame, 8), ethertype);
    let (addrs, pp) = if ethertype == [0x08, 0x00] {
        let ip = frame.get(l3..).unwrap_or(&[]);
        let ihl = usize::from(ip.first().copied().unwrap_or(0) & 0x0f) * 4;
        let [proto] = bytes::<1>(ip, 9);
        let ports = if ihl >= 20 {
            bytes::<4>(ip, ihl)
        } else {
            [0; 4]
        };
        (
            u64::from_le_bytes(bytes::<8>(ip, 12)),
            proto_ports(proto, bytes::<2>(ip, 6), ports),
        )
    } else {
        (0, 0)
    };
    mix(lo, hi, addrs, pp)
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

    /// A small deterministic generator, so the tests need no extra dependency.
    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn fast_and_slow_paths_agree() {
        let mut st = 0x1234_5678_9abc_def1u64;
        for i in 0..2000 {
            let len = 38 + (i % 40);
            let mut f: Vec<u8> = (0..len).map(|_| xorshift(&mut st) as u8).collect();
            match i % 4 {
                // IPv4 without options, TCP or UDP, sometimes fragmented.
                0 | 1 => {
                    f[12] = 0x08;
                    f[13] = 0x00;
                    f[14] = 0x45;
                    f[14 + 9] = if i % 8 < 4 { 6 } else { 17 };
                    if i % 3 == 0 {
                        f[14 + 6] &= 0xc0;
                        f[14 + 7] = 0;
                    }
                }
                // IPv4, another protocol.
                2 => {
                    f[12] = 0x08;
                    f[13] = 0x00;
                    f[14] = 0x45;
                }
                // Whatever ethertype came out (almost never IPv4).
                _ => {}
            }
            if f[12..14] == [0x08, 0x00] && f[14] & 0x0f != 5 {
                continue;
            }
            assert_eq!(
                inner_flow_hash(&f),
                flow_hash_slow(&f, 14),
                "frame {i}: {f:02x?}"
            );
        }
    }

    #[test]
    fn tagged_frame_hashes_like_the_stripped_one() {
        let mut st = 0x0bad_cafe_f00d_0001u64;
        for i in 0..200 {
            let mut inner = frame(
                [2, 0, 0, 0, 0, i as u8],
                [4, 0, 0, 0, 1, 7],
                [10, 0, 0, 1],
                [10, 0, (i >> 3) as u8, 2],
                if i % 2 == 0 { 6 } else { 17 },
                xorshift(&mut st) as u16,
                xorshift(&mut st) as u16,
            );
            if i % 5 == 0 {
                inner[12] = 0x86;
                inner[13] = 0xdd;
            }
            inner.resize(60, 0x77);
            let mut tagged = inner[..12].to_vec();
            tagged.extend_from_slice(&[0x81, 0x00, 0x00, 100]);
            tagged.extend_from_slice(&inner[12..]);
            assert_eq!(
                flow_hash_at(&tagged, 18),
                inner_flow_hash(&inner),
                "frame {i}"
            );
        }
    }

    #[test]
    fn ports_after_ipv4_options_change_the_hash() {
        // IHL 6: one option word, the ports start at IP byte 24.
        let mut f = vec![0u8; 14 + 24 + 8];
        f[12] = 0x08;
        f[14] = 0x46;
        f[14 + 9] = 6;
        let a = inner_flow_hash(&f);
        f[14 + 24] = 1;
        let b = inner_flow_hash(&f);
        f[14 + 20] = 9;
        let c = inner_flow_hash(&f);
        assert_ne!(a, b);
        assert_eq!(b, c, "the option word is not a port");
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
