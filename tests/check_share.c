/*
 * check_share.c: a store shared with other processes (blt_share()).  A
 * second open of the same file in this process stands for the other
 * process: flock(2) locks belong to open files, so the two exclude each
 * other as two processes would.  The shared store lets its lock go when
 * idle, sees what the other open did when it takes it again (appended
 * keys as a store that grew, a delete, a file put in its place as a
 * change), refuses writes without its exclusive lock, and gives up after
 * its lock timeout while the other open holds the store.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "booklet.h"
#include "testutil.h"

static char path[PATH_MAX];
static struct blt_change seen;
static int told;

static void
follow(void *arg, const struct blt_change *c)
{
	(void)arg;
	seen = *c;
	told++;
}

static void
setup(void)
{
	tu_tmpstore(path, sizeof path);
	memset(&seen, 0, sizeof seen);
	told = 0;
}

static void
teardown(void)
{
	tu_rmstore(path);
}

/* The store at path, made with key "a", shared (lock timeout t). */
static struct blt *
shared(int mode, double t)
{
	struct blt *db;

	ck_assert_int_eq(blt_open(path, BLT_TRUNC, NULL, &db), 0);
	tu_put(db, "a", "1", BLT_NOW);
	ck_assert_int_eq(blt_close(db), 0);
	ck_assert_int_eq(blt_open(path, mode, NULL, &db), 0);
	ck_assert_int_eq(blt_share(db, t, follow, NULL), 0);
	return db;
}

/* Another process's open for writing, which does not wait for the lock:
 * rc is what it gives. */
static struct blt *
other_open(int rc)
{
	struct blt_options o;
	struct blt *db = NULL;

	blt_options_default(&o);
	o.lock_timeout = 0;
	ck_assert_msg(
	    blt_open(path, BLT_RDWR, &o, &db) == rc, "%s", blt_errmsg());
	return db;
}

static struct blt *
other(void)
{
	return other_open(0);
}

static ssize_t
get(struct blt *db, const char *k, char *buf, size_t cap)
{
	ssize_t n;

	ck_assert_int_eq(blt_hold(db, 0), 0);
	n = blt_get(db, k, strlen(k), buf, cap, NULL);
	blt_unhold(db);
	return n;
}

START_TEST(an_idle_store_lets_its_lock_go_and_follows_what_grew)
{
	struct blt *db = shared(BLT_RDWR, 5), *o;
	char buf[16];

	/* held since the open: another writer is refused */
	(void)other_open(-EWOULDBLOCK);
	ck_assert_int_eq(blt_let_go(db, 0), 1);
	ck_assert_int_eq(blt_let_go(db, 0), 0); /* let go already */
	o = other();
	tu_put(o, "b", "2", BLT_NOW);
	ck_assert_int_eq(blt_close(o), 0);
	ck_assert_int_eq(get(db, "b", buf, sizeof buf), 1);
	ck_assert_int_eq(told, 1);
	ck_assert_int_eq(seen.how, BLT_GREW);
	ck_assert_uint_eq(seen.old_keys, 1);
	ck_assert_uint_eq(seen.new_keys, 2);
	ck_assert_int_eq(get(db, "a", buf, sizeof buf), 1); /* nothing new */
	ck_assert_int_eq(told, 1);
	ck_assert_int_eq(blt_close(db), 0);
}
END_TEST

START_TEST(the_keys_after_the_old_end_are_what_was_put)
{
	struct blt *db = shared(BLT_RDONLY, 5), *o;
	struct blt_iter *it;
	struct blt_item item;
	int n = 0;

	ck_assert_int_eq(blt_let_go(db, 0), 1);
	o = other();
	tu_put(o, "b", "2", BLT_NOW);
	tu_put(o, "a", "3", BLT_NOW); /* an overwrite appends too */
	ck_assert_int_eq(blt_close(o), 0);
	ck_assert_int_eq(blt_poll(db), 1); /* followed while let go */
	ck_assert_int_eq(seen.how, BLT_GREW);
	ck_assert_int_eq(blt_hold(db, 0), 0);
	ck_assert_int_eq(blt_iter_create_grown(db, &seen, &it), 0);
	while (blt_iter_next(it, &item) > 0) {
		ck_assert(item.klen == 1 &&
		          (item.key[0] == 'a' || item.key[0] == 'b'));
		n++;
	}
	ck_assert_int_eq(n, 2);
	blt_iter_free(it);
	blt_unhold(db);
	ck_assert_int_eq(blt_poll(db), 0); /* nothing since */
	ck_assert_int_eq(blt_close(db), 0);
}
END_TEST

