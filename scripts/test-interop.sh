#!/usr/bin/env bash
# Interoperability test: vxgate against the Linux kernel's own VXLAN device.
#
#   HOST ns                    GW ns (vxgate on af_packet)                VTEP ns
#   veth 10.50.0.1/24 ---- acc [ vxgate 192.0.2.1, VNI 5000 ] und ---- veth 192.0.2.2/24
#                                                                        vx0 (kernel VXLAN, VNI 5000)
#                                                                            10.50.0.2/24
#
# Everything lives in three network namespaces this script creates and deletes (trap on EXIT,
# also on failure); nothing touches the root namespace's interfaces, addresses or routes, and no
# packet leaves the namespaces. vxgate has no static neighbour or FDB entry: it must resolve
# 192.0.2.2 by ARP, answer the kernel's ARP for 192.0.2.1 and learn vx0's MAC.
#
# Checks: ping both ways across the tunnel, vxgate's FDB (vx0's MAC learned behind 192.0.2.2)
# and neighbour table (192.0.2.2 resolved), the kernel's ARP entry for 192.0.2.1 (vxgate's
# MAC), then a clean SIGINT shutdown: exit status 0 and no mbuf still in use.
# scripts/test-interop-mcast.sh and scripts/test-interop-ipv6.sh do the same over a multicast
# group and over IPv6; scripts/lib/interop.sh holds what they share.
#
# Usage (as root): scripts/test-interop.sh     (builds target/debug/vxgate with `cargo build`)
# VXGATE=path/to/vxgate tests that binary instead (built with the default `dpdk` feature).
# KEEP_LOGS=1 keeps the vxgate log after the run; EAL_MODE=hugepages|nohuge overrides
# scripts/eal-mode.sh; KERNEL_VXLAN_OPTS adds options to the kernel VXLAN device (e.g. "udpcsum",
# "df set ttl 3"); KEEP_OFFLOADS=1 leaves the veths' offloads on (to see what they break).
set -euo pipefail

NAME=interop
TAG=vxgi
# shellcheck source=scripts/lib/interop.sh
source "$(dirname "$0")/lib/interop.sh"
interop_init

# ---- topology ---------------------------------------------------------------------------------
three_namespaces
veth_up "$NS_HOST" 1450 10.50.0.1/24
veth_up "$NS_VTEP" 1500 192.0.2.2/24
read -ra kernel_opts <<<"${KERNEL_VXLAN_OPTS:-}"
# `remote` makes the kernel send BUM (and, with nolearning, all unknown unicast) to vxgate.
ip -n "$NS_VTEP" link add vx0 type vxlan id 5000 local 192.0.2.2 remote 192.0.2.1 \
    dstport 4789 dev veth nolearning "${kernel_opts[@]}"
ip -n "$NS_VTEP" link set vx0 mtu 1450 up
ip -n "$NS_VTEP" addr add 10.50.0.2/24 dev vx0

UND_MAC=$(mac_of "$NS_GW" und)
VX0_MAC=$(mac_of "$NS_VTEP" vx0)
HOST_MAC=$(mac_of "$NS_HOST" veth)
say "vxgate (und) MAC $UND_MAC, kernel vx0 MAC $VX0_MAC, host MAC $HOST_MAC"

# ---- vxgate -----------------------------------------------------------------------------------
start_vxgate "$NS_GW" tests/interop/vxgate.toml.in

# ---- checks -----------------------------------------------------------------------------------
PING_HOST=$(ip netns exec "$NS_HOST" ping -c 3 -W 2 10.50.0.2 2>&1) || fail "ping HOST -> 10.50.0.2 (vx0)"
PING_VTEP=$(ip netns exec "$NS_VTEP" ping -c 3 -W 2 10.50.0.1 2>&1) || fail "ping VTEP -> 10.50.0.1 (host)"
say "HOST -> 10.50.0.2: $(summary_of "$PING_HOST")"
say "VTEP -> 10.50.0.1: $(summary_of "$PING_VTEP")"
# Full-size overlay packets, DF set: 1450-byte inner IP = 1464-byte inner frame = a 1500-byte
# outer IP packet, exactly vxgate's underlay_mtu, both directions.
PING_BIG=$(ip netns exec "$NS_HOST" ping -c 2 -W 2 -M "do" -s 1422 10.50.0.2 2>&1) ||
    fail "1450-byte ping HOST -> 10.50.0.2"
PING_BIG2=$(ip netns exec "$NS_VTEP" ping -c 2 -W 2 -M "do" -s 1422 10.50.0.1 2>&1) ||
    fail "1450-byte ping VTEP -> 10.50.0.1"
say "HOST -> 10.50.0.2 (1450 B, DF): $(summary_of "$PING_BIG")"
say "VTEP -> 10.50.0.1 (1450 B, DF): $(summary_of "$PING_BIG2")"

# A TCP stream through the tunnel (full-size segments).
tcp_stream "$NS_VTEP" "$NS_HOST" 10.50.0.2 $((4 * 1024 * 1024))

