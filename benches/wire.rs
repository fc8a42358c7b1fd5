//! Benchmarks: the wire views on the hot path.
//!
//! - `wire::parse_vxlan`: parse a whole underlay packet (outer Ethernet/IPv4/UDP/VXLAN and the
//!   inner Ethernet header) the way the decap path does, checksum verification included.
//! - `wire::ipv4_checksum`: compute a 20-byte IPv4 header checksum (encap does this per packet).
//! - `wire::build_vxlan`: write the 50 bytes of outer headers the encap path prepends.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::net::Ipv4Addr;

use criterion::{criterion_group, criterion_main, Criterion};
use vxgate::types::{MacAddr, Vni};
use vxgate::wire::{checksum, ethernet, ipv4, udp, vxlan, EtherType, IpProtocol, Ipv4Repr};

const OUTER_LEN: usize =
    ethernet::HEADER_LEN + ipv4::HEADER_LEN + udp::HEADER_LEN + vxlan::HEADER_LEN;
const INNER_LEN: usize = 128;

fn outer_repr() -> Ipv4Repr {
    Ipv4Repr {
        src_addr: Ipv4Addr::new(10, 0, 0, 1),
        dst_addr: Ipv4Addr::new(10, 0, 0, 2),
        protocol: IpProtocol::Udp,
        payload_len: udp::HEADER_LEN + vxlan::HEADER_LEN + INNER_LEN,
        ttl: 64,
        dont_frag: true,
        ident: 0,
    }
}

fn build(buf: &mut [u8], vni: Vni) -> bool {
    let repr = outer_repr();
    let udp_len = (udp::HEADER_LEN + vxlan::HEADER_LEN + INNER_LEN) as u16;
    ethernet::emit_header(
        buf,
        MacAddr([2, 0, 0, 0, 0, 2]),
        MacAddr([2, 0, 0, 0, 0, 1]),
        EtherType::Ipv4,
    ) && repr.emit(&mut buf[14..], true)
        && udp::emit_header(&mut buf[34..], 49152, vxlan::UDP_PORT, udp_len, 0)
        && vxlan::emit_header(&mut buf[42..], vni)
}

fn packet() -> Vec<u8> {
    let mut buf = vec![0u8; OUTER_LEN + INNER_LEN];
    assert!(build(&mut buf, Vni::new(5000).unwrap()));
    assert!(ethernet::emit_header(
        &mut buf[OUTER_LEN..],
        MacAddr([2, 0, 0, 0, 1, 2]),
        MacAddr([2, 0, 0, 0, 1, 1]),
        EtherType::Ipv4,
    ));
    buf
}

/// What decap reads: returns the VNI and the inner destination MAC, or None on any failure.
fn parse(buf: &[u8]) -> Option<(Vni, MacAddr)> {
    let eth = ethernet::Frame::new_checked(buf).ok()?;
    if eth.ethertype() != EtherType::Ipv4 {
        return None;
    }
    let ip = ipv4::Packet::new_checked(eth.payload()).ok()?;
    if !ip.verify_checksum() || ip.is_fragment() || ip.protocol() != IpProtocol::Udp {
        return None;
    }
    let u = udp::Packet::new_checked(ip.payload()).ok()?;
    if u.dst_port() != vxlan::UDP_PORT {
        return None;
    }
    let vx = vxlan::Packet::new_checked(u.payload()).ok()?;
    if !vx.i_flag() {
        return None;
    }
    let vni = vx.vni()?;
    let inner = ethernet::Frame::new_checked(vx.payload()).ok()?;
    Some((vni, inner.dst_addr()))
}

fn benches(c: &mut Criterion) {
    let pkt = packet();
    assert!(parse(&pkt).is_some());
    c.bench_function("wire::parse_vxlan", |b| b.iter(|| parse(black_box(&pkt))));

    let hdr: [u8; 20] = pkt[14..34].try_into().unwrap();
    c.bench_function("wire::ipv4_checksum", |b| {
        b.iter(|| checksum::ipv4_header(black_box(&hdr)))
    });

    let mut out = [0u8; OUTER_LEN];
    let vni = Vni::new(5000).unwrap();
    c.bench_function("wire::build_vxlan", |b| {
        b.iter(|| build(black_box(&mut out), black_box(vni)))
    });
}

criterion_group!(wire, benches);
criterion_main!(wire);
