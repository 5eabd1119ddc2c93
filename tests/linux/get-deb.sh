#!/bin/sh
# get-deb.sh PACKAGE DIR: Debian's i386 build of PACKAGE extracted into DIR (dpkg-deb -x),
# for the Linux program tests; for busybox-static also DIR/bin/APPLET links to busybox.
# Needs root and apt; says why and exits 0 when it cannot (the tests then skip).
set -u
pkg=$1
dir=$2
[ -f "$dir/.done" ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "$pkg: needs root and apt-get; its tests will be skipped"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
{ dpkg --print-foreign-architectures | grep -qx i386 || dpkg --add-architecture i386; } &&
    { apt-cache show "$pkg:i386" >/dev/null 2>&1 || apt-get update -qq >/dev/null; } &&
    (cd "$tmp" && apt-get download -qq "$pkg:i386" >/dev/null 2>&1) &&
    mkdir -p "$dir" && dpkg-deb -x "$tmp"/*.deb "$dir" || {
        echo "$pkg: apt could not provide $pkg:i386; its tests will be skipped"
        exit 0
    }
if [ "$pkg" = busybox-static ]; then
    for applet in $("$dir/bin/busybox" --list); do
        [ "$applet" = busybox ] || ln -sf busybox "$dir/bin/$applet"
    done
fi
dpkg-deb -f "$tmp"/*.deb Package Version > "$dir/.done"
echo "$pkg: $(tr '\n' ' ' < "$dir/.done")in $dir"
