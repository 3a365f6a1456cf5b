#!/bin/sh
# blt create/put/get/del/ls/stat on fresh stores: binary values through
# files and stdin, exit statuses, key spellings, and usage errors.
. "${top_srcdir:-$(dirname "$0")/..}/tests/blt-lib.sh"

s=$tmp/s.blt

# create refuses to clobber; --force empties.
"$BLT" create "$s"
expect 2 "$BLT" create "$s"
err_has "$s"
err_has "already exists"
"$BLT" put "$s" k </dev/null
"$BLT" create --force "$s"
[ -z "$("$BLT" ls "$s")" ] || fail "create --force left keys"

# Binary values, exactly, from a file and from stdin; no newline added.
py "$tmp/bin" <<'EOF'
import sys
with open(sys.argv[1], "wb") as f:
    f.write(bytes(range(256)) * 300 + b"\0\n")
EOF
"$BLT" put "$s" file.bin "$tmp/bin"
"$BLT" get "$s" file.bin >"$tmp/out"
cmp "$tmp/bin" "$tmp/out" || fail "value from a file differs"
"$BLT" put "$s" stdin.bin <"$tmp/bin"
"$BLT" get "$s" stdin.bin >"$tmp/out"
cmp "$tmp/bin" "$tmp/out" || fail "value from stdin differs"
"$BLT" put "$s" dash.bin - <"$tmp/bin"
"$BLT" get "$s" dash.bin | cmp - "$tmp/bin" || fail "value from - differs"
printf 'no newline' | "$BLT" put "$s" text
[ "$("$BLT" get "$s" text | od -An -c | tr -d ' \n')" = "nonewline" ] ||
	fail "get changed a text value"
"$BLT" put "$s" empty </dev/null
"$BLT" get "$s" empty >"$tmp/out"
[ ! -s "$tmp/out" ] || fail "empty value is not empty"

# A value over the format's 4 GiB limit is refused before it is read: a
# sparse file says its size, a pipe is cut off at the limit.
truncate -s 4294967296 "$tmp/huge"
cp "$s" "$tmp/before.blt"
expect 2 "$BLT" put "$s" huge "$tmp/huge"
err_has "$tmp/huge"
err_has "more than 4294967295 bytes"
cmp "$s" "$tmp/before.blt" || fail "a refused put changed the store"
rm -f "$tmp/huge" "$tmp/before.blt"

# A key longer than the format allows is an error, not a missing key; a
# long key is cut short in messages.
long=$(head -c 65536 /dev/zero | tr '\0' k)
expect 2 "$BLT" get "$s" "$long"
err_has "a key of 65536 bytes is longer than the format's 65535"
expect 1 "$BLT" get "$s" "$(head -c 300 /dev/zero | tr '\0' k)"
err_has "... (300 bytes): no such key"
expect 2 "$BLT" get -x "$s" zz
err_has "not hex"

# Overwrite, delete, missing keys.
echo one | "$BLT" put "$s" k
echo two | "$BLT" put "$s" k
[ "$("$BLT" get "$s" k)" = two ] || fail "overwrite"
expect 1 "$BLT" get "$s" nope
err_has "$s"
err_has "nope"
"$BLT" del "$s" k
expect 1 "$BLT" get "$s" k
expect 1 "$BLT" del "$s" k text
expect 1 "$BLT" get "$s" text
"$BLT" del -f "$s" k
expect 2 "$BLT" get "$tmp/missing.blt" k
err_has "$tmp/missing.blt"

# ls: file order, prefixes, escapes, hex, NUL-terminated.
"$BLT" create --force "$s"
for k in a/1 a/2 b 'with space'; do
	echo "$k" | "$BLT" put "$s" "$k"
