#!/bin/sh
# A read-only mount opens files without a handle and closes them without a
# flush (op_open()): once the kernel holds a file's pages, reading it again
# asks the daemon nothing but the open (which says whether another process
# writes the store, and the file is then read past the page cache) and the
# release the kernel sends without waiting.  Checked here by the request
# log of libfuse (-d): the opcodes a second pass over every file sends.  Also: mmap, O_DIRECT and fsync without an open file, the control
# files, which then have no open file to keep their text in, and stores
# that were not closed cleanly.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

m=$tmp/m
store=$tmp/s.blt
cp "$FIXTURES_DIR/small_str_bytes.blt" "$store"
bltfs_mount "$store" "$m" -o ro -d
log=$tmp/log.$pid

# opcodes FROM: the requests logged from line FROM on, one opcode a line
opcodes()
{
	tail -n "+$1" "$log" | sed -n 's/^unique: [0-9]*, opcode: \([A-Z_]*\) .*/\1/p'
}

find "$m" -type f -exec cat {} + >"$tmp/first"
[ -s "$tmp/first" ] || fail "reading every file gave nothing"
opcodes 1 >"$tmp/ops1"
grep -qx READ "$tmp/ops1" || fail "the first pass read nothing from the daemon"
! grep -qx FLUSH "$tmp/ops1" ||
	fail "$(grep -cx FLUSH "$tmp/ops1") FLUSH requests, not none"

n=$(($(wc -l <"$log") + 1))
find "$m" -type f -exec cat {} + >"$tmp/again"
cmp -s "$tmp/first" "$tmp/again" || fail "a second pass read other bytes"
if opcodes "$n" | grep -E '^(READ|FLUSH|LOOKUP|GETATTR)$' \
    >"$tmp/ops2"; then
	fail "reading cached files again asked the daemon: $(sort "$tmp/ops2" |
	    uniq -c | tr '\n' ' ')"
fi
bltfs_umount "$m"

# The same bytes through a mapping, O_DIRECT (a READ with no handle each
# time) and an fsync, which has nothing to commit; on a fresh mount.
bltfs_mount "$store" "$m" -o ro
python3 - "$m" <<'EOF' || fail "mmap, O_DIRECT or fsync of a read-only mount"
import mmap, os, sys
files = [os.path.join(d, f) for d, _, fs in os.walk(sys.argv[1]) for f in fs]
assert len(files) > 10, files
for p in files:
    fd = os.open(p, os.O_RDONLY | os.O_DIRECT)
    os.fsync(fd)
    size = os.fstat(fd).st_size
    # O_DIRECT wants aligned buffers: readv into an mmap'd one
    buf = mmap.mmap(-1, max(4096, (size + 4095) // 4096 * 4096))
    got = os.preadv(fd, [buf], 0)
    direct = bytes(buf[:got])
    os.close(fd)
    with open(p, "rb") as f:
        plain = f.read()
        mapped = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)[:] if plain else b""
    assert got == size == len(plain), (p, got, size, len(plain))
    assert direct == plain == mapped, p
EOF
find "$m" -type f -exec cat {} + >"$tmp/third"
cmp -s "$tmp/first" "$tmp/third" || fail "the fresh mount read other bytes"

# The control files: status and jobs/ID tell the present although nothing
# opens them; writing a command is refused before it reaches the daemon.
python3 -m json.tool "$m/.bltfs/status" >/dev/null || fail "status is not JSON"
last=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["last_job"])' \
    "$m/.bltfs/status")
[ "$last" = 0 ] || fail "last_job is $last before any job"
"$BLTFS" ctl "$m" sync --wait >/dev/null 2>"$tmp/err" ||
	fail "sync on a read-only mount: $(cat "$tmp/err")"
python3 - "$m/.bltfs" <<'EOF' || fail "status and jobs/1 after a sync"
import json, os, sys
d = sys.argv[1]
for _ in range(2):  # and again, from what the kernel may keep
    s = json.load(open(os.path.join(d, "status")))
    assert s["last_job"] == 1 and s["options"]["ro"], s
    j = json.load(open(os.path.join(d, "jobs", "1")))
    assert j["kind"] == "sync" and j["state"] == "done", j
    assert os.stat(os.path.join(d, "status")).st_size == len(
        open(os.path.join(d, "status"), "rb").read())
EOF
if (echo sync >"$m/.bltfs/ctl") 2>"$tmp/err"; then
	fail "a command was written to ctl on a read-only mount"
fi
grep -q "Read-only file system" "$tmp/err" || fail "ctl write: $(cat "$tmp/err")"
if "$BLTFS" ctl "$m" prune >/dev/null 2>"$tmp/err"; then
	fail "a prune ran on a read-only mount"
fi
grep -q "read-only" "$tmp/err" || fail "prune: $(cat "$tmp/err")"
bltfs_umount "$m"
cmp -s "$store" "$FIXTURES_DIR/small_str_bytes.blt" ||
	fail "a read-only mount changed the store"
# A store the Python booklet left marked unclean (a handle never closed:
# the key count becomes 0xFFFFFFFF, nothing else changes) mounts read-only
# as it is, with every item of its manifest; one whose chains a crash cut
# is refused, naming the problem.  Neither is changed.
printf '\377\377\377\377' |
	dd of="$store" bs=1 seek=33 conv=notrunc status=none
cp "$store" "$tmp/unclean.blt"
bltfs_mount "$store" "$m" -o ro
"$MOUNT_CHECK" "$FIXTURES_DIR/small_str_bytes.json" "$m" >"$tmp/check.out" ||
	fail "unclean store, mounted read-only: $(cat "$tmp/check.out")"
grep -q "$store: was not closed cleanly; read as it is" "$tmp/log.$pid" ||
	fail "the log does not say the store was unclean: $(cat "$tmp/log.$pid")"
bltfs_umount "$m"
cmp -s "$store" "$tmp/unclean.blt" ||
	fail "a read-only mount changed an unclean store"
cut_first_chain "$store"
cp "$store" "$tmp/cut.blt"
bltfs_mount_fails "$store" "$m" -o ro
grep -q "$store: was not closed cleanly, and cannot be read as it is: live block not reachable from its bucket" "$tmp/err" ||
	fail "cut chain, read-only mount: $(cat "$tmp/err")"
cmp -s "$store" "$tmp/cut.blt" || fail "a refused mount changed the store"
echo "mount-ro: ok"
