/*
 * follow.c: a mount that shares its store with other processes (a Python
 * pipeline that owns it): the store's lock is held only while requests
 * and jobs need it (blt_share(): every request holds the store between
 * blt_hold() and blt_unhold(), fs/daemon/loop.c), a thread of its own
 * lets it go once the mount is idle, and what other processes did to the
 * store meanwhile is followed into the directory index before any request
 * sees the store again.
 *
 * A store that only grew is read from its old end: each key found there is
 * put into the index as a job's results are (job_learn_key()).  Since a
 * delete appends nothing, the key count tells whether one came too: the
 * keys the index gained must be what the store's count gained, and the
 * keys deleted are looked for among the dead blocks.  Any other change (a
 * prune or clear, another file in the store's place) starts a rescan
 * (rescan.c): this file's thread puts every key of the store into the
 * index again and then drops the names whose keys are gone, a step at a
 * time, while the mount answers; so do deletes that the dead blocks did
 * not show, with the sweep alone.
 *
 * The kernel hears of what changed from a thread that does nothing else
 * (the teller), never from a request nor from the thread that follows:
 * a notice waits for the kernel's lock of the directory it names, which
 * a request may hold, and that request, a read the other process's
 * appends left unsure, may be waiting for this file's thread to read them
 * (blt_hold_peek()).  CI saw that wait close into a circle: a lookup of a
 * name being swept waited for the thread, the thread waited in a notice
 * for the lookup's directory, and after 2 s the lookup took the lock.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bltutil.h"
#include "ctl-int.h"

/* How long the mount holds the lock without a request needing it, and how
 * often its thread looks: the lock is free within FOLLOW_IDLE +
 * FOLLOW_TICK of the last request that wrote (bltfs.1); requests that
 * read never take it (blt_hold_peek()). */
#define FOLLOW_IDLE 0.0
#define FOLLOW_TICK_MS 100
/* A write of the store file (watch.c) wakes the thread this long after
 * the first write since its last look: the rest of a sync (Python's index
 * and key count, written after its data) comes meanwhile, and a look
 * between them sees names past the count, which may start a sweep of
 * every name (follow_sweep_due()). */
#define FOLLOW_SOON_MS 10
/* The mount's thread takes the lock to follow another process (blt_poll(),
 * a rescan's steps) only once that process left the file alone this long
 * (s); until then it reads the appends and sweeps the names without it: a
 * pipeline that closes and opens its store again at once must not find
 * the lock held by a mount that only follows it (Debian's Python booklet
 * fails at once, whatever its timeout). */
#define FOLLOW_QUIET 2.0
/* A store held past the lock timeout is logged at most this often (µs):
 * every request it refuses would say the same. */
#define FOLLOW_LOG_EVERY 1000000

struct follow {
	struct fs *fs;
	pthread_t thread;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t wake;
	int stop;
	int poked;   /* a request followed a change: look at once */
	int written; /* the store file was written: look soon (watch.c) */
	struct timespec written_at; /* when first, since the last look */
	uint64_t woken;             /* looks so made, for status */
	struct watch *watch;
	/* the teller: sends what tell holds to the kernel */
	pthread_t teller;
	int teller_started;
	pthread_cond_t tell_wake;
	struct job_notes tell; /* for the kernel: filled under mu */
	int told;              /* a failure to let go was logged */
	int64_t refused_at;    /* when a refusal was last logged, µs */
	/* what was followed, for status (under mu) */
	uint64_t grew, whole, keys_put, keys_gone;
	uint64_t sweeps; /* of every name, started on the store's count */
	/* when the last sweep started (or the mount did) and how long it
	 * took, µs, for a sweep that may wait (follow_sweep_due()) */
	uint64_t swept_at, sweep_took;
	int sweeping;         /* one is under way */
	int sweep_owed;       /* the count says some names may be gone */
	uint64_t sweep_every; /* FOLLOW_SWEEP_EVERY, or a test's */
	/* changes that could not be followed (a damaged store), and why
	 * the last could not */
	uint64_t failures;
	char failed[1024];
	uint64_t peeked; /* keys read from others' appends without the lock */
	/* the store's count and the index's when a look last decided
	 * whether to sweep (follow_peek()) */
	uint64_t peek_keys, peek_names;
	struct rescan *rescan; /* after a change the appended keys cannot
	                          tell: rescan.c */
};

