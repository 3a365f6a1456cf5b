/*
 * Automatic compaction (-o autoprune=PCT,autoprune_min=BYTES).  Every
 * commit stores a file's whole value again, and the old copy is dead until
 * a prune: 20,000 fsyncs of files up to 256 KiB left a store of 2.1 GB.
 * The daemon starts a prune job of its own once the dead bytes pass PCT
 * percent of the store file and the file holds at least BYTES.  It is a
 * job like any other (status, jobs/ID), and readers never wait for it:
 * the engine's prune writes a new file beside the old one (job.c).
 *
 * When to look: after a commit that stored something (ops-file.c), once
 * the reply is sent, with no lock of the mount held.  Dead bytes grow only
 * as the file does, so the header's file size decides first (the engine's
 * read lock, no scan), and blt_stat(), which takes the engine's write lock
 * and, the first time after a prune, scans the whole store, is asked only
 * once the file has grown by AUTOPRUNE_STEP of its size since it was last
 * asked.  Never a prune while the runner has a job running or queued (a
 * prune the user started included), and after one of ours failed (a full
 * disk fails a prune once it has written much of a copy) none for
 * AUTOPRUNE_BACKOFF, doubled at each failure in a row.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bltfs.h"
#include "ctl-int.h"

/* Look again once the file grew by 1/AUTOPRUNE_STEP of its size. */
#define AUTOPRUNE_STEP 64

/* µs without a new prune after a failed one; doubled per failure in a
 * row, up to AUTOPRUNE_BACKOFF_MAX. */
#define AUTOPRUNE_BACKOFF (60 * INT64_C(1000000))
#define AUTOPRUNE_BACKOFF_MAX (3600 * INT64_C(1000000))

struct autoprune {
	unsigned pct; /* 0: off */
	uint64_t min; /* bytes the store file holds at least */
	pthread_mutex_t lock;
	/* under lock */
	uint64_t looked;    /* file size when blt_stat() was last asked */
	uint64_t job;       /* our last prune, while we follow it; else 0 */
	uint64_t started;   /* prunes we started */
	unsigned failures;  /* of ours in a row */
	int64_t not_before; /* µs: no prune before (after a failure) */
};

/* Make the state of a mount whose options say pct and min. */
int
autoprune_create(unsigned pct, uint64_t min, struct autoprune **out)
{
	struct autoprune *a;

	if ((a = calloc(1, sizeof *a)) == NULL)
		return blt_errmsg_set(-ENOMEM, "autoprune: out of memory");
	if (pthread_mutex_init(&a->lock, NULL) != 0) {
		free(a);
		return blt_errmsg_set(-ENOMEM, "autoprune: out of locks");
	}
	a->pct = pct;
	a->min = min;
	*out = a;
	return 0;
}

/* Free a; safe on NULL. */
void
autoprune_free(struct autoprune *a)
{
	if (a == NULL)
		return;
	pthread_mutex_destroy(&a->lock);
	free(a);
}

/* Follow our last prune: 1 while it is queued or running.  A failed one
 * starts the back-off.  Holds: a->lock. */
static int
autoprune_follow(struct autoprune *a, struct job_runner *r)
{
	struct bltfs_job j;
	int64_t wait;

	if (a->job == 0)
		return 0;
	memset(&j, 0, sizeof j);
	j.id = a->job;
	if (job_get(r, &j) == 0 &&
	    (j.state == BLTFS_STATE_QUEUED || j.state == BLTFS_STATE_RUNNING))
		return 1;
	if (j.state == BLTFS_STATE_FAILED) {
		wait = AUTOPRUNE_BACKOFF;
		for (unsigned i = 0;
		     i < a->failures && wait < AUTOPRUNE_BACKOFF_MAX; i++)
			wait *= 2;
		if (wait > AUTOPRUNE_BACKOFF_MAX)
			wait = AUTOPRUNE_BACKOFF_MAX;
		a->failures++;
		a->not_before = blt_now() + wait;
		fs_log("autoprune: job %" PRIu64 " failed; the next automatic "
		       "prune waits %" PRId64 " s",
		    a->job, wait / 1000000);
	} else
		a->failures = 0;
	a->job = 0;
	return 0;
}

