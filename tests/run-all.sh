#!/usr/bin/env bash
# run-all.sh: set up this host and run the whole test suite of cpb; the second command of
# the README, and all that .ci/run does.
#
#   tests/run-all.sh [--no-setup] [--no-asan] [BATS_FILE...]
#
# Parts, each timed:
#   setup        contrib/podman/setup-host.sh (packages, test user, subids, /dev/net/tun)
#   build        meson --werror into ./build, then every meson test (unit tests, fuzz replays)
#   asan         the same into ./build-asan with -Db_sanitize=address,undefined and
#                LeakSanitizer on, so leaks and undefined behaviour fail the suite (at -O0,
#                which halves its build time on 2 cores)
#   integration  every tests/integration/*.bats and tests/browser/*.bats (headless
#                Chromium; or the BATS_FILEs given), TAP output, against the real cpb of
#                ./build and a private rootless Podman service that each file starts and
#                stops
#
# The last line is exactly "N passed, N failed, N skipped", counted over TAP results of
# every part (a test program or bats file that dies without saying counts as one failure);
# the exit status is 1 when anything failed.
#
# Environment: CPB_BUILD_DIR and CPB_ASAN_BUILD_DIR (default build, build-asan),
# CPB_TEST_JOBS (bats files run at once, default 2), CPB_BATS_TIMEOUT (seconds per bats
# file, default 600).
set -uo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$src" || exit 1
build=$src/${CPB_BUILD_DIR:-build}
asan=$src/${CPB_ASAN_BUILD_DIR:-build-asan}
case ${CPB_BUILD_DIR:-} in /*) build=$CPB_BUILD_DIR ;; esac
case ${CPB_ASAN_BUILD_DIR:-} in /*) asan=$CPB_ASAN_BUILD_DIR ;; esac
jobs=${CPB_TEST_JOBS:-2}
bats_timeout=${CPB_BATS_TIMEOUT:-600}
passed=0 failed=0 skipped=0
summary=()

# Run one bats file with TAP output into LOGDIR/NAME.{tap,rc}; used through xargs -P.
if [ "${1:-}" = --one-bats ]; then
  file=$2 logdir=$3 name=$(basename "$2" .bats)
  start=$SECONDS
  timeout --kill-after=20 "$bats_timeout" bats --tap "$file" >"$logdir/$name.tap" 2>&1
  echo "$? $((SECONDS - start))" >"$logdir/$name.rc"
  exit 0
fi

do_setup=1 do_asan=1 bats_files=()
while [ $# -gt 0 ]; do
  case $1 in
    --no-setup) do_setup=0 ;;
    --no-asan) do_asan=0 ;;
    -h|--help) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "run-all: unknown option '$1'" >&2; exit 2 ;;
    *) bats_files+=("$1") ;;
  esac
  shift
done
[ ${#bats_files[@]} -gt 0 ] || bats_files=("$src"/tests/integration/*.bats "$src"/tests/browser/*.bats)

# part NAME P F S SECONDS: add a part's counts to the totals and to the summary.
part() {
  passed=$((passed + $2)) failed=$((failed + $3)) skipped=$((skipped + $4))
  summary+=("$(printf '%-18s %4d passed, %3d failed, %3d skipped  %4ds' "$1" "$2" "$3" "$4" "$5")")
  echo "=== $1: $2 passed, $3 failed, $4 skipped in $5s"
}

# Count TAP results on stdin: prints "P F S"; FAILED_EXIT (0/1) says the program failed,
# which counts once more when no "not ok" line explains it (a crash, a sanitizer report).
tap_count() {
  awk -v failed_exit="$1" '
    /^ok / { if (tolower($0) ~ /# skip/) s++; else p++ }
    /^not ok / { if (tolower($0) ~ /# todo/) p++; else f++ }
    END { if (failed_exit && f == 0) f = 1; printf "%d %d %d\n", p, f, s }'
}

# meson test results of BUILD_DIR, counted per TAP line, or per test when it is not TAP.
meson_counts() {
  python3 - "$1/meson-logs/testlog.json" <<'EOF'
import json, re, sys
p = f = s = 0
for line in open(sys.argv[1]):
    t = json.loads(line)
    res, out = t.get("result"), t.get("stdout") or ""
    tp = tf = ts = 0
    for l in out.splitlines():
        if re.match(r"ok\b", l):
            if re.search(r"#\s*skip", l, re.I): ts += 1
            else: tp += 1
        elif re.match(r"not ok\b", l):
            if re.search(r"#\s*todo", l, re.I): tp += 1
            else: tf += 1
    bad = res in ("FAIL", "ERROR", "TIMEOUT", "UNEXPECTEDPASS")
    if tp + tf + ts == 0:
        tp, ts, tf = res in ("OK", "EXPECTEDFAIL"), res == "SKIP", bad
    elif bad and tf == 0:
        tf = 1
    p, f, s = p + tp, f + tf, s + ts
print(p, f, s)
EOF
}

# build_and_test NAME DIR MESON_OPTIONS...: configure (or reconfigure), build, run meson test.
build_and_test() {
  local name=$1 dir=$2 start=$SECONDS counts
  shift 2
  echo "=== $name: building into $dir"
  [ -f "$dir/build.ninja" ] && set -- --reconfigure "$@"
  mkdir -p "$dir"
  if ! meson setup "$dir" "$@" >"$dir/cpb-setup.log" 2>&1; then
    tail -n 20 "$dir/cpb-setup.log"
    part "$name" 0 1 0 $((SECONDS - start))
    return
  fi
  rm -f "$dir/cpb-setup.log"
  if ! ninja -C "$dir"; then
    part "$name" 0 1 0 $((SECONDS - start))
    return
  fi
  rm -f "$dir/meson-logs/testlog.json"
  meson test -C "$dir" --print-errorlogs --num-processes 2
  if [ -f "$dir/meson-logs/testlog.json" ]; then
    counts=$(meson_counts "$dir")
  else
    counts="0 1 0"
  fi
  # shellcheck disable=SC2086
  part "$name" $counts $((SECONDS - start))
}

run_setup() {
  local start=$SECONDS
  echo "=== setup: contrib/podman/setup-host.sh"
  if "$src/contrib/podman/setup-host.sh"; then
    part setup 1 0 0 $((SECONDS - start))
  else
    part setup 0 1 0 $((SECONDS - start))
  fi
}

# Kill what the run's tests left running in a user namespace of theirs (embedded services,
# rootless podman's pause processes): every process whose XDG_RUNTIME_DIR lies under DIR.
reap_leftovers() {
  local dir=$1 env pid
  for env in /proc/[0-9]*/environ; do
    pid=${env#/proc/}
    pid=${pid%/environ}
    tr '\0' '\n' 2>/dev/null <"$env" | grep -q "^XDG_RUNTIME_DIR=$dir/" || continue
    echo "# killing leftover $(cat "/proc/$pid/comm" 2>/dev/null) ($pid)"
    kill -KILL "$pid" 2>/dev/null
  done
  return 0
}

