#!/usr/bin/env bash
# Runs every test: formatting and lints, the unit and integration tests on the software port
# (--no-default-features) and with DPDK (virtual devices), every fuzz target for a few seconds, and the
# interoperability test against the Linux kernel's VXLAN device in network namespaces.
# Installs what is missing first (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

step() { printf '\n==> %s\n' "$*"; }

# Every cargo test run also goes to this log so the suite can end with one total.
results=$(mktemp /tmp/vxgate-test.XXXXXX)
trap 'rm -f "$results"' EXIT
cargo_test() { cargo test "$@" 2>&1 | tee -a "$results"; }

step "setup"
scripts/setup.sh

step "cargo fmt --check"
cargo fmt --check

step "clippy, with DPDK"
cargo clippy --all-targets -- -D warnings
step "clippy, software port only"
cargo clippy --all-targets --no-default-features -- -D warnings

step "tests, software port only (--no-default-features)"
cargo_test --no-default-features

step "fuzzing: every target for a few seconds (scripts/fuzz.sh SECONDS runs them longer)"
scripts/fuzz.sh "${FUZZ_SECONDS:-5}"

step "interop with the Linux kernel's VXLAN device"
scripts/test-interop.sh
step "interop over a multicast group (flood-and-learn, IGMP)"
scripts/test-interop-mcast.sh
step "interop over an IPv6 underlay (neighbour discovery, UDP checksums)"
scripts/test-interop-ipv6.sh

step "hitless reloads under a 100/s ping and a warm restart (kernel VTEP, namespaces)"
scripts/test-reload.sh

step "a clean stop under full load (SIGTERM, SIGINT: exit 0 within 1 s, no mbuf leaked)"
scripts/test-stop.sh

step "a memif peer that goes away: link down, a clear error, no mbuf leaked (testpmd as the server)"
scripts/test-memif.sh

step "soak: hostile replay on both ports, FDB churn, scrapes, reloads and socket abuse at once (SOAK_SECS=${SOAK_SECS:-60})"
scripts/test-soak.sh

step "a fleet of two gateways sharing only etcd (namespaces, a real etcd)"
scripts/test-fleet.sh

step "the Debian package: file list, Depends, systemd-analyze verify, readiness and watchdog"
scripts/test-package.sh

step "pktgen recipes: the pcaps they replay are made and every frame fits pktgen's 1514 bytes with SIZES=64,512,1464"
cargo build --quiet
pg=$(mktemp -d)
SIZES=64,512,1464 VXGATE=target/debug/vxgate scripts/pktgen/make-pcaps.sh config/demo.toml "$pg" >/dev/null
for f in access underlay; do
    longest=$(tshark -r "$pg/$f.pcap" -T fields -e frame.len 2>/dev/null | sort -n | tail -1)
    [[ -n $longest && $longest -le 1514 ]] || { echo "pktgen $f.pcap: longest frame ${longest:-?}" >&2; exit 1; }
    echo "pktgen $f.pcap: $(tshark -r "$pg/$f.pcap" 2>/dev/null | wc -l) frames, longest $longest bytes"
done
rm -rf "$pg"

step "a real Prometheus server scraping vxgate on loopback"
cargo build --quiet
scripts/test-prometheus.sh

# Last, so its closing line is the suite's: every test with DPDK on virtual devices (the
# binding, the pcap end-to-end runs with tshark and promtool, metrics and CLI on a live gateway).
step "tests, with DPDK (default features)"
cargo_test

# One closing line for the whole suite: the sum over every `test result:` line above.
awk '/^test result:/ { p += $4; f += $6 } END { printf "\ntests: %d passed, %d failed\n", p, f }' "$results"
