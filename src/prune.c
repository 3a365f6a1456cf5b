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
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define PRUNE_CHUNK (4u << 20)

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

/* Where pass 1 put each block it kept, for the catch-up of an online
 * prune: old offsets ascend, as the scan does. */
struct prune_moves {
	uint64_t (*m)[2]; /* old offset, new offset */
	size_t n, cap;
};

static int
prune_note_move(
    struct blt *db, struct prune_moves *mv, uint64_t from, uint64_t to)
{
	if (mv == NULL)
		return 0;
	if (mv->n == mv->cap) {
		size_t cap = mv->cap ? mv->cap * 2 : 4096;
		uint64_t(*m)[2] = realloc(mv->m, cap * sizeof *m);

		if (m == NULL)
			return err_oom(db->path);
		mv->m = m;
		mv->cap = cap;
	}
	mv->m[mv->n][0] = from;
	mv->m[mv->n][1] = to;
	mv->n++;
	return 0;
}

/* Pass 1: copy the kept blocks of db's regions as s walks them to the end
 * of nb, with next pointers set to 1.  With mv (an online prune) the read
 * lock is taken a few thousand blocks at a time, and every move is noted.
 * Returns the number of blocks removed. */
static int64_t
prune_copy(struct blt *db, struct blt *nb, const struct blt_prune_opts *o,
    struct scan *sp, struct prune_moves *mv)
{
	unsigned char *keep, *out;
	size_t used = 0, steps = 0;
	int64_t removed = 0;
	struct scan s = *sp;
	struct block b;
	int rc;

	if ((rc = prune_keep_digests(db, o, &keep)) < 0)
		return rc;
	if ((out = malloc(PRUNE_CHUNK)) == NULL) {
		free(keep);
		return err_oom(db->path);
	}
	s.all = 1;
	if (mv != NULL)
		pthread_rwlock_rdlock(&db->lock);
	while ((rc = scan_next(&s, &b)) > 0) {
		if (mv != NULL && ++steps % 4096 == 0) {
			/* let writers in now and then */
			pthread_rwlock_unlock(&db->lock);
			pthread_rwlock_rdlock(&db->lock);
		}
		if (b.next == PTR_TOMBSTONE || prune_drops(db, o, keep, &b)) {
			removed++;
			continue;
		}
		if ((rc = prune_note_move(db, mv, b.off, nb->size + used)) < 0)
			break;
		if (used + b.size > PRUNE_CHUNK) {
			if ((rc = io_append(nb, out, used)) < 0)
				break;
			used = 0;
		}
		if (b.size > PRUNE_CHUNK) {
			if ((rc = io_append(
			         nb, s.base + b.off, (size_t)b.size)) < 0 ||
			    (rc = io_put_ptr(
			         nb, nb->size - b.size + 13, PTR_END)) < 0)
				break;
			continue;
		}
		memcpy(out + used, s.base + b.off, (size_t)b.size);
		le_put(out + used + 13, PTR_END, PTR_LEN);
		used += (size_t)b.size;
	}
	if (mv != NULL)
		pthread_rwlock_unlock(&db->lock);
	if (rc == 0 && used > 0)
		rc = io_append(nb, out, used);
	free(out);
	free(keep);
	return rc < 0 ? rc : removed;
}

/* Link the block at q into the chain of its bucket, whose head is at
 * slot in the in-memory index: at the tail, as LINK does (§7.2); a second
 * block of one key (only in a damaged input) replaces the first. */
static int
prune_link_one(struct blt *nb, unsigned char *slot, const struct block *b)
{
	const unsigned char *base = nb->map->base;
	uint64_t p = le_get(slot, PTR_LEN), prev = 0;
	uint64_t hops = nb->size / FIX_FIXED_LEN + 1;
	int rc;

	if (p <= PTR_END) {
		le_put(slot, b->off, PTR_LEN);
		return 1;
	}
	for (;;) {
		uint64_t nxt = le_get(base + p + 13, PTR_LEN);

		if (hops-- == 0)
			return err_set(-EUCLEAN, "%s: a chain loops", nb->path);
		if (memcmp(base + p, b->digest, HASH_LEN) == 0) {
			if ((rc = io_put_ptr(nb, p + 13, PTR_TOMBSTONE)) < 0 ||
			    (nxt > PTR_END &&
			        (rc = io_put_ptr(nb, b->off + 13, nxt)) < 0))
				return rc;
			if (prev == 0)
				le_put(slot, b->off, PTR_LEN);
			else if ((rc = io_put_ptr(nb, prev, b->off)) < 0)
				return rc;
			return 0;
		}
		if (nxt <= PTR_END)
			return (rc = io_put_ptr(nb, p + 13, b->off)) < 0 ? rc
			                                                 : 1;
		prev = p + 13;
		p = nxt;
	}
}

/* Pass 2: link every block of nb into an index built in memory, then write
 * the index after the data in one go (the reference links through the file,
 * which faults in the new index page by page).  Returns the user keys. */
