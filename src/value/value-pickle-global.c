/*
 * The constructors a pickle may name (doc/values.md, "Pickle safety"):
 * CPython writes sets and frozensets before protocol 4, bytes before 3
 * and bytearray before 5 as a GLOBAL or STACK_GLOBAL of a constructor and
 * a REDUCE calling it; Python's everyday types (datetimes, Decimal, UUID,
 * the collections, numpy arrays) are written the same way, with NEWOBJ
 * and BUILD for some.  value-pickle-read.c runs those opcodes here, which
 * recognize exactly these names and arguments, import and call nothing,
 * and build the value (value-pickle-object.c the everyday types); every
 * other use is not decodable.
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

/*
 * The constructors a pickle may name: the only GLOBAL and STACK_GLOBAL
 * pushed, and the only callables of REDUCE.  CPython writes sets and
 * frozensets this way before protocol 4, bytes before 3 and bytearray
 * before 5; protocols 0 to 2 name builtins as __builtin__, which Python 3
 * maps back only in those protocols.  Nothing is imported or called: a
 * REDUCE of one with exactly the arguments CPython writes builds the value
 * (pk_reduce), and any other use of one is not decodable.
 */
static const struct pk_ctor {
	const char *module, *name;
	unsigned kind;
	unsigned maxproto; /* highest protocol whose unpickler finds it */
} pk_ctors[] = {
    {"builtins", "set", PK_CTOR_SET, 5},
    {"builtins", "frozenset", PK_CTOR_FROZENSET, 5},
    {"builtins", "bytes", PK_CTOR_BYTES, 5},
    {"builtins", "bytearray", PK_CTOR_BYTEARRAY, 5},
    {"__builtin__", "set", PK_CTOR_SET, 2},
    {"__builtin__", "frozenset", PK_CTOR_FROZENSET, 2},
    {"__builtin__", "bytes", PK_CTOR_BYTES, 2},
    {"__builtin__", "bytearray", PK_CTOR_BYTEARRAY, 2},
    {"_codecs", "encode", PK_CTOR_ENCODE, 5},
    {"builtins", "list", PK_CTOR_TYPE, 5},
    {"builtins", "dict", PK_CTOR_TYPE, 5},
    {"builtins", "int", PK_CTOR_TYPE, 5},
    {"builtins", "str", PK_CTOR_TYPE, 5},
    {"builtins", "float", PK_CTOR_TYPE, 5},
    {"builtins", "tuple", PK_CTOR_TYPE, 5},
    {"builtins", "bool", PK_CTOR_TYPE, 5},
    {"__builtin__", "list", PK_CTOR_TYPE, 2},
    {"__builtin__", "dict", PK_CTOR_TYPE, 2},
    {"__builtin__", "int", PK_CTOR_TYPE, 2},
    {"__builtin__", "long", PK_CTOR_TYPE, 2}, /* Python 3's int */
    {"__builtin__", "str", PK_CTOR_TYPE, 2},
    {"__builtin__", "unicode", PK_CTOR_TYPE, 2}, /* Python 3's str */
    {"__builtin__", "float", PK_CTOR_TYPE, 2},
    {"__builtin__", "tuple", PK_CTOR_TYPE, 2},
    {"__builtin__", "bool", PK_CTOR_TYPE, 2},
    {"datetime", "datetime", PK_CTOR_DATETIME, 5},
    {"datetime", "date", PK_CTOR_DATE, 5},
    {"datetime", "time", PK_CTOR_TIME, 5},
    {"datetime", "timedelta", PK_CTOR_TIMEDELTA, 5},
    {"datetime", "timezone", PK_CTOR_TIMEZONE, 5},
    {"decimal", "Decimal", PK_CTOR_DECIMAL, 5},
    {"uuid", "UUID", PK_CTOR_UUID, 5},
    {"builtins", "complex", PK_CTOR_COMPLEX, 5},
    {"__builtin__", "complex", PK_CTOR_COMPLEX, 2},
    {"collections", "OrderedDict", PK_CTOR_ODICT, 5},
    {"collections", "Counter", PK_CTOR_COUNTER, 5},
    {"collections", "defaultdict", PK_CTOR_DEFAULTDICT, 5},
    {"collections", "deque", PK_CTOR_DEQUE, 5},
    /* numpy 1 names its core numpy.core, numpy 2 numpy._core */
    {"numpy.core.numeric", "_frombuffer", PK_CTOR_FROMBUFFER, 5},
    {"numpy._core.numeric", "_frombuffer", PK_CTOR_FROMBUFFER, 5},
    {"numpy.core.multiarray", "_reconstruct", PK_CTOR_RECONSTRUCT, 5},
    {"numpy._core.multiarray", "_reconstruct", PK_CTOR_RECONSTRUCT, 5},
    {"numpy.core.multiarray", "scalar", PK_CTOR_SCALAR, 5},
    {"numpy._core.multiarray", "scalar", PK_CTOR_SCALAR, 5},
    {"numpy", "dtype", PK_CTOR_DTYPE, 5},
    {"numpy", "ndarray", PK_CTOR_NDARRAY, 5},
    {"pandas._libs.tslibs.timestamps", "_unpickle_timestamp",
        PK_CTOR_PDTIMESTAMP, 5},
    {"pandas._libs.tslibs.timedeltas", "_timedelta_unpickle",
        PK_CTOR_PDTIMEDELTA, 5},
    {"pandas._libs.tslibs.nattype", "__nat_unpickle", PK_CTOR_NAT, 5},
    /* a uuid.UUID of protocols 0 and 1 */
    {"copy_reg", "_reconstructor", PK_CTOR_RECONSTRUCTOR, 2},
    {"copyreg", "_reconstructor", PK_CTOR_RECONSTRUCTOR, 5},
    {"__builtin__", "object", PK_CTOR_OBJECT, 2},
    {"builtins", "object", PK_CTOR_OBJECT, 5},
};

