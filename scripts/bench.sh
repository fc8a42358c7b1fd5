#!/usr/bin/env bash
# End-to-end throughput of vxgate on DPDK virtual devices, each case against a baseline
# measured in the same run on the very same devices: dpdk-testpmd in io forwarding mode (it
# only moves mbuf pointers between the drivers), same EAL memory mode, same core.
#
#   scripts/bench.sh [SECONDS]        # seconds per run, default 5 (about 4 minutes in all)
#   CASES="encap:64 decap:64" scripts/bench.sh 3     # some cases only
#
# Cases (CASE:INNER_FRAME_BYTES; frames from `vxgate pcap-gen` or, for fdb1m, written here):
#   encap   VLAN 100 access frames to 1 000 known MACs behind 3 VTEPs -> VXLAN (1:1)
#   decap   VXLAN frames from the 3 VTEPs to local hosts -> VLAN 100 access frames (1:1)
#   both    encap and decap at once, one worker, both ports replaying
#   fdb1m   encap with destinations spread uniformly over a 1 M-entry FDB (loaded through
#           `vxgate fdb batch` before the measured seconds)
#   flood3  broadcast to the VNI's 3 VTEPs (head-end replication: 1 frame in, 3 out)
# Sizes are inner Ethernet frames without FCS (the access frame carries 4 more bytes of tag,
# the VXLAN frame 50 more of outer headers); the underlay MTU is raised to 9000 for 1500.
#
# Devices: net_pcap replaying the case's pcap forever (`infinite_rx=1`, transmit dropped by the
# PMD) into net_null (`no-rx=1`); for `both`, one pcap port per side, each dropping what it is
# sent. testpmd: `-l 0,1` (main lcore 0, forwarding lcore 1), vxgate: `-l 0`, worker pinned to
# core 1.
#
# Columns: rates are medians of the per-second samples, first two and last dropped (testpmd
# `--stats-period 1` Rx-pps / Rx-bps; vxgate's per-second "rx ... Mpps ... Gbps" line, which
# counts both ports' receive); out Mpps is vxgate's transmit (3 per frame for flood3);
# ratio = vxgate / testpmd rx Mpps; cycles/packet = TSC Hz / vxgate rx pps (the worker core
# busy-polls, so every cycle of it is spent on some packet); p50/p99/p99.9 are vxgate's
# per-burst processing latency (burst received -> burst sent) over the last second, from
# `vxgate stats --json`.
#
# Then zero-loss throughput per ZL_CASES (default "encap:64 decap:64"): see zeroloss_run.
#
# Writes out/bench/results.md (the tables), out/bench/results.csv, results-zeroloss.csv and,
# when gnuplot is there (scripts/setup.sh installs it), out/bench/results.png. Installs nothing itself; runs
# scripts/setup.sh only if dpdk-testpmd is missing.
set -euo pipefail

cd "$(dirname "$0")/.."
DUR=${1:-${BENCH_SECONDS:-5}}
((DUR >= 4)) || { echo "bench: at least 4 seconds per run (the first two are start-up)" >&2; exit 2; }
CASES=${CASES:-"encap:64 encap:128 encap:512 encap:1500 decap:64 decap:128 decap:512 decap:1500 both:64 fdb1m:64 flood3:64"}
OUT=out/bench
mkdir -p "$OUT"
RUN_ID=$$
WORK=/tmp/vxbench-$RUN_ID
mkdir -p "$WORK"
# testpmd and the EAL leave a runtime dir (with the telemetry socket) per file prefix.
trap 'rm -rf /var/run/dpdk/vxbench-*-"$RUN_ID" "$WORK"' EXIT

command -v dpdk-testpmd >/dev/null || scripts/setup.sh >&2
TESTPMD=$(command -v dpdk-testpmd)

echo "== building release (once)" >&2
cargo build --release --quiet
BIN=target/release/vxgate

