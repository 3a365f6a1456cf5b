/*
 * pandas' Timestamp, Timedelta and NaT in a pickle, read as data and
 * written back (doc/values.md).  pandas 1.5 and 2.x write them alike:
 *
 *   pandas._libs.tslibs.timestamps._unpickle_timestamp(value, freq, tz,
 *       reso)     value: an int64 count of reso's units since the epoch
 *                 (reso 10 ns, 9 µs, 8 ms, 7 s); freq None; tz None or a
 *                 datetime.timezone
 *   pandas._libs.tslibs.timedeltas._timedelta_unpickle(value, reso)
 *   pandas._libs.tslibs.nattype.__nat_unpickle(None)
 *
 * (pandas before 1.5 left reso out: nanoseconds.)  A Timestamp is shown
 * as {"$pdtimestamp": "2024-01-02T03:04:05.123456789+02:00"}, its local
 * time as Timestamp.isoformat() writes it, or "NaT"; a Timedelta as
 * {"$pdtimedelta": {"days": 1, "seconds": 0, "nanoseconds": 2}}.  Both
 * are written back in nanoseconds, which every pandas reads, or in the
 * finest unit that holds the value when nanoseconds cannot.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "booklet.h"
#include "bltvalue.h"
#include "value-int.h"
#include "value-pickle.h"

#define PK_PD_NS_SEC INT64_C(1000000000)
#define PK_PD_NS_DAY (86400 * PK_PD_NS_SEC)

/* Nanoseconds in one unit of pandas' resolution reso, or 0. */
static int64_t
pk_pd_unit(int64_t reso)
{
	switch (reso) {
	case 7:
		return PK_PD_NS_SEC;
	case 8:
		return 1000000;
	case 9:
		return 1000;
	case 10:
		return 1;
	default:
		return 0;
	}
}

/* v units of unit as whole days and the nanoseconds of the last one. */
static void
pk_pd_split(int64_t v, int64_t unit, int64_t *days, int64_t *day_ns)
{
	int64_t per_day = PK_PD_NS_DAY / unit, d = v / per_day, r = v % per_day;

	if (r < 0) {
		r += per_day;
		d--;
	}
	*days = d;
	*day_ns = r * unit;
}

/* Days and nanoseconds of a day (0 to a day) as a value in resolution
 * r: 0, or -ERANGE if r's int64 does not hold them (-2**63 is NaT). */
static int
pk_pd_join_in(int64_t days, int64_t day_ns, int64_t r, int64_t *v)
{
	int64_t unit = pk_pd_unit(r), per_day = PK_PD_NS_DAY / unit;
	int64_t rest = day_ns / unit;

	if (day_ns % unit != 0)
		return -ERANGE;
	/* a day back from the negative end: Timestamp.min fits */
	if (days < 0 && rest > 0) {
		days++;
		rest -= per_day;
	}
	if (__builtin_mul_overflow(days, per_day, v) ||
	    __builtin_add_overflow(*v, rest, v) || *v == INT64_MIN)
		return -ERANGE;
	return 0;
}

/* Days and nanoseconds of a day (0 to a day) as a value and the finest
 * resolution that holds them, and holds local (if not NULL), the same
 * moment's local time, too (pandas converts to it as it loads: past int64
 * is OutOfBoundsDatetime): 0, or -ERANGE. */
static int
pk_pd_join(int64_t days, int64_t day_ns, const int64_t local[2], int64_t *v,
    int64_t *reso)
{
	int64_t lv;

	for (int64_t r = 10; r >= 7; r--)
		if (pk_pd_join_in(days, day_ns, r, v) == 0 &&
		    (local == NULL ||
		        pk_pd_join_in(local[0], local[1], r, &lv) == 0)) {
			*reso = r;
			return 0;
		}
	return -ERANGE;
}

/* The local fields of Timestamp o (not NaT) into t: 0, or -ERANGE out of
 * years 1 to 9999. */
static int
pk_pd_fields(const struct pk_dec *d, const struct pk_obj *o, struct value_dt *t)
{
	int64_t days, ns, off = 0;

	memset(t, 0, sizeof *t);
	pk_pd_split(o->v[0], pk_pd_unit(o->v[1]), &days, &ns);
	if (o->n[0] != SIZE_MAX) {
		off = d->objs[d->nodes[o->n[0]].obj].v[0];
		t->has_tz = 1;
		t->off_us = off;
	}
	ns += off * 1000;
	if (ns < 0) {
		ns += PK_PD_NS_DAY;
		days--;
	} else if (ns >= PK_PD_NS_DAY) {
		ns -= PK_PD_NS_DAY;
		days++;
	}
	/* 0001-01-01 and 9999-12-31 */
	if (days < -719162 || days > 2932896)
		return -ERANGE;
	t->has_date = t->has_time = 1;
	value_civil_from_days(days, &t->year, &t->month, &t->day);
	t->hour = (int)(ns / (3600 * PK_PD_NS_SEC));
	t->minute = (int)(ns / (60 * PK_PD_NS_SEC) % 60);
	t->second = (int)(ns / PK_PD_NS_SEC % 60);
	t->us = (int)(ns / 1000 % 1000000);
	t->ns = (int)(ns % 1000);
	return 0;
}

