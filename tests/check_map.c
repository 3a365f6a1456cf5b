/*
 * check_map.c: blt_map() with commands and plugins, into the same store,
 * under a key template and into a second store; skips, errors, crashing
 * plugins, cancels (which take the commands' processes along), keys
 * changing while a map runs, small maps spreading over every worker, and
 * the directory commands run in (and its removal while they do), plugins
 * that print or break the protocol, the bounds on commands' output, what
 * is left of commands when their worker is killed or the map ends, and
 * the stderr of processes that commands leave running.
 * The workers are this program run again: main() hands them to
 * blt_map_worker_main().
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "booklet.h"
#include "bltmap.h"
#include "bltutil.h"
#include "map-int.h"
#include "testutil.h"

extern char **environ;

#define N_ITEMS 10000

static char path[PATH_MAX], path2[PATH_MAX];

static void
setup(void)
{
	tu_tmpstore(path, sizeof path);
	snprintf(path2, sizeof path2, "%.*s/out.blt",
	    (int)(strrchr(path, '/') - path), path);
}

static void
teardown(void)
{
	tu_rmstore(path);
}

static struct blt *
open_store(const char *p, int mode)
{
	struct blt *db;

	ck_assert_msg(blt_open(p, mode, NULL, &db) == 0, "%s", blt_errmsg());
	return db;
}

/* The value the fill puts under key number i. */
static size_t
value_of(int i, char *buf, size_t cap)
{
	return (size_t)snprintf(buf, cap, "value %d of the map test", i);
}

/* A new store at path with n keys "k<i>", plus names from extra. */
static struct blt *
fill(int n, const char *const *extra)
{
	struct blt *db = open_store(path, BLT_TRUNC);
	char k[64], v[128];

	for (int i = 0; i < n; i++) {
		int kl = snprintf(k, sizeof k, "k%d", i);

		ck_assert_int_eq(blt_put(db, k, (size_t)kl, v,
		                     value_of(i, v, sizeof v), BLT_NOW),
		    0);
	}
	for (; extra != NULL && *extra != NULL; extra++)
		ck_assert_int_eq(
		    blt_put(db, *extra, strlen(*extra), "abc", 3, BLT_NOW), 0);
	return db;
}

/* Map options for the first n (at most 3) of k0, k1, k2, all to one
 * worker, which takes them in that order. */
static struct blt_map_opts
in_order(size_t n)
{
	static const unsigned char *const keys[] = {(const unsigned char *)"k0",
	    (const unsigned char *)"k1", (const unsigned char *)"k2"};
	static const size_t lens[] = {2, 2, 2};

	ck_assert_uint_le(n, 3);
	return (struct blt_map_opts){
	    .keys = keys, .key_lens = lens, .n_keys = n, .workers = 1};
}

/* key's value as a string (static), or NULL if it is missing. */
static const char *
get(struct blt *db, const char *key)
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
static const char *
upper_of(int i)
{
	static char buf[128];

	value_of(i, buf, sizeof buf);
	for (char *p = buf; *p; p++)
		if (*p >= 'a' && *p <= 'z')
			*p -= 32;
	return buf;
}

static const char *
lower_of(int i)
{
	static char buf[128];

	value_of(i, buf, sizeof buf);
	return buf;
}

/* Close db, check the file, reopen it and return it. */
static struct blt *
close_check_reopen(struct blt *db, const char *p)
{
	ck_assert_int_eq(blt_close(db), 0);
	ck_assert_msg(blt_check(p, 0, NULL, NULL) == 0, "%s: check failed", p);
	return open_store(p, BLT_RDWR);
}

static void
assert_counts(const struct blt_map_stats *st, uint64_t written,
    uint64_t skipped, uint64_t errors)
{
	ck_assert_uint_eq(st->written, written);
	ck_assert_uint_eq(st->skipped, skipped);
	ck_assert_uint_eq(st->errors, errors);
	ck_assert_uint_eq(st->processed, written + skipped + errors);
}

static void
map_ok(struct blt *db, const struct blt_map_opts *o, struct blt_map_stats *st)
{
	int rc = blt_map(db, o, st);

	ck_assert_msg(rc == 0, "map: %d %s", rc, blt_errmsg());
}

static char plugin[PATH_MAX + 64];

static const char *
plugin_sym(const char *sym)
{
	snprintf(plugin, sizeof plugin, "%s:%s", PLUGIN_TEST, sym);
	return plugin;
}

START_TEST(exec_upper_cases_every_value_in_place)
{
	struct blt *db = fill(N_ITEMS, NULL);
	struct blt_map_opts o = {.exec = "tr a-z A-Z", .workers = 4};
	struct blt_map_stats st;
	char k[32];

	map_ok(db, &o, &st);
	assert_counts(&st, N_ITEMS, 0, 0);
	ck_assert_uint_eq(st.total, N_ITEMS);
	ck_assert_uint_eq(st.workers, 4);
	db = close_check_reopen(db, path);
	ck_assert_uint_eq(blt_count(db), N_ITEMS);
	for (int i = 0; i < N_ITEMS; i++) {
		snprintf(k, sizeof k, "k%d", i);
		ck_assert_str_eq(get(db, k), upper_of(i));
	}
	blt_close(db);
}
END_TEST

START_TEST(plugin_upper_cases_every_value_in_place)
{
	struct blt *db = fill(3 * N_ITEMS, NULL);
	struct blt_map_opts o = {.plugin = plugin_sym("plugin_upper")};
	struct blt_map_stats st;
	char k[32];

	map_ok(db, &o, &st);
	assert_counts(&st, 3 * N_ITEMS, 0, 0);
	ck_assert_uint_eq(st.restarts, 0);
	db = close_check_reopen(db, path);
	ck_assert_uint_eq(blt_count(db), 3 * N_ITEMS);
	for (int i = 0; i < 3 * N_ITEMS; i++) {
		snprintf(k, sizeof k, "k%d", i);
		ck_assert_str_eq(get(db, k), upper_of(i));
	}
	blt_close(db);
}
END_TEST

