#!/usr/bin/env bats
# cpb fetch and cpb archive: archives written by cpb's real writer from a real container's tar
# stream (podman cp CTR:/work/. -), fetched with filters; a crafted archive refused; pruning.
load helpers

# The writer as a small program over the build's libcpb.a (tests/integration/mkarchive.c).
build_mkarchive() {
  local build=${CPB_BUILD_DIR:-$CPB_SRC/build}
  MKARCHIVE=$CPB_TEST_SVC/mkarchive
  local args=(-std=gnu11 -D_GNU_SOURCE -I"$build" -I"$CPB_SRC/src/lib" -I"$CPB_SRC/src/basic" -I"$CPB_SRC/src" $(pkg-config --cflags yajl)
              "$CPB_SRC/tests/integration/mkarchive.c" "$build/src/lib/libcpb.a"
              $(pkg-config --libs libcurl yajl yaml-0.1 libarchive libseccomp sqlite3 libcrypto)
              -lpthread -lm -o "$MKARCHIVE")
  # A sanitizer build's library needs the sanitizers' runtime too.
  cc "${args[@]}" 2>/dev/null || cc -fsanitize=address,undefined "${args[@]}"
}

# mkarchive_task BATCH TASK FINISHED [STATE]: archive the container's /work as TASK.
mkarchive_task() {
  tpodman cp cpbfetch:/work/. - | "$MKARCHIVE" --root "$ARCHIVE" --ns "$NS" --batch "$1" \
    --task "$2" --finished "$3" --state "${4:-done}" --stdout "log of $2" \
    --output 'out/**/*.csv' --output results
}

setup_file() {
  cpb_service_start
  # bats skips teardown_file when setup_file fails: stop the service here then, or it keeps
  # bats's output open for ever.
  make_store || { teardown_file; return 1; }
}

make_store() {
  export NS=$(id -un) ARCHIVE=$XDG_DATA_HOME/cpb/archive
  build_mkarchive || return 1
  export MKARCHIVE
  tpodman run --name cpbfetch localhost/cpb-busybox:latest sh -c '
    mkdir -p /work/out/sub /work/tmp /work/results
    echo 1,2 > /work/out/a.csv; echo 3 > /work/out/sub/c.csv; echo no > /work/out/b.txt
    echo junk > /work/tmp/j; echo r > /work/results/r1; ln -s /etc/passwd /work/out/link.csv' \
    >/dev/null || return 1
  # (set -e is off in a function called before '||': every step checks for itself.)
  local now; now=$(date +%s)
  mkarchive_task sweep t0 "$now" || return 1
  mkarchive_task sweep t1 "$now" || return 1
  mkarchive_task sweep t2 "$now" failed || return 1
  mkarchive_task old1 t0 $((now - 40 * 86400)) || return 1
  mkarchive_task old2 t0 $((now - 20 * 86400)) || return 1
}

teardown_file() {
  # podman-service.sh saves the pid of the subshell that started podman, and podman outlives
  # it, holding bats's output pipe (bats then never ends): stop the service's process by id.
  local pids=""
  [ -f "$CPB_TEST_SVC/service.pid" ] && pids=$(pgrep -P "$(cat "$CPB_TEST_SVC/service.pid")")
  [ -n "$pids" ] && kill $pids 2>/dev/null
  cpb_service_stop
}

setup() {
  OUT=$(mktemp -d "$CPB_TEST_SVC/out.XXXXXX")
}

@test "the writer kept exactly the declared outputs of the container's workdir" {
  run tar --zstd -tf "$ARCHIVE/$NS/sweep/t0.tar.zst"
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | head -1)" = ".cpb/manifest.json" ]
  assert_contains "$output" "out/a.csv"
  assert_contains "$output" "out/sub/c.csv"
  assert_contains "$output" "results/r1"
  assert_not_contains "$output" "b.txt"
  assert_not_contains "$output" "link.csv"
  assert_not_contains "$output" "tmp/j"
}

@test "cpb fetch extracts every task of a batch, with logs and manifest" {
  run_cpb fetch sweep -o "$OUT"
  assert_success
  [ "$(cat "$OUT/t0/out/a.csv")" = "1,2" ]
  [ "$(cat "$OUT/t2/.cpb/stdout")" = "log of t2" ]
  [ -f "$OUT/t1/results/r1" ]
  assert_contains "$output" "t2	failed"
  [ -z "$(ls -A "$OUT" | grep -v '^t[012]$')" ]
}

