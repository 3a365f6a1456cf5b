/*
 * The FUSE operations on open files: open, create, read, write, flush,
 * release and fsync, over the open files of handle.c.  Reads are spliced
 * from the store file where they can be (ops_read_splice()).  The rules
 * every operation keeps (fs->wlock, a flush before the reply) are in ops.c.
 *
 * The kernel keeps file contents cached across opens (keep_cache); a commit
 * that changed a value invalidates the file's cached pages before close or
 * fsync returns.  A file opened to read while another process writes the
 * store is read past that cache (ops_direct()).  A read-only mount opens
 * files without a handle (op_open()).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ops-int.h"

/* Drop the kernel's cached pages and attributes of a changed file (only
 * the attributes with pages 0). */
static void
ops_inval(struct fs *fs, uint64_t nodeid, int pages)
{
	int rc;

	rc =
	    fuse_lowlevel_notify_inval_inode(fs->se, nodeid, pages ? 0 : -1, 0);
	if (rc < 0 && rc != -ENOENT)
		fs_log("invalidating node %llu: %s", (unsigned long long)nodeid,
		    strerror(-rc));
}

/* The store file for reads by splice (ops_read_splice()), with *gen set
 * to its generation; -1 if there is none (reads are copied then).  The
 * engine gives the two together: an entry of one generation read from the
 * file of another would give another key's bytes. */
int
ops_rfd_open(struct fs *fs, uint64_t *gen)
{
	int fd = blt_dup_fd(fs->db, gen);

	if (fd < 0) {
		fs_log("%s (reads are copied instead)", blt_errmsg());
		return -1;
	}
	return fd;
}

/* How the kernel reads a file opened for reading: through its page cache,
 * which it keeps across opens (a commit that changes the value drops it,
 * ops_inval()); or, for a file opened while another process writes the
 * store (ops_others()), past it (direct).  The kernel cuts a cached read
 * at the size it holds and keeps the pages it read, while that process
 * may change the value at any moment; a direct read takes the bytes the
 * mount gives, one whole version of the value (node_read()). */
static void
ops_direct(struct fuse_file_info *fi, int direct)
{
	fi->direct_io = direct;
	fi->keep_cache = !direct;
}

void
op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = ops_fs(req);
	struct inode_info in;
	struct handle *h;
	int rc;

	if (fs->ro && (fi->flags & (O_ACCMODE | O_TRUNC)) != O_RDONLY) {
		fuse_reply_err(req, EROFS);
		return;
	}
	/* a decode mount of values that cannot be encoded from text: its
	 * files are shown 0444 (ops_stat()) */
	if (decode_readonly(fs) &&
	    (fi->flags & (O_ACCMODE | O_TRUNC)) != O_RDONLY) {
		fuse_reply_err(req, EACCES);
		return;
	}
	/* A read-only mount needs no open files: nothing is written
	 * through it.  Reads come without a handle (op_read()), through the
	 * kernel's page cache; but a file opened while another process
	 * writes the store is read past it, and keeps the version it read
	 * (ops_direct()).  A decode mount opens files anyway: an open file
	 * keeps the text it decoded for its reads. */
	if (fs->ro && !fs->decode && !ops_others(fs)) {
		fi->fh = 0;
		ops_direct(fi, 0);
		fi->noflush = 1;
		fuse_reply_open(req, fi);
		return;
	}
	if ((rc = handle_create(fs, ino, fi->flags, 0, &h)) < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	/* The name the kernel looked up was replaced or removed before this
	 * open came.  A reader reads the value the file had, where it still
	 * lies (handle_pin()); otherwise ESTALE has the kernel look the path
	 * up again, and open what the name is now.  Checked once h is in the
	 * set, so that a removal from now on gives h a copy of the value
	 * (handle_keep()); one already under way when h joined the set is
	 * found by h's first read (handle_locate()). */
	if (inode_stat(fs->tree, ino, &in) == -ESTALE && handle_pin(h) < 0) {
		handle_free(h);
		fuse_reply_err(req, ESTALE);
		return;
	}
	if ((rc = handle_opened_by(h, fuse_req_ctx(req)->pid)) < 0) {
		handle_free(h);
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uintptr_t)h;
	handle_changed_by(h, fuse_req_ctx(req)->pid); /* if O_TRUNC */
	ops_direct(fi, handle_direct(h));
	/* closing a file opened for reading commits nothing: spare the
	 * kernel a round trip on every close */
	fi->noflush = (fi->flags & (O_ACCMODE | O_TRUNC)) == O_RDONLY;
	if (fuse_reply_open(req, fi) != 0)
		handle_free(h);
}

void
op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
    struct fuse_file_info *fi)
{
	struct fs *fs = ops_fs(req);
	struct fuse_entry_param e;
	struct inode_stale s;
	struct inode_info in;
	struct handle *h = NULL;
	int existed, rc;

