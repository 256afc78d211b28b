#!/bin/sh
# summarize: count, mean, standard deviation, min and max of one numeric column of a CSV
# read from a file or standard input.  Non-numeric cells are counted as skipped.
set -eu

usage ()
{
  echo "Usage: summarize [--column N] [--header] [--separator C] [FILE]"
}

column=1 header=0 sep=,
while [ $# -gt 0 ]; do
  case "$1" in
    --column) column=$2; shift 2 ;;
    --header) header=1; shift ;;
    --separator) sep=$2; shift 2 ;;
    --help) usage; exit 0 ;;
    -*) usage >&2; exit 2 ;;
    *) break ;;
  esac
done

# Newton iterations rather than sqrt(): busybox awk may be built without its math library.
awk -F "$sep" -v col="$column" -v header="$header" '
  function root(v,   r, i) {
    if (v <= 0) return 0
    r = v < 1 ? 1 : v
    for (i = 0; i < 60; i++) r = (r + v / r) / 2
    return r
  }
  NR == 1 && header { next }
  $col ~ /^[-+]?[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?$/ {
    x = $col + 0; n++; sum += x; sumsq += x * x
    if (n == 1 || x < min) min = x
    if (n == 1 || x > max) max = x
    next
  }
  { skipped++ }
  END {
    if (n == 0) { print "count 0"; exit 1 }
    mean = sum / n
    var = n > 1 ? (sumsq - n * mean * mean) / (n - 1) : 0
    if (var < 0) var = 0
    print "count " n
    print "mean " mean
    print "stddev " root(var)
    print "min " min
    print "max " max
    print "skipped " skipped + 0
  }' "$@"
