//! Hostile frames for robustness tests and replays: every way a frame can be cut short or
//! lie about itself, built from one valid frame so each differs from a frame vxgate forwards
//! in exactly one respect. `vxgate pcap-gen --hostile` mixes them into its files (a valid frame
//! after each); `tests/dpdk_hostile.rs` runs them through the DPDK path and compares with the
//! software pipeline.
//!
//! Indexing into the frames below is by offsets of the standard headers of `base`, which the
//! callers build (pcap-gen output): an untagged outer IPv4 VXLAN frame for [`underlay`], an
//! 802.1Q-tagged frame for [`access`]. Shorter inputs are returned as they are.
#![allow(clippy::indexing_slicing)]

/// An ARP request from `sha`/`spa` for `tpa`, broadcast, unpadded (42 bytes).
fn arp_request(sha: [u8; 6], spa: [u8; 4], tpa: [u8; 4]) -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&sha);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    f.extend_from_slice(&sha);
    f.extend_from_slice(&spa);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&tpa);
    f
}

fn refresh_ipv4_checksum(f: &mut [u8], ip_at: usize) {
    let ihl = usize::from(f[ip_at] & 0x0f) * 4;
    if ihl < 20 || f.len() < ip_at + ihl {
        return;
    }
    f[ip_at + 10..ip_at + 12].copy_from_slice(&[0, 0]);
    let sum = crate::wire::checksum::ipv4_header(&f[ip_at..ip_at + ihl]);
    f[ip_at + 10..ip_at + 12].copy_from_slice(&sum.to_be_bytes());
}

/// Hostile underlay frames built from a valid VXLAN frame `base` (untagged outer IPv4, at
/// least 66 bytes), addressed to the VTEP `target`; 9 KB frames too with `jumbo`.
pub fn underlay(base: &[u8], target: [u8; 4], jumbo: bool) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    if base.len() < 66 {
        return v;
    }
    // Truncated at every offset: Ethernet, IPv4, UDP, VXLAN and the inner header.
    for len in 0..(14 + 20 + 8 + 8 + 14 + 2) {
        v.push(base[..len].to_vec());
    }
    let edit = |f: &dyn Fn(&mut Vec<u8>), fix: bool| {
        let mut x = base.to_vec();
        f(&mut x);
        if fix {
            refresh_ipv4_checksum(&mut x, 14);
        }
        x
    };
    // IHL other than 5: too small, and options that run into the UDP header.
    for ihl in [0u8, 1, 4, 6, 7, 15] {
        v.push(edit(&|x| x[14] = 0x40 | ihl, true));
    }
    // Version 6 in an IPv4 ethertype.
    v.push(edit(&|x| x[14] = 0x65, true));
    // Total length: zero, below the header, one short, one long, maximal.
    let total = u16::from_be_bytes([base[16], base[17]]);
    for t in [
        0u16,
        19,
        20,
        total.wrapping_sub(1),
        total.wrapping_add(1),
        0xffff,
    ] {
        v.push(edit(&|x| x[16..18].copy_from_slice(&t.to_be_bytes()), true));
    }
    // A real IPv4 option (NOP NOP NOP EOL) with the header grown to 24 bytes.
    v.push({
        let mut x = base[..34].to_vec();
        x.extend_from_slice(&[1, 1, 1, 0]);
        x.extend_from_slice(&base[34..]);
        x[14] = 0x46;
        let t = u16::from_be_bytes([x[16], x[17]]).wrapping_add(4);
        x[16..18].copy_from_slice(&t.to_be_bytes());
        refresh_ipv4_checksum(&mut x, 14);
        x
    });
    // Fragments: more fragments, an offset, both, and DF with an offset.
    for flags in [0x2000u16, 0x0010, 0x2010, 0x4010] {
        v.push(edit(
            &|x| x[20..22].copy_from_slice(&flags.to_be_bytes()),
            true,
        ));
    }
    // A bad header checksum, another protocol, TTL 0.
    v.push(edit(&|x| x[24] ^= 0xff, false));
    v.push(edit(&|x| x[23] = 6, true));
    v.push(edit(&|x| x[22] = 0, true));
    // UDP: another destination port, a length too short, too long, zero.
    v.push(edit(
        &|x| x[36..38].copy_from_slice(&4790u16.to_be_bytes()),
        true,
    ));
    for l in [0u16, 7, 8, 15, 0xffff] {
        v.push(edit(&|x| x[38..40].copy_from_slice(&l.to_be_bytes()), true));
    }
    // VXLAN: I flag clear, reserved bits set (RFC 7348: ignored on receipt), unknown VNI.
    v.push(edit(&|x| x[42] = 0, true));
    v.push(edit(&|x| x[42] = 0xff, true));
    v.push(edit(
        &|x| x[43..46].copy_from_slice(&[0xaa, 0xbb, 0xcc]),
        true,
    ));
    v.push(edit(&|x| x[49] = 0x5a, true));
    v.push(edit(
        &|x| x[46..49].copy_from_slice(&[0x00, 0x1b, 0x5a]),
        true,
    ));
    // Outer sources that cannot be a VTEP, or are the gateway itself.
    for src in [
        [224, 0, 0, 1],
        [255, 255, 255, 255],
        [0, 0, 0, 0],
        [192, 0, 2, 1],
    ] {
        v.push(edit(&|x| x[26..30].copy_from_slice(&src), true));
    }
    v.push(edit(
        &|x| x[6..12].copy_from_slice(&[1, 0, 0x5e, 0, 0, 1]),
        true,
    ));
    v.push(edit(
        &|x| x[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]),
        true,
    ));
    // To a multicast group not joined, to broadcast, and to another MAC.
    v.push(edit(&|x| x[30..34].copy_from_slice(&[239, 9, 9, 9]), true));
    v.push(edit(&|x| x[0..6].copy_from_slice(&[0xff; 6]), true));
    v.push(edit(
        &|x| x[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 0x77]),
        true,
    ));
    // Two VLAN tags (802.1ad then 802.1Q, and 802.1Q twice) in front of the IPv4 header.
    for outer in [0x88a8u16, 0x8100] {
        let mut x = base[..12].to_vec();
        x.extend_from_slice(&outer.to_be_bytes());
        x.extend_from_slice(&[0, 10, 0x81, 0x00, 0, 20]);
        x.extend_from_slice(&base[12..]);
        v.push(x);
    }
    // Runts of garbage, an inner frame cut inside its header, frames over the MTU.
    for n in [1usize, 13, 14, 59, 60] {
        v.push(vec![0xa5; n]);
    }
    for size in [1518usize, 1600, 2000] {
        let mut x = base.to_vec();
        x.resize(size, 0x33);
        v.push(x);
    }
    if jumbo {
        let mut x = base.to_vec();
        x.resize(9000, 0x44);
        v.push(x);
    }
    // ARP with bad lengths and an unknown operation, and truncated.
    let arp_req = arp_request([2, 0, 0, 0, 0, 0x99], [192, 0, 2, 99], target);
    for (at, val) in [(18usize, 7u8), (19, 5), (21, 3), (16, 0x86)] {
        let mut x = arp_req.clone();
        x[at] = val;
        v.push(x);
    }
    for len in [15usize, 20, 30, 41] {
        v.push(arp_req[..len].to_vec());
    }
    // IPv6 on a gateway without an IPv6 address, and an unknown ethertype.
    v.push(edit(&|x| x[12..14].copy_from_slice(&[0x86, 0xdd]), false));
    v.push(edit(&|x| x[12..14].copy_from_slice(&[0x88, 0xb5]), false));
    v
}

