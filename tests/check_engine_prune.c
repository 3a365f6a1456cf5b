/*
 * check_engine_prune.c: prune and reindex: what a prune keeps and drops,
 * the index sizes BLT_FIT picks and the largest one booklet makes, the
 * file generations a prune makes (descriptors, a writer that waited for the
 * lock through it), the lock against a second writer, a prune while
 * other threads read and write, and the scan of what came after a mark,
 * which a prune or a clear must refuse.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "booklet.h"
#include "internal.h"
#include "testutil.h"

START_TEST(prune_drops_old_keys_but_keeps_the_keep_list_and_metadata)
{
	struct blt *db = tu_open_new(0, 0, 12007, BLT_SER_STR);
	const unsigned char *keep[] = {(const unsigned char *)"old2"};
	size_t keep_len[] = {4};
	struct blt_prune_opts po = {TU_T0 + 100, 1, keep, keep_len, 0};
	unsigned char buf[16];

	tu_put(db, "old1", "1", TU_T0);
	tu_put(db, "old2", "2", TU_T0 + 1);
	tu_put(db, "new", "3", TU_T0 + 200);
	ck_assert_int_eq(blt_set_meta(db, "{}", 2, TU_T0), 0);
	ck_assert_int_eq(blt_prune(db, &po), 1);
	ck_assert_int_eq(blt_exists(db, "old1", 4), 0);
	ck_assert_int_eq(blt_exists(db, "old2", 4), 1);
	ck_assert_int_eq(blt_exists(db, "new", 3), 1);
	ck_assert_int_eq(blt_get_meta(db, buf, sizeof buf, NULL), 2);
	ck_assert_uint_eq(blt_count(db), 2);
	ck_assert_int_eq(blt_close(db), 0);
	ck_assert_int_eq(blt_check(tu_store, 0, NULL, NULL), 0);
}
END_TEST

/* A new store of 5 buckets holding 20 keys, which it was not let grow for
 * (as a v4 store from booklet < 0.10). */
static struct blt *
open_overfull(void)
{
	struct blt *db = tu_open_new(0, 0, 5, BLT_SER_STR);
	char k[16];

	db->prune_eof = UINT64_MAX; /* as while a prune copies: no reindex */
	for (int i = 0; i < 20; i++) {
		snprintf(k, sizeof k, "k%d", i);
		tu_put(db, k, "v", TU_T0);
	}
	ck_assert_int_eq(blt_flush(db), 0);
	db->prune_eof = 0;
	return db;
}

/* BLT_FIT grows an index that has more keys than buckets to the first size
 * that holds them, and leaves it at that when asked again: in a prune (the
 * mount's reindex job, which grew it 12-fold every time) and in
 * blt_reindex() (blt reindex without --buckets, one size more a run). */
START_TEST(fit_grows_to_the_size_the_keys_need_and_no_further)
{
	struct blt_prune_opts po = {.n_buckets = BLT_FIT};
	struct blt_stat st;

	for (int reindex = 0; reindex < 2; reindex++) {
		struct blt *db = open_overfull();

		ck_assert_int_eq(blt_info(db, &st), 0);
		ck_assert_uint_eq(st.n_buckets, 5);
		for (int run = 0; run < 2; run++) {
			int rc = reindex ? blt_reindex(db, BLT_FIT)
			                 : blt_prune(db, &po);

			ck_assert_msg(rc >= 0, "%s", blt_errmsg());
			ck_assert_int_eq(blt_info(db, &st), 0);
			ck_assert_uint_eq(st.n_buckets, 12007);
		}
		ck_assert_uint_eq(blt_count(db), 20);
		ck_assert_int_eq(blt_close(db), 0);
		ck_assert_int_eq(blt_check(tu_store, 0, NULL, NULL), 0);
	}
}
END_TEST

/* More keys than the largest size of booklet's sequence, 20736017
 * buckets, has room for: BLT_FIT and BLT_GROW say that it is the
 * maximum.  (The keys are counted, not put: 20 million would take long.) */
