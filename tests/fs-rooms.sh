#!/bin/sh
# The rooms of fs/ (doc/architecture.md): each folder fs/ROOM is a room,
# and fs/ROOM.h beside it is its door.  Checked here, on the sources and
# on the objects the build made:
# - a file includes only its own room's headers, the doors, and the
#   public headers of include/ and src/util/ (never a path with a '/');
# - the rooms, linked by the doors they include, make no circle;
# - every call from one room into another (an undefined symbol of one
#   room's objects that another room's objects define) goes down a door
#   its room includes: no room calls one above it, nor reaches one past
#   its doors with a declaration of its own.
# The checker is tried first on small trees made wrong on purpose, so that
# it is known to catch each fault it looks for.
top_srcdir=${top_srcdir:-$(dirname "$0")/..}
top_builddir=${top_builddir:-.}
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT

fail()
{
	echo "FAIL: $*" >&2
	exit 1
}

# includes FS: "ROOM HEADER FILE" for each #include "HEADER" of the rooms'
# files and doors (a door's room is its name).
includes()
{
	for inc_f in "$1"/*/*.[ch] "$1"/*.h; do
		[ -f "$inc_f" ] || continue
		inc_d=${inc_f%/*}
		if [ "$inc_d" = "$1" ]; then
			inc_room=$(basename "$inc_f" .h)
		else
			inc_room=${inc_d##*/}
		fi
		sed -n 's/^#[ \t]*include[ \t]*"\([^"]*\)".*/\1/p' "$inc_f" |
			while read -r inc_h; do
				echo "$inc_room $inc_h $inc_f"
			done
	done
}

# check_includes FS PUBLIC: prints "ROOM DOOR-ROOM" for each door a room
# includes; fails on any other header but those of PUBLIC (a directory
# list) and the room's own.
check_includes()
{
	includes "$1" >"$tmp/inc" || return 1
	ci_rc=0
	while read -r ci_room ci_h ci_f; do
		case $ci_h in
		*/*)
			echo "$ci_f: includes \"$ci_h\": a path" >&2
			ci_rc=1
			continue
			;;
		config.h)
			continue
			;;
		esac
		if [ -f "$1/$ci_h" ] && [ -d "$1/${ci_h%.h}" ]; then
			[ "${ci_h%.h}" = "$ci_room" ] ||
				echo "$ci_room ${ci_h%.h}"
		elif [ -f "$1/$ci_room/$ci_h" ] &&
			[ "${ci_f%/*}" = "$1/$ci_room" ]; then
			: # its own room's insides
		else
			ci_pub=
			for ci_d in $2; do
				[ -f "$ci_d/$ci_h" ] && ci_pub=1
			done
			if [ -z "$ci_pub" ]; then
				echo "$ci_f: includes \"$ci_h\"," \
				    "which is no door and not its room's" >&2
				ci_rc=1
			fi
		fi
	done <"$tmp/inc" >"$tmp/doors"
	sort -u "$tmp/doors"
	return $ci_rc
}

# calls OBJ: "ROOM ROOM" for each room whose objects use a symbol that
# another room's objects define (OBJ/ROOM/*.o and lib*.a, each room's).
calls()
{
	: >"$tmp/def"
	: >"$tmp/undef"
	for c_dir in "$1"/*/; do
		c_room=$(basename "$c_dir")
		set -- "$c_dir"*.a
		[ -f "$1" ] || set -- "$c_dir"*.o
		[ -f "$1" ] || continue
		nm -g --defined-only "$@" 2>/dev/null |
			awk -v r="$c_room" 'NF == 3 { print r, $3 }' >>"$tmp/def"
		nm -u "$@" 2>/dev/null |
			awk -v r="$c_room" 'NF == 2 { print r, $2 }' >>"$tmp/undef"
	done
	awk 'NR == FNR { d[$2] = $1; next }
	    ($2 in d) && d[$2] != $1 { print $1, d[$2] }' \
	    "$tmp/def" "$tmp/undef" | sort -u
}

