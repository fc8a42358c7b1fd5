#!/usr/bin/env bash
# End-to-end tests through DPDK virtual devices (tests/dpdk_e2e.rs): the real vxgate binary on
# net_pcap ports, exact output bytes, tshark, a live /metrics scrape with promtool, the CLI.
# The EAL mode comes from scripts/eal-mode.sh unless VXGATE_EAL_MODE is set; extra arguments go
# to the test harness (e.g. --nocapture).
set -euo pipefail
cd "$(dirname "$0")/.."
VXGATE_EAL_MODE="${VXGATE_EAL_MODE:-$(scripts/eal-mode.sh)}"
export VXGATE_EAL_MODE
exec cargo test --test dpdk_e2e -- "$@"
