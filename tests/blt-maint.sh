#!/bin/sh
# blt prune, reindex and check on private copies of every fixture: the
# content stays the same (order aside), and age-based pruning drops exactly
# the old keys that are not kept.
. "${top_srcdir:-$(dirname "$0")/..}/tests/blt-lib.sh"

for f in $(fixtures); do
	s=$tmp/$f
	copy "$f" "$s"
	expect 0 "$BLT" check "$s"
	"$BLT" dump "$s" >"$tmp/before"

	"$BLT" prune "$s" >"$tmp/removed"
	grep -qx '[0-9][0-9]*' "$tmp/removed" || fail "prune $f printed $(cat "$tmp/removed")"
	"$BLT" dump "$s" >"$tmp/after"
	same_items "$tmp/before" "$tmp/after"
	expect 0 "$BLT" check "$s"

	# Every fixture has at most 144013 buckets.
	"$BLT" reindex --buckets 150001 "$s"
	"$BLT" dump "$s" >"$tmp/after"
	same_items "$tmp/before" "$tmp/after"
	"$BLT" stat "$s" | grep -q '"buckets": 150001,' ||
		fail "reindex --buckets 150001 on $f"
	"$BLT" reindex "$s"
	"$BLT" dump "$s" >"$tmp/after"
	same_items "$tmp/before" "$tmp/after"
	expect 0 "$BLT" check "$s"
	rm -f "$s"
done

# --older-than drops older keys except --keep ones, using the manifest's
# timestamps as the reference.
s=$tmp/aged.blt
copy small_str_bytes.blt "$s"
cut=2023-01-01T00:00:00Z
cut_us=1672531200000000
"$BLT" prune --older-than "$cut" --keep times/epoch.txt --keep a/d "$s" \
    >/dev/null
"$BLT" dump "$s" >"$tmp/aged.jsonl"
py "$tmp/aged.jsonl" "$FIXTURES_DIR/small_str_bytes.json" "$cut_us" <<'EOF'
import json, sys
with open(sys.argv[1]) as f:
    got = sorted(json.loads(l)["key_hex"] for l in f)
with open(sys.argv[2]) as f:
    items = json.load(f)["items"]
cut = int(sys.argv[3])
keep = {b"times/epoch.txt".hex(), b"a/d".hex()}
want = sorted(i["key_hex"] for i in items
              if i["timestamp_us"] >= cut or i["key_hex"] in keep)
assert len(want) < len(items), "the cut drops nothing: a useless test"
assert got == want, (len(got), len(want))
EOF
copy no_timestamps.blt "$tmp/nt.blt"
expect 2 "$BLT" prune --older-than 0 "$tmp/nt.blt"
err_has "timestamps"

# check --repair fixes a store whose index was wiped, and says so.
s=$tmp/wiped.blt
copy small_str_bytes.blt "$s"
"$BLT" dump "$s" >"$tmp/before"
py "$s" <<'EOF'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(200)
    f.write(b"\x01\x00\x00\x00\x00\x00" * 12007)
EOF
expect 1 "$BLT" check "$s"
err_has "$s"
expect 1 "$BLT" check --repair "$s"
expect 0 "$BLT" check "$s"
"$BLT" dump "$s" >"$tmp/after"
same_items "$tmp/before" "$tmp/after"
exit 0
