/*
 * The encoder's half of Python's everyday types (doc/values.md): the
 * tags $datetime, $date, $time, $timedelta, $timezone, $decimal, $uuid,
 * $complex, $odict, $counter, $defaultdict, $deque, $ndarray and
 * $npscalar written as CPython's pickle.dumps(obj, 5) writes those
 * objects, with numpy arrays as numpy 1 and 2 both read them
 * (numpy.core.numeric._frombuffer).  Globals, module names and numpy
 * dtypes are memoized and shared as CPython shares those objects, so
 * that a value decoded and encoded back is its bytes again.
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

/* The globals this file writes: their table index keys the memo. */
static const struct {
	const char *module, *name;
} pk_globals[] = {
    {"datetime", "datetime"},
    {"datetime", "date"},
    {"datetime", "time"},
    {"datetime", "timedelta"},
    {"datetime", "timezone"},
    {"decimal", "Decimal"},
    {"uuid", "UUID"},
    {"builtins", "complex"},
    {"collections", "OrderedDict"},
    {"collections", "Counter"},
    {"collections", "defaultdict"},
    {"collections", "deque"},
    {"numpy.core.numeric", "_frombuffer"},
    {"numpy.core.multiarray", "scalar"},
    {"numpy", "dtype"},
    {"pandas._libs.tslibs.timestamps", "_unpickle_timestamp"},
    {"pandas._libs.tslibs.timedeltas", "_timedelta_unpickle"},
    {"pandas._libs.tslibs.nattype", "__nat_unpickle"},
    /* a defaultdict's factories */
    {"builtins", "list"},
    {"builtins", "dict"},
    {"builtins", "set"},
    {"builtins", "frozenset"},
    {"builtins", "int"},
    {"builtins", "str"},
    {"builtins", "float"},
    {"builtins", "tuple"},
    {"builtins", "bool"},
    {"builtins", "bytes"},
    {"builtins", "bytearray"},
};

/* Global i as STACK_GLOBAL, or a GET of it written before; its module's
 * name shared as Python shares the module's __name__. */
int
pk_enc_global(struct pk_enc *e, size_t i)
{
	const char *m = pk_globals[i].module;
	size_t mi = i;
	int rc;

	if (e->global[i])
		return pk_memo_ref(e, e->global[i] - 1);
	for (size_t k = 0; k < i; k++)
		if (strcmp(pk_globals[k].module, m) == 0) {
			mi = k;
			break;
		}
	if (e->modules[mi])
		rc = pk_memo_ref(e, e->modules[mi] - 1);
	else if ((rc = pk_payload(e, 0x8c, strlen(m), 1, m)) == 0 &&
	         (rc = pk_memoize(e)) == 0)
		e->modules[mi] = e->memo;
	if (rc != 0 ||
	    (rc = pk_payload(e, 0x8c, strlen(pk_globals[i].name), 1,
	         pk_globals[i].name)) != 0 ||
	    (rc = pk_memoize(e)) != 0 || (rc = pk_op(e, 0x93)) != 0 ||
	    (rc = pk_memoize(e)) != 0)
		return rc;
	e->global[i] = e->memo;
	return 0;
}

/* TUPLEn of the n items just written, memoized (n of 1 to 3). */
int
pk_enc_tuple(struct pk_enc *e, unsigned n)
{
	int rc = pk_op(e, (unsigned char)(0x84 + n));

	return rc ? rc : pk_memoize(e);
}

/* REDUCE, memoized. */
int
pk_enc_reduce(struct pk_enc *e)
{
	int rc = pk_op(e, 'R');

	return rc ? rc : pk_memoize(e);
}

/* Bytes as CPython saves them: SHORT_BINBYTES, BINBYTES or BINBYTES8,
 * memoized; CPython shares b"", so a repeat of it is a GET. */
int
pk_enc_bytes(struct pk_enc *e, const void *p, size_t n)
{
	int rc;

	if (n == 0 && e->bytes0)
		return pk_memo_ref(e, e->bytes0 - 1);
	if (n == 0)
		e->bytes0 = e->memo + 1;
	if (n <= 0xff)
		rc = pk_payload(e, 'C', n, 1, p);
	else if ((uint64_t)n > 0xffffffffu)
		rc = pk_payload(e, 0x8e, n, 8, p);
	else
		rc = pk_payload(e, 'B', n, 4, p);
	return rc ? rc : pk_memoize(e);
}

/* The text of a tag's payload, or an error naming tag. */
static const char *
pk_enc_text(struct pk_enc *e, const json_t *in, const char *tag, int *rc)
{
	if (!json_is_string(in)) {
		*rc = pk_enc_err(e, "%s needs a string", tag);
		return NULL;
	}
	*rc = 0;
	return json_string_value(in);
}

