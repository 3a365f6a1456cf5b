#!/bin/sh
# The control interface: the control directory is reachable and never
# listed; every command works through the ctl file, through the ioctls of
# include/bltfs.h and through `bltfs ctl`; wrong commands are refused with
# a message; status and jobs/ID are JSON; lsattr's ioctls get ENOTTY; only
# the mounting user or root may run commands or see status and jobs (EPERM
# for another user, also with -o allow_other, by ioctl too); -o ctl=NAME
# moves the directory; bltfs ctl takes any path in a mount and refuses a
# directory that is no bltfs mount.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

store=$tmp/s.blt
m=$tmp/m
chmod 755 "$tmp" # another user must reach the mount
bltfs_mount "$store" "$m" -o allow_other,umask=022
mkdir -p "$m/docs/sub"
for i in 1 2 3 4 5; do
	printf 'value %s\n' "$i" >"$m/docs/f$i"
done
printf 'deep\n' >"$m/docs/sub/d"

# A small client in Python: the ctl file, the ioctls, and job polling.
# Usage: py MOUNT file|ioctl|ioctl-on-file|job|status|peek|badioctl [ARG]
cat >"$tmp/ctl.py" <<'PY'
import errno, fcntl, json, os, struct, sys, time

mnt, how = sys.argv[1], sys.argv[2]
arg = sys.argv[3] if len(sys.argv) > 3 else ""
ctl = os.environ.get("CTL", ".bltfs")
CMD = "=4096siIQ"
JOB = "=QIIiIQQQQQQQqqq512s"
STATUS = "=IIQQQQQIIQ256sII"

def ioc(dirn, nr, size):
    return (dirn << 30) | (size << 16) | (0xB1 << 8) | nr

IOC_CMD = ioc(3, 1, struct.calcsize(CMD))
IOC_JOB = ioc(3, 2, struct.calcsize(JOB))
IOC_STATUS = ioc(2, 3, struct.calcsize(STATUS))

def cmd_ioctl(path, text):
    fd = os.open(path, os.O_RDONLY)
    buf = bytearray(struct.pack(CMD, text.encode(), 0, 0, 0))
    try:
        fcntl.ioctl(fd, IOC_CMD, buf)
        err = 0
    except OSError as e:
        err = e.errno
    os.close(fd)
    reply, status, _, job = struct.unpack(CMD, bytes(buf))
    return err, reply.split(b"\0")[0].decode(), status, job

def job_state(jid):
    with open(os.path.join(mnt, ctl, "jobs", str(jid))) as f:
        return json.load(f)

if how == "file":
    fd = os.open(os.path.join(mnt, ctl, "ctl"), os.O_RDWR)
    err = 0
    try:
        os.write(fd, arg.encode() + b"\n")
    except OSError as e:
        err = e.errno
    reply = os.read(fd, 4096).decode()
    os.close(fd)
    print(errno.errorcode.get(err, "OK"), reply.strip())
elif how in ("ioctl", "ioctl-on-file"):
    path = mnt if how == "ioctl" else os.path.join(mnt, "docs", "f1")
    err, reply, status, job = cmd_ioctl(path, arg)
    assert status == -err, (status, err)
    print(errno.errorcode.get(err, "OK"), reply.strip())
elif how == "job":
    # wait (bounded) for the end of job arg, by ioctl; print its state
    fd = os.open(mnt, os.O_RDONLY)
    for _ in range(3000):
        buf = bytearray(struct.pack(JOB, int(arg), 0, 0, 0, 0, *[0] * 10,
                                    b""))
        fcntl.ioctl(fd, IOC_JOB, buf)
        f = struct.unpack(JOB, bytes(buf))
        if f[2] >= 3:
            break
        time.sleep(0.01)
    os.close(fd)
    states = ["", "queued", "running", "done", "failed", "cancelled"]
    j = job_state(arg)
    assert j["state"] == states[f[2]], (j, f)
    assert j["id"] == int(arg) and j["done"] == f[5] and j["total"] == f[6]
    print(j["state"])
elif how == "status":
    fd = os.open(mnt, os.O_RDONLY)
    buf = bytearray(struct.calcsize(STATUS))
    fcntl.ioctl(fd, IOC_STATUS, buf)
    os.close(fd)
    s = struct.unpack(STATUS, bytes(buf))
    with open(os.path.join(mnt, ctl, "status")) as f:
        j = json.load(f)
    for k in ("store", "version", "keys", "buckets", "file_bytes",
              "live_bytes", "dead_bytes", "options", "jobs"):
        assert k in j, k
    assert (j["version"], j["buckets"], j["keys"]) == (s[0], s[1], s[2]), \
        (j, s)
    assert s[10].split(b"\0")[0].decode() == ctl
    # a mount that takes writes has no problem to report
    assert (s[11], s[12]) == (0, 0), s
    assert j["writable"] is (not j["options"]["ro"]), j
    assert j["problem"] is None, j
    print(j["keys"], j["buckets"])
elif how == "peek":
    # the status ioctl, or the job ioctl of job arg, on a file of the
    # mount: OK or the errno's name
    fd = os.open(os.path.join(mnt, "docs", "f1"), os.O_RDONLY)
    if arg:
        req = IOC_JOB
        buf = bytearray(struct.pack(JOB, int(arg), 0, 0, 0, 0, *[0] * 10,
                                    b""))
    else:
        req, buf = IOC_STATUS, bytearray(struct.calcsize(STATUS))
    try:
        fcntl.ioctl(fd, req, buf)
        print("OK")
    except OSError as e:
        print(errno.errorcode[e.errno])
    os.close(fd)
