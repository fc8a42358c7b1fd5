# Shared by the interoperability scripts (scripts/test-interop*.sh): namespaces that the
# script creates and deletes, vxgate started on af_packet ports inside them, its control
# socket and metrics, a TCP stream check, a clean stop with the leak check. Source it after
# setting NAME (a short tag for namespace names and messages); then call interop_init.
#
# Nothing here touches the root namespace's interfaces, addresses or routes, and no packet
# leaves the namespaces. Environment: VXGATE (binary to test; default: cargo build, then
# target/debug/vxgate), KEEP_LOGS=1, EAL_MODE=hugepages|nohuge, KEEP_OFFLOADS=1.

say() { printf '%s: %s\n' "$NAME" "$*"; }
die() { printf '%s: FAIL: %s\n' "$NAME" "$*" >&2; exit 1; }
fail() { FAILURES+=("$*"); printf '%s: check failed: %s\n' "$NAME" "$*" >&2; }

interop_init() {
    ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    cd "$ROOT"
    [[ $(id -u) -eq 0 ]] || die "must run as root (network namespaces, af_packet)"
    local tool
    for tool in ip ethtool ping sysctl curl ss python3 "$@"; do
        command -v "$tool" >/dev/null || die "missing tool: $tool (scripts/setup.sh installs it)"
    done
    if [[ -z ${VXGATE:-} ]]; then
        # Rebuilt with the default features: a `cargo test --no-default-features` leaves a
        # target/debug/vxgate that cannot run the data path.
        VXGATE=target/debug/vxgate
        say "cargo build (default features)"
        cargo build --quiet
    fi
    [[ -x $VXGATE ]] || die "no vxgate binary at $VXGATE"
    VXGATE=$(cd "$(dirname "$VXGATE")" && pwd)/$(basename "$VXGATE")

    # Unique per run: namespace names and the EAL file prefix carry the pid.
    P=$TAG-$$
    METRICS_PORT=9417
    WORK=$(mktemp -d "/tmp/$P.XXXXXX")
    SOCK=$WORK/control.sock
    CONF=$WORK/vxgate.toml
    LOG=$WORK/vxgate.log
    VX_PID=
    BACKGROUND=()
    CREATED_NS=()
    FAILURES=()
    trap interop_cleanup EXIT
    trap 'exit 130' INT TERM
}

interop_cleanup() {
    local rc=$?
    set +e
    if [[ -n $VX_PID ]] && kill -0 "$VX_PID" 2>/dev/null; then
        kill -INT "$VX_PID" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$VX_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$VX_PID" 2>/dev/null
        wait "$VX_PID" 2>/dev/null
    fi
    local pid
    for pid in "${BACKGROUND[@]}"; do
        kill -TERM "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    # Deleting a veth end deletes its peer; delete the links explicitly, then the namespaces.
    local ns dev
    for ns in "${CREATED_NS[@]}"; do
        for dev in acc und vx0 veth; do ip -n "$ns" link del "$dev" 2>/dev/null; done
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

# add_ns NS [ipv6]: a namespace with loopback up; IPv6 off unless asked for (keeps router
# solicitations and MLD reports out of the captures and the tunnel).
add_ns() {
    ip netns add "$1"
    CREATED_NS+=("$1")
    ip -n "$1" link set lo up
    if [[ ${2:-} != ipv6 ]]; then
        ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
            net.ipv6.conf.default.disable_ipv6=1 2>/dev/null || true
    fi
}

# A kernel sender on a veth leaves checksums partial (CHECKSUM_PARTIAL), which an af_packet
# reader sees unfinished; GRO/GSO would hand it frames larger than the MTU.
no_offloads() {
    [[ ${KEEP_OFFLOADS:-0} == 1 ]] && return 0
    ip netns exec "$1" ethtool -K "$2" tx off rx off gro off gso off tso off >/dev/null 2>&1 ||
        say "warning: ethtool -K $2 in $1 did not change every offload"
}

mac_of() { ip -n "$1" -br link show dev "$2" | awk '{print $3}'; }

# gateway_ports NS_GW NS_HOST NS_VTEP: the veth pairs acc (GW) -- veth (HOST) and und (GW) --
# veth (VTEP), vxgate's ends without addresses or kernel IPv6, every offload off.
gateway_ports() {
    ip -n "$1" link add acc type veth peer name veth netns "$2"
    ip -n "$1" link add und type veth peer name veth netns "$3"
    local dev
    for dev in acc und; do
        ip netns exec "$1" sysctl -qw "net.ipv6.conf.$dev.disable_ipv6=1" 2>/dev/null || true
        ip -n "$1" link set "$dev" mtu 1500 up
        no_offloads "$1" "$dev"
    done
}

# three_namespaces [ipv6]: NS_GW (vxgate), NS_VTEP (the kernel's VXLAN device; IPv6 on with
# "ipv6") and NS_HOST, and vxgate's two ports between them.
three_namespaces() {
    NS_GW=$P-gw
    NS_VTEP=$P-vtep
    NS_HOST=$P-host
    say "namespaces $NS_GW $NS_VTEP $NS_HOST"
    add_ns "$NS_GW"
    add_ns "$NS_VTEP" "${1:-}"
    add_ns "$NS_HOST"
    gateway_ports "$NS_GW" "$NS_HOST" "$NS_VTEP"
}

# veth_up NS MTU ADDRESS [nodad]: the namespace's end of its veth up, addressed, offloads off.
veth_up() {
    ip -n "$1" link set veth mtu "$2" up
    ip -n "$1" addr add "$3" dev veth ${4:+"$4"}
    no_offloads "$1" veth
}

# start_vxgate NS TEMPLATE: renders TEMPLATE's @EAL_ARGS@ @METRICS_PORT@ @SOCKET@, checks the
# result with `vxgate check` and runs vxgate in NS until its control socket answers.
start_vxgate() {
    VX_NS=$1
    local mode eal eal_toml
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
        "$2" >"$CONF"
    "$VXGATE" check -c "$CONF" >/dev/null || die "vxgate check rejected $CONF"
    say "starting vxgate (EAL mode $mode)"
    # `ip netns exec` execs vxgate, so $! is vxgate's own pid. Asynchronous commands of a
    # non-interactive shell start with SIGINT ignored; vxgate installs its own handler.
    # NO_COLOR: vxgate's log goes to a file, keep tracing's ANSI colours out of it.
    NO_COLOR=1 ip netns exec "$VX_NS" "$VXGATE" run -c "$CONF" --no-pin >"$LOG" 2>&1 &
    VX_PID=$!
    local up=0
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
}

ctl() { ip netns exec "$VX_NS" "$VXGATE" "$@" --socket "$SOCK"; }
scrape() {
    ip netns exec "$VX_NS" curl -sf --max-time 2 "http://127.0.0.1:$METRICS_PORT/metrics"
}
# Sum of a counter over all its label sets (0 when absent or unreadable).
metric() {
    { scrape 2>/dev/null || true; } |
        awk -v m="$1" '$1 == m || index($1, m "{") == 1 { s += $NF } END { printf "%d\n", s }'
}
summary_of() { grep -E 'packets transmitted|^rtt' <<<"$1" | tr '\n' ' '; }
rtt() { grep -Eo 'rtt [^=]*= [^ ]+ ms' <<<"$1" || echo "rtt n/a"; }

# tcp_stream SERVER_NS CLIENT_NS ADDR BYTES: BYTES through the tunnel to ADDR:5001, checked by
# SHA-256 on both ends (the receiving kernel verifies every inner checksum, so a corrupted or
# truncated frame stalls or fails the transfer). Sets TCP_RATE.
tcp_stream() {
    local server='
import hashlib, socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 5001)); s.listen(1); s.settimeout(10)
c, _ = s.accept(); c.settimeout(10); h = hashlib.sha256(); n = 0
while True:
    b = c.recv(65536)
    if not b: break
    h.update(b); n += len(b)
