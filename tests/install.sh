#!/bin/sh
# make install into a DESTDIR, as a package would: the library (shared,
# with its soname, exporting blt_* only, and static), the header, the
# pkg-config file, the man pages and the programs.  doc/example.c is built
# against that install with pkg-config and run on a fixture; the
# installed bltfs is mounted by mount(8) as type fuse.bltfs, from the
# command line and from an fstab line; make uninstall leaves nothing but
# directories.
#
# make check sets top_builddir, top_srcdir and FIXTURES_DIR.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$here/..}"
: "${top_builddir:=$top_srcdir}"
: "${FIXTURES_DIR:=$top_srcdir/tests/fixtures}"
BLT=$top_builddir/src/blt/blt
FIXTURE=$FIXTURES_DIR/small_str_bytes.blt
[ -x "$BLT" ] || { echo "blt not built: $BLT" >&2; exit 99; }
[ -f "$FIXTURE" ] || { echo "no fixture: $FIXTURE" >&2; exit 99; }
command -v pkg-config >/dev/null || { echo "no pkg-config" >&2; exit 99; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bltfs-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

fail()
{
	echo "FAIL: $*" >&2
	exit 1
}

# The make of make check passes its jobserver and command-line variables
# (TESTS=...) down through the environment: the makes below are plain.
bmake()
{
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
	    ${MAKE:-make} -s --no-print-directory -C "$top_builddir" "$@"
}

# The build's installation directories and compiler, as make expands them.
cat >"$tmp/vars.mk" <<'EOF'
install-test-vars:
	@echo "bindir='$(bindir)' libdir='$(libdir)'"
	@echo "includedir='$(includedir)' mandir='$(mandir)'"
	@echo "pythondir='$(pythondir)' PYTHON='$(PYTHON)' prefix='$(prefix)'"
	@echo "CC='$(CC)' CFLAGS='$(CFLAGS)' LDFLAGS='$(LDFLAGS)'"
EOF
bmake -f Makefile -f "$tmp/vars.mk" install-test-vars >"$tmp/vars"
. "$tmp/vars"

dest=$tmp/dest
bmake install DESTDIR="$dest" >"$tmp/install.log" 2>&1 ||
	{ cat "$tmp/install.log" >&2; fail "make install DESTDIR=$dest"; }
lib=$dest$libdir
for f in "$lib/libbooklet.so" "$lib/libbooklet.so.3" "$lib/libbooklet.a" \
    "$lib/pkgconfig/booklet.pc" "$dest$includedir/booklet.h" \
    "$dest$mandir/man1/blt.1" "$dest$mandir/man1/bltfs.1" \
    "$dest$mandir/man3/booklet.3"; do
	[ -f "$f" ] || fail "not installed: $f"
done
cmp "$dest$includedir/booklet.h" "$top_srcdir/include/booklet.h" ||
	fail "installed booklet.h differs from include/booklet.h"
# Executables themselves, not libtool's wrapper scripts.
for p in blt bltfs; do
	[ -x "$dest$bindir/$p" ] || fail "not installed: $dest$bindir/$p"
	[ "$(head -c 4 "$dest$bindir/$p" | od -An -c | tr -d ' ')" = \
	    177ELF ] || fail "$dest$bindir/$p is not an ELF executable"
done
soname=$(LC_ALL=C readelf -d "$lib/libbooklet.so" |
	sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$soname" = libbooklet.so.3 ] || fail "soname is '$soname'"
# The API and nothing else: every function booklet.h declares, and only
# those (the typedefs name types).
nm -D --defined-only "$lib/libbooklet.so" | awk '{ print $3 }' | sort \
    >"$tmp/exported"
grep -v '^typedef' "$top_srcdir/include/booklet.h" |
	grep -o '\bblt_[a-z_]*(' | tr -d '(' | sort -u >"$tmp/declared"
diff "$tmp/declared" "$tmp/exported" >&2 ||
	fail "libbooklet.so exports other than booklet.h declares"

# doc/example.c, built as its comment says, against the install: the
# sysroot puts $dest before the paths booklet.pc names, and the rpath
# finds the library there.  The build's compiler and flags, so that a
# sanitizer build links its runtime.
export PKG_CONFIG_PATH="$lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$dest"
cflags=$(pkg-config --cflags booklet)
libs=$(pkg-config --libs booklet)
case "$cflags $libs" in
*"-I$dest$includedir"*"-L$lib "*) ;;
*) fail "pkg-config gives '$cflags $libs'" ;;
esac
example=$tmp/example
# shellcheck disable=SC2086 # flags are words
$CC $CFLAGS -Wall -Wextra $cflags -o "$example" \
    "$top_srcdir/doc/example.c" $LDFLAGS $libs -Wl,-rpath,"$lib" ||
	fail "doc/example.c does not build against the install"