elif how == "badioctl":
    # our magic with an unknown number, and lsattr's FS_IOC_GETFLAGS
    for path in (mnt, os.path.join(mnt, "docs", "f1")):
        fd = os.open(path, os.O_RDONLY)
        for req in (ioc(2, 99, 8), 0x80086601):
            try:
                fcntl.ioctl(fd, req, bytearray(8))
                print("ioctl", hex(req), "on", path, "succeeded")
                sys.exit(1)
            except OSError as e:
                if e.errno not in (errno.ENOTTY, errno.EOPNOTSUPP):
                    raise
        os.close(fd)
    print("ENOTTY")
PY
py()
{
	python3 "$tmp/ctl.py" "$@"
}

# expect WANT GOT: GOT (one line) must begin with WANT.
expect()
{
	case $2 in
	"$1"*) ;;
	*) fail "expected '$1...', got '$2'" ;;
	esac
}

# The control directory: there, but not listed.
[ -d "$m/.bltfs" ] || fail "no .bltfs"
ls -a "$m" | grep -qx .bltfs && fail ".bltfs is listed"
find "$m" | grep -q "/\.bltfs" && fail "find sees .bltfs"
[ "$(ls "$m/.bltfs" | tr '\n' ' ')" = "ctl jobs status " ] ||
	fail "ls .bltfs: $(ls "$m/.bltfs")"
mkdir "$m/.bltfs/x" 2>/dev/null && fail "mkdir in .bltfs"
rm -rf "$m/.bltfs" 2>/dev/null && fail "rm -rf .bltfs"
py "$m" status >/dev/null

# Each command through the ctl file.
out=$(py "$m" file sync)
expect "OK job 1 started" "$out"
[ "$(py "$m" job 1)" = done ] || fail "sync job"
out=$(py "$m" file "reindex --buckets 20011")
expect "OK job 2 started" "$out"
[ "$(py "$m" job 2)" = done ] || fail "reindex job"
[ "$(py "$m" status | cut -d' ' -f2)" = 20011 ] ||
	fail "status: $(py "$m" status)"
expect "OK job 3 started" "$(py "$m" file prune)"
[ "$(py "$m" job 3)" = done ] || fail "prune job"
expect "OK job 4 started" "$(py "$m" file "map --exec 'tr a-z A-Z' docs/sub")"
[ "$(py "$m" job 4)" = done ] || fail "map job"
[ "$(cat "$m/docs/sub/d")" = DEEP ] || fail "map: $(cat "$m/docs/sub/d")"
expect "EALREADY error: cancel: job 4 is done already" \
    "$(py "$m" file "cancel 4")"
expect "ENOENT error: cancel: no job 99" "$(py "$m" file "cancel 99")"

# Wrong commands say what is wrong.
expect "EINVAL error: unknown command 'frobnicate'" \
    "$(py "$m" file frobnicate)"
expect "EINVAL error: reindex: unknown option --bukets" \
    "$(py "$m" file "reindex --bukets 5")"
expect "EINVAL error: reindex: --buckets x: expected a number" \
    "$(py "$m" file "reindex --buckets x")"
# More than the largest index booklet makes: refused before a job starts
# (the job numbers below stay as they are).
expect "EINVAL error: reindex: --buckets 20736018: expected a number from 1 to 20736017, the largest index booklet makes" \
    "$(py "$m" file "reindex --buckets 20736018")"
expect "EINVAL error: prune: --older-than yesterday: expected" \
    "$(py "$m" file "prune --older-than yesterday")"
expect "EINVAL error: prune: --keep needs --older-than" \
    "$(py "$m" file "prune --keep docs/f1")"
expect "EINVAL error: map: give one of --exec CMD, --plugin LIB.so:SYMBOL and --worker CMD" \
    "$(py "$m" file "map docs")"
expect "ENOENT error: nope: no such file or directory in the mount" \
    "$(py "$m" file "map --exec cat nope")"
expect "EINVAL error: map: --to x: the template has no {key}" \
    "$(py "$m" file "map --exec cat --to x")"
expect "EINVAL error: a quote (') is not closed" \
    "$(py "$m" file "map --exec 'cat")"
expect "EINVAL error: sync: unexpected argument 'now'" \
    "$(py "$m" file "sync now")"
