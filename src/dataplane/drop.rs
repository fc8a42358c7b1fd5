//! Every reason a packet can be dropped, in one enum: the single drop path counts by it, the
//! metrics export one series per variant (all present from start), and tests assert on it.

/// Why a packet was not forwarded. The discriminant indexes the per-worker drop counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(usize)]
pub enum DropReason {
    /// Shorter than an Ethernet header, or a truncated 802.1Q tag.
    Malformed = 0,
    /// Access frame on a VLAN (or untagged) that no VNI maps.
    UnknownVlan,
    /// Broadcast, multicast or unknown unicast in a VNI without a flood list.
    NoFloodList,
    /// The encapsulated packet would exceed the underlay MTU (VTEPs do not fragment).
    MtuExceeded,
    /// The remote VTEP's next-hop MAC is not resolved yet (resolution was requested).
    NoNeighbor,
    /// Not enough headroom to prepend the outer headers.
    NoHeadroom,
    /// The buffer pool ran dry while replicating or building a reply.
    NoBuffers,
    /// The transmit queue stayed full after the bounded retries.
    TxFull,
    /// Underlay frame whose destination MAC is neither ours nor broadcast.
    NotOurMac,
    /// Underlay frame that is neither IPv4 nor ARP.
    UnsupportedEthertype,
    /// Outer IPv4 header invalid: version, header length or total length.
    BadIpv4Header,
    /// Outer IPv4 header checksum wrong.
    BadIpv4Checksum,
    /// Outer IPv4 fragment (VTEPs do not reassemble).
    Ipv4Fragment,
    /// Outer destination is neither the VTEP address nor a joined multicast group.
    NotOurIp,
    /// Outer IPv4 protocol other than UDP or ICMP.
    UnsupportedIpProto,
    /// UDP header truncated or with an impossible length.
    BadUdp,
    /// UDP destination port is not the configured VXLAN port.
    WrongUdpPort,
    /// VXLAN header truncated or without the I flag.
    BadVxlanFlags,
    /// VXLAN VNI not configured on this gateway.
    UnknownVni,
    /// Inner Ethernet frame truncated.
    BadInnerFrame,
    /// ARP that is not a request for, or a reply to, the VTEP address.
    ArpNotForUs,
    /// ICMP to the VTEP address other than a valid echo request.
    IcmpNotEcho,
    /// Access frame for a MAC that is itself behind the access side (the segment delivers it;
    /// tunnelling it would loop it back).
    LocalDestination,
    /// A tunnel towards an IPv6 VTEP, but the gateway has no IPv6 address (`vtep.ip6`).
    NoIpv6Underlay,
    /// Outer IPv6 header invalid: version, or a payload length beyond the frame.
    BadIpv6Header,
    /// Outer IPv6 next header other than UDP or ICMPv6 (extension headers included).
    Ipv6NextHeader,
    /// UDP checksum wrong, or zero over IPv6 without `udp6_zero_checksum_rx`.
    BadUdpChecksum,
    /// ICMPv6 to the VTEP other than an echo request or a neighbour solicitation or
    /// advertisement (with a valid checksum and hop limit 255 for neighbour discovery).
    Icmpv6NotHandled,
    /// IGMP other than a membership query (reports of other hosts are not for us).
    IgmpNotQuery,
    /// VXLAN whose outer source address cannot be a VTEP (multicast, broadcast, unspecified):
    /// learning it would point entries at a group or at nothing.
    BadOuterSource,
}

impl DropReason {
    pub const COUNT: usize = 30;

    pub const ALL: [DropReason; Self::COUNT] = [
        DropReason::Malformed,
        DropReason::UnknownVlan,
        DropReason::NoFloodList,
        DropReason::MtuExceeded,
        DropReason::NoNeighbor,
        DropReason::NoHeadroom,
        DropReason::NoBuffers,
        DropReason::TxFull,
        DropReason::NotOurMac,
        DropReason::UnsupportedEthertype,
        DropReason::BadIpv4Header,
        DropReason::BadIpv4Checksum,
        DropReason::Ipv4Fragment,
        DropReason::NotOurIp,
        DropReason::UnsupportedIpProto,
        DropReason::BadUdp,
        DropReason::WrongUdpPort,
        DropReason::BadVxlanFlags,
        DropReason::UnknownVni,
        DropReason::BadInnerFrame,
        DropReason::ArpNotForUs,
        DropReason::IcmpNotEcho,
        DropReason::LocalDestination,
        DropReason::NoIpv6Underlay,
        DropReason::BadIpv6Header,
        DropReason::Ipv6NextHeader,
        DropReason::BadUdpChecksum,
        DropReason::Icmpv6NotHandled,
        DropReason::IgmpNotQuery,
        DropReason::BadOuterSource,
    ];

    /// The label used in metrics and summaries (snake_case, stable).
    pub const fn as_str(self) -> &'static str {
        match self {
            DropReason::Malformed => "malformed",
            DropReason::UnknownVlan => "unknown_vlan",
            DropReason::NoFloodList => "no_flood_list",
            DropReason::MtuExceeded => "mtu_exceeded",
            DropReason::NoNeighbor => "no_neighbor",
            DropReason::NoHeadroom => "no_headroom",
            DropReason::NoBuffers => "no_buffers",
            DropReason::TxFull => "tx_full",
            DropReason::NotOurMac => "not_our_mac",
            DropReason::UnsupportedEthertype => "unsupported_ethertype",
            DropReason::BadIpv4Header => "bad_ipv4_header",
            DropReason::BadIpv4Checksum => "bad_ipv4_checksum",
            DropReason::Ipv4Fragment => "ipv4_fragment",
            DropReason::NotOurIp => "not_our_ip",
            DropReason::UnsupportedIpProto => "unsupported_ip_proto",
            DropReason::BadUdp => "bad_udp",
            DropReason::WrongUdpPort => "wrong_udp_port",
            DropReason::BadVxlanFlags => "bad_vxlan_flags",
            DropReason::UnknownVni => "unknown_vni",
            DropReason::BadInnerFrame => "bad_inner_frame",
            DropReason::ArpNotForUs => "arp_not_for_us",
            DropReason::IcmpNotEcho => "icmp_not_echo",
            DropReason::LocalDestination => "local_destination",
            DropReason::NoIpv6Underlay => "no_ipv6_underlay",
            DropReason::BadIpv6Header => "bad_ipv6_header",
            DropReason::Ipv6NextHeader => "ipv6_next_header",
            DropReason::BadUdpChecksum => "bad_udp_checksum",
            DropReason::Icmpv6NotHandled => "icmpv6_not_handled",
            DropReason::IgmpNotQuery => "igmp_not_query",
            DropReason::BadOuterSource => "bad_outer_source",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_reason_in_discriminant_order() {
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i, "{r:?}");
        }
        let mut names: Vec<_> = DropReason::ALL.iter().map(|r| r.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DropReason::COUNT);
    }
}
