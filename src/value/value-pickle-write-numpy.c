/*
 * The encoder's half of numpy's arrays and scalars: {"$ndarray": {"dtype",
 * "shape", "data"[, "order"]}} as numpy.core.numeric._frombuffer(data,
 * dtype, shape, order) with the data in-band, as numpy pickles an array
 * with protocol 5, and {"$npscalar": {"dtype", "value"}} as
 * numpy.core.multiarray.scalar(dtype, bytes).  Both numpy 1 and numpy 2
 * read these names.  The data is checked against the shape, and each
 * element against the dtype (its range, its length), with the path of
 * the one that does not fit.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "booklet.h"
#include "bltvalue.h"
#include "value-int.h"
#include "value-pickle.h"

#define PK_NP_DIMS 32

struct pk_np_type {
	int bo, type; /* '<', '>' or '|'; 'b', 'i', 'u', 'f', 'c', 'U', 'S' */
	int64_t size;
	char text[16]; /* "<f8" */
};

/* A dtype's text as numpy's dtype.str writes it: "<f8", "|S3" ... */
static int
pk_np_type(struct pk_enc *e, const json_t *v, struct pk_np_type *t)
{
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	int one;

	if (s == NULL || n < 3 || n >= sizeof t->text ||
	    !pk_np_name(s + 1, n - 1, &t->type, &t->size))
		goto bad;
	one = t->type == 'S' || t->size == 1;
	t->bo = s[0];
	if (one ? t->bo != '|' : t->bo != '<' && t->bo != '>')
		goto bad;
	memcpy(t->text, s, n + 1);
	return 0;
bad:
	return pk_enc_err(e,
	    "\"dtype\" is a plain numpy dtype as dtype.str writes it (\"<f8\", "
	    "\"<i4\", \"|b1\", \"<U3\", \"|S3\" ...)");
}

/* The dtype: numpy.dtype(name, False, True) and its BUILD, or a GET of
 * the same dtype written before (numpy shares its dtypes). */
static int
pk_np_enc_dtype(struct pk_enc *e, const struct pk_np_type *t)
{
	int64_t st[3] = {-1, -1, 0};
	size_t slot = PK_ENC_DTYPES;
	int rc;

	for (size_t i = 0; i < PK_ENC_DTYPES; i++) {
		if (e->dtype_memo[i] && strcmp(e->dtype_name[i], t->text) == 0)
			return pk_memo_ref(e, e->dtype_memo[i] - 1);
		if (!e->dtype_memo[i] && slot == PK_ENC_DTYPES)
			slot = i;
	}
	if (t->type == 'S')
		st[0] = t->size, st[1] = 1;
	else if (t->type == 'U')
		st[0] = t->size, st[1] = 4, st[2] = 8;
	if ((rc = pk_enc_global(e, PK_G_DTYPE)) ||
	    (rc = pk_enc_str(e, t->text + 1, strlen(t->text + 1))) ||
	    (rc = pk_op(e, 0x89)) || (rc = pk_op(e, 0x88)) ||
	    (rc = pk_enc_tuple(e, 3)) || (rc = pk_enc_reduce(e)))
		return rc;
	if (slot < PK_ENC_DTYPES) {
		e->dtype_memo[slot] = e->memo;
		memcpy(e->dtype_name[slot], t->text, sizeof e->dtype_name[0]);
	}
	if ((rc = pk_op(e, '(')) || (rc = pk_enc_int(e, 3)) ||
	    (rc = pk_enc_str(e, t->text, 1)) || (rc = pk_op(e, 'N')) ||
	    (rc = pk_op(e, 'N')) || (rc = pk_op(e, 'N')))
		return rc;
	for (int i = 0; i < 3; i++)
		if ((rc = pk_enc_int(e, st[i])) != 0)
			return rc;
	if ((rc = pk_op(e, 't')) || (rc = pk_memoize(e)))
		return rc;
	return pk_op(e, 'b');
}

/* Put the unsigned v in size bytes at p in byte order bo. */
static void
pk_np_put(unsigned char *p, uint64_t v, int64_t size, int bo)
{
	for (int64_t i = 0; i < size; i++)
		p[bo == '>' ? size - 1 - i : i] = (unsigned char)(v >> (8 * i));
}

