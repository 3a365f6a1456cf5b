#!/bin/sh
# Edits through the mount (sed -i, >>, truncate, partial overwrites,
# renames of files and directories, mkdir and rmdir) give the same tree as
# the same steps in a plain directory, before and after a remount.  Also:
# the errors a mount gives for what it cannot do, readers of one file
# going on while another is held open by a writer, and st_blocks (du,
# ls -s) following the size of files with holes and of files being
# written.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

head -c 100000 /dev/urandom >"$tmp/rand"
head -c 9000000 /dev/urandom >"$tmp/big" # past the 8 MiB write buffer

# steps DIR: the same edits, in a plain directory or a mount.
steps()
{
	d=$1
	mkdir -p "$d/docs/sub" "$d/empty" "$d/gone" "$d/keep/deep/er"
	printf 'alpha\nbeta\ngamma\n' >"$d/docs/a.txt"
	sed -i 's/beta/BETA/' "$d/docs/a.txt"
	printf 'delta\n' >>"$d/docs/a.txt"
	printf 'epsilon\n' >>"$d/docs/a.txt"
	seq 1 5000 >"$d/docs/sub/b.txt"
	truncate -s 5000 "$d/docs/sub/b.txt"
	truncate -s 20000 "$d/docs/sub/b.txt"
	cp "$tmp/rand" "$d/docs/sub/r.bin"
	dd if=/dev/zero of="$d/docs/sub/r.bin" bs=100 seek=5 count=3 \
	    conv=notrunc 2>/dev/null
	cp "$tmp/big" "$d/keep/deep/er/big"
	dd if=/dev/zero of="$d/keep/deep/er/big" bs=4096 seek=2000 count=3 \
	    conv=notrunc 2>/dev/null
	printf 'tail' >>"$d/keep/deep/er/big"
	python3 - "$d/docs/rw" <<'PY'
import os, sys
with open(sys.argv[1], "w+b") as f:
    f.write(b"0123456789" * 10)
    f.seek(5)
    f.write(b"abc")
    f.flush()
    f.seek(0)
    assert f.read(10) == b"01234abc89", "read back through the same file"
    f.truncate(50)
    os.fsync(f.fileno())
    f.seek(0, 2)
    f.write(b"end")
    f.seek(5000)
    f.write(b"after a hole")
    f.truncate(3000)
    f.truncate(4000)
PY
	mv "$d/docs/a.txt" "$d/docs/a2.txt"
	mv "$d/docs/sub" "$d/moved"
	mv "$d/moved" "$d/keep/sub2"
	mv "$d/keep" "$d/kept"
	rmdir "$d/gone"
	mkdir "$d/new"
	rmdir "$d/new"
	printf 'data\n' >"$d/docs/trunc"
	: >"$d/docs/trunc"
	printf 'over\n' >"$d/over1"
	printf 'target\n' >"$d/over2"
	mv "$d/over1" "$d/over2"
	mkdir "$d/edir1" "$d/edir2"
	mv "$d/edir1" "$d/edir2"
	rm "$d/kept/sub2/b.txt"
	touch -d '2010-10-10 10:10:10.654321' "$d/docs/a2.txt"
	touch "$d/empty.file"
}

mkdir "$tmp/plain"
steps "$tmp/plain"
store=$tmp/s.blt
bltfs_mount "$store" "$tmp/m"
steps "$tmp/m"
same_tree "$tmp/plain" "$tmp/m"
[ "$(stat -c %y "$tmp/m/docs/a2.txt")" = \
    "2010-10-10 10:10:10.654321000 +0000" ] ||
	fail "utimensat: $(stat -c %y "$tmp/m/docs/a2.txt")"

# st_blocks is the value's size in 512-byte units, as the store holds it:
# a file with holes is stored whole, so du and ls -s count its holes, and
# while a file is written they follow its size.
(cd "$tmp/m" && find . -type f -printf '%s %b %p\n') |
	awk '$2 != int(($1 + 511) / 512) { print; bad = 1 } END { exit bad }' \
	>"$tmp/blocks" || fail "st_blocks is not the size: $(cat "$tmp/blocks")"
