/*
 * loop.c: the session loop, a leader/followers pool of threads.
 *
 * One thread at a time, the leader, reads requests from /dev/fuse.  A
 * request that is done in memory (opening a file for reading, closing it,
 * forgetting inodes) the leader answers itself and goes on leading.  Before
 * any other request, which may wait for the store's lock or for the disk,
 * it hands the lead to a follower, so the mount keeps answering while that
 * request is served.
 *
 * The leader spins for a while (-o spin=µs) before it blocks in read():
 * on a virtual machine, waking a thread whose CPU went idle costs more than
 * serving an open or a close, and a cat of many small files is a stream of
 * those.  Spinning yields the CPU to anything else that wants it and stops
 * once the mount has been idle for the spin time.  It is skipped while
 * most requests come further apart than that (reading files of a
 * megabyte, say), where it would only take a CPU from the reader.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mount.h"
#include "indexer.h"
#include "ctl.h"
#include "loop.h"
#include "ops.h"

struct loop_worker {
	pthread_t thread;
	struct fuse_buf buf;
	struct loop *loop;
};

struct loop {
	struct fs *fs;
	struct fuse_session *se;
	unsigned spin_us;
	unsigned max_threads;
	pthread_mutex_t lock;
	pthread_cond_t turn; /* followers wait here for the lead */
	int has_leader; /* written under lock, read by a spinning follower */
	int spinning;   /* a follower spins for the lead */
	int done;       /* the session ended: threads leave */
	int error;      /* why, if it failed */
	unsigned idle;  /* followers waiting */
	unsigned hits;  /* how often a request came within the spin time,
	                 * of LOOP_HITS_ONE, on average (written by the
	                 * leader, atomic) */
	unsigned n;     /* threads started */
	struct loop_worker *w;
	sem_t finished; /* posted when done is set */
};

/* The average of hits moves an eighth of the way each time; below three
 * quarters, waiting spins no more (reading files of a megabyte, every
 * other request comes after the reader has copied one). */
#define LOOP_HITS_ONE 1024u

/* Whether waiting for the next request should spin first. */
static int
loop_spins(struct loop *l)
{
	return l->spin_us > 0 && __atomic_load_n(&l->hits, __ATOMIC_RELAXED) >=
	                             LOOP_HITS_ONE / 4 * 3;
}

/* The next request, after spinning for one if spin_us says so.  Only the
 * leader reads, and only while reading may it be cancelled. */
static int
loop_receive(struct loop *l, struct loop_worker *w)
{
	int fd = fuse_session_fd(l->se), rc;
	uint64_t start = fs_now_us();
	unsigned hit;

	if (loop_spins(l)) {
		struct pollfd p = {.fd = fd, .events = POLLIN};

		while (poll(&p, 1, 0) == 0 && fs_now_us() < start + l->spin_us)
			sched_yield();
	}
	pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
	rc = fuse_session_receive_buf(l->se, &w->buf);
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	hit = fs_now_us() - start <= l->spin_us ? LOOP_HITS_ONE : 0;
	hit += 7 * __atomic_load_n(&l->hits, __ATOMIC_RELAXED);
	__atomic_store_n(&l->hits, hit / 8, __ATOMIC_RELAXED);
	return rc;
}

/* End the loop: every thread leaves once its request is done. */
static void
loop_finish(struct loop *l, int error)
{
	if (l->done)
		return;
	__atomic_store_n(&l->done, 1, __ATOMIC_RELEASE);
	l->error = error;
	pthread_cond_broadcast(&l->turn);
	sem_post(&l->finished);
}

static void *loop_work(void *arg);

/* Hold a shared store (fs/ctl/follow.c) for the request in buf, which
 * needs it as use (request_store_use()) says: 1 if held, 0 if it needs no
 * holding, -1 if it was answered with the error (another process held
 * the store past the lock timeout).  A request that reads, or changes
 * only the mount's memory, holds it without the lock, so that it never
 * waits for a writer of another process, nor keeps one out. */
static int
loop_hold(struct loop *l, const struct fuse_buf *buf, int use)
{
	int rc;

	if ((use != REQUEST_READS && use != REQUEST_BUFFERS &&
	        use != REQUEST_WRITES) ||
	    l->fs->follow == NULL)
		return 0;
	if (use != REQUEST_WRITES)
		return blt_hold_peek(l->fs->db) == 0;
	if ((rc = blt_hold(l->fs->db, 1)) == 0)
		return 1;
	rc = follow_refused(l->fs, rc, 1);
	/* a release runs all the same, without the lock: it frees the open
	 * file, whose commit then stores nothing (filebuf_commit()), and
	 * drops the name of one never stored.  Answered here, it left
	 * both for the daemon's life */
	if (((const struct fuse_in_header *)buf->mem)->opcode == FUSE_RELEASE)
		return blt_hold_peek(l->fs->db) == 0;
	/* a close told EBUSY: the file is not stored at its release either,
	 * which may come after the lock is free (a forked child holding the
	 * same open file, say) */
	handle_refuse(request_flush_fh(buf));
	request_answer(l->se, buf, rc);
	return -1;
}

/* fs->turn: a request held without the lock (loop_hold()) waits for it,
 * as one that changes the store would, and lets it go.  0, or the
 * negative errno to answer, logged (another process held the store past
 * the lock timeout). */
static int
loop_turn(struct fs *fs)
{
	int rc;

	if (fs->follow == NULL || !blt_peeking(fs->db))
		return 0; /* not shared, or held with the lock already */
	blt_unhold(fs->db);
	if ((rc = blt_hold(fs->db, 1)) == 0)
		blt_unhold(fs->db);
	else
		rc = follow_refused(fs, rc, 1);
	(void)blt_hold_peek(fs->db); /* as loop_hold() left it */
	return rc;
}

