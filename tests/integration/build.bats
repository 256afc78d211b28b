#!/usr/bin/env bats
# cpb build: images from pods.yaml through a private rootless Podman service, with labels,
# incremental rebuilds, failures traced back to the spec, recipes and url files.
load helpers

setup_file() {
  cpb_service_start
  # A copy the tests may edit: the sources under version control stay untouched.
  export SPECS=$BATS_FILE_TMPDIR/specs
  cp -r "$BATS_TEST_DIRNAME/data/build" "$SPECS"
}

teardown_file() {
  cpb_service_stop
}

label() { # IMAGE KEY
  tpodman image inspect --format "{{index .Labels \"$2\"}}" "$1"
}

image_id() {
  tpodman image inspect --format '{{.Id}}' "$1"
}

@test "cpb build builds every image of the spec, with cpb's labels and the user's" {
  run_cpb build "$SPECS/pods.yaml"
  assert_success
  assert_contains "$stderr" "localhost/greeter:latest: built"
  assert_contains "$stderr" "localhost/child:2: built"
  assert_contains "$stderr" "2 built, 0 up to date, 0 failed"

  [ "$(label localhost/greeter:latest io.cpb.capabilities)" = "greet,posix-sh" ]
  [ "$(label localhost/greeter:latest io.cpb.image)" = "greeter" ]
  [ "$(label localhost/greeter:latest io.cpb.source)" = "$SPECS/pods.yaml" ]
  [ "$(label localhost/greeter:latest io.cpb.version)" = "$("$CPB" version | cut -d' ' -f2)" ]
  [[ "$(label localhost/greeter:latest io.cpb.spec-hash)" =~ ^[0-9a-f]{64}$ ]]
  [ "$(label localhost/greeter:latest org.example.owner)" = "test suite" ]
  [ "$(label localhost/child:2 io.cpb.capabilities)" = "greet" ]
  [ "$(label localhost/child:2 io.cpb.image)" = "child" ]
}

@test "the built image holds the spec's files, modes, env, run results and helper" {
  run tpodman run --rm localhost/greeter:latest sh -c \
    'cat /opt/greeter/hello.txt; stat -c %a /opt/greeter/hello.txt; cat /opt/tree/sub/b; pwd; cat /opt/greeting; test -x /usr/local/libexec/cpb/cpb-helper && echo helper'
  [ "$status" -eq 0 ]
  [ "$output" = "$(printf 'hello v1\n640\nb\n/opt\nhello from cpb\nhelper')" ]
  # cmd in shell form and a build argument baked in by a run step.
  run tpodman run --rm localhost/child:2
  [ "$status" -eq 0 ]
  [ "$output" = "$(printf 'plain\nhello from cpb')" ]
}

@test "an unchanged spec is not rebuilt: every image is up to date" {
  local before; before=$(image_id localhost/child:2)
  run_cpb build --json "$SPECS/pods.yaml"
  assert_success
  assert_contains "$output" '"event":"skipped","image":"greeter"'
  assert_contains "$output" '"event":"skipped","image":"child"'
  assert_contains "$output" '"text":"up to date"'
  assert_not_contains "$output" '"event":"start"'
  [ "$(image_id localhost/child:2)" = "$before" ]
}

@test "--dry-run prints the Containerfiles and what would build, and builds nothing" {
  echo "hello v2" > "$SPECS/data/hello.txt"
  local before; before=$(image_id localhost/greeter:latest)
  run_cpb build --dry-run "$SPECS/pods.yaml"
  assert_success
  assert_contains "$output" "# localhost/greeter:latest: would build"
  assert_contains "$output" "# localhost/child:2: would build"
  assert_contains "$output" 'COPY --chmod=0640 ["files/0/hello.txt", "/opt/greeter/hello.txt"]'
  assert_contains "$output" "FROM localhost/greeter:latest"
  [ "$(image_id localhost/greeter:latest)" = "$before" ]
}

@test "a changed file rebuilds its image and the images built on it" {
  echo "hello v2" > "$SPECS/data/hello.txt"
  local greeter child
  greeter=$(image_id localhost/greeter:latest)
  child=$(image_id localhost/child:2)
  run_cpb build "$SPECS/pods.yaml"
  assert_success
  assert_contains "$stderr" "2 built, 0 up to date"
  [ "$(image_id localhost/greeter:latest)" != "$greeter" ]
  [ "$(image_id localhost/child:2)" != "$child" ]
  run tpodman run --rm localhost/greeter:latest cat /opt/greeter/hello.txt
  [ "$output" = "hello v2" ]
}

