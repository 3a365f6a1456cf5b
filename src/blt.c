/*
 * blt: the command-line tool over libbooklet, for scripts and for people.
 *
 * main() finds the command in cli_cmds[], cli_getopt() parses its options
 * into one struct cli, and the command talks to the store through the
 * public API of booklet.h only.  Every outcome maps to an exit status:
 * 0 for success, 1 for a missing key or for problems found by check, 2 for
 * usage errors and every other failure, each with one line on stderr
 * ("blt: STORE: cause", the cause from blt_errmsg()).
 *
 * Keys cross the command line in one of four spellings: verbatim bytes,
 * decimal numbers for the integer serializers (codes 6..15), hex with
 * --hex, or the backslash escapes that ls prints with --escaped.
 * cli_key() reads them; cli_key_show() writes them.  dump and load share a
 * JSON Lines format (one object per item) whose reader, cli_json_*, decodes
 * in place in the line buffer so a large value costs no extra copy.
 *
 * Static names take the prefix cli_ because blt_ is the library's public
 * namespace.  doc/blt.1 documents every choice made here.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "booklet.h"

#define CLI_OK 0
#define CLI_MISSING 1 /* a missing key, or check found problems */
#define CLI_ERROR 2   /* bad usage and every other failure */

#define CLI_CHUNK 65536   /* bytes per read of a value for get */
#define CLI_JSON_DEPTH 64 /* deepest nesting load skips over */

/* Which options a command accepts. */
#define CLI_O_TIMEOUT 0x001
#define CLI_O_HEX 0x002
#define CLI_O_ESCAPED 0x004
#define CLI_O_MAKE                                                             \
	0x008 /* creation options: --fixed ... --value-serializer              \
	       */
#define CLI_O_CREATE 0x010
#define CLI_O_FORCE 0x020
#define CLI_O_TIMESTAMP 0x040
#define CLI_O_PRUNE 0x080 /* --older-than, --keep */
#define CLI_O_BUCKETS 0x100
#define CLI_O_REPAIR 0x200
#define CLI_O_LIST 0x400 /* -0, -l */

/* getopt values of the options without a short form. */
enum {
	CLI_L_TIMEOUT = 256,
	CLI_L_FIXED,
	CLI_L_NO_TS,
	CLI_L_BUCKETS,
	CLI_L_KEY_SER,
	CLI_L_VALUE_SER,
	CLI_L_TIMESTAMP,
	CLI_L_OLDER,
	CLI_L_KEEP,
	CLI_L_REPAIR
};

struct cli;

struct cli_cmd {
	const char *name;
	int (*run)(struct cli *);
	int opts;     /* CLI_O_* */
	int min_args; /* operands, STORE included */
	int max_args;
	const char *help; /* see cli_help_create */
};

/* One invocation: the parsed command line and the open store. */
struct cli {
	const struct cli_cmd *cmd;
	char **args; /* operands; args[0] is the store */
	int nargs;
	const char *store;

	double timeout;
	int hex;
	int escaped;
	int nul;
	int longfmt;
	int force;
	int create;
	int repair;
	int have_ts;
	int64_t ts;
	int have_older;
	int64_t older;
	char **keep;
	size_t n_keep;
	int have_buckets;
	uint32_t buckets;
	struct blt_options make; /* for create and load --create */
	int make_set;            /* a creation option was given */
	int value_ser_set;

	struct blt *db;
	struct blt_stat st;
	int have_st;
};

static const struct option cli_longopts[] = {
    {"help", no_argument, NULL, 'h'},
    {"hex", no_argument, NULL, 'x'},
    {"escaped", no_argument, NULL, 'e'},
    {"null", no_argument, NULL, '0'},
    {"long", no_argument, NULL, 'l'},
    {"force", no_argument, NULL, 'f'},
    {"create", no_argument, NULL, 'c'},
    {"timeout", required_argument, NULL, CLI_L_TIMEOUT},
    {"fixed", required_argument, NULL, CLI_L_FIXED},
    {"no-timestamps", no_argument, NULL, CLI_L_NO_TS},
    {"buckets", required_argument, NULL, CLI_L_BUCKETS},
    {"key-serializer", required_argument, NULL, CLI_L_KEY_SER},
    {"value-serializer", required_argument, NULL, CLI_L_VALUE_SER},
    {"timestamp", required_argument, NULL, CLI_L_TIMESTAMP},
    {"older-than", required_argument, NULL, CLI_L_OLDER},
    {"keep", required_argument, NULL, CLI_L_KEEP},
    {"repair", no_argument, NULL, CLI_L_REPAIR},
    {NULL, 0, NULL, 0},
};

