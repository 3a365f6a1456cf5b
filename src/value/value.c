/*
 * The serializer table and the dispatch of blt_value_decode() and
 * blt_value_encode(): which codec handles which serializer code, and the
 * zstd frame around some.  The raw, str and integer serializers are small
 * enough to live here; each other codec has its own file.  Structured
 * values go through a tree (jansson's json_t in the tagged form of
 * doc/values.md) between the codec and the text.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "booklet.h"
#include "bltvalue.h"
#include "value-int.h"

void
blt_value_buf_free(struct blt_value_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

int
value_buf_reserve(struct blt_value_buf *b, size_t more)
{
	size_t cap = b->cap ? b->cap : 64;
	unsigned char *p;

	if (more > SIZE_MAX - b->len)
		return -ENOMEM;
	if (b->len + more <= b->cap)
		return 0;
	while (cap < b->len + more)
		cap = cap > SIZE_MAX / 2 ? b->len + more : cap * 2;
	if ((p = realloc(b->data, cap)) == NULL)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int
value_buf_put(struct blt_value_buf *b, const void *p, size_t n)
{
	int rc;

	if ((rc = value_buf_reserve(b, n)) < 0)
		return rc;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

enum value_kind {
	VALUE_K_BYTES, /* shown as they are: raw, bytes, custom, Feather, WKB */
	VALUE_K_ZBYTES, /* zstd of bytes */
	VALUE_K_STR,
	VALUE_K_INT,
	VALUE_K_TREE /* structured: a codec, maybe inside zstd */
};

struct value_codec {
	enum value_kind kind;
	int zstd; /* a zstd frame around the codec's bytes */
	int (*decode)(const unsigned char *p, size_t len, json_t **out,
	    char *why, size_t whylen);
	int (*encode)(const json_t *v, struct blt_value_buf *out);
	int width; /* numpy: bytes per item */
};

static int
value_numpy_decode_w(int w, const unsigned char *p, size_t len, json_t **out,
    char *why, size_t whylen)
{
	return value_numpy_decode(w, p, len, out, why, whylen);
}

/* The codec of code; K_BYTES for the codes only ever shown as bytes. */
static struct value_codec
value_codec(unsigned code)
{
	struct value_codec c = {VALUE_K_BYTES, 0, NULL, NULL, 0};

	if (blt_int_key_width(code, NULL) != 0) {
		c.kind = VALUE_K_INT;
		return c;
	}
	switch (code) {
	case VALUE_STR:
		c.kind = VALUE_K_STR;
		break;
	case VALUE_ZSTD:
	case VALUE_WKB_ZSTD:
		c.kind = VALUE_K_ZBYTES;
		break;
	case VALUE_PICKLE_ZSTD:
		c.zstd = 1; /* fall through */
	case VALUE_PICKLE:
		c.kind = VALUE_K_TREE;
		c.decode = value_pickle_decode;
		c.encode = value_pickle_encode;
		break;
	case VALUE_JSON_CODE:
		c.kind = VALUE_K_TREE;
		c.decode = value_json_decode;
		c.encode = value_json_encode;
		break;
	case VALUE_ORJSON_ZSTD:
		c.zstd = 1; /* fall through */
	case VALUE_ORJSON:
		c.kind = VALUE_K_TREE;
		c.decode = value_json_decode;
		c.encode = value_orjson_encode;
		break;
	case VALUE_MSGPACK_ZSTD:
		c.zstd = 1; /* fall through */
	case VALUE_MSGPACK:
		c.kind = VALUE_K_TREE;
		c.decode = value_msgpack_decode;
		c.encode = value_msgpack_encode;
		break;
	case VALUE_NUMPY_INT2_ZSTD:
	case VALUE_NUMPY_INT4_ZSTD:
	case VALUE_NUMPY_INT8_ZSTD:
		c.zstd = 1; /* fall through */
	case VALUE_NUMPY_INT1:
	case VALUE_NUMPY_INT2:
	case VALUE_NUMPY_INT4:
	case VALUE_NUMPY_INT8:
		c.kind = VALUE_K_TREE;
		c.width =
		    code == VALUE_NUMPY_INT1 ? 1
		    : code == VALUE_NUMPY_INT2 || code == VALUE_NUMPY_INT2_ZSTD
		        ? 2
		    : code == VALUE_NUMPY_INT4 || code == VALUE_NUMPY_INT4_ZSTD
		        ? 4
		        : 8;
		break;
	default:
		break;
	}
	return c;
}

