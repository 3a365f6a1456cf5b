/*
 * put.c: puts whose value is written without the store's write lock.
 *
 * A block too big for the write buffer would hold the lock, and with it
 * every reader of the store, for as long as its value takes to write: a
 * second or more for a gigabyte.  Such a put goes in three steps instead,
 * each the same as a flush's (see write.c) but with the lock let go in
 * the middle:
 *
 *   begin  under the lock: append the block's head with next pointer 0, a
 *          tombstone that scans step over, and grow the file past the
 *          value (io_reserve), so that later appends go after it;
 *   fill   with no lock: write the value into its place, through a
 *          duplicate of the store's descriptor, since a prune may close
 *          the original meanwhile;
 *   end    under the lock: link the block (its next pointer set first),
 *          which makes it the key's value.
 *
 * Until the end the key keeps its old value for every reader.  A crash
 * leaves a tombstone (dead bytes for the next prune) or, before the file
 * grew, a torn tail that the next open cuts.  A prune or clear that
 * replaced the file in between took the value with the old file: the end
 * writes the block again, under the lock.  So does the end of a put placed
 * before a prune that is still copying began: the prune carries over only
 * blocks appended after its start, and it took this one for dead.  A put that
 * fails or is cancelled leaves its tombstone, cut off again when nothing came
 * after it.  blt_put() takes these steps by itself for a big value; bltfs takes
 * them apart so that its own lock is not held while the value is written.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "internal.h"

struct blt_put_op {
	struct blt *db;
	unsigned char digest[HASH_LEN];
	unsigned char *head; /* the encoded head, kept for a second try */
	size_t hlen;
	uint64_t off, vlen; /* where the block starts; its value's length */
	uint64_t gen;       /* db->gen when the place was made */
	int fd;             /* a duplicate of the store's descriptor */
	const void *value;  /* what blt_put_fill() wrote */
	int filled;
	int rc; /* and what that gave */
};

/* Let go of p's place: cut its block off if nothing came after it, else
 * leave it a tombstone.  The write lock is held. */
static void
put_unplace(struct blt_put_op *p)
{
	struct blt *db = p->db;

	io_close_dup(p->fd);
	p->fd = -1;
	if (db->gen == p->gen && db->size == p->off + p->hlen + p->vlen)
		io_cut_back(db, p->off); /* keeps the message there is */
}

/* Make the place of p's block at the end of the file: its head, then the
 * room for its value.  The write lock is held. */
static int
put_place(struct blt_put_op *p)
{
	struct blt *db = p->db;
	int rc;

	p->off = db->size;
	p->gen = db->gen;
	if ((rc = hdr_mark_dirty(db)) < 0 ||
	    (rc = io_reserve(db, p->head, p->hlen, p->hlen + p->vlen)) < 0)
		return rc;
	if ((p->fd = io_dup(db)) < 0) {
		rc = p->fd;
		p->fd = -1;
		put_unplace(p);
		return rc;
	}
	return 0;
}

static void
put_free(struct blt_put_op *p)
{
	free(p->head);
	free(p);
}

/* Begin a put of a vlen-byte value under digest; the write lock is held
 * and the arguments are checked. */
