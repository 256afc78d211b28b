#!/usr/bin/env bats
# The binary answers for itself: version, help, unknown verbs.
load helpers

@test "cpb version prints the version, and --json a document" {
  run_cpb version
  assert_success
  assert_contains "$output" "cpb "
  run_cpb version --json
  assert_success
  assert_contains "$output" '"version"'
}

@test "an unknown verb is a usage error (exit 2)" {
  run_cpb frobnicate
  assert_failure 2
  assert_contains "$stderr" "'frobnicate' is not a cpb verb"
}

@test "cpb help VERB shows that verb's help" {
  run_cpb help version
  assert_success
  assert_contains "$output" "Usage: cpb version"
}

@test "a bad option of any verb is named once, after 'cpb VERB', with the reason, exit 2" {
  local v verbs
  verbs=$("$CPB" --help | sed -n '/^Verbs:/,/^[^ ]/p' | sed -n 's/^  \([a-z][a-z0-9-]*\) .*/\1/p')
  [ -n "$verbs" ]
  for v in $verbs; do
    run_cpb "$v" --no-such-option
    assert_failure 2
    [ "$stderr" = "cpb $v: unrecognized option '--no-such-option'
Try 'cpb $v --help' for more information." ] || { echo "cpb $v said: $stderr" >&2; return 1; }
  done
  # A known option without its argument is not "unknown".
  run_cpb build -j
  assert_failure 2
  assert_contains "$stderr" "cpb build: option requires an argument -- 'j'"
  assert_not_contains "$stderr" "unknown option"
}
