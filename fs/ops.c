/*
 * The FUSE low-level operations: thin handlers that turn kernel requests
 * into calls on the directory index (inode.c), open files (handle.c) and
 * the store.
 *
 * Names are resolved by the index alone; the store is read for a file's
 * size and timestamp (blt_find) and its bytes.  Renames are move.c's.
 * Every change of the store or of names (commit, create, mkdir, unlink,
 * rmdir, rename, setattr) holds fs->wlock, so the index and the store change
 * together and a commit cannot put a value under a name a rename just left.
 * Reads take no lock of ours.  Each change is flushed before the reply, so that
 * what the kernel was told survives a crash of the daemon.
 *
 * The kernel keeps file contents cached across opens (keep_cache) and names
 * and attributes for long; a commit that changed a value invalidates the
 * file's cached pages before close or fsync returns.  On a read-only mount
 * the kernel opens and closes files without asking (op_open()).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fs.h"

/* st_blksize: cat and cp read and write in pieces of this size, with a
 * buffer they allocate (and fault in) per file.  128 KiB, the least they
 * use anyway: 1 MiB made cat of 1 MiB files 2x slower and cp of them 1.6x
 * (doc/benchmarks.md).  The kernel reads ahead up to max_readahead, set in
 * op_init(), whatever this says. */
#define OPS_BLKSIZE (1u << 17)
#define OPS_READAHEAD (1u << 20)

/* Bytes of a READDIRPLUS reply, whatever the kernel offers (128 KiB on
 * Linux 6.18).  With attributes: every entry becomes an inode in the
 * kernel, 3 µs whether or not anyone looks at it, and they go only where
 * children have been looked up, by a caller that wants them (ls -l, tar,
 * du), so a reply holds as many as the kernel's inodes cost in a round
 * trip.  Without (node 0, a name only): the caller may look each one up
 * next, one round trip a name, before the kernel asks for attributes
 * again, so the first page is a few names; the rest of the directory
 * comes by plain READDIR, as for find, which needs no attributes at all.
 * A first find of 1,000,000 keys took 3.2 s with full replies and 0.7 s
 * with 4 KiB ones. */
#define OPS_PLUS_MAX (16u << 10)
#define OPS_PLUS_NAMES 512u

/* statfs: the bytes of the smallest block, a 1-byte key with an empty
 * value and a timestamp (format §5.1), and the most keys a store counts
 * (its header's n_keys, §2.1, whose all-ones value means an unclean
 * close): what bounds the number of files that may still be made. */
#define OPS_KEY_MIN_BYTES 33u
#define OPS_KEYS_MAX (UINT32_MAX - 1u)

static struct fs *
ops_fs(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static struct handle *
ops_handle(const struct fuse_file_info *fi)
{
	return (struct handle *)(uintptr_t)fi->fh;
}

static void
ops_timespec(int64_t us, struct timespec *ts)
{
	int64_t s = us / 1000000, r = us % 1000000;

	if (r < 0) {
		s--;
		r += 1000000;
	}
	ts->tv_sec = (time_t)s;
	ts->tv_nsec = (long)(r * 1000);
}

/* Size and timestamp of a file node: from a pending write, else from what
 * the index knows, else from the store (and the index keeps it).  A file
 * that is in the index but not yet stored is empty. */
static int
ops_file_attr(
    struct fs *fs, const struct inode_info *info, uint64_t *size, int64_t *ts)
{
	struct inode_info in = *info;
	struct blt_entry e;
	int rc;

	if (handle_find(fs, in.nodeid, size, ts)) {
		if (*ts == BLT_NOW)
			*ts = blt_now();
		return 0;
	}
	/* a commit may have stored the file and marked it clean since info
	 * was taken (a release on another thread) */
	inode_attr_recheck(fs->tree, &in);
	*size = 0;
	*ts = fs->mtime;
	if (in.attr) {
		*size = in.size;
		if (in.ts != BLT_NO_TS)
			*ts = in.ts;
		return 0;
	}
	if ((rc = node_find(fs, in.nodeid, &e)) == -ENOENT || rc == -ESTALE)
		return 0; /* not stored yet, or removed: an empty file */
	if (rc < 0) {
		fs_log("%s", blt_errmsg());
		return rc;
	}
	inode_fill_attr(fs->tree, in.nodeid, in.aver, e.value_len, e.timestamp);
	*size = e.value_len;
	if (e.timestamp != BLT_NO_TS)
		*ts = e.timestamp;
	return 0;
}

/* Fill st for the node in: mode and owner from the mount options. */
static int
ops_stat(struct fs *fs, const struct inode_info *in, struct stat *st)
{
	uint64_t size = 0;
	int64_t ts = fs->mtime;
	int rc;

	memset(st, 0, sizeof *st);
	st->st_ino = in->ino;
	st->st_nlink = in->nlink;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_blksize = OPS_BLKSIZE;
	if (in->type == INODE_DIR) {
		st->st_mode = S_IFDIR | (0777 & ~fs->umask);
		if (in->ts != BLT_NO_TS)
			ts = in->ts;
	} else {
		st->st_mode = S_IFREG | (0666 & ~fs->umask);
		if ((rc = ops_file_attr(fs, in, &size, &ts)) < 0)
			return rc;
		if (in->flags & INODE_GONE)
			st->st_nlink = 0;
	}
	st->st_size = (off_t)size;
	st->st_blocks = (blkcnt_t)((size + 511) / 512);
	ops_timespec(ts, &st->st_mtim);
	st->st_atim = st->st_mtim;
	st->st_ctim = st->st_mtim;
	return 0;
}

static int
ops_entry(
    struct fs *fs, const struct inode_info *in, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof *e);
	e->ino = in->nodeid;
	e->generation = in->gen;
	e->attr_timeout = fs->timeout;
	e->entry_timeout = fs->timeout;
	return ops_stat(fs, in, &e->attr);
}