START_TEST(prune_to_fit_at_the_largest_size_says_it_is_the_maximum)
{
	struct blt_prune_opts po = {.n_buckets = BLT_FIT};
	struct blt *db = tu_open_new(0, 0, 20736017, BLT_SER_STR);
	struct blt_stat st;

	tu_put(db, "k", "v", TU_T0);
	ck_assert_int_eq(blt_flush(db), 0);
	db->n_keys = 20736018;
	ck_assert_int_eq(blt_prune(db, &po), -EINVAL);
	ck_assert_msg(
	    strstr(blt_errmsg(), "20736017 buckets is the maximum") != NULL,
	    "%s", blt_errmsg());
	po.n_buckets = BLT_GROW;
	ck_assert_int_eq(blt_prune(db, &po), -EINVAL);
	ck_assert_msg(
	    strstr(blt_errmsg(), "20736017 buckets is the maximum") != NULL,
	    "%s", blt_errmsg());
	db->n_keys = 1;
	ck_assert_int_eq(blt_info(db, &st), 0);
	ck_assert_uint_eq(st.n_buckets, 20736017);
	ck_assert_int_eq(blt_close(db), 0);
}
END_TEST

/* An index larger than the largest booklet makes (BLT_BUCKETS_MAX) is
 * refused by blt_reindex() and by a prune that grows the index (the mount's
 * reindex job), with the store's name and the limit; the store stays as it
 * was.  Both used to make one. */
START_TEST(reindex_past_the_largest_index_is_refused)
{
	struct blt_prune_opts po = {.n_buckets = BLT_BUCKETS_MAX + 1};
	struct blt *db = tu_open_new(0, 0, 12007, BLT_SER_STR);
	struct blt_stat st;
	struct stat fst;
	off_t size;

	tu_put(db, "k", "v", TU_T0);
	ck_assert_int_eq(blt_flush(db), 0);
	ck_assert_int_eq(stat(tu_store, &fst), 0);
	size = fst.st_size;
	ck_assert_int_eq(blt_reindex(db, BLT_BUCKETS_MAX + 1), -EINVAL);
	ck_assert_msg(strstr(blt_errmsg(), tu_store) != NULL &&
	                  strstr(blt_errmsg(), "20736018 buckets") != NULL &&
	                  strstr(blt_errmsg(), "largest booklet makes, "
	                                       "20736017 buckets") != NULL,
	    "%s", blt_errmsg());
	ck_assert_int_eq(blt_prune(db, &po), -EINVAL);
	ck_assert_msg(strstr(blt_errmsg(), "20736017 buckets") != NULL, "%s",
	    blt_errmsg());
	ck_assert_int_eq(blt_info(db, &st), 0);
	ck_assert_uint_eq(st.n_buckets, 12007);
	ck_assert_int_eq(stat(tu_store, &fst), 0);
	ck_assert_int_eq(fst.st_size, size);
	ck_assert_int_eq(blt_close(db), 0);
}
END_TEST

/* So is a new store with such an index (24 GiB of it at the most, written
 * before the open returns): no file is made. */
START_TEST(create_past_the_largest_index_is_refused)
{
	struct blt_options o;
	struct blt *db = NULL;
	struct stat fst;

	blt_options_default(&o);
	o.n_buckets = BLT_BUCKETS_MAX + 1;
	unlink(tu_store);
	ck_assert_int_eq(blt_open(tu_store, BLT_CREATE, &o, &db), -EINVAL);
	ck_assert_ptr_null(db);
	ck_assert_msg(strstr(blt_errmsg(), tu_store) != NULL &&
	                  strstr(blt_errmsg(), "largest booklet makes, "
	                                       "20736017 buckets") != NULL,
	    "%s", blt_errmsg());
	ck_assert_int_eq(stat(tu_store, &fst), -1);
}
END_TEST

/* An index larger than the 4 MiB a prune writes at a time (699,050
 * buckets) goes out a chunk after the other: after a prune of a store of
 * 1,500,007 buckets, with keys in each of its three chunks, the store
 * checks clean and every key is found with its last value. */
