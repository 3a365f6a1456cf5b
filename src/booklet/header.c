/*
 * header.c reads and writes the 200-byte header (§2): parsing with the
 * legacy encodings of v3 and v4, building a fresh one, the fields that
 * change while a store is open (n_buckets, layout offsets, n_keys), and our
 * reindex journal in the bytes the reference never reads.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

#include "internal.h"

static const unsigned char header_var_magic[HDR_MAGIC_LEN] = {0x4f, 0x7e, 0x8a,
    0x3f, 0xe7, 0x5c, 0x47, 0x50, 0xad, 0x43, 0x0a, 0x72, 0x8f, 0xe3, 0x1c,
    0xfe};
static const unsigned char header_fix_magic[HDR_MAGIC_LEN] = {0x04, 0xd3, 0xb2,
    0x94, 0xf2, 0x10, 0x41, 0x62, 0x95, 0x8d, 0x04, 0x00, 0x73, 0x8c, 0x9e,
    0x0a};
static const unsigned char header_journal_magic[JOURNAL_MAGIC_LEN] = "bltfsJ1";

/* booklet's bucket growth chain (§8). */
static const uint32_t header_growth[] = {
    12007, 144013, 1728017, BLT_BUCKETS_MAX};

/* The next index size after n, or 0 when the index stops growing (§8). */
uint32_t
hdr_next_buckets(uint32_t n)
{
	for (size_t i = 0; i < sizeof header_growth / sizeof *header_growth;
	     i++)
		if (header_growth[i] > n)
			return header_growth[i];
	return 0;
}

/* -EINVAL with a message naming path when an index of n buckets is
 * larger than booklet ever makes (blt check calls one damage); else 0. */
int
hdr_check_buckets(const char *path, uint32_t n)
{
	if (n <= BLT_BUCKETS_MAX)
		return 0;
	return err_set(-EINVAL,
	    "%s: an index of %u buckets is larger than the largest booklet "
	    "makes, %u buckets",
	    path, n, BLT_BUCKETS_MAX);
}

/* Parse the header b of db->path (whose size is db->size) into db->h. */
int
hdr_parse(struct blt *db, const unsigned char *b)
{
	struct hdr *h = &db->h;
	uint64_t raw_io, raw_fd, index_end;

	if (db->size < HEADER_LEN)
		return err_set(-EUCLEAN,
		    "%s: not a booklet store: %llu bytes is shorter than the "
		    "200-byte header",
		    db->path, (unsigned long long)db->size);
	if (memcmp(b + HDR_MAGIC_OFF, header_var_magic, HDR_MAGIC_LEN) == 0)
		h->fixed = 0;
	else if (memcmp(b + HDR_MAGIC_OFF, header_fix_magic, HDR_MAGIC_LEN) ==
	         0)
		h->fixed = 1;
	else
		return err_set(-EUCLEAN,
		    "%s: not a booklet store: unknown file type in bytes 0-15",
		    db->path);
	h->version = (unsigned)le_get(b + HDR_VERSION_OFF, 2);
	if (h->version < 3)
		return err_set(-EPROTONOSUPPORT,
		    "%s: format version %u is too old (3 to 5 are read)",
		    db->path, h->version);
	if (h->version > 5)
		return err_set(-EPROTONOSUPPORT,
		    "%s: format version %u is newer than this library (3 to "
		    "5 are read)",
		    db->path, h->version);
	if (h->version == 3 && le_get(b + HDR_OBSOLETE_OFF, 4) != 0)
		return err_set(-EPROTONOSUPPORT,
		    "%s: a version 3 store of booklet 0.3 (an older layout "
		    "that is not read)",
		    db->path);
	if (b[HDR_PTR_WIDTH_OFF] != PTR_LEN ||
	    b[HDR_KLEN_WIDTH_OFF] != KLEN_LEN ||
	    b[HDR_VLEN_WIDTH_OFF] != (h->fixed ? 0 : VLEN_LEN))
		return err_set(-EUCLEAN,
		    "%s: damaged header: field widths %u/%u/%u in bytes 18-20 "
		    "are not booklet's",
		    db->path, b[HDR_PTR_WIDTH_OFF], b[HDR_KLEN_WIDTH_OFF],
		    b[HDR_VLEN_WIDTH_OFF]);
	h->n_buckets = (uint32_t)le_get(b + HDR_N_BUCKETS_OFF, 4);
	if (h->n_buckets == 0)
		return err_set(-EUCLEAN,
		    "%s: damaged header: zero buckets in bytes 21-24",
		    db->path);
	h->value_ser =
	    h->fixed ? 0 : (uint16_t)le_get(b + HDR_VALUE_SER_OFF, 2);
	h->key_ser = (uint16_t)le_get(b + HDR_KEY_SER_OFF, 2);
	h->n_keys_raw = (uint32_t)le_get(b + HDR_N_KEYS_OFF, 4);
	h->value_len =
	    h->fixed ? (uint32_t)le_get(b + HDR_VALUE_LEN_OFF, 4) : 0;
	h->ts_len =
	    h->fixed || h->version == 3 || b[HDR_TS_FLAG_OFF] == 0 ? 0 : TS_LEN;
	if (h->version == 3) {
		h->created = 0;
		memset(h->uuid, 0, sizeof h->uuid);
	} else {
		h->created = (int64_t)le_get(b + HDR_CREATED_OFF, TS_LEN);
		memcpy(h->uuid, b + HDR_UUID_OFF, HDR_UUID_LEN);
	}
	raw_io = le_get(b + HDR_INDEX_OFFSET_OFF, PTR_LEN);
	raw_fd = le_get(b + HDR_FIRST_DATA_POS_OFF, PTR_LEN);
	if (raw_io == LEGACY_ABSENT)
		raw_io = 0;
	if (raw_fd == LEGACY_ABSENT)
		raw_fd = 0;
	h->index_off = raw_io ? raw_io : HEADER_LEN;
	index_end = h->index_off + (uint64_t)PTR_LEN * h->n_buckets;
	h->first_data =
	    raw_fd ? raw_fd : HEADER_LEN + (uint64_t)PTR_LEN * h->n_buckets;
	if (h->index_off < HEADER_LEN || index_end > db->size)
		return err_set(-EUCLEAN,
		    "%s: damaged header: the index of %u buckets at %llu runs "
		    "past the end of the file (%llu bytes)",
		    db->path, h->n_buckets, (unsigned long long)h->index_off,
		    (unsigned long long)db->size);
	if (h->first_data < HEADER_LEN || h->first_data > db->size ||
	    (h->index_off == HEADER_LEN ? h->first_data < index_end
	                                : h->first_data > h->index_off))
		return err_set(-EUCLEAN,
		    "%s: damaged header: first data block position %llu does "
		    "not fit the index at %llu",
		    db->path, (unsigned long long)h->first_data,
		    (unsigned long long)h->index_off);
	return 0;
}

