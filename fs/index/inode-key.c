/*
 * Keys in the directory index.  A node's key is not kept: it is the
 * concatenation of the decoded names from the root (path.c), made again
 * when asked for, so that renaming a directory is one move in the tree
 * (inode-change.c) however many keys lie below it.  A new name is checked
 * against the key it would make: a name that key would be listed as otherwise
 * would show one key under two names.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "booklet.h"
#include "index.h"
#include "inode-tree.h"

/* Append the raw bytes of a name to buf (room for nlen + 8). */
size_t
inode_decode(
    struct inode_tree *t, const char *name, size_t nlen, unsigned char *buf)
{
	int kind;
	ssize_t len;

	len = path_decode_name(&t->pc, name, nlen, buf, &kind);
	assert(len >= 0); /* names in the tree came from path_walk */
	return len < 0 ? 0 : (size_t)len;
}

/* The key of n (the marker key for a directory) into a new buffer. */
int
inode_key_locked(struct inode_tree *t, const struct inode *n,
    unsigned char **key, size_t *klen)
{
	const struct inode *p, **chain;
	size_t depth = 0, cap = 0, i, len;
	unsigned char *buf;

	for (p = n; p != t->root; p = p->parent) {
		depth++;
		cap += p->nlen + 9;
	}
	if ((chain = malloc((depth + 1) * sizeof *chain)) == NULL ||
	    (buf = malloc(cap + 1)) == NULL) {
		free(chain);
		return blt_errmsg_set(
		    -ENOMEM, "directory index: out of memory");
	}
	i = depth;
	for (p = n; p != t->root; p = p->parent)
		chain[--i] = p;
	len = 0;
	for (i = 0; i < depth; i++) {
		p = chain[i];
		if (p->flags & INODE_SELF) {
			if (len > 0)
				len--; /* the directory's own key */
			continue;
		}
		len += inode_decode(t, p->name, p->nlen, buf + len);
		if (p->type == INODE_DIR && !(p->flags & INODE_CONT))
			buf[len++] = '/';
	}
	free(chain);
	*key = buf;
	*klen = len;
	return 0;
}

/* The version of n's path: the sum of the moves of n and its directories,
 * or -EAGAIN while one of them moves. */
static int
inode_path_version(const struct inode *n, uint64_t *ver)
{
	uint64_t sum = 0;
	uint32_t m;

	for (; n != NULL; n = n->parent) { /* the root has no parent */
		m = __atomic_load_n(&n->moves, __ATOMIC_ACQUIRE);
		if (m & 1)
			return -EAGAIN;
		sum += m;
	}
	*ver = sum;
	return 0;
}

/* The key of nodeid, and with ver the version of its path and the hint
 * of its block. */
static int
inode_key_get(struct inode_tree *t, uint64_t nodeid, unsigned char **key,
    size_t *klen, uint64_t *ver, uint64_t *at)
{
	struct inode *n;
	int rc;

	pthread_rwlock_rdlock(&t->lock);
	n = inode_of(t, nodeid);
	if (at != NULL)
		*at = n->at;
	if (n->flags & INODE_GONE)
		rc = blt_errmsg_set(-ESTALE, "'%s': removed", n->name);
	else if (n->flags & INODE_CONT)
		rc = blt_errmsg_set(-EINVAL,
		    "'%s': a piece of a long name has no key of its own",
		    n->name);
	else if (ver == NULL || (rc = inode_path_version(n, ver)) == 0)
		rc = inode_key_locked(t, n, key, klen);
	pthread_rwlock_unlock(&t->lock);
	return rc;
}

/* The key of nodeid. */
int
inode_key(
    struct inode_tree *t, uint64_t nodeid, unsigned char **key, size_t *klen)
{
	return inode_key_get(t, nodeid, key, klen, NULL, NULL);
}

/* inode_key() with the version of the node's path, for reads of the
 * store by key that must not see an unlink or rename half done (its
 * store changes come before its index changes): -EAGAIN while one
 * changes this node or a directory above it; check the version again
 * after reading (inode_key_still()); and the hint of its block. */
int
inode_key_version(struct inode_tree *t, uint64_t nodeid, unsigned char **key,
    size_t *klen, uint64_t *ver, uint64_t *at)
{
	return inode_key_get(t, nodeid, key, klen, ver, at);
}

/* 1 if nodeid still has the key and path version inode_key_version()
 * gave, so that what was read by that key was its value. */
int
inode_key_still(struct inode_tree *t, uint64_t nodeid, uint64_t ver)
{
	struct inode *n;
	uint64_t now;
	int same;

	pthread_rwlock_rdlock(&t->lock);
	n = inode_of(t, nodeid);
	same = !(n->flags & INODE_GONE) && inode_path_version(n, &now) == 0 &&
	       now == ver;
	pthread_rwlock_unlock(&t->lock);
	return same;
}

/* Begin, or end, an unlink or rename that changes the key of nodeid and
 * the keys below it; the caller holds a lookup reference on it. */