/* Reply with the entry of in, which holds a lookup reference for the
 * kernel; the reference is dropped if the reply cannot be made. */
static void
ops_reply_entry(fuse_req_t req, struct fs *fs, const struct inode_info *in)
{
	struct fuse_entry_param e;
	int rc;

	if ((rc = ops_entry(fs, in, &e)) < 0) {
		inode_forget(fs->tree, in->nodeid, 1);
		fuse_reply_err(req, -rc);
		return;
	}
	if (fuse_reply_entry(req, &e) != 0)
		inode_forget(fs->tree, in->nodeid, 1);
}

/* Tell the kernel about a name the index moved by itself (a file that
 * became a directory's PATH_SELF, and back), unless it is the very name
 * the kernel just changed.  Called after the reply: the kernel holds the
 * directory's lock until then. */
static void
ops_stale(struct fs *fs, const struct inode_stale *s, uint64_t parent,
    const char *name)
{
	if (!s->valid)
		return;
	if (s->parent == parent && strlen(name) == s->nlen &&
	    memcmp(name, s->name, s->nlen) == 0)
		return;
	fuse_lowlevel_notify_inval_entry(fs->se, s->parent, s->name, s->nlen);
}

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

/* Log the message of an unexpected failure of the index or the store. */
static int
ops_fail(int rc, const char *msg)
{
	if (rc != -ENOENT && rc != -EEXIST && rc != -ENOTEMPTY &&
	    rc != -ENOTDIR && rc != -EISDIR)
		fs_log("%s", msg);
	return rc;
}

/* The store file for reads by splice (ops_read_splice()), with *gen set
 * to its generation; -1 if there is none (reads are copied then).  The
 * engine gives the two together: an entry of one generation read from the
 * file of another would give another key's bytes. */
static int
ops_rfd_open(struct fs *fs, uint64_t *gen)
{
	int fd = blt_dup_fd(fs->db, gen);

	if (fd < 0) {
		fs_log("%s (reads are copied instead)", blt_errmsg());
		return -1;
	}
	return fd;
}

static void
op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fs *fs = userdata;

	/* reads are spliced from the store file (ops_read_splice()); the
	 * generation tells whether the file is still the store's */
	fs->rfd = ops_rfd_open(fs, &fs->rgen);
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	/* open(O_TRUNC) reaches us, so the old value stays readable until
	 * the new one is committed */
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	/* we invalidate when a value changes; mtime alone says nothing.  On
	 * a read-only mount no value changes, and a new mtime is how the
	 * control files' snapshots, which no open file holds, tell the
	 * kernel to drop the pages it keeps of them (ctl_snap in ctl.c): the
	 * kernel drops them itself, in the reader's thread, while this
	 * daemon may still have to answer a read of them. */
	if (fs->ro && (conn->capable & FUSE_CAP_AUTO_INVAL_DATA))
		conn->want |= FUSE_CAP_AUTO_INVAL_DATA;
	else
		conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	conn->time_gran = 1000; /* timestamps are microseconds */
	conn->max_readahead = OPS_READAHEAD;
}

static void
op_destroy(void *userdata)
{
	struct fs *fs = userdata;

	if (fs->rfd >= 0)
		close(fs->rfd);
	fs->rfd = -1;
}

/* Is name in parent the control directory?  Its own requests never get
 * here (fs/ctl.c answers them first); creating or renaming onto it does. */
static int
ops_is_ctl(struct fs *fs, uint64_t parent, const char *name)
{
	return parent == INODE_ROOT &&
	       path_is_ctl(inode_conf(fs->tree), name, strlen(name));
}

