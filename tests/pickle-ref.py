"""The pickle codec against Python's pickle (tests/value-pickle-ref.sh).

usage: pickle-ref.py PICKLE_TOOL SEED COUNT

Python makes COUNT seeded random nested values of every type the codec
knows (strs with lone surrogates included) and pickles each with protocols
0 to 5.  For each pickle:
  - `pickle_tool decode` must give the tagged form that, read back with the
    tags interpreted, is the same value (types included: tuple is not list,
    bytes not bytearray, True not 1, -0.0 not 0.0); this includes the
    constructors older protocols write through GLOBAL and REDUCE (sets
    before protocol 4, bytes before 3, bytearray before 5), which the
    decoder recognizes by name without calling anything;
  - `pickle_tool encode` of that text must give a pickle that pickle.loads
    reads as the same value, and, for values without sets (whose order is
    Python's hash order), the very bytes of pickle.dumps(value, 5).
The values mix in Python's everyday types (tests/pytypes.py: datetimes,
Decimal, UUID, complex, the collections' dicts and deque, numpy arrays and
scalars), which the decoder reads by their constructors' names and the
exact shape of their arguments.  Objects Python pickles through other
globals (a class instance), those constructors used otherwise (called with
other arguments, pickled as a value), hand-made hostile pickles (builtins
eval, os system, a datetime of 9 bytes, an object array, a huge shape with
a short buffer, ...) and a surrogate pair held as two characters (which
JSON text would read back as one) must be not decodable, with a reason.
Prints one line per failure; exits 1 if any.
"""
import collections
import datetime
import json
import math
import os
import pickle
import random
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytypes import (HOSTILE, np, rand_everyday,  # noqa: E402
                     rand_hashable_everyday, same, untag)

sys.set_int_max_str_digits(0)
sys.setrecursionlimit(20000)

tool, seed, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
failures = 0


def fail(msg):
    global failures
    failures += 1
    print("FAIL:", msg[:600])


def run(mode, data):
    p = subprocess.run([tool, mode], input=data, capture_output=True)
    return p.returncode, p.stdout, p.stderr


# --- random values ---------------------------------------------------------

ASTRAL = ["\U0001F600", "\U00010348", "\U0010FFFF", "\U0001D11E"]


def rand_str():
    k = rng.randrange(6)
    if k == 0:
        return ""
    if k == 1:
        return rng.choice("ab\xe9\x00\n\\$ ")
    chars = []
    for _ in range(rng.randrange(1, 20)):
        c = rng.randrange(9)
        if c < 3:
            chars.append(chr(rng.randrange(0x20, 0x7F)))
        elif c == 3:
            chars.append(rng.choice("\x00\n\r\x1a\\'\"\t"))
        elif c == 4:
            chars.append(chr(rng.randrange(0x80, 0x800)))
        elif c == 5:
            chars.append(chr(rng.choice([rng.randrange(0x800, 0xD800),
                                         rng.randrange(0xE000, 0x10000)])))
        elif c == 7:
            chars.append(rng.choice(ASTRAL))
        else:
            chars.append(chr(rng.randrange(0xD800, 0xE000)))
    # A lone surrogate, not a pair held as two characters (refused).
    return re.sub("([\ud800-\udbff])(?=[\udc00-\udfff])", "\\1x",
                  "".join(chars))


def rand_int():
    k = rng.randrange(8)
    if k == 0:
        return rng.randrange(256)
    if k == 1:
        return rng.randrange(-2**31, 2**31)
    if k == 2:
        return rng.choice([0, 255, 256, 65535, 65536, -1, -128, -129,
                           2**31 - 1, -2**31, 2**31, -2**31 - 1, 2**63 - 1,
                           -2**63, 2**63, -2**63 - 1, 2**64, -2**64])
    if k == 3:
        return rng.randrange(-2**63, 2**63)
    bits = rng.choice([64, 65, 100, 200, 2048, 8 * 300])
    return rng.randrange(-2**bits, 2**bits)


def rand_float():
    k = rng.randrange(6)
    if k == 0:
        return rng.choice([0.0, -0.0, 1.0, -1.5, math.inf, -math.inf, 1e308,
                           5e-324, 2.0**63, -2.0**63, 2.0**64, 1e22, 0.1])
    if k == 1:
        return math.nan
    return rng.uniform(-1e6, 1e6) * 10 ** rng.randrange(-30, 30)


def rand_bytes():
    return bytes(rng.randrange(256) for _ in range(rng.choice([0, 2, 3, 40,
                                                               300])))