/* A double as an IEEE half, rounded to nearest even as numpy does. */
static uint16_t
pk_np_to_half(double v)
{
	uint64_t b, m, rem, half;
	uint32_t r;
	uint16_t sign;
	int e, he, shift;

	memcpy(&b, &v, sizeof b);
	sign = (uint16_t)(b >> 48 & 0x8000);
	e = (int)(b >> 52 & 0x7ff);
	m = b & (((uint64_t)1 << 52) - 1);
	if (e == 0x7ff)
		return (uint16_t)(sign | 0x7c00 | (m ? 0x200 : 0));
	he = e - 1023 + 15;
	if (he >= 31)
		return sign | 0x7c00;
	if (he <= 0) {
		if (he < -10)
			return sign;
		m |= (uint64_t)1 << 52;
		shift = 43 - he;
		r = (uint32_t)(m >> shift);
	} else {
		shift = 42;
		r = (uint32_t)he << 10 | (uint32_t)(m >> shift);
	}
	rem = m & (((uint64_t)1 << shift) - 1);
	half = (uint64_t)1 << (shift - 1);
	if (rem > half || (rem == half && (r & 1)))
		r++;
	return (uint16_t)(sign | r);
}

/* A float of size bytes at p. */
static void
pk_np_put_float(unsigned char *p, double v, int64_t size, int bo)
{
	uint64_t u;
	float f;
	uint32_t w;

	if (size == 2)
		u = pk_np_to_half(v);
	else if (size == 4) {
		f = (float)v;
		memcpy(&w, &f, sizeof w);
		u = w;
	} else
		memcpy(&u, &v, sizeof u);
	pk_np_put(p, u, size, bo);
}

/* A JSON number or a $float tag as a double: 0 or -1. */
static int
pk_np_real(const json_t *v, double *d)
{
	json_t *pl;
	const char *s;

	if (json_is_number(v)) {
		*d = json_number_value(v);
		return 0;
	}
	if (value_tag(v, &pl) != VALUE_TAG_FLOAT ||
	    (s = json_string_value(pl)) == NULL)
		return -1;
	*d = strcmp(s, "nan") == 0 ? NAN : s[0] == '-' ? -INFINITY : INFINITY;
	return 0;
}

/* A str of UTF-8 as UTF-32 code points in the n bytes at p (zero
 * padded): 0, or -1 when it is longer or holds a surrogate. */
static int
pk_np_put_str(unsigned char *p, const json_t *v, int64_t size, int bo)
{
	const unsigned char *s = (const unsigned char *)json_string_value(v);
	size_t n = json_string_length(v), i = 0;
	int64_t o = 0;

	while (i < n) {
		uint32_t c = s[i];
		int k = c < 0x80 ? 0 : c < 0xe0 ? 1 : c < 0xf0 ? 2 : 3;

		if ((size_t)k >= n - i)
			return -1;
		if (k > 0)
			c &= 0x3f >> k;
		for (int j = 1; j <= k; j++)
			c = c << 6 | (s[i + (size_t)j] & 0x3f);
		i += (size_t)k + 1;
		if ((c >= 0xd800 && c <= 0xdfff) || o + 4 > size)
			return -1;
		pk_np_put(p + o, c, 4, bo);
		o += 4;
	}
	return 0;
}

/* One element v of type t at p: 0, or an error saying what it needs. */
static int
pk_np_elem(struct pk_enc *e, const struct pk_np_type *t, const json_t *v,
    unsigned char *p)
{
	json_t *pl;
	unsigned char *b;
	size_t n;
	double re, im;
	int64_t i;
	int rc;

	switch (t->type) {
	case 'b':
		if (!json_is_boolean(v))
			return pk_enc_err(
			    e, "a %s element is true or false", t->text);
		*p = json_is_true(v);
		return 0;
	case 'i':
	case 'u':
		if (t->type == 'u' && t->size == 8 &&
		    value_tag(v, &pl) == VALUE_TAG_INT) {
			const char *s = json_string_value(pl);
			uint64_t u = 0;

			for (size_t k = 0; s && s[k]; k++) {
				if (s[k] < '0' || s[k] > '9' ||
				    u > (UINT64_MAX - (uint64_t)(s[k] - '0')) /
				            10)
					goto range;
				u = u * 10 + (uint64_t)(s[k] - '0');
			}
			pk_np_put(p, u, 8, t->bo);
			return 0;
		}
		if (!json_is_integer(v))
			goto range;
		i = json_integer_value(v);
		if (t->type == 'u'
		        ? i < 0 ||
		              (t->size < 8 && (uint64_t)i >> (8 * t->size) != 0)
		        : t->size < 8 &&
		              (i < -((int64_t)1 << (8 * t->size - 1)) ||
		                  i >= (int64_t)1 << (8 * t->size - 1)))
			goto range;
		pk_np_put(p, (uint64_t)i, t->size, t->bo);
		return 0;
	case 'f':
		if (pk_np_real(v, &re) < 0)
			return pk_enc_err(
			    e, "a %s element is a number", t->text);
		pk_np_put_float(p, re, t->size, t->bo);
		return 0;
	case 'c':
		if (value_tag(v, &pl) != VALUE_TAG_COMPLEX ||
		    !json_is_array(pl) || json_array_size(pl) != 2 ||
		    pk_np_real(json_array_get(pl, 0), &re) < 0 ||
		    pk_np_real(json_array_get(pl, 1), &im) < 0)
			return pk_enc_err(e,
			    "a %s element is {\"$complex\": "
			    "[real, imaginary]}",
			    t->text);
		pk_np_put_float(p, re, t->size / 2, t->bo);
		pk_np_put_float(p + t->size / 2, im, t->size / 2, t->bo);
		return 0;
	case 'U':
		if (!json_is_string(v) ||
		    pk_np_put_str(p, v, t->size, t->bo) < 0)
			return pk_enc_err(e,
			    "a %s element is a str of at most %" PRId64
			    " characters, no surrogates",
			    t->text, t->size / 4);
		return 0;
	default: /* S */
		if (value_tag(v, &pl) != VALUE_TAG_BYTES)
			return pk_enc_err(e, "a %s element is $bytes", t->text);
		if ((rc = pk_b64_decode(e, pl, "$bytes", &b, &n)) != 0)
			return rc;
		if ((int64_t)n > t->size) {
			free(b);
			return pk_enc_err(e,
			    "a %s element holds at most %" PRId64 " bytes",
			    t->text, t->size);
		}
		memcpy(p, b, n);
		free(b);
		return 0;
	}
range:
	return pk_enc_err(
	    e, "a %s element is an integer in its range", t->text);
}

