/*
 * The pickle codec: a decoder of our own for pickle protocols 0 to 5 that
 * never executes anything, and an encoder that writes protocol 5 as
 * CPython's pickle.dumps(obj, 5) does.
 *
 * Decoding runs the pickle machine of pickletools' documentation over a
 * private heap of nodes (pk_node): the stack, the marks and the memo hold
 * node numbers, so that a container shared through the memo, or filled
 * after being memoized, behaves as the one Python object it is.  Only the
 * opcodes that build None, bool, int, float, str, bytes, bytearray, list,
 * tuple, dict, set and frozenset are run; one that would import or call
 * (GLOBAL, REDUCE, BUILD ...) stops the decode with a reason.  The heap is
 * then turned into the tagged jansson tree of doc/values.md, copying what
 * was shared (JSON has no aliasing), refusing cycles, nesting past
 * PK_MAX_DEPTH and output past a weight cap (memo GET bombs), and applying
 * Python's equality to set elements and dict keys (1, 1.0 and True are one
 * key; the first key and the last value win).
 *
 * Choices where Python's loads would not give a JSON value, all "not
 * decodable" with the reason: a str holding a lone surrogate (Python loads
 * it with surrogatepass, JSON text cannot hold it); BINSTRING and STRING
 * that are not ASCII (Python 3 loads them as ASCII str and fails); integers
 * of more than PK_MAX_INT_BYTES bytes; bytes after STOP (Python ignores
 * them, we would lose them when writing back).  Protocol 0 text arguments
 * are read strictly: INT, LONG, PUT and GET take plain decimal only.
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

#define PK_MAX_DEPTH VALUE_DEPTH_MAX
#define PK_MAX_INT_BYTES 4096   /* LONG1/LONG4 payloads (9865 digits) */
#define PK_MAX_INT_DIGITS 10000 /* decimal text of INT, LONG and $int */
#define PK_NODE_WEIGHT 32       /* what one output node costs, in bytes */
#define PK_WEIGHT_FLOOR ((size_t)64 << 20)
/* Probes and comparisons for the dedup of sets and dict keys, plus 8 per
 * byte of input: crafted hash collisions cannot make it quadratic. */
#define PK_EQ_BUDGET 50000000
#define PK_FRAME_TARGET 65536 /* CPython's _FRAME_SIZE_TARGET */
#define PK_BATCH 1000         /* CPython's BATCHSIZE */

enum pk_type {
	PK_NONE,
	PK_BOOL,
	PK_INT,
	PK_BIG,
	PK_FLOAT,
	PK_STR,
	PK_BYTES,
	PK_BYTEARRAY,
	PK_LIST,
	PK_TUPLE,
	PK_DICT,
	PK_SET,
	PK_FROZENSET
};

static const char *const pk_type_names[] = {"None", "bool", "int", "int",
    "float", "str", "bytes", "bytearray", "list", "tuple", "dict", "set",
    "frozenset"};

struct pk_vec {
	size_t *v;
	size_t n, cap;
};

struct pk_node {
	unsigned char type;
	unsigned char owned; /* u.str.s was allocated, not in the input */
	unsigned char
	    on_path; /* being converted: meeting it again is a cycle */
	unsigned char hashed;
	unsigned char uniq_done;
	uint64_t hash;
	union {
		int64_t i;
		double d;
		struct {
			const char *s;
			size_t len;
		} str;               /* STR, BYTES, BYTEARRAY, BIG (decimal) */
		struct pk_vec items; /* dict: key, value, key, value ... */
	} u;
	/* Sets: positions of the distinct elements; dicts: pairs (position
	 * of the first equal key, position of the last value). */
	struct pk_vec uniq;
};

/* Fixed nodes: Python's singletons. */
enum { PK_ID_NONE, PK_ID_FALSE, PK_ID_TRUE, PK_ID_EMPTY_TUPLE, PK_ID_FIRST };

struct pk_memo {
	uint64_t *keys;
	size_t *vals; /* node + 1; 0 is a free slot */
	size_t cap, count;
};

struct pk_dec {
	const unsigned char *p;
	size_t len, pos;
	struct pk_node *nodes;
	size_t nnodes, capnodes;
	struct pk_vec stack, marks;
	struct pk_memo memo;
	char *why;
	size_t whylen;
	size_t weight, maxweight;
	long budget;
};

/* Record why the pickle is not decodable; the first reason stays. */
static int __attribute__((format(printf, 2, 3)))
pk_fail(struct pk_dec *d, const char *fmt, ...)
{
	va_list ap;

	if (d->why && d->whylen && d->why[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(d->why, d->whylen, fmt, ap);
		va_end(ap);
	}
	return BLT_VALUE_NOT_DECODABLE;
}

static int
pk_vec_push(struct pk_vec *v, size_t x)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 8;
		size_t *nv = realloc(v->v, cap * sizeof *nv);

		if (nv == NULL)
			return -ENOMEM;
		v->v = nv;
		v->cap = cap;
	}
	v->v[v->n++] = x;
	return 0;
}

/* The opcode's name for messages, with its byte. */
static const char *
pk_opname(unsigned op)
{
	switch (op) {
	case 'c':
		return "GLOBAL";
	case 'i':
		return "INST";
	case 'o':
		return "OBJ";
	case 'R':
		return "REDUCE";
	case 'b':
		return "BUILD";
	case 'P':
		return "PERSID";
	case 'Q':
		return "BINPERSID";
	case 0x81:
		return "NEWOBJ";
	case 0x82:
		return "EXT1";
	case 0x83:
		return "EXT2";
	case 0x84:
		return "EXT4";
	case 0x92:
		return "NEWOBJ_EX";
	case 0x93:
		return "STACK_GLOBAL";
	case 0x97:
		return "NEXT_BUFFER";
	case 0x98:
		return "READONLY_BUFFER";
	default:
		return "opcode";
	}
}

/* Copy n bytes of untrusted text into a message, escaped and cut short. */
static void
pk_show(char *dst, size_t cap, const char *s, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 5 < cap; i++) {
		unsigned char c = (unsigned char)s[i];

		if (i == 60) {
			o += (size_t)snprintf(dst + o, cap - o, "...");
			break;
		}
		if (c >= 0x20 && c < 0x7f && c != '\\')
			dst[o++] = (char)c;
		else
			o += (size_t)snprintf(dst + o, cap - o, "\\x%02x", c);
	}
	dst[o] = '\0';
}

static int
pk_new(struct pk_dec *d, unsigned type, size_t *id)
{
	if (d->nnodes == d->capnodes) {
		size_t cap = d->capnodes * 2;
		struct pk_node *n = realloc(d->nodes, cap * sizeof *n);

		if (n == NULL)
			return -ENOMEM;
		d->nodes = n;
		d->capnodes = cap;
	}
	memset(&d->nodes[d->nnodes], 0, sizeof d->nodes[0]);
	d->nodes[d->nnodes].type = (unsigned char)type;
	*id = d->nnodes++;
	return 0;
}

static int
pk_push_new(struct pk_dec *d, unsigned type, struct pk_node **node)
{
	size_t id;
	int rc;

	if ((rc = pk_new(d, type, &id)) < 0 ||
	    (rc = pk_vec_push(&d->stack, id)) < 0)
		return rc;
	*node = &d->nodes[id];
	return 0;
}

/* The stack above the innermost mark: what an opcode may pop. */
static size_t
pk_fence(const struct pk_dec *d)
{
	return d->marks.n ? d->marks.v[d->marks.n - 1] : 0;
}

static int
pk_underflow(struct pk_dec *d, size_t at)
{
	return pk_fail(d, "stack underflow at offset %zu", at);
}

static int
pk_pop_mark(struct pk_dec *d, size_t at, size_t *k)
{
	if (d->marks.n == 0)
		return pk_fail(d, "no MARK for the opcode at offset %zu", at);
	*k = d->marks.v[--d->marks.n];
	return 0;
}

/* Need n more bytes after the opcode at offset at. */
static int
pk_need(struct pk_dec *d, uint64_t n, size_t at)
{
	if ((uint64_t)(d->len - d->pos) < n)
		return pk_fail(d,
		    "truncated at offset %zu: the opcode at offset %zu needs "
		    "%" PRIu64 " more bytes",
		    d->len, at, n);
	return 0;
}

static uint64_t
pk_le(const unsigned char *p, int n)
{
	uint64_t u = 0;

	for (int i = n - 1; i >= 0; i--)
		u = u << 8 | p[i];
	return u;
}

