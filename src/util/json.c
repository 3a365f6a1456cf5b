/*
 * JSON for the tools; see json.h for the contract.
 *
 * json_parse() copies the text once, right behind the root node, and
 * decodes every string and member name in place in that copy (a decoded
 * string is never longer than its source), so that a large value, such as
 * the hex of a value in a line of blt load input, costs no allocation of
 * its own.  Only numbers get a small buffer each, since the character that
 * ends one is still to be read and cannot hold its NUL.  Nesting is limited
 * so that hostile text cannot exhaust the stack.
 *
 * The writers below the reader escape what a terminal would act on, which
 * blt shares for the escapes of ls (blt-keys.c).
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bltutil.h"

struct json_parser {
	const char *orig; /* the caller's text, for positions in messages */
	char *start;      /* our copy, decoded in place */
	char *p;
	char *end;
	int depth;
	int depth_max; /* JSON_DEPTH or JSON_PYTHON_DEPTH */
	int flags;
};

static int json_parse_value(struct json_parser *ps, struct json *v);

/* A fault at byte off of text, as "line L column C: why" (or "column C:
 * why" for JSON_LINE), with the character there.  The position is counted
 * in the caller's text: our copy may hold decoded newlines by now. */
int
json_error_at(
    const char *text, size_t len, size_t off, int flags, const char *why)
{
	size_t line = 1, col = 1, i;
	char where[64];
	unsigned char at;

	if (off > len)
		off = len;
	for (i = 0; i < off; i++) {
		if (text[i] == '\n') {
			line++;
			col = 1;
		} else
			col++;
	}
	if (flags & JSON_LINE)
		snprintf(where, sizeof where, "column %zu", col);
	else
		snprintf(where, sizeof where, "line %zu column %zu", line, col);
	if (off >= len)
		return blt_errmsg_set(-EBADMSG, "%s: %s (at end of %s)", where,
		    why, flags & JSON_LINE ? "line" : "text");
	at = (unsigned char)text[off];
	return blt_errmsg_set(-EBADMSG, "%s: %s (at '%c')", where, why,
	    at >= 0x20 && at < 0x7f ? at : '?');
}

/* A parse error at the parser's position. */
static int
json_parse_err(const struct json_parser *ps, const char *why)
{
	return json_error_at(ps->orig, (size_t)(ps->end - ps->start),
	    (size_t)(ps->p - ps->start), ps->flags, why);
}

