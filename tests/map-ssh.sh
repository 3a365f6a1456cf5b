#!/bin/sh
# blt map --worker across machines (issue 32), with a real sshd on
# 127.0.0.1 that the test starts: --launcher 'ssh ...', --hosts with a
# remote and a local worker, a connection killed mid-job (the item it was
# on fails, the rest are done), and the host dying mid-job (its items go
# to the other worker).  Skips when sshd cannot start here.
. "${top_srcdir:-$(dirname "$0")/..}/tests/blt-lib.sh"

CW=$top_builddir/doc/examples/map_worker
[ -x "$CW" ] || { echo "not built: $CW" >&2; exit 99; }
. "$top_srcdir/tests/sshd-lib.sh"
WPY=/usr/bin/python3
[ -x "$WPY" ] || WPY=$(command -v python3)

d=$tmp/ssh
mkdir "$d"
trap 'sshd_stop; rm -rf "$tmp"' EXIT
sshd_start "$d" || { echo "skipped" >&2; exit 77; }

# where STORE WORD: some value of STORE ends in " WORD".
where()
{
	"$BLT" dump "$1" >"$tmp/dump"
	py "$tmp/dump" "$2" <<'EOF'
import json, sys
with open(sys.argv[1]) as f:
    vals = [bytes.fromhex(json.loads(l)["value_hex"]) for l in f]
sys.exit(0 if any(v.endswith(b" " + sys.argv[2].encode()) for v in vals) else 1)
EOF
}

s=$tmp/s.blt
py >"$tmp/items.jsonl" <<'EOF'
import json
for i in range(600):
    print(json.dumps({"key": "k%03d" % i, "value": "value %d\n" % i}))
EOF
"$BLT" load -c "$s" "$tmp/items.jsonl"

# 1. The C worker on the far side of ssh, as a launcher.
expect 0 "$BLT" map "$s" --worker "$CW" --launcher "$SSH 127.0.0.1" --workers 2
[ "$(report written)" = 600 ] || fail "ssh launcher: $(cat "$tmp/out")"
[ "$("$BLT" get "$s" k007)" = "VALUE 7" ] || fail "k007"

# 2. --hosts: two workers over ssh, one here; each value says where.
cat >"$tmp/where.py" <<'EOF'
import os, signal, sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, sys.argv[1])
from bltfs_worker import serve

def ancestor_sshd():
    pid = os.getppid()
    while pid > 1:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
        if "sshd" in st[st.index("(") + 1 : st.rindex(")")]:
            return pid
        pid = int(st[st.rindex(")") + 2 :].split()[1])
    return None

seen = 0

def f(key, value):
    global seen
    remote = "SSH_CONNECTION" in os.environ
    seen += 1
    # KEY, or #N: the Nth item this worker sees
    if remote and (key == sys.argv[2].encode() or sys.argv[2] == "#%d" % seen):
        if len(sys.argv) > 3:
            # the host goes: its sshd first, then this connection
            os.kill(int(open(sys.argv[3]).read()), signal.SIGKILL)
        os.kill(ancestor_sshd(), signal.SIGKILL)
    return value.rstrip(b"\n") + (b" ssh" if remote else b" here")

serve(f, raw=True)
EOF
W="$WPY $tmp/where.py $top_srcdir/src/map"
expect 0 "$BLT" map "$s" --worker "$W none" --launcher "$SSH" \
    --hosts "127.0.0.1:2,:1"
[ "$(report written)" = 600 ] || fail "hosts: $(cat "$tmp/out")"
[ "$(report workers)" = 3 ] || fail "hosts: workers"
where "$s" ssh || fail "no value was made over ssh"
where "$s" here || fail "no value was made here"

# An IPv6 host, in brackets as in --hosts '[::1]:2' (when this machine
# has ::1): every value is made over ssh.
if [ -n "$sshd_ipv6" ]; then
	"$BLT" load -c "$tmp/v6.blt" "$tmp/items.jsonl"
	expect 0 "$BLT" map "$tmp/v6.blt" --worker "$W none" --launcher "$SSH" \
	    --hosts "[::1]:2"
	[ "$(report written)" = 600 ] || fail "[::1]: $(cat "$tmp/out")"
	where "$tmp/v6.blt" ssh || fail "[::1]: no value made over ssh"
	! where "$tmp/v6.blt" here || fail "[::1]: a value made here"