static void
count_key(void *arg, const void *key, size_t klen, uint64_t vlen, uint64_t at)
{
	(void)key;
	(void)klen;
	(void)vlen;
	(void)at;
	(*(int *)arg)++;
}

/* What the follow without the lock read is no reason to take the lock,
 * and is not followed again when it is taken: a pipeline that opens the
 * store again would find it held for nothing. */
START_TEST(what_was_read_without_the_lock_is_not_followed_again)
{
	struct blt *db = shared(BLT_RDONLY, 5), *o;
	struct blt_share_stat st0, st1;
	struct blt_iter *it;
	struct blt_item item;
	uint64_t n_keys;
	int n = 0;

	ck_assert_int_eq(blt_let_go(db, 0), 1);
	o = other();
	tu_put(o, "b", "2", BLT_NOW);
	tu_put(o, "a", "3", BLT_NOW);
	ck_assert_int_eq(blt_close(o), 0);
	ck_assert_int_eq(blt_peek_follow(db, count_key, &n, &n_keys), 2);
	ck_assert_int_eq(n, 2);
	ck_assert_uint_eq(n_keys, 2);
	ck_assert_int_eq(blt_share_stat(db, &st0, sizeof st0), 0);
	ck_assert_int_eq(blt_poll(db), 0); /* all read: no lock taken */
	ck_assert_int_eq(blt_share_stat(db, &st1, sizeof st1), 0);
	ck_assert_uint_eq(st1.taken, st0.taken);
	ck_assert_int_eq(told, 0);
	o = other();
	tu_put(o, "c", "4", BLT_NOW); /* not read yet */
	ck_assert_int_eq(blt_close(o), 0);
	ck_assert_int_eq(blt_hold(db, 0), 0);
	ck_assert_int_eq(told, 1);
	ck_assert_int_eq(seen.how, BLT_GREW);
	ck_assert(seen.peeked_to > seen.old_end);
	ck_assert_int_eq(blt_iter_create_grown(db, &seen, &it), 0);
	n = 0;
	while (blt_iter_next(it, &item) > 0) {
		ck_assert(item.klen == 1 && item.key[0] == 'c');
		n++;
	}
	ck_assert_int_eq(n, 1);
	blt_iter_free(it);
	blt_unhold(db);
	ck_assert_int_eq(blt_close(db), 0);
}
END_TEST

START_TEST(a_delete_and_a_file_put_in_place_are_followed)
{
	struct blt *db = shared(BLT_RDWR, 5), *o;
	struct blt_iter *it;
	struct blt_item item;
	char buf[16];

	ck_assert_int_eq(blt_let_go(db, 0), 1);
	o = other();
	ck_assert_int_eq(blt_del(o, "a", 1), 0);
	ck_assert_int_eq(blt_close(o), 0);
	ck_assert_int_eq(get(db, "a", buf, sizeof buf), -ENOENT);
	ck_assert_uint_eq(seen.new_keys, 0);  /* the count tells of it */
	ck_assert_int_eq(seen.how, BLT_GREW); /* no block moved */
	/* and its dead block, the key */
	ck_assert_int_eq(blt_hold(db, 0), 0);
	ck_assert_int_eq(blt_iter_create_dead(db, &seen, &it), 0);
	ck_assert_int_eq(blt_iter_next(it, &item), 1);
	ck_assert(item.klen == 1 && item.key[0] == 'a');
	ck_assert_int_eq(blt_iter_next(it, &item), 0);
	blt_iter_free(it);
	blt_unhold(db);
	ck_assert_int_eq(blt_let_go(db, 0), 1);
	o = other();
	tu_put(o, "c", "3", BLT_NOW);
	ck_assert_int_eq((int)blt_prune(o, NULL), 1); /* a new file */
	ck_assert_int_eq(blt_close(o), 0);
	ck_assert_int_eq(get(db, "c", buf, sizeof buf), 1);
	ck_assert_int_eq(seen.how, BLT_CHANGED);
	/* and it is the store now: written there, read by another open */
	ck_assert_int_eq(blt_hold(db, 1), 0);
	ck_assert_int_eq(blt_put(db, "d", 1, "4", 1, BLT_NOW), 0);
	blt_unhold(db);
	ck_assert_int_eq(blt_let_go(db, 0), 1);
	o = other();
	ck_assert_int_eq(blt_get(o, "d", 1, buf, sizeof buf, NULL), 1);
	ck_assert_int_eq(blt_close(o), 0);
	ck_assert_int_eq(blt_close(db), 0);
}
END_TEST

