#!/bin/sh
# Random file operations (tests/mount_fsx.c) on a mount and on a plain
# directory side by side: every result the same, and after a remount, and
# read-only, the same trees; the store passes blt check.  Seeds 1 to 8, run
# at the same time while the store is pruned, or FSX_SEEDS="S ..." (FSX_OPS
# operations each).
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

FSX=$top_builddir/tests/mount_fsx
[ -x "$FSX" ] || { echo "not built: $FSX" >&2; exit 99; }
seeds=${FSX_SEEDS:-1 2 3 4 5 6 7 8}
ops=${FSX_OPS:-4000}

store=$tmp/s.blt
m=$tmp/m
# files past 64 KiB go to temporary files while they are written
bltfs_mount "$store" "$m" -o spill=65536

# Cases the random runs found, by name: a file created by a read-only open
# is stored, and files that lose their name while open (unlink, a rename
# onto them) are read and written to the end, as in a plain directory,
# also by an open that comes after the rename.
cases()
{
	python3 - "$1" <<'PY'
import mmap, os, sys
d = sys.argv[1]
p = lambda n: os.path.join(d, n)
def put(n, b):
    with open(p(n), "wb") as f:
        f.write(b)
os.close(os.open(p("created"), os.O_CREAT | os.O_RDONLY))
put("old", b"old value\n")
os.close(os.open(p("empty"), os.O_CREAT | os.O_RDONLY))
os.rename(p("empty"), p("old"))
put("gone", b"0123456789" * 1000)
r = os.open(p("gone"), os.O_RDONLY)
w = os.open(p("gone"), os.O_WRONLY)
os.unlink(p("gone"))
os.pwrite(w, b"written", 3)
os.close(w)
print(len(os.read(r, 100000)), os.fstat(r).st_size)
os.close(r)
put("a", b"A" * 5000)
put("b", b"B" * 7)
r = os.open(p("b"), os.O_RDONLY)
os.rename(p("a"), p("b"))
print(os.read(r, 100), sorted(os.listdir(d)))
os.close(r)
# an open of the replaced file itself (through /proc), its pages dropped
put("pinned", b"first value")
r = os.open(p("pinned"), os.O_RDONLY)
put("pinned.new", b"second")
os.rename(p("pinned.new"), p("pinned"))
r2 = os.open("/proc/self/fd/%d" % r, os.O_RDONLY)
os.posix_fadvise(r2, 0, 0, os.POSIX_FADV_DONTNEED)
print(os.read(r2, 100))
os.close(r2)
os.close(r)
# a reader of a file its writer changed reads what the writer wrote: the
# kernel has one page cache for both, from which the writer reads back
# (the reader's pages held the stored value, and the writer's read, change
# and write of a page stored it over its own write)
def drop(fd):
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
def peek(fd, size):
    d = os.pread(fd, size, 0)
    return len(d), d.count(b"A"), d.count(b"B"), d.count(b"\0")
put("shared", b"A" * 20000)
w = os.open(p("shared"), os.O_RDWR)
os.pwrite(w, b"B" * 1000, 5000)
r = os.open(p("shared"), os.O_RDONLY)
drop(r)
print(peek(r, 30000), peek(w, 30000))
page = bytearray(os.pread(w, 4096, 4096))
page[0] = ord("M")
os.pwrite(w, bytes(page), 4096)
os.ftruncate(w, 12000)
drop(r)
print(peek(r, 30000))
os.ftruncate(w, 20000)
drop(w)
print(peek(r, 30000), peek(w, 30000))
m = mmap.mmap(w, 20000)
m[100:101] = b"N"
m.flush()
m.close()
d = os.open(p("shared"), os.O_RDONLY | os.O_DIRECT)
aligned = mmap.mmap(-1, 32768)
print(os.readv(d, [aligned]), aligned[:8], aligned[5000:5004])
os.close(d)
os.close(r)
os.close(w)
PY
}
mkdir "$tmp/ref" "$m/cases"
cases "$tmp/ref" >"$tmp/cases.ref"
cases "$m/cases" >"$tmp/cases.out"
cmp "$tmp/cases.ref" "$tmp/cases.out" || {
	diff "$tmp/cases.ref" "$tmp/cases.out" >&2
	fail "files that lose their names while open"
}
same_tree "$tmp/ref" "$m/cases"
# All seeds at once, each in a directory of its own, so that the daemon
# serves them from several threads; and prunes, one after the other, until
# they are done: a prune moves every value to a new file under them.
pids=
for s in $seeds; do
	mkdir "$tmp/ref.$s" "$m/seed$s"
	"$FSX" -s "$s" -n "$ops" "$tmp/ref.$s" "$m/seed$s" &
	pids="$pids $!:$s"
