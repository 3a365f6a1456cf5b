#!/bin/sh
# blt prune, reindex and check on private copies of every fixture: the
# content stays the same (order aside), and age-based pruning drops exactly
# the old keys that are not kept.
. "${top_srcdir:-$(dirname "$0")/..}/tests/blt-lib.sh"

for f in $(fixtures); do
	s=$tmp/$f
	copy "$f" "$s"
	expect 0 "$BLT" check "$s"
	"$BLT" dump "$s" >"$tmp/before"

	"$BLT" prune "$s" >"$tmp/removed"
	grep -q "^$s: pruned [0-9][0-9]* dead blocks*, from .* to .*$" "$tmp/removed" || fail "prune $f printed $(cat "$tmp/removed")"
	"$BLT" dump "$s" >"$tmp/after"
	same_items "$tmp/before" "$tmp/after"
	expect 0 "$BLT" check "$s"

	# Every fixture has at most 144013 buckets.
	"$BLT" reindex --buckets 150001 "$s"
	"$BLT" dump "$s" >"$tmp/after"
	same_items "$tmp/before" "$tmp/after"
	"$BLT" stat "$s" | grep -q '"buckets": 150001,' ||
		fail "reindex --buckets 150001 on $f"
	# 150001 buckets hold every fixture's keys: nothing more to grow.
	"$BLT" reindex "$s"
	"$BLT" stat "$s" | grep -q '"buckets": 150001,' ||
		fail "reindex after --buckets 150001 on $f grew the index"
	"$BLT" dump "$s" >"$tmp/after"
	same_items "$tmp/before" "$tmp/after"
	expect 0 "$BLT" check "$s"
	rm -f "$s"
done

# blt prune of a store named by a symbolic link replaces the store, not
# the link.
s=$tmp/linked.blt
copy small_str_bytes.blt "$s"
ln -s linked.blt "$tmp/link.blt"
"$BLT" dump "$s" >"$tmp/before"
"$BLT" del "$tmp/link.blt" "$("$BLT" ls "$s" | head -n 1)"
"$BLT" prune "$tmp/link.blt" >/dev/null
[ -L "$tmp/link.blt" ] || fail "blt prune replaced the link"
"$BLT" dump "$s" >"$tmp/after"
[ "$(wc -l <"$tmp/after")" -eq $(($(wc -l <"$tmp/before") - 1)) ] ||
	fail "blt prune through a link left the store behind"
expect 0 "$BLT" check "$s"
rm -f "$s" "$tmp/link.blt"

# reindex without --buckets grows the index to the size the keys need, as
# the automatic reindex would, and not one size more on every run: an
# index that holds the keys is left as it is, and so is the file.
for f in small_str_bytes.blt reindexed.blt; do
	s=$tmp/fit-$f
	copy "$f" "$s"
	n=$("$BLT" stat "$s" | sed -n 's/^  "buckets": \([0-9]*\),$/\1/p')
	for run in 1 2; do
		"$BLT" reindex "$s"
		"$BLT" stat "$s" | grep -q "\"buckets\": $n," ||
			fail "reindex run $run of $f grew its $n buckets"
	done
	cmp -s "$s" "$FIXTURES_DIR/$f" ||
		fail "a reindex with nothing to grow changed $f"
done

# reindex --buckets has create's limit, and a refused one writes nothing.
s=$tmp/big.blt
copy small_str_bytes.blt "$s"
for n in 20736018 4294967295; do
	expect 2 "$BLT" reindex --buckets "$n" "$s"
	err_has "bad --buckets '$n': expected a number from 1 to 20736017"
	cmp -s "$s" "$FIXTURES_DIR/small_str_bytes.blt" ||
		fail "a refused reindex --buckets $n changed the store"
done

