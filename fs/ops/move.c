/*
 * Renames.  The format has no rename, so moving a file or a directory
 * means moving every key at and below it: each value is copied to its new
 * key (with its timestamp) inside the store's file, by blt_copy(), so that
 * no value is held in memory; the store is flushed, and only then are the old
 * keys deleted and the store flushed again.  Whenever the daemon dies, each
 * key exists under its old name, its new name, or both; never under
 * neither.  The index then moves the node itself (inode_rename()), so that
 * nodeids, and open files below a moved directory, follow the rename.
 *
 * A directory's keys all start with its prefix ("a/b/"), except its own
 * key ("a/b", listed as PATH_SELF inside it): renaming swaps that prefix.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops-int.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE 1
#endif

/* The keys a rename moves: each old key and the new key it becomes. */
struct move {
	const unsigned char *oldp, *newp; /* the prefixes that swap */
	size_t oldplen, newplen;
	struct move_pair {
		unsigned char *old, *new;
		size_t olen, nlen;
		int existed; /* the new key had a value before */
	} * v;
	size_t n, cap;
};

static int
move_add(void *arg, const unsigned char *key, size_t klen, int type)
{
	struct move *m = arg;
	struct move_pair *p;
	size_t keep, tail;

	if (klen >= m->oldplen && memcmp(key, m->oldp, m->oldplen) == 0) {
		keep = m->newplen;
		tail = klen - m->oldplen;
	} else if (m->oldplen > 0 && klen == m->oldplen - 1 &&
	           memcmp(key, m->oldp, klen) == 0 && m->newplen > 0) {
		keep = m->newplen - 1; /* a directory's own key, "dir" */
		tail = 0;
	} else
		return blt_errmsg_set(
		    -EINVAL, "rename: a key outside the subtree");
	if (keep + tail > BLT_KEY_MAX)
		return blt_errmsg_set(
		    -ENAMETOOLONG, "rename: a key of %zu bytes", keep + tail);
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 16;

		if ((p = realloc(m->v, cap * sizeof *p)) == NULL)
			return -ENOMEM;
		m->v = p;
		m->cap = cap;
	}
	p = &m->v[m->n];
	p->olen = klen;
	p->nlen = keep + tail;
	p->existed = 0;
	if ((p->old = malloc(klen + 1)) == NULL ||
	    (p->new = malloc(p->nlen + 1)) == NULL) {
		free(p->old);
		return -ENOMEM;
	}
	memcpy(p->old, key, klen);
	memcpy(p->new, m->newp, keep);
	memcpy(p->new + keep, key + klen - tail, tail);
	m->n++;
	return 0;
}

static void
move_free(struct move *m)
{
	size_t i;

	for (i = 0; i < m->n; i++) {
		free(m->v[i].old);
		free(m->v[i].new);
	}
	free(m->v);
}

/* Copy the value of p->old to p->new, keeping its timestamp. */
static int
move_copy(struct fs *fs, struct move_pair *p)
{
	int rc;

	if ((rc = blt_exists(fs->db, p->new, p->nlen)) < 0)
		return rc;
	p->existed = rc;
	/* a file created and not stored yet is stored by its close */
	rc = blt_copy(fs->db, p->old, p->olen, p->new, p->nlen);
	return rc == -ENOENT ? 0 : rc;
}

/* Copy, flush, delete, flush (see the top of the file). */
static int
move_store(struct fs *fs, struct move *m)
{
	size_t i, done;
	int rc = 0;

	for (done = 0; done < m->n && rc == 0; done++)
		rc = move_copy(fs, &m->v[done]);
	if (rc == 0)
		rc = blt_flush(fs->db);
	if (rc < 0) {
		fs_log_write(fs, "rename");
		/* undo: every old key is still there */
		for (i = 0; i < done; i++)
			if (!m->v[i].existed)
				blt_del(fs->db, m->v[i].new, m->v[i].nlen);
		blt_flush(fs->db);
		return rc;
	}
	for (i = 0; i < m->n; i++) {
		rc = blt_del(fs->db, m->v[i].old, m->v[i].olen);
		if (rc < 0 && rc != -ENOENT)
			break;
		rc = 0;
	}
	if (rc == 0)
		rc = blt_flush(fs->db);
	if (rc < 0)
		fs_log_write(fs, "rename");
	return rc;
}

/* 1 if node a is b or above it. */
static int
move_is_ancestor(struct fs *fs, uint64_t a, uint64_t b)
{
	struct inode_info in;

	for (;;) {
		if (a == b)
			return 1;
		if (b == INODE_ROOT || inode_stat(fs->tree, b, &in) < 0)
			return 0;
		b = in.parent;
	}
}

