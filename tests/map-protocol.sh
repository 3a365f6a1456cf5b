#!/bin/sh
# The worker protocol's replies name their items (issue 40): workers that
# reply twice, skip a reply, reply to an unknown id, reorder their
# replies, stop part way through a reply, or reply before their hello.
# Each time the map ends, the counts say what failed, and every key holds
# its own value: the result of its item, or its old value.  Issue 59: one
# that promises a 4 GiB value and goes on answering (its replies would be
# that value's bytes), and one that never says hello (--start-timeout).
. "${top_srcdir:-$(dirname "$0")/..}/tests/blt-lib.sh"

W="python3 $top_srcdir/tests/worker-broken.py"
s=$tmp/s.blt
py >"$tmp/items.jsonl" <<'PY'
import json
for i in range(300):
    print(json.dumps({"key": "k%d" % i, "value": "value %d" % i}))
PY
"$BLT" load -c "$s" "$tmp/items.jsonl"

# own KEY...: every key of the store holds its own value, upper-cased but
# for the KEYs, which hold their old ones.
own()
{
	"$BLT" dump "$s" >"$tmp/dump"
	py "$tmp/dump" "$@" <<'PY'
import json, sys
old = set(sys.argv[2:])
seen = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    k, v = r["key"], bytes.fromhex(r["value_hex"]).decode()
    want = "value %s" % k[1:]
    if k not in old:
        want = want.upper()
    if v != want:
        sys.exit("%s holds %r, not %r" % (k, v, want))
    seen += 1
if seen != 300:
    sys.exit("%d keys" % seen)
PY
}

# broken MODE WHY: the map with a worker broken so ends with k5's (or,
# for twice, k6's) item failed, saying WHY, and the rest written.
broken()
{
	"$BLT" load -c "$s.$1" "$tmp/items.jsonl"
	s=$s.$1
	expect 1 "$BLT" map "$s" --worker "$W $1" --workers 1
	counts 299 0 1
	[ "$(report restarts)" = 1 ] || fail "$1: restarts $(report restarts)"
	grep -qF "$2" "$tmp/out" || { cat "$tmp/out" >&2; fail "$1: $2"; }
	own "$3"
	s=$tmp/s.blt
}

# The issue's case: an extra reply used to put k6's result on k7, and so
# on; now the reply due for k6 is missing where it stands, k6 fails.
broken twice "sent a second reply to item 5 where item 6's was due" k6
broken skip "sent a reply to item 6 where item 5's was due" k5
broken unknown "sent a reply to item 100005, which it was never sent" k5
broken reorder "sent a reply to item 6 where item 5's was due" k5
# with no --item-timeout: a reply that stops coming fails after 10 s
broken short "stopped sending part way through a reply (" k5
# one that promises a value of 4 GiB - 1 and goes on answering the next
# items, whose replies would be that value's bytes, then waits for more
# items: once nothing comes for 10 s, the same
broken huge "stopped sending part way through a reply (" k5

# Issue 67: a reply bound as a whole, not only between its bytes: one that
# trickles a byte every half second is killed --reply-timeout after its
# first byte, and its item fails.
"$BLT" load -c "$s.drip" "$tmp/items.jsonl"
s=$s.drip
expect 1 "$BLT" map "$s" --worker "$W drip" --workers 1 --reply-timeout 2
counts 299 0 1
grep -qF "was still sending a reply 2 s after its first byte" "$tmp/out" ||
	{ cat "$tmp/out" >&2; fail "drip: no reply timeout said"; }
own k5
# One that breaks the protocol again after each start (a reply promising
# 1 MiB at the 5th item of each process) is given up at its third break:
# each break fails its item, and the items left fail as no worker is left,
# where each restart used to wait out a stall for ever after.
"$BLT" load -c "$s.every5" "$tmp/items.jsonl"
s=$s.every5
expect 1 "$BLT" map "$s" --worker "$W every5" --workers 2 --reply-timeout 1
grep -qF "(it broke the protocol 3 times: given up)" "$tmp/out" ||
	{ cat "$tmp/out" >&2; fail "every5: not given up"; }
grep -qF "no worker is left" "$tmp/out" ||
	{ cat "$tmp/out" >&2; fail "every5: the items left did not fail"; }
[ "$(report processed)" = 300 ] || fail "every5: $(report processed) done"
"$BLT" dump "$s" | py - <<'PY' || fail "every5: a value neither old nor new"
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    v, want = bytes.fromhex(r["value_hex"]).decode(), "value " + r["key"][1:]
    if v not in (want, want.upper()):
        sys.exit("%s holds %r" % (r["key"], v))
PY
expect 0 "$BLT" check "$s"
s=$tmp/s.blt
expect 2 "$BLT" map "$s" --exec cat --reply-timeout 1
err_has "--reply-timeout goes with --worker"

# Not a worker of this protocol: the map fails at the start, nothing is
# written.
"$BLT" dump "$s" >"$tmp/before"
expect 2 "$BLT" map "$s" --worker "$W early"
err_has "answered without the protocol's hello"
expect 2 "$BLT" map "$s" --worker "$W v1"
err_has "speaks version 1 of the worker protocol, not 2"
# One that never says hello: killed once --start-timeout has passed, the
# map fails naming it and the end of its stderr.
# (5 s: a Python that a version manager's shim starts takes over 1 s to
# say anything on a busy machine, and its stderr is what is checked)
expect 2 "$BLT" map "$s" --worker "$W mute" --start-timeout 5
err_has "said no hello within 5 s of its start (--start-timeout): mute: no hello from me"
err_has "its worker $W mute"
# One started again mid-map that says no hello retires: the other workers
# of its host (here this one) do its items, and nothing fails.  (5 s: the
# others, Python processes, say hello well within it.)
"$BLT" load -c "$s.again" "$tmp/items.jsonl"
mkdir "$tmp/starts"
expect 0 "$BLT" map "$s.again" --worker "$W mute-again $tmp/starts 3" \
    --hosts :3 --start-timeout 5
counts 300 0 0
[ "$(report restarts)" -ge 1 ] || fail "mute-again: restarts $(report restarts)"
[ -e "$tmp/starts/exited" ] && [ -e "$tmp/starts/4" ] ||
	fail "mute-again: no worker was started again: $(ls "$tmp/starts")"
[ "$("$BLT" get "$s.again" k5)" = "VALUE 5" ] || fail "mute-again: k5"
expect 2 "$BLT" map "$s" --exec cat --start-timeout 1
err_has "--start-timeout goes with --worker"
expect 2 "$BLT" map "$s" --worker cat --start-timeout 86401
err_has "bad --start-timeout '86401'"
"$BLT" dump "$s" | cmp -s - "$tmp/before" || fail "a failed start wrote"
expect 0 "$BLT" check "$s"
