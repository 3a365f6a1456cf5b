/*
 * check_badinput.c: files that are not booklet stores (empty, short, text,
 * random bytes, an unknown type), versions this engine does not read, and
 * damaged header fields: each must be refused at open with a message that
 * names the file and the cause, and a repair must either put the header
 * back with every item or fail the same way and leave the file alone.
 * The other ways a store is damaged are in check_badinput_cut.c (cut
 * short), check_badinput_chain.c (bucket chains) and check_badinput_block.c
 * (blocks); what they all check is in badinput-lib.c.
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

/* --- not a booklet store ----------------------------------------------- */

START_TEST(empty_file_is_not_a_booklet_store)
{
	bad_write_file(tu_store, "", 0);
	bad_open_fails(tu_store, -EUCLEAN, "not a booklet store");
}
END_TEST

START_TEST(hundred_byte_file_is_not_a_booklet_store)
{
	unsigned char b[100];
	char src[PATH_MAX];
	size_t n;
	unsigned char *f;

	/* The start of a real header, cut short. */
	bad_fixture_path("empty.blt", src, sizeof src);
	f = bad_read_file(src, &n);
	memcpy(b, f, sizeof b);
	free(f);
	bad_write_file(tu_store, b, sizeof b);
	bad_open_fails(tu_store, -EUCLEAN, "not a booklet store");
}
END_TEST

START_TEST(text_file_is_not_a_booklet_store)
{
	char text[4096];

	for (size_t i = 0; i < sizeof text; i++)
		text[i] =
		    "All work and no play makes Jack a dull boy.\n"[i % 44];
	bad_write_file(tu_store, text, sizeof text);
	bad_open_fails(tu_store, -EUCLEAN, "not a booklet store");
}
END_TEST

START_TEST(random_bytes_are_not_a_booklet_store)
{
	unsigned seed = tu_seed();
	unsigned char b[8192];

	srand(seed);
	for (size_t i = 0; i < sizeof b; i++)
		b[i] = (unsigned char)rand();
	bad_write_file(tu_store, b, sizeof b);
	bad_open_fails(tu_store, -EUCLEAN, "not a booklet store");
}
END_TEST

START_TEST(unknown_file_type_is_not_a_booklet_store)
{
	bad_copy_fixture("no_timestamps.blt", tu_store);
	bad_poke(tu_store, 3, "\x00", 1);
	bad_open_fails(tu_store, -EUCLEAN, "not a booklet store");
}
END_TEST

/* --- versions ---------------------------------------------------------- */

START_TEST(version_2_is_not_supported_and_named)
{
	bad_copy_fixture("no_timestamps.blt", tu_store);
	bad_poke_le(tu_store, 16, 2, 2);
	bad_open_fails(tu_store, -EPROTONOSUPPORT, "version 2");
}
END_TEST

START_TEST(version_9_is_not_supported_and_named)
{
	bad_copy_fixture("no_timestamps.blt", tu_store);
	bad_poke_le(tu_store, 16, 9, 2);
	bad_open_fails(tu_store, -EPROTONOSUPPORT, "version 9");
}
END_TEST

START_TEST(old_v3_layout_is_not_supported_and_named)
{
	bad_copy_fixture("no_timestamps.blt", tu_store);
	bad_poke_le(tu_store, 16, 3, 2);
	bad_poke_le(tu_store, 25, 1, 4); /* booklet 0.3 kept a field here */
	bad_open_fails(tu_store, -EPROTONOSUPPORT, "version 3");
}
END_TEST

/* --- header fields ------------------------------------------------------ */

START_TEST(zero_buckets_is_a_damaged_header)
{
	bad_copy_fixture("no_timestamps.blt", tu_store);
	bad_poke_le(tu_store, 21, 0, 4);
	bad_open_fails(tu_store, -EUCLEAN, "zero buckets");
}
END_TEST

/* Write v (width bytes) at off of a copy of fixture, which opens then
 * refuse with a message holding word; the repair must keep every item. */
