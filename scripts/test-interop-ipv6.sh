#!/usr/bin/env bash
# Interoperability over an IPv6 underlay: vxgate (IPv6 only: no vtep.ip) and the Linux kernel's
# VXLAN device (`type vxlan id 5000 local fd00::2 remote fd00::1`) share VNI 5000.
#
#   HOST ns                    GW ns (vxgate on af_packet)                VTEP ns
#   veth 10.50.0.1/24 ---- acc [ vxgate fd00::1, VNI 5000 ] und ------ veth fd00::2/64
#                                                                        vx0 (kernel VXLAN over IPv6)
#                                                                            10.50.0.2/24
#
# Checks: ping and a TCP stream both ways through the tunnel; neighbour discovery both ways
# (vxgate's neighbour table has fd00::2 resolved to the VTEP's MAC, the kernel's has fd00::1
# at vxgate's); vxgate answers ICMPv6 echo for fd00::1; learning (vx0's MAC behind fd00::2);
# UDP checksums on both ways (the kernel drops zero-checksum VXLAN over IPv6 by default, so
# every decapsulated frame on its side proves vxgate's checksums right); per-tunnel counters;
# a clean stop.
#
# Usage (as root): scripts/test-interop-ipv6.sh. Environment as in scripts/lib/interop.sh.
set -euo pipefail

NAME=interop-ipv6
TAG=vxg6
# shellcheck source=scripts/lib/interop.sh
source "$(dirname "$0")/lib/interop.sh"
interop_init

three_namespaces ipv6
veth_up "$NS_HOST" 1430 10.50.0.1/24
veth_up "$NS_VTEP" 1500 fd00::2/64 nodad
ip -n "$NS_VTEP" link add vx0 type vxlan id 5000 local fd00::2 remote fd00::1 \
    dstport 4789 dev veth nolearning
# 1430 = 1500 - 70 bytes of VXLAN over IPv6 (Ethernet 14 + IPv6 40 + UDP 8 + VXLAN 8).
ip -n "$NS_VTEP" link set vx0 mtu 1430 up
ip -n "$NS_VTEP" addr add 10.50.0.2/24 dev vx0

UND_MAC=$(mac_of "$NS_GW" und)
VETH_MAC=$(mac_of "$NS_VTEP" veth)
VX0_MAC=$(mac_of "$NS_VTEP" vx0)
say "vxgate (und) MAC $UND_MAC, VTEP veth MAC $VETH_MAC, kernel vx0 MAC $VX0_MAC"

start_vxgate "$NS_GW" tests/interop/vxgate-ipv6.toml.in

# ---- checks -----------------------------------------------------------------------------------
PING_HOST=$(ip netns exec "$NS_HOST" ping -c 3 -W 2 10.50.0.2 2>&1) || fail "ping HOST -> 10.50.0.2 (vx0)"
say "HOST -> 10.50.0.2: $(summary_of "$PING_HOST")"
PING_VTEP=$(ip netns exec "$NS_VTEP" ping -c 3 -W 2 10.50.0.1 2>&1) || fail "ping VTEP -> 10.50.0.1 (host)"
say "VTEP -> 10.50.0.1: $(summary_of "$PING_VTEP")"
# Full-size overlay packets with DF: a 1430-byte inner IP packet is a 1500-byte outer IPv6 one.
PING_BIG=$(ip netns exec "$NS_HOST" ping -c 2 -W 2 -M "do" -s 1402 10.50.0.2 2>&1) ||
    fail "1430-byte ping HOST -> 10.50.0.2"
say "HOST -> 10.50.0.2 (1430 B, DF): $(summary_of "$PING_BIG")"
tcp_stream "$NS_VTEP" "$NS_HOST" 10.50.0.2 $((4 * 1024 * 1024))
TCP_FWD=$TCP_RATE
tcp_stream "$NS_HOST" "$NS_VTEP" 10.50.0.1 $((4 * 1024 * 1024))
TCP_REV=$TCP_RATE