/* A follower that has just served a request watches for the lead for
 * spin_us before it sleeps (one at a time; l->lock held, and let go
 * meanwhile): with a stream of requests that each need a hand-over, the
 * lead then passes between two busy threads without a wake-up. */
static void
loop_follow(struct loop *l)
{
	uint64_t end;

	if (loop_spins(l) && !l->spinning) {
		l->spinning = 1;
		pthread_mutex_unlock(&l->lock);
		end = fs_now_us() + l->spin_us;
		while (__atomic_load_n(&l->has_leader, __ATOMIC_ACQUIRE) &&
		       !__atomic_load_n(&l->done, __ATOMIC_ACQUIRE) &&
		       fs_now_us() < end)
			sched_yield();
		pthread_mutex_lock(&l->lock);
		l->spinning = 0;
		if (!l->has_leader || l->done)
			return;
	}
	l->idle++;
	pthread_cond_wait(&l->turn, &l->lock);
	l->idle--;
}

/* Give the lead to a waiting follower, or to a new thread; l->lock held.
 * With neither, the lead waits until a thread is free. */
static void
loop_hand_over(struct loop *l)
{
	struct loop_worker *w;

	__atomic_store_n(&l->has_leader, 0, __ATOMIC_RELEASE);
	if (l->spinning)
		return; /* it takes the lead without being woken */
	if (l->idle > 0) {
		pthread_cond_signal(&l->turn);
		return;
	}
	if (l->n == l->max_threads)
		return;
	w = &l->w[l->n];
	w->loop = l;
	if (pthread_create(&w->thread, NULL, loop_work, w) == 0)
		l->n++;
}

static void *
loop_work(void *arg)
{
	struct loop_worker *w = arg;
	struct loop *l = w->loop;
	int rc, lead = 0, held, use;

	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	pthread_mutex_lock(&l->lock);
	for (;;) {
		if (!lead) {
			while (l->has_leader && !l->done)
				loop_follow(l);
			if (l->done)
				break;
			__atomic_store_n(&l->has_leader, 1, __ATOMIC_RELEASE);
		}
		pthread_mutex_unlock(&l->lock);
		rc = loop_receive(l, w);
		pthread_mutex_lock(&l->lock);
		if (rc == -EINTR) {
			/* a signal: fuse_session_exited() says if it ends
			 * the session; else lead on */
			lead = !fuse_session_exited(l->se);
			if (!lead) {
				__atomic_store_n(
				    &l->has_leader, 0, __ATOMIC_RELEASE);
				loop_finish(l, 0);
			}
			continue;
		}
		if (rc <= 0 || fuse_session_exited(l->se)) {
			/* 0: unmounted */
			__atomic_store_n(&l->has_leader, 0, __ATOMIC_RELEASE);
			loop_finish(l, rc < 0 ? rc : 0);
			break;
		}
		/* a quick request (served from memory, never waiting for
		 * the store's lock) is served by the leader, who leads on */
		use = request_store_use(&w->buf, l->fs->ro);
		lead = use == REQUEST_QUICK || l->max_threads == 1;
		if (!lead)
			loop_hand_over(l);
		pthread_mutex_unlock(&l->lock);
		if (lazy_gate(l->fs, l->se, &w->buf) == 0 &&
		    (held = loop_hold(l, &w->buf, use)) >= 0) {
			fuse_session_process_buf(l->se, &w->buf);
			if (held)
				blt_unhold(l->fs->db);
		}
		pthread_mutex_lock(&l->lock);
		if (l->done)
			break;
	}
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

/* Serve the session until it ends, with up to max_threads threads (1:
 * every request in turn) spinning spin_us before they block.  Returns 0,
 * or a negative errno when reading a request failed. */
int
loop_run(struct fs *fs, struct fuse_session *se, unsigned max_threads,
    unsigned spin_us)
{
	struct loop l = {
	    .fs = fs, .se = se, .spin_us = spin_us, .hits = LOOP_HITS_ONE};
	sigset_t all, old;
	int rc;

	fs->turn = loop_turn;
	l.max_threads = max_threads > 0 ? max_threads : 1;
	if ((l.w = calloc(l.max_threads, sizeof *l.w)) == NULL)
		return -ENOMEM;
	pthread_mutex_init(&l.lock, NULL);
	pthread_cond_init(&l.turn, NULL);
	sem_init(&l.finished, 0, 0);
	/* the signals that end the session reach this thread, whose wait
	 * they interrupt, not a worker busy with a request */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	pthread_mutex_lock(&l.lock);
	loop_hand_over(&l);
	rc = l.n == 1 ? 0 : -EAGAIN;
	pthread_mutex_unlock(&l.lock);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	while (
	    rc == 0 && sem_wait(&l.finished) == -1 && !fuse_session_exited(se))
		;
	pthread_mutex_lock(&l.lock);
	loop_finish(&l, rc);
	lazy_cancel(fs); /* requests that wait for the index end now */
	/* a leader blocked in read() leaves by cancellation; the others see
	 * done once their request is answered */
	for (unsigned i = 0; i < l.n; i++)
		pthread_cancel(l.w[i].thread);
	pthread_mutex_unlock(&l.lock);
	for (unsigned i = 0; i < l.n; i++) {
		pthread_join(l.w[i].thread, NULL);
		free(l.w[i].buf.mem);
	}
	rc = l.error;
	sem_destroy(&l.finished);
	pthread_cond_destroy(&l.turn);
	pthread_mutex_destroy(&l.lock);
	free(l.w);
	return rc;
}
