#!/bin/sh
# mc-pi: estimate pi by sampling points in the unit square; the seed makes a task
# reproducible, so a sweep over seeds gives independent estimates.
set -eu

seed=1
samples=$(cat /etc/lab/mc-samples 2>/dev/null || echo 100000)
while [ $# -gt 0 ]; do
  case "$1" in
    --seed) seed=$2; shift 2 ;;
    --samples) samples=$2; shift 2 ;;
    --help) echo "Usage: mc-pi [--seed N] [--samples N]"; exit 0 ;;
    *) echo "Usage: mc-pi [--seed N] [--samples N]" >&2; exit 2 ;;
  esac
done

# A Park-Miller generator instead of rand(): reproducible across awks, and busybox awk may
# be built without its math library.  Every product stays below 2^53, so doubles are exact.
awk -v seed="$seed" -v n="$samples" -v prec="${MC_PRECISION:-6}" 'BEGIN {
  m = 2147483647
  state = (seed * 48271 + 12345) % m
  if (state <= 0) state += m - 1
  for (i = 0; i < 10; i++) state = (state * 16807) % m
  for (i = 0; i < n; i++) {
    state = (state * 16807) % m; x = state / m
    state = (state * 16807) % m; y = state / m
    if (x * x + y * y <= 1) inside++
  }
  printf "seed %d\nsamples %d\n", seed, n
  printf "pi %." prec "f\n", 4 * inside / n
}'