LC_ALL=C ldd "$example" | grep -qF "$lib/libbooklet.so.3" ||
	fail "example is not linked to the installed libbooklet.so.3"
# The static library too, with what pkg-config --static adds.
# shellcheck disable=SC2086
$CC $CFLAGS $cflags -o "$tmp/example-static" "$top_srcdir/doc/example.c" \
    $LDFLAGS $(pkg-config --static --libs booklet |
	sed 's/-lbooklet/-l:libbooklet.a/') ||
	fail "doc/example.c does not build against libbooklet.a"
LC_ALL=C ldd "$tmp/example-static" | grep -q libbooklet &&
	fail "example-static is linked to a shared libbooklet"

# It lists the fixture as blt does ...
for e in "$example" "$tmp/example-static"; do
	"$e" "$FIXTURE" >"$tmp/list" || fail "$e $FIXTURE"
	n=$("$BLT" ls "$FIXTURE" | wc -l)
	[ "$(tail -n 1 "$tmp/list")" = "$n keys" ] ||
		fail "$e counts '$(tail -n 1 "$tmp/list")', blt ls $n"
	sed '$d' "$tmp/list" | cut -f 1 | sort >"$tmp/keys"
	"$BLT" ls "$FIXTURE" | sort | diff - "$tmp/keys" >&2 ||
		fail "$e lists other keys than blt ls"
	# ... gets a value byte for byte ...
	"$e" "$FIXTURE" a/b/c.txt >"$tmp/value"
	"$BLT" get "$FIXTURE" a/b/c.txt | cmp - "$tmp/value" ||
		fail "$e gets another a/b/c.txt than blt get"
done
# booklet(3)'s example builds as it is, and gets that value too.
sed -n '/^\.EX/,/^\.EE/p' "$dest$mandir/man3/booklet.3" | sed -e '/^\.E[XE]/d' \
    -e 's/\\e/\\/g' -e 's/\\-/-/g' | sed '/^\$ cc/,$d' >"$tmp/get.c"
grep -q '^main(int argc' "$tmp/get.c" || fail "no example in booklet.3"
# shellcheck disable=SC2086
$CC $CFLAGS -Wall -Wextra $cflags -o "$tmp/get" "$tmp/get.c" $LDFLAGS $libs \
    -Wl,-rpath,"$lib" || fail "booklet(3)'s example does not build"
"$tmp/get" "$FIXTURE" a/b/c.txt | cmp - "$tmp/value" ||
	fail "booklet(3)'s example gets another a/b/c.txt than blt get"
# ... writes a store blt reads ...
"$example" "$tmp/new.blt" greeting hello
[ "$("$BLT" get "$tmp/new.blt" greeting)" = hello ] ||
	fail "blt get does not read what example put"
# ... and says what failed.
if "$example" "$tmp/missing.blt" 2>"$tmp/err"; then
	fail "example opened a missing store"
fi
grep -qF "$tmp/missing.blt" "$tmp/err" ||
	fail "no path in the error: $(cat "$tmp/err")"

# mount -t fuse.bltfs: mount(8) runs mount.fuse3, which runs "bltfs STORE
# MNT -o OPTIONS" through /bin/sh with the shell's default PATH (mount
# drops the caller's): /usr/local/bin, where the default prefix installs
# bltfs, and /usr/bin, where a distribution's does, are on it, as is
# /usr/local/sbin.  In a mount namespace of its own, the test puts the
# installed bin directory at /usr/local/sbin, seen by nothing else, and
# mounts from the command line, read-write, and from an fstab line,
# read-only, with the options mount.fuse3 drops (noauto, nofail, _netdev,
# x-*).
can_mount=yes
[ -c /dev/fuse ] && [ "$(id -u)" = 0 ] && [ -x /sbin/mount.fuse ] &&
	command -v unshare >/dev/null || can_mount=
if [ -z "$can_mount" ]; then
	echo "no /dev/fuse, root, unshare or mount.fuse: mount not tried" >&2
