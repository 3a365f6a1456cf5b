/*
 * read.c: lookups — get, read, find, exists, timestamps — and the counts
 * and statistics of an open store.  Lookups hold the read lock only, so
 * any number of threads look up at once, with no system call: the chain is
 * walked in the memory map, or in the write buffer for a key put since the
 * last flush.
 */
#include "config.h"

#include <errno.h>

#include "internal.h"

/* Find the newest block of key, whose digest is digest, in the buffer or
 * in the file; the caller holds the lock.  Returns 1, 0 when missing, or
 * an error. */
int
read_newest(struct blt *db, const unsigned char *digest, const void *key,
    size_t klen, struct block *b)
{
	if (write_pending_find(db, digest, b))
		return 1;
	return index_find(db, digest, key, klen, b, NULL);
}

/* read_newest() from the key alone, through the keydir when it knows the
 * key; the caller holds the lock and calls read_unlock(). */
static int
read_lookup(struct blt *db, const void *key, size_t klen, struct block *b)
{
	unsigned char digest[HASH_LEN];
	int rc;

	if (klen > BLT_KEY_MAX)
		return 0;
	if ((rc = keydir_find(db, key, klen, b)) != KEYDIR_UNKNOWN)
		return rc;
	hash_digest(key, klen, digest);
	if ((rc = read_newest(db, digest, key, klen, b)) > 0)
		keydir_note_hit(db);
	return rc;
}

/* Let go of the lock after read_lookup(), and build the keydir if that is
 * due. */
static void
read_unlock(struct blt *db)
{
	pthread_rwlock_unlock(&db->lock);
	keydir_build(db);
}

static int
read_missing(struct blt *db)
{
	return err_missing(db->path);
}

/* Copy up to cap bytes of key's value. */
ssize_t
blt_get(struct blt *db, const void *key, size_t klen, void *buf, size_t cap,
    int64_t *ts)
{
	struct block b;
	ssize_t rc;

	if (peek_held(db)) {
		if ((rc = peek_get(db, key, klen, buf, cap, ts)) != -EAGAIN ||
		    (rc = share_peek_lock(db)) < 0)
			return rc;
		rc = blt_get(db, key, klen, buf, cap, ts);
		share_peek_unlock(db);
		return rc;
	}
	pthread_rwlock_rdlock(&db->lock);
	if ((rc = read_lookup(db, key, klen, &b)) == 0) {
		rc = read_missing(db);
	} else if (rc > 0) {
		if (cap > 0 && b.vlen > 0) {
			size_t n = b.vlen < cap ? (size_t)b.vlen : cap;

			io_read_ahead(db, b.value, n);
			memcpy(buf, b.value, n);
		}
		if (ts != NULL)
			*ts = b.ts;
		rc = (ssize_t)b.vlen;
	}
	read_unlock(db);
	return rc;
}

/* blt_get_many() takes its keys READ_CHUNK at a time under one hold of the
 * read lock, and each chunk READ_GROUP at a time through four steps: hash
 * the keys and prefetch their bucket slots; read the slots and prefetch the
 * first blocks; prefetch the second blocks of chains whose first block is
 * another key's; finish.  The steps run as a pipeline, each a group behind
 * the step before it, so that between a prefetch and the read it serves
 * lies the hashing of a group: time enough for the memory to answer.  Groups of
 * 2 were the fastest on a 1,000,000-key store (4.6 M keys/s; 4.0 M with 8, 3.6
 * M with 16): bigger ones fill and drain the pipeline longer.  Through the
 * keydir the steps are: hash and prefetch the keydir's slot; read it and
 * prefetch the block; nothing; finish. */
#define READ_GROUP 2
#define READ_CHUNK 256

struct read_lookup {
	int kd; /* through the keydir, with the key's hash kh */
	uint64_t kh;
	unsigned char digest[HASH_LEN];
	uint64_t slot, p;
};

/* Run step (0 to 2) for one key. */
static void
read_step(struct blt *db, int step, const void *key, size_t klen,
    struct read_lookup *l)
{
	const unsigned char *base = db->map->base;