static void
op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = ops_fs(req);
	struct fuse_entry_param e;
	struct inode_info in;
	int rc;

	rc = inode_lookup(fs->tree, parent, name, strlen(name), 1, &in);
	if (rc == -ENOENT) {
		/* cached: every other change of names comes through us */
		memset(&e, 0, sizeof e);
		e.entry_timeout = fs->timeout;
		fuse_reply_entry(req, &e);
		return;
	}
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	ops_reply_entry(req, fs, &in);
}

static void
op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	inode_forget(ops_fs(req)->tree, ino, nlookup);
	fuse_reply_none(req);
}

static void
op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *f)
{
	struct fs *fs = ops_fs(req);
	size_t i;

	for (i = 0; i < count; i++)
		inode_forget(fs->tree, f[i].ino, f[i].nlookup);
	fuse_reply_none(req);
}

static void
op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = ops_fs(req);
	struct inode_info in;
	struct stat st;
	int rc;

	if ((rc = inode_stat(fs->tree, ino, &in)) < 0 && rc != -ESTALE) {
		fuse_reply_err(req, -rc);
		return;
	}
	if ((rc = ops_stat(fs, &in, &st)) < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	fuse_reply_attr(req, &st, fs->timeout);
}

/* access(2), faccessat(2): without default_permissions the kernel asks
 * here, and would take no answer for "everything is allowed".  A file is
 * never executable (its mode has no x, and exec fails), so X_OK is
 * refused for files as on any file system: git then skips a hook that
 * cannot run, and find -executable lists none.  The rest is allowed: only
 * the mounting user gets this far, as the kernel checks the modes itself
 * once others may enter (main.c). */
static void
op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct fs *fs = ops_fs(req);
	struct inode_info in;
	int rc;

	if ((rc = inode_stat(fs->tree, ino, &in)) < 0 && rc != -ESTALE)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_err(
		    req, (mask & X_OK) && in.type != INODE_DIR ? EACCES : 0);
}

/* Set a stored file's timestamp (utimensat without an open writer). */
static int
ops_set_time(struct fs *fs, uint64_t nodeid, int64_t ts)
{
	unsigned char *key;
	size_t klen;
	int rc;

	if (handle_set_time(fs, nodeid, ts) > 0)
		return 0;
	if (!fs->timestamps)
		return 0; /* nowhere to keep it: ignored, see bltfs(1) */
	pthread_mutex_lock(&fs->wlock);
	if ((rc = inode_key(fs->tree, nodeid, &key, &klen)) < 0)
		goto out;
	rc = blt_set_timestamp(fs->db, key, klen, ts);
	if (rc == 0)
		rc = blt_flush(fs->db);
	inode_forget_attr(fs->tree, nodeid);
	if (rc == -ENOENT)
		rc = 0; /* created, not yet stored: the commit sets it */
	else if (rc < 0)
		fs_log_write(fs, NULL);
	free(key);
out:
	pthread_mutex_unlock(&fs->wlock);
	return rc;
}

/* Truncate a file that the caller has not open (truncate(2)): as if it
 * were opened, cut and closed. */
static int
ops_truncate(struct fs *fs, uint64_t nodeid, uint64_t size)
{
	struct handle *h;
	int rc;

	if ((rc = handle_create(fs, nodeid, O_WRONLY, 0, &h)) < 0)
		return rc;
	if ((rc = handle_truncate(h, size)) == 0)
		rc = handle_commit(h);
	handle_free(h);
	return rc < 0 ? rc : 0;
}

/* Whether in is a file with writes not yet stored.  rsync gives the
 * temporary file it writes mode 0700 and fails if it cannot: a mode change
 * of a file being written is accepted, and not kept (bltfs(1)). */
static int
ops_being_written(struct fs *fs, const struct inode_info *in)
{
	uint64_t size;
	int64_t ts;

	return in->type == INODE_FILE &&
	       handle_find(fs, in->nodeid, &size, &ts);
}

/* Whether no one but the mount's owner can read what it holds: no one
 * else may enter the mount, and the store file's own mode lets no one
 * else read or write it.  Then a mode that takes permissions away asks
 * for nothing that is not so already (rsync -a and cp -a of a tree with
 * private files, a .ssh directory), and is accepted, not kept. */
static int
ops_private(struct fs *fs)
{
	struct stat st;

	return !fs->others && stat(blt_path(fs->db), &st) == 0 &&
	       (st.st_mode & 077) == 0;
}

static void
op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
    struct fuse_file_info *fi)
{
	struct fs *fs = ops_fs(req);
	struct inode_info in;
	struct stat st;
	int64_t ts;
	int rc;

