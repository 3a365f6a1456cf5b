#!/bin/sh
# blt map --worker (issue 32): the worker protocol of doc/map.md with the
# C example worker (doc/examples/map_worker.c) and the Python worker
# (src/map/bltfs_worker.py) on pickle and json stores the reference
# booklet made; skips, errors with their messages, new keys, --to and
# --out; a worker that crashes mid-item and one that hangs (--item-timeout):
# their item fails, the others are written once; a map killed with SIGTERM
# takes its workers along; --decode with --exec and --worker.
. "${top_srcdir:-$(dirname "$0")/..}/tests/blt-lib.sh"

CW=$top_builddir/doc/examples/map_worker
[ -x "$CW" ] || { echo "not built: $CW" >&2; exit 99; }
need_reference
REFPY=$PY
WPY=/usr/bin/python3
[ -x "$WPY" ] || WPY=$(command -v python3)
PYTHONPATH=$top_srcdir/src/map${PYTHONPATH:+:$PYTHONPATH}
export PYTHONPATH
# no __pycache__ in the source tree
PYTHONDONTWRITEBYTECODE=1
export PYTHONDONTWRITEBYTECODE

# ref SCRIPT ARGS: run a check with the reference booklet.
ref()
{
	"$REFPY" - "$@"
}

# --- the C worker -----------------------------------------------------------
s=$tmp/s.blt
py >"$tmp/items.jsonl" <<'EOF'
import json
for i in range(2000):
    print(json.dumps({"key": "k%d" % i, "value": "value %d\n" % i if i % 100 else ""}))
EOF
"$BLT" load -c "$s" "$tmp/items.jsonl"
expect 0 "$BLT" map "$s" --worker "$CW" --workers 2
counts 1980 20 0
[ "$(report restarts)" = 0 ] || fail "restarts"
# the workers' start is timed, and is part of the map's time
py "$tmp/out" <<'EOF' || fail "start_seconds: $(cat "$tmp/out")"
import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(not 0 < r["start_seconds"] <= r["seconds"])
EOF
[ "$("$BLT" get "$s" k7)" = "VALUE 7" ] || fail "k7"
expect 0 "$BLT" check "$s"

# --to and --out: under new keys, into a second store
expect 0 "$BLT" map "$s" --worker "$CW -i" --to 'copy/{key}' --prefix k1
counts 1111 0 0
[ "$("$BLT" get "$s" copy/k12)" = "VALUE 12" ] || fail "copy/k12"
expect 0 "$BLT" map "$s" --worker "$CW" --out "$tmp/o.blt" --prefix copy/
counts 1100 11 0
[ "$("$BLT" get "$tmp/o.blt" copy/k12)" = "VALUE 12" ] || fail "o copy/k12"

# Not a worker: the map fails at the start and says why.
expect 2 "$BLT" map "$s" --worker cat
err_has "without the protocol's hello"
expect 2 "$BLT" map "$s" --worker 'echo oops >&2; exit 3'
err_has "exited with status 3: oops"

# --- the Python worker, on stores of the reference --------------------------
ref "$tmp/p.blt" "$tmp/j.blt" <<'EOF'
import sys, booklet
with booklet.open(sys.argv[1], "n", key_serializer="str", value_serializer="pickle") as db:
    for i in range(1000):
        db["k%d" % i] = {"n": i, "tags": ("a", i)}
with booklet.open(sys.argv[2], "n", key_serializer="str", value_serializer="json") as db:
    for i in range(1000):
        db["k%d" % i] = {"n": i, "s": "x" * 10}
EOF
cat >"$tmp/w.py" <<'EOF'
from bltfs_worker import serve

def f(key, value):
    n = value["n"]
    if n % 10 == 0:
        return None                      # skipped
    if n % 10 == 1:
        raise ValueError("no %s" % key)  # this item fails
    if n % 10 == 2:
        return key + ".new", value       # a new key
    value["n"] = n * 2
    return value                         # the same key

