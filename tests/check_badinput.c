/*
 * check_badinput.c: stores that are not booklet stores, or damaged ones,
 * made from the reference fixtures by truncating them, flipping bytes and
 * looping chains.  Each must give an error that names the file and the
 * cause, never a crash, a hang or a value the store does not hold; blt_check
 * must find the damage, and its repair must give a sound store that keeps
 * every item the damage did not touch.
 *
 * "Never a value the store does not hold": the format has no checksum over
 * values, so a reader cannot tell a flipped value byte from a real one.  What
 * a reader returns must therefore either be what the manifest says, or come
 * from a block that holds a damaged byte itself.  Anything else (a value
 * read through a damaged pointer, a header misread, a scan that lost its
 * step) is a lie the reader could have caught.
 *
 * Fixtures are copied into a temporary directory first; the originals are
 * never written.  Check's per-test timeout turns a hang into a failure.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "booklet.h"
#include "internal.h"
#include "manifest.h"
#include "testutil.h"

static char path[PATH_MAX];
static char copy[PATH_MAX + 8];

static void
setup(void)
{
	tu_tmpstore(path, sizeof path);
	snprintf(copy, sizeof copy, "%s.copy", path);
}

static void
teardown(void)
{
	tu_rmstore(path);
}

/* --- files ------------------------------------------------------------- */

static void
bad_fixture_path(const char *name, char *out, size_t size)
{
	snprintf(out, size, "%s/%s", tu_fixtures(), name);
}

/* Copy fixture name (e.g. "fixed.blt") to p. */
static void
bad_copy_fixture(const char *name, const char *p)
{
	char src[PATH_MAX];

	bad_fixture_path(name, src, sizeof src);
	ck_assert_msg(tu_copy(src, p) == 0, "cannot copy %s to %s", src, p);
}

/* The manifest of fixture name ("fixed.blt" reads "fixed.json"). */
static struct manifest *
bad_manifest(const char *name)
{
	char p[PATH_MAX], *dot;
	struct manifest *m;

	bad_fixture_path(name, p, sizeof p);
	if ((dot = strrchr(p, '.')) != NULL)
		strcpy(dot, ".json");
	ck_assert_msg(manifest_load(p, &m) == 0, "%s", blt_errmsg());
	return m;
}

static void
bad_write_file(const char *p, const void *data, size_t n)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	ck_assert_msg(fd >= 0, "%s: %s", p, strerror(errno));
	ck_assert(write(fd, data, n) == (ssize_t)n);
	close(fd);
}

/* Read the whole file p; the caller frees. */
static unsigned char *
bad_read_file(const char *p, size_t *size)
{
	struct stat st;
	unsigned char *b;
	int fd = open(p, O_RDONLY);

	ck_assert_msg(fd >= 0, "%s: %s", p, strerror(errno));
	ck_assert(fstat(fd, &st) == 0);
	ck_assert((b = malloc((size_t)st.st_size + 1)) != NULL);
	ck_assert(read(fd, b, (size_t)st.st_size) == st.st_size);
	close(fd);
	*size = (size_t)st.st_size;
	return b;
}

static void
bad_poke(const char *p, uint64_t off, const void *b, size_t n)
{
	int fd = open(p, O_WRONLY);

	ck_assert_msg(fd >= 0, "%s: %s", p, strerror(errno));
	ck_assert(pwrite(fd, b, n, (off_t)off) == (ssize_t)n);
	close(fd);
}

/* Write v as an n-byte little-endian field at off of p. */
static void
bad_poke_le(const char *p, uint64_t off, uint64_t v, unsigned n)
{
	unsigned char b[8];

	le_put(b, v, n);
	bad_poke(p, off, b, n);
}

static uint64_t
bad_peek_le(const char *p, uint64_t off, unsigned n)
{
	unsigned char b[8];
	int fd = open(p, O_RDONLY);

	ck_assert_msg(fd >= 0, "%s: %s", p, strerror(errno));
	ck_assert(pread(fd, b, n, (off_t)off) == (ssize_t)n);
	close(fd);
	return le_get(b, n);
}

static void
bad_truncate(const char *p, uint64_t len)
{
	ck_assert_msg(
	    truncate(p, (off_t)len) == 0, "%s: %s", p, strerror(errno));
}

/* --- messages and reports -------------------------------------------- */

/* The last engine message names p and says word. */
static void
bad_assert_msg(const char *p, const char *word)
{
	const char *m = blt_errmsg();

	ck_assert_msg(
	    strstr(m, p) != NULL, "message does not name %s: %s", p, m);
	ck_assert_msg(
	    strstr(m, word) != NULL, "message does not say '%s': %s", word, m);
}

struct bad_report {
	int n;
	int with_offset; /* problems with an offset inside the file */
	uint64_t size;
	uint64_t first_off;
	char first[512];
};

static void
bad_report_fn(void *arg, uint64_t offset, const char *problem)
{
	struct bad_report *r = arg;

	ck_assert(problem != NULL && problem[0] != '\0');
	if (r->n++ == 0) {
		r->first_off = offset;
		snprintf(r->first, sizeof r->first, "%s", problem);
	}
	if (offset > 0 && offset < r->size)
		r->with_offset++;
}

/* blt_check p with flags; fills *r. */
static int
bad_check(const char *p, int flags, struct bad_report *r)
{
	struct stat st;

	memset(r, 0, sizeof *r);
	if (stat(p, &st) == 0)
		r->size = (uint64_t)st.st_size;
	return blt_check(p, flags, bad_report_fn, r);
}

/* blt_check finds at least one problem in p, with an offset. */
static void
bad_check_finds(const char *p)
{
	struct bad_report r;
	int rc = bad_check(p, 0, &r);

	ck_assert_msg(rc >= 1, "%s: check finds %d problems (%s)", p, rc,
	    rc < 0 ? blt_errmsg() : "");
	ck_assert_int_eq(rc, r.n);
	ck_assert_msg(
	    r.with_offset >= 1, "%s: no problem has an offset: %s", p, r.first);
}

/* Opening p fails with rc and a message naming p and word, for readers,
 * writers and blt_check alike. */
static void
bad_open_refused(const char *p, int rc, const char *word)
{
	static const int modes[] = {BLT_RDONLY, BLT_RDWR};
	struct bad_report r;
	struct blt *db;

	for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
		int got = blt_open(p, modes[i], NULL, &db);

		ck_assert_msg(got == rc,
		    "open mode %d of %s gives %d (%s), not %d", modes[i], p,
		    got, blt_errmsg(), rc);
		ck_assert_ptr_null(db);
		bad_assert_msg(p, word);
	}
	ck_assert_int_eq(bad_check(p, 0, &r), rc);
	bad_assert_msg(p, word);
}

/* bad_open_refused(), and a repair fails the same way and leaves the file
 * as it was. */
static void
bad_open_fails(const char *p, int rc, const char *word)
{
	unsigned char *before, *after;
	size_t nb, na;
	struct bad_report r;

	bad_open_refused(p, rc, word);
	before = bad_read_file(p, &nb);
	ck_assert_int_eq(bad_check(p, BLT_CHECK_REPAIR, &r), rc);
	bad_assert_msg(p, word);
	after = bad_read_file(p, &na);
	ck_assert_msg(nb == na && memcmp(before, after, nb) == 0,
	    "%s: a failed repair changed the file", p);
	free(before);
	free(after);
}

