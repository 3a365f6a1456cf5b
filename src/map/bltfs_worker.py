"""A map worker in Python for `blt map --worker` and `bltfs ctl MOUNT map
--worker` (doc/map.md, "The worker protocol").

Write a function of a key and a value and hand it to serve():

    from bltfs_worker import serve

    def f(key, value):
        return key, value.upper()   # or a value (same key), or None (skip)

    serve(f)

and run it as `blt map --worker 'python3 myworker.py' STORE`, or serve a
function of a module without a script: `blt map --worker 'python3 -m
bltfs_worker mymod:f' STORE` (`python3 -m bltfs_worker --help`).  Each worker
of the map runs one such process for the whole map.  The key and the value
arrive as the Python booklet gives them: decoded with the store's key and
value serializers (pickle, json, orjson, msgpack, str, integers, numpy,
zstd ...), which the header of the protocol names, and the result is
encoded back with the serializers of the store it goes to.  Return:

  - (new_key, new_value): store new_value under new_key (the Python
    booklet's map() plan; --to then makes the key from new_key);
  - any other value: store it under the same key (to store a 2-tuple as a
    value, return (key, the_tuple));
  - None: leave the item as it is (skipped).

Pickles are read as data, never executed: a pickle may build None, bool,
int, float, str, bytes, bytearray, list, tuple, dict, set and frozenset,
and Python's everyday types (datetime, date, time, timedelta, timezone,
Decimal, UUID, complex, OrderedDict, Counter, defaultdict, deque, numpy
arrays and scalars of plain dtypes, pandas Timestamp, Timedelta and NaT),
as the decoder of blt does
(doc/values.md, "Pickle safety"): f gets the real objects.  One that would
import anything else (a class, a function: fractions.Fraction, os.system),
or call those constructors with other arguments than CPython writes, fails
its item with the name.  pd_zstd and gpd_zstd values
are read with pyarrow 14.0.1 or later only, which does not unpickle.
serve(f, trust_pickles=True) unpickles with Python's pickle as the Python
booklet does, which runs whatever a pickle names, and takes any pyarrow:
only for a store whose every writer you trust.

An exception fails that item only, with its type and message; the worker
goes on.  With --decode the value is the text blt shows (a str) and the
result is text too (str or bytes), which blt encodes back.

This module needs only the Python standard library, plus the package a
serializer needs (msgpack, orjson, zstandard, numpy ...) when the store
uses it; it does not need booklet.  print() goes to stderr: stdout carries
the protocol.
"""

import codecs
import io
import os
import pickle
import json
import re
import struct
import sys

VERSION = 2
_HDR = struct.Struct("<4sII")  # magic, version, length
_ITEM = struct.Struct("<III")  # id, key length, value length
_REPLY = struct.Struct("<IIII")  # id, kind, key length, value length
_WRITE, _SKIP, _ERROR, _VALUE = 0, 1, 2, 3


def _zstd():
    import zstandard

    return zstandard


def _np(dtype, compressed=False):
    def loads(b):
        import numpy

        if compressed:
            b = _zstd().decompress(b)
        return numpy.frombuffer(b, dtype)

    def dumps(a):
        b = a.astype(dtype).tobytes()
        return _zstd().compress(b, 1) if compressed else b

    return loads, dumps


def _int(width, signed):
    return (
        lambda b: int.from_bytes(b, "little", signed=signed),
        lambda v: int(v).to_bytes(width, "little", signed=signed),
    )


def _orjson_dumps(obj):
    import orjson

    return orjson.dumps(
        obj,
        option=orjson.OPT_NON_STR_KEYS
        | orjson.OPT_OMIT_MICROSECONDS
        | orjson.OPT_SERIALIZE_NUMPY,
    )


def _orjson_loads(b):
    import orjson

    return orjson.loads(b)


def _msgpack_loads(b):
    import msgpack

    return msgpack.loads(b)


def _msgpack_dumps(obj):
    import msgpack

    return msgpack.dumps(obj)


