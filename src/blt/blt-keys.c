/*
 * How blt spells keys on its command line and in its output: verbatim
 * bytes, decimal numbers for the integer serializers (codes 6..15), hex
 * with --hex, or the backslash escapes that ls prints with --escaped.
 * cli_key() reads them; cli_key_show() writes them.  doc/blt.1 describes
 * each spelling.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "booklet.h"
#include "blt.h"
#include "bltutil.h"

/* The escapes of cli_put_escaped(): json_put_str()'s inside the quotes,
 * but \xhh for what is not UTF-8 and for ASCII controls. */
static void
cli_escape(
    const unsigned char *p, size_t len, uint32_t c, char esc[JSON_ESCAPE_MAX])
{
	(void)len;
	if (c == UINT32_MAX)
		snprintf(esc, JSON_ESCAPE_MAX, "\\x%02x", p[0]);
	else if (!json_escape_common(c, esc) && json_invisible(c))
		snprintf(esc, JSON_ESCAPE_MAX, c < 0x80 ? "\\x%02x" : "\\u%04x",
		    (unsigned)c);
}

/* Write bytes the way ls shows keys, which cli_unescape() reverses. */
void
cli_put_escaped(FILE *f, const unsigned char *p, size_t n)
{
	json_put_escaped(f, p, n, cli_escape);
}

/* A key argument in a message: escaped, and cut after 200 bytes. */
static void
cli_put_shown(FILE *f, const char *arg)
{
	size_t n = strlen(arg);

	cli_put_escaped(f, (const unsigned char *)arg, n > 200 ? 200 : n);
	if (n > 200)
		fprintf(f, "... (%zu bytes)", n);
}

/* Decode the escapes of cli_put_escaped() from s into out (which may be s
 * itself: the output is never longer); the length or -1. */
static ssize_t
cli_unescape(const char *s, unsigned char *out)
{
	size_t o = 0;
	unsigned char b[2];
	uint32_t c;
	size_t n;

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
			n = s[1] == 'x' ? 2 : 4;
			if (strspn(s + 2, "0123456789abcdefABCDEF") < n ||
			    json_unhex(s + 2, n, b) < 0)
				return -1;
			c = n == 2 ? b[0] : (uint32_t)b[0] << 8 | b[1];
			if (n == 2)
				out[o++] = (unsigned char)c;
			else if (c >= 0xd800 && c <= 0xdfff)
				return -1;
			else
				o += json_utf8_encode(c, out + o);
			s += n;
			break;
		default:
			return -1;
		}
		s += 2;
	}
	return (ssize_t)o;
}

/* cli_int_encode()'s failures. */
#define CLI_INT_SPELLING (-1) /* not a decimal as ls shows one */
#define CLI_INT_RANGE (-2)    /* a number the type does not hold */

/* Encode decimal s as the store's integer serializer (little-endian, two's
 * complement); the width, or CLI_INT_SPELLING or CLI_INT_RANGE.  Each
 * number has one spelling, the one ls shows and the mount takes
 * (doc/keys.md): digits without a leading zero, after a '-' for a number
 * below 0.  007, +5 and -0 would name keys that ls never shows as such,
 * and that the mount refuses. */
static int
cli_int_encode(unsigned code, const char *s, unsigned char *out)
{
	int sign, w = blt_int_key_width(code, &sign), i, neg = *s == '-';
	uint64_t mag, max, v;

	s += neg;
	if (*s == '\0' || strspn(s, "0123456789") != strlen(s) ||
	    (s[0] == '0' && (s[1] != '\0' || neg)))
		return CLI_INT_SPELLING;
	if (timearg_number(s, UINT64_MAX, &mag) < 0)
		return CLI_INT_RANGE;
	if (sign)
		max = (UINT64_C(1) << (8 * w - 1)) - (neg ? 0 : 1);
	else
		max = neg      ? 0
		      : w == 8 ? UINT64_MAX
		               : (UINT64_C(1) << 8 * w) - 1;
	if (mag > max)
		return CLI_INT_RANGE;
	v = neg ? 0 - mag : mag;
	for (i = 0; i < w; i++)
		out[i] = (unsigned char)(v >> 8 * i);
	return w;
}

