/*
 * The text forms of Python's everyday scalars (doc/values.md): the ISO
 * 8601 forms Python's isoformat() writes for datetime, date and time,
 * with a UTC offset as timezone.utcoffset() gives it; a timedelta's
 * normal form; a Decimal as str() writes it; a UUID's hex; and a pandas
 * Timestamp's ISO form, which may have nanoseconds.  The pickle
 * decoder writes them, the text reader checks them, and the encoder
 * reads them to write the pickle again.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "value-int.h"

int
value_days_in_month(int year, int month)
{
	static const int days[] = {
	    31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (month == 2 && year % 4 == 0 && (year % 100 != 0 || year % 400 == 0))
		return 29;
	return days[month - 1];
}

/* Days from 1970-01-01 to year-month-day of the proleptic Gregorian
 * calendar, and back (the eras of 400 years, 146097 days each). */
int64_t
value_days_from_civil(int year, int month, int day)
{
	int64_t y = year - (month <= 2), era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400, mp = (month + 9) % 12;
	int64_t doy = (153 * mp + 2) / 5 + day - 1;

	return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

void
value_civil_from_days(int64_t z, int *year, int *month, int *day)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*day = (int)(doy - (153 * mp + 2) / 5 + 1);
	*month = (int)(mp < 10 ? mp + 3 : mp - 9);
	*year = (int)(yoe + era * 400 + (*month <= 2));
}

/* The fields are in range: a date of years 1 to 9999, a time of day, an
 * offset strictly within a day, as Python's constructors require. */
int
value_dt_valid(const struct value_dt *t)
{
	if (t->has_date &&
	    (t->year < 1 || t->year > 9999 || t->month < 1 || t->month > 12 ||
	        t->day < 1 || t->day > value_days_in_month(t->year, t->month)))
		return 0;
	if (t->has_time &&
	    (t->hour < 0 || t->hour > 23 || t->minute < 0 || t->minute > 59 ||
	        t->second < 0 || t->second > 59 || t->us < 0 ||
	        t->us > 999999 || t->ns < 0 || t->ns > 999))
		return 0;
	return !t->has_tz ||
	       (t->off_us > -VALUE_DAY_US && t->off_us < VALUE_DAY_US);
}

/* "+HH:MM", then ":SS" and ".ffffff" where they are not 0, as Python
 * writes a UTC offset. */
static size_t
value_dt_offset(int64_t off, char *buf, size_t cap)
{
	char sign = off < 0 ? '-' : '+';
	int64_t a = off < 0 ? -off : off, s = a / 1000000;
	size_t n;

	n = (size_t)snprintf(
	    buf, cap, "%c%02d:%02d", sign, (int)(s / 3600), (int)(s / 60 % 60));
	if (a % 60000000 != 0 && n < cap)
		n += (size_t)snprintf(buf + n, cap - n, ":%02d", (int)(s % 60));
	if (a % 1000000 != 0 && n < cap)
		n += (size_t)snprintf(
		    buf + n, cap - n, ".%06d", (int)(a % 1000000));
	return n;
}

/* t as Python's isoformat() writes it, into buf (at least 48 bytes);
 * returns its length. */
size_t
value_dt_format(const struct value_dt *t, char *buf, size_t cap)
{
	size_t n = 0;

	if (t->has_date)
		n += (size_t)snprintf(
		    buf, cap, "%04d-%02d-%02d", t->year, t->month, t->day);
	if (t->has_date && t->has_time && n < cap)
		buf[n++] = 'T';
	if (t->has_time && n < cap) {
		n += (size_t)snprintf(buf + n, cap - n, "%02d:%02d:%02d",
		    t->hour, t->minute, t->second);
		if (t->ns != 0 && n < cap) /* pandas' nine digits */
			n += (size_t)snprintf(
			    buf + n, cap - n, ".%06d%03d", t->us, t->ns);
		else if (t->us != 0 && n < cap)
			n += (size_t)snprintf(buf + n, cap - n, ".%06d", t->us);
	}
	if (t->has_tz && n < cap)
		n += value_dt_offset(t->off_us, buf + n, cap - n);
	if (n >= cap)
		n = cap - 1;
	buf[n] = '\0';
	return n;
}

/* Read width digits at *p into *v. */
static int
value_dt_digits(const char **p, const char *end, int width, int *v)
{
	*v = 0;
	if (end - *p < width)
		return -1;
	for (int i = 0; i < width; i++, (*p)++) {
		if (**p < '0' || **p > '9')
			return -1;
		*v = *v * 10 + (**p - '0');
	}
	return 0;
}

/* Read ':' or the character c at *p. */
static int
value_dt_char(const char **p, const char *end, char c)
{
	if (*p >= end || **p != c)
		return -1;
	(*p)++;
	return 0;
}

