/*
 * Python's everyday types in a pickle, read as data (doc/values.md,
 * "Python's everyday types"): datetime's datetime, date, time, timedelta
 * and timezone, decimal.Decimal, uuid.UUID, complex, and the collections
 * OrderedDict, Counter, defaultdict and deque; numpy's arrays and scalars
 * are value-pickle-numpy.c's.  value-pickle-global.c hands over the
 * REDUCE, NEWOBJ and BUILD of their constructors; each is recognized by
 * the exact arguments CPython writes for it, checked here, and built as a
 * node, never imported or called.  Anything else is not decodable, with
 * what was wrong.
 *
 * The dict and list flavors (OrderedDict, Counter, defaultdict, deque)
 * are plain PK_DICT and PK_LIST nodes, filled by SETITEMS and APPENDS as
 * Python fills them, with a flavor that wraps their JSON in a tag.
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

/* The largest timedelta's days, as datetime.timedelta.max has them. */
#define PK_TD_MAX_DAYS 999999999

struct pk_obj *
pk_obj_of(struct pk_dec *d, size_t id)
{
	return &d->objs[d->nodes[id].obj];
}

/* A new struct in d->objs for node id. */
static int
pk_obj_new(struct pk_dec *d, size_t id, unsigned kind, struct pk_obj **o)
{
	if (d->nobjs == d->capobjs) {
		size_t cap = d->capobjs ? d->capobjs * 2 : 8;
		struct pk_obj *n;

		if (cap > UINT32_MAX ||
		    (n = realloc(d->objs, cap * sizeof *n)) == NULL)
			return -ENOMEM;
		d->objs = n;
		d->capobjs = cap;
	}
	*o = &d->objs[d->nobjs];
	memset(*o, 0, sizeof **o);
	(*o)->kind = kind;
	(*o)->n[0] = (*o)->n[1] = (*o)->n[2] = SIZE_MAX;
	d->nodes[id].obj = (uint32_t)d->nobjs++;
	return 0;
}

int
pk_obj_push(struct pk_dec *d, unsigned kind, struct pk_obj **o)
{
	struct pk_node *node;
	int rc;

	if ((rc = pk_push_new(d, PK_OBJ, &node)) != 0)
		return rc;
	return pk_obj_new(d, d->stack.v[d->stack.n - 1], kind, o);
}

/* Refuse a REDUCE whose arguments are not those CPython writes for name,
 * saying what is wrong. */
static int
pk_obj_refuse(struct pk_dec *d, const char *name, size_t at, const char *why)
{
	return pk_fail(d,
	    "opcode REDUCE (R) at offset %zu would call %s with other "
	    "arguments than a pickle of one has (%s)",
	    at, name, why);
}

/* The state bytes of a datetime, date or time: n bytes, a PK_BYTES. */
static const unsigned char *
pk_state(const struct pk_dec *d, size_t id, size_t n)
{
	const struct pk_node *b = &d->nodes[id];

	if (b->type != PK_BYTES || b->u.str.len != n)
		return NULL;
	return (const unsigned char *)b->u.str.s;
}

/* Days from 0001-01-01 to the date, as Python's toordinal() - 1. */
static int64_t
pk_days(int y, int m, int day)
{
	int64_t yy = y - 1, days = yy * 365 + yy / 4 - yy / 100 + yy / 400;

	for (int i = 1; i < m; i++)
		days += value_days_in_month(y, i);
	return days + day - 1;
}

/* The fields of a datetime (10 bytes), date (4) or time (6) state into
 * t, with the offset of timezone node tz (or SIZE_MAX). */
static void
pk_obj_fields(
    const struct pk_dec *d, const struct pk_obj *o, struct value_dt *t)
{
	const unsigned char *s =
	    (const unsigned char *)d->nodes[o->n[0]].u.str.s;

	memset(t, 0, sizeof *t);
	if (o->kind == PK_O_DATETIME || o->kind == PK_O_DATE) {
		t->has_date = 1;
		t->year = s[0] << 8 | s[1];
		t->month = s[2] & 0x7f;
		t->day = s[3];
		s += 4;
	}
	if (o->kind == PK_O_DATETIME || o->kind == PK_O_TIME) {
		t->has_time = 1;
		t->hour = s[0] & 0x7f;
		t->minute = s[1];
		t->second = s[2];
		t->us = s[3] << 16 | s[4] << 8 | s[5];
	}
	if (o->n[1] != SIZE_MAX) {
		t->has_tz = 1;
		t->off_us = d->objs[d->nodes[o->n[1]].obj].v[0];
	}
}

