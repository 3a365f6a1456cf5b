/*
 * check_keydir.c: the index in memory (src/booklet/keydir.c).  It is built once
 * a store has been read enough, it serves lookups the file's index is not asked
 * about, it follows puts, overwrites, deletes, reindexes and prunes, it is
 * never built over a damaged chain, and it reads every reference fixture as its
 * manifest says.  White-box: the tests look at db->kd to know whether the
 * keydir exists.  Also blt_find_at(), which takes the offsets a scan gave the
 * way the keydir takes its own: read, checked, and never trusted further.
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "booklet.h"
#include "internal.h"
#include "manifest.h"
#include "testutil.h"

#define T0 INT64_C(1700000000000000)

static int
built(struct blt *db)
{
	return __atomic_load_n(&db->kd, __ATOMIC_ACQUIRE) != NULL;
}

static void
key_of(int i, char *k, size_t size)
{
	snprintf(k, size, "key/%d", i);
}

static void
value_of(int i, int version, char *v, size_t size)
{
	snprintf(v, size, "value %d of key/%d", version, i);
}

/* A store of n keys key/0 .. key/n-1, version 0 of each, synced, with an
 * index of n_buckets. */
static struct blt *
make_store_in(int n, uint32_t n_buckets)
{
	struct blt_options o;
	struct blt *db;
	char k[32], v[64];

	blt_options_default(&o);
	o.n_buckets = n_buckets;
	ck_assert_msg(
	    blt_open(tu_store, BLT_TRUNC, &o, &db) == 0, "%s", blt_errmsg());
	for (int i = 0; i < n; i++) {
		key_of(i, k, sizeof k);
		value_of(i, 0, v, sizeof v);
		ck_assert_int_eq(
		    blt_put(db, k, strlen(k), v, strlen(v), T0 + i), 0);
	}
	ck_assert_int_eq(blt_sync(db), 0);
	return db;
}

static struct blt *
make_store(int n)
{
	return make_store_in(n, BLT_DEFAULT_BUCKETS);
}

/* Get key i and check it holds version (-1: missing). */
static void
expect(struct blt *db, int i, int version)
{
	char k[32], v[64], buf[64];
	ssize_t n;

	key_of(i, k, sizeof k);
	n = blt_get(db, k, strlen(k), buf, sizeof buf, NULL);
	if (version < 0) {
		ck_assert_msg(n == -ENOENT, "%s: %zd, want missing", k, n);
		return;
	}
	value_of(i, version, v, sizeof v);
	ck_assert_msg(n == (ssize_t)strlen(v) && memcmp(buf, v, strlen(v)) == 0,
	    "%s: %zd (%s), want \"%s\"", k, n, n < 0 ? blt_errmsg() : "", v);
}

/* Read keys 0 .. n-1 (all version 0) until the keydir exists; the number
 * of gets it took. */
static int
read_until_built(struct blt *db, int n)
{
	int gets = 0;

	while (!built(db)) {
		ck_assert_msg(
		    gets < 100 * n + 10000, "no keydir after %d gets", gets);
		expect(db, gets % n, 0);
		gets++;
	}
	return gets;
}

START_TEST(built_once_a_quarter_of_the_keys_were_read)
{
	const int n = 4000, due = n / 4 + 256;
	struct blt *db = make_store(n);

	for (int i = 0; i < due - 1; i++)
		expect(db, i, 0);
	ck_assert_msg(!built(db), "built after %d gets", due - 1);
	/* misses do not count: the keydir does not serve them */
	for (int i = n; i < n + due; i++)
		expect(db, i, -1);
	ck_assert(!built(db));
	expect(db, due - 1, 0);
	ck_assert_msg(built(db), "not built after %d gets", due);
	for (int i = 0; i < n; i++)
		expect(db, i, 0);
	ck_assert_int_eq(blt_close(db), 0);
}
END_TEST

/* Write PTR_END over every bucket slot of the file's index, behind the
 * engine's back: through the file, no key is found any more. */
static void
empty_the_file_index(struct blt *db)
{
	unsigned char ptr[PTR_LEN];
	int fd = open(tu_store, O_WRONLY);

	ck_assert_int_ge(fd, 0);
	le_put(ptr, PTR_END, PTR_LEN);
	for (uint32_t i = 0; i < db->h.n_buckets; i++)
		ck_assert_int_eq(pwrite(fd, ptr, PTR_LEN,
		                     (off_t)(db->h.index_off + PTR_LEN * i)),
		    PTR_LEN);
	close(fd);
}

