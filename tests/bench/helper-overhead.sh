#!/usr/bin/env bash
# helper-overhead.sh: what cpb-helper adds to a trivial task (never part of the test suite).
#
#   tests/bench/helper-overhead.sh [BUILD_DIR]      (default: build)
#
# Three ways to run `cpb-testprog exit 0`: bare, behind cpb-helper --seccomp none, behind
# cpb-helper with the default filter (and strict).  Measured twice with hyperfine:
#  1. on the host, the process alone: the helper's own cost (fork, filter, listener, reaping);
#  2. in real containers on a private rootless Podman service (`podman run --rm`, the helper
#     and the program bind-mounted at /.cpb): what a task pays end to end.
# Prints the medians and the ratios to the bare run.  Needs hyperfine, runs ~1 minute.
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
helper=$build/src/helper/cpb-helper
prog=$build/tests/helper/cpb-testprog
svc=/tmp/cpb-bench-helper.$$
svcsh=$src/tests/lib/podman-service.sh
out=$(mktemp -d)

[ -x "$helper" ] && [ -x "$prog" ] || { echo "build $build first" >&2; exit 1; }
command -v hyperfine >/dev/null || { echo "hyperfine is needed" >&2; exit 1; }

cleanup() {
  local pids
  pids=$(ss -xlpn 2>/dev/null | grep -F "$svc/podman.sock" | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u)
  "$svcsh" stop "$svc" >/dev/null 2>&1 || true
  for pid in $pids; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$out"
}
trap cleanup EXIT

# median_ms JSON: the median of each command of a hyperfine --export-json file, in ms, one a line.
median_ms() {
  python3 -c 'import json,sys
for r in json.load(open(sys.argv[1]))["results"]: print("%.3f" % (r["median"] * 1000))' "$1"
}

# table TITLE JSON NAMES...: medians and ratios to the first.
table() {
  local title=$1 json=$2; shift 2
  local labels=("$@") i=0 base=
  echo "== $title"
  printf '%-34s %12s %8s\n' "variant" "median ms" "ratio"
  while read -r ms; do
    [ -n "$base" ] || base=$ms
    printf '%-34s %12s %8s\n' "${labels[$i]:-?}" "$ms" "$(awk -v a="$ms" -v b="$base" 'BEGIN { printf "%.3f", a / b }')"
    i=$((i + 1))
  done < <(median_ms "$json")
  echo
}

names=(bare "helper --seccomp none" "helper (default filter)" "helper --seccomp strict")

hyperfine -N -w 20 -r 300 --export-json "$out/host.json" \
  "$prog exit 0" \
  "$helper --seccomp none -- $prog exit 0" \
  "$helper -- $prog exit 0" \
  "$helper --seccomp strict -- $prog exit 0" >/dev/null
set -- "${names[@]}"
table "host: the process alone (300 runs each)" "$out/host.json" "$@"

url=$("$svcsh" start "$svc" 3>&-)
mkdir -p "$svc/payload"
cp "$helper" "$prog" "$svc/payload/"
chmod -R a+rX "$svc/payload"
pod="$svcsh podman $svc run --rm --network none -v $svc/payload:/.cpb:ro localhost/cpb-busybox:latest"
hyperfine -w 2 -r 15 --export-json "$out/ctr.json" \
  "$pod /.cpb/cpb-testprog exit 0" \
  "$pod /.cpb/cpb-helper --seccomp none -- /.cpb/cpb-testprog exit 0" \
  "$pod /.cpb/cpb-helper -- /.cpb/cpb-testprog exit 0" \
  "$pod /.cpb/cpb-helper --seccomp strict -- /.cpb/cpb-testprog exit 0" >/dev/null
table "container: podman run --rm on a private rootless service ($url, 15 runs each)" \
  "$out/ctr.json" "$@"