START_TEST(prune_writes_an_index_larger_than_its_chunk)
{
	enum { KEYS = 3000, BUCKETS = 1500007, PER_CHUNK = (4 << 20) / 6 };
	struct blt *db = tu_open_new(0, 0, BUCKETS, BLT_SER_STR);
	unsigned char d[HASH_LEN];
	int in_chunk[3] = {0, 0, 0};
	char k[16], v[16], buf[16];

	for (int round = 0; round < 2; round++)
		for (int i = round; i < KEYS; i += round + 1) {
			snprintf(k, sizeof k, "k%d", i);
			snprintf(v, sizeof v, "v%d.%d", i, round);
			tu_put(db, k, v, TU_T0);
		}
	ck_assert_int_eq(blt_flush(db), 0);
	/* keys 1, 3, 5... were written twice: 1,500 dead blocks */
	ck_assert_int_eq(blt_prune(db, NULL), KEYS / 2);
	ck_assert_int_eq(blt_close(db), 0);
	ck_assert_int_eq(blt_check(tu_store, 0, NULL, NULL), 0);
	db = tu_reopen(BLT_RDONLY);
	for (int i = 0; i < KEYS; i++) {
		snprintf(k, sizeof k, "k%d", i);
		snprintf(v, sizeof v, "v%d.%d", i, i % 2);
		hash_digest(k, strlen(k), d);
		in_chunk[hash_bucket(d, BUCKETS) / PER_CHUNK]++;
		ck_assert_int_eq(
		    blt_get(db, k, strlen(k), buf, sizeof buf, NULL),
		    strlen(v));
		ck_assert_mem_eq(buf, v, strlen(v));
	}
	for (int c = 0; c < 3; c++)
		ck_assert_int_gt(in_chunk[c], 0);
	ck_assert_uint_eq(blt_count(db), KEYS);
	ck_assert_int_eq(blt_close(db), 0);
}
END_TEST

/* A damaged store where one key has two live blocks (a copy of its block
 * with another value appended by hand): prune keeps the later one, as an
 * overwrite would have, and counts the key once. */