/* Build a fresh header for options o (§2.3). */
void
hdr_build(unsigned char *b, const struct blt_options *o)
{
	unsigned char *u = b + HDR_UUID_OFF;

	memset(b, 0, HEADER_LEN);
	memcpy(b + HDR_MAGIC_OFF,
	    o->fixed ? header_fix_magic : header_var_magic, HDR_MAGIC_LEN);
	le_put(b + HDR_VERSION_OFF, 5, 2);
	b[HDR_PTR_WIDTH_OFF] = PTR_LEN;
	b[HDR_KLEN_WIDTH_OFF] = KLEN_LEN;
	b[HDR_VLEN_WIDTH_OFF] = o->fixed ? 0 : VLEN_LEN;
	le_put(b + HDR_N_BUCKETS_OFF, o->n_buckets, 4);
	le_put(b + HDR_VALUE_SER_OFF, o->fixed ? 0 : o->value_serializer, 2);
	le_put(b + HDR_KEY_SER_OFF, o->key_serializer, 2);
	le_put(b + HDR_VALUE_LEN_OFF, o->fixed ? o->value_len : 0, 4);
	b[HDR_TS_FLAG_OFF] = !o->fixed && o->timestamps;
	le_put(b + HDR_CREATED_OFF, (uint64_t)blt_now(), TS_LEN);
	if (getrandom(u, HDR_UUID_LEN, 0) != HDR_UUID_LEN)
		for (int i = 0; i < HDR_UUID_LEN; i++)
			u[i] = (unsigned char)rand();
	/* RFC 9562: the version nibble in byte 6, the variant in byte 8 */
	u[6] = (unsigned char)((u[6] & 0x0f) | 0x80); /* v8 */
	u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);
}

/* Write n_buckets and the layout offsets of db->h in one write of bytes
 * 21-76 (§2.1: HDR_N_BUCKETS_OFF to HDR_UNUSED_OFF), all in the first
 * sector, so that a crash leaves the old layout or the new one, never a
 * mix.  The standard layout is written as 0/0 like the reference does. */
int
hdr_write_layout(struct blt *db)
{
	const struct hdr *h = &db->h;
	unsigned char b[HDR_UNUSED_OFF - HDR_N_BUCKETS_OFF];
	int standard =
	    h->index_off == HEADER_LEN &&
	    h->first_data == HEADER_LEN + (uint64_t)PTR_LEN * h->n_buckets;

	memcpy(b, db->map->base + HDR_N_BUCKETS_OFF, sizeof b);
	le_put(b, h->n_buckets, 4);
	le_put(b + (HDR_INDEX_OFFSET_OFF - HDR_N_BUCKETS_OFF),
	    standard ? 0 : h->index_off, PTR_LEN);
	le_put(b + (HDR_FIRST_DATA_POS_OFF - HDR_N_BUCKETS_OFF),
	    standard ? 0 : h->first_data, PTR_LEN);
	return io_write(db, HDR_N_BUCKETS_OFF, b, sizeof b);
}

