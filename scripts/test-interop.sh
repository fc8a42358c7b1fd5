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
#
# Usage (as root): scripts/test-interop.sh     (builds target/debug/vxgate with `cargo build`)
# VXGATE=path/to/vxgate tests that binary instead (built with the default `dpdk` feature).
# KEEP_LOGS=1 keeps the vxgate log after the run; EAL_MODE=hugepages|nohuge overrides
# scripts/eal-mode.sh; KERNEL_VXLAN_OPTS adds options to the kernel VXLAN device (e.g. "udpcsum",
# "df set ttl 3"); KEEP_OFFLOADS=1 leaves the veths' offloads on (to see what they break).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

say() { printf 'interop: %s\n' "$*"; }
die() { printf 'interop: FAIL: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (network namespaces, af_packet)"
for tool in ip ethtool ping sysctl curl ss python3; do
    command -v "$tool" >/dev/null || die "missing tool: $tool (scripts/setup.sh installs it)"
done

if [[ -z ${VXGATE:-} ]]; then
    # The default binary is (re)built with the default features: a `cargo test
    # --no-default-features` leaves a target/debug/vxgate that cannot run the data path.
    VXGATE=target/debug/vxgate
    say "cargo build (default features)"
    cargo build --quiet
fi
[[ -x $VXGATE ]] || die "no vxgate binary at $VXGATE"
VXGATE=$(cd "$(dirname "$VXGATE")" && pwd)/$(basename "$VXGATE")

# Unique names. Interfaces are created inside the namespaces (same short names in each), so only
# the namespace names and the EAL file prefix need the per-run prefix.
P=vxgi-$$
P=${P:0:12}
NS_GW=$P-gw
NS_VTEP=$P-vtep
NS_HOST=$P-host
METRICS_PORT=9417
WORK=$(mktemp -d "/tmp/$P.XXXXXX")
SOCK=$WORK/control.sock
CONF=$WORK/vxgate.toml
LOG=$WORK/vxgate.log

VX_PID=
TCP_SERVER=
CREATED_NS=()
FAILURES=()

cleanup() {
    local rc=$?
    set +e
    if [[ -n $VX_PID ]] && kill -0 "$VX_PID" 2>/dev/null; then
        kill -INT "$VX_PID" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$VX_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$VX_PID" 2>/dev/null
        wait "$VX_PID" 2>/dev/null
    fi
    if [[ -n $TCP_SERVER ]]; then
        kill -TERM "$TCP_SERVER" 2>/dev/null
        wait "$TCP_SERVER" 2>/dev/null
    fi
    # Deleting a veth end deletes its peer; delete the links explicitly, then the namespaces.
    local ns
    for ns in "${CREATED_NS[@]}"; do
        ip -n "$ns" link del acc 2>/dev/null
        ip -n "$ns" link del und 2>/dev/null
        ip -n "$ns" link del vx0 2>/dev/null
        ip -n "$ns" link del veth 2>/dev/null
        ip netns del "$ns" 2>/dev/null
    done
    if [[ $rc -ne 0 && -f $LOG ]]; then
        echo "---- last lines of the vxgate log ($LOG) ----" >&2
        tail -n 40 "$LOG" >&2
    fi
    if [[ ${KEEP_LOGS:-0} == 1 || $rc -ne 0 ]]; then
        cp -f "$LOG" "/tmp/$P-vxgate.log" 2>/dev/null && echo "vxgate log kept at /tmp/$P-vxgate.log" >&2
    fi
    rm -rf "$WORK"
    # The EAL leaves its runtime dir (with the telemetry socket) behind for our file prefix.
    rm -rf "/var/run/dpdk/$P"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() { FAILURES+=("$*"); printf 'interop: check failed: %s\n' "$*" >&2; }

add_ns() {
    ip netns add "$1"
    CREATED_NS+=("$1")
    ip -n "$1" link set lo up
    # No IPv6: keeps router solicitations and MLD reports out of the captures and the tunnel.
    ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
        net.ipv6.conf.default.disable_ipv6=1 2>/dev/null || true
}

# A kernel sender on a veth leaves checksums partial (CHECKSUM_PARTIAL), which an af_packet
# reader sees unfinished; GRO/GSO would hand it frames larger than the MTU.
no_offloads() {
    [[ ${KEEP_OFFLOADS:-0} == 1 ]] && return 0
    ip netns exec "$1" ethtool -K "$2" tx off rx off gro off gso off tso off >/dev/null 2>&1 ||
        say "warning: ethtool -K $2 in $1 did not change every offload"
}

mac_of() { ip -n "$1" -br link show dev "$2" | awk '{print $3}'; }

# ---- topology ---------------------------------------------------------------------------------
say "namespaces $NS_GW $NS_VTEP $NS_HOST"
add_ns "$NS_GW"
add_ns "$NS_VTEP"
add_ns "$NS_HOST"

ip -n "$NS_GW" link add acc type veth peer name veth netns "$NS_HOST"
ip -n "$NS_GW" link add und type veth peer name veth netns "$NS_VTEP"

for dev in acc und; do
    # vxgate owns these ports: no addresses, no kernel IPv4/ARP on them.
    ip netns exec "$NS_GW" sysctl -qw "net.ipv6.conf.$dev.disable_ipv6=1" 2>/dev/null || true
    ip -n "$NS_GW" link set "$dev" mtu 1500 up
    no_offloads "$NS_GW" "$dev"
done

ip -n "$NS_HOST" link set veth mtu 1450 up
ip -n "$NS_HOST" addr add 10.50.0.1/24 dev veth
no_offloads "$NS_HOST" veth

ip -n "$NS_VTEP" link set veth mtu 1500 up
ip -n "$NS_VTEP" addr add 192.0.2.2/24 dev veth
no_offloads "$NS_VTEP" veth
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
mode=${EAL_MODE:-$(scripts/eal-mode.sh)}
if [[ $mode == hugepages ]]; then
    eal=(--in-memory --no-pci)
else
    eal=(--no-huge -m 512 --no-pci --no-shconf)
fi
eal+=("--file-prefix=$P" -l 0
      "--vdev=net_af_packet0,iface=acc,qpairs=1"
      "--vdev=net_af_packet1,iface=und,qpairs=1")
eal_toml=$(printf '"%s", ' "${eal[@]}")
eal_toml=${eal_toml%, }
sed -e "s|@EAL_ARGS@|$eal_toml|" -e "s|@METRICS_PORT@|$METRICS_PORT|" -e "s|@SOCKET@|$SOCK|" \
    tests/interop/vxgate.toml.in >"$CONF"
"$VXGATE" check -c "$CONF" >/dev/null || die "vxgate check rejected $CONF"

say "starting vxgate (EAL mode $mode)"
# `ip netns exec` execs vxgate, so $! is vxgate's own pid. Asynchronous commands of a
# non-interactive shell start with SIGINT ignored; vxgate installs its own handler.
# NO_COLOR: vxgate's log goes to a file, keep tracing's ANSI colours out of it.
NO_COLOR=1 ip netns exec "$NS_GW" "$VXGATE" run -c "$CONF" --no-pin >"$LOG" 2>&1 &
VX_PID=$!

ctl() { ip netns exec "$NS_GW" "$VXGATE" "$@" --socket "$SOCK"; }
scrape() {
    ip netns exec "$NS_GW" curl -sf --max-time 2 "http://127.0.0.1:$METRICS_PORT/metrics"
}
# Sum of a counter over all its label sets (0 when absent or unreadable).
metric() {
    { scrape 2>/dev/null || true; } |
        awk -v m="$1" '$1 == m || index($1, m "{") == 1 { s += $NF } END { printf "%d\n", s }'
}

up=0
for _ in $(seq 100); do
    if ! kill -0 "$VX_PID" 2>/dev/null; then
        grep -q "built without DPDK" "$LOG" && die "$VXGATE was built without DPDK: cargo build"
        die "vxgate exited during start-up"
    fi
    if [[ -S $SOCK ]] && ctl stats >/dev/null 2>&1; then up=1; break; fi
    sleep 0.1
done
[[ $up == 1 ]] || die "vxgate's control socket did not answer within 10 s"
say "vxgate up (pid $VX_PID)"

# ---- checks -----------------------------------------------------------------------------------
PING_HOST=$(ip netns exec "$NS_HOST" ping -c 3 -W 2 10.50.0.2 2>&1) || fail "ping HOST -> 10.50.0.2 (vx0)"
PING_VTEP=$(ip netns exec "$NS_VTEP" ping -c 3 -W 2 10.50.0.1 2>&1) || fail "ping VTEP -> 10.50.0.1 (host)"
summary_of() { grep -E 'packets transmitted|^rtt' <<<"$1" | tr '\n' ' '; }
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

# A TCP stream through the tunnel (full-size segments; the receiving kernel verifies every inner
# checksum, so a corrupted or truncated frame stalls or fails the transfer).
TCP_BYTES=$((4 * 1024 * 1024))
tcp_server='
import hashlib, socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.50.0.2", 5001)); s.listen(1); s.settimeout(10)
c, _ = s.accept(); c.settimeout(10); h = hashlib.sha256(); n = 0
while True:
    b = c.recv(65536)
    if not b: break
    h.update(b); n += len(b)
print(n, h.hexdigest())'
tcp_client='
import hashlib, socket, sys
n = int(sys.argv[1]); chunk = bytes(range(256)) * 256; h = hashlib.sha256(); sent = 0
c = socket.create_connection(("10.50.0.2", 5001), timeout=10)
while sent < n:
    b = chunk[: n - sent]; c.sendall(b); h.update(b); sent += len(b)
c.shutdown(socket.SHUT_WR); c.recv(1); print(sent, h.hexdigest())'
ip netns exec "$NS_VTEP" timeout 15 python3 -c "$tcp_server" >"$WORK/tcp-server.out" 2>&1 &
TCP_SERVER=$!
for _ in $(seq 50); do
    ip netns exec "$NS_VTEP" ss -Hltn 'sport = :5001' 2>/dev/null | grep -q . && break
    sleep 0.1
done
tcp_start=$(date +%s.%N)
TCP_SENT=$(ip netns exec "$NS_HOST" timeout 15 python3 -c "$tcp_client" "$TCP_BYTES" 2>&1) ||
    fail "TCP client HOST -> 10.50.0.2:5001: $(tail -n 1 <<<"$TCP_SENT")"
tcp_end=$(date +%s.%N)
wait "$TCP_SERVER" || true
TCP_SERVER=
TCP_RECV=$(tail -n 1 "$WORK/tcp-server.out")
TCP_SENT=$(tail -n 1 <<<"$TCP_SENT")
if [[ $TCP_SENT =~ ^$TCP_BYTES\ [0-9a-f]{64}$ && $TCP_SENT == "$TCP_RECV" ]]; then
    TCP_RATE=$(awk -v b="$TCP_BYTES" -v a="$tcp_start" -v e="$tcp_end" \
        'BEGIN { printf "%.1f Mbit/s", b * 8 / (e - a) / 1e6 }')
    say "TCP HOST -> vx0: $TCP_BYTES bytes intact ($TCP_RATE)"
else
    TCP_RATE="n/a"
    fail "TCP stream through the tunnel: sent [$TCP_SENT], received [$TCP_RECV]"
fi

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

if ((${#FAILURES[@]})); then
    echo "---- vxgate stats ----"
    ctl stats 2>&1 || true
    echo "---- /metrics (drops) ----"
    { scrape 2>/dev/null || true; } | grep -E '^vxgate_(drop|device)' | grep -v ' 0$' || true
fi

# ---- shutdown ---------------------------------------------------------------------------------
kill -INT "$VX_PID"
rc=0
timeout_at=$((SECONDS + 10))
while kill -0 "$VX_PID" 2>/dev/null && ((SECONDS < timeout_at)); do sleep 0.1; done
if kill -0 "$VX_PID" 2>/dev/null; then
    fail "vxgate did not stop within 10 s of SIGINT"
else
    wait "$VX_PID" || rc=$?
    VX_PID=
    [[ $rc == 0 ]] || fail "vxgate exited with status $rc"
fi
echo "---- vxgate summary ----"
sed -n '/^vxgate summary/,$p' "$LOG"
grep -Eq 'mempool: 0 of [0-9]+ buffers still in use' "$LOG" ||
    fail "vxgate's summary does not report 0 buffers still in use"
# The only expected drop: the HOST's first ARP broadcast, flooded while 192.0.2.2 was still
# being resolved (vxgate drops rather than queues). Anything else is an interop problem.
UNEXPECTED=$(sed -n '/^  drops (/,/^  mempool:/p' "$LOG" | awk 'NF == 2 && $1 != "no_neighbor"')
[[ -z $UNEXPECTED ]] || fail "unexpected drops: $(tr '\n' ' ' <<<"$UNEXPECTED")"

if ((${#FAILURES[@]})); then
    echo "interop: FAIL (${#FAILURES[@]} checks): ${FAILURES[*]}"
    exit 1
fi
rtt() { grep -Eo 'rtt [^=]*= [^ ]+ ms' <<<"$1" || echo "rtt n/a"; }
echo "interop: PASS  host->vx0 $(rtt "$PING_HOST"); vx0->host $(rtt "$PING_VTEP"); vtep->vxgate $(rtt "$PING_GW"); TCP $TCP_RATE; vxgate ARP req/rep $ARP_REQ/$ARP_REP"