static void
json_skip_space(struct json_parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' ||
	                              *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

static int
json_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Read the 4 hex digits of a \u escape at p (before end); -1 if they are
 * not. */
static long
json_u4(const char *p, const char *end)
{
	long u = 0;
	int i, d;

	if (end - p < 4)
		return -1;
	for (i = 0; i < 4; i++) {
		if ((d = json_hexval((unsigned char)p[i])) < 0)
			return -1;
		u = u << 4 | d;
	}
	return u;
}

/* Decode the \u escape at ps->p (behind the "\u"), a surrogate pair too,
 * into *cp. */
static int
json_parse_u(struct json_parser *ps, uint32_t *cp)
{
	long u, lo;

	if ((u = json_u4(ps->p, ps->end)) < 0)
		return json_parse_err(ps, "bad \\u escape");
	ps->p += 4;
	if (u >= 0xd800 && u <= 0xdbff && ps->end - ps->p >= 6 &&
	    ps->p[0] == '\\' && ps->p[1] == 'u' &&
	    (lo = json_u4(ps->p + 2, ps->end)) >= 0xdc00 && lo <= 0xdfff) {
		u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
		ps->p += 6;
	} else if (u >= 0xd800 && u <= 0xdfff && !(ps->flags & JSON_SURROGATES))
		return json_parse_err(ps, "lone surrogate");
	*cp = (uint32_t)u;
	return 0;
}

/* Decode the string at ps->p (on its opening quote) in place; *out and
 * *outlen give its bytes, NUL-terminated where the source was. */
static int
json_parse_string(struct json_parser *ps, char **out, size_t *outlen)
{
	char *w = ++ps->p;
	char *s = w;
	uint32_t c;
	size_t n;
	int rc;

	for (;;) {
		if (ps->p >= ps->end)
			return json_parse_err(ps, "unterminated string");
		c = (unsigned char)*ps->p;
		if (c == '"')
			break;
		if (c < 0x20)
			return json_parse_err(
			    ps, "control character in string");
		if (c >= 0x80) {
			n = json_utf8_decode((const unsigned char *)ps->p,
			    (size_t)(ps->end - ps->p), &c);
			if (n == 0)
				return json_parse_err(
				    ps, "invalid UTF-8 in string");
			memmove(w, ps->p, n);
			w += n;
			ps->p += n;
			continue;
		}
		if (c != '\\') {
			*w++ = (char)c;
			ps->p++;
			continue;
		}
		if (++ps->p >= ps->end)
			return json_parse_err(ps, "unterminated string");
		switch (*ps->p++) {
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
			if ((rc = json_parse_u(ps, &c)) < 0)
				return rc;
			w += json_utf8_encode(c, (unsigned char *)w);
			break;
		default:
			ps->p--;
			return json_parse_err(ps, "bad escape in string");
		}
	}
	ps->p++;
	*w = '\0'; /* at the closing quote at the latest */
	*out = s;
	*outlen = (size_t)(w - s);
	return 0;
}

static int
json_is_digit(const struct json_parser *ps)
{
	return ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9';
}

/* Parse a number, keeping its text: -?(0|[1-9]d*)(.d+)?([eE][+-]?d+)? */
static int
json_parse_number(struct json_parser *ps, struct json *v)
{
	const char *s = ps->p;

	if (ps->p < ps->end && *ps->p == '-')
		ps->p++;
	if (!json_is_digit(ps))
		return json_parse_err(ps, "expected a digit");
	if (*ps->p++ != '0')
		while (json_is_digit(ps))
			ps->p++;
	if (ps->p < ps->end && *ps->p == '.') {
		ps->p++;
		if (!json_is_digit(ps))
			return json_parse_err(ps, "expected a digit after '.'");
		while (json_is_digit(ps))
			ps->p++;
	}
	if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
		ps->p++;
		if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
			ps->p++;
		if (!json_is_digit(ps))
			return json_parse_err(
			    ps, "expected a digit in the exponent");
		while (json_is_digit(ps))
			ps->p++;
	}
	v->len = (size_t)(ps->p - s);
	if ((v->str = malloc(v->len + 1)) == NULL)
		return blt_errmsg_set(-ENOMEM, "out of memory");
	memcpy(v->str, s, v->len);
	v->str[v->len] = '\0';
	v->num = strtod(v->str, NULL);
	v->type = JSON_NUMBER;
	return 0;
}

/* Make room for one more kid of v; returns it, zeroed, or NULL. */
static struct json *
json_add_kid(struct json *v, size_t *cap)
{
	struct json *k;
	size_t ncap;

	if (v->n == *cap) {
		ncap = *cap ? *cap * 2 : 4;
		if ((k = realloc(v->kids, ncap * sizeof *k)) == NULL)
			return NULL;
		v->kids = k;
		*cap = ncap;
	}
	k = &v->kids[v->n++];
	memset(k, 0, sizeof *k);
	return k;
}

/* Parse an array or object at ps->p (on its bracket); close is ']' or '}'. */
static int
json_parse_container(struct json_parser *ps, struct json *v, char close)
{
	struct json *k;
	size_t cap = 0;
	int rc;

	v->type = close == ']' ? JSON_ARRAY : JSON_OBJECT;
	if (++ps->depth > ps->depth_max)
		return json_parse_err(ps, "nested too deeply");
	ps->p++;
	json_skip_space(ps);
	if (ps->p < ps->end && *ps->p == close) {
		ps->p++;
		ps->depth--;
		return 0;
	}
	for (;;) {
		if ((k = json_add_kid(v, &cap)) == NULL)
			return blt_errmsg_set(-ENOMEM, "out of memory");
		json_skip_space(ps);
		if (close == '}') {
			if (ps->p >= ps->end || *ps->p != '"')
				return json_parse_err(
				    ps, "expected a member name");
			if ((rc = json_parse_string(ps, &k->key, &k->klen)) < 0)
				return rc;
			json_skip_space(ps);
			if (ps->p >= ps->end || *ps->p != ':')
				return json_parse_err(ps, "expected ':'");
			ps->p++;
		}
		if ((rc = json_parse_value(ps, k)) < 0)
			return rc;
		json_skip_space(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == close) {
			ps->p++;
			ps->depth--;
			return 0;
		}
		return json_parse_err(ps, close == ']' ? "expected ',' or ']'"
		                                       : "expected ',' or '}'");
	}
}

