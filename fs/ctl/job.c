/*
 * The job runner: one thread per mount that runs the jobs ctl.c starts
 * (prune, reindex, sync, map), one at a time and in order, with the
 * engine's own calls, while the mount keeps serving.
 *
 * A job never holds fs->wlock while the engine works: the engine lets
 * readers and writers through except while it swaps its index or file.
 * What a job changes behind the kernel's back is told to the directory
 * index and to the kernel afterwards:
 *  - each key a map stores in the mounted store goes into the index under
 *    fs->wlock (so that it changes in step with the operations of ops.c);
 *    then, with no lock held, the kernel drops its cached pages and
 *    attributes of a key that existed, or the negative entry of the first
 *    new name on the path of a key that did not;
 *  - the keys a prune --older-than removes are found before it runs (the
 *    live keys it will drop: older, and not kept); those gone once it has
 *    run leave the index, and the kernel forgets their names.
 * The notify calls come from this thread, never from a request handler,
 * and with no lock held that a request handler could wait for.
 *
 * At most JOB_QUEUE_MAX jobs wait to start; more are refused (EBUSY)
 * until one starts or is cancelled.  A finished job stays known (jobs/ID)
 * until JOB_KEEP others have finished after it (a queued job finishes
 * when it is cancelled), so the records stay bounded however jobs end.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bltfs.h"
#include "bltmap.h"
#include "bltutil.h"
#include "ctl-int.h"
#include "ops.h"

#define JOB_KEEP 100      /* finished jobs kept */
#define JOB_LOCK_WAIT 2.0 /* seconds to wait for an output store's lock */

/* Jobs waiting to start, at most.  They run one at a time, so a queue of
 * more than a few dozen is a script gone wrong rather than a plan, and
 * each queued map holds the keys of its PATHs (all of the store's, for a
 * map of the root) in the daemon's memory until it has run; those of a
 * --keys FILE are read when it starts (keylist.c). */
#define JOB_QUEUE_MAX 32

struct job {
	uint64_t id;
	struct job_spec s;
	int state;         /* BLTFS_STATE_* */
	atomic_int cancel; /* asked to stop */
	int error;         /* negative errno of a failed job */
	char msg[512];
	struct blt_map_stats st; /* map: as of the last progress call */
	uint64_t done, total;
	int64_t removed;       /* prune: blocks */
	uint64_t keys_removed; /* prune: keys dropped for their age */
	uint32_t buckets[2];   /* reindex: before and after */
	int64_t created, started, finished;
	uint64_t ended; /* order of finishing, from 1; 0 while unfinished */
	struct job *next;
};

struct job_runner {
	struct fs *fs;
	pthread_mutex_t lock; /* everything below and every job's fields */
	pthread_cond_t cond;
	struct job *head, *tail; /* by id */
	struct job *running;
	uint64_t last_id;
	uint64_t last_ended; /* of the job that finished last */
	int stop;
	int joined;
	pthread_t thread;
};

static const char *const job_kinds[] = {"", "prune", "reindex", "sync", "map"};
static const char *const job_states[] = {
    "", "queued", "running", "done", "failed", "cancelled"};

/* Free what s points to (not s). */
void
job_spec_free(struct job_spec *s)
{
	if (s == NULL)
		return;
	blt_map_keys_free(&s->keep);
	blt_map_keys_free(&s->keys);
	free(s->text);
	free(s->exec);
	free(s->plugin);
	free(s->worker);
	free(s->launcher);
	free(s->hosts);
	free(s->to);
	free(s->out);
	free(s->cwd);
	keylist_close(s->list);
	memset(s, 0, sizeof *s);
}

static void
job_free(struct job *j)
{
	job_spec_free(&j->s);
	free(j);
}

/* Copy what a job's fields say into *out.  Holds: r->lock. */
static void
job_fill(const struct job *j, struct bltfs_job *out)
{
	memset(out, 0, sizeof *out);
	out->id = j->id;
	out->kind = (uint32_t)j->s.kind;
	out->state = (uint32_t)j->state;
	out->error = j->error;
	out->workers = j->st.workers;
	out->done = j->done;
	out->total = j->total;
	out->written = j->st.written;
	out->skipped = j->st.skipped;
	out->errors = j->st.errors;
	out->restarts = j->st.restarts;
	out->removed = j->removed > 0 ? (uint64_t)j->removed : 0;
	out->created = j->created;
	out->started = j->started;
	out->finished = j->finished;
	snprintf(out->message, sizeof out->message, "%s", j->msg);
}

