#!/usr/bin/env bash
# Builds (once) a Debian 13 "trixie" root with GIMP 3 and the Python packages the dragd plug-in imports,
# for the real-GIMP end-to-end test and CI: Debian 12 hosts only ship GIMP 2.10.
#
#   bash install/gimp_chroot.sh [ROOT]      -> prints ROOT on stdout when it is ready
#
# ROOT defaults to $DRAGD_GIMP_CHROOT, else /var/cache/dragd-gimp-chroot. Needs root (debootstrap, chroot)
# and a reachable Debian mirror ($DEBIAN_MIRROR, default deb.debian.org). Idempotent: a finished root carries a
# stamp naming its package list, and a second run with the same list returns at once. An interrupted build
# never leaves a half-made ROOT: it is built under ROOT.partial and renamed when complete. The tools' chatter
# goes to ROOT.log; its tail is printed when a step fails.
set -euo pipefail

ROOT=${1:-${DRAGD_GIMP_CHROOT:-/var/cache/dragd-gimp-chroot}}
ROOT=${ROOT%/}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# xvfb, xauth, xdotool: the end-to-end test runs GIMP's window on a virtual screen and presses Ctrl+Z in it,
# because GIMP has no procedure a script could call to undo.
PACKAGES="gimp python3-gi gir1.2-gimp-3.0 python3-zmq python3-msgpack python3-numpy xvfb xauth xdotool"
STAMP="$ROOT/.dragd-gimp-chroot"
WANT="trixie minbase: $PACKAGES"
LOG="$ROOT.log"

say() { echo "gimp_chroot: $*" >&2; }
ready() { [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; }
step() {  # step DESCRIPTION COMMAND...: runs COMMAND with its output in $LOG, shows the log's tail on failure
    say "$1"
    shift
    if ! "$@" >>"$LOG" 2>&1; then
        say "failed: $*  (last lines of $LOG follow)"
        tail -n 25 "$LOG" >&2
        exit 1
    fi
}

if ready; then
    echo "$ROOT"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    say "building the GIMP 3 root needs root (debootstrap and chroot); run this script with sudo"
    exit 2
fi

mkdir -p "$(dirname "$ROOT")"
# One builder at a time: a second caller waits here, then finds the stamp.
exec 9>"$ROOT.lock"
flock 9
if ready; then
    echo "$ROOT"
    exit 0
fi
: >"$LOG"
start=$(date +%s)

if ! command -v debootstrap >/dev/null; then
    # -o DPkg::Lock::Timeout: wait for another apt-get on the host rather than fail.
    step "installing debootstrap on the host" apt-get -o DPkg::Lock::Timeout=600 update -qq
    step "installing debootstrap on the host" env DEBIAN_FRONTEND=noninteractive \
        apt-get -o DPkg::Lock::Timeout=600 install -y -qq debootstrap
fi

if [ -x "$ROOT/usr/bin/apt-get" ]; then
    BUILD=$ROOT  # a finished root whose package list changed: install the difference into it
else
    BUILD=$ROOT.partial
    rm -rf "$BUILD"
    step "debootstrap trixie (minbase) into $BUILD from $MIRROR" \
        debootstrap --variant=minbase trixie "$BUILD" "$MIRROR"
fi
cp /etc/resolv.conf "$BUILD/etc/resolv.conf" 2>/dev/null || true
step "apt-get update in the root" chroot "$BUILD" apt-get update -qq
# shellcheck disable=SC2086  # PACKAGES is a word list on purpose
step "installing $PACKAGES" chroot "$BUILD" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends $PACKAGES
step "apt-get clean" chroot "$BUILD" apt-get clean
if [ "$BUILD" != "$ROOT" ]; then
    rm -rf "$ROOT"
    mv "$BUILD" "$ROOT"
fi
echo "$WANT" >"$STAMP"
say "ready in $(( $(date +%s) - start )) s: $ROOT ($(du -sh "$ROOT" | cut -f1))"
echo "$ROOT"
