/*
 * Open files and their write buffers.
 *
 * A file opened for reading reads straight from the store, unless its
 * writers changed it: then from what they wrote, which is what the
 * kernel's page cache of the file holds (filebuf_lend()).  The handles
 * of a file that may write share one buffer (struct filebuf): a copy of
 * the value taken at the first change (or an empty one when an open
 * created or truncated the file), in memory up to fs->spill bytes, then in
 * an unlinked temporary file beside the store.  Every write through any of
 * them lands in it at once, as on any file system, so that processes
 * appending to one log, or a truncate(1) of a file another process is
 * writing, lose nothing.  handle_commit() stores the whole buffer with
 * one blt_put() and flushes, at each close and fsync: other readers of
 * the store see the old value until then, and a value is never half
 * written.
 *
 * Handles and buffers are registered in a set by nodeid, so that stat and
 * utimensat on a file that is being written see and change the pending
 * value, and so that shutdown can commit files the kernel never released.
 * A buffer's size, dirty flag and timestamp are atomics: every stat reads
 * them, and taking a buffer's lock could wait on a commit.  A commit
 * records the file's new size in the directory index before it marks the
 * buffer clean, so a stat reads the index after the buffer
 * (inode_attr_recheck()).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fs.h"

#define HANDLE_BUCKETS 256
#define HANDLE_MIN_CAP 65536
/* Files whose name went most recently, remembered for opens of them that
 * were on their way (handle_orphan()) */
#define HANDLE_ORPHANS 64

/* The value of one file as its writers see it, shared by all its handles
 * that may write, and by its readers once its name went (handle_keep()). */
struct filebuf {
	struct fs *fs;
	uint64_t nodeid;
	pthread_mutex_t lock; /* the bytes; held across a commit */
	int refs;             /* handles using it; under the set's lock */
	int readers;        /* reads through other handles of the file, going on
	                     * (filebuf_lend()); under the set's lock */
	_Atomic int loaded; /* holds the whole value */
	unsigned char *mem;
	size_t cap;
	int fd; /* spill file, or -1 */
	_Atomic uint64_t size;
	_Atomic int dirty;    /* differs from the store */
	_Atomic int64_t ts;   /* timestamp of the next commit */
	struct filebuf *next; /* same bucket of the set */
};

struct handle {
	struct fs *fs;
	uint64_t nodeid;
	int writable; /* may change the file: opened for writing, or made
	               * empty by its open (created, O_TRUNC) even if
	               * read-only */
	/* the file's buffer: from the open for a handle that may write, from
	 * handle_keep() for a reader; NULL reads the store */
	_Atomic(struct filebuf *) buf;
	_Atomic int pinned; /* reads the value a removed file had, at pin
	                     * (written before pinned is set, under the
	                     * set's lock) */
	struct blt_entry pin;
	_Atomic int shared; /* another handle of the node existed meanwhile */
	/* changed the file since its last commit through it (writes and
	 * truncates, an open that emptied it): see handle_commit_release() */
	_Atomic int changed;
	struct handle *next; /* same bucket of the set */
};

struct handle_set {
	pthread_mutex_t lock;
	atomic_int nbufs; /* stat skips the lock while this is 0 */
	char *dir;        /* where spill files go: the store's directory */
	struct handle *bucket[HANDLE_BUCKETS];
	struct filebuf *bufs[HANDLE_BUCKETS];
	struct handle_orphan {
		uint64_t nodeid;
		uint32_t gen; /* of the node: a nodeid is an address, reused
		               * once the kernel forgets the node */
		int stored;   /* e holds where its value was */
		struct blt_entry e;
	} orphan[HANDLE_ORPHANS];
	unsigned norphans; /* ever recorded; the ring holds the last ones */
};

static unsigned
handle_hash(uint64_t nodeid)
{
	return (unsigned)((nodeid * UINT64_C(0x9e3779b97f4a7c15)) >> 56);
}

static struct handle **
handle_bucket(struct handle_set *s, uint64_t nodeid)
{
	return &s->bucket[handle_hash(nodeid)];
}

/* Create the registry of open files of fs's store.  -ENOMEM. */
int
handle_set_create(struct fs *fs, struct handle_set **out)
{
	struct handle_set *s;
	const char *path = blt_path(fs->db), *slash;

	if ((s = calloc(1, sizeof *s)) == NULL)
		return -ENOMEM;
	slash = strrchr(path, '/');
	if (slash == NULL)
		s->dir = strdup(".");
	else if (slash == path)
		s->dir = strdup("/");
	else
		s->dir = strndup(path, (size_t)(slash - path));
	if (s->dir == NULL) {
		free(s);
		return -ENOMEM;
	}
	pthread_mutex_init(&s->lock, NULL);
	atomic_init(&s->nbufs, 0);
	*out = s;
	return 0;
}

/* Free the registry; its handles must be gone (handle_commit_all()). */
void
handle_set_free(struct handle_set *s)
{
	if (s == NULL)
		return;
	pthread_mutex_destroy(&s->lock);
	free(s->dir);
	free(s);
}

