#!/usr/bin/env bash
# What scraping costs the workers: runs the demo gateway (net_pcap infinite_rx → net_null)
# twice for DURATION seconds each, once unobserved and once with /metrics scraped every 100 ms,
# alternating RUNS times, and prints the packet rates and their ratio. Release build.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-6}
RUNS=${RUNS:-2}
cargo build --release --quiet
VXGATE=target/release/vxgate
work=$(mktemp -d /tmp/vxgate-scrape.XXXXXX)
# The EAL leaves its runtime dir (with the telemetry socket) behind for our file prefix.
trap 'rm -rf "$work" "/var/run/dpdk/vxscrape$$"' EXIT

"$VXGATE" pcap-gen -c config/demo.toml --access "$work/a.pcap" --underlay "$work/u.pcap" \
    --sizes 64 --frames 1024 >/dev/null
if [[ $(scripts/eal-mode.sh) == hugepages ]]; then mem='"--in-memory"'; else mem='"--no-huge", "-m", "512", "--no-shconf"'; fi
core=$(( $(nproc) > 1 ? 1 : 0 ))
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed -e "s|\"--in-memory\",|$mem, \"--file-prefix=vxscrape$$\",|" \
    -e "s|rx_pcap=out/demo-access.pcap|rx_pcap=$work/a.pcap|" \
    -e "s|^cores = \[1\]|cores = [$core]|" \
    -e "s|^listen = .*|listen = \"127.0.0.1:$port\"|" \
    -e "s|^socket = .*|socket = \"$work/ctl.sock\"|" config/demo.toml > "$work/vxgate.toml"

run_once() { # $1 = scrape|quiet ; prints Mpps
    "$VXGATE" run -c "$work/vxgate.toml" --duration "$DURATION" >"$work/out.txt" 2>/dev/null &
    local pid=$!
    local scrapes=0
    if [[ $1 == scrape ]]; then
        # The scraper stands in for a Prometheus server elsewhere: keep it off the worker's core.
        scrapes=$(taskset -c 0 python3 - "$port" "$DURATION" <<'PY'
import sys, time, urllib.request
port, dur = sys.argv[1], float(sys.argv[2])
end = time.time() + dur - 0.5
n = 0
time.sleep(0.5)
while time.time() < end:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1).read()
        n += 1
    except Exception:
        pass
    time.sleep(0.1)
print(n)
PY
)
    fi
    wait "$pid"
    awk '/access rx/ {print $7}' "$work/out.txt" | tr '\n' ' '
    echo "$scrapes"
}

quiet_sum=0; scrape_sum=0; total_scrapes=0
for i in $(seq 1 "$RUNS"); do
    read -r q _ < <(run_once quiet)
    read -r s n < <(run_once scrape)
    echo "run $i: unobserved $q Mpps, scraped every 100 ms $s Mpps ($n scrapes)"
    quiet_sum=$(python3 -c "print($quiet_sum + $q)")
    scrape_sum=$(python3 -c "print($scrape_sum + $s)")
    total_scrapes=$((total_scrapes + n))
done
python3 - "$quiet_sum" "$scrape_sum" "$total_scrapes" <<'PY'
import sys
q, s, n = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
print(f"| scraping /metrics every 100 ms | {s:.3f} Mpps vs {q:.3f} Mpps unobserved | ratio {s/q:.3f} | cost {100*(1-s/q):+.2f} % | {n} scrapes |")
PY

# Idle: no traffic at all (both ports net_null without RX), the worker busy-polling. What do
# the other threads (control, metrics, socket server, main) cost? CPU seconds from
# /proc/PID/task/*/stat over DURATION seconds, the worker thread (vxgate-w*) apart.
sed -e "s|\"--vdev=net_pcap0,rx_pcap=$work/a.pcap,infinite_rx=1\"|\"--vdev=net_null1,no-rx=1\"|" \
    -e 's|^access = "net_pcap0"|access = "net_null1"|' "$work/vxgate.toml" >"$work/idle.toml"
"$VXGATE" run -c "$work/idle.toml" --duration "$((DURATION + 2))" >"$work/idle.txt" 2>&1 &
pid=$!
sleep 1
cpu_of() { # cpu_of PID → "worker_ticks other_ticks"
    local w=0 o=0 t name ticks
    for t in /proc/"$1"/task/*; do
        name=$(cat "$t/comm" 2>/dev/null || echo gone)
        ticks=$(awk '{ print $14 + $15 }' "$t/stat" 2>/dev/null || echo 0)
        if [[ $name == vxgate-w* ]]; then w=$((w + ticks)); else o=$((o + ticks)); fi
    done
    echo "$w $o"
}
read -r w0 o0 < <(cpu_of "$pid")
sleep "$DURATION"
read -r w1 o1 < <(cpu_of "$pid")
wait "$pid" || true
hz=$(getconf CLK_TCK)
python3 - "$((w1 - w0))" "$((o1 - o0))" "$hz" "$DURATION" <<'PY'
import sys
w, o, hz, d = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
print(f"| idle, no traffic | worker {100*w/hz/d:.0f} % of its core (busy polling) | every other thread {100*o/hz/d:.2f} % of a core |")
PY
