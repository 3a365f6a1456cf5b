/*
 * write.c: puts, deletes and timestamps, the write buffer and its flush.
 *
 * Puts collect encoded blocks in memory (§7.1); readers in this process
 * find them there through a small hash set of their digests.  A flush makes
 * them part of the file in two steps, so that a crash at any point loses
 * at most what was not yet synced and never shows a half-written value:
 *
 *   1. append the blocks with next pointer 0: to every reader they are
 *      tombstones, whatever of them reached the disk;
 *   2. link each one into its chain (index_link(), §7.2): its next pointer
 *      is set first, which makes it live, then what leads to it.
 *
 * A durable flush (blt_sync) puts an fsync after each step.  Before the
 * first change after a clean point the header's key count is set to the
 * unclean sentinel (§7.8), so that a crash in step 2 (or in a delete, whose
 * two pointer writes cannot be atomic) is repaired by the next open.
 *
 * The kernel writes dirty pages back in any order, so between two fsyncs
 * the order of writes above holds only for a crash of the process, not
 * for a power cut.  An overwrite must not depend on it: the old block is
 * the only copy of a committed value until the new one is durable.  So
 * the first overwrite since the blocks were appended syncs them before it
 * links, and the old blocks stay live, out of every chain, until the
 * links are synced too; then they are tombstoned (write_bury()).  A crash
 * before that leaves a key live twice, and the recovery's scan keeps the
 * later block.  A flush of new keys alone syncs nothing: a power cut may
 * lose them, or keep a block whose value was not all written back
 * (doc/durability.md).
 *
 * A block too big for the buffer goes through the same steps on its own,
 * with its value written without the write lock (put.c).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

/* Say no to writes on a read-only store. */
static int
write_refuse_rdonly(struct blt *db)
{
	return err_set(-EROFS, "%s: opened read-only", db->path);
}

/* Check a user key for a put or delete. */
int
write_check_key(struct blt *db, const void *key, size_t klen)
{
	if (klen > BLT_KEY_MAX)
		return err_set(-EINVAL,
		    "%s: key of %zu bytes is longer than the format's %u",
		    db->path, klen, BLT_KEY_MAX);
	if (!db->h.fixed && hash_internal_key(key, klen))
		return err_set(-EINVAL,
		    "%s: key %s is reserved for booklet's metadata and slots",
		    db->path, err_key(key, klen));
	return 0;
}

/* The timestamp to store for ts: now for BLT_NOW, checked otherwise. */
int64_t
write_timestamp(int64_t ts)
{
	if (ts == BLT_NOW)
		return blt_now();
	return ts;
}

static uint64_t
write_pset_hash(const unsigned char *digest)
{
	return le_get(digest, 8);
}

/* Find digest's slot in the pending set: its entry or the empty slot. */
static size_t
write_pset_slot(const struct blt *db, const unsigned char *digest)
{
	size_t mask = db->pset_cap - 1;
	size_t i = (size_t)write_pset_hash(digest) & mask;

	while (db->pset[i] != 0 &&
	       memcmp(db->pend[db->pset[i] - 1].digest, digest, HASH_LEN) != 0)
		i = (i + 1) & mask;
	return i;
}

/* Make room for one more pending entry, growing the set to stay at most
 * half full. */
static int
write_pend_grow(struct blt *db)
{
	if (db->n_pend == db->pend_cap) {
		size_t cap = db->pend_cap ? db->pend_cap * 2 : 1024;
		struct pend *p = realloc(db->pend, cap * sizeof *p);

		if (p == NULL)
			return err_oom(db->path);
		db->pend = p;
		db->pend_cap = cap;
	}
	if ((db->n_pend + 1) * 2 > db->pset_cap) {
		size_t cap = db->pset_cap ? db->pset_cap * 2 : 2048;
		uint32_t *set = calloc(cap, sizeof *set);

		if (set == NULL)
			return err_oom(db->path);
		free(db->pset);
		db->pset = set;
		db->pset_cap = cap;
		for (size_t i = 0; i < db->n_pend; i++)
			db->pset[write_pset_slot(db, db->pend[i].digest)] =
			    (uint32_t)(i + 1);
	}
	return 0;
}