/* The buffer of nodeid, if it has one; s->lock held. */
static struct filebuf *
filebuf_find(struct handle_set *s, uint64_t nodeid)
{
	struct filebuf *b;

	for (b = s->bufs[handle_hash(nodeid)]; b != NULL; b = b->next)
		if (b->nodeid == nodeid)
			return b;
	return NULL;
}

/* The buffer of nodeid, with a reference for the caller: the one in the
 * set, else spare (which the set then owns).  s->lock held. */
static struct filebuf *
filebuf_attach(struct handle_set *s, uint64_t nodeid, struct filebuf **spare)
{
	struct filebuf **bucket = &s->bufs[handle_hash(nodeid)], *b;

	if ((b = filebuf_find(s, nodeid)) != NULL) {
		b->refs++;
		return b;
	}
	b = *spare;
	*spare = NULL;
	b->refs = 1;
	b->next = *bucket;
	*bucket = b;
	atomic_fetch_add(&s->nbufs, 1);
	return b;
}

/* An empty buffer for nodeid, not in the set yet; NULL without memory. */
static struct filebuf *
filebuf_create(struct fs *fs, uint64_t nodeid)
{
	struct filebuf *b;

	if ((b = calloc(1, sizeof *b)) == NULL)
		return NULL;
	b->fs = fs;
	b->nodeid = nodeid;
	b->fd = -1;
	pthread_mutex_init(&b->lock, NULL);
	atomic_init(&b->loaded, 0);
	atomic_init(&b->size, 0);
	atomic_init(&b->dirty, 0);
	atomic_init(&b->ts, BLT_NOW);
	return b;
}

static void
filebuf_free(struct filebuf *b)
{
	if (b == NULL)
		return;
	if (b->fd != -1)
		close(b->fd);
	free(b->mem);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

/* Drop a reference to b; the last one takes it out of the set, with
 * whatever it holds that was not committed, and frees it once no read
 * uses it.  Returns 1 if that was something, else 0. */
static int
filebuf_detach(struct handle_set *s, struct filebuf *b)
{
	struct filebuf **p;
	int last, lost = 0;

	pthread_mutex_lock(&s->lock);
	if (--b->refs == 0) {
		for (p = &s->bufs[handle_hash(b->nodeid)]; *p != b;
		     p = &(*p)->next)
			;
		*p = b->next;
		atomic_fetch_sub(&s->nbufs, 1);
		lost = atomic_load(&b->dirty);
	}
	last = b->refs == 0 && b->readers == 0;
	pthread_mutex_unlock(&s->lock);
	if (last)
		filebuf_free(b);
	return lost;
}

/* The buffer of nodeid if it holds the value, for one read through a
 * handle that has none (filebuf_return() after it); else NULL.  The
 * kernel keeps one page cache for all descriptors of a file, and its
 * writers read back from it: a reader must fill it with what they wrote
 * (a read of the stored value would put back bytes they changed, and a
 * writer that reads, changes and writes a page would then store them). */
static struct filebuf *
filebuf_lend(struct handle_set *s, uint64_t nodeid)
{
	struct filebuf *b;

	if (atomic_load(&s->nbufs) == 0)
		return NULL;
	pthread_mutex_lock(&s->lock);
	if ((b = filebuf_find(s, nodeid)) != NULL && atomic_load(&b->loaded))
		b->readers++;
	else
		b = NULL;
	pthread_mutex_unlock(&s->lock);
	return b;
}

static void
filebuf_return(struct handle_set *s, struct filebuf *b)
{
	int last;

	pthread_mutex_lock(&s->lock);
	last = --b->readers == 0 && b->refs == 0;
	pthread_mutex_unlock(&s->lock);
	if (last)
		filebuf_free(b);
}

static int filebuf_truncate(struct filebuf *b, uint64_t size);

/* Open nodeid.  flags are open(2)'s; fresh says the file starts empty and
 * must be stored on close even if nothing is written (create, O_TRUNC):
 * its buffer, shared with the file's other writers, is emptied.  The
 * caller owns *out; see handle_free().  -ENOMEM, or an errno of the spill
 * file. */
int
handle_create(
    struct fs *fs, uint64_t nodeid, int flags, int fresh, struct handle **out)
{
	struct handle_set *s = fs->handles;
	struct filebuf *spare = NULL, *b = NULL;
	struct handle *h, *o, **bucket;
	int rc;

	fresh = fresh || (flags & O_TRUNC);
	if ((h = calloc(1, sizeof *h)) == NULL)
		return -ENOMEM;
	h->fs = fs;
	h->nodeid = nodeid;
	h->writable = (flags & O_ACCMODE) != O_RDONLY || fresh;
	atomic_init(&h->shared, 0);
	atomic_init(&h->pinned, 0);
	atomic_init(&h->changed, fresh);
	if (h->writable && (spare = filebuf_create(fs, nodeid)) == NULL) {
		free(h);
		return -ENOMEM;
	}
	pthread_mutex_lock(&s->lock);
	bucket = handle_bucket(s, nodeid);
	for (o = *bucket; o != NULL; o = o->next)
		if (o->nodeid == nodeid) {
			atomic_store(&o->shared, 1);
			atomic_store(&h->shared, 1);
		}
	if (h->writable)
		b = filebuf_attach(s, nodeid, &spare);
	atomic_init(&h->buf, b);
	h->next = *bucket;
	*bucket = h;
	pthread_mutex_unlock(&s->lock);
	filebuf_free(spare);
	if (fresh && (rc = filebuf_truncate(b, 0)) < 0) {
		handle_free(h);
		return rc;
	}
	*out = h;
	return 0;
}

/* Forget h without storing anything; safe on NULL.  Its file's buffer
 * goes with its last handle. */
void
handle_free(struct handle *h)
{
	(void)handle_release(h);
}

/* handle_free() that tells whether the file lost writes with h: 1 if h
 * held the last reference to its file's buffer and the store never took
 * what it held (a commit failed), else 0. */
int
handle_release(struct handle *h)
{
	struct handle_set *s;
	struct handle **p;
	struct filebuf *b;
	int lost = 0;

	if (h == NULL)
		return 0;
	s = h->fs->handles;
	pthread_mutex_lock(&s->lock);
	for (p = handle_bucket(s, h->nodeid); *p != NULL; p = &(*p)->next)
		if (*p == h) {
			*p = h->next;
			break;
		}
	pthread_mutex_unlock(&s->lock);
	if ((b = atomic_load(&h->buf)) != NULL)
		lost = filebuf_detach(s, b);
	free(h);
	return lost;
}

/* An unlinked temporary file in the store's directory, so that a big value
 * needs disk space where the store is, not memory. */
static int
filebuf_spill_open(struct filebuf *b)
{
	const char *dir = b->fs->handles->dir;
	char tmpl[PATH_MAX];
	int fd;

	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd != -1)
		return fd;
	/* file systems without O_TMPFILE */
	if (snprintf(tmpl, sizeof tmpl, "%s/.bltfs-spill-XXXXXX", dir) >=
	    (int)sizeof tmpl)
		return -ENAMETOOLONG;
	if ((fd = mkostemp(tmpl, O_CLOEXEC)) == -1) {
		fs_log("spill file in %s: %s", dir, strerror(errno));
		return -errno;
	}
	unlink(tmpl);
	return fd;
}

