/*
 * The pickle decoder's heap (value-pickle-read.c) as the tagged tree of
 * doc/values.md: Python's equality and hash for set elements and dict keys
 * (1, 1.0 and True are one key; the first key and the last value win), and
 * the conversion, which copies what the memo shared (JSON has no
 * aliasing) and refuses cycles, nesting past PK_MAX_DEPTH and output past
 * a weight cap (memo GET bombs).
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

static int pk_uniq(struct pk_dec *d, size_t id);

static int
pk_is_num(unsigned t)
{
	return t == PK_BOOL || t == PK_INT || t == PK_BIG || t == PK_FLOAT;
}

/* Whether v is a whole number (without libm's floor()). */
static int
pk_float_is_integral(double v)
{
	if (!isfinite(v))
		return 0;
	if (v >= 4503599627370496.0 || v <= -4503599627370496.0)
		return 1; /* 2^52 and beyond: no fraction bits left */
	return v == (double)(int64_t)v;
}

static int
pk_float_is_int64(double v)
{
	return pk_float_is_integral(v) && v >= -9223372036854775808.0 &&
	       v < 9223372036854775808.0;
}

static int64_t
pk_intval(const struct pk_dec *d, size_t id)
{
	const struct pk_node *n = &d->nodes[id];

	if (id == PK_ID_TRUE)
		return 1;
	if (id == PK_ID_FALSE)
		return 0;
	return n->u.i;
}

/* The exact decimal of an integral float beyond int64. */
static void
pk_float_decimal(double v, char *buf, size_t cap)
{
	snprintf(buf, cap, "%.0f", v);
}

static int
pk_num_eq(struct pk_dec *d, size_t a, size_t b)
{
	const struct pk_node *x = &d->nodes[a], *y = &d->nodes[b];
	char buf[400];

	if (x->type == PK_FLOAT && y->type != PK_FLOAT) {
		const struct pk_node *t = x;

		x = y, y = t;
		a ^= b, b ^= a, a ^= b;
	}
	/* now only y may be a float, or both */
	if (x->type == PK_FLOAT)
		return x->u.d == y->u.d;
	if (x->type == PK_BIG) {
		if (y->type == PK_BIG)
			return x->u.str.len == y->u.str.len &&
			       memcmp(x->u.str.s, y->u.str.s, x->u.str.len) ==
			           0;
		if (y->type != PK_FLOAT || !pk_float_is_integral(y->u.d) ||
		    pk_float_is_int64(y->u.d))
			return 0;
		pk_float_decimal(y->u.d, buf, sizeof buf);
		return strlen(buf) == x->u.str.len &&
		       memcmp(buf, x->u.str.s, x->u.str.len) == 0;
	}
	if (y->type == PK_BIG)
		return 0;
	if (y->type == PK_FLOAT)
		return pk_float_is_int64(y->u.d) &&
		       (int64_t)y->u.d == pk_intval(d, a);
	return pk_intval(d, a) == pk_intval(d, b);
}

static int
pk_eq(struct pk_dec *d, size_t a, size_t b)
{
	const struct pk_node *x = &d->nodes[a], *y = &d->nodes[b];

	if (a == b)
		return 1;
	if (--d->budget < 0)
		return 0;
	if (pk_is_num(x->type) && pk_is_num(y->type))
		return pk_num_eq(d, a, b);
	if (x->type != y->type)
		return 0;
	switch (x->type) {
	case PK_OBJ:
		return pk_obj_eq(d, a, b);
	case PK_STR:
	case PK_BYTES:
		return x->u.str.len == y->u.str.len &&
		       memcmp(x->u.str.s, y->u.str.s, x->u.str.len) == 0;
	case PK_TUPLE:
		if (x->u.items.n != y->u.items.n)
			return 0;
		for (size_t i = 0; i < x->u.items.n; i++)
			if (!pk_eq(d, d->nodes[a].u.items.v[i],
			        d->nodes[b].u.items.v[i]))
				return 0;
		return 1;
	case PK_FROZENSET:
		if (x->uniq.n != y->uniq.n || x->hash != y->hash)
			return 0;
		for (size_t i = 0; i < x->uniq.n; i++) {
			size_t e = x->u.items.v[x->uniq.v[i]], j;

			for (j = 0; j < y->uniq.n; j++) {
				size_t f = d->nodes[b].u.items.v[y->uniq.v[j]];

				if (--d->budget < 0)
					return 0;
				if (d->nodes[e].hash == d->nodes[f].hash &&
				    pk_eq(d, e, f))
					break;
			}
			if (j == y->uniq.n)
				return 0;
			x = &d->nodes[a], y = &d->nodes[b];
		}
		return 1;
	default:
		return 0;
	}
}

static uint64_t
pk_mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 33);
}