@test "cpb fetch --task and --state pick tasks" {
  run_cpb fetch sweep --task 't[01]' -o "$OUT" --json
  assert_success
  [ -d "$OUT/t0" ] && [ -d "$OUT/t1" ] && [ ! -e "$OUT/t2" ]
  assert_contains "$output" '"task":"t1"'
  run_cpb fetch sweep --state failed -o "$OUT/failed"
  assert_success
  [ "$(ls "$OUT/failed")" = "t2" ]
  run_cpb fetch sweep --state finished -o "$OUT"
  assert_failure 2
  run_cpb fetch sweep --task 'nothing*' -o "$OUT"
  assert_failure 1
  assert_contains "$stderr" "no task of batch 'sweep' matches"
}

@test "cpb fetch --include and --exclude filter members" {
  run_cpb fetch sweep --task t0 --include 'out/**' --exclude '**/c.csv' -o "$OUT"
  assert_success
  [ "$(cd "$OUT/t0" && find . -type f | sort)" = "./out/a.csv" ]
}

@test "cpb fetch refuses a crafted archive with ../ members and leaves nothing of it" {
  local dir=$ARCHIVE/$NS/evil work=$CPB_TEST_SVC/craft
  mkdir -p "$dir" "$work/in/sub"
  echo good > "$work/in/good"
  echo evil > "$work/escape"
  # GNU tar keeps '../' in member names with -P; cpb must refuse them.
  tar -C "$work/in" -P --zstd -cf "$dir/t0.tar.zst" good sub/../../escape
  sed 's/"batch":"sweep"/"batch":"evil"/' "$ARCHIVE/$NS/sweep/t0.json" > "$dir/t0.json"
  run_cpb fetch evil -o "$OUT"
  assert_failure 1
  assert_contains "$stderr" "refusing member 'sub/../../escape'"
  [ -z "$(ls -A "$OUT")" ]
  [ ! -e "$(dirname "$OUT")/escape" ]
  run_cpb archive verify evil
  assert_failure 1
}

@test "cpb archive verify checks the tarballs against their manifests" {
  run_cpb archive verify sweep
  assert_success
  assert_contains "$output" "t0	ok"
}

@test "cpb archive list shows batches with counts" {
  run_cpb archive list --json
  assert_success
  assert_contains "$output" '"batch":"sweep","tasks":3,"done":2,"failed":1'
}

@test "cpb archive prune keeps what the retention rule keeps" {
  run_cpb archive prune --older-than 30d --dry-run
  assert_success
  assert_contains "$output" "would remove $NS/old1"
  [ -d "$ARCHIVE/$NS/old1" ]
  run_cpb archive prune --older-than 30d --json
  assert_success
  assert_contains "$output" '"batch":"old1"'
  [ ! -e "$ARCHIVE/$NS/old1" ] && [ -d "$ARCHIVE/$NS/old2" ]
  run_cpb archive prune --keep-last 2 --batch 'old*'
  assert_success
  [ -d "$ARCHIVE/$NS/old2" ]
  run_cpb archive prune --keep-last 0 --batch 'old*'
  assert_success
  [ ! -e "$ARCHIVE/$NS/old2" ] && [ -d "$ARCHIVE/$NS/sweep" ]
  run_cpb archive prune --dry-run
  assert_failure 2
}

@test "fetch and archive answer --help in the completion format" {
  run_cpb fetch --help
  assert_success
  [ "$(echo "$output" | head -1 | cut -d' ' -f1-3)" = "Usage: cpb fetch" ]
  assert_contains "$output" "  -o, --output DIR"
  run_cpb archive --help
  assert_success
  assert_contains "$output" "  --keep-last N"
  run_cpb fetch
  assert_failure 2
}

@test "a batch run by cpb run is fetched, filtered and verified" {
  local spec=$CPB_TEST_SVC/runspec
  mkdir -p "$spec"
  cat > "$spec/jobs.yaml" <<'YAML'
batch: viarun
defaults:
  image: localhost/cpb-busybox:latest
outputs:
  - "res/*.txt"
tasks:
  matrix:
    a: [1, 2]
  name: "r-{a}"
  command: mkdir -p res; echo "value {a}" > res/v.txt; echo skip > other.txt
YAML
  run_cpb run "$spec/jobs.yaml"
  assert_success
  run_cpb fetch viarun -o "$OUT" --exclude '.cpb'
  assert_success
  [ "$(cat "$OUT/r-2/res/v.txt")" = "value 2" ]
  [ "$(cd "$OUT/r-1" && find . -type f)" = "./res/v.txt" ]
  run_cpb archive verify viarun
  assert_success
  assert_contains "$output" "r-1	ok"
}
