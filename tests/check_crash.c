/*
 * check_crash.c: crashes at every kind of moment lose nothing that was
 * committed.
 *
 * A forked writer runs a seeded random workload (puts, overwrites,
 * deletes, flushes, syncs, reindexes, prunes, clears, reopens) and dies
 * with SIGKILL right before its Nth write or fsync, N chosen at random: the
 * engine's I/O hook counts them.  Two models of the crash:
 *
 *   kill   the process dies; every write it made is in the page cache, so
 *          a flush is as good as a sync;
 *   power  the power fails: the hook keeps an undo log of every write
 *          since the last fsync of each file and rolls the file back to
 *          its last fsync, then replays a random prefix of those writes
 *          with the last one torn at a 512-byte sector boundary (SQLite's
 *          crash model: sectors are written whole);
 *   reorder  the power fails after the kernel wrote back some of the
 *          dirty sectors, in any order (the CrashMonkey and ALICE model,
 *          and what LazyFS showed of ext4): every file is rolled back to
 *          its last fsync, then each 512-byte sector is given the
 *          writes to it up to a moment of its own, chosen at random, so
 *          that it holds something it held at some point since, and two
 *          sectors may hold states of different moments.
 *
 * The writer reports every commit point it passes through a pipe.  The
 * parent replays the same workload in a model, reopens the store (which
 * recovers it) and checks every key: a key untouched since the last commit
 * point has exactly its committed value and timestamp; any other key
 * holds its committed value or one written later, or is absent if it was
 * absent or deleted since — never anything else.  Then blt_check must find
 * nothing wrong.  Before that, a read-only open, which cannot recover the
 * store, must either refuse it or read it right as it is, and change
 * nothing.
 *
 * BLT_CRASH_ITERATIONS sets the number of crashes per model (default 150).
 *
 * The operations on the store's names that a prune makes (creating its new
 * file, renaming it into place, syncing the directory, removing a
 * leftover) are crash points too, and the "names" cases fail each of them
 * instead: the error names the file and the cause, and the store loses
 * nothing and keeps working.
 *
 * Apart from the crashes, a count on a disk that takes no more writes
 * keeps what is buffered.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "booklet.h"
#include "internal.h"
#include "testutil.h"

#define N_KEYS 120
#define N_OPS 400
#define T0 INT64_C(1600000000000000)
#define VALUE_MAX 4096

enum op {
	OP_PUT,
	OP_DEL,
	OP_FLUSH,
	OP_SYNC,
	OP_REINDEX,
	OP_PRUNE,
	OP_CLEAR,
	OP_REOPEN,
	OP_META,
};

struct step {
	enum op op;
	int key;
	int vlen;
};

/* The workload of a seed: the same for the writer and the model. */
static void
workload(unsigned seed, struct step *w)
{
	for (int i = 0; i < N_OPS; i++) {
		int r = rand_r(&seed) % 1000;

		w[i].key = rand_r(&seed) % N_KEYS;
		w[i].vlen = rand_r(&seed) % 300;
		if (w[i].vlen < 15) /* past the writer's 2 KiB buffer: the
		                       engine writes it unbuffered */
			w[i].vlen = 2100 + w[i].vlen * 100;
		w[i].op = r < 600   ? OP_PUT
		          : r < 760 ? OP_DEL
		          : r < 830 ? OP_FLUSH
		          : r < 900 ? OP_SYNC
		          : r < 915 ? OP_REINDEX
		          : r < 945 ? OP_PRUNE
		          : r < 950 ? OP_CLEAR
		          : r < 975 ? OP_REOPEN
		                    : OP_META;
	}
}

/* The value that step i writes: unique per step, so it names the step. */
static int
value_of(int i, int vlen, char *buf)
{
	int n = snprintf(buf, 64, "step %d;", i);

	for (int j = n; j < vlen; j++)
		buf[j] = (char)('a' + (i + j) % 26);
	return vlen > n ? vlen : n;
}

/* --- the writer's crash hook ------------------------------------------ */

struct undo {
	int fd;
	ino_t ino;
	uint64_t off, old_size;
	size_t len;
	unsigned char *old, *new;
};

static struct crash {
	long countdown; /* writes and syncs left before the crash */
	int power;      /* 0 kill, 1 power (a prefix), 2 reorder */
	unsigned seed;
	struct undo *log;
	size_t n, cap;
} crash;

static ino_t
crash_ino(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 ? st.st_ino : 0;
}

/* Capture what the previous write left, for a replay. */
static void
crash_capture_last(void)
{
	struct undo *u;

	if (crash.n == 0 || crash.log[crash.n - 1].new != NULL)
		return;
	u = &crash.log[crash.n - 1];
	u->new = malloc(u->len + 1);
	if (pread(u->fd, u->new, u->len, (off_t)u->off) != (ssize_t)u->len)
		memset(u->new, 0, u->len);
}

/* The moment up to which the sector at off was written back, for a crash
 * of seed: writes 0 to the result minus one reached it.  Not of the
 * file's inode number, which a rerun of the seed does not repeat. */
static size_t
crash_sector_moment(unsigned seed, uint64_t off, size_t n)
{
	uint64_t x = (seed + (off / 512) * UINT64_C(0x9e3779b97f4a7c15)) *
	             UINT64_C(0xbf58476d1ce4e5b9);

	x ^= x >> 31;
	x *= UINT64_C(0x94d049bb133111eb);
	x ^= x >> 29;
	return (size_t)(x % (n + 1));
}

