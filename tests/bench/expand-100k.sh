#!/bin/sh
# expand-100k.sh: time and peak memory of loading, expanding and making every task of a
# 100,000-task matrix (100 x 100 x 10, with a templated name, command, env, input and
# output), without starting any container.  Figures go to docs/spec-jobs.md.
#
#   tests/bench/expand-100k.sh [BUILD_DIR]      (default: build)
#
# The bench program is compiled against BUILD_DIR's libcpb.a; /usr/bin/time -v (GNU time)
# gives the whole process's wall time and peak RSS as a cross-check, and hyperfine, when
# installed, the spread over several runs of the plain load.
#
# With CPB_PODMAN_URL set, it also times `cpb run --dry-run` of the same file: the whole
# planning of `cpb run` (state database, task keys, the scheduler's view) without starting
# a container, using image CPB_BENCH_IMAGE (default localhost/cpb-busybox:latest, which
# tests/lib/podman-service.sh makes) and a throw-away state directory.
set -eu

src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
work=$(mktemp -d /tmp/cpb-expand-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM

cc -O2 -std=gnu11 -D_GNU_SOURCE -I"$build" -I"$src/src/lib" -I"$src/src/basic" -I"$src/src" \
  "$src/tests/bench/expand-bench.c" "$build/src/lib/libcpb.a" \
  $(pkg-config --libs libcurl yajl yaml-0.1 libarchive libseccomp sqlite3 libcrypto) \
  -lpthread -lm -o "$work/expand-bench"

mkdir -p "$work/data"
echo "seed data" > "$work/data/common.txt"
{
  echo "batch: bench-100k"
  echo "defaults:"
  echo "  image: worker-base:1.0"
  echo "  resources: {cpus: 1, memory: 256M}"
  echo "  env: {OMP_NUM_THREADS: 1, RUN: 'bench-{group}'}"
  echo "  timeout: 10m"
  echo "inputs: [data/common.txt]"
  echo "outputs: ['*.csv']"
  echo "tasks:"
  echo "  matrix:"
  echo "    alpha: {from: 1, to: 100}"
  printf "    beta: ["
  i=0
  while [ $i -lt 100 ]; do
    printf "%s0.%02d" "$( [ $i -gt 0 ] && echo ', ' || true)" "$i"
    i=$((i + 1))
  done
  echo "]"
  echo "    model: [linear, quadratic, cubic, spline, tree, forest, boost, svm, knn, mlp]"
  echo "  name: 'run-{model}-{alpha}-{beta}'"
  echo "  command: 'simulate --model {model} --alpha {alpha} --beta {beta} --seed {index} > out-{index}.csv'"
  echo "  env: {MODEL: '{model}'}"
  echo "  outputs: ['log-{model}.txt']"
} > "$work/jobs.yaml"

echo "== one task at a time (a planner that stores tasks as it goes)"
"$work/expand-bench" "$work/jobs.yaml"
echo "== every task kept in memory at once"
"$work/expand-bench" "$work/jobs.yaml" --keep
if [ -x /usr/bin/time ]; then
  echo "== /usr/bin/time -v of load + plan + every task"
  /usr/bin/time -v "$work/expand-bench" "$work/jobs.yaml" 2>&1 \
    | grep -E "Elapsed|Maximum resident" | sed 's/^[[:space:]]*//'
fi
if command -v hyperfine >/dev/null; then
  hyperfine --warmup 1 --runs 5 -N "$work/expand-bench $work/jobs.yaml" 2>&1 | grep -E "Time|Range"
fi
if [ -n "${CPB_PODMAN_URL:-}" ] && [ -x /usr/bin/time ]; then
  echo "== cpb run --dry-run (planning by cpb run, no container started)"
  sed "s|worker-base:1.0|${CPB_BENCH_IMAGE:-localhost/cpb-busybox:latest}|" "$work/jobs.yaml" \
    > "$work/jobs-run.yaml"
  XDG_DATA_HOME=$work/xdg XDG_CONFIG_HOME=$work/xdg XDG_CACHE_HOME=$work/xdg \
    /usr/bin/time -v "$build/cpb" run --dry-run "$work/jobs-run.yaml" 2>&1 >"$work/plan.txt" \
    | grep -E "Elapsed|Maximum resident" | sed 's/^[[:space:]]*//'
  tail -1 "$work/plan.txt"
fi
