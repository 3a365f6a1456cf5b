/*
 * -o lazy: the mount answers while its directory index is built, on a
 * thread of its own (lazy_main()), in two passes of the scan a mount
 * without it makes (scan.c), each holding the index's write lock for a
 * batch of keys at a time.  The first puts in the directories of every
 * key and checks no digest, which makes it about three times as fast as
 * the second (1 s at 10 million keys, doc/benchmarks.md): it is the pass
 * a lookup of a name the store has not may wait for.  The second puts in
 * every key, checking each block, as a mount without -o lazy does.  Before
 * both, the directories the last build of the store met whose witnesses
 * the store still has go in (dir-hints.c): a few milliseconds, after which
 * the paths of those directories answer however late their keys come.  If
 * the store still has every witness and only grew since that build, the
 * keys written since stand in for the first pass.  Else, while the first
 * pass runs, a lookup of a name not met yet reads a sample of the store's
 * keys (sample.c), which finds its large directories in milliseconds.
 * Meanwhile:
 *
 * - a lookup finds the directories met so far, and the files it has made
 *   nodes of; any other name is asked of the store's hash index, which
 *   answers at once whether it is a key (ops.c, ops_lookup_unscanned()),
 *   and if it is not, it is no name once the first pass is done; before,
 *   the lookup reads a step of the sample, or once that has no more to
 *   give waits for the next batch (it may be a directory whose keys come
 *   later), and looks again;
 * - every request but lookups, attributes, opening and reading files,
 *   opening directories, statfs and ioctls not of bltfs waits for the
 *   build (lazy_gate(), which loop.c calls with each request as read):
 *   listings, changes and control commands need the whole index;
 * - once a build has failed (a damaged store), each such request gets EIO
 *   until the mount is unmounted; only reads and closes of open files go
 *   on.
 *
 * A test may hold the build after the first batch of each pass:
 * BLTFS_LAZY_HOLD names a FIFO, from which the build then reads one byte.
 */
#include "config.h"

#include <errno.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bltfs.h"
#include "indexer-int.h"

/* The lazy build of a mount (-o lazy), and what waits for it. */
struct lazy {
	struct fs *fs;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t moved; /* a batch is in, a pass or the build ended */
	unsigned long moves;  /* times moved was told */
	int dirs_known;       /* the first pass is done: atomic */
	int since;            /* ... or the pass of what came after the
	                         hints: atomic */
	const char *hints;    /* the directory hints' file, or NULL */
	int64_t hinted;       /* directories' hints confirmed: atomic */
	int state; /* LAZY_*: written under mu, read without it too */
	int stop;  /* the session ended: the build and its waiters stop */
	const char *hold; /* BLTFS_LAZY_HOLD, for the tests */
	/* the sample lookups read during the first pass (sample.c), NULL
	 * before and after it; sample_mu guards it, and it stays NULL once
	 * it has no more to give */
	pthread_mutex_t sample_mu;
	struct sample *sample;
	int64_t sample_keys; /* keys it may read: BLTFS_LAZY_SAMPLE, for
	                        the tests (0: none); else -1, sample.c's
	                        share of the store's */
	uint64_t sampled;    /* keys it read: atomic */
};

#define LAZY_BUILDING 0
#define LAZY_BUILT 1
#define LAZY_FAILED 2
#define LAZY_STOPPED 3 /* by lazy_cancel() */

/* LAZY_BUILT for a mount without a lazy build. */
static int
lazy_state(struct fs *fs)
{
	struct lazy *z = fs->lazy;

	return z == NULL ? LAZY_BUILT
	                 : __atomic_load_n(&z->state, __ATOMIC_ACQUIRE);
}

/* Tell whoever waits for the lazy build that it moved on. */
static void
lazy_tell(struct lazy *z)
{
	pthread_mutex_lock(&z->mu);
	z->moves++;
	pthread_cond_broadcast(&z->moved);
	pthread_mutex_unlock(&z->mu);
}

/* The n-th batch of a pass is in: told; after the first, a test may hold
 * the build here. */
