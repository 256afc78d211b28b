#!/usr/bin/env bash
# setup-host.sh: make a Debian 12 host ready to build, test and run cpb.
#
#   contrib/podman/setup-host.sh [--no-packages] [--user NAME]
#
# What it does, skipping whatever is already in place (a second run takes a second):
#   1. installs the Debian packages cpb needs to build, test and run (apt-get update once,
#      then one apt-get install of only the missing ones; sudo when not root);
#   2. makes sure the user who will run Podman rootless has /etc/subuid and /etc/subgid
#      entries: the calling user, or, when run as root, the unprivileged test user
#      (default cpbtest, created here with a usable password field so it can also log in
#      over ssh with a key), since cpb and its tests always run Podman rootless;
#   3. makes /dev/net/tun usable by that user (slirp4netns needs it for task networking);
#   4. on hosts with cgroups v1 or hybrid, where crun refuses to run containers, installs
#      contrib/podman/containers.conf (runc, explicit ulimits) as that user's
#      ~/.config/containers/containers.conf unless the user already has one;
#   5. where systemd runs the user's session, enables the user's podman.socket; otherwise
#      says that cpb starts a service of its own for each command.
#
# Environment: CPB_TEST_USER (default cpbtest) names the test user when run as root.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
test_user=${CPB_TEST_USER:-cpbtest}
do_packages=1
target_user=

# Build: compilers, meson, the libraries (libmicrohttpd for cpb serve).  Test: bats, the
# sanitizer runtime for clang, skopeo/zstd to check exported images, parallel and hyperfine
# for bats --jobs and the benchmarks, zsh/fish to check the completions, jq to read --json
# output, chromium for the page of cpb serve (tests/browser/, with Node.js: see
# node_packages), openssh-server for the ssh nodes of tests/lib/sshd.sh (its system service
# is never needed).  Run: podman and its rootless helpers, busybox-static and mmdebstrap for
# the local base images (no registry is needed), openssh-client to reach nodes on other
# machines.
packages=(
  podman runc uidmap slirp4netns fuse-overlayfs catatonit netavark
  meson ninja-build pkg-config gcc clang libclang-rt-14-dev
  libcurl4-openssl-dev libyajl-dev libyaml-dev libarchive-dev libseccomp-dev
  libsqlite3-dev libssl-dev libzstd-dev libmicrohttpd-dev
  busybox-static mmdebstrap skopeo zstd
  bats parallel hyperfine zsh fish jq python3-jsonschema python3-yaml chromium
  openssh-server openssh-client curl ca-certificates git passwd util-linux procps iproute2
)

# Node.js and npm drive Chromium in tests/browser/ (playwright-core, installed by that test
# into its own directory).  Debian's are installed only where no node is on PATH: a machine
# that ships a newer one keeps it.
node_packages=(nodejs npm)

say() { echo "setup-host: $*"; }
die() { echo "setup-host: $*" >&2; exit 1; }

usage() {
  sed -n '2,4p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  exit "${1:-0}"
}

# Run a command as root: directly when we are root, through sudo otherwise.
as_root() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root for '$*': run this script as root or install sudo"
  fi
}

missing_packages() {
  local p
  command -v node >/dev/null 2>&1 || packages+=("${node_packages[@]}")
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' \
      || echo "$p"
  done
}

