"""A randomized history of a shared store, checked against a model of
every write (tests/mount-history.sh, bench/bench_history.sh).

create STORE
    the store, made by the reference.
session STORE PLAN PROGRESS          (run by the reference's python)
    one Python writer: booklet.open(STORE, 'w'), the plan's puts,
    deletes, syncs, prunes, clears and naps (ms), close.  After each sync,
    and at its close, it writes how many of the plan's steps are done to
    PROGRESS.
drive STORE RW RO DIR SEED STEPS PY BLTFS DAEMONS
    a history of STEPS steps drawn from SEED, while four threads read
    through the read-write mount RW and the -o ro mount RO all along:
    Python writer sessions in the background (some killed with SIGKILL
    between or in their syncs), `cp` and `rm` through RW beside them on
    other keys, prunes started through RW, and SIGKILLs of RW's daemon,
    remounted at once (DAEMONS is the test's list of mounts to clean up).

Every value names its key and its version, and each version is written
once, so the model knows what each read may give: a whole value some
writer wrote for that key, never one whose write failed.  A write is done
once its close (cp, rm) returned 0, or its session synced or closed after
it; a session killed after its last sync may have stored or not what came
after.  After each session, and after each write through RW, the mounts
show what was done.  At the end, the reference reads exactly a history
the model allows, key by key, and both mounts show it.
"""
import errno
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

KEYS = [f'h{i % 6}/k{i}' for i in range(60)]
SHOW_WITHIN = 60  # s: a done write shows in the mounts (a loaded CI)
MODEL = None  # drive()'s, for what a failure says
START = time.monotonic()
TRACE = os.environ.get('HISTORY_TRACE')  # a file: each step, with its time


def trace(what):
    """Note a step of the history in HISTORY_TRACE, seconds from the
    start, so that a failed read can be placed among them."""
    if TRACE:
        with open(TRACE, 'a') as f:
            f.write(f'{time.monotonic() - START:8.3f} {what}\n')