/* Dead blocks looked at, for each key of the index, before looking up
 * every name of the index instead: a dead block costs about twice a name
 * (a store of 1M keys, each overwritten once: 1.9 s for its 1M dead
 * blocks, 0.8 s for its names). */
#define FOLLOW_DEAD_PER_KEY 4

/* The keys other processes deleted from a store that grew, found among
 * its dead blocks before the old end (a delete makes the key's block a
 * tombstone in place): want of them are to be found, or all there are
 * for want UINT64_MAX.  The number dropped; *all says whether every dead
 * block was looked at, as there may be too many to look at them all. */
static uint64_t
follow_drop_dead(struct follow *f, const struct blt_change *c, uint64_t want,
    int *all, struct job_notes *ns)
{
	struct fs *fs = f->fs;
	struct blt_iter *it;
	struct blt_item item;
	uint64_t gone = 0, seen = 0;
	uint64_t most = inode_count(fs->tree) / FOLLOW_DEAD_PER_KEY + 1000;
	int rc = 1;

	*all = 0;
	if (blt_iter_create_dead(fs->db, c, &it) < 0)
		return 0;
	pthread_mutex_lock(&fs->wlock);
	while (
	    gone < want && seen++ < most && (rc = blt_iter_next(it, &item)) > 0)
		gone += job_forget_deleted(fs, item.key, item.klen, ns) > 0;
	pthread_mutex_unlock(&fs->wlock);
	blt_iter_free(it);
	*all = rc == 0;
	return gone;
}

/* Put every key it gives into the index; the number put. */
static uint64_t
follow_put_all(struct follow *f, struct blt_iter *it, struct job_notes *ns)
{
	struct blt_item item;
	uint64_t n = 0;
	int rc;

	while ((rc = blt_iter_next(it, &item)) > 0) {
		job_learn_key(f->fs, item.key, item.klen, item.vlen, ns);
		n++;
	}
	if (rc < 0)
		follow_failed(f->fs, "");
	return n;
}

/* The keys after the old end (or after what the mount read without the
 * lock, c->peeked_to), then the keys deleted: 0, -ESTALE if not all of
 * them were found among the dead blocks, or -EAGAIN if the keys could not
 * be read.  With no rescan under way, the store's count says
 * how many deletes to look for (the index held the store's keys before);
 * while a rescan reads the store, the deletes are left to its sweep; while
 * it sweeps, every dead block is looked at. */
static int
follow_grown(struct follow *f, const struct blt_change *c, int state,
    struct job_notes *ns)
{
	struct fs *fs = f->fs;
	struct blt_iter *it;
	uint64_t put, gone, want, now;
	int all;

	if (blt_iter_create_grown(fs->db, c, &it) < 0)
		return -EAGAIN;
	put = follow_put_all(f, it, ns);
	blt_iter_free(it);
	pthread_mutex_lock(&f->mu);
	f->keys_put += put;
	pthread_mutex_unlock(&f->mu);
	if (state == FS_RESCAN_READING)
		return 0;
	/* Every key of the store has its name now, so the names more than
	 * the store's keys are of keys deleted.  Counted in all, not as
	 * what this follow gained: the mount's thread may have put the
	 * appended keys in already, read without the lock while their
	 * writer closed (follow_peek()), and a gain of none then made the
	 * deletes look negative and started a sweep of every name, each
	 * step of it taking the lock the writer's next open wants. */
	now = job_keyed_names(fs);
	if (now == c->new_keys) {
		if (state == FS_RESCAN_SWEEPING) /* started on a stale count */
			rescan_start(f->rescan, FS_RESCAN_NONE);
		return 0;
	}
	/* counts that do not add up, or no dead blocks to look among: the
	 * names of keys gone are swept */
	if (c->how != BLT_GREW || now < c->new_keys ||
	    now - c->new_keys > c->old_keys + put)
		return -ESTALE;
	want = state == FS_RESCAN_SWEEPING ? UINT64_MAX : now - c->new_keys;
	gone = follow_drop_dead(f, c, want, &all, ns);
	pthread_mutex_lock(&f->mu);
	f->keys_gone += gone;
	pthread_mutex_unlock(&f->mu);
	return gone == want || (state == FS_RESCAN_SWEEPING && all) ? 0
	                                                            : -ESTALE;
}

