#!/usr/bin/env bash
# The Debian package: builds it (scripts/package.sh, debug profile unless PROFILE says
# otherwise) and checks it without installing it on this machine:
#   - its file list (binary, conffile, unit, sysctl drop-in, man pages, completions);
#   - its Depends: Debian's DPDK runtime libraries, no -dev package;
#   - `systemd-analyze verify` accepts the unit;
#   - the packaged binary validates the packaged config (`vxgate check --offline`);
#   - run with NOTIFY_SOCKET and WATCHDOG_USEC, the packaged binary sends READY=1, feeds the
#     watchdog while its worker polls, and sends STOPPING=1 on SIGTERM.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf 'package: %s\n' "$*"; }
die() { printf 'package: FAIL: %s\n' "$*" >&2; exit 1; }

WORK=$(mktemp -d /tmp/vxgate-package.XXXXXX)
PREFIX=vxpkg-$$
PID=
cleanup() {
    [[ -n $PID ]] && kill -KILL "$PID" 2>/dev/null
    rm -rf "$WORK" "/var/run/dpdk/$PREFIX"
}
trap cleanup EXIT

# Built as on a fresh machine: cargo-deb out of reach (a CARGO_HOME of this test's own, with
# the toolchain and the downloaded crate sources but no installed tools, and no PATH entry
# that holds cargo-deb), so package.sh installs it first; its standard output must still be
# the package's path alone, the one line test.sh and this script read.
real_home=${CARGO_HOME:-$HOME/.cargo}
home=$WORK/cargo-home
mkdir -p "$home/bin"
for t in cargo rustc rustdoc; do ln -s "$(command -v "$t")" "$home/bin/$t"; done
for d in registry git; do [[ -d $real_home/$d ]] && ln -s "$real_home/$d" "$home/$d"; done
path=$home/bin
while IFS= read -r -d: dir; do
    [[ -n $dir && ! -x $dir/cargo-deb ]] && path+=":$dir"
done <<<"$PATH:"
CARGO_HOME=$home RUSTUP_HOME=${RUSTUP_HOME:-$HOME/.rustup} PATH=$path \
    PROFILE=${PROFILE:-dev} scripts/package.sh >"$WORK/package.out" ||
    die "scripts/package.sh failed without cargo-deb installed"
[[ -x $home/bin/cargo-deb ]] || die "package.sh did not install cargo-deb into its CARGO_HOME"
lines=$(wc -l <"$WORK/package.out")
deb=$(tail -n 1 "$WORK/package.out")
[[ $lines -eq 1 && $deb == *.deb && -f $deb ]] ||
    die "package.sh's standard output is not one existing .deb: $(cat "$WORK/package.out")"
say "built $deb ($(du -h "$deb" | cut -f1)), cargo-deb installed on first use"

files=$(dpkg-deb -c "$deb" | awk '{print $NF}')
for f in ./usr/bin/vxgate ./etc/vxgate/gateway.toml ./lib/systemd/system/vxgate.service \
    ./usr/lib/sysctl.d/60-vxgate-hugepages.conf ./usr/share/man/man1/vxgate.1 \
    ./usr/share/man/man1/vxgate-run.1 ./usr/share/bash-completion/completions/vxgate \
    ./usr/share/zsh/vendor-completions/_vxgate ./usr/share/fish/vendor_completions.d/vxgate.fish; do
    grep -qxF "$f" <<<"$files" || grep -qxF "$f.gz" <<<"$files" || die "$f missing from the package"
done
grep -qx "/etc/vxgate/gateway.toml" < <(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles) ||
    die "gateway.toml is not a conffile"
depends=$(dpkg-deb -f "$deb" Depends)
say "Depends: $depends"
grep -q "librte-" <<<"$depends" || die "no DPDK runtime library in Depends"
grep -q -- "-dev" <<<"$depends" && die "Depends names a -dev package"
version=$(dpkg-deb -f "$deb" Version)
[[ $version == $(awk -F'"' '/^version =/ {print $2; exit}' Cargo.toml)* ]] ||
    die "package version $version is not Cargo.toml's"

dpkg-deb -x "$deb" "$WORK/root"
BIN=$WORK/root/usr/bin/vxgate
"$BIN" version
"$BIN" check --offline --config "$WORK/root/etc/vxgate/gateway.toml" ||
    die "the packaged binary rejects the packaged config"

# The unit as installed, its binary where this test extracted it.
sed "s|/usr/bin/vxgate|$BIN|g" "$WORK/root/lib/systemd/system/vxgate.service" >"$WORK/vxgate.service"
if command -v systemd-analyze >/dev/null; then
    # --man=no: the man pages the unit names are in the package, not installed here.
    out=$(systemd-analyze verify --man=no "$WORK/vxgate.service" 2>&1) || die "systemd-analyze verify: $out"
    grep -i "vxgate.service" <<<"$out" && die "systemd-analyze verify warns: $out"
    say "systemd-analyze verify: unit accepted"
else
    die "systemd-analyze missing (scripts/setup.sh installs systemd)"
fi

# Readiness, watchdog and stop notifications from the packaged binary.
"$BIN" pcap-gen -c config/demo.toml --access "$WORK/access.pcap" --underlay "$WORK/u.pcap" >/dev/null
if [[ $(scripts/eal-mode.sh) == hugepages ]]; then mem='"--in-memory"'; else
    mem='"--no-huge", "-m", "512", "--no-shconf"'; fi
sed -e "s|out/demo-access.pcap|$WORK/access.pcap|" \
    -e "s|\"--in-memory\"|$mem, \"--file-prefix=$PREFIX\"|" \
    -e "s|^socket = .*|socket = \"$WORK/ctl/control.sock\"|" \
    -e "s|^listen = .*|listen = \"127.0.0.1:0\"|" \
    -e 's/^cores = \[1\]/cores = [0]/' config/demo.toml >"$WORK/vxgate.toml"
python3 - "$WORK/notify" "$WORK/notify.log" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1]); s.settimeout(60)
with open(sys.argv[2], "w") as log:
    t0 = time.time()
    while True:
        try:
            m = s.recv(4096).decode()
        except socket.timeout:
            break
        log.write(f"{time.time() - t0:.2f} {m!r}\n"); log.flush()
        if m.startswith("STOPPING=1"):
            break
PY
LISTENER=$!
for _ in $(seq 50); do [[ -S $WORK/notify ]] && break; sleep 0.1; done
NOTIFY_SOCKET=$WORK/notify WATCHDOG_USEC=1000000 "$BIN" run -c "$WORK/vxgate.toml" --no-pin \
    >"$WORK/run.log" 2>&1 &
PID=$!
for _ in $(seq 200); do grep -q "READY=1" "$WORK/notify.log" 2>/dev/null && break; sleep 0.1; done
sleep 3.5
kill -TERM "$PID"
rc=0
wait "$PID" || rc=$?
PID=
wait "$LISTENER" || true
say "notifications: $(tr '\n' ' ' <"$WORK/notify.log")"
[[ $rc == 0 ]] || { tail -20 "$WORK/run.log"; die "vxgate exited with $rc"; }
grep -q "'READY=1" "$WORK/notify.log" || die "no READY=1"
feeds=$(grep -c "'WATCHDOG=1'" "$WORK/notify.log" || true)
((feeds >= 4)) || die "the watchdog was fed $feeds times in 3.5 s (every 0.5 s expected)"
grep -q "'STOPPING=1'" "$WORK/notify.log" || die "no STOPPING=1"
say "PASS: READY=1, $feeds watchdog feeds, STOPPING=1"
