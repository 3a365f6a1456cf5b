#!/bin/sh
# Nothing waits silently on a mounted store (issue 31).  blt on a store a
# writable mount holds (-o exclusive: mount-beside.sh has the mounts that
# share their store) fails at once with exit status 3, naming the daemon,
# its pid and its mount point, and how to wait; --timeout inf waits until
# the mount lets go.  bltfs on a held store names its holder too, and a
# mount point that is already one is refused.  A read that meets damage
# logs the store, the key and the cause, on stderr (-f) and in the status
# file.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
[ -x "$BLT" ] || { echo "blt not built: $BLT" >&2; exit 99; }

store=$tmp/s.blt
m=$tmp/m
"$BLT" create "$store"
echo v | "$BLT" put "$store" k
bltfs_mount "$store" "$m" -o exclusive
dpid=$pid

# blt, on the mounted store: at once, status 3, the holder named
for cmd in ls dump check stat; do
	run_status "$BLT" "$cmd" "$store"
	[ "$got" = 3 ] || fail "blt $cmd on a mounted store: status $got"
	[ "$(cat "$tmp/err")" = "blt: $store: held by bltfs (pid $dpid, mounted on $m); wait with --timeout SECONDS" ] ||
		fail "blt $cmd on a mounted store said: $(cat "$tmp/err")"
done
run_status "$BLT" put --timeout 0.05 "$store" k2 </dev/null
[ "$got" = 3 ] || fail "blt put --timeout 0.05: status $got"
grep -qx "blt: $store: held by bltfs (pid $dpid, mounted on $m) past the lock timeout (exclusive lock not granted within 0.05 s)" "$tmp/err" ||
	fail "blt put --timeout 0.05 said: $(cat "$tmp/err")"

# bltfs on the same store elsewhere: refused after its lock timeout, named
bltfs_mount_fails "$store" "$tmp/m2"
[ "$rc" = 3 ] || fail "bltfs on a held store: status $rc"
grep -qx "bltfs: $store: held by bltfs (pid $dpid, mounted on $m) past the lock timeout (exclusive lock not granted within 2 s)" "$tmp/err" ||
	fail "bltfs on a held store said: $(cat "$tmp/err")"

# another store on the mount point: refused before anything is opened
bltfs_mount_fails "$tmp/other.blt" "$m"
[ "$rc" = 1 ] || fail "bltfs on a mount point: status $rc"
grep -qx "bltfs: mount point $m: already a mount point (fuse.bltfs, $store); unmount it first" "$tmp/err" ||
	fail "bltfs on a mount point said: $(cat "$tmp/err")"
[ ! -e "$tmp/other.blt" ] || fail "bltfs on a mount point made its store"
[ "$(cat "$m/k")" = v ] || fail "the first mount does not read right"

# --timeout inf waits until the mount lets go.  blt says when it starts to
# wait; it must not inherit the FIFO, or its end would not be seen.
mkfifo "$tmp/said"
"$BLT" ls --timeout inf "$store" 2>"$tmp/said" >"$tmp/ls.out" &
lister=$!
exec 4<"$tmp/said"
read -r said <&4
[ "$said" = "blt: $store: held by bltfs (pid $dpid, mounted on $m); waiting until it lets go" ] ||
	fail "ls --timeout inf said: $said"
bltfs_umount "$m"
wait "$lister" || fail "ls --timeout inf after the unmount"
exec 4<&-
[ "$(cat "$tmp/ls.out")" = k ] || fail "ls --timeout inf listed $(cat "$tmp/ls.out")"

# A read through a bucket that points past the end of the file fails with
# EUCLEAN and logs the store, the key and the cause.
d=$tmp/d.blt
"$BLT" create --buckets 11 "$d"
echo hello | "$BLT" put "$d" dir/key
python3 - "$d" <<'PY' || fail "could not damage $d"
import sys
d = bytearray(open(sys.argv[1], "rb").read())
for i in range(int.from_bytes(d[21:25], "little")):
    at = 200 + 6 * i
    if int.from_bytes(d[at:at + 6], "little") > 1:
        d[at:at + 6] = (len(d) + 1000).to_bytes(6, "little")
        break
