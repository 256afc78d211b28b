#!/usr/bin/env bats
# cpb-helper as PID 1 in real rootless containers on a private service: seccomp profiles,
# reaping, signal forwarding, exit codes, the timeout and the report (docs/helper.md).
# The helper and cpb-testprog are copied into each created container before start, under
# /.cpb, as cpb does with the archive API.
load helpers

BUSYBOX=localhost/cpb-busybox:latest
NOSHELL=localhost/cpb-helper-noshell:latest

setup_file() {
  # fd 3 closed: a service that outlives the file must not hold bats' output pipe open.
  cpb_service_start 3>&-
  local build=${CPB_BUILD_DIR:-$CPB_SRC/build}
  [ -x "$build/src/helper/cpb-helper" ] && [ -x "$build/tests/helper/cpb-testprog" ] \
    || { echo "build cpb-helper and cpb-testprog first" >&2; return 1; }
  mkdir -p "$CPB_TEST_SVC/payload/.cpb" "$CPB_TEST_SVC/out"
  cp "$build/src/helper/cpb-helper" "$build/tests/helper/cpb-testprog" "$CPB_TEST_SVC/payload/.cpb/"
  chmod 1777 "$CPB_TEST_SVC/payload/.cpb" "$CPB_TEST_SVC/out"
  chmod -R a+rX "$CPB_TEST_SVC/payload"
  # An image with nothing in it at all: no shell, no libc, no /bin.
  local empty=$CPB_TEST_SVC/empty
  mkdir -p "$empty/tmp" "$empty/proc" "$empty/dev" "$empty/sys"
  tar --numeric-owner --owner=0 --group=0 -C "$empty" -cf "$CPB_TEST_SVC/empty.tar" .
  chmod a+r "$CPB_TEST_SVC/empty.tar"
  tpodman import -q "$CPB_TEST_SVC/empty.tar" "$NOSHELL" >/dev/null
}

teardown_file() {
  # podman-service.sh stop can miss the service when setsid forked it (its pid file then
  # names the exited parent): end the process listening on our socket by its id, too.
  local pids
  pids=$(ss -xlpn 2>/dev/null | grep -F "$CPB_TEST_SVC/podman.sock" | grep -o 'pid=[0-9]*' \
         | cut -d= -f2 | sort -u)
  cpb_service_stop
  for pid in $pids; do kill "$pid" 2>/dev/null || true; done
}

# task NAME IMAGE [podman create options] -- ARGS: create a container running ARGS, put the
# helper and the test program in it, start it attached; status/output as from bats' run.
task() {
  local name=$1 image=$2; shift 2
  local opts=()
  while [ "$1" != -- ]; do opts+=("$1"); shift; done
  shift
  tpodman create -q --name "$name" "${opts[@]}" "$image" "$@" >/dev/null
  tpodman cp "$CPB_TEST_SVC/payload/.cpb" "$name:/"
  # EXPECT=N: the exit status N is the point of the test (bats warns about 127 otherwise).
  run ${EXPECT:+-$EXPECT} --separate-stderr "$CPB_SERVICE_SH" podman "$CPB_TEST_SVC" start -a "$name"
}

# helped NAME [IMAGE] HELPER-ARGS... -- COMMAND...: task NAME through cpb-helper with a report.
helped() {
  local name=$1; shift
  task "$name" "$BUSYBOX" -- /.cpb/cpb-helper --report /.cpb/result.json "$@"
}

# report NAME: the JSON report of container NAME, on stdout.
report() {
  tpodman cp "$1:/.cpb/result.json" "$CPB_TEST_SVC/out/$1.json"
  cat "$CPB_TEST_SVC/out/$1.json"
}

# field JSON KEY: the raw value of KEY in the flat report.
field() {
  sed -n "s/^  \"$2\": \(.*\),\{0,1\}\$/\1/p" <<<"$1" | sed 's/,$//'
}

# Every entry of docs/helper.md's list for the default profile.
DENIED="ptrace process_vm_readv process_vm_writev keyctl add_key request_key bpf perf_event_open
userfaultfd io_uring_setup io_uring_enter io_uring_register unshare setns clone-newuser
clone-newns clone-newpid clone-newnet clone-newuts clone-newipc clone-newcgroup mount umount2
pivot_root chroot fsopen fsconfig fsmount fspick open_tree move_mount mount_setattr
name_to_handle_at open_by_handle_at kexec_load kexec_file_load init_module finit_module
delete_module reboot swapon swapoff personality acct quotactl lookup_dcookie syslog iopl ioperm
kcmp pidfd_getfd socket-inet"

