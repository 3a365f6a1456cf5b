#!/bin/sh
# Chains as bltfs links them, read and written by the reference Python
# booklet (issue 58).  A new key goes to the head of its chain, where the
# reference appends at the tail, and a reindex pushes blocks in the
# file's order, where the reference follows the old chains; the format
# allows both (§15).  blt writes a store through two automatic reindexes
# (12007 -> 144013 -> 1728017 buckets), overwrites a third of it and
# deletes a seventh; the reference must read it whole, by scan and by a
# lookup of every key (which walks the chains), then write into those
# chains itself, tail-first; blt must then read and check what it wrote.
# The same for a store made with the most buckets, whose new keys skip the
# walk of their chains.
. "${top_srcdir:-$(dirname "$0")/..}/tests/blt-lib.sh"

need_reference
N=200000
s=$tmp/chains.blt

awk -v n=$N 'BEGIN { for (i = 0; i < n; i++)
	printf "{\"key\":\"k%06d\",\"value\":\"v%d\"}\n", i, i }' |
	"$BLT" load --create --key-serializer str --value-serializer str "$s" ||
	fail "load of $N keys"
awk -v n=$N 'BEGIN { for (i = 0; i < n; i += 3)
	printf "{\"key\":\"k%06d\",\"value\":\"w%d\"}\n", i, i }' |
	"$BLT" load "$s" || fail "overwrite of every third key"
awk -v n=$N 'BEGIN { for (i = 0; i < n; i += 7) printf "k%06d\n", i }' |
	xargs "$BLT" del "$s" || fail "delete of every seventh key"
"$BLT" stat "$s" | grep -q 'buckets.*1728017' ||
	fail "the store did not grow its index to 1728017 buckets: $("$BLT" stat "$s")"

# What the store must hold: k -> w (every third), else v; none of every
# seventh.  The reference reads it by scan and key by key, then writes:
# new keys (linked tail-first behind ours), overwrites and deletes.
"$PY" - "$s" $N <<'PY' || fail "the reference disagrees with blt's store"
import sys, booklet
path, n = sys.argv[1], int(sys.argv[2])
want = {}
for i in range(n):
    if i % 7:
        want["k%06d" % i] = ("w%d" if i % 3 == 0 else "v%d") % i
with booklet.open(path, "r") as db:
    got = dict(db.items())
    assert got == want, "scan: %d keys, %d wanted" % (len(got), len(want))
    for k, v in want.items():
        assert db[k] == v, "lookup of %s" % k
    for i in range(0, n, 7):
        assert ("k%06d" % i) not in db, "deleted k%06d found" % i
    assert len(db) == len(want)
with booklet.open(path, "w") as db:
    for i in range(n, n + 20000):
        db["k%06d" % i] = "p%d" % i
    for i in range(1, n, 5):
        db["k%06d" % i] = "q%d" % i
    for i in range(2, n, 11):
        if ("k%06d" % i) in db:
            del db["k%06d" % i]
PY

"$BLT" check "$s" >/dev/null || fail "blt check after the reference wrote"
"$PY" - "$s" $N <<'PY' >"$tmp/want" || fail "the reference cannot read back"
import sys, booklet
with booklet.open(sys.argv[1], "r") as db:
    for k, v in sorted(db.items()):
        print(k, v)
PY
"$BLT" dump "$s" | "$PY" -c '
import json, sys
for line in sys.stdin:
    d = json.loads(line)
    print(d["key"], bytes.fromhex(d["value_hex"]).decode() if "value_hex" in d else d["value"])
' | sort >"$tmp/got"
cmp -s "$tmp/want" "$tmp/got" ||
	fail "blt dump differs from the reference: $(diff "$tmp/want" "$tmp/got" | head -5)"
for k in k000001 k000002 k200001 k000021; do
	want=$(grep "^$k " "$tmp/want" | cut -d' ' -f2)
	got=$("$BLT" get "$s" "$k" 2>/dev/null || true)
	[ "$got" = "$want" ] || fail "blt get $k: '$got', the reference '$want'"
done
echo "ok: $(wc -l <"$tmp/want") keys agree both ways"

# A store made with the most buckets links new keys without walking their
# chains, through a filter of the keys it has (src/booklet/keyfilter.c):
# one load of 30,000 keys, every third written twice and every fifth
# three times, must leave one live block a key, the last value, as the
# reference reads it; the reference then writes into it, and blt checks.
m=$tmp/most.blt
awk 'BEGIN { for (r = 0; r < 3; r++) for (i = 0; i < 30000; i++)
	if (r == 0 || (r == 1 && i % 3 == 0) || (r == 2 && i % 5 == 0))
		printf "{\"key\":\"m%05d\",\"value\":\"r%d-%d\"}\n", i, r, i }' |
	"$BLT" load --create --buckets 20736017 --key-serializer str \
	    --value-serializer str "$m" || fail "load into the most buckets"
"$PY" - "$m" <<'PY' || fail "the reference disagrees with the store made with the most buckets"
import sys, booklet
want = {}
for i in range(30000):
    r = 2 if i % 5 == 0 else 1 if i % 3 == 0 else 0
    want["m%05d" % i] = "r%d-%d" % (r, i)
with booklet.open(sys.argv[1], "r") as db:
    assert dict(db.items()) == want, "scan"
    assert len(db) == len(want), "count %d" % len(db)
    for k, v in want.items():
        assert db[k] == v, "lookup of %s" % k
with booklet.open(sys.argv[1], "w") as db:
    for i in range(0, 30000, 2):
        db["m%05d" % i] = "py"
PY
"$BLT" check "$m" >/dev/null || fail "blt check of the store made with the most buckets"
[ "$("$BLT" get "$m" m00002)" = py ] || fail "blt get m00002 after the reference wrote it"
[ "$("$BLT" get "$m" m00003)" = r1-3 ] || fail "blt get m00003"
echo "ok: the store made with the most buckets agrees both ways"