START_TEST(plugin_may_hand_over_a_malloced_result)
{
	struct blt *db = fill(100, NULL);
	struct blt_map_opts o = {.plugin = plugin_sym("plugin_reverse")};
	struct blt_map_stats st;

	map_ok(db, &o, &st);
	assert_counts(&st, 100, 0, 0);
	ck_assert_str_eq(get(db, "k7"), "tset pam eht fo 7 eulav");
	blt_close(db);
}
END_TEST

START_TEST(map_into_another_store_leaves_the_source)
{
	struct blt *db = fill(N_ITEMS, NULL), *out;
	struct blt_map_opts o = {.plugin = plugin_sym("plugin_upper")};
	struct blt_map_stats st;
	char k[32];

	out = open_store(path2, BLT_TRUNC);
	o.out = out;
	map_ok(db, &o, &st);
	assert_counts(&st, N_ITEMS, 0, 0);
	db = close_check_reopen(db, path);
	out = close_check_reopen(out, path2);
	ck_assert_uint_eq(blt_count(out), N_ITEMS);
	for (int i = 0; i < N_ITEMS; i++) {
		snprintf(k, sizeof k, "k%d", i);
		ck_assert_str_eq(get(db, k), lower_of(i));
		ck_assert_str_eq(get(out, k), upper_of(i));
	}
	blt_close(db);
	blt_close(out);
}
END_TEST

START_TEST(key_template_writes_new_keys_beside_the_old)
{
	struct blt *db = fill(N_ITEMS, NULL);
	struct blt_map_opts o = {
	    .plugin = plugin_sym("plugin_upper"), .to = "up/{key}.txt"};
	struct blt_map_stats st;
	char k[64];

	map_ok(db, &o, &st);
	assert_counts(&st, N_ITEMS, 0, 0);
	db = close_check_reopen(db, path);
	ck_assert_uint_eq(blt_count(db), 2 * N_ITEMS);
	for (int i = 0; i < N_ITEMS; i++) {
		snprintf(k, sizeof k, "k%d", i);
		ck_assert_str_eq(get(db, k), lower_of(i));
		snprintf(k, sizeof k, "up/k%d.txt", i);
		ck_assert_str_eq(get(db, k), upper_of(i));
	}
	blt_close(db);
}
END_TEST

START_TEST(template_without_key_is_einval)
{
	struct blt *db = fill(10, NULL);
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
	struct blt *db = fill(1000, extra);
	struct blt_map_opts o = {
	    .exec = "case $BLT_KEY in skip*) exit 125;; "
	            "err*) echo \"bad $BLT_KEY\" >&2; exit 1;; "
	            "esac; tr a-z A-Z"};
	struct blt_map_stats st;

	map_ok(db, &o, &st);
	assert_counts(&st, 1000, 3, 2);
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
	db = close_check_reopen(db, path);
	for (int i = 0; extra[i] != NULL; i++)
		ck_assert_str_eq(get(db, extra[i]), "abc");
	ck_assert_str_eq(get(db, "k5"), upper_of(5));
	blt_close(db);
}
END_TEST

START_TEST(plugin_skips_and_errors_are_counted)
{
	static const char *const extra[] = {"skip1", "err1", "err2", NULL};
	struct blt *db = fill(100, extra);
	struct blt_map_opts o = {.plugin = plugin_sym("plugin_verdict")};
	struct blt_map_stats st;

	map_ok(db, &o, &st);
	assert_counts(&st, 100, 1, 2);
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

	db = close_check_reopen(db, path);
	for (int i = 0; extra[i] != NULL; i++)
		ck_assert_str_eq(get(db, extra[i]), "abc");
	for (int i = 0; i < N_ITEMS; i++) {
		snprintf(k, sizeof k, "k%d", i);
		ck_assert_str_eq(get(db, k), upper_of(i));
	}
	blt_close(db);
}

START_TEST(crashing_plugin_fails_its_items_only)
{
	static const char *const extra[] = {
	    "crash-a", "crash-b", "crash-c", NULL};
	struct blt *db = fill(N_ITEMS, extra);
	struct blt_map_opts o = {
	    .plugin = plugin_sym("plugin_crash"), .workers = 2};
	struct blt_map_stats st;

	map_ok(db, &o, &st);
	assert_counts(&st, N_ITEMS, 0, 3);
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
	struct blt *db = fill(N_ITEMS, NULL);
	uint64_t limit = 50;
	struct blt_map_opts o = {
	    .exec = "tr a-z A-Z", .progress = cancel_after, .arg = &limit};
	struct blt_map_stats st;
	uint64_t upper = 0;
	char k[32];

	ck_assert_int_eq(blt_map(db, &o, &st), -ECANCELED);
	ck_assert_uint_ge(st.written, limit);
	ck_assert_uint_lt(st.written, N_ITEMS);
	ck_assert_uint_eq(st.processed, st.written);
	db = close_check_reopen(db, path);
	ck_assert_uint_eq(blt_count(db), N_ITEMS);
	for (int i = 0; i < N_ITEMS; i++) {
		const char *v;

		snprintf(k, sizeof k, "k%d", i);
		v = get(db, k);
		if (strcmp(v, upper_of(i)) == 0)
			upper++;
		else
			ck_assert_str_eq(v, lower_of(i));
	}
	ck_assert_uint_eq(upper, st.written);
	blt_close(db);
}
END_TEST

/* Lines in the file at p (0 if it is missing). */
static int
count_lines(const char *p)
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

/* Cancel once a file has this many lines, or after a minute (so that a
 * map whose commands never get there fails instead of hanging). */
struct cancel_lines {
	const char *file;
	int lines;
	time_t deadline;
};

static int
cancel_at_lines(void *arg, const struct blt_map_stats *st)
{
	struct cancel_lines *c = arg;

	(void)st;
	return count_lines(c->file) >= c->lines || time(NULL) > c->deadline;
}

/* Each command ignores SIGTERM, writes its shell's pid, that of a child
 * and that of a child that left the process group (setsid), both of which
 * inherit the ignored SIGTERM, to a file and waits for the children.  The
 * cancel must kill all three, and leave no zombie: kill(pid, 0) fails. */
