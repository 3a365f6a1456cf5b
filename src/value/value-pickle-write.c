/*
 * The pickle encoder: the tagged tree of doc/values.md as protocol 5,
 * byte for byte what CPython's pickle.dumps(obj, 5) writes (frames,
 * memoization, batches, CPython's shared small strs and b""), so that a
 * value decoded and encoded back unchanged is the stored bytes again.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "booklet.h"
#include "bltvalue.h"
#include "value-int.h"
#include "value-pickle.h"

/* Close the open frame: its header is written if it holds at least 4
 * bytes (CPython's _FRAME_SIZE_MIN), else removed. */
static void
pk_commit(struct pk_enc *e)
{
	size_t flen;

	if (e->frame == SIZE_MAX)
		return;
	flen = e->out->len - e->frame - 9;
	if (flen >= 4) {
		e->out->data[e->frame] = 0x95;
		for (int i = 0; i < 8; i++)
			e->out->data[e->frame + 1 + i] =
			    (unsigned char)(flen >> (8 * i));
	} else {
		memmove(
		    e->out->data + e->frame, e->out->data + e->frame + 9, flen);
		e->out->len -= 9;
	}
	e->frame = SIZE_MAX;
}

static int
pk_write(struct pk_enc *e, const void *p, size_t n)
{
	int rc;

	if (e->frame == SIZE_MAX) {
		e->frame = e->out->len;
		if ((rc = value_buf_put(e->out, "\0\0\0\0\0\0\0\0\0", 9)) < 0)
			return rc;
	}
	return value_buf_put(e->out, p, n);
}

/* Where CPython ends a frame of 64 KiB: between two objects. */
static void
pk_boundary(struct pk_enc *e)
{
	if (e->frame != SIZE_MAX &&
	    e->out->len - e->frame - 9 >= PK_FRAME_TARGET)
		pk_commit(e);
}

int
pk_op(struct pk_enc *e, unsigned char op)
{
	return pk_write(e, &op, 1);
}

/* An opcode with a little-endian argument of n bytes. */
int
pk_op_le(struct pk_enc *e, unsigned char op, uint64_t v, int n)
{
	unsigned char b[9];

	b[0] = op;
	for (int i = 0; i < n; i++)
		b[1 + i] = (unsigned char)(v >> (8 * i));
	return pk_write(e, b, (size_t)n + 1);
}

/* A header and its payload; a payload of 64 KiB or more goes outside
 * any frame, as CPython's _Pickler_write_bytes does. */
int
pk_payload(
    struct pk_enc *e, unsigned char op, uint64_t n, int lenbytes, const void *p)
{
	unsigned char b[9];
	int rc;

	b[0] = op;
	for (int i = 0; i < lenbytes; i++)
		b[1 + i] = (unsigned char)(n >> (8 * i));
	if (n >= PK_FRAME_TARGET) {
		pk_commit(e);
		if ((rc = value_buf_put(e->out, b, (size_t)lenbytes + 1)) < 0)
			return rc;
		return value_buf_put(e->out, p, (size_t)n);
	}
	if ((rc = pk_write(e, b, (size_t)lenbytes + 1)) < 0)
		return rc;
	return pk_write(e, p, (size_t)n);
}

int
pk_memoize(struct pk_enc *e)
{
	e->memo++;
	return pk_op(e, 0x94);
}

int
pk_memo_ref(struct pk_enc *e, size_t idx)
{
	if (idx < 256)
		return pk_op_le(e, 'h', idx, 1);
	return pk_op_le(e, 'j', idx, 4);
}

int
pk_enc_err(struct pk_enc *e, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return blt_errmsg_set(-EINVAL, "%s: %s", e->path, msg);
}

/* Extend the path by "[i]" or ".key"; returns the old length. */
size_t
pk_path_push(struct pk_enc *e, const char *key, size_t i)
{
	size_t old = e->pathlen, room = sizeof e->path - old;
	int n;

	if (key)
		n = snprintf(e->path + old, room, ".%s", key);
	else
		n = snprintf(e->path + old, room, "[%zu]", i);
	if (n > 0)
		e->pathlen += (size_t)n < room ? (size_t)n : room - 1;
	return old;
}