/* A fraction of 1 to 9 digits after '.', as microseconds and the
 * nanoseconds past them. */
static int
value_dt_fraction(const char **p, const char *end, int *us, int *ns)
{
	int n = 0, v = 0;

	*us = *ns = 0;
	if (*p >= end || **p != '.')
		return 0;
	(*p)++;
	while (*p < end && **p >= '0' && **p <= '9' && n < 9) {
		v = v * 10 + (**p - '0');
		(*p)++;
		n++;
	}
	if (n == 0)
		return -1;
	for (; n < 9; n++)
		v *= 10;
	*us = v / 1000;
	*ns = v % 1000;
	return 0;
}

/* HH:MM:SS[.f] at *p. */
static int
value_dt_clock(const char **p, const char *end, struct value_dt *t)
{
	if (value_dt_digits(p, end, 2, &t->hour) < 0 ||
	    value_dt_char(p, end, ':') < 0 ||
	    value_dt_digits(p, end, 2, &t->minute) < 0 ||
	    value_dt_char(p, end, ':') < 0 ||
	    value_dt_digits(p, end, 2, &t->second) < 0)
		return -1;
	return value_dt_fraction(p, end, &t->us, &t->ns);
}

/* An offset at *p: "Z", or +HH:MM[:SS[.f]]. */
static int
value_dt_zone(const char **p, const char *end, struct value_dt *t)
{
	int sign, h, m, s = 0, us = 0, ns = 0;

	if (*p == end)
		return 0;
	t->has_tz = 1;
	if (**p == 'Z') {
		(*p)++;
		t->off_us = 0;
		return 0;
	}
	if (**p != '+' && **p != '-')
		return -1;
	sign = **p == '-' ? -1 : 1;
	(*p)++;
	if (value_dt_digits(p, end, 2, &h) < 0 ||
	    value_dt_char(p, end, ':') < 0 ||
	    value_dt_digits(p, end, 2, &m) < 0 || m > 59)
		return -1;
	if (*p < end && **p == ':') {
		(*p)++;
		if (value_dt_digits(p, end, 2, &s) < 0 || s > 59 ||
		    value_dt_fraction(p, end, &us, &ns) < 0 || ns != 0)
			return -1;
	}
	t->off_us = sign * (((int64_t)h * 3600 + m * 60 + s) * 1000000 + us);
	return 0;
}

/* Parse the n bytes at s as kind's ISO form (VALUE_DT_DATETIME: date
 * 'T' time [offset]; VALUE_DT_DATE; VALUE_DT_TIME: time [offset];
 * VALUE_DT_TIMESTAMP: a datetime whose fraction may have 9 digits): what
 * value_dt_format() writes, with a fraction of 1 to 6 digits (9) and "Z"
 * for +00:00 taken too.  0, or -EINVAL for anything else or out of
 * range. */
int
value_dt_parse(const char *s, size_t n, int kind, struct value_dt *t)
{
	const char *p = s, *end = s + n;

	memset(t, 0, sizeof *t);
	t->has_date = kind != VALUE_DT_TIME;
	t->has_time = kind != VALUE_DT_DATE;
	if (t->has_date && (value_dt_digits(&p, end, 4, &t->year) < 0 ||
	                       value_dt_char(&p, end, '-') < 0 ||
	                       value_dt_digits(&p, end, 2, &t->month) < 0 ||
	                       value_dt_char(&p, end, '-') < 0 ||
	                       value_dt_digits(&p, end, 2, &t->day) < 0))
		return -EINVAL;
	if (t->has_date && t->has_time && value_dt_char(&p, end, 'T') < 0)
		return -EINVAL;
	if (t->has_time &&
	    (value_dt_clock(&p, end, t) < 0 || value_dt_zone(&p, end, t) < 0))
		return -EINVAL;
	if (t->ns != 0 && kind != VALUE_DT_TIMESTAMP)
		return -EINVAL;
	return p == end && value_dt_valid(t) ? 0 : -EINVAL;
}

/* The offset at s (n bytes): "+HH:MM[:SS[.f]]" or "Z", strictly within a
 * day, into *off in microseconds: 0 or -EINVAL. */
int
value_offset_parse(const char *s, size_t n, int64_t *off)
{
	const char *p = s;
	struct value_dt t;

	memset(&t, 0, sizeof t);
	if (n == 0 || value_dt_zone(&p, s + n, &t) < 0 || p != s + n ||
	    !value_dt_valid(&t))
		return -EINVAL;
	*off = t.off_us;
	return 0;
}

/* days, seconds, microseconds (v) in timedelta's normal form: seconds
 * from 0 to 86399, microseconds from 0 to 999999, days within
 * 999999999 either way; 0, or -EINVAL out of range. */
