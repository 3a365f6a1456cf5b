#!/bin/sh
# blt map: commands and plugins over all keys, a prefix and a key list,
# into the same store, under a template and into a second store; the JSON
# report and the exit status (0, 1 with failed items, 2 on usage errors).
. "${top_srcdir:-$(dirname "$0")/..}/tests/blt-lib.sh"

PLUGIN=$top_builddir/tests/plugin_test.so
[ -f "$PLUGIN" ] || { echo "not built: $PLUGIN" >&2; exit 99; }

# value STORE KEY WANT: KEY holds WANT (and a newline).
value()
{
	got=$("$BLT" get "$1" "$2") || fail "get $2"
	[ "$got" = "$3" ] || fail "$2 is '$got', wanted '$3'"
}

s=$tmp/s.blt
py >"$tmp/items.jsonl" <<'EOF'
import json
for i in range(300):
    print(json.dumps({"key": "k%d" % i, "value": "value %d\n" % i}))
for k in ["dir/a", "dir/b", "dirt", "skip/1", "err/1", "crash-me"]:
    print(json.dumps({"key": k, "value": "abc\n"}))
EOF
"$BLT" load -c "$s" "$tmp/items.jsonl"

# Every key, in place.
expect 0 "$BLT" map "$s" --exec 'tr a-z A-Z' --workers 3
counts 306 0 0
[ "$(report workers)" = 3 ] || fail "workers"
value "$s" k7 "VALUE 7"
value "$s" dir/a "ABC"
expect 0 "$BLT" check "$s"

# Skips (125) and errors leave their items; the report names the error.
expect 1 "$BLT" map "$s" --exec \
    'case $BLT_KEY in skip/*) exit 125;; err/*) echo nope >&2; exit 1;; esac
     tr A-Z a-z'
counts 304 1 1
py "$tmp/out" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
e = r["first_errors"]
assert len(e) == 1, e
assert e[0]["key"] == "err/1" and e[0]["key_hex"] == b"err/1".hex(), e
assert "exit status 1" in e[0]["error"] and "nope" in e[0]["error"], e
EOF
value "$s" k7 "value 7"
value "$s" skip/1 "ABC"
value "$s" err/1 "ABC"

# A prefix, under a template.
expect 0 "$BLT" map "$s" --exec 'tr a-z A-Z' --prefix dir/ --to 'up/{key}'
counts 2 0 0
value "$s" up/dir/a "ABC"
value "$s" dir/a "abc"
expect 1 "$BLT" get "$s" up/dirt
expect 0 "$BLT" check "$s"

# A key list from a file and from stdin, hex and NUL-terminated.
printf 'k1\nk2\nmissing\n' >"$tmp/keys"
expect 1 "$BLT" map "$s" --keys "$tmp/keys" --exec 'tr a-z A-Z'
counts 2 0 1
value "$s" k1 "VALUE 1"
value "$s" k3 "value 3"
printf '6b33\0006b34\000' >"$tmp/keys0"
expect 0 "$BLT" map "$s" --keys - -0 --hex --exec 'tr a-z A-Z' <"$tmp/keys0"
counts 2 0 0
value "$s" k4 "VALUE 4"

# A plugin into a second store; the source stays.
o=$tmp/o.blt
expect 0 "$BLT" map "$s" --plugin "$PLUGIN:plugin_upper" --out "$o" \
    --prefix k
counts 300 0 0
value "$o" k9 "VALUE 9"
value "$s" k9 "value 9"
expect 0 "$BLT" check "$o"

# The store --out makes has the mode of the store mapped less the umask,
# as the mount's map gives it (it had 0644 less the umask, whatever the
# source's); one there already, even empty, keeps its own.
chmod 0640 "$s"
for um in 022:640 027:640 077:600; do
	(umask "${um%:*}" &&
	    "$BLT" map "$s" --exec cat --prefix k1 --out "$tmp/o${um%:*}.blt") \
	    >/dev/null 2>"$tmp/err" ||
		fail "map --out under umask ${um%:*}: $(cat "$tmp/err")"
	[ "$(stat -c %a "$tmp/o${um%:*}.blt")" = "${um#*:}" ] ||
		fail "--out under umask ${um%:*}: mode $(stat -c %a "$tmp/o${um%:*}.blt")"
	value "$tmp/o${um%:*}.blt" k1 "VALUE 1"