done
(
	while [ ! -e "$tmp/fsx.done" ]; do
		"$BLTFS" ctl "$m" prune --wait >"$tmp/prune.out" 2>&1 || {
			cat "$tmp/prune.out" >&2
			exit 1
		}
	done
) &
pruner=$!
for p in $pids; do
	wait "${p%:*}" || fail "mount_fsx seed ${p#*:}"
done
: >"$tmp/fsx.done"
wait "$pruner" || fail "a prune failed during the random operations"
bltfs_umount "$m"
check_store "$store"

for opts in rw ro; do
	bltfs_mount "$store" "$m" -o "$opts"
	for s in $seeds; do
		"$FSX" -c "$tmp/ref.$s" "$m/seed$s" ||
			fail "seed $s differs after a remount ($opts)"
	done
	same_tree "$tmp/ref" "$m/cases"

	bltfs_umount "$m"
done

# A SIGKILL in the middle: the same random runs, in new directories, stop
# with files still open (mount_fsx -k), and the plain directories then hold
# what was last stored of each; once every run says "ready", the daemon is
# killed.  After a remount the mount must show just that.
bltfs_mount "$store" "$m" -o spill=65536
mkfifo "$tmp/kin" "$tmp/kout"
pids=
for s in $seeds; do
	mkdir "$tmp/kref.$s" "$m/kill$s"
	"$FSX" -k -s "$s" -n "$ops" "$tmp/kref.$s" "$m/kill$s" \
	    <"$tmp/kin" >"$tmp/kout" &
	pids="$pids $!:$s"
done
exec 9>"$tmp/kin" 8<"$tmp/kout"
# a run that failed is reported after the kill: until their input ends,
# the runs keep files open on the mount, which could not go away
kfailed=
for s in $seeds; do
	while read -r line <&8; do
		case $line in
		ready) break ;;
		failed) kfailed=1 && break ;;
		esac
	done
done
bltfs_kill "$m"
exec 9>&- 8<&-
for p in $pids; do
	wait "${p%:*}" || fail "mount_fsx -k seed ${p#*:}"
done
[ -z "$kfailed" ] || fail "mount_fsx -k failed (see above)"
fusermount3 -u "$m"
forget_daemon 0
bltfs_mount "$store" "$m"
for s in $seeds; do
	"$FSX" -c "$tmp/kref.$s" "$m/kill$s" ||
		fail "seed $s: after a crash the mount is not as last stored"
done
bltfs_umount "$m"
check_store "$store"

# A flat mount (-o flat: no directories) gives the same results for files
# in the root, before and after a remount.
flat=$tmp/flat.blt
mkdir "$tmp/fref"
bltfs_mount "$flat" "$m" -o flat
"$FSX" -F -s 1 -n "$ops" "$tmp/fref" "$m" || fail "mount_fsx -F"
bltfs_umount "$m"
bltfs_mount "$flat" "$m" -o flat
"$FSX" -F -c "$tmp/fref" "$m" || fail "the flat mount differs after a remount"
bltfs_umount "$m"
check_store "$flat"
