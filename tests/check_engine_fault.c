/*
 * check_engine_fault.c: writes that fail: a disk that fills up (made by the
 * file size limit), a torn append that cannot be cut back, an automatic
 * reindex that fails at each of its syncs, a sync that fails after marking
 * values live (through io.c's hook).  No key
 * stored before is lost, and a store that cannot take more writes says so
 * and is recovered by its next open.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "booklet.h"
#include "internal.h"
#include "testutil.h"

/* Let the store's file grow by room more bytes, as a full disk would: a
 * write past that fails with EFBIG part of the way through (SIGXFSZ is
 * ignored).  *saved gets the limit to put back. */
static void
limit_file_size(struct blt *db, rlim_t room, struct rlimit *saved)
{
	struct rlimit lim;
	struct stat st;

	signal(SIGXFSZ, SIG_IGN);
	ck_assert_int_eq(blt_sync(db), 0);
	ck_assert_int_eq(stat(tu_store, &st), 0);
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, saved), 0);
	lim = *saved;
	lim.rlim_cur = (rlim_t)st.st_size + room;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
}

/* A full disk, made by the file size limit, which fails a write the same
 * way part of the way through (SIGXFSZ ignored: EFBIG).  A big value and
 * a buffered flush fail and are not stored; an index that cannot grow
 * leaves the chains longer and the puts stored.  Once there is room again,
 * puts work, and the store reopens with every key that was stored and
 * checks clean: nothing torn lies under the later appends.  A close that
 * fails the same way leaves the store clean. */
START_TEST(a_full_disk_fails_puts_and_loses_nothing)
{
	static unsigned char big[5 << 20]; /* past the 4 MiB write buffer */
	struct blt *db = tu_open_new(0, 0, 12007, BLT_SER_NONE);
	struct rlimit saved;
	char k[32], v[32], got[32];
	int i, rc, stored = 0;

	for (i = 0; i < 100; i++) {
		snprintf(k, sizeof k, "before%d", i);
		tu_put(db, k, "kept", TU_T0);
	}
	/* room for 12,000 small keys, not for the next index (864 KB) */
	limit_file_size(db, 800000, &saved);

	memset(big, 'b', sizeof big);
	rc = blt_put(db, "big", 3, big, sizeof big, TU_T0);
	ck_assert_int_eq(rc < 0 ? rc : blt_flush(db), -EFBIG);
	ck_assert_int_eq(blt_exists(db, "big", 3), 0);
	/* past 12,007 keys the index would grow: it cannot, and the puts
	 * still go in, until the data itself finds no room */
	for (i = 0; i < 20000; i++) {
		snprintf(k, sizeof k, "key%05d", i);
		snprintf(v, sizeof v, "value %d", i);
		if ((rc = blt_put(db, k, strlen(k), v, strlen(v), TU_T0)) == 0)
			rc = blt_flush(db);
		if (rc < 0)
			break;
		stored++;
	}
	ck_assert_int_eq(rc, -EFBIG);
	ck_assert_int_gt(stored, 12007);
	ck_assert_int_eq(blt_exists(db, k, strlen(k)), 0);

	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &saved), 0);
	tu_put(db, "after", "room again", TU_T0);
	ck_assert_int_eq(blt_close(db), 0);

	/* a close whose last flush finds no room fails, and leaves the
	 * store clean: readers, which refuse an unclean one, open it */
	db = tu_reopen(BLT_RDWR);
	limit_file_size(db, 0, &saved);
	ck_assert_int_eq(blt_put(db, "late", 4, big, 1 << 20, TU_T0), 0);
	ck_assert_int_eq(blt_close(db), -EFBIG);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &saved), 0);

	ck_assert_msg(
	    blt_check(tu_store, 0, NULL, NULL) == 0, "%s", blt_errmsg());
	db = tu_reopen(BLT_RDONLY);
	for (i = 0; i < 100; i++) {
		snprintf(k, sizeof k, "before%d", i);
		ck_assert_int_eq(blt_exists(db, k, strlen(k)), 1);
	}
	for (i = 0; i < stored; i++) {
		snprintf(k, sizeof k, "key%05d", i);
		snprintf(v, sizeof v, "value %d", i);
		ck_assert_int_eq(
		    blt_get(db, k, strlen(k), got, sizeof got, NULL),
		    (ssize_t)strlen(v));
		ck_assert_int_eq(memcmp(got, v, strlen(v)), 0);
	}
	ck_assert_int_eq(blt_exists(db, "after", 5), 1);
	ck_assert_int_eq(blt_exists(db, "big", 3), 0);
	ck_assert_int_eq(blt_exists(db, "late", 4), 0);
	ck_assert_int_eq(blt_close(db), 0);
}
END_TEST

