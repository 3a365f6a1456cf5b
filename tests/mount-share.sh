#!/bin/sh
# Several opens of one file share their writes, as on any file system:
# processes appending to one log at once lose no line, a truncate(1) of a
# file another process is writing holds, two writers at other offsets see
# each other, sqlite with several writing connections stays whole, and a
# close stores what every writer wrote so far, which a SIGKILL of the
# daemon then does not lose, a stat through a writer while a late release
# stores the file gives the size the writer made, and a late release
# stores only what changed through its own handle, and a child's close of
# a descriptor it inherited stores nothing its parent has half written.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

store=$tmp/s.blt
m=$tmp/m
bltfs_mount "$store" "$m"

# Four shells append 400 lines each to one log, each with its own open
# per line (>>) and all at the same time.
appenders=
for w in 1 2 3 4; do
	(
		i=0
		while [ $i -lt 400 ]; do
			i=$((i + 1))
			echo "writer $w line $i" >>"$m/log"
		done
	) &
	appenders="$appenders $!"
done
for p in $appenders; do
	wait "$p" || fail "an appender failed"
done
[ "$(wc -l <"$m/log")" = 1600 ] ||
	fail "appenders: $(wc -l <"$m/log") lines in the log, wanted 1600"
[ "$(tr -d '\000' <"$m/log" | wc -c)" = "$(wc -c <"$m/log")" ] ||
	fail "appenders: the log holds NUL bytes"
for w in 1 2 3 4; do
	seq 1 400 | sed "s/^/writer $w line /" >"$tmp/want"
	grep "^writer $w " "$m/log" >"$tmp/got"
	cmp -s "$tmp/want" "$tmp/got" ||
		fail "appenders: writer $w's lines are not all there, in order"
done

