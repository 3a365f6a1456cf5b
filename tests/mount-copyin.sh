#!/bin/sh
# The tricky_keys fixture copied out of a read-only mount into a new store
# through its mount, with cp -a, tar and rsync --inplace: the new store
# holds every key of the fixture with its value and time, as its manifest
# says.  This needs mkdir of the pieces of long names (doc/keys.md).  The
# key under 1100 directories is past PATH_MAX, which no tool copies, so it
# is copied by a walk one directory at a time.  Also: what mkdir of a piece
# refuses, and a file renamed onto a directory's own key ("dir/").
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

fixture=$FIXTURES_DIR/tricky_keys
src=$tmp/src
m=$tmp/m

# copy_deep FROM TO: the key below the directory FROM/seg… (a flat mount
# has pieces seg‛2Fseg…‛+), copied one directory at a time; cd -P, as a
# logical cd hands the kernel the whole path.
copy_deep()
{
	(
		to=$2
		cd "$1"
		: >"$tmp/deep"
		set -- seg*
		while [ -d "$1" ]; do
			echo "$1" >>"$tmp/deep"
			cd -P "$1"
			set -- * # below the root, each directory holds one name
		done
		[ -s "$tmp/deep" ] || exit 0
		for leaf in *; do
			cp -p "$leaf" "$tmp/leaf"
		done
		cd "$to"
		while read -r d; do
			mkdir -p "$d"
			cd -P "$d"
		done <"$tmp/deep"
		cp -p "$tmp/leaf" "$leaf"
	)
}

# copy_in TOOL [MOUNT OPTIONS]: a new store holds the fixture's keys, copied
# with TOOL between mounts made with the options.
copy_in()
{
	tool=$1
	shift
	store=$tmp/$tool.blt
	rm -f "$store"
	bltfs_mount "$fixture.blt" "$src" -o ro "$@"
	bltfs_mount "$store" "$m" "$@"
	case $tool in
	cp) cp -a "$src/." "$m/" 2>"$tmp/copy.err" || true ;;
	tar)
		(cd "$src" && tar cf - --format=posix --exclude=./seg .) |
			(cd "$m" && tar xpf -)
		;;
	rsync) rsync -a --inplace --exclude=/seg "$src/" "$m/" ;;
	esac
	if [ "$tool" = cp ]; then
		# only the deep key is too long for cp
		grep -v "seg.*File name too long" "$tmp/copy.err" >&2 &&
			fail "cp -a: $(head -c 300 "$tmp/copy.err")"
	fi
	copy_deep "$src" "$m"
	bltfs_umount "$m"
	bltfs_umount "$src"
	check_store "$store"
	bltfs_mount "$store" "$m" -o ro "$@"
}

tools=$(copy_tools "cp tar")
for tool in $tools; do
	copy_in $tool
	"$MOUNT_CHECK" "$fixture.json" "$m" >"$tmp/check.out" || {
		head -n 40 "$tmp/check.out" >&2
		fail "$tool: the copy differs from the fixture"
	}
	bltfs_umount "$m"
done
# a flat mount has the pieces as its only directories
copy_in cp -o flat
"$MOUNT_CHECK" -F "$fixture.json" "$m" >"$tmp/check.out" || {
	head -n 40 "$tmp/check.out" >&2
	fail "cp -a, flat: the copy differs from the fixture"
}
bltfs_umount "$m"

# mkdir of a piece: only where a long name would be cut, and it goes with
# rmdir; nothing is stored for it
bltfs_mount "$tmp/pieces.blt" "$m"
x251=$(printf '%0251d' 0)
e125=$(printf 'é%.0s' $(seq 125))
mkdir "$m/$x251‛+" "$m/$e125‛+"
mkdir "$m/$x251‛+/$x251‛+" # the second piece of a longer name
# a piece is cut where the next character would not fit: before the widest
# one (a U+201B before '+' takes 15 bytes) at the latest
x236=$(printf '%0236d' 0)
mkdir "$m/${x236}0‛+"
# a U+201B before two hex digits is escaped, also where the cut falls
# between them and it or one of them: the piece ends in the escaped
# character ("‛E2‛80‛9B"), or in it and the first digit
x235=$(printf '%0235d' 0)
for piece in "${x236}‛E2‛80‛9B‛+" "${x235}‛E2‛80‛9B4‛+"; do
	mkdir "$m/$piece" || fail "mkdir of the piece '$piece' was refused"
	rmdir "$m/$piece"
done
for bad in "$x236‛+" "‛41${x236}0‛+" "$x251‛+/‛2E‛+" "a‛+"; do
	if mkdir "$m/$bad" 2>/dev/null; then
		fail "mkdir of '$bad', no piece of a long name, was allowed"
	fi
done
printf 'long\n' >"$m/$x251‛+/tail.of.a.long.name"
printf 'cut\n' >"$m/$e125‛+/ééé"
if (printf 'x\n' >"$m/$e125‛+/.ééé") 2>/dev/null; then
	fail "'.ééé' after 125 'é' would be cut after the '.', and was allowed"
fi
rmdir "$m/$x251‛+/$x251‛+"
bltfs_umount "$m"
bltfs_mount "$tmp/pieces.blt" "$m" -o ro
[ "$(cat "$m/$x251‛+/tail.of.a.long.name")" = long ] ||
	fail "the long key lost its value"
[ "$(cat "$m/$e125‛+/ééé")" = cut ] || fail "the é key lost its value"
[ "$(find "$m" | wc -l)" = 5 ] || fail "in the store: $(find "$m")"
bltfs_umount "$m"

# a file renamed onto "‛" takes over the directory's marker: removing it
# removes the key, and the directory can go
bltfs_mount "$tmp/rename.blt" "$m"
mkdir "$m/d"
printf 'value\n' >"$m/d/.‛.tmp"
mv "$m/d/.‛.tmp" "$m/d/‛"
[ "$(cat "$m/d/‛")" = value ] || fail "d/‛ lost its value"
[ $(($(stat -f -c "%c - %d" "$m"))) = 1 ] || fail "d/ counted twice"
rm "$m/d/‛"
[ -z "$(ls -A "$m/d")" ] || fail "d/‛ is still listed after rm"
rmdir "$m/d"
bltfs_umount "$m"
check_store "$tmp/rename.blt"
bltfs_mount "$tmp/rename.blt" "$m" -o ro
[ -z "$(ls -A "$m")" ] || fail "left in the store: $(ls -A "$m")"
bltfs_umount "$m"
