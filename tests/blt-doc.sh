#!/bin/sh
# doc/blt.1 says what blt does: its serializer names are the ones blt stat
# prints, and its shell examples run as written.
. "${top_srcdir:-$(dirname "$0")/..}/tests/blt-lib.sh"

man=$top_srcdir/doc/blt.1

# Every serializer code's name, as stat prints it, is in the man page and
# names that code again.
code=0
while [ "$code" -le 32 ]; do
	"$BLT" create --key-serializer "$code" "$tmp/ser.blt"
	name=$("$BLT" stat "$tmp/ser.blt" | sed -n \
	    's/^  "key_serializer": "\(.*\)",$/\1/p')
	[ -n "$name" ] || fail "stat shows no name for code $code"
	grep -q "^\.BR\{0,1\} $name\( [,.;]\)\{0,1\}\$" "$man" ||
		fail "doc/blt.1 lacks serializer $code, '$name'"
	"$BLT" create --force --key-serializer "$name" "$tmp/ser.blt"
	"$BLT" stat "$tmp/ser.blt" |
		grep -q "\"key_serializer_code\": $code," ||
		fail "--key-serializer $name is not code $code"
	rm "$tmp/ser.blt"
	code=$((code + 1))
done

"$BLT" create "$tmp/ser.blt"
name=$("$BLT" stat "$tmp/ser.blt" | sed -n \
    's/^  "key_serializer": "\(.*\)",$/\1/p')
"$BLT" create --help | tr -s ' \n' ' ' |
	grep -qF "for keys (default $name, code 1)" ||
	fail "create --help does not call the default '$name'"

# example TEXT: the commands of the EXAMPLES block after the line TEXT, as
# man shows them.
example()
{
	sed -n "/^$1/,/^\.EE/p" "$man" | sed -e '1,/^\.EX/d' -e '/^\.EE/d' \
	    -e 's/\\-/-/g' -e 's/\\e/\\/g'
}

# Removing the keys under a prefix takes away those keys, whatever their
# bytes, and no others, also when the listing is more than a pipe holds
# (ls keeps its read lock until it ends).  The integer store's keys begin
# with the bytes of the prefix, which only ls -e matches.  timeout(1)
# only bounds an example that waits for itself.
example "Remove every key under a prefix" >"$tmp/rm.sh"
grep -q "blt del" "$tmp/rm.sh" || fail "no example under 'Remove every key'"
mkdir "$tmp/ex"
long=$(head -c 200 /dev/zero | tr '\0' x)
for ser in uint8 none; do
	rm -f "$tmp/ex/data.blt"
	if [ $ser = none ]; then
		py "$long" >"$tmp/items.jsonl" <<'EOF'
import json, sys
keys = ["tmp/%s/%04d" % (sys.argv[1], i) for i in range(400)]
keys += ["tmp/back\\slash", "tmp/new\nline", "tmp/-dash", "tmp/ space ",
         "tmp/", "keep/1", "keep/tmp/2", "tm"]
for k in keys:
    print(json.dumps({"key": k, "value": "v"}))
print(json.dumps({"key_hex": b"tmp/\xff\x00".hex(), "value": "v"}))
EOF
		keep=3
	else
		py >"$tmp/items.jsonl" <<'EOF'
import json
for k in [b"tmp/\0\0\0\0", b"tmp/\1\2\3\4", b"\0" * 8, b"keep/\0\0\0"]:
    print(json.dumps({"key_hex": k.hex(), "value": "v"}))
EOF
		keep=2
	fi
	"$BLT" load --create --key-serializer $ser "$tmp/ex/data.blt" \
	    "$tmp/items.jsonl"
	(cd "$tmp/ex" && PATH=$top_builddir/src/blt:$PATH \
	    timeout 600 sh -e "$tmp/rm.sh") >"$tmp/out" 2>"$tmp/err" ||
		{ cat "$tmp/err" >&2; fail "the example failed ($ser keys)"; }
	[ ! -s "$tmp/err" ] || { cat "$tmp/err" >&2; fail "it said so ($ser)"; }
	"$BLT" ls -x "$tmp/ex/data.blt" >"$tmp/left"
	grep -q '^746d702f' "$tmp/left" && fail "keys under tmp/ left ($ser)"
	[ "$(wc -l <"$tmp/left")" -eq $keep ] ||
		fail "$ser keys outside tmp/ lost: $(cat "$tmp/left")"
done
exit 0
