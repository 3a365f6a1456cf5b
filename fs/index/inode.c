/*
 * The directory index: the tree of names the mount shows, made once from
 * the list of keys at mount time and kept up to date on every change, so
 * that lookup and readdir never touch the store.  This file keeps the tree
 * itself: its nodes, the hash table and the listings, what the kernel
 * asks of them (lookup, stat, forget) and the sizes and times of files.
 * inode-change.c changes the tree as keys come and go and names move,
 * inode-build.c makes the tree of a mount in bulk, inode-key.c gives the
 * key of a node or of a new name, and inode-list.c lists directories and
 * subtrees; inode-tree.h is what they share.
 *
 Each directory lists its entries by name (inode-dir.c): a file is an
 * entry of a few bytes there, and becomes a node only when the kernel
 * looks it up (or a caller asks for its node); a node nobody holds and
 * that carries nothing of its own is freed again when the kernel forgets
 * it.  So a store of 100 million keys costs its mount tens of bytes per
 * key, and a walk such as find makes no node for a file.  Directories are
 * always nodes.  A node knows its parent and its encoded name only; its
 * key is made from the names on the way up (inode-key.c), so renaming a
 * directory is one move here however many keys lie below it.  One hash
 * table over (parent, name) finds nodes in O(1), each directory's own
 * table the entries without one.
 *
 * A node's nodeid (the number the kernel knows it by) is its address, the
 * root's FUSE_ROOT_ID: the kernel only passes nodeids it holds a lookup
 * reference to, and a node removed from the tree is kept (INODE_GONE, on a
 * list of its own) until its references are forgotten.  st_ino is a hash
 * of the node's place instead, the same on every mount (fs/index/ino.c).
 *
 * One rwlock guards everything.  Lookup reference counts change under the
 * read lock with atomic operations; all other changes take the write lock.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "booklet.h"
#include "index.h"
#include "inode-tree.h"

/* A node has room for a name of this many bytes at least. */
#define INODE_INLINE_NAME 8
#define INODE_HUGE ((size_t)2 << 20) /* huge page size */

/* A zeroed table of nb buckets.  Big ones ask for huge pages: probes land
 * anywhere in the table, and a TLB miss per probe costs more than the
 * cache miss. */
static struct inode_bucket *
inode_table_alloc(size_t nb)
{
	size_t size = nb * sizeof(struct inode_bucket);
	void *b;

	if (size < INODE_HUGE)
		return calloc(nb, sizeof(struct inode_bucket));
	if (posix_memalign(&b, INODE_HUGE, size) != 0)
		return NULL;
	(void)madvise(b, size, MADV_HUGEPAGE); /* a hint; fine if refused */
	memset(b, 0, size);
	return b;
}

/* Double the hash table: it stays at most half full. */
int
inode_grow_table(struct inode_tree *t)
{
	size_t nb = t->nbuckets * 2, i;
	struct inode_bucket *b;

	if ((b = inode_table_alloc(nb)) == NULL)
		return -ENOMEM;
	for (i = 0; i < t->nbuckets; i++)
		if (t->buckets[i].node != NULL)
			inode_table_add(b, nb, t->buckets[i].node);
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = nb;
	return 0;
}

/* Take n out of the table, shifting back the entries probed past it. */
static void
inode_table_del(struct inode_tree *t, struct inode *n)
{
	size_t mask = t->nbuckets - 1, i, j, home;

	for (i = n->hash & mask; t->buckets[i].node != n; i = (i + 1) & mask)
		assert(t->buckets[i].node != NULL);
	for (j = (i + 1) & mask; t->buckets[j].node != NULL;
	     j = (j + 1) & mask) {
		home = t->buckets[j].hash & mask;
		/* move j into the hole at i unless its home lies in (i, j] */
		if (i <= j ? (home <= i || home > j)
		           : (home <= i && home > j)) {
			t->buckets[i] = t->buckets[j];
			i = j;
		}
	}
	t->buckets[i].node = NULL;
}

