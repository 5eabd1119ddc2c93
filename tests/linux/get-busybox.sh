#!/bin/sh
# Fetch Debian's i386 busybox-static into $1 (bin/busybox and bin/APPLET links).
# Needs root and apt; prints why and exits 0 when it cannot (the tests then skip).
set -u
dir=${1:-.cache/busybox}
[ -x "$dir/bin/busybox" ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "busybox: needs root and apt-get; the busybox tests will be skipped"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
{ dpkg --print-foreign-architectures | grep -qx i386 || dpkg --add-architecture i386; } &&
    apt-get update -qq >/dev/null &&
    (cd "$tmp" && apt-get download -qq busybox-static:i386 >/dev/null 2>&1) &&
    dpkg-deb -x "$tmp"/busybox-static_*.deb "$tmp/x" || {
        echo "busybox: apt could not provide busybox-static:i386; the busybox tests will be skipped"
        exit 0
    }
mkdir -p "$dir/bin"
cp "$tmp/x/bin/busybox" "$dir/bin/busybox"
for applet in $("$dir/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$dir/bin/$applet"
done
echo "busybox: $("$dir/bin/busybox" | head -1) in $dir"
