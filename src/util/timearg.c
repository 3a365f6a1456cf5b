/*
 * TIME arguments; see timearg.h.
 *
 * Dates are counted by hand rather than with timegm(), which would
 * normalise 2024-02-30 into March instead of refusing it.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "booklet.h"
#include "bltutil.h"

/* Parse a decimal number in [0, max]; 0 or -1. */
int
timearg_number(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	unsigned d;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		d = (unsigned)(*s - '0');
		if (v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* Exactly n digits at *sp, which moves past them. */
static int
timearg_digits(const char **sp, int n, int *out)
{
	const char *s = *sp;
	int v = 0;

	for (; n > 0; n--, s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
	}
	*sp = s;
	*out = v;
	return 0;
}

static int
timearg_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
timearg_month_days(int y, int m)
{
	static const int days[] = {
	    31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return days[m - 1] + (m == 2 && timearg_leap(y));
}

/* Days from 1970-01-01 to y-m-d (negative before). */
static int64_t
timearg_days(int y, int m, int d)
{
	int64_t days = 0;
	int i;

	for (i = 1970; i < y; i++)
		days += 365 + timearg_leap(i);
	for (i = y; i < 1970; i++)
		days -= 365 + timearg_leap(i);
	for (i = 1; i < m; i++)
		days += timearg_month_days(y, i);
	return days + d - 1;
}

/* An age such as 7d: 1 with *out set (or *why on failure), 0 when s is
 * not one. */
static int
timearg_age(const char *s, int64_t *out, const char **why)
{
	size_t n = strlen(s);
	int64_t unit, now;
	uint64_t v;
	char digits[32];

	if (n < 2 || n > sizeof digits || strspn(s, "0123456789") != n - 1 ||
	    strchr("smhdw", s[n - 1]) == NULL)
		return 0;
	unit = s[n - 1] == 's'   ? 1
	       : s[n - 1] == 'm' ? 60
	       : s[n - 1] == 'h' ? 3600
	       : s[n - 1] == 'd' ? 86400
	                         : 604800;
	memcpy(digits, s, n - 1);
	digits[n - 1] = '\0';
	now = blt_now();
	if (timearg_number(digits, UINT64_MAX, &v) < 0 ||
	    v > (uint64_t)(now / 1000000) / (uint64_t)unit) {
		*why = "an age before 1970";
		return 1;
	}
	*out = now - (int64_t)v * unit * 1000000;
	*why = NULL;
	return 1;
}

/* Parse TIME; NULL, or what is wrong. */
const char *
timearg_parse(const char *s, int flags, int64_t *out)
{
	const char *p = s, *why;
	int y, mo, d, h, mi, sec = 0, oh = 0, om = 0, sign = 0, nd;
	int64_t frac = 0, t;
	uint64_t v;

	if (strcmp(s, "now") == 0) {
		*out = blt_now();
		return NULL;
	}
	if ((flags & TIMEARG_AGE) && timearg_age(s, out, &why))
		return why;
	if (strspn(s, "0123456789") == strlen(s)) {
		if (timearg_number(s, BLT_TS_MAX, &v) < 0)
			return "out of range";
		*out = (int64_t)v;
		return NULL;
	}
	if (timearg_digits(&p, 4, &y) < 0 || *p++ != '-' ||
	    timearg_digits(&p, 2, &mo) < 0 || *p++ != '-' ||
	    timearg_digits(&p, 2, &d) < 0)
		goto syntax;
	if (*p == '\0')
		return "a date alone has no UTC offset";
	if (*p != 'T' && *p != 't' && *p != ' ')
		goto syntax;
	p++;
	if (timearg_digits(&p, 2, &h) < 0 || *p++ != ':' ||
	    timearg_digits(&p, 2, &mi) < 0)
		goto syntax;
	if (*p == ':') {
		p++;
		if (timearg_digits(&p, 2, &sec) < 0)
			goto syntax;
		if (*p == '.' || *p == ',') {
			for (p++, nd = 0; *p >= '0' && *p <= '9'; p++, nd++)
				if (nd < 6)
					frac = frac * 10 + (*p - '0');
			if (nd == 0)
				goto syntax;
			for (; nd < 6; nd++)
				frac *= 10;
		}
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p++ == '-' ? -1 : 1;
		if (timearg_digits(&p, 2, &oh) < 0)
			goto syntax;
		if (*p == ':')
			p++;
		if (timearg_digits(&p, 2, &om) < 0)
			goto syntax;
	} else if (*p == '\0') {
		return "no UTC offset (add Z or +HH:MM)";
	} else
		goto syntax;
	if (*p != '\0')
		goto syntax;
	if (y < 1 || mo < 1 || mo > 12 || d < 1 ||
	    d > timearg_month_days(y, mo) || h > 23 || mi > 59 || sec > 59 ||
	    oh > 23 || om > 59)
		return "no such date or time";
	t = ((timearg_days(y, mo, d) * 24 + h) * 60 + mi) * 60 + sec -
	    sign * (oh * 3600 + om * 60);
	if (t < 0 || t > BLT_TS_MAX / 1000000)
		return "out of range";
	t = t * 1000000 + frac;
	if (t > BLT_TS_MAX)
		return "out of range";
	*out = t;
	return NULL;
syntax:
	if (flags & TIMEARG_AGE)
		return "expected microseconds, an age such as 7d, or ISO-8601 "
		       "such as 2024-01-02T03:04:05Z";
	return "expected microseconds or ISO-8601 such as "
	       "2024-01-02T03:04:05.123456Z";
}

/* Write ts (µs) as ISO-8601 in UTC. */
void
timearg_format(int64_t ts, char *buf, size_t n)
{
	time_t secs = (time_t)(ts / 1000000);
	struct tm tm;

	if (gmtime_r(&secs, &tm) == NULL) {
		snprintf(buf, n, "%" PRId64, ts);
		return;
	}
	snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, (int)(ts % 1000000));
}