/* Match the literal word (true, false, null) at ps->p. */
static int
json_parse_word(struct json_parser *ps, const char *word, struct json *v,
    enum json_type type)
{
	size_t n = strlen(word);

	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
		return json_parse_err(ps, "expected a value");
	ps->p += n;
	v->type = type;
	return 0;
}

/* With JSON_PYTHON, the word NaN, Infinity or -Infinity at ps->p as a
 * number whose text is the word; 0 if there is none. */
static int
json_parse_python_word(struct json_parser *ps, struct json *v)
{
	static const char *const words[] = {"NaN", "Infinity", "-Infinity"};
	size_t i, n;

	if (!(ps->flags & JSON_PYTHON))
		return 0;
	for (i = 0; i < sizeof words / sizeof words[0]; i++) {
		n = strlen(words[i]);
		if ((size_t)(ps->end - ps->p) < n ||
		    memcmp(ps->p, words[i], n) != 0)
			continue;
		ps->p += n;
		if ((v->str = strdup(words[i])) == NULL)
			return blt_errmsg_set(-ENOMEM, "out of memory");
		v->len = n;
		v->num = strtod(v->str, NULL); /* C's strtod reads them too */
		v->type = JSON_NUMBER;
		return 1;
	}
	return 0;
}

/* Parse one value into v, which the caller has zeroed.  On failure v may
 * hold parts, which json_free() of the root releases. */
static int
json_parse_value(struct json_parser *ps, struct json *v)
{
	int rc;

	json_skip_space(ps);
	v->off = (size_t)(ps->p - ps->start);
	if (ps->p >= ps->end)
		return json_parse_err(ps, "expected a value");
	if ((*ps->p == 'N' || *ps->p == 'I' || *ps->p == '-') &&
	    (rc = json_parse_python_word(ps, v)) != 0)
		return rc < 0 ? rc : 0;
	switch (*ps->p) {
	case '{':
		return json_parse_container(ps, v, '}');
	case '[':
		return json_parse_container(ps, v, ']');
	case '"':
		v->type = JSON_STRING;
		return json_parse_string(ps, &v->str, &v->len);
	case 't':
		return json_parse_word(ps, "true", v, JSON_TRUE);
	case 'f':
		return json_parse_word(ps, "false", v, JSON_FALSE);
	case 'n':
		return json_parse_word(ps, "null", v, JSON_NULL);
	default:
		if (*ps->p != '-' && (*ps->p < '0' || *ps->p > '9'))
			return json_parse_err(ps, "expected a value");
		return json_parse_number(ps, v);
	}
}

/* Free what v holds: its kids and a number's text (strings and names live
 * in the root's copy of the text). */
static void
json_clear(struct json *v)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		json_clear(&v->kids[i]);
	free(v->kids);
	if (v->type == JSON_NUMBER)
		free(v->str);
}

/* Free a tree from json_parse(); safe on NULL. */
void
json_free(struct json *v)
{
	if (v == NULL)
		return;
	json_clear(v);
	free(v);
}

/* Parse len bytes of JSON text into a tree the caller owns. */
int
json_parse(const char *text, size_t len, int flags, struct json **out)
{
	struct json_parser ps;
	struct json *v;
	int rc;

	*out = NULL;
	if (len > SIZE_MAX - sizeof *v - 1 ||
	    (v = malloc(sizeof *v + len + 1)) == NULL)
		return blt_errmsg_set(-ENOMEM, "out of memory");
	memset(v, 0, sizeof *v);
	ps.orig = text;
	ps.start = ps.p = (char *)(v + 1);
	ps.end = ps.start + len;
	ps.depth = 0;
	ps.depth_max = (flags & JSON_PYTHON ? JSON_PYTHON_DEPTH : JSON_DEPTH) +
	               (flags & JSON_RECORD ? 1 : 0);
	ps.flags = flags;
	memcpy(ps.start, text, len);
	ps.start[len] = '\0';
	if ((rc = json_parse_value(&ps, v)) < 0)
		goto fail;
	json_skip_space(&ps);
	if (ps.p != ps.end) {
		rc = json_parse_err(&ps, "text after the value");
		goto fail;
	}
	*out = v;
	return 0;
fail:
	json_free(v);
	return rc;
}

/* The member named name/len of obj, the last if repeated, or NULL. */
static const struct json *
json_member(const struct json *obj, const char *name, size_t len)
{
	size_t i;

	if (obj == NULL || obj->type != JSON_OBJECT)
		return NULL;
	for (i = obj->n; i-- > 0;)
		if (obj->kids[i].klen == len &&
		    memcmp(obj->kids[i].key, name, len) == 0)
			return &obj->kids[i];
	return NULL;
}

