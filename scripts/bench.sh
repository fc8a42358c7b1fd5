#!/usr/bin/env bash
# End-to-end throughput of vxgate on DPDK virtual devices, against a baseline measured in the
# same run: dpdk-testpmd in io forwarding mode on the very same devices (net_pcap replaying a
# pcap forever → net_null), same EAL memory mode, same core.
#
#   scripts/bench.sh [SECONDS]        # seconds per run, default 10 (≈ 1.5 min in total)
#
# Scenarios (pcaps made by `vxgate pcap-gen` from config/demo.toml, 64-byte access frames):
#   unicast  - known unicast to the demo's static FDB entries (1:1 encap)
#   bcast20  - every 5th frame a broadcast ARP request, alternating between VNI 5000 (flooded
#              head-end to 3 VTEPs) and VNI 5001 (1 VTEP)
# plus, when hugepages exist, vxgate on unicast with --no-huge (EAL memory mode ratio).
#
# Rates are the median of the per-second samples after the first two (start-up) and before
# the last (shutdown): testpmd's "Rx-pps" of port 0 from --stats-period 1, vxgate's per-second
# "rx ... Mpps" log line. Both count frames received from the access port and processed;
# vxgate also prints its shutdown summary (whole run, underlay tx includes flood copies).
# vxgate does strictly more per packet than io forwarding (parse, VLAN→VNI, FDB lookup, 50-byte
# prepend, IPv4 checksum, counters), so the ratio is expected below 1.
#
# Installs nothing itself; runs scripts/setup.sh only if dpdk-testpmd is missing.
set -euo pipefail

cd "$(dirname "$0")/.."
DUR=${1:-${BENCH_SECONDS:-10}}
OUT=out/bench
mkdir -p "$OUT"
RUN_ID=$$
# testpmd and the EAL leave a runtime dir (with the telemetry socket) per file prefix.
trap 'rm -rf /var/run/dpdk/vxbench-*-"$RUN_ID" "/tmp/vxbench-$RUN_ID"' EXIT

command -v dpdk-testpmd >/dev/null || scripts/setup.sh
TESTPMD=$(command -v dpdk-testpmd)

echo "== building release (once)" >&2
cargo build --release --quiet
BIN=target/release/vxgate

MODE=$(scripts/eal-mode.sh)
eal_mem() { # eal_mem hugepages|nohuge → EAL memory arguments, one per line
    if [[ $1 == hugepages ]]; then
        printf '%s\n' --in-memory --no-pci
    else
        printf '%s\n' --no-huge -m 512 --no-pci --no-shconf
    fi
}

# Median of the numbers on stdin after dropping the first two and the last sample.
steady_median() {
    awk '{ v[NR] = $1 } END {
        n = 0; for (i = 3; i < NR; i++) s[++n] = v[i];
        if (n == 0) { for (i = 1; i <= NR; i++) s[++n] = v[i] }
        if (n == 0) { print "nan"; exit }
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (s[j] < s[i]) { t = s[i]; s[i] = s[j]; s[j] = t }
        print (n % 2) ? s[(n + 1) / 2] : (s[n / 2] + s[n / 2 + 1]) / 2 }'
}