START_TEST(cancel_kills_the_commands_process_groups)
{
	enum { N = 3 };
	struct blt *db = fill(N, NULL);
	char file[PATH_MAX + 16], cmd[3 * sizeof file + 256];
	struct cancel_lines c = {file, 3 * N, time(NULL) + 60};
	struct blt_map_opts o = {
	    .exec = cmd, .workers = N, .progress = cancel_at_lines, .arg = &c};
	struct blt_map_stats st;
	FILE *f;
	long pid;
	int n = 0;

	snprintf(file, sizeof file, "%s.pids", path);
	snprintf(cmd, sizeof cmd,
	    "trap '' TERM; sleep 1000 & echo \"$$\" >>'%s'; "
	    "echo \"$!\" >>'%s'; setsid sleep 1000 & echo \"$!\" >>'%s'; "
	    "while :; do wait; done",
	    file, file, file);
	ck_assert_int_eq(blt_map(db, &o, &st), -ECANCELED);
	ck_assert_uint_eq(st.written, 0);
	ck_assert_int_eq(count_lines(file), 3 * N);
	ck_assert_ptr_nonnull(f = fopen(file, "r"));
	while (fscanf(f, "%ld", &pid) == 1) {
		ck_assert_int_gt(pid, 1);
		ck_assert_msg(kill((pid_t)pid, 0) == -1 && errno == ESRCH,
		    "process %ld of a cancelled command is still there", pid);
		n++;
	}
	fclose(f);
	ck_assert_int_eq(n, 3 * N);
	db = close_check_reopen(db, path);
	ck_assert_str_eq(get(db, "k0"), lower_of(0));
	blt_close(db);
}
END_TEST

/* A map of n items on n workers whose every command waits (for at most
 * 30 s) until all n have started: each succeeds only if they all ran at
 * once, so items must be spread over the workers from the start. */
static void
assert_commands_run_side_by_side(
    struct blt *db, struct blt_map_opts *o, int n, const char *const *keys)
{
	char file[PATH_MAX + 16], cmd[2 * sizeof file + 256];
	struct blt_map_stats st;

	snprintf(file, sizeof file, "%s.started", path);
	unlink(file);
	snprintf(cmd, sizeof cmd,
	    "echo \"$BLT_KEY\" >>'%s'; i=0; "
	    "while [ \"$(wc -l <'%s')\" -lt %d ]; do "
	    "i=$((i + 1)); [ $i -le 300 ] || exit 1; sleep 0.1; done; "
	    "tr a-z A-Z",
	    file, file, n);
	o->exec = cmd;
	o->workers = (unsigned)n;
	map_ok(db, o, &st);
	assert_counts(&st, (uint64_t)n, 0, 0);
	ck_assert_int_eq(count_lines(file), n);
	for (int i = 0; i < n; i++)
		ck_assert_str_eq(get(db, keys[i]), "ABC");
}

static const char *const side_keys[] = {
    "p/0", "p/1", "p/2", "p/3", "p/4", "p/5", "p/6", "p/7", NULL};

START_TEST(a_small_map_starts_a_command_on_every_worker)
{
	struct blt *db = open_store(path, BLT_TRUNC);
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
	struct blt *db = fill(100, side_keys);
	struct blt_map_opts o = {.prefix = "p/", .prefix_len = 2};

	assert_commands_run_side_by_side(db, &o, 8, side_keys);
	ck_assert_str_eq(get(db, "k1"), lower_of(1));
	blt_close(db);
}
END_TEST

