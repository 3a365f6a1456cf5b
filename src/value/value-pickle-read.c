/*
 * The pickle decoder: a pickle machine of our own for protocols 0 to 5
 * that never executes anything.  (value-pickle-scalar.c reads the numbers
 * and text the opcodes push, value-pickle-global.c the constructors they
 * may name, value-pickle-tree.c turns the result into the tagged tree,
 * value-pickle-write.c is the encoder.)
 *
 * It runs the pickle machine of pickletools' documentation over a private
 * heap of nodes (pk_node): the stack, the marks and the memo hold node
 * numbers, so that a container shared through the memo, or filled after
 * being memoized, behaves as the one Python object it is.  Only the
 * opcodes that build None, bool, int, float, str, bytes, bytearray, list,
 * tuple, dict, set and frozenset are run; one that would import or call
 * (BUILD, INST, NEWOBJ ...) stops the decode with a reason.
 *
 * GLOBAL, STACK_GLOBAL and REDUCE are run for one whitelist only, the
 * constructors CPython writes for sets and frozensets before protocol 4,
 * bytes before 3 and bytearray before 5 (value-pickle-global.c): builtins
 * (or __builtin__ in protocols 0 to 2) set and frozenset called with
 * (list,), bytes with (), bytearray with (), (bytes,) or (str, 'latin-1'),
 * and _codecs.encode with (str, 'latin1').  Nothing is imported or
 * called: the value is built.  Any other name, other arguments, or one of
 * these used as a value or never called, is not decodable.
 *
 * Lone surrogates in a str are kept in their three-byte form, as
 * surrogatepass writes them and value-text.c holds them.  Choices where
 * Python's loads would not give a JSON value, all "not decodable" with the
 * reason: a high surrogate followed by a low one (two characters that
 * JSON text would read back as one); BINSTRING and STRING that are not
 * ASCII (Python 3 loads them as ASCII str and fails); integers of more
 * than PK_MAX_INT_BYTES bytes.  Bytes after STOP are passed over, as
 * Python's loads does (a decode mount keeps them by storing nothing for a
 * value written back unchanged).  Protocol 0 text arguments are read
 * strictly: INT, LONG, PUT and GET take plain decimal only.
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

const char *const pk_type_names[] = {"None", "bool", "int", "int", "float",
    "str", "bytes", "bytearray", "global", "object", "list", "tuple", "dict",
    "set", "frozenset"};

/* Record why the pickle is not decodable; the first reason stays. */
int
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

int
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

int
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

int
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
size_t
pk_fence(const struct pk_dec *d)
{
	return d->marks.n ? d->marks.v[d->marks.n - 1] : 0;
}

int
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
int
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
int
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

/* containers */

/* Move the stack above position k into a new container of type. */
int
pk_collect(struct pk_dec *d, unsigned type, size_t k)
{
	size_t id, n = d->stack.n - k;
	struct pk_node *node;
	int rc;

	/* A tuple may hold a type: the arguments of a REDUCE (a
	 * defaultdict's factory, numpy's ndarray), checked there, and
	 * refused anywhere else when the value is converted. */
	if (type != PK_TUPLE && (rc = pk_no_global(d, k)) != 0)
		return rc;
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
	if ((rc = pk_no_global(d, k)) != 0)
		return rc;
	for (size_t i = k; i < d->stack.n; i++)
		if ((rc = pk_vec_push(&node->u.items, d->stack.v[i])) < 0)
			return rc;
	d->stack.n = k;
	return 0;
}

/* A forbidden opcode: say what it would have done. */
int
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
		size_t at = d->pos, k = 0, top;
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
			if ((rc = pk_no_global(d, top - 1)) != 0 ||
			    (rc = pk_globals_called(d)) != 0)
				return rc;
			return 0;
		case 0x80: /* PROTO */
			if ((rc = pk_need(d, 1, at)) != 0)
				return rc;
			if (d->p[d->pos] > 5)
				return pk_fail(d,
				    "unsupported pickle protocol %u at offset "
				    "%zu",
				    d->p[d->pos], at);
			d->proto = d->p[d->pos++];
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
		case 'c':  /* GLOBAL */
		case 0x93: /* STACK_GLOBAL */
			rc = pk_global(d, op, at);
			break;
		case 'R': /* REDUCE */
			rc = pk_reduce(d, at);
			break;
		case 'b': /* BUILD */
			rc = pk_build(d, at);
			break;
		case 0x81: /* NEWOBJ */
			rc = pk_newobj(d, at);
			break;
		case 'i':
		case 'o':
		case 'P':
		case 'Q':
		case 0x82:
		case 0x83:
		case 0x84:
		case 0x92:
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
	free(d->objs);
	free(d->stack.v);
	free(d->marks.v);
	free(d->memo.keys);
	free(d->memo.vals);
}

size_t value_pickle_weight_floor = PK_WEIGHT_FLOOR;

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
	d.maxweight = len > (SIZE_MAX - value_pickle_weight_floor) / 16
	                  ? SIZE_MAX
	                  : value_pickle_weight_floor + 16 * len;
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