	if (klen > BLT_KEY_MAX)
		return;
	switch (step) {
	case 0:
		if ((l->kd = keydir_ahead(db, key, klen, &l->kh) == 0))
			break;
		hash_digest(key, klen, l->digest);
		l->slot = index_slot(db, l->digest);
		__builtin_prefetch(base + l->slot);
		break;
	case 1:
		if (l->kd) {
			block_prefetch(db, keydir_block_of(db, l->kh));
			break;
		}
		l->p = io_get_ptr(db, l->slot);
		block_prefetch(db, l->p);
		break;
	default: /* a quarter of the keys are not first in their chain */
		if (!l->kd && l->p > PTR_END &&
		    l->p + FIX_FIXED_LEN <= db->size &&
		    memcmp(base + l->p, l->digest, HASH_LEN) != 0)
			block_prefetch(
			    db, le_get(base + l->p + BLOCK_NEXT_OFF, PTR_LEN));
	}
}

/* The last step for one key: look it up and hand the result to fn. */
static int
read_finish(struct blt *db, const void *key, size_t klen,
    const struct read_lookup *l, size_t i, blt_get_fn *fn, void *arg)
{
	struct block b;
	int rc = 0;

	/* a key longer than BLT_KEY_MAX cannot be stored: missing */
	if (klen > BLT_KEY_MAX)
		rc = 0;
	else if (l->kd)
		rc = keydir_find_ahead(db, l->kh, key, klen, &b);
	else if ((rc = write_pending_find(db, l->digest, &b)
	                   ? 1
	                   : index_walk(db, l->slot, l->p, l->digest, key, klen,
	                         &b, NULL)) > 0)
		keydir_note_hit(db);
	if (rc > 0)
		return fn(arg, i, b.value, (size_t)b.vlen, b.ts, 0);
	return fn(arg, i, NULL, 0, BLT_NO_TS, rc == 0 ? read_missing(db) : rc);
}

/* Look up keys [first, first + n), n <= READ_CHUNK; the caller holds the
 * read lock. */
static int
read_chunk(struct blt *db, size_t first, size_t n, const void *const *keys,
    const size_t *klens, blt_get_fn *fn, void *arg)
{
	struct read_lookup l[READ_CHUNK];
	size_t groups = (n + READ_GROUP - 1) / READ_GROUP;
	int rc = 0;

	for (size_t t = 0; t < groups + 3 && rc == 0; t++) {
		for (int step = 0; step < 4 && rc == 0; step++) {
			size_t g = t - (size_t)step, a = g * READ_GROUP;
			size_t end = a + READ_GROUP < n ? a + READ_GROUP : n;

			if (t < (size_t)step || g >= groups)
				continue;
			for (size_t i = a; i < end && rc == 0; i++)
				if (step < 3)
					read_step(db, step, keys[first + i],
					    klens[first + i], &l[i]);
				else
					rc = read_finish(db, keys[first + i],
					    klens[first + i], &l[i], first + i,
					    fn, arg);
		}
	}
	return rc;
}

int
blt_get_many(struct blt *db, size_t n, const void *const *keys,
    const size_t *klens, blt_get_fn *fn, void *arg)
{
	int rc = 0;

	for (size_t c = 0; c < n && rc == 0; c += READ_CHUNK) {
		/* the lock is let go between chunks, for writers */
		pthread_rwlock_rdlock(&db->lock);
		rc = read_chunk(db, c, n - c < READ_CHUNK ? n - c : READ_CHUNK,
		    keys, klens, fn, arg);
		read_unlock(db);
	}
	return rc;
}

/* Copy up to n bytes of key's value from off. */
ssize_t
blt_read(struct blt *db, const void *key, size_t klen, uint64_t off, void *buf,
    size_t n)
{
	return blt_read_at(db, key, klen, 0, 0, off, buf, n);
}

/* blt_read() that tries the block at the hint first, as blt_find_at()
 * does; a buffered put, newer than any block, makes it look the key up. */
ssize_t
blt_read_at(struct blt *db, const void *key, size_t klen, uint64_t at,
    uint64_t gen, uint64_t off, void *buf, size_t n)
{
	struct block b;
	ssize_t rc;

	if (peek_held(db)) {
		if ((rc = peek_read(db, key, klen, at, gen, off, buf, n)) !=
		        -EAGAIN ||
		    (rc = share_peek_lock(db)) < 0)
			return rc;
		rc = blt_read_at(db, key, klen, at, gen, off, buf, n);
		share_peek_unlock(db);
		return rc;
	}
	pthread_rwlock_rdlock(&db->lock);
	if (at != 0 && gen == db->gen && db->n_pend == 0 &&
	    block_live_at(db, at, key, klen, &b))
		rc = 1;
	else
		rc = read_lookup(db, key, klen, &b);
	if (rc == 0) {
		rc = read_missing(db);
	} else if (rc > 0) {
		uint64_t left = off < b.vlen ? b.vlen - off : 0;

		if (left < n)
			n = (size_t)left;
		if (n > 0) {
			io_read_ahead(db, b.value + off, n);
			memcpy(buf, b.value + off, n);
		}
		rc = (ssize_t)n;
	}
	read_unlock(db);
	return rc;
}