START_TEST(a_write_needs_the_exclusive_lock)
{
	struct blt *db = shared(BLT_RDWR, 5), *o;
	struct blt_share_stat st;
	char buf[16];

	ck_assert_int_eq(blt_let_go(db, 0), 1);
	ck_assert_int_eq(blt_hold(db, 0), 0);
	ck_assert_int_eq(blt_del(db, "a", 1), -ENOLCK);
	blt_unhold(db);
	ck_assert_int_eq(blt_hold(db, 1), 0); /* converted */
	ck_assert_int_eq(blt_del(db, "a", 1), 0);
	ck_assert_int_eq(blt_share_stat(db, &st, sizeof st), 0);
	ck_assert_int_eq(st.mode, 2);
	ck_assert_int_eq(st.holds, 1);
	blt_unhold(db);
	ck_assert_int_eq(blt_let_go(db, 0), 1);
	/* let go clean: another open reads it as it is */
	o = other();
	ck_assert_int_eq(blt_get(o, "a", 1, buf, sizeof buf, NULL), -ENOENT);
	ck_assert_int_eq(blt_flags(o) & BLT_RECOVERED, 0);
	ck_assert_int_eq(blt_close(o), 0);
	ck_assert_int_eq(blt_close(db), 0);
}
END_TEST

START_TEST(a_store_held_elsewhere_fails_after_the_timeout)
{
	struct blt *db = shared(BLT_RDONLY, 0.2), *o;
	struct blt_share_stat st;
	char buf[16];

	ck_assert_int_eq(blt_let_go(db, 0), 1);
	o = other();
	ck_assert_int_eq(blt_hold(db, 0), -EWOULDBLOCK);
	ck_assert_ptr_nonnull(
	    strstr(blt_errmsg(), "locked by another process"));
	ck_assert_int_eq(blt_poll(db), 0); /* the writer is at work */
	ck_assert_int_eq(blt_share_stat(db, &st, sizeof st), 0);
	ck_assert_uint_eq(st.timeouts, 1);
	ck_assert_int_eq(st.mode, 0);
	/* a caller built when the struct ended before timeouts gets no more
	 * than it has room for */
	memset(&st, 0xab, sizeof st);
	ck_assert_int_eq(
	    blt_share_stat(db, &st, offsetof(struct blt_share_stat, timeouts)),
	    0);
	ck_assert_int_eq(st.mode, 0);
	ck_assert_uint_eq(st.timeouts, UINT64_C(0xabababababababab));
	ck_assert_int_eq(blt_close(o), 0);
	ck_assert_int_eq(get(db, "a", buf, sizeof buf), 1);
	ck_assert_int_eq(blt_close(db), 0);
}
END_TEST

/* A file written beside a writer that keeps the store is several changes
 * (a create, writes, closes), each of which waited the whole timeout in
 * turn: within a timeout of one that ran out, a hold tries the lock once.
 * It takes a free one. */
START_TEST(a_hold_soon_after_a_timeout_does_not_wait_again)
{
	struct blt *db = shared(BLT_RDWR, 2), *o;
	struct blt_share_stat st;

	ck_assert_int_eq(blt_let_go(db, 0), 1);
	o = other();
	ck_assert_int_eq(blt_hold(db, 1), -EWOULDBLOCK);
	ck_assert_int_eq(blt_hold(db, 1), -EWOULDBLOCK);
	ck_assert_ptr_nonnull(
	    strstr(blt_errmsg(), "locked by another process"));
	ck_assert_int_eq(blt_share_stat(db, &st, sizeof st), 0);
	ck_assert_uint_eq(st.timeouts, 1); /* the second did not wait */
	ck_assert_int_eq(blt_close(o), 0);
	ck_assert_int_eq(blt_hold(db, 1), 0);
	blt_unhold(db);
	ck_assert_int_eq(blt_close(db), 0);
}
END_TEST

