#!/usr/bin/env bash
# A real Incus cluster (or one remote incusd) on this one machine, for trials and tests.
#
#   scripts/cluster.sh up                  # MODE=cluster (MEMBERS=3, the default) or MODE=single
#   scripts/cluster.sh status [--json]     # members, addresses, states, remote, client config
#   scripts/cluster.sh exec -- ARGV...     # ARGV in the runner namespace, the cluster its remote
#   scripts/cluster.sh down                # everything it made goes; safe to re-run, and after a kill
#   scripts/cluster.sh cut-link mN         # member N loses the LAN (its bridge port goes down): daemon
#   scripts/cluster.sh heal-link mN        #   and containers unreachable, nothing killed; heal-link undoes it
#
# Every address lives in a network namespace of this script; the root namespace gets none and
# never dials one (its default route leaves the machine):
#   <name>-lan      bridge br0: the LAN switch
#   <name>-mN       member N, eth0 <lan>.1N: its own incusd (INCUS_DIR=<dir>/mN) in its own mount
#                   namespace, whose /sys shows the member's interfaces (NIC parents are checked
#                   there) with the host's cgroup trees bound back under it
#   <name>-runner   the CI runner, eth0 <lan>.2: an Incus client (INCUS_CONF=<dir>/client) whose
#                   remote <remote> is https://<lan>.11:8443, trusted by its client certificate
# Routed NICs (nictype=routed parent=eth0) work on every member: forwarding and proxy ARP are on.
# The host's default daemon is never used: every incus call names INCUS_DIR and INCUS_CONF.
#
# Knobs: BLUEGREEN_CLUSTER_NAME (bgc), BLUEGREEN_CLUSTER_DIR (/tmp/bluegreen-cluster),
# BLUEGREEN_CLUSTER_LAN (10.91.37: a /24), BLUEGREEN_CLUSTER_REMOTE (bgc), MODE, MEMBERS,
# POOL_DRIVER (btrfs: a loop file per member; or dir), POOL_SIZE (3GiB), and setup-host.sh's
# BLUEGREEN_IMAGE_ALIAS and BLUEGREEN_CACHE_DIR (the base image comes from its rootfs cache).
set -euo pipefail

SELF="$(readlink -f "${BASH_SOURCE[0]}")"
HERE="$(dirname "$SELF")"
NAME="${BLUEGREEN_CLUSTER_NAME:-bgc}"
BASE="${BLUEGREEN_CLUSTER_DIR:-/tmp/bluegreen-cluster}"
D="$BASE/$NAME"
MODE="${MODE:-cluster}"
MEMBERS="${MEMBERS:-3}"
LAN="${BLUEGREEN_CLUSTER_LAN:-10.91.37}"
REMOTE="${BLUEGREEN_CLUSTER_REMOTE:-bgc}"
POOL_DRIVER="${POOL_DRIVER:-btrfs}"
POOL_SIZE="${POOL_SIZE:-3GiB}"
IMAGE_ALIAS="${BLUEGREEN_IMAGE_ALIAS:-bluegreen-base}"
CACHE_DIR="${BLUEGREEN_CACHE_DIR:-/var/cache/bluegreen}"
INCUSD=/usr/libexec/incus/incusd
PORT=8443

log() { printf '[cluster %s %s] %s\n' "$NAME" "$(date +%T.%3N)" "$*" >&2; }
die() {
  log "$*"
  exit 1
}
now() { date +%s%N; }
ms() { echo $((($(now) - $1) / 1000000)); }
timing() {
  printf '%s\t%s\n' "$1" "$2" >>"$D/timings.tsv"
  log "$1: $2 ms"
}

[[ "$NAME" =~ ^[A-Za-z0-9_-]{1,24}$ ]] || die "BLUEGREEN_CLUSTER_NAME='$NAME': expected 1-24 letters, digits, _ or -"
[[ "$BASE" =~ ^/[A-Za-z0-9._/-]+$ ]] || die "BLUEGREEN_CLUSTER_DIR='$BASE': expected an absolute path of letters, digits and ._/-"

