/*
 * How the directory index changes: a key stored or deleted (by a FUSE
 * operation, or behind the kernel's back by a job), a name renamed, an
 * empty directory removed.  Each change walks the path of the key from
 * the root (path.c) and makes, finds or takes out the nodes on the way,
 * under the tree's write lock; inode.c owns the nodes themselves, the
 * hash table and the listings these change.
 *
 * A file and a directory of one path (the keys "dir" and "dir/...") are
 * settled here: the file moves into the directory as PATH_SELF, keeping
 * its nodeid.  A name the kernel may have cached that changes without it
 * asking is given back in struct inode_stale, for the caller to tell the
 * kernel once the lock is let go.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "booklet.h"
#include "index.h"
#include "inode-tree.h"

/* Tell the caller (s, if not NULL) that name in parent went; nodeid is
 * its node's, 0 for a file that had none. */
static void
inode_stale_name(struct inode_tree *t, struct inode_stale *s,
    const struct inode *parent, const char *name, size_t nlen, uint64_t nodeid)
{
	if (s == NULL)
		return;
	s->valid = 1;
	s->parent = inode_nodeid(t, parent);
	s->nodeid = nodeid;
	s->nlen = nlen;
	memcpy(s->name, name, nlen);
	s->name[nlen] = '\0';
}

/* Tell the caller (s, if not NULL) that n's name in parent went. */
static void
inode_stale_set(struct inode_tree *t, struct inode_stale *s,
    const struct inode *parent, const struct inode *n)
{
	inode_stale_name(t, s, parent, n->name, n->nlen, inode_nodeid(t, n));
}

/* Remove the file of slot s of p, which has no node, telling s. */
static void
inode_drop_file(struct inode_tree *t, struct inode *p, uint32_t s,
    struct inode_stale *stale)
{
	const unsigned char *e = idir_ent(p->dir, s);

	inode_stale_name(t, stale, p, (const char *)e + 2, e[1], 0);
	inode_drop_slot(t, p, s);
}

/* inode_file_to_dir() of the file of slot s of parent, which has no node:
 * the directory takes its name, and it goes in as PATH_SELF. */
static struct inode *
inode_entry_to_dir(struct inode_tree *t, struct inode *parent, uint32_t s,
    struct inode_stale *stale)
{
	const unsigned char *e = idir_ent(parent->dir, s);
	char name[PATH_NAME_MAX + 1];
	size_t nlen = e[1];
	struct inode *d;

	memcpy(name, e + 2, nlen);
	inode_drop_file(t, parent, s, stale);
	if ((d = inode_new_child(t, parent, name, nlen, INODE_DIR, 0)) ==
	        NULL ||
	    inode_add_file(t, d, PATH_SELF, PATH_SELF_LEN) < 0) {
		t->nkeys--; /* lost from view until a remount, as below */
		return NULL;
	}
	return d;
}

/* Make room for a directory where file f stands: f moves into it under
 * the name PATH_SELF, keeping its nodeid. */
static struct inode *
inode_file_to_dir(
    struct inode_tree *t, struct inode *f, struct inode_stale *stale)
{
	struct inode *parent = f->parent, *d;

	inode_stale_set(t, stale, parent, f);
	inode_detach(t, f);
	if ((d = inode_new_child(t, parent, f->name, f->nlen, INODE_DIR, 0)) ==
	    NULL)
		goto fail;
	if (inode_set_name(f, PATH_SELF, PATH_SELF_LEN) < 0)
		goto fail;
	f->flags |= INODE_SELF;
	if (inode_attach(t, d, f) < 0)
		goto fail;
	inode_moved(t, f); /* an open file keeps its number */
	return d;
fail:
	/* out of memory half-way: the file is lost from view until a
	 * remount, which is better than a tree that lies */
	t->nkeys--;
	inode_retire(t, f, NULL);
	return NULL;
}

/* Directory d loses its marker, if it has one: its key "d/" is gone or is
 * a file's now.  Returns whether it had one. */
static int
inode_unmark(struct inode_tree *t, struct inode *d)
{
	if (!(d->flags & INODE_MARKER))
		return 0;
	d->flags &= ~INODE_MARKER;
	t->nkeys--;
	return 1;
}

