/*
 * The fixture manifests and the JSON reader they need.
 *
 * The reader builds a tree of struct manifest_json (RFC 8259, strict: no
 * trailing commas, comments, NaN or invalid UTF-8; escapes decoded, NUL
 * allowed inside strings; numbers kept as text because timestamps and
 * offsets do not all fit a double).  Nesting is limited so that a hostile
 * file cannot exhaust the stack.  manifest_load() then walks the tree of one
 * manifest into a struct manifest, checking each field's type and the
 * manifest's own consistency, and decodes keys and values from hex.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "manifest.h"

#define MANIFEST_DEPTH_MAX 512   /* nesting of arrays and objects */
#define MANIFEST_INLINE_MAX 4096 /* values this long come as a digest */
#define MANIFEST_FORMAT "blt-fixture-manifest/1"

static _Thread_local char manifest_msg[1024];

struct manifest_parser {
	const char *start;
	const char *p;
	const char *end;
	int depth;
};

static int manifest_err(int rc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int manifest_parse_value(
    struct manifest_parser *ps, struct manifest_json *v);

/* Record the message for manifest_errmsg() and return rc. */
static int
manifest_err(int rc, const char *fmt, ...)
{
	char tmp[sizeof manifest_msg];
	va_list ap;

	/* fmt's arguments may point into manifest_msg itself */
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	memcpy(manifest_msg, tmp, sizeof manifest_msg);
	return rc;
}

/* The message of the last failure in this thread. */
const char *
manifest_errmsg(void)
{
	return manifest_msg;
}

/* A parse error at the parser's position, as "line L column C: why". */
static int
manifest_parse_err(const struct manifest_parser *ps, const char *why)
{
	const char *q;
	size_t line = 1, col = 1;

	for (q = ps->start; q < ps->p; q++) {
		if (*q == '\n') {
			line++;
			col = 1;
		} else
			col++;
	}
	if (ps->p >= ps->end)
		return manifest_err(-EBADMSG,
		    "line %zu column %zu: %s (at end of text)", line, col, why);
	return manifest_err(-EBADMSG, "line %zu column %zu: %s (at '%c')", line,
	    col, why,
	    (unsigned char)*ps->p >= 0x20 && (unsigned char)*ps->p < 0x7f
	        ? *ps->p
	        : '?');
}

static void
manifest_skip_space(struct manifest_parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' ||
	                              *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

/* The length of the valid UTF-8 sequence at p (before end), or 0: no
 * overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t
manifest_utf8_len(const unsigned char *p, const unsigned char *end)
{
	size_t n, i;
	unsigned lo = 0x80, hi = 0xbf;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		if (p[0] == 0xe0)
			lo = 0xa0;
		else if (p[0] == 0xed)
			hi = 0x9f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		if (p[0] == 0xf0)
			lo = 0x90;
		else if (p[0] == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if ((size_t)(end - p) < n)
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

static int
manifest_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Read the 4 hex digits of a \u escape at ps->p; -1 if they are not. */
static long
manifest_parse_u4(struct manifest_parser *ps)
{
	long u = 0;
	int i, d;

	if (ps->end - ps->p < 4)
		return -1;
	for (i = 0; i < 4; i++) {
		if ((d = manifest_hexval((unsigned char)ps->p[i])) < 0)
			return -1;
		u = u << 4 | d;
	}
	ps->p += 4;
	return u;
}

/* Append code point u as UTF-8.  Lone surrogates (which Python's json
 * writes for strings that are not valid Unicode) come out as their 3-byte
 * forms rather than failing the whole document. */
static char *
manifest_put_utf8(char *o, unsigned long u)
{
	if (u < 0x80)
		*o++ = (char)u;
	else if (u < 0x800) {
		*o++ = (char)(0xc0 | u >> 6);
		*o++ = (char)(0x80 | (u & 0x3f));
	} else if (u < 0x10000) {
		*o++ = (char)(0xe0 | u >> 12);
		*o++ = (char)(0x80 | (u >> 6 & 0x3f));
		*o++ = (char)(0x80 | (u & 0x3f));
	} else {
		*o++ = (char)(0xf0 | u >> 18);
		*o++ = (char)(0x80 | (u >> 12 & 0x3f));
		*o++ = (char)(0x80 | (u >> 6 & 0x3f));
		*o++ = (char)(0x80 | (u & 0x3f));
	}
	return o;
}

/* Parse a string at ps->p (on its opening quote) into *out and *outlen.
 * The decoded form is never longer than the source, which sizes the
 * buffer before decoding. */
static int
manifest_parse_string(struct manifest_parser *ps, char **out, size_t *outlen)
{
	const char *q;
	char *buf, *o;
	long u, lo;
	size_t n;

	ps->p++;
	for (q = ps->p; q < ps->end && *q != '"'; q++)
		if (*q == '\\' && q + 1 < ps->end)
			q++;
	if (q >= ps->end)
		return manifest_parse_err(ps, "unterminated string");
	if ((buf = malloc((size_t)(q - ps->p) + 1)) == NULL)
		return manifest_err(-ENOMEM, "out of memory");
	o = buf;
	while (*ps->p != '"') {
		unsigned char c = (unsigned char)*ps->p;

		if (c < 0x20) {
			free(buf);
			return manifest_parse_err(
			    ps, "control character in string");
		}
		if (c >= 0x80) {
			n = manifest_utf8_len((const unsigned char *)ps->p,
			    (const unsigned char *)ps->end);
			if (n == 0) {
				free(buf);
				return manifest_parse_err(
				    ps, "invalid UTF-8 in string");
			}
			memcpy(o, ps->p, n);
			o += n;
			ps->p += n;
			continue;
		}
		if (c != '\\') {
			*o++ = (char)c;
			ps->p++;
			continue;
		}
		ps->p++;
		switch (*ps->p++) {
		case '"':
			*o++ = '"';
			break;
		case '\\':
			*o++ = '\\';
			break;
		case '/':
			*o++ = '/';
			break;
		case 'b':
			*o++ = '\b';
			break;
		case 'f':
			*o++ = '\f';
			break;
		case 'n':
			*o++ = '\n';
			break;
		case 'r':
			*o++ = '\r';
			break;
		case 't':
			*o++ = '\t';
			break;
		case 'u':
			if ((u = manifest_parse_u4(ps)) < 0) {
				free(buf);
				return manifest_parse_err(ps, "bad \\u escape");
			}
			/* a high surrogate followed by a low one is a pair */
			if (u >= 0xd800 && u <= 0xdbff &&
			    ps->end - ps->p >= 6 && ps->p[0] == '\\' &&
			    ps->p[1] == 'u') {
				struct manifest_parser peek = *ps;

				peek.p += 2;
				lo = manifest_parse_u4(&peek);
				if (lo >= 0xdc00 && lo <= 0xdfff) {
					u = 0x10000 + ((u - 0xd800) << 10) +
					    (lo - 0xdc00);
					ps->p = peek.p;
				}
			}
			o = manifest_put_utf8(o, (unsigned long)u);
			break;
		default:
			ps->p--;
			free(buf);
			return manifest_parse_err(ps, "bad escape in string");
		}
	}
	ps->p++;
	*o = '\0';
	*out = buf;
	*outlen = (size_t)(o - buf);
	return 0;
}

static int
manifest_is_digit(const struct manifest_parser *ps)
{
	return ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9';
}

/* Parse a number, keeping its text: -?(0|[1-9]d*)(.d+)?([eE][+-]?d+)? */
static int
manifest_parse_number(struct manifest_parser *ps, struct manifest_json *v)
{
	const char *s = ps->p;

	if (ps->p < ps->end && *ps->p == '-')
		ps->p++;
	if (!manifest_is_digit(ps))
		return manifest_parse_err(ps, "expected a digit");
	if (*ps->p++ != '0')
		while (manifest_is_digit(ps))
			ps->p++;
	if (ps->p < ps->end && *ps->p == '.') {
		ps->p++;
		if (!manifest_is_digit(ps))
			return manifest_parse_err(
			    ps, "expected a digit after '.'");
		while (manifest_is_digit(ps))
			ps->p++;
	}
	if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
		ps->p++;
		if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
			ps->p++;
		if (!manifest_is_digit(ps))
			return manifest_parse_err(
			    ps, "expected a digit in the exponent");
		while (manifest_is_digit(ps))
			ps->p++;
	}
	v->len = (size_t)(ps->p - s);
	if ((v->str = malloc(v->len + 1)) == NULL)
		return manifest_err(-ENOMEM, "out of memory");
	memcpy(v->str, s, v->len);
	v->str[v->len] = '\0';
	v->num = strtod(v->str, NULL);
	v->type = MANIFEST_JSON_NUMBER;
	return 0;
}

/* Make room for one more kid of v; returns it, zeroed, or NULL. */
static struct manifest_json *
manifest_add_kid(struct manifest_json *v, size_t *cap)
{
	struct manifest_json *k;
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
manifest_parse_container(
    struct manifest_parser *ps, struct manifest_json *v, char close)
{
	struct manifest_json *k;
	size_t cap = 0;
	int rc;

	v->type = close == ']' ? MANIFEST_JSON_ARRAY : MANIFEST_JSON_OBJECT;
	if (++ps->depth > MANIFEST_DEPTH_MAX)
		return manifest_parse_err(ps, "nested too deeply");
	ps->p++;
	manifest_skip_space(ps);
	if (ps->p < ps->end && *ps->p == close) {
		ps->p++;
		ps->depth--;
		return 0;
	}
	for (;;) {
		if ((k = manifest_add_kid(v, &cap)) == NULL)
			return manifest_err(-ENOMEM, "out of memory");
		manifest_skip_space(ps);
		if (close == '}') {
			if (ps->p >= ps->end || *ps->p != '"')
				return manifest_parse_err(
				    ps, "expected a member name");
			if ((rc = manifest_parse_string(
			         ps, &k->key, &k->klen)) < 0)
				return rc;
			manifest_skip_space(ps);
			if (ps->p >= ps->end || *ps->p != ':')
				return manifest_parse_err(ps, "expected ':'");
			ps->p++;
		}
		if ((rc = manifest_parse_value(ps, k)) < 0)
			return rc;
		manifest_skip_space(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == close) {
			ps->p++;
			ps->depth--;
			return 0;
		}
		return manifest_parse_err(ps, close == ']'
		                                  ? "expected ',' or ']'"
		                                  : "expected ',' or '}'");
	}
}

/* Match the literal word (true, false, null) at ps->p. */
static int
manifest_parse_word(struct manifest_parser *ps, const char *word,
    struct manifest_json *v, enum manifest_json_type type)
{
	size_t n = strlen(word);

	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
		return manifest_parse_err(ps, "expected a value");
	ps->p += n;
	v->type = type;
	return 0;
}

/* Parse one value into v, which the caller has zeroed.  On failure v may
 * hold parts, which manifest_json_free() of the root releases. */
static int
manifest_parse_value(struct manifest_parser *ps, struct manifest_json *v)
{
	manifest_skip_space(ps);
	if (ps->p >= ps->end)
		return manifest_parse_err(ps, "expected a value");
	switch (*ps->p) {
	case '{':
		return manifest_parse_container(ps, v, '}');
	case '[':
		return manifest_parse_container(ps, v, ']');
	case '"':
		v->type = MANIFEST_JSON_STRING;
		return manifest_parse_string(ps, &v->str, &v->len);
	case 't':
		return manifest_parse_word(ps, "true", v, MANIFEST_JSON_TRUE);
	case 'f':
		return manifest_parse_word(ps, "false", v, MANIFEST_JSON_FALSE);
	case 'n':
		return manifest_parse_word(ps, "null", v, MANIFEST_JSON_NULL);
	default:
		if (*ps->p != '-' && (*ps->p < '0' || *ps->p > '9'))
			return manifest_parse_err(ps, "expected a value");
		return manifest_parse_number(ps, v);
	}
}

static void
manifest_json_clear(struct manifest_json *v)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		manifest_json_clear(&v->kids[i]);
	free(v->kids);
	free(v->key);
	free(v->str);
}

/* Free a tree from manifest_json_parse(); safe on NULL. */
void
manifest_json_free(struct manifest_json *v)
{
	if (v == NULL)
		return;
	manifest_json_clear(v);
	free(v);
}

/* Parse len bytes of JSON text into a tree the caller owns. */
int
manifest_json_parse(const char *text, size_t len, struct manifest_json **out)
{
	struct manifest_parser ps = {text, text, text + len, 0};
	struct manifest_json *v;
	int rc;

	*out = NULL;
	if ((v = calloc(1, sizeof *v)) == NULL)
		return manifest_err(-ENOMEM, "out of memory");
	if ((rc = manifest_parse_value(&ps, v)) < 0) {
		manifest_json_free(v);
		return rc;
	}
	manifest_skip_space(&ps);
	if (ps.p != ps.end) {
		rc = manifest_parse_err(&ps, "text after the value");
		manifest_json_free(v);
		return rc;
	}
	*out = v;
	return 0;
}

/* The member named name/len of obj, the last if repeated, or NULL. */
static const struct manifest_json *
manifest_json_member(
    const struct manifest_json *obj, const char *name, size_t len)
{
	size_t i;

	if (obj == NULL || obj->type != MANIFEST_JSON_OBJECT)
		return NULL;
	for (i = obj->n; i-- > 0;)
		if (obj->kids[i].klen == len &&
		    memcmp(obj->kids[i].key, name, len) == 0)
			return &obj->kids[i];
	return NULL;
}

/* The member name of object obj, or NULL. */
const struct manifest_json *
manifest_json_get(const struct manifest_json *obj, const char *name)
{
	return manifest_json_member(obj, name, strlen(name));
}

/* Append printf output to the path in where (size wsize) at pos. */
static void manifest_path_add(char *where, size_t wsize, size_t pos,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
manifest_path_add(char *where, size_t wsize, size_t pos, const char *fmt, ...)
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
manifest_json_live_members(const struct manifest_json *obj)
{
	size_t i, n = 0;

	for (i = 0; i < obj->n; i++)
		if (manifest_json_member(obj, obj->kids[i].key,
		        obj->kids[i].klen) == &obj->kids[i])
			n++;
	return n;
}

static int
manifest_json_eq(const struct manifest_json *a, const struct manifest_json *b,
    char *where, size_t wsize, size_t pos)
{
	const struct manifest_json *bm;
	size_t i, len;

	if (where != NULL && pos < wsize)
		where[pos] = '\0';
	if (a->type != b->type)
		return 0;
	switch (a->type) {
	case MANIFEST_JSON_NULL:
	case MANIFEST_JSON_FALSE:
	case MANIFEST_JSON_TRUE:
		return 1;
	case MANIFEST_JSON_NUMBER:
		return (a->len == b->len &&
		           memcmp(a->str, b->str, a->len) == 0) ||
		       a->num == b->num;
	case MANIFEST_JSON_STRING:
		return a->len == b->len && memcmp(a->str, b->str, a->len) == 0;
	case MANIFEST_JSON_ARRAY:
		if (a->n != b->n)
			return 0;
		for (i = 0; i < a->n; i++) {
			manifest_path_add(where, wsize, pos, "[%zu]", i);
			len = where != NULL ? strlen(where) : 0;
			if (!manifest_json_eq(
			        &a->kids[i], &b->kids[i], where, wsize, len))
				return 0;
		}
		break;
	case MANIFEST_JSON_OBJECT:
		for (i = 0; i < a->n; i++) {
			if (manifest_json_member(a, a->kids[i].key,
			        a->kids[i].klen) != &a->kids[i])
				continue;
			manifest_path_add(where, wsize, pos, ".%.*s",
			    (int)a->kids[i].klen, a->kids[i].key);
			len = where != NULL ? strlen(where) : 0;
			bm = manifest_json_member(
			    b, a->kids[i].key, a->kids[i].klen);
			if (bm == NULL)
				return 0;
			if (!manifest_json_eq(
			        &a->kids[i], bm, where, wsize, len))
				return 0;
		}
		if (where != NULL && pos < wsize)
			where[pos] = '\0';
		/* every member of a is in b; equal counts leave b no extra */
		if (manifest_json_live_members(a) !=
		    manifest_json_live_members(b))
			return 0;
		break;
	}
	if (where != NULL && pos < wsize)
		where[pos] = '\0';
	return 1;
}

/* 1 if a and b are the same JSON value, else 0 with a path in where. */
int
manifest_json_equal(const struct manifest_json *a,
    const struct manifest_json *b, char *where, size_t wsize)
{
	if (where != NULL && wsize > 0)
		snprintf(where, wsize, "$");
	return manifest_json_eq(a, b, where, wsize, 1);
}

/* Decode 2n hex digits at hex into n bytes at out. */
int
manifest_unhex(const char *hex, size_t n, unsigned char *out)
{
	size_t i;
	int hi, lo;

	for (i = 0; i < n; i++) {
		hi = manifest_hexval((unsigned char)hex[2 * i]);
		lo = hi < 0 ? -1
		            : manifest_hexval((unsigned char)hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return manifest_err(
			    -EBADMSG, "bad hex digit at %zu", 2 * i);
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

/* The hex of n bytes at p in buf, shortened with "..." to fit. */
char *
manifest_hex(const void *p, size_t n, char *buf, size_t bufsz)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *b = p;
	size_t i, room;

	if (bufsz == 0)
		return buf;
	room = (bufsz - 1) / 2;
	if (n > room)
		room = bufsz > 8 ? (bufsz - 4) / 2 : 0;
	else
		room = n;
	for (i = 0; i < room; i++) {
		buf[2 * i] = digits[b[i] >> 4];
		buf[2 * i + 1] = digits[b[i] & 15];
	}
	buf[2 * room] = '\0';
	if (room < n && bufsz >= 4)
		memcpy(buf + 2 * room, "...", 4);
	return buf;
}

/* Read the whole file at path into a NUL-terminated buffer. */
static int
manifest_read_file(const char *path, char **out, size_t *outlen)
{
	struct stat sb;
	char *buf = NULL;
	size_t got = 0;
	ssize_t r;
	int fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return manifest_err(-errno, "%s: %s", path, strerror(errno));
	if (fstat(fd, &sb) == -1) {
		rc = manifest_err(-errno, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if ((buf = malloc((size_t)sb.st_size + 1)) == NULL) {
		rc = manifest_err(-ENOMEM, "%s: out of memory", path);
		goto fail;
	}
	while (got < (size_t)sb.st_size) {
		r = read(fd, buf + got, (size_t)sb.st_size - got);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			rc = manifest_err(
			    -errno, "%s: %s", path, strerror(errno));
			goto fail;
		}
		if (r == 0)
			break; /* shrank meanwhile: parse what is there */
		got += (size_t)r;
	}
	buf[got] = '\0';
	close(fd);
	*out = buf;
	*outlen = got;
	return 0;
fail:
	free(buf);
	close(fd);
	return rc;
}

static const char *
manifest_type_name(enum manifest_json_type t)
{
	switch (t) {
	case MANIFEST_JSON_NULL:
		return "null";
	case MANIFEST_JSON_FALSE:
	case MANIFEST_JSON_TRUE:
		return "a boolean";
	case MANIFEST_JSON_NUMBER:
		return "a number";
	case MANIFEST_JSON_STRING:
		return "a string";
	case MANIFEST_JSON_ARRAY:
		return "an array";
	case MANIFEST_JSON_OBJECT:
		return "an object";
	}
	return "?";
}

/* Where a field lives, for messages: "items[3].value_len" and the like. */
struct manifest_ctx {
	const char *path;
	const char *where; /* "" at the top level */
};

/* The member name of obj, which must exist; *out may be NULL when the
 * member is null and nullable is set. */
static int
manifest_field(const struct manifest_ctx *c, const struct manifest_json *obj,
    const char *name, enum manifest_json_type type, int nullable,
    const struct manifest_json **out)
{
	const struct manifest_json *v = manifest_json_get(obj, name);

	*out = NULL;
	if (v == NULL)
		return manifest_err(
		    -EBADMSG, "%s: %s%s missing", c->path, c->where, name);
	if (v->type == MANIFEST_JSON_NULL && nullable)
		return 0;
	if (v->type == type ||
	    (type == MANIFEST_JSON_TRUE && v->type == MANIFEST_JSON_FALSE)) {
		*out = v;
		return 0;
	}
	return manifest_err(-EBADMSG, "%s: %s%s is %s, not %s%s", c->path,
	    c->where, name, manifest_type_name(v->type),
	    manifest_type_name(type), nullable ? " or null" : "");
}

/* An integer field between min and max (inclusive), from its text. */
static int
manifest_int_field(const struct manifest_ctx *c,
    const struct manifest_json *obj, const char *name, int nullable,
    int64_t min, uint64_t max, int *isnull, int64_t *sval, uint64_t *uval)
{
	const struct manifest_json *v;
	const char *s;
	uint64_t u = 0;
	int64_t s64;
	int neg, rc;

	if ((rc = manifest_field(
	         c, obj, name, MANIFEST_JSON_NUMBER, nullable, &v)) < 0)
		return rc;
	if (isnull != NULL)
		*isnull = v == NULL;
	if (v == NULL)
		return 0;
	s = v->str;
	neg = *s == '-';
	s += neg;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (u > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			goto bad;
		u = u * 10 + (uint64_t)(*s - '0');
	}
	if (*s != '\0')
		goto bad; /* a fraction or an exponent */
	if (neg && u > (uint64_t)INT64_MAX + 1)
		goto bad;
	if (neg)
		s64 = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
	else
		s64 = u > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)u;
	if ((neg && s64 < min) || (!neg && u > max))
		goto bad;
	if (uval != NULL)
		*uval = neg ? 0 : u;
	if (sval != NULL)
		*sval = s64;
	return 0;
bad:
	return manifest_err(-EBADMSG,
	    "%s: %s%s is %s, not an integer in [%lld, %llu]", c->path, c->where,
	    name, v->str, (long long)min, (unsigned long long)max);
}

/* A hex string field decoded into a new buffer (*out NULL when null). */
static int
manifest_hex_field(const struct manifest_ctx *c,
    const struct manifest_json *obj, const char *name, int nullable,
    unsigned char **out, size_t *outlen)
{
	const struct manifest_json *v;
	int rc;

	*out = NULL;
	*outlen = 0;
	if ((rc = manifest_field(
	         c, obj, name, MANIFEST_JSON_STRING, nullable, &v)) < 0 ||
	    v == NULL)
		return rc;
	if (v->len % 2 != 0)
		return manifest_err(-EBADMSG,
		    "%s: %s%s has an odd number of hex digits", c->path,
		    c->where, name);
	if ((*out = malloc(v->len / 2 + 1)) == NULL)
		return manifest_err(-ENOMEM, "%s: out of memory", c->path);
	if (manifest_unhex(v->str, v->len / 2, *out) < 0) {
		free(*out);
		*out = NULL;
		return manifest_err(
		    -EBADMSG, "%s: %s%s is not hex", c->path, c->where, name);
	}
	*outlen = v->len / 2;
	return 0;
}

/* A hex field that must decode to exactly n bytes at out. */
static int
manifest_fixed_hex_field(const struct manifest_ctx *c,
    const struct manifest_json *obj, const char *name, unsigned char *out,
    size_t n)
{
	const struct manifest_json *v;
	int rc;

	if ((rc = manifest_field(c, obj, name, MANIFEST_JSON_STRING, 0, &v)) <
	    0)
		return rc;
	if (v->len != 2 * n || manifest_unhex(v->str, n, out) < 0)
		return manifest_err(-EBADMSG, "%s: %s%s is not %zu hex bytes",
		    c->path, c->where, name, n);
	return 0;
}

static int
manifest_item_cmp(const void *a, const void *b)
{
	const struct manifest_item *x = a, *y = b;
	size_t n = x->klen < y->klen ? x->klen : y->klen;
	int r = n ? memcmp(x->key, y->key, n) : 0;

	if (r != 0)
		return r;
	return (x->klen > y->klen) - (x->klen < y->klen);
}

/* Fill item i from its JSON object and check it against itself and the
 * file-level fields. */
static int
manifest_load_item(struct manifest *m, const struct manifest_json *j, size_t i)
{
	struct manifest_item *it = &m->items[i];
	const struct manifest_json *v;
	unsigned char digest[SHA256_LEN];
	char where[64];
	struct manifest_ctx c = {m->path, where};
	size_t vlen;
	int isnull, rc;

	snprintf(where, sizeof where, "items[%zu].", i);
	it->timestamp = MANIFEST_NO_TS;
	if (j->type != MANIFEST_JSON_OBJECT)
		return manifest_err(-EBADMSG,
		    "%s: items[%zu] is %s, not an object", m->path, i,
		    manifest_type_name(j->type));
	if ((rc = manifest_field(
	         &c, j, "key_hex", MANIFEST_JSON_STRING, 0, &v)) < 0)
		return rc;
	it->key_hex = v->str;
	if ((rc = manifest_hex_field(
	         &c, j, "key_hex", 0, &it->key, &it->klen)) < 0)
		return rc;
	if ((rc = manifest_hex_field(
	         &c, j, "value_hex", 1, &it->value, &vlen)) < 0)
		return rc;
	if ((rc = manifest_int_field(&c, j, "value_len", 0, 0, UINT32_MAX, NULL,
	         NULL, &it->value_len)) < 0)
		return rc;
	if ((rc = manifest_fixed_hex_field(
	         &c, j, "value_sha256", it->sha256, SHA256_LEN)) < 0)
		return rc;
	if ((rc = manifest_int_field(&c, j, "timestamp_us", 1, INT64_MIN,
	         INT64_MAX, &isnull, &it->timestamp, NULL)) < 0)
		return rc;
	if (isnull)
		it->timestamp = MANIFEST_NO_TS;

	/* the manifest against itself, so a mistake there is not blamed on
	 * the store */
	if (it->value != NULL && vlen != it->value_len)
		return manifest_err(-EBADMSG,
		    "%s: %svalue_hex holds %zu bytes but value_len is %llu",
		    m->path, where, vlen, (unsigned long long)it->value_len);
	if ((it->value == NULL) != (it->value_len >= MANIFEST_INLINE_MAX))
		return manifest_err(-EBADMSG,
		    "%s: %svalue_hex should be %s for a value of %llu bytes",
		    m->path, where,
		    it->value_len >= MANIFEST_INLINE_MAX ? "null" : "given",
		    (unsigned long long)it->value_len);
	if (it->value != NULL) {
		sha256(it->value, vlen, digest);
		if (memcmp(digest, it->sha256, SHA256_LEN) != 0)
			return manifest_err(-EBADMSG,
			    "%s: %svalue_sha256 is not the digest of value_hex",
			    m->path, where);
	}
	if (isnull == m->timestamps)
		return manifest_err(-EBADMSG,
		    "%s: %stimestamp_us is %s in a store %s timestamps",
		    m->path, where, isnull ? "null" : "set",
		    m->timestamps ? "with" : "without");
	if (m->fixed && it->value_len != m->value_len)
		return manifest_err(-EBADMSG,
		    "%s: %svalue_len %llu in a fixed store of %u-byte values",
		    m->path, where, (unsigned long long)it->value_len,
		    (unsigned)m->value_len);
	if ((v = manifest_json_get(j, "key_text")) != NULL &&
	    v->type == MANIFEST_JSON_STRING &&
	    (v->len != it->klen ||
	        (v->len > 0 && memcmp(v->str, it->key, v->len) != 0)))
		return manifest_err(-EBADMSG,
		    "%s: %skey_text differs from key_hex", m->path, where);
	return 0;
}

static int
manifest_load_layout(struct manifest *m, const struct manifest_json *root)
{
	char where[] = "layout.";
	struct manifest_ctx c = {m->path, where};
	struct manifest_layout *l = &m->layout;
	const struct manifest_json *j;
	uint64_t u;
	int rc;

	if ((rc = manifest_field(
	         &c, root, "layout", MANIFEST_JSON_OBJECT, 0, &j)) < 0)
		return rc;
	if ((rc = manifest_int_field(
	         &c, j, "format_version", 0, 0, 65535, NULL, NULL, &u)) < 0)
		return rc;
	l->format_version = (unsigned)u;
	if ((rc = manifest_int_field(
	         &c, j, "n_buckets", 0, 0, UINT32_MAX, NULL, NULL, &u)) < 0)
		return rc;
	l->n_buckets = (uint32_t)u;
	if ((rc = manifest_int_field(&c, j, "header_n_keys", 0, 0, UINT32_MAX,
	         NULL, NULL, &l->header_n_keys)) < 0 ||
	    (rc = manifest_int_field(&c, j, "index_offset", 0, 0, UINT64_MAX,
	         NULL, NULL, &l->index_offset)) < 0 ||
	    (rc = manifest_int_field(&c, j, "index_offset_raw", 0, 0,
	         UINT64_MAX, NULL, NULL, &l->index_offset_raw)) < 0 ||
	    (rc = manifest_int_field(&c, j, "first_data_block_pos", 0, 0,
	         UINT64_MAX, NULL, NULL, &l->first_data)) < 0 ||
	    (rc = manifest_int_field(&c, j, "first_data_block_pos_raw", 0, 0,
	         UINT64_MAX, NULL, NULL, &l->first_data_raw)) < 0 ||
	    (rc = manifest_int_field(&c, j, "file_size", 0, 0, UINT64_MAX, NULL,
	         NULL, &l->file_size)) < 0 ||
	    (rc = manifest_int_field(&c, j, "file_timestamp_us", 0, INT64_MIN,
	         INT64_MAX, NULL, &l->file_timestamp, NULL)) < 0)
		return rc;
	return manifest_fixed_hex_field(&c, j, "uuid", l->uuid, 16);
}

static int
manifest_load_reserved(struct manifest *m, const struct manifest_json *root)
{
	char where[] = "reserved.";
	struct manifest_ctx c = {m->path, where};
	const struct manifest_json *j;
	int rc, slot;

	if ((rc = manifest_field(
	         &c, root, "reserved", MANIFEST_JSON_OBJECT, 0, &j)) < 0)
		return rc;
	for (slot = 0; slot < 2; slot++) {
		if ((rc = manifest_hex_field(&c, j, slot == 0 ? "1" : "2", 1,
		         &m->reserved[slot], &m->reserved_len[slot])) < 0)
			return rc;
		m->reserved_set[slot] = m->reserved[slot] != NULL;
	}
	return 0;
}

/* The file-level fields of README.md's "Manifest layout". */
static int
manifest_load_fields(struct manifest *m, const struct manifest_json *root)
{
	struct manifest_ctx c = {m->path, ""};
	const struct manifest_json *v;
	uint64_t u;
	int isnull, rc;

	if ((rc = manifest_field(
	         &c, root, "format", MANIFEST_JSON_STRING, 0, &v)) < 0)
		return rc;
	if (strcmp(v->str, MANIFEST_FORMAT) != 0)
		return manifest_err(-EBADMSG,
		    "%s: format is \"%s\", not \"%s\"", m->path, v->str,
		    MANIFEST_FORMAT);
	if ((rc = manifest_field(
	         &c, root, "file", MANIFEST_JSON_STRING, 0, &v)) < 0)
		return rc;
	m->file = v->str;
	if ((rc = manifest_int_field(&c, root, "n_keys", 0, 0, UINT64_MAX, NULL,
	         NULL, &m->n_keys)) < 0)
		return rc;
	if ((rc = manifest_field(&c, root, "variable_or_fixed",
	         MANIFEST_JSON_STRING, 0, &v)) < 0)
		return rc;
	if (strcmp(v->str, "fixed") == 0)
		m->fixed = 1;
	else if (strcmp(v->str, "variable") != 0)
		return manifest_err(-EBADMSG, "%s: variable_or_fixed is \"%s\"",
		    m->path, v->str);
	if ((rc = manifest_int_field(&c, root, "value_len", !m->fixed, 0,
	         UINT32_MAX, &isnull, NULL, &u)) < 0)
		return rc;
	m->value_len = isnull ? 0 : (uint32_t)u;
	if (!m->fixed && !isnull)
		return manifest_err(-EBADMSG,
		    "%s: value_len is set for a variable store", m->path);
	if ((rc = manifest_field(
	         &c, root, "key_serializer", MANIFEST_JSON_STRING, 1, &v)) < 0)
		return rc;
	m->key_serializer = v != NULL ? v->str : NULL;
	if ((rc = manifest_field(&c, root, "value_serializer",
	         MANIFEST_JSON_STRING, 1, &v)) < 0)
		return rc;
	m->value_serializer = v != NULL ? v->str : NULL;
	if ((rc = manifest_int_field(&c, root, "key_serializer_code", 0, 0,
	         65535, NULL, NULL, &u)) < 0)
		return rc;
	m->key_serializer_code = (unsigned)u;
	if ((rc = manifest_int_field(&c, root, "value_serializer_code", 0, 0,
	         65535, NULL, NULL, &u)) < 0)
		return rc;
	m->value_serializer_code = (unsigned)u;
	if ((rc = manifest_field(
	         &c, root, "timestamps", MANIFEST_JSON_TRUE, 0, &v)) < 0)
		return rc;
	m->timestamps = v->type == MANIFEST_JSON_TRUE;
	if ((v = manifest_json_get(root, "metadata")) == NULL)
		return manifest_err(-EBADMSG, "%s: metadata missing", m->path);
	m->metadata = v->type == MANIFEST_JSON_NULL ? NULL : v;
	if ((rc = manifest_load_reserved(m, root)) < 0)
		return rc;
	return manifest_load_layout(m, root);
}

static int
manifest_load_items(struct manifest *m, const struct manifest_json *root)
{
	struct manifest_ctx c = {m->path, ""};
	const struct manifest_json *items;
	char hex[80];
	size_t i;
	int rc;

	if ((rc = manifest_field(
	         &c, root, "items", MANIFEST_JSON_ARRAY, 0, &items)) < 0)
		return rc;
	if (items->n != m->n_keys)
		return manifest_err(-EBADMSG,
		    "%s: n_keys is %llu but items holds %zu", m->path,
		    (unsigned long long)m->n_keys, items->n);
	if (items->n > 0 &&
	    (m->items = calloc(items->n, sizeof *m->items)) == NULL)
		return manifest_err(-ENOMEM, "%s: out of memory", m->path);
	m->n_items = items->n;
	for (i = 0; i < items->n; i++)
		if ((rc = manifest_load_item(m, &items->kids[i], i)) < 0)
			return rc;
	if (m->n_items > 1)
		qsort(
		    m->items, m->n_items, sizeof *m->items, manifest_item_cmp);
	for (i = 1; i < m->n_items; i++)
		if (manifest_item_cmp(&m->items[i - 1], &m->items[i]) == 0)
			return manifest_err(-EBADMSG,
			    "%s: key %s is listed twice", m->path,
			    manifest_hex(m->items[i].key, m->items[i].klen, hex,
			        sizeof hex));
	return 0;
}

/* Read and check the manifest at path into a struct manifest. */
int
manifest_load(const char *path, struct manifest **out)
{
	struct manifest *m;
	char *text = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	if ((m = calloc(1, sizeof *m)) == NULL)
		return manifest_err(-ENOMEM, "%s: out of memory", path);
	if ((m->path = strdup(path)) == NULL) {
		rc = manifest_err(-ENOMEM, "%s: out of memory", path);
		goto fail;
	}
	if ((rc = manifest_read_file(path, &text, &len)) < 0)
		goto fail;
	if ((rc = manifest_json_parse(text, len, &m->root)) < 0) {
		rc = manifest_err(rc, "%s: %s", path, manifest_errmsg());
		goto fail;
	}
	free(text);
	text = NULL;
	if (m->root->type != MANIFEST_JSON_OBJECT) {
		rc = manifest_err(-EBADMSG, "%s: not a JSON object", path);
		goto fail;
	}
	if ((rc = manifest_load_fields(m, m->root)) < 0 ||
	    (rc = manifest_load_items(m, m->root)) < 0)
		goto fail;
	*out = m;
	return 0;
fail:
	free(text);
	manifest_free(m);
	return rc;
}

/* Free a manifest; safe on NULL. */
void
manifest_free(struct manifest *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->n_items; i++) {
		free(m->items[i].key);
		free(m->items[i].value);
	}
	free(m->items);
	free(m->reserved[0]);
	free(m->reserved[1]);
	manifest_json_free(m->root);
	free(m->path);
	free(m);
}

/* The item with key key, by binary search over the sorted items. */
const struct manifest_item *
manifest_find(const struct manifest *m, const void *key, size_t klen)
{
	struct manifest_item probe = {
	    .key = (unsigned char *)key, .klen = klen};
	size_t lo = 0, hi = m->n_items, mid;
	int r;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		r = manifest_item_cmp(&probe, &m->items[mid]);
		if (r == 0)
			return &m->items[mid];
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}