static uint64_t
pk_hash_bytes(const char *s, size_t n, uint64_t salt)
{
	uint64_t h = 0xcbf29ce484222325ull ^ salt;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
	return pk_mix(h);
}

/* The hash of a converted node (so its depth and acyclicity are known),
 * consistent with pk_eq; unhashable types are refused as Python does. */
static int
pk_hash(struct pk_dec *d, size_t id)
{
	struct pk_node *n = &d->nodes[id];
	char buf[400];
	uint64_t h = 0;
	int rc;

	if (n->hashed)
		return 0;
	switch (n->type) {
	case PK_NONE:
		h = 0x6e6f6e65;
		break;
	case PK_BOOL:
	case PK_INT:
		h = pk_mix((uint64_t)pk_intval(d, id));
		break;
	case PK_FLOAT:
		if (pk_float_is_int64(n->u.d))
			h = pk_mix((uint64_t)(int64_t)n->u.d);
		else if (pk_float_is_integral(n->u.d)) {
			pk_float_decimal(n->u.d, buf, sizeof buf);
			h = pk_hash_bytes(buf, strlen(buf), 3);
		} else if (isnan(n->u.d))
			h = pk_mix(id);
		else {
			uint64_t u;

			memcpy(&u, &n->u.d, sizeof u);
			h = pk_mix(u);
		}
		break;
	case PK_BIG:
		h = pk_hash_bytes(n->u.str.s, n->u.str.len, 3);
		break;
	case PK_STR:
	case PK_BYTES:
		h = pk_hash_bytes(n->u.str.s, n->u.str.len, n->type);
		break;
	case PK_TUPLE:
		h = 0x7475706c65;
		for (size_t i = 0; i < n->u.items.n; i++) {
			size_t e = d->nodes[id].u.items.v[i];

			if ((rc = pk_hash(d, e)) != 0)
				return rc;
			h = pk_mix(h ^ d->nodes[e].hash);
		}
		break;
	case PK_OBJ:
		if ((rc = pk_obj_hash(d, id, &h)) != 0)
			return rc;
		h = pk_mix(h);
		break;
	case PK_FROZENSET:
		if ((rc = pk_uniq(d, id)) != 0)
			return rc;
		n = &d->nodes[id];
		h = 0x66726f7a656e;
		for (size_t i = 0; i < n->uniq.n; i++)
			h += d->nodes[n->u.items.v[n->uniq.v[i]]].hash;
		h = pk_mix(h);
		break;
	default:
		return pk_fail(d,
		    "a %s cannot be a set element or a dict key (unhashable)",
		    pk_type_names[n->type]);
	}
	d->nodes[id].hash = h;
	d->nodes[id].hashed = 1;
	return 0;
}

/* Fill the uniq list of a set, frozenset or dict whose keys (elements)
 * are converted: the first of equal keys, with the last value. */
static int
pk_uniq(struct pk_dec *d, size_t id)
{
	struct pk_node *n = &d->nodes[id];
	size_t step = n->type == PK_DICT ? 2 : 1, cnt = n->u.items.n / step;
	size_t cap = 16, *tab;
	int rc = 0;

	if (n->uniq_done)
		return 0;
	while (cap < cnt * 2)
		cap *= 2;
	if ((tab = malloc(cap * sizeof *tab)) == NULL)
		return -ENOMEM;
	memset(tab, 0xff, cap * sizeof *tab);
	for (size_t i = 0; i < cnt; i++) {
		size_t key = d->nodes[id].u.items.v[i * step], slot;
		uint64_t h;

		if ((rc = pk_hash(d, key)) != 0)
			break;
		h = d->nodes[key].hash;
		slot = (size_t)h & (cap - 1);
		for (; tab[slot] != SIZE_MAX && d->budget-- > 0;
		     slot = (slot + 1) & (cap - 1)) {
			struct pk_node *m = &d->nodes[id];
			size_t u = m->uniq.v[tab[slot]];
			size_t other = m->u.items.v[u];

			if (d->nodes[other].hash == h && pk_eq(d, other, key))
				break;
		}
		if (d->budget < 0) {
			rc = pk_fail(d,
			    "too many colliding hashes among the keys "
			    "of a set or dict");
			break;
		}
		n = &d->nodes[id];
		if (tab[slot] != SIZE_MAX) { /* a duplicate: last value wins */
			if (step == 2)
				n->uniq.v[tab[slot] + 1] = i * 2 + 1;
			continue;
		}
		tab[slot] = n->uniq.n;
		if ((rc = pk_vec_push(&n->uniq, i * step)) < 0 ||
		    (step == 2 && (rc = pk_vec_push(&n->uniq, i * 2 + 1)) < 0))
			break;
	}
	free(tab);
	if (rc == 0)
		d->nodes[id].uniq_done = 1;
	return rc;
}