@test "a change deep in a copied directory is noticed; naming an image builds only it and its bases" {
  echo "b2" > "$SPECS/data/tree/sub/b"
  run_cpb build "$SPECS/pods.yaml" greeter
  assert_success
  assert_contains "$stderr" "localhost/greeter:latest: built"
  assert_not_contains "$stderr" "localhost/child:2"
  run_cpb build "$SPECS/pods.yaml" child
  assert_success
  assert_contains "$stderr" "localhost/greeter:latest: up to date"
  assert_contains "$stderr" "localhost/child:2: built"
}

@test "a base given as a reference that now names another image rebuilds what is built on it" {
  tpodman tag localhost/cpb-busybox:latest localhost/extbase:latest
  printf 'images:\n  - name: onext\n    from: localhost/extbase:latest\n    run: [echo on-ext]\n' > "$SPECS/ext.yaml"
  run_cpb build "$SPECS/ext.yaml"
  assert_success
  run_cpb build "$SPECS/ext.yaml"
  assert_success
  assert_contains "$stderr" "localhost/onext:latest: up to date"
  # Same name, another image: the base's digest changed, so the image is stale.
  tpodman create --name cpb-extbase-src localhost/cpb-busybox:latest true >/dev/null
  tpodman commit -q cpb-extbase-src localhost/extbase:latest >/dev/null
  tpodman rm cpb-extbase-src >/dev/null
  run_cpb build "$SPECS/ext.yaml"
  assert_success
  assert_contains "$stderr" "localhost/onext:latest: built"
  [ "$(label localhost/onext:latest io.cpb.source)" = "$SPECS/ext.yaml" ]
}

@test "independent images build at once (-j), an image only after its base, -j 1 one at a time" {
  cat > "$SPECS/conc.yaml" <<'EOF'
images:
  - name: slow-a
    from: localhost/cpb-busybox:latest
    run: [sleep 2]
  - name: slow-b
    from: localhost/cpb-busybox:latest
    run: [sleep 2]
  - name: on-a
    from: slow-a
    run: [echo on-a]
EOF
  # The order of start and done events: a two-second step leaves ample time to overlap.
  order() { jq -r 'select(.event == "start" or .event == "done") | .event + ":" + .image' | paste -sd' '; }
  run_cpb build --json -j 2 "$SPECS/conc.yaml"
  assert_success
  local seq; seq=$(order <<<"$output")
  case $seq in
    "start:slow-a start:slow-b "*) ;;
    "start:slow-b start:slow-a "*) ;;
    *) echo "not concurrent: $seq" >&2; return 1 ;;
  esac
  [[ $seq == *"done:slow-a"*"start:on-a"* ]] || { echo "on-a before its base: $seq" >&2; return 1; }
  run_cpb build --json -j 1 --force "$SPECS/conc.yaml"
  assert_success
  seq=$(order <<<"$output")
  # One at a time: each start is followed by that image's done.
  local -a ev; read -ra ev <<<"$seq"
  [ "${#ev[@]}" -eq 6 ] || { echo "events: $seq" >&2; return 1; }
  for i in 0 2 4; do
    [ "${ev[i]}" = "start:${ev[i+1]#done:}" ] || { echo "-j 1 overlapped: $seq" >&2; return 1; }
  done
}

@test "Ctrl-C during a step: exit 130 at once, no image, and nothing left in storage" {
  printf 'images:\n  - name: sleepy\n    from: localhost/cpb-busybox:latest\n    run: [sleep 8]\n' > "$SPECS/sleepy.yaml"
  local errf=$BATS_TEST_TMPDIR/err before
  before=$(tpodman ps -a --external -q | wc -l)
  "$CPB" build "$SPECS/sleepy.yaml" 2>"$errf" &
  local pid=$!
  for _ in $(seq 100); do grep -q 'STEP 2/' "$errf" && break; sleep 0.1; done
  grep -q 'STEP 2/' "$errf" || { kill "$pid"; cat "$errf" >&2; return 1; }
  local t0=$SECONDS status=0
  kill -INT "$pid"
  wait "$pid" || status=$?
  [ "$status" -eq 130 ] || { echo "exit $status" >&2; cat "$errf" >&2; return 1; }
  [ $((SECONDS - t0)) -le 5 ]
  grep -q "interrupted" "$errf"
  # Podman finishes the step on its own; then its working container goes, and no image
  # is tagged.
  for _ in $(seq 40); do
    [ "$(tpodman ps -a --external -q | wc -l)" -eq "$before" ] && break
    sleep 0.5
  done
  [ "$(tpodman ps -a --external -q | wc -l)" -eq "$before" ]
  run tpodman image exists localhost/sleepy:latest
  [ "$status" -ne 0 ]
}

