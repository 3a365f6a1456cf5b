/*
 * fixtures-compare.c: the comparisons of a reference fixture with its
 * manifest (see fixtures-lib.h): the header as blt_stat() reports it, each
 * item through get, exists, get_timestamp, find and read, a full scan, the
 * metadata (as JSON, compared by meaning), the reserved slots and keys that
 * are absent.  Each notes its mismatches with fx_problem() and goes on.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "booklet.h"
#include "manifest.h"
#include "fixtures-lib.h"

/* The format constants of README.md "Internal keys" (format §6.3). */
static const char *const fx_internal_keys[] = {"adb01ebc1ba3433eb043527",
    "7c40d2ea915b4f3a8e6d201", "f19a5c3d7e2b48069ab34c5"};

/* A key for messages: its text when it is short printable ASCII, else
 * "hex:" and its (possibly shortened) hex. */
static const char *
fx_keyname(const void *key, size_t klen, char *buf, size_t bufsz)
{
	const unsigned char *k = key;
	size_t i;

	for (i = 0; i < klen && k[i] >= 0x20 && k[i] < 0x7f && k[i] != '\'';
	     i++)
		;
	if (i == klen && klen > 0 && klen < bufsz - 2 && klen <= 80) {
		snprintf(buf, bufsz, "'%.*s'", (int)klen, (const char *)key);
		return buf;
	}
	memcpy(buf, "hex:", 5);
	manifest_hex(key, klen, buf + 4, bufsz - 4);
	return buf;
}

#define FX_KEY(it, buf) fx_keyname((it)->key, (it)->klen, buf, sizeof buf)

static int64_t
fx_expected_ts(const struct fx *f, const struct manifest_item *it)
{
	return f->m->timestamps ? it->timestamp : BLT_NO_TS;
}

/* 1 if len bytes at p are the value of it (by bytes or by digest). */
static int
fx_value_is(const struct manifest_item *it, const void *p, uint64_t len)
{
	unsigned char d[SHA256_LEN];

	if (len != it->value_len)
		return 0;
	if (it->value != NULL)
		return len == 0 || memcmp(p, it->value, len) == 0;
	sha256(p, len, d);
	return memcmp(d, it->sha256, SHA256_LEN) == 0;
}

/* The size of the file at path now. */
static uint64_t
fx_file_size(const struct fx *f)
{
	struct stat sb;

	ck_assert_msg(
	    fstat(f->fd, &sb) == 0, "%s: %s", f->path, strerror(errno));
	return (uint64_t)sb.st_size;
}

/* Live and dead bytes as blt_stat() defines them: the data regions (format
 * §1) hold nothing but blocks, the live ones are the items' (sizes from
 * format §5.1, §5.2) plus the metadata and reserved slots; dead is what a
 * prune reclaims: tombstones, skip blocks and the abandoned index space
 * before the first data block. */
static void
fx_check_bytes(struct fx *f, const struct blt_stat *st, uint64_t size)
{
	const struct manifest *m = f->m;
	const struct manifest_layout *l = &m->layout;
	uint64_t live = 0, regions, abandoned;
	uint64_t head = m->timestamps ? 25 + 7 : 25;
	unsigned char c;
	ssize_t r;
	size_t i;

	/* Bytes between the header and the first data block that are not
	 * the current index: an index abandoned by a reindex. */
	abandoned = l->first_data - 200 -
	            (l->index_offset == 200 ? 6 * (uint64_t)l->n_buckets : 0);
	regions =
	    l->index_offset == 200
	        ? size - l->first_data
	        : l->index_offset - l->first_data +
	              (size - l->index_offset - 6 * (uint64_t)l->n_buckets);
	for (i = 0; i < m->n_items; i++)
		live += (m->fixed ? 21 : head) + m->items[i].klen +
		        m->items[i].value_len;
	for (i = 0; i < 2; i++)
		if (m->reserved_set[i])
			live += head + 23 + m->reserved_len[i];
	if (m->metadata != NULL) {
		if ((r = blt_get_meta(f->db, &c, 0, NULL)) < 0)
			return; /* fixture_metadata_matches_manifest says why */
		live += head + 23 + (uint64_t)r;
	}
	if (st->live_bytes != live)
		fx_problem(f,
		    "stat live_bytes %" PRIu64
		    ", but the live blocks take %" PRIu64,
		    st->live_bytes, live);
	else if (st->dead_bytes != regions - live + abandoned)
		fx_problem(f,
		    "stat dead_bytes %" PRIu64
		    ", but tombstones, skip blocks and abandoned index take "
		    "%" PRIu64,
		    st->dead_bytes, regions - live + abandoned);
}

