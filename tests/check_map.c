/*
 * check_map.c: blt_map() with commands and plugins, into the same store,
 * under a key template and into a second store; skips, errors, crashing
 * plugins and replies that break the protocol, plugins that print, a
 * cancel, what commands see of their item, large values, and the errors
 * of a map that cannot start.  Which items a map takes and how it spreads
 * them are in check_map_select.c, the commands' processes in
 * check_map_proc.c.  The workers are this program run again: main() hands
 * them to blt_map_worker_main() (see map-lib.c).
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "booklet.h"
#include "bltutil.h"
#include "testutil.h"
#include "map-lib.h"

START_TEST(exec_upper_cases_every_value_in_place)
{
	struct blt *db = ml_fill(ML_N_ITEMS, NULL);
	struct blt_map_opts o = {.exec = "tr a-z A-Z", .workers = 4};
	struct blt_map_stats st;
	char k[32];

	ml_map_ok(db, &o, &st);
	ml_assert_counts(&st, ML_N_ITEMS, 0, 0);
	ck_assert_uint_eq(st.total, ML_N_ITEMS);
	ck_assert_uint_eq(st.workers, 4);
	db = ml_close_check_reopen(db, tu_store);
	ck_assert_uint_eq(blt_count(db), ML_N_ITEMS);
	for (int i = 0; i < ML_N_ITEMS; i++) {
		snprintf(k, sizeof k, "k%d", i);
		ck_assert_str_eq(ml_get(db, k), ml_upper_of(i));
	}
	blt_close(db);
}
END_TEST

START_TEST(plugin_upper_cases_every_value_in_place)
{
	struct blt *db = ml_fill(3 * ML_N_ITEMS, NULL);
	struct blt_map_opts o = {.plugin = ml_plugin_sym("plugin_upper")};
	struct blt_map_stats st;
	char k[32];

	ml_map_ok(db, &o, &st);
	ml_assert_counts(&st, 3 * ML_N_ITEMS, 0, 0);
	ck_assert_uint_eq(st.restarts, 0);
	db = ml_close_check_reopen(db, tu_store);
	ck_assert_uint_eq(blt_count(db), 3 * ML_N_ITEMS);
	for (int i = 0; i < 3 * ML_N_ITEMS; i++) {
		snprintf(k, sizeof k, "k%d", i);
		ck_assert_str_eq(ml_get(db, k), ml_upper_of(i));
	}
	blt_close(db);
}
END_TEST

START_TEST(plugin_may_hand_over_a_malloced_result)
{
	struct blt *db = ml_fill(100, NULL);
	struct blt_map_opts o = {.plugin = ml_plugin_sym("plugin_reverse")};
	struct blt_map_stats st;

	ml_map_ok(db, &o, &st);
	ml_assert_counts(&st, 100, 0, 0);
	ck_assert_str_eq(ml_get(db, "k7"), "tset pam eht fo 7 eulav");
	blt_close(db);
}
END_TEST

START_TEST(map_into_another_store_leaves_the_source)
{
	struct blt *db = ml_fill(ML_N_ITEMS, NULL), *out;
	struct blt_map_opts o = {.plugin = ml_plugin_sym("plugin_upper")};
	struct blt_map_stats st;
	char k[32];

	out = ml_open(ml_out, BLT_TRUNC);
	o.out = out;
	ml_map_ok(db, &o, &st);
	ml_assert_counts(&st, ML_N_ITEMS, 0, 0);
	db = ml_close_check_reopen(db, tu_store);
	out = ml_close_check_reopen(out, ml_out);
	ck_assert_uint_eq(blt_count(out), ML_N_ITEMS);
	for (int i = 0; i < ML_N_ITEMS; i++) {
		snprintf(k, sizeof k, "k%d", i);
		ck_assert_str_eq(ml_get(db, k), ml_lower_of(i));
		ck_assert_str_eq(ml_get(out, k), ml_upper_of(i));
	}
	blt_close(db);
	blt_close(out);
}
END_TEST

START_TEST(key_template_writes_new_keys_beside_the_old)
{
	struct blt *db = ml_fill(ML_N_ITEMS, NULL);
	struct blt_map_opts o = {
	    .plugin = ml_plugin_sym("plugin_upper"), .to = "up/{key}.txt"};
	struct blt_map_stats st;
	char k[64];

	ml_map_ok(db, &o, &st);
	ml_assert_counts(&st, ML_N_ITEMS, 0, 0);
	db = ml_close_check_reopen(db, tu_store);
	ck_assert_uint_eq(blt_count(db), 2 * ML_N_ITEMS);
	for (int i = 0; i < ML_N_ITEMS; i++) {
		snprintf(k, sizeof k, "k%d", i);
		ck_assert_str_eq(ml_get(db, k), ml_lower_of(i));
		snprintf(k, sizeof k, "up/k%d.txt", i);
		ck_assert_str_eq(ml_get(db, k), ml_upper_of(i));
	}
	blt_close(db);
}
END_TEST

START_TEST(template_without_key_is_einval)
{
	struct blt *db = ml_fill(10, NULL);
	struct blt_map_opts o = {.exec = "cat", .to = "same"};
	struct blt_map_stats st;

	ck_assert_int_eq(blt_map(db, &o, &st), -EINVAL);
	ck_assert_ptr_nonnull(strstr(blt_errmsg(), "{key}"));
	o.to = NULL;
	o.plugin = "x.so:f";
	ck_assert_int_eq(blt_map(db, &o, &st), -EINVAL);
	blt_close(db);
}
END_TEST

START_TEST(exec_skips_and_errors_leave_items_as_they_were)
{
	static const char *const extra[] = {
	    "skip1", "skip2", "skip3", "err1", "err2", NULL};
	struct blt *db = ml_fill(1000, extra);
	struct blt_map_opts o = {
	    .exec = "case $BLT_KEY in skip*) exit 125;; "
	            "err*) echo \"bad $BLT_KEY\" >&2; exit 1;; "
	            "esac; tr a-z A-Z"};
	struct blt_map_stats st;

	ml_map_ok(db, &o, &st);
	ml_assert_counts(&st, 1000, 3, 2);
	ck_assert_uint_eq(st.n_errors, 2);
	for (unsigned i = 0; i < 2; i++) {
		const struct blt_map_error *e = &st.first_errors[i];

		ck_assert_uint_eq(e->klen, 4);
		ck_assert_msg(
		    memcmp(e->key, "err", 3) == 0, "key %.4s", e->key);
		ck_assert_msg(strstr(e->msg, "exit status 1") != NULL &&
		                  strstr(e->msg, "bad err") != NULL,
		    "message: %s", e->msg);
	}
	db = ml_close_check_reopen(db, tu_store);
	for (int i = 0; extra[i] != NULL; i++)
		ck_assert_str_eq(ml_get(db, extra[i]), "abc");
	ck_assert_str_eq(ml_get(db, "k5"), ml_upper_of(5));
	blt_close(db);
}
END_TEST

START_TEST(plugin_skips_and_errors_are_counted)
{
	static const char *const extra[] = {"skip1", "err1", "err2", NULL};
	struct blt *db = ml_fill(100, extra);
	struct blt_map_opts o = {.plugin = ml_plugin_sym("plugin_verdict")};
	struct blt_map_stats st;

	ml_map_ok(db, &o, &st);
	ml_assert_counts(&st, 100, 1, 2);
	ck_assert_ptr_nonnull(
	    strstr(st.first_errors[0].msg, "refused by plugin_verdict"));
	blt_close(db);
}
END_TEST

/* After a map whose extra items failed: reopened, the store still holds
 * them as they were, and every other item mapped. */