truncate -s 1000000 "$tmp/m/holes"
printf 'end' >>"$tmp/m/holes"
[ "$(stat -c %b "$tmp/m/holes")" = 1954 ] &&
	[ "$(du -k "$tmp/m/holes" | cut -f1)" = 977 ] &&
	[ "$(ls -s "$tmp/m/holes" | cut -d' ' -f1)" = 977 ] ||
	fail "blocks of a file with holes: $(stat -c '%s %b' "$tmp/m/holes")"
python3 - "$tmp/m/growing" <<'PY' || fail "st_blocks of a file being written"
import os, sys
fd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
for off, n in ((0, 1), (700000, 5), (0, 100000), (2000000, 1)):
    os.pwrite(fd, b"x" * n, off)
    for st in (os.fstat(fd), os.stat(sys.argv[1])):
        assert st.st_blocks == (st.st_size + 511) // 512, (st.st_size, st.st_blocks)
os.ftruncate(fd, 1000)
assert os.stat(sys.argv[1]).st_blocks == 2
os.close(fd)
PY
rm "$tmp/m/holes" "$tmp/m/growing"

# What the mount refuses, and how.
m=$tmp/m
expect_fail()
{
	if "$@" 2>"$tmp/err"; then
		fail "succeeded: $*"
	fi
	grep -q "$want" "$tmp/err" || fail "$* said: $(cat "$tmp/err")"
}
want="Directory not empty"
expect_fail rmdir "$m/kept"
want="Operation not permitted"
expect_fail ln "$m/over2" "$m/hardlink"
expect_fail ln -s over2 "$m/symlink"
expect_fail mkfifo "$m/fifo"
# Modes are kept for the mount's life (tests/mount-modes.sh), so rsync -a
# and cp -a of private files (a .ssh directory) work, into any store.
mkdir -p "$tmp/private/.ssh"
printf 'key\n' >"$tmp/private/.ssh/id"
chmod 0600 "$tmp/private/.ssh/id"
chmod 0700 "$tmp/private/.ssh"
cp -a "$tmp/private/." "$m/copied/" || fail "cp -a of private files"
[ "$(stat -c %a "$m/copied/.ssh/id")" = 600 ] || fail "cp -a lost the mode"
if command -v rsync >/dev/null; then
	rsync -a "$tmp/private/" "$m/rsynced/" ||
	    fail "rsync -a of private files"
	same_tree "$tmp/private" "$m/rsynced"
fi
same_tree "$tmp/private" "$m/copied"
rm -rf "$m/copied" "$m/rsynced"
chown "$(id -u):$(id -g)" "$m/over2"
want="File exists"
expect_fail mkdir "$m/kept"
# A program sees EINVAL for a name that is not one; the daemon's log says
# why, and so does the status file, whatever the log reaches.
want="Invalid argument"
expect_fail touch "$m/docs/q‛41"
"$BLTFS" ctl "$m" status --json >"$tmp/status" || fail "bltfs ctl status"
python3 - "$tmp/status" <<'PY' || fail "status has no log of the refused name"
import json, sys
last = json.load(open(sys.argv[1]))["log"][-1]
assert last["time"].endswith("Z"), last
assert last["message"] == ("'q‛41' is not a name: it stands for the key "
    "listed as 'docs/qA'; to name these characters as typed, write "
    "'docs/q‛E2‛80‛9B41' (doc/keys.md)"), last
PY
# rename(2) itself, since mv checks some of these before it asks
rename_fails()
{
	python3 - "$@" <<'PY'
import errno, os, sys
try:
    os.rename(sys.argv[1], sys.argv[2])
except OSError as e:
    if e.errno != getattr(errno, sys.argv[3]):
        sys.exit("rename %s %s: %s, wanted %s" % (sys.argv[1], sys.argv[2],
                 errno.errorcode[e.errno], sys.argv[3]))
else:
    sys.exit("rename %s %s succeeded" % (sys.argv[1], sys.argv[2]))
PY
}
rename_fails "$m/kept" "$m/over2" ENOTDIR
rename_fails "$m/over2" "$m/kept" EISDIR
rename_fails "$m/kept" "$m/kept/deep/into" EINVAL
rename_fails "$m/edir2" "$m/kept" ENOTEMPTY
rename_fails "$m/nothing" "$m/else" ENOENT
# Values stop at the format's limit, 4 GiB - 1 bytes.
want="File too large"
expect_fail truncate -s 4294967296 "$m/over2"
python3 - "$m/over2" <<'PY'
import errno, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
try:
    os.pwrite(fd, b"x", 1 << 32)
    sys.exit("a write past 4 GiB succeeded")