/* blt_stat() and friends against the file-level fields and "layout". */
void
fx_check_stat(struct fx *f)
{
	const struct manifest *m = f->m;
	const struct manifest_layout *l = &m->layout;
	struct blt_stat st;
	uint64_t size = fx_file_size(f);
	char a[40], b[40];
	int rc, flags;

	memset(&st, 0xa5, sizeof st);
	if ((rc = blt_stat(f->db, &st)) != 0) {
		fx_problem(f, "blt_stat: %d %s", rc, blt_errmsg());
		return;
	}
	if (st.version != l->format_version)
		fx_problem(f, "stat version %u, manifest format_version %u",
		    st.version, l->format_version);
	if (st.fixed != m->fixed)
		fx_problem(f, "stat fixed %d, manifest %s", st.fixed,
		    m->fixed ? "fixed" : "variable");
	if (m->fixed && st.value_len != m->value_len)
		fx_problem(f, "stat value_len %" PRIu32 ", manifest %" PRIu32,
		    st.value_len, m->value_len);
	if (st.timestamps != m->timestamps)
		fx_problem(f, "stat timestamps %d, manifest %d", st.timestamps,
		    m->timestamps);
	if (st.key_serializer != m->key_serializer_code)
		fx_problem(f, "stat key_serializer %u, manifest %u",
		    (unsigned)st.key_serializer, m->key_serializer_code);
	if (st.value_serializer != m->value_serializer_code)
		fx_problem(f, "stat value_serializer %u, manifest %u",
		    (unsigned)st.value_serializer, m->value_serializer_code);
	if (st.n_keys != m->n_keys)
		fx_problem(f, "stat n_keys %" PRIu64 ", manifest %" PRIu64,
		    st.n_keys, m->n_keys);
	if (blt_count(f->db) != (int64_t)m->n_keys)
		fx_problem(f, "blt_count %" PRId64 ", manifest n_keys %" PRIu64,
		    blt_count(f->db), m->n_keys);
	if (st.n_buckets != l->n_buckets)
		fx_problem(f, "stat n_buckets %" PRIu32 ", manifest %" PRIu32,
		    st.n_buckets, l->n_buckets);
	if (st.index_offset != l->index_offset)
		fx_problem(f,
		    "stat index_offset %" PRIu64 ", manifest %" PRIu64
		    " (raw %" PRIu64 ")",
		    st.index_offset, l->index_offset, l->index_offset_raw);
	if (st.first_data != l->first_data)
		fx_problem(f,
		    "stat first_data %" PRIu64
		    ", manifest first_data_block_pos %" PRIu64 " (raw %" PRIu64
		    ")",
		    st.first_data, l->first_data, l->first_data_raw);
	if (st.created != l->file_timestamp)
		fx_problem(f,
		    "stat created %" PRId64
		    ", manifest file_timestamp_us %" PRId64,
		    st.created, l->file_timestamp);
	if (memcmp(st.uuid, l->uuid, 16) != 0)
		fx_problem(f, "stat uuid %s, manifest %s",
		    manifest_hex(st.uuid, 16, a, sizeof a),
		    manifest_hex(l->uuid, 16, b, sizeof b));
	/* a copy may be rewritten by its writable opens; the fixture not */
	if (st.file_bytes != (f->copy ? size : l->file_size))
		fx_problem(f,
		    "stat file_bytes %" PRIu64 ", file has %" PRIu64
		    ", manifest file_size %" PRIu64,
		    st.file_bytes, size, l->file_size);
	fx_check_bytes(f, &st, size);
	flags = blt_flags(f->db);
	if (flags & BLT_RECOVERED)
		fx_problem(f, "blt_flags has BLT_RECOVERED for a cleanly "
		              "closed store");
}

