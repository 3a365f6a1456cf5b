#!/bin/sh
# Jobs on a live mount: map over 10,000 values with a command and with a
# plugin, into the same store, into another store and under a key
# template; skips, errors and a crashing plugin; cancel; prune (with
# --older-than and --keep) and reindex while a reader and a writer use the
# mount.  After each step the mount must equal a model (a plain directory
# given the same changes), without a remount: the kernel's caches and the
# directory index follow every job.  Then the stores open in a fresh mount
# and pass blt check.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

PLUGIN=$top_builddir/tests/plugin_test.so
[ -f "$PLUGIN" ] || { echo "not built: $PLUGIN" >&2; exit 99; }
[ -x "$BLT" ] || { echo "not built: $BLT" >&2; exit 99; }

store=$tmp/s.blt
m=$tmp/m
model=$tmp/model

# The items: 10,000 under all/, and a few small sets.
python3 - "$tmp/items" "$model" <<'PY'
import json, os, sys
out, model = sys.argv[1], sys.argv[2]
items = {}
for i in range(10000):
    items["all/d%02d/k%04d" % (i // 100, i)] = "value %d of %s\n" % (i, "abc" * (i % 7))
for n in ("ok1", "ok2", "skip1", "skip2", "err1", "err2"):
    items["verdict/" + n] = "verdict %s\n" % n
for n in ("ok1", "ok2", "crash1", "ok3"):
    items["boom/" + n] = "boom %s\n" % n
for n in ("a1", "a2", "a3", "keep1"):
    items["old/" + n] = "old %s\n" % n
with open(out, "w") as f:
    for k, v in items.items():
        f.write(json.dumps({"key": k, "value": v}) + "\n")
        p = os.path.join(model, k)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as g:
            g.write(v)
PY
"$BLT" load -c "$store" "$tmp/items"

# ctl ARGS...: bltfs ctl on the mount; its exit status must be 0.
ctl()
{
	"$BLTFS" ctl "$m" "$@" >"$tmp/ctl.out" 2>"$tmp/ctl.err" ||
		fail "bltfs ctl $*: $(cat "$tmp/ctl.err" "$tmp/ctl.out")"
}

# ctl_status WANT ARGS...: bltfs ctl must exit with WANT.
ctl_status()
{
	want=$1
	shift
	set +e
	"$BLTFS" ctl "$m" "$@" >"$tmp/ctl.out" 2>"$tmp/ctl.err"
	rc=$?
	set -e
	[ "$rc" = "$want" ] ||
		fail "bltfs ctl $* exited $rc, not $want: $(cat "$tmp/ctl.err")"
}

# field NAME: a field of the job JSON in $tmp/ctl.out (stats included).
field()
{
	python3 -c 'import json,sys
j = json.load(open(sys.argv[1]))
print(j["stats"].get(sys.argv[2], j.get(sys.argv[2])))' "$tmp/ctl.out" "$1"
}

# model_map DIR PYEXPR: apply PYEXPR (of v, the value) to the model's
# files under DIR.
model_map()
{
	python3 - "$model/$1" "$2" <<'PY'
import os, sys
for root, _, files in os.walk(sys.argv[1]):
    for n in files:
        p = os.path.join(root, n)
        v = open(p).read()
        v = eval(sys.argv[2])
        open(p, "w").write(v)
PY
}

bltfs_mount "$store" "$m"
same_tree "$model" "$m"
cat "$m/all/d00/k0001" "$m/all/d99/k9999" >/dev/null # in the page cache

# 1. A command over 10,000 values, in place.
ctl map --exec 'tr a-z A-Z' all --wait --json
[ "$(field written)" = 10000 ] || fail "map all: $(cat "$tmp/ctl.out")"
[ "$(field total)" = 10000 ] || fail "map all: total $(field total)"
model_map all 'v.upper()'
same_tree "$model" "$m"

# 1b. A long-lived --worker (issue 32), the C example, over ssh's
# launcher syntax with a plain shell as the launcher.
ctl map --worker "$top_builddir/doc/examples/map_worker" \
    --launcher 'sh -c' --workers 2 all/d02 --wait --json
[ "$(field written)" = 100 ] || fail "map --worker: $(cat "$tmp/ctl.out")"
python3 -c 'import sys; sys.exit(float(sys.argv[1]) <= 0)' \
    "$(field start_seconds)" || fail "map --worker: no start_seconds"
same_tree "$model" "$m"

# Commands run in the directory bltfs ctl was run from (they ran in the
# daemon's), also one in the mount, and with --cwd in the one it names.
mkdir "$tmp/work" "$m/cwd" "$model/cwd"
printf '#!/bin/sh\ncat >/dev/null\npwd\n' >"$tmp/work/where.sh"
chmod +x "$tmp/work/where.sh"
for d in "$m" "$model"; do
	echo a >"$d/cwd/a"
	echo b >"$d/cwd/b"
done
(cd "$tmp/work" && "$BLTFS" ctl "$m" map --exec ./where.sh cwd/a --wait) \
    >"$tmp/ctl.out" 2>&1 || fail "map in a directory: $(cat "$tmp/ctl.out")"
[ "$(cat "$m/cwd/a")" = "$tmp/work" ] ||
	fail "map ran its command in $(cat "$m/cwd/a"), not $tmp/work"
(cd "$m/cwd" && "$BLTFS" ctl . map --exec 'cat b' a --wait) \
    >"$tmp/ctl.out" 2>&1 || fail "map in the mount: $(cat "$tmp/ctl.out")"
ctl map --cwd "$tmp/work" --exec 'cat; ls' cwd/b --wait
echo b >"$model/cwd/a"
printf 'b\nwhere.sh\n' >"$model/cwd/b"
same_tree "$model" "$m"
# A --cwd where commands cannot run is refused when the command is given,
# naming the directory and why, and no job starts (it used to start a job
# that failed); one in the mount is looked up there.
last_job() { status_get "$m" last_job; }
last=$(last_job)
for bad in "$tmp/nowhere:No such file or directory" \
    "$tmp/work/where.sh:Not a directory" \
    "$tmp/work/where.sh/x:Not a directory" \
    "$m/nowhere:No such file or directory" \
    "$m/cwd/a:Not a directory" "$m/cwd/a/x:Not a directory"; do
	dir=${bad%%:*}
	ctl_status 1 map --cwd "$dir" --exec cat cwd --wait
	[ "$(cat "$tmp/ctl.err")" = \
	    "bltfs ctl: map: --cwd $dir: cannot run commands there: ${bad#*:}" ] ||
		fail "map --cwd $dir: $(cat "$tmp/ctl.err")"
	[ ! -s "$tmp/ctl.out" ] || fail "map --cwd $dir: $(cat "$tmp/ctl.out")"
done
[ "$(last_job)" = "$last" ] || fail "a refused --cwd started a job"
# --cwd through a dot-dot into the mount is resolved (by the daemon)
(cd "$m/cwd" && "$BLTFS" ctl . map --cwd ../cwd --exec 'cat; pwd' a --wait) \
    >"$tmp/ctl.out" 2>&1 || fail "map --cwd ../cwd: $(cat "$tmp/ctl.out")"
printf 'b\n%s\n' "$m/cwd" >"$model/cwd/a"
same_tree "$model" "$m"

# A directory removed while the map runs: the workers stay in it, and the
# items that fail then say where they ran.  One worker takes the items in
# order; the first removes the directory.
mkdir "$tmp/gone" "$m/gone" "$model/gone"
echo data >"$tmp/gone/data"
for i in 1 2 3; do
	echo "$i" >"$m/gone/$i"
	echo "$i" >"$model/gone/$i"
done
printf 'gone/1\ngone/2\ngone/3\n' >"$tmp/gone.keys"
ctl_status 4 map --cwd "$tmp/gone" --workers 1 --keys "$tmp/gone.keys" \
    --exec "case \$BLT_KEY in gone/1) cat data; rm data; rmdir '$tmp/gone';; *) cat data;; esac" \
    --wait --json
[ "$(field written) $(field errors)" = "1 2" ] ||
	fail "map in a removed directory: $(cat "$tmp/ctl.out")"
for i in 2 3; do
	grep -q "^  gone/$i: exit status 1 (its working directory $tmp/gone is gone: No such file or directory)" \
	    "$tmp/ctl.err" ||
		fail "the failed item does not name its directory: $(cat "$tmp/ctl.err")"
done
echo data >"$model/gone/1"
same_tree "$model" "$m"
# A worker that dies once the directory is gone is replaced by one that
# runs in it too, as the first did: the job goes on (it used to fail
# whole, as the new worker could not enter the directory).  gone/1
# removes it, gone/2 kills its worker each time it runs.
mkdir "$tmp/gone2"
ctl_status 4 map --cwd "$tmp/gone2" --workers 1 --keys "$tmp/gone.keys" \
    --exec "case \$BLT_KEY in gone/1) rmdir '$tmp/gone2';; gone/2) kill -KILL \$PPID;; esac; cat" \
    --wait --json
[ "$(field written) $(field errors)" = "2 1" ] ||
	fail "a worker replaced in a removed directory: $(cat "$tmp/ctl.out")"
grep -q "^  gone/2: its worker was killed by signal 9" "$tmp/ctl.err" ||
	fail "the killed worker's item: $(cat "$tmp/ctl.err")"
same_tree "$model" "$m"

# 2. A plugin, into the same store under a key template: new names show
# up even where the kernel had been told there was nothing (d01: a
# lookup of the name before), and in listings the kernel keeps (d09: three
# listings, so that the kernel keeps the second and serves the third from
# it until it is told the directory changed).
test ! -e "$m/all/d01/k0100.rev" || fail "k0100.rev before the map"
for i in 1 2 3; do
	ls "$m/all/d09" >"$tmp/ls"
done
grep -q '\.rev$' "$tmp/ls" && fail "a .rev name before the map"
ctl map --plugin "$PLUGIN:plugin_reverse" --to '{key}.rev' all/d01 all/d09 \
    --wait --json
[ "$(field written)" = 200 ] || fail "map --to: $(cat "$tmp/ctl.out")"
python3 - "$model/all/d01" "$model/all/d09" <<'PY'
import os, sys
for d in sys.argv[1:]:
    for n in os.listdir(d):
        open(os.path.join(d, n + ".rev"), "w").write(open(os.path.join(d, n)).read()[::-1])
PY
test -e "$m/all/d01/k0100.rev" || fail "no k0100.rev after the map"
for d in d01 d09; do
	[ "$(ls "$m/all/$d" | grep -c '\.rev$')" = 100 ] ||
		fail "the listing of all/$d lacks the map's names"
done
same_tree "$model" "$m"

# A map whose paths select no file (an empty directory, an empty --keys
# file) does nothing; it used to map every key of the store.
mkdir "$m/empty" "$model/empty"
ctl map --exec 'echo CLOBBERED' empty --wait --json
[ "$(field written)" = 0 ] || fail "map of an empty directory wrote"
: >"$tmp/nokeys"
ctl map --exec 'echo CLOBBERED' --keys "$tmp/nokeys" --wait --json
[ "$(field written)" = 0 ] || fail "map of an empty key list wrote"
same_tree "$model" "$m"

# 3. Into another store, chosen by a list of paths.
(cd "$m" && ls all/d02/* | head -n 50) >"$tmp/keys"
ls "$m/all/d03" | sed 's|^|all/d03/|' | head -n 20 >>"$tmp/keys"
# lines are paths from the mount's root, or where it is mounted (as find
# under the mount point writes them)
sed "s|^all/d03/|$m/all/d03/|" "$tmp/keys" >"$tmp/keys.mixed"
grep -q "^$m/all/d03/" "$tmp/keys.mixed" || fail "no absolute lines"
ctl map --plugin "$PLUGIN:plugin_reverse" --keys "$tmp/keys.mixed" \
    --out "$tmp/out.blt" --workers 3 --wait --json
[ "$(field written)" = 70 ] || fail "map --out: $(cat "$tmp/ctl.out")"
[ "$(field workers)" = 3 ] || fail "map --workers: $(field workers)"
same_tree "$model" "$m" # unchanged
mkdir "$tmp/outmodel"
python3 - "$model" "$tmp/outmodel" "$tmp/keys" <<'PY'
import os, sys
model, out = sys.argv[1], sys.argv[2]
for k in open(sys.argv[3]).read().split():
    p = os.path.join(out, k)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    open(p, "w").write(open(os.path.join(model, k)).read()[::-1])
PY

# 4. Skips and errors: a plugin's verdicts, and a command's exit status.
ctl_status 4 map --plugin "$PLUGIN:plugin_verdict" verdict --wait --json
[ "$(field written) $(field skipped) $(field errors)" = "2 2 2" ] ||
	fail "verdicts: $(cat "$tmp/ctl.out")"
python3 - "$tmp/ctl.out" <<'PY' || fail "first_errors: $(cat "$tmp/ctl.out")"
import json, sys
j = json.load(open(sys.argv[1]))
e = j["first_errors"]
assert sorted(x["key"] for x in e) == ["verdict/err1", "verdict/err2"], e
assert all("refused by plugin_verdict" in x["message"] for x in e), e
assert j["state"] == "done" and j["error"] is None, j
PY
# --wait says which items failed, and why (it used to say nothing)
grep -q "^bltfs ctl: job [0-9]*: 2 of 6 items failed:$" "$tmp/ctl.err" &&
	grep -q "^  verdict/err1: .*refused by plugin_verdict" "$tmp/ctl.err" &&
	grep -q "^  verdict/err2: .*refused by plugin_verdict" "$tmp/ctl.err" ||
	fail "the failed items on stderr: $(cat "$tmp/ctl.err")"
ctl_status 4 map --exec \
    'case $BLT_KEY in *skip*) exit 125;; *err*) echo bad "$BLT_KEY" >&2; exit 3;; esac; tr a-z A-Z' \
    verdict --wait --json
[ "$(field written) $(field skipped) $(field errors)" = "2 2 2" ] ||
	fail "exec verdicts: $(cat "$tmp/ctl.out")"
grep -q 'bad verdict/err1' "$tmp/ctl.out" || fail "no stderr in the errors"
grep -q '^  verdict/err1: exit status 3: bad verdict/err1$' "$tmp/ctl.err" ||
	fail "the failed items on stderr: $(cat "$tmp/ctl.err")"
for n in ok1 ok2; do
	tr a-z A-Z <"$model/verdict/$n" >"$tmp/v" && mv "$tmp/v" "$model/verdict/$n"
done
same_tree "$model" "$m"

# 5. A plugin that crashes on one item: the rest is done.
ctl_status 4 map --plugin "$PLUGIN:plugin_crash" boom --workers 2 --wait \
    --json
[ "$(field written) $(field errors)" = "3 1" ] ||
	fail "crash: $(cat "$tmp/ctl.out")"
[ "$(field restarts)" -ge 1 ] || fail "crash: no restart"
for n in ok1 ok2 ok3; do
	tr a-z A-Z <"$model/boom/$n" >"$tmp/v" && mv "$tmp/v" "$model/boom/$n"
done
same_tree "$model" "$m"

# 5b. --item-timeout with --exec: the command that hangs is killed and its
# item fails; the others are done.
ctl_status 4 map --exec 'case $BLT_KEY in */k0607) exec sleep 3600;; esac
    tr a-z A-Z' --item-timeout 1 all/d06 --workers 2 --wait --json
[ "$(field written) $(field errors)" = "99 1" ] ||
	fail "item timeout: $(cat "$tmp/ctl.out")"
grep -q 'ran for more than 1 s' "$tmp/ctl.out" ||
	fail "item timeout: $(cat "$tmp/ctl.out")"
model_map all/d06 'v if p.endswith("/k0607") else v.upper()'
same_tree "$model" "$m"

# 6. Cancel a map whose commands take long; nothing changes.
ctl map --exec 'sleep 60; cat' --workers 2 all/d04
id=$(sed -n 's/^job \([0-9]*\) started$/\1/p' "$tmp/ctl.out")
[ -n "$id" ] || fail "no job id: $(cat "$tmp/ctl.out")"
ctl cancel "$id"
ctl_status 5 job "$id" --wait
python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["state"] == "cancelled"' \
    "$tmp/ctl.out" || fail "cancel: $(cat "$tmp/ctl.out")"
same_tree "$model" "$m"

# 6b. Cancel a map of long-lived --workers (issue 32): they go with it.
mkdir "$tmp/wpids"
cat >"$tmp/slow.py" <<'PY'
import os, sys, time
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, sys.argv[2])
from bltfs_worker import serve

def f(k, v):
    open(os.path.join(sys.argv[1], str(os.getpid())), "w").close()
    time.sleep(3600)

serve(f, raw=True)
PY
wpy=/usr/bin/python3
[ -x "$wpy" ] || wpy=$(command -v python3)
ctl map --worker "$wpy $tmp/slow.py $tmp/wpids $top_srcdir/src/map" \
    --workers 2 all/d04
id=$(sed -n 's/^job \([0-9]*\) started$/\1/p' "$tmp/ctl.out")
[ -n "$id" ] || fail "no job id: $(cat "$tmp/ctl.out")"
entries "$tmp/wpids" 2
ctl cancel "$id"
ctl_status 5 job "$id" --wait
gone $(ls "$tmp/wpids")
same_tree "$model" "$m"

# A cancel, and the daemon's exit, end what the commands left running too,
# not only the running commands: one worker takes verdict/ok1, whose
# command leaves a sleeper, then verdict/ok2, whose command waits on one.
printf 'verdict/ok1\nverdict/ok2\n' >"$tmp/pg.keys"
pg_map()
{
	: >"$tmp/pg.pids"
	ctl map --workers 1 --keys "$tmp/pg.keys" --exec \
	    "sleep 1000 >/dev/null 2>&1 & echo \$! >>'$tmp/pg.pids'
	     case \$BLT_KEY in */ok2) wait;; esac; cat"
	id=$(sed -n 's/^job \([0-9]*\) started$/\1/p' "$tmp/ctl.out")
	[ -n "$id" ] || fail "no job id: $(cat "$tmp/ctl.out")"
	lines "$tmp/pg.pids" 2
}
pg_map
ctl cancel "$id"
ctl_status 5 job "$id" --wait
gone $(cat "$tmp/pg.pids")
pg_map
bltfs_term "$m"
gone $(cat "$tmp/pg.pids")
bltfs_mount "$store" "$m"
same_tree "$model" "$m"