def _pyarrow_reads_data():
    """Refuse a pyarrow that unpickles a file's extension types: before
    14.0.1 it ran whatever such a type's pickle names (CVE-2023-47248)."""
    import pyarrow

    v = pyarrow.__version__
    have = tuple(int(x) for x in re.findall(r"\d+", v)[:3])
    if have < (14, 0, 1):
        raise pickle.UnpicklingError(
            "pyarrow %s unpickles the extension types of a feather value "
            "(CVE-2023-47248): refused; pyarrow 14.0.1 or later reads it as "
            "data (or serve(f, trust_pickles=True))" % v
        )


def _feather(kind, trusted=False):
    def loads(b):
        if not trusted:
            _pyarrow_reads_data()
        if kind == "gpd":
            import geopandas as mod
        else:
            import pandas as mod
        return mod.read_feather(io.BytesIO(memoryview(b)))

    def dumps(df):
        f = io.BytesIO()
        df.to_feather(f, compression="zstd", compression_level=1)
        return f.getvalue()

    return loads, dumps


def _wkb(compressed):
    def loads(b):
        import shapely.wkb

        return shapely.wkb.loads(_zstd().decompress(b) if compressed else b)

    def dumps(g):
        import shapely.wkb

        b = shapely.wkb.dumps(g)
        return _zstd().compress(b, 1) if compressed else b

    return loads, dumps


def _refuse(name, args):
    raise pickle.UnpicklingError(
        "pickle calls %s with arguments %s, which CPython does not write "
        "for a value: refused" % (name, tuple(type(a).__name__ for a in args))
    )


def _fits(args, shape):
    """args of the types (object: any, checked after) or values of shape."""
    return len(args) == len(shape) and all(
        (want is object or type(a) is want) if isinstance(want, type) else a in want
        for a, want in zip(args, shape)
    )


class _Ctor:
    """A constructor a pickle may name: called only with the arguments
    CPython writes for it (shapes: tuples of types, or of types and exact
    values; check: a test of the arguments themselves).  factory is the
    type a defaultdict may hold it as, if any."""

    def __init__(self, name, make, *shapes, check=None, factory=None):
        self.name, self.make, self.shapes = name, make, shapes
        self.check, self.factory = check, factory

    def __call__(self, *args):
        if any(_fits(args, s) for s in self.shapes) and (
            self.check is None or self.check(*args)
        ):
            return self.make(*args)
        _refuse(self.name, args)


_LATIN1 = ("latin1", "latin-1")
_ENCODE = _Ctor("_codecs.encode", codecs.encode, (str, _LATIN1))


# --- datetime, decimal, uuid, complex, collections (doc/values.md) ----------

def _dt():
    import datetime

    return datetime


def _tz_ok(*args):
    return len(args) < 2 or type(args[-1]) is _dt().timezone


def _fields_ok(state):
    """Whether the fields of a date's, datetime's or time's state are in
    their ranges: Python checks only the month and the hour of a state,
    and would make a February 30 of one."""
    b = state
    try:
        if len(b) == 6:  # time: hour (its top bit the fold), minute ...
            _dt().time(b[0] & 0x7F, b[1], b[2], b[3] << 16 | b[4] << 8 | b[5])
        else:  # date, datetime: year, month (its top bit the fold) ...
            _dt().datetime(b[0] << 8 | b[1], b[2] & 0x7F, b[3], *(
                (b[4], b[5], b[6], b[7] << 16 | b[8] << 8 | b[9]) if len(b) == 10 else ()))
    except ValueError:
        return False
    return True


def _sized(n):
    return lambda state, *tz: len(state) == n and _tz_ok(state, *tz) and _fields_ok(state)


def _decimal(text):
    import decimal

    return decimal.Decimal(text)


def _factory(f):
    if f is None:
        return None
    if isinstance(f, _Ctor) and f.factory is not None:
        return f.factory
    raise pickle.UnpicklingError(
        "pickle gives a defaultdict the factory %r, not a builtin type or a "
        "collections class: refused" % (f,)
    )


