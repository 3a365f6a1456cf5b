/*
 * check_map_select.c: which items blt_map() takes and where: a prefix, a
 * key list (long ones are read in batches, in order), small maps spread
 * over every worker from the start, keys that change while the map runs,
 * and a prune that replaces the file under the scan.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

#include "booklet.h"
#include "testutil.h"
#include "map-lib.h"

/* A map of n items on n workers whose every command waits (for at most
 * 30 s) until all n have started: each succeeds only if they all ran at
 * once, so items must be spread over the workers from the start. */
static void
assert_commands_run_side_by_side(
    struct blt *db, struct blt_map_opts *o, int n, const char *const *keys)
{
	char file[PATH_MAX + 16], cmd[2 * sizeof file + 256];
	struct blt_map_stats st;

	snprintf(file, sizeof file, "%s.started", tu_store);
	unlink(file);
	snprintf(cmd, sizeof cmd,
	    "echo \"$BLT_KEY\" >>'%s'; i=0; "
	    "while [ \"$(wc -l <'%s')\" -lt %d ]; do "
	    "i=$((i + 1)); [ $i -le 300 ] || exit 1; sleep 0.1; done; "
	    "tr a-z A-Z",
	    file, file, n);
	o->exec = cmd;
	o->workers = (unsigned)n;
	ml_map_ok(db, o, &st);
	ml_assert_counts(&st, (uint64_t)n, 0, 0);
	ck_assert_int_eq(ml_count_lines(file), n);
	for (int i = 0; i < n; i++)
		ck_assert_str_eq(ml_get(db, keys[i]), "ABC");
}

static const char *const side_keys[] = {
    "p/0", "p/1", "p/2", "p/3", "p/4", "p/5", "p/6", "p/7", NULL};

START_TEST(a_small_map_starts_a_command_on_every_worker)
{
	struct blt *db = ml_open(tu_store, BLT_TRUNC);
	struct blt_map_opts o = {0};

	for (int i = 0; side_keys[i] != NULL; i++)
		ck_assert_int_eq(
		    blt_put(db, side_keys[i], 3, "abc", 3, BLT_NOW), 0);
	assert_commands_run_side_by_side(db, &o, 8, side_keys);
	blt_close(db);
}
END_TEST

/* Under a prefix the number of items is not known beforehand. */
START_TEST(a_small_map_under_a_prefix_starts_a_command_on_every_worker)
{
	struct blt *db = ml_fill(100, side_keys);
	struct blt_map_opts o = {.prefix = "p/", .prefix_len = 2};

	assert_commands_run_side_by_side(db, &o, 8, side_keys);
	ck_assert_str_eq(ml_get(db, "k1"), ml_lower_of(1));
	blt_close(db);
}
END_TEST

START_TEST(a_small_key_list_starts_a_command_on_every_worker)
{
	struct blt *db = ml_fill(100, side_keys);
	struct blt_map_keys keys = ml_keys(side_keys, 8);
	struct blt_map_opts o = {.keys = &keys};

	assert_commands_run_side_by_side(db, &o, 8, side_keys);
	ck_assert_str_eq(ml_get(db, "k1"), ml_lower_of(1));
	blt_map_keys_free(&keys);
	blt_close(db);
}
END_TEST

/* A second thread that changes keys while the map runs: it starts once the
 * first results are stored and the map waits until it is halfway. */
struct churn {
	struct blt *db;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int go, halfway;
};

static void *
churn_run(void *arg)
{
	struct churn *c = arg;
	char k[32];

	pthread_mutex_lock(&c->mu);
	while (!c->go)
		pthread_cond_wait(&c->cv, &c->mu);
	pthread_mutex_unlock(&c->mu);
	for (int i = 0; i < 2000; i++) {
		int kl = snprintf(k, sizeof k, "new%d", i);

		ck_assert_int_eq(
		    blt_put(c->db, k, (size_t)kl, "fresh", 5, BLT_NOW), 0);
		kl = snprintf(k, sizeof k, "k%d", ML_N_ITEMS - 1 - i);
		ck_assert_int_eq(blt_del(c->db, k, (size_t)kl), 0);
		kl = snprintf(k, sizeof k, "k%d", ML_N_ITEMS - 2001 - i);
		ck_assert_int_eq(
		    blt_put(c->db, k, (size_t)kl, "user", 4, BLT_NOW), 0);
		if (i == 1000) {
			pthread_mutex_lock(&c->mu);
			c->halfway = 1;
			pthread_cond_signal(&c->cv);
			pthread_mutex_unlock(&c->mu);
		}
	}
	return NULL;
}

static void
churn_written(
    void *arg, const unsigned char *key, size_t klen, size_t vlen, int64_t ts)
{
	struct churn *c = arg;

	pthread_mutex_lock(&c->mu);
	if (!c->go) {
		c->go = 1;
		pthread_cond_signal(&c->cv);
		while (!c->halfway)
			pthread_cond_wait(&c->cv, &c->mu);
	}
	pthread_mutex_unlock(&c->mu);
}

