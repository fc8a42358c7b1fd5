#!/usr/bin/env bash
# Soak: everything hostile at once, for SOAK_SECS (default 60; run it for hours with e.g.
# `SOAK_SECS=14400 scripts/test-soak.sh`). vxgate runs on DPDK virtual devices replaying
# `vxgate pcap-gen --hostile` traffic on both ports forever (valid frames mixed with truncated,
# malformed, spoofed and oversized ones), while
#   - FDB churn: `vxgate fdb batch` adds and deletes 2 000 entries per round, continuously;
#   - scrapes: /metrics every 100 ms, with ten idle connections held open to the metrics port;
#   - reloads: every 5 s SIGHUP alternately adds and removes a VNI;
#   - control-socket abuse: malformed, oversized and half-sent requests every 2 s.
# At the end vxgate must still answer, its replicas must have converged, every scrape, churn
# round and reload must have succeeded, and SIGTERM must stop it with exit 0 and no mbuf in use.
# Prints the counts.
#
# Usage (as root): scripts/test-soak.sh     (VXGATE=path tests that binary instead)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${SOAK_SECS:-60}

say() { printf 'soak: %s\n' "$*"; }
die() { printf 'soak: FAIL: %s\n' "$*" >&2; exit 1; }

if [[ -z ${VXGATE:-} ]]; then
    cargo build --quiet
    VXGATE=target/debug/vxgate
fi
WORK=$(mktemp -d /tmp/vxgate-soak.XXXXXX)
PREFIX=vxsoak-$$
PID=
BG=()
cleanup() {
    local p
    for p in "${BG[@]}"; do kill "$p" 2>/dev/null || true; done
    [[ -n $PID ]] && kill -KILL "$PID" 2>/dev/null
    rm -rf "$WORK" "/var/run/dpdk/$PREFIX"
}
trap cleanup EXIT

"$VXGATE" pcap-gen -c config/demo.toml --access "$WORK/access.pcap" \
    --underlay "$WORK/underlay.pcap" --sizes 64,512,1400 --broadcast-every 7 --hostile >/dev/null
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
if [[ $(scripts/eal-mode.sh) == hugepages ]]; then mem='"--in-memory"'; else
    mem='"--no-huge", "-m", "512", "--no-shconf"'; fi
# The demo's gateway with hostile replays on both ports.
sed -e "s|\"--vdev=net_pcap0,rx_pcap=out/demo-access.pcap,infinite_rx=1\"|\"--vdev=net_pcap0,rx_pcap=$WORK/access.pcap,infinite_rx=1\"|" \
    -e "s|\"--vdev=net_null0,no-rx=1\"|\"--vdev=net_pcap1,rx_pcap=$WORK/underlay.pcap,infinite_rx=1\"|" \
    -e 's|^underlay = "net_null0"|underlay = "net_pcap1"|' \
    -e "s|\"--in-memory\"|$mem, \"--file-prefix=$PREFIX\"|" \
    -e "s|^socket = .*|socket = \"$WORK/ctl/control.sock\"|" \
    -e "s|^listen = .*|listen = \"127.0.0.1:$PORT\"|" \
    -e 's/^cores = \[1\]/cores = [0]/' config/demo.toml >"$WORK/base.toml"
BASE=$(cat "$WORK/base.toml")
EXTRA=$'\n[[vni]]\nid = 7000\nvlan = 700\nflood = ["192.0.2.4"]\n'
cp "$WORK/base.toml" "$WORK/vxgate.toml"
"$VXGATE" check -c "$WORK/vxgate.toml" >/dev/null || die "config rejected"
SOCK=$WORK/ctl/control.sock

"$VXGATE" run -c "$WORK/vxgate.toml" --no-pin >"$WORK/vxgate.log" 2>&1 &
PID=$!
for _ in $(seq 100); do
    [[ -S $SOCK ]] && "$VXGATE" stats --socket "$SOCK" >/dev/null 2>&1 && break
    kill -0 "$PID" 2>/dev/null || { tail -20 "$WORK/vxgate.log"; die "vxgate exited during start-up"; }
    sleep 0.1
done
say "vxgate up under hostile replay on both ports for $SECS s"
END=$((SECONDS + SECS))

# FDB churn rounds.
python3 - "$WORK/add.txt" "$WORK/del.txt" <<'PY'
import sys
macs = [f"02:00:00:0c:{i >> 8:02x}:{i & 255:02x}" for i in range(2000)]
with open(sys.argv[1], "w") as f:
    for i, m in enumerate(macs):
        f.write(f"add 5000 {m} 192.0.2.{2 + i % 3}\n")
with open(sys.argv[2], "w") as f:
    for m in macs:
        f.write(f"del 5000 {m}\n")