def _collections():
    import collections

    return collections


def _deque(*args):
    if args == ():
        return _collections().deque()
    if len(args) == 2 and args[0] in ((), []) and type(args[1]) is int and args[1] >= 0:
        return _collections().deque((), args[1])
    _refuse("collections.deque", args)


def _defaultdict(*args):
    if len(args) > 1:
        _refuse("collections.defaultdict", args)
    return _collections().defaultdict(_factory(args[0]) if args else None)


class _Pending:
    """What a pickle builds in two steps (a REDUCE or NEWOBJ, then a BUILD
    of its state) before it is whole; the unpickler counts them
    (_DataUnpickler.load): one never made whole refuses the pickle."""

    __slots__ = ()

    def _built(self):
        _local.pending -= 1


class _UUID(__import__("uuid").UUID):
    """A uuid.UUID until its BUILD: the state is checked, then the object
    becomes a uuid.UUID (the same layout: no slots of its own)."""

    __slots__ = ()

    def __new__(cls, *args):
        _local.pending += 1
        return object.__new__(cls)

    def __setstate__(self, state):
        import uuid

        if not (
            type(state) is dict
            and type(state.get("int")) is int
            and 0 <= state["int"] < 1 << 128
            and set(state) <= {"int", "is_safe"}
            and state.get("is_safe", 0) in (0, -1, None)
        ):
            raise pickle.UnpicklingError(
                "pickle gives a uuid.UUID another state than {'int': a "
                "128-bit int}: refused"
            )
        object.__setattr__(self, "int", state["int"])
        object.__setattr__(self, "is_safe", uuid.SafeUUID(state.get("is_safe")))
        object.__setattr__(self, "__class__", uuid.UUID)
        _local.pending -= 1


_OBJECT = _Ctor("builtins.object", None)


def _reconstructor(cls, base, state):
    """copyreg._reconstructor(uuid.UUID, object, None): a UUID of
    protocols 0 and 1."""
    if cls is not _UUID or base is not _OBJECT or state is not None:
        _refuse("copyreg._reconstructor", (cls, base, state))
    return _UUID.__new__(_UUID)


# --- numpy: arrays and scalars of plain dtypes ------------------------------

_PLAIN_DTYPE = re.compile(r"(b1|[iu][1248]|f[248]|c(8|16)|[US](0|[1-9][0-9]{0,7}))\Z")


def _numpy_core():
    """numpy's core, which numpy 2 names numpy._core."""
    try:
        import numpy._core.multiarray as ma
        import numpy._core.numeric as nu
    except ImportError:
        import numpy.core.multiarray as ma
        import numpy.core.numeric as nu
    return ma, nu


class _DType(_Pending):
    """numpy.dtype(name, False, True) until the BUILD of its state, which
    must be the one numpy writes for a plain dtype."""

    __slots__ = ("name", "dtype")

    def __init__(self, name):
        _local.pending += 1
        self.name, self.dtype = name, None

    def __setstate__(self, state):
        import numpy

        t, size = self.name[0], int(self.name[1:])
        want = (size, 1, 0) if t == "S" else (size * 4, 4, 8) if t == "U" else (-1, -1, 0)
        one = t == "S" or (t != "U" and size == 1)
        if not (
            type(state) is tuple
            and len(state) == 8
            and state[0] == 3
            and state[1] in (("|",) if one else ("<", ">"))
            and state[2:5] == (None, None, None)
            and all(type(x) is int for x in state[5:])
            and state[5:] == want
            and self.dtype is None
        ):
            raise pickle.UnpicklingError(
                "pickle gives numpy.dtype %r another state than a plain one "
                "has: refused" % self.name
            )
        self.dtype = numpy.dtype(state[1] + self.name)
        self._built()


def _dtype(name, align, copy):
    if not _PLAIN_DTYPE.match(name):
        raise pickle.UnpicklingError(
            "pickle asks for numpy.dtype %r, which is not a plain one (a bool, "
            "int, uint, float, complex, str or bytes): refused" % name
        )
    return _DType(name)


