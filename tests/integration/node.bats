#!/usr/bin/env bats
# cpb node: nodes.yaml and the ssh transport, against a real sshd on 127.0.0.1 and three
# node users (cpbnode1..3), each with a rootless Podman service of its own and no images.
# What a user checks: nodes added only when they answer, figures that come from the node,
# clear errors naming the node (bad URL, unknown host key, dead host, missing socket,
# refused login), a dead or hung node that does not stall the list, and no ssh left behind.
load helpers

SSHD_SH=$CPB_SRC/tests/lib/sshd.sh

setup_file() {
  [ "$(id -u)" = 0 ] || skip "needs root: sshd and the node users"
  cpb_service_start
  # Short (Podman limits the node services' runroot to 50 characters), with a link from
  # the run's directory so that run-all.sh stops it should this file be killed.
  SSHD_DIR=$(mktemp -d /tmp/cpb-sshd.XXXXXX)
  export SSHD_DIR
  [ -n "${CPB_TEST_TMPDIR:-}" ] && ln -s "$SSHD_DIR" "$CPB_TEST_TMPDIR/$(basename "$SSHD_DIR")"
  "$SSHD_SH" start "$SSHD_DIR" 3
  eval "$("$SSHD_SH" env "$SSHD_DIR")"
  export CPB_SSH_CONFIG CPB_TEST_SSH_PORT
}

teardown_file() {
  [ -n "${SSHD_DIR:-}" ] && "$SSHD_SH" stop "$SSHD_DIR"
  [ -n "${CPB_TEST_TMPDIR:-}" ] && [ -n "${SSHD_DIR:-}" ] && rm -f "$CPB_TEST_TMPDIR/$(basename "$SSHD_DIR")"
  cpb_service_stop
}

setup() {
  eval "$("$SSHD_SH" env "$SSHD_DIR")"
  # Short and private: cpb's ssh directories (sockets) land in XDG_RUNTIME_DIR.
  WORK=$(mktemp -d /tmp/cpb-node.XXXXXX)
  export XDG_CONFIG_HOME=$WORK/config XDG_RUNTIME_DIR=$WORK/xdg
  mkdir -m 0700 "$XDG_RUNTIME_DIR"
  NODES=$XDG_CONFIG_HOME/cpb/nodes.yaml
}

teardown() {
  assert_no_ssh_left
  rm -rf "$WORK"
}

# No ssh of cpb's is left (their command lines name cpb's directory in XDG_RUNTIME_DIR),
# and cpb removed its directories.
assert_no_ssh_left() {
  local left
  left=$(pgrep -af -- "$XDG_RUNTIME_DIR/cpb-ssh-" || true)
  [ -z "$left" ] || { echo "ssh left running: $left" >&2; return 1; }
  left=$(find "$XDG_RUNTIME_DIR" -mindepth 1 -maxdepth 1 -name 'cpb-ssh-*' 2>/dev/null)
  [ -z "$left" ] || { echo "ssh directories left: $left" >&2; return 1; }
}

# A client config like the suite's, plus LINES (a Host block) in front.
ssh_config_with() {
  { printf '%s\n' "$@"; cat "$CPB_SSH_CONFIG"; } >"$WORK/ssh_config"
  echo "$WORK/ssh_config"
}

# as_node I CMD...: run CMD as cpbnodeI with its service's environment.
as_node() {
  local i=$1
  shift
  CPB_TEST_USER=cpbnode$i "$CPB_SERVICE_SH" podman "$SSHD_DIR/node$i" "$@"
}

