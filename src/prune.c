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
prune_keep_digests(struct blt *db, const struct blt_prune_opts *o,
    unsigned char **out)
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

/* Pass 1: copy the kept blocks of db to the end of nb, with next pointers
 * set to 1.  Returns the number of blocks removed. */
static int64_t
prune_copy(struct blt *db, struct blt *nb, const struct blt_prune_opts *o)
{
	unsigned char *keep, *out;
	size_t used = 0;
	int64_t removed = 0;
	struct scan s;
	struct block b;
	int rc;

	if ((rc = prune_keep_digests(db, o, &keep)) < 0)
		return rc;
	if ((out = malloc(PRUNE_CHUNK)) == NULL) {
		free(keep);
		return err_oom(db->path);
	}
	scan_init(&s, db, db->map->base, db->h.index_off, db->h.n_buckets,
	    db->h.first_data, db->size);
	s.all = 1;
	while ((rc = scan_next(&s, &b)) > 0) {
		if (b.next == PTR_TOMBSTONE || prune_drops(db, o, keep, &b)) {
			removed++;
			continue;
		}
		if (used + b.size > PRUNE_CHUNK) {
			if ((rc = io_append(nb, out, used)) < 0)
				break;
			used = 0;
		}
		if (b.size > PRUNE_CHUNK) {
			if ((rc = io_append(nb, db->map->base + b.off,
				 (size_t)b.size)) < 0 ||
			    (rc = io_put_ptr(nb, nb->size - b.size + 13,
				 PTR_END)) < 0)
				break;
			continue;
		}
		memcpy(out + used, db->map->base + b.off, (size_t)b.size);
		le_put(out + used + 13, PTR_END, PTR_LEN);
		used += (size_t)b.size;
	}
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
			return (rc = io_put_ptr(nb, p + 13, b->off)) < 0 ? rc : 1;
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
		if (rc == 1 && (nb->h.fixed || !hash_internal_key(b.key, b.klen)))
			n_keys++;
	}
	if (rc == 0)
		rc = io_write(nb, nb->h.index_off, index,
		    (size_t)n_buckets * PTR_LEN);
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
		return err_set(-errno, "%s: cannot lock: %s", nb->path,
		    strerror(errno));
	memcpy(hdr, db->map->base, HEADER_LEN);
	memset(hdr + JOURNAL_OFF, 0, JOURNAL_LEN);
	return io_write(nb, 0, hdr, HEADER_LEN);
}

/* Write a compacted copy of db (or, with clear, an empty one) with an
 * index of n_buckets, and put it in db's place.  The caller holds the
 * write lock and has flushed the buffer.  Returns the blocks removed. */
int64_t
prune_run(struct blt *db, const struct blt_prune_opts *o, uint32_t n_buckets,
    int clear)
{
	struct blt nb;
	int64_t removed = 0, n_keys = 0;
	int rc;

	if ((rc = prune_create(db, &nb)) < 0)
		goto fail;
	if (!clear && (removed = prune_copy(db, &nb, o)) < 0) {
		rc = (int)removed;
		goto fail;
	}
	if ((n_keys = prune_link(&nb, n_buckets)) < 0) {
		rc = (int)n_keys;
		goto fail;
	}
	if ((rc = hdr_write_layout(&nb)) < 0 ||
	    (rc = hdr_write_nkeys(&nb, (uint32_t)n_keys)) < 0 ||
	    (rc = io_sync(&nb)) < 0)
		goto fail;
	if (rename(nb.path, db->path) == -1) {
		rc = err_set(-errno, "%s: cannot rename %s into place: %s",
		    db->path, nb.path, strerror(errno));
		goto fail;
	}
	rc = prune_sync_dir(db->path);
	io_close(db);
	db->fd = nb.fd;
	db->map = nb.map;
	db->size = nb.size;
	db->h = nb.h;
	db->n_keys = (uint64_t)n_keys;
	db->dirty = 0;
	db->gen++;
	db->live_bytes = nb.h.first_data == HEADER_LEN
			     ? nb.h.index_off - HEADER_LEN
			     : 0;
	db->usage_known = 1;
	free(nb.path);
	return rc < 0 ? rc : removed;
fail:
	if (nb.path != NULL)
		unlink(nb.path);
	free(nb.path);
	io_close(&nb);
	return rc;
}

/* Compact the store. */
int64_t
blt_prune(struct blt *db, const struct blt_prune_opts *opts)
{
	int64_t rc;

	if (db->rdonly)
		return err_set(-EROFS, "%s: opened read-only", db->path);
	pthread_rwlock_wrlock(&db->lock);
	if ((rc = write_flush(db, 0)) == 0)
		rc = prune_run(db, opts, db->h.n_buckets, 0);
	pthread_rwlock_unlock(&db->lock);
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
	pthread_rwlock_wrlock(&db->lock);
	write_discard(db);
	rc = prune_run(db, NULL, db->h.n_buckets, 1);
	pthread_rwlock_unlock(&db->lock);
	return rc < 0 ? (int)rc : 0;
}
