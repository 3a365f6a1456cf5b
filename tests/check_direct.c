/*
 * check_direct.c: a value too big for the write buffer is written to the
 * file without the engine's write lock, so reads, small puts, prunes and
 * clears go on while it is written; and a write that fails half-way
 * leaves the store as it was.  The same for the steps of blt_put_begin(),
 * which callers take apart.
 *
 * The engine's I/O hook holds the big value's write until the test has
 * done what it wants meanwhile.  A write that still held the lock would
 * leave the test waiting forever, and Check's timeout fails it.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "booklet.h"
#include "internal.h"
#include "testutil.h"

#define BIG (1u << 20)

static char path[PATH_MAX];
static unsigned char big[BIG];

/* The hook holds the first write of 64 KiB or more (a piece of the value;
 * its head and the small puts are written apart) until released, then
 * fails it with fail.  With sync set, it holds the first fsync instead:
 * an online prune's, of its new file, once the copy is written and before
 * the prune takes the lock to carry over what changed meanwhile. */
static struct hold {
	pthread_mutex_t m;
	pthread_cond_t c;
	int held, released, fail, sync;
} hold = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0};

static int
hold_hook(void *arg, int op, int fd, uint64_t off, size_t len)
{
	int rc = 0;

	(void)arg;
	(void)fd;
	(void)off;
	if (hold.sync ? op != IO_OP_SYNC : op != IO_OP_WRITE || len < 65536)
		return 0;
	pthread_mutex_lock(&hold.m);
	if (!hold.held) {
		hold.held = 1;
		pthread_cond_broadcast(&hold.c);
		while (!hold.released)
			pthread_cond_wait(&hold.c, &hold.m);
		rc = -hold.fail;
	}
	pthread_mutex_unlock(&hold.m);
	return rc;
}

struct writer {
	struct blt *db;
	pthread_t t;
	int cond; /* blt_put_if() over "old" rather than blt_put() */
	int rc;
	char msg[1024]; /* the put's message: each thread has its own */
};

static void *
big_put(void *arg)
{
	struct writer *w = arg;

	if (w->cond)
		w->rc =
		    blt_put_if(w->db, "big", 3, "old", 3, big, BIG, BLT_NOW);
	else
		w->rc = blt_put(w->db, "big", 3, big, BIG, BLT_NOW);
	snprintf(w->msg, sizeof w->msg, "%s", blt_errmsg());
	return NULL;
}

static void *
prune(void *arg)
{
	struct writer *w = arg;

	w->rc = (int)blt_prune(w->db, NULL);
	snprintf(w->msg, sizeof w->msg, "%s", blt_errmsg());
	return NULL;
}

/* Start fn(w) in a thread on db and return once the hook holds it (a
 * write, or with sync an fsync). */
static void
start_held(struct writer *w, struct blt *db, void *(*fn)(void *), int sync)
{
	hold.held = hold.released = 0;
	hold.fail = 0;
	hold.sync = sync;
	io_set_hook(hold_hook, NULL);
	w->db = db;
	ck_assert_int_eq(pthread_create(&w->t, NULL, fn, w), 0);
	pthread_mutex_lock(&hold.m);
	while (!hold.held)
		pthread_cond_wait(&hold.c, &hold.m);
	pthread_mutex_unlock(&hold.m);
}

/* Start putting the big value and return once its write is held. */
static void
start_big_put(struct writer *w, struct blt *db, int fail)
{
	start_held(w, db, big_put, 0);
	hold.fail = fail;
}

/* Let the held write go on; the put's result. */
static int
finish_big_put(struct writer *w)
{
	pthread_mutex_lock(&hold.m);
	hold.released = 1;
	pthread_cond_broadcast(&hold.c);
	pthread_mutex_unlock(&hold.m);
	ck_assert_int_eq(pthread_join(w->t, NULL), 0);
	io_set_hook(NULL, NULL);
	return w->rc;
}

