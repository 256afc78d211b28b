#!/bin/sh
# images/busybox/recipe.sh OUT.tar: a minimal root filesystem from the host's busybox-static.
#
# cpb build runs this for `from: recipe:busybox` and imports OUT.tar as
# localhost/cpb-base-busybox:latest with the instructions in ./changes; the test suite's
# private Podman service makes localhost/cpb-busybox:latest the same way.  Needs only
# Debian's busybox-static (a static binary, so the image needs no libc), no registry.
set -eu

out=${1:?usage: recipe.sh OUT.tar}
busybox=${CPB_BUSYBOX:-/bin/busybox}
[ -x "$busybox" ] || { echo "recipe busybox: $busybox missing: apt-get install busybox-static" >&2; exit 1; }

rootfs=$(mktemp -d "${TMPDIR:-/tmp}/cpb-busybox.XXXXXX")
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs/bin" "$rootfs/tmp" "$rootfs/etc" "$rootfs/work" "$rootfs/root" \
  "$rootfs/proc" "$rootfs/sys" "$rootfs/dev"
cp "$busybox" "$rootfs/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$rootfs/etc/passwd"
echo 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >>"$rootfs/etc/passwd"
echo 'root:x:0:' >"$rootfs/etc/group"
echo 'nogroup:x:65534:' >>"$rootfs/etc/group"
chmod 0755 "$rootfs"
chmod 1777 "$rootfs/tmp"
# Owned by root inside the image whoever runs the recipe; a fixed mtime keeps the tar the
# same from one run to the next.
tar --numeric-owner --owner=0 --group=0 --mtime=@0 --sort=name -C "$rootfs" -cf "$out" .
