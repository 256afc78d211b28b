#!/usr/bin/env bats
# jobs.yaml as a user meets it: `cpb template` gives a file that plans as it is, and bad
# files are refused before anything reaches Podman, with every problem as FILE:LINE:COL
# and exit code 2.
load helpers

setup_file() { cpb_service_start; }
teardown_file() { cpb_service_stop; }

setup() {
  WORK=$(mktemp -d "$BATS_FILE_TMPDIR/jobs.XXXXXX")
  cd "$WORK"
}

# The template's example image, swapped for the private service's base image.
template_here() {
  "$CPB" template "$@" | sed 's|worker-base:1.0|localhost/cpb-busybox:latest|' > jobs.yaml
}

@test "cpb template --help follows the help format" {
  run_cpb template --help
  assert_success
  [ "${lines[0]}" = "Usage: cpb template [--minimal]" ]
  assert_contains "$output" "  -m, --minimal"
  run_cpb template --bogus
  assert_failure 2
  run_cpb template extra-argument
  assert_failure 2
  assert_contains "$stderr" "unexpected argument 'extra-argument'"
}

@test "the template plans as it is: 12 matrix tasks, initialize and reduce" {
  template_here
  assert_contains "$(cat jobs.yaml)" "# "
  run_cpb run --dry-run --json jobs.yaml
  assert_success
  assert_contains "$output" '"batch":"my-sweep"'
  assert_contains "$output" '"name":"run-0.5-1"'
  assert_contains "$output" '"name":"run-2-4"'
  assert_contains "$output" '"name":"reduce"'
  assert_contains "$output" '"name":"initialize"'
  [ "$(printf '%s' "$output" | grep -o '"group":"tasks"' | wc -l)" -eq 12 ]
}

@test "the minimal template plans from standard input" {
  run --separate-stderr sh -c "'$CPB' template --minimal | sed 's|worker-base:1.0|localhost/cpb-busybox:latest|' | '$CPB' run --dry-run -"
  assert_success
  assert_contains "$output" "tasks-1"
  assert_contains "$output" "tasks-3"
}

@test "a bad file lists every problem as FILE:LINE:COL and exits 2, touching nothing" {
  cat > jobs.yaml <<'YAML'
batch: bad
defaults:
  image: localhost/cpb-busybox:latest
  timeout: forever
  seccomp: {profile: strikt, deny: [nosuchcall]}
taks: {command: x}
tasks:
  matrix:
    alpha: [1, 2]
  command: echo {alpah}
YAML
  run_cpb run --dry-run jobs.yaml
  assert_failure 2
  assert_contains "$stderr" "jobs.yaml:4:12: defaults: 'timeout' must be a duration"
  assert_contains "$stderr" "jobs.yaml:5:22: defaults: seccomp: profile 'strikt' is not one of default, strict, none (did you mean 'strict'?)"
  assert_contains "$stderr" "jobs.yaml:5:37: defaults: seccomp: deny: 'nosuchcall': unknown system call"
  assert_contains "$stderr" "jobs.yaml:6:1: unknown key 'taks' (did you mean 'tasks'?)"
  assert_contains "$stderr" "jobs.yaml:10:17: group 'tasks': unknown parameter '{alpah}' (did you mean '{alpha}'?)"
  cd /  # the test user cannot enter this test's directory
  cd / && run tpodman ps -a --format "{{.Names}}"
  assert_success
  [ -z "$output" ]
}

@test "duplicate task names are refused with both positions" {
  cat > jobs.yaml <<'YAML'
batch: dup
defaults: {image: localhost/cpb-busybox:latest}
tasks:
  matrix:
    alpha: [1, 2]
    beta: [x, y]
  name: t-{alpha}
  command: "true"
YAML
  run_cpb run --dry-run jobs.yaml
  assert_failure 2
  assert_contains "$stderr" "jobs.yaml:7:9: group 'tasks': duplicate task name 't-1' (alpha=1 beta=y; the other: alpha=1 beta=x, at jobs.yaml:5:5)"
}

@test "groups waiting for each other in a cycle are refused" {
  cat > jobs.yaml <<'YAML'
batch: cycle
defaults: {image: localhost/cpb-busybox:latest}
groups:
  a: {after: [b], command: "true"}
  b: {inputs_from: [a], command: "true"}
YAML
  run_cpb run --dry-run jobs.yaml
  assert_failure 2
  assert_contains "$stderr" "jobs.yaml:4:3: groups wait for each other in a cycle: 'a' -> 'b' -> 'a'"
}

@test "a missing input, also one named by a parameter, is refused at its line" {
  mkdir -p data && echo 1 > data/in-1.txt
  cat > jobs.yaml <<'YAML'
batch: inputs
defaults: {image: localhost/cpb-busybox:latest}
tasks:
  matrix:
    n: [1, 2]
  inputs: ["data/in-{n}.txt"]
  command: cat in-{n}.txt
YAML
  run_cpb run --dry-run jobs.yaml
  assert_failure 2
  assert_contains "$stderr" "jobs.yaml:6:12: input 'data/in-2.txt' (from 'data/in-{n}.txt'): No such file or directory"
  assert_not_contains "$stderr" "in-1.txt'"
  echo 2 > data/in-2.txt
  run_cpb run --dry-run jobs.yaml
  assert_success
}

