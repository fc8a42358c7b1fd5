#!/usr/bin/env bash
# Losing a memif peer: vxgate's underlay is a net_memif client of dpdk-testpmd (the memif
# server, forwarding into net_null). DPDK 22.11's memif client connects only when the port
# starts and never reconnects, so vxgate must say so instead of forwarding into a dead link:
#   1. without a server, `vxgate run` fails at once and names the fix (start the peer first);
#   2. with one, it forwards the access pcap into the memif link (link up);
#   3. when the server goes away it logs the link down, stops with its summary, no mbuf still
#      in use, and exits non-zero with the reason (the packaged unit restarts it: on-failure).
# The access pcap is replayed once, not forever: while traffic flows, DPDK's memif PMD can
# fault in the worker when its interrupt thread unmaps the peer's memory mid-burst (a PMD race
# this test does not provoke).
#
# Usage (as root): scripts/test-memif.sh     (VXGATE=path tests that binary instead)
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'memif: %s\n' "$*"; }
die() { printf 'memif: FAIL: %s\n' "$*" >&2; exit 1; }

if [[ -z ${VXGATE:-} ]]; then
    cargo build --quiet
    VXGATE=target/debug/vxgate
fi
command -v dpdk-testpmd >/dev/null || die "dpdk-testpmd missing (scripts/setup.sh installs it)"
WORK=$(mktemp -d /tmp/vxgate-memif.XXXXXX)
PREFIX=vxmemif-$$
PID= TP=
cleanup() {
    [[ -n $PID ]] && kill -KILL "$PID" 2>/dev/null
    [[ -n $TP ]] && kill -KILL "$TP" 2>/dev/null
    rm -rf "$WORK" "/var/run/dpdk/$PREFIX" "/var/run/dpdk/$PREFIX-tp"
}
trap cleanup EXIT

"$VXGATE" pcap-gen -c config/demo.toml --access "$WORK/access.pcap" \
    --underlay "$WORK/underlay.pcap" --frames 4096 >/dev/null
if [[ $(scripts/eal-mode.sh) == hugepages ]]; then mem='"--in-memory"'; else
    mem='"--no-huge", "-m", "512", "--no-shconf"'; fi
SOCK=$WORK/memif.sock
# The demo's config, its underlay a memif client, its access pcap replayed once.
sed -e "s|\"--vdev=net_pcap0,rx_pcap=out/demo-access.pcap,infinite_rx=1\"|\"--vdev=net_pcap0,rx_pcap=$WORK/access.pcap\"|" \
    -e "s|\"--vdev=net_null0,no-rx=1\"|\"--vdev=net_memif0,role=client,socket=$SOCK\"|" \
    -e 's|^underlay = "net_null0"|underlay = "net_memif0"|' \
    -e "s|\"--in-memory\"|$mem, \"--file-prefix=$PREFIX\"|" \
    -e "s|^socket = .*|socket = \"$WORK/ctl.sock\"|" \
    -e "s|^listen = .*|listen = \"127.0.0.1:0\"|" \
    -e 's/^cores = \[1\]/cores = [0]/' config/demo.toml >"$WORK/vxgate.toml"
grep -q net_memif0 "$WORK/vxgate.toml" || die "config edit failed"
"$VXGATE" check -c "$WORK/vxgate.toml" >/dev/null || die "config rejected"

# 1. No server yet.
rc=0
timeout 30 "$VXGATE" run -c "$WORK/vxgate.toml" --no-pin >"$WORK/alone.log" 2>&1 || rc=$?
grep -q "start the peer first" "$WORK/alone.log" || { cat "$WORK/alone.log"; die "no hint without a server"; }
((rc != 0 && rc != 124)) || die "without a server: exit status $rc"
say "without a server: exit $rc, '$(grep -o 'a memif client needs.*first' "$WORK/alone.log")'"

# 2. The server: testpmd (no hugepages: it must not share ours) forwarding memif -> null.
dpdk-testpmd --no-huge -m 256 --no-pci --no-shconf --file-prefix="$PREFIX-tp" -l 0,1 \
    --vdev="net_memif0,role=server,socket=$SOCK" --vdev=net_null0,no-rx=1 -- \
    --no-mlockall --total-num-mbufs=8192 --forward-mode=io -a --stats-period=1 \
    </dev/null >"$WORK/testpmd.log" 2>&1 &
TP=$!
# (memif's socket is abstract by default: no file to wait for; testpmd says when it forwards.)
for _ in $(seq 100); do grep -q "forwards packets" "$WORK/testpmd.log" && break; sleep 0.1; done
grep -q "forwards packets" "$WORK/testpmd.log" || { cat "$WORK/testpmd.log"; die "testpmd did not start"; }

"$VXGATE" run -c "$WORK/vxgate.toml" --no-pin >"$WORK/run.log" 2>&1 &
PID=$!
for _ in $(seq 100); do
    grep -q "link up port=net_memif0" "$WORK/run.log" 2>/dev/null && break
    kill -0 "$PID" 2>/dev/null || { cat "$WORK/run.log"; die "vxgate exited early"; }
    sleep 0.1
done
grep -q "link up port=net_memif0" "$WORK/run.log" || die "memif link never came up"
sleep 1

# 3. The server goes away.
start=$(date +%s%N)
kill -TERM "$TP"
wait "$TP" 2>/dev/null || true
TP=
rc=0
timeout 20 tail --pid="$PID" -f /dev/null || die "vxgate still runs 20 s after its peer left"
wait "$PID" || rc=$?
PID=
ms=$(( ($(date +%s%N) - start) / 1000000 ))
grep -q "link down port=net_memif0" "$WORK/run.log" || { cat "$WORK/run.log"; die "no link-down log"; }
grep -q "lost its memif peer" "$WORK/run.log" || { cat "$WORK/run.log"; die "no reason given"; }
grep -q "mempool: 0 of" "$WORK/run.log" || { tail "$WORK/run.log"; die "mbufs still in use"; }
((rc != 0)) || die "exit status 0 after losing the peer"
tx=$(awk '/^  underlay tx/ {print $3}' "$WORK/run.log")
((${tx:-0} > 0)) || { cat "$WORK/run.log"; die "nothing was sent into the memif link"; }
say "forwarded $tx packets into the memif link; peer gone -> stopped in $ms ms, exit $rc, 0 mbufs in use"
say "ok"