/* Whether value v in resolution reso, at offset off_us from UTC, has a
 * local time past reso's int64 (pandas adds the offset as it loads). */
static int
pk_pd_local_past(int64_t v, int64_t reso, int64_t off_us)
{
	int64_t local;

	return __builtin_add_overflow(
	           v, off_us * 1000 / pk_pd_unit(reso), &local) ||
	       local == INT64_MIN;
}

static int
pk_pd_refuse(struct pk_dec *d, const char *name, size_t at, const char *why)
{
	return pk_fail(d,
	    "opcode REDUCE (R) at offset %zu would call %s with other "
	    "arguments than pandas writes (%s)",
	    at, name, why);
}

int
pk_pandas_reduce(struct pk_dec *d, unsigned ctor_kind, const char *name,
    const size_t *arg, size_t nargs, size_t at)
{
	struct pk_obj *o;
	struct value_dt t;
	int64_t reso = 10;
	size_t tz = SIZE_MAX;
	int rc;

	if (ctor_kind == PK_CTOR_NAT) {
		if (nargs != 1 || arg[0] != PK_ID_NONE)
			return pk_pd_refuse(d, name, at, "its arguments");
		if ((rc = pk_obj_push(d, PK_O_PDTIMESTAMP, &o)) != 0)
			return rc;
		o->v[1] = 0; /* NaT */
		return 0;
	}
	if (ctor_kind == PK_CTOR_PDTIMEDELTA) {
		if (nargs != 2 || d->nodes[arg[0]].type != PK_INT ||
		    d->nodes[arg[1]].type != PK_INT ||
		    !pk_pd_unit(d->nodes[arg[1]].u.i))
			return pk_pd_refuse(
			    d, name, at, "an int64 and its resolution");
		if ((rc = pk_obj_push(d, PK_O_PDTIMEDELTA, &o)) != 0)
			return rc;
		o->v[0] = d->nodes[arg[0]].u.i;
		o->v[1] = d->nodes[arg[1]].u.i;
		return 0;
	}
	/* _unpickle_timestamp(value, None, tz[, reso]) */
	if ((nargs != 3 && nargs != 4) || d->nodes[arg[0]].type != PK_INT ||
	    arg[1] != PK_ID_NONE)
		return pk_pd_refuse(d, name, at, "an int64 and no frequency");
	if (arg[2] != PK_ID_NONE) {
		if (d->nodes[arg[2]].type != PK_OBJ ||
		    pk_obj_of(d, arg[2])->kind != PK_O_TIMEZONE)
			return pk_pd_refuse(d, name, at,
			    "a tzinfo other than a datetime.timezone");
		tz = arg[2];
	}
	if (nargs == 4 && (d->nodes[arg[3]].type != PK_INT ||
	                      !pk_pd_unit(reso = d->nodes[arg[3]].u.i)))
		return pk_pd_refuse(d, name, at, "its resolution");
	if (d->nodes[arg[0]].u.i == INT64_MIN)
		return pk_fail(d,
		    "the pandas Timestamp at offset %zu has the value -2**63, "
		    "pandas' NaT sentinel, which pandas does not load as a "
		    "Timestamp",
		    at);
	if (tz != SIZE_MAX && pk_pd_local_past(d->nodes[arg[0]].u.i, reso,
	                          d->objs[d->nodes[tz].obj].v[0]))
		return pk_fail(d,
		    "the pandas Timestamp at offset %zu has a local time past "
		    "what its resolution's int64 holds, which pandas does not "
		    "load (OutOfBoundsDatetime)",
		    at);
	if ((rc = pk_obj_push(d, PK_O_PDTIMESTAMP, &o)) != 0)
		return rc;
	o->v[0] = d->nodes[arg[0]].u.i;
	o->v[1] = reso;
	o->n[0] = tz;
	if (pk_pd_fields(d, o, &t) < 0)
		return pk_fail(d,
		    "the pandas Timestamp at offset %zu is outside years 1 to "
		    "9999, which its ISO 8601 form holds",
		    at);
	return 0;
}

