/*
 * The listing of one directory of the index: its entries by name, so that
 * a file costs a few bytes and no node until the kernel asks for it.
 *
 * Names sit end to end in one buffer (a flags byte, a length byte, the
 * bytes of the name), and the listing is an array of slots (cookie,
 * offset of the name), in the order the entries came; readdir offsets are
 * the cookies, found again by binary search.  An open-addressing table of
 * slot numbers finds a name; a directory of a few entries has none and is
 * searched in order.  A removed entry leaves a hole, and its name's bytes
 * stay, until holes or dead bytes outnumber the live ones: then
 * idir_compact() writes the directory afresh.
 *
 * A file the scan found keeps the offset of its key's block after its name
 * (IDIR_ENT_AT): its first stat reads that block, one read of memory where
 * a lookup by key waits on the store's bucket and then on its chain
 * (blt_find_at()).  A node made of the entry takes the offset along, and
 * gives back none once its value has changed.
 *
 * For a file of an 8-byte name that is 8 bytes of slot, 16 of name and
 * offset and 4 to 11 of table, where a node with its share of the hash table
 * was over 180 (doc/benchmarks.md, issue 39).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "booklet.h"
#include "index.h"
#include "inode-tree.h"

#define IDIR_SEED UINT64_C(0x2545f4914f6cdd1d)

uint32_t
idir_hash(const char *name, size_t nlen)
{
	return (uint32_t)ino_hash_name(IDIR_SEED, name, nlen);
}

static int
idir_ent_is(
    const struct inode_dir *d, uint32_t s, const char *name, size_t nlen)
{
	const unsigned char *e = idir_ent(d, s);

	return e[1] == nlen && memcmp(e + 2, name, nlen) == 0;
}

/* Put slot s into table tab of mask+1 buckets. */
static void
idir_tab_put(
    uint32_t *tab, uint32_t mask, const struct inode_dir *d, uint32_t s)
{
	const unsigned char *e = idir_ent(d, s);
	uint32_t i;

	for (i = idir_hash((const char *)e + 2, e[1]) & mask; tab[i] != 0;
	     i = (i + 1) & mask)
		;
	tab[i] = s + 1;
}

/* An empty table of room for want entries at three quarters full, or
 * none (NULL) while a search in order is as quick.  -ENOMEM. */
static int
idir_table_new(uint32_t want, uint32_t **tab, uint32_t *mask)
{
	uint32_t size = 16;

	*tab = NULL;
	*mask = 0;
	if (want <= IDIR_LINEAR)
		return 0;
	while (size - size / 4 < want)
		size *= 2;
	if ((*tab = calloc(size, sizeof **tab)) == NULL)
		return -ENOMEM;
	*mask = size - 1;
	return 0;
}

/* A new table for d of room for want entries, filled with its live
 * slots.  -ENOMEM leaves the old one. */
static int
idir_retable(struct inode_dir *d, uint32_t want)
{
	uint32_t mask, s, *tab;

	if (idir_table_new(want, &tab, &mask) < 0)
		return -ENOMEM;
	if (tab != NULL)
		for (s = 0; s < d->n; s++)
			if (d->v[s].ent != IDIR_HOLE)
				idir_tab_put(tab, mask, d, s);
	free(d->tab);
	d->tab = tab;
	d->tmask = mask;
	return 0;
}

/* Write an entry's offset at p. */
static void
idir_put_at(char *p, uint64_t at)
{
	int i;

	for (i = 0; i < IDIR_AT_LEN; i++)
		p[i] = (char)(at >> (8 * i));
}

/* The slot of name in d, or -1. */
int64_t
idir_find(const struct inode_dir *d, const char *name, size_t nlen)
{
	uint32_t i, s;

	if (d->tab == NULL || !d->indexed) {
		for (s = 0; s < d->n; s++)
			if (d->v[s].ent != IDIR_HOLE &&
			    idir_ent_is(d, s, name, nlen))
				return s;
		return -1;
	}
	for (i = idir_hash(name, nlen) & d->tmask; d->tab[i] != 0;
	     i = (i + 1) & d->tmask)
		if (idir_ent_is(d, d->tab[i] - 1, name, nlen))
			return d->tab[i] - 1;
	return -1;
}

/* Append name to d's listing; into its table too once it is indexed.
 * Returns the slot, or -ENOMEM; -EOVERFLOW when the cookies or the names'
 * buffer run out (after 4 billion entries or 4 GiB of names in one
 * directory during a mount; idir_compact() gives them back). */
