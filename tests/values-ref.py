"""The reference side of tests/values-ref.sh: run with the reference Python
booklet (../shared/reference/bin/booklet-python).

  values-ref.py names                 the serializers to test, one a line
  values-ref.py write NAME STORE      a store of seeded random values fit
                                      for serializer NAME
  values-ref.py dump NAME STORE FILE  FILE (blt dump --decode output) holds
                                      every value of STORE as Python reads it
  values-ref.py get NAME STORE KEY FILE   FILE (blt get --decode) is KEY's
  values-ref.py same NAME STORE COPY  COPY (written by blt load --encode)
                                      holds the same values, read by booklet

The tagged forms of doc/values.md are turned into Python values here, on
their own, from the document: this is the independent reader of blt's
output.  Serializers whose Python packages are missing (pandas, geopandas,
shapely) are monkeypatched to keep bytes: bltfs shows those values as their
bytes anyway.
"""
import base64
import json
import math
import random
import sys

import booklet
import booklet.serializers as bs
import numpy as np
import zstandard as zstd


class Custom:
    """Code 0: a serializer the file does not name."""

    def dumps(obj):
        return obj

    def loads(obj):
        return obj


# What bltfs shows as bytes needs no pandas or shapely to test.
for cls in (bs.PdZstd, bs.GpdZstd, bs.Wkb):
    cls.dumps = lambda obj: obj
    cls.loads = lambda obj: obj
bs.WkbZstd.dumps = lambda obj: zstd.compress(obj, 1)
bs.WkbZstd.loads = lambda obj: zstd.decompress(obj)

NAMES = [n for n in bs.serial_dict if n is not None] + ['None', 'custom']


def open_store(name, path, flag='r'):
    ser = Custom if name == 'custom' else None if name == 'None' else name
    return booklet.open(path, flag, key_serializer='str', value_serializer=ser)


# --- random values ---------------------------------------------------------

def rand_str(r):
    alphabet = 'abcxyz $"\\\n\t\x00\x1f\x7fé€😀\u2028'
    return ''.join(r.choice(alphabet) for _ in range(r.randrange(0, 12)))


def rand_float(r, nonfinite):
    c = r.randrange(8)
    if nonfinite and c == 0:
        return r.choice([math.nan, math.inf, -math.inf])
    if c == 1:
        return r.choice([0.0, -0.0, 1e16, 1e-5, 0.0001, 1e300, 5e-324, 0.1])
    return r.uniform(-1e6, 1e6) * 10 ** r.randrange(-20, 20)


def rand_int(r, lo, hi):
    if r.randrange(3) == 0:
        return r.choice([lo, hi, 0, -1 if lo < 0 else 1])
    return r.randint(lo, hi)


def rand_tree(r, kinds, depth=0):
    """A random value of the kinds allowed: json, msgpack or pickle."""
    leaves = ['none', 'bool', 'int', 'float', 'str']
    if kinds in ('msgpack', 'pickle'):
        leaves.append('bytes')
    nodes = ['list', 'dict'] if depth < 6 else []
    if kinds == 'pickle' and depth < 6:
        nodes += ['tuple', 'set', 'ndict']
    k = r.choice(leaves + nodes * 2)
    if k == 'none':
        return None
    if k == 'bool':
        return r.random() < 0.5
    if k == 'int':
        if kinds == 'msgpack':
            return rand_int(r, -2**63, 2**64 - 1)
        return rand_int(r, -2**100, 2**100)
    if k == 'float':
        return rand_float(r, kinds != 'orjson')
    if k == 'str':
        return rand_str(r)
    if k == 'bytes':
        return bytes(r.randrange(256) for _ in range(r.randrange(0, 9)))
    n = r.randrange(0, 4)
    if k == 'list':
        return [rand_tree(r, kinds, depth + 1) for _ in range(n)]
    if k == 'tuple':
        return tuple(rand_tree(r, kinds, depth + 1) for _ in range(n))
    if k == 'set':
        return {rand_int(r, -5, 5) for _ in range(n)} | {rand_str(r)}
    if k == 'ndict':
        return {rand_int(r, -5, 5): rand_tree(r, kinds, depth + 1)
                for _ in range(n)}
    d = {rand_str(r): rand_tree(r, kinds, depth + 1) for _ in range(n)}
    if r.randrange(5) == 0:
        d = {'$' + rand_str(r): rand_tree(r, kinds, depth + 1)}
    return d


def deep(kinds, n=200):
    v = 'bottom'
    for i in range(n):
        v = [v] if i % 2 else {'k': v}
    return v


INTS = {'uint1': (0, 255), 'int1': (-128, 127), 'uint2': (0, 2**16 - 1),
        'int2': (-2**15, 2**15 - 1), 'uint4': (0, 2**32 - 1),
        'int4': (-2**31, 2**31 - 1), 'uint5': (0, 2**40 - 1),
        'int5': (-2**39, 2**39 - 1), 'uint8': (0, 2**64 - 1),
        'int8': (-2**63, 2**63 - 1)}


