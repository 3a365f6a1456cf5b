/*
 * check.c verifies everything a reader relies on (§15) and repairs what can
 * be repaired.
 *
 * The check scans every data block (each must fit its region, and a live
 * block's digest must be the hash of its key), notes each live block by
 * digest (two live blocks of one key are a problem), then walks every
 * bucket chain: pointers in bounds, no loops, no tombstones, every block in
 * its right bucket, every live block reached exactly once.  Last come the
 * key count and our journal.
 *
 * The repair rebuilds the index from the data blocks: a damaged stretch of
 * a region is covered by skip blocks up to the next block that proves
 * itself whole (its digest is the hash of its key), a torn tail is cut,
 * and the chains are rebuilt as after an unclean close (store.c).
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

/* Live blocks by digest: an open-addressing table of offsets. */
struct check_set {
	uint64_t *off; /* 0 = empty */
	unsigned char *seen;
	size_t cap, n;
};

struct check {
	struct blt *db;
	blt_report_fn *report;
	void *arg;
	int problems;
	int stopped;    /* the scan met damage it did not repair */
	uint64_t users; /* live user keys the scan found */
	struct check_set live;
};

static void check_problem(struct check *c, uint64_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
check_problem(struct check *c, uint64_t off, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	c->problems++;
	if (c->report != NULL)
		c->report(c->arg, off, msg);
}

static size_t
check_slot(const struct check_set *s, const unsigned char *base,
    const unsigned char *digest)
{
	size_t mask = s->cap - 1, i = (size_t)le_get(digest, 8) & mask;

	while (s->off[i] != 0 && memcmp(base + s->off[i], digest, HASH_LEN))
		i = (i + 1) & mask;
	return i;
}

/* Note the live block at off; returns the offset of an earlier live block
 * of the same key, 0 if none, or -ENOMEM. */
static int64_t
check_note(struct check *c, const unsigned char *base, uint64_t off)
{
	struct check_set *s = &c->live;
	size_t i;

	if ((s->n + 1) * 2 > s->cap) {
		struct check_set g = {
		    NULL, NULL, s->cap ? s->cap * 2 : 4096, 0};

		if ((g.off = calloc(g.cap, sizeof *g.off)) == NULL ||
		    (g.seen = calloc(g.cap, 1)) == NULL) {
			free(g.off);
			return err_oom(c->db->path);
		}
		for (size_t j = 0; j < s->cap; j++)
			if (s->off[j] != 0)
				g.off[check_slot(&g, base, base + s->off[j])] =
				    s->off[j];
		g.n = s->n;
		free(s->off);
		free(s->seen);
		*s = g;
	}
	i = check_slot(s, base, base + off);
	if (s->off[i] != 0)
		return (int64_t)s->off[i];
	s->off[i] = off;
	s->n++;
	return 0;
}

/* Does the block at off parse and prove itself whole (scan_whole)? */
static int
check_whole(const struct blt *db, const unsigned char *base, uint64_t off,
    uint64_t end, struct block *b)
{
	return block_parse(db, base, off, end, b) == 0 && scan_whole(db, b);
}

/* Cover the stray bytes [bad, q) of a region that starts at start and
 * whose last whole block before bad is at prev (0 if none): with skip
 * blocks, or, when they are too few for one, by growing the block before
 * them (a value length a few bytes short is the usual cause), by moving
 * the first data block, or by covering the next block too.  Returns how
 * many bytes past q were covered, or an error. */
static int
check_cover(
    struct check *c, uint64_t start, uint64_t prev, uint64_t bad, uint64_t q)
{
	struct blt *db = c->db;
	const unsigned char *base = db->map->base;
	uint64_t gap = q - bad, min = block_size(db, 1, 0) +
	                              (db->h.fixed ? db->h.value_len : 0);
	struct block b;
	unsigned char n[VLEN_LEN];

	if (gap >= min)
		return block_skip_fill(db, bad, gap) < 0 ? -EIO : 0;
	if (prev != 0 && block_parse(db, base, prev, bad, &b) == 0) {
		if (!db->h.fixed && b.vlen + gap <= UINT32_MAX) {
			le_put(n, b.vlen + gap, VLEN_LEN);
			check_problem(c, prev,
			    "grew the block by %llu stray bytes",
			    (unsigned long long)gap);
			return io_write(
			           db, prev + BLOCK_VLEN_OFF, n, VLEN_LEN) < 0
			           ? -EIO
			           : 0;
		}
		if (b.klen + gap <= BLT_KEY_MAX) { /* fixed: it is lost */
			le_put(n, b.klen + gap, KLEN_LEN);
			check_problem(c, prev,
			    "dropped the block to cover %llu stray bytes",
			    (unsigned long long)gap);
			if (io_put_ptr(
			        db, prev + BLOCK_NEXT_OFF, PTR_TOMBSTONE) < 0 ||
			    io_write(db, prev + BLOCK_KLEN_OFF, n, KLEN_LEN) <
			        0)
				return -EIO;
			return 0;
		}
	}
	if (bad == start && start == db->h.first_data) {
		check_problem(c, bad,
		    "moved the first data block past %llu "
		    "stray bytes",
		    (unsigned long long)gap);
		db->h.first_data = q;
		return hdr_write_layout(db) < 0 ? -EIO : 0;
	}
	/* The start of the region after the index: nothing to grow or move,
	 * so the skip block takes the next block too. */
	if (block_parse(db, base, q, db->size, &b) == 0) {
		check_problem(c, q,
		    "dropped the block to cover %llu stray bytes "
		    "before it",
		    (unsigned long long)gap);
		return block_skip_fill(db, bad, gap + b.size) < 0
		           ? -EIO
		           : (int)(gap + b.size);
	}
	return err_set(-EUCLEAN, "%s: cannot cover %llu stray bytes at %llu",
	    db->path, (unsigned long long)gap, (unsigned long long)bad);
}

/* Pass 1: scan every block; with repair, cover damage with skip blocks or
 * cut a torn tail.  Returns 0, or an error that stops the check. */
static int
check_scan(struct check *c, int repair)
{
	struct blt *db = c->db;
	const unsigned char *base = db->map->base;
	uint64_t prev = 0, start, end;
	struct scan s;
	struct block b;
	int rc;

	scan_init(&s, db, base, db->h.index_off, db->h.n_buckets,
	    db->h.first_data, db->size);
	s.all = 1;
	s.lax = 1; /* next pointers are judged here */
	start = s.pos;
	for (;;) {
		uint64_t bad, q;

		end = s.end;
		rc = scan_next(&s, &b);
		if (s.end != end) { /* entered the region after the index */
			start = db->h.index_off +
			        (uint64_t)PTR_LEN * db->h.n_buckets;
			prev = 0;
		}
		if (rc == 0)
			return 0;
		if (rc > 0) {
			int64_t other;

			prev = b.off;
			if (b.next == PTR_TOMBSTONE)
				continue;
			if (!check_whole(db, base, b.off, s.end, &b)) {
				check_problem(c, b.off,
				    "live block whose digest is not the hash "
				    "of its key");
				if (repair &&
				    (rc = io_put_ptr(db, b.off + BLOCK_NEXT_OFF,
				         PTR_TOMBSTONE)) < 0)
					return rc;
				continue;
			}
			if (scan_bad_next(db, &b))
				check_problem(c, b.off,
				    "next pointer %llu lies outside the file",
				    (unsigned long long)b.next);
			if ((other = check_note(c, base, b.off)) < 0)
				return (int)other;
			if (other == 0 &&
			    (db->h.fixed || !hash_internal_key(b.key, b.klen)))
				c->users++;
			if (other > 0)
				check_problem(c, b.off,
				    "second live block of key %s (the first "
				    "is at %lld)",
				    err_key(b.key, b.klen), (long long)other);
			continue;
		}
		if (rc != -EUCLEAN)
			return rc;
		bad = s.pos;
		check_problem(c, bad, "%s", blt_errmsg());
		if (!repair) {
			c->stopped = 1; /* nothing after it can be parsed */
			return 0;
		}
		for (q = bad + 1; q < s.end; q++)
			if (check_whole(db, base, q, s.end, &b))
				break;
		if (q >= s.end && s.end == db->size && s.next_end == 0) {
			check_problem(c, bad, "cut the torn end of the file");
			return io_truncate(db, bad);
		}
		if ((rc = check_cover(c, start, prev, bad, q)) < 0)
			return rc;
		s.pos = q + (uint64_t)rc;
	}
}

/* Does the first live block of the first region prove itself whole? */
static int
check_first_whole(struct blt *db)
{
	struct scan s;
	struct block b;

	scan_init(&s, db, db->map->base, db->h.index_off, db->h.n_buckets,
	    db->h.first_data, db->size);
	s.lax = 1;
	while (scan_next(&s, &b) > 0)
		return scan_whole(db, &b);
	return 1; /* nothing live, or nothing that parses: no verdict */
}

/* A variable store whose timestamp flag (byte 41) is wrong has every
 * block shifted by 7 bytes.  When the first live block only proves itself
 * whole under the other setting, fix the flag. */
static int
check_ts_flag(struct check *c)
{
	struct blt *db = c->db;
	unsigned char flag;

	if (db->h.fixed || db->h.version == 3 || check_first_whole(db))
		return 0;
	db->h.ts_len ^= TS_LEN;
	if (!check_first_whole(db)) {
		db->h.ts_len ^= TS_LEN;
		return 0;
	}
	flag = db->h.ts_len != 0;
	check_problem(c, HDR_TS_FLAG_OFF,
	    "the timestamp flag was wrong: set it to %u", flag);
	return io_write(db, HDR_TS_FLAG_OFF, &flag, 1);
}

/* Is there a block at off, before end, that proves itself whole?  With
 * lenient, a block that parses is enough if it is dead, or if a whole block
 * follows it (or the region ends with it): only its own bytes are damaged
 * then, not the layout that led to it, and its key is the repair's to
 * mend while the others read on. */
static int
check_region_start(struct blt *db, uint64_t off, uint64_t end, int lenient)
{
	struct block b, next;

	if (block_parse(db, db->map->base, off, end, &b) != 0)
		return 0;
	if (scan_whole(db, &b))
		return 1;
	return lenient &&
	       (b.next == PTR_TOMBSTONE || off + b.size == end ||
	           check_whole(db, db->map->base, off + b.size, end, &next));
}

/* Does each data region of db start with a block (check_region_start()),
 * or end at once? */
static int
check_regions_start_whole(struct blt *db, int lenient)
{
	uint64_t index_end =
	    db->h.index_off + (uint64_t)PTR_LEN * db->h.n_buckets;
	uint64_t starts[2] = {db->h.first_data, index_end};
	uint64_t ends[2] = {
	    db->h.index_off == HEADER_LEN ? db->size : db->h.index_off,
	    db->size};

	if (index_end > db->size)
		return 0;
	for (int i = 0; i < (db->h.index_off == HEADER_LEN ? 1 : 2); i++)
		if (starts[i] < ends[i] &&
		    !check_region_start(db, starts[i], ends[i], lenient))
			return 0;
	return 1;
}

/* At the open of a store closed cleanly: does each data region start with
 * a block?  A layout field that moved (bytes 21-24, 65-76) could still
 * parse, and lookups would then read the wrong slots and say of keys that
 * are there that they are not.  A block parse or two per region tells.
 * -EUCLEAN otherwise. */
int
check_layout_sound(struct blt *db)
{
	uint64_t index_end =
	    db->h.index_off + (uint64_t)PTR_LEN * db->h.n_buckets;

	if (check_regions_start_whole(db, 1))
		return 0;
	return err_set(-EUCLEAN,
	    "%s: damaged: no block where the header says the data starts "
	    "(at %llu or %llu): its layout fields (bytes 21-24, 65-76) or "
	    "that block are damaged; blt check --repair mends either",
	    db->path, (unsigned long long)db->h.first_data,
	    (unsigned long long)index_end);
}

/* Whether the bytes from at to 'to' could be (what a cut left of) an
 * index at at: every whole slot empty, or pointing at or after the
 * first data block and not into the index.  Data read as slots almost
 * never is, so a damaged bucket count or index offset is not taken for a
 * cut, and data is not written over. */
static int
check_like_index(struct blt *db, uint64_t at, uint64_t to)
{
	const unsigned char *base = db->map->base;
	uint64_t end = at + (uint64_t)PTR_LEN * db->h.n_buckets;

	for (uint64_t o = at; o + PTR_LEN <= to; o += PTR_LEN) {
		uint64_t v = le_get(base + o, PTR_LEN);

		if (v != PTR_END &&
		    (v < db->h.first_data || (v >= at && v < end) || v >> 40))
			return 0;
	}
	return 1;
}

/* Is slot i of the index at 'at' empty, or does it lead to a whole block? */
static int
check_slot_good(struct blt *db, uint64_t at, uint64_t i)
{
	const unsigned char *base = db->map->base;
	uint64_t v = le_get(base + at + i * PTR_LEN, PTR_LEN);
	uint64_t end = at + (uint64_t)PTR_LEN * db->h.n_buckets;
	struct block b;

	return v == PTR_END ||
	       (v >= HEADER_LEN && v < at &&
	           check_whole(db, base, v, at, &b)) ||
	       (v >= end && v < db->size &&
	           check_whole(db, base, v, db->size, &b));
}

/* A relocated store's index offset that moved back into its data may
 * still fit the file, and the repair would write the index over the data
 * there.  Its first slots then read as text or block headers, or as
 * pointers cut in two: refuse the repair unless its first slot and seven in
 * eight of as many as booklet's smallest index has (of at least 1,024) are
 * empty or lead to a whole block (a damaged index, which the repair is
 * for, has most of them right; its bucket count may be damaged too, so
 * the slots past those may be data). */
static int
check_index_plausible(struct blt *db)
{
	uint64_t at = db->h.index_off, good = 0, n = hdr_next_buckets(0);

	if (n > db->h.n_buckets)
		n = db->h.n_buckets;

	/* a few slots say too little: those of tiny indexes (which booklet
	 * never makes) are left to the walk, as before */
	if (at == HEADER_LEN || n < 1024)
		return 0;
	if (check_slot_good(db, at, 0))
		for (uint64_t i = 0; i < n; i++)
			good += check_slot_good(db, at, i);
	if (good * 8 >= n * 7)
		return 0;
	return err_set(-EUCLEAN,
	    "%s: the index offset (bytes 65-70) is damaged: what lies at %llu "
	    "is not an index; not repaired",
	    db->path, (unsigned long long)at);
}

/* Do the blocks from 'from' on lie back to back up to exactly 'to'?  By
 * their lengths alone: a block that is not whole is the scan's to find. */
static int
check_back_to_back(struct blt *db, uint64_t from, uint64_t to)
{
	uint64_t head = block_size(db, 0, 0), size;

	while (from < to) {
		if (to - from < head)
			return 0;
		size = block_size_at(db, db->map->base + from);
		if (to - from < size)
			return 0;
		from += size;
	}
	return from == to;
}

/* Where the first region of a relocated store starts, if its stored
 * position (first_data) is off: the first place, no later than it, from
 * which blocks lie back to back up to the index.  That is 200 after a
 * prune, and right after an abandoned index at 200 after a reindex, so
 * the places tried are 6 bytes apart; one in the dead bytes before the
 * region can only add stray bytes to it, which the scan covers.  A
 * position that moved before the region's start lies in those dead
 * bytes: then it is the first place after it, on the same steps, where a
 * whole block lies (bytes of an index never prove themselves a block), if
 * blocks lie back to back from there.  0 when the stored position is
 * right or none is found. */
static uint64_t
check_find_first(struct blt *db)
{
	uint64_t end = db->h.index_off, was = db->h.first_data, at;
	struct block b;

	if (check_back_to_back(db, was, end))
		return 0;
	for (at = HEADER_LEN; at <= was && at <= end; at += PTR_LEN)
		if (check_back_to_back(db, at, end))
			return at;
	for (; at < end; at += PTR_LEN)
		if (check_whole(db, db->map->base, at, end, &b))
			return check_back_to_back(db, at, end) ? at : 0;
	return 0;
}

/* Take index_off and first_data for db's layout if its index there
 * looks like one and each data region starts with a whole block; else
 * leave db->h as it was.  1 if taken. */
static int
check_try_layout(struct blt *db, uint64_t index_off, uint64_t first_data)
{
	struct hdr was = db->h;
	uint64_t index = (uint64_t)PTR_LEN * was.n_buckets;

	if (first_data == 0 || index_off + index > db->size)
		return 0;
	db->h.index_off = index_off;
	db->h.first_data = first_data;
	if (check_like_index(db, index_off, index_off + index) &&
	    check_regions_start_whole(db, 0))
		return 1;
	db->h = was;
	return 0;
}

/* Where the index of a relocated store starts, if its stored offset
 * (bytes 65-70) is off: right after the blocks that lie whole and back to
 * back from the first data block, if an index fits there and the second
 * region starts with a whole block after it.  Data and index differ
 * there: an index offset that moved into the index passes for one by
 * its first slots, and one that moved back into the data by most of them
 * (check_index_plausible()), or even lands on a block boundary, but the
 * repair would write the index over the blocks the index then covers.  A
 * damaged block in the first region stops the walk where no index lies,
 * and the offset is kept.  0 when the stored offset is right or none is
 * found. */
static uint64_t
check_find_index(struct blt *db)
{
	uint64_t at = db->h.first_data, was = db->h.index_off;
	uint64_t index = (uint64_t)PTR_LEN * db->h.n_buckets;
	const unsigned char *base = db->map->base;
	struct block b;

	if (was == HEADER_LEN || at >= db->size ||
	    (at <= was && was + index <= db->size &&
	        check_back_to_back(db, at, was) &&
	        check_like_index(db, was, was + index)))
		return 0;
	while (at + index < db->size && check_whole(db, base, at, db->size, &b))
		at += b.size;
	if (at == was || at + index > db->size ||
	    !check_like_index(db, at, at + index) ||
	    (at + index < db->size &&
	        !check_whole(db, base, at + index, db->size, &b)))
		return 0;
	return at;
}

/* The index offset was right, or blt_check() put it back in memory (from
 * was): say so, and with repair write it.  Without, the rest is checked
 * as the repair would leave it, not as a stretch of damaged blocks. */
static int
check_index_off(struct check *c, uint64_t was, int repair)
{
	struct blt *db = c->db;

	if (db->h.index_off == was)
		return 0;
	check_problem(c, HDR_INDEX_OFFSET_OFF,
	    "the index %s at %llu, the data says %llu: %s",
	    repair ? "was" : "is", (unsigned long long)was,
	    (unsigned long long)db->h.index_off,
	    repair ? "fixed" : "--repair puts it back");
	return repair ? hdr_write_layout(db) : 0;
}

/* A first data block position (bytes 71-76) that is off makes the scan
 * take a stretch of whole blocks for damage, and cover it: the keys in it
 * would be lost.  In the standard layout the first block lies right after
 * the index; in the relocated one, check_find_first() says where. */
static int
check_first_data(struct check *c)
{
	struct blt *db = c->db;
	uint64_t was = db->h.first_data, at;

	if (db->h.index_off != HEADER_LEN)
		at = check_find_first(db);
	else {
		at = db->h.first_data =
		    HEADER_LEN + (uint64_t)PTR_LEN * db->h.n_buckets;
		if (at == was || !check_like_index(db, HEADER_LEN, at))
			at = 0;
		db->h.first_data = was;
	}
	if (at == 0)
		return 0;
	check_problem(c, HDR_FIRST_DATA_POS_OFF,
	    "the first data block was at %llu, the data says %llu: fixed",
	    (unsigned long long)was, (unsigned long long)at);
	db->h.first_data = at;
	return hdr_write_layout(db);
}

/* A bucket count that is off moves the regions after the index: when a
 * region does not start with a whole block, try booklet's index sizes and
 * keep the first under which every region does. */
static int
check_n_buckets(struct check *c)
{
	struct blt *db = c->db;
	uint32_t was = db->h.n_buckets, n = 0;
	uint64_t fd = db->h.first_data;
	int standard_fd = db->h.index_off == HEADER_LEN &&
	                  fd == HEADER_LEN + (uint64_t)PTR_LEN * was;

	if (check_regions_start_whole(db, 0))
		return 0;
	while ((n = hdr_next_buckets(n)) != 0) {
		db->h.n_buckets = n;
		if (standard_fd)
			db->h.first_data = HEADER_LEN + (uint64_t)PTR_LEN * n;
		if (n != was && check_regions_start_whole(db, 0)) {
			check_problem(c, HDR_N_BUCKETS_OFF,
			    "the bucket count was %u, the data says %u: fixed",
			    was, n);
			return hdr_write_layout(db);
		}
	}
	db->h.n_buckets = was;
	db->h.first_data = fd;
	return 0;
}

/* Pass 2: walk every chain. */
static void
check_chains(struct check *c)
{
	struct blt *db = c->db;
	const unsigned char *base = db->map->base;
	uint64_t reached = 0;

	for (uint64_t bkt = 0; bkt < db->h.n_buckets; bkt++) {
		uint64_t from = db->h.index_off + bkt * PTR_LEN;
		uint64_t p = io_get_ptr(db, from);

		while (p > PTR_END) {
			size_t i;

			if (c->live.cap == 0) {
				check_problem(c, from,
				    "bucket %llu leads to %llu in a store "
				    "without live blocks",
				    (unsigned long long)bkt,
				    (unsigned long long)p);
				break;
			}
			if (p < HEADER_LEN || p + FIX_FIXED_LEN > db->size) {
				check_problem(c, from,
				    "pointer to %llu lies outside the file",
				    (unsigned long long)p);
				break;
			}
			i = check_slot(&c->live, base, base + p);
			if (c->live.off[i] != p) {
				check_problem(c, from,
				    "bucket %llu leads to %llu, which is not "
				    "a live block",
				    (unsigned long long)bkt,
				    (unsigned long long)p);
				break;
			}
			if (c->live.seen[i]++) {
				check_problem(c, from,
				    "the chain of bucket %llu reaches %llu a "
				    "second time",
				    (unsigned long long)bkt,
				    (unsigned long long)p);
				break;
			}
			reached++;
			if (hash_bucket(base + p, db->h.n_buckets) != bkt)
				check_problem(c, p,
				    "block is in the chain of bucket %llu, "
				    "not of its own",
				    (unsigned long long)bkt);
			from = p + BLOCK_NEXT_OFF;
			p = io_get_ptr(db, from);
		}
	}
	if (reached == c->live.n)
		return;
	for (size_t i = 0; i < c->live.cap; i++)
		if (c->live.off[i] != 0 && !c->live.seen[i])
			check_problem(c, c->live.off[i],
			    "live block not reachable from its bucket");
}

/* Pass 3: the key count and the journal. */
static void
check_header(struct check *c)
{
	struct blt *db = c->db;
	const unsigned char *base = db->map->base;
	uint64_t users = c->users, j[5];

	if (db->h.n_keys_raw == NKEYS_UNCLEAN)
		check_problem(c, HDR_N_KEYS_OFF,
		    "not closed cleanly (the key count is "
		    "the unclean sentinel)");
	else if (hdr_open_marked(base))
		check_problem(c, OPEN_MARK_OFF,
		    "not closed cleanly (marked open for writing by a mount)");
	else if (db->h.n_keys_raw != users)
		check_problem(c, HDR_N_KEYS_OFF,
		    "the header counts %u keys, there are %llu",
		    db->h.n_keys_raw, (unsigned long long)users);
	if (hdr_journal_read(base, j) != 0)
		check_problem(c, JOURNAL_OFF, "an interrupted reindex");
}

/* The first problem a check reports, for check_readable_as_is(). */
struct check_first {
	char msg[512];
	uint64_t off;
};

static void
check_keep_first(void *arg, uint64_t off, const char *problem)
{
	struct check_first *f = arg;

	if (f->msg[0] == '\0') {
		snprintf(f->msg, sizeof f->msg, "%s", problem);
		f->off = off;
	}
}

/* For a read-only open of a store left with the unclean sentinel, which
 * cannot rebuild its chains: does it read right as it is?  It does when
 * every block is whole, every live block is reached exactly once from its
 * own bucket, no key is live twice and no reindex was interrupted: the
 * store of a Python handle that was never closed, or of a writer that
 * died between two changes.  0 and its count of user keys in *n_keys, or
 * -EUCLEAN naming the first problem (nothing is written either way). */
int
check_readable_as_is(struct blt *db, uint64_t *n_keys)
{
	struct check_first first = {.msg = ""};
	struct check c = {.db = db, .report = check_keep_first, .arg = &first};
	uint64_t j[5];
	int rc = 0;

	if (hdr_journal_read(db->map->base, j) != 0)
		check_problem(&c, JOURNAL_OFF, "a reindex was interrupted");
	else if ((rc = check_scan(&c, 0)) == 0 && !c.stopped)
		check_chains(&c);
	free(c.live.off);
	free(c.live.seen);
	if (rc < 0)
		return rc;
	if (c.problems > 0)
		return err_set(-EUCLEAN,
		    "%s: was not closed cleanly, and cannot be read as it is: "
		    "%s (at byte %llu); open it for writing once to recover "
		    "it",
		    db->path, first.msg, (unsigned long long)first.off);
	scan_trust(db, db->size); /* every live block was hashed */
	*n_keys = c.users;
	return 0;
}

/* hdr_parse() refused the header with rc.  If that is because the file
 * ends inside the index or before it (a copy that stopped short), put an
 * index back at the end of what is left of the data before it, for
 * store_recover() to fill: the blocks after the index went with the cut,
 * and a torn block before it is covered by check_scan().  Returns 0, or
 * rc for any other damage. */
static int
check_index_cut(struct check *c, int rc)
{
	struct blt *db = c->db;
	struct hdr *h = &db->h;
	uint64_t at = h->index_off;

	if (h->n_buckets == 0 || h->n_buckets > BLT_BUCKETS_MAX ||
	    h->index_off < HEADER_LEN ||
	    h->index_off + (uint64_t)PTR_LEN * h->n_buckets <= db->size ||
	    (h->index_off != HEADER_LEN &&
	        (h->first_data > h->index_off || h->first_data > db->size)))
		return rc; /* not a cut: the data of a relocated store lies
		            * before its index, so a cut is past its start */
	/* in the standard layout every block lay after the index */
	if (at != HEADER_LEN && db->size < at)
		at = db->size;
	if (at < db->size && !check_like_index(db, at, db->size))
		return rc; /* a damaged field, not a cut: nothing is written */
	check_problem(c, at,
	    "the file ends at %llu, in the index or before it: the index is "
	    "rebuilt at %llu; blocks that lay after it are lost",
	    (unsigned long long)db->size, (unsigned long long)at);
	if ((rc = hdr_write_nkeys(db, NKEYS_UNCLEAN)) < 0 ||
	    (rc = io_sync(db)) < 0)
		return rc;
	h->index_off = at;
	if ((rc = io_fill(db, at, h->n_buckets, PTR_END)) < 0 ||
	    (rc = hdr_write_layout(db)) < 0 || (rc = io_sync(db)) < 0)
		return rc;
	return hdr_parse(db, db->map->base);
}

/* The first layout check_layout() tries that fits, for db's bucket count
 * and the fields the header had (was); 1 if one was taken. */
static int
check_layout_for(struct blt *db, const struct hdr *was)
{
	uint64_t index = (uint64_t)PTR_LEN * db->h.n_buckets, at;
	int found = 0;

	if (was->index_off > HEADER_LEN && was->index_off + index <= db->size) {
		at = check_find_first(db);
		found = check_try_layout(
		    db, was->index_off, at != 0 ? at : was->first_data);
	}
	if (!found && was->index_off != HEADER_LEN &&
	    (at = check_find_index(db)) != 0)
		found = check_try_layout(db, at, was->first_data);
	if (!found && (was->index_off == HEADER_LEN ||
	                  was->first_data == HEADER_LEN + index))
		found = check_try_layout(db, HEADER_LEN, HEADER_LEN + index);
	return found;
}

/* hdr_parse() refused the layout fields with rc, and the file is not cut
 * short (check_index_cut()).  Tried in turn, the first that fits is kept
 * (check_try_layout()): where the index offset and bucket count give an
 * index that fits, the first data block is looked for there
 * (check_find_first()); where the first data block lies in the file, the
 * index is looked for after the blocks that follow it
 * (check_find_index()); where either field says the standard layout (an
 * index offset of 200, or a first data block right after an index at
 * 200; a relocated store has neither), that.  The repair then writes the
 * index there.  Returns 0, or rc when none fits, and nothing is
 * written. */
static int
check_layout(struct check *c, int rc)
{
	struct blt *db = c->db;
	struct hdr was = db->h;
	char why[1024];
	uint32_t n = 0;
	int found = 0;

	/* the tries parse blocks, which say what is wrong with each */
	snprintf(why, sizeof why, "%s", blt_errmsg());
	if (was.n_buckets > 0 && was.n_buckets <= BLT_BUCKETS_MAX)
		found = check_layout_for(db, &was);
	/* a bucket count that is off: booklet's sizes, in turn */
	while (!found && (n = hdr_next_buckets(n)) != 0) {
		if (n == was.n_buckets)
			continue;
		db->h.n_buckets = n;
		if (!(found = check_layout_for(db, &was)))
			db->h = was;
	}
	if (!found)
		return err_set(rc, "%s", why);
	if (db->h.n_buckets != was.n_buckets)
		check_problem(c, HDR_N_BUCKETS_OFF,
		    "the bucket count was %u, the data says %u: fixed",
		    was.n_buckets, db->h.n_buckets);
	check_problem(c, HDR_INDEX_OFFSET_OFF,
	    "the index at %llu and first data block at %llu do not fit the "
	    "file; the data says %llu and %llu: fixed",
	    (unsigned long long)was.index_off,
	    (unsigned long long)was.first_data,
	    (unsigned long long)db->h.index_off,
	    (unsigned long long)db->h.first_data);
	if ((rc = hdr_write_layout(db)) < 0 || (rc = io_sync(db)) < 0)
		return rc;
	return hdr_parse(db, db->map->base);
}

/* Verify (and with BLT_CHECK_REPAIR repair) the store at path. */
int
blt_check(const char *path, int flags, blt_report_fn *report, void *arg)
{
	int repair = flags & BLT_CHECK_REPAIR;
	struct check c = {0};
	uint64_t j[5], index_was, at;
	struct blt *db;
	int rc, reindexing;

	if ((db = calloc(1, sizeof *db)) == NULL)
		return err_oom(path);
	db->fd = -1;
	db->rdonly = !repair;
	db->lock_timeout = 0;
	pthread_rwlock_init(&db->lock, NULL);
	if ((db->path = strdup(path)) == NULL) {
		rc = err_oom(path);
		goto out;
	}
	c.db = db;
	c.report = report;
	c.arg = arg;
	if ((rc = io_open(db, path, repair ? BLT_RDWR : BLT_RDONLY)) < 0 ||
	    (rc = io_map_cover(db, db->size)) < 0)
		goto out;
	if ((rc = hdr_parse(db, db->map->base)) < 0 &&
	    (!repair || ((rc = check_index_cut(&c, rc)) < 0 &&
	                    (rc = check_layout(&c, rc)) < 0)))
		goto out;
	/* before anything is written; an interrupted reindex is finished
	 * first, and its index then checked by the walk.  An index offset
	 * that moved is found again from the data, or, for the repair, one
	 * that is no index refused unless the standard layout fits. */
	reindexing = hdr_journal_read(db->map->base, j) == JOURNAL_REINDEX;
	index_was = db->h.index_off;
	if (!reindexing && (at = check_find_index(db)) != 0)
		db->h.index_off = at;
	else if (repair && !reindexing &&
	         (rc = check_index_plausible(db)) < 0 &&
	         (db->h.first_data !=
	                 HEADER_LEN + (uint64_t)PTR_LEN * db->h.n_buckets ||
	             !check_try_layout(db, HEADER_LEN, db->h.first_data)))
		goto out;
	if (repair) {
		db->dirty = 1;
		if ((rc = hdr_write_nkeys(db, NKEYS_UNCLEAN)) < 0 ||
		    (rc = io_sync(db)) < 0)
			goto out;
		if (reindexing) {
			check_problem(
			    &c, JOURNAL_OFF, "finished an interrupted reindex");
			if ((rc = reindex_finish(db, j)) < 0)
				goto out;
		}
	}
	if ((rc = check_index_off(&c, index_was, repair)) < 0 ||
	    (repair && ((rc = check_first_data(&c)) < 0 ||
	                   (rc = check_ts_flag(&c)) < 0 ||
	                   (rc = check_n_buckets(&c)) < 0)))
		goto out;
	if ((rc = check_scan(&c, repair)) < 0)
		goto out;
	if (!c.stopped) {
		check_chains(&c);
		check_header(&c);
	}
	if (repair && (rc = store_recover(db)) < 0)
		goto out;
	rc = c.problems;
out:
	free(c.live.off);
	free(c.live.seen);
	io_close(db);
	pthread_rwlock_destroy(&db->lock);
	free(db->path);
	free(db);
	return rc;
}
