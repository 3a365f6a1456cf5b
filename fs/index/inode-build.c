/*
 * The directory index of a mount, made in bulk from the list of keys: the
 * same tree as inode_put_key() (inode-change.c) of every key, several times
 * faster and smaller for a large store.  Directories become nodes and go
 * into the hash table as they come; files are appended to their
 * directory's entries, unindexed.  Once every key is in, each directory's
 * table is made in one pass, which also finds the names that came twice.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "booklet.h"
#include "index.h"
#include "inode-tree.h"

static int
inode_build_nomem(void)
{
	return blt_errmsg_set(-ENOMEM, "directory index: out of memory");
}

/* The scan meets a directory where a lookup made a file's node before the
 * scan reached its name (inode_lookup_unscanned()): that file is a key
 * and a directory, so the key becomes the directory's PATH_SELF when the
 * tree settles, from the scan's own entry of it.  The lookup's node and
 * entry go; the kernel, which keeps no entry during a lazy build, looks
 * the name up again and finds the directory. */
static void
inode_build_unfile(struct inode_tree *t, struct inode *n)
{
	inode_detach(t, n);
	t->nkeys--;
	inode_retire(t, n, NULL);
}

/* The directory named name in cur, made if it is not there yet. */
static struct inode *
inode_build_dir(struct inode_tree *t, struct inode *cur, const char *name,
    size_t nlen, int cont)
{
	struct inode *n;

	if ((n = inode_find(t, cur, name, nlen)) != NULL &&
	    n->type == INODE_DIR)
		return n;
	if (n != NULL)
		inode_build_unfile(t, n);
	if ((n = inode_alloc(t, cur, name, nlen, INODE_DIR)) == NULL)
		return NULL;
	if (cont)
		n->flags |= INODE_CONT;
	if (inode_attach(t, cur, n) < 0) {
		inode_free_node(n);
		return NULL;
	}
	return n;
}

/* A key whose every segment is its own name (path_plain_segment()), put
 * without the walk: 0, or 1 for a key that needs the walk.  Directories
 * made before a segment that needs it are the walk's too.  With dirs_only,
 * its directories alone. */
static int
inode_build_plain(struct inode_tree *t, const char *key, size_t klen,
    uint64_t at, int dirs_only)
{
	struct inode *cur = t->root;
	size_t pos = 0, len;
	int depth = 0;

	for (;;) {
		len = path_plain_segment(&t->pc, key + pos, klen - pos, depth);
		if (len == 0)
			return 1;
		if (pos + len == klen)
			break;
		cur = inode_build_dir(t, cur, key + pos, len, 0);
		if (cur == NULL)
			return inode_build_nomem();
		pos += len + 1;
		depth++;
	}
	if (dirs_only)
		return 0;
	if (idir_add(cur->dir, key + pos, len, 0, at) < 0)
		return inode_build_nomem();
	t->nkeys++;
	return 0;
}

/* inode_put_locked() for a build: directories are found and made through
 * the hash table (there are few and they are looked up again and again),
 * files only appended to their directory's entries; with dirs_only, only
 * the directories the key is in. */
static int
inode_build_key(struct inode_tree *t, const void *key, size_t klen,
    uint64_t vlen, uint64_t at, int dirs_only)
{
	struct inode *cur = t->root;
	struct path_walk w;
	int rc;

	if (klen <= BLT_KEY_MAX &&
	    (rc = inode_build_plain(t, key, klen, at, dirs_only)) <= 0)
		return rc;
	if ((rc = inode_walk_key(t, &w, key, klen, vlen)) < 0)
		return rc;
	while (path_walk_next(&w)) {
		if (w.kind == PATH_LEAF) {
			if (dirs_only)
				return 0;
			if (idir_add(cur->dir, w.name, w.nlen, 0, at) < 0)
				return inode_build_nomem();
			t->nkeys++;
			return 0;
		}
		cur = inode_build_dir(
		    t, cur, w.name, w.nlen, w.kind == PATH_CONT);
		if (cur == NULL)
			return inode_build_nomem();
	}
	if (!dirs_only && !(cur->flags & INODE_MARKER)) {
		cur->flags |= INODE_MARKER;
		t->nkeys++;
	}
	return 0;
}

/* Slots a and b (a first) of directory p have one name: a file and a
 * directory of one path, the file going into the directory as PATH_SELF;
 * or a key that came twice. */
static int
inode_build_twice(struct inode_tree *t, const struct idir_settling *st,
    struct inode *p, uint32_t a, uint32_t b)
{
	struct inode_dir *pd = p->dir;
	const unsigned char *ea = idir_ent(pd, a), *eb = idir_ent(pd, b);
	uint32_t file = (ea[0] & IDIR_ENT_DIR) ? b : a;
	uint64_t at = idir_ent_at(idir_ent(pd, file));
	struct inode *d, *n;

