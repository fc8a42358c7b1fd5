#!/usr/bin/env bash
# Change without loss: hitless reloads and a warm restart against the Linux kernel's VXLAN
# device, with a host pinging through vxgate at 100 packets/s.
#
#   HOST ns                    GW ns (vxgate on af_packet)                VTEP ns
#   veth 10.50.0.1/24 ---- acc [ vxgate 192.0.2.1, VNI 5000 ] und ---- veth 192.0.2.2/24
#                                                                        vx0 VNI 5000 10.50.0.2/24
#                                                                        vx1 VNI 6000 10.60.0.2/24
#
# While HOST pings vx0 every 10 ms, the configuration file is rewritten and reloaded:
#   1. SIGHUP adds VNI 6000 (VLAN 200), its flood list, a static FDB and a static neighbour;
#   2. `vxgate reload` removes them; 3. `vxgate reload` adds them again;
#   4. `vxgate reload` of an invalid file is refused with `vxgate check`'s error;
#   5. SIGHUP of a file that changes a port is refused naming the key;
#   6. SIGHUP removes VNI 6000 again.
# After each, the kernel's VNI 6000 device (vx1) sends a broadcast: decapsulated while VNI 6000
# is configured, dropped as unknown_vni when not. Not one ping may be lost.
# Then the warm restart: vxgate stops (saving its learned FDB) and starts again; HOST's first
# ping to vx0's MAC must go unicast (no flood replica), where a cold start floods it.
#
# Everything lives in namespaces this script creates and deletes. Usage (as root):
# scripts/test-reload.sh; VXGATE, KEEP_LOGS, EAL_MODE as in scripts/lib/interop.sh.
set -euo pipefail

NAME=reload
TAG=vxgr
# shellcheck source=scripts/lib/interop.sh
source "$(dirname "$0")/lib/interop.sh"
interop_init

three_namespaces
veth_up "$NS_HOST" 1450 10.50.0.1/24
veth_up "$NS_VTEP" 1500 192.0.2.2/24
ip -n "$NS_VTEP" link add vx0 type vxlan id 5000 local 192.0.2.2 remote 192.0.2.1 \
    dstport 4789 dev veth nolearning
ip -n "$NS_VTEP" link set vx0 mtu 1450 up
ip -n "$NS_VTEP" addr add 10.50.0.2/24 dev vx0
ip -n "$NS_VTEP" link add vx1 type vxlan id 6000 local 192.0.2.2 remote 192.0.2.1 \
    dstport 4789 dev veth nolearning
ip -n "$NS_VTEP" link set vx1 mtu 1450 up
ip -n "$NS_VTEP" addr add 10.60.0.2/24 dev vx1
VTEP_MAC=$(mac_of "$NS_VTEP" veth)
VX0_MAC=$(mac_of "$NS_VTEP" vx0)