int
pk_pandas_json(struct pk_dec *d, const struct pk_obj *o, json_t **out)
{
	struct value_dt t;
	char buf[64];
	int64_t days, ns;

	if (o->kind == PK_O_PDTIMEDELTA) {
		pk_pd_split(o->v[0], pk_pd_unit(o->v[1]), &days, &ns);
		*out = value_tagged("$pdtimedelta",
		    json_pack("{sIsIsI}", "days", (json_int_t)days, "seconds",
		        (json_int_t)(ns / PK_PD_NS_SEC), "nanoseconds",
		        (json_int_t)(ns % PK_PD_NS_SEC)));
	} else if (o->v[1] == 0)
		*out = value_tagged("$pdtimestamp", json_string("NaT"));
	else {
		(void)pk_pd_fields(d, o, &t); /* in range: checked on REDUCE */
		value_dt_format(&t, buf, sizeof buf);
		*out = value_tagged("$pdtimestamp", json_string(buf));
	}
	return *out ? 0 : -ENOMEM;
}

/* $pdtimestamp: _unpickle_timestamp(value, None, tz, reso), or NaT. */
static int
pk_enc_timestamp(struct pk_enc *e, const json_t *in)
{
	const char *s = json_string_value(in);
	struct value_dt t;
	int64_t days, ns, v, reso, local[2];
	int rc;

	if (s != NULL && strcmp(s, "NaT") == 0) {
		if ((rc = pk_enc_global(e, PK_G_NAT)) || (rc = pk_op(e, 'N')) ||
		    (rc = pk_enc_tuple(e, 1)))
			return rc;
		return pk_enc_reduce(e);
	}
	if (s == NULL || value_dt_parse(s, json_string_length(in),
	                     VALUE_DT_TIMESTAMP, &t) < 0)
		return pk_enc_err(e,
		    "$pdtimestamp is \"NaT\" or "
		    "\"YYYY-MM-DDTHH:MM:SS[.fffffffff][+HH:MM]\" in range");
	days = local[0] = value_days_from_civil(t.year, t.month, t.day);
	local[1] =
	    ((int64_t)t.hour * 3600 + t.minute * 60 + t.second) * PK_PD_NS_SEC +
	    (int64_t)t.us * 1000 + t.ns;
	ns = local[1] - (t.has_tz ? t.off_us * 1000 : 0);
	if (ns < 0) {
		ns += PK_PD_NS_DAY;
		days--;
	} else if (ns >= PK_PD_NS_DAY) {
		ns -= PK_PD_NS_DAY;
		days++;
	}
	if (pk_pd_join(days, ns, local, &v, &reso) < 0)
		return pk_enc_err(e,
		    "$pdtimestamp \"%.48s\" is beyond what pandas holds (in "
		    "UTC or in its local time)",
		    s);
	if ((rc = pk_enc_global(e, PK_G_PDTIMESTAMP)) || (rc = pk_op(e, '(')) ||
	    (rc = pk_enc_int(e, v)) || (rc = pk_op(e, 'N')) ||
	    (rc = t.has_tz ? pk_enc_timezone(e, t.off_us) : pk_op(e, 'N')) ||
	    (rc = pk_enc_int(e, reso)) || (rc = pk_op(e, 't')) ||
	    (rc = pk_memoize(e)))
		return rc;
	return pk_enc_reduce(e);
}

/* $pdtimedelta {"days", "seconds" (0 to 86399), "nanoseconds" (0 to
 * 999999999)}: _timedelta_unpickle(value, reso). */
static int
pk_enc_pdtimedelta(struct pk_enc *e, const json_t *in)
{
	const json_t *dj = json_object_get(in, "days"),
	             *sj = json_object_get(in, "seconds"),
	             *nj = json_object_get(in, "nanoseconds");
	int64_t sec = json_integer_value(sj), ns = json_integer_value(nj), v,
	        reso;
	int rc;

	if (!json_is_object(in) || json_object_size(in) != 3 ||
	    !json_is_integer(dj) || !json_is_integer(sj) ||
	    !json_is_integer(nj) || sec < 0 || sec >= 86400 || ns < 0 ||
	    ns >= PK_PD_NS_SEC)
		return pk_enc_err(e,
		    "$pdtimedelta needs integer \"days\", \"seconds\" (0 to "
		    "86399) and \"nanoseconds\" (0 to 999999999)");
	if (pk_pd_join(json_integer_value(dj), sec * PK_PD_NS_SEC + ns, NULL,
	        &v, &reso) < 0)
		return pk_enc_err(
		    e, "$pdtimedelta is beyond what pandas holds");
	if ((rc = pk_enc_global(e, PK_G_PDTIMEDELTA)) ||
	    (rc = pk_enc_int(e, v)) || (rc = pk_enc_int(e, reso)) ||
	    (rc = pk_enc_tuple(e, 2)))
		return rc;
	return pk_enc_reduce(e);
}

int
pk_enc_pandas(struct pk_enc *e, const char *tag, const json_t *in)
{
	if (strcmp(tag, "$pdtimestamp") == 0)
		return pk_enc_timestamp(e, in);
	return pk_enc_pdtimedelta(e, in);
}
