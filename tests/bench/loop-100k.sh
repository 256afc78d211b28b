#!/usr/bin/env bash
# loop-100k.sh: what 100,000 tasks cost the run loop, for one or more builds side by side.
#
#   tests/bench/loop-100k.sh BUILD_DIR [BUILD_DIR...]
#
# For each build, on a private rootless service:
#   hold     a 100,000-task batch runs two `sleep` tasks at a time; the CPU time the
#            `cpb run` process uses in a quiet 6 s window, then in the 6 s after one
#            `cpb hold BATCH TASK` (the loop applies holds made by other cpb processes);
#   cancel   the same after `cpb cancel BATCH TASK` of a queued task;
#   blocked  group `a` (one task that fails) before group `b` (100,000 tasks): the wall time
#            of the whole run, where the loop cancels b's tasks because a failed, and the
#            planning alone (cpb run --dry-run) to subtract.
# Prints a Markdown table; docs/running.md records the figures.  Never part of the test
# suite: it takes minutes and its figures depend on the machine.
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
svc_sh=$src/tests/lib/podman-service.sh
image=localhost/cpb-busybox:latest
work=$(mktemp -d /tmp/cpb-bench-loop.XXXXXX)
chmod 0755 "$work"
svc=$work/svc
[ $# -ge 1 ] || { sed -n '2,4p' "$0"; exit 2; }

cleanup() { "$svc_sh" stop "$svc" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

CPB_PODMAN_URL=$("$svc_sh" start "$svc")
export CPB_PODMAN_URL XDG_CONFIG_HOME=$work/config

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# CPU seconds process PID uses over the next SECS seconds
cpu_over() {
  local pid=$1 secs=$2 t0 t1
  t0=$(cpu_ticks "$pid")
  sleep "$secs"
  t1=$(cpu_ticks "$pid")
  echo "($t1 - $t0) / $(getconf CLK_TCK)" | bc -l
}

spec_sleep() {
  cat > "$work/sleep.yaml" <<SPEC
batch: sleep100k
defaults:
  image: $image
tasks:
  matrix:
    i: {from: 1, to: 100000}
  name: "t-{i}"
  command: "sleep 600"
SPEC
}

spec_blocked() {
  cat > "$work/blocked.yaml" <<SPEC
batch: blocked100k
defaults:
  image: $image
groups:
  a:
    command: "false"
  b:
    after: [a]
    matrix:
      i: {from: 1, to: 100000}
    name: "b-{i}"
    command: "true"
SPEC
}

# wait until BATCH has two RUNNING tasks (planning 100,000 tasks takes a while)
wait_running() {
  local cpb=$1 batch=$2
  for _ in $(seq 1 600); do
    "$cpb" status "$batch" --json 2>/dev/null | grep -q '"RUNNING":2' && return 0
    sleep 1
  done
  echo "the run never got going" >&2
  return 1
}

spec_sleep
spec_blocked
echo "| build | quiet 6 s | 6 s after a hold | 6 s after a cancel | blocked run | its planning |"
echo "|---|---|---|---|---|---|"
for build in "$@"; do
  cpb=$(cd "$build" && pwd)/cpb
  export XDG_DATA_HOME=$work/data-$RANDOM
  "$cpb" run -j 2 "$work/sleep.yaml" >/dev/null 2>&1 &
  pid=$!
  wait_running "$cpb" sleep100k
  sleep 3
  quiet=$(cpu_over "$pid" 6)
  "$cpb" hold sleep100k t-50000 >/dev/null
  held=$(cpu_over "$pid" 6)
  "$cpb" cancel sleep100k t-60000 >/dev/null
  cancelled=$(cpu_over "$pid" 6)
  kill -INT "$pid"
  wait "$pid" || true
  t0=$(date +%s.%N)
  "$cpb" run --dry-run "$work/blocked.yaml" >/dev/null 2>&1 || true
  t1=$(date +%s.%N)
  "$cpb" run "$work/blocked.yaml" >/dev/null 2>&1 || true
  t2=$(date +%s.%N)
  printf '| %s | %.2f s CPU | %.2f s CPU | %.2f s CPU | %.1f s | %.1f s |\n' "$build" "$quiet" \
    "$held" "$cancelled" "$(echo "$t2 - $t1" | bc -l)" "$(echo "$t1 - $t0" | bc -l)"
done
left=$("$svc_sh" podman "$svc" ps -a -q | wc -l)
[ "$left" -eq 0 ] || echo "warning: $left containers left" >&2
