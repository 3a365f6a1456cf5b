#!/bin/sh
# SIGKILL the daemon in the middle of a copy: the reference opens the store
# it left for reading at once (the mount marks a store open in header bytes
# the reference never reads, issue 66), and after a remount every file
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
forget_daemon 0

# the key count stays the last clean point's, so Python opens the store
# read-only (it refuses its own unclean sentinel there)
if [ -n "${REFERENCE_PY:-}" ]; then
	need_reference
	"$PY" - "$store" <<'PY' ||
import booklet, sys
with booklet.open(sys.argv[1], 'r') as db:
    assert db[b'f0'] == b'file 0\n', db[b'f0']
PY
		fail "the reference cannot open the store the killed mount left"
fi

# the store was not closed: the remount recovers it, and says so.  The
# mount lets the store go within 0.1 s of its last change, so a writer
# slower than that (a loaded machine) may find it closed clean: then its
# mark (bytes 125 to 132) is not there, and nothing is to be recovered.
marked=$(dd if="$store" bs=1 skip=125 count=8 2>/dev/null)
bltfs_mount "$store" "$m"
if [ "$marked" = 'bltfs+w!' ]; then
	grep -q "^bltfs: $store: was not closed cleanly; recovered" "$tmp/log.$pid" ||
		fail "the remount did not say it recovered: $(cat "$tmp/log.$pid")"
else
	echo "the mount had let the store go, clean, when it was killed"
fi
while read -r i; do
	if [ $((i % 40)) = 7 ]; then
		cmp "$tmp/big" "$m/f$i" || fail "f$i differs"
	else
		[ "$(cat "$m/f$i")" = "file $i" ] || fail "f$i differs"
	fi
done <"$tmp/done"
bltfs_umount "$m"
check_store "$store"

# A file renamed onto another while its writer still has it open replaces
# it at once: readers see what the writer wrote (as on any file system)
# and none of the other file's bytes, and after a SIGKILL before the
# writer's close neither file is there (the new one was never stored).
# The writer says when it has renamed, then waits, its file open, for the
# end of its standard input, which comes after the kill; what it saw is
# checked after that, so that a failure does not leave it waiting.  (Its
# script is a file: python3 - would read it from that input.)
bltfs_mount "$store" "$m"
printf 'old value\n' >"$m/replaced"
mkfifo "$tmp/renamed" "$tmp/hold"
cat >"$tmp/writer.py" <<'PY'
import os, sys
m = sys.argv[1]
fd = os.open(m + "/incoming", os.O_CREAT | os.O_WRONLY)
os.write(fd, b"new")
os.rename(m + "/incoming", m + "/replaced")
print(open(m + "/replaced", "rb").read().decode() or "(empty)", flush=True)
sys.stdin.read()
PY
python3 "$tmp/writer.py" "$m" >"$tmp/renamed" <"$tmp/hold" &
writer=$!
exec 8<"$tmp/renamed" 9>"$tmp/hold"
read -r seen <&8
exec 8<&-
bltfs_kill "$m"
exec 9>&-
wait "$writer" || true
[ "$seen" = "new" ] || fail "the replaced file read as '$seen'"
fusermount3 -u "$m"
forget_daemon 0
bltfs_mount "$store" "$m"
for f in replaced incoming; do
	[ ! -e "$m/$f" ] ||
		fail "$f is there after a crash, holding '$(cat "$m/$f")'"
done
bltfs_umount "$m"
check_store "$store"
