"""A hostile writer against readers that take no lock (tests/mount-peek.sh).

create STORE
    the store, with 5 buckets, so that the writer's first sync reindexes.
write STORE DIR SEED ROUNDS          (run by the reference's python)
    one booklet.open(STORE, 'w') held for every round: puts of new versions,
    longer and shorter, deletes, a growth past a reindex, a prune, a clear,
    a sync at each round's end; the file object stops the process (SIGSTOP)
    at random writes, in the middle of some, so that the readers read a
    store caught half way through a flush, an index update, a reindex, a
    prune or a clear.  After each sync it writes DIR/round.json (what it
    changed) and waits for a line on stdin.
drive STORE RW RO DIR SEED ROUNDS PY
    starts the writer, reads through both mounts in four threads all along,
    wakes the writer after each stop once every reader has read meanwhile,
    checks after each sync that both mounts show what it changed, then that
    the reference opens the store for writing at once beside the busy
    readers, and that both mounts come to show the store exactly.

A value names its key and version (val()), so every byte a reader gets is
checked: the value must be whole, the key's own, and one the writer wrote.
"""
import atexit
import errno
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

KEYS = [f'd{i % 10}/k{i}' for i in range(200)]
GROW = 12100  # past 12007 keys: a reindex to 144013 buckets


def val(key, ver):
    """Version ver of key: longer and shorter from one version to the next."""
    return (f'{key} v{ver};' * (1 + (ver * 7 + len(key)) % 13)).encode()


def well_formed(key, data):
    """The version data is of key, or None if it is no value of key."""
    head = data.split(b';', 1)[0].decode(errors='replace')
    name, _, ver = head.rpartition(' v')
    if name != key or not ver.isdigit() or data != val(key, int(ver)):
        return None
    return int(ver)


def create(store):
    import booklet
    with booklet.open(store, 'n', key_serializer='str',
                      value_serializer='bytes', n_buckets=5) as db:
        for key in KEYS[:4]:
            db[key] = val(key, 0)


class Stopper:
    """The booklet's file, stopping the process at random writes: at most
    STOPS in all, and PHASE_STOPS in each prune or clear, where readers may
    wait for the lock (doc/durability.md)."""

    STOPS, PHASE_STOPS = 150, 2

    def __init__(self, f, rng):
        self._f, self._rng, self.stops = f, rng, 0
        self.phase_stops = 0
        self.in_phase = False

    def _may_stop(self, p):
        if self.in_phase and self.phase_stops >= self.PHASE_STOPS:
            return False
        return self.stops < self.STOPS and self._rng.random() < p

    def _stop(self):
        self._f.flush()
        self.stops += 1
        self.phase_stops += self.in_phase
        os.kill(os.getpid(), signal.SIGSTOP)

    def write(self, b):
        if len(b) > 1 and self._may_stop(0.01):
            half = len(b) // 2  # in the middle of this write
            n = self._f.write(b[:half])
            self._stop()
            return n + self._f.write(b[half:])
        n = self._f.write(b)
        if self._may_stop(0.005):
            self._stop()
        return n

    def __getattr__(self, name):
        return getattr(self._f, name)


def write(store, d, seed, rounds):
    import booklet
    rng = random.Random(int(seed))
    ver = {k: 0 for k in KEYS[:4]}
    db = booklet.open(store, 'w')
    db._file = Stopper(db._file, rng)

    at = [0]  # the round under way

    def phase(what):
        # what the booklet's buffered file holds goes out before a phase
        # ends (its sync() flushes at its end, which comes later)
        db._file.flush()
        with open(f'{d}/phase.tmp', 'w') as f:
            f.write(f'{at[0]}:{what}')
        os.replace(f'{d}/phase.tmp', f'{d}/phase')
        db._file.in_phase = what != ''
        db._file.phase_stops = 0

    reindex = booklet.utils.reindex

    def reindexing(*args):  # a sync's reindex rewires every chain
        phase('reindex')
        try:
            return reindex(*args)
        finally:
            phase('')
    booklet.utils.reindex = reindexing

    for r in range(int(rounds)):
        changed = {}
        # the round's puts and deletes, chosen first: the keys live now
        # that it neither deletes nor clears stay found all through it
        puts = [rng.choice(KEYS) for _ in range(40)]
        live = sorted(k for k in KEYS if k in puts or
                      (r != 9 and ver.get(k) is not None))
        dels = rng.sample(live, min(5, len(live)))
        stable = [] if r == 9 else \
            [k for k, v in ver.items() if v is not None and k not in dels]
        with open(f'{d}/stable.tmp', 'w') as f:
            json.dump({'round': r, 'keys': stable}, f)
        os.replace(f'{d}/stable.tmp', f'{d}/stable.json')
        at[0] = r
        phase('')
        if r == 3:
            for i in range(GROW):
                db[f'n/k{i}'] = val(f'n/k{i}', 0)
                ver[f'n/k{i}'] = 0
            changed.update({f'n/k{i}': 0 for i in range(0, GROW, 997)})
        if r == 6:
            phase('prune')
            db.prune()
            phase('')
        if r == 9:
            phase('clear')
            db.clear()
            phase('')
            changed.update({k: None for k in ver
                            if ver[k] is not None and k in KEYS})
            ver = {k: None for k in ver}
        for key in puts:
            v = (ver.get(key) or 0) + 1
            db[key] = val(key, v)
            ver[key] = changed[key] = v
        for key in dels:
            del db[key]
            ver[key] = changed[key] = None
        db.sync()
        with open(f'{d}/round.tmp', 'w') as f:
            json.dump({'round': r, 'changed': changed}, f)
        os.replace(f'{d}/round.tmp', f'{d}/round.json')
        sys.stdin.readline()
    db.close()
    with open(f'{d}/final.json', 'w') as f:
        json.dump({k: v for k, v in ver.items() if v is not None}, f)


