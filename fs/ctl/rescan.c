/*
 * rescan.c: the index brought back in line with a store that another
 * process changed in a way the keys it appended cannot tell (a prune or
 * clear in place, another file put in the store's place: follow.c), in
 * steps, while the mount goes on answering from the index it has.
 *
 * Two passes, each a step at a time on follow.c's thread, the store held
 * for one step only:
 *
 * - reading: every key of the store is put into the index, in file order,
 *   by one scan kept from step to step.  The keys others append meanwhile
 *   are put in as they come (follow.c), and a store compacted under the
 *   scan (a prune of the mount's own) starts it again.  Meanwhile a
 *   lookup of a name the index lacks asks the store (fs->rescan, ops.c),
 *   so a file the store has answers before the scan reaches it.
 * - sweeping: once every key of the store is in, the index holds more
 *   keys than the store only if some of its names are of keys gone; then
 *   every directory of the index is listed, a step of entries at a time,
 *   by the offsets readdir gives (which stay valid while entries come and
 *   go), and the names whose keys the store has not are dropped.
 *
 * A test may hold a rescan after its first step: BLTFS_FOLLOW_HOLD names a
 * FIFO, from which the rescan then reads one byte.  BLTFS_FOLLOW_STEP
 * sets the keys of a step.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ctl-int.h"

/* Keys read, or entries swept, in one step: about 30 ms of the store
 * held (1.5 µs a key at 10 million keys). */
#define RESCAN_STEP 20000
#define RESCAN_BATCH 64 /* keys taken from the scan at once */
/* And at most this long (µs): a sweep without the lock looks each name up
 * as peek.c does, which takes milliseconds a name while the writer is at work
 * (tests/mount-peek.sh under ASan: 150 names a second), and the thread
 * reads others' appends only between steps; a step of 20,000 such names
 * kept the keys a pipeline put from the mount for 100 s. */
#define RESCAN_STEP_US 50000
#define SWEEP_BATCH 64 /* entries listed at once */

struct rescan {
	struct fs *fs;
	/* the state is fs->rescan (FS_RESCAN_*), which the store's holder
	 * changes and requests read.  A rescan is started by whichever
	 * thread's hold found the change (follow_change(): a request's, as
	 * often as the follow thread's), and stepped only by the follow
	 * thread, whose step may be under way without the lock meanwhile:
	 * so a start sets the state at once and leaves its request here,
	 * under mu, and the follow thread starts it before its next step
	 * (rescan_catch_up()); mu is never held for more than that, as a
	 * step waits for fs->wlock, which a writing request holds while it
	 * takes the store. */
	pthread_mutex_t mu;
	int pending;         /* a start asked for, not made yet */
	int pending_state;   /* and its state */
	int pending_quiet;   /* not held by BLTFS_FOLLOW_HOLD */
	struct blt_iter *it; /* reading: the scan, from the first step on */
	/* sweeping: the directories left to list, the last first, and the
	 * offset in it where the last step stopped */
	uint64_t *dirs;
	size_t ndirs, cap;
	off_t off;
	int steps; /* of this rescan, for BLTFS_FOLLOW_HOLD */
	/* a sweep without the lock met names whose keys the store could not
	 * tell of (read while its writer was at work): the sweep goes over
	 * them all again; untold_sweeps counts the sweeps that ended so
	 * (rescan_untold_sweeps()) */
	int untold, untold_sweeps;
	long step;        /* keys or entries a step */
	const char *hold; /* BLTFS_FOLLOW_HOLD */
	/* BLTFS_SWEEP_HOLD: a test's, after a sweep's first step */
	const char *sweep_hold;
	int sweep_steps;
};

struct rescan *
rescan_new(struct fs *fs)
{
	struct rescan *r;
	const char *step = getenv("BLTFS_FOLLOW_STEP");

	if ((r = calloc(1, sizeof *r)) == NULL)
		return NULL;
	r->fs = fs;
	pthread_mutex_init(&r->mu, NULL);
	r->step = step != NULL && atol(step) > 0 ? atol(step) : RESCAN_STEP;
	r->hold = getenv("BLTFS_FOLLOW_HOLD");
	r->sweep_hold = getenv("BLTFS_SWEEP_HOLD");
	return r;
}

/* Done with the directory on top: its reference goes (the root's is
 * none). */
static void
sweep_pop(struct rescan *r)
{
	inode_forget(r->fs->tree, r->dirs[--r->ndirs], 1);
}

static void
sweep_drop_all(struct rescan *r)
{
	while (r->ndirs > 0)
		sweep_pop(r);
}

