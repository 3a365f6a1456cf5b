#!/bin/sh
# bltfs -o decode (issue 30): every file shows its value as text, and text
# written to a file is encoded with the store's value serializer.  For each
# serializer of the table below, a store made by the reference Python
# booklet is mounted with -o decode, and:
#  - cat gives the documented text, ls -l sizes are those of that text,
#    grep -r and diff -r work on the tree;
#  - text written is stored so that the reference reads the value back;
#  - text the serializer cannot hold fails the close with EINVAL, the log
#    names the key, and the old value stays;
#  - text written back unchanged stores nothing (the store file does not
#    grow, and status counts it);
#  - a raw mount of the same store is still byte-exact.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

need_reference
m=$tmp/m

# status_val KEY: values.KEY of the mount's status
status_val()
{
	python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["values"][sys.argv[2]]))' \
	    "$m/.bltfs/status" "$1"
}

# One line a case: serializer, then Python literals: a value stored by the
# reference and the exact text its file shows, a text to write and the
# value the reference must read back, and a text the serializer refuses.
cat >"$tmp/cases" <<'EOF'
str	'héllo\nworld'	'héllo\nworld'	'new text\n'	'new text\n'	b'\xff\xfe'
uint4	42	'42\n'	'7\n'	7	'-1\n'
int8	-5	'-5\n'	'9000000000\n'	9000000000	'x\n'
uint2	65535	'65535\n'	'12'	12	'65536\n'
json	{'a': [1, 2], 'b': 'x'}	'{"a": [1, 2], "b": "x"}\n'	'{"a": [1, 2]}'	{'a': [1, 2]}	'{"a": '
orjson	[1, 2.5, None]	'[1, 2.5, null]\n'	'{"k": true}\n'	{'k': True}	'[1,'
pickle	{'a': (1, 2), 'b': b'\x00'}	'{"a": {"$tuple": [1, 2]}, "b": {"$bytes": "AA=="}}\n'	'{"a": [1, 2]}\n'	{'a': [1, 2]}	'{bad'
msgpack	{'a': [1, 2]}	'{"a": [1, 2]}\n'	'{"x": "y"}\n'	{'x': 'y'}	'[1, 2'
zstd	b'plain bytes'	'plain bytes'	'other bytes'	b'other bytes'	None
EOF

ran=0
while IFS='	' read -r ser val text new newval bad; do
	store=$tmp/$ser.blt
	rm -f "$store"
	# the store: keys a, d/b, d/c, all holding val
	if ! "$PY" - "$store" "$ser" "$val" <<'EOF' 2>"$tmp/err"; then
import ast, sys, booklet
path, ser, val = sys.argv[1], sys.argv[2], ast.literal_eval(sys.argv[3])
with booklet.open(path, "n", key_serializer="str", value_serializer=ser) as db:
    for k in ("a", "d/b", "d/c"):
        db[k] = val
