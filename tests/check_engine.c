/*
 * check_engine.c: the engine against the format document's worked examples
 * (§17, byte for byte where the reference's output is deterministic) and
 * against an in-memory model under random operations.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "booklet.h"
#include "internal.h"
#include "testutil.h"

#define T0 INT64_C(1700000000000000)

static struct blt *
open_new(int fixed, uint32_t value_len, uint32_t n_buckets, uint16_t kser)
{
	struct blt_options o;
	struct blt *db;

	blt_options_default(&o);
	o.fixed = fixed;
	o.value_len = value_len;
	o.n_buckets = n_buckets;
	o.key_serializer = kser;
	ck_assert_msg(
	    blt_open(tu_store, BLT_TRUNC, &o, &db) == 0, "%s", blt_errmsg());
	return db;
}

static struct blt *
reopen(int mode)
{
	struct blt *db;

	ck_assert_msg(
	    blt_open(tu_store, mode, NULL, &db) == 0, "%s", blt_errmsg());
	return db;
}

static void
put(struct blt *db, const char *k, const char *v, int64_t ts)
{
	ck_assert_msg(blt_put(db, k, strlen(k), v, strlen(v), ts) == 0, "%s",
	    blt_errmsg());
}

/* The whole file; the caller frees it. */
static unsigned char *
slurp(size_t *len)
{
	struct stat st;
	unsigned char *b;
	int fd = open(tu_store, O_RDONLY);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	b = malloc((size_t)st.st_size + 1);
	ck_assert_int_eq(pread(fd, b, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return b;
}

/* §17.1: stage 1 of the worked example, every byte after the header's
 * creation time and uuid. */
static const char stage1_tail_hex[] =
    "0100000000002c0100000000e600000000000100000000000100000000002639"
    "98f76a81ad95141bf25fde09010000000001000200000001401e18240a066242"
    "31f134ca6e53b9d92e36286609ba01000000000001000200000002401e18240a"
    "0665453198bffdaaf3946389080dd51a1201000000000001000200000003401e"
    "18240a06614131";

START_TEST(worked_example_stage1_is_byte_identical)
{
	struct blt *db = open_new(0, 0, 5, BLT_SER_STR);
	unsigned char *b, want[200];
	size_t len, n;

	put(db, "b", "B1", T0 + 1);
	put(db, "e", "E1", T0 + 2);
	put(db, "a", "A1", T0 + 3);
	ck_assert_int_eq(blt_close(db), 0);
	b = slurp(&len);
	ck_assert_uint_eq(len, 335);
	ck_assert_int_eq(memcmp(b,
	                     "\x4f\x7e\x8a\x3f\xe7\x5c\x47\x50\xad\x43"
	                     "\x0a\x72\x8f\xe3\x1c\xfe\x05\x00\x06\x02"
	                     "\x04\x05\x00\x00\x00\x00\x00\x00\x00\x01"
	                     "\x00\x02\x00\x03\x00\x00\x00",
	                     37),
	    0);
	n = tu_unhex(stage1_tail_hex, want, sizeof want);
	ck_assert_int_eq(memcmp(b + 200, want, n), 0);
	ck_assert_uint_eq(200 + n, 335);
	for (size_t i = 65; i < 200; i++)
		ck_assert_int_eq(b[i], 0);
	free(b);
}
END_TEST

START_TEST(overwrite_delete_meta_and_prune_match_the_worked_example)
{
	struct blt *db = open_new(0, 0, 5, BLT_SER_STR);
	unsigned char *b, buf[64];
	size_t len;
	int64_t ts;

	put(db, "b", "B1", T0 + 1);
	put(db, "e", "E1", T0 + 2);
	put(db, "a", "A1", T0 + 3);
	ck_assert_int_eq(blt_close(db), 0);
	db = reopen(BLT_RDWR);
	put(db, "b", "B2", T0 + 4);
	ck_assert_int_eq(blt_close(db), 0);
	db = reopen(BLT_RDWR);
	ck_assert_int_eq(blt_del(db, "e", 1), 0);
	ck_assert_int_eq(blt_close(db), 0);
	db = reopen(BLT_RDWR);
	ck_assert_int_eq(blt_set_meta(db, "{\"x\":1}", 7, T0 + 5), 0);
	ck_assert_int_eq(blt_set_reserved(db, 1, "R", 1, T0 + 6), 0);
	ck_assert_int_eq(blt_close(db), 0);
	b = slurp(&len);
	ck_assert_uint_eq(len, 488);
	/* §17.2-17.4: slot 2 -> 335, new b's next -> end, e tombstoned,
	 * metadata at 370 and slot 1 at 432 hang off slots 3 and 4. */
	ck_assert_uint_eq(le_get(b + 212, 6), 335);
	ck_assert_uint_eq(le_get(b + 243, 6), 0);
	ck_assert_uint_eq(le_get(b + 278, 6), 0);
	ck_assert_uint_eq(le_get(b + 348, 6), 1);
	ck_assert_uint_eq(le_get(b + 218, 6), 370);
	ck_assert_uint_eq(le_get(b + 224, 6), 432);
	ck_assert_uint_eq(le_get(b + 33, 4), 2);
	free(b);

	db = reopen(BLT_RDWR);
	ck_assert_uint_eq(blt_count(db), 2);
	ck_assert_int_eq(blt_get_meta(db, buf, sizeof buf, &ts), 7);
	ck_assert_int_eq(memcmp(buf, "{\"x\":1}", 7), 0);
	ck_assert_int_eq(ts, T0 + 5);
	ck_assert_int_eq(blt_prune(db, NULL), 2);
	ck_assert_int_eq(blt_close(db), 0);
	b = slurp(&len);
	/* §17.5 */
	ck_assert_uint_eq(len, 418);
	ck_assert_uint_eq(le_get(b + 65, 6), 388);
	ck_assert_uint_eq(le_get(b + 71, 6), 200);
	ck_assert_uint_eq(le_get(b + 388, 6), 1);
	ck_assert_uint_eq(le_get(b + 394, 6), 200);
	ck_assert_uint_eq(le_get(b + 400, 6), 235);
	ck_assert_uint_eq(le_get(b + 406, 6), 270);
	ck_assert_uint_eq(le_get(b + 412, 6), 332);
	free(b);

	db = reopen(BLT_RDWR);
	put(db, "c", "C1", T0 + 7);
	ck_assert_int_eq(blt_close(db), 0);
	b = slurp(&len);
	ck_assert_uint_eq(len, 453);
	ck_assert_uint_eq(le_get(b + 388, 6), 418);
	free(b);

	db = reopen(BLT_RDWR);
	ck_assert_int_eq(blt_clear(db), 0);
	ck_assert_int_eq(blt_get_meta(db, buf, sizeof buf, NULL), -ENOENT);
	ck_assert_int_eq(blt_close(db), 0);
	b = slurp(&len);
	ck_assert_uint_eq(len, 230);
	ck_assert_uint_eq(le_get(b + 33, 4), 0);
	ck_assert_uint_eq(le_get(b + 65, 6), 0);
	free(b);
}
END_TEST

START_TEST(fixed_overwrite_appends_as_the_reference_does)
{
	struct blt *db = open_new(1, 4, 5, BLT_SER_STR);
	unsigned char *b, v[4];
	size_t len;

	put(db, "b", "BBB1", BLT_NOW);
	put(db, "e", "EEE1", BLT_NOW);
	ck_assert_int_eq(blt_close(db), 0);
	db = reopen(BLT_RDWR);
	put(db, "b", "BBB2", BLT_NOW);
	ck_assert_int_eq(blt_put(db, "x", 1, "12345", 5, BLT_NOW), -EINVAL);
	ck_assert_int_eq(blt_close(db), 0);
	b = slurp(&len);
	/* §17.6 */
	ck_assert_uint_eq(len, 308);
	ck_assert_uint_eq(le_get(b + 212, 6), 282);
	ck_assert_uint_eq(le_get(b + 230 + 13, 6), 0);
	ck_assert_uint_eq(le_get(b + 282 + 13, 6), 256);
	ck_assert_int_eq(b[20], 0);
	ck_assert_uint_eq(le_get(b + 37, 4), 4);
	free(b);
	db = reopen(BLT_RDONLY);
	ck_assert_int_eq(blt_get(db, "b", 1, v, 4, NULL), 4);
	ck_assert_int_eq(memcmp(v, "BBB2", 4), 0);
	ck_assert_int_eq(blt_close(db), 0);
}
END_TEST

START_TEST(auto_reindex_twice_matches_the_reference_layout)
{
	struct blt *db = open_new(0, 0, 5, BLT_SER_STR);
	unsigned char *b;
	char k[16];
	size_t len;

	for (int i = 0; i < 6; i++) {
		snprintf(k, sizeof k, "k%d", i);
		ck_assert_int_eq(blt_put(db, k, strlen(k), "v", 1, T0), 0);
	}
	ck_assert_int_eq(blt_close(db), 0);
	b = slurp(&len);
	/* §17.7: 12007 buckets at 440, data from 230. */
	ck_assert_uint_eq(len, 72482);
	ck_assert_uint_eq(le_get(b + 21, 4), 12007);
	ck_assert_uint_eq(le_get(b + 65, 6), 440);
	ck_assert_uint_eq(le_get(b + 71, 6), 230);
	free(b);
	db = reopen(BLT_RDWR);
	for (int i = 6; i < 12008; i++) {
		snprintf(k, sizeof k, "k%d", i);
		ck_assert_int_eq(blt_put(db, k, strlen(k), "v", 1, T0), 0);
	}
	ck_assert_int_eq(blt_close(db), 0);
	b = slurp(&len);
	ck_assert_uint_eq(le_get(b + 21, 4), 144013);
	ck_assert_uint_eq(le_get(b + 65, 6), 529474);
	ck_assert_uint_eq(le_get(b + 71, 6), 230);
	/* The old index at 440 is one variable skip block (Appendix A). */
	ck_assert_uint_eq(le_get(b + 440 + 13, 6), 0);
	ck_assert_uint_eq(le_get(b + 440 + 19, 2), 1);
	ck_assert_uint_eq(le_get(b + 440 + 21, 4), 72009);
	free(b);
	db = reopen(BLT_RDONLY);
	ck_assert_uint_eq(blt_count(db), 12008);
	ck_assert_int_eq(blt_exists(db, "k0", 2), 1);
	ck_assert_int_eq(blt_exists(db, "k12007", 6), 1);
	ck_assert_int_eq(blt_close(db), 0);
	ck_assert_int_eq(blt_check(tu_store, 0, NULL, NULL), 0);
}
END_TEST

START_TEST(fixed_second_reindex_tiles_the_dead_index)
{
	struct blt *db = open_new(1, 16, 5, BLT_SER_NONE);
	unsigned char v[16] = "0123456789abcdef";
	char k[16];

	for (int i = 0; i < 12010; i++) {
		snprintf(k, sizeof k, "k%d", i);
		ck_assert_int_eq(blt_put(db, k, strlen(k), v, 16, BLT_NOW), 0);
		if (i == 10)
			ck_assert_int_eq(blt_flush(db), 0);
	}
	ck_assert_int_eq(blt_close(db), 0);
	ck_assert_int_eq(blt_check(tu_store, 0, NULL, NULL), 0);
	db = reopen(BLT_RDONLY);
	ck_assert_uint_eq(blt_count(db), 12010);
	ck_assert_int_eq(blt_close(db), 0);
}
END_TEST

/* A model: keys k0..kN-1 with their current value (or none). */
struct model {
	int n;
	char **val;
	int64_t *ts;
};

/* blt_get_many()'s callback for model_check(): key i as the model says. */
static int
model_got(
    void *arg, size_t i, const void *value, size_t vlen, int64_t ts, int err)
{
	const struct model *m = arg;

	if (m->val[i] == NULL) {
		ck_assert_msg(err == -ENOENT, "key/%zu: present (%d)", i, err);
		return 0;
	}
	ck_assert_msg(err == 0, "key/%zu: %d %s", i, err, blt_errmsg());
	ck_assert_uint_eq(vlen, strlen(m->val[i]));
	ck_assert_int_eq(memcmp(value, m->val[i], vlen), 0);
	ck_assert_int_eq(ts, m->ts[i]);
	return 0;
}

/* Every key of the model in one call of blt_get_many(). */
static void
model_check_many(struct blt *db, const struct model *m)
{
	char(*k)[32] = malloc((size_t)m->n * sizeof *k);
	const void **keys = malloc((size_t)m->n * sizeof *keys);
	size_t *lens = malloc((size_t)m->n * sizeof *lens);

	for (int i = 0; i < m->n; i++) {
		snprintf(k[i], sizeof k[i], "key/%d", i);
		keys[i] = k[i];
		lens[i] = strlen(k[i]);
	}
	ck_assert_int_eq(
	    blt_get_many(db, (size_t)m->n, keys, lens, model_got, (void *)m),
	    0);
	free(k);
	free(keys);
	free(lens);
}

static void
model_check(struct blt *db, const struct model *m)
{
	struct blt_iter *it;
	struct blt_item item;
	char k[32], buf[256];
	uint64_t live = 0, seen = 0;
	int rc;

	for (int i = 0; i < m->n; i++) {
		ssize_t len;
		int64_t ts;

		snprintf(k, sizeof k, "key/%d", i);
		len = blt_get(db, k, strlen(k), buf, sizeof buf, &ts);
		if (m->val[i] == NULL) {
			ck_assert_msg(len == -ENOENT, "%s present", k);
			continue;
		}
		live++;
		ck_assert_msg(len == (ssize_t)strlen(m->val[i]), "%s: %zd %s",
		    k, len, blt_errmsg());
		ck_assert_int_eq(memcmp(buf, m->val[i], (size_t)len), 0);
		ck_assert_int_eq(ts, m->ts[i]);
	}
	model_check_many(db, m);
	ck_assert_uint_eq(blt_count(db), live);
	ck_assert_int_eq(blt_iter_create(db, &it), 0);
	while ((rc = blt_iter_next(it, &item)) > 0)
		seen++;
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(seen, live);
	blt_iter_free(it);
}

START_TEST(random_operations_match_a_model)
{
	unsigned seed = tu_seed();
	struct model m = {
	    3000, calloc(3000, sizeof(char *)), calloc(3000, sizeof(int64_t))};
	struct blt_options o;
	struct blt *db;

	blt_options_default(&o);
	o.n_buckets = 7;
	o.write_buffer = 4096;
	ck_assert_int_eq(blt_open(tu_store, BLT_TRUNC, &o, &db), 0);
	for (int step = 0; step < 40000; step++) {
		int op = rand_r(&seed) % 100, i = rand_r(&seed) % m.n;
		char k[32], v[96];

		snprintf(k, sizeof k, "key/%d", i);
		if (op < 55) {
			snprintf(v, sizeof v, "value %d of %d %.*s", step, i,
			    rand_r(&seed) % 40,
			    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
			put(db, k, v, T0 + step);
			free(m.val[i]);
			m.val[i] = strdup(v);
			m.ts[i] = T0 + step;
		} else if (op < 80) {
			int rc = blt_del(db, k, strlen(k));

			ck_assert_int_eq(rc, m.val[i] ? 0 : -ENOENT);
			free(m.val[i]);
			m.val[i] = NULL;
		} else if (op < 90) {
			ck_assert_int_eq(
			    blt_exists(db, k, strlen(k)), m.val[i] != NULL);
		} else if (op < 97) {
			ck_assert_int_eq(blt_sync(db), 0);
		} else if (op < 99) {
			ck_assert_int_eq(blt_close(db), 0);
			ck_assert_int_eq(blt_check(tu_store, 0, NULL, NULL), 0);
			db = reopen(BLT_RDWR);
		} else {
			ck_assert_int_ge(blt_prune(db, NULL), 0);
		}
		if (step % 5000 == 0)
			model_check(db, &m);
	}
	model_check(db, &m);
	ck_assert_int_eq(blt_close(db), 0);
	ck_assert_int_eq(blt_check(tu_store, 0, NULL, NULL), 0);
	db = reopen(BLT_RDONLY);
	model_check(db, &m);
	ck_assert_int_eq(blt_close(db), 0);
	for (int i = 0; i < m.n; i++)
		free(m.val[i]);
	free(m.val);
	free(m.ts);
}
END_TEST

START_TEST(prune_drops_old_keys_but_keeps_the_keep_list_and_metadata)
{
	struct blt *db = open_new(0, 0, 12007, BLT_SER_STR);
	const unsigned char *keep[] = {(const unsigned char *)"old2"};
	size_t keep_len[] = {4};
	struct blt_prune_opts po = {T0 + 100, 1, keep, keep_len, 0};
	unsigned char buf[16];

	put(db, "old1", "1", T0);
	put(db, "old2", "2", T0 + 1);
	put(db, "new", "3", T0 + 200);
	ck_assert_int_eq(blt_set_meta(db, "{}", 2, T0), 0);
	ck_assert_int_eq(blt_prune(db, &po), 1);
	ck_assert_int_eq(blt_exists(db, "old1", 4), 0);
	ck_assert_int_eq(blt_exists(db, "old2", 4), 1);
	ck_assert_int_eq(blt_exists(db, "new", 3), 1);
	ck_assert_int_eq(blt_get_meta(db, buf, sizeof buf, NULL), 2);
	ck_assert_uint_eq(blt_count(db), 2);
	ck_assert_int_eq(blt_close(db), 0);
	ck_assert_int_eq(blt_check(tu_store, 0, NULL, NULL), 0);
}
END_TEST

/* A new store of 5 buckets holding 20 keys, which it was not let grow for
 * (as a v4 store from booklet < 0.10). */
static struct blt *
open_overfull(void)
{
	struct blt *db = open_new(0, 0, 5, BLT_SER_STR);
	char k[16];

	db->prune_eof = UINT64_MAX; /* as while a prune copies: no reindex */
	for (int i = 0; i < 20; i++) {
		snprintf(k, sizeof k, "k%d", i);
		put(db, k, "v", T0);
	}
	ck_assert_int_eq(blt_flush(db), 0);
	db->prune_eof = 0;
	return db;
}

/* BLT_FIT grows an index that has more keys than buckets to the first size
 * that holds them, and leaves it at that when asked again: in a prune (the
 * mount's reindex job, which grew it 12-fold every time) and in
 * blt_reindex() (blt reindex without --buckets, one size more a run). */
START_TEST(fit_grows_to_the_size_the_keys_need_and_no_further)
{
	struct blt_prune_opts po = {.n_buckets = BLT_FIT};
	struct blt_stat st;

	for (int reindex = 0; reindex < 2; reindex++) {
		struct blt *db = open_overfull();

		ck_assert_int_eq(blt_info(db, &st), 0);
		ck_assert_uint_eq(st.n_buckets, 5);
		for (int run = 0; run < 2; run++) {
			int rc = reindex ? blt_reindex(db, BLT_FIT)
			                 : blt_prune(db, &po);

			ck_assert_msg(rc >= 0, "%s", blt_errmsg());
			ck_assert_int_eq(blt_info(db, &st), 0);
			ck_assert_uint_eq(st.n_buckets, 12007);
		}
		ck_assert_uint_eq(blt_count(db), 20);
		ck_assert_int_eq(blt_close(db), 0);
		ck_assert_int_eq(blt_check(tu_store, 0, NULL, NULL), 0);
	}
}
END_TEST

/* More keys than the largest size of booklet's sequence, 20736017
 * buckets, has room for: BLT_FIT and BLT_GROW say that it is the
 * maximum.  (The keys are counted, not put: 20 million would take long.) */
START_TEST(prune_to_fit_at_the_largest_size_says_it_is_the_maximum)
{
	struct blt_prune_opts po = {.n_buckets = BLT_FIT};
	struct blt *db = open_new(0, 0, 20736017, BLT_SER_STR);
	struct blt_stat st;

	put(db, "k", "v", T0);
	ck_assert_int_eq(blt_flush(db), 0);
	db->n_keys = 20736018;
	ck_assert_int_eq(blt_prune(db, &po), -EINVAL);
	ck_assert_msg(
	    strstr(blt_errmsg(), "20736017 buckets is the maximum") != NULL,
	    "%s", blt_errmsg());
	po.n_buckets = BLT_GROW;
	ck_assert_int_eq(blt_prune(db, &po), -EINVAL);
	ck_assert_msg(
	    strstr(blt_errmsg(), "20736017 buckets is the maximum") != NULL,
	    "%s", blt_errmsg());
	db->n_keys = 1;
	ck_assert_int_eq(blt_info(db, &st), 0);
	ck_assert_uint_eq(st.n_buckets, 20736017);
	ck_assert_int_eq(blt_close(db), 0);
}
END_TEST

/* An index larger than the largest booklet makes (BLT_BUCKETS_MAX) is
 * refused by blt_reindex() and by a prune that grows the index (the mount's
 * reindex job), with the store's name and the limit; the store stays as it
 * was.  Both used to make one. */
START_TEST(reindex_past_the_largest_index_is_refused)
{
	struct blt_prune_opts po = {.n_buckets = BLT_BUCKETS_MAX + 1};
	struct blt *db = open_new(0, 0, 12007, BLT_SER_STR);
	struct blt_stat st;
	struct stat fst;
	off_t size;

	put(db, "k", "v", T0);
	ck_assert_int_eq(blt_flush(db), 0);
	ck_assert_int_eq(stat(tu_store, &fst), 0);
	size = fst.st_size;
	ck_assert_int_eq(blt_reindex(db, BLT_BUCKETS_MAX + 1), -EINVAL);
	ck_assert_msg(strstr(blt_errmsg(), tu_store) != NULL &&
	                  strstr(blt_errmsg(), "20736018 buckets") != NULL &&
	                  strstr(blt_errmsg(), "largest booklet makes, "
	                                       "20736017 buckets") != NULL,
	    "%s", blt_errmsg());
	ck_assert_int_eq(blt_prune(db, &po), -EINVAL);
	ck_assert_msg(strstr(blt_errmsg(), "20736017 buckets") != NULL, "%s",
	    blt_errmsg());
	ck_assert_int_eq(blt_info(db, &st), 0);
	ck_assert_uint_eq(st.n_buckets, 12007);
	ck_assert_int_eq(stat(tu_store, &fst), 0);
	ck_assert_int_eq(fst.st_size, size);
	ck_assert_int_eq(blt_close(db), 0);
}
END_TEST

/* So is a new store with such an index (24 GiB of it at the most, written
 * before the open returns): no file is made. */
START_TEST(create_past_the_largest_index_is_refused)
{
	struct blt_options o;
	struct blt *db = NULL;
	struct stat fst;

	blt_options_default(&o);
	o.n_buckets = BLT_BUCKETS_MAX + 1;
	unlink(tu_store);
	ck_assert_int_eq(blt_open(tu_store, BLT_CREATE, &o, &db), -EINVAL);
	ck_assert_ptr_null(db);
	ck_assert_msg(strstr(blt_errmsg(), tu_store) != NULL &&
	                  strstr(blt_errmsg(), "largest booklet makes, "
	                                       "20736017 buckets") != NULL,
	    "%s", blt_errmsg());
	ck_assert_int_eq(stat(tu_store, &fst), -1);
}
END_TEST

/* A damaged store where one key has two live blocks (a copy of its block
 * with another value appended by hand): prune keeps the later one, as an
 * overwrite would have, and counts the key once. */
START_TEST(prune_keeps_the_later_of_two_live_blocks_of_a_key)
{
	struct blt *db = open_new(0, 0, 12007, BLT_SER_STR);
	unsigned char blk[64];
	struct blt_entry e;
	char buf[8];
	off_t end;
	size_t head = VAR_FIXED_LEN + TS_LEN, size = head + 1 + 3;
	int fd;

	put(db, "k", "one", T0);
	put(db, "other", "x", T0);
	ck_assert_int_eq(blt_find(db, "k", 1, &e), 0);
	ck_assert_int_eq(blt_close(db), 0);
	fd = open(tu_store, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(
	    pread(fd, blk, size, (off_t)e.value_off - (off_t)head - 1),
	    (ssize_t)size);
	memcpy(blk + head + 1, "two", 3);
	end = lseek(fd, 0, SEEK_END);
	ck_assert_int_eq(pwrite(fd, blk, size, end), (ssize_t)size);
	close(fd);
	db = reopen(BLT_RDWR);
	ck_assert_int_eq(blt_prune(db, NULL), 0);
	ck_assert_int_eq(blt_get(db, "k", 1, buf, sizeof buf, NULL), 3);
	ck_assert_int_eq(memcmp(buf, "two", 3), 0);
	ck_assert_uint_eq(blt_count(db), 2);
	ck_assert_int_eq(blt_close(db), 0);
	ck_assert_int_eq(blt_check(tu_store, 0, NULL, NULL), 0);
}
END_TEST

START_TEST(reads_see_buffered_puts_and_empty_values)
{
	struct blt *db = open_new(0, 0, 12007, BLT_SER_NONE);
	struct blt_entry e;
	char buf[8];

	ck_assert_int_eq(blt_put(db, "", 0, "", 0, BLT_NOW), 0);
	ck_assert_int_eq(blt_get(db, "", 0, buf, sizeof buf, NULL), 0);
	ck_assert_int_eq(blt_exists(db, "", 0), 1);
	put(db, "k", "hello", BLT_NOW);
	ck_assert_int_eq(blt_read(db, "k", 1, 1, buf, 3), 3);
	ck_assert_int_eq(memcmp(buf, "ell", 3), 0);
	ck_assert_int_eq(blt_read(db, "k", 1, 9, buf, 3), 0);
	ck_assert_int_eq(blt_find(db, "k", 1, &e), 0);
	ck_assert_uint_eq(e.value_len, 5);
	ck_assert_int_eq(blt_get(db, "nope", 4, buf, 8, NULL), -ENOENT);
	ck_assert_int_eq(
	    blt_put(db, "adb01ebc1ba3433eb043527", 23, "x", 1, BLT_NOW),
	    -EINVAL);
	ck_assert_int_eq(blt_close(db), 0);
}
END_TEST

/* blt_stat()'s byte counts of db, which must equal those of a fresh open
 * of the store (one that scans for them). */
static void
usage_matches_a_fresh_open(struct blt *db)
{
	struct blt_stat st, fresh_st;
	struct blt *fresh;

	ck_assert_msg(blt_stat(db, &st) == 0, "%s", blt_errmsg());
	ck_assert_int_eq(blt_close(db), 0);
	fresh = reopen(BLT_RDONLY);
	ck_assert_msg(blt_stat(fresh, &fresh_st) == 0, "%s", blt_errmsg());
	ck_assert_int_eq(blt_close(fresh), 0);
	ck_assert_uint_eq(st.live_bytes, fresh_st.live_bytes);
	ck_assert_uint_eq(st.dead_bytes, fresh_st.dead_bytes);
}

/* A scan that runs to the end counts the live bytes for blt_stat(), so a
 * mount, which lists every key, need not read the store again for them;
 * not when a block came or went meanwhile (here after the scan had passed
 * it: the count would be wrong).  Either way they are right. */
START_TEST(a_scan_counts_the_live_bytes_only_of_a_still_store)
{
	struct blt *db = open_new(0, 0, 12007, BLT_SER_NONE);
	struct blt_item item;
	struct blt_iter *it;
	char k[16];
	int n, rc;

	for (int i = 0; i < 200; i++) {
		snprintf(k, sizeof k, "k%d", i);
		put(db, k, "value", BLT_NOW);
	}
	put(db, "k7", "a longer value than before", BLT_NOW); /* one dead */
	ck_assert_int_eq(blt_del(db, "k9", 2), 0);
	ck_assert_int_eq(blt_set_meta(db, "{}", 2, BLT_NOW), 0); /* counted */
	ck_assert_int_eq(blt_close(db), 0);
	/* 0: nothing changes; 1: a block counted goes; 2: one comes */
	for (int change = 0; change < 3; change++) {
		db = reopen(BLT_RDWR);
		ck_assert_int_eq(blt_iter_create(db, &it), 0);
		for (n = 0; (rc = blt_iter_next(it, &item)) > 0; n++)
			if (n == 100 && change == 1)
				ck_assert_int_eq(blt_del(db, "k3", 2), 0);
			else if (n == 100 && change == 2) {
				put(db, "new", "x", BLT_NOW);
				ck_assert_int_eq(blt_flush(db), 0);
			}
		ck_assert_msg(rc == 0, "%s", blt_errmsg());
		blt_iter_free(it);
		/* k9 went before the scans, k3 after the second passed it;
		 * "new" lies past the end of the third */
		ck_assert_int_eq(n, change < 2 ? 199 : 198);
		usage_matches_a_fresh_open(db);
	}
}
END_TEST

/* Let the store's file grow by room more bytes, as a full disk would: a
 * write past that fails with EFBIG part of the way through (SIGXFSZ is
 * ignored).  *saved gets the limit to put back. */
static void
limit_file_size(struct blt *db, rlim_t room, struct rlimit *saved)
{
	struct rlimit lim;
	struct stat st;

	signal(SIGXFSZ, SIG_IGN);
	ck_assert_int_eq(blt_sync(db), 0);
	ck_assert_int_eq(stat(tu_store, &st), 0);
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, saved), 0);
	lim = *saved;
	lim.rlim_cur = (rlim_t)st.st_size + room;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
}

/* A full disk, made by the file size limit, which fails a write the same
 * way part of the way through (SIGXFSZ ignored: EFBIG).  A big value and
 * a buffered flush fail and are not stored; an index that cannot grow
 * leaves the chains longer and the puts stored.  Once there is room again,
 * puts work, and the store reopens with every key that was stored and
 * checks clean: nothing torn lies under the later appends.  A close that
 * fails the same way leaves the store clean. */
START_TEST(a_full_disk_fails_puts_and_loses_nothing)
{
	static unsigned char big[5 << 20]; /* past the 4 MiB write buffer */
	struct blt *db = open_new(0, 0, 12007, BLT_SER_NONE);
	struct rlimit saved;
	char k[32], v[32], got[32];
	int i, rc, stored = 0;

	for (i = 0; i < 100; i++) {
		snprintf(k, sizeof k, "before%d", i);
		put(db, k, "kept", T0);
	}
	/* room for 12,000 small keys, not for the next index (864 KB) */
	limit_file_size(db, 800000, &saved);

	memset(big, 'b', sizeof big);
	rc = blt_put(db, "big", 3, big, sizeof big, T0);
	ck_assert_int_eq(rc < 0 ? rc : blt_flush(db), -EFBIG);
	ck_assert_int_eq(blt_exists(db, "big", 3), 0);
	/* past 12,007 keys the index would grow: it cannot, and the puts
	 * still go in, until the data itself finds no room */
	for (i = 0; i < 20000; i++) {
		snprintf(k, sizeof k, "key%05d", i);
		snprintf(v, sizeof v, "value %d", i);
		if ((rc = blt_put(db, k, strlen(k), v, strlen(v), T0)) == 0)
			rc = blt_flush(db);
		if (rc < 0)
			break;
		stored++;
	}
	ck_assert_int_eq(rc, -EFBIG);
	ck_assert_int_gt(stored, 12007);
	ck_assert_int_eq(blt_exists(db, k, strlen(k)), 0);

	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &saved), 0);
	put(db, "after", "room again", T0);
	ck_assert_int_eq(blt_close(db), 0);

	/* a close whose last flush finds no room fails, and leaves the
	 * store clean: readers, which refuse an unclean one, open it */
	db = reopen(BLT_RDWR);
	limit_file_size(db, 0, &saved);
	ck_assert_int_eq(blt_put(db, "late", 4, big, 1 << 20, T0), 0);
	ck_assert_int_eq(blt_close(db), -EFBIG);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &saved), 0);

	ck_assert_msg(
	    blt_check(tu_store, 0, NULL, NULL) == 0, "%s", blt_errmsg());
	db = reopen(BLT_RDONLY);
	for (i = 0; i < 100; i++) {
		snprintf(k, sizeof k, "before%d", i);
		ck_assert_int_eq(blt_exists(db, k, strlen(k)), 1);
	}
	for (i = 0; i < stored; i++) {
		snprintf(k, sizeof k, "key%05d", i);
		snprintf(v, sizeof v, "value %d", i);
		ck_assert_int_eq(
		    blt_get(db, k, strlen(k), got, sizeof got, NULL),
		    (ssize_t)strlen(v));
		ck_assert_int_eq(memcmp(got, v, strlen(v)), 0);
	}
	ck_assert_int_eq(blt_exists(db, "after", 5), 1);
	ck_assert_int_eq(blt_exists(db, "big", 3), 0);
	ck_assert_int_eq(blt_exists(db, "late", 4), 0);
	ck_assert_int_eq(blt_close(db), 0);
}
END_TEST

