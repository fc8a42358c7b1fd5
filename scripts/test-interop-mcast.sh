#!/usr/bin/env bash
# Interoperability over a multicast underlay: vxgate and the Linux kernel's VXLAN device
# (`type vxlan id 5000 group 239.1.1.1 dev veth`) share VNI 5000 by flood-and-learn through
# the group, as in RFC 7348 §4.2; neither has a static entry or a unicast flood list.
#
#   HOST ns                    GW ns (vxgate on af_packet)                VTEP ns
#   veth 10.50.0.1/24 ---- acc [ vxgate 192.0.2.1, VNI 5000 ] und ---- veth 192.0.2.2/24
#                              group 239.1.1.1                          vx0 group 239.1.1.1
#                                                                           10.50.0.2/24
#
# Checks: a capture on the underlay shows vxgate's IGMP membership report for the group; ARP
# and ping both ways (the first frames through the group, the rest unicast); learning on both
# sides (vxgate's FDB has vx0's MAC behind 192.0.2.2, the kernel's has HOST's behind
# 192.0.2.1); every broadcast frame from HOST crossed the underlay exactly once, to the group,
# never head-end; a clean stop leaves the group (an IGMPv3 record "change to include {}").
#
# Usage (as root): scripts/test-interop-mcast.sh. Environment as in scripts/lib/interop.sh.
set -euo pipefail

NAME=interop-mcast
TAG=vxgm
# shellcheck source=scripts/lib/interop.sh
source "$(dirname "$0")/lib/interop.sh"
interop_init tshark bridge

GROUP=239.1.1.1
three_namespaces
veth_up "$NS_HOST" 1450 10.50.0.1/24
veth_up "$NS_VTEP" 1500 192.0.2.2/24
# Flood-and-learn: BUM to the group, learning on (the kernel's default).
ip -n "$NS_VTEP" link add vx0 type vxlan id 5000 local 192.0.2.2 group "$GROUP" \
    dstport 4789 dev veth ttl 1
ip -n "$NS_VTEP" link set vx0 mtu 1450 up
ip -n "$NS_VTEP" addr add 10.50.0.2/24 dev vx0

UND_MAC=$(mac_of "$NS_GW" und)
VX0_MAC=$(mac_of "$NS_VTEP" vx0)
HOST_MAC=$(mac_of "$NS_HOST" veth)
say "vxgate (und) MAC $UND_MAC, kernel vx0 MAC $VX0_MAC, host MAC $HOST_MAC"

# Captures: the underlay as the VTEP sees it, and the access side as HOST sends it.
ip netns exec "$NS_VTEP" tshark -q -n -i veth -w "$WORK/underlay.pcap" >/dev/null 2>&1 &
BACKGROUND+=($!)
ip netns exec "$NS_HOST" tshark -q -n -i veth -w "$WORK/access.pcap" >/dev/null 2>&1 &
BACKGROUND+=($!)
for _ in $(seq 100); do
    [[ -s $WORK/underlay.pcap && -s $WORK/access.pcap ]] && break
    sleep 0.1
done
sleep 0.5

start_vxgate "$NS_GW" tests/interop/vxgate-mcast.toml.in

# ---- checks -----------------------------------------------------------------------------------
PING_HOST=$(ip netns exec "$NS_HOST" ping -c 3 -W 2 10.50.0.2 2>&1) || fail "ping HOST -> 10.50.0.2 (vx0)"
say "HOST -> 10.50.0.2: $(summary_of "$PING_HOST")"
# The kernel forgets HOST so its next ARP goes through the group the other way.
ip -n "$NS_VTEP" neigh flush dev vx0
PING_VTEP=$(ip netns exec "$NS_VTEP" ping -c 3 -W 2 10.50.0.1 2>&1) || fail "ping VTEP -> 10.50.0.1 (host)"
say "VTEP -> 10.50.0.1: $(summary_of "$PING_VTEP")"
# Broadcasts nobody answers (ARP for an absent host): each must cross the underlay once.
ip netns exec "$NS_HOST" ping -c 3 -W 1 10.50.0.99 >/dev/null 2>&1 || true
tcp_stream "$NS_VTEP" "$NS_HOST" 10.50.0.2 $((1024 * 1024))