MODE=$(scripts/eal-mode.sh)
eal_mem() { # eal_mem hugepages|nohuge → EAL memory arguments, one per line
    if [[ $1 == hugepages ]]; then
        printf '%s\n' --in-memory --no-pci
    else
        printf '%s\n' --no-huge -m 1024 --no-pci --no-shconf
    fi
}
TSC_MHZ=$(awk '/^cpu MHz/ { print $4; exit }' /proc/cpuinfo)
CPU=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)

# Median of the numbers on stdin after dropping the first two and the last sample.
steady_median() {
    awk '{ v[NR] = $1 } END {
        n = 0; for (i = 3; i < NR; i++) s[++n] = v[i];
        if (n == 0) { for (i = 1; i <= NR; i++) s[++n] = v[i] }
        if (n == 0) { print "nan"; exit }
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (s[j] < s[i]) { t = s[i]; s[i] = s[j]; s[j] = t }
        print (n % 2) ? s[(n + 1) / 2] : (s[n / 2] + s[n / 2 + 1]) / 2 }'
}
nocolor() { sed 's/\x1b\[[0-9;]*[A-Za-z]//g' "$1"; }

# The vdev arguments of a case: "ACCESS_VDEV UNDERLAY_VDEV" (pcap replaying or null sink).
vdevs() { # vdevs ACCESS_PCAP|- UNDERLAY_PCAP|-
    local a=$1 u=$2
    if [[ $a != - ]]; then a="net_pcap0,rx_pcap=$a,infinite_rx=1"; else a="net_null0,no-rx=1"; fi
    if [[ $u != - ]]; then u="net_pcap1,rx_pcap=$u,infinite_rx=1"; else u="net_null1,no-rx=1"; fi
    echo "$a $u"
}

# testpmd_run NAME ACCESS_PCAP|- UNDERLAY_PCAP|- FRAMES → "Mpps Gbps" received over both ports
testpmd_run() {
    local name=$1 log="$OUT/testpmd-$1.log" a u
    read -r a u <<<"$(vdevs "$2" "$3")"
    local -a eal
    mapfile -t eal < <(eal_mem "$MODE")
    local mbufs=$(( $4 * 2 + 8192 ))
    timeout -s INT -k 5 "$((DUR + 3))" "$TESTPMD" -l 0,1 "${eal[@]}" \
        --file-prefix "vxbench-tp-$name-$RUN_ID" --vdev "$a" --vdev "$u" -- \
        --forward-mode=io --nb-cores=1 --stats-period=1 --no-flush-rx --auto-start \
        --total-num-mbufs="$mbufs" </dev/null >"$log" 2>&1 || true
    local mpps gbps
    mpps=$(nocolor "$log" | awk '
        /NIC statistics for port/ { match($0, /port +[0-9]+/); port = substr($0, RSTART + 5) + 0 }
        /Rx-pps:/ { s[port] = $2 } /Tx-pps:/ && port == 1 { print (s[0] + s[1]) / 1e6; s[0] = s[1] = 0 }' |
        steady_median)
    gbps=$(nocolor "$log" | awk '
        /NIC statistics for port/ { match($0, /port +[0-9]+/); port = substr($0, RSTART + 5) + 0 }
        /Rx-bps:/ { s[port] = $4 } /Tx-pps:/ && port == 1 { print (s[0] + s[1]) / 1e9; s[0] = s[1] = 0 }' |
        steady_median)
    [[ $mpps != nan ]] || { echo "testpmd produced no rate; see $log" >&2; tail -5 "$log" >&2; }
    echo "$mpps $gbps"
}