done
chmod 0664 "$s"
(umask 002 && "$BLT" map "$s" --exec cat --prefix k1 --out "$tmp/o002.blt") \
    >/dev/null 2>"$tmp/err" || fail "map --out under umask 002: $(cat "$tmp/err")"
[ "$(stat -c %a "$tmp/o002.blt")" = 664 ] ||
	fail "--out under umask 002: mode $(stat -c %a "$tmp/o002.blt")"
: >"$tmp/oold.blt"
chmod 0606 "$tmp/oold.blt"
(umask 077 && "$BLT" map "$s" --exec cat --prefix k1 --out "$tmp/oold.blt") \
    >/dev/null 2>"$tmp/err" || fail "map --out to an empty file: $(cat "$tmp/err")"
[ "$(stat -c %a "$tmp/oold.blt")" = 606 ] || fail "--out changed a mode"
value "$tmp/oold.blt" k1 "VALUE 1"
# one that cannot be made is named
expect 2 "$BLT" map "$s" --exec cat --out "$tmp/nodir/o.blt"
err_has "$tmp/nodir/o.blt"
chmod 0644 "$s"

# A crashing plugin fails its item only.
expect 1 "$BLT" map "$s" --plugin "$PLUGIN:plugin_crash" --workers 2
counts 307 0 1
[ "$(report restarts)" -ge 1 ] || fail "no restart"
grep -q '"key": "crash-me"' "$tmp/out" || fail "crash-me not reported"
value "$s" crash-me "abc"
value "$s" k11 "VALUE 11"
expect 0 "$BLT" check "$s"

# A plugin that prints on stdout: its bytes go to blt's stderr, not into
# the workers' replies (where 5 of them ended the map short of memory and 3
# hung it) nor into the report on stdout.
printf 'x\n' | "$BLT" put "$s" stray5
printf 'x\n' | "$BLT" put "$s" stray3
printf 'stray5\nstray3\n' >"$tmp/stray.keys"
expect 0 "$BLT" map "$s" --plugin "$PLUGIN:plugin_stdout" --workers 1 \
    --keys "$tmp/stray.keys"
counts 2 0 0
[ "$(report restarts)" = 0 ] || fail "a plugin's stdout restarted workers"
[ "$(cat "$tmp/err")" = strayabc ] || fail "stderr: $(cat "$tmp/err")"
value "$s" stray5 "X"

# In a store whose keys are integers, every result key must have the
# integer's width: {key} stands for the key's bytes, so a template that adds
# to them makes keys no reader of the store can read, and so does a source
# with wider keys.  Such results fail their items, naming the key, and
# nothing is written; the integer's own width is taken.
n=$tmp/uint4.blt
"$BLT" create --key-serializer uint4 "$n"
for k in 1 2 3; do
	printf 'v%s\n' "$k" | "$BLT" put "$n" "$k"
done
expect 1 "$BLT" map "$n" --exec 'tr a-z A-Z' --to '{key}.gz'
counts 0 0 3
py "$tmp/out" <<'EOF2'
import json, sys
e = json.load(open(sys.argv[1]))["first_errors"]
assert len(e) == 3, e
# the keys as blt ls shows them
assert sorted(i["key"] for i in e) == ["1", "2", "3"], e
for i in e:
    k = bytes.fromhex(i["key_hex"])
    want = "result key '%s.gz' is 7 bytes long; uint4 keys are 4 bytes" % (
        "".join("\\x%02x" % b for b in k))
    assert want in i["error"], (want, i["error"])
EOF2
[ "$("$BLT" ls "$n" | tr '\n' ' ')" = "1 2 3 " ] || fail "keys of a refused --to"
expect 0 "$BLT" map "$n" --exec 'tr a-z A-Z' --to '{key}'
counts 3 0 0
value "$n" 2 "V2"
w=$tmp/uint8.blt
"$BLT" create --key-serializer uint8 "$w"
expect 1 "$BLT" map "$n" --exec cat --out "$w"
counts 0 0 3
grep -q "uint8 keys are 8 bytes" "$tmp/out" || fail "uint4 into uint8"
[ -z "$("$BLT" ls "$w")" ] || fail "uint4 keys stored into a uint8 store"
expect 0 "$BLT" check "$n"

