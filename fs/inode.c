/*
 * The directory index: the tree of names the mount shows, made once from
 * the list of keys at mount time and kept up to date on every change, so
 * that lookup and readdir never touch the store.
 *
 * Each node is a file (a key) or a directory.  A node knows its parent and
 * its encoded name only; its key is the concatenation of the decoded names
 * from the root (path.c), so renaming a directory is one move here however
 * many keys lie below it.  One hash table over (parent, name) serves
 * lookups in O(1).  Each directory also keeps its entries in an array
 * ordered by a per-directory cookie that only grows: readdir offsets are
 * cookies, found again by binary search, so they stay valid while entries
 * come and go.  Removed entries leave holes that are squeezed out when they
 * outnumber the live ones.
 *
 * A node's nodeid (the number the kernel knows it by) is its address, the
 * root's FUSE_ROOT_ID: the kernel only passes nodeids it holds a lookup
 * reference to, and a node removed from the tree is kept (INODE_GONE, on a
 * list of its own) until its references are forgotten.  st_ino is a hash
 * of the node's place instead, the same on every mount (fs/ino.c).
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

#include "fs.h"

#define INODE_INLINE_NAME 8  /* names at least this long fit in place */
#define INODE_HEAP_NAME 0x80 /* node->flags: name was allocated apart */
#define INODE_ARENA 0x40     /* node->flags: allocated from the arena */
#define INODE_ATTR 0x20      /* node->flags: size and ts are known */
#define INODE_AWAY 0x10 /* node->flags: its ino is in the tree's away set */
#define INODE_PRIVATE (INODE_HEAP_NAME | INODE_ARENA | INODE_ATTR | INODE_AWAY)
#define INODE_CHUNK (1u << 20) /* arena chunk size */
#define INODE_PREFETCH 16      /* how far ahead inode_settle() prefetches */
#define INODE_HUGE ((size_t)2 << 20) /* huge page size */

struct inode;

/* One entry of a directory listing; node NULL once removed. */
struct inode_slot {
	uint64_t cookie;
	struct inode *node;
};

struct inode_dir {
	struct inode_slot *v;
	size_t n; /* slots used, holes included */
	size_t cap;
	size_t live;       /* entries */
	uint64_t next;     /* next cookie */
	uint32_t nsubdirs; /* for nlink */
	uint8_t seen;      /* INODE_SEEN_* (atomic) */
	int64_t mtime;     /* µs: when an entry last came or went, 0 if
	                    * none did since the mount (not stored) */
};

struct inode {
	struct inode *parent;  /* NULL when gone: then the gone list's prev */
	struct inode *hnext;   /* the gone list's next when gone */
	struct inode_dir *dir; /* directories only */
	uint64_t ino;
	uint64_t nlookup; /* atomic */
	uint64_t cookie;  /* position in the parent's listing */
	char *name;
	uint64_t size; /* a file's value length, with INODE_ATTR */
	int64_t ts;    /* its timestamp (BLT_NO_TS: none), with INODE_ATTR */
	uint32_t aver; /* bumped whenever size and ts change or are dropped */
	uint32_t hash;
	uint32_t gen;   /* the mount's count of nodes made, when it was made */
	uint32_t moves; /* odd while an unlink or rename changes its key or
	                 * the keys below it (atomic; inode_move_mark()) */
	uint16_t nlen;
	uint16_t ncap;
	uint8_t type;
	uint8_t flags;
	char iname[];
};

/* The hash is kept beside the pointer so that probing does not touch
 * nodes, which are cold when a mount builds its index. */
struct inode_bucket {
	uint32_t hash;
	struct inode *node; /* NULL: empty */
};

/* Nodes made by inode_tree_build() come from big chunks: cheaper to make,
 * denser in memory and freed all at once.  A node removed later is not
 * given back, so the arena never holds more than the initial tree. */
struct inode_chunk {
	struct inode_chunk *next;
	size_t used;
	char mem[];
};

struct inode_tree {
	pthread_rwlock_t lock;
	struct inode_chunk *arena;
	struct path_conf pc;
	struct inode *root;
	struct inode_bucket *buckets; /* open addressing, linear probing */
	size_t nbuckets;              /* a power of two, at most half full */
	size_t nnodes;
	struct inode *gone;  /* removed nodes the kernel still holds */
	struct ino_set away; /* numbers not of their node's place (ino.c) */
	uint32_t next_gen;
	uint64_t nkeys;
	int stamp; /* built: a change of a listing moves its time */
	/* inode_set_attr() calls, for inode_attr_recheck() */
	_Atomic uint64_t attr_sets;
};

