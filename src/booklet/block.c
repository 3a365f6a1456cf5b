/*
 * block.c: the data block (§5) — parsing one from untrusted bytes with every
 * length checked against the end of its region, encoding a new one, and
 * the skip blocks that cover abandoned indexes (§5.6).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "internal.h"

/* Bytes of a block's fixed part: everything before the key. */
static uint64_t
block_head_len(const struct blt *db)
{
	return db->h.fixed ? FIX_FIXED_LEN : VAR_FIXED_LEN + db->h.ts_len;
}

/* The key and value lengths in the head of the block at p. */
static size_t
block_klen_at(const unsigned char *p)
{
	return (size_t)le_get(p + BLOCK_KLEN_OFF, KLEN_LEN);
}

static uint64_t
block_vlen_at(const struct blt *db, const unsigned char *p)
{
	return db->h.fixed ? db->h.value_len
	                   : le_get(p + BLOCK_VLEN_OFF, VLEN_LEN);
}

/* The bytes of the block at p, from its head alone; p must hold a whole
 * head. */
uint64_t
block_size_at(const struct blt *db, const unsigned char *p)
{
	return block_head_len(db) + block_klen_at(p) + block_vlen_at(db, p);
}

/* Parse the block at off of the bytes at base, which must end by end.
 * Returns 0, or -EUCLEAN with a message when it does not fit. */
int
block_parse(const struct blt *db, const unsigned char *base, uint64_t off,
    uint64_t end, struct block *b)
{
	uint64_t head = block_head_len(db);
	const unsigned char *p = base + off;

	if (off > end || end - off < head)
		return err_set(-EUCLEAN,
		    "%s: damaged block at %llu: its header runs past %llu",
		    db->path, (unsigned long long)off, (unsigned long long)end);
	b->off = off;
	b->digest = p;
	b->next = le_get(p + BLOCK_NEXT_OFF, PTR_LEN);
	b->klen = block_klen_at(p);
	b->vlen = block_vlen_at(db, p);
	b->ts = db->h.ts_len ? (int64_t)le_get(p + BLOCK_TS_OFF, TS_LEN)
	                     : BLT_NO_TS;
	b->size = head + b->klen + b->vlen;
	if (end - off < b->size)
		return err_set(-EUCLEAN,
		    "%s: damaged block at %llu: key of %zu and value of %llu "
		    "bytes run past %llu",
		    db->path, (unsigned long long)off, b->klen,
		    (unsigned long long)b->vlen, (unsigned long long)end);
	b->key = p + head;
	b->value = b->key + b->klen;
	return 0;
}

/* 1 and *b if the block at off is live and holds exactly key, else 0: what
 * a lookup of key would find, for an offset that a lookup or a scan gave
 * in this generation of the layout (an offset is a block's start only
 * until a prune moves the blocks).  Within one generation a block stays
 * where it is, and it stays live until a put over its key or a delete
 * marks it dead, so this needs neither the digest nor the chain.  The
 * keydir's entries are checked this way, and blt_find_at()'s hints. */
int
block_live_at(const struct blt *db, uint64_t off, const void *key, size_t klen,
    struct block *b)
{
	const unsigned char *p;

	if (off < HEADER_LEN || off + FIX_FIXED_LEN > db->size)
		return 0;
	p = db->map->base + off;
	if (le_get(p + BLOCK_NEXT_OFF, PTR_LEN) == PTR_TOMBSTONE ||
	    le_get(p + BLOCK_KLEN_OFF, KLEN_LEN) != klen)
		return 0;
	if (block_parse(db, db->map->base, off, db->size, b) < 0)
		return 0;
	return klen == 0 || memcmp(b->key, key, klen) == 0;
}

/* Bytes of a block that block_prefetch() asks for: its head, and the
 * value of a small one. */
#define BLOCK_AHEAD 256

/* Ask for the lines of the block at off, so that a lookup does not wait
 * for its head and then for each line of the value in turn. */
void
block_prefetch(const struct blt *db, uint64_t off)
{
	if (off > PTR_END && off + BLOCK_AHEAD <= db->size)
		for (uint64_t a = off & ~UINT64_C(63); a < off + BLOCK_AHEAD;
		     a += 64)
			__builtin_prefetch(db->map->base + a);
}

/* Bytes of a block holding a key of klen and a value of vlen. */
size_t
block_size(const struct blt *db, size_t klen, uint64_t vlen)
{
	return (size_t)(block_head_len(db) + klen + vlen);
}