/* blt_get() of every item: length, bytes (or digest), timestamp, and that
 * nothing is written past the value in the caller's buffer. */
void
fx_check_items(struct fx *f)
{
	const struct manifest *m = f->m;
	unsigned char *buf;
	char kb[96];
	int64_t ts;
	ssize_t r;
	size_t i, j, cap;

	for (i = 0; i < m->n_items; i++) {
		const struct manifest_item *it = &m->items[i];

		cap = (size_t)it->value_len + 16;
		buf = fx_alloc(cap);
		memset(buf, 0xa5, cap);
		ts = INT64_MIN;
		r = blt_get(f->db, it->key, it->klen, buf, cap, &ts);
		if (r < 0)
			fx_problem(f, "blt_get %s: %zd %s", FX_KEY(it, kb), r,
			    blt_errmsg());
		else if ((uint64_t)r != it->value_len)
			fx_problem(f,
			    "blt_get %s: length %zd, manifest "
			    "value_len %" PRIu64,
			    FX_KEY(it, kb), r, it->value_len);
		else if (!fx_value_is(it, buf, it->value_len))
			fx_problem(f,
			    "blt_get %s: value bytes differ from "
			    "the manifest (%s)",
			    FX_KEY(it, kb),
			    it->value ? "value_hex" : "value_sha256");
		else if (ts != fx_expected_ts(f, it))
			fx_problem(f,
			    "blt_get %s: timestamp %" PRId64
			    ", manifest %" PRId64,
			    FX_KEY(it, kb), ts, fx_expected_ts(f, it));
		for (j = it->value_len; r >= 0 && j < cap; j++)
			if (buf[j] != 0xa5) {
				fx_problem(f,
				    "blt_get %s: wrote past the "
				    "value's %" PRIu64 " bytes",
				    FX_KEY(it, kb), it->value_len);
				break;
			}
		free(buf);
	}
	/* ts may be NULL */
	if (m->n_items > 0) {
		const struct manifest_item *it = &m->items[0];

		buf = fx_alloc((size_t)it->value_len);
		r = blt_get(
		    f->db, it->key, it->klen, buf, (size_t)it->value_len, NULL);
		if (r < 0 || (uint64_t)r != it->value_len)
			fx_problem(f, "blt_get %s with ts NULL: %zd %s",
			    FX_KEY(it, kb), r, r < 0 ? blt_errmsg() : "");
		free(buf);
	}
}

/* The true value of it: the manifest's bytes, or blt_get()'s once they
 * match the digest.  NULL (and a problem noted) when they do not. */
static unsigned char *
fx_value(struct fx *f, const struct manifest_item *it)
{
	unsigned char *buf = fx_alloc((size_t)it->value_len);
	char kb[96];
	ssize_t r;

	if (it->value != NULL) {
		memcpy(buf, it->value, (size_t)it->value_len);
		return buf;
	}
	r = blt_get(f->db, it->key, it->klen, buf, (size_t)it->value_len, NULL);
	if (r >= 0 && (uint64_t)r == it->value_len &&
	    fx_value_is(it, buf, it->value_len))
		return buf;
	fx_problem(f,
	    "blt_get %s: %zd, not the manifest's %" PRIu64 "-byte value",
	    FX_KEY(it, kb), r, it->value_len);
	free(buf);
	return NULL;
}

/* blt_read() of a few slices of the value v (length len) of it. */
static void
fx_check_slices(
    struct fx *f, const struct manifest_item *it, const unsigned char *v)
{
	uint64_t len = it->value_len;
	const struct {
		uint64_t off;
		size_t n;
	} sl[] = {{0, 5}, {0, (size_t)len}, {len / 3, (size_t)(len / 3 + 1)},
	    {len > 0 ? len - 1 : 0, 10}, {len, 1}, {len + 1, 4},
	    {UINT64_MAX - 2, 4}};
	unsigned char buf[4096 + 8], *big = NULL, *dst;
	uint64_t want;
	char kb[96];
	ssize_t r;
	size_t i;