/* datetime.timezone(timedelta(0, seconds, µs)) of offset off. */
int
pk_enc_timezone(struct pk_enc *e, int64_t off)
{
	int64_t days = off < 0 ? -1 : 0, rest = off - days * VALUE_DAY_US;
	int rc;

	if ((rc = pk_enc_global(e, PK_G_TIMEZONE)) ||
	    (rc = pk_enc_global(e, PK_G_TIMEDELTA)) ||
	    (rc = pk_enc_int(e, days)) ||
	    (rc = pk_enc_int(e, rest / 1000000)) ||
	    (rc = pk_enc_int(e, rest % 1000000)) || (rc = pk_enc_tuple(e, 3)) ||
	    (rc = pk_enc_reduce(e)) || (rc = pk_enc_tuple(e, 1)))
		return rc;
	return pk_enc_reduce(e);
}

/* $datetime, $date, $time: the state bytes of the fields, then its
 * timezone. */
static int
pk_enc_dt(struct pk_enc *e, const char *tag, const json_t *in, int kind)
{
	static const size_t g[] = {[VALUE_DT_DATETIME] = PK_G_DATETIME,
	    [VALUE_DT_DATE] = PK_G_DATE,
	    [VALUE_DT_TIME] = PK_G_TIME};
	unsigned char b[10];
	const char *s;
	struct value_dt t;
	size_t n = 0;
	int rc;

	if ((s = pk_enc_text(e, in, tag, &rc)) == NULL)
		return rc;
	if (value_dt_parse(s, json_string_length(in), kind, &t) < 0)
		return pk_enc_err(e,
		    "%s \"%.60s\" is not ISO 8601 as "
		    "isoformat() writes it, or out of range",
		    tag, s);
	if (t.has_date) {
		b[n++] = (unsigned char)(t.year >> 8);
		b[n++] = (unsigned char)t.year;
		b[n++] = (unsigned char)t.month;
		b[n++] = (unsigned char)t.day;
	}
	if (t.has_time) {
		b[n++] = (unsigned char)t.hour;
		b[n++] = (unsigned char)t.minute;
		b[n++] = (unsigned char)t.second;
		b[n++] = (unsigned char)(t.us >> 16);
		b[n++] = (unsigned char)(t.us >> 8);
		b[n++] = (unsigned char)t.us;
	}
	if ((rc = pk_enc_global(e, g[kind])) || (rc = pk_enc_bytes(e, b, n)))
		return rc;
	if (t.has_tz && (rc = pk_enc_timezone(e, t.off_us)) != 0)
		return rc;
	if ((rc = pk_enc_tuple(e, t.has_tz ? 2 : 1)) != 0)
		return rc;
	return pk_enc_reduce(e);
}

/* $timedelta {"days", "seconds", "microseconds"}: any ints, normalized as
 * timedelta() normalizes them. */
static int
pk_enc_timedelta(struct pk_enc *e, const json_t *in)
{
	const json_t *d = json_object_get(in, "days"),
	             *s = json_object_get(in, "seconds"),
	             *us = json_object_get(in, "microseconds");
	int64_t v[3], days, sec, mic;
	int rc;

	if (!json_is_object(in) || json_object_size(in) != 3 ||
	    !json_is_integer(d) || !json_is_integer(s) || !json_is_integer(us))
		return pk_enc_err(e, "$timedelta needs integer \"days\", "
		                     "\"seconds\" and \"microseconds\"");
	v[0] = json_integer_value(d);
	v[1] = json_integer_value(s);
	v[2] = json_integer_value(us);
	if (value_td_normalize(v, &days, &sec, &mic) < 0)
		return pk_enc_err(e, "$timedelta is out of range (at most "
		                     "999999999 days either way)");
	if ((rc = pk_enc_global(e, PK_G_TIMEDELTA)) ||
	    (rc = pk_enc_int(e, days)) || (rc = pk_enc_int(e, sec)) ||
	    (rc = pk_enc_int(e, mic)) || (rc = pk_enc_tuple(e, 3)))
		return rc;
	return pk_enc_reduce(e);
}

