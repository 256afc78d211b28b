#!/usr/bin/env bats
# cpb export: an image cpb built, saved as an archive that other tools read (skopeo here,
# Apptainer on clusters).
load helpers

setup_file() {
  cpb_service_start
  export SPECS=$BATS_FILE_TMPDIR/specs
  mkdir -p "$SPECS"
  cat > "$SPECS/pods.yaml" <<'EOF'
images:
  - name: exported
    from: localhost/cpb-busybox:latest
    capabilities: [export-test]
    run:
      - echo exported > /exported
    cmd: [cat, /exported]
EOF
  "$CPB" build "$SPECS/pods.yaml" >/dev/null 2>&1 || return 1
}

teardown_file() {
  cpb_service_stop
}

@test "export to an OCI archive that skopeo reads, labels included" {
  local out=$BATS_FILE_TMPDIR/exported.tar
  run_cpb export exported -o "$out"
  assert_success
  [ -s "$out" ]
  run skopeo inspect "oci-archive:$out"
  [ "$status" -eq 0 ]
  assert_contains "$output" '"io.cpb.capabilities": "export-test"'
  assert_contains "$output" '"io.cpb.image": "exported"'
  # No temporary file left next to it.
  [ "$(ls "$BATS_FILE_TMPDIR" | grep -c '^exported.tar')" -eq 1 ]
}

@test "--format docker-archive writes an archive docker load and skopeo read" {
  local out=$BATS_FILE_TMPDIR/exported-docker.tar
  run_cpb export --format docker-archive localhost/exported:latest -o "$out"
  assert_success
  run skopeo inspect "docker-archive:$out"
  [ "$status" -eq 0 ]
  assert_contains "$output" '"io.cpb.image": "exported"'
  tar -tf "$out" | grep -q '^manifest.json$'
}

@test "an exported archive loads back into Podman and runs" {
  local out=$BATS_FILE_TMPDIR/exported.tar
  [ -s "$out" ] || "$CPB" export exported -o "$out"
  tpodman rmi -f localhost/exported:latest >/dev/null
  # On stdin: the service's user cannot read bats' private temporary directory.
  run tpodman load -q < "$out"
  [ "$status" -eq 0 ]
  run tpodman run --rm "$(echo "$output" | sed -n 's/^Loaded image: //p' | head -1)"
  [ "$output" = "exported" ]
}

@test "an unknown image exits 2 and leaves no file; bad usage exits 2" {
  local out=$BATS_FILE_TMPDIR/missing.tar
  run_cpb export no-such-image -o "$out"
  assert_failure 2
  assert_contains "$stderr" "no image 'no-such-image'"
  [ ! -e "$out" ]
  run_cpb export exported
  assert_failure 2
  assert_contains "$stderr" "no output file given"
  run_cpb export --format tarball exported -o "$out"
  assert_failure 2
  run_cpb export --help
  assert_success
  assert_contains "$output" "Usage: cpb export"
}