fi

# 2b. Many workers on one host: they log in at most 8 at once, as sshd
# (MaxStartups 10 here, and by default) drops connections past 10
# unauthenticated ones; the map runs with all 16.  (Their logins skip
# ~/.bashrc, which a slow one makes the test's longest part: sshd-lib.sh.)
LEAN="$SSH -o SetEnv=SHLVL=1"
"$BLT" load -c "$tmp/many.blt" "$tmp/items.jsonl"
expect 0 "$BLT" map "$tmp/many.blt" --worker "$CW" --launcher "$LEAN" \
    --hosts "127.0.0.1:16"
[ "$(report written) $(report workers) $(report restarts)" = "600 16 0" ] ||
	fail "16 workers on one host: $(cat "$tmp/out")"
[ "$("$BLT" get "$tmp/many.blt" k123)" = "VALUE 123" ] || fail "many: k123"

# A host that refuses a later login (its sshd's limits, or gone): the
# workers of the first wave log in, the 9th cannot (its command exits
# before its hello: 8 slots) and retires, and the 8 do the map.
cat >"$tmp/slot.sh" <<EOF
for i in 1 2 3 4 5 6 7 8; do
	mkdir "$tmp/slot.\$i" 2>/dev/null && exec "$CW"
done
echo "no slot left" >&2
exit 3
EOF
"$BLT" load -c "$tmp/nine.blt" "$tmp/items.jsonl"
expect 0 "$BLT" map "$tmp/nine.blt" --worker "sh $tmp/slot.sh" \
    --launcher "$LEAN" --hosts "127.0.0.1:9"
[ "$(report written) $(report errors)" = "600 0" ] ||
	fail "a refused 9th login: $(cat "$tmp/out")"

# 3. The connection of a worker killed mid-job: the item it was on fails,
# the others are done once, and the worker is started again.
"$BLT" load -c "$tmp/t.blt" "$tmp/items.jsonl"
expect 1 "$BLT" map "$tmp/t.blt" --worker "$W k300" --launcher "$SSH 127.0.0.1" \
    --workers 2 --out "$tmp/t2.blt"
got="$(report written) $(report errors) $(report processed)"
[ "$got" = "599 1 600" ] || fail "killed connection: $(cat "$tmp/out")"
grep -q '"key": "k300".*exited with status 255' "$tmp/out" ||
	fail "killed connection: message: $(cat "$tmp/out")"
[ "$(report restarts)" -ge 1 ] || fail "no restart"
[ "$("$BLT" ls "$tmp/t2.blt" | wc -l)" = 599 ] || fail "t2: not 599 keys"

# 4. The host dies mid-job (sshd killed, then the connection): the worker
# cannot be started again, and the worker here does its items.
"$BLT" load -c "$tmp/u.blt" "$tmp/items.jsonl"
set +e
"$BLT" map "$tmp/u.blt" --worker "$W '#50' $d/sshd.pid" --launcher "$SSH" \
    --hosts "127.0.0.1,:1" >"$tmp/out" 2>"$tmp/err"
rc=$?
set -e
[ $rc -le 1 ] || { cat "$tmp/err" >&2; fail "host died: exit $rc"; }
[ "$(report processed)" = 600 ] || fail "host died: $(cat "$tmp/out")"
[ "$(report errors)" -le 1 ] || fail "host died: errors: $(cat "$tmp/out")"
gone "$sshd_pid"
sshd_pid=
where "$tmp/u.blt" here || fail "the worker here did nothing"

# 5. A host that is down at the start fails the map, saying why.
expect 2 "$BLT" map "$s" --worker "$CW" --launcher "$SSH" --hosts 127.0.0.1
err_has "before its hello"
exit 0
