#!/usr/bin/env bash
# A clean stop under full load: vxgate on DPDK virtual devices (net_pcap replaying the demo's
# traffic forever into net_null, so the worker is never idle) gets SIGTERM, then SIGINT on a
# second run; each must exit 0 within 1 s with its summary and no mbuf still in use.
# Prints the measured stop times.
#
# Usage (as root): scripts/test-stop.sh     (VXGATE=path tests that binary instead)
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'stop: %s\n' "$*"; }
die() { printf 'stop: FAIL: %s\n' "$*" >&2; exit 1; }

if [[ -z ${VXGATE:-} ]]; then
    cargo build --quiet
    VXGATE=target/debug/vxgate
fi
WORK=$(mktemp -d /tmp/vxgate-stop.XXXXXX)
PREFIX=vxstop-$$
PID=
cleanup() {
    [[ -n $PID ]] && kill -KILL "$PID" 2>/dev/null
    rm -rf "$WORK" "/var/run/dpdk/$PREFIX"
}
trap cleanup EXIT

"$VXGATE" pcap-gen -c config/demo.toml --access "$WORK/access.pcap" \
    --underlay "$WORK/underlay.pcap" --sizes 64,512,1468 --broadcast-every 7 >/dev/null
if [[ $(scripts/eal-mode.sh) == hugepages ]]; then mem='"--in-memory"'; else
    mem='"--no-huge", "-m", "512", "--no-shconf"'; fi
# The demo's config with this run's pcap, file prefix, socket and metrics port.
sed -e "s|out/demo-access.pcap|$WORK/access.pcap|" \
    -e "s|\"--in-memory\"|$mem, \"--file-prefix=$PREFIX\"|" \
    -e "s|^socket = .*|socket = \"$WORK/ctl.sock\"|" \
    -e "s|^listen = .*|listen = \"127.0.0.1:0\"|" \
    -e 's/^cores = \[1\]/cores = [0]/' config/demo.toml >"$WORK/vxgate.toml"
"$VXGATE" check -c "$WORK/vxgate.toml" >/dev/null || die "config rejected"

for sig in TERM INT; do
    "$VXGATE" run -c "$WORK/vxgate.toml" --no-pin >"$WORK/$sig.log" 2>&1 &
    PID=$!
    # Under load: wait until it has forwarded for a while.
    for _ in $(seq 100); do
        grep -q "Mpps" "$WORK/$sig.log" 2>/dev/null && break
        kill -0 "$PID" 2>/dev/null || { cat "$WORK/$sig.log"; die "vxgate exited early"; }
        sleep 0.1
    done
    sleep 1
    start=$(date +%s%N)
    kill -"$sig" "$PID"
    rc=0
    wait "$PID" || rc=$?
    end=$(date +%s%N)
    PID=
    ms=$(( (end - start) / 1000000 ))
    rx=$(awk '/^  access rx/ {print $3}' "$WORK/$sig.log")
    leak=$(grep -Eo 'mempool: [0-9]+ of [0-9]+ buffers still in use' "$WORK/$sig.log" || true)
    say "SIG$sig after ${rx:-?} packets: exit $rc in $ms ms; $leak"
    [[ $rc == 0 ]] || { tail -20 "$WORK/$sig.log"; die "SIG$sig: exit status $rc"; }
    ((ms < 1000)) || die "SIG$sig: stopped in $ms ms (limit 1000)"
    [[ $leak == "mempool: 0 of "* ]] || die "SIG$sig: $leak"
    ((${rx:-0} > 0)) || die "SIG$sig: no traffic forwarded before the signal"
done
echo "stop: PASS"
