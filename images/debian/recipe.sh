#!/bin/sh
# images/debian/recipe.sh OUT.tar: a Debian root filesystem made with mmdebstrap from the
# distribution's package mirror, for labs without a container registry.
#
# cpb build runs this for `from: recipe:debian` and imports OUT.tar as
# localhost/cpb-base-debian:latest with the instructions in ./changes.  The variant `apt`
# keeps apt-get usable, so images built on it can use `packages: {manager: apt, ...}`.
#
#   CPB_DEBIAN_SUITE    the release (default bookworm)
#   CPB_DEBIAN_MIRROR   the mirror (default: mmdebstrap's, deb.debian.org)
#   CPB_DEBIAN_INCLUDE  extra packages, comma-separated (default: none)
set -eu

out=${1:?usage: recipe.sh OUT.tar}
suite=${CPB_DEBIAN_SUITE:-bookworm}
command -v mmdebstrap >/dev/null || { echo "recipe debian: mmdebstrap missing: apt-get install mmdebstrap" >&2; exit 1; }

set -- --variant=apt --format=tar --quiet
[ -z "${CPB_DEBIAN_INCLUDE:-}" ] || set -- "$@" --include="$CPB_DEBIAN_INCLUDE"
# Unprivileged users need mmdebstrap's unshare mode (subordinate ids in /etc/subuid);
# root may use chroot directly.  `auto` picks whichever works.
set -- "$@" --mode=auto "$suite" "$out"
[ -z "${CPB_DEBIAN_MIRROR:-}" ] || set -- "$@" "$CPB_DEBIAN_MIRROR"
# A reproducible-ish tar: the package index date, not the wall clock, sets the mtimes.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-0} exec mmdebstrap "$@"