	if ((rc = inode_stat(fs->tree, ino, &in)) < 0 && rc != -ESTALE)
		goto fail;
	if ((rc = ops_stat(fs, &in, &st)) < 0)
		goto fail;
	/* modes and owners are the mount's and are not stored.  Setting what
	 * is there succeeds (cp -p, rsync -a), and so does a mode that takes
	 * no permission away (rsync -a of an executable asks for 0755 on a
	 * file shown 0644): the file is no less open than asked.  A mode that
	 * would take one away is refused, so that nobody believes a file
	 * private when it is not; except while the file is being written
	 * (rsync's temporary files), and where everything is private
	 * already (ops_private()): there it is accepted and not kept. */
	rc = -EPERM;
	if ((to_set & FUSE_SET_ATTR_MODE) &&
	    (st.st_mode & 07777 & ~attr->st_mode) != 0 &&
	    !ops_being_written(fs, &in) && !ops_private(fs))
		goto fail;
	if ((to_set & FUSE_SET_ATTR_UID) && attr->st_uid != fs->uid)
		goto fail;
	if ((to_set & FUSE_SET_ATTR_GID) && attr->st_gid != fs->gid)
		goto fail;
	rc = -EROFS;
	if (fs->ro && (to_set & (FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_MTIME |
	                            FUSE_SET_ATTR_MTIME_NOW)))
		goto fail;
	if (to_set & FUSE_SET_ATTR_SIZE) {
		rc = -EISDIR;
		if (in.type == INODE_DIR)
			goto fail;
		if (fi != NULL && fi->fh != 0)
			rc = handle_truncate(
			    ops_handle(fi), (uint64_t)attr->st_size);
		else
			rc = ops_truncate(fs, ino, (uint64_t)attr->st_size);
		if (rc < 0)
			goto fail;
	}
	if (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW)) {
		/* the format's timestamps are unsigned, 56 bits of µs since
		 * 1970 (booklet-format.md §5.4): nothing earlier or later
		 * can be kept, and a time changed to another is no answer.
		 * Seconds are checked first: µs of some would overflow. */
		if (to_set & FUSE_SET_ATTR_MTIME_NOW)
			ts = blt_now();
		else if (attr->st_mtim.tv_sec < 0 ||
		         attr->st_mtim.tv_sec > BLT_TS_MAX / 1000000)
			ts = -1;
		else
			ts = (int64_t)attr->st_mtim.tv_sec * 1000000 +
			     attr->st_mtim.tv_nsec / 1000;
		rc = 0;
		if (ts < 0 || ts > BLT_TS_MAX) {
			/* a store without timestamps ignores a file's */
			if (fs->timestamps || in.type == INODE_DIR)
				rc = -ERANGE;
		} else if (in.type == INODE_DIR)
			inode_set_dir_time(fs->tree, ino, ts);
		else
			rc = ops_set_time(fs, ino, ts);
		if (rc < 0)
			goto fail;
	}
	/* again: the size and time the index knows may have changed */
	if ((rc = inode_stat(fs->tree, ino, &in)) < 0 && rc != -ESTALE)
		goto fail;
	if ((rc = ops_stat(fs, &in, &st)) < 0)
		goto fail;
	fuse_reply_attr(req, &st, fs->timeout);
	return;
fail:
	fuse_reply_err(req, -rc);
}

static void
op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	fuse_reply_err(req, EINVAL);
}

/* Add a file or a directory marker named name under parent to the index
 * (and a marker to the store); *in gets it with a lookup reference. */
static int
ops_new_node(struct fs *fs, uint64_t parent, const char *name, int type,
    int excl, int *existed, struct inode_info *in, struct inode_stale *s)
{
	unsigned char *key = NULL;
	size_t klen, nlen = strlen(name);
	int rc;

	s->valid = 0;
	*existed = 0;
	if (fs->ro)
		return -EROFS;
	if (ops_is_ctl(fs, parent, name))
		return -EEXIST;
	pthread_mutex_lock(&fs->wlock);
	if ((rc = inode_lookup(fs->tree, parent, name, nlen, 0, in)) == 0) {
		*existed = 1;
		rc = excl ? -EEXIST : in->type != type ? -EISDIR : 0;
		if (rc == 0)
			rc = inode_lookup(fs->tree, parent, name, nlen, 1, in);
		goto out;
	}
	if (rc != -ENOENT)
		goto out;
	if (type == INODE_DIR && path_is_piece(name, nlen)) {
		/* made by the keys below it: nothing to store */
		if ((rc = inode_add_piece(fs->tree, parent, name, nlen)) < 0 ||
		    (rc = inode_lookup(fs->tree, parent, name, nlen, 1, in)) <
		        0)
			ops_fail(rc, path_errmsg());
		goto out;
	}
	if ((rc = inode_child_key(
	         fs->tree, parent, name, nlen, type, &key, &klen)) < 0) {
		ops_fail(rc, path_errmsg());
		goto out;
	}
	if (type == INODE_DIR &&
	    ((rc = blt_put(fs->db, key, klen, "", 0, BLT_NOW)) < 0 ||
	        (rc = blt_flush(fs->db)) < 0)) {
		fs_log_write(fs, NULL);
		goto out;
	}
	/* a new file reaches the store when it is closed */
	if ((rc = inode_put_key(fs->tree, key, klen,
	         type == INODE_FILE ? INODE_VLEN_UNSTORED : 0, NULL, s)) < 0 ||
	    (rc = inode_lookup(fs->tree, parent, name, nlen, 1, in)) < 0)
		ops_fail(rc, path_errmsg());
out:
	pthread_mutex_unlock(&fs->wlock);
	free(key);
	return rc;
}