@test "--force rebuilds an image that is up to date" {
  run_cpb build --force "$SPECS/pods.yaml" greeter
  assert_success
  assert_contains "$stderr" "localhost/greeter:latest: built"
}

@test "on a terminal one line per image is redrawn with its current step; plain lines otherwise" {
  printf 'images:\n  - name: ttyimg\n    from: localhost/cpb-busybox:latest\n    run:\n      - echo tty-step-one\n      - echo tty-step-two\n' > "$SPECS/tty.yaml"
  # script(1) gives cpb a terminal; its output is the terminal's.
  run script -qec "'$CPB' build '$SPECS/tty.yaml'" /dev/null
  [ "$status" -eq 0 ] || { echo "$output" >&2; return 1; }
  assert_contains "$output" $'\e[1A\e[2Klocalhost/ttyimg:latest: step 3/'
  assert_contains "$output" "localhost/ttyimg:latest: built"
  assert_contains "$output" "1 built, 0 up to date"
  run_cpb build --force "$SPECS/tty.yaml"
  assert_success
  assert_contains "$stderr" "localhost/ttyimg:latest: STEP 3/"
  assert_not_contains "$stderr" $'\e['
}

@test "a failing run step shows its output and the spec line it came from; others still build" {
  local before; before=$(tpodman ps -a --external -q | wc -l)
  run_cpb build "$SPECS/failing.yaml"
  assert_failure 1
  assert_contains "$stderr" "failing.yaml:7:9: image 'broken': 'run' step 2 failed (exit 3): echo \"compiling solver\""
  assert_contains "$stderr" "  | compiling solver"
  assert_contains "$stderr" "  | solver.c:3: error: missing semicolon"
  assert_not_contains "$stderr" "never reached"
  assert_contains "$stderr" "not built: its base 'broken' failed"
  assert_contains "$stderr" "localhost/independent:latest: built"
  run tpodman image exists localhost/broken:latest
  [ "$status" -ne 0 ]
  # The failed step's working container is not left behind in storage.
  [ "$(tpodman ps -a --external -q | wc -l)" -eq "$before" ]
}

@test "--json reports a failed step with its output for scripts" {
  run_cpb build --json "$SPECS/failing.yaml" broken
  assert_failure 1
  assert_contains "$output" '"event":"failed","image":"broken"'
  assert_contains "$output" '"output":['
  assert_contains "$output" 'solver.c:3: error: missing semicolon'
  assert_contains "$output" "failing.yaml:7:9: image 'broken': 'run' step 2 failed (exit 3)"
}

@test "from: recipe:busybox makes the base from the recipe once, again only when it changes" {
  export CPB_IMAGES_DIR=$BATS_FILE_TMPDIR/images
  cp -r "$CPB_SRC/images" "$CPB_IMAGES_DIR"
  run_cpb build "$SPECS/recipe.yaml"
  assert_success
  assert_contains "$stderr" "localhost/cpb-base-busybox:latest: making it with images/busybox/recipe.sh"
  [[ "$(label localhost/cpb-base-busybox:latest io.cpb.recipe-hash)" =~ ^[0-9a-f]{64}$ ]]
  run tpodman run --rm localhost/on-recipe:latest cat /ok
  [ "$output" = "ok" ]

  run_cpb build "$SPECS/recipe.yaml"
  assert_success
  assert_not_contains "$stderr" "making it"
  assert_contains "$stderr" "localhost/on-recipe:latest: up to date"

  echo "# changed" >> "$CPB_IMAGES_DIR/busybox/changes"
  run_cpb build "$SPECS/recipe.yaml"
  assert_success
  assert_contains "$stderr" "making it with images/busybox/recipe.sh"
  assert_contains "$stderr" "localhost/on-recipe:latest: built"
}