/* --- what a damaged store may return ------------------------------------ */

/* Byte ranges [lo, hi) that the damage changed. */
struct bad_damage {
	size_t n;
	uint64_t lo[16], hi[16];
	int enoent_ok; /* a damaged chain may lose a key */
};

static void
bad_damage_add(struct bad_damage *d, uint64_t lo, uint64_t hi)
{
	ck_assert(d->n < sizeof d->lo / sizeof *d->lo);
	d->lo[d->n] = lo;
	d->hi[d->n] = hi;
	d->n++;
}

/* The damaged ranges as text, for messages. */
static const char *
bad_damage_str(const struct bad_damage *d)
{
	static char s[512];
	size_t o = 0;

	s[0] = '\0';
	for (size_t i = 0; i < d->n && o < sizeof s - 48; i++)
		o += (size_t)snprintf(s + o, sizeof s - o, "%s%llu..%llu",
		    i ? ", " : "", (unsigned long long)d->lo[i],
		    (unsigned long long)d->hi[i]);
	return s;
}

static int
bad_damage_hits(const struct bad_damage *d, uint64_t lo, uint64_t hi)
{
	for (size_t i = 0; i < d->n; i++)
		if (lo < d->hi[i] && d->lo[i] < hi)
			return 1;
	return 0;
}

/* Bytes before the key in a block of the store at p, read from its header
 * the way the engine reads it (§2, §5). */
static uint64_t
bad_head_len(const char *p)
{
	unsigned char h[HEADER_LEN];
	unsigned version;
	int fd = open(p, O_RDONLY);

	ck_assert(fd >= 0);
	if (pread(fd, h, sizeof h, 0) != (ssize_t)sizeof h) {
		close(fd); /* too short to open: nothing will be read */
		return VAR_FIXED_LEN;
	}
	close(fd);
	version = (unsigned)le_get(h + 16, 2);
	if (h[0] == 0x04) /* the fixed-length type uuid */
		return FIX_FIXED_LEN;
	return VAR_FIXED_LEN + (version != 3 && h[41] ? TS_LEN : 0);
}

/* Damage to the value length of a fixed store (§2.1, bytes 37..40)
 * changes the size of every block, and the first block read with the wrong
 * size still looks whole: no reader can tell, so such damage touches every
 * block. */
static int
bad_damage_global(const struct bad_damage *d, uint64_t head)
{
	return head == FIX_FIXED_LEN && bad_damage_hits(d, 37, 41);
}

/* Does the block at off of the file p start with the digest of key? */
static int
bad_digest_at(const char *p, uint64_t off, const void *key, size_t klen)
{
	unsigned char d[HASH_LEN], b[HASH_LEN];
	int fd = open(p, O_RDONLY), same;

	ck_assert(fd >= 0);
	hash_digest(key, klen, d);
	same = pread(fd, b, sizeof b, (off_t)off) == (ssize_t)sizeof b &&
	       memcmp(b, d, HASH_LEN) == 0;
	close(fd);
	return same;
}

/* Does a returned value agree with manifest item it? */
static int
bad_same(
    const struct manifest_item *it, const void *v, uint64_t vlen, int64_t ts)
{
	unsigned char d[SHA256_LEN];

	if (vlen != it->value_len || ts != it->timestamp)
		return 0;
	if (it->value != NULL)
		return memcmp(v, it->value, (size_t)vlen) == 0;
	sha256(v, (size_t)vlen, d);
	return memcmp(d, it->sha256, SHA256_LEN) == 0;
}

/* What reading a damaged store gave. */
struct bad_result {
	int open_rc;
	int scan_rc;
	size_t scanned;
	size_t got, euclean, enoent;
};

static void
bad_assert_error(const char *p, int rc, int enoent_ok, const char *what)
{
	static const char *const causes[] = {"damaged", "not a booklet store",
	    "past", "outside", "loops", "version", "not closed cleanly"};
	const char *m = blt_errmsg();
	int named = 0;

	ck_assert_msg(rc == -EUCLEAN || (enoent_ok && rc == -ENOENT) ||
	                  (rc == -EPROTONOSUPPORT && strstr(what, "open")),
	    "%s: %s gives %d (%s)", p, what, rc, m);
	if (rc == -ENOENT)
		return;
	ck_assert_msg(strstr(m, p) != NULL,
	    "%s: %s: the message does not name the file: %s", p, what, m);
	for (size_t i = 0; i < sizeof causes / sizeof *causes; i++)
		named |= strstr(m, causes[i]) != NULL;
	ck_assert_msg(
	    named, "%s: %s: the message names no cause: %s", p, what, m);
}

/* Read the store at p as a reader would: open, stat, scan and a get of
 * every item of m.  Errors must be -EUCLEAN naming p (or -ENOENT when the
 * damage may lose keys); values that come back must be true (see the top
 * of the file). */
static void
bad_read(const char *p, const struct manifest *m, const struct bad_damage *d,
    struct bad_result *r)
{
	uint64_t head = bad_head_len(p);
	int global = bad_damage_global(d, head);
	struct blt_stat st;
	struct blt_iter *it;
	struct blt_item item;
	struct blt *db;
	int rc;

	memset(r, 0, sizeof *r);
	if ((r->open_rc = blt_open(p, BLT_RDONLY, NULL, &db)) < 0) {
		bad_assert_error(p, r->open_rc, 0, "open");
		return;
	}
	if ((rc = blt_stat(db, &st)) < 0)
		bad_assert_error(p, rc, 0, "stat");

	ck_assert_int_eq(blt_iter_create(db, &it), 0);
	while ((r->scan_rc = blt_iter_next(it, &item)) > 0) {
		const struct manifest_item *mi =
		    manifest_find(m, item.key, item.klen);
		uint64_t end = item.offset + head + item.klen + item.vlen;

		r->scanned++;
		/* A key's digest is there to be checked: a scan never lists a
		 * key that does not match it, damaged block or not. */
		ck_assert_msg(
		    bad_digest_at(p, item.offset, item.key, item.klen),
		    "%s: the scan lists the block at %llu, whose digest is not "
		    "the hash of its key (damage at %s)",
		    p, (unsigned long long)item.offset, bad_damage_str(d));
		if (mi != NULL &&
		    bad_same(mi, item.value, item.vlen, item.timestamp))
			continue;
		ck_assert_msg(global || bad_damage_hits(d, item.offset, end),
		    "%s: the scan returns the block at %llu (key of %zu bytes, "
		    "value of %zu bytes), which the store does not hold "
		    "(damage at %s)",
		    p, (unsigned long long)item.offset, item.klen, item.vlen,
		    bad_damage_str(d));
	}
	blt_iter_free(it);
	if (r->scan_rc < 0)
		bad_assert_error(p, r->scan_rc, 0, "the scan");

