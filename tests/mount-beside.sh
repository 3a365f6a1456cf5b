#!/bin/sh
# A mount beside the Python pipeline that owns its store (issue 60).  A
# mount holds the store's lock only while a request needs it and lets it
# go once idle, so the reference booklet opens the store for writing
# between the mount's requests; what it wrote (new keys, new values,
# deletes, a prune in place) the mount's next request shows, read-write
# and read-only, and what the mount wrote the reference reads.  blt runs
# beside an idle mount too, and its prune, which puts a new file in the
# store's place, is followed.  A reference writer that keeps the store
# open holds up the mount's requests for -o lock_timeout at most: then a
# read or a write fails with EBUSY, the log names the writer's pid, and
# nothing is stored; a reference reader holds up the mount's writes only.
# A process told a file's size by fstat reads that version whole, though
# the writer lengthened it before the first read (rsync, tar), and so
# does one told it before the writer began.
# BATCHES and BATCH size the pipeline: make check runs 50 batches of
# 2,000 keys, .ci/run also the issue's 50 of 20,000 once.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need_reference

BATCHES=${BATCHES:-50}
BATCH=${BATCH:-2000}
a=$tmp/a.blt
b=$tmp/b.blt
ma=$tmp/ma
mb=$tmp/mb

"$PY" - "$a" "$b" <<'PY' || fail "the reference could not make the stores"
import booklet, sys
for path in sys.argv[1:]:
    with booklet.open(path, 'n', key_serializer='str',
                      value_serializer='pickle') as db:
        db['seed/k'] = {'seed': 1}
PY
bltfs_mount "$a" "$ma"
bltfs_mount "$b" "$mb" -o ro

# unlocked STORE: no process holds STORE's flock (/proc/locks), which is
# how the pipeline, whose booklet does not wait for it, finds it free.
unlocked()
{
	! grep -q ":$(stat -c %i "$1") " /proc/locks
}
free()
{
	for s in "$@"; do
		poll "$s stays locked by an idle mount: $(cat /proc/locks)" \
		    unlocked "$s"
	done
}

