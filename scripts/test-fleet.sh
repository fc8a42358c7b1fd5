#!/usr/bin/env bash
# Fleet test: two vxgate gateways that share nothing but etcd.
#
#   H1 ns ─┐                                         ┌─ H2 ns  10.60.0.2
#  10.60.0.1├ LA ns (bridge lan) ─ acc [GW-A 192.0.2.1] und ─┐       │
#   H3 ns ─┘                         mg0 10.99.0.1  │      NET ns  LB ns (bridge lan) ─ acc [GW-B 192.0.2.2]
#  10.60.0.3                                        ├ bridge ul ─────────────────────────── und
#                                                   └ bridge mg 10.99.0.254 ── etcd ─── mg0 10.99.0.2
#
# Every interface, address and process lives in namespaces this script creates and deletes
# (trap on EXIT, also on failure); etcd listens on the NET namespace's own addresses only, its
# data in the scratch directory. The gateways have no flood list, no static FDB or neighbour
# entry and data-plane learning off: reachability comes from etcd alone.
#
# Checks, in order (each a line in the closing summary with what it measured):
#  1. registration and replication: ping H3<->H2 and H1<->H2 both ways, a 2 MiB TCP stream
#     H3 -> H2; `fdb list` on each gateway shows the other's hosts as remote (etcd:<member>);
#  2. ARP suppression: H3's ARP request for H2 is answered by GW-A with no flood copy leaving;
#  3. host move: H1 moves from A's LAN to B's; time until GW-A's FDB points H1 at GW-B;
#  4. etcd stopped and restarted mid-run: a 5 pps ping H3 -> H2 loses nothing, the
#     connected gauge drops to 0 and comes back to 1;
#  5. partition: GW-A cut off from etcd while a stale key is deleted; after the heal GW-A's
#     resync removes it (it never saw the delete);
#  6. GW-B killed with SIGKILL: its MACs and flood-list membership vanish from GW-A within the
#     lease TTL; time measured;
#  7. GW-B back in on-demand mode: H2's first frames to H3 flood while GW-B looks H3 up, the
#     rest are unicast.
# Usage (as root): scripts/test-fleet.sh   (builds target/debug/vxgate with `cargo build`)
# VXGATE=path/to/vxgate tests that binary; KEEP_LOGS=1 keeps the logs; LEASE_SECS (default 4).
# --demo (what `scripts/demo.sh fleet` runs) stops after check 1 and shows the state.
set -euo pipefail
DEMO=0
[[ ${1:-} == --demo ]] && DEMO=1

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

