#!/bin/sh
# Every --help of blt and bltfs goes to standard output and exits 0, with
# nothing on standard error (issue 31); bltfs --help tells of bltfs ctl;
# bltfs --version names bltfs first.  No mount needed (mount-ctl.sh tries
# an unknown bltfs ctl command, which lists every command).
. "${top_srcdir:-$(dirname "$0")/..}/tests/blt-lib.sh"
BLTFS=$top_builddir/fs/bltfs
[ -x "$BLTFS" ] || { echo "bltfs not built: $BLTFS" >&2; exit 99; }

# helps WHAT CMD...: CMD exits 0, prints a usage on stdout, nothing else
helps()
{
	what=$1
	shift
	expect 0 "$@"
	[ ! -s "$tmp/err" ] || fail "$what wrote to stderr: $(cat "$tmp/err")"
	grep -q "usage: " "$tmp/out" || fail "$what printed no usage"
}

helps "blt --help" "$BLT" --help
helps "blt -h" "$BLT" -h
helps "blt help" "$BLT" help
for c in create put get del ls dump load stat check prune reindex map; do
	helps "blt $c --help" "$BLT" "$c" --help
	grep -q "^usage: blt $c" "$tmp/out" || fail "blt $c --help"
	helps "blt help $c" "$BLT" help "$c"
done
# the exit statuses, the held store's among them
expect 0 "$BLT" --help
grep -q "3 store held by another process" "$tmp/out" ||
	fail "blt --help does not give status 3"

helps "bltfs --help" "$BLTFS" --help
grep -q "bltfs ctl --help lists them" "$tmp/out" ||
	fail "bltfs --help does not tell of bltfs ctl"
grep -q "ctl MOUNTPOINT COMMAND" "$tmp/out" || fail "bltfs --help: no ctl usage"
helps "bltfs -h" "$BLTFS" -h
for h in --help -h; do
	helps "bltfs ctl $h" "$BLTFS" ctl "$h"
	for cmd in prune reindex sync map cancel status job unmount; do
		grep -q "^  $cmd" "$tmp/out" || fail "bltfs ctl $h does not list $cmd"
	done
	helps "bltfs ctl MOUNT map $h" "$BLTFS" ctl "$tmp" map "$h"
done

# the version: bltfs's own first, also through a pipe, where libfuse's
# fusermount3 --version writes straight to it
expect 0 "$BLTFS" --version
case $(head -n 1 "$tmp/out") in
"bltfs "*", libfuse "*) ;;
*) fail "bltfs --version begins with: $(head -n 1 "$tmp/out")" ;;
esac

exit 0