@test "default profile: every denied system call returns EPERM, and cpb's refusals are named" {
  helped deny-all -- /.cpb/cpb-testprog try $DENIED
  assert_success
  for call in $DENIED; do
    assert_contains "$output" "$call=EPERM"
  done
  # Refused by cpb's layer (Podman's profile lets them through): named in the log.
  for name in ptrace process_vm_readv process_vm_writev keyctl unshare setns clone mount \
              umount2 pivot_root fsconfig fsmount fspick mount_setattr reboot socket; do
    assert_contains "$stderr" "cpb-helper: seccomp: refused $name (pid "
  done
  r=$(report deny-all)
  assert_contains "$r" '{ "syscall": "ptrace", "count": 1 }'
  assert_contains "$r" '{ "syscall": "clone", "count": 7 }'
  [ "$(field "$r" seccomp)" = '"default"' ]
  [ "$(field "$r" seccomp_named)" = true ]
}

@test "the refusals are the filter's: without it the same calls answer otherwise" {
  helped deny-none --seccomp none -- /.cpb/cpb-testprog try ptrace process_vm_readv keyctl \
    unshare reboot socket-inet socket-unix
  assert_success
  assert_contains "$output" "ptrace=ESRCH"
  assert_contains "$output" "process_vm_readv=ESRCH"
  assert_contains "$output" "keyctl=EOPNOTSUPP"
  assert_contains "$output" "unshare=ok"
  assert_contains "$output" "socket-inet=ok"
  assert_not_contains "$stderr" "refused"
}

@test "default profile: a unix socket is fine, an inet socket needs --allow-network" {
  helped net-no -- /.cpb/cpb-testprog try socket-unix socket-inet
  assert_contains "$output" "socket-unix=ok"
  assert_contains "$output" "socket-inet=EPERM"
  helped net-yes --allow-network -- /.cpb/cpb-testprog try socket-inet
  assert_contains "$output" "socket-inet=ok"
}

@test "a normal workload runs unaffected: shell script, file I/O, pipes, subprocesses, threads" {
  helped normal -- /bin/sh -c '
    set -e
    for i in 1 2 3; do echo "line $i" > /tmp/f$i; done
    cat /tmp/f1 /tmp/f2 /tmp/f3 | sort -r | head -n 1
    mkdir -p /tmp/d && mv /tmp/f1 /tmp/d/ && ls /tmp/d
    /.cpb/cpb-testprog threads 4
    /.cpb/cpb-testprog fileio /tmp
    echo done'
  assert_success
  assert_contains "$output" "line 3"
  assert_contains "$output" "f1"
  assert_contains "$output" "threads=4 sum=2000002000000"
  assert_contains "$output" "fileio=ok"
  assert_contains "$output" "done"
  assert_not_contains "$stderr" "refused"
}

@test "strict profile: sockets and a second exec are refused by name, compute works" {
  helped strict-sock --seccomp strict -- /.cpb/cpb-testprog try socket-unix socket-inet
  assert_success
  assert_contains "$output" "socket-unix=EPERM"
  assert_contains "$output" "socket-inet=EPERM"
  assert_contains "$stderr" "refused socket"
  helped strict-exec --seccomp strict -- /.cpb/cpb-testprog fork-exec /bin/true
  assert_contains "$output" "child-exec=EPERM"
  assert_contains "$stderr" "refused execve"
  helped strict-work --seccomp strict -- /.cpb/cpb-testprog threads 2
  assert_success
  assert_contains "$output" "threads=2"
  helped strict-io --seccomp strict -- /.cpb/cpb-testprog fileio /tmp
  assert_success
  assert_contains "$output" "fileio=ok"
}

@test "deny: an extra system call is refused by name; an unknown name is a helper error (125)" {
  helped deny-mkdir --deny mkdir -- /.cpb/cpb-testprog try mkdir
  assert_contains "$output" "mkdir=EPERM"
  assert_contains "$stderr" "refused mkdir"
  helped deny-bad --deny mkdri -- /.cpb/cpb-testprog exit 0
  assert_failure 125
  assert_contains "$stderr" "cannot deny 'mkdri': unknown system call"
}

@test "no_new_privs is set under every profile, none included (Podman alone leaves it off)" {
  for profile in default strict none; do
    helped "nnp-$profile" --seccomp "$profile" -- /.cpb/cpb-testprog nnp
    assert_success
    [ "$output" = nnp=1 ] || { echo "--seccomp $profile: $output" >&2; return 1; }
  done
  # The control: the same program without the helper.
  task nnp-bare "$BUSYBOX" -- /.cpb/cpb-testprog nnp
  [ "$output" = nnp=0 ]
}

@test "orphaned zombies are reaped by the helper (and pile up without it)" {
  helped zombies -- /.cpb/cpb-testprog zombies 5
  assert_success
  assert_contains "$output" "zombies=0"
  # The control: the test program as PID 1 does not reap; the same orphans stay zombies.
  task zombies-bare "$BUSYBOX" -- /.cpb/cpb-testprog zombies 5
  assert_contains "$output" "zombies=5"
}

