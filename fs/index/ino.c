/*
 * Inode numbers that stay put.  A node's st_ino is a hash of where it
 * stands: its parent's number, its type and its name.  So a name has the
 * same number on every mount of the store, whatever other keys came, went
 * or were rewritten meanwhile (tar --listed-incremental recognises its
 * directories by their numbers), and no table of numbers is kept on disk.
 *
 * Within one mount a node keeps its number when it is renamed, as on any
 * file system.  Its number then no longer matches where it stands, and a
 * new node made at its old place would hash to it; so the numbers of such
 * nodes, and of removed nodes the kernel still holds, are kept in a set,
 * and a new node whose hash is in the set takes the next free number
 * instead (and goes into the set itself).  The set holds only what moved
 * during this mount; a fresh mount starts with it empty.
 *
 * Two different paths hashing alike is left to chance: with 63 bits, a
 * store of a million names has about one chance in twenty million of one
 * such pair.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "booklet.h"
#include "index.h"
#include "inode-tree.h"

#define INO_EMPTY 0
#define INO_TOMB 1 /* the root's number, which is never in the set */
#define INO_MIN_CAP 64

static uint64_t
ino_mix(uint64_t h)
{
	/* the finalizer of MurmurHash3: every input bit reaches every
	 * output bit */
	h ^= h >> 33;
	h *= UINT64_C(0xff51afd7ed558ccd);
	h ^= h >> 33;
	h *= UINT64_C(0xc4ceb9fe1a85ec53);
	h ^= h >> 33;
	return h;
}

/* Keep a number in the store's range: 63 bits (the control directory's
 * have the top bit set), never 0 (no inode) nor 1 (the root). */
static uint64_t
ino_clamp(uint64_t h)
{
	h &= INT64_MAX;
	return h < 2 ? h + 2 : h;
}

/* The last nlen - i bytes of name (1 to 7 of them) as the word memcpy()
 * would make of them over a zeroed one.  Made that way (a few bytes, then
 * a load of the whole word), a mount's build stalled on every name: the
 * load cannot take its bytes from the pending small stores (a tenth of
 * a first mount's time at 10M keys).  Read instead with one load where the
 * name has 8 bytes before its end, in registers otherwise; the value is
 * the same, so the numbers do not move. */
static uint64_t
ino_tail(const char *name, size_t nlen, size_t i)
{
	const unsigned char *p = (const unsigned char *)name;
	size_t k = nlen - i;
	uint64_t w = 0;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	if (nlen >= 8) {
		memcpy(&w, p + nlen - 8, 8);
		return w >> (8 * (8 - k));
	}
	while (k-- > 0)
		w = w << 8 | p[i + k];
#else
	memcpy(&w, p + i, k);
#endif
	return w;
}

/* A 64-bit hash of name from seed: multiply-mix over 8-byte words, then
 * the finalizer of MurmurHash3, so that every input bit reaches every
 * output bit (the directory index's table uses it too).  Inode numbers
 * are made with it: changing it renumbers every file of every store. */
uint64_t
ino_hash_name(uint64_t seed, const char *name, size_t nlen)
{
	const uint64_t m = UINT64_C(0x9e3779b97f4a7c15);
	uint64_t h = seed, w;
	size_t i;

	for (i = 0; i + 8 <= nlen; i += 8) {
		memcpy(&w, name + i, 8);
		h = (h ^ w) * m;
		h ^= h >> 32;
	}
	if (i < nlen) {
		h = (h ^ ino_tail(name, nlen, i)) * m;
		h ^= h >> 32;
	}
	return ino_mix(h);
}

/* The number a node of type named name in the directory numbered parent
 * has when it has not moved.  Fixed for good: changing it renumbers every
 * file of every store. */
uint64_t
ino_home(uint64_t parent, int type, const char *name, size_t nlen)
{
	return ino_clamp(ino_hash_name(
	    ino_mix(parent ^ ((uint64_t)type << 56) ^ nlen), name, nlen));
}

static size_t
ino_slot(const struct ino_set *s, uint64_t ino)
{
	return (size_t)ino_mix(ino) & (s->cap - 1);
}

/* 1 if ino is in s. */
int
ino_set_has(const struct ino_set *s, uint64_t ino)
{
	size_t i;

	if (s->cap == 0)
		return 0;
	for (i = ino_slot(s, ino); s->v[i] != INO_EMPTY;
	     i = (i + 1) & (s->cap - 1))
		if (s->v[i] == ino)
			return 1;
	return 0;
}

/* Rebuild s with room for twice its live numbers, dropping tombstones. */
static int
ino_set_rehash(struct ino_set *s)
{
	size_t cap = INO_MIN_CAP, i, j;
	uint64_t *v;

	while (cap < 4 * (s->n + 1))
		cap *= 2;
	if ((v = calloc(cap, sizeof *v)) == NULL)
		return -ENOMEM;
	for (i = 0; i < s->cap; i++) {
		if (s->v[i] == INO_EMPTY || s->v[i] == INO_TOMB)
			continue;
		for (j = (size_t)ino_mix(s->v[i]) & (cap - 1);
		     v[j] != INO_EMPTY; j = (j + 1) & (cap - 1))
			;
		v[j] = s->v[i];
	}
	free(s->v);
	s->v = v;
	s->cap = cap;
	s->used = s->n;
	return 0;
}

/* Add ino (not in s yet).  -ENOMEM. */
int
ino_set_add(struct ino_set *s, uint64_t ino)
{
	size_t i;
	int rc;

	if (2 * (s->used + 1) > s->cap && (rc = ino_set_rehash(s)) < 0)
		return rc;
	for (i = ino_slot(s, ino); s->v[i] != INO_EMPTY && s->v[i] != INO_TOMB;
	     i = (i + 1) & (s->cap - 1))
		;
	if (s->v[i] == INO_EMPTY)
		s->used++;
	s->v[i] = ino;
	s->n++;
	return 0;
}

/* Remove ino from s, if it is there. */
void
ino_set_del(struct ino_set *s, uint64_t ino)
{
	size_t i;

	if (s->cap == 0)
		return;
	for (i = ino_slot(s, ino); s->v[i] != INO_EMPTY;
	     i = (i + 1) & (s->cap - 1))
		if (s->v[i] == ino) {
			s->v[i] = INO_TOMB;
			s->n--;
			return;
		}
}

/* The first number from ino on that is not in s: what a new node whose
 * home number is ino gets. */
uint64_t
ino_set_free_from(const struct ino_set *s, uint64_t ino)
{
	while (ino_set_has(s, ino))
		ino = ino_clamp(ino + 1);
	return ino;
}

void
ino_set_free(struct ino_set *s)
{
	free(s->v);
	memset(s, 0, sizeof *s);
}