@test "add checks the node; list --json gives figures that come from the node" {
  run_cpb node add n1 "$CPB_TEST_NODE1_URL" --capability gpu --capability cuda-12 --cpus 1 \
    --max-tasks 2
  assert_success
  assert_contains "$output" "node n1 answers: podman 4."
  assert_contains "$output" "added node n1 to $NODES"
  grep -q 'capabilities: \[gpu, cuda-12\]' "$NODES"

  run_cpb node list --json
  assert_success
  n1=$(jq -c '.nodes[] | select(.name == "n1")' <<<"$output")
  [ "$(jq -r .reachable <<<"$n1")" = true ]
  # The node's own Podman, user and storage, not the local ones.
  [ "$(jq -r .podman_version <<<"$n1")" = "$(as_node 1 version --format '{{.Client.Version}}')" ]
  [ "$(jq -r .rootless <<<"$n1")" = true ]
  [ "$(jq -r .graph_root <<<"$n1")" = "$SSHD_DIR/node1/storage" ]
  [ "$(jq -r .local <<<"$n1")" = false ]
  # nodes.yaml lowers the capacity; the rest comes from the node.
  [ "$(jq -r .cpus <<<"$n1")" = 1 ]
  [ "$(jq -r .max_tasks <<<"$n1")" = 2 ]
  [ "$(jq -r '.capabilities | join(",")' <<<"$n1")" = gpu,cuda-12 ]
  [ "$(jq -r .memory <<<"$n1")" -gt 0 ]
  # Load and memory from the node's /proc (over ssh), and no cpb task there.
  [ "$(jq -r '.load.mem_total' <<<"$n1")" = $(( $(awk '/^MemTotal:/ { print $2 }' /proc/meminfo) * 1024 )) ]
  [ "$(jq -r '.load.mem_available > 0' <<<"$n1")" = true ]
  [ "$(jq -r '.load.load1 >= 0' <<<"$n1")" = true ]
  [ "$(jq -r '.tasks.running' <<<"$n1")" = 0 ]
  # The local node needs no entry and is listed too, with its own service.
  local_node=$(jq -c '.nodes[] | select(.name == "local")' <<<"$output")
  [ "$(jq -r .configured <<<"$local_node")" = false ]
  [ "$(jq -r .reachable <<<"$local_node")" = true ]
  [ "$(jq -r .graph_root <<<"$local_node")" = "$CPB_TEST_SVC/storage" ]
}

@test "list counts cpb's running task containers on a node" {
  tpodman run -d --name cpb-node-task --label io.cpb.task=t1 localhost/cpb-busybox:latest \
    sleep 300 >/dev/null
  run_cpb node list --json local
  tpodman rm -f -t 0 cpb-node-task >/dev/null
  assert_success
  [ "$(jq -r '.nodes | length' <<<"$output")" = 1 ]
  [ "$(jq -r '.nodes[0].tasks.running' <<<"$output")" = 1 ]
}

@test "an ssh config alias is enough: user and port come from the config" {
  run_cpb node add n2 "ssh://node2$CPB_TEST_NODE2_SOCK"
  assert_success
  run_cpb node list
  assert_success
  assert_contains "$output" "n2 "
  [[ $(grep '^n2 ' <<<"$output") == *" up "* ]] || { echo "$output" >&2; return 1; }
  grep -q "url: \"ssh://node2$CPB_TEST_NODE2_SOCK\"" "$NODES"
}

@test "a dead and a hung node are reported without holding up the others" {
  CPB_SSH_CONFIG=$(ssh_config_with 'Host hung' '  HostName 127.0.0.1' \
    "  ProxyCommand sh -c 'cat >/dev/null'")
  export CPB_SSH_CONFIG
  run_cpb node add n1 "$CPB_TEST_NODE1_URL"
  assert_success
  run_cpb node add dead "ssh://cpbnode1@127.0.0.1:1$CPB_TEST_NODE1_SOCK" --no-check
  assert_success
  run_cpb node add hung "ssh://hung/run/podman.sock" --no-check
  assert_success
  run_cpb node list --json --timeout 15
  assert_success
  [ "$(jq -r '.nodes[] | select(.name == "n1") | .reachable' <<<"$output")" = true ]
  [ "$(jq -r '.nodes[] | select(.name == "dead") | .reachable' <<<"$output")" = false ]
  assert_contains "$(jq -r '.nodes[] | select(.name == "dead") | .error' <<<"$output")" \
    "cannot reach cpbnode1@127.0.0.1:1 over ssh: connect to host 127.0.0.1 port 1: Connection refused"
  assert_contains "$(jq -r '.nodes[] | select(.name == "hung") | .error' <<<"$output")" "within 15 s"
}