say() { printf 'fleet: %s\n' "$*"; }
die() { printf 'fleet: FAIL: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (network namespaces, af_packet)"
for tool in ip ethtool ping curl python3 etcd etcdctl; do
    command -v "$tool" >/dev/null || die "missing tool: $tool (scripts/setup.sh installs it)"
done

if [[ -z ${VXGATE:-} ]]; then
    VXGATE=target/debug/vxgate
    say "cargo build (default features)"
    cargo build --quiet
fi
[[ -x $VXGATE ]] || die "no vxgate binary at $VXGATE"
VXGATE=$(cd "$(dirname "$VXGATE")" && pwd)/$(basename "$VXGATE")

LEASE_SECS=${LEASE_SECS:-4}
P=vxfl-$$
P=${P:0:12}
NS_NET=$P-net
NS_A=$P-gwa
NS_B=$P-gwb
NS_LA=$P-la
NS_LB=$P-lb
NS_H1=$P-h1
NS_H2=$P-h2
NS_H3=$P-h3
WORK=$(mktemp -d "/tmp/$P.XXXXXX")
ETCD_PORT=23790
ETCD_URL=http://10.99.0.254:$ETCD_PORT
ETCD_PID=
PID_A=
PID_B=
PINGER=
CREATED_NS=()
FAILURES=()
RESULTS=()

stop_pid() {
    local pid=$1 sig=${2:-INT}
    [[ -n $pid ]] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    kill "-$sig" "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    set +e
    stop_pid "$PINGER" TERM
    stop_pid "$PID_A"
    stop_pid "$PID_B"
    stop_pid "$ETCD_PID" TERM
    local ns
    for ns in "${CREATED_NS[@]}"; do
        for l in $(ip -n "$ns" -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
            [[ $l == lo ]] || ip -n "$ns" link del "$l" 2>/dev/null
        done
        ip netns del "$ns" 2>/dev/null
    done
    if [[ $rc -ne 0 ]]; then
        for g in a b; do
            [[ -f $WORK/gw-$g.log ]] || continue
            echo "---- last lines of gw-$g.log ----" >&2
            tail -n 30 "$WORK/gw-$g.log" >&2
        done
    fi
    if [[ ${KEEP_LOGS:-0} == 1 || $rc -ne 0 ]]; then
        mkdir -p "/tmp/$P-logs" && cp -f "$WORK"/*.log "$WORK"/*.txt "$WORK"/*.out "/tmp/$P-logs/" 2>/dev/null;
            echo "logs kept in /tmp/$P-logs" >&2
    fi
    rm -rf "$WORK" "/var/run/dpdk/$P-a" "/var/run/dpdk/$P-b"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() { FAILURES+=("$*"); printf 'fleet: check failed: %s\n' "$*" >&2; }
result() { RESULTS+=("$*"); say "$*"; }

add_ns() {
    ip netns add "$1"
    CREATED_NS+=("$1")
    ip -n "$1" link set lo up
    ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
        net.ipv6.conf.default.disable_ipv6=1 2>/dev/null || true
}
no_offloads() {
    ip netns exec "$1" ethtool -K "$2" tx off rx off gro off gso off tso off >/dev/null 2>&1 || true
}
mac_of() { ip -n "$1" -br link show dev "$2" | awk '{print $3}'; }
now_ms() { date +%s%3N; }

# ---- topology ---------------------------------------------------------------------------------
for ns in "$NS_NET" "$NS_A" "$NS_B" "$NS_LA" "$NS_LB" "$NS_H1" "$NS_H2" "$NS_H3"; do add_ns "$ns"; done
ip -n "$NS_NET" link add ul type bridge
ip -n "$NS_NET" link add mg type bridge
ip -n "$NS_NET" link set ul up
ip -n "$NS_NET" link set mg up
ip -n "$NS_NET" addr add 10.99.0.254/24 dev mg
for lan in "$NS_LA" "$NS_LB"; do
    ip -n "$lan" link add lan type bridge
    ip -n "$lan" link set lan up
done

gateway_links() { # ns letter mgmt-ip lan-ns
    local ns=$1 g=$2 ip=$3 lan=$4
    ip -n "$ns" link add und type veth peer name "u-$g" netns "$NS_NET"
    ip -n "$ns" link add mg0 type veth peer name "m-$g" netns "$NS_NET"
    ip -n "$ns" link add acc type veth peer name p0 netns "$lan"
    ip -n "$NS_NET" link set "u-$g" master ul up
    ip -n "$NS_NET" link set "m-$g" master mg up
    ip -n "$lan" link set p0 master lan up
    for dev in und acc; do
        ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$dev.disable_ipv6=1" 2>/dev/null || true
        ip -n "$ns" link set "$dev" mtu 1500 up
        no_offloads "$ns" "$dev"
    done
    ip -n "$ns" link set mg0 up
    ip -n "$ns" addr add "$ip/24" dev mg0
}
gateway_links "$NS_A" a 10.99.0.1 "$NS_LA"
gateway_links "$NS_B" b 10.99.0.2 "$NS_LB"

host_link() { # host-ns lan-ns port ip [mac]
    local h=$1 lan=$2 port=$3 ip=$4 mac=${5:-}
    if [[ -n $mac ]]; then
        ip -n "$h" link add eth0 address "$mac" type veth peer name "$port" netns "$lan"
    else
        ip -n "$h" link add eth0 type veth peer name "$port" netns "$lan"
    fi
    ip -n "$lan" link set "$port" master lan up
    ip -n "$h" link set eth0 mtu 1450 up
    ip -n "$h" addr add "$ip/24" dev eth0
    no_offloads "$h" eth0
}
host_link "$NS_H1" "$NS_LA" h1 10.60.0.1
host_link "$NS_H3" "$NS_LA" h3 10.60.0.3
host_link "$NS_H2" "$NS_LB" h2 10.60.0.2
H1_MAC=$(mac_of "$NS_H1" eth0)
H2_MAC=$(mac_of "$NS_H2" eth0)
H3_MAC=$(mac_of "$NS_H3" eth0)
say "H1 $H1_MAC  H2 $H2_MAC  H3 $H3_MAC"

# ---- etcd ---------------------------------------------------------------------------------------
start_etcd() {
    ip netns exec "$NS_NET" etcd --name fleet --data-dir "$WORK/etcd" \
        --listen-client-urls "$ETCD_URL,http://127.0.0.1:$ETCD_PORT" \
        --advertise-client-urls "$ETCD_URL" \
        --listen-peer-urls http://127.0.0.1:23800 \
        --initial-advertise-peer-urls http://127.0.0.1:23800 \
        --initial-cluster fleet=http://127.0.0.1:23800 >>"$WORK/etcd.log" 2>&1 &
    ETCD_PID=$!
    for _ in $(seq 100); do
        etcdctl_ endpoint health >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "etcd did not become healthy"
}
etcdctl_() { ip netns exec "$NS_NET" env ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$ETCD_PORT" "$@"; }
start_etcd
say "etcd $(etcd --version | head -1 | awk '{print $3}') up in $NS_NET"

# ---- gateways -----------------------------------------------------------------------------------
mode=${EAL_MODE:-$(scripts/eal-mode.sh)}
start_gateway() { # ns letter vtep-ip
    local ns=$1 g=$2 vtep=$3 eal
    if [[ $mode == hugepages ]]; then eal=(--in-memory --no-pci -m 256); else eal=(--no-huge -m 256 --no-pci --no-shconf); fi
    eal+=("--file-prefix=$P-$g" -l 0
          "--vdev=net_af_packet0,iface=acc,qpairs=1"
          "--vdev=net_af_packet1,iface=und,qpairs=1")
    local eal_toml
    eal_toml=$(printf '"%s", ' "${eal[@]}")
    eal_toml=${eal_toml%, }
    sed -e "s|@EAL_ARGS@|$eal_toml|" -e "s|@VTEP_IP@|$vtep|" -e "s|@ETCD@|$ETCD_URL|" \
        -e "s|@LEASE_SECS@|$LEASE_SECS|" -e "s|@MODE@|${MODE:-replicate}|" -e "s|@NAME@|gw-$g|" \
        -e "s|@SOCKET@|$WORK/gw-$g.sock|" tests/fleet/vxgate.toml.in >"$WORK/gw-$g.toml"
    "$VXGATE" check -c "$WORK/gw-$g.toml" >/dev/null || die "vxgate check rejected gw-$g.toml"
    NO_COLOR=1 RUST_LOG=info ip netns exec "$ns" "$VXGATE" run -c "$WORK/gw-$g.toml" --no-pin \
        >"$WORK/gw-$g.log" 2>&1 &
    local pid=$!
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || die "gw-$g exited during start-up"
        [[ -S $WORK/gw-$g.sock ]] && ctl "$g" stats >/dev/null 2>&1 && break
        sleep 0.1
    done
    if [[ $g == a ]]; then PID_A=$pid; else PID_B=$pid; fi
}
ctl() { local g=$1; shift; ip netns exec "$P-gw$g" "$VXGATE" "$@" --socket "$WORK/gw-$g.sock"; }
metric() { # gw name: sum over label sets
    ip netns exec "$P-gw$1" curl -sf --max-time 2 http://127.0.0.1:9417/metrics 2>/dev/null |
        awk -v m="$2" '$1 == m || index($1, m "{") == 1 { s += $NF } END { printf "%d\n", s }'
}
# Waits up to $3 seconds (0.02 s steps) for `fdb list` on gateway $1 to match regex $2.
wait_fdb() {
    local deadline=$(( $(now_ms) + ${3:-5} * 1000 ))
    while (( $(now_ms) < deadline )); do
        ctl "$1" fdb list 2>/dev/null | grep -Eqi "$2" && return 0
        sleep 0.02
    done
    return 1
}
wait_no_fdb() {
    local deadline=$(( $(now_ms) + ${3:-5} * 1000 ))
    while (( $(now_ms) < deadline )); do
        ctl "$1" fdb list 2>/dev/null | grep -Eqi "$2" || return 0
        sleep 0.02
    done
    return 1
}
wait_metric() { # gw name value seconds
    for _ in $(seq $(( ${4:-10} * 10 ))); do
        [[ $(metric "$1" "$2") == "$3" ]] && return 0
        sleep 0.1
    done
    return 1
}

start_gateway "$NS_A" a 192.0.2.1
start_gateway "$NS_B" b 192.0.2.2
wait_metric a vxgate_cluster_connected 1 10 || fail "gw-a did not connect to etcd"
wait_metric b vxgate_cluster_connected 1 10 || fail "gw-b did not connect to etcd"
wait_metric a vxgate_cluster_members 1 10 || fail "gw-a does not see gw-b registered"
say "both gateways registered: $(etcdctl_ get --prefix /vxgate-test/vteps/ --keys-only | grep -c .) keys under vteps/"

summary_of() { grep -E 'packets transmitted' <<<"$1" | tr '\n' ' '; }
# ---- 1. replication: pings, TCP, fdb list -----------------------------------------------------
for pair in "$NS_H3 10.60.0.2" "$NS_H2 10.60.0.3" "$NS_H1 10.60.0.2" "$NS_H2 10.60.0.1"; do
    read -r h dst <<<"$pair"
    out=$(ip netns exec "$h" ping -c 3 -i 0.2 -W 2 "$dst" 2>&1) || fail "ping ${h#"$P"-} -> $dst"
    say "ping ${h#"$P"-} -> $dst: $(summary_of "$out")"
done
TCP_BYTES=$((2 * 1024 * 1024))
ip netns exec "$NS_H2" timeout 20 python3 -c '
import hashlib, socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.60.0.2", 5001)); s.listen(1); s.settimeout(15)
c, _ = s.accept(); c.settimeout(15); h = hashlib.sha256(); n = 0
while True:
    b = c.recv(65536)
    if not b: break
    h.update(b); n += len(b)
print(n, h.hexdigest())' >"$WORK/tcp.out" 2>&1 &
srv=$!
sleep 0.5
sent=$(ip netns exec "$NS_H3" timeout 20 python3 -c '
import hashlib, socket, sys
n = int(sys.argv[1]); chunk = bytes(range(256)) * 256; h = hashlib.sha256(); sent = 0
c = socket.create_connection(("10.60.0.2", 5001), timeout=15)
while sent < n:
    b = chunk[: n - sent]; c.sendall(b); h.update(b); sent += len(b)
c.shutdown(socket.SHUT_WR); c.recv(1); print(sent, h.hexdigest())' "$TCP_BYTES" 2>&1 | tail -n 1) || true
wait "$srv" || true
got=$(tail -n 1 "$WORK/tcp.out")
if [[ $sent =~ ^$TCP_BYTES\ [0-9a-f]{64}$ && $sent == "$got" ]]; then
    result "TCP H3 -> H2 through the overlay: $TCP_BYTES bytes intact"
else
    fail "TCP stream H3 -> H2: sent [$sent] received [$got]"
fi
wait_fdb a "^5000 +$H2_MAC +192\.0\.2\.2 +remote .*etcd:gw-b" 3 || fail "gw-a fdb lacks H2 remote from etcd:gw-b"
wait_fdb b "^5000 +$H3_MAC +192\.0\.2\.1 +remote .*etcd:gw-a" 3 || fail "gw-b fdb lacks H3 remote from etcd:gw-a"
wait_fdb b "^5000 +$H1_MAC +192\.0\.2\.1 +remote .*etcd:gw-a" 3 || fail "gw-b fdb lacks H1 remote from etcd:gw-a"
echo "---- gw-a fdb list ----"; ctl a fdb list || true
echo "---- gw-b fdb list ----"; ctl b fdb list || true
echo "---- gw-a cluster status ----"; ctl a cluster status || true
etcdctl_ get "/vxgate-test/macs/5000/$H2_MAC" --print-value-only | grep -q '"member":"gw-b"' ||
    fail "etcd has no key for H2 published by gw-b"

if [[ $DEMO == 1 ]]; then
    echo "---- gw-b cluster status ----"; ctl b cluster status || true
    echo "---- etcd keys under /vxgate-test/ ----"
    etcdctl_ get --prefix /vxgate-test/ | paste - - | sed 's/^/  /'
    ((${#FAILURES[@]} == 0)) || die "${FAILURES[*]}"
    echo "fleet demo: two hosts talked across two gateways that share only etcd"
    exit 0
fi

# ---- 2. ARP suppression -------------------------------------------------------------------------
ip -n "$NS_H3" neigh flush dev eth0
flood0=$(metric a vxgate_flood_packets_total)
supp0=$(metric a vxgate_arp_suppressed_total)
ip netns exec "$NS_H3" ping -c 1 -W 2 10.60.0.2 >/dev/null 2>&1 || fail "ping H3 -> H2 after flushing its ARP cache"
flood1=$(metric a vxgate_flood_packets_total)
supp1=$(metric a vxgate_arp_suppressed_total)
if (( supp1 > supp0 && flood1 == flood0 )); then
    result "ARP suppression: H3's request for 10.60.0.2 answered by gw-a ($((supp1 - supp0)) suppressed, 0 flood copies)"
else
    fail "ARP suppression: suppressed $supp0 -> $supp1, flood copies $flood0 -> $flood1"
fi
ip -n "$NS_H3" neigh show 10.60.0.2 | grep -qi "lladdr $H2_MAC" || fail "H3's ARP entry for H2 is not H2's MAC"

# ---- 3. host move ------------------------------------------------------------------------------
ip -n "$NS_LA" link del h1
host_link "$NS_H1" "$NS_LB" h1 10.60.0.1 "$H1_MAC"
t0=$(now_ms)
ip netns exec "$NS_H1" ping -c 20 -i 0.05 -W 1 10.60.0.3 >"$WORK/move-ping.out" 2>&1 &
mover=$!
if wait_fdb a "^5000 +$H1_MAC +192\.0\.2\.2 +remote" 5; then
    t1=$(now_ms)
    MOVE_MS=$((t1 - t0))
    result "host move: gw-a points H1 at gw-b ${MOVE_MS} ms after H1 started sending behind gw-b"
    ((MOVE_MS < 1000)) || fail "host move took ${MOVE_MS} ms (> 1 s)"
else
    fail "gw-a never pointed H1 at gw-b after the move"
fi
wait "$mover" || true
say "H1 -> H3 after the move: $(summary_of "$(cat "$WORK/move-ping.out")")"
out=$(ip netns exec "$NS_H3" ping -c 3 -i 0.2 -W 2 10.60.0.1 2>&1) || fail "ping H3 -> H1 after the move"

# ---- 4. etcd stopped and restarted ----------------------------------------------------------
ip netns exec "$NS_H3" ping -i 0.2 -W 1 10.60.0.2 >"$WORK/outage-ping.out" 2>&1 &
PINGER=$!
sleep 1
stop_pid "$ETCD_PID" TERM
ETCD_PID=
t0=$(now_ms)
if wait_metric a vxgate_cluster_connected 0 10; then
    result "etcd stopped: vxgate_cluster_connected dropped to 0 after $(( $(now_ms) - t0 )) ms"
else
    fail "vxgate_cluster_connected stayed 1 with etcd stopped"
fi
sleep 2
start_etcd
t0=$(now_ms)
if wait_metric a vxgate_cluster_connected 1 15 && wait_metric b vxgate_cluster_connected 1 15; then
    result "etcd restarted: both gateways reconnected and resynced within $(( $(now_ms) - t0 )) ms"
else
    fail "gateways did not reconnect after etcd restarted"
fi
sleep 1
kill -INT "$PINGER"; wait "$PINGER" || true; PINGER=
line=$(grep -E 'packets transmitted' "$WORK/outage-ping.out" || true)
sent=$(awk '{print $1}' <<<"$line"); recv=$(awk '{print $4}' <<<"$line")
if [[ -n $sent && $sent == "$recv" ]]; then
    result "pings H3 -> H2 across the etcd outage: $recv/$sent answered"
else
    fail "pings lost across the etcd outage: [$line]"
fi
(( $(metric a vxgate_cluster_resyncs_total) >= 2 )) || fail "gw-a did not resync after reconnecting"

# ---- 5. partition: a stale key deleted while gw-a is cut off --------------------------------
GHOST=02:00:00:99:99:99
etcdctl_ put "/vxgate-test/macs/5000/$GHOST" '{"vtep":"192.0.2.99","member":"ghost","ips":[]}' >/dev/null
wait_fdb a "^5000 +$GHOST +192\.0\.2\.99 +remote" 3 || fail "gw-a did not install the ghost key"
resync0=$(metric a vxgate_cluster_resyncs_total)
ip -n "$NS_A" link set mg0 down
wait_metric a vxgate_cluster_connected 0 10 || fail "gw-a did not notice the partition"
etcdctl_ del "/vxgate-test/macs/5000/$GHOST" >/dev/null
sleep 0.5
ctl a fdb list | grep -qi "$GHOST" || fail "gw-a lost the ghost key while cut off (it should hold the last state)"
ip -n "$NS_A" link set mg0 up
if wait_no_fdb a "$GHOST" 15; then
    result "partition healed: gw-a's resync removed the stale key it never saw deleted (resyncs $resync0 -> $(metric a vxgate_cluster_resyncs_total))"
else
    fail "gw-a kept the stale ghost key after the partition healed"
fi
wait_metric a vxgate_cluster_connected 1 10 || fail "gw-a did not reconnect after the partition"

# ---- 6. a gateway dies -------------------------------------------------------------------------
wait_fdb a "^5000 +$H2_MAC +192\.0\.2\.2 +remote" 5 || fail "gw-a lost H2 before the kill"
kill -KILL "$PID_B"; wait "$PID_B" 2>/dev/null || true; PID_B=
t0=$(now_ms)
if wait_no_fdb a "192\.0\.2\.2 +remote" $((LEASE_SECS + 5)); then
    WD_MS=$(( $(now_ms) - t0 ))
    result "gw-b killed (SIGKILL): its entries vanished from gw-a after ${WD_MS} ms (lease TTL ${LEASE_SECS} s)"
    ((WD_MS <= LEASE_SECS * 1000 + 1500)) || fail "withdrawal took ${WD_MS} ms, more than the TTL"
else
    fail "gw-b's entries stayed on gw-a after its lease expired"
fi
wait_metric a vxgate_cluster_members 0 5 || fail "gw-b is still a member on gw-a"

# ---- 7. on-demand: gw-b comes back in on-demand mode ------------------------------------------
MODE=on-demand start_gateway "$NS_B" b 192.0.2.2
wait_metric b vxgate_cluster_connected 1 10 || fail "gw-b (on-demand) did not connect"
wait_metric a vxgate_cluster_members 1 10 || fail "gw-a does not see gw-b again"
ctl b fdb list | grep -qi "$H3_MAC" && fail "on-demand gw-b holds H3 before any miss"
flood0=$(metric b vxgate_flood_packets_total)
encap0=$(metric b vxgate_encap_packets_total)
nonb0=$(metric b 'vxgate_drop_packets_total{reason="no_neighbor"}')
# H2 still knows H3's MAC: its next frames are unicast to a MAC gw-b has never looked up.
ip netns exec "$NS_H2" ping -c 10 -i 0.1 -W 1 10.60.0.3 >"$WORK/od-ping.out" 2>&1 || true
if wait_fdb b "^5000 +$H3_MAC +192\.0\.2\.1 +remote .*etcd:gw-a" 3; then
    flood1=$(metric b vxgate_flood_packets_total)
    encap1=$(metric b vxgate_encap_packets_total)
    found=$(metric b 'vxgate_cluster_lookups_total{result="found"}')
    lat_us=$(ctl b cluster status | awk '/miss → installed/ {print $5}')
    result "on-demand: H2 -> H3 flooded $((flood1 - flood0)) frame(s) while gw-b looked H3 up (found $found), then $((encap1 - encap0)) unicast; miss -> installed ${lat_us} µs (control side)"
    ((flood1 - flood0 <= 3)) || fail "on-demand flooded $((flood1 - flood0)) frames: the lookup did not install H3"
    ((encap1 - encap0 >= 5)) || fail "on-demand: later frames were not unicast ($((encap1 - encap0)))"
    # gw-a's underlay address was resolved when etcd named it, not by dropping the first flood.
    nonb1=$(metric b 'vxgate_drop_packets_total{reason="no_neighbor"}')
    ((nonb1 == nonb0)) || fail "on-demand gw-b dropped $((nonb1 - nonb0)) frame(s) for want of gw-a's MAC"
else
    fail "on-demand gw-b never installed H3"
fi
ip netns exec "$NS_B" curl -sf http://127.0.0.1:9417/metrics > "$WORK/b-metrics.txt"; ctl b cluster status > "$WORK/b-status.txt"
line=$(grep -E 'packets transmitted' "$WORK/od-ping.out" || true)
say "H2 -> H3 with on-demand gw-b: $line"

# ---- shutdown ------------------------------------------------------------------------------------
for g in a b; do
    pid=$PID_A; [[ $g == b ]] && pid=$PID_B
    kill -INT "$pid"
    rc=0
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    wait "$pid" || rc=$?
    if [[ $g == a ]]; then PID_A=; else PID_B=; fi
    [[ $rc == 0 ]] || fail "gw-$g exited with status $rc"
    grep -Eq 'mempool: 0 of [0-9]+ buffers still in use' "$WORK/gw-$g.log" || fail "gw-$g leaked mbufs"
done
# A clean stop revokes the lease: every key is gone at once, not after the TTL.
left=$(etcdctl_ get --prefix /vxgate-test/ --keys-only | grep -c . || true)
[[ $left == 0 ]] || fail "$left keys left in etcd after both gateways stopped cleanly"

echo "---- results ----"
printf '  %s\n' "${RESULTS[@]}"
if ((${#FAILURES[@]})); then
    echo "fleet: FAIL (${#FAILURES[@]} checks): ${FAILURES[*]}"
    exit 1
fi
echo "fleet: PASS"