# batch I: the pipeline writes batch I into both stores: open 'w', BATCH
# keys b<I>/k<J> -> {'i': I, 'j': J}, close.  At batch 10 it also
# overwrites seed/k and deletes b0/k0; at 25 it deletes the first half of
# batch 1 and prunes (in place, as the reference does).
batch()
{
	"$PY" - "$1" "$BATCH" "$a" "$b" <<'PY'
import booklet, sys, time
i, n = int(sys.argv[1]), int(sys.argv[2])
for path in sys.argv[3:]:
    t = time.monotonic()
    with booklet.open(path, 'w') as db:
        opened = time.monotonic() - t
        for j in range(n):
            db[f'b{i}/k{j}'] = {'i': i, 'j': j}
        if i == 10:
            db['seed/k'] = 'changed'
            del db['b0/k0']
        if i == 25:
            for j in range(n // 2):
                del db[f'b1/k{j}']
            db.prune()
    print(f'{opened:.3f}')
PY
}

# value FILE: the pickle in FILE, as Python prints it.
value()
{
	"$PY" -c 'import pickle, sys
print(pickle.load(open(sys.argv[1], "rb")))' "$1"
}
# shows FILE TEXT: FILE holds the pickle TEXT, read through the kernel's
# cache of its pages (which the mount's thread drops once it has followed
# the change, not the request that found it: fs/ctl/follow.c).
shows() { [ "$(value "$1" 2>&1)" = "$2" ]; }
# files MNT: how many files find lists; shows_files MNT N: N of them.
files() { find "$1" -path "$1/.bltfs" -prune -o -type f -print | wc -l; }
shows_files() { [ "$(files "$1")" = "$2" ]; }

expect=1
i=0
slowest=0
# a mount that only reads takes no lock to follow the pipeline: it reads
# what the pipeline appended, pruned and deleted without it, as the
# pipeline's open, which does not wait, might meet it (fs/ctl/follow.c);
# counted from when the mounts' start-up (their index built) is over
built() { [ "$(status_get "$1" index state)" = built ]; }
for m in "$ma" "$mb"; do
	poll "$m: the index is not built: $(cat "$m/.bltfs/status")" built "$m"
done
free "$a" "$b"

# A size the kernel was told while nobody else wrote the store (kept
# long, from the mount's index) and a file opened then, read once a
# writer has replaced the value with a longer one: the read gives the
# version of that size, or the new one if the mount has followed the
# write already (within milliseconds: fs/ctl/watch.c), whole either way,
# through both mounts, not EBUSY (a cut value before 8e8efe6).  The writer
# puts the old value back.
"$PY" - "$a" "$b" "$ma" "$mb" <<'PY' || fail "a read of a size told before a writer began"
import booklet, os, pickle, sys
a, b, ma, mb = sys.argv[1:]
opened = []
for m in (ma, mb):
    f = os.path.join(m, 'seed/k')
    os.stat(f)  # the mount's index learns the size
    os.listdir(os.path.dirname(f))  # the kernel is told it from there
    opened.append((f, os.open(f, os.O_RDONLY)))
with booklet.open(a, 'w') as da, booklet.open(b, 'w') as db:
    for d in (da, db):
        d['seed/k'] = 'long' * 500
        d.sync()
    for f, fd in opened:
        data = os.read(fd, 1 << 16)
        try:
            v = pickle.loads(data)
        except Exception as e:
            raise AssertionError(f'{f}: {len(data)} bytes, cut: {e}')
        assert v in ({'seed': 1}, 'long' * 500), f'{f}: {data[:40]!r}'
        os.close(fd)
    for d in (da, db):
        d['seed/k'] = {'seed': 1}
PY
free "$a" "$b"
taken_a=$(status_get "$ma" lock_taken)
taken_b=$(status_get "$mb" lock_taken)
while [ $i -lt "$BATCHES" ]; do
	if [ $i -eq 10 ]; then # the kernel caches seed/k's value
		for m in "$ma" "$mb"; do
			shows "$m/seed/k" "{'seed': 1}" || fail "$m: seed/k"
		done
	fi
	free "$a" "$b"
	batch $i >"$tmp/opened" || fail "batch $i: the pipeline failed (above)"
	if [ $i -eq 10 ]; then
		for m in "$ma" "$mb"; do
			poll "$m: the cached seed/k stays stale" \
			    shows "$m/seed/k" changed
		done
	fi
	expect=$((expect + BATCH))
	[ $i -eq 10 ] && expect=$((expect - 1))
	[ $i -eq 25 ] && expect=$((expect - BATCH / 2))
	for m in "$ma" "$mb"; do
		# a listing the kernel keeps may be stale until the mount
		# has told it (milliseconds after the flush, bltfs.1)
		poll "batch $i: $m does not show the store's $expect files" \
		    shows_files "$m" "$expect"
		for j in 0 $((BATCH / 2)) $((BATCH - 1)); do
			shows "$m/b$i/k$j" "{'i': $i, 'j': $j}" ||
				fail "batch $i: $m/b$i/k$j: $(value "$m/b$i/k$j" 2>&1)"
		done
	done
	slowest=$(sort -n "$tmp/opened" | tail -n 1)
	i=$((i + 1))
done
echo "the pipeline wrote $BATCHES batches of $BATCH keys; its slowest open, last batch: $slowest s"
for m in "$ma" "$mb"; do
	[ ! -e "$m/b0/k0" ] || fail "$m: a key the pipeline deleted shows"
	[ ! -e "$m/b1/k0" ] || fail "$m: a key deleted before the prune shows"
	[ -e "$m/b1/k$((BATCH - 1))" ] || fail "$m: a key kept by the prune went"
done
for m in "$ma" "$mb"; do
	grep -q '"relaid_unlocked": [1-9]' "$m/.bltfs/status" ||
		fail "$m: status counts no prune followed without the lock: $(cat "$m/.bltfs/status")"
	grep -q '"keys_unlocked": [1-9]' "$m/.bltfs/status" ||
		fail "$m: status counts no key followed without the lock: $(cat "$m/.bltfs/status")"
done
[ "$(status_get "$ma" lock_taken)" = "$taken_a" ] &&
    [ "$(status_get "$mb" lock_taken)" = "$taken_b" ] ||
	fail "a mount took the lock to follow the pipeline: $(cat "$ma/.bltfs/status" "$mb/.bltfs/status")"
"$BLTFS" ctl "$mb" status >"$tmp/st" || fail "bltfs ctl status"
grep -q "^followed  [0-9]* changes of other processes: [0-9]* grown" "$tmp/st" &&
    grep -Eq "^ +[0-9]+ keys and [0-9]+ prunes or clears read without the lock" "$tmp/st" ||
	fail "bltfs ctl status says: $(cat "$tmp/st")"

# What the mount writes, the reference reads, also while it stays up.
echo '"from the mount"' | "$PY" -c 'import json, pickle, sys
sys.stdout.buffer.write(pickle.dumps(json.load(sys.stdin)))' >"$ma/mine"
free "$a"
[ "$("$PY" - "$a" <<'PY'
import booklet, sys
with booklet.open(sys.argv[1], 'r') as db:
    d = dict(db.items())
    print(d['mine'], len(d))
PY
)" = "from the mount $((expect + 1))" ] || fail "the reference does not read what the mount wrote"
expect=$((expect + 1))

# A file written through the mount in two halves, the pipeline pruning the
# store in place between them (once the mount let it go: the open file's
# first half is not stored yet), holds both halves once closed, and the
# prune's changes are kept (issue 66, finding 3).
"$PY" - "$a" "$ma/across" <<'PY' || fail "a write across the pipeline's prune (above)"
import booklet, os, pickle, sys, time
store, path = sys.argv[1:]
ino = os.stat(store).st_ino
value = 'a' * 5000 + 'b' * 5000
data = pickle.dumps(value)
def unlocked():
    return not any(f':{ino} ' in line for line in open('/proc/locks'))
with open(path, 'wb', buffering=0) as f:
    f.write(data[:5000])
    end = time.monotonic() + 60
    while not unlocked():
        assert time.monotonic() < end, 'the idle mount keeps the lock'
        time.sleep(0.01)
    with booklet.open(store, 'w') as db:
        del db['b2/k0']
        db.prune()
    f.write(data[5000:])
end = time.monotonic() + 60
while not unlocked():
    assert time.monotonic() < end, 'the idle mount keeps the lock'
    time.sleep(0.01)
with booklet.open(store, 'r') as db:
    got = db.get('across')
    assert 'b2/k0' not in db, 'the prune\'s delete came back'
assert got == value, \
    f'the store holds {None if got is None else len(got)} characters, not 10000'
PY
# the prune dropped b2/k0; across is new

# blt beside an idle mount: a put shows; a prune, which puts a new file in
# the store's place, is followed (status: replaced).
# (blt waits a moment: a sweep of the mount's names may hold the lock
# for a step when the store's count changed short of its index)
free "$a"
printf '"blt"' | "$BLT" put --timeout 10 --encode "$a" from-blt || fail "blt put beside an idle mount"
[ -e "$ma/from-blt" ] || fail "a key blt put does not show"
free "$a"
"$BLT" prune --timeout 10 "$a" >/dev/null || fail "blt prune beside an idle mount"
poll "after blt prune the mount does not show $((expect + 1)) files" \
    shows_files "$ma" $((expect + 1))
# reads take no lock, so the mount's thread finds the new file (0.1 s)
counts_replaced() { grep -q '"replaced": [1-9]' "$ma/.bltfs/status"; }
poll "status does not count a store put in place: $(cat "$ma/.bltfs/status")" \
    counts_replaced
bltfs_umount "$mb"
bltfs_umount "$ma"

# A writer that keeps the store open: the mount's reads go on without
# the lock (blt_hold_peek()) and show what the writer synced; its writes
# wait for lock_timeout, then fail with EBUSY, the log naming the writer;
# nothing is stored.  A reader holds up writes only.  The reference holds
# the store until its FIFO is written.
bltfs_mount "$a" "$ma" -o lock_timeout=1
hold()
{
	mkfifo "$tmp/go.$1"
	"$PY" - "$a" "$1" "$tmp/go.$1" "$tmp/held.$1" <<'PY' &
import booklet, sys
path, mode, go, held = sys.argv[1:]
with booklet.open(path, mode) as db:
    if mode == 'w':
        db['written-while-held'] = 'yes'
        db.sync()
    open(held, 'w').close()
    open(go).read()
PY
	holder=$!
}
release()
{
	echo >"$tmp/go.$1"
	wait "$holder" || fail "the reference holding the store failed"
}
free "$a"
cat "$ma/mine" >"$tmp/mine.before" || fail "cat of mine before the writer"
hold w
poll "the reference did not open the store" test -e "$tmp/held.w"
run_status sh -c "cat '$ma/mine' >'$tmp/out'"
[ "$got" = 0 ] || fail "a read beside a writer holding the store failed: $(cat "$tmp/err")"
cmp -s "$tmp/out" "$tmp/mine.before" ||
	fail "a read beside a writer holding the store read other bytes"
written_shows()
{
	[ "$(cat "$ma/written-while-held" 2>/dev/null | "$PY" -c 'import pickle, sys
print(pickle.load(sys.stdin.buffer))' 2>/dev/null)" = yes ]
}
poll "what the writer synced while it held the store does not show" \
    written_shows
# the create needs no lock; the write is refused (dash says only "I/O
# error" of a failed echo; cp names the errno), and so are the closes
run_status sh -c "echo x >'$ma/refused'"
[ "$got" != 0 ] || fail "a write past the lock timeout succeeded"
grep -q "echo: I/O error" "$tmp/err" || fail "the write said: $(cat "$tmp/err")"
echo y >"$tmp/y"
run_status cp "$tmp/y" "$ma/refused-cp"
[ "$got" != 0 ] || fail "a cp past the lock timeout succeeded"
grep -q "error writing.*Device or resource busy" "$tmp/err" ||
	fail "the cp said: $(cat "$tmp/err")"
run_status sh -c "echo x >'$ma/mine'"
[ "$got" != 0 ] || fail "an emptying open past the lock timeout succeeded"
grep -q "Device or resource busy" "$tmp/err" || fail "the open said: $(cat "$tmp/err")"
grep -q "$a: held by python3 (pid $holder) past the lock timeout (1 s): a change answered EBUSY" "$tmp/log.$pid" ||
	fail "the log does not name the holder: $(cat "$tmp/log.$pid")"
release w
written_shows || fail "what the writer wrote does not show once it closed"
# their files go at their release, which the kernel sends after close
for f in refused refused-cp; do
	poll "a refused write's file $f stays" test ! -e "$ma/$f"
done
cmp -s "$ma/mine" "$tmp/mine.before" || fail "a refused open emptied mine"

# A program that reads as many bytes as fstat(2) says (rsync, tar) reads
# one whole version: the size a process is told of a file it has open
# beside a writer is that of the version its reads give, though the
# writer replaced the value with a longer one between the open and the
# first read; other processes see the new one.
free "$a"
"$PY" - "$a" "$ma/grows" <<'PY' || fail "a read of fstat's size beside a writer"
import booklet, os, pickle, subprocess, sys, time
path, file = sys.argv[1:]

def elsewhere():
    """The value another process reads now."""
    out = subprocess.run(['cat', file], capture_output=True).stdout
    return pickle.loads(out) if out else None

def shows(v):
    for _ in range(600):  # a bound against hanging, not a measure
        if elsewhere() == v:
            return
        time.sleep(0.1)
    sys.exit(f'{file}: the mount does not show {v!r}')

with booklet.open(path, 'w') as db:
    db['grows'] = 'short'
    db.sync()
    shows('short')
    fd = os.open(file, os.O_RDONLY)
    size = os.fstat(fd).st_size
    db['grows'] = 'long' * 500
    db.sync()
    shows('long' * 500)
    data = os.read(fd, size)
    assert pickle.loads(data) == 'short', data[:40]
    assert os.fstat(fd).st_size == size, 'the size changed while read'
    assert os.read(fd, 100) == b'', 'bytes past the told size'
    os.close(fd)
    with open(file, 'rb') as f:
        assert pickle.load(f) == 'long' * 500, 'a new open reads the old'
PY

free "$a"
hold r
poll "the reference did not open the store" test -e "$tmp/held.r"
cat "$ma/mine" >/dev/null || fail "a read beside a reference reader failed"
run_status sh -c "echo x >'$ma/refused'"
[ "$got" != 0 ] || fail "a write beside a reference reader succeeded"
release r
bltfs_umount "$ma"
"$PY" - "$a" <<'PY' || fail "the reference cannot read the store whole"
import booklet, sys
with booklet.open(sys.argv[1], 'r') as db:
    assert 'refused' not in db
    dict(db.items())
PY
echo "mount-beside: ok"