print(n, h.hexdigest())'
    local client='
import hashlib, socket, sys
n = int(sys.argv[2]); chunk = bytes(range(256)) * 256; h = hashlib.sha256(); sent = 0
c = socket.create_connection((sys.argv[1], 5001), timeout=10)
while sent < n:
    b = chunk[: n - sent]; c.sendall(b); h.update(b); sent += len(b)
c.shutdown(socket.SHUT_WR); c.recv(1); print(sent, h.hexdigest())'
    ip netns exec "$1" timeout 15 python3 -c "$server" "$3" >"$WORK/tcp-server.out" 2>&1 &
    local srv=$!
    for _ in $(seq 50); do
        ip netns exec "$1" ss -Hltn 'sport = :5001' 2>/dev/null | grep -q . && break
        sleep 0.1
    done
    local start end sent recv
    start=$(date +%s.%N)
    sent=$(ip netns exec "$2" timeout 15 python3 -c "$client" "$3" "$4" 2>&1) ||
        fail "TCP client -> $3:5001: $(tail -n 1 <<<"$sent")"
    end=$(date +%s.%N)
    wait "$srv" || true
    recv=$(tail -n 1 "$WORK/tcp-server.out")
    sent=$(tail -n 1 <<<"$sent")
    if [[ $sent =~ ^$4\ [0-9a-f]{64}$ && $sent == "$recv" ]]; then
        TCP_RATE=$(awk -v b="$4" -v a="$start" -v e="$end" \
            'BEGIN { printf "%.1f Mbit/s", b * 8 / (e - a) / 1e6 }')
        say "TCP -> $3: $4 bytes intact ($TCP_RATE)"
    else
        TCP_RATE="n/a"
        fail "TCP stream through the tunnel: sent [$sent], received [$recv]"
    fi
}

# stop_vxgate ALLOWED: SIGINT, exit status 0 within 10 s, the summary, no mbuf still in use,
# and no drop outside the space-separated reasons in ALLOWED.
stop_vxgate() {
    if ((${#FAILURES[@]})); then
        echo "---- vxgate stats ----"
        ctl stats 2>&1 || true
        echo "---- /metrics (drops) ----"
        { scrape 2>/dev/null || true; } | grep -E '^vxgate_(drop|device)' | grep -v ' 0$' || true
    fi
    kill -INT "$VX_PID"
    local rc=0 timeout_at=$((SECONDS + 10))
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
    local unexpected
    unexpected=$(sed -n '/^  drops (/,/^  mempool:/p' "$LOG" |
        awk -v ok=" $1 " 'NF == 2 && index(ok, " " $1 " ") == 0')
    [[ -z $unexpected ]] || fail "unexpected drops: $(tr '\n' ' ' <<<"$unexpected")"
}

# finish PASS-LINE: the verdict.
finish() {
    if ((${#FAILURES[@]})); then
        echo "$NAME: FAIL (${#FAILURES[@]} checks): ${FAILURES[*]}"
        exit 1
    fi
    echo "$NAME: PASS  $*"
}
