/*
 * Open files: a handle per open of a file.
 *
 * A file opened for reading reads straight from the store, unless its
 * writers changed it: then from what they wrote, which is what the
 * kernel's page cache of the file holds (filebuf_lend()).  The handles
 * of a file that may write share one buffer (filebuf.c), in which every
 * write through any of them lands at once.  handle_commit() stores the
 * whole buffer with one blt_put() and flushes, at each close and fsync.
 *
 * Handles and buffers are registered in a set by nodeid, so that stat and
 * utimensat on a file that is being written see and change the pending
 * value, and so that shutdown can commit files the kernel never released.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "handle-int.h"

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
	/* the thread whose write, truncate or open last changed the file
	 * through h, as FUSE names it (0: not known): handle_close_commits() */
	_Atomic pid_t changed_by;
	_Atomic int turned; /* had its turn of the lock: handle_turn() */
	/* opened to read while another process wrote the store: the kernel
	 * reads it past its page cache (op_open()), and its reads give the
	 * version the first gave (node_read()) */
	int direct;
	/* who opened a direct h: the thread (a request's pid), and its
	 * process once a stat by another thread asked (0: not yet; under
	 * the set's lock), whose stats of the file give the version h
	 * reads */
	_Atomic pid_t reader;
	pid_t reader_process;
	struct node_seen seen;
	struct decode_text *dt; /* a decode mount: the text of the value */
	struct handle *next;    /* same bucket of the set */
};

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
	atomic_init(&s->unstored, 0);
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
	free(s->creating);
	free(s->dir);
	free(s);
}

/* The process (thread group) of thread tid, or -1 if it is gone. */
static pid_t
process_of(pid_t tid)
{
	char path[64], line[128];
	FILE *f;
	int tgid = -1;

	snprintf(path, sizeof path, "/proc/%d/status", (int)tid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "Tgid: %d", &tgid) == 1)
			break;
	fclose(f);
	return (pid_t)tgid;
}

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
	h->direct = !h->writable && !fs->decode && ops_others(fs);
	pthread_mutex_init(&h->seen.lock, NULL);
	atomic_init(&h->shared, 0);
	atomic_init(&h->pinned, 0);
	atomic_init(&h->changed, fresh);
	if (fs->decode && (h->dt = decode_text_new()) == NULL) {
		free(h);
		return -ENOMEM;
	}
	if (h->writable && (spare = filebuf_create(fs, nodeid)) == NULL) {
		decode_text_free(h->dt);
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
	if (h->direct)
		atomic_fetch_add(&s->ndirect, 1);
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
	if (h->direct)
		atomic_fetch_sub(&s->ndirect, 1);
	pthread_mutex_unlock(&s->lock);
	if ((b = atomic_load(&h->buf)) != NULL)
		lost = filebuf_detach(s, b);
	decode_text_free(h->dt);
	node_seen_free(&h->seen);
	pthread_mutex_destroy(&h->seen.lock);
	free(h);
	return lost;
}

/* Whether the kernel reads h past its page cache: opened to read while
 * another process wrote the store (op_open()). */
int
handle_direct(const struct handle *h)
{
	return h->direct;
}

int
handle_opened_by(struct handle *h, pid_t tid)
{
	int rc;

	if (!h->direct)
		return 0;
	atomic_store(&h->reader, tid);
	/* the version it opens, which a stat gives it, and its reads, also
	 * once another process deleted the key (rsync stopped with "fstat
	 * failed" when the pipeline it copied deleted a key it had just
	 * opened); a lookup that fails otherwise leaves it to the first
	 * read.  The loop serves a read-only open from memory, without
	 * holding the store (request_store_use()): the lookup holds it,
	 * without the lock, as a read does */
	if (h->fs->follow == NULL || blt_hold_peek(h->fs->db) != 0)
		return 0;
	rc = node_seen_begin(h->fs, h->nodeid, &h->seen);
	blt_unhold(h->fs->db);
	/* deleted by another process since the kernel looked the name up
	 * (rsync's open then failed after its listing, as it does on any
	 * file system, where its fstat failed after the open): no such
	 * file, unless it is one being written through the mount, which
	 * has no key yet */
	return rc == -ENOENT && !handle_pending(h->fs, h->nodeid) ? -ENOENT : 0;
}

/* The direct handle of nodeid that thread tid opened last (process < 0),
 * or tid's process (a /proc read of each opener, once), or NULL; with
 * *any 1 if nodeid has a direct handle at all.  s->lock held. */
static struct handle *
handle_of_reader(
    struct handle_set *s, uint64_t nodeid, pid_t tid, pid_t process, int *any)
{
	struct handle *h;

	*any = 0;
	for (h = *handle_bucket(s, nodeid); h != NULL; h = h->next) {
		if (h->nodeid != nodeid || !h->direct)
			continue;
		*any = 1;
		if (process >= 0 && h->reader_process == 0)
			h->reader_process = process_of(atomic_load(&h->reader));
		if (process < 0 ? atomic_load(&h->reader) == tid
		                : h->reader_process == process)
			return h;
	}
	return NULL;
}

