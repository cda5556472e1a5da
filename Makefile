# layerfs. `make demo` and `make test` install what is missing first (Debian, as root).
SHELL := /bin/bash
APT_PACKAGES := libfuse2 libfuse-dev fuse3 attr docker-registry
NODE_DEPS := node_modules/.deps-stamp

.PHONY: all deps sysdeps build install uninstall test-random test-crash test-oci test-podman test-registry demo test test-unit test-integration bench stress check clean

all: build

# System packages: libfuse2 and its headers for the rebuilt fuse-native, fuse3 for fusermount,
# attr for the tests' getfattr/setfattr, docker-registry for the registry round trip (started by
# the test on 127.0.0.1 only; no service is enabled on a machine without systemd). Installed only when one is missing.
deps: sysdeps $(NODE_DEPS)

sysdeps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# npm ci runs the postinstall (scripts/build-native.sh): the fuse-native patch and both native builds.
$(NODE_DEPS): package.json package-lock.json patches/*.patch native/*.c native/binding.gyp | sysdeps
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

build: deps
	npx tsc -p tsconfig.json
	@chmod +x dist/main.js

# Type-checks the sources, the tests and the benchmark together.
check: deps
	npx tsc -p tsconfig.check.json

demo: build
	@bash scripts/demo.sh

test: build
	npx tsc -p tsconfig.check.json
	npx tap

test-unit: build
	npx tap test/host test/overlay test/daemon test/fuse

test-integration: build
	npx tap test/integration

# Long runs, outside `make test`: thousands of random sequences against the kernel, and hundreds
# of SIGKILL points (seeded; LAYERFS_RANDOM_SEED / LAYERFS_KILL_SEED replay a run).
test-random: build
	LAYERFS_RANDOM_SECONDS=$${LAYERFS_RANDOM_SECONDS:-1800} npx tap --disable-coverage test/integration/random-differential.ts

# OCI import/export round trip against umoci (installs it when missing); skipped in `make test` without umoci.
test-oci: build
	@dpkg -s umoci >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq umoci >/dev/null; }
	npx tap test/integration/oci.ts test/store/oci.ts

# podman with layerfs as its overlay mount_program, against the same build on the kernel overlay
# (test/podman/podman.ts; installs podman, skopeo, debootstrap, runc when missing). Needs
# the Debian mirror; the debootstrapped rootfs is cached in /var/cache/layerfs-test (LAYERFS_PODMAN_CACHE).
PODMAN_PACKAGES := podman skopeo debootstrap runc
test-podman: build
	@missing=$$(for p in $(PODMAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	LAYERFS_PODMAN=1 npx tap --disable-coverage --timeout 3600 test/podman/podman.ts

# The registry client against real registries (test/registry/long: skopeo both ways, htpasswd and
# token auth, TLS, a corrupt blob, a registry killed mid-transfer, concurrent pulls, chunked uploads,
# mounts, image indexes). Installs docker-registry, skopeo and apache2-utils (htpasswd) when missing.
REGISTRY_PACKAGES := docker-registry skopeo apache2-utils
test-registry: build
	@missing=$$(for p in $(REGISTRY_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	npx tap --disable-coverage test/registry/roundtrip.ts test/registry/long/*.ts

test-crash: build
	LAYERFS_KILL_POINTS=$${LAYERFS_KILL_POINTS:-300} npx tap --disable-coverage test/integration/faults.ts

PREFIX ?= /usr/local
# The command on the PATH points at this checkout's build.
install: build
	ln -sf $(CURDIR)/dist/main.js $(PREFIX)/bin/layerfs

uninstall:
	rm -f $(PREFIX)/bin/layerfs

# External checks: stress-ng's filesystem stressors and fio verify=crc32c jobs on layerfs and on kernel
# overlayfs, a fresh mount per load (docs/reliability.md). STRESS_SECONDS=N per stressor (default 20, ~9 min).
stress: build
	bash scripts/stress.sh

# Long: kernel overlayfs vs fuse-overlayfs vs layerfs (docs/performance.md). BENCH_QUICK=1 for a short run.
bench: build
	bash bench/bench.sh

clean:
	rm -rf dist native/build node_modules/.deps-stamp .tap
