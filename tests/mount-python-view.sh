#!/bin/sh
# Nothing a mount writes breaks a Python reader (issue 60): random file
# operations (mkdir, rmdir, writes, truncates, cp -r, mv, rm, emptied
# directories) through a -o decode mount of a store of each serializer the
# reference writes without pandas or shapely, then the reference reads the
# store whole, and finds exactly the mount's files and a marker for each
# empty directory, each value what the mount showed
# (tests/mount-python-view.py).  SEED repeats a run; OPS sizes it.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need_reference

OPS=${OPS:-150}
SEED=${SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
echo "SEED=$SEED"
drive=$top_srcdir/tests/mount-python-view.py
m=$tmp/m
n=0
for ser in pickle json orjson msgpack pickle_zstd orjson_zstd msgpack_zstd \
    str None bytes uint1 int2 uint4 int8 zstd numpy_int1 numpy_int4 \
    numpy_int8_zstd; do
	s=$tmp/$ser.blt
	"$PY" "$drive" create "$s" "$ser" || fail "$ser: the reference made no store"
	bltfs_mount "$s" "$m" -o decode
	python3 "$drive" ops "$m" "$ser" $((SEED + n)) "$OPS" ||
		fail "$ser: a file operation failed (SEED=$SEED)"
	python3 "$drive" view "$m" "$ser" "$tmp/view" ||
		fail "$ser: the mount's view could not be read"
	bltfs_umount "$m"
	"$PY" "$drive" check "$s" "$ser" "$tmp/view" ||
		fail "$ser: the reference does not read the mount's view (SEED=$SEED)"
	n=$((n + 1))
done

# A mount without -o decode stores bytes as they are, but refuses at close
# what the serializer would not read back, naming the file; nothing is
# stored, and the reference reads the store whole.  (cp says what its
# close(2) gave; a shell's redirection does not.)
for ser in str pickle msgpack_zstd numpy_int4; do
	s=$tmp/raw-$ser.blt
	"$PY" "$drive" create "$s" "$ser" || fail "$ser: the reference made no store"
	bltfs_mount "$s" "$m"
	mkdir "$m/d"
	printf '\377\376junk' >"$tmp/bad"
	run_status cp "$tmp/bad" "$m/d/bad"
	[ "$got" != 0 ] || fail "$ser: bytes its reader refuses were taken"
	grep -q "Invalid argument" "$tmp/err" || fail "$ser: the write said: $(cat "$tmp/err")"
	grep -q "bltfs: d/bad: value not stored, as $ser would not read it back: " \
	    "$tmp/log.$pid" || fail "$ser: the log says: $(cat "$tmp/log.$pid")"
	"$PY" - "$ser" "$m/d/good" <<'PY' || fail "$ser: a good value was refused"
import sys, booklet.serializers as s
v = {'str': 'ok', 'pickle': {'ok': 1}, 'msgpack_zstd': [1, 2],
     'numpy_int4': __import__('numpy').arange(3, dtype='i4')}[sys.argv[1]]
open(sys.argv[2], 'wb').write(s.serial_dict[sys.argv[1]].dumps(v))
PY
	bltfs_umount "$m"
	"$PY" - "$s" <<'PY' || fail "$ser: the reference cannot read the store"
import booklet, sys
with booklet.open(sys.argv[1], 'r') as db:
    d = dict(db.items())
    assert list(d) == ['d/good'], list(d)
PY
done
echo "mount-python-view: ok"