# The gateway of every case: VNI 5000 on VLAN 100, flooded to three VTEPs, FDB_ENTRIES static
# MACs 02:00:00:10:HH:LL behind them.
FDB_ENTRIES=1000
gateway_toml() {
    cat <<'EOF'
[vtep]
ip = "192.0.2.1"
mac = "02:00:00:00:00:01"
underlay_mtu = 9000

[workers]
cores = [1]

[[vni]]
id = 5000
vlan = 100
flood = ["192.0.2.2", "192.0.2.3", "192.0.2.4"]

[[neighbor]]
ip = "192.0.2.2"
mac = "02:00:00:00:00:02"

[[neighbor]]
ip = "192.0.2.3"
mac = "02:00:00:00:00:03"

[[neighbor]]
ip = "192.0.2.4"
mac = "02:00:00:00:00:04"
EOF
    for ((i = 1; i <= FDB_ENTRIES; i++)); do
        printf '\n[[fdb]]\nvni = 5000\nmac = "02:00:00:10:%02x:%02x"\nremote = "192.0.2.%d"\n' \
            $((i >> 8)) $((i & 255)) $((2 + i % 3))
    done
}
gateway_toml >"$WORK/gateway.toml"
# pcap-gen reads a whole config: the same gateway with placeholder ports.
printf '[ports]\naccess = "a"\nunderlay = "u"\n\n' | cat - "$WORK/gateway.toml" >"$WORK/pcapgen.toml"

# gateway_config NAME ACCESS_VDEV UNDERLAY_VDEV MBUFS [GATEWAY_TOML] → config path: the EAL
# with the two vdevs, ports named after them, the gateway, no metrics, the run's socket.
gateway_config() {
    local name=$1 a=$2 u=$3 mbufs=$4 gateway=${5:-$WORK/gateway.toml} cfg="$OUT/vxgate-$1.toml"
    {
        echo "[dpdk]"
        echo "eal_args = ["
        echo '    "-l", "0",'
        eal_mem "$MODE" | sed 's/.*/    "&",/'
        echo "    \"--file-prefix=vxbench-$name-$RUN_ID\","
        echo "    \"--vdev=$a\","
        echo "    \"--vdev=$u\","
        echo "]"
        echo "mempool_size = $mbufs"
        echo
        echo "[ports]"
        echo "access = \"${a%%,*}\""
        echo "underlay = \"${u%%,*}\""
        echo
        cat "$gateway"
        echo
        echo "[metrics]"
        echo "enabled = false"
        echo
        echo "[control]"
        echo "socket = \"$WORK/$name.sock\""
    } >"$cfg"
    echo "$cfg"
}

# vxgate_config NAME ACCESS_PCAP|- UNDERLAY_PCAP|- FRAMES → config path (net_pcap / net_null)
vxgate_config() {
    local a u
    read -r a u <<<"$(vdevs "$2" "$3")"
    gateway_config "$1" "$a" "$u" "$(( $4 * 2 + 8192 ))"
}