def rand_hashable(depth):
    k = rng.randrange(8)
    if k == 7:
        return rand_hashable_everyday(rng)
    if k == 0:
        return rand_str()
    if k == 1:
        return rand_int()
    if k == 2:
        f = rand_float()
        return 0.5 if math.isnan(f) else f
    if k == 3:
        return rand_bytes()
    if k == 4 and depth < 4:
        return tuple(rand_hashable(depth + 1)
                     for _ in range(rng.randrange(5)))
    if k == 5 and depth < 4:
        return frozenset(rand_hashable(depth + 1)
                         for _ in range(rng.randrange(4)))
    return rng.choice([None, True, False])


def rand_value(depth=0):
    k = rng.randrange(19 if depth < 6 else 7)
    if k >= 16:
        return rand_everyday(rng, lambda r: rand_value(depth + 2),
                             lambda r: rand_hashable(4))
    if k == 0:
        return rng.choice([None, True, False])
    if k == 1:
        return rand_int()
    if k == 2:
        return rand_float()
    if k == 3:
        return rand_str()
    if k == 4:
        return rand_bytes()
    if k == 5:
        return bytearray(rand_bytes())
    if k == 6:
        return rand_hashable(depth)
    n = rng.randrange(6)
    if k in (7, 8):
        return [rand_value(depth + 1) for _ in range(n)]
    if k == 9:
        return tuple(rand_value(depth + 1) for _ in range(n))
    if k in (10, 11):
        return {rand_str(): rand_value(depth + 1) for _ in range(n)}
    if k == 12:
        return {rand_hashable(depth + 1): rand_value(depth + 1)
                for _ in range(n)}
    if k == 13:
        return {"$" + rand_str(): rand_value(depth + 1)}
    if k == 14:
        return set(rand_hashable(depth + 1) for _ in range(n))
    return frozenset(rand_hashable(depth + 1) for _ in range(n))


def deep(n):
    v = "bottom"
    for i in range(n):
        v = [v] if i % 3 else ({"k": v} if i % 2 else (v,))
    return v


# --- what pickle.dumps shares ---------------------------------------------

def has_set(v):
    if isinstance(v, (set, frozenset)):
        return True
    if isinstance(v, (list, tuple, collections.deque)):
        return any(has_set(x) for x in v)
    if isinstance(v, dict):
        return any(has_set(k) or has_set(x) for k, x in v.items())
    return False


def shares(v, seen):
    """Whether v holds an object pickle.dumps would find twice and
    memoize where our encoder writes it again: a timezone (utc is one
    object), a dtype numpy keeps one of, an interned str of a dtype."""
    if isinstance(v, (datetime.datetime, datetime.time)):
        v = v.tzinfo
    if isinstance(v, datetime.timezone) or (
            np is not None and isinstance(v, (np.ndarray, np.generic))):
        key = ("tz", v) if isinstance(v, datetime.timezone) else \
            ("dtype", v.dtype.str)
        if key in seen:
            return True
        seen.add(key)
        return False
    if isinstance(v, (list, tuple, collections.deque)):
        return any(shares(x, seen) for x in v)
    if isinstance(v, dict):
        return any(shares(k, seen) or shares(x, seen) for k, x in v.items())
    return False


def unshare(v):
    """v with no object shared but those CPython always shares (the empty
    and one-character Latin-1 str, the empty and one-byte bytes), so that
    pickle.dumps memoizes as our encoder does."""
    if type(v) is str:
        return "".join(list(v)) if len(v) > 1 else v
    if type(v) is bytes:
        return bytes(bytearray(v)) if len(v) > 1 else v
    if type(v) is bytearray:
        return bytearray(v)
    if isinstance(v, list):
        return [unshare(x) for x in v]
    if isinstance(v, tuple):
        return tuple(unshare(x) for x in v)
    if isinstance(v, collections.defaultdict):
        return collections.defaultdict(
            v.default_factory, {unshare(k): unshare(x) for k, x in v.items()})
    if isinstance(v, dict):
        return type(v)({unshare(k): unshare(x) for k, x in v.items()})
    if isinstance(v, collections.deque):
        return collections.deque([unshare(x) for x in v], v.maxlen)
    return v


