/*
 * keydir.c: an index of the live blocks in memory, by a cheap hash of the
 * key, that lookups try before the file's own index.  A lookup through
 * the file hashes the key with BLAKE2s (about 120 ns), reads its bucket
 * slot and then the blocks of its chain up to the key's (a quarter of the
 * keys are not first in their chain).  Through the keydir it hashes with a
 * few multiplications, reads one slot (a cluster of a few 8-byte entries)
 * and then the key's block alone; a missing key costs the slot alone.
 *
 * It holds every live key: it is built from a walk of every chain, and
 * each change of what is live (write_link(), write_del_locked()) changes it
 * too, or a prune drops it, so a key it does not hold is missing without
 * asking the file.  Every block it names is checked before it is used:
 * inside the file, not dead, holding exactly the key.  A walk that meets
 * damage anywhere leaves it unbuilt, and the file's index reports it.
 *
 * It is built on demand, and only for a store that is read enough: once
 * lookups through the file that found their key reach a quarter of the
 * keys since the last try, the next lookup builds it from a walk of the file's
 * index, in steps under the read lock, while other threads go on through the
 * file.  A process that looks up a few keys (one `blt get`) never pays for it.
 * Writes (under the write lock) keep it up to date; a prune, which moves every
 * block, drops it, and so does a table grown past three quarters full. Buffered
 * puts are found by their digest only, so while there are any the keydir
 * is not used.
 *
 * Each slot holds 16 bits of the key's hash above the block's offset (48
 * bits, as the format's pointers), 0 when empty and KEYDIR_GONE where a
 * key was deleted.  The hash is seeded at random per table, so that keys
 * cannot be chosen to pile up in one cluster of slots.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

#include "internal.h"

#define KEYDIR_GONE UINT64_C(1) /* no block lies at offset 1 */
#define KEYDIR_TAG (~PTR_MAX)
#define KEYDIR_MIN_SLOTS 1024
#define KEYDIR_MAX_SLOTS (UINT64_C(1) << 25) /* 256 MiB of table */

struct keydir {
	uint64_t *slot;
	uint64_t mask; /* slots - 1, a power of two less one */
	uint64_t used; /* slots not empty, deleted ones too */
	uint64_t seed;
};