	rc = ops_new_node(fs, fuse_req_ctx(req), parent, name, INODE_FILE, mode,
	    (fi->flags & O_EXCL) != 0, &existed, &in, &s);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	/* held without the lock (request_store_use()); but an open that
	 * empties a stored value waits for it, as op_open() does, so that
	 * a store held past the lock timeout leaves the value whole */
	if (existed && (fi->flags & O_TRUNC) && fs->turn != NULL &&
	    (rc = fs->turn(fs)) < 0) {
		inode_forget(fs->tree, in.nodeid, 1);
		fuse_reply_err(req, -rc);
		return;
	}
	rc = handle_create(fs, in.nodeid, fi->flags, !existed, &h);
	if (!existed) /* made pending by ops_new_node() */
		handle_created(fs, in.nodeid, rc == 0 ? h : NULL);
	if (rc < 0 || (rc = ops_entry(fs, &in, &e)) < 0) {
		handle_free(h); /* NULL if not made */
		inode_forget(fs->tree, in.nodeid, 1);
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uintptr_t)h;
	handle_changed_by(h, fuse_req_ctx(req)->pid);
	fi->keep_cache = 1;
	if (fuse_reply_create(req, &e, fi) != 0) {
		handle_free(h);
		inode_forget(fs->tree, in.nodeid, 1);
		return;
	}
	ops_stale(fs, &s, parent, name);
}

/* Open the store file for spliced reads again, unless another thread did
 * since rfd's generation was seen: after a prune, the file that took its
 * place.  The old one is let go of, or it would keep its space, once the
 * lock is released: its last close frees its pages (0.3 s for the 1.7 GB
 * of 10 million keys on tmpfs), and reads must not wait for that. */
static void
ops_open_rfd(struct fs *fs, uint64_t seen)
{
	uint64_t gen;
	int fd, old = -1;

	pthread_rwlock_wrlock(&fs->rlock);
	if (fs->rfd >= 0 && fs->rgen == seen) {
		fd = ops_rfd_open(fs, &gen);
		old = fs->rfd;
		fs->rfd = fd;
		fs->rgen = gen;
	}
	pthread_rwlock_unlock(&fs->rlock);
	if (old >= 0)
		close(old);
}

void
ops_rfd_renew(struct fs *fs)
{
	uint64_t seen;

	pthread_rwlock_rdlock(&fs->rlock);
	seen = fs->rgen;
	pthread_rwlock_unlock(&fs->rlock);
	if (seen != blt_generation(fs->db))
		ops_open_rfd(fs, seen);
}

/* Reply to a read with bytes of the store file itself: libfuse splices
 * them from the page cache into the reply, with no copy through this
 * process.  Only while the file rfd opened is the store's (a prune puts a
 * new file in its place and changes the generation).  h is NULL for a
 * file opened without asking (a read-only mount, op_open()), which reads
 * by key.  Returns 0 if it replied, 1 if the caller must read the usual
 * way. */
static int
ops_read_splice(fuse_req_t req, struct fs *fs, fuse_ino_t ino, struct handle *h,
    size_t size, off_t off)
{
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(0);
	struct blt_entry e;
	uint64_t seen;
	int rc;

	rc = h != NULL ? handle_locate(h, &e) : node_find(fs, ino, 0, &e);
	if (rc == 1)
		return 1;
	if (rc == -ENOENT && node_unstored(fs, ino)) {
		fuse_reply_buf(req, NULL, 0);
		return 0;
	}
	if (rc < 0) { /* ESTALE: as op_read() says */
		fuse_reply_err(req, rc == -ESTALE ? ENOENT : -rc);
		return 0;
	}
	/* read without the lock: the bytes are checked as they are copied
	 * (blt_hold_peek()), which a splice cannot be */
	if (e.gen == BLT_GEN_PEEK)
		return 1;
	pthread_rwlock_rdlock(&fs->rlock);
	if (fs->rfd < 0 || e.gen != fs->rgen) {
		seen = fs->rgen;
		pthread_rwlock_unlock(&fs->rlock);
		if (e.gen > seen)
			ops_open_rfd(fs, seen);
		return 1;
	}
	if ((uint64_t)off >= e.value_len)
		size = 0;
	else if (e.value_len - (uint64_t)off < size)
		size = (size_t)(e.value_len - (uint64_t)off);
	bv.buf[0].size = size;
	bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK | FUSE_BUF_FD_RETRY;
	bv.buf[0].fd = fs->rfd;
	bv.buf[0].pos = (off_t)(e.value_off + (uint64_t)off);
	/* a prune meanwhile leaves these bytes where they are in the file
	 * rfd still holds: it writes a new file */
	if ((rc = fuse_reply_data(req, &bv, 0)) < 0)
		fs_log("read reply: %s", strerror(-rc));
	pthread_rwlock_unlock(&fs->rlock);
	return 0;
}