except OSError as e:
    if e.errno != errno.EFBIG:
        raise
os.close(fd)
PY
[ ! -e "$m/hardlink" ] && [ ! -e "$m/symlink" ] && [ ! -e "$m/fifo" ] ||
	fail "a refused node exists"
# Timestamps are unsigned µs since 1970: earlier ones are out of range
# (not "Invalid argument"), and the time stays; 1970 itself is kept.
touch -d '2001-02-03 04:05:06 UTC' "$m/over2"
want="Numerical result out of range"
expect_fail touch -d '1960-01-01 UTC' "$m/over2"
expect_fail touch -d '1969-12-31 23:59:59.999999 UTC' "$m/over2"
expect_fail touch -d '@9223372036854775807' "$m/over2"
[ "$(stat -c %Y "$m/over2")" = 981173106 ] ||
	fail "a refused time changed the file's: $(stat -c %y "$m/over2")"
touch -d '1970-01-01 00:00:00 UTC' "$m/over2"
[ "$(stat -c %Y "$m/over2")" = 0 ] || fail "1970: $(stat -c %y "$m/over2")"
# No file can run from the mount, and access(X_OK) says so (it said every
# file could, and git then failed to run a hook file instead of skipping
# it); directories can be entered.
echo 'echo hi' >"$m/script"
chmod +x "$m/script" 2>/dev/null || :
[ ! -x "$m/script" ] || fail "access(X_OK) allows a file that cannot run"
[ -x "$m" ] && [ -r "$m/script" ] && [ -w "$m/script" ] ||
	fail "access refuses what the mount allows"
[ -z "$(find "$m" -maxdepth 1 -type f -executable)" ] ||
	fail "find -executable lists files"
rm "$m/script"
# A store without timestamps keeps no time, so every time is ignored,
# those before 1970 too (they used to fail with ERANGE).
"$BLT" create --no-timestamps "$tmp/nots.blt"
bltfs_mount "$tmp/nots.blt" "$tmp/nots"
echo v >"$tmp/nots/f"
was=$(stat -c %Y "$tmp/nots/f")
touch -d '1960-01-01 UTC' "$tmp/nots/f" ||
	fail "1960 in a store without timestamps"
touch -d '2001-02-03 UTC' "$tmp/nots/f"
[ "$(stat -c %Y "$tmp/nots/f")" = "$was" ] ||
	fail "a store without timestamps showed a new time"
bltfs_umount "$tmp/nots"

# A writer that holds a file open does not keep readers of other files
# (or of that file's old value) waiting: cat blocks on a fifo meanwhile.
mkfifo "$tmp/fifo"
cat "$tmp/fifo" >"$m/slow" &
writer=$!
exec 7>"$tmp/fifo"
printf 'first half ' >&7
cmp "$tmp/m/kept/deep/er/big" "$tmp/plain/kept/deep/er/big"
cat "$m/docs/a2.txt" >/dev/null
ls -l "$m" >/dev/null
printf 'second half\n' >&7
exec 7>&-
wait "$writer"
printf 'first half second half\n' >"$tmp/plain/slow"

# Concurrent writers of their own files and readers of the others.
i=0
pids=
while [ $i -lt 8 ]; do
	(
		j=0
		while [ $j -lt 20 ]; do
			seq $i $((i + j * 100)) >"$m/conc$i"
			cmp -s "$m/docs/a2.txt" "$tmp/plain/docs/a2.txt" ||
				exit 1
			j=$((j + 1))
		done
	) &
	pids="$pids $!"
	i=$((i + 1))
done
for job in $pids; do
	wait "$job" || fail "a concurrent writer or reader failed"
done
i=0
while [ $i -lt 8 ]; do
	seq $i $((i + 19 * 100)) >"$tmp/plain/conc$i"
	i=$((i + 1))
done
same_tree "$tmp/plain" "$m"