	for (size_t i = 0; i < m->n_items; i++) {
		const struct manifest_item *mi = &m->items[i];
		unsigned char *buf = malloc((size_t)mi->value_len + 1);
		struct blt_entry e;
		int64_t ts = 0;
		ssize_t n;

		ck_assert(buf != NULL);
		n = blt_get(
		    db, mi->key, mi->klen, buf, (size_t)mi->value_len, &ts);
		if (n < 0) {
			bad_assert_error(p, (int)n, d->enoent_ok, "a get");
			if (n == -EUCLEAN)
				r->euclean++;
			else
				r->enoent++;
		} else if (bad_same(mi, buf, (uint64_t)n, ts)) {
			r->got++;
		} else if (!global) {
			uint64_t lo;

			ck_assert_int_eq(
			    blt_find(db, mi->key, mi->klen, &e), 0);
			lo = e.value_off - head - mi->klen;
			ck_assert_msg(
			    bad_damage_hits(d, lo, e.value_off + e.value_len),
			    "%s: get of key %s gives %zd bytes from %llu, not "
			    "what the store holds (damage at %s)",
			    p, mi->key_hex, n, (unsigned long long)e.value_off,
			    bad_damage_str(d));
			r->got++;
		}
		free(buf);
	}
	blt_close(db);
}

/* A put of key into the damaged store at p fails with -EUCLEAN naming p,
 * and leaves the store no worse: it still opens for reading, and when
 * same is set it is byte for byte what it was. */
static void
bad_put_refused(const char *p, const void *key, size_t klen, int same)
{
	size_t n0, n1;
	unsigned char *before = bad_read_file(p, &n0), *after;
	struct blt_stat st;
	struct blt *db;
	int rc;

	ck_assert_msg(
	    blt_open(p, BLT_RDWR, NULL, &db) == 0, "%s: %s", p, blt_errmsg());
	ck_assert_int_eq(blt_info(db, &st), 0);
	rc = blt_put(db, key, klen, "refused refused refused",
	    st.value_len ? st.value_len : 7, BLT_NOW);
	if (rc == 0)
		rc = blt_close(db);
	else
		blt_close(db);
	bad_assert_error(p, rc, 0, "a put");
	ck_assert_msg(blt_open(p, BLT_RDONLY, NULL, &db) == 0,
	    "%s: after a failed put: %s", p, blt_errmsg());
	blt_close(db);
	after = bad_read_file(p, &n1);
	ck_assert_msg(!same || (n0 == n1 && memcmp(before, after, n0) == 0),
	    "%s: a failed put changed the file", p);
	free(before);
	free(after);
}

/* --- the layout of a fixture ------------------------------------------- */

/* A live block of a pristine fixture. */
struct bad_block {
	uint64_t off, end;
	const struct manifest_item *item;
};

struct bad_layout {
	struct blt_stat st;
	size_t n;
	struct bad_block *b; /* in file order */
};

/* Where the live blocks of the pristine store at p lie. */
static void
bad_layout_load(const char *p, const struct manifest *m, struct bad_layout *l)
{
	struct blt_iter *it;
	struct blt_item item;
	struct blt *db;
	int rc;

	ck_assert_msg(
	    blt_open(p, BLT_RDONLY, NULL, &db) == 0, "%s", blt_errmsg());
	ck_assert_int_eq(blt_stat(db, &l->st), 0);
	ck_assert((l->b = calloc(m->n_items + 1, sizeof *l->b)) != NULL);
	l->n = 0;
	ck_assert_int_eq(blt_iter_create(db, &it), 0);
	while ((rc = blt_iter_next(it, &item)) > 0) {
		struct blt_entry e;

		ck_assert(l->n < m->n_items);
		ck_assert_int_eq(blt_find(db, item.key, item.klen, &e), 0);
		l->b[l->n].off = item.offset;
		l->b[l->n].end = e.value_off + e.value_len;
		l->b[l->n].item = manifest_find(m, item.key, item.klen);
		ck_assert(l->b[l->n].item != NULL);
		l->n++;
	}
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(l->n, m->n_items);
	blt_iter_free(it);
	blt_close(db);
}

static void
bad_layout_free(struct bad_layout *l)
{
	free(l->b);
	l->b = NULL;
}

/* --- repair ------------------------------------------------------------ */

/* Repair a copy of the damaged store at p.  The repaired store must open,
 * scan to its end, pass blt_check with no problem, and hold every item of
 * l whose block the damage did not touch, with its value.  Returns the
 * problems the repair reported. */
static int
bad_repair(
    const char *p, const struct bad_layout *l, const struct bad_damage *d)
{
	struct bad_report r;
	struct blt_iter *it;
	struct blt_item item;
	struct blt *db;
	int found, rc;

	ck_assert(tu_copy(p, copy) == 0);
	found = bad_check(copy, BLT_CHECK_REPAIR, &r);
	ck_assert_msg(found >= 0, "%s: repair fails: %s", copy, blt_errmsg());
	ck_assert_int_eq(found, r.n);
	ck_assert_msg(blt_open(copy, BLT_RDONLY, NULL, &db) == 0,
	    "repaired store does not open: %s", blt_errmsg());
	ck_assert_int_eq(blt_iter_create(db, &it), 0);
	while ((rc = blt_iter_next(it, &item)) > 0)
		;
	ck_assert_msg(
	    rc == 0, "repaired store does not scan: %s", blt_errmsg());
	blt_iter_free(it);
	for (size_t i = 0; i < l->n; i++) {
		const struct manifest_item *mi = l->b[i].item;
		unsigned char *buf = malloc((size_t)mi->value_len + 1);
		int64_t ts = 0;
		ssize_t n;

		if (bad_damage_hits(d, l->b[i].off, l->b[i].end)) {
			free(buf);
			continue;
		}
		n = blt_get(
		    db, mi->key, mi->klen, buf, (size_t)mi->value_len, &ts);
		ck_assert_msg(n >= 0 && bad_same(mi, buf, (uint64_t)n, ts),
		    "%s: repaired store lost key %s at %llu (%zd: %s)", copy,
		    mi->key_hex, (unsigned long long)l->b[i].off, n,
		    n < 0 ? blt_errmsg() : "wrong value");
		free(buf);
	}
	blt_close(db);
	rc = bad_check(copy, 0, &r);
	ck_assert_msg(rc == 0, "repaired store still has %d problems: %s", rc,
	    rc < 0 ? blt_errmsg() : r.first);
	return found;
}

/* --- not a booklet store ----------------------------------------------- */

START_TEST(empty_file_is_not_a_booklet_store)
{
	bad_write_file(path, "", 0);
	bad_open_fails(path, -EUCLEAN, "not a booklet store");
}
END_TEST

START_TEST(hundred_byte_file_is_not_a_booklet_store)
{
	unsigned char b[100];
	char src[PATH_MAX];
	size_t n;
	unsigned char *f;

	/* The start of a real header, cut short. */
	bad_fixture_path("empty.blt", src, sizeof src);
	f = bad_read_file(src, &n);
	memcpy(b, f, sizeof b);
	free(f);
	bad_write_file(path, b, sizeof b);
	bad_open_fails(path, -EUCLEAN, "not a booklet store");
}
END_TEST

START_TEST(text_file_is_not_a_booklet_store)
{
	char text[4096];

	for (size_t i = 0; i < sizeof text; i++)
		text[i] =
		    "All work and no play makes Jack a dull boy.\n"[i % 44];
	bad_write_file(path, text, sizeof text);
	bad_open_fails(path, -EUCLEAN, "not a booklet store");
}
END_TEST