# vxgate_run NAME CFG [BATCH_FILE] → "rx_Mpps rx_Gbps tx_Mpps p50_us p99_us p999_us drops"
vxgate_run() {
    local name=$1 cfg=$2 batch=${3:-} log="$OUT/vxgate-$1.log" sock="$WORK/$1.sock"
    local extra=0
    if [[ -n $batch ]]; then extra=30; fi
    NO_COLOR=1 RUST_LOG=info timeout -s INT -k 5 "$((DUR + extra + 15))" \
        "$BIN" run --config "$cfg" --duration "$((DUR + extra))" </dev/null >"$log" 2>&1 &
    local pid=$! start
    for _ in $(seq 200); do [[ -S $sock ]] && break; sleep 0.05; done
    if [[ -n $batch ]]; then
        # Load the table, then measure DUR seconds from here (the log's samples from now on).
        "$BIN" fdb batch --socket "$sock" --file "$batch" >"$OUT/vxgate-$name-batch.log" 2>&1 ||
            { echo "fdb batch failed; see $OUT/vxgate-$name-batch.log" >&2; }
        start=$(nocolor "$log" | grep -c ' Mpps ' || true)
        sleep "$DUR"
    else
        start=0
        sleep "$((DUR - 1))"
    fi
    local stats
    stats=$("$BIN" stats --json --socket "$sock" 2>/dev/null || echo '{}')
    if [[ -n $batch ]]; then kill -INT "$pid" 2>/dev/null || true; fi
    wait "$pid" || { echo "vxgate run failed; see $log" >&2; tail -5 "$log" >&2; }
    local lines rx gbps tx lat drops
    lines=$(nocolor "$log" | grep ' rx [0-9.]* Mpps [0-9.]* Gbps | tx ' | tail -n +"$((start + 1))")
    rx=$(sed -n 's/.* rx \([0-9.]*\) Mpps.*/\1/p' <<<"$lines" | steady_median)
    gbps=$(sed -n 's/.* rx [0-9.]* Mpps \([0-9.]*\) Gbps.*/\1/p' <<<"$lines" | steady_median)
    tx=$(sed -n 's/.*| tx \([0-9.]*\) Mpps.*/\1/p' <<<"$lines" | steady_median)
    lat=$(python3 -c 'import json,sys
try:
    l = json.loads(sys.argv[1])["body"]["rates"]["latency"]
    print("%.1f %.1f %.1f" % (l["p50_ns"] / 1e3, l["p99_ns"] / 1e3, l["p999_ns"] / 1e3))
except Exception:
    print("nan nan nan")' "$stats")
    drops=$(awk '/drops: none/ { print 0 } /drops \(/ { gsub(/[()]/, ""); print $2 }' "$log")
    echo "${rx:-nan} ${gbps:-nan} ${tx:-nan} $lat ${drops:-?}"
}

# A pcap of FRAMES VLAN-100 frames of SIZE bytes (inner, untagged size) to MACs spread
# uniformly over 02:10:xx:xx:xx:xx, index < N, and the batch file that installs those N MACs.
write_fdb1m() { # write_fdb1m PCAP BATCH N FRAMES SIZE
    python3 - "$@" <<'EOF'
import random, struct, sys
pcap, batch, n, frames, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
def mac(i):
    return bytes([0x02, 0x10]) + i.to_bytes(4, "big")
rng = random.Random(5000)
src = bytes.fromhex("020000010001")
with open(pcap, "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    for k in range(frames):
        ip_len = size - 14
        udp_len = ip_len - 20
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, ip_len, k & 0xffff, 0, 64, 17, 0,
                         bytes([10, 0, 1, 1]), bytes([10, 0, 2, 1 + k % 200]))
        s = sum(struct.unpack("!10H", ip))
        while s >> 16:
            s = (s & 0xffff) + (s >> 16)
        ip = ip[:10] + struct.pack("!H", ~s & 0xffff) + ip[12:]
        udp = struct.pack("!HHHH", 1024 + k % 1000, 9, udp_len, 0) + bytes(udp_len - 8)
        frame = mac(rng.randrange(n)) + src + b"\x81\x00\x00\x64\x08\x00" + ip + udp
        f.write(struct.pack("<IIII", 0, 0, len(frame), len(frame)) + frame)
with open(batch, "w") as f:
    for i in range(n):
        m = mac(i).hex(":")
        f.write(f"add 5000 {m} 192.0.2.{2 + i % 3}\n")
EOF
}

echo "== EAL mode $MODE, ${DUR}s per run, TSC ${TSC_MHZ} MHz" >&2
CSV="$OUT/results.csv"
echo "case,frame_bytes,vxgate_rx_mpps,vxgate_rx_gbps,vxgate_tx_mpps,testpmd_mpps,ratio,cycles_per_packet,p50_us,p99_us,p999_us,drops" >"$CSV"
rows=()
for c in $CASES; do
    kind=${c%%:*} size=${c##*:}
    name="$kind-$size"
    frames=1024 access=- underlay= batch=
    case $kind in
        encap | flood3 | decap | both)
            bcast=0
            [[ $kind == flood3 ]] && bcast=1
            "$BIN" pcap-gen --config "$WORK/pcapgen.toml" --access "$WORK/$name-a.pcap" \
                --underlay "$WORK/$name-u.pcap" --frames "$frames" \
                --sizes "$((size + 4))" --broadcast-every "$bcast" >/dev/null
            # pcap-gen's access size includes the tag; its underlay size is the inner frame.
            if [[ $kind == decap || $kind == both ]]; then
                "$BIN" pcap-gen --config "$WORK/pcapgen.toml" --access /dev/null \
                    --underlay "$WORK/$name-u.pcap" --frames "$frames" --sizes "$size" >/dev/null
            fi
            case $kind in
                encap | flood3) access="$WORK/$name-a.pcap" underlay=- ;;
                decap) access=- underlay="$WORK/$name-u.pcap" ;;
                both) access="$WORK/$name-a.pcap" underlay="$WORK/$name-u.pcap" ;;
            esac
            ;;
        fdb1m)
            frames=32768
            echo "== $name: writing 1 M FDB entries and $frames frames" >&2
            write_fdb1m "$WORK/$name-a.pcap" "$WORK/$name.batch" 1000000 "$frames" "$size"
            access="$WORK/$name-a.pcap" underlay=- batch="$WORK/$name.batch"
            ;;
        *) echo "bench: unknown case $kind" >&2; exit 2 ;;
    esac
    echo "== $name: testpmd io forwarding" >&2
    read -r tp_mpps _ <<<"$(testpmd_run "$name" "$access" "$underlay" "$frames")"
    echo "== $name: vxgate" >&2
    cfg=$(vxgate_config "$name" "$access" "$underlay" "$frames")
    read -r rx gbps tx p50 p99 p999 drops <<<"$(vxgate_run "$name" "$cfg" "$batch")"
    ratio=$(awk -v a="$rx" -v b="$tp_mpps" 'BEGIN { if (b + 0 > 0 && a + 0 > 0) printf "%.2f", a / b; else print "n/a" }')
    cpp=$(awk -v a="$rx" -v f="$TSC_MHZ" 'BEGIN { if (a + 0 > 0) printf "%.0f", f / a; else print "n/a" }')
    echo "$kind,$size,$rx,$gbps,$tx,$tp_mpps,$ratio,$cpp,$p50,$p99,$p999,$drops" >>"$CSV"
    rows+=("| $kind | $size | $(printf '%.2f' "$rx") | $(printf '%.2f' "$gbps") | $(printf '%.2f' "$tx") | $(printf '%.2f' "$tp_mpps") | $ratio | $cpp | $p50 | $p99 | $p999 | $drops |")