static int
fail_truncates(void *arg, int op, int fd, uint64_t off, size_t len)
{
	(void)arg;
	(void)fd;
	(void)off;
	(void)len;
	return op == IO_OP_TRUNCATE ? -EIO : 0;
}

/* db takes no more writes: a put, a prune, a clear and a reindex each fail
 * with EIO and say to reopen the store, and change nothing. */
static void
assert_stopped(struct blt *db)
{
	uint64_t n = blt_count(db);
	int rc;

	if ((rc = blt_put(db, "after", 5, "x", 1, T0)) == 0)
		rc = blt_flush(db);
	ck_assert_int_eq(rc, -EIO);
	ck_assert_msg(strstr(blt_errmsg(), "reopen the store") != NULL, "%s",
	    blt_errmsg());
	ck_assert_int_eq(blt_prune(db, NULL), -EIO);
	ck_assert_int_eq(blt_clear(db), -EIO);
	ck_assert_int_eq(blt_reindex(db, 0), -EIO);
	ck_assert_msg(strstr(blt_errmsg(), "reopen the store") != NULL, "%s",
	    blt_errmsg());
	ck_assert_uint_eq(blt_count(db), n);
}

/* A full disk whose file cannot even be cut back (the truncate fails too):
 * the torn bytes stay, so the store takes no more writes and says why
 * (also in blt_flags()), stays unclean, and its next open cuts the torn tail
 * and keeps every key stored before. */