START_TEST(random_bytes_are_not_a_booklet_store)
{
	unsigned seed = tu_seed();
	unsigned char b[8192];

	srand(seed);
	for (size_t i = 0; i < sizeof b; i++)
		b[i] = (unsigned char)rand();
	bad_write_file(path, b, sizeof b);
	bad_open_fails(path, -EUCLEAN, "not a booklet store");
}
END_TEST

START_TEST(unknown_file_type_is_not_a_booklet_store)
{
	bad_copy_fixture("no_timestamps.blt", path);
	bad_poke(path, 3, "\x00", 1);
	bad_open_fails(path, -EUCLEAN, "not a booklet store");
}
END_TEST

/* --- versions ---------------------------------------------------------- */

START_TEST(version_2_is_not_supported_and_named)
{
	bad_copy_fixture("no_timestamps.blt", path);
	bad_poke_le(path, 16, 2, 2);
	bad_open_fails(path, -EPROTONOSUPPORT, "version 2");
}
END_TEST

START_TEST(version_9_is_not_supported_and_named)
{
	bad_copy_fixture("no_timestamps.blt", path);
	bad_poke_le(path, 16, 9, 2);
	bad_open_fails(path, -EPROTONOSUPPORT, "version 9");
}
END_TEST

START_TEST(old_v3_layout_is_not_supported_and_named)
{
	bad_copy_fixture("no_timestamps.blt", path);
	bad_poke_le(path, 16, 3, 2);
	bad_poke_le(path, 25, 1, 4); /* booklet 0.3 kept a field here */
	bad_open_fails(path, -EPROTONOSUPPORT, "version 3");
}
END_TEST

/* --- header fields ------------------------------------------------------ */

START_TEST(zero_buckets_is_a_damaged_header)
{
	bad_copy_fixture("no_timestamps.blt", path);
	bad_poke_le(path, 21, 0, 4);
	bad_open_fails(path, -EUCLEAN, "zero buckets");
}
END_TEST

/* Write v (width bytes) at off of a copy of fixture, which opens then
 * refuse with a message holding word; the repair must keep every item. */
static void
bad_header_repaired(
    const char *fixture, uint64_t off, uint64_t v, int width, const char *word)
{
	struct manifest *m = bad_manifest(fixture);
	struct bad_damage d = {0};
	struct bad_layout l;

	bad_copy_fixture(fixture, path);
	bad_layout_load(path, m, &l);
	bad_poke_le(path, off, v, width);
	bad_damage_add(&d, off, off + (uint64_t)width);
	bad_open_refused(path, -EUCLEAN, word);
	ck_assert_int_ge(bad_repair(path, &l, &d), 1);
	bad_layout_free(&l);
	manifest_free(m);
}

/* The repair tries booklet's bucket counts and keeps the one under which
 * the index and the data fit. */
START_TEST(huge_bucket_count_runs_past_the_end)
{
	bad_header_repaired(
	    "no_timestamps.blt", 21, UINT32_MAX, 4, "runs past the end");
}
END_TEST

/* Refused like a file cut before its index, and so repaired: an index
 * is written at the end of the file, and every block is kept. */
START_TEST(index_offset_past_eof_is_a_damaged_header)
{
	bad_header_repaired(
	    "pruned.blt", 65, UINT64_C(1) << 40, 6, "runs past the end");
}
END_TEST

/* Both layout fields of a relocated store past the end: no cut leaves
 * that (its data lay before its index), so nothing is written.  The repair
 * used to take it for one and write the index past the first data block,
 * a terabyte on. */
START_TEST(index_and_first_data_past_eof_are_not_taken_for_a_cut)
{
	bad_copy_fixture("pruned.blt", path);
	bad_poke_le(path, 65, UINT64_C(1) << 40, 6);
	bad_poke_le(path, 71, (UINT64_C(1) << 40) - 4096, 6);
	bad_open_fails(path, -EUCLEAN, "runs past the end");
}
END_TEST

/* A bucket count a little too large for the file reads as a cut in the
 * index, but what lies there is data, not slots: nothing is written. */
/* Not taken for a cut, whose repair would write an index at the end and
 * lose the blocks after the real one: booklet's bucket count that fits is
 * put back. */
START_TEST(bucket_count_reaching_past_the_data_is_not_taken_for_a_cut)
{
	bad_header_repaired(
	    "small_str_bytes.blt", 21, 1000000, 4, "runs past the end");
}
END_TEST

/* The index of a relocated store is found after the blocks that lie back
 * to back from its first data block. */
START_TEST(index_offset_inside_the_header_is_a_damaged_header)
{
	bad_header_repaired("pruned.blt", 65, 100, 6, "damaged header");
}
END_TEST

/* Opens refuse it; the repair puts the first data block back where the
 * standard layout has it, right after the index. */
START_TEST(first_data_past_eof_is_a_damaged_header)
{
	struct bad_report r;

	bad_copy_fixture("no_timestamps.blt", path);
	bad_poke_le(path, 71, UINT64_C(1) << 40, 6);
	bad_open_refused(path, -EUCLEAN, "first data block");
	ck_assert_int_eq(bad_check(path, BLT_CHECK_REPAIR, &r), 1);
	ck_assert_int_eq(bad_check(path, 0, &r), 0);
}
END_TEST

START_TEST(wrong_field_widths_are_a_damaged_header)
{
	for (unsigned byte = 18; byte <= 20; byte++) {
		bad_copy_fixture("no_timestamps.blt", path);
		bad_poke(path, byte, "\x09", 1);
		bad_open_fails(path, -EUCLEAN, "field widths");
	}
}
END_TEST

/* A smaller bucket count still fits the file, so the store opens, but its
 * data seems to start inside the old index: nothing read from there may be
 * returned as an item. */
START_TEST(shrunk_bucket_count_never_returns_garbage)
{
	static const char *const names[] = {
	    "no_timestamps.blt", "fixed.blt", "metadata.blt"};

	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		struct manifest *m = bad_manifest(names[i]);
		struct bad_damage d = {0};
		struct bad_result r;

		bad_copy_fixture(names[i], path);
		bad_poke_le(path, 21, 7, 4);
		bad_damage_add(&d, 21, 25);
		d.enoent_ok = 1;
		bad_read(path, m, &d, &r);
		ck_assert_msg(r.open_rc < 0 || r.scan_rc < 0 || r.euclean > 0,
		    "%s: a shrunk index goes unnoticed", names[i]);
		manifest_free(m);
	}
}
END_TEST

/* --- truncation -------------------------------------------------------- */

/* Cut a copy of fixture name at many points: inside the header and the
 * index, and at, just after and inside every live block.  Reading must fail
 * or return only true items, some read must fail when a live block was cut,
 * and a repair keeps every item before the cut. */