	for (i = 0; i < sizeof sl / sizeof sl[0]; i++) {
		want = sl[i].off < len ? len - sl[i].off : 0;
		want = want < sl[i].n ? want : sl[i].n;
		dst = buf;
		if (sl[i].n > sizeof buf)
			dst = big = fx_alloc(sl[i].n);
		r = blt_read(f->db, it->key, it->klen, sl[i].off, dst, sl[i].n);
		if (r < 0 || (uint64_t)r != want)
			fx_problem(f,
			    "blt_read %s off %" PRIu64 " n %zu: %zd "
			    "(want %" PRIu64 ") %s",
			    FX_KEY(it, kb), sl[i].off, sl[i].n, r, want,
			    r < 0 ? blt_errmsg() : "");
		else if (want > 0 && memcmp(dst, v + sl[i].off, want) != 0)
			fx_problem(f,
			    "blt_read %s off %" PRIu64 " n %zu: bytes differ",
			    FX_KEY(it, kb), sl[i].off, sl[i].n);
		free(big);
		big = NULL;
	}
}

/* exists, get_timestamp, find (checked against the file's own bytes),
 * read slices and a get into a short buffer, for every item. */
void
fx_check_lookups(struct fx *f)
{
	const struct manifest *m = f->m;
	uint64_t size = fx_file_size(f), gen = blt_generation(f->db);
	unsigned char *v, *buf;
	struct blt_entry e;
	char kb[96];
	int64_t ts;
	ssize_t r;
	size_t i, cap;
	int rc;

	for (i = 0; i < m->n_items; i++) {
		const struct manifest_item *it = &m->items[i];

		if ((rc = blt_exists(f->db, it->key, it->klen)) != 1)
			fx_problem(f, "blt_exists %s: %d %s", FX_KEY(it, kb),
			    rc, rc < 0 ? blt_errmsg() : "");

		ts = INT64_MIN;
		rc = blt_get_timestamp(f->db, it->key, it->klen, &ts);
		if (m->timestamps && (rc != 0 || ts != it->timestamp))
			fx_problem(f,
			    "blt_get_timestamp %s: %d, %" PRId64
			    ", manifest %" PRId64 " %s",
			    FX_KEY(it, kb), rc, ts, it->timestamp,
			    rc < 0 ? blt_errmsg() : "");
		if (!m->timestamps && rc != -ENOTSUP)
			fx_problem(f,
			    "blt_get_timestamp %s: %d in a store "
			    "without timestamps, want -ENOTSUP",
			    FX_KEY(it, kb), rc);

		if ((v = fx_value(f, it)) == NULL)
			continue;
		memset(&e, 0xa5, sizeof e);
		if ((rc = blt_find(f->db, it->key, it->klen, &e)) != 0)
			fx_problem(f, "blt_find %s: %d %s", FX_KEY(it, kb), rc,
			    blt_errmsg());
		else if (e.value_len != it->value_len ||
		         e.timestamp != fx_expected_ts(f, it) || e.gen != gen)
			fx_problem(f,
			    "blt_find %s: value_len %" PRIu64
			    " timestamp %" PRId64 " gen %" PRIu64
			    ", want %" PRIu64 " %" PRId64 " %" PRIu64,
			    FX_KEY(it, kb), e.value_len, e.timestamp, e.gen,
			    it->value_len, fx_expected_ts(f, it), gen);
		else if (e.value_off > size || size - e.value_off < e.value_len)
			fx_problem(f,
			    "blt_find %s: value at %" PRIu64 "+%" PRIu64
			    " is past the end (%" PRIu64 ")",
			    FX_KEY(it, kb), e.value_off, e.value_len, size);
		else {
			buf = fx_alloc((size_t)e.value_len);
			r = pread(f->fd, buf, (size_t)e.value_len,
			    (off_t)e.value_off);
			if (r < 0 || (uint64_t)r != e.value_len ||
			    memcmp(buf, v, (size_t)e.value_len) != 0)
				fx_problem(f,
				    "blt_find %s: the file's bytes "
				    "at %" PRIu64 " are not the value",
				    FX_KEY(it, kb), e.value_off);
			free(buf);
		}

		fx_check_slices(f, it, v);

		/* a short buffer gets a prefix and the full length */
		cap = (size_t)it->value_len / 2;
		buf = fx_alloc(cap + 8);
		memset(buf, 0xa5, cap + 8);
		r = blt_get(f->db, it->key, it->klen, buf, cap, NULL);
		if (r < 0 || (uint64_t)r != it->value_len ||
		    memcmp(buf, v, cap) != 0)
			fx_problem(f,
			    "blt_get %s into %zu bytes: %zd, want "
			    "the first %zu bytes and %" PRIu64,
			    FX_KEY(it, kb), cap, r, cap, it->value_len);
		else if (buf[cap] != 0xa5)
			fx_problem(f,
			    "blt_get %s into %zu bytes: wrote past cap",
			    FX_KEY(it, kb), cap);
		free(buf);
		free(v);
	}
}

