/*
 * share.c: an open store shared with other processes (blt_share()).
 *
 * booklet's flock (format §12) keeps readers and a writer of other
 * processes from overlapping in time, and the reference holds it from open
 * to close.  A shared store takes it only while a caller needs it (between
 * blt_hold() and blt_unhold()) and gives it back once no caller has needed
 * it for a while (blt_let_go()), so that a Python pipeline can open the
 * store between the mount's requests.
 *
 * Whatever another process did while the lock was let go is seen when it
 * is taken again: the file's identity, size, times and header are
 * compared with what they were when it was let go.  A file that only
 * grew (blocks appended, as every put and reindex does) is read on from
 * where it ended; any other change (a delete, a prune in place, a clear, a
 * file put in the store's place) makes every offset void, as a prune of
 * our own does.  The follow function of blt_share() hears of either before
 * any other caller goes on, so that no caller sees the store half
 * followed.
 *
 * The reference changes its pointers in place, unjournaled (§7.9),
 * deletes by writing a tombstone into a live chain, and prunes by moving
 * the data within the file and cutting it short: a read without the lock
 * (blt_hold_peek(), blt_peek_follow()) trusts only what peek.c can check,
 * with pread(2), never the map, which a file cut short turns into SIGBUS.
 *
 * Converting a flock from shared to exclusive may let it go in between
 * (flock(2)), so it is converted only while no caller holds the store,
 * and what another process did in between is followed as above.  Callers
 * come in without a mutex while nobody works on the lock (the gate,
 * share_enter_fast()).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define SHARE_NONE 0
#define SHARE_READ 1
#define SHARE_WRITE 2

struct share {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* mode, holds, gate and last are atomic (share_enter_fast()) */
	int mode;       /* the flock held: SHARE_*; changed under mu, with
	                   the gate raised and no caller holding */
	unsigned holds; /* callers between blt_hold() and blt_unhold() */
	unsigned gate;  /* callers at work on the lock (converting, letting
	                   go, polling): new callers go the slow way */
	int64_t last;   /* when the last caller let go, monotonic µs */
	/* when a hold's wait for the lock last ran out: the holds that began
	 * before it fail with it, instead of each waiting its own timeout,
	 * and those that begin within a timeout after it do not wait */
	int64_t failed;
	double timeout; /* the lock timeout of blt_share() */
	blt_follow_fn *follow;
	void *arg;
	/* the file when the lock was let go (or taken, if never let go) */
	dev_t dev;
	ino_t ino;
	uint64_t size;
	struct timespec mtime, ctime;
	unsigned char head[HEADER_LEN];
	uint64_t n_keys;
	/* where blt_peek_follow() reads on from: the end when the lock was
	 * let go, then past what it read of others' appends; and the header
	 * it reads them by (head, until a prune or clear by another process
	 * while it held the lock) */
	uint64_t peek_end;
	unsigned char peek_head[HEADER_LEN];
	uint64_t rebased_then; /* st.rebased when the lock was let go */
	/* a prune or clear of another process's that the lock's take found
	 * and left blt_peek_follow() to read (share_peek_reread()), not
	 * read to the end yet: the lock let go keeps that look where it is
	 * (atomic) */
	int reread;
	/* odd while a rebase writes peek_head and peek_end, which reads
	 * without the lock look at (share_peek_cut()) */
	uint64_t peek_seq;
	/* when another process was last seen at work (its lock in the way,
	 * the file's mtime moved while this store let go), monotonic µs,
	 * atomic; and the mtime seen last */
	int64_t others;
	struct timespec seen;
	struct blt_share_stat st;
};

static int64_t
share_now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

/* Keep what tells the file as it is now; the lock is held. */
static int
share_remember(struct blt *db)
{
	struct share *s = db->share;
	struct stat st;

	if (fstat(db->fd, &st) == -1)
		return err_set(-errno, "%s: %s", db->path, strerror(errno));
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	s->size = (uint64_t)st.st_size;
	s->mtime = st.st_mtim;
	s->ctime = st.st_ctim;
	s->seen = st.st_mtim;
	memcpy(s->head, db->map->base, HEADER_LEN);
	s->n_keys = db->n_keys;
	if (__atomic_load_n(&s->reread, __ATOMIC_RELAXED))
		return 0;
	__atomic_store_n(&s->peek_end, s->size, __ATOMIC_RELAXED);
	memcpy(s->peek_head, s->head, HEADER_LEN);
	__atomic_store_n(&s->rebased_then,
	    __atomic_load_n(&s->st.rebased, __ATOMIC_RELAXED),
	    __ATOMIC_RELAXED);
	return 0;
}

uint64_t
share_peek_epoch(struct blt *db)
{
	return db->share == NULL
	           ? 0
	           : __atomic_load_n(&db->share->st.rebased, __ATOMIC_RELAXED);
}

