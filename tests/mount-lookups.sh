#!/bin/sh
# Lookups of one directory do not wait for each other.  A lookup may be
# slow: a name another process put a moment ago is looked for in the
# store, and on a busy core that took seconds (doc/benchmarks.md, "A
# writer beside busy readers").  libfuse 3.14 never told the kernel it may
# look up names of one directory in parallel, so the kernel held the
# directory's mutex across each lookup and every reader of the directory
# waited for the slow one (fs/daemon/session-io.c tells it).  Here the
# daemon holds the lookup of d/held (BLTFS_LOOKUP_HOLD), and a lookup of
# d/a must be answered meanwhile.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

s=$tmp/s.blt
m=$tmp/m
"$BLT" create "$s"
printf a | "$BLT" put "$s" d/a
lazy_hold
BLTFS_LOOKUP_HOLD=$tmp/hold
export BLTFS_LOOKUP_HOLD
bltfs_mount "$s" "$m"
unset BLTFS_LOOKUP_HOLD
stat "$m/d/held" >/dev/null 2>&1 &
held=$!
poll "the lookup of d/held was not held" test -e "$tmp/hold.held"
# the held lookup goes on only once d/a was read: a reader that waits for
# it never ends (in the kernel, beyond signals), and poll gives up; then
# the exit lets the held lookup go, and the reader with it
(cat "$m/d/a" >"$tmp/a" && touch "$tmp/a.read") &
poll "the lookup of d/a waited for the held lookup of d/held" \
	test -e "$tmp/a.read"
[ "$(cat "$tmp/a")" = a ] || fail "d/a reads $(cat "$tmp/a")"
lazy_release
wait "$held" && fail "d/held, which no key names, was found"
bltfs_umount "$m"
echo "mount-lookups: ok"
