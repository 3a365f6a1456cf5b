/*
 * The directory index as bytes, for the index cache (index-cache.c): a
 * mount of a store that has not changed since the index was saved reads
 * the listings back instead of scanning every key.
 *
 * The bytes are the tree's own arrays: for each directory, parents first,
 * a record (struct isave_dir), its slots, its names and its table.  Only
 * a tree as a build leaves it is saved (no holes, nothing the mount
 * changed), so the arrays are written as they are and read back with one
 * copy each; only a file that has a node (one the kernel held during a
 * lazy build, -o lazy) is written as a file without one.  Reading trusts
 * nothing: every offset, length, cookie and table entry is checked before
 * it is used, and a directory must be named, once, by a directory entry of
 * its parent.  The caller checks the bytes' sum and that they are this
 * build's and this store's.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "booklet.h"
#include "index.h"
#include "inode-tree.h"

#define ISAVE_ROOT UINT32_MAX /* parent of the root's record */
#define ISAVE_FLAGS (INODE_MARKER | INODE_CONT)
#define ISAVE_DIR_ENT (IDIR_ENT_DIR | IDIR_ENT_NODE)

struct isave_head {
	uint64_t ndirs;
	uint64_t nkeys;
};

struct isave_dir {
	uint32_t parent;   /* record number of its parent, or ISAVE_ROOT */
	uint32_t slot;     /* its entry in the parent's listing */
	uint32_t flags;    /* ISAVE_FLAGS */
	uint32_t n;        /* entries: slots, without holes */
	uint32_t next;     /* the next cookie */
	uint32_t nused;    /* bytes of names */
	uint32_t nsubdirs; /* entries that are directories */
	uint32_t tsize;    /* buckets of its table, or 0: none */
};

static int
isave_changed(void)
{
	return blt_errmsg_set(
	    -EAGAIN, "directory index: changed since the mount, not saved");
}

/* A directory of the save, parents first: its node, the record number of
 * its parent and its slot in the parent's listing. */
struct isave_queued {
	struct inode *node;
	uint32_t parent, slot;
};

/* Queue the directories listed by q[i], in one pass over its entries that
 * also checks the listing is as a build leaves it: no holes, names end to
 * end in the order of the slots.  Its files with nodes are counted in
 * *nfiles. */
static int
isave_queue_children(struct inode_tree *t, struct isave_queued *q, size_t i,
    size_t *nq, size_t *nfiles)
{
	const struct inode *n = q[i].node;
	const struct inode_dir *d = n->dir;
	uint32_t s, off = 0;

	if ((n->flags & ~ISAVE_FLAGS) != 0 || n->mode != 0 || d->mtime != 0 ||
	    d->live != d->n || d->ndead != 0 || !d->indexed)
		return isave_changed();
	for (s = 0; s < d->n; s++) {
		const unsigned char *e = idir_ent(d, s);
		struct inode *c;

		if (d->v[s].ent != off)
			return isave_changed();
		off += idir_ent_size(e);
		if ((e[0] & ~IDIR_ENT_AT) == 0) /* a file without a node */
			continue;
		if ((e[0] & ~IDIR_ENT_AT) == IDIR_ENT_NODE) {
			(*nfiles)++; /* a file with a node */
			continue;
		}
		/* every node is a directory: *nq stays within t->nnodes */
		if (e[0] != ISAVE_DIR_ENT || *nq == t->nnodes + 1 ||
		    (c = inode_find(t, n, (const char *)e + 2, e[1])) == NULL ||
		    c->type != INODE_DIR)
			return isave_changed();
		q[*nq].node = c;
		q[*nq].parent = (uint32_t)i;
		q[(*nq)++].slot = s;
	}
	return off == d->nused ? 0 : isave_changed();
}

/* The names of d through put; with files, those of its files with nodes
 * as files without (a node is what the kernel holds, not what the store
 * has). */