/* Find digest among the buffered puts; 1 and *b (offsets relative to the
 * buffer) when it is there. */
int
write_pending_find(
    const struct blt *db, const unsigned char *digest, struct block *b)
{
	size_t i;

	if (db->n_pend == 0)
		return 0;
	i = write_pset_slot(db, digest);
	if (db->pset[i] == 0)
		return 0;
	return block_parse(db, db->buf, db->pend[db->pset[i] - 1].boff,
	           db->buf_len, b) == 0;
}

/* Drop the buffered puts. */
void
write_discard(struct blt *db)
{
	if (db->n_pend > 0)
		memset(db->pset, 0, db->pset_cap * sizeof *db->pset);
	db->n_pend = 0;
	db->buf_len = 0;
}

/* Free the write buffer. */
void
write_free(struct blt *db)
{
	free(db->buf);
	free(db->pend);
	free(db->pset);
	free(db->bury);
	db->bury = NULL;
	db->n_bury = db->cap_bury = 0;
	db->buf = NULL;
	db->pend = NULL;
	db->pset = NULL;
}

/* Tombstone the blocks that overwrites replaced, once the blocks that
 * replaced them are durable and live (see the top of the file). */
int
write_bury(struct blt *db)
{
	int rc = 0;

	if (db->n_bury == 0)
		return 0;
	rc = io_sync(db);
	for (size_t i = 0; rc == 0 && i < db->n_bury; i++)
		rc =
		    io_put_ptr(db, db->bury[i] + BLOCK_NEXT_OFF, PTR_TOMBSTONE);
	/* on an error, blocks are left live out of every chain, which a
	 * clean close would make permanent (scans would list a key twice):
	 * no more writes, so that the store stays unclean and its next open
	 * keeps the later of two live blocks */
	if (rc < 0)
		io_stop_writes(db, BLT_FLUSH_STUCK);
	db->n_bury = 0;
	return rc;
}

/* Keep old, which the block linked in its place replaced, for
 * write_bury(); if there is no room to keep it, sync and bury now. */
static int
write_bury_later(struct blt *db, uint64_t old)
{
	if (db->n_bury == db->cap_bury) {
		size_t cap = db->cap_bury ? db->cap_bury * 2 : 64;
		uint64_t *v = realloc(db->bury, cap * sizeof *v);

		if (v == NULL) { /* the others wait for write_bury() */
			int rc = io_sync(db);

			return rc < 0 ? rc
			              : io_put_ptr(db, old + BLOCK_NEXT_OFF,
			                    PTR_TOMBSTONE);
		}
		db->bury = v;
		db->cap_bury = cap;
	}
	db->bury[db->n_bury++] = old;
	return 0;
}

/* Step 2 for one block: link the block at q and count it. */
int
write_link(
    struct blt *db, uint64_t slot, const unsigned char *digest, uint64_t q)
{
	struct block old, b;
	int rc;

	if ((rc = block_parse(db, db->map->base, q, db->size, &b)) < 0)
		return rc;
	old.size = 0;
	rc = index_link(db, slot, digest, q, &old,
	    db->unsynced ? INDEX_TOMB_ASK : INDEX_TOMB_LATER);
	if (rc == INDEX_NEEDS_SYNC) { /* an overwrite: q durable first */
		if ((rc = io_sync(db)) < 0)
			return rc;
		rc = index_link(db, slot, digest, q, &old, INDEX_TOMB_LATER);
	}
	if (rc == 0) /* an overwrite */
		rc = write_bury_later(db, old.off);
	if (rc < 0)
		return rc;
	keydir_link(db, b.key, b.klen, rc == 0 ? old.off : 0, q);
	if (rc == 1 && (db->h.fixed || !hash_internal_key(b.key, b.klen)))
		db->n_keys++;
	db->usage_epoch++;
	if (db->usage_known)
		db->live_bytes += b.size - old.size;
	return 0;
}

