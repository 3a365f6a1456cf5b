/*
 * peek.c: reads of a shared store without its lock (blt_hold_peek()), so
 * that a mount reads while a Python pipeline holds the store open for
 * writing, and the pipeline never waits for the mount's readers.
 *
 * Why a read without the lock can be trusted (doc/durability.md, "Reading
 * beside a writer", says it in full):
 *
 * - A block's digest, lengths, key and value never change once appended
 *   (format §5.3); in place, a writer changes only next pointers, bucket
 *   slots, the header and timestamps.  Only a prune moves blocks, and a
 *   clear or a prune cuts the file.
 * - So a block that reads, before and after its value is read, as the same
 *   live block of the same key (its head, timestamp and key byte for byte)
 *   held that value whole while it was read: a prune that moved other bytes
 *   over it writes in ascending order, the head before the value, and so
 *   would have changed the head the second read sees.  The one exception is
 *   a prune that moves another version of the same key, of the same length
 *   and timestamp, onto the very same offset; the timestamp tells the two
 *   apart in every store that keeps them.
 * - Where a check fails (a chain that meets a tombstone, a pointer to a
 *   block of another bucket or past the end, a head that changed) the read
 *   tries again a few times, and then waits for the lock as before.
 *
 * Every read here is a pread() of the descriptor: no memory map, which a
 * file cut short under it would turn into SIGBUS.  The store's read lock
 * keeps the descriptor from being swapped meanwhile (a prune of our own).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* The store this thread holds without its lock (blt_hold_peek()), if any. */
static __thread struct blt *peek_db;

/* Where keys were last found, by their digest: a read tries there first,
 * since a chain walk may meet a chain cut for a moment (an overwrite of
 * another key between its tombstone and its new pointer, §7.2).  A slot is
 * a hint only, checked like any other, so slots are written and read
 * without a lock and may hold one key's digest and another's offset. */
#define PEEK_HINTS (1u << 18) /* 4 MiB, made at the first such read */
struct peek_hint {
	uint64_t tag; /* the digest's first 8 bytes */
	uint64_t off;
};
struct peek_hints {
	struct peek_hint slot[PEEK_HINTS];
};

/* How often a read that met a change tries again before it waits for the
 * lock; a writer's pointer update or sync takes microseconds. */
#define PEEK_TRIES 16
/* The most blocks a chain walk follows: booklet's chains are a few long. */
#define PEEK_MAX_HOPS 4096
/* Bytes of a head and key read on the stack; longer keys are allocated. */
#define PEEK_SMALL 512

void
peek_enter(struct blt *db)
{
	peek_db = db;
}

void
peek_leave(void)
{
	peek_db = NULL;
}

int
peek_held(const struct blt *db)
{
	return db != NULL && peek_db == db;
}

int
blt_peeking(struct blt *db)
{
	return peek_held(db);
}

void
peek_free(struct blt *db)
{
	free(db->peek_hints);
	db->peek_hints = NULL;
}

/* The first of the two slots where the hint of digest may be, and its
 * tag there: the digest's first 8 bytes, mixed with epoch, the prunes and
 * clears of another process followed so far (share_peek_epoch()), so that
 * a hint of an older layout matches nothing, also one that a read put
 * while a prune was followed. */
static struct peek_hint *
peek_hint_slot(
    struct blt *db, const unsigned char *digest, uint64_t epoch, uint64_t *tag)
{
	struct peek_hints *h =
	    __atomic_load_n(&db->peek_hints, __ATOMIC_ACQUIRE);
	struct peek_hints *fresh = NULL;
	uint64_t d;

