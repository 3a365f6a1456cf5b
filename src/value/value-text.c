/*
 * The tree as text and back: our own emitter (Python's float repr and
 * string escapes, members in insertion order, so that output is stable and
 * matches what json.dumps writes), the nodes value-read.c builds the tree
 * of a text with (libbltutil's json_parse() reads it: Python's json.loads'
 * NaN and Infinity, integers of any size, lone surrogates), base64, and the
 * tagged forms of doc/values.md.  jansson holds the tree but does not parse
 * it: its reader refuses integers beyond int64 and NaN, which Python's json
 * writes, and knows nothing of tags.
 */
#include "config.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "booklet.h"
#include "bltvalue.h"
#include "value-int.h"

const struct value_style value_style_text = {", ", ": ", 0, 0, 0};

/* --- base64 --------------------------------------------------------------- */

static const char value_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

json_t *
value_b64_string(const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t i, o = 0, olen = (n + 2) / 3 * 4;
	char *t = malloc(olen + 1);
	json_t *j;

	if (t == NULL)
		return NULL;
	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v =
		    (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		t[o++] = value_b64[v >> 18];
		t[o++] = value_b64[v >> 12 & 63];
		t[o++] = value_b64[v >> 6 & 63];
		t[o++] = value_b64[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)s[i] << 16 |
		             (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0);
		t[o++] = value_b64[v >> 18];
		t[o++] = value_b64[v >> 12 & 63];
		t[o++] = i + 1 < n ? value_b64[v >> 6 & 63] : '=';
		t[o++] = '=';
	}
	j = json_stringn_nocheck(t, o);
	free(t);
	return j;
}

static int
value_b64_digit(unsigned char c)
{
	const char *q = c ? strchr(value_b64, c) : NULL;

	return q ? (int)(q - value_b64) : -1;
}

int
value_b64_decode(const json_t *s, unsigned char **p, size_t *n)
{
	const unsigned char *t;
	size_t len, i, o = 0;
	unsigned char *b;

	if (!json_is_string(s))
		return -EINVAL;
	t = (const unsigned char *)json_string_value(s);
	len = json_string_length(s);
	/* Padded, as Python's base64.b64encode writes it. */
	if (len % 4 != 0)
		return -EINVAL;
	if ((b = malloc(len / 4 * 3 + 1)) == NULL)
		return -ENOMEM;
	for (i = 0; i < len; i += 4) {
		int d[4], pad = 0;

		for (int k = 0; k < 4; k++) {
			d[k] = value_b64_digit(t[i + k]);
			if (t[i + k] == '=' && i + 4 == len && k >= 2) {
				d[k] = 0;
				pad++;
			} else if (d[k] < 0 || pad) {
				free(b);
				return -EINVAL;
			}
		}
		uint32_t v = (uint32_t)d[0] << 18 | (uint32_t)d[1] << 12 |
		             (uint32_t)d[2] << 6 | (uint32_t)d[3];
		b[o++] = (unsigned char)(v >> 16);
		if (pad < 2)
			b[o++] = (unsigned char)(v >> 8);
		if (pad < 1)
			b[o++] = (unsigned char)v;
	}
	*p = b;
	*n = o;
	return 0;
}

/* --- tags ----------------------------------------------------------------- */

static const struct {
	const char *name;
	enum value_tag tag;
} value_tags[] = {{"$bytes", VALUE_TAG_BYTES},
    {"$bytearray", VALUE_TAG_BYTEARRAY}, {"$tuple", VALUE_TAG_TUPLE},
    {"$set", VALUE_TAG_SET}, {"$frozenset", VALUE_TAG_FROZENSET},
    {"$int", VALUE_TAG_INT}, {"$float", VALUE_TAG_FLOAT},
    {"$dict", VALUE_TAG_DICT}, {"$undecodable", VALUE_TAG_UNDECODABLE},
    {"$datetime", VALUE_TAG_DATETIME}, {"$date", VALUE_TAG_DATE},
    {"$time", VALUE_TAG_TIME}, {"$timedelta", VALUE_TAG_TIMEDELTA},
    {"$timezone", VALUE_TAG_TIMEZONE}, {"$decimal", VALUE_TAG_DECIMAL},
    {"$uuid", VALUE_TAG_UUID}, {"$complex", VALUE_TAG_COMPLEX},
    {"$odict", VALUE_TAG_ODICT}, {"$counter", VALUE_TAG_COUNTER},
    {"$defaultdict", VALUE_TAG_DEFAULTDICT}, {"$deque", VALUE_TAG_DEQUE},
    {"$ndarray", VALUE_TAG_NDARRAY}, {"$npscalar", VALUE_TAG_NPSCALAR},
    {"$pdtimestamp", VALUE_TAG_PDTIMESTAMP},
    {"$pdtimedelta", VALUE_TAG_PDTIMEDELTA}};

