/*
 * iter.c: public scans.  An iterator captures the regions of the file when
 * it starts and walks them one step per call under the read lock, holding a
 * reference on the memory map it borrows items from, so a concurrent
 * reindex or a growing file does not disturb it.  A prune or clear moves
 * every value, which ends the scan with -ESTALE.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "internal.h"

struct blt_iter {
	struct blt *db;
	struct io_map *map;
	uint64_t gen;
	uint64_t eof; /* the end of the last region */
	struct scan scan;
};

/* Start a scan; buffered puts are flushed first so that it sees them. */
int
blt_iter_create(struct blt *db, struct blt_iter **out)
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
		scan_init(&it->scan, db, it->map->base, db->h.index_off,
		    db->h.n_buckets, db->h.first_data, db->size);
	}
	pthread_rwlock_unlock(&db->lock);
	if (rc < 0) {
		free(it);
		return rc;
	}
	*out = it;
	return 0;
}

/* The next live user key. */
int
blt_iter_next(struct blt_iter *it, struct blt_item *item)
{
	struct blt *db = it->db;
	struct block b;
	int rc;

	pthread_rwlock_rdlock(&db->lock);
	if (db->gen != it->gen) {
		rc = err_set(-ESTALE,
		    "%s: the store was compacted during the scan", db->path);
		goto out;
	}
	while ((rc = scan_next(&it->scan, &b)) > 0)
		if (db->h.fixed || !hash_internal_key(b.key, b.klen))
			break;
	if (rc == 0)
		scan_trust(db, it->eof); /* every block of the scan checked */
	if (rc > 0) {
		item->key = b.key;
		item->klen = b.klen;
		item->value = b.value;
		item->vlen = (size_t)b.vlen;
		item->timestamp = b.ts;
		item->offset = b.off;
	}
out:
	pthread_rwlock_unlock(&db->lock);
	return rc;
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