static void
setup(void)
{
	struct blt_options o;
	struct blt *db;

	for (size_t i = 0; i < BIG; i++)
		big[i] = (unsigned char)(i * 7 + i / 4096);
	tu_tmpstore(path, sizeof path);
	blt_options_default(&o);
	o.write_buffer = 64 << 10;
	ck_assert_msg(
	    blt_open(path, BLT_TRUNC, &o, &db) == 0, "%s", blt_errmsg());
	for (int i = 0; i < 100; i++) {
		char k[16];

		snprintf(k, sizeof k, "k%03d", i);
		ck_assert_int_eq(blt_put(db, k, strlen(k), k, strlen(k), 1), 0);
	}
	ck_assert_int_eq(blt_put(db, "big", 3, "old", 3, 1), 0);
	ck_assert_int_eq(blt_close(db), 0);
}

static void
teardown(void)
{
	tu_rmstore(path);
}

static struct blt *
open_store(void)
{
	struct blt_options o;
	struct blt *db;

	blt_options_default(&o);
	o.write_buffer = 64 << 10;
	ck_assert_msg(
	    blt_open(path, BLT_RDWR, &o, &db) == 0, "%s", blt_errmsg());
	return db;
}

/* key holds the value v of vlen bytes. */
static void
expect(struct blt *db, const char *key, const void *v, size_t vlen)
{
	static unsigned char got[BIG];
	ssize_t n = blt_get(db, key, strlen(key), got, sizeof got, NULL);

	ck_assert_msg(n >= 0, "%s: %s", key, blt_errmsg());
	ck_assert_msg((size_t)n == vlen && memcmp(got, v, vlen) == 0,
	    "%s: %zd bytes, not the %zu expected", key, n, vlen);
}

static size_t
count_keys(struct blt *db)
{
	struct blt_iter *it;
	struct blt_item item;
	size_t n = 0;
	int rc;

	ck_assert_int_eq(blt_iter_create(db, &it), 0);
	while ((rc = blt_iter_next(it, &item)) > 0)
		n++;
	ck_assert_int_eq(rc, 0);
	blt_iter_free(it);
	return n;
}

/* Reopened, the store passes blt check and holds big's value v. */
static void
expect_after_reopen(const void *v, size_t vlen)
{
	struct blt *db;

	ck_assert_msg(blt_check(path, 0, NULL, NULL) == 0, "%s", blt_errmsg());
	ck_assert_msg(
	    blt_open(path, BLT_RDONLY, NULL, &db) == 0, "%s", blt_errmsg());
	expect(db, "big", v, vlen);
	expect(db, "k042", "k042", 4);
	ck_assert_int_eq(blt_close(db), 0);
}

START_TEST(reads_and_small_puts_go_on_while_a_big_value_is_written)
{
	struct blt *db = open_store();
	struct writer w = {0};

	start_big_put(&w, db, 0);
	expect(db, "k042", "k042", 4);
	expect(db, "big", "old", 3); /* until the new value is whole */
	ck_assert_int_eq(blt_put(db, "small", 5, "s", 1, BLT_NOW), 0);
	ck_assert_int_eq(blt_flush(db), 0); /* appended past the big block */
	ck_assert_uint_eq(count_keys(db), 102);
	ck_assert_int_eq(finish_big_put(&w), 0);
	expect(db, "big", big, BIG);
	expect(db, "small", "s", 1);
	ck_assert_uint_eq(count_keys(db), 102);
	ck_assert_int_eq(blt_close(db), 0);
	expect_after_reopen(big, BIG);
}
END_TEST

/* A prune or clear that replaces the file while the value is written
 * takes the old file with it: the put writes its block again. */
START_TEST(a_prune_or_clear_meanwhile_does_not_lose_the_big_value)
{
	struct blt *db = open_store();
	struct writer w = {0};

	for (int i = 0; i < 50; i++) {
		char k[16];

		snprintf(k, sizeof k, "k%03d", i * 2 + 1);
		ck_assert_int_eq(blt_del(db, k, strlen(k)), 0);
	}
	start_big_put(&w, db, 0);
	/* the deleted blocks, and the big one's place: dead until linked */
	ck_assert_int_eq(blt_prune(db, NULL), 51);
	expect(db, "big", "old", 3);
	ck_assert_int_eq(finish_big_put(&w), 0);
	expect(db, "big", big, BIG);
	ck_assert_uint_eq(count_keys(db), 51);
	ck_assert_int_eq(blt_close(db), 0);
	expect_after_reopen(big, BIG);

	db = open_store();
	start_big_put(&w, db, 0);
	ck_assert_int_eq(blt_clear(db), 0);
	ck_assert_int_eq(finish_big_put(&w), 0);
	ck_assert_uint_eq(count_keys(db), 1);
	expect(db, "big", big, BIG);
	ck_assert_int_eq(blt_close(db), 0);
}
END_TEST