static int
inode_put_locked(struct inode_tree *t, const void *key, size_t klen,
    uint64_t vlen, struct inode_info *out, struct inode_stale *stale)
{
	struct inode *cur = t->root, *n, *dir;
	struct path_walk w;
	const char *name;
	size_t nlen;
	int64_t s;
	int rc;

	if ((rc = inode_walk_key(t, &w, key, klen, vlen)) < 0)
		return rc;
	while (path_walk_next(&w)) {
		n = inode_child(t, cur, w.name, w.nlen, &s);
		if (w.kind != PATH_LEAF) {
			if (n == NULL && s >= 0)
				n = inode_entry_to_dir(
				    t, cur, (uint32_t)s, stale);
			else if (n == NULL)
				n = inode_new_child(t, cur, w.name, w.nlen,
				    INODE_DIR,
				    w.kind == PATH_CONT ? INODE_CONT : 0);
			else if (n->type == INODE_FILE)
				n = inode_file_to_dir(t, n, stale);
			if (n == NULL)
				goto nomem;
			cur = n;
			continue;
		}
		/* the file itself: cur stays its directory for the marker */
		dir = cur;
		name = w.name;
		nlen = w.nlen;
		if (n != NULL && n->type == INODE_DIR) {
			/* a file and a directory of one path */
			dir = n;
			name = PATH_SELF;
			nlen = PATH_SELF_LEN;
			n = inode_child(t, dir, name, nlen, &s);
		}
		if (n == NULL && s < 0) {
			if (inode_add_file(t, dir, name, nlen) < 0)
				goto nomem;
			t->nkeys++;
			if (out != NULL)
				n = inode_child(t, dir, name, nlen, &s);
		}
		if (n != NULL)
			inode_drop_attr(n); /* a new value, or a new file */
		if (!t->pc.flat && klen > 0 &&
		    ((const unsigned char *)key)[klen - 1] == '/')
			inode_unmark(t, cur); /* "dir/" got a value */
		if (n != NULL)
			inode_fill(t, n, out);
		else if (out != NULL)
			inode_fill_slot(t, dir, (uint32_t)s, out);
		return 0;
	}
	/* a marker: cur is its directory */
	if (!(cur->flags & INODE_MARKER)) {
		cur->flags |= INODE_MARKER;
		t->nkeys++;
	}
	n = inode_child(t, cur, PATH_ESC, PATH_ESC_LEN, &s);
	if (n != NULL && n->type == INODE_FILE) {
		/* the same key had a value before: now it is a marker */
		inode_stale_set(t, stale, cur, n);
		inode_detach(t, n);
		inode_retire(t, n, stale);
		t->nkeys--;
	} else if (n == NULL && s >= 0) {
		inode_drop_file(t, cur, (uint32_t)s, stale);
		t->nkeys--;
	}
	inode_fill(t, cur, out);
	return 0;
nomem:
	return blt_errmsg_set(-ENOMEM, "directory index: out of memory");
}

/* Record that key exists with a value of vlen bytes. */
int
inode_put_key(struct inode_tree *t, const void *key, size_t klen, uint64_t vlen,
    struct inode_info *out, struct inode_stale *stale)
{
	int rc;

	if (stale != NULL)
		stale->valid = 0;
	pthread_rwlock_wrlock(&t->lock);
	rc = inode_put_locked(t, key, klen, vlen, out, stale);
	pthread_rwlock_unlock(&t->lock);
	return rc;
}

/* The node of the path of key (marker: its directory), or NULL: then
 * *slot is the slot in *parent of a file without a node, or -1. */
static struct inode *
inode_find_key(struct inode_tree *t, const void *key, size_t klen, int marker,
    struct inode **parent, int64_t *slot)
{
	struct inode *cur = t->root, *n = NULL;
	struct path_walk w;

	*slot = -1;
	path_walk_start(&w, &t->pc, key, klen, marker);
	while (path_walk_next(&w)) {
		if (cur == NULL || cur->type != INODE_DIR) {
			*slot = -1;
			return NULL;
		}
		n = inode_child(t, cur, w.name, w.nlen, slot);
		*parent = cur;
		cur = n;
	}
	return n;
}

/* Record that key is gone. */
int
inode_del_key(struct inode_tree *t, const void *key, size_t klen,
    struct inode_stale *stale)
{
	struct inode *n, *parent = NULL;
	int64_t s;
	int rc = 0;

	if (stale != NULL)
		stale->valid = 0;
	pthread_rwlock_wrlock(&t->lock);
	if (path_may_be_marker(&t->pc, key, klen) &&
	    (n = inode_find_key(t, key, klen, 1, &parent, &s)) != NULL &&
	    inode_unmark(t, n))
		goto out;
	n = inode_find_key(t, key, klen, 0, &parent, &s);
	if (n != NULL && n->type == INODE_DIR) {
		parent = n;
		n = inode_child(t, parent, PATH_SELF, PATH_SELF_LEN, &s);
	}
	if (n == NULL && s >= 0) {
		inode_drop_file(t, parent, (uint32_t)s, stale);
		t->nkeys--;
		goto out;
	}
	if (n == NULL || n->type != INODE_FILE) {
		rc = blt_errmsg_set(-ENOENT, "directory index: no such key");
		goto out;
	}
	inode_stale_set(t, stale, parent, n);
	inode_detach(t, n);
	inode_retire(t, n, stale);
	t->nkeys--;
out:
	pthread_rwlock_unlock(&t->lock);
	return rc;
}

/* 1 if a is b or one of its ancestors. */
static int
inode_is_ancestor(const struct inode *a, const struct inode *b)
{
	for (; b != NULL; b = b->parent)
		if (a == b)
			return 1;
	return 0;
}

