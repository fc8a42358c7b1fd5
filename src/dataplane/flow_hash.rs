//! The hash of an inner flow that picks the outer UDP source port, so the underlay's ECMP
//! spreads tunnels' flows the way it would spread the flows themselves (RFC 7348 §5).
//!
//! It covers the inner MAC pair and ethertype, and for IPv4 the addresses, protocol and (for
//! unfragmented TCP/UDP) the ports. Every read is bounds-checked: a short frame hashes what it
//! has.

#[inline(always)]
fn mix(h: u64, v: u64) -> u64 {
    // One round of a multiply-xorshift (in the spirit of wyhash/fxhash): cheap and good enough
    // to spread ports; it is not meant to resist an adversary.
    let x = (h ^ v).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^ (x >> 29)
}

#[inline(always)]
fn word(b: &[u8], at: usize, n: usize) -> u64 {
    let mut v = 0u64;
    if let Some(s) = b.get(at..at + n) {
        for &x in s {
            v = (v << 8) | u64::from(x);
        }
    }
    v
}

/// Hashes an untagged inner Ethernet frame into 32 bits.
#[inline]
pub fn inner_flow_hash(frame: &[u8]) -> u32 {
    let mut h = mix(0x243f_6a88_85a3_08d3, word(frame, 0, 6));
    h = mix(h, word(frame, 6, 6));
    let ethertype = word(frame, 12, 2);
    h = mix(h, ethertype);
    if ethertype == 0x0800 {
        let ip = frame.get(14..).unwrap_or(&[]);
        let ihl = usize::from(ip.first().copied().unwrap_or(0) & 0x0f) * 4;
        let proto = word(ip, 9, 1);
        h = mix(h, (word(ip, 12, 4) << 32) | word(ip, 16, 4));
        h = mix(h, proto);
        // Ports only for the first fragment of TCP (6) or UDP (17).
        let frag = word(ip, 6, 2) & 0x3fff;
        if (proto == 6 || proto == 17) && frag == 0 && ihl >= 20 {
            h = mix(h, word(ip, ihl, 4));
        }
    }
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
}