/* The member name of object obj, or NULL. */
const struct json *
json_get(const struct json *obj, const char *name)
{
	return json_member(obj, name, strlen(name));
}

/* Append printf output to the path in where (size wsize) at pos. */
static void json_path_add(char *where, size_t wsize, size_t pos,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
json_path_add(char *where, size_t wsize, size_t pos, const char *fmt, ...)
{
	va_list ap;

	if (where == NULL || pos >= wsize)
		return;
	va_start(ap, fmt);
	vsnprintf(where + pos, wsize - pos, fmt, ap);
	va_end(ap);
}

/* Count the members of obj that a lookup by name would find (the last of a
 * repeated name). */
static size_t
json_live_members(const struct json *obj)
{
	size_t i, n = 0;

	for (i = 0; i < obj->n; i++)
		if (json_member(obj, obj->kids[i].key, obj->kids[i].klen) ==
		    &obj->kids[i])
			n++;
	return n;
}

static int
json_eq(const struct json *a, const struct json *b, char *where, size_t wsize,
    size_t pos)
{
	const struct json *bm;
	size_t i, len;

	if (where != NULL && pos < wsize)
		where[pos] = '\0';
	if (a->type != b->type)
		return 0;
	switch (a->type) {
	case JSON_NULL:
	case JSON_FALSE:
	case JSON_TRUE:
		return 1;
	case JSON_NUMBER:
		return (a->len == b->len &&
		           memcmp(a->str, b->str, a->len) == 0) ||
		       a->num == b->num;
	case JSON_STRING:
		return a->len == b->len && memcmp(a->str, b->str, a->len) == 0;
	case JSON_ARRAY:
		if (a->n != b->n)
			return 0;
		for (i = 0; i < a->n; i++) {
			json_path_add(where, wsize, pos, "[%zu]", i);
			len = where != NULL ? strlen(where) : 0;
			if (!json_eq(
			        &a->kids[i], &b->kids[i], where, wsize, len))
				return 0;
		}
		break;
	case JSON_OBJECT:
		for (i = 0; i < a->n; i++) {
			if (json_member(a, a->kids[i].key, a->kids[i].klen) !=
			    &a->kids[i])
				continue;
			json_path_add(where, wsize, pos, ".%.*s",
			    (int)a->kids[i].klen, a->kids[i].key);
			len = where != NULL ? strlen(where) : 0;
			bm = json_member(b, a->kids[i].key, a->kids[i].klen);
			if (bm == NULL)
				return 0;
			if (!json_eq(&a->kids[i], bm, where, wsize, len))
				return 0;
		}
		if (where != NULL && pos < wsize)
			where[pos] = '\0';
		/* every member of a is in b; equal counts leave b no extra */
		if (json_live_members(a) != json_live_members(b))
			return 0;
		break;
	}
	if (where != NULL && pos < wsize)
		where[pos] = '\0';
	return 1;
}

/* 1 if a and b are the same JSON value, else 0 with a path in where. */
int
json_same(const struct json *a, const struct json *b, char *where, size_t wsize)
{
	if (where != NULL && wsize > 0)
		snprintf(where, wsize, "$");
	return json_eq(a, b, where, wsize, 1);
}

/* The integer number v in [min, max], from its text. */
int
json_int(const struct json *v, int64_t min, uint64_t max, int64_t *sval,
    uint64_t *uval)
{
	const char *s;
	uint64_t u = 0;
	int64_t s64;
	int neg;

	if (v == NULL || v->type != JSON_NUMBER)
		return -1;
	s = v->str;
	neg = *s == '-';
	s += neg;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (u > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		u = u * 10 + (uint64_t)(*s - '0');
	}
	if (*s != '\0')
		return -1; /* a fraction or an exponent */
	if (neg && u > (uint64_t)INT64_MAX + 1)
		return -1;
	if (neg)
		s64 = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
	else
		s64 = u > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)u;
	if ((neg && s64 < min) || (!neg && u > max) ||
	    (!neg && min > 0 && s64 < min))
		return -1;
	if (uval != NULL)
		*uval = neg ? 0 : u;
	if (sval != NULL)
		*sval = s64;
	return 0;
}