static int64_t
prune_link(struct blt *nb, uint32_t n_buckets)
{
	uint64_t end = nb->size;
	int64_t n_keys = 0;
	unsigned char *index;
	struct scan s;
	struct block b;
	int rc;

	if ((index = malloc((size_t)n_buckets * PTR_LEN)) == NULL)
		return err_oom(nb->path);
	for (uint32_t i = 0; i < n_buckets; i++)
		le_put(index + (size_t)i * PTR_LEN, PTR_END, PTR_LEN);
	nb->h.n_buckets = n_buckets;
	nb->h.index_off = end > HEADER_LEN ? end : HEADER_LEN;
	nb->h.first_data = end > HEADER_LEN
	                       ? HEADER_LEN
	                       : HEADER_LEN + (uint64_t)PTR_LEN * n_buckets;
	scan_init(&s, nb, nb->map->base, nb->h.index_off, n_buckets,
	    nb->h.first_data, end);
	while ((rc = scan_next(&s, &b)) > 0) {
		unsigned char *slot =
		    index + (size_t)hash_bucket(b.digest, n_buckets) * PTR_LEN;

		if ((rc = prune_link_one(nb, slot, &b)) < 0)
			break;
		if (rc == 1 &&
		    (nb->h.fixed || !hash_internal_key(b.key, b.klen)))
			n_keys++;
	}
	if (rc == 0)
		rc = io_write(
		    nb, nb->h.index_off, index, (size_t)n_buckets * PTR_LEN);
	free(index);
	return rc < 0 ? rc : n_keys;
}

/* fsync the directory holding path, so that a rename in it is durable. */
static int
prune_sync_dir(const char *path)
{
	char *copy = strdup(path);
	int fd, rc = 0;

	if (copy == NULL)
		return err_oom(path);
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 || fsync(fd) == -1)
		rc = err_set(-errno, "%s: fsync of its directory: %s", path,
		    strerror(errno));
	if (fd != -1)
		close(fd);
	free(copy);
	return rc;
}