/* Linking a block walks its whole chain (a new key must not be there
 * already): a cache miss for the bucket slot, then one per block of the
 * chain, each address read from the block before.  So the walks of the
 * blocks after block i are started ahead, one step per block linked: the
 * slot of block i + WRITE_AHEAD, the chain head of block i + 3/4 of it
 * (whose slot was fetched meanwhile), and the next WRITE_HOPS - 1 blocks of
 * the chains of those closer, each read from the block fetched a quarter
 * of the window before.  Only hints: the links made in between may change
 * the chains.  Overwrite of 1,000,000 keys: 0.79 to 0.85 M puts/s without
 * any, 0.93 to 0.98 M with the slot and head.  A load of 100M keys into
 * 20,736,017 buckets, whose chains grow to 5 blocks: the last 10M keys at
 * 281,000 keys/s with the slot and head, 8 blocks ahead, and 450,000
 * with the hops. */
#define WRITE_AHEAD 32
#define WRITE_HOPS 3
#define WRITE_STEP (WRITE_AHEAD / (WRITE_HOPS + 1))

/* The ring of the blocks ahead: each one's slot, then where its walk got. */
struct write_ahead {
	uint64_t slot[WRITE_AHEAD];
	uint64_t at[WRITE_AHEAD];
};

/* Work out block i's slot into the ring and prefetch it. */
static void
write_slot_ahead(struct blt *db, struct write_ahead *w, size_t i)
{
	if (i < db->n_pend) {
		w->slot[i % WRITE_AHEAD] = index_slot(db, db->pend[i].digest);
		__builtin_prefetch(db->map->base + w->slot[i % WRITE_AHEAD], 1);
		keyfilter_prefetch(db, db->pend[i].digest);
	}
}

/* Take block i's walk one step further: to the chain's head (hop 0),
 * whose slot is in the ring, or to the block after the one it got to,
 * and prefetch it. */
static void
write_hop_ahead(struct blt *db, struct write_ahead *w, size_t i, int hop)
{
	uint64_t *at = &w->at[i % WRITE_AHEAD], p = 0;

	if (i >= db->n_pend)
		return;
	if (hop == 0 && keyfilter_surely_new(db, db->pend[i].digest))
		p = 0; /* linked without a walk */
	else if (hop == 0)
		p = io_get_ptr(db, w->slot[i % WRITE_AHEAD]);
	else if (*at != 0)
		p = io_get_ptr(db, *at + BLOCK_NEXT_OFF);
	*at = p > PTR_END && p + FIX_FIXED_LEN <= db->size ? p : 0;
	if (*at != 0)
		__builtin_prefetch(db->map->base + p, 1);
}

/* A put met a damaged chain while linking and its blocks that were never
 * linked are still dead (index_link() changes nothing before it has
 * walked the chain), so that no recovery makes a failed put live.
 * What was linked before stands and the store is as sound as before: mark
 * it clean again, so that readers can still open it.  Returns rc and
 * keeps its message. */
int
write_reclean(struct blt *db, int rc)
{
	char msg[1024];

	snprintf(msg, sizeof msg, "%s", blt_errmsg());
	if (io_sync(db) == 0 &&
	    hdr_write_nkeys(db, (uint32_t)db->n_keys) == 0 && io_sync(db) == 0)
		db->dirty = 0;
	return err_set(rc, "%s", msg);
}

/* Write the buffered puts into the file and link them (see the top of the
 * file); with durable, fsync after each step.  The caller holds the write
 * lock. */
