/*
 * check_badinput_cut.c: stores cut short, at many points of the header, the
 * index and every live block of four kinds of fixture.  Reading must fail or
 * return only true items, some read must notice a cut live block, a put
 * must be refused, and a repair must keep every item before the cut.  See
 * badinput-lib.c for what is checked.
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

/* --- truncation -------------------------------------------------------- */

/* Cut a copy of fixture name at many points: inside the header and the
 * index, and at, just after and inside every live block.  Reading must fail
 * or return only true items, some read must fail when a live block was cut,
 * and a repair keeps every item before the cut. */
static void
bad_truncations(const char *name, size_t stride)
{
	struct manifest *m = bad_manifest(name);
	uint64_t index_end, pts[8];
	struct bad_layout l;
	char src[PATH_MAX];

	bad_fixture_path(name, src, sizeof src);
	bad_layout_load(src, m, &l);
	index_end = l.st.index_offset + (uint64_t)PTR_LEN * l.st.n_buckets;
	for (size_t i = 0; i <= l.n; i++) {
		size_t np = 0;

		if (i >= 2 && i + 2 < l.n && i % stride != 0)
			continue;

		if (i == l.n) {
			/* Cuts before any block: header, index, one short. */
			pts[np++] = 1;
			pts[np++] = 100;
			pts[np++] = HEADER_LEN - 1;
			pts[np++] = HEADER_LEN + 1;
			pts[np++] = index_end - 1;
			pts[np++] = l.st.file_bytes - 1;
		} else {
			pts[np++] = l.b[i].off;
			pts[np++] = l.b[i].off + 1;
			pts[np++] = l.b[i].off + HASH_LEN + 3; /* inside next */
			pts[np++] = (l.b[i].off + l.b[i].end) / 2;
			pts[np++] = l.b[i].end - 1;
		}
		for (size_t k = 0; k < np; k++) {
			uint64_t t = pts[k];
			struct bad_damage d = {0};
			struct bad_result r;
			int cut = 0;

			if (t >= l.st.file_bytes)
				continue;
			for (size_t j = 0; j < l.n; j++)
				cut |= l.b[j].end > t;
			bad_damage_add(&d, t, UINT64_MAX);
			bad_copy_fixture(name, tu_store);
			bad_truncate(tu_store, t);
			bad_read(tu_store, m, &d, &r);
			ck_assert_msg(!cut || r.open_rc < 0 || r.scan_rc < 0 ||
			                  r.euclean > 0,
			    "%s cut at %llu: no read notices", name,
			    (unsigned long long)t);
			if (r.open_rc == 0 && cut) {
				bad_put_refused(tu_store, "new key", 7, 1);
				bad_check_finds(tu_store);
				bad_repair(tu_store, &l, &d);
			}
		}
	}
	bad_layout_free(&l);
	manifest_free(m);
}

START_TEST(truncated_variable_store_is_an_error_never_garbage)
{
	bad_truncations("no_timestamps.blt", 1);
}
END_TEST

START_TEST(truncated_fixed_store_is_an_error_never_garbage)
{
	bad_truncations("fixed.blt", 37);
}
END_TEST

START_TEST(truncated_v4_store_is_an_error_never_garbage)
{
	bad_truncations("v4_genuine.blt", 5);
}
END_TEST

START_TEST(truncated_reindexed_store_is_an_error_never_garbage)
{
	/* Data in two regions around a relocated index. */
	bad_truncations("reindexed_twice.blt", 1500);
}
END_TEST

/* A store cut right after a block, so every block left is whole: the
 * scan lists them, then says that the rest is missing. */
START_TEST(store_cut_at_a_block_edge_scans_to_an_error)
{
	const char *name = "fixed.blt";
	struct manifest *m = bad_manifest(name);
	struct bad_layout l;
	struct blt_iter *it;
	struct blt_item item;
	struct blt *db;
	size_t listed = 0;
	int rc;

	bad_copy_fixture(name, tu_store);
	bad_layout_load(tu_store, m, &l);
	bad_truncate(tu_store, l.b[l.n - 1].off);
	ck_assert_int_eq(blt_open(tu_store, BLT_RDONLY, NULL, &db), 0);
	ck_assert_int_eq(blt_iter_create(db, &it), 0);
	while ((rc = blt_iter_next(it, &item)) > 0)
		listed++;
	ck_assert_uint_eq(listed, l.n - 1);
	bad_assert_error(tu_store, rc, 0, "the scan");
	bad_assert_msg(tu_store, "the header counts");
	blt_iter_free(it);
	blt_close(db);
	bad_layout_free(&l);
	manifest_free(m);
}
END_TEST

static Suite *
badinput_cut_suite(void)
{
	Suite *s = suite_create("badinput_cut");
	TCase *tc = tu_store_tcase("damage", BAD_TIMEOUT);

	tcase_add_test(tc, truncated_variable_store_is_an_error_never_garbage);
	tcase_add_test(tc, truncated_fixed_store_is_an_error_never_garbage);
	tcase_add_test(tc, truncated_v4_store_is_an_error_never_garbage);
	tcase_add_test(tc, truncated_reindexed_store_is_an_error_never_garbage);
	tcase_add_test(tc, store_cut_at_a_block_edge_scans_to_an_error);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(badinput_cut_suite());
}
