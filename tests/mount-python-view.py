"""Random file operations through a mount, then the view the reference
reads (tests/mount-python-view.sh).

    mount-python-view.py ops MOUNT SERIALIZER SEED N   # N operations
    mount-python-view.py view MOUNT SERIALIZER OUT     # the mount's view
    mount-python-view.py check STORE SERIALIZER VIEW   # the reference's
    mount-python-view.py create STORE SERIALIZER       # a new store

ops: mkdir, rmdir, write, overwrite, truncate and rewrite, cp -r, mv of a
file or a directory, rm, and emptying a directory, at random (the seed is
printed by the caller), each with a value the serializer holds, written
as the text of a -o decode mount (doc/values.md).  Any OSError fails.

view: the keys the store must hold: every file's path, and "dir/" for
every empty directory (doc/keys.md), with each file's text.

check: the reference opens the store, reads it whole (dict(db.items()))
and must find exactly those keys, each file's value equal to its text
read as the serializer's text form, and each marker's value what the
serializer reads for none.
"""
import json
import os
import random
import shutil
import sys

# Values each serializer holds, as the decode mount's text, and as Python
# reads them back (the text read as JSON for the structured ones).
JSONISH = {'pickle', 'json', 'orjson', 'msgpack', 'pickle_zstd',
           'orjson_zstd', 'msgpack_zstd'}
INTS = {'uint1': (0, 255), 'int1': (-128, 127), 'uint2': (0, 65535),
        'int2': (-32768, 32767), 'uint4': (0, 2**32 - 1),
        'int4': (-2**31, 2**31 - 1), 'int8': (-2**63, 2**63 - 1)}
NUMPY = {'numpy_int1', 'numpy_int2', 'numpy_int4', 'numpy_int8',
         'numpy_int2_zstd', 'numpy_int4_zstd', 'numpy_int8_zstd'}


def random_json(r, depth=0):
    kind = r.randrange(7 if depth < 3 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return r.random() < 0.5
    if kind == 2:
        return r.randrange(-10**6, 10**6)
    if kind == 3:
        return r.choice(['', 'a', 'ünï', 'x' * r.randrange(50), '"q"'])
    if kind == 4:
        return r.randrange(-1000, 1000) / 8
    if kind == 5:
        return [random_json(r, depth + 1) for _ in range(r.randrange(4))]
    return {f'k{i}': random_json(r, depth + 1) for i in range(r.randrange(4))}


def random_text(r, ser):
    if ser in JSONISH:
        return (json.dumps(random_json(r)) + '\n').encode()
    if ser == 'str':
        return r.choice(['', 'plain', 'ünïcödé ✓', 'two\nlines\n']).encode()
    if ser in INTS:
        lo, hi = INTS[ser]
        return b'%d\n' % r.randrange(lo, hi + 1)
    if ser in NUMPY:
        width = int(ser.split('_')[1][3:])
        lim = 2 ** (8 * width - 1)
        return (json.dumps([r.randrange(-lim, lim)
                            for _ in range(r.randrange(5))]) + '\n').encode()
    return bytes(r.randrange(256) for _ in range(r.randrange(40)))


def walk(mount):
    files, dirs = [], []
    for root, ds, fs in os.walk(mount):
        if root == mount:
            ds[:] = [d for d in ds if d != '.bltfs']
        rel = os.path.relpath(root, mount)
        if rel != '.':
            dirs.append(rel)
        files += [os.path.normpath(os.path.join(rel, f)) for f in fs]
    return files, dirs


def ops(mount, ser, seed, n):
    r = random.Random(seed)
    names = ['a', 'b', 'c', 'd', 'é', 'x y']
    for step in range(n):
        files, dirs = walk(mount)
        op = r.choice(['mkdir', 'rmdir', 'write', 'write', 'write', 'trunc',
                       'cp', 'mv', 'rm', 'empty'])
        here = os.path.join(mount, r.choice(dirs)) if dirs and \
            r.random() < 0.7 else mount
        new = os.path.join(here, r.choice(names) + str(r.randrange(20)))
        try:
            if op == 'mkdir' and not os.path.exists(new):
                os.mkdir(new)
            elif op == 'rmdir' and dirs:
                d = os.path.join(mount, r.choice(dirs))
                if not os.listdir(d):
                    os.rmdir(d)
            elif op == 'write' and not os.path.isdir(new):
                with open(new, 'wb') as f:
                    f.write(random_text(r, ser))
            elif op == 'trunc' and files:
                p = os.path.join(mount, r.choice(files))
                with open(p, 'r+b') as f:
                    f.truncate(0)
                    f.write(random_text(r, ser))
            elif op == 'cp' and dirs and not os.path.exists(new):
                src = os.path.join(mount, r.choice(dirs))
                if not new.startswith(src + '/'):
                    shutil.copytree(src, new)
            elif op == 'mv' and (files or dirs) and not os.path.exists(new):
                src = os.path.join(mount, r.choice(files + dirs))
                if not new.startswith(src + '/'):
                    os.rename(src, new)
            elif op == 'rm' and files:
                os.unlink(os.path.join(mount, r.choice(files)))
            elif op == 'empty' and dirs:
                d = os.path.join(mount, r.choice(dirs))
                for f in os.listdir(d):
                    p = os.path.join(d, f)
                    if os.path.isdir(p):
                        shutil.rmtree(p)
                    else:
                        os.unlink(p)
        except OSError as e:
            sys.exit(f'step {step}: {op} near {new}: {e}')


def view(mount, ser, out):
    files, dirs = walk(mount)
    keys = {}
    for f in files:
        with open(os.path.join(mount, f), 'rb') as fh:
            keys[f] = fh.read().decode('latin-1')
    for d in dirs:
        if not os.listdir(os.path.join(mount, d)):
            keys[d + '/'] = None  # a marker
    with open(out, 'w') as fh:
        json.dump(keys, fh)


def as_python(ser, text):
    b = text.encode('latin-1')
    if ser in JSONISH:
        return json.loads(b)
    if ser == 'str':
        return b.decode()
    if ser in INTS:
        return int(b)
    if ser in NUMPY:
        return json.loads(b)
    return b


def create(store, ser):
    import booklet
    with booklet.open(store, 'n', key_serializer='str',
                      value_serializer=None if ser == 'None' else ser):
        pass


def check(store, ser, view_file):
    import booklet
    with open(view_file) as fh:
        want = json.load(fh)
    with booklet.open(store, 'r') as db:
        got = dict(db.items())
    if set(got) != set(want):
        sys.exit(f'keys differ: only in the store {sorted(set(got) - set(want))}, '
                 f'only in the mount {sorted(set(want) - set(got))}')
    for k, text in want.items():
        v = got[k]
        if ser in NUMPY:
            v = v.tolist()
        if text is None:  # a marker: what the serializer reads for none
            ok = v in (None, '', b'', 0, [])
        else:
            ok = v == as_python(ser, text)
        if not ok:
            sys.exit(f'{k}: the store holds {v!r}, the mount shows {text!r}')
    print(f'{ser}: {len(want)} keys, '
          f'{sum(t is None for t in want.values())} markers')


if __name__ == '__main__':
    cmd = sys.argv[1]
    if cmd == 'ops':
        ops(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    elif cmd == 'view':
        view(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == 'create':
        create(sys.argv[2], sys.argv[3])
    else:
        check(sys.argv[2], sys.argv[3], sys.argv[4])
