#!/bin/sh
# The Debian packages (issue 59), as a user of them meets them: debian/
# built with dpkg-buildpackage -us -uc -b from this tree (its tracked
# files as they are now) after apt-get build-dep has installed what
# debian/control asks; lintian finds no error; the four packages install
# with apt, and work from the installed files alone: a store mounted with
# /usr/bin/bltfs (and by mount -t fuse.bltfs) and read with cat, blt
# stat, a C program built with pkg-config against the installed library
# (shared and static), Debian's python3 importing bltfs_worker and a map
# with it; then apt-get purge leaves none of their files.
#
# Run as root on a Debian machine, by .ci/run (it installs packages and
# mounts): bash tests/deb.sh.  DEB_KEEP=DIR keeps the packages there.
set -eu

src=$(cd "$(dirname "$0")/.." && pwd)
pkgs="bltfs libbooklet3 libbooklet-dev python3-bltfs"
work=$(mktemp -d /tmp/bltfs-deb.XXXXXX)
m=$work/m

fail()
{
	echo "FAIL: deb.sh: $*" >&2
	exit 1
}

cleanup()
{
	status=$?
	set +e
	if grep -qF " $m fuse" /proc/self/mounts; then
		fusermount3 -u "$m" || fusermount3 -uz "$m"
	fi
	umount "$m" 2>/dev/null
	apt-get purge -y -qq $pkgs >/dev/null 2>&1
	rm -rf "$work"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

[ "$(id -u)" = 0 ] || fail "run as root: it installs packages"
export DEBIAN_FRONTEND=noninteractive

# --- build -----------------------------------------------------------------
mkdir "$work/bltfs"
(cd "$src" && git ls-files -z | tar --null -T - -cf -) |
	tar -x -C "$work/bltfs"
cd "$work/bltfs"
apt-get build-dep -y -qq ./ >"$work/build-dep.log" 2>&1 ||
	{ cat "$work/build-dep.log" >&2; fail "apt-get build-dep"; }
dpkg-buildpackage -us -uc -b -j"$(nproc)" >"$work/build.log" 2>&1 ||
	{ tail -n 60 "$work/build.log" >&2; fail "dpkg-buildpackage"; }
cd "$work"
changes=$(ls "$work"/bltfs_*.changes)
for p in $pkgs; do
	ls "$work/${p}_"*.deb >/dev/null 2>&1 || fail "no package $p"
done
# lintian: no error; its warnings and notes are printed for the record
command -v lintian >/dev/null || apt-get install -y -qq lintian >/dev/null
lintian --fail-on error --display-info "$changes" \
    >"$work/lintian.log" 2>&1 ||
	{ cat "$work/lintian.log" >&2; fail "lintian reports errors"; }
echo "lintian on $(basename "$changes"):"
sed 's/^/  /' "$work/lintian.log"

# --- install, and use the installed files alone ------------------------------
apt-get install -y -qq "$work"/*.deb >"$work/install.log" 2>&1 ||
	{ cat "$work/install.log" >&2; fail "apt-get install"; }
for p in $pkgs; do
	dpkg-query -W -f='${Status}\n' "$p" | grep -q 'install ok installed' ||
		fail "$p is not installed"
done
dpkg -L $pkgs | while read -r f; do
	if [ -f "$f" ]; then echo "$f"; fi
done >"$work/files"
grep -qx /usr/bin/bltfs "$work/files" || fail "bltfs has no /usr/bin/bltfs"
# the licence (issue 67): Apache-2.0, as the booklet format's reference
for p in $pkgs; do
	grep -qx 'License: Apache-2.0' "/usr/share/doc/$p/copyright" ||
		fail "$p: its copyright file grants no Apache-2.0 licence"
done
cd /
s=$work/s.blt
mkdir "$m"
printf '%s\n' '{"key": "a/b", "value": "hello"}' \
    '{"key": "n", "value": "1"}' | /usr/bin/blt load -c "$s"
/usr/bin/blt stat "$s" | grep -q '"keys": 2,' ||
	{ /usr/bin/blt stat "$s" >&2; fail "blt stat of the installed blt"; }
/usr/bin/bltfs "$s" "$m"
[ "$(cat "$m/a/b")" = hello ] || fail "cat through the installed bltfs"
/usr/bin/bltfs ctl "$m" unmount || fail "bltfs ctl unmount"
mount -t fuse.bltfs "$s" "$m" || fail "mount -t fuse.bltfs"
[ "$(cat "$m/n")" = 1 ] || fail "cat through mount -t fuse.bltfs"
/usr/bin/bltfs ctl "$m" unmount || fail "bltfs ctl unmount (mount -t)"
# a C program against the installed library, shared and static
cc $(pkg-config --cflags booklet) -o "$work/example" \
    "$src/doc/example.c" $(pkg-config --libs booklet) ||
	fail "doc/example.c against the installed libbooklet"
LC_ALL=C ldd "$work/example" | grep -q '/libbooklet.so.3 ' ||
	fail "example is not linked to the installed libbooklet.so.3"
[ "$("$work/example" "$s" a/b)" = hello ] || fail "example got no value"
cc $(pkg-config --cflags booklet) -o "$work/example-static" \
    "$src/doc/example.c" $(pkg-config --static --libs booklet |
	sed 's/-lbooklet/-l:libbooklet.a/') ||
	fail "doc/example.c against the installed libbooklet.a"
[ "$("$work/example-static" "$s" a/b)" = hello ] ||
	fail "example-static got no value"
# Debian's python3 imports the worker, and a map runs it
/usr/bin/python3 -c 'import bltfs_worker' || fail "import bltfs_worker"
/usr/bin/blt map "$s" --worker "/usr/bin/python3 -c 'from bltfs_worker import serve
serve(lambda k, v: v.upper())'" >"$work/map.out" ||
	{ cat "$work/map.out" >&2; fail "blt map with the installed worker"; }
[ "$(/usr/bin/blt get "$s" a/b)" = HELLO ] ||
	fail "the map did not write: $(/usr/bin/blt get "$s" a/b)"

# --- purge: nothing of theirs is left ----------------------------------------
apt-get purge -y -qq $pkgs >"$work/purge.log" 2>&1 ||
	{ cat "$work/purge.log" >&2; fail "apt-get purge"; }
left=$(while read -r f; do if [ -e "$f" ]; then echo "$f"; fi; done \
    <"$work/files")
[ -z "$left" ] || fail "left after the purge: $left"
python3_left=$(find /usr/lib/python3/dist-packages -name 'bltfs_worker*')
[ -z "$python3_left" ] || fail "left after the purge: $python3_left"
echo "deb.sh: $pkgs built, lintian-clean of errors, installed, used and" \
    "purged"
if [ -n "${DEB_KEEP:-}" ]; then
	mkdir -p "$DEB_KEEP"
	cp "$work"/*.deb "$changes" "$DEB_KEEP"/
fi