ns_lan() { echo "$NAME-lan"; }
ns_runner() { echo "$NAME-runner"; }
ns_member() { echo "$NAME-m$1"; }
member_addr() { echo "$LAN.1$1"; }
runner_addr() { echo "$LAN.2"; }
members() { seq 1 "$MEMBERS"; }
# The cluster certificate once clustered; a lone daemon serves its own.
server_cert() { if [ "$MODE" = cluster ]; then echo "$D/m1/cluster.crt"; else echo "$D/m1/server.crt"; fi; }

# incus against member i's unix socket, with a deadline (a unix socket is a path: no netns needed).
m() {
  local i=$1 t=$2
  shift 2
  INCUS_DIR="$D/m$i" INCUS_CONF="$D/conf-local" timeout "$t" incus "$@"
}
in_ns() {
  local ns=$1
  shift
  nsenter --net="/run/netns/$ns" "$@"
}

# The settings an up recorded win over the environment for status, exec and down.
read_state() {
  [ -f "$D/state" ] || return 1
  local k v
  while IFS='=' read -r k v; do
    case "$k" in MODE | MEMBERS | LAN | REMOTE | POOL_DRIVER) printf -v "$k" '%s' "$v" ;; esac
  done <"$D/state"
}

validate() {
  [ "$MODE" = cluster ] || [ "$MODE" = single ] || die "MODE='$MODE': expected cluster or single"
  [ "$MODE" = cluster ] || MEMBERS=1
  [[ "$MEMBERS" =~ ^[1-9]$ ]] || die "MEMBERS='$MEMBERS': expected 1 to 9"
  [ "$POOL_DRIVER" = btrfs ] || [ "$POOL_DRIVER" = dir ] || die "POOL_DRIVER='$POOL_DRIVER': expected btrfs or dir"
  if ! [[ "$LAN" =~ ^(10\.[0-9]{1,3}|172\.(1[6-9]|2[0-9]|3[01])|192\.168)\.[0-9]{1,3}$ ]]; then
    die "BLUEGREEN_CLUSTER_LAN='$LAN': expected the first three octets of a private /24, e.g. 10.91.37"
  fi
  [[ "$REMOTE" =~ ^[A-Za-z0-9][A-Za-z0-9_-]*$ ]] || die "BLUEGREEN_CLUSTER_REMOTE='$REMOTE': expected letters, digits, _ or -"
}

# The LAN must be unknown to the root namespace: no address, no route, no resolver in it.
# (Clusters of other names use the same LAN, each on its own bridge: they never meet.)
check_lan_free() {
  local hit
  hit=$({
    ip -4 -o addr show | awk '{print $4}'
    ip -4 route show | awk '$1 != "default" {print $1}'
    awk '$1 == "nameserver" {print $2}' /etc/resolv.conf 2>/dev/null || true
  } | awk -v p="$LAN." 'index($0, p) == 1' || true)
  [ -z "$hit" ] || die "the LAN $LAN.0/24 is in use on this machine ($hit): set BLUEGREEN_CLUSTER_LAN to another private /24"
}

need_tools() {
  [ "$(id -u)" = 0 ] || die "run as root"
  local t
  for t in incus ip nsenter unshare jq flock losetup timeout tar; do
    command -v "$t" >/dev/null || die "$t is missing: run scripts/setup-host.sh"
  done
  [ -x "$INCUSD" ] || die "$INCUSD is missing: run scripts/setup-host.sh"
  [ "$POOL_DRIVER" != btrfs ] || command -v mkfs.btrfs >/dev/null || die "mkfs.btrfs is missing: run scripts/setup-host.sh"
}