@test "SIGTERM, SIGINT and SIGHUP to the container are forwarded to the task" {
  for sig in TERM INT HUP; do
    tpodman create -q --name "fwd-$sig" "$BUSYBOX" /.cpb/cpb-helper --report /.cpb/result.json \
      -- /.cpb/cpb-testprog trap TERM INT HUP >/dev/null
    tpodman cp "$CPB_TEST_SVC/payload/.cpb" "fwd-$sig:/"
    tpodman start "fwd-$sig" >/dev/null
    for _ in $(seq 1 50); do
      tpodman logs "fwd-$sig" 2>/dev/null | grep -q ready && break
      sleep 0.1
    done
    tpodman kill --signal "$sig" "fwd-$sig" >/dev/null
    run tpodman wait "fwd-$sig"
    [ "$output" = 42 ] || { echo "SIG$sig: exit $output" >&2; return 1; }
    run tpodman logs "fwd-$sig"
    assert_contains "$output" "got SIG$sig"
  done
}

@test "exit codes and signals are propagated (128+N) and reported" {
  helped exit7 -- /.cpb/cpb-testprog exit 7
  assert_failure 7
  r=$(report exit7)
  [ "$(field "$r" exit_code)" = 7 ] && [ "$(field "$r" signal)" = null ]
  helped sigkill -- /.cpb/cpb-testprog kill 9
  assert_failure 137
  r=$(report sigkill)
  [ "$(field "$r" signal)" = 9 ] && [ "$(field "$r" signal_name)" = '"SIGKILL"' ]
  [ "$(field "$r" exit_code)" = null ] && [ "$(field "$r" status)" = 137 ]
  helped sigsegv -- /.cpb/cpb-testprog kill 11
  assert_failure 139
  EXPECT=127 helped notfound -- /no/such/program
  assert_failure 127
  r=$(report notfound)
  [ "$(field "$r" exec_error)" = '"ENOENT"' ]
}

@test "the timeout kills a task that ignores SIGTERM (SIGTERM, grace, SIGKILL)" {
  start=$(date +%s)
  helped timeout --timeout 1 --grace 1 -- /.cpb/cpb-testprog ignore-term 60
  assert_failure 124
  [ $(( $(date +%s) - start )) -lt 20 ]
  assert_contains "$stderr" "timeout of 1s reached"
  r=$(report timeout)
  [ "$(field "$r" timed_out)" = true ] && [ "$(field "$r" killed)" = true ]
  [ "$(field "$r" signal)" = 9 ]
  wall=$(field "$r" wall_seconds)
  awk -v w="$wall" 'BEGIN { exit !(w >= 1.9 && w < 10) }'
}

@test "rusage is recorded and plausible: 200 MB allocated shows >= 200 MB peak" {
  helped alloc -- /.cpb/cpb-testprog alloc 200
  assert_success
  r=$(report alloc)
  rss=$(field "$r" max_rss_kb)
  [ "$rss" -ge 204800 ] && [ "$rss" -lt 400000 ]
  awk -v u="$(field "$r" user_seconds)" -v s="$(field "$r" system_seconds)" \
    -v w="$(field "$r" wall_seconds)" 'BEGIN { exit !(u + s > 0 && w > 0 && w < 30) }'
  helped small -- /.cpb/cpb-testprog exit 0
  r=$(report small)
  [ "$(field "$r" max_rss_kb)" -lt 20000 ]
}

@test "the helper works as PID 1 in an image with no shell and no libc" {
  task noshell "$NOSHELL" -- /.cpb/cpb-helper --report /.cpb/result.json -- \
    /.cpb/cpb-testprog try ptrace
  assert_success
  assert_contains "$output" "ptrace=EPERM"
  task noshell-exit "$NOSHELL" -- /.cpb/cpb-helper -- /.cpb/cpb-testprog exit 3
  assert_failure 3
}

@test "as a non-root user in the container: filter, names and report all work" {
  task as-user "$BUSYBOX" --user 1000:1000 -- /.cpb/cpb-helper --report /.cpb/result.json -- \
    /.cpb/cpb-testprog try ptrace socket-inet
  assert_success
  assert_contains "$output" "ptrace=EPERM"
  assert_contains "$stderr" "refused ptrace"
  r=$(report as-user)
  assert_contains "$r" '{ "syscall": "socket", "count": 1 }'
}

@test "when the task ends, what it left running is killed and the helper does not wait for it" {
  start=$(date +%s)
  helped leftover -- /bin/sh -c '/.cpb/cpb-testprog sleep 60 & /.cpb/cpb-testprog sleep 60 & exit 5'
  assert_failure 5
  [ $(( $(date +%s) - start )) -lt 20 ]
  r=$(report leftover)
  [ "$(field "$r" exit_code)" = 5 ]
}

@test "under an outer seccomp listener: default falls back to unnamed EPERM, strict fails (125)" {
  # The kernel allows one listener per filter chain; a helper under a helper finds it taken.
  helped nested -- /.cpb/cpb-helper -- /.cpb/cpb-testprog try ptrace
  assert_success
  assert_contains "$output" "ptrace=EPERM"
  assert_contains "$stderr" "no user notification here: refusals are EPERM, unnamed"
  helped nested-strict -- /.cpb/cpb-helper --seccomp strict -- /.cpb/cpb-testprog exit 0
  assert_failure 125
  assert_contains "$stderr" "a seccomp listener exists already"
}