/* --- prune ---------------------------------------------------------- */

static int
job_kept(const struct job_spec *s, const unsigned char *key, size_t klen)
{
	const unsigned char *k;
	size_t at = 0, n;

	while (blt_map_keys_next(&s->keep, &at, &k, &n))
		if (n == klen && memcmp(k, key, klen) == 0)
			return 1;
	return 0;
}

/* The live keys a prune with s's age limit will drop. */
static int
job_prune_candidates(
    struct fs *fs, const struct job_spec *s, struct blt_map_keys *out)
{
	struct blt_iter *it;
	struct blt_item item;
	int rc;

	if ((rc = blt_iter_create(fs->db, &it)) < 0)
		return rc;
	while ((rc = blt_iter_next(it, &item)) == 1)
		if (item.timestamp != BLT_NO_TS &&
		    item.timestamp < s->older_than &&
		    !job_kept(s, item.key, item.klen) &&
		    (rc = blt_map_keys_add(out, item.key, item.klen)) < 0)
			break;
	blt_iter_free(it);
	if (rc == -ENOMEM)
		return blt_errmsg_set(rc, "prune: out of memory");
	return rc;
}

/* The names of the keys a prune evicted have left the index: wake the
 * reads that missed those keys meanwhile.  Before the kernel is told, so
 * that no request handler waits on this while the kernel waits on it. */
static void
job_evicted(struct fs *fs)
{
	if (atomic_load(&fs->evict_seq) & 1) {
		atomic_fetch_add(&fs->evict_seq, 1);
		node_moves_ended(fs);
	}
}

/* The keep keys of s as blt_prune_opts has them, in arrays the caller
 * frees (a few keys: one --keep each). */
static int
job_prune_opts(const struct job_spec *s, struct blt_prune_opts *po)
{
	const unsigned char **keep = NULL;
	size_t *len = NULL, at = 0;

	memset(po, 0, sizeof *po);
	po->older_than = s->older_than;
	if (s->keep.n > 0) {
		keep = malloc(s->keep.n * sizeof *keep);
		len = malloc(s->keep.n * sizeof *len);
		if (keep == NULL || len == NULL) {
			free(keep);
			free(len);
			return blt_errmsg_set(-ENOMEM, "prune: out of memory");
		}
		for (size_t i = 0; i < s->keep.n; i++)
			blt_map_keys_next(&s->keep, &at, &keep[i], &len[i]);
	}
	po->n_keep = s->keep.n;
	po->keep = keep;
	po->keep_len = len;
	return 0;
}

static int
job_prune(struct job_runner *r, struct job *j)
{
	struct fs *fs = r->fs;
	struct job_spec *s = &j->s;
	struct blt_prune_opts po;
	struct blt_map_keys cand = {0};
	const unsigned char *key;
	struct job_notes ns = {0};
	uint64_t gone = 0;
	int64_t removed;
	size_t at = 0, klen;
	int rc;

	if ((rc = job_prune_opts(s, &po)) < 0)
		return rc;
	if (s->older_than > 0 && (rc = job_prune_candidates(fs, s, &cand)) < 0)
		goto out;
	/* reads that miss a key wait until the names below follow the store
	 * (node_read_again()) */
	if (cand.n > 0)
		atomic_fetch_add(&fs->evict_seq, 1);
	removed = blt_prune(fs->db, s->older_than > 0 ? &po : NULL);
	if (removed < 0) {
		rc = (int)removed; /* blt_errmsg() says why */
		goto out;
	}
	ops_rfd_renew(fs);
	pthread_mutex_lock(&r->lock);
	j->removed = removed;
	pthread_mutex_unlock(&r->lock);
	/* rewritten or removed since the scan: not ours to remove */
	pthread_mutex_lock(&fs->wlock);
	while (blt_map_keys_next(&cand, &at, &key, &klen))
		gone += job_forget_key(fs, key, klen, &ns) > 0;
	pthread_mutex_unlock(&fs->wlock);
	job_evicted(fs);
	job_notify(fs, &ns);
	pthread_mutex_lock(&r->lock);
	j->keys_removed = gone;
	pthread_mutex_unlock(&r->lock);
out:
	job_evicted(fs);
	blt_map_keys_free(&cand);
	free((void *)po.keep);
	free((void *)po.keep_len);
	free(ns.v);
	return rc;
}

