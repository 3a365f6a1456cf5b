/*
 * The fixture manifests.
 *
 * json_parse() (src/util/json.c) reads a manifest into a tree; manifest_load()
 * then walks it into a struct manifest, checking each field's type and the
 * manifest's own consistency, and decodes keys and values from hex.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "manifest.h"

#define MANIFEST_INLINE_MAX 4096 /* values this long come as a digest */
#define MANIFEST_FORMAT "blt-fixture-manifest/1"

/* Decode 2n hex digits at hex into n bytes at out. */
int
manifest_unhex(const char *hex, size_t n, unsigned char *out)
{
	if (json_unhex(hex, 2 * n, out) < 0)
		return blt_errmsg_set(-EBADMSG, "bad hex digits");
	return 0;
}

/* The hex of n bytes at p in buf, shortened with "..." to fit. */
char *
manifest_hex(const void *p, size_t n, char *buf, size_t bufsz)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *b = p;
	size_t i, room;

	if (bufsz == 0)
		return buf;
	room = (bufsz - 1) / 2;
	if (n > room)
		room = bufsz > 8 ? (bufsz - 4) / 2 : 0;
	else
		room = n;
	for (i = 0; i < room; i++) {
		buf[2 * i] = digits[b[i] >> 4];
		buf[2 * i + 1] = digits[b[i] & 15];
	}
	buf[2 * room] = '\0';
	if (room < n && bufsz >= 4)
		memcpy(buf + 2 * room, "...", 4);
	return buf;
}

