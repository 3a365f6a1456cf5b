/*
 * The FUSE low-level operations: thin handlers that turn kernel requests
 * into calls on the directory index (inode.c), open files (handle.c) and
 * the store.  This file has what the handlers share, the operations on a
 * node's attributes (lookup, getattr, access, setattr, statfs) and the
 * table; open files are ops-file.c's, directories and names ops-dir.c's.
 *
 * Names are resolved by the index alone; the store is read for a file's
 * size and timestamp (blt_find) and its bytes.  Renames are move.c's.
 * Every change of the store or of names (commit, create, mkdir, unlink,
 * rmdir, rename, setattr) holds fs->wlock, so the index and the store change
 * together and a commit cannot put a value under a name a rename just left.
 * Reads take no lock of ours.  Each change is flushed before the reply, so that
 * what the kernel was told survives a crash of the daemon.
 *
 * The kernel keeps names and attributes for long.
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

#include "ops-int.h"

/* st_blksize: cat and cp read and write in pieces of this size, with a
 * buffer they allocate (and fault in) per file.  128 KiB, the least they
 * use anyway: 1 MiB made cat of 1 MiB files 2x slower and cp of them 1.6x
 * (doc/benchmarks.md).  The kernel reads ahead up to max_readahead, set in
 * op_init(), whatever this says. */
#define OPS_BLKSIZE (1u << 17)
#define OPS_READAHEAD (1u << 20)

/* statfs: the bytes of the smallest block, a 1-byte key with an empty
 * value and a timestamp (format §5.1), and the most keys a store counts
 * (its header's n_keys, §2.1, whose all-ones value means an unclean
 * close): what bounds the number of files that may still be made. */
#define OPS_KEY_MIN_BYTES 33u
#define OPS_KEYS_MAX (UINT32_MAX - 1u)

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

/* Size and timestamp of file node in read from the store without waiting
 * for its lock, while another process holds it (blt_peeking()): the
 * version found is the one reads give (inode_tell(), node_read()).
 * -EAGAIN where the store cannot say at once (a prune under way): the
 * index answers then. */
static int
ops_peek_attr(
    struct fs *fs, const struct inode_info *in, uint64_t *size, int64_t *ts)
{
	struct blt_entry e;
	unsigned char *key;
	size_t klen;
	int rc;

	if (inode_key(fs->tree, in->nodeid, &key, &klen) < 0)
		return -EAGAIN; /* removed or renamed meanwhile */
	rc = blt_find_nowait(fs->db, key, klen, &e);
	free(key);
	if (rc == -ENOENT)
		return -ENOENT; /* deleted by the process that holds it */
	if (rc < 0)
		return -EAGAIN;
	inode_tell(fs->tree, in->nodeid, e.value_off, e.value_len, e.timestamp);
	*size = e.value_len;
	if (e.timestamp != BLT_NO_TS)
		*ts = e.timestamp;
	return 0;
}

/* Size and timestamp of a file node: from a pending write, else from what
 * the index knows, else from the store (and the index keeps it).  While
 * another process writes the store, or did lately, the store answers: the
 * index follows it a tick late. */
static int
ops_file_attr(
    struct fs *fs, const struct inode_info *info, uint64_t *size, int64_t *ts)
{
	struct inode_info in = *info;
	struct blt_entry e;
	int others, rc;