/* Replay, sector by sector, the writes each sector got before its own
 * moment (crash_sector_moment()); the files are rolled back already. */
static void
crash_reorder(void)
{
	unsigned seed = (unsigned)rand_r(&crash.seed);

	for (size_t i = 0; i < crash.n; i++) {
		struct undo *u = &crash.log[i];
		uint64_t end = u->off + u->len;

		if (crash_ino(u->fd) != u->ino || u->new == NULL)
			continue;
		for (uint64_t s = u->off & ~UINT64_C(511); s < end; s += 512) {
			uint64_t from = s > u->off ? s : u->off;
			uint64_t to = s + 512 < end ? s + 512 : end;

			if (i < crash_sector_moment(seed, s, crash.n))
				(void)!pwrite(u->fd, u->new + (from - u->off),
				    (size_t)(to - from), (off_t)from);
		}
	}
}

/* Roll every file back to its last fsync, replay a random prefix of the
 * writes since, the last of them torn in half; or, for reorder, what
 * crash_reorder() says. */
static void
crash_power_cut(void)
{
	size_t k;

	crash_capture_last();
	for (size_t i = crash.n; i-- > 0;) {
		struct undo *u = &crash.log[i];

		if (crash_ino(u->fd) != u->ino)
			continue;
		if (u->off < u->old_size)
			(void)!pwrite(u->fd, u->old,
			    u->old_size - u->off < u->len
			        ? (size_t)(u->old_size - u->off)
			        : u->len,
			    (off_t)u->off);
		(void)!ftruncate(u->fd, (off_t)u->old_size);
	}
	if (crash.power == 2) {
		crash_reorder();
		return;
	}
	k = crash.n ? (size_t)rand_r(&crash.seed) % (crash.n + 1) : 0;
	for (size_t i = 0; i < k; i++) {
		struct undo *u = &crash.log[i];
		size_t len = u->len;

		if (i + 1 == k) { /* torn, at a sector boundary */
			uint64_t cut = (u->off + u->len / 2) & ~UINT64_C(511);

			len = cut > u->off ? (size_t)(cut - u->off) : 0;
		}

		if (crash_ino(u->fd) == u->ino && u->new != NULL)
			(void)!pwrite(u->fd, u->new, len, (off_t)u->off);
	}
}

static int
crash_hook(void *arg, int op, int fd, uint64_t off, size_t len)
{
	struct stat st;
	struct undo *u;

	(void)arg;
	if (op == IO_OP_CLOSE) {
		/* Closed unsynced only when a prune renamed a new file over
		 * it: its log is moot, and its inode number may come back. */
		op = IO_OP_SYNC;
	} else if (crash.countdown-- == 0) {
		if (crash.power)
			crash_power_cut();
		raise(SIGKILL);
	}
	if (!crash.power)
		return 0;
	crash_capture_last();
	if (fd == -1 || fstat(fd, &st) != 0) /* -1: an operation on a name */
		return 0;
	if (op == IO_OP_SYNC) { /* whatever descriptor wrote to the file */
		size_t kept = 0;

		for (size_t i = 0; i < crash.n; i++) {
			if (crash.log[i].ino == st.st_ino) {
				close(crash.log[i].fd);
				free(crash.log[i].old);
				free(crash.log[i].new);
			} else {
				crash.log[kept++] = crash.log[i];
			}
		}
		crash.n = kept;
		return 0;
	}
	if (op == IO_OP_TRUNCATE) { /* keep what the cut drops */
		len =
		    off < (uint64_t)st.st_size ? (size_t)(st.st_size - off) : 0;
	}
	if (crash.n == crash.cap) {
		crash.cap = crash.cap ? crash.cap * 2 : 256;
		crash.log = realloc(crash.log, crash.cap * sizeof *crash.log);
	}
	u = &crash.log[crash.n++];
	/* a descriptor of our own: the engine writes big values through a
	 * duplicate that it closes right after */
	u->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	u->ino = st.st_ino;
	u->off = off;
	u->len = len;
	u->old_size = (uint64_t)st.st_size;
	u->old = calloc(1, len + 1);
	(void)!pread(fd, u->old, len, (off_t)off);
	u->new = op == IO_OP_TRUNCATE ? calloc(1, 1) : NULL;
	if (op == IO_OP_TRUNCATE)
		u->len = 0;
	return 0;
}

/* --- the writer -------------------------------------------------------- */

