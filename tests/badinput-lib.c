/*
 * badinput-lib.c: see badinput-lib.h.  The checks every bad-input suite
 * runs on a damaged store: it must give an error that names the file and
 * the cause, never a crash, a hang or a value the store does not hold;
 * blt_check must find the damage, and its repair must give a sound store
 * that keeps every item the damage did not touch.
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
#include "badinput-lib.h"

char bad_repaired[PATH_MAX + 8];

/* --- files ------------------------------------------------------------- */

/* The path of fixture name in out. */
void
bad_fixture_path(const char *name, char *out, size_t size)
{
	snprintf(out, size, "%s/%s", tu_fixtures(), name);
}

/* Copy fixture name (e.g. "fixed.blt") to p. */
void
bad_copy_fixture(const char *name, const char *p)
{
	char src[PATH_MAX];

	bad_fixture_path(name, src, sizeof src);
	ck_assert_msg(tu_copy(src, p) == 0, "cannot copy %s to %s", src, p);
}

/* The manifest of fixture name ("fixed.blt" reads "fixed.json"). */
struct manifest *
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

/* Make p a file of the n bytes at data. */
void
bad_write_file(const char *p, const void *data, size_t n)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	ck_assert_msg(fd >= 0, "%s: %s", p, strerror(errno));
	ck_assert(write(fd, data, n) == (ssize_t)n);
	close(fd);
}

/* Read the whole file p; the caller frees. */
unsigned char *
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

/* Write the n bytes at b at off of p. */
void
bad_poke(const char *p, uint64_t off, const void *b, size_t n)
{
	int fd = open(p, O_WRONLY);

	ck_assert_msg(fd >= 0, "%s: %s", p, strerror(errno));
	ck_assert(pwrite(fd, b, n, (off_t)off) == (ssize_t)n);
	close(fd);
}

/* Write v as an n-byte little-endian field at off of p. */
void
bad_poke_le(const char *p, uint64_t off, uint64_t v, unsigned n)
{
	unsigned char b[8];

	le_put(b, v, n);
	bad_poke(p, off, b, n);
}

/* The n-byte little-endian field at off of p. */
uint64_t
bad_peek_le(const char *p, uint64_t off, unsigned n)
{
	unsigned char b[8];
	int fd = open(p, O_RDONLY);

	ck_assert_msg(fd >= 0, "%s: %s", p, strerror(errno));
	ck_assert(pread(fd, b, n, (off_t)off) == (ssize_t)n);
	close(fd);
	return le_get(b, n);
}

/* Cut p to len bytes. */
void
bad_truncate(const char *p, uint64_t len)
{
	ck_assert_msg(
	    truncate(p, (off_t)len) == 0, "%s: %s", p, strerror(errno));
}

/* --- messages and reports -------------------------------------------- */

/* The last engine message names p and says word. */
void
bad_assert_msg(const char *p, const char *word)
{
	const char *m = blt_errmsg();

	ck_assert_msg(
	    strstr(m, p) != NULL, "message does not name %s: %s", p, m);
	ck_assert_msg(
	    strstr(m, word) != NULL, "message does not say '%s': %s", word, m);
}

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
int
bad_check(const char *p, int flags, struct bad_report *r)
{
	struct stat st;

	memset(r, 0, sizeof *r);
	if (stat(p, &st) == 0)
		r->size = (uint64_t)st.st_size;
	return blt_check(p, flags, bad_report_fn, r);
}

/* blt_check finds at least one problem in p, with an offset. */
void
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
void
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
void
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

/* Add [lo, hi) to the damaged ranges. */
void
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
uint64_t
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

/* rc is an error a damaged store may give, with a message that names p
 * and a cause. */
void
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
void
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
void
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

/* Where the live blocks of the pristine store at p lie. */
void
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

/* Free what bad_layout_load() allocated. */
void
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
int
bad_repair(
    const char *p, const struct bad_layout *l, const struct bad_damage *d)
{
	struct bad_report r;
	struct blt_iter *it;
	struct blt_item item;
	struct blt *db;
	int found, rc;

	snprintf(bad_repaired, sizeof bad_repaired, "%s.copy", p);
	ck_assert(tu_copy(p, bad_repaired) == 0);
	found = bad_check(bad_repaired, BLT_CHECK_REPAIR, &r);
	ck_assert_msg(
	    found >= 0, "%s: repair fails: %s", bad_repaired, blt_errmsg());
	ck_assert_int_eq(found, r.n);
	ck_assert_msg(blt_open(bad_repaired, BLT_RDONLY, NULL, &db) == 0,
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
		    "%s: repaired store lost key %s at %llu (%zd: %s)",
		    bad_repaired, mi->key_hex, (unsigned long long)l->b[i].off,
		    n, n < 0 ? blt_errmsg() : "wrong value");
		free(buf);
	}
	blt_close(db);
	rc = bad_check(bad_repaired, 0, &r);
	ck_assert_msg(rc == 0, "repaired store still has %d problems: %s", rc,
	    rc < 0 ? blt_errmsg() : r.first);
	return found;
}