/* --- map ------------------------------------------------------------- */

struct job_map {
	struct job_runner *r;
	struct job *j;
	int same; /* results go to the mounted store */
	struct job_notes ns;
};

static int
job_map_progress(void *arg, const struct blt_map_stats *st)
{
	struct job_map *m = arg;

	/* what written() gathered since the last call */
	job_notify(m->r->fs, &m->ns);
	pthread_mutex_lock(&m->r->lock);
	m->j->st = *st;
	m->j->done = st->processed;
	if (st->total > 0)
		m->j->total = st->total;
	pthread_mutex_unlock(&m->r->lock);
	return atomic_load(&m->j->cancel);
}

static void
job_map_written(
    void *arg, const unsigned char *key, size_t klen, size_t vlen, int64_t ts)
{
	struct job_map *m = arg;

	if (m->same)
		job_learn_key(m->r->fs, key, klen, vlen, &m->ns);
}

/* Is path the store file fs has mounted? */
static int
job_is_mounted_store(struct fs *fs, const char *path)
{
	struct stat a, b;

	return stat(path, &a) == 0 && stat(blt_path(fs->db), &b) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* Add the keys of --keys FILE to those of j's PATHs, read now rather than
 * when the command was given (keylist.c says why); the total grows. */
static int
job_map_list(struct job_runner *r, struct job *j)
{
	struct job_spec *s = &j->s;
	int rc;

	rc = keylist_read(r->fs, s->list, &j->cancel, &s->keys);
	keylist_close(s->list);
	s->list = NULL;
	if (rc < 0)
		return rc; /* the message names FILE and the line */
	pthread_mutex_lock(&r->lock);
	j->total = s->keys.n;
	pthread_mutex_unlock(&r->lock);
	return 0;
}

static int
job_map(struct job_runner *r, struct job *j)
{
	struct fs *fs = r->fs;
	struct job_spec *s = &j->s;
	struct job_map m = {r, j, 1, {0}};
	struct blt_map_opts o;
	struct blt_map_stats st;
	struct blt_options bo;
	struct blt *out = NULL;
	struct outstore made;
	char why[sizeof j->msg];
	int rc = 0, crc;

	memset(&o, 0, sizeof o);
	memset(&st, 0, sizeof st);
	if (s->list != NULL && (rc = job_map_list(r, j)) < 0)
		return rc;
	/* The command always names its keys (all of them for "/"); none
	 * selected is nothing to do, never blt_map()'s "every key". */
	if (s->keys.n == 0)
		goto done;
	if (s->out != NULL) {
		if (job_is_mounted_store(fs, s->out))
			return blt_errmsg_set(-EINVAL,
			    "map: --out %s is the mounted store; leave --out "
			    "out to write into it",
			    s->out);
		blt_options_default(&bo);
		bo.lock_timeout = JOB_LOCK_WAIT;
		/* the mode of the mounted store less the umask of the user who
		 * gave the command (or the daemon's, where it did not say) */
		outstore_make(s->out, blt_path(fs->db), s->umask, &made);
		/* blt_open() names the store, and says why: for -EWOULDBLOCK
		 * (EAGAIN in jobs/ID), that another process held its lock
		 * past bo.lock_timeout */
		if ((rc = blt_open(s->out, BLT_CREATE, &bo, &out)) < 0) {
			char who[512];

			/* name the holder, as blt does (holder.c) */
			if (rc == -EWOULDBLOCK &&
			    strstr(blt_errmsg(), "locked by another process"))
				rc = blt_errmsg_set(rc,
				    "map: --out %s: %s; its lock was not "
				    "granted within %g s",
				    s->out,
				    holder_describe(s->out, who, sizeof who),
				    JOB_LOCK_WAIT);
			else
				rc = blt_errmsg_set(
				    rc, "map: --out %s", blt_errmsg());
			outstore_unmake(s->out, &made);
			return rc;
		}
		m.same = 0;
	}
	o.exec = s->exec;
	o.plugin = s->plugin;
	o.worker = s->worker;
	o.launcher = s->launcher;
	o.hosts = s->hosts;
	o.item_timeout = s->item_timeout;
	o.start_timeout = s->start_timeout;
	o.reply_timeout = s->reply_timeout;
	o.decode = s->decode;
	o.keys = &s->keys;
	o.to = s->to;
	o.out = out;
	o.workers = s->workers;
	o.dir = s->cwd != NULL ? s->cwd : "/";
	o.progress = job_map_progress;
	o.written = job_map_written;
	o.arg = &m;
	rc = blt_map(fs->db, &o, &st);
	job_notify(fs, &m.ns);
	free(m.ns.v);
done:
	pthread_mutex_lock(&r->lock);
	j->st = st;
	j->done = st.processed;
	pthread_mutex_unlock(&r->lock);
	if (out != NULL && rc < 0) {
		/* the message names what failed: the close must not take its
		 * place, whose message would go to the same slot */
		snprintf(why, sizeof why, "%s", blt_errmsg());
		blt_close(out);
		blt_errmsg_set(rc, "%s", why);
	} else if (out != NULL && (crc = blt_close(out)) < 0)
		rc = blt_errmsg_set(crc, "map: %s", blt_errmsg());
	return rc;
}

/* --- the runner ------------------------------------------------------- */

/* Grow the index to --buckets, or to the size booklet's own reindex stops
 * at for the keys (no more keys than buckets), which an index that holds
 * them already has: then nothing is done, rather than a copy of the whole
 * store for nothing, and running it again never grows the index more. */
static int
job_reindex(struct job_runner *r, struct job *j)
{
	struct fs *fs = r->fs;
	struct blt_prune_opts po = {0};
	struct blt_stat st;
	int64_t count;
	int rc;

	if ((rc = blt_info(fs->db, &st)) < 0)
		return rc;
	pthread_mutex_lock(&r->lock);
	j->buckets[0] = j->buckets[1] = st.n_buckets;
	pthread_mutex_unlock(&r->lock);
	if (j->s.buckets == 0 && (count = blt_count(fs->db)) >= 0 &&
	    (uint64_t)count <= st.n_buckets)
		return 0;
	/* A compacting copy with a larger index: readers are never held up,
	 * as they would be by blt_reindex's rewiring. */
	po.n_buckets = j->s.buckets ? j->s.buckets : BLT_FIT;
	if ((rc = (int)blt_prune(fs->db, &po)) < 0 ||
	    (rc = blt_info(fs->db, &st)) < 0)
		return blt_errmsg_set(rc, "reindex: %s", blt_errmsg());
	ops_rfd_renew(fs);
	pthread_mutex_lock(&r->lock);
	j->buckets[1] = st.n_buckets;
	pthread_mutex_unlock(&r->lock);
	return 0;
}

/* Whether j changes the mounted store: a sync makes durable what the
 * store holds, and a map with --out only reads it. */
static int
job_writes_store(const struct job *j)
{
	return j->s.kind == BLTFS_JOB_PRUNE || j->s.kind == BLTFS_JOB_REINDEX ||
	       (j->s.kind == BLTFS_JOB_MAP && j->s.out == NULL);
}

static int
job_run_kind(struct job_runner *r, struct job *j)
{
	struct fs *fs = r->fs;
	int rc;

	switch (j->s.kind) {
	case BLTFS_JOB_PRUNE:
		return job_prune(r, j);
	case BLTFS_JOB_REINDEX:
		return job_reindex(r, j);
	case BLTFS_JOB_SYNC:
		if ((rc = blt_sync(fs->db)) < 0)
			return rc;
		return 0;
	case BLTFS_JOB_MAP:
		return job_map(r, j);
	}
	return blt_errmsg_set(-EINVAL, "job %" PRIu64 ": unknown kind", j->id);
}

/* Run j.  A job that would change a store that takes no more writes is
 * not started: the engine refuses its writes, and the mount's words say
 * what to do (unmount and mount again).  One that fails once the store
 * takes no more writes says so, and what to do, before the engine's
 * message, which names only the write that failed. */
static int
job_run(struct job_runner *r, struct job *j)
{
	struct fs *fs = r->fs;
	const char *stuck;
	int rc;

	if (job_writes_store(j) && (stuck = fs_stuck(fs)) != NULL)
		return blt_errmsg_set(-EIO, "%s: %s", blt_path(fs->db), stuck);
	/* a job holds the store it runs on from start to end, exclusively on
	 * a read-write mount (so that the mount's writes go on meanwhile,
	 * which a shared lock would hold up) */
	if (fs->follow != NULL && (rc = blt_hold(fs->db, 1)) < 0) {
		char why[1024];

		snprintf(why, sizeof why, "%s", blt_errmsg());
		(void)follow_refused(fs, rc, job_writes_store(j));
		return blt_errmsg_set(rc, "%s", why);
	}
	rc = job_run_kind(r, j);
	if (fs->follow != NULL)
		blt_unhold(fs->db);
	if (rc < 0 && rc != -ECANCELED && job_writes_store(j) &&
	    (stuck = fs_stuck(fs)) != NULL)
		rc = blt_errmsg_set(
		    rc, "%s: %s (%s)", blt_path(fs->db), stuck, blt_errmsg());
	return rc;
}

/* Forget the jobs that finished first, past JOB_KEEP.  By the order of
 * finishing, not of ids: a job that ran long, or one cancelled while it
 * waited, must stay for whoever follows it to its end, however many newer
 * ones finished before it.  Holds: r->lock. */
static void
job_trim(struct job_runner *r)
{
	struct job **p, **first, *j;
	size_t finished = 0;

	for (j = r->head; j != NULL; j = j->next)
		finished += j->state >= BLTFS_STATE_DONE;
	for (; finished > JOB_KEEP; finished--) {
		first = NULL;
		for (p = &r->head; *p != NULL; p = &(*p)->next)
			if ((*p)->state >= BLTFS_STATE_DONE &&
			    (first == NULL || (*p)->ended < (*first)->ended))
				first = p;
		j = *first;
		*first = j->next;
		if (r->tail == j) {
			r->tail = NULL;
			for (struct job *t = r->head; t != NULL; t = t->next)
				r->tail = t;
		}
		job_free(j);
	}
}

/* j has reached its final state: time it, and make room among the
 * finished jobs.  Holds: r->lock. */
static void
job_ended(struct job_runner *r, struct job *j)
{
	j->finished = blt_now();
	j->ended = ++r->last_ended;
	job_trim(r);
}

static void *
job_main(void *arg)
{
	struct job_runner *r = arg;
	struct job *j;
	int rc;

	pthread_mutex_lock(&r->lock);
	for (;;) {
		for (j = r->head; j != NULL; j = j->next)
			if (j->state == BLTFS_STATE_QUEUED)
				break;
		if (r->stop)
			break;
		if (j == NULL) {
			pthread_cond_wait(&r->cond, &r->lock);
			continue;
		}
		j->state = BLTFS_STATE_RUNNING;
		j->started = blt_now();
		j->total = j->s.kind == BLTFS_JOB_MAP ? j->s.keys.n : 1;
		r->running = j;
		pthread_mutex_unlock(&r->lock);
		rc = job_run(r, j);
		/* a finished job stays listed (JOB_KEEP), its keys (0.15 GB
		 * for "/" at 10M) need not: freed here, outside the lock, as
		 * nobody else reads them */
		blt_map_keys_free(&j->s.keys);
		pthread_mutex_lock(&r->lock);
		r->running = NULL;
		if (rc == -ECANCELED && atomic_load(&j->cancel)) {
			j->state = BLTFS_STATE_CANCELLED;
			snprintf(j->msg, sizeof j->msg, "cancelled");
		} else if (rc < 0) {
			j->state = BLTFS_STATE_FAILED;
			j->error = rc;
			snprintf(j->msg, sizeof j->msg, "%s", blt_errmsg());
			fs_log("job %" PRIu64 " (%s): %s", j->id,
			    job_kinds[j->s.kind], j->msg);
		} else {
			j->state = BLTFS_STATE_DONE;
			if (j->s.kind != BLTFS_JOB_MAP)
				j->done = 1;
		}
		job_ended(r, j);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

/* Start the runner of fs. */
int
job_runner_create(struct fs *fs, struct job_runner **out)
{
	struct job_runner *r;
	int rc;

	if ((r = calloc(1, sizeof *r)) == NULL)
		return blt_errmsg_set(-ENOMEM, "job runner: out of memory");
	r->fs = fs;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	if ((rc = pthread_create(&r->thread, NULL, job_main, r)) != 0) {
		pthread_cond_destroy(&r->cond);
		pthread_mutex_destroy(&r->lock);
		free(r);
		return blt_errmsg_set(-rc, "job runner: %s", strerror(rc));
	}
	*out = r;
	return 0;
}

/* Cancel everything and join the runner's thread. */
void
job_runner_stop(struct job_runner *r)
{
	struct job *j;

	if (r == NULL || r->joined)
		return;
	pthread_mutex_lock(&r->lock);
	r->stop = 1;
	for (j = r->head; j != NULL; j = j->next) {
		atomic_store(&j->cancel, 1);
		if (j->state == BLTFS_STATE_QUEUED) {
			j->state = BLTFS_STATE_CANCELLED;
			snprintf(j->msg, sizeof j->msg, "cancelled: unmounted");
		}
	}
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->thread, NULL);
	r->joined = 1;
}

/* Stop, then free every job. */
void
job_runner_free(struct job_runner *r)
{
	struct job *j;

	if (r == NULL)
		return;
	job_runner_stop(r);
	while ((j = r->head) != NULL) {
		r->head = j->next;
		job_free(j);
	}
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

/* Jobs waiting to start.  Holds: r->lock. */
static unsigned
job_queued(const struct job_runner *r)
{
	unsigned n = 0;

	for (const struct job *j = r->head; j != NULL; j = j->next)
		n += j->state == BLTFS_STATE_QUEUED;
	return n;
}

/* Queue a job built from s. */
int
job_submit(struct job_runner *r, struct job_spec *s, uint64_t *id)
{
	struct job *j;
	int rc;

	if ((j = calloc(1, sizeof *j)) == NULL) {
		job_spec_free(s);
		return blt_errmsg_set(-ENOMEM, "out of memory");
	}
	j->s = *s;
	memset(s, 0, sizeof *s);
	j->state = BLTFS_STATE_QUEUED;
	atomic_init(&j->cancel, 0);
	j->created = blt_now();
	pthread_mutex_lock(&r->lock);
	if (r->stop) {
		pthread_mutex_unlock(&r->lock);
		job_free(j);
		return blt_errmsg_set(-ESHUTDOWN, "the mount is going away");
	}
	/* EBUSY, not EAGAIN: the ctl file is written with blocking writes,
	 * and loops that write all of a buffer retry EAGAIN at once */
	if (job_queued(r) >= JOB_QUEUE_MAX) {
		pthread_mutex_unlock(&r->lock);
		rc = blt_errmsg_set(-EBUSY,
		    "%s: %d jobs are waiting to start already, the most the "
		    "daemon queues; try again once one has started, or cancel "
		    "one",
		    job_kinds[j->s.kind], JOB_QUEUE_MAX);
		job_free(j);
		return rc;
	}
	j->id = ++r->last_id;
	if (r->tail != NULL)
		r->tail->next = j;
	else
		r->head = j;
	r->tail = j;
	*id = j->id;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
	return 0;
}

static struct job *
job_find(struct job_runner *r, uint64_t id)
{
	struct job *j;

	for (j = r->head; j != NULL; j = j->next)
		if (j->id == id)
			return j;
	return NULL;
}

/* Cancel job id. */
int
job_cancel(struct job_runner *r, uint64_t id)
{
	struct job *j;
	int rc = 0;

	pthread_mutex_lock(&r->lock);
	if ((j = job_find(r, id)) == NULL) {
		rc = blt_errmsg_set(-ENOENT, "cancel: no job %" PRIu64, id);
	} else if (j->state >= BLTFS_STATE_DONE) {
		rc = blt_errmsg_set(-EALREADY,
		    "cancel: job %" PRIu64 " is %s already", id,
		    job_states[j->state]);
	} else if (j->state == BLTFS_STATE_QUEUED) {
		atomic_store(&j->cancel, 1);
		j->state = BLTFS_STATE_CANCELLED;
		snprintf(j->msg, sizeof j->msg, "cancelled");
		/* finished now: it counts towards JOB_KEEP at once, not when
		 * the running job ends, however many are cancelled meanwhile */
		job_ended(r, j);
	} else if (j->s.kind != BLTFS_JOB_MAP) {
		rc = blt_errmsg_set(-EBUSY,
		    "cancel: job %" PRIu64 " is a running %s, which cannot be "
		    "stopped half-way",
		    id, job_kinds[j->s.kind]);
	} else {
		atomic_store(&j->cancel, 1);
	}
	pthread_mutex_unlock(&r->lock);
	return rc;
}

/* Fill *out with job out->id. */
int
job_get(struct job_runner *r, struct bltfs_job *out)
{
	struct job *j;
	uint64_t id = out->id;

	pthread_mutex_lock(&r->lock);
	if ((j = job_find(r, id)) == NULL) {
		pthread_mutex_unlock(&r->lock);
		return -ENOENT;
	}
	job_fill(j, out);
	pthread_mutex_unlock(&r->lock);
	return 0;
}

/* A key as the path it is listed under, and as hex.  n of its klen bytes
 * are known (a map keeps the first 256). */
static void
job_json_key(FILE *f, const struct path_conf *pc, const unsigned char *key,
    size_t n, size_t klen)
{
	char *path;
	size_t plen;

	fputs("\"key\": ", f);
	if (n == klen && path_of_key(pc, key, klen, 0, &path, &plen) == 0) {
		json_put_str(f, path, plen);
		free(path);
	} else
		fputs("null", f);
	fputs(", \"key_hex\": ", f);
	fputc('"', f);
	json_put_hex(f, key, n);
	fputc('"', f);
	fprintf(f, ", \"key_len\": %zu", klen);
}

/* The symbolic name of errno e ("EISDIR"), or "" where the C library has
 * no table of them (glibc has had strerrorname_np(3) since 2.32). */
static const char *
job_errno_name(int e)
{
#ifdef HAVE_STRERRORNAME_NP
	const char *name = strerrorname_np(e);

	return name != NULL ? name : "";
#else
	(void)e;
	return "";
#endif
}

/* The JSON of one job.  Holds: r->lock. */
static void
job_json_write(FILE *f, struct job_runner *r, const struct job *j)
{
	const struct path_conf *pc = inode_conf(r->fs->tree);
	int64_t end = j->finished ? j->finished : blt_now();

	fprintf(f, "{\n  \"id\": %" PRIu64 ",\n  \"kind\": \"%s\",\n", j->id,
	    job_kinds[j->s.kind]);
	fprintf(
	    f, "  \"state\": \"%s\",\n  \"command\": ", job_states[j->state]);
	json_put_str(f, j->s.text, j->s.text ? strlen(j->s.text) : 0);
	fprintf(f, ",\n  \"done\": %" PRIu64 ",\n  \"total\": %" PRIu64 ",\n",
	    j->done, j->total);
	fputs("  \"stats\": {", f);
	switch (j->s.kind) {
	case BLTFS_JOB_MAP:
		fprintf(f,
		    "\"read\": %" PRIu64 ", \"processed\": %" PRIu64
		    ", \"written\": %" PRIu64 ", \"skipped\": %" PRIu64
		    ", \"errors\": %" PRIu64 ", \"restarts\": %" PRIu64
		    ", \"workers\": %u, \"start_seconds\": %.3f",
		    j->st.read, j->st.processed, j->st.written, j->st.skipped,
		    j->st.errors, j->st.restarts, j->st.workers,
		    (double)j->st.start_ms / 1e3);
		break;
	case BLTFS_JOB_PRUNE:
		fprintf(f,
		    "\"blocks_removed\": %" PRId64
		    ", \"keys_removed\": %" PRIu64,
		    j->removed, j->keys_removed);
		break;
	case BLTFS_JOB_REINDEX:
		fprintf(f,
		    "\"buckets_before\": %" PRIu32
		    ", \"buckets_after\": %" PRIu32,
		    j->buckets[0], j->buckets[1]);
		break;
	}
	fputs("},\n", f);
	fprintf(f,
	    "  \"created\": %" PRId64 ",\n  \"started\": %" PRId64
	    ",\n  \"finished\": %" PRId64 ",\n  \"seconds\": %.3f,\n",
	    j->created, j->started, j->finished,
	    j->started ? (double)(end - j->started) / 1e6 : 0.0);
	fputs("  \"error\": ", f);
	if (j->state == BLTFS_STATE_FAILED) {
		fprintf(f, "{\"errno\": %d, \"name\": \"%s\", \"message\": ",
		    -j->error, job_errno_name(-j->error));
		json_put_str(f, j->msg, strlen(j->msg));
		fputs("}", f);
	} else
		fputs("null", f);
	fputs(",\n  \"first_errors\": [", f);
	for (unsigned i = 0; i < j->st.n_errors && i < BLT_MAP_ERRORS; i++) {
		const struct blt_map_error *e = &j->st.first_errors[i];
		size_t n = e->klen < sizeof e->key ? e->klen : sizeof e->key;

		fputs(i ? ",\n    {" : "\n    {", f);
		job_json_key(f, pc, e->key, n, e->klen);
		fputs(", \"message\": ", f);
		json_put_str(f, e->msg, strnlen(e->msg, sizeof e->msg));
		fputs("}", f);
	}
	fputs(j->st.n_errors ? "\n  ]\n}\n" : "]\n}\n", f);
}

/* jobs/ID. */
int
job_json(struct job_runner *r, uint64_t id, char **out, size_t *len)
{
	struct job *j;
	FILE *f;

	if ((f = open_memstream(out, len)) == NULL)
		return -ENOMEM;
	pthread_mutex_lock(&r->lock);
	if ((j = job_find(r, id)) != NULL)
		job_json_write(f, r, j);
	pthread_mutex_unlock(&r->lock);
	if (fclose(f) != 0) {
		free(*out);
		return -ENOMEM;
	}
	if (j == NULL) {
		free(*out);
		return -ENOENT;
	}
	return 0;
}

/* The ids of the jobs the runner knows. */
int
job_ids(struct job_runner *r, uint64_t **ids, size_t *n)
{
	struct job *j;
	size_t k = 0;

	pthread_mutex_lock(&r->lock);
	for (j = r->head; j != NULL; j = j->next)
		k++;
	if ((*ids = calloc(k ? k : 1, sizeof **ids)) == NULL) {
		pthread_mutex_unlock(&r->lock);
		return -ENOMEM;
	}
	k = 0;
	for (j = r->head; j != NULL; j = j->next)
		(*ids)[k++] = j->id;
	pthread_mutex_unlock(&r->lock);
	*n = k;
	return 0;
}

/* The runner's part of status. */
void
job_status(struct job_runner *r, struct bltfs_status *st)
{
	struct job *j;

	pthread_mutex_lock(&r->lock);
	st->running = r->running != NULL ? r->running->id : 0;
	st->queued = 0;
	for (j = r->head; j != NULL; j = j->next)
		st->queued += j->state == BLTFS_STATE_QUEUED;
	st->last_job = r->last_id;
	pthread_mutex_unlock(&r->lock);
}

/* The unfinished jobs as a JSON array. */
void
job_status_json(struct job_runner *r, FILE *f)
{
	struct job *j;
	int first = 1;

	pthread_mutex_lock(&r->lock);
	fputc('[', f);
	for (j = r->head; j != NULL; j = j->next) {
		if (j->state >= BLTFS_STATE_DONE)
			continue;
		fprintf(f,
		    "%s\n    {\"id\": %" PRIu64 ", \"kind\": \"%s\", "
		    "\"state\": \"%s\", \"done\": %" PRIu64
		    ", \"total\": %" PRIu64 "}",
		    first ? "" : ",", j->id, job_kinds[j->s.kind],
		    job_states[j->state], j->done, j->total);
		first = 0;
	}
	fputs(first ? "]" : "\n  ]", f);
	pthread_mutex_unlock(&r->lock);
}