START_TEST(a_torn_append_that_cannot_be_cut_stops_writes)
{
	static unsigned char big[5 << 20];
	struct blt *db = open_new(0, 0, 12007, BLT_SER_NONE);
	struct rlimit saved;

	put(db, "kept", "before", T0);
	limit_file_size(db, 100000, &saved);
	io_set_hook(fail_truncates, NULL);
	ck_assert_int_eq(blt_put(db, "big", 3, big, sizeof big, T0), -EFBIG);
	io_set_hook(NULL, NULL);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &saved), 0);
	ck_assert_int_eq(blt_flags(db), BLT_TORN_TAIL);

	assert_stopped(db);
	ck_assert_int_lt(blt_close(db), 0);

	db = reopen(BLT_RDWR);
	ck_assert(blt_flags(db) & BLT_RECOVERED);
	ck_assert_int_eq(blt_exists(db, "kept", 4), 1);
	ck_assert_int_eq(blt_exists(db, "big", 3), 0);
	ck_assert_int_eq(blt_exists(db, "after", 5), 0);
	ck_assert_int_eq(blt_close(db), 0);
	ck_assert_msg(
	    blt_check(tu_store, 0, NULL, NULL) == 0, "%s", blt_errmsg());
}
END_TEST

static int fail_sync_at, syncs_seen;

