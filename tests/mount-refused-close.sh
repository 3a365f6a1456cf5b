#!/bin/sh
# A close refused for the lock stays refused (issue 66).  A file is
# written through the mount, and its descriptor is shared with a child
# (fork).  The pipeline then holds the store: the parent's close waits the
# lock timeout and fails with EBUSY, so the program was told its write was
# not stored.  The pipeline closes; then the child's close of the same
# open file releases it, with the store free.  That release used to store
# the refused value all the same: the key read "new", which nobody was
# told had been stored.  Now the store keeps the value it had, and a new
# file refused so leaves no name.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need_reference

s=$tmp/s.blt
m=$tmp/m
ref_new "$s" bytes "    db['d/old'] = b'old'
    db['d/other'] = b'other'"
bltfs_mount "$s" "$m" -o lock_timeout=1
store_let_go "$s"

"$PY" - "$s" "$m" <<'PY' || fail "the run beside the mount failed (above)"
import booklet, errno, os, sys
store, mnt = sys.argv[1:]

def locked_out(path):
    """The pipeline's open, once the mount has let the store go after
    the write (it holds it for a commit, and a write's first turn)."""
    while True:
        try:
            return booklet.open(path, 'w')
        except Exception as e:
            if 'Lock' not in type(e).__name__:
                raise

for name in ('old', 'new'):
    fd = os.open(f'{mnt}/d/{name}', os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.write(fd, b'refused')
    r, w = os.pipe()
    child = os.fork()
    if child == 0:  # holds the open file until told, then closes it
        os.close(w)
        os.read(r, 1)
        os.close(fd)
        os._exit(0)
    os.close(r)
    db = locked_out(store)
    try:
        os.close(fd)
        sys.exit(f'd/{name}: the close beside the pipeline succeeded')
    except OSError as e:
        if e.errno != errno.EBUSY:
            raise
    db.close()
    os.write(w, b'x')  # the child's close: the release, the store free
    os.close(w)
    _, st = os.waitpid(child, 0)
    assert st == 0, st
PY
# the releases are answered before the unmount ends
bltfs_umount "$m"
"$PY" - "$s" <<'PY' || fail "the store has a refused value (above)"
import booklet, sys
with booklet.open(sys.argv[1], 'r') as db:
    got = dict(db.items())
want = {'d/old': b'old', 'd/other': b'other'}
if got != want:
    sys.exit(f'the store holds {got}, not {want}')
PY
check_store "$s"
echo "mount-refused-close: ok"