# Bats files run CPB_TEST_JOBS at a time, each with its own Podman service; their services
# live under one directory of this run, so any a killed file left behind can be stopped.
run_integration() {
  local start=$SECONDS logdir f name rc secs counts d
  logdir=$(mktemp -d /tmp/cpb-run-all.XXXXXX)
  chmod 0755 "$logdir"
  export CPB_BUILD_DIR=$build CPB_TEST_TMPDIR=$logdir
  echo "=== integration: ${#bats_files[@]} files, $jobs at a time"
  # Longest first, so that two slow files do not end up last: by the seconds each took in
  # the last run (kept in the build directory), else by their count of tests.
  for f in "${bats_files[@]}"; do
    secs=$(awk -v n="$(basename "$f" .bats)" '$2 == n { print $1 }' "$build/bats-times" 2>/dev/null)
    printf '%d %s\n' "${secs:-$(grep -c '^@test' "$f")}" "$f"
  done | sort -rn | cut -d' ' -f2- \
    | xargs -P "$jobs" -I{} "$src/tests/run-all.sh" --one-bats {} "$logdir"
  for f in "${bats_files[@]}"; do
    name=$(basename "$f" .bats)
    read -r rc secs <"$logdir/$name.rc" 2>/dev/null || { rc=1 secs=0; }
    echo "$secs $name" >>"$logdir/times"
    echo "--- $name.bats (${secs}s, exit $rc)"
    cat "$logdir/$name.tap" 2>/dev/null
    [ "$rc" = 124 ] || [ "$rc" = 137 ] && echo "# killed after ${bats_timeout}s"
    counts=$(tap_count $((rc != 0)) <"$logdir/$name.tap" 2>/dev/null || echo "0 1 0")
    # shellcheck disable=SC2086
    set -- $counts
    passed=$((passed + $1)) failed=$((failed + $2)) skipped=$((skipped + $3))
    summary+=("$(printf '  %-16s %4d passed, %3d failed, %3d skipped  %4ds' "$name" "$1" "$2" "$3" "$secs")")
  done
  for d in "$logdir"/cpb-svc.*; do
    [ -d "$d" ] && "$src/tests/lib/podman-service.sh" stop "$d" >/dev/null 2>&1
  done
  for d in "$logdir"/cpb-sshd.*; do
    [ -d "$d" ] && "$src/tests/lib/sshd.sh" stop "$d" >/dev/null 2>&1
  done
  reap_leftovers "$logdir"
  cp "$logdir/times" "$build/bats-times" 2>/dev/null
  rm -rf "$logdir"
  echo "=== integration: done in $((SECONDS - start))s"
  summary+=("$(printf '%-18s all files in %ds' integration $((SECONDS - start)))")
}

main_start=$SECONDS
[ "$do_setup" = 1 ] && run_setup
build_and_test build "$build" --werror
if [ "$do_asan" = 1 ]; then
  ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0:print_summary=1 \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:print_summary=1 \
    build_and_test asan "$asan" --werror -Db_sanitize=address,undefined -Dbuildtype=debug
fi
if [ -x "$build/cpb" ]; then
  run_integration
else
  echo "=== integration: no $build/cpb, not run"
  part integration 0 1 0 0
fi

echo
echo "=== summary (total $((SECONDS - main_start))s)"
printf '%s\n' "${summary[@]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