/* blt_get_many()'s callback: key i of the batch is key/i, version 0 if
 * i < n, else missing. */
static int
many_got(
    void *arg, size_t i, const void *value, size_t vlen, int64_t ts, int err)
{
	int n = *(const int *)arg;
	char v[64];

	if ((int)i >= n) {
		ck_assert_msg(
		    err == -ENOENT, "key/%zu: %d, want missing", i, err);
		return 0;
	}
	value_of((int)i, 0, v, sizeof v);
	ck_assert_msg(err == 0, "key/%zu: %d %s", i, err, blt_errmsg());
	ck_assert_msg(vlen == strlen(v) && memcmp(value, v, vlen) == 0,
	    "key/%zu: %.*s", i, (int)vlen, (const char *)value);
	ck_assert_int_eq(ts, T0 + (int64_t)i);
	return 0;
}

/* blt_get_many() of key/0 .. key/2n-1, of which key/0 .. key/n-1 hold
 * version 0. */
static void
get_many(struct blt *db, int n)
{
	char(*k)[32] = malloc(sizeof *k * 2 * (size_t)n);
	const void **keys = malloc(sizeof *keys * 2 * (size_t)n);
	size_t *lens = malloc(sizeof *lens * 2 * (size_t)n);

	for (int i = 0; i < 2 * n; i++) {
		key_of(i, k[i], sizeof k[i]);
		keys[i] = k[i];
		lens[i] = strlen(k[i]);
	}
	ck_assert_int_eq(
	    blt_get_many(db, 2 * (size_t)n, keys, lens, many_got, &n), 0);
	free(k);
	free(keys);
	free(lens);
}

START_TEST(batched_lookups_build_and_use_it_too)
{
	const int n = 3000;
	struct blt *db = make_store(n);

	get_many(db, n);
	ck_assert_msg(built(db), "not built by %d batched lookups", 2 * n);
	empty_the_file_index(db);
	get_many(db, n);
	blt_close(db);
}
END_TEST

START_TEST(lookups_go_through_the_keydir_once_it_is_built)
{
	const int n = 3000;
	struct blt *db = make_store(n);
	struct blt_entry e;
	char k[32];
	int64_t ts;

	read_until_built(db, n);
	/* the file's index now finds nothing: whatever is found came
	 * through the keydir */
	empty_the_file_index(db);
	for (int i = 0; i < n; i++) {
		expect(db, i, 0);
		key_of(i, k, sizeof k);
		ck_assert_int_eq(blt_exists(db, k, strlen(k)), 1);
		ck_assert_int_eq(blt_get_timestamp(db, k, strlen(k), &ts), 0);
		ck_assert_int_eq(ts, T0 + i);
		ck_assert_int_eq(blt_find(db, k, strlen(k), &e), 0);
		ck_assert_uint_eq(e.timestamp, T0 + i);
	}
	expect(db, n, -1);
	get_many(db, n);
	/* a buffered put is found by its digest only: the file's index
	 * answers then, and knows nothing any more */
	ck_assert_int_eq(blt_put(db, "other", 5, "x", 1, T0), 0);
	expect(db, 0, -1);
	blt_close(db);
}
END_TEST

/* Round round of changes to keys 0 .. n-1, whose versions are in
 * version[] (-1: missing): every third is deleted, starting at a new one
 * each round, and every fifth of the rest put, new or written again. */
static void
churn(struct blt *db, int *version, int n, int round)
{
	char k[32], v[64];

	for (int i = 0; i < n; i++) {
		key_of(i, k, sizeof k);
		if (i % 3 == round % 3 && version[i] >= 0) {
			ck_assert_int_eq(blt_del(db, k, strlen(k)), 0);
			version[i] = -1;
		} else if (i % 5 == round) {
			value_of(i, round, v, sizeof v);
			ck_assert_int_eq(
			    blt_put(db, k, strlen(k), v, strlen(v), T0), 0);
			version[i] = round;
		}
	}
}

