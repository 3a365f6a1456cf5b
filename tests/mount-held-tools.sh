#!/bin/sh
# Tools never wait for the pipeline that holds the store (issue 66).  The
# reference keeps the store open for writing all along; meanwhile, through
# a read-write and a -o ro mount, stat(1) (whose statx asks the kernel for
# a birth time, a request no operation of bltfs takes), a cat after the
# control directory's status was read (a read-only mount then gets a
# flush at every close), and the keys the writer syncs are all answered
# without its lock.  Each used to wait for the lock timeout and fail with
# EBUSY.  And a write through the mount, which does wait for the lock,
# keeps nobody from following the writer meanwhile: its sync shows in both
# mounts while that write waits, in the same directory (the create took no
# lock, so the kernel does not keep the directory locked while the write
# waits), and the write is stored once the writer closes; so is an append
# to a key the writer put a moment before, whole.  The lock
# timeout is long, so a wait shows as a failure here.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need_reference

s=$tmp/s.blt
ref_new "$s" bytes "    for i in range(20): db[f'd/k{i}'] = b'v%d' % i
    db['e/k0'] = b'e'"
bltfs_mount "$s" "$tmp/rw" -o lock_timeout=60
bltfs_mount "$s" "$tmp/ro" -o ro,lock_timeout=60
store_let_go "$s"

# The pipeline: opens the store for writing and keeps it open, puts and
# syncs a key for each "put KEY VALUE" line, closes on "close".
mkfifo "$tmp/cmd" "$tmp/said"
cat >"$tmp/writer.py" <<'PY'
import booklet, sys
db = booklet.open(sys.argv[1], 'w')
print('open', flush=True)
for line in sys.stdin:
    word = line.split()
    if word[0] == 'put':
        db[word[1]] = word[2].encode()
        db.sync()
        print('synced', flush=True)
    elif word[0] == 'close':
        db.close()
        print('closed', flush=True)
        break
PY
"$PY" "$tmp/writer.py" "$s" <"$tmp/cmd" >"$tmp/said" &
writer=$!
exec 5>"$tmp/cmd" 6<"$tmp/said"
said() {
	read -r line <&6 || fail "the writer said nothing (above)"
	[ "$line" = "$1" ] || fail "the writer said $line, not $1"
}
said open

for m in rw ro; do
	d=$tmp/$m
	stat "$d/d/k1" >"$tmp/stat.out" 2>&1 ||
		fail "$m: stat beside the writer: $(cat "$tmp/stat.out")"
	grep -q "Size: 2" "$tmp/stat.out" ||
		fail "$m: stat beside the writer said $(cat "$tmp/stat.out")"
	cat "$d/.bltfs/status" >/dev/null 2>"$tmp/err" ||
		fail "$m: reading status beside the writer: $(cat "$tmp/err")"
	got=$(cat "$d/d/k2" 2>"$tmp/err") ||
		fail "$m: cat after status beside the writer: $(cat "$tmp/err")"
	[ "$got" = v2 ] || fail "$m: cat read $got"
	python3 -c "open('$d/d/k3', 'rb').read()" 2>"$tmp/err" ||
		fail "$m: Python's read beside the writer: $(cat "$tmp/err")"
done

echo "put d/new1 one" >&5
said synced
for m in rw ro; do
	poll "$m: the writer's sync never showed" test -e "$tmp/$m/d/new1"
	stat "$tmp/$m/d/new1" >"$tmp/stat.out" 2>&1 ||
		fail "$m: stat of a key synced: $(cat "$tmp/stat.out")"
	[ "$(cat "$tmp/$m/d/new1")" = one ] || fail "$m: d/new1 read wrong"
done

# An append, at once, to a key the writer has just put, through a name
# the kernel was told is missing: the kernel may create it (its missing
# entry not yet told otherwise), and the create, which takes no lock,
# finds the key the mount may not have followed yet, so the append keeps
# the value.  It waits for the lock (its close), as the next write does.
test ! -e "$tmp/rw/d/app" || fail "d/app is there before it was put"
echo "put d/app base" >&5
said synced
(echo more >>"$tmp/rw/d/app") 2>"$tmp/app.err" &
app=$!
waiting() { [ "$(status_get "$tmp/rw" lock_waiting)" = "$1" ]; }
poll "the append through the mount never waited for the lock" waiting 1

# A write through the mount waits for the lock; the writer's next sync
# shows meanwhile, in both mounts, in the same directory: the create was
# answered at once, so the kernel keeps no lock of d while the write waits.
(echo late >"$tmp/rw/d/late") 2>"$tmp/late.err" &
late=$!
poll "the write through the mount never waited for the lock" waiting 2
echo "put d/new2 two" >&5
said synced
for m in rw ro; do
	poll "$m: a sync did not show while a write waited for the lock" \
	    test -e "$tmp/$m/d/new2"
done
kill -0 "$late" 2>/dev/null ||
	fail "the write through the mount did not wait for the writer: $(cat "$tmp/late.err")"
echo close >&5
said closed
wait "$writer" || fail "the writer failed (above)"
wait "$late" || fail "the late write failed once the writer closed: $(cat "$tmp/late.err")"
wait "$app" || fail "the append failed once the writer closed: $(cat "$tmp/app.err")"
exec 5>&- 6<&-
[ "$(cat "$tmp/rw/d/late")" = late ] || fail "the late write was not stored"
[ "$(cat "$tmp/rw/d/app")" = "basemore" ] ||
	fail "the append stored $(cat "$tmp/rw/d/app")"

bltfs_umount "$tmp/ro"
bltfs_umount "$tmp/rw"
"$PY" - "$s" <<'PY' || fail "the reference cannot read the store whole"
import booklet, sys
with booklet.open(sys.argv[1], 'r') as db:
    got = dict(db.items())
assert got['d/late'] == b'late\n', got.get('d/late')
assert got['d/app'] == b'basemore\n', got.get('d/app')
assert got['d/new1'] == b'one' and got['d/new2'] == b'two'
assert all(got[f'd/k{i}'] == b'v%d' % i for i in range(20))
PY
echo "mount-held-tools: ok"