def _whole(dt, name, args):
    if type(dt) is not _DType or dt.dtype is None:
        _refuse(name, args)
    return dt.dtype


def _shape_bytes(shape, itemsize):
    n = itemsize
    if type(shape) is not tuple or len(shape) > 32 or itemsize == 0:
        return -1
    for d in shape:
        if type(d) is not int or d < 0:
            return -1
        n *= d
    return n


def _frombuffer(buf, dt, shape, order):
    name = "numpy.core.numeric._frombuffer"
    args = (buf, dt, shape, order)
    dtype = _whole(dt, name, args)
    if (
        type(buf) not in (bytes, bytearray)
        or order not in ("C", "F")
        or _shape_bytes(shape, dtype.itemsize) != len(buf)
    ):
        _refuse(name, args)
    return _numpy_core()[1]._frombuffer(buf, dtype, shape, order)


def _scalar(dt, data):
    args = (dt, data)
    dtype = _whole(dt, "numpy.core.multiarray.scalar", args)
    if type(data) is not bytes or len(data) != dtype.itemsize:
        _refuse("numpy.core.multiarray.scalar", args)
    return _numpy_core()[0].scalar(dtype, data)


class _Array(_Pending):
    """numpy.core.multiarray._reconstruct(ndarray, (0,), b'b') until the
    BUILD of (1, shape, dtype, is_fortran, data); then the array that
    takes its place in the value (_DataUnpickler.load)."""

    __slots__ = ("array",)

    def __init__(self):
        _local.pending += 1
        _local.arrays = True
        self.array = None

    def __setstate__(self, state):
        import numpy

        ok = (
            type(state) is tuple
            and len(state) == 5
            and state[0] == 1
            and type(state[2]) is _DType
            and state[2].dtype is not None
            and type(state[3]) is bool
            and type(state[4]) in (bytes, bytearray)
            and _shape_bytes(state[1], state[2].dtype.itemsize) == len(state[4])
            and self.array is None
        )
        if not ok:
            raise pickle.UnpicklingError(
                "pickle gives a numpy array another state than a plain one "
                "has: refused"
            )
        a = numpy.ndarray.__new__(numpy.ndarray, (0,), "b")
        a.__setstate__((1, state[1], state[2].dtype, state[3], state[4]))
        self.array = a
        self._built()


_NDARRAY = _Ctor("numpy.ndarray", None)


def _reconstruct(cls, shape, typecode):
    if cls is not _NDARRAY or shape != (0,) or typecode != b"b":
        _refuse("numpy.core.multiarray._reconstruct", (cls, shape, typecode))
    return _Array()


def _types(*names):
    import builtins

    return {n: _Ctor(n, None, factory=getattr(builtins, n)) for n in names}


# What data names: sets and frozensets before protocol 4, bytes before 3
# and bytearray before 5; the builtin types a defaultdict holds as its
# factory; __builtin__ is Python 2's name for builtins, which Python 3 maps
# back in protocols 0 to 2 only (long to int, unicode to str).
_BUILTINS = dict(
    _types("list", "dict", "int", "str", "float", "tuple", "bool"),
    set=_Ctor("set", set, (list,), factory=set),
    frozenset=_Ctor("frozenset", frozenset, (list,), factory=frozenset),
    bytes=_Ctor("bytes", bytes, (), factory=bytes),
    bytearray=_Ctor("bytearray", bytearray, (), (bytes,), (str, _LATIN1), factory=bytearray),
    complex=_Ctor("complex", complex, (float, float)),
    object=_OBJECT,
)
_PY2_BUILTINS = dict(_BUILTINS, long=_BUILTINS["int"], unicode=_BUILTINS["str"])


