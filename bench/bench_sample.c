/*
 * bench_sample: what the sample a lazy mount's lookups read
 * (fs/indexer/sample.c) finds in a store, and what it costs: it reads the live
 * keys of the chains of the first buckets of the store's hash index
 * (blt_iter_create_sample()), about KEYS of them (by default a 1,024th of the
 * store's, as the mount does), and counts the top-level directories they are
 * in, all of them and those whose names begin with PREFIX.  Those are the
 * directories a lookup finds in the sample before the first pass of the build
 * has met them.
 *
 * usage: bench_sample STORE [KEYS [PREFIX]]   (KEYS "": the default)
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "booklet.h"

#define SEEN_BITS 20 /* a table of 2^20 names; no more are counted */

/* An open-addressed set of names, by hash. */
struct seen {
	uint64_t *hash; /* 0: empty */
	size_t n;
};

/* Add the name of n bytes at p: 1 if it is new. */
static int
seen_add(struct seen *s, const void *p, size_t n)
{
	size_t mask = ((size_t)1 << SEEN_BITS) - 1, i;
	uint64_t h = 0;

	for (size_t j = 0; j < n; j++)
		h = bench_mix(h ^ ((const unsigned char *)p)[j]);
	h |= 1;
	if (s->n == mask / 2)
		return 0;
	for (i = h & mask; s->hash[i] != 0; i = (i + 1) & mask)
		if (s->hash[i] == h)
			return 0;
	s->hash[i] = h;
	s->n++;
	return 1;
}

int
main(int argc, char **argv)
{
	struct seen dirs = {NULL, 0};
	const char *prefix = argc > 3 ? argv[3] : NULL;
	struct blt_stat st;
	struct blt_iter *it;
	struct blt_item item;
	struct blt *db;
	uint64_t keys, buckets, n = 0, with_prefix = 0;
	const unsigned char *slash;
	double t0, t1;
	int rc;

	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: bench_sample STORE [KEYS [PREFIX]]\n");
		return 2;
	}
	if (blt_open(argv[1], BLT_RDONLY, NULL, &db) < 0 ||
	    blt_info(db, &st) < 0) {
		fprintf(stderr, "bench_sample: %s\n", blt_errmsg());
		return 1;
	}
	keys = argc > 2 && argv[2][0] != '\0' ? strtoull(argv[2], NULL, 10)
	                                      : st.n_keys / 1024;
	buckets = st.n_keys <= keys ? st.n_buckets
	                            : st.n_buckets * keys / st.n_keys + 1;
	if ((dirs.hash = calloc((size_t)1 << SEEN_BITS, 8)) == NULL) {
		fprintf(stderr, "bench_sample: out of memory\n");
		return 1;
	}
	t0 = bench_now();
	if ((rc = blt_iter_create_sample(db, (uint32_t)buckets, &it)) < 0) {
		fprintf(stderr, "bench_sample: %s\n", blt_errmsg());
		return 1;
	}
	while ((rc = blt_iter_next(it, &item)) > 0) {
		n++;
		slash = memchr(item.key, '/', item.klen);
		if (slash == NULL ||
		    !seen_add(&dirs, item.key, (size_t)(slash - item.key)))
			continue;
		if (prefix != NULL &&
		    (size_t)(slash - item.key) >= strlen(prefix) &&
		    memcmp(item.key, prefix, strlen(prefix)) == 0)
			with_prefix++;
	}
	t1 = bench_now();
	blt_iter_free(it);
	printf("%" PRIu64 " keys of %" PRIu64 " (%" PRIu64
	       " buckets of %" PRIu32 ") in %.1f ms: %zu top-level directories",
	    n, st.n_keys, buckets, st.n_buckets, (t1 - t0) * 1e3, dirs.n);
	if (prefix != NULL)
		printf(
		    ", %" PRIu64 " of them beginning %s", with_prefix, prefix);
	printf("%s\n", rc < 0 ? " (then an error)" : "");
	free(dirs.hash);
	blt_close(db);
	return rc < 0 ? 1 : 0;
}
