/*
 * numpy's arrays and scalars in a pickle, read as data: protocol 5
 * writes an array as numpy.core.numeric._frombuffer(buffer, dtype, shape,
 * order), older protocols as numpy.core.multiarray._reconstruct(ndarray,
 * (0,), b'b') and a BUILD of (1, shape, dtype, is_fortran, data); a
 * scalar is numpy.core.multiarray.scalar(dtype, data); a dtype is
 * numpy.dtype(name, False, True) and a BUILD of (3, byte order, None,
 * None, None, item size, alignment, flags).  numpy 2 names its core
 * numpy._core.  Only plain dtypes are read: booleans, integers, floats and
 * complex numbers of the usual sizes, and fixed-size str and bytes; an
 * object dtype, a structured or datetime64 one is not decodable.  The
 * data must be exactly what the shape and the dtype ask for.
 *
 * An array is shown as {"$ndarray": {"dtype": "<f8", "shape": [2, 3],
 * "data": [[...], [...]]}} (and "order": "F" for one in Fortran order),
 * its data nested as the shape says, in index order; a scalar as
 * {"$npscalar": {"dtype": "<i8", "value": 7}}.
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

/* numpy's NPY_MAXDIMS of numpy 1 */
#define PK_NP_MAX_DIMS 32

static int
pk_np_refuse(struct pk_dec *d, const char *name, size_t at, const char *why)
{
	return pk_fail(d,
	    "opcode REDUCE (R) at offset %zu would call %s with other "
	    "arguments than a pickle of a plain array has (%s)",
	    at, name, why);
}

/* The type char and item size of a dtype name ("f8", "U3"), or 0. */
int
pk_np_name(const char *s, size_t n, int *type, int64_t *size)
{
	int64_t v = 0;

	if (n < 2 || n > 12 || strchr("biufcUS", s[0]) == NULL)
		return 0;
	for (size_t i = 1; i < n; i++) {
		/* "S0" and "U0" are the dtypes of an empty scalar */
		if (s[i] < '0' || s[i] > '9' ||
		    (i == 1 && s[i] == '0' && n > 2))
			return 0;
		v = v * 10 + (s[i] - '0');
	}
	*type = s[0];
	switch (s[0]) {
	case 'b':
		*size = 1;
		return v == 1;
	case 'i':
	case 'u':
		*size = v;
		return v == 1 || v == 2 || v == 4 || v == 8;
	case 'f':
		*size = v;
		return v == 2 || v == 4 || v == 8;
	case 'c':
		*size = v;
		return v == 8 || v == 16;
	case 'U':
		*size = 4 * v;
		return v <= 1 << 24;
	default: /* S */
		*size = v;
		return v <= 1 << 26;
	}
}

/* The nodes of the tuple id, or NULL when id is no tuple of n. */
static const size_t *
pk_np_tuple(const struct pk_dec *d, size_t id, size_t n)
{
	const struct pk_node *t = &d->nodes[id];

	if (t->type != PK_TUPLE || t->u.items.n != n)
		return NULL;
	return n ? t->u.items.v : (const size_t *)"";
}

/* Whether id is a plain dtype made whole by its BUILD. */
static int
pk_np_is_dtype(struct pk_dec *d, size_t id)
{
	return d->nodes[id].type == PK_OBJ &&
	       pk_obj_of(d, id)->kind == PK_O_DTYPE;
}

/* The shape tuple id: its dimensions multiplied with the item size into
 * *bytes; 0, or -1 when it is not a tuple of ints or too big (numpy's
 * rule, pk_np_size_add()). */
static int
pk_np_shape(
    const struct pk_dec *d, size_t id, int64_t itemsize, uint64_t *bytes)
{
	const struct pk_node *t = &d->nodes[id];
	uint64_t total = (uint64_t)itemsize, span = total;

	if (t->type != PK_TUPLE || t->u.items.n > PK_NP_MAX_DIMS)
		return -1;
	for (size_t i = 0; i < t->u.items.n; i++) {
		const struct pk_node *n = &d->nodes[t->u.items.v[i]];

		if (n->type != PK_INT || n->u.i < 0 ||
		    pk_np_size_add(&total, &span, (uint64_t)n->u.i) < 0)
			return -1;
	}
	*bytes = total;
	return 0;
}

/* A new array of data (bytes or bytearray), dtype and shape, or refused
 * when the data is not exactly what they ask for. */