/* $uuid: the hex digits of 128 bits, as an int in a state dict. */
static int
pk_enc_uuid(struct pk_enc *e, const json_t *in)
{
	unsigned char b[17] = {0};
	const char *s;
	size_t nb = 17;
	int rc;

	if ((s = pk_enc_text(e, in, "$uuid", &rc)) == NULL)
		return rc;
	if (value_uuid_parse(s, json_string_length(in), b) < 0)
		return pk_enc_err(e,
		    "$uuid \"%.60s\" is not 32 hex digits as "
		    "str(uuid) writes them",
		    s);
	/* as pickle's encode_long: little-endian, a sign byte when the top
	 * bit is set, the fewest bytes otherwise */
	while (nb > 1 && b[nb - 1] == 0 && !(b[nb - 2] & 0x80))
		nb--;
	if ((rc = pk_enc_global(e, PK_G_UUID)) || (rc = pk_op(e, ')')) ||
	    (rc = pk_op(e, 0x81)) || (rc = pk_memoize(e)) ||
	    (rc = pk_op(e, '}')) || (rc = pk_memoize(e)))
		return rc;
	if (e->uuid_int)
		rc = pk_memo_ref(e, e->uuid_int - 1);
	else if ((rc = pk_enc_str(e, "int", 3)) == 0)
		e->uuid_int = e->memo;
	if (rc)
		return rc;
	if (nb <= 4) { /* up to 2**31 - 1: K, M or J */
		uint32_t v = 0;

		for (size_t i = 0; i < nb; i++)
			v |= (uint32_t)b[i] << (8 * i);
		rc = pk_enc_int(e, v);
	} else
		rc = pk_payload(e, 0x8a, nb, 1, b);
	if (rc || (rc = pk_op(e, 's')))
		return rc;
	return pk_op(e, 'b');
}

/* A JSON number or a $float tag as a double, or -1. */
static int
pk_enc_real(const json_t *v, double *d)
{
	const char *t;

	if (json_is_number(v)) {
		*d = json_number_value(v);
		return 0;
	}
	if (value_tag(v, (json_t **)&v) != VALUE_TAG_FLOAT ||
	    (t = json_string_value(v)) == NULL)
		return -1;
	*d = strcmp(t, "nan") == 0   ? NAN
	     : strcmp(t, "inf") == 0 ? INFINITY
	                             : -INFINITY;
	return 0;
}

/* $complex [real, imaginary]. */
static int
pk_enc_complex(struct pk_enc *e, const json_t *in)
{
	double re, im;
	int rc;

	if (!json_is_array(in) || json_array_size(in) != 2 ||
	    pk_enc_real(json_array_get(in, 0), &re) < 0 ||
	    pk_enc_real(json_array_get(in, 1), &im) < 0)
		return pk_enc_err(e, "$complex needs [real, imaginary]");
	if ((rc = pk_enc_global(e, PK_G_COMPLEX)) ||
	    (rc = pk_enc_float(e, re)) || (rc = pk_enc_float(e, im)) ||
	    (rc = pk_enc_tuple(e, 2)))
		return rc;
	return pk_enc_reduce(e);
}

/* $defaultdict [factory, dict]: factory a builtin type's name, a
 * collections class's, or null. */
static int
pk_enc_defaultdict(struct pk_enc *e, const json_t *in, int depth)
{
	const json_t *f = json_array_get(in, 0);
	size_t g = SIZE_MAX;
	const char *name = json_string_value(f);
	int rc;

	if (!json_is_array(in) || json_array_size(in) != 2)
		return pk_enc_err(e, "$defaultdict needs [factory, dict]");
	for (size_t i = PK_G_FACTORIES;
	     name != NULL && i < sizeof pk_globals / sizeof pk_globals[0]; i++)
		if (strcmp(pk_globals[i].name, name) == 0)
			g = i;
	if (name != NULL && strncmp(name, "collections.", 12) == 0)
		for (size_t i = PK_G_ODICT; i <= PK_G_DEQUE; i++)
			if (i != PK_G_DEFAULTDICT &&
			    strcmp(pk_globals[i].name, name + 12) == 0)
				g = i;
	if (!json_is_null(f) && g == SIZE_MAX)
		return pk_enc_err(e,
		    "$defaultdict's factory is null, a builtin type (\"list\", "
		    "\"int\" ...) or \"collections.Counter\", \"OrderedDict\" "
		    "or \"deque\"");
	if ((rc = pk_enc_global(e, PK_G_DEFAULTDICT)) != 0)
		return rc;
	if (g == SIZE_MAX)
		rc = pk_op(e, ')');
	else if ((rc = pk_enc_global(e, g)) == 0)
		rc = pk_enc_tuple(e, 1);
	if (rc || (rc = pk_enc_reduce(e)))
		return rc;
	return pk_enc_dict_items(e, json_array_get(in, 1), depth);
}

