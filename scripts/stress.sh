#!/usr/bin/env bash
# make stress: real load generators from Debian (stress-ng's filesystem stressors, fio with
# verify=crc32c) inside a layerfs mount and, next to it, the same load on kernel overlayfs.
# Writes docs/reliability.md (see there for the results and the diagnosis of the differences).
# Run as root after `make build`.
#   STRESS_SECONDS=N  seconds per stress-ng stressor (default 20; the whole run stays under ~20 min)
#   STRESS_DIR=DIR    scratch directory (default /var/tmp/layerfs-stress), must not be tmpfs
#   STRESS_ONLY=RE    run only the loads whose name matches the regular expression (e.g. '^fio')
#   STRESS_IMPLS=...  comma list of layerfs,kernel (default both)
#   STRESS_DOC=FILE   where to write the report (default docs/reliability.md)
# Every load runs on a fresh mount (fresh upper and work) of the same two lower layers, which hold
# files (also under the directories the loads write in), so directories and files are copied up.
# After each load on layerfs the daemon must still run and the mount must still answer (the lower
# files read back intact); its RSS is recorded. Leaves nothing mounted, also on failure or Ctrl-C:
# the EXIT trap unmounts what this script mounted under $STRESS_DIR/mnt and checks /proc/mounts.
# It only ever signals the processes it started itself, by pid.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

