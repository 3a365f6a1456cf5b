/*
 * msgpack, as the Python msgpack package (1.0) reads and writes it with
 * its defaults: unpackb(b) gives str for raw (strict UTF-8), bytes for
 * bin, a list for an array, a dict for a map; packb(obj) writes str as
 * str8/16/32, bytes and bytearray as bin, list and tuple as arrays, ints in
 * their shortest form, floats as float64.
 *
 * Decoding is our own reader and not msgpack-c's unpacker: msgpack-c
 * allocates the count an array header claims before reading an item (five
 * hostile bytes ask for 64 GiB) and caps nesting at 32 levels, which Python
 * does not.  Here every count is checked against the bytes left (an item is
 * at least one byte) and nesting is bounded by VALUE_DEPTH_MAX.  Ext types
 * (Python's ExtType and Timestamp) are not decodable: their meaning is the
 * application's.  Encoding uses msgpack-c's packer.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <msgpack.h>

#include "booklet.h"
#include "bltvalue.h"
#include "value-int.h"

struct value_mp {
	const unsigned char *p, *end, *start;
	char *why;
	size_t whylen;
};

static int
value_mp_fail(struct value_mp *m, const char *what)
{
	snprintf(m->why, m->whylen, "%s at byte %zu", what,
	    (size_t)(m->p - m->start));
	return BLT_VALUE_NOT_DECODABLE;
}

static int
value_mp_need(struct value_mp *m, size_t n)
{
	return (size_t)(m->end - m->p) >= n;
}

static uint64_t
value_mp_be(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static int value_mp_item(struct value_mp *m, int depth, json_t **out);

/* The n-byte str or bin after the header. */
static int
value_mp_blob(struct value_mp *m, uint64_t n, int is_str, json_t **out)
{
	if (!value_mp_need(m, n))
		return value_mp_fail(m, "truncated");
	if (is_str) {
		/* Python decodes raw with strict UTF-8. */
		if (!value_utf8_strict(m->p, n))
			return value_mp_fail(m, "str that is not UTF-8");
		if ((*out = json_stringn_nocheck((const char *)m->p, n)) ==
		    NULL)
			return -ENOMEM;
	} else {
		*out = value_tagged("$bytes", value_b64_string(m->p, n));
		if (*out == NULL)
			return -ENOMEM;
	}
	m->p += n;
	return 0;
}

static int
value_mp_array(struct value_mp *m, uint64_t n, int depth, json_t **out)
{
	json_t *a, *v;
	int rc;

	if (n > (uint64_t)(m->end - m->p))
		return value_mp_fail(m, "an array longer than the value");
	if ((a = json_array()) == NULL)
		return -ENOMEM;
	for (uint64_t i = 0; i < n; i++) {
		if ((rc = value_mp_item(m, depth + 1, &v)) != 0) {
			json_decref(a);
			return rc;
		}
		if (json_array_append_new(a, v) < 0) {
			json_decref(a);
			return -ENOMEM;
		}
	}
	*out = a;
	return 0;
}

/* A map: a dict with str keys as a JSON object, any other as $dict.
 * The last of a repeated key wins, as in a Python dict. */
static int
value_mp_map(struct value_mp *m, uint64_t n, int depth, json_t **out)
{
	json_t *pairs, *k, *v, *pair, *o;
	int rc, all_str = 1;
	size_t i;

	if (n > (uint64_t)(m->end - m->p) / 2)
		return value_mp_fail(m, "a map longer than the value");
	if ((pairs = json_array()) == NULL)
		return -ENOMEM;
	for (uint64_t j = 0; j < n; j++) {
		if ((rc = value_mp_item(m, depth + 1, &k)) != 0) {
			json_decref(pairs);
			return rc;
		}
		if ((rc = value_mp_item(m, depth + 1, &v)) != 0) {
			json_decref(k);
			json_decref(pairs);
			return rc;
		}
		if (!json_is_string(k))
			all_str = 0;
		if ((pair = json_array()) == NULL ||
		    json_array_append_new(pair, k) < 0 ||
		    json_array_append_new(pair, v) < 0 ||
		    json_array_append_new(pairs, pair) < 0) {
			json_decref(pairs);
			return -ENOMEM;
		}
	}
	/* A dict with one "$..." member is written as $dict too, so that
	 * it is not taken for a tag. */
	if (n == 1 && all_str &&
	    json_string_value(json_array_get(json_array_get(pairs, 0), 0))[0] ==
	        '$')
		all_str = 0;
	if (!all_str) {
		/* A repeated key keeps its first place and its last value,
		 * as in a Python dict. */
		for (i = 0; i < json_array_size(pairs); i++)
			for (size_t l = i + 1; l < json_array_size(pairs); l++)
				if (json_equal(json_array_get(
				                   json_array_get(pairs, i), 0),
				        json_array_get(
				            json_array_get(pairs, l), 0))) {
					json_array_set(json_array_get(pairs, i),
					    1,
					    json_array_get(
					        json_array_get(pairs, l), 1));
					json_array_remove(pairs, l--);
				}
		*out = value_tagged("$dict", pairs);
		return *out ? 0 : -ENOMEM;
	}
	if ((o = json_object()) == NULL) {
		json_decref(pairs);
		return -ENOMEM;
	}
	for (i = 0; i < json_array_size(pairs); i++) {
		pair = json_array_get(pairs, i);
		k = json_array_get(pair, 0);
		if (json_object_setn_nocheck(o, json_string_value(k),
		        json_string_length(k), json_array_get(pair, 1)) < 0) {
			json_decref(o);
			json_decref(pairs);
			return -ENOMEM;
		}
	}
	json_decref(pairs);
	*out = o;
	return 0;
}