int
blt_value_caps(unsigned code)
{
	/* Feather (pd_zstd, gpd_zstd) compresses inside its own format and
	 * WKB is binary: both are shown as their bytes. */
	if (value_codec(code).kind == VALUE_K_BYTES)
		return 0;
	return BLT_VALUE_CAN_DECODE | BLT_VALUE_CAN_ENCODE;
}

/* Integers: little-endian, the width and sign blt_int_key_width() gives. */
static int
value_int_decode(unsigned code, const unsigned char *p, size_t len, int flags,
    struct blt_value_buf *out)
{
	int is_signed, w = blt_int_key_width(code, &is_signed);
	char text[32];
	uint64_t u = 0;
	int n;

	if ((size_t)w != len)
		return value_not_decodable(code, p, len, flags, out,
		    "%zu bytes, not the %d of %s", len, w,
		    blt_serializer_name(code));
	for (int i = w - 1; i >= 0; i--)
		u = u << 8 | p[i];
	if (is_signed && w < 8 && (u >> (8 * w - 1)) & 1)
		u |= ~(uint64_t)0 << (8 * w);
	if (is_signed)
		n = snprintf(text, sizeof text, "%" PRId64, (int64_t)u);
	else
		n = snprintf(text, sizeof text, "%" PRIu64, u);
	if (!(flags & BLT_VALUE_JSON))
		text[n++] = '\n';
	return value_buf_put(out, text, (size_t)n);
}

static int
value_int_encode(
    unsigned code, const char *text, size_t len, struct blt_value_buf *out)
{
	int is_signed, w = blt_int_key_width(code, &is_signed);
	char num[32], *end;
	unsigned char le[8];
	uint64_t u;
	int64_t s;

	while (len && (text[len - 1] == '\n' || text[len - 1] == ' '))
		len--;
	if (len == 0 || len >= sizeof num)
		return blt_errmsg_set(
		    -EINVAL, "not a %s integer", blt_serializer_name(code));
	memcpy(num, text, len);
	num[len] = '\0';
	errno = 0;
	if (is_signed) {
		s = strtoll(num, &end, 10);
		u = (uint64_t)s;
		if (*end || errno ||
		    (w < 8 && (s < -((int64_t)1 << (8 * w - 1)) ||
		                  s >= (int64_t)1 << (8 * w - 1))))
			return blt_errmsg_set(-EINVAL,
			    "\"%s\" is not an integer %s can hold", num,
			    blt_serializer_name(code));
	} else {
		u = strtoull(num, &end, 10);
		if (*end || errno || num[0] == '-' ||
		    (w < 8 && u >> (8 * w) != 0))
			return blt_errmsg_set(-EINVAL,
			    "\"%s\" is not an integer %s can hold", num,
			    blt_serializer_name(code));
	}
	for (int i = 0; i < w; i++)
		le[i] = (unsigned char)(u >> (8 * i));
	return value_buf_put(out, le, (size_t)w);
}

int
value_put_tree(const json_t *t, int flags, struct blt_value_buf *out)
{
	int rc = value_emit(t, &value_style_text, out);

	if (rc == 0 && !(flags & BLT_VALUE_JSON))
		rc = value_buf_put(out, "\n", 1);
	return rc;
}

int
value_not_decodable(unsigned code, const void *val, size_t len, int flags,
    struct blt_value_buf *out, const char *fmt, ...)
{
	char why[256];
	json_t *u, *t;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	out->len = 0;
	u = json_object();
	t = value_tagged("$undecodable", u);
	if (t == NULL ||
	    json_object_set_new(
	        u, "serializer", json_string(blt_serializer_name(code))) < 0 ||
	    json_object_set_new(u, "why", json_string(why)) < 0 ||
	    json_object_set_new(u, "bytes", value_b64_string(val, len)) < 0) {
		json_decref(t);
		return -ENOMEM;
	}
	rc = value_put_tree(t, flags, out);
	json_decref(t);
	if (rc < 0)
		return rc == -ENOMEM ? rc : -ENOMEM;
	blt_errmsg_set(-EINVAL, "%s value not decodable: %s",
	    blt_serializer_name(code), why);
	return BLT_VALUE_NOT_DECODABLE;
}

/* Bytes in the JSON form: a string when they are UTF-8, else $bytes. */
static int
value_put_bytes_json(
    const unsigned char *p, size_t n, struct blt_value_buf *out)
{
	json_t *t;
	int rc;

	if (value_utf8_strict(p, n))
		return value_emit_string(p, n, out);
	if ((t = value_tagged("$bytes", value_b64_string(p, n))) == NULL)
		return -ENOMEM;
	rc = value_put_tree(t, BLT_VALUE_JSON, out);
	json_decref(t);
	return rc;
}

