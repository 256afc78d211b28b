#!/usr/bin/env bash
# podman-service.sh: a private Podman service for tests and development.
#
#   tests/lib/podman-service.sh start DIR [--no-images]
#                                           start a service with its own storage under DIR,
#                                           make the local base images (unless --no-images:
#                                           a farm node that must be sent its images), print
#                                           the socket URL
#   tests/lib/podman-service.sh stop DIR    stop it and remove its containers and storage
#   tests/lib/podman-service.sh env DIR     print the shell variables to reach it
#   tests/lib/podman-service.sh podman DIR ARGS...   run the podman CLI against its storage
#
# Run as root, the service runs rootless as the unprivileged user $CPB_TEST_USER (default
# cpbtest, created by contrib/podman/setup-host.sh), because that is how users run cpb.
# Nothing is pulled from a registry: the base image localhost/cpb-busybox:latest is made
# from the host's busybox-static.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
test_user=${CPB_TEST_USER:-cpbtest}

die() { echo "podman-service: $*" >&2; exit 1; }

# Set the array `prefix` to the command prefix that runs as the service's user, with the
# service's environment.
user_prefix() {
  local dir=$1
  prefix=(env XDG_RUNTIME_DIR="$dir/xdg" CONTAINERS_CONF="$dir/containers.conf"
          HOME="$dir/home" PATH=/usr/sbin:/usr/bin:/sbin:/bin)
  if [ "$(id -u)" = 0 ]; then
    prefix=(setpriv --reuid="$test_user" --regid="$test_user" --init-groups --reset-env
            "${prefix[@]}")
  fi
}

# Run a command as the service's user, with the service's environment.
as_user() {
  local dir=$1 prefix
  shift
  user_prefix "$dir"
  "${prefix[@]}" "$@"
}

# Close every descriptor above stderr: a service that kept one of the caller's (bats keeps
# its output pipe on fd 3) would make the caller wait for it forever.
close_fds() {
  local fd
  for fd in "/proc/$BASHPID/fd/"*; do
    fd=${fd##*/}
    [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-"
  done
  return 0
}

podman_cli() {
  local dir=$1; shift
  as_user "$dir" podman --root "$dir/storage" --runroot "$dir/runroot" "$@"
}

# The base image, made by the busybox recipe cpb build uses for `from: recipe:busybox`
# (images/busybox/), imported with the instructions of its `changes` file.
make_busybox_image() {
  local dir=$1 recipe="$here/../../images/busybox" changes=() line
  "$recipe/recipe.sh" "$dir/busybox.tar"
  chmod a+r "$dir/busybox.tar"
  while IFS= read -r line; do
    case "$line" in ''|'#'*) ;; *) changes+=(--change "$line") ;; esac
  done < "$recipe/changes"
  podman_cli "$dir" import -q "${changes[@]}" "$dir/busybox.tar" localhost/cpb-busybox:latest >/dev/null
  rm -f "$dir/busybox.tar"
}

start() {
  local dir=$1 images=${2:-}
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ -S "$dir/podman.sock" ] && curl -sf --unix-socket "$dir/podman.sock" \
       http://d/v4.0.0/libpod/_ping >/dev/null 2>&1; then
    echo "unix://$dir/podman.sock"; return 0
  fi
  if [ "$(id -u)" = 0 ]; then
    id "$test_user" >/dev/null 2>&1 || die "no user '$test_user': run contrib/podman/setup-host.sh"
    chown "$test_user:" "$dir"
    chmod 0755 "$dir"
  fi
  as_user "$dir" mkdir -p "$dir/xdg" "$dir/home" "$dir/storage" "$dir/runroot"
  as_user "$dir" chmod 0700 "$dir/xdg"
  as_user "$dir" cp "$here/../../contrib/podman/containers.conf" "$dir/containers.conf"
  # setsid: the service must not get the test runner's Ctrl-C or die with its session; it
  # leads its own process group, which stop() kills whole (rootless podman re-executes
  # itself in a user namespace as a child).  exec keeps $! the service's own pid.
  (
    close_fds
    user_prefix "$dir"
    exec "${prefix[@]}" setsid podman --root "$dir/storage" --runroot "$dir/runroot" \
      system service --time=0 "unix://$dir/podman.sock"
  ) >"$dir/service.log" 2>&1 </dev/null &
  echo $! > "$dir/service.pid"
  for _ in $(seq 1 100); do
    curl -sf --unix-socket "$dir/podman.sock" http://d/v4.0.0/libpod/_ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -sf --unix-socket "$dir/podman.sock" http://d/v4.0.0/libpod/_ping >/dev/null 2>&1 \
    || { cat "$dir/service.log" >&2; die "service did not answer on $dir/podman.sock"; }
  chmod 0755 "$dir" 2>/dev/null || true
  if [ "$images" != --no-images ]; then
    podman_cli "$dir" image exists localhost/cpb-busybox:latest || make_busybox_image "$dir"
  fi
  echo "unix://$dir/podman.sock"
}

# Kill the pause process of DIR's user namespace, after the storage is no longer needed.
stop_pause() {
  local dir=$1 pause
  pause=$(cat "$dir/xdg/libpod/tmp/pause.pid" 2>/dev/null) || return 0
  [ "$(cat "/proc/$pause/comm" 2>/dev/null)" = catatonit ] \
    || [ "$(cat "/proc/$pause/comm" 2>/dev/null)" = podman ] || return 0
  kill -KILL "$pause" 2>/dev/null || true
}

stop() {
  local dir=$1
  [ -d "$dir" ] || return 0
  dir=$(cd "$dir" && pwd)
  if [ -f "$dir/service.pid" ]; then
    local pid; pid=$(cat "$dir/service.pid")
    podman_cli "$dir" rm -af -t 0 >/dev/null 2>&1 || true
    # The pid is the service's (setpriv, env and setsid exec into it) and its group's.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$dir/service.pid"
  fi
  # Storage holds files owned by the user's subordinate ids: remove from its namespace.
  as_user "$dir" podman unshare rm -rf "$dir/storage" "$dir/runroot" 2>/dev/null || true
  # Rootless podman keeps its user namespace alive with a pause process (catatonit -P) per
  # XDG_RUNTIME_DIR; it outlives the service and would pile up, one per test file.
  stop_pause "$dir"
  rm -rf "$dir"
}

case "${1:-}" in
  start) start "${2:?directory}" "${3:-}" ;;
  stop) stop "${2:?directory}" ;;
  env) d=$(cd "${2:?directory}" && pwd); echo "export CPB_PODMAN_URL=unix://$d/podman.sock" ;;
  podman) d=$(cd "${2:?directory}" && pwd); shift 2; podman_cli "$d" "$@" ;;
  *) echo "usage: $0 start|stop|env|podman DIR [ARGS]" >&2; exit 2 ;;
esac