@test "a file that is not YAML is refused with its position" {
  printf 'batch: [unclosed\ntasks: x\n' > jobs.yaml
  run_cpb run --dry-run jobs.yaml
  assert_failure 2
  assert_contains "$stderr" "jobs.yaml:"
  run_cpb run --dry-run does-not-exist.yaml
  assert_failure
  assert_contains "$stderr" "does-not-exist.yaml"
}

@test "tasks see their parameters, initialize's outputs and the shared inputs; reduce sees every task" {
  chmod 0755 "$WORK"
  echo 3 > factor.txt
  cat > jobs.yaml <<'YAML'
batch: params-reach
defaults:
  image: localhost/cpb-busybox:latest
  timeout: 1m
inputs: [factor.txt]
outputs: ["*.csv"]
initialize:
  command: seq 1 3 > points.txt
  outputs: [points.txt]
tasks:
  matrix:
    alpha: [1, 2]
    learning-rate: [0.5]
  name: run-{alpha}
  command: >-
    awk -v a={alpha} -v f=$(cat factor.txt) '{{ print a * f * $1 }' points.txt > result.csv &&
    echo "$CPB_TASK_NAME $CPB_TASK_INDEX $alpha $CPB_PARAM_LEARNING_RATE {learning-rate}" > env.csv
groups:
  reduce:
    inputs_from: [tasks]
    command: cat tasks/run-1/result.csv tasks/run-2/result.csv > all.csv
YAML
  run_cpb run jobs.yaml
  assert_success
  run_cpb fetch params-reach -o out
  assert_success
  [ "$(cat out/run-2/env.csv)" = "run-2 1 2 0.5 0.5" ]
  [ "$(tr '\n' ' ' < out/run-2/result.csv)" = "6 12 18 " ]
  [ "$(tr '\n' ' ' < out/reduce/all.csv)" = "3 6 9 6 12 18 " ]
}

@test "groups on different images run in one batch, each task on its own image" {
  # Regression: the run kept tasks' image pointers into an array it grew with realloc,
  # so a second image crashed cpb (specs/examples/jobs.yaml uses three).
  chmod 0755 "$WORK"
  (cd / && tpodman tag localhost/cpb-busybox:latest localhost/cpb-busybox:second)
  cat > jobs.yaml <<'YAML'
batch: two-images
defaults:
  image: localhost/cpb-busybox:latest
  timeout: 1m
outputs: ["*.txt"]
tasks:
  matrix:
    n: [1, 2, 3]
  name: first-{n}
  command: echo {n} > n.txt
groups:
  other:
    image: localhost/cpb-busybox:second
    inputs_from: [tasks]
    command: cat tasks/first-*/n.txt > all.txt
YAML
  run_cpb run jobs.yaml
  assert_success
  run_cpb fetch two-images -o out
  assert_success
  [ "$(tr '\n' ' ' < out/other/all.txt)" = "1 2 3 " ]
  cd / && run tpodman ps -a --format "{{.Names}}"
  [ -z "$output" ]
}

@test "a directory input arrives whole; a change deep inside it reruns the task" {
  chmod 0755 "$WORK"
  mkdir -p tree/sub/deeper
  echo top > tree/a.txt
  echo deep > tree/sub/deeper/b.txt
  cat > jobs.yaml <<'YAML'
batch: dir-input
defaults:
  image: localhost/cpb-busybox:latest
  timeout: 1m
inputs:
  - src: tree
    dest: data
outputs: ["listing.txt"]
tasks:
  list:
    - name: walk
      command: (cd data && find . -type f | sort && cat a.txt sub/deeper/b.txt) > listing.txt
YAML
  run_cpb run jobs.yaml
  assert_success
  run_cpb fetch dir-input -o out
  assert_success
  [ "$(tr '\n' ' ' < out/walk/listing.txt)" = "./a.txt ./sub/deeper/b.txt top deep " ]
  run_cpb run --dry-run jobs.yaml
  assert_success
  assert_contains "$output" "0 to run, 1 up to date"
  echo deeper > tree/sub/deeper/b.txt
  run_cpb run --dry-run jobs.yaml
  assert_success
  assert_contains "$output" "1 to run, 0 up to date"
}

@test "specs/jobs.schema.json accepts the template and the example, and flags a typo" {
  python3 -c 'import jsonschema, yaml' 2>/dev/null || skip "python3 jsonschema and yaml modules not installed"
  "$CPB" template > full.yaml
  "$CPB" template --minimal > minimal.yaml
  printf 'batch: b\ntasks:\n  comand: x\n' > typo.yaml
  cat > check.py <<'PY'
import json, sys, yaml, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
v = jsonschema.Draft202012Validator(schema)
for f in sys.argv[2:]:
    errors = list(v.iter_errors(yaml.safe_load(open(f))))
    print(f, "valid" if not errors else "invalid")
PY
  run python3 check.py "$CPB_SRC/specs/jobs.schema.json" full.yaml minimal.yaml \
    "$CPB_SRC/specs/examples/jobs.yaml" typo.yaml
  assert_success
  assert_contains "$output" "full.yaml valid"
  assert_contains "$output" "minimal.yaml valid"
  assert_contains "$output" "examples/jobs.yaml valid"
  assert_contains "$output" "typo.yaml invalid"
}
