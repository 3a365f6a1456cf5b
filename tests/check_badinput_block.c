/*
 * check_badinput_block.c: damaged blocks: key and value lengths past the
 * end, a few bytes short or one byte off, a flipped key byte, a flipped
 * timestamp flag that shifts every block, a relocated index grown into the
 * data after it, and random byte flips anywhere in small fixtures.  Reads
 * must fail with a message or return only true items, and a repair must
 * keep what lies before the damage.  See badinput-lib.c for what is
 * checked.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "booklet.h"
#include "internal.h"
#include "manifest.h"
#include "testutil.h"
#include "badinput-lib.h"

/* --- lengths ----------------------------------------------------------- */

/* Set the field at off (within block blk of fixture name) to v, then the
 * block's key must read as damage naming "past", and so must the scan. */
static void
bad_length_damage(
    const char *name, size_t which, unsigned field, unsigned width, uint64_t v)
{
	struct manifest *m = bad_manifest(name);
	const struct bad_block *blk;
	struct bad_damage d = {0};
	struct bad_layout l;
	struct bad_result r;
	unsigned char buf[64];
	struct blt *db;
	int64_t ts;

	bad_copy_fixture(name, tu_store);
	bad_layout_load(tu_store, m, &l);
	blk = &l.b[which < l.n ? which : l.n - 1];
	bad_poke_le(tu_store, blk->off + field, v, width);
	bad_damage_add(&d, blk->off + field, blk->off + field + width);
	ck_assert_int_eq(blt_open(tu_store, BLT_RDONLY, NULL, &db), 0);
	ck_assert_int_eq(
	    blt_get(db, blk->item->key, blk->item->klen, buf, sizeof buf, &ts),
	    -EUCLEAN);
	bad_assert_msg(tu_store, "past");
	blt_close(db);
	bad_read(tu_store, m, &d, &r);
	ck_assert_int_lt(r.scan_rc, 0);
	bad_check_finds(tu_store);
	ck_assert_int_ge(bad_repair(tu_store, &l, &d), 1);
	bad_layout_free(&l);
	manifest_free(m);
}

START_TEST(key_length_past_the_end_is_euclean)
{
	bad_length_damage("no_timestamps.blt", 18, 19, 2, 0xffff);
	bad_length_damage("fixed.blt", 200, 19, 2, 0xffff);
	bad_length_damage("no_timestamps.blt", 1000, 19, 2, 0xffff);
}
END_TEST

START_TEST(value_length_past_the_end_is_euclean)
{
	bad_length_damage("no_timestamps.blt", 18, 21, 4, 0xffffffff);
	bad_length_damage("small_str_bytes.blt", 20, 21, 4, 0xfffffff0);
	bad_length_damage("no_timestamps.blt", 1000, 21, 4, 0x7fffffff);
}
END_TEST

/* A value length a few bytes short leaves a gap too small for a skip
 * block between the block and the next one; the repair must still give a
 * sound store keeping what lies before the damage.  With at_region_end, the
 * gap is the last bytes before a relocated index. */
static void
bad_short_value(const char *name, int at_region_end)
{
	struct manifest *m = bad_manifest(name);
	const struct bad_block *blk = NULL;
	struct bad_damage d = {0};
	struct bad_layout l;
	struct bad_result r;

	bad_copy_fixture(name, tu_store);
	bad_layout_load(tu_store, m, &l);
	for (size_t i = l.n / 2; i < l.n && blk == NULL; i++)
		if (l.b[i].item->value_len >= 4 &&
		    (!at_region_end || l.b[i].end == l.st.index_offset))
			blk = &l.b[i];
	ck_assert_msg(blk != NULL, "%s: no block to damage", name);
	bad_poke_le(tu_store, blk->off + 21, blk->item->value_len - 3, 4);
	bad_damage_add(&d, blk->off, UINT64_MAX);
	d.enoent_ok = 1;
	bad_read(tu_store, m, &d, &r);
	bad_check_finds(tu_store);
	ck_assert_int_ge(bad_repair(tu_store, &l, &d), 1);
	bad_layout_free(&l);
	manifest_free(m);
}