static int
fail_one_sync(void *arg, int op, int fd, uint64_t off, size_t len)
{
	(void)arg;
	(void)fd;
	(void)off;
	(void)len;
	return op == IO_OP_SYNC && ++syncs_seen == fail_sync_at ? -EIO : 0;
}

/* The automatic reindex of a flush fails half-way, at each of its syncs:
 * the flush's puts are stored and still read, blt_flags() says
 * BLT_REINDEX_STUCK, the store takes no more writes and its close leaves
 * it unclean, so that the next open finishes or undoes the reindex and
 * every key is there.  (A clean close used to follow, and left chains
 * rewired into an index the header did not name: keys were lost.) */
START_TEST(a_reindex_that_fails_half_way_loses_no_flushed_put)
{
	char k[32];
	int i;

	for (fail_sync_at = 1; fail_sync_at <= 3; fail_sync_at++) {
		struct blt *db = open_new(0, 0, 12007, BLT_SER_NONE);

		put(db, "first", "flushed", T0);
		ck_assert_int_eq(blt_flush(db), 0); /* marked unclean */
		for (i = 0; i < 13000; i++) {
			snprintf(k, sizeof k, "key%05d", i);
			put(db, k, "v", T0);
		}
		syncs_seen = 0;
		io_set_hook(fail_one_sync, NULL);
		ck_assert_int_eq(blt_flush(db), -EIO);
		io_set_hook(NULL, NULL);
		ck_assert(blt_flags(db) & BLT_REINDEX_STUCK);
		for (i = 0; i < 13000; i++) {
			snprintf(k, sizeof k, "key%05d", i);
			ck_assert_int_eq(blt_exists(db, k, strlen(k)), 1);
		}
		assert_stopped(db);
		ck_assert_int_lt(blt_close(db), 0);

		db = reopen(BLT_RDWR);
		ck_assert(blt_flags(db) & BLT_RECOVERED);
		ck_assert_uint_eq(blt_count(db), 13001);
		for (i = 0; i < 13000; i++) {
			snprintf(k, sizeof k, "key%05d", i);
			ck_assert_int_eq(blt_exists(db, k, strlen(k)), 1);
		}
		ck_assert_int_eq(blt_close(db), 0);
		ck_assert_msg(blt_check(tu_store, 0, NULL, NULL) == 0, "%s",
		    blt_errmsg());
	}
}
END_TEST

