#!/usr/bin/env bash
# Start-up of layerfs beside its references, with ratios, into bench/results/startup.md:
#   --version and --help       against a bare `node -e 0`              (goal: within 1.5x)
#   mount until it answers     against `node -e 0`, and fuse-overlayfs (goal: within 3x node)
#   daemon gone after unmount  fusermount3 -u until the daemon's pid is gone (goal: 100 ms)
#   podman run --rm IMAGE true layerfs against fuse-overlayfs as mount_program (goal: 1.2x)
# Each figure is the median of STARTUP_REPS runs (default 15; 5 with BENCH_QUICK), the runs of a
# pair interleaved so that the machine's load hits both alike. Run by bench/bench.sh (root, after
# make build); STARTUP_PODMAN=0 skips podman. Leaves nothing mounted or running.
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${STARTUP_REPS:-$([ -n "${BENCH_QUICK:-}" ] && echo 5 || echo 15)}
D=${BENCH_DIR:-/var/tmp/layerfs-bench}/startup
MAIN=$PWD/dist/main.js
OUT=${STARTUP_OUT:-bench/results/startup.md}

for tool in fuse-overlayfs fusermount3; do
  command -v $tool >/dev/null || { echo "startup: $tool missing (bench/bench.sh installs it)" >&2; exit 1; }
done
podman_tools="podman runc busybox-static"
want_podman=${STARTUP_PODMAN:-1}
if [ "$want_podman" = 1 ]; then
  missing=$(for p in $podman_tools; do dpkg -s $p >/dev/null 2>&1 || echo $p; done)
  if [ -n "$missing" ]; then
    echo "startup: installing" $missing >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  fi
fi

rm -rf "$D" && mkdir -p "$D"/{l1,l2,u,w,fu,fw,m,fm}
echo top >"$D/l1/f" && echo bottom >"$D/l2/g"

cleanup() {
  for m in "$D/m" "$D/fm"; do
    if grep -q " $m " /proc/mounts; then fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m" || true; fi
  done
  if [ -n "${PODMAN_DIRS:-}" ]; then
    for s in $PODMAN_DIRS; do
      CONTAINERS_STORAGE_CONF=$s/storage.conf CONTAINERS_CONF=$s/containers.conf podman system reset --force >/dev/null 2>&1 || true
      awk -v p="$s/" 'index($2, p) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || fusermount3 -uz "$m" || true; done
    done
    rm -rf "$P"
  fi
  rm -rf "$D"
}
trap cleanup EXIT