void
inode_move_mark(struct inode_tree *t, uint64_t nodeid)
{
	pthread_rwlock_rdlock(&t->lock);
	__atomic_fetch_add(&inode_of(t, nodeid)->moves, 1, __ATOMIC_ACQ_REL);
	pthread_rwlock_unlock(&t->lock);
}

/* Whether name is the one key (of type, built by the caller) would be
 * listed as under parent: compare the walk of key with parent's chain.
 * With piece, name need only be the piece of a long segment that the walk
 * cuts at parent's depth; the rest of key is not looked at. */
static int
inode_canonical(struct inode_tree *t, const struct inode *parent,
    const char *name, size_t nlen, const unsigned char *key, size_t klen,
    int type, int piece)
{
	const struct inode *p, **chain;
	size_t depth = 0, i = 0;
	struct path_walk w;
	int ok = 1;

	for (p = parent; p != t->root; p = p->parent)
		depth++;
	if ((chain = malloc((depth + 1) * sizeof *chain)) == NULL)
		return -ENOMEM;
	i = depth;
	for (p = parent; p != t->root; p = p->parent)
		chain[--i] = p;
	path_walk_start(&w, &t->pc, key, klen, type == INODE_DIR);
	for (i = 0; ok && path_walk_next(&w); i++) {
		if (i < depth)
			ok = chain[i]->nlen == w.nlen &&
			     memcmp(chain[i]->name, w.name, w.nlen) == 0 &&
			     (w.kind == PATH_CONT) ==
			         !!(chain[i]->flags & INODE_CONT);
		else if (i == depth) {
			ok = nlen == w.nlen && memcmp(name, w.name, nlen) == 0;
			if (piece) {
				ok = ok && w.kind == PATH_CONT;
				i++;
				break;
			}
		} else
			ok = 0;
	}
	free(chain);
	return ok && i == depth + 1;
}

/* inode_child_key() of directory p, with the lock held. */
int
inode_child_key_locked(struct inode_tree *t, struct inode *p, const char *name,
    size_t nlen, int type, unsigned char **key, size_t *klen)
{
	unsigned char *pkey, *buf;
	size_t plen, base;
	ssize_t len;
	int kind, rc;

	if (p->type != INODE_DIR)
		return -ENOTDIR;
	if (p->flags & INODE_GONE)
		return blt_errmsg_set(-ENOENT,
		    "'%.*s': the directory was removed", (int)nlen, name);
	if (type == INODE_DIR && t->pc.flat)
		return blt_errmsg_set(-EPERM,
		    "'%.*s': a flat mount has no directories", (int)nlen, name);
	if (p == t->root && nlen == t->pc.ctl_len &&
	    memcmp(name, t->pc.ctl, nlen) == 0)
		return blt_errmsg_set(
		    -EEXIST, "'%s' is the control directory", t->pc.ctl);
	if ((buf = malloc(nlen + 8)) == NULL)
		return blt_errmsg_set(-ENOMEM, "out of memory");
	if ((len = path_decode_name(&t->pc, name, nlen, buf, &kind)) < 0) {
		free(buf);
		return (int)len;
	}
	free(buf);
	if (kind == PATH_CONT) {
		return blt_errmsg_set(-EINVAL,
		    "'%.*s': a name ending in U+201B '+' is a piece of a long "
		    "name, a directory that only mkdir makes (doc/keys.md)",
		    (int)nlen, name);
	}
	if (kind == 0 &&
	    (type != INODE_FILE || p == t->root || (p->flags & INODE_CONT)))
		return blt_errmsg_set(-EINVAL,
		    "'%s' only names the file whose key is the path of the "
		    "directory it is in",
		    PATH_SELF);
	if ((rc = inode_key_locked(t, p, &pkey, &plen)) < 0)
		return rc;
	if (kind == 0) {
		*key = pkey;
		*klen = plen - 1; /* the directory's key without its '/' */
		return 0;
	}
	if ((buf = realloc(pkey, plen + nlen + 9)) == NULL) {
		free(pkey);
		return blt_errmsg_set(-ENOMEM, "out of memory");
	}
	base = plen;
	len = path_decode_name(&t->pc, name, nlen, buf + plen, &kind);
	plen += (size_t)len;
	if (type == INODE_DIR)
		buf[plen++] = '/';
	if (plen > BLT_KEY_MAX) {
		free(buf);
		return blt_errmsg_set(-ENAMETOOLONG,
		    "'%.*s': the key would be %zu bytes, over %u", (int)nlen,
		    name, plen, BLT_KEY_MAX);
	}
	if ((rc = inode_canonical(t, p, name, nlen, buf, plen, type, 0)) <= 0) {
		char *want = NULL, *as_is = NULL;
		size_t wlen;

		if (rc == 0 && path_of_key(&t->pc, buf, plen, type == INODE_DIR,
		                   &want, &wlen) == 0) {
			/* and the name of the key that is the text as typed,
			 * which is likely what was meant */
			memcpy(buf + base, name, nlen);
			plen = base + nlen;
			if (type == INODE_DIR)
				buf[plen++] = '/';
			if (path_of_key(&t->pc, buf, plen, type == INODE_DIR,
			        &as_is, &wlen) < 0 ||
			    strcmp(as_is, want) == 0) {
				free(as_is);
				as_is = NULL;
			}
			rc = blt_errmsg_set(-EINVAL,
			    "'%.*s' is not a name: it stands for the key "
			    "listed as '%s'%s%s%s (doc/keys.md)",
			    (int)nlen, name, want,
			    as_is != NULL ? "; to name these characters as "
			                    "typed, write '"
			                  : "",
			    as_is != NULL ? as_is : "",
			    as_is != NULL ? "'" : "");
		} else
			rc = blt_errmsg_set(-ENOMEM, "out of memory");
		free(as_is);
		free(want);
		free(buf);
		return rc;
	}
	*key = buf;
	*klen = plen;
	return 0;
}