/* A protocol 0 argument: the text up to the newline, which is skipped. */
static int
pk_line(struct pk_dec *d, size_t at, const char **s, size_t *n)
{
	const unsigned char *nl = memchr(d->p + d->pos, '\n', d->len - d->pos);

	if (nl == NULL)
		return pk_fail(d,
		    "truncated at offset %zu: the opcode at offset %zu has no "
		    "end of line",
		    d->len, at);
	*s = (const char *)d->p + d->pos;
	*n = (size_t)(nl - (d->p + d->pos));
	d->pos += *n + 1;
	return 0;
}

/* memo */

static size_t *
pk_memo_slot(struct pk_memo *m, uint64_t key)
{
	size_t mask = m->cap - 1;
	size_t i = (size_t)((key * 0x9e3779b97f4a7c15ull) >> 17) & mask;

	while (m->vals[i] && m->keys[i] != key)
		i = (i + 1) & mask;
	m->keys[i] = key;
	return &m->vals[i];
}

static int
pk_memo_put(struct pk_dec *d, uint64_t key, size_t id)
{
	struct pk_memo *m = &d->memo;
	size_t *slot;

	if ((m->count + 1) * 2 > m->cap) {
		struct pk_memo n = {NULL, NULL, m->cap ? m->cap * 2 : 64, 0};

		if ((n.keys = malloc(n.cap * sizeof *n.keys)) == NULL ||
		    (n.vals = calloc(n.cap, sizeof *n.vals)) == NULL) {
			free(n.keys);
			return -ENOMEM;
		}
		for (size_t i = 0; i < m->cap; i++)
			if (m->vals[i]) {
				*pk_memo_slot(&n, m->keys[i]) = m->vals[i];
				n.count++;
			}
		free(m->keys);
		free(m->vals);
		*m = n;
	}
	slot = pk_memo_slot(m, key);
	if (*slot == 0)
		m->count++;
	*slot = id + 1;
	return 0;
}

static int
pk_memo_get(struct pk_dec *d, uint64_t key, size_t at)
{
	size_t id = 0;

	if (d->memo.cap) {
		size_t mask = d->memo.cap - 1;
		size_t i = (size_t)((key * 0x9e3779b97f4a7c15ull) >> 17) & mask;

		while (d->memo.vals[i] && d->memo.keys[i] != key)
			i = (i + 1) & mask;
		id = d->memo.vals[i];
	}
	if (id == 0)
		return pk_fail(d,
		    "memo index %" PRIu64 " never set (get at offset %zu)", key,
		    at);
	return pk_vec_push(&d->stack, id - 1);
}

static int
pk_memo_top(struct pk_dec *d, uint64_t key, size_t at)
{
	if (d->stack.n <= pk_fence(d))
		return pk_underflow(d, at);
	return pk_memo_put(d, key, d->stack.v[d->stack.n - 1]);
}

/* A plain decimal argument of PUT and GET. */
static int
pk_line_index(struct pk_dec *d, size_t at, uint64_t *idx)
{
	const char *s;
	size_t n;
	int rc;

	if ((rc = pk_line(d, at, &s, &n)) != 0)
		return rc;
	*idx = 0;
	if (n == 0 || n > 19)
		return pk_fail(d, "bad memo index at offset %zu", at);
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return pk_fail(d, "bad memo index at offset %zu", at);
		*idx = *idx * 10 + (uint64_t)(s[i] - '0');
	}
	return 0;
}

/* text */

/* 0 for valid UTF-8, 1 for invalid, 2 for a surrogate (Python's
 * surrogatepass writes them as three-byte sequences). */