die() { echo "stress: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (mounts)"
[ -f dist/main.js ] || die "dist/main.js missing: run make build first"
[ -e /dev/fuse ] || die "/dev/fuse missing"
grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || true

# Install the load generators when missing (Debian).
missing=
command -v stress-ng >/dev/null || missing+=" stress-ng"
command -v fio >/dev/null || missing+=" fio"
command -v fusermount >/dev/null || command -v fusermount3 >/dev/null || missing+=" fuse3"
if [ -n "$missing" ]; then
  echo "stress: installing$missing"
  apt-get update -qq || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null || die "apt-get install$missing failed"
fi

SECS=${STRESS_SECONDS:-20}
[[ "$SECS" =~ ^[1-9][0-9]*$ ]] || die "STRESS_SECONDS must be a positive integer"
ONLY=${STRESS_ONLY:-}
IMPLS=${STRESS_IMPLS:-layerfs,kernel}
DOC=${STRESS_DOC:-docs/reliability.md}
D=$(realpath -m "${STRESS_DIR:-/var/tmp/layerfs-stress}")
LAYERFS=(node "$ROOT/dist/main.js")
RUN_DIR=${LAYERFS_RUN_DIR:-/run/layerfs}
INSTANCES=2

mkdir -p "$D" || die "cannot create $D"
[ "$(findmnt -no FSTYPE -T "$D" 2>/dev/null)" != tmpfs ] || die "$D is on tmpfs; set STRESS_DIR"

# ---------------------------------------------------------------- cleanup, signals
LOAD_PID=    # the load running now (a timeout(1) process whose child is stress-ng or fio)
mounted_here() { awk -v p="$D/mnt/" 'index($2, p) == 1 { print $2 }' /proc/mounts | sort -r; }
stop_load() {
  [ -n "$LOAD_PID" ] || return 0
  # timeout(1) passes the TERM on to its child; stress-ng then stops its stressors and removes its files.
  kill -TERM "$LOAD_PID" 2>/dev/null || true
  wait "$LOAD_PID" 2>/dev/null || true
  LOAD_PID=
}
unmount_one() {
  local m=$1
  if grep -q " $m fuse.layerfs " /proc/mounts; then "${LAYERFS[@]}" umount "$m" >/dev/null 2>&1 || true; fi
  if grep -q " $m " /proc/mounts; then
    umount "$m" 2>/dev/null || fusermount -u "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  fi
}
cleanup() {
  local rc=$? m
  trap - EXIT
  trap '' INT TERM   # a second Ctrl-C must not cut the teardown short
  stop_load
  for m in $(mounted_here); do
    echo "stress: teardown: unmounting $m" >&2
    unmount_one "$m"
  done
  if [ -n "$(mounted_here)" ]; then
    echo "stress: ERROR: still mounted:" >&2; mounted_here >&2; rc=1
  else
    echo "stress: /proc/mounts checked: nothing left mounted under $D" >&2
  fi
  rm -rf "$D/run" 2>/dev/null || true   # uppers and work dirs (big files); the logs stay
  rm -f "$DOC.tmp"
  exit $rc
}
trap cleanup EXIT
trap 'echo "stress: interrupted" >&2; stop_load; exit 130' INT
trap 'echo "stress: terminated" >&2; stop_load; exit 143' TERM

# run_load LIMIT OUT ERR CMD...: runs CMD under timeout(1), its stdout appended to OUT and its stderr
# to ERR, in the background so that the traps act at once (and keep the script's own stderr: a trap
# runs with the redirections of the function it interrupts); returns its status.
run_load() {
  local limit=$1 out=$2 err=$3; shift 3
  timeout -k 15 "$limit" "$@" >>"$out" 2>>"$err" &
  LOAD_PID=$!
  local rc=0
  wait "$LOAD_PID" || rc=$?
  LOAD_PID=
  return $rc
}

# ---------------------------------------------------------------- lower layers
# L1 is the top-most layer, L2 the bottom one. Both hold files under work/ (where stress-ng writes)
# and fio/ (where fio writes), so these merged directories are copied up by the first write;
# data/lower.dat (64 MiB, in L2) is rewritten in place by the fio copy-up job.
L1=$D/lower/L1; L2=$D/lower/L2
make_lowers() {
  rm -rf "$D/lower"; mkdir -p "$L1"/{work,fio,etc} "$L2"/{work/sub/deep,fio,data,etc}
  local i
  for i in $(seq 1 40); do
    head -c $((i * 97)) /dev/urandom > "$L1/work/top$i"
    head -c $((i * 131)) /dev/urandom > "$L2/work/bottom$i"
    echo "deep $i" > "$L2/work/sub/deep/f$i"
  done
  echo 'top version' > "$L1/etc/config"; echo 'bottom version (shadowed)' > "$L2/etc/config"
  echo 'only in the bottom layer' > "$L2/etc/hosts"
  echo 'fio writes here' > "$L2/fio/README"; echo 'and here' > "$L1/fio/NOTE"
  ln -s ../etc/config "$L2/work/link-to-config"
  head -c 64M /dev/urandom > "$L2/data/lower.dat"
  # What the merged view must show (top-most layer wins); data/lower.dat is checked by the fio job.
  (cd "$L2" && find . -type f ! -path ./data/lower.dat -print0 | xargs -0 sha256sum) > "$D/manifest.bottom"
  (cd "$L1" && find . -type f -print0 | xargs -0 sha256sum) > "$D/manifest.top"
  awk 'NR == FNR { seen[$2] = 1; print; next } !($2 in seen)' "$D/manifest.top" "$D/manifest.bottom" > "$D/manifest"
  LOWER_SHA=$(sha256sum < "$L2/data/lower.dat" | cut -c1-64)
  find "$D/lower" -exec touch -d '2020-01-01 00:00:00' {} +
}

# ---------------------------------------------------------------- mounts
MNT=; UPPER=; WORKD=
daemon_pid() {  # the pid the layerfs daemon of $1 left in its state file
  local id; id=$(printf %s "$1" | sha256sum | cut -c1-16)
  sed -n 's/.*"pid": *\([0-9][0-9]*\).*/\1/p' "$RUN_DIR/mounts/$id.json" 2>/dev/null | head -1
}
daemon_log() {
  local id; id=$(printf %s "$1" | sha256sum | cut -c1-16)
  echo "$RUN_DIR/mounts/$id.log"
}
# fresh IMPL NAME LOG: new upper and work, mounted at $D/mnt/IMPL (the mount's messages go to LOG; no
# redirection around the call, since a trap runs with the redirections of the function it interrupts).
fresh() {
  local impl=$1 name=$2 log=$3
  MNT=$D/mnt/$impl; UPPER=$D/run/$impl-$name/upper; WORKD=$D/run/$impl-$name/work
  unmount_one "$MNT"
  rm -rf "$D/run/$impl-$name"; mkdir -p "$MNT" "$UPPER" "$WORKD"
  mount_again "$impl" "$log"
}
mount_again() {  # IMPL LOG: mounts $UPPER/$WORKD at $MNT again (same layers)
  case $1 in
    layerfs) "${LAYERFS[@]}" mount --lower "$L1" --lower "$L2" --upper "$UPPER" --work "$WORKD" "$MNT" >>"$2" 2>&1 ;;
    kernel) mount -t overlay overlay \
      -o "lowerdir=$L1:$L2,upperdir=$UPPER,workdir=$WORKD,redirect_dir=off,index=off,metacopy=off,xino=off" "$MNT" >>"$2" 2>&1 ;;
  esac
}
unmount_current() {
  local impl=$1
  case $impl in
    layerfs) "${LAYERFS[@]}" umount "$MNT" >/dev/null 2>&1 ;;
    kernel) umount "$MNT" ;;
  esac
  if grep -q " $MNT " /proc/mounts; then unmount_one "$MNT"; return 1; fi
}