START_TEST(keys_changing_under_a_running_map)
{
	struct blt *db = ml_fill(ML_N_ITEMS, NULL);
	struct churn c = {.db = db};
	struct blt_map_opts o = {
	    .exec = "tr a-z A-Z", .written = churn_written, .arg = &c};
	struct blt_map_stats st;
	pthread_t t;
	char k[32];

	pthread_mutex_init(&c.mu, NULL);
	pthread_cond_init(&c.cv, NULL);
	ck_assert_int_eq(pthread_create(&t, NULL, churn_run, &c), 0);
	ml_map_ok(db, &o, &st);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_uint_eq(st.errors, 0);
	ck_assert_uint_eq(st.processed, st.written + st.skipped);
	ck_assert_uint_le(st.written, ML_N_ITEMS);
	ck_assert_uint_ge(st.written, ML_N_ITEMS - 4000);
	db = ml_close_check_reopen(db, tu_store);
	for (int i = 0; i < ML_N_ITEMS; i++) {
		snprintf(k, sizeof k, "k%d", i);
		/* What the user wrote or deleted meanwhile stands, whether
		 * the map had read the key or not. */
		if (i < ML_N_ITEMS - 4000)
			ck_assert_str_eq(ml_get(db, k), ml_upper_of(i));
		else if (i < ML_N_ITEMS - 2000)
			ck_assert_str_eq(ml_get(db, k), "user");
		else
			ck_assert_msg(ml_get(db, k) == NULL, "%s came back", k);
	}
	for (int i = 0; i < 2000; i++) {
		snprintf(k, sizeof k, "new%d", i);
		ck_assert_ptr_nonnull(ml_get(db, k));
	}
	blt_close(db);
	pthread_mutex_destroy(&c.mu);
	pthread_cond_destroy(&c.cv);
}
END_TEST

struct prune_arg {
	int done;
	struct blt *db;
};

/* Compact the store under the map when the first result arrives. */
static void
prune_on_first(
    void *arg, const unsigned char *key, size_t klen, size_t vlen, int64_t ts)
{
	struct prune_arg *a = arg;

	if (!a->done) {
		a->done = 1;
		ck_assert_msg(blt_prune(a->db, NULL) >= 0, "%s", blt_errmsg());
	}
}

START_TEST(prune_during_the_scan_ends_the_map_with_estale)
{
	struct blt *db = ml_fill(2000, NULL);
	struct prune_arg a = {.db = db};
	struct blt_map_opts o = {
	    .exec = "cat", .workers = 2, .written = prune_on_first, .arg = &a};
	struct blt_map_stats st;

	ck_assert_int_eq(blt_map(db, &o, &st), -ESTALE);
	ck_assert_uint_eq(st.errors, 0);
	ck_assert_uint_lt(st.read, 2000);
	ck_assert_uint_eq(st.processed, st.read);
	db = ml_close_check_reopen(db, tu_store);
	ck_assert_uint_eq(blt_count(db), 2000);
	blt_close(db);
}
END_TEST

START_TEST(prefix_selects_a_directory)
{
	static const char *const extra[] = {
	    "dir/a", "dir/b", "dir/sub/c", "dirt", "other/dir/x", NULL};
	struct blt *db = ml_fill(100, extra);
	struct blt_map_opts o = {
	    .exec = "tr a-z A-Z", .prefix = "dir/", .prefix_len = 4};
	struct blt_map_stats st;

	ml_map_ok(db, &o, &st);
	ml_assert_counts(&st, 3, 0, 0);
	ck_assert_str_eq(ml_get(db, "dir/a"), "ABC");
	ck_assert_str_eq(ml_get(db, "dir/sub/c"), "ABC");
	ck_assert_str_eq(ml_get(db, "dirt"), "abc");
	ck_assert_str_eq(ml_get(db, "other/dir/x"), "abc");
	ck_assert_str_eq(ml_get(db, "k1"), ml_lower_of(1));
	blt_close(db);
}
END_TEST

START_TEST(key_list_selects_those_keys_and_fails_missing_ones)
{
	static const char *const names[] = {"k1", "k22", "nope"};
	struct blt *db = ml_fill(100, NULL);
	struct blt_map_keys keys = ml_keys(names, 3);
	struct blt_map_opts o = {
	    .plugin = ml_plugin_sym("plugin_upper"), .keys = &keys};
	struct blt_map_stats st;

	ml_map_ok(db, &o, &st);
	ml_assert_counts(&st, 2, 0, 1);
	ck_assert_uint_eq(st.total, 3);
	ck_assert_int_eq(memcmp(st.first_errors[0].key, "nope", 4), 0);
	ck_assert_ptr_nonnull(strstr(st.first_errors[0].msg, "not found"));
	ck_assert_str_eq(ml_get(db, "k1"), ml_upper_of(1));
	ck_assert_str_eq(ml_get(db, "k22"), ml_upper_of(22));
	ck_assert_str_eq(ml_get(db, "k2"), ml_lower_of(2));
	blt_map_keys_free(&keys);
	blt_close(db);
}
END_TEST