else:
    sys.exit(1)
open(sys.argv[1], "wb").write(d)
PY
bltfs_mount "$d" "$m"
run_status cat "$m/dir/key"
[ "$got" != 0 ] || fail "a read of a damaged chain succeeded"
grep -q "Structure needs cleaning" "$tmp/err" || fail "cat said: $(cat "$tmp/err")"
why="$d: key dir/key: damaged chain: pointer at [0-9]* leads to [0-9]*, outside the file of [0-9]* bytes"
grep -q "\"message\": \"$why\"" "$m/.bltfs/status" ||
	fail "no log line in status: $(cat "$m/.bltfs/status")"
line=$(grep " $m\$" "$daemons" | tail -n 1)
grep -qx "bltfs: $why" "$tmp/log.${line%% *}" ||
	fail "no log line on stderr: $(cat "$tmp/log.${line%% *}")"
bltfs_umount "$m"

# A block whose digest is not its key's, among 5,000 keys: the mount's scan,
# which reads the store on a thread of its own (fs/indexer/scan.c), meets it after
# several batches went into the index; the mount is refused, naming the
# store, the block and the cause, and nothing is left mounted.
g=$tmp/g.blt
awk 'BEGIN { for (i = 0; i < 5000; i++)
	printf "{\"key\":\"d%d/k%05d\",\"value\":\"v%d\"}\n", i % 7, i, i }' |
	"$BLT" load --create "$g" >/dev/null
at=$(python3 - "$g" 4000 <<'PY'
import struct, sys
d = bytearray(open(sys.argv[1], "rb").read())
n_buckets = int.from_bytes(d[21:25], "little")
p = 200 + 6 * n_buckets  # the data follow the index in a store blt made
for i in range(int(sys.argv[2])):  # step over blocks: 25 + 7 + KL + VL
    kl = int.from_bytes(d[p + 19:p + 21], "little")
    vl = int.from_bytes(d[p + 21:p + 25], "little")
    p += 32 + kl + vl
d[p] ^= 0xff  # the first byte of the digest of block 4000
open(sys.argv[1], "wb").write(d)
print(p)
PY
) || fail "could not damage $g"
bltfs_mount_fails "$g" "$m"
grep -qx "bltfs: $g: damaged block at $at: it does not hold its key's digest" "$tmp/err" ||
	fail "bltfs on a damaged block said: $(cat "$tmp/err")"
! mountpoint -q "$m" || fail "a damaged store was left mounted"

# With -o lazy the mount is up before its scan meets the damage: then every
# request that needs the index gets EIO, the log says why, and the daemon
# exits 1 once unmounted.  The store is as it was.
sum=$(cksum <"$g")
bltfs_mount "$g" "$m" -o lazy
run_status ls "$m/d1"
[ "$got" != 0 ] || fail "ls of a lazy mount whose scan failed succeeded"
grep -q "Input/output error" "$tmp/err" || fail "ls said: $(cat "$tmp/err")"
grep -qx "bltfs: $g: damaged block at $at: it does not hold its key's digest" \
    "$tmp/log.$pid" || fail "a lazy mount of a damaged block said: $(cat "$tmp/log.$pid")"
grep -q "the directory index could not be built" "$tmp/log.$pid" ||
	fail "a lazy mount did not say what became of it: $(cat "$tmp/log.$pid")"
lpid=$pid
fusermount3 -u "$m"
bltfs_reap "$lpid"
[ "$rc" = 1 ] || fail "bltfs -o lazy of a damaged store exited with $rc"
[ "$(cksum <"$g")" = "$sum" ] || fail "a lazy mount changed a damaged store"
echo "mount-held: ok"
