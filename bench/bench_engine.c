/*
 * bench_engine: libbooklet and LMDB on the same data in one run.
 *
 * Both stores get the same keys and values, made by a seeded PRNG, in the
 * same order, and every workload runs on both back to back before the next
 * one starts, so that both see the same machine state.  The stores live in
 * one temporary directory (one filesystem) and nothing is dropped from the
 * page cache: both engines are measured warm.
 *
 * Durability is the same on both sides: a write workload ends with
 * blt_sync() (write plus fsync) for libbooklet and with mdb_txn_commit() of
 * one write transaction under LMDB's default, durable flags (fdatasync of
 * data and meta pages).  Read workloads run -r times, alternating between
 * the engines, and keep each one's best; write workloads change the stores
 * and run once.  After each write workload every key is read back from
 * both stores, untimed, and compared with what it should hold.
 *
 * Prune runs twice, each time on a store with half its blocks dead: after
 * the overwrite (every key's old value) and after the delete (half the
 * keys).  It has no LMDB equivalent and is compared with a compacting copy of
 * the LMDB environment (mdb_env_copyfd2 with MDB_CP_COMPACT, which is what
 * mdb_env_copy2 calls) into a new file that is then fsynced, since
 * blt_prune also writes a new file and fsyncs it.
 *
 * The Python column holds numbers published for the Python booklet package
 * on these machines (50,000 items); they are not measured here.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/vfs.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>

#include "bench.h"
#include "booklet.h"

#define BENCH_KLEN 12
#define BENCH_MANY 256 /* keys per call of blt_get_many() */
/* Values are cut from a pool of random bytes that stays in the L2 cache,
 * so that fetching them costs the harness next to nothing. */
#define BENCH_POOL (1u << 20)

enum bench_op {
	OP_PUT,
	OP_GET,
	OP_GET_MANY,
	OP_MISS,
	OP_SCAN,
	OP_OVERWRITE,
	OP_PRUNE_OW,
	OP_DEL,
	OP_PRUNE,
	OP_COUNT
};

enum bench_side { SIDE_BLT, SIDE_MDB, SIDE_COUNT };

/* Published for the Python booklet, 50,000 items of 12 + 200 bytes. */
#define BENCH_PYTHON_N 50000u
static const struct {
	const char *name;
	double python; /* ops/s, 0 when nothing was published */
} bench_ops[OP_COUNT] = {
    [OP_PUT] = {"bulk put + sync", 37e3},
    [OP_GET] = {"random get (hit)", 240e3},
    [OP_GET_MANY] = {"random get, 256 per call", 240e3},
    [OP_MISS] = {"get (miss)", 0},
    [OP_SCAN] = {"full scan", 390e3},
    [OP_OVERWRITE] = {"overwrite + sync", 0},
    [OP_PRUNE_OW] = {"prune after overwrite", 71e3},
    [OP_DEL] = {"delete half + sync", 0},
    [OP_PRUNE] = {"prune after delete half", 71e3},
};

static const char *const bench_sides[SIDE_COUNT] = {"libbooklet", "LMDB"};

/* The data set and the state of one run. */
struct bench {
	size_t n;    /* keys in the store */
	size_t vlen; /* value bytes */
	uint64_t seed;
	int reps;         /* repetitions of read workloads */
	int verify;       /* check every value after each write workload */
	uint32_t buckets; /* libbooklet's initial index size, 0: default */
	int run[SIDE_COUNT];
	int broken[SIDE_COUNT]; /* a workload failed: skip the rest */
	char *dir;              /* temporary directory, removed at the end */
	int keep;               /* keep it */
	unsigned char *keys;    /* n keys in insertion order */
	unsigned char *shuf;    /* the same keys in the random read order */
	unsigned char *miss;    /* n keys that are never stored */
	size_t *perm;        /* shuf holds keys[perm[0]], keys[perm[1]] ... */
	unsigned char *dead; /* dead[i]: keys[i] is deleted (perm[0..n/2)) */
	unsigned char *pool; /* BENCH_POOL + vlen random bytes */
	unsigned char *buf;  /* get buffer, vlen + 1 bytes */
	uint64_t sink;       /* keeps read loops from being optimised out */
	double commit[SIDE_COUNT]; /* seconds in the last sync or commit */
	double rate[OP_COUNT][SIDE_COUNT]; /* ops/s, < 0 failed, 0 not run */
	/* libbooklet */
	char blt_path[PATH_MAX];
	struct blt *blt;
	/* LMDB */
	char mdb_dir[PATH_MAX];
	char mdb_copy[PATH_MAX];
	MDB_env *env;
	MDB_dbi dbi;
	char err[512]; /* why the last workload failed */
};

static int bench_fail(struct bench *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Record why a workload failed; returns -1 for the caller to pass up. */
static int
bench_fail(struct bench *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b->err, sizeof b->err, fmt, ap);
	va_end(ap);
	return -1;
}

