"""Python's everyday types for the value tests (tests/pickle-ref.py,
tests/values-types.py): random ones, their tagged forms of doc/values.md
read back into Python on their own, and equality type for type.

The types: datetime, date, time, timedelta and timezone; Decimal; UUID;
complex; OrderedDict, Counter, defaultdict and deque; numpy arrays and
scalars of the plain dtypes; pandas' Timestamp, Timedelta and NaT.
"""
import base64
import collections
import datetime as dt
import decimal
import math
import pickle
import re
import uuid

try:
    import numpy as np
except ImportError:  # the tests that need it say so
    np = None
try:
    import pandas as pd
except ImportError:
    pd = None

# --- random values ---------------------------------------------------------

DECIMALS = ["0", "-0", "1.10", "3.14159265358979323846264338327950288",
            "NaN", "-NaN", "sNaN", "Infinity", "-Infinity", "1E+3", "1e-7",
            "-1.5E-10", "123456789012345678901234567890.000", "0.000001",
            "5E-1000000", "-7.000E+999"]

DTYPES = ["?", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4",
          "f8", "c8", "c16", ">i4", ">f8", ">c16", "U3", "S4", "U1"]

FACTORIES = [None, list, dict, int, set, str, float, tuple, bytes]


def rand_tz(r):
    k = r.randrange(4)
    if k == 0:
        return None
    if k == 1:
        return dt.timezone.utc
    minutes = r.randrange(-1439, 1440)
    secs = r.choice([0, 0, 0, r.randrange(60)])
    return dt.timezone(dt.timedelta(minutes=minutes, seconds=secs))


def rand_datetime(r):
    return dt.datetime(r.randrange(1, 10000), r.randrange(1, 13),
                       r.randrange(1, 29), r.randrange(24), r.randrange(60),
                       r.randrange(60),
                       r.choice([0, r.randrange(1000000)]), rand_tz(r))


def rand_time(r):
    return dt.time(r.randrange(24), r.randrange(60), r.randrange(60),
                   r.choice([0, r.randrange(1000000)]), rand_tz(r))


def rand_timedelta(r):
    return r.choice([
        dt.timedelta(0), dt.timedelta.max, dt.timedelta.min,
        dt.timedelta(days=r.randrange(-999999999, 1000000000),
                     seconds=r.randrange(86400),
                     microseconds=r.randrange(1000000)),
        dt.timedelta(seconds=r.uniform(-1e6, 1e6))])


def rand_hashable_everyday(r):
    """One of the new types that can be a dict key or a set element."""
    k = r.randrange(6)
    if k == 0:
        return rand_datetime(r)
    if k == 1:
        return rand_datetime(r).date()
    if k == 2:
        return rand_time(r)
    if k == 3:
        return rand_timedelta(r)
    if k == 4:
        return uuid.UUID(int=r.getrandbits(128))
    return dt.timezone(dt.timedelta(minutes=r.randrange(-1439, 1440)))


