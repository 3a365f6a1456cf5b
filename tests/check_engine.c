/*
 * check_engine.c: the engine against the format document's worked examples
 * (§17, byte for byte where the reference's output is deterministic) and
 * against an in-memory model under random operations; reads of buffered
 * puts, batched gets, and the byte counts a scan leaves for blt_stat().
 * Prune, reindex and the writer's lock are in check_engine_prune.c, full
 * disks and failed writes in check_engine_fault.c.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "booklet.h"
#include "internal.h"
#include "testutil.h"

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
 * creation time and uuid, but for the order of bucket 2's chain: b and e
 * share it, and a new key goes to the head of its chain here, where the
 * reference appends it at the tail (§15 allows either; see index_link()).
 * So slot 2 leads to e (265), e to b (230), and b ends the chain. */
static const char stage1_tail_hex[] =
    "0100000000002c01000000000901000000000100000000000100000000002639"
    "98f76a81ad95141bf25fde01000000000001000200000001401e18240a066242"
    "31f134ca6e53b9d92e36286609bae6000000000001000200000002401e18240a"
    "0665453198bffdaaf3946389080dd51a1201000000000001000200000003401e"
    "18240a06614131";

START_TEST(worked_example_stage1_is_byte_identical_but_chain_order)
{
	struct blt *db = tu_open_new(0, 0, 5, BLT_SER_STR);
	unsigned char *b, want[200];
	size_t len, n;

	tu_put(db, "b", "B1", TU_T0 + 1);
	tu_put(db, "e", "E1", TU_T0 + 2);
	tu_put(db, "a", "A1", TU_T0 + 3);
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
	struct blt *db = tu_open_new(0, 0, 5, BLT_SER_STR);
	unsigned char *b, buf[64];
	size_t len;
	int64_t ts;

	tu_put(db, "b", "B1", TU_T0 + 1);
	tu_put(db, "e", "E1", TU_T0 + 2);
	tu_put(db, "a", "A1", TU_T0 + 3);
	ck_assert_int_eq(blt_close(db), 0);
	db = tu_reopen(BLT_RDWR);
	tu_put(db, "b", "B2", TU_T0 + 4);
	ck_assert_int_eq(blt_close(db), 0);
	db = tu_reopen(BLT_RDWR);
	ck_assert_int_eq(blt_del(db, "e", 1), 0);
	ck_assert_int_eq(blt_close(db), 0);
	db = tu_reopen(BLT_RDWR);
	ck_assert_int_eq(blt_set_meta(db, "{\"x\":1}", 7, TU_T0 + 5), 0);
	ck_assert_int_eq(blt_set_reserved(db, 1, "R", 1, TU_T0 + 6), 0);
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

	db = tu_reopen(BLT_RDWR);
	ck_assert_uint_eq(blt_count(db), 2);
	ck_assert_int_eq(blt_get_meta(db, buf, sizeof buf, &ts), 7);
	ck_assert_int_eq(memcmp(buf, "{\"x\":1}", 7), 0);
	ck_assert_int_eq(ts, TU_T0 + 5);
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

	db = tu_reopen(BLT_RDWR);
	tu_put(db, "c", "C1", TU_T0 + 7);
	ck_assert_int_eq(blt_close(db), 0);
	b = slurp(&len);
	ck_assert_uint_eq(len, 453);
	ck_assert_uint_eq(le_get(b + 388, 6), 418);
	free(b);

	db = tu_reopen(BLT_RDWR);
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
	struct blt *db = tu_open_new(1, 4, 5, BLT_SER_STR);
	unsigned char *b, v[4];
	size_t len;

	tu_put(db, "b", "BBB1", BLT_NOW);
	tu_put(db, "e", "EEE1", BLT_NOW);
	ck_assert_int_eq(blt_close(db), 0);
	db = tu_reopen(BLT_RDWR);
	tu_put(db, "b", "BBB2", BLT_NOW);
	ck_assert_int_eq(blt_put(db, "x", 1, "12345", 5, BLT_NOW), -EINVAL);
	ck_assert_int_eq(blt_close(db), 0);
	b = slurp(&len);
	/* §17.6, but with bucket 2's chain head-first (e, then b): the new
	 * b takes the old one's place after e and ends the chain */
	ck_assert_uint_eq(len, 308);
	ck_assert_uint_eq(le_get(b + 212, 6), 256);
	ck_assert_uint_eq(le_get(b + 256 + 13, 6), 282);
	ck_assert_uint_eq(le_get(b + 230 + 13, 6), 0);
	ck_assert_uint_eq(le_get(b + 282 + 13, 6), 1);
	ck_assert_int_eq(b[20], 0);
	ck_assert_uint_eq(le_get(b + 37, 4), 4);
	free(b);
	db = tu_reopen(BLT_RDONLY);
	ck_assert_int_eq(blt_get(db, "b", 1, v, 4, NULL), 4);
	ck_assert_int_eq(memcmp(v, "BBB2", 4), 0);
	ck_assert_int_eq(blt_close(db), 0);
}
END_TEST