# The same steps in a plain directory and on the mount: one process holds
# a file open for writing while others truncate it by path and open it
# with O_TRUNC; two writers at other offsets read each other's bytes
# before either closes.
steps()
{
	python3 - "$1" <<'PY'
import os, subprocess, sys
d = sys.argv[1]
p = lambda n: os.path.join(d, n)
held = os.open(p("held"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
os.write(held, b"before the truncate\n")
subprocess.run(["truncate", "-s", "0", p("held")], check=True)
os.write(held, b"after it\n")
with open(p("held"), "w") as f:   # O_TRUNC by another open
    f.write("replaced\n")
os.write(held, b"appended last\n")
os.close(held)

a = os.open(p("two"), os.O_RDWR | os.O_CREAT, 0o644)
b = os.open(p("two"), os.O_RDWR)
os.pwrite(a, b"A" * 5000, 0)
os.pwrite(b, b"B" * 5000, 5000)
print(os.pread(a, 10000, 0) == b"A" * 5000 + b"B" * 5000,
      os.fstat(b).st_size)
os.ftruncate(b, 7000)
os.close(b)
os.pwrite(a, b"end", 7000)
print(os.fstat(a).st_size)
os.close(a)
PY
}
mkdir "$tmp/ref" "$m/steps"
steps "$tmp/ref" >"$tmp/steps.ref"
steps "$m/steps" >"$tmp/steps.out"
cmp -s "$tmp/steps.ref" "$tmp/steps.out" || {
	diff "$tmp/steps.ref" "$tmp/steps.out" >&2
	fail "two opens of one file saw other things than in a directory"
}
same_tree "$tmp/ref" "$m/steps"

# sqlite: three connections in threads insert 150 rows each, committing
# every row; its file locks are the kernel's, its pages one value.
sqlite_writers()
{
	python3 - "$1" <<'PY'
import sqlite3, sys, threading
db = sys.argv[1]
c = sqlite3.connect(db)
c.execute("create table t (writer int, n int)")
c.commit()
c.close()
def insert(w):
    c = sqlite3.connect(db, timeout=60)
    for n in range(150):
        c.execute("insert into t values (?, ?)", (w, n))
        c.commit()
    c.close()
threads = [threading.Thread(target=insert, args=(w,)) for w in range(3)]
for t in threads:
    t.start()
for t in threads:
    t.join()
c = sqlite3.connect(db)
print(c.execute("pragma integrity_check").fetchone()[0],
      c.execute("select count(*), count(distinct writer * 1000 + n) "
                "from t").fetchone())
PY
}
if python3 -c 'import sqlite3' 2>/dev/null; then
	out=$(sqlite_writers "$m/rows.db")
	[ "$out" = "ok (450, 450)" ] ||
		fail "sqlite with three writers: $out, wanted ok (450, 450)"
fi

# A release comes after close(2) has returned, and stores what the file's
# other writers wrote meanwhile: a stat through one of them must still
# give the size its own write made (tests/mount_late_release.c).
"$top_builddir/tests/mount_late_release" "$m" 10000 ||
	fail "a stat through a writer gave the size from before its write"
# And it stores nothing that other handles wrote: the store must not change
# between a close and the next close or fsync of the file's last writer.
"$top_builddir/tests/mount_late_release" "$m" 5000 "$store" ||
	fail "a release stored what another handle wrote since"

# A close stores what the file's other writers wrote too: with one of them
# still open, the daemon is killed, and after a remount the file holds
# both writes.  The still-open writer waits for the end of its input.
mkfifo "$tmp/hold" "$tmp/said"
python3 - "$m/kept" <"$tmp/hold" >"$tmp/said" <<'PY' &
import os, sys
w = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
os.pwrite(w, b"from the writer still open\n", 0)
a = os.open(sys.argv[1], os.O_WRONLY)
os.pwrite(a, b"and from one that closed\n", 27)
os.close(a)
print("closed", flush=True)
sys.stdin.read()
PY
holder=$!
exec 9>"$tmp/hold" 8<"$tmp/said"
read -r line <&8 || line="(nothing)"
[ "$line" = closed ] || fail "the writer said $line"
bltfs_kill "$m"
exec 9>&- 8<&-
wait "$holder" || true
fusermount3 -u "$m"
forget_daemon 0
bltfs_mount "$store" "$m"
printf 'from the writer still open\nand from one that closed\n' >"$tmp/want"
cmp "$tmp/want" "$m/kept" || fail "a close did not store the other writer's bytes"
[ "$(wc -l <"$m/log")" = 1600 ] || fail "the log changed after a remount"
same_tree "$tmp/ref" "$m/steps"

# A close by a process that wrote nothing through the file (a child's copy
# of the descriptor, closed at its exec or exit) stores nothing the writer
# has half written: the store keeps the old value for every other reader
# until the writer's own close (issue 66, finding 4).  A close of a dup in
# the writer itself (a shell's >&7) is a close like any other.
printf 'old\n' >"$m/half"
python3 - "$BLT" "$store" "$m/half" <<'PY' || fail "a file half written (above)"
import os, subprocess, sys
blt, store, path = sys.argv[1:]
def stored():
    return subprocess.run([blt, 'get', '--timeout', '10', store, 'half'],
                          check=True, stdout=subprocess.PIPE).stdout
fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
os.write(fd, b'first half ')
got = stored()  # its exec closes its copy of fd
assert got == b'old\n', f'blt read {got!r} while the file was half written'
child = os.fork()
if child == 0:
    os._exit(0)  # closes its copy at its exit
os.waitpid(child, 0)
got = stored()
assert got == b'old\n', f"a child's close stored {got!r}"
os.write(fd, b'second half\n')
os.close(fd)
got = stored()
assert got == b'first half second half\n', f'the close stored {got!r}'
PY
printf 'first half second half\n' | cmp -s - "$m/half" ||
	fail "the mount shows another value: $(cat "$m/half")"
bltfs_umount "$m"
check_store "$store"