@test "a url file is fetched once by its sha256, and a wrong digest is refused" {
  local www=$BATS_FILE_TMPDIR/www sum port=$((20000 + RANDOM % 20000))
  mkdir -p "$www"
  echo "fetched payload" > "$www/payload.txt"
  sum=$(sha256sum "$www/payload.txt" | cut -d' ' -f1)
  busybox httpd -f -p "127.0.0.1:$port" -h "$www" 3>&- &
  local httpd=$!
  cat > "$SPECS/url.yaml" <<EOF
images:
  - name: fetched
    from: localhost/cpb-busybox:latest
    files:
      - url: http://127.0.0.1:$port/payload.txt
        sha256: $sum
        dest: /opt/
EOF
  run_cpb build "$SPECS/url.yaml"
  kill "$httpd"
  assert_success
  [ -f "$XDG_CACHE_HOME/cpb/downloads/sha256/$sum" ]
  run tpodman run --rm localhost/fetched:latest cat /opt/payload.txt
  [ "$output" = "fetched payload" ]

  # The server is gone: the cache serves a rebuild.
  run_cpb build --force "$SPECS/url.yaml"
  assert_success

  # A digest that does not match what the server sends is refused, and nothing is cached.
  busybox httpd -f -p "127.0.0.1:$port" -h "$www" 3>&- &
  httpd=$!
  sed -i "s/$sum/$(printf '0%.0s' $(seq 64))/" "$SPECS/url.yaml"
  run_cpb build "$SPECS/url.yaml"
  kill "$httpd"
  assert_failure 2
  assert_contains "$stderr" "url.yaml:5:9: image 'fetched'"
  assert_contains "$stderr" "has sha256 $sum, the spec says 0000"
  [ ! -e "$XDG_CACHE_HOME/cpb/downloads/sha256/$(printf '0%.0s' $(seq 64))" ]
}

@test "cpb images lists what cpb built with capabilities, and --json for scripts" {
  run_cpb images
  assert_success
  assert_contains "$output" "IMAGE"
  assert_contains "$output" "localhost/greeter:latest"
  assert_contains "$output" "greet,posix-sh"
  assert_not_contains "$output" "cpb-busybox"
  run_cpb images --json
  assert_success
  assert_contains "$output" '"name":"localhost/child:2"'
  assert_contains "$output" '"capabilities":["greet"]'
  run_cpb images --all
  assert_contains "$output" "localhost/cpb-base-busybox:latest"
  assert_contains "$output" "(recipe base)"
}

@test "bad input: an unknown image name or a broken spec exits 2, nothing reaches Podman" {
  run_cpb build "$SPECS/pods.yaml" no-such-image
  assert_failure 2
  assert_contains "$stderr" "unknown image 'no-such-image'"
  printf 'images:\n  - name: x\n    form: y\n' > "$SPECS/bad.yaml"
  run_cpb build "$SPECS/bad.yaml"
  assert_failure 2
  assert_contains "$stderr" "bad.yaml:3:"
  # The spec is checked before any connection: with no service at all it is still exit 2.
  CPB_PODMAN_URL=unix://$BATS_FILE_TMPDIR/nothing.sock run_cpb build "$SPECS/bad.yaml"
  assert_failure 2
  # With --json a script reading stdout learns why too.
  run_cpb build --json "$SPECS/bad.yaml"
  assert_failure 2
  [ "$(jq -r .event <<<"$output")" = error ]
  [ "$(jq -r .exit <<<"$output")" = 2 ]
  assert_contains "$(jq -r .error <<<"$output")" "bad.yaml:3:"
  # A spec that is not there, or not a file, is bad input too.
  run_cpb build "$SPECS/no-such-spec.yaml"
  assert_failure 2
  assert_contains "$stderr" "cannot open '$SPECS/no-such-spec.yaml': No such file or directory"
  run_cpb build "$SPECS"
  assert_failure 2
  run_cpb build
  assert_failure 2
}

