#!/usr/bin/env bats
# The Podman REST client end to end: tests/integration/client-check drives every call against
# a private rootless service and prints what it got; each test compares that with what the
# podman CLI sees in the same storage.
load helpers

CLIENT_CHECK=${CLIENT_CHECK:-${CPB_BUILD_DIR:-$CPB_SRC/build}/tests/integration/client-check}

setup_file() {
  [ -x "$CLIENT_CHECK" ] || { echo "no client-check at $CLIENT_CHECK: build first" >&2; return 1; }
  cpb_service_start
  export WORKDIR=$CPB_TEST_SVC/work
  mkdir -p "$WORKDIR"
}

teardown_file() {
  cpb_service_stop
}

# kv KEY: the value of KEY= in the last run's output.
kv() {
  sed -n "s/^$1=//p" <<< "$output" | head -n 1
}

check() {
  run --separate-stderr "$CLIENT_CHECK" "$@"
}

# A root filesystem tar holding only busybox, made from the host's busybox-static.
busybox_tar() {
  local root=$WORKDIR/rootfs
  rm -rf "$root"; mkdir -p "$root/bin" "$root/tmp"
  cp /bin/busybox "$root/bin/busybox"
  ln -s busybox "$root/bin/sh"
  tar --numeric-owner --owner=0 --group=0 -C "$root" -cf "$1" .
}

@test "connect: the given URL answers with libpod API 4.x and info matches the service" {
  check connect
  assert_success
  [[ $(kv api) == 4.* ]]
  [ "$(kv url)" = "$CPB_PODMAN_URL" ]
  [ "$(kv embedded)" = 0 ]
  [ "$(kv rootless)" = "$(tpodman info --format '{{.Host.Security.Rootless}}' | sed 's/true/1/;s/false/0/')" ]
  [ "$(kv runtime)" = "$(tpodman info --format '{{.Host.OCIRuntime.Name}}')" ]
  [ "$(kv cpus)" = "$(nproc)" ]
}

@test "discovery: CONTAINER_HOST, then the user's socket under XDG_RUNTIME_DIR" {
  local xdg=$WORKDIR/disc-xdg
  mkdir -p "$xdg/podman"
  ln -sf "${CPB_PODMAN_URL#unix://}" "$xdg/podman/podman.sock"
  run --separate-stderr env -u CPB_PODMAN_URL XDG_RUNTIME_DIR="$xdg" CONTAINER_HOST= "$CLIENT_CHECK" connect
  assert_success
  [ "$(kv url)" = "unix://$xdg/podman/podman.sock" ]
  [ "$(kv embedded)" = 0 ]
  run --separate-stderr env -u CPB_PODMAN_URL XDG_RUNTIME_DIR="$xdg" CONTAINER_HOST="$CPB_PODMAN_URL" "$CLIENT_CHECK" connect
  assert_success
  [ "$(kv url)" = "$CPB_PODMAN_URL" ]
  # CONTAINER_HOST is the user's explicit choice: when it does not answer, that is the error.
  run --separate-stderr env -u CPB_PODMAN_URL XDG_RUNTIME_DIR="$xdg" CONTAINER_HOST=unix://$WORKDIR/none.sock "$CLIENT_CHECK" connect
  assert_failure 3
  assert_contains "$stderr" "\$CONTAINER_HOST: cannot connect to Podman at 'unix://$WORKDIR/none.sock'"
  assert_contains "$stderr" "run 'cpb doctor'"
}