# Replacing a file by writing another and renaming it over (how editors and
# config tools save): readers that open it meanwhile get the old file or
# the new one whole, never a mix.  Each version starts with the SHA-256 of
# the rest.  A torn read names the pages that differ and the version each
# came from.  (This race once showed a page of the next version: a read by
# key between the rename's store change and its index change.)
python3 - "$m" <<'PY' || fail "a reader saw a file half replaced"
import hashlib, multiprocessing, os, random, sys
d = sys.argv[1]
N = 60
def version(i):
    r = random.Random(i)
    body = r.randbytes(r.randrange(1, 300000))
    return hashlib.sha256(body).hexdigest().encode() + b"\n" + body
def writer():
    for i in range(N):
        tmp = os.path.join(d, ".replace.%d" % (i % 3))
        with open(tmp, "wb") as f:
            f.write(version(i))
        os.rename(tmp, os.path.join(d, "replaced"))
def explain(data):
    vs = {i: version(i) for i in range(-1, N)}
    own = [i for i, v in vs.items() if v[:64] == data[:64]]
    out = []
    for p in range(0, len(data), 4096):
        page = data[p:p + 4096]
        if own and vs[own[0]][p:p + 4096] == page:
            continue
        src = [i for i, v in vs.items() if v[p:p + len(page)] == page]
        out.append("page %d from %s" % (p // 4096,
                   src or ("zeros" if page.count(0) == len(page) else "?")))
    return "%d bytes of version %s: %s" % (len(data), own, ", ".join(out))
def reader(_):
    torn = []
    for _ in range(3 * N):
        with open(os.path.join(d, "replaced"), "rb") as f:
            data = f.read()
        head, _, body = data.partition(b"\n")
        if hashlib.sha256(body).hexdigest().encode() != head:
            torn.append(explain(data))
    return torn
if __name__ == "__main__":
    with open(os.path.join(d, "replaced"), "wb") as f:
        f.write(version(-1))
    w = multiprocessing.Process(target=writer)
    w.start()
    with multiprocessing.Pool(3) as pool:
        torn = sum(pool.map(reader, range(3)), [])
    w.join()
    for t in torn[:5]:
        print(t, file=sys.stderr)
    sys.exit(1 if torn or w.exitcode else 0)
PY
rm "$m/replaced"

# Files inside a directory that is renamed back and forth, read through
# descriptors opened before (O_DIRECT, so that every read asks the daemon,
# which reads them by key): never empty, never another value, while the
# store copies the keys to their new names and deletes the old ones
# before the names change.  (A daemon whose reads did not wait for the
# rename failed it about one run in three.)
mkdir "$m/swing"
python3 - "$m" <<'PY' || fail "a read inside a directory being renamed went wrong"
import mmap, multiprocessing, os, sys
d = sys.argv[1]
vals = [bytes([65 + i]) * (50000 + 4096 * i) for i in range(3)]
for i, v in enumerate(vals):
    with open(os.path.join(d, "swing", "f%d" % i), "wb") as f:
        f.write(v)
fds = [os.open(os.path.join(d, "swing", "f%d" % i), os.O_RDONLY | os.O_DIRECT)
       for i in range(3)]
def reader(i, done, bad):
    buf = mmap.mmap(-1, 1 << 20)
    while not done.is_set():
        n = os.preadv(fds[i], [buf], 0)
        if buf[:n] != vals[i]:
            with bad.get_lock():
                bad.value += 1
if __name__ == "__main__":
    ctx = multiprocessing.get_context("fork")
    done, bad = ctx.Event(), ctx.Value("i", 0)
    readers = [ctx.Process(target=reader, args=(i, done, bad))
               for i in range(3)]
    for r in readers:
        r.start()
    names = ["swing", "swung"]
    for k in range(1000):
        os.rename(os.path.join(d, names[k % 2]),
                  os.path.join(d, names[(k + 1) % 2]))
    done.set()
    for r in readers:
        r.join()
    bad = bad.value + sum(r.exitcode != 0 for r in readers)
    if bad:
        print("bad reads: %d" % bad, file=sys.stderr)
    sys.exit(1 if bad else 0)
PY
rm -r "$m/swing"

