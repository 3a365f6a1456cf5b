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
# it, read the writer's bytes first and the stored version after.  And
# such a file whose key the other process deletes lives on, unlinked, as
# on any file system: fstat(2) and reads give the version it opened, on a
# read-write and a -o ro mount, before and after the mount follows the
# delete (rsync stopped its whole copy with "fstat failed: No such file or
# directory" when the pipeline deleted a key it had just opened), and a
# new open of it fails with ENOENT, as after an unlink.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need_reference

s=$tmp/s.blt
m=$tmp/m
ref_new "$s" bytes "    db['k'] = b'A' * 104
    db['d'] = b'D' * 3000"
bltfs_mount "$s" "$m"
bltfs_mount "$s" "$tmp/ro" -o ro
store_let_go "$s"

# the holder, a child of the reader: opens the store for writing, puts a
# key the mount is to show (so the mount knows another process is at
# work), then waits for a line to overwrite k with a longer value and
# close
"$PY" - "$s" "$m" <<'PY' || fail "a reader through the mounts failed (above)"
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

# the other process deletes a key open on both mounts: one descriptor
# told its size before the delete, one after it, one never until the
# name went; all read the value they opened, whole
holder = subprocess.Popen([sys.executable, '-c', """
import booklet, sys
with booklet.open(sys.argv[1], 'w') as db:
    db['shown2'] = b'T'
    db.sync()
    sys.stdin.readline()
    del db['d']
    db.sync()
    print('deleted', flush=True)
    sys.stdin.readline()
""", store], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
mounts = (m, os.path.join(os.path.dirname(m), 'ro'))
end = time.monotonic() + 30
while not all(shows(f'{p}/shown2', b'T') for p in mounts):
    assert time.monotonic() < end, 'the mounts do not show the 2nd put'
    time.sleep(0.02)
fds = {p: [os.open(f'{p}/d', os.O_RDONLY) for _ in range(3)]
       for p in mounts}
for p in mounts:
    assert os.fstat(fds[p][0]).st_size == 3000
holder.stdin.write(b'go\n')
holder.stdin.flush()
assert holder.stdout.readline() == b'deleted\n', 'the holder failed'

def whole(fd, what):
    st = os.fstat(fd)
    assert st.st_size == 3000, f'{what}: fstat says {st.st_size} bytes'
    got = os.pread(fd, 8192, 0)
    assert got == b'D' * 3000, f'{what}: read {got[:20]!r}, {len(got)} bytes'
    assert os.pread(fd, 8192, 2990) == b'D' * 10, f'{what}: at 2990'
    return st

for p in mounts:
    whole(fds[p][1], f'{p}/d, told its size after the delete')
    # a new open of it fails, as after an unlink: its name may still be
    # the kernel's (the mount tells it of the delete a moment later)
    try:
        os.close(os.open(f'{p}/d', os.O_RDONLY))
        raise AssertionError(f'{p}/d opens after its delete')
    except FileNotFoundError:
        pass
for p in mounts:
    while os.path.exists(f'{p}/d'):
        assert time.monotonic() < end, f'{p}/d stays after its delete'
        time.sleep(0.02)
    st = whole(fds[p][0], f'{p}/d, told its size before, its name gone')
    assert st.st_nlink == 0, f'{p}/d: nlink {st.st_nlink} once deleted'
    got = os.pread(fds[p][2], 8192, 0)
    assert got == b'D' * 3000, f'{p}/d, first read with its name gone: ' \
        f'{got[:20]!r}, {len(got)} bytes'
    whole(fds[p][2], f'{p}/d, told its size with its name gone')
    for fd in fds[p]:
        os.close(fd)
holder.stdin.close()
assert holder.wait() == 0, 'the holder failed at its close'
PY
bltfs_umount "$tmp/ro"
bltfs_umount "$m"
check_store "$s"
echo "mount-pinned: ok"