START_TEST(value_length_a_few_bytes_short_is_repaired)
{
	bad_short_value("no_timestamps.blt", 0);
	bad_short_value("small_str_bytes.blt", 0);
}
END_TEST

START_TEST(value_length_short_before_a_relocated_index_is_repaired)
{
	bad_short_value("reindexed.blt", 1);
}
END_TEST

/* A bucket count a little too large makes a relocated index end inside the
 * first block after it, so the second data region starts with a few stray
 * bytes, too few for a skip block, and there is no block of that region
 * before them to absorb them.  The repair must still give a sound store
 * that keeps every block but that first one. */
START_TEST(bucket_count_grown_into_the_data_after_a_relocated_index_is_repaired)
{
	const char *name = "reindexed.blt";
	struct manifest *m = bad_manifest(name);
	struct bad_damage d = {0};
	struct bad_layout l;
	struct bad_result r;
	uint64_t index_end, first, size;

	bad_copy_fixture(name, tu_store);
	bad_layout_load(tu_store, m, &l);
	index_end = l.st.index_offset + (uint64_t)PTR_LEN * l.st.n_buckets;
	ck_assert_uint_gt(l.st.file_bytes, index_end + FIX_FIXED_LEN);
	first = index_end;
	size = bad_head_len(tu_store) + bad_peek_le(tu_store, first + 19, 2) +
	       bad_peek_le(tu_store, first + 21, 4);
	/* End the index 2 to 7 bytes before the end of the first block. */
	bad_poke_le(tu_store, 21, l.st.n_buckets + (size - 2) / PTR_LEN, 4);
	bad_damage_add(&d, 21, 25);
	bad_damage_add(&d, first, first + size);
	d.enoent_ok = 1;
	bad_read(tu_store, m, &d, &r);
	bad_check_finds(tu_store);
	ck_assert_int_ge(bad_repair(tu_store, &l, &d), 1);
	bad_layout_free(&l);
	manifest_free(m);
}
END_TEST

/* Flip a bit of the last key byte of the block a third of the way into
 * the store at p, laid out in l; its offset. */
static uint64_t
flip_key_byte(const char *p, const struct bad_layout *l)
{
	const struct bad_block *blk = &l->b[l->n / 3];
	uint64_t at = blk->end - blk->item->value_len - 1;
	unsigned char c;

	ck_assert_uint_gt(blk->item->klen, 0);
	c = (unsigned char)(bad_peek_le(p, at, 1) ^ 0x20);
	bad_poke(p, at, &c, 1);
	return at;
}

/* A flipped byte in a key leaves a block that parses but whose digest no
 * longer matches: a scan must not list the damaged key, and a get of the
 * real key must not return the block. */
START_TEST(flipped_key_byte_is_never_listed)
{
	static const char *const names[] = {
	    "no_timestamps.blt", "fixed.blt", "tricky_keys.blt"};

	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		struct manifest *m = bad_manifest(names[i]);
		struct bad_damage d = {0};
		struct bad_layout l;
		struct bad_result r;
		uint64_t at;

		bad_copy_fixture(names[i], tu_store);
		bad_layout_load(tu_store, m, &l);
		at = flip_key_byte(tu_store, &l);
		bad_damage_add(&d, at, at + 1);
		d.enoent_ok = 1;
		bad_read(tu_store, m, &d, &r);
		ck_assert_msg(
		    r.scan_rc < 0, "%s: the scan ends without error", names[i]);
		bad_check_finds(tu_store);
		ck_assert_int_ge(bad_repair(tu_store, &l, &d), 1);
		bad_layout_free(&l);
		manifest_free(m);
	}
}
END_TEST

/* Items of a whole scan: the count, or the error it ended with. */
static int
scan_count(struct blt *db, int unchecked)
{
	struct blt_iter *it;
	struct blt_item item;
	int n = 0, rc;

	ck_assert_int_eq(unchecked ? blt_iter_create_unchecked(db, &it)
	                           : blt_iter_create(db, &it),
	    0);
	while ((rc = blt_iter_next(it, &item)) > 0)
		n++;
	blt_iter_free(it);
	return rc < 0 ? rc : n;
}