static struct inode *
inode_of(struct inode_tree *t, uint64_t nodeid)
{
	if (nodeid == INODE_ROOT)
		return t->root;
	return (struct inode *)(uintptr_t)nodeid;
}

static uint64_t
inode_nodeid(struct inode_tree *t, const struct inode *n)
{
	return n == t->root ? INODE_ROOT : (uint64_t)(uintptr_t)n;
}

/* A hash of (parent, name) for the table (ino_hash_name()). */
static uint32_t
inode_hash(const struct inode *parent, const char *name, size_t nlen)
{
	return (uint32_t)ino_hash_name(
	    (uint64_t)(uintptr_t)parent * UINT64_C(0x9e3779b97f4a7c15) ^ nlen,
	    name, nlen);
}

static struct inode *
inode_find(struct inode_tree *t, const struct inode *parent, const char *name,
    size_t nlen)
{
	uint32_t h = inode_hash(parent, name, nlen);
	size_t mask = t->nbuckets - 1, i;
	struct inode *n;

	for (i = h & mask; (n = t->buckets[i].node) != NULL; i = (i + 1) & mask)
		if (t->buckets[i].hash == h && n->parent == parent &&
		    n->nlen == nlen && memcmp(n->name, name, nlen) == 0)
			return n;
	return NULL;
}

static void
inode_table_add(struct inode_bucket *b, size_t nb, struct inode *n)
{
	size_t i;

	for (i = n->hash & (nb - 1); b[i].node != NULL; i = (i + 1) & (nb - 1))
		;
	b[i].hash = n->hash;
	b[i].node = n;
}

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

static int
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
static int
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

static void *
inode_arena_alloc(struct inode_tree *t, size_t size)
{
	struct inode_chunk *c = t->arena;
	void *p;

	size = (size + 7) & ~(size_t)7;
	if (c == NULL || c->used + size > INODE_CHUNK) {
		if ((c = malloc(sizeof *c + INODE_CHUNK)) == NULL)
			return NULL;
		c->next = t->arena;
		c->used = 0;
		t->arena = c;
	}
	p = c->mem + c->used;
	c->used += size;
	return p;
}

/* A node named name in parent (NULL: the root), numbered for that place. */
static struct inode *
inode_alloc(struct inode_tree *t, const struct inode *parent, const char *name,
    size_t nlen, int type, int arena)
{
	size_t cap = nlen < INODE_INLINE_NAME ? INODE_INLINE_NAME : nlen;
	struct inode *n;

	n = arena ? inode_arena_alloc(t, sizeof *n + cap + 1)
	          : malloc(sizeof *n + cap + 1);
	if (n == NULL)
		return NULL;
	memset(n, 0, sizeof *n);
	n->flags = arena ? INODE_ARENA : 0;
	n->name = n->iname;
	n->ncap = (uint16_t)cap;
	memcpy(n->name, name, nlen);
	n->name[nlen] = '\0';
	n->nlen = (uint16_t)nlen;
	n->type = (uint8_t)type;
	if (type == INODE_DIR && (n->dir = calloc(1, sizeof *n->dir)) == NULL) {
		if (!arena)
			free(n);
		return NULL;
	}
	if (n->dir != NULL)
		n->dir->next = 3; /* 1 and 2 are "." and ".." */
	n->ino = parent == NULL ? INODE_ROOT
	                        : ino_home(parent->ino, type, name, nlen);
	n->gen = t->next_gen++;
	return n;
}

static void
inode_free_node(struct inode *n)
{
	if (n == NULL)
		return;
	if (n->dir != NULL)
		free(n->dir->v);
	free(n->dir);
	if (n->flags & INODE_HEAP_NAME)
		free(n->name);
	if (!(n->flags & INODE_ARENA))
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
static void
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
static int
inode_link(struct inode *parent, struct inode *n)
{
	struct inode_dir *d = parent->dir;
	struct inode_slot *v;

	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 4;

		if ((v = realloc(d->v, cap * sizeof *v)) == NULL)
			return -ENOMEM;
		d->v = v;
		d->cap = cap;
	}
	n->parent = parent;
	n->cookie = d->next++;
	d->v[d->n].cookie = n->cookie;
	d->v[d->n].node = n;
	d->n++;
	d->live++;
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
static int
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
	return 0;
}

