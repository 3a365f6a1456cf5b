/*
 * map-lib.c: see map-lib.h.  The stores hold keys "k0" ... with values
 * "value <i> of the map test", which the test maps mostly upper-case.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "booklet.h"
#include "testutil.h"
#include "map-lib.h"

char ml_out[PATH_MAX];

/* ml_out beside tu_store, which tu_store_setup() has set. */
static void
ml_setup(void)
{
	snprintf(ml_out, sizeof ml_out, "%.*s/out.blt",
	    (int)(strrchr(tu_store, '/') - tu_store), tu_store);
}

/* The test case of a map suite. */
TCase *
ml_tcase(void)
{
	TCase *tc = tu_store_tcase("map", 600);

	tcase_add_checked_fixture(tc, ml_setup, NULL);
	return tc;
}

/* main() of a map suite. */
int
ml_main(int argc, char **argv, Suite *(*suite)(void))
{
	int rc;

	/* The map's workers are this program run again. */
	if ((rc = blt_map_worker_main(argc, argv)) >= 0)
		return rc;
	return tu_run(suite());
}

/* The store at p opened in mode. */
struct blt *
ml_open(const char *p, int mode)
{
	struct blt *db;

	ck_assert_msg(blt_open(p, mode, NULL, &db) == 0, "%s", blt_errmsg());
	return db;
}

/* The value ml_fill() puts under key number i. */
static size_t
ml_value_of(int i, char *buf, size_t cap)
{
	return (size_t)snprintf(buf, cap, "value %d of the map test", i);
}

/* A new store at tu_store with n keys "k<i>", plus names from extra. */
struct blt *
ml_fill(int n, const char *const *extra)
{
	struct blt *db = ml_open(tu_store, BLT_TRUNC);
	char k[64], v[128];

	for (int i = 0; i < n; i++) {
		int kl = snprintf(k, sizeof k, "k%d", i);

		ck_assert_int_eq(blt_put(db, k, (size_t)kl, v,
		                     ml_value_of(i, v, sizeof v), BLT_NOW),
		    0);
	}
	for (; extra != NULL && *extra != NULL; extra++)
		ck_assert_int_eq(
		    blt_put(db, *extra, strlen(*extra), "abc", 3, BLT_NOW), 0);
	return db;
}

/* key's value as a string (static), or NULL if it is missing. */
const char *
ml_get(struct blt *db, const char *key)
{
	static char buf[4096];
	ssize_t n = blt_get(db, key, strlen(key), buf, sizeof buf - 1, NULL);

	if (n == -ENOENT)
		return NULL;
	ck_assert_msg(n >= 0, "%s", blt_errmsg());
	buf[n] = '\0';
	return buf;
}

/* The value k<i> has after an upper-casing map. */
const char *
ml_upper_of(int i)
{
	static char buf[128];

	ml_value_of(i, buf, sizeof buf);
	for (char *p = buf; *p; p++)
		if (*p >= 'a' && *p <= 'z')
			*p -= 32;
	return buf;
}

/* The value ml_fill() gives k<i>. */
const char *
ml_lower_of(int i)
{
	static char buf[128];

	ml_value_of(i, buf, sizeof buf);
	return buf;
}

/* Close db, check the file, reopen it and return it. */
struct blt *
ml_close_check_reopen(struct blt *db, const char *p)
{
	ck_assert_int_eq(blt_close(db), 0);
	ck_assert_msg(blt_check(p, 0, NULL, NULL) == 0, "%s: check failed", p);
	return ml_open(p, BLT_RDWR);
}

/* The map's counts are these. */
void
ml_assert_counts(const struct blt_map_stats *st, uint64_t written,
    uint64_t skipped, uint64_t errors)
{
	ck_assert_uint_eq(st->written, written);
	ck_assert_uint_eq(st->skipped, skipped);
	ck_assert_uint_eq(st->errors, errors);
	ck_assert_uint_eq(st->processed, written + skipped + errors);
}

/* blt_map() succeeds. */
void
ml_map_ok(
    struct blt *db, const struct blt_map_opts *o, struct blt_map_stats *st)
{
	int rc = blt_map(db, o, st);

	ck_assert_msg(rc == 0, "map: %d %s", rc, blt_errmsg());
}

/* "plugin_test.so:sym". */
const char *
ml_plugin_sym(const char *sym)
{
	static char plugin[PATH_MAX + 64];

	snprintf(plugin, sizeof plugin, "%s:%s", PLUGIN_TEST, sym);
	return plugin;
}

/* Each name added as it is, its NUL left out. */
struct blt_map_keys
ml_keys(const char *const *names, size_t n)
{
	struct blt_map_keys k = {0};

	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(
		    blt_map_keys_add(&k, names[i], strlen(names[i])), 0);
	return k;
}

/* Lines in the file at p (0 if it is missing). */
int
ml_count_lines(const char *p)
{
	FILE *f = fopen(p, "r");
	int n = 0, ch;

	if (f == NULL)
		return 0;
	while ((ch = getc(f)) != EOF)
		n += ch == '\n';
	fclose(f);
	return n;
}
