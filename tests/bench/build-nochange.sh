#!/usr/bin/env bash
# build-nochange.sh: the cost of a no-change `cpb build` against `podman build` of the same
# context, both against one private rootless Podman service.  Never run by the test suite.
#
#   tests/bench/build-nochange.sh [BUILD_DIR] [RUNS]
#
# cpb answers "up to date" from two image inspections per image; podman build re-sends the
# context and walks its layer cache step by step.  The spec is the integration suite's
# (tests/integration/data/build/pods.yaml, two images); podman builds the Containerfile
# cpb renders for the same image, from the same files.  Prints the medians and the ratio.
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:-$src/build}
runs=${2:-10}
cpb=$build/cpb
svc_sh=$src/tests/lib/podman-service.sh
[ -x "$cpb" ] || { echo "no cpb at $cpb: build first" >&2; exit 1; }

work=$(mktemp -d /tmp/cpb-bench-build.XXXXXX)
chmod 0755 "$work"
svc=$work/svc
cleanup() { "$svc_sh" stop "$svc" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

CPB_PODMAN_URL=$("$svc_sh" start "$svc")
export CPB_PODMAN_URL XDG_CACHE_HOME=$work/cache
cp -r "$src/tests/integration/data/build" "$work/spec"
spec=$work/spec/pods.yaml

echo "first build (not timed)..." >&2
"$cpb" build "$spec" >/dev/null 2>&1

# The same context podman would get: cpb's Containerfile for 'greeter' and its files, in
# a directory the service's user can read (the CLI reads the context from disk).
ctx=$work/ctx
mkdir -p "$ctx/files/0" "$ctx/files/1" "$ctx/helper"
"$cpb" build --dry-run "$spec" greeter 2>/dev/null | sed -n '/^# cpb: image/,/^$/p' > "$ctx/Containerfile"
cp "$work/spec/data/hello.txt" "$ctx/files/0/"
cp -r "$work/spec/data/tree" "$ctx/files/1/"
cp "${CPB_HELPER:-$build/src/helper/cpb-helper}" "$ctx/helper/cpb-helper"
chmod -R a+rX "$ctx"
"$svc_sh" podman "$svc" build -q --layers -t localhost/bench-greeter "$ctx" >/dev/null

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

time_runs() { # COMMAND...: RUNS wall times in milliseconds, one per line
  for _ in $(seq "$runs"); do
    local t0 t1
    t0=$(date +%s%N)
    "$@" >/dev/null 2>&1
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000000))
  done
}

cpb_ms=$(time_runs "$cpb" build "$spec" | median)
podman_ms=$(time_runs "$svc_sh" podman "$svc" build -q --layers -t localhost/bench-greeter "$ctx" | median)

# Both must have been no-ops: the cpb run says so.
"$cpb" build "$spec" 2>&1 | grep -q "0 built, 2 up to date" || { echo "cpb rebuilt something" >&2; exit 1; }

echo "no-change cpb build (2 images):        median ${cpb_ms} ms over $runs runs"
echo "podman build, cached (1 image, CLI):   median ${podman_ms} ms over $runs runs"
awk -v a="$cpb_ms" -v b="$podman_ms" 'BEGIN { printf "ratio podman/cpb: %.1fx\n", (a > 0 ? b / a : 0) }'