static int
pk_np_array(struct pk_dec *d, struct pk_obj *o, size_t data, size_t dtype,
    size_t shape, int fortran, const char *name, size_t at)
{
	uint64_t want;

	/* numpy makes no array of items of 0 bytes ("S0" is a scalar's),
	 * and any shape of them would fit in no data */
	if (!pk_np_is_dtype(d, dtype) || pk_obj_of(d, dtype)->v[2] == 0)
		return pk_np_refuse(d, name, at, "its dtype");
	if (pk_np_shape(d, shape, pk_obj_of(d, dtype)->v[2], &want) < 0)
		return pk_np_refuse(d, name, at, "its shape");
	if ((d->nodes[data].type != PK_BYTES &&
	        d->nodes[data].type != PK_BYTEARRAY) ||
	    d->nodes[data].u.str.len != want)
		return pk_fail(d,
		    "the numpy array at offset %zu has %zu bytes of data where "
		    "its shape and dtype ask for %" PRIu64,
		    at,
		    d->nodes[data].type == PK_BYTES ||
		            d->nodes[data].type == PK_BYTEARRAY
		        ? d->nodes[data].u.str.len
		        : 0,
		    want);
	o->kind = PK_O_ARRAY;
	o->n[0] = data;
	o->n[1] = dtype;
	o->n[2] = shape;
	o->v[0] = fortran;
	o->v[1] = 0;
	return 0;
}

int
pk_numpy_reduce(struct pk_dec *d, unsigned ctor_kind, const char *name,
    const size_t *arg, size_t nargs, size_t at)
{
	const struct pk_node *s;
	const size_t *t;
	struct pk_obj *o;
	int64_t size;
	int type, rc;

	switch (ctor_kind) {
	case PK_CTOR_DTYPE:
		if (nargs != 3 || d->nodes[arg[0]].type != PK_STR ||
		    arg[1] != PK_ID_FALSE || arg[2] != PK_ID_TRUE)
			return pk_np_refuse(d, name, at, "its arguments");
		s = &d->nodes[arg[0]];
		if (!pk_np_name(s->u.str.s, s->u.str.len, &type, &size))
			return pk_fail(d,
			    "the numpy dtype at offset %zu is not a plain one "
			    "(a bool, int, uint, float, complex, str or bytes)",
			    at);
		if ((rc = pk_obj_push(d, PK_O_DTYPE_NEW, &o)) != 0)
			return rc;
		o->v[1] = type;
		o->v[2] = size;
		o->n[0] = arg[0];
		return 0;
	case PK_CTOR_FROMBUFFER:
		if (nargs != 4 || d->nodes[arg[3]].type != PK_STR ||
		    d->nodes[arg[3]].u.str.len != 1 ||
		    (d->nodes[arg[3]].u.str.s[0] != 'C' &&
		        d->nodes[arg[3]].u.str.s[0] != 'F'))
			return pk_np_refuse(d, name, at, "its arguments");
		if ((rc = pk_obj_push(d, PK_O_ARRAY_NEW, &o)) != 0)
			return rc;
		return pk_np_array(d, o, arg[0], arg[1], arg[2],
		    d->nodes[arg[3]].u.str.s[0] == 'F', name, at);
	case PK_CTOR_RECONSTRUCT:
		/* _reconstruct(ndarray, (0,), b'b'): an empty array whose
		 * state BUILD gives */
		if (nargs != 3 ||
		    pk_global_kind(d, arg[0]) != PK_CTOR_NDARRAY ||
		    (t = pk_np_tuple(d, arg[1], 1)) == NULL ||
		    d->nodes[t[0]].type != PK_INT || d->nodes[t[0]].u.i != 0 ||
		    d->nodes[arg[2]].type != PK_BYTES ||
		    d->nodes[arg[2]].u.str.len != 1 ||
		    d->nodes[arg[2]].u.str.s[0] != 'b')
			return pk_np_refuse(d, name, at, "its arguments");
		d->nodes[arg[0]].called = 1;
		return pk_obj_push(d, PK_O_ARRAY_NEW, &o);
	case PK_CTOR_SCALAR:
		if (nargs != 2 || !pk_np_is_dtype(d, arg[0]) ||
		    d->nodes[arg[1]].type != PK_BYTES ||
		    (int64_t)d->nodes[arg[1]].u.str.len !=
		        pk_obj_of(d, arg[0])->v[2])
			return pk_np_refuse(d, name, at, "its arguments");
		if ((rc = pk_obj_push(d, PK_O_SCALAR, &o)) != 0)
			return rc;
		o->n[0] = arg[0];
		o->n[1] = arg[1];
		return 0;
	default:
		return pk_np_refuse(d, name, at, "it is not called");
	}
}