START_TEST(puts_overwrites_and_deletes_keep_it_right)
{
	const int n = 2000;
	struct blt *db = make_store_in(n, 2053);
	uint32_t n_buckets = db->h.n_buckets;
	int *version = malloc(sizeof(int) * 3 * n);

	for (int i = 0; i < 3 * n; i++)
		version[i] = i < n ? 0 : -1;
	read_until_built(db, n);
	for (int round = 1; round <= 3; round++) {
		churn(db, version, 3 * n, round);
		/* buffered: through the file's index */
		for (int i = 0; i < 3 * n; i++)
			expect(db, i, version[i]);
		ck_assert_int_eq(blt_sync(db), 0);
		for (int i = 0; i < 3 * n; i++)
			expect(db, i, version[i]);
	}
	/* the new keys grew the index (a reindex), which moves no block */
	ck_assert_uint_gt(db->h.n_buckets, n_buckets);
	ck_assert(built(db));
	ck_assert_int_eq(blt_close(db), 0);
	ck_assert_int_eq(blt_check(tu_store, 0, NULL, NULL), 0);
	free(version);
}
END_TEST

/* Past the most buckets a new key is linked without a walk of its chain
 * when the filter of src/booklet/keyfilter.c says the store has it not:
 * the reindex to that size puts every key in the filter, and every key
 * linked later goes in too, so a key written again is still found and
 * tombstoned in its chain, never stored twice. */
START_TEST(past_the_most_buckets_new_keys_are_told_without_a_walk)
{
	const int n = 3000;
	struct blt *db = make_store_in(n, 2053);
	struct blt_iter *it;
	struct blt_item item;
	unsigned char d[HASH_LEN];
	int *version = malloc(sizeof(int) * 3 * n), live = 0, seen = 0,
	    sure = 0;
	char k[32];

	ck_assert_ptr_null(db->kf);
	ck_assert_int_eq(blt_reindex(db, BLT_BUCKETS_MAX), 0);
	ck_assert_ptr_nonnull(db->kf);
	for (int i = 0; i < 3 * n; i++) {
		key_of(i, k, sizeof k);
		hash_digest(k, strlen(k), d);
		version[i] = i < n ? 0 : -1;
		/* every key of the store is in it; most others are not */
		if (i < n)
			ck_assert(!keyfilter_surely_new(db, d));
		else
			sure += keyfilter_surely_new(db, d);
	}
	ck_assert_int_gt(sure, 2 * n * 9 / 10);
	for (int round = 1; round <= 3; round++) {
		churn(db, version, 3 * n, round);
		ck_assert_int_eq(blt_sync(db), 0);
		ck_assert_ptr_nonnull(db->kf);
		for (int i = 0; i < 3 * n; i++)
			expect(db, i, version[i]);
	}
	/* one live block a key: the count and a scan agree */
	for (int i = 0; i < 3 * n; i++)
		live += version[i] >= 0;
	ck_assert_int_eq(blt_count(db), live);
	ck_assert_int_eq(blt_iter_create(db, &it), 0);
	while (blt_iter_next(it, &item) > 0)
		seen++;
	blt_iter_free(it);
	ck_assert_int_eq(seen, live);
	/* a prune moves every block: the filter goes */
	ck_assert_int_ge(blt_prune(db, NULL), 0);
	ck_assert_ptr_null(db->kf);
	ck_assert_int_eq(blt_close(db), 0);
	ck_assert_int_eq(blt_check(tu_store, 0, NULL, NULL), 0);
	free(version);
}
END_TEST

START_TEST(a_prune_drops_it_and_it_is_built_again)
{
	const int n = 3000;
	struct blt *db = make_store(n);
	char k[32];

	read_until_built(db, n);
	for (int i = 0; i < n; i += 2) {
		key_of(i, k, sizeof k);
		ck_assert_int_eq(blt_del(db, k, strlen(k)), 0);
	}
	ck_assert_int_eq(blt_prune(db, NULL), n / 2);
	ck_assert_msg(!built(db), "a keydir of the old file survived");
	for (int i = 0; i < n; i++)
		expect(db, i, i % 2 ? 0 : -1);
	for (int i = 1; !built(db); i = (i + 2) % n)
		expect(db, i, 0);
	for (int i = 0; i < n; i++)
		expect(db, i, i % 2 ? 0 : -1);
	ck_assert_int_eq(blt_clear(db), 0);
	ck_assert(!built(db));
	expect(db, 1, -1);
	ck_assert_int_eq(blt_close(db), 0);
}
END_TEST