/* datetime(state[, tz]), date(state), time(state[, tz]). */
static int
pk_reduce_dt(struct pk_dec *d, unsigned kind, const char *name,
    const size_t *arg, size_t nargs, size_t at)
{
	size_t len = kind == PK_O_DATETIME ? 10 : kind == PK_O_DATE ? 4 : 6;
	const unsigned char *s;
	struct value_dt t;
	struct pk_obj *o;
	size_t tz = SIZE_MAX;
	int rc;

	if (nargs < 1 || nargs > (kind == PK_O_DATE ? 1u : 2u))
		return pk_obj_refuse(d, name, at, "its arguments");
	if ((s = pk_state(d, arg[0], len)) == NULL)
		return pk_obj_refuse(d, name, at, "its state");
	if (nargs == 2) {
		tz = arg[1];
		if (d->nodes[tz].type != PK_OBJ ||
		    pk_obj_of(d, tz)->kind != PK_O_TIMEZONE)
			return pk_obj_refuse(d, name, at,
			    "a tzinfo other than a datetime.timezone");
	}
	if ((kind == PK_O_DATETIME && (s[2] & 0x80)) ||
	    (kind == PK_O_TIME && (s[0] & 0x80)))
		return pk_fail(d,
		    "the %s at offset %zu has fold=1 (the second of a "
		    "repeated wall time), which ISO 8601 cannot say",
		    name, at);
	if ((rc = pk_obj_push(d, kind, &o)) != 0)
		return rc;
	o->n[0] = arg[0];
	o->n[1] = tz;
	pk_obj_fields(d, o, &t);
	if (!value_dt_valid(&t))
		return pk_fail(
		    d, "the %s at offset %zu is out of range", name, at);
	/* the canonical form of Python's equality: a naive value is never
	 * equal to an aware one, aware ones by their UTC time */
	if (t.has_date)
		o->v[0] = pk_days(t.year, t.month, t.day) * VALUE_DAY_US;
	if (t.has_time)
		o->v[0] += (((int64_t)t.hour * 60 + t.minute) * 60 + t.second) *
		               1000000 +
		           t.us;
	if (t.has_tz)
		o->v[0] -= t.off_us;
	o->v[1] = t.has_tz;
	return 0;
}

/* timedelta(days, seconds, microseconds), normalized as CPython writes
 * it. */
static int
pk_reduce_timedelta(struct pk_dec *d, const char *name, const size_t *arg,
    size_t nargs, size_t at)
{
	struct pk_obj *o;
	int64_t v[3];
	int rc;

	if (nargs != 3)
		return pk_obj_refuse(d, name, at, "its arguments");
	for (int i = 0; i < 3; i++) {
		if (d->nodes[arg[i]].type != PK_INT)
			return pk_obj_refuse(d, name, at, "its arguments");
		v[i] = d->nodes[arg[i]].u.i;
	}
	if (v[0] < -PK_TD_MAX_DAYS || v[0] > PK_TD_MAX_DAYS || v[1] < 0 ||
	    v[1] >= 86400 || v[2] < 0 || v[2] > 999999)
		return pk_obj_refuse(d, name, at,
		    "days, seconds, microseconds "
		    "out of their ranges");
	if ((rc = pk_obj_push(d, PK_O_TIMEDELTA, &o)) != 0)
		return rc;
	memcpy(o->v, v, sizeof v);
	return 0;
}