static void
op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct fs *fs = ops_fs(req);
	struct inode_stale s;
	struct inode_info in;
	int existed, rc;

	rc = ops_new_node(fs, parent, name, INODE_DIR, 1, &existed, &in, &s);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	ops_reply_entry(req, fs, &in);
	ops_stale(fs, &s, parent, name);
}

static void
op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
    dev_t rdev)
{
	struct fs *fs = ops_fs(req);
	struct inode_stale s;
	struct inode_info in;
	struct handle *h;
	int existed, rc;

	if (!S_ISREG(mode)) {
		fuse_reply_err(req, EPERM); /* devices, fifos, sockets */
		return;
	}
	rc = ops_new_node(fs, parent, name, INODE_FILE, 1, &existed, &in, &s);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	/* mknod has no close: store the empty file now */
	if ((rc = handle_create(fs, in.nodeid, O_WRONLY, 1, &h)) == 0) {
		rc = handle_commit(h);
		handle_free(h);
	}
	if (rc < 0) {
		inode_forget(fs->tree, in.nodeid, 1);
		fuse_reply_err(req, -rc);
		return;
	}
	ops_reply_entry(req, fs, &in);
	ops_stale(fs, &s, parent, name);
}

/* The nodes an unlink or rename marks as moving, for ops_remove_end(). */
struct ops_removal {
	uint64_t node[2];
	int n;
};

/* Mark the node name in parent as moving (inode_move_mark()), holding a
 * reference so that it outlives its removal until ops_remove_end(). */
static void
ops_mark(
    struct fs *fs, uint64_t parent, const char *name, struct ops_removal *r)
{
	struct inode_info in;

	if (inode_lookup(fs->tree, parent, name, strlen(name), 1, &in) < 0)
		return;
	if (r->n > 0 && r->node[0] == in.nodeid) {
		inode_forget(fs->tree, in.nodeid, 1); /* marked once */
		return;
	}
	inode_move_mark(fs->tree, in.nodeid);
	r->node[r->n++] = in.nodeid;
}

/* Begin removing name from parent, or renaming another file (srcname in
 * srcparent; NULL for an unlink) onto it: take fs->wlock, with the file
 * name names, if any, ready to lose its name.
 *  - Its open handles get a copy of its value (handle_keep()), which
 *    cannot be done under the lock; a handle opened meanwhile is found
 *    under it, and the copying goes again.
 *  - Where its value lies is noted for opens of it still on their way
 *    (handle_orphan()).
 *  - It and the node renamed are marked as moving until ops_remove_end(),
 *    so that reads by key of them and of what lies below them wait: the
 *    store changes before the names do.  Reads of other files go on. */
static void
ops_remove_begin(struct fs *fs, uint64_t parent, const char *name,
    uint64_t srcparent, const char *srcname, struct ops_removal *r)
{
	size_t nlen = strlen(name);
	struct inode_info in;
	int file;

	for (;;) {
		int kept = 1;

		if (inode_lookup(fs->tree, parent, name, nlen, 0, &in) == 0 &&
		    in.type == INODE_FILE) {
			if ((kept = handle_keep(fs, in.nodeid)) < 0)
				fs_log("keeping open files of %s: %s", name,
				    strerror(-kept));
		}
		pthread_mutex_lock(&fs->wlock);
		file =
		    inode_lookup(fs->tree, parent, name, nlen, 0, &in) == 0 &&
		    in.type == INODE_FILE;
		/* after a failed copy, the handles read what is left */
		if (kept < 0 || !file || !handle_unkept(fs, in.nodeid))
			break;
		pthread_mutex_unlock(&fs->wlock);
	}
	if (file)
		handle_orphan(fs, &in);
	r->n = 0;
	ops_mark(fs, parent, name, r);
	if (srcname != NULL)
		ops_mark(fs, srcparent, srcname, r);
}