# 7. Prune and reindex while a reader and a writer use the mount.
touch -d '2001-02-03 04:05:06' "$m/old/a1" "$m/old/a2" "$m/old/a3" \
    "$m/old/keep1"
stat "$m/old/a1" >/dev/null # the kernel knows the name
mkdir "$m/w" "$model/w"
(
	while [ ! -e "$tmp/stop" ]; do
		for f in "$model"/all/d05/*; do
			cmp -s "$f" "$m/all/d05/${f##*/}" ||
				echo "read ${f##*/}" >>"$tmp/reader.fail"
		done
	done
) &
reader=$!
(
	for i in $(seq 1 300); do
		for d in "$m/w" "$model/w"; do
			echo "write $i" >"$d/f$i"
			[ $((i % 3)) != 0 ] || echo "again $i" >>"$d/f$((i - 1))"
			[ $((i % 5)) != 0 ] || rm "$d/f$((i - 2))"
		done
	done
	touch "$tmp/written"
) &
writer=$!
ctl prune --older-than 2010-01-01T00:00:00Z --keep old/keep1 --wait --json
[ "$(field keys_removed)" = 3 ] || fail "prune: $(cat "$tmp/ctl.out")"
rm "$model/old/a1" "$model/old/a2" "$model/old/a3"
touch -d '2001-02-03 04:05:06' "$model/old/keep1"
test ! -e "$m/old/a1" || fail "old/a1 is still there after the prune"
[ "$(ls "$m/old")" = keep1 ] || fail "old/: $(ls "$m/old")"
ctl reindex --buckets 200003 --wait
ctl prune --wait
# By default the index grows to the size booklet's own reindex stops at
# for the keys; 200003 buckets hold them, so it stays (it grew 12-fold
# with every run).
for i in 1 2; do
	ctl reindex --wait --json
	[ "$(field buckets_before) $(field buckets_after)" = "200003 200003" ] ||
		fail "reindex of an index that holds the keys: $(cat "$tmp/ctl.out")"
