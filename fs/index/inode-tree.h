/*
 * What the files of the directory index share: the node, the tree and the
 * helpers more than one of them calls.  Only inode*.c include it, and the
 * index's own tests where they need its insides (check_inode_dir.c:
 * idir_hash()); the rest of the daemon sees the index through its door,
 * fs/index.h.
 *
 *	ino.c		inode numbers, and the set of those that moved
 *	inode.c		the tree: nodes, the hash table, lookups
 *	inode-dir.c	the listing of one directory: entries by name
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

#include "index.h"

/* ino.c */

/* A set of inode numbers: those of nodes that moved away from the place
 * their number was made for (see ino.c).  Zeroed is empty. */
struct ino_set {
	uint64_t *v; /* open addressing; 0 empty, 1 removed */
	size_t cap;  /* a power of two, or 0 */
	size_t n;    /* numbers in the set */
	size_t used; /* slots not empty (numbers and removed ones) */
};

uint64_t ino_home(uint64_t parent, int type, const char *name, size_t nlen);
int ino_set_has(const struct ino_set *s, uint64_t ino);
int ino_set_add(struct ino_set *s, uint64_t ino);
void ino_set_del(struct ino_set *s, uint64_t ino);
uint64_t ino_set_free_from(const struct ino_set *s, uint64_t ino);
void ino_set_free(struct ino_set *s);

#define INODE_HEAP_NAME 0x80 /* node->flags: name was allocated apart */
#define INODE_KEPT                                                             \
	0x40            /* node->flags: named by a lookup that took no         \
	                 * reference, so kept while it is in the tree */
#define INODE_ATTR 0x20 /* node->flags: size and ts are known */
#define INODE_AWAY 0x10 /* node->flags: its ino is in the tree's away set */
#define INODE_PRIVATE (INODE_HEAP_NAME | INODE_KEPT | INODE_ATTR | INODE_AWAY)

struct inode;

/* A directory's entries (inode-dir.c).  Each entry's name is in names:
 * a byte of IDIR_ENT_* flags, a byte of length, the name's bytes, and with
 * IDIR_ENT_AT the IDIR_AT_LEN bytes (little-endian) of the offset where
 * the scan found the file's block (blt_find_at()). */
#define IDIR_ENT_DIR 1       /* a directory (always a node) */
#define IDIR_ENT_NODE 2      /* it has a node, in the tree's hash table */
#define IDIR_ENT_AT 4        /* a file whose block's offset follows */
#define IDIR_AT_LEN 6        /* bytes of that offset: the format's pointers */
#define IDIR_HOLE UINT32_MAX /* slot ent of a removed entry */
#define IDIR_LINEAR 8        /* entries a directory holds without a table */

/* One entry of a listing, in the order of cookies. */
struct inode_slot {
	uint32_t cookie; /* readdir's offset of the entry */
	uint32_t ent;    /* where its name is in names, or IDIR_HOLE */
};

struct inode_dir {
	struct inode_slot *v;
	char *names;
	uint32_t *tab;     /* slot + 1 by hash of name, 0: empty; NULL: none */
	uint32_t n, cap;   /* slots used (holes included), and allocated */
	uint32_t live;     /* entries */
	uint32_t next;     /* next cookie */
	uint32_t nused;    /* bytes of names used, dead ones included */
	uint32_t ncap;     /* and allocated */
	uint32_t ndead;    /* bytes of names of removed entries */
	uint32_t tmask;    /* buckets of tab - 1 */
	uint32_t nsubdirs; /* for nlink */
	uint8_t indexed;   /* tab holds every entry (not during a build) */
	uint8_t seen;      /* INODE_SEEN_* (atomic) */
	int64_t mtime;     /* µs: when an entry last came or went, 0 if
	                    * none did since the mount (not stored) */
};

static inline const unsigned char *
idir_ent(const struct inode_dir *d, uint32_t s)
{
	return (const unsigned char *)d->names + d->v[s].ent;
}

/* Bytes of entry e in names. */
static inline uint32_t
idir_ent_size(const unsigned char *e)
{
	return 2u + e[1] + (e[0] & IDIR_ENT_AT ? IDIR_AT_LEN : 0u);
}

/* The offset of the block of entry e's file as the scan found it, or 0. */
static inline uint64_t
idir_ent_at(const unsigned char *e)
{
	const unsigned char *p = e + 2 + e[1];
	uint64_t at = 0;
	int i;

	if (!(e[0] & IDIR_ENT_AT))
		return 0;
	for (i = IDIR_AT_LEN - 1; i >= 0; i--)
		at = at << 8 | p[i];
	return at;
}