# An option that takes one value, given twice, is refused, naming it (the
# last one was taken).
: >"$tmp/nokeys"
for dup in "map:--exec:--exec cat --exec 'tr a-z A-Z' docs/f1" \
    "map:--plugin:--plugin a.so:f --exec cat --plugin=b.so:g docs/f1" \
    "map:--keys:--exec cat --keys $tmp/nokeys --keys $tmp/nokeys" \
    "map:--to:--exec cat --to {key}.a --to={key}.b docs/f1" \
    "map:--out:--exec cat --out $tmp/o1.blt --out $tmp/o2.blt docs/f1" \
    "map:--cwd:--cwd / --exec cat --cwd $tmp docs/f1" \
    "map:--workers:--workers 1 --exec cat --workers 2 docs/f1" \
    "prune:--older-than:--older-than 1d --older-than 2d" \
    "reindex:--buckets:--buckets 20011 --buckets=144013"; do
	cmd=${dup%%:*}
	opt=${dup#*:}
	opt=${opt%%:*}
	expect "EINVAL error: $cmd: $opt given more than once" \
	    "$(py "$m" ioctl "$cmd ${dup#*:*:}")"
done
[ ! -e "$tmp/o1.blt" ] && [ ! -e "$tmp/o2.blt" ] || fail "a refused --out"
# A --keys FILE that is not a regular file is refused at once, naming
# it: a FIFO held a thread of the daemon, and the ioctl of bltfs ctl, until
# someone wrote it.  A writer stands by, should the daemon open it.
mkfifo "$tmp/fifo"
(printf 'docs/f1\n' >"$tmp/fifo") &
writer=$!
expect "EINVAL error: map: --keys $tmp/fifo: a FIFO, not a regular file" \
    "$(py "$m" file "map --exec cat --keys $tmp/fifo")"
expect "EINVAL error: map: --keys /dev/null: a character device, not a regular file" \
    "$(py "$m" ioctl "map --exec cat --keys /dev/null")"
exec 5<>"$tmp/fifo" # lets the writer go
wait "$writer"
exec 5<&-
# a map's --cwd where commands cannot run: refused now, not a failed job
: >"$tmp/afile"
expect "ENOENT error: map: --cwd $tmp/nowhere: cannot run commands there: No such file or directory" \
    "$(py "$m" file "map --cwd $tmp/nowhere --exec cat docs")"
expect "ENOTDIR error: map: --cwd $tmp/afile: cannot run commands there: Not a directory" \
    "$(py "$m" ioctl "map --cwd $tmp/afile --exec cat docs")"
expect "ENOENT error: map: --cwd $m/nope: cannot run commands there: No such file or directory" \
    "$(py "$m" ioctl "map --cwd $m/nope --exec cat docs")"
expect "ENOTDIR error: map: --cwd $m/docs/f1: cannot run commands there: Not a directory" \
    "$(py "$m" file "map --cwd $m/docs/f1 --exec cat docs")"

# The same through the ioctls, on the root and on a file.
expect "OK job 5 started" "$(py "$m" ioctl sync)"
[ "$(py "$m" job 5)" = done ] || fail "sync by ioctl"
expect "OK job 6 started" "$(py "$m" ioctl-on-file "reindex")"
[ "$(py "$m" job 6)" = done ] || fail "reindex by ioctl"
expect "OK job 7 started" "$(py "$m" ioctl "prune")"
[ "$(py "$m" job 7)" = done ] || fail "prune by ioctl"
expect "OK job 8 started" "$(py "$m" ioctl "map --exec 'tr A-Z a-z' docs/sub/d")"
[ "$(py "$m" job 8)" = done ] || fail "map by ioctl"
[ "$(cat "$m/docs/sub/d")" = deep ] || fail "map by ioctl"
expect "EINVAL error: unknown command 'bad'" "$(py "$m" ioctl bad)"
expect "EALREADY error: cancel: job 8 is done already" \
    "$(py "$m" ioctl-on-file "cancel 8")"
[ "$(py "$m" badioctl)" = ENOTTY ] || fail "unknown ioctls"
if command -v lsattr >/dev/null; then
	lsattr "$m/docs/f1" >/dev/null 2>&1 && fail "lsattr succeeded"
	chattr +i "$m/docs/f1" 2>/dev/null && fail "chattr succeeded"
fi

# The same through bltfs ctl; its exit statuses.
"$BLTFS" ctl "$m" sync --wait >"$tmp/out" 2>"$tmp/err" ||
	fail "bltfs ctl sync: $(cat "$tmp/err")"
expect "job 9 started" "$(cat "$tmp/out")"
# both streams to one log: the job's number comes before its progress
"$BLTFS" ctl "$m" reindex --buckets 500009 --wait >"$tmp/out" 2>&1 ||
	fail "bltfs ctl reindex: $(cat "$tmp/out")"
expect "job 10 started" "$(head -n 1 "$tmp/out")"
[ "$(py "$m" status | cut -d' ' -f2)" = 500009 ] ||
	fail "status: $(py "$m" status)"
"$BLTFS" ctl "$m" prune --wait --json >"$tmp/out" 2>/dev/null ||
	fail "bltfs ctl prune"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["kind"]=="prune" and j["state"]=="done", j' "$tmp/out" ||
	fail "bltfs ctl --json: $(cat "$tmp/out")"
(cd "$m/docs" && "$BLTFS" ctl "$m" map --exec 'tr a-z A-Z' f1 f2 --wait) \
    >/dev/null 2>&1 || fail "bltfs ctl map"
[ "$(cat "$m/docs/f1" "$m/docs/f2" "$m/docs/f3")" = "VALUE 1
VALUE 2
value 3" ] || fail "bltfs ctl map: $(cat "$m/docs/f1" "$m/docs/f3")"
set +e
"$BLTFS" ctl "$m" frobnicate 2>"$tmp/err"
rc=$?
"$BLTFS" ctl "$m" map --exec false docs --wait 2>/dev/null >/dev/null
rc2=$?
"$BLTFS" ctl 2>/dev/null
rc3=$?
set -e
# an unknown command is a usage error, and the usage lists every command
[ "$rc" = 2 ] || fail "bltfs ctl frobnicate exited $rc"
expect "bltfs ctl: unknown command 'frobnicate'" "$(head -n 1 "$tmp/err")"
for cmd in prune reindex sync map cancel status job unmount; do
	grep -q "^  $cmd" "$tmp/err" || fail "bltfs ctl frobnicate does not list $cmd"
done
# bltfs ctl finds an option given twice itself: a usage error
for dup in "map:--exec:--exec cat --exec=cat docs" \
    "map:--out:--exec cat --out=$tmp/o1.blt --out $tmp/o2.blt docs" \
    "map:--keys:--keys $tmp/nokeys --exec cat --keys $tmp/nokeys" \
    "map:--cwd:--cwd / --cwd / --exec cat docs" \
    "map:--plugin:--plugin a.so:f --plugin a.so:f docs" \
    "reindex:--buckets:--buckets 20011 --buckets 20011"; do
	cmd=${dup%%:*}
	opt=${dup#*:}
	opt=${opt%%:*}
	set +e
	# shellcheck disable=SC2086 # the options are words
	"$BLTFS" ctl "$m" $cmd ${dup#*:*:} >"$tmp/out" 2>"$tmp/err"
	rc=$?
	set -e
	[ "$rc" = 2 ] || fail "bltfs ctl $cmd with $opt twice exited $rc"
	expect "bltfs ctl: $cmd: $opt given more than once" "$(head -n 1 "$tmp/err")"
done
[ "$rc2" = 4 ] || fail "a map whose items fail exited $rc2"
[ "$rc3" = 2 ] || fail "bltfs ctl without arguments exited $rc3"
"$BLTFS" ctl "$m" status --json >"$tmp/out"
python3 -m json.tool "$tmp/out" >/dev/null || fail "status is not JSON"
"$BLTFS" ctl "$m" job 9 >"$tmp/out"
python3 -m json.tool "$tmp/out" >/dev/null || fail "job 9 is not JSON"
ls "$m/.bltfs/jobs" | grep -qx 9 || fail "jobs/ lists no 9"

# Another user may neither run commands (EPERM) nor read status and jobs
# (mode 0400: a job shows its command line and the command's errors).
# (python3 as found by root may live where the user cannot go)
syspy=/usr/bin/python3
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null &&
    [ -x "$syspy" ]; then
	user=bltfs-test
	id "$user" >/dev/null 2>&1 ||
		useradd -M -r -s /usr/sbin/nologin "$user" 2>/dev/null ||
		useradd -M "$user"
	uid=$(id -u "$user")
	gid=$(id -g "$user")
	as_user()
	{
		setpriv --reuid="$uid" --regid="$gid" --clear-groups "$@"
	}
	as_user cat "$m/.bltfs/status" >/dev/null 2>&1 &&
		fail "$user read status"
	as_user ls "$m/.bltfs/jobs" >/dev/null 2>&1 &&
		fail "$user listed the jobs"
	as_user cat "$m/.bltfs/jobs/1" >/dev/null 2>&1 &&
		fail "$user read a job"
	# nor learn the same by ioctl on any file of the mount (they used to
	# answer anyone)
	[ "$(py "$m" peek)" = OK ] && [ "$(py "$m" peek 1)" = OK ] ||
		fail "the mounting user's status and job ioctls"
	[ "$(as_user "$syspy" "$tmp/ctl.py" "$m" peek)" = EPERM ] ||
		fail "$user got the status by ioctl"
	[ "$(as_user "$syspy" "$tmp/ctl.py" "$m" peek 1)" = EPERM ] ||
		fail "$user got job 1 by ioctl"
	as_user cat "$m/docs/f1" >/dev/null || fail "read as $user"
	# the kernel checks the modes (0644) for other users
	as_user sh -c "echo x >>'$m/docs/f1'" 2>/dev/null &&
		fail "$user wrote a file of mode 0644"
	as_user touch "$m/docs/new" 2>/dev/null &&
		fail "$user made a file in a directory of mode 0755"
	expect "EPERM error: sync: only the user who mounted" \
	    "$(as_user "$syspy" "$tmp/ctl.py" "$m" file sync)"
	expect "EPERM error: prune: only the user who mounted" \
	    "$(as_user "$syspy" "$tmp/ctl.py" "$m" ioctl prune)"
	expect "EPERM error: cancel: only the user who mounted" \
	    "$(as_user "$syspy" "$tmp/ctl.py" "$m" ioctl-on-file "cancel 1")"
	set +e
	as_user "$BLTFS" ctl "$m" sync 2>"$tmp/err"
	rc=$?
	set -e
	[ "$rc" = 1 ] || fail "bltfs ctl as $user exited $rc"
	expect "bltfs ctl: $m: only the user who mounted the store (uid 0) or root" \
	    "$(cat "$tmp/err")"
	for cmd in status "job 1"; do
		set +e
		# shellcheck disable=SC2086 # "job 1" is two words
		as_user "$BLTFS" ctl "$m" $cmd >"$tmp/out" 2>"$tmp/err"
		rc=$?
		set -e
		[ "$rc" = 1 ] && [ ! -s "$tmp/out" ] ||
			fail "bltfs ctl $cmd as $user exited $rc: $(cat "$tmp/out")"
		expect "bltfs ctl: $m: only the user who mounted" \
		    "$(cat "$tmp/err")"
	done
	last=$(status_get "$m" last_job)
	[ "$last" = 13 ] || fail "$user started a job: last_job $last"
else
	echo "not root, or no setpriv: the EPERM checks are skipped" >&2
fi

# jobs/ID shows the whole command, also one whose quoted word holds a
# newline (it was cut there, with its quote left open), as valid JSON.
nl='
'
"$BLTFS" ctl "$m" map --cwd / --exec "tr a-z A-Z$nl# a second line" \
    docs/f3 --wait --json >"$tmp/out" 2>"$tmp/err" ||
	fail "map with a two-line command: $(cat "$tmp/err")"
python3 - "$tmp/out" <<'PY' || fail "the command in jobs/ID: $(cat "$tmp/out")"
import json, sys
j = json.load(open(sys.argv[1]))
want = "map --cwd / --exec 'tr a-z A-Z\n# a second line' docs/f3"
assert j["command"] == want, (j["command"], want)
PY
[ "$(cat "$m/docs/f3")" = "VALUE 3" ] || fail "the two-line command"

# After --, every word is a path of map, even one that looks like an
# option: the daemon took the first only, and bltfs ctl took its own
# options from anywhere (map -- --wait --json mapped every file, and
# printed JSON).  Nor are its options the values of the command's: a
# --cwd named --wait is a directory.
mkdir "$m/opts" "$tmp/--wait"
for f in --wait --json -h; do
	printf '%s\n' "x$f" >"$m/opts/$f"
done
out=$(py "$m" ioctl "map --exec 'tr a-z A-Z' -- opts/--wait --json")
expect "ENOENT error: --json: no such file" "$out"
out=$(py "$m" ioctl "map --exec 'tr a-z A-Z' --cwd / -- opts/--wait -- -")
expect "ENOENT error: --: no such file" "$out"
(cd "$m/opts" && "$BLTFS" ctl . map --exec 'tr a-z A-Z' -- --wait --json -h) \
    >"$tmp/out" 2>"$tmp/err" || fail "map -- --wait: $(cat "$tmp/err")"
expect "job " "$(cat "$tmp/out")"
"$BLTFS" ctl "$m" job "$(sed 's/^job \([0-9]*\) started$/\1/' "$tmp/out")" \
    --wait >/dev/null 2>"$tmp/err" || fail "map -- --wait: $(cat "$tmp/err")"
[ "$(cat "$m/opts/--wait" "$m/opts/--json" "$m/opts/-h" "$m/docs/sub/d")" = "X--WAIT
X--JSON
X-H
deep" ] || fail "map -- --wait --json -h: $(cat "$m/opts/--wait" "$m/docs/sub/d")"
(cd "$tmp" && "$BLTFS" ctl "$m" map --cwd --wait --exec 'cat >/dev/null; pwd' \
    opts/-h --wait) >/dev/null 2>"$tmp/err" ||
	fail "map --cwd --wait: $(cat "$tmp/err")"
[ "$(cat "$m/opts/-h")" = "$tmp/--wait" ] ||
	fail "map --cwd --wait ran in $(cat "$m/opts/-h")"
# -- before the command ends the options of bltfs ctl as well; --ctl takes
# --ctl=NAME too, and needs a name.
"$BLTFS" ctl --json -- "$m" status >"$tmp/out" || fail "bltfs ctl -- MOUNT status"
python3 -m json.tool "$tmp/out" >/dev/null || fail "status after --"
"$BLTFS" ctl "$m" status --json --ctl=.bltfs >"$tmp/out" ||
	fail "bltfs ctl --ctl=.bltfs"
python3 -m json.tool "$tmp/out" >/dev/null || fail "status with --ctl=NAME"
for args in "status --ctl:--ctl needs the name" \
    "status --ctl .bltfs --ctl=.bltfs:--ctl given more than once"; do
	set +e
	# shellcheck disable=SC2086 # the options are words
	"$BLTFS" ctl "$m" ${args%%:*} >"$tmp/out" 2>"$tmp/err"
	rc=$?
	set -e
	[ "$rc" = 2 ] || fail "bltfs ctl $m ${args%%:*} exited $rc"
	expect "bltfs ctl: ${args#*:}" "$(head -n 1 "$tmp/err")"
done

# bltfs ctl reads a --keys that the daemon may not read itself, standard
# input (-), a FIFO, or /dev/stdin (the daemon would read its own), into a
# copy in $TMPDIR that it passes on and then removes.
mkdir "$tmp/keytmp"
printf 'docs/f4\n' | TMPDIR=$tmp/keytmp "$BLTFS" ctl "$m" map --cwd / \
    --exec 'tr a-z A-Z' --keys - --wait >/dev/null 2>"$tmp/err" ||
	fail "map --keys -: $(cat "$tmp/err")"
printf 'docs/f5\n' | TMPDIR=$tmp/keytmp "$BLTFS" ctl "$m" map --cwd / \
    --exec 'tr a-z A-Z' --keys /dev/stdin --wait >/dev/null 2>"$tmp/err" ||
	fail "map --keys /dev/stdin: $(cat "$tmp/err")"
(printf 'docs/f3\n' >"$tmp/fifo") &
writer=$!
TMPDIR=$tmp/keytmp "$BLTFS" ctl "$m" map --cwd / --exec 'tr A-Z a-z' \
    --keys "$tmp/fifo" --wait >/dev/null 2>"$tmp/err" ||
	fail "map --keys FIFO: $(cat "$tmp/err")"
wait "$writer"
[ "$(cat "$m/docs/f4" "$m/docs/f5" "$m/docs/f3")" = "VALUE 4
VALUE 5
value 3" ] || fail "map --keys by bltfs ctl: $(cat "$m/docs/f4" "$m/docs/f5")"
[ -z "$(ls "$tmp/keytmp")" ] || fail "copies of --keys left: $(ls "$tmp/keytmp")"
set +e
TMPDIR=$tmp/keytmp "$BLTFS" ctl "$m" map --exec cat --keys /dev/zero \
    2>"$tmp/err"
rc=$?
set -e
[ "$rc" = 1 ] || fail "map --keys /dev/zero exited $rc"
expect "bltfs ctl: map: --keys /dev/zero, line 1: longer than 4095 bytes" \
    "$(cat "$tmp/err")"
[ -z "$(ls "$tmp/keytmp")" ] || fail "a copy of --keys left: $(ls "$tmp/keytmp")"

# The job reads a --keys FILE when it starts, not the request that gives
# the command (a long one held a thread of the daemon, and the ioctl of
# bltfs ctl, which no signal ends, and each queued map held its keys).  A
# line is at most a path, without NUL bytes, and names a file, or the job
# fails before it maps anything, naming the line (an endless line took the
# daemon's memory); so does a line past the number of keys of the mount,
# where a file is listed twice (a list had no end).
{
	printf 'docs/f1\n'
	head -c 5000 /dev/zero | tr '\000' a
	printf '\ndocs/f2\n'
} >"$tmp/long.keys"
printf 'docs/f1\ndocs/f2\000docs/f3\n' >"$tmp/nul.keys"
printf 'docs/f1\n\ndocs/nope\n' >"$tmp/nope.keys"
yes docs/f1 | head -n 1000 >"$tmp/twice.keys"
for bad in "long:2: longer than 4095 bytes, which no path is" \
    "nul:2: a NUL byte, which no path has" \
    "nope:3: docs/nope: no such file or directory in the mount" \
    "twice:: more lines than the mount has keys"; do
	f=$tmp/${bad%%:*}.keys
	line=${bad#*:}
	line=${line%%:*}
	set +e
	"$BLTFS" ctl "$m" map --exec 'echo CLOBBERED' --keys "$f" --wait \
	    >"$tmp/out" 2>"$tmp/err"
	rc=$?
	set -e
	[ "$rc" = 3 ] || fail "map --keys $f exited $rc: $(cat "$tmp/err")"
	msg=$(tail -n 1 "$tmp/err")
	expect "bltfs ctl: job " "$msg"
	want="map: --keys $f, line $line:${bad#*:*:}"
	[ -n "$line" ] || want="map: --keys $f, line "
	expect "$want" "${msg#*failed: }"
done
case $msg in
*": more lines than the mount has keys ("*"), so a file is listed twice") ;;
*) fail "a list longer than the mount: $msg" ;;
esac
[ "$(cat "$m/docs/f1")" = "VALUE 1" ] || fail "a failed --keys mapped docs/f1"
# A list is read when its job starts: the lines name the files then, and
# the file is read whole even if its name is gone by then.  The first job
# waits for a FIFO, so that the second is queued meanwhile.
mkfifo "$tmp/gate"
out=$("$BLTFS" ctl "$m" map --exec "cat '$tmp/gate' >/dev/null; cat" opts/-h)
expect "job " "$out"
printf 'opts/later\n' >"$tmp/later.keys"
out=$("$BLTFS" ctl "$m" map --exec 'tr a-z A-Z' --keys "$tmp/later.keys")
expect "job " "$out"
id=$(echo "$out" | sed 's/^job \([0-9]*\) started$/\1/')
rm "$tmp/later.keys"
printf 'later\n' >"$m/opts/later"
: >"$tmp/gate" # lets the first go
"$BLTFS" ctl "$m" job "$id" --wait --json >"$tmp/out" 2>"$tmp/err" ||
	fail "a queued map --keys: $(cat "$tmp/err")"
[ "$(cat "$m/opts/later")" = LATER ] || fail "a queued map --keys: $(cat "$tmp/out")"

# The store --out makes has the mode of the mounted store less the umask
# of the user of bltfs ctl (it was 0644, whatever they were), or the
# daemon's, for a command that gives none; one there already keeps its own.
chmod 0664 "$store"
for um in 022:644 002:664 077:600; do
	(umask "${um%:*}" && "$BLTFS" ctl "$m" map --exec cat \
	    --out "$tmp/o${um%:*}.blt" docs/f1 --wait) >/dev/null 2>"$tmp/err" ||
		fail "map --out under umask ${um%:*}: $(cat "$tmp/err")"
	[ "$(stat -c %a "$tmp/o${um%:*}.blt")" = "${um#*:}" ] ||
		fail "--out under umask ${um%:*}: mode $(stat -c %a "$tmp/o${um%:*}.blt")"
done
: >"$tmp/oold.blt"
chmod 0606 "$tmp/oold.blt"
(umask 077 && "$BLTFS" ctl "$m" map --exec cat --out "$tmp/oold.blt" \
    docs/f1 --wait) >/dev/null 2>"$tmp/err" ||
	fail "map --out to an empty file: $(cat "$tmp/err")"
[ "$(stat -c %a "$tmp/oold.blt")" = 606 ] || fail "--out changed a mode"
dmask=$(sed -n 's/^Umask:[[:space:]]*//p' "/proc/$pid/status") # $m's
out=$(py "$m" ioctl "map --exec cat --out $tmp/ofile.blt docs/f1")
expect "OK job" "$out"
id=${out#OK job }
"$BLTFS" ctl "$m" job "${id% started}" --wait >/dev/null 2>&1 ||
	fail "map --out without --umask"
[ "$(stat -c %a "$tmp/ofile.blt")" = "$(printf '%o' $((0664 & ~0$dmask)))" ] ||
	fail "--out without --umask: $(stat -c %a "$tmp/ofile.blt"), daemon's umask $dmask"
chmod 0644 "$store"
for f in o022 o002 o077 oold ofile; do
	[ ! -x "$BLT" ] || "$BLT" get "$tmp/$f.blt" docs/f1 |
		cmp -s - "$m/docs/f1" || fail "docs/f1 in $f.blt"
done
expect "EINVAL error: map: --umask is for the store --out makes: give --out" \
    "$(py "$m" ioctl "map --exec cat --umask 022 docs/f1")"
expect "EINVAL error: map: --umask 8: expected an octal mask" \
    "$(py "$m" ioctl "map --exec cat --out $tmp/o8.blt --umask 8 docs/f1")"
[ ! -e "$tmp/o8.blt" ] || fail "a refused map made its --out"
# A failed job's error has its errno's name, whatever the errno (EISDIR
# had none).
set +e
"$BLTFS" ctl "$m" map --out "$tmp" --exec cat docs/f3 --wait --json \
    >"$tmp/out" 2>/dev/null
rc=$?
set -e
[ "$rc" = 3 ] || fail "map --out DIRECTORY exited $rc"
python3 - "$tmp/out" <<'PY' || fail "the error in jobs/ID: $(cat "$tmp/out")"
import errno, json, sys
e = json.load(open(sys.argv[1]))["error"]
assert (e["errno"], e["name"]) == (errno.EISDIR, "EISDIR"), e
PY
# A map whose --out store another process holds locked past the lock
# timeout (2 s) fails with EAGAIN, the number of EWOULDBLOCK, and a message
# that says so and names the store, as blt says it (it did not say that
# the lock timeout had passed).  A Python process holds the lock, as
# booklet takes it, and says when through a FIFO.
"$BLTFS" ctl "$m" map --exec cat --out "$tmp/held.blt" docs/f1 --wait \
    >/dev/null 2>"$tmp/err" || fail "map --out held.blt: $(cat "$tmp/err")"
mkfifo "$tmp/hold.ready" "$tmp/hold.release"
python3 -c '
import fcntl, sys
f = open(sys.argv[1], "rb")
fcntl.flock(f, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.read()
' "$tmp/held.blt" <"$tmp/hold.release" >"$tmp/hold.ready" &
holder=$!
exec 6>"$tmp/hold.release"
read -r line <"$tmp/hold.ready"
[ "$line" = locked ] || fail "the lock holder did not start"
held="$tmp/held.blt: held by python3 (pid $holder); its lock was not granted within"
set +e
"$BLTFS" ctl "$m" map --exec cat --out "$tmp/held.blt" docs/f1 --wait \
    --json >"$tmp/out" 2>"$tmp/err"
rc=$?
set -e
[ "$rc" = 3 ] || fail "map --out of a locked store exited $rc"
expect "bltfs ctl: job $(sed -n 's/^  "id": \([0-9]*\),$/\1/p' "$tmp/out") failed: map: --out $held 2 s" \
    "$(tail -n 1 "$tmp/err")"
python3 - "$tmp/out" "map: --out $held 2 s" <<'PY' || fail "a lock timeout in jobs/ID: $(cat "$tmp/out")"
import errno, json, sys
e = json.load(open(sys.argv[1]))["error"]
assert (e["errno"], e["name"]) == (errno.EAGAIN, "EAGAIN"), e
assert e["message"] == sys.argv[2], e
PY
if [ -x "$BLT" ]; then
	"$BLT" create "$tmp/src.blt"
	set +e
	"$BLT" map "$tmp/src.blt" --exec cat --out "$tmp/held.blt" \
	    --timeout 0.1 >/dev/null 2>"$tmp/err"
	rc=$?
	set -e
	# status 3, the holder named, as for every blt command (issue 31)
	[ "$rc" = 3 ] || fail "blt map --out of a locked store exited $rc"
	expect "blt: $tmp/held.blt: held by python3 (pid $holder) past the lock timeout (exclusive lock not granted within 0.1 s)" \
	    "$(tail -n 1 "$tmp/err")"
fi
exec 6>&-
wait "$holder"
bltfs_umount "$m"
check_store "$store"

# -o ctl=NAME: the directory moves, and .bltfs is an ordinary name.
bltfs_mount "$store" "$m" -o ctl=_control
[ -e "$m/.bltfs" ] && fail ".bltfs with -o ctl=_control"
mkdir "$m/.bltfs"
printf 'plain\n' >"$m/.bltfs/file"
ls -a "$m" | grep -qx .bltfs || fail "the key .bltfs is not listed"
ls -a "$m" | grep -q _control && fail "_control is listed"
expect "OK job 1 started" "$(CTL=_control py "$m" file sync)"
[ "$(CTL=_control py "$m" job 1)" = done ] || fail "sync with ctl=_control"
"$BLTFS" ctl "$m" sync --wait >/dev/null 2>&1 ||
	fail "bltfs ctl with -o ctl=_control"
bltfs_umount "$m"
check_store "$store"

# A --cwd the daemon's user may not enter: EACCES when the command is
# given.  The daemon is root without the capabilities that pass over the
# modes of files, so a directory of mode 0 is closed to it.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	caps=-dac_override,-dac_read_search
	printf '#!/bin/sh\nexec setpriv --inh-caps=%s --bounding-set=%s %s "$@"\n' \
	    "$caps" "$caps" "$BLTFS" >"$tmp/bltfs-nocaps"
	chmod +x "$tmp/bltfs-nocaps"
	mkdir "$tmp/closed"
	chmod 0 "$tmp/closed"
	real=$BLTFS
	BLTFS=$tmp/bltfs-nocaps
	bltfs_mount "$tmp/s3.blt" "$tmp/m3"
	BLTFS=$real
	mkdir "$tmp/m3/d"
	echo x >"$tmp/m3/d/x"
	for how in file ioctl; do
		expect "EACCES error: map: --cwd $tmp/closed: cannot run commands there: Permission denied" \
		    "$(py "$tmp/m3" "$how" "map --cwd $tmp/closed --exec cat d")"
	done
	python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["last_job"] == 0' \
	    "$tmp/m3/.bltfs/status" || fail "a refused --cwd started a job"
	bltfs_umount "$tmp/m3"
	chmod 0755 "$tmp/closed"
else
	echo "not root, or no setpriv: the EACCES check of --cwd is skipped" >&2
fi

# The results in a fresh mount.
bltfs_mount "$store" "$m" -o ro
# the key .bltfs/file clashes with the control directory: escaped
f=$(find "$m" -name file)
case $f in "$m/.bltfs/"* | "") fail "the key .bltfs/file is at '$f'" ;; esac
[ "$(cat "$m/docs/f1" "$m/docs/sub/d" "$f")" = "VALUE 1
deep
plain" ] || fail "after a remount"
expect "EROFS error: prune: the store is mounted read-only" \
    "$(py "$m" ioctl prune)"
py "$m" status >/dev/null # not writable, and no problem
bltfs_umount "$m"

# bltfs ctl takes any path in the mount, and key paths go by the mount's
# root, whichever path named the mount.
store2=$tmp/s2.blt
m2=$tmp/m2
bltfs_mount "$store2" "$m2"
mkdir "$m2/sub"
printf 'subval\n' >"$m2/sub/x"
printf 'yval\n' >"$m2/sub/y"
printf 'zval\n' >"$m2/sub/z"
printf 'rootx\n' >"$m2/x"
ln -s "$m2" "$tmp/link"
"$BLTFS" ctl "$m2/sub" status --json >"$tmp/out" 2>"$tmp/err" ||
	fail "bltfs ctl MOUNT/sub status: $(cat "$tmp/err")"
python3 -m json.tool "$tmp/out" >/dev/null || fail "status from sub/"
(cd "$m2/sub" && "$BLTFS" ctl . status --json) >"$tmp/out" 2>"$tmp/err" ||
	fail "bltfs ctl . status: $(cat "$tmp/err")"
python3 -m json.tool "$tmp/out" >/dev/null || fail "status from ."
"$BLTFS" ctl "$m2/sub" map --exec 'tr a-z A-Z' "$m2/sub/x" --wait \
    >/dev/null 2>"$tmp/err" || fail "map from sub/: $(cat "$tmp/err")"
(cd "$m2/sub" && "$BLTFS" ctl . map --exec 'tr a-z A-Z' y --wait) \
    >/dev/null 2>"$tmp/err" || fail "map from .: $(cat "$tmp/err")"
"$BLTFS" ctl "$tmp/link/sub" map --exec 'tr a-z A-Z' "$tmp/link/sub/z" \
    --wait >/dev/null 2>"$tmp/err" || fail "map by a link: $(cat "$tmp/err")"
[ "$(cat "$m2/sub/x" "$m2/sub/y" "$m2/sub/z" "$m2/x")" = "SUBVAL
YVAL
ZVAL
rootx" ] || fail "map from a subdirectory: $(cat "$m2/sub/x" "$m2/x")"
# a path outside the mount is relative to the root, as before
(cd "$tmp" && "$BLTFS" ctl "$m2/sub/x" map --exec 'tr a-z A-Z' x --wait) \
    >/dev/null 2>"$tmp/err" || fail "map of x: $(cat "$tmp/err")"
[ "$(cat "$m2/sub/x" "$m2/x")" = "SUBVAL
ROOTX" ] || fail "map of x from a file: $(cat "$m2/sub/x" "$m2/x")"
"$BLTFS" ctl "$m2/sub/y" job 4 >"$tmp/out" ||
	fail "bltfs ctl MOUNT/sub/y job 4"
python3 -m json.tool "$tmp/out" >/dev/null || fail "job 4 from sub/y"
bltfs_umount "$m2"
check_store "$store2"

# A directory that is no bltfs mount, even one with a file .bltfs/ctl, is
# refused and left alone.
plain=$tmp/plain
mkdir -p "$plain/sub"
for dir in "$plain" "$plain/sub"; do
	set +e
	"$BLTFS" ctl "$dir" prune >"$tmp/out" 2>"$tmp/err"
	rc=$?
	set -e
	[ "$rc" = 1 ] || fail "bltfs ctl $dir exited $rc"
	grep -q "not a bltfs mount" "$tmp/err" ||
		fail "bltfs ctl $dir: $(cat "$tmp/err")"
	[ ! -s "$tmp/out" ] || fail "bltfs ctl $dir printed $(cat "$tmp/out")"
done
[ ! -e "$plain/.bltfs" ] || fail "bltfs ctl made $plain/.bltfs"
mkdir "$plain/.bltfs" "$plain/.bltfs/jobs"
: >"$plain/.bltfs/ctl"
printf '{"store": "x", "version": 5, "options": {"ctl": ".bltfs"}}\n' \
    >"$plain/.bltfs/status"
ls -lR --time-style=full-iso "$plain" >"$tmp/before"
for dir in "$plain" "$plain/sub"; do
	for cmd in prune status "job 1"; do
		set +e
		# shellcheck disable=SC2086 # "job 1" is two words
		(cd "$dir" && "$BLTFS" ctl . $cmd) >"$tmp/out" 2>"$tmp/err"
		rc=$?
		set -e
		[ "$rc" = 1 ] || fail "bltfs ctl $dir $cmd exited $rc"
		grep -q "not a bltfs mount" "$tmp/err" ||
			fail "bltfs ctl $dir $cmd: $(cat "$tmp/err")"
		[ ! -s "$tmp/out" ] || fail "bltfs ctl $dir $cmd printed output"
	done
done
[ ! -s "$plain/.bltfs/ctl" ] || fail "bltfs ctl wrote $plain/.bltfs/ctl"
ls -lR --time-style=full-iso "$plain" >"$tmp/after"
cmp -s "$tmp/before" "$tmp/after" || fail "bltfs ctl changed $plain"
echo "mount-ctl: ok"