/* Give n the name (it is not in the hash table meanwhile). */
int
inode_set_name(struct inode *n, const char *name, size_t nlen)
{
	char *p;

	if (nlen > n->ncap) {
		if ((p = malloc(nlen + 1)) == NULL)
			return -ENOMEM;
		if (n->flags & INODE_HEAP_NAME)
			free(n->name);
		n->name = p;
		n->ncap = (uint16_t)nlen;
		n->flags |= INODE_HEAP_NAME;
	}
	memcpy(n->name, name, nlen);
	n->name[nlen] = '\0';
	n->nlen = (uint16_t)nlen;
	return 0;
}

/* A node named name in parent (NULL: the root), numbered for that place. */
struct inode *
inode_alloc(struct inode_tree *t, const struct inode *parent, const char *name,
    size_t nlen, int type)
{
	size_t cap = nlen < INODE_INLINE_NAME ? INODE_INLINE_NAME : nlen;
	struct inode *n;

	if ((n = malloc(sizeof *n + cap + 1)) == NULL)
		return NULL;
	memset(n, 0, sizeof *n);
	n->name = n->iname;
	n->ncap = (uint16_t)cap;
	memcpy(n->name, name, nlen);
	n->name[nlen] = '\0';
	n->nlen = (uint16_t)nlen;
	n->type = (uint8_t)type;
	if (type == INODE_DIR && (n->dir = calloc(1, sizeof *n->dir)) == NULL) {
		free(n);
		return NULL;
	}
	if (n->dir != NULL) {
		n->dir->next = 3; /* 1 and 2 are "." and ".." */
		n->dir->indexed = !t->building;
	}
	n->ino = parent == NULL ? INODE_ROOT
	                        : ino_home(parent->ino, type, name, nlen);
	n->gen = t->next_gen++;
	return n;
}

/* Free n and what it owns; safe on NULL. */
void
inode_free_node(struct inode *n)
{
	if (n == NULL)
		return;
	idir_free(n->dir);
	if (n->flags & INODE_HEAP_NAME)
		free(n->name);
	free(n);
}

/* Keep n's number from new nodes at the place it was made for: put it in
 * the away set.  -ENOMEM. */
static int
inode_away(struct inode_tree *t, struct inode *n)
{
	if (n->flags & INODE_AWAY)
		return 0;
	if (ino_set_add(&t->away, n->ino) < 0)
		return -ENOMEM;
	n->flags |= INODE_AWAY;
	return 0;
}

/* n is where it now stands: its number goes into the away set if it was
 * made for another place, and out of it if it is home again.  Out of
 * memory, the number stays out of the set, and a new node at n's old place
 * may share it. */
void
inode_moved(struct inode_tree *t, struct inode *n)
{
	if (n->ino != ino_home(n->parent->ino, n->type, n->name, n->nlen))
		(void)inode_away(t, n);
	else if (n->flags & INODE_AWAY) {
		ino_set_del(&t->away, n->ino);
		n->flags &= ~INODE_AWAY;
	}
}

/* n is freed: its number is free again. */
static void
inode_free_ino(struct inode_tree *t, struct inode *n)
{
	if (n->flags & INODE_AWAY)
		ino_set_del(&t->away, n->ino);
	inode_free_node(n);
}

/* Append n to the listing of directory parent. */
int
inode_link(struct inode *parent, struct inode *n)
{
	struct inode_dir *d = parent->dir;
	int64_t s;

	s = idir_add(d, n->name, n->nlen,
	    IDIR_ENT_NODE | (n->type == INODE_DIR ? IDIR_ENT_DIR : 0), 0);
	if (s < 0)
		return (int)s;
	n->parent = parent;
	n->cookie = d->v[s].cookie;
	if (n->type == INODE_DIR)
		d->nsubdirs++;
	return 0;
}

/* Directory d's entries changed: its time moves on, and always forward,
 * since programs compare it to tell that a listing changed (Python's
 * import system, make, git).  Nothing moves while the tree is built. */
static void
inode_touch(struct inode_tree *t, struct inode *d)
{
	int64_t now;

	if (!t->stamp)
		return;
	now = blt_now();
	d->dir->mtime = now > d->dir->mtime ? now : d->dir->mtime + 1;
}

