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
