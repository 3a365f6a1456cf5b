#!/bin/sh
# A tree made in a plain directory (nested and empty directories, empty
# files, a 50 MiB file, odd names, escapes) copied into mounts with cp -r, rsync -a
# and tar: each copy equals the original, before and after a remount, and
# the store passes blt check.  cp -p and rsync -a also keep timestamps.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

src=$tmp/src
mkdir -p "$src/a/b/c/d" "$src/empty" "$src/nest/empty2" "$src/dots"
printf 'hello\n' >"$src/top.txt"
: >"$src/empty.txt"
: >"$src/a/b/c/d/empty"
printf 'x' >"$src/a/one-byte"
head -c 4096 /dev/urandom >"$src/a/b/4096.bin"
head -c 4097 /dev/urandom >"$src/a/b/4097.bin"
head -c 1000000 /dev/urandom >"$src/a/b/c/1MB.bin"
head -c 52428800 /dev/urandom >"$src/big.bin" # 50 MiB: spills to a file
printf 'space\n' >"$src/with space.txt"
printf 'tab\n' >"$src/with	tab"
printf 'newline\n' >"$src/with
newline"
printf 'percent\n' >"$src/100%"
printf 'unicode\n' >"$src/naïve café 日本語 😀"
printf 'dash\n' >"$src/-dash"
printf '#!/bin/sh\necho run\n' >"$src/run.sh"
chmod 0755 "$src/run.sh" # cp -p and rsync -a ask for 0755: not kept
printf 'dots\n' >"$src/dots/...."
printf 'hidden\n' >"$src/dots/.hidden"
printf 'long\n' >"$src/$(printf '%0255d' 0)"
# "‛" in a directory is the key "slash/" with a value (doc/keys.md); a
# U+201B that starts no escape is itself, also in rsync's temporary names
mkdir "$src/slash" "$src/slashonly"
printf 'slash value\n' >"$src/slash/‛"
printf 'beside it\n' >"$src/slash/other"
printf 'only\n' >"$src/slashonly/‛"
printf 'quote\n' >"$src/it‛s"
i=0
while [ $i -lt 300 ]; do
	printf 'file %d\n' $i >"$src/nest/f$i"
	i=$((i + 1))
done
touch -d '2001-02-03 04:05:06.123456' "$src/top.txt"

# copy_in TOOL DIR: copy the tree into DIR with cp -r, rsync -a or tar.
copy_in()
{
	case $1 in
	cp) cp -r "$src/." "$2/" ;;
	cpp) cp -rp "$src/." "$2/" ;;
	rsync) rsync -a "$src/" "$2/" ;;
	tar) (cd "$src" && tar cf - .) | (cd "$2" && tar xf -) ;;
	esac
}

tools=$(copy_tools "cp cpp tar")
for tool in $tools; do
	store=$tmp/$tool.blt
	bltfs_mount "$store" "$tmp/m"
	copy_in $tool "$tmp/m"
	same_tree "$src" "$tmp/m"
	case $tool in
	cpp | rsync)
		# times kept to the microsecond, the store's precision
		a=$(stat -c %y "$src/top.txt")
		b=$(stat -c %y "$tmp/m/top.txt")
		[ "${a%???}" = "${b%???}" ] ||
		    fail "$tool: mtime $b, wanted $a"
		;;
	esac
	bltfs_umount "$tmp/m"
	check_store "$store"
	bltfs_mount "$store" "$tmp/m"
	# three walks: the kernel keeps listings from the second on
	for walk in 1 2 3; do
		same_types "$src" "$tmp/m"
	done
	same_tree "$src" "$tmp/m"
	# and back out again
	rm -rf "$tmp/out"
	cp -r "$tmp/m" "$tmp/out"
	same_tree "$src" "$tmp/out"
	bltfs_umount "$tmp/m"
done

# An existing store, opened read-only, shows the same tree.
bltfs_mount "$tmp/cp.blt" "$tmp/m" -o ro
same_tree "$src" "$tmp/m"
bltfs_umount "$tmp/m"
