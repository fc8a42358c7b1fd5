#!/usr/bin/env bash
# A real Prometheus server on loopback scrapes a running vxgate: the target must be up, the
# scrape must carry vxgate's series, and a PromQL rate over them must be positive.
# Uses Debian's `prometheus` package (scripts/setup.sh installs it) and DPDK virtual devices.
set -euo pipefail
cd "$(dirname "$0")/.."

# Built every time unless given: a binary left by an earlier run may be stale, or built
# without DPDK by `cargo test --no-default-features`.
if [[ -z ${VXGATE:-} ]]; then
    cargo build --quiet
    VXGATE=target/debug/vxgate
fi
work=$(mktemp -d /tmp/vxgate-prom.XXXXXX)
vx_pid=""; prom_pid=""
cleanup() {
    [[ -n $vx_pid ]] && kill -INT "$vx_pid" 2>/dev/null || true
    [[ -n $prom_pid ]] && kill "$prom_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
    # The EAL leaves its runtime dir (with the telemetry socket) behind for our file prefix.
    rm -rf "/var/run/dpdk/vxprom$$"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mport=$(free_port); pport=$(free_port)

"$VXGATE" pcap-gen -c config/demo.toml --access "$work/a.pcap" --underlay "$work/u.pcap" \
    --frames 256 --sizes 64,512 >/dev/null
if [[ $(scripts/eal-mode.sh) == hugepages ]]; then mem='"--in-memory"'; else mem='"--no-huge", "-m", "512", "--no-shconf"'; fi
core=$(( $(nproc) > 1 ? 1 : 0 ))
sed -e "s|\"--in-memory\",|$mem, \"--file-prefix=vxprom$$\",|" \
    -e "s|rx_pcap=out/demo-access.pcap|rx_pcap=$work/a.pcap|" \
    -e "s|^cores = \[1\]|cores = [$core]|" \
    -e "s|^listen = .*|listen = \"127.0.0.1:$mport\"|" \
    -e "s|^socket = .*|socket = \"$work/ctl.sock\"|" config/demo.toml > "$work/vxgate.toml"
"$VXGATE" run -c "$work/vxgate.toml" --duration 30 --no-pin >"$work/vxgate.log" 2>&1 &
vx_pid=$!

cat > "$work/prometheus.yml" <<YML
global: { scrape_interval: 1s, evaluation_interval: 1s }
scrape_configs:
  - job_name: vxgate
    static_configs: [{ targets: ["127.0.0.1:$mport"] }]
YML
promtool check config "$work/prometheus.yml" >/dev/null
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
    --web.listen-address="127.0.0.1:$pport" >"$work/prometheus.log" 2>&1 &
prom_pid=$!

query() {
    python3 - "$pport" "$1" <<'PY'
import json, sys, urllib.parse, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/api/v1/query?query=" + urllib.parse.quote(sys.argv[2])
try:
    r = json.load(urllib.request.urlopen(url, timeout=2))
    res = r["data"]["result"]
    print(res[0]["value"][1] if res else "")
except Exception:
    print("")
PY
}

ok=""
for _ in $(seq 1 40); do
    sleep 0.5
    up=$(query 'up{job="vxgate"}')
    rate=$(query 'sum(rate(vxgate_rx_packets_total[5s]))')
    if [[ $up == 1 && -n $rate ]] && python3 -c "import sys; sys.exit(0 if float('$rate') > 0 else 1)"; then
        ok=yes; break
    fi
done
if [[ -z $ok ]]; then
    echo "FAIL: Prometheus did not scrape vxgate (up='${up:-}', rate='${rate:-}')"
    tail -5 "$work/vxgate.log" "$work/prometheus.log"
    exit 1
fi
drops=$(query 'count(vxgate_drop_packets_total)')
lat=$(query 'histogram_quantile(0.99, sum by (le) (rate(vxgate_processing_latency_seconds_bucket[5s])))')
echo "PASS: Prometheus scraped vxgate: up=1, rx rate ${rate} pkt/s, ${drops} drop-reason series, p99 ${lat} s"