static int
handle_pwrite(int fd, const void *buf, size_t n, uint64_t off)
{
	const unsigned char *p = buf;
	ssize_t w;

	while (n > 0) {
		if ((w = pwrite(fd, p, n, (off_t)off)) == -1) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

/* Move the in-memory buffer to a spill file. */
static int
filebuf_spill(struct filebuf *b)
{
	int fd, rc;

	if (b->fd != -1)
		return 0;
	if ((fd = filebuf_spill_open(b)) < 0)
		return fd;
	if ((rc = handle_pwrite(fd, b->mem, atomic_load(&b->size), 0)) < 0) {
		close(fd);
		return rc;
	}
	b->fd = fd;
	free(b->mem);
	b->mem = NULL;
	b->cap = 0;
	return 0;
}

/* Make room for a value of size bytes; the bytes from the current size to
 * zero_end (a hole the caller does not fill) become zeros. */
static int
filebuf_reserve(struct filebuf *b, uint64_t size, uint64_t zero_end)
{
	uint64_t cur = atomic_load(&b->size);
	unsigned char *m;
	size_t cap;
	int rc;

	if (size > BLT_VALUE_MAX)
		return -EFBIG;
	if (b->fd == -1 && size > b->fs->spill && (rc = filebuf_spill(b)) < 0)
		return rc;
	if (b->fd != -1)
		return 0; /* pwrite and ftruncate fill holes with zeros */
	if (size > b->cap) {
		cap = b->cap ? b->cap : HANDLE_MIN_CAP;
		while (cap < size)
			cap *= 2;
		if (cap > b->fs->spill)
			cap = b->fs->spill;
		if ((m = realloc(b->mem, cap)) == NULL)
			return -ENOMEM;
		b->mem = m;
		b->cap = cap;
	}
	if (zero_end > cur)
		memset(b->mem + cur, 0, zero_end - cur);
	return 0;
}

/* The key the file has now: it may have been renamed since it was opened.
 * -ESTALE once it is removed. */
static int
filebuf_key(struct filebuf *b, unsigned char **key, size_t *klen)
{
	return inode_key(b->fs->tree, b->nodeid, key, klen);
}

/* Reads by key that wait for an unlink or rename sleep here until one
 * ends (node_moves_ended()).  One mount per process. */
static pthread_mutex_t node_move_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t node_move_done = PTHREAD_COND_INITIALIZER;

/* A read of the store by a node's key: the key, and what tells afterwards
 * whether the read must be done again (node_read_again()). */
struct node_read {
	unsigned char *key;
	size_t klen;
	uint64_t ver;   /* of the node's path: unlinks and renames */
	unsigned evict; /* fs->evict_seq: odd while a prune evicts keys */
};

/* The key of nodeid for a read of the store, waiting out an unlink or
 * rename that is changing it (the store changes before the names do); the
 * read is good unless node_read_again() says otherwise.  -ESTALE once the
 * node has no name. */
static int
node_key(struct fs *fs, uint64_t nodeid, struct node_read *r)
{
	int rc;

	r->evict = atomic_load(&fs->evict_seq);
	if ((rc = inode_key_version(
	         fs->tree, nodeid, &r->key, &r->klen, &r->ver)) != -EAGAIN)
		return rc;
	pthread_mutex_lock(&node_move_lock);
	while ((rc = inode_key_version(
	            fs->tree, nodeid, &r->key, &r->klen, &r->ver)) == -EAGAIN)
		pthread_cond_wait(&node_move_done, &node_move_lock);
	pthread_mutex_unlock(&node_move_lock);
	return rc;
}

/* An unlink or rename has unmarked its nodes (inode_move_mark()), or a
 * prune has taken the names of the keys it evicted out of the index: wake
 * the reads that wait for it to look again. */
void
node_moves_ended(void)
{
	pthread_mutex_lock(&node_move_lock);
	pthread_cond_broadcast(&node_move_done);
	pthread_mutex_unlock(&node_move_lock);
}

/* Free the key node_key() gave; 1 if the read by it that returned rc must
 * be done again: an unlink or rename of its path came or went meanwhile,
 * or the key was missing and a prune --older-than ran meanwhile.  Such a
 * prune drops keys from the store before their names leave the index, and
 * a file it evicts must not read as empty in between: the read waits for
 * the names, then finds the node gone (-ESTALE) or the key there. */
static int
node_read_again(struct fs *fs, uint64_t nodeid, struct node_read *r, int rc)
{
	free(r->key);
	r->key = NULL;
	if (!inode_key_still(fs->tree, nodeid, r->ver))
		return 1;
	if (rc != -ENOENT ||
	    ((r->evict & 1) == 0 && atomic_load(&fs->evict_seq) == r->evict))
		return 0;
	pthread_mutex_lock(&node_move_lock);
	while (atomic_load(&fs->evict_seq) & 1)
		pthread_cond_wait(&node_move_done, &node_move_lock);
	pthread_mutex_unlock(&node_move_lock);
	return 1;
}

/* Where the value of nodeid lies in the store, read while no unlink or
 * rename changes its key.  -ESTALE once the node has no name, -ENOENT for
 * a file not stored yet. */
int
node_find(struct fs *fs, uint64_t nodeid, struct blt_entry *e)
{
	struct node_read r;
	int rc;

	do {
		if ((rc = node_key(fs, nodeid, &r)) < 0)
			return rc;
		rc = blt_find(fs->db, r.key, r.klen, e);
	} while (node_read_again(fs, nodeid, &r, rc));
	return rc;
}

/* Read up to n bytes at off of nodeid's stored value, by its key, while
 * no unlink or rename changes that key.  Returns the byte count (0 at the
 * end, and for a file not stored yet). */
ssize_t
node_read(struct fs *fs, uint64_t nodeid, void *buf, size_t n, uint64_t off)
{
	struct node_read r;
	ssize_t got;
	int rc;

	do {
		if ((rc = node_key(fs, nodeid, &r)) < 0)
			return rc;
		got = blt_read(fs->db, r.key, r.klen, off, buf, n);
	} while (node_read_again(fs, nodeid, &r, (int)got));
	if (got == -ENOENT)
		return 0; /* created elsewhere and not yet stored: empty */
	return got;
}

/* Copy the stored value into the buffer before the first change. */
static int
filebuf_load(struct filebuf *b)
{
	unsigned char *map, none;
	struct node_read r;
	ssize_t len, got;
	int rc, missing;

	/* a map job may change the value between the two calls: then the
	 * length differs and we read again */
	for (;;) {
		if ((rc = node_key(b->fs, b->nodeid, &r)) < 0)
			return rc;
		len = blt_get(b->fs->db, r.key, r.klen, &none, 0, NULL);
		if ((missing = len == -ENOENT))
			len = 0; /* created, not yet stored */
		if (len < 0) {
			rc = (int)len;
			fs_log("%s", blt_errmsg());
			break;
		}
		atomic_store(&b->size, 0);
		if ((rc = filebuf_reserve(b, (uint64_t)len, 0)) < 0)
			break;
		if (len == 0) {
			got = 0;
		} else if (b->fd == -1) {
			got = blt_get(b->fs->db, r.key, r.klen, b->mem,
			    (size_t)len, NULL);
		} else {
			if (ftruncate(b->fd, len) == -1) {
				rc = -errno;
				break;
			}
			map = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE,
			    MAP_SHARED, b->fd, 0);
			if (map == MAP_FAILED) {
				rc = -errno;
				break;
			}
			got = blt_get(
			    b->fs->db, r.key, r.klen, map, (size_t)len, NULL);
			munmap(map, (size_t)len);
		}
		if (got == -ENOENT) {
			missing = 1;
			got = 0;
		}
		if (got < 0) {
			rc = (int)got;
			fs_log("%s", blt_errmsg());
			break;
		}
		if (node_read_again(
		        b->fs, b->nodeid, &r, missing ? -ENOENT : 0))
			continue; /* renamed or removed meanwhile: again */
		if (got == len) {
			atomic_store(&b->size, (uint64_t)len);
			atomic_store(&b->loaded, 1);
			return 0;
		}
	}
	free(r.key);
	return rc;
}

/* Read up to n bytes at off: from the file's buffer once it holds the
 * value (also through a handle that does not write, filebuf_lend()),
 * from the store otherwise.  Returns the byte count (0 at the end). */
ssize_t
handle_read(struct handle *h, void *buf, size_t n, uint64_t off)
{
	struct filebuf *b = atomic_load(&h->buf), *lent = NULL;
	uint64_t size;
	ssize_t r = 0;
	int loaded = 0;

	/* a pinned value is read where it lies, by splice, or not at all */
	if (atomic_load(&h->pinned))
		return -ESTALE;
	if (b == NULL)
		b = lent = filebuf_lend(h->fs->handles, h->nodeid);
	if (b != NULL) {
		pthread_mutex_lock(&b->lock);
		if ((loaded = atomic_load(&b->loaded))) {
			size = atomic_load(&b->size);
			n = off >= size ? 0 : size - off < n ? size - off : n;
			if (n > 0 && b->fd == -1) {
				memcpy(buf, b->mem + off, n);
				r = (ssize_t)n;
			} else if (n > 0 &&
			           (r = pread(b->fd, buf, n, (off_t)off)) == -1)
				r = -errno;
		}
		pthread_mutex_unlock(&b->lock);
	}
	if (lent != NULL)
		filebuf_return(h->fs->handles, lent);
	return loaded ? r : node_read(h->fs, h->nodeid, buf, n, off);
}

/* Where h's value lies in the store, so that a read can be spliced from
 * the store file: 0 with *e filled, 1 if h reads from its file's buffer
 * (handle_read() then), -ENOENT for a file not stored yet (empty), or
 * another negative errno. */
int
handle_locate(struct handle *h, struct blt_entry *e)
{
	struct filebuf *b = atomic_load(&h->buf);
	int rc;

	if (atomic_load(&h->pinned)) {
		*e = h->pin;
		return 0;
	}
	if (b != NULL && atomic_load(&b->loaded))
		return 1;
	/* a reader of a file whose writers changed it reads what they wrote
	 * (filebuf_lend()) */
	if (b == NULL &&
	    (b = filebuf_lend(h->fs->handles, h->nodeid)) != NULL) {
		filebuf_return(h->fs->handles, b);
		return 1;
	}
	/* removed after the open passed its check: the removal noted where
	 * the value was before */
	if ((rc = node_find(h->fs, h->nodeid, e)) == -ESTALE &&
	    (rc = handle_pin(h)) == 0)
		*e = h->pin;
	return rc;
}

/* b now holds size bytes, changed just now; b->lock held. */
static void
filebuf_changed(struct filebuf *b, uint64_t size)
{
	atomic_store(&b->size, size);
	atomic_store(&b->ts, BLT_NOW);
	atomic_store(&b->dirty, 1);
}

/* The buffer h may change; NULL for a handle opened to read. */
static struct filebuf *
handle_wbuf(struct handle *h)
{
	return h->writable ? atomic_load(&h->buf) : NULL;
}

/* Write n bytes at off into the file's buffer.  -EFBIG past the format's
 * limit, -ENOMEM, -ENOSPC or another errno of the spill file. */
int
handle_write(struct handle *h, const void *buf, size_t n, uint64_t off)
{
	struct filebuf *b = handle_wbuf(h);
	uint64_t end = off + n;
	int rc = 0;

	if (b == NULL)
		return -EBADF;
	if (off > BLT_VALUE_MAX || n > BLT_VALUE_MAX - off)
		return -EFBIG;
	pthread_mutex_lock(&b->lock);
	if (!atomic_load(&b->loaded) && (rc = filebuf_load(b)) < 0)
		goto out;
	if (end > atomic_load(&b->size) &&
	    (rc = filebuf_reserve(b, end, off)) < 0)
		goto out;
	if (b->fd == -1)
		memcpy(b->mem + off, buf, n);
	else if ((rc = handle_pwrite(b->fd, buf, n, off)) < 0)
		goto out;
	if (end < atomic_load(&b->size))
		end = atomic_load(&b->size); /* a write inside keeps the size */
	filebuf_changed(b, end);
	atomic_store(&h->changed, 1);
out:
	pthread_mutex_unlock(&b->lock);
	return rc;
}

/* Cut or extend b to size bytes.  -EFBIG. */
static int
filebuf_truncate(struct filebuf *b, uint64_t size)
{
	int rc = 0;

	if (size > BLT_VALUE_MAX)
		return -EFBIG;
	pthread_mutex_lock(&b->lock);
	if (!atomic_load(&b->loaded)) {
		if (size == 0) {
			atomic_store(&b->size, 0);
			atomic_store(&b->loaded, 1);
		} else if ((rc = filebuf_load(b)) < 0)
			goto out;
	}
	if ((rc = filebuf_reserve(b, size, size)) < 0)
		goto out;
	if (b->fd != -1 && ftruncate(b->fd, (off_t)size) == -1) {
		rc = -errno;
		goto out;
	}
	filebuf_changed(b, size);
out:
	pthread_mutex_unlock(&b->lock);
	return rc;
}

/* Cut or extend the file to size bytes (ftruncate, truncate).  -EBADF for
 * a handle opened to read, -EFBIG. */
int
handle_truncate(struct handle *h, uint64_t size)
{
	struct filebuf *b = handle_wbuf(h);
	int rc;

	if (b == NULL)
		return -EBADF;
	if ((rc = filebuf_truncate(b, size)) == 0)
		atomic_store(&h->changed, 1);
	return rc;
}

/* A value of this many bytes or more is stored in steps (blt_put_begin()),
 * and fs->wlock is let go while it is written: a gigabyte being stored
 * then holds up no other file's creation, commit or rename. */
#define HANDLE_PUT_APART (1u << 20)

/* Store b's value of size bytes under *key in steps, fs->wlock let go
 * while the value is written.  If the file was renamed meanwhile, *key
 * becomes its new key and 0 says that the value is still to be put; 1
 * says that it is stored; -ESTALE that the file was removed meanwhile.
 * fs->wlock and b->lock are held. */
static int
filebuf_put_apart(struct filebuf *b, const void *val, uint64_t size, int64_t ts,
    unsigned char **key, size_t *klen)
{
	struct fs *fs = b->fs;
	struct blt_put_op *op;
	unsigned char *now;
	size_t nlen;
	int rc;

	if ((rc = blt_put_begin(fs->db, *key, *klen, size, ts, &op)) < 0) {
		fs_log_write(fs, NULL);
		return rc;
	}
	pthread_mutex_unlock(&fs->wlock);
	(void)blt_put_fill(op, val);
	pthread_mutex_lock(&fs->wlock);
	if ((rc = filebuf_key(b, &now, &nlen)) < 0) {
		blt_put_cancel(op);
		return rc;
	}
	if (nlen == *klen && memcmp(now, *key, nlen) == 0) {
		free(now);
		if ((rc = blt_put_end(op)) < 0) {
			fs_log_write(fs, NULL);
			return rc;
		}
		return 1;
	}
	blt_put_cancel(op); /* renamed: stored under the new name instead */
	free(*key);
	*key = now;
	*klen = nlen;
	return 0;
}

/* Store a changed buffer (one put) and flush, so that it survives a crash
 * of the daemon.  Returns 1 if the store changed, 0 if there was nothing
 * to do, or a negative errno (the buffer stays dirty, so a later flush or
 * release tries again).  A file removed meanwhile loses its writes, as on
 * any file system. */
static int
filebuf_commit(struct filebuf *b)
{
	struct fs *fs = b->fs;
	unsigned char *key = NULL;
	const void *val = "";
	void *map = NULL;
	uint64_t size;
	int64_t ts;
	size_t klen;
	int rc;

	pthread_mutex_lock(&b->lock);
	if (!atomic_load(&b->dirty)) {
		pthread_mutex_unlock(&b->lock);
		return 0;
	}
	size = atomic_load(&b->size);
	if (b->fd != -1 && size > 0) {
		map = mmap(NULL, size, PROT_READ, MAP_SHARED, b->fd, 0);
		if (map == MAP_FAILED) {
			rc = -errno;
			fs_log("committing a spilled file: %s", strerror(-rc));
			pthread_mutex_unlock(&b->lock);
			return rc;
		}
		val = map;
	} else if (size > 0)
		val = b->mem;
	/* the key is read under the write lock so that a rename or unlink
	 * cannot slip in between it and the put */
	pthread_mutex_lock(&fs->wlock);
	/* the time is taken here, so that the index can keep it (stat and
	 * readdirplus then need no lookup in the store) */
	ts = fs->timestamps ? atomic_load(&b->ts) : BLT_NOW;
	if (ts == BLT_NOW && fs->timestamps)
		ts = blt_now();
	if ((rc = filebuf_key(b, &key, &klen)) == 0 && size >= HANDLE_PUT_APART)
		rc = filebuf_put_apart(b, val, size, ts, &key, &klen);
	if (rc == -ESTALE) {
		/* removed: nothing to store, but the buffer stays dirty, so
		 * that stat of the file's other open descriptors goes by it */
		rc = 0;
		goto unlock;
	}
	if (rc < 0)
		goto unlock;
	if ((rc == 0 && (rc = blt_put(fs->db, key, klen, val, size, ts)) < 0) ||
	    (rc = blt_flush(fs->db)) < 0) {
		/* the put is only buffered until the flush: a full disk
		 * fails it there, and the index keeps the old size */
		fs_log_write(fs, NULL);
		goto unlock;
	}
	/* before dirty is cleared: stat goes by one or the other */
	inode_set_attr(
	    fs->tree, b->nodeid, size, fs->timestamps ? ts : BLT_NO_TS);
	atomic_store(&b->dirty, 0);
	rc = 1;
unlock:
	pthread_mutex_unlock(&fs->wlock);
	if (map != NULL)
		munmap(map, size);
	pthread_mutex_unlock(&b->lock);
	free(key);
	return rc;
}

/* Store what h's file holds that the store has not, written through any of
 * its handles (see filebuf_commit()).  Returns 1 if the store changed, 2
 * if it did and h was the only handle of its file all along (so the
 * kernel's cached pages, written through h alone, hold the stored value),
 * 0 if there was nothing to do, or a negative errno.  A handle opened to
 * read commits nothing. */
int
handle_commit(struct handle *h)
{
	struct filebuf *b = handle_wbuf(h);
	int rc;

	if (b == NULL)
		return 0;
	/* cleared first: a change through h during the commit sets it
	 * again */
	atomic_store(&h->changed, 0);
	if ((rc = filebuf_commit(b)) < 0)
		atomic_store(&h->changed, 1);
	else if (rc == 1 && !atomic_load(&h->shared))
		rc = 2;
	return rc;
}

/* handle_commit() at the release of h, which comes after close(2) has
 * returned, while the file's other writers may go on writing: it stores
 * only what changed through h since its last commit (writes through a
 * shared mapping that the kernel sends after the flush), or everything
 * when h is the file's last writer.  What other handles wrote is theirs
 * to store at their close or fsync: stored here, at a moment nobody
 * chose, it would be there after a crash of the daemon that should have
 * found the file as it was at its last close or fsync. */
int
handle_commit_release(struct handle *h)
{
	struct handle_set *s = h->fs->handles;
	struct filebuf *b = handle_wbuf(h);
	int last;

	if (b == NULL)
		return 0;
	pthread_mutex_lock(&s->lock);
	last = b->refs == 1;
	pthread_mutex_unlock(&s->lock);
	return atomic_load(&h->changed) || last ? handle_commit(h) : 0;
}

/* 1 if nodeid has an open handle, else 0. */
int
handle_is_open(struct fs *fs, uint64_t nodeid)
{
	struct handle_set *s = fs->handles;
	struct handle *h;

	pthread_mutex_lock(&s->lock);
	for (h = *handle_bucket(s, nodeid); h != NULL; h = h->next)
		if (h->nodeid == nodeid)
			break;
	pthread_mutex_unlock(&s->lock);
	return h != NULL;
}

/* 1 if a handle of nodeid reads from the store: it has no buffer, or one
 * that holds nothing yet, and is not pinned.  s->lock held. */
static int
handle_reads_store(struct handle_set *s, uint64_t nodeid)
{
	struct filebuf *b;
	struct handle *h;

	for (h = *handle_bucket(s, nodeid); h != NULL; h = h->next)
		if (h->nodeid == nodeid && !atomic_load(&h->pinned) &&
		    ((b = atomic_load(&h->buf)) == NULL ||
		        !atomic_load(&b->loaded)))
			return 1;
	return 0;
}

/* nodeid is about to lose its name (unlink, or a rename onto it).  Copy
 * its value into its buffer and give that to every open handle of it, so
 * that their reads and writes go on as on any file system until they are
 * closed (what they write is then dropped).  Call without fs->wlock: a
 * commit holds the buffer's lock while it waits for that.  Returns 0, or
 * an error of the copy. */
int
handle_keep(struct fs *fs, uint64_t nodeid)
{
	struct handle_set *s = fs->handles;
	struct filebuf *spare, *b;
	struct handle *h;
	int rc = 0, reads;

	pthread_mutex_lock(&s->lock);
	reads = handle_reads_store(s, nodeid);
	pthread_mutex_unlock(&s->lock);
	if (!reads)
		return 0;
	if ((spare = filebuf_create(fs, nodeid)) == NULL)
		return -ENOMEM;
	pthread_mutex_lock(&s->lock);
	b = filebuf_attach(s, nodeid, &spare);
	pthread_mutex_unlock(&s->lock);
	filebuf_free(spare);
	pthread_mutex_lock(&b->lock);
	if (!atomic_load(&b->loaded))
		rc = filebuf_load(b);
	pthread_mutex_unlock(&b->lock);
	if (rc == 0) {
		pthread_mutex_lock(&s->lock);
		for (h = *handle_bucket(s, nodeid); h != NULL; h = h->next)
			if (h->nodeid == nodeid && !atomic_load(&h->pinned) &&
			    atomic_load(&h->buf) == NULL) {
				b->refs++;
				atomic_store(&h->buf, b);
			}
		pthread_mutex_unlock(&s->lock);
	}
	filebuf_detach(s, b);
	return rc;
}

/* 1 if a handle of nodeid still reads from the store (one opened after
 * handle_keep()); takes no buffer's lock. */
int
handle_unkept(struct fs *fs, uint64_t nodeid)
{
	struct handle_set *s = fs->handles;
	int reads;

	pthread_mutex_lock(&s->lock);
	reads = handle_reads_store(s, nodeid);
	pthread_mutex_unlock(&s->lock);
	return reads;
}

/* The node in (a file) is about to lose its name (unlink, or a rename onto
 * it; the caller holds fs->wlock).  Remember where its value lies in the
 * store file: an open of it that the kernel started before can still read
 * it there (the bytes stay until a prune), as on a file system whose file
 * lives on while it is open. */
void
handle_orphan(struct fs *fs, const struct inode_info *in)
{
	struct handle_set *s = fs->handles;
	struct handle_orphan o = {in->nodeid, in->gen, 0, {0, 0, 0, 0}};
	unsigned char *key;
	size_t klen;

	if (inode_key(fs->tree, in->nodeid, &key, &klen) == 0) {
		o.stored = blt_find(fs->db, key, klen, &o.e) == 0;
		free(key);
	}
	pthread_mutex_lock(&s->lock);
	s->orphan[s->norphans++ % HANDLE_ORPHANS] = o;
	pthread_mutex_unlock(&s->lock);
}

/* h, opened for reading, is of a file removed since the kernel looked it
 * up: read the value it had, where handle_orphan() saw it.  -ESTALE if
 * that is not known.  Records of an earlier node at h's nodeid (freed,
 * its address reused) are another file's: the generation tells them
 * apart. */
int
handle_pin(struct handle *h)
{
	struct handle_set *s = h->fs->handles;
	struct inode_info in;
	int rc = -ESTALE;

	if (h->writable)
		return rc;
	/* filled for a node without a name too; h keeps the node alive */
	(void)inode_stat(h->fs->tree, h->nodeid, &in);
	pthread_mutex_lock(&s->lock);
	if (atomic_load(&h->pinned))
		rc = 0;
	for (unsigned i = 0; rc != 0 && i < HANDLE_ORPHANS && i < s->norphans;
	     i++) {
		const struct handle_orphan *o =
		    &s->orphan[(s->norphans - 1 - i) % HANDLE_ORPHANS];

		if (o->nodeid == h->nodeid && o->gen == in.gen) {
			if (o->stored) {
				h->pin = o->e;
				atomic_store(&h->pinned, 1);
				rc = 0;
			}
			break; /* the newest record of the node speaks */
		}
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* The buffer of nodeid if it holds unstored changes; s->lock held. */
static struct filebuf *
handle_dirty_buf(struct handle_set *s, uint64_t nodeid)
{
	struct filebuf *b = filebuf_find(s, nodeid);

	return b != NULL && atomic_load(&b->dirty) ? b : NULL;
}

/* If nodeid holds unstored changes, give the size and timestamp the file
 * will have and return 1; else 0.  Takes no buffer's lock, so it may be
 * called under the directory index's lock. */
int
handle_find(struct fs *fs, uint64_t nodeid, uint64_t *size, int64_t *ts)
{
	struct handle_set *s = fs->handles;
	struct filebuf *b;

	if (atomic_load(&s->nbufs) == 0)
		return 0;
	pthread_mutex_lock(&s->lock);
	if ((b = handle_dirty_buf(s, nodeid)) != NULL) {
		*size = atomic_load(&b->size);
		*ts = atomic_load(&b->ts);
	}
	pthread_mutex_unlock(&s->lock);
	return b != NULL;
}

/* Give the pending changes of nodeid the timestamp ts (utimensat on a file
 * being written, as cp -p does before it closes).  Returns 1 if there
 * were some, else 0. */
int
handle_set_time(struct fs *fs, uint64_t nodeid, int64_t ts)
{
	struct handle_set *s = fs->handles;
	struct filebuf *b;

	if (atomic_load(&s->nbufs) == 0)
		return 0;
	pthread_mutex_lock(&s->lock);
	if ((b = handle_dirty_buf(s, nodeid)) != NULL)
		atomic_store(&b->ts, ts);
	pthread_mutex_unlock(&s->lock);
	return b != NULL;
}

/* At shutdown: commit and free every handle the kernel did not release.
 * Returns the first error. */
int
handle_commit_all(struct fs *fs)
{
	struct handle_set *s = fs->handles;
	struct handle *h;
	int rc, first = 0;
	size_t i;

	for (i = 0; i < HANDLE_BUCKETS; i++)
		while ((h = s->bucket[i]) != NULL) {
			if ((rc = handle_commit(h)) < 0 && first == 0)
				first = rc;
			handle_free(h);
		}
	return first;
}
