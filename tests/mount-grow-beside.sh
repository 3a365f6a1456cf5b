#!/bin/sh
# A Python writer that grows the store past its buckets, beside readers
# that take no lock: its reindex appends a new index and rewires every
# chain before the header says where the new index is, and meanwhile a
# walk of the old index can pass from one chain to another and miss a
# live key.  Ten thousand keys that no one touches must all stay there
# through it, through a read-write and a -o ro mount: every stat and read
# of one, in three threads, finds its whole value (the old build answered
# ENOENT to 20 to 40 of about 11,000 stats a run; issue 66).
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need_reference

s=$tmp/s.blt
# 10,000 keys of 100 bytes, made by blt: the index at byte 200, 12,007
# buckets, which the writer's 20,000 keys outgrow
awk 'BEGIN { v = sprintf("%0200d", 0); for (i = 0; i < 10000; i++)
	printf "{\"key\": \"d%03d/k%05d\", \"value_hex\": \"%s\"}\n", i % 100, i, v }' |
	"$BLT" load --create --key-serializer str --value-serializer bytes "$s" \
	    >/dev/null || fail "blt load"
bltfs_mount "$s" "$tmp/rw"
bltfs_mount "$s" "$tmp/ro" -o ro

python3 - "$tmp/rw" "$tmp/ro" "$tmp/started" "$tmp/stop" >"$tmp/readers" <<'PY' &
import os, random, sys, threading
rw, ro, started, stop = sys.argv[1:]
bad, reads = [], [0, 0, 0]
def run(t):
    rng = random.Random(t)
    m = (rw, ro, rw)[t]
    while not os.path.exists(stop):
        i = rng.randrange(10000)
        p = f'{m}/d{i % 100:03d}/k{i:05d}'
        try:
            if os.stat(p).st_size != 100:
                bad.append(f'{p}: stat says {os.stat(p).st_size} bytes')
            with open(p, 'rb') as f:
                if f.read() != bytes(100):
                    bad.append(f'{p}: not the value it holds')
        except OSError as e:
            bad.append(f'{p}: {e.strerror}')
        reads[t] += 1
        if sum(reads) == 300:
            open(started, 'w').close()
threads = [threading.Thread(target=run, args=(t,)) for t in range(3)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(sum(reads), 'reads,', len(bad), 'bad')
for b in bad[:10]:
    print(b)
sys.exit(1 if bad else 0)
PY
readers=$!
poll "the readers did not start" test -e "$tmp/started"
# twice: 20,000 keys outgrow 12,007 buckets at the first close, 40,000
# the next bucket count at the second
for round in 1 2; do
	"$PY" - "$s" "$round" <<'PY' || fail "the writer failed (above)"
import booklet, sys
with booklet.open(sys.argv[1], 'w') as db:
    for i in range(20000):
        db[f'w{sys.argv[2]}/k{i:05d}'] = b'w' * 100
PY
done
touch "$tmp/stop"
wait "$readers" || fail "live keys went missing beside the writer: $(cat "$tmp/readers")"
cat "$tmp/readers"
bltfs_umount "$tmp/ro"
bltfs_umount "$tmp/rw"
"$PY" - "$s" <<'PY' || fail "the reference cannot read the store whole"
import booklet, sys
with booklet.open(sys.argv[1], 'r') as db:
    assert len(dict(db.items())) == 50000
PY
echo "mount-grow-beside: ok"