static int
value_mp_item(struct value_mp *m, int depth, json_t **out)
{
	unsigned c;
	int w;

	*out = NULL;
	if (depth > VALUE_DEPTH_MAX)
		return value_mp_fail(m, "nested too deep");
	if (!value_mp_need(m, 1))
		return value_mp_fail(m, "truncated");
	c = *m->p++;
	if (c <= 0x7f) {
		*out = json_integer(c);
	} else if (c >= 0xe0) {
		*out = json_integer((int)c - 256);
	} else if (c >= 0xa0 && c <= 0xbf) {
		return value_mp_blob(m, c & 0x1f, 1, out);
	} else if (c >= 0x90 && c <= 0x9f) {
		return value_mp_array(m, c & 0x0f, depth, out);
	} else if (c >= 0x80 && c <= 0x8f) {
		return value_mp_map(m, c & 0x0f, depth, out);
	} else {
		switch (c) {
		case 0xc0:
			*out = json_null();
			break;
		case 0xc2:
			*out = json_false();
			break;
		case 0xc3:
			*out = json_true();
			break;
		case 0xc4:
		case 0xc5:
		case 0xc6: /* bin 8/16/32 */
		case 0xd9:
		case 0xda:
		case 0xdb: /* str 8/16/32 */
		case 0xdc:
		case 0xdd: /* array 16/32 */
		case 0xde:
		case 0xdf: /* map 16/32 */
			w = c == 0xc4 || c == 0xd9 ? 1
			    : c == 0xc5 || c == 0xda || c == 0xdc || c == 0xde
			        ? 2
			        : 4;
			if (!value_mp_need(m, (size_t)w))
				return value_mp_fail(m, "truncated");
			uint64_t n = value_mp_be(m->p, w);
			m->p += w;
			if (c >= 0xdc && c <= 0xdd)
				return value_mp_array(m, n, depth, out);
			if (c >= 0xde)
				return value_mp_map(m, n, depth, out);
			return value_mp_blob(m, n, c >= 0xd9, out);
		case 0xca:
		case 0xcb: /* float 32/64 */
			w = c == 0xca ? 4 : 8;
			if (!value_mp_need(m, (size_t)w))
				return value_mp_fail(m, "truncated");
			if (w == 4) {
				uint32_t u = (uint32_t)value_mp_be(m->p, 4);
				float f;

				memcpy(&f, &u, 4);
				*out = value_real(f);
			} else {
				uint64_t u = value_mp_be(m->p, 8);
				double d;

				memcpy(&d, &u, 8);
				*out = value_real(d);
			}
			m->p += w;
			break;
		case 0xcc:
		case 0xcd:
		case 0xce:
		case 0xcf: /* uint */
		case 0xd0:
		case 0xd1:
		case 0xd2:
		case 0xd3: /* int */
			w = 1 << (c & 3);
			if (!value_mp_need(m, (size_t)w))
				return value_mp_fail(m, "truncated");
			uint64_t u = value_mp_be(m->p, w);
			m->p += w;
			if (c >= 0xd0) {
				/* Sign-extend from w bytes. */
				if (w < 8 && (u >> (8 * w - 1)) & 1)
					u |= ~(uint64_t)0 << (8 * w);
				*out = json_integer((json_int_t)(int64_t)u);
			} else
				*out = value_uint(u);
			break;
		default:
			/* 0xc1 (never used), ext and fixext. */
			m->p--;
			if (c == 0xc1)
				return value_mp_fail(
				    m, "byte 0xc1, never used,");
			return value_mp_fail(m,
			    "an ext type (its meaning is the "
			    "application's)");
		}
	}
	return *out ? 0 : -ENOMEM;
}

int
value_msgpack_decode(
    const unsigned char *p, size_t len, json_t **out, char *why, size_t whylen)
{
	/* an empty value may come as NULL (an empty zstd frame's output),
	 * and NULL + 0 is undefined */
	static const unsigned char none[1];
	const unsigned char *q = p != NULL ? p : none;
	struct value_mp m = {q, q + len, q, why, whylen};
	int rc = value_mp_item(&m, 0, out);

	if (rc == 0 && m.p != m.end) {
		json_decref(*out);
		*out = NULL;
		/* Python's unpackb raises ExtraData. */
		return value_mp_fail(&m, "extra data after the value");
	}
	return rc;
}