START_TEST(prune_keeps_the_later_of_two_live_blocks_of_a_key)
{
	struct blt *db = tu_open_new(0, 0, 12007, BLT_SER_STR);
	unsigned char blk[64];
	struct blt_entry e;
	char buf[8];
	off_t end;
	size_t head = VAR_FIXED_LEN + TS_LEN, size = head + 1 + 3;
	int fd;

	tu_put(db, "k", "one", TU_T0);
	tu_put(db, "other", "x", TU_T0);
	ck_assert_int_eq(blt_find(db, "k", 1, &e), 0);
	ck_assert_int_eq(blt_close(db), 0);
	fd = open(tu_store, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(
	    pread(fd, blk, size, (off_t)e.value_off - (off_t)head - 1),
	    (ssize_t)size);
	memcpy(blk + head + 1, "two", 3);
	end = lseek(fd, 0, SEEK_END);
	ck_assert_int_eq(pwrite(fd, blk, size, end), (ssize_t)size);
	close(fd);
	db = tu_reopen(BLT_RDWR);
	ck_assert_int_eq(blt_prune(db, NULL), 0);
	ck_assert_int_eq(blt_get(db, "k", 1, buf, sizeof buf, NULL), 3);
	ck_assert_int_eq(memcmp(buf, "two", 3), 0);
	ck_assert_uint_eq(blt_count(db), 2);
	ck_assert_int_eq(blt_close(db), 0);
	ck_assert_int_eq(blt_check(tu_store, 0, NULL, NULL), 0);
}
END_TEST

/* A descriptor from blt_dup_fd() reads a value where blt_find() of the
 * same generation says it lies, before a prune and after it (from the old
 * file, which the prune replaced, and from the new one). */
static void
expect_at(int fd, const struct blt_entry *e, const char *v)
{
	char got[64];

	ck_assert_uint_eq(e->value_len, strlen(v));
	ck_assert_int_eq(pread(fd, got, e->value_len, (off_t)e->value_off),
	    (ssize_t)e->value_len);
	ck_assert_int_eq(memcmp(got, v, e->value_len), 0);
}

START_TEST(a_duplicate_descriptor_matches_its_generation)
{
	struct blt *db = tu_open_new(0, 0, 12007, BLT_SER_NONE);
	struct blt_entry before, after;
	uint64_t g0, g1;
	int fd0, fd1;

	tu_put(db, "gone", "dropped by the prune", TU_T0);
	tu_put(db, "kept", "moves in the prune", TU_T0);
	ck_assert_int_eq(blt_flush(db), 0);
	ck_assert_int_eq(blt_del(db, "gone", 4), 0);
	ck_assert_int_ge(fd0 = blt_dup_fd(db, &g0), 0);
	ck_assert_int_eq(blt_find(db, "kept", 4, &before), 0);
	ck_assert_uint_eq(before.gen, g0);
	ck_assert_int_eq(blt_prune(db, NULL), 1);
	ck_assert_int_ge(fd1 = blt_dup_fd(db, &g1), 0);
	ck_assert_int_eq(blt_find(db, "kept", 4, &after), 0);
	ck_assert_uint_eq(after.gen, g1);
	ck_assert_uint_ne(g1, g0);
	ck_assert_uint_ne(after.value_off, before.value_off);
	expect_at(fd0, &before, "moves in the prune");
	expect_at(fd1, &after, "moves in the prune");
	close(fd0);
	close(fd1);
	ck_assert_int_eq(blt_close(db), 0);
}
END_TEST

START_TEST(a_second_writer_is_refused_with_a_clear_message)
{
	struct blt *db = tu_open_new(0, 0, 12007, BLT_SER_NONE), *db2;
	struct blt_options o;

	blt_options_default(&o);
	o.lock_timeout = 0;
	ck_assert_int_eq(blt_open(tu_store, BLT_RDWR, &o, &db2), -EWOULDBLOCK);
	ck_assert_ptr_nonnull(strstr(blt_errmsg(), "locked"));
	ck_assert_int_eq(blt_close(db), 0);
}
END_TEST

/* Wait until some open of the file whose inode is ino waits for its
 * flock (a "->" line of /proc/locks). */
static void
wait_for_lock_waiter(ino_t ino)
{
	char want[32], line[256];

	snprintf(want, sizeof want, ":%lu ", (unsigned long)ino);
	for (long polls = 0; polls < 100000; polls++) {
		FILE *f = fopen("/proc/locks", "r");
		int found = 0;

		ck_assert_ptr_nonnull(f);
		while (!found && fgets(line, sizeof line, f) != NULL)
			found = strstr(line, "-> FLOCK") != NULL &&
			        strstr(line, want) != NULL;
		fclose(f);
		if (found)
			return;
		usleep(100);
	}
	ck_abort_msg("no process came to wait for the lock");
}

static void *
put_after_waiting(void *arg)
{
	struct blt *db;

	(void)arg;
	ck_assert_msg(
	    blt_open(tu_store, BLT_RDWR, NULL, &db) == 0, "%s", blt_errmsg());
	tu_put(db, "after", "the prune", TU_T0);
	ck_assert_int_eq(blt_close(db), 0);
	return NULL;
}

/* A prune renames a new file into the store's place while it holds the
 * lock; a writer that was waiting for the lock must write to the new
 * file, not to the old one, which nobody will read again. */
START_TEST(a_writer_that_waited_through_a_prune_writes_to_the_new_file)
{
	struct blt *db = tu_open_new(0, 0, 12007, BLT_SER_NONE);
	char buf[16];
	struct stat st;
	pthread_t t;

	tu_put(db, "before", "the prune", TU_T0);
	ck_assert_int_eq(blt_sync(db), 0);
	ck_assert_int_eq(stat(tu_store, &st), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, put_after_waiting, NULL), 0);
	wait_for_lock_waiter(st.st_ino);
	ck_assert_msg(blt_prune(db, NULL) >= 0, "%s", blt_errmsg());
	ck_assert_int_eq(blt_close(db), 0);
	pthread_join(t, NULL);
	db = tu_reopen(BLT_RDONLY);
	ck_assert_int_eq(blt_get(db, "before", 6, buf, sizeof buf, NULL), 9);
	ck_assert_int_eq(blt_get(db, "after", 5, buf, sizeof buf, NULL), 9);
	ck_assert_int_eq(blt_close(db), 0);
}
END_TEST

/* Online prune: a writer and a reader run while another thread prunes. */
struct online {
	struct blt *db;
	int stop;
	char *val[500];
	int64_t ts[500];
	unsigned seed;
	long reads;
};