/* timezone(timedelta): a fixed offset strictly within a day. */
static int
pk_reduce_timezone(struct pk_dec *d, const char *name, const size_t *arg,
    size_t nargs, size_t at)
{
	const struct pk_obj *td;
	struct pk_obj *o;
	int64_t off;
	int rc;

	if (nargs == 2 && d->nodes[arg[1]].type == PK_STR)
		return pk_fail(d,
		    "the datetime.timezone at offset %zu has a name, which "
		    "the ISO 8601 form of its time cannot keep",
		    at);
	if (nargs != 1 || d->nodes[arg[0]].type != PK_OBJ ||
	    pk_obj_of(d, arg[0])->kind != PK_O_TIMEDELTA)
		return pk_obj_refuse(d, name, at, "its offset");
	td = pk_obj_of(d, arg[0]);
	if (td->v[0] < -1 || td->v[0] > 0) /* before off: days may be 1e9 */
		return pk_obj_refuse(d, name, at, "an offset of a day or more");
	off = (td->v[0] * 86400 + td->v[1]) * 1000000 + td->v[2];
	/* timedelta(-1) is -24:00: Python's timezone() refuses it too */
	if (off <= -VALUE_DAY_US)
		return pk_obj_refuse(d, name, at, "an offset of a day or more");
	if ((rc = pk_obj_push(d, PK_O_TIMEZONE, &o)) != 0)
		return rc;
	o->v[0] = off;
	return 0;
}

static int
pk_reduce_decimal(struct pk_dec *d, const char *name, const size_t *arg,
    size_t nargs, size_t at)
{
	const struct pk_node *s;
	struct pk_obj *o;
	int rc;

	if (nargs != 1 || d->nodes[arg[0]].type != PK_STR)
		return pk_obj_refuse(d, name, at, "its arguments");
	s = &d->nodes[arg[0]];
	if ((rc = value_decimal_text(s->u.str.s, s->u.str.len)) == 0)
		return pk_obj_refuse(
		    d, name, at, "a text str() does not write for a Decimal");
	if (rc == VALUE_DECIMAL_RANGE)
		return pk_fail(d,
		    "the decimal.Decimal at offset %zu has an exponent "
		    "outside Python's range, where Decimal() raises "
		    "InvalidOperation",
		    at);
	if ((rc = pk_obj_push(d, PK_O_DECIMAL, &o)) != 0)
		return rc;
	o->n[0] = arg[0];
	return 0;
}

static int
pk_reduce_complex(struct pk_dec *d, const char *name, const size_t *arg,
    size_t nargs, size_t at)
{
	struct pk_obj *o;
	int rc;

	if (nargs != 2 || d->nodes[arg[0]].type != PK_FLOAT ||
	    d->nodes[arg[1]].type != PK_FLOAT)
		return pk_obj_refuse(d, name, at, "its arguments");
	if ((rc = pk_obj_push(d, PK_O_COMPLEX, &o)) != 0)
		return rc;
	o->n[0] = arg[0];
	o->n[1] = arg[1];
	return 0;
}

/* Push a new dict or list of flavor, with the items of node from (or
 * none); its struct in *o for the flavors that have one. */
static int
pk_push_flavor(struct pk_dec *d, unsigned type, unsigned flavor, size_t from,
    struct pk_obj **o)
{
	size_t k = d->stack.n, id;
	int rc;

	if (from != SIZE_MAX) {
		const struct pk_node *f = &d->nodes[from];

		for (size_t i = 0; i < f->u.items.n; i++)
			if ((rc = pk_vec_push(
			         &d->stack, d->nodes[from].u.items.v[i])) < 0)
				return rc;
	}
	if ((rc = pk_collect(d, type, k)) != 0)
		return rc;
	id = d->stack.v[d->stack.n - 1];
	d->nodes[id].flavor = (unsigned char)flavor;
	if (o == NULL)
		return 0;
	return pk_obj_new(
	    d, id, flavor == PK_FL_DEQUE ? PK_O_DEQUE : PK_O_DEFAULTDICT, o);
}

/* A defaultdict's factory: a builtin type or a collections class. */
static int
pk_factory(const struct pk_dec *d, size_t id)
{
	switch (pk_global_kind(d, id)) {
	case PK_CTOR_TYPE:
	case PK_CTOR_SET:
	case PK_CTOR_FROZENSET:
	case PK_CTOR_BYTES:
	case PK_CTOR_BYTEARRAY:
	case PK_CTOR_ODICT:
	case PK_CTOR_COUNTER:
	case PK_CTOR_DEQUE:
		return 1;
	default:
		return 0;
	}
}

/* OrderedDict(), Counter(dict), defaultdict([factory]), deque(() [,
 * maxlen]): their items follow by SETITEMS or APPENDS. */