/* 64 x 64 -> 128 bits, folded: the mixing step of the hash. */
static inline uint64_t
keydir_mix(uint64_t a, uint64_t b)
{
	__extension__ typedef unsigned __int128 u128;
	u128 r = (u128)a * b;

	return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static uint64_t
keydir_hash(const struct keydir *kd, const unsigned char *key, size_t klen)
{
	uint64_t h = kd->seed ^ klen, w;

	for (; klen >= 8; key += 8, klen -= 8) {
		memcpy(&w, key, 8);
		h = keydir_mix(h ^ w, UINT64_C(0x9e3779b97f4a7c15));
	}
	w = 0;
	if (klen > 0)
		memcpy(&w, key, klen);
	return keydir_mix(
	    h ^ w ^ UINT64_C(0xa0761d6478bd642f), UINT64_C(0xe7037ed1a0b428db));
}

static uint64_t
keydir_seed(void)
{
	uint64_t s;
	struct timespec t;

	if (getrandom(&s, sizeof s, GRND_NONBLOCK) == (ssize_t)sizeof s)
		return s;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return keydir_mix((uint64_t)t.tv_nsec ^ (uintptr_t)&s,
	    UINT64_C(0x9e3779b97f4a7c15) ^ (uint64_t)t.tv_sec);
}

static void
keydir_free(struct keydir *kd)
{
	if (kd != NULL)
		free(kd->slot);
	free(kd);
}

/* The live block at entry e of a slot, if it holds key: 1 and *b, else 0. */
static int
keydir_block(const struct blt *db, uint64_t e, const void *key, size_t klen,
    struct block *b)
{
	return block_live_at(db, e & PTR_MAX, key, klen, b);
}

/* The keydir, if lookups may use it now; the caller holds the lock. */
static struct keydir *
keydir_usable(const struct blt *db)
{
	return db->n_pend > 0 ? NULL
	                      : __atomic_load_n(&db->kd, __ATOMIC_ACQUIRE);
}

/* For blt_get_many(), keydir_find() in three steps, so that the memory
 * reads of many keys overlap; the caller holds the lock throughout.
 * Step 1: key's hash into *h and its first slot prefetched; 0, or
 * KEYDIR_UNKNOWN (and nothing else to do: look in the file). */
int
keydir_ahead(struct blt *db, const void *key, size_t klen, uint64_t *h)
{
	const struct keydir *kd = keydir_usable(db);

	if (kd == NULL)
		return KEYDIR_UNKNOWN;
	*h = keydir_hash(kd, key, klen);
	__builtin_prefetch(&kd->slot[*h & kd->mask]);
	return 0;
}

/* Step 2: the offset of the first block the slots name for hash h (it is
 * key's block unless the tags of two keys meet), or 0. */
uint64_t
keydir_block_of(const struct blt *db, uint64_t h)
{
	const struct keydir *kd = db->kd;
	uint64_t i, e;

	for (i = h & kd->mask; (e = kd->slot[i]) != 0; i = (i + 1) & kd->mask)
		if ((e & KEYDIR_TAG) == (h & KEYDIR_TAG))
			return e & PTR_MAX;
	return 0;
}

/* key's live block in kd, of hash h: 1 and *b, or 0 when kd has none. */
static int
keydir_lookup(const struct blt *db, const struct keydir *kd, uint64_t h,
    const void *key, size_t klen, struct block *b)
{
	uint64_t i, e;

	for (i = h & kd->mask; (e = kd->slot[i]) != 0; i = (i + 1) & kd->mask)
		if ((e & KEYDIR_TAG) == (h & KEYDIR_TAG) &&
		    keydir_block(db, e, key, klen, b))
			return 1;
	return 0;
}

/* Step 3: key's live block, of hash h: 1 and *b, or 0 when key is not
 * live. */
int
keydir_find_ahead(
    struct blt *db, uint64_t h, const void *key, size_t klen, struct block *b)
{
	return keydir_lookup(db, db->kd, h, key, klen, b);
}

/* Find key's live block through the keydir, the three steps in a row; the
 * caller holds the lock.  1 and *b, 0 when key is not live, or
 * KEYDIR_UNKNOWN: look in the file. */
int
keydir_find(struct blt *db, const void *key, size_t klen, struct block *b)
{
	uint64_t h;

	if (keydir_ahead(db, key, klen, &h) == KEYDIR_UNKNOWN)
		return KEYDIR_UNKNOWN;
	/* the copy of the value would wait for each of its lines in turn:
	 * 80 ns of the 450 of a get of 200 bytes, without this */
	block_prefetch(db, keydir_block_of(db, h));
	return keydir_find_ahead(db, h, key, klen, b);
}

/* Put an entry for the block at off, of hash h, at the end of its
 * cluster: 0, or -1 when the table is too full for one more. */
static int
keydir_insert(struct keydir *kd, uint64_t h, uint64_t off)
{
	uint64_t i;

	if ((kd->used + 1) * 4 > (kd->mask + 1) * 3)
		return -1;
	for (i = h & kd->mask; kd->slot[i] != 0; i = (i + 1) & kd->mask)
		;
	kd->slot[i] = (h & KEYDIR_TAG) | off;
	kd->used++;
	return 0;
}

/* Add the block at off, holding key, to kd.  The first block of a key wins,
 * as in the walk of a chain.  0, or -1 when the table is too full. */
static int
keydir_add(struct blt *db, struct keydir *kd, const struct block *nb)
{
	uint64_t h = keydir_hash(kd, nb->key, nb->klen);
	struct block b;

	if (keydir_lookup(db, kd, h, nb->key, nb->klen, &b))
		return 0;
	return keydir_insert(kd, h, nb->off);
}

/* Fill kd from a walk of the chains of buckets [from, to) of the file's
 * index, checking each block as a lookup through the index would find it:
 * its digest is its key's, and leads to this bucket.  0, or -1 at
 * anything a lookup through the index would call damage, which it is then
 * left to report. */
static int
keydir_fill(struct blt *db, struct keydir *kd, uint32_t from, uint32_t to)
{
	const unsigned char *base = db->map->base;
	uint64_t trusted = __atomic_load_n(&db->trusted, __ATOMIC_RELAXED);
	uint64_t max_hops = db->size / FIX_FIXED_LEN + 1;
	struct block b;

	for (uint32_t i = from; i < to; i++) {
		uint64_t p = io_get_ptr(db, db->h.index_off + PTR_LEN * i);

		for (uint64_t hops = 0; p > PTR_END; p = b.next) {
			if (++hops > max_hops || p < HEADER_LEN ||
			    block_parse(db, base, p, db->size, &b) < 0)
				return -1;
			if (b.next == PTR_TOMBSTONE)
				break;
			if (p + b.size > trusted && !block_keyed(&b))
				return -1;
			if (hash_bucket(b.digest, db->h.n_buckets) != i ||
			    keydir_add(db, kd, &b) < 0)
				return -1;
		}
	}
	return 0;
}

/* A lookup went through the file; the caller holds the lock.  Once enough
 * have, keydir_build() is due. */
void
keydir_note_hit(struct blt *db)
{
	if (__atomic_load_n(&db->kd, __ATOMIC_RELAXED) != NULL ||
	    db->n_pend > 0)
		return;
	if (__atomic_add_fetch(&db->kd_lookups, 1, __ATOMIC_RELAXED) >=
	    db->n_keys / 4 + 256)
		__atomic_store_n(&db->kd_due, 1, __ATOMIC_RELAXED);
}

/* Buckets walked per hold of the read lock while building, so that a
 * writer waits for one such step (about a millisecond), not the build. */
#define KEYDIR_STEP 4096

/* The walks of the chains in steps; 0 when the keydir was published. */
static int
keydir_steps(struct blt *db, struct keydir *kd)
{
	uint64_t gen, epoch;
	uint32_t n, i = 0;
	int rc = 0;

	pthread_rwlock_rdlock(&db->lock);
	gen = db->gen;
	epoch = db->usage_epoch;
	n = db->h.n_buckets;
	for (;;) {
		uint32_t to = n - i < KEYDIR_STEP ? n : i + KEYDIR_STEP;

		/* whatever a writer changed between the steps: start over
		 * some other time */
		if (db->gen != gen || db->usage_epoch != epoch ||
		    db->h.n_buckets != n || db->kd != NULL ||
		    keydir_fill(db, kd, i, to) < 0)
			rc = -1;
		else if ((i = to) == n)
			__atomic_store_n(&db->kd, kd, __ATOMIC_RELEASE);
		pthread_rwlock_unlock(&db->lock);
		if (rc < 0 || i == n)
			return rc;
		pthread_rwlock_rdlock(&db->lock);
	}
}

/* Build the keydir of db if it is due, in this thread unless another is
 * at it; the caller holds no lock. */
void
keydir_build(struct blt *db)
{
	struct keydir *kd;
	uint64_t slots = KEYDIR_MIN_SLOTS, want;

	if (!__atomic_load_n(&db->kd_due, __ATOMIC_RELAXED) ||
	    __atomic_exchange_n(&db->kd_building, 1, __ATOMIC_ACQUIRE))
		return;
	pthread_rwlock_rdlock(&db->lock);
	want = 2 * (db->n_keys + 3);
	pthread_rwlock_unlock(&db->lock);
	while (slots < want && slots < KEYDIR_MAX_SLOTS)
		slots *= 2;
	if (slots >= want && (kd = calloc(1, sizeof *kd)) != NULL) {
		kd->mask = slots - 1;
		kd->seed = keydir_seed();
		if ((kd->slot = calloc(slots, sizeof *kd->slot)) == NULL ||
		    keydir_steps(db, kd) < 0)
			keydir_free(kd);
	}
	/* built or not, the next try waits as long again */
	__atomic_store_n(&db->kd_lookups, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&db->kd_due, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&db->kd_building, 0, __ATOMIC_RELEASE);
}

/* Forget the keydir; the caller holds the write lock. */
void
keydir_drop(struct blt *db)
{
	keydir_free(db->kd);
	db->kd = NULL;
	__atomic_store_n(&db->kd_lookups, 0, __ATOMIC_RELAXED);
}

/* The slot of the entry for the block at off, holding a key of hash h, or
 * -1. */
static int64_t
keydir_slot_of(const struct keydir *kd, uint64_t h, uint64_t off)
{
	uint64_t want = (h & KEYDIR_TAG) | off, i, e;

	for (i = h & kd->mask; (e = kd->slot[i]) != 0; i = (i + 1) & kd->mask)
		if (e == want)
			return (int64_t)i;
	return -1;
}

/* The block at q, holding key, is now key's live one, in place of the one
 * at old (0 for a new key); the caller holds the write lock. */
void
keydir_link(
    struct blt *db, const void *key, size_t klen, uint64_t old, uint64_t q)
{
	struct keydir *kd = db->kd;
	uint64_t h;
	int64_t i;

	if (kd == NULL)
		return;
	h = keydir_hash(kd, key, klen);
	if (old != 0 && (i = keydir_slot_of(kd, h, old)) >= 0) {
		kd->slot[i] = (h & KEYDIR_TAG) | q;
		return;
	}
	if (keydir_insert(kd, h, q) < 0)
		keydir_drop(db); /* built again, bigger, when read enough */
}

/* key's block at off was deleted; the caller holds the write lock. */
void
keydir_unlink(struct blt *db, const void *key, size_t klen, uint64_t off)
{
	struct keydir *kd = db->kd;
	int64_t i;

	if (kd != NULL &&
	    (i = keydir_slot_of(kd, keydir_hash(kd, key, klen), off)) >= 0)
		kd->slot[i] = KEYDIR_GONE;
}