# testpmd SCENARIO PCAP → Mpps
testpmd_run() {
    local name=$1 pcap=$2 log="$OUT/testpmd-$1.log"
    local -a eal
    mapfile -t eal < <(eal_mem "$MODE")
    # Main lcore 0 (prints stats once a second), one forwarding lcore: core 1, as vxgate's worker.
    timeout -s INT -k 5 "$((DUR + 3))" "$TESTPMD" -l 0,1 "${eal[@]}" \
        --file-prefix "vxbench-tp-$name-$RUN_ID" \
        --vdev "net_pcap0,rx_pcap=$pcap,infinite_rx=1" --vdev "net_null0,no-rx=1" -- \
        --forward-mode=io --nb-cores=1 --stats-period=1 --no-flush-rx --auto-start \
        </dev/null >"$log" 2>&1 || true
    local mpps
    mpps=$(sed 's/\x1b\[[0-9;]*[A-Za-z]//g' "$log" | awk '
        /NIC statistics for port/ { match($0, /port +[0-9]+/); port = substr($0, RSTART + 5) + 0 }
        /Rx-pps:/ && port == 0 { print $2 / 1e6 }' | steady_median)
    if [[ $mpps == nan ]]; then
        echo "testpmd produced no rate; see $log" >&2
        tail -5 "$log" >&2
    fi
    echo "$mpps"
}

# vxgate_config PCAP MODE PREFIX → config file path
vxgate_config() {
    local pcap=$1 mode=$2 prefix=$3 cfg="$OUT/vxgate-$3.toml"
    {
        echo "[dpdk]"
        echo "eal_args = ["
        # Main lcore 0; the worker is a registered thread pinned to workers.cores = [1].
        echo '    "-l", "0",'
        eal_mem "$mode" | sed 's/.*/    "&",/'
        echo "    \"--file-prefix=vxbench-$prefix-$RUN_ID\","
        echo "    \"--vdev=net_pcap0,rx_pcap=$pcap,infinite_rx=1\","
        echo '    "--vdev=net_null0,no-rx=1",'
        echo "]"
        echo "mempool_size = 8191"
        echo "mempool_cache = 256"
        echo
        # Everything else from the demo (VNIs, static FDB, neighbours, workers.cores = [1]).
        awk '/^\[/ { skip = ($0 == "[dpdk]" || $0 == "[metrics]" || $0 == "[control]") } !skip' \
            config/demo.toml
        echo
        echo "[metrics]"
        echo "enabled = false"
        echo
        echo "[control]"
        echo "socket = \"/tmp/vxbench-$RUN_ID/$prefix.sock\""
    } >"$cfg"
    echo "$cfg"
}

# vxgate_run NAME PCAP MODE → "steady_rx_Mpps summary_access_rx_Mpps summary_underlay_tx_Mpps drops"
vxgate_run() {
    local name=$1 pcap=$2 mode=$3 log="$OUT/vxgate-$1.log" cfg
    cfg=$(vxgate_config "$pcap" "$mode" "$name")
    NO_COLOR=1 RUST_LOG=info timeout -s INT -k 5 "$((DUR + 15))" \
        "$BIN" run --config "$cfg" --duration "$DUR" </dev/null >"$log" 2>&1 || {
        echo "vxgate run failed; see $log" >&2
        tail -5 "$log" >&2
    }
    local steady rx tx drops
    steady=$(sed 's/\x1b\[[0-9;]*[A-Za-z]//g' "$log" |
        sed -n 's/.*[^a-z]rx \([0-9.]*\) Mpps.*| tx .*/\1/p' | steady_median)
    rx=$(awk '/^  access rx/ { print $(NF - 3) }' "$log")
    tx=$(awk '/^  underlay tx/ { print $(NF - 3) }' "$log")
    drops=$(awk '/drops: none/ { print 0 } /drops \(/ { gsub(/[()]/, ""); print $2 }' "$log")
    echo "${steady:-nan} ${rx:-nan} ${tx:-nan} ${drops:-?}"
}

num() { awk -v a="$1" 'BEGIN { if (a ~ /^[0-9.]+$/) printf "%.2f", a; else print a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0 && a + 0 > 0) printf "%.2f", a / b; else print "n/a" }'; }

echo "== generating pcaps" >&2
"$BIN" pcap-gen --config config/demo.toml --access "$OUT/unicast.pcap" \
    --underlay "$OUT/unicast-underlay.pcap" --frames 1024 --sizes 64 --broadcast-every 0 >&2
"$BIN" pcap-gen --config config/demo.toml --access "$OUT/bcast20.pcap" \
    --underlay "$OUT/bcast20-underlay.pcap" --frames 1024 --sizes 64 --broadcast-every 5 >&2

declare -A TP VX
for sc in unicast bcast20; do
    echo "== $sc: testpmd io forwarding, ${DUR}s ($MODE)" >&2
    TP[$sc]=$(testpmd_run "$sc" "$OUT/$sc.pcap")
    echo "== $sc: vxgate, ${DUR}s ($MODE)" >&2
    VX[$sc]=$(vxgate_run "$sc" "$OUT/$sc.pcap" "$MODE")
done
NOHUGE=""
if [[ $MODE == hugepages ]]; then
    echo "== unicast: vxgate with --no-huge, ${DUR}s" >&2
    NOHUGE=$(vxgate_run unicast-nohuge "$OUT/unicast.pcap" nohuge)
fi

{
    echo "EAL mode: $MODE; ${DUR}s per run; 64-byte access frames; testpmd lcore 1 (main 0), vxgate worker core 1 (main 0)"
    echo
    echo "| scenario | testpmd io fwd Mpps | vxgate Mpps | ratio vxgate/testpmd | vxgate summary: access rx / underlay tx Mpps | vxgate drops |"
    echo "|---|---:|---:|---:|---:|---:|"
    for sc in unicast bcast20; do
        read -r steady rx tx drops <<<"${VX[$sc]}"
        echo "| $sc | $(num "${TP[$sc]}") | $(num "$steady") | $(ratio "$steady" "${TP[$sc]}") | $(num "$rx") / $(num "$tx") | $drops |"
    done
    if [[ -n $NOHUGE ]]; then
        read -r hsteady _ _ _ <<<"${VX[unicast]}"
        read -r nsteady _ _ _ <<<"$NOHUGE"
        echo
        echo "| vxgate unicast | hugepages Mpps | --no-huge Mpps | ratio no-huge/hugepages |"
        echo "|---|---:|---:|---:|"
        echo "| unicast | $(num "$hsteady") | $(num "$nsteady") | $(ratio "$nsteady" "$hsteady") |"
    fi
} | tee "$OUT/results.md"
echo "(logs and configs in $OUT/)" >&2
