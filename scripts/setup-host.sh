#!/usr/bin/env bash
# Idempotent set-up of this machine as a local Incus + HAProxy host for bluegreen.
# Safe to re-run: every step checks before it acts. A second run takes seconds.
set -euo pipefail

IMAGE_ALIAS="${BLUEGREEN_IMAGE_ALIAS:-bluegreen-base}"
CACHE_DIR="${BLUEGREEN_CACHE_DIR:-/var/cache/bluegreen}"
INCUSD_LOG="${BLUEGREEN_INCUSD_LOG:-/var/log/incusd.log}"
BTRFS_POOL="${BLUEGREEN_BTRFS_POOL:-bluegreen-btrfs}"
BTRFS_SIZE="${BLUEGREEN_BTRFS_SIZE:-6GiB}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# IMAGE_PACKAGES, IMAGE_INIT and recipe_hash: shared with scripts/cluster.sh.
# shellcheck source-path=SCRIPTDIR source=image/recipe.sh
. "$HERE/image/recipe.sh"

log() { printf '[setup-host] %s\n' "$*"; }

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup-host.sh must run as root (it installs packages and starts incusd)." >&2
    exit 1
  fi
}

install_packages() {
  local src=/etc/apt/sources.list.d/bluegreen-backports.sources
  if [ ! -f "$src" ]; then
    log "adding bookworm-backports (Incus lives there)"
    cat >"$src.tmp" <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    mv "$src.tmp" "$src"
  fi
  local missing=()
  for p in incus haproxy socat debootstrap wrk btrfs-progs jq iproute2 pebble; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    log "packages present"
    return
  fi
  log "installing: ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends -t bookworm-backports incus >/dev/null
  # wrk is the load generator of the e2e load test and the benchmark; btrfs-progs makes
  # the btrfs pool whose volume snapshots are copy-on-write (stateful services); jq and
  # iproute2 (network namespaces) for scripts/cluster.sh, the test cluster; pebble, the ACME
  # test server Let's Encrypt publishes, for the e2e of bluegreen:tls.acme (never run as a service).
  apt-get install -y -qq --no-install-recommends haproxy socat debootstrap wrk btrfs-progs jq iproute2 pebble >/dev/null
}

# Prometheus for the SLI analysis of canaries. bluegreen starts its own per stack, on
# loopback with its own config and data directory (components/release/rollout/prometheus.ts),
# never the package's service, which would listen on 0.0.0.0:9090. Without systemd the
# postinst starts nothing (measured); a policy-rc.d that denies starts makes sure of it
# on hosts that do have a runlevel, and is removed again unless it was already there.
install_prometheus() {
  if dpkg-query -W -f='${Status}' prometheus 2>/dev/null | grep -q 'install ok installed'; then
    log "prometheus present"
    return
  fi
  log "installing: prometheus"
  local policy=/usr/sbin/policy-rc.d
  local ours=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# bluegreen setup-host.sh: no service starts while packages install\nexit 101\n' >"$policy"
    chmod 0755 "$policy"
    ours=1
  fi
  local rc=0
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus >/dev/null; } || rc=$?
  if [ -n "$ours" ]; then rm -f "$policy"; fi
  if [ "$rc" -ne 0 ]; then
    echo "installing prometheus failed (apt-get exited $rc)" >&2
    exit "$rc"
  fi
}

start_incusd() {
  if incus version 2>/dev/null | grep -q '^Server version: [0-9]'; then
    log "incusd running"
    return
  fi
  log "starting incusd (no systemd here)"
  # Detach fully so incusd outlives this script and the CI step that ran it. From /: its
  # children (rsync for dir-pool snapshots) inherit its cwd, and a checkout that is deleted
  # later would make them fail with "getcwd(): No such file or directory".
  # exec: no shell is left holding this script's stdout.
  (cd / && exec setsid /usr/libexec/incus/incusd --group root >>"$INCUSD_LOG" 2>&1 </dev/null) &
  for _ in $(seq 1 60); do
    if incus version 2>/dev/null | grep -q '^Server version: [0-9]'; then
      log "incusd up"
      return
    fi
    sleep 0.5
  done
  echo "incusd did not answer within 30 s; see $INCUSD_LOG" >&2
  tail -n 20 "$INCUSD_LOG" >&2 || true
  exit 1
}

storage_and_profile() {
  if ! incus storage show default >/dev/null 2>&1; then
    log "creating dir storage pool 'default'"
    incus storage create default dir >/dev/null
  fi
  # A btrfs pool on a loop file, for stateful services' volumes (bluegreen:stateful.<name>.pool):
  # a 1 GiB volume snapshots in ~0.15 s, against ~2.7 s on dir (NOTES.md).
  if ! incus storage show "$BTRFS_POOL" >/dev/null 2>&1; then
    log "creating btrfs storage pool '$BTRFS_POOL' (loop file, $BTRFS_SIZE)"
    incus storage create "$BTRFS_POOL" btrfs size="$BTRFS_SIZE" >/dev/null
  fi
  if ! incus profile device show default | grep -q '^root:'; then
    log "adding root disk to the default profile"
    incus profile device add default root disk path=/ pool=default >/dev/null
  fi
}

build_image() {
  local want have
  want="$(recipe_hash)"
  have="$(incus image get-property "$IMAGE_ALIAS" bluegreen.recipe 2>/dev/null || true)"
  if [ "$have" = "$want" ]; then
    log "image $IMAGE_ALIAS is current ($want)"
    return
  fi
  local root="$CACHE_DIR/rootfs-$want"
  if [ ! -f "$root/.complete" ]; then
    log "debootstrap bookworm minbase + $IMAGE_PACKAGES (about 30 s)"
    rm -rf "$root"
    mkdir -p "$root"
    debootstrap --variant=minbase --include="$IMAGE_PACKAGES" bookworm "$root" http://deb.debian.org/debian >"$CACHE_DIR/debootstrap.log" 2>&1 \
      || { tail -n 30 "$CACHE_DIR/debootstrap.log" >&2; exit 1; }
    # The image's haproxy is started by bluegreen, never by a package init script.
    rm -f "$root/etc/init.d/haproxy"
    install -m 0755 "$IMAGE_INIT" "$root/sbin/init"
    rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"*
    touch "$root/.complete"
  fi
  local work
  work="$(mktemp -d)"
  cat >"$work/metadata.yaml" <<META
architecture: x86_64
creation_date: $(date +%s)
properties:
  description: bluegreen base (Debian bookworm minbase)
  os: debian
  release: bookworm
  bluegreen.recipe: "$want"
META
  tar -C "$work" -czf "$work/metadata.tar.gz" metadata.yaml
  tar -C "$root" --exclude=./.complete -czf "$work/rootfs.tar.gz" .
  if incus image info "$IMAGE_ALIAS" >/dev/null 2>&1; then
    incus image alias delete "$IMAGE_ALIAS"
  fi
  log "importing image $IMAGE_ALIAS"
  incus image import "$work/metadata.tar.gz" "$work/rootfs.tar.gz" --alias "$IMAGE_ALIAS" >/dev/null
  incus image set-property "$IMAGE_ALIAS" bluegreen.recipe "$want"
  rm -rf "$work"
}

need_root
mkdir -p "$CACHE_DIR"
install_packages
install_prometheus
start_incusd
storage_and_profile
build_image
log "host ready"