static void
bad_header_repaired(
    const char *fixture, uint64_t off, uint64_t v, int width, const char *word)
{
	struct manifest *m = bad_manifest(fixture);
	struct bad_damage d = {0};
	struct bad_layout l;

	bad_copy_fixture(fixture, tu_store);
	bad_layout_load(tu_store, m, &l);
	bad_poke_le(tu_store, off, v, width);
	bad_damage_add(&d, off, off + (uint64_t)width);
	bad_open_refused(tu_store, -EUCLEAN, word);
	ck_assert_int_ge(bad_repair(tu_store, &l, &d), 1);
	bad_layout_free(&l);
	manifest_free(m);
}

/* The repair tries booklet's bucket counts and keeps the one under which
 * the index and the data fit. */
START_TEST(huge_bucket_count_runs_past_the_end)
{
	bad_header_repaired(
	    "no_timestamps.blt", 21, UINT32_MAX, 4, "runs past the end");
}
END_TEST

/* Refused like a file cut before its index, and so repaired: an index
 * is written at the end of the file, and every block is kept. */
START_TEST(index_offset_past_eof_is_a_damaged_header)
{
	bad_header_repaired(
	    "pruned.blt", 65, UINT64_C(1) << 40, 6, "runs past the end");
}
END_TEST

/* Both layout fields of a relocated store past the end: no cut leaves
 * that (its data lay before its index), so nothing is written.  The repair
 * used to take it for one and write the index past the first data block,
 * a terabyte on. */
START_TEST(index_and_first_data_past_eof_are_not_taken_for_a_cut)
{
	bad_copy_fixture("pruned.blt", tu_store);
	bad_poke_le(tu_store, 65, UINT64_C(1) << 40, 6);
	bad_poke_le(tu_store, 71, (UINT64_C(1) << 40) - 4096, 6);
	bad_open_fails(tu_store, -EUCLEAN, "runs past the end");
}
END_TEST

/* A bucket count a little too large for the file reads as a cut in the
 * index, but what lies there is data, not slots: nothing is written. */
/* Not taken for a cut, whose repair would write an index at the end and
 * lose the blocks after the real one: booklet's bucket count that fits is
 * put back. */
START_TEST(bucket_count_reaching_past_the_data_is_not_taken_for_a_cut)
{
	bad_header_repaired(
	    "small_str_bytes.blt", 21, 1000000, 4, "runs past the end");
}
END_TEST

/* The index of a relocated store is found after the blocks that lie back
 * to back from its first data block. */
START_TEST(index_offset_inside_the_header_is_a_damaged_header)
{
	bad_header_repaired("pruned.blt", 65, 100, 6, "damaged header");
}
END_TEST

/* Opens refuse it; the repair puts the first data block back where the
 * standard layout has it, right after the index. */
START_TEST(first_data_past_eof_is_a_damaged_header)
{
	struct bad_report r;

	bad_copy_fixture("no_timestamps.blt", tu_store);
	bad_poke_le(tu_store, 71, UINT64_C(1) << 40, 6);
	bad_open_refused(tu_store, -EUCLEAN, "first data block");
	ck_assert_int_eq(bad_check(tu_store, BLT_CHECK_REPAIR, &r), 1);
	ck_assert_int_eq(bad_check(tu_store, 0, &r), 0);
}
END_TEST

START_TEST(wrong_field_widths_are_a_damaged_header)
{
	for (unsigned byte = 18; byte <= 20; byte++) {
		bad_copy_fixture("no_timestamps.blt", tu_store);
		bad_poke(tu_store, byte, "\x09", 1);
		bad_open_fails(tu_store, -EUCLEAN, "field widths");
	}
}
END_TEST

/* A store closed cleanly whose index offset moved into its index (by 512
 * slots) still parses, and its lookups would read the wrong slots and say
 * of keys that are there that they are not: the open finds no block where
 * the second region should start, and refuses it; check names the offset
 * as the one problem, and the repair puts it back with every item. */
