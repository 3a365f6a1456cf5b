/*
 * The scan that fills the directory index at mount, on two cores: a thread
 * of its own reads the store (parsing each block and checking its digest)
 * while the mount's thread puts the keys into the index; at 10 million
 * keys the two threads are about as busy as each other.  They hand each other
 * batches of items through a small ring; an item points into the store's map,
 * which the iterator holds until it is freed, so a batch stays readable while
 * the next one fills.
 *
 * The builder holds the index's write lock for a batch at a time and waits
 * for the reader without it, so that with -o lazy (lazy.c), where the
 * mount answers during the build, a lookup waits for one batch at most.
 */
#include "config.h"

#include <errno.h>
#ifdef HAVE_MALLOC_TRIM
#include <malloc.h>
#endif
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bltutil.h"
#include "indexer-int.h"

#define SCAN_STEP 1024 /* keys a batch holds: one lock of the store */
#define SCAN_BATCHES 4 /* batches the reader may fill ahead */

struct scan_batch {
	struct blt_item items[SCAN_STEP];
	int n;
};

struct scan_pipe {
	struct blt_iter *it;
	pthread_mutex_t mu;
	pthread_cond_t filled_one; /* a batch filled, or the scan ended */
	pthread_cond_t freed_one;  /* a batch given back, or stop */
	struct scan_batch batch[SCAN_BATCHES];
	unsigned long filled; /* batches the reader filled */
	unsigned long used;   /* batches the builder gave back */
	int ended;            /* the reader is done, rc says how */
	int stop;             /* the builder is done, maybe early */
	int rc;
	char msg[1024]; /* the reader's blt_errmsg(), kept per thread */
	int told;       /* the builder was given the reader's error */
	/* the builder's place, its own */
	const struct scan_batch *cur;
	int next;
	int later; /* the builder was told to let go of the index's lock */
	struct lazy *lazy;         /* -o lazy: told of each batch; else NULL */
	struct progress *progress; /* shown each batch, or NULL */
	uint64_t keys;             /* read so far, for it */
	uint64_t total;            /* the header's count of keys */
};

/* The reader: fill batches until the scan ends or the builder stops. */
static void *
scan_read(void *arg)
{
	struct scan_pipe *p = arg;
	struct scan_batch *b;
	int n;

	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (!p->stop && p->filled - p->used == SCAN_BATCHES)
			pthread_cond_wait(&p->freed_one, &p->mu);
		if (p->stop) {
			pthread_mutex_unlock(&p->mu);
			return NULL;
		}
		b = &p->batch[p->filled % SCAN_BATCHES];
		pthread_mutex_unlock(&p->mu);

		n = blt_iter_next_many(p->it, b->items, SCAN_STEP);

		pthread_mutex_lock(&p->mu);
		if (n > 0) {
			b->n = n;
			p->filled++;
		} else {
			if (n < 0)
				snprintf(
				    p->msg, sizeof p->msg, "%s", blt_errmsg());
			p->rc = n;
			p->ended = 1;
		}
		pthread_cond_signal(&p->filled_one);
		pthread_mutex_unlock(&p->mu);
		if (n <= 0)
			return NULL;
	}
}

/* inode_next_fn of the builder: the next key of the current batch, the
 * next batch once it is used up, and at the end what the scan ended
 * with (its message set again in this thread). */
static int
scan_next_key(
    void *arg, const void **key, size_t *klen, uint64_t *vlen, uint64_t *at)
{
	struct scan_pipe *p = arg;
	const struct blt_item *item;

	if (p->cur != NULL && p->next == p->cur->n && !p->later) {
		/* the batch is in: the index's lock goes while the next
		 * one is waited for (inode_tree_fill()) */
		p->later = 1;
		return INODE_NEXT_LATER;
	}
	if (p->cur == NULL || p->next == p->cur->n) {
		p->later = 0;
		if (p->lazy != NULL && p->cur != NULL)
			lazy_moved(p->lazy, p->used + 1);
		if (p->lazy != NULL && lazy_stopping(p->lazy))
			return blt_errmsg_set(-ECANCELED, "unmounted");
		pthread_mutex_lock(&p->mu);
		if (p->cur != NULL) {
			p->used++;
			p->cur = NULL;
			pthread_cond_signal(&p->freed_one);
		}
		while (p->filled == p->used && !p->ended)
			pthread_cond_wait(&p->filled_one, &p->mu);
		if (p->filled > p->used) {
			p->cur = &p->batch[p->used % SCAN_BATCHES];
			p->next = 0;
		}
		pthread_mutex_unlock(&p->mu);
		if (p->cur != NULL && p->progress != NULL) {
			p->keys += (uint64_t)p->cur->n;
			progress_show(p->progress, p->keys, p->total);
		}
		if (p->cur == NULL && p->rc < 0) { /* ended, nothing left */
			p->told = 1;
			return blt_errmsg_set(p->rc, "%s", p->msg);
		}
		if (p->cur == NULL)
			return 0;
	}
	item = &p->cur->items[p->next++];
	*key = item->key;
	*klen = item->klen;
	*vlen = item->vlen;
	*at = item->offset;
	return 1;
}