/* Key i of the run: 8 bytes unique per i, then 4 more random bytes.  Keys
 * 0 .. n-1 are stored, n .. 2n-1 are the misses. */
static void
bench_make_key(const struct bench *b, uint64_t i, unsigned char *k)
{
	uint64_t x = (b->seed << 32) ^ i;
	uint64_t a = bench_mix(x), c = bench_mix(x ^ UINT64_C(0x5bd1e995));

	memcpy(k, &a, 8);
	memcpy(k + 8, &c, 4);
}

/* The value of key i in generation gen (0 first put, 1 overwrite). */
static const unsigned char *
bench_value(const struct bench *b, size_t i, int gen)
{
	uint64_t h = bench_mix(b->seed ^ ((uint64_t)i << 1 | (uint64_t)gen) ^
	                       UINT64_C(0x243f6a8885a308d3));

	return b->pool + h % (BENCH_POOL + 1);
}

static const unsigned char *
bench_key(const struct bench *b, size_t i)
{
	return b->keys + i * BENCH_KLEN;
}

static void *
bench_alloc(size_t n)
{
	void *p;

	if ((p = malloc(n ? n : 1)) == NULL) {
		fprintf(stderr, "bench_engine: out of memory (%zu bytes)\n", n);
		exit(1);
	}
	return p;
}

static void
bench_make_data(struct bench *b)
{
	uint64_t s = b->seed ^ UINT64_C(0x13198a2e03707344), r;
	size_t pool_len = BENCH_POOL + b->vlen, i, j, t, left;

	b->keys = bench_alloc(b->n * BENCH_KLEN);
	b->shuf = bench_alloc(b->n * BENCH_KLEN);
	b->miss = bench_alloc(b->n * BENCH_KLEN);
	b->perm = bench_alloc(b->n * sizeof *b->perm);
	b->dead = calloc(b->n ? b->n : 1, 1);
	b->pool = bench_alloc(pool_len);
	b->buf = bench_alloc(b->vlen + 1);
	if (b->dead == NULL) {
		fprintf(stderr, "bench_engine: out of memory\n");
		exit(1);
	}
	for (i = 0; i < b->n; i++) {
		bench_make_key(b, i, b->keys + i * BENCH_KLEN);
		bench_make_key(b, b->n + i, b->miss + i * BENCH_KLEN);
		b->perm[i] = i;
	}
	for (i = 0; i < pool_len; i += sizeof r) {
		r = bench_mix(s++);
		left = pool_len - i;
		memcpy(b->pool + i, &r, left < sizeof r ? left : sizeof r);
	}
	/* Fisher-Yates; the modulo bias is irrelevant for a read order. */
	for (i = b->n; i > 1; i--) {
		j = bench_mix(s++) % i;
		t = b->perm[i - 1];
		b->perm[i - 1] = b->perm[j];
		b->perm[j] = t;
	}
	for (i = 0; i < b->n; i++) {
		memcpy(b->shuf + i * BENCH_KLEN, bench_key(b, b->perm[i]),
		    BENCH_KLEN);
		if (i < b->n / 2)
			b->dead[b->perm[i]] = 1;
	}
}

/*
 * libbooklet.  Errors come back as negative errno with blt_errmsg().
 */

static int
bench_blt_err(struct bench *b, const char *what, long long rc)
{
	return bench_fail(b, "%s: %s (%lld)", what, blt_errmsg(), rc);
}

static int
bench_blt_open(struct bench *b)
{
	struct blt_options o;
	int rc;

	blt_options_default(&o);
	if (b->buckets)
		o.n_buckets = b->buckets;
	if ((rc = blt_open(b->blt_path, BLT_TRUNC, &o, &b->blt)) < 0)
		return bench_blt_err(b, "blt_open", rc);
	return 0;
}

/* End a libbooklet write workload: blt_sync, timed on its own. */
static int
bench_blt_sync(struct bench *b)
{
	double t0 = bench_now();
	int rc;

	if ((rc = blt_sync(b->blt)) < 0)
		return bench_blt_err(b, "blt_sync", rc);
	b->commit[SIDE_BLT] = bench_now() - t0;
	return 0;
}

static int
bench_blt_put(struct bench *b, int gen, uint64_t *ops)
{
	size_t i;
	int rc;

	for (i = 0; i < b->n; i++)
		if ((rc = blt_put(b->blt, bench_key(b, i), BENCH_KLEN,
		         bench_value(b, i, gen), b->vlen, BLT_NOW)) < 0)
			return bench_blt_err(b, "blt_put", rc);
	if ((rc = bench_blt_sync(b)) < 0)
		return rc;
	*ops = b->n;
	return 0;
}