# --older-than drops older keys except --keep ones, using the manifest's
# timestamps as the reference.
s=$tmp/aged.blt
copy small_str_bytes.blt "$s"
cut=2023-01-01T00:00:00Z
cut_us=1672531200000000
"$BLT" prune --older-than "$cut" --keep times/epoch.txt --keep a/d "$s" \
    >/dev/null
"$BLT" dump "$s" >"$tmp/aged.jsonl"
py "$tmp/aged.jsonl" "$FIXTURES_DIR/small_str_bytes.json" "$cut_us" <<'EOF'
import json, sys
with open(sys.argv[1]) as f:
    got = sorted(json.loads(l)["key_hex"] for l in f)
with open(sys.argv[2]) as f:
    items = json.load(f)["items"]
cut = int(sys.argv[3])
keep = {b"times/epoch.txt".hex(), b"a/d".hex()}
want = sorted(i["key_hex"] for i in items
              if i["timestamp_us"] >= cut or i["key_hex"] in keep)
assert len(want) < len(items), "the cut drops nothing: a useless test"
assert got == want, (len(got), len(want))
EOF
# An age counts back from now, as the mount's prune takes it: of the
# fixture, 0 seconds ago keeps the item of the year 2200 alone.
copy small_str_bytes.blt "$s"
"$BLT" prune --older-than 0s --keep a/d "$s" >/dev/null
[ "$("$BLT" ls "$s" | tr '\n' ' ')" = "a/d times/year2200.txt " ] ||
	fail "prune --older-than 0s: $("$BLT" ls "$s")"
expect 2 "$BLT" prune --older-than 5y "$s"
err_has "bad time '5y'"
copy no_timestamps.blt "$tmp/nt.blt"
expect 2 "$BLT" prune --older-than 0 "$tmp/nt.blt"
err_has "timestamps"

# check --repair fixes a store whose index was wiped, and says so.
s=$tmp/wiped.blt
copy small_str_bytes.blt "$s"
"$BLT" dump "$s" >"$tmp/before"
py "$s" <<'EOF'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(200)
    f.write(b"\x01\x00\x00\x00\x00\x00" * 12007)
EOF
expect 1 "$BLT" check "$s"
err_has "$s"
expect 1 "$BLT" check --repair "$s"
expect 0 "$BLT" check "$s"
"$BLT" dump "$s" >"$tmp/after"
same_items "$tmp/before" "$tmp/after"

# check --repair mends a store cut short in its relocated index, or in the
# data before it (a copy that stopped): the blocks before the cut are kept,
# those after it are lost, and the store takes puts again.
for where in index data; do
	s=$tmp/cut-$where.blt
	copy reindexed.blt "$s"
	"$BLT" dump "$s" >"$tmp/before"
	io=$(py "$s" <<'EOF'
import sys
with open(sys.argv[1], "rb") as f:
    print(int.from_bytes(f.read(77)[65:71], "little"))
EOF
)
	at=$io
	[ "$where" = index ] || at=$((io - 10))
	truncate -s $((at + 1000 * (at == io))) "$s"
	expect 2 "$BLT" check "$s"
	err_has "runs past the end of the file"
	expect 1 "$BLT" check --repair "$s"
	grep -q "the index is rebuilt at $at;" "$tmp/out" "$tmp/err" ||
		fail "repair of a cut in the $where: $(cat "$tmp/out" "$tmp/err")"
	expect 0 "$BLT" check "$s"
	"$BLT" dump "$s" >"$tmp/after"
	py "$tmp/before" "$tmp/after" <<'EOF'
import json, sys
before = [json.loads(l) for l in open(sys.argv[1])]
after = [json.loads(l) for l in open(sys.argv[2])]
old = {json.dumps(i["key"]): i for i in before}
for i in after:
    assert old.get(json.dumps(i["key"])) == i, i["key"]
assert 19000 < len(after) < len(before), (len(after), len(before))
EOF
	printf 'new' | "$BLT" put "$s" after-the-repair
	expect 0 "$BLT" check "$s"
	[ "$("$BLT" get "$s" after-the-repair)" = new ] ||
		fail "repair of a cut in the $where: a put after it is lost"