def stopped(pid):
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] == 'T'
    except FileNotFoundError:
        return False


class Readers:
    """Threads reading random files through both mounts until stopped."""

    def __init__(self, mounts, d, seed):
        self.mounts, self.d = mounts, d
        self.done = False
        self.reads = [0] * 4
        self.errors = []
        self.busy = self.busy_outside = 0
        self.slowest = 0.0
        self.lock = threading.Lock()
        # daemon threads: a failing check exits without waiting for them
        self.threads = [threading.Thread(target=self.run, args=(i, seed + i),
                                         daemon=True) for i in range(4)]
        for t in self.threads:
            t.start()

    def phase(self):
        """The writer's round and what it does in it: 'ROUND:' outside a
        prune, clear or reindex, 'ROUND:WHAT' in one."""
        try:
            with open(f'{self.d}/phase') as f:
                return f.read()
        except FileNotFoundError:
            return ':'

    def stable(self, key, before, after):
        """Whether key was live all through a read between phases before
        and after: found at the round's start, and neither deleted nor
        cleared in it (the writer's stable.json)."""
        if before.split(':')[0] != after.split(':')[0]:
            return False
        try:
            with open(f'{self.d}/stable.json') as f:
                s = json.load(f)
        except (FileNotFoundError, json.JSONDecodeError):
            return False
        return str(s['round']) == before.split(':')[0] and key in s['keys']

    def run(self, i, seed):
        rng = random.Random(seed)
        m = self.mounts[i % 2]
        while not self.done:
            key = rng.choice(KEYS) if rng.random() < 0.9 else \
                f'n/k{rng.randrange(GROW)}'
            before = self.phase()
            t = time.monotonic()
            step = 'open'
            try:
                if rng.random() < 0.1:
                    os.listdir(os.path.join(m, os.path.dirname(key)))
                    data = None
                else:
                    # read(2) until it gives nothing, as cat does, or
                    # as many bytes as fstat(2) says, as rsync and tar
                    # do: the reads of one open file give one version
                    fd = os.open(os.path.join(m, key), os.O_RDONLY)
                    try:
                        data = b''
                        step = 'fstat'
                        left = os.fstat(fd).st_size \
                            if rng.random() < 0.3 else None
                        step = 'read'
                        while left != 0 and (chunk := os.read(
                                fd, 1 << 16 if left is None else left)):
                            data += chunk
                            left = None if left is None \
                                else left - len(chunk)
                    finally:
                        os.close(fd)
            except FileNotFoundError:
                data = None
                after = self.phase()
                if self.stable(key, before, after):
                    with self.lock:
                        self.errors.append(f'{m}/{key}: not found, though '
                                           f'live all along (round '
                                           f'{before.split(":")[0]}, '
                                           f'at its {step})')
            except OSError as e:
                # a read may wait for the lock where its checks keep
                # failing (doc/durability.md): counted, and outside a
                # prune, clear or reindex half done, said
                if e.errno != errno.EBUSY:
                    with self.lock:
                        self.errors.append(f'{m}/{key}: {e}')
                elif not (before.split(':')[1] or
                          self.phase().split(':')[1]):
                    with self.lock:
                        self.busy_outside += 1
                with self.lock:
                    self.busy += 1
                data = None
            took = time.monotonic() - t
            with self.lock:
                self.slowest = max(self.slowest, took)
                self.reads[i] += 1
            if data is not None and well_formed(key, data) is None:
                with self.lock:
                    self.errors.append(f'{m}/{key}: read {data[:80]!r}, '
                                       f'{len(data)} bytes: no value written')

    def stop(self):
        self.done = True
        for t in self.threads:
            t.join()


def shows(m, key, v):
    try:
        with open(os.path.join(m, key), 'rb') as f:
            data = f.read()
    except FileNotFoundError:
        return v is None
    except OSError:
        return False
    return v is not None and data == val(key, v)