def _peek():
    """tests/mount-peek.py, whose values (val(), well_formed(), shows())
    these are: each names its key and version, of a length of its own."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'mount_peek', os.path.join(os.path.dirname(
            os.path.abspath(__file__)), 'mount-peek.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_PEEK = _peek()
val, version_of, shows = _PEEK.val, _PEEK.well_formed, _PEEK.shows


def create(store):
    import booklet
    with booklet.open(store, 'n', key_serializer='str',
                      value_serializer='bytes') as db:
        for key in KEYS[:20]:
            db[key] = val(key, 0)


def session(store, plan, progress):
    import booklet
    import portalocker
    with open(plan) as f:
        steps = json.load(f)

    def done(n):
        with open(progress + '.tmp', 'w') as f:
            f.write(str(n))
        os.replace(progress + '.tmp', progress)

    # SIGUSR1 kills the session as SIGKILL would (no flush, no close),
    # between two of its writes or in the middle of a sync, but not in a
    # prune or clear: the reference's own are not made to survive a kill
    # (they move blocks in place), and that is not what is tested here
    critical, killed = [False], [False]

    def kill(*_):
        killed[0] = True
        if not critical[0]:
            os._exit(137)
    signal.signal(signal.SIGUSR1, kill)

    # Debian's booklet fails at once on a lock held (a mount's, for a
    # moment after its own write): opened again, as a newer one waits;
    # the tries are counted (drive's summary)
    for tries in range(600):
        try:
            db = booklet.open(store, 'w')
            break
        except portalocker.exceptions.LockException:
            time.sleep(0.05)
    else:
        sys.exit('the store stayed locked for 30 s')
    if tries:
        with open(progress + '.waits', 'a') as f:
            f.write(f'{tries}\n')
    for i, (what, key, ver) in enumerate(steps):
        if what == 'put':
            db[key] = val(key, ver)
        elif what == 'del':
            if key in db:
                del db[key]
        elif what == 'sync':
            db.sync()
            done(i + 1)
        elif what == 'nap':
            time.sleep(ver / 1000)
        elif what in ('prune', 'clear'):
            if what == 'clear':
                # the reference's clear() leaves the puts still in its
                # write buffer, which its next flush writes after the
                # clear: a history of its own, not modelled here
                db.sync()
                done(i)
            critical[0] = True
            db.prune() if what == 'prune' else db.clear()
            critical[0] = False
            if killed[0]:
                os._exit(137)
    db.close()
    done(len(steps))


class Model:
    """Each key's writes in the order they were made: [version or None
    for a delete, 'done' | 'maybe' | 'failed']."""

    def __init__(self):
        self.writes = {k: [] for k in KEYS}
        self.next_ver = 1
        self.lock = threading.Lock()
        # the cp through RW under way: odd while one is; and the writes
        # it made, (gen at its start, key, version)
        self.cp_gen = 0
        self.cps = []

    def cp_start(self, key, ver):
        with self.lock:
            self.cp_gen += 1
            self.cps = self.cps[-8:] + [(self.cp_gen, key, ver)]

    def cp_end(self):
        with self.lock:
            self.cp_gen += 1

    def cp_under(self, key, data, g1, g2):
        """A read through RW between cp generations g1 and g2 may see a
        cp of key under way as a file on its own file system shows one:
        cut short anywhere, or empty (its open truncated it)."""
        with self.lock:
            return any(k == key and g1 - 1 <= g <= g2 and len(data) <
                       len(val(key, v)) and val(key, v).startswith(data)
                       for g, k, v in self.cps)

    def new_version(self):
        with self.lock:
            self.next_ver += 1
            return self.next_ver - 1

    def write(self, key, ver, state, by):
        with self.lock:
            self.writes[key].append([ver, state, by])
            return self.writes[key][-1]

    def may_read(self, key, ver):
        """A read of key may give ver: some writer wrote it, and its
        write did not fail (a write under way counts)."""
        with self.lock:
            return ver == 0 and key in KEYS[:20] or any(
                v == ver and s != 'failed' for v, s, _ in self.writes[key])

    def finals(self, key):
        """What key may hold once every write ended: its last done write
        (or the first value), or a write after it that may have been
        stored."""
        first = 0 if key in KEYS[:20] else None
        with self.lock:
            ws = self.writes[key]
        last = max((i for i, (v, s, _) in enumerate(ws) if s == 'done'),
                   default=-1)
        may = {ws[last][0] if last >= 0 else first}
        may.update(v for v, s, _ in ws[last + 1:] if s == 'maybe')
        return may


class Readers:
    """Threads reading random keys through both mounts until stopped;
    what RW answers while its daemon is killed and mounted again is no
    answer of bltfs (gen counts those restarts)."""

    def __init__(self, model, mounts, seed):
        # mounts[0] is RW, where a cp under way shows as it goes
        self.model, self.mounts = model, mounts
        self.done = False
        self.restarting = False
        self.gen = 0
        self.reads, self.busy, self.errors = 0, 0, []
        self.seen = []  # (key, version) read
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(i, seed + i),
                                         daemon=True) for i in range(4)]
        for t in self.threads:
            t.start()

    def run(self, i, seed):
        rng = random.Random(seed)
        m = self.mounts[i % 2]
        while not self.done:
            key = rng.choice(KEYS)
            gen, restarting = self.gen, self.restarting
            g1 = self.model.cp_gen
            try:
                if rng.random() < 0.1:
                    os.listdir(os.path.join(m, os.path.dirname(key)))
                    continue
                with open(os.path.join(m, key), 'rb') as f:
                    data = f.read()
            except FileNotFoundError:
                continue
            except OSError as e:
                if restarting or self.restarting or gen != self.gen:
                    continue  # the daemon was killed under this read
                with self.lock:
                    if e.errno == errno.EBUSY:
                        self.busy += 1
                    else:
                        self.errors.append((f'{m}/{key}: {e}', key))
                continue
            ver = version_of(key, data)
            with self.lock:
                self.reads += 1
                if ver is None and i % 2 == 0 and self.model.cp_under(
                        key, data, g1, self.model.cp_gen):
                    continue
                if ver is None or not self.model.may_read(key, ver):
                    self.errors.append((f'{m}/{key}: read {data[:60]!r}, '
                                        f'{len(data)} bytes at '
                                        f'{time.monotonic() - START:.3f} s: '
                                        f'no value written for it', key))
                else:
                    self.seen.append((key, ver))

    def stop(self):
        self.done = True
        for t in self.threads:
            t.join()


def wait_shown(mounts, want, what):
    """Each mount comes to show the keys of want as want says."""
    end = time.monotonic() + SHOW_WITHIN
    for m in mounts:
        for key, ver in want.items():
            while not shows(m, key, ver):
                if time.monotonic() > end:
                    for n in mounts:
                        with open(f'{n}/.bltfs/status') as f:
                            sys.stderr.write(f'{n}: {f.read()}')
                    sys.exit(f'{m}/{key} does not show version {ver} '
                             f'after {what}; its writes: {MODEL.writes[key]}')
                time.sleep(0.02)


class Mount:
    """RW's daemon, which the history kills and starts again."""

    def __init__(self, bltfs, store, mnt, daemons):
        self.bltfs, self.store, self.mnt = bltfs, store, mnt
        self.daemons = daemons
        self.proc = None

    def start(self):
        r, w = os.pipe()
        self.proc = subprocess.Popen(
            [self.bltfs, self.store, self.mnt, '-f', '-o',
             f'ready_fd={w},lock_timeout=1'], pass_fds=(w,),
            stderr=open(f'{self.mnt}.log', 'ab'))
        os.close(w)
        with open(self.daemons, 'a') as f:  # unmounted by the test's trap
            f.write(f'0 {self.mnt}\n')
        ready = os.read(r, 1)
        os.close(r)
        if ready != b'1':
            sys.exit(f'bltfs {self.mnt} did not mount again')

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        subprocess.run(['fusermount3', '-uz', self.mnt], check=True)

    def stop(self):
        subprocess.run(['fusermount3', '-u', self.mnt], check=True)
        if self.proc.wait() != 0:
            with open(f'{self.mnt}.log') as f:
                sys.stderr.write(f.read())
            sys.exit(f'bltfs {self.mnt} exited with {self.proc.returncode}')