void
lazy_moved(struct lazy *z, unsigned long n)
{
	lazy_tell(z);
	if (n == 1)
		fs_test_hold("BLTFS_LAZY_HOLD", z->hold);
}

int
lazy_stopping(struct lazy *z)
{
	return __atomic_load_n(&z->stop, __ATOMIC_ACQUIRE);
}

/* The directories of the hints at z->hints (dir-hints.c), and if every
 * one of them stands and the store only grew since, those of the keys
 * written since: 1, the tree then holding every directory; or 0, or
 * -ECANCELED. */
static int
lazy_hints(struct lazy *z)
{
	struct fs *fs = z->fs;
	struct blt_mark m;
	struct dir_hints *h;
	int64_t hinted;
	int whole = 0, rc;

	if (z->hints == NULL || (h = dir_hints_load(z->hints)) == NULL)
		return 0;
	if ((hinted = dir_hints_fill(fs, h, z)) >= 0) {
		__atomic_store_n(&z->hinted, hinted, __ATOMIC_RELEASE);
		whole = dir_hints_whole_mark(h, &m);
	}
	dir_hints_free(h); /* hints are only hints */
	lazy_tell(z);
	if (hinted == -ECANCELED)
		return -ECANCELED;
	if (!whole)
		return 0;
	rc = scan_fill(fs, fs->tree, z, 1, &m, NULL);
	if (rc == -ESTALE) /* the store says why */
		fs_log("directory hints %s: not enough for the keys written "
		       "since: %s; the build looks for directories in every "
		       "key",
		    z->hints, blt_errmsg());
	if (rc < 0)
		return rc == -ECANCELED ? rc : 0;
	__atomic_store_n(&z->since, 1, __ATOMIC_RELEASE);
	return 1;
}

/* The first pass, with the sample lookups may read meanwhile. */
static int
lazy_first_pass(struct lazy *z)
{
	struct fs *fs = z->fs;
	struct sample *s = sample_open(fs->db, z->sample_keys);
	int rc;

	pthread_mutex_lock(&z->sample_mu);
	z->sample = s;
	pthread_mutex_unlock(&z->sample_mu);
	lazy_tell(z); /* a lookup waiting already may read it */
	rc = scan_fill(fs, fs->tree, z, 1, NULL, NULL);
	pthread_mutex_lock(&z->sample_mu);
	sample_close(z->sample);
	z->sample = NULL;
	pthread_mutex_unlock(&z->sample_mu);
	return rc;
}

int
lazy_sample(struct fs *fs)
{
	struct lazy *z = fs->lazy;
	int n = 0;

	pthread_mutex_lock(&z->sample_mu);
	if (z->sample != NULL && !lazy_stopping(z) &&
	    (n = sample_step(z->sample, fs->tree)) == 0) {
		sample_close(z->sample);
		z->sample = NULL;
	}
	__atomic_add_fetch(&z->sampled, (uint64_t)n, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&z->sample_mu);
	return n > 0;
}

uint64_t
lazy_sampled(struct fs *fs)
{
	struct lazy *z = fs->lazy;

	return z == NULL ? 0 : __atomic_load_n(&z->sampled, __ATOMIC_ACQUIRE);
}

/* The lazy build's thread. */
static void *
lazy_main(void *arg)
{
	struct lazy *z = arg;
	struct fs *fs = z->fs;
	int state = LAZY_BUILT, rc, held;

	/* the build reads the store from start to end: held meanwhile (a
	 * store shared with other processes), exclusively on a read-write
	 * mount, whose changes wait for the build anyway; the lock is held
	 * already, since the open */
	held = blt_hold(fs->db, !fs->ro) == 0;

	/* each pass after the tree's directories are in: the first, unless
	 * the hints and what came after them hold all */
	if ((rc = lazy_hints(z)) == 0)
		rc = lazy_first_pass(z);
	if (rc >= 0) {
		__atomic_store_n(&z->dirs_known, 1, __ATOMIC_RELEASE);
		lazy_tell(z);
		rc = scan_fill(fs, fs->tree, z, 0, NULL, NULL);
	}
	if (rc == 0)
		index_cache_built(fs);
	else if (lazy_stopping(z))
		state = LAZY_STOPPED; /* nobody waits for the index now */
	else {
		state = LAZY_FAILED;
		fs_log("%s: the directory index could not be built (above); "
		       "every request but reads of files already open gets "
		       "EIO until the mount is unmounted",
		    blt_path(fs->db));
	}
	if (held)
		blt_unhold(fs->db);
	pthread_mutex_lock(&z->mu);
	__atomic_store_n(&z->state, state, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&z->moved);
	pthread_mutex_unlock(&z->mu);
	return NULL;
}

