/*
 * store.c: a store's life — options, opening (creating, locking, parsing,
 * recovering after an unclean close) and closing.
 *
 * Recovery: a store whose key count holds the unclean sentinel (§7.8) was
 * being changed when its writer died.  Its data blocks are sound up to a
 * possibly torn tail (blocks are appended, and only ever made live once
 * complete, see write.c), but its chains may be half updated.  Opening it
 * for writing finishes or undoes an interrupted reindex from our journal,
 * cuts a torn tail, then rebuilds every chain from a sequential scan in
 * which the later of two live blocks of a key wins, and writes the right
 * key count back.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include "internal.h"

/* booklet's defaults (§2.4, §12, §7.1). */
void
blt_options_default(struct blt_options *o)
{
	memset(o, 0, sizeof *o);
	o->timestamps = 1;
	o->n_buckets = BLT_DEFAULT_BUCKETS;
	o->key_serializer = BLT_SER_NONE;
	o->value_serializer = BLT_SER_NONE;
	o->lock_timeout = -1;
	o->write_buffer = 4u << 20;
}

/* The current time in µs since the epoch. */
int64_t
blt_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int
store_check_options(const char *path, const struct blt_options *o)
{
	if (o->n_buckets == 0)
		return err_set(
		    -EINVAL, "%s: an index needs at least 1 bucket", path);
	if (hdr_check_buckets(path, o->n_buckets) < 0)
		return -EINVAL; /* else up to 24 GiB written at once */
	if (o->key_serializer > BLT_SER_MAX ||
	    o->value_serializer > BLT_SER_MAX)
		return err_set(-EINVAL, "%s: unknown serializer code %u", path,
		    o->key_serializer > BLT_SER_MAX ? o->key_serializer
		                                    : o->value_serializer);
	return 0;
}

/* Write a new header and an empty index into the empty file of db. */
static int
store_create(struct blt *db, const struct blt_options *o)
{
	unsigned char hdr[HEADER_LEN];
	int rc;

	hdr_build(hdr, o);
	if ((rc = io_write(db, 0, hdr, HEADER_LEN)) < 0 ||
	    (rc = io_fill(db, HEADER_LEN, o->n_buckets, PTR_END)) < 0)
		return rc;
	return io_sync(db);
}

/* Rebuild every chain of the current index from a scan of the data, with
 * the later of two live blocks of one key winning; count the keys. */
int
store_rebuild_index(struct blt *db)
{
	const unsigned char *base;
	struct scan s;
	struct block b;
	int rc;

	if ((rc = io_fill(db, db->h.index_off, db->h.n_buckets, PTR_END)) < 0)
		return rc;
	base = db->map->base;
	db->n_keys = 0;
	db->usage_known = 0;
	scan_init(&s, db, base, db->h.index_off, db->h.n_buckets,
	    db->h.first_data, db->size);
	s.lax = 1; /* every next pointer is rewritten here */
	while ((rc = scan_next(&s, &b)) > 0) {
		if (!block_keyed(&b)) {
			/* Not a block we wrote whole: never make it live. */
			if ((rc = io_put_ptr(db, b.off + BLOCK_NEXT_OFF,
			         PTR_TOMBSTONE)) < 0)
				return rc;
			continue;
		}
		if ((rc = index_link(db, index_slot(db, b.digest), b.digest,
		         b.off, NULL, INDEX_TOMB_NOW)) < 0)
			return rc;
		if (rc == 1 &&
		    (db->h.fixed || !hash_internal_key(b.key, b.klen)))
			db->n_keys++;
	}
	if (rc == -EUCLEAN && s.end == db->size && s.next_end == 0) {
		/* A block that runs past the end of the last region is a torn
		 * append: cut it off. */
		rc = io_truncate(db, s.pos);
	}
	if (rc == 0)
		scan_trust(db, db->size); /* every live block was hashed */
	return rc;
}

/* Recover a store left with the unclean sentinel; see the top of file. */
int
store_recover(struct blt *db)
{
	uint64_t j[5];
	int rc;

	db->dirty = 1;
	if (hdr_journal_read(db->map->base, j) == JOURNAL_REINDEX &&
	    (rc = reindex_finish(db, j)) < 0)
		return rc;
	if ((rc = store_rebuild_index(db)) < 0 || (rc = io_sync(db)) < 0 ||
	    (rc = hdr_write_nkeys(db, (uint32_t)db->n_keys)) < 0 ||
	    (rc = io_sync(db)) < 0)
		return rc;
	db->dirty = 0;
	db->flags |= BLT_RECOVERED;
	return 0;
}

/* Remove the new file of a prune that a crash interrupted before its
 * rename: the store itself is whole, the leftover is garbage. */