@test "specs/pods.schema.json: the examples are valid, a typo is not, and it knows every key cpb and docs know" {
  python3 -c 'import jsonschema, yaml' 2>/dev/null || skip "python3 jsonschema and yaml modules not installed"
  local dir=$BATS_TEST_TMPDIR
  printf 'images:\n  - name: a\n    from: b\n    capabilitys: [x]\n' > "$dir/typo.yaml"
  cat > "$dir/check.py" <<'PY'
import json, re, sys, yaml, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
v = jsonschema.Draft202012Validator(schema)
for f in sys.argv[3:]:
    errors = list(v.iter_errors(yaml.safe_load(open(f))))
    print(f, "valid" if not errors else "invalid")
keys = set(schema["$defs"]["image"]["properties"]) - {"<<"}
documented = set(re.findall(r"^### `(\w+)`(?: and `(\w+)`)?", open(sys.argv[2]).read(), re.M))
documented = {k for pair in documented for k in pair if k}
print("undocumented:", " ".join(sorted(keys - documented)) or "none")
print("not in schema:", " ".join(sorted(documented - keys)) or "none")
print("keys:", " ".join(sorted(keys)))
PY
  run python3 "$dir/check.py" "$CPB_SRC/specs/pods.schema.json" "$CPB_SRC/docs/spec-pods.md" \
    "$CPB_SRC/specs/examples/pods.yaml" "$CPB_SRC/specs/examples/pods-debian.yaml" \
    "$SPECS/pods.yaml" "$dir/typo.yaml"
  assert_success
  assert_contains "$output" "examples/pods.yaml valid"
  assert_contains "$output" "examples/pods-debian.yaml valid"
  assert_contains "$output" "$SPECS/pods.yaml valid"
  assert_contains "$output" "typo.yaml invalid"
  assert_contains "$output" "undocumented: none"
  assert_contains "$output" "not in schema: none"
  # Every image key the schema offers an editor is one cpb accepts.
  local keys; keys=$(sed -n 's/^keys: //p' <<<"$output")
  [ -n "$keys" ]
  for k in $keys; do
    printf 'images:\n  - name: a\n    from: b\n    %s: null\n' "$k" > "$dir/key.yaml"
    run_cpb build --dry-run "$dir/key.yaml"
    assert_not_contains "$stderr" "unknown key '$k'"
  done
}

@test "the quickstart's example (specs/examples/pods.yaml) builds offline, and its workers work" {
  run_cpb build "$CPB_SRC/specs/examples/pods.yaml"
  assert_success
  assert_contains "$stderr" "3 built, 0 up to date, 0 failed"
  [ "$(label localhost/worker-stats:latest io.cpb.capabilities)" = "stats,csv" ]
  [ "$(label localhost/worker-montecarlo:latest io.cpb.capabilities)" = "montecarlo" ]
  run tpodman run --rm localhost/worker-montecarlo:latest mc-pi --seed 3 --samples 2000
  [ "$status" -eq 0 ]
  [[ "$output" == *"pi 3."* ]] || { echo "$output" >&2; return 1; }
  run bash -c "printf 'x\n4\n6\n' | '$CPB_SERVICE_SH' podman '$CPB_TEST_SVC' run -i --rm localhost/worker-stats:latest --column 1 --header"
  [ "$status" -eq 0 ]
  [[ "$output" == *"mean 5"* ]] || { echo "$output" >&2; return 1; }
  run_cpb images
  assert_success
  assert_contains "$output" "localhost/worker-base:1.0"
  run_cpb build "$CPB_SRC/specs/examples/pods.yaml"
  assert_success
  assert_contains "$stderr" "0 built, 3 up to date"
}

@test "an unreachable service exits 3" {
  CPB_PODMAN_URL=unix://$BATS_FILE_TMPDIR/nothing.sock run_cpb build "$SPECS/pods.yaml"
  assert_failure 3
  CPB_PODMAN_URL=unix://$BATS_FILE_TMPDIR/nothing.sock run_cpb build --json "$SPECS/pods.yaml"
  assert_failure 3
  [ "$(jq -c '{event, exit}' <<<"$output")" = '{"event":"error","exit":3}' ]
}

# Slow (about two minutes) and needs Debian's mirror: run with CPB_TEST_DEBIAN=1.
@test "from: recipe:debian builds a Debian base with mmdebstrap and installs apt packages" {
  [ -n "${CPB_TEST_DEBIAN:-}" ] || skip "set CPB_TEST_DEBIAN=1 (needs the Debian mirror, ~2 min)"
  cat > "$SPECS/debian.yaml" <<'YAML'
images:
  - name: deb-python
    from: recipe:debian
    capabilities: [python3]
    packages:
      manager: apt
      install: [python3-minimal]
    run:
      - python3 -c 'print("built with", 6 * 7)'
YAML
  run_cpb build "$SPECS/debian.yaml"
  assert_success
  run tpodman run --rm localhost/deb-python:latest sh -c 'python3 -c "print(6 * 7)"; ls /var/lib/apt/lists | wc -l'
  [ "$output" = "$(printf '42\n0')" ]
  run_cpb build "$SPECS/debian.yaml"
  assert_success
  assert_contains "$stderr" "localhost/deb-python:latest: up to date"
}