/* conversion to the tagged tree */

int
pk_too_deep(struct pk_dec *d)
{
	return pk_fail(
	    d, "nesting deeper than %d levels of JSON text", PK_MAX_DEPTH);
}

/* The JSON arrays and objects node id is written as: a list or a dict is
 * one, a tuple or a set a tag around an array, a tagged scalar one; a
 * dict in the $dict form is three (pk_json_dict); an everyday type as
 * pk_obj_levels() says, a flavored dict or list more around its own. */
static int
pk_levels(const struct pk_dec *d, size_t id)
{
	const struct pk_node *n = &d->nodes[id];

	if (n->type == PK_OBJ)
		return pk_obj_levels(d, id);
	if (n->flavor != PK_FL_PLAIN)
		return 1 + pk_flavor_levels(d, id);
	switch (n->type) {
	case PK_TUPLE:
	case PK_SET:
	case PK_FROZENSET:
		return 2;
	case PK_LIST:
	case PK_DICT:
	case PK_BIG:
	case PK_BYTES:
	case PK_BYTEARRAY:
		return 1;
	case PK_FLOAT:
		return isfinite(n->u.d) ? 0 : 1;
	default:
		return 0;
	}
}

/* The converted items at positions pos[0..n) (every step-th of a uniq
 * list) of container id, as a JSON array whose items are depth deep. */
static int
pk_json_items(struct pk_dec *d, size_t id, const size_t *pos, size_t n,
    size_t step, int depth, json_t **out)
{
	json_t *a = json_array(), *j;
	int rc;

	if (a == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i += step) {
		size_t e = d->nodes[id].u.items.v[pos ? pos[i] : i];

		if ((rc = pk_json(d, e, depth, &j)) != 0) {
			json_decref(a);
			return rc;
		}
		if (json_array_append_new(a, j)) {
			json_decref(a);
			return -ENOMEM;
		}
	}
	*out = a;
	return 0;
}