START_TEST(a_try_never_waits_and_an_unused_hold_is_no_use)
{
	struct blt *db = shared(BLT_RDONLY, 5), *o;
	struct blt_share_stat st;
	char buf[16];

	ck_assert_int_eq(blt_let_go(db, 0), 1);
	o = other();
	/* at once, where blt_hold() would wait 5 s, and no timeout */
	ck_assert_int_eq(blt_hold_try(db, 0), -EWOULDBLOCK);
	ck_assert_int_eq(blt_share_stat(db, &st, sizeof st), 0);
	ck_assert_uint_eq(st.timeouts, 0);
	tu_put(o, "b", "2", BLT_NOW);
	ck_assert_int_eq(blt_close(o), 0);
	ck_assert_int_eq(blt_hold_try(db, 0), 0);
	ck_assert_int_eq(told, 1); /* followed as by blt_hold() */
	blt_unhold_unused(db);
	ck_assert_int_eq(get(db, "b", buf, sizeof buf), 1); /* a use */
	/* idle for an hour since that use, or not */
	ck_assert_int_eq(blt_hold_try(db, 0), 0);
	blt_unhold_unused(db);
	ck_assert_int_eq(blt_let_go(db, 3600), 0);
	ck_assert_int_eq(blt_let_go(db, 0), 1);
	ck_assert_int_eq(blt_close(db), 0);
}
END_TEST

/* A read without the lock does not join the shared lock the store holds
 * (its start-up): busy readers would keep it from ever going, and a
 * writer of another process out.  One held for writing is joined: its
 * buffer is to be read too. */
START_TEST(a_read_without_the_lock_keeps_no_shared_lock_from_going)
{
	struct blt *db = shared(BLT_RDONLY, 5), *o;
	char buf[16];

	/* held shared since the open */
	(void)other_open(-EWOULDBLOCK);
	ck_assert_int_eq(blt_hold_peek(db), 0);
	ck_assert_int_eq(blt_peeking(db), 1);
	ck_assert_int_eq(blt_let_go(db, 0), 1); /* while the read goes on */
	o = other();
	ck_assert_int_eq(blt_get(db, "a", 1, buf, sizeof buf, NULL), 1);
	blt_unhold(db);
	ck_assert_int_eq(blt_close(o), 0);
	ck_assert_int_eq(blt_close(db), 0);

	db = shared(BLT_RDWR, 5);
	ck_assert_int_eq(blt_hold(db, 1), 0);
	tu_put(db, "b", "2", BLT_NOW); /* buffered */
	blt_unhold(db);
	ck_assert_int_eq(blt_hold_peek(db), 0);
	ck_assert_int_eq(blt_peeking(db), 0);
	ck_assert_int_eq(blt_get(db, "b", 1, buf, sizeof buf, NULL), 1);
	ck_assert_int_eq(blt_let_go(db, 0), 0); /* held by the read */
	blt_unhold(db);
	ck_assert_int_eq(blt_let_go(db, 0), 1);
	ck_assert_int_eq(blt_close(db), 0);
}
END_TEST

/* A conversion may let the lock go (flock(2)), so it compares the store
 * again; a change followed before it is not told twice. */
START_TEST(a_change_followed_is_not_followed_again_by_a_conversion)
{
	struct blt *db = shared(BLT_RDWR, 5), *o;
	char buf[16];

	ck_assert_int_eq(blt_let_go(db, 0), 1);
	o = other();
	tu_put(o, "b", "2", BLT_NOW);
	ck_assert_int_eq(blt_close(o), 0);
	ck_assert_int_eq(get(db, "b", buf, sizeof buf), 1); /* shared */
	ck_assert_int_eq(told, 1);
	ck_assert_int_eq(blt_hold(db, 1), 0); /* converted */
	ck_assert_int_eq(told, 1);
	ck_assert_int_eq(blt_put(db, "c", 1, "3", 1, BLT_NOW), 0);
	blt_unhold(db);
	ck_assert_int_eq(blt_close(db), 0);
}
END_TEST

/* Write the n bytes at pat over [from, to) of the store file, as a prune
 * in place of another process does before it rewrites the header. */
