#!/usr/bin/env bats
# cpb doctor: what a user sees on a machine that works, and on one that does not.
load helpers

setup_file() { cpb_service_start; }
teardown_file() { cpb_service_stop; }

# Outside bats' private temporary directory: the unprivileged user must read files here.
setup() {
  WORK=$(mktemp -d "${CPB_TEST_TMPDIR:-/tmp}/cpb-doctor.XXXXXX")
  chmod 0755 "$WORK"
}

teardown() { rm -rf "$WORK"; }

# Run cpb as an unprivileged user: cpbtest when the suite runs as root (some checks, like
# the ulimits a user may set, only mean something there), else the caller.
run_cpb_as_user() {
  if [ "$(id -u)" != 0 ]; then
    run --separate-stderr "$CPB" "$@"
    return
  fi
  id cpbtest >/dev/null 2>&1 || skip "no cpbtest user (contrib/podman/setup-host.sh makes it)"
  setpriv --reuid=cpbtest --regid=cpbtest --init-groups true 2>/dev/null \
    || skip "cannot switch to cpbtest"
  setpriv --reuid=cpbtest --regid=cpbtest --init-groups test -x "$CPB" \
    || skip "cpbtest cannot run $CPB (a parent directory is closed to it)"
  run --separate-stderr setpriv --reuid=cpbtest --regid=cpbtest --init-groups \
    env HOME="$WORK" XDG_RUNTIME_DIR= "$@"
}

@test "doctor against a working service: service, API, rootless and runtime are ok" {
  run_cpb doctor
  [ "$status" -eq 0 ] || [ "$status" -eq 1 ] || assert_success
  assert_contains "$output" "service   answers at $CPB_PODMAN_URL"
  assert_contains "$output" "libpod API 4."
  assert_contains "$output" "rootless  the service runs rootless"
  # The exit status says whether a problem was listed, and nothing else.
  if [[ $output == *"problem "* ]]; then [ "$status" -eq 1 ]; else [ "$status" -eq 0 ]; fi
}

@test "doctor --json is a document with every check, for scripts" {
  run_cpb doctor --json
  [ "$status" -ne 2 ] && [ "$status" -ne 3 ]
  [ "$(jq -r .reachable <<<"$output")" = true ]
  [ "$(jq -r .url <<<"$output")" = "$CPB_PODMAN_URL" ]
  for name in podman subuid cgroups tun ulimits service api rootless runtime storage; do
    [ "$(jq -r --arg n "$name" '[.checks[] | select(.name == $n)] | length' <<<"$output")" = 1 ] \
      || { echo "no check '$name' in: $output" >&2; return 1; }
  done
  [ "$(jq -r '.checks[] | select(.name == "service") | .status' <<<"$output")" = ok ]
  # "ok" is false exactly when some check is a problem.
  problems=$(jq '[.checks[] | select(.status == "problem")] | length' <<<"$output")
  [ "$(jq -r .ok <<<"$output")" = "$([ "$problems" = 0 ] && echo true || echo false)" ]
}

@test "a missing socket gives the doctor's advice, exit 3, and the local checks still run" {
  CPB_PODMAN_URL=unix://$WORK/nothing-here.sock run_cpb doctor
  assert_failure 3
  assert_contains "$output" "problem  service"
  assert_contains "$output" "$WORK/nothing-here.sock"
  assert_contains "$output" "fix: start the service at unix://$WORK/nothing-here.sock"
  assert_contains "$output" "cgroups"
  assert_contains "$output" "tun"
  assert_contains "$output" "skipped  api"
  # Advice that fits: not "run 'cpb doctor'" from the doctor itself, and no promise of a
  # private service that a named URL never falls back to.
  assert_not_contains "$output" "run 'cpb doctor'"
  assert_not_contains "$output" "private service"
}

@test "with nothing to discover, the advice is how to start the user's service" {
  mkdir -p "$WORK/xdg"
  run env -u CPB_PODMAN_URL -u CONTAINER_HOST XDG_RUNTIME_DIR="$WORK/xdg" "$CPB" doctor --json
  [ "$status" -eq 3 ]
  [ "$(jq -r .reachable <<<"$output")" = false ]
  advice=$(jq -r '.checks[] | select(.name == "service") | .advice' <<<"$output")
  case $advice in
    *"systemctl --user enable --now podman.socket"*) ;;
    *"podman system service --time=0 unix://$WORK/xdg/podman/podman.sock"*) ;;
    *) echo "unexpected advice: $advice" >&2; return 1 ;;
  esac
}

@test "doctor --local does not contact the service" {
  CPB_PODMAN_URL=unix://$WORK/nothing-here.sock run_cpb doctor --local
  [ "$status" -eq 0 ] || [ "$status" -eq 1 ]
  assert_not_contains "$output" "service"
  assert_contains "$output" "cgroups"
}

@test "crun configured on a cgroups v1 host: a problem, and the runc line to add" {
  grep -q '^0::' /proc/self/cgroup && ! grep -qv '^0::' /proc/self/cgroup \
    && skip "cgroups v2: crun is fine here"
  printf '[engine]\nruntime = "crun"\n' > "$WORK/containers.conf"
  CONTAINERS_CONF=$WORK/containers.conf run_cpb doctor --local
  assert_failure 1
  assert_contains "$output" "and the runtime is crun, which refuses them"
  assert_contains "$output" "in $WORK/containers.conf, under [engine], set: runtime = \"runc\""
}

@test "default_ulimits above what the user may set: a problem naming the file" {
  printf '[containers]\ndefault_ulimits = ["nofile=999999999:999999999"]\n' > "$WORK/containers.conf"
  chmod 0644 "$WORK/containers.conf"
  run_cpb_as_user env CONTAINERS_CONF="$WORK/containers.conf" "$CPB" doctor --local --json
  [ "$status" -eq 1 ]
  [ "$(jq -r '.checks[] | select(.name == "ulimits") | .status' <<<"$output")" = problem ]
  jq -r '.checks[] | select(.name == "ulimits") | .advice' <<<"$output" \
    | grep -qF "in $WORK/containers.conf, under [containers], set: default_ulimits"
}

@test "doctor --help follows the help format; stray arguments are usage errors" {
  run_cpb doctor --help
  assert_success
  [ "${lines[0]}" = "Usage: cpb doctor [--json] [--local]" ]
  assert_contains "$output" "  --json"
  run_cpb doctor extra
  assert_failure 2
  assert_contains "$stderr" "unexpected argument 'extra'"
}

@test "a user without subordinate ids: a problem, and the usermod line that gives them" {
  [ "$(id -u)" = 0 ] || skip "needs root to run as a user without subordinate ids"
  id nobody >/dev/null 2>&1 || skip "no user nobody"
  ! grep -qE '^(nobody|65534):' /etc/subuid || skip "nobody has subordinate ids here"
  setpriv --reuid=nobody --regid=nogroup --clear-groups test -x "$CPB" \
    || skip "nobody cannot run $CPB (a parent directory is closed to it)"
  run --separate-stderr setpriv --reuid=nobody --regid=nogroup --clear-groups \
    env HOME="$WORK" XDG_RUNTIME_DIR= "$CPB" doctor --local
  assert_failure 1
  assert_contains "$output" "problem  subuid    'nobody' has 0 subordinate uids and 0 gids"
  assert_contains "$output" "fix: sudo usermod --add-subuids "
  assert_contains "$output" " nobody && podman system migrate"
}