/* $deque [items] or {"maxlen": n, "items": [...]}. */
static int
pk_enc_deque(struct pk_enc *e, const json_t *in, int depth)
{
	const json_t *items = in, *maxlen = NULL;
	size_t n;
	int rc;

	if (json_is_object(in)) {
		items = json_object_get(in, "items");
		maxlen = json_object_get(in, "maxlen");
		if (json_object_size(in) != 2 || !json_is_integer(maxlen) ||
		    json_integer_value(maxlen) < 0)
			return pk_enc_err(e, "$deque needs an array, or "
			                     "\"maxlen\" and \"items\"");
	}
	if (!json_is_array(items))
		return pk_enc_err(e, "$deque needs an array of items");
	n = json_array_size(items);
	if (maxlen != NULL && (json_int_t)n > json_integer_value(maxlen))
		return pk_enc_err(e, "$deque holds more items than its maxlen");
	if ((rc = pk_enc_global(e, PK_G_DEQUE)) || (rc = pk_op(e, ')')))
		return rc;
	if (maxlen != NULL &&
	    ((rc = pk_enc_int(e, json_integer_value(maxlen))) ||
	        (rc = pk_enc_tuple(e, 2))))
		return rc;
	if ((rc = pk_enc_reduce(e)) != 0 || n == 0)
		return rc;
	if (n == 1) {
		size_t old = pk_path_push(e, NULL, 0);

		if ((rc = pk_enc_value(
		         e, json_array_get(items, 0), depth + 1)) ||
		    (rc = pk_op(e, 'a')))
			return rc;
		pk_path_pop(e, old);
		return 0;
	}
	return pk_enc_batches(e, items, n, 0, 'e', depth + 1, 0);
}

int
pk_enc_object(struct pk_enc *e, const char *tag, const json_t *in, int depth)
{
	int rc;

	if (strcmp(tag, "$datetime") == 0)
		return pk_enc_dt(e, tag, in, VALUE_DT_DATETIME);
	if (strcmp(tag, "$date") == 0)
		return pk_enc_dt(e, tag, in, VALUE_DT_DATE);
	if (strcmp(tag, "$time") == 0)
		return pk_enc_dt(e, tag, in, VALUE_DT_TIME);
	if (strcmp(tag, "$timezone") == 0) {
		const char *s = pk_enc_text(e, in, tag, &rc);
		int64_t off;

		if (s == NULL)
			return rc;
		if (value_offset_parse(s, json_string_length(in), &off) < 0)
			return pk_enc_err(e,
			    "$timezone \"%.40s\" is not a UTC "
			    "offset (+HH:MM) within a day",
			    s);
		return pk_enc_timezone(e, off);
	}
	if (strcmp(tag, "$timedelta") == 0)
		return pk_enc_timedelta(e, in);
	if (strcmp(tag, "$decimal") == 0) {
		const char *s = pk_enc_text(e, in, tag, &rc);

		if (s == NULL)
			return rc;
		if ((rc = value_decimal_text(s, json_string_length(in))) == 0)
			return pk_enc_err(e,
			    "$decimal \"%.40s\" is not a "
			    "Decimal as str() writes it",
			    s);
		if (rc == VALUE_DECIMAL_RANGE)
			return pk_enc_err(e,
			    "$decimal \"%.40s\" has an exponent outside "
			    "Python's range (Decimal() raises "
			    "InvalidOperation)",
			    s);
		if ((rc = pk_enc_global(e, PK_G_DECIMAL)) ||
		    (rc = pk_enc_str(e, s, json_string_length(in))) ||
		    (rc = pk_enc_tuple(e, 1)))
			return rc;
		return pk_enc_reduce(e);
	}
	if (strcmp(tag, "$uuid") == 0)
		return pk_enc_uuid(e, in);
	if (strcmp(tag, "$complex") == 0)
		return pk_enc_complex(e, in);
	if (strcmp(tag, "$odict") == 0) {
		if ((rc = pk_enc_global(e, PK_G_ODICT)) ||
		    (rc = pk_op(e, ')')) || (rc = pk_enc_reduce(e)))
			return rc;
		return pk_enc_dict_items(e, in, depth);
	}
	if (strcmp(tag, "$counter") == 0) {
		if ((rc = pk_enc_global(e, PK_G_COUNTER)) ||
		    (rc = pk_op(e, '}')) || (rc = pk_memoize(e)) ||
		    (rc = pk_enc_dict_items(e, in, depth)) ||
		    (rc = pk_enc_tuple(e, 1)))
			return rc;
		return pk_enc_reduce(e);
	}
	if (strcmp(tag, "$defaultdict") == 0)
		return pk_enc_defaultdict(e, in, depth);
	if (strcmp(tag, "$deque") == 0)
		return pk_enc_deque(e, in, depth);
	if (strcmp(tag, "$ndarray") == 0 || strcmp(tag, "$npscalar") == 0)
		return pk_enc_numpy(e, tag, in, depth);
	if (strcmp(tag, "$pdtimestamp") == 0 ||
	    strcmp(tag, "$pdtimedelta") == 0)
		return pk_enc_pandas(e, tag, in);
	return 1;
}