/* A put in steps placed before an online prune began and ended while it
 * copies: the prune copied the key's old block and carries over only
 * blocks past the end it started from, so the end must place the value
 * again past that (the value was lost: both the old and the new). */
START_TEST(a_put_ended_while_a_prune_copies_is_kept)
{
	struct blt *db = open_store();
	struct blt_put_op *p;
	struct writer w = {0};

	ck_assert_int_eq(blt_del(db, "k001", 4), 0); /* something to prune */
	ck_assert_int_eq(blt_put_begin(db, "big", 3, BIG, BLT_NOW, &p), 0);
	ck_assert_int_eq(blt_put_fill(p, big), 0);
	start_held(&w, db, prune, 1);
	ck_assert_int_eq(blt_put_end(p), 0);
	expect(db, "big", big, BIG);
	/* k001, the old "big" and the place the end left */
	ck_assert_int_eq(finish_big_put(&w), 3);
	expect(db, "big", big, BIG);
	ck_assert_uint_eq(count_keys(db), 100);
	ck_assert_int_eq(blt_close(db), 0);
	expect_after_reopen(big, BIG);
}
END_TEST

static void *
big_copy(void *arg)
{
	struct writer *w = arg;

	w->rc = blt_copy(w->db, "big", 3, "copy", 4);
	snprintf(w->msg, sizeof w->msg, "%s", blt_errmsg());
	return NULL;
}

/* blt_copy() writes a big value from the store's own map, without its
 * lock: a prune that replaces the file meanwhile leaves the bytes it
 * copies from in place, and the copy keeps the value and timestamp. */
START_TEST(a_copy_of_a_big_value_goes_on_through_a_prune)
{
	struct blt *db = open_store();
	struct writer w = {0};
	int64_t ts;

	ck_assert_int_eq(blt_put(db, "big", 3, big, BIG, 7), 0);
	ck_assert_int_eq(blt_del(db, "k001", 4), 0);
	start_held(&w, db, big_copy, 0);
	ck_assert_int_gt(blt_prune(db, NULL), 0);
	ck_assert_msg(finish_big_put(&w) == 0, "%s", w.msg);
	expect(db, "copy", big, BIG);
	expect(db, "big", big, BIG);
	ck_assert_int_eq(blt_get_timestamp(db, "copy", 4, &ts), 0);
	ck_assert_int_eq(ts, 7);

	ck_assert_int_eq(blt_copy(db, "k002", 4, "small", 5), 0);
	expect(db, "small", "k002", 4);
	ck_assert_int_eq(blt_get_timestamp(db, "small", 5, &ts), 0);
	ck_assert_int_eq(ts, 1);
	ck_assert_int_eq(blt_copy(db, "k001", 4, "gone", 4), -ENOENT);
	ck_assert_ptr_nonnull(strstr(blt_errmsg(), "k001"));
	ck_assert_int_eq(blt_exists(db, "gone", 4), 0);
	ck_assert_int_eq(blt_close(db), 0);

	ck_assert_msg(
	    blt_open(path, BLT_RDONLY, NULL, &db) == 0, "%s", blt_errmsg());
	expect(db, "copy", big, BIG);
	ck_assert_int_eq(blt_copy(db, "big", 3, "again", 5), -EROFS);
	ck_assert_int_eq(blt_close(db), 0);
}
END_TEST

static off_t
file_size(void)
{
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_size;
}

/* A full disk half-way through the value: the put fails naming the store,
 * the key keeps its old value, and the block's bytes are cut off again
 * when nothing was appended after them (dead bytes for the next prune
 * otherwise). */
START_TEST(a_big_value_that_fails_half_way_leaves_the_old_one)
{
	struct blt *db = open_store();
	off_t before = file_size();
	struct writer w = {0};

	start_big_put(&w, db, ENOSPC);
	ck_assert_int_eq(finish_big_put(&w), -ENOSPC);
	ck_assert_msg(strstr(w.msg, path) != NULL, "%s", w.msg);
	ck_assert_int_eq(file_size(), before);
	expect(db, "big", "old", 3);

	start_big_put(&w, db, ENOSPC);
	ck_assert_int_eq(blt_put(db, "small", 5, "s", 1, BLT_NOW), 0);
	ck_assert_int_eq(blt_flush(db), 0);
	ck_assert_int_eq(finish_big_put(&w), -ENOSPC);
	expect(db, "big", "old", 3);
	expect(db, "small", "s", 1);
	ck_assert_int_eq(blt_close(db), 0);
	expect_after_reopen("old", 3);
}
END_TEST