static void
overwrite(uint64_t from, uint64_t to, const unsigned char *pat, size_t n)
{
	FILE *f = fopen(path, "r+b");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fseeko(f, (off_t)from, SEEK_SET), 0);
	for (uint64_t at = from; at < to; at += n)
		ck_assert_uint_eq(
		    fwrite(pat, 1, to - at < n ? (size_t)(to - at) : n, f),
		    to - at < n ? (size_t)(to - at) : n);
	ck_assert_int_eq(fclose(f), 0);
}

/* Read n bytes of the store file at off into buf. */
static void
read_at(uint64_t off, unsigned char *buf, size_t n)
{
	FILE *f = fopen(path, "rb");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fseeko(f, (off_t)off, SEEK_SET), 0);
	ck_assert_uint_eq(fread(buf, 1, n, f), n);
	ck_assert_int_eq(fclose(f), 0);
}

/* Where key is, read without the lock: 0, or -errno. */
static int
peek_find(struct blt *db, const char *key)
{
	struct blt_entry e;
	int rc;

	ck_assert_int_eq(blt_hold_peek(db), 0);
	rc = blt_find_at(db, key, strlen(key), 0, 0, &e);
	blt_unhold(db);
	return rc;
}

/* A key is gone, read without the lock, only where its block shows it: a
 * delete tombstones it in place.  An index read through in the middle of
 * a prune in place (its first pass copies blocks over the index, and a
 * copy's fresh end-of-chain pointer may fill a bucket) is no proof: with
 * the key's block moved away, the read waits for the lock instead. */
START_TEST(a_walk_through_a_prune_half_done_is_no_proof_a_key_is_gone)
{
	static const unsigned char end[6] = {1, 0, 0, 0, 0, 0};
	static const unsigned char junk[1] = {0xab};
	struct blt *db = shared(BLT_RDWR, 0.2), *o;
	struct blt_stat st;

	ck_assert_int_eq(blt_let_go(db, 0), 1);
	o = other();
	tu_put(o, "b", "2", BLT_NOW);
	tu_put(o, "c", "3", BLT_NOW);
	ck_assert_int_eq(blt_sync(o), 0);
	ck_assert_int_eq(peek_find(db, "a"), 0);
	ck_assert_int_eq(peek_find(db, "b"), 0);
	ck_assert_int_eq(blt_del(o, "b", 1), 0);
	ck_assert_int_eq(blt_sync(o), 0);
	ck_assert_int_eq(peek_find(db, "b"), -ENOENT);
	/* the prune's first pass: every bucket an end of chain */
	ck_assert_int_eq(blt_stat(o, &st), 0);
	ck_assert_uint_eq(st.index_offset, 200); /* the first layout */
	overwrite(st.index_offset,
	    st.index_offset + (uint64_t)st.n_buckets * sizeof end, end,
	    sizeof end);
	/* and a block copied to byte 200, over the first buckets: a key
	 * never read before (no hint) is not gone either */
	overwrite(st.index_offset, st.index_offset + 13, junk, sizeof junk);
	ck_assert_int_eq(peek_find(db, "c"), -EBUSY);
	/* with the first buckets as buckets, the blocks moved away: the
	 * keys read before are not gone */
	overwrite(
	    st.index_offset, st.index_offset + 3 * sizeof end, end, sizeof end);
	overwrite(st.first_data, st.file_bytes, junk, sizeof junk);
	ck_assert_int_eq(peek_find(db, "a"), -EBUSY);
	ck_assert_int_eq(blt_close(db), 0);
	blt_close(o); /* its store is junk now */
}
END_TEST

/* A read without the lock that keeps failing while no process holds the
 * lock takes it, and soon: no writer is at work whose next write would
 * mend what the read meets (a writer killed in the middle of a prune in
 * place, say), and waiting for the file to stand still (2 s) would fail
 * past a shorter lock timeout with EBUSY instead. */