/* "null", "a boolean" ... for messages. */
const char *
json_type_name(enum json_type t)
{
	switch (t) {
	case JSON_NULL:
		return "null";
	case JSON_FALSE:
	case JSON_TRUE:
		return "a boolean";
	case JSON_NUMBER:
		return "a number";
	case JSON_STRING:
		return "a string";
	case JSON_ARRAY:
		return "an array";
	case JSON_OBJECT:
		return "an object";
	}
	return "?";
}

/*
 * UTF-8 and the writers.
 */

/* The length and code point of the valid UTF-8 sequence at p, or 0. */
size_t
json_utf8_decode(const unsigned char *p, size_t n, uint32_t *cp)
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

/* 1 if the n bytes at p are valid UTF-8. */
int
json_utf8_valid(const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i, len;
	uint32_t c;

	for (i = 0; i < n; i += len)
		if ((len = json_utf8_decode(b + i, n - i, &c)) == 0)
			return 0;
	return 1;
}

/* Encode code point c at out; returns the length. */
size_t
json_utf8_encode(uint32_t c, unsigned char *out)
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

/* 1 for what a terminal would act on or hide. */
int
json_invisible(uint32_t c)
{
	return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0xad ||
	       c == 0x61c || (c >= 0x200b && c <= 0x200f) ||
	       (c >= 0x2028 && c <= 0x202e) || (c >= 0x2060 && c <= 0x206f) ||
	       c == 0xfeff || (c >= 0xfff9 && c <= 0xfffb);
}

/* Write n bytes at p as a JSON string; plain runs go out in one piece. */
void
json_put_escaped(FILE *f, const void *p, size_t n, json_escape_fn *escape)
{
	const unsigned char *b = p;
	size_t i, len, run = 0;
	uint32_t c;
	char esc[JSON_ESCAPE_MAX];

	for (i = 0; i < n; i += len) {
		esc[0] = '\0';
		if ((len = json_utf8_decode(b + i, n - i, &c)) == 0) {
			len = 1;
			c = UINT32_MAX;
		}
		escape(b + i, len, c, esc);
		if (esc[0] == '\0')
			continue;
		fwrite(b + run, 1, i - run, f);
		fputs(esc, f);
		run = i + len;
	}
	fwrite(b + run, 1, n - run, f);
}

/* The escapes JSON and blt's key spelling share: backslash, newline, tab
 * and carriage return.  1 if c is one of them (esc filled). */
int
json_escape_common(uint32_t c, char esc[JSON_ESCAPE_MAX])
{
	char e;

	switch (c) {
	case '\\':
		e = '\\';
		break;
	case '\n':
		e = 'n';
		break;
	case '\t':
		e = 't';
		break;
	case '\r':
		e = 'r';
		break;
	default:
		return 0;
	}
	esc[0] = '\\';
	esc[1] = e;
	esc[2] = '\0';
	return 1;
}

/* JSON's escapes: U+FFFD for what is not UTF-8, \u for the invisible. */
static void
json_escape_str(
    const unsigned char *p, size_t len, uint32_t c, char esc[JSON_ESCAPE_MAX])
{
	(void)p;
	(void)len;
	if (c == UINT32_MAX)
		strcpy(esc, "\\ufffd");
	else if (c == '"')
		strcpy(esc, "\\\"");
	else if (!json_escape_common(c, esc) && json_invisible(c))
		snprintf(esc, JSON_ESCAPE_MAX, "\\u%04x", (unsigned)c);
}

void
json_put_str(FILE *f, const void *p, size_t n)
{
	putc('"', f);
	json_put_escaped(f, p, n, json_escape_str);
	putc('"', f);
}

/* Write n bytes at p as hex digits, a buffer at a time. */
void
json_put_hex(FILE *f, const void *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *b = p;
	char buf[4096];
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		buf[o++] = digits[b[i] >> 4];
		buf[o++] = digits[b[i] & 15];
		if (o == sizeof buf) {
			fwrite(buf, 1, o, f);
			o = 0;
		}
	}
	fwrite(buf, 1, o, f);
}

/* Decode n hex digits into out (may be s itself); the length or -1. */
ssize_t
json_unhex(const char *s, size_t n, unsigned char *out)
{
	size_t i;
	int hi, lo;

	if (n % 2 != 0)
		return -1;
	for (i = 0; i < n / 2; i++) {
		if ((hi = json_hexval((unsigned char)s[2 * i])) < 0 ||
		    (lo = json_hexval((unsigned char)s[2 * i + 1])) < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return (ssize_t)(n / 2);
}
