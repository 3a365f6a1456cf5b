#!/bin/sh
# blt dump of every reference fixture matches its manifest, and
# dump | load | dump is an identity, into new and into existing stores.
. "${top_srcdir:-$(dirname "$0")/..}/tests/blt-lib.sh"

n=0
for f in $(fixtures); do
	name=${f%.blt}
	"$BLT" dump "$FIXTURES_DIR/$f" >"$tmp/$name.jsonl" ||
		fail "blt dump $f"
	check_manifest "$tmp/$name.jsonl" "$FIXTURES_DIR/$name.json" ||
		fail "dump of $f differs from its manifest"

	# Load into a new store made like the original: same dump, in order.
	# shellcheck disable=SC2046
	"$BLT" load --create $(create_like "$FIXTURES_DIR/$f") \
	    "$tmp/$name.blt" <"$tmp/$name.jsonl" || fail "blt load $f"
	"$BLT" dump "$tmp/$name.blt" >"$tmp/again.jsonl"
	cmp -s "$tmp/$name.jsonl" "$tmp/again.jsonl" ||
		fail "dump | load | dump changed $f"
	rm -f "$tmp/$name.blt"
	n=$((n + 1))
done
[ "$n" -ge 20 ] || fail "only $n fixtures in $FIXTURES_DIR"

# load also reads a file, and into an existing store it adds and replaces.
s=$tmp/existing.blt
"$BLT" create "$s"
echo old | "$BLT" put "$s" "a/b/c.txt"
echo kept | "$BLT" put "$s" "only-here"
"$BLT" load "$s" "$tmp/small_str_bytes.jsonl"
"$BLT" dump "$s" >"$tmp/merged.jsonl"
py "$tmp/merged.jsonl" "$tmp/small_str_bytes.jsonl" <<'EOF'
import json, sys
def items(path):
    with open(path) as f:
        return {d["key_hex"]: d for d in map(json.loads, f)}
merged, src = items(sys.argv[1]), items(sys.argv[2])
extra = merged.pop("only-here".encode().hex())
assert bytes.fromhex(extra["value_hex"]) == b"kept\n", extra
assert merged == src, "loaded items differ"
EOF

# Hand-written input: "value" text, ISO timestamps, null keys, other fields.
s=$tmp/hand.blt
"$BLT" load --create "$s" <<'EOF'
{"key": "k1", "value": "v1", "timestamp": "2024-01-02T03:04:05Z"}

  {"key_hex": "ff", "key": null, "value_hex": "00ff", "timestamp": null, "x": [1, {"y": "\u00e9"}]}
{"key": "\u00e9\ud83d\ude00", "key_hex": "c3a9f09f9880", "value_hex": ""}
EOF
[ "$("$BLT" get "$s" k1)" = v1 ] || fail "load of \"value\""
[ "$("$BLT" ls -l "$s" k1 | cut -f2)" = 2024-01-02T03:04:05.000000Z ] ||
	fail "load of an ISO timestamp"
[ "$("$BLT" get -x "$s" ff | od -An -tx1 | tr -d ' ')" = 00ff ] ||
	fail "load of a bytes key"
[ "$("$BLT" ls "$s" | sed -n 3p)" = "é😀" ] || fail "load of \\u escapes"

# Bad input names the line and stops with status 2.
for bad in '{"key_hex": "6", "value_hex": ""}' '{"key_hex": "61"}' \
    '{"key": "a", "key_hex": "62", "value_hex": ""}' \
    '{"key_hex": "61", "value_hex": "", "timestamp": 1.5}' \
    '{"key_hex": "61", "value_hex": "", "timestamp": "2024-01-02T03:04:05"}' \
    '{"key_hex": "61", "value_hex": "", "key_hex": "62"}' \
    '{"key_hex": "61", "value_hex": ""} x' '["a"]' '{"key_hex": "61", ' \
    '{"key": "\ud800", "value_hex": ""}'; do
	printf '{"key": "fine", "value_hex": ""}\n%s\n' "$bad" >"$tmp/bad"
	expect 2 "$BLT" load "$s" "$tmp/bad"
	err_has "$tmp/bad:2:"
done
expect 2 "$BLT" load "$tmp/nonexistent.blt" </dev/null
err_has "$tmp/nonexistent.blt"
exit 0
