#!/usr/bin/env bash
# pktgen-dpdk against vxgate on one machine, over shared memory: vxgate's ports are two
# net_vhost servers, pktgen's two virtio_user clients (pktgen 23.03 cannot open a net_memif
# port on DPDK 22.11: its start-up MTU call fails and it panics). Runs one pktgen command file
# (encap.pkt, decap.pkt or both.pkt), then prints vxgate's counters beside pktgen's screen.
#
#   PKTGEN=/path/to/pktgen scripts/pktgen/local-vhost.sh [encap|decap|both]
#
# Needs pktgen-dpdk built against this machine's DPDK (22.11: pktgen 23.03, meson, Lua off)
# and about 1 GB of free 2 MB hugepages for pktgen's pools (echo 1536 >
# /proc/sys/vm/nr_hugepages). pktgen runs with --in-memory, so it also needs
# --single-file-segments (virtio_user shares its memory with the vhost side by file
# descriptor), and -j, because the underlay pcap has frames over 1514 bytes.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUN=${1:-both}
PKTGEN=${PKTGEN:?set PKTGEN to the pktgen binary (build pktgen 23.03 against DPDK 22.11)}
[[ -f scripts/pktgen/$RUN.pkt ]] || { echo "no scripts/pktgen/$RUN.pkt" >&2; exit 2; }
cargo build --release --quiet
VXGATE=target/release/vxgate
WORK=$(mktemp -d /tmp/vxgate-pktgen.XXXXXX)
VX=
cleanup() {
    [[ -n $VX ]] && kill -INT "$VX" 2>/dev/null
    sleep 1
    # The EALs' runtime dirs of both file prefixes, and the work dir unless KEEP is set.
    rm -rf /var/run/dpdk/vxpktgen /var/run/dpdk/vxpktgen-pg
    [[ -n ${KEEP:-} ]] || rm -rf "$WORK"
}
trap cleanup EXIT

# The demo's gateway with vhost ports, the control socket and metrics in the work dir.
sed -e 's|"--vdev=net_pcap0,rx_pcap=out/demo-access.pcap,infinite_rx=1"|"--file-prefix=vxpktgen", "--vdev=net_vhost0,iface='"$WORK"'/access.sock,queues=1"|' \
    -e 's|"--vdev=net_null0,no-rx=1"|"--vdev=net_vhost1,iface='"$WORK"'/underlay.sock,queues=1"|' \
    -e 's|^access = .*|access = "net_vhost0"|' -e 's|^underlay = .*|underlay = "net_vhost1"|' \
    -e "s|^socket = .*|socket = \"$WORK/ctl.sock\"|" -e 's|^listen = .*|listen = "127.0.0.1:0"|' \
    config/demo.toml >"$WORK/vxgate.toml"
if [[ $(scripts/eal-mode.sh) != hugepages ]]; then
    sed -i 's|"--in-memory"|"--no-huge", "-m", "512", "--no-shconf"|' "$WORK/vxgate.toml"
fi
VXGATE=$VXGATE scripts/pktgen/make-pcaps.sh "$WORK/vxgate.toml" "$WORK" >/dev/null
"$VXGATE" run --config "$WORK/vxgate.toml" >"$WORK/vxgate.log" 2>&1 &
VX=$!
for _ in $(seq 100); do [[ -S $WORK/ctl.sock ]] && break; sleep 0.1; done

# The command file, then quit, so vxgate's counters can be printed after pktgen's last screen.
{ cat "scripts/pktgen/$RUN.pkt"; printf 'delay 2000\nquit\n'; } >"$WORK/run.pkt"
"$PKTGEN" -l 0,1 --in-memory --single-file-segments --no-pci --file-prefix vxpktgen-pg \
    --vdev="virtio_user0,path=$WORK/access.sock,queues=1" \
    --vdev="virtio_user1,path=$WORK/underlay.sock,queues=1" -- \
    -P -j -m "1.[0-1]" -s "0:$WORK/access.pcap" -s "1:$WORK/underlay.pcap" \
    -f "$WORK/run.pkt"

echo
echo "vxgate's side (compare with pktgen's Tx Pkts/Rx Pkts per port above):"
"$VXGATE" stats --socket "$WORK/ctl.sock" | sed -n '/Packets since/,/FDB:/p'