static int
fx_is_internal(const unsigned char *key, size_t klen)
{
	size_t i;

	for (i = 0; i < sizeof fx_internal_keys / sizeof fx_internal_keys[0];
	     i++)
		if (klen == strlen(fx_internal_keys[i]) &&
		    memcmp(key, fx_internal_keys[i], klen) == 0)
			return 1;
	return 0;
}

/* A full scan yields each manifest key exactly once, with its value and
 * timestamp, and nothing else. */
void
fx_check_scan(struct fx *f)
{
	const struct manifest *m = f->m;
	const struct manifest_item *it;
	struct blt_iter *iter;
	struct blt_item item;
	uint64_t size = fx_file_size(f);
	unsigned char *seen;
	size_t n = 0, missing = 0, i;
	char kb[96];
	int rc;

	if ((rc = blt_iter_create(f->db, &iter)) != 0) {
		fx_problem(f, "blt_iter_create: %d %s", rc, blt_errmsg());
		return;
	}
	seen = fx_alloc(m->n_items);
	memset(seen, 0, m->n_items);
	/* bounded, so a scan that loops is a failure and not a hang */
	while (n <= m->n_items + 100) {
		memset(&item, 0, sizeof item);
		if ((rc = blt_iter_next(iter, &item)) != 1)
			break;
		n++;
		if (fx_is_internal(item.key, item.klen)) {
			fx_problem(f, "scan lists the internal key %s",
			    fx_keyname(item.key, item.klen, kb, sizeof kb));
			continue;
		}
		if ((it = manifest_find(m, item.key, item.klen)) == NULL) {
			fx_problem(f,
			    "scan lists %s, which the manifest has not",
			    fx_keyname(item.key, item.klen, kb, sizeof kb));
			continue;
		}
		if (seen[it - m->items]++)
			fx_problem(f, "scan lists %s again", FX_KEY(it, kb));
		if (!fx_value_is(it, item.value, item.vlen))
			fx_problem(f,
			    "scan %s: value of %zu bytes differs from "
			    "the manifest's %" PRIu64,
			    FX_KEY(it, kb), item.vlen, it->value_len);
		if (item.timestamp != fx_expected_ts(f, it))
			fx_problem(f,
			    "scan %s: timestamp %" PRId64 ", manifest %" PRId64,
			    FX_KEY(it, kb), item.timestamp,
			    fx_expected_ts(f, it));
		if (item.offset >= size)
			fx_problem(f,
			    "scan %s: block offset %" PRIu64
			    " past the end (%" PRIu64 ")",
			    FX_KEY(it, kb), item.offset, size);
	}
	if (rc < 0)
		fx_problem(f, "blt_iter_next after %zu items: %d %s", n, rc,
		    blt_errmsg());
	else if (rc == 1)
		fx_problem(f, "scan still going after %zu items", n);
	for (i = 0; i < m->n_items; i++)
		if (!seen[i] && missing++ < 5)
			fx_problem(
			    f, "scan misses %s", FX_KEY(&m->items[i], kb));
	if (missing > 0)
		fx_problem(f, "scan misses %zu of %zu keys (yielded %zu items)",
		    missing, m->n_items, n);
	blt_iter_free(iter);
	free(seen);
}

