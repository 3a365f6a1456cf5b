/*
 * reindex.c grows the bucket index (§8): a new index at the end of the
 * file, the chains rewired into it as the reference does, the header
 * switched, and an abandoned relocated index covered by skip blocks.
 *
 * The reference is not crash-safe here (§7.9).  We record the operation in
 * our header journal first and fsync between the steps, so that the next
 * open knows which index the file was being moved to and can finish or
 * undo the move (reindex_finish), then rebuild the chains from the data.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "internal.h"

/* Blocks collected before they are pushed into the new index: 64 MiB of
 * offsets.  A bigger store is rewired in several passes over the file. */
#define REINDEX_BATCH (8u << 20)

static int
reindex_cmp_off(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Push the n blocks at offs, in the order of the file, each at the head
 * of its bucket in the index at i1 (n1 buckets).  In the order of the
 * chains, the next pointers written would land anywhere in the file, and
 * a store bigger than the kernel's dirty threshold would have its pages
 * written back and dirtied again over and over (issue 58); in the file's
 * order each page is dirtied once per pass. */
static int
reindex_push(struct blt *db, uint64_t *offs, size_t n, uint64_t i1, uint32_t n1)
{
	const unsigned char *base = db->map->base;
	int rc;

	qsort(offs, n, sizeof *offs, reindex_cmp_off);
	for (size_t i = 0; i < n; i++) {
		uint64_t s =
		    i1 + (uint64_t)PTR_LEN * hash_bucket(base + offs[i], n1);

		if ((rc = index_push(db, s, offs[i])) < 0)
			return rc;
		keyfilter_add(db, base + offs[i]); /* its digest */
	}
	return 0;
}

/* Rewire every chain of the index at i0 (n0 buckets) into the empty index
 * at i1 (n1 buckets), pushing each block at its new bucket's head (§8).
 * The blocks of whole chains are collected first, then pushed in the
 * file's order (reindex_push). */
static int
reindex_rewire(
    struct blt *db, uint64_t i0, uint32_t n0, uint64_t i1, uint32_t n1)
{
	const unsigned char *base = db->map->base;
	uint64_t hops = db->size / FIX_FIXED_LEN + 1, *offs;
	size_t n = 0, cap = 4096;
	int rc = 0;

	if ((offs = malloc(cap * sizeof *offs)) == NULL)
		return err_oom(db->path);
	for (uint64_t bkt = 0; bkt < n0 && rc == 0; bkt++) {
		uint64_t p = io_get_ptr(db, i0 + bkt * PTR_LEN);

		if (bkt % PROGRESS_BUCKETS == 0 || bkt + 1 == n0)
			progress_note("buckets", bkt + 1, n0);

		while (p > PTR_END) {
			uint64_t nxt;

			if (p < HEADER_LEN || p + FIX_FIXED_LEN > db->size ||
			    hops-- == 0) {
				rc = err_set(-EUCLEAN,
				    "%s: damaged chain in bucket %llu at %llu; "
				    "run blt check --repair",
				    db->path, (unsigned long long)bkt,
				    (unsigned long long)p);
				break;
			}
			nxt = le_get(base + p + BLOCK_NEXT_OFF, PTR_LEN);
			if (nxt == PTR_TOMBSTONE)
				break;
			if (n == cap) {
				uint64_t *more =
				    realloc(offs, 2 * cap * sizeof *offs);

				if (more == NULL) {
					rc = err_oom(db->path);
					break;
				}
				offs = more;
				cap *= 2;
			}
			offs[n++] = p;
			if (nxt == PTR_END)
				break;
			p = nxt;
		}
		/* a pass ends between chains: one chain's blocks are read
		 * before any of them is rewired */
		if (rc == 0 && (n >= REINDEX_BATCH || bkt + 1 == n0)) {
			rc = reindex_push(db, offs, n, i1, n1);
			n = 0;
		}
	}
	free(offs);
	return rc;
}

/* The smallest dead index a skip block can cover (§16.2 item 2). */
static int
reindex_skip_fits(const struct blt *db, uint32_t n0)
{
	uint64_t min = db->h.fixed ? FIX_FIXED_LEN + 1 + db->h.value_len
	                           : VAR_FIXED_LEN + db->h.ts_len + 1;

	return (uint64_t)PTR_LEN * n0 >= min;
}

/* The reindex failed half-way, and what it left only the next open can
 * finish or undo (reindex_finish() from the journal, then the chains are
 * rebuilt): the chains may be half rewired, and the journal entry would
 * cut off whatever is appended after it.  So the store takes no more
 * writes and stays marked unclean, since a clean close would make the
 * next open skip all that.  What was flushed before stays stored, and
 * blt_flags() says so.  Returns rc, keeping its message. */
static int
reindex_stuck(struct blt *db, int rc)
{
	io_stop_writes(db, BLT_REINDEX_STUCK);
	return rc;
}

/* Grow the index to n1 buckets; the caller holds the write lock and has
 * flushed the buffer.  A failure that left the store as it was (no room
 * for the new index) sets *undone if undone is not NULL; after any other
 * the store takes no more writes (reindex_stuck()). */
int
reindex_run(struct blt *db, uint32_t n1, int *undone)
{
	uint64_t i0 = db->h.index_off, e0 = db->size, gen = db->gen;
	uint32_t n0 = db->h.n_buckets;
	int rc;

	if (i0 != HEADER_LEN && !reindex_skip_fits(db, n0)) {
		/* No skip block fits the old index: compact instead. */
		int64_t removed = prune_run(db, NULL, n1, 0);

		if (removed >= 0)
			return 0;
		/* The copy in place, only its name not synced: as after any
		 * other failure half-way, no more writes. */
		if (db->gen != gen)
			return reindex_stuck(db, (int)removed);
		if (undone != NULL) /* the new file went, the store stays */
			*undone = 1;
		return (int)removed;
	}
	if ((rc = hdr_mark_dirty(db)) < 0)
		return rc;
	if ((rc = hdr_journal_write(
	         db, JOURNAL_REINDEX, i0, n0, e0, n1, db->h.first_data)) < 0)
		return reindex_stuck(db, rc);
	if ((rc = io_fill(db, e0, n1, PTR_END)) < 0) {
		/* the disk is full, say: nothing links into the new index
		 * yet, so it goes and the old one stays.  Left in place, it
		 * would lie under the next appends, and the journal's undo
		 * at the next open would cut those off with it. */
		io_cut_back(db, e0);
		if ((blt_flags(db) & BLT_TORN_TAIL) ||
		    hdr_journal_clear(db) < 0)
			return reindex_stuck(db, rc);
		if (undone != NULL)
			*undone = 1;
		return rc;
	}
	/* past the most buckets only chains grow: from here every new key
	 * is told from the others without a walk (keyfilter.c) */
	if (hdr_next_buckets(n1) == 0)
		keyfilter_start(db, n1);
	else
		keyfilter_drop(db);
	if ((rc = reindex_rewire(db, i0, n0, e0, n1)) < 0) {
		keyfilter_drop(db);
		return reindex_stuck(db, rc);
	}
	/* The chains run through the new index now: this process reads
	 * through it from here on, also if what follows fails, though the
	 * header on disk names the old one until hdr_write_layout(). */
	db->h.n_buckets = n1;
	db->h.index_off = e0;
	if ((rc = io_sync(db)) < 0 || (rc = hdr_write_layout(db)) < 0 ||
	    (rc = io_sync(db)) < 0)
		return reindex_stuck(db, rc);
	if (i0 != HEADER_LEN &&
	    ((rc = block_skip_fill(db, i0, (uint64_t)PTR_LEN * n0)) < 0 ||
	        (rc = io_sync(db)) < 0))
		return reindex_stuck(db, rc);
	if ((rc = hdr_journal_clear(db)) < 0)
		return reindex_stuck(db, rc);
	return 0;
}

/* Reindex when the reference would: more keys than buckets, and a next
 * size in the growth chain (§8).  Only chains get longer when there is no
 * room for the bigger index: the store stays sound, the puts that led here
 * are stored, and the next flush tries again.  Any other failure is
 * returned; the puts that led here are stored then too, but the store
 * takes no more writes (reindex_stuck()). */
int
reindex_auto(struct blt *db)
{
	uint32_t n1;
	int rc, undone = 0;

	if (db->prune_eof != 0 || db->n_keys <= db->h.n_buckets ||
	    (n1 = hdr_next_buckets(db->h.n_buckets)) == 0)
		return 0;
	rc = reindex_run(db, n1, &undone);
	return undone ? 0 : rc;
}

/* Finish or undo a reindex that a crash interrupted, from the journal j
 * (old index, old size, new index offset, new size, first data).  The
 * caller then rebuilds the chains of whichever index the header names. */
int
reindex_finish(struct blt *db, const uint64_t j[5])
{
	uint64_t i0 = j[0], e0 = j[2];
	uint32_t n0 = (uint32_t)j[1], n1 = (uint32_t)j[3];
	int rc;

	if (db->h.n_buckets == n0 && db->h.index_off == i0) {
		/* The header still names the old index: drop the new one. */
		if (e0 < db->size && (rc = io_truncate(db, e0)) < 0)
			return rc;
	} else if (db->h.n_buckets == n1 && db->h.index_off == e0) {
		if (i0 != HEADER_LEN &&
		    (rc = block_skip_fill(db, i0, (uint64_t)PTR_LEN * n0)) < 0)
			return rc;
	}
	if ((rc = hdr_journal_clear(db)) < 0)
		return rc;
	return io_sync(db);
}

/* -EINVAL: db's index cannot grow by booklet's sequence any further. */
static int
reindex_at_largest(struct blt *db)
{
	return err_set(-EINVAL,
	    "%s: the index has %u buckets for %llu keys, and %u buckets is the "
	    "maximum booklet grows an index to: it cannot grow further",
	    db->path, db->h.n_buckets, (unsigned long long)db->n_keys,
	    BLT_BUCKETS_MAX);
}

/* The index size that growing db's index as want says gives (a number of
 * buckets, BLT_GROW or BLT_FIT; see blt_prune_opts) into *out.  For
 * BLT_FIT that is the present size when the index holds the keys already,
 * so that asking again never grows it further.  -EINVAL with a message
 * for a size that would not grow it or is over BLT_BUCKETS_MAX.  Holds:
 * db->lock, buffer flushed. */
int
reindex_target(struct blt *db, uint32_t want, uint32_t *out)
{
	uint32_t n = db->h.n_buckets, next;

	*out = n;
	if (want == BLT_FIT) {
		while (db->n_keys > n && (next = hdr_next_buckets(n)) != 0)
			n = next;
		if (n == db->h.n_buckets && db->n_keys > n)
			return reindex_at_largest(db);
		*out = n;
		return 0;
	}
	if (want == BLT_GROW && (want = hdr_next_buckets(n)) == 0)
		return reindex_at_largest(db);
	if (hdr_check_buckets(db->path, want) < 0)
		return -EINVAL;
	if (want <= n)
		return err_set(-EINVAL,
		    "%s: reindex grows the index: %u buckets is not more than "
		    "the %u it has",
		    db->path, want, n);
	*out = want;
	return 0;
}

/* Grow the index as n_buckets says (0 is BLT_GROW). */
int
blt_reindex(struct blt *db, uint32_t n_buckets)
{
	uint32_t n1;
	int rc;

	if (db->rdonly)
		return err_set(-EROFS, "%s: opened read-only", db->path);
	if ((rc = io_stopped(db)) < 0)
		return rc;
	pthread_mutex_lock(&db->prune_lock);
	pthread_rwlock_wrlock(&db->lock);
	if ((rc = write_flush(db, 0)) == 0 &&
	    (rc = reindex_target(
	         db, n_buckets == 0 ? BLT_GROW : n_buckets, &n1)) == 0 &&
	    n1 != db->h.n_buckets)
		rc = reindex_run(db, n1, NULL);
	pthread_rwlock_unlock(&db->lock);
	pthread_mutex_unlock(&db->prune_lock);
	return rc;
}
