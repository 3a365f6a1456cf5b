#!/bin/sh
# The pickle codec (src/value/value-pickle-*.c) against Python's own pickle:
# tests/pickle-ref.py makes seeded random values, pickles them with
# protocols 0 to 5, and checks tests/pickle_tool's decoding and encoding
# (see its docstring).  PICKLE_REF_SEED and PICKLE_REF_COUNT override the
# seed and the number of values.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$here/..}"
: "${top_builddir:=$top_srcdir}"
tool=$top_builddir/tests/pickle_tool
# 99 is automake's "hard error": the test could not run at all.
[ -x "$tool" ] || { echo "pickle_tool not built: $tool" >&2; exit 99; }
# The Debian python3, which has numpy (python3-numpy) for its check.
py=/usr/bin/python3
[ -x "$py" ] || py=python3
command -v "$py" >/dev/null || { echo "python3 missing" >&2; exit 99; }

exec "$py" "$top_srcdir/tests/pickle-ref.py" "$tool" \
    "${PICKLE_REF_SEED:-30}" "${PICKLE_REF_COUNT:-150}"