/* blt_get_many()'s callback: copy the value out, as blt_get() does. */
static int
bench_blt_got(
    void *arg, size_t i, const void *value, size_t vlen, int64_t ts, int err)
{
	struct bench *b = arg;

	(void)ts;
	if (err < 0)
		return bench_fail(
		    b, "blt_get_many: key %zu: %s", i, blt_errmsg());
	if (vlen != b->vlen)
		return bench_fail(
		    b, "blt_get_many: key %zu: length %zu", i, vlen);
	memcpy(b->buf, value, vlen);
	b->sink += b->buf[0];
	return 0;
}

/* The read order again, BENCH_MANY keys per call of blt_get_many(). */
static int
bench_blt_get_many(struct bench *b, uint64_t *ops)
{
	const void *keys[BENCH_MANY];
	size_t lens[BENCH_MANY];

	for (size_t i = 0; i < b->n; i += BENCH_MANY) {
		size_t m = b->n - i < BENCH_MANY ? b->n - i : BENCH_MANY;

		for (size_t j = 0; j < m; j++) {
			keys[j] = b->shuf + (i + j) * BENCH_KLEN;
			lens[j] = BENCH_KLEN;
		}
		if (blt_get_many(b->blt, m, keys, lens, bench_blt_got, b) != 0)
			return -1;
		*ops += m;
	}
	return 0;
}

static int
bench_blt_get(
    struct bench *b, const unsigned char *keys, int hit, uint64_t *ops)
{
	ssize_t r;
	size_t i;
	int ok;

	for (i = 0; i < b->n; i++) {
		r = blt_get(b->blt, keys + i * BENCH_KLEN, BENCH_KLEN, b->buf,
		    b->vlen, NULL);
		ok = hit ? r == (ssize_t)b->vlen : r == -ENOENT;
		if (!ok && r < 0 && r != -ENOENT)
			return bench_blt_err(b, "blt_get", r);
		if (!ok)
			return bench_fail(b, "blt_get: key %zu of %s: %s %zd",
			    i, hit ? "the read order" : "the misses",
			    r < 0 ? "missing" : "found, length", r);
		b->sink += hit ? b->buf[0] : 1;
		(*ops)++;
	}
	return 0;
}

static int
bench_blt_scan(struct bench *b, uint64_t *ops)
{
	struct blt_iter *it;
	struct blt_item item;
	int rc;

	if ((rc = blt_iter_create(b->blt, &it)) < 0)
		return bench_blt_err(b, "blt_iter_create", rc);
	while ((rc = blt_iter_next(it, &item)) == 1) {
		b->sink += item.klen + item.vlen + item.key[0] +
		           (item.vlen ? item.value[item.vlen - 1] : 0);
		(*ops)++;
	}
	blt_iter_free(it);
	if (rc < 0)
		return bench_blt_err(b, "blt_iter_next", rc);
	return 0;
}

static int
bench_blt_del(struct bench *b, uint64_t *ops)
{
	size_t i;
	int rc;

	for (i = 0; i < b->n / 2; i++)
		if ((rc = blt_del(
		         b->blt, b->shuf + i * BENCH_KLEN, BENCH_KLEN)) < 0)
			return bench_blt_err(b, "blt_del", rc);
	if ((rc = bench_blt_sync(b)) < 0)
		return rc;
	*ops = b->n / 2;
	return 0;
}

static int
bench_blt_prune(struct bench *b, int deleted, uint64_t *ops)
{
	int64_t rc;

	if ((rc = blt_prune(b->blt, NULL)) < 0)
		return bench_blt_err(b, "blt_prune", rc);
	*ops = deleted ? b->n - b->n / 2 : b->n;
	return 0;
}

/* Every key holds its value of generation gen, or is gone when deleted. */
static int
bench_blt_check(struct bench *b, int gen, int deleted)
{
	uint64_t want = deleted ? b->n - b->n / 2 : b->n, got;
	ssize_t r;
	size_t i;

	for (i = 0; i < b->n; i++) {
		r = blt_get(b->blt, bench_key(b, i), BENCH_KLEN, b->buf,
		    b->vlen + 1, NULL);
		if (deleted && b->dead[i]) {
			if (r != -ENOENT)
				return bench_fail(b,
				    "key %zu: deleted but blt_get gave %zd", i,
				    r);
			continue;
		}
		if (r < 0)
			return bench_blt_err(b, "verify: blt_get", r);
		if (r != (ssize_t)b->vlen ||
		    memcmp(b->buf, bench_value(b, i, gen), b->vlen) != 0)
			return bench_fail(b,
			    "key %zu: wrong value (length %zd, want %zu)", i, r,
			    b->vlen);
	}
	if ((got = blt_count(b->blt)) != want)
		return bench_fail(
		    b, "blt_count is %" PRIu64 ", want %" PRIu64, got, want);
	return 0;
}

/*
 * LMDB.  Errors come back as codes for mdb_strerror().
 */

static int
bench_mdb_err(struct bench *b, const char *what, int rc)
{
	return bench_fail(b, "%s: %s", what, mdb_strerror(rc));
}

