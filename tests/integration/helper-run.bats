#!/usr/bin/env bats
# cpb-helper as cpb run puts it in front of every task (docs/helper.md): the seccomp settings
# of jobs.yaml reach the filter, a refusal is named in the task's log, and what the helper
# measured reaches the task's report and manifest.  helper.bats drives the helper directly;
# this file checks the same promises end to end, through cpb run, cpb logs and the archive.
load helpers

setup_file() {
  cpb_service_start
  local build=${CPB_BUILD_DIR:-$CPB_SRC/build}
  [ -x "$build/tests/helper/cpb-testprog" ] || { echo "build cpb-testprog first" >&2; return 1; }
  export TESTPROG=$build/tests/helper/cpb-testprog
}

teardown_file() { cpb_service_stop; }

setup() {
  SPEC=$BATS_TEST_TMPDIR/spec
  mkdir -p "$SPEC"
  # An input like any other: cpb uploads it into the working directory, mode kept.
  cp "$TESTPROG" "$SPEC/cpb-testprog"
  ARCHIVE=$XDG_DATA_HOME/cpb/archive/$(id -un)
}

# spec NAME: write jobs.yaml for batch NAME from standard input (groups only).
spec() {
  {
    printf 'batch: %s\ndefaults:\n  image: localhost/cpb-busybox:latest\n' "$1"
    printf 'inputs: [cpb-testprog]\n'
    cat
  } >"$SPEC/$1.yaml"
}

# report BATCH TASK: the helper's report kept in the task's archive.
report() {
  tar --zstd -xOf "$ARCHIVE/$1/$2.tar.zst" .cpb/result.json
}

@test "cpb run: refused system calls are named in the task's log; deny: from jobs.yaml applies" {
  spec sc <<'EOF'
groups:
  plain:
    command: "./cpb-testprog try ptrace mount socket-inet socket-unix mkdir"
  extra:
    seccomp: {profile: default, deny: [mkdir]}
    command: "./cpb-testprog try mkdir"
EOF
  run_cpb run "$SPEC/sc.yaml"
  assert_success
  run_cpb logs sc plain
  assert_success
  assert_contains "$output" "ptrace=EPERM"
  assert_contains "$output" "mount=EPERM"
  assert_contains "$output" "socket-inet=EPERM"
  assert_contains "$output" "socket-unix=ok"
  assert_contains "$output" "mkdir=ok"
  for name in ptrace mount socket; do
    assert_contains "$stderr" "cpb-helper: seccomp: refused $name (pid "
  done
  assert_contains "$(report sc plain)" '{ "syscall": "ptrace", "count": 1 }'
  # The kept log names the refusals too, and ends where the task's own output ends.
  kept=$(tar --zstd -xOf "$ARCHIVE/sc/plain.tar.zst" .cpb/stderr)
  assert_contains "$kept" "cpb-helper: seccomp: refused ptrace (pid "
  assert_not_contains "$kept" "cpb-helper-report"
  run_cpb logs sc extra
  assert_contains "$output" "mkdir=EPERM"
  assert_contains "$stderr" "cpb-helper: seccomp: refused mkdir (pid "
}

@test "cpb run: network: slirp lets inet sockets through; seccomp: none adds no filter" {
  spec net <<'EOF'
groups:
  slirp:
    network: slirp
    command: "./cpb-testprog try socket-inet"
  nofilter:
    seccomp: none
    command: "./cpb-testprog try unshare"
EOF
  run_cpb run "$SPEC/net.yaml"
  assert_success
  run_cpb logs net slirp
  assert_contains "$output" "socket-inet=ok"
  run_cpb logs net nofilter
  assert_contains "$output" "unshare=ok"
  assert_not_contains "$stderr" "refused"
  assert_contains "$(report net nofilter)" '"seccomp": "none"'
}