def converge(mounts, want, deadline):
    """Both mounts list exactly the keys of want, each with its value."""
    for m in mounts:
        while True:
            got = set()
            for root, dirs, files in os.walk(m):
                dirs[:] = [x for x in dirs if x != '.bltfs']
                got.update(os.path.relpath(os.path.join(root, f), m)
                           for f in files)
            bad = got ^ set(want) or \
                [k for k in want if not shows(m, k, want[k])][:3]
            if not bad:
                break
            if time.monotonic() > deadline:
                for n in mounts:  # what each mount followed
                    with open(f'{n}/.bltfs/status') as f:
                        sys.stderr.write(f'{n}: {f.read()}')
                sys.stderr.write(f'{m}: names of no key '
                                 f'{sorted(got - set(want))[:5]}, keys '
                                 f'with no name {sorted(set(want) - got)[:5]}\n')
                sys.exit(f'{m} does not come to show the store: '
                         f'{sorted(bad)[:5]}')
            time.sleep(0.1)


def drive(store, rw, ro, d, seed, rounds, py):
    seed, rounds = int(seed), int(rounds)
    writer = subprocess.Popen([py, __file__, 'write', store, d, str(seed),
                               str(rounds)], stdin=subprocess.PIPE, text=True)
    # a failing check takes the writer with it, stopped or not
    atexit.register(lambda: writer.poll() is None and (
        writer.kill(), os.kill(writer.pid, signal.SIGCONT)))
    readers = Readers([rw, ro], d, seed)
    stops = lag = 0.0
    done_round = -1
    while writer.poll() is None:
        if stopped(writer.pid):
            # every reader reads while the writer is caught half way
            start = list(readers.reads)
            while any(a - b < 3 for a, b in zip(readers.reads, start)):
                time.sleep(0.01)
            stops += 1
            os.kill(writer.pid, signal.SIGCONT)
            continue
        try:
            with open(f'{d}/round.json') as f:
                rnd = json.load(f)
        except (FileNotFoundError, json.JSONDecodeError):
            rnd = {'round': done_round}
        if rnd['round'] == done_round:
            time.sleep(0.01)
            continue
        # the sync: both mounts show it, while the writer holds the store
        t = time.monotonic()
        for m in (rw, ro):
            for key, v in rnd['changed'].items():
                while not shows(m, key, v):
                    if stopped(writer.pid):
                        os.kill(writer.pid, signal.SIGCONT)
                    if time.monotonic() - t > 30:
                        for n in (rw, ro):  # what each mount followed
                            try:
                                with open(f'{n}/.bltfs/status') as f:
                                    sys.stderr.write(f'{n}: {f.read()}')
                            except OSError as e:
                                sys.stderr.write(f'{n}: status: {e}\n')
                        try:  # what it shows instead
                            with open(os.path.join(m, key), 'rb') as f:
                                seen = repr(f.read()[:60])
                        except OSError as e:
                            seen = str(e)
                        sys.exit(f'round {rnd["round"]}: {m}/{key} does '
                                 f'not show version {v}: {seen}')
                    time.sleep(0.01)
        lag = max(lag, time.monotonic() - t)
        done_round = rnd['round']
        writer.stdin.write('\n')
        writer.stdin.flush()
    if writer.wait() != 0:
        sys.exit(f'the writer failed: {writer.returncode}')
    # the writer closed: the pipeline opens the store again at once, its
    # booklet not waiting for a lock, while the readers go on
    for _ in range(5):
        r = subprocess.run([py, __file__, 'touch', store],
                           stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            sys.stderr.write(r.stderr)
            with open('/proc/locks') as f:
                sys.stderr.write(f.read())
            for m in (rw, ro):
                with open(f'{m}/.bltfs/status') as f:
                    sys.stderr.write(f'{m}: {f.read()}')
            sys.exit('the reference could not open the store beside '
                     'busy readers')
    readers.stop()
    if readers.errors:
        sys.exit('\n'.join(readers.errors[:20]))
    with open(f'{d}/final.json') as f:
        final = json.load(f)
    final['touched'] = 0
    converge([rw, ro], final, time.monotonic() + 60)
    print(f'mount-peek: {sum(readers.reads)} reads beside the writer, '
          f'{int(stops)} stops caught, {readers.busy} waited past the lock '
          f'timeout ({readers.busy_outside} outside a prune, clear or '
          f'reindex), slowest read {readers.slowest:.3f} s, slowest sync '
          f'shown {lag:.3f} s')


def touch(store):
    import booklet
    with booklet.open(store, 'w') as db:
        db['touched'] = val('touched', 0)


if __name__ == '__main__':
    {'create': create, 'write': write, 'drive': drive,
     'touch': touch}[sys.argv[1]](*sys.argv[2:])
