#!/usr/bin/env bash
# The pcaps pktgen-dpdk replays (-s P:file.pcap), made by `vxgate pcap-gen` from the gateway's
# own configuration, so every frame is one the gateway forwards: access frames on the VNIs'
# VLANs to the static FDB's MACs, and VXLAN frames from the configured neighbours addressed to
# the VTEP.
#
#   scripts/pktgen/make-pcaps.sh CONFIG [OUT_DIR]     (default out/pktgen)
#   SIZES=64 FRAMES=4096 scripts/pktgen/make-pcaps.sh /etc/vxgate/gateway.toml
#
# SIZES are the access frames' sizes with the 802.1Q tag and the underlay's inner frames' sizes,
# without FCS (default 64,512,1468: the largest access frame that fits the default 1500-byte
# underlay MTU once encapsulated). The underlay pcap's VXLAN frames are 50 bytes longer than
# their inner frame: 1468 makes 1518-byte frames, which pktgen cuts to 1514 unless it runs with
# -j (SIZES=64,512,1464 fits without it).
set -euo pipefail
cd "$(dirname "$0")/../.."
CONFIG=${1:?usage: make-pcaps.sh CONFIG [OUT_DIR]}
OUT=${2:-out/pktgen}
# Built every time unless given: a binary left by an earlier run may be from another commit.
if [[ -z ${VXGATE:-} ]]; then
    cargo build --release --quiet
    VXGATE=target/release/vxgate
fi
mkdir -p "$OUT"
"$VXGATE" pcap-gen --config "$CONFIG" --access "$OUT/access.pcap" --underlay "$OUT/underlay.pcap" \
    --sizes "${SIZES:-64,512,1468}" --frames "${FRAMES:-1024}" --broadcast-every "${BROADCAST_EVERY:-0}"
echo "pktgen: -s 0:$OUT/access.pcap -s 1:$OUT/underlay.pcap"