static int cli_usage(struct cli *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

/* Report rc from the library for name (a store or file); returns 2. */
static int
cli_fail(const char *name, int rc)
{
	const char *msg = blt_errmsg();
	size_t n = strlen(name);

	/* The library's message usually names the file already. */
	if (msg == NULL || *msg == '\0')
		fprintf(stderr, "blt: %s: %s\n", name, strerror(-rc));
	else if (strncmp(msg, name, n) == 0 && msg[n] == ':')
		fprintf(stderr, "blt: %s\n", msg);
	else
		fprintf(stderr, "blt: %s: %s\n", name, msg);
	return CLI_ERROR;
}

/* Report a failed system call on name; returns 2. */
static int
cli_syserr(const char *name, int err)
{
	fprintf(stderr, "blt: %s: %s\n", name, strerror(err));
	return CLI_ERROR;
}

static int
cli_usage(struct cli *c, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "blt: %s: ", c->cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'blt %s --help'.\n", c->cmd->name);
	return CLI_ERROR;
}

static int
cli_flush_stdout(void)
{
	if (fflush(stdout) != 0 || ferror(stdout))
		return cli_syserr("stdout", errno ? errno : EIO);
	return CLI_OK;
}

/*
 * Numbers and times.
 */

/* Parse a decimal number in [0, max]; 0 or -1. */
static int
cli_parse_u64(const char *s, uint64_t max, uint64_t *out)
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

static int
cli_digits(const char **sp, int n, int *out)
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
cli_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
cli_month_days(int y, int m)
{
	static const int days[] = {
	    31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return days[m - 1] + (m == 2 && cli_leap(y));
}

/* Days from 1970-01-01 to y-m-d (negative before). */
static int64_t
cli_days(int y, int m, int d)
{
	int64_t days = 0;
	int i;

	for (i = 1970; i < y; i++)
		days += 365 + cli_leap(i);
	for (i = y; i < 1970; i++)
		days -= 365 + cli_leap(i);
	for (i = 1; i < m; i++)
		days += cli_month_days(y, i);
	return days + d - 1;
}

/*
 * Parse TIME: "now", µs since the epoch, or ISO-8601 with Z or an offset,
 * as the Python booklet accepts.  Returns 0, or a message for the caller.
 */
static const char *
cli_parse_time(const char *s, int64_t *out)
{
	const char *p = s;
	int y, mo, d, h, mi, sec = 0, oh = 0, om = 0, sign = 0, nd;
	int64_t frac = 0, t;
	uint64_t v;

	if (strcmp(s, "now") == 0) {
		*out = blt_now();
		return NULL;
	}
	if (strspn(s, "0123456789") == strlen(s)) {
		if (cli_parse_u64(s, BLT_TS_MAX, &v) < 0)
			return "out of range";
		*out = (int64_t)v;
		return NULL;
	}
	if (cli_digits(&p, 4, &y) < 0 || *p++ != '-' ||
	    cli_digits(&p, 2, &mo) < 0 || *p++ != '-' ||
	    cli_digits(&p, 2, &d) < 0)
		goto syntax;
	if (*p == '\0')
		return "a date alone has no UTC offset";
	if (*p != 'T' && *p != 't' && *p != ' ')
		goto syntax;
	p++;
	if (cli_digits(&p, 2, &h) < 0 || *p++ != ':' ||
	    cli_digits(&p, 2, &mi) < 0)
		goto syntax;
	if (*p == ':') {
		p++;
		if (cli_digits(&p, 2, &sec) < 0)
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
		if (cli_digits(&p, 2, &oh) < 0)
			goto syntax;
		if (*p == ':')
			p++;
		if (cli_digits(&p, 2, &om) < 0)
			goto syntax;
	} else if (*p == '\0') {
		return "no UTC offset (add Z or +HH:MM)";
	} else
		goto syntax;
	if (*p != '\0')
		goto syntax;
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > cli_month_days(y, mo) ||
	    h > 23 || mi > 59 || sec > 59 || oh > 23 || om > 59)
		return "no such date or time";
	t = ((cli_days(y, mo, d) * 24 + h) * 60 + mi) * 60 + sec -
	    sign * (oh * 3600 + om * 60);
	if (t < 0 || t > BLT_TS_MAX / 1000000)
		return "out of range";
	t = t * 1000000 + frac;
	if (t > BLT_TS_MAX)
		return "out of range";
	*out = t;
	return NULL;
syntax:
	return "expected microseconds or ISO-8601 such as "
	       "2024-01-02T03:04:05.123456Z";
}

/* Write ts (µs) as ISO-8601 in UTC. */
static void
cli_format_time(int64_t ts, char *buf, size_t n)
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

/*
 * Bytes as text: hex, UTF-8, JSON strings and the escapes of ls.
 */

static int
cli_hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Decode n hex digits into out (may be s itself); the length or -1. */
static ssize_t
cli_unhex(const char *s, size_t n, unsigned char *out)
{
	size_t i;
	int hi, lo;

	if (n % 2 != 0)
		return -1;
	for (i = 0; i < n / 2; i++) {
		if ((hi = cli_hexval((unsigned char)s[2 * i])) < 0 ||
		    (lo = cli_hexval((unsigned char)s[2 * i + 1])) < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return (ssize_t)(n / 2);
}

static void
cli_put_hex(FILE *f, const unsigned char *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	char buf[4096];
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		buf[o++] = digits[p[i] >> 4];
		buf[o++] = digits[p[i] & 15];
		if (o == sizeof buf) {
			fwrite(buf, 1, o, f);
			o = 0;
		}
	}
	fwrite(buf, 1, o, f);
}

/* The length of the valid UTF-8 sequence at p and its code point, or 0 for
 * bytes Python's strict decoder refuses (overlong, surrogate, too big). */
static size_t
cli_utf8(const unsigned char *p, size_t n, uint32_t *cp)
{
	uint32_t c;
	size_t len, i;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if (p[0] < 0xc2)
		return 0;
	if (p[0] < 0xe0) {
		len = 2;
		c = p[0] & 0x1f;
	} else if (p[0] < 0xf0) {
		len = 3;
		c = p[0] & 0x0f;
	} else if (p[0] < 0xf5) {
		len = 4;
		c = p[0] & 0x07;
	} else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
	    c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

static int
cli_utf8_valid(const unsigned char *p, size_t n)
{
	size_t i, len;
	uint32_t c;

	for (i = 0; i < n; i += len)
		if ((len = cli_utf8(p + i, n - i, &c)) == 0)
			return 0;
	return 1;
}

/* Encode code point c (not a surrogate) at out; returns the length. */
static size_t
cli_utf8_put(uint32_t c, unsigned char *out)
{
	if (c < 0x80) {
		out[0] = (unsigned char)c;
		return 1;
	}
	if (c < 0x800) {
		out[0] = (unsigned char)(0xc0 | c >> 6);
		out[1] = (unsigned char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		out[0] = (unsigned char)(0xe0 | c >> 12);
		out[1] = (unsigned char)(0x80 | (c >> 6 & 0x3f));
		out[2] = (unsigned char)(0x80 | (c & 0x3f));
		return 3;
	}
	out[0] = (unsigned char)(0xf0 | c >> 18);
	out[1] = (unsigned char)(0x80 | (c >> 12 & 0x3f));
	out[2] = (unsigned char)(0x80 | (c >> 6 & 0x3f));
	out[3] = (unsigned char)(0x80 | (c & 0x3f));
	return 4;
}

/* Characters a terminal would act on or hide: controls, and the invisible
 * format characters (bidi overrides, zero widths, the byte-order mark). */
static int
cli_unprintable(uint32_t c)
{
	return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0xad ||
	       c == 0x61c || (c >= 0x200b && c <= 0x200f) ||
	       (c >= 0x2028 && c <= 0x202e) || (c >= 0x2060 && c <= 0x206f) ||
	       c == 0xfeff || (c >= 0xfff9 && c <= 0xfffb);
}

/* Write bytes as text: the inside of a JSON string (json), with \u for
 * what cannot be seen, or the form ls shows, which cli_unescape() reverses.
 * Plain runs go out in one piece. */
static void
cli_put_text(FILE *f, const unsigned char *p, size_t n, int json)
{
	size_t i, len, run = 0;
	uint32_t c;
	char esc[8];

	for (i = 0; i < n; i += len) {
		esc[0] = '\0';
		if ((len = cli_utf8(p + i, n - i, &c)) == 0) {
			/* JSON callers check first; keep the output valid. */
			if (json)
				strcpy(esc, "\\ufffd");
			else
				snprintf(esc, sizeof esc, "\\x%02x", p[i]);
			len = 1;
		} else if (c == '\\')
			strcpy(esc, "\\\\");
		else if (c == '"' && json)
			strcpy(esc, "\\\"");
		else if (c == '\n')
			strcpy(esc, "\\n");
		else if (c == '\t')
			strcpy(esc, "\\t");
		else if (c == '\r')
			strcpy(esc, "\\r");
		else if (c < 0x80 && !json && cli_unprintable(c))
			snprintf(esc, sizeof esc, "\\x%02x", (unsigned)c);
		else if (cli_unprintable(c))
			snprintf(esc, sizeof esc, "\\u%04x", (unsigned)c);
		if (esc[0] == '\0')
			continue;
		fwrite(p + run, 1, i - run, f);
		fputs(esc, f);
		run = i + len;
	}
	fwrite(p + run, 1, n - run, f);
}

/* Write valid UTF-8 as a JSON string. */
static void
cli_json_put_str(FILE *f, const unsigned char *p, size_t n)
{
	putc('"', f);
	cli_put_text(f, p, n, 1);
	putc('"', f);
}

/* Write bytes the way ls shows keys. */
static void
cli_put_escaped(FILE *f, const unsigned char *p, size_t n)
{
	cli_put_text(f, p, n, 0);
}

/* Decode the escapes of cli_put_escaped() from s into out (which may be s
 * itself: the output is never longer); the length or -1. */
static ssize_t
cli_unescape(const char *s, unsigned char *out)
{
	size_t o = 0;
	uint32_t c;
	int i, v;

	while (*s != '\0') {
		if (*s != '\\') {
			out[o++] = (unsigned char)*s++;
			continue;
		}
		switch (s[1]) {
		case '\\':
			out[o++] = '\\';
			break;
		case 'n':
			out[o++] = '\n';
			break;
		case 't':
			out[o++] = '\t';
			break;
		case 'r':
			out[o++] = '\r';
			break;
		case 'x':
		case 'u':
			c = 0;
			for (i = 0; i < (s[1] == 'x' ? 2 : 4); i++) {
				if ((v = cli_hexval((unsigned char)s[2 + i])) <
				    0)
					return -1;
				c = c << 4 | (uint32_t)v;
			}
			if (s[1] == 'x')
				out[o++] = (unsigned char)c;
			else if (c >= 0xd800 && c <= 0xdfff)
				return -1;
			else
				o += cli_utf8_put(c, out + o);
			s += i;
			break;
		default:
			return -1;
		}
		s += 2;
	}
	return (ssize_t)o;
}

/*
 * Keys.
 */

/* Width in bytes of an integer key serializer (codes 6..15), or 0. */
static int
cli_int_width(unsigned code)
{
	static const int width[] = {1, 1, 2, 2, 4, 4, 5, 5, 8, 8};

	return code >= 6 && code <= 15 ? width[code - 6] : 0;
}

static int
cli_int_signed(unsigned code)
{
	return code >= 6 && code <= 15 && (code - 6) % 2 == 1;
}

/* Encode decimal s as the store's integer serializer (little-endian, two's
 * complement); the width, or -1 when s is not a number in range. */
static int
cli_int_encode(unsigned code, const char *s, unsigned char *out)
{
	int w = cli_int_width(code), i, neg = 0;
	uint64_t mag, max, v;

	if (*s == '-') {
		neg = 1;
		s++;
	}
	if (cli_parse_u64(s, UINT64_MAX, &mag) < 0)
		return -1;
	if (cli_int_signed(code))
		max = (UINT64_C(1) << (8 * w - 1)) - (neg ? 0 : 1);
	else
		max = neg      ? 0
		      : w == 8 ? UINT64_MAX
		               : (UINT64_C(1) << 8 * w) - 1;
	if (mag > max)
		return -1;
	v = neg ? 0 - mag : mag;
	for (i = 0; i < w; i++)
		out[i] = (unsigned char)(v >> 8 * i);
	return w;
}

/* Write an integer key as decimal into buf; 0 if k is not one. */
static int
cli_int_decode(
    unsigned code, const unsigned char *k, size_t klen, char *buf, size_t n)
{
	int w = cli_int_width(code), i;
	uint64_t v = 0;

	if (w == 0 || klen != (size_t)w)
		return 0;
	for (i = 0; i < w; i++)
		v |= (uint64_t)k[i] << 8 * i;
	if (cli_int_signed(code) && v >> (8 * w - 1) != 0) {
		if (w < 8)
			v |= UINT64_MAX << 8 * w;
		snprintf(buf, n, "-%" PRIu64, 0 - v);
	} else
		snprintf(buf, n, "%" PRIu64, v);
	return 1;
}

/* Read the header's facts once: serializers and flags (no scan). */
static int
cli_info(struct cli *c)
{
	int rc;

	if (c->have_st)
		return CLI_OK;
	if ((rc = blt_info(c->db, &c->st)) < 0)
		return cli_fail(c->store, rc);
	c->have_st = 1;
	return CLI_OK;
}

/* Turn a key argument into the key's bytes in a fresh buffer: hex with
 * --hex, escapes with --escaped, decimal for integer serializers, else the
 * argument's bytes. */
static int
cli_key(struct cli *c, const char *arg, unsigned char **out, size_t *len)
{
	size_t n = strlen(arg);
	unsigned char *buf;
	const char *why;
	unsigned code = 0;
	ssize_t r;
	int rc;

	if (!c->hex && !c->escaped) {
		if ((rc = cli_info(c)) != CLI_OK)
			return rc;
		code = c->st.key_serializer;
	}
	if ((buf = malloc(n + 8)) == NULL)
		return cli_syserr(c->store, ENOMEM);
	if (c->hex) {
		r = cli_unhex(arg, n, buf);
		why = "not an even number of hex digits";
	} else if (c->escaped) {
		r = cli_unescape(arg, buf);
		why = "bad backslash escape";
	} else if (cli_int_width(code) != 0) {
		r = cli_int_encode(code, arg, buf);
		why = NULL;
	} else {
		memcpy(buf, arg, n);
		r = (ssize_t)n;
		why = NULL;
	}
	if (r < 0) {
		free(buf);
		fprintf(stderr, "blt: %s: key '", c->store);
		cli_put_escaped(stderr, (const unsigned char *)arg, n);
		if (why != NULL)
			fprintf(stderr, "': %s\n", why);
		else
			fprintf(stderr, "': not a %s number in range\n",
			    blt_serializer_name(code));
		return CLI_ERROR;
	}
	*out = buf;
	*len = (size_t)r;
	return CLI_OK;
}

/* Show a key: hex, decimal for integer keys, raw bytes for -0, else text
 * with escapes. */
static void
cli_key_show(struct cli *c, FILE *f, const unsigned char *k, size_t klen)
{
	char num[32];

	if (c->hex)
		cli_put_hex(f, k, klen);
	else if (!c->escaped &&
	         cli_int_decode(c->st.key_serializer, k, klen, num, sizeof num))
		fputs(num, f);
	else if (c->nul)
		fwrite(k, 1, klen, f);
	else
		cli_put_escaped(f, k, klen);
}

/* The message for a key that is not in the store; returns 1. */
static int
cli_missing(struct cli *c, const char *arg)
{
	fprintf(stderr, "blt: %s: ", c->store);
	cli_put_escaped(stderr, (const unsigned char *)arg, strlen(arg));
	fprintf(stderr, ": no such key\n");
	return CLI_MISSING;
}

/*
 * Opening stores.
 */

static int
cli_open(struct cli *c, int mode)
{
	struct blt_options o;
	int rc;

	if (mode >= BLT_CREATE)
		o = c->make;
	else
		blt_options_default(&o);
	o.lock_timeout = c->timeout;
	if ((rc = blt_open(c->store, mode, &o, &c->db)) < 0)
		return cli_fail(c->store, rc);
	return CLI_OK;
}

/* Read all of fd (named name) into a fresh buffer. */
static int
cli_slurp(int fd, const char *name, unsigned char **out, size_t *len)
{
	size_t cap = CLI_CHUNK, n = 0;
	unsigned char *buf, *nbuf;
	struct stat sb;
	ssize_t r;

	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0 &&
	    (uint64_t)sb.st_size < SIZE_MAX / 2)
		cap = (size_t)sb.st_size + 1;
	if ((buf = malloc(cap)) == NULL)
		return cli_syserr(name, ENOMEM);
	for (;;) {
		if (n == cap) {
			if (cap > SIZE_MAX / 2 ||
			    (nbuf = realloc(buf, cap * 2)) == NULL) {
				free(buf);
				return cli_syserr(name, ENOMEM);
			}
			buf = nbuf;
			cap *= 2;
		}
		if ((r = read(fd, buf + n, cap - n)) < 0) {
			if (errno == EINTR)
				continue;
			free(buf);
			return cli_syserr(name, errno);
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*out = buf;
	*len = n;
	return CLI_OK;
}

/*
 * The commands.
 */

static int
cli_create(struct cli *c)
{
	int fd = -1, rc;

	/* Without --force an existing file is left alone: claim the name
	 * first, then let the library write the store into the empty file. */
	if (!c->force) {
		fd = open(
		    c->store, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (fd == -1 && errno == EEXIST) {
			fprintf(stderr,
			    "blt: %s: already exists (--force empties it)\n",
			    c->store);
			return CLI_ERROR;
		}
		if (fd == -1)
			return cli_syserr(c->store, errno);
		close(fd);
	}
	if ((rc = cli_open(c, BLT_TRUNC)) != CLI_OK && fd != -1)
		unlink(c->store);
	return rc;
}

static int
cli_put(struct cli *c)
{
	const char *src = c->nargs > 2 ? c->args[2] : "-";
	unsigned char *key = NULL, *val = NULL;
	size_t klen, vlen;
	int fd, rc;

	/* Read the value before taking the store's lock. */
	if (strcmp(src, "-") == 0)
		rc = cli_slurp(STDIN_FILENO, "stdin", &val, &vlen);
	else if ((fd = open(src, O_RDONLY | O_CLOEXEC)) == -1)
		return cli_syserr(src, errno);
	else {
		rc = cli_slurp(fd, src, &val, &vlen);
		close(fd);
	}
	if (rc != CLI_OK)
		return rc;
	if ((rc = cli_open(c, BLT_RDWR)) != CLI_OK ||
	    (rc = cli_key(c, c->args[1], &key, &klen)) != CLI_OK)
		goto out;
	if (c->have_ts) {
		if ((rc = cli_info(c)) != CLI_OK)
			goto out;
		if (!c->st.timestamps) {
			fprintf(stderr,
			    "blt: %s: the store keeps no "
			    "timestamps\n",
			    c->store);
			rc = CLI_ERROR;
			goto out;
		}
	}
	if ((rc = blt_put(c->db, key, klen, val, vlen,
	         c->have_ts ? c->ts : BLT_NOW)) < 0)
		rc = cli_fail(c->store, rc);
	else
		rc = CLI_OK;
out:
	free(key);
	free(val);
	return rc;
}

static int
cli_get(struct cli *c)
{
	unsigned char *key = NULL, *buf = NULL;
	uint64_t off = 0;
	size_t klen;
	ssize_t n;
	int rc;

	if ((rc = cli_open(c, BLT_RDONLY)) != CLI_OK ||
	    (rc = cli_key(c, c->args[1], &key, &klen)) != CLI_OK)
		goto out;
	if ((buf = malloc(CLI_CHUNK)) == NULL) {
		rc = cli_syserr(c->store, ENOMEM);
		goto out;
	}
	/* Stream in chunks: values may be larger than memory allows. */
	while ((n = blt_read(c->db, key, klen, off, buf, CLI_CHUNK)) > 0) {
		if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
			break;
		off += (uint64_t)n;
	}
	if (n == -ENOENT)
		rc = cli_missing(c, c->args[1]);
	else if (n < 0)
		rc = cli_fail(c->store, (int)n);
	else
		rc = cli_flush_stdout();
out:
	free(buf);
	free(key);
	return rc;
}

static int
cli_del(struct cli *c)
{
	unsigned char *key;
	size_t klen;
	int i, rc, status = CLI_OK;

	if ((rc = cli_open(c, BLT_RDWR)) != CLI_OK)
		return rc;
	for (i = 1; i < c->nargs; i++) {
		if ((rc = cli_key(c, c->args[i], &key, &klen)) != CLI_OK)
			return rc;
		rc = blt_del(c->db, key, klen);
		free(key);
		if (rc == -ENOENT) {
			if (!c->force)
				status = cli_missing(c, c->args[i]);
		} else if (rc < 0)
			return cli_fail(c->store, rc);
	}
	return status;
}

static int
cli_ls(struct cli *c)
{
	const char *prefix = c->nargs > 1 ? c->args[1] : NULL;
	unsigned char *pre = NULL;
	struct blt_iter *it = NULL;
	struct blt_item item;
	size_t plen = 0;
	char num[32], when[80];
	int rc, bydec;

	if ((rc = cli_open(c, BLT_RDONLY)) != CLI_OK ||
	    (rc = cli_info(c)) != CLI_OK)
		return rc;
	/* Integer keys match a prefix of their decimal form. */
	bydec =
	    !c->hex && !c->escaped && cli_int_width(c->st.key_serializer) != 0;
	if (prefix != NULL && bydec) {
		pre = (unsigned char *)strdup(prefix);
		plen = strlen(prefix);
		if (pre == NULL)
			return cli_syserr(c->store, ENOMEM);
	} else if (prefix != NULL &&
	           (rc = cli_key(c, prefix, &pre, &plen)) != CLI_OK)
		return rc;
	if ((rc = blt_iter_create(c->db, &it)) < 0) {
		free(pre);
		return cli_fail(c->store, rc);
	}
	while ((rc = blt_iter_next(it, &item)) > 0) {
		if (pre != NULL) {
			const unsigned char *k = item.key;
			size_t kl = item.klen;

			if (bydec &&
			    cli_int_decode(c->st.key_serializer, item.key,
			        item.klen, num, sizeof num)) {
				k = (const unsigned char *)num;
				kl = strlen(num);
			}
			if (kl < plen || memcmp(k, pre, plen) != 0)
				continue;
		}
		if (c->longfmt) {
			if (item.timestamp == BLT_NO_TS)
				strcpy(when, "-");
			else
				cli_format_time(
				    item.timestamp, when, sizeof when);
			printf("%zu\t%s\t", item.vlen, when);
		}
		cli_key_show(c, stdout, item.key, item.klen);
		putchar(c->nul ? '\0' : '\n');
		if (ferror(stdout))
			break;
	}
	blt_iter_free(it);
	free(pre);
	if (rc < 0)
		return cli_fail(c->store, rc);
	return cli_flush_stdout();
}

static int
cli_dump(struct cli *c)
{
	struct blt_iter *it;
	struct blt_item item;
	int rc;

	if ((rc = cli_open(c, BLT_RDONLY)) != CLI_OK)
		return rc;
	if ((rc = blt_iter_create(c->db, &it)) < 0)
		return cli_fail(c->store, rc);
	while ((rc = blt_iter_next(it, &item)) > 0) {
		fputs("{\"key\": ", stdout);
		if (cli_utf8_valid(item.key, item.klen))
			cli_json_put_str(stdout, item.key, item.klen);
		else
			fputs("null", stdout);
		fputs(", \"key_hex\": \"", stdout);
		cli_put_hex(stdout, item.key, item.klen);
		fputs("\", \"value_hex\": \"", stdout);
		cli_put_hex(stdout, item.value, item.vlen);
		if (item.timestamp == BLT_NO_TS)
			fputs("\", \"timestamp\": null}\n", stdout);
		else
			printf("\", \"timestamp\": %" PRId64 "}\n",
			    item.timestamp);
		if (ferror(stdout))
			break;
	}
	blt_iter_free(it);
	if (rc < 0)
		return cli_fail(c->store, rc);
	return cli_flush_stdout();
}

/*
 * load: a small JSON reader for the lines dump writes.
 */

struct cli_json {
	char *p;
	char *end;
	const char *err; /* the first error */
};

/* One line of input, pointing into the line buffer. */
struct cli_record {
	unsigned char *key;
	size_t klen;
	int have_key;
	unsigned char *text; /* "key" */
	size_t tlen;
	int have_text;
	unsigned char *value;
	size_t vlen;
	int have_value;
	int64_t ts;
	int have_ts;
};

static int
cli_json_fail(struct cli_json *j, const char *err)
{
	if (j->err == NULL)
		j->err = err;
	return -1;
}

static void
cli_json_ws(struct cli_json *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' ||
	                            *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static int
cli_json_char(struct cli_json *j, char ch, const char *err)
{
	cli_json_ws(j);
	if (j->p == j->end || *j->p != ch)
		return cli_json_fail(j, err);
	j->p++;
	return 0;
}

static int
cli_json_word(struct cli_json *j, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0)
		return cli_json_fail(j, "bad JSON value");
	j->p += n;
	return 0;
}

static int
cli_json_hex4(struct cli_json *j, uint32_t *out)
{
	uint32_t v = 0;
	int i, d;

	if (j->end - j->p < 4)
		return cli_json_fail(j, "bad \\u escape");
	for (i = 0; i < 4; i++) {
		if ((d = cli_hexval((unsigned char)j->p[i])) < 0)
			return cli_json_fail(j, "bad \\u escape");
		v = v << 4 | (uint32_t)d;
	}
	j->p += 4;
	*out = v;
	return 0;
}

/* Decode the string at j->p in place (the decoded form is never longer);
 * *s and *n give its bytes. */
static int
cli_json_string(struct cli_json *j, unsigned char **s, size_t *n)
{
	unsigned char *w, *start;
	uint32_t c, lo;
	unsigned char ch;

	cli_json_ws(j);
	if (j->p == j->end || *j->p != '"')
		return cli_json_fail(j, "expected a string");
	start = w = (unsigned char *)++j->p;
	for (;;) {
		if (j->p == j->end)
			return cli_json_fail(j, "unterminated string");
		ch = (unsigned char)*j->p++;
		if (ch == '"')
			break;
		if (ch < 0x20)
			return cli_json_fail(
			    j, "control character in a string");
		if (ch != '\\') {
			*w++ = ch;
			continue;
		}
		if (j->p == j->end)
			return cli_json_fail(j, "unterminated string");
		switch (*j->p++) {
		case '"':
			*w++ = '"';
			break;
		case '\\':
			*w++ = '\\';
			break;
		case '/':
			*w++ = '/';
			break;
		case 'b':
			*w++ = '\b';
			break;
		case 'f':
			*w++ = '\f';
			break;
		case 'n':
			*w++ = '\n';
			break;
		case 'r':
			*w++ = '\r';
			break;
		case 't':
			*w++ = '\t';
			break;
		case 'u':
			if (cli_json_hex4(j, &c) < 0)
				return -1;
			if (c >= 0xdc00 && c <= 0xdfff)
				return cli_json_fail(j, "lone surrogate");
			if (c >= 0xd800 && c <= 0xdbff) {
				if (j->end - j->p < 2 || j->p[0] != '\\' ||
				    j->p[1] != 'u')
					return cli_json_fail(
					    j, "lone surrogate");
				j->p += 2;
				if (cli_json_hex4(j, &lo) < 0)
					return -1;
				if (lo < 0xdc00 || lo > 0xdfff)
					return cli_json_fail(
					    j, "lone surrogate");
				c = 0x10000 + ((c - 0xd800) << 10) +
				    (lo - 0xdc00);
			}
			w += cli_utf8_put(c, w);
			break;
		default:
			return cli_json_fail(j, "bad escape in a string");
		}
	}
	*s = start;
	*n = (size_t)(w - start);
	return 0;
}

/* Parse a JSON number; *is_int tells whether it was a plain integer, and
 * *v holds it when it fits. */
static int
cli_json_number(struct cli_json *j, int *is_int, int64_t *v)
{
	char *p = j->p;
	uint64_t mag = 0;
	int neg = 0, big = 0;

	if (p < j->end && *p == '-') {
		neg = 1;
		p++;
	}
	if (p == j->end || *p < '0' || *p > '9')
		return cli_json_fail(j, "bad JSON value");
	for (; p < j->end && *p >= '0' && *p <= '9'; p++) {
		if (mag > ((uint64_t)INT64_MAX - (uint64_t)(*p - '0')) / 10)
			big = 1;
		else
			mag = mag * 10 + (uint64_t)(*p - '0');
	}
	*is_int = !big;
	if (p < j->end && *p == '.') {
		*is_int = 0;
		for (p++; p < j->end && *p >= '0' && *p <= '9'; p++)
			;
	}
	if (p < j->end && (*p == 'e' || *p == 'E')) {
		*is_int = 0;
		p++;
		if (p < j->end && (*p == '+' || *p == '-'))
			p++;
		for (; p < j->end && *p >= '0' && *p <= '9'; p++)
			;
	}
	*v = neg ? -(int64_t)mag : (int64_t)mag;
	j->p = p;
	return 0;
}

/* Step over any JSON value. */
static int
cli_json_skip(struct cli_json *j, int depth)
{
	unsigned char *s;
	size_t n;
	int64_t v;
	int is_int;
	char close;

	if (depth > CLI_JSON_DEPTH)
		return cli_json_fail(j, "nested too deeply");
	cli_json_ws(j);
	if (j->p == j->end)
		return cli_json_fail(j, "missing value");
	switch (*j->p) {
	case '"':
		return cli_json_string(j, &s, &n);
	case 't':
		return cli_json_word(j, "true");
	case 'f':
		return cli_json_word(j, "false");
	case 'n':
		return cli_json_word(j, "null");
	case '{':
	case '[':
		close = *j->p++ == '{' ? '}' : ']';
		cli_json_ws(j);
		if (j->p < j->end && *j->p == close) {
			j->p++;
			return 0;
		}
		for (;;) {
			if (close == '}' &&
			    (cli_json_string(j, &s, &n) < 0 ||
			        cli_json_char(j, ':', "expected ':'") < 0))
				return -1;
			if (cli_json_skip(j, depth + 1) < 0)
				return -1;
			cli_json_ws(j);
			if (j->p < j->end && *j->p == ',') {
				j->p++;
				continue;
			}
			return cli_json_char(j, close,
			    "expected ',' or a "
			    "closing bracket");
		}
	default:
		return cli_json_number(j, &is_int, &v);
	}
}

static int
cli_json_is(const unsigned char *name, size_t n, const char *want)
{
	return n == strlen(want) && memcmp(name, want, n) == 0;
}

/* A hex string, decoded in place. */
static int
cli_json_hex(struct cli_json *j, unsigned char **out, size_t *len)
{
	ssize_t r;

	if (cli_json_string(j, out, len) < 0)
		return -1;
	if ((r = cli_unhex((const char *)*out, *len, *out)) < 0)
		return cli_json_fail(j, "bad hex digits");
	*len = (size_t)r;
	return 0;
}

static int
cli_json_timestamp(struct cli_json *j, struct cli_record *r)
{
	unsigned char *s;
	const char *why;
	size_t n;
	int is_int;

	cli_json_ws(j);
	if (j->p < j->end && *j->p == 'n')
		return cli_json_word(j, "null");
	r->have_ts = 1;
	if (j->p < j->end && *j->p == '"') {
		if (cli_json_string(j, &s, &n) < 0)
			return -1;
		/* The closing quote is behind the decoded text. */
		s[n] = '\0';
		if (strlen((char *)s) != n)
			return cli_json_fail(j, "bad timestamp");
		if ((why = cli_parse_time((char *)s, &r->ts)) != NULL)
			return cli_json_fail(j, why);
		return 0;
	}
	if (cli_json_number(j, &is_int, &r->ts) < 0)
		return -1;
	if (!is_int || r->ts < 0 || r->ts > BLT_TS_MAX)
		return cli_json_fail(j,
		    "timestamp is not a whole number of microseconds in range");
	return 0;
}

/* Parse one line of dump output into r; j->err says why on failure. */
static int
cli_record_parse(struct cli_json *j, struct cli_record *r)
{
	unsigned char *name;
	size_t n;
	int rc;

	memset(r, 0, sizeof *r);
	if (cli_json_char(j, '{', "expected a JSON object") < 0)
		return -1;
	cli_json_ws(j);
	if (j->p < j->end && *j->p == '}') {
		j->p++;
		goto done;
	}
	for (;;) {
		if (cli_json_string(j, &name, &n) < 0 ||
		    cli_json_char(j, ':', "expected ':'") < 0)
			return -1;
		cli_json_ws(j);
		if (cli_json_is(name, n, "key")) {
			/* null says nothing beyond key_hex. */
			if (r->have_text++)
				return cli_json_fail(j, "duplicate field");
			if (j->p < j->end && *j->p == 'n')
				rc = cli_json_word(j, "null");
			else
				rc = cli_json_string(j, &r->text, &r->tlen);
		} else if (cli_json_is(name, n, "key_hex")) {
			if (r->have_key++)
				return cli_json_fail(j, "duplicate field");
			rc = cli_json_hex(j, &r->key, &r->klen);
		} else if (cli_json_is(name, n, "value_hex")) {
			if (r->have_value++)
				return cli_json_fail(j, "duplicate value");
			rc = cli_json_hex(j, &r->value, &r->vlen);
		} else if (cli_json_is(name, n, "value")) {
			if (r->have_value++)
				return cli_json_fail(j, "duplicate value");
			rc = cli_json_string(j, &r->value, &r->vlen);
		} else if (cli_json_is(name, n, "timestamp")) {
			if (r->have_ts)
				return cli_json_fail(j, "duplicate field");
			rc = cli_json_timestamp(j, r);
		} else
			rc = cli_json_skip(j, 1);
		if (rc < 0)
			return -1;
		cli_json_ws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		if (cli_json_char(j, '}', "expected ',' or '}'") < 0)
			return -1;
		break;
	}
done:
	cli_json_ws(j);
	if (j->p != j->end)
		return cli_json_fail(j, "text after the object");
	if (r->have_key) {
		if (r->text != NULL &&
		    (r->tlen != r->klen || memcmp(r->text, r->key, r->klen)))
			return cli_json_fail(j, "key and key_hex differ");
	} else if (r->text != NULL) {
		r->key = r->text;
		r->klen = r->tlen;
	} else
		return cli_json_fail(j, "no key_hex");
	if (!r->have_value)
		return cli_json_fail(j, "no value_hex");
	return 0;
}

static int
cli_load(struct cli *c)
{
	const char *src = c->nargs > 1 ? c->args[1] : "-";
	const char *name = strcmp(src, "-") == 0 ? "stdin" : src;
	struct cli_record r;
	struct cli_json j;
	FILE *in = stdin;
	char *line = NULL;
	size_t cap = 0;
	uintmax_t lineno = 0;
	ssize_t len;
	int rc;

	if (strcmp(src, "-") != 0 && (in = fopen(src, "re")) == NULL)
		return cli_syserr(src, errno);
	if ((rc = cli_open(c, c->create ? BLT_CREATE : BLT_RDWR)) != CLI_OK ||
	    (rc = cli_info(c)) != CLI_OK)
		goto out;
	while ((len = getline(&line, &cap, in)) != -1) {
		lineno++;
		j.p = line;
		j.end = line + len;
		j.err = NULL;
		cli_json_ws(&j);
		if (j.p == j.end)
			continue;
		if (cli_record_parse(&j, &r) < 0) {
			fprintf(
			    stderr, "blt: %s:%ju: %s\n", name, lineno, j.err);
			rc = CLI_ERROR;
			goto out;
		}
		/* A store without timestamps drops them, as booklet does. */
		rc = blt_put(c->db, r.key, r.klen, r.value, r.vlen,
		    r.have_ts && c->st.timestamps ? r.ts : BLT_NOW);
		if (rc < 0) {
			rc = cli_fail(c->store, rc);
			fprintf(stderr, "blt: %s:%ju: item not stored\n", name,
			    lineno);
			goto out;
		}
	}
	rc = ferror(in) ? cli_syserr(name, EIO) : CLI_OK;
out:
	free(line);
	if (in != stdin)
		fclose(in);
	return rc;
}

static int
cli_stat(struct cli *c)
{
	const struct blt_stat *st = &c->st;
	const unsigned char *path = (const unsigned char *)c->store;
	int rc, i;

	if ((rc = cli_open(c, BLT_RDONLY)) != CLI_OK)
		return rc;
	if ((rc = blt_stat(c->db, &c->st)) < 0)
		return cli_fail(c->store, rc);
	printf("{\n  \"path\": ");
	if (cli_utf8_valid(path, strlen(c->store)))
		cli_json_put_str(stdout, path, strlen(c->store));
	else
		printf("null");
	printf(",\n  \"format_version\": %u", st->version);
	printf(",\n  \"kind\": \"%s\"", st->fixed ? "fixed" : "variable");
	if (st->fixed)
		printf(",\n  \"value_len\": %" PRIu32, st->value_len);
	else
		printf(",\n  \"value_len\": null");
	printf(",\n  \"timestamps\": %s", st->timestamps ? "true" : "false");
	printf(",\n  \"key_serializer\": ");
	cli_json_put_str(stdout,
	    (const unsigned char *)blt_serializer_name(st->key_serializer),
	    strlen(blt_serializer_name(st->key_serializer)));
	printf(",\n  \"key_serializer_code\": %u", st->key_serializer);
	printf(",\n  \"value_serializer\": ");
	cli_json_put_str(stdout,
	    (const unsigned char *)blt_serializer_name(st->value_serializer),
	    strlen(blt_serializer_name(st->value_serializer)));
	printf(",\n  \"value_serializer_code\": %u", st->value_serializer);
	printf(",\n  \"keys\": %" PRIu64, st->n_keys);
	printf(",\n  \"buckets\": %" PRIu32, st->n_buckets);
	printf(",\n  \"index_offset\": %" PRIu64, st->index_offset);
	printf(",\n  \"first_data\": %" PRIu64, st->first_data);
	printf(",\n  \"file_bytes\": %" PRIu64, st->file_bytes);
	printf(",\n  \"live_bytes\": %" PRIu64, st->live_bytes);
	printf(",\n  \"dead_bytes\": %" PRIu64, st->dead_bytes);
	printf(",\n  \"created\": %" PRId64, st->created);
	printf(",\n  \"uuid\": \"");
	for (i = 0; i < 16; i++)
		printf("%02x", st->uuid[i]);
	printf("\"\n}\n");
	return cli_flush_stdout();
}

struct cli_check {
	const char *store;
	int shown;
};

static void
cli_check_report(void *arg, uint64_t offset, const char *problem)
{
	struct cli_check *chk = arg;
	size_t n = strlen(chk->store);

	/* The library's text may name the store already. */
	if (strncmp(problem, chk->store, n) == 0 && problem[n] == ':' &&
	    problem[n + 1] == ' ')
		problem += n + 2;
	printf("%s: offset %" PRIu64 ": %s\n", chk->store, offset, problem);
	chk->shown++;
}

static int
cli_check(struct cli *c)
{
	struct cli_check chk = {c->store, 0};
	int rc;

	rc = blt_check(
	    c->store, c->repair ? BLT_CHECK_REPAIR : 0, cli_check_report, &chk);
	if (cli_flush_stdout() != CLI_OK)
		return CLI_ERROR;
	if (rc < 0)
		return cli_fail(c->store, rc);
	if (rc == 0)
		return CLI_OK;
	fprintf(stderr, "blt: %s: %d problem%s found%s\n", c->store, rc,
	    rc == 1 ? "" : "s", c->repair ? " and repaired" : "");
	return CLI_MISSING;
}

static int
cli_prune(struct cli *c)
{
	struct blt_prune_opts po = {0, 0, NULL, NULL};
	unsigned char **keys = NULL;
	size_t *lens = NULL, i, n = 0;
	int64_t removed;
	int rc;

	if ((rc = cli_open(c, BLT_RDWR)) != CLI_OK ||
	    (rc = cli_info(c)) != CLI_OK)
		return rc;
	if (c->have_older && !c->st.timestamps) {
		fprintf(stderr, "blt: %s: the store keeps no timestamps\n",
		    c->store);
		return CLI_ERROR;
	}
	if (c->n_keep > 0 &&
	    ((keys = calloc(c->n_keep, sizeof *keys)) == NULL ||
	        (lens = calloc(c->n_keep, sizeof *lens)) == NULL)) {
		rc = cli_syserr(c->store, ENOMEM);
		goto out;
	}
	for (n = 0; n < c->n_keep; n++)
		if ((rc = cli_key(c, c->keep[n], &keys[n], &lens[n])) != CLI_OK)
			goto out;
	po.older_than = c->older;
	po.n_keep = n;
	po.keep = (const unsigned char *const *)keys;
	po.keep_len = lens;
	if ((removed = blt_prune(c->db, c->have_older ? &po : NULL)) < 0)
		rc = cli_fail(c->store, (int)removed);
	else
		printf("%" PRId64 "\n", removed);
	if (rc == CLI_OK)
		rc = cli_flush_stdout();
out:
	for (i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
	free(lens);
	return rc;
}

static int
cli_reindex(struct cli *c)
{
	int rc;

	if ((rc = cli_open(c, BLT_RDWR)) != CLI_OK)
		return rc;
	if ((rc = blt_reindex(c->db, c->have_buckets ? c->buckets : 0)) < 0)
		return cli_fail(c->store, rc);
	return CLI_OK;
}

static int
cli_map(struct cli *c)
{
	(void)c;
	fprintf(stderr, "blt: map: not yet implemented\n");
	return CLI_ERROR;
}

/*
 * Help texts: the first line is the synopsis that blt --help lists.
 */

static const char cli_help_create[] =
    "usage: blt create [options] STORE\n"
    "Create an empty store.  An existing file is an error unless --force\n"
    "empties it.\n\n"
    "  --fixed LEN            fixed-length values of LEN bytes\n"
    "  --no-timestamps        keep no timestamps\n"
    "  --buckets N            initial index size (default 12007)\n"
    "  --key-serializer S     serializer name or code for keys (default 1)\n"
    "  --value-serializer S   serializer name or code for values\n"
    "  -f, --force            empty STORE if it exists\n"
    "  --timeout SECONDS      fail if the store stays locked this long\n"
    "                         (default: wait)\n"
    "  -h, --help             show this help\n";

static const char cli_help_put[] =
    "usage: blt put [options] STORE KEY [FILE]\n"
    "Store the contents of FILE (standard input if missing or '-') under\n"
    "KEY.\n\n"
    "  -x, --hex              KEY is hex digits\n"
    "  -e, --escaped          KEY uses the backslash escapes of ls\n"
    "  --timestamp TIME       the key's timestamp (default: now)\n"
    "  --timeout SECONDS      fail if the store stays locked this long\n"
    "                         (default: wait)\n"
    "  -h, --help             show this help\n\n"
    "TIME is microseconds since the epoch, ISO-8601 with Z or a UTC offset\n"
    "(2024-01-02T03:04:05.123456Z), or now.\n";

static const char cli_help_get[] =
    "usage: blt get [options] STORE KEY\n"
    "Write the value of KEY to standard output, byte for byte.  A missing\n"
    "key exits with status 1.\n\n"
    "  -x, --hex              KEY is hex digits\n"
    "  -e, --escaped          KEY uses the backslash escapes of ls\n"
    "  --timeout SECONDS      fail if the store stays locked this long\n"
    "                         (default: wait)\n"
    "  -h, --help             show this help\n";

static const char cli_help_del[] =
    "usage: blt del [options] STORE KEY...\n"
    "Delete each KEY.  A missing key exits with status 1 once the others\n"
    "are deleted.\n\n"
    "  -x, --hex              KEY is hex digits\n"
    "  -e, --escaped          KEY uses the backslash escapes of ls\n"
    "  -f, --force            a missing key is not an error\n"
    "  --timeout SECONDS      fail if the store stays locked this long\n"
    "                         (default: wait)\n"
    "  -h, --help             show this help\n";

static const char cli_help_ls[] =
    "usage: blt ls [options] STORE [PREFIX]\n"
    "List the keys that begin with PREFIX, one per line, in file order.\n\n"
    "  -x, --hex              show keys and read PREFIX as hex\n"
    "  -e, --escaped          PREFIX uses escapes; integer keys too\n"
    "  -0, --null             end each key with NUL instead of escaping\n"
    "  -l, --long             show value length and timestamp first\n"
    "  --timeout SECONDS      fail if the store stays locked this long\n"
    "                         (default: wait)\n"
    "  -h, --help             show this help\n";

static const char cli_help_dump[] =
    "usage: blt dump [options] STORE\n"
    "Write every item as a JSON object on its own line.\n\n"
    "  --timeout SECONDS      fail if the store stays locked this long\n"
    "                         (default: wait)\n"
    "  -h, --help             show this help\n";

static const char cli_help_load[] =
    "usage: blt load [options] STORE [FILE]\n"
    "Put every item of FILE (default: standard input), written by dump.\n\n"
    "  -c, --create           create STORE if it is missing, with:\n"
    "  --fixed LEN            fixed-length values of LEN bytes\n"
    "  --no-timestamps        keep no timestamps\n"
    "  --buckets N            initial index size (default 12007)\n"
    "  --key-serializer S     serializer name or code for keys (default 1)\n"
    "  --value-serializer S   serializer name or code for values\n"
    "  --timeout SECONDS      fail if the store stays locked this long\n"
    "                         (default: wait)\n"
    "  -h, --help             show this help\n";

static const char cli_help_stat[] =
    "usage: blt stat [options] STORE\n"
    "Describe the store as a JSON object.\n\n"
    "  --timeout SECONDS      fail if the store stays locked this long\n"
    "                         (default: wait)\n"
    "  -h, --help             show this help\n";

static const char cli_help_check[] =
    "usage: blt check [--repair] STORE\n"
    "Verify the store; print each problem and exit with status 1 if there\n"
    "are any.\n\n"
    "  --repair               rebuild the index from the data blocks\n"
    "  -h, --help             show this help\n";

static const char cli_help_prune[] =
    "usage: blt prune [options] STORE\n"
    "Compact the store and print how many blocks were removed.\n\n"
    "  --older-than TIME      also drop keys with an older timestamp\n"
    "  --keep KEY             but not KEY (repeatable)\n"
    "  -x, --hex              KEY is hex digits\n"
    "  -e, --escaped          KEY uses the backslash escapes of ls\n"
    "  --timeout SECONDS      fail if the store stays locked this long\n"
    "                         (default: wait)\n"
    "  -h, --help             show this help\n\n"
    "TIME is microseconds since the epoch, ISO-8601 with Z or a UTC offset\n"
    "(2024-01-02T03:04:05.123456Z), or now.\n";

static const char cli_help_reindex[] =
    "usage: blt reindex [options] STORE\n"
    "Grow the hash index.\n\n"
    "  --buckets N            the new size (default: booklet's next size)\n"
    "  --timeout SECONDS      fail if the store stays locked this long\n"
    "                         (default: wait)\n"
    "  -h, --help             show this help\n";

static const char cli_help_map[] = "usage: blt map ...\n"
                                   "Not yet implemented.\n";

static const struct cli_cmd cli_cmds[] = {
    {"create", cli_create, CLI_O_MAKE | CLI_O_FORCE | CLI_O_TIMEOUT, 1, 1,
        cli_help_create},
    {"put", cli_put,
        CLI_O_HEX | CLI_O_ESCAPED | CLI_O_TIMESTAMP | CLI_O_TIMEOUT, 2, 3,
        cli_help_put},
    {"get", cli_get, CLI_O_HEX | CLI_O_ESCAPED | CLI_O_TIMEOUT, 2, 2,
        cli_help_get},
    {"del", cli_del, CLI_O_HEX | CLI_O_ESCAPED | CLI_O_FORCE | CLI_O_TIMEOUT, 2,
        -1, cli_help_del},
    {"ls", cli_ls, CLI_O_HEX | CLI_O_ESCAPED | CLI_O_LIST | CLI_O_TIMEOUT, 1, 2,
        cli_help_ls},
    {"dump", cli_dump, CLI_O_TIMEOUT, 1, 1, cli_help_dump},
    {"load", cli_load, CLI_O_CREATE | CLI_O_MAKE | CLI_O_TIMEOUT, 1, 2,
        cli_help_load},
    {"stat", cli_stat, CLI_O_TIMEOUT, 1, 1, cli_help_stat},
    {"check", cli_check, CLI_O_REPAIR, 1, 1, cli_help_check},
    {"prune", cli_prune,
        CLI_O_PRUNE | CLI_O_HEX | CLI_O_ESCAPED | CLI_O_TIMEOUT, 1, 1,
        cli_help_prune},
    {"reindex", cli_reindex, CLI_O_BUCKETS | CLI_O_TIMEOUT, 1, 1,
        cli_help_reindex},
    {"map", cli_map, 0, 0, -1, cli_help_map},
};

static void
cli_help(FILE *f, const struct cli_cmd *cmd)
{
	fputs(cmd->help, f);
}

static void
cli_help_all(FILE *f)
{
	const char *h;
	size_t i;

	fprintf(f, "usage: blt COMMAND [options] STORE ...\n"
	           "       blt COMMAND --help\n\ncommands:\n");
	for (i = 0; i < sizeof cli_cmds / sizeof cli_cmds[0]; i++) {
		h = cli_cmds[i].help + strlen("usage: ");
		fprintf(f, "  %.*s\n", (int)strcspn(h, "\n"), h);
	}
	fprintf(f, "\nExit status: 0 success, 1 missing key or problems "
	           "found, 2 error.\nSee blt(1).\n");
}

/* A serializer by name ("str", "uint4", "none") or code (0..32). */
static int
cli_serializer(const char *s, uint16_t *out)
{
	uint64_t v;
	unsigned code;

	if (cli_parse_u64(s, BLT_SER_MAX, &v) == 0) {
		*out = (uint16_t)v;
		return 0;
	}
	for (code = 0; code <= BLT_SER_MAX; code++)
		if (strcasecmp(s, blt_serializer_name(code)) == 0) {
			*out = (uint16_t)code;
			return 0;
		}
	if (strcasecmp(s, "none") == 0 || strcasecmp(s, "raw") == 0) {
		*out = BLT_SER_NONE;
		return 0;
	}
	return -1;
}

/* The CLI_O_* group an option belongs to. */
static int
cli_opt_group(int ch)
{
	switch (ch) {
	case 'x':
		return CLI_O_HEX;
	case 'e':
		return CLI_O_ESCAPED;
	case '0':
	case 'l':
		return CLI_O_LIST;
	case 'f':
		return CLI_O_FORCE;
	case 'c':
		return CLI_O_CREATE;
	case CLI_L_TIMEOUT:
		return CLI_O_TIMEOUT;
	case CLI_L_BUCKETS:
		return CLI_O_MAKE | CLI_O_BUCKETS;
	case CLI_L_FIXED:
	case CLI_L_NO_TS:
	case CLI_L_KEY_SER:
	case CLI_L_VALUE_SER:
		return CLI_O_MAKE;
	case CLI_L_TIMESTAMP:
		return CLI_O_TIMESTAMP;
	case CLI_L_OLDER:
	case CLI_L_KEEP:
		return CLI_O_PRUNE;
	case CLI_L_REPAIR:
		return CLI_O_REPAIR;
	}
	return 0;
}

/* Parse the options of c->cmd; 0 to go on, -1 after --help, else the
 * exit status of a usage error. */
static int
cli_getopt(struct cli *c, int argc, char **argv)
{
	const char *why;
	char **nkeep;
	uint64_t v;
	int ch, prev;

	opterr = 0;
	for (;;) {
		prev = optind;
		if ((ch = getopt_long(
		         argc, argv, ":hxe0lfc", cli_longopts, NULL)) == -1)
			break;
		if (ch == 'h') {
			cli_help(stdout, c->cmd);
			return -1;
		}
		if (ch == '?' && optopt != 0 && optopt < 256)
			return cli_usage(c, "unknown option -%c", optopt);
		if (ch == '?')
			return cli_usage(c, "unknown option %s", argv[prev]);
		if (ch == ':')
			return cli_usage(
			    c, "option %s needs an argument", argv[optind - 1]);
		if ((cli_opt_group(ch) & c->cmd->opts) == 0)
			return cli_usage(c, "option %s does not apply here",
			    argv[optind - 1]);
		if (cli_opt_group(ch) & c->cmd->opts & CLI_O_MAKE)
			c->make_set = 1;
		switch (ch) {
		case 'x':
			c->hex = 1;
			break;
		case 'e':
			c->escaped = 1;
			break;
		case '0':
			c->nul = 1;
			break;
		case 'l':
			c->longfmt = 1;
			break;
		case 'f':
			c->force = 1;
			break;
		case 'c':
			c->create = 1;
			break;
		case CLI_L_TIMEOUT: {
			char *end;

			errno = 0;
			c->timeout = strtod(optarg, &end);
			if (*optarg == '\0' || *end != '\0' || errno != 0 ||
			    !isfinite(c->timeout) || c->timeout < 0)
				return cli_usage(
				    c, "bad --timeout '%s'", optarg);
			break;
		}
		case CLI_L_FIXED:
			if (cli_parse_u64(optarg, UINT32_MAX, &v) < 0)
				return cli_usage(
				    c, "bad --fixed length '%s'", optarg);
			c->make.fixed = 1;
			c->make.value_len = (uint32_t)v;
			c->make.timestamps = 0;
			break;
		case CLI_L_NO_TS:
			c->make.timestamps = 0;
			break;
		case CLI_L_BUCKETS:
			if (cli_parse_u64(optarg, UINT32_MAX, &v) < 0 || v == 0)
				return cli_usage(
				    c, "bad --buckets '%s'", optarg);
			c->have_buckets = 1;
			c->buckets = c->make.n_buckets = (uint32_t)v;
			break;
		case CLI_L_KEY_SER:
		case CLI_L_VALUE_SER:
			if (cli_serializer(
			        optarg, ch == CLI_L_KEY_SER
			                    ? &c->make.key_serializer
			                    : &c->make.value_serializer) < 0)
				return cli_usage(
				    c, "unknown serializer '%s'", optarg);
			if (ch == CLI_L_VALUE_SER)
				c->value_ser_set = 1;
			break;
		case CLI_L_TIMESTAMP:
			c->have_ts = 1;
			if ((why = cli_parse_time(optarg, &c->ts)) != NULL)
				return cli_usage(
				    c, "bad time '%s': %s", optarg, why);
			break;
		case CLI_L_OLDER:
			c->have_older = 1;
			if ((why = cli_parse_time(optarg, &c->older)) != NULL)
				return cli_usage(
				    c, "bad time '%s': %s", optarg, why);
			break;
		case CLI_L_KEEP:
			nkeep =
			    realloc(c->keep, (c->n_keep + 1) * sizeof *nkeep);
			if (nkeep == NULL)
				return cli_syserr("blt", ENOMEM);
			c->keep = nkeep;
			c->keep[c->n_keep++] = optarg;
			break;
		case CLI_L_REPAIR:
			c->repair = 1;
			break;
		}
	}
	c->args = argv + optind;
	c->nargs = argc - optind;
	if (c->nargs < c->cmd->min_args)
		return cli_usage(
		    c, "missing %s", c->nargs == 0 ? "STORE" : "operand");
	if (c->cmd->max_args >= 0 && c->nargs > c->cmd->max_args)
		return cli_usage(c, "too many operands");
	c->store = c->nargs > 0 ? c->args[0] : "";
	if (c->hex && c->escaped)
		return cli_usage(c, "--hex and --escaped exclude each other");
	if (c->make_set && (c->cmd->opts & CLI_O_CREATE) && !c->create)
		return cli_usage(c, "creation options need --create");
	if (c->make.fixed && c->value_ser_set)
		return cli_usage(c, "fixed-length stores hold raw bytes: "
		                    "no --value-serializer");
	if (c->n_keep > 0 && !c->have_older)
		return cli_usage(c, "--keep needs --older-than");
	return 0;
}

/* Run one command; the exit status is 0, 1 (missing key, problems found)
 * or 2 (usage or any other error). */
int
main(int argc, char **argv)
{
	struct cli c;
	size_t i;
	int rc;

	if (argc < 2) {
		cli_help_all(stderr);
		return CLI_ERROR;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    (strcmp(argv[1], "help") == 0 && argc == 2)) {
		cli_help_all(stdout);
		return CLI_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("blt (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
		return CLI_OK;
	}
	memset(&c, 0, sizeof c);
	for (i = 0; i < sizeof cli_cmds / sizeof cli_cmds[0]; i++)
		if (strcmp(argv[1], cli_cmds[i].name) == 0 ||
		    (strcmp(argv[1], "help") == 0 &&
		        strcmp(argv[2], cli_cmds[i].name) == 0))
			c.cmd = &cli_cmds[i];
	if (c.cmd == NULL) {
		fprintf(stderr, "blt: unknown command '%s'\n",
		    strcmp(argv[1], "help") == 0 ? argv[2] : argv[1]);
		fprintf(stderr, "Try 'blt --help'.\n");
		return CLI_ERROR;
	}
	if (strcmp(argv[1], "help") == 0) {
		cli_help(stdout, c.cmd);
		return CLI_OK;
	}
	blt_options_default(&c.make);
	c.timeout = -1;
	if ((rc = cli_getopt(&c, argc - 1, argv + 1)) == 0)
		rc = c.cmd->run(&c);
	else if (rc < 0)
		rc = CLI_OK;
	if (c.db != NULL) {
		int crc = blt_close(c.db);

		if (crc < 0 && rc == CLI_OK)
			rc = cli_fail(c.store, crc);
	}
	free(c.keep);
	return rc;
}