/* The scan that checks no digest (-o lazy's first pass) lists the flipped
 * key, as it says; it vouches for no block, so a scan after it that
 * checks them still ends with the damage. */
START_TEST(an_unchecked_scan_lists_a_flipped_key_and_vouches_for_nothing)
{
	struct manifest *m = bad_manifest("no_timestamps.blt");
	struct bad_layout l;
	struct blt *db;

	bad_copy_fixture("no_timestamps.blt", tu_store);
	bad_layout_load(tu_store, m, &l);
	(void)flip_key_byte(tu_store, &l);
	ck_assert_int_eq(blt_open(tu_store, BLT_RDONLY, NULL, &db), 0);
	ck_assert_int_eq(scan_count(db, 1), (int)m->n_keys);
	ck_assert_int_eq(scan_count(db, 0), -EUCLEAN);
	ck_assert_int_eq(scan_count(db, 1), (int)m->n_keys);
	blt_close(db);
	bad_layout_free(&l);
	manifest_free(m);
}
END_TEST

/* A key length one byte off still fits the file, so the block parses; a get
 * must notice that the block does not hold the key it was asked for, rather
 * than return the key's last byte and the value short of its last. */
START_TEST(key_length_off_by_one_is_euclean_not_a_shifted_value)
{
	static const char *const names[] = {
	    "no_timestamps.blt", "fixed.blt", "small_str_bytes.blt"};

	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		for (int delta = -1; delta <= 1; delta += 2) {
			struct manifest *m = bad_manifest(names[i]);
			const struct bad_block *blk;
			struct bad_layout l;
			unsigned char buf[64];
			struct blt *db;
			int64_t ts;
			ssize_t n;

			bad_copy_fixture(names[i], tu_store);
			bad_layout_load(tu_store, m, &l);
			blk = &l.b[l.n / 2];
			ck_assert_uint_gt(blk->item->klen, 0);
			bad_poke_le(tu_store, blk->off + 19,
			    (uint64_t)((int64_t)blk->item->klen + delta), 2);
			ck_assert_int_eq(
			    blt_open(tu_store, BLT_RDONLY, NULL, &db), 0);
			n = blt_get(db, blk->item->key, blk->item->klen, buf,
			    sizeof buf, &ts);
			ck_assert_msg(n == -EUCLEAN,
			    "%s: key %s with a key length %+d gives %zd (%s)",
			    names[i], blk->item->key_hex, delta, n,
			    n < 0 ? blt_errmsg() : "a value");
			bad_assert_msg(tu_store, "damaged");
			blt_close(db);
			bad_layout_free(&l);
			manifest_free(m);
		}
	}
}
END_TEST

/* Header byte 41 says whether blocks carry a timestamp; flipped, every
 * block is read 7 bytes off.  Nothing read that way may be returned: the
 * open finds no block where the data starts, or the scan fails. */
START_TEST(flipped_timestamp_flag_never_returns_garbage)
{
	static const char *const names[] = {
	    "no_timestamps.blt", "small_str_bytes.blt", "v4_genuine.blt"};

	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		struct manifest *m = bad_manifest(names[i]);
		struct bad_damage d = {0};
		struct bad_result r;
		unsigned char flag;

		bad_copy_fixture(names[i], tu_store);
		flag = (unsigned char)!bad_peek_le(tu_store, 41, 1);
		bad_poke(tu_store, 41, &flag, 1);
		bad_damage_add(&d, 41, 42);
		d.enoent_ok = 1;
		bad_read(tu_store, m, &d, &r);
		ck_assert_msg(r.got == 0 && r.scanned == 0,
		    "%s: %zu gets and %zu items of the scan succeed with the "
		    "timestamp flag flipped",
		    names[i], r.got, r.scanned);
		ck_assert_msg(r.open_rc < 0 || r.scan_rc < 0,
		    "%s: opened and scanned with the timestamp flag flipped",
		    names[i]);
		manifest_free(m);
	}
}
END_TEST

/* --- random flips ------------------------------------------------------ */