void
pk_path_pop(struct pk_enc *e, size_t old)
{
	e->pathlen = old;
	e->path[old] = '\0';
}

int
pk_enc_int(struct pk_enc *e, int64_t v)
{
	unsigned char b[10];
	int n = 0;

	if (v >= 0 && v <= 0xff)
		return pk_op_le(e, 'K', (uint64_t)v, 1);
	if (v >= 0 && v <= 0xffff)
		return pk_op_le(e, 'M', (uint64_t)v, 2);
	if (v >= INT32_MIN && v <= INT32_MAX)
		return pk_op_le(e, 'J', (uint32_t)(int32_t)v, 4);
	/* LONG1 with the fewest two's complement bytes, as Python writes */
	for (n = 1; n < 8; n++)
		if (v >= -((int64_t)1 << (8 * n - 1)) &&
		    v < ((int64_t)1 << (8 * n - 1)))
			break;
	b[0] = 0x8a;
	b[1] = (unsigned char)n;
	for (int i = 0; i < n; i++)
		b[2 + i] = (unsigned char)((uint64_t)v >> (8 * i));
	return pk_write(e, b, (size_t)n + 2);
}

/* {"$int": "<decimal>"}: int64 as BININT or LONG1, beyond as LONG1 or LONG4. */
static int
pk_enc_bigint(struct pk_enc *e, const json_t *v)
{
	const char *s = json_is_string(v) ? json_string_value(v) : NULL;
	size_t n = s ? json_string_length(v) : 0, nd, nl, nb;
	int neg = 0, rc;
	uint32_t *limb;
	unsigned char *b;

	if (s && n && s[0] == '-')
		neg = 1;
	nd = n - (size_t)neg;
	if (s == NULL || nd == 0 || nd > PK_MAX_INT_DIGITS)
		return pk_enc_err(e,
		    "$int needs a string of at most %d decimal digits",
		    PK_MAX_INT_DIGITS);
	for (size_t i = (size_t)neg; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return pk_enc_err(
			    e, "$int \"%.40s\" is not decimal", s);
	nl = nd / 9 + 2;
	if ((limb = calloc(nl, sizeof *limb)) == NULL)
		return -ENOMEM;
	for (size_t i = (size_t)neg; i < n; i++) {
		uint64_t carry = (uint64_t)(s[i] - '0');

		for (size_t k = 0; k < nl; k++) {
			uint64_t cur = (uint64_t)limb[k] * 10 + carry;

			limb[k] = (uint32_t)cur;
			carry = cur >> 32;
		}
	}
	/* bytes = bit_length / 8 + 1, then the two's complement of a
	 * negative one, trimmed as pickle.encode_long() does */
	nb = nl * 4;
	while (nb && ((limb[(nb - 1) / 4] >> (8 * ((nb - 1) % 4))) & 0xff) == 0)
		nb--;
	if (nb <= 8) {
		uint64_t u = 0;

		for (size_t i = 0; i < nb; i++)
			u |= (uint64_t)(limb[i / 4] >> (8 * (i % 4)) & 0xff)
			     << (8 * i);
		if (u <= (uint64_t)INT64_MAX ||
		    (neg && u == (uint64_t)INT64_MAX + 1)) {
			free(limb);
			return pk_enc_int(
			    e, neg ? (int64_t)(0 - u) : (int64_t)u);
		}
	}
	/* bit_length / 8 + 1 bytes: one more when the top bit is set */
	if ((limb[(nb - 1) / 4] >> (8 * ((nb - 1) % 4))) & 0x80)
		nb++;
	if ((b = calloc(nb + 2, 1)) == NULL) {
		free(limb);
		return -ENOMEM;
	}
	for (size_t i = 0; i < nb && i < nl * 4; i++)
		b[i] = (unsigned char)(limb[i / 4] >> (8 * (i % 4)));
	free(limb);
	if (neg) {
		int carry = 1;

		for (size_t i = 0; i < nb; i++) {
			unsigned x = (unsigned char)~b[i] + (unsigned)carry;

			b[i] = (unsigned char)x;
			carry = x >> 8;
		}
		if (nb > 1 && b[nb - 1] == 0xff && (b[nb - 2] & 0x80))
			nb--;
	}
	if (nb < 256)
		rc = pk_payload(e, 0x8a, nb, 1, b);
	else
		rc = pk_payload(e, 0x8b, nb, 4, b);
	free(b);
	return rc;
}

int
pk_enc_float(struct pk_enc *e, double v)
{
	unsigned char b[9];
	uint64_t u;

	memcpy(&u, &v, sizeof u);
	b[0] = 'G';
	for (int i = 0; i < 8; i++)
		b[1 + i] = (unsigned char)(u >> (56 - 8 * i));
	return pk_write(e, b, 9);
}

int
pk_enc_str(struct pk_enc *e, const char *s, size_t n)
{
	size_t slot = SIZE_MAX;
	int rc;

	/* CPython shares "" and one-char Latin-1 strs: a repeat is a GET. */
	if (n == 0)
		slot = 256;
	else if (n == 1 && (unsigned char)s[0] < 0x80)
		slot = (unsigned char)s[0];
	else if (n == 2 && ((unsigned char)s[0] & 0xfe) == 0xc2)
		slot = ((unsigned)(s[0] & 3) << 6) | (s[1] & 0x3f);
	if (slot != SIZE_MAX && e->str1[slot])
		return pk_memo_ref(e, e->str1[slot] - 1);
	if (n <= 0xff)
		rc = pk_payload(e, 0x8c, n, 1, s);
	else if ((uint64_t)n > 0xffffffffu)
		rc = pk_payload(e, 0x8d, n, 8, s);
	else
		rc = pk_payload(e, 'X', n, 4, s);
	if (rc == 0 && slot != SIZE_MAX)
		e->str1[slot] = e->memo + 1;
	return rc ? rc : pk_memoize(e);
}

/* The bytes of a $bytes or $bytearray tag, in a new buffer. */
int
pk_b64_decode(struct pk_enc *e, const json_t *v, const char *tag,
    unsigned char **out, size_t *olen)
{
	int rc = value_b64_decode(v, out, olen);

	if (rc == -EINVAL)
		return pk_enc_err(e, "%s needs a string of padded base64", tag);
	return rc;
}

/* Python's hashability, checked as pickle.loads would fail on it. */
int
pk_enc_hashable(struct pk_enc *e, const json_t *v, int depth)
{
	const char *what = NULL;

	if (depth > PK_MAX_DEPTH)
		return pk_enc_err(e, "nesting deeper than %d", PK_MAX_DEPTH);
	if (json_is_array(v))
		what = "list";
	else if (json_is_object(v)) {
		const char *tag =
		    json_object_size(v) == 1
		        ? json_object_iter_key(json_object_iter((json_t *)v))
		        : NULL;
		const json_t *in = tag ? json_object_get(v, tag) : NULL;

		if (tag && strcmp(tag, "$tuple") == 0 && json_is_array(in)) {
			size_t o1 = pk_path_push(e, tag, 0);

			for (size_t i = 0; i < json_array_size(in); i++) {
				size_t o2 = pk_path_push(e, NULL, i);
				int rc = pk_enc_hashable(
				    e, json_array_get(in, i), depth + 1);

				if (rc)
					return rc;
				pk_path_pop(e, o2);
			}
			pk_path_pop(e, o1);
			return 0;
		}
		if (tag &&
		    (strcmp(tag, "$set") == 0 || strcmp(tag, "$dict") == 0 ||
		        strcmp(tag, "$bytearray") == 0 ||
		        strcmp(tag, "$odict") == 0 ||
		        strcmp(tag, "$counter") == 0 ||
		        strcmp(tag, "$defaultdict") == 0 ||
		        strcmp(tag, "$deque") == 0 ||
		        strcmp(tag, "$ndarray") == 0))
			what = tag + 1;
		else if (!tag || tag[0] != '$')
			what = "dict";
		/* hashable in Python, but what the decoder shows as a set
		 * member or a key only as $undecodable (doc/values.md): a
		 * pickle of it there must not be written either */
		else if (strcmp(tag, "$decimal") == 0 ||
		         strcmp(tag, "$complex") == 0 ||
		         strcmp(tag, "$npscalar") == 0 ||
		         strcmp(tag, "$pdtimestamp") == 0 ||
		         strcmp(tag, "$pdtimedelta") == 0)
			return pk_enc_err(e,
			    "a %s cannot be a set element or a dict key here "
			    "(its hash is not one JSON keeps)",
			    tag + 1);
	}
	if (what)
		return pk_enc_err(e,
		    "a %s cannot be a set element or a dict key (unhashable)",
		    what);
	return 0;
}

/* The items of a JSON array: tuple elements, list items, set elements. */
int
pk_enc_items(struct pk_enc *e, const json_t *a, int depth, int hashable)
{
	int rc;

	for (size_t i = 0; i < json_array_size(a); i++) {
		size_t old = pk_path_push(e, NULL, i);

		if ((hashable && (rc = pk_enc_hashable(
		                      e, json_array_get(a, i), depth))) ||
		    (rc = pk_enc_value(e, json_array_get(a, i), depth)) != 0)
			return rc;
		pk_path_pop(e, old);
	}
	return 0;
}

/* A [key, value] pair of $dict, paths [0] and [1]. */
int
pk_enc_pair(struct pk_enc *e, const json_t *p, int depth)
{
	size_t old = pk_path_push(e, NULL, 0);
	int rc;

	if ((rc = pk_enc_hashable(e, json_array_get(p, 0), depth)) ||
	    (rc = pk_enc_value(e, json_array_get(p, 0), depth)))
		return rc;
	pk_path_pop(e, old);
	old = pk_path_push(e, NULL, 1);
	if ((rc = pk_enc_value(e, json_array_get(p, 1), depth)) != 0)
		return rc;
	pk_path_pop(e, old);
	return 0;
}

/* Batches of 1000 between MARK and op, as CPython writes lists (a list
 * of one item is an APPEND), dicts and sets; a dict or set of exactly
 * k * 1000 items ends with an empty batch, as in CPython. */
int
pk_enc_batches(struct pk_enc *e, const json_t *a, size_t n, int pairs,
    unsigned char op, int depth, int hashable)
{
	size_t i = 0;
	int rc;

	do {
		size_t b = 0;

		if ((rc = pk_op(e, '(')) < 0)
			return rc;
		for (; i < n && b < PK_BATCH; i++, b++) {
			size_t old = pk_path_push(e, NULL, i);

			if (pairs) {
				const json_t *p = json_array_get(a, i);

				if (!json_is_array(p) ||
				    json_array_size(p) != 2)
					return pk_enc_err(e,
					    "$dict items are [key, value] "
					    "pairs");
				if ((rc = pk_enc_pair(e, p, depth)) != 0)
					return rc;
			} else if ((hashable &&
			               (rc = pk_enc_hashable(
			                    e, json_array_get(a, i), depth))) ||
			           (rc = pk_enc_value(
			                e, json_array_get(a, i), depth)))
				return rc;
			pk_path_pop(e, old);
		}
		if ((rc = pk_op(e, op)) < 0)
			return rc;
		if (op == 'e' && i == n)
			break;
		if (op != 'e' && b < PK_BATCH)
			break;
	} while (1);
	return 0;
}

/* The [key, value] pairs of a $dict (in) as SETITEM or SETITEMS. */
static int
pk_enc_pairs(struct pk_enc *e, const json_t *in, int depth)
{
	size_t n = json_array_size(in);
	int rc;

	if (n == 1) {
		const json_t *p = json_array_get(in, 0);
		size_t o2 = pk_path_push(e, NULL, 0);

		if (!json_is_array(p) || json_array_size(p) != 2)
			return pk_enc_err(
			    e, "$dict items are [key, value] pairs");
		if ((rc = pk_enc_pair(e, p, depth + 1)) != 0 ||
		    (rc = pk_op(e, 's')))
			return rc;
		pk_path_pop(e, o2);
		return 0;
	}
	return n ? pk_enc_batches(e, in, n, 1, 'u', depth + 1, 0) : 0;
}

/* The members of a JSON object (a dict of str keys) as SETITEM or
 * SETITEMS. */
static int
pk_enc_members(struct pk_enc *e, const json_t *v, int depth)
{
	size_t klen, n = json_object_size(v), i = 0;
	const char *key;
	json_t *val;
	int rc;

	if (n == 0)
		return 0;
	if (n > 1 && (rc = pk_op(e, '(')))
		return rc;
	json_object_keylen_foreach((json_t *)v, key, klen, val)
	{
		size_t old = pk_path_push(e, key, 0);

		if ((rc = pk_enc_str(e, key, klen)) ||
		    (rc = pk_enc_value(e, val, depth + 1)))
			return rc;
		pk_path_pop(e, old);
		if (++i % PK_BATCH == 0 && n > 1 &&
		    ((rc = pk_op(e, 'u')) || (rc = pk_op(e, '('))))
			return rc;
	}
	return pk_op(e, n > 1 ? 'u' : 's');
}

int
pk_enc_dict_items(struct pk_enc *e, const json_t *v, int depth)
{
	const char *tag =
	    json_object_size(v) == 1
	        ? json_object_iter_key(json_object_iter((json_t *)v))
	        : NULL;

	if (!json_is_object(v))
		return pk_enc_err(e, "a dict is a JSON object");
	if (tag && strcmp(tag, "$dict") == 0) {
		size_t old = pk_path_push(e, tag, 0);
		const json_t *in = json_object_get(v, tag);
		int rc;

		if (!json_is_array(in))
			return pk_enc_err(e, "$dict needs an array");
		if ((rc = pk_enc_pairs(e, in, depth)) == 0)
			pk_path_pop(e, old);
		return rc;
	}
	if (tag && tag[0] == '$')
		return pk_enc_err(e, "a dict is a JSON object or a $dict");
	return pk_enc_members(e, v, depth);
}

static int
pk_enc_tag(struct pk_enc *e, const char *tag, const json_t *in, int depth)
{
	unsigned char *b;
	size_t n, old = pk_path_push(e, tag, 0);
	int rc;

	if (strcmp(tag, "$int") == 0)
		rc = pk_enc_bigint(e, in);
	else if (strcmp(tag, "$float") == 0) {
		const char *s = json_is_string(in) ? json_string_value(in) : "";

		if (strcmp(s, "nan") == 0)
			rc = pk_enc_float(e, NAN);
		else if (strcmp(s, "inf") == 0 || strcmp(s, "-inf") == 0)
			rc =
			    pk_enc_float(e, s[0] == '-' ? -INFINITY : INFINITY);
		else
			rc = pk_enc_err(
			    e, "$float is \"nan\", \"inf\" or \"-inf\"");
	} else if (strcmp(tag, "$bytes") == 0 ||
	           strcmp(tag, "$bytearray") == 0) {
		if ((rc = pk_b64_decode(e, in, tag, &b, &n)) != 0)
			return rc;
		if (strcmp(tag, "$bytes") == 0)
			rc = pk_enc_bytes(e, b, n);
		else if ((rc = pk_payload(e, 0x96, n, 8, b)) == 0)
			rc = pk_memoize(e);
		free(b);
	} else if (!json_is_array(in) && strcmp(tag, "$undecodable") != 0 &&
	           (strcmp(tag, "$tuple") == 0 || strcmp(tag, "$set") == 0 ||
	               strcmp(tag, "$frozenset") == 0 ||
	               strcmp(tag, "$dict") == 0))
		rc = pk_enc_err(e, "%s needs an array", tag);
	else if (strcmp(tag, "$tuple") == 0) {
		n = json_array_size(in);
		if (n == 0)
			rc = pk_op(e, ')');
		else if ((n > 3 && (rc = pk_op(e, '('))) ||
		         (rc = pk_enc_items(e, in, depth + 1, 0)) ||
		         (rc = pk_op(
		              e, n > 3 ? 't' : (unsigned char)(0x84 + n))))
			;
		else
			rc = pk_memoize(e);
	} else if (strcmp(tag, "$set") == 0) {
		if ((rc = pk_op(e, 0x8f)) || (rc = pk_memoize(e)))
			;
		else if (json_array_size(in))
			rc = pk_enc_batches(
			    e, in, json_array_size(in), 0, 0x90, depth + 1, 1);
	} else if (strcmp(tag, "$frozenset") == 0) {
		if ((rc = pk_op(e, '(')) ||
		    (rc = pk_enc_items(e, in, depth + 1, 1)) ||
		    (rc = pk_op(e, 0x91)))
			;
		else
			rc = pk_memoize(e);
	} else if (strcmp(tag, "$dict") == 0) {
		if ((rc = pk_op(e, '}')) || (rc = pk_memoize(e)))
			;
		else
			rc = pk_enc_pairs(e, in, depth);
	} else if ((rc = pk_enc_object(e, tag, in, depth)) != 1)
		;
	else if (strcmp(tag, "$undecodable") == 0)
		rc = pk_enc_err(e, "a not-decodable value can only be the "
		                   "whole document");
	else
		rc = pk_enc_err(e,
		    "unknown tag %.40s (a dict with this one key is written "
		    "{\"$dict\": [[key, value]]})",
		    tag);
	if (rc == 0)
		pk_path_pop(e, old);
	return rc;
}

int
pk_enc_value(struct pk_enc *e, const json_t *v, int depth)
{
	int rc = 0;

	if (depth > PK_MAX_DEPTH)
		return pk_enc_err(e, "nesting deeper than %d", PK_MAX_DEPTH);
	switch (json_typeof(v)) {
	case JSON_NULL:
		rc = pk_op(e, 'N');
		break;
	case JSON_TRUE:
		rc = pk_op(e, 0x88);
		break;
	case JSON_FALSE:
		rc = pk_op(e, 0x89);
		break;
	case JSON_INTEGER:
		rc = pk_enc_int(e, json_integer_value(v));
		break;
	case JSON_REAL:
		rc = pk_enc_float(e, json_real_value(v));
		break;
	case JSON_STRING:
		rc = pk_enc_str(e, json_string_value(v), json_string_length(v));
		break;
	case JSON_ARRAY: {
		size_t n = json_array_size(v);

		if ((rc = pk_op(e, ']')) || (rc = pk_memoize(e)) || n == 0)
			break;
		if (n == 1) {
			size_t old = pk_path_push(e, NULL, 0);

			if ((rc = pk_enc_value(
			         e, json_array_get(v, 0), depth + 1)) ||
			    (rc = pk_op(e, 'a')))
				break;
			pk_path_pop(e, old);
		} else
			rc = pk_enc_batches(e, v, n, 0, 'e', depth + 1, 0);
		break;
	}
	case JSON_OBJECT:
		if (json_object_size(v) == 1) {
			void *it = json_object_iter((json_t *)v);
			const char *key = json_object_iter_key(it);

			if (key[0] == '$') {
				rc = pk_enc_tag(
				    e, key, json_object_iter_value(it), depth);
				break;
			}
		}
		if ((rc = pk_op(e, '}')) || (rc = pk_memoize(e)))
			break;
		rc = pk_enc_members(e, v, depth);
		break;
	}
	if (rc == 0)
		pk_boundary(e);
	return rc;
}

int
value_pickle_encode(const json_t *v, struct blt_value_buf *out)
{
	struct pk_enc e = {
	    .out = out, .frame = SIZE_MAX, .path = "$", .pathlen = 1};
	int rc;

	out->len = 0;
	if ((rc = value_buf_put(out, "\x80\x05", 2)) < 0)
		return rc;
	/* depth counts the containers around a value, as the decoder and
	 * the text reader count them: 1000 lists around an int is text
	 * blt dump --decode shows, and load --encode takes back */
	if ((rc = pk_enc_value(&e, v, 0)) != 0 || (rc = pk_op(&e, '.')) < 0)
		return rc;
	pk_commit(&e);
	return 0;
}