/* blt_get_many()'s callback: record what each key gave; stop at "stop". */
struct many {
	int err[8];
	char val[8][8];
	int calls;
};

static int
many_got(
    void *arg, size_t i, const void *value, size_t vlen, int64_t ts, int err)
{
	struct many *r = arg;

	(void)ts;
	r->calls++;
	r->err[i] = err;
	if (err == 0)
		memcpy(r->val[i], value, vlen < 7 ? vlen : 7);
	return err == 0 && vlen == 4 && memcmp(value, "stop", 4) == 0 ? 42 : 0;
}

START_TEST(get_many_answers_every_key_in_order_and_stops_when_asked)
{
	struct blt *db = open_new(0, 0, 12007, BLT_SER_NONE);
	static char huge[BLT_KEY_MAX + 1];
	const void *keys[] = {"a", "nope", huge, "b", "c", "d"};
	size_t lens[] = {1, 4, sizeof huge, 1, 1, 1};
	struct many r;

	put(db, "a", "1", BLT_NOW);
	ck_assert_int_eq(blt_sync(db), 0);
	put(db, "b", "2", BLT_NOW); /* still in the write buffer */
	put(db, "c", "stop", BLT_NOW);
	put(db, "d", "4", BLT_NOW);
	memset(&r, 0, sizeof r);
	ck_assert_int_eq(blt_get_many(db, 0, keys, lens, many_got, &r), 0);
	ck_assert_int_eq(r.calls, 0);
	ck_assert_int_eq(blt_get_many(db, 6, keys, lens, many_got, &r), 42);
	ck_assert_int_eq(r.calls, 5);
	ck_assert_int_eq(r.err[0], 0);
	ck_assert_str_eq(r.val[0], "1");
	ck_assert_int_eq(r.err[1], -ENOENT);
	ck_assert_int_eq(r.err[2], -ENOENT);
	ck_assert_int_eq(r.err[3], 0);
	ck_assert_str_eq(r.val[3], "2");
	ck_assert_str_eq(r.val[4], "stop");
	ck_assert_int_eq(blt_close(db), 0);
}
END_TEST