int
write_flush(struct blt *db, int durable)
{
	uint64_t base = db->size;
	struct write_ahead w;
	int rc;

	if (db->n_pend == 0)
		return durable ? io_sync(db) : 0;
	if ((rc = hdr_mark_dirty(db)) < 0 ||
	    (rc = io_append(db, db->buf, db->buf_len)) < 0 ||
	    (durable && (rc = io_sync(db)) < 0))
		goto out;
	memset(w.at, 0, sizeof w.at);
	for (size_t i = 0; i < WRITE_AHEAD; i++)
		write_slot_ahead(db, &w, i);
	for (size_t i = 0; i < db->n_pend; i++) {
		uint64_t slot = w.slot[i % WRITE_AHEAD];

		write_slot_ahead(db, &w, i + WRITE_AHEAD);
		for (size_t h = 0; h < WRITE_HOPS; h++) /* 24, 16, 8 ahead */
			write_hop_ahead(db, &w,
			    i + WRITE_AHEAD - (h + 1) * WRITE_STEP, (int)h);
		if ((rc = write_link(db, slot, db->pend[i].digest,
		         base + db->pend[i].boff)) == -EUCLEAN) {
			rc = write_reclean(db, rc); /* the rest stay dead */
			goto out;
		}
		if (rc < 0)
			goto stuck;
	}
	write_discard(db);
	if ((rc = write_bury(db)) < 0 || (rc = reindex_auto(db)) < 0)
		return rc;
	return durable ? io_sync(db) : 0;
stuck:
	/* Some blocks may be live but not linked, which no later flush can
	 * mend and which a clean close would make permanent (lookups miss
	 * them, scans list them): stop writes, so that the store stays
	 * unclean and its next open links every live block. */
	io_stop_writes(db, BLT_FLUSH_STUCK);
	db->n_bury = 0; /* left live: the next open keeps the later */
out:
	/* What did not reach the file stays lost; the store is marked unclean
	 * and the next open repairs whatever step 2 left half done. */
	write_discard(db);
	return rc;
}

/* Buffer a block for digest; the caller holds the write lock and has
 * checked the arguments. */
int
write_block(struct blt *db, const unsigned char *digest, const void *key,
    size_t klen, const void *value, uint64_t vlen, int64_t ts)
{
	size_t size = block_size(db, klen, vlen);
	int rc;

	if (size > db->buf_limit)
		return put_direct(db, digest, key, klen, value, vlen, ts, NULL);
	if (db->buf_len + size > db->buf_limit && (rc = write_flush(db, 0)) < 0)
		return rc;
	if (db->buf_len + size > db->buf_cap) {
		size_t cap = db->buf_cap ? db->buf_cap : 65536;
		unsigned char *p;

		while (cap < db->buf_len + size)
			cap *= 2;
		if ((p = realloc(db->buf, cap)) == NULL)
			return err_oom(db->path);
		db->buf = p;
		db->buf_cap = cap;
	}
	if ((rc = write_pend_grow(db)) < 0)
		return rc;
	block_encode(db, db->buf + db->buf_len, digest, PTR_TOMBSTONE, key,
	    klen, value, vlen, ts);
	memcpy(db->pend[db->n_pend].digest, digest, HASH_LEN);
	db->pend[db->n_pend].boff = db->buf_len;
	db->pset[write_pset_slot(db, digest)] = (uint32_t)++db->n_pend;
	db->buf_len += size;
	return 0;
}

/* Check the arguments of a put; set *ts to the time to store and fill
 * digest with the key's. */
int
write_put_args(struct blt *db, const void *key, size_t klen, uint64_t vlen,
    int64_t *ts, unsigned char digest[HASH_LEN])
{
	int rc;

	if (db->rdonly)
		return write_refuse_rdonly(db);
	if ((rc = write_check_key(db, key, klen)) < 0)
		return rc;
	if (db->h.fixed && vlen != db->h.value_len)
		return err_set(-EINVAL,
		    "%s: key %s: a value of %llu bytes in a store of fixed "
		    "%u-byte values",
		    db->path, err_key(key, klen), (unsigned long long)vlen,
		    db->h.value_len);
	if (vlen > BLT_VALUE_MAX)
		return err_set(-EFBIG,
		    "%s: key %s: a value of %llu bytes is over the format's "
		    "limit of %u",
		    db->path, err_key(key, klen), (unsigned long long)vlen,
		    BLT_VALUE_MAX);
	*ts = write_timestamp(*ts);
	if (db->h.ts_len && (*ts < 0 || *ts > BLT_TS_MAX))
		return err_set(-EINVAL,
		    "%s: key %s: timestamp %lld is out of range", db->path,
		    err_key(key, klen), (long long)*ts);
	hash_digest(key, klen, digest);
	return 0;
}