/* Flip a few random bytes of small fixtures, again and again: reading must
 * never crash and never return what the store does not hold.  When the
 * check finds the damage, a repair must keep at least every item before
 * the first damaged data byte; a damaged header is not repaired (the
 * repair trusts the header to find the data), so those rounds stop at the
 * check. */
START_TEST(random_byte_flips_never_crash_or_lie)
{
	static const char *const names[] = {"no_timestamps.blt", "fixed.blt",
	    "metadata.blt", "str_orjson.blt", "v4_genuine.blt",
	    "tricky_bytes_keys.blt"};
	enum { N = sizeof names / sizeof *names, ROUNDS = 300 };
	struct manifest *m[N];
	struct bad_layout l[N];
	unsigned char *orig[N];
	size_t size[N];
	unsigned seed = tu_seed();

	srand(seed);
	for (size_t i = 0; i < N; i++) {
		char src[PATH_MAX];

		bad_fixture_path(names[i], src, sizeof src);
		orig[i] = bad_read_file(src, &size[i]);
		m[i] = bad_manifest(names[i]);
		bad_layout_load(src, m[i], &l[i]);
	}
	for (int round = 0; round < ROUNDS; round++) {
		size_t f = (size_t)rand() % N,
		       index_end = HEADER_LEN + PTR_LEN * 12007;
		unsigned char *b = malloc(size[f]);
		struct bad_damage d = {0}, before = {0};
		struct bad_result r;
		struct bad_report rep;
		int flips = 1 + rand() % 4, header = 0;
		uint64_t first = UINT64_MAX;

		ck_assert(b != NULL);
		memcpy(b, orig[f], size[f]);
		d.enoent_ok = 1;
		for (int k = 0; k < flips; k++) {
			size_t at;
			int where = rand() % 8;

			if (where == 0) /* header */
				at = (size_t)rand() % HEADER_LEN;
			else if (where <= 2) /* index */
				at = HEADER_LEN +
				     (size_t)rand() % (index_end - HEADER_LEN);
			else /* data */
				at = index_end +
				     (size_t)rand() % (size[f] - index_end);
			b[at] ^= (unsigned char)(1 + rand() % 255);
			bad_damage_add(&d, at, at + 1);
			header |= at < HEADER_LEN;
			if (at >= index_end && at < first)
				first = at;
		}
		bad_damage_add(&before, first, UINT64_MAX);
		bad_write_file(tu_store, b, size[f]);
		free(b);
		bad_read(tu_store, m[f], &d, &r);
		if (bad_check(tu_store, 0, &rep) > 0 && !header)
			bad_repair(tu_store, &l[f], &before);
		if (round % 50 == 0)
			fprintf(stderr,
			    "round %d (%s): open %d scan %d, %zu "
			    "scanned, %zu got, %zu euclean, %zu "
			    "enoent\n",
			    round, names[f], r.open_rc, r.scan_rc, r.scanned,
			    r.got, r.euclean, r.enoent);
	}
	for (size_t i = 0; i < N; i++) {
		free(orig[i]);
		bad_layout_free(&l[i]);
		manifest_free(m[i]);
	}
}
END_TEST

static Suite *
badinput_block_suite(void)
{
	Suite *s = suite_create("badinput_block");
	TCase *tc = tu_store_tcase("damage", BAD_TIMEOUT);

	tcase_add_test(tc, key_length_past_the_end_is_euclean);
	tcase_add_test(tc, value_length_past_the_end_is_euclean);
	tcase_add_test(tc, value_length_a_few_bytes_short_is_repaired);
	tcase_add_test(
	    tc, value_length_short_before_a_relocated_index_is_repaired);
	tcase_add_test(
	    tc, key_length_off_by_one_is_euclean_not_a_shifted_value);
	tcase_add_test(tc,
	    bucket_count_grown_into_the_data_after_a_relocated_index_is_repaired);
	tcase_add_test(tc, flipped_timestamp_flag_never_returns_garbage);
	tcase_add_test(tc, flipped_key_byte_is_never_listed);
	tcase_add_test(
	    tc, an_unchecked_scan_lists_a_flipped_key_and_vouches_for_nothing);
	tcase_add_test(tc, random_byte_flips_never_crash_or_lie);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(badinput_block_suite());
}