int
peek_at_sure(struct blt *db, uint64_t gen)
{
	struct share *s = db->share;

	return s != NULL && gen == db->gen &&
	       __atomic_load_n(&s->st.rebased, __ATOMIC_RELAXED) ==
	           __atomic_load_n(&s->rebased_then, __ATOMIC_RELAXED);
}

static void
share_free_one(struct share *s)
{
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
}

void
share_free(struct blt *db)
{
	if (db->share != NULL)
		share_free_one(db->share);
	db->share = NULL;
}

/* 0 if db may be written now: not shared, or shared and holding the
 * exclusive lock.  A caller that writes without blt_hold() is a bug of the
 * caller, refused before it could overwrite another process's work. */
int
share_may_write(const struct blt *db)
{
	const struct share *s = db->share;

	return s == NULL ||
	       __atomic_load_n(&s->mode, __ATOMIC_RELAXED) == SHARE_WRITE;
}

int
share_writable(struct blt *db)
{
	if (share_may_write(db))
		return 0;
	return err_set(-ENOLCK,
	    "%s: a write without the store's exclusive lock (blt_hold())",
	    db->path);
}

int
blt_share(struct blt *db, double lock_timeout, blt_follow_fn *follow, void *arg)
{
	struct share *s;
	int rc;

	if (db->share != NULL)
		return err_set(-EINVAL, "%s: shared already", db->path);
	if ((s = calloc(1, sizeof *s)) == NULL)
		return err_oom(db->path);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->timeout = lock_timeout;
	s->follow = follow;
	s->arg = arg;
	s->last = share_now_us();
	s->mode = db->rdonly ? SHARE_READ : SHARE_WRITE; /* from the open */
	pthread_rwlock_wrlock(&db->lock);
	db->share = s;
	if ((rc = share_remember(db)) < 0)
		share_free(db);
	pthread_rwlock_unlock(&db->lock);
	return rc;
}

