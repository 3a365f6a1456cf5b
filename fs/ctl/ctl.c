/*
 * The control interface: the control directory (/.bltfs, -o ctl=NAME) and
 * the ioctls of bltfs.h (ctl-ioctl.c), both of which run the same commands.
 *
 * The control directory is not in the directory index.  Its nodes have
 * nodeids with the top bit set, which no node of the index (whose nodeids
 * are addresses) can have, and ctl_ops() wraps the operations table of
 * ops.c so that every request for them is answered here and never reaches
 * ops.c: a new operation that takes a nodeid must be wrapped here too.
 * They are reachable by name and never listed in the root, so cp -r, tar
 * and rsync of a mount never copy them:
 *
 *	NAME/ctl	a transaction file: each write is one command, and
 *			reads on the same open file give its reply
 *	NAME/status	JSON about the store, the mount and the jobs
 *	NAME/jobs/ID	JSON about one job (job.c)
 *
 * The contents of status and jobs/ID are made when they are opened, and
 * every control file is direct_io, so each open sees the present.  A
 * read-only mount has no opens (op_open()): there each of them is a
 * snapshot made when the kernel asks for its attributes (ctl-text.c).
 *
 * Only the user who mounted (or root) may run commands: a map runs commands
 * as the daemon's user.  Anyone else gets EPERM, from the write or the
 * ioctl, whatever the modes and -o allow_other say.  Only they may see
 * status and jobs too: the files are theirs with mode 0400 (ctl_stat()),
 * and the ioctls that tell the same refuse the others with EPERM.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bltfs.h"
#include "ctl-int.h"
#include "bltutil.h"

/* An open control file: the reply to the last command (ctl), or the
 * snapshot made at open (status, jobs/ID). */
struct ctl_file {
	struct ctl_file *prev, *next; /* in ctl->files */
	uint64_t node;
	pthread_mutex_t lock;
	char *buf;
	size_t len;
	size_t pos; /* ctl: the reply is read from here on */
};

/* Put f among c's open files. */
static void
ctl_file_opened(struct ctl *c, struct ctl_file *f)
{
	pthread_mutex_lock(&c->files_lock);
	f->next = c->files;
	if (f->next != NULL)
		f->next->prev = f;
	c->files = f;
	pthread_mutex_unlock(&c->files_lock);
}