int
value_td_normalize(const int64_t v[3], int64_t *days, int64_t *sec, int64_t *us)
{
	const int64_t lim = (int64_t)1 << 40; /* beyond any valid part */
	int64_t s, u;

	for (int i = 0; i < 3; i++)
		if (v[i] > lim * 1000000 || v[i] < -lim * 1000000)
			return -EINVAL;
	u = v[2] % 1000000;
	s = v[1] + v[2] / 1000000;
	if (u < 0) {
		u += 1000000;
		s--;
	}
	*us = u;
	*days = v[0] + s / 86400;
	s %= 86400;
	if (s < 0) {
		s += 86400;
		(*days)--;
	}
	*sec = s;
	return *days < -999999999 || *days > 999999999 ? -EINVAL : 0;
}

/* A UUID's text, 32 hex digits with hyphens after the 8th, 12th, 16th
 * and 20th (as str() writes it; capitals taken), into 16 bytes of its
 * int, little-endian: 0 or -EINVAL. */
int
value_uuid_parse(const char *s, size_t n, unsigned char b[16])
{
	int nib = 0;

	if (n != 36)
		return -EINVAL;
	memset(b, 0, 16);
	for (size_t i = 0; i < n; i++) {
		int v;

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return -EINVAL;
			continue;
		}
		if (s[i] >= '0' && s[i] <= '9')
			v = s[i] - '0';
		else if (s[i] >= 'a' && s[i] <= 'f')
			v = s[i] - 'a' + 10;
		else if (s[i] >= 'A' && s[i] <= 'F')
			v = s[i] - 'A' + 10;
		else
			return -EINVAL;
		/* nibble nib from the top: byte 15 - nib / 2 */
		b[15 - nib / 2] |= (unsigned char)(nib % 2 ? v : v << 4);
		nib++;
	}
	return 0;
}

/* Python's decimal on 64 bits: MAX_EMAX, and MIN_ETINY (MIN_EMIN less
 * MAX_PREC - 1). */
#define VALUE_DECIMAL_EMAX INT64_C(999999999999999999)
#define VALUE_DECIMAL_ETINY INT64_C(-1999999999999999997)

/* The text of a Decimal as Python's str() writes it: a sign, then
 * Infinity, NaN or sNaN with digits, or digits with a point and an
 * exponent E+n or E-n.  Decimal() takes it if the exponent of its last
 * digit is not below MIN_ETINY and that of its first not above MAX_EMAX:
 * 1; 0 for other text; VALUE_DECIMAL_RANGE for an exponent past those. */
int
value_decimal_text(const char *s, size_t n)
{
	size_t i = 0, k, frac = 0, sig = 0, lead = 1;
	int64_t e = 0, exp;
	int neg = 0;

	if (n > VALUE_DECIMAL_MAX)
		return 0;
	if (i < n && s[i] == '-')
		i++;
	if (n - i == 8 && memcmp(s + i, "Infinity", 8) == 0)
		return 1;
	if (n - i >= 3 && memcmp(s + i, "NaN", 3) == 0)
		return strspn(s + i + 3, "0123456789") >= n - i - 3 &&
		       (n - i == 3 || s[i + 3] != '0');
	if (n - i >= 4 && memcmp(s + i, "sNaN", 4) == 0)
		return strspn(s + i + 4, "0123456789") >= n - i - 4 &&
		       (n - i == 4 || s[i + 4] != '0');
	/* the coefficient: its significant digits, its leading zeros aside,
	 * and those after the point */
	for (k = i; i < n && ((s[i] >= '0' && s[i] <= '9') ||
	                         (s[i] == '.' && !frac && i > k));
	     i++) {
		if (s[i] == '.') {
			frac = 1;
			continue;
		}
		frac += frac != 0;
		lead &= s[i] == '0';
		sig += !lead;
	}
	frac -= frac != 0;
	if (i == k || s[i - 1] == '.' ||
	    (s[k] == '0' && k + 1 < i && s[k + 1] != '.'))
		return 0;
	if (i < n && s[i] == 'E') {
		if (++i == n || (s[i] != '+' && s[i] != '-'))
			return 0;
		neg = s[i] == '-';
		k = ++i;
		/* held at 4e18 past that: out of range either way, as the
		 * coefficient's digits are at most VALUE_DECIMAL_MAX */
		for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			e = e < INT64_C(400000000000000000)
			        ? e * 10 + (s[i] - '0')
			        : INT64_C(4000000000000000000);
		if (i == k || (s[k] == '0' && i - k > 1))
			return 0;
	}
	if (i != n)
		return 0;
	exp = (neg ? -e : e) - (int64_t)frac;
	return exp >= VALUE_DECIMAL_ETINY &&
	               exp + (int64_t)(sig ? sig : 1) - 1 <= VALUE_DECIMAL_EMAX
	           ? 1
	           : VALUE_DECIMAL_RANGE;
}
