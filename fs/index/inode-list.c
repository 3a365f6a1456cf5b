/*
 * Listings of the directory index: readdir, and the walk over every key of
 * a subtree that a rename or a removal of a directory needs.  readdir
 * offsets are the cookies of a directory's entries (inode.c), found again
 * by binary search, so they stay valid while entries come and go.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "booklet.h"
#include "index.h"
#include "inode-tree.h"

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

/* Add node n, or without plus the file of slot s of d that has none (n
 * NULL), named name. */
static void
inode_batch_add(struct inode_tree *t, struct inode_batch *b,
    const struct inode *n, const struct inode *d, uint32_t s, const char *name,
    size_t nlen, off_t off)
{
	if (!b->plus) {
		struct inode_info info;
		char cname[PATH_NAME_MAX + 1]; /* entries' names end in none */

		if (b->stop)
			return;
		if (n != NULL)
			inode_fill(t, n, &info);
		else
			inode_fill_slot(t, d, s, &info);
		memcpy(cname, name, nlen);
		cname[nlen] = '\0';
		b->n++;
		if (b->fn(b->arg, cname, nlen, &info, off) != 0)
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

/* The entry of slot s of directory d into b: with plus, through its node,
 * made if it has none (under the write lock).  -ENOMEM. */
static int
inode_batch_slot(
    struct inode_tree *t, struct inode_batch *b, struct inode *d, uint32_t s)
{
	const unsigned char *e = idir_ent(d->dir, s);
	const char *name = (const char *)e + 2;
	off_t off = (off_t)d->dir->v[s].cookie;
	struct inode *n = NULL;

	if (e[0] & IDIR_ENT_NODE)
		n = inode_find(t, d, name, e[1]);
	else if (b->plus && (n = inode_materialize(t, d, s)) == NULL)
		return blt_errmsg_set(-ENOMEM, "readdir: out of memory");
	inode_batch_add(t, b, n, d, s, name, e[1], off);
	return 0;
}

/* Ask for the hash table's buckets that the next INODE_BATCH entries of d
 * from slot s will be looked up or put in, first growing the table for
 * them, so that their cache misses overlap: a first listing with
 * attributes makes a node of each file, and 100,000 of them waited on one
 * miss each in turn (issue 39). */
static void
inode_batch_prefetch(struct inode_tree *t, const struct inode *d, uint32_t s)
{
	const struct inode_dir *dir = d->dir;
	const unsigned char *e;
	uint32_t h, n = 0;

	while (t->nnodes + INODE_BATCH > t->nbuckets / 2)
		if (inode_grow_table(t) < 0)
			return; /* inode_materialize() will say so */
	for (; s < dir->n && n < INODE_BATCH; s++, n++) {
		if (dir->v[s].ent == IDIR_HOLE)
			continue;
		e = idir_ent(dir, s);
		h = inode_hash(d, (const char *)e + 2, e[1]);
		__builtin_prefetch(&t->buckets[h & (t->nbuckets - 1)]);
	}
}

void
inode_hold_entry(struct inode_tree *t, const struct inode_info *info)
{
	if (info->nodeid != 0 && info->nodeid != INODE_ROOT)
		__atomic_add_fetch(
		    &inode_of(t, info->nodeid)->nlookup, 1, __ATOMIC_RELAXED);
}

/* List directory dir from offset off, INODE_BATCH entries per locking:
 * the read lock, or the write lock with plus, which makes nodes. */
int
inode_readdir(struct inode_tree *t, uint64_t dir, off_t off, int plus,
    inode_dirent_fn *fn, void *arg)
{
	struct inode_batch *b;
	struct inode *d;
	int rc = 0, i, stop = 0, keep;
	uint32_t s;

	if ((b = malloc(sizeof *b)) == NULL)
		return blt_errmsg_set(-ENOMEM, "readdir: out of memory");
	b->plus = plus;
	b->stop = 0;
	b->fn = fn;
	b->arg = arg;
	while (!stop) {
		b->n = 0;
		if (plus)
			pthread_rwlock_wrlock(&t->lock);
		else
			pthread_rwlock_rdlock(&t->lock);
		d = inode_of(t, dir);
		if (d->type != INODE_DIR) {
			pthread_rwlock_unlock(&t->lock);
			rc = -ENOTDIR;
			break;
		}
		if (off < 1)
			inode_batch_add(t, b, d, NULL, 0, ".", 1, 1);
		if (off < 2)
			inode_batch_add(t, b,
			    d == t->root || (d->flags & INODE_GONE) ? d
			                                            : d->parent,
			    NULL, 0, "..", 2, 2);
		s = idir_slot_at(d->dir, (uint64_t)(off < 2 ? 2 : off) + 1);
		if (plus)
			inode_batch_prefetch(t, d, s);
		for (; s < d->dir->n && b->n < INODE_BATCH && !b->stop; s++)
			if (d->dir->v[s].ent != IDIR_HOLE &&
			    (rc = inode_batch_slot(t, b, d, s)) < 0)
				break;
		pthread_rwlock_unlock(&t->lock);
		if (rc < 0)
			stop =
			    1; /* what was added still goes, then the error */
		if (b->n == 0)
			break;
		if (!plus) {
			stop = b->stop || rc < 0;
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
			const unsigned char *e;
			const char *name;

			while (f->next < d->n && d->v[f->next].ent == IDIR_HOLE)
				f->next++;
			if (f->next == d->n) {
				if (--depth == 0)
					goto out;
				klen = stack[depth - 1].klen;
				continue;
			}
			e = idir_ent(d, (uint32_t)f->next++);
			name = (const char *)e + 2;
			klen = f->klen;
			if (klen + e[1] + 9 > kcap) {
				kcap = (klen + e[1] + 9) * 2;
				if ((nk = realloc(key, kcap)) == NULL) {
					rc = -ENOMEM;
					goto out;
				}
				key = nk;
			}
			if (!(e[0] & IDIR_ENT_DIR) && e[1] == PATH_SELF_LEN &&
			    memcmp(name, PATH_SELF, PATH_SELF_LEN) == 0) {
				/* the directory's own key, without '/' */
				if ((rc = fn(arg, key, klen - 1, INODE_FILE)) !=
				    0)
					goto out;
				continue;
			}
			klen += inode_decode(t, name, e[1], key + klen);
			if (!(e[0] & IDIR_ENT_DIR)) {
				if ((rc = fn(arg, key, klen, INODE_FILE)) != 0)
					goto out;
				continue;
			}
			c = inode_find(t, f->n, name, e[1]);
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

/* The key of directory d's first file, if it has one but PATH_SELF (which
 * is d's path as a key, no proof that d is a directory), to fn; else its
 * marker's, if it has one. */
static int
inode_witness_of(
    struct inode_tree *t, struct inode *d, inode_key_fn *fn, void *arg)
{
	const struct inode_dir *dir = d->dir;
	const unsigned char *e = NULL;
	unsigned char *key;
	size_t klen;
	uint32_t s;
	int rc;

	for (s = 0; s < dir->n && e == NULL; s++) {
		if (dir->v[s].ent == IDIR_HOLE)
			continue;
		e = idir_ent(dir, s);
		if ((e[0] & IDIR_ENT_DIR) ||
		    (e[1] == PATH_SELF_LEN &&
		        memcmp(e + 2, PATH_SELF, PATH_SELF_LEN) == 0))
			e = NULL;
	}
	if (e != NULL)
		rc = inode_child_key_locked(
		    t, d, (const char *)e + 2, e[1], INODE_FILE, &key, &klen);
	else if (d->flags & INODE_MARKER)
		rc = inode_key_locked(t, d, &key, &klen);
	else
		return 0; /* its subdirectories' witnesses stand for it */
	if (rc < 0)
		return rc;
	rc = fn(arg, key, klen, e != NULL ? INODE_FILE : INODE_DIR);
	free(key);
	return rc;
}

int
inode_tree_witnesses(struct inode_tree *t, inode_key_fn *fn, void *arg)
{
	struct inode *n;
	size_t i;
	int rc = 0;

	pthread_rwlock_rdlock(&t->lock);
	for (i = 0; rc == 0 && i < t->nbuckets; i++)
		if ((n = t->buckets[i].node) != NULL && n != t->root &&
		    n->type == INODE_DIR && !(n->flags & INODE_GONE))
			rc = inode_witness_of(t, n, fn, arg);
	pthread_rwlock_unlock(&t->lock);
	return rc;
}

uint64_t
inode_dir_changes(struct inode_tree *t)
{
	uint64_t n;

	pthread_rwlock_rdlock(&t->lock);
	n = t->dir_changes;
	pthread_rwlock_unlock(&t->lock);
	return n;
}