/* A descriptor from blt_dup_fd() reads a value where blt_find() of the
 * same generation says it lies, before a prune and after it (from the old
 * file, which the prune replaced, and from the new one). */
static void
expect_at(int fd, const struct blt_entry *e, const char *v)
{
	char got[64];

	ck_assert_uint_eq(e->value_len, strlen(v));
	ck_assert_int_eq(pread(fd, got, e->value_len, (off_t)e->value_off),
	    (ssize_t)e->value_len);
	ck_assert_int_eq(memcmp(got, v, e->value_len), 0);
}

START_TEST(a_duplicate_descriptor_matches_its_generation)
{
	struct blt *db = open_new(0, 0, 12007, BLT_SER_NONE);
	struct blt_entry before, after;
	uint64_t g0, g1;
	int fd0, fd1;

	put(db, "gone", "dropped by the prune", T0);
	put(db, "kept", "moves in the prune", T0);
	ck_assert_int_eq(blt_flush(db), 0);
	ck_assert_int_eq(blt_del(db, "gone", 4), 0);
	ck_assert_int_ge(fd0 = blt_dup_fd(db, &g0), 0);
	ck_assert_int_eq(blt_find(db, "kept", 4, &before), 0);
	ck_assert_uint_eq(before.gen, g0);
	ck_assert_int_eq(blt_prune(db, NULL), 1);
	ck_assert_int_ge(fd1 = blt_dup_fd(db, &g1), 0);
	ck_assert_int_eq(blt_find(db, "kept", 4, &after), 0);
	ck_assert_uint_eq(after.gen, g1);
	ck_assert_uint_ne(g1, g0);
	ck_assert_uint_ne(after.value_off, before.value_off);
	expect_at(fd0, &before, "moves in the prune");
	expect_at(fd1, &after, "moves in the prune");
	close(fd0);
	close(fd1);
	ck_assert_int_eq(blt_close(db), 0);
}
END_TEST