else
	mkdir "$tmp/mnt"
	store=$tmp/new.blt
	printf '%s %s fuse.bltfs ro,noauto,nofail,_netdev,x-test.opt=1 0 0\n' \
	    "$store" "$tmp/mnt" >"$tmp/fstab"
	unshare -m sh -eu -c '
		bin=$1 store=$2 mnt=$3 fstab=$4
		# Whatever fails, nothing stays mounted.
		trap "umount -l \"\$mnt\" 2>/dev/null || :" EXIT
		mount --make-rprivate /
		mount --bind "$bin" /usr/local/sbin
		mount -t fuse.bltfs "$store" "$mnt"
		grep -qF " $mnt fuse.bltfs " /proc/self/mounts
		[ "$(cat "$mnt/greeting")" = hello ]
		mkdir "$mnt/by"
		echo mounted >"$mnt/by/mount"
		/usr/local/sbin/bltfs ctl "$mnt" unmount
		mount -T "$fstab" "$mnt"
		grep -F " $mnt fuse.bltfs ro," /proc/self/mounts >/dev/null
		[ "$(cat "$mnt/by/mount")" = mounted ]
		if echo x 2>/dev/null >"$mnt/x"; then
			echo "wrote to a read-only mount" >&2
			exit 1
		fi
		/usr/local/sbin/bltfs ctl "$mnt" unmount
	' sh "$dest$bindir" "$store" "$tmp/mnt" "$tmp/fstab" ||
		fail "mount -t fuse.bltfs with the installed bltfs"
	[ "$("$BLT" get "$store" by/mount)" = mounted ] ||
		fail "the mount's write is not in $store"
fi

# The Python worker is a module where the configured Python imports it:
# under /usr/local or /usr, a directory of its sys.path (Debian's
# dist-packages), so that `from bltfs_worker import serve` and `python3 -m
# bltfs_worker` work after make install with no path to give.  Here it is
# under DESTDIR, so PYTHONPATH stands for that.  It is run by a Python
# that may write its bytecode cache there (as root would), which make
# uninstall takes away with it.
if [ "$PYTHON" != : ]; then
	pydir=$dest$pythondir
	[ -f "$pydir/bltfs_worker.py" ] || fail "not installed: $pydir/bltfs_worker.py"
	case $prefix in
	/usr | /usr/local)
		"$PYTHON" -c 'import sys; sys.exit(sys.argv[1] not in sys.path)' \
		    "$pythondir" || fail "$PYTHON does not search $pythondir" ;;
	esac
	PYTHONPATH=$pydir "$PYTHON" -m bltfs_worker --help >"$tmp/help" ||
		fail "python3 -m bltfs_worker --help"
	grep -q "from bltfs_worker import serve" "$tmp/help" ||
		fail "python3 -m bltfs_worker --help says: $(cat "$tmp/help")"
	cp "$FIXTURE" "$tmp/py.blt"
	printf 'from bltfs_worker import serve\nserve(lambda key, value: value)\n' \
	    >"$tmp/same.py"
	env -u PYTHONDONTWRITEBYTECODE PYTHONPATH="$pydir" "$BLT" map \
	    "$tmp/py.blt" --worker "$PYTHON $tmp/same.py" --workers 1 \
	    >"$tmp/py.out" ||
		fail "a map with the installed bltfs_worker.py: $(cat "$tmp/py.out")"
	grep -q '"errors": 0' "$tmp/py.out" || fail "$(cat "$tmp/py.out")"
	# and python3 -m, with a function of a module
	printf 'def same(key, value):\n    return value\n' >"$tmp/mymod.py"
	env -u PYTHONDONTWRITEBYTECODE PYTHONPATH="$pydir:$tmp" "$BLT" map \
	    "$tmp/py.blt" --worker "$PYTHON -m bltfs_worker mymod:same" \
	    --workers 1 >"$tmp/py.out" ||
		fail "a map with python3 -m bltfs_worker: $(cat "$tmp/py.out")"
	grep -q '"errors": 0' "$tmp/py.out" || fail "$(cat "$tmp/py.out")"
fi

bmake uninstall DESTDIR="$dest" >"$tmp/uninstall.log" 2>&1 ||
	{ cat "$tmp/uninstall.log" >&2; fail "make uninstall DESTDIR=$dest"; }
left=$(find "$dest" ! -type d)
[ -z "$left" ] || fail "make uninstall left: $left"