@test "images: import, list, inspect, exists, tag, save as OCI archive, remove, load" {
  local ref=localhost/cpb-client-img:1 oci=$WORKDIR/img.oci.tar
  busybox_tar "$WORKDIR/rootfs.tar"
  check images "$WORKDIR/rootfs.tar" "$ref" "$oci"
  assert_success
  [ "$(kv import_id)" = "$(kv inspect_id)" ]
  [ "$(kv listed)" = 1 ]
  [ "$(kv tag0)" = "$ref" ]
  [ "$(kv label)" = images ]
  [ "$(kv exists)" = 1 ]
  [ "$(kv missing_exists)" = 0 ]
  [ "$(kv exists_after_remove)" = 0 ]
  [ "$(kv loaded)" = "$ref" ]
  [ "$(kv exists_after_load)" = 1 ]
  # What the user sees: the image is back with its config, the tag is gone, and the
  # archive is a real OCI archive that skopeo reads.
  [ "$(tpodman image inspect --format '{{.Id}}' "$ref")" = "$(kv import_id)" ]
  assert_contains "$(tpodman image inspect --format '{{.Config.Cmd}}' "$ref")" "/bin/sh"
  run tpodman image exists localhost/cpb-client-tagged:v1
  [ "$status" -ne 0 ]
  tar -tf "$oci" | grep -qx 'index.json'
  run skopeo inspect --raw "oci-archive:$oci"
  [ "$status" -eq 0 ]
  assert_contains "$output" '"schemaVersion"'
}

@test "build: a streamed context, labels and build args, progress lines, the image ID" {
  local ctx=$WORKDIR/ctx tag=localhost/cpb-client-built:1
  mkdir -p "$ctx"
  printf 'FROM localhost/cpb-busybox:latest\nARG GREETING\nRUN echo "$GREETING" > /greeting\n' > "$ctx/Containerfile"
  tar -C "$ctx" -cf "$WORKDIR/ctx.tar" .
  check build "$WORKDIR/ctx.tar" "$tag"
  assert_success
  [ "$(kv image_id)" = "$(tpodman image inspect --format '{{.Id}}' "$tag")" ]
  [ "$(kv progress_lines)" -ge 5 ]
  [ "$(tpodman image inspect --format '{{index .Labels "io.cpb.spec-hash"}}' "$tag")" = h-123 ]
  [ "$(tpodman image inspect --format '{{index .Labels "io.cpb.note"}}' "$tag")" = 'a "quoted" note' ]
  [ "$(tpodman run --rm --network none "$tag" cat /greeting)" = "hello from a build arg" ]
}

@test "build: a failing step is an error carrying Podman's text" {
  local ctx=$WORKDIR/ctx-bad
  mkdir -p "$ctx"
  printf 'FROM localhost/cpb-busybox:latest\nRUN exit 3\n' > "$ctx/Containerfile"
  tar -C "$ctx" -cf "$WORKDIR/ctx-bad.tar" .
  check build "$WORKDIR/ctx-bad.tar" localhost/cpb-client-bad:1
  assert_failure 1
  assert_contains "$stderr" 'podman: building at STEP "RUN exit 3"'
  assert_contains "$stderr" "exit status 3"
  [ "$(kv error_kind)" = 7 ]   # CPB_ERR_FAILED
}