/* The BUILD of a dtype: (3, order, None, None, None, elsize, alignment,
 * flags) as numpy writes it for a plain type. */
static int
pk_np_build_dtype(struct pk_dec *d, struct pk_obj *o, size_t state, size_t at)
{
	const size_t *t = pk_np_tuple(d, state, 8);
	int64_t want[3] = {-1, -1, 0};
	const char *bo;
	int one = o->v[1] == 'S' || o->v[2] == 1;

	if (o->v[1] == 'S')
		want[0] = o->v[2], want[1] = 1;
	else if (o->v[1] == 'U')
		want[0] = o->v[2], want[1] = 4, want[2] = 8;
	if (t == NULL || d->nodes[t[0]].type != PK_INT ||
	    d->nodes[t[0]].u.i != 3 || d->nodes[t[1]].type != PK_STR ||
	    d->nodes[t[1]].u.str.len != 1 || t[2] != PK_ID_NONE ||
	    t[3] != PK_ID_NONE || t[4] != PK_ID_NONE)
		goto bad;
	bo = d->nodes[t[1]].u.str.s;
	if (one ? bo[0] != '|' : bo[0] != '<' && bo[0] != '>')
		goto bad;
	for (int i = 0; i < 3; i++)
		if (d->nodes[t[5 + i]].type != PK_INT ||
		    d->nodes[t[5 + i]].u.i != want[i])
			goto bad;
	o->v[0] = bo[0];
	o->kind = PK_O_DTYPE;
	return 0;
bad:
	return pk_fail(d,
	    "opcode BUILD (b) at offset %zu would give a numpy dtype another "
	    "state than a plain one has",
	    at);
}

int
pk_numpy_build(struct pk_dec *d, size_t id, size_t state, size_t at)
{
	struct pk_obj *o = pk_obj_of(d, id);
	const size_t *t;
	int rc;

	if (o->kind == PK_O_DTYPE_NEW)
		return pk_np_build_dtype(d, o, state, at);
	/* an array of _reconstruct: (1, shape, dtype, is_fortran, data) */
	if ((t = pk_np_tuple(d, state, 5)) == NULL ||
	    d->nodes[t[0]].type != PK_INT || d->nodes[t[0]].u.i != 1 ||
	    d->nodes[t[3]].type != PK_BOOL)
		return pk_fail(d,
		    "opcode BUILD (b) at offset %zu would give a numpy array "
		    "another state than a plain one has",
		    at);
	if ((rc = pk_np_array(d, o, t[4], t[2], t[1], t[3] == PK_ID_TRUE,
	         "numpy.core.multiarray._reconstruct", at)) != 0)
		return rc;
	/* numpy's __setstate__ swaps data of the other byte order into its
	 * own: such an array is shown as the little-endian one it loads as
	 * on the machines numpy runs on */
	o->v[1] = pk_obj_of(d, t[2])->v[0] == '>';
	return 0;
}

/* JSON levels an element of dtype may take (a tagged float, a $complex
 * of tagged floats ...). */
static int
pk_np_elem_levels(const struct pk_obj *dt)
{
	switch (dt->v[1]) {
	case 'c':
		return 3;
	case 'f':
	case 'S':
	case 'u':
		return 1;
	default:
		return 0;
	}
}

int
pk_numpy_levels(const struct pk_dec *d, const struct pk_obj *o)
{
	const struct pk_obj *dt =
	    &d->objs[d->nodes[o->n[o->kind == PK_O_SCALAR ? 0 : 1]].obj];

	if (o->kind == PK_O_SCALAR)
		return 2 + pk_np_elem_levels(dt);
	return 2 + (int)d->nodes[o->n[2]].u.items.n + pk_np_elem_levels(dt);
}

/* The unsigned integer of size bytes at p, in byte order bo. */
static uint64_t
pk_np_uint(const unsigned char *p, int64_t size, int bo)
{
	uint64_t v = 0;

	for (int64_t i = 0; i < size; i++)
		v |= (uint64_t)p[bo == '>' ? size - 1 - i : i] << (8 * i);
	return v;
}