static int
isave_put_names(
    const struct inode_dir *d, int files, inode_put_fn *put, void *arg)
{
	unsigned char flags;
	uint32_t s, from = 0;
	int rc;

	for (s = 0; files && s < d->n; s++) {
		flags = idir_ent(d, s)[0];
		if ((flags & ~IDIR_ENT_AT) != IDIR_ENT_NODE)
			continue;
		flags &= (unsigned char)~IDIR_ENT_NODE;
		if ((rc = put(arg, d->names + from, d->v[s].ent - from)) < 0 ||
		    (rc = put(arg, &flags, 1)) < 0)
			return rc;
		from = d->v[s].ent + 1;
	}
	/* names is NULL in a listing left empty */
	return from == d->nused ? 0
	                        : put(arg, d->names + from, d->nused - from);
}

/* Write t through put, holding its read lock; locked(arg) is called once
 * the lock is held, so that the caller knows no change can come first. */
int
inode_tree_save(struct inode_tree *t, inode_put_fn *put, void *arg,
    void (*locked)(void *), void *larg)
{
	struct isave_queued *q;
	struct isave_head h;
	size_t nq = 1, nfiles = 0, i;
	int rc = 0;

	pthread_rwlock_rdlock(&t->lock);
	if (locked != NULL)
		locked(larg);
	if ((q = malloc((t->nnodes + 1) * sizeof *q)) == NULL) {
		rc = blt_errmsg_set(-ENOMEM, "directory index: out of memory");
		goto out;
	}
	q[0].node = t->root;
	q[0].parent = ISAVE_ROOT;
	q[0].slot = 0;
	for (i = 0; i < nq && rc == 0; i++)
		rc = isave_queue_children(t, q, i, &nq, &nfiles);
	if (rc == 0 && nq + nfiles != t->nnodes + 1) /* nodes not listed */
		rc = isave_changed();
	if (rc < 0)
		goto out;
	h.ndirs = nq;
	h.nkeys = t->nkeys;
	if ((rc = put(arg, &h, sizeof h)) < 0)
		goto out;
	for (i = 0; i < nq && rc == 0; i++) {
		const struct inode_dir *d = q[i].node->dir;
		struct isave_dir r = {
		    .parent = q[i].parent,
		    .slot = q[i].slot,
		    .flags = q[i].node->flags,
		    .n = d->n,
		    .next = d->next,
		    .nused = d->nused,
		    .nsubdirs = d->nsubdirs,
		    .tsize = d->tab != NULL ? d->tmask + 1 : 0,
		};

		if ((rc = put(arg, &r, sizeof r)) == 0 &&
		    (rc = put(arg, d->v, (size_t)d->n * sizeof *d->v)) == 0 &&
		    (rc = isave_put_names(d, nfiles != 0, put, arg)) == 0)
			rc = put(arg, d->tab, (size_t)r.tsize * sizeof *d->tab);
	}
out:
	pthread_rwlock_unlock(&t->lock);
	free(q);
	return rc;
}

/* --- reading back ---------------------------------------------------- */

struct isave_in {
	const unsigned char *p;
	size_t left;
	const char *file; /* for messages */
};

static int
isave_bad(const struct isave_in *in, const char *why)
{
	return blt_errmsg_set(-EINVAL, "%s: %s", in->file, why);
}

/* Take n bytes; NULL if fewer are left. */
static const void *
isave_take(struct isave_in *in, size_t n)
{
	const void *p = in->p;

	if (n > in->left)
		return NULL;
	in->p += n;
	in->left -= n;
	return p;
}

/* Whether e (a flags byte, a length, the name) is a name a listing may
 * hold: not empty, not "." or "..", no '/' or NUL.  (A loop: names are
 * short, and two memchr() calls a name were a sixth of a load.) */
