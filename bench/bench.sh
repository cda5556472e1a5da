#!/usr/bin/env bash
# make bench: compares layerfs with kernel overlayfs and fuse-overlayfs on the same three lower
# layers (see docs/performance.md). Run as root after `make build`.
#   BENCH_QUICK=1   small sizes, 1 repetition (a few minutes)
#   BENCH_REPS=N    repetitions (default 3; 1 with BENCH_QUICK)
#   BENCH_DIR=DIR   scratch directory (default /var/tmp/layerfs-bench), must not be tmpfs
#   BENCH_ONLY=RE   run only the workload groups whose name matches the regular expression
#   BENCH_IMPLS=... comma list of kernel,fuse-overlayfs,layerfs (default all three)
# Leaves nothing mounted, also on failure or Ctrl-C: the harness unmounts what it mounted, and the
# EXIT trap below unmounts anything still mounted under $BENCH_DIR and checks /proc/mounts.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then echo "bench: must run as root (mounts, drop_caches)" >&2; exit 1; fi
if [ ! -f dist/main.js ]; then echo "bench: dist/main.js missing: run make build first" >&2; exit 1; fi
if [ ! -e /dev/fuse ]; then echo "bench: /dev/fuse missing" >&2; exit 1; fi

# Install what the benchmark needs (Debian).
missing=
command -v fio >/dev/null || missing+=" fio"
command -v fuse-overlayfs >/dev/null || missing+=" fuse-overlayfs"
command -v git >/dev/null || missing+=" git"
command -v fusermount >/dev/null || command -v fusermount3 >/dev/null || missing+=" fuse3"
if [ -n "$missing" ]; then
  echo "bench: installing$missing"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi

export BENCH_DIR=${BENCH_DIR:-/var/tmp/layerfs-bench}
BENCH_DIR=$(realpath -m "$BENCH_DIR")
mkdir -p "$BENCH_DIR"

# Unmount, deepest first, everything mounted under $BENCH_DIR/mnt (only our mountpoints).
mounted_here() { awk -v p="$BENCH_DIR/mnt/" 'index($2, p) == 1 { print $2 }' /proc/mounts | sort -r; }
cleanup() {
  local rc=$? m
  for m in $(mounted_here); do
    echo "bench: teardown: unmounting $m" >&2
    if grep -q " $m fuse.layerfs " /proc/mounts; then node dist/main.js umount "$m" >/dev/null 2>&1 || true; fi
    umount "$m" 2>/dev/null || fusermount -u "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  if [ -n "$(mounted_here)" ]; then
    echo "bench: ERROR: still mounted:" >&2; mounted_here >&2; rc=1
  else
    echo "bench: /proc/mounts checked: nothing left mounted under $BENCH_DIR" >&2
  fi
  exit $rc
}
HARNESS_PID=
# On Ctrl-C or TERM: stop the harness and the command it is timing (its children, by parent pid).
kill_tree() { local c; for c in $(pgrep -P "$1"); do kill_tree "$c"; done; kill -TERM "$1" 2>/dev/null || true; }
stop_harness() {
  [ -n "$HARNESS_PID" ] || return 0
  kill_tree "$HARNESS_PID"
  wait "$HARNESS_PID" 2>/dev/null || true
}
trap cleanup EXIT
trap 'stop_harness; exit 130' INT
trap 'stop_harness; exit 143' TERM

# In the background so that the traps run at once; the harness's exit status is the script's.
node -r ts-node/register bench/run.ts "$@" &
HARNESS_PID=$!
wait "$HARNESS_PID"
if [ -z "${BENCH_ONLY:-}" ] || [[ startup =~ $BENCH_ONLY ]]; then bash bench/startup.sh; fi  # start-up figures with ratios (bench/startup.sh)