static void
store_drop_leftover(struct blt *db)
{
	char *tmp = prune_file_name(db->file);

	if (tmp != NULL)
		(void)io_unlink(tmp);
	free(tmp);
}

/* Open the store at path. */
int
blt_open(
    const char *path, int mode, const struct blt_options *opt, struct blt **out)
{
	struct blt_options defaults;
	struct blt *db;
	int rc, created;

	*out = NULL;
	if (opt == NULL) {
		blt_options_default(&defaults);
		opt = &defaults;
	}
	if (mode < BLT_RDONLY || mode > BLT_TRUNC)
		return err_set(-EINVAL, "%s: unknown open mode %d", path, mode);
	if ((rc = store_check_options(path, opt)) < 0 ||
	    (rc = birth_prepare(path, mode, opt)) < 0)
		return rc;
	if ((db = calloc(1, sizeof *db)) == NULL)
		return err_oom(path);
	db->fd = -1;
	if ((db->path = strdup(path)) == NULL) {
		free(db);
		return err_oom(path);
	}
	pthread_rwlock_init(&db->lock, NULL);
	pthread_mutex_init(&db->prune_lock, NULL);
	db->rdonly = mode == BLT_RDONLY;
	db->flags = db->rdonly ? BLT_READONLY : 0;
	db->lock_timeout = opt->lock_timeout;
	db->buf_limit = opt->write_buffer ? opt->write_buffer : 4u << 20;
	if ((rc = io_open(db, path, mode)) < 0)
		goto fail;
	if (mode == BLT_TRUNC && (rc = io_truncate(db, 0)) < 0)
		goto fail;
	created = db->size == 0 && mode >= BLT_CREATE;
	if (created && (rc = store_create(db, opt)) < 0)
		goto fail;
	if ((rc = io_map_cover(db, db->size)) < 0 ||
	    (rc = hdr_parse(db, db->map->base)) < 0)
		goto fail;
	/* made with the most buckets: no block yet, so every key it will
	 * have goes through the filter (keyfilter.c) */
	if (created && hdr_next_buckets(db->h.n_buckets) == 0)
		keyfilter_start(db, db->h.n_buckets);
	if (!db->rdonly)
		store_drop_leftover(db);
	db->n_keys = db->h.n_keys_raw;
	if (db->h.n_keys_raw == NKEYS_UNCLEAN ||
	    hdr_open_marked(db->map->base)) {
		/* read-only: counted, as the reference counts it for writing,
		 * once the chains are known to need no repair */
		rc = db->rdonly ? check_readable_as_is(db, &db->n_keys)
		                : store_recover(db);
		if (rc < 0)
			goto fail;
		if (db->rdonly)
			db->flags |= BLT_UNCLEAN;
	} else if ((rc = check_layout_sound(db)) < 0)
		goto fail;
	*out = db;
	return 0;
fail : {
	char msg[1024];

	snprintf(msg, sizeof msg, "%s", blt_errmsg());
	db->rdonly = 1; /* nothing to write back */
	blt_close(db);
	err_set(rc, "%s", msg);
}
	return rc;
}

/* Flush, make durable, mark clean and free. */
int
blt_close(struct blt *db)
{
	int rc = 0;

	if (db == NULL)
		return 0;
	/* shared and let go: written back already (share.c) */
	if (!db->rdonly && db->fd >= 0 && share_may_write(db)) {
		uint64_t size;
		struct stat st;
		int clean;

		pthread_rwlock_wrlock(&db->lock);
		size = db->size;
		rc = write_flush(db, 1);
		/* A last flush whose append failed (a full disk) and was cut
		 * back changed nothing: the store is still sound, and closing
		 * it clean keeps it readable by readers, which refuse an
		 * unclean store.  The puts it carried are lost; rc says so. */
		clean =
		    rc == 0 || (db->size == size && fstat(db->fd, &st) == 0 &&
		                   (uint64_t)st.st_size == size);
		if (clean && db->dirty) {
			int crc = hdr_write_nkeys(db, (uint32_t)db->n_keys);

			if (crc == 0)
				crc = io_sync(db);
			if (rc == 0)
				rc = crc;
		}
		pthread_rwlock_unlock(&db->lock);
	}
	io_close(db);
	write_free(db);
	keydir_drop(db);
	keyfilter_drop(db);
	share_free(db);
	peek_free(db);
	pthread_rwlock_destroy(&db->lock);
	pthread_mutex_destroy(&db->prune_lock);
	free(db->path);
	free(db);
	return rc;
}

/* Flags of an open store, from any thread. */
int
blt_flags(struct blt *db)
{
	return __atomic_load_n(&db->flags, __ATOMIC_RELAXED);
}

/* The path the store was opened with. */
const char *
blt_path(struct blt *db)
{
	return db->path;
}