/* Store value under key. */
int
blt_put(struct blt *db, const void *key, size_t klen, const void *value,
    size_t vlen, int64_t ts)
{
	unsigned char digest[HASH_LEN];
	int rc;

	if ((rc = write_put_args(db, key, klen, vlen, &ts, digest)) < 0)
		return rc;
	pthread_rwlock_wrlock(&db->lock);
	rc = write_block(db, digest, key, klen, value, vlen, ts);
	pthread_rwlock_unlock(&db->lock);
	return rc;
}

/* 1 if key (its digest given) holds cond's value, 0 if it holds another
 * or none; the write lock is held. */
int
write_holds(struct blt *db, const unsigned char *digest, const void *key,
    size_t klen, const struct put_if *cond)
{
	struct block b;
	int rc;

	if ((rc = read_newest(db, digest, key, klen, &b)) == 1)
		rc = b.vlen == cond->oldlen &&
		     (cond->oldlen == 0 ||
		         memcmp(b.value, cond->old, cond->oldlen) == 0);
	return rc;
}

/* blt_put() only while key still holds old: the check and the put under
 * the write lock, so that a write or delete of key in between always
 * wins (for a big value, the check is made again after its bytes are
 * written without the lock; see put_direct()). */
int
blt_put_if(struct blt *db, const void *key, size_t klen, const void *old,
    size_t oldlen, const void *value, size_t vlen, int64_t ts)
{
	const struct put_if cond = {old, oldlen};
	unsigned char digest[HASH_LEN];
	int rc;

	if ((rc = write_put_args(db, key, klen, vlen, &ts, digest)) < 0)
		return rc;
	pthread_rwlock_wrlock(&db->lock);
	rc = write_holds(db, digest, key, klen, &cond);
	if (rc == 1 && block_size(db, klen, vlen) > db->buf_limit)
		rc = put_direct(db, digest, key, klen, value, vlen, ts, &cond);
	else if (rc == 1 && (rc = write_block(
	                         db, digest, key, klen, value, vlen, ts)) == 0)
		rc = 1;
	pthread_rwlock_unlock(&db->lock);
	return rc;
}

/* blt_put() of from's value under to, straight from the store's map: the
 * value is never held in memory, so a value of any size can be copied.
 * The buffer is flushed first, so that the value lies in the file and not
 * in the buffer the put writes to; the map is held, so that the bytes stay
 * where they are while a big value is written without the lock, whatever
 * a prune does to the file meanwhile. */
int
blt_copy(
    struct blt *db, const void *from, size_t flen, const void *to, size_t tlen)
{
	unsigned char digest[HASH_LEN];
	struct io_map *map;
	struct block b;
	int64_t ts;
	int rc;

	pthread_rwlock_wrlock(&db->lock);
	if ((rc = write_flush(db, 0)) < 0)
		goto out;
	hash_digest(from, flen, digest);
	if ((rc = read_newest(db, digest, from, flen, &b)) == 0)
		rc = err_set(-ENOENT, "%s: key %s: not found", db->path,
		    err_key(from, flen));
	if (rc < 0)
		goto out;
	ts = b.ts == BLT_NO_TS ? BLT_NOW : b.ts;
	if ((rc = write_put_args(db, to, tlen, b.vlen, &ts, digest)) < 0)
		goto out;
	map = io_map_ref(db->map);
	rc = write_block(db, digest, to, tlen, b.value, b.vlen, ts);
	io_map_unref(map);
out:
	pthread_rwlock_unlock(&db->lock);
	return rc;
}