/* Encode a block into out (block_size() bytes). */
void
block_encode(const struct blt *db, unsigned char *out,
    const unsigned char *digest, uint64_t next, const void *key, size_t klen,
    const void *value, uint64_t vlen, int64_t ts)
{
	unsigned char *p = out;

	memcpy(p + BLOCK_DIGEST_OFF, digest, HASH_LEN);
	le_put(p + BLOCK_NEXT_OFF, next, PTR_LEN);
	le_put(p + BLOCK_KLEN_OFF, klen, KLEN_LEN);
	p += FIX_FIXED_LEN;
	if (!db->h.fixed) {
		le_put(p, vlen, VLEN_LEN);
		p += VLEN_LEN;
		if (db->h.ts_len) {
			le_put(p, (uint64_t)ts, TS_LEN);
			p += TS_LEN;
		}
	}
	if (klen)
		memcpy(p, key, klen);
	if (vlen)
		memcpy(p + klen, value, (size_t)vlen);
}

/* Write zero bytes over [off, off + len). */
static int
block_zero(struct blt *db, uint64_t off, uint64_t len)
{
	enum { CHUNK = 1 << 16 };
	unsigned char *zero;
	int rc = 0;

	if ((zero = calloc(1, CHUNK)) == NULL)
		return err_oom(db->path);
	while (len > 0 && rc == 0) {
		size_t n = len < CHUNK ? (size_t)len : CHUNK;

		rc = io_write(db, off, zero, n);
		off += n;
		len -= n;
	}
	free(zero);
	return rc;
}

/* Does b hold its key's digest?  The only checksum the format has. */
int
block_keyed(const struct block *b)
{
	unsigned char d[HASH_LEN];

	hash_digest(b->key, b->klen, d);
	return memcmp(d, b->digest, HASH_LEN) == 0;
}

/* Is b a dead block of no key's: a skip block over a dead index (§5.6),
 * or one of the minimal zero blocks that seal an append of ours (io.c,
 * io_append_sealed())?  Zero digest and tombstone are not enough for a
 * reader without the lock: the first page of a sealed append is written
 * over the skip block's head, and a read beside that write may see the
 * new lengths under the old zero digest; taken for a skip block, the new
 * key's block would be stepped over and missed for good.  The key byte
 * and timestamp a skip block has are zero, the key length one. */
int
block_is_skip(const struct blt *db, const struct block *b)
{
	static const unsigned char zero[HASH_LEN];

	if (b->next != PTR_TOMBSTONE ||
	    memcmp(b->digest, zero, HASH_LEN) != 0 ||
	    (b->ts != 0 && b->ts != BLT_NO_TS))
		return 0;
	if (db->h.fixed) /* tiled skip blocks of any key length (§5.6) */
		return b->klen == 0 || b->key[0] == 0;
	return (b->klen == 1 && b->key[0] == 0) ||
	       (b->klen == 0 && b->vlen == 0);
}

/* The smallest range a skip block can cover (§5.6, §16.2 item 2). */
static uint64_t
block_skip_min(const struct blt *db)
{
	return block_head_len(db) + 1 + (db->h.fixed ? db->h.value_len : 0);
}

/* Cover the dead range [off, off + len) with tombstones a scan steps over
 * (§5.6): as many blocks as the length fields need, which is one for every
 * variable index; the reference's single fixed block overflows (§16.2). */
int
block_skip_fill(struct blt *db, uint64_t off, uint64_t len)
{
	uint64_t head = block_head_len(db),
	         v = db->h.fixed ? db->h.value_len : 0;
	uint64_t most =
	    head + (db->h.fixed ? 65535 + v : UINT64_C(1) + UINT32_MAX);
	uint64_t n = (len + most - 1) / most;
	unsigned char h[VAR_FIXED_LEN + TS_LEN] = {0};
	int rc;

	if (len < block_skip_min(db))
		return err_set(-EINVAL,
		    "%s: a dead range of %llu bytes at %llu is too small for "
		    "a skip block",
		    db->path, (unsigned long long)len, (unsigned long long)off);
	if ((rc = block_zero(db, off, len)) < 0)
		return rc;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t size = len / n + (i < len % n);

		if (db->h.fixed) {
			le_put(h + BLOCK_KLEN_OFF, size - head - v, KLEN_LEN);
		} else {
			le_put(h + BLOCK_KLEN_OFF, 1, KLEN_LEN);
			le_put(h + BLOCK_VLEN_OFF, size - head - 1, VLEN_LEN);
		}
		if ((rc = io_write(db, off, h, (size_t)head)) < 0)
			return rc;
		off += size;
	}
	return 0;
}
