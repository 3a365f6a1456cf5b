/*
 * Reads of the store by a node's key, waiting out renames.  A node's key
 * changes with an unlink or rename of it or of a directory above it, and
 * the store changes before the names do: a read by key waits while one is
 * under way, and is done again if one came or went meanwhile, or if a
 * prune evicted keys whose names were still in the index.  Waiting reads
 * sleep on fs->move_done until node_moves_ended() wakes them.  handle.c
 * and ops*.c read stored values this way, and filebuf.c loads a buffer.
 * A read that fails (a damaged store) is logged here, with its key: the
 * caller only has an errno to give the kernel.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "handle-int.h"

/* The key of nodeid for a read of the store, waiting out an unlink or
 * rename that is changing it (the store changes before the names do); the
 * read is good unless node_read_again() says otherwise.  -ESTALE once the
 * node has no name. */
int
node_key(struct fs *fs, uint64_t nodeid, struct node_read *r)
{
	int rc;

	r->evict = atomic_load(&fs->evict_seq);
	if ((rc = inode_key_version(fs->tree, nodeid, &r->key, &r->klen,
	         &r->ver, &r->at)) != -EAGAIN)
		return rc;
	pthread_mutex_lock(&fs->move_lock);
	while ((rc = inode_key_version(fs->tree, nodeid, &r->key, &r->klen,
	            &r->ver, &r->at)) == -EAGAIN)
		pthread_cond_wait(&fs->move_done, &fs->move_lock);
	pthread_mutex_unlock(&fs->move_lock);
	return rc;
}

/* An unlink or rename has unmarked its nodes (inode_move_mark()), or a
 * prune has taken the names of the keys it evicted out of the index: wake
 * the reads that wait for it to look again. */
void
node_moves_ended(struct fs *fs)
{
	pthread_mutex_lock(&fs->move_lock);
	pthread_cond_broadcast(&fs->move_done);
	pthread_mutex_unlock(&fs->move_lock);
}

/* Free the key node_key() gave; 1 if the read by it that returned rc must
 * be done again: an unlink or rename of its path came or went meanwhile,
 * or the key was missing and a prune --older-than ran meanwhile.  Such a
 * prune drops keys from the store before their names leave the index, and
 * a file it evicts must not read as empty in between: the read waits for
 * the names, then finds the node gone (-ESTALE) or the key there. */
int
node_read_again(struct fs *fs, uint64_t nodeid, struct node_read *r, int rc)
{
	free(r->key);
	r->key = NULL;
	if (!inode_key_still(fs->tree, nodeid, r->ver))
		return 1;
	if (rc != -ENOENT ||
	    ((r->evict & 1) == 0 && atomic_load(&fs->evict_seq) == r->evict))
		return 0;
	pthread_mutex_lock(&fs->move_lock);
	while (atomic_load(&fs->evict_seq) & 1)
		pthread_cond_wait(&fs->move_done, &fs->move_lock);
	pthread_mutex_unlock(&fs->move_lock);
	return 1;
}

/* Keep e, found by r's key, as the version seen reads.  seen->lock held.
 * -ENOMEM. */
static int
node_seen_keep(struct node_seen *seen, const struct node_read *r,
    const struct blt_entry *e)
{
	unsigned char *key;

	if (seen->key == NULL || seen->klen != r->klen ||
	    memcmp(seen->key, r->key, r->klen) != 0) {
		if ((key = malloc(r->klen ? r->klen : 1)) == NULL)
			return -ENOMEM;
		memcpy(key, r->key, r->klen);
		free(seen->key);
		seen->key = key;
		seen->klen = r->klen;
	}
	seen->e = *e;
	seen->set = 1;
	return 0;
}

/* node_find() that, if seen is not NULL, keeps what it found there with
 * its key (node_seen_begin()). */
static int
node_find_as(struct fs *fs, uint64_t nodeid, int hint, struct blt_entry *e,
    struct node_seen *seen)
{
	struct node_read r;
	int rc;

	do {
		if ((rc = node_key(fs, nodeid, &r)) < 0)
			return rc;
		if ((rc = blt_find_at(fs->db, r.key, r.klen, hint ? r.at : 0,
		         fs->at_gen, e)) < 0) {
			fs_log_read(fs, r.key, r.klen, rc);
		} else if (seen != NULL) {
			pthread_mutex_lock(&seen->lock);
			rc = node_seen_keep(seen, &r, e);
			pthread_mutex_unlock(&seen->lock);
		}
	} while (node_read_again(fs, nodeid, &r, rc));
	return rc;
}

