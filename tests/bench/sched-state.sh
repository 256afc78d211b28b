#!/bin/sh
# sched-state.sh: the scheduler alone at 10,000 to 100,000 tasks (sched-bench.c) and the cost of
# the run's state writes, one transaction each or many in one (state-bench.c), without Podman.
# Figures go to docs/running.md.
#
#   tests/bench/sched-state.sh [BUILD_DIR] [STATE_DIR]   (default: build, a new dir in /var/tmp)
#
# Both programs are compiled against BUILD_DIR's libcpb.a; STATE_DIR should be on the disk the
# state database lives on (not a tmpfs).
set -eu

src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
work=$(mktemp -d /tmp/cpb-sched-state.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM

for b in sched-bench state-bench; do
  cc -O2 -std=gnu11 -D_GNU_SOURCE -I"$build" -I"$src/src/lib" -I"$src/src/basic" -I"$src/src" \
    "$src/tests/bench/$b.c" "$build/src/lib/libcpb.a" "$build/src/basic/libcpb-basic.a" \
    $(pkg-config --libs sqlite3) -lm -o "$work/$b"
done
uptime
"$work/sched-bench" 10000 40000 100000
if [ $# -ge 2 ]; then "$work/state-bench" 10000 "$2"; else "$work/state-bench" 10000; fi
