/*
 * meta.c: the metadata (§10) and the two reserved slots (§11), stored as
 * ordinary blocks under internal keys that scans hide and counts leave out.
 * Fixed-length stores have neither: their stride cannot hold them.
 */
#include "config.h"

#include <errno.h>

#include "internal.h"

/* Look up internal key ikey and copy up to cap bytes of its value: an
 * ordinary lookup of its key bytes. */
static ssize_t
meta_get(struct blt *db, const char *ikey, void *buf, size_t cap, int64_t *ts)
{
	ssize_t rc;

	if (db->h.fixed)
		return err_set(-ENOENT,
		    "%s: a fixed-length store has no metadata or reserved "
		    "slots",
		    db->path);
	if ((rc = blt_get(db, ikey, INTERNAL_KEY_LEN, buf, cap, ts)) == -ENOENT)
		return err_set(-ENOENT, "%s: not set", db->path);
	return rc;
}

/* Store data under internal key ikey. */
static int
meta_put(
    struct blt *db, const char *ikey, const void *data, size_t len, int64_t ts)
{
	unsigned char digest[HASH_LEN];
	int rc;

	if (db->rdonly)
		return err_set(-EROFS, "%s: opened read-only", db->path);
	if (db->h.fixed)
		return err_set(-ENOTSUP,
		    "%s: a fixed-length store has no "
		    "metadata or reserved slots",
		    db->path);
	if ((uint64_t)len > BLT_VALUE_MAX)
		return err_set(
		    -EFBIG, "%s: %zu bytes are too many", db->path, len);
	ts = write_timestamp(ts);
	if (db->h.ts_len && (ts < 0 || ts > BLT_TS_MAX))
		return err_set(-EINVAL, "%s: timestamp %lld is out of range",
		    db->path, (long long)ts);
	hash_digest(ikey, INTERNAL_KEY_LEN, digest);
	pthread_rwlock_wrlock(&db->lock);
	rc = write_block(db, digest, ikey, INTERNAL_KEY_LEN, data, len, ts);
	pthread_rwlock_unlock(&db->lock);
	return rc;
}

static int
meta_slot(struct blt *db, int slot)
{
	if (slot == 1 || slot == 2)
		return 0;
	return err_set(
	    -EINVAL, "%s: reserved slot %d: slots are 1 and 2", db->path, slot);
}

/* The metadata JSON text. */
ssize_t
blt_get_meta(struct blt *db, void *buf, size_t cap, int64_t *ts)
{
	return meta_get(db, hash_internal_keys[0], buf, cap, ts);
}

/* Set the metadata JSON text. */
int
blt_set_meta(struct blt *db, const void *json, size_t len, int64_t ts)
{
	return meta_put(db, hash_internal_keys[0], json, len, ts);
}

/* Read reserved slot 1 or 2. */
ssize_t
blt_get_reserved(struct blt *db, int slot, void *buf, size_t cap, int64_t *ts)
{
	int rc;

	if ((rc = meta_slot(db, slot)) < 0)
		return rc;
	return meta_get(db, hash_internal_keys[slot], buf, cap, ts);
}

/* Write reserved slot 1 or 2. */
int
blt_set_reserved(
    struct blt *db, int slot, const void *data, size_t len, int64_t ts)
{
	int rc;

	if ((rc = meta_slot(db, slot)) < 0)
		return rc;
	return meta_put(db, hash_internal_keys[slot], data, len, ts);
}