# rooms_check FS OBJ PUBLIC: all of the above; the door graph on stdout.
rooms_check()
{
	check_includes "$1" "$3" >"$tmp/graph" || return 1
	if ! tsort "$tmp/graph" >/dev/null 2>"$tmp/loop"; then
		echo "the rooms' doors make a circle:" >&2
		cat "$tmp/loop" >&2
		return 1
	fi
	calls "$2" >"$tmp/calls" || return 1
	rc_rc=0
	while read -r rc_from rc_to; do
		grep -qx "$rc_from $rc_to" "$tmp/graph" && continue
		echo "room $rc_from calls room $rc_to without its door" >&2
		rc_rc=1
	done <"$tmp/calls"
	[ $rc_rc -eq 0 ] && cat "$tmp/graph"
	return $rc_rc
}

# --- the checker, on trees made wrong on purpose --------------------------
t=$tmp/t
mkroom()
{
	mkdir -p "$t/fs/$1"
	printf '#include "%s.h"\n' "$1" >"$t/fs/$1/$1.c"
	echo "/* the door of $1 */" >"$t/fs/$1.h"
}
# good: up includes down's door, and calls it
mkroom down
mkroom up
echo "int down_f(void) { return 1; }" >>"$t/fs/down/down.c"
printf '#include "down.h"\nint down_f(void);\nint up_f(void) { return down_f(); }\n' \
    >>"$t/fs/up/up.c"
echo "/* down's insides */" >"$t/fs/down/down-int.h"
CC=${CC:-cc}
build_objs()
{
	for b_r in down up; do
		$CC -c -I"$t/fs" -I"$t/fs/$b_r" -o "$t/fs/$b_r/$b_r.o" \
		    "$t/fs/$b_r/$b_r.c" || exit 99
	done
}
build_objs
rooms_check "$t/fs" "$t/fs" "" >"$tmp/g" 2>"$tmp/err" ||
	fail "a good tree was refused: $(cat "$tmp/err")"
grep -qx "up down" "$tmp/g" || fail "the good tree's graph: $(cat "$tmp/g")"
# another room's insides
echo '#include "down-int.h"' >>"$t/fs/up/up.c"
! rooms_check "$t/fs" "$t/fs" "" >/dev/null 2>"$tmp/err" ||
	fail "an include of another room's insides passed"
grep -q 'up.c: includes "down-int.h", which is no door' "$tmp/err" ||
	fail "an include of another room's insides: $(cat "$tmp/err")"
sed -i '/down-int.h/d' "$t/fs/up/up.c"
# a path into another room
echo '#include "down/down-int.h"' >>"$t/fs/up/up.c"
! rooms_check "$t/fs" "$t/fs" "" >/dev/null 2>"$tmp/err" ||
	fail "an include by path passed"
grep -q 'includes "down/down-int.h": a path' "$tmp/err" ||
	fail "an include by path: $(cat "$tmp/err")"
sed -i '/down\/down-int.h/d' "$t/fs/up/up.c"
# a circle of doors
echo '#include "up.h"' >>"$t/fs/down/down.c"
! rooms_check "$t/fs" "$t/fs" "" >/dev/null 2>"$tmp/err" ||
	fail "a circle of doors passed"
grep -q 'circle' "$tmp/err" || fail "a circle of doors: $(cat "$tmp/err")"
sed -i '/up.h/d' "$t/fs/down/down.c"
# a call up, declared by hand, with no door included
printf 'int up_f(void);\nint down_g(void) { return up_f(); }\n' \
    >>"$t/fs/down/down.c"
build_objs
! rooms_check "$t/fs" "$t/fs" "" >/dev/null 2>"$tmp/err" ||
	fail "a call up passed"
grep -q 'room down calls room up without its door' "$tmp/err" ||
	fail "a call up: $(cat "$tmp/err")"

# --- the real rooms ---------------------------------------------------------
[ -f "$top_builddir/fs/bltfs" ] ||
	{ echo "bltfs not built in $top_builddir" >&2; exit 99; }
rooms_check "$top_srcdir/fs" "$top_builddir/fs" \
    "$top_srcdir/include $top_srcdir/src/util" >"$tmp/g" ||
	fail "the rooms of fs/ (above)"
echo "rooms of fs/, each with the doors it may use:"
sed 's/ / -> /' "$tmp/g"
# every room of the daemon is there, the top uses them all, and fs/client/
# stands alone
for r in index mount indexer ops ctl client; do
	[ -f "$top_srcdir/fs/$r.h" ] || fail "no door fs/$r.h"
	grep -qx "daemon $r" "$tmp/g" || fail "fs/daemon/ does not use $r"
done
! grep -q "^client " "$tmp/g" || fail "fs/client/ uses a room of the daemon"