/* Take f out of c's open files, and free it. */
static void
ctl_file_close(struct ctl *c, struct ctl_file *f)
{
	pthread_mutex_lock(&c->files_lock);
	if (f->prev != NULL)
		f->prev->next = f->next;
	else
		c->files = f->next;
	if (f->next != NULL)
		f->next->prev = f->prev;
	pthread_mutex_unlock(&c->files_lock);
	free(f->buf);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

static struct fs *
ctl_fs(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* The table ctl_ops() wraps: ops.c's, for the nodes of the index. */
static const struct fuse_lowlevel_ops *
ctl_base(fuse_req_t req)
{
	return ctl_fs(req)->ctl->base;
}

static void ctl_wrap(struct ctl *c, const struct fuse_lowlevel_ops *base);

/* Set up the control interface of fs, wrapping base. */
int
ctl_create(
    struct fs *fs, const struct fuse_lowlevel_ops *base, struct ctl **out)
{
	struct ctl *c;

	if ((c = calloc(1, sizeof *c)) == NULL)
		return blt_errmsg_set(
		    -ENOMEM, "control interface: out of memory");
	c->fs = fs;
	c->owner = getuid();
	ctl_wrap(c, base);
	pthread_mutex_init(&c->snap_lock, NULL);
	pthread_mutex_init(&c->files_lock, NULL);
	*out = c;
	return 0;
}

/* Start the job runner. */
int
ctl_start(struct ctl *c)
{
	return job_runner_create(c->fs, &c->jobs);
}

/* The operations table with the control interface. */
const struct fuse_lowlevel_ops *
ctl_ops(struct ctl *c)
{
	return &c->table;
}

/* Stop the job runner. */
void
ctl_stop(struct ctl *c)
{
	if (c != NULL)
		job_runner_stop(c->jobs);
}

/* Stop and free. */
void
ctl_free(struct ctl *c)
{
	if (c == NULL)
		return;
	job_runner_free(c->jobs);
	ctl_snaps_free(c);
	pthread_mutex_destroy(&c->snap_lock);
	while (c->files != NULL)
		ctl_file_close(c, c->files);
	pthread_mutex_destroy(&c->files_lock);
	free(c);
}

static int
ctl_stat(struct fs *fs, uint64_t node, struct stat *st)
{
	memset(st, 0, sizeof *st);
	st->st_ino = node;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	if (node == CTL_DIR) {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 3;
	} else if (node == CTL_CTL) {
		/* anyone may open it: the daemon decides who may write */
		st->st_mode = S_IFREG | 0666;
		st->st_nlink = 1;
	} else if (node == CTL_JOBS || node == CTL_STATUS ||
	           (node & CTL_JOB_BIT)) {
		/* The user who may run jobs, and root, only: a job shows its
		 * command line, its keys and the first lines its command
		 * wrote to standard error, which can hold what the modes of
		 * the files keep from others. */
		st->st_uid = fs->ctl->owner;
		st->st_mode =
		    node == CTL_JOBS ? S_IFDIR | 0500 : S_IFREG | 0400;
		st->st_nlink = node == CTL_JOBS ? 2 : 1;
	} else
		return -ENOENT;
	st->st_blksize = 4096;
	st->st_mtim.tv_sec = time(NULL);
	if (fs->ro && ctl_has_text(node))
		return ctl_snap_stat(fs, node, st);
	st->st_atim = st->st_mtim;
	st->st_ctim = st->st_mtim;
	return 0;
}

static void
ctl_reply_entry(fuse_req_t req, struct fs *fs, uint64_t node)
{
	struct fuse_entry_param e;
	int rc;

	memset(&e, 0, sizeof e);
	e.ino = node;
	e.generation = 1;
	/* no caching: jobs come and go, and status changes all the time */
	if ((rc = ctl_stat(fs, node, &e.attr)) < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_entry(req, &e);
}

static int
ctl_is_ctl_name(struct fs *fs, const char *name)
{
	return path_is_ctl(inode_conf(fs->tree), name, strlen(name));
}

static void
ctl_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = ctl_fs(req);
	uint64_t id;

	if (parent == INODE_ROOT && ctl_is_ctl_name(fs, name)) {
		ctl_reply_entry(req, fs, CTL_DIR);
		return;
	}
	if (!ctl_is(parent)) {
		ctl_base(req)->lookup(req, parent, name);
		return;
	}
	if (parent == CTL_DIR && strcmp(name, "ctl") == 0)
		ctl_reply_entry(req, fs, CTL_CTL);
	else if (parent == CTL_DIR && strcmp(name, "status") == 0)
		ctl_reply_entry(req, fs, CTL_STATUS);
	else if (parent == CTL_DIR && strcmp(name, "jobs") == 0)
		ctl_reply_entry(req, fs, CTL_JOBS);
	else if (parent == CTL_JOBS && name[0] != '0' &&
	         timearg_number(name, CTL_JOB_BIT - 1, &id) == 0 &&
	         ctl_job_exists(fs, id))
		ctl_reply_entry(req, fs, ctl_job_node(id));
	else if (parent == CTL_DIR || parent == CTL_JOBS)
		fuse_reply_err(req, ENOENT);
	else
		fuse_reply_err(req, ENOTDIR);
}

static void
ctl_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	/* the control nodes live as long as the mount */
	if (ctl_is(ino))
		fuse_reply_none(req);
	else
		ctl_base(req)->forget(req, ino, nlookup);
}

static void
ctl_op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *f)
{
	size_t i, n = 0;

	for (i = 0; i < count; i++)
		if (!ctl_is(f[i].ino))
			f[n++] = f[i];
	if (n == 0)
		fuse_reply_none(req);
	else
		ctl_base(req)->forget_multi(req, n, f);
}

static void
ctl_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;
	int rc;

	if (!ctl_is(ino)) {
		ctl_base(req)->getattr(req, ino, fi);
		return;
	}
	if ((rc = ctl_stat(ctl_fs(req), ino, &st)) < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, 0);
}

static void
ctl_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
    struct fuse_file_info *fi)
{
	struct stat st;