struct inode {
	struct inode *parent;  /* NULL when gone: then the gone list's prev */
	struct inode *hnext;   /* the gone list's next when gone */
	struct inode_dir *dir; /* directories only */
	uint64_t ino;
	uint64_t nlookup; /* atomic */
	uint64_t cookie;  /* position in the parent's listing */
	char *name;
	uint64_t size; /* a file's value length, with INODE_ATTR */
	uint64_t at;   /* where the scan found a file's block, or 0 */
	/* the value a stat of the store last told the kernel of: where it
	 * lay, its length and timestamp (inode_tell()), or told_off 0 */
	uint64_t told_off, told_size;
	int64_t told_ts;
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
 * nodes.  The table holds the nodes: directories, and the files the
 * kernel or a caller asked for (a file's entry says whether it has one). */
struct inode_bucket {
	uint32_t hash;
	struct inode *node; /* NULL: empty */
};

struct inode_tree {
	pthread_rwlock_t lock;
	struct path_conf pc;
	struct inode *root;
	struct inode_bucket *buckets; /* open addressing, linear probing */
	size_t nbuckets;              /* a power of two, at most half full */
	size_t nnodes;
	struct inode *gone;  /* removed nodes the kernel still holds */
	struct ino_set away; /* numbers not of their node's place (ino.c) */
	uint32_t next_gen;
	uint64_t nkeys;
	int stamp;            /* built: a change of a listing moves its time */
	uint64_t dir_changes; /* directories made or moved since built */
	int building; /* new directories start unindexed (inode-build.c) */
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

/* inode.c */

/* Double the hash table.  -ENOMEM. */
int inode_grow_table(struct inode_tree *t);
/* Give n the name; n is out of the hash table meanwhile.  -ENOMEM. */
int inode_set_name(struct inode *n, const char *name, size_t nlen);
/* A node named name in parent (NULL: the root), not yet in the tree.
 * NULL: out of memory. */
struct inode *inode_alloc(struct inode_tree *t, const struct inode *parent,
    const char *name, size_t nlen, int type);
/* Free n and what it owns; safe on NULL. */
void inode_free_node(struct inode *n);
/* Append n to the listing of directory parent.  -ENOMEM, -EOVERFLOW. */
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
/* The node of name in directory p, or NULL; *slot is then the slot of a
 * file without a node, or -1 if there is no such name. */
struct inode *inode_child(struct inode_tree *t, const struct inode *p,
    const char *name, size_t nlen, int64_t *slot);
/* A node for the file of slot s of directory p, in the tree.  NULL: out
 * of memory. */
struct inode *inode_materialize(
    struct inode_tree *t, struct inode *p, uint32_t s);
/* inode_child() that makes the file's node if it has none. */
struct inode *inode_child_node(struct inode_tree *t, struct inode *p,
    const char *name, size_t nlen, int *rc);
/* Add a file without a node, or with one if its number must differ from
 * its place's (the away set).  -ENOMEM. */
int inode_add_file(
    struct inode_tree *t, struct inode *p, const char *name, size_t nlen);
/* Remove the entry of slot s of directory p (a file without a node). */
void inode_drop_slot(struct inode_tree *t, struct inode *p, uint32_t s);
/* What the tree knows of the file of slot s of p, which has no node. */
void inode_fill_slot(struct inode_tree *t, const struct inode *p, uint32_t s,
    struct inode_info *o);
/* Squeeze d's holes if they are many. */
void inode_dir_tidy(struct inode_tree *t, struct inode *p);

/* inode-dir.c */

uint32_t idir_hash(const char *name, size_t nlen);
/* The slot of name in d, or -1. */
int64_t idir_find(const struct inode_dir *d, const char *name, size_t nlen);
/* Append an entry (IDIR_ENT_* flags), of a file whose block the scan
 * found at at (0: none); the slot, or -ENOMEM, -EOVERFLOW. */
int64_t idir_add(struct inode_dir *d, const char *name, size_t nlen,
    unsigned flags, uint64_t at);
/* Set the offset of the block of slot s's file, if its entry has room for
 * one (0: none). */
void idir_set_at(struct inode_dir *d, uint32_t s, uint64_t at);
/* Remove the entry of slot s, leaving a hole. */
void idir_remove(struct inode_dir *d, uint32_t s);
/* Whether d has holes enough for idir_compact(). */
int idir_wasteful(const struct inode_dir *d);
/* Squeeze out holes and dead names; slots move, cookies stay.  -ENOMEM. */
int idir_compact(struct inode_dir *d);
/* A bulk build: begin the table of d, put slot s in (or return the slot
 * of its name before it), drop a slot not in it.  st holds the hashes of
 * the names of the directory being settled; zeroed at first, it is kept
 * from one directory to the next and freed with free(st->hash). */
struct idir_settling {
	uint32_t *hash; /* by slot */
	size_t cap;
};
int idir_settle_begin(struct inode_dir *d, struct idir_settling *st);
int64_t idir_settle_slot(
    struct inode_dir *d, const struct idir_settling *st, uint32_t s);
void idir_settle_drop(struct inode_dir *d, uint32_t s);
/* Give back the spare room of d's arrays. */
void idir_fit(struct inode_dir *d);
/* The slot of cookie c in d, or the first one after it. */
uint32_t idir_slot_at(const struct inode_dir *d, uint64_t c);
void idir_free(struct inode_dir *d);

/* inode-key.c */

/* Append the raw bytes of a name to buf (room for nlen + 8). */
size_t inode_decode(
    struct inode_tree *t, const char *name, size_t nlen, unsigned char *buf);
/* The key of n (the marker key for a directory) into a new buffer, which
 * the caller frees.  -ENOMEM. */
int inode_key_locked(struct inode_tree *t, const struct inode *n,
    unsigned char **key, size_t *klen);
/* inode_child_key() of directory p.  The caller frees *key. */
int inode_child_key_locked(struct inode_tree *t, struct inode *p,
    const char *name, size_t nlen, int type, unsigned char **key, size_t *klen);

#endif