void
op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	struct fs *fs = ops_fs(req);
	struct handle *h = ops_handle(fi);
	unsigned char *buf;
	ssize_t n;

	/* a decode mount's files are text, never the store's bytes */
	if (!fs->decode && ops_read_splice(req, fs, ino, h, size, off) == 0)
		return;

	if ((buf = malloc(size ? size : 1)) == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (h != NULL)
		n = handle_read(h, buf, size, (uint64_t)off);
	else if (fs->decode)
		n = decode_read(fs, ino, NULL, buf, size, (uint64_t)off);
	else
		n = node_read(fs, ino, NULL, buf, size, (uint64_t)off);
	/* a file whose key another process deleted, its name gone since the
	 * kernel looked it up: no such file, as for a lookup now */
	if (n == -ESTALE)
		n = -ENOENT;
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_buf(req, (const char *)buf, (size_t)n);
	free(buf);
}

void
op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
    off_t off, struct fuse_file_info *fi)
{
	int rc;

	if (ops_handle(fi) == NULL) { /* opened without asking: read-only */
		fuse_reply_err(req, EBADF);
		return;
	}
	if ((rc = handle_turn(ops_handle(fi))) < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	handle_changed_by(ops_handle(fi), fuse_req_ctx(req)->pid);
	if ((rc = handle_write(ops_handle(fi), buf, size, (uint64_t)off)) < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_write(req, size);
}

/* The store changed through a commit: tell the room that listens, once
 * the request is answered (fs->stored). */
static void
ops_stored(struct fs *fs)
{
	if (fs->stored != NULL)
		fs->stored(fs);
}

/* Commit what fi holds (release 1: at a release, what
 * handle_commit_release() says; 2: at a close, handle_flush(); 0: fsync);
 * invalidate the kernel's copy if the value changed.  Returns the
 * handle's: > 0 if the store changed; then, once the request is answered,
 * the caller tells fs->stored (ops_stored()). */
static int
ops_commit(
    struct fs *fs, fuse_ino_t ino, struct fuse_file_info *fi, int release)
{
	struct handle *h = ops_handle(fi);
	int rc;

	/* after a failed commit too: the kernel holds bytes the store
	 * refused.  The pages of a file only one handle wrote are what was
	 * stored, and stay cached (cp -r and then reading the copy); its
	 * mtime is the commit's. */
	if (h == NULL) /* opened without asking: read-only */
		return 0;
	if (release == 1)
		rc = handle_commit_release(h);
	else
		rc = release == 2 ? handle_flush(h) : handle_commit(h);
	if (rc != 0)
		ops_inval(fs, ino, rc != 2);
	return rc;
}

void
op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = ops_fs(req); /* req is gone once answered */
	int rc;

	/* a read-only mount commits nothing at close: ENOSYS has the kernel
	 * send no more flushes (see op_open()) */
	if (fs->ro) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	rc = ops_handle(fi) == NULL || handle_close_commits(ops_handle(fi),
	                                   fuse_req_ctx(req)->pid)
	         ? ops_commit(fs, ino, fi, 2)
	         : 0;
	fuse_reply_err(req, rc < 0 ? -rc : 0);
	if (rc > 0)
		ops_stored(fs);
}

/* The last writer of ino let go of it with writes the store refused (its
 * disk is full, say).  If the file was made by an open and never stored,
 * its name goes too: the mount lists what the store holds, as a remount
 * would.  A file the store holds keeps its stored value, and one that was
 * opened again meanwhile is left to its new writer.  Called before the
 * release is answered, while the kernel still holds ino (it may forget it
 * once answered); *s gets the name to tell the kernel of after that. */
static void
ops_drop_unstored(struct fs *fs, fuse_ino_t ino, struct inode_stale *s)
{
	unsigned char *key;
	size_t klen;
	int rc;

	pthread_mutex_lock(&fs->wlock);
	if ((rc = inode_key(fs->tree, ino, &key, &klen)) == 0) {
		if (blt_exists(fs->db, key, klen) == 0 &&
		    !handle_is_open(fs, ino))
			rc = inode_del_key(fs->tree, key, klen, s);
		free(key);
	}
	pthread_mutex_unlock(&fs->wlock);
	if (rc < 0 && rc != -ESTALE)
		ops_fail(rc, blt_errmsg());
}

void
op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = ops_fs(req);
	struct inode_stale s = {0};
	int rc;

	/* normally committed by flush already; writes through a shared
	 * mapping can still arrive after it */
	rc = ops_commit(fs, ino, fi, 1);
	if (handle_release(ops_handle(fi)))
		ops_drop_unstored(fs, ino, &s);
	/* writes the store refused are gone with the handle: the size the
	 * kernel has may be theirs */
	if (rc < 0)
		ops_inval(fs, ino, 1);
	fuse_reply_err(req, 0);
	ops_stale(fs, &s, 0, "");
	if (rc > 0)
		ops_stored(fs);
}

void
op_fsync(
    fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct fs *fs = ops_fs(req);
	int rc, stored;

	if ((rc = stored = ops_commit(fs, ino, fi, 0)) >= 0 && !fs->ro &&
	    (rc = blt_sync(fs->db)) < 0)
		fs_log_write(fs, NULL);
	fuse_reply_err(req, rc < 0 ? -rc : 0);
	if (stored > 0)
		ops_stored(fs);
}