	if (!ctl_is(ino)) {
		ctl_base(req)->setattr(req, ino, attr, to_set, fi);
		return;
	}
	/* `echo cmd > ctl` may truncate first: nothing to cut */
	if (ino != CTL_CTL || (to_set & ~FUSE_SET_ATTR_SIZE) != 0) {
		fuse_reply_err(req, EPERM);
		return;
	}
	ctl_stat(ctl_fs(req), ino, &st);
	fuse_reply_attr(req, &st, 0);
}

static struct ctl_file *
ctl_file(const struct fuse_file_info *fi)
{
	return (struct ctl_file *)(uintptr_t)fi->fh;
}

static void
ctl_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = ctl_fs(req);
	struct ctl_file *f;
	int rc = 0;

	if (!ctl_is(ino)) {
		ctl_base(req)->open(req, ino, fi);
		return;
	}
	if (ino == CTL_DIR || ino == CTL_JOBS) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if (ino != CTL_CTL && (fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EACCES);
		return;
	}
	if (fs->ro) { /* no opens on a read-only mount: see op_open() */
		fuse_reply_err(req, ENOSYS);
		return;
	}
	if ((f = calloc(1, sizeof *f)) == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	f->node = ino;
	pthread_mutex_init(&f->lock, NULL);
	if (ctl_has_text(ino)) {
		/* a read-only open holds nothing (fs/mount/request.c): the
		 * store is read as a request that reads it would be, without
		 * the lock, not through a map another process changed */
		(void)blt_hold_peek(fs->db);
		rc = ctl_text(fs, ino, &f->buf, &f->len);
		blt_unhold_unused(fs->db);
	}
	if (rc < 0) {
		pthread_mutex_destroy(&f->lock);
		free(f);
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uintptr_t)f;
	fi->direct_io = 1;
	fi->keep_cache = 0;
	fi->nonseekable = ino == CTL_CTL;
	/* a text read (status, a job's) has nothing to flush, and a flush
	 * would hold a shared store as a change does (fs/mount/request.c) */
	fi->noflush = (fi->flags & O_ACCMODE) == O_RDONLY;
	/* listed before the reply: a release may follow it at once */
	ctl_file_opened(fs->ctl, f);
	if (fuse_reply_open(req, fi) != 0)
		ctl_file_close(fs->ctl, f);
}

static void
ctl_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	struct ctl_file *f;
	size_t start, n;
	char *copy;

	if (!ctl_is(ino)) {
		ctl_base(req)->read(req, ino, size, off, fi);
		return;
	}
	if ((f = ctl_file(fi)) == NULL) {
		ctl_snap_read(req, ctl_fs(req), ino, size, off);
		return;
	}
	pthread_mutex_lock(&f->lock);
	/* the reply of a transaction file is read from its start, wherever
	 * the write left the file's offset */
	start = f->node == CTL_CTL       ? f->pos
	        : (uint64_t)off < f->len ? (size_t)off
	                                 : f->len;
	n = f->len - start < size ? f->len - start : size;
	/* replied from a copy, after the unlock: once the reader has its
	 * bytes it may close, and the release free f, before we return */
	if ((copy = malloc(n ? n : 1)) != NULL) {
		memcpy(copy, n > 0 ? f->buf + start : "", n);
		if (f->node == CTL_CTL)
			f->pos += n;
	}
	pthread_mutex_unlock(&f->lock);
	if (copy == NULL)
		fuse_reply_err(req, ENOMEM);
	else
		fuse_reply_buf(req, copy, n);
	free(copy);
}

