/*
 * iter.c: public scans.  An iterator captures the regions of the file when
 * it starts and walks them one step per call under the read lock, holding a
 * reference on the memory map it borrows items from, so a concurrent
 * reindex or a growing file does not disturb it.  A prune or clear moves
 * every value, which ends the scan with -ESTALE.  A scan that reaches the
 * end has counted the live bytes, for blt_stat().
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

_Static_assert(sizeof((struct blt_mark *)0)->last_digest == HASH_LEN,
    "a mark keeps one digest");

struct blt_iter {
	struct blt *db;
	struct io_map *map;
	uint64_t gen;
	uint64_t eof;   /* the end of the last region */
	uint64_t epoch; /* db->usage_epoch at the start */
	uint64_t live;  /* bytes of the live blocks passed, internal ones too */
	uint64_t keys;  /* user keys passed */
	int unchecked;  /* no digests: it vouches for no block */
	int since;      /* of blt_iter_create_since(): a part of the file */
	int dead;       /* of blt_iter_create_dead(): dead user blocks ... */
	uint64_t stop;  /* ... before this offset */
	/* blt_iter_create_sample(): buckets [0, buckets) of the index at
	 * index_off, bucket the next, chain the next block of the one
	 * followed, hops its blocks so far */
	int sample;
	uint32_t bucket, buckets;
	uint64_t index_off, chain, hops;
	int ended;            /* the scan came to its end */
	struct blt_mark mark; /* but its last block, as it started */
	struct scan scan;
};

static int iter_since(struct blt_iter *it, const struct blt_mark *m);
static int iter_from(struct blt_iter *it, uint64_t end);

/* Start a scan, of the blocks after since->end only if since is not
 * NULL; buffered puts are flushed first so that it sees them. */
static int
iter_create_at(struct blt *db, int unchecked, const struct blt_mark *since,
    uint64_t from, struct blt_iter **out)
{
	struct blt_iter *it;
	int rc = 0;

	*out = NULL;
	if ((it = calloc(1, sizeof *it)) == NULL)
		return err_oom(db->path);
	pthread_rwlock_wrlock(&db->lock);
	if (!db->rdonly)
		rc = write_flush(db, 0);
	if (rc == 0) {
		it->db = db;
		it->map = io_map_ref(db->map);
		it->gen = db->gen;
		it->eof = db->size;
		it->epoch = db->usage_epoch;
		scan_init(&it->scan, db, it->map->base, db->h.index_off,
		    db->h.n_buckets, db->h.first_data, db->size);
		it->unchecked = unchecked;
		if (unchecked) /* as if every block were checked already */
			it->scan.trusted = UINT64_MAX;
		it->mark.end = db->size;
		it->mark.n_buckets = db->h.n_buckets;
		it->mark.first_data = db->h.first_data;
		it->mark.created = db->h.created;
		memcpy(it->mark.uuid, db->h.uuid, sizeof it->mark.uuid);
		if (since != NULL)
			rc = iter_since(it, since);
		else if (from > 0)
			rc = iter_from(it, from);
	}
	pthread_rwlock_unlock(&db->lock);
	if (rc < 0) {
		blt_iter_free(it); /* its map too */
		return rc;
	}
	*out = it;
	return 0;
}

static int
iter_create(struct blt *db, int unchecked, const struct blt_mark *since,
    struct blt_iter **out)
{
	return iter_create_at(db, unchecked, since, 0, out);
}

int
blt_iter_create(struct blt *db, struct blt_iter **out)
{
	return iter_create(db, 0, NULL, out);
}

int
blt_iter_create_unchecked(struct blt *db, struct blt_iter **out)
{
	return iter_create(db, 1, NULL, out);
}

static int
iter_stale(const struct blt_iter *it, const char *why)
{
	return err_set(-ESTALE, "%s: %s", it->db->path, why);
}

/* Whether the header of m can tell a later prune or clear: 0, or
 * -EOPNOTSUPP if its first data position is one they leave (200 after a
 * prune, 200 + 6N in the first index). */
static int
iter_mark_tells(const struct blt *db, const struct blt_mark *m)
{
	uint64_t index0 = HEADER_LEN + (uint64_t)PTR_LEN * m->n_buckets;

	if (m->first_data != HEADER_LEN && m->first_data < index0)
		return 0;
	return err_set(-EOPNOTSUPP,
	    "%s: it was pruned, or is in its first index, so its header "
	    "cannot tell whether a prune or clear came since",
	    db->path);
}

/* Whether no block before m->end moved or went since m was taken (see
 * blt_iter_create_since()): first the header, which tells for every
 * writer that keeps the format, then the last block, which tells of a
 * file put in place from an older copy of the store. */
