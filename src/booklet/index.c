/*
 * index.c: the bucket index and its chains (§4, §6.2, §7.2, §7.3) — finding
 * a key's live block, linking a newly written block in, and unlinking one.
 * Every pointer read from the file is checked before it is followed, and
 * every walk is bounded, so a damaged or looping chain is an error, never a
 * hang or a wild read.  Callers hold the store's lock.
 */
#include "config.h"

#include <errno.h>

#include "internal.h"

/* The offset of the bucket slot for digest. */
uint64_t
index_slot(const struct blt *db, const unsigned char *digest)
{
	return db->h.index_off +
	       (uint64_t)PTR_LEN * hash_bucket(digest, db->h.n_buckets);
}

/* The most hops a sound chain can take: one per possible block. */
static uint64_t
index_max_hops(const struct blt *db)
{
	return db->size / FIX_FIXED_LEN + 1;
}

/* Has a walk taken more hops than a sound chain can?  The bound costs a
 * division, so it is worked out only for walks longer than booklet's
 * chains ever get. */
static int
index_too_long(const struct blt *db, uint64_t hops)
{
	return hops > 64 && hops > index_max_hops(db);
}

/* Check that a chain pointer p, read at from, can hold a block's digest
 * and next field: 0, or -EUCLEAN with a message. */
int
index_bad_ptr(const struct blt *db, uint64_t p, uint64_t from)
{
	if (p >= HEADER_LEN && p + FIX_FIXED_LEN <= db->size)
		return 0;
	return err_set(-EUCLEAN,
	    "%s: damaged chain: pointer at %llu leads to %llu, outside the "
	    "file of %llu bytes",
	    db->path, (unsigned long long)from, (unsigned long long)p,
	    (unsigned long long)db->size);
}

static int
index_loop(const struct blt *db, uint64_t slot)
{
	return err_set(-EUCLEAN,
	    "%s: damaged chain: the chain of bucket %llu "
	    "loops",
	    db->path, (unsigned long long)((slot - db->h.index_off) / PTR_LEN));
}

/* Find the live block of key, whose digest is digest, along the chain
 * that starts at p, read from the bucket slot at slot.  Returns 1 and
 * fills *b (and *prev, the offset of the pointer that leads to it, if prev
 * is not NULL), 0 when the key is missing, or -EUCLEAN for a damaged chain.
 * The key bytes of a block with the right digest are compared too: the
 * reference trusts the digest alone, but a damaged chain can lead into the
 * middle of a value that happens to hold those 13 bytes. */
int
index_walk(struct blt *db, uint64_t slot, uint64_t p,
    const unsigned char *digest, const void *key, size_t klen, struct block *b,
    uint64_t *prev)
{
	uint64_t from = slot, hops = 0;
	const unsigned char *base = db->map->base;
	int rc;

	while (p > PTR_END) {
		uint64_t nxt;

		if ((rc = index_bad_ptr(db, p, from)) < 0)
			return rc;
		if (index_too_long(db, ++hops))
			return index_loop(db, slot);
		nxt = le_get(base + p + BLOCK_NEXT_OFF, PTR_LEN);
		if (nxt == PTR_TOMBSTONE)
			return 0;
		if (memcmp(base + p, digest, HASH_LEN) == 0) {
			if ((rc = block_parse(db, base, p, db->size, b)) < 0)
				return rc;
			if (b->klen != klen ||
			    (klen > 0 && memcmp(b->key, key, klen) != 0))
				return err_set(-EUCLEAN,
				    "%s: damaged chain: the block at %llu has "
				    "the digest of key %s but not its bytes",
				    db->path, (unsigned long long)p,
				    err_key(key, klen));
			if (prev != NULL)
				*prev = from;
			return 1;
		}
		from = p + BLOCK_NEXT_OFF;
		p = nxt;
	}
	return 0;
}

/* index_walk() from digest's bucket. */
int
index_find(struct blt *db, const unsigned char *digest, const void *key,
    size_t klen, struct block *b, uint64_t *prev)
{
	uint64_t slot = index_slot(db, digest);

	return index_walk(
	    db, slot, io_get_ptr(db, slot), digest, key, klen, b, prev);
}