/* Run the workload; returns 0, or the step that failed plus one. */
static int
writer(const char *path, const struct step *w, int report)
{
	struct blt_options o;
	struct blt *db;
	char v[VALUE_MAX];

	blt_options_default(&o);
	o.write_buffer = 2048;
	if (blt_open(path, BLT_RDWR, &o, &db) < 0)
		return 1;
	for (int i = 0; i < N_OPS; i++) {
		char k[16];
		int rc = 0, commit = 0;

		snprintf(k, sizeof k, "key%03d", w[i].key);
		switch (w[i].op) {
		case OP_PUT:
			rc = blt_put(db, k, strlen(k), v,
			    (size_t)value_of(i, w[i].vlen, v), T0 + i);
			break;
		case OP_DEL:
			rc = blt_del(db, k, strlen(k));
			rc = rc == -ENOENT ? 0 : rc;
			break;
		case OP_FLUSH:
			rc = blt_flush(db);
			commit = 1; /* for a kill; a power cut needs a sync */
			break;
		case OP_SYNC:
			rc = blt_sync(db);
			commit = 2;
			break;
		case OP_REINDEX: /* to 12007, then 144013 buckets at most */
			rc = blt_reindex(
			    db, blt_count(db) < 40 ? 12007 : 144013);
			commit = rc == 0 ? 2 : 0; /* refused: nothing synced */
			rc = rc == -EINVAL ? 0 : rc;
			break;
		case OP_PRUNE:
			rc = blt_prune(db, NULL) < 0 ? -1 : 0;
			commit = 2;
			break;
		case OP_CLEAR:
			rc = blt_clear(db);
			commit = 2;
			break;
		case OP_REOPEN:
			rc = blt_close(db);
			if (rc == 0)
				rc = blt_open(path, BLT_RDWR, &o, &db);
			commit = 2;
			break;
		case OP_META:
			rc = blt_set_meta(db, "{\"step\":1}", 10, T0 + i);
			break;
		}
		if (rc < 0) {
			fprintf(stderr, "step %d (op %d): %s\n", i,
			    (int)w[i].op, blt_errmsg());
			return i + 1;
		}
		if (commit == 2 || (commit == 1 && !crash.power)) {
			int32_t idx = i;

			(void)!write(report, &idx, sizeof idx);
		}
	}
	return blt_close(db) < 0 ? N_OPS : 0;
}

/* --- the model --------------------------------------------------------- */

struct allowed {
	int committed;    /* step that wrote the committed value, -1: absent */
	int touched;      /* changed after the commit point */
	int may_absent;   /* absent is allowed */
	int steps[N_OPS]; /* later values allowed */
	int n_steps;
};

static void
model(const struct step *w, int commit, struct allowed *a)
{
	int cur[N_KEYS];

	for (int k = 0; k < N_KEYS; k++)
		cur[k] = -1;
	for (int i = 0; i < N_OPS; i++) {
		if (i == commit + 1)
			for (int k = 0; k < N_KEYS; k++) {
				a[k].committed = cur[k];
				a[k].touched = 0;
				a[k].may_absent = cur[k] == -1;
				a[k].n_steps = 0;
			}
		if (w[i].op == OP_PUT)
			cur[w[i].key] = i;
		else if (w[i].op == OP_DEL)
			cur[w[i].key] = -1;
		else if (w[i].op == OP_CLEAR)
			for (int k = 0; k < N_KEYS; k++)
				cur[k] = -1;
		if (i <= commit)
			continue;
		if (w[i].op == OP_PUT) {
			struct allowed *x = &a[w[i].key];

			x->touched = 1;
			x->steps[x->n_steps++] = i;
		} else if (w[i].op == OP_DEL) {
			a[w[i].key].touched = 1;
			a[w[i].key].may_absent = 1;
		} else if (w[i].op == OP_CLEAR) {
			for (int k = 0; k < N_KEYS; k++) {
				a[k].touched = 1;
				a[k].may_absent = 1;
			}
		}
	}
	if (commit + 1 >= N_OPS)
		for (int k = 0; k < N_KEYS; k++) {
			a[k].committed = cur[k];
			a[k].touched = 0;
			a[k].may_absent = cur[k] == -1;
			a[k].n_steps = 0;
		}
}

/* Does the store hold for key k one of the allowed values? */
/* A reordered write-back may keep the link of a block whose value it did
 * not write back: a key absent at the commit point, or deleted since, may
 * then hold bytes nobody wrote, when the flush that linked it was of new
 * keys alone and synced nothing (src/booklet/write.c, doc/durability.md).
 * A key holding a committed value never may. */
static int verify_new_may_be_torn;

static void
verify_key(struct blt *db, const struct step *w, int k, const struct allowed *a,
    unsigned seed, long at)
{
	char key[16], got[VALUE_MAX], want[VALUE_MAX];
	int64_t ts;
	ssize_t n;

	snprintf(key, sizeof key, "key%03d", k);
	n = blt_get(db, key, strlen(key), got, sizeof got, &ts);
	ck_assert_msg(n >= 0 || n == -ENOENT, "seed %u crash %ld: %s: %s", seed,
	    at, key, blt_errmsg());
	if (n == -ENOENT) {
		ck_assert_msg(a->may_absent,
		    "seed %u crash %ld: %s lost (committed step %d)", seed, at,
		    key, a->committed);
		return;
	}
	if (a->committed >= 0 && ts == T0 + a->committed) {
		int len = value_of(a->committed, w[a->committed].vlen, want);

		ck_assert_msg(n == len && memcmp(got, want, (size_t)len) == 0,
		    "seed %u crash %ld: %s: committed value corrupt", seed, at,
		    key);
		return;
	}
	ck_assert_msg(a->touched,
	    "seed %u crash %ld: %s: has step %lld, committed was step %d", seed,
	    at, key, (long long)(ts - T0), a->committed);
	for (int i = 0; i < a->n_steps; i++) {
		int s = a->steps[i], len;

		if (ts != T0 + s)
			continue;
		len = value_of(s, w[s].vlen, want);
		if (verify_new_may_be_torn && a->may_absent)
			return;
		ck_assert_msg(n == len && memcmp(got, want, (size_t)len) == 0,
		    "seed %u crash %ld: %s: value of step %d corrupt", seed, at,
		    key, s);
		return;
	}
	ck_assert_msg(0,
	    "seed %u crash %ld: %s holds a value never written (step %lld, "
	    "%zd bytes, committed step %d)",
	    seed, at, key, (long long)(ts - T0), n, a->committed);
}

