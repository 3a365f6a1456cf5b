#!/usr/bin/env bash
# `make demo`: make a small demo store with blt and, when the daemon is
# built, mount it at $DEMO_MNT (default /tmp/bltfs-demo).
set -euo pipefail
builddir=${top_builddir:-.}
store=${DEMO_STORE:-/tmp/bltfs-demo.blt}
mnt=${DEMO_MNT:-/tmp/bltfs-demo}
blt=$builddir/src/blt/blt
bltfs=$builddir/fs/bltfs

if mountpoint -q "$mnt" 2>/dev/null; then
	fusermount3 -u "$mnt"
fi
rm -f "$store"
"$blt" create "$store"
printf 'hello from bltfs\n' | "$blt" put "$store" README.txt
for i in 1 2 3; do
	printf 'report %s\n' "$i" | "$blt" put "$store" "reports/2026/q$i.txt"
done
printf '{"city": "Wellington", "temp": 14}\n' |
	"$blt" put "$store" data/weather.json
echo "demo store $store:"
"$blt" ls "$store"
if [ -x "$bltfs" ]; then
	mkdir -p "$mnt"
	"$bltfs" "$store" "$mnt"
	echo "mounted at $mnt: try  ls -R $mnt; cat $mnt/README.txt;" \
		" fusermount3 -u $mnt  to unmount"
fi
