/*
 * prune.c compacts a store (§9) and clears it (§13), both by writing a
 * complete new file beside the old one, fsyncing it and renaming it into
 * place, so that a crash at any moment leaves either the old store or the
 * new one.  The new file keeps the old header (uuid, creation time,
 * serializers, version) and the layout the reference's prune produces:
 * kept blocks from byte 200 in their old order, then the index.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

#define PRUNE_CHUNK (4u << 20)

char *
prune_file_name(const char *file)
{
	char *name;

	return asprintf(&name, "%s.bltfs-tmp", file) < 0 ? NULL : name;
}

static int
prune_digest_cmp(const void *a, const void *b)
{
	return memcmp(a, b, HASH_LEN);
}

/* Sorted digests of the keep keys, for a binary search per block. */
static int
prune_keep_digests(
    struct blt *db, const struct blt_prune_opts *o, unsigned char **out)
{
	unsigned char *d;

	*out = NULL;
	if (o == NULL || o->n_keep == 0)
		return 0;
	if ((d = malloc(o->n_keep * HASH_LEN)) == NULL)
		return err_oom(db->path);
	for (size_t i = 0; i < o->n_keep; i++)
		hash_digest(o->keep[i], o->keep_len[i], d + i * HASH_LEN);
	qsort(d, o->n_keep, HASH_LEN, prune_digest_cmp);
	*out = d;
	return 0;
}

/* Does the age filter drop live block b? */
static int
prune_drops(const struct blt *db, const struct blt_prune_opts *o,
    const unsigned char *keep, const struct block *b)
{
	if (o == NULL || o->older_than <= 0 || !db->h.ts_len ||
	    b->ts >= o->older_than || hash_internal_key(b->key, b->klen))
		return 0;
	return keep == NULL || bsearch(b->digest, keep, o->n_keep, HASH_LEN,
	                           prune_digest_cmp) == NULL;
}

/* What pass 1 decides, all in memory: the blocks kept, where each goes in
 * the new file, and the chains of the new index.  Pass 2 then writes every
 * block once, with its final next pointer.  (Linking through the new
 * file's map after the copy took a write fault on a page per collision and
 * cost as much as the copy itself.)  The moves also serve the catch-up of
 * an online prune. */
/* Blocks a plan holds before it links them: the bucket heads of the next
 * ones are prefetched meanwhile, a random read each in an index of
 * megabytes. */
#define PRUNE_LAG 16

struct prune_plan {
	uint64_t (*m)[2]; /* old offset, new offset; both ascend */
	uint32_t *next;   /* per block: the next of its chain + 1, 0 at the
	                     end, PRUNE_DEAD when a later copy replaced it */
	uint32_t *fp;     /* per block: 4 bytes of its digest, so that a
	                     chain is walked without reading db */
	uint32_t *head;   /* per bucket: the first block of its chain + 1 */
	size_t n, cap;
	size_t linked; /* blocks linked; the rest wait in ring */
	struct block ring[PRUNE_LAG];
	uint32_t ring_bucket[PRUNE_LAG];
	uint32_t n_buckets;
	uint64_t end; /* the new file's size when the blocks are written */
	int64_t n_keys, removed;
};

#define PRUNE_DEAD UINT32_MAX

static int
prune_plan_init(struct blt *db, struct prune_plan *pl, uint32_t n_buckets)
{
	memset(pl, 0, sizeof *pl);
	pl->n_buckets = n_buckets;
	pl->end = HEADER_LEN;
	if ((pl->head = calloc(n_buckets, sizeof *pl->head)) == NULL)
		return err_oom(db->path);
	return 0;
}

static void
prune_plan_free(struct prune_plan *pl)
{
	free(pl->m);
	free(pl->next);
	free(pl->fp);
	free(pl->head);
}

static uint32_t
prune_fp(const unsigned char *digest)
{
	return (uint32_t)le_get(digest, 4);
}

/* Link planned block i (b, in bucket) into its chain: at the tail, as LINK
 * does (§7.2); a second block of one key (only in a damaged input) takes
 * the first one's place.  base maps db, where the digests of the blocks
 * lie. */