static void
bad_truncations(const char *name, size_t stride)
{
	struct manifest *m = bad_manifest(name);
	uint64_t index_end, pts[8];
	struct bad_layout l;
	char src[PATH_MAX];

	bad_fixture_path(name, src, sizeof src);
	bad_layout_load(src, m, &l);
	index_end = l.st.index_offset + (uint64_t)PTR_LEN * l.st.n_buckets;
	for (size_t i = 0; i <= l.n; i++) {
		size_t np = 0;

		if (i >= 2 && i + 2 < l.n && i % stride != 0)
			continue;

		if (i == l.n) {
			/* Cuts before any block: header, index, one short. */
			pts[np++] = 1;
			pts[np++] = 100;
			pts[np++] = HEADER_LEN - 1;
			pts[np++] = HEADER_LEN + 1;
			pts[np++] = index_end - 1;
			pts[np++] = l.st.file_bytes - 1;
		} else {
			pts[np++] = l.b[i].off;
			pts[np++] = l.b[i].off + 1;
			pts[np++] = l.b[i].off + HASH_LEN + 3; /* inside next */
			pts[np++] = (l.b[i].off + l.b[i].end) / 2;
			pts[np++] = l.b[i].end - 1;
		}
		for (size_t k = 0; k < np; k++) {
			uint64_t t = pts[k];
			struct bad_damage d = {0};
			struct bad_result r;
			int cut = 0;

			if (t >= l.st.file_bytes)
				continue;
			for (size_t j = 0; j < l.n; j++)
				cut |= l.b[j].end > t;
			bad_damage_add(&d, t, UINT64_MAX);
			bad_copy_fixture(name, path);
			bad_truncate(path, t);
			bad_read(path, m, &d, &r);
			ck_assert_msg(!cut || r.open_rc < 0 || r.scan_rc < 0 ||
			                  r.euclean > 0,
			    "%s cut at %llu: no read notices", name,
			    (unsigned long long)t);
			if (r.open_rc == 0 && cut) {
				bad_put_refused(path, "new key", 7, 1);
				bad_check_finds(path);
				bad_repair(path, &l, &d);
			}
		}
	}
	bad_layout_free(&l);
	manifest_free(m);
}

START_TEST(truncated_variable_store_is_an_error_never_garbage)
{
	bad_truncations("no_timestamps.blt", 1);
}
END_TEST

START_TEST(truncated_fixed_store_is_an_error_never_garbage)
{
	bad_truncations("fixed.blt", 37);
}
END_TEST

START_TEST(truncated_v4_store_is_an_error_never_garbage)
{
	bad_truncations("v4_genuine.blt", 5);
}
END_TEST

START_TEST(truncated_reindexed_store_is_an_error_never_garbage)
{
	/* Data in two regions around a relocated index. */
	bad_truncations("reindexed_twice.blt", 1500);
}
END_TEST

/* A store cut right after a block, so every block left is whole: the
 * scan lists them, then says that the rest is missing. */
START_TEST(store_cut_at_a_block_edge_scans_to_an_error)
{
	const char *name = "fixed.blt";
	struct manifest *m = bad_manifest(name);
	struct bad_layout l;
	struct blt_iter *it;
	struct blt_item item;
	struct blt *db;
	size_t listed = 0;
	int rc;

	bad_copy_fixture(name, path);
	bad_layout_load(path, m, &l);
	bad_truncate(path, l.b[l.n - 1].off);
	ck_assert_int_eq(blt_open(path, BLT_RDONLY, NULL, &db), 0);
	ck_assert_int_eq(blt_iter_create(db, &it), 0);
	while ((rc = blt_iter_next(it, &item)) > 0)
		listed++;
	ck_assert_uint_eq(listed, l.n - 1);
	bad_assert_error(path, rc, 0, "the scan");
	bad_assert_msg(path, "the header counts");
	blt_iter_free(it);
	blt_close(db);
	bad_layout_free(&l);
	manifest_free(m);
}
END_TEST

/* --- chains ------------------------------------------------------------ */

/* The slot of key's bucket in the store described by st. */
static uint64_t
bad_slot(const struct blt_stat *st, const void *key, size_t klen)
{
	unsigned char d[HASH_LEN];

	hash_digest(key, klen, d);
	return st->index_offset +
	       (uint64_t)PTR_LEN * hash_bucket(d, st->n_buckets);
}

/* The last block of the chain that starts at slot, in the file p. */
static uint64_t
bad_chain_tail(const char *p, uint64_t slot)
{
	uint64_t b = bad_peek_le(p, slot, PTR_LEN), next;

	ck_assert(b > PTR_END);
	while ((next = bad_peek_le(p, b + HASH_LEN, PTR_LEN)) != PTR_END)
		b = next;
	return b;
}

/* A key of no item whose bucket slot is slot: its lookup walks the whole
 * chain. */
static size_t
bad_missing_key(const struct blt_stat *st, const struct manifest *m,
    uint64_t slot, char *key, size_t size)
{
	for (unsigned i = 0;; i++) {
		size_t n = (size_t)snprintf(key, size, "missing %u", i);

		if (bad_slot(st, key, n) == slot && !manifest_find(m, key, n))
			return n;
	}
}

/* The first item of m after skip whose bucket lies at a different slot
 * than avoid. */
static const struct manifest_item *
bad_item(const struct manifest *m, const struct blt_stat *st, size_t skip,
    uint64_t avoid)
{
	for (size_t i = skip; i < m->n_items; i++)
		if (bad_slot(st, m->items[i].key, m->items[i].klen) != avoid)
			return &m->items[i];
	ck_abort_msg("no item");
	return NULL;
}

/* After damage d to the copy of name at path, gets of key must fail with
 * -EUCLEAN and word, nothing read may lie, the check must find it, and the
 * repair must keep every untouched item. */
static void
bad_chain_damage(const char *name, const struct manifest *m,
    const struct bad_layout *l, const void *key, size_t klen, const char *word,
    const struct bad_damage *d)
{
	struct bad_result r;
	unsigned char buf[64];
	struct blt *db;
	int64_t ts;

	ck_assert_int_eq(blt_open(path, BLT_RDONLY, NULL, &db), 0);
	ck_assert_msg(blt_get(db, key, klen, buf, sizeof buf, &ts) == -EUCLEAN,
	    "%s: a get through the damaged chain gives %s", name, blt_errmsg());
	bad_assert_msg(path, word);
	ck_assert_int_eq(blt_exists(db, key, klen), -EUCLEAN);
	blt_close(db);
	bad_read(path, m, d, &r);
	ck_assert_int_eq(r.open_rc, 0);
	bad_check_finds(path);
	bad_put_refused(path, key, klen, 0);
	ck_assert_int_ge(bad_repair(path, l, d), 1);
	/* the repair links every live block: the refused put is not one */
	ck_assert_int_eq(blt_open(copy, BLT_RDONLY, NULL, &db), 0);
	ck_assert_msg(blt_get(db, key, klen, buf, sizeof buf, &ts) != 7 ||
	                  memcmp(buf, "refused", 7) != 0,
	    "%s: the repair made a refused put live", name);
	blt_close(db);
}

START_TEST(bucket_pointer_past_eof_is_euclean)
{
	const char *name = "no_timestamps.blt";
	struct manifest *m = bad_manifest(name);
	const struct manifest_item *it;
	struct bad_damage d = {0};
	struct bad_layout l;
	uint64_t slot;

	bad_copy_fixture(name, path);
	bad_layout_load(path, m, &l);
	it = bad_item(m, &l.st, 0, 0);
	slot = bad_slot(&l.st, it->key, it->klen);
	bad_poke_le(path, slot, l.st.file_bytes + 1000, PTR_LEN);
	bad_damage_add(&d, slot, slot + PTR_LEN);
	bad_chain_damage(name, m, &l, it->key, it->klen, "outside", &d);
	bad_layout_free(&l);
	manifest_free(m);
}
END_TEST

