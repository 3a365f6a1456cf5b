/*
 * keyfilter.c: the keys a writable store surely does not have, so that
 * linking a new key skips the walk of its chain (index_link()).
 *
 * A new key must not be in its chain already, so linking it walks the
 * whole chain: a cache miss per block, each block's address read from the
 * one before.  Until the index reaches the format's most buckets (§8), a
 * reindex keeps chains under one block on average and the walk is cheap;
 * past it chains only grow (5 blocks at 100 million keys), and a bulk load
 * spends most of its time walking them (issue 58).  So the reindex to the
 * most buckets, which pushes every live block into the new index anyway,
 * also puts every key's digest into a Bloom filter (so does the making of
 * a store with the most buckets, which has no block yet), and from then on
 * every new key linked goes in too: a digest the filter has not is surely no
 * key of the store, and its block becomes its chain's head at once.  A digest
 * the filter has (a key written again, or one in about 2% of new keys)
 * walks as before, so the filter changes no answer, only its cost.
 *
 * The filter is blocked: the bits of a digest lie in one 64-byte block of
 * the table, one cache miss, which write_flush() prefetches with the
 * bucket slot.  Ten bits a key, for five keys a bucket of the most
 * buckets: 130 MB at 20,736,017 buckets.  It lives only while this process
 * has linked every key of the store through it: a prune or clear, which
 * moves or drops every block, and another process's change (share.c) drop
 * it, and so does closing the store.  Deletes leave their keys in it (a
 * walk too many, never one too few).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define KEYFILTER_BITS_PER_KEY 10
#define KEYFILTER_KEYS_PER_BUCKET 5
#define KEYFILTER_PROBES 6 /* bits set per key, 9 bits of hash each */

struct keyfilter {
	uint64_t (*block)[8]; /* 512 bits each, 64-byte aligned */
	uint64_t blocks;
};

/* Two 64-bit hashes of a digest's 104 bits, apart from the bits that
 * chose its bucket (hash_bucket(), the whole digest modulo the buckets). */
static inline void
keyfilter_hash(const unsigned char *digest, uint64_t *a, uint64_t *b)
{
	uint64_t lo = le_get(digest, 8), hi = le_get(digest + 5, 8);

	*a = (lo ^ (hi >> 7)) * UINT64_C(0x9e3779b97f4a7c15);
	*b = (hi ^ (lo << 11)) * UINT64_C(0xc2b2ae3d27d4eb4f);
}

static inline uint64_t *
keyfilter_block(const struct keyfilter *f, uint64_t a)
{
	__extension__ typedef unsigned __int128 u128;

	return f->block[(uint64_t)(((u128)a * f->blocks) >> 64)];
}

void
keyfilter_start(struct blt *db, uint32_t n_buckets)
{
	struct keyfilter *f;
	uint64_t keys = (uint64_t)n_buckets * KEYFILTER_KEYS_PER_BUCKET;
	size_t bytes;

	keyfilter_drop(db);
	if ((f = calloc(1, sizeof *f)) == NULL)
		return; /* only walks cost more */
	f->blocks = keys * KEYFILTER_BITS_PER_KEY / 512 + 1;
	bytes = (size_t)f->blocks * 64;
	if ((f->block = aligned_alloc(64, bytes)) == NULL) {
		free(f);
		return;
	}
	memset(f->block, 0, bytes);
	db->kf = f;
}

void
keyfilter_drop(struct blt *db)
{
	if (db->kf == NULL)
		return;
	free(db->kf->block);
	free(db->kf);
	db->kf = NULL;
}

int
keyfilter_add(struct blt *db, const unsigned char *digest)
{
	uint64_t a, b, bit, *w;
	int fresh = 0;

	if (db->kf == NULL)
		return 0;
	keyfilter_hash(digest, &a, &b);
	w = keyfilter_block(db->kf, a);
	for (int i = 0; i < KEYFILTER_PROBES; i++, b >>= 9) {
		bit = UINT64_C(1) << (b & 63);
		fresh |= !(w[(b & 511) >> 6] & bit);
		w[(b & 511) >> 6] |= bit;
	}
	return fresh;
}

int
keyfilter_surely_new(const struct blt *db, const unsigned char *digest)
{
	uint64_t a, b, *w;

	if (db->kf == NULL)
		return 0;
	keyfilter_hash(digest, &a, &b);
	w = keyfilter_block(db->kf, a);
	for (int i = 0; i < KEYFILTER_PROBES; i++, b >>= 9)
		if (!(w[(b & 511) >> 6] & (UINT64_C(1) << (b & 63))))
			return 1;
	return 0;
}

void
keyfilter_prefetch(const struct blt *db, const unsigned char *digest)
{
	uint64_t a, b;

	if (db->kf == NULL)
		return;
	keyfilter_hash(digest, &a, &b);
	__builtin_prefetch(keyfilter_block(db->kf, a), 0);
}