FDB=
for _ in $(seq 20); do
    FDB=$(ctl fdb list 2>&1 || true)
    grep -Eqi "^5000 +$VX0_MAC +192\.0\.2\.2 +learned" <<<"$FDB" && break
    sleep 0.1
done
grep -Eqi "^5000 +$VX0_MAC +192\.0\.2\.2 +learned" <<<"$FDB" ||
    fail "vxgate FDB lacks vx0's MAC $VX0_MAC learned behind 192.0.2.2"
KFDB=$(ip netns exec "$NS_VTEP" bridge fdb show dev vx0)
grep -Eqi "^$HOST_MAC dst 192\.0\.2\.1 " <<<"$KFDB" ||
    fail "the kernel did not learn HOST's MAC $HOST_MAC behind 192.0.2.1"
TUNNELS=$(ctl tunnel list 2>&1 || true)
printf '%s\n' "---- vxgate fdb list ----" "$FDB" "---- kernel bridge fdb (vx0) ----" "$KFDB" \
    "---- vxgate tunnel list ----" "$TUNNELS"
grep -Eq "^[0-9]+ +$GROUP +01:00:5e:01:01:01 " <<<"$TUNNELS" ||
    fail "tunnel list lacks the group $GROUP with its MAC"
IGMP=$(metric vxgate_igmp_reports_total)

# ---- shutdown, then the captures ----------------------------------------------------------------
stop_vxgate "no_neighbor igmp_not_query"
sleep 0.5
for pid in "${BACKGROUND[@]}"; do kill -INT "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
BACKGROUND=()

count() { tshark -n -r "$1" -Y "$2" 2>/dev/null | wc -l; }
JOINS=$(count "$WORK/underlay.pcap" "ip.src==192.0.2.1 && igmp.type==0x22 && igmp.record_type==4")
LEAVES=$(count "$WORK/underlay.pcap" "ip.src==192.0.2.1 && igmp.type==0x22 && igmp.record_type==3")
BCAST_IN=$(count "$WORK/access.pcap" "eth.src==$HOST_MAC && eth.dst==ff:ff:ff:ff:ff:ff")
TO_GROUP=$(count "$WORK/underlay.pcap" \
    "ip.src==192.0.2.1 && ip.dst==$GROUP && vxlan && eth.dst==ff:ff:ff:ff:ff:ff && ip.ttl==1")
HEAD_END=$(count "$WORK/underlay.pcap" \
    "ip.src==192.0.2.1 && ip.dst==192.0.2.2 && vxlan && eth.dst==ff:ff:ff:ff:ff:ff")
UNICAST=$(count "$WORK/underlay.pcap" "ip.src==192.0.2.1 && ip.dst==192.0.2.2 && vxlan")
say "IGMP: $JOINS join reports, $LEAVES leave reports (vxgate_igmp_reports_total=$IGMP)"
say "broadcasts from HOST: $BCAST_IN; to the group: $TO_GROUP; head-end copies: $HEAD_END; unicast VXLAN to 192.0.2.2: $UNICAST"
((JOINS >= 1)) || fail "no IGMPv3 membership report from vxgate in the underlay capture"
((LEAVES >= 1)) || fail "no IGMPv3 leave from vxgate after its clean stop"
((BCAST_IN >= 4)) || fail "HOST sent only $BCAST_IN broadcasts (expected ARP requests)"
((TO_GROUP == BCAST_IN)) || fail "$BCAST_IN broadcasts in, $TO_GROUP copies to the group (one each expected)"
((HEAD_END == 0)) || fail "$HEAD_END broadcast copies went head-end to 192.0.2.2"
((UNICAST > 0)) || fail "no unicast VXLAN once vxgate learned vx0"

finish "host->vx0 $(rtt "$PING_HOST"); vx0->host $(rtt "$PING_VTEP"); TCP $TCP_RATE; $BCAST_IN broadcasts -> $TO_GROUP to $GROUP, 0 head-end; IGMP join/leave $JOINS/$LEAVES"