static int
value_tree_decode(unsigned code, const struct value_codec *c,
    const unsigned char *p, size_t len, int flags, struct blt_value_buf *out)
{
	struct blt_value_buf plain = {0};
	char why[200] = "";
	json_t *t = NULL;
	int rc;

	if (c->zstd) {
		rc = value_zstd_decompress(p, len, &plain, why, sizeof why);
		if (rc == -EINVAL)
			rc = value_not_decodable(
			    code, p, len, flags, out, "%s", why);
		if (rc != 0)
			goto out;
	}
	const unsigned char *q = c->zstd ? plain.data : p;
	size_t qlen = c->zstd ? plain.len : len;
	if (c->width)
		rc = value_numpy_decode_w(
		    c->width, q, qlen, &t, why, sizeof why);
	else
		rc = c->decode(q, qlen, &t, why, sizeof why);
	if (rc == BLT_VALUE_NOT_DECODABLE)
		rc = value_not_decodable(code, p, len, flags, out, "%s", why);
	else if (rc == 0)
		rc = value_put_tree(t, flags, out);
out:
	json_decref(t);
	blt_value_buf_free(&plain);
	return rc;
}

int
blt_value_decode(unsigned code, const void *val, size_t len, int flags,
    struct blt_value_buf *out)
{
	struct value_codec c = value_codec(code);
	struct blt_value_buf plain = {0};
	char why[200];
	int rc;

	out->len = 0;
	switch (c.kind) {
	case VALUE_K_INT:
		return value_int_decode(code, val, len, flags, out);
	case VALUE_K_TREE:
		return value_tree_decode(code, &c, val, len, flags, out);
	case VALUE_K_STR:
		if (!(flags & BLT_VALUE_JSON))
			return value_buf_put(out, val, len);
		if (!value_utf8_strict(val, len))
			return value_not_decodable(
			    code, val, len, flags, out, "not UTF-8");
		return value_emit_string(val, len, out);
	case VALUE_K_ZBYTES:
		rc = value_zstd_decompress(val, len, &plain, why, sizeof why);
		if (rc == -EINVAL)
			rc = value_not_decodable(
			    code, val, len, flags, out, "%s", why);
		else if (rc == 0 && !(flags & BLT_VALUE_JSON)) {
			/* Hand the decompressed buffer over. */
			blt_value_buf_free(out);
			*out = plain;
			return 0;
		} else if (rc == 0)
			rc = value_put_bytes_json(plain.data, plain.len, out);
		blt_value_buf_free(&plain);
		return rc;
	case VALUE_K_BYTES:
		break;
	}
	if (flags & BLT_VALUE_JSON)
		return value_put_bytes_json(val, len, out);
	return value_buf_put(out, val, len);
}

/* The bytes of a value the tree t holds for a serializer of bytes: a
 * string's UTF-8, or what $bytes holds. */
static int
value_tree_bytes(const json_t *t, struct blt_value_buf *out)
{
	unsigned char *b;
	json_t *pl;
	size_t n;
	int rc;

	if (json_is_string(t))
		return value_buf_put(
		    out, json_string_value(t), json_string_length(t));
	switch (value_tag(t, &pl)) {
	case VALUE_TAG_BYTES:
	case VALUE_TAG_BYTEARRAY:
		if ((rc = value_b64_decode(pl, &b, &n)) < 0)
			return rc;
		rc = value_buf_put(out, b, n);
		free(b);
		return rc;
	default:
		return blt_errmsg_set(
		    -EINVAL, "expected a string or {\"$bytes\": ...}");
	}
}

/* The bytes $undecodable t keeps, if t is one: 1 (out filled), or 0. */
static int
value_undecodable_bytes(const json_t *t, struct blt_value_buf *out)
{
	unsigned char *b;
	json_t *pl;
	size_t n;
	int rc;

	if (value_tag(t, &pl) != VALUE_TAG_UNDECODABLE)
		return 0;
	/* value_parse() checked the base64. */
	if ((rc = value_b64_decode(json_object_get(pl, "bytes"), &b, &n)) < 0)
		return rc;
	rc = value_buf_put(out, b, n);
	free(b);
	return rc < 0 ? rc : 1;
}

/* Whether the n bytes at p are a str value Python's str serializer reads
 * back: UTF-8, no lone surrogates.  0, or -EINVAL with a message. */
