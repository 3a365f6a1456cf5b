/*
 * The write buffer of a file (struct filebuf), shared by all its handles
 * that may write: a copy of the value taken at the first change (or an
 * empty one when an open created or truncated the file), in memory up to
 * fs->spill bytes, then in an unlinked temporary file beside the store.
 * Every write through any of them lands in it at once, as on any file
 * system, so that processes appending to one log, or a truncate(1) of a
 * file another process is writing, lose nothing.  filebuf_commit() stores
 * the whole buffer with one blt_put() and flushes: other readers of the
 * store see the old value until then, and a value is never half written.
 *
 * Buffers are registered in the handle set by nodeid (handle.c).  A
 * buffer's size, dirty flag and timestamp are atomics: every stat reads
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

#include "handle-int.h"

#define HANDLE_MIN_CAP 65536

/* The buffer of nodeid, if it has one; s->lock held. */
struct filebuf *
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
struct filebuf *
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
struct filebuf *
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
	atomic_init(&b->bad, 0);
	atomic_init(&b->refused, 0);
	atomic_init(&b->unstored, 0);
	atomic_init(&b->ts, BLT_NOW);
	return b;
}

/* Free b, which no handle and no read uses any more; safe on NULL. */
void
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
int
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
		if (atomic_exchange(&b->unstored, 0))
			atomic_fetch_sub(&s->unstored, 1);
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
struct filebuf *
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

/* Give back b, lent by filebuf_lend(); the last use of a buffer gone from
 * the set frees it. */
void
filebuf_return(struct handle_set *s, struct filebuf *b)
{
	int last;

	pthread_mutex_lock(&s->lock);
	last = --b->readers == 0 && b->refs == 0;
	pthread_mutex_unlock(&s->lock);
	if (last)
		filebuf_free(b);
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
int
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

/* Put the len bytes at p into b as its whole content, from offset 0. */
static int
filebuf_set(struct filebuf *b, const void *p, size_t len)
{
	int rc;

	atomic_store(&b->size, 0);
	if ((rc = filebuf_reserve(b, len, 0)) < 0)
		return rc;
	if (b->fd == -1) {
		if (len > 0)
			memcpy(b->mem, p, len);
	} else if (ftruncate(b->fd, (off_t)len) == -1)
		return -errno;
	else if ((rc = handle_pwrite(b->fd, p, len, 0)) < 0)
		return rc;
	atomic_store(&b->size, len);
	return 0;
}

/* A decode mount's filebuf_load(): the buffer holds the value's text. */
static int
filebuf_load_text(struct filebuf *b)
{
	struct blt_value_buf text = {0};
	int rc;

	if ((rc = decode_get(b->fs, b->nodeid, &text)) == 0 &&
	    (rc = filebuf_set(b, text.data, text.len)) == 0)
		atomic_store(&b->loaded, 1);
	blt_value_buf_free(&text);
	return rc;
}

/* Copy the stored value into the buffer before the first change. */
int
filebuf_load(struct filebuf *b)
{
	unsigned char *map, none;
	struct node_read r;
	ssize_t len, got;
	int rc, missing;

	if (b->fs->decode)
		return filebuf_load_text(b);

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

/* b now holds size bytes, changed just now; b->lock held. */
void
filebuf_changed(struct filebuf *b, uint64_t size)
{
	atomic_store(&b->size, size);
	atomic_store(&b->ts, BLT_NOW);
	atomic_store(&b->dirty, 1);
	atomic_store(&b->bad, 0);
}

/* Cut or extend b to size bytes.  -EFBIG. */
int
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

/* What a commit stores of the len bytes at val, which the store's
 * serializer must read back: a decode mount's text, encoded into out, or a
 * raw mount's bytes, as they are (out untouched).  1 to store; 0 if there
 * is nothing to store (the text is what the stored value decodes to: b is
 * clean; or the close of a descriptor while the file is empty, below);
 * -EINVAL for what the serializer cannot hold (logged once, nothing
 * stored, b stays dirty and refused until changed again).  b->lock held. */
static int
filebuf_prepare(struct filebuf *b, const void *val, size_t len, int flush,
    struct blt_value_buf *out)
{
	struct fs *fs = b->fs;
	int rc;

	/* the close of a descriptor the shell dup'ed (exec 5>k), between
	 * the open that emptied the file and its first write: nothing to
	 * say yet; the last close or an fsync stores the value, or refuses */
	if (flush && len == 0 &&
	    (fs->decode ? blt_value_encode(fs->value_ser, "", 0, 0, out)
	                : blt_value_check(fs->value_ser, "", 0)) < 0)
		return 0;
	if (atomic_load(&b->bad))
		return -EINVAL; /* logged when it was found */
	/* its writer was told its write failed: the empty or partial file
	 * is not stored later, when the lock is free (a release) */
	if (atomic_load(&b->refused))
		return -EBUSY;
	if (fs->decode &&
	    (rc = decode_unchanged(fs, b->nodeid, val, len)) != 0) {
		if (rc == 1)
			atomic_store(&b->dirty, 0);
		return rc == 1 ? 0 : rc == -ESTALE ? 0 : rc;
	}
	rc = fs->decode ? decode_encode(fs, b->nodeid, val, len, out)
	                : decode_check_raw(fs, b->nodeid, val, len);
	if (rc == -EINVAL)
		atomic_store(&b->bad, 1);
	return rc < 0 ? rc : 1;
}

/* Store a changed buffer (one put) and flush, so that it survives a crash
 * of the daemon; flush says a close asks (see filebuf_prepare()).  Returns 1 if
 * the store changed, 0 if there was nothing to do, or a negative errno (the
 * buffer stays dirty, so a later flush or release tries again).  A file removed
 * meanwhile loses its writes, as on any file system. */
int
filebuf_commit(struct filebuf *b, int flush)
{
	struct fs *fs = b->fs;
	unsigned char *key = NULL;
	struct blt_value_buf enc = {0};
	struct inode_info in;
	const void *val = "";
	void *map = NULL;
	uint64_t size, tsize;
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
	/* a decode mount's buffer holds text; encoded here, before the
	 * write lock, which the CPU work should not hold */
	tsize = size;
	if ((rc = filebuf_prepare(b, val, size, flush, &enc)) != 1) {
		if (map != NULL)
			munmap(map, tsize);
		pthread_mutex_unlock(&b->lock);
		return rc;
	}
	if (fs->decode) {
		val = enc.data != NULL ? (const void *)enc.data : "";
		size = enc.len;
	}
	/* the key is read under the write lock so that a rename or unlink
	 * cannot slip in between it and the put */
	pthread_mutex_lock(&fs->wlock);
	/* held without the store's lock (a release that could not have it,
	 * fs/daemon/loop.c): nothing may be written */
	if (blt_peeking(fs->db)) {
		rc = -EBUSY;
		goto unlock;
	}
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
	if (atomic_exchange(&b->unstored, 0))
		atomic_fetch_sub(&fs->handles->unstored, 1);
	if (inode_stat(fs->tree, b->nodeid, &in) == 0)
		ops_dir_filled(fs, in.parent);
	rc = 1;
unlock:
	pthread_mutex_unlock(&fs->wlock);
	if (map != NULL)
		munmap(map, tsize);
	pthread_mutex_unlock(&b->lock);
	blt_value_buf_free(&enc);
	free(key);
	return rc;
}
