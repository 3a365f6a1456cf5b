"""The reference side of tests/values-types.sh: run with the reference
Python booklet (../shared/reference/bin/booklet-python).

  values-types.py write SER STORE       seeded random records mixing
                                        Python's everyday types with
                                        builtins, in a new store of value
                                        serializer SER (pickle, pickle_zstd)
  values-types.py empty SER STORE       a new empty store of SER
  values-types.py pickles DIR           the same records pickled with
                                        protocols 2 to 5, a file each
                                        (DIR/p<protocol>.<n>)
  values-types.py dump STORE FILE       FILE (blt dump --decode) holds
                                        every value of STORE, nothing
                                        undecodable
  values-types.py same STORE COPY       COPY holds STORE's values, type
                                        for type
  values-types.py mapped STORE COPY     COPY holds STORE's values as
                                        tests/values-types.sh's worker
                                        changes them

The tagged forms are read back by tests/pytypes.py, on their own.
"""
import collections
import datetime as dt
import decimal
import json
import math
import os
import pickle
import random
import sys
import uuid

import booklet
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytypes import pd, rand_everyday, same, untag  # noqa: E402

COUNT = 60


def rand_builtin(r, depth=0):
    k = r.randrange(9 if depth < 3 else 5)
    if k == 0:
        return r.choice([None, True, False])
    if k == 1:
        return r.randrange(-2**70, 2**70)
    if k == 2:
        return r.choice([0.5, -0.0, math.inf, math.nan, r.uniform(-1e9, 1e9)])
    if k == 3:
        return "".join(r.choice("ab $\\\"\n\xe9\u20ac\U0001F600")
                       for _ in range(r.randrange(8)))
    if k == 4:
        return bytes(r.randrange(256) for _ in range(r.randrange(6)))
    if k == 5:
        return [rand_builtin(r, depth + 1) for _ in range(r.randrange(4))]
    if k == 6:
        return tuple(rand_builtin(r, depth + 1) for _ in range(r.randrange(3)))
    if k == 7:
        return {r.randrange(9): rand_builtin(r, depth + 1)
                for _ in range(r.randrange(3))}
    return {"k%d" % r.randrange(9): rand_builtin(r, depth + 1)
            for _ in range(r.randrange(3))}


def rand_key(r):
    return r.choice(["a", "b", "c", "$x", 1, 2])


def record(r, i):
    """One record as a pipeline writes it: fixed everyday fields, then
    random ones of every type, nested in builtins."""
    rec = {
        "id": uuid.UUID(int=r.getrandbits(128)),
        "when": dt.datetime(2024, 1 + i % 12, 1 + i % 28, i % 24, i % 60,
                            i % 60, 1000 * i,
                            dt.timezone(dt.timedelta(minutes=30 * (i % 25 - 12)))),
        "day": dt.date(2000 + i, 2, 28),
        "price": decimal.Decimal("%d.%02d" % (i, i % 100)),
        "vec": np.arange(i % 7, dtype="f8") / 3,
        "n": np.int32(i),
    }
    if pd is not None:
        rec["stamp"] = pd.Timestamp(1700000000 * 10**9 + 123456789 * i,
                                    tz=dt.timezone.utc if i % 2 else None)
        rec["took"] = pd.Timedelta(i * 10**9 + 7)
    for j in range(r.randrange(1, 6)):
        rec["f%d" % j] = rand_everyday(r, rand_builtin, rand_key)
    rec["nested"] = [rand_builtin(r), (rand_everyday(r, rand_builtin, rand_key),),
                     {"deep": [rand_everyday(r, rand_builtin, rand_key)]}]
    return rec


def records():
    r = random.Random(38)
    return {("d/r%02d" if i % 3 else "r%02d") % i: record(r, i)
            for i in range(COUNT)}


def changed(v):
    """What the worker of tests/values-types.sh does to a record: a day
    later, a cent dearer, its vector doubled; the rest as it is."""
    v["when"] += dt.timedelta(days=1)
    v["price"] += decimal.Decimal("0.01")
    v["vec"] = v["vec"] * 2
    v["seen"] = collections.OrderedDict([("by", "worker"), ("at", v["when"])])
    return v


def open_store(path, flag="r", ser=None):
    return booklet.open(path, flag, key_serializer="str", value_serializer=ser)


def main():
    cmd = sys.argv[1]
    if cmd in ("write", "empty"):
        with open_store(sys.argv[3], "n", sys.argv[2]) as db:
            if cmd == "write":
                for k, v in records().items():
                    db[k] = v
    elif cmd == "pickles":
        recs = list(records().values())
        for proto in (2, 3, 4, 5):
            for n in range(10):
                with open(os.path.join(sys.argv[2], "p%d.%d" % (proto, n)),
                          "wb") as f:
                    f.write(pickle.dumps(recs[n], proto))
    elif cmd == "dump":
        with open_store(sys.argv[2]) as db, open(sys.argv[3]) as f:
            seen = 0
            for line in f:
                rec = json.loads(line)
                assert "value_hex" not in rec, line[:300]
                got, want = untag(rec["value"]), db[rec["key"]]
                if not same(got, want):
                    sys.exit("key %s: blt shows %r, booklet reads %r"
                             % (rec["key"], got, want))
                seen += 1
            if seen != len(db):
                sys.exit("the dump has %d values, the store %d"
                         % (seen, len(db)))
    elif cmd in ("same", "mapped"):
        with open_store(sys.argv[2]) as a, open_store(sys.argv[3]) as b:
            want = dict(a.items())
            if cmd == "mapped":
                for v in want.values():
                    changed(v)
            got = dict(b.items())
            if sorted(got) != sorted(want):
                sys.exit("keys %s, wanted %s" % (sorted(got), sorted(want)))
            for k in want:
                if not same(got[k], want[k]):
                    sys.exit("key %s: the copy reads %r, not %r"
                             % (k, got[k], want[k]))
    else:
        sys.exit("unknown command " + cmd)


main()