static int
fail_truncates(void *arg, int op, int fd, uint64_t off, size_t len)
{
	(void)arg;
	(void)fd;
	(void)off;
	(void)len;
	return op == IO_OP_TRUNCATE ? -EIO : 0;
}

/* db takes no more writes: a put, a prune, a clear and a reindex each fail
 * with EIO and say to reopen the store, and change nothing. */
static void
assert_stopped(struct blt *db)
{
	uint64_t n = blt_count(db);
	int rc;

	if ((rc = blt_put(db, "after", 5, "x", 1, TU_T0)) == 0)
		rc = blt_flush(db);
	ck_assert_int_eq(rc, -EIO);
	ck_assert_msg(strstr(blt_errmsg(), "reopen the store") != NULL, "%s",
	    blt_errmsg());
	ck_assert_int_eq(blt_prune(db, NULL), -EIO);
	ck_assert_int_eq(blt_clear(db), -EIO);
	ck_assert_int_eq(blt_reindex(db, 0), -EIO);
	ck_assert_msg(strstr(blt_errmsg(), "reopen the store") != NULL, "%s",
	    blt_errmsg());
	ck_assert_uint_eq(blt_count(db), n);
}

/* A full disk whose file cannot even be cut back (the truncate fails too):
 * the torn bytes stay, so the store takes no more writes and says why
 * (also in blt_flags()), stays unclean, and its next open cuts the torn tail
 * and keeps every key stored before. */
START_TEST(a_torn_append_that_cannot_be_cut_stops_writes)
{
	static unsigned char big[5 << 20];
	struct blt *db = tu_open_new(0, 0, 12007, BLT_SER_NONE);
	struct rlimit saved;

	tu_put(db, "kept", "before", TU_T0);
	limit_file_size(db, 100000, &saved);
	io_set_hook(fail_truncates, NULL);
	ck_assert_int_eq(blt_put(db, "big", 3, big, sizeof big, TU_T0), -EFBIG);
	io_set_hook(NULL, NULL);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &saved), 0);
	ck_assert_int_eq(blt_flags(db), BLT_TORN_TAIL);

	assert_stopped(db);
	ck_assert_int_lt(blt_close(db), 0);

	db = tu_reopen(BLT_RDWR);
	ck_assert(blt_flags(db) & BLT_RECOVERED);
	ck_assert_int_eq(blt_exists(db, "kept", 4), 1);
	ck_assert_int_eq(blt_exists(db, "big", 3), 0);
	ck_assert_int_eq(blt_exists(db, "after", 5), 0);
	ck_assert_int_eq(blt_close(db), 0);
	ck_assert_msg(
	    blt_check(tu_store, 0, NULL, NULL) == 0, "%s", blt_errmsg());
}
END_TEST

static int fail_sync_at, syncs_seen;

static int
fail_one_sync(void *arg, int op, int fd, uint64_t off, size_t len)
{
	(void)arg;
	(void)fd;
	(void)off;
	(void)len;
	return op == IO_OP_SYNC && ++syncs_seen == fail_sync_at ? -EIO : 0;
}

