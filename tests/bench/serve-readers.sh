#!/usr/bin/env bash
# serve-readers.sh: does cpb serve hold up a run?  The same batch of N trivial tasks, run
# alone, then with cpb serve up, an /api/events stream open and a reader loop asking for
# /api/status/NS/BATCH and /api/overview as fast as it can, on a private rootless service.
#
#   tests/bench/serve-readers.sh [BUILD_DIR] [N]      (default: build, 40)
#
# READ_PAUSE=SECONDS (default 0: as fast as curl goes) pauses between two rounds of reads: a
# few open pages poll far less than the flat-out loop, which on 2 cores mostly measures the
# CPU the readers take from the run.
# Prints a Markdown table (seconds of the run, and how many documents the readers got);
# docs/serve.md records the figures.  Never part of the test suite: figures depend on the
# machine.
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:-$src/build}
n=${2:-40}
cpb=$build/cpb
svc_sh=$src/tests/lib/podman-service.sh
work=$(mktemp -d /tmp/cpb-bench.XXXXXX)
chmod 0755 "$work"
svc=$work/svc
serve_pid= events_pid=

cleanup() {
  [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null
  [ -n "$events_pid" ] && kill "$events_pid" 2>/dev/null
  "$svc_sh" stop "$svc" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

[ -x "$cpb" ] || { echo "no cpb at $cpb: build first" >&2; exit 1; }
CPB_PODMAN_URL=$("$svc_sh" start "$svc")
export CPB_PODMAN_URL XDG_DATA_HOME=$work/data XDG_CONFIG_HOME=$work/config
ns=$(id -un)

spec() { # spec BATCH
  cat >"$work/$1.yaml" <<SPEC
batch: $1
defaults:
  image: localhost/cpb-busybox:latest
tasks:
  matrix:
    i: {from: 1, to: $n}
  name: "t-{i}"
  command: "true"
SPEC
  echo "$work/$1.yaml"
}

seconds() { # seconds CMD...: wall time of CMD
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >/dev/null 2>&1
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l
}

alone=$(seconds "$cpb" run -j 2 "$(spec alone)")

"$cpb" serve --listen 127.0.0.1:0 >"$work/serve.out" 2>/dev/null &
serve_pid=$!
for _ in $(seq 1 100); do grep -q 'open http' "$work/serve.out" && break; sleep 0.1; done
url=$(sed -n 's/^cpb serve: open //p' "$work/serve.out")
base=${url%%/\?token=*}
curl -s -o /dev/null -c "$work/jar" "$url"
curl -s -N -b "$work/jar" "$base/api/events" >"$work/events" &
events_pid=$!
spec watched >/dev/null
"$cpb" run -j 2 "$work/watched.yaml" >/dev/null 2>&1 &
run_pid=$!
t0=$(date +%s.%N)
reads=0
while kill -0 "$run_pid" 2>/dev/null; do
  curl -s -b "$work/jar" "$base/api/status/$ns/watched" >/dev/null
  curl -s -b "$work/jar" "$base/api/overview" >/dev/null
  reads=$((reads + 2))
  sleep "${READ_PAUSE:-0}"
done
wait "$run_pid"
t1=$(date +%s.%N)
watched=$(echo "$t1 - $t0" | bc -l)
events=$(grep -c '^event: overview' "$work/events" || true)

echo "| $n tasks, -j 2, READ_PAUSE=${READ_PAUSE:-0} | seconds | documents read meanwhile |"
echo "| --- | --- | --- |"
printf '| run alone | %.1f | – |\n' "$alone"
printf '| run with cpb serve, a reader loop and an events stream | %.1f | %d (and %d overview events) |\n' \
  "$watched" "$reads" "$events"