# A directory's time moves on whenever an entry comes or goes, and only
# forward, as programs that cache listings (Python's imports, make, git)
# expect: a module made after another in the same directory is found.
mkdir "$m/times"
printf 'A = 1\n' >"$m/times/mod_a.py"
python3 - "$m/times" <<'PY' || fail "a module made after an import is not found"
import os, sys
d = sys.argv[1]
sys.path.insert(0, d)
import mod_a
before = os.stat(d).st_mtime_ns
with open(os.path.join(d, "mod_b.py"), "w") as f:
    f.write("B = 2\n")
made = os.stat(d).st_mtime_ns
os.rename(os.path.join(d, "mod_b.py"), os.path.join(d, "mod_c.py"))
renamed = os.stat(d).st_mtime_ns
os.unlink(os.path.join(d, "mod_a.py"))
removed = os.stat(d).st_mtime_ns
if not before < made < renamed < removed:
    sys.exit("times did not move on: %d %d %d %d"
             % (before, made, renamed, removed))
import mod_c
sys.exit(0 if mod_c.B == 2 else 1)
PY
touch -d "2011-11-11 11:11:11" "$m/times"
[ "$(stat -c %Y "$m/times")" = "$(date -d "2011-11-11 11:11:11" +%s)" ] ||
	fail "touch of a directory: $(stat -c %y "$m/times")"
rm -r "$m/times"

bltfs_umount "$m"
check_store "$store"
bltfs_mount "$store" "$m"
same_tree "$tmp/plain" "$m"
[ "$(stat -c %y "$m/docs/a2.txt")" = "2010-10-10 10:10:10.654321000 +0000" ] ||
	fail "utimensat after remount: $(stat -c %y "$m/docs/a2.txt")"
bltfs_umount "$m"

# SIGTERM unmounts and closes cleanly too.
bltfs_mount "$store" "$m"
printf 'last\n' >"$m/last"
printf 'last\n' >"$tmp/plain/last"
bltfs_term "$m"
check_store "$store"
bltfs_mount "$store" "$m" -o ro
same_tree "$tmp/plain" "$m"
bltfs_umount "$m"

# The kernel checks the modes it shows only where they can say no to
# someone it lets in (see bltfs(1), -o umask): not on a plain mount, whose
# owner may do everything; with modes that take the owner's writing away,
# and with allow_other, it does.
checks_of()
{
	bltfs_mount "$store" "$m" "$@"
	if awk -v m="$m" '$2 == m { print $4 }' /proc/mounts |
	    grep -q default_permissions; then
		echo on
	else
		echo off
	fi
	bltfs_umount "$m"
}
[ "$(checks_of)" = off ] || fail "kernel checks on a plain mount"
[ "$(checks_of -o umask=022)" = off ] || fail "kernel checks with umask=022"
[ "$(checks_of -o umask=0277)" = on ] || fail "no kernel checks with umask=0277"
[ "$(checks_of -o allow_other)" = on ] ||
	fail "no kernel checks with allow_other"
[ "$(checks_of -o uid=$(($(id -u) + 1)))" = on ] ||
	fail "no kernel checks with another uid"

# Numbers in options are whole, in range, or refused before anything is
# made ("umask=0800" used to mount with mode 0777, "uid=-5" as 4294967291).
for o in umask=0800 umask=1777 umask= uid=-5 gid=12x spill=-1 spin=abc; do
	bltfs_mount_fails "$tmp/never.blt" "$m" -o "$o"
	grep -q -- "-o $o: expected" "$tmp/err" || fail "-o $o: $(cat "$tmp/err")"
	[ ! -e "$tmp/never.blt" ] || fail "-o $o made the store"
done
# So are a thread count of 0 (or past libfuse's 100000, or -1, which its
# scanf took for 4294967295) and a ready_fd that is not open for writing:
# both mounted, and the ready byte went nowhere.
exec 6</dev/null
for o in max_threads=0 max_threads=-1 max_threads=100001 ready_fd=99 \
    ready_fd=6; do
	bltfs_mount_fails "$tmp/never.blt" "$m" -o "$o"
	case $o in
	max_threads=*) why="expected a number from 1 to 100000" ;;
	ready_fd=99) why="file descriptor 99 is not open" ;;
	ready_fd=6) why="file descriptor 6 is open for reading only" ;;
	esac
	grep -q -- "-o $o: $why" "$tmp/err" || fail "-o $o: $(cat "$tmp/err")"
	[ ! -e "$tmp/never.blt" ] || fail "-o $o made the store"