/* The offsets of the blocks of key/0 .. key/n-1, as a scan gives them. */
static uint64_t *
scan_offsets(struct blt *db, int n)
{
	uint64_t *at = calloc((size_t)n, sizeof *at);
	struct blt_iter *it;
	struct blt_item item;
	char k[32];
	int rc, got = 0;

	ck_assert_ptr_nonnull(at);
	ck_assert_int_eq(blt_iter_create(db, &it), 0);
	while ((rc = blt_iter_next(it, &item)) > 0) {
		int i;

		ck_assert(item.klen > 4 && item.klen < sizeof k);
		memcpy(k, item.key, item.klen);
		k[item.klen] = '\0';
		i = atoi(k + 4);
		ck_assert(i >= 0 && i < n && at[i] == 0);
		at[i] = item.offset;
		got++;
	}
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(got, n);
	blt_iter_free(it);
	return at;
}

/* blt_find_at() of key i with hint at in generation gen finds version
 * (-1: missing), put at ts. */
static void
expect_at(
    struct blt *db, int i, uint64_t at, uint64_t gen, int version, int64_t ts)
{
	struct blt_entry e;
	char k[32], v[64];
	int rc;

	key_of(i, k, sizeof k);
	rc = blt_find_at(db, k, strlen(k), at, gen, &e);
	if (version < 0) {
		ck_assert_msg(rc == -ENOENT, "%s: %d, want missing", k, rc);
		return;
	}
	ck_assert_msg(rc == 0, "%s: %s", k, blt_errmsg());
	value_of(i, version, v, sizeof v);
	ck_assert_uint_eq(e.value_len, strlen(v));
	ck_assert(memcmp(db->map->base + e.value_off, v, strlen(v)) == 0);
	ck_assert_int_eq(e.timestamp, ts);
	ck_assert_uint_eq(e.gen, blt_generation(db));
}

/* The hint is read in place of the index: with the file's index emptied,
 * keys are found through their offsets alone, and a missing, wrong or
 * outdated hint goes to the index (which then finds nothing). */
START_TEST(a_scan_s_offsets_find_keys_without_the_index)
{
	const int n = 2000;
	struct blt *db = make_store(n);
	uint64_t gen = blt_generation(db), *at = scan_offsets(db, n);

	empty_the_file_index(db);
	for (int i = 0; i < n; i++)
		expect_at(db, i, at[i], gen, 0, T0 + i);
	ck_assert(!built(db));                   /* and no keydir was asked */
	expect_at(db, 0, 0, gen, -1, 0);         /* no hint */
	expect_at(db, 1, at[2], gen, -1, 0);     /* another key's */
	expect_at(db, 3, at[3] + 1, gen, -1, 0); /* not a block's start */
	expect_at(db, 4, 1, gen, -1, 0);         /* the header */
	expect_at(db, 5, UINT64_C(1) << 47, gen, -1, 0); /* past the end */
	expect_at(db, 6, at[6], gen + 1, -1, 0);         /* another layout */
	blt_close(db);
	free(at);
}
END_TEST

/* A hint never changes an answer: after overwrites and deletes, buffered
 * and flushed, a reindex (which moves no block) and a prune (which moves
 * all), the scan's offsets find what blt_find() finds. */