START_TEST(bucket_pointer_into_the_header_is_euclean)
{
	const char *name = "no_timestamps.blt";
	struct manifest *m = bad_manifest(name);
	const struct manifest_item *it;
	struct bad_damage d = {0};
	struct bad_layout l;
	uint64_t slot;

	bad_copy_fixture(name, path);
	bad_layout_load(path, m, &l);
	it = bad_item(m, &l.st, 3, 0);
	slot = bad_slot(&l.st, it->key, it->klen);
	bad_poke_le(path, slot, 50, PTR_LEN);
	bad_damage_add(&d, slot, slot + PTR_LEN);
	bad_chain_damage(name, m, &l, it->key, it->klen, "outside", &d);
	bad_layout_free(&l);
	manifest_free(m);
}
END_TEST

START_TEST(chain_that_leads_to_itself_loops_with_euclean)
{
	const char *name = "no_timestamps.blt";
	struct manifest *m = bad_manifest(name);
	const struct manifest_item *it;
	struct bad_damage d = {0};
	struct bad_layout l;
	uint64_t slot, tail;
	char key[64];
	size_t klen;

	bad_copy_fixture(name, path);
	bad_layout_load(path, m, &l);
	it = bad_item(m, &l.st, 5, 0);
	slot = bad_slot(&l.st, it->key, it->klen);
	tail = bad_chain_tail(path, slot);
	bad_poke_le(path, tail + HASH_LEN, tail, PTR_LEN);
	bad_damage_add(&d, tail + HASH_LEN, tail + HASH_LEN + PTR_LEN);
	klen = bad_missing_key(&l.st, m, slot, key, sizeof key);
	bad_chain_damage(name, m, &l, key, klen, "loops", &d);
	bad_layout_free(&l);
	manifest_free(m);
}
END_TEST

START_TEST(chain_of_two_blocks_that_lead_to_each_other_loops_with_euclean)
{
	const char *name = "deleted_overwritten.blt";
	struct manifest *m = bad_manifest(name);
	const struct manifest_item *a, *b;
	struct bad_damage d = {0};
	struct bad_layout l;
	uint64_t sa, ta, tb;
	char key[64];
	size_t klen;

	bad_copy_fixture(name, path);
	bad_layout_load(path, m, &l);
	a = bad_item(m, &l.st, 10, 0);
	sa = bad_slot(&l.st, a->key, a->klen);
	b = bad_item(m, &l.st, 11, sa);
	ta = bad_chain_tail(path, sa);
	tb = bad_chain_tail(path, bad_slot(&l.st, b->key, b->klen));
	bad_poke_le(path, ta + HASH_LEN, tb, PTR_LEN);
	bad_poke_le(path, tb + HASH_LEN, ta, PTR_LEN);
	bad_damage_add(&d, ta + HASH_LEN, ta + HASH_LEN + PTR_LEN);
	bad_damage_add(&d, tb + HASH_LEN, tb + HASH_LEN + PTR_LEN);
	klen = bad_missing_key(&l.st, m, sa, key, sizeof key);
	bad_chain_damage(name, m, &l, key, klen, "loops", &d);
	bad_layout_free(&l);
	manifest_free(m);
}
END_TEST

/* A store with no live block at all, whose bucket leads into the index. */
START_TEST(stray_bucket_pointer_in_an_empty_store_is_found)
{
	const char *name = "empty.blt";
	struct manifest *m = bad_manifest(name);
	struct bad_damage d = {0};
	struct bad_layout l;
	struct bad_result r;
	struct bad_report rep;

	bad_copy_fixture(name, path);
	bad_layout_load(path, m, &l);
	bad_poke_le(path, HEADER_LEN, HEADER_LEN, PTR_LEN);
	bad_damage_add(&d, HEADER_LEN, HEADER_LEN + PTR_LEN);
	bad_read(path, m, &d, &r);
	ck_assert_int_eq(r.open_rc, 0);
	ck_assert_int_ge(bad_check(path, 0, &rep), 1);
	ck_assert_uint_eq(rep.first_off, HEADER_LEN);
	ck_assert_int_ge(bad_repair(path, &l, &d), 1);
	bad_layout_free(&l);
	manifest_free(m);
}
END_TEST

/* --- lengths ----------------------------------------------------------- */

/* Set the field at off (within block blk of fixture name) to v, then the
 * block's key must read as damage naming "past", and so must the scan. */
static void
bad_length_damage(
    const char *name, size_t which, unsigned field, unsigned width, uint64_t v)
{
	struct manifest *m = bad_manifest(name);
	const struct bad_block *blk;
	struct bad_damage d = {0};
	struct bad_layout l;
	struct bad_result r;
	unsigned char buf[64];
	struct blt *db;
	int64_t ts;

	bad_copy_fixture(name, path);
	bad_layout_load(path, m, &l);
	blk = &l.b[which < l.n ? which : l.n - 1];
	bad_poke_le(path, blk->off + field, v, width);
	bad_damage_add(&d, blk->off + field, blk->off + field + width);
	ck_assert_int_eq(blt_open(path, BLT_RDONLY, NULL, &db), 0);
	ck_assert_int_eq(
	    blt_get(db, blk->item->key, blk->item->klen, buf, sizeof buf, &ts),
	    -EUCLEAN);
	bad_assert_msg(path, "past");
	blt_close(db);
	bad_read(path, m, &d, &r);
	ck_assert_int_lt(r.scan_rc, 0);
	bad_check_finds(path);
	ck_assert_int_ge(bad_repair(path, &l, &d), 1);
	bad_layout_free(&l);
	manifest_free(m);
}

START_TEST(key_length_past_the_end_is_euclean)
{
	bad_length_damage("no_timestamps.blt", 18, 19, 2, 0xffff);
	bad_length_damage("fixed.blt", 200, 19, 2, 0xffff);
	bad_length_damage("no_timestamps.blt", 1000, 19, 2, 0xffff);
}
END_TEST

START_TEST(value_length_past_the_end_is_euclean)
{
	bad_length_damage("no_timestamps.blt", 18, 21, 4, 0xffffffff);
	bad_length_damage("small_str_bytes.blt", 20, 21, 4, 0xfffffff0);
	bad_length_damage("no_timestamps.blt", 1000, 21, 4, 0x7fffffff);
}
END_TEST

/* A value length a few bytes short leaves a gap too small for a skip
 * block between the block and the next one; the repair must still give a
 * sound store keeping what lies before the damage.  With at_region_end, the
 * gap is the last bytes before a relocated index. */
static void
bad_short_value(const char *name, int at_region_end)
{
	struct manifest *m = bad_manifest(name);
	const struct bad_block *blk = NULL;
	struct bad_damage d = {0};
	struct bad_layout l;
	struct bad_result r;

	bad_copy_fixture(name, path);
	bad_layout_load(path, m, &l);
	for (size_t i = l.n / 2; i < l.n && blk == NULL; i++)
		if (l.b[i].item->value_len >= 4 &&
		    (!at_region_end || l.b[i].end == l.st.index_offset))
			blk = &l.b[i];
	ck_assert_msg(blk != NULL, "%s: no block to damage", name);
	bad_poke_le(path, blk->off + 21, blk->item->value_len - 3, 4);
	bad_damage_add(&d, blk->off, UINT64_MAX);
	d.enoent_ok = 1;
	bad_read(path, m, &d, &r);
	bad_check_finds(path);
	ck_assert_int_ge(bad_repair(path, &l, &d), 1);
	bad_layout_free(&l);
	manifest_free(m);
}

