#!/bin/sh
# blt map --worker through Slurm (issue 32): a one-node cluster of its own
# (munged, slurmctld and slurmd on free ports, everything in a temporary
# directory, torn down after) runs each worker as a job, or as a step of
# an allocation, through the launcher doc/map.md gives, `srun -u --exact
# -N1 -n1 --quiet sh -c`.  The C worker maps binary values byte for byte;
# the Python worker marks each value with the Slurm job it ran in; in an
# allocation (salloc -n2) the two workers run side by side; a worker whose
# job is cancelled mid-job fails the item it was on, and the others are
# done once.  Skips when Slurm is not installed or its daemons cannot
# start here.
. "${top_srcdir:-$(dirname "$0")/..}/tests/blt-lib.sh"

CW=$top_builddir/doc/examples/map_worker
[ -x "$CW" ] || { echo "not built: $CW" >&2; exit 99; }
for p in munged slurmctld slurmd srun salloc sinfo scancel; do
	command -v "$p" >/dev/null || [ -x "/usr/sbin/$p" ] ||
		{ echo "no $p (Debian: slurm-wlm, munge): skipped" >&2; exit 77; }
done
WPY=/usr/bin/python3
[ -x "$WPY" ] || WPY=$(command -v python3)
LAUNCH='srun -u --exact -N1 -n1 --quiet sh -c'

d=$tmp/slurm
mkdir "$d" "$d/state" "$d/spool"
pids=
# stop: cancel what runs, then the daemons, and wait for them.
stop()
{
	scancel --quiet --full --state=RUNNING 2>/dev/null || :
	scancel --quiet --state=PENDING 2>/dev/null || :
	[ -z "$pids" ] || kill $pids 2>/dev/null || :
	[ -z "$pids" ] || gone $pids
	pids=
}
trap 'stop; rm -rf "$tmp"' EXIT

# munge, on a socket and with a key of its own
head -c 1024 /dev/urandom >"$d/munge.key"
chmod 400 "$d/munge.key"
$(command -v munged || echo /usr/sbin/munged) -F --force \
    --socket="$d/munge.sock" --key-file="$d/munge.key" \
    --pid-file="$d/munged.pid" --log-file="$d/munged.log" \
    --seed-file="$d/munge.seed" 2>"$d/munged.err" &
pids=$!

set -- $(py <<'EOF'
import socket
s = [socket.socket() for _ in range(2)]
for x in s:
    x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))
EOF
)
node=$(hostname -s)
export SLURM_CONF="$d/slurm.conf"
cat >"$SLURM_CONF" <<EOF
ClusterName=blttest
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$1
SlurmdPort=$2
AuthType=auth/munge
AuthInfo=socket=$d/munge.sock
CredType=cred/munge
SlurmUser=$(id -un)
SlurmdUser=$(id -un)
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd.pid
SlurmctldLogFile=$d/slurmctld.log
SlurmdLogFile=$d/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
NodeName=$node NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=main Nodes=$node Default=YES MaxTime=INFINITE OverSubscribe=FORCE:4 State=UP
EOF
$(command -v slurmctld || echo /usr/sbin/slurmctld) -D -i 2>"$d/ctld.err" &
pids="$pids $!"
$(command -v slurmd || echo /usr/sbin/slurmd) -D 2>"$d/slurmd.err" &
pids="$pids $!"
i=0
until [ "$(sinfo -h -o %t 2>/dev/null)" = idle ]; do
	i=$((i + 1))
	if [ $i -ge 300 ]; then
		cat "$d"/*.err "$d"/*.log >&2 2>/dev/null || :
		echo "a one-node Slurm does not start here: skipped" >&2
		exit 77
	fi
	sleep 0.1 # the daemons are starting: poll for the node
done

# 1. The C worker through srun, on values of every byte: identity is
# byte for byte, upper case is upper case.
s=$tmp/s.blt
py >"$tmp/items.jsonl" <<'EOF'
import json
for i in range(600):
    v = bytes((i * 7 + j) % 256 for j in range(i % 500))
    print(json.dumps({"key": "k%03d" % i, "value_hex": v.hex()}))
EOF
"$BLT" load -c "$s" "$tmp/items.jsonl"
"$BLT" dump "$s" >"$tmp/before"
expect 0 "$BLT" map "$s" --worker "$CW -i" --launcher "$LAUNCH" --workers 2
counts 600 0 0
"$BLT" dump "$s" >"$tmp/after"
py "$tmp/before" "$tmp/after" <<'EOF' || fail "identity through srun changed values"
import json, sys
a, b = ({json.loads(l)["key"]: json.loads(l)["value_hex"] for l in open(f)}
        for f in sys.argv[1:])
sys.exit(a != b or len(a) != 600)
EOF
printf '%s\n' '{"key": "up", "value": "lower case\n"}' | "$BLT" load "$s" -
expect 0 "$BLT" map "$s" --worker "$CW" --launcher "$LAUNCH" --keys - <<'EOF'
up
EOF
[ "$("$BLT" get "$s" up)" = "LOWER CASE" ] || fail "upper case through srun"

# 2. The Python worker: each value says the job it ran in.  With KEY, the
# worker cancels its own job on that key and waits to be killed.
cat >"$tmp/job.py" <<'EOF'
import os, subprocess, sys, time
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, sys.argv[1])
from bltfs_worker import serve

def f(key, value):
    job = os.environ.get("SLURM_JOB_ID", "none")
    if len(sys.argv) > 2 and key == sys.argv[2].encode():
        subprocess.run(["scancel", job])
        time.sleep(3600)  # until Slurm kills the step
    return b"job " + job.encode()

serve(f, raw=True)
EOF
W="$WPY $tmp/job.py $top_srcdir/src/map"
# jobs STORE N: the values of STORE name N Slurm jobs.
jobs()
{
	"$BLT" dump "$1" >"$tmp/dump"
	py "$tmp/dump" "$2" <<'EOF' || fail "$1: not the values of $2 jobs"
import json, sys
jobs = {bytes.fromhex(json.loads(l)["value_hex"]) for l in open(sys.argv[1])}
print(jobs)
sys.exit(len(jobs) != int(sys.argv[2]) or b"job none" in jobs)
EOF
}
"$BLT" load -c "$tmp/p.blt" "$tmp/items.jsonl"
expect 0 "$BLT" map "$tmp/p.blt" --worker "$W" --launcher "$LAUNCH" --workers 2
counts 600 0 0
jobs "$tmp/p.blt" 2

# 3. In an allocation of two tasks: each worker is a step of it, and they
# run side by side (without --exact, the second step would wait for the
# first to end, and the map with it: timeout bounds that hang).
expect 0 timeout 300 salloc --quiet -N1 -n2 "$BLT" map "$tmp/p.blt" \
    --worker "$W" --launcher "$LAUNCH" --workers 2
counts 600 0 0
jobs "$tmp/p.blt" 1

# 4. A job cancelled mid-map: the item its worker was on fails, with why;
# the others are written once (into a store of their own, so that the
# count of keys shows it).
expect 1 "$BLT" map "$tmp/p.blt" --worker "$W k300" --launcher "$LAUNCH" --workers 2 \
    --out "$tmp/o.blt"
counts 599 0 1
grep -q '"key": "k300".*srun: error: .*Terminated' \
    "$tmp/out" || fail "k300 is not the error: $(cat "$tmp/out")"
[ "$("$BLT" ls "$tmp/o.blt" | wc -l)" -eq 599 ] || fail "o.blt count"
expect 1 "$BLT" get "$tmp/o.blt" k300
exit 0