/* The name of global node id as module.name, into buf. */
const char *
pk_global_name(const struct pk_dec *d, size_t id, char *buf, size_t cap)
{
	const struct pk_ctor *c = &pk_ctors[d->nodes[id].u.global.ctor];

	snprintf(buf, cap, "%s.%s", c->module, c->name);
	return buf;
}

/* The kind (PK_CTOR_*) of global node id, or -1 for another node. */
int
pk_global_kind(const struct pk_dec *d, size_t id)
{
	if (d->nodes[id].type != PK_GLOBAL)
		return -1;
	return (int)pk_ctors[d->nodes[id].u.global.ctor].kind;
}

/* A constructor on the stack above k is not called but used as a value:
 * Python would import it into the value, which JSON cannot hold. */
int
pk_no_global(struct pk_dec *d, size_t k)
{
	for (size_t i = k; i < d->stack.n; i++) {
		const struct pk_node *n = &d->nodes[d->stack.v[i]];

		if (n->type == PK_GLOBAL)
			return pk_fail(d,
			    "the global %s.%s at offset %zu is used as a "
			    "value, not called",
			    pk_ctors[n->u.global.ctor].module,
			    pk_ctors[n->u.global.ctor].name, n->u.global.at);
	}
	return 0;
}

/* Whether the n bytes at s (NULs too) are the string want: most names
 * differ at their first byte, so no strlen() of each. */
static int
pk_name_is(const char *want, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (want[i] == '\0' || want[i] != s[i])
			return 0;
	return want[n] == '\0';
}

/* GLOBAL (op 'c', the two lines after at) and STACK_GLOBAL (0x93, the
 * two strs on the stack): push the constructor they name, or refuse. */
int
pk_global(struct pk_dec *d, unsigned op, size_t at)
{
	const char *m = NULL, *nm = NULL;
	size_t mn = 0, nn = 0, save = d->pos;
	struct pk_node *node;
	int rc;

	if (op == 'c') {
		if ((rc = pk_line(d, at, &m, &mn)) != 0 ||
		    (rc = pk_line(d, at, &nm, &nn)) != 0)
			return rc;
	} else if (d->stack.n >= 2 + pk_fence(d)) {
		const struct pk_node *a = &d->nodes[d->stack.v[d->stack.n - 2]];
		const struct pk_node *b = &d->nodes[d->stack.v[d->stack.n - 1]];

		if (a->type == PK_STR && b->type == PK_STR) {
			m = a->u.str.s, mn = a->u.str.len;
			nm = b->u.str.s, nn = b->u.str.len;
		}
	}
	for (unsigned i = 0; m && i < sizeof pk_ctors / sizeof pk_ctors[0];
	     i++) {
		const struct pk_ctor *c = &pk_ctors[i];

		if (d->proto > c->maxproto || !pk_name_is(c->module, m, mn) ||
		    !pk_name_is(c->name, nm, nn))
			continue;
		if (op != 'c')
			d->stack.n -= 2;
		if ((rc = pk_push_new(d, PK_GLOBAL, &node)) != 0)
			return rc;
		node->u.global.ctor = i;
		node->u.global.at = at;
		return 0;
	}
	d->pos = save;
	return pk_forbidden(d, op, at);
}