# One operation at a time on any cluster of this machine (up, down): a lock on the base directory.
# fd 9 must never reach a daemon (it would hold the lock for its lifetime): see start_member.
take_lock() {
  mkdir -p "$BASE"
  exec 9<"$BASE"
  flock -w 300 9 || die "another scripts/cluster.sh up or down held $BASE for 300 s"
}

# ---------------------------------------------------------------- member namespace entry
# _member NETNS CMD...: CMD in a new mount namespace (slave: nothing leaks back to the host) in
# network namespace NETNS, with a fresh sysfs and the host's cgroup trees bound back under it.
# (`ip netns exec` remounts /sys too, but drops /sys/fs/cgroup: LXC then cannot start.) Every
# stage execs, so the pid recorded for the daemon is the daemon's.
member_enter() {
  local ns=$1 save
  shift
  save=$(mktemp -d "$D/cg.XXXXXX")
  mount --rbind /sys/fs/cgroup "$save"
  exec nsenter --net="/run/netns/$ns" "$SELF" _member-inner "$save" "$@"
}
member_inner() {
  local save=$1
  shift
  mount -t sysfs sysfs /sys
  mount --rbind "$save" /sys/fs/cgroup
  umount -R "$save"
  rmdir "$save"
  exec "$@"
}

# ---------------------------------------------------------------- up
net_up() {
  local lan i ns port addr
  lan=$(ns_lan)
  mountpoint -q /run/netns 2>/dev/null || touch "$BASE/.run-netns-ours"
  ip netns add "$lan"
  ip -n "$lan" link set lo up
  ip -n "$lan" link add br0 type bridge
  ip -n "$lan" link set br0 up
  for i in $(members) runner; do
    if [ "$i" = runner ]; then ns=$(ns_runner) port=prun addr=$(runner_addr); else ns=$(ns_member "$i") port=p$i addr=$(member_addr "$i"); fi
    ip netns add "$ns"
    # Both ends are made inside our namespaces: nothing appears in the root namespace.
    ip -n "$lan" link add "$port" type veth peer name eth0 netns "$ns"
    ip -n "$lan" link set "$port" master br0 up
    ip -n "$ns" addr add "$addr/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
    if [ "$i" != runner ]; then
      # Routed NICs: the member forwards for its containers and answers ARP for them at once.
      in_ns "$ns" sysctl -qw net.ipv4.conf.all.forwarding=1
      in_ns "$ns" sysctl -qw net.ipv4.neigh.eth0.proxy_delay=0
    fi
  done
}

start_member() {
  local i=$1
  mkdir -p "$D/m$i"
  # setsid and cd /: the daemon outlives this shell and never holds a checkout; 9<&-: not our lock.
  (cd / && INCUS_DIR="$D/m$i" exec setsid "$SELF" _member "$(ns_member "$i")" "$INCUSD" --group root --logfile "$D/m$i.log" \
    </dev/null >>"$D/m$i.out" 2>&1 9<&-) &
  echo $! >"$D/pids/incusd-m$i"
}

wait_member() {
  local i=$1
  for _ in $(seq 1 120); do
    if m "$i" 2 query /1.0 >/dev/null 2>&1; then return 0; fi
    sleep 0.25
  done
  tail -n 20 "$D/m$i.log" "$D/m$i.out" >&2 || true
  die "incusd m$i did not answer within 30 s"
}

pool_yaml() { [ "$POOL_DRIVER" != btrfs ] || printf '  config:\n    size: %s\n' "$POOL_SIZE"; }

bootstrap() {
  local cluster=""
  [ "$MODE" != cluster ] || cluster=$'cluster:\n  server_name: m1\n  enabled: true'
  cat >"$D/bootstrap.yaml" <<EOF
config:
  core.https_address: $(member_addr 1):$PORT
  images.auto_update_interval: "0"
storage_pools:
- name: default
  driver: $POOL_DRIVER
$(pool_yaml)
profiles:
- name: default
  devices:
    root:
      path: /
      pool: default
      type: disk
$cluster
EOF
  m 1 60 admin init --preseed <"$D/bootstrap.yaml"
}