static int
iter_only_grew(const struct blt_iter *it, const struct blt_mark *m)
{
	const struct blt *db = it->db;
	struct block b;

	if (memcmp(db->h.uuid, m->uuid, sizeof m->uuid) != 0 ||
	    db->h.created != m->created)
		return iter_stale(it, "another store's file is in its place");
	if (iter_mark_tells(db, m) < 0)
		return -ESTALE; /* with its message */
	if (db->h.first_data != m->first_data || db->h.n_buckets < m->n_buckets)
		return iter_stale(it, "it was pruned, cleared or replaced");
	if (m->end > db->size || m->last < m->first_data || m->last >= m->end ||
	    m->last_size > m->end - m->last)
		return iter_stale(it, "it is shorter than it was");
	if (block_parse(db, it->map->base, m->last, m->end, &b) < 0 ||
	    b.size != m->last_size ||
	    memcmp(b.digest, m->last_digest, HASH_LEN) != 0 ||
	    !scan_whole(db, &b))
		return iter_stale(it, "its blocks are not where they were");
	return 0;
}

/* Move the scan of it to m->end, under the store's lock. */
static int
iter_since(struct blt_iter *it, const struct blt_mark *m)
{
	int rc;

	if ((rc = iter_only_grew(it, m)) < 0)
		return rc;
	return iter_from(it, m->end);
}

/* Move the scan of it to end, a former end of the file. */
static int
iter_from(struct blt_iter *it, uint64_t end)
{
	struct scan *s = &it->scan;

	it->since = 1;
	if (end <= s->end) { /* in the first region */
		s->pos = end;
	} else if (s->next_end > 0 && end >= s->next_start) {
		s->pos = end;
		s->end = s->next_end;
		s->next_start = s->next_end = 0;
	} else /* within the index: it was never a file's end */
		return iter_stale(it, "its index is not where it was");
	return 0;
}

int
blt_iter_create_dead(
    struct blt *db, const struct blt_change *c, struct blt_iter **out)
{
	int rc;

	if (c->how != BLT_GREW)
		return err_set(-EINVAL, "%s: not a store that grew", db->path);
	if ((rc = iter_create_at(db, 1, NULL, 0, out)) < 0)
		return rc;
	(*out)->since = 1; /* a part of the file: no count of it kept */
	(*out)->dead = 1;
	(*out)->stop = c->old_end;
	(*out)->scan.all = 1;
	return 0;
}

int
blt_iter_create_grown(
    struct blt *db, const struct blt_change *c, struct blt_iter **out)
{
	uint64_t from = c->peeked_to != 0 ? c->peeked_to : c->old_end;

	if ((c->how != BLT_GREW && c->peeked_to == 0) || from < HEADER_LEN)
		return err_set(-EINVAL, "%s: not a store that grew", db->path);
	return iter_create_at(db, 1, NULL, from, out);
}

int
blt_iter_create_since(
    struct blt *db, const struct blt_mark *m, struct blt_iter **out)
{
	return iter_create(db, 1, m, out);
}

int
blt_iter_create_sample(struct blt *db, uint32_t buckets, struct blt_iter **out)
{
	struct blt_iter *it;
	int rc;

	if ((rc = iter_create(db, 1, NULL, out)) < 0)
		return rc;
	it = *out;
	pthread_rwlock_rdlock(&db->lock);
	it->sample = 1;
	it->index_off = db->h.index_off;
	it->buckets = buckets < db->h.n_buckets ? buckets : db->h.n_buckets;
	if (it->index_off + (uint64_t)PTR_LEN * it->buckets > it->eof)
		it->buckets = 0; /* an index past the end: nothing to follow */
	pthread_rwlock_unlock(&db->lock);
	return 0;
}

int
blt_iter_mark(const struct blt_iter *it, struct blt_mark *m)
{
	struct blt *db = it->db;
	struct block b;
	int rc = 0;

	if (!it->ended || it->since || it->sample)
		return err_set(-EINVAL,
		    "%s: a mark of a scan not of the whole store, or not at "
		    "its end",
		    db->path);
	if (it->scan.last == 0)
		return err_set(-ENODATA, "%s: no block to mark", db->path);
	if ((rc = iter_mark_tells(db, &it->mark)) < 0)
		return rc;
	pthread_rwlock_rdlock(&db->lock);
	if (db->gen != it->gen)
		rc = iter_stale(it, "the store was compacted during the scan");
	else /* parsed a moment ago, from the same map */
		rc = block_parse(
		    db, it->map->base, it->scan.last, it->mark.end, &b);
	pthread_rwlock_unlock(&db->lock);
	if (rc < 0)
		return rc;
	/* padding too (calloc's zeros): a caller may write it out whole */
	memcpy(m, &it->mark, sizeof *m);
	m->last = b.off;
	m->last_size = b.size;
	memcpy(m->last_digest, b.digest, HASH_LEN);
	return 0;
}

/* A scan that reached the end of a store in which no live block came or
 * went meanwhile has counted the live bytes: blt_stat() need not scan for
 * them again (a mount lists every key, then reports usage).  Checked again
 * under the write lock, since the caller let go of the read lock. */