/* Write n to the n_keys field (bytes 33-36, §2.1). */
int
hdr_write_nkeys(struct blt *db, uint32_t n)
{
	static const unsigned char zero[OPEN_MARK_LEN];
	unsigned char b[4];
	int rc;

	le_put(b, n, 4);
	if ((rc = io_write(db, HDR_N_KEYS_OFF, b, 4)) < 0)
		return rc;
	/* a count written is a clean point: the open mark goes with it */
	if (n != NKEYS_UNCLEAN && hdr_open_marked(db->map->base))
		rc = io_write(db, OPEN_MARK_OFF, zero, sizeof zero);
	return rc;
}

/* The mark of a shared store open for writing (OPEN_MARK_OFF). */
static const unsigned char hdr_open_mark[OPEN_MARK_LEN] = {
    'b', 'l', 't', 'f', 's', '+', 'w', '!'};

int
hdr_open_marked(const unsigned char *b)
{
	return memcmp(b + OPEN_MARK_OFF, hdr_open_mark, OPEN_MARK_LEN) == 0;
}

/* Before the first change after a clean point, mark the store unclean on
 * disk and make it durable, so that a crash at any later moment makes the
 * next open recover (§7.8): with the reference's own sentinel in the key
 * count, or, for a store shared with the Python pipeline (blt_share()),
 * with our mark in header bytes the reference never reads, so that a
 * mount killed while it held the store leaves a store Python still opens
 * (with the key count of the last clean point, as its own crash would). */
int
hdr_mark_dirty(struct blt *db)
{
	int rc;

	if (db->dirty)
		return 0;
	if ((rc = scan_check_end(db)) < 0)
		return rc;
	if (db->share != NULL)
		rc = io_write(db, OPEN_MARK_OFF, hdr_open_mark, OPEN_MARK_LEN);
	else
		rc = hdr_write_nkeys(db, NKEYS_UNCLEAN);
	if (rc < 0 || (rc = io_sync(db)) < 0)
		return rc;
	db->dirty = 1;
	return 0;
}

/* The widths of the journal's five numbers, from JOURNAL_ARGS_OFF on:
 * offsets and counts of buckets. */
static const unsigned header_journal_widths[5] = {
    PTR_LEN, 4, PTR_LEN, 4, PTR_LEN};

_Static_assert(JOURNAL_ARGS_OFF + 3 * PTR_LEN + 2 * 4 == JOURNAL_SUM_OFF,
    "the journal's numbers end where its digest starts");

/* Record an operation in progress: op, then five numbers whose meaning the
 * op defines.  Durable when this returns. */
int
hdr_journal_write(struct blt *db, int op, uint64_t a, uint32_t b, uint64_t c,
    uint32_t d, uint64_t e)
{
	unsigned char j[JOURNAL_LEN] = {0};
	const uint64_t v[5] = {a, b, c, d, e};
	unsigned off = JOURNAL_ARGS_OFF;
	int rc;

	memcpy(j, header_journal_magic, JOURNAL_MAGIC_LEN);
	j[JOURNAL_OP_OFF] = (unsigned char)op;
	for (int i = 0; i < 5; i++) {
		le_put(j + off, v[i], header_journal_widths[i]);
		off += header_journal_widths[i];
	}
	hash_digest(j, JOURNAL_SUM_OFF, j + JOURNAL_SUM_OFF);
	if ((rc = io_write(db, JOURNAL_OFF, j, sizeof j)) < 0)
		return rc;
	return io_sync(db);
}

/* Read the journal of header b into v; returns its op or 0 for none. */
int
hdr_journal_read(const unsigned char *b, uint64_t v[5])
{
	const unsigned char *j = b + JOURNAL_OFF;
	unsigned char d[HASH_LEN];
	unsigned off = JOURNAL_ARGS_OFF;

	if (memcmp(j, header_journal_magic, JOURNAL_MAGIC_LEN) != 0)
		return 0;
	hash_digest(j, JOURNAL_SUM_OFF, d);
	if (memcmp(d, j + JOURNAL_SUM_OFF, HASH_LEN) != 0)
		return 0;
	for (int i = 0; i < 5; i++) {
		v[i] = le_get(j + off, header_journal_widths[i]);
		off += header_journal_widths[i];
	}
	return j[JOURNAL_OP_OFF];
}

/* Forget the operation in progress. */
int
hdr_journal_clear(struct blt *db)
{
	static const unsigned char zero[JOURNAL_LEN];

	return io_write(db, JOURNAL_OFF, zero, sizeof zero);
}