int
blt_find_nowait(
    struct blt *db, const void *key, size_t klen, struct blt_entry *e)
{
	if (peek_held(db))
		return peek_find_now(db, key, klen, e);
	return blt_find(db, key, klen, e);
}

/* Where key's value lies in the file; flushes the buffer there first. */
int
blt_find(struct blt *db, const void *key, size_t klen, struct blt_entry *e)
{
	return blt_find_at(db, key, klen, 0, 0, e);
}

/* blt_find() that tries the block at the hint first.  Once the buffer is
 * flushed (a buffered put would be newer than any block), a live block of
 * key there is the one a lookup would find, and it is read in place of
 * the digest, the bucket and the chain, which are a wait on memory each;
 * a hint that does not hold is passed over under the same lock. */
int
blt_find_at(struct blt *db, const void *key, size_t klen, uint64_t at,
    uint64_t gen, struct blt_entry *e)
{
	struct block b;
	int rc = 0;

	if (peek_held(db)) {
		if ((rc = peek_find_entry(db, key, klen, at, gen, e)) !=
		        -EAGAIN ||
		    (rc = share_peek_lock(db)) < 0)
			return rc;
		rc = blt_find_at(db, key, klen, at, gen, e);
		share_peek_unlock(db);
		return rc;
	}
	pthread_rwlock_rdlock(&db->lock);
	if (db->n_pend > 0) {
		/* Upgrade: flush and look up under the write lock. */
		pthread_rwlock_unlock(&db->lock);
		pthread_rwlock_wrlock(&db->lock);
		rc = write_flush(db, 0);
	}
	if (rc == 0 && at != 0 && gen == db->gen &&
	    block_live_at(db, at, key, klen, &b))
		rc = 1;
	else if (rc == 0)
		rc = read_lookup(db, key, klen, &b);
	if (rc > 0) {
		e->value_off = (uint64_t)(b.value - db->map->base);
		e->value_len = b.vlen;
		e->timestamp = b.ts;
		e->gen = db->gen;
		rc = 0;
	} else if (rc == 0) {
		rc = read_missing(db);
	}
	read_unlock(db);
	return rc;
}

/* 1 if key is live. */
int
blt_exists(struct blt *db, const void *key, size_t klen)
{
	struct block b;
	int rc;

	if (peek_held(db)) {
		struct blt_entry e;

		rc = peek_find_entry(db, key, klen, 0, 0, &e);
		if (rc != -EAGAIN)
			return rc == 0 ? 1 : rc == -ENOENT ? 0 : rc;
		if ((rc = share_peek_lock(db)) < 0)
			return rc;
		rc = blt_exists(db, key, klen);
		share_peek_unlock(db);
		return rc;
	}
	pthread_rwlock_rdlock(&db->lock);
	rc = read_lookup(db, key, klen, &b);
	read_unlock(db);
	return rc;
}

/* key's timestamp. */
int
blt_get_timestamp(struct blt *db, const void *key, size_t klen, int64_t *ts)
{
	struct block b;
	int rc;

	if (peek_held(db) && db->h.ts_len) {
		struct blt_entry e;

		if ((rc = peek_find_entry(db, key, klen, 0, 0, &e)) == 0)
			*ts = e.timestamp;
		if (rc != -EAGAIN || (rc = share_peek_lock(db)) < 0)
			return rc;
		rc = blt_get_timestamp(db, key, klen, ts);
		share_peek_unlock(db);
		return rc;
	}
	if (!db->h.ts_len)
		return err_set(
		    -ENOTSUP, "%s: the store keeps no timestamps", db->path);
	pthread_rwlock_rdlock(&db->lock);
	if ((rc = read_lookup(db, key, klen, &b)) > 0)
		*ts = b.ts;
	read_unlock(db);
	return rc == 0 ? read_missing(db) : rc < 0 ? rc : 0;
}

/* Buffered puts of user keys that are not live in the file: what a flush
 * would add to the count.  Only the newest put of a key counts, and the
 * file is looked up as a flush links (by digest).  The caller holds the
 * lock. */