/* One command written to ctl: run it and keep the reply for reads. */
static void
ctl_write(fuse_req_t req, struct ctl_file *f, const char *buf, size_t size)
{
	struct fs *fs = ctl_fs(req);
	char *text, reply[BLTFS_TEXT_MAX];
	uint64_t job;
	int rc;

	if (f == NULL || f->node != CTL_CTL) {
		fuse_reply_err(req, EBADF);
		return;
	}
	if (size >= BLTFS_TEXT_MAX) {
		blt_errmsg_set(-EINVAL, "a command of more than %d bytes",
		    BLTFS_TEXT_MAX - 1);
		snprintf(reply, sizeof reply, "error: %s\n", blt_errmsg());
		rc = -EINVAL;
	} else if ((text = strndup(buf, size)) == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	} else if (strlen(text) != size) {
		free(text);
		blt_errmsg_set(-EINVAL, "a command with a NUL byte");
		snprintf(reply, sizeof reply, "error: %s\n", blt_errmsg());
		rc = -EINVAL;
	} else {
		rc = ctl_command(fs, fuse_req_ctx(req)->uid, text, reply,
		    sizeof reply, &job);
		free(text);
	}
	pthread_mutex_lock(&f->lock);
	free(f->buf);
	f->buf = strdup(reply);
	f->len = f->buf != NULL ? strlen(f->buf) : 0;
	f->pos = 0;
	pthread_mutex_unlock(&f->lock);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_write(req, size);
}

static void
ctl_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
    off_t off, struct fuse_file_info *fi)
{
	if (!ctl_is(ino))
		ctl_base(req)->write(req, ino, buf, size, off, fi);
	else
		ctl_write(req, ctl_file(fi), buf, size);
}

static void
ctl_op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *bufv,
    off_t off, struct fuse_file_info *fi)
{
	struct fuse_bufvec dst = FUSE_BUFVEC_INIT(fuse_buf_size(bufv));
	char *mem;
	ssize_t n;

	if (!ctl_is(ino)) {
		ctl_base(req)->write_buf(req, ino, bufv, off, fi);
		return;
	}
	if ((mem = malloc(dst.buf[0].size + 1)) == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	dst.buf[0].mem = mem;
	if ((n = fuse_buf_copy(&dst, bufv, 0)) < 0)
		fuse_reply_err(req, (int)-n);
	else
		ctl_write(req, ctl_file(fi), mem, (size_t)n);
	free(mem);
}

static void
ctl_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (!ctl_is(ino))
		ctl_base(req)->flush(req, ino, fi);
	else /* nothing to commit: see op_flush() */
		fuse_reply_err(req, ctl_fs(req)->ro ? ENOSYS : 0);
}

static void
ctl_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ctl_file *f;

	if (!ctl_is(ino)) {
		ctl_base(req)->release(req, ino, fi);
		return;
	}
	if ((f = ctl_file(fi)) != NULL)
		ctl_file_close(ctl_fs(req)->ctl, f);
	fuse_reply_err(req, 0);
}

static void
ctl_op_fsync(
    fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	if (!ctl_is(ino))
		ctl_base(req)->fsync(req, ino, datasync, fi);
	else
		fuse_reply_err(req, 0);
}

static void
ctl_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (!ctl_is(ino)) {
		if (ctl_base(req)->opendir != NULL)
			ctl_base(req)->opendir(req, ino, fi);
		else
			fuse_reply_open(req, fi);
		return;
	}
	if (ino != CTL_DIR && ino != CTL_JOBS) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	fi->fh = 0;
	fuse_reply_open(req, fi);
}

static void
ctl_op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (!ctl_is(ino) && ctl_base(req)->releasedir != NULL)
		ctl_base(req)->releasedir(req, ino, fi);
	else
		fuse_reply_err(req, 0);
}

static void
ctl_op_fsyncdir(
    fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	if (!ctl_is(ino))
		ctl_base(req)->fsyncdir(req, ino, datasync, fi);
	else
		fuse_reply_err(req, 0);
}

/* Add one entry; 1 when the buffer is full. */
static int
ctl_dirent(fuse_req_t req, struct fs *fs, char *buf, size_t size, size_t *len,
    const char *name, uint64_t node, off_t next, int plus)
{
	struct fuse_entry_param e;
	size_t need;

	memset(&e, 0, sizeof e);
	ctl_stat(fs, node, &e.attr);
	if (plus) {
		/* "." and ".." take no lookup reference */
		if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0)
			e.ino = node;
		need = fuse_add_direntry_plus(
		    req, buf + *len, size - *len, name, &e, next);
	} else
		need = fuse_add_direntry(
		    req, buf + *len, size - *len, name, &e.attr, next);
	if (need > size - *len)
		return 1;
	*len += need;
	return 0;
}