static void
iter_count_usage(struct blt_iter *it)
{
	struct blt *db = it->db;

	pthread_rwlock_wrlock(&db->lock);
	if (!db->usage_known && db->gen == it->gen &&
	    db->usage_epoch == it->epoch) {
		db->live_bytes = it->live;
		db->usage_known = 1;
	}
	pthread_rwlock_unlock(&db->lock);
}

/* A whole scan of a store that did not change meanwhile found fewer keys
 * than the store counts: blocks are missing, as when a file is cut at the
 * edge of a block.  (More is no damage: the reference leaves its count
 * behind when it is killed after a flush.) */
static int
iter_missing(const struct blt_iter *it)
{
	return err_set(-EUCLEAN,
	    "%s: damaged store: the header counts %llu keys, the blocks "
	    "hold %llu (was the file cut short?); blt check tells more",
	    it->db->path, (unsigned long long)it->db->n_keys,
	    (unsigned long long)it->keys);
}

/* The item of block b, as an iterator gives it. */
static void
iter_item(struct blt_item *item, const struct block *b)
{
	item->key = b->key;
	item->klen = b->klen;
	item->value = b->value;
	item->vlen = (size_t)b->vlen;
	item->timestamp = b->ts;
	item->offset = b->off;
}

#define ITER_SAMPLE_HOPS 64 /* blocks of one chain a sample follows */

/* The next live user key of a sample's chains, under the read lock and
 * in the store's generation: 1, or 0 at the end, or at the first block it
 * cannot follow (it vouches for nothing, and a scan reports damage). */
static int
iter_sample_step(struct blt_iter *it, struct blt_item *item)
{
	struct blt *db = it->db;
	struct block b;

	for (;;) {
		while (it->chain <= PTR_END || it->hops == ITER_SAMPLE_HOPS) {
			if (it->bucket == it->buckets)
				return 0;
			it->chain = le_get(it->map->base + it->index_off +
			                       (uint64_t)PTR_LEN * it->bucket++,
			    PTR_LEN);
			it->hops = 0;
		}
		it->hops++;
		if (it->chain < HEADER_LEN || block_parse(db, it->map->base,
		                                  it->chain, it->eof, &b) < 0) {
			it->bucket = it->buckets;
			return 0;
		}
		it->chain = b.next;
		if (b.next == PTR_TOMBSTONE ||
		    (!db->h.fixed && hash_internal_key(b.key, b.klen)))
			continue;
		iter_item(item, &b);
		return 1;
	}
}

/* The next live user key, under the read lock: 1, 0 at the end (then
 * *count says whether the live bytes can be kept), or an error. */
static int
iter_step(struct blt_iter *it, struct blt_item *item, int *count)
{
	struct blt *db = it->db;
	struct block b;
	int rc;

	if (db->gen != it->gen)
		return err_set(-ESTALE,
		    "%s: the store was compacted during the scan", db->path);
	if (it->sample)
		return iter_sample_step(it, item);
	while ((rc = scan_next(&it->scan, &b)) > 0) {
		if (it->dead) {
			if (b.off >= it->stop) {
				rc = 0;
				break;
			}
			if (b.next == PTR_TOMBSTONE && !block_is_skip(db, &b) &&
			    block_keyed(&b) &&
			    (db->h.fixed || !hash_internal_key(b.key, b.klen)))
				break;
			continue;
		}
		it->live += b.size;
		if (db->h.fixed || !hash_internal_key(b.key, b.klen)) {
			it->keys++;
			break;
		}
	}
	if (rc == 0 && !it->since && db->usage_epoch == it->epoch &&
	    it->keys < db->n_keys)
		rc = iter_missing(it);
	if (rc == 0) {
		it->ended = 1;
		if (!it->unchecked) /* every block of the scan checked */
			scan_trust(db, it->eof);
		/* the write lock only when the count can be kept */
		*count = !it->since && !db->usage_known &&
		         db->usage_epoch == it->epoch;
	}
	if (rc > 0)
		iter_item(item, &b);
	return rc;
}

/* The next live user key. */
int
blt_iter_next(struct blt_iter *it, struct blt_item *item)
{
	return blt_iter_next_many(it, item, 1);
}

/* Up to max next keys, taking the lock once: a mount's scan of 10 million
 * keys spent 13 % of its time taking it per key.  An error after some
 * items comes with the next call, which meets it again. */
int
blt_iter_next_many(struct blt_iter *it, struct blt_item *items, int max)
{
	int rc = 1, n = 0, count = 0;

	if (max < 1)
		return err_set(
		    -EINVAL, "%s: a scan step of %d items", it->db->path, max);
	pthread_rwlock_rdlock(&it->db->lock);
	while (n < max && (rc = iter_step(it, &items[n], &count)) > 0)
		n++;
	pthread_rwlock_unlock(&it->db->lock);
	if (count)
		iter_count_usage(it);
	return n > 0 ? n : rc;
}

/* Free an iterator. */
void
blt_iter_free(struct blt_iter *it)
{
	if (it == NULL)
		return;
	io_map_unref(it->map);
	free(it);
}
