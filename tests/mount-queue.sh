#!/bin/sh
# The job queue is bounded: while a job runs, at most 32 more wait to
# start, and the next start is refused with EBUSY and a message naming the
# limit, through the ctl file, the ioctl and bltfs ctl alike; a cancel
# makes room.  The records of finished jobs are bounded too: the daemon
# keeps the 100 that finished last, queued jobs cancelled by the hundred
# included, and never the job just ended among those it forgets.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

QUEUE_MAX=32 # fs/ctl/job.c, JOB_QUEUE_MAX
KEEP=100     # fs/ctl/job.c, JOB_KEEP

store=$tmp/s.blt
m=$tmp/m
bltfs_mount "$store" "$m"
echo x >"$m/x"

# One job that runs until it is cancelled holds up the rest.
"$BLTFS" ctl "$m" map --exec 'sleep 600; cat' --workers 1 x >"$tmp/out" ||
	fail "the long map: $(cat "$tmp/out")"
[ "$(cat "$tmp/out")" = "job 1 started" ] || fail "$(cat "$tmp/out")"

# The rest in one Python process: the ctl file and the ioctls.
cat >"$tmp/queue.py" <<'PY'
import errno, fcntl, json, os, struct, sys, time

mnt, queue_max, keep = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
CMD = "=4096siIQ"
STATUS = "=IIQQQQQIIQ256sII"

def ioc(dirn, nr, size):
    return (dirn << 30) | (size << 16) | (0xB1 << 8) | nr

def by_file(text):
    fd = os.open(os.path.join(mnt, ".bltfs", "ctl"), os.O_RDWR)
    err = 0
    try:
        os.write(fd, text.encode() + b"\n")
    except OSError as e:
        err = e.errno
    reply = os.read(fd, 4096).decode().strip()
    os.close(fd)
    return err, reply

def by_ioctl(text):
    fd = os.open(mnt, os.O_RDONLY)
    buf = bytearray(struct.pack(CMD, text.encode(), 0, 0, 0))
    try:
        fcntl.ioctl(fd, ioc(3, 1, struct.calcsize(CMD)), buf)
        err = 0
    except OSError as e:
        err = e.errno
    os.close(fd)
    reply, status, _, job = struct.unpack(CMD, bytes(buf))
    assert status == -err, (status, err)
    return err, reply.split(b"\0")[0].decode().strip()

def status():
    fd = os.open(mnt, os.O_RDONLY)
    buf = bytearray(struct.calcsize(STATUS))
    fcntl.ioctl(fd, ioc(2, 3, struct.calcsize(STATUS)), buf)
    os.close(fd)
    s = struct.unpack(STATUS, bytes(buf))
    return {"running": s[6], "queued": s[7], "last_job": s[9]}

def job(jid):
    with open(os.path.join(mnt, ".bltfs", "jobs", str(jid))) as f:
        return json.load(f)

def listed():
    return sorted(int(n) for n in os.listdir(os.path.join(mnt, ".bltfs", "jobs")))

def ok(how, text):
    err, reply = how(text)
    assert err == 0 and reply.startswith("job "), (text, err, reply)
    return int(reply.split()[1])

# job 1 takes a moment to be taken up: until then it is queued, and
# counts.  Its state file says when it runs.
for _ in range(3000):
    if job(1)["state"] != "queued":
        break
    time.sleep(0.01)
assert job(1)["state"] == "running", job(1)

full = ("error: sync: %d jobs are waiting to start already, the most the "
        "daemon queues; try again once one has started, or cancel one"
        % queue_max)
queued = [ok(by_file if i % 2 else by_ioctl, "sync") for i in range(queue_max)]
assert status() == {"running": 1, "queued": queue_max,
                    "last_job": queued[-1]}, status()
for how in (by_file, by_ioctl):
    err, reply = how("sync")
    assert (errno.errorcode[err], reply) == ("EBUSY", full), (err, reply)
err, reply = by_file("prune")
assert err == errno.EBUSY and reply.startswith("error: prune: %d jobs"
                                                % queue_max), reply
assert status()["last_job"] == queued[-1], status()

# a cancel makes room for one more
assert by_ioctl("cancel %d" % queued[0]) == (0, "job %d cancelled"
                                              % queued[0])
queued = queued[1:] + [ok(by_file, "sync")]
assert by_file("sync") == (errno.EBUSY, full)

# Queued jobs cancelled by the hundred while job 1 runs: the records of
# the finished ones stay at KEEP, those that finished last.
cancelled = [queued.pop(0) for _ in range(len(queued))]
for jid in cancelled:
    assert by_file("cancel %d" % jid)[0] == 0
while len(cancelled) < 3 * keep:
    more = [ok(by_ioctl, "sync") for _ in range(queue_max)]
    for jid in more:
        assert by_ioctl("cancel %d" % jid)[0] == 0
    cancelled += more
ids = listed()
assert ids == [1] + cancelled[-keep:], (len(ids), ids[:5])
assert status()["queued"] == 0, status()
print(cancelled[-1])
PY
last=$(python3 "$tmp/queue.py" "$m" "$QUEUE_MAX" "$KEEP") ||
	fail "the queue and the records"

# bltfs ctl says why it was refused and exits 1.
for i in $(seq 1 "$QUEUE_MAX"); do
	"$BLTFS" ctl "$m" sync >/dev/null || fail "sync $i of $QUEUE_MAX"
done
set +e
"$BLTFS" ctl "$m" sync >"$tmp/out" 2>"$tmp/err"
rc=$?
set -e
[ "$rc" = 1 ] || fail "bltfs ctl sync with a full queue exited $rc"
[ "$(cat "$tmp/err")" = "bltfs ctl: sync: $QUEUE_MAX jobs are waiting to start already, the most the daemon queues; try again once one has started, or cancel one" ] ||
	fail "bltfs ctl sync with a full queue: $(cat "$tmp/err")"
[ ! -s "$tmp/out" ] || fail "bltfs ctl printed $(cat "$tmp/out")"

# Job 1 ends after hundreds of newer jobs have finished; it is the one
# that finished last, so it is kept for whoever waits for it.  Then the
# queued syncs run.
"$BLTFS" ctl "$m" cancel 1 >/dev/null || fail "cancel 1"
set +e
"$BLTFS" ctl "$m" job 1 --wait >"$tmp/out" 2>"$tmp/err"
rc=$?
set -e
[ "$rc" = 5 ] || fail "job 1 --wait exited $rc: $(cat "$tmp/err")"
"$BLTFS" ctl "$m" job $((last + QUEUE_MAX)) --wait >/dev/null 2>"$tmp/err" ||
	fail "the last sync: $(cat "$tmp/err")"
[ "$(ls "$m/.bltfs/jobs" | wc -l)" = "$KEEP" ] ||
	fail "$(ls "$m/.bltfs/jobs" | wc -l) jobs kept, not $KEEP"
bltfs_umount "$m"
check_store "$store"
echo "mount-queue: ok"