	if (handle_find(fs, in.nodeid, size, ts)) {
		if (*ts == BLT_NOW)
			*ts = blt_now();
		inode_tell(fs->tree, in.nodeid, 0, 0, 0); /* read from it */
		return 0;
	}
	/* a commit may have stored the file and marked it clean since info
	 * was taken (a release on another thread) */
	inode_attr_recheck(fs->tree, &in);
	*size = 0;
	*ts = fs->mtime;
	/* while another process writes, the index may lag its changes by a
	 * follow's tick: the size the kernel is told, and cuts reads at, is
	 * the stored one, found without waiting (ops_peek_attr()) */
	others = ops_others(fs);
	if (!fs->decode && blt_peeking(fs->db) && others &&
	    (rc = ops_peek_attr(fs, &in, size, ts)) != -EAGAIN)
		return rc;
	/* and while the mount holds the lock (a write or a prune of its
	 * own), by the store's index: the mount's may still name a key the
	 * other process deleted, with a size whose read would give nothing
	 * (tests/mount-history.sh read b'' through a prune) */
	if (in.attr && (!others || blt_peeking(fs->db))) {
		*size = in.size;
		if (in.ts != BLT_NO_TS)
			*ts = in.ts;
		/* the kernel keeps this size, for long while nobody else
		 * writes (ops_attr_timeout()), maybe past the moment another
		 * process starts to: a read then gives no longer value,
		 * which the kernel would cut at it (node_read_now(), EBUSY);
		 * CI's tests/mount-peek.sh read a key's second version cut
		 * at its first's size, told before the writer began */
		if (fs->follow != NULL && !fs->decode)
			inode_tell(fs->tree, in.nodeid, INODE_TOLD_SIZE,
			    in.size, in.ts);
		/* a decode mount shows the text's size, not the value's */
		return fs->decode ? decode_size(fs, &in, size) : 0;
	}
	rc = node_find(fs, in.nodeid, 1, &e);
	/* a node removed (an open file unlinked): an empty file, but gone if
	 * another process that holds the store deleted it */
	if (rc == -ESTALE)
		return blt_peeking(fs->db) ? -ENOENT : 0;
	/* ENOENT: a file being written is handle_find()'s above, so this
	 * key another process deleted (or cleared), its name not swept yet,
	 * whether the mount holds the lock now or not (an empty file here
	 * read as b'' in tests/mount-history.sh); else an error, logged by
	 * node_find() */
	if (rc < 0)
		return rc;
	inode_fill_attr(fs->tree, in.nodeid, in.aver, e.value_len, e.timestamp);
	/* the reads of what the kernel now believes read this value, while
	 * another process writes (node_read()) */
	inode_tell(fs->tree, in.nodeid, e.value_off, e.value_len, e.timestamp);
	*size = e.value_len;
	if (e.timestamp != BLT_NO_TS)
		*ts = e.timestamp;
	return fs->decode ? decode_size(fs, &in, size) : 0;
}

/* The permission bits of the node in: those a create, mkdir or chmod
 * gave it in this mount, else the mount's (-o umask).  A file's never
 * include x or the set-id bits: no file can run from the mount, and
 * access(X_OK) says so (op_access()).  A directory keeps its sticky bit,
 * with which the kernel lets only a file's owner remove or rename it
 * there once others may enter (main.c). */
static mode_t
ops_perm(const struct fs *fs, const struct inode_info *in)
{
	mode_t all = in->type == INODE_DIR ? S_ISVTX | 0777 : 0666;

	if (in->mode & INODE_MODE_SET)
		return (mode_t)in->mode & all;
	return all & 0777 & ~fs->umask;
}

/* Fill st for the node in: owner from the mount options, mode from
 * ops_perm(). */