start_vxgate "$NS_GW" tests/interop/vxgate-reload.toml.in
BASE=$(cat "$CONF")
ADDED="$BASE
[[vni]]
id = 6000
vlan = 200
flood = [\"192.0.2.2\"]

[[fdb]]
vni = 6000
mac = \"02:00:00:00:60:01\"
remote = \"192.0.2.2\"

[[neighbor]]
ip = \"192.0.2.2\"
mac = \"$VTEP_MAC\""

ip netns exec "$NS_HOST" ping -c 3 -W 2 10.50.0.2 >/dev/null || fail "warm-up ping HOST -> vx0"

# The kernel's VNI 6000 device broadcasts (an ARP request for an address nobody has): vxgate
# decapsulates it when VNI 6000 is configured, and drops it as unknown_vni otherwise.
# (The ping to VNI 5000 runs meanwhile, so the decapsulation counter cannot tell the two
# apart: the unknown_vni drops can.)
unknown_vni_drops() {
    { scrape 2>/dev/null || true; } |
        awk '$1 ~ /^vxgate_drop_packets_total\{/ && $1 ~ /reason="unknown_vni"/ { s += $2 } END { printf "%d\n", s }'
}
PROBE=10
expect_vni6000() {
    local before after
    before=$(unknown_vni_drops)
    # A fresh address each time: the kernel does not ask again at once for one that failed.
    PROBE=$((PROBE + 1))
    ip -n "$NS_VTEP" neigh flush dev vx1 2>/dev/null || true
    ip netns exec "$NS_VTEP" ping -c 1 -W 1 "10.60.0.$PROBE" >/dev/null 2>&1 || true
    sleep 0.1
    after=$(unknown_vni_drops)
    if [[ $1 == on ]]; then
        ((after == before)) || fail "$2: VNI 6000 traffic dropped as unknown_vni"
    else
        ((after > before)) || fail "$2: VNI 6000 traffic was not dropped as unknown_vni"
    fi
}
grep_fdb_6000() { ctl fdb list 2>/dev/null | grep -Eqi '^6000 +02:00:00:00:60:01 +192\.0\.2\.2 +static'; }
# reload_via HOW: "hup" sends SIGHUP and waits for the applied counter to move; "ctl" runs
# `vxgate reload` and keeps its output in RELOAD_OUT.
APPLIED=0
reload_via() {
    if [[ $1 == hup ]]; then
        local want=$2 counter
        kill -HUP "$VX_PID"
        for _ in $(seq 50); do
            counter=$(scrape 2>/dev/null | awk -v r="$want" '$1 == "vxgate_config_reloads_total{result=\"" r "\"}" { print $2 }')
            [[ ${counter:-0} -gt ${3:-0} ]] && return 0
            sleep 0.1
        done
        fail "SIGHUP: vxgate_config_reloads_total{result=\"$want\"} did not move"
    else
        RELOAD_OUT=$(ctl reload 2>&1) && return 0
        return 1
    fi
}

# ---- the reloads, under a 100/s ping ---------------------------------------------------------
PINGS=700
ip netns exec "$NS_HOST" ping -i 0.01 -c $PINGS -W 1 10.50.0.2 >"$WORK/ping.out" 2>&1 &
PING_PID=$!
BACKGROUND+=("$PING_PID")
sleep 0.5
expect_vni6000 off "before any reload"

printf '%s\n' "$ADDED" >"$CONF"
reload_via hup applied 0
grep_fdb_6000 || fail "SIGHUP add: no static FDB entry in VNI 6000"
expect_vni6000 on "after SIGHUP added VNI 6000"
say "1. SIGHUP added VNI 6000: $(grep 'configuration reloaded' "$LOG" | tail -n 1 | sed 's/.*configuration reloaded/configuration reloaded/')"

printf '%s\n' "$BASE" >"$CONF"
reload_via ctl || fail "vxgate reload (remove): $RELOAD_OUT"
say "2. vxgate reload removed it: $(tr '\n' ' ' <<<"$RELOAD_OUT")"
grep_fdb_6000 && fail "vxgate reload remove: VNI 6000's static entry is still there"
expect_vni6000 off "after vxgate reload removed VNI 6000"

printf '%s\n' "$ADDED" >"$CONF"
reload_via ctl || fail "vxgate reload (add): $RELOAD_OUT"
RELOAD_MS=$(grep -Eo 'in [0-9.]+ ms' <<<"$RELOAD_OUT" | grep -Eo '[0-9.]+')
say "3. vxgate reload added it again: $(tr '\n' ' ' <<<"$RELOAD_OUT")"
grep_fdb_6000 || fail "vxgate reload add: no static FDB entry in VNI 6000"
expect_vni6000 on "after vxgate reload added VNI 6000"

printf '%s\n' "$ADDED" | sed 's/^vlan = 200$/vlan = 5000/' >"$CONF"
if reload_via ctl; then
    fail "vxgate reload accepted an invalid file: $RELOAD_OUT"
fi
CHECK_ERR=$("$VXGATE" check -c "$CONF" 2>&1 || true)
CHECK_ERR=${CHECK_ERR#vxgate: }
grep -qF "$CHECK_ERR" <<<"$RELOAD_OUT" ||
    fail "the invalid reload's error [$RELOAD_OUT] does not carry vxgate check's [$CHECK_ERR]"
say "4. invalid file refused: $RELOAD_OUT"
expect_vni6000 on "after the invalid reload (the running configuration stays)"

printf '%s\n' "$ADDED" | sed 's/^access = "net_af_packet0"$/access = "net_af_packet7"/' >"$CONF"
reload_via hup refused 0
grep -q 'ports.access cannot change while vxgate runs' "$LOG" || fail "SIGHUP of a port change was not refused naming ports.access"
say "5. SIGHUP of a port change refused: $(grep -o 'ports.access cannot change[^;]*' "$LOG" | tail -n 1)"

printf '%s\n' "$BASE" >"$CONF"
reload_via hup applied 2
expect_vni6000 off "after SIGHUP removed VNI 6000"
say "6. SIGHUP removed VNI 6000"

wait "$PING_PID" || true
BACKGROUND=()
TX=$(grep -Eo '[0-9]+ packets transmitted' "$WORK/ping.out" | grep -Eo '^[0-9]+')
RX=$(grep -Eo '[0-9]+ received' "$WORK/ping.out" | grep -Eo '^[0-9]+')
LOST=$((${TX:-0} - ${RX:-0}))
say "ping at 100/s through six reloads: $TX sent, $RX received, $LOST lost"
[[ ${TX:-0} == "$PINGS" && $LOST == 0 ]] || fail "pings lost during the reloads: $LOST of ${TX:-0}"
APPLIED=$(scrape | awk '$1 == "vxgate_config_reloads_total{result=\"applied\"}" { print $2 }')
REFUSED=$(scrape | awk '$1 == "vxgate_config_reloads_total{result=\"refused\"}" { print $2 }')
INVALID=$(scrape | awk '$1 == "vxgate_config_reloads_total{result=\"invalid\"}" { print $2 }')
[[ $APPLIED == 4 && $REFUSED == 1 && $INVALID == 1 ]] ||
    fail "reload counters applied/refused/invalid = $APPLIED/$REFUSED/$INVALID, want 4/1/1"

# ---- warm restart ----------------------------------------------------------------------------
# HOST keeps vx0's MAC, so its first echo after a restart is a unicast frame to it: flooded
# (two replicas) by a gateway that starts empty, sent straight to 192.0.2.2 by one that
# restored its learned FDB.
ip -n "$NS_HOST" neigh replace 10.50.0.2 lladdr "$VX0_MAC" nud permanent dev veth
STATE=$WORK/control-state.json
first_ping_floods() {
    local before after
    before=$(metric vxgate_flood_packets_total)
    ip netns exec "$NS_HOST" ping -c 1 -W 2 10.50.0.2 >/dev/null || fail "first ping after restart ($1)"
    after=$(metric vxgate_flood_packets_total)
    echo $((after - before))
}
restart() {
    stop_vxgate "no_neighbor unknown_vni"
    [[ $1 == cold ]] && rm -f "$STATE"
    start_vxgate "$NS_GW" tests/interop/vxgate-reload.toml.in
}
restart cold
COLD_FLOOD=$(first_ping_floods cold)
restart warm
grep -q 'warm restart: 1 of 1 learned entries' "$LOG" || fail "the warm start did not restore the learned entry"
WARM_FLOOD=$(first_ping_floods warm)
say "flood replicas of the first ping to a learned MAC: cold start $COLD_FLOOD, warm restart $WARM_FLOOD"
((COLD_FLOOD >= 2)) || fail "a cold start did not flood the first frame ($COLD_FLOOD)"
((WARM_FLOOD == 0)) || fail "after a warm restart the first frame to a learned MAC was flooded ($WARM_FLOOD)"

stop_vxgate "no_neighbor unknown_vni"
finish "pings lost 0 of $TX over 6 reloads (4 applied, 1 invalid, 1 refused); vxgate reload applied in $RELOAD_MS ms; first-frame floods cold $COLD_FLOOD / warm $WARM_FLOOD"