static int
share_same_time(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* Open the file now at the store's path, which another process put in its
 * place, with the lock (mode) it held on the old one, which becomes the
 * store's. */
static int
share_reopen(struct blt *db, int mode)
{
	struct blt nb;
	int rc;

	memset(&nb, 0, sizeof nb);
	nb.path = db->path;
	nb.fd = -1;
	nb.lock_timeout = db->share->timeout;
	if ((rc = io_open_locked(&nb, db->file,
	         db->rdonly ? BLT_RDONLY : BLT_RDWR, mode == SHARE_WRITE)) <
	    0) {
		if (nb.fd >= 0)
			close(nb.fd);
		free(nb.file);
		return rc;
	}
	io_close(db);
	db->fd = nb.fd;
	db->file = nb.file;
	db->size = nb.size;
	return io_map_cover(db, db->size);
}

/* Read the header of a file that another process changed, as an open
 * does: its layout and key count, counting the keys of one it left
 * unclean. */
static int
share_read_header(struct blt *db)
{
	int rc;

	if (db->size < HEADER_LEN)
		return err_set(-EUCLEAN,
		    "%s: not a booklet store any more: %llu bytes", db->path,
		    (unsigned long long)db->size);
	if ((rc = hdr_parse(db, db->map->base)) < 0)
		return rc;
	db->n_keys = db->h.n_keys_raw;
	if (db->h.n_keys_raw == NKEYS_UNCLEAN || hdr_open_marked(db->map->base))
		return check_readable_as_is(db, &db->n_keys);
	return check_layout_sound(db);
}

/* Whether the file of db, read again, is the one share_remember() saw
 * with blocks appended and nothing before its old end moved.  Only a
 * prune or a clear moves blocks (format §9, §13), and both put the index
 * somewhere below the old end (a reindex appends its new one at the end):
 * the index where it was or past the old end, the first data block where
 * it was, and the same store (its creation time and uuid) tell a file
 * that only grew.  Deletes change no offset; their count tells of them
 * (struct blt_change). */
static int
share_only_grew(const struct blt *db, const struct hdr *old)
{
	const struct share *s = db->share;

	return db->size >= s->size &&
	       (db->h.index_off == old->index_off ||
	           db->h.index_off >= s->size) &&
	       db->h.first_data == old->first_data &&
	       db->h.n_buckets >= old->n_buckets &&
	       db->h.created == old->created &&
	       memcmp(db->h.uuid, old->uuid, sizeof old->uuid) == 0;
}

/* Whether the header as it is now (h) shows a file that only grew since
 * the header peek_head: the layout where it was, or an index moved past
 * where the last look ended (a reindex), as share_only_grew() says of a
 * parsed header. */
static int
share_peek_grew(const struct share *s, const unsigned char *h, uint64_t size)
{
	uint64_t io = le_get(h + HDR_INDEX_OFFSET_OFF, PTR_LEN);

	return size >= s->peek_end &&
	       (io == le_get(s->peek_head + HDR_INDEX_OFFSET_OFF, PTR_LEN) ||
	           io >= s->peek_end) &&
	       memcmp(h + HDR_FIRST_DATA_POS_OFF,
	           s->peek_head + HDR_FIRST_DATA_POS_OFF, PTR_LEN) == 0 &&
	       le_get(h + HDR_N_BUCKETS_OFF, 4) >=
	           le_get(s->peek_head + HDR_N_BUCKETS_OFF, 4) &&
	       memcmp(h + HDR_CREATED_OFF, s->peek_head + HDR_CREATED_OFF,
	           TS_LEN + HDR_UUID_LEN) == 0;
}

/* How far blt_peek_follow() has read the keys of the file as it is now,
 * which changed as how says since the lock was let go (struct
 * blt_change's peeked_to): from the old end, unless it followed a prune
 * or clear meanwhile; or from the first data of the prune or clear it
 * followed, if the file only grew since.  The lock and db->lock are
 * held, so no look is under way. */
static uint64_t
share_peeked_to(struct blt *db, int how)
{
	struct share *s = db->share;
	uint64_t end = __atomic_load_n(&s->peek_end, __ATOMIC_RELAXED);
	int rebased = __atomic_load_n(&s->st.rebased, __ATOMIC_RELAXED) !=
	              __atomic_load_n(&s->rebased_then, __ATOMIC_RELAXED);

	if (end > db->size || end < HEADER_LEN)
		return 0;
	if (how == BLT_GREW)
		return rebased ? 0 : end;
	return rebased && share_peek_grew(s, db->map->base, db->size) ? end : 0;
}

/* The look at others' appends starts again at first_data of the layout
 * header h gives (a prune or clear moved every block), and the hints of
 * the old one are void (share_peek_epoch()).  Under peek_seq, which
 * share_peek_cut() reads by. */
static void
share_peek_relay(struct share *s, const unsigned char *h, uint64_t first_data)
{
	__atomic_add_fetch(&s->peek_seq, 1, __ATOMIC_SEQ_CST);
	memcpy(s->peek_head, h, HEADER_LEN);
	__atomic_store_n(&s->peek_end, first_data, __ATOMIC_RELAXED);
	__atomic_add_fetch(&s->st.rebased, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&s->peek_seq, 1, __ATOMIC_SEQ_CST);
}

/* After share_remember() of a prune or clear by another process: its
 * keys are read again by blt_peek_follow(), without the lock, from the
 * new layout's first data on, as after one it follows itself (and
 * hints of the old layout void), not by a rescan whose steps each take
 * the lock the pipeline's next open wants.  1 if so; db->lock held. */
static int
share_peek_reread(struct blt *db)
{
	struct share *s = db->share;
	struct peek_layout l;

	if (peek_layout_parse(db->map->base, db->size, &l) != 0)
		return 0;
	share_peek_relay(s, db->map->base, l.first_data);
	__atomic_store_n(&s->reread, 1, __ATOMIC_RELAXED);
	return 1;
}

/* How the store changed since share_remember(), read again as it is now,
 * under the write lock of db and the flock just taken in mode: BLT_SAME,
 * BLT_GREW or BLT_CHANGED, with c filled for the last two. */
static int
share_compare(struct blt *db, int mode, struct blt_change *c)
{
	struct share *s = db->share;
	struct hdr old = db->h;
	struct stat st, at;
	int rc, replaced = 0;

	if (fstat(db->fd, &st) == -1)
		return err_set(-errno, "%s: %s", db->path, strerror(errno));
	if (stat(db->file, &at) == 0 &&
	    (at.st_dev != st.st_dev || at.st_ino != st.st_ino)) {
		if ((rc = share_reopen(db, mode)) < 0)
			return rc;
		replaced = 1;
	} else if ((uint64_t)st.st_size == s->size &&
	           share_same_time(&st.st_mtim, &s->mtime) &&
	           share_same_time(&st.st_ctim, &s->ctime) &&
	           memcmp(db->map->base, s->head, HEADER_LEN) == 0) {
		return BLT_SAME;
	} else {
		db->size = (uint64_t)st.st_size;
		if ((rc = io_map_cover(db, db->size)) < 0)
			return rc;
	}
	if ((rc = share_read_header(db)) < 0)
		return rc;
	c->how =
	    !replaced && share_only_grew(db, &old) ? BLT_GREW : BLT_CHANGED;
	c->old_end = s->size;
	c->old_keys = s->n_keys;
	c->new_keys = db->n_keys;
	c->peeked_to = replaced ? 0 : share_peeked_to(db, c->how);
	c->reread = c->how == BLT_CHANGED && !replaced && c->peeked_to == 0;
	if (c->how == BLT_CHANGED) {
		db->gen++; /* every offset is void */
		__atomic_store_n(&db->trusted, 0, __ATOMIC_RELAXED);
		s->st.changed++;
		s->st.replaced += (uint64_t)replaced;
	} else {
		s->st.grew++;
	}
	keydir_drop(db);
	keyfilter_drop(db); /* keys others put are not in it */
	db->usage_known = 0;
	db->usage_epoch++;
	return c->how;
}

/* Note another process at work if the file's mtime st moved since this
 * store let the lock go or last looked. */
static void
share_others_moved(struct share *s, const struct stat *st)
{
	if (share_same_time(&st->st_mtim, &s->seen))
		return;
	s->seen = st->st_mtim;
	__atomic_store_n(&s->others, share_now_us(), __ATOMIC_RELAXED);
}

int
blt_others_active(struct blt *db, double within)
{
	int64_t at;

	if (db->share == NULL)
		return 0;
	at = __atomic_load_n(&db->share->others, __ATOMIC_RELAXED);
	return at != 0 && share_now_us() - at < (int64_t)(within * 1e6);
}

/* Take the flock in mode, which the store does not hold yet, without
 * waiting, and follow what another process did meanwhile; s->mu held, no
 * caller holding.  A lock found held counts as another process at work
 * (blt_others_active()) unless the caller will try again (again): then
 * only once it gives up (share_timed_out()), as when io_lock() waited. */
static int
share_take(struct blt *db, int mode, int again)
{
	struct share *s = db->share;
	struct blt_change c;
	int rc, err;

	memset(&c, 0, sizeof c);
	if ((rc = io_lock(db->fd, db->path, mode == SHARE_WRITE, 0)) < 0) {
		/* a conversion that failed may have let the old lock go */
		if (s->mode != SHARE_NONE)
			(void)flock(db->fd, LOCK_UN);
		__atomic_store_n(&s->mode, SHARE_NONE, __ATOMIC_SEQ_CST);
		if (rc == -EWOULDBLOCK && !again)
			__atomic_store_n(
			    &s->others, share_now_us(), __ATOMIC_RELAXED);
		return rc;
	}
	__atomic_store_n(&s->mode, mode, __ATOMIC_SEQ_CST);
	s->st.taken++;
	pthread_rwlock_wrlock(&db->lock);
	rc = share_compare(db, mode, &c);
	/* what is followed now is not to be followed again by the next
	 * take, should the lock go without blt_let_go() (a conversion) */
	if (rc > BLT_SAME && (err = share_remember(db)) < 0)
		rc = err;
	if (rc == BLT_CHANGED && c.reread)
		c.reread = share_peek_reread(db);
	pthread_rwlock_unlock(&db->lock);
	if (rc < 0) {
		(void)flock(db->fd, LOCK_UN);
		__atomic_store_n(&s->mode, SHARE_NONE, __ATOMIC_SEQ_CST);
		return rc;
	}
	if (rc != BLT_SAME && s->follow != NULL)
		s->follow(s->arg, &c);
	return 0;
}

/* Leave the store: the last caller out wakes whoever waits at the gate.
 * used: the hold counts as use, from which blt_let_go()'s idle time runs. */
static void
share_leave(struct share *s, int used)
{
	if (used)
		__atomic_store_n(&s->last, share_now_us(), __ATOMIC_RELAXED);
	if (__atomic_sub_fetch(&s->holds, 1, __ATOMIC_SEQ_CST) == 0 &&
	    __atomic_load_n(&s->gate, __ATOMIC_SEQ_CST) != 0) {
		pthread_mutex_lock(&s->mu);
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
	}
}

/* The way in of nearly every request: the lock is held in mode or
 * better and nobody is at work on it, so the caller only counts itself,
 * taking no mutex (ten threads serving requests would queue on one).
 * Whoever works on the lock first raises the gate, then looks at the
 * holds; a caller first counts itself, then looks at the gate: in the one
 * order of these sequentially consistent steps, one of the two sees the
 * other and steps back. */
static int
share_enter_fast(struct share *s, int mode)
{
	if (__atomic_load_n(&s->gate, __ATOMIC_SEQ_CST) != 0 ||
	    __atomic_load_n(&s->mode, __ATOMIC_SEQ_CST) < mode)
		return 0;
	__atomic_add_fetch(&s->holds, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&s->gate, __ATOMIC_SEQ_CST) == 0 &&
	    __atomic_load_n(&s->mode, __ATOMIC_SEQ_CST) >= mode)
		return 1;
	share_leave(s, 0);
	return 0;
}

