#!/usr/bin/env bats
# cpb serve: the JSON API of the status page, driven with curl against real runs on a private
# Podman service.  What a browser shows is tests/browser/'s; this file checks the documents,
# the guard (token, cookie, Host, POST, CSRF, Origin) and that a run is never held up.
load helpers

setup_file() {
  cpb_service_start
  command -v curl >/dev/null && command -v jq >/dev/null || skip "needs curl and jq"
}

teardown_file() { cpb_service_stop; }

setup() {
  SPEC=$BATS_TEST_TMPDIR/spec
  cp -r "$BATS_TEST_DIRNAME/data/serve" "$SPEC"
  NS=$(id -un)
  SERVE_PID=
}

teardown() {
  [ -n "${SERVE_PID:-}" ] && kill "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null
  [ -n "${RUN_PID:-}" ] && kill "$RUN_PID" 2>/dev/null && wait "$RUN_PID" 2>/dev/null
  return 0
}

# serve_start [ARGS...]: cpb serve on a port of its choosing; sets SERVE_URL (with the token),
# BASE (http://127.0.0.1:PORT), TOKEN, JAR (the cookie jar after the token) and CSRF.
serve_start() {
  local out=$BATS_TEST_TMPDIR/serve.out
  "$CPB" serve --listen 127.0.0.1:0 "$@" >"$out" 2>"$BATS_TEST_TMPDIR/serve.err" &
  SERVE_PID=$!
  for _ in $(seq 1 100); do
    grep -q '^cpb serve: open http' "$out" && break
    sleep 0.1
  done
  SERVE_URL=$(sed -n 's/^cpb serve: open //p' "$out")
  [ -n "$SERVE_URL" ] || { cat "$out" "$BATS_TEST_TMPDIR/serve.err" >&2; return 1; }
  BASE=${SERVE_URL%%/\?token=*}
  TOKEN=${SERVE_URL##*token=}
  JAR=$BATS_TEST_TMPDIR/jar
  curl -s -o /dev/null -c "$JAR" "$SERVE_URL"
  CSRF=$(api /api/session | jq -r .csrf)
  [ ${#CSRF} -eq 64 ]
}

# api PATH: GET with the session cookie; fails on an HTTP error.
api() {
  curl -sf -b "$JAR" "$BASE$1"
}

# code ARGS...: the HTTP status curl gets.
code() {
  curl -s -o /dev/null -w '%{http_code}' "$@"
}

# post PATH [CURL_ARGS...]: an action as the page sends it (cookie, Origin, CSRF header).
post() {
  local path=$1
  shift
  curl -s -b "$JAR" -X POST -H "Origin: $BASE" -H "X-CPB-CSRF: $CSRF" "$@" "$BASE$path"
}

# session_cookie: the cookie the jar holds, for requests whose Host header curl would match
# the jar against.
session_cookie() {
  awk '$6 ~ /^cpb_session_/ { print $6 "=" $7 }' "$JAR"
}

# sse_text STREAM < EVENTS: the data of every STREAM event (JSON strings), joined: what the
# page shows of that stream.
sse_text() {
  awk -v s="$1" '/^event: / { ev = $2 } /^data: / { if (ev == s) print substr($0, 7) }' | jq -rj .
}

# wait_running N: until N containers run on the service.
wait_running() {
  for _ in $(seq 1 150); do
    [ "$(tpodman ps -q | wc -l)" -ge "$1" ] && return 0
    sleep 0.2
  done
  echo "no $1 running containers" >&2
  return 1
}

@test "the API needs the token (then a cookie), the server's own Host, and POST with CSRF for actions" {
  run_cpb run "$SPEC/quick.yaml"
  assert_success
  serve_start
  # Only loopback is listened on.
  ss -ltn | grep -q "127.0.0.1:${BASE##*:} " || { ss -ltn >&2; return 1; }
  ! ss -ltn | grep -q "0.0.0.0:${BASE##*:} "
  # Nothing without the token; the token is traded for an HttpOnly SameSite=Strict cookie.
  [ "$(code "$BASE/")" = 401 ]
  [ "$(code "$BASE/api/status")" = 401 ]
  [ "$(code "$BASE/app.js")" = 401 ]
  [ "$(code -b "cpb_session_${BASE##*:}=$TOKEN" "$BASE/api/status")" = 401 ]
  run curl -s -i "$SERVE_URL"
  assert_contains "$output" "HTTP/1.1 303"
  assert_contains "$output" "Location: /"
  assert_contains "$output" "HttpOnly; SameSite=Strict"
  assert_contains "$output" "Content-Security-Policy: default-src 'self'"
  assert_contains "$output" "Cache-Control: no-store"
  assert_contains "$output" "X-Content-Type-Options: nosniff"
  # DNS rebinding: another Host name is refused before anything else, token or not.
  [ "$(code -H 'Host: evil.example' "$SERVE_URL")" = 421 ]
  [ "$(code -b "$JAR" -H "Host: evil.example:${BASE##*:}" "$BASE/api/status")" = 421 ]
  [ "$(code -b "$(session_cookie)" -H "Host: localhost:${BASE##*:}" "$BASE/api/status")" = 200 ]
  # The page and its assets, embedded in the binary.
  run api /
  assert_success
  assert_contains "$output" '<script src="/app.js"'
  run curl -s -b "$JAR" -D - -o /dev/null "$BASE/app.js"
  assert_contains "$output" "Content-Type: text/javascript"
  # Actions are POST only, and need the CSRF token and the page's Origin.
  [ "$(code -b "$JAR" "$BASE/api/batches/$NS/quick/hold")" = 405 ]
  [ "$(code -b "$JAR" -X POST -H "Origin: $BASE" "$BASE/api/batches/$NS/quick/hold")" = 403 ]
  [ "$(code -b "$JAR" -X POST -H "X-CPB-CSRF: $CSRF" "$BASE/api/batches/$NS/quick/hold")" = 403 ]
  [ "$(code -b "$JAR" -X POST -H "Origin: http://evil.example" -H "X-CPB-CSRF: $CSRF" \
    "$BASE/api/batches/$NS/quick/hold")" = 403 ]
  [ "$(code -X POST -H "Origin: $BASE" -H "X-CPB-CSRF: $CSRF" "$BASE/api/batches/$NS/quick/hold")" = 401 ]
  [ "$(code -b "$JAR" -X POST "$BASE/api/status")" = 405 ]
  [ "$(code -b "$JAR" -X DELETE "$BASE/api/status")" = 405 ]
  # Names are checked as cpb checks them; an unknown batch is 404 with a message.
  [ "$(code --path-as-is -b "$JAR" "$BASE/api/status/$NS/..")" = 404 ]
  [ "$(code -b "$JAR" "$BASE/api/status/$NS/bad%20name")" = 400 ]
  run curl -s -b "$JAR" -w ' %{http_code}' "$BASE/api/status/$NS/nosuch"
  assert_contains "$output" "no batch '$NS/nosuch'"
  assert_contains "$output" " 404"
}

@test "the API's status documents are cpb status --json's, byte for byte, plus tasks, plot and logs" {
  run_cpb run "$SPEC/quick.yaml"
  assert_success
  serve_start
  [ "$(api /api/status)" = "$("$CPB" status --json)" ]
  [ "$(api "/api/status/$NS/quick")" = "$("$CPB" status quick --json)" ]
  # The task list, filtered by state and paged, holds the same task objects.
  run api "/api/batches/$NS/quick/tasks?state=DONE&limit=2"
  assert_success
  [ "$(jq -r '.total, (.tasks | length), .tasks[0].name, .tasks[0].state' <<<"$output" | tr '\n' ' ')" = "3 2 q-1 DONE " ]
  [ "$(jq -c '.tasks[1]' <<<"$output")" = "$("$CPB" status quick --json | jq -c '.tasks[1]')" ]
  [ "$(api "/api/batches/$NS/quick/tasks?state=FAILED" | jq .total)" = 0 ]
  [ "$(code -b "$JAR" "$BASE/api/batches/$NS/quick/tasks?state=NOPE")" = 400 ]
  # Finished over time: the last point counts every task.
  [ "$(api "/api/batches/$NS/quick/finished" | jq '.points[-1][1]')" = 3 ]
  # The overview: counts, no live run (so no rate), the local node with its load.
  run api /api/overview
  assert_success
  [ "$(jq -r '.batches[] | select(.batch == "quick") | "\(.total) \(.finished) \(.run) \(.rate)"' <<<"$output")" = "3 3 null null" ]
  [ "$(jq -r '.nodes[0].name' <<<"$output")" = local ]
  jq -e '.nodes[0].cpus > 0 and .nodes[0].load1 >= 0' <<<"$output" >/dev/null
  # A finished task's logs come from its archive, the helper's report cut off.
  run api "/api/batches/$NS/quick/tasks/q-2/logs"
  assert_success
  [ "$(jq -c '[.where, .stdout, .stderr]' <<<"$output")" = '["archive","out 2\n","err 2\n"]' ]
  run curl -s -N -b "$JAR" --max-time 20 "$BASE/api/batches/$NS/quick/tasks/q-3/logs?follow=1"
  [ "$(sse_text stdout <<<"$output")" = "out 3" ]
  [ "$(sse_text stderr <<<"$output")" = "err 3" ]
  assert_contains "$output" 'event: end'
  assert_not_contains "$output" 'cpb-helper-report'
}

@test "against a real run: live counts over server-sent events, a running task's log, hold by POST; the run is never held up" {
  serve_start
  curl -s -N -b "$JAR" --max-time 120 "$BASE/api/events" >"$BATS_TEST_TMPDIR/events" &
  local events_pid=$!
  "$CPB" run -j 2 "$SPEC/farm.yaml" >"$BATS_TEST_TMPDIR/run.out" 2>&1 &
  RUN_PID=$!
  wait_running 1
  # While it runs: the run is live in the overview, and a running task's log streams.
  for _ in $(seq 1 50); do
    api /api/overview | jq -e '.batches[] | select(.batch == "farm") | .run.pid > 0' >/dev/null && break
    sleep 0.2
  done
  [ "$(api /api/overview | jq '.batches[] | select(.batch == "farm") | .run.pid')" -gt 0 ]
  local running
  running=$(api "/api/batches/$NS/farm/tasks?state=RUNNING" | jq -r '.tasks[0].name')
  [ -n "$running" ] && [ "$running" != null ]
  run curl -s -N -b "$JAR" --max-time 60 "$BASE/api/batches/$NS/farm/tasks/$running/logs?follow=1"
  [ "$(sse_text stdout <<<"$output")" = "out ${running#t-}" ]
  [ "$(sse_text stderr <<<"$output")" = "err ${running#t-}" ]
  assert_contains "$output" 'event: end'
  assert_not_contains "$output" 'cpb-helper-report'
  # Hold the last task through the API, as the page's button does.
  run post "/api/batches/$NS/farm/tasks/t-8/hold"
  assert_contains "$output" '"changed":1'
  run_cpb status farm
  assert_contains "$(grep '^t-8' <<<"$output")" "HELD"
  # Holding it again says why not, as cpb hold does.
  run post "/api/batches/$NS/farm/tasks/t-8/hold" -w ' %{http_code}'
  assert_contains "$output" "task 't-8' is HELD, not QUEUED"
  assert_contains "$output" " 409"
  # The server reads as much as it likes meanwhile; the run is never held up by it.
  for _ in $(seq 1 20); do
    api "/api/status/$NS/farm" >/dev/null
    api /api/overview >/dev/null
  done
  wait "$RUN_PID" || true
  RUN_PID=
  run_cpb status farm --json
  assert_contains "$output" '"DONE":7'
  assert_contains "$output" '"HELD":1'
  # The events stream saw the DONE count change while tasks finished.
  sleep 1
  kill "$events_pid" 2>/dev/null || true
  local seen
  seen=$(sed -n 's/^data: //p' "$BATS_TEST_TMPDIR/events" |
    jq -r 'select(.batches) | .batches[] | select(.batch == "farm") | .counts.DONE' | sort -un | wc -l)
  [ "$seen" -ge 3 ] || { cat "$BATS_TEST_TMPDIR/events" >&2; return 1; }
  # Release it through the API: QUEUED again, for the next run.
  run post "/api/batches/$NS/farm/release"
  assert_contains "$output" '"changed":1'
  run_cpb status farm
  assert_contains "$(grep '^t-8' <<<"$output")" "QUEUED"
}

@test "cancel through the API reaches a run in progress, as cpb cancel does" {
  serve_start
  sed -e 's/^batch: farm/batch: tocancel/' -e 's/sleep 2;/sleep 30;/' "$SPEC/farm.yaml" >"$SPEC/tocancel.yaml"
  "$CPB" run -j 2 "$SPEC/tocancel.yaml" >"$BATS_TEST_TMPDIR/run.out" 2>&1 &
  RUN_PID=$!
  wait_running 1
  run post "/api/batches/$NS/tocancel/cancel"
  assert_contains "$output" '"changed":8'
  rc=0
  wait "$RUN_PID" || rc=$?
  RUN_PID=
  [ "$rc" -eq 1 ] || { cat "$BATS_TEST_TMPDIR/run.out" >&2; return 1; }
  run_cpb status tocancel --json
  assert_contains "$output" '"CANCELLED":8'
  [ -z "$(tpodman ps -a -q)" ]
  run post "/api/batches/$NS/nosuch/cancel" -w ' %{http_code}'
  assert_contains "$output" " 404"
}

@test "a task that prints the report marker itself keeps the rest of its stderr (cpb logs -f and the API)" {
  "$CPB" run "$SPEC/marker.yaml" >"$BATS_TEST_TMPDIR/run.out" 2>&1 &
  RUN_PID=$!
  wait_running 1
  local want
  want=$(printf 'before\n\036cpb-helper-report {"version": 1}\nafter the marker')
  run_cpb logs -f marker forger
  assert_success
  [ "$output" = done ]
  [ "$stderr" = "$want" ] || { echo "stderr: $(od -c <<<"$stderr")" >&2; return 1; }
  wait "$RUN_PID"
  RUN_PID=
  run_cpb logs marker forger
  [ "$stderr" = "$want" ]
  serve_start
  [ "$(api "/api/batches/$NS/marker/tasks/forger/logs" | jq -r .stderr)" = "$want" ]
}

@test "cpb serve refuses a non-loopback address without --allow-host, and bad options" {
  run_cpb serve --listen 0.0.0.0:0
  assert_failure 2
  assert_contains "$stderr" "not a loopback address"
  run_cpb serve --listen nonsense
  assert_failure 2
  run_cpb serve extra
  assert_failure 2
  run_cpb serve --help
  assert_success
  assert_contains "$output" "Usage: cpb serve"
}