join() {
  local i=$1 token size=""
  token=$(m 1 30 cluster add "m$i" --quiet)
  [ "$POOL_DRIVER" != btrfs ] || size=$(printf '  - entity: storage-pool\n    name: default\n    key: size\n    value: %s\n' "$POOL_SIZE")
  cat >"$D/join-m$i.yaml" <<EOF
cluster:
  enabled: true
  server_address: $(member_addr "$i"):$PORT
  cluster_token: $token
  member_config:
  - entity: storage-pool
    name: default
    key: source
    value: ""
$size
EOF
  # The joiner dials the addresses in the token itself: its client runs in its namespace.
  in_ns "$(ns_member "$i")" env INCUS_DIR="$D/m$i" INCUS_CONF="$D/conf-local" timeout 60 incus admin init --preseed <"$D/join-m$i.yaml"
  rm -f "$D/join-m$i.yaml"
}

# The base image's files, ready to import: from setup-host.sh's rootfs cache (same recipe hash),
# tarred once and kept beside it for the next up; failing that, exported read-only from the
# host's default daemon. Their paths go to $D/image.files, one a line.
image_prepare() {
  # shellcheck source-path=SCRIPTDIR source=image/recipe.sh
  . "$HERE/image/recipe.sh"
  local want root img
  want=$(recipe_hash)
  root="$CACHE_DIR/rootfs-$want"
  img="$CACHE_DIR/cluster-image-$want"
  if [ -f "$root/.complete" ]; then
    if [ ! -f "$img/rootfs.tar" ]; then
      local t tmp old
      t=$(now)
      tmp=$(mktemp -d "$CACHE_DIR/.cluster-image.XXXXXX")
      cat >"$tmp/metadata.yaml" <<EOF
architecture: $(uname -m)
creation_date: $(date +%s)
properties:
  description: bluegreen base (Debian bookworm minbase)
  os: debian
  release: bookworm
  bluegreen.recipe: "$want"
EOF
      tar -C "$tmp" -cf "$tmp/metadata.tar" metadata.yaml
      # Uncompressed: gzip of ~240 MB costs ~10 s here, tar alone ~1 s.
      tar -C "$root" --exclude=./.complete -cf "$tmp/rootfs.tar" .
      for old in "$CACHE_DIR"/cluster-image-*; do [ "$old" = "$img" ] || rm -rf "$old"; done
      # Another up may have made it meanwhile: theirs is as good.
      mv -T "$tmp" "$img" 2>/dev/null || rm -rf "$tmp"
      timing image_tar "$(ms "$t")"
    fi
    printf '%s\n' "$img/metadata.tar" "$img/rootfs.tar" >"$D/image.files"
  elif env -u INCUS_DIR -u INCUS_CONF timeout 10 incus image info "local:$IMAGE_ALIAS" >/dev/null 2>&1; then
    log "no rootfs cache for recipe $want: exporting $IMAGE_ALIAS from the host's daemon (read-only)"
    mkdir -p "$D/image"
    env -u INCUS_DIR -u INCUS_CONF timeout 120 incus image export "local:$IMAGE_ALIAS" "$D/image/base" >/dev/null
    ls -d "$D"/image/base* >"$D/image.files"
  else
    die "no base image: neither $root nor the host's $IMAGE_ALIAS exists; run scripts/setup-host.sh"
  fi
}

# After the members joined: an import while one joins fails ("Failed syncing image between
# servers: Cluster member not found"). The cluster copies it to every member.
image_import() {
  local files=()
  mapfile -t files <"$D/image.files"
  m 1 180 image import "${files[@]}" --alias "$IMAGE_ALIAS" >/dev/null
  rm -rf "$D/image" "$D/image.files"
}

