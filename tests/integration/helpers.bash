# helpers.bash: shared set-up for the bats scenarios.  In a .bats file:
#
#   load helpers
#   setup_file()    { cpb_service_start; }     # one private Podman service per file
#   teardown_file() { cpb_service_stop; }
#   @test "..." { run_cpb build "$SPEC"; assert_success; ... }
#
# CPB is the binary under test (default: build/cpb of this tree, or $CPB_BUILD_DIR/cpb);
# tpodman runs the podman CLI against the private service's storage, to check what a user
# would check (images, labels, leftovers).

bats_require_minimum_version 1.5.0

CPB_SRC=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
CPB=${CPB:-${CPB_BUILD_DIR:-$CPB_SRC/build}/cpb}
CPB_SERVICE_SH=$CPB_SRC/tests/lib/podman-service.sh

# Start a private rootless service for this file; exports CPB_PODMAN_URL and CPB_TEST_SVC.
cpb_service_start() {
  [ -x "$CPB" ] || { echo "no cpb binary at $CPB: build first" >&2; return 1; }
  # run-all.sh gathers the services of a run under CPB_TEST_TMPDIR to stop any left behind.
  CPB_TEST_SVC=$(mktemp -d "${CPB_TEST_TMPDIR:-/tmp}/cpb-svc.XXXXXX")
  chmod 0755 "$CPB_TEST_SVC"
  export CPB_TEST_SVC
  CPB_PODMAN_URL=$("$CPB_SERVICE_SH" start "$CPB_TEST_SVC") || return 1
  export CPB_PODMAN_URL
  # Keep cpb's own files (state, archives, config) out of the user's home.
  export XDG_DATA_HOME=$CPB_TEST_SVC/data XDG_CONFIG_HOME=$CPB_TEST_SVC/config
  export XDG_CACHE_HOME=$CPB_TEST_SVC/cache
}

cpb_service_stop() {
  [ -n "${CPB_TEST_SVC:-}" ] && "$CPB_SERVICE_SH" stop "$CPB_TEST_SVC"
  return 0
}

tpodman() {
  "$CPB_SERVICE_SH" podman "$CPB_TEST_SVC" "$@"
}

# run_cpb ARGS...: run cpb under bats' `run`, keeping stderr apart in $stderr.
run_cpb() {
  run --separate-stderr "$CPB" "$@"
}

assert_success() {
  if [ "$status" -ne 0 ]; then
    echo "expected success, got exit $status" >&2
    echo "stdout: $output" >&2
    echo "stderr: ${stderr:-}" >&2
    return 1
  fi
}

# assert_failure [CODE]
assert_failure() {
  if [ "$status" -eq 0 ] || { [ -n "${1:-}" ] && [ "$status" -ne "$1" ]; }; then
    echo "expected failure${1:+ with exit $1}, got exit $status" >&2
    echo "stdout: $output" >&2
    echo "stderr: ${stderr:-}" >&2
    return 1
  fi
}

# assert_contains HAYSTACK NEEDLE
assert_contains() {
  case "$1" in
    *"$2"*) return 0 ;;
  esac
  echo "expected to find: $2" >&2
  echo "in: $1" >&2
  return 1
}

assert_not_contains() {
  case "$1" in
    *"$2"*) echo "did not expect: $2" >&2; echo "in: $1" >&2; return 1 ;;
  esac
  return 0
}