START_TEST(value_length_a_few_bytes_short_is_repaired)
{
	bad_short_value("no_timestamps.blt", 0);
	bad_short_value("small_str_bytes.blt", 0);
}
END_TEST

START_TEST(value_length_short_before_a_relocated_index_is_repaired)
{
	bad_short_value("reindexed.blt", 1);
}
END_TEST

/* A bucket count a little too large makes a relocated index end inside the
 * first block after it, so the second data region starts with a few stray
 * bytes, too few for a skip block, and there is no block of that region
 * before them to absorb them.  The repair must still give a sound store
 * that keeps every block but that first one. */
START_TEST(bucket_count_grown_into_the_data_after_a_relocated_index_is_repaired)
{
	const char *name = "reindexed.blt";
	struct manifest *m = bad_manifest(name);
	struct bad_damage d = {0};
	struct bad_layout l;
	struct bad_result r;
	uint64_t index_end, first, size;

	bad_copy_fixture(name, path);
	bad_layout_load(path, m, &l);
	index_end = l.st.index_offset + (uint64_t)PTR_LEN * l.st.n_buckets;
	ck_assert_uint_gt(l.st.file_bytes, index_end + FIX_FIXED_LEN);
	first = index_end;
	size = bad_head_len(path) + bad_peek_le(path, first + 19, 2) +
	       bad_peek_le(path, first + 21, 4);
	/* End the index 2 to 7 bytes before the end of the first block. */
	bad_poke_le(path, 21, l.st.n_buckets + (size - 2) / PTR_LEN, 4);
	bad_damage_add(&d, 21, 25);
	bad_damage_add(&d, first, first + size);
	d.enoent_ok = 1;
	bad_read(path, m, &d, &r);
	bad_check_finds(path);
	ck_assert_int_ge(bad_repair(path, &l, &d), 1);
	bad_layout_free(&l);
	manifest_free(m);
}
END_TEST

/* A flipped byte in a key leaves a block that parses but whose digest no
 * longer matches: a scan must not list the damaged key, and a get of the
 * real key must not return the block. */
START_TEST(flipped_key_byte_is_never_listed)
{
	static const char *const names[] = {
	    "no_timestamps.blt", "fixed.blt", "tricky_keys.blt"};

	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		struct manifest *m = bad_manifest(names[i]);
		const struct bad_block *blk;
		struct bad_damage d = {0};
		struct bad_layout l;
		struct bad_result r;
		uint64_t at;
		unsigned char c;

		bad_copy_fixture(names[i], path);
		bad_layout_load(path, m, &l);
		blk = &l.b[l.n / 3];
		ck_assert_uint_gt(blk->item->klen, 0);
		at = blk->end - blk->item->value_len - 1; /* last key byte */
		c = (unsigned char)(bad_peek_le(path, at, 1) ^ 0x20);
		bad_poke(path, at, &c, 1);
		bad_damage_add(&d, at, at + 1);
		d.enoent_ok = 1;
		bad_read(path, m, &d, &r);
		ck_assert_msg(
		    r.scan_rc < 0, "%s: the scan ends without error", names[i]);
		bad_check_finds(path);
		ck_assert_int_ge(bad_repair(path, &l, &d), 1);
		bad_layout_free(&l);
		manifest_free(m);
	}
}
END_TEST

/* A key length one byte off still fits the file, so the block parses; a get
 * must notice that the block does not hold the key it was asked for, rather
 * than return the key's last byte and the value short of its last. */
START_TEST(key_length_off_by_one_is_euclean_not_a_shifted_value)
{
	static const char *const names[] = {
	    "no_timestamps.blt", "fixed.blt", "small_str_bytes.blt"};

	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		for (int delta = -1; delta <= 1; delta += 2) {
			struct manifest *m = bad_manifest(names[i]);
			const struct bad_block *blk;
			struct bad_layout l;
			unsigned char buf[64];
			struct blt *db;
			int64_t ts;
			ssize_t n;

			bad_copy_fixture(names[i], path);
			bad_layout_load(path, m, &l);
			blk = &l.b[l.n / 2];
			ck_assert_uint_gt(blk->item->klen, 0);
			bad_poke_le(path, blk->off + 19,
			    (uint64_t)((int64_t)blk->item->klen + delta), 2);
			ck_assert_int_eq(
			    blt_open(path, BLT_RDONLY, NULL, &db), 0);
			n = blt_get(db, blk->item->key, blk->item->klen, buf,
			    sizeof buf, &ts);
			ck_assert_msg(n == -EUCLEAN,
			    "%s: key %s with a key length %+d gives %zd (%s)",
			    names[i], blk->item->key_hex, delta, n,
			    n < 0 ? blt_errmsg() : "a value");
			bad_assert_msg(path, "damaged");
			blt_close(db);
			bad_layout_free(&l);
			manifest_free(m);
		}
	}
}
END_TEST

/* Header byte 41 says whether blocks carry a timestamp; flipped, every
 * block is read 7 bytes off.  Nothing read that way may be returned: the
 * open finds no block where the data starts, or the scan fails. */
START_TEST(flipped_timestamp_flag_never_returns_garbage)
{
	static const char *const names[] = {
	    "no_timestamps.blt", "small_str_bytes.blt", "v4_genuine.blt"};

	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		struct manifest *m = bad_manifest(names[i]);
		struct bad_damage d = {0};
		struct bad_result r;
		unsigned char flag;

		bad_copy_fixture(names[i], path);
		flag = (unsigned char)!bad_peek_le(path, 41, 1);
		bad_poke(path, 41, &flag, 1);
		bad_damage_add(&d, 41, 42);
		d.enoent_ok = 1;
		bad_read(path, m, &d, &r);
		ck_assert_msg(r.got == 0 && r.scanned == 0,
		    "%s: %zu gets and %zu items of the scan succeed with the "
		    "timestamp flag flipped",
		    names[i], r.got, r.scanned);
		ck_assert_msg(r.open_rc < 0 || r.scan_rc < 0,
		    "%s: opened and scanned with the timestamp flag flipped",
		    names[i]);
		manifest_free(m);
	}
}
END_TEST

/* A store closed cleanly whose index offset moved into its index (by 512
 * slots) still parses, and its lookups would read the wrong slots and say
 * of keys that are there that they are not: the open finds no block where
 * the second region should start, and refuses it; check names the offset
 * as the one problem, and the repair puts it back with every item. */