# The runner's client: a certificate of its own, trusted by the cluster up front (no token to
# exchange), and the cluster's certificate pinned, so TLS is verified, never skipped.
client_up() {
  local c="$D/client"
  mkdir -p "$c/servercerts" "$D/nowhere"
  chmod 0700 "$c"
  INCUS_CONF="$c" INCUS_DIR="$D/nowhere" timeout 30 incus remote generate-certificate >/dev/null 2>&1
  m 1 30 config trust add-certificate "$c/client.crt" --name "$NAME-runner"
  cp "$(server_cert)" "$c/servercerts/$REMOTE.crt"
  cat >"$c/config.yml.tmp" <<EOF
default-remote: $REMOTE
remotes:
  $REMOTE:
    addr: https://$(member_addr 1):$PORT
    protocol: incus
    auth_type: tls
EOF
  mv "$c/config.yml.tmp" "$c/config.yml"
  # Proof, over HTTPS from the runner: the server knows the certificate.
  local auth
  auth=$(runner_do timeout 20 incus query "$REMOTE:/1.0" | jq -r .auth)
  [ "$auth" = trusted ] || die "the runner is not trusted by the cluster (auth=$auth)"
}

runner_do() { in_ns "$(ns_runner)" env INCUS_CONF="$D/client" INCUS_DIR="$D/nowhere" "$@"; }

online_count() {
  if [ "$MODE" = cluster ]; then
    m 1 10 cluster list -f csv -c s 2>/dev/null | grep -c '^ONLINE$' || true
  else
    m 1 5 query /1.0 >/dev/null 2>&1 && echo 1 || echo 0
  fi
}

daemon_alive() { # PIDFILE: the recorded pid is still our incusd (never trust a reused pid)
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ -e "/proc/$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$D/"
}

healthy() {
  [ -f "$D/up.done" ] || return 1
  local i
  for i in $(members); do daemon_alive "$D/pids/incusd-m$i" || return 1; done
  [ "$(online_count)" = "$MEMBERS" ] || return 1
  m 1 10 image info "$IMAGE_ALIAS" >/dev/null 2>&1 || return 1
  [ "$(runner_do timeout 10 incus query "$REMOTE:/1.0" 2>/dev/null | jq -r .auth 2>/dev/null)" = trusted ]
}

remnants() { [ -e "$D" ] || [ -n "$(our_netns)" ]; }

up_failed() {
  local rc=$?
  [ "$rc" = 0 ] || log "up failed ($rc): what it made stays for a look; scripts/cluster.sh down removes it (an up does first)"
}

up() {
  need_tools
  validate
  check_lan_free
  take_lock
  if [ -f "$D/state" ]; then
    local want_mode=$MODE want_members=$MEMBERS
    read_state
    if [ "$MODE" != "$want_mode" ] || [ "$MEMBERS" != "$want_members" ]; then
      die "cluster $NAME is up as MODE=$MODE MEMBERS=$MEMBERS: run 'scripts/cluster.sh down' first, or choose another BLUEGREEN_CLUSTER_NAME"
    fi
    if healthy; then
      log "up already: $MODE, $MEMBERS member(s) online"
      return 0
    fi
  fi
  if remnants; then
    log "remnants of an earlier run: cleaning up first"
    teardown
  fi
  local t0 t i
  t0=$(now)
  trap up_failed EXIT
  # Traversable, not readable: unprivileged containers' roots live under it (0700 fails their start).
  mkdir -p "$D"
  chmod 0711 "$D"
  mkdir -p "$D/pids" "$D/conf-local" "$D/nowhere"
  : >"$D/timings.tsv"
  printf 'MODE=%s\nMEMBERS=%s\nLAN=%s\nREMOTE=%s\nPOOL_DRIVER=%s\n' "$MODE" "$MEMBERS" "$LAN" "$REMOTE" "$POOL_DRIVER" >"$D/state"
  # The image's files are made ready (cold: tarred once, ~2 s) while the members start and join.
  local img
  (image_prepare 9<&-) &
  img=$!
  t=$(now)
  net_up
  timing net "$(ms "$t")"
  t=$(now)
  for i in $(members); do start_member "$i"; done
  for i in $(members); do wait_member "$i"; done
  for i in $(members); do
    daemon_alive "$D/pids/incusd-m$i" || die "the pid recorded for m$i is not its incusd"
  done
  timing daemons "$(ms "$t")"
  t=$(now)
  bootstrap
  if [ "$MODE" = cluster ]; then
    for i in $(seq 2 "$MEMBERS"); do join "$i"; done
  fi
  [ "$(online_count)" = "$MEMBERS" ] || die "not every member is ONLINE: $(m 1 10 cluster list -f csv -c ns 2>&1 | tr '\n' ' ')"
  timing formed "$(ms "$t")"
  wait "$img" || die "the base image could not be prepared"
  t=$(now)
  image_import
  timing image "$(ms "$t")"
  t=$(now)
  client_up
  timing client "$(ms "$t")"
  touch "$D/up.done"
  timing up "$(ms "$t0")"
}