static void
ops_remove_end(struct fs *fs, struct ops_removal *r)
{
	for (int i = 0; i < r->n; i++) {
		inode_move_mark(fs->tree, r->node[i]);
		inode_forget(fs->tree, r->node[i], 1);
	}
	if (r->n > 0)
		node_moves_ended();
	pthread_mutex_unlock(&fs->wlock);
}

static void
op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = ops_fs(req);
	unsigned char *key = NULL;
	struct inode_stale s = {0};
	struct ops_removal r;
	struct inode_info in;
	size_t klen;
	int rc;

	if (fs->ro) {
		fuse_reply_err(req, EROFS);
		return;
	}
	ops_remove_begin(fs, parent, name, 0, NULL, &r);
	if ((rc = inode_lookup(fs->tree, parent, name, strlen(name), 0, &in)) <
	    0)
		goto out;
	rc = -EISDIR;
	if (in.type != INODE_FILE)
		goto out;
	if ((rc = inode_key(fs->tree, in.nodeid, &key, &klen)) < 0)
		goto out;
	rc = blt_del(fs->db, key, klen);
	if (rc == 0)
		rc = blt_flush(fs->db);
	if (rc == -ENOENT)
		rc = 0; /* created and not yet stored */
	if (rc < 0)
		fs_log_write(fs, NULL);
	else if ((rc = inode_del_key(fs->tree, key, klen, &s)) < 0)
		ops_fail(rc, path_errmsg());
out:
	ops_remove_end(fs, &r);
	free(key);
	fuse_reply_err(req, -rc);
	if (rc == 0)
		ops_stale(fs, &s, parent, name);
}

static void
op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = ops_fs(req);
	unsigned char *key = NULL;
	struct inode_info in;
	size_t klen, nlen = strlen(name);
	int rc;

	if (fs->ro) {
		fuse_reply_err(req, EROFS);
		return;
	}
	pthread_mutex_lock(&fs->wlock);
	if ((rc = inode_lookup(fs->tree, parent, name, nlen, 0, &in)) < 0)
		goto out;
	rc = -ENOTDIR;
	if (in.type != INODE_DIR)
		goto out;
	rc = -ENOTEMPTY;
	if (in.nchildren > 0)
		goto out;
	if (in.flags & INODE_MARKER) {
		if ((rc = inode_key(fs->tree, in.nodeid, &key, &klen)) < 0)
			goto out;
		rc = blt_del(fs->db, key, klen);
		if (rc == 0)
			rc = blt_flush(fs->db);
		if (rc < 0 && rc != -ENOENT) {
			fs_log_write(fs, NULL);
			goto out;
		}
	}
	if ((rc = inode_rmdir(fs->tree, parent, name, nlen)) < 0)
		ops_fail(rc, path_errmsg());
out:
	pthread_mutex_unlock(&fs->wlock);
	free(key);
	fuse_reply_err(req, -rc);
}

static void
op_symlink(
    fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, EPERM);
}

static void
op_link(
    fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	fuse_reply_err(req, EPERM);
}

static void
op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
    fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct fs *fs = ops_fs(req);
	struct ops_removal r;
	int rc;

	if (fs->ro) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (ops_is_ctl(fs, newparent, newname)) {
		fuse_reply_err(req, EEXIST);
		return;
	}
	ops_remove_begin(fs, newparent, newname, parent, name, &r);
	rc = move_rename(fs, parent, name, newparent, newname, flags);
	ops_remove_end(fs, &r);
	fuse_reply_err(req, -rc);
}

static void
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
	/* A read-only mount needs no open files: nothing is written, and
	 * nothing changes what a name reads.  ENOSYS has the kernel open
	 * files without asking from now on and never send a release; reads
	 * come without a handle (op_read()).  With the flush that
	 * op_flush() refuses the same way, reading a file whose pages the
	 * kernel keeps costs no request at all. */
	if (fs->ro) {
		fuse_reply_err(req, ENOSYS);
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
	fi->fh = (uintptr_t)h;
	fi->keep_cache = 1;
	/* closing a file opened for reading commits nothing: spare the
	 * kernel a round trip on every close */
	fi->noflush = (fi->flags & (O_ACCMODE | O_TRUNC)) == O_RDONLY;
	if (fuse_reply_open(req, fi) != 0)
		handle_free(h);
}

static void
op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
    struct fuse_file_info *fi)
{
	struct fs *fs = ops_fs(req);
	struct fuse_entry_param e;
	struct inode_stale s;
	struct inode_info in;
	struct handle *h;
	int existed, rc;