static void
prune_plan_link(struct blt *db, struct prune_plan *pl,
    const unsigned char *base, uint32_t i, const struct block *b,
    uint32_t bucket)
{
	uint32_t *at = pl->head + bucket;

	while (*at != 0) {
		uint32_t j = *at - 1;

		if (pl->fp[j] == pl->fp[i] &&
		    memcmp(base + pl->m[j][0], b->digest, HASH_LEN) == 0) {
			pl->next[i] = pl->next[j];
			pl->next[j] = PRUNE_DEAD;
			*at = i + 1;
			return;
		}
		at = pl->next + j;
	}
	*at = i + 1;
	pl->next[i] = 0;
	if (db->h.fixed || !hash_internal_key(b->key, b->klen))
		pl->n_keys++;
}

/* Link the planned blocks that wait, up to all but keep of them. */
static void
prune_plan_catch_up(struct blt *db, struct prune_plan *pl,
    const unsigned char *base, size_t keep)
{
	for (; pl->linked + keep < pl->n; pl->linked++)
		prune_plan_link(db, pl, base, (uint32_t)pl->linked,
		    &pl->ring[pl->linked % PRUNE_LAG],
		    pl->ring_bucket[pl->linked % PRUNE_LAG]);
}

/* Make room for one more block in the plan. */
static int
prune_plan_grow(struct blt *db, struct prune_plan *pl)
{
	size_t cap = pl->cap ? pl->cap * 2 : 4096;
	uint64_t(*m)[2];
	uint32_t *next, *fp;

	if ((m = realloc(pl->m, cap * sizeof *m)) == NULL)
		return err_oom(db->path);
	pl->m = m;
	if ((next = realloc(pl->next, cap * sizeof *next)) == NULL)
		return err_oom(db->path);
	pl->next = next;
	if ((fp = realloc(pl->fp, cap * sizeof *fp)) == NULL)
		return err_oom(db->path);
	pl->fp = fp;
	pl->cap = cap;
	return 0;
}

/* Add block b to the plan; it is linked PRUNE_LAG blocks later. */
static int
prune_plan_add(struct blt *db, struct prune_plan *pl, const unsigned char *base,
    const struct block *b)
{
	int rc;

	if (pl->n == pl->cap && (rc = prune_plan_grow(db, pl)) < 0)
		return rc;
	if (pl->n >= PRUNE_DEAD - 1)
		return err_set(
		    -EFBIG, "%s: too many blocks to compact", db->path);
	if (pl->end + b->size > PTR_MAX)
		return err_set(-EFBIG,
		    "%s: the format's 2^48-byte limit would be passed",
		    db->path);
	pl->m[pl->n][0] = b->off;
	pl->m[pl->n][1] = pl->end;
	pl->fp[pl->n] = prune_fp(b->digest);
	pl->end += b->size;
	pl->ring[pl->n % PRUNE_LAG] = *b;
	pl->ring_bucket[pl->n % PRUNE_LAG] =
	    hash_bucket(b->digest, pl->n_buckets);
	__builtin_prefetch(pl->head + pl->ring_bucket[pl->n % PRUNE_LAG]);
	pl->n++;
	prune_plan_catch_up(db, pl, base, PRUNE_LAG - 1);
	return 0;
}

/* With online set, let writers in now and then: the read lock is held a
 * few thousand blocks at a time. */
static void
prune_breathe(struct blt *db, int online, size_t step)
{
	if (online && step % 4096 == 4095) {
		pthread_rwlock_unlock(&db->lock);
		pthread_rwlock_rdlock(&db->lock);
	}
}

/* Pass 1: plan the kept blocks of db's regions as s walks them. */
static int
prune_plan(struct blt *db, const struct blt_prune_opts *o, struct scan *sp,
    int online, struct prune_plan *pl)
{
	unsigned char *keep;
	size_t steps = 0;
	struct scan s = *sp;
	struct block b;
	int rc;

	if ((rc = prune_keep_digests(db, o, &keep)) < 0)
		return rc;
	s.all = 1;
	if (online)
		pthread_rwlock_rdlock(&db->lock);
	while ((rc = scan_next(&s, &b)) > 0) {
		prune_breathe(db, online, steps++);
		if (b.next == PTR_TOMBSTONE || prune_drops(db, o, keep, &b))
			pl->removed++;
		else if ((rc = prune_plan_add(db, pl, s.base, &b)) < 0)
			break;
	}
	if (rc == 0)
		prune_plan_catch_up(db, pl, s.base, 0);
	if (online)
		pthread_rwlock_unlock(&db->lock);
	free(keep);
	return rc;
}

/* The next pointer pass 2 gives block i. */
static uint64_t
prune_plan_next(const struct prune_plan *pl, size_t i)
{
	if (pl->next[i] == PRUNE_DEAD)
		return PTR_TOMBSTONE;
	return pl->next[i] == 0 ? PTR_END : pl->m[pl->next[i] - 1][1];
}