static void
expect_failed_kept_rest_done(struct blt *db, const char *const *extra)
{
	char k[32];

	db = ml_close_check_reopen(db, tu_store);
	for (int i = 0; extra[i] != NULL; i++)
		ck_assert_str_eq(ml_get(db, extra[i]), "abc");
	for (int i = 0; i < ML_N_ITEMS; i++) {
		snprintf(k, sizeof k, "k%d", i);
		ck_assert_str_eq(ml_get(db, k), ml_upper_of(i));
	}
	blt_close(db);
}

START_TEST(crashing_plugin_fails_its_items_only)
{
	static const char *const extra[] = {
	    "crash-a", "crash-b", "crash-c", NULL};
	struct blt *db = ml_fill(ML_N_ITEMS, extra);
	struct blt_map_opts o = {
	    .plugin = ml_plugin_sym("plugin_crash"), .workers = 2};
	struct blt_map_stats st;

	ml_map_ok(db, &o, &st);
	ml_assert_counts(&st, ML_N_ITEMS, 0, 3);
	ck_assert_uint_ge(st.restarts, 3);
	for (unsigned i = 0; i < 3; i++) {
		ck_assert_msg(memcmp(st.first_errors[i].key, "crash-", 6) == 0,
		    "key %.7s", st.first_errors[i].key);
		ck_assert_ptr_nonnull(strstr(st.first_errors[i].msg, "worker"));
	}
	expect_failed_kept_rest_done(db, extra);
}
END_TEST