# The control thread applies learn events asynchronously: allow it a moment.
FDB=
NEIGH=
for _ in $(seq 20); do
    FDB=$(ctl fdb list 2>&1 || true)
    NEIGH=$(ctl neighbor list 2>&1 || true)
    if grep -Eqi "^5000 +$VX0_MAC +192\.0\.2\.2 +learned" <<<"$FDB" &&
        grep -Eqi "^192\.0\.2\.2 +$UND_MAC|^192\.0\.2\.2 +[0-9a-f:]{17} +resolved" <<<"$NEIGH"; then
        break
    fi
    sleep 0.1
done
grep -Eqi "^5000 +$VX0_MAC +192\.0\.2\.2 +learned" <<<"$FDB" ||
    fail "vxgate FDB lacks vx0's MAC $VX0_MAC learned behind 192.0.2.2"
grep -Eqi "^192\.0\.2\.2 +$(mac_of "$NS_VTEP" veth) +resolved" <<<"$NEIGH" ||
    fail "vxgate neighbour table lacks 192.0.2.2 resolved to the VTEP's veth MAC"
printf '%s\n' "---- vxgate fdb list ----" "$FDB" "---- vxgate neighbor list ----" "$NEIGH"

# vxgate resolved 192.0.2.2 itself (the HOST's first broadcast had nowhere to go yet).
ARP_REQ=$(metric vxgate_arp_requests_total)
((ARP_REQ >= 1)) || fail "vxgate sent no ARP request (vxgate_arp_requests_total=$ARP_REQ)"

# So far the kernel may have learned 192.0.2.1 from vxgate's own ARP request. Forget it and make
# the kernel ask: its broadcast request must be answered (and the ping to the VTEP address too).
ip -n "$NS_VTEP" neigh del 192.0.2.1 dev veth 2>/dev/null || true
PING_GW=$(ip netns exec "$NS_VTEP" ping -c 2 -W 2 192.0.2.1 2>&1) || fail "ping VTEP -> 192.0.2.1 (vxgate)"
say "VTEP -> 192.0.2.1: $(summary_of "$PING_GW")"
KNEIGH=$(ip -n "$NS_VTEP" neigh show 192.0.2.1 dev veth)
say "VTEP kernel ARP: $KNEIGH"
grep -qi "lladdr $UND_MAC" <<<"$KNEIGH" || fail "VTEP's ARP entry for 192.0.2.1 is not vxgate's MAC $UND_MAC"
ARP_REP=$(metric vxgate_arp_replies_total)
ICMP_REP=$(metric vxgate_icmp_replies_total)
((ARP_REP >= 1)) || fail "vxgate answered no ARP request (vxgate_arp_replies_total=$ARP_REP)"
((ICMP_REP >= 1)) || fail "vxgate answered no echo request (vxgate_icmp_replies_total=$ICMP_REP)"
say "vxgate ARP requests sent $ARP_REQ, ARP replies $ARP_REP, echo replies $ICMP_REP"
# End to end at layer 2: HOST reached vx0 itself, not something else answering.
HNEIGH=$(ip -n "$NS_HOST" neigh show 10.50.0.2 dev veth)
grep -qi "lladdr $VX0_MAC" <<<"$HNEIGH" || fail "HOST's ARP entry for 10.50.0.2 is not vx0's MAC $VX0_MAC"

# The VTEP's underlay MAC changes and the kernel announces it with a gratuitous ARP (arp_notify;
# VRRP failover and VM migration announce the same way). vxgate must follow it: traffic from
# HOST alone gives the kernel no reason to ARP for 192.0.2.1 again, so without the gratuitous
# ARP vxgate would keep tunnelling to the old MAC, which the VTEP no longer accepts.
NEW_MAC=02:00:00:00:02:02
ip netns exec "$NS_VTEP" sysctl -qw net.ipv4.conf.veth.arp_notify=1
ip -n "$NS_VTEP" link set dev veth address "$NEW_MAC"
PING_MOVE=$(ip netns exec "$NS_HOST" ping -c 3 -W 2 10.50.0.2 2>&1) ||
    fail "ping HOST -> 10.50.0.2 after the VTEP's MAC changed (gratuitous ARP not followed)"
say "HOST -> 10.50.0.2 after VTEP MAC change: $(summary_of "$PING_MOVE")"
NEIGH2=$(ctl neighbor list 2>&1 || true)
grep -Eqi "^192\.0\.2\.2 +$NEW_MAC +resolved" <<<"$NEIGH2" ||
    fail "vxgate's neighbour 192.0.2.2 did not follow the gratuitous ARP to $NEW_MAC"

# ---- shutdown (the only drop allowed: a first flood while 192.0.2.2 was being resolved) ----
stop_vxgate "no_neighbor"
finish "host->vx0 $(rtt "$PING_HOST"); vx0->host $(rtt "$PING_VTEP"); vtep->vxgate $(rtt "$PING_GW"); TCP $TCP_RATE; vxgate ARP req/rep $ARP_REQ/$ARP_REP"