static int
pk_reduce_collection(struct pk_dec *d, unsigned kind, const char *name,
    const size_t *arg, size_t nargs, size_t at)
{
	struct pk_obj *o;
	size_t pl;
	int rc;

	switch (kind) {
	case PK_CTOR_ODICT:
		if (nargs != 0)
			break;
		return pk_push_flavor(d, PK_DICT, PK_FL_ODICT, SIZE_MAX, NULL);
	case PK_CTOR_COUNTER:
		if (nargs != 1 || d->nodes[arg[0]].type != PK_DICT ||
		    d->nodes[arg[0]].flavor != PK_FL_PLAIN)
			break;
		/* the dict's items now, as Counter(dict) copies them */
		pl = d->nodes[arg[0]].u.items.n;
		if ((rc = pk_built(d, pl * sizeof(size_t), at)) != 0)
			return rc;
		return pk_push_flavor(d, PK_DICT, PK_FL_COUNTER, arg[0], NULL);
	case PK_CTOR_DEFAULTDICT:
		if (nargs > 1 || (nargs == 1 && !pk_factory(d, arg[0])))
			break;
		if (nargs == 1)
			d->nodes[arg[0]].called = 1;
		if ((rc = pk_push_flavor(
		         d, PK_DICT, PK_FL_DEFAULTDICT, SIZE_MAX, &o)) != 0)
			return rc;
		o->n[0] = nargs ? arg[0] : SIZE_MAX;
		return 0;
	case PK_CTOR_DEQUE:
		if (nargs != 0 && (nargs != 2 || arg[0] != PK_ID_EMPTY_TUPLE ||
		                      d->nodes[arg[1]].type != PK_INT ||
		                      d->nodes[arg[1]].u.i < 0))
			break;
		if ((rc = pk_push_flavor(
		         d, PK_LIST, PK_FL_DEQUE, SIZE_MAX, &o)) != 0)
			return rc;
		o->n[0] = nargs ? arg[1] : SIZE_MAX;
		return 0;
	}
	return pk_obj_refuse(d, name, at, "its arguments");
}

int
pk_obj_reduce(struct pk_dec *d, unsigned ctor_kind, const char *name,
    size_t args, size_t at)
{
	const size_t *arg = d->nodes[args].u.items.v;
	size_t nargs = d->nodes[args].u.items.n;

	switch (ctor_kind) {
	case PK_CTOR_DATETIME:
		return pk_reduce_dt(d, PK_O_DATETIME, name, arg, nargs, at);
	case PK_CTOR_DATE:
		return pk_reduce_dt(d, PK_O_DATE, name, arg, nargs, at);
	case PK_CTOR_TIME:
		return pk_reduce_dt(d, PK_O_TIME, name, arg, nargs, at);
	case PK_CTOR_TIMEDELTA:
		return pk_reduce_timedelta(d, name, arg, nargs, at);
	case PK_CTOR_TIMEZONE:
		return pk_reduce_timezone(d, name, arg, nargs, at);
	case PK_CTOR_DECIMAL:
		return pk_reduce_decimal(d, name, arg, nargs, at);
	case PK_CTOR_COMPLEX:
		return pk_reduce_complex(d, name, arg, nargs, at);
	case PK_CTOR_ODICT:
	case PK_CTOR_COUNTER:
	case PK_CTOR_DEFAULTDICT:
	case PK_CTOR_DEQUE:
		return pk_reduce_collection(d, ctor_kind, name, arg, nargs, at);
	case PK_CTOR_FROMBUFFER:
	case PK_CTOR_RECONSTRUCT:
	case PK_CTOR_SCALAR:
	case PK_CTOR_DTYPE:
		return pk_numpy_reduce(d, ctor_kind, name, arg, nargs, at);
	case PK_CTOR_PDTIMESTAMP:
	case PK_CTOR_PDTIMEDELTA:
	case PK_CTOR_NAT:
		return pk_pandas_reduce(d, ctor_kind, name, arg, nargs, at);
	case PK_CTOR_RECONSTRUCTOR:
		/* _reconstructor(UUID, object, None): what protocols 0 and 1
		 * write for a UUID, whose state BUILD gives */
		if (nargs != 3 || pk_global_kind(d, arg[0]) != PK_CTOR_UUID ||
		    pk_global_kind(d, arg[1]) != PK_CTOR_OBJECT ||
		    arg[2] != PK_ID_NONE)
			return pk_obj_refuse(d, name, at, "its arguments");
		d->nodes[arg[0]].called = d->nodes[arg[1]].called = 1;
		return pk_obj_push(d, PK_O_UUID_NEW, &(struct pk_obj *){0});
	default: /* uuid.UUID (NEWOBJ), numpy.ndarray (an argument) */
		return pk_obj_refuse(d, name, at, "it is not called");
	}
}