int64_t
idir_add(struct inode_dir *d, const char *name, size_t nlen, unsigned flags,
    uint64_t at)
{
	size_t need = 2 + nlen + (at != 0 ? IDIR_AT_LEN : 0);
	uint32_t s;

	if (d->next == UINT32_MAX || d->n == UINT32_MAX ||
	    (size_t)d->nused + need > UINT32_MAX)
		return -EOVERFLOW;
	if (d->nused + need > d->ncap) {
		size_t cap = d->ncap ? (size_t)d->ncap * 2 : 64;
		char *p;

		while (cap < d->nused + need)
			cap *= 2;
		if (cap > UINT32_MAX)
			cap = UINT32_MAX;
		if ((p = realloc(d->names, cap)) == NULL)
			return -ENOMEM;
		d->names = p;
		d->ncap = (uint32_t)cap;
	}
	if (d->n == d->cap) {
		size_t cap = d->cap ? (size_t)d->cap * 2 : 4;
		struct inode_slot *v;

		if (cap > UINT32_MAX)
			cap = UINT32_MAX;
		if ((v = realloc(d->v, cap * sizeof *v)) == NULL)
			return -ENOMEM;
		d->v = v;
		d->cap = (uint32_t)cap;
	}
	if (d->indexed &&
	    (d->tab != NULL ? d->live + 1 > d->tmask + 1 - (d->tmask + 1) / 4
	                    : d->live + 1 > IDIR_LINEAR) &&
	    idir_retable(d, (d->live + 1) * 2) < 0)
		return -ENOMEM;
	d->names[d->nused] = (char)(flags | (at != 0 ? IDIR_ENT_AT : 0));
	d->names[d->nused + 1] = (char)nlen;
	memcpy(d->names + d->nused + 2, name, nlen);
	if (at != 0)
		idir_put_at(d->names + d->nused + 2 + nlen, at);
	s = d->n++;
	d->v[s].cookie = d->next++;
	d->v[s].ent = d->nused;
	d->nused += (uint32_t)need;
	d->live++;
	if (d->indexed && d->tab != NULL)
		idir_tab_put(d->tab, d->tmask, d, s);
	return s;
}

/* The offset's bytes are there since the entry was made; 0 is none. */
void
idir_set_at(struct inode_dir *d, uint32_t s, uint64_t at)
{
	char *e = d->names + d->v[s].ent;

	if (e[0] & IDIR_ENT_AT)
		idir_put_at(e + 2 + (unsigned char)e[1], at);
}

/* Take slot s out of the table, moving back the entries probed past it. */
static void
idir_tab_del(struct inode_dir *d, uint32_t s)
{
	const unsigned char *e = idir_ent(d, s);
	uint32_t mask = d->tmask, i, j, home;

	for (i = idir_hash((const char *)e + 2, e[1]) & mask;
	     d->tab[i] != s + 1; i = (i + 1) & mask)
		;
	for (j = (i + 1) & mask; d->tab[j] != 0; j = (j + 1) & mask) {
		e = idir_ent(d, d->tab[j] - 1);
		home = idir_hash((const char *)e + 2, e[1]) & mask;
		/* move j into the hole at i unless its home lies in (i, j] */
		if (i <= j ? (home <= i || home > j)
		           : (home <= i && home > j)) {
			d->tab[i] = d->tab[j];
			i = j;
		}
	}
	d->tab[i] = 0;
}

/* Remove the entry of slot s; the hole stays until idir_compact(). */
void
idir_remove(struct inode_dir *d, uint32_t s)
{
	const unsigned char *e = idir_ent(d, s);

	if (d->indexed && d->tab != NULL)
		idir_tab_del(d, s);
	d->ndead += idir_ent_size(e);
	d->v[s].ent = IDIR_HOLE;
	d->live--;
	if (s == d->n - 1)
		d->n--; /* the last entry: no hole */
}

/* Whether holes or dead bytes are worth idir_compact(). */
int
idir_wasteful(const struct inode_dir *d)
{
	return (d->n - d->live > 32 && d->live < d->n / 2) ||
	       (d->ndead > 4096 && d->ndead > d->nused / 2);
}

/* Write d afresh: the live entries in their order, their names packed,
 * a new table.  Slots move, so the caller fixes what holds slot numbers;
 * cookies stay.  -ENOMEM leaves d as it was. */