/* Link the block at q, whose next pointer is still 0 (not live), into
 * digest's chain, whose bucket slot is at slot (index_slot(); callers that
 * prefetch it have worked it out already) (§7.2, §15): a new key becomes
 * the chain's head, an overwrite takes the old block's place and
 * tombstones it (INDEX_TOMB_NOW), or leaves it live, out of every chain,
 * for the caller to tombstone once q is durable (INDEX_TOMB_LATER), or
 * writes nothing and returns INDEX_NEEDS_SYNC (INDEX_TOMB_ASK).  q's next
 * pointer is set first, so that q is live before anything leads to it and
 * before the old block dies: a crash between two of these writes, in
 * their order, leaves the key's value live, once or twice, never lost;
 * in any order only if the old block's tombstone waits for an fsync
 * (write.c).
 *
 * The reference appends a new key at the tail, which writes into the last
 * block of the chain, anywhere in the file: once a store passes the
 * kernel's dirty threshold, writeback cleans those pages as fast as a bulk
 * write dirties them again, and each store faults and each page is written
 * over and over (issue 58).  At the head, a new key writes only its bucket
 * slot and its own block.  §15 allows either order; the reference's
 * reindex makes chains head-first too.
 *
 * Returns 1 for a new key, 0 for an overwrite (with *old filled if old is
 * not NULL), or an error, before which nothing was written. */
int
index_link(struct blt *db, uint64_t slot, const unsigned char *digest,
    uint64_t q, struct block *old, int tomb)
{
	uint64_t prev = slot, p = io_get_ptr(db, slot), hops = 0;
	const unsigned char *base = db->map->base;
	int rc;

	/* in the filter from now on: a key whose link fails is only a walk
	 * too many for a later one (keyfilter.c) */
	if (keyfilter_add(db, digest)) /* surely new: no walk */
		goto push;
	while (p > PTR_END) {
		uint64_t nxt;

		if ((rc = index_bad_ptr(db, p, prev)) < 0)
			return rc;
		if (index_too_long(db, ++hops))
			return index_loop(db, slot);
		nxt = le_get(base + p + BLOCK_NEXT_OFF, PTR_LEN);
		if (nxt == PTR_TOMBSTONE) /* a chain cut by a crash */
			break;
		if (memcmp(base + p, digest, HASH_LEN) == 0) {
			if (tomb == INDEX_TOMB_ASK)
				return INDEX_NEEDS_SYNC;
			if (old != NULL &&
			    (rc = block_parse(db, base, p, db->size, old)) < 0)
				return rc;
			if ((rc = io_put_ptr(db, q + BLOCK_NEXT_OFF,
			         nxt > PTR_END ? nxt : PTR_END)) < 0 ||
			    (tomb == INDEX_TOMB_NOW &&
			        (rc = io_put_ptr(db, p + BLOCK_NEXT_OFF,
			             PTR_TOMBSTONE)) < 0) ||
			    (rc = io_put_ptr(db, prev, q)) < 0)
				return rc;
			return 0;
		}
		prev = p + BLOCK_NEXT_OFF;
		p = nxt;
	}
	if (p > PTR_END) { /* the cut: q takes the dead block's place */
		if ((rc = io_put_ptr(db, q + BLOCK_NEXT_OFF, PTR_END)) < 0 ||
		    (rc = io_put_ptr(db, prev, q)) < 0)
			return rc;
		return 1;
	}
push:
	return (rc = index_push(db, slot, q)) < 0 ? rc : 1;
}

/* Make the block at q the head of the chain whose bucket slot is at slot:
 * q leads to the old head (or ends the chain), then the slot to q. */
int
index_push(struct blt *db, uint64_t slot, uint64_t q)
{
	uint64_t head = io_get_ptr(db, slot);
	int rc;

	if ((rc = io_put_ptr(
	         db, q + BLOCK_NEXT_OFF, head > PTR_END ? head : PTR_END)) < 0)
		return rc;
	return io_put_ptr(db, slot, q);
}

/* Tombstone block b and unlink it from its chain; prev is the offset of
 * the pointer that led to it (§7.3). */
int
index_unlink(struct blt *db, struct block *b, uint64_t prev)
{
	int rc;

	if ((rc = io_put_ptr(db, b->off + BLOCK_NEXT_OFF, PTR_TOMBSTONE)) < 0)
		return rc;
	return io_put_ptr(db, prev, b->next);
}