/* handle_told_size() once its handle is found: h's version's size into
 * *size, keeping e (found while s->lock was let go) if h kept none yet;
 * 1 if h keeps one now.  s->lock held. */
static int
handle_tell(
    struct handle *h, const struct blt_entry *e, uint64_t *size, int64_t *ts)
{
	int told;

	pthread_mutex_lock(&h->seen.lock);
	if (!h->seen.set && e != NULL) {
		h->seen.e = *e;
		h->seen.set = 1;
	}
	if ((told = h->seen.set) != 0) {
		h->seen.told = 1;
		*size = h->seen.e.value_len;
		*ts = h->seen.e.timestamp;
	}
	pthread_mutex_unlock(&h->seen.lock);
	return told;
}

int
handle_told_size(
    struct fs *fs, uint64_t nodeid, pid_t tid, uint64_t *size, int64_t *ts)
{
	struct handle_set *s = fs->handles;
	struct handle *h = NULL;
	struct blt_entry e;
	pid_t process = -1;
	int any, told = 0, rc;

	if (atomic_load(&s->ndirect) == 0 || tid == 0)
		return 0;
	/* tid's own handle, else one of its process's */
	for (int pass = 0; pass < 2 && h == NULL; pass++) {
		if (pass == 1 && (process = process_of(tid)) < 0)
			return 0;
		pthread_mutex_lock(&s->lock);
		if ((h = handle_of_reader(s, nodeid, tid, process, &any)) !=
		    NULL)
			told = handle_tell(h, NULL, size, ts);
		pthread_mutex_unlock(&s->lock);
		if (!any)
			return 0;
	}
	if (h == NULL || told)
		return told;
	/* none kept yet: the value's version now, found without the set's
	 * lock (a read by key may wait for a rename, which takes it) */
	if ((rc = node_find(fs, nodeid, blt_peeking(fs->db), &e)) < 0)
		return rc == -ENOENT || rc == -ESTALE ? 0 : rc;
	pthread_mutex_lock(&s->lock);
	if ((h = handle_of_reader(s, nodeid, tid, process, &any)) != NULL)
		told = handle_tell(h, &e, size, ts);
	pthread_mutex_unlock(&s->lock);
	return told;
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
	/* a file opened while another process writes the store reads the
	 * version it began, never a writer's buffer before or after it */
	if (b == NULL && !h->direct)
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
	if (loaded)
		return r;
	if (h->fs->decode)
		return decode_read(h->fs, h->nodeid, &h->dt, buf, n, off);
	return node_read(
	    h->fs, h->nodeid, h->direct ? &h->seen : NULL, buf, n, off);
}

/* Where h's value lies in the store, so that a read can be spliced from
 * the store file: 0 with *e filled, 1 if h reads from its file's buffer
 * or its own version (handle_read() then), -ENOENT for a file not stored yet
 * (empty), or another negative errno. */
int
handle_locate(struct handle *h, struct blt_entry *e)
{
	struct filebuf *b = atomic_load(&h->buf);
	int rc;

	if (atomic_load(&h->pinned)) {
		*e = h->pin;
		return 0;
	}
	/* a file opened while another process writes the store reads the
	 * version it began (node_read()), which the store's lock, taken
	 * since, does not make the key's value now */
	if (h->direct || (b != NULL && atomic_load(&b->loaded)))
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
	if ((rc = node_find(h->fs, h->nodeid, 0, e)) == -ESTALE &&
	    (rc = handle_pin(h)) == 0)
		*e = h->pin;
	return rc;
}

/* Write all n bytes of buf at off of fd, through interruptions. */
int
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

/* Wait, before h's first write, for the store's lock as a change would
 * (fs->turn), though a write only fills the file's buffer: a store that
 * another process holds past the lock timeout is then refused at
 * write(2), which every program checks, and not only at the close, which
 * a shell's redirection never checks.  Later writes go into the buffer
 * without the lock, which a pipeline may take meanwhile; the close waits
 * for it again.  0, or the negative errno to answer. */
int
handle_turn(struct handle *h)
{
	struct filebuf *b = handle_wbuf(h);
	int rc;

	if (b == NULL || atomic_load(&h->turned) || h->fs->turn == NULL)
		return 0;
	if ((rc = h->fs->turn(h->fs)) == 0)
		atomic_store(&h->turned, 1);
	atomic_store(&b->refused, rc < 0);
	return rc;
}