void
rescan_free(struct rescan *r)
{
	if (r == NULL)
		return;
	/* the references of r->dirs go with the tree, freed before */
	blt_iter_free(r->it);
	free(r->dirs);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

/* The state a step leads to, unless a start came meanwhile: its state
 * stands. */
static void
rescan_set(struct rescan *r, int state)
{
	pthread_mutex_lock(&r->mu);
	if (!r->pending)
		atomic_store(&r->fs->rescan, state);
	pthread_mutex_unlock(&r->mu);
}

/* Sweep from the root: -ENOMEM leaves the rescan as it was. */
static int
rescan_sweep_from_root(struct rescan *r)
{
	if (r->cap == 0) {
		if ((r->dirs = malloc(16 * sizeof *r->dirs)) == NULL)
			return -ENOMEM;
		r->cap = 16;
	}
	sweep_drop_all(r);
	r->dirs[0] = INODE_ROOT;
	r->ndirs = 1;
	r->off = 0;
	return 0;
}

void
rescan_start(struct rescan *r, int state)
{
	pthread_mutex_lock(&r->mu);
	/* a read of every key ends in a sweep: a sweep asked for after it
	 * is in it */
	if (!(r->pending && r->pending_state == FS_RESCAN_READING &&
	        state == FS_RESCAN_SWEEPING))
		r->pending_state = state;
	r->pending = 1;
	r->pending_quiet = 0;
	atomic_store(&r->fs->rescan, r->pending_state);
	pthread_mutex_unlock(&r->mu);
}

void
rescan_no_hold(struct rescan *r)
{
	pthread_mutex_lock(&r->mu);
	if (r->pending)
		r->pending_quiet = 1;
	else
		r->steps = 1;
	pthread_mutex_unlock(&r->mu);
}

void
rescan_catch_up(struct rescan *r)
{
	int state, quiet;

	pthread_mutex_lock(&r->mu);
	if (!r->pending) {
		pthread_mutex_unlock(&r->mu);
		return;
	}
	r->pending = 0;
	state = r->pending_state;
	quiet = r->pending_quiet;
	pthread_mutex_unlock(&r->mu);
	blt_iter_free(r->it);
	r->it = NULL;
	sweep_drop_all(r);
	r->steps = quiet;
	r->sweep_steps = 0;
	r->untold = 0;
	r->untold_sweeps = 0;
	if (state == FS_RESCAN_SWEEPING && rescan_sweep_from_root(r) < 0)
		/* ends in a sweep all the same */
		rescan_set(r, FS_RESCAN_READING);
}

void
rescan_hold(struct rescan *r)
{
	if (r->steps++ == 0)
		fs_test_hold("BLTFS_FOLLOW_HOLD", r->hold);
}

/* A step of reading: every key of it into the index. */
static void
rescan_read(struct rescan *r, struct job_notes *ns, uint64_t *put)
{
	struct fs *fs = r->fs;
	struct blt_item items[RESCAN_BATCH];
	uint64_t until = fs_now_us() + RESCAN_STEP_US;
	long left = r->step;
	int n;

	if (r->it == NULL && blt_iter_create_unchecked(fs->db, &r->it) < 0) {
		follow_failed(fs, "");
		rescan_set(r, FS_RESCAN_NONE);
		return;
	}
	while ((n = blt_iter_next_many(r->it, items,
	            left < RESCAN_BATCH ? (int)left : RESCAN_BATCH)) > 0) {
		for (int i = 0; i < n; i++)
			job_learn_key(
			    fs, items[i].key, items[i].klen, items[i].vlen, ns);
		*put += (uint64_t)n;
		if ((left -= n) <= 0 || fs_now_us() >= until)
			break;
	}
	if (n > 0)
		return; /* more next step */
	blt_iter_free(r->it);
	r->it = NULL;
	if (n == -ESTALE) /* compacted by a prune of the mount's own */
		return;
	if (n < 0) {
		follow_failed(fs, "; names of keys it deleted may stay until "
		                  "the next mount");
		rescan_set(r, FS_RESCAN_NONE);
		return;
	}
	/* every key of the store is in: more in the index are gone ones */
	if ((int64_t)job_keyed_names(fs) == blt_count(fs->db) ||
	    rescan_sweep_from_root(r) < 0)
		rescan_set(r, FS_RESCAN_NONE);
	else
		rescan_set(r, FS_RESCAN_SWEEPING);
}

/* One entry of a directory for a sweep step. */
struct sweep_ent {
	uint64_t node; /* a directory's */
	off_t off;     /* the directory's offset after it */
	int type;
	int dot; /* "." or "..": no name of a key */
	unsigned flags;
	size_t nlen;
	char name[PATH_NAME_MAX + 1];
};

struct sweep_list {
	struct inode_tree *t;
	struct sweep_ent *v;
	size_t n, cap;
};

static int
sweep_take(void *arg, const char *name, size_t nlen,
    const struct inode_info *info, off_t off)
{
	struct sweep_list *l = arg;
	struct sweep_ent *e;

	if (l->n == l->cap)
		return 1;
	e = &l->v[l->n++];
	e->off = off;
	e->dot = (nlen == 1 && name[0] == '.') ||
	         (nlen == 2 && name[0] == '.' && name[1] == '.');
	e->node = info->nodeid;
	e->type = info->type;
	/* a directory to list later is kept till then (sweep_push()) */
	if (e->type == INODE_DIR && !e->dot)
		inode_hold_entry(l->t, info);
	e->flags = info->flags;
	e->nlen = nlen;
	memcpy(e->name, name, nlen);
	e->name[nlen] = '\0';
	return 0;
}

/* Drop the name of e in dir if the store has not its key: 1 if dropped,
 * -EAGAIN if the store could not tell (job_forget_deleted()).  Under
 * fs->wlock for this name alone: a name looked up without the lock may
 * take milliseconds, and changes through the mount wait for wlock. */
static int
sweep_one(struct fs *fs, uint64_t dir, const struct sweep_ent *e,
    struct job_notes *ns)
{
	unsigned char *key;
	size_t klen;
	int rc;

	if (e->dot)
		return 0;
	if (e->type == INODE_DIR) {
		if (!(e->flags & INODE_MARKER) ||
		    inode_key(fs->tree, e->node, &key, &klen) < 0)
			return 0;
	} else if (inode_child_key(fs->tree, dir, e->name, e->nlen, INODE_FILE,
	               &key, &klen) < 0) {
		return 0;
	}
	pthread_mutex_lock(&fs->wlock);
	rc = job_forget_deleted(fs, key, klen, ns);
	pthread_mutex_unlock(&fs->wlock);
	free(key);
	return rc;
}

/* Let go of the directories of l from entry i on (sweep_take()). */
static void
sweep_let_go(struct fs *fs, const struct sweep_list *l, size_t i)
{
	for (; i < l->n; i++)
		if (l->v[i].type == INODE_DIR && !l->v[i].dot)
			inode_forget(fs->tree, l->v[i].node, 1);
}

/* The directory dir met by a sweep, with the reference sweep_take()
 * took: listed once the one being listed ends, and let go then
 * (sweep_pop()).  Out of memory, its names may stay. */
static void
sweep_push(struct rescan *r, uint64_t dir)
{
	uint64_t *d;

	if (r->ndirs == r->cap) {
		if ((d = realloc(r->dirs, 2 * r->cap * sizeof *d)) == NULL) {
			inode_forget(r->fs->tree, dir, 1);
			return;
		}
		r->dirs = d;
		r->cap *= 2;
	}
	r->dirs[r->ndirs] = r->dirs[r->ndirs - 1];
	r->dirs[r->ndirs - 1] = dir;
	r->ndirs++;
}

/* A step of sweeping: the names of the directories' entries whose keys
 * are gone are dropped, until the step's entries or its time run out. */
static void
rescan_sweep(struct rescan *r, struct job_notes *ns, uint64_t *gone)
{
	struct fs *fs = r->fs;
	struct sweep_list l = {0};
	uint64_t until = fs_now_us() + RESCAN_STEP_US;
	long left = r->step;
	uint64_t dir;
	size_t i;
	int rc;

	l.t = fs->tree;
	l.cap = r->step < SWEEP_BATCH ? (size_t)r->step : SWEEP_BATCH;
	if ((l.v = malloc(l.cap * sizeof *l.v)) == NULL)
		return; /* next step */
	while (left > 0 && r->ndirs > 0 && fs_now_us() < until) {
		dir = r->dirs[r->ndirs - 1];
		l.n = 0;
		rc = inode_readdir(fs->tree, dir, r->off, 0, sweep_take, &l);
		if (rc < 0 || l.n == 0) { /* gone, or listed to its end */
			sweep_let_go(fs, &l, 0);
			sweep_pop(r);
			r->off = 0;
			continue;
		}
		for (i = 0; i < l.n && (i == 0 || fs_now_us() < until); i++) {
			if ((rc = sweep_one(fs, dir, &l.v[i], ns)) > 0)
				(*gone)++;
			else if (rc == -EAGAIN)
				r->untold = 1;
			r->off = l.v[i].off;
		}
		left -= (long)i;
		/* the directories met go below this one, whose listing
		 * goes on from r->off; those listed but not reached yet are
		 * let go, and met again */
		sweep_let_go(fs, &l, i);
		while (i-- > 0)
			if (l.v[i].type == INODE_DIR && !l.v[i].dot)
				sweep_push(r, l.v[i].node);
	}
	free(l.v);
	if (r->sweep_steps++ == 0)
		fs_test_hold("BLTFS_SWEEP_HOLD", r->sweep_hold);
	if (r->ndirs > 0)
		return;
	if (!r->untold || rescan_sweep_from_root(r) < 0) {
		rescan_set(r, FS_RESCAN_NONE);
		return;
	}
	r->untold = 0;
	r->untold_sweeps++;
}

int
rescan_untold_sweeps(const struct rescan *r)
{
	return r->untold_sweeps;
}

int
rescan_step(
    struct rescan *r, struct job_notes *ns, uint64_t *put, uint64_t *gone)
{
	rescan_catch_up(r); /* one the hold for this step found */
	switch (atomic_load(&r->fs->rescan)) {
	case FS_RESCAN_READING:
		rescan_read(r, ns, put);
		break;
	case FS_RESCAN_SWEEPING:
		rescan_sweep(r, ns, gone);
		break;
	default:
		return 0;
	}
	return 1;
}