/* What may follow a piece, to check it: some key with the piece and then
 * one of these is cut there, if any key is.  The first starts with the
 * widest atom (a U+201B before '+' is written as 15 bytes), so that no
 * other bytes would cut the segment later.  The others make a U+201B near
 * the end of the piece an escaped one, as what follows the cut does in
 * the key: a '+' after one that ends the piece, or two hex digits after
 * one that ends it or comes before its last byte.  A byte after the
 * cut fits only in a piece that is full, which is where these count.  All
 * make the segment long whatever the piece is. */
#define INODE_PIECE_FILL4 PATH_ESC "+" PATH_ESC "+" PATH_ESC "+" PATH_ESC "+"
#define INODE_PIECE_FILL16                                                     \
	INODE_PIECE_FILL4 INODE_PIECE_FILL4 INODE_PIECE_FILL4 INODE_PIECE_FILL4
static const char *const inode_piece_fill[] = {
    INODE_PIECE_FILL16,
    "+" INODE_PIECE_FILL16,
    "00" INODE_PIECE_FILL16,
};
#define INODE_PIECE_FILLS (sizeof inode_piece_fill / sizeof *inode_piece_fill)
#define INODE_PIECE_FILL (sizeof "00" INODE_PIECE_FILL16 - 1) /* most */

int
inode_add_piece(
    struct inode_tree *t, uint64_t parent, const char *name, size_t nlen)
{
	unsigned char *key = NULL, *buf;
	struct inode *p, *n;
	size_t klen, fill;
	int64_t slot;
	ssize_t len;
	int i, kind, rc;

	pthread_rwlock_wrlock(&t->lock);
	p = inode_of(t, parent);
	if (p->type != INODE_DIR) {
		rc = -ENOTDIR;
		goto out;
	}
	if (p->flags & INODE_GONE) {
		rc = blt_errmsg_set(-ENOENT,
		    "'%.*s': the directory was removed", (int)nlen, name);
		goto out;
	}
	if ((rc = inode_key_locked(t, p, &key, &klen)) < 0)
		goto out;
	if ((buf = realloc(key, klen + nlen + 8 + INODE_PIECE_FILL)) == NULL) {
		rc = blt_errmsg_set(-ENOMEM, "out of memory");
		goto out;
	}
	key = buf;
	if ((len = path_decode_name(&t->pc, name, nlen, key + klen, &kind)) <
	    0) {
		rc = (int)len;
		goto out;
	}
	klen += (size_t)len;
	if (klen + 1 > BLT_KEY_MAX) {
		rc = blt_errmsg_set(-ENAMETOOLONG,
		    "'%.*s': the keys below it would be over %u bytes",
		    (int)nlen, name, BLT_KEY_MAX);
		goto out;
	}
	for (i = 0, rc = 0; rc == 0 && i < (int)INODE_PIECE_FILLS; i++) {
		fill = strlen(inode_piece_fill[i]);
		memcpy(key + klen, inode_piece_fill[i], fill);
		rc = inode_canonical(
		    t, p, name, nlen, key, klen + fill, INODE_FILE, 1);
	}
	if (rc == 0)
		rc = blt_errmsg_set(-EINVAL,
		    "'%.*s': not a piece of a long name: a name is cut into "
		    "pieces of as many whole characters as fit in %u bytes "
		    "(doc/keys.md)",
		    (int)nlen, name, PATH_NAME_MAX - 4);
	if (rc < 0)
		goto out;
	if (inode_child(t, p, name, nlen, &slot) != NULL || slot >= 0) {
		rc = -EEXIST; /* after the check, which it passed once */
		goto out;
	}
	n = inode_new_child(t, p, name, nlen, INODE_DIR, INODE_CONT);
	rc = n != NULL
	         ? 0
	         : blt_errmsg_set(-ENOMEM, "directory index: out of memory");
out:
	pthread_rwlock_unlock(&t->lock);
	free(key);
	return rc;
}

/* The key that a new child name of parent would have. */
int
inode_child_key(struct inode_tree *t, uint64_t parent, const char *name,
    size_t nlen, int type, unsigned char **key, size_t *klen)
{
	int rc;

	pthread_rwlock_rdlock(&t->lock);
	rc = inode_child_key_locked(
	    t, inode_of(t, parent), name, nlen, type, key, klen);
	pthread_rwlock_unlock(&t->lock);
	return rc;
}