/* The index could not follow a rename the store made: bring it in line
 * key by key (the nodeids below are lost, but names and store agree). */
static void
move_index(struct fs *fs, struct move *m)
{
	size_t i;

	for (i = 0; i < m->n; i++) {
		inode_del_key(fs->tree, m->v[i].old, m->v[i].olen, NULL);
		inode_put_key(
		    fs->tree, m->v[i].new, m->v[i].nlen, 1, NULL, NULL);
	}
}

/* Check a rename as rename(2) does, before anything changes. */
static int
move_check(struct fs *fs, const struct inode_info *src,
    const struct inode_info *dst, uint64_t newparent, unsigned flags)
{
	if (flags & ~(unsigned)RENAME_NOREPLACE)
		return -EINVAL; /* RENAME_EXCHANGE, RENAME_WHITEOUT */
	if (dst != NULL) {
		if (flags & RENAME_NOREPLACE)
			return -EEXIST;
		if (src->type == INODE_DIR && dst->type != INODE_DIR)
			return -ENOTDIR;
		if (src->type != INODE_DIR && dst->type == INODE_DIR)
			return -EISDIR;
		if (dst->type == INODE_DIR && dst->nchildren > 0)
			return -ENOTEMPTY;
	}
	if (src->type == INODE_DIR &&
	    move_is_ancestor(fs, src->nodeid, newparent))
		return -EINVAL;
	return 0;
}

/* Rename name in parent to newname in newparent, a file or a whole
 * subtree, in the store and then in the index.  flags as renameat2(2),
 * RENAME_NOREPLACE only.  The caller holds fs->wlock.  Errors as
 * rename(2); -EINVAL also for a new name no key would be listed as. */
int
move_rename(struct fs *fs, uint64_t parent, const char *name,
    uint64_t newparent, const char *newname, unsigned flags)
{
	size_t nlen = strlen(name), newnlen = strlen(newname), dklen;
	unsigned char *oldp = NULL, *newp = NULL, *dkey = NULL;
	struct inode_info src, dst, *pdst = NULL;
	struct move m = {0};
	int rc, drop;

	if ((rc = inode_lookup(fs->tree, parent, name, nlen, 0, &src)) < 0)
		return rc;
	if (inode_lookup(fs->tree, newparent, newname, newnlen, 0, &dst) == 0) {
		if (dst.nodeid == src.nodeid)
			return 0;
		pdst = &dst;
	}
	if ((rc = move_check(fs, &src, pdst, newparent, flags)) < 0)
		return rc;
	if ((rc = inode_key(fs->tree, src.nodeid, &oldp, &m.oldplen)) < 0 ||
	    (rc = inode_child_key(fs->tree, newparent, newname, newnlen,
	         src.type, &newp, &m.newplen)) < 0) {
		fs_log("%s", blt_errmsg());
		goto out;
	}
	m.oldp = oldp;
	m.newp = newp;
	if ((rc = inode_walk_keys(fs->tree, src.nodeid, move_add, &m)) < 0) {
		fs_log("%s", blt_errmsg());
		goto out;
	}
	/* an empty directory that is replaced takes its marker along; so
	 * does a file replaced by one whose value is not stored yet (created
	 * and still open), or its key would show the old value under the new
	 * file's name until that is closed, and for good after a crash */
	drop = pdst != NULL && (dst.flags & INODE_MARKER);
	if (pdst != NULL && src.type == INODE_FILE && dst.type == INODE_FILE) {
		if ((rc = blt_exists(fs->db, oldp, m.oldplen)) < 0) {
			fs_log("%s", blt_errmsg());
			goto out;
		}
		drop = rc == 0;
	}
	if (drop) {
		if ((rc = inode_key(fs->tree, dst.nodeid, &dkey, &dklen)) < 0)
			goto out;
		if ((rc = blt_del(fs->db, dkey, dklen)) < 0 && rc != -ENOENT) {
			fs_log_write(fs, NULL);
			goto out;
		}
	}
	if ((rc = move_store(fs, &m)) < 0)
		goto out;
	if ((rc = inode_rename(fs->tree, parent, name, nlen, newparent, newname,
	         newnlen, flags, NULL)) < 0) {
		fs_log("rename: the store moved but the index did not: %s",
		    blt_errmsg());
		move_index(fs, &m);
		rc = 0;
	}
out:
	move_free(&m);
	free(oldp);
	free(newp);
	free(dkey);
	return rc;
}