START_TEST(index_offset_moved_into_the_index_is_refused_at_open)
{
	struct manifest *m = bad_manifest("reindexed_twice.blt");
	struct bad_damage d = {0};
	struct bad_report r;
	struct bad_layout l;
	struct blt *db;

	bad_copy_fixture("reindexed_twice.blt", tu_store);
	bad_layout_load(tu_store, m, &l);
	bad_poke_le(
	    tu_store, 65, bad_peek_le(tu_store, 65, 6) + 512 * PTR_LEN, 6);
	bad_damage_add(&d, 65, 71);
	ck_assert_int_eq(blt_open(tu_store, BLT_RDONLY, NULL, &db), -EUCLEAN);
	bad_assert_msg(tu_store, "no block where the header says");
	ck_assert_int_eq(blt_open(tu_store, BLT_RDWR, NULL, &db), -EUCLEAN);
	ck_assert_int_eq(bad_check(tu_store, 0, &r), 1);
	ck_assert_msg(strstr(r.first, "the data says") != NULL,
	    "check says: %s", r.first);
	ck_assert_int_ge(bad_repair(tu_store, &l, &d), 1);
	bad_layout_free(&l);
	manifest_free(m);
}
END_TEST

/* A smaller bucket count still fits the file, so the store opens, but its
 * data seems to start inside the old index: nothing read from there may be
 * returned as an item. */
START_TEST(shrunk_bucket_count_never_returns_garbage)
{
	static const char *const names[] = {
	    "no_timestamps.blt", "fixed.blt", "metadata.blt"};

	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		struct manifest *m = bad_manifest(names[i]);
		struct bad_damage d = {0};
		struct bad_result r;

		bad_copy_fixture(names[i], tu_store);
		bad_poke_le(tu_store, 21, 7, 4);
		bad_damage_add(&d, 21, 25);
		d.enoent_ok = 1;
		bad_read(tu_store, m, &d, &r);
		ck_assert_msg(r.open_rc < 0 || r.scan_rc < 0 || r.euclean > 0,
		    "%s: a shrunk index goes unnoticed", names[i]);
		manifest_free(m);
	}
}
END_TEST

static Suite *
badinput_suite(void)
{
	Suite *s = suite_create("badinput");
	TCase *tc = tcase_create("notbooklet");

	tcase_add_checked_fixture(tc, tu_store_setup, tu_store_teardown);
	tcase_add_test(tc, empty_file_is_not_a_booklet_store);
	tcase_add_test(tc, hundred_byte_file_is_not_a_booklet_store);
	tcase_add_test(tc, text_file_is_not_a_booklet_store);
	tcase_add_test(tc, random_bytes_are_not_a_booklet_store);
	tcase_add_test(tc, unknown_file_type_is_not_a_booklet_store);
	tcase_add_test(tc, version_2_is_not_supported_and_named);
	tcase_add_test(tc, version_9_is_not_supported_and_named);
	tcase_add_test(tc, old_v3_layout_is_not_supported_and_named);
	tcase_add_test(tc, zero_buckets_is_a_damaged_header);
	tcase_add_test(tc, huge_bucket_count_runs_past_the_end);
	tcase_add_test(tc, index_offset_past_eof_is_a_damaged_header);
	tcase_add_test(
	    tc, index_and_first_data_past_eof_are_not_taken_for_a_cut);
	tcase_add_test(
	    tc, bucket_count_reaching_past_the_data_is_not_taken_for_a_cut);
	tcase_add_test(tc, index_offset_inside_the_header_is_a_damaged_header);
	tcase_add_test(
	    tc, index_offset_moved_into_the_index_is_refused_at_open);
	tcase_add_test(tc, first_data_past_eof_is_a_damaged_header);
	tcase_add_test(tc, wrong_field_widths_are_a_damaged_header);
	suite_add_tcase(s, tc);

	tc = tu_store_tcase("damage", BAD_TIMEOUT);
	tcase_add_test(tc, shrunk_bucket_count_never_returns_garbage);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(badinput_suite());
}