static int
value_str_check(const void *p, size_t n)
{
	if (!value_utf8_strict(p, n))
		return blt_errmsg_set(-EINVAL,
		    "not UTF-8, which Python's str serializer cannot read "
		    "back");
	return 0;
}

int
blt_value_encode(unsigned code, const void *text, size_t len, int flags,
    struct blt_value_buf *out)
{
	struct value_codec c = value_codec(code);
	struct blt_value_buf plain = {0};
	json_t *t = NULL;
	int rc;

	out->len = 0;
	if (c.kind == VALUE_K_BYTES && !(flags & BLT_VALUE_JSON))
		return value_buf_put(out, text, len);
	if ((c.kind == VALUE_K_STR || c.kind == VALUE_K_ZBYTES) &&
	    !(flags & BLT_VALUE_JSON)) {
		if (c.kind == VALUE_K_STR)
			return (rc = value_str_check(text, len)) < 0
			           ? rc
			           : value_buf_put(out, text, len);
		return value_zstd_compress(text, len, out);
	}
	if (c.kind == VALUE_K_INT && !(flags & BLT_VALUE_JSON) &&
	    (len == 0 || ((const char *)text)[0] != '{'))
		return value_int_encode(code, text, len, out);
	/* Text in the JSON form, or a not-decodable form in a file. */
	if ((rc = value_parse(text, len, VALUE_PARSE_TAGGED, &t)) < 0)
		return rc;
	if ((rc = value_undecodable_bytes(t, out)) != 0) {
		json_decref(t);
		return rc < 0 ? rc : 0;
	}
	switch (c.kind) {
	case VALUE_K_INT:
		if (!json_is_integer(t) && value_tag(t, NULL) != VALUE_TAG_INT)
			rc = blt_errmsg_set(-EINVAL, "not a %s integer",
			    blt_serializer_name(code));
		else {
			json_t *pl;

			/* uint8 goes beyond int64: a $int's digits. */
			if (value_tag(t, &pl) == VALUE_TAG_INT)
				rc = value_int_encode(code,
				    json_string_value(pl),
				    json_string_length(pl), out);
			else if ((rc = value_emit(
			              t, &value_style_text, &plain)) == 0)
				rc = value_int_encode(
				    code, (char *)plain.data, plain.len, out);
		}
		break;
	case VALUE_K_BYTES:
		rc = value_tree_bytes(t, out);
		break;
	case VALUE_K_STR:
		if ((rc = value_tree_bytes(t, out)) == 0 &&
		    (rc = value_str_check(out->data, out->len)) < 0)
			out->len = 0;
		break;
	case VALUE_K_ZBYTES:
		if ((rc = value_tree_bytes(t, &plain)) == 0)
			rc = value_zstd_compress(plain.data, plain.len, out);
		break;
	case VALUE_K_TREE:
		if (c.width)
			rc = value_numpy_encode(c.width, t, &plain);
		else
			rc = c.encode(t, &plain);
		if (rc == 0 && c.zstd)
			rc = value_zstd_compress(plain.data, plain.len, out);
		else if (rc == 0) {
			blt_value_buf_free(out);
			*out = plain;
			plain = (struct blt_value_buf){0};
		}
		break;
	}
	json_decref(t);
	blt_value_buf_free(&plain);
	return rc;
}

/* What a pickle's reader refuses, of the reasons value_pickle_decode()
 * gives: bytes that are no pickle.  The others (a global it would import,
 * a cycle, a numpy scalar) are pickles Python loads, not data for us. */
static const char *const value_pickle_broken[] = {"truncated",
    "stack underflow", "no MARK", "bad memo index", "memo index",
    "unsupported pickle protocol", "unknown opcode", "odd number of items",
    "LONG4 at offset", "BINSTRING at offset"};

static int
value_check_pickle(const unsigned char *p, size_t len, char *why, size_t cap)
{
	json_t *t = NULL;
	int rc;

	if (len == 0) {
		snprintf(why, cap, "empty (no pickle)");
		return -EINVAL;
	}
	rc = value_pickle_decode(p, len, &t, why, cap);
	json_decref(t);
	if (rc != BLT_VALUE_NOT_DECODABLE)
		return rc < 0 ? rc : 0;
	for (size_t i = 0;
	     i < sizeof value_pickle_broken / sizeof value_pickle_broken[0];
	     i++)
		if (strncmp(why, value_pickle_broken[i],
		        strlen(value_pickle_broken[i])) == 0)
			return -EINVAL;
	return 0;
}