def _datetime_ctors():
    dt = _dt()
    return {
        "datetime": _Ctor("datetime.datetime", dt.datetime, (bytes,),
                          (bytes, dt.timezone), check=_sized(10)),
        "date": _Ctor("datetime.date", dt.date, (bytes,), check=_sized(4)),
        "time": _Ctor("datetime.time", dt.time, (bytes,), (bytes, dt.timezone),
                      check=_sized(6)),
        "timedelta": _Ctor("datetime.timedelta", dt.timedelta, (int, int, int)),
        "timezone": _Ctor("datetime.timezone", dt.timezone, (dt.timedelta,),
                          (dt.timedelta, str)),
    }


def _collections_ctors():
    c = _collections()
    return {
        "OrderedDict": _Ctor("collections.OrderedDict", c.OrderedDict, (),
                             factory=c.OrderedDict),
        "Counter": _Ctor("collections.Counter", c.Counter, (dict,), factory=c.Counter),
        "defaultdict": _Ctor("collections.defaultdict", _defaultdict, (), (object,)),
        "deque": _Ctor("collections.deque", _deque, (), (object, object),
                       factory=c.deque),
    }


def _numpy_ctors(module):
    core = {"_frombuffer": _Ctor("_frombuffer", _frombuffer, (object,) * 4)}
    multi = {
        "_reconstruct": _Ctor("_reconstruct", _reconstruct, (object,) * 3),
        "scalar": _Ctor("scalar", _scalar, (object, object)),
    }
    return {
        module + ".numeric": core,
        module + ".multiarray": multi,
    }


# pandas' Timestamp, Timedelta and NaT (doc/values.md): the functions of
# pandas' own, called with checked arguments.
_RESOS = (7, 8, 9, 10)  # s, ms, µs, ns


def _pandas_ctors(module):
    def call(name, check):
        def make(*args):
            import importlib

            return getattr(importlib.import_module(module), name)(*args)

        return {name: _Ctor(module + "." + name, make, (object,) * 2,
                            (object,) * 3, (object,) * 4, check=check)}

    if module.endswith("timestamps"):
        return call("_unpickle_timestamp", lambda v, freq=None, tz=None, reso=10, *more: (
            type(v) is int and freq is None and not more
            and (tz is None or type(tz) is _dt().timezone)
            and type(reso) is int and reso in _RESOS))
    if module.endswith("timedeltas"):
        return call("_timedelta_unpickle", lambda v, reso=None, *more: (
            type(v) is int and type(reso) is int and reso in _RESOS and not more))
    return {"__nat_unpickle": _Ctor(module + ".__nat_unpickle", lambda _: __import__(
        "pandas").NaT, ((None,),))}


_MODULES = {
    "datetime": _datetime_ctors,
    "decimal": lambda: {"Decimal": _Ctor("decimal.Decimal", _decimal, (str,))},
    "uuid": lambda: {"UUID": _UUID},
    "collections": _collections_ctors,
    "copyreg": lambda: {"_reconstructor": _reconstructor},
    "numpy": lambda: {"dtype": _Ctor("numpy.dtype", _dtype, (str, (False,), (True,))),
                      "ndarray": _NDARRAY},
    "numpy.core.numeric": lambda: _numpy_ctors("numpy.core")["numpy.core.numeric"],
    "numpy.core.multiarray": lambda: _numpy_ctors("numpy.core")["numpy.core.multiarray"],
    "numpy._core.numeric": lambda: _numpy_ctors("numpy._core")["numpy._core.numeric"],
    "numpy._core.multiarray": lambda: _numpy_ctors("numpy._core")["numpy._core.multiarray"],
    "pandas._libs.tslibs.timestamps": lambda: _pandas_ctors("pandas._libs.tslibs.timestamps"),
    "pandas._libs.tslibs.timedeltas": lambda: _pandas_ctors("pandas._libs.tslibs.timedeltas"),
    "pandas._libs.tslibs.nattype": lambda: _pandas_ctors("pandas._libs.tslibs.nattype"),
}
_TABLES = {}


def _table(module):
    t = _TABLES.get(module)
    if t is None and module in _MODULES:
        t = _TABLES[module] = _MODULES[module]()
    return t


_local = __import__("threading").local()