/* The 128 bits of int node id into hi and lo: 0, or -1 when it is not
 * an int from 0 to 2**128 - 1. */
static int
pk_u128(const struct pk_dec *d, size_t id, uint64_t *hi, uint64_t *lo)
{
	const struct pk_node *n = &d->nodes[id];

	*hi = *lo = 0;
	if (n->type == PK_INT) {
		if (n->u.i < 0)
			return -1;
		*lo = (uint64_t)n->u.i;
		return 0;
	}
	if (n->type != PK_BIG || n->u.str.len > 39 || n->u.str.s[0] == '-')
		return -1;
	for (size_t i = 0; i < n->u.str.len; i++) {
		/* (hi, lo) = (hi, lo) * 10 + digit, with overflow checks */
		uint64_t l10 = (*lo & 0xffffffffu) * 10,
		         h10 = (*lo >> 32) * 10 + (l10 >> 32);
		uint64_t nlo = (h10 << 32) | (l10 & 0xffffffffu);
		uint64_t carry = h10 >> 32,
		         dg = (uint64_t)(n->u.str.s[i] - '0');

		if (*hi > UINT64_MAX / 10 || *hi * 10 > UINT64_MAX - carry)
			return -1;
		*hi = *hi * 10 + carry;
		*lo = nlo + dg;
		if (*lo < nlo && ++*hi == 0)
			return -1;
	}
	return 0;
}

/* A UUID's state: {'int': N} and, if it was known, {'is_safe': 0 or -1},
 * which Python's equality passes over as we do. */
static int
pk_build_uuid(struct pk_dec *d, size_t id, size_t state, size_t at)
{
	const struct pk_node *s = &d->nodes[state];
	struct pk_obj *o;
	size_t num = SIZE_MAX;

	if (s->type != PK_DICT || s->flavor != PK_FL_PLAIN)
		goto bad;
	for (size_t i = 0; i + 1 < s->u.items.n; i += 2) {
		const struct pk_node *k = &d->nodes[s->u.items.v[i]];
		size_t v = s->u.items.v[i + 1];

		if (k->type == PK_STR && k->u.str.len == 3 &&
		    memcmp(k->u.str.s, "int", 3) == 0 && num == SIZE_MAX)
			num = v;
		else if (!(k->type == PK_STR && k->u.str.len == 7 &&
		             memcmp(k->u.str.s, "is_safe", 7) == 0 &&
		             (v == PK_ID_NONE ||
		                 (d->nodes[v].type == PK_INT &&
		                     (d->nodes[v].u.i == 0 ||
		                         d->nodes[v].u.i == -1)))))
			goto bad;
	}
	o = pk_obj_of(d, id);
	if (num == SIZE_MAX ||
	    pk_u128(d, num, (uint64_t *)&o->v[0], (uint64_t *)&o->v[1]) < 0)
		goto bad;
	o->kind = PK_O_UUID;
	return 0;
bad:
	return pk_fail(d,
	    "opcode BUILD (b) at offset %zu would give a uuid.UUID another "
	    "state than {'int': a 128-bit int}",
	    at);
}

int
pk_obj_build(struct pk_dec *d, size_t id, size_t state, size_t at)
{
	switch (pk_obj_of(d, id)->kind) {
	case PK_O_UUID_NEW:
		return pk_build_uuid(d, id, state, at);
	case PK_O_DTYPE_NEW:
	case PK_O_ARRAY_NEW:
		return pk_numpy_build(d, id, state, at);
	default:
		return pk_forbidden(d, 'b', at);
	}
}

/* equality and hash, for set elements and dict keys */

