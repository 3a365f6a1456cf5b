/*
 * The FUSE operations on directories and names: mkdir, mknod, unlink,
 * rmdir and rename (whose store side is move.c's), the refusal of links,
 * and listings (opendir, readdir, readdirplus) from the directory index.
 * The rules every operation keeps (fs->wlock, a flush before the reply) are
 * in ops.c.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ops-int.h"

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

/* Is name in parent the control directory?  Its own requests never get
 * here (fs/ctl/ctl.c answers them first); creating or renaming onto it does. */
static int
ops_is_ctl(struct fs *fs, uint64_t parent, const char *name)
{
	return parent == INODE_ROOT &&
	       path_is_ctl(inode_conf(fs->tree), name, strlen(name));
}

void
op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	fuse_reply_err(req, EINVAL);
}

void
ops_dir_filled(struct fs *fs, uint64_t dir)
{
	struct inode_info in;
	unsigned char *key;
	size_t klen;
	int rc;

	if (dir == INODE_ROOT || inode_stat(fs->tree, dir, &in) < 0 ||
	    !(in.flags & INODE_MARKER) ||
	    inode_key(fs->tree, dir, &key, &klen) < 0)
		return;
	if ((rc = blt_del(fs->db, key, klen)) == 0)
		rc = blt_flush(fs->db);
	if (rc == 0 || rc == -ENOENT)
		(void)inode_del_key(fs->tree, key, klen, NULL);
	else
		fs_log_write(fs, "removing the marker of a directory");
	free(key);
}

void
ops_dir_emptied(struct fs *fs, uint64_t dir)
{
	struct inode_info in;
	unsigned char *key;
	size_t klen;
	int rc;

	if (fs->marker == NULL || dir == INODE_ROOT ||
	    inode_stat(fs->tree, dir, &in) < 0 || in.type != INODE_DIR ||
	    in.nchildren > 0 || (in.flags & (INODE_MARKER | INODE_CONT)) ||
	    inode_key(fs->tree, dir, &key, &klen) < 0)
		return;
	if ((rc = blt_put(
	         fs->db, key, klen, fs->marker, fs->marker_len, BLT_NOW)) == 0)
		rc = blt_flush(fs->db);
	if (rc == 0)
		(void)inode_put_key(fs->tree, key, klen, 0, NULL, NULL);
	else
		fs_log_write(fs, "keeping an emptied directory");
	free(key);
}

/* Add a file or a directory marker named name under parent to the index
 * (and a marker to the store); *in gets it with a lookup reference.  A
 * new node keeps mode's permission bits for the mount's life (an existing
 * one keeps its own, as open(O_CREAT) of an existing file does), and who
 * as its owner where others may enter (struct fs, own_uid). */
int
ops_new_node(struct fs *fs, const struct fuse_ctx *who, uint64_t parent,
    const char *name, int type, mode_t mode, int excl, int *existed,
    struct inode_info *in, struct inode_stale *s)
{
	unsigned char *key = NULL;
	size_t klen, nlen = strlen(name);
	int rc;