START_TEST(a_read_no_writer_will_mend_takes_the_free_lock)
{
	static const unsigned char end[6] = {1, 0, 0, 0, 0, 0};
	static const unsigned char junk[1] = {0xab};
	struct blt *db = shared(BLT_RDWR, 0.2), *o;
	struct blt_share_stat ss;
	struct blt_stat st;
	int rc;

	ck_assert_int_eq(blt_let_go(db, 0), 1);
	o = other();
	tu_put(o, "b", "2", BLT_NOW);
	tu_put(o, "c", "3", BLT_NOW);
	ck_assert_int_eq(blt_stat(o, &st), 0);
	ck_assert_int_eq(blt_close(o), 0);
	ck_assert_int_eq(peek_find(db, "a"), 0);
	/* a prune killed in its first pass: every bucket an end of chain,
	 * a block copied over the first ones */
	overwrite(st.index_offset,
	    st.index_offset + (uint64_t)st.n_buckets * sizeof end, end,
	    sizeof end);
	overwrite(st.index_offset, st.index_offset + 13, junk, sizeof junk);
	rc = peek_find(db, "c");
	ck_assert_msg(rc != -EBUSY, "%s", blt_errmsg());
	ck_assert_int_eq(blt_share_stat(db, &ss, sizeof ss), 0);
	ck_assert_uint_eq(ss.reads_locked, 1);
	ck_assert_int_eq(blt_close(db), 0);
}
END_TEST

/* With the len bytes at end of the store file as bad, a follow without
 * the lock reads no key; with them as head, the want keys from there on. */
static void
followed_once_whole(struct blt *db, uint64_t end, const unsigned char *bad,
    const unsigned char *head, size_t len, int want)
{
	uint64_t n_keys;
	int n = 0;

	overwrite(end, end + len, bad, len);
	ck_assert_int_eq(blt_peek_follow(db, count_key, &n, &n_keys), 0);
	ck_assert_int_eq(n, 0);
	overwrite(end, end + len, head, len);
	ck_assert_int_eq(blt_peek_follow(db, count_key, &n, &n_keys), want);
	ck_assert_int_eq(n, want);
}

/* An append of ours in the making lies sealed under a skip block that
 * ends the file until its first page lands (io.c, io_append_sealed()):
 * a follow without the lock waits there, not past it, and reads its keys
 * once they are whole.  Passing the skip block would miss them for good. */
START_TEST(a_sealed_append_is_followed_once_it_lands)
{
	static unsigned char big[10000];
	unsigned char head[32], skip[32] = {0};
	struct blt *db = shared(BLT_RDONLY, 5), *o;
	struct blt_stat st;
	uint64_t end, n_keys, vlen = sizeof big; /* block - head - 1 */
	int n = 0;

	ck_assert_int_eq(blt_let_go(db, 0), 1);
	ck_assert_int_eq(blt_peek_follow(db, count_key, &n, &n_keys), 0);
	o = other();
	ck_assert_int_eq(blt_stat(o, &st), 0);
	end = st.file_bytes;
	memset(big, 'v', sizeof big);
	ck_assert_int_eq(blt_put(o, "b", 1, big, sizeof big, BLT_NOW), 0);
	ck_assert_int_eq(blt_close(o), 0);
	/* the block's head as it will be, and the skip block over it all:
	 * no digest, dead, a key of one byte and the rest its value */
	read_at(end, head, sizeof head);
	skip[19] = 1;
	for (int i = 0; i < 4; i++)
		skip[21 + i] = (unsigned char)(vlen >> (8 * i));
	followed_once_whole(db, end, skip, head, sizeof head, 1);
	ck_assert_int_eq(blt_close(db), 0);
}
END_TEST

/* The first page of a sealed append lands over the skip block's head,
 * and a read beside that write may see the new head's lengths and key
 * under the skip's zero digest and tombstone: no skip block, whose key
 * is one zero byte, so looked at again, not stepped over (the key's
 * block would be missed for good). */
START_TEST(a_head_half_overwritten_is_looked_at_again)
{
	unsigned char head[32], torn[32];
	struct blt *db = shared(BLT_RDONLY, 5), *o;
	struct blt_stat st;
	uint64_t end, n_keys;
	int n = 0;

	ck_assert_int_eq(blt_let_go(db, 0), 1);
	ck_assert_int_eq(blt_peek_follow(db, count_key, &n, &n_keys), 0);
	o = other();
	ck_assert_int_eq(blt_stat(o, &st), 0);
	end = st.file_bytes;
	tu_put(o, "b", "2", BLT_NOW);
	tu_put(o, "c", "3", BLT_NOW);
	ck_assert_int_eq(blt_close(o), 0);
	read_at(end, head, sizeof head);
	/* digest, next and time as the skip block's, lengths and key as the
	 * new head's */
	memcpy(torn, head, sizeof torn);
	memset(torn, 0, 19);
	memset(torn + 25, 0, 7);
	followed_once_whole(db, end, torn, head, sizeof head, 2);
	ck_assert_int_eq(blt_close(db), 0);
}
END_TEST