START_TEST(a_second_writer_is_refused_with_a_clear_message)
{
	struct blt *db = open_new(0, 0, 12007, BLT_SER_NONE), *db2;
	struct blt_options o;

	blt_options_default(&o);
	o.lock_timeout = 0;
	ck_assert_int_eq(blt_open(tu_store, BLT_RDWR, &o, &db2), -EWOULDBLOCK);
	ck_assert_ptr_nonnull(strstr(blt_errmsg(), "locked"));
	ck_assert_int_eq(blt_close(db), 0);
}
END_TEST

/* Wait until some open of the file whose inode is ino waits for its
 * flock (a "->" line of /proc/locks). */
static void
wait_for_lock_waiter(ino_t ino)
{
	char want[32], line[256];

	snprintf(want, sizeof want, ":%lu ", (unsigned long)ino);
	for (long polls = 0; polls < 100000; polls++) {
		FILE *f = fopen("/proc/locks", "r");
		int found = 0;

		ck_assert_ptr_nonnull(f);
		while (!found && fgets(line, sizeof line, f) != NULL)
			found = strstr(line, "-> FLOCK") != NULL &&
			        strstr(line, want) != NULL;
		fclose(f);
		if (found)
			return;
		usleep(100);
	}
	ck_abort_msg("no process came to wait for the lock");
}

static void *
put_after_waiting(void *arg)
{
	struct blt *db;

	(void)arg;
	ck_assert_msg(
	    blt_open(tu_store, BLT_RDWR, NULL, &db) == 0, "%s", blt_errmsg());
	put(db, "after", "the prune", T0);
	ck_assert_int_eq(blt_close(db), 0);
	return NULL;
}

/* A prune renames a new file into the store's place while it holds the
 * lock; a writer that was waiting for the lock must write to the new
 * file, not to the old one, which nobody will read again. */
START_TEST(a_writer_that_waited_through_a_prune_writes_to_the_new_file)
{
	struct blt *db = open_new(0, 0, 12007, BLT_SER_NONE);
	char buf[16];
	struct stat st;
	pthread_t t;

	put(db, "before", "the prune", T0);
	ck_assert_int_eq(blt_sync(db), 0);
	ck_assert_int_eq(stat(tu_store, &st), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, put_after_waiting, NULL), 0);
	wait_for_lock_waiter(st.st_ino);
	ck_assert_msg(blt_prune(db, NULL) >= 0, "%s", blt_errmsg());
	ck_assert_int_eq(blt_close(db), 0);
	pthread_join(t, NULL);
	db = reopen(BLT_RDONLY);
	ck_assert_int_eq(blt_get(db, "before", 6, buf, sizeof buf, NULL), 9);
	ck_assert_int_eq(blt_get(db, "after", 5, buf, sizeof buf, NULL), 9);
	ck_assert_int_eq(blt_close(db), 0);
}
END_TEST