done
ctl sync --wait
wait "$writer" || fail "the writer failed"
touch "$tmp/stop"
wait "$reader" || fail "the reader failed"
[ ! -s "$tmp/reader.fail" ] || fail "reads went wrong: $(head "$tmp/reader.fail")"
same_tree "$model" "$m"
"$BLTFS" ctl "$m" status --json >"$tmp/status"
python3 - "$tmp/status" "$model" <<'PY' || fail "status: $(cat "$tmp/status")"
import json, os, sys
s = json.load(open(sys.argv[1]))
n = sum(len(f) for _, _, f in os.walk(sys.argv[2]))
# and a marker for each empty directory (doc/keys.md)
e = sum(1 for r, d, f in os.walk(sys.argv[2]) if r != sys.argv[2] and not d and not f)
assert s["buckets"] == 200003 and s["jobs"] == [], s
assert s["keys"] == n + e, (s["keys"], n, e)
PY

# Files that a prune --older-than evicts while they are read through
# descriptors opened before (O_DIRECT: every read asks the daemon, which
# reads them by key).  The store drops the keys before their names leave
# the index; in between, a read must not find the file empty: each read
# returns the whole value, or fails with ENOENT once the file is gone, as
# a lookup of its name then would (ESTALE before issue 66).  (A
# daemon whose reads did not wait for the names returned empty reads to
# 52 of 120 readers.)
python3 - "$m" "$BLTFS" <<'PY' || fail "a read of a file being evicted went wrong"
import errno, mmap, multiprocessing, os, subprocess, sys
m, bltfs = sys.argv[1], sys.argv[2]
d = os.path.join(m, "evict")
os.mkdir(d)
vals = [bytes([97 + i]) * (30000 + 4096 * i) for i in range(3)]
def reader(fd, v, done, bad):
    buf = mmap.mmap(-1, 1 << 20)
    while not done.is_set():
        buf[:len(v) + 4096] = b"-" * (len(v) + 4096) # what no read writes
        try:
            n = os.preadv(fd, [buf], 0)
        except OSError as e:
            if e.errno != errno.ENOENT:
                print("read: %s" % e, file=sys.stderr)
                with bad.get_lock(): bad.value += 1
            return
        if buf[:n] != v:
            k = min(n, len(v))
            at = next((i for i in range(k) if buf[i] != v[i]), k)
            print("read %d bytes of %d, wrong from byte %d: %r" %
                  (n, len(v), at, buf[at:at + 16]), file=sys.stderr)
            with bad.get_lock(): bad.value += 1
            return