def check(v, name):
    for proto in range(6):
        data = pickle.dumps(v, proto)
        rc, out, err = run("decode", data)
        if rc != 0:
            fail(f"{name} protocol {proto}: rc {rc} {out[:300]!r} "
                 f"{err[:200]!r} for {v!r}"[:600])
            continue
        back = untag(json.loads(out))
        if not same(v, back):
            fail(f"{name} protocol {proto}: {v!r} decoded as {back!r}")
            continue
        if proto != 5:
            continue
        rc, pk, err = run("encode", out)
        if rc != 0:
            fail(f"{name}: encode failed: {err!r} for {out[:300]!r}")
            continue
        if not same(v, pickle.loads(pk)):
            fail(f"{name}: our pickle loads as {pickle.loads(pk)!r}, "
                 f"not {v!r}")
        elif (not has_set(v) and not shares(v, set()) and
              pk != pickle.dumps(unshare(v), 5)):
            fail(f"{name}: our pickle differs from pickle.dumps for {v!r}: "
                 f"{pk[:200]!r} vs {pickle.dumps(unshare(v), 5)[:200]!r}")


class Thing:
    def __init__(self):
        self.a = 1


def check_refused(v, name, reason):
    for proto in range(6):
        try:
            data = pickle.dumps(v, proto)
        except Exception:
            continue
        rc, out, _ = run("decode", data)
        if rc != 3 or reason.encode() not in out:
            fail(f"{name} protocol {proto}: expected not decodable "
                 f"({reason}), got rc {rc} {out[:200]!r}")


for i in range(count):
    check(rand_value(), f"value {i} (seed {seed})")
for n in (1, 50, 300, 420):
    check(deep(n), f"nesting {n}")
check([list(range(1500)), {str(i): i for i in range(1000)},
       set(range(2000))], "batches")
check(["x" * 70000, b"y" * 70000, bytearray(b"z" * 65536)], "big payloads")

check(complex(1, 2), "complex")
check(datetime.datetime(2024, 1, 2, 3, 4, 5), "datetime")
check_refused(Thing(), "class instance", "would import")
check_refused("\ud83d\ude00", "surrogate pair as two characters",
              "surrogate pair")

# bytes, bytearray, set and frozenset through every protocol's form
for v in (b"", b"a", b"\x00\xff" * 40, b"z" * 300, bytearray(),
          bytearray(b"\x80"), bytearray(b"\xff\x00" * 200), set(), {1},
          {b"", b"x", (1, b"y")}, frozenset(), frozenset({frozenset({2})}),
          [b"s", b"s", bytearray(b"t"), {b"s"}, frozenset({b"s"})],
          {"\ud800": ["\udfff", "a\udc80\ud800b"], "k": "\U0001F600"}):
    check(v, f"constructor form {v!r}"[:80])
for v in ("\ud800", ["ok", "a\udc80b"], {"\udc00\ud800": "\udbff"}):
    check(v, f"lone surrogates {v!r}")

# The constructors used otherwise, and other globals: not decodable.
for ctor in (set, frozenset, bytes, bytearray):
    check_refused(ctor, f"the class {ctor.__name__}", "used as a value")
    check_refused([ctor, 1], f"the class {ctor.__name__} in a list",
                  "used as a value")
check_refused(eval, "builtins.eval", "would import")
check_refused(eval, "builtins.eval", ".eval")
for data, reason in HOSTILE:
    rc, out, _ = run("decode", data)
    if rc != 3 or reason.encode() not in out:
        fail(f"hostile {data!r}: expected not decodable ({reason}), "
             f"got rc {rc} {out[:200]!r}")
if np is not None:
    check(np.arange(6).reshape(2, 3), "numpy array")
    obj = np.array([1, "a"], dtype=object)
    check_refused(obj, "object array", "is not a plain one")
    check_refused(np.array([(1, 2.0)], dtype="i4,f8"), "structured array",
                  "is not a plain one")
    check_refused(np.array(["2024-01-02"], dtype="M8[D]"), "datetime64",
                  "is not a plain one")
    for proto in (2, 5):
        # A shape far past the buffer, and one whose size overflows.
        good = pickle.dumps(np.zeros(3), proto)
        for shape, why in (
                (b"\x8a\x06\x00\x10\xa5\xd4\xe8\x00\x85",
                 b"ask for 8000000000000"),
                (b"\x8a\x08" + (2**62).to_bytes(8, "little") + b"\x8a\x08" +
                 (2**62).to_bytes(8, "little") + b"\x86", b"not decodable")):
            rc, out, _ = run("decode", good.replace(b"K\x03\x85", shape))
            if rc != 3 or why not in out:
                fail(f"numpy shape {shape!r}, protocol {proto}: rc {rc} "
                     f"{out[:200]!r}")
else:
    print("numpy missing: its check skipped")

# Nesting past the limit is refused, not crashed on.
rc, out, _ = run("decode", pickle.dumps(deep(1200), 5))
if rc != 3 or b"deeper" not in out:
    fail(f"nesting 1200: rc {rc} {out[:200]!r}")

print(f"{count} random values, seed {seed}: {failures} failures")
sys.exit(1 if failures else 0)