START_TEST(auto_reindex_twice_matches_the_reference_layout)
{
	struct blt *db = tu_open_new(0, 0, 5, BLT_SER_STR);
	unsigned char *b;
	char k[16];
	size_t len;

	for (int i = 0; i < 6; i++) {
		snprintf(k, sizeof k, "k%d", i);
		ck_assert_int_eq(blt_put(db, k, strlen(k), "v", 1, TU_T0), 0);
	}
	ck_assert_int_eq(blt_close(db), 0);
	b = slurp(&len);
	/* §17.7: 12007 buckets at 440, data from 230. */
	ck_assert_uint_eq(len, 72482);
	ck_assert_uint_eq(le_get(b + 21, 4), 12007);
	ck_assert_uint_eq(le_get(b + 65, 6), 440);
	ck_assert_uint_eq(le_get(b + 71, 6), 230);
	free(b);
	db = tu_reopen(BLT_RDWR);
	for (int i = 6; i < 12008; i++) {
		snprintf(k, sizeof k, "k%d", i);
		ck_assert_int_eq(blt_put(db, k, strlen(k), "v", 1, TU_T0), 0);
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
	db = tu_reopen(BLT_RDONLY);
	ck_assert_uint_eq(blt_count(db), 12008);
	ck_assert_int_eq(blt_exists(db, "k0", 2), 1);
	ck_assert_int_eq(blt_exists(db, "k12007", 6), 1);
	ck_assert_int_eq(blt_close(db), 0);
	ck_assert_int_eq(blt_check(tu_store, 0, NULL, NULL), 0);
}
END_TEST

START_TEST(fixed_second_reindex_tiles_the_dead_index)
{
	struct blt *db = tu_open_new(1, 16, 5, BLT_SER_NONE);
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
	db = tu_reopen(BLT_RDONLY);
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
	/* in steps of 7, the same keys in the same order; and every item
	 * still readable after the later steps (blt_item's promise, on which
	 * a mount's scan hands batches to another thread) */
	{
		struct blt_iter *one, *many;
		struct blt_item step[7], *kept = calloc(live + 1, sizeof *kept);
		size_t got = 0;
		int n, i;

		ck_assert_int_eq(blt_iter_create(db, &one), 0);
		ck_assert_int_eq(blt_iter_create(db, &many), 0);
		ck_assert_int_eq(blt_iter_next_many(many, step, 0), -EINVAL);
		while ((n = blt_iter_next_many(many, step, 7)) > 0) {
			ck_assert_int_le(n, 7);
			for (i = 0; i < n; i++, got++) {
				ck_assert_int_eq(blt_iter_next(one, &item), 1);
				ck_assert_uint_eq(item.klen, step[i].klen);
				ck_assert_int_eq(
				    memcmp(item.key, step[i].key, item.klen),
				    0);
				ck_assert_uint_eq(item.vlen, step[i].vlen);
				kept[got] = step[i];
			}
		}
		ck_assert_int_eq(n, 0);
		ck_assert_int_eq(blt_iter_next(one, &item), 0);
		ck_assert_uint_eq(got, live);
		blt_iter_free(one);
		ck_assert_int_eq(blt_iter_create(db, &one), 0);
		for (size_t j = 0; j < got; j++) {
			ck_assert_int_eq(blt_iter_next(one, &item), 1);
			ck_assert_uint_eq(item.klen, kept[j].klen);
			ck_assert_int_eq(
			    memcmp(item.key, kept[j].key, item.klen), 0);
			ck_assert_uint_eq(item.vlen, kept[j].vlen);
			ck_assert_int_eq(
			    memcmp(item.value, kept[j].value, item.vlen), 0);
		}
		blt_iter_free(one);
		free(kept);
		blt_iter_free(many);
	}
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
			tu_put(db, k, v, TU_T0 + step);
			free(m.val[i]);
			m.val[i] = strdup(v);
			m.ts[i] = TU_T0 + step;
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
			db = tu_reopen(BLT_RDWR);
		} else {
			ck_assert_int_ge(blt_prune(db, NULL), 0);
		}
		if (step % 5000 == 0)
			model_check(db, &m);
	}
	model_check(db, &m);
	ck_assert_int_eq(blt_close(db), 0);
	ck_assert_int_eq(blt_check(tu_store, 0, NULL, NULL), 0);
	db = tu_reopen(BLT_RDONLY);
	model_check(db, &m);
	ck_assert_int_eq(blt_close(db), 0);
	for (int i = 0; i < m.n; i++)
		free(m.val[i]);
	free(m.val);
	free(m.ts);
}
END_TEST