/* The steps taken apart: the key keeps its old value until the end, a
 * put made in between is replaced by the end, a cancel leaves the file as
 * it was, and an end without a value is refused. */
START_TEST(a_put_in_steps_takes_effect_at_its_end)
{
	struct blt *db = open_store();
	struct blt_put_op *p;
	off_t before;

	ck_assert_int_eq(blt_put_begin(db, "big", 3, BIG, BLT_NOW, &p), 0);
	ck_assert_int_eq(blt_put_fill(p, big), 0);
	expect(db, "big", "old", 3);
	ck_assert_int_eq(blt_put(db, "big", 3, "between", 7, BLT_NOW), 0);
	ck_assert_int_eq(blt_flush(db), 0);
	expect(db, "big", "between", 7);
	ck_assert_int_eq(blt_put_end(p), 0);
	expect(db, "big", big, BIG);
	ck_assert_uint_eq(count_keys(db), 101);

	ck_assert_int_eq(blt_flush(db), 0);
	before = file_size();
	ck_assert_int_eq(blt_put_begin(db, "big", 3, BIG, BLT_NOW, &p), 0);
	ck_assert_int_gt(file_size(), before);
	ck_assert_int_eq(blt_put_fill(p, big), 0);
	blt_put_cancel(p);
	ck_assert_int_eq(file_size(), before);
	expect(db, "big", big, BIG);

	ck_assert_int_eq(blt_put_begin(db, "k001", 4, 10, BLT_NOW, &p), 0);
	ck_assert_int_eq(blt_put_end(p), -EINVAL);
	expect(db, "k001", "k001", 4);
	ck_assert_int_eq(blt_close(db), 0);
	expect_after_reopen(big, BIG);

	ck_assert_msg(
	    blt_open(path, BLT_RDONLY, NULL, &db) == 0, "%s", blt_errmsg());
	ck_assert_int_eq(blt_put_begin(db, "big", 3, 1, BLT_NOW, &p), -EROFS);
	ck_assert_ptr_null(p);
	ck_assert_int_eq(blt_close(db), 0);
}
END_TEST

/* A conditional put of a big value checks again once its bytes are
 * written: a put of the key meanwhile wins, as with a small value. */
START_TEST(a_big_conditional_put_yields_to_a_write_meanwhile)
{
	struct blt *db = open_store();
	struct writer w = {.cond = 1};

	start_big_put(&w, db, 0);
	ck_assert_int_eq(blt_put(db, "big", 3, "newer", 5, BLT_NOW), 0);
	ck_assert_int_eq(blt_flush(db), 0);
	ck_assert_int_eq(finish_big_put(&w), 0);
	expect(db, "big", "newer", 5);

	ck_assert_int_eq(blt_put(db, "big", 3, "old", 3, BLT_NOW), 0);
	start_big_put(&w, db, 0);
	ck_assert_int_eq(finish_big_put(&w), 1);
	expect(db, "big", big, BIG);
	ck_assert_uint_eq(count_keys(db), 101);
	ck_assert_int_eq(blt_close(db), 0);
	expect_after_reopen(big, BIG);
}
END_TEST

static Suite *
direct_suite(void)
{
	Suite *s = suite_create("direct");
	TCase *tc = tcase_create("unlocked");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(
	    tc, reads_and_small_puts_go_on_while_a_big_value_is_written);
	tcase_add_test(
	    tc, a_prune_or_clear_meanwhile_does_not_lose_the_big_value);
	tcase_add_test(tc, a_put_ended_while_a_prune_copies_is_kept);
	tcase_add_test(tc, a_copy_of_a_big_value_goes_on_through_a_prune);
	tcase_add_test(tc, a_big_value_that_fails_half_way_leaves_the_old_one);
	tcase_add_test(tc, a_put_in_steps_takes_effect_at_its_end);
	tcase_add_test(tc, a_big_conditional_put_yields_to_a_write_meanwhile);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(direct_suite());
}
