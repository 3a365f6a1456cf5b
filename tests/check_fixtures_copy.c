/*
 * Every reference fixture, copied to a scratch directory and opened
 * writable, then reopened read-only and writable again: every comparison
 * with its manifest (fixtures-compare.c) holds after each open; and a copy
 * opened read-only refuses writes and comes out unchanged.
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

START_TEST(fixture_copy_opened_rdwr_keeps_content)
{
	char path[PATH_MAX];
	struct fx f;

	fx_copy(_i, "rdwr", path, sizeof path);
	fx_begin(&f, _i, path, BLT_RDWR, "copy opened rdwr");
	fx_check_all(&f);
	fx_reopen(&f, BLT_RDONLY, "copy reopened rdonly after rdwr");
	fx_check_all(&f);
	fx_reopen(&f, BLT_RDWR, "copy reopened rdwr");
	fx_check_all(&f);
	fx_reopen(&f, BLT_RDONLY, "copy reopened rdonly after two rdwr");
	fx_check_all(&f);
	fx_end(&f);
	unlink(path);
}
END_TEST

START_TEST(fixture_copy_opened_rdonly_refuses_writes)
{
	unsigned char before[SHA256_LEN], after[SHA256_LEN];
	struct stat sb0, sb1;
	char path[PATH_MAX];
	struct fx f;
	int rc;

	fx_copy(_i, "ro", path, sizeof path);
	fx_file_digest(path, before, &sb0);
	fx_begin(&f, _i, path, BLT_RDONLY, "copy opened rdonly");
	if ((rc = blt_put(f.db, "new key", 7, "0123456789abcdef", 16, 0)) !=
	    -EROFS)
		fx_problem(&f, "blt_put: %d, want -EROFS", rc);
	if (f.m->n_items > 0 && (rc = blt_del(f.db, f.m->items[0].key,
	                             f.m->items[0].klen)) != -EROFS)
		fx_problem(&f, "blt_del: %d, want -EROFS", rc);
	if ((rc = blt_set_meta(f.db, "{}", 2, 0)) != -EROFS)
		fx_problem(&f, "blt_set_meta: %d, want -EROFS", rc);
	if ((rc = blt_set_reserved(f.db, 1, "x", 1, 0)) != -EROFS)
		fx_problem(&f, "blt_set_reserved: %d, want -EROFS", rc);
	fx_check_all(&f);
	fx_end(&f);
	fx_file_digest(path, after, &sb1);
	ck_assert_msg(memcmp(before, after, SHA256_LEN) == 0,
	    "%s: changed while open read-only", path);
	unlink(path);
}
END_TEST

static Suite *
fx_copy_suite(void)
{
	Suite *s = suite_create("fixtures_copy");
	TCase *tc;
	int n = (int)fx_n;

	tc = tcase_create("copies");
	tcase_set_timeout(tc, FX_TIMEOUT);
	tcase_add_loop_test(tc, fixture_copy_opened_rdwr_keeps_content, 0, n);
	tcase_add_loop_test(
	    tc, fixture_copy_opened_rdonly_refuses_writes, 0, n);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return fx_main("check_fixtures_copy", fx_copy_suite);
}