/* Cancel once at least this many results are stored. */
static int
cancel_after(void *arg, const struct blt_map_stats *st)
{
	return st->written >= *(uint64_t *)arg;
}

START_TEST(cancel_keeps_what_was_written_and_counts_it)
{
	struct blt *db = ml_fill(ML_N_ITEMS, NULL);
	uint64_t limit = 50;
	struct blt_map_opts o = {
	    .exec = "tr a-z A-Z", .progress = cancel_after, .arg = &limit};
	struct blt_map_stats st;
	uint64_t upper = 0;
	char k[32];

	ck_assert_int_eq(blt_map(db, &o, &st), -ECANCELED);
	ck_assert_uint_ge(st.written, limit);
	ck_assert_uint_lt(st.written, ML_N_ITEMS);
	ck_assert_uint_eq(st.processed, st.written);
	db = ml_close_check_reopen(db, tu_store);
	ck_assert_uint_eq(blt_count(db), ML_N_ITEMS);
	for (int i = 0; i < ML_N_ITEMS; i++) {
		const char *v;

		snprintf(k, sizeof k, "k%d", i);
		v = ml_get(db, k);
		if (strcmp(v, ml_upper_of(i)) == 0)
			upper++;
		else
			ck_assert_str_eq(v, ml_lower_of(i));
	}
	ck_assert_uint_eq(upper, st.written);
	blt_close(db);
}
END_TEST

START_TEST(commands_see_key_hex_and_store_in_environment)
{
	struct blt *db = ml_open(tu_store, BLT_TRUNC);
	struct blt_map_opts o = {
	    .exec = "printf '%s|%s|%s' \"$BLT_KEY\" \"$BLT_KEY_HEX\" "
	            "\"$BLT_STORE\""};
	struct blt_map_stats st;
	char want[PATH_MAX + 32], got[PATH_MAX + 32];
	ssize_t n;

	ck_assert_int_eq(blt_put(db, "a\0b", 3, "x", 1, BLT_NOW), 0);
	ck_assert_int_eq(blt_put(db, "plain", 5, "x", 1, BLT_NOW), 0);
	ml_map_ok(db, &o, &st);
	ml_assert_counts(&st, 2, 0, 0);
	n = blt_get(db, "a\0b", 3, got, sizeof got - 1, NULL);
	ck_assert_int_ge(n, 0);
	got[n] = '\0';
	snprintf(want, sizeof want, "a|610062|%s", tu_store);
	ck_assert_str_eq(got, want);
	snprintf(want, sizeof want, "plain|706c61696e|%s", tu_store);
	ck_assert_str_eq(ml_get(db, "plain"), want);
	blt_close(db);
}
END_TEST

START_TEST(large_values_pass_through_commands)
{
	struct blt *db = ml_open(tu_store, BLT_TRUNC);
	struct blt_map_opts o = {.exec = "tr a-z A-Z"};
	struct blt_map_stats st;
	size_t len = 3 * 1024 * 1024 + 17;
	char *v = malloc(len), *got = malloc(len);

	for (size_t i = 0; i < len; i++)
		v[i] = (char)('a' + i % 26);
	ck_assert_int_eq(blt_put(db, "big", 3, v, len, BLT_NOW), 0);
	ck_assert_int_eq(blt_put(db, "small", 5, "abc", 3, BLT_NOW), 0);
	ml_map_ok(db, &o, &st);
	ml_assert_counts(&st, 2, 0, 0);
	ck_assert_int_eq(blt_get(db, "big", 3, got, len, NULL), (ssize_t)len);
	for (size_t i = 0; i < len; i++)
		v[i] = (char)('A' + i % 26);
	ck_assert_int_eq(memcmp(v, got, len), 0);
	free(v);
	free(got);
	blt_close(db);
}
END_TEST