static int
ops_stat(struct fs *fs, const struct inode_info *in, struct stat *st)
{
	uint64_t size = 0;
	int64_t ts = fs->mtime;
	int rc;

	memset(st, 0, sizeof *st);
	st->st_ino = in->ino;
	st->st_nlink = in->nlink;
	st->st_uid = in->mode & INODE_UID_SET ? (uid_t)in->uid : fs->uid;
	st->st_gid = in->mode & INODE_GID_SET ? (gid_t)in->gid : fs->gid;
	st->st_blksize = OPS_BLKSIZE;
	if (in->type == INODE_DIR) {
		st->st_mode = S_IFDIR | ops_perm(fs, in);
		if (in->ts != BLT_NO_TS)
			ts = in->ts;
	} else {
		/* a decode mount whose values cannot be written from text
		 * shows its files read-only, as open for writing says */
		st->st_mode =
		    S_IFREG | (decode_readonly(fs) ? ops_perm(fs, in) & 0444
		                                   : ops_perm(fs, in));
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

/* The kernel keeps nothing while the index is built lazily: a name not
 * met yet may still be a directory, and their link counts grow. */
static double
ops_timeout(struct fs *fs)
{
	return lazy_building(fs) ? 0 : fs->timeout;
}

/* How long the kernel may keep a file's size.  Not at all while another
 * process writes the store (ops_others()): the kernel then asks again
 * before each read that could pass the end it knows, and is told the
 * stored version's (ops_peek_attr()), which the read then gives whole
 * (node_read()). */
static double
ops_attr_timeout(struct fs *fs)
{
	return ops_others(fs) ? 0 : ops_timeout(fs);
}

int
ops_entry(
    struct fs *fs, const struct inode_info *in, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof *e);
	e->ino = in->nodeid;
	e->generation = in->gen;
	e->attr_timeout = ops_attr_timeout(fs);
	e->entry_timeout = ops_timeout(fs);
	return ops_stat(fs, in, &e->attr);
}

/* Reply with the entry of in, which holds a lookup reference for the
 * kernel; the reference is dropped if the reply cannot be made. */
void
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
void
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

/* Log the message of an unexpected failure of the index or the store. */
int
ops_fail(int rc, const char *msg)
{
	if (rc != -ENOENT && rc != -EEXIST && rc != -ENOTEMPTY &&
	    rc != -ENOTDIR && rc != -EISDIR)
		fs_log("%s", msg);
	return rc;
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
	 * kernel to drop the pages it keeps of them (ctl_snap in ctl-text.c):
	 * the kernel drops them itself, in the reader's thread, while this
	 * daemon may still have to answer a read of them. */
	if (fs->ro && (conn->capable & FUSE_CAP_AUTO_INVAL_DATA))
		conn->want |= FUSE_CAP_AUTO_INVAL_DATA;
	else
		conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	fs->lookup_hold = getenv("BLTFS_LOOKUP_HOLD");
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

/* For a lookup of a name the index has not (yet) got: the key of name in
 * parent as a file (PATH_SELF's is its directory's path), asked of the
 * store's hash index.  1 if the store has it, with *key (the caller frees
 * it) and, if e is not NULL, *e; 0 if it has not, or name is no key's
 * file name, or the store cannot tell without its lock (a prune by
 * another process under way: the caller may hold fs->wlock, which the
 * followers of the lock's holder want); or an error, logged. */
static int
ops_stored_file(struct fs *fs, uint64_t parent, const char *name, size_t nlen,
    unsigned char **key, size_t *klen, struct blt_entry *e)
{
	struct blt_entry found;
	int rc;

	rc = inode_child_key(
	    fs->tree, parent, name, nlen, INODE_FILE, key, klen);
	if (rc == -EINVAL || rc == -ENAMETOOLONG)
		return 0; /* no key's file name: a piece of a long one? */
	if (rc < 0)
		return rc;
	rc = blt_find_nowait(fs->db, *key, *klen, e != NULL ? e : &found);
	rc = rc == 0 ? 1 : rc == -ENOENT || rc == -EAGAIN ? 0 : rc;
	if (rc == 1)
		return 1;
	free(*key);
	return rc < 0 ? ops_fail(rc, blt_errmsg()) : 0;
}

/* During a lazy build (-o lazy), name in parent as a file the store has:
 * 1 with in filled, 0 if the store has no such key, -EAGAIN once the
 * build has ended, or an error. */
static int
ops_lookup_key(struct fs *fs, uint64_t parent, const char *name, size_t nlen,
    struct inode_info *in)
{
	unsigned char *key;
	size_t klen;
	int rc;

	if ((rc = ops_stored_file(fs, parent, name, nlen, &key, &klen, NULL)) <=
	    0)
		return rc;
	free(key);
	rc = inode_lookup_unscanned(fs->tree, parent, name, nlen, in);
	return rc < 0 ? rc : 1;
}

/* A lookup of a name the index, still being built, has not met: a file if
 * the store has its key (PATH_SELF's is its directory's path); else, once
 * the index holds every directory, no name; before, once a step of the
 * sample (lazy_sample()) or of the build put in more directories, a
 * directory met by then, or another look.  inode_lookup()'s returns. */
static int
ops_lookup_unscanned(struct fs *fs, uint64_t parent, const char *name,
    size_t nlen, struct inode_info *in)
{
	unsigned long seen;
	int rc, known;

	for (;;) {
		seen = lazy_moves(fs);
		known = lazy_dirs_known(fs);
		if ((rc = ops_lookup_key(fs, parent, name, nlen, in)) == 1)
			return 0;
		if (rc < 0 && rc != -EAGAIN)
			return rc;
		if (rc == 0 && !known && !lazy_sample(fs) &&
		    (rc = lazy_wait_move(fs, seen)) < 0)
			return rc;
		rc = inode_lookup(fs->tree, parent, name, nlen, 1, in);
		if (rc != -EAGAIN)
			return rc;
		if (known) /* no key, no directory */
			return -ENOENT;
	}
}

/* While a rescan (fs/ctl/rescan.c) has not put every key of the store
 * into the index, or while another process may have put a key that the
 * mount's thread has not followed yet: name in parent as a file the store
 * has, which goes into the index now.  inode_lookup()'s returns; -ENOENT
 * if the store has no such key either. */
static int
ops_lookup_behind(struct fs *fs, uint64_t parent, const char *name, size_t nlen,
    struct inode_info *in)
{
	int rc;

	/* under the lock of changes: an unlink may not come in between */
	pthread_mutex_lock(&fs->wlock);
	rc = ops_learn_behind(fs, parent, name, nlen);
	pthread_mutex_unlock(&fs->wlock);
	return rc < 0 ? rc : inode_lookup(fs->tree, parent, name, nlen, 1, in);
}

int
ops_behind(struct fs *fs)
{
	return fs->follow != NULL ||
	       atomic_load(&fs->rescan) == FS_RESCAN_READING;
}

int
ops_learn_behind(struct fs *fs, uint64_t parent, const char *name, size_t nlen)
{
	struct blt_entry e;
	unsigned char *key;
	size_t klen;
	int rc;

	rc = ops_stored_file(fs, parent, name, nlen, &key, &klen, &e);
	if (rc == 0)
		return -ENOENT; /* the store has no such key either */
	if (rc < 0)
		return rc;
	if ((rc = inode_put_key(fs->tree, key, klen, e.value_len, NULL, NULL)) <
	    0)
		ops_fail(rc, blt_errmsg());
	free(key);
	return rc;
}

static void
op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = ops_fs(req);
	struct fuse_entry_param e;
	struct inode_info in;
	size_t nlen = strlen(name);
	int rc, again;

	/* the kernel leaves NAME_MAX to us: a longer name is no name of
	 * ours, and saying ENOENT would make creating it look possible */
	if (nlen > PATH_NAME_MAX) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	if (fs->lookup_hold != NULL && strcmp(name, "held") == 0)
		fs_test_hold("BLTFS_LOOKUP_HOLD", fs->lookup_hold);
	rc = inode_lookup(fs->tree, parent, name, nlen, 1, &in);
	if (rc == -EAGAIN)
		rc = ops_lookup_unscanned(fs, parent, name, nlen, &in);
	/* a store shared with a writer: what it put a moment ago is found,
	 * as a path a rescan has not reached yet is */
	if (rc == -ENOENT && ops_behind(fs))
		rc = ops_lookup_behind(fs, parent, name, nlen, &in);
	if (rc == -ENOENT) {
		/* The kernel keeps this answer, so a name put in behind its
		 * back (fs/ctl/job-notes.c) is told to it where one was
		 * given: the mark, then a last look.  A name put in after
		 * that look sees the mark (the fences order the two threads'
		 * mark and name), and one put in before it is found. */
		(void)inode_dir_seen(fs->tree, parent, INODE_SEEN_MISSED);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		again = inode_lookup(fs->tree, parent, name, nlen, 1, &in);
		if (again != -EAGAIN) /* a build found no such name */
			rc = again;
	}
	if (rc == -ENOENT) {
		/* cached: every other change of names comes through us, or
		 * is told to the kernel (another process's: follow.c) */
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
	double timeout = ops_attr_timeout(fs);
	struct inode_info in;
	struct stat st;
	uint64_t size;
	int64_t ts;
	int rc, told = 0;

	if ((rc = inode_stat(fs->tree, ino, &in)) < 0 && rc != -ESTALE) {
		fuse_reply_err(req, -rc);
		return;
	}
	rc = ops_stat(fs, &in, &st);
	/* a process that reads the file past the page cache is told the
	 * size of the version it reads (fstat(2) sends no handle) */
	if (in.type != INODE_DIR)
		told = handle_told_size(
		    fs, ino, fuse_req_ctx(req)->pid, &size, &ts);
	if (told > 0) {
		st.st_size = (off_t)size;
		st.st_blocks = (blkcnt_t)((size + 511) / 512);
	}
	/* its key deleted by another process since: the file lives on for
	 * it, unlinked, as on any file system (ops_stat() filled the rest
	 * before it found the key gone) */
	if (told > 0 && (rc == -ENOENT || rc == -ESTALE)) {
		st.st_nlink = 0;
		ops_timespec(ts == BLT_NO_TS ? fs->mtime : ts, &st.st_mtim);
		st.st_atim = st.st_mtim;
		st.st_ctim = st.st_mtim;
		rc = 0;
	}
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	fuse_reply_attr(req, &st, timeout);
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

	if (decode_readonly(fs))
		return -EACCES;
	if ((rc = handle_create(fs, nodeid, O_WRONLY, 0, &h)) < 0)
		return rc;
	if ((rc = handle_truncate(h, size)) == 0)
		rc = handle_commit(h);
	handle_free(h);
	return rc < 0 ? rc : 0;
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
	/* A mode, and where others may enter an owner, is kept in the node
	 * for the mount's life (inode_set_mode()), never stored: the kernel
	 * checks it for everyone it lets in where checks are on (main.c),
	 * and a remount shows the mount's again (bltfs(1), -o umask).  Who
	 * may change them is the kernel's to check, as for any attribute.
	 * Elsewhere the owner is the mount's, and only it can be set. */
	rc = -EPERM;
	if ((to_set & FUSE_SET_ATTR_UID) && !fs->own_uid &&
	    attr->st_uid != fs->uid)
		goto fail;
	if ((to_set & FUSE_SET_ATTR_GID) && !fs->own_gid &&
	    attr->st_gid != fs->gid)
		goto fail;
	rc = -EROFS;
	if (fs->ro && (to_set & (FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_MTIME |
	                            FUSE_SET_ATTR_MTIME_NOW)))
		goto fail;
	if (to_set & FUSE_SET_ATTR_SIZE) {
		rc = -EISDIR;
		if (in.type == INODE_DIR)
			goto fail;
		if (fi != NULL && ops_handle(fi) != NULL) {
			handle_changed_by(
			    ops_handle(fi), fuse_req_ctx(req)->pid);
			rc = handle_truncate(
			    ops_handle(fi), (uint64_t)attr->st_size);
		} else
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
	if (to_set & FUSE_SET_ATTR_MODE)
		inode_set_mode(fs->tree, ino, (unsigned)attr->st_mode);
	if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))
		inode_set_owner(fs->tree, ino,
		    (to_set & FUSE_SET_ATTR_UID) && fs->own_uid
		        ? (uint32_t)attr->st_uid
		        : INODE_NO_ID,
		    (to_set & FUSE_SET_ATTR_GID) && fs->own_gid
		        ? (uint32_t)attr->st_gid
		        : INODE_NO_ID);
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

/* df's sizes: Used is the store file's (the header's size: no scan, no
 * flush), Avail the free space of the file system under it, which is
 * what the store may still grow into, and Size the two together.  Free
 * is Avail, so that df's Used (Size - Free) is the store's alone, not
 * the blocks that file system keeps for root. */
static void
ops_statfs_space(struct fs *fs, struct statvfs *sv)
{
	struct blt_stat st;
	uint64_t used;

	if (sv->f_frsize == 0)
		sv->f_frsize = sv->f_bsize != 0 ? sv->f_bsize : 4096;
	if (sv->f_bsize == 0)
		sv->f_bsize = sv->f_frsize;
	(void)blt_info(fs->db, &st);
	used = (st.file_bytes + sv->f_frsize - 1) / sv->f_frsize;
	sv->f_bfree = sv->f_bavail;
	sv->f_blocks = (fsblkcnt_t)used + sv->f_bavail;
}

static void
op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = ops_fs(req);
	struct statvfs sv;
	uint64_t keys, free_keys;
	int64_t count;

	memset(&sv, 0, sizeof sv);
	/* space is that of the file system under the store */
	if (statvfs(blt_path(fs->db), &sv) == -1)
		memset(&sv, 0, sizeof sv);
	ops_statfs_space(fs, &sv);
	/* the count alone: blt_stat() would hold the store's lock for a scan
	 * the first time, and df needs no byte counts of the store.  Keys are
	 * the files used (df -i's IUsed is f_files - f_ffree); free are as
	 * many as the space left holds the smallest blocks of. */
	if ((count = blt_count(fs->db)) < 0) {
		fs_log("statfs: %s", blt_errmsg());
		fuse_reply_err(req, (int)-count);
		return;
	}
	keys = (uint64_t)count;
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
