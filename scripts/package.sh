#!/usr/bin/env bash
# Builds the Debian package (out/vxgate_<version>_<arch>.deb) with cargo-deb: the release
# binary, /etc/vxgate/gateway.toml (conffile), the systemd unit, the hugepage sysctl, man pages
# and shell completions generated from the CLI. Installs cargo-deb from crates.io if missing.
#
# Usage: scripts/package.sh              (PROFILE=dev packages the debug build, as the tests do)
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=${PROFILE:-release}

if ! cargo deb --version >/dev/null 2>&1; then
    echo "package: installing cargo-deb from crates.io" >&2
    cargo install cargo-deb --locked --quiet >&2
fi
command -v dpkg-shlibdeps >/dev/null ||
    { echo "package: dpkg-shlibdeps missing (apt-get install dpkg-dev)" >&2; exit 1; }

cargo build --quiet --profile "$PROFILE"
dir=$([[ $PROFILE == dev ]] && echo debug || echo "$PROFILE")
rm -rf target/generated
"target/$dir/vxgate" generate --out target/generated >/dev/null
mkdir -p out
deb=$(cargo deb --no-build --profile "$PROFILE" --output out/ 2>&1 | tail -n 1)
[[ -f $deb ]] || { echo "package: cargo deb failed: $deb" >&2; exit 1; }
echo "$deb"
