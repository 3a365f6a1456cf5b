/*
 * What the files of open files share: the set that registers handles and
 * write buffers, the buffer itself, and reads of the store by a node's
 * key.  Only these files include it; the rest of fs/ops/ sees open files
 * through ops-int.h, the rest of the daemon through fs/ops.h.
 *
 *	handle.c	handles: opens, reads, writes, commits, the set
 *	filebuf.c	the write buffer a file's handles share
 *	node-read.c	reads of the store by a node's key, waiting out renames
 *	decode.c	a decode mount's texts, read by a node's key too
 */
#ifndef HANDLE_INT_H
#define HANDLE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "ops-int.h"

#define HANDLE_BUCKETS 256
/* Files whose name went most recently, remembered for opens of them that
 * were on their way (handle_orphan()) */
#define HANDLE_ORPHANS 64

/* The value of one file as its writers see it, shared by all its handles
 * that may write, and by its readers once its name went (handle_keep()). */
struct filebuf {
	struct fs *fs;
	uint64_t nodeid;
	pthread_mutex_t lock; /* the bytes; held across a commit */
	int refs;             /* handles using it; under the set's lock */
	int readers;        /* reads through other handles of the file, going on
	                     * (filebuf_lend()); under the set's lock */
	_Atomic int loaded; /* holds the whole value */
	unsigned char *mem;
	size_t cap;
	int fd; /* spill file, or -1 */
	_Atomic uint64_t size;
	_Atomic int dirty;    /* differs from the store */
	_Atomic int bad;      /* a decode mount: the text could not be
	                       * encoded, and was not changed since */
	_Atomic int refused;  /* a write or a close was refused the
	                       * store's lock (handle_turn(),
	                       * handle_refuse()), and no write let in
	                       * since: nothing is stored */
	_Atomic int unstored; /* its name was made by a create and has no
	                       * key yet: counted in the set's unstored */
	_Atomic int64_t ts;   /* timestamp of the next commit */
	struct filebuf *next; /* same bucket of the set */
};

struct handle_set {
	pthread_mutex_t lock;
	atomic_int nbufs;   /* stat skips the lock while this is 0 */
	atomic_int ndirect; /* handles read past the page cache: stat asks
	                     * which process it serves only if not 0 */
	char *dir;          /* where spill files go: the store's directory */
	/* names a create made, before their open file is in the set
	 * (handle_creating()), and the names made by creates that have no
	 * key yet, those among them (handle_unstored()) */
	uint64_t *creating;
	size_t ncreating, creating_cap;
	atomic_long unstored;
	struct handle *bucket[HANDLE_BUCKETS];
	struct filebuf *bufs[HANDLE_BUCKETS];
	struct handle_orphan {
		uint64_t nodeid;
		uint32_t gen; /* of the node: a nodeid is an address, reused
		               * once the kernel forgets the node */
		int stored;   /* e holds where its value was */
		struct blt_entry e;
	} orphan[HANDLE_ORPHANS];
	unsigned norphans; /* ever recorded; the ring holds the last ones */
};

/* A read of the store by a node's key: the key, and what tells afterwards
 * whether the read must be done again (node_read_again()). */
struct node_read {
	unsigned char *key;
	size_t klen;
	uint64_t ver;   /* of the node's path: unlinks and renames */
	uint64_t at;    /* where the scan found its block, or 0 */
	unsigned evict; /* fs->evict_seq: odd while a prune evicts keys */
};

/* The version of a value that an open file read past the kernel's page
 * cache gave first (node_read()): its later reads give the same one, so
 * that a read at an offset never joins another version's bytes to what
 * the reads before it gave. */
struct node_seen {
	pthread_mutex_t lock;
	int set;
	/* its size was told to the process that opened the file (a stat of
	 * it, handle_told_size()): the reads from offset 0 keep it too, until
	 * one reaches its end */
	int told;
	struct blt_entry e;
	/* e's key, kept since the open: the file reads e after another
	 * process deleted the key and the name went (node_read_gone()) */
	unsigned char *key;
	size_t klen;
};

/* Keep the version nodeid's key has now in seen, as its open file's
 * (found without waiting for the lock).  Returns 0, or a negative errno
 * of the lookup: -ENOENT if the key has none (seen stays unset). */
int node_seen_begin(struct fs *fs, uint64_t nodeid, struct node_seen *seen);
void node_seen_free(struct node_seen *seen);

/* The bucket of nodeid in the set's tables of handles and of buffers. */
static inline unsigned
handle_hash(uint64_t nodeid)
{
	return (unsigned)((nodeid * UINT64_C(0x9e3779b97f4a7c15)) >> 56);
}

/* handle.c */

/* Write all n bytes of buf at off of fd.  0 or a negative errno. */
int handle_pwrite(int fd, const void *buf, size_t n, uint64_t off);

/* filebuf.c */

/* The buffer of nodeid, if it has one; s->lock held. */
struct filebuf *filebuf_find(struct handle_set *s, uint64_t nodeid);
/* nodeid's buffer, else spare (taken), with a reference; s->lock held. */
struct filebuf *filebuf_attach(
    struct handle_set *s, uint64_t nodeid, struct filebuf **spare);
/* An empty buffer, in no set yet; NULL without memory. */
struct filebuf *filebuf_create(struct fs *fs, uint64_t nodeid);
/* Free b, which nothing uses any more; safe on NULL. */
void filebuf_free(struct filebuf *b);
/* Drop a reference; 1 if the last lost unstored changes.  Takes s->lock. */
int filebuf_detach(struct handle_set *s, struct filebuf *b);
/* nodeid's loaded buffer for one read, else NULL.  Takes s->lock. */
struct filebuf *filebuf_lend(struct handle_set *s, uint64_t nodeid);
/* Give back what filebuf_lend() lent.  Takes s->lock. */
void filebuf_return(struct handle_set *s, struct filebuf *b);
/* Make room for size bytes, zeros up to zero_end; b->lock held. */
int filebuf_reserve(struct filebuf *b, uint64_t size, uint64_t zero_end);
/* Copy the stored value into b; b->lock held. */
int filebuf_load(struct filebuf *b);
/* Mark b changed, now size bytes long; b->lock held. */
void filebuf_changed(struct filebuf *b, uint64_t size);
/* Cut or extend b to size bytes.  Takes b->lock.  -EFBIG. */
int filebuf_truncate(struct filebuf *b, uint64_t size);
/* Store b if dirty: 1, else 0, or -errno.  Takes b->lock, then fs->wlock. */
int filebuf_commit(struct filebuf *b, int flush);

/* node-read.c */

/* nodeid's key into r, waiting out renames.  -ESTALE once it has no name. */
int node_key(struct fs *fs, uint64_t nodeid, struct node_read *r);
/* Free r's key; 1 if the read by it that returned rc must be done again. */
int node_read_again(
    struct fs *fs, uint64_t nodeid, struct node_read *r, int rc);

#endif
