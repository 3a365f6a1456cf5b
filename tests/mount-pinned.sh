#!/bin/sh
# A file opened while another process writes the store reads one version
# to its end (issue 66): the reference holds the store, a reader opens a
# key through the mount and reads its first bytes, the reference puts a
# longer value under that key and closes, and the mount takes the lock
# for a write of its own.  The reader's next reads give the rest of the
# version it began, not the new value's bytes after the old one's first
# (with the lock, the mount read the key's value now, whatever the reader
# had begun).  A reader that begins after the change reads the new value.
# Nor does such a file, read while a writer through the mount rewrites
# it, read the writer's bytes first and the stored version after.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need_reference

s=$tmp/s.blt
m=$tmp/m
ref_new "$s" bytes "    db['k'] = b'A' * 104"
bltfs_mount "$s" "$m"
store_let_go "$s"

# the holder, a child of the reader: opens the store for writing, puts a
# key the mount is to show (so the mount knows another process is at
# work), then waits for a line to overwrite k with a longer value and
# close
"$PY" - "$s" "$m" <<'PY' || fail "a reader mixed two versions (above)"
import os, subprocess, sys, time
store, m = sys.argv[1:]
holder = subprocess.Popen([sys.executable, '-c', """
import booklet, sys
with booklet.open(sys.argv[1], 'w') as db:
    db['shown'] = b'S'
    db.sync()
    sys.stdin.readline()
    db['k'] = b'B' * 143
""", store], stdin=subprocess.PIPE)

def shows(path, want):
    try:
        with open(path, 'rb') as f:
            return f.read() == want
    except OSError:
        return False

end = time.monotonic() + 30
while not shows(f'{m}/shown', b'S'):
    assert time.monotonic() < end, 'the mount does not show the holder\'s put'
    time.sleep(0.02)
fd = os.open(f'{m}/k', os.O_RDONLY)
first = os.pread(fd, 50, 0)
assert first == b'A' * 50, first
holder.stdin.write(b'go\n')
holder.stdin.close()
assert holder.wait() == 0, 'the holder failed'
# a write through the mount: it takes the lock, and follows the change
with open(f'{m}/mine', 'wb') as f:
    f.write(b'x')
rest = os.pread(fd, 4096, 50)
assert rest == b'A' * 54, f'the rest of the version begun: {rest!r}'
assert os.pread(fd, 4096, 104) == b'', 'bytes past the version begun'
os.close(fd)
assert shows(f'{m}/k', b'B' * 143), 'a new reader does not read the new value'

# opened while the other process was at work lately, and told the size of
# B by fstat: a writer through the mount that rewrites k meanwhile is not
# read before its close (the writer's buffer) and then the stored B after
fd = os.open(f'{m}/k', os.O_RDONLY)
assert os.fstat(fd).st_size == 143
wfd = os.open(f'{m}/k', os.O_WRONLY | os.O_TRUNC)
assert os.write(wfd, b'C' * 143) == 143
head = os.pread(fd, 10, 0)
os.close(wfd)
rest = os.pread(fd, 4096, 10)
assert head + rest in (b'B' * 143, b'C' * 143), \
    f'two versions in one open: {head!r} then {rest!r}'
os.close(fd)
assert shows(f'{m}/k', b'C' * 143), 'the write through the mount is lost'
PY
bltfs_umount "$m"
check_store "$s"
echo "mount-pinned: ok"