/* Online prune: a writer and a reader run while another thread prunes. */
struct online {
	struct blt *db;
	int stop;
	char *val[500];
	int64_t ts[500];
	unsigned seed;
	long reads;
};

static void *
online_writer(void *arg)
{
	struct online *on = arg;

	for (int step = 0; step < 20000; step++) {
		int i = rand_r(&on->seed) % 500, op = rand_r(&on->seed) % 10;
		char k[16], v[48];

		snprintf(k, sizeof k, "w/%d", i);
		if (op < 6) {
			snprintf(v, sizeof v, "v%d", step);
			ck_assert_int_eq(blt_put(on->db, k, strlen(k), v,
			                     strlen(v), T0 + step),
			    0);
			free(on->val[i]);
			on->val[i] = strdup(v);
			on->ts[i] = T0 + step;
		} else if (op < 9) {
			int rc = blt_del(on->db, k, strlen(k));

			ck_assert_int_eq(rc, on->val[i] ? 0 : -ENOENT);
			free(on->val[i]);
			on->val[i] = NULL;
		} else if (on->val[i] != NULL) {
			ck_assert_int_eq(blt_set_timestamp(on->db, k, strlen(k),
			                     T0 + 100000 + step),
			    0);
			on->ts[i] = T0 + 100000 + step;
		}
	}
	return NULL;
}

static void *
online_reader(void *arg)
{
	struct online *on = arg;
	char k[16], buf[32];

	while (!__atomic_load_n(&on->stop, __ATOMIC_ACQUIRE)) {
		int i = rand() % 200;

		snprintf(k, sizeof k, "stable/%d", i);
		ck_assert_msg(blt_get(on->db, k, strlen(k), buf, sizeof buf,
		                  NULL) == (ssize_t)strlen(k),
		    "%s: %s", k, blt_errmsg());
		on->reads++;
	}
	return NULL;
}

START_TEST(prune_while_others_read_and_write_keeps_every_change)
{
	struct online on = {.db = open_new(0, 0, 12007, BLT_SER_STR)};
	pthread_t w, r;
	char k[16];
	int prunes = 0;

	on.seed = tu_seed();
	for (int i = 0; i < 200; i++) {
		snprintf(k, sizeof k, "stable/%d", i);
		put(on.db, k, k, T0);
	}
	ck_assert_int_eq(pthread_create(&w, NULL, online_writer, &on), 0);
	ck_assert_int_eq(pthread_create(&r, NULL, online_reader, &on), 0);
	for (;;) {
		ck_assert_msg(blt_prune(on.db, NULL) >= 0, "%s", blt_errmsg());
		prunes++;
		if (pthread_tryjoin_np(w, NULL) == 0)
			break;
	}
	__atomic_store_n(&on.stop, 1, __ATOMIC_RELEASE);
	pthread_join(r, NULL);
	fprintf(
	    stderr, "online prune: %d prunes, %ld reads\n", prunes, on.reads);
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < 500; i++) {
			char buf[48];
			int64_t ts;
			ssize_t n;

			snprintf(k, sizeof k, "w/%d", i);
			n = blt_get(on.db, k, strlen(k), buf, sizeof buf, &ts);
			if (on.val[i] == NULL) {
				ck_assert_msg(n == -ENOENT, "%s present", k);
				continue;
			}
			ck_assert_msg(
			    n == (ssize_t)strlen(on.val[i]) &&
			        memcmp(buf, on.val[i], (size_t)n) == 0,
			    "%s: %zd", k, n);
			ck_assert_int_eq(ts, on.ts[i]);
		}
		ck_assert_int_eq(blt_close(on.db), 0);
		ck_assert_int_eq(blt_check(tu_store, 0, NULL, NULL), 0);
		on.db = reopen(BLT_RDWR);
	}
	ck_assert_int_eq(blt_close(on.db), 0);
	for (int i = 0; i < 500; i++)
		free(on.val[i]);
}
END_TEST

static Suite *
engine_suite(void)
{
	Suite *s = suite_create("engine");
	TCase *tc = tcase_create("format");

	tcase_add_checked_fixture(tc, tu_store_setup, tu_store_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, worked_example_stage1_is_byte_identical);
	tcase_add_test(
	    tc, overwrite_delete_meta_and_prune_match_the_worked_example);
	tcase_add_test(tc, fixed_overwrite_appends_as_the_reference_does);
	tcase_add_test(tc, auto_reindex_twice_matches_the_reference_layout);
	tcase_add_test(tc, fixed_second_reindex_tiles_the_dead_index);
	tcase_add_test(tc, random_operations_match_a_model);
	tcase_add_test(
	    tc, prune_drops_old_keys_but_keeps_the_keep_list_and_metadata);
	tcase_add_test(tc, reads_see_buffered_puts_and_empty_values);
	tcase_add_test(tc, a_scan_counts_the_live_bytes_only_of_a_still_store);
	tcase_add_test(tc, fit_grows_to_the_size_the_keys_need_and_no_further);
	tcase_add_test(
	    tc, prune_to_fit_at_the_largest_size_says_it_is_the_maximum);
	tcase_add_test(tc, reindex_past_the_largest_index_is_refused);
	tcase_add_test(tc, create_past_the_largest_index_is_refused);
	tcase_add_test(tc, prune_keeps_the_later_of_two_live_blocks_of_a_key);
	tcase_add_test(tc, a_duplicate_descriptor_matches_its_generation);
	tcase_add_test(tc, a_second_writer_is_refused_with_a_clear_message);
	tcase_add_test(
	    tc, a_writer_that_waited_through_a_prune_writes_to_the_new_file);
	tcase_add_test(tc, a_full_disk_fails_puts_and_loses_nothing);
	tcase_add_test(tc, a_torn_append_that_cannot_be_cut_stops_writes);
	tcase_add_test(tc, a_reindex_that_fails_half_way_loses_no_flushed_put);
	tcase_add_test(
	    tc, get_many_answers_every_key_in_order_and_stops_when_asked);
	tcase_add_test(
	    tc, prune_while_others_read_and_write_keeps_every_change);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(engine_suite());
}
