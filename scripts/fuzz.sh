#!/usr/bin/env bash
# Runs the fuzz targets (fuzz/fuzz_targets/) with cargo-fuzz for a bounded time each and fails
# on the first crash, leak or timeout found. scripts/test.sh runs every target briefly; run them
# for hours with e.g. `scripts/fuzz.sh 3600` or one target with `scripts/fuzz.sh 3600 pipeline`.
#
# Needs the nightly toolchain (`cargo +nightly`); installs cargo-fuzz from crates.io if missing.
# Each target starts from its committed seeds (fuzz/corpus/<target>/seed-*) and, for the
# pipeline, every frame `vxgate pcap-gen --config fuzz/pipeline.toml` writes; what it finds
# goes to a scratch corpus (deleted afterwards), crashes to fuzz/artifacts/<target>/.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET (default 10)] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
shift || true

cargo +nightly --version >/dev/null 2>&1 ||
    { echo "fuzz: the nightly toolchain is missing (rustup toolchain install nightly)" >&2; exit 1; }
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz from crates.io" >&2
    cargo install cargo-fuzz --locked --quiet >&2
fi

targets=("$@")
if ((${#targets[@]} == 0)); then
    mapfile -t targets < <(cd fuzz && cargo +nightly fuzz list)
fi

work=$(mktemp -d /tmp/vxgate-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT

# Seeds for the pipeline: pcap-gen's frames for its own configuration, one file each.
cargo run --quiet --no-default-features -- pcap-gen --config fuzz/pipeline.toml \
    --access "$work/access.pcap" --underlay "$work/underlay.pcap" \
    --frames 64 --sizes 64,200,1400 --hosts 4 --broadcast-every 5 >/dev/null
mkdir -p "$work/pcapgen"
python3 - "$work/pcapgen" "$work/access.pcap" "$work/underlay.pcap" <<'PY'
import struct, sys
n = 0
for path in sys.argv[2:]:
    data = open(path, "rb").read()
    off = 24
    while off + 16 <= len(data):
        incl = struct.unpack("<IIII", data[off:off + 16])[2]
        off += 16
        open(f"{sys.argv[1]}/frame-{n:04d}", "wb").write(data[off:off + incl])
        off += incl
        n += 1
PY

echo "fuzz: building ${#targets[@]} targets (release, debug assertions on)"
(cd fuzz && cargo +nightly fuzz build -O -s none 2>&1 | grep -Ev '^ *(Compiling|Finished|warning)' || true)
printf '%-16s %12s %10s %10s\n' target runs corpus seconds
failed=()
for t in "${targets[@]}"; do
    mkdir -p "$work/$t" "fuzz/corpus/$t"
    seeds=("$PWD/fuzz/corpus/$t")
    [[ $t == pipeline || $t == underlay ]] && seeds+=("$work/pcapgen")
    log=$work/$t.log
    if (cd fuzz && cargo +nightly fuzz run -O -s none "$t" "$work/$t" "${seeds[@]}" -- \
            -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1) \
            >"$log" 2>&1; then
        runs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log")
        corpus=$(find "$work/$t" -type f | wc -l)
        printf '%-16s %12s %10s %10s\n' "$t" "${runs:-?}" "$corpus" "$SECS"
    else
        printf '%-16s FAILED (see below)\n' "$t"
        grep -E 'panicked|ERROR: libFuzzer|SUMMARY|Test unit written|artifact_prefix' "$log" | head -n 20
        failed+=("$t")
    fi
done
if ((${#failed[@]})); then
    echo "fuzz: FAIL: ${failed[*]} (reproduce: cd fuzz && cargo +nightly fuzz run TARGET artifacts/TARGET/crash-...)"
    exit 1
fi
echo "fuzz: PASS: ${#targets[@]} targets, ${SECS} s each, no crash"