int
pk_obj_hash(struct pk_dec *d, size_t id, uint64_t *h)
{
	const struct pk_obj *o = pk_obj_of(d, id);
	static const char *const why[] = {
	    [PK_O_DECIMAL] =
	        "a Decimal (equal to ints and floats of its value)",
	    [PK_O_COMPLEX] = "a complex (equal to floats of its value)",
	    [PK_O_SCALAR] = "a numpy scalar (equal to numbers of its value)",
	    [PK_O_ARRAY] = "a numpy array (unhashable)",
	    [PK_O_DTYPE] = "a numpy dtype",
	    [PK_O_PDTIMESTAMP] =
	        "a pandas Timestamp (equal to datetimes of its time)",
	    [PK_O_PDTIMEDELTA] =
	        "a pandas Timedelta (equal to timedeltas of its length)"};

	switch (o->kind) {
	case PK_O_DATETIME:
	case PK_O_DATE:
	case PK_O_TIME:
	case PK_O_TIMEDELTA:
	case PK_O_TIMEZONE:
	case PK_O_UUID:
		*h = ((uint64_t)o->v[0] * 0x9e3779b97f4a7c15ull) ^
		     ((uint64_t)o->v[1] * 0xc2b2ae3d27d4eb4full) ^
		     ((uint64_t)o->v[2] << 7) ^ o->kind;
		return 0;
	default:
		return pk_fail(d, "%s cannot be a set element or a dict key",
		    o->kind < sizeof why / sizeof why[0] && why[o->kind]
		        ? why[o->kind]
		        : "this object");
	}
}

int
pk_obj_eq(struct pk_dec *d, size_t a, size_t b)
{
	const struct pk_obj *x = pk_obj_of(d, a), *y = pk_obj_of(d, b);

	return x->kind == y->kind && x->v[0] == y->v[0] && x->v[1] == y->v[1] &&
	       x->v[2] == y->v[2];
}

/* conversion */

int
pk_obj_levels(const struct pk_dec *d, size_t id)
{
	const struct pk_obj *o = &d->objs[d->nodes[id].obj];

	switch (o->kind) {
	case PK_O_TIMEDELTA:
	case PK_O_PDTIMEDELTA:
		return 2;
	case PK_O_COMPLEX:
		return isfinite(d->nodes[o->n[0]].u.d) &&
		               isfinite(d->nodes[o->n[1]].u.d)
		           ? 2
		           : 3;
	case PK_O_ARRAY:
	case PK_O_SCALAR:
		return pk_numpy_levels(d, o);
	default:
		return 1;
	}
}

/* The hyphenated hex of a UUID's 128 bits. */
static json_t *
pk_uuid_json(const struct pk_obj *o)
{
	uint64_t hi = (uint64_t)o->v[0], lo = (uint64_t)o->v[1];
	char s[40];

	snprintf(s, sizeof s,
	    "%08" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%04" PRIx64
	    "-%012" PRIx64,
	    hi >> 32, hi >> 16 & 0xffff, hi & 0xffff, lo >> 48,
	    lo & (uint64_t)0xffffffffffff);
	return json_string(s);
}

int
pk_obj_json(struct pk_dec *d, size_t id, int depth, json_t **out)
{
	const struct pk_obj *o = pk_obj_of(d, id);
	const struct pk_node *s;
	static const char *const tags[] = {[PK_O_DATETIME] = "$datetime",
	    [PK_O_DATE] = "$date",
	    [PK_O_TIME] = "$time"};
	struct value_dt t;
	char buf[64];
	json_t *j;

	switch (o->kind) {
	case PK_O_DATETIME:
	case PK_O_DATE:
	case PK_O_TIME:
		pk_obj_fields(d, o, &t);
		value_dt_format(&t, buf, sizeof buf);
		*out = value_tagged(tags[o->kind], json_string(buf));
		break;
	case PK_O_TIMEZONE:
		t = (struct value_dt){.has_tz = 1, .off_us = o->v[0]};
		value_dt_format(&t, buf, sizeof buf);
		*out = value_tagged("$timezone", json_string(buf));
		break;
	case PK_O_TIMEDELTA:
		j = json_pack("{sIsIsI}", "days", (json_int_t)o->v[0],
		    "seconds", (json_int_t)o->v[1], "microseconds",
		    (json_int_t)o->v[2]);
		*out = value_tagged("$timedelta", j);
		break;
	case PK_O_DECIMAL:
		s = &d->nodes[o->n[0]];
		*out = value_tagged(
		    "$decimal", json_stringn(s->u.str.s, s->u.str.len));
		break;
	case PK_O_UUID:
		*out = value_tagged("$uuid", pk_uuid_json(o));
		break;
	case PK_O_COMPLEX:
		j = json_array();
		if (j != NULL &&
		    (json_array_append_new(
		         j, value_real(d->nodes[o->n[0]].u.d)) < 0 ||
		        json_array_append_new(
		            j, value_real(d->nodes[o->n[1]].u.d)) < 0)) {
			json_decref(j);
			j = NULL;
		}
		*out = value_tagged("$complex", j);
		break;
	case PK_O_ARRAY:
	case PK_O_SCALAR:
		return pk_numpy_json(d, o, depth, out);
	case PK_O_PDTIMESTAMP:
	case PK_O_PDTIMEDELTA:
		return pk_pandas_json(d, o, out);
	case PK_O_DTYPE:
		return pk_fail(d, "a numpy dtype on its own is not data");
	default: /* made, and its state never given */
		return pk_fail(d, "an object whose state BUILD never gave");
	}
	return *out ? 0 : -ENOMEM;
}