@test "a bad URL or name is refused before anything is written" {
  run_cpb node add x http://lab1/podman.sock
  assert_failure 2
  assert_contains "$stderr" "bad URL 'http://lab1/podman.sock': unsupported scheme 'http'"
  run_cpb node add x ssh://cpbnode1@127.0.0.1
  assert_failure 2
  assert_contains "$stderr" "no socket path"
  run_cpb node add x "ssh://cpbnode1@127.0.0.1:99999/run/x.sock"
  assert_failure 2
  assert_contains "$stderr" "the port must be a number from 1 to 65535"
  run_cpb node add -- -x "$CPB_TEST_NODE1_URL"
  assert_failure 2
  assert_contains "$stderr" "'-x' cannot be a node name"
  [ ! -e "$NODES" ]
}

@test "an unknown host key is refused with the command that trusts it, and that command works" {
  : >"$WORK/known_hosts"
  CPB_SSH_CONFIG=$(ssh_config_with 'Host *' "  UserKnownHostsFile $WORK/known_hosts")
  export CPB_SSH_CONFIG
  run_cpb node add n1 "$CPB_TEST_NODE1_URL"
  assert_failure 3
  assert_contains "$stderr" "node n1: the host key of cpbnode1@127.0.0.1:$CPB_TEST_SSH_PORT is not known"
  assert_contains "$stderr" "ssh-keyscan -p $CPB_TEST_SSH_PORT 127.0.0.1 | ssh-keygen -lf -"
  assert_contains "$stderr" "trust it: ssh-keyscan -p $CPB_TEST_SSH_PORT 127.0.0.1 >> $WORK/known_hosts"
  assert_contains "$stderr" "not added"
  # Nothing was trusted behind the user's back, and nothing was added.
  [ ! -s "$WORK/known_hosts" ]
  [ ! -e "$NODES" ]
  # The command as printed, run by the user, is all it takes.
  trust=${stderr##*trust it: }
  trust=${trust%%;*}
  eval "$trust" 2>/dev/null
  run_cpb node add n1 "$CPB_TEST_NODE1_URL"
  assert_success
}

@test "a missing remote socket, a dead host and a refused login each name the node" {
  run_cpb node add ghost "ssh://cpbnode1@127.0.0.1:$CPB_TEST_SSH_PORT$SSHD_DIR/node1/nothere.sock"
  assert_failure 3
  assert_contains "$stderr" "node ghost: no Podman socket at $SSHD_DIR/node1/nothere.sock on cpbnode1@127.0.0.1:$CPB_TEST_SSH_PORT"
  run_cpb node add dead "ssh://cpbnode1@127.0.0.1:1/run/podman.sock"
  assert_failure 3
  assert_contains "$stderr" "node dead: cannot reach cpbnode1@127.0.0.1:1 over ssh"
  # cpbtest is no user of this sshd (AllowUsers): the login is refused, without a prompt.
  run_cpb node add refused "ssh://cpbtest@127.0.0.1:$CPB_TEST_SSH_PORT/run/podman.sock"
  assert_failure 3
  assert_contains "$stderr" "node refused: ssh login to cpbtest@127.0.0.1:$CPB_TEST_SSH_PORT refused (cpbtest@127.0.0.1: Permission denied (publickey)); cpb never asks for a password"
  [ ! -e "$NODES" ]
}

@test "check runs the doctor's service checks over the node's connection" {
  run_cpb node add n1 "$CPB_TEST_NODE1_URL"
  assert_success
  run_cpb node check n1
  [ "$status" -eq 0 ] || [ "$status" -eq 1 ] || assert_success
  assert_contains "$output" "service   answers at $CPB_TEST_NODE1_URL"
  assert_contains "$output" "libpod API 4."
  assert_contains "$output" "rootless  the service runs rootless"
  assert_contains "$output" "(read over ssh)"
  run_cpb node check --json n1
  for name in service api rootless runtime storage load; do
    [ "$(jq -r --arg n "$name" '[.checks[] | select(.name == $n)] | length' <<<"$output")" = 1 ] \
      || { echo "no check '$name' in: $output" >&2; return 1; }
  done
  [ "$(jq -r .node <<<"$output")" = n1 ]
  [ "$(jq -r .reachable <<<"$output")" = true ]
  # Advice about a remote node speaks of that node, not of this machine's files.
  if [ "$(jq -r '.checks[] | select(.name == "storage") | .status' <<<"$output")" = warn ]; then
    assert_contains "$(jq -r '.checks[] | select(.name == "storage") | .advice' <<<"$output")" "on node n1"
  fi

  run_cpb node add dead "ssh://cpbnode1@127.0.0.1:1/run/podman.sock" --no-check
  run_cpb node check dead
  assert_failure 3
  assert_contains "$output" "problem  service   cannot reach cpbnode1@127.0.0.1:1 over ssh"
  assert_contains "$output" "node dead: not reachable"
  run_cpb node check nx
  assert_failure 1
  assert_contains "$stderr" "no node 'nx' in $NODES (did you mean 'n1'?)"
}

@test "rm removes only that node's lines; the rest of a hand-written file stays" {
  mkdir -p "$(dirname "$NODES")"
  cat >"$NODES" <<EOF
# my farm
nodes:
  # the first one
  n1:
    url: $CPB_TEST_NODE1_URL   # keep this comment
  # the second one
  n2:
    url: $CPB_TEST_NODE2_URL
    capabilities: [gpu]

# the end
EOF
  run_cpb node rm n2
  assert_success
  assert_contains "$output" "removed node n2 from $NODES"
  expected="# my farm
nodes:
  # the first one
  n1:
    url: $CPB_TEST_NODE1_URL   # keep this comment

# the end"
  [ "$(cat "$NODES")" = "$expected" ] || { diff <(echo "$expected") "$NODES" >&2; return 1; }
  run_cpb node rm n3
  assert_failure 1
  assert_contains "$stderr" "no node 'n3' in $NODES (did you mean 'n1'?)"
  run_cpb node rm local
  assert_failure 2
  assert_contains "$stderr" "the local node has no entry"
}

@test "mistakes in nodes.yaml are FILE:LINE:COL, with the key meant" {
  mkdir -p "$(dirname "$NODES")"
  printf 'nodes:\n  n1:\n    url: %s\n    cpu: 4\n  n2:\n    url: ftp://x/y\n' \
    "$CPB_TEST_NODE1_URL" >"$NODES"
  run_cpb node list
  assert_failure 2
  assert_contains "$stderr" "$NODES:4:5: node 'n1': unknown key 'cpu' (did you mean 'cpus'?)"
  assert_contains "$stderr" "$NODES:6:10: node 'n2': bad URL 'ftp://x/y': unsupported scheme 'ftp'"
  # An edit never writes a file cpb would refuse, nor touches one it refuses.
  before=$(cat "$NODES")
  run_cpb node add n3 "$CPB_TEST_NODE3_URL" --no-check
  assert_failure 2
  [ "$(cat "$NODES")" = "$before" ]
}

@test "import offers Podman's own connections (containers.conf and podman-connections.json)" {
  # Written by Podman itself, as users do (no dialing happens when a path is given).
  export CONTAINERS_CONF=$WORK/containers.conf PODMAN_CONNECTIONS_CONF=$WORK/podman-connections.json
  : >"$CONTAINERS_CONF"
  podman system connection add imp1 "ssh://cpbnode1@127.0.0.1:$CPB_TEST_SSH_PORT$CPB_TEST_NODE1_RUN_SOCK"
  podman system connection add pathless "ssh://cpbnode1@127.0.0.1:$CPB_TEST_SSH_PORT$SSHD_DIR/node1/podman.sock"
  podman system connection add gone "ssh://cpbnode1@127.0.0.1:1/run/podman.sock"
  # Podman 5's file, next to it.
  printf '{"Connection":{"Default":"imp2","Connections":{"imp2":{"URI":"%s","Identity":"%s"}}}}\n' \
    "ssh://cpbnode2@127.0.0.1:$CPB_TEST_SSH_PORT$CPB_TEST_NODE2_SOCK" "$SSHD_DIR/client/id_ed25519" \
    >"$PODMAN_CONNECTIONS_CONF"

  run_cpb node import
  assert_success
  assert_contains "$output" "imp1"
  assert_contains "$output" "imp2             default"
  assert_contains "$output" "has no socket path"
  run_cpb node import --json
  assert_success
  [ "$(jq -r '.[] | select(.name == "imp1") | .importable' <<<"$output")" = true ]
  [ "$(jq -r '.[] | select(.name == "pathless") | .importable' <<<"$output")" = false ]
  [ "$(jq -r '.[] | select(.name == "imp2") | .source' <<<"$output")" = "$PODMAN_CONNECTIONS_CONF" ]
  [ ! -e "$NODES" ]

  run_cpb node import --all
  assert_failure 3
  assert_contains "$output" "skipping pathless"
  assert_contains "$output" "imported ssh://cpbnode1@127.0.0.1:$CPB_TEST_SSH_PORT$CPB_TEST_NODE1_RUN_SOCK as node imp1"
  assert_contains "$output" "as node imp2"
  assert_contains "$stderr" "node gone: cannot reach cpbnode1@127.0.0.1:1 over ssh"
  grep -q "identity: \"$SSHD_DIR/client/id_ed25519\"" "$NODES"
  run_cpb node list --json
  [ "$(jq -r '[.nodes[] | select(.name == "imp1" or .name == "imp2") | .reachable] | all' <<<"$output")" = true ]
  run_cpb node import imp1
  assert_failure 2
  assert_contains "$stderr" "already a node"
  run_cpb node import imp
  assert_failure 1
  assert_contains "$stderr" "Podman has no connection 'imp' (did you mean 'imp1'?)"
}

@test "a run through an ssh URL uses one login for all its connections" {
  # node3 gets the base image the way a user would ship one by hand.
  chmod 0755 "$WORK"
  install -d -m 0755 -o cpbtest "$WORK/img"
  tpodman save -o "$WORK/img/busybox.tar" localhost/cpb-busybox:latest
  chmod 0644 "$WORK/img/busybox.tar"
  as_node 3 load -q -i "$WORK/img/busybox.tar" >/dev/null
  mkdir -p "$WORK/spec"
  cat >"$WORK/spec/jobs.yaml" <<'EOF'
batch: overssh
defaults:
  image: localhost/cpb-busybox:latest
outputs:
  - "out-*.txt"
tasks:
  matrix:
    i: [1, 2, 3, 4]
  name: "t-{i}"
  command: echo "task {i} on $(hostname)" > out-{i}.txt
EOF
  logins_before=$(grep -c 'Accepted publickey for cpbnode3' "$SSHD_DIR/sshd/sshd.log" || true)
  run_cpb --url "$CPB_TEST_NODE3_URL" run -j 4 "$WORK/spec/jobs.yaml"
  assert_success
  assert_contains "$output" "4 done, 0 failed"
  logins_after=$(grep -c 'Accepted publickey for cpbnode3' "$SSHD_DIR/sshd/sshd.log")
  # Workers, the events stream and the cleanup each have a connection: one ssh login.
  [ $((logins_after - logins_before)) -eq 1 ] \
    || { echo "logins: $logins_before -> $logins_after" >&2; return 1; }
  [ -f "$XDG_DATA_HOME/cpb/archive/$(id -un)/overssh/t-3.tar.zst" ]
  [ -z "$(as_node 3 ps -a -q)" ]
  as_node 3 rmi -f localhost/cpb-busybox:latest >/dev/null
}

@test "ssh dies with cpb: a cpb killed with SIGKILL leaves no ssh behind" {
  CPB_SSH_CONFIG=$(ssh_config_with 'Host hung' '  HostName 127.0.0.1' \
    "  ProxyCommand sh -c 'cat >/dev/null'")
  export CPB_SSH_CONFIG
  run_cpb node add n1 "$CPB_TEST_NODE1_URL"
  run_cpb node add hung "ssh://hung/run/podman.sock" --no-check
  "$CPB" node list --timeout 120 >/dev/null 2>&1 &
  pid=$!
  # Wait until n1's master is logged in (its control socket exists), then kill cpb.
  for _ in $(seq 1 300); do
    compgen -G "$XDG_RUNTIME_DIR/cpb-ssh-*/c" >/dev/null && break
    sleep 0.1
  done
  compgen -G "$XDG_RUNTIME_DIR/cpb-ssh-*/c" >/dev/null
  pgrep -f -- "$XDG_RUNTIME_DIR/cpb-ssh-" >/dev/null
  kill -KILL "$pid"
  wait "$pid" || true
  for _ in $(seq 1 100); do
    pgrep -f -- "$XDG_RUNTIME_DIR/cpb-ssh-" >/dev/null || break
    sleep 0.1
  done
  run pgrep -af -- "$XDG_RUNTIME_DIR/cpb-ssh-"
  [ -z "$output" ] || { echo "left: $output" >&2; return 1; }
  # Only files are left of it, and the next cpb removes them.
  run_cpb node list --timeout 1 n1
  [ -z "$(find "$XDG_RUNTIME_DIR" -mindepth 1 -maxdepth 1 -name 'cpb-ssh-*')" ]
}

@test "completions offer the node commands and options; the man page lists them" {
  run "$CPB" node --help
  assert_success
  for c in add list rm check import; do
    grep -qE "^  $c " <<<"$output" || { echo "no command $c in --help" >&2; return 1; }
  done
  mkdir -p "$WORK/bin"
  ln -s "$CPB" "$WORK/bin/cpb"
  run env PATH="$WORK/bin:$PATH" bash -c \
    'source "$1"; COMP_WORDS=(cpb node ""); COMP_CWORD=2; _cpb; printf "%s\n" "${COMPREPLY[@]}"' \
    _ "$CPB_SRC/completions/cpb.bash"
  for c in add list rm check import; do
    grep -qx "$c" <<<"$output" || { echo "bash does not offer '$c': $output" >&2; return 1; }
  done
  grep -q 'nodes.yaml' "$CPB_SRC/docs/man/cpb-node.1"
}

@test "specs/nodes.schema.json accepts the example and the files cpb writes, and flags a typo" {
  python3 -c 'import jsonschema, yaml' 2>/dev/null || skip "python3 jsonschema and yaml modules not installed"
  run_cpb node add n1 "$CPB_TEST_NODE1_URL" --capability gpu --memory 1.5G --cpus 1 --no-check
  assert_success
  cat >"$WORK/check.py" <<'PY'
import json, sys, yaml, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
v = jsonschema.Draft202012Validator(schema)
for path in sys.argv[2:]:
    errors = [e.message for e in v.iter_errors(yaml.safe_load(open(path)))]
    print(path, "ok" if not errors else "; ".join(errors))
PY
  printf 'nodes:\n  n1:\n    url: ssh://a@b/run/x.sock\n    max-tasks: 2\n' >"$WORK/typo.yaml"
  run python3 "$WORK/check.py" "$CPB_SRC/specs/nodes.schema.json" \
    "$CPB_SRC/specs/examples/nodes.yaml" "$NODES" "$WORK/typo.yaml"
  assert_success
  assert_contains "$output" "$CPB_SRC/specs/examples/nodes.yaml ok"
  assert_contains "$output" "$NODES ok"
  assert_contains "$output" "'max-tasks' was unexpected"
  # And cpb says the same of the typo, with the key meant.
  cp "$WORK/typo.yaml" "$NODES"
  run_cpb node list
  assert_failure 2
  assert_contains "$stderr" "$NODES:4:5: node 'n1': unknown key 'max-tasks' (did you mean 'max_tasks'?)"
}