/* --- encoding ------------------------------------------------------------- */

static int
value_mp_write(void *data, const char *buf, size_t len)
{
	return value_buf_put(data, buf, len) < 0 ? -1 : 0;
}

static int
value_mp_pack(msgpack_packer *pk, const json_t *v, int depth)
{
	enum value_tag tag;
	json_t *pl, *e;
	const char *key;
	size_t klen, i;
	unsigned char *b;
	int rc;

	if (depth > VALUE_DEPTH_MAX)
		return blt_errmsg_set(
		    -EINVAL, "nested deeper than %d levels", VALUE_DEPTH_MAX);
	switch (json_typeof(v)) {
	case JSON_NULL:
		return msgpack_pack_nil(pk) ? -ENOMEM : 0;
	case JSON_TRUE:
		return msgpack_pack_true(pk) ? -ENOMEM : 0;
	case JSON_FALSE:
		return msgpack_pack_false(pk) ? -ENOMEM : 0;
	case JSON_INTEGER:
		return msgpack_pack_int64(pk, json_integer_value(v)) ? -ENOMEM
		                                                     : 0;
	case JSON_REAL:
		return msgpack_pack_double(pk, json_real_value(v)) ? -ENOMEM
		                                                   : 0;
	case JSON_STRING:
		if (msgpack_pack_str(pk, json_string_length(v)) ||
		    msgpack_pack_str_body(
		        pk, json_string_value(v), json_string_length(v)))
			return -ENOMEM;
		return 0;
	case JSON_ARRAY:
		if (msgpack_pack_array(pk, json_array_size(v)))
			return -ENOMEM;
		json_array_foreach(v, i, e) if ((rc = value_mp_pack(pk, e,
		                                     depth + 1)) < 0) return rc;
		return 0;
	case JSON_OBJECT:
		break;
	}
	switch ((tag = value_tag(v, &pl))) {
	case VALUE_TAG_NONE:
		if (msgpack_pack_map(pk, json_object_size(v)))
			return -ENOMEM;
		json_object_keylen_foreach((json_t *)v, key, klen, e)
		{
			if (msgpack_pack_str(pk, klen) ||
			    msgpack_pack_str_body(pk, key, klen))
				return -ENOMEM;
			if ((rc = value_mp_pack(pk, e, depth + 1)) < 0)
				return rc;
		}
		return 0;
	case VALUE_TAG_BYTES:
	case VALUE_TAG_BYTEARRAY:
		if ((rc = value_b64_decode(pl, &b, &klen)) < 0)
			return rc == -EINVAL
			           ? blt_errmsg_set(rc, "$bytes is not base64")
			           : rc;
		rc = msgpack_pack_bin(pk, klen) ||
		             msgpack_pack_bin_body(pk, b, klen)
		         ? -ENOMEM
		         : 0;
		free(b);
		return rc;
	case VALUE_TAG_TUPLE:
		return value_mp_pack(pk, pl, depth);
	case VALUE_TAG_INT: {
		const char *s = json_string_value(pl);
		uint64_t u;
		char *end;

		errno = 0;
		u = s[0] == '-' ? 0 : strtoull(s, &end, 10);
		if (s[0] == '-' || errno || *end)
			return blt_errmsg_set(-EINVAL,
			    "%s does not fit msgpack's 64-bit integers", s);
		return msgpack_pack_uint64(pk, u) ? -ENOMEM : 0;
	}
	case VALUE_TAG_FLOAT:
		return msgpack_pack_double(pk,
		           !strcmp(json_string_value(pl), "nan")   ? NAN
		           : !strcmp(json_string_value(pl), "inf") ? INFINITY
		                                                   : -INFINITY)
		           ? -ENOMEM
		           : 0;
	case VALUE_TAG_DICT:
		if (msgpack_pack_map(pk, json_array_size(pl)))
			return -ENOMEM;
		json_array_foreach(pl, i, e)
		{
			if ((rc = value_mp_pack(
			         pk, json_array_get(e, 0), depth + 1)) < 0 ||
			    (rc = value_mp_pack(
			         pk, json_array_get(e, 1), depth + 1)) < 0)
				return rc;
		}
		return 0;
	case VALUE_TAG_SET:
	case VALUE_TAG_FROZENSET:
		return blt_errmsg_set(-EINVAL, "msgpack cannot hold a set");
	default:
		return blt_errmsg_set(-EINVAL,
		    "msgpack cannot hold this tag (only a whole value can be "
		    "$undecodable)");
	}
}

int
value_msgpack_encode(const json_t *v, struct blt_value_buf *out)
{
	msgpack_packer pk;

	out->len = 0;
	msgpack_packer_init(&pk, out, value_mp_write);
	return value_mp_pack(&pk, v, 0);
}