int
lazy_start(struct fs *fs, const struct path_conf *pc, const char *hints)
{
	struct lazy *z;
	int rc;

	if ((z = calloc(1, sizeof *z)) == NULL) {
		fs_log("%s: out of memory for the scan", blt_path(fs->db));
		return -ENOMEM;
	}
	z->fs = fs;
	z->hints = hints;
	z->hold = getenv("BLTFS_LAZY_HOLD");
	z->sample_keys = getenv("BLTFS_LAZY_SAMPLE") != NULL
	                     ? strtoll(getenv("BLTFS_LAZY_SAMPLE"), NULL, 10)
	                     : -1;
	if ((rc = inode_tree_begin(pc, &fs->tree)) < 0) {
		fs_log("%s: %s", blt_path(fs->db), blt_errmsg());
		free(z);
		return rc;
	}
	pthread_mutex_init(&z->mu, NULL);
	pthread_mutex_init(&z->sample_mu, NULL);
	pthread_cond_init(&z->moved, NULL);
	if ((rc = pthread_create(&z->thread, NULL, lazy_main, z)) != 0) {
		fs_log("%s: cannot start the scan: %s", blt_path(fs->db),
		    strerror(rc));
		pthread_cond_destroy(&z->moved);
		pthread_mutex_destroy(&z->sample_mu);
		pthread_mutex_destroy(&z->mu);
		free(z);
		return -rc;
	}
	fs->lazy = z;
	return 0;
}

/* Wait until fs->tree is built: 0, or -EIO if its build failed or the
 * session ended.  Only with a lazy build. */
static int
lazy_wait(struct fs *fs)
{
	struct lazy *z = fs->lazy;
	int state;

	pthread_mutex_lock(&z->mu);
	while (z->state == LAZY_BUILDING && !z->stop)
		pthread_cond_wait(&z->moved, &z->mu);
	state = z->state;
	pthread_mutex_unlock(&z->mu);
	return state == LAZY_BUILT ? 0 : -EIO;
}

unsigned long
lazy_moves(struct fs *fs)
{
	struct lazy *z = fs->lazy;
	unsigned long n;

	pthread_mutex_lock(&z->mu);
	n = z->moves;
	pthread_mutex_unlock(&z->mu);
	return n;
}

int
lazy_dirs_known(struct fs *fs)
{
	struct lazy *z = fs->lazy;

	return z == NULL || __atomic_load_n(&z->dirs_known, __ATOMIC_ACQUIRE);
}

int
lazy_wait_move(struct fs *fs, unsigned long seen)
{
	struct lazy *z = fs->lazy;
	int state;

	pthread_mutex_lock(&z->mu);
	while (z->state == LAZY_BUILDING && z->moves == seen && !z->stop)
		pthread_cond_wait(&z->moved, &z->mu);
	state = z->stop ? LAZY_STOPPED : z->state;
	pthread_mutex_unlock(&z->mu);
	return state == LAZY_FAILED || state == LAZY_STOPPED ? -EIO : 0;
}

int
lazy_since(struct fs *fs)
{
	struct lazy *z = fs->lazy;

	return z != NULL && __atomic_load_n(&z->since, __ATOMIC_ACQUIRE);
}

int64_t
lazy_hinted(struct fs *fs)
{
	struct lazy *z = fs->lazy;

	return z == NULL ? 0 : __atomic_load_n(&z->hinted, __ATOMIC_ACQUIRE);
}