/* Write the index of pl's chains at nb's end, through out (PRUNE_CHUNK
 * bytes) a chunk at a time: made whole in memory, the largest index took
 * 124 MB more than the plan itself (6 bytes a bucket against 4). */
static int
prune_write_index(
    struct blt *nb, const struct prune_plan *pl, unsigned char *out)
{
	const uint32_t per_chunk = PRUNE_CHUNK / PTR_LEN;
	uint32_t n;
	int rc = 0;

	for (uint32_t k0 = 0; k0 < pl->n_buckets && rc == 0; k0 += n) {
		n = pl->n_buckets - k0 < per_chunk ? pl->n_buckets - k0
		                                   : per_chunk;
		for (uint32_t k = 0; k < n; k++) {
			uint32_t head = pl->head[k0 + k];

			le_put(out + (size_t)k * PTR_LEN,
			    head == 0 ? PTR_END : pl->m[head - 1][1], PTR_LEN);
		}
		rc = io_write(nb, nb->h.index_off + (uint64_t)k0 * PTR_LEN, out,
		    (size_t)n * PTR_LEN);
	}
	return rc;
}

/* Pass 2: copy the planned blocks from base (db's map) to the end of nb
 * with their next pointers, then write the index after them. */
static int
prune_write(struct blt *db, struct blt *nb, const struct prune_plan *pl,
    const unsigned char *base, int online)
{
	size_t used = 0, ilen = (size_t)pl->n_buckets * PTR_LEN;
	unsigned char *out;
	int rc = 0;

	if ((out = malloc(PRUNE_CHUNK)) == NULL)
		return err_oom(db->path);
	if (online)
		pthread_rwlock_rdlock(&db->lock);
	for (size_t i = 0; i < pl->n && rc == 0; i++) {
		uint64_t to = pl->m[i][1];
		uint64_t size =
		    (i + 1 < pl->n ? pl->m[i + 1][1] : pl->end) - to;
		const unsigned char *from = base + pl->m[i][0];

		prune_breathe(db, online, i);
		if (used + size > PRUNE_CHUNK) {
			if ((rc = io_append(nb, out, used)) < 0)
				break;
			/* the fsync at the end then waits for the last
			 * chunks only */
			io_start_writeback(nb, nb->size - used, used);
			used = 0;
		}
		if (size > PRUNE_CHUNK) {
			if ((rc = io_append(nb, from, (size_t)size)) == 0)
				rc = io_put_ptr(nb, to + BLOCK_NEXT_OFF,
				    prune_plan_next(pl, i));
			continue;
		}
		memcpy(out + used, from, (size_t)size);
		le_put(out + used + BLOCK_NEXT_OFF, prune_plan_next(pl, i),
		    PTR_LEN);
		used += (size_t)size;
	}
	if (online)
		pthread_rwlock_unlock(&db->lock);
	if (rc == 0 && used > 0)
		rc = io_append(nb, out, used);
	if (rc == 0) {
		/* an empty store keeps its index at 200 (§9) */
		nb->h.n_buckets = pl->n_buckets;
		nb->h.index_off = nb->size;
		nb->h.first_data = nb->size > HEADER_LEN
		                       ? HEADER_LEN
		                       : HEADER_LEN + (uint64_t)ilen;
		rc = prune_write_index(nb, pl, out);
	}
	free(out);
	return rc;
}

/* Create the new file beside db, locked and with db's header. */
static int
prune_create(struct blt *db, struct blt *nb)
{
	unsigned char hdr[HEADER_LEN];
	int rc;

	memset(nb, 0, sizeof *nb);
	nb->fd = -1;
	nb->h = db->h;
	nb->lock_timeout = 0;
	if ((nb->path = prune_file_name(db->file)) == NULL)
		return err_oom(db->path);
	if ((rc = io_create(db, nb)) < 0) {
		if (nb->fd == -1) { /* not made: not ours to remove */
			free(nb->path);
			nb->path = NULL;
		}
		return rc;
	}
	memcpy(hdr, db->map->base, HEADER_LEN);
	memset(hdr + JOURNAL_OFF, 0, JOURNAL_LEN);
	return io_write(nb, 0, hdr, HEADER_LEN);
}

/* Finish the new file nb holding n_keys user keys, make it durable and put
 * it in db's place; the caller holds db's write lock.  nb is left holding
 * the old file, for prune_discard() to let go of once the caller has
 * dropped the lock: freeing the pages of a big file takes a while (a tenth
 * of a second for 460 MiB), and writers should not wait for it. */