EOF
		echo "$ser: the reference cannot write it, skipped: $(tail -1 "$tmp/err")" >&2
		continue
	fi
	cp "$store" "$tmp/orig.blt"
	bltfs_mount "$store" "$m" -o decode
	[ "$(status_val decode)" = true ] || fail "$ser: status says no -o decode"
	[ "$(status_val decoded)" = true ] || fail "$ser: values not decoded"
	ran=$((ran + 1))
	[ "$(status_val value_serializer)" = "\"$ser\"" ] ||
		fail "$ser: status names $(status_val value_serializer)"
	[ "$(status_val key_serializer)" = '"str"' ] ||
		fail "$ser: status names key serializer $(status_val key_serializer)"

	# reads: the text, sizes that match, and the tools that work on text
	python3 -c 'import ast,sys; sys.stdout.buffer.write(ast.literal_eval(sys.argv[1]).encode())' \
	    "$text" >"$tmp/want"
	for k in a d/b d/c; do
		cmp "$tmp/want" "$m/$k" || fail "$ser: $k reads $(od -c "$m/$k" | head -3)"
		[ "$(stat -c %s "$m/$k")" = "$(wc -c <"$tmp/want")" ] ||
			fail "$ser: $k has size $(stat -c %s "$m/$k"), not $(wc -c <"$tmp/want")"
	done
	ls -l "$m/d" | awk 'NR > 1 { print $5 }' | sort -u >"$tmp/sizes"
	[ "$(cat "$tmp/sizes")" = "$(wc -c <"$tmp/want")" ] ||
		fail "$ser: ls -l sizes $(cat "$tmp/sizes")"
	mkdir -p "$tmp/copy"
	rm -rf "$tmp/copy/d"
	cp -r "$m/d" "$tmp/copy/d"
	diff -r "$m/d" "$tmp/copy/d" || fail "$ser: diff -r of a copy"
	first=$(head -c 1 "$tmp/want")
	[ "$(grep -rlF -- "$first" "$m/d" | wc -l)" = 2 ] ||
		fail "$ser: grep -r did not find \"$first\" in both files"
	# read in small pieces: the same text (one decode per open)
	dd if="$m/a" bs=3 status=none | cmp - "$tmp/want" ||
		fail "$ser: read in 3-byte pieces"

	# unchanged text written back: nothing stored
	size0=$(stat -c %s "$store")
	unchanged0=$(status_val unchanged_writes)
	cat "$tmp/want" >"$tmp/same"
	cp "$tmp/same" "$m/d/b"
	[ "$(stat -c %s "$store")" = "$size0" ] ||
		fail "$ser: writing the same text back grew the store"
	[ "$(status_val unchanged_writes)" -gt "$unchanged0" ] ||
		fail "$ser: status did not count the unchanged write"

	# a new text: stored so that the reference reads the value
	python3 -c 'import ast,sys; sys.stdout.buffer.write(ast.literal_eval(sys.argv[1]).encode())' \
	    "$new" >"$tmp/new"
	cp "$tmp/new" "$m/a"
	cp "$tmp/new" "$m/fresh" # a new file, encoded the same way
	# truncate, then append, as text: the text is encoded when the last
	# of them closes (a text stored alone, "4", would show as "4\n", to
	# which an append adds after the newline)
	exec 5>"$m/d/c"
	printf %s "$first" >&5 || { exec 5>&-; fail "$ser: write"; }
	tail -c +2 "$tmp/want" >>"$m/d/c" || { exec 5>&-; fail "$ser: append"; }
	exec 5>&-
	cmp "$tmp/want" "$m/d/c" || fail "$ser: d/c after a truncate and an append"

	# text the serializer cannot hold: the close fails, nothing stored
	if [ "$bad" != None ]; then
		python3 - "$m/d/b" "$bad" <<'EOF' || fail "$ser: a bad text was accepted"
import ast, errno, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC)
v = ast.literal_eval(sys.argv[2])
os.write(fd, v if isinstance(v, bytes) else v.encode())
try:
    os.close(fd)
except OSError as e:
    sys.exit(0 if e.errno == errno.EINVAL else f"close: {e}")
sys.exit("the close succeeded")
EOF
		# the refused bytes are the handle's until its release, which
		# the kernel sends after close(2) has returned
		poll "$ser: d/b changed after a refused text" \
		    cmp -s "$tmp/want" "$m/d/b"
		grep -q "d/b: text not stored" "$tmp/log.$pid" ||
			fail "$ser: the log does not name d/b: $(cat "$tmp/log.$pid")"
		# a shell command sees it too (cat checks the close of its
		# output), and a new file whose text is refused is not kept
		python3 -c 'import ast,sys; v = ast.literal_eval(sys.argv[1]); sys.stdout.buffer.write(v if isinstance(v, bytes) else v.encode())' \
		    "$bad" >"$tmp/bad"
		! cat "$tmp/bad" >"$m/d/bad" 2>"$tmp/err" ||
			fail "$ser: cat of a bad text into a new file succeeded"
		grep -q "Invalid argument" "$tmp/err" ||
			fail "$ser: cat said $(cat "$tmp/err")"
		# it goes at the release, which follows cat's close; but
		# str holds the empty text its open made, which stays
		if [ "$ser" = str ]; then
			poll "str: d/bad is not the empty file its open made" \
			    empty_file "$m/d/bad"
		else
			vanishes "$m/d/bad"
		fi
		[ "$(status_val rejected_writes)" -gt 0 ] ||
			fail "$ser: status counts no refused write"
	fi
	bltfs_umount "$m"

	"$PY" - "$store" "$newval" "$val" <<'EOF' || fail "$ser: the reference reads other values"