void
handle_refuse(uint64_t fh)
{
	struct handle *h = (struct handle *)(uintptr_t)fh;
	struct filebuf *b = h != NULL ? handle_wbuf(h) : NULL;

	if (b == NULL)
		return;
	atomic_store(&b->refused, 1);
	/* its next write waits for the lock, and lets the file in again */
	atomic_store(&h->turned, 0);
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

/* Store what h's file holds that the store has not, written through any of
 * its handles (see filebuf_commit()).  Returns 1 if the store changed, 2
 * if it did and h was the only handle of its file all along (so the
 * kernel's cached pages, written through h alone, hold the stored value),
 * 0 if there was nothing to do, or a negative errno.  A handle opened to
 * read commits nothing. */
static int
handle_commit_as(struct handle *h, int flush)
{
	struct filebuf *b = handle_wbuf(h);
	int rc;

	if (b == NULL)
		return 0;
	/* cleared first: a change through h during the commit sets it
	 * again */
	atomic_store(&h->changed, 0);
	if ((rc = filebuf_commit(b, flush)) < 0)
		atomic_store(&h->changed, 1);
	else if (rc == 1 && !atomic_load(&h->shared) && !h->fs->decode)
		rc = 2; /* a decode mount's pages hold the text as written,
		         * not always what the stored value decodes to */
	return rc;
}

int
handle_commit(struct handle *h)
{
	return handle_commit_as(h, 0);
}

/* handle_commit() at a close (FUSE flush), which may be that of one of
 * several descriptors of h */
int
handle_flush(struct handle *h)
{
	return handle_commit_as(h, 1);
}

void
handle_changed_by(struct handle *h, pid_t tid)
{
	atomic_store(&h->changed_by, tid);
}

int
handle_close_commits(struct handle *h, pid_t tid)
{
	pid_t by = atomic_load(&h->changed_by), p;

	if (!atomic_load(&h->changed) || by == 0 || tid == 0 || by == tid)
		return 1;
	p = process_of(by);
	return p < 0 || p == process_of(tid);
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
	b = handle_dirty_buf(s, nodeid);
	/* a decode mount's open files read the text as written, which may
	 * not be what the stored value decodes to ({"a":1} for
	 * {"a": 1}): the size is that text's while it is loaded */
	if (b == NULL && fs->decode && (b = filebuf_find(s, nodeid)) != NULL &&
	    !atomic_load(&b->loaded))
		b = NULL;
	if (b != NULL) {
		*size = atomic_load(&b->size);
		*ts = atomic_load(&b->ts);
	}
	pthread_mutex_unlock(&s->lock);
	return b != NULL;
}

int
handle_pending(struct fs *fs, uint64_t nodeid)
{
	struct handle_set *s = fs->handles;
	uint64_t size;
	int64_t ts;
	int made = 0;

	/* a sweep asks this of every name, under fs->wlock, under which
	 * creates are added: the set's lock only while one is under way */
	if (__atomic_load_n(&s->ncreating, __ATOMIC_ACQUIRE) > 0) {
		pthread_mutex_lock(&s->lock);
		for (size_t i = 0; i < s->ncreating && !made; i++)
			made = s->creating[i] == nodeid;
		pthread_mutex_unlock(&s->lock);
	}
	return made || handle_find(fs, nodeid, &size, &ts);
}

/* A sweep (fs/ctl/rescan.c) that met the name a create has just made,
 * before the create's open file was in the set, took it for the name of a
 * key another process deleted, and dropped it: the file's writes were then
 * lost at its close (3 files of 100,000 in a cp -r into a mount that
 * nobody else used).  So the create's name is pending from the moment it
 * is made, under fs->wlock, as the sweep's look is. */
int
handle_creating(struct fs *fs, uint64_t nodeid)
{
	struct handle_set *s = fs->handles;
	uint64_t *v;
	size_t cap;

	pthread_mutex_lock(&s->lock);
	if (s->ncreating == s->creating_cap) {
		cap = s->creating_cap ? 2 * s->creating_cap : 16;
		if ((v = realloc(s->creating, cap * sizeof *v)) == NULL) {
			pthread_mutex_unlock(&s->lock);
			return -ENOMEM;
		}
		s->creating = v;
		s->creating_cap = cap;
	}
	s->creating[s->ncreating] = nodeid;
	__atomic_store_n(&s->ncreating, s->ncreating + 1, __ATOMIC_RELEASE);
	atomic_fetch_add(&s->unstored, 1);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

void
handle_created(struct fs *fs, uint64_t nodeid, struct handle *h)
{
	struct handle_set *s = fs->handles;
	struct filebuf *b = h != NULL ? atomic_load(&h->buf) : NULL;

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->ncreating; i++)
		if (s->creating[i] == nodeid) {
			s->creating[i] = s->creating[s->ncreating - 1];
			__atomic_store_n(
			    &s->ncreating, s->ncreating - 1, __ATOMIC_RELEASE);
			break;
		}
	/* the count passes to the file's buffer, until its first commit */
	if (b == NULL || atomic_exchange(&b->unstored, 1))
		atomic_fetch_sub(&s->unstored, 1);
	pthread_mutex_unlock(&s->lock);
}

uint64_t
handle_unstored(struct fs *fs)
{
	long n = atomic_load(&fs->handles->unstored);

	return n > 0 ? (uint64_t)n : 0;
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
