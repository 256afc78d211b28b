#!/usr/bin/env bats
# cpb run against a private rootless Podman: what a user checks after a run — the archived
# outputs and logs, the states, resuming, failures, timeouts, and that nothing is left behind.
load helpers

setup_file() {
  cpb_service_start
  # Retries wait 0.2 s, 0.4 s... instead of 1 s, 2 s: the scenario stays quick.
  export CPB_RETRY_BACKOFF=0.2
}

teardown_file() { cpb_service_stop; }

setup() {
  SPEC=$BATS_TEST_TMPDIR/spec
  cp -r "$BATS_TEST_DIRNAME/data/run" "$SPEC"
  NS=$(id -un)
  ARCHIVE=$XDG_DATA_HOME/cpb/archive/$NS
}

# The run left no container and no volume behind.
assert_nothing_left() {
  local left
  left=$(tpodman ps -a -q; tpodman volume ls -q)
  if [ -n "$left" ]; then
    echo "left behind: $left" >&2
    tpodman ps -a >&2
    return 1
  fi
}

# member ARCHIVE PATH: print one member of a task tarball.
member() {
  tar --zstd -xOf "$1" "$2"
}

@test "a 12-task matrix archives exactly the declared outputs, with their contents and logs" {
  run_cpb run "$SPEC/matrix.yaml"
  assert_success
  assert_contains "$output" "12 done, 0 failed"
  assert_nothing_left
  for a in 1 2 3; do
    for b in w x y z; do
      tarball=$ARCHIVE/matrix/t-$a-$b.tar.zst
      [ -f "$tarball" ]
      members=$(tar --zstd -tf "$tarball" | grep -v '^\.cpb/' | sort | tr '\n' ' ')
      [ "$members" = "result-$a-$b.txt " ] || { echo "t-$a-$b holds: $members" >&2; return 1; }
      result=$(member "$tarball" "result-$a-$b.txt")
      assert_contains "$result" "base line"
      assert_contains "$result" "input $a"
      assert_contains "$result" "$a$b index="
      [ "$(member "$tarball" .cpb/stdout)" = "out $a$b" ]
      [ "$(member "$tarball" .cpb/stderr)" = "err $a$b" ]
      # Byte for byte: the helper's report rides at the end of stderr and must be cut off.
      [ "$(member "$tarball" .cpb/stderr | wc -c)" -eq "$(printf 'err %s\n' "$a$b" | wc -c)" ]
      assert_contains "$(member "$tarball" .cpb/result.json)" '"exit_code": 0'
      assert_contains "$(member "$tarball" .cpb/manifest.json)" '"wall_seconds"'
    done
  done
  run_cpb status matrix --json
  assert_success
  assert_contains "$output" '"DONE":12'
  # The manifest names the image by ID and digest, the node, the attempt and the times.
  local id digest
  id=$(tpodman image inspect --format '{{.Id}}' localhost/cpb-busybox:latest)
  digest=$(tpodman image inspect --format '{{.Digest}}' localhost/cpb-busybox:latest)
  assert_contains "$(cat "$ARCHIVE/matrix/t-2-x.json")" "\"image\":{\"id\":\"$id\",\"digest\":\"$digest\"}"
  assert_contains "$(cat "$ARCHIVE/matrix/t-2-x.json")" '"node":"local","state":"done","exit_code":0'
  assert_contains "$(cat "$ARCHIVE/matrix/t-2-x.json")" '"attempt":1,"started":"'
}