START_TEST(index_offset_moved_into_the_index_is_refused_at_open)
{
	struct manifest *m = bad_manifest("reindexed_twice.blt");
	struct bad_damage d = {0};
	struct bad_report r;
	struct bad_layout l;
	struct blt *db;

	bad_copy_fixture("reindexed_twice.blt", path);
	bad_layout_load(path, m, &l);
	bad_poke_le(path, 65, bad_peek_le(path, 65, 6) + 512 * PTR_LEN, 6);
	bad_damage_add(&d, 65, 71);
	ck_assert_int_eq(blt_open(path, BLT_RDONLY, NULL, &db), -EUCLEAN);
	bad_assert_msg(path, "no block where the header says");
	ck_assert_int_eq(blt_open(path, BLT_RDWR, NULL, &db), -EUCLEAN);
	ck_assert_int_eq(bad_check(path, 0, &r), 1);
	ck_assert_msg(strstr(r.first, "the data says") != NULL,
	    "check says: %s", r.first);
	ck_assert_int_ge(bad_repair(path, &l, &d), 1);
	bad_layout_free(&l);
	manifest_free(m);
}
END_TEST

/* --- random flips ------------------------------------------------------ */

/* Flip a few random bytes of small fixtures, again and again: reading must
 * never crash and never return what the store does not hold.  When the
 * check finds the damage, a repair must keep at least every item before
 * the first damaged data byte; a damaged header is not repaired (the
 * repair trusts the header to find the data), so those rounds stop at the
 * check. */
START_TEST(random_byte_flips_never_crash_or_lie)
{
	static const char *const names[] = {"no_timestamps.blt", "fixed.blt",
	    "metadata.blt", "str_orjson.blt", "v4_genuine.blt",
	    "tricky_bytes_keys.blt"};
	enum { N = sizeof names / sizeof *names, ROUNDS = 300 };
	struct manifest *m[N];
	struct bad_layout l[N];
	unsigned char *orig[N];
	size_t size[N];
	unsigned seed = tu_seed();

	srand(seed);
	for (size_t i = 0; i < N; i++) {
		char src[PATH_MAX];

		bad_fixture_path(names[i], src, sizeof src);
		orig[i] = bad_read_file(src, &size[i]);
		m[i] = bad_manifest(names[i]);
		bad_layout_load(src, m[i], &l[i]);
	}
	for (int round = 0; round < ROUNDS; round++) {
		size_t f = (size_t)rand() % N,
		       index_end = HEADER_LEN + PTR_LEN * 12007;
		unsigned char *b = malloc(size[f]);
		struct bad_damage d = {0}, before = {0};
		struct bad_result r;
		struct bad_report rep;
		int flips = 1 + rand() % 4, header = 0;
		uint64_t first = UINT64_MAX;

		ck_assert(b != NULL);
		memcpy(b, orig[f], size[f]);
		d.enoent_ok = 1;
		for (int k = 0; k < flips; k++) {
			size_t at;
			int where = rand() % 8;

			if (where == 0) /* header */
				at = (size_t)rand() % HEADER_LEN;
			else if (where <= 2) /* index */
				at = HEADER_LEN +
				     (size_t)rand() % (index_end - HEADER_LEN);
			else /* data */
				at = index_end +
				     (size_t)rand() % (size[f] - index_end);
			b[at] ^= (unsigned char)(1 + rand() % 255);
			bad_damage_add(&d, at, at + 1);
			header |= at < HEADER_LEN;
			if (at >= index_end && at < first)
				first = at;
		}
		bad_damage_add(&before, first, UINT64_MAX);
		bad_write_file(path, b, size[f]);
		free(b);
		bad_read(path, m[f], &d, &r);
		if (bad_check(path, 0, &rep) > 0 && !header)
			bad_repair(path, &l[f], &before);
		if (round % 50 == 0)
			fprintf(stderr,
			    "round %d (%s): open %d scan %d, %zu "
			    "scanned, %zu got, %zu euclean, %zu "
			    "enoent\n",
			    round, names[f], r.open_rc, r.scan_rc, r.scanned,
			    r.got, r.euclean, r.enoent);
	}
	for (size_t i = 0; i < N; i++) {
		free(orig[i]);
		bad_layout_free(&l[i]);
		manifest_free(m[i]);
	}
}
END_TEST

static Suite *
badinput_suite(void)
{
	Suite *s = suite_create("badinput");
	TCase *tc = tcase_create("notbooklet");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, empty_file_is_not_a_booklet_store);
	tcase_add_test(tc, hundred_byte_file_is_not_a_booklet_store);
	tcase_add_test(tc, text_file_is_not_a_booklet_store);
	tcase_add_test(tc, random_bytes_are_not_a_booklet_store);
	tcase_add_test(tc, unknown_file_type_is_not_a_booklet_store);
	tcase_add_test(tc, version_2_is_not_supported_and_named);
	tcase_add_test(tc, version_9_is_not_supported_and_named);
	tcase_add_test(tc, old_v3_layout_is_not_supported_and_named);
	tcase_add_test(tc, zero_buckets_is_a_damaged_header);
	tcase_add_test(tc, huge_bucket_count_runs_past_the_end);
	tcase_add_test(tc, index_offset_past_eof_is_a_damaged_header);
	tcase_add_test(
	    tc, index_and_first_data_past_eof_are_not_taken_for_a_cut);
	tcase_add_test(
	    tc, bucket_count_reaching_past_the_data_is_not_taken_for_a_cut);
	tcase_add_test(tc, index_offset_inside_the_header_is_a_damaged_header);
	tcase_add_test(
	    tc, index_offset_moved_into_the_index_is_refused_at_open);
	tcase_add_test(tc, first_data_past_eof_is_a_damaged_header);
	tcase_add_test(tc, wrong_field_widths_are_a_damaged_header);
	suite_add_tcase(s, tc);

	/* Generous timeouts for valgrind; a hang still fails. */
	tc = tcase_create("damage");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, shrunk_bucket_count_never_returns_garbage);
	tcase_add_test(tc, truncated_variable_store_is_an_error_never_garbage);
	tcase_add_test(tc, truncated_fixed_store_is_an_error_never_garbage);
	tcase_add_test(tc, truncated_v4_store_is_an_error_never_garbage);
	tcase_add_test(tc, truncated_reindexed_store_is_an_error_never_garbage);
	tcase_add_test(tc, store_cut_at_a_block_edge_scans_to_an_error);
	tcase_add_test(tc, bucket_pointer_past_eof_is_euclean);
	tcase_add_test(tc, bucket_pointer_into_the_header_is_euclean);
	tcase_add_test(tc, chain_that_leads_to_itself_loops_with_euclean);
	tcase_add_test(
	    tc, chain_of_two_blocks_that_lead_to_each_other_loops_with_euclean);
	tcase_add_test(tc, stray_bucket_pointer_in_an_empty_store_is_found);
	tcase_add_test(tc, key_length_past_the_end_is_euclean);
	tcase_add_test(tc, value_length_past_the_end_is_euclean);
	tcase_add_test(tc, value_length_a_few_bytes_short_is_repaired);
	tcase_add_test(
	    tc, value_length_short_before_a_relocated_index_is_repaired);
	tcase_add_test(
	    tc, key_length_off_by_one_is_euclean_not_a_shifted_value);
	tcase_add_test(tc,
	    bucket_count_grown_into_the_data_after_a_relocated_index_is_repaired);
	tcase_add_test(tc, flipped_timestamp_flag_never_returns_garbage);
	tcase_add_test(tc, flipped_key_byte_is_never_listed);
	tcase_add_test(tc, random_byte_flips_never_crash_or_lie);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(badinput_suite());
}