static int
bench_mdb_open(struct bench *b)
{
	size_t per = BENCH_KLEN + b->vlen + 64, map;
	MDB_txn *txn;
	int rc;

	/* Values past about a quarter page go to overflow pages. */
	if (b->vlen > 1000)
		per = (b->vlen + 16 + 4095) / 4096 * 4096 + 64;
	/* Half-full leaves after random inserts, a second copy of every page
	 * while one transaction rewrites them all, and free pages that only a
	 * later transaction may reuse: about 3x the data in practice.  The
	 * map is only address space, so be generous. */
	map = 10 * per * b->n + (256u << 20);
	if (mkdir(b->mdb_dir, 0755) == -1)
		return bench_fail(b, "%s: %s", b->mdb_dir, strerror(errno));
	if ((rc = mdb_env_create(&b->env)) != 0)
		return bench_mdb_err(b, "mdb_env_create", rc);
	if ((rc = mdb_env_set_mapsize(b->env, map)) != 0)
		return bench_mdb_err(b, "mdb_env_set_mapsize", rc);
	if ((rc = mdb_env_open(b->env, b->mdb_dir, 0, 0644)) != 0)
		return bench_mdb_err(b, b->mdb_dir, rc);
	if ((rc = mdb_txn_begin(b->env, NULL, 0, &txn)) != 0)
		return bench_mdb_err(b, "mdb_txn_begin", rc);
	if ((rc = mdb_dbi_open(txn, NULL, 0, &b->dbi)) != 0) {
		mdb_txn_abort(txn);
		return bench_mdb_err(b, "mdb_dbi_open", rc);
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		return bench_mdb_err(b, "mdb_txn_commit", rc);
	return 0;
}

/* End an LMDB write workload: commit txn, timed on its own. */
static int
bench_mdb_commit(struct bench *b, MDB_txn *txn)
{
	double t0 = bench_now();
	int rc;

	if ((rc = mdb_txn_commit(txn)) != 0)
		return bench_mdb_err(b, "mdb_txn_commit", rc);
	b->commit[SIDE_MDB] = bench_now() - t0;
	return 0;
}

static int
bench_mdb_put(struct bench *b, int gen, uint64_t *ops)
{
	MDB_val k = {BENCH_KLEN, NULL}, v = {b->vlen, NULL};
	MDB_txn *txn;
	size_t i;
	int rc;

	if ((rc = mdb_txn_begin(b->env, NULL, 0, &txn)) != 0)
		return bench_mdb_err(b, "mdb_txn_begin", rc);
	for (i = 0; i < b->n; i++) {
		k.mv_data = (void *)bench_key(b, i);
		v.mv_data = (void *)bench_value(b, i, gen);
		if ((rc = mdb_put(txn, b->dbi, &k, &v, 0)) != 0) {
			mdb_txn_abort(txn);
			return bench_mdb_err(b, "mdb_put", rc);
		}
	}
	if ((rc = bench_mdb_commit(b, txn)) < 0)
		return rc;
	*ops = b->n;
	return 0;
}

/* The value is copied out, as blt_get() does, so both deliver the same. */
static int
bench_mdb_get(
    struct bench *b, const unsigned char *keys, int hit, uint64_t *ops)
{
	MDB_val k = {BENCH_KLEN, NULL}, v;
	MDB_txn *txn;
	size_t i;
	int rc, bad;

	if ((rc = mdb_txn_begin(b->env, NULL, MDB_RDONLY, &txn)) != 0)
		return bench_mdb_err(b, "mdb_txn_begin", rc);
	for (i = 0; i < b->n; i++) {
		k.mv_data = (void *)(keys + i * BENCH_KLEN);
		rc = mdb_get(txn, b->dbi, &k, &v);
		if (hit)
			bad = rc != 0 || v.mv_size != b->vlen;
		else
			bad = rc != MDB_NOTFOUND;
		if (bad) {
			mdb_txn_abort(txn);
			if (rc != 0 && rc != MDB_NOTFOUND)
				return bench_mdb_err(b, "mdb_get", rc);
			return bench_fail(b, "mdb_get: key %zu of %s: %s", i,
			    hit ? "the read order" : "the misses",
			    hit ? (rc ? "missing" : "wrong length")
			        : "found, but never stored");
		}
		if (hit) {
			memcpy(b->buf, v.mv_data, v.mv_size);
			b->sink += b->buf[0];
		} else
			b->sink++;
		(*ops)++;
	}
	mdb_txn_abort(txn);
	return 0;
}

static int
bench_mdb_scan(struct bench *b, uint64_t *ops)
{
	MDB_cursor *cur;
	MDB_txn *txn;
	MDB_val k, v;
	int rc;

	if ((rc = mdb_txn_begin(b->env, NULL, MDB_RDONLY, &txn)) != 0)
		return bench_mdb_err(b, "mdb_txn_begin", rc);
	if ((rc = mdb_cursor_open(txn, b->dbi, &cur)) != 0) {
		mdb_txn_abort(txn);
		return bench_mdb_err(b, "mdb_cursor_open", rc);
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		b->sink +=
		    k.mv_size + v.mv_size + ((unsigned char *)k.mv_data)[0] +
		    (v.mv_size ? ((unsigned char *)v.mv_data)[v.mv_size - 1]
		               : 0);
		(*ops)++;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	if (rc != MDB_NOTFOUND)
		return bench_mdb_err(b, "mdb_cursor_get", rc);
	return 0;
}

static int
bench_mdb_del(struct bench *b, uint64_t *ops)
{
	MDB_val k = {BENCH_KLEN, NULL};
	MDB_txn *txn;
	size_t i;
	int rc;

	if ((rc = mdb_txn_begin(b->env, NULL, 0, &txn)) != 0)
		return bench_mdb_err(b, "mdb_txn_begin", rc);
	for (i = 0; i < b->n / 2; i++) {
		k.mv_data = b->shuf + i * BENCH_KLEN;
		if ((rc = mdb_del(txn, b->dbi, &k, NULL)) != 0) {
			mdb_txn_abort(txn);
			return bench_mdb_err(b, "mdb_del", rc);
		}
	}
	if ((rc = bench_mdb_commit(b, txn)) < 0)
		return rc;
	*ops = b->n / 2;
	return 0;
}

/* A compacting copy into a new file, made durable like blt_prune's. */
static int
bench_mdb_compact(struct bench *b, int deleted, uint64_t *ops)
{
	int fd, rc;

	fd = open(b->mdb_copy, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1)
		return bench_fail(b, "%s: %s", b->mdb_copy, strerror(errno));
	if ((rc = mdb_env_copyfd2(b->env, fd, MDB_CP_COMPACT)) != 0) {
		close(fd);
		return bench_mdb_err(b, "mdb_env_copyfd2", rc);
	}
	if (fsync(fd) == -1) {
		rc = errno;
		close(fd);
		return bench_fail(
		    b, "%s: fsync: %s", b->mdb_copy, strerror(rc));
	}
	close(fd);
	*ops = deleted ? b->n - b->n / 2 : b->n;
	return 0;
}

static int
bench_mdb_check(struct bench *b, int gen, int deleted)
{
	MDB_val k = {BENCH_KLEN, NULL}, v;
	MDB_stat st;
	MDB_txn *txn;
	size_t i;
	int rc, bad;

	if ((rc = mdb_txn_begin(b->env, NULL, MDB_RDONLY, &txn)) != 0)
		return bench_mdb_err(b, "mdb_txn_begin", rc);
	for (i = 0; i < b->n; i++) {
		k.mv_data = (void *)bench_key(b, i);
		rc = mdb_get(txn, b->dbi, &k, &v);
		if (deleted && b->dead[i])
			bad = rc != MDB_NOTFOUND;
		else
			bad =
			    rc != 0 || v.mv_size != b->vlen ||
			    memcmp(v.mv_data, bench_value(b, i, gen), b->vlen);
		if (bad) {
			mdb_txn_abort(txn);
			return bench_fail(b, "mdb_get: key %zu: %s", i,
			    rc == 0
			        ? (deleted && b->dead[i] ? "deleted but found"
			                                 : "wrong value")
			        : mdb_strerror(rc));
		}
	}
	rc = mdb_stat(txn, b->dbi, &st);
	mdb_txn_abort(txn);
	if (rc != 0)
		return bench_mdb_err(b, "mdb_stat", rc);
	if (st.ms_entries != (deleted ? b->n - b->n / 2 : b->n))
		return bench_fail(b, "mdb_stat: %zu entries", st.ms_entries);
	return 0;
}

/*
 * The runner.
 */

/* One pass of workload op on side s; ops counts what was done. */
static int
bench_pass(struct bench *b, enum bench_op op, enum bench_side s, uint64_t *ops)
{
	int blt = s == SIDE_BLT;

	*ops = 0;
	switch (op) {
	case OP_PUT:
		return blt ? bench_blt_put(b, 0, ops)
		           : bench_mdb_put(b, 0, ops);
	case OP_GET:
		return blt ? bench_blt_get(b, b->shuf, 1, ops)
		           : bench_mdb_get(b, b->shuf, 1, ops);
	case OP_GET_MANY: /* LMDB has no batch lookup: the same loop */
		return blt ? bench_blt_get_many(b, ops)
		           : bench_mdb_get(b, b->shuf, 1, ops);
	case OP_MISS:
		return blt ? bench_blt_get(b, b->miss, 0, ops)
		           : bench_mdb_get(b, b->miss, 0, ops);
	case OP_SCAN:
		return blt ? bench_blt_scan(b, ops) : bench_mdb_scan(b, ops);
	case OP_OVERWRITE:
		return blt ? bench_blt_put(b, 1, ops)
		           : bench_mdb_put(b, 1, ops);
	case OP_DEL:
		return blt ? bench_blt_del(b, ops) : bench_mdb_del(b, ops);
	case OP_PRUNE_OW:
	case OP_PRUNE:
		return blt ? bench_blt_prune(b, op == OP_PRUNE, ops)
		           : bench_mdb_compact(b, op == OP_PRUNE, ops);
	default:
		return bench_fail(b, "no such workload");
	}
}

static int
bench_check(struct bench *b, enum bench_side s, int gen, int deleted)
{
	if (!b->verify)
		return 0;
	return s == SIDE_BLT ? bench_blt_check(b, gen, deleted)
	                     : bench_mdb_check(b, gen, deleted);
}

static void
bench_failed(struct bench *b, enum bench_op op, enum bench_side s)
{
	printf("  %-10s %-22s FAILED: %s\n", bench_sides[s], bench_ops[op].name,
	    b->err);
	b->rate[op][s] = -1;
	b->broken[s] = 1;
}

/* Run op on both sides, then verify the stores.  Repetitions of a read
 * alternate between the sides, so that a burst of other work on the
 * machine hurts both alike; the best time of each side is kept. */
static void
bench_run(struct bench *b, enum bench_op op)
{
	int reads =
	    op == OP_GET || op == OP_GET_MANY || op == OP_MISS || op == OP_SCAN;
	int reps = reads ? b->reps : 1, i, s;
	double t0, dt, best[SIDE_COUNT] = {0};
	uint64_t n, ops[SIDE_COUNT] = {0};

	for (i = 0; i < reps; i++) {
		for (s = 0; s < SIDE_COUNT; s++) {
			if (!b->run[s] || b->broken[s])
				continue;
			t0 = bench_now();
			if (bench_pass(b, op, s, &n) < 0) {
				bench_failed(b, op, s);
				continue;
			}
			dt = bench_now() - t0;
			if (i == 0 || dt < best[s])
				best[s] = dt;
			ops[s] = n;
		}
	}
	for (s = 0; s < SIDE_COUNT; s++) {
		if (!b->run[s] || b->broken[s])
			continue;
		if (op == OP_SCAN && ops[s] != b->n) {
			bench_fail(b, "scan saw %" PRIu64 " of %zu keys",
			    ops[s], b->n);
			bench_failed(b, op, s);
			continue;
		}
		b->rate[op][s] = ops[s] / (best[s] > 0 ? best[s] : 1e-9);
		printf("  %-10s %-22s %10" PRIu64 " in %8.3f s  %12.0f /s",
		    bench_sides[s], bench_ops[op].name, ops[s], best[s],
		    b->rate[op][s]);
		if (op == OP_PUT || op == OP_OVERWRITE || op == OP_DEL)
			printf("  (%s %.3f s)",
			    s == SIDE_BLT ? "blt_sync" : "commit",
			    b->commit[s]);
		printf("\n");
		fflush(stdout);
		/* Untimed: every key after a write workload. */
		if (!reads &&
		    bench_check(b, s, op != OP_PUT, op >= OP_DEL) < 0) {
			printf("  %-10s verify after %s FAILED: %s\n",
			    bench_sides[s], bench_ops[op].name, b->err);
			b->broken[s] = 1;
		}
	}
}

/* "12.3 M", "456 K": easier to read than eight digits. */
static const char *
bench_fmt(char *buf, size_t len, double r)
{
	if (r < 0)
		snprintf(buf, len, "FAILED");
	else if (r == 0)
		snprintf(buf, len, "-");
	else if (r >= 1e6)
		snprintf(buf, len, "%.2f M", r / 1e6);
	else if (r >= 1e3)
		snprintf(buf, len, "%.1f K", r / 1e3);
	else
		snprintf(buf, len, "%.0f", r);
	return buf;
}

static const char *
bench_ratio(char *buf, size_t len, double a, double c)
{
	if (a <= 0 || c <= 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.2fx", a / c);
	return buf;
}

static long long
bench_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static void
bench_table(const struct bench *b)
{
	char v[4][32];
	int op;

	printf("\n| operation | libbooklet ops/s | LMDB ops/s | ratio | "
	       "Python booklet ops/s (published) | ratio |\n");
	printf("| --- | ---: | ---: | ---: | ---: | ---: |\n");
	for (op = 0; op < OP_COUNT; op++) {
		const double *r = b->rate[op];

		printf("| %s | %s | %s | %s | %s | ", bench_ops[op].name,
		    bench_fmt(v[0], sizeof v[0], r[SIDE_BLT]),
		    bench_fmt(v[1], sizeof v[1], r[SIDE_MDB]),
		    bench_ratio(v[2], sizeof v[2], r[SIDE_BLT], r[SIDE_MDB]),
		    bench_fmt(v[3], sizeof v[3], bench_ops[op].python));
		printf("%s |\n", bench_ratio(v[0], sizeof v[0], r[SIDE_BLT],
		                     bench_ops[op].python));
	}
	printf("\nratio = libbooklet / peer; above 1 means libbooklet is "
	       "faster.\nPython booklet numbers are published ones (50,000 "
	       "items, same machines), not measured by this run.\n");
}

static void
bench_target(const char *what, double got, double want, const char *unit)
{
	if (got <= 0)
		printf("  %-44s %11s (want >= %.2f%s)  not measured\n", what,
		    "-", want, unit);
	else
		printf("  %-44s %10.2f%s (want >= %.2f%s)  %s\n", what, got,
		    unit, want, unit, got >= want ? "ok" : "MISSED");
}

static void
bench_targets(const struct bench *b)
{
	const double *get = b->rate[OP_GET], *put = b->rate[OP_PUT];
	char what[64];
	int op;

	printf("\nTargets:\n");
	bench_target("random get vs LMDB",
	    get[SIDE_MDB] > 0 ? get[SIDE_BLT] / get[SIDE_MDB] : 0, 1.5, "x");
	bench_target("bulk put vs LMDB",
	    put[SIDE_MDB] > 0 ? put[SIDE_BLT] / put[SIDE_MDB] : 0, 1.0, "x");
	bench_target("full scan", b->rate[OP_SCAN][SIDE_BLT] / 1e6, 10, " M/s");
	/* The Python booklet's figures are for 50,000 items: a run of
	 * another size says nothing of the 20x target (a store of 1,000,000
	 * no longer fits the caches, whoever reads it). */
	if (b->n != BENCH_PYTHON_N) {
		printf("  %-44s %11s (run -n %u to compare)\n",
		    "vs Python booklet", "-", BENCH_PYTHON_N);
		return;
	}
	for (op = 0; op < OP_COUNT; op++) {
		if (bench_ops[op].python == 0)
			continue;
		snprintf(what, sizeof what, "%s vs Python booklet",
		    bench_ops[op].name);
		bench_target(what, b->rate[op][SIDE_BLT] / bench_ops[op].python,
		    20, "x");
	}
}

static const char *
bench_fs_name(long type)
{
	switch ((unsigned long)type) {
	case 0xef53:
		return "ext2/3/4";
	case 0x58465342:
		return "xfs";
	case 0x9123683e:
		return "btrfs";
	case 0x01021994:
		return "tmpfs";
	case 0x794c7630:
		return "overlayfs";
	case 0x2fc12fc1:
		return "zfs";
	case 0xf2f52010:
		return "f2fs";
	default:
		return "unknown";
	}
}

static void
bench_usage(FILE *f)
{
	fprintf(f,
	    "usage: bench_engine [-n KEYS] [-v VALUE_LEN] [-d DIR] [-r REPS]\n"
	    "                    [--seed N] [--buckets N] [--only blt|lmdb]\n"
	    "                    [--no-verify] [--keep]\n"
	    "  -n KEYS        keys of %d bytes (default 1000000)\n"
	    "  -v VALUE_LEN   value bytes (default 200)\n"
	    "  -d DIR         make the temporary stores under DIR "
	    "(default $TMPDIR or /tmp)\n"
	    "  -r REPS        repetitions of read workloads, best kept "
	    "(default 3)\n"
	    "  --seed N       PRNG seed (default 1)\n"
	    "  --buckets N    libbooklet initial index size "
	    "(default booklet's 12007)\n"
	    "  --only SIDE    run only libbooklet (blt) or only LMDB (lmdb)\n"
	    "  --no-verify    skip the untimed value checks after writes\n"
	    "  --keep         keep the temporary directory\n",
	    BENCH_KLEN);
}

static unsigned long long
bench_number(const char *opt, const char *s, unsigned long long max)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || end == s || *end != '\0' || v > max || *s == '-') {
		fprintf(stderr, "bench_engine: %s: bad number '%s'\n", opt, s);
		exit(2);
	}
	return v;
}

static void
bench_cleanup(struct bench *b)
{
	char path[PATH_MAX + 32];

	blt_close(b->blt);
	b->blt = NULL;
	if (b->env != NULL)
		mdb_env_close(b->env);
	b->env = NULL;
	if (b->keep) {
		printf("kept %s\n", b->dir);
		return;
	}
	unlink(b->blt_path);
	unlink(b->mdb_copy);
	snprintf(path, sizeof path, "%s/data.mdb", b->mdb_dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/lock.mdb", b->mdb_dir);
	unlink(path);
	rmdir(b->mdb_dir);
	if (rmdir(b->dir) == -1)
		fprintf(
		    stderr, "bench_engine: %s: %s\n", b->dir, strerror(errno));
}

static void
bench_sizes(struct bench *b, const char *when)
{
	char path[PATH_MAX + 32];
	long long z;

	snprintf(path, sizeof path, "%s/data.mdb", b->mdb_dir);
	printf("  file bytes %s:", when);
	if ((z = bench_size(b->blt_path)) >= 0)
		printf(" libbooklet %lld", z);
	if ((z = bench_size(path)) >= 0)
		printf(" LMDB data.mdb %lld", z);
	if ((z = bench_size(b->mdb_copy)) >= 0)
		printf(" LMDB compact copy %lld", z);
	printf("\n");
}

/* Make the data, run every workload on both stores, print the table. */
int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"seed", required_argument, NULL, 'S'},
	    {"buckets", required_argument, NULL, 'B'},
	    {"only", required_argument, NULL, 'O'},
	    {"no-verify", no_argument, NULL, 'V'},
	    {"keep", no_argument, NULL, 'K'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct bench b = {.n = 1000000,
	    .vlen = 200,
	    .seed = 1,
	    .reps = 3,
	    .verify = 1,
	    .run = {1, 1}};
	const char *parent = getenv("TMPDIR");
	struct blt_stat bst;
	struct statfs sfs;
	int c, op, major, minor, patch;
	double t0;

	if (parent == NULL || *parent == '\0')
		parent = "/tmp";
	while (
	    (c = getopt_long(argc, argv, "n:v:d:r:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			b.n = bench_number("-n", optarg, UINT32_MAX / 2);
			break;
		case 'v':
			b.vlen = bench_number("-v", optarg, 64u << 20);
			break;
		case 'd':
			parent = optarg;
			break;
		case 'r':
			b.reps = bench_number("-r", optarg, 1000);
			if (b.reps == 0)
				b.reps = 1;
			break;
		case 'S':
			b.seed = bench_number("--seed", optarg, UINT32_MAX);
			break;
		case 'B':
			b.buckets =
			    bench_number("--buckets", optarg, UINT32_MAX);
			break;
		case 'O':
			if (strcmp(optarg, "blt") == 0)
				b.run[SIDE_MDB] = 0;
			else if (strcmp(optarg, "lmdb") == 0)
				b.run[SIDE_BLT] = 0;
			else {
				fprintf(stderr,
				    "bench_engine: --only: "
				    "'%s' is not blt or lmdb\n",
				    optarg);
				return 2;
			}
			break;
		case 'V':
			b.verify = 0;
			break;
		case 'K':
			b.keep = 1;
			break;
		case 'h':
			bench_usage(stdout);
			return 0;
		default:
			bench_usage(stderr);
			return 2;
		}
	}
	if (optind != argc || b.n < 2) {
		bench_usage(stderr);
		return 2;
	}

	if (asprintf(&b.dir, "%s/bench-engine.XXXXXX", parent) == -1 ||
	    mkdtemp(b.dir) == NULL) {
		fprintf(stderr,
		    "bench_engine: %s: cannot make a temporary "
		    "directory: %s\n",
		    parent, strerror(errno));
		return 1;
	}
	snprintf(b.blt_path, sizeof b.blt_path, "%s/store.blt", b.dir);
	snprintf(b.mdb_dir, sizeof b.mdb_dir, "%s/lmdb", b.dir);
	snprintf(b.mdb_copy, sizeof b.mdb_copy, "%s/lmdb-compact.mdb", b.dir);

	printf("bench_engine: %zu keys of %d bytes, values of %zu bytes, "
	       "seed %" PRIu64 ", best of %d for reads\n",
	    b.n, BENCH_KLEN, b.vlen, b.seed, b.reps);
	if (statfs(b.dir, &sfs) == 0)
		printf("directory %s on %s (statfs type 0x%lx)\n", b.dir,
		    bench_fs_name(sfs.f_type), (unsigned long)sfs.f_type);
	printf("%s; durability: blt_sync = write + fsync, LMDB commit "
	       "with default flags (fdatasync)\n",
	    mdb_version(&major, &minor, &patch));
	t0 = bench_now();
	bench_make_data(&b);
	printf("data made in %.2f s\n\n", bench_now() - t0);
	fflush(stdout);

	if (b.run[SIDE_BLT] && bench_blt_open(&b) < 0) {
		printf("  libbooklet FAILED to open: %s\n", b.err);
		b.rate[OP_PUT][SIDE_BLT] = -1;
		b.broken[SIDE_BLT] = 1;
	}
	if (b.run[SIDE_MDB] && bench_mdb_open(&b) < 0) {
		printf("  LMDB FAILED to open: %s\n", b.err);
		b.rate[OP_PUT][SIDE_MDB] = -1;
		b.broken[SIDE_MDB] = 1;
	}
	for (op = 0; op < OP_COUNT; op++) {
		bench_run(&b, op);
		if (op == OP_PUT) {
			bench_sizes(&b, "after put");
			if (b.blt != NULL && blt_stat(b.blt, &bst) == 0)
				printf("  libbooklet index: %" PRIu32
				       " buckets\n",
				    bst.n_buckets);
		}
	}
	bench_sizes(&b, "at the end");
	bench_table(&b);
	bench_targets(&b);
	bench_cleanup(&b);
	free(b.keys);
	free(b.shuf);
	free(b.miss);
	free(b.perm);
	free(b.dead);
	free(b.pool);
	free(b.buf);
	free(b.dir);
	return 0;
}