START_TEST(worker_program_without_the_hook_is_enoexec)
{
	struct blt *db = ml_fill(10, NULL);
	struct blt_map_opts o = {.exec = "cat", .worker_exe = "/bin/true"};
	struct blt_map_stats st;

	ck_assert_int_eq(blt_map(db, &o, &st), -ENOEXEC);
	ck_assert_ptr_nonnull(strstr(blt_errmsg(), "blt_map_worker_main"));
	ck_assert_str_eq(ml_get(db, "k1"), ml_lower_of(1));
	blt_close(db);
}
END_TEST

START_TEST(missing_plugin_is_elibacc)
{
	struct blt *db = ml_fill(10, NULL);
	struct blt_map_opts o = {.plugin = "/nonexistent/p.so:f"};
	struct blt_map_stats st;

	ck_assert_int_eq(blt_map(db, &o, &st), -ELIBACC);
	ck_assert_ptr_nonnull(strstr(blt_errmsg(), "/nonexistent/p.so"));
	o.plugin = ml_plugin_sym("no_such_symbol");
	ck_assert_int_eq(blt_map(db, &o, &st), -ELIBACC);
	ck_assert_ptr_nonnull(strstr(blt_errmsg(), "no_such_symbol"));
	blt_close(db);
}
END_TEST

/* The plugin prints on stdout: 5 bytes on one key, 3 on another.  That
 * must neither touch the map nor its workers, and the bytes must show up
 * on the caller's stderr, where the plugin's diagnostics go. */
START_TEST(plugin_stdout_goes_to_stderr_and_the_map_goes_on)
{
	static const char *const names[] = {"stray5", "k0", "k1", "stray3"};
	static const char *const extra[] = {"stray5", "stray3", NULL};
	struct blt *db = ml_fill(10, extra);
	struct blt_map_keys keys = ml_keys(names, 4);
	struct blt_map_opts o = {.plugin = ml_plugin_sym("plugin_stdout"),
	    .keys = &keys,
	    .workers = 1};
	struct blt_map_stats st;
	char file[PATH_MAX + 16], got[64];
	int fd, saved;
	ssize_t n;

	snprintf(file, sizeof file, "%s.stderr", tu_store);
	ck_assert_int_ge(fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0600), 0);
	fflush(stderr);
	ck_assert_int_ge(saved = dup(2), 0);
	ck_assert_int_eq(dup2(fd, 2), 2);
	ml_map_ok(db, &o, &st);
	ck_assert_int_eq(dup2(saved, 2), 2);
	close(saved);
	ml_assert_counts(&st, 4, 0, 0);
	ck_assert_uint_eq(st.restarts, 0);
	ck_assert_str_eq(ml_get(db, "stray5"), "ABC");
	ck_assert_str_eq(ml_get(db, "stray3"), "ABC");
	ck_assert_str_eq(ml_get(db, "k1"), ml_upper_of(1));
	ck_assert_str_eq(ml_get(db, "k2"), ml_lower_of(2));
	n = pread(fd, got, sizeof got - 1, 0);
	ck_assert_int_ge(n, 0);
	got[n] = '\0';
	ck_assert_str_eq(got, "strayabc");
	close(fd);
	blt_map_keys_free(&keys);
	blt_close(db);
}
END_TEST

/* Replies that do not parse fail their items, with a message that says
 * so; the worker is replaced and every other item is done.  None makes
 * the parent allocate what the header claims, or wait for it. */
START_TEST(malformed_replies_fail_their_items_only)
{
	static const char *const extra[] = {
	    "garble-junk", "garble-huge", "garble-short", NULL};
	struct blt *db = ml_fill(ML_N_ITEMS, extra);
	struct blt_map_opts o = {
	    .plugin = ml_plugin_sym("plugin_garble"), .workers = 2};
	struct blt_map_stats st;

	ml_map_ok(db, &o, &st);
	ml_assert_counts(&st, ML_N_ITEMS, 0, 3);
	ck_assert_uint_ge(st.restarts, 3);
	ck_assert_uint_eq(st.n_errors, 3);
	for (unsigned i = 0; i < 3; i++) {
		const struct blt_map_error *e = &st.first_errors[i];

		ck_assert_msg(memcmp(e->key, "garble-", 7) == 0, "key %.*s",
		    (int)e->klen, e->key);
		ck_assert_msg(strstr(e->msg, "its worker sent a malformed "
		                             "message (") == e->msg,
		    "%s", e->msg);
	}
	expect_failed_kept_rest_done(db, extra);
}
END_TEST

