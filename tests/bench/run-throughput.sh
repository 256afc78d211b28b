#!/usr/bin/env bash
# run-throughput.sh: cpb run against the plain alternatives, on a private rootless service.
#
#   tests/bench/run-throughput.sh [BUILD_DIR]        (default: build)
#
# For N = 50 and 200 trivial tasks (`sh -c true` in localhost/cpb-busybox:latest):
#   cpb run -j 2 of an N-task matrix (outputs archived, state kept, containers removed)
#   a shell loop of `podman run --rm`
#   GNU Parallel running `podman run --rm` with -j 2
# and the expansion and planning of a 100,000-task matrix (cpb run --dry-run: keys, state
# look-ups, no container).  Prints a Markdown table; docs/running.md records the figures.
# Never part of the test suite: it takes minutes and its figures depend on the machine.
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:-$src/build}
cpb=$build/cpb
svc_sh=$src/tests/lib/podman-service.sh
image=localhost/cpb-busybox:latest
work=$(mktemp -d /tmp/cpb-bench.XXXXXX)
chmod 0755 "$work" # the service runs as the unprivileged test user
svc=$work/svc

cleanup() { "$svc_sh" stop "$svc" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

[ -x "$cpb" ] || { echo "no cpb at $cpb: build first" >&2; exit 1; }
command -v parallel >/dev/null || { echo "GNU parallel is needed" >&2; exit 1; }

CPB_PODMAN_URL=$("$svc_sh" start "$svc")
export CPB_PODMAN_URL XDG_DATA_HOME=$work/data XDG_CONFIG_HOME=$work/config
tpodman() { "$svc_sh" podman "$svc" "$@"; }

# seconds elapsed by "$@", to stdout (the command's own output discarded)
elapsed() {
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >/dev/null 2>&1
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l
}

spec() { # spec N BATCH
  cat > "$work/jobs-$2.yaml" <<SPEC
batch: $2
defaults:
  image: $image
tasks:
  matrix:
    i: {from: 1, to: $1}
  name: "t-{i}"
  command: "true"
SPEC
  echo "$work/jobs-$2.yaml"
}

loop_run() { for _ in $(seq 1 "$1"); do tpodman run --rm "$image" sh -c true; done; }
parallel_run() { seq 1 "$1" | parallel -j 2 "$svc_sh podman $svc run --rm $image sh -c true >/dev/null"; }

echo "| N | what | seconds | tasks/s |"
echo "|---|---|---|---|"
for n in 50 200; do
  f=$(spec "$n" "bench$n")
  t_cpb=$(elapsed "$cpb" run -j 2 "$f")
  t_loop=$(elapsed loop_run "$n")
  t_par=$(elapsed parallel_run "$n")
  for what in "cpb run -j 2:$t_cpb" "loop of podman run --rm:$t_loop" \
              "parallel -j 2 podman run --rm:$t_par"; do
    t=${what##*:}
    printf '| %d | %s | %.1f | %.2f |\n' "$n" "${what%%:*}" "$t" "$(echo "$n / $t" | bc -l)"
  done
  printf '| %d | cpb overhead per task vs parallel -j 2 | %.3f | |\n' "$n" \
    "$(echo "($t_cpb - $t_par) / $n" | bc -l)"
  left=$(tpodman ps -a -q | wc -l)
  [ "$left" -eq 0 ] || echo "warning: $left containers left after N=$n" >&2
done

f=$(spec 100000 plan100k)
/usr/bin/time -f '%e %M' -o "$work/time" "$cpb" run --dry-run --json "$f" > "$work/plan.json"
read -r secs kib < "$work/time"
grep -q '"run":100000' "$work/plan.json" || { echo "the plan is not 100,000 tasks" >&2; exit 1; }
printf '| 100000 | cpb run --dry-run (expand, key, plan) | %.1f | peak RSS %d MiB |\n' "$secs" $((kib / 1024))