static int
prune_commit(struct blt *db, struct blt *nb, int64_t n_keys)
{
	struct io_map *map = db->map;
	int rc, fd = db->fd;

	if ((rc = hdr_write_layout(nb)) < 0 ||
	    (rc = hdr_write_nkeys(nb, (uint32_t)n_keys)) < 0 ||
	    (rc = io_sync(nb)) < 0)
		return rc;
	if ((rc = io_rename(db, nb->path, db->file)) < 0)
		return rc;
	rc = io_sync_dir(db->file);
	db->fd = nb->fd;
	db->map = nb->map;
	db->size = nb->size;
	__atomic_store_n(&db->trusted,
	    __atomic_load_n(&nb->trusted, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
	/* Only the layout changes: the rest of the header is read without
	 * the lock (by blt_put's argument checks) and must not be written. */
	db->h.n_buckets = nb->h.n_buckets;
	db->h.index_off = nb->h.index_off;
	db->h.first_data = nb->h.first_data;
	db->n_keys = (uint64_t)n_keys;
	db->dirty = 0;
	db->gen++;
	keydir_drop(db); /* every block has moved */
	keyfilter_drop(db);
	db->usage_known = 0;
	free(nb->path);
	nb->path = NULL;
	nb->map = map;
	nb->fd = fd;
	return rc;
}

static void
prune_discard(struct blt *nb)
{
	if (nb->path != NULL)
		(void)io_unlink(nb->path);
	free(nb->path);
	io_close(nb);
}

/* Write a compacted copy of db (or, with clear, an empty one) with an
 * index of n_buckets, and put it in db's place, all under the write lock
 * the caller holds (it has flushed the buffer).  Returns the blocks
 * removed. */
int64_t
prune_run(struct blt *db, const struct blt_prune_opts *o, uint32_t n_buckets,
    int clear)
{
	struct prune_plan pl;
	struct blt nb;
	struct scan s;
	int rc;

	if ((rc = prune_plan_init(db, &pl, n_buckets)) < 0)
		return rc;
	if ((rc = prune_create(db, &nb)) == 0) {
		scan_init(&s, db, db->map->base, db->h.index_off,
		    db->h.n_buckets, db->h.first_data, db->size);
		if (!clear)
			rc = prune_plan(db, o, &s, 0, &pl);
	}
	if (rc == 0 && (rc = prune_write(db, &nb, &pl, db->map->base, 0)) == 0)
		rc = prune_commit(db, &nb, pl.n_keys);
	prune_discard(&nb);
	prune_plan_free(&pl);
	return rc < 0 ? rc : pl.removed;
}

/* Carry over to nb what writers did to db while it was copied; db's write
 * lock is held.  Copies whose originals died are unlinked, timestamps set
 * meanwhile (db->ts_writes moved on from ts_writes0) are copied, and blocks
 * appended since eof0 are appended and linked.  Adjusts the plan's counts. */
static int
prune_catch_up(struct blt *db, struct blt *nb, struct prune_plan *pl,
    uint64_t eof0, uint64_t ts_writes0)
{
	const unsigned char *base = db->map->base;
	struct block b, nbk;
	struct scan s;
	uint64_t prev;
	int rc;

	for (size_t i = 0; i < pl->n; i++) {
		uint64_t from = pl->m[i][0], to = pl->m[i][1];

		if (le_get(base + from + BLOCK_NEXT_OFF, PTR_LEN) !=
		    PTR_TOMBSTONE) {
			if (db->ts_writes != ts_writes0 &&
			    memcmp(base + from + BLOCK_TS_OFF,
			        nb->map->base + to + BLOCK_TS_OFF, TS_LEN) &&
			    (rc = io_write(nb, to + BLOCK_TS_OFF,
			         base + from + BLOCK_TS_OFF, TS_LEN)) < 0)
				return rc;
			continue;
		}
		if ((rc = block_parse(nb, nb->map->base, to, nb->size, &b)) <
		        0 ||
		    (rc = index_find(
		         nb, b.digest, b.key, b.klen, &nbk, &prev)) < 0)
			return rc;
		if (rc == 0 || nbk.off != to)
			continue;
		if ((rc = index_unlink(nb, &nbk, prev)) < 0)
			return rc;
		if (nb->h.fixed || !hash_internal_key(b.key, b.klen))
			pl->n_keys--;
		pl->removed++;
	}
	scan_init(&s, db, base, HEADER_LEN, 0, eof0, db->size);
	while ((rc = scan_next(&s, &b)) > 0) {
		uint64_t q = nb->size;

		if ((rc = io_append(nb, base + b.off, (size_t)b.size)) < 0 ||
		    (rc = index_link(nb, index_slot(nb, b.digest), b.digest, q,
		         NULL, INDEX_TOMB_NOW)) < 0)
			return rc;
		if (rc == 1 &&
		    (nb->h.fixed || !hash_internal_key(b.key, b.klen)))
			pl->n_keys++;
	}
	return rc;
}

/* The index size of the copy a prune with o makes (blt_prune_opts), or
 * -EINVAL with a message.  Holds: db->lock. */
static int
prune_buckets(struct blt *db, const struct blt_prune_opts *o, uint32_t *out)
{
	*out = db->h.n_buckets;
	if (o == NULL || o->n_buckets == 0)
		return 0;
	return reindex_target(db, o->n_buckets, out);
}

/* Compact db while readers and writers go on; see blt_prune(). */
int64_t
prune_online(struct blt *db, const struct blt_prune_opts *o)
{
	struct prune_plan pl;
	struct io_map *snap = NULL;
	struct blt nb;
	struct scan s;
	uint64_t eof0 = 0, ts_writes0 = 0;
	uint32_t n_buckets = 0;
	int rc;

	memset(&pl, 0, sizeof pl);
	memset(&nb, 0, sizeof nb);
	nb.fd = -1;
	pthread_rwlock_wrlock(&db->lock);
	if ((rc = write_flush(db, 0)) == 0 &&
	    (rc = prune_buckets(db, o, &n_buckets)) == 0 &&
	    (rc = prune_plan_init(db, &pl, n_buckets)) == 0 &&
	    (rc = prune_create(db, &nb)) == 0) {
		snap = io_map_ref(db->map);
		eof0 = db->prune_eof = db->size;
		ts_writes0 = db->ts_writes;
		scan_init(&s, db, snap->base, db->h.index_off, db->h.n_buckets,
		    db->h.first_data, eof0);
	}
	pthread_rwlock_unlock(&db->lock);
	if (rc < 0) {
		prune_plan_free(&pl);
		prune_discard(&nb);
		return rc;
	}
	if ((rc = prune_plan(db, o, &s, 1, &pl)) == 0 &&
	    (rc = prune_write(db, &nb, &pl, snap->base, 1)) == 0)
		rc = io_sync(&nb); /* the bulk, outside the lock */
	io_map_unref(snap);
	pthread_rwlock_wrlock(&db->lock);
	db->prune_eof = 0;
	if (rc == 0 && (rc = write_flush(db, 0)) == 0 &&
	    (rc = prune_catch_up(db, &nb, &pl, eof0, ts_writes0)) == 0 &&
	    (rc = prune_commit(db, &nb, pl.n_keys)) == 0)
		rc = reindex_auto(db);
	pthread_rwlock_unlock(&db->lock);
	prune_plan_free(&pl);
	prune_discard(&nb);
	return rc < 0 ? rc : pl.removed;
}

/* Compact the store. */
int64_t
blt_prune(struct blt *db, const struct blt_prune_opts *opts)
{
	int64_t rc;

	if (db->rdonly)
		return err_set(-EROFS, "%s: opened read-only", db->path);
	/* a copy of chains a failed reindex left half rewired could lose
	 * keys that the next open would keep */
	if ((rc = io_stopped(db)) < 0)
		return rc;
	pthread_mutex_lock(&db->prune_lock);
	rc = prune_online(db, opts);
	pthread_mutex_unlock(&db->prune_lock);
	return rc;
}

/* Remove everything; buffered puts are dropped with the rest (§16.2 item
 * 3 is the reference's bug here). */
int
blt_clear(struct blt *db)
{
	int64_t rc;

	if (db->rdonly)
		return err_set(-EROFS, "%s: opened read-only", db->path);
	if ((rc = io_stopped(db)) < 0)
		return (int)rc;
	pthread_mutex_lock(&db->prune_lock);
	pthread_rwlock_wrlock(&db->lock);
	write_discard(db);
	rc = prune_run(db, NULL, db->h.n_buckets, 1);
	pthread_rwlock_unlock(&db->lock);
	pthread_mutex_unlock(&db->prune_lock);
	return rc < 0 ? (int)rc : 0;
}
