#!/usr/bin/env bash
# Instructions per packet for each pipeline case, counted by callgrind inside the pipeline call
# only (benches/icount.rs): repeatable to the instruction, so a change can be judged without
# this machine's timing noise. Prints a table and writes out/icount.csv.
#
# Usage: scripts/icount.sh [BURSTS]   (default 200 bursts of 32 packets per case; CASES="a b"
# picks cases)
#        ICOUNT_CHECK=1 scripts/icount.sh   also fails when a case costs more than 1 % over
#        benches/icount-baseline.csv (the counts the README quotes; update both together when
#        a change is meant to cost more, and say why in the commit).
set -euo pipefail
cd "$(dirname "$0")/.."
BURSTS=${1:-200}
command -v valgrind >/dev/null || { echo "icount: valgrind missing (scripts/setup.sh installs it)" >&2; exit 1; }

# The software port only: the pipeline is the same code, and no DPDK is needed.
bin=$(cargo bench --no-default-features --bench icount --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "icount" and m.get("executable"):
        print(m["executable"])')
[[ -x $bin ]] || { echo "icount: could not build benches/icount.rs" >&2; exit 1; }

mkdir -p out
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '%-22s %14s %12s\n' case instructions per_packet
echo "case,bursts,packets,instructions,instructions_per_packet" >out/icount.csv
for case in ${CASES:-encap encap_local_learning decap flood4 encap_1m encap6 decap6 flood_group}; do
    valgrind --tool=callgrind --toggle-collect='*icount_step*' \
        --callgrind-out-file="$tmp/$case.out" "$bin" "$case" "$BURSTS" >"$tmp/$case.log" 2>&1 ||
        { cat "$tmp/$case.log" >&2; exit 1; }
    total=$(awk '/^(summary|totals):/ {print $2; exit}' "$tmp/$case.out")
    packets=$((BURSTS * 32))
    per=$(awk -v t="$total" -v p="$packets" 'BEGIN { printf "%.1f", t / p }')
    printf '%-22s %14s %12s\n' "$case" "$total" "$per"
    echo "$case,$BURSTS,$packets,$total,$per" >>out/icount.csv
done
echo "(per input packet; flood4 sends 4 copies of each; encap_1m looks up a random one of 1 M entries;"
echo " encap6/decap6 over IPv6 with the UDP checksum; flood_group sends one copy to a multicast group)"

if [[ -n ${ICOUNT_CHECK:-} ]]; then
    # Instruction counts are deterministic for a given toolchain and code: a rise is the code's.
    awk -F, 'NR == FNR { if (FNR > 1) base[$1] = $2; next }
        FNR > 1 && ($1 in base) {
            limit = base[$1] * 1.01
            status = ($5 > limit) ? "REGRESSED" : "ok"
            printf "%-22s %8.1f vs baseline %8.1f  %s\n", $1, $5, base[$1], status
            if ($5 > limit) bad = 1
        }
        END { exit bad }' benches/icount-baseline.csv out/icount.csv ||
        { echo "icount: instructions per packet rose more than 1 % over benches/icount-baseline.csv" >&2; exit 1; }
fi