/* A prune or clear in place by another process that the follow without
 * the lock had not read when the store took the lock again is read again
 * without it, every key from the new first data on (blt_change's reread),
 * once the lock is let go: letting it go must not pass over that look.
 * Before, the keys the other process put before its prune were never
 * followed (tests/mount-history.sh, a mount that showed none of them). */
START_TEST(a_change_to_read_again_is_read_after_the_lock_goes)
{
	char other_path[PATH_MAX + 4];
	struct blt *db = shared(BLT_RDONLY, 5), *o;
	uint64_t n_keys;
	unsigned char buf[65536];
	size_t n;
	FILE *from, *to;
	int keys = 0;

	ck_assert_int_eq(blt_let_go(db, 0), 1);
	ck_assert_int_eq(blt_peek_follow(db, count_key, &keys, &n_keys), 0);
	/* another store's bytes written over the file in place, as a prune
	 * or clear in place leaves it: not a file that only grew */
	snprintf(other_path, sizeof other_path, "%s.2", path);
	ck_assert_int_eq(blt_open(other_path, BLT_TRUNC, NULL, &o), 0);
	tu_put(o, "a", "1", BLT_NOW);
	tu_put(o, "b", "2", BLT_NOW);
	tu_put(o, "c", "3", BLT_NOW);
	ck_assert_int_eq(blt_close(o), 0);
	from = fopen(other_path, "rb");
	to = fopen(path, "r+b");
	ck_assert_ptr_nonnull(from);
	ck_assert_ptr_nonnull(to);
	while ((n = fread(buf, 1, sizeof buf, from)) > 0)
		ck_assert_uint_eq(fwrite(buf, 1, n, to), n);
	ck_assert_int_eq(ftruncate(fileno(to), ftello(to)), 0);
	ck_assert_int_eq(fclose(from), 0);
	ck_assert_int_eq(fclose(to), 0);
	tu_rmstore(other_path);
	/* the lock taken before the follow looked: it is to read them */
	ck_assert_int_eq(blt_hold(db, 0), 0);
	blt_unhold(db);
	ck_assert_int_eq(seen.how, BLT_CHANGED);
	ck_assert_int_eq(seen.reread, 1);
	ck_assert_int_eq(blt_let_go(db, 0), 1);
	keys = 0;
	ck_assert_int_eq(blt_peek_follow(db, count_key, &keys, &n_keys), 3);
	ck_assert_int_eq(keys, 3);
	ck_assert_int_eq(blt_close(db), 0);
}
END_TEST

static Suite *
share_suite(void)
{
	Suite *s = suite_create("share");
	TCase *tc = tcase_create("share");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(
	    tc, an_idle_store_lets_its_lock_go_and_follows_what_grew);
	tcase_add_test(tc, the_keys_after_the_old_end_are_what_was_put);
	tcase_add_test(
	    tc, what_was_read_without_the_lock_is_not_followed_again);
	tcase_add_test(tc, a_delete_and_a_file_put_in_place_are_followed);
	tcase_add_test(tc, a_write_needs_the_exclusive_lock);
	tcase_add_test(tc, a_store_held_elsewhere_fails_after_the_timeout);
	tcase_add_test(tc, a_hold_soon_after_a_timeout_does_not_wait_again);
	tcase_add_test(tc, a_try_never_waits_and_an_unused_hold_is_no_use);
	tcase_add_test(
	    tc, a_read_without_the_lock_keeps_no_shared_lock_from_going);
	tcase_add_test(
	    tc, a_change_followed_is_not_followed_again_by_a_conversion);
	tcase_add_test(
	    tc, a_walk_through_a_prune_half_done_is_no_proof_a_key_is_gone);
	tcase_add_test(tc, a_read_no_writer_will_mend_takes_the_free_lock);
	tcase_add_test(tc, a_sealed_append_is_followed_once_it_lands);
	tcase_add_test(tc, a_head_half_overwritten_is_looked_at_again);
	tcase_add_test(tc, a_change_to_read_again_is_read_after_the_lock_goes);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(share_suite());
}