def _unpending(v, seen):
    """v with each _Array replaced by its array (and a _DType left as a
    value by its dtype), through the containers a pickle builds."""
    t = type(v)
    if t is _Array:
        return v.array
    if t is _DType:
        return v.dtype
    if t in (list, dict, tuple, set, frozenset) or isinstance(
        v, (_collections().deque, dict)
    ):
        if id(v) in seen:
            return v
        seen[id(v)] = v
    else:
        return v
    if isinstance(v, dict):
        for k in v:
            v[k] = _unpending(v[k], seen)
    elif isinstance(v, list) or isinstance(v, _collections().deque):
        for i, x in enumerate(v):
            v[i] = _unpending(x, seen)
    elif t is tuple:
        return tuple(_unpending(x, seen) for x in v)
    else:
        return t(_unpending(x, seen) for x in v)
    return v


class _DataUnpickler(pickle.Unpickler):
    """Python's unpickler, but a pickle may name only the constructors of
    data (doc/values.md, "Pickle safety"): every import and every call a
    pickle makes goes through find_class (GLOBAL, STACK_GLOBAL, INST, the
    extension registry), so none other runs; each constructor checks its
    arguments as the decoder of blt does, and what a BUILD sets is
    checked by the pending object it is set on (a UUID, a numpy dtype or
    array of protocols before 5)."""

    def __init__(self, data):
        super().__init__(io.BytesIO(data))
        self.proto = data[1] if len(data) > 1 and data[0] == 0x80 else 0

    def find_class(self, module, name):
        ctor = None
        if module == "builtins":
            ctor = _BUILTINS.get(name)
        elif module in ("__builtin__", "copy_reg") and self.proto < 3:
            ctor = (_PY2_BUILTINS if module == "__builtin__" else _table("copyreg")).get(name)
        elif module == "_codecs" and name == "encode":
            ctor = _ENCODE
        else:
            t = _table(module)
            ctor = t.get(name) if t is not None else None
        if ctor is None:
            raise pickle.UnpicklingError(
                "pickle would import %s.%s: refused, a pickle is read as data "
                "(serve(f, trust_pickles=True) runs it as Python would)" % (module, name)
            )
        return ctor

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("pickle has a persistent id: refused")

    def load(self):
        _local.pending, _local.arrays = 0, False
        v = super().load()
        if _local.pending:
            raise pickle.UnpicklingError(
                "pickle leaves a uuid.UUID or a numpy dtype or array without "
                "its state: refused"
            )
        if _local.arrays:
            v = _unpending(v, {})
        if isinstance(v, _Ctor):
            raise pickle.UnpicklingError(
                "pickle gives the constructor %s as a value: refused" % v.name
            )
        return v


def _pickle_loads(b):
    """Unpickle data, running nothing a pickle names."""
    return _DataUnpickler(bytes(b)).load()


_BYTES = (bytes, bytes)

# The serializers by the names booklet gives them (its serializers.py),
# as (loads, dumps); each imports what it needs only when used.
SERIALIZERS = {
    "None": _BYTES,
    "bytes": _BYTES,
    "custom": _BYTES,
    "str": (lambda b: bytes(b).decode(), lambda s: s.encode()),
    "pickle": (_pickle_loads, lambda o: pickle.dumps(o, 5)),
    "json": (lambda b: json.loads(bytes(b).decode()), lambda o: json.dumps(o).encode()),
    "orjson": (_orjson_loads, _orjson_dumps),
    "uint1": _int(1, False),
    "int1": _int(1, True),
    "uint2": _int(2, False),
    "int2": _int(2, True),
    "uint4": _int(4, False),
    "int4": _int(4, True),
    "uint5": _int(5, False),
    "int5": _int(5, True),
    "uint8": _int(8, False),
    "int8": _int(8, True),
    "pickle_zstd": (
        lambda b: _pickle_loads(_zstd().decompress(b)),
        lambda o: _zstd().compress(pickle.dumps(o, 5), 1),
    ),
    "orjson_zstd": (
        lambda b: _orjson_loads(_zstd().decompress(b)),
        lambda o: _zstd().compress(_orjson_dumps(o), 1),
    ),
    "numpy_int1": _np("i1"),
    "numpy_int2": _np("i2"),
    "numpy_int4": _np("i4"),
    "numpy_int8": _np("i8"),
    "numpy_int2_zstd": _np("i2", True),
    "numpy_int4_zstd": _np("i4", True),
    "numpy_int8_zstd": _np("i8", True),
    "pd_zstd": _feather("pd"),
    "gpd_zstd": _feather("gpd"),
    "zstd": (
        lambda b: _zstd().decompress(b),
        lambda b: _zstd().compress(b, 1),
    ),
    "wkb": _wkb(False),
    "wkb_zstd": _wkb(True),
    "msgpack": (_msgpack_loads, _msgpack_dumps),
    "msgpack_zstd": (
        lambda b: _msgpack_loads(_zstd().decompress(b)),
        lambda o: _zstd().compress(_msgpack_dumps(o), 1),
    ),
}