/* Get a variable-size internal value (metadata or a reserved slot) into a
 * new buffer; returns blt's result and leaves *out NULL on an error. */
static ssize_t
fx_get_internal(struct fx *f, int slot, unsigned char **out)
{
	size_t cap = 256;
	ssize_t r;
	int64_t ts;

	for (;;) {
		*out = fx_alloc(cap);
		r = slot == 0 ? blt_get_meta(f->db, *out, cap, &ts)
		              : blt_get_reserved(f->db, slot, *out, cap, &ts);
		if (r < 0 || (size_t)r <= cap)
			break;
		free(*out);
		cap = (size_t)r;
	}
	if (r < 0) {
		free(*out);
		*out = NULL;
	}
	return r;
}

/* blt_get_meta() is the manifest's metadata, compared as JSON. */
void
fx_check_meta(struct fx *f)
{
	struct json *got;
	unsigned char *text;
	char where[256];
	ssize_t r;
	int rc;

	r = fx_get_internal(f, 0, &text);
	if (f->m->metadata == NULL) {
		/* a fixed store has no metadata; either answer says so */
		if (r != -ENOENT && !(f->m->fixed && r == -ENOTSUP))
			fx_problem(f,
			    "blt_get_meta: %zd, want -ENOENT (no metadata)", r);
		free(text);
		return;
	}
	if (r < 0) {
		fx_problem(f, "blt_get_meta: %zd %s", r, blt_errmsg());
		return;
	}
	if ((rc = json_parse(
	         (const char *)text, (size_t)r, JSON_SURROGATES, &got)) < 0)
		fx_problem(f,
		    "blt_get_meta gives %zd bytes that are not JSON (%s): %.*s",
		    r, blt_errmsg(), (int)(r < 200 ? r : 200), text);
	else if (!json_same(f->m->metadata, got, where, sizeof where))
		fx_problem(f,
		    "blt_get_meta differs from the manifest's "
		    "metadata at %s: %.*s",
		    where, (int)(r < 200 ? r : 200), text);
	if (rc == 0)
		json_free(got);
	free(text);
}

/* blt_get_reserved() of slots 1 and 2 is the manifest's bytes; other slot
 * numbers are refused. */
void
fx_check_reserved(struct fx *f)
{
	unsigned char *data, buf[16];
	char hex[80];
	ssize_t r;
	int slot;

	for (slot = 1; slot <= 2; slot++) {
		const unsigned char *want = f->m->reserved[slot - 1];
		size_t wlen = f->m->reserved_len[slot - 1];

		r = fx_get_internal(f, slot, &data);
		if (!f->m->reserved_set[slot - 1]) {
			if (r != -ENOENT && !(f->m->fixed && r == -ENOTSUP))
				fx_problem(f,
				    "blt_get_reserved %d: %zd, want "
				    "-ENOENT (unset)",
				    slot, r);
		} else if (r < 0)
			fx_problem(f, "blt_get_reserved %d: %zd %s", slot, r,
			    blt_errmsg());
		else if ((size_t)r != wlen || memcmp(data, want, wlen) != 0)
			fx_problem(f,
			    "blt_get_reserved %d: %zd bytes %s, "
			    "manifest %zu bytes",
			    slot, r,
			    manifest_hex(data, (size_t)r, hex, sizeof hex),
			    wlen);
		free(data);
	}
	if ((r = blt_get_reserved(f->db, 0, buf, sizeof buf, NULL)) >= 0)
		fx_problem(f, "blt_get_reserved 0: %zd, want an error", r);
	if ((r = blt_get_reserved(f->db, 3, buf, sizeof buf, NULL)) >= 0)
		fx_problem(f, "blt_get_reserved 3: %zd, want an error", r);
}

