/*
 * engine-blt.c: bench_engine's libbooklet side: each workload through the
 * public API, and the untimed check of every key after a write workload.
 * Errors come back as negative errno with blt_errmsg().
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "booklet.h"
#include "engine.h"

#define BENCH_MANY 256 /* keys per call of blt_get_many() */

static int
bench_blt_err(struct bench *b, const char *what, long long rc)
{
	return bench_fail(b, "%s: %s (%lld)", what, blt_errmsg(), rc);
}

/* A new store at b->blt_path. */
int
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

/* Put every key with its value of generation gen, then sync. */
int
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
int
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

/* Get every key of keys: all there (hit) or none. */
int
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

/* A full scan. */
int
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

/* Delete the first half of the read order, then sync. */
int
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

/* Prune the store. */
int
bench_blt_prune(struct bench *b, int deleted, uint64_t *ops)
{
	int64_t rc;

	if ((rc = blt_prune(b->blt, NULL)) < 0)
		return bench_blt_err(b, "blt_prune", rc);
	*ops = deleted ? b->n - b->n / 2 : b->n;
	return 0;
}

/* Every key holds its value of generation gen, or is gone when deleted. */
int
bench_blt_check(struct bench *b, int gen, int deleted)
{
	uint64_t want = deleted ? b->n - b->n / 2 : b->n;
	int64_t got;
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
	if ((got = blt_count(b->blt)) != (int64_t)want)
		return bench_fail(
		    b, "blt_count is %" PRId64 ", want %" PRIu64, got, want);
	return 0;
}
