#!/usr/bin/env bash
# sshd.sh: a private OpenSSH server on 127.0.0.1 and farm nodes behind it, for tests.
#
#   tests/lib/sshd.sh start DIR [N]   start sshd (its own config, port, host key, pid file,
#                                     all under DIR) and N node users (default 3:
#                                     cpbnode1..N), each with a rootless Podman service on a
#                                     private socket and storage under DIR/nodeI, no images
#   tests/lib/sshd.sh stop DIR        stop the services and sshd, remove DIR
#   tests/lib/sshd.sh env DIR         print the shell variables a test uses (see below)
#
# The client side lives in DIR/client: a key pair (authorized for every node user), a
# known_hosts holding the server's key, and an ssh_config that cpb is pointed at with
# CPB_SSH_CONFIG (as `ssh -F`, so root's own ~/.ssh is never read or written).  That
# config names each node as a host alias, so a URL can be ssh://nodeI/PATH (user and
# port from the config) as well as ssh://cpbnodeI@127.0.0.1:PORT/PATH.
#
# `env` prints: CPB_SSH_CONFIG, CPB_TEST_SSH_PORT, CPB_TEST_SSH_DIR, and for each node I
# CPB_TEST_NODEI_SOCK (the remote socket path), CPB_TEST_NODEI_URL (the full ssh URL) and
# CPB_TEST_NODEI_RUN_SOCK, the same socket through a symlink under /run: Podman 4.3's
# `system connection add` keeps only the part of a socket path from "/run" on, so a test
# of `cpb node import` needs paths that start there.
#
# Run as root (sshd must switch users; the node users are created here, once, like the
# cpbtest user of contrib/podman/setup-host.sh, which installs openssh-server).  The users
# persist between runs; everything else (processes, keys, sockets, storage) is under DIR
# and gone after `stop`.  Two instances may run at once: each has its own port and its own
# service directories, and rootless Podman keeps one user namespace per runtime directory.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
setup_host=$here/../../contrib/podman/setup-host.sh
service_sh=$here/podman-service.sh
sshd_bin=/usr/sbin/sshd

die() { echo "sshd.sh: $*" >&2; exit 1; }

need_root() { [ "$(id -u)" = 0 ] || die "run as root: sshd switches users, node users are created here"; }

# openssh-server comes from setup-host.sh's package list (a second run takes a second).
ensure_sshd() {
  [ -x "$sshd_bin" ] && return 0
  "$setup_host" >&2 || die "contrib/podman/setup-host.sh failed"
  [ -x "$sshd_bin" ] || die "no $sshd_bin after setup-host.sh"
}

# The first id after every range handed out in FILE (at least 100000).
next_free_subid() {
  awk -F: 'BEGIN { m = 100000 } NF >= 3 && $2 + $3 > m { m = $2 + $3 } END { print m }' "$1"
}

# One node user: a home, a usable password field (OpenSSH refuses even key logins to a
# locked '!' account), 65536 subordinate ids for rootless Podman.
ensure_user() {
  local user=$1 start
  id "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash --user-group "$user"
  [ "$(getent shadow "$user" | cut -d: -f2)" = '*' ] || usermod -p '*' "$user"
  touch /etc/subuid /etc/subgid
  if ! grep -q "^$user:" /etc/subuid || ! grep -q "^$user:" /etc/subgid; then
    start=$({ next_free_subid /etc/subuid; next_free_subid /etc/subgid; } | sort -n | tail -1)
    usermod --add-subuids "$start-$((start + 65535))" --add-subgids "$start-$((start + 65535))" "$user"
  fi
}

# A free TCP port on 127.0.0.1 (the kernel's pick; sshd binds it a moment later).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

write_sshd_config() {
  local dir=$1 port=$2 users=$3
  cat >"$dir/sshd/sshd_config" <<EOF
# A test server: loopback only, keys only, only the node users.
Port $port
ListenAddress 127.0.0.1
HostKey $dir/sshd/host_ed25519
PidFile $dir/sshd/sshd.pid
AuthorizedKeysFile $dir/sshd/keys/%u
# The keys live under /tmp, whose mode sshd's StrictModes refuses on the way up.
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin no
AllowUsers $users
AllowStreamLocalForwarding yes
# Streamlocal (-L sock:sock) forwards are refused unless local TCP forwarding is allowed too
# (sshd 9.2 channel_connect_to_path: its permission comes from AllowTcpForwarding).
AllowTcpForwarding local
X11Forwarding no
PrintMotd no
LogLevel VERBOSE
EOF
}

write_client_config() {
  local dir=$1 port=$2 n=$3 i
  {
    for i in $(seq 1 "$n"); do
      printf 'Host node%d\n  HostName 127.0.0.1\n  Port %d\n  User cpbnode%d\n' "$i" "$port" "$i"
    done
    printf 'Host *\n  IdentityFile %s\n  IdentitiesOnly yes\n  IdentityAgent none\n' \
      "$dir/client/id_ed25519"
    printf '  UserKnownHostsFile %s\n  GlobalKnownHostsFile /dev/null\n' "$dir/client/known_hosts"
  } >"$dir/client/ssh_config"
  printf '[127.0.0.1]:%d %s\n' "$port" "$(cut -d' ' -f1-2 "$dir/sshd/host_ed25519.pub")" \
    >"$dir/client/known_hosts"
  chmod 0644 "$dir/client/ssh_config" "$dir/client/known_hosts"
}

