#!/usr/bin/env bash
# quickstart.sh: from a fresh Debian 12 clone to built example images, in one command.
#
#   contrib/quickstart.sh
#
#   1. contrib/podman/setup-host.sh: the packages, subordinate ids, /dev/net/tun, and a
#      containers.conf where the host needs runc (sudo when not root);
#   2. builds cpb into ./build;
#   3. prepares rootless Podman:
#        - as a user: the user's own Podman.  When no socket answers (no systemd user
#          session), cpb starts `podman system service` itself for each command, on the
#          user's usual storage, so the images stay between commands;
#        - as root: cpb still uses rootless Podman, as every user of cpb does.  A service
#          runs as the unprivileged user cpbtest (made by setup-host.sh) with its storage
#          in $CPB_QUICKSTART_DIR (default /var/tmp/cpb-quickstart), and stays running so
#          that you can go on with the export line printed at the end;
#   4. cpb doctor, then `cpb build specs/examples/pods.yaml` (the base image is made
#      locally from busybox-static: no registry is used) and `cpb images`.
#
# Environment: CPB_BUILD_DIR (default build), CPB_QUICKSTART_DIR (see 3).
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$src"
service_dir=${CPB_QUICKSTART_DIR:-/var/tmp/cpb-quickstart}
build=${CPB_BUILD_DIR:-build}

step() { printf '\n==> %s\n' "$*"; }

step "setting up the host"
contrib/podman/setup-host.sh

step "building cpb into ./$build"
[ -f "$build/build.ninja" ] || meson setup "$build" >/dev/null
ninja -C "$build"
cpb=$(cd "$build" && pwd)/cpb

if [ "$(id -u)" = 0 ]; then
  step "starting a rootless Podman service as cpbtest in $service_dir"
  CPB_PODMAN_URL=$(tests/lib/podman-service.sh start "$service_dir")
  export CPB_PODMAN_URL
  step "cpb doctor"
  "$cpb" doctor || true
else
  step "cpb doctor --local (when no Podman socket answers, cpb starts a service per command)"
  "$cpb" doctor --local || true
fi

step "cpb build specs/examples/pods.yaml"
"$cpb" build specs/examples/pods.yaml

step "cpb images"
"$cpb" images

echo
echo "Done.  Try: $cpb --help, and docs/man/cpb.1 (man -l docs/man/cpb.1)."
if [ "$(id -u)" = 0 ]; then
  echo "The Podman service keeps running for you; in this shell, first run:"
  echo "  export CPB_PODMAN_URL=$CPB_PODMAN_URL"
  echo "and stop it with: tests/lib/podman-service.sh stop $service_dir"
fi