/* An IEEE half as a double: exact. */
static double
pk_np_half(uint16_t h)
{
	int e = h >> 10 & 0x1f;
	uint64_t bits;
	double v;

	if (e == 0)
		v = (double)(h & 0x3ff) * 5.9604644775390625e-08; /* 2^-24 */
	else if (e == 31)
		v = h & 0x3ff ? NAN : INFINITY;
	else {
		bits = (uint64_t)(e - 15 + 1023) << 52 | (uint64_t)(h & 0x3ff)
		                                             << 42;
		memcpy(&v, &bits, sizeof v);
	}
	return h & 0x8000 ? -v : v;
}

static double
pk_np_float(const unsigned char *p, int64_t size, int bo)
{
	uint64_t u = pk_np_uint(p, size, bo);
	float f;
	double v;

	if (size == 2)
		return pk_np_half((uint16_t)u);
	if (size == 4) {
		uint32_t w = (uint32_t)u;

		memcpy(&f, &w, sizeof f);
		return f;
	}
	memcpy(&v, &u, sizeof v);
	return v;
}

/* One element of dtype dt at p as JSON; NULL with *bad set for bytes
 * numpy would not read so. */
static json_t *
pk_np_elem(const struct pk_obj *dt, const unsigned char *p, const char **bad)
{
	int64_t size = dt->v[2];
	int bo = (int)dt->v[0];
	uint64_t u;
	json_t *a;
	size_t n;

	switch (dt->v[1]) {
	case 'b':
		if (p[0] > 1) {
			*bad = "a bool that is neither 0 nor 1";
			return NULL;
		}
		return json_boolean(p[0]);
	case 'i':
		u = pk_np_uint(p, size, bo);
		if (size < 8 && (u >> (8 * size - 1)) & 1)
			u |= UINT64_MAX << (8 * size);
		return json_integer((json_int_t)(int64_t)u);
	case 'u':
		return value_uint(pk_np_uint(p, size, bo));
	case 'f':
		return value_real(pk_np_float(p, size, bo));
	case 'c':
		a = json_array();
		if (a != NULL &&
		    (json_array_append_new(
		         a, value_real(pk_np_float(p, size / 2, bo))) < 0 ||
		        json_array_append_new(
		            a, value_real(pk_np_float(
		                   p + size / 2, size / 2, bo))) < 0)) {
			json_decref(a);
			return NULL;
		}
		/* the real part comes first in either byte order */
		return value_tagged("$complex", a);
	case 'S':
		for (n = (size_t)size; n > 0 && p[n - 1] == 0; n--)
			;
		return value_tagged("$bytes", value_b64_string(p, n));
	default: { /* U: UTF-32 code points, trailing NULs dropped */
		size_t cps = (size_t)size / 4, o = 0;
		char *s;

		while (cps > 0 && pk_np_uint(p + 4 * (cps - 1), 4, bo) == 0)
			cps--;
		if ((s = malloc(cps * 4 + 1)) == NULL)
			return NULL;
		for (size_t i = 0; i < cps; i++) {
			uint32_t c = (uint32_t)pk_np_uint(p + 4 * i, 4, bo);

			if (c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
				free(s);
				*bad = "a str of a code point Unicode has not";
				return NULL;
			}
			if (c < 0x80)
				s[o++] = (char)c;
			else if (c < 0x800) {
				s[o++] = (char)(0xc0 | c >> 6);
				s[o++] = (char)(0x80 | (c & 0x3f));
			} else if (c < 0x10000) {
				s[o++] = (char)(0xe0 | c >> 12);
				s[o++] = (char)(0x80 | (c >> 6 & 0x3f));
				s[o++] = (char)(0x80 | (c & 0x3f));
			} else {
				s[o++] = (char)(0xf0 | c >> 18);
				s[o++] = (char)(0x80 | (c >> 12 & 0x3f));
				s[o++] = (char)(0x80 | (c >> 6 & 0x3f));
				s[o++] = (char)(0x80 | (c & 0x3f));
			}
		}
		a = json_stringn_nocheck(s, o);
		free(s);
		return a;
	}
	}
}

struct pk_np_walk {
	struct pk_dec *d;
	const struct pk_obj *dt;
	const unsigned char *data;
	const struct pk_node *shape;
	uint64_t stride[PK_NP_MAX_DIMS]; /* elements per step of each dim */
	const char *bad;
};