START_TEST(a_scan_s_offsets_never_change_an_answer)
{
	const int n = 2000;
	struct blt *db = make_store_in(n, 2053);
	uint64_t gen = blt_generation(db), *at = scan_offsets(db, n);
	uint32_t n_buckets = db->h.n_buckets;
	int version[2000];
	char k[32], v[64];

	for (int i = 0; i < n; i++) {
		key_of(i, k, sizeof k);
		version[i] = 0;
		if (i % 3 == 1) {
			value_of(i, 1, v, sizeof v);
			ck_assert_int_eq(
			    blt_put(db, k, strlen(k), v, strlen(v), T0 - i), 0);
			version[i] = 1;
		} else if (i % 3 == 2) {
			ck_assert_int_eq(blt_del(db, k, strlen(k)), 0);
			version[i] = -1;
		}
	}
	for (int pass = 0; pass < 2; pass++) { /* buffered, then flushed */
		for (int i = 0; i < n; i++)
			expect_at(db, i, at[i], gen, version[i],
			    version[i] == 1 ? T0 - i : T0 + i);
		ck_assert_int_eq(blt_sync(db), 0);
	}
	/* the new keys grow the index in place: blocks stay, and so do the
	 * hints of a new scan */
	for (int i = n; i < 2 * n; i++) {
		key_of(i, k, sizeof k);
		ck_assert_int_eq(blt_put(db, k, strlen(k), "x", 1, T0), 0);
	}
	ck_assert_int_eq(blt_sync(db), 0);
	ck_assert_uint_gt(db->h.n_buckets, n_buckets);
	ck_assert_uint_eq(blt_generation(db), gen);
	for (int i = 0; i < n; i++)
		expect_at(db, i, at[i], gen, version[i],
		    version[i] == 1 ? T0 - i : T0 + i);
	/* a prune moves every block: the offsets are of the old layout */
	ck_assert_int_ge(blt_prune(db, NULL), n / 3);
	ck_assert_uint_ne(blt_generation(db), gen);
	for (int i = 0; i < n; i++)
		expect_at(db, i, at[i], gen, version[i],
		    version[i] == 1 ? T0 - i : T0 + i);
	ck_assert_int_eq(blt_close(db), 0);
	free(at);
}
END_TEST

/* Flip the last byte of the digest of key i's block in the file. */
static void
damage_digest(int i)
{
	struct blt *db;
	struct blt_entry e;
	unsigned char c;
	char k[32];
	int fd;
	off_t at;

	key_of(i, k, sizeof k);
	ck_assert_int_eq(blt_open(tu_store, BLT_RDONLY, NULL, &db), 0);
	ck_assert_int_eq(blt_find(db, k, strlen(k), &e), 0);
	/* the value follows the key, which follows the block's head */
	at = (off_t)(e.value_off - strlen(k) - VAR_FIXED_LEN - TS_LEN +
	             HASH_LEN - 1);
	blt_close(db);
	fd = open(tu_store, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &c, 1, at), 1);
	c ^= 0x5a;
	ck_assert_int_eq(pwrite(fd, &c, 1, at), 1);
	close(fd);
}

START_TEST(not_built_over_a_damaged_chain)
{
	const int n = 2000;
	struct blt *db = make_store(n);

	ck_assert_int_eq(blt_close(db), 0);
	damage_digest(7);
	ck_assert_int_eq(blt_open(tu_store, BLT_RDONLY, NULL, &db), 0);
	/* far more gets than a build needs */
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < n; i++)
			expect(db, i, i == 7 ? -1 : 0);
	ck_assert_msg(!built(db), "built over a block whose digest is wrong");
	ck_assert_int_eq(blt_close(db), 0);
}
END_TEST

/* Readers in threads while the keydir is built and a writer changes the
 * keys it holds: every value read is one a key held at some point. */
struct race {
	struct blt *db;
	int n, stop;
	long reads;
};