done

{
    echo "CPU: $CPU, TSC ${TSC_MHZ} MHz; EAL mode: $MODE; ${DUR} s per run; one worker (core 1)"
    echo
    echo "| case | inner frame bytes | vxgate rx Mpps | vxgate rx Gbps | vxgate tx Mpps | testpmd io Mpps | ratio vxgate/testpmd | cycles/packet | p50 µs | p99 µs | p99.9 µs | vxgate drops |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${rows[@]}"
} | tee "$OUT/results.md"

# Zero-loss throughput (RFC 2544 style): `vxgate loadgen` owns two net_memif servers and
# replays the case's pcap into one at a paced rate; vxgate, a memif client on both, forwards
# into the other; a binary search finds the highest rate at which every frame came back.
# Generator and vxgate's main thread share core 0, the worker has core 1. memif copies every
# frame (it has no zero-copy path to vxgate's mempool), so these rates are far below the
# net_pcap ones above; they compare cases and commits, not devices.
ZL_CASES=${ZL_CASES:-"encap:64 decap:64"}
zeroloss_run() { # zeroloss_run KIND SIZE → "zero_loss_Mpps max_offered_Mpps trials"
    local kind=$1 size=$2 name="zl-$1-$2" a_sock u_sock pcap tx rx
    a_sock="$WORK/$name-a.sock" u_sock="$WORK/$name-u.sock"
    "$BIN" pcap-gen --config "$WORK/pcapgen.toml" --access "$WORK/$name-a.pcap" \
        --underlay /dev/null --frames 1024 --sizes "$((size + 4))" >/dev/null
    "$BIN" pcap-gen --config "$WORK/pcapgen.toml" --access /dev/null \
        --underlay "$WORK/$name-u.pcap" --frames 1024 --sizes "$size" >/dev/null
    case $kind in
        encap) pcap="$WORK/$name-a.pcap" tx=net_memif0 rx=net_memif1 ;;
        decap) pcap="$WORK/$name-u.pcap" tx=net_memif1 rx=net_memif0 ;;
        *) echo "bench: zero-loss case $kind unknown" >&2; return 1 ;;
    esac
    # memif frames stop at 1518 bytes: the default underlay MTU.
    grep -v '^underlay_mtu' "$WORK/gateway.toml" >"$WORK/gateway-memif.toml"
    local cfg
    cfg=$(gateway_config "$name" "net_memif0,role=client,socket=$a_sock" \
        "net_memif1,role=client,socket=$u_sock" 16383 "$WORK/gateway-memif.toml")
    # The generator first (the memif servers), without hugepages: it must not share ours.
    "$BIN" loadgen --pcap "$pcap" --tx "$tx" --rx "$rx" --trial-secs "${ZL_TRIAL_SECS:-1}" \
        --steps "${ZL_STEPS:-6}" -- -l 0 --no-huge -m 512 --no-pci --no-shconf \
        --file-prefix "vxbench-lg-$name-$RUN_ID" \
        --vdev "net_memif0,role=server,socket=$a_sock" \
        --vdev "net_memif1,role=server,socket=$u_sock" >"$OUT/loadgen-$name.log" 2>&1 &
    local lg=$!
    sleep 1
    NO_COLOR=1 "$BIN" run --config "$cfg" >"$OUT/vxgate-$name.log" 2>&1 &
    local vx=$!
    wait "$lg" || echo "loadgen failed; see $OUT/loadgen-$name.log" >&2
    kill -INT "$vx" 2>/dev/null || true
    wait "$vx" 2>/dev/null || true
    awk '/^trial/ { n++; if ($2 == "max") { gsub(/[(]/, "", $6); max = $6 } }
         /^zero-loss:/ { zl = $2 }
         END { printf "%s %s %d\n", (zl == "" ? "nan" : zl), (max == "" ? "nan" : max), n }' \
        "$OUT/loadgen-$name.log"
}
zl_rows=()
ZL_CSV="$OUT/results-zeroloss.csv"
echo "case,frame_bytes,zero_loss_mpps,unpaced_offered_mpps,trials" >"$ZL_CSV"
for c in $ZL_CASES; do
    kind=${c%%:*} size=${c##*:}
    echo "== zero-loss $kind-$size: loadgen over memif" >&2
    read -r zl max n <<<"$(zeroloss_run "$kind" "$size")"
    echo "$kind,$size,$zl,$max,$n" >>"$ZL_CSV"
    zl_rows+=("| $kind | $size | $zl | $max | $n |")
done
if ((${#zl_rows[@]})); then
    {
        echo
        echo "Zero-loss throughput over net_memif (\`vxgate loadgen\`, ${ZL_TRIAL_SECS:-1} s trials):"
        echo
        echo "| case | inner frame bytes | zero-loss Mpps | unpaced offered Mpps | trials |"
        echo "|---|---:|---:|---:|---:|"
        printf '%s\n' "${zl_rows[@]}"
    } | tee -a "$OUT/results.md"
fi

if command -v gnuplot >/dev/null; then
    gnuplot <<EOF
set terminal pngcairo size 1000,500 font ",10"
set output "$OUT/results.png"
set datafile separator ","
set title "vxgate vs dpdk-testpmd io forwarding, same virtual devices, same run ($MODE)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set key top right
set ylabel "Mpps received"
set yrange [0:*]
set xtics rotate by -30
plot "$CSV" every ::1 using 6:xtic(sprintf("%s-%s", stringcolumn(1), stringcolumn(2))) title "testpmd io", \
     "" every ::1 using 3 title "vxgate"
EOF
    echo "(plot: $OUT/results.png)" >&2
fi
echo "(CSV: $CSV; logs and configs in $OUT/)" >&2