# A worker killed with SIGKILL (here by its command, as by the OOM killer
# or a user) takes its command along: what the command started does not
# outlive the map.
printf 'k5\n' >"$tmp/one.keys"
expect 1 "$BLT" map "$s" --keys "$tmp/one.keys" --workers 1 --exec \
    "sleep 1000 & echo \$\$ \$! >'$tmp/pids'; kill -KILL \$PPID; wait"
counts 0 0 1
grep -q 'its worker was killed by signal 9' "$tmp/out" || fail "k5's error"
gone $(cat "$tmp/pids")

# blt map killed with SIGTERM stops its running command and also what
# earlier commands left running: k0's command leaves a sleeper, k1's
# waits on one; once both run, blt gets SIGTERM.
printf 'k0\nk1\n' >"$tmp/two.keys"
: >"$tmp/pids"
"$BLT" map "$s" --keys "$tmp/two.keys" --workers 1 --exec \
    "sleep 1000 >/dev/null 2>&1 & echo \$! >>'$tmp/pids'
     case \$BLT_KEY in k1) wait;; esac; cat" >/dev/null 2>&1 &
bpid=$!
lines "$tmp/pids" 2
kill -TERM "$bpid"
wait "$bpid" || :
gone $(cat "$tmp/pids")

# --item-timeout: a command that runs past it is killed, with what it
# started, and its item fails; the others are done.
expect 1 "$BLT" map "$s" --prefix dir --item-timeout 1 --exec \
    "case \$BLT_KEY in dir/b) echo \$\$ >$tmp/hang.pid; exec sleep 3600;; esac
     cat"
counts 2 0 1
py "$tmp/out" <<'EOF'
import json, sys
e = json.load(open(sys.argv[1]))["first_errors"]
assert [i["key"] for i in e] == ["dir/b"], e
assert "ran for more than 1 s (--item-timeout): killed" in e[0]["error"], e
EOF
gone "$(cat "$tmp/hang.pid")"

# Usage and setup errors exit with 2.
expect 2 "$BLT" map "$s"
err_has "give one of --exec, --plugin and --worker"
expect 2 "$BLT" map "$s" --exec cat --plugin x.so:f
expect 2 "$BLT" map "$s" --exec cat --workers 0
expect 2 "$BLT" map "$s" --exec cat --prefix a --keys "$tmp/keys"
expect 2 "$BLT" map "$s" --exec cat --bogus
expect 2 "$BLT" map "$s" --exec cat --to same
err_has "{key}"
expect 2 "$BLT" map "$s" --plugin "$PLUGIN:f" --item-timeout 1
err_has "--item-timeout goes with --exec or --worker"
expect 2 "$BLT" map "$s" --exec cat --launcher ssh
err_has "--launcher and --hosts go with --worker"
expect 2 "$BLT" map "$s" --exec cat --to same
err_has "{key}"
expect 2 "$BLT" map "$s" --plugin /nonexistent.so:f
err_has "/nonexistent.so"
expect 2 "$BLT" map "$tmp/none.blt" --exec cat

# --hosts: the host each worker's launcher gets (it says, and fails the
# map at the start), and entries that are refused with why.
say_host="sh -c 'echo \"host=\$1\" >&2; exit 3' x"
for h in 'h:2=h' 'u@h=u@h' '[::1]:2=::1' 'u@[fe80::1%eth0]=u@fe80::1%eth0'; do
	expect 2 "$BLT" map "$s" --worker true --launcher "$say_host" \
	    --hosts "${h%%=*}"
	err_has "host=${h#*=} before its hello"
done
for h in '::1=in brackets' '[::1=[ADDRESS]' '[]:2=[ADDRESS]' \
    'x@y[::1]=[ADDRESS]' '[::1]x=after the address' 'h:0=HOST:N' \
    'h:x=HOST:N' 'a,,b=empty entry' \
    '-oProxyCommand:2=cannot begin with'; do
	expect 2 "$BLT" map "$s" --worker true --hosts "${h%%=*}"
	err_has "${h#*=}"
done
expect 0 "$BLT" map --help
grep -q "usage: blt map" "$tmp/out" || fail "help"
exit 0