	rc = ops_new_node(fs, parent, name, INODE_FILE,
	    (fi->flags & O_EXCL) != 0, &existed, &in, &s);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	if ((rc = handle_create(fs, in.nodeid, fi->flags, !existed, &h)) < 0 ||
	    (rc = ops_entry(fs, &in, &e)) < 0) {
		if (rc == 0)
			handle_free(h);
		inode_forget(fs->tree, in.nodeid, 1);
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uintptr_t)h;
	fi->keep_cache = 1;
	if (fuse_reply_create(req, &e, fi) != 0) {
		handle_free(h);
		inode_forget(fs->tree, in.nodeid, 1);
		return;
	}
	ops_stale(fs, &s, parent, name);
}

/* Guards fs->rfd and fs->rgen: held for reading across a spliced reply,
 * for writing to open the store file again.  One mount per process. */
static pthread_rwlock_t ops_rlock = PTHREAD_RWLOCK_INITIALIZER;

/* Open the store file for spliced reads; after a prune, the file that took
 * its place (and let go of the old one, which would keep its space). */
static void
ops_open_rfd(struct fs *fs, uint64_t seen)
{
	uint64_t gen;
	int fd;

	pthread_rwlock_wrlock(&ops_rlock);
	if (fs->rfd >= 0 && fs->rgen == seen) {
		fd = ops_rfd_open(fs, &gen);
		close(fs->rfd);
		fs->rfd = fd;
		fs->rgen = gen;
	}
	pthread_rwlock_unlock(&ops_rlock);
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

	rc = h != NULL ? handle_locate(h, &e) : node_find(fs, ino, &e);
	if (rc == 1)
		return 1;
	if (rc == -ENOENT) {
		fuse_reply_buf(req, NULL, 0); /* created, not yet stored */
		return 0;
	}
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return 0;
	}
	pthread_rwlock_rdlock(&ops_rlock);
	if (fs->rfd < 0 || e.gen != fs->rgen) {
		seen = fs->rgen;
		pthread_rwlock_unlock(&ops_rlock);
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
	pthread_rwlock_unlock(&ops_rlock);
	return 0;
}

static void
op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	struct fs *fs = ops_fs(req);
	struct handle *h = ops_handle(fi);
	unsigned char *buf;
	ssize_t n;

	if (ops_read_splice(req, fs, ino, h, size, off) == 0)
		return;

	if ((buf = malloc(size ? size : 1)) == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = h != NULL ? handle_read(h, buf, size, (uint64_t)off)
	              : node_read(fs, ino, buf, size, (uint64_t)off);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_buf(req, (const char *)buf, (size_t)n);
	free(buf);
}

static void
op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
    off_t off, struct fuse_file_info *fi)
{
	int rc;

	if (ops_handle(fi) == NULL) /* opened without asking: read-only */
		fuse_reply_err(req, EBADF);
	else if ((rc = handle_write(ops_handle(fi), buf, size, (uint64_t)off)) <
	         0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_write(req, size);
}

/* Commit what fi holds (at a release, what handle_commit_release() says);
 * invalidate the kernel's copy if the value changed. */
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
	if ((rc = release ? handle_commit_release(h) : handle_commit(h)) != 0)
		ops_inval(fs, ino, rc != 2);
	return rc < 0 ? rc : 0;
}

static void
op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	/* a read-only mount commits nothing at close: ENOSYS has the kernel
	 * send no more flushes (see op_open()) */
	if (ops_fs(req)->ro) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	fuse_reply_err(req, -ops_commit(ops_fs(req), ino, fi, 0));
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
		ops_fail(rc, path_errmsg());
}

static void
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
}

static void
op_fsync(
    fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct fs *fs = ops_fs(req);
	int rc;

	if ((rc = ops_commit(fs, ino, fi, 0)) == 0 && !fs->ro &&
	    (rc = blt_sync(fs->db)) < 0)
		fs_log_write(fs, NULL);
	fuse_reply_err(req, -rc);
}

static void
op_fsyncdir(
    fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct fs *fs = ops_fs(req);
	int rc = 0;

	if (!fs->ro && (rc = blt_sync(fs->db)) < 0)
		fs_log_write(fs, NULL);
	fuse_reply_err(req, -rc);
}

struct ops_dir {
	fuse_req_t req;
	struct fs *fs;
	char *buf;
	size_t size, len;
	int plus;  /* the kernel asked for entries with attributes */
	int attrs; /* and gets them */
};