static void *
online_writer(void *arg)
{
	struct online *on = arg;

	for (int step = 0; step < 20000; step++) {
		int i = rand_r(&on->seed) % 500, op = rand_r(&on->seed) % 10;
		char k[16], v[48];

		snprintf(k, sizeof k, "w/%d", i);
		if (op < 6) {
			snprintf(v, sizeof v, "v%d", step);
			ck_assert_int_eq(blt_put(on->db, k, strlen(k), v,
			                     strlen(v), TU_T0 + step),
			    0);
			free(on->val[i]);
			on->val[i] = strdup(v);
			on->ts[i] = TU_T0 + step;
		} else if (op < 9) {
			int rc = blt_del(on->db, k, strlen(k));

			ck_assert_int_eq(rc, on->val[i] ? 0 : -ENOENT);
			free(on->val[i]);
			on->val[i] = NULL;
		} else if (on->val[i] != NULL) {
			ck_assert_int_eq(blt_set_timestamp(on->db, k, strlen(k),
			                     TU_T0 + 100000 + step),
			    0);
			on->ts[i] = TU_T0 + 100000 + step;
		}
	}
	return NULL;
}

static void *
online_reader(void *arg)
{
	struct online *on = arg;
	char k[16], buf[32];

	while (!__atomic_load_n(&on->stop, __ATOMIC_ACQUIRE)) {
		int i = rand() % 200;

		snprintf(k, sizeof k, "stable/%d", i);
		ck_assert_msg(blt_get(on->db, k, strlen(k), buf, sizeof buf,
		                  NULL) == (ssize_t)strlen(k),
		    "%s: %s", k, blt_errmsg());
		on->reads++;
	}
	return NULL;
}

START_TEST(prune_while_others_read_and_write_keeps_every_change)
{
	struct online on = {.db = tu_open_new(0, 0, 12007, BLT_SER_STR)};
	pthread_t w, r;
	char k[16];
	int prunes = 0;

	on.seed = tu_seed();
	for (int i = 0; i < 200; i++) {
		snprintf(k, sizeof k, "stable/%d", i);
		tu_put(on.db, k, k, TU_T0);
	}
	ck_assert_int_eq(pthread_create(&w, NULL, online_writer, &on), 0);
	ck_assert_int_eq(pthread_create(&r, NULL, online_reader, &on), 0);
	for (;;) {
		ck_assert_msg(blt_prune(on.db, NULL) >= 0, "%s", blt_errmsg());
		prunes++;
		if (pthread_tryjoin_np(w, NULL) == 0)
			break;
	}
	__atomic_store_n(&on.stop, 1, __ATOMIC_RELEASE);
	pthread_join(r, NULL);
	fprintf(
	    stderr, "online prune: %d prunes, %ld reads\n", prunes, on.reads);
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < 500; i++) {
			char buf[48];
			int64_t ts;
			ssize_t n;

			snprintf(k, sizeof k, "w/%d", i);
			n = blt_get(on.db, k, strlen(k), buf, sizeof buf, &ts);
			if (on.val[i] == NULL) {
				ck_assert_msg(n == -ENOENT, "%s present", k);
				continue;
			}
			ck_assert_msg(
			    n == (ssize_t)strlen(on.val[i]) &&
			        memcmp(buf, on.val[i], (size_t)n) == 0,
			    "%s: %zd", k, n);
			ck_assert_int_eq(ts, on.ts[i]);
		}
		ck_assert_int_eq(blt_close(on.db), 0);
		ck_assert_int_eq(blt_check(tu_store, 0, NULL, NULL), 0);
		on.db = tu_reopen(BLT_RDWR);
	}
	ck_assert_int_eq(blt_close(on.db), 0);
	for (int i = 0; i < 500; i++)
		free(on.val[i]);
}
END_TEST

/* A store of 5 buckets grown by 40 keys: reindexed past its first index
 * (to 12007 buckets), as the reference's stores of more keys are. */