int
idir_compact(struct inode_dir *d)
{
	uint32_t s, j = 0, used = 0;
	const unsigned char *e;
	char *names = NULL;
	size_t size = (size_t)d->nused - d->ndead;

	if (size > 0 && (names = malloc(size)) == NULL)
		return -ENOMEM;
	for (s = 0; s < d->n; s++) {
		if (d->v[s].ent == IDIR_HOLE)
			continue;
		e = idir_ent(d, s);
		memcpy(names + used, e, idir_ent_size(e));
		d->v[j].cookie = d->v[s].cookie;
		d->v[j].ent = used;
		used += idir_ent_size(e);
		j++;
	}
	free(d->names);
	d->names = names;
	d->nused = d->ncap = used;
	d->ndead = 0;
	d->n = j;
	return d->indexed ? idir_retable(d, d->live) : 0;
}

/* Begin indexing an unindexed d (a bulk build): a table of room for its
 * entries, empty, and in st the hash of every slot's name, taken in one
 * pass; idir_settle_slot() puts them in one by one.  -ENOMEM. */
int
idir_settle_begin(struct inode_dir *d, struct idir_settling *st)
{
	const unsigned char *e;
	uint32_t s;
	int rc;

	d->indexed = 1;
	free(d->tab);
	if ((rc = idir_table_new(d->live, &d->tab, &d->tmask)) < 0 ||
	    d->tab == NULL)
		return rc;
	if (d->n > st->cap) { /* the old hashes are of another directory */
		free(st->hash);
		st->cap = 0;
		if ((st->hash = malloc(d->n * sizeof *st->hash)) == NULL)
			return -ENOMEM;
		st->cap = d->n;
	}
	for (s = 0; s < d->n; s++) {
		e = idir_ent(d, s);
		st->hash[s] = d->v[s].ent == IDIR_HOLE
		                  ? 0
		                  : idir_hash((const char *)e + 2, e[1]);
	}
	return 0;
}

/* Slots whose bucket is asked for ahead of their turn: a large
 * directory's table is far bigger than the caches, and its buckets are
 * met at random. */
#define IDIR_SETTLE_AHEAD 8

/* Put slot s of a directory being settled into its table, unless a slot
 * before it has the same name: then return that slot, and s stays out.
 * The names of two slots are compared only when their hashes are equal:
 * reading a name is two misses (its slot, then its bytes). */
int64_t
idir_settle_slot(
    struct inode_dir *d, const struct idir_settling *st, uint32_t s)
{
	const unsigned char *e = idir_ent(d, s);
	const char *name = (const char *)e + 2;
	uint32_t h, i, t;

	if (d->tab == NULL) {
		for (t = 0; t < s; t++)
			if (d->v[t].ent != IDIR_HOLE &&
			    idir_ent_is(d, t, name, e[1]))
				return t;
		return -1;
	}
	if (s + IDIR_SETTLE_AHEAD < d->n)
		__builtin_prefetch(
		    &d->tab[st->hash[s + IDIR_SETTLE_AHEAD] & d->tmask], 1);
	h = st->hash[s];
	for (i = h & d->tmask; (t = d->tab[i]) != 0; i = (i + 1) & d->tmask)
		if (st->hash[t - 1] == h && idir_ent_is(d, t - 1, name, e[1]))
			return t - 1;
	d->tab[i] = s + 1;
	return -1;
}

/* Drop slot s of a directory being settled, which is not in its table. */
void
idir_settle_drop(struct inode_dir *d, uint32_t s)
{
	d->ndead += idir_ent_size(idir_ent(d, s));
	d->v[s].ent = IDIR_HOLE;
	d->live--;
}

/* Give back what a bulk build left unused at the ends of d's arrays. */
void
idir_fit(struct inode_dir *d)
{
	void *p;

	if (d->ndead > 0)
		(void)idir_compact(d); /* what the build dropped */
	if (d->n < d->cap && d->n > 0 &&
	    (p = realloc(d->v, d->n * sizeof *d->v)) != NULL) {
		d->v = p;
		d->cap = d->n;
	}
	if (d->nused < d->ncap && d->nused > 0 &&
	    (p = realloc(d->names, d->nused)) != NULL) {
		d->names = p;
		d->ncap = d->nused;
	}
}

/* The slot of cookie c in d, or the first one after it. */
uint32_t
idir_slot_at(const struct inode_dir *d, uint64_t c)
{
	uint32_t lo = 0, hi = d->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (d->v[mid].cookie < c)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void
idir_free(struct inode_dir *d)
{
	if (d == NULL)
		return;
	free(d->v);
	free(d->names);
	free(d->tab);
	free(d);
}