	if (!((ea[0] ^ eb[0]) & IDIR_ENT_DIR)) {
		/* the same file twice; if a lookup made its node during the
		 * build (the other entry is the scan's), the node's entry
		 * stays, and the node takes the scan's offset; else the
		 * entry with an offset (not one a node went back to) */
		if ((eb[0] & IDIR_ENT_NODE) ||
		    (!(ea[0] & (IDIR_ENT_NODE | IDIR_ENT_AT)) &&
		        (eb[0] & IDIR_ENT_AT))) {
			idir_remove(pd, a);
			(void)idir_settle_slot(pd, st, b);
		} else
			idir_settle_drop(pd, b);
		if ((ea[0] | eb[0]) & IDIR_ENT_NODE) {
			n = inode_find(t, p, (const char *)ea + 2, ea[1]);
			n->at = idir_ent_at(ea) | idir_ent_at(eb);
		}
		t->nkeys--;
		return 0;
	}
	d = inode_find(t, p, (const char *)ea + 2, ea[1]);
	if (file == a) {
		/* the directory takes a's place in the table */
		idir_remove(pd, a);
		(void)idir_settle_slot(pd, st, b);
	} else
		idir_settle_drop(pd, b);
	if (idir_find(d->dir, PATH_SELF, PATH_SELF_LEN) >= 0) {
		t->nkeys--; /* twice */
		return 0;
	}
	return idir_add(d->dir, PATH_SELF, PATH_SELF_LEN, 0, at) < 0
	           ? inode_build_nomem()
	           : 0;
}

/* Make directory p's table, settling the names that came twice. */
static int
inode_settle_dir(
    struct inode_tree *t, struct idir_settling *st, struct inode *p)
{
	struct inode_dir *d = p->dir;
	int64_t twin;
	uint32_t s;
	int rc;

	if (idir_settle_begin(d, st) < 0)
		return inode_build_nomem();
	for (s = 0; s < d->n; s++) {
		if (d->v[s].ent == IDIR_HOLE)
			continue;
		if ((twin = idir_settle_slot(d, st, s)) >= 0 &&
		    (rc = inode_build_twice(t, st, p, (uint32_t)twin, s)) < 0)
			return rc;
	}
	return 0;
}

/* Give back the room the build left over in d.  The names that came twice
 * left holes, squeezed out here so that the index can be saved as it is
 * (inode-save.c saves listings without holes alone). */
static int
inode_settle_fit(struct inode_dir *d)
{
	if ((d->n != d->live || d->ndead != 0) && idir_compact(d) < 0)
		return inode_build_nomem();
	idir_fit(d);
	return 0;
}

/* Index every directory, and give back the room the build left over. */
static int
inode_settle(struct inode_tree *t)
{
	struct idir_settling st = {NULL, 0};
	struct inode *n;
	size_t i;
	int rc;

	t->building = 0;
	rc = inode_settle_dir(t, &st, t->root);
	for (i = 0; rc == 0 && i < t->nbuckets; i++)
		if ((n = t->buckets[i].node) != NULL && n->type == INODE_DIR &&
		    !n->dir->indexed)
			rc = inode_settle_dir(t, &st, n);
	free(st.hash);
	if (rc < 0)
		return rc;
	rc = inode_settle_fit(t->root->dir);
	for (i = 0; rc == 0 && i < t->nbuckets; i++)
		if ((n = t->buckets[i].node) != NULL && n->type == INODE_DIR)
			rc = inode_settle_fit(n->dir);
	return rc;
}

int
inode_tree_begin(const struct path_conf *pc, struct inode_tree **out)
{
	int rc;

	/* the hash table holds directories only: it starts small, and
	 * grows as they come, whatever the number of keys */
	if ((rc = inode_tree_create(pc, 0, out)) < 0)
		return rc;
	(*out)->building = 1;
	(*out)->root->dir->indexed = 0;
	return 0;
}

/* Put every key next gives, or with dirs_only the directories they are
 * in, holding the tree's lock until next says INODE_NEXT_LATER. */
static int
inode_tree_pass(
    struct inode_tree *t, inode_next_fn *next, void *arg, int dirs_only)
{
	const void *key;
	size_t klen;
	uint64_t vlen, at;
	int rc;

	rc = next(arg, &key, &klen, &vlen, &at);
	while (rc > 0) {
		pthread_rwlock_wrlock(&t->lock);
		while (rc == 1 && (rc = inode_build_key(
		                       t, key, klen, vlen, at, dirs_only)) == 0)
			rc = next(arg, &key, &klen, &vlen, &at);
		pthread_rwlock_unlock(&t->lock);
		if (rc == INODE_NEXT_LATER)
			rc = next(arg, &key, &klen, &vlen, &at);
	}
	return rc;
}

int
inode_tree_fill_dirs(struct inode_tree *t, inode_next_fn *next, void *arg)
{
	return inode_tree_pass(t, next, arg, 1);
}

int
inode_tree_fill(struct inode_tree *t, inode_next_fn *next, void *arg)
{
	int rc;

	if ((rc = inode_tree_pass(t, next, arg, 0)) < 0)
		return rc;
	pthread_rwlock_wrlock(&t->lock);
	if ((rc = inode_settle(t)) == 0)
		t->stamp = 1;
	pthread_rwlock_unlock(&t->lock);
	return rc;
}

/* Build a tree from every key next gives. */
int
inode_tree_build(const struct path_conf *pc, inode_next_fn *next, void *arg,
    struct inode_tree **out)
{
	struct inode_tree *t;
	int rc;

	*out = NULL;
	if ((rc = inode_tree_begin(pc, &t)) < 0)
		return rc;
	if ((rc = inode_tree_fill(t, next, arg)) < 0) {
		inode_tree_free(t);
		return rc;
	}
	*out = t;
	return 0;
}