serve(f)
EOF
for st in p j; do
	expect 1 "$BLT" map "$tmp/$st.blt" --worker "$WPY $tmp/w.py" --workers 2
	counts 800 100 100
	grep -q '"error": "ValueError: no k1[0-9]*1"' "$tmp/out" ||
		grep -q '"error": "ValueError: no k[0-9]*1"' "$tmp/out" ||
		fail "no error message: $(cat "$tmp/out")"
	expect 0 "$BLT" check "$tmp/$st.blt"
	ref "$tmp/$st.blt" "$st" <<'EOF'
import sys, booklet
with booklet.open(sys.argv[1]) as db:
    assert len(db) == 1100, len(db)
    for i in range(1000):
        v = db["k%d" % i]
        want = i if i % 10 in (0, 1, 2) else 2 * i
        assert v["n"] == want, (i, v)
        if sys.argv[2] == "p":
            assert v["tags"] == ("a", i), v
    assert db["k12.new"]["n"] == 12
EOF
done

# Pickles are read as data: one that would import anything but the
# constructors of data (a Fraction of the reference, or a hostile one
# written as raw bytes, which would run a command) fails its item with the
# name, and nothing runs; the plain ones of every protocol are mapped, and
# so are Python's everyday types (a datetime.date).  trust_pickles=True
# unpickles as Python does: the Fraction is mapped then.
ref "$tmp/pk.blt" <<'EOF'
import sys, booklet, datetime, fractions, pickle
with booklet.open(sys.argv[1], "n", key_serializer="str", value_serializer="pickle") as db:
    for p in range(6):
        db["plain%d" % p] = {"n": p, "s": {1, 2}, "b": b"x", "a": bytearray(b"y"), "t": (p,)}
    db["date"] = datetime.date(2020, 1, 2)
    db["fraction"] = fractions.Fraction(1, 3)
EOF
for p in 0 1 2 3 4 5; do
	# booklet pickles with protocol 5: the older ones are put as raw bytes
	"$REFPY" -c 'import pickle, sys
sys.stdout.buffer.write(pickle.dumps({"n": '$p', "s": {1, 2}, "b": b"x",
    "a": bytearray(b"y"), "t": ('$p',)}, '$p'))' >"$tmp/pk$p"
	"$BLT" put "$tmp/pk.blt" "plain$p" <"$tmp/pk$p"
done
printf "cos\nsystem\n(S'touch %s'\ntR." "$tmp/ran" >"$tmp/evil"
"$BLT" put "$tmp/pk.blt" evil <"$tmp/evil"
cat >"$tmp/pk.py" <<'EOF'
import sys
from bltfs_worker import serve

def f(key, value):
    if key == "date":
        return value.replace(year=2021)
    if key == "fraction":
        return value * 3
    assert value["s"] == {1, 2} and value["b"] == b"x", value
    assert value["a"] == bytearray(b"y") and value["t"] == (value["n"],), value
    value["n"] += 10
    return value

if len(sys.argv) > 1:
    serve(f, trust_pickles=True)
else:
    serve(f)
EOF
expect 1 "$BLT" map "$tmp/pk.blt" --worker "$WPY $tmp/pk.py" --workers 2
[ ! -e "$tmp/ran" ] || fail "a pickle ran a command"
counts 7 0 2
grep -q 'pickle would import fractions.Fraction: refused' "$tmp/out" ||
	fail "the Fraction: $(cat "$tmp/out")"
grep -q 'pickle would import os.system: refused' "$tmp/out" ||
	fail "the hostile pickle: $(cat "$tmp/out")"
"$BLT" del "$tmp/pk.blt" evil
expect 0 "$BLT" map "$tmp/pk.blt" --worker "$WPY $tmp/pk.py trust" \
    --keys - <<'EOF'
fraction
EOF
counts 1 0 0
ref "$tmp/pk.blt" <<'EOF'
import sys, booklet, datetime
with booklet.open(sys.argv[1]) as db:
    assert db["date"] == datetime.date(2021, 1, 2), db["date"]
    assert db["fraction"] == 1, db["fraction"]
    for p in range(6):
        assert db["plain%d" % p]["n"] == p + 10, (p, db["plain%d" % p])