static void *
race_reader(void *arg)
{
	struct race *r = arg;
	unsigned seed = (unsigned)(uintptr_t)&seed;
	char k[32], want[64], buf[64];

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		int i = rand_r(&seed) % r->n;
		ssize_t got;

		key_of(i, k, sizeof k);
		got = blt_get(r->db, k, strlen(k), buf, sizeof buf - 1, NULL);
		if (got == -ENOENT)
			continue;
		ck_assert_msg(got > 0, "%s: %zd %s", k, got, blt_errmsg());
		buf[got] = '\0';
		snprintf(want, sizeof want, " of %s", k);
		ck_assert_msg(
		    strstr(buf, want) != NULL && strncmp(buf, "value ", 6) == 0,
		    "%s holds \"%s\"", k, buf);
		__atomic_add_fetch(&r->reads, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

START_TEST(readers_race_the_build_and_a_writer)
{
	const int n = 4000;
	struct race r = {.db = make_store(n), .n = n};
	pthread_t t[3];
	char k[32], v[64];
	int builds = 0, was = 0;

	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(
		    pthread_create(&t[i], NULL, race_reader, &r), 0);
	for (int step = 1; step <= 30000; step++) {
		int i = step * 7919 % n;

		key_of(i, k, sizeof k);
		value_of(i, step, v, sizeof v);
		if (step % 11 == 0)
			(void)blt_del(r.db, k, strlen(k));
		else
			ck_assert_int_eq(
			    blt_put(r.db, k, strlen(k), v, strlen(v), T0), 0);
		if (step % 100 == 0)
			ck_assert_int_eq(blt_sync(r.db), 0);
		if (step % 10000 == 0)
			ck_assert_int_ge(blt_prune(r.db, NULL), 0);
		if (built(r.db) && !was)
			builds++;
		was = built(r.db);
	}
	__atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	fprintf(stderr, "keydir race: %ld reads, %d builds seen\n", r.reads,
	    builds);
	ck_assert_int_eq(blt_close(r.db), 0);
	ck_assert_int_eq(blt_check(tu_store, 0, NULL, NULL), 0);
}
END_TEST

/* Every fixture, read until its keydir is built, then each item through
 * it as the manifest says. */
START_TEST(every_fixture_reads_through_it_as_its_manifest_says)
{
	char json[PATH_MAX], blt[PATH_MAX];
	struct manifest *m;
	struct blt *db;
	struct dirent *de;
	int checked = 0;
	DIR *dir = opendir(tu_fixtures());

	ck_assert_msg(dir != NULL, "%s: %s", tu_fixtures(), strerror(errno));
	while ((de = readdir(dir)) != NULL) {
		size_t len = strlen(de->d_name);
		const char *name = de->d_name;

		if (len <= 4 || strcmp(name + len - 4, ".blt") != 0)
			continue;
		snprintf(blt, sizeof blt, "%s/%s", tu_fixtures(), name);
		snprintf(json, sizeof json, "%s/%.*s.json", tu_fixtures(),
		    (int)(len - 4), name);
		ck_assert_msg(manifest_load(json, &m) == 0, "%s", blt_errmsg());
		ck_assert_msg(blt_open(blt, BLT_RDONLY, NULL, &db) == 0, "%s",
		    blt_errmsg());
		for (long g = 0; m->n_items > 0 && !built(db); g++) {
			const struct manifest_item *it =
			    &m->items[g % (long)m->n_items];

			ck_assert_msg(g < 100000, "%s: no keydir", name);
			ck_assert_int_eq(blt_exists(db, it->key, it->klen), 1);
		}
		for (size_t i = 0; i < m->n_items; i++) {
			const struct manifest_item *it = &m->items[i];
			unsigned char *buf = malloc(it->value_len + 1);
			unsigned char d[SHA256_LEN];
			int64_t ts;
			ssize_t got;

			got = blt_get(
			    db, it->key, it->klen, buf, it->value_len + 1, &ts);
			ck_assert_msg(got == (ssize_t)it->value_len,
			    "%s: key %s: %zd", name, it->key_hex, got);
			sha256(buf, it->value_len, d);
			ck_assert_msg(memcmp(d, it->sha256, SHA256_LEN) == 0,
			    "%s: key %s: value differs", name, it->key_hex);
			if (it->timestamp != MANIFEST_NO_TS)
				ck_assert_int_eq(ts, it->timestamp);
			free(buf);
		}
		checked += m->n_items > 0;
		blt_close(db);
		manifest_free(m);
	}
	closedir(dir);
	ck_assert_int_ge(checked, 15);
}
END_TEST

static Suite *
keydir_suite(void)
{
	Suite *s = suite_create("keydir");
	TCase *tc = tcase_create("keydir");

	tcase_add_checked_fixture(tc, tu_store_setup, tu_store_teardown);
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, built_once_a_quarter_of_the_keys_were_read);
	tcase_add_test(tc, lookups_go_through_the_keydir_once_it_is_built);
	tcase_add_test(tc, batched_lookups_build_and_use_it_too);
	tcase_add_test(tc, puts_overwrites_and_deletes_keep_it_right);
	tcase_add_test(tc, a_prune_drops_it_and_it_is_built_again);
	tcase_add_test(
	    tc, past_the_most_buckets_new_keys_are_told_without_a_walk);
	tcase_add_test(tc, not_built_over_a_damaged_chain);
	tcase_add_test(tc, a_scan_s_offsets_find_keys_without_the_index);
	tcase_add_test(tc, a_scan_s_offsets_never_change_an_answer);
	tcase_add_test(tc, readers_race_the_build_and_a_writer);
	tcase_add_test(tc, every_fixture_reads_through_it_as_its_manifest_says);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(keydir_suite());
}
