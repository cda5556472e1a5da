#!/usr/bin/env bash
# make demo: a three-layer sample image, mounted read-only and then writable, shown with ls and
# cat, with copy-up and whiteouts made visible. Leaves nothing mounted, even when interrupted.
set -euo pipefail
cd "$(dirname "$0")/.."
LAYERFS="node $PWD/dist/main.js"
HOME_DIR=${LAYERFS_HOME:-/var/lib/layerfs}
DEMO=$HOME_DIR/demo
if [ -t 1 ]; then B=$'\e[1m'; C=$'\e[36m'; G=$'\e[32m'; N=$'\e[0m'; else B= C= G= N=; fi

step() { printf '\n%s== %s ==%s\n' "$B" "$*" "$N"; }
show() { printf '%s$ %s%s\n' "$C" "$*" "$N"; eval "$@"; }

cleanup() {
  for m in "$DEMO"/view "$DEMO"/container "$DEMO"/c1 "$DEMO"/c2 "$DEMO"/c3; do
    grep -q " $m fuse.layerfs " /proc/mounts && $LAYERFS umount --lazy "$m" >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT

rm -rf "$DEMO"
mkdir -p "$DEMO"/{layers/{1-base,2-config,3-app},upper,work,view,container,c1,c2,c3,volume}
cd "$DEMO"

# Layer 1: the base system.
mkdir -p layers/1-base/{etc,usr/share/doc,app}
echo 'NAME="Demo Linux"' > layers/1-base/etc/os-release
printf '127.0.0.1 localhost\n' > layers/1-base/etc/hosts
echo 'an old manual' > layers/1-base/usr/share/doc/manual.txt
echo 'debug=true' > layers/1-base/app/config.txt
# Layer 2: changes the configuration and deletes the manual (a whiteout: char device 0/0).
mkdir -p layers/2-config/{app,usr/share/doc}
echo 'debug=false' > layers/2-config/app/config.txt
mknod layers/2-config/usr/share/doc/manual.txt c 0 0
# Layer 3: adds the application.
mkdir -p layers/3-app/app
echo 'console.log("hello from layer 3")' > layers/3-app/app/app.js

LOWER=layers/3-app:layers/2-config:layers/1-base
step "An image is a stack of read-only layers (top-most first: 3-app, 2-config, 1-base)"
show "find layers -mindepth 2 | sort"

step "Mounted read-only, the layers merge into one tree"
show "$LAYERFS mount -o lowerdir=$LOWER view"
show "ls -lR view | grep -v '^total'"
show "cat view/app/config.txt   # layer 2 hides layer 1's version"
show "ls view/usr/share/doc     # the whiteout in layer 2 deletes the manual"
show "touch view/new 2>&1 || true   # no upper layer: read-only"
show "$LAYERFS umount view"

step "With an upper directory the mount is writable: changes are copied up"
show "$LAYERFS mount -o lowerdir=$LOWER,upperdir=upper,workdir=work --trace text container"
show "echo 'port=8080' >> container/app/config.txt"
show "rm container/etc/hosts"
show "echo 'new file' > container/app/notes.txt"
show "cat container/app/config.txt"
show "$LAYERFS events container   # the live trace of --trace (events -f follows it)"
step "What landed in the upper directory (the container's layer)"
show "find upper -printf '%y %p\n' | sort -k2"
show "stat -c '%n: %F %t:%T' upper/etc/hosts   # a whiteout hides the lower file"
show "cat layers/2-config/app/config.txt        # the lower layer is untouched"
show "$LAYERFS umount container"

step "The Docker model: an image shared by two containers (the course's story)"
export LAYERFS_STORE=$DEMO/store
show "for l in layers/1-base layers/2-config layers/3-app; do $LAYERFS layer import \$l; done"
L1=$($LAYERFS layer import layers/1-base); L2=$($LAYERFS layer import layers/2-config); L3=$($LAYERFS layer import layers/3-app)
show "$LAYERFS image create demo:1 $L1 $L2 $L3   # bottom first, like a Dockerfile"
show "$LAYERFS images"
show "$LAYERFS create --name one demo:1 >/dev/null && $LAYERFS create --name two -v $DEMO/volume:/data demo:1 >/dev/null"
show "$LAYERFS mount one c1 && $LAYERFS mount two c2"
show "$LAYERFS ps -s   # a new container layer is empty: 0B, virtual = the image"
show "echo 'only in one' > c1/app/notes.txt; echo 'port=9090' >> c1/app/config.txt"
show "ls c1/app c2/app   # the containers are isolated"
show "echo 'kept' > c2/data/result.txt   # a volume: outside the container layer"
show "$LAYERFS ps -s"
show "$LAYERFS diff one"
show "$LAYERFS which c1/app/config.txt"
show "$LAYERFS rmi demo:1 2>&1 || true   # refused while containers use it"
show "$LAYERFS commit one demo:2 >/dev/null && $LAYERFS images"
show "$LAYERFS rm -f one two   # the container layers are gone..."
show "cat volume/result.txt   # ...the volume is not"
show "$LAYERFS create --name three demo:2 >/dev/null && $LAYERFS mount three c3 && cat c3/app/notes.txt   # committed"
show "$LAYERFS rm -f three"

step "Done"
if grep -q " $DEMO/" /proc/mounts; then echo "a demo mount is still active" >&2; exit 1; fi
printf 'the course story step by step: docs/instructor-walkthrough.md\n'
printf '%snothing is left mounted; the demo lives in %s%s\n' "$G" "$DEMO" "$N"
