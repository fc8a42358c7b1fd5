#!/usr/bin/env bash
# Prints "hugepages" when free hugepages exist (EAL: --in-memory --no-pci), else "nohuge"
# (EAL: --no-huge -m 512 --no-pci --no-shconf), so other scripts can pick their EAL arguments.
set -euo pipefail
free=$(awk '/^HugePages_Free:/ {print $2}' /proc/meminfo 2>/dev/null || true)
if [[ "${free:-0}" -gt 0 ]]; then echo hugepages; else echo nohuge; fi