done
nl='
'
echo x | "$BLT" put "$s" "line${nl}break"
printf 'tab\there' | "$BLT" put -- "$s" "$(printf 'tab\there')"
echo x | "$BLT" put -x "$s" ff00
echo x | "$BLT" put "$s" 'back\slash'
echo x | "$BLT" put -- "$s" -dash
cat >"$tmp/want" <<'EOF'
a/1
a/2
b
with space
line\nbreak
tab\there
\xff\x00
back\\slash
-dash
EOF
"$BLT" ls "$s" >"$tmp/out"
diff "$tmp/want" "$tmp/out" || fail "ls output"
[ "$("$BLT" ls "$s" a/ | tr '\n' ' ')" = "a/1 a/2 " ] || fail "ls PREFIX"
[ "$("$BLT" ls -x "$s" ff)" = ff00 ] || fail "ls --hex PREFIX"
[ "$("$BLT" ls -0 "$s" line | od -An -c | tr -d ' \n')" = 'line\nbreak\0' ] ||
	fail "ls -0"
# Every key ls prints reads back with --escaped.
"$BLT" ls "$s" | while IFS= read -r k; do
	"$BLT" get -e -- "$s" "$k" >/dev/null || fail "get -e '$k'"
done
[ "$("$BLT" ls -l "$s" a/1 | cut -f1)" = 4 ] || fail "ls -l length"
expect 2 "$BLT" get -e "$s" 'bad\q'
err_has "escape"
expect 2 "$BLT" get -x "$s" abc
err_has "hex"

# Timestamps: µs integers, ISO-8601 with an offset; naive times refused.
"$BLT" put --timestamp 2024-01-02T03:04:05.123456Z "$s" t1 </dev/null
"$BLT" put --timestamp 2024-01-02T05:04:05.123456+02:00 "$s" t2 </dev/null
"$BLT" put --timestamp 1704164645123456 "$s" t3 </dev/null
"$BLT" put --timestamp 0 "$s" t4 </dev/null
for k in t1 t2 t3; do
	[ "$("$BLT" ls -l "$s" "$k" | cut -f2)" = 2024-01-02T03:04:05.123456Z ] ||
		fail "timestamp of $k: $("$BLT" ls -l "$s" "$k")"
done
[ "$("$BLT" ls -l "$s" t4 | cut -f2)" = 1970-01-01T00:00:00.000000Z ] ||
	fail "timestamp 0"
"$BLT" dump "$s" | grep -qF '"key_hex": "7433", "value_hex": "", "timestamp": 1704164645123456}' ||
	fail "dump timestamp"
expect 2 "$BLT" put --timestamp 2024-01-02T03:04:05 "$s" t </dev/null
err_has "UTC offset"
expect 2 "$BLT" put --timestamp 2024-01-02 "$s" t </dev/null
expect 2 "$BLT" put --timestamp 2024-02-30T00:00:00Z "$s" t </dev/null
expect 2 "$BLT" put --timestamp yesterday "$s" t </dev/null

# stat is JSON with the promised fields.
"$BLT" stat "$s" >"$tmp/stat.json"
python3 -m json.tool "$tmp/stat.json" >/dev/null || fail "stat is not JSON"
py "$tmp/stat.json" <<'EOF'
import json, sys
with open(sys.argv[1]) as f:
    st = json.load(f)
for k in ("format_version", "kind", "key_serializer", "key_serializer_code",
          "value_serializer", "value_serializer_code", "keys", "buckets",
          "index_offset", "file_bytes", "live_bytes", "dead_bytes"):
    assert k in st, k
assert st["keys"] == 13, st["keys"]
assert st["kind"] == "variable" and st["timestamps"] is True
assert st["key_serializer_code"] == 1 and st["buckets"] == 12007, st
# the header alone: what needs a scan of every block is left out
assert st["live_bytes"] is None and st["dead_bytes"] is None, st
EOF
# --scan reads the blocks: live and dead bytes add up to the data
"$BLT" stat --scan "$s" >"$tmp/scan.json"
py "$tmp/scan.json" "$tmp/stat.json" <<'EOF'
import json, sys
sc, st = (json.load(open(p)) for p in sys.argv[1:3])
assert sc["live_bytes"] > 0 and sc["dead_bytes"] >= 0, sc
# (the header is 200 bytes, the index 6 a bucket)
assert sc["live_bytes"] + sc["dead_bytes"] == \
    sc["file_bytes"] - 200 - 6 * sc["buckets"], sc
for k in st:
    if k not in ("live_bytes", "dead_bytes"):
        assert sc[k] == st[k], (k, sc[k], st[k])
EOF