static struct blt *
open_grown(void)
{
	struct blt *db = tu_open_new(0, 0, 5, BLT_SER_STR);
	struct blt_stat st;
	char k[16];

	for (int i = 0; i < 40; i++) {
		snprintf(k, sizeof k, "k%02d", i);
		tu_put(db, k, "v", TU_T0);
	}
	ck_assert_int_eq(blt_flush(db), 0);
	ck_assert_int_eq(blt_info(db, &st), 0);
	ck_assert_uint_eq(st.n_buckets, 12007);
	ck_assert_uint_eq(st.first_data, 200 + 6 * 5);
	return db;
}

/* The mark of a whole scan of db: how many keys the scan gave, or the
 * error of blt_iter_mark(). */
static int
mark_of_a_scan(struct blt *db, struct blt_mark *m)
{
	struct blt_iter *it;
	struct blt_item item;
	int rc, n = 0;

	ck_assert_int_eq(blt_iter_create(db, &it), 0);
	ck_assert_int_eq(blt_iter_mark(it, m), -EINVAL); /* not at its end */
	while ((rc = blt_iter_next(it, &item)) > 0)
		n++;
	ck_assert_int_eq(rc, 0);
	rc = blt_iter_mark(it, m);
	blt_iter_free(it);
	return rc < 0 ? rc : n;
}

/* The keys of a scan since m, each followed by a space, into out (NULL
 * to count them only): how many, or the error of its start. */
static int
keys_since(struct blt *db, const struct blt_mark *m, char *out, size_t cap)
{
	struct blt_iter *it;
	struct blt_item item;
	struct blt_mark again;
	size_t len = 0;
	int rc, n = 0;

	if (out != NULL)
		out[0] = '\0';
	if ((rc = blt_iter_create_since(db, m, &it)) < 0) {
		ck_assert_ptr_null(it);
		return rc;
	}
	while ((rc = blt_iter_next(it, &item)) > 0) {
		n++;
		if (out == NULL)
			continue;
		ck_assert_uint_lt(len + item.klen + 1, cap);
		memcpy(out + len, item.key, item.klen);
		len += item.klen;
		out[len++] = ' ';
		out[len] = '\0';
	}
	ck_assert_int_eq(rc, 0); /* no count of the store's keys to miss */
	ck_assert_int_eq(blt_iter_mark(it, &again), -EINVAL); /* a part */
	blt_iter_free(it);
	return n;
}

/* After a mark, puts, an overwrite, deletes and a reindex: the scan since
 * the mark gives the keys put since that are live, in file order, and
 * not the index a reindex put after the mark; the same after a reopen,
 * as the next mount of the store sees it. */
START_TEST(a_scan_since_a_mark_gives_what_came_after_it)
{
	struct blt *db = open_grown();
	struct blt_stat st;
	struct blt_mark m;
	char got[256];
	char k[16];

	ck_assert_int_eq(mark_of_a_scan(db, &m), 40);
	ck_assert_int_eq(blt_info(db, &st), 0);
	ck_assert_uint_eq(m.end, st.file_bytes);
	ck_assert_int_eq(keys_since(db, &m, got, sizeof got), 0);
	tu_put(db, "new/a", "1", TU_T0);
	tu_put(db, "k03", "overwritten", TU_T0);
	ck_assert_int_eq(blt_del(db, "k04", 3), 0);
	tu_put(db, "new/b", "2", TU_T0);
	ck_assert_int_eq(blt_del(db, "new/b", 5), 0);
	tu_put(db, "new/c", "3", TU_T0);
	ck_assert_int_eq(keys_since(db, &m, got, sizeof got), 3);
	ck_assert_str_eq(got, "new/a k03 new/c ");
	ck_assert_int_eq(blt_close(db), 0);
	db = tu_reopen(BLT_RDONLY);
	ck_assert_int_eq(keys_since(db, &m, got, sizeof got), 3);
	ck_assert_str_eq(got, "new/a k03 new/c ");
	ck_assert_int_eq(blt_close(db), 0);

	/* 12,010 keys more grow the index past 12007 buckets, at the end */
	db = tu_reopen(BLT_RDWR);
	for (int i = 0; i < 12010; i++) {
		snprintf(k, sizeof k, "z%05d", i);
		tu_put(db, k, "v", TU_T0);
	}
	ck_assert_int_eq(blt_close(db), 0);
	db = tu_reopen(BLT_RDONLY);
	ck_assert_int_eq(blt_info(db, &st), 0);
	ck_assert_uint_eq(st.n_buckets, 144013);
	ck_assert_int_eq(keys_since(db, &m, NULL, 0), 3 + 12010);
	ck_assert_int_eq(blt_close(db), 0);
}
END_TEST

