#!/bin/sh
# -o autoprune: every fsync stores the whole value again, and the daemon
# prunes by itself once the dead bytes pass PCT percent of a store of at
# least autoprune_min bytes.  The prune is a job that status shows; the
# store shrinks, and every file reads back as written, before and after a
# remount.  autoprune=0 never prunes; bad values are refused.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

# rewrite DIR: 5 files of 16 KiB, each written again 40 times with an
# fsync each time (a program saving its state), into DIR and the model.
rewrite()
{
	python3 - "$1" "$tmp/model" <<'PY'
import os, random, sys
rng = random.Random(31)
for d in sys.argv[1:]:
    os.makedirs(d, exist_ok=True)
for round in range(40):
    for f in range(5):
        data = rng.randbytes(16384)
        for d in sys.argv[1:]:
            fd = os.open(os.path.join(d, "f%d" % f),
                         os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.write(fd, data)
            if d == sys.argv[1]:
                os.fsync(fd)
            os.close(fd)
PY
}
written=$((40 * 5 * 16384))

# status_field KEY...: a member of the status JSON, by path.
status_field()
{
	"$BLTFS" ctl "$m" status --json >"$tmp/status.json" ||
		fail "bltfs ctl status --json"
	python3 - "$tmp/status.json" "$@" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2:]:
    v = v[k]
print(json.dumps(v))
PY
}

store=$tmp/s.blt
m=$tmp/m
bltfs_mount "$store" "$m" -o autoprune=30,autoprune_min=64K
rewrite "$m/data"
started=$(status_field options autoprune started)
[ "$started" -ge 1 ] || fail "no prune started: $(cat "$tmp/status.json")"
# the last job is the last prune: follow it to its end (no sleep)
last=$(status_field last_job)
"$BLTFS" ctl "$m" job "$last" --wait >"$tmp/job.json" 2>"$tmp/err" ||
	fail "job $last: $(cat "$tmp/job.json")"
python3 - "$tmp/job.json" <<'PY' || fail "job $last: $(cat "$tmp/job.json")"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["kind"] == "prune" and j["state"] == "done", j
assert j["command"].startswith("prune (autoprune: "), j
PY
# the summary says so too
"$BLTFS" ctl "$m" status >"$tmp/summary" || fail "bltfs ctl status"
grep -q "^autoprune at 30% dead bytes, from 64.0 KiB; $started started" \
    "$tmp/summary" || fail "summary: $(cat "$tmp/summary")"
size=$(stat -c %s "$store")
[ "$size" -lt $((written / 3)) ] ||
	fail "the store holds $size bytes after $written written: not pruned"
same_tree "$tmp/model" "$m/data"
bltfs_umount "$m"
check_store "$store"
bltfs_mount "$store" "$m"
same_tree "$tmp/model" "$m/data"
bltfs_umount "$m"

# autoprune=0: never
rm -rf "$tmp/model"
store=$tmp/off.blt
bltfs_mount "$store" "$m" -o autoprune=0,autoprune_min=64K
rewrite "$m/data"
[ "$(status_field options autoprune)" = null ] ||
	fail "autoprune=0: $(cat "$tmp/status.json")"
[ "$(status_field last_job)" = 0 ] || fail "autoprune=0 started a job"
size=$(stat -c %s "$store")
[ "$size" -ge "$written" ] || fail "autoprune=0: only $size bytes"
"$BLTFS" ctl "$m" status >"$tmp/summary"
grep -q "^autoprune off" "$tmp/summary" || fail "summary: $(cat "$tmp/summary")"
same_tree "$tmp/model" "$m/data"
bltfs_umount "$m"

for o in autoprune=101 autoprune=-1 autoprune= autoprune_min=12x; do
	bltfs_mount_fails "$tmp/never.blt" "$m" -o "$o"
	grep -q -- "-o $o: expected" "$tmp/err" || fail "-o $o: $(cat "$tmp/err")"
	[ ! -e "$tmp/never.blt" ] || fail "-o $o made the store"
done