# health IMPL: after a load. Sets HEALTH ("" when fine, else what is wrong) and RSS (layerfs).
health() {
  local impl=$1 pid problems=()
  RSS=
  if [ "$impl" = layerfs ]; then
    pid=$(daemon_pid "$MNT")
    if [ -z "$pid" ] || ! tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q " $MNT"; then
      problems+=("daemon not running")
    else
      RSS=$(awk '/^VmRSS/ { r = $2 } /^VmHWM/ { h = $2 } END { printf "%.0f / %.0f", r / 1024, h / 1024 }' "/proc/$pid/status")
    fi
    local errs; errs=$(grep -c '"level":[56]0' "$(daemon_log "$MNT")" 2>/dev/null) || true
    [ "${errs:-0}" = 0 ] || problems+=("$errs errors in the daemon log")
  fi
  if ! grep -q " $MNT " /proc/mounts; then problems+=("not mounted"); fi
  if ! timeout 20 stat -f "$MNT" >/dev/null 2>&1; then problems+=("statfs of the mount fails")
  elif ! (cd "$MNT" && timeout 60 sha256sum -c --quiet "$D/manifest" >/dev/null 2>&1); then
    problems+=("lower files do not read back intact")
  fi
  local left; left=$(timeout 20 find "$MNT/work" -maxdepth 1 -name 'stress-ng-*' 2>/dev/null | wc -l)
  [ "$left" = 0 ] || problems+=("$left stress-ng directories left behind")
  HEALTH=$(IFS=';'; echo "${problems[*]}")
}

# ---------------------------------------------------------------- loads
STRESSORS=(dir dentry rename link symlink chmod xattr flock fallocate seek hdd)
declare -A STRESS_EXTRA=(
  [fallocate]="--fallocate-bytes 256m"
  [hdd]="--hdd-bytes 256m"
)
FIO_COMMON=(--verify=crc32c --do_verify=1 --ioengine=psync --verify_state_save=0 --output-format=json)
declare -A FIO_ARGS=(
  [fio-seq]="--name=seq --directory=MNT/fio --rw=write --bs=1M --size=256M"
  [fio-rand]="--name=rand --directory=MNT/fio --rw=randwrite --bs=4k --size=64M"
  [fio-copyup]="--name=copyup --filename=MNT/data/lower.dat --rw=randwrite --bs=4k --offset=32M --size=32M"
)
FIO_JOBS=(fio-seq fio-rand fio-copyup)
LOGS=$D/logs
rm -rf "$LOGS"; mkdir -p "$LOGS"
declare -A RES RATE ERRS RSSV NOTE
selected() { [ -z "$ONLY" ] || [[ "$1" =~ $ONLY ]]; }
impls() { tr ',' ' ' <<<"$IMPLS"; }