install_packages() {
  local missing
  mapfile -t missing < <(missing_packages)
  if [ "${#missing[@]}" -eq 0 ]; then
    say "packages: all ${#packages[@]} present"
    return 0
  fi
  command -v apt-get >/dev/null 2>&1 || die "no apt-get: install by hand: ${missing[*]}"
  say "packages: installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  # With recommends, as on the machines the Podman facts were verified on (podman recommends
  # its pause process, network backend and dbus-user-session).
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# The first id after every range already handed out in FILE (at least 100000).
next_free_subid() {
  awk -F: 'BEGIN { m = 100000 } NF >= 3 && $2 + $3 > m { m = $2 + $3 } END { print m }' "$1"
}

has_subids() {
  local user=$1 uid file
  uid=$(id -u "$user")
  for file in /etc/subuid /etc/subgid; do
    [ -f "$file" ] || return 1
    awk -F: -v u="$user" -v i="$uid" '($1 == u || $1 == i) && $3 >= 65536 { f = 1 } END { exit !f }' \
      "$file" || return 1
  done
}

ensure_subids() {
  local user=$1 start
  if has_subids "$user"; then
    say "subuid/subgid: '$user' has a range of at least 65536 ids"
    return 0
  fi
  as_root touch /etc/subuid /etc/subgid
  start=$({ next_free_subid /etc/subuid; next_free_subid /etc/subgid; } | sort -n | tail -1)
  say "subuid/subgid: giving '$user' ids $start-$((start + 65535))"
  as_root usermod --add-subuids "$start-$((start + 65535))" \
    --add-subgids "$start-$((start + 65535))" "$user"
}

ensure_test_user() {
  if ! id "$test_user" >/dev/null 2>&1; then
    say "user: creating unprivileged '$test_user'"
    useradd --create-home --shell /bin/bash --user-group "$test_user"
  fi
  # useradd leaves '!' (locked): OpenSSH refuses even key logins to a locked account.
  if [ "$(getent shadow "$test_user" | cut -d: -f2)" = '!' ]; then
    usermod -p '*' "$test_user"
  fi
}

ensure_tun() {
  if [ ! -c /dev/net/tun ]; then
    say "/dev/net/tun: creating it"
    as_root mkdir -p /dev/net
    as_root mknod -m 0666 /dev/net/tun c 10 200
  fi
  if [ "$(stat -c %a /dev/net/tun)" != 666 ]; then
    say "/dev/net/tun: making it usable by unprivileged users (rootless networking)"
    as_root chmod 0666 /dev/net/tun
  fi
}

# "v2" on a unified hierarchy, "v1" otherwise (legacy or hybrid: crun refuses both).
cgroup_version() {
  if [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ]; then
    echo v2
  else
    echo v1
  fi
}

ensure_containers_conf() {
  local user=$1 home conf
  if [ "$(cgroup_version)" = v2 ]; then
    say "containers.conf: cgroups v2, Podman's defaults work"
    return 0
  fi
  home=$(getent passwd "$user" | cut -d: -f6)
  conf=$home/.config/containers/containers.conf
  if [ -f "$conf" ]; then
    grep -q '^[[:space:]]*runtime[[:space:]]*=[[:space:]]*"runc"' "$conf" \
      || say "containers.conf: $conf exists without runtime = \"runc\": merge $here/containers.conf into it"
    return 0
  fi
  say "containers.conf: cgroups v1/hybrid, installing $conf (runc, explicit ulimits)"
  if [ "$(id -un)" = "$user" ]; then
    install -D -m 0644 "$here/containers.conf" "$conf"
  else
    as_root install -D -m 0644 -o "$user" -g "$(id -gn "$user")" "$here/containers.conf" "$conf"
    as_root chown "$user:" "$home/.config" "$home/.config/containers"
  fi
}

ensure_socket() {
  local user=$1
  if [ ! -d /run/systemd/system ]; then
    say "podman.socket: systemd is not running here; cpb starts a private service per command"
    return 0
  fi
  if [ "$(id -un)" != "$user" ]; then
    say "podman.socket: as '$user', run: systemctl --user enable --now podman.socket"
    say "  (and 'loginctl enable-linger $user' so it outlives the login session)"
    return 0
  fi
  if systemctl --user enable --now podman.socket >/dev/null 2>&1; then
    say "podman.socket: enabled for '$user' ($XDG_RUNTIME_DIR/podman/podman.sock)"
  else
    say "podman.socket: 'systemctl --user enable --now podman.socket' failed; cpb will start its own service"
  fi
}

main() {
  while [ $# -gt 0 ]; do
    case $1 in
      --no-packages) do_packages=0 ;;
      --user) target_user=${2:?--user needs a name}; shift ;;
      -h|--help) usage 0 ;;
      *) echo "setup-host: unknown option '$1'" >&2; usage 2 >&2 ;;
    esac
    shift
  done
  [ "$do_packages" = 1 ] && install_packages
  if [ -z "$target_user" ]; then
    if [ "$(id -u)" = 0 ]; then
      ensure_test_user
      target_user=$test_user
    else
      target_user=$(id -un)
    fi
  fi
  id "$target_user" >/dev/null 2>&1 || die "no user '$target_user'"
  [ "$(id -u "$target_user")" != 0 ] || die "Podman for cpb runs rootless: pick an unprivileged --user"
  ensure_subids "$target_user"
  ensure_tun
  ensure_containers_conf "$target_user"
  ensure_socket "$target_user"
  say "done: rootless Podman for '$target_user'"
}

main "$@"
