/*
 * The pickle machine's numbers and text (value-pickle-read.c runs the
 * opcodes): the arguments of the opcodes that push an int, a float, a str
 * or bytes, read as CPython's unpickler reads them, and refused where it
 * would fail or where the value could not be shown.
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

/* text */

/* 0 for valid UTF-8, lone surrogates included (Python's surrogatepass
 * writes them as three-byte sequences, the tree holds them so and our text
 * escapes them as \udXXX); 1 for invalid; 2 for a high surrogate followed
 * by a low one, two characters in Python that JSON text would read back
 * as one. */
static int
pk_utf8_check(const unsigned char *s, size_t n)
{
	int high = 0; /* the character before is a high surrogate */

	for (size_t i = 0; i < n;) {
		unsigned c = s[i], need, cp;

		if (c < 0x80) {
			i++;
			high = 0;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			need = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			need = 2, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			need = 3, cp = c & 0x07;
		else
			return 1;
		if (n - i <= need)
			return 1;
		for (unsigned k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 1;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
		    cp > 0x10ffff)
			return 1;
		if (high && cp >= 0xdc00 && cp <= 0xdfff)
			return 2;
		high = cp >= 0xd800 && cp <= 0xdbff;
		i += need + 1;
	}
	return 0;
}

static size_t
pk_utf8_put(char *o, unsigned long cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Push a str node for n bytes at s (owned: s was allocated for it). */
int
pk_push_str(struct pk_dec *d, const char *s, size_t n, int owned, size_t at)
{
	struct pk_node *node;
	int rc, bad = pk_utf8_check((const unsigned char *)s, n);

	if (bad) {
		if (owned)
			free((char *)s);
		return pk_fail(d,
		    bad == 2
		        ? "the str at offset %zu holds a surrogate pair as "
		          "two characters, which JSON text would read "
		          "back as one"
		        : "the str at offset %zu is not valid UTF-8",
		    at);
	}
	if ((rc = pk_push_new(d, PK_STR, &node)) < 0) {
		if (owned)
			free((char *)s);
		return rc;
	}
	node->u.str.s = s;
	node->u.str.len = n;
	node->owned = (unsigned char)owned;
	return 0;
}

static int
pk_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* UNICODE: raw-unicode-escape, as CPython decodes it: bytes are Latin-1
 * code points, a backslash and u or U start an escape, and any other
 * backslash pair is kept as it is. */
int
pk_unicode(struct pk_dec *d, const char *s, size_t n, size_t at)
{
	char *o = malloc(n * 2 + 1), *w = o;

	if (o == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i++];
		unsigned long cp = 0;
		int count;

		if (c != '\\' || i == n) {
			w += pk_utf8_put(w, c);
			continue;
		}
		c = (unsigned char)s[i++];
		if (c != 'u' && c != 'U') {
			*w++ = '\\';
			w += pk_utf8_put(w, c);
			continue;
		}
		count = c == 'u' ? 4 : 8;
		for (int k = 0; k < count; k++, i++) {
			int h = i < n ? pk_hexval((unsigned char)s[i]) : -1;

			if (h < 0) {
				free(o);
				return pk_fail(d,
				    "bad \\%c escape in the UNICODE at offset "
				    "%zu",
				    c, at);
			}
			cp = cp << 4 | (unsigned long)h;
		}
		if (cp > 0x10ffff) {
			free(o);
			return pk_fail(d,
			    "\\U escape out of range in the UNICODE at offset "
			    "%zu",
			    at);
		}
		w += pk_utf8_put(w, cp);
	}
	return pk_push_str(d, o, (size_t)(w - o), 1, at);
}

/* STRING: a quoted repr decoded like codecs.escape_decode, then taken as
 * ASCII (Python 3's default encoding for these old strings). */
int
pk_string(struct pk_dec *d, const char *s, size_t n, size_t at)
{
	char *o, *w;

	if (n < 2 || s[0] != s[n - 1] || (s[0] != '"' && s[0] != '\''))
		return pk_fail(
		    d, "the STRING argument at offset %zu is not quoted", at);
	s++;
	n -= 2;
	if ((o = malloc(n + 1)) == NULL)
		return -ENOMEM;
	w = o;
	for (size_t i = 0; i < n;) {
		char c = s[i++];
		int v;

		if (c != '\\') {
			*w++ = c;
			continue;
		}
		if (i == n) {
			free(o);
			return pk_fail(
			    d, "trailing \\ in the STRING at offset %zu", at);
		}
		switch (c = s[i++]) {
		case '\n':
			break;
		case '\\':
		case '\'':
		case '"':
			*w++ = c;
			break;
		case 'a':
			*w++ = '\a';
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
		case 'v':
			*w++ = '\v';
			break;
		case 'x':
			if (n - i < 2 || pk_hexval((unsigned char)s[i]) < 0 ||
			    pk_hexval((unsigned char)s[i + 1]) < 0) {
				free(o);
				return pk_fail(d,
				    "bad \\x escape in the STRING at offset "
				    "%zu",
				    at);
			}
			*w++ = (char)(pk_hexval((unsigned char)s[i]) << 4 |
			              pk_hexval((unsigned char)s[i + 1]));
			i += 2;
			break;
		default:
			if (c >= '0' && c <= '7') {
				v = c - '0';
				for (int k = 0; k < 2 && i < n && s[i] >= '0' &&
				                s[i] <= '7';
				     k++)
					v = v * 8 + (s[i++] - '0');
				*w++ = (char)v;
			} else {
				*w++ = '\\';
				*w++ = c;
			}
		}
	}
	for (char *q = o; q < w; q++)
		if ((unsigned char)*q >= 0x80) {
			free(o);
			return pk_fail(d,
			    "the STRING at offset %zu is not ASCII (Python 3 "
			    "would not load it)",
			    at);
		}
	return pk_push_str(d, o, (size_t)(w - o), 1, at);
}

/* Push a node of type for the n bytes after the opcode at offset at. */
int
pk_push_bin(struct pk_dec *d, unsigned type, uint64_t n, size_t at)
{
	struct pk_node *node;
	int rc;

	if ((rc = pk_need(d, n, at)) != 0)
		return rc;
	if (type == PK_STR)
		rc = pk_push_str(
		    d, (const char *)d->p + d->pos, (size_t)n, 0, at);
	else if (type == PK_ASCII) {
		for (size_t i = 0; i < n; i++)
			if (d->p[d->pos + i] >= 0x80)
				return pk_fail(d,
				    "the BINSTRING at offset %zu is not ASCII "
				    "(Python 3 would not load it)",
				    at);
		rc = pk_push_str(
		    d, (const char *)d->p + d->pos, (size_t)n, 0, at);
	} else if ((rc = pk_push_new(d, type, &node)) == 0) {
		node->u.str.s = (const char *)d->p + d->pos;
		node->u.str.len = (size_t)n;
	}
	d->pos += (size_t)n;
	return rc;
}

/* numbers */

int
pk_push_int(struct pk_dec *d, int64_t v)
{
	struct pk_node *node;
	int rc;

	if ((rc = pk_push_new(d, PK_INT, &node)) == 0)
		node->u.i = v;
	return rc;
}

/* Push the integer whose decimal digits (no sign, no leading zero unless
 * it is 0) are s: an int if int64 holds it, else a big one. */
static int
pk_push_decimal(struct pk_dec *d, int neg, const char *s, size_t n)
{
	static const char max[] = "9223372036854775807";
	struct pk_node *node;
	char *t;
	int rc;

	if (n < 19 || (n == 19 && memcmp(s, max, 19) <= 0) ||
	    (neg && n == 19 && memcmp(s, "9223372036854775808", 19) == 0)) {
		uint64_t u = 0;

		for (size_t i = 0; i < n; i++)
			u = u * 10 + (uint64_t)(s[i] - '0');
		return pk_push_int(d, neg ? (int64_t)(0 - u) : (int64_t)u);
	}
	if ((t = malloc(n + 1)) == NULL)
		return -ENOMEM;
	t[0] = '-';
	memcpy(t + neg, s, n);
	if ((rc = pk_push_new(d, PK_BIG, &node)) < 0) {
		free(t);
		return rc;
	}
	node->owned = 1;
	node->u.str.s = t;
	node->u.str.len = n + (size_t)neg;
	return 0;
}

/* INT and LONG arguments: an optional sign and plain decimal digits. */
int
pk_text_int(struct pk_dec *d, const char *s, size_t n, size_t at)
{
	int neg = 0;

	if (n && (s[0] == '-' || s[0] == '+')) {
		neg = s[0] == '-';
		s++;
		n--;
	}
	if (n == 0 || n > PK_MAX_TEXT_INT_DIGITS || (s[0] == '0' && n > 1))
		goto bad;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			goto bad;
	return pk_push_decimal(d, neg && s[0] != '0', s, n);
bad:
	return pk_fail(d,
	    "the integer at offset %zu is not plain decimal of at most %d "
	    "digits (Python's own limit)",
	    at, PK_MAX_TEXT_INT_DIGITS);
}

/* LONG1 and LONG4: n bytes of little-endian two's complement. */
int
pk_long(struct pk_dec *d, size_t n, size_t at)
{
	const unsigned char *b = d->p + d->pos;
	int neg = n && (b[n - 1] & 0x80);
	size_t nl = (n + 3) / 4, nd = 0;
	uint32_t *limb;
	char *dig;
	int rc;

	if (n > PK_MAX_INT_BYTES)
		return pk_fail(d,
		    "the integer at offset %zu has %zu bytes, more than %d", at,
		    n, PK_MAX_INT_BYTES);
	if ((limb = calloc(nl + 1, sizeof *limb)) == NULL ||
	    (dig = malloc(n * 3 + 20)) == NULL) {
		free(limb);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		limb[i / 4] |= (uint32_t)(neg ? (uint8_t)~b[i] : b[i])
		               << (8 * (i % 4));
	if (neg) /* the magnitude: ~x + 1, over the bytes present */
		for (size_t i = 0; i < nl && ++limb[i] == 0; i++)
			;
	/* Decimal digits, least significant first, nine at a time. */
	for (size_t top = nl;;) {
		uint64_t rem = 0;

		while (top && limb[top - 1] == 0)
			top--;
		if (top == 0)
			break;
		for (size_t i = top; i-- > 0;) {
			uint64_t cur = rem << 32 | limb[i];

			limb[i] = (uint32_t)(cur / 1000000000u);
			rem = cur % 1000000000u;
		}
		for (int k = 0; k < 9; k++, rem /= 10)
			dig[nd++] = (char)('0' + rem % 10);
	}
	while (nd > 1 && dig[nd - 1] == '0')
		nd--;
	if (nd == 0)
		dig[nd++] = '0';
	for (size_t i = 0; i < nd / 2; i++) {
		char c = dig[i];

		dig[i] = dig[nd - 1 - i];
		dig[nd - 1 - i] = c;
	}
	rc = pk_push_decimal(d, neg, dig, nd);
	free(limb);
	free(dig);
	d->pos += n;
	return rc;
}

int
pk_push_float(struct pk_dec *d, double v)
{
	struct pk_node *node;
	int rc;

	if ((rc = pk_push_new(d, PK_FLOAT, &node)) == 0)
		node->u.d = v;
	return rc;
}

/* FLOAT: what PyOS_string_to_double reads (decimal, inf, nan), else not
 * decodable; overflow is an error in Python too. */
int
pk_text_float(struct pk_dec *d, const char *s, size_t n, size_t at)
{
	char buf[512], *end;
	size_t i = 0, dg = 0;
	double v;

	if (n == 0 || n >= sizeof buf)
		goto bad;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (buf[i] == '-' || buf[i] == '+')
		i++;
	if (strcasecmp(buf + i, "inf") == 0 ||
	    strcasecmp(buf + i, "infinity") == 0)
		return pk_push_float(d, buf[0] == '-' ? -INFINITY : INFINITY);
	if (strcasecmp(buf + i, "nan") == 0)
		return pk_push_float(d, NAN);
	for (; buf[i] >= '0' && buf[i] <= '9'; i++)
		dg++;
	if (buf[i] == '.')
		for (i++; buf[i] >= '0' && buf[i] <= '9'; i++)
			dg++;
	if (dg == 0)
		goto bad;
	if (buf[i] == 'e' || buf[i] == 'E') {
		i++;
		if (buf[i] == '-' || buf[i] == '+')
			i++;
		if (buf[i] < '0' || buf[i] > '9')
			goto bad;
		while (buf[i] >= '0' && buf[i] <= '9')
			i++;
	}
	if (i != n)
		goto bad;
	v = strtod(buf, &end);
	if (isinf(v))
		goto bad;
	return pk_push_float(d, v);
bad:
	return pk_fail(
	    d, "the FLOAT at offset %zu is not a finite decimal", at);
}