struct pk_np_fill {
	const struct pk_np_type *t;
	unsigned char *data;
	size_t ndim;
	int64_t shape[PK_NP_DIMS];
	uint64_t stride[PK_NP_DIMS]; /* elements per step of each dim */
};

/* Check that v nests as the shape says from dim on; with f->data, also
 * write its elements from element offset off. */
static int
pk_np_walk(struct pk_enc *e, struct pk_np_fill *f, const json_t *v, size_t dim,
    uint64_t off, int depth)
{
	int rc;

	if (depth > PK_MAX_DEPTH)
		return pk_enc_err(e, "nesting deeper than %d", PK_MAX_DEPTH);
	if (dim == f->ndim)
		return f->data ? pk_np_elem(e, f->t, v,
		                     f->data + off * (uint64_t)f->t->size)
		               : 0;
	if (!json_is_array(v) || (int64_t)json_array_size(v) != f->shape[dim])
		return pk_enc_err(e,
		    "\"data\" does not nest as \"shape\" says "
		    "(%" PRId64 " items at this level)",
		    f->shape[dim]);
	for (size_t i = 0; i < json_array_size(v); i++) {
		size_t old = pk_path_push(e, NULL, i);

		if ((rc = pk_np_walk(e, f, json_array_get(v, i), dim + 1,
		         off + i * f->stride[dim], depth + 1)) != 0)
			return rc;
		pk_path_pop(e, old);
	}
	return 0;
}

/* The shape (an array of ints from 0) into f, and the bytes of data it
 * asks for into *bytes, too big as numpy says (pk_np_size_add()). */
static int
pk_np_shape(struct pk_enc *e, const json_t *shape, struct pk_np_fill *f,
    int fortran, uint64_t *bytes)
{
	uint64_t total = (uint64_t)f->t->size, span = total;

	if (!json_is_array(shape) || json_array_size(shape) > PK_NP_DIMS)
		return pk_enc_err(e,
		    "\"shape\" is an array of at most %d "
		    "sizes",
		    PK_NP_DIMS);
	f->ndim = json_array_size(shape);
	for (size_t i = 0; i < f->ndim; i++) {
		const json_t *s = json_array_get(shape, i);

		if (!json_is_integer(s) || json_integer_value(s) < 0)
			return pk_enc_err(e, "\"shape\" holds sizes from 0");
		f->shape[i] = json_integer_value(s);
		if (pk_np_size_add(&total, &span, (uint64_t)f->shape[i]) < 0)
			return pk_enc_err(e,
			    "\"shape\" is too big: its sizes other than 0 "
			    "times the item size pass 2**63 - 1, which numpy "
			    "refuses");
	}
	for (size_t i = 0; i < f->ndim; i++) {
		f->stride[i] = 1;
		for (size_t k = 0; k < f->ndim; k++)
			if (fortran ? k < i : k > i)
				f->stride[i] *= (uint64_t)f->shape[k];
	}
	*bytes = total;
	return 0;
}