import ast, sys, booklet
path, new, old = sys.argv[1], ast.literal_eval(sys.argv[2]), ast.literal_eval(sys.argv[3])
with booklet.open(path) as db:
    assert db["a"] == new, (db["a"], new)
    assert db["fresh"] == new, (db["fresh"], new)
    assert db["d/b"] == old, (db["d/b"], old)
    assert db["d/c"] == old, (db["d/c"], old)
EOF

	# the raw mount (the default) is byte-exact, and read-only decode
	# shows the same text as a writable one
	cp "$tmp/orig.blt" "$store"
	"$BLT" get "$store" d/b >"$tmp/raw"
	bltfs_mount "$store" "$m"
	[ "$(status_val decoded)" = false ] || fail "$ser: raw mount says decoded"
	cmp "$tmp/raw" "$m/d/b" || fail "$ser: a raw mount is not byte-exact"
	bltfs_umount "$m"
	bltfs_mount "$store" "$m" -o decode,ro
	cmp "$tmp/want" "$m/d/b" || fail "$ser: -o decode,ro reads other text"
	dd if="$m/d/c" bs=2 status=none | cmp - "$tmp/want" ||
		fail "$ser: -o decode,ro in 2-byte pieces"
	! cp "$tmp/new" "$m/a" 2>/dev/null || fail "$ser: wrote to a read-only mount"
	bltfs_umount "$m"
done <"$tmp/cases"
[ "$ran" -gt 0 ] || fail "no serializer was decoded"

# raw bytes: a raw mount gives exactly what the store holds
store=$tmp/raw.blt
"$PY" - "$store" <<'EOF'
import sys, booklet
with booklet.open(sys.argv[1], "n", key_serializer="str", value_serializer="pickle") as db:
    db["k"] = {"a": 1}
EOF
bltfs_mount "$store" "$m"
"$PY" - "$store" "$m/k" <<'EOF' || fail "raw mount of a pickle store is not byte-exact"
import pickle, sys
data = open(sys.argv[2], "rb").read()
assert pickle.loads(data) == {"a": 1}, data
EOF
bltfs_umount "$m"

# a serializer whose values pass through as bytes (caps 0): -o decode
# changes nothing and files stay writable
store=$tmp/bytes.blt
"$BLT" create --value-serializer bytes "$store"
bltfs_mount "$store" "$m" -o decode
printf 'x\0y' >"$m/k"
[ "$(status_val decoded)" = false ] || fail "bytes: status says decoded"
printf 'x\0y' | cmp - "$m/k" || fail "bytes: not passed through"
bltfs_umount "$m"

# a pickle with bytes after STOP (issue 40): shown as Python reads it, and
# written back with the same text it keeps every byte
store=$tmp/tail.blt
"$PY" - "$store" <<'EOF2'
import pickle, sys, booklet
with booklet.open(sys.argv[1], "n", key_serializer="str", value_serializer="pickle") as db:
    db["k"] = {"a": 1}
EOF2
# the stored bytes: the pickle, then junk, which Python's loads passes over
"$BLT" get "$store" k | python3 -c 'import sys; sys.stdout.buffer.write(sys.stdin.buffer.read() + b"after STOP\xff")' |
	"$BLT" put "$store" k
"$BLT" get "$store" k >"$tmp/tail.raw"
bltfs_mount "$store" "$m" -o decode
[ "$(cat "$m/k")" = '{"a": 1}' ] || fail "bytes after STOP: $m/k reads $(cat "$m/k")"
cat "$m/k" >"$tmp/tail.txt"
cp "$tmp/tail.txt" "$m/k"
bltfs_umount "$m"
"$BLT" get "$store" k | cmp - "$tmp/tail.raw" ||
	fail "bytes after STOP: the text written back unchanged lost them"
