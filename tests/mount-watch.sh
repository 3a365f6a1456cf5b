#!/bin/sh
# A mount that shares its store watches the store file (fs/ctl/watch.c,
# inotify), so that another process's flush wakes the mount's thread at
# once instead of at its next look, every 0.1 s (issue 66: a sync shown
# within 100 ms).  What a test can check without a clock: the daemon's
# inotify watch is on the file at the store's path (its inode, in
# /proc/PID/fdinfo), also after another file is put in that place; status
# counts the looks a write woke; and what a writer holding the store puts
# shows, in the first file and in the one that replaced it.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need_reference

s=$tmp/s.blt
m=$tmp/m
ref_new "$s" bytes "    db['a/k0'] = b'0'"
bltfs_mount "$s" "$m"
store_let_go "$s"

# watched: the daemon ($pid) watches the file at $s, whichever it is now
watched()
{
	grep -q "^inotify wd:[0-9]* ino:$(printf %x "$(stat -c %i "$s")") " \
	    /proc/"$pid"/fdinfo/* 2>/dev/null
}
poll "the mount does not watch $s: $(cat /proc/"$pid"/fdinfo/* 2>&1 |
    grep inotify)" watched

# hold STORE KEY: a writer holds STORE, puts KEY and syncs, and keeps the
# store until the mount shows KEY and a write has woken the mount's
# thread since the count it is given
hold()
{
	"$PY" - "$1" "$m" "$2" "$3" <<'PY' || fail "$2 did not show while its writer held the store (above)"
import booklet, json, os, sys, time
store, mnt, key, before = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

def woken():
    with open(f'{mnt}/.bltfs/status') as f:
        return json.load(f)['followed']['woken_by_writes']

with booklet.open(store, 'w') as db:
    db[key] = key.encode()
    db.sync()
    end = time.monotonic() + 60
    while not os.path.exists(os.path.join(mnt, key)):
        assert time.monotonic() < end, f'{key} does not show'
        time.sleep(0.01)
    with open(os.path.join(mnt, key), 'rb') as f:
        assert f.read() == key.encode()
    # a lookup may find the key in the store before the thread looks,
    # which it does 10 ms after the write
    while woken() <= before:
        assert time.monotonic() < end, 'no look was woken by a write'
        time.sleep(0.01)
PY
}
hold "$s" a/k1 0
woken=$(status_get "$m" followed woken_by_writes)

# another file put in the store's place (a copy moved over it, as a prune
# of blt does): the mount follows it, and watches it instead
cp "$s" "$tmp/new.blt"
ref_write "$tmp/new.blt" "    db['b/k2'] = b'b/k2'"
mv "$tmp/new.blt" "$s"
poll "the mount does not show the new file's b/k2" test -e "$m/b/k2"
poll "the mount does not watch the new file at $s" watched
store_let_go "$s"
hold "$s" c/k3 "$woken"

bltfs_umount "$m"
"$PY" - "$s" <<'PY' || fail "the reference does not read the store whole"
import booklet, sys
with booklet.open(sys.argv[1], 'r') as db:
    got = dict(db.items())
want = {'a/k0': b'0', 'a/k1': b'a/k1', 'b/k2': b'b/k2', 'c/k3': b'c/k3'}
assert got == want, got
PY
echo "mount-watch: ok"
