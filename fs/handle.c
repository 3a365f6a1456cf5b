/*
 * Open files and their write buffers.
 *
 * A file opened for reading reads straight from the store.  A file that is
 * written to gets a private copy of its value on the first change (or an
 * empty one when it was created or opened with O_TRUNC): in memory up to
 * fs->spill bytes, then in an unlinked temporary file beside the store.
 * handle_commit() stores the whole copy with one blt_put() and flushes, so
 * other readers see the old value until the writer closes or fsyncs
 * (close-to-open consistency) and a value is never half written.
 *
 * Every handle is registered in a set by nodeid, so that stat and utimensat
 * on a file that is being written see and change the pending value, and so
 * that shutdown can commit files the kernel never released.  Size, dirty
 * flag and timestamp are atomics: the set is read under the directory
 * index's lock (readdirplus), where taking a handle's lock could wait on a
 * commit.
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

struct handle {
	struct fs *fs;
	uint64_t nodeid;
	pthread_mutex_t lock; /* the buffer; held across a commit */
	int writable;         /* has a buffer: opened for writing, or made empty
	                       * by its open (created, O_TRUNC) even if read-only */
	_Atomic int loaded;   /* the buffer holds the whole value */
	_Atomic int kept;   /* read-only, and given a buffer by handle_keep() */
	_Atomic int refs;   /* the set's, and handle_keep()'s while it works */
	_Atomic int pinned; /* reads the value a removed file had, at pin
	                     * (written before pinned is set) */
	struct blt_entry pin;
	unsigned char *mem;
	size_t cap;
	int fd; /* spill file, or -1 */
	_Atomic uint64_t size;
	_Atomic int dirty;   /* the buffer differs from the store */
	_Atomic int shared;  /* another handle of the node existed meanwhile */
	_Atomic int64_t ts;  /* timestamp of the next commit */
	struct handle *next; /* same bucket of the set */
};

struct handle_set {
	pthread_mutex_t lock;
	atomic_int nwritable; /* stat skips the lock while this is 0 */
	char *dir;            /* where spill files go: the store's directory */
	struct handle *bucket[HANDLE_BUCKETS];
	struct handle_orphan {
		uint64_t nodeid;
		uint32_t gen; /* of the node: a nodeid is an address, reused
		               * once the kernel forgets the node */
		int stored;   /* e holds where its value was */
		struct blt_entry e;
	} orphan[HANDLE_ORPHANS];
	unsigned norphans; /* ever recorded; the ring holds the last ones */
};