FDB=
NEIGH=
for _ in $(seq 20); do
    FDB=$(ctl fdb list 2>&1 || true)
    NEIGH=$(ctl neighbor list 2>&1 || true)
    grep -Eqi "^5000 +$VX0_MAC +fd00::2 +learned" <<<"$FDB" &&
        grep -Eqi "^fd00::2 +$VETH_MAC +resolved" <<<"$NEIGH" && break
    sleep 0.1
done
grep -Eqi "^5000 +$VX0_MAC +fd00::2 +learned" <<<"$FDB" ||
    fail "vxgate FDB lacks vx0's MAC $VX0_MAC learned behind fd00::2"
grep -Eqi "^fd00::2 +$VETH_MAC +resolved" <<<"$NEIGH" ||
    fail "vxgate's neighbour table lacks fd00::2 resolved to $VETH_MAC"
TUNNELS=$(ctl tunnel list 2>&1 || true)
printf '%s\n' "---- vxgate fdb list ----" "$FDB" "---- vxgate neighbor list ----" "$NEIGH" \
    "---- vxgate tunnel list ----" "$TUNNELS"
read -r TX_PKTS RX_PKTS < <(awk '$2 == "fd00::2" { print $6, $8 }' <<<"$TUNNELS")
((${TX_PKTS:-0} > 1000 && ${RX_PKTS:-0} > 1000)) ||
    fail "tunnel fd00::2 counted tx ${TX_PKTS:-?} rx ${RX_PKTS:-?} packets (a TCP stream each way)"
TUN_METRIC=$(metric 'vxgate_tunnel_tx_packets_total{remote="fd00::2"}')
((TUN_METRIC == TX_PKTS || TUN_METRIC > TX_PKTS)) ||
    fail "vxgate_tunnel_tx_packets_total{remote=\"fd00::2\"} = $TUN_METRIC, tunnel list says $TX_PKTS"

# The kernel resolved fd00::1 by its own solicitation, answered by vxgate; make it ask again.
ip -n "$NS_VTEP" -6 neigh flush dev veth
PING6=$(ip netns exec "$NS_VTEP" ping -6 -c 2 -W 2 fd00::1 2>&1) || fail "ping VTEP -> fd00::1 (vxgate)"
say "VTEP -> fd00::1: $(summary_of "$PING6")"
KNEIGH=$(ip -n "$NS_VTEP" -6 neigh show fd00::1 dev veth)
say "VTEP kernel neighbour: $KNEIGH"
grep -qi "lladdr $UND_MAC" <<<"$KNEIGH" || fail "the kernel's neighbour entry for fd00::1 is not vxgate's MAC"
NS_SENT=$(metric vxgate_nd_solicits_total)
NA_SENT=$(metric vxgate_nd_adverts_total)
ECHO6=$(metric vxgate_icmpv6_replies_total)
((NS_SENT >= 1)) || fail "vxgate sent no neighbour solicitation"
((NA_SENT >= 1)) || fail "vxgate answered no neighbour solicitation"
((ECHO6 >= 2)) || fail "vxgate answered $ECHO6 ICMPv6 echo requests (2 sent)"
say "vxgate NS sent $NS_SENT, NA sent $NA_SENT, echo replies $ECHO6"
KDROPS=$(ip netns exec "$NS_VTEP" cat /proc/net/snmp6 | awk '$1 == "Udp6InCsumErrors" { print $2 }')
((${KDROPS:-0} == 0)) || fail "the kernel counted $KDROPS UDP checksum errors"

# ---- shutdown ---------------------------------------------------------------------------------
# The kernel's own MLD reports (hop-by-hop header) and router solicitations reach the underlay
# port too; they are counted drops, not errors.
stop_vxgate "no_neighbor ipv6_next_header icmpv6_not_handled"
finish "host->vx0 $(rtt "$PING_HOST"); vx0->host $(rtt "$PING_VTEP"); vtep->fd00::1 $(rtt "$PING6"); TCP $TCP_FWD / $TCP_REV; tunnel fd00::2 tx/rx $TX_PKTS/$RX_PKTS; NS/NA $NS_SENT/$NA_SENT"
