#!/bin/sh
# Damaged stores, made here from private copies of a fixture: every command
# fails with a message naming the file and exit status 2, never a crash.
. "${top_srcdir:-$(dirname "$0")/..}/tests/blt-lib.sh"

src=small_str_bytes.blt
size=$(wc -c <"$FIXTURES_DIR/$src")

# damaged NAME [deep]: the commands that read the whole file (stat --scan
# counts live bytes) refuse NAME with status 2, and so does get unless the
# damage is deep in the data, where an intact key may still be read.
damaged()
{
	for cmd in "stat --scan" dump ls; do
		# shellcheck disable=SC2086 # cmd is a command and its option
		expect 2 "$BLT" $cmd "$1"
		err_has "$1"
	done
	if [ $# -eq 1 ]; then
		expect 2 "$BLT" get "$1" top
		err_has "$1"
	else
		set +e
		"$BLT" get "$1" top >/dev/null 2>&1
		rc=$?
		set -e
		[ "$rc" = 0 ] || [ "$rc" = 2 ] || fail "get $1: exit status $rc"
	fi
	# check may find problems (1) or give up (2), but must not crash; a
	# sanitizer's report would also exit 1, so look for one.
	set +e
	"$BLT" check "$1" >/dev/null 2>"$tmp/err"
	rc=$?
	set -e
	[ "$rc" = 1 ] || [ "$rc" = 2 ] || fail "check $1: exit status $rc"
	! grep -q -e Sanitizer -e 'runtime error' "$tmp/err" ||
		fail "check $1: $(cat "$tmp/err")"
}

# Truncated in the header, in the index, and in the last data block.
for len in 0 1 100 199 200 1000; do
	head -c "$len" "$FIXTURES_DIR/$src" >"$tmp/cut-$len.blt"
	damaged "$tmp/cut-$len.blt"
done
head -c $((size - 1)) "$FIXTURES_DIR/$src" >"$tmp/cut-end.blt"
damaged "$tmp/cut-end.blt" deep
# stat without --scan reads the header alone, which is whole
expect 0 "$BLT" stat "$tmp/cut-end.blt"
grep -q "\"file_bytes\": $((size - 1))," "$tmp/out" || fail "stat of cut-end"

# flip NAME OFFSET VALUE: set one byte.
flip()
{
	py "$1" "$2" "$3" <<'EOF'
import sys
path, off, val = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(path, "r+b") as f:
    f.seek(off)
    f.write(bytes([val]))
EOF
}

# The magic, the version (2 is too old), the pointer width, the bucket
# count (past the end of the file), the index offset (past the end).
for spot in 0:0 16:2 18:7 24:127 69:1; do
	d=$tmp/flip-${spot%:*}.blt
	copy "$src" "$d"
	flip "$d" "${spot%:*}" "${spot#*:}"
	damaged "$d"
done

# A file that is not a store at all.
echo "hello" >"$tmp/text.blt"
damaged "$tmp/text.blt"
expect 2 "$BLT" put "$tmp/text.blt" k </dev/null
err_has "$tmp/text.blt"
cmp -s "$tmp/text.blt" - <<'EOF' || fail "put changed a file that is not a store"
hello
EOF
# Not closed cleanly: the key count is the unclean sentinel, as a Python
# handle that was never closed leaves it.  Read-only commands read such a
# store as it is and say so, without changing it; with a chain cut too
# they refuse it, naming the problem, and a writable open recovers it.
u=$tmp/unclean.blt
copy "$src" "$u"
"$BLT" ls "$FIXTURES_DIR/$src" >"$tmp/keys"
printf '\377\377\377\377' | dd of="$u" bs=1 seek=33 conv=notrunc status=none
cp "$u" "$tmp/unclean.orig"
expect 0 "$BLT" ls "$u"
cmp -s "$tmp/out" "$tmp/keys" || fail "ls of the unclean store: other keys"
err_has "$u: was not closed cleanly; read as it is (its chains are sound)"
cmp -s "$u" "$tmp/unclean.orig" || fail "ls changed the unclean store"
cut_first_chain "$u"
cp "$u" "$tmp/unclean.orig"
for cmd in ls dump "stat --scan"; do
	# shellcheck disable=SC2086 # cmd is a command and its option
	expect 2 "$BLT" $cmd "$u"
	err_has "$u: was not closed cleanly, and cannot be read as it is: live block not reachable from its bucket"
done
cmp -s "$u" "$tmp/unclean.orig" || fail "a refused read changed the store"
expect 0 "$BLT" load "$u" /dev/null
err_has "$u: was not closed cleanly; recovered"
expect 0 "$BLT" ls "$u"
cmp -s "$tmp/out" "$tmp/keys" || fail "the recovered store holds other keys"
exit 0