/* What the scan since a mark must refuse, as blocks before the mark's end
 * may have moved or gone: a prune (also one that drops nothing), a
 * clear, a store in its first index (whose clear the header cannot
 * tell), another store's file, and the file of an older copy. */
START_TEST(a_scan_since_a_mark_is_refused_when_blocks_may_have_moved)
{
	struct blt_prune_opts po = {0};
	struct blt *db = open_grown();
	struct blt_mark m, bad;

	ck_assert_int_eq(mark_of_a_scan(db, &m), 40);
	tu_put(db, "new/a", "1", TU_T0);

	bad = m;
	bad.uuid[0] ^= 1;
	ck_assert_int_eq(keys_since(db, &bad, NULL, 0), -ESTALE);
	ck_assert_ptr_nonnull(strstr(blt_errmsg(), "another store"));
	bad = m;
	bad.last_digest[0] ^= 1;
	ck_assert_int_eq(keys_since(db, &bad, NULL, 0), -ESTALE);
	ck_assert_ptr_nonnull(strstr(blt_errmsg(), "not where they were"));
	bad = m;
	bad.end += 1u << 20;
	ck_assert_int_eq(keys_since(db, &bad, NULL, 0), -ESTALE);
	ck_assert_ptr_nonnull(strstr(blt_errmsg(), "shorter"));
	ck_assert_int_eq(keys_since(db, &m, NULL, 0), 1);

	ck_assert_int_eq(blt_prune(db, &po), 0);
	ck_assert_int_eq(keys_since(db, &m, NULL, 0), -ESTALE);
	ck_assert_ptr_nonnull(strstr(blt_errmsg(), "pruned, cleared"));
	/* a store pruned once gets no mark, as it could not tell of the next
	 * prune; nor is one made so taken */
	ck_assert_int_eq(mark_of_a_scan(db, &bad), -EOPNOTSUPP);
	ck_assert_ptr_nonnull(strstr(blt_errmsg(), "first index"));
	m.first_data = 200;
	ck_assert_int_eq(keys_since(db, &m, NULL, 0), -ESTALE);
	ck_assert_ptr_nonnull(strstr(blt_errmsg(), "first index"));
	ck_assert_int_eq(blt_close(db), 0);

	db = open_grown();
	ck_assert_int_eq(mark_of_a_scan(db, &m), 40);
	ck_assert_int_eq(blt_clear(db), 0);
	for (int i = 0; i < 40; i++) /* the same keys again */
		tu_put(db,
		    (char[]){
		        'k', (char)('0' + i / 10), (char)('0' + i % 10), 0},
		    "v", TU_T0);
	ck_assert_int_eq(keys_since(db, &m, NULL, 0), -ESTALE);
	ck_assert_int_eq(blt_close(db), 0);

	db = tu_open_new(0, 0, 12007, BLT_SER_STR);
	tu_put(db, "a/1", "1", TU_T0);
	ck_assert_int_eq(mark_of_a_scan(db, &m), -EOPNOTSUPP);
	ck_assert_int_eq(blt_close(db), 0);
}
END_TEST

/* How many keys a sample of the chains of buckets buckets gives, each
 * checked to be a live key of db; *sum adds up their numbers (kNN). */
static int
sample_keys(struct blt *db, uint32_t buckets, int *sum)
{
	struct blt_iter *it;
	struct blt_item item;
	struct blt_mark m;
	int rc, n = 0;

	*sum = 0;
	ck_assert_int_eq(blt_iter_create_sample(db, buckets, &it), 0);
	while ((rc = blt_iter_next(it, &item)) > 0) {
		ck_assert_int_eq(blt_exists(db, item.key, item.klen), 1);
		ck_assert_uint_eq(item.klen, 3);
		*sum += (item.key[1] - '0') * 10 + item.key[2] - '0';
		n++;
	}
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(blt_iter_mark(it, &m), -EINVAL); /* a sample */
	blt_iter_free(it);
	return n;
}

