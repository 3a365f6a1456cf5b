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
Objects Python pickles through other globals (complex, datetime, a class
instance, a numpy array), those constructors used otherwise (called with
other arguments, pickled as a value), hand-made hostile pickles (builtins
eval, os system) and a surrogate pair held as two characters (which JSON
text would read back as one) must be not decodable, with a reason.  Prints
one line per failure; exits 1 if any.
"""
import base64
import datetime
import json
import math
import pickle
import random
import re
import subprocess
import sys

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
    k = rng.randrange(7)
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
    k = rng.randrange(16 if depth < 6 else 7)
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


# --- the tagged form read back, and equality with types --------------------

def untag(j):
    if isinstance(j, list):
        return [untag(x) for x in j]
    if isinstance(j, dict):
        if len(j) == 1:
            (k, v), = j.items()
            if k == "$int":
                return int(v)
            if k == "$float":
                return float(v)
            if k == "$bytes":
                return base64.b64decode(v)
            if k == "$bytearray":
                return bytearray(base64.b64decode(v))
            if k == "$tuple":
                return tuple(untag(x) for x in v)
            if k == "$set":
                return set(untag(x) for x in v)
            if k == "$frozenset":
                return frozenset(untag(x) for x in v)
            if k == "$dict":
                return {untag(a): untag(b) for a, b in v}
            if k.startswith("$"):
                raise ValueError("unknown tag " + k)
        return {k: untag(v) for k, v in j.items()}
    return j


def same(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if math.isnan(a):
            return math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return (list(a.keys()) == list(b.keys()) and
                all(same(a[k], b[k]) for k in a) and
                all(same(x, y) for x, y in zip(a.keys(), b.keys())))
    if isinstance(a, (set, frozenset)):
        return a == b
    return a == b


def has_set(v):
    if isinstance(v, (set, frozenset)):
        return True
    if isinstance(v, (list, tuple)):
        return any(has_set(x) for x in v)
    if isinstance(v, dict):
        return any(has_set(k) or has_set(x) for k, x in v.items())
    return False


def unshare(v):
    """v with no object shared but those CPython always shares (the empty
    and one-character Latin-1 str, the empty and one-byte bytes), so that
    pickle.dumps memoizes as our encoder does."""
    if isinstance(v, str):
        return "".join(list(v)) if len(v) > 1 else v
    if isinstance(v, bytes):
        return bytes(bytearray(v)) if len(v) > 1 else v
    if isinstance(v, bytearray):
        return bytearray(v)
    if isinstance(v, list):
        return [unshare(x) for x in v]
    if isinstance(v, tuple):
        return tuple(unshare(x) for x in v)
    if isinstance(v, dict):
        return {unshare(k): unshare(x) for k, x in v.items()}
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
        elif not has_set(v) and pk != pickle.dumps(unshare(v), 5):
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

check_refused(complex(1, 2), "complex", "would import")
check_refused(datetime.datetime(2024, 1, 2, 3, 4, 5), "datetime",
              "would import")
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
HOSTILE = [
    (b"cbuiltins\nset\n(K\x01tR.", "would call builtins.set with other"),
    (b"c__builtin__\nset\n(S'ab'\ntR.", "would call __builtin__.set"),
    (b"\x80\x04\x8c\x08builtins\x8c\tfrozenset\x93]]\x86R.",
     "would call builtins.frozenset with other"),
    (b"c_codecs\nencode\n(Vab\nVutf-8\ntR.",
     "would call _codecs.encode with other"),
    (b"c_codecs\nencode\n(V\\u0100\nVlatin1\ntR.", "beyond Latin-1"),
    (b"cbuiltins\nbytes\n(K\x05tR.", "would call builtins.bytes with other"),
    (b"cbuiltins\nset\n0N.", "never called"),
    (b"\x80\x03c__builtin__\nset\n]\x85R.", "would import __builtin__.set"),
    (b"cbuiltins\neval\n(S'1+1'\ntR.", "would import builtins.eval"),
    (b"cos\nsystem\n(S'true'\ntR.", "would import os.system"),
    (b"\x80\x04\x8c\x02os\x8c\x06system\x93\x8c\x04true\x85R.",
     "would import os.system"),
    (b"cbuiltins\nset\n]\x85R}b.", "opcode BUILD"),
]
for data, reason in HOSTILE:
    rc, out, _ = run("decode", data)
    if rc != 3 or reason.encode() not in out:
        fail(f"hostile {data!r}: expected not decodable ({reason}), "
             f"got rc {rc} {out[:200]!r}")
try:
    import numpy
    check_refused(numpy.arange(6).reshape(2, 3), "numpy array",
                  "would import")
except ImportError:
    print("numpy missing: its check skipped")

# Nesting past the limit is refused, not crashed on.
rc, out, _ = run("decode", pickle.dumps(deep(1200), 5))
if rc != 3 or b"deeper" not in out:
    fail(f"nesting 1200: rc {rc} {out[:200]!r}")

print(f"{count} random values, seed {seed}: {failures} failures")
sys.exit(1 if failures else 0)