/* The automatic reindex of a flush fails half-way, at each of its syncs:
 * the flush's puts are stored and still read, blt_flags() says
 * BLT_REINDEX_STUCK, the store takes no more writes and its close leaves
 * it unclean, so that the next open finishes or undoes the reindex and
 * every key is there.  (A clean close used to follow, and left chains
 * rewired into an index the header did not name: keys were lost.) */
START_TEST(a_reindex_that_fails_half_way_loses_no_flushed_put)
{
	char k[32];
	int i;

	for (fail_sync_at = 1; fail_sync_at <= 3; fail_sync_at++) {
		struct blt *db = tu_open_new(0, 0, 12007, BLT_SER_NONE);

		tu_put(db, "first", "flushed", TU_T0);
		ck_assert_int_eq(blt_flush(db), 0); /* marked unclean */
		for (i = 0; i < 13000; i++) {
			snprintf(k, sizeof k, "key%05d", i);
			tu_put(db, k, "v", TU_T0);
		}
		syncs_seen = 0;
		io_set_hook(fail_one_sync, NULL);
		ck_assert_int_eq(blt_flush(db), -EIO);
		io_set_hook(NULL, NULL);
		ck_assert(blt_flags(db) & BLT_REINDEX_STUCK);
		for (i = 0; i < 13000; i++) {
			snprintf(k, sizeof k, "key%05d", i);
			ck_assert_int_eq(blt_exists(db, k, strlen(k)), 1);
		}
		assert_stopped(db);
		ck_assert_int_lt(blt_close(db), 0);

		db = tu_reopen(BLT_RDWR);
		ck_assert(blt_flags(db) & BLT_RECOVERED);
		ck_assert_uint_eq(blt_count(db), 13001);
		for (i = 0; i < 13000; i++) {
			snprintf(k, sizeof k, "key%05d", i);
			ck_assert_int_eq(blt_exists(db, k, strlen(k)), 1);
		}
		ck_assert_int_eq(blt_close(db), 0);
		ck_assert_msg(blt_check(tu_store, 0, NULL, NULL) == 0, "%s",
		    blt_errmsg());
	}
}
END_TEST

static int fail_ptr_at, ptrs_seen;

/* Fail the fail_ptr_at-th pointer write (6 bytes) after it is set. */
static int
fail_one_ptr(void *arg, int op, int fd, uint64_t off, size_t len)
{
	(void)arg;
	(void)fd;
	(void)off;
	return op == IO_OP_WRITE && len == 6 && ++ptrs_seen == fail_ptr_at
	           ? -EIO
	           : 0;
}

/* A sync fails after its blocks began to be marked live, at a pointer
 * write of step 2 (linking; a failing fsync after it leaves every block
 * linked, and one before it leaves them dead).  Some
 * blocks may then be live but not linked, so the store takes no more
 * writes (BLT_FLUSH_STUCK) and its close leaves it unclean: the next open
 * links every live block, every key stored before is there, and the
 * store checks clean.  (A clean close used to follow, which left live
 * blocks that lookups missed and scans listed.) */