# ---------------------------------------------------------------- down
our_netns() {
  ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${NAME}-(lan|runner|m[0-9]+)\$" || true
}

# Every process of this cluster: the daemons recorded, anything in its network namespaces
# (forkproxy, lxc monitors), an lxc monitor of its directory (after `ip netns del`), and all
# their descendants (containers). Never this script or its callers.
our_pids() {
  local -A keep=() seen=() kids=()
  local p pp f ns
  p=$$
  while [ "${p:-0}" -gt 1 ]; do
    keep[$p]=1
    p=$(awk '{print $4}' "/proc/$p/stat" 2>/dev/null || echo 0)
  done
  local seeds=()
  for f in "$D"/pids/*; do
    [ -e "$f" ] && daemon_alive "$f" && seeds+=("$(cat "$f")")
  done
  for ns in $(our_netns); do
    # shellcheck disable=SC2207
    seeds+=($(ip netns pids "$ns" 2>/dev/null || true))
  done
  for f in $(grep -l -s -a -F -- "[lxc monitor] $D/" /proc/[0-9]*/cmdline); do
    # grep lists itself too: only a cmdline that starts so is a monitor.
    [[ "$(tr '\0' ' ' 2>/dev/null <"$f")" == "[lxc monitor] $D/"* ]] || continue
    p=${f#/proc/}
    seeds+=("${p%/cmdline}")
  done
  while read -r p pp; do kids[$pp]+=" $p"; done < <(ps -e -o pid= -o ppid=)
  local queue=("${seeds[@]}")
  while [ "${#queue[@]}" -gt 0 ]; do
    p=${queue[0]}
    queue=("${queue[@]:1}")
    [ -n "${seen[$p]:-}" ] && continue
    seen[$p]=1
    # shellcheck disable=SC2206
    queue+=(${kids[$p]:-})
  done
  for p in "${!seen[@]}"; do
    [ -z "${keep[$p]:-}" ] && [ -e "/proc/$p" ] && echo "$p"
  done
  return 0
}