def rand_value(r, name):
    if name in INTS:
        return rand_int(r, *INTS[name])
    if name == 'str':
        return rand_str(r)
    if name.startswith('numpy_int'):
        w = int(name.split('_')[1][3:])
        lo, hi = -2**(8 * w - 1), 2**(8 * w - 1) - 1
        return np.array([rand_int(r, lo, hi) for _ in range(r.randrange(0, 9))],
                        dtype='i%d' % w)
    if name in ('pickle', 'pickle_zstd'):
        return rand_tree(r, 'pickle')
    if name in ('json',):
        return rand_tree(r, 'json')
    if name in ('orjson', 'orjson_zstd'):
        return rand_tree(r, 'orjson')
    if name in ('msgpack', 'msgpack_zstd'):
        return rand_tree(r, 'msgpack')
    # bytes: UTF-8 text half the time, so both JSON spellings show
    if r.random() < 0.5:
        return rand_str(r).encode()
    return bytes(r.randrange(256) for _ in range(r.randrange(0, 40)))


def write(name, path):
    r = random.Random(name)
    with open_store(name, path, 'n') as db:
        for i in range(60):
            db['k%d' % i] = rand_value(r, name)
        if name in ('json', 'orjson', 'orjson_zstd', 'msgpack',
                    'msgpack_zstd', 'pickle', 'pickle_zstd'):
            db['deep'] = deep(name)
            db['empty'] = {}
            db['empty_list'] = []
            db['dollar'] = {'$bytes': 'not a tag'}


# --- reading blt's output --------------------------------------------------

def untag(v):
    if isinstance(v, list):
        return [untag(x) for x in v]
    if not isinstance(v, dict):
        return v
    if len(v) == 1:
        (k, p), = v.items()
        if k.startswith('$'):
            if k == '$bytes':
                return base64.b64decode(p, validate=True)
            if k == '$bytearray':
                return bytearray(base64.b64decode(p, validate=True))
            if k == '$tuple':
                return tuple(untag(x) for x in p)
            if k == '$set':
                return {hashable(untag(x)) for x in p}
            if k == '$frozenset':
                return frozenset(hashable(untag(x)) for x in p)
            if k == '$int':
                return int(p)
            if k == '$float':
                return float(p)
            if k == '$dict':
                return {hashable(untag(a)): untag(b) for a, b in p}
            if k == '$undecodable':
                raise AssertionError('not decodable: %r' % p['why'])
            raise AssertionError('unknown tag %r' % k)
    return {k: untag(x) for k, x in v.items()}


def hashable(v):
    return tuple(v) if isinstance(v, list) else v


def same(a, b):
    """Equal, with NaN equal to NaN and types compared (1 is not True)."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b))
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


def expected(name, v):
    """What blt's JSON form holds for the Python value v, untagged."""
    if isinstance(v, np.ndarray):
        return [int(x) for x in v]
    if isinstance(v, (bytes, bytearray)) and name not in (
            'pickle', 'pickle_zstd', 'msgpack', 'msgpack_zstd'):
        return v
    return v


def shown(name, j):
    v = untag(j)
    # bytes serializers show UTF-8 bytes as a string
    if name not in ('str', 'json', 'orjson', 'orjson_zstd', 'msgpack',
                    'msgpack_zstd', 'pickle', 'pickle_zstd') \
            and not name.startswith('numpy') and name not in INTS \
            and isinstance(v, str):
        return v.encode()
    return v


def check(name, key, want, j, where):
    got = shown(name, j)
    want = expected(name, want)
    if not same(got, want):
        sys.exit('%s: %s: key %r: blt shows %r, booklet reads %r'
                 % (name, where, key, got, want))


def dump(name, path, out):
    with open_store(name, path) as db, open(out, encoding='utf-8') as f:
        seen = 0
        for line in f:
            rec = json.loads(line)
            assert 'value_hex' not in rec, line
            check(name, rec['key'], db.get(rec['key']), rec['value'], 'dump')
            seen += 1
        if seen != len(db):
            sys.exit('%s: dump has %d lines, the store %d keys'
                     % (name, seen, len(db)))


def get(name, path, key, out):
    with open_store(name, path) as db, open(out, 'rb') as f:
        text = f.read()
        want = db.get(key)
        if name == 'str':
            got = text.decode()
            ok = got == want
        elif name in INTS:
            ok = text == b'%d\n' % want
        elif name in ('zstd', 'wkb_zstd', 'None', 'bytes', 'custom',
                      'pd_zstd', 'gpd_zstd', 'wkb'):
            ok = text == want
        else:
            assert text.endswith(b'\n')
            got = shown(name, json.loads(text))
            ok = same(got, expected(name, want))
        if not ok:
            sys.exit('%s: get --decode %s: %r, booklet reads %r'
                     % (name, key, text[:200], want))


def same_stores(name, a, b):
    with open_store(name, a) as x, open_store(name, b) as y:
        if len(x) != len(y):
            sys.exit('%s: %d keys, the copy %d' % (name, len(x), len(y)))
        n = 0
        for k, v in y.items():
            w = x.get(k)
            if isinstance(v, np.ndarray):
                ok = v.dtype == w.dtype and list(v) == list(w)
            else:
                ok = same(v, w)
            if not ok:
                sys.exit('%s: key %r: the copy reads %r, not %r'
                         % (name, k, v, w))
            n += 1
        if n != len(x):
            sys.exit('%s: iterating the copy gave %d keys' % (name, n))


def main():
    cmd = sys.argv[1]
    if cmd == 'names':
        print('\n'.join(NAMES))
    elif cmd == 'write':
        write(sys.argv[2], sys.argv[3])
    elif cmd == 'dump':
        dump(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == 'get':
        get(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5])
    elif cmd == 'same':
        same_stores(sys.argv[2], sys.argv[3], sys.argv[4])


main()
