#!/usr/bin/env bash
# The embedded demo: installs what is missing, builds vxgate in release mode, generates test
# traffic that matches config/demo.toml, and runs the gateway on DPDK virtual devices
# (net_pcap with infinite_rx as the access port, net_null as the underlay) for DURATION seconds
# (default 10), printing one line of rates per second, a peek at /metrics and `vxgate stats`
# while it runs, and the final summary.
#
# `scripts/demo.sh fleet` instead shows a fleet: two gateways in network namespaces that share
# only an etcd server, hosts behind each pinging and streaming across the overlay, with each
# gateway's `fdb list` (remote entries from etcd:<member>) and `cluster status`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ ${1:-} == fleet ]]; then
    scripts/setup.sh >&2
    cargo build --release --quiet
    VXGATE=target/release/vxgate exec scripts/test-fleet.sh --demo
fi

DURATION=${DURATION:-10}
scripts/setup.sh >&2
cargo build --release --quiet
VXGATE=target/release/vxgate

mkdir -p out
# Frame sizes that fit the 1500-byte underlay MTU once encapsulated (1464 + 36 = 1500 after
# the VLAN tag is removed); every 7th frame is a broadcast ARP, flooded to the VNI's VTEPs.
"$VXGATE" pcap-gen -c config/demo.toml --access out/demo-access.pcap \
    --underlay out/demo-underlay.pcap --sizes 64,512,1468 --broadcast-every 7

# Adapt the embedded config to this machine: no hugepages → --no-huge; one core → core 0.
cfg=out/demo.toml
cp config/demo.toml "$cfg"
if [[ $(scripts/eal-mode.sh) == nohuge ]]; then
    sed -i 's/"--in-memory",/"--no-huge", "-m", "512", "--no-shconf",/' "$cfg"
    echo "demo: no hugepages available, running with --no-huge (about half the packet rate)"
fi
if [[ $(nproc) -lt 2 ]]; then
    sed -i 's/^cores = \[1\]/cores = [0]/' "$cfg"
fi
socket=$(awk -F'"' '/^socket *=/ {print $2}' "$cfg")
listen=$(awk -F'"' '/^listen *=/ {print $2}' "$cfg")
listen=${listen:-127.0.0.1:9417}

"$VXGATE" run -c "$cfg" --duration "$DURATION" &
pid=$!
trap 'kill -INT $pid 2>/dev/null || true' INT TERM

sleep $(( DURATION > 6 ? 4 : 2 ))
if kill -0 "$pid" 2>/dev/null; then
    echo "--- a few series from http://$listen/metrics:"
    python3 - "$listen" <<'PY' || true
import sys, urllib.request
text = urllib.request.urlopen(f"http://{sys.argv[1]}/metrics", timeout=2).read().decode()
keep = ("vxgate_rx_packets_total", "vxgate_tx_packets_total", "vxgate_encap_packets_total",
        "vxgate_flood_packets_total", "vxgate_fdb_entries", "vxgate_worker_busy_ratio",
        "vxgate_mempool_in_use")
for line in text.splitlines():
    if line.startswith(keep):
        print("   ", line)
PY
    echo "--- vxgate stats --socket $socket:"
    "$VXGATE" stats --socket "$socket" || true
fi
wait "$pid"