static int
isave_name_ok(const unsigned char *e)
{
	const unsigned char *name = e + 2;
	unsigned i;

	for (i = 0; i < e[1]; i++)
		if (name[i] == '/' || name[i] == '\0')
			return 0;
	return e[1] != 0 && !(name[0] == '.' &&
	                        (e[1] == 1 || (e[1] == 2 && name[1] == '.')));
}

/* Fill d from record r and the arrays after it, checking each; adds the
 * keys it holds (files) to *nkeys. */
static int
isave_read_dir(struct isave_in *in, const struct isave_dir *r,
    struct inode_dir *d, uint64_t *nkeys)
{
	const struct inode_slot *v;
	const unsigned char *names;
	const uint32_t *tab;
	uint32_t s, off = 0, dirs = 0, used = 0, last = 2;
	struct inode_slot sl;

	v = isave_take(in, (size_t)r->n * sizeof *v);
	names = isave_take(in, r->nused);
	tab = isave_take(in, (size_t)r->tsize * sizeof *tab);
	if (v == NULL || names == NULL || tab == NULL)
		return isave_bad(in, "cut short");
	for (s = 0; s < r->n; s++) {
		memcpy(&sl, v + s, sizeof sl);
		if (sl.ent != off || off + 2 > r->nused ||
		    off + idir_ent_size(names + off) > r->nused ||
		    !isave_name_ok(names + off) || sl.cookie <= last ||
		    sl.cookie >= r->next)
			return isave_bad(
			    in, "a listing does not hold together");
		/* a file's offset is only a hint: blt_find_at() checks it */
		if (names[off] == ISAVE_DIR_ENT)
			dirs++;
		else if ((names[off] & ~IDIR_ENT_AT) != 0)
			return isave_bad(in, "an entry of unknown kind");
		last = sl.cookie;
		off += idir_ent_size(names + off);
	}
	if (off != r->nused || dirs != r->nsubdirs)
		return isave_bad(in, "a listing does not hold together");
	if (r->tsize != 0) {
		if (r->tsize < 16 || (r->tsize & (r->tsize - 1)) != 0 ||
		    r->tsize <= r->n)
			return isave_bad(in, "a table of a wrong size");
		for (s = 0; s < r->tsize; s++) {
			uint32_t x;

			memcpy(&x, tab + s, sizeof x);
			if (x > r->n)
				return isave_bad(
				    in, "a table entry out of range");
			used += x != 0;
		}
		if (used != r->n)
			return isave_bad(in, "a table that misses entries");
	}
	d->v = malloc(r->n > 0 ? (size_t)r->n * sizeof *v : 1);
	d->names = malloc(r->nused > 0 ? r->nused : 1);
	d->tab = r->tsize > 0 ? malloc((size_t)r->tsize * sizeof *tab) : NULL;
	if (d->v == NULL || d->names == NULL ||
	    (r->tsize > 0 && d->tab == NULL))
		return blt_errmsg_set(
		    -ENOMEM, "directory index: out of memory");
	memcpy(d->v, v, (size_t)r->n * sizeof *v);
	memcpy(d->names, names, r->nused);
	if (r->tsize > 0)
		memcpy(d->tab, tab, (size_t)r->tsize * sizeof *tab);
	d->n = d->cap = d->live = r->n;
	d->next = r->next;
	d->nused = d->ncap = r->nused;
	d->tmask = r->tsize > 0 ? r->tsize - 1 : 0;
	d->nsubdirs = r->nsubdirs;
	d->indexed = 1;
	*nkeys += r->n - r->nsubdirs + ((r->flags & INODE_MARKER) != 0);
	return 0;
}