enum value_tag
value_tag(const json_t *t, json_t **payload)
{
	const char *key;
	size_t klen;
	void *it;

	if (!json_is_object(t) || json_object_size(t) != 1)
		return VALUE_TAG_NONE;
	it = json_object_iter((json_t *)t);
	key = json_object_iter_key(it);
	klen = json_object_iter_key_len(it);
	if (klen == 0 || key[0] != '$')
		return VALUE_TAG_NONE;
	if (payload != NULL)
		*payload = json_object_iter_value(it);
	for (size_t i = 0; i < sizeof value_tags / sizeof value_tags[0]; i++)
		if (strlen(value_tags[i].name) == klen &&
		    memcmp(value_tags[i].name, key, klen) == 0)
			return value_tags[i].tag;
	return VALUE_TAG_UNKNOWN;
}

const char *
value_tag_name(enum value_tag tag)
{
	for (size_t i = 0; i < sizeof value_tags / sizeof value_tags[0]; i++)
		if (value_tags[i].tag == tag)
			return value_tags[i].name;
	return "a tag";
}

json_t *
value_tagged(const char *tag, json_t *payload)
{
	json_t *o;

	if (payload == NULL)
		return NULL;
	if ((o = json_object()) == NULL ||
	    json_object_set_new_nocheck(o, tag, payload) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *
value_real(double v)
{
	if (isnan(v))
		return value_tagged("$float", json_string("nan"));
	if (isinf(v))
		return value_tagged(
		    "$float", json_string(v < 0 ? "-inf" : "inf"));
	return json_real(v);
}

json_t *
value_uint(uint64_t u)
{
	char num[32];

	if (u <= INT64_MAX)
		return json_integer((json_int_t)u);
	snprintf(num, sizeof num, "%" PRIu64, u);
	return value_tagged("$int", json_string(num));
}

/* --- the emitter ---------------------------------------------------------- */

/* Python's repr() of a finite double: the shortest digits that read back
 * as d, in fixed notation for exponents -4 to 15, else in scientific
 * notation with at least two exponent digits. */
static int
value_float_repr(double d, char *out, size_t size)
{
	char tmp[40], digits[20] = "";
	int prec, exp10, nd = 0, decpt, o = 0;
	const char *q;

	/* A double's shortest round-trip form has at most 17 digits, and if it
	 * has k <= 15, rounding to 15 digits gives those k and zeros: so 15,
	 * 16 and 17 are the only tries needed (trying from 1 up cost a
	 * snprintf and a strtod per digit, most of a dump's time).  Subnormals
	 * hold fewer digits, so they still try from 1. */
	prec = fabs(d) < DBL_MIN ? 1 : 15;
	for (; prec <= 17; prec++) {
		snprintf(tmp, sizeof tmp, "%.*e", prec - 1, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	q = tmp;
	if (*q == '-')
		out[o++] = *q++;
	for (; *q != 'e'; q++)
		if (*q != '.')
			digits[nd++] = *q;
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	exp10 = atoi(q + 1);
	decpt = exp10 + 1;
	if (decpt > -4 && decpt <= 16) {
		if (decpt <= 0) {
			o += snprintf(out + o, size - o, "0.");
			for (int i = 0; i < -decpt; i++)
				out[o++] = '0';
			memcpy(out + o, digits, nd);
			o += nd;
		} else if (decpt >= nd) {
			memcpy(out + o, digits, nd);
			o += nd;
			for (int i = nd; i < decpt; i++)
				out[o++] = '0';
			out[o++] = '.';
			out[o++] = '0';
		} else {
			memcpy(out + o, digits, decpt);
			o += decpt;
			out[o++] = '.';
			memcpy(out + o, digits + decpt, nd - decpt);
			o += nd - decpt;
		}
		out[o] = '\0';
	} else {
		out[o++] = digits[0];
		if (nd > 1) {
			out[o++] = '.';
			memcpy(out + o, digits + 1, nd - 1);
			o += nd - 1;
		}
		o += snprintf(out + o, size - o, "e%c%02d",
		    exp10 < 0 ? '-' : '+', abs(exp10));
	}
	return o;
}

#define PUTS(s) value_buf_put(out, (s), strlen(s))

static int
value_emit_uescape(struct blt_value_buf *out, uint32_t c)
{
	/* by hand, not snprintf(): a value of control bytes is all escapes,
	 * and a megabyte of them took seconds */
	static const char hex[] = "0123456789abcdef";
	uint32_t units[2] = {c, 0};
	char e[13], *w = e;
	int n = 1;

	if (c >= 0x10000) {
		units[0] = 0xd800 + ((c - 0x10000) >> 10);
		units[1] = 0xdc00 + ((c - 0x10000) & 0x3ff);
		n = 2;
	}
	for (int i = 0; i < n; i++) {
		*w++ = '\\';
		*w++ = 'u';
		for (int shift = 12; shift >= 0; shift -= 4)
			*w++ = hex[(units[i] >> shift) & 0xf];
	}
	*w = '\0';
	return PUTS(e);
}

/* The UTF-8 (or surrogate, in its 3-byte form) character at p: its length,
 * or 0 for an invalid byte. */
static size_t
value_utf8(const unsigned char *p, size_t n, uint32_t *cp)
{
	uint32_t c = p[0];
	size_t len, i;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, c &= 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, c &= 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, c &= 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if ((len == 3 && c < 0x800) ||
	    (len == 4 && (c < 0x10000 || c > 0x10ffff)))
		return 0;
	*cp = c;
	return len;
}

int
value_utf8_strict(const void *str, size_t n)
{
	const unsigned char *p = str;
	size_t i = 0, len;
	uint64_t w;
	uint32_t c;

	while (i < n) {
		/* Most text is ASCII: eight bytes at a time while it is. */
		while (n - i >= 8) {
			memcpy(&w, p + i, 8);
			if (w & UINT64_C(0x8080808080808080))
				break;
			i += 8;
		}
		if (i >= n)
			break;
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		len = value_utf8(p + i, n - i, &c);
		if (len == 0 || (c >= 0xd800 && c <= 0xdfff))
			return 0;
		i += len;
	}
	return 1;
}

/* 1 if one of the 8 bytes at p is not printable ASCII or is '"' or '\\',
 * which a JSON string cannot hold as they are; 0 if all can be copied
 * (the bit tricks of "Bit Twiddling Hacks": a byte below 0x20, a byte
 * equal to one of three, a high bit). */
static int
value_escape8(const unsigned char *p)
{
	const uint64_t ones = UINT64_C(0x0101010101010101);
	const uint64_t highs = UINT64_C(0x8080808080808080);
	uint64_t w, q, b, d;

	memcpy(&w, p, 8);
	q = w ^ (ones * '"');
	b = w ^ (ones * '\\');
	d = w ^ (ones * 0x7f);
	return (((w - ones * 0x20) | (q - ones) | (b - ones) | (d - ones) | w) &
	           highs) != 0;
}

/* A JSON string as Python's json.dumps writes it (ensure_ascii as s says);
 * a lone surrogate is always escaped, a byte that is not UTF-8 becomes
 * U+FFFD (neither comes from our decoders but pickle's str). */
static int
value_emit_str(struct blt_value_buf *out, const char *str, size_t n,
    const struct value_style *s)
{
	const unsigned char *p = (const unsigned char *)str;
	size_t i = 0, run, len;
	uint32_t c;
	int rc;

	if ((rc = PUTS("\"")) < 0)
		return rc;
	while (i < n) {
		run = i;
		while (n - run >= 8 && !value_escape8(p + run))
			run += 8;
		for (; run < n && p[run] >= 0x20 && p[run] < 0x7f &&
		       p[run] != '"' && p[run] != '\\';
		     run++)
			;
		if (run > i && (rc = value_buf_put(out, p + i, run - i)) < 0)
			return rc;
		if ((i = run) >= n)
			break;
		len = value_utf8(p + i, n - i, &c);
		if (len == 0) {
			c = 0xfffd;
			len = 1;
		}
		switch (c) {
		case '"':
			rc = PUTS("\\\"");
			break;
		case '\\':
			rc = PUTS("\\\\");
			break;
		case '\n':
			rc = PUTS("\\n");
			break;
		case '\r':
			rc = PUTS("\\r");
			break;
		case '\t':
			rc = PUTS("\\t");
			break;
		case '\b':
			rc = PUTS("\\b");
			break;
		case '\f':
			rc = PUTS("\\f");
			break;
		default:
			if (c < 0x20 || (s->ascii && c >= 0x7f) ||
			    (c >= 0xd800 && c <= 0xdfff) ||
			    (c == 0xfffd && p[i] != 0xef))
				rc = value_emit_uescape(out, c);
			else
				rc = value_buf_put(out, p + i, len);
		}
		if (rc < 0)
			return rc;
		i += len;
	}
	return PUTS("\"");
}

int
value_emit_string(const void *p, size_t n, struct blt_value_buf *out)
{
	return value_emit_str(out, p, n, &value_style_text);
}

static int value_emit_at(const json_t *t, const struct value_style *s,
    struct blt_value_buf *out, int depth);

static int
value_emit_real(
    double d, const struct value_style *s, struct blt_value_buf *out)
{
	char num[48];

	if (isfinite(d)) {
		value_float_repr(d, num, sizeof num);
		return PUTS(num);
	}
	if (s->nan_null)
		return PUTS("null");
	if (s->plain)
		return PUTS(isnan(d) ? "NaN"
		            : d > 0  ? "Infinity"
		                     : "-Infinity");
	/* Only a decoder's slip leaves a non-finite real in a tree. */
	return PUTS(isnan(d) ? "{\"$float\": \"nan\"}"
	            : d > 0  ? "{\"$float\": \"inf\"}"
	                     : "{\"$float\": \"-inf\"}");
}

static int
value_emit_array(const json_t *a, const struct value_style *s,
    struct blt_value_buf *out, int depth)
{
	int rc;

	if ((rc = PUTS("[")) < 0)
		return rc;
	for (size_t i = 0; i < json_array_size(a); i++) {
		if (i > 0 && (rc = PUTS(s->item_sep)) < 0)
			return rc;
		if ((rc = value_emit_at(
		         json_array_get(a, i), s, out, depth + 1)) < 0)
			return rc;
	}
	return PUTS("]");
}

/* A key of a $dict as json.dumps writes a non-str key: its text. */
static int
value_emit_key(
    const json_t *k, const struct value_style *s, struct blt_value_buf *out)
{
	char num[48];
	json_t *pl;
	int rc;

	switch (json_typeof(k)) {
	case JSON_STRING:
		return value_emit_str(
		    out, json_string_value(k), json_string_length(k), s);
	case JSON_INTEGER:
		snprintf(num, sizeof num, "\"%" JSON_INTEGER_FORMAT "\"",
		    json_integer_value(k));
		return PUTS(num);
	case JSON_REAL:
		if ((rc = PUTS("\"")) < 0 ||
		    (rc = value_emit_real(json_real_value(k), s, out)) < 0)
			return rc;
		return PUTS("\"");
	case JSON_TRUE:
		return PUTS("\"true\"");
	case JSON_FALSE:
		return PUTS("\"false\"");
	case JSON_NULL:
		return PUTS("\"null\"");
	default:
		break;
	}
	switch (value_tag(k, &pl)) {
	case VALUE_TAG_INT:
		if ((rc = PUTS("\"")) < 0 ||
		    (rc = value_buf_put(out, json_string_value(pl),
		         json_string_length(pl))) < 0)
			return rc;
		return PUTS("\"");
	case VALUE_TAG_FLOAT:
		if (s->nan_null)
			return PUTS("\"null\"");
		return PUTS(!strcmp(json_string_value(pl), "nan") ? "\"NaN\""
		            : !strcmp(json_string_value(pl), "inf")
		                ? "\"Infinity\""
		                : "\"-Infinity\"");
	default:
		return blt_errmsg_set(-EINVAL,
		    "a dict key that is not a str, int, float, bool or None "
		    "cannot be written as JSON");
	}
}

static int
value_emit_plain_tag(enum value_tag tag, const json_t *pl,
    const struct value_style *s, struct blt_value_buf *out, int depth)
{
	int rc;

	if (value_tag_is_object(tag))
		return blt_errmsg_set(-EINVAL,
		    "%s is one of Python's types that JSON cannot hold (a "
		    "pickle store's)",
		    value_tag_name(tag));
	switch (tag) {
	case VALUE_TAG_TUPLE:
		return value_emit_array(pl, s, out, depth);
	case VALUE_TAG_INT:
		return value_buf_put(
		    out, json_string_value(pl), json_string_length(pl));
	case VALUE_TAG_FLOAT:
		if (s->nan_null)
			return PUTS("null");
		return PUTS(!strcmp(json_string_value(pl), "nan") ? "NaN"
		            : !strcmp(json_string_value(pl), "inf")
		                ? "Infinity"
		                : "-Infinity");
	case VALUE_TAG_DICT:
		if ((rc = PUTS("{")) < 0)
			return rc;
		for (size_t i = 0; i < json_array_size(pl); i++) {
			json_t *kv = json_array_get(pl, i);

			if ((i > 0 && (rc = PUTS(s->item_sep)) < 0) ||
			    (rc = value_emit_key(
			         json_array_get(kv, 0), s, out)) < 0 ||
			    (rc = PUTS(s->key_sep)) < 0 ||
			    (rc = value_emit_at(
			         json_array_get(kv, 1), s, out, depth + 1)) < 0)
				return rc;
		}
		return PUTS("}");
	case VALUE_TAG_BYTES:
	case VALUE_TAG_BYTEARRAY:
		return blt_errmsg_set(
		    -EINVAL, "bytes cannot be written as JSON");
	case VALUE_TAG_SET:
	case VALUE_TAG_FROZENSET:
		return blt_errmsg_set(
		    -EINVAL, "a set cannot be written as JSON");
	default:
		return blt_errmsg_set(-EINVAL,
		    "a tag that is not a value cannot be written as JSON");
	}
}

static int
value_emit_at(const json_t *t, const struct value_style *s,
    struct blt_value_buf *out, int depth)
{
	char num[48];
	enum value_tag tag;
	json_t *pl;
	int rc, first = 1;
	const char *key;
	size_t klen;
	json_t *v;

	if (depth > VALUE_DEPTH_MAX)
		return blt_errmsg_set(
		    -EINVAL, "nested deeper than %d levels", VALUE_DEPTH_MAX);
	switch (json_typeof(t)) {
	case JSON_NULL:
		return PUTS("null");
	case JSON_TRUE:
		return PUTS("true");
	case JSON_FALSE:
		return PUTS("false");
	case JSON_INTEGER:
		snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(t));
		return PUTS(num);
	case JSON_REAL:
		return value_emit_real(json_real_value(t), s, out);
	case JSON_STRING:
		return value_emit_str(
		    out, json_string_value(t), json_string_length(t), s);
	case JSON_ARRAY:
		return value_emit_array(t, s, out, depth);
	case JSON_OBJECT:
		break;
	}
	if (s->plain && (tag = value_tag(t, &pl)) != VALUE_TAG_NONE)
		return value_emit_plain_tag(tag, pl, s, out, depth);
	if ((rc = PUTS("{")) < 0)
		return rc;
	json_object_keylen_foreach((json_t *)t, key, klen, v)
	{
		if ((!first && (rc = PUTS(s->item_sep)) < 0) ||
		    (rc = value_emit_str(out, key, klen, s)) < 0 ||
		    (rc = PUTS(s->key_sep)) < 0 ||
		    (rc = value_emit_at(v, s, out, depth + 1)) < 0)
			return rc;
		first = 0;
	}
	return PUTS("}");
}

int
value_emit(
    const json_t *t, const struct value_style *s, struct blt_value_buf *out)
{
	return value_emit_at(t, s, out, 0);
}

/* --- the tree for the reader (value-read.c) ------------------------------ */

json_t *
value_tree_word(int word)
{
	return word == 'n'   ? json_null()
	       : word == 't' ? json_true()
	                     : json_false();
}

json_t *
value_tree_string(const char *s, size_t n)
{
	/* nocheck: a lone surrogate is kept, as Python keeps it */
	return json_stringn_nocheck(s, n);
}

/* Decimal digits of an integer that may not fit int64: a json integer, or
 * {"$int": "digits"} with leading zeros gone. */
static json_t *
value_int_text(const char *s, size_t n)
{
	char buf[32];
	int neg = n > 0 && s[0] == '-';
	const char *d = s + neg;
	size_t dn = n - neg;
	char *t;
	json_t *j;

	while (dn > 1 && d[0] == '0')
		d++, dn--;
	if (dn < 20) {
		memcpy(buf + 1, d, dn);
		buf[0] = '-';
		buf[dn + 1] = '\0';
		errno = 0;
		long long v = strtoll(neg ? buf : buf + 1, NULL, 10);
		if (errno == 0)
			return json_integer(v);
	}
	if ((t = malloc(dn + 2)) == NULL)
		return NULL;
	t[0] = '-';
	memcpy(t + 1, d, dn);
	j = json_stringn_nocheck(neg && !(dn == 1 && d[0] == '0') ? t : t + 1,
	    dn + (neg && !(dn == 1 && d[0] == '0')));
	free(t);
	return value_tagged("$int", j);
}

static json_t *
value_float_tag(const char *what)
{
	return value_tagged("$float", json_string(what));
}

json_t *
value_tree_number(const char *text, size_t len, double num)
{
	/* An integer is digits and a sign alone: no '.', exponent or word. */
	if (strspn(text, "-0123456789") == len)
		return value_int_text(text, len);
	/* NaN and Infinity, and what overflows: Python's float() of 1e400
	 * is inf. */
	if (isnan(num))
		return value_float_tag("nan");
	if (!isfinite(num))
		return value_float_tag(num > 0 ? "inf" : "-inf");
	return json_real(num);
}

json_t *
value_tree_array(void)
{
	return json_array();
}

int
value_tree_append(json_t *a, json_t *v)
{
	return json_array_append_new(a, v) < 0 ? -ENOMEM : 0;
}

json_t *
value_tree_object(void)
{
	return json_object();
}

int
value_tree_set(json_t *o, const char *k, size_t klen, json_t *v)
{
	return json_object_setn_new_nocheck(o, k, klen, v) < 0 ? -ENOMEM : 0;
}

void
value_tree_free(json_t *t)
{
	json_decref(t);
}

/* Check the payload pl of one of the tags of Python's everyday types:
 * 0, or -EINVAL with why (the pickle encoder checks the rest, with the
 * path of what does not fit). */
static int
value_check_object_tag(enum value_tag tag, const json_t *pl, const char **why)
{
	const char *s = json_string_value(pl);
	size_t n = json_string_length(pl);
	unsigned char u[16];
	struct value_dt t;
	int64_t off;
	json_t *f;

	switch (tag) {
	case VALUE_TAG_DATETIME:
	case VALUE_TAG_DATE:
	case VALUE_TAG_TIME:
		*why =
		    tag == VALUE_TAG_DATETIME
		        ? "$datetime needs \"YYYY-MM-DDTHH:MM:SS[.ffffff]"
		          "[+HH:MM]\" in range"
		    : tag == VALUE_TAG_DATE
		        ? "$date needs \"YYYY-MM-DD\" in range"
		        : "$time needs \"HH:MM:SS[.ffffff][+HH:MM]\" in range";
		return s && value_dt_parse(s, n,
		                tag == VALUE_TAG_DATETIME ? VALUE_DT_DATETIME
		                : tag == VALUE_TAG_DATE   ? VALUE_DT_DATE
		                                          : VALUE_DT_TIME,
		                &t) == 0
		           ? 0
		           : -EINVAL;
	case VALUE_TAG_TIMEZONE:
		*why = "$timezone needs a UTC offset \"+HH:MM\" within a day";
		return s && value_offset_parse(s, n, &off) == 0 ? 0 : -EINVAL;
	case VALUE_TAG_DECIMAL:
		*why = "$decimal needs a Decimal's text as str() writes it, "
		       "with an exponent Python's Decimal() accepts";
		return s && value_decimal_text(s, n) == 1 ? 0 : -EINVAL;
	case VALUE_TAG_UUID:
		*why = "$uuid needs 32 hex digits as str(uuid) writes them";
		return s && value_uuid_parse(s, n, u) == 0 ? 0 : -EINVAL;
	case VALUE_TAG_TIMEDELTA:
		*why = "$timedelta needs integer \"days\", \"seconds\" and "
		       "\"microseconds\"";
		return json_is_object(pl) && json_object_size(pl) == 3 &&
		               json_is_integer(json_object_get(pl, "days")) &&
		               json_is_integer(
		                   json_object_get(pl, "seconds")) &&
		               json_is_integer(
		                   json_object_get(pl, "microseconds"))
		           ? 0
		           : -EINVAL;
	case VALUE_TAG_PDTIMESTAMP:
		*why = "$pdtimestamp needs \"NaT\" or "
		       "\"YYYY-MM-DDTHH:MM:SS[.fffffffff][+HH:MM]\" in range";
		return s && (strcmp(s, "NaT") == 0 ||
		                value_dt_parse(s, n, VALUE_DT_TIMESTAMP, &t) ==
		                    0)
		           ? 0
		           : -EINVAL;
	case VALUE_TAG_PDTIMEDELTA:
		*why = "$pdtimedelta needs integer \"days\", \"seconds\" and "
		       "\"nanoseconds\"";
		return json_is_object(pl) && json_object_size(pl) == 3 &&
		               json_is_integer(json_object_get(pl, "days")) &&
		               json_is_integer(
		                   json_object_get(pl, "seconds")) &&
		               json_is_integer(
		                   json_object_get(pl, "nanoseconds"))
		           ? 0
		           : -EINVAL;
	case VALUE_TAG_COMPLEX:
		*why = "$complex needs [real, imaginary]";
		return json_is_array(pl) && json_array_size(pl) == 2 ? 0
		                                                     : -EINVAL;
	case VALUE_TAG_ODICT:
	case VALUE_TAG_COUNTER:
		*why = "$odict and $counter need a dict";
		return json_is_object(pl) ? 0 : -EINVAL;
	case VALUE_TAG_DEFAULTDICT:
		*why = "$defaultdict needs [factory, dict]";
		f = json_array_get(pl, 0);
		return json_array_size(pl) == 2 &&
		               (json_is_null(f) || json_is_string(f)) &&
		               json_is_object(json_array_get(pl, 1))
		           ? 0
		           : -EINVAL;
	case VALUE_TAG_DEQUE:
		*why = "$deque needs an array, or \"maxlen\" and \"items\"";
		return json_is_array(pl) ||
		               (json_is_object(pl) &&
		                   json_is_array(json_object_get(pl, "items")))
		           ? 0
		           : -EINVAL;
	default: /* $ndarray, $npscalar */
		*why = "$ndarray and $npscalar need an object with \"dtype\"";
		return json_is_object(pl) &&
		               json_is_string(json_object_get(pl, "dtype"))
		           ? 0
		           : -EINVAL;
	}
}

/* Check the tag of o (a one-member object named "$...") and put what it
 * stands for in *out: o itself, or a plain value for a $int that fits. */
static int
value_tree_check_tag(json_t *o, int depth, json_t **out, const char **why)
{
	json_t *pl, *kv;
	unsigned char *b;
	size_t n;
	int rc;

	*out = o;
	switch (value_tag(o, &pl)) {
	case VALUE_TAG_NONE:
		return 0;
	case VALUE_TAG_UNKNOWN:
		*why = "unknown tag (a dict with one member named \"$...\" is "
		       "written {\"$dict\": [[name, value]]})";
		return -EINVAL;
	case VALUE_TAG_BYTES:
	case VALUE_TAG_BYTEARRAY:
		if ((rc = value_b64_decode(pl, &b, &n)) == -ENOMEM)
			return rc;
		if (rc < 0) {
			*why = "$bytes needs a base64 string";
			return -EINVAL;
		}
		free(b);
		return 0;
	case VALUE_TAG_TUPLE:
	case VALUE_TAG_SET:
	case VALUE_TAG_FROZENSET:
		if (!json_is_array(pl)) {
			*why = "$tuple, $set and $frozenset need an array";
			return -EINVAL;
		}
		return 0;
	case VALUE_TAG_INT: {
		const char *s = json_string_value(pl);
		size_t len = json_string_length(pl), i = s && s[0] == '-';

		if (s == NULL || len == i || len - i > 100000 ||
		    strspn(s + i, "0123456789") != len - i) {
			*why = "$int needs a string of decimal digits";
			return -EINVAL;
		}
		if ((*out = value_int_text(s, len)) == NULL)
			return -ENOMEM;
		json_decref(o);
		return 0;
	}
	case VALUE_TAG_FLOAT: {
		const char *s = json_string_value(pl);

		if (s == NULL || (strcmp(s, "nan") && strcmp(s, "inf") &&
		                     strcmp(s, "-inf"))) {
			*why = "$float needs \"nan\", \"inf\" or \"-inf\"";
			return -EINVAL;
		}
		return 0;
	}
	case VALUE_TAG_DICT:
		*why = "$dict needs an array of [key, value]";
		if (!json_is_array(pl))
			return -EINVAL;
		for (size_t i = 0; i < json_array_size(pl); i++) {
			kv = json_array_get(pl, i);
			if (!json_is_array(kv) || json_array_size(kv) != 2)
				return -EINVAL;
		}
		return 0;
	case VALUE_TAG_UNDECODABLE:
		if (!json_is_object(pl) ||
		    !json_is_string(json_object_get(pl, "serializer")) ||
		    (rc = value_b64_decode(
		         json_object_get(pl, "bytes"), &b, &n)) == -EINVAL) {
			*why = "$undecodable needs \"serializer\" and base64 "
			       "\"bytes\"";
			return -EINVAL;
		}
		if (rc < 0)
			return rc;
		free(b);
		if (depth > 1) {
			*why = "$undecodable stands for a whole value, not a "
			       "part";
			return -EINVAL;
		}
		return 0;
	default: /* Python's everyday types */
		return value_check_object_tag(value_tag(o, NULL), pl, why);
	}
}

int
value_tree_object_done(json_t **o, int mode, int depth, const char **why)
{
	json_t *w, *pair, *list;
	void *it;
	int rc;

	if (value_tag(*o, NULL) == VALUE_TAG_NONE)
		return 0;
	if (!(mode & VALUE_PARSE_DATA)) {
		if ((rc = value_tree_check_tag(*o, depth, &w, why)) < 0)
			return rc;
		*o = w; /* the check dropped *o if it made w anew */
		return 0;
	}
	/* A real dict that looks like a tag. */
	it = json_object_iter(*o);
	pair = json_array();
	list = json_array();
	w = value_tagged("$dict", list);
	if (pair == NULL || w == NULL ||
	    json_array_append_new(
	        pair, json_stringn_nocheck(json_object_iter_key(it),
	                  json_object_iter_key_len(it))) < 0 ||
	    json_array_append(pair, json_object_iter_value(it)) < 0) {
		json_decref(pair);
		json_decref(w);
		return -ENOMEM;
	}
	if (json_array_append_new(list, pair) < 0) {
		json_decref(w);
		return -ENOMEM;
	}
	json_decref(*o);
	*o = w;
	return 0;
}
