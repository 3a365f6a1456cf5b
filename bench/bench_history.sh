#!/bin/sh
# The randomized history of tests/mount-history.sh, run long (issue 66):
# RUNS histories of STEPS steps each, with seeds drawn at random, in DIR (a
# real disk: /var/tmp), each checked against the model of every write as
# make check's short one is.  Prints each run's summary or its failure
# with its SEED (STEPS=N SEED=S sh tests/mount-history.sh repeats it), and
# the runs that failed.  See doc/benchmarks.md, "A randomized history".
#
# usage: bench_history.sh BUILDDIR PY DIR [STEPS] [RUNS]
#   BUILDDIR  the build tree (fs/bltfs, tests/mount_check)
#   PY        runs Python with the reference booklet
#   DIR       where the stores go
#   STEPS     steps of one history (1000); RUNS histories (3)
set -eu

[ $# -ge 3 ] || { sed -n '10,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
BUILD=$(cd "$1" && pwd) PY=$2 DIR=$3
STEPS=${4:-1000} RUNS=${5:-3}
src=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$DIR"
failed=0
i=0
while [ "$i" -lt "$RUNS" ]; do
	i=$((i + 1))
	seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
	start=$(date +%s)
	if out=$(top_srcdir=$src top_builddir=$BUILD \
	    FIXTURES_DIR=$src/tests/fixtures REFERENCE_PY=$PY TMPDIR=$DIR \
	    STEPS=$STEPS SEED=$seed sh "$src/tests/mount-history.sh" 2>&1); then
		echo "run $i (SEED=$seed, $(($(date +%s) - start)) s):" \
		    "$(echo "$out" | grep '^mount-history: [0-9]')"
		echo "$out" | grep '^mount-history: refused' || :
	else
		failed=$((failed + 1))
		echo "run $i (SEED=$seed) FAILED:"
		echo "$out" | tail -n 5
	fi
done
echo "history: $RUNS runs of $STEPS steps, $failed failed"
[ "$failed" = 0 ]