/* The whole file at path, in a new buffer of *len bytes. */
static unsigned char *
read_whole(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf;
	long n;

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	ck_assert_int_ge(n = ftell(f), 0);
	rewind(f);
	ck_assert_ptr_nonnull(buf = malloc((size_t)n + 1));
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* Opened read-only, the crashed store is refused (-EUCLEAN), or it reads
 * right as it is: every key as verify_key() allows, as many as it counts;
 * and not a byte of it changes.  1 if it was read. */
static int
verify_read_only(const char *path, const struct step *w,
    const struct allowed *a, unsigned seed, long at)
{
	size_t before_len, after_len;
	unsigned char *before = read_whole(path, &before_len), *after;
	struct blt *db;
	uint64_t found = 0;
	int rc = blt_open(path, BLT_RDONLY, NULL, &db);

	ck_assert_msg(rc == 0 || rc == -EUCLEAN,
	    "seed %u crash %ld: read-only open: %s", seed, at, blt_errmsg());
	if (rc == 0) {
		for (int k = 0; k < N_KEYS; k++) {
			char key[16];

			verify_key(db, w, k, &a[k], seed, at);
			snprintf(key, sizeof key, "key%03d", k);
			found += blt_exists(db, key, strlen(key)) == 1;
		}
		ck_assert_msg(blt_count(db) == (int64_t)found,
		    "seed %u crash %ld: read-only: counts %llu keys, holds "
		    "%llu",
		    seed, at, (unsigned long long)blt_count(db),
		    (unsigned long long)found);
		ck_assert_int_eq(blt_close(db), 0);
	}
	after = read_whole(path, &after_len);
	ck_assert_msg(
	    before_len == after_len && memcmp(before, after, before_len) == 0,
	    "seed %u crash %ld: a read-only open changed the store", seed, at);
	free(before);
	free(after);
	return rc == 0;
}

static void
print_problem(void *arg, uint64_t off, const char *problem)
{
	(void)arg;
	fprintf(stderr, "  at %llu: %s\n", (unsigned long long)off, problem);
}

/* 1 if the crashed store was read by a read-only open (verify_read_only),
 * else 0. */
static int
crash_once(int power, unsigned seed, long at)
{
	static struct step w[N_OPS];
	static struct allowed a[N_KEYS];
	char path[PATH_MAX];
	struct blt_options o;
	struct blt *db;
	int pipefd[2], status, commit = -1, read_only;
	int32_t idx;
	pid_t pid;

	tu_tmpstore(path, sizeof path);
	blt_options_default(&o);
	o.n_buckets = 7; /* reindex early and often */
	ck_assert_int_eq(blt_open(path, BLT_TRUNC, &o, &db), 0);
	ck_assert_int_eq(blt_close(db), 0);
	workload(seed, w);
	if (getenv("BLT_CRASH_TRACE") != NULL)
		for (int i = 0; i < N_OPS; i++)
			fprintf(stderr, "%d: op %d key %d\n", i, (int)w[i].op,
			    w[i].key);
	ck_assert_int_eq(pipe(pipefd), 0);
	if ((pid = fork()) == 0) {
		close(pipefd[0]);
		crash.countdown = at;
		crash.power = power;
		crash.seed = seed;
		io_set_hook(crash_hook, NULL);
		_exit(writer(path, w, pipefd[1]) ? 4 : 0);
	}
	close(pipefd[1]);
	while (read(pipefd[0], &idx, sizeof idx) == sizeof idx)
		commit = idx;
	close(pipefd[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) ||
	                  (WIFEXITED(status) && WEXITSTATUS(status) == 0),
	    "seed %u crash %ld: writer failed with status %d", seed, at,
	    status);
	if (WIFEXITED(status))
		commit = N_OPS; /* it finished and closed */
	model(w, commit, a);
	verify_new_may_be_torn = power == 2;
	if (getenv("BLT_CRASH_KEEP") != NULL) {
		char keep[PATH_MAX + 16];

		snprintf(keep, sizeof keep, "%s.crashed", path);
		tu_copy(path, keep);
		fprintf(stderr, "crashed store kept at %s (last commit %d)\n",
		    keep, commit);
	}

	read_only = verify_read_only(path, w, a, seed, at);
	ck_assert_msg(blt_open(path, BLT_RDWR, NULL, &db) == 0,
	    "seed %u crash %ld: reopen: %s", seed, at, blt_errmsg());
	for (int k = 0; k < N_KEYS; k++)
		verify_key(db, w, k, &a[k], seed, at);
	ck_assert_int_eq(blt_close(db), 0);
	ck_assert_msg(blt_check(path, 0, print_problem, NULL) == 0,
	    "seed %u crash %ld: blt_check found problems after recovery", seed,
	    at);
	tu_rmstore(path);
	return read_only;
}

/* How many writes and syncs the workload of seed makes in all. */
static long
count_io(unsigned seed)
{
	static struct step w[N_OPS];
	char path[PATH_MAX];
	struct blt_options o;
	struct blt *db;
	int devnull = open("/dev/null", O_WRONLY);

	tu_tmpstore(path, sizeof path);
	blt_options_default(&o);
	o.n_buckets = 7;
	ck_assert_int_eq(blt_open(path, BLT_TRUNC, &o, &db), 0);
	ck_assert_int_eq(blt_close(db), 0);
	workload(seed, w);
	crash.countdown = LONG_MAX;
	crash.power = 0;
	io_set_hook(crash_hook, NULL);
	ck_assert_int_eq(writer(path, w, devnull), 0);
	io_set_hook(NULL, NULL);
	close(devnull);
	tu_rmstore(path);
	return LONG_MAX - crash.countdown;
}

static void
crash_many(int power)
{
	const char *env = getenv("BLT_CRASH_ITERATIONS");
	long iterations = env ? strtol(env, NULL, 10) : 150;
	unsigned seed = tu_seed();
	long read_only = 0;

	for (long i = 0; i < iterations; i++) {
		unsigned s = seed + (unsigned)i;
		long total = count_io(s);
		unsigned r = s * 2654435761u;

		const char *at = getenv("BLT_CRASH_AT");

		read_only += crash_once(power, s,
		    at          ? strtol(at, NULL, 10)
		    : total > 0 ? (long)(r % (unsigned)total)
		                : 0);
	}
	fprintf(stderr,
	    "%s: %ld crashes, seeds %u..%u; %ld of the crashed stores read "
	    "read-only as they were, the others refused\n",
	    power == 2 ? "reorder"
	    : power    ? "power"
	               : "kill",
	    iterations, seed, seed + (unsigned)iterations - 1, read_only);
}

START_TEST(a_killed_writer_loses_nothing_it_flushed)
{
	crash_many(0);
}
END_TEST

START_TEST(a_power_cut_loses_nothing_that_was_synced)
{
	crash_many(1);
}
END_TEST

/* Issue 67: a tombstone of an overwritten block written back before the
 * block that replaced it lost both versions. */
START_TEST(a_power_cut_after_any_writeback_order_loses_nothing_synced)
{
	crash_many(2);
}
END_TEST

/* --- the operations on a store's names, failed ------------------------ */

#define FAULT_KEYS 300

/* The operations the hook fails (a mask of 1 << IO_OP_*), with what; and
 * how many of them it was asked for. */
static struct fault {
	unsigned ops;
	int rc;
	int seen;
} fault;

static int
fault_hook(void *arg, int op, int fd, uint64_t off, size_t len)
{
	(void)arg;
	(void)fd;
	(void)off;
	(void)len;
	if (!(fault.ops & 1u << op))
		return 0;
	fault.seen++;
	return fault.rc;
}

/* Fail the operations ops with rc from now on. */
static void
fault_start(unsigned ops, int rc)
{
	fault.ops = ops;
	fault.rc = rc;
	fault.seen = 0;
	io_set_hook(fault_hook, NULL);
}

static void
fault_stop(void)
{
	io_set_hook(NULL, NULL);
}

/* The value key i holds: overwritten for even i, so that a prune has
 * blocks to drop. */
static int
fault_value(int i, char *buf, size_t cap)
{
	return snprintf(
	    buf, cap, "%s of key %d", i % 2 ? "first" : "second", i);
}

/* A new store at tu_store holding FAULT_KEYS keys, flushed. */
static struct blt *
fault_store(void)
{
	struct blt_options o;
	struct blt *db;
	char k[32], v[64];

	blt_options_default(&o);
	ck_assert_int_eq(blt_open(tu_store, BLT_TRUNC, &o, &db), 0);
	for (int i = 0; i < FAULT_KEYS; i++) {
		snprintf(k, sizeof k, "key%d", i);
		ck_assert_int_eq(blt_put(db, k, strlen(k), "first", 5, T0), 0);
		ck_assert_int_eq(
		    blt_put(db, k, strlen(k), v,
		        (size_t)fault_value(i, v, sizeof v), T0 + i),
		    0);
	}
	ck_assert_int_eq(blt_flush(db), 0);
	return db;
}

/* db holds every value fault_store() put, and "after" when after is set. */
static void
fault_check_values(struct blt *db, int after)
{
	char k[32], v[64], got[64];

	for (int i = 0; i < FAULT_KEYS; i++) {
		int len = fault_value(i, v, sizeof v);
		int64_t ts;

		snprintf(k, sizeof k, "key%d", i);
		ck_assert_int_eq(
		    blt_get(db, k, strlen(k), got, sizeof got, &ts), len);
		ck_assert_int_eq(memcmp(got, v, (size_t)len), 0);
		ck_assert_int_eq(ts, T0 + i);
	}
	ck_assert_int_eq(blt_exists(db, "after", 5), after);
	ck_assert_uint_eq(blt_count(db), FAULT_KEYS + (after != 0));
}

/* The store keeps working: a put and a prune go through, and reopened it
 * holds every value and checks clean. */
static void
fault_check_works(struct blt *db)
{
	fault_check_values(db, 0);
	ck_assert_int_eq(blt_put(db, "after", 5, "x", 1, T0), 0);
	ck_assert_int_eq(blt_flush(db), 0);
	ck_assert_int_ge(blt_prune(db, NULL), 0);
	fault_check_values(db, 1);
	ck_assert_int_eq(blt_close(db), 0);
	ck_assert_int_eq(blt_open(tu_store, BLT_RDWR, NULL, &db), 0);
	fault_check_values(db, 1);
	ck_assert_int_eq(blt_close(db), 0);
	ck_assert_msg(blt_check(tu_store, 0, print_problem, NULL) == 0, "%s",
	    blt_errmsg());
}

/* blt_errmsg() names the file path and says the cause of rc and what. */
static void
fault_check_msg(const char *path, int rc, const char *what)
{
	const char *msg = blt_errmsg();

	ck_assert_msg(strstr(msg, path) != NULL, "no %s in: %s", path, msg);
	ck_assert_msg(strstr(msg, what) != NULL, "no %s in: %s", what, msg);
	ck_assert_msg(strstr(msg, strerror(-rc)) != NULL, "no %s in: %s",
	    strerror(-rc), msg);
}

static ino_t
fault_ino(const char *path)
{
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_ino;
}

/* The prune's new file beside the store. */
static const char *
fault_tmp(void)
{
	static char tmp[PATH_MAX + 16];

	snprintf(tmp, sizeof tmp, "%s.bltfs-tmp", tu_store);
	return tmp;
}

/* The new file cannot be renamed over the store: the prune fails naming
 * the store and the cause, its new file is removed, and the store is the
 * old file, whole. */
START_TEST(prune_rename_failure_keeps_the_old_store)
{
	struct blt *db = fault_store();
	ino_t ino = fault_ino(tu_store);

	fault_start(1u << IO_OP_RENAME, -EXDEV);
	ck_assert_int_eq(blt_prune(db, NULL), -EXDEV);
	fault_stop();
	ck_assert_int_eq(fault.seen, 1);
	fault_check_msg(tu_store, -EXDEV, "rename");
	ck_assert(fault_ino(tu_store) == ino);
	ck_assert_int_eq(access(fault_tmp(), F_OK), -1);
	fault_check_works(db);
}
END_TEST

/* The same for a clear: nothing is cleared. */
START_TEST(clear_rename_failure_keeps_every_value)
{
	struct blt *db = fault_store();

	fault_start(1u << IO_OP_RENAME, -EIO);
	ck_assert_int_eq(blt_clear(db), -EIO);
	fault_stop();
	fault_check_msg(tu_store, -EIO, "rename");
	ck_assert_int_eq(access(fault_tmp(), F_OK), -1);
	fault_check_works(db);
}
END_TEST

/* The directory cannot be synced after the rename: the prune says so,
 * naming the store and the cause; the pruned file is the store from then
 * on, and holds every value. */
START_TEST(prune_dir_fsync_failure_is_reported)
{
	struct blt *db = fault_store();
	ino_t ino = fault_ino(tu_store);

	fault_start(1u << IO_OP_SYNC_DIR, -EIO);
	ck_assert_int_eq(blt_prune(db, NULL), -EIO);
	fault_stop();
	ck_assert_int_eq(fault.seen, 1);
	fault_check_msg(tu_store, -EIO, "fsync of its directory");
	ck_assert(fault_ino(tu_store) != ino);
	fault_check_works(db);
}
END_TEST

/* The new file cannot be made: the prune fails naming it and the cause,
 * and changes nothing. */
START_TEST(prune_create_failure_is_reported)
{
	struct blt *db = fault_store();
	ino_t ino = fault_ino(tu_store);

	fault_start(1u << IO_OP_CREATE, -ENOSPC);
	ck_assert_int_eq(blt_prune(db, NULL), -ENOSPC);
	fault_stop();
	fault_check_msg(fault_tmp(), -ENOSPC, "cannot make the new file");
	ck_assert(fault_ino(tu_store) == ino);
	ck_assert_int_eq(access(fault_tmp(), F_OK), -1);
	fault_check_works(db);
}
END_TEST

/* A crash left a prune's new file, which cannot be removed: the open goes
 * on without it, a prune fails naming it and the cause, and once it can
 * be removed the next prune does. */
START_TEST(leftover_unlink_failure_fails_the_prune_not_the_open)
{
	struct blt *db = fault_store();
	FILE *f;

	ck_assert_int_eq(blt_close(db), 0);
	ck_assert_ptr_nonnull(f = fopen(fault_tmp(), "w"));
	fclose(f);
	fault_start(1u << IO_OP_UNLINK, -EACCES);
	ck_assert_int_eq(blt_open(tu_store, BLT_RDWR, NULL, &db), 0);
	ck_assert_int_eq(fault.seen, 1);
	ck_assert_int_eq(blt_prune(db, NULL), -EACCES);
	fault_stop();
	fault_check_msg(fault_tmp(), -EACCES, "cannot make the new file");
	ck_assert_int_eq(access(fault_tmp(), F_OK), 0);
	fault_check_works(db);
	ck_assert_int_eq(access(fault_tmp(), F_OK), -1);
}
END_TEST

/* A failed prune whose new file cannot be removed either leaves it to the
 * next open, which removes it. */
START_TEST(a_prune_file_left_by_a_failed_unlink_goes_at_the_next_open)
{
	struct blt *db = fault_store();

	fault_start(1u << IO_OP_RENAME | 1u << IO_OP_UNLINK, -EIO);
	ck_assert_int_eq(blt_prune(db, NULL), -EIO);
	fault_stop();
	fault_check_msg(tu_store, -EIO, "rename");
	ck_assert_int_eq(access(fault_tmp(), F_OK), 0);
	ck_assert_int_eq(blt_close(db), 0);
	ck_assert_int_eq(blt_open(tu_store, BLT_RDWR, NULL, &db), 0);
	ck_assert_int_eq(access(fault_tmp(), F_OK), -1);
	fault_check_works(db);
}
END_TEST

/* fault_store()'s store, closed, and found where a prune's new file is
 * renamed from, nothing at its path: a rename cut short. */
static void
fault_store_left_as_prune_file(void)
{
	ck_assert_int_eq(blt_close(fault_store()), 0);
	ck_assert_int_eq(rename(tu_store, fault_tmp()), 0);
}

/* A store missing beside a prune's new file that reads whole (its rename
 * cut short where a rename is not atomic, issue 67): an open for writing
 * puts that file in place, with every value; it is never replaced by a
 * new empty store.  A read-only open fails, naming it. */
START_TEST(a_missing_store_is_put_back_from_a_whole_prune_file)
{
	struct blt *db;

	fault_store_left_as_prune_file();
	ck_assert_int_eq(blt_open(tu_store, BLT_RDONLY, NULL, &db), -ENOENT);
	ck_assert_msg(
	    strstr(blt_errmsg(), fault_tmp()) != NULL, "%s", blt_errmsg());
	ck_assert_int_eq(blt_open(tu_store, BLT_CREATE, NULL, &db), 0);
	ck_assert_int_eq(access(fault_tmp(), F_OK), -1);
	fault_check_works(db);
}
END_TEST

/* One that does not read whole is left as it is, and the open fails,
 * naming it and the store. */
START_TEST(a_missing_store_beside_a_torn_prune_file_is_refused)
{
	struct blt *db;
	struct stat st;

	fault_store_left_as_prune_file();
	ck_assert_int_eq(stat(fault_tmp(), &st), 0);
	ck_assert_int_eq(truncate(fault_tmp(), st.st_size / 2), 0);
	ck_assert_int_eq(blt_open(tu_store, BLT_CREATE, NULL, &db), -EUCLEAN);
	ck_assert_msg(strstr(blt_errmsg(), fault_tmp()) != NULL &&
	                  strstr(blt_errmsg(), "is no sound store") != NULL,
	    "%s", blt_errmsg());
	ck_assert_int_eq(access(tu_store, F_OK), -1);
	ck_assert_int_eq(stat(fault_tmp(), &st), 0);
	ck_assert_int_eq(unlink(fault_tmp()), 0);
}
END_TEST

static int create_calls, create_die_at;

/* Kill the process right before the create_die_at-th operation. */
static int
create_hook(void *arg, int op, int fd, uint64_t off, size_t len)
{
	(void)arg;
	(void)op;
	(void)fd;
	(void)off;
	(void)len;
	if (++create_calls == create_die_at)
		raise(SIGKILL);
	return 0;
}

/* How many PATH.bltfs-new.PID names are beside tu_store. */
static int
leftover_news(void)
{
	char pattern[PATH_MAX + 32];
	glob_t g;
	int n;

	snprintf(pattern, sizeof pattern, "%s.bltfs-new.*", tu_store);
	if (glob(pattern, 0, NULL, &g) != 0)
		return 0;
	n = (int)g.gl_pathc;
	globfree(&g);
	return n;
}

/* A new store killed at any moment of its making leaves no store or a
 * whole empty one at its path, never a 0-byte file or a torn header that
 * nothing repairs (issue 67). */
START_TEST(a_create_killed_at_any_moment_leaves_no_torn_store)
{
	struct blt *db;
	int status, done = 0;

	for (create_die_at = 1; !done && create_die_at < 64; create_die_at++) {
		pid_t pid;

		unlink(tu_store);
		ck_assert_int_ge(pid = fork(), 0);
		if (pid == 0) {
			create_calls = 0;
			io_set_hook(create_hook, NULL);
			if (blt_open(tu_store, BLT_CREATE, NULL, &db) < 0 ||
			    blt_close(db) < 0)
				_exit(1);
			_exit(0);
		}
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		done = WIFEXITED(status) && WEXITSTATUS(status) == 0;
		ck_assert_msg(done || WIFSIGNALED(status), "status %d", status);
		if (access(tu_store, F_OK) == 0)
			ck_assert_msg(
			    blt_check(tu_store, 0, print_problem, NULL) == 0,
			    "killed at operation %d: %s", create_die_at,
			    blt_errmsg());
	}
	ck_assert_msg(done, "the create never ended");
	ck_assert_int_eq(blt_open(tu_store, BLT_RDWR, NULL, &db), 0);
	ck_assert_uint_eq(blt_count(db), 0);
	ck_assert_int_eq(blt_close(db), 0);
	/* and the temporary names the killed ones left went with the
	 * making that ended */
	ck_assert_int_eq(leftover_news(), 0);
}
END_TEST

static int full_disk_calls;

/* A disk with no room left: every write, truncate and sync fails. */
static int
full_disk(void *arg, int op, int fd, uint64_t off, size_t len)
{
	(void)arg;
	(void)fd;
	(void)off;
	(void)len;
	if (op == IO_OP_CLOSE)
		return 0;
	full_disk_calls++;
	return -ENOSPC;
}

static void
assert_value(struct blt *db, const char *key, const char *want)
{
	char got[16];

	ck_assert_int_eq(blt_get(db, key, strlen(key), got, sizeof got, NULL),
	    (ssize_t)strlen(want));
	ck_assert_int_eq(memcmp(got, want, strlen(want)), 0);
}

/* blt_count() counts buffered puts without writing them: on a full disk
 * it is still right and the puts stay buffered (it used to flush, and a
 * flush that failed lost them without a word).  A damaged chain met while
 * counting is an error with its message, and loses nothing either. */
START_TEST(count_on_a_full_disk_keeps_the_buffered_puts)
{
	char path[PATH_MAX];
	unsigned char d[HASH_LEN];
	struct blt *db;
	uint64_t slot, head;

	tu_tmpstore(path, sizeof path);
	ck_assert_int_eq(blt_open(path, BLT_TRUNC, NULL, &db), 0);
	ck_assert_int_eq(blt_put(db, "stored", 6, "v", 1, T0), 0);
	ck_assert_int_eq(blt_flush(db), 0);
	/* two new keys, one of them put twice, an overwrite and the
	 * metadata: two more keys */
	ck_assert_int_eq(blt_put(db, "new1", 4, "a", 1, T0), 0);
	ck_assert_int_eq(blt_put(db, "new2", 4, "b", 1, T0), 0);
	ck_assert_int_eq(blt_put(db, "new1", 4, "c", 1, T0), 0);
	ck_assert_int_eq(blt_put(db, "stored", 6, "w", 1, T0), 0);
	ck_assert_int_eq(blt_set_meta(db, "{}", 2, T0), 0);

	full_disk_calls = 0;
	io_set_hook(full_disk, NULL);
	ck_assert_int_eq(blt_count(db), 3);
	io_set_hook(NULL, NULL);
	ck_assert_int_eq(full_disk_calls, 0);

	hash_digest("new2", 4, d);
	slot = index_slot(db, d);
	head = io_get_ptr(db, slot);
	le_put(db->map->base + slot, db->size + 1000, PTR_LEN);
	ck_assert_int_eq(blt_count(db), -EUCLEAN);
	ck_assert_msg(
	    strstr(blt_errmsg(), "damaged chain") != NULL, "%s", blt_errmsg());
	le_put(db->map->base + slot, head, PTR_LEN);

	assert_value(db, "new1", "c");
	assert_value(db, "new2", "b");
	assert_value(db, "stored", "w");
	ck_assert_int_eq(blt_flush(db), 0);
	ck_assert_int_eq(blt_count(db), 3);
	ck_assert_int_eq(blt_close(db), 0);

	ck_assert_int_eq(blt_open(path, BLT_RDONLY, NULL, &db), 0);
	ck_assert_int_eq(blt_count(db), 3);
	assert_value(db, "new1", "c");
	assert_value(db, "new2", "b");
	assert_value(db, "stored", "w");
	ck_assert_int_eq(blt_close(db), 0);
	ck_assert_msg(blt_check(path, 0, print_problem, NULL) == 0,
	    "blt_check found problems");
	tu_rmstore(path);
}
END_TEST

static Suite *
crash_suite(void)
{
	Suite *s = suite_create("crash");
	TCase *tc = tcase_create("crash");

	tcase_set_timeout(tc, 1800);
	tcase_add_test(tc, a_killed_writer_loses_nothing_it_flushed);
	tcase_add_test(tc, a_power_cut_loses_nothing_that_was_synced);
	tcase_add_test(
	    tc, a_power_cut_after_any_writeback_order_loses_nothing_synced);
	suite_add_tcase(s, tc);

	tc = tcase_create("names");
	tcase_add_checked_fixture(tc, tu_store_setup, tu_store_teardown);
	tcase_add_test(tc, prune_rename_failure_keeps_the_old_store);
	tcase_add_test(tc, clear_rename_failure_keeps_every_value);
	tcase_add_test(tc, prune_dir_fsync_failure_is_reported);
	tcase_add_test(tc, prune_create_failure_is_reported);
	tcase_add_test(
	    tc, leftover_unlink_failure_fails_the_prune_not_the_open);
	tcase_add_test(
	    tc, a_prune_file_left_by_a_failed_unlink_goes_at_the_next_open);
	tcase_add_test(tc, a_missing_store_is_put_back_from_a_whole_prune_file);
	tcase_add_test(tc, a_missing_store_beside_a_torn_prune_file_is_refused);
	tcase_add_test(tc, a_create_killed_at_any_moment_leaves_no_torn_store);
	suite_add_tcase(s, tc);

	tc = tcase_create("count");
	tcase_add_test(tc, count_on_a_full_disk_keeps_the_buffered_puts);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(crash_suite());
}