static int
pk_utf8_check(const unsigned char *s, size_t n)
{
	int surrogate = 0;

	for (size_t i = 0; i < n;) {
		unsigned c = s[i], need, cp;

		if (c < 0x80) {
			i++;
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
		if (cp >= 0xd800 && cp <= 0xdfff)
			surrogate = 1;
		i += need + 1;
	}
	return surrogate ? 2 : 0;
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
static int
pk_push_str(struct pk_dec *d, const char *s, size_t n, int owned, size_t at)
{
	struct pk_node *node;
	int rc, bad = pk_utf8_check((const unsigned char *)s, n);

	if (bad) {
		if (owned)
			free((char *)s);
		return pk_fail(d,
		    bad == 2 ? "the str at offset %zu holds a lone surrogate, "
		               "which JSON text cannot hold"
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
static int
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
static int
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

/* BINSTRING and SHORT_BINSTRING, pk_push_bin()'s str that must be ASCII */
#define PK_ASCII 100

/* Push a node of type for the n bytes after the opcode at offset at. */
static int
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

static int
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
static int
pk_text_int(struct pk_dec *d, const char *s, size_t n, size_t at)
{
	int neg = 0;

	if (n && (s[0] == '-' || s[0] == '+')) {
		neg = s[0] == '-';
		s++;
		n--;
	}
	if (n == 0 || n > PK_MAX_INT_DIGITS || (s[0] == '0' && n > 1))
		goto bad;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			goto bad;
	return pk_push_decimal(d, neg && s[0] != '0', s, n);
bad:
	return pk_fail(d,
	    "the integer at offset %zu is not plain decimal of at most %d "
	    "digits",
	    at, PK_MAX_INT_DIGITS);
}

/* LONG1 and LONG4: n bytes of little-endian two's complement. */
static int
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

static int
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
static int
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

/* containers */

/* Move the stack above position k into a new container of type. */
static int
pk_collect(struct pk_dec *d, unsigned type, size_t k)
{
	size_t id, n = d->stack.n - k;
	struct pk_node *node;
	int rc;

	if (type == PK_TUPLE && n == 0) {
		d->stack.n = k;
		return pk_vec_push(&d->stack, PK_ID_EMPTY_TUPLE);
	}
	if ((rc = pk_new(d, type, &id)) < 0)
		return rc;
	node = &d->nodes[id];
	if (n && (node->u.items.v = malloc(n * sizeof(size_t))) == NULL)
		return -ENOMEM;
	if (n)
		memcpy(node->u.items.v, d->stack.v + k, n * sizeof(size_t));
	node->u.items.n = node->u.items.cap = n;
	d->stack.n = k;
	return pk_vec_push(&d->stack, id);
}

/* APPEND(S), SETITEM(S), ADDITEMS: add the stack above k to the container
 * just below it, which must be of type. */
static int
pk_extend(struct pk_dec *d, unsigned type, size_t k, size_t at)
{
	struct pk_node *node;
	int rc;

	if (k == 0 || k - 1 < pk_fence(d))
		return pk_underflow(d, at);
	node = &d->nodes[d->stack.v[k - 1]];
	if (node->type != type)
		return pk_fail(d,
		    "the opcode at offset %zu adds items to a %s, not a %s", at,
		    pk_type_names[node->type], pk_type_names[type]);
	if (type == PK_DICT && (d->stack.n - k) % 2)
		return pk_fail(
		    d, "odd number of items for SETITEMS at offset %zu", at);
	for (size_t i = k; i < d->stack.n; i++)
		if ((rc = pk_vec_push(&node->u.items, d->stack.v[i])) < 0)
			return rc;
	d->stack.n = k;
	return 0;
}

/* A forbidden opcode: say what it would have done. */
static int
pk_forbidden(struct pk_dec *d, unsigned op, size_t at)
{
	char opc[8], m[256], n[256];
	const char *what = "would call";
	const char *s1 = NULL, *s2 = NULL;
	size_t n1 = 0, n2 = 0;

	if (op >= 0x20 && op < 0x7f)
		snprintf(opc, sizeof opc, "%c", op);
	else
		snprintf(opc, sizeof opc, "\\x%02x", op);
	if (op == 'c' || op == 'i') {
		const unsigned char *e = d->p + d->len, *q = d->p + d->pos;
		const unsigned char *nl1 = memchr(q, '\n', (size_t)(e - q));
		const unsigned char *nl2 =
		    nl1 ? memchr(nl1 + 1, '\n', (size_t)(e - nl1 - 1)) : NULL;

		if (nl2) {
			s1 = (const char *)q, n1 = (size_t)(nl1 - q);
			s2 = (const char *)nl1 + 1,
			n2 = (size_t)(nl2 - nl1 - 1);
		}
	} else if (op == 0x93 && d->stack.n >= 2 + pk_fence(d)) {
		struct pk_node *a = &d->nodes[d->stack.v[d->stack.n - 2]];
		struct pk_node *b = &d->nodes[d->stack.v[d->stack.n - 1]];

		if (a->type == PK_STR && b->type == PK_STR) {
			s1 = a->u.str.s, n1 = a->u.str.len;
			s2 = b->u.str.s, n2 = b->u.str.len;
		}
	}
	switch (op) {
	case 'c':
	case 0x93:
		what = "would import";
		break;
	case 'i':
		what = "would import and call";
		break;
	case 'b':
		what = "would set the state of an object";
		break;
	case 'P':
	case 'Q':
		what = "would ask for a persistent object";
		break;
	case 0x82:
	case 0x83:
	case 0x84:
		what = "would import from the extension registry";
		break;
	case 0x81:
	case 0x92:
		what = "would create an instance of a class";
		break;
	case 0x97:
	case 0x98:
		what = "needs an out-of-band buffer";
		break;
	case 'o':
	case 'R':
		what = "would call an object";
		break;
	}
	if (s1) {
		pk_show(m, sizeof m, s1, n1);
		pk_show(n, sizeof n, s2, n2);
		return pk_fail(d, "opcode %s (%s) at offset %zu %s %s.%s",
		    pk_opname(op), opc, at, what, m, n);
	}
	return pk_fail(
	    d, "opcode %s (%s) at offset %zu %s", pk_opname(op), opc, at, what);
}

/* Run the pickle machine up to STOP; *root is the value it leaves. */
static int
pk_run(struct pk_dec *d, size_t *root)
{
	for (;;) {
		size_t at = d->pos, k, top;
		const char *s;
		size_t n;
		unsigned op;
		int rc = 0;

		if (d->pos >= d->len)
			return pk_fail(
			    d, "truncated at offset %zu: no STOP", d->len);
		op = d->p[d->pos++];
		top = d->stack.n;
		switch (op) {
		case '.': /* STOP */
			if (top <= pk_fence(d))
				return pk_underflow(d, at);
			*root = d->stack.v[top - 1];
			if (d->pos != d->len)
				return pk_fail(d,
				    "%zu bytes after STOP at offset %zu",
				    d->len - d->pos, at);
			return 0;
		case 0x80: /* PROTO */
			if ((rc = pk_need(d, 1, at)) != 0)
				return rc;
			if (d->p[d->pos] > 5)
				return pk_fail(d,
				    "unsupported pickle protocol %u at offset "
				    "%zu",
				    d->p[d->pos], at);
			d->pos++;
			break;
		case 0x95: /* FRAME: CPython only checks the bytes are there */
			if ((rc = pk_need(d, 8, at)) != 0)
				return rc;
			d->pos += 8;
			if ((rc = pk_need(d, pk_le(d->p + d->pos - 8, 8), at)))
				return rc;
			break;
		case 'N':
			rc = pk_vec_push(&d->stack, PK_ID_NONE);
			break;
		case 0x88: /* NEWTRUE */
			rc = pk_vec_push(&d->stack, PK_ID_TRUE);
			break;
		case 0x89: /* NEWFALSE */
			rc = pk_vec_push(&d->stack, PK_ID_FALSE);
			break;
		case 'I': /* INT: "00" and "01" are protocol 0's bools */
			if ((rc = pk_line(d, at, &s, &n)) != 0)
				return rc;
			if (n == 2 && s[0] == '0' &&
			    (s[1] == '0' || s[1] == '1'))
				rc = pk_vec_push(&d->stack,
				    s[1] == '1' ? PK_ID_TRUE : PK_ID_FALSE);
			else
				rc = pk_text_int(d, s, n, at);
			break;
		case 'L': /* LONG */
			if ((rc = pk_line(d, at, &s, &n)) != 0)
				return rc;
			if (n && s[n - 1] == 'L')
				n--;
			rc = pk_text_int(d, s, n, at);
			break;
		case 'J': /* BININT */
			if ((rc = pk_need(d, 4, at)) != 0)
				return rc;
			rc = pk_push_int(
			    d, (int32_t)(uint32_t)pk_le(d->p + d->pos, 4));
			d->pos += 4;
			break;
		case 'K': /* BININT1 */
		case 'M': /* BININT2 */
			if ((rc = pk_need(d, op == 'K' ? 1 : 2, at)) != 0)
				return rc;
			rc = pk_push_int(d,
			    (int64_t)pk_le(d->p + d->pos, op == 'K' ? 1 : 2));
			d->pos += op == 'K' ? 1 : 2;
			break;
		case 0x8a: /* LONG1 */
		case 0x8b: /* LONG4 */
			if ((rc = pk_need(d, op == 0x8a ? 1 : 4, at)) != 0)
				return rc;
			if (op == 0x8a)
				n = d->p[d->pos++];
			else {
				int32_t sn =
				    (int32_t)(uint32_t)pk_le(d->p + d->pos, 4);

				if (sn < 0)
					return pk_fail(d,
					    "LONG4 at offset %zu has a "
					    "negative length",
					    at);
				n = (size_t)sn;
				d->pos += 4;
			}
			if ((rc = pk_need(d, n, at)) != 0)
				return rc;
			rc = pk_long(d, n, at);
			break;
		case 'F': /* FLOAT */
			if ((rc = pk_line(d, at, &s, &n)) != 0)
				return rc;
			rc = pk_text_float(d, s, n, at);
			break;
		case 'G': { /* BINFLOAT, big-endian */
			uint64_t u = 0;
			double v;

			if ((rc = pk_need(d, 8, at)) != 0)
				return rc;
			for (int i = 0; i < 8; i++)
				u = u << 8 | d->p[d->pos + i];
			memcpy(&v, &u, sizeof v);
			d->pos += 8;
			rc = pk_push_float(d, v);
			break;
		}
		case 'S': /* STRING */
			if ((rc = pk_line(d, at, &s, &n)) != 0)
				return rc;
			rc = pk_string(d, s, n, at);
			break;
		case 'V': /* UNICODE */
			if ((rc = pk_line(d, at, &s, &n)) != 0)
				return rc;
			rc = pk_unicode(d, s, n, at);
			break;
		case 'T': /* BINSTRING: a signed length */
			if ((rc = pk_need(d, 4, at)) != 0)
				return rc;
			if (d->p[d->pos + 3] & 0x80)
				return pk_fail(d,
				    "BINSTRING at offset %zu has a negative "
				    "length",
				    at);
			d->pos += 4;
			rc = pk_push_bin(
			    d, PK_ASCII, pk_le(d->p + d->pos - 4, 4), at);
			break;
		case 'U':  /* SHORT_BINSTRING */
		case 'C':  /* SHORT_BINBYTES */
		case 0x8c: /* SHORT_BINUNICODE */
			if ((rc = pk_need(d, 1, at)) != 0)
				return rc;
			n = d->p[d->pos++];
			rc = pk_push_bin(d,
			    op == 'U'   ? PK_ASCII
			    : op == 'C' ? PK_BYTES
			                : PK_STR,
			    n, at);
			break;
		case 'X': /* BINUNICODE */
		case 'B': /* BINBYTES */
			if ((rc = pk_need(d, 4, at)) != 0)
				return rc;
			d->pos += 4;
			rc = pk_push_bin(d, op == 'X' ? PK_STR : PK_BYTES,
			    pk_le(d->p + d->pos - 4, 4), at);
			break;
		case 0x8d:   /* BINUNICODE8 */
		case 0x8e:   /* BINBYTES8 */
		case 0x96: { /* BYTEARRAY8 */
			uint64_t ln;

			if ((rc = pk_need(d, 8, at)) != 0)
				return rc;
			ln = pk_le(d->p + d->pos, 8);
			d->pos += 8;
			/* Checked before the cast: a bomb never allocates. */
			if ((rc = pk_need(d, ln, at)) != 0)
				return rc;
			rc = pk_push_bin(d,
			    op == 0x8d   ? PK_STR
			    : op == 0x8e ? PK_BYTES
			                 : PK_BYTEARRAY,
			    (size_t)ln, at);
			break;
		}
		case ']':  /* EMPTY_LIST */
		case '}':  /* EMPTY_DICT */
		case 0x8f: /* EMPTY_SET */
			rc = pk_collect(d,
			    op == ']'   ? PK_LIST
			    : op == '}' ? PK_DICT
			                : PK_SET,
			    top);
			break;
		case ')': /* EMPTY_TUPLE */
			rc = pk_vec_push(&d->stack, PK_ID_EMPTY_TUPLE);
			break;
		case '(': /* MARK */
			rc = pk_vec_push(&d->marks, top);
			break;
		case 'l':  /* LIST */
		case 't':  /* TUPLE */
		case 0x91: /* FROZENSET */
		case 'd':  /* DICT */
			if ((rc = pk_pop_mark(d, at, &k)) != 0)
				return rc;
			if (op == 'd' && (top - k) % 2)
				return pk_fail(d,
				    "odd number of items for DICT at offset "
				    "%zu",
				    at);
			rc = pk_collect(d,
			    op == 'l'   ? PK_LIST
			    : op == 't' ? PK_TUPLE
			    : op == 'd' ? PK_DICT
			                : PK_FROZENSET,
			    k);
			break;
		case 0x85: /* TUPLE1 */
		case 0x86: /* TUPLE2 */
		case 0x87: /* TUPLE3 */
			n = op - 0x84u;
			if (top < n || top - n < pk_fence(d))
				return pk_underflow(d, at);
			rc = pk_collect(d, PK_TUPLE, top - n);
			break;
		case 'a': /* APPEND */
		case 's': /* SETITEM */
			n = op == 'a' ? 1 : 2;
			if (top < n || top - n < pk_fence(d))
				return pk_underflow(d, at);
			rc = pk_extend(
			    d, op == 'a' ? PK_LIST : PK_DICT, top - n, at);
			break;
		case 'e':  /* APPENDS */
		case 'u':  /* SETITEMS */
		case 0x90: /* ADDITEMS */
			if ((rc = pk_pop_mark(d, at, &k)) != 0)
				return rc;
			rc = pk_extend(d,
			    op == 'e'   ? PK_LIST
			    : op == 'u' ? PK_DICT
			                : PK_SET,
			    k, at);
			break;
		case '0': /* POP: a mark when the frame is empty */
			if (d->marks.n && top == pk_fence(d))
				d->marks.n--;
			else if (top <= pk_fence(d))
				return pk_underflow(d, at);
			else
				d->stack.n--;
			break;
		case '1': /* POP_MARK */
			if ((rc = pk_pop_mark(d, at, &k)) != 0)
				return rc;
			d->stack.n = k;
			break;
		case '2': /* DUP */
			if (top <= pk_fence(d))
				return pk_underflow(d, at);
			rc = pk_vec_push(&d->stack, d->stack.v[top - 1]);
			break;
		case 'p':   /* PUT */
		case 'g': { /* GET */
			uint64_t idx;

			if ((rc = pk_line_index(d, at, &idx)) != 0)
				return rc;
			rc = op == 'p' ? pk_memo_top(d, idx, at)
			               : pk_memo_get(d, idx, at);
			break;
		}
		case 'q': /* BINPUT */
		case 'h': /* BINGET */
		case 'r': /* LONG_BINPUT */
		case 'j': /* LONG_BINGET */
			n = op == 'q' || op == 'h' ? 1 : 4;
			if ((rc = pk_need(d, n, at)) != 0)
				return rc;
			d->pos += n;
			rc = op == 'q' || op == 'r'
			         ? pk_memo_top(
			               d, pk_le(d->p + d->pos - n, (int)n), at)
			         : pk_memo_get(
			               d, pk_le(d->p + d->pos - n, (int)n), at);
			break;
		case 0x94: /* MEMOIZE */
			rc = pk_memo_top(d, d->memo.count, at);
			break;
		case 'c':
		case 'i':
		case 'o':
		case 'R':
		case 'b':
		case 'P':
		case 'Q':
		case 0x81:
		case 0x82:
		case 0x83:
		case 0x84:
		case 0x92:
		case 0x93:
		case 0x97:
		case 0x98:
			return pk_forbidden(d, op, at);
		default:
			return pk_fail(
			    d, "unknown opcode \\x%02x at offset %zu", op, at);
		}
		if (rc != 0)
			return rc;
	}
}

/* Python's equality and hash, for set elements and dict keys */

static int pk_uniq(struct pk_dec *d, size_t id);

static int
pk_is_num(unsigned t)
{
	return t == PK_BOOL || t == PK_INT || t == PK_BIG || t == PK_FLOAT;
}

/* Whether v is a whole number (without libm's floor()). */
static int
pk_float_is_integral(double v)
{
	if (!isfinite(v))
		return 0;
	if (v >= 4503599627370496.0 || v <= -4503599627370496.0)
		return 1; /* 2^52 and beyond: no fraction bits left */
	return v == (double)(int64_t)v;
}

static int
pk_float_is_int64(double v)
{
	return pk_float_is_integral(v) && v >= -9223372036854775808.0 &&
	       v < 9223372036854775808.0;
}

static int64_t
pk_intval(const struct pk_dec *d, size_t id)
{
	const struct pk_node *n = &d->nodes[id];

	if (id == PK_ID_TRUE)
		return 1;
	if (id == PK_ID_FALSE)
		return 0;
	return n->u.i;
}

/* The exact decimal of an integral float beyond int64. */
static void
pk_float_decimal(double v, char *buf, size_t cap)
{
	snprintf(buf, cap, "%.0f", v);
}

static int
pk_num_eq(struct pk_dec *d, size_t a, size_t b)
{
	const struct pk_node *x = &d->nodes[a], *y = &d->nodes[b];
	char buf[400];

	if (x->type == PK_FLOAT && y->type != PK_FLOAT) {
		const struct pk_node *t = x;

		x = y, y = t;
		a ^= b, b ^= a, a ^= b;
	}
	/* now only y may be a float, or both */
	if (x->type == PK_FLOAT)
		return x->u.d == y->u.d;
	if (x->type == PK_BIG) {
		if (y->type == PK_BIG)
			return x->u.str.len == y->u.str.len &&
			       memcmp(x->u.str.s, y->u.str.s, x->u.str.len) ==
			           0;
		if (y->type != PK_FLOAT || !pk_float_is_integral(y->u.d) ||
		    pk_float_is_int64(y->u.d))
			return 0;
		pk_float_decimal(y->u.d, buf, sizeof buf);
		return strlen(buf) == x->u.str.len &&
		       memcmp(buf, x->u.str.s, x->u.str.len) == 0;
	}
	if (y->type == PK_BIG)
		return 0;
	if (y->type == PK_FLOAT)
		return pk_float_is_int64(y->u.d) &&
		       (int64_t)y->u.d == pk_intval(d, a);
	return pk_intval(d, a) == pk_intval(d, b);
}

static int
pk_eq(struct pk_dec *d, size_t a, size_t b)
{
	const struct pk_node *x = &d->nodes[a], *y = &d->nodes[b];

	if (a == b)
		return 1;
	if (--d->budget < 0)
		return 0;
	if (pk_is_num(x->type) && pk_is_num(y->type))
		return pk_num_eq(d, a, b);
	if (x->type != y->type)
		return 0;
	switch (x->type) {
	case PK_STR:
	case PK_BYTES:
		return x->u.str.len == y->u.str.len &&
		       memcmp(x->u.str.s, y->u.str.s, x->u.str.len) == 0;
	case PK_TUPLE:
		if (x->u.items.n != y->u.items.n)
			return 0;
		for (size_t i = 0; i < x->u.items.n; i++)
			if (!pk_eq(d, d->nodes[a].u.items.v[i],
			        d->nodes[b].u.items.v[i]))
				return 0;
		return 1;
	case PK_FROZENSET:
		if (x->uniq.n != y->uniq.n || x->hash != y->hash)
			return 0;
		for (size_t i = 0; i < x->uniq.n; i++) {
			size_t e = x->u.items.v[x->uniq.v[i]], j;

			for (j = 0; j < y->uniq.n; j++) {
				size_t f = d->nodes[b].u.items.v[y->uniq.v[j]];

				if (--d->budget < 0)
					return 0;
				if (d->nodes[e].hash == d->nodes[f].hash &&
				    pk_eq(d, e, f))
					break;
			}
			if (j == y->uniq.n)
				return 0;
			x = &d->nodes[a], y = &d->nodes[b];
		}
		return 1;
	default:
		return 0;
	}
}

static uint64_t
pk_mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 33);
}

static uint64_t
pk_hash_bytes(const char *s, size_t n, uint64_t salt)
{
	uint64_t h = 0xcbf29ce484222325ull ^ salt;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
	return pk_mix(h);
}

/* The hash of a converted node (so its depth and acyclicity are known),
 * consistent with pk_eq; unhashable types are refused as Python does. */
static int
pk_hash(struct pk_dec *d, size_t id)
{
	struct pk_node *n = &d->nodes[id];
	char buf[400];
	uint64_t h = 0;
	int rc;

	if (n->hashed)
		return 0;
	switch (n->type) {
	case PK_NONE:
		h = 0x6e6f6e65;
		break;
	case PK_BOOL:
	case PK_INT:
		h = pk_mix((uint64_t)pk_intval(d, id));
		break;
	case PK_FLOAT:
		if (pk_float_is_int64(n->u.d))
			h = pk_mix((uint64_t)(int64_t)n->u.d);
		else if (pk_float_is_integral(n->u.d)) {
			pk_float_decimal(n->u.d, buf, sizeof buf);
			h = pk_hash_bytes(buf, strlen(buf), 3);
		} else if (isnan(n->u.d))
			h = pk_mix(id);
		else {
			uint64_t u;

			memcpy(&u, &n->u.d, sizeof u);
			h = pk_mix(u);
		}
		break;
	case PK_BIG:
		h = pk_hash_bytes(n->u.str.s, n->u.str.len, 3);
		break;
	case PK_STR:
	case PK_BYTES:
		h = pk_hash_bytes(n->u.str.s, n->u.str.len, n->type);
		break;
	case PK_TUPLE:
		h = 0x7475706c65;
		for (size_t i = 0; i < n->u.items.n; i++) {
			size_t e = d->nodes[id].u.items.v[i];

			if ((rc = pk_hash(d, e)) != 0)
				return rc;
			h = pk_mix(h ^ d->nodes[e].hash);
		}
		break;
	case PK_FROZENSET:
		if ((rc = pk_uniq(d, id)) != 0)
			return rc;
		n = &d->nodes[id];
		h = 0x66726f7a656e;
		for (size_t i = 0; i < n->uniq.n; i++)
			h += d->nodes[n->u.items.v[n->uniq.v[i]]].hash;
		h = pk_mix(h);
		break;
	default:
		return pk_fail(d,
		    "a %s cannot be a set element or a dict key (unhashable)",
		    pk_type_names[n->type]);
	}
	d->nodes[id].hash = h;
	d->nodes[id].hashed = 1;
	return 0;
}

/* Fill the uniq list of a set, frozenset or dict whose keys (elements)
 * are converted: the first of equal keys, with the last value. */
static int
pk_uniq(struct pk_dec *d, size_t id)
{
	struct pk_node *n = &d->nodes[id];
	size_t step = n->type == PK_DICT ? 2 : 1, cnt = n->u.items.n / step;
	size_t cap = 16, *tab;
	int rc = 0;

	if (n->uniq_done)
		return 0;
	while (cap < cnt * 2)
		cap *= 2;
	if ((tab = malloc(cap * sizeof *tab)) == NULL)
		return -ENOMEM;
	memset(tab, 0xff, cap * sizeof *tab);
	for (size_t i = 0; i < cnt; i++) {
		size_t key = d->nodes[id].u.items.v[i * step], slot;
		uint64_t h;

		if ((rc = pk_hash(d, key)) != 0)
			break;
		h = d->nodes[key].hash;
		slot = (size_t)h & (cap - 1);
		for (; tab[slot] != SIZE_MAX && d->budget-- > 0;
		     slot = (slot + 1) & (cap - 1)) {
			struct pk_node *m = &d->nodes[id];
			size_t u = m->uniq.v[tab[slot]];
			size_t other = m->u.items.v[u];

			if (d->nodes[other].hash == h && pk_eq(d, other, key))
				break;
		}
		if (d->budget < 0) {
			rc = pk_fail(d,
			    "too many colliding hashes among the keys "
			    "of a set or dict");
			break;
		}
		n = &d->nodes[id];
		if (tab[slot] != SIZE_MAX) { /* a duplicate: last value wins */
			if (step == 2)
				n->uniq.v[tab[slot] + 1] = i * 2 + 1;
			continue;
		}
		tab[slot] = n->uniq.n;
		if ((rc = pk_vec_push(&n->uniq, i * step)) < 0 ||
		    (step == 2 && (rc = pk_vec_push(&n->uniq, i * 2 + 1)) < 0))
			break;
	}
	free(tab);
	if (rc == 0)
		d->nodes[id].uniq_done = 1;
	return rc;
}

/* conversion to the tagged tree */

static int pk_json(struct pk_dec *d, size_t id, int depth, json_t **out);

static int
pk_too_deep(struct pk_dec *d)
{
	return pk_fail(
	    d, "nesting deeper than %d levels of JSON text", PK_MAX_DEPTH);
}

/* The JSON arrays and objects node n is written as: a list or a dict is
 * one, a tuple or a set a tag around an array, a tagged scalar one; a
 * dict in the $dict form is three (pk_json_dict). */
static int
pk_levels(const struct pk_node *n)
{
	switch (n->type) {
	case PK_TUPLE:
	case PK_SET:
	case PK_FROZENSET:
		return 2;
	case PK_LIST:
	case PK_DICT:
	case PK_BIG:
	case PK_BYTES:
	case PK_BYTEARRAY:
		return 1;
	case PK_FLOAT:
		return isfinite(n->u.d) ? 0 : 1;
	default:
		return 0;
	}
}

/* The converted items at positions pos[0..n) (every step-th of a uniq
 * list) of container id, as a JSON array whose items are depth deep. */
static int
pk_json_items(struct pk_dec *d, size_t id, const size_t *pos, size_t n,
    size_t step, int depth, json_t **out)
{
	json_t *a = json_array(), *j;
	int rc;

	if (a == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i += step) {
		size_t e = d->nodes[id].u.items.v[pos ? pos[i] : i];

		if ((rc = pk_json(d, e, depth, &j)) != 0) {
			json_decref(a);
			return rc;
		}
		if (json_array_append_new(a, j)) {
			json_decref(a);
			return -ENOMEM;
		}
	}
	*out = a;
	return 0;
}

static int
pk_json_dict(struct pk_dec *d, size_t id, int depth, json_t **out)
{
	struct pk_node *n = &d->nodes[id];
	int rc, strkeys = 1;
	json_t *o, *j, *k;

	/* Keys first: converting them checks their depth and cycles before
	 * they are hashed. */
	for (size_t i = 0; i < n->u.items.n; i += 2) {
		if ((rc = pk_json(d, n->u.items.v[i], depth + 3, &k)) != 0)
			return rc;
		json_decref(k);
		n = &d->nodes[id];
	}
	if ((rc = pk_uniq(d, id)) != 0)
		return rc;
	n = &d->nodes[id];
	for (size_t i = 0; i < n->uniq.n; i += 2)
		if (d->nodes[n->u.items.v[n->uniq.v[i]]].type != PK_STR)
			strkeys = 0;
	if (strkeys && n->uniq.n == 2 &&
	    d->nodes[n->u.items.v[n->uniq.v[0]]].u.str.len > 0 &&
	    d->nodes[n->u.items.v[n->uniq.v[0]]].u.str.s[0] == '$')
		strkeys = 0;
	if (!strkeys) {
		size_t cnt = n->uniq.n / 2;

		if (depth + 3 > PK_MAX_DEPTH)
			return pk_too_deep(d);

		if ((o = json_array()) == NULL)
			return -ENOMEM;
		for (size_t i = 0; i < cnt; i++) {
			json_t *pair;

			n = &d->nodes[id];
			if ((rc = pk_json_items(d, id, n->uniq.v + 2 * i, 2, 1,
			         depth + 3, &pair)) != 0) {
				json_decref(o);
				return rc;
			}
			if (json_array_append_new(o, pair)) {
				json_decref(o);
				return -ENOMEM;
			}
		}
		*out = value_tagged("$dict", o);
		return *out ? 0 : -ENOMEM;
	}
	if ((o = json_object()) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < d->nodes[id].uniq.n; i += 2) {
		struct pk_node *key;

		n = &d->nodes[id];
		key = &d->nodes[n->u.items.v[n->uniq.v[i]]];
		if ((rc = pk_json(d, n->u.items.v[n->uniq.v[i + 1]], depth + 1,
		         &j)) != 0) {
			json_decref(o);
			return rc;
		}
		key = &d->nodes[d->nodes[id].u.items.v[d->nodes[id].uniq.v[i]]];
		if (json_object_setn_new_nocheck(
		        o, key->u.str.s, key->u.str.len, j)) {
			json_decref(o);
			return -ENOMEM;
		}
	}
	*out = o;
	return 0;
}

static int
pk_weigh(struct pk_dec *d, size_t payload)
{
	d->weight += PK_NODE_WEIGHT + payload;
	if (d->weight > d->maxweight)
		return pk_fail(d,
		    "the decoded value would pass %zu bytes (shared "
		    "references copied over and over)",
		    d->maxweight);
	return 0;
}

/* The tagged tree of node id, inside depth JSON arrays and objects (0 for
 * the root).  The depth counted is the JSON text's, tags included, which
 * value_parse() refuses past VALUE_DEPTH_MAX: what is shown can always be
 * written back. */
static int
pk_json(struct pk_dec *d, size_t id, int depth, json_t **out)
{
	struct pk_node *n = &d->nodes[id];
	json_t *j = NULL;
	int rc;

	*out = NULL;
	if (depth + pk_levels(n) > PK_MAX_DEPTH)
		return pk_too_deep(d);
	if (n->on_path)
		return pk_fail(d, "a %s contains itself (a cycle)",
		    pk_type_names[n->type]);
	if ((rc = pk_weigh(d, n->type == PK_STR || n->type == PK_BYTES ||
	                              n->type == PK_BYTEARRAY ||
	                              n->type == PK_BIG
	                          ? n->u.str.len
	                          : 0)) != 0)
		return rc;
	switch (n->type) {
	case PK_NONE:
		j = json_null();
		break;
	case PK_BOOL:
		j = json_boolean(id == PK_ID_TRUE);
		break;
	case PK_INT:
		j = json_integer(n->u.i);
		break;
	case PK_BIG:
		j = value_tagged(
		    "$int", json_stringn(n->u.str.s, n->u.str.len));
		break;
	case PK_FLOAT:
		if (isnan(n->u.d))
			j = value_tagged("$float", json_string("nan"));
		else if (isinf(n->u.d))
			j = value_tagged(
			    "$float", json_string(n->u.d < 0 ? "-inf" : "inf"));
		else
			j = json_real(n->u.d);
		break;
	case PK_STR:
		j = json_stringn_nocheck(n->u.str.s, n->u.str.len);
		break;
	case PK_BYTES:
	case PK_BYTEARRAY:
		j = value_tagged(n->type == PK_BYTES ? "$bytes" : "$bytearray",
		    value_b64_string(n->u.str.s, n->u.str.len));
		break;
	default:
		n->on_path = 1;
		if (n->type == PK_DICT)
			rc = pk_json_dict(d, id, depth, &j);
		else if (n->type == PK_LIST || n->type == PK_TUPLE)
			rc = pk_json_items(d, id, NULL, n->u.items.n, 1,
			    depth + pk_levels(n), &j);
		else {
			json_t *all = NULL;

			/* Elements first (depth, cycles), then equality. */
			rc = pk_json_items(
			    d, id, NULL, n->u.items.n, 1, depth + 2, &all);
			json_decref(all);
			if (rc == 0 && (rc = pk_uniq(d, id)) == 0)
				rc = pk_json_items(d, id, d->nodes[id].uniq.v,
				    d->nodes[id].uniq.n, 1, depth + 2, &j);
		}
		n = &d->nodes[id];
		n->on_path = 0;
		if (rc != 0)
			return rc;
		if (n->type == PK_TUPLE)
			j = value_tagged("$tuple", j);
		else if (n->type == PK_SET || n->type == PK_FROZENSET)
			j = value_tagged(
			    n->type == PK_SET ? "$set" : "$frozenset", j);
	}
	if (j == NULL)
		return -ENOMEM;
	*out = j;
	return 0;
}

static void
pk_dec_free(struct pk_dec *d)
{
	for (size_t i = 0; i < d->nnodes; i++) {
		struct pk_node *n = &d->nodes[i];

		if (n->type >= PK_LIST)
			free(n->u.items.v);
		else if (n->owned)
			free((char *)n->u.str.s);
		free(n->uniq.v);
	}
	free(d->nodes);
	free(d->stack.v);
	free(d->marks.v);
	free(d->memo.keys);
	free(d->memo.vals);
}

int
value_pickle_decode(
    const unsigned char *p, size_t len, json_t **out, char *why, size_t whylen)
{
	struct pk_dec d = {.p = p, .len = len, .why = why, .whylen = whylen};
	size_t root = 0;
	int rc;

	*out = NULL;
	if (why && whylen)
		why[0] = '\0';
	d.maxweight = len > (SIZE_MAX - PK_WEIGHT_FLOOR) / 16
	                  ? SIZE_MAX
	                  : PK_WEIGHT_FLOOR + 16 * len;
	d.budget = PK_EQ_BUDGET + (len < LONG_MAX / 16 ? (long)len * 8 : 0);
	d.capnodes = 64;
	if ((d.nodes = calloc(d.capnodes, sizeof *d.nodes)) == NULL)
		return -ENOMEM;
	d.nodes[PK_ID_NONE].type = PK_NONE;
	d.nodes[PK_ID_FALSE].type = PK_BOOL;
	d.nodes[PK_ID_TRUE].type = PK_BOOL;
	d.nodes[PK_ID_EMPTY_TUPLE].type = PK_TUPLE;
	d.nnodes = PK_ID_FIRST;
	if ((rc = pk_run(&d, &root)) == 0)
		rc = pk_json(&d, root, 0, out);
	pk_dec_free(&d);
	if (rc != 0 && rc != -ENOMEM && rc != BLT_VALUE_NOT_DECODABLE)
		rc = -ENOMEM;
	return rc;
}

/* the encoder */

struct pk_enc {
	struct blt_value_buf *out;
	size_t frame; /* offset of the open frame's header, or SIZE_MAX */
	size_t memo;  /* memo entries written */
	/* Memo indexes + 1 of CPython's shared objects: "", the one-char
	 * Latin-1 strs (index 256 is ""), and b"". */
	size_t str1[257], bytes0;
	char path[512];
	size_t pathlen;
};

/* Close the open frame: its header is written if it holds at least 4
 * bytes (CPython's _FRAME_SIZE_MIN), else removed. */
static void
pk_commit(struct pk_enc *e)
{
	size_t flen;

	if (e->frame == SIZE_MAX)
		return;
	flen = e->out->len - e->frame - 9;
	if (flen >= 4) {
		e->out->data[e->frame] = 0x95;
		for (int i = 0; i < 8; i++)
			e->out->data[e->frame + 1 + i] =
			    (unsigned char)(flen >> (8 * i));
	} else {
		memmove(
		    e->out->data + e->frame, e->out->data + e->frame + 9, flen);
		e->out->len -= 9;
	}
	e->frame = SIZE_MAX;
}

static int
pk_write(struct pk_enc *e, const void *p, size_t n)
{
	int rc;

	if (e->frame == SIZE_MAX) {
		e->frame = e->out->len;
		if ((rc = value_buf_put(e->out, "\0\0\0\0\0\0\0\0\0", 9)) < 0)
			return rc;
	}
	return value_buf_put(e->out, p, n);
}

/* Where CPython ends a frame of 64 KiB: between two objects. */
static void
pk_boundary(struct pk_enc *e)
{
	if (e->frame != SIZE_MAX &&
	    e->out->len - e->frame - 9 >= PK_FRAME_TARGET)
		pk_commit(e);
}

static int
pk_op(struct pk_enc *e, unsigned char op)
{
	return pk_write(e, &op, 1);
}

/* An opcode with a little-endian argument of n bytes. */
static int
pk_op_le(struct pk_enc *e, unsigned char op, uint64_t v, int n)
{
	unsigned char b[9];

	b[0] = op;
	for (int i = 0; i < n; i++)
		b[1 + i] = (unsigned char)(v >> (8 * i));
	return pk_write(e, b, (size_t)n + 1);
}

/* A header and its payload; a payload of 64 KiB or more goes outside
 * any frame, as CPython's _Pickler_write_bytes does. */
static int
pk_payload(
    struct pk_enc *e, unsigned char op, uint64_t n, int lenbytes, const void *p)
{
	unsigned char b[9];
	int rc;

	b[0] = op;
	for (int i = 0; i < lenbytes; i++)
		b[1 + i] = (unsigned char)(n >> (8 * i));
	if (n >= PK_FRAME_TARGET) {
		pk_commit(e);
		if ((rc = value_buf_put(e->out, b, (size_t)lenbytes + 1)) < 0)
			return rc;
		return value_buf_put(e->out, p, (size_t)n);
	}
	if ((rc = pk_write(e, b, (size_t)lenbytes + 1)) < 0)
		return rc;
	return pk_write(e, p, (size_t)n);
}

static int
pk_memoize(struct pk_enc *e)
{
	e->memo++;
	return pk_op(e, 0x94);
}

static int
pk_memo_ref(struct pk_enc *e, size_t idx)
{
	if (idx < 256)
		return pk_op_le(e, 'h', idx, 1);
	return pk_op_le(e, 'j', idx, 4);
}

static int __attribute__((format(printf, 2, 3)))
pk_enc_err(struct pk_enc *e, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return blt_errmsg_set(-EINVAL, "%s: %s", e->path, msg);
}

/* Extend the path by "[i]" or ".key"; returns the old length. */
static size_t
pk_path_push(struct pk_enc *e, const char *key, size_t i)
{
	size_t old = e->pathlen, room = sizeof e->path - old;
	int n;

	if (key)
		n = snprintf(e->path + old, room, ".%s", key);
	else
		n = snprintf(e->path + old, room, "[%zu]", i);
	if (n > 0)
		e->pathlen += (size_t)n < room ? (size_t)n : room - 1;
	return old;
}

static void
pk_path_pop(struct pk_enc *e, size_t old)
{
	e->pathlen = old;
	e->path[old] = '\0';
}

static int
pk_enc_int(struct pk_enc *e, int64_t v)
{
	unsigned char b[10];
	int n = 0;

	if (v >= 0 && v <= 0xff)
		return pk_op_le(e, 'K', (uint64_t)v, 1);
	if (v >= 0 && v <= 0xffff)
		return pk_op_le(e, 'M', (uint64_t)v, 2);
	if (v >= INT32_MIN && v <= INT32_MAX)
		return pk_op_le(e, 'J', (uint32_t)(int32_t)v, 4);
	/* LONG1 with the fewest two's complement bytes, as Python writes */
	for (n = 1; n < 8; n++)
		if (v >= -((int64_t)1 << (8 * n - 1)) &&
		    v < ((int64_t)1 << (8 * n - 1)))
			break;
	b[0] = 0x8a;
	b[1] = (unsigned char)n;
	for (int i = 0; i < n; i++)
		b[2 + i] = (unsigned char)((uint64_t)v >> (8 * i));
	return pk_write(e, b, (size_t)n + 2);
}

/* {"$int": "<decimal>"}: int64 as BININT or LONG1, beyond as LONG1 or LONG4. */
static int
pk_enc_bigint(struct pk_enc *e, const json_t *v)
{
	const char *s = json_is_string(v) ? json_string_value(v) : NULL;
	size_t n = s ? json_string_length(v) : 0, nd, nl, nb;
	int neg = 0, rc;
	uint32_t *limb;
	unsigned char *b;

	if (s && n && s[0] == '-')
		neg = 1;
	nd = n - (size_t)neg;
	if (s == NULL || nd == 0 || nd > PK_MAX_INT_DIGITS)
		return pk_enc_err(e,
		    "$int needs a string of at most %d decimal digits",
		    PK_MAX_INT_DIGITS);
	for (size_t i = (size_t)neg; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return pk_enc_err(
			    e, "$int \"%.40s\" is not decimal", s);
	nl = nd / 9 + 2;
	if ((limb = calloc(nl, sizeof *limb)) == NULL)
		return -ENOMEM;
	for (size_t i = (size_t)neg; i < n; i++) {
		uint64_t carry = (uint64_t)(s[i] - '0');

		for (size_t k = 0; k < nl; k++) {
			uint64_t cur = (uint64_t)limb[k] * 10 + carry;

			limb[k] = (uint32_t)cur;
			carry = cur >> 32;
		}
	}
	/* bytes = bit_length / 8 + 1, then the two's complement of a
	 * negative one, trimmed as pickle.encode_long() does */
	nb = nl * 4;
	while (nb && ((limb[(nb - 1) / 4] >> (8 * ((nb - 1) % 4))) & 0xff) == 0)
		nb--;
	if (nb <= 8) {
		uint64_t u = 0;

		for (size_t i = 0; i < nb; i++)
			u |= (uint64_t)(limb[i / 4] >> (8 * (i % 4)) & 0xff)
			     << (8 * i);
		if (u <= (uint64_t)INT64_MAX ||
		    (neg && u == (uint64_t)INT64_MAX + 1)) {
			free(limb);
			return pk_enc_int(
			    e, neg ? (int64_t)(0 - u) : (int64_t)u);
		}
	}
	/* bit_length / 8 + 1 bytes: one more when the top bit is set */
	if ((limb[(nb - 1) / 4] >> (8 * ((nb - 1) % 4))) & 0x80)
		nb++;
	if ((b = calloc(nb + 2, 1)) == NULL) {
		free(limb);
		return -ENOMEM;
	}
	for (size_t i = 0; i < nb && i < nl * 4; i++)
		b[i] = (unsigned char)(limb[i / 4] >> (8 * (i % 4)));
	free(limb);
	if (neg) {
		int carry = 1;

		for (size_t i = 0; i < nb; i++) {
			unsigned x = (unsigned char)~b[i] + (unsigned)carry;

			b[i] = (unsigned char)x;
			carry = x >> 8;
		}
		if (nb > 1 && b[nb - 1] == 0xff && (b[nb - 2] & 0x80))
			nb--;
	}
	if (nb < 256)
		rc = pk_payload(e, 0x8a, nb, 1, b);
	else
		rc = pk_payload(e, 0x8b, nb, 4, b);
	free(b);
	return rc;
}

static int
pk_enc_float(struct pk_enc *e, double v)
{
	unsigned char b[9];
	uint64_t u;

	memcpy(&u, &v, sizeof u);
	b[0] = 'G';
	for (int i = 0; i < 8; i++)
		b[1 + i] = (unsigned char)(u >> (56 - 8 * i));
	return pk_write(e, b, 9);
}

static int
pk_enc_str(struct pk_enc *e, const char *s, size_t n)
{
	size_t slot = SIZE_MAX;
	int rc;

	/* CPython shares "" and one-char Latin-1 strs: a repeat is a GET. */
	if (n == 0)
		slot = 256;
	else if (n == 1 && (unsigned char)s[0] < 0x80)
		slot = (unsigned char)s[0];
	else if (n == 2 && ((unsigned char)s[0] & 0xfe) == 0xc2)
		slot = ((unsigned)(s[0] & 3) << 6) | (s[1] & 0x3f);
	if (slot != SIZE_MAX && e->str1[slot])
		return pk_memo_ref(e, e->str1[slot] - 1);
	if (n <= 0xff)
		rc = pk_payload(e, 0x8c, n, 1, s);
	else if ((uint64_t)n > 0xffffffffu)
		rc = pk_payload(e, 0x8d, n, 8, s);
	else
		rc = pk_payload(e, 'X', n, 4, s);
	if (rc == 0 && slot != SIZE_MAX)
		e->str1[slot] = e->memo + 1;
	return rc ? rc : pk_memoize(e);
}

/* The bytes of a $bytes or $bytearray tag, in a new buffer. */
static int
pk_b64_decode(struct pk_enc *e, const json_t *v, const char *tag,
    unsigned char **out, size_t *olen)
{
	int rc = value_b64_decode(v, out, olen);

	if (rc == -EINVAL)
		return pk_enc_err(e, "%s needs a string of padded base64", tag);
	return rc;
}

static int pk_enc_value(struct pk_enc *e, const json_t *v, int depth);

/* Python's hashability, checked as pickle.loads would fail on it. */
static int
pk_enc_hashable(struct pk_enc *e, const json_t *v, int depth)
{
	const char *what = NULL;

	if (depth > PK_MAX_DEPTH)
		return pk_enc_err(e, "nesting deeper than %d", PK_MAX_DEPTH);
	if (json_is_array(v))
		what = "list";
	else if (json_is_object(v)) {
		const char *tag =
		    json_object_size(v) == 1
		        ? json_object_iter_key(json_object_iter((json_t *)v))
		        : NULL;
		const json_t *in = tag ? json_object_get(v, tag) : NULL;

		if (tag && strcmp(tag, "$tuple") == 0 && json_is_array(in)) {
			size_t o1 = pk_path_push(e, tag, 0);

			for (size_t i = 0; i < json_array_size(in); i++) {
				size_t o2 = pk_path_push(e, NULL, i);
				int rc = pk_enc_hashable(
				    e, json_array_get(in, i), depth + 1);

				if (rc)
					return rc;
				pk_path_pop(e, o2);
			}
			pk_path_pop(e, o1);
			return 0;
		}
		if (tag &&
		    (strcmp(tag, "$set") == 0 || strcmp(tag, "$dict") == 0 ||
		        strcmp(tag, "$bytearray") == 0))
			what = tag + 1;
		else if (!tag || tag[0] != '$')
			what = "dict";
	}
	if (what)
		return pk_enc_err(e,
		    "a %s cannot be a set element or a dict key (unhashable)",
		    what);
	return 0;
}

/* The items of a JSON array: tuple elements, list items, set elements. */
static int
pk_enc_items(struct pk_enc *e, const json_t *a, int depth, int hashable)
{
	int rc;

	for (size_t i = 0; i < json_array_size(a); i++) {
		size_t old = pk_path_push(e, NULL, i);

		if ((hashable && (rc = pk_enc_hashable(
		                      e, json_array_get(a, i), depth))) ||
		    (rc = pk_enc_value(e, json_array_get(a, i), depth)) != 0)
			return rc;
		pk_path_pop(e, old);
	}
	return 0;
}

/* A [key, value] pair of $dict, paths [0] and [1]. */
static int
pk_enc_pair(struct pk_enc *e, const json_t *p, int depth)
{
	size_t old = pk_path_push(e, NULL, 0);
	int rc;

	if ((rc = pk_enc_hashable(e, json_array_get(p, 0), depth)) ||
	    (rc = pk_enc_value(e, json_array_get(p, 0), depth)))
		return rc;
	pk_path_pop(e, old);
	old = pk_path_push(e, NULL, 1);
	if ((rc = pk_enc_value(e, json_array_get(p, 1), depth)) != 0)
		return rc;
	pk_path_pop(e, old);
	return 0;
}

/* Batches of 1000 between MARK and op, as CPython writes lists (a list
 * of one item is an APPEND), dicts and sets; a dict or set of exactly
 * k * 1000 items ends with an empty batch, as in CPython. */
static int
pk_enc_batches(struct pk_enc *e, const json_t *a, size_t n, int pairs,
    unsigned char op, int depth, int hashable)
{
	size_t i = 0;
	int rc;

	do {
		size_t b = 0;

		if ((rc = pk_op(e, '(')) < 0)
			return rc;
		for (; i < n && b < PK_BATCH; i++, b++) {
			size_t old = pk_path_push(e, NULL, i);

			if (pairs) {
				const json_t *p = json_array_get(a, i);

				if (!json_is_array(p) ||
				    json_array_size(p) != 2)
					return pk_enc_err(e,
					    "$dict items are [key, value] "
					    "pairs");
				if ((rc = pk_enc_pair(e, p, depth)) != 0)
					return rc;
			} else if ((hashable &&
			               (rc = pk_enc_hashable(
			                    e, json_array_get(a, i), depth))) ||
			           (rc = pk_enc_value(
			                e, json_array_get(a, i), depth)))
				return rc;
			pk_path_pop(e, old);
		}
		if ((rc = pk_op(e, op)) < 0)
			return rc;
		if (op == 'e' && i == n)
			break;
		if (op != 'e' && b < PK_BATCH)
			break;
	} while (1);
	return 0;
}

static int
pk_enc_tag(struct pk_enc *e, const char *tag, const json_t *in, int depth)
{
	unsigned char *b;
	size_t n, old = pk_path_push(e, tag, 0);
	int rc;

	if (strcmp(tag, "$int") == 0)
		rc = pk_enc_bigint(e, in);
	else if (strcmp(tag, "$float") == 0) {
		const char *s = json_is_string(in) ? json_string_value(in) : "";

		if (strcmp(s, "nan") == 0)
			rc = pk_enc_float(e, NAN);
		else if (strcmp(s, "inf") == 0 || strcmp(s, "-inf") == 0)
			rc =
			    pk_enc_float(e, s[0] == '-' ? -INFINITY : INFINITY);
		else
			rc = pk_enc_err(
			    e, "$float is \"nan\", \"inf\" or \"-inf\"");
	} else if (strcmp(tag, "$bytes") == 0 ||
	           strcmp(tag, "$bytearray") == 0) {
		if ((rc = pk_b64_decode(e, in, tag, &b, &n)) != 0)
			return rc;
		int is_bytes = strcmp(tag, "$bytes") == 0;

		if (is_bytes && n == 0 && e->bytes0)
			rc = pk_memo_ref(e, e->bytes0 - 1);
		else {
			if (is_bytes && n == 0)
				e->bytes0 = e->memo + 1;
			if (!is_bytes)
				rc = pk_payload(e, 0x96, n, 8, b);
			else if (n <= 0xff)
				rc = pk_payload(e, 'C', n, 1, b);
			else if ((uint64_t)n > 0xffffffffu)
				rc = pk_payload(e, 0x8e, n, 8, b);
			else
				rc = pk_payload(e, 'B', n, 4, b);
			if (rc == 0)
				rc = pk_memoize(e);
		}
		free(b);
	} else if (!json_is_array(in) && strcmp(tag, "$undecodable") != 0 &&
	           (strcmp(tag, "$tuple") == 0 || strcmp(tag, "$set") == 0 ||
	               strcmp(tag, "$frozenset") == 0 ||
	               strcmp(tag, "$dict") == 0))
		rc = pk_enc_err(e, "%s needs an array", tag);
	else if (strcmp(tag, "$tuple") == 0) {
		n = json_array_size(in);
		if (n == 0)
			rc = pk_op(e, ')');
		else if ((n > 3 && (rc = pk_op(e, '('))) ||
		         (rc = pk_enc_items(e, in, depth + 1, 0)) ||
		         (rc = pk_op(
		              e, n > 3 ? 't' : (unsigned char)(0x84 + n))))
			;
		else
			rc = pk_memoize(e);
	} else if (strcmp(tag, "$set") == 0) {
		if ((rc = pk_op(e, 0x8f)) || (rc = pk_memoize(e)))
			;
		else if (json_array_size(in))
			rc = pk_enc_batches(
			    e, in, json_array_size(in), 0, 0x90, depth + 1, 1);
	} else if (strcmp(tag, "$frozenset") == 0) {
		if ((rc = pk_op(e, '(')) ||
		    (rc = pk_enc_items(e, in, depth + 1, 1)) ||
		    (rc = pk_op(e, 0x91)))
			;
		else
			rc = pk_memoize(e);
	} else if (strcmp(tag, "$dict") == 0) {
		n = json_array_size(in);
		if ((rc = pk_op(e, '}')) || (rc = pk_memoize(e)))
			;
		else if (n == 1) {
			const json_t *p = json_array_get(in, 0);
			size_t o2 = pk_path_push(e, NULL, 0);

			if (!json_is_array(p) || json_array_size(p) != 2)
				return pk_enc_err(
				    e, "$dict items are [key, value] pairs");
			if ((rc = pk_enc_pair(e, p, depth + 1)) != 0 ||
			    (rc = pk_op(e, 's')))
				return rc;
			pk_path_pop(e, o2);
		} else if (n)
			rc = pk_enc_batches(e, in, n, 1, 'u', depth + 1, 0);
	} else if (strcmp(tag, "$undecodable") == 0)
		rc = pk_enc_err(e, "a not-decodable value can only be the "
		                   "whole document");
	else
		rc = pk_enc_err(e,
		    "unknown tag %.40s (a dict with this one key is written "
		    "{\"$dict\": [[key, value]]})",
		    tag);
	if (rc == 0)
		pk_path_pop(e, old);
	return rc;
}

static int
pk_enc_value(struct pk_enc *e, const json_t *v, int depth)
{
	int rc = 0;

	if (depth > PK_MAX_DEPTH)
		return pk_enc_err(e, "nesting deeper than %d", PK_MAX_DEPTH);
	switch (json_typeof(v)) {
	case JSON_NULL:
		rc = pk_op(e, 'N');
		break;
	case JSON_TRUE:
		rc = pk_op(e, 0x88);
		break;
	case JSON_FALSE:
		rc = pk_op(e, 0x89);
		break;
	case JSON_INTEGER:
		rc = pk_enc_int(e, json_integer_value(v));
		break;
	case JSON_REAL:
		rc = pk_enc_float(e, json_real_value(v));
		break;
	case JSON_STRING:
		rc = pk_enc_str(e, json_string_value(v), json_string_length(v));
		break;
	case JSON_ARRAY: {
		size_t n = json_array_size(v);

		if ((rc = pk_op(e, ']')) || (rc = pk_memoize(e)) || n == 0)
			break;
		if (n == 1) {
			size_t old = pk_path_push(e, NULL, 0);

			if ((rc = pk_enc_value(
			         e, json_array_get(v, 0), depth + 1)) ||
			    (rc = pk_op(e, 'a')))
				break;
			pk_path_pop(e, old);
		} else
			rc = pk_enc_batches(e, v, n, 0, 'e', depth + 1, 0);
		break;
	}
	case JSON_OBJECT: {
		const char *key;
		size_t klen, n = json_object_size(v), i = 0;
		json_t *val;

		if (n == 1) {
			void *it = json_object_iter((json_t *)v);

			key = json_object_iter_key(it);
			if (key[0] == '$') {
				rc = pk_enc_tag(
				    e, key, json_object_iter_value(it), depth);
				break;
			}
		}
		if ((rc = pk_op(e, '}')) || (rc = pk_memoize(e)) || n == 0)
			break;
		if (n > 1 && (rc = pk_op(e, '(')))
			break;
		json_object_keylen_foreach((json_t *)v, key, klen, val)
		{
			size_t old = pk_path_push(e, key, 0);

			if ((rc = pk_enc_str(e, key, klen)) ||
			    (rc = pk_enc_value(e, val, depth + 1)))
				return rc;
			pk_path_pop(e, old);
			if (++i % PK_BATCH == 0 && n > 1 &&
			    ((rc = pk_op(e, 'u')) || (rc = pk_op(e, '('))))
				return rc;
		}
		rc = pk_op(e, n > 1 ? 'u' : 's');
		break;
	}
	}
	if (rc == 0)
		pk_boundary(e);
	return rc;
}

int
value_pickle_encode(const json_t *v, struct blt_value_buf *out)
{
	struct pk_enc e = {
	    .out = out, .frame = SIZE_MAX, .path = "$", .pathlen = 1};
	int rc;

	out->len = 0;
	if ((rc = value_buf_put(out, "\x80\x05", 2)) < 0)
		return rc;
	if ((rc = pk_enc_value(&e, v, 1)) != 0 || (rc = pk_op(&e, '.')) < 0)
		return rc;
	pk_commit(&e);
	return 0;
}