# The cluster is thrown away, so its processes are killed, not shut down: stopping every
# member at once waits on the lost database quorum (11-32 s measured); SIGKILL takes none.
# Their mounts (the btrfs loop pools, shmounts) live in their private mount namespaces and
# go with them.
kill_ours() {
  local round pids p
  for round in 1 2 3 4 5; do
    pids=$(our_pids)
    [ -n "$pids" ] || return 0
    # Containers leave their LXC cgroups behind when killed: note them all before the first
    # kill (a monitor whose container dies first exits by itself), to remove after.
    for p in $pids; do
      sed -nE 's#^[^:]*:[^:]*:(.*/lxc\.(payload|monitor)\.[^/]+).*#\1#p' "/proc/$p/cgroup" 2>/dev/null >>"$D/cgroups" || true
    done
    for p in $pids; do kill -9 "$p" 2>/dev/null || true; done
    for _ in $(seq 1 50); do
      local alive=0
      for p in $pids; do
        [ -e "/proc/$p" ] && [ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" != Z ] && alive=1
      done
      [ "$alive" = 0 ] && break
      sleep 0.1
    done
    log "killed (round $round): $(echo "$pids" | wc -w) process(es)"
  done
  [ -z "$(our_pids)" ] || die "processes of cluster $NAME survived SIGKILL: $(our_pids | tr '\n' ' ')"
}

teardown() {
  local t0 dev cg h
  t0=$(now)
  mkdir -p "$D"
  kill_ours
  if [ -f "$D/cgroups" ]; then
    for cg in $(sort -u "$D/cgroups"); do
      for h in /sys/fs/cgroup /sys/fs/cgroup/*; do
        if [ -d "$h$cg" ]; then find "$h$cg" -depth -type d -exec rmdir {} \; 2>/dev/null || true; fi
      done
    done
  fi
  for ns in $(our_netns); do ip netns del "$ns"; done
  if [ -f "$BASE/.run-netns-ours" ] && [ -z "$(ip netns list 2>/dev/null)" ]; then
    umount /run/netns 2>/dev/null || true
    rmdir /run/netns 2>/dev/null || true
    rm -f "$BASE/.run-netns-ours"
  fi
  # None of the daemons' mounts should be in this namespace; sweep any that is.
  awk -v d="$D" '$5 == d || index($5, d "/") == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r mp; do
    log "unmounting leftover $mp"
    umount -l "$mp" || true
  done
  # Loop devices free themselves (autoclear) once the last mount namespace is gone.
  for _ in $(seq 1 50); do
    [ -z "$(our_loops)" ] && break
    sleep 0.1
  done
  for dev in $(our_loops); do
    log "detaching leftover loop device $dev"
    losetup -d "$dev" || true
  done
  rm -rf "$D"
  rmdir "$BASE" 2>/dev/null || true
  log "down in $(ms "$t0") ms"
}

our_loops() { losetup -l -n --raw -O NAME,BACK-FILE 2>/dev/null | awk -v d="$D/" 'index($2, d) == 1 {print $1}' || true; }

down() {
  [ "$(id -u)" = 0 ] || die "run as root"
  take_lock
  read_state || true
  if ! remnants; then
    log "nothing to take down"
    rmdir "$BASE" 2>/dev/null || true
    return 0
  fi
  teardown
}

# ---------------------------------------------------------------- status, exec
status() {
  local json=""
  [ "${1:-}" != --json ] || json=1
  local up=false states="{}" i members_json="[]"
  if read_state; then
    [ -f "$D/up.done" ] && up=true
    local j
    for j in $(members); do
      if daemon_alive "$D/pids/incusd-m$j"; then
        if [ "$MODE" = cluster ]; then
          states=$(m "$j" 10 cluster list -f json 2>/dev/null | jq -c 'map({(.server_name): (.status | ascii_upcase)}) | add // {}') && break
        elif m "$j" 5 query /1.0 >/dev/null 2>&1; then
          states='{"m1":"ONLINE"}' && break
        fi
      fi
      states="{}"
    done
    for i in $(members); do
      local pid="" alive=false rss=0
      if daemon_alive "$D/pids/incusd-m$i"; then
        pid=$(cat "$D/pids/incusd-m$i")
        alive=true
        rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
      fi
      members_json=$(jq -c --arg n "m$i" --arg a "$(member_addr "$i")" --arg ns "$(ns_member "$i")" --arg pid "$pid" \
        --argjson alive "$alive" --argjson rss "${rss:-0}" --argjson st "$states" --arg dir "$D/m$i" \
        '. + [{name: $n, address: $a, url: ("https://" + $a + ":'"$PORT"'"), netns: $ns, incusDir: $dir,
          pid: (if $pid == "" then null else ($pid | tonumber) end), running: $alive, rssKiB: $rss,
          state: ($st[$n] // (if $alive then "UNREACHABLE" else "STOPPED" end))}]' <<<"$members_json")
    done
  fi
  local out
  out=$(jq -n --arg name "$NAME" --argjson up "$up" --arg mode "$MODE" --arg dir "$D" --arg lan "$LAN" \
    --arg remote "$REMOTE" --arg url "https://$(member_addr 1):$PORT" --arg conf "$D/client" --arg nowhere "$D/nowhere" \
    --arg runner "$(ns_runner)" --arg raddr "$(runner_addr)" --arg image "$IMAGE_ALIAS" --arg self "$SELF" \
    --argjson members "$members_json" \
    '{name: $name, up: $up, mode: $mode, dir: $dir, lan: ($lan + ".0/24"), lanPrefix: $lan,
      remote: $remote, remoteUrl: $url, incusConf: $conf, incusDir: $nowhere,
      runner: {netns: $runner, address: $raddr, exec: [$self, "exec", "--"]},
      image: $image, routedAddresses: ($lan + ".64-" + $lan + ".127"), members: $members}')
  if [ -n "$json" ]; then
    echo "$out"
  else
    jq -r 'if .up | not then "cluster \(.name): not up" else
      "cluster \(.name): up, \(.mode), LAN \(.lan), remote \(.remote) = \(.remoteUrl)",
      (.members[] | "  \(.name) \(.address) \(.state) pid \(.pid // "-") rss \(.rssKiB / 1024 | floor) MiB"),
      "runner: scripts/cluster.sh exec -- incus list \(.remote):   (netns \(.runner.netns), INCUS_CONF=\(.incusConf))",
      "routed NIC addresses for tests: \(.routedAddresses)" end' <<<"$out"
  fi
}

run_exec() {
  [ "${1:-}" = -- ] && shift
  [ "$#" -gt 0 ] || die "usage: scripts/cluster.sh exec -- ARGV..."
  if ! { read_state && [ -f "$D/up.done" ] && [ -e "/run/netns/$(ns_runner)" ]; }; then
    die "cluster $NAME is not up: run scripts/cluster.sh up"
  fi
  exec nsenter --net="/run/netns/$(ns_runner)" env INCUS_CONF="$D/client" INCUS_DIR="$D/nowhere" "$@"
}

# A member lost to the network, as a pulled cable: its port on the LAN bridge goes down. Its
# daemon and containers keep running, unreachable; idempotent, and heal-link brings it back.
link() {
  local state=$1 member=${2:-}
  [[ "$member" =~ ^m([0-9]+)$ ]] || die "expected a member name such as m2, got '$member'"
  local n=${BASH_REMATCH[1]}
  if ! { read_state && [ -f "$D/up.done" ]; }; then die "cluster $NAME is not up: run scripts/cluster.sh up"; fi
  if [ "$n" -lt 1 ] || [ "$n" -gt "$MEMBERS" ]; then die "$member: the cluster has members m1-m$MEMBERS"; fi
  ip -n "$(ns_lan)" link set "p$n" "$state"
  log "$member: LAN port $state"
}

case "${1:-}" in
  up) up ;;
  cut-link) link down "${2:-}" ;;
  heal-link) link up "${2:-}" ;;
  down) down ;;
  status) status "${2:-}" ;;
  exec)
    shift
    run_exec "$@"
    ;;
  _member)
    shift
    exec unshare --mount --propagation slave "$SELF" _member-enter "$@"
    ;;
  _member-enter)
    shift
    member_enter "$@"
    ;;
  _member-inner)
    shift
    member_inner "$@"
    ;;
  *)
    echo "usage: scripts/cluster.sh up|down|status [--json]|exec -- ARGV...|cut-link mN|heal-link mN" >&2
    exit 2
    ;;
esac
