#!/usr/bin/env bats
# cpb status reads only the state database: these need no Podman service.
load helpers

setup() {
  export XDG_DATA_HOME=$BATS_TEST_TMPDIR/data XDG_CONFIG_HOME=$BATS_TEST_TMPDIR/config
  unset CPB_STATE_DB
}

@test "cpb status on a machine with no runs says so, and --json gives an empty list" {
  run_cpb status
  assert_success
  assert_contains "$output" "no batches yet"
  run_cpb status --json
  assert_success
  [ "$output" = '{"batches":[]}' ]
}

@test "cpb status of an unknown batch is an error naming it" {
  run_cpb status nosuchbatch
  assert_failure 1
  assert_contains "$stderr" "nosuchbatch"
}