# Integer keys are decimal, encoded as the store's serializer.
i=$tmp/int.blt
"$BLT" create --key-serializer uint4 --value-serializer str "$i"
for k in 0 1 4294967295; do
	echo "v$k" | "$BLT" put "$i" "$k"
done
[ "$("$BLT" ls "$i" | tr '\n' ' ')" = "0 1 4294967295 " ] || fail "uint4 ls"
[ "$("$BLT" get "$i" 4294967295)" = v4294967295 ] || fail "uint4 get"
[ "$("$BLT" get -x "$i" 01000000)" = v1 ] || fail "uint4 get --hex"
expect 2 "$BLT" put "$i" 4294967296 </dev/null
err_has "uint4"
expect 2 "$BLT" put "$i" -1 </dev/null
expect 2 "$BLT" put "$i" abc </dev/null
"$BLT" stat "$i" | grep -q '"key_serializer_code": 10' || fail "uint4 code"
# Keys given as bytes (--hex, --escaped, load) must have the integer's
# width too; a refused one writes nothing.
echo v2 | "$BLT" put -x "$i" 02000000
[ "$("$BLT" get "$i" 2)" = v2 ] || fail "uint4 put --hex"
cp "$i" "$tmp/int-before.blt"
for k in 0102 0102030405 ''; do
	expect 2 "$BLT" put -x "$i" "$k" </dev/null
	err_has "$i: key '$k' (hex) is $((${#k} / 2)) bytes long; uint4 keys are 4 bytes"
done
expect 2 "$BLT" put -e "$i" 'a\x00' </dev/null
err_has "key '6100' (hex) is 2 bytes long; uint4 keys are 4 bytes"
echo '{"key_hex": "0300", "value": "v3"}' >"$tmp/narrow.jsonl"
expect 2 "$BLT" load "$i" "$tmp/narrow.jsonl"
err_has "$i: key '0300' (hex) is 2 bytes long; uint4 keys are 4 bytes"
err_has "$tmp/narrow.jsonl:1: item not stored"
cmp -s "$i" "$tmp/int-before.blt" || fail "a refused integer key was written"
"$BLT" create --key-serializer int2 "$tmp/i2.blt"
expect 2 "$BLT" put -x "$tmp/i2.blt" 010203 </dev/null
err_has "int2 keys are 2 bytes"
"$BLT" create --key-serializer 15 "$tmp/i8.blt"
echo min | "$BLT" put "$tmp/i8.blt" -- -9223372036854775808
[ "$("$BLT" ls "$tmp/i8.blt")" = -9223372036854775808 ] || fail "int8 ls"
"$BLT" dump "$tmp/i8.blt" | grep -q '"key_hex": "0000000000000080"' ||
	fail "int8 encoding"
"$BLT" create --key-serializer int1 "$tmp/i1.blt"
echo x | "$BLT" put "$tmp/i1.blt" -- -128
expect 2 "$BLT" put "$tmp/i1.blt" 128 </dev/null
# A number has one spelling, the one ls shows and the mount takes
# (doc/keys.md): 007, 00, +5, -0 and -007 are refused by name (they were
# taken as 7, 0, ...), by every command that takes a key, and nothing is
# written.
cp "$tmp/i1.blt" "$tmp/i1-before.blt"
for k in 007 00 +5 -0 -007 +0 ' 5' 5x -; do
	expect 2 "$BLT" put "$tmp/i1.blt" -- "$k" </dev/null
	err_has "$tmp/i1.blt: key '$k': not a number as ls shows integer keys (no leading zero, no '+', no -0)"
	expect 2 "$BLT" get "$tmp/i1.blt" -- "$k"
	err_has "key '$k': not a number as ls shows integer keys"
	expect 2 "$BLT" del "$tmp/i1.blt" -- "$k"
	err_has "key '$k': not a number as ls shows integer keys"
done
cmp -s "$tmp/i1.blt" "$tmp/i1-before.blt" || fail "a refused spelling was written"
for k in 0 5 -5 127; do
	echo "v$k" | "$BLT" put "$tmp/i1.blt" -- "$k"
	[ "$("$BLT" get "$tmp/i1.blt" -- "$k")" = "v$k" ] || fail "int1 key $k"