/* The slot of cookie c in d, or the first one after it. */
static size_t
inode_slot_find(const struct inode_dir *d, uint64_t c)
{
	size_t lo = 0, hi = d->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (d->v[mid].cookie < c)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Take n out of its parent's listing. */
static void
inode_unlink(struct inode *n)
{
	struct inode_dir *d = n->parent->dir;
	size_t i, j;

	i = inode_slot_find(d, n->cookie);
	assert(i < d->n && d->v[i].node == n);
	d->v[i].node = NULL;
	d->live--;
	if (n->type == INODE_DIR)
		d->nsubdirs--;
	if (i == d->n - 1)
		d->n--; /* the last entry: no hole */
	if (d->n - d->live > 32 && d->live < d->n / 2) {
		for (i = j = 0; i < d->n; i++)
			if (d->v[i].node != NULL)
				d->v[j++] = d->v[i];
		d->n = j;
	}
	n->parent = NULL;
}

/* Unlink n from its parent and the hash table (it stays allocated). */
static void
inode_detach(struct inode_tree *t, struct inode *n)
{
	inode_table_del(t, n);
	t->nnodes--;
	inode_touch(t, n->parent);
	inode_unlink(n);
}

/* n has left the tree: free it, or keep it while the kernel holds it. */
static void
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

static void
inode_stale_set(struct inode_tree *t, struct inode_stale *s,
    const struct inode *parent, const struct inode *n)
{
	if (s == NULL)
		return;
	s->valid = 1;
	s->parent = inode_nodeid(t, parent);
	s->nodeid = inode_nodeid(t, n);
	s->nlen = n->nlen;
	memcpy(s->name, n->name, n->nlen + 1);
}

static void
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
	o->nlink = n->type == INODE_DIR ? 2 + n->dir->nsubdirs : 1;
	o->nchildren = n->dir != NULL ? n->dir->live : 0;
	o->attr = (n->flags & INODE_ATTR) != 0;
	o->size = n->size;
	o->ts = n->ts;
	if (n->dir != NULL)
		o->ts = n->dir->mtime != 0 ? n->dir->mtime : BLT_NO_TS;
	o->aver = n->aver;
	o->attr_sets =
	    atomic_load_explicit(&t->attr_sets, memory_order_relaxed);
}

/* Forget what n's size and timestamp were: its value changed. */
static void
inode_drop_attr(struct inode *n)
{
	n->flags &= ~INODE_ATTR;
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
		return path_err(-ENOMEM, "directory index: out of memory");
	t->pc = *pc;
	t->nbuckets = nb;
	if ((t->buckets = inode_table_alloc(nb)) == NULL ||
	    (t->root = inode_alloc(t, NULL, "", 0, INODE_DIR, 0)) == NULL) {
		free(t->buckets);
		free(t);
		return path_err(-ENOMEM, "directory index: out of memory");
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
		return path_err(-ENOMEM, "directory index: no lock");
	}
	*out = t;
	return 0;
}