/// Hostile access frames built from a valid 802.1Q-tagged access frame `base` (at least 20
/// bytes), one of them addressed to `gateway_mac`; 9 KB frames too with `jumbo`.
pub fn access(base: &[u8], gateway_mac: [u8; 6], jumbo: bool) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    if base.len() < 20 {
        return v;
    }
    for len in 0..20 {
        v.push(base[..len.min(base.len())].to_vec());
    }
    // Two tags, a tag for an unmapped VLAN, a priority tag, a multicast source.
    let mut x = base[..12].to_vec();
    x.extend_from_slice(&[0x88, 0xa8, 0, 100]);
    x.extend_from_slice(&base[12..]);
    v.push(x);
    let mut x = base.to_vec();
    x[14..16].copy_from_slice(&[0, 200]);
    v.push(x);
    let mut x = base.to_vec();
    x[14..16].copy_from_slice(&[0xe0, 0]);
    v.push(x);
    let mut x = base.to_vec();
    x[6] = 0x01;
    v.push(x);
    // To the gateway's own MAC, and over the MTU once encapsulated.
    let mut x = base.to_vec();
    x[0..6].copy_from_slice(&gateway_mac);
    v.push(x);
    for size in [1500usize, 1518, 2000] {
        let mut x = base.to_vec();
        x.resize(size, 0x55);
        v.push(x);
    }
    if jumbo {
        let mut x = base.to_vec();
        x.resize(9000, 0x66);
        v.push(x);
    }
    v
}

/// Hostile frames with a valid one after each, then the rest of the valid ones.
pub fn interleave(hostile: Vec<Vec<u8>>, valid: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut good = valid.iter().cycle();
    for h in hostile {
        out.push(h);
        out.extend(good.next().cloned());
    }
    out.extend(valid.iter().cloned());
    out
}