def rand_array(r):
    dtype = np.dtype(r.choice(DTYPES))
    shape = r.choice([(), (0,), (r.randrange(1, 6),),
                      (r.randrange(4), r.randrange(4)),
                      (2, r.randrange(3), 2)])
    n = int(np.prod(shape, dtype=np.int64))
    if dtype.kind == "b":
        items = [r.random() < 0.5 for _ in range(n)]
    elif dtype.kind in "iu":
        info = np.iinfo(dtype)
        items = [r.choice([int(info.min), int(info.max), 0,
                           r.randrange(int(info.min), int(info.max) + 1)])
                 for _ in range(n)]
    elif dtype.kind == "f":
        items = [r.choice([0.0, -0.0, math.nan, math.inf, 1.5,
                           r.uniform(-1e4, 1e4)]) for _ in range(n)]
    elif dtype.kind == "c":
        items = [complex(r.uniform(-9, 9), r.choice([-0.0, 2.5, math.nan]))
                 for _ in range(n)]
    elif dtype.kind == "U":
        items = ["".join(r.choice("ab\xe9\u20ac\U0001F600")
                         for _ in range(r.randrange(dtype.itemsize // 4 + 1)))
                 for _ in range(n)]
    else:
        items = [bytes(r.randrange(1, 256)
                       for _ in range(r.randrange(dtype.itemsize + 1)))
                 for _ in range(n)]
    a = np.array(items, dtype=dtype).reshape(shape)
    if len(shape) > 1 and r.random() < 0.4:
        a = np.asfortranarray(a)
    return a


def rand_npscalar(r):
    a = rand_array(r)
    while a.size == 0:
        a = rand_array(r)
    return a.flat[0]


def rand_pandas(r):
    k = r.randrange(4)
    if k == 0:
        return pd.NaT
    if k == 1:
        return pd.Timedelta(r.choice([r.randrange(-2**63 + 1, 2**63),
                                      r.randrange(-10**15, 10**15)]))
    ns = r.choice([r.randrange(-2**63 + 1, 2**63),
                   r.randrange(-9 * 10**15, 9 * 10**15) * 1000,
                   r.randrange(-9 * 10**9, 9 * 10**9) * 10**9])
    tz = rand_tz(r)
    if tz is not None:
        # within the range once the offset moves it
        ns = max(-2**63 + 2 * 86400 * 10**9, min(ns, 2**63 - 2 * 86400 * 10**9))
    return pd.Timestamp(ns, tz=tz)


def rand_everyday(r, value, key):
    """A random value of one of the new types; value(r) makes the builtin
    values held by the collections, key(r) their str or int keys."""
    # (pandas needs numpy)
    k = r.randrange(13 if np is None else 15 if pd is None else 16)
    if k == 15:
        return rand_pandas(r)
    if k < 6:
        return rand_hashable_everyday(r)
    if k == 6:
        return decimal.Decimal(r.choice(DECIMALS))
    if k == 7:
        return complex(r.choice([0.0, -0.0, 1.5, math.nan, math.inf]),
                       r.uniform(-1e9, 1e9))
    n = r.randrange(4)
    if k == 8:
        return collections.OrderedDict((key(r), value(r)) for _ in range(n))
    if k == 9:
        return collections.Counter({key(r): r.randrange(-5, 50)
                                    for _ in range(n)})
    if k == 10:
        return collections.defaultdict(r.choice(FACTORIES),
                                       {key(r): value(r) for _ in range(n)})
    if k in (11, 12):
        items = [value(r) for _ in range(n)]
        if r.random() < 0.5:
            return collections.deque(items)
        return collections.deque(items, maxlen=n + r.randrange(3))
    if k == 13:
        return rand_array(r)
    return rand_npscalar(r)


# --- the tagged forms read back --------------------------------------------

def parse_offset(s):
    sign = -1 if s[0] == "-" else 1
    hh, mm, *rest = s[1:].split(":")
    secs = float(rest[0]) if rest else 0.0
    return dt.timezone(sign * dt.timedelta(hours=int(hh), minutes=int(mm),
                                           seconds=secs))


FACTORY_NAMES = {f.__name__: f for f in FACTORIES if f is not None}


def untag_everyday(k, p, untag):
    """The Python value of tag k with payload p, or raise KeyError for a tag
    not of the new types; untag reads the payloads' own values."""
    if k == "$datetime":
        return dt.datetime.fromisoformat(p)
    if k == "$date":
        return dt.date.fromisoformat(p)
    if k == "$time":
        return dt.time.fromisoformat(p)
    if k == "$timezone":
        return parse_offset(p)
    if k == "$timedelta":
        return dt.timedelta(days=p["days"], seconds=p["seconds"],
                            microseconds=p["microseconds"])
    if k == "$decimal":
        return decimal.Decimal(p)
    if k == "$uuid":
        return uuid.UUID(p)
    if k == "$complex":
        return complex(untag(p[0]), untag(p[1]))
    if k == "$odict":
        return collections.OrderedDict(untag(p))
    if k == "$counter":
        return collections.Counter(untag(p))
    if k == "$defaultdict":
        return collections.defaultdict(
            None if p[0] is None else FACTORY_NAMES[p[0]], untag(p[1]))
    if k == "$deque":
        if isinstance(p, list):
            return collections.deque(untag(p))
        return collections.deque(untag(p["items"]), maxlen=p["maxlen"])
    if k == "$ndarray":
        dtype = np.dtype(p["dtype"])
        data = untag(p["data"])
        a = np.array(data, dtype=dtype).reshape(p["shape"])
        return np.asfortranarray(a) if p.get("order") == "F" else a
    if k == "$npscalar":
        return np.array(untag(p["value"]), dtype=np.dtype(p["dtype"]))[()]
    if k == "$pdtimestamp":
        if p == "NaT":
            return pd.NaT
        # the fraction's nanoseconds apart: datetime reads the rest
        m = re.match(r"(.*T..:..:..)(?:\.([0-9]+))?(.*)\Z", p)
        base = dt.datetime.fromisoformat(m.group(1) + m.group(3))
        return pd.Timestamp(base) + pd.Timedelta(
            int((m.group(2) or "").ljust(9, "0")), "ns")
    if k == "$pdtimedelta":
        return pd.Timedelta(days=p["days"], seconds=p["seconds"],
                            nanoseconds=p["nanoseconds"])
    raise KeyError(k)


# --- equality, type for type -----------------------------------------------

def same_float(a, b):
    if math.isnan(a):
        return math.isnan(b)
    return a == b and math.copysign(1, a) == math.copysign(1, b)


def same_array(a, b):
    """Same dtype (the byte order aside: numpy reads a big-endian array
    back as it pleases), shape, Fortran order and bytes."""
    if a.dtype.newbyteorder("<") != b.dtype.newbyteorder("<"):
        return False
    if a.shape != b.shape:
        return False
    if a.ndim > 1 and a.size > 1 and (
            a.flags.f_contiguous and not a.flags.c_contiguous) != (
            b.flags.f_contiguous and not b.flags.c_contiguous):
        return False
    little = a.dtype.newbyteorder("<")
    return (a.astype(little).tobytes("A") == b.astype(little).tobytes("A"))


def same_everyday(a, b, same):
    """For a and b of the same type: None when that type is not one of the
    new ones, else whether they are the same value; same compares what the
    collections hold."""
    if pd is not None and a is pd.NaT:
        return b is pd.NaT
    if isinstance(a, (dt.datetime, dt.time)):
        return (a == b and a.utcoffset() == b.utcoffset() and
                (a.tzinfo is None) == (b.tzinfo is None) and
                a.fold == b.fold and
                (not isinstance(a, dt.datetime) or
                 a.replace(tzinfo=None) == b.replace(tzinfo=None)))
    if isinstance(a, (dt.date, dt.timedelta, dt.timezone, uuid.UUID)):
        return a == b
    if isinstance(a, decimal.Decimal):
        return str(a) == str(b)
    if isinstance(a, complex):
        return same_float(a.real, b.real) and same_float(a.imag, b.imag)
    if isinstance(a, collections.defaultdict):
        if a.default_factory is not b.default_factory:
            return False
        return same(dict(a), dict(b))
    if isinstance(a, (collections.OrderedDict, collections.Counter)):
        return same(dict(a), dict(b))
    if isinstance(a, collections.deque):
        return a.maxlen == b.maxlen and same(list(a), list(b))
    if np is not None and isinstance(a, np.ndarray):
        return same_array(a, b)
    if np is not None and isinstance(a, np.generic):
        return same_array(np.asarray(a), np.asarray(b))
    return None


def untag(j):
    """The Python value of blt's text form j (doc/values.md), tags of the
    builtins and of the everyday types read back."""
    if isinstance(j, list):
        return [untag(x) for x in j]
    if not isinstance(j, dict):
        return j
    if len(j) == 1:
        (k, v), = j.items()
        if k == "$int":
            return int(v)
        if k == "$float":
            return float(v)
        if k == "$bytes":
            return base64.b64decode(v, validate=True)
        if k == "$bytearray":
            return bytearray(base64.b64decode(v, validate=True))
        if k == "$tuple":
            return tuple(untag(x) for x in v)
        if k == "$set":
            return set(untag(x) for x in v)
        if k == "$frozenset":
            return frozenset(untag(x) for x in v)
        if k == "$dict":
            return {untag(a): untag(b) for a, b in v}
        if k == "$undecodable":
            raise AssertionError("not decodable: %r" % v["why"])
        if k.startswith("$"):
            return untag_everyday(k, v, untag)
    return {k: untag(v) for k, v in j.items()}


def same(a, b):
    """Equal, type for type: tuple is not list, True not 1, -0.0 not 0.0,
    NaN is NaN, dicts in the same order, an OrderedDict stays one, an
    aware datetime keeps its offset, an array its dtype, shape and
    order."""
    if type(a) is not type(b):
        return False
    s = same_everyday(a, b, same)
    if s is not None:
        return s
    if isinstance(a, float):
        return same_float(a, b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return (list(a.keys()) == list(b.keys()) and
                all(same(a[k], b[k]) for k in a) and
                all(same(x, y) for x, y in zip(a.keys(), b.keys())))
    return a == b


# --- hostile pickles --------------------------------------------------------

# Pickles that would run something, or that name a constructor the
# decoder knows with other arguments than CPython writes for a value, with
# what the decoder of blt says of each (tests/pickle-ref.py); the worker
# refuses each too (tests/map-worker.sh).
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
    # The everyday types' constructors with other arguments.
    (b"\x80\x03cdatetime\ndatetime\nC\x09\x07\xe8\x01\x02\x03\x04\x05\x00"
     b"\x00\x85R.", "would call datetime.datetime with other arguments"),
    (b"\x80\x02cdatetime\ndatetime\nM\xe8\x07K\x01K\x02\x87R.",
     "would call datetime.datetime with other arguments"),
    (b"\x80\x03cdatetime\ndate\nC\x04\x07\xe8\x02\x1e\x85R.",
     "datetime.date at offset 24 is out of range"),
    (b"\x80\x03cdatetime\ndatetime\nC\x0a\x07\xe8\x01\x02\x03\x04\x05\x00"
     b"\x00\x00cuuid\nUUID\n)\x81\x86R.", "a tzinfo other than"),
    (b"\x80\x02cdatetime\ntimedelta\nJ\x00\xca\x9a\x3bK\x00K\x00\x87R.",
     "out of their ranges"),
    (pickle.dumps(dt.timezone(dt.timedelta(hours=1), "CET"), 4),
     "has a name"),
    (pickle.dumps(dt.datetime(2024, 1, 1, fold=1), 5), "fold=1"),
    (b"\x80\x02cdecimal\nDecimal\nX\x03\x00\x00\x00abc\x85R.",
     "a text str() does not write"),
    (b"\x80\x02cdecimal\nDecimal\nX\x03\x00\x00\x001.0\x85R}b.",
     "opcode BUILD (b) at offset 30 would set the state"),
    (b"\x80\x02cuuid\nUUID\n)\x81}X\x03\x00\x00\x00intX\x01\x00\x00\x00xsb.",
     "another state than {'int': a 128-bit int}"),
    (b"\x80\x02cuuid\nUUID\n)\x81}X\x03\x00\x00\x00int\x8a\x11" +
     b"\x01" * 17 + b"sb.", "another state than {'int': a 128-bit int}"),
    (b"\x80\x02c__builtin__\ncomplex\nX\x01\x00\x00\x001\x85R.",
     "would call __builtin__.complex with other arguments"),
    (b"\x80\x02ccollections\ndefaultdict\ncos\nsystem\n\x85R.",
     "would import os.system"),
    (b"\x80\x02ccollections\ndefaultdict\ncbuiltins\neval\n\x85R.",
     "would import builtins.eval"),
    (b"\x80\x02ccollections\ndefaultdict\ncuuid\nUUID\n\x85R.",
     "would call collections.defaultdict with other arguments"),
    (b"\x80\x02ccollections\ndeque\n]J\xff\xff\xff\xff\x86R.",
     "would call collections.deque with other arguments"),
    (b"\x80\x02ccollections\nOrderedDict\n]]K\x01a\x85R.",
     "would call an object"),
    (b"\x80\x02cnumpy\ndtype\nX\x02\x00\x00\x00O8\x89\x88\x87R.",
     "is not a plain one"),
    (b"\x80\x02cnumpy\ndtype\nX\x03\x00\x00\x00f8x\x89\x88\x87R.",
     "is not a plain one"),
    (b"\x80\x03cnumpy.core.multiarray\n_reconstruct\ncnumpy\ndtype\nK\x00"
     b"\x85C\x01b\x87R.",
     "would call numpy.core.multiarray._reconstruct with other arguments"),
    (b"\x80\x03cnumpy.core.multiarray\nscalar\ncnumpy\ndtype\nX\x02\x00\x00"
     b"\x00f8\x89\x88\x87RC\x03abc\x86R.",
     "would call numpy.core.multiarray.scalar with other arguments"),
    # pandas' with other arguments, and a Timestamp no ISO text holds
    (b"\x80\x02cpandas._libs.tslibs.timedeltas\n_timedelta_unpickle\nK\x01"
     b"K\x05\x86R.", "other arguments than pandas writes"),
    (b"\x80\x02cpandas._libs.tslibs.nattype\n__nat_unpickle\nK\x01\x85R.",
     "other arguments than pandas writes"),
    (b"\x80\x02cpandas._libs.tslibs.timestamps\n_unpickle_timestamp\n(K\x01"
     b"K\x02NK\ntR.", "an int64 and no frequency"),
    (b"\x80\x02cpandas._libs.tslibs.timestamps\n_unpickle_timestamp\n(\x8a"
     b"\x08\xff\xff\xff\xff\xff\xff\xff\x7fNNK\x07tR.", "outside years 1 to 9999"),
]