/* value_check() of the plain bytes of a structured codec. */
static int
value_check_tree(const struct value_codec *c, const unsigned char *p,
    size_t len, char *why, size_t cap)
{
	json_t *t = NULL;
	int rc;

	if (c->width) {
		if (len % (size_t)c->width == 0)
			return 0;
		snprintf(why, cap, "%zu bytes are no array of %d-byte items",
		    len, c->width);
		return -EINVAL;
	}
	if (c->decode == value_pickle_decode)
		return value_check_pickle(p, len, why, cap);
	rc = c->decode(p, len, &t, why, cap);
	json_decref(t);
	return rc == BLT_VALUE_NOT_DECODABLE ? -EINVAL : rc;
}

int
blt_value_check(unsigned code, const void *val, size_t len)
{
	struct value_codec c = value_codec(code);
	struct blt_value_buf plain = {0};
	const unsigned char *p = val;
	char why[200] = "";
	int rc = 0;

	switch (c.kind) {
	case VALUE_K_BYTES:
	case VALUE_K_INT: /* int.from_bytes() takes any length */
		return 0;
	case VALUE_K_STR:
		if (value_utf8_strict(val, len))
			return 0;
		snprintf(why, sizeof why, "not UTF-8");
		rc = -EINVAL;
		break;
	case VALUE_K_ZBYTES:
	case VALUE_K_TREE:
		if (c.kind == VALUE_K_ZBYTES || c.zstd) {
			rc = value_zstd_decompress(
			    val, len, &plain, why, sizeof why);
			p = plain.data != NULL ? plain.data
			                       : (const unsigned char *)"";
			len = plain.len;
		}
		if (rc == 0 && c.kind == VALUE_K_TREE)
			rc = value_check_tree(&c, p, len, why, sizeof why);
		break;
	}
	blt_value_buf_free(&plain);
	if (rc == -EINVAL)
		return blt_errmsg_set(rc, "%s", why);
	if (rc < 0)
		return blt_errmsg_set(rc, "out of memory");
	return 0;
}

/* The markers, as the reference's serializers write None, or an empty
 * value where that is what their readers give back for no bytes.  The
 * zstd frames are python-zstandard's level-1 frames of those bytes. */
static const struct {
	unsigned code;
	unsigned char len;
	unsigned char bytes[13];
} value_markers[] = {
    {VALUE_PICKLE, 4, {0x80, 0x05, 'N', '.'}},
    {VALUE_JSON_CODE, 4, {'n', 'u', 'l', 'l'}},
    {VALUE_ORJSON, 4, {'n', 'u', 'l', 'l'}},
    {VALUE_MSGPACK, 1, {0xc0}},
    {VALUE_PICKLE_ZSTD, 13,
        {0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x04, 0x21, 0x00, 0x00, 0x80, 0x05, 'N',
            '.'}},
    {VALUE_ORJSON_ZSTD, 13,
        {0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x04, 0x21, 0x00, 0x00, 'n', 'u', 'l',
            'l'}},
    {VALUE_MSGPACK_ZSTD, 10,
        {0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x01, 0x09, 0x00, 0x00, 0xc0}},
    {VALUE_ZSTD, 9, {0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x00, 0x01, 0x00, 0x00}},
    {VALUE_NUMPY_INT2_ZSTD, 9,
        {0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x00, 0x01, 0x00, 0x00}},
    {VALUE_NUMPY_INT4_ZSTD, 9,
        {0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x00, 0x01, 0x00, 0x00}},
    {VALUE_NUMPY_INT8_ZSTD, 9,
        {0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x00, 0x01, 0x00, 0x00}},
};

const unsigned char *
blt_value_marker(unsigned code, size_t *len)
{
	struct value_codec c = value_codec(code);

	for (size_t i = 0; i < sizeof value_markers / sizeof value_markers[0];
	     i++)
		if (value_markers[i].code == code) {
			*len = value_markers[i].len;
			return value_markers[i].bytes;
		}
	*len = 0;
	/* no bytes read back as nothing: raw, bytes, str (''), the integers
	 * (0) and numpy arrays (empty); not so pandas, geometries and
	 * custom serializers, or codes this library does not know */
	if (code == VALUE_RAW || code == VALUE_BYTES || c.kind == VALUE_K_STR ||
	    c.kind == VALUE_K_INT ||
	    (c.kind == VALUE_K_TREE && c.width && !c.zstd))
		return (const unsigned char *)"";
	return NULL;
}