static int
put_begin_locked(struct blt *db, const unsigned char *digest, const void *key,
    size_t klen, uint64_t vlen, int64_t ts, struct blt_put_op **out)
{
	struct blt_put_op *p;
	int rc;

	*out = NULL;
	if ((rc = write_flush(db, 0)) < 0)
		return rc;
	if ((p = calloc(1, sizeof *p)) == NULL ||
	    (p->head = malloc(p->hlen = block_size(db, klen, 0))) == NULL) {
		free(p);
		return err_oom(db->path);
	}
	p->db = db;
	p->fd = -1;
	p->vlen = vlen;
	memcpy(p->digest, digest, HASH_LEN);
	block_encode(
	    db, p->head, digest, PTR_TOMBSTONE, key, klen, NULL, 0, ts);
	if (!db->h.fixed)
		le_put(p->head + BLOCK_VLEN_OFF, vlen, VLEN_LEN);
	if ((rc = put_place(p)) < 0) {
		put_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

/* The value is written 256 KiB per call: the kernel lets one write to a
 * file run at a time, and the append of another put (made under the
 * engine's lock, which readers then wait for) would otherwise wait for
 * the whole value.  Writing a gigabyte in one call held every reader of
 * the mount for 0.6 to 3.8 s; in pieces of 256 KiB, 90 ms at most
 * (bench/bench_stall.sh). */
#define PUT_CHUNK (256u << 10)

/* Write p's value into its place; no lock is needed. */
int
blt_put_fill(struct blt_put_op *p, const void *value)
{
	const unsigned char *v = value;
	uint64_t done = 0;
	size_t n;

	p->value = value;
	p->filled = 1;
	p->rc = 0;
	while (done < p->vlen && p->rc == 0) {
		n = p->vlen - done < PUT_CHUNK ? (size_t)(p->vlen - done)
		                               : PUT_CHUNK;
		p->rc = io_pwrite(
		    p->db, p->fd, p->off + p->hlen + done, v + done, n);
		done += n;
	}
	return p->rc;
}

/* Make p's block the key's value and free p; the write lock is held. */
static int
put_end_locked(struct blt_put_op *p)
{
	struct blt *db = p->db;
	int rc = p->rc;

	if (!p->filled && p->vlen > 0)
		rc = err_set(-EINVAL,
		    "%s: a put ended before its value was written", db->path);
	else if (rc == 0 &&
	         (db->gen != p->gen ||
	             (db->prune_eof != 0 && p->off < db->prune_eof))) {
		/* the file was replaced, or a prune is copying it, and its
		 * copy would miss a block placed before the prune began (it
		 * was a tombstone then) and linked after: once more, at the
		 * end, keeping the lock */
		io_close_dup(p->fd);
		p->fd = -1;
		if ((rc = put_place(p)) == 0)
			rc = blt_put_fill(p, p->value);
	}
	if (rc < 0) {
		put_unplace(p);
		put_free(p);
		return rc;
	}
	io_close_dup(p->fd);
	db->unsynced = 1; /* the value, written without the lock */
	if ((rc = hdr_mark_dirty(db)) < 0)
		; /* the store stays marked unclean */
	else if ((rc = write_link(
	              db, index_slot(db, p->digest), p->digest, p->off)) == 0 &&
	         (rc = write_bury(db)) == 0)
		rc = reindex_auto(db);
	else if (rc == -EUCLEAN) /* a damaged chain; the block stays dead */
		rc = write_reclean(db, rc);
	put_free(p);
	return rc;
}

/* blt_put() of a value too big for the buffer; the write lock is held
 * and let go while the value is written.  With cond (blt_put_if()), the
 * key must still hold cond's value when the lock is taken again, or the
 * put is cancelled and 0 returned: a write of the key meanwhile wins.
 * Returns 1 once a conditional put is stored. */
int
put_direct(struct blt *db, const unsigned char *digest, const void *key,
    size_t klen, const void *value, uint64_t vlen, int64_t ts,
    const struct put_if *cond)
{
	struct blt_put_op *p;
	int rc;

	if ((rc = put_begin_locked(db, digest, key, klen, vlen, ts, &p)) < 0)
		return rc;
	pthread_rwlock_unlock(&db->lock);
	(void)blt_put_fill(p, value);
	pthread_rwlock_wrlock(&db->lock);
	if (cond != NULL &&
	    (rc = write_holds(db, digest, key, klen, cond)) != 1) {
		put_unplace(p);
		put_free(p);
		return rc;
	}
	if ((rc = put_end_locked(p)) < 0)
		return rc;
	return cond != NULL;
}

int
blt_put_begin(struct blt *db, const void *key, size_t klen, size_t vlen,
    int64_t ts, struct blt_put_op **out)
{
	unsigned char digest[HASH_LEN];
	int rc;

	*out = NULL;
	if ((rc = write_put_args(db, key, klen, vlen, &ts, digest)) < 0)
		return rc;
	pthread_rwlock_wrlock(&db->lock);
	rc = put_begin_locked(db, digest, key, klen, vlen, ts, out);
	pthread_rwlock_unlock(&db->lock);
	return rc;
}

int
blt_put_end(struct blt_put_op *p)
{
	struct blt *db = p->db;
	int rc;

	pthread_rwlock_wrlock(&db->lock);
	rc = put_end_locked(p);
	pthread_rwlock_unlock(&db->lock);
	return rc;
}

void
blt_put_cancel(struct blt_put_op *p)
{
	struct blt *db;

	if (p == NULL)
		return;
	db = p->db;
	pthread_rwlock_wrlock(&db->lock);
	put_unplace(p);
	pthread_rwlock_unlock(&db->lock);
	put_free(p);
}
