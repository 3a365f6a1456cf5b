/*
 * The sample of a store's keys that a lookup reads while a lazy build's
 * first pass runs (lazy.c).  A path below a directory the pass has not met
 * would wait for the whole pass: seconds at 100 million keys, when nothing
 * told the build of the store's directories before (no hints: the first
 * mount of a store, or one after a prune).  But the store's hash index
 * spreads the keys over its buckets by their hash, so the keys of the
 * chains of its first buckets (blt_iter_create_sample()) are a random
 * sample of them, whatever their place in the file: a directory holding k
 * keys of n turns up after about n / k keys of it.  The lookup reads the
 * sample a step at a time, puts the directories of those keys into the
 * index and looks for its name again, up to a share of the store's keys in
 * all (SAMPLE_PART).  The sample proves directories, never their absence: a
 * name it does not find still waits for the first pass.  A mount in which
 * nothing waits reads no sample, and its first pass is as fast as before.
 */
#include "config.h"

#include <stdlib.h>

#include "indexer-int.h"

#define SAMPLE_STEP 256 /* keys a step reads, then the lookup looks again */

/* The sample's share of the keys by default.  A key of the sample costs
 * about a hundred times what a key of the first pass does (a random read
 * of the file against a sequential one: 5 us against 45 ns on the machine
 * of doc/benchmarks.md), so a lookup that reads it whole, as one of a
 * name the store has not does, adds about a tenth to the pass it waits
 * for; and a directory of a thousandth of the keys is in it with a chance
 * of 1 - e^-(n / 1,024,000): all but surely at a few million keys, where
 * a wait would be long. */
#define SAMPLE_PART 1024

struct sample {
	struct blt_iter *it;
	struct blt_item items[SAMPLE_STEP];
	int n, next;
};

struct sample *
sample_open(struct blt *db, int64_t keys)
{
	struct blt_stat st;
	struct sample *s;
	uint64_t buckets;

	if (keys == 0 || blt_info(db, &st) < 0 || st.n_keys == 0)
		return NULL;
	if (keys < 0)
		keys = (int64_t)(st.n_keys / SAMPLE_PART);
	if (keys == 0 || (s = calloc(1, sizeof *s)) == NULL)
		return NULL;
	/* the buckets of about that many keys: keys spread evenly */
	buckets = st.n_keys <= (uint64_t)keys
	              ? st.n_buckets
	              : st.n_buckets * (uint64_t)keys / st.n_keys + 1;
	if (blt_iter_create_sample(db,
	        buckets > UINT32_MAX ? UINT32_MAX : (uint32_t)buckets,
	        &s->it) < 0) {
		free(s);
		return NULL; /* a shortcut only: the first pass says why */
	}
	return s;
}

/* inode_next_fn over the keys of the step. */
static int
sample_next(
    void *arg, const void **key, size_t *klen, uint64_t *vlen, uint64_t *at)
{
	struct sample *s = arg;
	const struct blt_item *item;

	if (s->next == s->n)
		return 0;
	item = &s->items[s->next++];
	*key = item->key;
	*klen = item->klen;
	*vlen = item->vlen;
	*at = 0; /* the second pass gives files their place */
	return 1;
}

int
sample_step(struct sample *s, struct inode_tree *t)
{
	int n;

	if ((n = blt_iter_next_many(s->it, s->items, SAMPLE_STEP)) <= 0)
		return 0; /* its end, or damage the first pass will name */
	s->n = n;
	s->next = 0;
	if (inode_tree_fill_dirs(t, sample_next, s) < 0)
		return 0; /* the first pass meets the same key, and says */
	return n;
}

void
sample_close(struct sample *s)
{
	if (s == NULL)
		return;
	blt_iter_free(s->it);
	free(s);
}