START_TEST(a_sync_that_fails_after_marking_values_live_stops_writes)
{
	enum { N = 10 };
	char k[32];
	int i, round;

	for (round = 1; round < 4; round++) {
		struct blt *db = tu_open_new(0, 0, 12007, BLT_SER_NONE);

		tu_put(db, "first", "flushed", TU_T0);
		ck_assert_int_eq(blt_flush(db), 0); /* marked unclean */
		for (i = 0; i < N; i++) {
			snprintf(k, sizeof k, "key%02d", i);
			tu_put(db, k, "v", TU_T0);
		}
		ptrs_seen = 0;
		fail_ptr_at = round * 4; /* pointer writes 4, 8, 12 */
		io_set_hook(fail_one_ptr, NULL);
		ck_assert_int_eq(blt_sync(db), -EIO);
		io_set_hook(NULL, NULL);
		ck_assert_msg(
		    blt_flags(db) & BLT_FLUSH_STUCK, "round %d", round);
		assert_stopped(db);
		ck_assert_int_lt(blt_close(db), 0);

		db = tu_reopen(BLT_RDWR);
		ck_assert(blt_flags(db) & BLT_RECOVERED);
		ck_assert_int_eq(blt_exists(db, "first", 5), 1);
		/* the failed sync's values are neither surely stored nor
		 * surely lost: those marked live before the failure come
		 * back, whole (linking a new key writes its block's next
		 * pointer, which marks it live, then its bucket slot: failing
		 * pointer write p, a slot, leaves p / 2 of them live) */
		ck_assert_int_eq(blt_count(db), 1 + fail_ptr_at / 2);
		ck_assert_int_eq(blt_close(db), 0);
		ck_assert_msg(blt_check(tu_store, 0, NULL, NULL) == 0, "%s",
		    blt_errmsg());
	}
}
END_TEST

/* An overwrite links its new block in two pointer writes, the new
 * block's next pointer (it is live) and the link from its predecessor;
 * the old blocks' tombstones follow once every link is synced (write.c).
 * Failed at each of these 3N writes in turn, a sync of N overwrites loses
 * no key: after recovery every key holds its new value, or its old one
 * when the failure came before its new block was live. */
START_TEST(an_overwrite_that_fails_half_way_loses_no_key)
{
	enum { N = 6 };
	char k[32], v[32];
	int i, p;

	for (p = 1; p <= 3 * N; p++) {
		struct blt *db = tu_open_new(0, 0, 12007, BLT_SER_NONE);

		for (i = 0; i < N; i++) {
			snprintf(k, sizeof k, "key%02d", i);
			tu_put(db, k, "old", TU_T0);
		}
		ck_assert_int_eq(blt_sync(db), 0);
		for (i = 0; i < N; i++) {
			snprintf(k, sizeof k, "key%02d", i);
			tu_put(db, k, "new", TU_T0);
		}
		ptrs_seen = 0;
		fail_ptr_at = p;
		io_set_hook(fail_one_ptr, NULL);
		ck_assert_int_eq(blt_sync(db), -EIO);
		io_set_hook(NULL, NULL);
		ck_assert_int_lt(blt_close(db), 0);

		db = tu_reopen(BLT_RDWR);
		ck_assert_int_eq(blt_count(db), N);
		for (i = 0; i < N; i++) {
			/* key i's links are writes 2i + 1 and 2i + 2 */
			const char *want = 2 * i + 1 < p ? "new" : "old";

			snprintf(k, sizeof k, "key%02d", i);
			ck_assert_int_eq(
			    blt_get(db, k, strlen(k), v, sizeof v, NULL), 3);
			ck_assert_msg(memcmp(v, want, 3) == 0,
			    "write %d failed: %s holds %.3s, not %s", p, k, v,
			    want);
		}
		ck_assert_int_eq(blt_close(db), 0);
		ck_assert_msg(blt_check(tu_store, 0, NULL, NULL) == 0, "%s",
		    blt_errmsg());
	}
}
END_TEST

static Suite *
engine_fault_suite(void)
{
	Suite *s = suite_create("engine_fault");
	TCase *tc = tu_store_tcase("format", 120);

	tcase_add_test(tc, a_full_disk_fails_puts_and_loses_nothing);
	tcase_add_test(tc, a_torn_append_that_cannot_be_cut_stops_writes);
	tcase_add_test(tc, an_overwrite_that_fails_half_way_loses_no_key);
	tcase_add_test(tc, a_reindex_that_fails_half_way_loses_no_flushed_put);
	tcase_add_test(
	    tc, a_sync_that_fails_after_marking_values_live_stops_writes);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(engine_fault_suite());
}
