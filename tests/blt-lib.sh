# Sourced by the blt-*.sh tests: finds the tool and the fixtures, makes a
# temporary directory that is removed on exit, and provides the checks the
# tests share.  make check sets top_builddir, top_srcdir and FIXTURES_DIR;
# the fallbacks let a test run by hand from the source tree.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$here/..}"
: "${top_builddir:=$top_srcdir}"
: "${FIXTURES_DIR:=$top_srcdir/tests/fixtures}"
BLT=$top_builddir/src/blt/blt
# 99 is automake's "hard error": the test could not run at all.
[ -x "$BLT" ] || { echo "blt not built: $BLT" >&2; exit 99; }
[ -d "$FIXTURES_DIR" ] || { echo "no fixtures: $FIXTURES_DIR" >&2; exit 99; }
command -v python3 >/dev/null || { echo "python3 missing" >&2; exit 99; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/blt-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# dash skips the EXIT trap when a signal kills it; exit on signals instead.
trap 'exit 1' HUP INT TERM

fail()
{
	echo "FAIL: $*" >&2
	exit 1
}

# running, gone, lines and cut_first_chain
. "$top_srcdir/tests/common-lib.sh"

# expect STATUS CMD...: run CMD with stdout in $tmp/out and stderr in
# $tmp/err, and require its exit status to be STATUS.
expect()
{
	want=$1
	shift
	set +e
	"$@" >"$tmp/out" 2>"$tmp/err"
	got=$?
	set -e
	if [ "$got" != "$want" ]; then
		cat "$tmp/err" >&2
		fail "exit status $got, wanted $want: $*"
	fi
}

# err_has TEXT: the last expect's stderr contains TEXT.
err_has()
{
	grep -qF -- "$1" "$tmp/err" || {
		cat "$tmp/err" >&2
		fail "stderr lacks '$1'"
	}
}

# copy FIXTURE DEST: a private, writable copy (fixtures stay untouched).
copy()
{
	cat "$FIXTURES_DIR/$1" >"$2"
}

# fixtures: the names of all reference stores.
fixtures()
{
	for f in "$FIXTURES_DIR"/*.blt; do
		basename "$f"
	done
}

# py ARGS... <<'EOF' script EOF: run a Python check.
py()
{
	python3 - "$@"
}

# report FIELD: a field of the JSON report blt map wrote,
# one line, in the last expect's output.
report()
{
	py "$tmp/out" "$1" <<'EOF'
import json, sys
with open(sys.argv[1]) as f:
    lines = f.read().splitlines()
if len(lines) != 1:
    sys.exit("report: %d lines" % len(lines))
print(json.loads(lines[0])[sys.argv[2]])
EOF
}

# counts W S E: the report says W written, S skipped, E errors, and
# processed all of them.
counts()
{
	got="$(report written) $(report skipped) $(report errors)"
	[ "$got" = "$1 $2 $3" ] ||
		{ cat "$tmp/out" >&2; fail "counts $got, wanted $1 $2 $3"; }
	[ "$(report processed)" = $(($1 + $2 + $3)) ] || fail "processed"
}

# check_manifest DUMP MANIFEST: the JSON Lines of blt dump hold exactly the
# items of the manifest (keys, text keys, values or their sha256 from 4096
# bytes on, timestamps).
check_manifest()
{
	py "$1" "$2" <<'EOF'
import hashlib, json, sys
dump, manifest = sys.argv[1:3]
with open(manifest, encoding="utf-8") as f:
    m = json.load(f)
want = {i["key_hex"]: i for i in m["items"]}
got = {}
with open(dump, encoding="utf-8") as f:
    for n, line in enumerate(f, 1):
        d = json.loads(line)
        if sorted(d) != ["key", "key_hex", "timestamp", "value_hex"]:
            sys.exit("%s:%d: fields %s" % (dump, n, sorted(d)))
        if d["key_hex"] in got:
            sys.exit("%s:%d: key %s twice" % (dump, n, d["key_hex"]))
        got[d["key_hex"]] = d
errs = []
for k in sorted(set(want) - set(got)):
    errs.append("missing key %s" % k)
for k in sorted(set(got) - set(want)):
    errs.append("extra key %s" % k)
for k in sorted(set(want) & set(got)):
    w, g = want[k], got[k]
    if g["key"] != w["key_text"]:
        errs.append("key %s: text %r, wanted %r" % (k, g["key"], w["key_text"]))
    v = bytes.fromhex(g["value_hex"])
    if len(v) != w["value_len"]:
        errs.append("key %s: %d value bytes, wanted %d" % (k, len(v), w["value_len"]))
    elif w["value_hex"] is not None and g["value_hex"] != w["value_hex"]:
        errs.append("key %s: value differs" % k)
    elif hashlib.sha256(v).hexdigest() != w["value_sha256"]:
        errs.append("key %s: value sha256 differs" % k)
    if g["timestamp"] != w["timestamp_us"]:
        errs.append("key %s: timestamp %r, wanted %r" % (k, g["timestamp"], w["timestamp_us"]))
if len(got) != m["n_keys"]:
    errs.append("%d items, manifest says %d" % (len(got), m["n_keys"]))
if errs:
    sys.exit("%s vs %s:\n  %s" % (dump, manifest, "\n  ".join(errs[:20])))
EOF
}

# same_items DUMP1 DUMP2: two dumps hold the same items, order aside.
same_items()
{
	sort "$1" >"$tmp/sorted1"
	sort "$2" >"$tmp/sorted2"
	cmp -s "$tmp/sorted1" "$tmp/sorted2" || fail "$1 and $2 differ"
}

# create_like STORE: the creation options that make a store like STORE.
create_like()
{
	"$BLT" stat "$1" >"$tmp/like.json"
	py "$tmp/like.json" <<'EOF'
import json, sys
with open(sys.argv[1]) as f:
    st = json.load(f)
opts = ["--key-serializer", str(st["key_serializer_code"])]
if st["kind"] == "fixed":
    opts += ["--fixed", str(st["value_len"])]
else:
    opts += ["--value-serializer", str(st["value_serializer_code"])]
    if not st["timestamps"]:
        opts.append("--no-timestamps")
print(" ".join(opts))
EOF
}