start_sshd() {
  local dir=$1 port
  # sshd's privilege separation directory; Debian makes it at boot, containers may not.
  [ -d /run/sshd ] || { mkdir -p /run/sshd && chmod 0755 /run/sshd; }
  for _ in 1 2 3 4 5; do
    port=$(free_port)
    write_sshd_config "$dir" "$port" "$2"
    "$sshd_bin" -t -f "$dir/sshd/sshd_config" || die "sshd refuses its config"
    # -D: stay in the foreground of our own session (setsid), so stop() can kill it and
    # nothing of it outlives DIR; -E: its log in DIR.
    setsid "$sshd_bin" -D -f "$dir/sshd/sshd_config" -E "$dir/sshd/sshd.log" \
      </dev/null >/dev/null 2>&1 &
    echo $! >"$dir/sshd/sshd.pid.launcher"
    for _ in $(seq 1 50); do
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && { echo "$port" >"$dir/port"; return 0; }
      kill -0 "$(cat "$dir/sshd/sshd.pid.launcher")" 2>/dev/null || break
      sleep 0.1
    done
    kill "$(cat "$dir/sshd/sshd.pid.launcher")" 2>/dev/null || true
  done
  cat "$dir/sshd/sshd.log" >&2 2>/dev/null || true
  die "sshd did not start"
}

start() {
  local dir=$1 n=${2:-3} users="" i
  need_root
  ensure_sshd
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd -P)
  # Podman refuses a runroot path of more than 50 characters: DIR/nodeI/runroot must fit.
  [ ${#dir} -le 36 ] || die "'$dir' is too long for the node services' runroot (at most 36 characters)"
  chmod 0755 "$dir"
  echo "$n" >"$dir/nodes"
  mkdir -p "$dir/sshd/keys" "$dir/client"
  chmod 0700 "$dir/client"
  ssh-keygen -q -t ed25519 -N '' -C cpb-test-host -f "$dir/sshd/host_ed25519"
  ssh-keygen -q -t ed25519 -N '' -C cpb-test-client -f "$dir/client/id_ed25519"
  # Users are shared by every instance: create them one instance at a time.
  (
    flock 9
    for i in $(seq 1 "$n"); do ensure_user "cpbnode$i"; done
  ) 9>/run/lock/cpb-node-users.lock
  for i in $(seq 1 "$n"); do
    users+="cpbnode$i "
    install -m 0644 "$dir/client/id_ed25519.pub" "$dir/sshd/keys/cpbnode$i"
  done
  start_sshd "$dir" "$users"
  write_client_config "$dir" "$(cat "$dir/port")" "$n"
  mkdir -m 0755 "/run/$(basename "$dir")"
  for i in $(seq 1 "$n"); do
    CPB_TEST_USER=cpbnode$i "$service_sh" start "$dir/node$i" --no-images >/dev/null
    ln -s "$dir/node$i/podman.sock" "/run/$(basename "$dir")/node$i.sock"
  done
}

stop() {
  local dir=$1 i pid child
  [ -d "$dir" ] || return 0
  dir=$(cd "$dir" && pwd -P)
  [ -L "$1" ] && rm -f "$1"
  for i in $(seq 1 "$(cat "$dir/nodes" 2>/dev/null || echo 3)"); do
    [ -d "$dir/node$i" ] && CPB_TEST_USER=cpbnode$i "$service_sh" stop "$dir/node$i"
  done
  # sshd puts each connection in a session of its own: stop those (its children, by
  # parent pid) before the listener, or a session a test left open would outlive it.
  pid=$(cat "$dir/sshd/sshd.pid.launcher" 2>/dev/null) || pid=
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    for child in $(pgrep -P "$pid" 2>/dev/null); do kill -TERM "$child" 2>/dev/null || true; done
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -rf "$dir" "/run/$(basename "$dir")"
}

env_of() {
  local dir i port
  dir=$(cd "$1" && pwd -P)
  port=$(cat "$dir/port")
  echo "export CPB_SSH_CONFIG=$dir/client/ssh_config CPB_TEST_SSH_PORT=$port CPB_TEST_SSH_DIR=$dir"
  for i in $(seq 1 "$(cat "$dir/nodes")"); do
    echo "export CPB_TEST_NODE${i}_SOCK=$dir/node$i/podman.sock" \
      "CPB_TEST_NODE${i}_URL=ssh://cpbnode$i@127.0.0.1:$port$dir/node$i/podman.sock" \
      "CPB_TEST_NODE${i}_RUN_SOCK=/run/$(basename "$dir")/node$i.sock"
  done
}

case "${1:-}" in
  start) start "${2:?directory}" "${3:-3}" ;;
  stop) stop "${2:?directory}" ;;
  env) env_of "${2:?directory}" ;;
  *) echo "usage: $0 start|stop|env DIR [N]" >&2; exit 2 ;;
esac