@test "a rerun does nothing; a changed input reruns only the tasks that read it" {
  run_cpb run --batch rerun "$SPEC/matrix.yaml"
  assert_success
  before=$(stat -c %Y "$ARCHIVE/rerun/t-1-w.tar.zst")

  run_cpb run --batch rerun --dry-run "$SPEC/matrix.yaml"
  assert_success
  assert_contains "$output" "0 to run, 12 up to date"
  sleep 1
  run_cpb run --batch rerun "$SPEC/matrix.yaml"
  assert_success
  [ "$(stat -c %Y "$ARCHIVE/rerun/t-1-w.tar.zst")" = "$before" ]

  echo "input 2, edited" > "$SPEC/in/in-2.txt"
  run_cpb run --batch rerun --dry-run --json "$SPEC/matrix.yaml"
  assert_success
  assert_contains "$output" '"run":4,"skip":8'
  run_cpb run --batch rerun "$SPEC/matrix.yaml"
  assert_success
  assert_contains "$(member "$ARCHIVE/rerun/t-2-x.tar.zst" result-2-x.txt)" "input 2, edited"
  [ "$(stat -c %Y "$ARCHIVE/rerun/t-1-w.tar.zst")" = "$before" ]
  run_cpb run --batch rerun --dry-run --force "$SPEC/matrix.yaml"
  assert_contains "$output" "12 to run"
  assert_nothing_left
}

@test "a failing task is retried then reported; a timeout is enforced; logs are kept" {
  run_cpb run "$SPEC/failing.yaml"
  assert_failure 1
  assert_contains "$stderr" "2 of 3 tasks failed"
  assert_contains "$stderr" "'flaky'"
  run_cpb status failing
  assert_success
  assert_contains "$(grep '^flaky' <<<"$output")" "FAILED     3"
  assert_contains "$(grep '^slow' <<<"$output")" "timed out after 2s"
  assert_contains "$(grep '^fine' <<<"$output")" "DONE"
  # The failed task's archive keeps its logs and its outputs, marked failed.
  [ "$(member "$ARCHIVE/failing/flaky.tar.zst" .cpb/stderr)" = "it broke" ]
  [ "$(member "$ARCHIVE/failing/flaky.tar.zst" out.txt)" = "attempt" ]
  assert_contains "$(cat "$ARCHIVE/failing/flaky.json")" '"state":"failed"'
  assert_contains "$(member "$ARCHIVE/failing/slow.tar.zst" .cpb/result.json)" '"timed_out": true'
  run_cpb logs failing flaky
  assert_success
  assert_contains "$stderr" "it broke"
  assert_nothing_left
}