/* Write an integer key as decimal into buf; 0 if k is not one. */
int
cli_int_decode(
    unsigned code, const unsigned char *k, size_t klen, char *buf, size_t n)
{
	int sign, w = blt_int_key_width(code, &sign), i;
	uint64_t v = 0;

	if (w == 0 || klen != (size_t)w)
		return 0;
	for (i = 0; i < w; i++)
		v |= (uint64_t)k[i] << 8 * i;
	if (sign && v >> (8 * w - 1) != 0) {
		if (w < 8)
			v |= UINT64_MAX << 8 * w;
		snprintf(buf, n, "-%" PRIu64, 0 - v);
	} else
		snprintf(buf, n, "%" PRIu64, v);
	return 1;
}

/* Turn a key argument into the key's bytes in a fresh buffer: hex with
 * --hex, escapes with --escaped, decimal for integer serializers, else the
 * argument's bytes. */
int
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
		r = json_unhex(arg, n, buf);
		why = "not hex (pairs of digits 0-9, a-f)";
	} else if (c->escaped) {
		r = cli_unescape(arg, buf);
		why = "bad backslash escape";
	} else if (blt_int_key_width(code, NULL) != 0) {
		r = cli_int_encode(code, arg, buf);
		why = r == CLI_INT_SPELLING
		          ? "not a number as ls shows integer keys (no leading "
		            "zero, no '+', no -0)"
		          : NULL;
	} else {
		memcpy(buf, arg, n);
		r = (ssize_t)n;
		why = NULL;
	}
	if (r > BLT_KEY_MAX) {
		free(buf);
		fprintf(stderr,
		    "blt: %s: a key of %zd bytes is longer than the "
		    "format's %u\n",
		    c->store, r, BLT_KEY_MAX);
		return CLI_ERROR;
	}
	if (r < 0) {
		free(buf);
		fprintf(stderr, "blt: %s: key '", c->store);
		cli_put_shown(stderr, arg);
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

/* CLI_OK if key k can be stored in c's store: in one whose key serializer
 * is an integer, only a key of the integer's width can (hex and escaped
 * keys, and those of load, are taken as bytes).  Else 2 after a message
 * that shows the key in hex, cut after 32 bytes. */
int
cli_key_fits(struct cli *c, const unsigned char *k, size_t klen)
{
	int rc, w;

	if ((rc = cli_info(c)) != CLI_OK)
		return rc;
	w = blt_int_key_width(c->st.key_serializer, NULL);
	if (w == 0 || klen == (size_t)w)
		return CLI_OK;
	fprintf(stderr, "blt: %s: key '", c->store);
	json_put_hex(stderr, k, klen > 32 ? 32 : klen);
	fprintf(stderr, "%s' (hex) is %zu bytes long; %s keys are %d bytes\n",
	    klen > 32 ? "..." : "", klen,
	    blt_serializer_name(c->st.key_serializer), w);
	return CLI_ERROR;
}

/* Show a key: hex, decimal for integer keys, raw bytes for -0, else text
 * with escapes. */
void
cli_key_show(struct cli *c, FILE *f, const unsigned char *k, size_t klen)
{
	char num[32];

	if (c->hex)
		json_put_hex(f, k, klen);
	else if (!c->escaped &&
	         cli_int_decode(c->st.key_serializer, k, klen, num, sizeof num))
		fputs(num, f);
	else if (c->nul)
		fwrite(k, 1, klen, f);
	else
		cli_put_escaped(f, k, klen);
}

/* The message for a key that is not in the store; returns 1. */
int
cli_missing(struct cli *c, const char *arg)
{
	fprintf(stderr, "blt: %s: ", c->store);
	cli_put_shown(stderr, arg);
	fprintf(stderr, ": no such key\n");
	return CLI_MISSING;
}