@test "containers: create, archive PUT before start, start, died event, logs, archive GET, inspect, list, remove" {
  local run_id=r$$ in=$WORKDIR/in out=$WORKDIR/out.tar
  mkdir -p "$in"; echo "input line" > "$in/input.txt"
  tar -C "$in" -cf "$WORKDIR/in.tar" input.txt
  check run localhost/cpb-busybox:latest "$run_id" "$WORKDIR/in.tar" "$out"
  assert_success
  local id; id=$(kv id)
  [ "$(kv event_id)" = "$id" ]
  [ "$(kv event_exit)" = 3 ]
  [ "$(kv inspect_exit)" = 3 ]
  [ "$(kv status)" = exited ]
  [ "$(kv image)" = localhost/cpb-busybox:latest ]
  [ "$(kv label_task)" = t-0001 ]
  [ "$(kv finished)" = 1 ]
  [ "$(kv listed)" = 1 ]
  [ "$(kv listed_id)" = "$id" ]
  local out_text err_text
  out_text=$(sed -n '/^stdout<<EOF$/,/^EOF$/p' <<< "$output")
  err_text=$(sed -n '/^stderr<<EOF$/,/^EOF$/p' <<< "$output")
  # All three archive PUTs (file with a length, pipe and read callback chunked) arrived.
  [ "$(grep -c '^input line$' <<< "$out_text")" = 3 ]
  assert_contains "$out_text" "nofile=512 nproc=1000"
  assert_contains "$out_text" "env=hi there"
  assert_contains "$out_text" "/work/sub"
  assert_not_contains "$out_text" "to-stderr"
  assert_contains "$err_text" "to-stderr"
  [ "$(tar -tf "$out" | sed 's|^\./||' | grep -v '^$')" = result.txt ]
  [ "$(tar -xOf "$out" ./result.txt 2>/dev/null || tar -xOf "$out" result.txt)" = result ]
  # The spec as the CLI sees it: no network, no capabilities, no new privileges, labels.
  [ "$(tpodman inspect --format '{{.HostConfig.NetworkMode}}' "$id")" = none ]
  [ "$(tpodman inspect --format '{{.EffectiveCaps}}' "$id")" = "[]" ]
  assert_contains "$(tpodman inspect --format '{{.HostConfig.SecurityOpt}}' "$id")" "no-new-privileges"
  [ "$(tpodman inspect --format '{{index .Config.Labels "io.cpb.run"}}' "$id")" = "$run_id" ]
  # Limits: enforced, or (rootless cgroups v1) Podman's warning that they are not.
  if [ "$(tpodman info --format '{{.Host.CgroupsVersion}}')" = v1 ] \
     && [ "$(tpodman info --format '{{.Host.Security.Rootless}}')" = true ]; then
    assert_contains "$(kv warning)" "Resource limits are not supported and ignored on cgroups V1 rootless"
  else
    [ "$(tpodman inspect --format '{{.HostConfig.Memory}}' "$id")" = 67108864 ]
    [ "$(tpodman inspect --format '{{.HostConfig.CpuQuota}}' "$id")" = 50000 ]
  fi
  check rm "$id"
  assert_success
  run tpodman container exists "$id"
  [ "$status" -eq 1 ]
}

@test "containers: pause/unpause (or Podman's refusal on rootless cgroups v1), kill, wait gives 137" {
  check pause localhost/cpb-busybox:latest
  assert_success
  if [ "$(tpodman info --format '{{.Host.CgroupsVersion}}')" = v1 ] \
     && [ "$(tpodman info --format '{{.Host.Security.Rootless}}')" = true ]; then
    assert_contains "$(kv pause_error)" "podman: can not pause containers on rootless containers with cgroup V1"
  else
    [ "$(kv paused_status)" = paused ]
    [ "$(kv unpaused_status)" = running ]
  fi
  [ "$(kv killed_exit)" = 137 ]
  [ -z "$(tpodman ps -aq --filter ancestor=localhost/cpb-busybox:latest --filter status=exited)" ]
}

@test "errors: Podman's message reaches the caller, 404 is not-found, unreachable is connect" {
  check errors localhost/cpb-busybox:latest
  assert_success
  [ "$(kv inspect_kind)" = 5 ]   # CPB_ERR_NOT_FOUND
  [ "$(kv inspect_status)" = 404 ]
  assert_contains "$(kv inspect_msg)" 'podman: no container with name or ID "cpb-no-such-container" found'
  [ "$(kv start_kind)" = 3 ]     # CPB_ERR_PODMAN
  [ "$(kv start_status)" = 500 ]
  assert_contains "$(kv start_msg)" '/nonexistent'
  assert_contains "$(kv create_msg)" 'image not known'
  [ "$(kv archive_kind)" = 5 ]   # a missing path in archive GET is not-found
  [ "$(kv archive_status)" = 404 ]
  [ "$(kv connect_kind)" = 4 ]   # CPB_ERR_CONNECT
  assert_contains "$(kv connect_msg)" "No such file or directory"
  [ "$(kv url_kind)" = 2 ]       # CPB_ERR_INPUT
}