@test "cpb run: strict refuses sockets; a shell command's second exec is refused by name" {
  spec strict <<'EOF'
groups:
  exec-form:
    seccomp: strict
    command: ["/work/cpb-testprog", "try", "socket-unix"]
  shell-form:
    seccomp: strict
    command: "./cpb-testprog exit 0"
EOF
  run_cpb run "$SPEC/strict.yaml"
  assert_failure 1
  assert_contains "$stderr" "'shell-form'"
  run_cpb logs strict exec-form
  assert_contains "$output" "socket-unix=EPERM"
  assert_contains "$stderr" "cpb-helper: seccomp: refused socket (pid "
  run_cpb logs strict shell-form
  assert_contains "$stderr" "cpb-helper: seccomp: refused execve (pid "
  assert_contains "$stderr" "the strict profile allows one exec, the task's command itself"
  assert_contains "$(report strict shell-form)" '"seccomp": "strict"'
}

@test "cpb run: the manifest carries the helper's figures: peak RSS, CPU, signal, timeout" {
  spec ru <<'EOF'
groups:
  mem:
    command: "./cpb-testprog alloc 200"
  sig:
    command: "./cpb-testprog kill 9"
  tmo:
    timeout: 1s
    command: "./cpb-testprog ignore-term 60"
EOF
  run_cpb run "$SPEC/ru.yaml"
  assert_failure 1
  m=$(cat "$ARCHIVE/ru/mem.json")
  rss=$(grep -o '"max_rss_kib":[0-9]*' <<<"$m" | cut -d: -f2)
  [ -n "$rss" ] && [ "$rss" -ge 204800 ] && [ "$rss" -lt 400000 ] \
    || { echo "max_rss_kib: '$rss' in $m" >&2; return 1; }
  cpu=$(grep -o '"sys_seconds":[0-9.e-]*' <<<"$m" | cut -d: -f2)
  awk -v s="$cpu" 'BEGIN { exit !(s > 0) }'
  assert_contains "$m" '"timed_out":false'
  # The manifest inside the tarball says the same.
  assert_contains "$(tar --zstd -xOf "$ARCHIVE/ru/mem.tar.zst" .cpb/manifest.json)" \
    "\"max_rss_kib\":$rss"
  assert_contains "$(cat "$ARCHIVE/ru/sig.json")" '"signal":9'
  assert_contains "$(cat "$ARCHIVE/ru/tmo.json")" '"timed_out":true'
  run_cpb status ru
  assert_contains "$(grep '^sig' <<<"$output")" "killed by signal 9"
  assert_contains "$(grep '^tmo' <<<"$output")" "timed out after 1s"
  # cpb status shows the same figures: peak RSS in MiB in the table, every figure in --json.
  mem_rss=$(awk '$1 == "mem" { print $7 }' <<<"$output")
  awk -v r="$mem_rss" 'BEGIN { exit !(r + 0 >= 200) }' \
    || { echo "status MAXRSS of mem: '$mem_rss'" >&2; return 1; }
  run_cpb status ru --json
  assert_success
  assert_contains "$output" "\"max_rss_kib\":$rss"
  assert_contains "$output" '"timed_out":true'
}

@test "cpb run: a task runs behind the helper in an image with no shell and no libc" {
  local empty=$BATS_TEST_TMPDIR/empty
  mkdir -p "$empty/tmp" "$empty/proc" "$empty/dev" "$empty/sys"
  tar --numeric-owner --owner=0 --group=0 -C "$empty" -cf "$CPB_TEST_SVC/empty.tar" .
  chmod a+r "$CPB_TEST_SVC/empty.tar"
  tpodman import -q "$CPB_TEST_SVC/empty.tar" localhost/cpb-empty:latest >/dev/null
  cat >"$SPEC/noshell.yaml" <<'EOF'
batch: noshell
defaults:
  image: localhost/cpb-empty:latest
inputs: [cpb-testprog]
groups:
  bare:
    command: ["/work/cpb-testprog", "try", "ptrace"]
EOF
  run_cpb run "$SPEC/noshell.yaml"
  assert_success
  run_cpb logs noshell bare
  assert_contains "$output" "ptrace=EPERM"
  assert_contains "$stderr" "cpb-helper: seccomp: refused ptrace (pid "
  assert_contains "$(report noshell bare)" '"exit_code": 0'
}