/* Read the whole file at path into a NUL-terminated buffer. */
static int
manifest_read_file(const char *path, char **out, size_t *outlen)
{
	struct stat sb;
	char *buf = NULL;
	size_t got = 0;
	ssize_t r;
	int fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return blt_errmsg_set(-errno, "%s: %s", path, strerror(errno));
	if (fstat(fd, &sb) == -1) {
		rc = blt_errmsg_set(-errno, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if ((buf = malloc((size_t)sb.st_size + 1)) == NULL) {
		rc = blt_errmsg_set(-ENOMEM, "%s: out of memory", path);
		goto fail;
	}
	while (got < (size_t)sb.st_size) {
		r = read(fd, buf + got, (size_t)sb.st_size - got);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			rc = blt_errmsg_set(
			    -errno, "%s: %s", path, strerror(errno));
			goto fail;
		}
		if (r == 0)
			break; /* shrank meanwhile: parse what is there */
		got += (size_t)r;
	}
	buf[got] = '\0';
	close(fd);
	*out = buf;
	*outlen = got;
	return 0;
fail:
	free(buf);
	close(fd);
	return rc;
}

/* Where a field lives, for messages: "items[3].value_len" and the like. */
struct manifest_ctx {
	const char *path;
	const char *where; /* "" at the top level */
};

/* The member name of obj, which must exist; *out may be NULL when the
 * member is null and nullable is set. */
static int
manifest_field(const struct manifest_ctx *c, const struct json *obj,
    const char *name, enum json_type type, int nullable,
    const struct json **out)
{
	const struct json *v = json_get(obj, name);

	*out = NULL;
	if (v == NULL)
		return blt_errmsg_set(
		    -EBADMSG, "%s: %s%s missing", c->path, c->where, name);
	if (v->type == JSON_NULL && nullable)
		return 0;
	if (v->type == type || (type == JSON_TRUE && v->type == JSON_FALSE)) {
		*out = v;
		return 0;
	}
	return blt_errmsg_set(-EBADMSG, "%s: %s%s is %s, not %s%s", c->path,
	    c->where, name, json_type_name(v->type), json_type_name(type),
	    nullable ? " or null" : "");
}

/* An integer field between min and max (inclusive), from its text. */
static int
manifest_int_field(const struct manifest_ctx *c, const struct json *obj,
    const char *name, int nullable, int64_t min, uint64_t max, int *isnull,
    int64_t *sval, uint64_t *uval)
{
	const struct json *v;
	int rc;

	if ((rc = manifest_field(c, obj, name, JSON_NUMBER, nullable, &v)) < 0)
		return rc;
	if (isnull != NULL)
		*isnull = v == NULL;
	if (v == NULL || json_int(v, min, max, sval, uval) == 0)
		return 0;
	return blt_errmsg_set(-EBADMSG,
	    "%s: %s%s is %s, not an integer in [%lld, %llu]", c->path, c->where,
	    name, v->str, (long long)min, (unsigned long long)max);
}

/* A hex string field decoded into a new buffer (*out NULL when null). */
static int
manifest_hex_field(const struct manifest_ctx *c, const struct json *obj,
    const char *name, int nullable, unsigned char **out, size_t *outlen)
{
	const struct json *v;
	int rc;

	*out = NULL;
	*outlen = 0;
	if ((rc = manifest_field(c, obj, name, JSON_STRING, nullable, &v)) <
	        0 ||
	    v == NULL)
		return rc;
	if (v->len % 2 != 0)
		return blt_errmsg_set(-EBADMSG,
		    "%s: %s%s has an odd number of hex digits", c->path,
		    c->where, name);
	if ((*out = malloc(v->len / 2 + 1)) == NULL)
		return blt_errmsg_set(-ENOMEM, "%s: out of memory", c->path);
	if (manifest_unhex(v->str, v->len / 2, *out) < 0) {
		free(*out);
		*out = NULL;
		return blt_errmsg_set(
		    -EBADMSG, "%s: %s%s is not hex", c->path, c->where, name);
	}
	*outlen = v->len / 2;
	return 0;
}

/* A hex field that must decode to exactly n bytes at out. */
static int
manifest_fixed_hex_field(const struct manifest_ctx *c, const struct json *obj,
    const char *name, unsigned char *out, size_t n)
{
	const struct json *v;
	int rc;

	if ((rc = manifest_field(c, obj, name, JSON_STRING, 0, &v)) < 0)
		return rc;
	if (v->len != 2 * n || manifest_unhex(v->str, n, out) < 0)
		return blt_errmsg_set(-EBADMSG, "%s: %s%s is not %zu hex bytes",
		    c->path, c->where, name, n);
	return 0;
}

static int
manifest_item_cmp(const void *a, const void *b)
{
	const struct manifest_item *x = a, *y = b;
	size_t n = x->klen < y->klen ? x->klen : y->klen;
	int r = n ? memcmp(x->key, y->key, n) : 0;

	if (r != 0)
		return r;
	return (x->klen > y->klen) - (x->klen < y->klen);
}

/* Fill item i from its JSON object and check it against itself and the
 * file-level fields. */
static int
manifest_load_item(struct manifest *m, const struct json *j, size_t i)
{
	struct manifest_item *it = &m->items[i];
	const struct json *v;
	unsigned char digest[SHA256_LEN];
	char where[64];
	struct manifest_ctx c = {m->path, where};
	size_t vlen;
	int isnull, rc;

	snprintf(where, sizeof where, "items[%zu].", i);
	it->timestamp = MANIFEST_NO_TS;
	if (j->type != JSON_OBJECT)
		return blt_errmsg_set(-EBADMSG,
		    "%s: items[%zu] is %s, not an object", m->path, i,
		    json_type_name(j->type));
	if ((rc = manifest_field(&c, j, "key_hex", JSON_STRING, 0, &v)) < 0)
		return rc;
	it->key_hex = v->str;
	if ((rc = manifest_hex_field(
	         &c, j, "key_hex", 0, &it->key, &it->klen)) < 0)
		return rc;
	if ((rc = manifest_hex_field(
	         &c, j, "value_hex", 1, &it->value, &vlen)) < 0)
		return rc;
	if ((rc = manifest_int_field(&c, j, "value_len", 0, 0, UINT32_MAX, NULL,
	         NULL, &it->value_len)) < 0)
		return rc;
	if ((rc = manifest_fixed_hex_field(
	         &c, j, "value_sha256", it->sha256, SHA256_LEN)) < 0)
		return rc;
	if ((rc = manifest_int_field(&c, j, "timestamp_us", 1, INT64_MIN,
	         INT64_MAX, &isnull, &it->timestamp, NULL)) < 0)
		return rc;
	if (isnull)
		it->timestamp = MANIFEST_NO_TS;

	/* the manifest against itself, so a mistake there is not blamed on
	 * the store */
	if (it->value != NULL && vlen != it->value_len)
		return blt_errmsg_set(-EBADMSG,
		    "%s: %svalue_hex holds %zu bytes but value_len is %llu",
		    m->path, where, vlen, (unsigned long long)it->value_len);
	if ((it->value == NULL) != (it->value_len >= MANIFEST_INLINE_MAX))
		return blt_errmsg_set(-EBADMSG,
		    "%s: %svalue_hex should be %s for a value of %llu bytes",
		    m->path, where,
		    it->value_len >= MANIFEST_INLINE_MAX ? "null" : "given",
		    (unsigned long long)it->value_len);
	if (it->value != NULL) {
		sha256(it->value, vlen, digest);
		if (memcmp(digest, it->sha256, SHA256_LEN) != 0)
			return blt_errmsg_set(-EBADMSG,
			    "%s: %svalue_sha256 is not the digest of value_hex",
			    m->path, where);
	}
	if (isnull == m->timestamps)
		return blt_errmsg_set(-EBADMSG,
		    "%s: %stimestamp_us is %s in a store %s timestamps",
		    m->path, where, isnull ? "null" : "set",
		    m->timestamps ? "with" : "without");
	if (m->fixed && it->value_len != m->value_len)
		return blt_errmsg_set(-EBADMSG,
		    "%s: %svalue_len %llu in a fixed store of %u-byte values",
		    m->path, where, (unsigned long long)it->value_len,
		    (unsigned)m->value_len);
	if ((v = json_get(j, "key_text")) != NULL && v->type == JSON_STRING &&
	    (v->len != it->klen ||
	        (v->len > 0 && memcmp(v->str, it->key, v->len) != 0)))
		return blt_errmsg_set(-EBADMSG,
		    "%s: %skey_text differs from key_hex", m->path, where);
	return 0;
}

static int
manifest_load_layout(struct manifest *m, const struct json *root)
{
	char where[] = "layout.";
	struct manifest_ctx c = {m->path, where};
	struct manifest_layout *l = &m->layout;
	const struct json *j;
	uint64_t u;
	int rc;

	if ((rc = manifest_field(&c, root, "layout", JSON_OBJECT, 0, &j)) < 0)
		return rc;
	if ((rc = manifest_int_field(
	         &c, j, "format_version", 0, 0, 65535, NULL, NULL, &u)) < 0)
		return rc;
	l->format_version = (unsigned)u;
	if ((rc = manifest_int_field(
	         &c, j, "n_buckets", 0, 0, UINT32_MAX, NULL, NULL, &u)) < 0)
		return rc;
	l->n_buckets = (uint32_t)u;
	if ((rc = manifest_int_field(&c, j, "header_n_keys", 0, 0, UINT32_MAX,
	         NULL, NULL, &l->header_n_keys)) < 0 ||
	    (rc = manifest_int_field(&c, j, "index_offset", 0, 0, UINT64_MAX,
	         NULL, NULL, &l->index_offset)) < 0 ||
	    (rc = manifest_int_field(&c, j, "index_offset_raw", 0, 0,
	         UINT64_MAX, NULL, NULL, &l->index_offset_raw)) < 0 ||
	    (rc = manifest_int_field(&c, j, "first_data_block_pos", 0, 0,
	         UINT64_MAX, NULL, NULL, &l->first_data)) < 0 ||
	    (rc = manifest_int_field(&c, j, "first_data_block_pos_raw", 0, 0,
	         UINT64_MAX, NULL, NULL, &l->first_data_raw)) < 0 ||
	    (rc = manifest_int_field(&c, j, "file_size", 0, 0, UINT64_MAX, NULL,
	         NULL, &l->file_size)) < 0 ||
	    (rc = manifest_int_field(&c, j, "file_timestamp_us", 0, INT64_MIN,
	         INT64_MAX, NULL, &l->file_timestamp, NULL)) < 0)
		return rc;
	return manifest_fixed_hex_field(&c, j, "uuid", l->uuid, 16);
}

static int
manifest_load_reserved(struct manifest *m, const struct json *root)
{
	char where[] = "reserved.";
	struct manifest_ctx c = {m->path, where};
	const struct json *j;
	int rc, slot;

	if ((rc = manifest_field(&c, root, "reserved", JSON_OBJECT, 0, &j)) < 0)
		return rc;
	for (slot = 0; slot < 2; slot++) {
		if ((rc = manifest_hex_field(&c, j, slot == 0 ? "1" : "2", 1,
		         &m->reserved[slot], &m->reserved_len[slot])) < 0)
			return rc;
		m->reserved_set[slot] = m->reserved[slot] != NULL;
	}
	return 0;
}

/* The file-level fields of README.md's "Manifest layout". */
static int
manifest_load_fields(struct manifest *m, const struct json *root)
{
	struct manifest_ctx c = {m->path, ""};
	const struct json *v;
	uint64_t u;
	int isnull, rc;

	if ((rc = manifest_field(&c, root, "format", JSON_STRING, 0, &v)) < 0)
		return rc;
	if (strcmp(v->str, MANIFEST_FORMAT) != 0)
		return blt_errmsg_set(-EBADMSG,
		    "%s: format is \"%s\", not \"%s\"", m->path, v->str,
		    MANIFEST_FORMAT);
	if ((rc = manifest_field(&c, root, "file", JSON_STRING, 0, &v)) < 0)
		return rc;
	m->file = v->str;
	if ((rc = manifest_int_field(&c, root, "n_keys", 0, 0, UINT64_MAX, NULL,
	         NULL, &m->n_keys)) < 0)
		return rc;
	if ((rc = manifest_field(
	         &c, root, "variable_or_fixed", JSON_STRING, 0, &v)) < 0)
		return rc;
	if (strcmp(v->str, "fixed") == 0)
		m->fixed = 1;
	else if (strcmp(v->str, "variable") != 0)
		return blt_errmsg_set(-EBADMSG,
		    "%s: variable_or_fixed is \"%s\"", m->path, v->str);
	if ((rc = manifest_int_field(&c, root, "value_len", !m->fixed, 0,
	         UINT32_MAX, &isnull, NULL, &u)) < 0)
		return rc;
	m->value_len = isnull ? 0 : (uint32_t)u;
	if (!m->fixed && !isnull)
		return blt_errmsg_set(-EBADMSG,
		    "%s: value_len is set for a variable store", m->path);
	if ((rc = manifest_field(
	         &c, root, "key_serializer", JSON_STRING, 1, &v)) < 0)
		return rc;
	m->key_serializer = v != NULL ? v->str : NULL;
	if ((rc = manifest_field(
	         &c, root, "value_serializer", JSON_STRING, 1, &v)) < 0)
		return rc;
	m->value_serializer = v != NULL ? v->str : NULL;
	if ((rc = manifest_int_field(&c, root, "key_serializer_code", 0, 0,
	         65535, NULL, NULL, &u)) < 0)
		return rc;
	m->key_serializer_code = (unsigned)u;
	if ((rc = manifest_int_field(&c, root, "value_serializer_code", 0, 0,
	         65535, NULL, NULL, &u)) < 0)
		return rc;
	m->value_serializer_code = (unsigned)u;
	if ((rc = manifest_field(&c, root, "timestamps", JSON_TRUE, 0, &v)) < 0)
		return rc;
	m->timestamps = v->type == JSON_TRUE;
	if ((v = json_get(root, "metadata")) == NULL)
		return blt_errmsg_set(
		    -EBADMSG, "%s: metadata missing", m->path);
	m->metadata = v->type == JSON_NULL ? NULL : v;
	if ((rc = manifest_load_reserved(m, root)) < 0)
		return rc;
	return manifest_load_layout(m, root);
}

static int
manifest_load_items(struct manifest *m, const struct json *root)
{
	struct manifest_ctx c = {m->path, ""};
	const struct json *items;
	char hex[80];
	size_t i;
	int rc;

	if ((rc = manifest_field(&c, root, "items", JSON_ARRAY, 0, &items)) < 0)
		return rc;
	if (items->n != m->n_keys)
		return blt_errmsg_set(-EBADMSG,
		    "%s: n_keys is %llu but items holds %zu", m->path,
		    (unsigned long long)m->n_keys, items->n);
	if (items->n > 0 &&
	    (m->items = calloc(items->n, sizeof *m->items)) == NULL)
		return blt_errmsg_set(-ENOMEM, "%s: out of memory", m->path);
	m->n_items = items->n;
	for (i = 0; i < items->n; i++)
		if ((rc = manifest_load_item(m, &items->kids[i], i)) < 0)
			return rc;
	if (m->n_items > 1)
		qsort(
		    m->items, m->n_items, sizeof *m->items, manifest_item_cmp);
	for (i = 1; i < m->n_items; i++)
		if (manifest_item_cmp(&m->items[i - 1], &m->items[i]) == 0)
			return blt_errmsg_set(-EBADMSG,
			    "%s: key %s is listed twice", m->path,
			    manifest_hex(m->items[i].key, m->items[i].klen, hex,
			        sizeof hex));
	return 0;
}

/* Read and check the manifest at path into a struct manifest. */
int
manifest_load(const char *path, struct manifest **out)
{
	struct manifest *m;
	char *text = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	if ((m = calloc(1, sizeof *m)) == NULL)
		return blt_errmsg_set(-ENOMEM, "%s: out of memory", path);
	if ((m->path = strdup(path)) == NULL) {
		rc = blt_errmsg_set(-ENOMEM, "%s: out of memory", path);
		goto fail;
	}
	if ((rc = manifest_read_file(path, &text, &len)) < 0)
		goto fail;
	if ((rc = json_parse(text, len, JSON_SURROGATES, &m->root)) < 0) {
		rc = blt_errmsg_set(rc, "%s: %s", path, blt_errmsg());
		goto fail;
	}
	free(text);
	text = NULL;
	if (m->root->type != JSON_OBJECT) {
		rc = blt_errmsg_set(-EBADMSG, "%s: not a JSON object", path);
		goto fail;
	}
	if ((rc = manifest_load_fields(m, m->root)) < 0 ||
	    (rc = manifest_load_items(m, m->root)) < 0)
		goto fail;
	*out = m;
	return 0;
fail:
	free(text);
	manifest_free(m);
	return rc;
}

/* Free a manifest; safe on NULL. */
void
manifest_free(struct manifest *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->n_items; i++) {
		free(m->items[i].key);
		free(m->items[i].value);
	}
	free(m->items);
	free(m->reserved[0]);
	free(m->reserved[1]);
	json_free(m->root);
	free(m->path);
	free(m);
}

/* The item with key key, by binary search over the sorted items. */
const struct manifest_item *
manifest_find(const struct manifest *m, const void *key, size_t klen)
{
	struct manifest_item probe = {
	    .key = (unsigned char *)key, .klen = klen};
	size_t lo = 0, hi = m->n_items, mid;
	int r;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		r = manifest_item_cmp(&probe, &m->items[mid]);
		if (r == 0)
			return &m->items[mid];
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}