# fake_service SOCKET HEADER: answer every request on SOCKET with 200 and HEADER (may be
# empty), as an old Podman or a Docker daemon would; the server's pid is in $fake_pid.
fake_service() {
  python3 - "$1" "$2" <<'EOF' &
import http.server, socketserver, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        if sys.argv[2]:
            name, value = sys.argv[2].split(": ", 1)
            self.send_header(name, value)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"OK")
    def log_message(self, *args):
        pass
    def address_string(self):
        return "local"
socketserver.UnixStreamServer(sys.argv[1], H).serve_forever()
EOF
  fake_pid=$!
  for _ in $(seq 50); do [ -S "$1" ] && return 0; sleep 0.1; done
  return 1
}

@test "an old Podman (API 3.x) or a service that is not Podman: a clear error, exit 3" {
  local sock=$WORKDIR/old.sock
  rm -f "$sock"
  fake_service "$sock" "Libpod-Api-Version: 3.4.4"
  CPB_PODMAN_URL=unix://$sock run_cpb images
  kill "$fake_pid"; wait "$fake_pid" 2>/dev/null || true
  assert_failure 3
  assert_contains "$stderr" "speaks API 3.4.4; cpb needs Podman 4.0 or newer"
  rm -f "$sock"
  fake_service "$sock" ""
  CPB_PODMAN_URL=unix://$sock run_cpb images
  kill "$fake_pid"; wait "$fake_pid" 2>/dev/null || true
  assert_failure 3
  assert_contains "$stderr" "is not a Podman service (no Libpod-Api-Version header)"
}

@test "events: an idle stream is cancelled from another thread within about a second" {
  check cancel
  assert_success
  [ "$(kv cancel_kind)" = 6 ]    # CPB_ERR_CANCELLED
  [ "$(kv cancel_ms)" -lt 2500 ]
}

@test "bench: create+start+wait+remove cycles over one kept-alive connection" {
  check bench localhost/cpb-busybox:latest 5
  assert_success
  echo "# cycle median $(kv median_ms) ms (create $(kv create_ms), start $(kv start_ms), wait $(kv wait_ms), remove $(kv remove_ms))" >&3
  [ "$(kv cycles)" = 5 ]
  [ -z "$(tpodman ps -aq)" ]
}

@test "embedded: with no service anywhere, cpb starts one for the command and stops it after" {
  [ "$(id -u)" = 0 ] || skip "needs root to run as ${CPB_TEST_USER:-cpbtest}"
  local user=${CPB_TEST_USER:-cpbtest} home=$WORKDIR/emb-home xdg=$WORKDIR/emb-xdg
  mkdir -p "$home" "$xdg"
  chown "$user:" "$home" "$xdg"; chmod 0700 "$xdg"
  as_user() {
    setpriv --reuid="$user" --regid="$user" --init-groups --reset-env \
      env HOME="$home" XDG_RUNTIME_DIR="$xdg" PATH=/usr/sbin:/usr/bin:/sbin:/bin \
      CONTAINERS_CONF="$CPB_TEST_SVC/containers.conf" "$@"
  }
  run --separate-stderr as_user "$CLIENT_CHECK" connect
  as_user podman unshare rm -rf "$home/.local/share/containers" 2>/dev/null || true
  # The user namespace's pause process belongs to this test's runtime dir, not to cpb.
  [ -f "$xdg/libpod/tmp/pause.pid" ] && kill "$(cat "$xdg/libpod/tmp/pause.pid")" 2>/dev/null || true
  assert_success
  [ "$(kv embedded)" = 1 ]
  [[ $(kv url) == unix://$xdg/cpb-service-*/podman.sock ]]
  [ "$(kv rootless)" = 1 ]
  # Stopped and cleaned up when the connection was freed.
  [ -z "$(ls -A "$xdg" | grep cpb-service || true)" ]
  ! pgrep -u "$user" -f "system service --time=0 unix://$xdg/" >/dev/null
}