	memcpy(&d, digest, sizeof d);
	*tag = d ^ (epoch * UINT64_C(0x9e3779b97f4a7c15));
	if (h == NULL) {
		/* the first thread to read without the lock makes them */
		if ((fresh = calloc(1, sizeof *fresh)) == NULL)
			return NULL;
		if (__atomic_compare_exchange_n(&db->peek_hints, &h, fresh, 0,
		        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			h = fresh;
		else
			free(fresh);
	}
	return &h->slot[d % PEEK_HINTS & ~1u];
}

/* Remember that the key of digest had its block at off, in the layout of
 * epoch: in its slot of the two, or the one that holds no key's, or the
 * second, whose key goes (two ways: a key's hint outlives most others'
 * puts). */
void
peek_hint_put(
    struct blt *db, const unsigned char *digest, uint64_t epoch, uint64_t off)
{
	uint64_t tag;
	struct peek_hint *sl = peek_hint_slot(db, digest, epoch, &tag);

	if (sl == NULL)
		return;
	if (__atomic_load_n(&sl->tag, __ATOMIC_RELAXED) != tag &&
	    __atomic_load_n(&sl->off, __ATOMIC_RELAXED) != 0)
		sl++;
	__atomic_store_n(&sl->tag, tag, __ATOMIC_RELAXED);
	__atomic_store_n(&sl->off, off, __ATOMIC_RELAXED);
}

static uint64_t
peek_hint_get(
    struct blt *db, const unsigned char *digest, uint64_t epoch, int way)
{
	uint64_t tag;
	struct peek_hint *sl = peek_hint_slot(db, digest, epoch, &tag);

	if (sl == NULL ||
	    __atomic_load_n(&sl[way].tag, __ATOMIC_RELAXED) != tag)
		return 0;
	return __atomic_load_n(&sl[way].off, __ATOMIC_RELAXED);
}

/* Read n bytes at off: 1, 0 if the file ends first, or -errno. */
static int
peek_pread(const struct blt *db, void *buf, size_t n, uint64_t off)
{
	unsigned char *p = buf;
	ssize_t got;

	while (n > 0) {
		got = pread(db->fd, p, n, (off_t)off);
		if (got == -1 && errno == EINTR)
			continue;
		if (got == -1)
			return err_set(-errno, "%s: reading at %llu: %s",
			    db->path, (unsigned long long)off, strerror(errno));
		if (got == 0)
			return 0;
		p += got;
		off += (uint64_t)got;
		n -= (size_t)got;
	}
	return 1;
}

/* PEEK_FOUND and PEEK_GONE answer; PEEK_UNSURE is to be tried again. */
#define PEEK_GONE 0
#define PEEK_FOUND 1
#define PEEK_UNSURE 2

/* The layout header bytes h say, in a file of size bytes, as an open reads
 * it (§1, §2.1): 0, or PEEK_UNSURE for one that does not fit the file (a
 * clear or prune half done). */
int
peek_layout_parse(const unsigned char *h, uint64_t size, struct peek_layout *l)
{
	uint64_t io = le_get(h + HDR_INDEX_OFFSET_OFF, PTR_LEN);
	uint64_t fd = le_get(h + HDR_FIRST_DATA_POS_OFF, PTR_LEN);

	memset(l, 0, sizeof *l);
	l->size = size;
	l->n_keys = le_get(h + HDR_N_KEYS_OFF, 4);
	if (l->n_keys == NKEYS_UNCLEAN)
		l->n_keys = UINT64_MAX;
	l->n_buckets = (uint32_t)le_get(h + HDR_N_BUCKETS_OFF, 4);
	io = io == LEGACY_ABSENT ? 0 : io;
	fd = fd == LEGACY_ABSENT ? 0 : fd;
	l->index_off = io ? io : HEADER_LEN;
	l->first_data = fd ? fd : HEADER_LEN + (uint64_t)PTR_LEN * l->n_buckets;
	if (l->n_buckets == 0 ||
	    l->index_off + (uint64_t)PTR_LEN * l->n_buckets > size ||
	    l->first_data < HEADER_LEN || l->first_data > size)
		return PEEK_UNSURE;
	return 0;
}

/* The layout as the header says now, and the file's size. */
static int
peek_layout(const struct blt *db, struct peek_layout *l)
{
	unsigned char h[HDR_UNUSED_OFF];
	struct stat st;
	int rc;

	if (fstat(db->fd, &st) == -1)
		return err_set(-errno, "%s: %s", db->path, strerror(errno));
	if ((rc = peek_pread(db, h, sizeof h, 0)) <= 0)
		return rc < 0 ? rc : PEEK_UNSURE;
	rc = peek_layout_parse(h, (uint64_t)st.st_size, l);
	l->mtime = st.st_mtim;
	return rc;
}

/* How long the file must have stood still before a walk for its "gone"
 * to count (ms).  A prune in place keeps the header as it was until it
 * ends, and meanwhile its new index, all empty buckets at first, may
 * land on the old one's, and blocks moved down end the chains they land
 * in: a walk of the old index then finds a live key's chain empty or cut
 * (bench/bench_reopen.sh: 3 live keys answered ENOENT in 4.3 million
 * reads, each walk finding its bucket empty).  A hint of where the key
 * was shows the move, but not every key has one.  A prune writes without
 * pauses this long (unless the kernel stalls its writeback) until it
 * cuts the file, and its fsync after the cut, before the header moves,
 * is told by the cut (share_peek_cut()); a writer that only appends and
 * links, whose deletes are what a "gone" is for, pauses between its
 * flushes. */
#define PEEK_GONE_STILL_MS 50

/* Whether the file stood still from the looks l to after (a walk between
 * them), and for PEEK_GONE_STILL_MS before the second. */
static int
peek_stood_still(const struct peek_layout *l, const struct peek_layout *after)
{
	struct timespec now;
	int64_t ms;

	if (l->mtime.tv_sec != after->mtime.tv_sec ||
	    l->mtime.tv_nsec != after->mtime.tv_nsec)
		return 0;
	clock_gettime(CLOCK_REALTIME, &now);
	ms = (int64_t)(now.tv_sec - l->mtime.tv_sec) * 1000 +
	     (now.tv_nsec - l->mtime.tv_nsec) / 1000000;
	return ms >= PEEK_GONE_STILL_MS;
}

void
peek_info(struct blt *db, struct blt_stat *st)
{
	unsigned char h[HEADER_LEN];
	struct peek_layout l;
	struct stat fs;
	uint64_t n;

	if (fstat(db->fd, &fs) == -1 || peek_pread(db, h, sizeof h, 0) <= 0 ||
	    peek_layout_parse(h, (uint64_t)fs.st_size, &l) != 0)
		return; /* a prune or clear half done: what was known */
	n = le_get(h + HDR_N_KEYS_OFF, 4);
	if (n != NKEYS_UNCLEAN)
		st->n_keys = n;
	st->n_buckets = l.n_buckets;
	st->index_offset = l.index_off;
	st->first_data = l.first_data;
	st->file_bytes = l.size;
}

/* Two looks at the layout that agree: no prune or clear ended between
 * them, and the file was not cut. */
static int
peek_same_layout(const struct peek_layout *a, const struct peek_layout *b)
{
	return a->index_off == b->index_off && a->n_buckets == b->n_buckets &&
	       a->first_data == b->first_data && b->size >= a->size;
}

/* A block's head and key as read, to be compared after its value. */
struct peek_block {
	uint64_t off;
	size_t len; /* bytes in bytes: the head and klen of the key */
	unsigned char *bytes;
	unsigned char small[PEEK_SMALL];
	uint64_t next, vlen;
	size_t klen; /* the block's own key length */
	int64_t ts;
};

static size_t
peek_head_len(const struct blt *db)
{
	return db->h.fixed ? FIX_FIXED_LEN : VAR_FIXED_LEN + db->h.ts_len;
}

static void
peek_block_init(struct peek_block *pb)
{
	pb->bytes = pb->small;
	pb->len = 0;
}

static void
peek_block_free(struct peek_block *pb)
{
	if (pb->bytes != pb->small)
		free(pb->bytes);
	pb->bytes = pb->small;
}

/* Read the head of the block at off and klen bytes after it (its key, if
 * it is the key looked for): 1, 0 if the file ends first, or -errno. */
static int
peek_block_read(const struct blt *db, uint64_t off, size_t klen, uint64_t size,
    struct peek_block *pb)
{
	size_t head = peek_head_len(db), len = head + klen;
	unsigned char *p;
	int rc;

	if (off < HEADER_LEN || off >= size || size - off < len)
		return 0;
	if (len > PEEK_SMALL && pb->bytes == pb->small) {
		if ((p = malloc(BLT_KEY_MAX + VAR_FIXED_LEN + TS_LEN)) == NULL)
			return err_oom(db->path);
		pb->bytes = p;
	}
	p = pb->bytes;
	if ((rc = peek_pread(db, p, len, off)) <= 0)
		return rc;
	pb->off = off;
	pb->len = len;
	pb->next = le_get(p + BLOCK_NEXT_OFF, PTR_LEN);
	pb->klen = (size_t)le_get(p + BLOCK_KLEN_OFF, KLEN_LEN);
	pb->vlen = db->h.fixed ? db->h.value_len
	                       : le_get(p + BLOCK_VLEN_OFF, VLEN_LEN);
	pb->ts = db->h.ts_len ? (int64_t)le_get(p + BLOCK_TS_OFF, TS_LEN)
	                      : BLT_NO_TS;
	return 1;
}

/* Whether pb, read for key, is a block of key, live or not. */
static int
peek_block_named(const struct peek_block *pb, const unsigned char *digest,
    const void *key, size_t klen, size_t head)
{
	return pb->klen == klen && memcmp(pb->bytes, digest, HASH_LEN) == 0 &&
	       (klen == 0 || memcmp(pb->bytes + head, key, klen) == 0);
}

/* Whether pb, read for key, is a live block of key. */
static int
peek_block_is(const struct blt *db, const struct peek_block *pb,
    const unsigned char *digest, const void *key, size_t klen)
{
	return pb->next != PTR_TOMBSTONE &&
	       peek_block_named(pb, digest, key, klen, peek_head_len(db));
}

/* Walk key's chain as the file holds it now; blocks from recent on have
 * not been followed yet (share_peek_from(), 0 if none are followed). */
static int
peek_walk(const struct blt *db, const struct peek_layout *l,
    const unsigned char *digest, const void *key, size_t klen, uint64_t recent,
    struct peek_block *pb)
{
	uint32_t bucket = hash_bucket(digest, l->n_buckets);
	size_t head = peek_head_len(db);
	unsigned char ptr[PTR_LEN];
	uint64_t p;
	int rc;

	rc = peek_pread(
	    db, ptr, PTR_LEN, l->index_off + (uint64_t)PTR_LEN * bucket);
	if (rc <= 0)
		return rc < 0 ? rc : PEEK_UNSURE;
	p = le_get(ptr, PTR_LEN);
	for (unsigned hops = 0; hops < PEEK_MAX_HOPS; hops++) {
		/* An overwrite links its new block in place of the old one
		 * first and gives it the old one's next pointer after
		 * (update_index(), §7.2): until then a chain ends at the new
		 * block, and the keys after it seem gone.  A chain that ends at
		 * a block the mount's thread has not followed yet may be cut
		 * so. */
		if (p <= PTR_END)
			return hops > 0 && recent != 0 && pb->off >= recent
			           ? PEEK_UNSURE
			           : PEEK_GONE;
		if ((rc = peek_block_read(db, p, klen, l->size, pb)) <= 0)
			return rc < 0 ? rc : PEEK_UNSURE;
		/* a block of another bucket: bytes that a prune or reindex
		 * has moved or rewired */
		if (hash_bucket(pb->bytes, l->n_buckets) != bucket)
			return PEEK_UNSURE;
		/* a tombstone in a chain: an overwrite or delete between its
		 * two writes (§7.2, §7.3).  The key's own still holds the
		 * value it had before, whole: that is the value until the
		 * writer links the new block or unlinks the old.  Another
		 * key's cuts the chain. */
		if (pb->next == PTR_TOMBSTONE)
			return peek_block_named(pb, digest, key, klen, head)
			           ? PEEK_FOUND
			           : PEEK_UNSURE;
		if (peek_block_is(db, pb, digest, key, klen))
			return PEEK_FOUND;
		p = pb->next;
	}
	return PEEK_UNSURE;
}

/* A walk over the blocks from a position to the file's end, read a window
 * at a time rather than a pread per block (a pipeline appends millions),
 * the index a reindex put among them skipped. */
#define PEEK_WINDOW (1u << 20)
struct peek_scan {
	struct blt *db;
	const struct peek_layout *l;
	uint64_t pos;       /* the next block */
	unsigned char *win; /* bytes from woff on, wlen of them */
	uint64_t woff;
	size_t wlen;
	struct peek_block big; /* a block longer than the window: its head */
};

static int
peek_scan_init(struct peek_scan *s, struct blt *db, const struct peek_layout *l,
    uint64_t pos)
{
	memset(s, 0, sizeof *s);
	s->db = db;
	s->l = l;
	s->pos = pos;
	peek_block_init(&s->big);
	if ((s->win = malloc(PEEK_WINDOW)) == NULL)
		return err_oom(db->path);
	return 0;
}

static void
peek_scan_free(struct peek_scan *s)
{
	free(s->win);
	peek_block_free(&s->big);
}

/* The next whole block: 1 with b (its key in memory, its value only if
 * it fits the window) and *at, 0 at the end or at a block not yet whole,
 * or -errno.  s->pos then lies past it. */
static int
peek_scan_next(struct peek_scan *s, struct block *b, uint64_t *at)
{
	const struct peek_layout *l = s->l;
	size_t head = peek_head_len(s->db);
	ssize_t got;
	int rc;

	if (s->pos == l->index_off) /* a reindex put its index here */
		s->pos += (uint64_t)PTR_LEN * l->n_buckets;
	if (s->pos >= l->size)
		return 0;
	*at = s->pos;
	if (s->pos < s->woff || s->pos - s->woff + head > s->wlen ||
	    block_parse(s->db, s->win, s->pos - s->woff, s->wlen, b) < 0) {
		/* refill from this block on */
		got = pread(s->db->fd, s->win, PEEK_WINDOW, (off_t)s->pos);
		if (got < 0)
			return err_set(-errno, "%s: reading at %llu: %s",
			    s->db->path, (unsigned long long)s->pos,
			    strerror(errno));
		s->woff = s->pos;
		s->wlen = (size_t)got < l->size - s->pos ? (size_t)got
		                                         : l->size - s->pos;
		if (s->wlen < head)
			return 0;
		if (block_parse(s->db, s->win, 0, s->wlen, b) < 0) {
			/* longer than the window, or not whole yet */
			if (s->wlen < PEEK_WINDOW)
				return 0;
			b->klen =
			    (size_t)le_get(s->win + BLOCK_KLEN_OFF, KLEN_LEN);
			rc = peek_block_read(
			    s->db, s->pos, b->klen, l->size, &s->big);
			if (rc <= 0 ||
			    l->size - s->pos < head + b->klen + s->big.vlen)
				return rc < 0 ? rc : 0;
			b->off = 0;
			b->digest = s->big.bytes;
			b->next = s->big.next;
			b->vlen = s->big.vlen;
			b->ts = s->big.ts;
			b->size = head + b->klen + b->vlen;
			b->key = s->big.bytes + head;
			b->value = NULL;
		}
	}
	s->pos += b->size;
	return 1;
}

/* The most bytes of what others appended and the mount's thread has not
 * read yet that a read looks through for its key (peek_tail()). */
#define PEEK_TAIL_MAX (64u << 20)

/* Look for key's live block among the blocks appended since the mount's
 * thread last read them (share_peek_from()): a key put a moment ago, whose
 * chain a writer stopped between two pointer writes has cut.  Each block
 * is stepped over by its lengths; one that matches is the key's by its
 * digest and bytes, and is checked again after its value is read. */
static int
peek_tail(struct blt *db, const struct peek_layout *l,
    const unsigned char *digest, const void *key, size_t klen,
    struct peek_block *pb)
{
	uint64_t from = share_peek_from(db), found = 0, at;
	struct peek_scan s;
	struct block b;
	int rc;

	if (from < HEADER_LEN || from >= l->size ||
	    l->size - from > PEEK_TAIL_MAX)
		return PEEK_UNSURE;
	if ((rc = peek_scan_init(&s, db, l, from)) < 0)
		return rc;
	while ((rc = peek_scan_next(&s, &b, &at)) > 0)
		if (b.next != PTR_TOMBSTONE && b.klen == klen &&
		    memcmp(b.digest, digest, HASH_LEN) == 0 &&
		    (klen == 0 || memcmp(b.key, key, klen) == 0))
			found = at;
	peek_scan_free(&s);
	if (rc < 0)
		return rc;
	if (found == 0)
		return PEEK_UNSURE;
	rc = peek_block_read(db, found, klen, l->size, pb);
	if (rc < 0)
		return rc;
	return rc > 0 && peek_block_is(db, pb, digest, key, klen) ? PEEK_FOUND
	                                                          : PEEK_UNSURE;
}

/* Whether what others appended since the mount's thread last read it is
 * whole blocks to the file's end, each its key's by its digest (or a skip
 * block): 1, 0 if not (or too much to look through), or -errno.  A
 * reindex appends its new index there and then rewires every chain,
 * before the header says where the new index is: until then a walk of
 * the old one can pass from a chain to another and miss a live key, so
 * its "gone" is no proof (a store grown past its buckets by a Python
 * writer beside readers, bench/bench_peek.sh). */
static int
peek_tail_whole(struct blt *db, const struct peek_layout *l)
{
	uint64_t from = share_peek_from(db), at;
	struct peek_scan s;
	struct block b;
	int rc;

	if (from >= l->size)
		return 1;
	if (from < HEADER_LEN || l->size - from > PEEK_TAIL_MAX)
		return 0;
	if ((rc = peek_scan_init(&s, db, l, from)) < 0)
		return rc;
	while ((rc = peek_scan_next(&s, &b, &at)) > 0) {
		if (!scan_whole(db, &b))
			break; /* no block: an index, say */
	}
	if (rc >= 0)
		rc = rc == 0 && s.pos >= l->size;
	peek_scan_free(&s);
	return rc;
}

/* Whether off lies among l's blocks: past the index at byte 200, short of
 * the end, not in an index that a reindex or prune put among them. */
static int
peek_among_blocks(const struct peek_layout *l, uint64_t off)
{
	uint64_t index_end = l->index_off + (uint64_t)PTR_LEN * l->n_buckets;

	return off >= l->first_data && off < l->size &&
	       (off < l->index_off || off >= index_end);
}

/* The buckets at the start of an index at byte 200 that a walk's "gone"
 * needs to read as an index does (peek_index_whole()). */
#define PEEK_PROBE_SLOTS 4

/* Whether the first buckets of l's index hold what buckets hold: no key's
 * chain (0 or 1) or a block's offset in the file.  A prune in place keeps
 * the header as it was until it ends, and its first pass writes the live
 * blocks from byte 200 on: where the index lay there, its first bucket
 * then holds a block's digest, and the buckets after it are no proof of
 * anything. */
static int
peek_index_whole(struct blt *db, const struct peek_layout *l)
{
	unsigned char b[PEEK_PROBE_SLOTS * PTR_LEN];
	uint64_t n =
	    l->n_buckets < PEEK_PROBE_SLOTS ? l->n_buckets : PEEK_PROBE_SLOTS;
	int rc;

	if (l->index_off != HEADER_LEN)
		return 1; /* the first pass writes below it */
	if ((rc = peek_pread(db, b, n * PTR_LEN, l->index_off)) <= 0)
		return rc;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t p = le_get(b + i * PTR_LEN, PTR_LEN);

		if (p > PTR_END && (p < l->first_data || p >= l->size))
			return 0;
	}
	return 1;
}

/* The most buckets around a walk's bucket that its "gone" reads
 * (peek_buckets_whole()): 48 KiB. */
#define PEEK_AROUND_MAX 8192

/* Whether the buckets around key's (digest's) read as an index's do: each
 * none (0 or 1) or the offset of a place among the blocks, and not all
 * none where the key count makes that all but impossible (one chance in
 * 500 million: a bucket's neighbours are the same at every read, so at
 * one in a thousand, one deleted key in a thousand read as never gone,
 * tests/mount-beside.sh).  A prune in place writes its new index, every
 * bucket none, right after the data it compacted, before its second pass
 * has read that data and linked it, which a Python prune does in one go
 * at the end, the file standing still meanwhile: where the new index
 * lies over the old one, the walk of a live key finds its bucket empty
 * (bench/bench_reopen.sh: 11 live keys answered ENOENT in 4.5 million
 * reads, each in an empty bucket, the file still for 79 ms).  And where
 * the first pass's blocks lie over the old index, a bucket holds a
 * block's bytes: its fresh end-of-chain pointer (1), and round it digests
 * and lengths, offsets no block has. */
static int
peek_buckets_whole(
    struct blt *db, const struct peek_layout *l, const unsigned char *digest)
{
	uint32_t bucket = hash_bucket(digest, l->n_buckets);
	uint64_t want, from, used = 0;
	unsigned char *b;
	int rc;