/* Hand the kernel's notes in ns to the teller, which sends them; ns is
 * emptied. */
static void
follow_tell(struct follow *f, struct job_notes *ns)
{
	if (ns->n == 0) {
		free(ns->v);
		memset(ns, 0, sizeof *ns);
		return;
	}
	pthread_mutex_lock(&f->mu);
	job_notes_move(&f->tell, ns);
	pthread_cond_signal(&f->tell_wake);
	pthread_mutex_unlock(&f->mu);
}

static void *
follow_teller_main(void *arg)
{
	struct follow *f = arg;
	struct job_notes ns;

	pthread_mutex_lock(&f->mu);
	while (!f->stop) {
		if (f->tell.n == 0) {
			pthread_cond_wait(&f->tell_wake, &f->mu);
			continue;
		}
		ns = f->tell;
		memset(&f->tell, 0, sizeof f->tell);
		pthread_mutex_unlock(&f->mu);
		job_notify(f->fs, &ns); /* with no lock held */
		free(ns.v);
		pthread_mutex_lock(&f->mu);
	}
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

/* Sweep the names of keys gone, the store's count short of the index's
 * (status counts these sweeps). */
static void
follow_sweep(struct follow *f)
{
	rescan_start(f->rescan, FS_RESCAN_SWEEPING);
	pthread_mutex_lock(&f->mu);
	f->sweeps++;
	f->swept_at = fs_now_us();
	f->sweeping = 1;
	f->sweep_owed = 0;
	pthread_mutex_unlock(&f->mu);
}

/* blt_share()'s follow function: in the thread whose blt_hold() found the
 * change, before any request goes on.  What takes long (a rescan) only
 * starts here: the thread does it in steps. */
static void
follow_change(void *arg, const struct blt_change *c)
{
	struct follow *f = arg;
	struct job_notes ns = {0};
	int state = atomic_load(&f->fs->rescan), rc = -EAGAIN, whole = 1;

	/* a prune or clear that the mount read without the lock already
	 * (c->peeked_to): only what came after it, unless a rescan reads
	 * the store, whose offsets it made void */
	if (c->how == BLT_GREW ||
	    (c->peeked_to != 0 && state != FS_RESCAN_READING))
		rc = follow_grown(f, c, state, &ns);
	/* a prune or clear the thread had not read: it reads every key
	 * again without the lock (follow_peek()), and sweeps the names of
	 * keys gone once the count falls short */
	if (rc != 0 && c->reread && state != FS_RESCAN_READING)
		rc = 0;
	if (rc == 0)
		whole = 0;
	else if (rc == -ESTALE) /* every key is in: sweep the gone ones */
		follow_sweep(f);
	else /* a prune or clear, another file: read it all again */
		rescan_start(f->rescan, FS_RESCAN_READING);
	pthread_mutex_lock(&f->mu);
	f->grew += (uint64_t)!whole;
	f->whole += (uint64_t)whole;
	f->poked = 1; /* a rescan may have started: no tick's wait */
	pthread_cond_signal(&f->wake);
	pthread_mutex_unlock(&f->mu);
	follow_tell(f, &ns);
}

/* A step of the rescan under way, if any, with the store held but not
 * kept from being let go meanwhile: 1 if a step was made.  A sweep goes
 * without the lock (blt_hold_peek(): a name is dropped only if its key is
 * surely gone); one that could not tell of some keys goes over them again
 * once the other process has left the file alone for FOLLOW_QUIET, still
 * without it, and only if that one could not tell either, with it.
 * Reading a store that changed as its appends cannot tell takes the lock,
 * once the other process is quiet. */
static int
follow_rescan_step(struct follow *f)
{
	struct job_notes ns = {0};
	uint64_t put = 0, gone = 0;
	int made, peeked, state, rc, untold;
	int quiet = !blt_others_active(f->fs->db, FOLLOW_QUIET);

	rescan_catch_up(f->rescan);
	state = atomic_load(&f->fs->rescan);
	untold = rescan_untold_sweeps(f->rescan);
	if (state == FS_RESCAN_NONE)
		return 0;
	if (state == FS_RESCAN_SWEEPING &&
	    (untold == 0 || (untold == 1 && quiet)))
		rc = blt_hold_peek(f->fs->db);
	else if (quiet)
		rc = blt_hold_try(f->fs->db, 0);
	else
		rc = -EWOULDBLOCK;
	if (rc < 0)
		return 0; /* another process holds it: the next tick */
	peeked = blt_peeking(f->fs->db);
	made = rescan_step(f->rescan, &ns, &put, &gone);
	blt_unhold_unused(f->fs->db);
	/* a test's hold (BLTFS_FOLLOW_HOLD) is of a step with the lock,
	 * of a rescan still under way: one held once it ended would keep
	 * the lock with nothing in status to say why */
	if (made && !peeked && atomic_load(&f->fs->rescan) != FS_RESCAN_NONE)
		rescan_hold(f->rescan);
	pthread_mutex_lock(&f->mu);
	f->keys_put += put;
	f->keys_gone += gone;
	pthread_mutex_unlock(&f->mu);
	follow_tell(f, &ns);
	return made;
}

/* The keys learned under one hold of fs->wlock.  Taken for each key, the
 * lock changed hands with the requests that wait for it at every key, and
 * on a core that readers keep busy each hand-over waited for the core: a
 * flush of 100,000 keys showed in a -o ro mount after 15 s.  Learned this
 * many at a time (about a millisecond), a change or a lookup of a name not
 * followed yet waits no longer than that.  They are kept until then: the
 * lock cannot stay held from one key to the next, across the reads of
 * blt_peek_follow(), which take the store's own locks, and a hold of the
 * store (under those) may learn keys under fs->wlock (follow_change()). */
#define FOLLOW_LEARN_RUN 256

struct follow_peek {
	struct follow *f;
	struct job_notes ns;
	unsigned char *keys; /* the run's keys, one after the other */
	size_t used, cap;    /* bytes of keys */
	unsigned n;          /* keys in the run */
	struct {
		size_t klen;
		uint64_t vlen;
	} run[FOLLOW_LEARN_RUN];
};

/* Learn the keys of p's run, under one hold of fs->wlock. */
static void
follow_learn_run(struct follow_peek *p)
{
	struct fs *fs = p->f->fs;
	size_t off = 0;

	if (p->n == 0)
		return;
	pthread_mutex_lock(&fs->wlock);
	for (unsigned i = 0; i < p->n; i++) {
		job_learn_appended(
		    fs, p->keys + off, p->run[i].klen, p->run[i].vlen, &p->ns);
		off += p->run[i].klen;
	}
	pthread_mutex_unlock(&fs->wlock);
	p->n = 0;
	p->used = 0;
}

static void
follow_peeked(
    void *arg, const void *key, size_t klen, uint64_t vlen, uint64_t at)
{
	struct follow_peek *p = arg;
	unsigned char *k;

	(void)at;
	if (p->used + klen > p->cap) {
		size_t cap = p->cap * 2 > p->used + klen
		                 ? p->cap * 2
		                 : p->used + klen + 4096;

		if ((k = realloc(p->keys, cap)) == NULL) {
			/* out of memory: this key alone, held for itself */
			follow_learn_run(p);
			pthread_mutex_lock(&p->f->fs->wlock);
			job_learn_appended(p->f->fs, key, klen, vlen, &p->ns);
			pthread_mutex_unlock(&p->f->fs->wlock);
			return;
		}
		p->keys = k;
		p->cap = cap;
	}
	memcpy(p->keys + p->used, key, klen);
	p->used += klen;
	p->run[p->n].klen = klen;
	p->run[p->n].vlen = vlen;
	if (++p->n == FOLLOW_LEARN_RUN)
		follow_learn_run(p);
}

/* A sweep that the count does not prove needed waits until the other
 * process has been quiet for FOLLOW_QUIET, or until this many times a
 * sweep's time has passed since the last one started (or the mount did),
 * and a second at least: so sweeps take a tenth of a core at most.  A
 * sweep's time is the last one's, or what a name costs (about 3 µs) times
 * the names, whichever is more.  A test sets the second in ms
 * (BLTFS_SWEEP_EVERY_MS: tests/mount-follow-count.sh). */
#define FOLLOW_SWEEP_SHARE 10
#define FOLLOW_SWEEP_EVERY 1000000
#define FOLLOW_SWEEP_NAME_NS 3000

/* Whether a sweep the count does not prove goes now; f->mu held.  Once
 * the other process is quiet, its count is its last sync's or delete's,
 * and the names past it are keys put since, or gone. */
static int
follow_sweep_due(struct follow *f, uint64_t now, uint64_t names)
{
	uint64_t wait = names * FOLLOW_SWEEP_NAME_NS / 1000;

	if (wait < f->sweep_took)
		wait = f->sweep_took;
	wait *= FOLLOW_SWEEP_SHARE;
	return now - f->swept_at >=
	           (wait > f->sweep_every ? wait : f->sweep_every) ||
	       !blt_others_active(f->fs->db, FOLLOW_QUIET);
}

/* While another process holds the store (a pipeline writing it): what it
 * appended and flushed, new keys and new values, read without the lock
 * and told to the kernel (after a prune or clear of its own, every key it
 * kept).  Its deletes show as a key count, which the reference writes at
 * each delete and at a sync, short of the index's: then the names are
 * swept, without the lock too (follow_rescan_step()), each dropped only if
 * its key is surely gone.
 *
 * The count is not written when a full buffer is flushed, so while the
 * writer puts keys between its syncs the index has names past it that are
 * no deletes; a sweep of every name at each look (3 µs a name) took more
 * CPU than the writer, 1.3 cores of two mounts beside a writer of 500,000
 * keys into a store of 1M.  A count written since the last look proves
 * deletes when it is short of the names the index had at that look, all
 * of them in the file when it was written; then the sweep goes at once,
 * else when follow_sweep_due() says. */
static void
follow_peek(struct follow *f)
{
	struct follow_peek p = {.f = f};
	uint64_t n_keys, names, now;
	int surely = 0, sweep;
	int64_t n = blt_peek_follow(f->fs->db, follow_peeked, &p, &n_keys);

	follow_learn_run(&p);
	free(p.keys);
	if (n > 0) {
		pthread_mutex_lock(&f->mu);
		f->peeked += (uint64_t)n;
		pthread_mutex_unlock(&f->mu);
	}
	follow_tell(f, &p.ns);
	/* decided once the rescan under way ends: a key deleted meanwhile
	 * may have had its name swept past already */
	if (n < 0 || n_keys == UINT64_MAX ||
	    atomic_load(&f->fs->rescan) != FS_RESCAN_NONE)
		return;
	now = fs_now_us();
	names = job_keyed_names(f->fs);
	pthread_mutex_lock(&f->mu);
	if (f->sweeping) { /* it ended */
		f->sweep_took = now - f->swept_at;
		f->sweeping = 0;
	}
	/* either count moved: a delete and a put between two looks leave
	 * the store's count as it was, and the index one name more */
	if ((n_keys != f->peek_keys || names != f->peek_names) &&
	    names > n_keys) {
		f->sweep_owed = 1;
		surely = n_keys != f->peek_keys && n_keys < f->peek_names;
	} else if (names <= n_keys)
		f->sweep_owed = 0;
	sweep = f->sweep_owed && (surely || follow_sweep_due(f, now, names));
	pthread_mutex_unlock(&f->mu);
	if (sweep) {
		follow_sweep(f);
		rescan_no_hold(f->rescan); /* a test holds the locked ones */
	}
	f->peek_keys = n_keys;
	f->peek_names = names;
}

/* watch.c's callback: the store file was written, by another process or
 * by this mount.  While the mount holds the lock, the write is its own (a
 * writer of another process needs the lock), and the store's next hold
 * after a let-go follows what came before it: a look then would only let
 * the lock go sooner, at a sync each time, between the files of a cp
 * (785 fdatasyncs for 5,000 files against 67). */
static void
follow_written(void *arg)
{
	struct follow *f = arg;
	struct blt_share_stat st;

	if (blt_share_stat(f->fs->db, &st, sizeof st) == 0 &&
	    st.mode != 0) /* a lock held */
		return;
	pthread_mutex_lock(&f->mu);
	if (!f->written)
		clock_gettime(CLOCK_REALTIME, &f->written_at);
	f->written = 1;
	pthread_cond_signal(&f->wake);
	pthread_mutex_unlock(&f->mu);
}

/* ms milliseconds after last, for pthread_cond_timedwait(). */
static struct timespec
follow_after(struct timespec last, long ms)
{
	last.tv_nsec += ms * 1000000L;
	if (last.tv_nsec >= 1000000000L) {
		last.tv_sec++;
		last.tv_nsec -= 1000000000L;
	}
	return last;
}

/* Wait for the next look (f->mu held): a tick after the last one, or
 * FOLLOW_SOON_MS after the store file was first written since. */
static void
follow_wait(struct follow *f)
{
	struct timespec last, at;

	clock_gettime(CLOCK_REALTIME, &last);
	while (!f->stop && !f->poked) {
		at = f->written ? follow_after(f->written_at, FOLLOW_SOON_MS)
		                : follow_after(last, FOLLOW_TICK_MS);
		if (pthread_cond_timedwait(&f->wake, &f->mu, &at) == ETIMEDOUT)
			break;
	}
	f->woken += (uint64_t)f->written;
}

static void *
follow_main(void *arg)
{
	struct follow *f = arg;
	int rc, stepped, let_go = 0;

	pthread_mutex_lock(&f->mu);
	while (!f->stop) {
		/* a rescan of a mount in use goes on at once; of an idle
		 * one, after a tick with the lock let go, for others */
		if (!f->poked && let_go)
			follow_wait(f);
		f->poked = f->written = 0;
		pthread_mutex_unlock(&f->mu);
		stepped = follow_rescan_step(f);
		/* let go when idle; once let go, look for another
		 * process's change, so that a mount nobody asks anything
		 * follows too, and the kernel hears of it */
		if ((rc = blt_let_go(f->fs->db, FOLLOW_IDLE)) >= 0) {
			let_go = rc == 1 || !stepped;
			follow_peek(f);
			if (!blt_others_active(f->fs->db, FOLLOW_QUIET))
				rc = blt_poll(f->fs->db);
		}
		pthread_mutex_lock(&f->mu);
		if (rc < 0 && !f->told)
			fs_log("%s: sharing with other processes: %s",
			    blt_path(f->fs->db), blt_errmsg());
		f->told |= rc < 0;
	}
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

int
follow_refused(struct fs *fs, int rc, int writes)
{
	struct follow *f = fs->follow;
	char who[4096 + 128];
	int64_t now = blt_now(), last;
	int err = rc == -EWOULDBLOCK ? -EBUSY : -EIO;

	pthread_mutex_lock(&f->mu);
	last = f->refused_at;
	if (now - last >= FOLLOW_LOG_EVERY)
		f->refused_at = now;
	pthread_mutex_unlock(&f->mu);
	if (now - last < FOLLOW_LOG_EVERY)
		return err; /* said a moment ago */
	if (rc == -EWOULDBLOCK)
		fs_log("%s: %s past the lock timeout (%g s): a %s answered "
		       "EBUSY",
		    blt_path(fs->db),
		    holder_describe(blt_path(fs->db), who, sizeof who),
		    fs->lock_timeout, writes ? "change" : "read");
	else
		fs_log("%s: a %s answered EIO: %s", blt_path(fs->db),
		    writes ? "change" : "read", blt_errmsg());
	return err;
}

int
follow_start(struct fs *fs)
{
	struct follow *f;
	const char *every;
	int rc;

	if ((f = calloc(1, sizeof *f)) == NULL)
		return blt_errmsg_set(-ENOMEM, "out of memory");
	f->fs = fs;
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->wake, NULL);
	pthread_cond_init(&f->tell_wake, NULL);
	if ((f->rescan = rescan_new(fs)) == NULL) {
		follow_free(f);
		return blt_errmsg_set(-ENOMEM, "out of memory");
	}
	if ((rc = blt_share(fs->db, fs->lock_timeout, follow_change, f)) < 0) {
		follow_free(f);
		return rc;
	}
	/* the caller's start-up: the index is built from the store */
	(void)blt_hold(fs->db, !fs->ro);
	f->swept_at = fs_now_us(); /* a first sweep waits as the next do */
	every = getenv("BLTFS_SWEEP_EVERY_MS");
	f->sweep_every = every != NULL && atoll(every) > 0
	                     ? (uint64_t)atoll(every) * 1000
	                     : FOLLOW_SWEEP_EVERY;
	if ((rc = pthread_create(&f->teller, NULL, follow_teller_main, f)) ==
	    0) {
		f->teller_started = 1;
		if ((rc = pthread_create(&f->thread, NULL, follow_main, f)) ==
		    0)
			f->started = 1;
	}
	if (rc != 0) {
		follow_free(f);
		return blt_errmsg_set(
		    -rc, "cannot start a thread: %s", strerror(rc));
	}
	fs->follow = f;
	f->watch = watch_start(blt_path(fs->db), follow_written, f);
	return 0;
}

void
follow_stop(struct follow *f)
{
	if (f == NULL)
		return;
	watch_stop(f->watch); /* no more calls of follow_written() */
	f->watch = NULL;
	pthread_mutex_lock(&f->mu);
	f->stop = 1;
	pthread_cond_signal(&f->wake);
	pthread_cond_signal(&f->tell_wake);
	pthread_mutex_unlock(&f->mu);
	if (f->started)
		pthread_join(f->thread, NULL);
	if (f->teller_started)
		pthread_join(f->teller, NULL);
	f->started = f->teller_started = 0;
}

void
follow_free(struct follow *f)
{
	if (f == NULL)
		return;
	follow_stop(f);
	free(f->tell.v);
	rescan_free(f->rescan);
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->wake);
	pthread_cond_destroy(&f->tell_wake);
	free(f);
}