now() { date +%s%N; }
ms() { awk -v ns="$1" 'BEGIN { printf "%.1f", ns / 1e6 }'; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
# Nanoseconds one command takes, its output dropped.
took() { local s; s=$(now); "$@" >/dev/null 2>&1; echo $(($(now) - s)); }
# Nanoseconds from the unmount until pid $1 is gone (polled every millisecond).
gone_after() {
  local pid=$1 mnt=$2 s
  s=$(now)
  fusermount3 -u "$mnt"
  while kill -0 "$pid" 2>/dev/null && [ "$(awk '{ print $3 }' /proc/$pid/stat 2>/dev/null)" != Z ]; do sleep 0.001; done
  echo $(($(now) - s))
}

declare -A T
add() { T[$1]+="$2 "; }
for ((i = 0; i < REPS; i++)); do
  add node "$(took node -e 0)"
  add version "$(took node "$MAIN" --version)"
  add help "$(took node "$MAIN" --help)"
  # the mount is ready when `layerfs mount` returns; the stat proves the view answers
  s=$(now); node "$MAIN" mount --lower "$D/l1" --lower "$D/l2" --upper "$D/u" --work "$D/w" "$D/m"; stat "$D/m/f" >/dev/null; add mount $(($(now) - s))
  pid=$(node -e 'const s = require(process.argv[1]).readState(process.argv[2]); console.log(s.pid)' "$PWD/dist/daemon/runtime.js" "$D/m")
  add gone "$(gone_after "$pid" "$D/m")"
  s=$(now); fuse-overlayfs -o "lowerdir=$D/l1:$D/l2,upperdir=$D/fu,workdir=$D/fw" "$D/fm" 2>/dev/null; stat "$D/fm/f" >/dev/null; add fmount $(($(now) - s))
  fpid=$(pgrep -n -f "fuse-overlayfs -o lowerdir=$D/l1") || fpid=
  if [ -n "$fpid" ]; then add fgone "$(gone_after "$fpid" "$D/fm")"; else fusermount3 -u "$D/fm"; fi
done
med() { echo ${T[$1]} | tr ' ' '\n' | grep . | median; }

# podman with each mount program on a one-binary image (busybox), its own store per program.
if [ "$want_podman" = 1 ]; then
  rootfs=$D/rootfs && mkdir -p "$rootfs/bin" && cp /bin/busybox "$rootfs/bin/" && ln -s busybox "$rootfs/bin/true"
  tar -C "$rootfs" -cf "$D/rootfs.tar" .
  PODMAN_DIRS=
  nofile=$(ulimit -Hn) nproc=$(ulimit -Hu)
  [ "$nofile" = unlimited ] || [ "$nofile" -gt 1048576 ] && nofile=1048576
  [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ] && nproc=32768
  # short store paths: conmon's attach socket under a long runroot exceeds the 108 bytes of a socket
  # address, and podman then waits 20 s for every container
  P=$(mktemp -d /var/tmp/lfsp.XXXXXX)
  for prog in layerfs fuse-overlayfs; do
    s=$P/$prog && mkdir -p "$s" && PODMAN_DIRS+="$s "
    mp=$([ $prog = layerfs ] && echo "$MAIN" || command -v fuse-overlayfs)
    printf '[storage]\ndriver = "overlay"\ngraphroot = "%s/graph"\nrunroot = "%s/run"\n[storage.options.overlay]\nmount_program = "%s"\n' "$s" "$s" "$mp" >"$s/storage.conf"
    # limits within this machine's hard ones (runc cannot raise them), as in test/fixtures/podman.ts
    printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=%s:%s"]\nnetns = "host"\n[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\ntmp_dir = "%s/tmp"\n' \
      "$nofile" "$nofile" "$nproc" "$nproc" "$s" >"$s/containers.conf"
    CONTAINERS_STORAGE_CONF=$s/storage.conf CONTAINERS_CONF=$s/containers.conf podman import -q "$D/rootfs.tar" localhost/startup:1 >/dev/null
    CONTAINERS_STORAGE_CONF=$s/storage.conf CONTAINERS_CONF=$s/containers.conf podman run --rm localhost/startup:1 true # warm-up
  done
  for ((i = 0; i < REPS; i++)); do
    for prog in layerfs fuse-overlayfs; do
      s=$P/$prog
      add "podman-$prog" "$(CONTAINERS_STORAGE_CONF=$s/storage.conf CONTAINERS_CONF=$s/containers.conf took podman run --rm localhost/startup:1 true)"
    done
  done
fi

node=$(med node)
{
  echo "## Start-up (median of $REPS runs, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg))"
  echo
  echo "| what | layerfs | reference | ratio | goal |"
  echo "|---|---|---|---|---|"
  echo "| \`--version\` | $(ms "$(med version)") ms | node -e 0: $(ms "$node") ms | $(ratio "$(med version)" "$node") | 1.5x |"
  echo "| \`--help\` | $(ms "$(med help)") ms | node -e 0: $(ms "$node") ms | $(ratio "$(med help)" "$node") | 1.5x |"
  echo "| mount until the view answers | $(ms "$(med mount)") ms | node -e 0: $(ms "$node") ms | $(ratio "$(med mount)" "$node") | 3x |"
  echo "| (the same for fuse-overlayfs) | | $(ms "$(med fmount)") ms | $(ratio "$(med mount)" "$(med fmount)") | |"
  echo "| daemon gone after fusermount3 -u | $(ms "$(med gone)") ms | fuse-overlayfs: $(ms "$(med fgone)") ms | | 100 ms |"
  if [ "$want_podman" = 1 ]; then
    echo "| \`podman run --rm IMAGE true\` | $(ms "$(med podman-layerfs)") ms | fuse-overlayfs: $(ms "$(med podman-fuse-overlayfs)") ms | $(ratio "$(med podman-layerfs)" "$(med podman-fuse-overlayfs)") | 1.2x |"
  fi
} | tee "$OUT"