START_TEST(a_small_key_list_starts_a_command_on_every_worker)
{
	static const size_t lens[] = {3, 3, 3, 3, 3, 3, 3, 3};
	struct blt *db = fill(100, side_keys);
	struct blt_map_opts o = {
	    .keys = (const unsigned char *const *)side_keys,
	    .key_lens = lens,
	    .n_keys = 8};

	assert_commands_run_side_by_side(db, &o, 8, side_keys);
	ck_assert_str_eq(get(db, "k1"), lower_of(1));
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
		kl = snprintf(k, sizeof k, "k%d", N_ITEMS - 1 - i);
		ck_assert_int_eq(blt_del(c->db, k, (size_t)kl), 0);
		kl = snprintf(k, sizeof k, "k%d", N_ITEMS - 2001 - i);
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
	struct blt *db = fill(N_ITEMS, NULL);
	struct churn c = {.db = db};
	struct blt_map_opts o = {
	    .exec = "tr a-z A-Z", .written = churn_written, .arg = &c};
	struct blt_map_stats st;
	pthread_t t;
	char k[32];

	pthread_mutex_init(&c.mu, NULL);
	pthread_cond_init(&c.cv, NULL);
	ck_assert_int_eq(pthread_create(&t, NULL, churn_run, &c), 0);
	map_ok(db, &o, &st);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_uint_eq(st.errors, 0);
	ck_assert_uint_eq(st.processed, st.written + st.skipped);
	ck_assert_uint_le(st.written, N_ITEMS);
	ck_assert_uint_ge(st.written, N_ITEMS - 4000);
	db = close_check_reopen(db, path);
	for (int i = 0; i < N_ITEMS; i++) {
		snprintf(k, sizeof k, "k%d", i);
		/* What the user wrote or deleted meanwhile stands, whether
		 * the map had read the key or not. */
		if (i < N_ITEMS - 4000)
			ck_assert_str_eq(get(db, k), upper_of(i));
		else if (i < N_ITEMS - 2000)
			ck_assert_str_eq(get(db, k), "user");
		else
			ck_assert_msg(get(db, k) == NULL, "%s came back", k);
	}
	for (int i = 0; i < 2000; i++) {
		snprintf(k, sizeof k, "new%d", i);
		ck_assert_ptr_nonnull(get(db, k));
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
	struct blt *db = fill(2000, NULL);
	struct prune_arg a = {.db = db};
	struct blt_map_opts o = {
	    .exec = "cat", .workers = 2, .written = prune_on_first, .arg = &a};
	struct blt_map_stats st;

	ck_assert_int_eq(blt_map(db, &o, &st), -ESTALE);
	ck_assert_uint_eq(st.errors, 0);
	ck_assert_uint_lt(st.read, 2000);
	ck_assert_uint_eq(st.processed, st.read);
	db = close_check_reopen(db, path);
	ck_assert_uint_eq(blt_count(db), 2000);
	blt_close(db);
}
END_TEST

START_TEST(prefix_selects_a_directory)
{
	static const char *const extra[] = {
	    "dir/a", "dir/b", "dir/sub/c", "dirt", "other/dir/x", NULL};
	struct blt *db = fill(100, extra);
	struct blt_map_opts o = {
	    .exec = "tr a-z A-Z", .prefix = "dir/", .prefix_len = 4};
	struct blt_map_stats st;

	map_ok(db, &o, &st);
	assert_counts(&st, 3, 0, 0);
	ck_assert_str_eq(get(db, "dir/a"), "ABC");
	ck_assert_str_eq(get(db, "dir/sub/c"), "ABC");
	ck_assert_str_eq(get(db, "dirt"), "abc");
	ck_assert_str_eq(get(db, "other/dir/x"), "abc");
	ck_assert_str_eq(get(db, "k1"), lower_of(1));
	blt_close(db);
}
END_TEST

START_TEST(key_list_selects_those_keys_and_fails_missing_ones)
{
	static const unsigned char *const keys[] = {(const unsigned char *)"k1",
	    (const unsigned char *)"k22", (const unsigned char *)"nope"};
	static const size_t lens[] = {2, 3, 4};
	struct blt *db = fill(100, NULL);
	struct blt_map_opts o = {.plugin = plugin_sym("plugin_upper"),
	    .keys = keys,
	    .key_lens = lens,
	    .n_keys = 3};
	struct blt_map_stats st;

	map_ok(db, &o, &st);
	assert_counts(&st, 2, 0, 1);
	ck_assert_uint_eq(st.total, 3);
	ck_assert_int_eq(memcmp(st.first_errors[0].key, "nope", 4), 0);
	ck_assert_ptr_nonnull(strstr(st.first_errors[0].msg, "not found"));
	ck_assert_str_eq(get(db, "k1"), upper_of(1));
	ck_assert_str_eq(get(db, "k22"), upper_of(22));
	ck_assert_str_eq(get(db, "k2"), lower_of(2));
	blt_close(db);
}
END_TEST

/* More keys than a batch holds, every third of them missing. */
START_TEST(a_long_key_list_is_read_in_batches_in_its_order)
{
	enum { N = 6000 };
	struct blt *db = fill(4000, NULL);
	unsigned char **keys = calloc(N, sizeof *keys);
	size_t *lens = calloc(N, sizeof *lens);
	struct blt_map_opts o = {.plugin = plugin_sym("plugin_upper"),
	    .keys = (const unsigned char *const *)keys,
	    .key_lens = lens,
	    .n_keys = N};
	struct blt_map_stats st;
	char k[16];

	for (int i = 0; i < N; i++) {
		snprintf(k, sizeof k, i % 3 == 2 ? "gone%d" : "k%d", i);
		keys[i] = (unsigned char *)strdup(k);
		lens[i] = strlen(k);
	}
	map_ok(db, &o, &st);
	assert_counts(
	    &st, 2 * N / 3 - (N - 4000) * 2 / 3, 0, N / 3 + (N - 4000) * 2 / 3);
	ck_assert_int_eq(memcmp(st.first_errors[0].key, "gone2", 5), 0);
	ck_assert_str_eq(get(db, "k0"), upper_of(0));
	ck_assert_str_eq(get(db, "k3999"), upper_of(3999));
	ck_assert_str_eq(get(db, "k3998"), lower_of(3998));
	for (int i = 0; i < N; i++)
		free(keys[i]);
	free(keys);
	free(lens);
	blt_close(db);
}
END_TEST

START_TEST(commands_see_key_hex_and_store_in_environment)
{
	struct blt *db = open_store(path, BLT_TRUNC);
	struct blt_map_opts o = {
	    .exec = "printf '%s|%s|%s' \"$BLT_KEY\" \"$BLT_KEY_HEX\" "
	            "\"$BLT_STORE\""};
	struct blt_map_stats st;
	char want[PATH_MAX + 32], got[PATH_MAX + 32];
	ssize_t n;

	ck_assert_int_eq(blt_put(db, "a\0b", 3, "x", 1, BLT_NOW), 0);
	ck_assert_int_eq(blt_put(db, "plain", 5, "x", 1, BLT_NOW), 0);
	map_ok(db, &o, &st);
	assert_counts(&st, 2, 0, 0);
	n = blt_get(db, "a\0b", 3, got, sizeof got - 1, NULL);
	ck_assert_int_ge(n, 0);
	got[n] = '\0';
	snprintf(want, sizeof want, "a|610062|%s", path);
	ck_assert_str_eq(got, want);
	snprintf(want, sizeof want, "plain|706c61696e|%s", path);
	ck_assert_str_eq(get(db, "plain"), want);
	blt_close(db);
}
END_TEST

START_TEST(large_values_pass_through_commands)
{
	struct blt *db = open_store(path, BLT_TRUNC);
	struct blt_map_opts o = {.exec = "tr a-z A-Z"};
	struct blt_map_stats st;
	size_t len = 3 * 1024 * 1024 + 17;
	char *v = malloc(len), *got = malloc(len);

	for (size_t i = 0; i < len; i++)
		v[i] = (char)('a' + i % 26);
	ck_assert_int_eq(blt_put(db, "big", 3, v, len, BLT_NOW), 0);
	ck_assert_int_eq(blt_put(db, "small", 5, "abc", 3, BLT_NOW), 0);
	map_ok(db, &o, &st);
	assert_counts(&st, 2, 0, 0);
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
	struct blt *db = fill(10, NULL);
	struct blt_map_opts o = {.exec = "cat", .worker_exe = "/bin/true"};
	struct blt_map_stats st;

	ck_assert_int_eq(blt_map(db, &o, &st), -ENOEXEC);
	ck_assert_ptr_nonnull(strstr(blt_errmsg(), "blt_map_worker_main"));
	ck_assert_str_eq(get(db, "k1"), lower_of(1));
	blt_close(db);
}
END_TEST

START_TEST(missing_plugin_is_elibacc)
{
	struct blt *db = fill(10, NULL);
	struct blt_map_opts o = {.plugin = "/nonexistent/p.so:f"};
	struct blt_map_stats st;

	ck_assert_int_eq(blt_map(db, &o, &st), -ELIBACC);
	ck_assert_ptr_nonnull(strstr(blt_errmsg(), "/nonexistent/p.so"));
	o.plugin = plugin_sym("no_such_symbol");
	ck_assert_int_eq(blt_map(db, &o, &st), -ELIBACC);
	ck_assert_ptr_nonnull(strstr(blt_errmsg(), "no_such_symbol"));
	blt_close(db);
}
END_TEST

START_TEST(commands_run_in_dir_and_a_missing_dir_ends_the_map)
{
	struct blt *db = fill(10, NULL);
	struct blt_map_opts o = {.exec = "cat >/dev/null; pwd", .dir = "/usr"};
	struct blt_map_stats st;

	map_ok(db, &o, &st);
	assert_counts(&st, 10, 0, 0);
	ck_assert_str_eq(get(db, "k1"), "/usr\n");
	o.dir = "/nonexistent/dir";
	ck_assert_int_eq(blt_map(db, &o, &st), -ENOENT);
	ck_assert_ptr_nonnull(
	    strstr(blt_errmsg(), "cannot run in /nonexistent/dir"));
	ck_assert_str_eq(get(db, "k2"), "/usr\n");
	blt_close(db);
}
END_TEST

START_TEST(items_failing_in_a_removed_dir_name_it)
{
	struct blt *db = fill(3, NULL);
	struct blt_map_opts o = in_order(3);
	struct blt_map_stats st;
	char dir[PATH_MAX + 8], file[PATH_MAX + 16], cmd[3 * PATH_MAX],
	    want[PATH_MAX + 128];
	FILE *f;

	/* one worker takes the items in order; the first removes the
	 * directory it runs in, and every item fails for the want of its
	 * file */
	snprintf(dir, sizeof dir, "%.*s/cwd", (int)(strrchr(path, '/') - path),
	    path);
	snprintf(file, sizeof file, "%s/data", dir);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	ck_assert_ptr_nonnull(f = fopen(file, "w"));
	fclose(f);
	snprintf(cmd, sizeof cmd,
	    "case $BLT_KEY in k0) rm data && rmdir '%s';; esac; cat data", dir);
	o.exec = cmd;
	o.dir = dir;
	map_ok(db, &o, &st);
	assert_counts(&st, 0, 0, 3);
	snprintf(want, sizeof want,
	    "exit status 1 (its working directory %s is gone: No such file or "
	    "directory): ",
	    dir);
	ck_assert_uint_eq(st.n_errors, 3);
	for (unsigned i = 0; i < 3; i++)
		ck_assert_msg(
		    strncmp(st.first_errors[i].msg, want, strlen(want)) == 0,
		    "%s", st.first_errors[i].msg);
	ck_assert_str_eq(get(db, "k1"), lower_of(1));
	blt_close(db);
}
END_TEST

/* The plugin prints on stdout: 5 bytes on one key, 3 on another.  That
 * must neither touch the map nor its workers, and the bytes must show up
 * on the caller's stderr, where the plugin's diagnostics go. */
START_TEST(plugin_stdout_goes_to_stderr_and_the_map_goes_on)
{
	static const unsigned char *const keys[] = {
	    (const unsigned char *)"stray5", (const unsigned char *)"k0",
	    (const unsigned char *)"k1", (const unsigned char *)"stray3"};
	static const size_t lens[] = {6, 2, 2, 6};
	static const char *const extra[] = {"stray5", "stray3", NULL};
	struct blt *db = fill(10, extra);
	struct blt_map_opts o = {.plugin = plugin_sym("plugin_stdout"),
	    .keys = keys,
	    .key_lens = lens,
	    .n_keys = 4,
	    .workers = 1};
	struct blt_map_stats st;
	char file[PATH_MAX + 16], got[64];
	int fd, saved;
	ssize_t n;

	snprintf(file, sizeof file, "%s.stderr", path);
	ck_assert_int_ge(fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0600), 0);
	fflush(stderr);
	ck_assert_int_ge(saved = dup(2), 0);
	ck_assert_int_eq(dup2(fd, 2), 2);
	map_ok(db, &o, &st);
	ck_assert_int_eq(dup2(saved, 2), 2);
	close(saved);
	assert_counts(&st, 4, 0, 0);
	ck_assert_uint_eq(st.restarts, 0);
	ck_assert_str_eq(get(db, "stray5"), "ABC");
	ck_assert_str_eq(get(db, "stray3"), "ABC");
	ck_assert_str_eq(get(db, "k1"), upper_of(1));
	ck_assert_str_eq(get(db, "k2"), lower_of(2));
	n = pread(fd, got, sizeof got - 1, 0);
	ck_assert_int_ge(n, 0);
	got[n] = '\0';
	ck_assert_str_eq(got, "strayabc");
	close(fd);
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
	struct blt *db = fill(N_ITEMS, extra);
	struct blt_map_opts o = {
	    .plugin = plugin_sym("plugin_garble"), .workers = 2};
	struct blt_map_stats st;

	map_ok(db, &o, &st);
	assert_counts(&st, N_ITEMS, 0, 3);
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

/* Start sh -c cmd with pipes for its stdin, stdout and stderr (our ends
 * in fds) and a pidfd on it in fds[3]. */
static pid_t
spawn_sh(const char *cmd, int fds[4])
{
	char *argv[] = {(char *)"sh", (char *)"-c", (char *)cmd, NULL};
	posix_spawn_file_actions_t fa;
	int p[3][2];
	pid_t pid;

	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(pipe2(p[i], O_CLOEXEC), 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[0][0], 0);
	posix_spawn_file_actions_adddup2(&fa, p[1][1], 1);
	posix_spawn_file_actions_adddup2(&fa, p[2][1], 2);
	ck_assert_int_eq(
	    posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	close(p[0][0]);
	close(p[1][1]);
	close(p[2][1]);
	fds[0] = p[0][1];
	fds[1] = p[1][0];
	fds[2] = p[2][0];
	ck_assert_int_ge(fds[3] = pidfd_open(pid, 0), 0);
	return pid;
}

/* Run cmd through map_worker_pump() with value on its stdin and stdout
 * taken up to limit bytes; kill it if that was over, and reap it. */
static void
pump(struct map_worker_io *io, const char *cmd, size_t limit,
    const unsigned char *value, size_t vlen)
{
	int fds[4], status;
	pid_t pid = spawn_sh(cmd, fds);

	io->limit = limit;
	ck_assert_int_eq(
	    map_worker_pump(io, &fds[0], &fds[1], fds[2], fds[3], value, vlen),
	    0);
	ck_assert_int_eq(fds[0], -1);
	ck_assert_int_eq(fds[1], -1);
	if (io->over)
		kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	close(fds[2]);
	close(fds[3]);
}

/* The bound on a command's output, with a small limit in place of the
 * format's 4 GiB - 1: endless output stops the read one byte past the
 * limit, and the buffer never holds more. */
START_TEST(command_output_past_the_limit_stops_the_read)
{
	struct map_worker_io io = {0};

	pump(&io, "yes", 1000, NULL, 0);
	ck_assert_int_eq(io.over, 1);
	ck_assert_uint_eq(io.out_len, 1000);
	ck_assert_uint_le(io.out_cap, 1000);
	ck_assert_int_eq(memcmp(io.out, "y\ny\ny\n", 6), 0);
	pump(&io, "head -c 1000 /dev/zero", 1000, NULL, 0);
	ck_assert_int_eq(io.over, 0);
	ck_assert_uint_eq(io.out_len, 1000);
	pump(&io, "head -c 1001 /dev/zero", 1000, NULL, 0);
	ck_assert_int_eq(io.over, 1);
	free(io.out);
}
END_TEST

/* Of stderr only the first bytes are kept, however much comes; the rest
 * is read and counted, while stdin and stdout, each more than a pipe
 * holds, go on at the same time. */
START_TEST(command_stderr_is_kept_to_its_first_bytes)
{
	struct map_worker_io io = {0};
	size_t len = 1 << 20;
	unsigned char *v = malloc(len);

	for (size_t i = 0; i < len; i++)
		v[i] = (unsigned char)('a' + i % 26);
	pump(&io,
	    "head -c 3000000 /dev/zero | tr '\\0' e >&2; tr a-z A-Z; "
	    "head -c 3000000 /dev/zero | tr '\\0' f >&2",
	    len, v, len);
	ck_assert_int_eq(io.over, 0);
	ck_assert_uint_eq(io.out_len, len);
	for (size_t i = 0; i < len; i++)
		ck_assert_int_eq(io.out[i], 'A' + i % 26);
	ck_assert_uint_eq(io.err_len, MAP_STDERR_KEEP);
	ck_assert_uint_eq(io.err_total, 6000000);
	for (size_t i = 0; i < MAP_STDERR_KEEP; i++)
		ck_assert_int_eq(io.err[i], 'e');
	free(io.out);
	free(v);
}
END_TEST

/* A command's stderr, of which only the start is used, is not stored
 * whole: under a file size limit a copy in a file would fail (and kill the
 * writer with SIGXFSZ) past it, the bounded read does not.  The failed
 * item shows the first bytes and "...". */
START_TEST(a_commands_large_stderr_is_not_kept_in_a_file)
{
	struct blt *db = fill(2, NULL);
	struct blt_map_opts o = {
	    .exec = "head -c 32000000 /dev/zero | tr '\\0' e >&2 && "
	            "case $BLT_KEY in k0) echo ok;; *) exit 3;; esac",
	    .workers = 1};
	struct rlimit rl = {8 << 20, 8 << 20};
	struct blt_map_stats st;
	const char *msg;

	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	map_ok(db, &o, &st);
	assert_counts(&st, 1, 0, 1);
	ck_assert_str_eq(get(db, "k0"), "ok\n");
	msg = st.first_errors[0].msg;
	ck_assert_msg(strncmp(msg, "exit status 3: eee", 18) == 0, "%s", msg);
	ck_assert_uint_eq(strlen(msg), strlen("exit status 3: ") + 400 + 3);
	ck_assert_str_eq(msg + strlen(msg) - 4, "e...");
	blt_close(db);
}
END_TEST

/* A worker that dies after the directory the map runs in was removed is
 * replaced by one that runs in the removed directory too, as the first
 * one did: the map goes on.  One worker takes k0, which removes the
 * directory, then k1, whose command kills its worker (every time). */
START_TEST(a_worker_replaced_after_its_dir_is_removed_runs_in_it)
{
	struct blt *db = fill(3, NULL);
	struct blt_map_opts o = in_order(3);
	struct blt_map_stats st;
	char dir[PATH_MAX + 8], cmd[2 * PATH_MAX];

	snprintf(dir, sizeof dir, "%.*s/cwd", (int)(strrchr(path, '/') - path),
	    path);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	snprintf(cmd, sizeof cmd,
	    "case $BLT_KEY in k0) rmdir '%s' 2>/dev/null;; "
	    "k1) kill -KILL $PPID;; esac; echo ran",
	    dir);
	o.exec = cmd;
	o.dir = dir;
	map_ok(db, &o, &st);
	assert_counts(&st, 2, 0, 1);
	ck_assert_uint_ge(st.restarts, 1);
	ck_assert_int_eq(memcmp(st.first_errors[0].key, "k1", 2), 0);
	ck_assert_str_eq(st.first_errors[0].msg,
	    "its worker was killed by signal 9 (Killed)");
	ck_assert_str_eq(get(db, "k0"), "ran\n");
	ck_assert_str_eq(get(db, "k2"), "ran\n");
	ck_assert_int_eq(access(dir, F_OK), -1);
	blt_close(db);
}
END_TEST

/* Wait for each process listed in file (pids, as a command wrote them),
 * our child as we are a subreaper, to end and reap it; one that is still
 * there after a minute (a bound against hanging, not a measure) is killed,
 * so that a failure leaves nothing behind.  Returns how many were still
 * there, and the number listed in *n. */
static int
reap_listed(const char *file, int *n)
{
	time_t deadline = time(NULL) + 60;
	int left = 0, fd;
	FILE *f;
	long pid;

	*n = 0;
	ck_assert_ptr_nonnull(f = fopen(file, "r"));
	while (fscanf(f, "%ld", &pid) == 1) {
		struct pollfd pfd = {.events = POLLIN};
		time_t now = time(NULL);
		int ms = now < deadline ? (int)(deadline - now) * 1000 : 0;

		ck_assert_int_gt(pid, 1);
		(*n)++;
		ck_assert_int_ge(fd = pidfd_open((pid_t)pid, 0), 0);
		pfd.fd = fd;
		if (poll(&pfd, 1, ms) != 1) {
			left++;
			kill((pid_t)pid, SIGKILL);
		}
		waitpid((pid_t)pid, NULL, 0);
		close(fd);
	}
	fclose(f);
	return left;
}

/* A worker killed with SIGKILL (here by its command, as by the OOM killer
 * or a user) has no time to stop its command: the map kills what is left
 * of it as it reaps the worker.  k1's command starts a sleeper, writes its
 * shell's pid and the sleeper's, then kills its worker and waits.  As we
 * are a subreaper, both become our children once the worker is gone, so
 * their pids stay theirs until we reap them. */
START_TEST(a_killed_workers_command_is_killed_with_it)
{
	struct blt *db = fill(3, NULL);
	struct blt_map_opts o = in_order(3);
	char file[PATH_MAX + 16], cmd[2 * sizeof file + 256];
	struct blt_map_stats st;
	int n;

	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	snprintf(file, sizeof file, "%s.pids", path);
	snprintf(cmd, sizeof cmd,
	    "case $BLT_KEY in k1) sleep 1000 & echo \"$$ $!\" >>'%s'; "
	    "kill -KILL $PPID; wait;; esac; echo ran",
	    file);
	o.exec = cmd;
	map_ok(db, &o, &st);
	assert_counts(&st, 2, 0, 1);
	ck_assert_str_eq(st.first_errors[0].msg,
	    "its worker was killed by signal 9 (Killed)");
	/* k1 ran in the first batch and then alone: 2 commands or more */
	ck_assert_int_eq(reap_listed(file, &n), 0);
	ck_assert_int_ge(n, 4);
	ck_assert_str_eq(get(db, "k2"), "ran\n");
	blt_close(db);
}
END_TEST

/* What commands leave running ends with the map, even a process that
 * ignores SIGTERM, in the commands' process group or out of it (setsid):
 * when blt_map() returns, the sleepers the commands started are gone
 * (reaped by their worker). */
START_TEST(processes_commands_leave_running_end_with_the_map)
{
	struct blt *db = fill(3, NULL);
	char file[PATH_MAX + 16], cmd[3 * sizeof file + 256];
	struct blt_map_opts o = {.exec = cmd, .workers = 1};
	struct blt_map_stats st;
	int n = 0, left = 0;
	FILE *f;
	long pid;

	snprintf(file, sizeof file, "%s.pids", path);
	snprintf(cmd, sizeof cmd,
	    "(trap '' TERM; exec sleep 1000) >/dev/null 2>&1 & "
	    "echo \"$!\" >>'%s'; "
	    "(trap '' TERM; exec setsid sleep 1000) >/dev/null 2>&1 & "
	    "echo \"$!\" >>'%s'; tr a-z A-Z",
	    file, file);
	map_ok(db, &o, &st);
	assert_counts(&st, 3, 0, 0);
	ck_assert_ptr_nonnull(f = fopen(file, "r"));
	while (fscanf(f, "%ld", &pid) == 1) {
		ck_assert_int_gt(pid, 1);
		n++;
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) {
			left++;
			kill((pid_t)pid, SIGKILL);
		}
	}
	fclose(f);
	ck_assert_int_eq(n, 6);
	ck_assert_msg(
	    left == 0, "%d of the commands' sleepers still run", left);
	ck_assert_str_eq(get(db, "k1"), upper_of(1));
	blt_close(db);
}
END_TEST

/* A big result gives its memory back once its batch is answered: one
 * worker maps k0 to 64 MiB of zeros, then k1 to k23 to its own resident
 * size (VmRSS, the command's parent), which in the batches after k0's
 * (MAP_EXEC_ITEMS items each) must be below 64 MiB: the worker's buffers
 * of the command's output and of the reply shrink back.  Not under
 * AddressSanitizer, whose allocator holds freed memory in quarantine. */
START_TEST(a_big_result_gives_its_memory_back)
{
	if (tu_asan())
		return;
	enum { N = 24 };
	struct blt *db = fill(N, NULL);
	static const char cmd[] =
	    "if [ \"$BLT_KEY\" = k0 ]; then head -c 67108864 /dev/zero; "
	    "else sed -n 's/^VmRSS:[^0-9]*\\([0-9]*\\) kB$/\\1/p' "
	    "/proc/$PPID/status; fi";
	const unsigned char *keys[N];
	size_t lens[N];
	char names[N][8];
	struct blt_map_opts o = {.exec = cmd,
	    .keys = keys,
	    .key_lens = lens,
	    .n_keys = N,
	    .workers = 1};
	struct blt_map_stats st;
	long kb;

	for (int i = 0; i < N; i++) {
		lens[i] = (size_t)snprintf(names[i], sizeof names[i], "k%d", i);
		keys[i] = (const unsigned char *)names[i];
	}
	map_ok(db, &o, &st);
	assert_counts(&st, N, 0, 0);
	ck_assert_int_eq(blt_get(db, "k0", 2, NULL, 0, NULL), 64 << 20);
	for (int i = 2 * 8; i < N; i++) {
		ck_assert_int_eq(sscanf(get(db, names[i]), "%ld", &kb), 1);
		ck_assert_msg(kb > 0 && kb < 65536,
		    "%s: the worker's resident size was %ld kB after the big "
		    "result",
		    names[i], kb);
	}
	blt_close(db);
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
	struct blt *db = fill(1, NULL), *taker;
	struct outstore o;
	struct stat st;

	snprintf(out, sizeof out, "%s.out", path);
	snprintf(other, sizeof other, "%s.other", path);
	unlink(out);
	outstore_make(out, path, 022, &o);
	ck_assert_int_eq(o.made, 1);
	outstore_unmake(out, &o);
	ck_assert_int_eq(stat(out, &st), -1);

	outstore_make(out, path, 022, &o);
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
	outstore_make(out, path, 022, &o);
	ck_assert(tu_copy(path, other) == 0);
	ck_assert_int_eq(truncate(other, 0), 0);
	ck_assert_int_eq(rename(other, out), 0);
	outstore_unmake(out, &o);
	ck_assert_msg(stat(out, &st) == 0, "a file put in its place went");
	unlink(out);
	blt_close(db);
}
END_TEST

/* What a process that a command left running writes to stderr later is
 * not part of a later item's message.  One worker takes k0, then k1; k0's
 * command leaves a process that waits for k1's command (on a FIFO), then
 * writes "late" to the stderr it inherited, and tells k1's command, which
 * then fails with its own words. */
START_TEST(stderr_of_a_process_left_running_is_not_a_later_items)
{
	struct blt *db = fill(2, NULL);
	struct blt_map_opts o = in_order(2);
	char go[PATH_MAX + 16], back[PATH_MAX + 16], cmd[4 * sizeof go + 256];
	struct blt_map_stats st;

	snprintf(go, sizeof go, "%s.go", path);
	snprintf(back, sizeof back, "%s.back", path);
	ck_assert_int_eq(mkfifo(go, 0600), 0);
	ck_assert_int_eq(mkfifo(back, 0600), 0);
	snprintf(cmd, sizeof cmd,
	    "case $BLT_KEY in "
	    "k0) (read _ <'%s'; echo late >&2; echo >'%s') >/dev/null & "
	    "echo ok;; "
	    "k1) echo >'%s'; read _ <'%s'; echo mine >&2; exit 3;; esac",
	    go, back, go, back);
	o.exec = cmd;
	map_ok(db, &o, &st);
	assert_counts(&st, 1, 0, 1);
	ck_assert_int_eq(memcmp(st.first_errors[0].key, "k1", 2), 0);
	ck_assert_str_eq(st.first_errors[0].msg, "exit status 3: mine");
	ck_assert_str_eq(get(db, "k0"), "ok\n");
	unlink(go);
	unlink(back);
	blt_close(db);
}
END_TEST

START_TEST(read_only_store_is_erofs)
{
	struct blt *db = fill(10, NULL);
	struct blt_map_opts o = {.exec = "cat"};
	struct blt_map_stats st;

	blt_close(db);
	db = open_store(path, BLT_RDONLY);
	ck_assert_int_eq(blt_map(db, &o, &st), -EROFS);
	blt_close(db);
}
END_TEST

static Suite *
map_suite(void)
{
	Suite *s = suite_create("map");
	TCase *tc = tcase_create("map");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 600);
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
	tcase_add_test(tc, cancel_kills_the_commands_process_groups);
	tcase_add_test(tc, a_small_map_starts_a_command_on_every_worker);
	tcase_add_test(
	    tc, a_small_map_under_a_prefix_starts_a_command_on_every_worker);
	tcase_add_test(tc, a_small_key_list_starts_a_command_on_every_worker);
	tcase_add_test(tc, keys_changing_under_a_running_map);
	tcase_add_test(tc, prune_during_the_scan_ends_the_map_with_estale);
	tcase_add_test(tc, prefix_selects_a_directory);
	tcase_add_test(tc, key_list_selects_those_keys_and_fails_missing_ones);
	tcase_add_test(tc, a_long_key_list_is_read_in_batches_in_its_order);
	tcase_add_test(tc, commands_see_key_hex_and_store_in_environment);
	tcase_add_test(tc, large_values_pass_through_commands);
	tcase_add_test(tc, worker_program_without_the_hook_is_enoexec);
	tcase_add_test(tc, missing_plugin_is_elibacc);
	tcase_add_test(tc, commands_run_in_dir_and_a_missing_dir_ends_the_map);
	tcase_add_test(tc, items_failing_in_a_removed_dir_name_it);
	tcase_add_test(tc, plugin_stdout_goes_to_stderr_and_the_map_goes_on);
	tcase_add_test(tc, malformed_replies_fail_their_items_only);
	tcase_add_test(tc, command_output_past_the_limit_stops_the_read);
	tcase_add_test(tc, command_stderr_is_kept_to_its_first_bytes);
	tcase_add_test(tc, a_commands_large_stderr_is_not_kept_in_a_file);
	tcase_add_test(
	    tc, a_worker_replaced_after_its_dir_is_removed_runs_in_it);
	tcase_add_test(tc, a_killed_workers_command_is_killed_with_it);
	tcase_add_test(tc, processes_commands_leave_running_end_with_the_map);
	tcase_add_test(tc, a_big_result_gives_its_memory_back);
	tcase_add_test(
	    tc, a_failed_out_store_is_removed_only_if_no_one_took_it);
	tcase_add_test(
	    tc, stderr_of_a_process_left_running_is_not_a_later_items);
	tcase_add_test(tc, read_only_store_is_erofs);
	suite_add_tcase(s, tc);
	return s;
}

int
main(int argc, char **argv)
{
	int rc;

	/* The map's workers are this program run again. */
	if ((rc = blt_map_worker_main(argc, argv)) >= 0)
		return rc;
	return tu_run(map_suite());
}