static int
ops_dirent(void *arg, const char *name, size_t nlen,
    const struct inode_info *info, off_t off)
{
	struct ops_dir *d = arg;
	struct fuse_entry_param e;
	size_t need;
	int dots =
	    name[0] == '.' && (nlen == 1 || (nlen == 2 && name[1] == '.'));

	if (d->attrs && !dots) {
		if (ops_entry(d->fs, info, &e) < 0)
			return 1; /* stop here; the kernel asks again */
	} else {
		/* a plus entry of node 0 is a plain one: no lookup reference.
		 * (Copied from a zeroed one: memset's rep stos was two thirds
		 * of this function's time in a first find.) */
		static const struct fuse_entry_param zero;

		e = zero;
		e.attr.st_ino = info->ino;
		e.attr.st_mode = info->type == INODE_DIR ? S_IFDIR : S_IFREG;
	}
	if (d->plus)
		need = fuse_add_direntry_plus(
		    d->req, d->buf + d->len, d->size - d->len, name, &e, off);
	else
		need = fuse_add_direntry(d->req, d->buf + d->len,
		    d->size - d->len, name, &e.attr, off);
	if (need > d->size - d->len)
		return 1;
	d->len += need;
	return 0;
}

static void
ops_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, int plus)
{
	struct ops_dir d;
	size_t cap;
	int rc;

	d = (struct ops_dir){req, ops_fs(req), NULL, size, 0, plus, 0};
	/* The kernel asks for attributes at the start of every listing.  They
	 * go only where it has looked up children before, since a walk such
	 * as find uses none (a first find of 100,000 files took 1.17x as
	 * long with them).  Replies stay short either way: the kernel asks
	 * for more attributes as soon as those it got are used, or names
	 * without them are looked up. */
	if (plus) {
		d.attrs = (inode_dir_seen(d.fs->tree, ino, 0) &
		              INODE_SEEN_LOOKUP) != 0;
		cap = d.attrs ? OPS_PLUS_MAX : OPS_PLUS_NAMES;
		if (d.size > cap)
			d.size = cap;
	}

	if ((d.buf = malloc(d.size ? d.size : 1)) == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	rc = inode_readdir(d.fs->tree, ino, off, d.attrs, ops_dirent, &d);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_buf(req, d.buf, d.len);
	free(d.buf);
}

static void
op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	/* The kernel may keep listings: it drops them itself when it
	 * changes the directory, and we tell it when anyone else does.  Only
	 * from the second opening on: keeping costs the kernel a page cache
	 * lookup per entry (a first find of 100,000 names took 1.4x as long),
	 * which a directory listed once, by a walk or a backup, never earns
	 * back. */
	fi->cache_readdir =
	    (inode_dir_seen(ops_fs(req)->tree, ino, INODE_SEEN_LISTED) &
	        INODE_SEEN_LISTED) != 0;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

static void
op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	ops_readdir(req, ino, size, off, 0);
}

static void
op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	ops_readdir(req, ino, size, off, 1);
}

static void
op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = ops_fs(req);
	struct statvfs sv;
	uint64_t keys, free_keys;

	memset(&sv, 0, sizeof sv);
	/* space is that of the file system under the store */
	if (statvfs(blt_path(fs->db), &sv) == -1)
		memset(&sv, 0, sizeof sv);
	/* the count alone: blt_stat() would hold the store's lock for a scan
	 * the first time, and df needs no byte counts of the store.  Keys are
	 * the files used (df -i's IUsed is f_files - f_ffree); free are as
	 * many as the space left holds the smallest blocks of. */
	keys = blt_count(fs->db);
	free_keys = (uint64_t)sv.f_bavail * sv.f_frsize / OPS_KEY_MIN_BYTES;
	if (keys >= OPS_KEYS_MAX)
		free_keys = 0;
	else if (free_keys > OPS_KEYS_MAX - keys)
		free_keys = OPS_KEYS_MAX - keys;
	sv.f_files = keys + free_keys;
	sv.f_ffree = free_keys;
	sv.f_favail = free_keys;
	sv.f_namemax = PATH_NAME_MAX;
	fuse_reply_statfs(req, &sv);
}

/* The operations table passed to fuse_session_new(). */
const struct fuse_lowlevel_ops ops_table = {
    .init = op_init,
    .destroy = op_destroy,
    .lookup = op_lookup,
    .forget = op_forget,
    .forget_multi = op_forget_multi,
    .getattr = op_getattr,
    .access = op_access,
    .setattr = op_setattr,
    .readlink = op_readlink,
    .mknod = op_mknod,
    .mkdir = op_mkdir,
    .unlink = op_unlink,
    .rmdir = op_rmdir,
    .symlink = op_symlink,
    .link = op_link,
    .rename = op_rename,
    .open = op_open,
    .create = op_create,
    .read = op_read,
    .write = op_write,
    .flush = op_flush,
    .release = op_release,
    .fsync = op_fsync,
    .fsyncdir = op_fsyncdir,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .readdirplus = op_readdirplus,
    .statfs = op_statfs,
};