/* The items of all at positions pos[0..n), as a new array. */
static int
pk_json_pick(json_t *all, const size_t *pos, size_t n, json_t **out)
{
	json_t *a = json_array();

	if (a == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (json_array_append(a, json_array_get(all, pos[i])) != 0) {
			json_decref(a);
			return -ENOMEM;
		}
	*out = a;
	return 0;
}

static int
pk_json_dict(struct pk_dec *d, size_t id, int depth, json_t **out)
{
	struct pk_node *n = &d->nodes[id];
	int rc, strkeys = 1;
	json_t *o, *j, *k;

	/* Keys first: converting them checks their depth and cycles before
	 * they are hashed.  A key of any other type than a plain str makes
	 * the $dict form, where keys lie three levels down; a str is a
	 * member's name, no level at all (the $dict form that a lone "$"
	 * name makes is checked below): a dict of 1000 dicts of str keys is
	 * shown, as a list of 1000 lists is. */
	for (size_t i = 0; i < n->u.items.n; i += 2) {
		const struct pk_node *key = &d->nodes[n->u.items.v[i]];
		int down =
		    key->type == PK_STR && key->flavor == PK_FL_PLAIN ? 1 : 3;

		if ((rc = pk_json(d, n->u.items.v[i], depth + down, &k)) != 0)
			return rc;
		json_decref(k);
		n = &d->nodes[id];
	}
	if ((rc = pk_uniq(d, id)) != 0)
		return rc;
	n = &d->nodes[id];
	for (size_t i = 0; i < n->uniq.n; i += 2)
		if (d->nodes[n->u.items.v[n->uniq.v[i]]].type != PK_STR)
			strkeys = 0;
	if (strkeys && n->uniq.n == 2 &&
	    d->nodes[n->u.items.v[n->uniq.v[0]]].u.str.len > 0 &&
	    d->nodes[n->u.items.v[n->uniq.v[0]]].u.str.s[0] == '$')
		strkeys = 0;
	if (!strkeys) {
		size_t cnt = n->uniq.n / 2;

		if (depth + 3 > PK_MAX_DEPTH)
			return pk_too_deep(d);

		if ((o = json_array()) == NULL)
			return -ENOMEM;
		for (size_t i = 0; i < cnt; i++) {
			json_t *pair;

			n = &d->nodes[id];
			if ((rc = pk_json_items(d, id, n->uniq.v + 2 * i, 2, 1,
			         depth + 3, &pair)) != 0) {
				json_decref(o);
				return rc;
			}
			if (json_array_append_new(o, pair)) {
				json_decref(o);
				return -ENOMEM;
			}
		}
		*out = value_tagged("$dict", o);
		return *out ? 0 : -ENOMEM;
	}
	if ((o = json_object()) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < d->nodes[id].uniq.n; i += 2) {
		struct pk_node *key;

		n = &d->nodes[id];
		key = &d->nodes[n->u.items.v[n->uniq.v[i]]];
		if ((rc = pk_json(d, n->u.items.v[n->uniq.v[i + 1]], depth + 1,
		         &j)) != 0) {
			json_decref(o);
			return rc;
		}
		key = &d->nodes[d->nodes[id].u.items.v[d->nodes[id].uniq.v[i]]];
		if (json_object_setn_new_nocheck(
		        o, key->u.str.s, key->u.str.len, j)) {
			json_decref(o);
			return -ENOMEM;
		}
	}
	*out = o;
	return 0;
}

int
pk_weigh(struct pk_dec *d, size_t payload)
{
	d->weight += PK_NODE_WEIGHT + payload;
	if (d->weight > d->maxweight)
		return pk_fail(d,
		    "the decoded value would pass %zu bytes (shared "
		    "references copied over and over)",
		    d->maxweight);
	return 0;
}

/* The tagged tree of node id, inside depth JSON arrays and objects (0 for
 * the root).  The depth counted is the JSON text's, tags included, which
 * value_parse() refuses past VALUE_DEPTH_MAX: what is shown can always be
 * written back. */
int
pk_json(struct pk_dec *d, size_t id, int depth, json_t **out)
{
	struct pk_node *n = &d->nodes[id];
	json_t *j = NULL;
	int rc, fl;

	*out = NULL;
	if (depth + pk_levels(d, id) > PK_MAX_DEPTH)
		return pk_too_deep(d);
	if (n->on_path)
		return pk_fail(d, "a %s contains itself (a cycle)",
		    pk_type_names[n->type]);
	if ((rc = pk_weigh(d, n->type == PK_STR || n->type == PK_BYTES ||
	                              n->type == PK_BYTEARRAY ||
	                              n->type == PK_BIG
	                          ? n->u.str.len
	                          : 0)) != 0)
		return rc;
	switch (n->type) {
	case PK_NONE:
		j = json_null();
		break;
	case PK_BOOL:
		j = json_boolean(id == PK_ID_TRUE);
		break;
	case PK_INT:
		j = json_integer(n->u.i);
		break;
	case PK_BIG:
		j = value_tagged(
		    "$int", json_stringn(n->u.str.s, n->u.str.len));
		break;
	case PK_FLOAT:
		j = value_real(n->u.d);
		break;
	case PK_STR:
		j = json_stringn_nocheck(n->u.str.s, n->u.str.len);
		break;
	case PK_BYTES:
	case PK_BYTEARRAY:
		j = value_tagged(n->type == PK_BYTES ? "$bytes" : "$bytearray",
		    value_b64_string(n->u.str.s, n->u.str.len));
		break;
	case PK_GLOBAL: /* a type in a tuple that no REDUCE took */
		return pk_fail(d,
		    "the global %s at offset %zu is used as a "
		    "value",
		    pk_global_name(d, id, (char[80]){0}, 80), n->u.global.at);
	case PK_OBJ:
		return pk_obj_json(d, id, depth, out);
	default:
		fl = pk_flavor_levels(d, id);
		n->on_path = 1;
		if (n->type == PK_DICT)
			rc = pk_json_dict(d, id, depth + fl, &j);
		else if (n->type == PK_LIST || n->type == PK_TUPLE)
			rc = pk_json_items(d, id, NULL, n->u.items.n, 1,
			    depth + fl + (n->type == PK_TUPLE ? 2 : 1), &j);
		else {
			json_t *all = NULL;

			/* Elements first (depth, cycles), then equality; the
			 * unique ones are picked from those converted, not
			 * converted again: again at every level, a frozenset
			 * of a frozenset 21 deep (77 bytes of pickle) took
			 * 2^21 conversions, and was refused as a bomb */
			rc = pk_json_items(
			    d, id, NULL, n->u.items.n, 1, depth + 2, &all);
			if (rc == 0 && (rc = pk_uniq(d, id)) == 0)
				rc = pk_json_pick(all, d->nodes[id].uniq.v,
				    d->nodes[id].uniq.n, &j);
			json_decref(all);
		}
		n = &d->nodes[id];
		n->on_path = 0;
		if (rc != 0)
			return rc;
		if (n->type == PK_TUPLE)
			j = value_tagged("$tuple", j);
		else if (n->type == PK_SET || n->type == PK_FROZENSET)
			j = value_tagged(
			    n->type == PK_SET ? "$set" : "$frozenset", j);
		else if (j != NULL && n->flavor != PK_FL_PLAIN &&
		         (rc = pk_flavor_json(d, id, depth, &j)) != 0)
			return rc;
	}
	if (j == NULL)
		return -ENOMEM;
	*out = j;
	return 0;
}