	s->valid = 0;
	*existed = 0;
	if (fs->ro)
		return -EROFS;
	if (type == INODE_FILE && decode_readonly(fs))
		return -EACCES; /* its text could not be stored */
	if (ops_is_ctl(fs, parent, name))
		return -EEXIST;
	pthread_mutex_lock(&fs->wlock);
	rc = inode_lookup(fs->tree, parent, name, nlen, 0, in);
	/* a key another process put a moment ago is a file that exists: an
	 * append (O_APPEND without O_TRUNC) must not empty it, nor an
	 * O_EXCL create succeed.  A create holds no lock of the store
	 * (request_store_use()), so the mount may not have followed it */
	if (rc == -ENOENT && ops_behind(fs) &&
	    (rc = ops_learn_behind(fs, parent, name, nlen)) == 0)
		rc = inode_lookup(fs->tree, parent, name, nlen, 0, in);
	if (rc == 0) {
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
			ops_fail(rc, blt_errmsg());
		goto mode;
	}
	if ((rc = inode_child_key(
	         fs->tree, parent, name, nlen, type, &key, &klen)) < 0) {
		ops_fail(rc, blt_errmsg());
		goto out;
	}
	if (type == INODE_DIR && fs->marker != NULL &&
	    ((rc = blt_put(fs->db, key, klen, fs->marker, fs->marker_len,
	          BLT_NOW)) < 0 ||
	        (rc = blt_flush(fs->db)) < 0)) {
		fs_log_write(fs, NULL);
		goto out;
	}
	/* a new file reaches the store when it is closed */
	if ((rc = inode_put_key(fs->tree, key, klen,
	         type == INODE_FILE ? INODE_VLEN_UNSTORED : 0, NULL, s)) < 0 ||
	    (rc = inode_lookup(fs->tree, parent, name, nlen, 1, in)) < 0)
		ops_fail(rc, blt_errmsg());
	/* a file fills its directory once its value is stored */
	if (rc == 0 && type == INODE_DIR)
		ops_dir_filled(fs, parent);
mode:
	/* under fs->wlock, so that no reply shows the node without it */
	if (rc == 0) {
		inode_set_mode(fs->tree, in->nodeid, mode);
		if (fs->own_uid || fs->own_gid)
			inode_set_owner(fs->tree, in->nodeid,
			    fs->own_uid ? (uint32_t)who->uid : INODE_NO_ID,
			    fs->own_gid ? (uint32_t)who->gid : INODE_NO_ID);
		if ((rc = inode_stat(fs->tree, in->nodeid, in)) < 0)
			inode_forget(fs->tree, in->nodeid, 1);
	}
	/* a file's new name is pending until its caller's open file is in
	 * the set: no sweep takes it for a deleted key's meanwhile */
	if (rc == 0 && type == INODE_FILE &&
	    (rc = handle_creating(fs, in->nodeid)) < 0) {
		inode_forget(fs->tree, in->nodeid, 1);
		(void)inode_del_key(fs->tree, key, klen, NULL);
		ops_fail(rc, "creating a file: out of memory");
	}
out:
	pthread_mutex_unlock(&fs->wlock);
	free(key);
	return rc;
}

void
op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct fs *fs = ops_fs(req);
	struct inode_stale s;
	struct inode_info in;
	int existed, rc;

	rc = ops_new_node(fs, fuse_req_ctx(req), parent, name, INODE_DIR, mode,
	    1, &existed, &in, &s);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	ops_reply_entry(req, fs, &in);
	ops_stale(fs, &s, parent, name);
}

void
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
	rc = ops_new_node(fs, fuse_req_ctx(req), parent, name, INODE_FILE, mode,
	    1, &existed, &in, &s);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	/* mknod has no close: store the empty file now */
	rc = handle_create(fs, in.nodeid, O_WRONLY, 1, &h);
	handle_created(fs, in.nodeid, rc == 0 ? h : NULL);
	if (rc == 0) {
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

	/* the kernel may keep the names that go as names that are not
	 * there: one put in behind its back is told (op_lookup()) */
	(void)inode_dir_seen(fs->tree, parent, INODE_SEEN_MISSED);
	if (srcname != NULL)
		(void)inode_dir_seen(fs->tree, srcparent, INODE_SEEN_MISSED);
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
		node_moves_ended(fs);
	pthread_mutex_unlock(&fs->wlock);
}

void
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
		ops_fail(rc, blt_errmsg());
	else
		ops_dir_emptied(fs, parent);
out:
	ops_remove_end(fs, &r);
	free(key);
	fuse_reply_err(req, -rc);
	if (rc == 0)
		ops_stale(fs, &s, parent, name);
}

void
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
	(void)inode_dir_seen(fs->tree, parent, INODE_SEEN_MISSED);
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
		ops_fail(rc, blt_errmsg());
	else
		ops_dir_emptied(fs, parent);
out:
	pthread_mutex_unlock(&fs->wlock);
	free(key);
	fuse_reply_err(req, -rc);
}

void
op_symlink(
    fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, EPERM);
}

void
op_link(
    fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	fuse_reply_err(req, EPERM);
}

void
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
	if (rc == 0) {
		ops_dir_filled(fs, newparent);
		ops_dir_emptied(fs, parent);
	}
	ops_remove_end(fs, &r);
	fuse_reply_err(req, -rc);
}

void
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

void
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

void
op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	ops_readdir(req, ino, size, off, 0);
}

void
op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	ops_readdir(req, ino, size, off, 1);
}