/* The node of record r, whose parent's record came before, in the tree. */
static int
isave_add_dir(struct inode_tree *t, struct isave_in *in,
    const struct isave_dir *r, struct inode **nodes, uint32_t i,
    uint32_t *children)
{
	struct inode *p, *n;
	const unsigned char *e;
	const char *name;

	if (r->parent >= i || r->slot >= nodes[r->parent]->dir->n ||
	    (r->flags & ~ISAVE_FLAGS) != 0)
		return isave_bad(in, "a directory out of place");
	p = nodes[r->parent];
	e = idir_ent(p->dir, r->slot);
	name = (const char *)e + 2;
	if (e[0] != ISAVE_DIR_ENT || inode_find(t, p, name, e[1]) != NULL)
		return isave_bad(in, "a directory out of place");
	if (t->nnodes + 1 > t->nbuckets / 2 && inode_grow_table(t) < 0)
		return blt_errmsg_set(
		    -ENOMEM, "directory index: out of memory");
	if ((n = inode_alloc(t, p, name, e[1], INODE_DIR)) == NULL)
		return blt_errmsg_set(
		    -ENOMEM, "directory index: out of memory");
	n->flags = (uint8_t)r->flags;
	n->parent = p;
	n->cookie = p->dir->v[r->slot].cookie;
	n->hash = inode_hash(p, n->name, n->nlen);
	inode_table_add(t->buckets, t->nbuckets, n);
	t->nnodes++;
	children[r->parent]++;
	nodes[i] = n;
	return 0;
}

/* The tree of the len bytes at p (what inode_tree_save() wrote), named
 * file in messages.  -EINVAL: the bytes are not such a tree. */
int
inode_tree_load(const struct path_conf *pc, const void *p, size_t len,
    const char *file, struct inode_tree **out)
{
	struct isave_in in = {.p = p, .left = len, .file = file};
	const struct isave_head *hp;
	struct isave_head h;
	struct isave_dir r;
	struct inode **nodes = NULL;
	struct inode_tree *t = NULL;
	uint32_t *children = NULL, i;
	uint64_t nkeys = 0;
	const void *rp;
	int rc;

	*out = NULL;
	if ((hp = isave_take(&in, sizeof h)) == NULL)
		return isave_bad(&in, "cut short");
	memcpy(&h, hp, sizeof h);
	if (h.ndirs == 0 || h.ndirs > len / sizeof r || h.ndirs >= ISAVE_ROOT)
		return isave_bad(&in, "a wrong count of directories");
	if ((rc = inode_tree_create(pc, h.ndirs, &t)) < 0)
		return rc;
	nodes = malloc(h.ndirs * sizeof *nodes);
	children = calloc(h.ndirs, sizeof *children);
	if (nodes == NULL || children == NULL) {
		rc = blt_errmsg_set(-ENOMEM, "directory index: out of memory");
		goto out;
	}
	nodes[0] = t->root;
	t->root->flags = 0;
	for (i = 0; i < h.ndirs; i++) {
		if ((rp = isave_take(&in, sizeof r)) == NULL) {
			rc = isave_bad(&in, "cut short");
			goto out;
		}
		memcpy(&r, rp, sizeof r);
		if (i == 0 &&
		    (r.parent != ISAVE_ROOT || (r.flags & ~ISAVE_FLAGS) != 0)) {
			rc = isave_bad(&in, "no root");
			goto out;
		}
		if (i == 0)
			t->root->flags = (uint8_t)r.flags;
		if ((i > 0 && (rc = isave_add_dir(
		                   t, &in, &r, nodes, i, children)) < 0) ||
		    (rc = isave_read_dir(&in, &r, nodes[i]->dir, &nkeys)) < 0)
			goto out;
	}
	/* each directory entry names one directory: as many as each has */
	for (i = 0; i < h.ndirs; i++)
		if (children[i] != nodes[i]->dir->nsubdirs) {
			rc = isave_bad(
			    &in, "a directory entry without its node");
			goto out;
		}
	if (in.left != 0 || nkeys != h.nkeys) {
		rc = isave_bad(&in, "a wrong count of keys");
		goto out;
	}
	t->nkeys = nkeys;
	t->stamp = 1;
	*out = t;
	t = NULL;
out:
	inode_tree_free(t);
	free(nodes);
	free(children);
	return rc;
}