/* Link n (named already) into directory parent and the hash table. */
int
inode_attach(struct inode_tree *t, struct inode *parent, struct inode *n)
{
	if (t->nnodes + 1 > t->nbuckets / 2 && inode_grow_table(t) < 0)
		return -ENOMEM;
	if (inode_link(parent, n) < 0)
		return -ENOMEM;
	inode_touch(t, parent);
	if (n->type == INODE_DIR && n->dir->mtime == 0)
		inode_touch(t, n); /* a new directory */
	n->hash = inode_hash(parent, n->name, n->nlen);
	inode_table_add(t->buckets, t->nbuckets, n);
	t->nnodes++;
	if (n->type == INODE_DIR && t->stamp)
		t->dir_changes++;
	return 0;
}

/* Take n out of its parent's listing. */
void
inode_unlink(struct inode *n)
{
	struct inode_dir *d = n->parent->dir;
	uint32_t s = idir_slot_at(d, n->cookie);

	assert(s < d->n && d->v[s].cookie == n->cookie &&
	       d->v[s].ent != IDIR_HOLE);
	idir_remove(d, s);
	if (n->type == INODE_DIR)
		d->nsubdirs--;
	if (d->indexed && idir_wasteful(d))
		(void)idir_compact(d); /* or later: holes cost only room */
	n->parent = NULL;
}

/* Unlink n from its parent and the hash table (it stays allocated). */
void
inode_detach(struct inode_tree *t, struct inode *n)
{
	inode_table_del(t, n);
	t->nnodes--;
	inode_touch(t, n->parent);
	inode_unlink(n);
}

/* n has left the tree: free it, or keep it while the kernel holds it. */
void
inode_retire(struct inode_tree *t, struct inode *n, struct inode_stale *stale)
{
	n->flags |= INODE_GONE;
	if (__atomic_load_n(&n->nlookup, __ATOMIC_ACQUIRE) == 0) {
		inode_free_ino(t, n);
		return;
	}
	/* an open file keeps its number: a new file of its name gets
	 * another, as on a file system that frees an inode only at the
	 * last close */
	(void)inode_away(t, n);
	n->parent = NULL;
	n->hnext = t->gone;
	if (t->gone != NULL)
		t->gone->parent = n;
	t->gone = n;
	(void)stale;
}

/* What the tree knows of n, into o if o is not NULL. */
void
inode_fill(struct inode_tree *t, const struct inode *n, struct inode_info *o)
{
	if (o == NULL)
		return;
	memset(o, 0, sizeof *o);
	o->nodeid = inode_nodeid(t, n);
	o->ino = n->ino;
	o->gen = n->gen;
	o->parent = n->parent != NULL && !(n->flags & INODE_GONE)
	                ? inode_nodeid(t, n->parent)
	                : INODE_ROOT;
	if (n == t->root)
		o->parent = INODE_ROOT;
	o->type = n->type;
	o->flags = n->flags & ~INODE_PRIVATE;
	/* a directory of a tree still building may have subdirectories not
	 * met yet: 1 says "not counted" (find trusts no count then) */
	o->nlink = n->type != INODE_DIR ? 1
	           : t->building        ? 1
	                                : 2 + n->dir->nsubdirs;
	o->nchildren = n->dir != NULL ? n->dir->live : 0;
	o->attr = (n->flags & INODE_ATTR) != 0;
	o->size = n->size;
	o->ts = n->ts;
	if (n->dir != NULL)
		o->ts = n->dir->mtime != 0 ? n->dir->mtime : BLT_NO_TS;
	o->aver = n->aver;
	o->mode = n->mode;
	o->uid = n->uid;
	o->gid = n->gid;
	o->attr_sets =
	    atomic_load_explicit(&t->attr_sets, memory_order_relaxed);
}

/* Forget what n's size and timestamp were: its value changed. */
void
inode_drop_attr(struct inode *n)
{
	n->flags &= ~INODE_ATTR;
	n->at = 0; /* the value is in another block now */
	n->aver++;
}

