/*
 * What the files of the directory index share: the node, the tree and the
 * helpers more than one of them calls.  Only inode*.c include it; the rest
 * of the daemon sees the index through fs.h.
 *
 *	inode.c		the tree: nodes, the hash table, listings, lookups
 *	inode-change.c	keys stored and deleted, renames, rmdir
 *	inode-build.c	the tree of a mount, made in bulk from its keys
 *	inode-key.c	the key of a node, and of a new name
 *	inode-list.c	readdir, and the keys of a subtree
 *
 * Every function here wants the tree's lock held by the caller: the write
 * lock for those that change the tree, the read lock at least for the rest.
 */
#ifndef INODE_TREE_H
#define INODE_TREE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "fs.h"

#define INODE_HEAP_NAME 0x80 /* node->flags: name was allocated apart */
#define INODE_ARENA 0x40     /* node->flags: allocated from the arena */
#define INODE_ATTR 0x20      /* node->flags: size and ts are known */
#define INODE_AWAY 0x10 /* node->flags: its ino is in the tree's away set */
#define INODE_PRIVATE (INODE_HEAP_NAME | INODE_ARENA | INODE_ATTR | INODE_AWAY)

struct inode;
struct inode_chunk;

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
	uint16_t mode; /* INODE_MODE_SET | permission bits, or 0: the
	                * mount's default (inode_set_mode()); INODE_UID_SET,
	                * INODE_GID_SET: uid, gid are its owner's */
	uint32_t uid, gid;
	char iname[];
};

/* The hash is kept beside the pointer so that probing does not touch
 * nodes, which are cold when a mount builds its index. */
struct inode_bucket {
	uint32_t hash;
	struct inode *node; /* NULL: empty */
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

static inline struct inode *
inode_of(struct inode_tree *t, uint64_t nodeid)
{
	if (nodeid == INODE_ROOT)
		return t->root;
	return (struct inode *)(uintptr_t)nodeid;
}

static inline uint64_t
inode_nodeid(struct inode_tree *t, const struct inode *n)
{
	return n == t->root ? INODE_ROOT : (uint64_t)(uintptr_t)n;
}

/* A hash of (parent, name) for the table (ino_hash_name()). */
static inline uint32_t
inode_hash(const struct inode *parent, const char *name, size_t nlen)
{
	return (uint32_t)ino_hash_name(
	    (uint64_t)(uintptr_t)parent * UINT64_C(0x9e3779b97f4a7c15) ^ nlen,
	    name, nlen);
}

static inline struct inode *
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

static inline void
inode_table_add(struct inode_bucket *b, size_t nb, struct inode *n)
{
	size_t i;

	for (i = n->hash & (nb - 1); b[i].node != NULL; i = (i + 1) & (nb - 1))
		;
	b[i].hash = n->hash;
	b[i].node = n;
}

/* The slot of cookie c in d, or the first one after it. */
static inline size_t
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

/* inode.c */

/* Double the hash table.  -ENOMEM. */
int inode_grow_table(struct inode_tree *t);
/* Give n the name; n is out of the hash table meanwhile.  -ENOMEM. */
int inode_set_name(struct inode *n, const char *name, size_t nlen);
/* A node named name in parent (NULL: the root), not yet in the tree; from
 * the arena if arena.  NULL: out of memory. */
struct inode *inode_alloc(struct inode_tree *t, const struct inode *parent,
    const char *name, size_t nlen, int type, int arena);
/* Free n and what it owns; safe on NULL. */
void inode_free_node(struct inode *n);
/* Append n to the listing of directory parent.  -ENOMEM. */
int inode_link(struct inode *parent, struct inode *n);
/* Link n (named already) into parent and the hash table.  -ENOMEM. */
int inode_attach(struct inode_tree *t, struct inode *parent, struct inode *n);
/* Take n out of its parent's listing (not out of the hash table). */
void inode_unlink(struct inode *n);
/* Copy what the tree knows of n into *o, if o is not NULL. */
void inode_fill(
    struct inode_tree *t, const struct inode *n, struct inode_info *o);
/* A new node name in parent, numbered and in the tree.  NULL: out of
 * memory. */
struct inode *inode_new_child(struct inode_tree *t, struct inode *parent,
    const char *name, size_t nlen, int type, unsigned flags);
/* Start w on the names of key (see inode.c).  -EINVAL: too long. */
int inode_walk_key(struct inode_tree *t, struct path_walk *w, const void *key,
    size_t klen, uint64_t vlen);
/* Unlink n from its parent and the hash table (it stays allocated). */
void inode_detach(struct inode_tree *t, struct inode *n);
/* n has left the tree: free it, or keep it (INODE_GONE) while the kernel
 * holds it. */
void inode_retire(
    struct inode_tree *t, struct inode *n, struct inode_stale *stale);
/* n is where it now stands: keep its number apart from the numbers of
 * new nodes where it was made, if it moved away from there. */
void inode_moved(struct inode_tree *t, struct inode *n);
/* Forget what n's size and timestamp were: its value changed. */
void inode_drop_attr(struct inode *n);

/* inode-key.c */

/* Append the raw bytes of n's name to buf (room for n->nlen + 8). */
size_t inode_decode(
    struct inode_tree *t, const struct inode *n, unsigned char *buf);
/* The key of n (the marker key for a directory) into a new buffer, which
 * the caller frees.  -ENOMEM. */
int inode_key_locked(struct inode_tree *t, const struct inode *n,
    unsigned char **key, size_t *klen);
/* inode_child_key() of directory p.  The caller frees *key. */
int inode_child_key_locked(struct inode_tree *t, struct inode *p,
    const char *name, size_t nlen, int type, unsigned char **key, size_t *klen);

#endif