if __name__ == "__main__":
    ctx = multiprocessing.get_context("fork")
    bad = ctx.Value("i", 0)
    for r in range(20):
        paths = [os.path.join(d, "f%d" % i) for i in range(3)]
        for p, v in zip(paths, vals):
            with open(p, "wb") as f:
                f.write(v)
            os.utime(p, (978307200, 978307200)) # 2001
        fds = [os.open(p, os.O_RDONLY | os.O_DIRECT) for p in paths]
        done = ctx.Event()
        rs = [ctx.Process(target=reader, args=(fd, v, done, bad))
              for fd, v in zip(fds, vals)]
        for x in rs:
            x.start()
        subprocess.run([bltfs, "ctl", m, "prune", "--older-than",
                        "2010-01-01T00:00:00Z", "--keep", "old/keep1",
                        "--wait"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        done.set()
        for x in rs:
            x.join()
        for fd in fds:
            os.close(fd)
        if os.listdir(d):
            sys.exit("not evicted: %s" % os.listdir(d))
    if bad.value:
        print("bad reads: %d" % bad.value, file=sys.stderr)
    sys.exit(1 if bad.value else 0)
PY
rmdir "$m/evict"

# A --keys file and a --cwd in the mount itself, also reached through a
# link from outside, under one thread that serves the mount: the daemon
# reads them from the store, since reading them through the mount would
# wait for that thread, which is busy with the command (bltfs ctl then
# hangs, and not even SIGKILL ends it).
bltfs_umount "$m"
bltfs_mount "$store" "$m" -o max_threads=1
mkdir "$m/listed" "$model/listed"
for i in a1 a2; do
	echo "listed $i" >"$m/listed/$i"
done
printf 'listed/a1\nlisted/a2\n' >"$m/listed.keys"
ln -s "$m/listed.keys" "$tmp/listed.keys.link"
ln -s "$m/cwd" "$tmp/cwd.link"
for keys in "$m/listed.keys" "$tmp/listed.keys.link"; do
	"$BLTFS" ctl "$m" map --keys "$keys" \
	    --cwd "$tmp/cwd.link" --exec 'cat b >/dev/null && echo in-cwd && cat' \
	    --wait --json >"$tmp/ctl.out" 2>"$tmp/ctl.err" ||
		fail "map --keys $keys: $(cat "$tmp/ctl.err")"
	[ "$(field written)" = 2 ] ||
		fail "map --keys $keys: $(cat "$tmp/ctl.out")"
done
# The same written to the ctl file, where no bltfs ctl resolves the links
# (here a relative link to a link, and a dot-dot): the daemon resolves
# them, and takes the names of its own mount from its index.
ln -s listed.keys.link "$tmp/listed.keys.link2"
mkdir "$tmp/sub"
exec 3<>"$m/.bltfs/ctl"
printf "map --keys %s --cwd %s --exec 'cat b >/dev/null && echo in-cwd && cat'\n" \
    "$tmp/listed.keys.link2" "$tmp/sub/../cwd.link" >&3
id=$(sed -n 's/^job \([0-9]*\) started$/\1/p' <&3)
exec 3<&-
[ -n "$id" ] || fail "map written to the ctl file started no job"
ctl job "$id" --wait --json
[ "$(field written)" = 2 ] ||
	fail "map written to the ctl file: $(cat "$tmp/ctl.out")"
for i in a1 a2; do
	printf 'in-cwd\nin-cwd\nin-cwd\nlisted %s\n' "$i" |
		cmp -s - "$m/listed/$i" ||
		fail "listed/$i after map --keys: $(cat "$m/listed/$i")"
	printf 'in-cwd\nin-cwd\nin-cwd\nlisted %s\n' "$i" >"$model/listed/$i"
done
# A list of keys is one of the mount's files.
for bad in "$m/cwd:a directory, not a file" \
    "$m/nothing:No such file or directory" "$m/.bltfs/status:a file of the control directory"; do
	ctl_status 1 map --keys "${bad%%:*}" --exec cat --wait
	[ "$(cat "$tmp/ctl.err")" = \
	    "bltfs ctl: map: --keys ${bad%%:*}: ${bad#*:}" ] ||
		fail "map --keys ${bad%%:*}: $(cat "$tmp/ctl.err")"
done
# The same through bind mounts of the mount and of a directory of it,
# which reach the daemon under other names (it looked those up through the
# kernel, and hung): it knows them from its table of mounts and takes
# their names from its index, --out's too.  Another file system mounted
# inside a bind mount is not the mount's.  mount --bind needs root.
if [ "$(id -u)" = 0 ]; then
	mkdir "$m/bound" "$model/bound" "$m/nested" "$model/nested" \
	    "$tmp/plain"
	for d in "$m" "$model"; do
		echo bound >"$d/bound/f"
		printf 'listed/a1\nlisted/a2\n' >"$d/bound/keys"
	done
	printf 'listed/a1\n' >"$tmp/plain/keys"
	bind_mount "$m" "$tmp/bind"
	bind_mount "$m/bound" "$tmp/bind.sub"
	bind_mount "$tmp/plain" "$tmp/bind/nested"
	cmd='cat f >/dev/null && echo in-bound && cat'
	# WRITTEN KEYS CWD
	for args in "2 $tmp/bind/listed.keys $tmp/bind.sub" \
	    "2 $tmp/bind.sub/keys $tmp/bind/bound" \
	    "2 $tmp/bind.sub/../bind/bound/keys $tmp/bind/cwd/../bound" \
	    "1 $tmp/bind/nested/keys $tmp/bind.sub"; do
		set -- $args
		"$BLTFS" ctl "$m" map --keys "$2" --cwd "$3" --exec "$cmd" \
		    --wait --json >"$tmp/ctl.out" 2>"$tmp/ctl.err" ||
			fail "map --keys $2: $(cat "$tmp/ctl.err")"
		[ "$(field written)" = "$1" ] ||
			fail "map --keys $2: $(cat "$tmp/ctl.out")"
	done
	for i in a1 a2; do
		n=3
		[ "$i" = a2 ] || n=4 # also in the keys of the other file system
		{
			yes in-bound | head -n "$n"
			cat "$model/listed/$i"
		} >"$tmp/want"
		cmp -s "$tmp/want" "$m/listed/$i" ||
			fail "listed/$i after map through bind mounts: $(cat "$m/listed/$i")"
		mv "$tmp/want" "$model/listed/$i"
	done
	ctl map --keys "$tmp/bind.sub/keys" --exec cat \
	    --out "$tmp/bind/bound/out.blt" --wait --json
	[ "$(field written)" = 2 ] || fail "map --out: $(cat "$tmp/ctl.out")"
	for i in a1 a2; do
		"$BLT" get "$m/bound/out.blt" "listed/$i" |
			cmp -s - "$m/listed/$i" ||
			fail "listed/$i in the --out store through a bind mount"
	done
	rm "$m/bound/out.blt"
	# bltfs ctl in a bind mount of a directory: the paths it gives are
	# that directory's, not the root's (there is no f in the root)
	(cd "$tmp/bind.sub" && "$BLTFS" ctl . map --exec 'echo via-sub; cat' \
	    --wait --json f) >"$tmp/ctl.out" 2>"$tmp/ctl.err" ||
		fail "map f in the bind mount of bound: $(cat "$tmp/ctl.err")"
	printf 'via-sub\nbound\n' >"$model/bound/f"
	[ "$(field written)" = 1 ] && cmp -s "$model/bound/f" "$m/bound/f" ||
		fail "map f in the bind mount of bound: $(cat "$tmp/ctl.out")"
	for bad in "--keys $tmp/bind/cwd:a directory, not a file" \
	    "--keys $tmp/bind.sub/nothing:No such file or directory" \
	    "--keys $tmp/bind/.bltfs/status:a file of the control directory" \
	    "--cwd $tmp/bind.sub/f:cannot run commands there: Not a directory"; do
		opt=${bad%%:*}
		ctl_status 1 map ${opt% *} "${opt#* }" --exec cat --wait
		[ "$(cat "$tmp/ctl.err")" = \
		    "bltfs ctl: map: $opt: ${bad#*:}" ] ||
			fail "map $opt: $(cat "$tmp/ctl.err")"
	done
	bind_umount "$tmp/bind/nested"
	bind_umount "$tmp/bind.sub"
	bind_umount "$tmp/bind"
else
	echo "not root: map through bind mounts is not tested" >&2
fi
rm "$m/listed.keys"
same_tree "$model" "$m"

bltfs_umount "$m"
check_store "$store"
check_store "$tmp/out.blt"

# A name in the way of a prune's new file, planted after the mount (a
# symbolic link to another file), is not written through: the prune used
# to write the store into the link's target and rename the link over the
# store.  The store keeps its owner's mode too.
chmod 640 "$store"
bltfs_mount "$store" "$m"
echo "precious" >"$tmp/victim"
ln -s "$tmp/victim" "$store.bltfs-tmp"
ctl prune --wait
[ "$(cat "$tmp/victim")" = precious ] || fail "a prune wrote through a link"
[ -f "$store" ] && [ ! -L "$store" ] || fail "a prune put a link in place"
[ "$(stat -c %a "$store")" = 640 ] || fail "a prune changed the mode"
# The file from before the prune is let go of when the prune ends, not at
# the next read of the mount: its space comes back at once.
old_file="$(realpath "$store") (deleted)"
for fd in /proc/"$pid"/fd/*; do
	[ "$(readlink "$fd")" != "$old_file" ] ||
		fail "the daemon holds the store from before the prune ($fd)"
done
bltfs_umount "$m"
check_store "$store"

# A store mounted through a symbolic link: a prune replaces the file the
# link names, and the link stays a link to the store, holding the writes
# from before and after the prune.
ln -s "$store" "$tmp/store.link"
bltfs_mount "$tmp/store.link" "$m"
echo "before the prune" >"$m/linked1"
ctl prune --wait
echo "after the prune" >"$m/linked2"
bltfs_umount "$m"
[ -L "$tmp/store.link" ] || fail "a prune replaced the link to the store"
[ "$("$BLT" get "$store" linked1)" = "before the prune" ] &&
	[ "$("$BLT" get "$store" linked2)" = "after the prune" ] ||
	fail "a prune through a link left the store behind"
"$BLT" del "$store" linked1
"$BLT" del "$store" linked2
rm "$tmp/store.link"
check_store "$store"

# The results in fresh mounts.
bltfs_mount "$store" "$m" -o ro
same_tree "$model" "$m"
[ "$(stat -c %Y "$m/old/keep1")" = "$(stat -c %Y "$model/old/keep1")" ] ||
	fail "old/keep1 lost its timestamp"
bltfs_umount "$m"
bltfs_mount "$tmp/out.blt" "$m" -o ro
same_tree "$tmp/outmodel" "$m"
bltfs_umount "$m"

# A file's first stat reads the block where the mount's scan found its key,
# if that block still holds the key's value, and else asks the store's index
# (issue 39).  In a fresh mount, whose files are not looked up yet: a map
# that makes every value under all/d00 longer, then a prune that moves every
# block; the first stat of each file shows the model's size.
sizes() { (cd "$1" && find "$2" -type f -printf '%p %s\n' | sort); }
nodes()
{
	"$BLTFS" ctl "$m" status --json | python3 -c 'import json,sys
print(json.load(sys.stdin)["index"]["nodes"])'
}
bltfs_mount "$store" "$m"
nodes_before=$(nodes)
ctl map --exec 'sed "s/^/longer /"' all/d00 --wait
# The files the map stored stay entries of their directory: they were
# made nodes, kept to the unmount (2.7 GB after a map of 10M keys).
[ "$(nodes)" = "$nodes_before" ] ||
	fail "the map made nodes of its files: $nodes_before -> $(nodes)"
model_map all/d00 '"longer " + v'
# nor do the files a --keys list names, which the daemon reads itself
ls "$model/all/d05" | sed 's|^|all/d05/|' >"$tmp/keys05"
ctl map --exec 'sed "s/^/again /"' --keys "$tmp/keys05" --wait
[ "$(nodes)" = "$nodes_before" ] ||
	fail "a --keys list made nodes of its files: $nodes_before -> $(nodes)"
model_map all/d05 '"again " + v'
[ "$(sizes "$m" all/d00)" = "$(sizes "$model" all/d00)" ] ||
	fail "sizes after a map: $(sizes "$m" all/d00 | head -n 3)"
ctl prune --wait
[ "$(sizes "$m" .)" = "$(sizes "$model" .)" ] ||
	fail "sizes after a prune: $(sizes "$m" . | head -n 3)"
same_tree "$model" "$m"
bltfs_umount "$m"
check_store "$store"
# A --keys list of files with names that stand for other bytes, found
# without making them nodes (resolve_node_key()): the file of a key that
# is also a directory, "." and "..", a segment longer than a name cut in
# pieces, a key ending in '/', escapes.  Each gets its own value back.
tricky=$tmp/tricky.blt
python3 - "$tmp/tricky.lines" <<'PY'
import json, sys
keys = ["a", "a/x", ".", "..", "b/.", "c/ d", "caf\u00e9/cr\u00e8me",
        "L/" + "l" * 300, "L/" + "l" * 300 + "/in", "e/f\u201bg", "h/"]
with open(sys.argv[1], "w") as f:
    for k in keys:
        f.write(json.dumps({"key": k, "value": "v " + k}) + "\n")
PY
"$BLT" create "$tricky"
"$BLT" load "$tricky" "$tmp/tricky.lines"
bltfs_mount "$tricky" "$m"
(cd "$m" && find . -type f ! -path './.bltfs/*' | sed 's|^\./||') \
    >"$tmp/tricky.keys"
nodes_before=$(nodes)
ctl map --exec 'tr a-z A-Z' --keys "$tmp/tricky.keys" --wait --json
[ "$(field done)" = 11 ] || fail "tricky --keys: $(cat "$tmp/ctl.out")"
[ "$(nodes)" = "$nodes_before" ] ||
	fail "a --keys list of tricky names made nodes: $nodes_before -> $(nodes)"
bltfs_umount "$m"
"$BLT" dump "$tricky" | python3 -c 'import json, sys
for line in sys.stdin:
    d = json.loads(line)
    v = bytes.fromhex(d["value_hex"]).decode() if "value_hex" in d else d["value"]
    want = "".join(c.upper() if "a" <= c <= "z" else c for c in "v " + d["key"])
    assert v == want, (d["key"], v)' || fail "tricky --keys mapped the wrong values"
check_store "$tricky"

echo "mount-jobs: ok"