/* Raise the gate and wait until no caller holds the store; s->mu held. */
static void
share_gate_close(struct share *s)
{
	__atomic_add_fetch(&s->gate, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&s->holds, __ATOMIC_SEQ_CST) > 0)
		pthread_cond_wait(&s->cv, &s->mu);
}

static void
share_gate_open(struct share *s)
{
	__atomic_sub_fetch(&s->gate, 1, __ATOMIC_SEQ_CST);
	pthread_cond_broadcast(&s->cv);
}

/* How long a hold that waits for another process's lock naps between
 * two tries (ms, and up to as much again at random, as io_lock() does). */
#define SHARE_TRY_NAP_MS 50

/* A hold's wait for another process's lock (mode) ran out, or another's
 * that it began before did (its = 0); s->mu held.  Its own is counted, and
 * the holds that began before it fail at once (share_hold()). */
static int
share_timed_out(struct blt *db, int mode, int its)
{
	struct share *s = db->share;

	if (its) {
		s->st.timeouts++;
		s->failed = share_now_us();
		__atomic_store_n(&s->others, s->failed, __ATOMIC_RELAXED);
	}
	return err_set(-EWOULDBLOCK,
	    "%s: locked by another process past the lock timeout (%s lock "
	    "not granted within %g s)",
	    db->path, mode == SHARE_WRITE ? "exclusive" : "shared", s->timeout);
}