/* Free the tree and every node. */
void
inode_tree_free(struct inode_tree *t)
{
	struct inode_chunk *c, *cnext;
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
	for (c = t->arena; c != NULL; c = cnext) {
		cnext = c->next;
		free(c);
	}
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

static struct inode *
inode_new_child(struct inode_tree *t, struct inode *parent, const char *name,
    size_t nlen, int type, unsigned flags)
{
	struct inode *n;

	if ((n = inode_alloc(t, parent, name, nlen, type, 0)) == NULL)
		return NULL;
	n->flags |= (uint8_t)flags;
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
	int marker = path_is_marker(&t->pc, key, klen, vlen);
	struct inode *cur = t->root, *n, *self;
	struct path_walk w;

	if (klen > BLT_KEY_MAX)
		return path_err(
		    -EINVAL, "a key of %zu bytes is too long", klen);
	path_walk_start(&w, &t->pc, key, klen, marker);
	while (path_walk_next(&w)) {
		n = inode_find(t, cur, w.name, w.nlen);
		if (w.kind != PATH_LEAF) {
			if (n == NULL)
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
		if (n == NULL) {
			if ((n = inode_new_child(t, cur, w.name, w.nlen,
			         INODE_FILE, 0)) == NULL)
				goto nomem;
			t->nkeys++;
		} else if (n->type == INODE_DIR) {
			/* a file and a directory of one path */
			self = inode_find(t, n, PATH_SELF, PATH_SELF_LEN);
			if (self == NULL) {
				if ((self = inode_new_child(t, n, PATH_SELF,
				         PATH_SELF_LEN, INODE_FILE,
				         INODE_SELF)) == NULL)
					goto nomem;
				t->nkeys++;
			}
			n = self;
		}
		inode_drop_attr(n); /* a new value, or a new file */
		if (!t->pc.flat && klen > 0 &&
		    ((const unsigned char *)key)[klen - 1] == '/')
			inode_unmark(t, cur); /* "dir/" got a value */
		inode_fill(t, n, out);
		return 0;
	}
	/* a marker: cur is its directory */
	if (!(cur->flags & INODE_MARKER)) {
		cur->flags |= INODE_MARKER;
		t->nkeys++;
	}
	n = inode_find(t, cur, PATH_ESC, PATH_ESC_LEN);
	if (n != NULL && n->type == INODE_FILE) {
		/* the same key had a value before: now it is a marker */
		inode_stale_set(t, stale, cur, n);
		inode_detach(t, n);
		inode_retire(t, n, stale);
		t->nkeys--;
	}
	inode_fill(t, cur, out);
	return 0;
nomem:
	return path_err(-ENOMEM, "directory index: out of memory");
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
	int marker = path_is_marker(&t->pc, key, klen, vlen);
	struct inode *cur = t->root, *n;
	struct inode **v;
	struct path_walk w;

	if (klen > BLT_KEY_MAX)
		return path_err(
		    -EINVAL, "a key of %zu bytes is too long", klen);
	path_walk_start(&w, &t->pc, key, klen, marker);
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
	return path_err(-ENOMEM, "directory index: out of memory");
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
			return path_err(
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

/* The node of the path of key (marker: its directory), or NULL. */
static struct inode *
inode_find_key(struct inode_tree *t, const void *key, size_t klen, int marker,
    struct inode **parent)
{
	struct inode *cur = t->root, *n = NULL;
	struct path_walk w;

	path_walk_start(&w, &t->pc, key, klen, marker);
	while (path_walk_next(&w)) {
		if (cur->type != INODE_DIR)
			return NULL;
		if ((n = inode_find(t, cur, w.name, w.nlen)) == NULL)
			return NULL;
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
	int rc = 0;

	if (stale != NULL)
		stale->valid = 0;
	pthread_rwlock_wrlock(&t->lock);
	if (path_is_marker(&t->pc, key, klen, 0) &&
	    (n = inode_find_key(t, key, klen, 1, &parent)) != NULL &&
	    inode_unmark(t, n))
		goto out;
	n = inode_find_key(t, key, klen, 0, &parent);
	if (n != NULL && n->type == INODE_DIR) {
		parent = n;
		n = inode_find(t, parent, PATH_SELF, PATH_SELF_LEN);
	}
	if (n == NULL || n->type != INODE_FILE) {
		rc = path_err(-ENOENT, "directory index: no such key");
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

/* Mark directory d as seen so; returns how it was seen before (as all of
 * INODE_SEEN_* for a node that is not a directory).  Loading first keeps
 * the cache line shared when nothing changes. */
static unsigned
inode_seen(struct inode *d, unsigned what)
{
	unsigned before;

	if (d->type != INODE_DIR)
		return INODE_SEEN_LISTED | INODE_SEEN_LOOKUP;
	before = __atomic_load_n(&d->dir->seen, __ATOMIC_RELAXED);
	if ((before & what) != what)
		before = __atomic_fetch_or(
		    &d->dir->seen, (uint8_t)what, __ATOMIC_RELAXED);
	return before;
}

/* Find name in directory parent. */
int
inode_lookup(struct inode_tree *t, uint64_t parent, const char *name,
    size_t nlen, int ref, struct inode_info *out)
{
	struct inode *p, *n;
	int rc = 0;

	pthread_rwlock_rdlock(&t->lock);
	p = inode_of(t, parent);
	if (p->type != INODE_DIR)
		rc = -ENOTDIR;
	else if ((n = inode_find(t, p, name, nlen)) == NULL)
		rc = -ENOENT;
	else {
		if (ref) {
			__atomic_add_fetch(&n->nlookup, 1, __ATOMIC_RELAXED);
			inode_seen(p, INODE_SEEN_LOOKUP);
		}
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

/* Drop n lookup references. */
void
inode_forget(struct inode_tree *t, uint64_t nodeid, uint64_t n)
{
	struct inode *node;
	uint64_t left;
	int gone;

	if (nodeid == INODE_ROOT)
		return;
	pthread_rwlock_rdlock(&t->lock);
	node = inode_of(t, nodeid);
	left = __atomic_sub_fetch(&node->nlookup, n, __ATOMIC_ACQ_REL);
	gone = left == 0 && (node->flags & INODE_GONE);
	pthread_rwlock_unlock(&t->lock);
	if (!gone)
		return;
	/* only the kernel could still name a gone node, and it just let
	 * go of it: nobody else can reach it while we relock */
	pthread_rwlock_wrlock(&t->lock);
	if (node->parent != NULL)
		node->parent->hnext = node->hnext;
	else
		t->gone = node->hnext;
	if (node->hnext != NULL)
		node->hnext->parent = node->parent;
	inode_free_ino(t, node);
	pthread_rwlock_unlock(&t->lock);
}

/* Append the raw bytes of n's name to buf (room for n->nlen + 8). */
static size_t
inode_decode(struct inode_tree *t, const struct inode *n, unsigned char *buf)
{
	int kind;
	ssize_t len;

	len = path_decode_name(&t->pc, n->name, n->nlen, buf, &kind);
	assert(len >= 0); /* names in the tree came from path_walk */
	return len < 0 ? 0 : (size_t)len;
}

/* The key of n (the marker key for a directory) into a new buffer. */
static int
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
		return path_err(-ENOMEM, "directory index: out of memory");
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
		len += inode_decode(t, p, buf + len);
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

/* The key of nodeid, and with ver the version of its path. */
static int
inode_key_get(struct inode_tree *t, uint64_t nodeid, unsigned char **key,
    size_t *klen, uint64_t *ver)
{
	struct inode *n;
	int rc;

	pthread_rwlock_rdlock(&t->lock);
	n = inode_of(t, nodeid);
	if (n->flags & INODE_GONE)
		rc = path_err(-ESTALE, "'%s': removed", n->name);
	else if (n->flags & INODE_CONT)
		rc = path_err(-EINVAL,
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
	return inode_key_get(t, nodeid, key, klen, NULL);
}

/* inode_key() with the version of the node's path, for reads of the
 * store by key that must not see an unlink or rename half done (its
 * store changes come before its index changes): -EAGAIN while one
 * changes this node or a directory above it; check the version again
 * after reading (inode_key_still()). */
int
inode_key_version(struct inode_tree *t, uint64_t nodeid, unsigned char **key,
    size_t *klen, uint64_t *ver)
{
	return inode_key_get(t, nodeid, key, klen, ver);
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

static int
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
		return path_err(-ENOENT, "'%.*s': the directory was removed",
		    (int)nlen, name);
	if (type == INODE_DIR && t->pc.flat)
		return path_err(-EPERM,
		    "'%.*s': a flat mount has no directories", (int)nlen, name);
	if (p == t->root && nlen == t->pc.ctl_len &&
	    memcmp(name, t->pc.ctl, nlen) == 0)
		return path_err(
		    -EEXIST, "'%s' is the control directory", t->pc.ctl);
	if ((buf = malloc(nlen + 8)) == NULL)
		return path_err(-ENOMEM, "out of memory");
	if ((len = path_decode_name(&t->pc, name, nlen, buf, &kind)) < 0) {
		free(buf);
		return (int)len;
	}
	free(buf);
	if (kind == PATH_CONT) {
		return path_err(-EINVAL,
		    "'%.*s': a name ending in U+201B '+' is a piece of a long "
		    "name, a directory that only mkdir makes (doc/keys.md)",
		    (int)nlen, name);
	}
	if (kind == 0 &&
	    (type != INODE_FILE || p == t->root || (p->flags & INODE_CONT)))
		return path_err(-EINVAL,
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
		return path_err(-ENOMEM, "out of memory");
	}
	base = plen;
	len = path_decode_name(&t->pc, name, nlen, buf + plen, &kind);
	plen += (size_t)len;
	if (type == INODE_DIR)
		buf[plen++] = '/';
	if (plen > BLT_KEY_MAX) {
		free(buf);
		return path_err(-ENAMETOOLONG,
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
			rc = path_err(-EINVAL,
			    "'%.*s' is not a name: it stands for the key "
			    "listed as '%s'%s%s%s (doc/keys.md)",
			    (int)nlen, name, want,
			    as_is != NULL ? "; to name these characters as "
			                    "typed, write '"
			                  : "",
			    as_is != NULL ? as_is : "",
			    as_is != NULL ? "'" : "");
		} else
			rc = path_err(-ENOMEM, "out of memory");
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
 * other bytes would cut the segment later; the second makes a U+201B that
 * ends the piece an escaped one, for which a '+' follows.  Both make the
 * segment long whatever the piece is. */
#define INODE_PIECE_FILL4 PATH_ESC "+" PATH_ESC "+" PATH_ESC "+" PATH_ESC "+"
static const char *const inode_piece_fill[] = {
    INODE_PIECE_FILL4 INODE_PIECE_FILL4 INODE_PIECE_FILL4 INODE_PIECE_FILL4,
    "+" INODE_PIECE_FILL4 INODE_PIECE_FILL4 INODE_PIECE_FILL4 INODE_PIECE_FILL4,
};
#define INODE_PIECE_FILL (4 * (sizeof INODE_PIECE_FILL4 - 1) + 1) /* most */

int
inode_add_piece(
    struct inode_tree *t, uint64_t parent, const char *name, size_t nlen)
{
	unsigned char *key = NULL, *buf;
	struct inode *p, *n;
	size_t klen, fill;
	ssize_t len;
	int i, kind, rc;

	pthread_rwlock_wrlock(&t->lock);
	p = inode_of(t, parent);
	if (p->type != INODE_DIR) {
		rc = -ENOTDIR;
		goto out;
	}
	if (p->flags & INODE_GONE) {
		rc = path_err(-ENOENT, "'%.*s': the directory was removed",
		    (int)nlen, name);
		goto out;
	}
	if ((rc = inode_key_locked(t, p, &key, &klen)) < 0)
		goto out;
	if ((buf = realloc(key, klen + nlen + 8 + INODE_PIECE_FILL)) == NULL) {
		rc = path_err(-ENOMEM, "out of memory");
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
		rc = path_err(-ENAMETOOLONG,
		    "'%.*s': the keys below it would be over %u bytes",
		    (int)nlen, name, BLT_KEY_MAX);
		goto out;
	}
	for (i = 0, rc = 0; rc == 0 && i < 2; i++) {
		fill = strlen(inode_piece_fill[i]);
		memcpy(key + klen, inode_piece_fill[i], fill);
		rc = inode_canonical(
		    t, p, name, nlen, key, klen + fill, INODE_FILE, 1);
	}
	if (rc == 0)
		rc = path_err(-EINVAL,
		    "'%.*s': not a piece of a long name: a name is cut into "
		    "pieces of as many whole characters as fit in %u bytes "
		    "(doc/keys.md)",
		    (int)nlen, name, PATH_NAME_MAX - 4);
	if (rc < 0)
		goto out;
	if (inode_find(t, p, name, nlen) != NULL) {
		rc = -EEXIST; /* after the check, which it passed once */
		goto out;
	}
	n = inode_new_child(t, p, name, nlen, INODE_DIR, INODE_CONT);
	rc =
	    n != NULL ? 0 : path_err(-ENOMEM, "directory index: out of memory");
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

#define INODE_BATCH 64 /* entries inode_readdir() copies per locking */

/* A batch of entries for inode_readdir().  With plus, they are copied out
 * with a reference each, so that fn runs without the lock and may look
 * things up.  Without, fn sees each entry at once, under the read lock,
 * and n counts them. */
struct inode_batch {
	struct inode_info info[INODE_BATCH];
	off_t off[INODE_BATCH];
	uint8_t nlen[INODE_BATCH];
	char name[INODE_BATCH][PATH_NAME_MAX + 1];
	int n;
	int plus;
	int stop;   /* fn said stop (without plus) */
	off_t last; /* the offset of the last entry fn took (without plus) */
	inode_dirent_fn *fn;
	void *arg;
};

static void
inode_batch_add(struct inode_tree *t, struct inode_batch *b,
    const struct inode *n, const char *name, size_t nlen, off_t off)
{
	if (!b->plus) {
		struct inode_info info;

		if (b->stop)
			return;
		inode_fill(t, n, &info);
		b->n++;
		if (b->fn(b->arg, name, nlen, &info, off) != 0)
			b->stop = 1;
		else
			b->last = off;
		return;
	}
	/* a reference keeps the node alive until fn has given it to the
	 * kernel or let it go */
	if (n != t->root)
		__atomic_add_fetch(
		    (uint64_t *)&n->nlookup, 1, __ATOMIC_RELAXED);
	inode_fill(t, n, &b->info[b->n]);
	memcpy(b->name[b->n], name, nlen);
	b->name[b->n][nlen] = '\0';
	b->nlen[b->n] = (uint8_t)nlen;
	b->off[b->n++] = off;
}

/* List directory dir from offset off, INODE_BATCH entries per locking. */
int
inode_readdir(struct inode_tree *t, uint64_t dir, off_t off, int plus,
    inode_dirent_fn *fn, void *arg)
{
	struct inode_batch *b;
	struct inode *d, *n;
	int rc = 0, i, stop = 0, keep;
	size_t s;

	if ((b = malloc(sizeof *b)) == NULL)
		return path_err(-ENOMEM, "readdir: out of memory");
	b->plus = plus;
	b->stop = 0;
	b->fn = fn;
	b->arg = arg;
	while (!stop) {
		b->n = 0;
		pthread_rwlock_rdlock(&t->lock);
		d = inode_of(t, dir);
		if (d->type != INODE_DIR) {
			pthread_rwlock_unlock(&t->lock);
			rc = -ENOTDIR;
			break;
		}
		if (off < 1)
			inode_batch_add(t, b, d, ".", 1, 1);
		if (off < 2)
			inode_batch_add(t, b,
			    d == t->root || (d->flags & INODE_GONE) ? d
			                                            : d->parent,
			    "..", 2, 2);
		s = inode_slot_find(d->dir, (uint64_t)(off < 2 ? 2 : off) + 1);
		for (; s < d->dir->n && b->n < INODE_BATCH && !b->stop; s++)
			if ((n = d->dir->v[s].node) != NULL)
				inode_batch_add(t, b, n, n->name, n->nlen,
				    (off_t)d->dir->v[s].cookie);
		pthread_rwlock_unlock(&t->lock);
		if (b->n == 0)
			break;
		if (!plus) {
			stop = b->stop;
			off = b->last;
			continue;
		}
		for (i = 0; i < b->n; i++) {
			keep = 0;
			if (!stop) {
				stop = fn(arg, b->name[i], b->nlen[i],
				           &b->info[i], b->off[i]) != 0;
				/* readdirplus keeps what the kernel got,
				 * except for "." and ".." */
				keep = !stop && b->off[i] > 2;
				if (!stop)
					off = b->off[i];
			}
			if (!keep)
				inode_forget(t, b->info[i].nodeid, 1);
		}
	}
	free(b);
	return rc;
}

/* Every key at and below nodeid. */
int
inode_walk_keys(
    struct inode_tree *t, uint64_t nodeid, inode_key_fn *fn, void *arg)
{
	struct frame {
		const struct inode *n;
		size_t next; /* slot to visit */
		size_t klen; /* key bytes before this directory's name */
	} *stack = NULL, *ns;
	size_t depth = 0, cap = 0, klen, kcap;
	unsigned char *key = NULL, *nk;
	const struct inode *n, *c;
	int rc = 0;

	pthread_rwlock_rdlock(&t->lock);
	n = inode_of(t, nodeid);
	if (n->flags & INODE_GONE) {
		rc = -ESTALE;
		goto out;
	}
	/* a file's key; a directory's prefix ("dir/"; a piece's prefix has
	 * no '/' since the segment goes on below it) */
	if ((rc = inode_key_locked(t, n, &key, &klen)) < 0)
		goto out;
	kcap = klen + 1;
	if (n->type == INODE_FILE) {
		rc = fn(arg, key, klen, INODE_FILE);
		goto out;
	}
	/* a directory: key is its prefix ("dir/"), or a piece's prefix */
	if ((n->flags & INODE_MARKER) &&
	    (rc = fn(arg, key, klen, INODE_DIR)) != 0)
		goto out;
	c = n;
	for (;;) {
		if (depth == cap) {
			cap = cap ? cap * 2 : 16;
			if ((ns = realloc(stack, cap * sizeof *ns)) == NULL) {
				rc = -ENOMEM;
				goto out;
			}
			stack = ns;
		}
		stack[depth].n = c;
		stack[depth].next = 0;
		stack[depth].klen = klen;
		depth++;
		for (;;) {
			struct frame *f = &stack[depth - 1];
			const struct inode_dir *d = f->n->dir;

			while (f->next < d->n && d->v[f->next].node == NULL)
				f->next++;
			if (f->next == d->n) {
				if (--depth == 0)
					goto out;
				klen = stack[depth - 1].klen;
				continue;
			}
			c = d->v[f->next++].node;
			klen = f->klen;
			if (klen + c->nlen + 9 > kcap) {
				kcap = (klen + c->nlen + 9) * 2;
				if ((nk = realloc(key, kcap)) == NULL) {
					rc = -ENOMEM;
					goto out;
				}
				key = nk;
			}
			if (c->flags & INODE_SELF) {
				/* the directory's own key, without '/' */
				if ((rc = fn(arg, key, klen - 1, INODE_FILE)) !=
				    0)
					goto out;
				continue;
			}
			klen += inode_decode(t, c, key + klen);
			if (c->type == INODE_FILE) {
				if ((rc = fn(arg, key, klen, INODE_FILE)) != 0)
					goto out;
				continue;
			}
			if (!(c->flags & INODE_CONT))
				key[klen++] = '/';
			if ((c->flags & INODE_MARKER) &&
			    (rc = fn(arg, key, klen, INODE_DIR)) != 0)
				goto out;
			break; /* descend into c */
		}
	}
out:
	pthread_rwlock_unlock(&t->lock);
	free(stack);
	free(key);
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
	int rc;

	if (stale != NULL)
		stale->valid = 0;
	if (flags & ~1u) /* RENAME_NOREPLACE only */
		return path_err(-EINVAL, "'%.*s': rename flags %#x", (int)nlen,
		    name, flags);
	pthread_rwlock_wrlock(&t->lock);
	p = inode_of(t, parent);
	np = inode_of(t, newparent);
	if (p->type != INODE_DIR || np->type != INODE_DIR) {
		rc = -ENOTDIR;
		goto out;
	}
	if ((src = inode_find(t, p, name, nlen)) == NULL) {
		rc = -ENOENT;
		goto out;
	}
	if (src->flags & INODE_CONT) {
		rc = path_err(-EINVAL,
		    "'%.*s': a piece of a long name cannot be renamed",
		    (int)nlen, name);
		goto out;
	}
	if (np->flags & INODE_GONE) {
		rc = -ENOENT;
		goto out;
	}
	if (src->type == INODE_DIR && inode_is_ancestor(src, np)) {
		rc = path_err(-EINVAL, "'%.*s': cannot move into itself",
		    (int)nlen, name);
		goto out;
	}
	if ((rc = inode_child_key_locked(
	         t, np, newname, newnlen, src->type, &key, &klen)) < 0)
		goto out;
	free(key);
	dst = inode_find(t, np, newname, newnlen);
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
		rc = path_err(-ENOMEM, "directory index: out of memory");
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

/* Remove the empty directory name from parent. */
int
inode_rmdir(
    struct inode_tree *t, uint64_t parent, const char *name, size_t nlen)
{
	struct inode *p, *n;
	int rc = 0;

	pthread_rwlock_wrlock(&t->lock);
	p = inode_of(t, parent);
	if (p->type != INODE_DIR)
		rc = -ENOTDIR;
	else if ((n = inode_find(t, p, name, nlen)) == NULL)
		rc = -ENOENT;
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

/* Number of keys in the tree. */
uint64_t
inode_count(struct inode_tree *t)
{
	uint64_t n;

	pthread_rwlock_rdlock(&t->lock);
	n = t->nkeys;
	pthread_rwlock_unlock(&t->lock);
	return n;
}