/* flavors */

int
pk_flavor_levels(const struct pk_dec *d, size_t id)
{
	const struct pk_node *n = &d->nodes[id];

	if (n->flavor == PK_FL_DEFAULTDICT)
		return 2;
	if (n->flavor == PK_FL_DEQUE && d->objs[n->obj].n[0] != SIZE_MAX)
		return 2;
	return n->flavor == PK_FL_PLAIN ? 0 : 1;
}

/* The name a defaultdict's factory is written with: a builtin type's
 * own ("list"), a collections class with its module. */
static json_t *
pk_factory_json(const struct pk_dec *d, size_t g)
{
	char name[80];

	if (g == SIZE_MAX)
		return json_null();
	pk_global_name(d, g, name, sizeof name);
	if (strncmp(name, "builtins.", 9) == 0)
		return json_string(name + 9);
	/* the names protocols 0 to 2 give Python 3's str and int */
	if (strcmp(name, "__builtin__.unicode") == 0)
		return json_string("str");
	if (strcmp(name, "__builtin__.long") == 0)
		return json_string("int");
	if (strncmp(name, "__builtin__.", 12) == 0)
		return json_string(name + 12);
	return json_string(name);
}

int
pk_flavor_json(struct pk_dec *d, size_t id, int depth, json_t **j)
{
	const struct pk_node *n = &d->nodes[id];
	const struct pk_obj *o;
	json_t *a, *w;
	size_t len, keep;

	(void)depth;
	switch (n->flavor) {
	case PK_FL_ODICT:
		*j = value_tagged("$odict", *j);
		break;
	case PK_FL_COUNTER:
		*j = value_tagged("$counter", *j);
		break;
	case PK_FL_DEFAULTDICT:
		o = &d->objs[n->obj];
		a = json_array();
		if (a == NULL ||
		    json_array_append_new(a, pk_factory_json(d, o->n[0])) < 0 ||
		    json_array_append_new(a, *j) < 0) {
			json_decref(a);
			*j = NULL;
			return -ENOMEM;
		}
		*j = value_tagged("$defaultdict", a);
		break;
	case PK_FL_DEQUE:
		o = &d->objs[n->obj];
		if (o->n[0] == SIZE_MAX) {
			*j = value_tagged("$deque", *j);
			break;
		}
		/* a deque keeps its last maxlen items */
		len = json_array_size(*j);
		keep = (uint64_t)d->nodes[o->n[0]].u.i < len
		           ? (size_t)d->nodes[o->n[0]].u.i
		           : len;
		a = json_array();
		for (size_t i = len - keep; a != NULL && i < len; i++)
			if (json_array_append(a, json_array_get(*j, i)) < 0) {
				json_decref(a);
				a = NULL;
			}
		json_decref(*j);
		w = a ? json_pack("{sIso}", "maxlen",
		            (json_int_t)d->nodes[o->n[0]].u.i, "items", a)
		      : NULL;
		*j = value_tagged("$deque", w);
		break;
	}
	return *j ? 0 : -ENOMEM;
}