/* A sample of every bucket gives every live key once, deleted and
 * overwritten ones included only as they are now; of no bucket, none; a
 * chain that loops is followed 64 blocks; and a chain that leads out of
 * the file ends it quietly, as it vouches for nothing (a scan reports the
 * damage). */
START_TEST(a_sample_gives_the_live_keys_of_its_buckets)
{
	struct blt *db = open_grown();
	struct blt_stat st;
	uint64_t slot, head;
	uint32_t b;
	int sum, n;

	ck_assert_int_eq(blt_del(db, "k07", 3), 0);
	tu_put(db, "k08", "again", TU_T0);
	ck_assert_int_eq(blt_set_meta(db, "{}", 2, TU_T0), 0); /* internal */
	ck_assert_int_eq(blt_flush(db), 0);
	ck_assert_int_eq(sample_keys(db, UINT32_MAX, &sum), 39);
	ck_assert_int_eq(sum, 39 * 40 / 2 - 7);
	ck_assert_int_eq(sample_keys(db, 0, &sum), 0);
	n = sample_keys(db, 6000, &sum); /* about half */
	ck_assert_int_gt(n, 0);
	ck_assert_int_lt(n, 39);
	ck_assert_int_eq(blt_close(db), 0);

	/* a chain that loops, as a reindex that failed half-way may leave:
	 * its first block comes 64 times, and the sample ends */
	db = tu_reopen(BLT_RDWR);
	ck_assert_int_eq(blt_info(db, &st), 0);
	for (b = 0; (head = io_get_ptr(db, st.index_offset + 6 * b)) <= 1; b++)
		;
	ck_assert_int_eq(io_put_ptr(db, head + 13, head), 0);
	n = sample_keys(db, UINT32_MAX, &sum);
	ck_assert_int_ge(n, 64);
	ck_assert_int_le(n, 39 + 63);
	ck_assert_int_eq(blt_close(db), 0);

	/* every bucket's head out of the file */
	db = tu_reopen(BLT_RDWR);
	ck_assert_int_eq(blt_info(db, &st), 0);
	for (b = 0; b < st.n_buckets; b++) {
		slot = st.index_offset + 6 * (uint64_t)b;
		if (io_get_ptr(db, slot) > 1)
			ck_assert_int_eq(
			    io_put_ptr(db, slot, st.file_bytes + 64), 0);
	}
	ck_assert_int_eq(sample_keys(db, UINT32_MAX, &sum), 0);
	ck_assert_int_eq(blt_close(db), 0);
}
END_TEST

static Suite *
engine_prune_suite(void)
{
	Suite *s = suite_create("engine_prune");
	TCase *tc = tu_store_tcase("format", 120);

	tcase_add_test(
	    tc, prune_drops_old_keys_but_keeps_the_keep_list_and_metadata);
	tcase_add_test(tc, fit_grows_to_the_size_the_keys_need_and_no_further);
	tcase_add_test(
	    tc, prune_to_fit_at_the_largest_size_says_it_is_the_maximum);
	tcase_add_test(tc, reindex_past_the_largest_index_is_refused);
	tcase_add_test(tc, create_past_the_largest_index_is_refused);
	tcase_add_test(tc, prune_writes_an_index_larger_than_its_chunk);
	tcase_add_test(tc, prune_keeps_the_later_of_two_live_blocks_of_a_key);
	tcase_add_test(tc, a_duplicate_descriptor_matches_its_generation);
	tcase_add_test(tc, a_second_writer_is_refused_with_a_clear_message);
	tcase_add_test(
	    tc, a_writer_that_waited_through_a_prune_writes_to_the_new_file);
	tcase_add_test(
	    tc, prune_while_others_read_and_write_keeps_every_change);
	tcase_add_test(tc, a_scan_since_a_mark_gives_what_came_after_it);
	tcase_add_test(
	    tc, a_scan_since_a_mark_is_refused_when_blocks_may_have_moved);
	tcase_add_test(tc, a_sample_gives_the_live_keys_of_its_buckets);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(engine_prune_suite());
}