/* Whether node id is a str of one of the names Python gives Latin-1. */
static int
pk_is_latin1_name(const struct pk_dec *d, size_t id)
{
	const struct pk_node *n = &d->nodes[id];

	return n->type == PK_STR &&
	       ((n->u.str.len == 6 && memcmp(n->u.str.s, "latin1", 6) == 0) ||
	           (n->u.str.len == 7 &&
	               memcmp(n->u.str.s, "latin-1", 7) == 0));
}

/* Push a node of type (PK_BYTES or PK_BYTEARRAY) holding the Latin-1
 * encoding of str node id, as str.encode('latin-1') gives it; not
 * decodable for a character beyond U+00FF (Python's call would fail). */
static int
pk_push_latin1(struct pk_dec *d, unsigned type, size_t id, size_t at)
{
	const unsigned char *s = (const unsigned char *)d->nodes[id].u.str.s;
	size_t n = d->nodes[id].u.str.len, o = 0;
	struct pk_node *node;
	char *b;
	int rc;

	/* The str is valid UTF-8 (or surrogates): U+0000 to U+00FF are one
	 * byte below 0x80, or 0xc2/0xc3 and a continuation byte. */
	if ((b = malloc(n + 1)) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < 0x80)
			b[o++] = (char)s[i];
		else if ((s[i] == 0xc2 || s[i] == 0xc3) && i + 1 < n) {
			b[o++] = (char)((s[i] & 3) << 6 | (s[i + 1] & 0x3f));
			i++;
		} else {
			free(b);
			return pk_fail(d,
			    "the REDUCE at offset %zu would encode a str "
			    "beyond Latin-1 as Latin-1 (Python's call would "
			    "fail)",
			    at);
		}
	}
	if ((rc = pk_push_new(d, type, &node)) < 0) {
		free(b);
		return rc;
	}
	node->u.str.s = b;
	node->u.str.len = o;
	node->owned = 1;
	return 0;
}

/* What a REDUCE copies (a set's items, Latin-1 bytes) is counted: the
 * memo could otherwise call one constructor on one big argument over and
 * over, building far more than the input holds. */
int
pk_built(struct pk_dec *d, size_t n, size_t at)
{
	d->built += n;
	if (d->built > d->maxweight)
		return pk_fail(d,
		    "the REDUCE at offset %zu would build more than %zu bytes "
		    "(one argument used over and over)",
		    at, d->maxweight);
	return 0;
}

/* REDUCE of a constructor with exactly the arguments CPython writes:
 * set(list), frozenset(list), bytes(), _codecs.encode(str, 'latin1'),
 * bytearray(), bytearray(bytes) and bytearray(str, 'latin-1') (Python
 * 2's form); the value is built, nothing called. */
