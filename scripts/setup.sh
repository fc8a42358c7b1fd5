#!/usr/bin/env bash
# Installs what vxgate needs on Debian/Ubuntu (DPDK 22.11, bindgen's libclang, test tools) and
# reserves 2 MB hugepages when it can. Idempotent: installs only what is missing.
set -euo pipefail

PACKAGES=(dpdk dpdk-dev libdpdk-dev libclang-dev clang pkg-config libpcap-dev tshark
          python3-scapy prometheus iproute2 ethtool iputils-ping curl etcd-server etcd-client
          protobuf-compiler valgrind systemd dpkg-dev gnuplot-nox openssl)
HUGEPAGES=${HUGEPAGES:-512}

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null; then SUDO=(sudo); else
        echo "setup.sh: not root and no sudo: install ${PACKAGES[*]} yourself" >&2; exit 1
    fi
fi

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}" >&2
    # tshark asks whether non-root users may capture; answer no without a prompt.
    echo "wireshark-common wireshark-common/install-setuid boolean false" |
        "${SUDO[@]}" debconf-set-selections
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2
fi

# Reserve hugepages if fewer are configured (fails quietly in containers).
total=$(awk '/^HugePages_Total:/ {print $2}' /proc/meminfo)
if [[ "$total" -lt "$HUGEPAGES" ]]; then
    echo "$HUGEPAGES" | "${SUDO[@]}" tee /proc/sys/vm/nr_hugepages >/dev/null 2>&1 || true
fi

mode=$("$(dirname "$0")/eal-mode.sh")
if [[ $mode == hugepages ]]; then
    echo "hugepages available: use EAL args --in-memory --no-pci"
else
    echo "no hugepages: use EAL args --no-huge -m 512 --no-pci --no-shconf"
fi
echo "setup done: DPDK $(pkg-config --modversion libdpdk 2>/dev/null || echo '?'), EAL mode $mode"
