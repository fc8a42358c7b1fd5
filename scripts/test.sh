#!/usr/bin/env bash
# Runs every test: formatting and lints, the unit and integration tests on the software port
# (--no-default-features) and with DPDK (virtual devices), the fuzz targets' build, and the
# interoperability test against the Linux kernel's VXLAN device in network namespaces.
# Installs what is missing first (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

step() { printf '\n==> %s\n' "$*"; }

step "setup"
scripts/setup.sh

step "cargo fmt --check"
cargo fmt --check

step "clippy, with DPDK"
cargo clippy --all-targets -- -D warnings
step "clippy, software port only"
cargo clippy --all-targets --no-default-features -- -D warnings

step "tests, software port only (--no-default-features)"
cargo test --no-default-features

step "fuzz targets build"
if [[ -d fuzz ]]; then (cd fuzz && cargo check --quiet); fi

step "interop with the Linux kernel's VXLAN device"
if [[ -x scripts/test-interop.sh ]]; then scripts/test-interop.sh; fi

step "a real Prometheus server scraping vxgate on loopback"
cargo build --quiet
scripts/test-prometheus.sh

# Last, so its closing line is the suite's: every test with DPDK on virtual devices (the
# binding, the pcap end-to-end runs with tshark and promtool, metrics and CLI on a live gateway).
step "tests, with DPDK (default features)"
cargo test