static int64_t
read_count_pending(struct blt *db)
{
	struct block b, fb;
	int64_t n = 0;
	int rc;

	for (size_t i = 0; i < db->n_pend; i++) {
		if (!write_pending_find(db, db->pend[i].digest, &b) ||
		    b.off != db->pend[i].boff)
			continue; /* an older put of a key put again */
		if (!db->h.fixed && hash_internal_key(b.key, b.klen))
			continue;
		if ((rc = index_find(
		         db, db->pend[i].digest, b.key, b.klen, &fb, NULL)) < 0)
			return rc;
		n += rc == 0;
	}
	return n;
}

/* Live user keys; unlike the reference's len() (§16.2 item 6) this counts
 * buffered puts.  Without flushing them: a count writes nothing, so it
 * cannot fail on a full disk, and the puts stay buffered. */
int64_t
blt_count(struct blt *db)
{
	int64_t n;

	pthread_rwlock_rdlock(&db->lock);
	if ((n = read_count_pending(db)) >= 0)
		n += (int64_t)db->n_keys;
	pthread_rwlock_unlock(&db->lock);
	return n;
}

/* The layout generation. */
uint64_t
blt_generation(struct blt *db)
{
	uint64_t g;

	pthread_rwlock_rdlock(&db->lock);
	g = db->gen;
	pthread_rwlock_unlock(&db->lock);
	return g;
}

/* A descriptor of the store's file and its generation, taken together. */
int
blt_dup_fd(struct blt *db, uint64_t *gen)
{
	int fd;

	pthread_rwlock_rdlock(&db->lock);
	*gen = db->gen;
	fd = io_dup(db);
	pthread_rwlock_unlock(&db->lock);
	return fd;
}

/* Copy the header's facts into *st; the caller holds the lock. */
static void
read_info(const struct blt *db, struct blt_stat *st)
{
	const struct hdr *h = &db->h;

	memset(st, 0, sizeof *st);
	st->version = h->version;
	st->fixed = h->fixed;
	st->value_len = h->value_len;
	st->timestamps = h->ts_len != 0;
	st->key_serializer = h->key_ser;
	st->value_serializer = h->value_ser;
	st->n_keys = db->n_keys;
	st->n_buckets = h->n_buckets;
	st->index_offset = h->index_off;
	st->first_data = h->first_data;
	st->file_bytes = db->size;
	st->created = h->created;
	memcpy(st->uuid, h->uuid, sizeof st->uuid);
}

/* The header's facts, without a scan or a flush. */
int
blt_info(struct blt *db, struct blt_stat *st)
{
	pthread_rwlock_rdlock(&db->lock);
	read_info(db, st);
	pthread_rwlock_unlock(&db->lock);
	return 0;
}

/* Live bytes counted by an earlier scan of the file as it is now: taken
 * only while no scan counted them and nothing was put or deleted since
 * the open, and only if they fit in the file. */
int
blt_set_live_bytes(struct blt *db, uint64_t live_bytes)
{
	uint64_t room;
	int rc = -EINVAL;

	pthread_rwlock_wrlock(&db->lock);
	room = db->size - HEADER_LEN - (uint64_t)PTR_LEN * db->h.n_buckets;
	if (db->usage_known)
		rc = 0;
	else if (db->usage_epoch == 0 && live_bytes <= room) {
		db->live_bytes = live_bytes;
		db->usage_known = 1;
		rc = 0;
	}
	pthread_rwlock_unlock(&db->lock);
	return rc;
}

/* Statistics of the store; flushes the buffer first. */
int
blt_stat(struct blt *db, struct blt_stat *st)
{
	/* without the lock, a file another process changed since it was
	 * followed is not to be scanned, and what was counted of it is
	 * old: its header says what it can (asked before db->lock, which
	 * the share's mutex goes before) */
	int rc = 0, uncounted = peek_held(db) && !share_unchanged(db);

	pthread_rwlock_wrlock(&db->lock);
	if (!uncounted && !db->rdonly && !peek_held(db))
		rc = write_flush(db, 0);
	if (!uncounted && rc == 0 && !db->usage_known &&
	    (rc = scan_usage(db)) == -EUCLEAN && peek_held(db)) {
		uncounted = 1; /* a writer came in the middle: no damage */
		rc = 0;
	}
	if (rc == 0)
		read_info(db, st);
	if (rc == 0 && uncounted)
		peek_info(db, st);
	if (rc == 0 && !uncounted) {
		st->live_bytes = db->live_bytes;
		st->dead_bytes = db->size - HEADER_LEN -
		                 (uint64_t)PTR_LEN * db->h.n_buckets -
		                 db->live_bytes;
	}
	pthread_rwlock_unlock(&db->lock);
	return rc < 0 ? rc : uncounted;
}
