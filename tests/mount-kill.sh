#!/bin/sh
# SIGKILL the daemon in the middle of a copy: after a remount every file
# whose close returned without an error is there and intact, and the store
# passes blt check.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

head -c 9000000 /dev/urandom >"$tmp/big" # spills to a temporary file
store=$tmp/s.blt
m=$tmp/m
bltfs_mount "$store" "$m"

# The writer prints each file's number once its close has returned without
# an error (a shell's redirection would not say if close failed).
mkfifo "$tmp/progress"
python3 - "$m" "$tmp/big" >"$tmp/progress" <<'PY' &
import sys
m, big = sys.argv[1:3]
with open(big, "rb") as f:
    big = f.read()
i = 0
while True:
    data = big if i % 40 == 7 else b"file %d\n" % i
    try:
        f = open("%s/f%d" % (m, i), "wb")
        f.write(data)
        f.close()
    except OSError:
        sys.exit(0)
    print(i, flush=True)
    i += 1
PY
writer=$!
exec 8<"$tmp/progress"
: >"$tmp/done"
while read -r i <&8; do
	echo "$i" >>"$tmp/done"
	[ "$i" -lt 300 ] || break
done
bltfs_kill "$m"
# closes that returned before the writer noticed
while read -r i <&8; do
	echo "$i" >>"$tmp/done"
done
exec 8<&-
wait "$writer"
[ "$(wc -l <"$tmp/done")" -ge 300 ] || fail "the writer stopped early"
fusermount3 -u "$m"
grep -v "^0 " "$daemons" >"$daemons.new" || true
mv "$daemons.new" "$daemons"

# the store was not closed: the remount recovers it
bltfs_mount "$store" "$m"
while read -r i; do
	if [ $((i % 40)) = 7 ]; then
		cmp "$tmp/big" "$m/f$i" || fail "f$i differs"
	else
		[ "$(cat "$m/f$i")" = "file $i" ] || fail "f$i differs"
	fi
done <"$tmp/done"
bltfs_umount "$m"
check_store "$store"