static struct handle **
handle_bucket(struct handle_set *s, uint64_t nodeid)
{
	uint64_t h = nodeid * UINT64_C(0x9e3779b97f4a7c15);

	return &s->bucket[h >> 56];
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
	atomic_init(&s->nwritable, 0);
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

/* Open nodeid.  flags are open(2)'s; fresh says the file starts empty and
 * must be stored on close even if nothing is written (create, O_TRUNC).
 * The caller owns *out; see handle_free().  -ENOMEM. */
int
handle_create(
    struct fs *fs, uint64_t nodeid, int flags, int fresh, struct handle **out)
{
	struct handle_set *s = fs->handles;
	struct handle *h, *o, **b;

	if ((h = calloc(1, sizeof *h)) == NULL)
		return -ENOMEM;
	h->fs = fs;
	h->nodeid = nodeid;
	h->fd = -1;
	h->writable =
	    (flags & O_ACCMODE) != O_RDONLY || fresh || (flags & O_TRUNC);
	pthread_mutex_init(&h->lock, NULL);
	atomic_init(&h->size, 0);
	atomic_init(&h->dirty, 0);
	atomic_init(&h->shared, 0);
	atomic_init(&h->ts, BLT_NOW);
	atomic_init(&h->loaded, 0);
	atomic_init(&h->kept, 0);
	atomic_init(&h->refs, 1);
	atomic_init(&h->pinned, 0);
	if (fresh || (flags & O_TRUNC)) {
		h->loaded = 1;
		atomic_store(&h->dirty, 1);
	}
	if (h->writable)
		atomic_fetch_add(&s->nwritable, 1);
	pthread_mutex_lock(&s->lock);
	b = handle_bucket(s, nodeid);
	for (o = *b; o != NULL; o = o->next)
		if (o->nodeid == nodeid) {
			atomic_store(&o->shared, 1);
			atomic_store(&h->shared, 1);
		}
	h->next = *b;
	*b = h;
	pthread_mutex_unlock(&s->lock);
	*out = h;
	return 0;
}

static void
handle_unref(struct handle *h)
{
	if (atomic_fetch_sub(&h->refs, 1) != 1)
		return;
	if (h->fd != -1)
		close(h->fd);
	free(h->mem);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

/* Forget h without storing anything; safe on NULL. */
void
handle_free(struct handle *h)
{
	struct handle_set *s;
	struct handle **p;

	if (h == NULL)
		return;
	s = h->fs->handles;
	pthread_mutex_lock(&s->lock);
	for (p = handle_bucket(s, h->nodeid); *p != NULL; p = &(*p)->next)
		if (*p == h) {
			*p = h->next;
			break;
		}
	pthread_mutex_unlock(&s->lock);
	if (h->writable)
		atomic_fetch_sub(&s->nwritable, 1);
	handle_unref(h);
}

/* An unlinked temporary file in the store's directory, so that a big value
 * needs disk space where the store is, not memory. */
static int
handle_spill_open(struct handle *h)
{
	const char *dir = h->fs->handles->dir;
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
handle_spill(struct handle *h)
{
	int fd, rc;

	if (h->fd != -1)
		return 0;
	if ((fd = handle_spill_open(h)) < 0)
		return fd;
	if ((rc = handle_pwrite(fd, h->mem, atomic_load(&h->size), 0)) < 0) {
		close(fd);
		return rc;
	}
	h->fd = fd;
	free(h->mem);
	h->mem = NULL;
	h->cap = 0;
	return 0;
}

/* Make room for a value of size bytes; the bytes from the current size to
 * zero_end (a hole the caller does not fill) become zeros. */
static int
handle_reserve(struct handle *h, uint64_t size, uint64_t zero_end)
{
	uint64_t cur = atomic_load(&h->size);
	unsigned char *m;
	size_t cap;
	int rc;

	if (size > BLT_VALUE_MAX)
		return -EFBIG;
	if (h->fd == -1 && size > h->fs->spill && (rc = handle_spill(h)) < 0)
		return rc;
	if (h->fd != -1)
		return 0; /* pwrite and ftruncate fill holes with zeros */
	if (size > h->cap) {
		cap = h->cap ? h->cap : HANDLE_MIN_CAP;
		while (cap < size)
			cap *= 2;
		if (cap > h->fs->spill)
			cap = h->fs->spill;
		if ((m = realloc(h->mem, cap)) == NULL)
			return -ENOMEM;
		h->mem = m;
		h->cap = cap;
	}
	if (zero_end > cur)
		memset(h->mem + cur, 0, zero_end - cur);
	return 0;
}

/* The key the file has now: it may have been renamed since it was opened.
 * -ESTALE once it is removed. */
static int
handle_key(struct handle *h, unsigned char **key, size_t *klen)
{
	return inode_key(h->fs->tree, h->nodeid, key, klen);
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

/* Copy the stored value into the buffer before the first change. */
static int
handle_load(struct handle *h)
{
	unsigned char *map, none;
	struct node_read r;
	ssize_t len, got;
	int rc, missing;

	/* a commit through another handle may change the value between the
	 * two calls: then the length differs and we read again */
	for (;;) {
		if ((rc = node_key(h->fs, h->nodeid, &r)) < 0)
			return rc;
		len = blt_get(h->fs->db, r.key, r.klen, &none, 0, NULL);
		if ((missing = len == -ENOENT))
			len = 0; /* created, not yet stored */
		if (len < 0) {
			rc = (int)len;
			fs_log("%s", blt_errmsg());
			break;
		}
		atomic_store(&h->size, 0);
		if ((rc = handle_reserve(h, (uint64_t)len, 0)) < 0)
			break;
		if (len == 0) {
			got = 0;
		} else if (h->fd == -1) {
			got = blt_get(h->fs->db, r.key, r.klen, h->mem,
			    (size_t)len, NULL);
		} else {
			if (ftruncate(h->fd, len) == -1) {
				rc = -errno;
				break;
			}
			map = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE,
			    MAP_SHARED, h->fd, 0);
			if (map == MAP_FAILED) {
				rc = -errno;
				break;
			}
			got = blt_get(
			    h->fs->db, r.key, r.klen, map, (size_t)len, NULL);
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
		        h->fs, h->nodeid, &r, missing ? -ENOENT : 0))
			continue; /* renamed or removed meanwhile: again */
		if (got == len) {
			atomic_store(&h->size, (uint64_t)len);
			h->loaded = 1;
			return 0;
		}
	}
	free(r.key);
	return rc;
}

/* Read up to n bytes at off: from the buffer of a file being written, from
 * the store otherwise.  Returns the byte count (0 at the end). */
ssize_t
handle_read(struct handle *h, void *buf, size_t n, uint64_t off)
{
	struct node_read nr;
	uint64_t size;
	ssize_t r;
	int rc;

	/* a pinned value is read where it lies, by splice, or not at all */
	if (h->pinned)
		return -ESTALE;
	if (h->writable || h->kept) {
		pthread_mutex_lock(&h->lock);
		if (h->loaded) {
			size = atomic_load(&h->size);
			n = off >= size ? 0 : size - off < n ? size - off : n;
			if (n == 0)
				r = 0;
			else if (h->fd == -1) {
				memcpy(buf, h->mem + off, n);
				r = (ssize_t)n;
			} else if ((r = pread(h->fd, buf, n, (off_t)off)) == -1)
				r = -errno;
			pthread_mutex_unlock(&h->lock);
			return r;
		}
		pthread_mutex_unlock(&h->lock);
	}
	do {
		if ((rc = node_key(h->fs, h->nodeid, &nr)) < 0)
			return rc;
		r = blt_read(h->fs->db, nr.key, nr.klen, off, buf, n);
	} while (node_read_again(h->fs, h->nodeid, &nr, (int)r));
	if (r == -ENOENT)
		return 0; /* created elsewhere and not yet stored: empty */
	return r;
}

/* Where h's value lies in the store, so that a read can be spliced from
 * the store file: 0 with *e filled, 1 if h reads from its own buffer
 * (handle_read() then), -ENOENT for a file not stored yet (empty), or
 * another negative errno. */
int
handle_locate(struct handle *h, struct blt_entry *e)
{
	int rc;

	if (h->pinned) {
		*e = h->pin;
		return 0;
	}
	if ((h->writable || h->kept) && h->loaded)
		return 1;
	if ((rc = node_find(h->fs, h->nodeid, e)) == -ESTALE) {
		/* removed after the open passed its check: the removal noted
		 * where the value was before */
		pthread_mutex_lock(&h->lock);
		rc = h->pinned ? 0 : handle_pin(h);
		pthread_mutex_unlock(&h->lock);
		if (rc == 0)
			*e = h->pin;
	}
	return rc;
}

/* The buffer of h now holds size bytes, changed just now; h->lock held. */
static void
handle_changed(struct handle *h, uint64_t size)
{
	atomic_store(&h->size, size);
	atomic_store(&h->ts, BLT_NOW);
	atomic_store(&h->dirty, 1);
}

/* Write n bytes at off into the buffer.  -EFBIG past the format's limit,
 * -ENOMEM, -ENOSPC or another errno of the spill file. */
int
handle_write(struct handle *h, const void *buf, size_t n, uint64_t off)
{
	uint64_t end = off + n;
	int rc = 0;

	if (off > BLT_VALUE_MAX || n > BLT_VALUE_MAX - off)
		return -EFBIG;
	pthread_mutex_lock(&h->lock);
	if (!h->loaded && (rc = handle_load(h)) < 0)
		goto out;
	if (end > atomic_load(&h->size) &&
	    (rc = handle_reserve(h, end, off)) < 0)
		goto out;
	if (h->fd == -1)
		memcpy(h->mem + off, buf, n);
	else if ((rc = handle_pwrite(h->fd, buf, n, off)) < 0)
		goto out;
	if (end < atomic_load(&h->size))
		end = atomic_load(&h->size); /* a write inside keeps the size */
	handle_changed(h, end);
out:
	pthread_mutex_unlock(&h->lock);
	return rc;
}

/* Cut or extend the buffer to size bytes (ftruncate, O_TRUNC).  -EFBIG. */
int
handle_truncate(struct handle *h, uint64_t size)
{
	int rc = 0;

	if (size > BLT_VALUE_MAX)
		return -EFBIG;
	pthread_mutex_lock(&h->lock);
	if (!h->loaded) {
		if (size == 0) {
			h->loaded = 1;
			atomic_store(&h->size, 0);
		} else if ((rc = handle_load(h)) < 0)
			goto out;
	}
	if ((rc = handle_reserve(h, size, size)) < 0)
		goto out;
	if (h->fd != -1 && ftruncate(h->fd, (off_t)size) == -1) {
		rc = -errno;
		goto out;
	}
	handle_changed(h, size);
out:
	pthread_mutex_unlock(&h->lock);
	return rc;
}

/* A value of this many bytes or more is stored in steps (blt_put_begin()),
 * and fs->wlock is let go while it is written: a gigabyte being stored
 * then holds up no other file's creation, commit or rename. */
#define HANDLE_PUT_APART (1u << 20)

/* Store h's value of size bytes under *key in steps, fs->wlock let go
 * while the value is written.  If the file was renamed meanwhile, *key
 * becomes its new key and 0 says that the value is still to be put; 1
 * says that it is stored; -ESTALE that the file was removed meanwhile.
 * fs->wlock and h->lock are held. */
static int
handle_put_apart(struct handle *h, const void *val, uint64_t size, int64_t ts,
    unsigned char **key, size_t *klen)
{
	struct fs *fs = h->fs;
	struct blt_put_op *op;
	unsigned char *now;
	size_t nlen;
	int rc;

	if ((rc = blt_put_begin(fs->db, *key, *klen, size, ts, &op)) < 0) {
		fs_log("%s", blt_errmsg());
		return rc;
	}
	pthread_mutex_unlock(&fs->wlock);
	(void)blt_put_fill(op, val);
	pthread_mutex_lock(&fs->wlock);
	if ((rc = handle_key(h, &now, &nlen)) < 0) {
		blt_put_cancel(op);
		return rc;
	}
	if (nlen == *klen && memcmp(now, *key, nlen) == 0) {
		free(now);
		if ((rc = blt_put_end(op)) < 0) {
			fs_log("%s", blt_errmsg());
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

/* Store the value of a changed file (one put) and flush, so that it
 * survives a crash of the daemon.  Returns 1 if the store changed, 2 if it
 * did and h was the only handle of its file all along (so the kernel's
 * cached pages, written through h alone, hold the stored value), 0 if
 * there was nothing to do, or a negative errno (the buffer stays dirty, so
 * a later flush or release tries again).  A file removed meanwhile loses
 * its writes, as on any file system. */
int
handle_commit(struct handle *h)
{
	struct fs *fs = h->fs;
	unsigned char *key = NULL;
	const void *val = "";
	void *map = NULL;
	uint64_t size;
	int64_t ts;
	size_t klen;
	int rc;

	pthread_mutex_lock(&h->lock);
	if (!atomic_load(&h->dirty)) {
		pthread_mutex_unlock(&h->lock);
		return 0;
	}
	size = atomic_load(&h->size);
	if (h->fd != -1 && size > 0) {
		map = mmap(NULL, size, PROT_READ, MAP_SHARED, h->fd, 0);
		if (map == MAP_FAILED) {
			rc = -errno;
			fs_log("committing a spilled file: %s", strerror(-rc));
			pthread_mutex_unlock(&h->lock);
			return rc;
		}
		val = map;
	} else if (size > 0)
		val = h->mem;
	/* the key is read under the write lock so that a rename or unlink
	 * cannot slip in between it and the put */
	pthread_mutex_lock(&fs->wlock);
	/* the time is taken here, so that the index can keep it (stat and
	 * readdirplus then need no lookup in the store) */
	ts = fs->timestamps ? atomic_load(&h->ts) : BLT_NOW;
	if (ts == BLT_NOW && fs->timestamps)
		ts = blt_now();
	if ((rc = handle_key(h, &key, &klen)) == 0 && size >= HANDLE_PUT_APART)
		rc = handle_put_apart(h, val, size, ts, &key, &klen);
	if (rc == -ESTALE) {
		atomic_store(&h->dirty, 0);
		rc = 0;
		goto unlock;
	}
	if (rc < 0)
		goto unlock;
	if ((rc == 0 && (rc = blt_put(fs->db, key, klen, val, size, ts)) < 0) ||
	    (rc = blt_flush(fs->db)) < 0) {
		/* the put is only buffered until the flush: a full disk
		 * fails it there, and the index keeps the old size */
		fs_log("%s", blt_errmsg());
		goto unlock;
	}
	/* before dirty is cleared: stat goes by one or the other */
	inode_set_attr(
	    fs->tree, h->nodeid, size, fs->timestamps ? ts : BLT_NO_TS);
	atomic_store(&h->dirty, 0);
	rc = atomic_load(&h->shared) ? 1 : 2;
unlock:
	pthread_mutex_unlock(&fs->wlock);
	if (map != NULL)
		munmap(map, size);
	pthread_mutex_unlock(&h->lock);
	free(key);
	return rc;
}

/* Handles of nodeid that read from the store, with a reference each; at
 * most cap.  Returns how many. */
static size_t
handle_unloaded(struct fs *fs, uint64_t nodeid, struct handle **v, size_t cap)
{
	struct handle_set *s = fs->handles;
	struct handle *h;
	size_t n = 0;

	pthread_mutex_lock(&s->lock);
	for (h = *handle_bucket(s, nodeid); h != NULL && n < cap; h = h->next)
		if (h->nodeid == nodeid && !h->loaded) {
			atomic_fetch_add(&h->refs, 1);
			v[n++] = h;
		}
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* nodeid is about to lose its name (unlink, or a rename onto it).  Give
 * every open handle of it that still reads from the store a copy of the
 * value, so that its reads and writes go on as on any file system until
 * it is closed (what it writes is then dropped).  Call without fs->wlock:
 * a commit holds its handle's lock while it waits for that.  Returns 0 or
 * the first error. */
int
handle_keep(struct fs *fs, uint64_t nodeid)
{
	struct handle *v[16];
	size_t n;
	int first = 0;

	while (first == 0 &&
	       (n = handle_unloaded(fs, nodeid, v, sizeof v / sizeof v[0])) > 0)
		for (size_t i = 0; i < n; i++) {
			int rc = 0;

			pthread_mutex_lock(&v[i]->lock);
			if (!v[i]->loaded)
				rc = handle_load(v[i]);
			if (rc == 0 && !v[i]->writable)
				v[i]->kept = 1;
			else if (rc < 0 && first == 0)
				first = rc;
			pthread_mutex_unlock(&v[i]->lock);
			handle_unref(v[i]);
		}
	return first;
}

/* 1 if a handle of nodeid still reads from the store (one opened after
 * handle_keep()); takes no handle's lock. */
int
handle_unkept(struct fs *fs, uint64_t nodeid)
{
	struct handle *h;

	if (handle_unloaded(fs, nodeid, &h, 1) == 0)
		return 0;
	handle_unref(h);
	return 1;
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
	for (unsigned i = 0; i < HANDLE_ORPHANS && i < s->norphans; i++) {
		const struct handle_orphan *o =
		    &s->orphan[(s->norphans - 1 - i) % HANDLE_ORPHANS];

		if (o->nodeid == h->nodeid && o->gen == in.gen) {
			if (o->stored) {
				h->pin = o->e;
				h->pinned = 1;
				rc = 0;
			}
			break; /* the newest record of the node speaks */
		}
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* If a handle of nodeid holds unstored changes, give the size and
 * timestamp the file will have and return 1; else 0.  Takes no handle's
 * lock, so it may be called under the directory index's lock. */
int
handle_find(struct fs *fs, uint64_t nodeid, uint64_t *size, int64_t *ts)
{
	struct handle_set *s = fs->handles;
	struct handle *h;
	int found = 0;

	if (atomic_load(&s->nwritable) == 0)
		return 0;
	pthread_mutex_lock(&s->lock);
	for (h = *handle_bucket(s, nodeid); h != NULL; h = h->next)
		if (h->nodeid == nodeid && atomic_load(&h->dirty)) {
			*size = atomic_load(&h->size);
			*ts = atomic_load(&h->ts);
			found = 1;
			break;
		}
	pthread_mutex_unlock(&s->lock);
	return found;
}

/* Give the pending changes of nodeid the timestamp ts (utimensat on a file
 * being written, as cp -p does before it closes).  Returns the number of
 * handles changed. */
int
handle_set_time(struct fs *fs, uint64_t nodeid, int64_t ts)
{
	struct handle_set *s = fs->handles;
	struct handle *h;
	int n = 0;

	if (atomic_load(&s->nwritable) == 0)
		return 0;
	pthread_mutex_lock(&s->lock);
	for (h = *handle_bucket(s, nodeid); h != NULL; h = h->next)
		if (h->nodeid == nodeid && atomic_load(&h->dirty)) {
			atomic_store(&h->ts, ts);
			n++;
		}
	pthread_mutex_unlock(&s->lock);
	return n;
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
