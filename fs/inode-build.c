/*
 * The directory index of a mount, made in bulk from the list of keys: the
 * same tree as inode_put_key() (inode-change.c) of every key, several times
 * faster for a large store.  Directories go into the hash table as they
 * come, files only into their directory's listing; once every key is in,
 * the table grows once and the files are indexed in one pass.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "inode-tree.h"

#define INODE_PREFETCH 16 /* how far ahead inode_settle() prefetches */

/* The pending files of a build, in the order they were made. */
struct inode_pending {
	struct inode **v;
	size_t n, cap;
};

/* inode_put_locked() for a build: directories go into the hash table at
 * once (there are few and they are looked up again and again), files only
 * into their directory's listing, for inode_settle() to index in bulk. */
static int
inode_build_key(struct inode_tree *t, const void *key, size_t klen,
    uint64_t vlen, int64_t ts, struct inode_pending *pend)
{
	struct inode *cur = t->root, *n;
	struct inode **v;
	struct path_walk w;
	int rc;

	if ((rc = inode_walk_key(t, &w, key, klen, vlen)) < 0)
		return rc;
	while (path_walk_next(&w)) {
		if (w.kind == PATH_LEAF) {
			if (pend->n == pend->cap) {
				size_t cap = pend->cap ? pend->cap * 2 : 1024;

				if ((v = realloc(pend->v, cap * sizeof *v)) ==
				    NULL)
					goto nomem;
				pend->v = v;
				pend->cap = cap;
			}
			if ((n = inode_alloc(t, cur, w.name, w.nlen, INODE_FILE,
			         1)) == NULL)
				goto nomem;
			if (inode_link(cur, n) < 0) {
				inode_free_node(n);
				goto nomem;
			}
			if (ts != INODE_TS_UNKNOWN) {
				n->size = vlen;
				n->ts = ts;
				n->flags |= INODE_ATTR;
			}
			pend->v[pend->n++] = n;
			t->nkeys++;
			return 0;
		}
		if ((n = inode_find(t, cur, w.name, w.nlen)) == NULL) {
			/* from the heap, so that directories sit together */
			if ((n = inode_alloc(
			         t, cur, w.name, w.nlen, INODE_DIR, 0)) == NULL)
				goto nomem;
			if (w.kind == PATH_CONT)
				n->flags |= INODE_CONT;
			if (inode_attach(t, cur, n) < 0) {
				inode_free_node(n);
				goto nomem;
			}
		}
		cur = n;
	}
	if (!(cur->flags & INODE_MARKER)) {
		cur->flags |= INODE_MARKER;
		t->nkeys++;
	}
	return 0;
nomem:
	return blt_errmsg_set(-ENOMEM, "directory index: out of memory");
}

/* Put one pending file into the hash table, settling what it meets: a
 * directory of the same name takes it in as PATH_SELF, and a file of the
 * same name means the key came twice. */
static void
inode_settle_one(struct inode_tree *t, struct inode *f)
{
	size_t mask = t->nbuckets - 1, i;
	struct inode *e, *d;

	for (i = f->hash & mask; (e = t->buckets[i].node) != NULL;
	     i = (i + 1) & mask) {
		if (t->buckets[i].hash != f->hash || e->parent != f->parent ||
		    e->nlen != f->nlen || memcmp(e->name, f->name, f->nlen))
			continue;
		inode_unlink(f);
		if (e->type == INODE_FILE) {
			t->nkeys--;
			inode_free_node(f);
			return;
		}
		d = e;
		inode_set_name(f, PATH_SELF, PATH_SELF_LEN); /* fits inline */
		f->flags |= INODE_SELF;
		if (inode_find(t, d, PATH_SELF, PATH_SELF_LEN) != NULL ||
		    inode_link(d, f) < 0) {
			t->nkeys--; /* twice, or out of memory */
			inode_free_node(f);
			return;
		}
		f->hash = inode_hash(d, f->name, f->nlen);
		f->ino = ino_home(d->ino, INODE_FILE, f->name, f->nlen);
		inode_table_add(t->buckets, t->nbuckets, f);
		t->nnodes++;
		return;
	}
	t->buckets[i].hash = f->hash;
	t->buckets[i].node = f;
	t->nnodes++;
}

/* Index the pending files: prefetching the buckets a few files ahead turns
 * a cache miss per file into a stream of overlapping ones. */
static int
inode_settle(struct inode_tree *t, struct inode_pending *pend)
{
	size_t i, j;

	while (t->nnodes + pend->n > t->nbuckets / 2)
		if (inode_grow_table(t) < 0)
			return blt_errmsg_set(
			    -ENOMEM, "directory index: out of memory");
	for (i = 0; i < pend->n; i++)
		pend->v[i]->hash = inode_hash(
		    pend->v[i]->parent, pend->v[i]->name, pend->v[i]->nlen);
	for (i = 0; i < pend->n; i++) {
		j = i + INODE_PREFETCH;
		if (j < pend->n)
			__builtin_prefetch(
			    &t->buckets[pend->v[j]->hash & (t->nbuckets - 1)]);
		inode_settle_one(t, pend->v[i]);
	}
	return 0;
}

/* Build a tree from every item next gives. */
int
inode_tree_load(const struct path_conf *pc, size_t size_hint,
    inode_item_fn *next, void *arg, struct inode_tree **out)
{
	struct inode_pending pend = {0};
	struct inode_tree *t;
	const void *key;
	size_t klen;
	uint64_t vlen;
	int64_t ts;
	int rc;

	*out = NULL;
	/* a small table while only directories are in it: their lookups
	 * stay in the cache and the TLB; inode_settle() grows it once */
	(void)size_hint;
	if ((rc = inode_tree_create(pc, 0, &t)) < 0)
		return rc;
	while ((rc = next(arg, &key, &klen, &vlen, &ts)) > 0)
		if ((rc = inode_build_key(t, key, klen, vlen, ts, &pend)) < 0)
			break;
	if (rc == 0)
		rc = inode_settle(t, &pend);
	free(pend.v);
	if (rc < 0) {
		inode_tree_free(t);
		return rc;
	}
	t->stamp = 1;
	*out = t;
	return 0;
}

/* inode_tree_build()'s callback as an inode_item_fn: no timestamps. */
struct inode_keys_only {
	inode_next_fn *next;
	void *arg;
};

static int
inode_next_item(
    void *arg, const void **key, size_t *klen, uint64_t *vlen, int64_t *ts)
{
	struct inode_keys_only *k = arg;

	*ts = INODE_TS_UNKNOWN;
	return k->next(k->arg, key, klen, vlen);
}

/* Build a tree from every key next gives. */
int
inode_tree_build(const struct path_conf *pc, size_t size_hint,
    inode_next_fn *next, void *arg, struct inode_tree **out)
{
	struct inode_keys_only k = {next, arg};

	return inode_tree_load(pc, size_hint, inode_next_item, &k, out);
}