/* Where the value of nodeid lies in the store, read while no unlink or
 * rename changes its key.  With hint, from the block where the scan found
 * the key if that block still holds its value (blt_find_at()): a listing
 * with attributes then need not look up each file.  Reads of the value
 * ask the store's index, so that they meet any damage there, as the Python
 * booklet would.  -ESTALE once the node has no name, -ENOENT for a file
 * not stored yet. */
int
node_find(struct fs *fs, uint64_t nodeid, int hint, struct blt_entry *e)
{
	return node_find_as(fs, nodeid, hint, e, NULL);
}

/* Read up to n bytes at off of the value r's key has now.  If told is not
 * NULL, the kernel holds the size of another version, gone since (a prune
 * by the process that holds the store moved it), or told from the index
 * with no block known: a longer value now would
 * be cut at that size, so the read answers EBUSY, as one that waited for
 * the lock in vain; a shorter one the kernel takes whole (a short read
 * ends the file there). */
static ssize_t
node_read_now(struct fs *fs, struct node_read *r, const struct blt_entry *told,
    void *buf, size_t n, uint64_t off)
{
	struct blt_entry now;
	ssize_t got;

	/* Without the lock, first where the mount last saw the key, while
	 * that block stands, however another process has its chain; with
	 * it, by the store's index, so that a read meets any damage there as
	 * the Python booklet would (node_find()). */
	if (told == NULL)
		got = blt_read_at(fs->db, r->key, r->klen,
		    blt_peeking(fs->db) ? r->at : 0, fs->at_gen, off, buf, n);
	else if ((got = blt_find(fs->db, r->key, r->klen, &now)) == 0 &&
	         (now.value_len > told->value_len ||
	             (got = blt_read_version(fs->db, r->key, r->klen, &now, off,
	                  buf, n)) == -ESTALE))
		got = blt_errmsg_set(-EBUSY,
		    "the process that holds the store replaced and moved its "
		    "value while the kernel held its size (%llu bytes)",
		    (unsigned long long)told->value_len);
	if (got < 0)
		fs_log_read(fs, r->key, r->klen, (int)got);
	return got;
}

/* Read up to n bytes at off of the version e of r's key, where e says,
 * -ESTALE if that block is gone.  With the store's lock held, no other
 * process changes it: if e is the key's value now, it is read by the
 * store's index, so that a read meets any damage there as the Python
 * booklet would; else another process replaced it before this store took
 * the lock, and its block still holds it, unless a prune moved it. */
static ssize_t
node_read_entry(struct fs *fs, struct node_read *r, const struct blt_entry *e,
    void *buf, size_t n, uint64_t off)
{
	struct blt_entry now;

	if (!blt_peeking(fs->db) &&
	    blt_find(fs->db, r->key, r->klen, &now) == 0 &&
	    now.value_len == e->value_len && now.timestamp == e->timestamp)
		return blt_read(fs->db, r->key, r->klen, off, buf, n);
	return blt_read_version(fs->db, r->key, r->klen, e, off, buf, n);
}

int
node_seen_begin(struct fs *fs, uint64_t nodeid, struct node_seen *seen)
{
	struct blt_entry e;

	return node_find_as(fs, nodeid, blt_peeking(fs->db), &e, seen);
}

void
node_seen_free(struct node_seen *seen)
{
	free(seen->key);
	seen->key = NULL;
}

/* Reads of a file read past the kernel's page cache give the version
 * found at its first read, or at its last read from offset 0 (cat reads
 * on until a read gives nothing: another version's bytes after the first
 * read's would join two values).  A version whose size a stat told its
 * reader (handle_told_size()) is kept by the reads from offset 0 too,
 * until one reaches its end: rsync and tar read as many bytes as fstat
 * says.  That version is read where it lies, and found again if a prune
 * moved it; one that another process replaced meanwhile fails the read
 * with EBUSY. */