EOF

# The hostile pickles of tests/pytypes.py (constructors of data called
# with other arguments than CPython writes: a datetime of 9 bytes, a
# February 30, an object dtype, a _reconstruct of another class, a
# defaultdict whose factory is os.system ...) each fail their item in the
# worker with what they would import or call, and nothing runs.  Python
# itself reads four of them (a global never called, a named timezone, a
# fold, a pandas Timestamp of year 292277026596), which JSON cannot show
# but a worker can take.
ref "$tmp/hostile.blt" "$top_srcdir/tests" "$tmp/ran" <<'EOF'
import sys, booklet
sys.path.insert(0, sys.argv[2])
from pytypes import HOSTILE
with booklet.open(sys.argv[1], "n", key_serializer="str", value_serializer="pickle") as db:
    for i, (data, reason) in enumerate(HOSTILE):
        ok = reason in ("never called", "has a name", "fold=1",
                        "outside years 1 to 9999")
        db.set("%s%d" % ("ok" if ok else "bad", i), None)
EOF
cat >"$tmp/hostile.py" <<'EOF'
import json, re, sys
sys.path.insert(0, sys.argv[1])
from pytypes import HOSTILE
for line in sys.stdin:
    r = json.loads(line)
    data = HOSTILE[int(re.sub(r"[a-z]", "", r["key"]))][0]
    r["value_hex"] = data.replace(b"true", sys.argv[2].encode()).hex()
    print(json.dumps(r))
EOF
"$BLT" dump "$tmp/hostile.blt" |
    python3 "$tmp/hostile.py" "$top_srcdir/tests" "$tmp/ran" \
    >"$tmp/hostile.jsonl"
"$BLT" load "$tmp/hostile.blt" "$tmp/hostile.jsonl"
nall=$(grep -c . "$tmp/hostile.jsonl")
nbad=$(grep -c '"key": "bad' "$tmp/hostile.jsonl")
cat >"$tmp/id.py" <<'EOF'
from bltfs_worker import serve
serve(lambda key, value: value)
EOF
expect 1 "$BLT" map "$tmp/hostile.blt" --worker "$WPY $tmp/id.py"
[ ! -e "$tmp/ran" ] || fail "a hostile pickle ran a command"
# (the global never called leaves None: the identity skips it)
counts $((nall - nbad - 1)) 1 "$nbad"
py "$tmp/out" <<'EOF' || fail "hostile pickles in the worker: $(cat "$tmp/out")"
import json, sys
r = json.load(open(sys.argv[1]))
errs = {e["key"]: e["error"] for e in r["first_errors"]}
assert all(k.startswith("bad") for k in errs), errs
for k, m in errs.items():
    assert "refused" in m or "Error" in m or "Operation" in m, (k, m)
EOF

# A pd_zstd value is read by pandas through pyarrow, which before 14.0.1
# unpickled a file's extension types: such a pyarrow is refused (stand-ins
# of pandas and pyarrow here, which say which version they are).
mkdir -p "$tmp/fake/pyarrow" "$tmp/fake/pandas"
echo 'def read_feather(f): return {"read": f.read().decode()}' \
    >"$tmp/fake/pandas/__init__.py"
"$BLT" create --value-serializer pd_zstd "$tmp/pd.blt"
echo frame | "$BLT" put "$tmp/pd.blt" df
cat >"$tmp/pd.py" <<'EOF'
from bltfs_worker import serve
serve(lambda k, v: None if v == {"read": "frame\n"} else 1 / 0)
EOF
echo "__version__ = '13.0.0'" >"$tmp/fake/pyarrow/__init__.py"
PYTHONPATH=$tmp/fake:$PYTHONPATH expect 1 "$BLT" map "$tmp/pd.blt" \
    --worker "$WPY $tmp/pd.py"
counts 0 0 1
grep -q 'pyarrow 13.0.0 unpickles the extension types' "$tmp/out" ||
	fail "an old pyarrow: $(cat "$tmp/out")"