class History:
    def __init__(self, store, rw, ro, d, seed, py, mount):
        self.store, self.rw, self.ro, self.d = store, rw, ro, d
        self.rng = random.Random(seed)
        self.py, self.mount = py, mount
        self.model = Model()
        global MODEL
        MODEL = self.model
        self.readers = Readers(self.model, [rw, ro], seed)
        self.writer = None  # the session under way: (process, plan, keys)
        self.sessions = self.killed = self.failed = self.prunes = 0
        self.kills = self.shell = 0

    def start_session(self):
        rng, model = self.rng, self.model
        exclusive = rng.random() < 0.15  # a clear: no cp or rm beside
        keys = KEYS if exclusive else rng.sample(KEYS, 20)
        steps = []
        for _ in range(rng.randrange(5, 60)):
            r = rng.random()
            key = rng.choice(keys)
            if r < 0.6:
                steps.append(['put', key, model.new_version()])
            elif r < 0.72:
                steps.append(['del', key, None])
            elif r < 0.82:
                steps.append(['sync', None, None])
            elif r < 0.97:  # the store held open meanwhile
                steps.append(['nap', None, rng.randrange(10, 200)])
            elif r < 0.99:
                steps.append(['prune', None, None])
            elif exclusive:
                steps.append(['clear', None, None])
        plan, progress = f'{self.d}/plan.json', f'{self.d}/progress'
        with open(plan, 'w') as f:
            json.dump(steps, f)
        with open(progress, 'w') as f:
            f.write('0')
        # what it writes may show in a read from now on
        writes = []
        for what, key, ver in steps:
            if what in ('put', 'del'):
                writes.append(model.write(key, ver, 'maybe',
                                          f'session {self.sessions}'))
            elif what == 'clear':
                writes.append([model.write(k, None, 'maybe',
                                           f'clear {self.sessions}')
                               for k in KEYS])
            else:
                writes.append(None)
        proc = subprocess.Popen([self.py, __file__, 'session', self.store,
                                 plan, progress])
        self.writer = (proc, steps, writes, set(keys), exclusive)
        trace(f'session {self.sessions} started: {steps}')
        self.sessions += 1

    def end_session(self, kill):
        proc, steps, writes, keys, _ = self.writer
        if kill:
            proc.send_signal(signal.SIGUSR1)
        rc = proc.wait()
        # killed: before its handler was set, or once it had ended
        if rc not in ((0, 137, -signal.SIGUSR1) if kill else (0,)):
            sys.exit(f'a Python session failed: {rc}')
        self.killed += kill and rc != 0
        trace(f'session {self.sessions - 1} ended ({rc})')
        with open(f'{self.d}/progress') as f:
            done = int(f.read())
        for w in writes[:done]:  # synced: done
            for one in w if w and isinstance(w[0], list) else [w]:
                if one is not None:
                    one[1] = 'done'
        self.writer = None
        # what it left done shows in both mounts, also once killed
        want = {}
        for k in keys:
            f = self.model.finals(k)
            if len(f) == 1:
                want[k] = f.pop()
        wait_shown([self.rw, self.ro], want,
                   'a session was killed' if kill else 'a session closed')
        trace('its writes shown')

    def shell_write(self):
        busy = self.writer[3] if self.writer else set()
        if self.writer and self.writer[4]:
            return
        key = self.rng.choice([k for k in KEYS if k not in busy])
        path = os.path.join(self.rw, key)
        if self.rng.random() < 0.2:
            may = self.model.finals(key)
            w = self.model.write(key, None, 'maybe', 'rm')
            r = subprocess.run(['rm', path], stderr=subprocess.PIPE)
            # a key the store surely has: its name shows
            if r.returncode != 0 and None not in may and \
                    b'No such file' in r.stderr:
                sys.exit(f'rm {path}: {r.stderr.decode().strip()}, though '
                         f'the store has {may}')
        else:
            ver = self.model.new_version()
            src = f'{self.d}/value'
            with open(src, 'wb') as f:
                f.write(val(key, ver))
            w = self.model.write(key, ver, 'maybe', 'cp')
            self.model.cp_start(key, ver)
            r = subprocess.run(['cp', src, path], stderr=subprocess.PIPE)
            self.model.cp_end()
        self.shell += 1
        trace(f'{r.args[0]} {key}: {r.returncode}')
        if r.returncode != 0:
            # EBUSY past the lock timeout while a session holds the
            # store, a directory whose keys all went, a name the mount
            # does not show (yet: a killed session's last puts): nothing
            # of it stored, nothing shown
            w[1] = 'failed'
            self.failed += 1
            return
        w[1] = 'done'
        if not shows(self.rw, key, w[0]):
            sys.exit(f'{self.rw}/{key} does not read back version {w[0]} '
                     f'just written')
        wait_shown([self.ro], {key: w[0]}, 'a write through the mount')

    def prune(self):
        subprocess.run([self.mount.bltfs, 'ctl', self.rw, 'prune'],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.prunes += 1
        trace('prune')

    def kill_mount(self):
        self.readers.restarting = True
        self.mount.kill()
        self.readers.gen += 1
        self.mount.start()
        self.readers.restarting = False
        self.kills += 1
        trace('RW killed and mounted again')

    def run(self, steps):
        for i in range(steps):
            r = self.rng.random()
            if self.writer is None and r < 0.3:
                self.start_session()
            elif self.writer is not None and r < 0.25:
                self.end_session(kill=self.rng.random() < 0.25)
            elif r < 0.85:
                self.shell_write()
            elif r < 0.93:
                self.prune()
            else:
                self.kill_mount()
        if self.writer is not None:
            self.end_session(kill=False)
        # a clean close last: the reference reads a store a killed
        # session left only once a writer opened it again
        self.start_session()
        self.end_session(kill=False)

    def check(self):
        self.readers.stop()
        if self.readers.errors:
            # each with its key's writes ([version, state, by], in order)
            sys.exit('\n'.join(f'{text}; its writes: {self.model.writes[key]}'
                               for text, key in self.readers.errors[:20]))
        for key, ver in self.readers.seen:
            if not self.model.may_read(key, ver):
                sys.exit(f'{key}: read version {ver}, whose write failed')
        out = subprocess.run([self.py, '-c', '''
import booklet, json, sys
with booklet.open(sys.argv[1], 'r') as db:
    print(json.dumps({k: v.decode() for k, v in db.items()}))
''', self.store], stdout=subprocess.PIPE, check=True, text=True).stdout
        got = {k: v.encode() for k, v in json.loads(out).items()}
        final = {}
        for key in KEYS:
            may = self.model.finals(key)
            ver = version_of(key, got[key]) if key in got else None
            if (key in got and ver is None) or ver not in may:
                sys.exit(f'{key}: the store holds version {ver}, the '
                         f'model allows {sorted(may, key=str)}')
            final[key] = ver
        extra = set(got) - set(KEYS)
        if extra:
            sys.exit(f'keys nobody wrote: {sorted(extra)[:5]}')
        wait_shown([self.rw, self.ro], final, 'the end')
        try:
            with open(f'{self.d}/progress.waits') as f:
                waits = [int(x) for x in f]
        except FileNotFoundError:
            waits = []
        print(f'mount-history: {self.sessions} sessions ({self.killed} '
              f'killed, {len(waits)} opened again after a lock held, '
              f'{0.05 * max(waits, default=0):.2f} s at most), '
              f'{self.shell} cp or rm through the mount '
              f'({self.failed} failed), {self.prunes} '
              f'prunes, {self.kills} daemon kills; {self.readers.reads} '
              f'reads checked, {self.readers.busy} EBUSY')


def drive(store, rw, ro, d, seed, steps, py, bltfs, daemons):
    mount = Mount(bltfs, store, rw, daemons)
    mount.start()
    h = History(store, rw, ro, d, int(seed), py, mount)
    try:
        h.run(int(steps))
        h.check()
    finally:
        if h.writer is not None:
            h.writer[0].kill()
    mount.stop()


if __name__ == '__main__':
    {'create': create, 'session': session,
     'drive': drive}[sys.argv[1]](*sys.argv[2:])