/* Create the new file beside db, locked and with db's header. */
static int
prune_create(struct blt *db, struct blt *nb)
{
	unsigned char hdr[HEADER_LEN];
	struct stat st;

	memset(nb, 0, sizeof *nb);
	nb->fd = -1;
	nb->h = db->h;
	nb->lock_timeout = 0;
	if (asprintf(&nb->path, "%s.bltfs-tmp", db->path) < 0) {
		nb->path = NULL;
		return err_oom(db->path);
	}
	nb->fd = open(nb->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (nb->fd == -1)
		return err_set(-errno, "%s: %s", nb->path, strerror(errno));
	if (fstat(db->fd, &st) == 0)
		(void)fchmod(nb->fd, st.st_mode & 07777);
	if (flock(nb->fd, LOCK_EX | LOCK_NB) == -1)
		return err_set(
		    -errno, "%s: cannot lock: %s", nb->path, strerror(errno));
	memcpy(hdr, db->map->base, HEADER_LEN);
	memset(hdr + JOURNAL_OFF, 0, JOURNAL_LEN);
	return io_write(nb, 0, hdr, HEADER_LEN);
}

/* Finish the new file nb holding n_keys user keys, make it durable and put
 * it in db's place; the caller holds db's write lock.  On failure nb is
 * removed. */
static int
prune_commit(struct blt *db, struct blt *nb, int64_t n_keys)
{
	int rc;

	if ((rc = hdr_write_layout(nb)) < 0 ||
	    (rc = hdr_write_nkeys(nb, (uint32_t)n_keys)) < 0 ||
	    (rc = io_sync(nb)) < 0)
		return rc;
	if (rename(nb->path, db->path) == -1)
		return err_set(-errno, "%s: cannot rename %s into place: %s",
		    db->path, nb->path, strerror(errno));
	rc = prune_sync_dir(db->path);
	io_close(db);
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
	db->usage_known = 0;
	free(nb->path);
	nb->path = NULL;
	nb->map = NULL;
	nb->fd = -1;
	return rc;
}

static void
prune_discard(struct blt *nb)
{
	if (nb->path != NULL)
		unlink(nb->path);
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
	struct blt nb;
	struct scan s;
	int64_t removed = 0, n_keys = 0;
	int rc;

	if ((rc = prune_create(db, &nb)) < 0)
		goto fail;
	scan_init(&s, db, db->map->base, db->h.index_off, db->h.n_buckets,
	    db->h.first_data, db->size);
	if (!clear && (removed = prune_copy(db, &nb, o, &s, NULL)) < 0) {
		rc = (int)removed;
		goto fail;
	}
	if ((n_keys = prune_link(&nb, n_buckets)) < 0) {
		rc = (int)n_keys;
		goto fail;
	}
	if ((rc = prune_commit(db, &nb, n_keys)) < 0)
		goto fail;
	return removed;
fail:
	prune_discard(&nb);
	return rc;
}

/* Carry over to nb what writers did to db while it was copied; db's write
 * lock is held.  Copies whose originals died are unlinked, timestamps set
 * meanwhile are copied, and blocks appended since eof0 are appended and
 * linked.  Adjusts *n_keys and *removed. */
static int
prune_catch_up(struct blt *db, struct blt *nb, const struct prune_moves *mv,
    uint64_t eof0, int64_t *n_keys, int64_t *removed)
{
	const unsigned char *base = db->map->base;
	struct block b, nbk;
	struct scan s;
	uint64_t prev;
	int rc;

	for (size_t i = 0; i < mv->n; i++) {
		uint64_t from = mv->m[i][0], to = mv->m[i][1];

		if (le_get(base + from + 13, PTR_LEN) != PTR_TOMBSTONE) {
			if (db->h.ts_len &&
			    memcmp(base + from + VAR_FIXED_LEN,
			        nb->map->base + to + VAR_FIXED_LEN, TS_LEN) &&
			    (rc = io_write(nb, to + VAR_FIXED_LEN,
			         base + from + VAR_FIXED_LEN, TS_LEN)) < 0)
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
			(*n_keys)--;
		(*removed)++;
	}
	scan_init(&s, db, base, HEADER_LEN, 0, eof0, db->size);
	while ((rc = scan_next(&s, &b)) > 0) {
		uint64_t q = nb->size;

		if ((rc = io_append(nb, base + b.off, (size_t)b.size)) < 0 ||
		    (rc = io_put_ptr(nb, q + 13, PTR_END)) < 0 ||
		    (rc = index_link(nb, b.digest, q, NULL)) < 0)
			return rc;
		if (rc == 1 &&
		    (nb->h.fixed || !hash_internal_key(b.key, b.klen)))
			(*n_keys)++;
	}
	return rc;
}

/* Compact db while readers and writers go on; see blt_prune(). */
int64_t
prune_online(struct blt *db, const struct blt_prune_opts *o)
{
	struct prune_moves mv = {NULL, 0, 0};
	struct io_map *snap = NULL;
	struct blt nb;
	struct scan s;
	uint64_t eof0 = 0;
	uint32_t n_buckets = 0;
	int64_t removed = 0, n_keys = 0;
	int rc;

	memset(&nb, 0, sizeof nb);
	nb.fd = -1;
	pthread_rwlock_wrlock(&db->lock);
	n_buckets = o == NULL || o->n_buckets == 0 ? db->h.n_buckets
	            : o->n_buckets == BLT_GROW
	                ? hdr_next_buckets(db->h.n_buckets)
	                : o->n_buckets;
	if (n_buckets <= db->h.n_buckets && n_buckets != db->h.n_buckets)
		rc = err_set(-EINVAL, "%s: the index has %u buckets already",
		    db->path, db->h.n_buckets);
	else if (n_buckets == db->h.n_buckets && o != NULL && o->n_buckets != 0)
		rc = err_set(-EINVAL,
		    "%s: the index has %u buckets; growing needs more",
		    db->path, db->h.n_buckets);
	else if ((rc = write_flush(db, 0)) == 0 &&
	         (rc = prune_create(db, &nb)) == 0) {
		db->defer_reindex =
		    1; /* the appended range holds blocks only */
		snap = io_map_ref(db->map);
		eof0 = db->size;
		scan_init(&s, db, snap->base, db->h.index_off, db->h.n_buckets,
		    db->h.first_data, eof0);
	}
	pthread_rwlock_unlock(&db->lock);
	if (rc < 0) {
		prune_discard(&nb);
		return rc;
	}
	if ((removed = prune_copy(db, &nb, o, &s, &mv)) < 0)
		rc = (int)removed;
	else if ((n_keys = prune_link(&nb, n_buckets)) < 0)
		rc = (int)n_keys;
	else
		rc = io_sync(&nb); /* the bulk, outside the lock */
	io_map_unref(snap);
	pthread_rwlock_wrlock(&db->lock);
	db->defer_reindex = 0;
	if (rc == 0 && (rc = write_flush(db, 0)) == 0 &&
	    (rc = prune_catch_up(db, &nb, &mv, eof0, &n_keys, &removed)) == 0 &&
	    (rc = prune_commit(db, &nb, n_keys)) == 0)
		rc = reindex_auto(db);
	pthread_rwlock_unlock(&db->lock);
	free(mv.m);
	prune_discard(&nb);
	return rc < 0 ? rc : removed;
}

/* Compact the store. */
int64_t
blt_prune(struct blt *db, const struct blt_prune_opts *opts)
{
	int64_t rc;

	if (db->rdonly)
		return err_set(-EROFS, "%s: opened read-only", db->path);
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
	pthread_mutex_lock(&db->prune_lock);
	pthread_rwlock_wrlock(&db->lock);
	write_discard(db);
	rc = prune_run(db, NULL, db->h.n_buckets, 1);
	pthread_rwlock_unlock(&db->lock);
	pthread_mutex_unlock(&db->prune_lock);
	return rc < 0 ? (int)rc : 0;
}