/* Move name in parent to newname in newparent. */
int
inode_rename(struct inode_tree *t, uint64_t parent, const char *name,
    size_t nlen, uint64_t newparent, const char *newname, size_t newnlen,
    unsigned flags, struct inode_stale *stale)
{
	struct inode *p, *np, *src, *dst;
	unsigned char *key = NULL;
	size_t klen;
	int64_t s;
	int rc;

	if (stale != NULL)
		stale->valid = 0;
	if (flags & ~1u) /* RENAME_NOREPLACE only */
		return blt_errmsg_set(-EINVAL, "'%.*s': rename flags %#x",
		    (int)nlen, name, flags);
	pthread_rwlock_wrlock(&t->lock);
	p = inode_of(t, parent);
	np = inode_of(t, newparent);
	if (p->type != INODE_DIR || np->type != INODE_DIR) {
		rc = -ENOTDIR;
		goto out;
	}
	if ((src = inode_child_node(t, p, name, nlen, &rc)) == NULL)
		goto out;
	if (src->flags & INODE_CONT) {
		rc = blt_errmsg_set(-EINVAL,
		    "'%.*s': a piece of a long name cannot be renamed",
		    (int)nlen, name);
		goto out;
	}
	if (np->flags & INODE_GONE) {
		rc = -ENOENT;
		goto out;
	}
	if (src->type == INODE_DIR && inode_is_ancestor(src, np)) {
		rc = blt_errmsg_set(-EINVAL, "'%.*s': cannot move into itself",
		    (int)nlen, name);
		goto out;
	}
	if ((rc = inode_child_key_locked(
	         t, np, newname, newnlen, src->type, &key, &klen)) < 0)
		goto out;
	free(key);
	if ((dst = inode_child(t, np, newname, newnlen, &s)) == NULL &&
	    s >= 0 && (dst = inode_materialize(t, np, (uint32_t)s)) == NULL) {
		rc = blt_errmsg_set(-ENOMEM, "directory index: out of memory");
		goto out;
	}
	if (dst == src)
		goto out;
	if (dst != NULL) {
		if (flags & 1u) {
			rc = -EEXIST;
			goto out;
		}
		if (src->type == INODE_DIR && dst->type != INODE_DIR) {
			rc = -ENOTDIR;
			goto out;
		}
		if (src->type != INODE_DIR && dst->type == INODE_DIR) {
			rc = -EISDIR;
			goto out;
		}
		if (dst->type == INODE_DIR && dst->dir->live > 0) {
			rc = -ENOTEMPTY;
			goto out;
		}
		if (dst->type == INODE_FILE || (dst->flags & INODE_MARKER))
			t->nkeys--;
		inode_stale_set(t, stale, np, dst);
		inode_detach(t, dst);
		inode_retire(t, dst, stale);
	}
	inode_detach(t, src);
	if ((rc = inode_set_name(src, newname, newnlen)) < 0 ||
	    (rc = inode_attach(t, np, src)) < 0) {
		t->nkeys -= src->type == INODE_FILE;
		inode_retire(t, src, NULL);
		rc = blt_errmsg_set(-ENOMEM, "directory index: out of memory");
		goto out;
	}
	src->flags &= ~INODE_SELF;
	if (newnlen == PATH_SELF_LEN &&
	    memcmp(newname, PATH_SELF, newnlen) == 0)
		src->flags |= INODE_SELF;
	if (src->type == INODE_FILE && newnlen == PATH_ESC_LEN &&
	    memcmp(newname, PATH_ESC, newnlen) == 0)
		inode_unmark(t, np); /* the file took over the key "dir/" */
	inode_moved(t, src);
out:
	pthread_rwlock_unlock(&t->lock);
	return rc;
}

/* Remove directory dir if nothing keeps it: no entry, no marker key. */
uint64_t
inode_drop_emptied(
    struct inode_tree *t, uint64_t dir, struct inode_stale *stale)
{
	struct inode *n, *p;
	uint64_t up = 0;

	stale->valid = 0;
	pthread_rwlock_wrlock(&t->lock);
	n = inode_of(t, dir);
	if (n != t->root && n->type == INODE_DIR &&
	    !(n->flags & (INODE_MARKER | INODE_GONE)) && n->dir->live == 0 &&
	    (p = n->parent) != NULL) {
		inode_stale_set(t, stale, p, n);
		up = inode_nodeid(t, p);
		inode_detach(t, n);
		inode_retire(t, n, NULL);
	}
	pthread_rwlock_unlock(&t->lock);
	return up;
}

/* Remove the empty directory name from parent. */
int
inode_rmdir(
    struct inode_tree *t, uint64_t parent, const char *name, size_t nlen)
{
	struct inode *p, *n;
	int64_t s;
	int rc = 0;

	pthread_rwlock_wrlock(&t->lock);
	p = inode_of(t, parent);
	if (p->type != INODE_DIR)
		rc = -ENOTDIR;
	else if ((n = inode_child(t, p, name, nlen, &s)) == NULL)
		rc = s >= 0 ? -ENOTDIR : -ENOENT;
	else if (n->type != INODE_DIR)
		rc = -ENOTDIR;
	else if (n->dir->live > 0)
		rc = -ENOTEMPTY;
	else {
		if (n->flags & INODE_MARKER)
			t->nkeys--;
		inode_detach(t, n);
		inode_retire(t, n, NULL);
	}
	pthread_rwlock_unlock(&t->lock);
	return rc;
}