_TEXT = (
    lambda b: bytes(b).decode("utf-8", "surrogateescape"),
    lambda s: s if isinstance(s, (bytes, bytearray)) else s.encode("utf-8", "surrogateescape"),
)


class ProtocolError(Exception):
    """The store sent something this worker does not understand."""


def _read_exact(fd, n):
    parts = []
    while n > 0:
        b = os.read(fd, n)
        if not b:
            return None
        parts.append(b)
        n -= len(b)
    return b"".join(parts)


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


# With trust_pickles: Python's own pickle, as the Python booklet reads.
_TRUSTED = {
    "pickle": (pickle.loads, SERIALIZERS["pickle"][1]),
    "pickle_zstd": (
        lambda b: pickle.loads(_zstd().decompress(b)),
        SERIALIZERS["pickle_zstd"][1],
    ),
    "pd_zstd": _feather("pd", True),
    "gpd_zstd": _feather("gpd", True),
}


def _codec(info, name, trust_pickles=False):
    ser = info.get(name, "None")
    if ser not in SERIALIZERS:
        raise ProtocolError("unknown serializer %r (%s)" % (ser, name))
    if trust_pickles and ser in _TRUSTED:
        return _TRUSTED[ser]
    return SERIALIZERS[ser]


def read_header(fd=0):
    """Read the store's hello; return its fields as a dict of str."""
    h = _read_exact(fd, _HDR.size)
    if h is None:
        raise ProtocolError("no header: the store closed the pipe")
    magic, version, n = _HDR.unpack(h)
    if magic != b"BLTM":
        raise ProtocolError("not the map protocol's header: %r" % (h,))
    if version != VERSION:
        raise ProtocolError("version %d of the protocol, not %d" % (version, VERSION))
    text = _read_exact(fd, n) or b""
    info = {}
    for line in text.decode("utf-8", "replace").splitlines():
        k, _, v = line.partition("=")
        info[k] = v
    return info