void
follow_failed(struct fs *fs, const char *then)
{
	struct follow *f = fs->follow;

	fs_log("%s: following another process's change: %s%s", blt_path(fs->db),
	    blt_errmsg(), then);
	if (f == NULL)
		return;
	pthread_mutex_lock(&f->mu);
	f->failures++;
	snprintf(f->failed, sizeof f->failed, "%s%s", blt_errmsg(), then);
	pthread_mutex_unlock(&f->mu);
}

void
follow_status(struct fs *fs, FILE *out)
{
	struct follow *f = fs->follow;
	struct blt_share_stat st;
	static const char *const modes[] = {"none", "shared", "exclusive"};
	static const char *const rescans[] = {"none", "reading", "sweeping"};
	int rescan;

	if (f == NULL || blt_share_stat(fs->db, &st, sizeof st) < 0) {
		fprintf(out, ",\n  \"lock\": \"held\"");
		return;
	}
	rescan = atomic_load(&f->fs->rescan);
	pthread_mutex_lock(&f->mu);
	fprintf(out,
	    ",\n  \"lock\": \"%s\",\n  \"lock_taken\": %" PRIu64
	    ",\n  \"lock_let_go\": %" PRIu64 ",\n  \"lock_timeouts\": %" PRIu64
	    ",\n  \"lock_waiting\": %u"
	    ",\n  \"lock_taken_to_follow\": %" PRIu64
	    ",\n  \"lock_taken_by_reads\": %" PRIu64
	    ",\n  \"followed\": {\"grew\": %" PRIu64 ", \"whole\": %" PRIu64
	    ", \"replaced\": %" PRIu64 ", \"keys_put\": %" PRIu64
	    ", \"keys_gone\": %" PRIu64 ", \"keys_unlocked\": %" PRIu64
	    ", \"relaid_unlocked\": %" PRIu64 ", \"sweeps\": %" PRIu64
	    ", \"woken_by_writes\": %" PRIu64
	    ", \"rescan\": \"%s\", \"failures\": %" PRIu64
	    ", \"last_failure\": ",
	    modes[st.mode], st.taken, st.let_go, st.timeouts, st.waiting,
	    st.polled, st.reads_locked, f->grew, f->whole, st.replaced,
	    f->keys_put, f->keys_gone, f->peeked, st.rebased, f->sweeps,
	    f->woken, rescans[rescan], f->failures);
	if (f->failures > 0)
		json_put_str(out, f->failed, strlen(f->failed));
	else
		fputs("null", out);
	fputc('}', out);
	pthread_mutex_unlock(&f->mu);
}