/* More keys than a batch holds, every third of them missing. */
START_TEST(a_long_key_list_is_read_in_batches_in_its_order)
{
	enum { N = 6000 };
	struct blt *db = ml_fill(4000, NULL);
	struct blt_map_keys keys = {0};
	struct blt_map_opts o = {
	    .plugin = ml_plugin_sym("plugin_upper"), .keys = &keys};
	struct blt_map_stats st;
	char k[16];

	for (int i = 0; i < N; i++) {
		snprintf(k, sizeof k, i % 3 == 2 ? "gone%d" : "k%d", i);
		ck_assert_int_eq(blt_map_keys_add(&keys, k, strlen(k)), 0);
	}
	ck_assert_uint_eq(keys.n, N);
	ml_map_ok(db, &o, &st);
	ml_assert_counts(
	    &st, 2 * N / 3 - (N - 4000) * 2 / 3, 0, N / 3 + (N - 4000) * 2 / 3);
	ck_assert_int_eq(memcmp(st.first_errors[0].key, "gone2", 5), 0);
	ck_assert_str_eq(ml_get(db, "k0"), ml_upper_of(0));
	ck_assert_str_eq(ml_get(db, "k3999"), ml_upper_of(3999));
	ck_assert_str_eq(ml_get(db, "k3998"), ml_lower_of(3998));
	blt_map_keys_free(&keys);
	blt_close(db);
}
END_TEST

/* A list holds each key's length before it, in one byte up to 127 and in
 * more after: keys of every such size come back whole and in order, and
 * map as themselves. */
START_TEST(a_key_list_keeps_keys_of_every_length)
{
	static const size_t lens[] = {1, 127, 128, 300, 16383, 16384, 65535};
	enum { N = sizeof lens / sizeof lens[0] };
	struct blt *db = ml_fill(10, NULL);
	struct blt_map_keys keys = {0}, none = {0};
	struct blt_map_opts o = {
	    .plugin = ml_plugin_sym("plugin_upper"), .keys = &keys};
	struct blt_map_stats st;
	const unsigned char *key;
	unsigned char *k[N], got[4];
	size_t at = 0, klen;

	for (int i = 0; i < N; i++) {
		ck_assert_ptr_nonnull(k[i] = malloc(lens[i]));
		memset(k[i], 'a' + i, lens[i]);
		ck_assert_int_eq(
		    blt_put(db, k[i], lens[i], "xyz", 3, BLT_NOW), 0);
		ck_assert_int_eq(blt_map_keys_add(&keys, k[i], lens[i]), 0);
	}
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(blt_map_keys_next(&keys, &at, &key, &klen), 1);
		ck_assert_uint_eq(klen, lens[i]);
		ck_assert_int_eq(memcmp(key, k[i], klen), 0);
	}
	ck_assert_int_eq(blt_map_keys_next(&keys, &at, &key, &klen), 0);
	ml_map_ok(db, &o, &st);
	ml_assert_counts(&st, N, 0, 0);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(blt_get(db, k[i], lens[i], got, 3, NULL), 3);
		ck_assert_int_eq(memcmp(got, "XYZ", 3), 0);
		free(k[i]);
	}
	/* and an empty list maps nothing, where no list maps everything */
	o.keys = &none;
	ml_map_ok(db, &o, &st);
	ml_assert_counts(&st, 0, 0, 0);
	ck_assert_str_eq(ml_get(db, "k1"), ml_lower_of(1));
	blt_map_keys_free(&keys);
	blt_close(db);
}
END_TEST

static Suite *
map_select_suite(void)
{
	Suite *s = suite_create("map_select");
	TCase *tc = ml_tcase();

	tcase_add_test(tc, a_small_map_starts_a_command_on_every_worker);
	tcase_add_test(
	    tc, a_small_map_under_a_prefix_starts_a_command_on_every_worker);
	tcase_add_test(tc, a_small_key_list_starts_a_command_on_every_worker);
	tcase_add_test(tc, keys_changing_under_a_running_map);
	tcase_add_test(tc, prune_during_the_scan_ends_the_map_with_estale);
	tcase_add_test(tc, prefix_selects_a_directory);
	tcase_add_test(tc, key_list_selects_those_keys_and_fails_missing_ones);
	tcase_add_test(tc, a_long_key_list_is_read_in_batches_in_its_order);
	tcase_add_test(tc, a_key_list_keeps_keys_of_every_length);
	suite_add_tcase(s, tc);
	return s;
}

int
main(int argc, char **argv)
{
	return ml_main(argc, argv, map_select_suite);
}