def serve(func, raw=False, name="bltfs_worker.py", trust_pickles=False):
    """Serve items to func(key, value) until the store's input ends.

    raw=True gives func the key and value as bytes and takes bytes back,
    whatever the serializers.  trust_pickles=True unpickles keys and
    values with Python's pickle, which runs what a pickle names: for
    stores whose every writer is trusted (by default a pickle is read as
    plain data only)."""
    rfd, wfd = 0, os.dup(1)
    # print() and anything the function writes to stdout go to stderr:
    # fd 1 carries the protocol only through wfd.
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    info = read_header(rfd)
    if raw:
        kload = kdump = vload = vdump = bytes
    else:
        kload, _ = _codec(info, "key_serializer", trust_pickles)
        _, kdump = _codec(info, "out_key_serializer")
        if info.get("decode") == "1":
            vload, vdump = _TEXT
        else:
            vload, _ = _codec(info, "value_serializer", trust_pickles)
            _, vdump = _codec(info, "out_value_serializer")
    hello = name.encode()
    _write_all(wfd, _HDR.pack(b"BLTW", VERSION, len(hello)) + hello)

    pending = bytearray()
    item, reply = _ITEM, _REPLY
    while True:
        chunk = os.read(rfd, 1 << 20)
        if not chunk:
            return
        pending += chunk
        hsize = item.size
        if len(pending) >= hsize:
            _, klen, vlen = item.unpack_from(pending, 0)
            if len(pending) < hsize + klen + vlen:
                continue  # a big item still on its way: no reply waits
        else:
            continue
        data = bytes(pending)
        out = []
        off, end = 0, len(data)
        while end - off >= hsize:
            iid, klen, vlen = item.unpack_from(data, off)
            if end - off - hsize < klen + vlen:
                break
            kb = data[off + hsize : off + hsize + klen]
            vb = data[off + hsize + klen : off + hsize + klen + vlen]
            off += hsize + klen + vlen
            # every reply names the id of its item (doc/map.md)
            try:
                key = kload(kb)
                res = func(key, vload(vb))
                if res is None:
                    out.append(reply.pack(iid, _SKIP, 0, 0))
                    continue
                if isinstance(res, tuple) and len(res) == 2:
                    nkey, nval = res
                    v = vdump(nval)
                    if nkey == key:
                        out.append(reply.pack(iid, _VALUE, 0, len(v)))
                        out.append(v)
                    else:
                        k = kdump(nkey)
                        out.append(reply.pack(iid, _WRITE, len(k), len(v)))
                        out.append(k)
                        out.append(v)
                else:
                    v = vdump(res)
                    out.append(reply.pack(iid, _VALUE, 0, len(v)))
                    out.append(v)
            except Exception as e:  # the item fails, the worker goes on
                m = ("%s: %s" % (type(e).__name__, e)).encode("utf-8", "replace")[:1024]
                out.append(reply.pack(iid, _ERROR, 0, len(m)))
                out.append(m)
        pending = bytearray(data[off:])
        # before we block on a read again: the store waits for these
        if out:
            _write_all(wfd, b"".join(out))


USAGE = """usage: python3 -m bltfs_worker MODULE:FUNCTION [--raw] [--trust-pickles]

A map worker for `blt map --worker` and `bltfs ctl MOUNT map --worker`:
serves FUNCTION(key, value) of MODULE (a module on the path, or a .py
file) to the map, one process per worker:

    blt map --worker 'python3 -m bltfs_worker mymod:f' STORE

or, in a script of your own:

    from bltfs_worker import serve

    def f(key, value):
        return value          # the new value; (key, value); None skips

    serve(f)

    blt map --worker 'python3 f.py' STORE

Keys and values arrive decoded with the store's serializers, as the Python
booklet gives them; pickles are read as data, never run.

  --raw            give and take bytes, whatever the serializers
  --trust-pickles  unpickle with Python's pickle, which runs what a pickle
                   names: only for a store whose every writer you trust

stdin and stdout carry version %d of the worker protocol (doc/map.md):
run it under blt map, not by hand.
""" % VERSION


def main():
    """python3 -m bltfs_worker MODULE:FUNCTION [--raw] [--trust-pickles]:
    serve a function of a module on the path (or a .py file's path)
    without a script."""
    import importlib
    import importlib.util

    if {"-h", "--help"} & set(sys.argv[1:]):
        sys.stdout.write(USAGE)
        return
    flags = {"--raw", "--trust-pickles"} & set(sys.argv[1:])
    args = [a for a in sys.argv[1:] if a not in flags]
    if len(args) != 1 or ":" not in args[0]:
        sys.stderr.write(USAGE)
        sys.exit(2)
    mod, _, fn = args[0].rpartition(":")
    if mod.endswith(".py"):
        spec = importlib.util.spec_from_file_location("bltfs_user_worker", mod)
        m = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(m)
    else:
        m = importlib.import_module(mod)
    serve(getattr(m, fn), raw="--raw" in flags, trust_pickles="--trust-pickles" in flags)


if __name__ == "__main__":
    main()