/* Every lookup of key, which is not in the store, says -ENOENT. */
static void
fx_check_absent(struct fx *f, const void *key, size_t klen)
{
	unsigned char buf[64];
	struct blt_entry e;
	char kb[96];
	int64_t ts;
	ssize_t r;
	int rc;

	fx_keyname(key, klen, kb, sizeof kb);
	if ((r = blt_get(f->db, key, klen, buf, sizeof buf, &ts)) != -ENOENT)
		fx_problem(
		    f, "blt_get of missing %s: %zd, want -ENOENT", kb, r);
	if ((rc = blt_exists(f->db, key, klen)) != 0)
		fx_problem(f, "blt_exists of missing %s: %d", kb, rc);
	if ((rc = blt_find(f->db, key, klen, &e)) != -ENOENT)
		fx_problem(
		    f, "blt_find of missing %s: %d, want -ENOENT", kb, rc);
	if ((r = blt_read(f->db, key, klen, 0, buf, sizeof buf)) != -ENOENT)
		fx_problem(
		    f, "blt_read of missing %s: %zd, want -ENOENT", kb, r);
	rc = blt_get_timestamp(f->db, key, klen, &ts);
	if (rc != -ENOENT && !(!f->m->timestamps && rc == -ENOTSUP))
		fx_problem(f,
		    "blt_get_timestamp of missing %s: %d, want -ENOENT", kb,
		    rc);
}

/* Keys near the stored ones (prefixes, extensions, a changed last byte)
 * and unrelated ones are all -ENOENT. */
void
fx_check_missing(struct fx *f)
{
	static const char *const probes[] = {"no such key in any fixture", "",
	    "a", "/", "0", "\xff\xfe\xfd missing", "adb01ebc1ba3433eb04352"};
	const struct manifest *m = f->m;
	unsigned char *k;
	size_t i, j, pick[3], klen;
	ssize_t r;

	for (i = 0; i < sizeof probes / sizeof probes[0]; i++)
		if (manifest_find(m, probes[i], strlen(probes[i])) == NULL)
			fx_check_absent(f, probes[i], strlen(probes[i]));
	k = fx_alloc(BLT_KEY_MAX + 2);
	memset(k, 'q', BLT_KEY_MAX + 2);
	fx_check_absent(f, k, 1000);
	fx_check_absent(f, k, BLT_KEY_MAX);
	/* longer than any key can be: missing, or refused, never a crash */
	r = blt_get(f->db, k, BLT_KEY_MAX + 1, k, 1, NULL);
	if (r != -ENOENT && r != -EINVAL)
		fx_problem(f,
		    "blt_get of a %u-byte key: %zd, want -ENOENT or -EINVAL",
		    BLT_KEY_MAX + 1, r);
	free(k);

	if (m->n_items == 0)
		return;
	pick[0] = 0;
	pick[1] = m->n_items / 2;
	pick[2] = m->n_items - 1;
	for (j = 0; j < 3; j++) {
		const struct manifest_item *it = &m->items[pick[j]];

		k = fx_alloc(it->klen + 1);
		memcpy(k, it->key, it->klen);
		k[it->klen] = '\0';
		klen = it->klen + 1;
		if (manifest_find(m, k, klen) == NULL)
			fx_check_absent(f, k, klen); /* with a NUL added */
		if (it->klen > 0 && manifest_find(m, k, it->klen - 1) == NULL)
			fx_check_absent(f, k, it->klen - 1); /* a prefix */
		if (it->klen > 0) {
			k[it->klen - 1] ^= 0x01;
			if (manifest_find(m, k, it->klen) == NULL)
				fx_check_absent(f, k, it->klen);
		}
		free(k);
	}
}

void
fx_check_all(struct fx *f)
{
	fx_check_stat(f);
	fx_check_items(f);
	fx_check_lookups(f);
	fx_check_scan(f);
	fx_check_meta(f);
	fx_check_reserved(f);
	fx_check_missing(f);
}