/* Start a prune: a job like one `bltfs ctl MOUNT prune` starts.  Holds:
 * a->lock. */
static void
autoprune_start(struct fs *fs, struct autoprune *a, struct job_runner *r,
    const struct blt_stat *st)
{
	struct job_spec s = {0};
	char text[160];
	uint64_t id;

	snprintf(text, sizeof text,
	    "prune (autoprune: %" PRIu64 " of %" PRIu64 " bytes dead)",
	    st->dead_bytes, st->file_bytes);
	s.kind = BLTFS_JOB_PRUNE;
	if ((s.text = strdup(text)) == NULL)
		return;
	if (job_submit(r, &s, &id) < 0) {
		fs_log("autoprune: %s", blt_errmsg());
		return;
	}
	a->job = id;
	a->started++;
	fs_log("autoprune: job %" PRIu64 " started: %" PRIu64 " of %" PRIu64
	       " bytes of %s are dead",
	    id, st->dead_bytes, st->file_bytes, blt_path(fs->db));
}

/* After a commit that stored something: start a prune if one is due (see
 * above).  Any thread, no lock of the mount held; cheap when none is. */
void
autoprune_check(struct fs *fs)
{
	struct autoprune *a = fs->autoprune;
	struct job_runner *r;
	struct bltfs_status js;
	struct blt_stat st;
	int rc;

	if (a == NULL || a->pct == 0 || fs->ro || fs->ctl == NULL ||
	    (r = fs->ctl->jobs) == NULL)
		return;
	/* another thread is looking: one look is enough */
	if (pthread_mutex_trylock(&a->lock) != 0)
		return;
	(void)blt_info(fs->db, &st);
	if (st.file_bytes < a->looked)
		a->looked = st.file_bytes; /* a prune shrank it */
	if (st.file_bytes < a->min ||
	    st.file_bytes - a->looked < a->looked / AUTOPRUNE_STEP ||
	    (a->looked != 0 && st.file_bytes == a->looked))
		goto out;
	if (autoprune_follow(a, r) || blt_now() < a->not_before ||
	    fs_stuck(fs) != NULL)
		goto out;
	memset(&js, 0, sizeof js);
	job_status(r, &js);
	if (js.running != 0 || js.queued != 0)
		goto out;
	/* 1: read without the lock, and not counted (the next look) */
	if ((rc = blt_stat(fs->db, &st)) != 0) {
		if (rc < 0)
			fs_log("autoprune: %s", blt_errmsg());
		goto out;
	}
	a->looked = st.file_bytes;
	if (st.file_bytes >= a->min &&
	    st.dead_bytes * 100 >= (uint64_t)a->pct * st.file_bytes)
		autoprune_start(fs, a, r, &st);
out:
	pthread_mutex_unlock(&a->lock);
}

/* The "autoprune" member of status: its settings and what it did. */
void
autoprune_status_json(struct fs *fs, FILE *f)
{
	struct autoprune *a = fs->autoprune;
	int64_t now = blt_now();

	if (a == NULL || a->pct == 0 || fs->ro) {
		fputs("null", f);
		return;
	}
	pthread_mutex_lock(&a->lock);
	fprintf(f,
	    "{\"percent\": %u, \"min_bytes\": %" PRIu64
	    ", \"started\": %" PRIu64 ", \"failures\": %u, "
	    "\"paused_seconds\": %" PRId64 "}",
	    a->pct, a->min, a->started, a->failures,
	    a->not_before > now ? (a->not_before - now + 999999) / 1000000 : 0);
	pthread_mutex_unlock(&a->lock);
}