stress_cmd() {  # the command line, with MNT as a placeholder
  echo "stress-ng --$1 $INSTANCES --timeout ${SECS}s --temp-path MNT/work --metrics-brief --verify${STRESS_EXTRA[$1]:+ ${STRESS_EXTRA[$1]}}"
}

run_stressor() {
  local s=$1 impl=$2 key="$2:$1" log="$LOGS/$2-$1.log" rc=0 cmd
  if ! fresh "$impl" "$s" "$log.mount"; then
    RES[$key]="FAIL (mount)"; ERRS[$key]=$(head -c 300 "$log.mount"); return
  fi
  cmd=$(stress_cmd "$s"); cmd=${cmd//MNT/$MNT}
  echo "+ $cmd" > "$log"
  run_load $((SECS * 3 + 60)) "$log" "$log" $cmd || rc=$?
  local ops rate nerr
  # The bogo-ops line of the stressor (not its "miscellaneous metrics" lines, which also start with its name).
  ops=$(awk -v s="$s" '$2 == "metrc:" && $4 == s && $5 ~ /^[0-9]+$/ && NF == 10 { print $5; exit }' "$log")
  rate=$(awk -v s="$s" '$2 == "metrc:" && $4 == s && $5 ~ /^[0-9]+$/ && NF == 10 { print $9; exit }' "$log")
  nerr=$(grep -cE '^stress-ng: (fail|error):' "$log") || true
  RATE[$key]=${rate:-–}
  health "$impl"
  RSSV[$key]=$RSS
  local why=()
  [ "$rc" = 0 ] || why+=("exit $rc$([ "$rc" = 124 ] || [ "$rc" = 137 ] && echo ', timed out')")
  [ "${ops:-0}" != 0 ] || why+=("0 bogo ops")
  [ "$nerr" = 0 ] || why+=("$nerr fail/error lines")
  [ -z "$HEALTH" ] || why+=("$HEALTH")
  if [ ${#why[@]} = 0 ]; then RES[$key]=PASS; else RES[$key]="FAIL ($(IFS=';'; echo "${why[*]}" | sed 's/;/, /g'))"; fi
  ERRS[$key]=$nerr
  if [ "$s" = fallocate ]; then
    # stress-ng ignores the errors of fallocate(2) (posix_fallocate falls back to writing): ask directly.
    local out; out=$(timeout 20 fallocate -l 1M "$MNT/work/.fallocate-probe" 2>&1) && out="supported"
    NOTE[$key]="fallocate(1) on the mount: ${out#fallocate: }"
    rm -f "$MNT/work/.fallocate-probe"
  fi
  echo "stress: $impl $s: ${RES[$key]}, ${RATE[$key]} bogo ops/s${RSS:+, daemon RSS $RSS MiB}${NOTE[$key]:+, ${NOTE[$key]}}" >&2
  unmount_current "$impl" || RES[$key]+=" (unmount failed)"
}

fio_json() {  # FILE FIELD: write/read bandwidth in MiB/s, or the job error
  node -e '
    const fs = require("fs"); let t = ""; try { t = fs.readFileSync(process.argv[1], "utf8"); } catch { }
    const i = t.indexOf("{"); let j; try { j = JSON.parse(t.slice(i)); } catch { console.log("-"); process.exit(0); }
    const job = j.jobs[0]; const f = process.argv[2];
    if (f === "error") console.log(job.error);
    else console.log(job[f].bw_bytes > 0 ? (job[f].bw_bytes / 1048576).toFixed(1) : "0");
  ' "$1" "$2"
}

run_fio() {
  local job=$1 impl=$2 key="$2:$1" log="$LOGS/$2-$1" rc=0 rc2=0 args why=()
  if ! fresh "$impl" "$job" "$log.mount"; then
    RES[$key]="FAIL (mount)"; ERRS[$key]=$(head -c 300 "$log.mount"); return
  fi
  args=${FIO_ARGS[$job]//MNT/$MNT}
  echo "+ fio $args ${FIO_COMMON[*]}" > "$log.err"
  run_load 600 /dev/null "$log.err" fio $args "${FIO_COMMON[@]}" --output="$log.json" || rc=$?
  local werr wbw rbw
  werr=$(fio_json "$log.json" error); wbw=$(fio_json "$log.json" write); rbw=$(fio_json "$log.json" read)
  health "$impl"
  RSSV[$key]=$RSS
  [ "$rc" = 0 ] || why+=("exit $rc")
  [ "$werr" = 0 ] || why+=("job error $werr")
  [ -z "$HEALTH" ] || why+=("$HEALTH")
  # The written data must survive an unmount: mount the same upper again and verify only.
  if unmount_current "$impl" && mount_again "$impl" "$log.mount"; then
    echo "+ fio $args ${FIO_COMMON[*]} --verify_only" >> "$log.err"
    run_load 600 /dev/null "$log.err" fio $args "${FIO_COMMON[@]}" --verify_only --output="$log.verify.json" || rc2=$?
    local verr; verr=$(fio_json "$log.verify.json" error)
    [ "$rc2" = 0 ] && [ "$verr" = 0 ] || why+=("verify after remount: exit $rc2, job error $verr")
    if [ "$job" = fio-copyup ]; then
      # Copy-up kept the half fio did not write, and the lower file is untouched.
      cmp -s -n $((32 * 1048576)) "$MNT/data/lower.dat" "$L2/data/lower.dat" || why+=("unwritten half differs from the lower file")
      [ "$(sha256sum < "$L2/data/lower.dat" | cut -c1-64)" = "$LOWER_SHA" ] || why+=("lower file modified")
      [ -f "$UPPER/data/lower.dat" ] || why+=("no copy in the upper layer")
    fi
    unmount_current "$impl" || why+=("unmount failed")
  else
    why+=("remount failed")
  fi
  local nerr; nerr=$(grep -v '^+ ' "$log.err" | grep -ciE 'verify:|bad magic|crc32c|err=|error') || true
  if [ ${#why[@]} = 0 ]; then RES[$key]=PASS; else RES[$key]="FAIL ($(IFS=';'; echo "${why[*]}" | sed 's/;/, /g'))"; fi
  RATE[$key]="$wbw / $rbw"
  ERRS[$key]="$werr${nerr:+ ($nerr msg)}"
  [ "${nerr:-0}" != 0 ] || ERRS[$key]=$werr
  echo "stress: $impl $job: ${RES[$key]}, write/verify $wbw / $rbw MiB/s${RSS:+, daemon RSS $RSS MiB}" >&2
}

# ---------------------------------------------------------------- run
START=$(date -u +%Y-%m-%dT%H:%M:%SZ); T0=$SECONDS
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
echo "stress: scratch $D, ${SECS}s per stressor, implementations: $IMPLS" >&2
make_lowers
for s in "${STRESSORS[@]}"; do
  selected "$s" || continue
  for impl in $(impls); do run_stressor "$s" "$impl"; done
done
for j in "${FIO_JOBS[@]}"; do
  selected "$j" || continue
  for impl in $(impls); do run_fio "$j" "$impl"; done
done
WALL=$(( SECONDS - T0 ))
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
cell() { echo "${1:-–}"; }
excerpt() {  # the error lines of a log, at most 12, repeated ones once
  grep -hE '^stress-ng: (fail|error|warn):|skipping|not supported|[Ee]rror|verify:|bad ' "$@" 2>/dev/null \
    | grep -v '^+ ' | sed -E 's/\[[0-9]+\]/[pid]/g' | awk '!seen[$0]++' | head -12
}
analysis_marker='<!-- Everything below this line is written by hand and kept by scripts/stress.sh across runs. -->'
kept=
if [ -f "$DOC" ] && grep -qF "$analysis_marker" "$DOC"; then
  kept=$(sed -n "/$(sed 's/[^^]/[&]/g; s/\^/\\^/g' <<<"$analysis_marker")/,\$p" "$DOC" | tail -n +2)
fi
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$ROOT" status --porcelain -- src 2>/dev/null | head -1)
mem=$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
os=$(. /etc/os-release && echo "$PRETTY_NAME")
{
  echo "# Reliability"
  echo
  echo "Real load generators from Debian's packages inside a layerfs mount and, next to it, the same load on kernel"
  echo "overlayfs: stress-ng's filesystem stressors and fio jobs with \`verify=crc32c\`. Generated by \`make stress\`"
  echo "(\`scripts/stress.sh\`); the diagnosis at the end is written by hand and kept across runs."
  echo
  echo "## Run"
  echo
  echo "- date: $START; wall time $((WALL / 60)) min $((WALL % 60)) s"
  echo "- machine: $(nproc) CPUs ($cpu), $mem RAM, kernel $(uname -r), $os; load average $LOAD_START at the start, $LOAD_END at the end (the machine was shared)"
  echo "- $(stress-ng --version | sed 's/ (.*//'), $(fio --version), node $(node --version), layerfs $commit${dirty:+ (src modified)}"
  echo "- scratch directory $D on $(findmnt -no FSTYPE -T "$D"); lower layers, upper and work on the same filesystem"
  echo "- ${SECS} s per stressor, $INSTANCES instances each; every load on a fresh mount (new upper and work) of the same two lower layers"
  echo
  echo "## Reproduce"
  echo
  echo '```sh'
  echo 'make stress                           # ~10 min: every load on layerfs and on kernel overlayfs'
  echo 'STRESS_SECONDS=5 make stress          # shorter stressors'
  echo "STRESS_ONLY='^(xattr|fio)' make stress  # only some loads (regular expression on the names below)"
  echo 'STRESS_IMPLS=layerfs make stress      # one implementation'
  echo '# without make: bash scripts/stress.sh (same variables; STRESS_DIR sets the scratch directory)'
  echo '```'
  echo
  echo "Mounts (L1 is the top-most layer; fresh U and W for every load):"
  echo
  echo '```sh'
  echo 'node dist/main.js mount --lower L1 --lower L2 --upper U --work W MNT; node dist/main.js umount MNT'
  echo 'mount -t overlay overlay -o lowerdir=L1:L2,upperdir=U,workdir=W,redirect_dir=off,index=off,metacopy=off,xino=off MNT; umount MNT'
  echo '```'
  echo
  echo "The lower layers hold 80 small files and a symlink under \`work/\` (in both layers, so \`work/\` is a merged"
  echo "directory that the first write copies up), files under \`fio/\` and \`etc/\` (one shadowed), and a 64 MiB"
  echo "\`data/lower.dat\` in the bottom layer. Loads, with MNT the mountpoint:"
  echo
  echo '```sh'
  for s in "${STRESSORS[@]}"; do selected "$s" && stress_cmd "$s"; done
  for j in "${FIO_JOBS[@]}"; do selected "$j" && echo "fio ${FIO_ARGS[$j]} ${FIO_COMMON[*]}"; done
  echo '```'
  echo
  echo "A stressor **passes** when stress-ng exits 0, prints no \`fail:\`/\`error:\` line, counts more than 0 bogo ops,"
  echo "and afterwards the mount still answers: \`statfs\` works, every lower file reads back with its checksum, stress-ng"
  echo "left no directory behind, and on layerfs the daemon still runs with no error in its log. A fio job passes"
  echo "when fio exits 0 with job error 0 (its own read-back verification included), the mount answers as above, and"
  echo "after an unmount and a mount of the same upper a \`--verify_only\` run of the same job verifies every block"
  echo "again; the copy-up job also checks that the half of \`data/lower.dat\` it did not write equals the lower"
  echo "file, that the lower file is unchanged and that the copy is in the upper layer."
  echo
  echo "## Results"
  echo
  echo "### stress-ng"
  echo
  echo "| stressor | layerfs | kernel overlayfs | layerfs bogo ops/s | kernel bogo ops/s | fail/error lines (layerfs / kernel) | daemon RSS after / peak (MiB) |"
  echo "|---|---|---|---:|---:|---:|---:|"
  for s in "${STRESSORS[@]}"; do
    selected "$s" || continue
    echo "| $s | $(cell "${RES[layerfs:$s]:-}") | $(cell "${RES[kernel:$s]:-}") | $(cell "${RATE[layerfs:$s]:-}") | $(cell "${RATE[kernel:$s]:-}") | $(cell "${ERRS[layerfs:$s]:-}") / $(cell "${ERRS[kernel:$s]:-}") | $(cell "${RSSV[layerfs:$s]:-}") |"
  done
  for s in "${STRESSORS[@]}"; do
    for impl in $(impls); do
      [ -z "${NOTE[$impl:$s]:-}" ] || echo "- $s on $impl: ${NOTE[$impl:$s]}"
    done
  done | { notes=$(cat); [ -z "$notes" ] || printf '\nNotes:\n\n%s\n' "$notes"; }
  echo
  echo "### fio (verify=crc32c)"
  echo
  echo "| job | layerfs | kernel overlayfs | layerfs write / verify-read MiB/s | kernel write / verify-read MiB/s | job error (layerfs / kernel) | daemon RSS after / peak (MiB) |"
  echo "|---|---|---|---:|---:|---:|---:|"
  for j in "${FIO_JOBS[@]}"; do
    selected "$j" || continue
    echo "| $j | $(cell "${RES[layerfs:$j]:-}") | $(cell "${RES[kernel:$j]:-}") | $(cell "${RATE[layerfs:$j]:-}") | $(cell "${RATE[kernel:$j]:-}") | $(cell "${ERRS[layerfs:$j]:-}") / $(cell "${ERRS[kernel:$j]:-}") | $(cell "${RSSV[layerfs:$j]:-}") |"
  done
  echo
  echo "## Differences (fails on layerfs, passes on kernel overlayfs)"
  echo
  n=0
  for l in "${STRESSORS[@]}" "${FIO_JOBS[@]}"; do
    selected "$l" || continue
    [[ "${RES[layerfs:$l]:-}" == FAIL* ]] || continue
    [ "${RES[kernel:$l]:-}" = PASS ] || [[ ",$IMPLS," != *,kernel,* ]] || continue
    n=$((n + 1))
    echo "**$l** on layerfs: ${RES[layerfs:$l]}"
    echo
    echo '```'
    ex=$(excerpt "$LOGS"/layerfs-"$l".log "$LOGS"/layerfs-"$l".err 2>/dev/null)
    if [ -n "$ex" ]; then echo "$ex"; else
      echo "(no error lines; the summary:)"
      grep -hE 'metrc: .* '"$l"' |successful|unsuccessful' "$LOGS/layerfs-$l.log" 2>/dev/null | sed -E 's/\[[0-9]+\]/[pid]/g' | head -6
    fi
    echo '```'
    echo
  done
  [ "$n" != 0 ] || echo "None."
  both=
  for l in "${STRESSORS[@]}" "${FIO_JOBS[@]}"; do
    selected "$l" || continue
    [[ "${RES[layerfs:$l]:-}" == FAIL* && "${RES[kernel:$l]:-}" == FAIL* ]] && both+=" $l"
  done
  if [ -n "$both" ]; then
    echo
    echo "Failing on both:$both (see the logs under \`$LOGS\`)."
  fi
  echo
  echo "$analysis_marker"
  if [ -n "$kept" ]; then echo "$kept"; else
    echo
    echo "## Diagnosis"
    echo
    echo "(to be written)"
  fi
} > "$DOC.tmp" && mv "$DOC.tmp" "$DOC"
echo "stress: wrote $DOC (logs in $LOGS), $((WALL / 60)) min $((WALL % 60)) s" >&2