/* blt_hold(), waiting for another process's lock as blt_share() said,
 * or, unless wait, not at all (blt_hold_try()).
 *
 * The lock is tried, not waited for, under s->mu and the gate: a wait
 * there kept the mount's thread from reading what the other process
 * appended (share_peek_batch()) and from letting go, and status from
 * answering, for the whole lock timeout, so a write through a mount beside
 * a pipeline (or a flush a read-only mount could not refuse fast enough)
 * hid the pipeline's syncs for 10 s.  Between tries the hold naps with
 * both let go, as the other holds waiting behind it do.
 *
 * Within a lock timeout of one that ran out, a hold tries the lock once
 * and does not wait: a file written through a mount beside a pipeline
 * that keeps the store is a create, a write and two closes or more, and
 * each waited the whole timeout in turn before it failed. */
static int
share_hold(struct blt *db, int write, int wait)
{
	struct share *s = db->share;
	int mode, nap, waited = 0, rc = 0, refused;
	double timeout;
	int64_t start;

	if (s == NULL)
		return 0;
	timeout = wait ? s->timeout : 0;
	mode = write && !db->rdonly ? SHARE_WRITE : SHARE_READ;
	if (share_enter_fast(s, mode))
		return 0;
	start = share_now_us();
	pthread_mutex_lock(&s->mu);
	refused = timeout > 0 && s->failed != 0 &&
	          start - s->failed < (int64_t)(timeout * 1e6);
	for (;;) {
		if (s->mode >= mode) {
			/* behind a conversion at work: it goes first */
			if (__atomic_load_n(&s->gate, __ATOMIC_SEQ_CST) == 0)
				break;
			pthread_cond_wait(&s->cv, &s->mu);
			continue;
		}
		/* converting: the callers holding the lock now finish first,
		 * and those who come meanwhile wait behind */
		share_gate_close(s);
		nap = 0;
		if (s->mode < mode && timeout != 0 && s->failed >= start) {
			rc = share_timed_out(db, mode, 0);
		} else if (s->mode < mode &&
		           (rc = share_take(db, mode, timeout != 0)) ==
		               -EWOULDBLOCK &&
		           timeout != 0) {
			/* held by another process: nap, or give up */
			nap = !refused &&
			      (timeout < 0 || share_now_us() - start <
			                          (int64_t)(timeout * 1e6));
			if (!nap)
				rc = share_timed_out(db, mode, !refused);
		}
		share_gate_open(s);
		if (nap) {
			s->st.waiting += !waited;
			waited = 1;
			pthread_mutex_unlock(&s->mu);
			usleep((useconds_t)(SHARE_TRY_NAP_MS +
			                    rand() % SHARE_TRY_NAP_MS) *
			       1000);
			pthread_mutex_lock(&s->mu);
			rc = 0;
			continue;
		}
		if (rc < 0 || s->mode >= mode)
			break;
	}
	if (rc == 0)
		__atomic_add_fetch(&s->holds, 1, __ATOMIC_SEQ_CST);
	s->st.waiting -= (unsigned)waited;
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int
blt_hold(struct blt *db, int write)
{
	return share_hold(db, write, 1);
}

int
blt_hold_try(struct blt *db, int write)
{
	return share_hold(db, write, 0);
}

int
blt_hold_peek(struct blt *db)
{
	struct share *s = db->share;

	/* held by this store for writing: the map may be read as ever (its
	 * buffer too).  Held only shared (its start-up, a step of a
	 * rescan), it is read without the lock all the same: readers that
	 * joined that hold would keep it from ever falling idle, and a
	 * writer of another process out for good (bench/bench_peek.sh at
	 * 10M keys, whose readers start as the mount does) */
	if (s != NULL && !share_enter_fast(s, SHARE_WRITE))
		peek_enter(db);
	return 0;
}

void
blt_unhold(struct blt *db)
{
	if (peek_held(db))
		peek_leave();
	else if (db->share != NULL)
		share_leave(db->share, 1);
}

void
blt_unhold_unused(struct blt *db)
{
	if (peek_held(db))
		peek_leave();
	else if (db->share != NULL)
		share_leave(db->share, 0);
}

/* Where the mount's thread reads others' appends on from (a hint for
 * peek.c: whatever it says, what is read there is checked). */
uint64_t
share_peek_from(struct blt *db)
{
	return db->share == NULL
	           ? 0
	           : __atomic_load_n(&db->share->peek_end, __ATOMIC_RELAXED);
}

static int share_let_go(struct blt *db, double idle, int mode);

/* How long the file must stand still under reads that keep failing
 * before they take the lock (µs): a writer at work changes it more
 * often than that (a Python prune of 100,000 keys stands still 80 ms
 * between its passes, longer on a loaded machine: at 0.2 s, a read in
 * tests/mount-beside.sh took the lock then), and one that stopped
 * between two writes (stopped, killed) leaves a file only the lock can
 * tell of.  And the longest nap between two reads (µs). */
#define SHARE_STILL 2000000
#define SHARE_NAP_MAX 50000
/* Naps (1 ms, doubling: 63 ms in all) after which a read that still
 * fails on a file that did not change since its last round looks whether
 * the lock is free: a writer at work holds it.  Not on a file that
 * changed: a writer that just closed leaves one the next tries read
 * whole, and its next open must not find the lock held by a read. */
#define SHARE_NAPS_FREE 6

/* Whether no other process holds the store's lock now: tried shared,
 * without waiting, and let go at once; only while this store holds
 * none itself (a flock belongs to the open file, which the let-go would
 * drop), and not while another thread is at work on it (which may wait
 * for the lock there). */
static int
share_lock_free(struct blt *db)
{
	struct share *s = db->share;
	int free = 0;

	if (pthread_mutex_trylock(&s->mu) != 0)
		return 0;
	if (s->mode == SHARE_NONE &&
	    __atomic_load_n(&s->gate, __ATOMIC_SEQ_CST) == 0 &&
	    flock(db->fd, LOCK_SH | LOCK_NB) == 0) {
		free = 1;
		(void)flock(db->fd, LOCK_UN);
	}
	pthread_mutex_unlock(&s->mu);
	return free;
}

int
share_peek_wait(struct blt *db, struct share_wait *w)
{
	struct share *s = db->share;
	int64_t now = share_now_us();
	struct stat st;
	int rc;

	if (s == NULL)
		return -EAGAIN;
	pthread_rwlock_rdlock(&db->lock);
	rc = fstat(db->fd, &st);
	pthread_rwlock_unlock(&db->lock);
	if (rc == -1)
		return -EAGAIN;
	if (w->start == 0 || st.st_size != w->size ||
	    !share_same_time(&st.st_mtim, &w->mtime)) {
		if (w->start == 0)
			w->start = now;
		w->still = now;
		w->size = st.st_size;
		w->mtime = st.st_mtim;
	} else if (now - w->still >= SHARE_STILL ||
	           (w->naps >= SHARE_NAPS_FREE && share_lock_free(db))) {
		/* still, and no writer at work (one killed in the middle
		 * of a change, say): no wait mends what the reads meet */
		return -EAGAIN;
	}
	if (s->timeout >= 0 && now - w->start > (int64_t)(s->timeout * 1e6))
		return err_set(-EBUSY,
		    "%s: changed by another process under a read past the "
		    "lock timeout (%g s)",
		    db->path, s->timeout);
	/* 1 ms, doubling: a pointer update takes microseconds, a prune of
	 * a large store seconds */
	usleep((useconds_t)(w->naps < 6 ? 1000 << w->naps : SHARE_NAP_MAX));
	w->naps++;
	return 0;
}

/* A read without the lock that could not be trusted waits for it: the
 * thread holds the store as blt_hold(db, 0) until share_peek_unlock().
 * -EBUSY past the lock timeout: the caller reads, and EWOULDBLOCK is
 * EAGAIN, which a reader would take for "try again now". */
int
share_peek_lock(struct blt *db)
{
	int rc;

	peek_leave();
	if ((rc = share_hold(db, 0, 1)) < 0)
		peek_enter(db);
	else
		__atomic_add_fetch(
		    &db->share->st.reads_locked, 1, __ATOMIC_RELAXED);
	return rc == -EWOULDBLOCK ? -EBUSY : rc;
}

void
share_peek_unlock(struct blt *db)
{
	share_leave(db->share, 1);
	/* taken for reads that could not be trusted without it, while
	 * another process writes the store: let go at once, not at the
	 * mount's next look, lest that process's next open find it held
	 * (Debian's Python booklet fails at once rather than wait) */
	(void)share_let_go(db, 0, SHARE_READ);
	peek_enter(db);
}

/* A prune or clear by the process that holds the lock (format §9, §13):
 * every offset moved, and values that were overwritten before it may now
 * lie anywhere below its index.  Its keys are read again, all of them,
 * from the new layout on, the index skipped.  0 if h shows a file that
 * only grew, 1 if the look starts again, -1 for a layout half written. */
static int
share_peek_rebase(struct share *s, const unsigned char *h, uint64_t size)
{
	struct peek_layout l;

	if (share_peek_grew(s, h, size))
		return 0;
	if (peek_layout_parse(h, size, &l) != 0)
		return -1;
	share_peek_relay(s, h, l.first_data);
	return 1;
}

int
share_peek_cut(struct blt *db, const struct peek_layout *l)
{
	struct share *s = db->share;
	unsigned char h[HEADER_LEN];
	struct peek_layout was;
	uint64_t seq, end;

	if (s == NULL)
		return 0;
	if ((seq = __atomic_load_n(&s->peek_seq, __ATOMIC_SEQ_CST)) & 1)
		return 1; /* a rebase under way: no proof either way */
	memcpy(h, s->peek_head, HEADER_LEN);
	end = __atomic_load_n(&s->peek_end, __ATOMIC_RELAXED);
	if (__atomic_load_n(&s->peek_seq, __ATOMIC_SEQ_CST) != seq)
		return 1;
	return peek_layout_parse(h, UINT64_MAX, &was) == 0 &&
	       was.index_off == l->index_off &&
	       was.first_data == l->first_data &&
	       was.n_buckets == l->n_buckets && l->size < end;
}

/* What share_peek_batch() reads of the file st: its header, and what was
 * appended since the last look. */
static int
share_peek_appended(struct blt *db, const struct stat *st,
    struct peek_batch *batch, uint64_t *n_keys)
{
	struct share *s = db->share;
	unsigned char h[HEADER_LEN];
	uint64_t pos;
	int rc = 0;

	/* else a prune or clear half done: the next look */
	if (pread(db->fd, h, sizeof h, 0) != (ssize_t)sizeof h ||
	    share_peek_rebase(s, h, (uint64_t)st->st_size) < 0)
		return 0;
	*n_keys = le_get(h + HDR_N_KEYS_OFF, 4);
	if (*n_keys == NKEYS_UNCLEAN)
		*n_keys = UINT64_MAX;
	if ((uint64_t)st->st_size > s->peek_end) {
		pos = s->peek_end;
		rc = peek_appended(db, &pos, batch);
		__atomic_store_n(&s->peek_end, pos, __ATOMIC_RELAXED);
	}
	if (rc == 0 && s->peek_end >= (uint64_t)st->st_size)
		__atomic_store_n(&s->reread, 0, __ATOMIC_RELAXED);
	return rc;
}

/* One batch of blt_peek_follow(): the keys appended past s->peek_end,
 * into batch.  1 if there may be more, 0 if not, -ESTALE if the file did
 * more than grow, or -errno. */
static int
share_peek_batch(struct blt *db, struct peek_batch *batch, uint64_t *n_keys)
{
	struct share *s = db->share;
	struct stat st, at;
	int rc;

	batch->len = 0;
	pthread_mutex_lock(&s->mu);
	if (s->mode != SHARE_NONE ||
	    __atomic_load_n(&s->gate, __ATOMIC_SEQ_CST) != 0) {
		pthread_mutex_unlock(&s->mu);
		return 0; /* held by this store: blt_hold() follows */
	}
	/* the read lock keeps the descriptor, and share_remember() (under
	 * the write lock) from moving peek_end meanwhile */
	pthread_rwlock_rdlock(&db->lock);
	pthread_mutex_unlock(&s->mu);
	if (fstat(db->fd, &st) == -1 ||
	    (stat(db->file, &at) == 0 &&
	        (at.st_dev != st.st_dev || at.st_ino != st.st_ino))) {
		rc = -ESTALE; /* another file: once the lock can be had */
	} else {
		share_others_moved(s, &st);
		rc = share_peek_appended(db, &st, batch, n_keys);
	}
	pthread_rwlock_unlock(&db->lock);
	return rc;
}

int64_t
blt_peek_follow(struct blt *db, blt_peek_fn *fn, void *arg, uint64_t *n_keys)
{
	struct peek_batch *batch;
	const unsigned char *key;
	uint64_t vlen, at;
	int64_t seen = 0;
	size_t off, klen;
	int rc;

	*n_keys = UINT64_MAX;
	if (db->share == NULL)
		return 0;
	if ((batch = malloc(sizeof *batch)) == NULL)
		return err_oom(db->path);
	/* fn runs with no lock of the store held, a batch at a time */
	do {
		rc = share_peek_batch(db, batch, n_keys);
		off = 0;
		peek_enter(db);
		while (peek_batch_next(batch, &off, &key, &klen, &vlen, &at)) {
			fn(arg, key, klen, vlen, at);
			seen++;
		}
		peek_leave();
	} while (rc == 1);
	free(batch);
	return rc < 0 ? rc : seen;
}

/* Write back what the store keeps for its writer and let the lock go;
 * s->mu held, no caller holding. */
static int
share_release(struct blt *db)
{
	struct share *s = db->share;
	int rc = 0;

	pthread_rwlock_wrlock(&db->lock);
	if (s->mode == SHARE_WRITE) {
		/* a reader of another process refuses a store marked
		 * unclean: the count goes back as a close writes it */
		rc = write_flush(db, 0);
		if (rc == 0 && db->dirty &&
		    (rc = hdr_write_nkeys(db, (uint32_t)db->n_keys)) == 0 &&
		    (rc = io_sync(db)) == 0)
			db->dirty = 0;
	}
	if (rc == 0)
		rc = share_remember(db);
	pthread_rwlock_unlock(&db->lock);
	if (rc < 0)
		return rc; /* kept: nothing may see the store half written */
	(void)flock(db->fd, LOCK_UN);
	__atomic_store_n(&s->mode, SHARE_NONE, __ATOMIC_SEQ_CST);
	s->st.let_go++;
	return 0;
}

/* blt_let_go() of a lock held in mode at most. */
static int
share_let_go(struct blt *db, double idle, int mode)
{
	struct share *s = db->share;
	int rc = 0;

	if (s == NULL)
		return 0;
	pthread_mutex_lock(&s->mu);
	if (s->mode != SHARE_NONE && s->mode <= mode &&
	    __atomic_load_n(&s->holds, __ATOMIC_SEQ_CST) == 0 &&
	    __atomic_load_n(&s->gate, __ATOMIC_SEQ_CST) == 0 &&
	    share_now_us() - __atomic_load_n(&s->last, __ATOMIC_RELAXED) >=
	        (int64_t)(idle * 1e6)) {
		/* idle: a caller that comes now waits at the gate */
		share_gate_close(s);
		rc = share_release(db) == 0 ? 1 : -1;
		share_gate_open(s);
	}
	pthread_mutex_unlock(&s->mu);
	return rc < 0 ? -EIO : rc;
}

int
blt_let_go(struct blt *db, double idle)
{
	return share_let_go(db, idle, SHARE_WRITE);
}

/* Whether the file at the store's path is not as share_remember() left
 * it; s->mu held, the lock let go. */
static int
share_moved(struct blt *db)
{
	struct share *s = db->share;
	struct stat st, at;

	if (fstat(db->fd, &st) == -1)
		return 1;
	if (stat(db->file, &at) == 0 &&
	    (at.st_dev != st.st_dev || at.st_ino != st.st_ino))
		return 1;
	return (uint64_t)st.st_size != s->size ||
	       !share_same_time(&st.st_mtim, &s->mtime) ||
	       !share_same_time(&st.st_ctim, &s->ctime);
}

int
share_unchanged(struct blt *db)
{
	struct share *s = db->share;
	int same;

	if (s == NULL)
		return 1;
	pthread_mutex_lock(&s->mu);
	pthread_rwlock_rdlock(&db->lock);
	same =
	    !share_moved(db) && memcmp(db->map->base, s->head, HEADER_LEN) == 0;
	pthread_rwlock_unlock(&db->lock);
	pthread_mutex_unlock(&s->mu);
	return same;
}

/* Whether blt_peek_follow() has read the file at the store's path to its
 * end, in the layout it has now: then the lock would follow nothing that
 * is not followed already (the store itself catches up at its next hold,
 * struct blt_change's peeked_to), and taking it only to look could meet
 * the pipeline's next open, which Debian's Python booklet fails at once.
 * s->mu held, the lock let go. */
static int
share_peek_caught_up(struct blt *db)
{
	struct share *s = db->share;
	unsigned char h[HEADER_LEN];
	struct stat st, at;
	int up;

	pthread_rwlock_rdlock(&db->lock);
	up = fstat(db->fd, &st) == 0 && stat(db->file, &at) == 0 &&
	     at.st_dev == st.st_dev && at.st_ino == st.st_ino &&
	     (uint64_t)st.st_size == s->peek_end &&
	     pread(db->fd, h, sizeof h, 0) == (ssize_t)sizeof h &&
	     le_get(h + HDR_N_KEYS_OFF, 4) != NKEYS_UNCLEAN &&
	     share_peek_grew(s, h, (uint64_t)st.st_size);
	pthread_rwlock_unlock(&db->lock);
	return up;
}

int
blt_poll(struct blt *db)
{
	struct share *s = db->share;
	int rc = 0;

	if (s == NULL)
		return 0;
	pthread_mutex_lock(&s->mu);
	if (s->mode == SHARE_NONE &&
	    __atomic_load_n(&s->gate, __ATOMIC_SEQ_CST) == 0 &&
	    share_moved(db) && !share_peek_caught_up(db)) {
		/* only a free lock: a writer of another process that holds it
		 * is still writing, and is looked at again next time */
		share_gate_close(s);
		rc = share_take(db, SHARE_READ, 0);
		if (rc == 0) {
			s->st.polled++;
			rc = share_release(db) == 0 ? 1 : -EIO;
		} else if (rc == -EWOULDBLOCK)
			rc = 0;
		share_gate_open(s);
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int
blt_share_stat(struct blt *db, struct blt_share_stat *st, size_t size)
{
	struct share *s = db->share;
	struct blt_share_stat now;

	memset(&now, 0, sizeof now);
	if (s != NULL) {
		pthread_mutex_lock(&s->mu);
		now = s->st;
		now.mode = s->mode;
		now.holds = __atomic_load_n(&s->holds, __ATOMIC_SEQ_CST);
		pthread_mutex_unlock(&s->mu);
	}
	/* a caller built against an older, shorter struct gets its part */
	memcpy(st, &now, size < sizeof now ? size : sizeof now);
	return s == NULL ? -EINVAL : 0;
}