static ssize_t
node_read_seen(struct fs *fs, struct node_read *r, struct node_seen *seen,
    void *buf, size_t n, uint64_t off)
{
	struct blt_entry now;
	ssize_t got = -ESTALE;
	int keep;

	pthread_mutex_lock(&seen->lock);
	keep = seen->set && (off > 0 || seen->told);
	if (keep)
		got = node_read_entry(fs, r, &seen->e, buf, n, off);
	for (int tries = 0; got == -ESTALE && tries < 3; tries++) {
		got = blt_find_at(fs->db, r->key, r->klen,
		    blt_peeking(fs->db) ? r->at : 0, fs->at_gen, &now);
		/* deleted by another process since the open: the file reads
		 * on the version it had, as an unlinked file is read on */
		if (got == -ENOENT && seen->set && !keep) {
			got = node_read_entry(fs, r, &seen->e, buf, n, off);
			if (got == -ESTALE)
				got = -ENOENT; /* pruned away since */
			break;
		}
		if (got < 0)
			break;
		if (keep && (now.value_len != seen->e.value_len ||
		                now.timestamp != seen->e.timestamp)) {
			got = blt_errmsg_set(-EBUSY,
			    "the process that holds the store replaced the "
			    "value while it was read (%llu bytes of it read)",
			    (unsigned long long)off);
			break;
		}
		if ((got = node_seen_keep(seen, r, &now)) == 0)
			got = node_read_entry(fs, r, &now, buf, n, off);
	}
	if (got >= 0 && (size_t)got < n)
		seen->told = 0; /* read to its end */
	pthread_mutex_unlock(&seen->lock);
	if (got < 0)
		fs_log_read(fs, r->key, r->klen, (int)got);
	return got;
}

/* A file read past the page cache whose name went since its open (another
 * process deleted its key, and the mount followed): it reads the version
 * it kept, where that still lies, as an unlinked file is read on; -ESTALE
 * once a prune took it. */
static ssize_t
node_read_gone(
    struct fs *fs, struct node_seen *seen, void *buf, size_t n, uint64_t off)
{
	ssize_t got = -ESTALE;

	pthread_mutex_lock(&seen->lock);
	if (seen->set && seen->key != NULL)
		got = blt_read_version(
		    fs->db, seen->key, seen->klen, &seen->e, off, buf, n);
	pthread_mutex_unlock(&seen->lock);
	return got;
}

/* Read up to n bytes at off of nodeid's stored value, by its key, while
 * no unlink or rename changes that key.  Returns the byte count (0 at the
 * end, and for a file not stored yet).  While another process holds the
 * store (blt_peeking()), a read through the kernel's page cache (not
 * direct) reads the value whose size the kernel was last told
 * (inode_tell()), as long as its block stands: the kernel cuts a read at
 * the size it holds, and keeps pages it read, so a newer value, longer or
 * shorter, would be cut or mixed with the old until the kernel asks for
 * the size again.  Files opened while another process writes the store
 * are read past the cache, each its own version (node_read_seen()). */
ssize_t
node_read(struct fs *fs, uint64_t nodeid, struct node_seen *seen, void *buf,
    size_t n, uint64_t off)
{
	struct node_read r;
	struct blt_entry told;
	ssize_t got;
	int rc, was_told;

	do {
		if ((rc = node_key(fs, nodeid, &r)) < 0)
			return rc == -ESTALE && seen != NULL
			           ? node_read_gone(fs, seen, buf, n, off)
			           : rc;
		if (seen != NULL) {
			got = node_read_seen(fs, &r, seen, buf, n, off);
			continue;
		}
		got = -ESTALE;
		was_told = blt_peeking(fs->db) &&
		           inode_told(fs->tree, nodeid, &told.value_off,
		               &told.value_len, &told.timestamp);
		/* a size told from the index, maybe before another process
		 * began to write: the version the kernel knows the size of
		 * is in the block where the index had the key then, if it
		 * holds a value of that size and time still (checked by
		 * blt_read_version()), not a longer one written since */
		if (was_told && (told.value_off & INODE_TOLD_AT))
			told.value_off = blt_value_off(
			    fs->db, told.value_off & ~INODE_TOLD_AT, r.klen);
		if (was_told)
			got = blt_read_version(
			    fs->db, r.key, r.klen, &told, off, buf, n);
		if (got == -ESTALE)
			got = node_read_now(
			    fs, &r, was_told ? &told : NULL, buf, n, off);
	} while (node_read_again(fs, nodeid, &r, (int)got));
	return got == -ENOENT && node_unstored(fs, nodeid) ? 0 : got;
}

int
node_unstored(struct fs *fs, uint64_t nodeid)
{
	return !blt_peeking(fs->db) && handle_pending(fs, nodeid);
}
