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
printf '{"value_hex": "61"}\n' >"$tmp/bad"
expect 2 "$BLT" load "$s" "$tmp/bad"
err_has "$tmp/bad:1: no key or key_hex"
expect 2 "$BLT" load "$tmp/nonexistent.blt" </dev/null
err_has "$tmp/nonexistent.blt"

# A JSON error is placed by the line of the file and the column in it, and
# the items before it are stored.
s=$tmp/lines.blt
"$BLT" create "$s"
printf '%s\n' '{"key": "a", "value": ""}' '' '{"key": "b", "value": ""}' \
    '{"key": "c", "value": x}' '{"key": "d", "value": ""}' >"$tmp/bad"
expect 2 "$BLT" load "$s" "$tmp/bad"
err_has "$tmp/bad:4: column 23: expected a value (at 'x')"
err_has "$tmp/bad:4: item not stored; items stored before it: 2"
grep -q "line 1" "$tmp/err" && fail "a line of its own: $(cat "$tmp/err")"
[ "$("$BLT" ls "$s" | tr '\n' ' ')" = "a b " ] || fail "items before line 4"
printf '{"key": "e",\n' >"$tmp/bad"
expect 2 "$BLT" load "$s" "$tmp/bad"
err_has "$tmp/bad:1: column 13: expected a member name (at end of line)"

# A full disk, made by a file size limit: load says which lines it was
# storing, and how many items before them are in the store, which is
# sound.  (Items go to the file in batches of a few MB.)
if command -v prlimit >/dev/null; then
	s=$tmp/full.blt
	"$BLT" create "$s"
	py >"$tmp/big.jsonl" <<'EOF2'
print()
for n in range(2, 42):
    print('{"key": "k%d", "value": "%s"}' % (n, "x" * 300000))
EOF2
	expect 2 prlimit --fsize=3000000 "$BLT" load "$s" "$tmp/big.jsonl"
	err_has "$s: write of"
	err_has "File too large"
	mv "$tmp/err" "$tmp/load.err"
	expect 0 "$BLT" check "$s"
	"$BLT" ls "$s" >"$tmp/keys"
	py "$tmp/load.err" "$tmp/keys" <<'EOF2'
import re, sys
err = open(sys.argv[1]).read()
m = re.search(r": items of lines (\d+) to (\d+) not stored; "
              r"items stored before them: (\d+)\n", err)
assert m, err
first, last, stored = map(int, m.groups())
keys = open(sys.argv[2]).read().split()
assert ":%d: items of" % last in err, err
assert keys == ["k%d" % n for n in range(2, first)], (keys, err)
assert stored == len(keys) > 0 and first < last <= 41, err
EOF2
	# The last batch is stored at the end of the input.
	"$BLT" create --force "$s"
	sed -n 1,4p "$tmp/big.jsonl" >"$tmp/last.jsonl"
	expect 2 prlimit --fsize=500000 "$BLT" load "$s" "$tmp/last.jsonl"
	err_has "$s: write of"
	err_has "$tmp/last.jsonl:4: items of lines 2 to 4 not stored; items stored before them: 0"
	[ -z "$("$BLT" ls "$s")" ] || fail "a failed load left keys"
	expect 0 "$BLT" check "$s"

	# The automatic reindex of a flush fails after the flush stored its
	# items: no room for the bigger index, and the cut of what was
	# written of it fails too (crashpoint.so fails every ftruncate), so
	# the store takes no more writes.  load says that the items up to the
	# flush are stored and that the later ones are not, and a store
	# opened for writing again holds exactly those.  The first flush, at
	# half the 4 MiB write buffer, holds 20971 items of 100 buffer bytes,
	# more than the 12007 buckets; the limit leaves room for them, not
	# for the 144013-bucket index.
	CRASHPOINT=$top_builddir/tests/crashpoint.so
	[ -f "$CRASHPOINT" ] || { echo "not built: $CRASHPOINT" >&2; exit 99; }
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
	py >"$tmp/many.jsonl" <<'EOF2'
for n in range(1, 25001):
    print('{"key": "k%05d", "value": "%s"}' % (n, "x" * 62))