done
expect 2 "$BLT" put "$i" -- -0 </dev/null
err_has "key '-0': not a number as ls shows integer keys"

# Fixed-length and timestamp-less stores.
f=$tmp/fixed.blt
"$BLT" create --fixed 4 "$f"
printf abcd | "$BLT" put "$f" k
[ "$("$BLT" get "$f" k)" = abcd ] || fail "fixed get"
expect 2 "$BLT" put "$f" k2 <"$tmp/bin"
err_has "$f"
"$BLT" stat "$f" | grep -q '"kind": "fixed"' || fail "fixed kind"
[ "$("$BLT" ls -l "$f" | cut -f2)" = - ] || fail "fixed ls -l"
n=$tmp/nots.blt
"$BLT" create --no-timestamps "$n"
echo x | "$BLT" put "$n" k
expect 2 "$BLT" put --timestamp 0 "$n" k </dev/null
err_has "timestamps"
"$BLT" dump "$n" | grep -q '"timestamp": null}$' || fail "no-timestamps dump"

# Usage errors exit 2 with a message; help exits 0.
expect 2 "$BLT"
expect 2 "$BLT" frobnicate
err_has frobnicate
expect 2 "$BLT" get "$s"
err_has "missing"
expect 2 "$BLT" get "$s" a b
expect 2 "$BLT" get --bogus "$s" a
err_has "--bogus"
expect 2 "$BLT" get --timeout "$s" a
# --timeout is decimal digits with an optional fraction, or inf (-1) to
# wait for as long as it takes, nothing else.
for t in -2 1e3 1E-2 0x10 nan +1 ' 1' '1 ' . 1. .5 '' 1.2.3 5s inff; do
	expect 2 "$BLT" get --timeout "$t" "$s" a
	err_has "bad --timeout '$t': expected seconds as decimal digits"
done
for t in 0 30 0.5 00.050 18446744073709551615 inf INF infinity -1; do
	expect 1 "$BLT" get --timeout "$t" "$s" a
done
expect 2 "$BLT" ls --fixed 3 "$s"
expect 2 "$BLT" create --fixed 4 --value-serializer str "$tmp/x.blt"
expect 2 "$BLT" create --key-serializer nosuch "$tmp/x.blt"
expect 2 "$BLT" load --fixed 4 "$tmp/x.blt" </dev/null
err_has "--create"
# --buckets stops at the largest index booklet grows to (format §8).
for n in 20736018 4294967295 4294967296 0 1e3; do
	expect 2 "$BLT" create --buckets "$n" "$tmp/x.blt"
	err_has "bad --buckets '$n': expected a number from 1 to 20736017"
	expect 2 "$BLT" load --create --buckets "$n" "$tmp/x.blt" </dev/null
	err_has "--buckets '$n'"
done
expect 2 "$BLT" prune --keep a "$s"
expect 2 "$BLT" map "$s"
err_has "give one of --exec, --plugin and --worker"
[ ! -e "$tmp/x.blt" ] || fail "a usage error created a store"

# A full disk, made by a file size limit: the put fails and says why, and
# the store stays as it was, readable and sound.
if command -v prlimit >/dev/null; then
	"$BLT" create "$tmp/full.blt"
	echo kept | "$BLT" put "$tmp/full.blt" kept
	head -c 3000000 /dev/zero >"$tmp/three-mb"
	expect 2 prlimit --fsize=1000000 "$BLT" put "$tmp/full.blt" big \
	    "$tmp/three-mb"
	err_has "$tmp/full.blt: write of"
	err_has "File too large"
	[ "$("$BLT" get "$tmp/full.blt" kept)" = kept ] ||
		fail "a failed put lost a key"
	expect 1 "$BLT" get "$tmp/full.blt" big
	expect 0 "$BLT" check "$tmp/full.blt"
fi
"$BLT" --help | grep -q "blt dump" || fail "blt --help"
for c in create put get del ls dump load stat check prune reindex map; do
	"$BLT" "$c" --help | grep -q "^usage: blt $c" || fail "blt $c --help"
	"$BLT" help "$c" | grep -q "^usage: blt $c" || fail "blt help $c"
done
exit 0
