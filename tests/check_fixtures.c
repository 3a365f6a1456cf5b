/*
 * Every reference fixture, opened read-only in place and compared with its
 * manifest through the public API (fixtures-compare.c): the header, each
 * item, a full scan, the metadata, the reserved slots and keys that are
 * absent; and the fixture comes out unchanged.  check_fixtures_copy.c does
 * the same on writable copies.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "booklet.h"
#include "manifest.h"
#include "fixtures-lib.h"

#define FX_MIN_FIXTURES 20 /* README.md lists twenty */

START_TEST(fixture_directory_holds_every_reference_store)
{
	struct manifest *m;
	char json[PATH_MAX], want[PATH_MAX];
	size_t i;

	ck_assert_msg(fx_n >= FX_MIN_FIXTURES,
	    "%s: %zu .blt fixtures, want at least %d", fx_dir, fx_n,
	    FX_MIN_FIXTURES);
	for (i = 0; i < fx_n; i++) {
		fx_path(json, sizeof json, "%s/%s.json", fx_dir, fx_names[i]);
		ck_assert_msg(manifest_load(json, &m) == 0, "%s", blt_errmsg());
		fx_path(want, sizeof want, "%s.blt", fx_names[i]);
		ck_assert_msg(strcmp(m->file, want) == 0,
		    "%s: file is \"%s\", not \"%s\"", json, m->file, want);
		manifest_free(m);
	}
}
END_TEST

START_TEST(fixture_stat_matches_manifest)
{
	struct fx f;

	fx_begin(&f, _i, NULL, BLT_RDONLY, "rdonly");
	fx_check_stat(&f);
	if (!(blt_flags(f.db) & BLT_READONLY))
		fx_problem(&f, "blt_flags lacks BLT_READONLY");
	fx_end(&f);
}
END_TEST

START_TEST(fixture_items_match_manifest)
{
	struct fx f;

	fx_begin(&f, _i, NULL, BLT_RDONLY, "rdonly");
	fx_check_items(&f);
	fx_end(&f);
}
END_TEST

START_TEST(fixture_lookups_match_manifest)
{
	struct fx f;

	fx_begin(&f, _i, NULL, BLT_RDONLY, "rdonly");
	fx_check_lookups(&f);
	fx_end(&f);
}
END_TEST

START_TEST(fixture_scan_yields_each_manifest_key_once)
{
	struct fx f;

	fx_begin(&f, _i, NULL, BLT_RDONLY, "rdonly");
	fx_check_scan(&f);
	fx_end(&f);
}
END_TEST

START_TEST(fixture_metadata_matches_manifest)
{
	struct fx f;

	fx_begin(&f, _i, NULL, BLT_RDONLY, "rdonly");
	fx_check_meta(&f);
	fx_end(&f);
}
END_TEST

START_TEST(fixture_reserved_slots_match_manifest)
{
	struct fx f;

	fx_begin(&f, _i, NULL, BLT_RDONLY, "rdonly");
	fx_check_reserved(&f);
	fx_end(&f);
}
END_TEST

START_TEST(fixture_missing_keys_are_enoent)
{
	struct fx f;

	fx_begin(&f, _i, NULL, BLT_RDONLY, "rdonly");
	fx_check_missing(&f);
	fx_end(&f);
}
END_TEST

START_TEST(fixture_rdonly_open_leaves_file_untouched)
{
	unsigned char before[SHA256_LEN], after[SHA256_LEN];
	struct stat sb0, sb1;
	char path[PATH_MAX];
	struct fx f;

	fx_path(path, sizeof path, "%s/%s.blt", fx_dir, fx_names[_i]);
	fx_file_digest(path, before, &sb0);
	fx_begin(&f, _i, NULL, BLT_RDONLY, "rdonly");
	fx_check_all(&f);
	fx_end(&f);
	fx_file_digest(path, after, &sb1);
	ck_assert_msg(memcmp(before, after, SHA256_LEN) == 0 &&
	                  sb0.st_size == sb1.st_size,
	    "%s: changed by a read-only open (size %jd -> %jd)", path,
	    (intmax_t)sb0.st_size, (intmax_t)sb1.st_size);
	ck_assert_msg(sb0.st_mtim.tv_sec == sb1.st_mtim.tv_sec &&
	                  sb0.st_mtim.tv_nsec == sb1.st_mtim.tv_nsec,
	    "%s: written to by a read-only open (mtime changed)", path);
}
END_TEST

static Suite *
fx_suite(void)
{
	Suite *s = suite_create("fixtures");
	TCase *tc;
	int n = (int)fx_n;

	tc = tcase_create("directory");
	tcase_add_test(tc, fixture_directory_holds_every_reference_store);
	suite_add_tcase(s, tc);

	tc = tcase_create("rdonly");
	tcase_set_timeout(tc, FX_TIMEOUT);
	tcase_add_loop_test(tc, fixture_stat_matches_manifest, 0, n);
	tcase_add_loop_test(tc, fixture_items_match_manifest, 0, n);
	tcase_add_loop_test(tc, fixture_lookups_match_manifest, 0, n);
	tcase_add_loop_test(
	    tc, fixture_scan_yields_each_manifest_key_once, 0, n);
	tcase_add_loop_test(tc, fixture_metadata_matches_manifest, 0, n);
	tcase_add_loop_test(tc, fixture_reserved_slots_match_manifest, 0, n);
	tcase_add_loop_test(tc, fixture_missing_keys_are_enoent, 0, n);
	tcase_add_loop_test(
	    tc, fixture_rdonly_open_leaves_file_untouched, 0, n);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return fx_main("check_fixtures", fx_suite);
}