int
pk_reduce(struct pk_dec *d, size_t at)
{
	size_t top = d->stack.n, fid, aid, nargs, *arg, id;
	const struct pk_ctor *c;
	struct pk_node *node;
	unsigned kind;
	int rc;

	if (top < 2 || top - 2 < pk_fence(d))
		return pk_underflow(d, at);
	fid = d->stack.v[top - 2];
	aid = d->stack.v[top - 1];
	if (d->nodes[fid].type != PK_GLOBAL)
		return pk_forbidden(d, 'R', at);
	c = &pk_ctors[d->nodes[fid].u.global.ctor];
	kind = c->kind;
	if (d->nodes[aid].type != PK_TUPLE)
		goto bad;
	if (kind >= PK_CTOR_OBJECTS) {
		char name[80];

		d->nodes[fid].called = 1;
		d->stack.n = top - 2;
		snprintf(name, sizeof name, "%s.%s", c->module, c->name);
		return pk_obj_reduce(d, kind, name, aid, at);
	}
	if (kind == PK_CTOR_TYPE)
		goto bad;
	nargs = d->nodes[aid].u.items.n;
	arg = d->nodes[aid].u.items.v;
	d->nodes[fid].called = 1;
	if ((kind == PK_CTOR_SET || kind == PK_CTOR_FROZENSET) && nargs == 1 &&
	    d->nodes[arg[0]].type == PK_LIST) {
		/* The list's items now: later APPENDs do not reach the set. */
		size_t lid = arg[0];

		if ((rc = pk_built(
		         d, d->nodes[lid].u.items.n * sizeof(size_t), at)) != 0)
			return rc;
		d->stack.n = top - 2;
		for (size_t i = 0; i < d->nodes[lid].u.items.n; i++)
			if ((rc = pk_vec_push(
			         &d->stack, d->nodes[lid].u.items.v[i])) < 0)
				return rc;
		return pk_collect(
		    d, kind == PK_CTOR_SET ? PK_SET : PK_FROZENSET, top - 2);
	}
	if ((kind == PK_CTOR_BYTES || kind == PK_CTOR_BYTEARRAY) &&
	    nargs == 0) {
		d->stack.n = top - 2;
		if ((rc = pk_push_new(d,
		         kind == PK_CTOR_BYTES ? PK_BYTES : PK_BYTEARRAY,
		         &node)) == 0)
			node->u.str.s = "";
		return rc;
	}
	if (kind == PK_CTOR_BYTEARRAY && nargs == 1 &&
	    d->nodes[arg[0]].type == PK_BYTES) {
		const char *b = d->nodes[arg[0]].u.str.s;
		size_t n = d->nodes[arg[0]].u.str.len;

		/* Shared, not copied: nodes live as long as the decode. */
		d->stack.n = top - 2;
		if ((rc = pk_push_new(d, PK_BYTEARRAY, &node)) == 0) {
			node->u.str.s = b;
			node->u.str.len = n;
		}
		return rc;
	}
	if ((kind == PK_CTOR_ENCODE || kind == PK_CTOR_BYTEARRAY) &&
	    nargs == 2 && d->nodes[arg[0]].type == PK_STR &&
	    pk_is_latin1_name(d, arg[1])) {
		id = arg[0];
		if ((rc = pk_built(d, d->nodes[id].u.str.len, at)) != 0)
			return rc;
		d->stack.n = top - 2;
		return pk_push_latin1(d,
		    kind == PK_CTOR_ENCODE ? PK_BYTES : PK_BYTEARRAY, id, at);
	}
bad:
	return pk_fail(d,
	    "opcode REDUCE (R) at offset %zu would call %s.%s with other "
	    "arguments than a pickle of a %s has",
	    at, c->module, c->name, kind == PK_CTOR_ENCODE ? "bytes" : c->name);
}

/* NEWOBJ: cls.__new__(cls, *args), which CPython writes for a uuid.UUID
 * with no arguments (its state follows by BUILD). */
int
pk_newobj(struct pk_dec *d, size_t at)
{
	size_t top = d->stack.n, cls, args;
	struct pk_obj *o;
	int rc;

	if (top < 2 || top - 2 < pk_fence(d))
		return pk_underflow(d, at);
	cls = d->stack.v[top - 2];
	args = d->stack.v[top - 1];
	if (pk_global_kind(d, cls) != PK_CTOR_UUID)
		return pk_forbidden(d, 0x81, at);
	if (args != PK_ID_EMPTY_TUPLE)
		return pk_fail(d,
		    "opcode NEWOBJ at offset %zu would make a uuid.UUID with "
		    "arguments, which a pickle of one has not",
		    at);
	d->nodes[cls].called = 1;
	d->stack.n = top - 2;
	if ((rc = pk_obj_push(d, PK_O_UUID_NEW, &o)) != 0)
		return rc;
	return 0;
}

/* BUILD: the state of an object a pickle made before (a UUID, a numpy
 * dtype or array); any other is refused, as it would set attributes. */
int
pk_build(struct pk_dec *d, size_t at)
{
	size_t top = d->stack.n, obj, state;
	int rc;

	if (top < 2 || top - 2 < pk_fence(d))
		return pk_underflow(d, at);
	obj = d->stack.v[top - 2];
	state = d->stack.v[top - 1];
	if (d->nodes[obj].type != PK_OBJ)
		return pk_forbidden(d, 'b', at);
	if ((rc = pk_obj_build(d, obj, state, at)) != 0)
		return rc;
	d->stack.n = top - 1;
	return 0;
}

/* At STOP: a constructor pushed but never called is refused too. */
int
pk_globals_called(struct pk_dec *d)
{
	for (size_t i = PK_ID_FIRST; i < d->nnodes; i++) {
		const struct pk_node *n = &d->nodes[i];

		if (n->type == PK_GLOBAL && !n->called)
			return pk_fail(d,
			    "the global %s.%s at offset %zu is never called",
			    pk_ctors[n->u.global.ctor].module,
			    pk_ctors[n->u.global.ctor].name, n->u.global.at);
	}
	return 0;
}