/* Delete key with the write lock held; quiet leaves a missing key without
 * a message (for callers that expect it). */
int
write_del_locked(struct blt *db, const void *key, size_t klen, int quiet)
{
	unsigned char digest[HASH_LEN];
	struct block b, pb;
	uint64_t prev;
	int rc;

	hash_digest(key, klen, digest);
	if (write_pending_find(db, digest, &pb) &&
	    (rc = write_flush(db, 0)) < 0)
		return rc;
	if ((rc = index_find(db, digest, key, klen, &b, &prev)) < 0)
		return rc;
	if (rc == 0)
		return quiet ? -ENOENT
		             : err_set(-ENOENT, "%s: key %s: not found",
		                   db->path, err_key(key, klen));
	if ((rc = hdr_mark_dirty(db)) < 0 ||
	    (rc = index_unlink(db, &b, prev)) < 0)
		return rc;
	keydir_unlink(db, key, klen, b.off);
	if (db->h.fixed || !hash_internal_key(b.key, b.klen))
		db->n_keys--;
	db->usage_epoch++;
	if (db->usage_known)
		db->live_bytes -= b.size;
	return 0;
}

/* Delete key. */
int
blt_del(struct blt *db, const void *key, size_t klen)
{
	int rc;

	if (db->rdonly)
		return write_refuse_rdonly(db);
	if (klen > BLT_KEY_MAX)
		return err_set(
		    -ENOENT, "%s: key of %zu bytes: not found", db->path, klen);
	pthread_rwlock_wrlock(&db->lock);
	rc = write_del_locked(db, key, klen, 0);
	pthread_rwlock_unlock(&db->lock);
	return rc;
}

/* Overwrite key's timestamp in place (§7.5). */
int
blt_set_timestamp(struct blt *db, const void *key, size_t klen, int64_t ts)
{
	unsigned char digest[HASH_LEN], t[TS_LEN];
	struct block b;
	int rc;

	if (db->rdonly)
		return write_refuse_rdonly(db);
	if (!db->h.ts_len)
		return err_set(
		    -ENOTSUP, "%s: the store keeps no timestamps", db->path);
	ts = write_timestamp(ts);
	if (ts < 0 || ts > BLT_TS_MAX)
		return err_set(-EINVAL, "%s: timestamp %lld is out of range",
		    db->path, (long long)ts);
	hash_digest(key, klen, digest);
	le_put(t, (uint64_t)ts, TS_LEN);
	pthread_rwlock_wrlock(&db->lock);
	if (write_pending_find(db, digest, &b)) {
		memcpy(db->buf + b.off + BLOCK_TS_OFF, t, TS_LEN);
		rc = 0;
	} else if ((rc = index_find(db, digest, key, klen, &b, NULL)) == 0) {
		rc = err_set(-ENOENT, "%s: key %s: not found", db->path,
		    err_key(key, klen));
	} else if (rc > 0) {
		rc = io_write(db, b.off + BLOCK_TS_OFF, t, TS_LEN);
		db->ts_writes++;
	}
	pthread_rwlock_unlock(&db->lock);
	return rc;
}

/* Flush the buffer into the file (survives a crash of this process). */
int
blt_flush(struct blt *db)
{
	int rc;

	if (db->rdonly)
		return 0;
	pthread_rwlock_wrlock(&db->lock);
	rc = write_flush(db, 0);
	pthread_rwlock_unlock(&db->lock);
	return rc;
}

/* Flush and fsync (survives a power cut). */
int
blt_sync(struct blt *db)
{
	int rc;

	if (db->rdonly)
		return 0;
	pthread_rwlock_wrlock(&db->lock);
	rc = write_flush(db, 1);
	pthread_rwlock_unlock(&db->lock);
	return rc;
}