/* The nested arrays of dimension dim on, from element offset off. */
static int
pk_np_nest(struct pk_np_walk *w, size_t dim, uint64_t off, json_t **out)
{
	size_t ndim = w->shape->u.items.n;
	int64_t n;
	json_t *a, *j;
	int rc;

	if ((rc = pk_weigh(w->d, 0)) != 0)
		return rc;
	if (dim == ndim) {
		*out = pk_np_elem(
		    w->dt, w->data + off * (uint64_t)w->dt->v[2], &w->bad);
		if (*out == NULL && w->bad != NULL)
			return pk_fail(w->d, "a numpy array holds %s", w->bad);
		return *out ? 0 : -ENOMEM;
	}
	n = w->d->nodes[w->shape->u.items.v[dim]].u.i;
	if ((a = json_array()) == NULL)
		return -ENOMEM;
	for (int64_t i = 0; i < n; i++) {
		if ((rc = pk_np_nest(w, dim + 1,
		         off + (uint64_t)i * w->stride[dim], &j)) != 0) {
			json_decref(a);
			return rc;
		}
		if (json_array_append_new(a, j) < 0) {
			json_decref(a);
			return -ENOMEM;
		}
	}
	*out = a;
	return 0;
}

/* The dtype's text, as numpy's dtype.str: "<f8", "|b1" ...; bo is its
 * byte order as shown. */
static json_t *
pk_np_dtype_json(const struct pk_dec *d, const struct pk_obj *dt, int bo)
{
	const struct pk_node *name = &d->nodes[dt->n[0]];
	char buf[16];

	snprintf(
	    buf, sizeof buf, "%c%.*s", bo, (int)name->u.str.len, name->u.str.s);
	return json_string(buf);
}

int
pk_numpy_json(struct pk_dec *d, const struct pk_obj *o, int depth, json_t **out)
{
	struct pk_np_walk w = {.d = d};
	json_t *data = NULL, *shape, *p;
	size_t ndim;
	int rc;

	(void)depth; /* pk_json checked pk_numpy_levels() */
	*out = NULL;
	if (o->kind == PK_O_SCALAR) {
		w.dt = pk_obj_of(d, o->n[0]);
		data = pk_np_elem(w.dt,
		    (const unsigned char *)d->nodes[o->n[1]].u.str.s, &w.bad);
		if (data == NULL)
			return w.bad ? pk_fail(d, "a numpy scalar is %s", w.bad)
			             : -ENOMEM;
		p = json_pack("{sosO}", "dtype",
		    pk_np_dtype_json(d, w.dt, (int)w.dt->v[0]), "value", data);
		json_decref(data);
		*out = value_tagged("$npscalar", p);
		return *out ? 0 : -ENOMEM;
	}
	w.dt = pk_obj_of(d, o->n[1]);
	w.data = (const unsigned char *)d->nodes[o->n[0]].u.str.s;
	w.shape = &d->nodes[o->n[2]];
	ndim = w.shape->u.items.n;
	/* element strides of index order, over C or Fortran order data */
	for (size_t i = 0; i < ndim; i++) {
		uint64_t s = 1;

		for (size_t k = 0; k < ndim; k++)
			if (o->v[0] ? k < i : k > i)
				s *= (uint64_t)d->nodes[w.shape->u.items.v[k]]
				         .u.i;
		w.stride[i] = s;
	}
	if ((rc = pk_np_nest(&w, 0, 0, &data)) != 0)
		return rc;
	if ((shape = json_array()) == NULL) {
		json_decref(data);
		return -ENOMEM;
	}
	for (size_t i = 0; i < ndim; i++)
		if (json_array_append_new(shape,
		        json_integer(d->nodes[w.shape->u.items.v[i]].u.i)) <
		    0) {
			json_decref(shape);
			json_decref(data);
			return -ENOMEM;
		}
	p = json_pack("{sososo}", "dtype",
	    pk_np_dtype_json(d, w.dt, o->v[1] ? '<' : (int)w.dt->v[0]), "shape",
	    shape, "data", data);
	if (p != NULL && o->v[0] &&
	    json_object_set_new(p, "order", json_string("F")) < 0) {
		json_decref(p);
		p = NULL;
	}
	*out = value_tagged("$ndarray", p);
	return *out ? 0 : -ENOMEM;
}