done

# check --repair puts back a damaged layout field (the bucket count, bytes
# 21-24, the index offset, bytes 65-70, or the first data block, bytes
# 71-76; the bytes written are octal) from the data, and loses no key.
# It used to refuse a damaged index offset, and to take the blocks before
# a first data block moved later for damage, and cover them; then to
# refuse an index offset moved into the data or past the end, and a
# bucket count past the end, and to write the index over blocks when the
# offset moved into the index (reindexed_twice 65 and 66), moved back
# less than an eighth of booklet's smallest index (66:137) or onto a block
# boundary (reindexed 67), or when the first data block moved before the
# real one (reindexed 71, reindexed_twice 72).
for case in tricky_keys:66:370 tricky_keys:72:010 tricky_keys:73:370 \
    pruned:72:370 pruned:73:010 reindexed:72:370 reindexed:73:010 \
    reindexed_twice:73:010 reindexed:66:010 reindexed:66:370 \
    reindexed:67:010 reindexed:71:001 reindexed_twice:65:370 \
    reindexed_twice:66:137 reindexed_twice:66:200 reindexed_twice:72:001 \
    deleted_overwritten:67:010 tricky_keys:24:001 reindexed:23:200; do
	name=${case%%:*}
	off=${case#*:}
	byte=${off#*:}
	off=${off%:*}
	s=$tmp/layout.blt
	copy "$name.blt" "$s"
	printf "\\$byte" | dd of="$s" bs=1 seek="$off" conv=notrunc 2>/dev/null
	expect 1 "$BLT" check --repair "$s"
	grep -q "data says" "$tmp/out" "$tmp/err" ||
		fail "$case: $(cat "$tmp/out" "$tmp/err")"
	expect 0 "$BLT" check "$s"
	"$BLT" dump "$s" >"$tmp/after"
	"$BLT" dump "$FIXTURES_DIR/$name.blt" >"$tmp/before"
	cmp -s "$tmp/before" "$tmp/after" || fail "$case: the repair lost items"
done
# Where the data does not say where the index is, the repair is refused
# and the file is not written: the index offset moved into the data
# before the index, or past the end of the file, and the first block of
# the data damaged too, so that no walk from it finds the index.  The
# message is the header's, not that of a block tried on the way.
for case in 010:"what lies at 1181862 is not an index; not repaired" \
    370:"damaged header: the index of 144013 buckets"; do
	copy reindexed.blt "$s"
	printf "\\${case%%:*}" | dd of="$s" bs=1 seek=66 conv=notrunc 2>/dev/null
	printf '\377' | dd of="$s" bs=1 seek=72245 conv=notrunc 2>/dev/null
	cp "$s" "$tmp/layout.was"
	expect 2 "$BLT" check --repair "$s"
	err_has "${case#*:}"
	cmp -s "$s" "$tmp/layout.was" || fail "a refused repair wrote the store"
done
# prune says what it did: the blocks removed and the file's size before
# and after; --count prints the number alone, for scripts.  check says ok
# with the number of keys.
s=$tmp/said.blt
"$BLT" create --buckets 11 "$s"
echo a | "$BLT" put "$s" k
echo b | "$BLT" put "$s" k
echo c | "$BLT" put "$s" j
"$BLT" del "$s" j
[ "$("$BLT" prune --count "$s")" = 2 ] || fail "prune --count"
small=$(wc -c <"$s")
echo c | "$BLT" put "$s" k
big=$(wc -c <"$s")
said=$("$BLT" prune "$s")
[ "$said" = "$s: pruned 1 dead block, from $big B to $small B" ] ||
	fail "prune said: $said"
[ "$("$BLT" check "$s")" = "$s: ok, 1 key" ] || fail "check said: $("$BLT" check "$s")"
exit 0