/* outstore_unmake() after a failed open of the --out store that
 * outstore_make() made: it removes that file, empty; not once another
 * process holds the store's lock (a second map --out to the same name,
 * whose open won the race), nor a store someone made there, nor another
 * file put in its place. */
START_TEST(a_failed_out_store_is_removed_only_if_no_one_took_it)
{
	char out[PATH_MAX + 16], other[PATH_MAX + 16];
	struct blt *db = ml_fill(1, NULL), *taker;
	struct outstore o;
	struct stat st;

	snprintf(out, sizeof out, "%s.out", tu_store);
	snprintf(other, sizeof other, "%s.other", tu_store);
	unlink(out);
	outstore_make(out, tu_store, 022, &o);
	ck_assert_int_eq(o.made, 1);
	outstore_unmake(out, &o);
	ck_assert_int_eq(stat(out, &st), -1);

	outstore_make(out, tu_store, 022, &o);
	ck_assert_int_eq(blt_open(out, BLT_CREATE, NULL, &taker), 0);
	outstore_unmake(out, &o);
	ck_assert_int_eq(stat(out, &st), 0);
	ck_assert_int_eq(blt_put(taker, "kept", 4, "yes", 3, BLT_NOW), 0);
	ck_assert_int_eq(blt_close(taker), 0);
	outstore_unmake(out, &o);
	ck_assert_msg(stat(out, &st) == 0, "a store made there was removed");
	ck_assert_int_eq(blt_open(out, BLT_RDONLY, NULL, &taker), 0);
	ck_assert_int_eq(blt_exists(taker, "kept", 4), 1);
	blt_close(taker);

	unlink(out);
	outstore_make(out, tu_store, 022, &o);
	ck_assert(tu_copy(tu_store, other) == 0);
	ck_assert_int_eq(truncate(other, 0), 0);
	ck_assert_int_eq(rename(other, out), 0);
	outstore_unmake(out, &o);
	ck_assert_msg(stat(out, &st) == 0, "a file put in its place went");
	unlink(out);
	blt_close(db);
}
END_TEST

START_TEST(read_only_store_is_erofs)
{
	struct blt *db = ml_fill(10, NULL);
	struct blt_map_opts o = {.exec = "cat"};
	struct blt_map_stats st;

	blt_close(db);
	db = ml_open(tu_store, BLT_RDONLY);
	ck_assert_int_eq(blt_map(db, &o, &st), -EROFS);
	blt_close(db);
}
END_TEST

static Suite *
map_suite(void)
{
	Suite *s = suite_create("map");
	TCase *tc = ml_tcase();

	tcase_add_test(tc, exec_upper_cases_every_value_in_place);
	tcase_add_test(tc, plugin_upper_cases_every_value_in_place);
	tcase_add_test(tc, plugin_may_hand_over_a_malloced_result);
	tcase_add_test(tc, map_into_another_store_leaves_the_source);
	tcase_add_test(tc, key_template_writes_new_keys_beside_the_old);
	tcase_add_test(tc, template_without_key_is_einval);
	tcase_add_test(tc, exec_skips_and_errors_leave_items_as_they_were);
	tcase_add_test(tc, plugin_skips_and_errors_are_counted);
	tcase_add_test(tc, crashing_plugin_fails_its_items_only);
	tcase_add_test(tc, cancel_keeps_what_was_written_and_counts_it);
	tcase_add_test(tc, commands_see_key_hex_and_store_in_environment);
	tcase_add_test(tc, large_values_pass_through_commands);
	tcase_add_test(tc, worker_program_without_the_hook_is_enoexec);
	tcase_add_test(tc, missing_plugin_is_elibacc);
	tcase_add_test(tc, plugin_stdout_goes_to_stderr_and_the_map_goes_on);
	tcase_add_test(tc, malformed_replies_fail_their_items_only);
	tcase_add_test(
	    tc, a_failed_out_store_is_removed_only_if_no_one_took_it);
	tcase_add_test(tc, read_only_store_is_erofs);
	suite_add_tcase(s, tc);
	return s;
}

int
main(int argc, char **argv)
{
	return ml_main(argc, argv, map_suite);
}
