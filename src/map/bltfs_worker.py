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
as the decoder of blt does (doc/values.md, "Pickle safety"); one that
would import anything else (a class, a function: datetime, numpy, os.system)
fails its item with the name it would import.  pd_zstd and gpd_zstd values
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


def _shaped(name, make, *shapes):
    """A constructor a pickle may call, by the only arguments CPython
    writes for it (a tuple of types, or of types and exact values)."""

    def call(*args):
        for shape in shapes:
            if len(args) == len(shape) and all(
                type(a) is want if isinstance(want, type) else a in want
                for a, want in zip(args, shape)
            ):
                return make(*args)
        raise pickle.UnpicklingError(
            "pickle calls %s with arguments %s, which CPython does not write "
            "for a value: refused" % (name, tuple(type(a).__name__ for a in args))
        )

    return call


_LATIN1 = ("latin1", "latin-1")
# What plain data names before protocol 5: sets and frozensets (before 4),
# bytes (before 3) and bytearray (before 5); __builtin__ is Python 2's
# name for builtins, which Python 3 maps back in protocols 0 to 2 only.
_CTORS = {
    "set": _shaped("set", set, (list,)),
    "frozenset": _shaped("frozenset", frozenset, (list,)),
    "bytes": _shaped("bytes", bytes, ()),
    "bytearray": _shaped(
        "bytearray", bytearray, (), (bytes,), (str, _LATIN1)
    ),
}
_ENCODE = _shaped("_codecs.encode", codecs.encode, (str, _LATIN1))


class _DataUnpickler(pickle.Unpickler):
    """Python's unpickler, but a pickle may name only the constructors of
    plain data: every import and every call a pickle makes goes through
    find_class (GLOBAL, STACK_GLOBAL, INST, the extension registry), so
    none other runs."""

    def __init__(self, data):
        super().__init__(io.BytesIO(data))
        self.proto = data[1] if len(data) > 1 and data[0] == 0x80 else 0

    def find_class(self, module, name):
        if module == "builtins" or (module == "__builtin__" and self.proto < 3):
            ctor = _CTORS.get(name)
        elif module == "_codecs" and name == "encode":
            ctor = _ENCODE
        else:
            ctor = None
        if ctor is None:
            raise pickle.UnpicklingError(
                "pickle would import %s.%s: refused, a pickle is read as data "
                "(serve(f, trust_pickles=True) runs it as Python would)" % (module, name)
            )
        return ctor

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("pickle has a persistent id: refused")


def _pickle_loads(b):
    """Unpickle plain data, running nothing a pickle names."""
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