echo "__version__ = '14.0.1'" >"$tmp/fake/pyarrow/__init__.py"
PYTHONPATH=$tmp/fake:$PYTHONPATH expect 0 "$BLT" map "$tmp/pd.blt" \
    --worker "$WPY $tmp/pd.py"
counts 0 1 0

# A worker that crashes on one item: that item fails with why, the rest
# are done, each result stored once (into a store of its own, so that
# the count of keys shows it).
cat >"$tmp/crash.py" <<'EOF'
import os, sys
from bltfs_worker import serve

def f(key, value):
    if key == "k500":
        sys.stderr.write("dying on %s\n" % key)
        os._exit(3)
    return value

serve(f)
EOF
expect 1 "$BLT" map "$tmp/j.blt" --worker "$WPY $tmp/crash.py" --workers 2 \
    --prefix k --out "$tmp/c.blt"
counts 1099 0 1
grep -q 'exited with status 3: dying on k500' "$tmp/out" || fail "crash message: $(cat "$tmp/out")"
[ "$(report restarts)" -ge 1 ] || fail "no restart"
[ "$("$BLT" ls "$tmp/c.blt" | wc -l)" -eq 1099 ] || fail "c.blt count"
expect 1 "$BLT" get "$tmp/c.blt" k500

# A worker that hangs on one item: --item-timeout kills it.
cat >"$tmp/hang.py" <<'EOF'
import time
from bltfs_worker import serve

def f(key, value):
    if key == "k7":
        time.sleep(3600)
    return value

serve(f)
EOF
expect 1 "$BLT" map "$tmp/j.blt" --worker "$WPY $tmp/hang.py" --workers 2 \
    --item-timeout 1 --keys - <<'EOF'
k5
k6
k7
k8
EOF
counts 3 0 1
grep -q 'sent no reply for 1 s' "$tmp/out" || fail "hang message: $(cat "$tmp/out")"

# SIGTERM to blt map: its workers go too.
cat >"$tmp/slow.py" <<'EOF'
import os, sys, time
from bltfs_worker import serve

def f(key, value):
    with open(sys.argv[1] + "/%d.pid" % os.getpid(), "w") as fh:
        fh.write("%d" % os.getpid())
    time.sleep(3600)

serve(f)
EOF
mkdir "$tmp/pids"
"$BLT" map "$tmp/j.blt" --worker "$WPY $tmp/slow.py $tmp/pids" --workers 2 \
    >/dev/null 2>&1 &
mpid=$!
entries "$tmp/pids" 2
kill -TERM $mpid
wait $mpid || true
gone $(cat "$tmp/pids"/*.pid)

# --- --decode ------------------------------------------------------------
ref "$tmp/i.blt" <<'EOF'
import sys, booklet
with booklet.open(sys.argv[1], "n", key_serializer="str", value_serializer="uint4") as db:
    for i in range(50):
        db["k%d" % i] = i
EOF
expect 0 "$BLT" map "$tmp/i.blt" --decode --exec 'read n; echo $((n + 1))'
counts 50 0 0
expect 1 "$BLT" map "$tmp/i.blt" --decode --exec \
    'read n; if [ $n = 8 ]; then echo eight; else echo $((n * 10)); fi'
counts 49 0 1
grep -q 'does not encode as uint4' "$tmp/out" || fail "encode message: $(cat "$tmp/out")"
cat >"$tmp/dec.py" <<'EOF'
from bltfs_worker import serve
serve(lambda k, v: str(int(v) + 1000))
EOF
expect 0 "$BLT" map "$tmp/i.blt" --decode --worker "$WPY $tmp/dec.py"
ref "$tmp/i.blt" <<'EOF'
import sys, booklet
with booklet.open(sys.argv[1]) as db:
    for i in range(50):
        want = (i + 1) * 10 + 1000 if i != 7 else (i + 1) + 1000
        assert db["k%d" % i] == want, (i, db["k%d" % i], want)
EOF
exit 0