static void
ctl_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi, int plus)
{
	static const char *const names[] = {".", "..", "ctl", "status", "jobs"};
	static const uint64_t nodes[] = {
	    CTL_DIR, INODE_ROOT, CTL_CTL, CTL_STATUS, CTL_JOBS};
	struct fs *fs = ctl_fs(req);
	uint64_t *ids = NULL;
	size_t n = 0, len = 0, i;
	char *buf, name[32];

	if (!ctl_is(ino)) {
		if (plus)
			ctl_base(req)->readdirplus(req, ino, size, off, fi);
		else
			ctl_base(req)->readdir(req, ino, size, off, fi);
		return;
	}
	if ((buf = malloc(size ? size : 1)) == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (ino == CTL_DIR) {
		for (i = (size_t)off; i < 5; i++)
			if (ctl_dirent(req, fs, buf, size, &len, names[i],
			        nodes[i], (off_t)i + 1, plus))
				break;
	} else if (job_ids(fs->ctl->jobs, &ids, &n) < 0) {
		free(buf);
		fuse_reply_err(req, ENOMEM);
		return;
	} else {
		/* offsets: 1 and 2 after the dots, then a job's id + 2 */
		if (off < 1 && ctl_dirent(req, fs, buf, size, &len, ".",
		                   CTL_JOBS, 1, plus))
			goto done;
		if (off < 2 && ctl_dirent(req, fs, buf, size, &len, "..",
		                   CTL_DIR, 2, plus))
			goto done;
		for (i = 0; i < n; i++) {
			if ((off_t)(ids[i] + 2) <= off)
				continue;
			snprintf(name, sizeof name, "%" PRIu64, ids[i]);
			if (ctl_dirent(req, fs, buf, size, &len, name,
			        ctl_job_node(ids[i]), (off_t)(ids[i] + 2),
			        plus))
				break;
		}
	}
done:
	fuse_reply_buf(req, buf, len);
	free(buf);
	free(ids);
}

static void
ctl_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	ctl_readdir(req, ino, size, off, fi, 0);
}

static void
ctl_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	ctl_readdir(req, ino, size, off, fi, 1);
}

/* Names in the control directory cannot be made, removed or renamed. */
static int
ctl_refuse(fuse_req_t req, fuse_ino_t parent)
{
	if (!ctl_is(parent))
		return 0;
	fuse_reply_err(req, EPERM);
	return 1;
}

static void
ctl_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
    dev_t rdev)
{
	if (!ctl_refuse(req, parent))
		ctl_base(req)->mknod(req, parent, name, mode, rdev);
}

static void
ctl_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	if (!ctl_refuse(req, parent))
		ctl_base(req)->mkdir(req, parent, name, mode);
}

static void
ctl_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	if (ctl_refuse(req, parent))
		return;
	if (parent == INODE_ROOT && ctl_is_ctl_name(ctl_fs(req), name))
		fuse_reply_err(req, EISDIR);
	else
		ctl_base(req)->unlink(req, parent, name);
}

static void
ctl_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	if (ctl_refuse(req, parent))
		return;
	if (parent == INODE_ROOT && ctl_is_ctl_name(ctl_fs(req), name))
		fuse_reply_err(req, EPERM);
	else
		ctl_base(req)->rmdir(req, parent, name);
}

static void
ctl_op_symlink(
    fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	if (!ctl_refuse(req, parent))
		ctl_base(req)->symlink(req, link, parent, name);
}

static void
ctl_op_link(
    fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	if (!ctl_refuse(req, ino) && !ctl_refuse(req, newparent))
		ctl_base(req)->link(req, ino, newparent, newname);
}

static void
ctl_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
    fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	if (ctl_refuse(req, parent) || ctl_refuse(req, newparent))
		return;
	if (parent == INODE_ROOT && ctl_is_ctl_name(ctl_fs(req), name))
		fuse_reply_err(req, EPERM);
	else
		ctl_base(req)->rename(
		    req, parent, name, newparent, newname, flags);
}

static void
ctl_op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
    struct fuse_file_info *fi)
{
	if (!ctl_refuse(req, parent))
		ctl_base(req)->create(req, parent, name, mode, fi);
}