@test "initialize runs once and feeds its outputs to every task" {
  run_cpb run "$SPEC/init.yaml"
  assert_success
  stamp=$(member "$ARCHIVE/init/initialize.tar.zst" stamp.txt)
  for i in 1 2 3 4; do
    got=$(member "$ARCHIVE/init/use-$i.tar.zst" "got-$i.txt")
    [ "$got" = "prepared-once
$stamp" ] || { echo "use-$i got: $got" >&2; return 1; }
  done
  assert_nothing_left
}

@test "a failing initialize runs no task and the user sees why" {
  run_cpb run "$SPEC/initfail.yaml"
  assert_failure 1
  assert_contains "$stderr" "initialize failed: exit 4"
  assert_contains "$stderr" "cc: prepare.c: no such file"
  run_cpb status initfail
  assert_contains "$(grep '^initialize' <<<"$output")" "FAILED"
  for i in 1 2 3; do
    assert_contains "$(grep "^t-$i" <<<"$output")" "not run: group 'initialize' failed"
    [ ! -f "$ARCHIVE/initfail/t-$i.tar.zst" ]
  done
  run_cpb logs initfail initialize
  assert_contains "$stderr" "cc: prepare.c: no such file"
  assert_nothing_left
}

# Print "started finished" (epoch seconds) of every task of BATCH, by start.
task_intervals() {
  local f
  for f in "$ARCHIVE/$1"/*.json; do
    sed -e 's/.*"started":"\([^"]*\)".*"finished":"\([^"]*\)".*/\1 \2/' "$f"
    echo # the manifest has no final newline
  done | while read -r s e; do echo "$(date -d "$s" +%s) $(date -d "$e" +%s)"; done | sort -n
}

@test "a counted resource (one licence) keeps live tasks to one at a time, even with -j 4" {
  run_cpb run -j 4 "$SPEC/licence.yaml"
  assert_success
  assert_contains "$output" "4 done, 0 failed"
  # Rootless Podman on cgroups v1 ignores memory and cpu limits: its warning reaches the
  # user, once per run, not once per task.
  if [ "$(stat -fc %T /sys/fs/cgroup)" != cgroup2fs ]; then
    [ "$(grep -c 'podman: Resource limits are not supported' <<<"$stderr")" -eq 1 ]
  fi
  local prev_end=0 n=0
  while read -r start end; do
    [ "$start" -ge "$prev_end" ] || { echo "overlap: $(task_intervals licence)" >&2; return 1; }
    prev_end=$end
    n=$((n + 1))
  done < <(task_intervals licence)
  [ "$n" -eq 4 ]
  # More licences than the farm has can never run: refused before anything starts.
  sed -e 's/counted: {licence: 1}/counted: {licence: 2}/' -e 's/^batch: licence/batch: greedy/' \
    "$SPEC/licence.yaml" >"$SPEC/greedy.yaml"
  run_cpb run "$SPEC/greedy.yaml"
  assert_failure 2
  assert_contains "$stderr" "licence"
  assert_nothing_left
}

@test "on a terminal one progress line is redrawn with counts, rate and ETA; plain lines otherwise" {
  # script(1) gives cpb a terminal; its output is the terminal's.
  run script -qec "'$CPB' run --batch tty '$SPEC/init.yaml'" /dev/null
  [ "$status" -eq 0 ] || { echo "$output" >&2; return 1; }
  assert_contains "$output" $'\r\e[K'
  assert_contains "$output" "running,"
  assert_contains "$output" "queued, 0 failed | "
  assert_contains "$output" "tasks/s, ETA "
  assert_contains "$output" "5 done, 0 failed"
  run_cpb run --force --batch tty "$SPEC/init.yaml"
  assert_success
  assert_contains "$stderr" "cpb run: 5 done, 0 running, 0 queued, 0 failed | "
  assert_not_contains "$stderr" $'\e['
  assert_not_contains "$stderr" $'\r'
  assert_nothing_left
}

@test "every capability is dropped but those a task lists in cap_add" {
  run_cpb run "$SPEC/caps.yaml"
  assert_success
  [ "$(member "$ARCHIVE/caps/none.tar.zst" caps.txt)" = "CapEff:	0000000000000000" ]
  # CAP_CHOWN is bit 0, CAP_NET_BIND_SERVICE bit 10.
  [ "$(member "$ARCHIVE/caps/some.tar.zst" caps.txt)" = "CapEff:	0000000000000401" ]
  # The capabilities are part of the task's key: another list reruns the task.
  sed -i 's/\[chown, CAP_NET_BIND_SERVICE\]/[chown]/' "$SPEC/caps.yaml"
  run_cpb run "$SPEC/caps.yaml"
  assert_success
  [ "$(member "$ARCHIVE/caps/some.tar.zst" caps.txt)" = "CapEff:	0000000000000001" ]
  assert_nothing_left
}

@test "cpb killed with SIGKILL mid-run: the rerun adopts what it left and loses nothing" {
  "$CPB" run -j 2 --batch killed "$SPEC/slow.yaml" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    [ "$(tpodman ps -q | wc -l)" -ge 1 ] && [ -f "$ARCHIVE/killed/s-1.tar.zst" ] && break
    sleep 0.2
  done
  kill -9 "$pid"
  wait "$pid" || true
  run_cpb status killed
  assert_contains "$output" "RUNNING"

  run_cpb run --batch killed "$SPEC/slow.yaml"
  assert_success
  assert_contains "$output" "6 done, 0 failed"
  assert_contains "$stderr" "a killed run left"
  assert_contains "$stderr" "adopted"
  digest=$(tpodman image inspect --format '{{.Digest}}' localhost/cpb-busybox:latest)
  for i in 1 2 3 4 5 6; do
    [ "$(member "$ARCHIVE/killed/s-$i.tar.zst" r.txt)" = "$i" ]
    # Adopted or not, every manifest names the image's digest.
    assert_contains "$(cat "$ARCHIVE/killed/s-$i.json")" "\"digest\":\"$digest\""
  done
  assert_nothing_left
}

@test "cpb killed with SIGKILL, then the task changed: the rerun removes the stale containers" {
  # Long enough that both containers still run when the rerun finds them.
  sed -i 's/sleep 3;/sleep 20;/' "$SPEC/slow.yaml"
  "$CPB" run -j 2 --batch stale "$SPEC/slow.yaml" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    [ "$(tpodman ps -q | wc -l)" -ge 2 ] && break
    sleep 0.2
  done
  kill -9 "$pid"
  wait "$pid" || true
  # A new command is a new key: what the killed run left must not be adopted.
  sed -i 's/command: "sleep 20; echo {i} > r.txt"/command: "echo new-{i} > r.txt"/' "$SPEC/slow.yaml"
  run_cpb run --batch stale "$SPEC/slow.yaml"
  assert_success
  assert_contains "$output" "6 done, 0 failed"
  assert_contains "$stderr" "a killed run left 2 containers: 0 adopted, 2 removed"
  for i in 1 2 3 4 5 6; do
    got=$(member "$ARCHIVE/stale/s-$i.tar.zst" r.txt)
    [ "$got" = "new-$i" ] || { echo "s-$i holds '$got'; $stderr" >&2; return 1; }
  done
  assert_nothing_left
}

@test "Ctrl-C stops the run, keeps what finished, removes every container, exits 130" {
  "$CPB" run --batch interrupted "$SPEC/slow.yaml" >"$BATS_TEST_TMPDIR/out" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    [ "$(tpodman ps -q | wc -l)" -ge 1 ] && break
    sleep 0.2
  done
  sleep 1
  kill -INT "$pid"
  rc=0
  wait "$pid" || rc=$?
  [ "$rc" -eq 130 ] || { cat "$BATS_TEST_TMPDIR/out" >&2; return 1; }
  run_cpb status interrupted --json
  assert_contains "$output" '"CANCELLED":'
  assert_not_contains "$output" '"RUNNING":1'
  assert_nothing_left
}

@test "hold and release reach a run in progress; cancel stops a task" {
  "$CPB" run -j 1 --batch held "$SPEC/slow.yaml" >"$BATS_TEST_TMPDIR/out" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    [ "$(tpodman ps -q | wc -l)" -ge 1 ] && break
    sleep 0.2
  done
  run_cpb hold held s-6
  assert_success
  assert_contains "$output" "held 1 task"
  run_cpb cancel held s-5
  assert_success
  rc=0
  wait "$pid" || rc=$?
  # s-5 was cancelled: the run reports it and fails.
  [ "$rc" -eq 1 ] || { cat "$BATS_TEST_TMPDIR/out" >&2; return 1; }
  run_cpb status held
  assert_contains "$(grep '^s-6' <<<"$output")" "HELD"
  assert_contains "$(grep '^s-5' <<<"$output")" "CANCELLED"
  [ ! -f "$ARCHIVE/held/s-6.tar.zst" ]

  run_cpb release held
  assert_success
  run_cpb run --batch held "$SPEC/slow.yaml"
  assert_success
  [ "$(member "$ARCHIVE/held/s-6.tar.zst" r.txt)" = "6" ]
  [ "$(member "$ARCHIVE/held/s-5.tar.zst" r.txt)" = "5" ]
  assert_nothing_left
}

@test "cancel BATCH stops the running tasks and cancels the queued ones; a rerun runs them" {
  # Long enough to inspect a container and cancel while the first tasks run.
  sed -e 's/^batch: slow/batch: cancelall/' -e 's/sleep 3;/sleep 30;/' "$SPEC/slow.yaml" \
    >"$SPEC/cancelall.yaml"
  "$CPB" run -j 2 "$SPEC/cancelall.yaml" >"$BATS_TEST_TMPDIR/out" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    [ "$(tpodman ps -q | wc -l)" -ge 1 ] && break
    sleep 0.2
  done
  # A task's container as cpb run creates it: no network, no capability, no_new_privileges,
  # explicit rlimits, labels naming run, batch and task.
  local id fmt got
  id=$(tpodman ps -q | head -1)
  fmt='{{.HostConfig.NetworkMode}}|{{.EffectiveCaps}}|{{.HostConfig.SecurityOpt}}|{{.HostConfig.Ulimits}}|'
  fmt+='{{index .Config.Labels "io.cpb.batch"}}|{{index .Config.Labels "io.cpb.task"}}|'
  fmt+='{{index .Config.Labels "io.cpb.run"}}'
  got=$(tpodman inspect --format "$fmt" "$id")
  run_cpb cancel cancelall
  assert_success
  assert_contains "$output" "cancelled 6 tasks"
  [[ "$got" =~ ^none\|\[\]\|.*no-new-privileges.*\|.*RLIMIT_NOFILE.*RLIMIT_NPROC.*\|cancelall\|s-[1-6]\|[0-9a-f]+$ ]] ||
    { echo "container: $got" >&2; return 1; }
  rc=0
  wait "$pid" || rc=$?
  [ "$rc" -eq 1 ] || { cat "$BATS_TEST_TMPDIR/out" >&2; return 1; }
  run_cpb status cancelall --json
  assert_contains "$output" '"DONE":0'
  assert_contains "$output" '"CANCELLED":6'
  assert_nothing_left
  sed -i 's/sleep 30;//' "$SPEC/cancelall.yaml"
  run_cpb run "$SPEC/cancelall.yaml"
  assert_success
  assert_contains "$output" "6 done, 0 failed"
  assert_nothing_left
}

@test "cpb logs -f follows a running task to its end, its stderr exactly the task's" {
  "$CPB" run "$SPEC/follow.yaml" >"$BATS_TEST_TMPDIR/out" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    [ "$(tpodman ps -q | wc -l)" -ge 1 ] && break
    sleep 0.2
  done
  run_cpb logs -f follow chatty
  assert_success
  [ "$output" = "begin" ]
  # The helper's report rides at the end of stderr; logs must not show it.
  [ "$stderr" = "$(printf 'first\nlast')" ] || { echo "stderr: $(od -c <<<"$stderr")" >&2; return 1; }
  wait "$pid"
  run_cpb logs follow chatty
  assert_success
  [ "$stderr" = "$(printf 'first\nlast')" ]
  assert_nothing_left
}

@test "--fail-fast cancels the rest at the first task that fails for good" {
  run_cpb run -j 1 --fail-fast "$SPEC/failfast.yaml"
  assert_failure 1
  run_cpb status failfast --json
  assert_contains "$output" '"FAILED":1'
  assert_contains "$output" '"CANCELLED":4'
  assert_contains "$output" '"DONE":0'
  assert_nothing_left
}

@test "a requirement nothing offers, a missing image and a bad jobs.yaml are refused before anything runs" {
  run_cpb run "$SPEC/requires.yaml"
  assert_failure 2
  assert_contains "$stderr" "requires 'gpu'"
  [ -z "$output" ] # nothing ran: no counts on stdout
  # A task needing more cpus than the node has is named.
  sed -e 's/^batch: requires/batch: toobig/' -e 's/requires: \[gpu\]/resources: {cpus: 4096}/' \
    "$SPEC/requires.yaml" >"$SPEC/toobig.yaml"
  run_cpb run "$SPEC/toobig.yaml"
  assert_failure 2
  assert_contains "$stderr" "task 'tasks': needs 4096 cpus, the largest node has"
  [ -z "$output" ]
  # ... and leaves nothing of the batch in the database (its tasks stayed QUEUED for good).
  run_cpb status toobig
  assert_failure 1
  run_cpb run "$SPEC/bad.yaml"
  assert_failure 2
  assert_contains "$stderr" "bad.yaml:5:3: "
  run_cpb status requires
  assert_failure 1
  # cpb never pulls: an image the node lacks is bad input, named, before anything runs.
  run_cpb run "$SPEC/noimage.yaml"
  assert_failure 2
  assert_contains "$stderr" "image 'localhost/cpb-absent:1' is not on node local"
  assert_not_contains "$stderr" "image 'localhost/cpb-absent:1': image"
  assert_nothing_left
}

@test "with one slot, the group of higher priority runs first" {
  run_cpb run -j 1 "$SPEC/priority.yaml"
  assert_success
  local order
  order=$(for f in "$ARCHIVE"/priority/*.json; do
    sed -e 's/.*"task":"\([^"]*\)".*"started":"\([^"]*\)".*/\2 \1/' "$f"
    echo
  done | sort | cut -d' ' -f2 | cut -d- -f1 | uniq | tr '\n' ' ')
  [ "$order" = "high low " ] || { echo "order: $order" >&2; return 1; }
  assert_nothing_left
}

@test "cpb run --json reports the run for scripts; an unreachable Podman is exit 3" {
  run_cpb run --json --batch jsonrun "$SPEC/init.yaml"
  assert_success
  assert_contains "$output" '"batch":"jsonrun"'
  assert_contains "$output" '"DONE":5'
  assert_contains "$output" '"error":null'
  run python3 -c 'import json, sys; json.loads(sys.argv[1])' "$output"
  assert_success
  CPB_PODMAN_URL=unix://$BATS_TEST_TMPDIR/none.sock run_cpb run --batch nowhere "$SPEC/init.yaml"
  assert_failure 3
  assert_contains "$stderr" "cannot connect to Podman"
  run_cpb status nowhere
  assert_failure 1
}

@test "the archive store: the XDG data dir by default, the user config file, then --archive" {
  mkdir -p "$BATS_TEST_TMPDIR/cfg/cpb"
  echo "archive = $BATS_TEST_TMPDIR/from-config" > "$BATS_TEST_TMPDIR/cfg/cpb/config"
  XDG_CONFIG_HOME=$BATS_TEST_TMPDIR/cfg run_cpb run --batch where "$SPEC/init.yaml"
  assert_success
  [ -f "$BATS_TEST_TMPDIR/from-config/$NS/where/use-1.tar.zst" ]
  [ ! -e "$ARCHIVE/where" ]
  XDG_CONFIG_HOME=$BATS_TEST_TMPDIR/cfg run_cpb run --force --batch where \
    --archive "$BATS_TEST_TMPDIR/from-option" "$SPEC/init.yaml"
  assert_success
  [ -f "$BATS_TEST_TMPDIR/from-option/$NS/where/use-1.tar.zst" ]
  run_cpb run --force --batch where "$SPEC/init.yaml"
  assert_success
  [ -f "$ARCHIVE/where/use-1.tar.zst" ]
  assert_nothing_left
}

@test "an image that declares a VOLUME leaves no volume behind" {
  local ctx
  ctx=$(mktemp -d "$CPB_TEST_SVC/ctx.XXXXXX")
  printf 'FROM localhost/cpb-busybox:latest\nVOLUME /data\n' >"$ctx/Containerfile"
  chmod -R a+rX "$ctx"
  (cd / && tpodman build -q -t localhost/cpb-volume:1 "$ctx") >/dev/null
  sed -e 's/^batch: init/batch: volume/' -e 's|localhost/cpb-busybox:latest|localhost/cpb-volume:1|' \
    -e 's/command: "cat tool.txt/command: "echo kept > \/data\/x; cat tool.txt/' \
    "$SPEC/init.yaml" >"$SPEC/volume.yaml"
  run_cpb run "$SPEC/volume.yaml"
  assert_success
  assert_contains "$output" "5 done, 0 failed"
  assert_nothing_left
  (cd / && tpodman rmi localhost/cpb-volume:1) >/dev/null
}

@test "the run verbs answer --help in the completion format" {
  for verb in run status logs cancel hold release; do
    run_cpb "$verb" --help
    assert_success
    assert_contains "${lines[0]}" "Usage: cpb $verb"
    assert_contains "$output" "  -h, --help"
  done
  run_cpb run
  assert_failure 2
}