	if (l->n_keys == UINT64_MAX || l->n_keys == 0)
		want = PEEK_AROUND_MAX; /* a load unknown, or none to see */
	else /* all none with this load: e^-20, one in 500 million */
		want = (uint64_t)(20.0 * l->n_buckets / (double)l->n_keys) + 1;
	if (want > PEEK_AROUND_MAX)
		want = PEEK_AROUND_MAX;
	if (want > l->n_buckets)
		want = l->n_buckets;
	from = bucket >= want / 2 ? bucket - want / 2 : 0;
	if (from + want > l->n_buckets)
		from = l->n_buckets - want;
	if ((b = malloc(want * PTR_LEN)) == NULL)
		return err_oom(db->path);
	rc = peek_pread(db, b, want * PTR_LEN, l->index_off + from * PTR_LEN);
	for (uint64_t i = 0; rc > 0 && i < want; i++) {
		uint64_t p = le_get(b + i * PTR_LEN, PTR_LEN);

		if (p > PTR_END && !peek_among_blocks(l, p))
			rc = 0;
		used += p > PTR_END;
	}
	free(b);
	if (rc <= 0)
		return rc;
	/* none used in a whole index of a store with keys, or where its load
	 * says some would be */
	return used > 0 || l->n_keys == 0 || l->n_keys == UINT64_MAX ||
	       (want == PEEK_AROUND_MAX && want < l->n_buckets);
}

/* Find key's live block: from the hint at (where a scan saw it), else by
 * its chain, else, if deep, among the blocks appended since the mount's
 * thread last looked; PEEK_GONE only from a walk that met nothing amiss in
 * a layout that stood before and after it, and where no hint holds other
 * bytes than a block of key.
 *
 * That last check is for a prune in place (format §9), which keeps the
 * header as it was until it ends: its first pass writes the live blocks
 * from byte 200 on, over the index itself in the first layout, and the
 * new index's empty buckets may land on the old one's.  A bucket read
 * there can hold a block's fresh end-of-chain pointer (1), or zeros, and
 * a walk would find the chain empty.  A delete or overwrite tombstones
 * the key's block in place, so a hint that holds the key's block, dead,
 * is what a gone key shows; one that holds another block, in the layout
 * the hint was taken in (at_sure; the reads' own hints are of one layout
 * by their epoch), shows blocks moved since, and a walk is no proof
 * then. */
static int
peek_find(struct blt *db, const void *key, size_t klen, uint64_t at,
    int at_sure, int deep, struct peek_block *pb)
{
	unsigned char digest[HASH_LEN];
	struct peek_layout l, after;
	uint64_t hints[3], other[3] = {0, 0, 0};
	uint64_t epoch = share_peek_epoch(db);
	int rc, moved = 0;

	if (klen > BLT_KEY_MAX)
		return PEEK_GONE;
	hash_digest(key, klen, digest);
	/* a hint needs no layout: a block past the end reads short */
	hints[0] = at;
	hints[1] = peek_hint_get(db, digest, epoch, 0);
	hints[2] = peek_hint_get(db, digest, epoch, 1);
	for (int i = 0; i < 3; i++) {
		if (hints[i] == 0 || (i > 0 && hints[i] == hints[i - 1]))
			continue;
		rc = peek_block_read(db, hints[i], klen, UINT64_MAX, pb);
		if (rc < 0)
			return rc;
		if (rc > 0 && peek_block_is(db, pb, digest, key, klen))
			return PEEK_FOUND;
		/* past the end is no sign: a clear or a prune that ended
		 * cut the file, and one under way cuts it only after its
		 * copy to byte 200 (peek_index_whole()) */
		if (rc > 0 &&
		    !peek_block_named(pb, digest, key, klen, peek_head_len(db)))
			other[i] = hints[i];
	}
	if ((rc = peek_layout(db, &l)) != 0)
		return rc;
	/* a hint of another layout shows nothing; the reads' own are of
	 * this one (epoch), and one that is not among its blocks is of
	 * another all the same */
	for (int i = 0; i < 3; i++)
		moved |= other[i] != 0 && (i > 0 || at_sure) &&
		         peek_among_blocks(&l, other[i]);
	rc = peek_walk(db, &l, digest, key, klen, share_peek_from(db), pb);
	if (rc == PEEK_UNSURE && deep)
		rc = peek_tail(db, &l, digest, key, klen, pb);
	if (rc != PEEK_GONE) {
		if (rc == PEEK_FOUND)
			peek_hint_put(db, digest, epoch, pb->off);
		return rc;
	}
	if (!moved && (rc = peek_index_whole(db, &l)) <= 0)
		return rc < 0 ? rc : PEEK_UNSURE;
	if (!moved && (rc = peek_buckets_whole(db, &l, digest)) <= 0)
		return rc < 0 ? rc : PEEK_UNSURE;
	if (!moved && (rc = peek_tail_whole(db, &l)) <= 0)
		return rc < 0 ? rc : PEEK_UNSURE;
	if ((rc = peek_layout(db, &after)) != 0)
		return rc;
	return peek_same_layout(&l, &after) && !moved &&
	               peek_stood_still(&l, &after) &&
	               !share_peek_cut(db, &after)
	           ? PEEK_GONE
	           : PEEK_UNSURE;
}

/* Whether the block pb still reads as it did: head, timestamp and key. */
static int
peek_block_stands(const struct blt *db, const struct peek_block *pb)
{
	unsigned char again[PEEK_SMALL], *p = again;
	int rc, same;

	if (pb->len > sizeof again && (p = malloc(pb->len)) == NULL)
		return err_oom(db->path);
	rc = peek_pread(db, p, pb->len, pb->off);
	same = rc > 0 && memcmp(p, pb->bytes, pb->len) == 0;
	if (p != again)
		free(p);
	return rc < 0 ? rc : same;
}

/* One round of peek_value(): -EAGAIN when none of its tries could be
 * trusted. */
static ssize_t
peek_value_tries(struct blt *db, const void *key, size_t klen, uint64_t at,
    int at_sure, uint64_t off, void *buf, size_t n, struct blt_entry *e)
{
	struct peek_block pb;
	ssize_t rc = -EAGAIN;
	size_t want = n;

	peek_block_init(&pb);
	pthread_rwlock_rdlock(&db->lock);
	for (int tries = 0; tries < PEEK_TRIES; tries++) {
		uint64_t left, voff;
		int st;

		n = want;
		/* a writer between two pointer writes is on a CPU, or soon:
		 * the later tries give it a moment, and look further */
		if (tries >= PEEK_TRIES / 2)
			nanosleep(&(struct timespec){0, 200000}, NULL);
		st = peek_find(
		    db, key, klen, at, at_sure, tries >= PEEK_TRIES / 2, &pb);
		if (st < 0) {
			rc = st;
			break;
		}
		if (st == PEEK_GONE) {
			rc = err_missing(db->path);
			break;
		}
		if (st == PEEK_UNSURE)
			continue;
		voff = pb.off + pb.len;
		left = off < pb.vlen ? pb.vlen - off : 0;
		if (left < n)
			n = (size_t)left;
		if (n > 0 && (st = peek_pread(db, buf, n, voff + off)) <= 0) {
			if (st < 0) {
				rc = st;
				break;
			}
			continue; /* cut short meanwhile */
		}
		/* a find reads no value: nothing to check after it */
		if (n > 0 && (st = peek_block_stands(db, &pb)) <= 0) {
			if (st < 0) {
				rc = st;
				break;
			}
			continue;
		}
		if (e != NULL) {
			e->value_off = voff;
			e->value_len = pb.vlen;
			e->timestamp = pb.ts;
			e->gen = BLT_GEN_PEEK;
		}
		rc = (ssize_t)n;
		break;
	}
	pthread_rwlock_unlock(&db->lock);
	peek_block_free(&pb);
	return rc;
}

/* Read up to n bytes at off of key's value, whole: the bytes read, or
 * -ENOENT, or -EAGAIN where the read must be made with the lock, or
 * -EBUSY.  Rounds that cannot be trusted wait for the writer between
 * them.  The entry's place and size go to e, if not NULL. */
static ssize_t
peek_value(struct blt *db, const void *key, size_t klen, uint64_t at,
    uint64_t gen, uint64_t off, void *buf, size_t n, struct blt_entry *e)
{
	struct share_wait w = {0};
	ssize_t rc;

	while ((rc = peek_value_tries(db, key, klen, at, peek_at_sure(db, gen),
	            off, buf, n, e)) == -EAGAIN &&
	       (rc = share_peek_wait(db, &w)) == 0)
		;
	return rc;
}

int
peek_find_now(struct blt *db, const void *key, size_t klen, struct blt_entry *e)
{
	ssize_t rc = peek_value_tries(db, key, klen, 0, 0, 0, NULL, 0, e);

	return rc < 0 ? (int)rc : 0;
}

/* Whether the head and key in a and b are the same but for the next
 * pointer, which a writer may change meanwhile (an overwrite tombstones
 * the block it replaces, whose value stays whole). */
static int
peek_same_but_next(const unsigned char *a, const unsigned char *b, size_t len)
{
	return memcmp(a, b, BLOCK_NEXT_OFF) == 0 &&
	       memcmp(a + BLOCK_KLEN_OFF, b + BLOCK_KLEN_OFF,
	           len - BLOCK_KLEN_OFF) == 0;
}

ssize_t
blt_read_version(struct blt *db, const void *key, size_t klen,
    const struct blt_entry *e, uint64_t off, void *buf, size_t n)
{
	size_t head = peek_head_len(db);
	unsigned char digest[HASH_LEN];
	struct peek_block pb, again;
	uint64_t start, left;
	ssize_t rc = -ESTALE;
	int st;

	if (klen > BLT_KEY_MAX || e->value_off < HEADER_LEN + head + klen)
		return -ESTALE;
	start = e->value_off - head - klen;
	hash_digest(key, klen, digest);
	peek_block_init(&pb);
	peek_block_init(&again);
	pthread_rwlock_rdlock(&db->lock);
	if ((st = peek_block_read(db, start, klen, UINT64_MAX, &pb)) <= 0 ||
	    !peek_block_named(&pb, digest, key, klen, head) ||
	    pb.vlen != e->value_len || pb.ts != e->timestamp) {
		rc = st < 0 ? st : -ESTALE;
		goto out;
	}
	left = off < pb.vlen ? pb.vlen - off : 0;
	if (left < n)
		n = (size_t)left;
	if (n > 0 && (st = peek_pread(db, buf, n, e->value_off + off)) <= 0) {
		rc = st < 0 ? st : -ESTALE;
		goto out;
	}
	if ((st = peek_block_read(db, start, klen, UINT64_MAX, &again)) <= 0 ||
	    !peek_same_but_next(pb.bytes, again.bytes, pb.len)) {
		rc = st < 0 ? st : -ESTALE;
		goto out;
	}
	rc = (ssize_t)n;
out:
	pthread_rwlock_unlock(&db->lock);
	peek_block_free(&pb);
	peek_block_free(&again);
	return rc;
}

uint64_t
blt_value_off(const struct blt *db, uint64_t at, size_t klen)
{
	return at + peek_head_len(db) + klen;
}

ssize_t
peek_read(struct blt *db, const void *key, size_t klen, uint64_t at,
    uint64_t gen, uint64_t off, void *buf, size_t n)
{
	return peek_value(db, key, klen, at, gen, off, buf, n, NULL);
}

ssize_t
peek_get(struct blt *db, const void *key, size_t klen, void *buf, size_t cap,
    int64_t *ts)
{
	struct blt_entry e;
	ssize_t rc = peek_value(db, key, klen, 0, 0, 0, buf, cap, &e);

	if (rc < 0)
		return rc;
	if (ts != NULL)
		*ts = e.timestamp;
	return (ssize_t)e.value_len;
}

int
peek_find_entry(struct blt *db, const void *key, size_t klen, uint64_t at,
    uint64_t gen, struct blt_entry *e)
{
	ssize_t rc = peek_value(db, key, klen, at, gen, 0, NULL, 0, e);

	return rc < 0 ? (int)rc : 0;
}

/* The blocks appended to the file from *pos on, read as a scan does, each
 * key's digest checked, for blt_peek_follow(): the live keys among them
 * go into batch, as peek_batch_next() reads them back, until it is full;
 * *pos moves past what was read.  A block not yet whole, or bytes that are
 * no block (a reindex's new index before the header says where it is),
 * end the look; it goes on from there the next time.  So do dead blocks
 * of no key that end the file: an append of ours in the making, sealed
 * under them until its first page lands (io.c, io_append_sealed()).  1 if
 * it stopped with the batch full, 0 at the end of what can be read, or
 * -errno. */
int
peek_appended(struct blt *db, uint64_t *pos, struct peek_batch *batch)
{
	unsigned char *r;
	struct peek_layout l;
	struct peek_scan s;
	struct block b;
	/* where a run of skip blocks began, and where it ended */
	uint64_t at, skips = UINT64_MAX, skips_end = 0;
	int rc, stopped = 0;

	batch->len = 0;
	if ((rc = peek_layout(db, &l)) != 0)
		return rc < 0 ? rc : 0;
	if ((rc = peek_scan_init(&s, db, &l, *pos)) < 0)
		return rc;
	while ((rc = peek_scan_next(&s, &b, &at)) > 0) {
		/* a skip block has no key to check */
		if (block_is_skip(db, &b)) {
			if (skips == UINT64_MAX)
				skips = *pos;
			*pos = skips_end = s.pos;
			continue;
		}
		if (!block_keyed(&b)) {
			rc = 0; /* no block: looked at again next time */
			stopped = 1;
			break;
		}
		skips = UINT64_MAX;
		if (b.next != PTR_TOMBSTONE &&
		    !hash_internal_key(b.key, b.klen)) {
			r = batch->buf + batch->len;
			if (batch->len + PEEK_REC + b.klen >
			    sizeof batch->buf) {
				rc = 1;
				break;
			}
			peek_hint_put(db, b.digest, share_peek_epoch(db), at);
			le_put(r, b.klen, KLEN_LEN);
			le_put(r + KLEN_LEN, b.vlen, 8);
			le_put(r + KLEN_LEN + 8, at, 8);
			memcpy(r + PEEK_REC, b.key, b.klen);
			batch->len += PEEK_REC + b.klen;
		}
		*pos = s.pos;
	}
	/* at the end, or at a block not yet whole: on from there, past an
	 * index that ends the file (a prune's), which no block follows
	 * (else the look stayed before it, and the file never looked
	 * followed to its end: share_peek_caught_up()) */
	if (rc == 0 && !stopped)
		*pos =
		    skips != UINT64_MAX && skips_end == s.pos ? skips : s.pos;
	peek_scan_free(&s);
	return rc < 0 ? rc : rc == 1;
}

/* The record of batch at *off: 1 with its fields, moving *off past it; 0
 * at the batch's end. */
int
peek_batch_next(const struct peek_batch *batch, size_t *off,
    const unsigned char **key, size_t *klen, uint64_t *vlen, uint64_t *at)
{
	const unsigned char *r = batch->buf + *off;

	if (*off >= batch->len)
		return 0;
	*klen = (size_t)le_get(r, KLEN_LEN);
	*vlen = le_get(r + KLEN_LEN, 8);
	*at = le_get(r + KLEN_LEN + 8, 8);
	*key = r + PEEK_REC;
	*off += PEEK_REC + *klen;
	return 1;
}