/* Create an empty tree (just the root). */
int
inode_tree_create(
    const struct path_conf *pc, size_t size_hint, struct inode_tree **out)
{
	pthread_rwlockattr_t attr;
	struct inode_tree *t;
	size_t nb = 1024;
	int rc;

	*out = NULL;
	while (nb < 2 * (size_hint + size_hint / 4) && nb < ((size_t)1 << 40))
		nb *= 2;
	if ((t = calloc(1, sizeof *t)) == NULL)
		return blt_errmsg_set(
		    -ENOMEM, "directory index: out of memory");
	t->pc = *pc;
	t->nbuckets = nb;
	if ((t->buckets = inode_table_alloc(nb)) == NULL ||
	    (t->root = inode_alloc(t, NULL, "", 0, INODE_DIR)) == NULL) {
		free(t->buckets);
		free(t);
		return blt_errmsg_set(
		    -ENOMEM, "directory index: out of memory");
	}
	/* writers first: a stream of lookups must not hold off a change */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(
	    &attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	rc = pthread_rwlock_init(&t->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	if (rc != 0) {
		inode_free_node(t->root);
		free(t->buckets);
		free(t);
		return blt_errmsg_set(-ENOMEM, "directory index: no lock");
	}
	*out = t;
	return 0;
}

/* Free the tree and every node. */
void
inode_tree_free(struct inode_tree *t)
{
	struct inode *n, *next;
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->nbuckets; i++)
		inode_free_node(t->buckets[i].node);
	for (n = t->gone; n != NULL; n = next) {
		next = n->hnext;
		inode_free_node(n);
	}
	inode_free_node(t->root);
	free(t->buckets);
	ino_set_free(&t->away);
	pthread_rwlock_destroy(&t->lock);
	free(t);
}

/* The mapping the tree uses. */
const struct path_conf *
inode_conf(struct inode_tree *t)
{
	return &t->pc;
}

/* A file named PATH_SELF has its directory's path as its key: whichever
 * way its node is made (inode_new_child(), inode_materialize()). */
static void
inode_mark_self(struct inode *n)
{
	if (n->type == INODE_FILE && n->nlen == PATH_SELF_LEN &&
	    memcmp(n->name, PATH_SELF, PATH_SELF_LEN) == 0)
		n->flags |= INODE_SELF;
}

/* A new node name in parent, numbered for its place, in the tree. */
struct inode *
inode_new_child(struct inode_tree *t, struct inode *parent, const char *name,
    size_t nlen, int type, unsigned flags)
{
	struct inode *n;

	if ((n = inode_alloc(t, parent, name, nlen, type)) == NULL)
		return NULL;
	n->flags |= (uint8_t)flags;
	inode_mark_self(n);
	if (ino_set_has(&t->away, n->ino)) {
		/* a node that moved away from here still has this number */
		n->ino = ino_set_free_from(&t->away, n->ino);
		if (inode_away(t, n) < 0) {
			inode_free_node(n);
			return NULL;
		}
	}
	if (inode_attach(t, parent, n) < 0) {
		inode_free_ino(t, n);
		return NULL;
	}
	return n;
}

/* The node of name in p, or NULL with *slot the slot of a file without a
 * node (-1: no such name). */
struct inode *
inode_child(struct inode_tree *t, const struct inode *p, const char *name,
    size_t nlen, int64_t *slot)
{
	struct inode *n = inode_find(t, p, name, nlen);

	*slot = n == NULL ? idir_find(p->dir, name, nlen) : -1;
	assert(*slot < 0 ||
	       !(idir_ent(p->dir, (uint32_t)*slot)[0] & IDIR_ENT_NODE));
	return n;
}

/* A node for the file of slot s of p, numbered for its place: one without
 * a node is never in the away set (inode_add_file()). */
struct inode *
inode_materialize(struct inode_tree *t, struct inode *p, uint32_t s)
{
	struct inode_dir *d = p->dir;
	const unsigned char *e = idir_ent(d, s);
	struct inode *n;

	if (t->nnodes + 1 > t->nbuckets / 2 && inode_grow_table(t) < 0)
		return NULL;
	if ((n = inode_alloc(t, p, (const char *)e + 2, e[1], INODE_FILE)) ==
	    NULL)
		return NULL;
	inode_mark_self(n);
	n->parent = p;
	n->cookie = d->v[s].cookie;
	n->at = idir_ent_at(e);
	d->names[d->v[s].ent] |= IDIR_ENT_NODE;
	n->hash = inode_hash(p, n->name, n->nlen);
	inode_table_add(t->buckets, t->nbuckets, n);
	t->nnodes++;
	return n;
}

/* The node of name in p, made if the name is a file without one. */
struct inode *
inode_child_node(struct inode_tree *t, struct inode *p, const char *name,
    size_t nlen, int *rc)
{
	struct inode *n;
	int64_t s;

	*rc = 0;
	if ((n = inode_child(t, p, name, nlen, &s)) != NULL)
		return n;
	if (s < 0)
		*rc = -ENOENT;
	else if ((n = inode_materialize(t, p, (uint32_t)s)) == NULL)
		*rc = blt_errmsg_set(-ENOMEM, "directory index: out of memory");
	return n;
}

/* A node's place without it: it goes back to being an entry of its
 * directory, and is freed. */
static void
inode_dematerialize(struct inode_tree *t, struct inode *n)
{
	struct inode_dir *d = n->parent->dir;
	uint32_t s = idir_slot_at(d, n->cookie);

	assert(s < d->n && d->v[s].cookie == n->cookie);
	d->names[d->v[s].ent] &= (char)~IDIR_ENT_NODE;
	idir_set_at(d, s, n->at); /* none once its value changed */
	inode_table_del(t, n);
	t->nnodes--;
	inode_free_node(n);
}

/* Whether n is a file node that holds nothing an entry does not: no
 * number of its own, no mode or owner, not kept for a caller. */
static int
inode_plain(const struct inode *n)
{
	return n->type == INODE_FILE && n->parent != NULL &&
	       !(n->flags & (INODE_GONE | INODE_KEPT | INODE_AWAY)) &&
	       n->mode == 0;
}

/* Add the file name to p: an entry without a node, unless the number of
 * its place belongs to a node that moved away or was removed while held
 * (ino.c): then a node, with another number. */
int
inode_add_file(
    struct inode_tree *t, struct inode *p, const char *name, size_t nlen)
{
	int64_t s;

	if (ino_set_has(&t->away, ino_home(p->ino, INODE_FILE, name, nlen)))
		return inode_new_child(t, p, name, nlen, INODE_FILE, 0) != NULL
		           ? 0
		           : -ENOMEM;
	if ((s = idir_add(p->dir, name, nlen, 0, 0)) < 0)
		return (int)s;
	inode_touch(t, p);
	return 0;
}

/* Remove the file of slot s of p, which has no node. */
void
inode_drop_slot(struct inode_tree *t, struct inode *p, uint32_t s)
{
	idir_remove(p->dir, s);
	inode_touch(t, p);
	inode_dir_tidy(t, p);
}

/* Squeeze p's holes, if they are many (cookies stay: nothing to fix). */
void
inode_dir_tidy(struct inode_tree *t, struct inode *p)
{
	(void)t;
	if (p->dir->indexed && idir_wasteful(p->dir))
		(void)idir_compact(p->dir); /* or later: holes cost only room */
}

/* What the tree knows of the file of slot s of p, which has no node:
 * nodeid 0, its place's number, no size or time yet. */
void
inode_fill_slot(struct inode_tree *t, const struct inode *p, uint32_t s,
    struct inode_info *o)
{
	const unsigned char *e = idir_ent(p->dir, s);

	memset(o, 0, sizeof *o);
	o->ino = ino_home(p->ino, INODE_FILE, (const char *)e + 2, e[1]);
	o->parent = inode_nodeid(t, p);
	o->type = INODE_FILE;
	if (e[1] == PATH_SELF_LEN &&
	    memcmp(e + 2, PATH_SELF, PATH_SELF_LEN) == 0)
		o->flags = INODE_SELF;
	o->nlink = 1;
	o->attr_sets =
	    atomic_load_explicit(&t->attr_sets, memory_order_relaxed);
}

/* Start w on the names of key, whose value has vlen bytes (a directory
 * marker's are its directory's).  -EINVAL for a key longer than the format
 * allows. */
int
inode_walk_key(struct inode_tree *t, struct path_walk *w, const void *key,
    size_t klen, uint64_t vlen)
{
	if (klen > BLT_KEY_MAX)
		return blt_errmsg_set(
		    -EINVAL, "a key of %zu bytes is too long", klen);
	path_walk_start(
	    w, &t->pc, key, klen, path_is_marker(&t->pc, key, klen, vlen));
	return 0;
}

/* Mark directory d as seen so; returns how it was seen before (as all of
 * INODE_SEEN_* for a node that is not a directory).  Loading first keeps
 * the cache line shared when nothing changes. */
static unsigned
inode_seen(struct inode *d, unsigned what)
{
	unsigned before;

	if (d->type != INODE_DIR)
		return INODE_SEEN_ALL;
	before = __atomic_load_n(&d->dir->seen, __ATOMIC_RELAXED);
	if ((before & what) != what)
		before = __atomic_fetch_or(
		    &d->dir->seen, (uint8_t)what, __ATOMIC_RELAXED);
	return before;
}

/* inode_lookup() of node n it found, with the read lock: the reference
 * counted if ref says so. */
static void
inode_lookup_ref(struct inode_tree *t, struct inode *p, struct inode *n,
    int ref, struct inode_info *out)
{
	if (ref == 1) {
		__atomic_add_fetch(&n->nlookup, 1, __ATOMIC_RELAXED);
		inode_seen(p, INODE_SEEN_LOOKUP);
	}
	inode_fill(t, n, out);
}

/* Find name in directory parent.  A file without a node gets one, but
 * with INODE_PEEK: then out has nodeid 0.  During a build only nodes are
 * found (a directory met, a file looked up), and they are kept in any case
 * (ref 0 needs no INODE_KEPT). */
int
inode_lookup(struct inode_tree *t, uint64_t parent, const char *name,
    size_t nlen, int ref, struct inode_info *out)
{
	struct inode *p, *n;
	int64_t s;
	int rc = 0, write = 0;

	pthread_rwlock_rdlock(&t->lock);
	p = inode_of(t, parent);
	if (p->type != INODE_DIR)
		rc = -ENOTDIR;
	else if (t->building) {
		/* a listing being built is no index of names yet: only the
		 * nodes, in the hash table, can be found */
		if ((n = inode_find(t, p, name, nlen)) == NULL)
			rc = -EAGAIN;
		else
			inode_lookup_ref(t, p, n, ref, out);
	} else if ((n = inode_child(t, p, name, nlen, &s)) == NULL && s < 0)
		rc = -ENOENT;
	else if (n == NULL && ref == INODE_PEEK)
		inode_fill_slot(t, p, (uint32_t)s, out);
	else if (n == NULL || (ref == 0 && !(n->flags & INODE_KEPT)))
		write = 1; /* a node to make, or to keep */
	else
		inode_lookup_ref(t, p, n, ref, out);
	pthread_rwlock_unlock(&t->lock);
	if (!write)
		return rc;
	pthread_rwlock_wrlock(&t->lock);
	p = inode_of(t, parent);
	if (p->type != INODE_DIR)
		rc = -ENOTDIR;
	else if ((n = inode_child_node(t, p, name, nlen, &rc)) != NULL) {
		if (ref == 1) {
			n->nlookup++;
			inode_seen(p, INODE_SEEN_LOOKUP);
		} else
			n->flags |= INODE_KEPT; /* the caller holds no ref */
		inode_fill(t, n, out);
	}
	pthread_rwlock_unlock(&t->lock);
	return rc;
}

int
inode_lookup_unscanned(struct inode_tree *t, uint64_t parent, const char *name,
    size_t nlen, struct inode_info *out)
{
	struct inode *p, *n;
	int rc = 0;

	pthread_rwlock_wrlock(&t->lock);
	p = inode_of(t, parent);
	if (!t->building)
		rc = -EAGAIN;
	else if (p->type != INODE_DIR)
		rc = -ENOTDIR;
	else if ((n = inode_find(t, p, name, nlen)) == NULL) {
		/* its entry, beside the one the scan makes, counts the key
		 * once more until the tree settles (inode_build_twice()) */
		if ((n = inode_new_child(t, p, name, nlen, INODE_FILE, 0)) ==
		    NULL)
			rc = -ENOMEM;
		else
			t->nkeys++;
	}
	if (rc == 0) {
		n->nlookup++;
		inode_seen(p, INODE_SEEN_LOOKUP);
		inode_fill(t, n, out);
	}
	pthread_rwlock_unlock(&t->lock);
	return rc;
}

/* What the tree knows of nodeid. */
int
inode_stat(struct inode_tree *t, uint64_t nodeid, struct inode_info *out)
{
	struct inode *n;
	int rc = 0;

	pthread_rwlock_rdlock(&t->lock);
	n = inode_of(t, nodeid);
	inode_fill(t, n, out);
	if (n->flags & INODE_GONE)
		rc = -ESTALE;
	pthread_rwlock_unlock(&t->lock);
	return rc;
}

unsigned
inode_dir_seen(struct inode_tree *t, uint64_t dir, unsigned how)
{
	unsigned before;

	pthread_rwlock_rdlock(&t->lock);
	before = inode_seen(inode_of(t, dir), how);
	pthread_rwlock_unlock(&t->lock);
	return before;
}

/* Drop n lookup references.  A node that goes with them (removed, or a
 * plain file that an entry stands for again) is freed under the write
 * lock, with its last references dropped there: a lookup cannot take one
 * meanwhile, and nobody else can free it while ours are still counted. */
void
inode_forget(struct inode_tree *t, uint64_t nodeid, uint64_t n)
{
	struct inode *node;
	uint64_t left = 1;
	int defer, gone = 0;

	if (nodeid == INODE_ROOT)
		return;
	pthread_rwlock_rdlock(&t->lock);
	node = inode_of(t, nodeid);
	defer = __atomic_load_n(&node->nlookup, __ATOMIC_ACQUIRE) == n &&
	        ((node->flags & INODE_GONE) || inode_plain(node));
	if (!defer) {
		left = __atomic_sub_fetch(&node->nlookup, n, __ATOMIC_ACQ_REL);
		gone = left == 0 && (node->flags & INODE_GONE);
	}
	pthread_rwlock_unlock(&t->lock);
	if (!defer && !gone)
		return;
	/* a gone node dropped to none without defer: only the kernel could
	 * still name it, and it just let go of it */
	pthread_rwlock_wrlock(&t->lock);
	if (defer)
		left = node->nlookup -= n;
	if (left == 0 && (node->flags & INODE_GONE)) {
		if (node->parent != NULL)
			node->parent->hnext = node->hnext;
		else
			t->gone = node->hnext;
		if (node->hnext != NULL)
			node->hnext->parent = node->parent;
		inode_free_ino(t, node);
	} else if (left == 0 && inode_plain(node))
		inode_dematerialize(t, node);
	pthread_rwlock_unlock(&t->lock);
}

/* Record the size and timestamp of file nodeid's new value. */
void
inode_set_attr(struct inode_tree *t, uint64_t nodeid, uint64_t size, int64_t ts)
{
	struct inode *n;

	pthread_rwlock_wrlock(&t->lock);
	n = inode_of(t, nodeid);
	if (n->type == INODE_FILE && !(n->flags & INODE_GONE)) {
		n->size = size;
		n->ts = ts;
		n->flags |= INODE_ATTR;
		n->at = 0;       /* the value is in another block now */
		n->told_off = 0; /* written through the kernel, which knows */
		n->aver++;
		atomic_fetch_add(&t->attr_sets, 1);
	}
	pthread_rwlock_unlock(&t->lock);
}

/* A commit records the new size and timestamp here before it marks its
 * buffer clean, so a stat that found no pending changes (handle_find())
 * must not go by attributes read before that: it calls this after
 * handle_find(), and in's are read again if any were recorded since in
 * was filled. */
void
inode_attr_recheck(struct inode_tree *t, struct inode_info *in)
{
	struct inode *n;

	if (atomic_load(&t->attr_sets) == in->attr_sets)
		return;
	pthread_rwlock_rdlock(&t->lock);
	n = inode_of(t, in->nodeid);
	if (n->type == INODE_FILE && !(n->flags & INODE_GONE)) {
		in->attr = (n->flags & INODE_ATTR) != 0;
		in->size = n->size;
		in->ts = n->ts;
		in->aver = n->aver;
	}
	in->attr_sets = atomic_load(&t->attr_sets);
	pthread_rwlock_unlock(&t->lock);
}

/* Set directory nodeid's time (a touch): kept for the mount only. */
void
inode_set_dir_time(struct inode_tree *t, uint64_t nodeid, int64_t ts)
{
	struct inode *n;

	pthread_rwlock_wrlock(&t->lock);
	n = inode_of(t, nodeid);
	if (n->dir != NULL && !(n->flags & INODE_GONE))
		n->dir->mtime = ts > 0 ? ts : 1;
	pthread_rwlock_unlock(&t->lock);
}

/* Give nodeid the mode bits a create, mkdir or chmod asked for.  They
 * live in the node, so they follow it through renames and go with it;
 * nothing stores them (bltfs(1), -o umask). */
void
inode_set_mode(struct inode_tree *t, uint64_t nodeid, unsigned mode)
{
	struct inode *n;

	pthread_rwlock_wrlock(&t->lock);
	n = inode_of(t, nodeid);
	n->mode =
	    (uint16_t)((n->mode & ~07777u) | INODE_MODE_SET | (mode & 07777));
	pthread_rwlock_unlock(&t->lock);
}

/* Give nodeid an owner, a group, or both, as inode_set_mode() does its
 * mode; INODE_NO_ID leaves one as it is. */
void
inode_set_owner(
    struct inode_tree *t, uint64_t nodeid, uint32_t uid, uint32_t gid)
{
	struct inode *n;

	pthread_rwlock_wrlock(&t->lock);
	n = inode_of(t, nodeid);
	if (uid != INODE_NO_ID) {
		n->uid = uid;
		n->mode |= INODE_UID_SET;
	}
	if (gid != INODE_NO_ID) {
		n->gid = gid;
		n->mode |= INODE_GID_SET;
	}
	pthread_rwlock_unlock(&t->lock);
}

/* Keep what a stat of the store said, unless the node changed since. */
void
inode_fill_attr(struct inode_tree *t, uint64_t nodeid, uint32_t aver,
    uint64_t size, int64_t ts)
{
	struct inode *n;

	pthread_rwlock_wrlock(&t->lock);
	n = inode_of(t, nodeid);
	if (n->type == INODE_FILE && !(n->flags & (INODE_GONE | INODE_ATTR)) &&
	    n->aver == aver) {
		n->size = size;
		n->ts = ts;
		n->flags |= INODE_ATTR;
	}
	pthread_rwlock_unlock(&t->lock);
}

/* Forget the size and timestamp of nodeid. */
void
inode_forget_attr(struct inode_tree *t, uint64_t nodeid)
{
	struct inode *n;

	pthread_rwlock_wrlock(&t->lock);
	n = inode_of(t, nodeid);
	if (!(n->flags & INODE_GONE))
		inode_drop_attr(n);
	pthread_rwlock_unlock(&t->lock);
}

/* Where the value told to the kernel lies, for a tell at off: a size
 * from the index lies in the block where the scan found the key, if the
 * tree knows it. */
static uint64_t
inode_told_where(const struct inode *n, uint64_t off)
{
	if (off == INODE_TOLD_SIZE && n->at != 0)
		return INODE_TOLD_AT | n->at;
	return off;
}

void
inode_tell(struct inode_tree *t, uint64_t nodeid, uint64_t off, uint64_t size,
    int64_t ts)
{
	struct inode *n;
	int same;

	/* a stat tells the same most times: no writer's lock for that */
	pthread_rwlock_rdlock(&t->lock);
	n = inode_of(t, nodeid);
	same = n->told_off == inode_told_where(n, off) &&
	       n->told_size == size && n->told_ts == ts;
	pthread_rwlock_unlock(&t->lock);
	if (same)
		return;
	pthread_rwlock_wrlock(&t->lock);
	n = inode_of(t, nodeid);
	n->told_off = inode_told_where(n, off);
	n->told_size = size;
	n->told_ts = ts;
	pthread_rwlock_unlock(&t->lock);
}

int
inode_told(struct inode_tree *t, uint64_t nodeid, uint64_t *off, uint64_t *size,
    int64_t *ts)
{
	struct inode *n;

	pthread_rwlock_rdlock(&t->lock);
	n = inode_of(t, nodeid);
	*off = n->told_off;
	*size = n->told_size;
	*ts = n->told_ts;
	pthread_rwlock_unlock(&t->lock);
	return *off != 0;
}

/* The number of nodes, or else of keys, in the tree. */
static uint64_t
inode_tally(struct inode_tree *t, int nodes)
{
	uint64_t n;

	pthread_rwlock_rdlock(&t->lock);
	n = nodes ? t->nnodes : t->nkeys;
	pthread_rwlock_unlock(&t->lock);
	return n;
}

uint64_t
inode_count(struct inode_tree *t)
{
	return inode_tally(t, 0);
}

uint64_t
inode_nodes(struct inode_tree *t)
{
	return inode_tally(t, 1);
}