/* {"$ndarray": {"dtype", "shape", "data"[, "order"]}}. */
static int
pk_np_enc_array(struct pk_enc *e, const json_t *in, int depth)
{
	const json_t *order = json_object_get(in, "order");
	struct pk_np_fill f = {0};
	struct pk_np_type t;
	const char *o = order ? json_string_value(order) : "C";
	uint64_t bytes = 0;
	size_t old;
	int rc;

	if (!json_is_object(in) || json_object_size(in) != 3u + (order != NULL))
		return pk_enc_err(e, "$ndarray needs \"dtype\", \"shape\" and "
		                     "\"data\", and may have \"order\"");
	if (o == NULL || (strcmp(o, "C") != 0 && strcmp(o, "F") != 0))
		return pk_enc_err(e, "\"order\" is \"C\" or \"F\"");
	old = pk_path_push(e, "dtype", 0);
	if ((rc = pk_np_type(e, json_object_get(in, "dtype"), &t)) != 0)
		return rc;
	if (t.size == 0)
		return pk_enc_err(e, "an array's items have at least one byte "
		                     "(\"|S0\" and \"<U0\" are for $npscalar)");
	pk_path_pop(e, old);
	f.t = &t;
	old = pk_path_push(e, "shape", 0);
	if ((rc = pk_np_shape(e, json_object_get(in, "shape"), &f, o[0] == 'F',
	         &bytes)) != 0)
		return rc;
	pk_path_pop(e, old);
	/* the nesting first: the data is then as big as the text asks */
	old = pk_path_push(e, "data", 0);
	if ((rc = pk_np_walk(
	         e, &f, json_object_get(in, "data"), 0, 0, depth + 2)) != 0)
		return rc;
	if (bytes > SIZE_MAX || (f.data = calloc(1, bytes ? bytes : 1)) == NULL)
		return -ENOMEM;
	if ((rc = pk_np_walk(
	         e, &f, json_object_get(in, "data"), 0, 0, depth + 2)) != 0)
		goto out;
	pk_path_pop(e, old);
	if ((rc = pk_enc_global(e, PK_G_FROMBUFFER)) || (rc = pk_op(e, '(')) ||
	    (rc = pk_payload(e, 0x96, bytes, 8, f.data)) ||
	    (rc = pk_memoize(e)) || (rc = pk_np_enc_dtype(e, &t)))
		goto out;
	if (f.ndim > 3)
		rc = pk_op(e, '(');
	for (size_t i = 0; i < f.ndim && rc == 0; i++)
		rc = pk_enc_int(e, f.shape[i]);
	if (rc)
		goto out;
	if (f.ndim == 0)
		rc = pk_op(e, ')');
	else if (f.ndim <= 3)
		rc = pk_enc_tuple(e, (unsigned)f.ndim);
	else if ((rc = pk_op(e, 't')) == 0)
		rc = pk_memoize(e);
	if (rc || (rc = pk_enc_str(e, o, 1)) || (rc = pk_op(e, 't')) ||
	    (rc = pk_memoize(e)))
		goto out;
	rc = pk_enc_reduce(e);
out:
	free(f.data);
	return rc;
}

int
pk_enc_numpy(struct pk_enc *e, const char *tag, const json_t *in, int depth)
{
	struct pk_np_type t;
	unsigned char *buf;
	size_t old;
	int rc;

	if (strcmp(tag, "$ndarray") == 0)
		return pk_np_enc_array(e, in, depth);
	if (!json_is_object(in) || json_object_size(in) != 2 ||
	    json_object_get(in, "value") == NULL)
		return pk_enc_err(e, "$npscalar needs \"dtype\" and \"value\"");
	old = pk_path_push(e, "dtype", 0);
	if ((rc = pk_np_type(e, json_object_get(in, "dtype"), &t)) != 0)
		return rc;
	pk_path_pop(e, old);
	if ((buf = calloc(1, t.size ? (size_t)t.size : 1)) == NULL)
		return -ENOMEM;
	old = pk_path_push(e, "value", 0);
	if ((rc = pk_np_elem(e, &t, json_object_get(in, "value"), buf)) == 0) {
		pk_path_pop(e, old);
		if ((rc = pk_enc_global(e, PK_G_SCALAR)) == 0 &&
		    (rc = pk_np_enc_dtype(e, &t)) == 0 &&
		    (rc = pk_enc_bytes(e, buf, (size_t)t.size)) == 0 &&
		    (rc = pk_enc_tuple(e, 2)) == 0)
			rc = pk_enc_reduce(e);
	}
	free(buf);
	return rc;
}