/* A mount of ten million keys costs about 32 bytes a key
 * (doc/benchmarks.md, "A hundred million keys"). */
int
scan_fill(struct fs *fs, struct inode_tree *t, struct lazy *lazy, int dirs_only,
    const struct blt_mark *since, struct progress *progress)
{
	struct scan_pipe *p;
	struct blt_stat st;
	pthread_t reader;
	int rc;

	if ((p = calloc(1, sizeof *p)) == NULL) {
		fs_log("%s: out of memory for the scan", blt_path(fs->db));
		return -ENOMEM;
	}
	rc = since != NULL ? blt_iter_create_since(fs->db, since, &p->it)
	     : dirs_only   ? blt_iter_create_unchecked(fs->db, &p->it)
	                   : blt_iter_create(fs->db, &p->it);
	if (rc < 0) {
		if (since == NULL || rc != -ESTALE)
			fs_log("%s", blt_errmsg());
		free(p);
		return rc;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->filled_one, NULL);
	pthread_cond_init(&p->freed_one, NULL);
	if ((rc = pthread_create(&reader, NULL, scan_read, p)) != 0) {
		fs_log("%s: cannot start the scan: %s", blt_path(fs->db),
		    strerror(rc));
		rc = -rc;
		goto out;
	}
	p->lazy = lazy;
	if ((p->progress = progress) != NULL && blt_info(fs->db, &st) == 0)
		p->total = st.n_keys;
	rc = dirs_only ? inode_tree_fill_dirs(t, scan_next_key, p)
	               : inode_tree_fill(t, scan_next_key, p);
	pthread_mutex_lock(&p->mu);
	p->stop = 1; /* a build that failed leaves the reader waiting */
	pthread_cond_signal(&p->freed_one);
	pthread_mutex_unlock(&p->mu);
	pthread_join(reader, NULL);
	if (rc == 0 && !dirs_only && /* for the next directory hints */
	    blt_iter_mark(p->it, &fs->mark) < 0)
		memset(&fs->mark, 0, sizeof fs->mark);
	if (rc < 0 && p->told) /* it names the store */
		fs_log("%s", blt_errmsg());
	else if (rc < 0 && rc != -ECANCELED)
		fs_log("%s: %s", blt_path(fs->db), blt_errmsg());
out:
	pthread_cond_destroy(&p->freed_one);
	pthread_cond_destroy(&p->filled_one);
	pthread_mutex_destroy(&p->mu);
	blt_iter_free(p->it);
	free(p);
#ifdef HAVE_MALLOC_TRIM
	/* A listing grows by doubling and is cut to size once built: the
	 * cut-off halves stay resident, free, until given back (10.1M keys:
	 * 362 -> 318 MB, doc/benchmarks.md). */
	malloc_trim(0);
#endif
	return rc;
}

/* A scan this long on a terminal shows how far it is, and then says that
 * -o lazy would have mounted at once; a shorter one says nothing. */
#define SCAN_QUIET_MS 500

int
scan_load_tree(struct fs *fs, const struct path_conf *pc)
{
	struct inode_tree *t;
	struct progress pr;
	int rc;

	if ((rc = inode_tree_begin(pc, &t)) < 0) {
		fs_log("%s: %s", blt_path(fs->db), blt_errmsg());
		return rc;
	}
	/* on a terminal, what the mount waits for (nothing elsewhere) */
	progress_start(&pr, "bltfs: reading the store's keys", "keys");
	pr.quiet_ms = getenv("BLTFS_SCAN_QUIET_MS") != NULL /* the tests' */
	                  ? strtoll(getenv("BLTFS_SCAN_QUIET_MS"), NULL, 10)
	                  : SCAN_QUIET_MS;
	rc = scan_fill(fs, t, NULL, 0, NULL, pr.on ? &pr : NULL);
	if (rc < 0) {
		progress_clear(&pr);
		inode_tree_free(t);
		return rc;
	}
	progress_end(&pr);
	if (pr.shown)
		fprintf(stderr,
		    "bltfs: with -o lazy the mount answers at once, while "
		    "its index is built\n");
	fs->tree = t;
	return 0;
}