done
exec 6<&-
# A usage error is exit status 2, found before the store is made: an
# option libfuse does not know used to make the store, then fail with 1.
for args in "-o bogus" "extra-operand"; do
	# shellcheck disable=SC2086 # the words are the arguments
	bltfs_mount_fails "$tmp/never.blt" "$m" $args
	[ "$rc" = 2 ] || fail "bltfs $args: exit status $rc, not 2"
	[ ! -e "$tmp/never.blt" ] || fail "bltfs $args made the store"
done
# A mount point that is not a directory is refused (the kernel mounted on
# a regular file, and every access then failed with EIO).
: >"$tmp/plain-file"
bltfs_mount_fails "$tmp/never.blt" "$tmp/plain-file"
[ "$rc" = 1 ] || fail "a file as mount point: exit status $rc"
grep -q "mount point $tmp/plain-file: not a directory" "$tmp/err" ||
	fail "a file as mount point: $(cat "$tmp/err")"
[ ! -e "$tmp/never.blt" ] || fail "a file as mount point made the store"
# Sizes take K, M and G, as bltfs -h shows the default (8M); a mount named
# with fsname= is still of type fuse.bltfs.
bltfs_mount "$tmp/s.blt" "$m" -o spill=64K,fsname=kv-test
grep -q "^kv-test $m fuse.bltfs " /proc/mounts ||
	fail "fsname=: $(grep " $m " /proc/mounts)"
bltfs_umount "$m"
bltfs_mount "$tmp/s.blt" "$m" -o max_threads=1
[ -d "$m/kept" ] || fail "-o max_threads=1: no kept/"
bltfs_umount "$m"


# A full disk, made by a file size limit on the daemon (prlimit; the limit
# fails a write as ENOSPC does, part of the way through): a close that
# cannot store its file fails, the file keeps its old value (a new one is
# not listed once it is released), and once there is room again writes
# work and the store checks clean.  One thread serves the requests in the
# order they came, so the release that cp's close sent is served before
# the listing that follows it.
if command -v prlimit >/dev/null; then
	bltfs_mount "$store" "$m" -o max_threads=1
	printf 'old value\n' >"$m/full-old"
	limit=$(($(stat -c %s "$store") + 1000000))
	prlimit --pid "$pid" --fsize="$limit:unlimited"
	head -c 3000000 /dev/urandom >"$tmp/three-mb"
	! cp "$tmp/three-mb" "$m/full-new" 2>"$tmp/err" ||
		fail "a file the store had no room for was copied in"
	! cp "$tmp/three-mb" "$m/full-old" 2>>"$tmp/err" ||
		fail "a file the store had no room for was overwritten"
	[ "$(cat "$m/full-old")" = "old value" ] ||
		fail "a failed overwrite changed the file"
	# a new file the store never took goes at the release, which
	# follows cp's close
	vanishes "$m/full-new"
	! ls "$m" | grep -qx full-new ||
		fail "a new file the store never took is listed"
	printf 'small\n' >"$m/full-small"
	# a prune with no room for its copy fails, says why, and changes
	# nothing
	prlimit --pid "$pid" --fsize=1000:unlimited
	! "$BLTFS" ctl "$m" prune --wait >"$tmp/prune.out" 2>&1 ||
		fail "a prune with no room for its copy succeeded"
	grep -q "failed: $store.*File too large" "$tmp/prune.out" || {
		cat "$tmp/prune.out" >&2
		fail "a failed prune does not say why"
	}
	prlimit --pid "$pid" --fsize=unlimited:unlimited
	cp "$tmp/three-mb" "$m/full-new"
	bltfs_umount "$m"
	check_store "$store"
	bltfs_mount "$store" "$m"
	cmp "$tmp/three-mb" "$m/full-new"
	[ "$(cat "$m/full-old")" = "old value" ] &&
		[ "$(cat "$m/full-small")" = small ] ||
		fail "a file written around the full disk is lost"
	bltfs_umount "$m"
fi
