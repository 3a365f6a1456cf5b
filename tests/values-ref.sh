#!/bin/sh
# Values as data against the reference Python booklet, for every value
# serializer: the reference writes a store of seeded random values fit for
# it; blt dump --decode and blt get --decode must show what booklet reads;
# blt load --encode of that dump into a new store must give values booklet
# reads back equal, and for the serializers whose bytes depend on nothing
# but the value, the identical bytes.  tests/values-ref.py is the Python
# side and reads the tagged forms of doc/values.md on its own.
. "${top_srcdir:-$(dirname "$0")/..}/tests/blt-lib.sh"

need_reference
REF=$PY
"$REF" -c 'import portalocker, zstandard, msgpack, numpy' 2>/dev/null || {
	echo "the reference needs python3-portalocker, -zstandard, -msgpack," \
	    "-numpy" >&2
	exit 77
}
py()
{
	"$REF" "$top_srcdir/tests/values-ref.py" "$@"
}

n=0
for name in $(py names); do
	s=$tmp/$name.blt
	py write "$name" "$s" || fail "$name: the reference could not write"
	code=$("$BLT" stat "$s" | sed -n 's/.*"value_serializer_code": //p' |
	    tr -d ,)
	if [ "$name" = pickle ] || [ "$name" = pickle_zstd ]; then
		# Until pickle can be decoded, there is nothing to compare.
		"$BLT" stat "$s" | grep -q '"value_decode": true' || continue
	fi
	"$BLT" dump --decode "$s" >"$tmp/$name.jsonl" 2>"$tmp/err" ||
		fail "$name: blt dump --decode: $(cat "$tmp/err")"
	[ ! -s "$tmp/err" ] || fail "$name: dump --decode said $(cat "$tmp/err")"
	py dump "$name" "$s" "$tmp/$name.jsonl" || fail "$name: dump --decode"

	for key in k0 k1 k7 deep; do
		"$BLT" get --decode "$s" "$key" >"$tmp/get" 2>"$tmp/err" ||
			{ [ "$key" = deep ] && continue; fail "$name: get $key"; }
		py get "$name" "$s" "$key" "$tmp/get" ||
			fail "$name: get --decode $key"
	done

	"$BLT" load --encode --create --key-serializer str \
	    --value-serializer "$code" "$tmp/$name-copy.blt" \
	    <"$tmp/$name.jsonl" 2>"$tmp/err" ||
		fail "$name: blt load --encode: $(cat "$tmp/err")"
	py same "$name" "$s" "$tmp/$name-copy.blt" ||
		fail "$name: load --encode gave other values"

	# Bytes that depend on the value alone come back identical (zstd's
	# depend on the library's version, pickle's on its writer).
	case $name in
	*zstd* | pickle) ;;
	*)
		"$BLT" dump "$s" | sed 's/"timestamp": [0-9]*//' \
		    >"$tmp/a"
		"$BLT" dump "$tmp/$name-copy.blt" |
		    sed 's/"timestamp": [0-9]*//' >"$tmp/b"
		cmp -s "$tmp/a" "$tmp/b" ||
			fail "$name: load --encode of an unchanged dump changed" \
			    "bytes: $(diff "$tmp/a" "$tmp/b" | head -5)"
		;;
	esac
	n=$((n + 1))
done
[ "$n" -ge 30 ] || fail "only $n serializers tested"