PY
(
    ok=0 bad=0
    while ((SECONDS < END)); do
        for f in add del; do
            if "$VXGATE" fdb batch --file "$WORK/$f.txt" --socket "$SOCK" >"$WORK/churn.out" 2>&1 &&
                grep -q "^total: 2000 changed, 0 refused" "$WORK/churn.out"; then
                ok=$((ok + 1))
            else
                bad=$((bad + 1))
            fi
        done
    done
    echo "$ok $bad" >"$WORK/churn.count"
) &
BG+=($!)

# Scrapes, behind ten idle connections.
python3 - "$PORT" "$SECS" <<'PY' &
import socket, sys, time
conns = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(10)]
time.sleep(float(sys.argv[2]))
PY
BG+=($!)
(
    ok=0 bad=0
    while ((SECONDS < END)); do
        if curl -sf --max-time 5 "http://127.0.0.1:$PORT/metrics" -o /dev/null; then
            ok=$((ok + 1))
        else
            bad=$((bad + 1))
        fi
        sleep 0.1
    done
    echo "$ok $bad" >"$WORK/scrape.count"
) &
BG+=($!)

# Control-socket abuse.
(
    n=0
    while ((SECONDS < END)); do
        python3 - "$SOCK" <<'PY' || true
import socket, sys
def conn():
    s = socket.socket(socket.AF_UNIX); s.settimeout(6); s.connect(sys.argv[1]); return s
s = conn(); s.sendall(b"{not json}\n"); s.recv(4096); s.close()
s = conn(); s.sendall(b"x" * (2 << 20)); s.close()
s = conn(); s.sendall(b'{"op":"fdb_li'); s.close()
PY
        n=$((n + 1))
        sleep 2
    done
    echo "$n" >"$WORK/abuse.count"
) &
BG+=($!)

# Reloads, in the foreground.
reloads=0
while ((SECONDS + 5 < END)); do
    sleep 5
    if ((reloads % 2 == 0)); then printf '%s\n%s' "$BASE" "$EXTRA" >"$WORK/vxgate.toml"; else
        cp "$WORK/base.toml" "$WORK/vxgate.toml"; fi
    kill -HUP "$PID"
    reloads=$((reloads + 1))
    kill -0 "$PID" 2>/dev/null || { tail -30 "$WORK/vxgate.log"; die "vxgate died during the soak"; }
done
for p in "${BG[@]}"; do wait "$p" 2>/dev/null || true; done
BG=()

metric() {
    curl -sf --max-time 5 "http://127.0.0.1:$PORT/metrics" |
        awk -v m="$1" '$1 == m || index($1, m "{") == 1 { s += $NF } END { printf "%d\n", s }'
}
APPLIED=$(curl -sf "http://127.0.0.1:$PORT/metrics" | awk '$1 == "vxgate_config_reloads_total{result=\"applied\"}" {print $2}')
STATS=$("$VXGATE" stats --socket "$SOCK")
read -r churn_ok churn_bad <"$WORK/churn.count"
read -r scrape_ok scrape_bad <"$WORK/scrape.count"
abuse=$(cat "$WORK/abuse.count")
DROPS=$(metric vxgate_drop_packets_total)
say "churn rounds ok/failed $churn_ok/$churn_bad ($((churn_ok * 2000)) FDB changes)"
say "scrapes ok/failed $scrape_ok/$scrape_bad behind 10 idle connections"
say "reloads sent $reloads, applied $APPLIED; control-socket abuse rounds $abuse"
grep -E "^FDB generation" <<<"$STATS" | sed 's/^/soak: /'

start=$(date +%s%N)
kill -TERM "$PID"
rc=0
wait "$PID" || rc=$?
PID=
ms=$(( ($(date +%s%N) - start) / 1000000 ))
sed -n '/^vxgate summary/,$p' "$WORK/vxgate.log" | sed 's/^/soak: /'
say "stopped in $ms ms, exit $rc; $DROPS frames dropped by reason over the run"

[[ $rc == 0 ]] || die "exit status $rc"
grep -Eq 'mempool: 0 of [0-9]+ buffers still in use' "$WORK/vxgate.log" || die "mbufs leaked"
((churn_bad == 0 && churn_ok > 0)) || die "churn rounds failed: $churn_bad"
((scrape_bad == 0 && scrape_ok > 0)) || die "scrapes failed: $scrape_bad"
[[ ${APPLIED:-0} == "$reloads" ]] || die "reloads applied ${APPLIED:-0} of $reloads"
grep -Eq "^FDB generation: published ([0-9]+), applied by all workers \1;" <<<"$STATS" ||
    die "replicas did not converge: $(grep '^FDB generation' <<<"$STATS")"
((DROPS > 0)) || die "no hostile frame was dropped (were they sent?)"
echo "soak: PASS"