const char *
lazy_state_name(struct fs *fs)
{
	static const char *const name[] = {
	    "building", "built", "failed", "stopped"};

	return name[lazy_state(fs)];
}

int
lazy_failed(struct fs *fs)
{
	return lazy_state(fs) == LAZY_FAILED;
}

int
lazy_building(struct fs *fs)
{
	return lazy_state(fs) != LAZY_BUILT;
}

void
lazy_cancel(struct fs *fs)
{
	struct lazy *z = fs->lazy;

	if (z == NULL)
		return;
	pthread_mutex_lock(&z->mu);
	__atomic_store_n(&z->stop, 1, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&z->moved);
	pthread_mutex_unlock(&z->mu);
}

void
lazy_stop(struct fs *fs)
{
	struct lazy *z = fs->lazy;

	if (z == NULL)
		return;
	pthread_join(z->thread, NULL);
	pthread_cond_destroy(&z->moved);
	pthread_mutex_destroy(&z->sample_mu);
	pthread_mutex_destroy(&z->mu);
	free(z);
	fs->lazy = NULL;
}

/* FUSE_STATX (kernel 6.6), which stat(1) sends for a birth time; the
 * kernel headers built against may be older.  No operation here takes it,
 * so libfuse answers ENOSYS, and the kernel asks with getattr from then
 * on. */
#define LAZY_FUSE_STATX 52

/* A request of no node, served whatever the build's state: the session's
 * own, and the kernel letting go of what it held. */
static int
lazy_no_node(const struct fuse_in_header *in)
{
	switch (in->opcode) {
	case FUSE_INIT:
	case FUSE_DESTROY:
	case FUSE_INTERRUPT:
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
		return 1;
	default:
		return 0;
	}
}

/* Whether the request in buf may be served while the index is built: it
 * finds names, tells attributes, or opens and reads a file for reading,
 * all of which the index answers as it grows (a directory may be opened,
 * but its listing waits); or it needs no index: df's statfs, what libfuse
 * refuses as no operation takes it (extended attributes, statx, lseek's
 * holes, poll), an ioctl but a command (status and jobs tell the build's
 * state; isatty(), which many programs ask of their input, gets
 * ENOTTY). */
static int
lazy_may_pass(const struct fuse_buf *buf)
{
	const struct fuse_in_header *in = buf->mem;

	switch (in->opcode) {
	case FUSE_LOOKUP:
	case FUSE_GETATTR:
	case FUSE_ACCESS:
	case FUSE_READ:
	case FUSE_FLUSH:
	case FUSE_RELEASE:
	case FUSE_OPENDIR:
	case FUSE_RELEASEDIR:
	case FUSE_STATFS:
	case FUSE_GETXATTR:
	case FUSE_LISTXATTR:
	case LAZY_FUSE_STATX:
	case FUSE_LSEEK:
	case FUSE_POLL:
		return 1;
	case FUSE_OPEN:
		return request_open_reads(buf);
	case FUSE_IOCTL:
		return request_ioctl_cmd(buf) != BLTFS_IOC_CMD;
	default:
		return 0;
	}
}

/* Requests that are served even once the build failed: they close or
 * read a file open already. */
static int
lazy_pass_failed(const struct fuse_in_header *in)
{
	switch (in->opcode) {
	case FUSE_READ:
	case FUSE_FLUSH:
	case FUSE_RELEASE:
	case FUSE_RELEASEDIR:
		return 1;
	default:
		return 0;
	}
}

int
lazy_gate(struct fs *fs, struct fuse_session *se, const struct fuse_buf *buf)
{
	const struct fuse_in_header *in = buf->mem;

	if (lazy_state(fs) == LAZY_BUILT || buf->size < sizeof *in ||
	    lazy_no_node(in))
		return 0;
	if (lazy_may_pass(buf) ? lazy_state(fs) == LAZY_BUILDING
	                       : lazy_wait(fs) == 0)
		return 0;
	if (lazy_pass_failed(in))
		return 0;
	request_answer(se, buf, -EIO);
	return 1;
}