static void
ctl_op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	if (ctl_is(ino))
		fuse_reply_err(req, EINVAL);
	else
		ctl_base(req)->readlink(req, ino);
}

static void
ctl_op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
    struct fuse_file_info *fi)
{
	if (ctl_is(ino))
		fuse_reply_err(req, ESPIPE);
	else
		ctl_base(req)->lseek(req, ino, off, whence, fi);
}

static void
ctl_op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
    struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
    struct fuse_file_info *fi_out, size_t len, int flags)
{
	if (ctl_is(ino_in) || ctl_is(ino_out))
		fuse_reply_err(req, EXDEV); /* the caller copies by hand */
	else
		ctl_base(req)->copy_file_range(req, ino_in, off_in, fi_in,
		    ino_out, off_out, fi_out, len, flags);
}

static void
ctl_op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
    off_t length, struct fuse_file_info *fi)
{
	if (ctl_is(ino))
		fuse_reply_err(req, EOPNOTSUPP);
	else
		ctl_base(req)->fallocate(req, ino, mode, offset, length, fi);
}

static void
ctl_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	if (ctl_is(ino))
		fuse_reply_err(req, ENODATA);
	else
		ctl_base(req)->getxattr(req, ino, name, size);
}

static void
ctl_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	if (!ctl_is(ino))
		ctl_base(req)->listxattr(req, ino, size);
	else if (size == 0)
		fuse_reply_xattr(req, 0);
	else
		fuse_reply_buf(req, NULL, 0);
}

static void
ctl_op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	if (ctl_is(ino))
		fuse_reply_err(req, 0);
	else
		ctl_base(req)->access(req, ino, mask);
}

/* Make c's table: base, with the control nodes answered here. */
static void
ctl_wrap(struct ctl *c, const struct fuse_lowlevel_ops *base)
{
	struct fuse_lowlevel_ops *t = &c->table;

	c->base = base;
	*t = *base;
	t->lookup = ctl_op_lookup;
	t->forget = ctl_op_forget;
	if (base->forget_multi != NULL)
		t->forget_multi = ctl_op_forget_multi;
	t->getattr = ctl_op_getattr;
	t->open = ctl_op_open;
	t->read = ctl_op_read;
	t->write = ctl_op_write;
	t->flush = ctl_op_flush;
	t->release = ctl_op_release;
	t->opendir = ctl_op_opendir;
	t->readdir = ctl_op_readdir;
	t->releasedir = ctl_op_releasedir;
	t->ioctl = ctl_op_ioctl;
	/* the rest only where ops.c answers them */
	if (base->setattr != NULL)
		t->setattr = ctl_op_setattr;
	if (base->readlink != NULL)
		t->readlink = ctl_op_readlink;
	if (base->mknod != NULL)
		t->mknod = ctl_op_mknod;
	if (base->mkdir != NULL)
		t->mkdir = ctl_op_mkdir;
	if (base->unlink != NULL)
		t->unlink = ctl_op_unlink;
	if (base->rmdir != NULL)
		t->rmdir = ctl_op_rmdir;
	if (base->symlink != NULL)
		t->symlink = ctl_op_symlink;
	if (base->link != NULL)
		t->link = ctl_op_link;
	if (base->rename != NULL)
		t->rename = ctl_op_rename;
	if (base->create != NULL)
		t->create = ctl_op_create;
	if (base->fsync != NULL)
		t->fsync = ctl_op_fsync;
	if (base->fsyncdir != NULL)
		t->fsyncdir = ctl_op_fsyncdir;
	if (base->readdirplus != NULL)
		t->readdirplus = ctl_op_readdirplus;
	if (base->write_buf != NULL)
		t->write_buf = ctl_op_write_buf;
	if (base->lseek != NULL)
		t->lseek = ctl_op_lseek;
	if (base->copy_file_range != NULL)
		t->copy_file_range = ctl_op_copy_file_range;
	if (base->fallocate != NULL)
		t->fallocate = ctl_op_fallocate;
	if (base->getxattr != NULL)
		t->getxattr = ctl_op_getxattr;
	if (base->listxattr != NULL)
		t->listxattr = ctl_op_listxattr;
	if (base->access != NULL)
		t->access = ctl_op_access;
}