EOF2
	s=$tmp/grow.blt
	head -n 20971 "$tmp/many.jsonl" >"$tmp/first.jsonl"
	"$BLT" create --buckets 144013 "$s"
	"$BLT" load "$s" "$tmp/first.jsonl"
	data=$(($(wc -c <"$s") - 200 - 144013 * 6))
	"$BLT" create --force "$s"
	expect 2 prlimit --fsize=$((200 + 12007 * 6 + data + 400000)) \
	    env LD_PRELOAD="$CRASHPOINT" BLT_FAIL_CALL=ftruncate \
	    "$BLT" load "$s" "$tmp/many.jsonl"
	err_has "File too large"
	err_has "$tmp/many.jsonl:20971: items up to this line stored (20971 in all), but the store's index could not grow after them; items from line 20972 on not stored"
	grep -q "not stored;" "$tmp/err" && fail "lines called lost: $(cat "$tmp/err")"
	expect 2 "$BLT" ls "$s"
	err_has "was not closed cleanly"
	"$BLT" load "$s" /dev/null 2>"$tmp/err"
	err_has "$s: was not closed cleanly; recovered"
	"$BLT" ls "$s" | sort >"$tmp/keys"
	sed 's/^{"key": "\([^"]*\)".*/\1/' "$tmp/first.jsonl" | sort |
		cmp -s - "$tmp/keys" ||
		fail "the store does not hold the items of lines 1 to 20971"
	expect 0 "$BLT" check "$s"
fi

# dump --decode spreads decoding over threads and keeps the store's order:
# the lines are the same, byte for byte, on 1, 2 and 5 threads, over many
# batches, with values that are not decodable among them.
s=$tmp/threads.blt
py >"$tmp/threads.jsonl" <<'EOF2'
for n in range(3000):
    v = '"{\\"n\\": %d, \\"t\\": \\"%s\\"}"' % (n, "y" * (n % 700))
    if n % 97 == 0:
        v = '"not json %d"' % n
    print('{"key": "t%05d", "value": %s}' % (n, v))
EOF2
"$BLT" load --create --value-serializer json "$s" "$tmp/threads.jsonl"
"$BLT" dump --decode --threads 1 "$s" >"$tmp/t1"
[ "$(wc -l <"$tmp/t1")" -eq 3000 ] || fail "dump --decode --threads 1: $(wc -l <"$tmp/t1") lines"
grep -q '"value": {"n": 2999, "t": "y' "$tmp/t1" || fail "no decoded value"
[ "$(grep -c '"\$undecodable"' "$tmp/t1")" -eq 31 ] ||
	fail "not 31 undecodable values"
for t in 2 5; do
	"$BLT" dump --decode --threads $t "$s" | cmp -s - "$tmp/t1" ||
		fail "dump --decode --threads $t differs from one thread"
done
"$BLT" dump --decode "$s" | cmp -s - "$tmp/t1" ||
	fail "dump --decode differs from one thread"
# A block damaged midway: the lines before it come out on any number of
# threads, then the error that names it.
d=$tmp/threads-damaged.blt
py >"$tmp/small.jsonl" <<'EOF2'
for n in range(3000):
    print('{"key": "s%05d", "value": "{\\"n\\": %d}"}' % (n, n))
EOF2
"$BLT" load --create --value-serializer json "$d" "$tmp/small.jsonl"
printf '\377\377\377\377\377\377\377\377' |
	dd of="$d" bs=1 seek=$(($(wc -c <"$d") / 2)) conv=notrunc status=none
expect 2 "$BLT" dump --decode --threads 1 "$d"
err_has "$d: damaged block at"
cp "$tmp/out" "$tmp/d1"
cp "$tmp/err" "$tmp/e1"
[ "$(wc -l <"$tmp/d1")" -gt 300 ] ||
	fail "dump of the damaged store: only $(wc -l <"$tmp/d1") lines"
expect 2 "$BLT" dump --decode --threads 3 "$d"
cmp -s "$tmp/out" "$tmp/d1" ||
	fail "dump --decode --threads 3 of the damaged store: other lines"
cmp -s "$tmp/err" "$tmp/e1" ||
	fail "dump --decode --threads 3 of the damaged store: $(cat "$tmp/err")"
expect 2 "$BLT" dump --decode --threads 0 "$s"
err_has "bad --threads '0': expected a number from 1 to 64"
expect 2 "$BLT" ls --threads 2 "$s"
err_has "option --threads does not apply here"
exit 0
