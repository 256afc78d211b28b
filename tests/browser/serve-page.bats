#!/usr/bin/env bats
# cpb serve's page in a real browser: Debian's headless Chromium, driven by playwright-core
# (serve-page.mjs), against a real run on a private Podman service.  It checks what a person
# sees and keeps screenshots in $CPB_BUILD_DIR/test-artifacts/browser/ (docs/serve.md).
load ../integration/helpers

BROWSER_DIR=$BATS_TEST_DIRNAME

setup_file() {
  [ -x /usr/bin/chromium ] || { echo "no /usr/bin/chromium: run contrib/podman/setup-host.sh" >&2; return 1; }
  command -v node >/dev/null || { echo "no node: run contrib/podman/setup-host.sh" >&2; return 1; }
  # playwright-core only, from the lock file, into this test's own directory; it downloads
  # no browser.
  if [ ! -d "$BROWSER_DIR/node_modules/playwright-core" ]; then
    (cd "$BROWSER_DIR" && npm ci --no-audit --no-fund --loglevel=error) >&2 || return 1
  fi
  cpb_service_start
}

teardown_file() { cpb_service_stop; }

teardown() {
  [ -n "${SERVE_PID:-}" ] && kill "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null
  [ -n "${RUN_PID:-}" ] && kill "$RUN_PID" 2>/dev/null && wait "$RUN_PID" 2>/dev/null
  return 0
}

@test "the page shows the batch, its counts changing live, its tasks and a task's log" {
  local out=$BATS_TEST_TMPDIR/serve.out spec=$BATS_TEST_TMPDIR/farm.yaml
  ARTIFACTS=${CPB_BUILD_DIR:-$CPB_SRC/build}/test-artifacts/browser
  rm -rf "$ARTIFACTS"
  # One at a time, three seconds each: the page has time to watch counts change.
  sed 's/sleep 2;/sleep 3;/' "$CPB_SRC/tests/integration/data/serve/farm.yaml" >"$spec"
  "$CPB" serve --listen 127.0.0.1:0 >"$out" 2>"$BATS_TEST_TMPDIR/serve.err" &
  SERVE_PID=$!
  for _ in $(seq 1 100); do
    grep -q '^cpb serve: open http' "$out" && break
    sleep 0.1
  done
  "$CPB" run -j 1 "$spec" >"$BATS_TEST_TMPDIR/run.out" 2>&1 &
  RUN_PID=$!
  for _ in $(seq 1 150); do
    "$CPB" status farm >/dev/null 2>&1 && break
    sleep 0.2
  done
  run env SERVE_URL="$(sed -n 's/^cpb serve: open //p' "$out")" BATCH="$(id -un)/farm" TASKS=8 \
    ARTIFACTS="$ARTIFACTS" node "$BROWSER_DIR/serve-page.mjs"
  echo "$output"
  [ "$status" -eq 0 ] || { cat "$BATS_TEST_TMPDIR/serve.err" "$BATS_TEST_TMPDIR/run.out" >&2; return 1; }
  wait "$RUN_PID"
  RUN_PID=
  for f in 01-overview 02-batch 03-log 04-done; do
    [ -s "$ARTIFACTS/$f.png" ] || { echo "no screenshot $f.png" >&2; return 1; }
  done
}