START_TEST(reads_see_buffered_puts_and_empty_values)
{
	struct blt *db = tu_open_new(0, 0, 12007, BLT_SER_NONE);
	struct blt_entry e;
	char buf[8];

	ck_assert_int_eq(blt_put(db, "", 0, "", 0, BLT_NOW), 0);
	ck_assert_int_eq(blt_get(db, "", 0, buf, sizeof buf, NULL), 0);
	ck_assert_int_eq(blt_exists(db, "", 0), 1);
	tu_put(db, "k", "hello", BLT_NOW);
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
	fresh = tu_reopen(BLT_RDONLY);
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
	struct blt *db = tu_open_new(0, 0, 12007, BLT_SER_NONE);
	struct blt_item item;
	struct blt_iter *it;
	char k[16];
	int n, rc;

	for (int i = 0; i < 200; i++) {
		snprintf(k, sizeof k, "k%d", i);
		tu_put(db, k, "value", BLT_NOW);
	}
	tu_put(db, "k7", "a longer value than before", BLT_NOW); /* one dead */
	ck_assert_int_eq(blt_del(db, "k9", 2), 0);
	ck_assert_int_eq(blt_set_meta(db, "{}", 2, BLT_NOW), 0); /* counted */
	ck_assert_int_eq(blt_close(db), 0);
	/* 0: nothing changes; 1: a block counted goes; 2: one comes */
	for (int change = 0; change < 3; change++) {
		db = tu_reopen(BLT_RDWR);
		ck_assert_int_eq(blt_iter_create(db, &it), 0);
		for (n = 0; (rc = blt_iter_next(it, &item)) > 0; n++)
			if (n == 100 && change == 1)
				ck_assert_int_eq(blt_del(db, "k3", 2), 0);
			else if (n == 100 && change == 2) {
				tu_put(db, "new", "x", BLT_NOW);
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
	struct blt *db = tu_open_new(0, 0, 12007, BLT_SER_NONE);
	static char huge[BLT_KEY_MAX + 1];
	const void *keys[] = {"a", "nope", huge, "b", "c", "d"};
	size_t lens[] = {1, 4, sizeof huge, 1, 1, 1};
	struct many r;

	tu_put(db, "a", "1", BLT_NOW);
	ck_assert_int_eq(blt_sync(db), 0);
	tu_put(db, "b", "2", BLT_NOW); /* still in the write buffer */
	tu_put(db, "c", "stop", BLT_NOW);
	tu_put(db, "d", "4", BLT_NOW);
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

/* hash_digest_lanes() in both versions and hash_digest_many() give the
 * n keys libb2's digests. */
static void
digests_match_libb2(
    const unsigned char *const keys[], const size_t lens[], int n)
{
	unsigned char got[HASH_LANES][HASH_LEN], want[HASH_LEN];

	for (int version = 0; version < 3; version++) {
		if (version < 2)
			hash_digest_lanes(version, keys, lens, n, got);
		else
			hash_digest_many(keys, lens, n, got);
		for (int j = 0; j < n; j++) {
			hash_digest(keys[j], lens[j], want);
			ck_assert_msg(memcmp(got[j], want, HASH_LEN) == 0,
			    "version %d, key %d of %d, %zu bytes: wrong digest",
			    version, j, n, lens[j]);
		}
	}
}

/* The digests of keys hashed side by side are libb2's, in the baseline
 * version and the AVX2 one, for every length up to and past one block
 * and every number of keys in a batch. */
START_TEST(digests_in_lanes_match_libb2)
{
	static unsigned char bytes[HASH_LANES][130];
	unsigned seed = tu_seed();

	for (size_t i = 0; i < sizeof bytes; i++)
		bytes[i / 130][i % 130] = (unsigned char)rand_r(&seed);
	for (size_t len = 0; len <= 130; len++) {
		for (int n = 1; n <= HASH_LANES; n++) {
			const unsigned char *keys[HASH_LANES];
			size_t lens[HASH_LANES];

			for (int j = 0; j < n; j++) {
				keys[j] = bytes[j];
				/* mixed lengths in a batch, one past a block */
				lens[j] = j == 3 ? 130 - len : (len + j) % 131;
			}
			digests_match_libb2(keys, lens, n);
		}
	}
}
END_TEST

/* A scan checks digests several blocks ahead (scan.c), yet a block whose
 * key no longer matches its digest still ends the scan where it stands,
 * named, with every block before it returned and none after: at each
 * place in and across a batch. */
START_TEST(a_scan_stops_at_a_damaged_block_wherever_it_lies)
{
	enum { KEYS = 2 * HASH_LANES + 3 };
	uint64_t off[KEYS];
	char k[32], at[40], path[4096];
	struct blt_item item;
	struct blt_iter *it;
	struct blt *db = tu_open_new(0, 0, 12007, BLT_SER_NONE);
	int n, rc;

	for (int i = 0; i < KEYS; i++) {
		snprintf(k, sizeof k, "key-%02d-%s", i, i % 3 ? "" : "long");
		tu_put(db, k, "value", BLT_NOW);
	}
	ck_assert_int_eq(blt_close(db), 0);
	db = tu_reopen(BLT_RDONLY);
	ck_assert_int_eq(blt_iter_create(db, &it), 0);
	for (n = 0; (rc = blt_iter_next(it, &item)) > 0; n++)
		off[n] = item.offset;
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(n, KEYS);
	blt_iter_free(it);
	blt_close(db);
	snprintf(path, sizeof path, "%s.good", tu_store);
	ck_assert_int_eq(tu_copy(tu_store, path), 0);
	for (int bad = 0; bad < KEYS; bad++) {
		FILE *f;
		char *buf;
		long size;

		ck_assert_int_eq(tu_copy(path, tu_store), 0);
		ck_assert_ptr_nonnull(f = fopen(tu_store, "r+b"));
		ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
		size = ftell(f);
		ck_assert_ptr_nonnull(buf = malloc((size_t)size));
		rewind(f);
		ck_assert_int_eq(fread(buf, 1, (size_t)size, f), size);
		snprintf(k, sizeof k, "key-%02d-", bad);
		char *p = memmem(buf, (size_t)size, k, strlen(k));
		ck_assert_ptr_nonnull(p);
		p[4] ^= 0x20; /* a flipped bit in the key's digits */
		rewind(f);
		ck_assert_int_eq(fwrite(buf, 1, (size_t)size, f), size);
		fclose(f);
		free(buf);
		db = tu_reopen(BLT_RDONLY);
		ck_assert_int_eq(blt_iter_create(db, &it), 0);
		for (n = 0; (rc = blt_iter_next(it, &item)) > 0; n++)
			ck_assert_uint_eq(item.offset, off[n]);
		ck_assert_int_eq(rc, -EUCLEAN);
		ck_assert_int_eq(n, bad);
		snprintf(at, sizeof at,
		    "damaged block at %llu:", (unsigned long long)off[bad]);
		ck_assert_msg(strstr(blt_errmsg(), at) != NULL,
		    "block %d: \"%s\" does not name it", bad, blt_errmsg());
		blt_iter_free(it);
		blt_close(db);
	}
	unlink(path);
}
END_TEST

static Suite *
engine_suite(void)
{
	Suite *s = suite_create("engine");
	TCase *tc = tu_store_tcase("format", 120);

	tcase_add_test(
	    tc, worked_example_stage1_is_byte_identical_but_chain_order);
	tcase_add_test(
	    tc, overwrite_delete_meta_and_prune_match_the_worked_example);
	tcase_add_test(tc, fixed_overwrite_appends_as_the_reference_does);
	tcase_add_test(tc, auto_reindex_twice_matches_the_reference_layout);
	tcase_add_test(tc, fixed_second_reindex_tiles_the_dead_index);
	tcase_add_test(tc, random_operations_match_a_model);
	tcase_add_test(tc, reads_see_buffered_puts_and_empty_values);
	tcase_add_test(tc, a_scan_counts_the_live_bytes_only_of_a_still_store);
	tcase_add_test(tc, digests_in_lanes_match_libb2);
	tcase_add_test(tc, a_scan_stops_at_a_damaged_block_wherever_it_lies);
	tcase_add_test(
	    tc, get_many_answers_every_key_in_order_and_stops_when_asked);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(engine_suite());
}
