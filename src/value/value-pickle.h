/*
 * The pickle codec's private header: the decoder's heap of nodes and its
 * state, shared by value-pickle-read.c (the pickle machine),
 * value-pickle-scalar.c (the arguments of the opcodes that push numbers
 * and text), value-pickle-global.c (the constructors CPython names) and
 * value-pickle-tree.c (Python's equality, and the heap as the tagged
 * tree); and the limits value-pickle-write.c also applies.
 */
#ifndef VALUE_PICKLE_H
#define VALUE_PICKLE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct blt_value_buf;

#define PK_MAX_DEPTH VALUE_DEPTH_MAX
#define PK_MAX_INT_BYTES 4096   /* LONG1/LONG4 payloads (9865 digits) */
#define PK_MAX_INT_DIGITS 10000 /* decimal text of $int */
/* Decimal digits of an INT or LONG line (protocol 0), sign aside: Python
 * reads them with int(), which refuses more than sys.int_info's
 * default_max_str_digits, so pickle.loads() fails on a longer one. */
#define PK_MAX_TEXT_INT_DIGITS 4300
#define PK_NODE_WEIGHT 32 /* what one output node costs, in bytes */
#define PK_WEIGHT_FLOOR ((size_t)64 << 20)
/* Probes and comparisons for the dedup of sets and dict keys, plus 8 per
 * byte of input: crafted hash collisions cannot make it quadratic. */
#define PK_EQ_BUDGET 50000000
#define PK_FRAME_TARGET 65536 /* CPython's _FRAME_SIZE_TARGET */
#define PK_BATCH 1000         /* CPython's BATCHSIZE */
#define PK_ENC_GLOBALS 32     /* the globals pk_enc_global() knows */
#define PK_ENC_DTYPES 8       /* the numpy dtypes an encoder shares */

enum pk_type {
	PK_NONE,
	PK_BOOL,
	PK_INT,
	PK_BIG,
	PK_FLOAT,
	PK_STR,
	PK_BYTES,
	PK_BYTEARRAY,
	PK_GLOBAL, /* a constructor of pk_ctors, to be called by REDUCE */
	PK_OBJ,    /* one of Python's everyday types: d->objs[obj] */
	PK_LIST,   /* PK_LIST and after: containers (u.items) */
	PK_TUPLE,
	PK_DICT,
	PK_SET,
	PK_FROZENSET
};

extern const char *const pk_type_names[];

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
	unsigned char called; /* PK_GLOBAL: REDUCE called it */
	unsigned char flavor; /* PK_DICT, PK_LIST: PK_FL_*, with d->objs[obj] */
	uint32_t obj;         /* PK_OBJ and flavors: its index in d->objs */
	uint64_t hash;
	union {
		int64_t i;
		double d;
		struct {
			const char *s;
			size_t len;
		} str;               /* STR, BYTES, BYTEARRAY, BIG (decimal) */
		struct pk_vec items; /* dict: key, value, key, value ... */
		struct {
			unsigned ctor; /* index in pk_ctors */
			size_t at;     /* offset of its opcode */
		} global;
	} u;
	/* Sets: positions of the distinct elements; dicts: pairs (position
	 * of the first equal key, position of the last value). */
	struct pk_vec uniq;
};

/*
 * Python's everyday types (value-pickle-object.c): a PK_OBJ node, or a
 * dict or list of another flavor, points at one of these.  Nodes are
 * node ids; SIZE_MAX where there is none.
 */
enum pk_obj_kind {
	PK_O_DATETIME,    /* n[0] the 10 bytes of state, n[1] its timezone */
	PK_O_DATE,        /* n[0] the 4 bytes of state */
	PK_O_TIME,        /* n[0] the 6 bytes of state, n[1] its timezone */
	PK_O_TIMEDELTA,   /* v[0..2] days, seconds, microseconds */
	PK_O_TIMEZONE,    /* v[0] the offset in microseconds */
	PK_O_DECIMAL,     /* n[0] the str Python's str() gives */
	PK_O_UUID_NEW,    /* made by NEWOBJ, its state to come by BUILD */
	PK_O_UUID,        /* n[0] the 128-bit int */
	PK_O_COMPLEX,     /* n[0], n[1] the real and imaginary floats */
	PK_O_DTYPE_NEW,   /* numpy.dtype(...): v[1] its type char, v[2] its
	                   * item size, n[0] its name; byte order by BUILD */
	PK_O_DTYPE,       /* ... and v[0] its byte order '<', '>' or '|' */
	PK_O_ARRAY_NEW,   /* numpy's _reconstruct: its state by BUILD */
	PK_O_ARRAY,       /* n[0] the data, n[1] the dtype, n[2] the shape
	                   * tuple; v[0] 1 for Fortran order */
	PK_O_SCALAR,      /* a numpy scalar: n[0] the dtype, n[1] the data */
	PK_O_PDTIMESTAMP, /* v[0] the value in units of v[1], pandas'
	                   * resolution (0: NaT); n[0] its timezone */
	PK_O_PDTIMEDELTA, /* v[0] the value in units of v[1] */
	/* the flavors of dicts and lists */
	PK_O_DEFAULTDICT, /* n[0] the factory (a PK_GLOBAL), or SIZE_MAX */
	PK_O_DEQUE        /* n[0] maxlen, an int, or SIZE_MAX for none */
};

enum {
	PK_FL_PLAIN,
	PK_FL_ODICT,
	PK_FL_COUNTER,
	PK_FL_DEFAULTDICT,
	PK_FL_DEQUE
};

struct pk_obj {
	unsigned kind;
	int64_t v[3];
	size_t n[3];
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
	unsigned proto;      /* of the PROTO opcode; 0 without one */
	size_t built;        /* bytes REDUCE copied, capped by maxweight */
	struct pk_obj *objs; /* Python's everyday types, by pk_node.obj */
	size_t nobjs, capobjs;
};

/* value-pickle-read.c */
/* Record why the pickle is not decodable (the first reason stays);
 * returns BLT_VALUE_NOT_DECODABLE. */
int pk_fail(struct pk_dec *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int pk_vec_push(struct pk_vec *v, size_t x);
/* A new node of type, zeroed; pushed on the stack by pk_push_new(). */
int pk_new(struct pk_dec *d, unsigned type, size_t *id);
int pk_push_new(struct pk_dec *d, unsigned type, struct pk_node **node);
/* Need n more bytes after the opcode at offset at. */
int pk_need(struct pk_dec *d, uint64_t n, size_t at);
/* A protocol 0 argument: the text up to the newline, which is skipped. */
int pk_line(struct pk_dec *d, size_t at, const char **s, size_t *n);
/* The stack above the innermost mark: what an opcode may pop. */
size_t pk_fence(const struct pk_dec *d);
int pk_underflow(struct pk_dec *d, size_t at);
/* Move the stack above position k into a new container of type. */
int pk_collect(struct pk_dec *d, unsigned type, size_t k);
/* A forbidden opcode at offset at: say what it would have done. */
int pk_forbidden(struct pk_dec *d, unsigned op, size_t at);

/* value-pickle-global.c: the constructors CPython names */
/* GLOBAL (op 'c') and STACK_GLOBAL (0x93): push one, or refuse. */
int pk_global(struct pk_dec *d, unsigned op, size_t at);

/* An array's data size as numpy counts it, one dimension at a time from
 * bytes = span = the item size: numpy refuses ("array is too big") the
 * item size times the dimensions other than 0 past 2**63 - 1, though a
 * dimension of 0 leaves no data.  0, or -1 when too big. */
static inline int
pk_np_size_add(uint64_t *bytes, uint64_t *span, uint64_t dim)
{
	if (*span == 0)
		*span = 1; /* an item of no bytes */
	if (dim == 0) {
		*bytes = 0;
		return 0;
	}
	if (*span > INT64_MAX / dim)
		return -1;
	*span *= dim;
	*bytes *= dim;
	return 0;
}

/* REDUCE: build a value from one with CPython's arguments, or refuse. */
int pk_reduce(struct pk_dec *d, size_t at);
/* Refuse a constructor on the stack above k (used as a value). */
int pk_no_global(struct pk_dec *d, size_t k);
/* At STOP: refuse a constructor never called. */
int pk_globals_called(struct pk_dec *d);
/* NEWOBJ: a uuid.UUID, or refuse. */
int pk_newobj(struct pk_dec *d, size_t at);
/* BUILD: the state of a UUID, a numpy dtype or array, or refuse. */
int pk_build(struct pk_dec *d, size_t at);
/* The kinds of the constructors of pk_ctors (value-pickle-global.c):
 * those of plain data, then those value-pickle-object.c builds. */
enum pk_ctor_kind {
	PK_CTOR_SET,
	PK_CTOR_FROZENSET,
	PK_CTOR_BYTES,
	PK_CTOR_BYTEARRAY,
	PK_CTOR_ENCODE,
	PK_CTOR_TYPE,     /* a builtin type, as a defaultdict's factory only */
	PK_CTOR_DATETIME, /* PK_CTOR_OBJECTS: the first of the objects */
	PK_CTOR_DATE,
	PK_CTOR_TIME,
	PK_CTOR_TIMEDELTA,
	PK_CTOR_TIMEZONE,
	PK_CTOR_DECIMAL,
	PK_CTOR_UUID,
	PK_CTOR_COMPLEX,
	PK_CTOR_ODICT,
	PK_CTOR_COUNTER,
	PK_CTOR_DEFAULTDICT,
	PK_CTOR_DEQUE,
	PK_CTOR_FROMBUFFER,
	PK_CTOR_RECONSTRUCT,
	PK_CTOR_SCALAR,
	PK_CTOR_DTYPE,
	PK_CTOR_NDARRAY,
	PK_CTOR_PDTIMESTAMP,   /* pandas' _unpickle_timestamp */
	PK_CTOR_PDTIMEDELTA,   /* pandas' _timedelta_unpickle */
	PK_CTOR_NAT,           /* pandas' __nat_unpickle */
	PK_CTOR_RECONSTRUCTOR, /* copyreg._reconstructor (protocols 0, 1) */
	PK_CTOR_OBJECT         /* builtins.object, its argument */
};
#define PK_CTOR_OBJECTS PK_CTOR_DATETIME
/* What REDUCE copies, counted against the weight cap: 0 or refused. */
int pk_built(struct pk_dec *d, size_t n, size_t at);
int pk_global_kind(const struct pk_dec *d, size_t id);
/* The name of global node id (as module.name), for messages. */
const char *pk_global_name(
    const struct pk_dec *d, size_t id, char *buf, size_t cap);

/* value-pickle-object.c: Python's everyday types */
/* Push a new PK_OBJ of kind; its struct in *o. */
int pk_obj_push(struct pk_dec *d, unsigned kind, struct pk_obj **o);
/* The struct of PK_OBJ (or flavored) node id. */
struct pk_obj *pk_obj_of(struct pk_dec *d, size_t id);
/* REDUCE of an everyday type's constructor (PK_CTOR_* of
 * value-pickle-global.c) with the tuple args, at offset at: push the
 * value, or refuse (other arguments than CPython writes). */
int pk_obj_reduce(struct pk_dec *d, unsigned ctor_kind, const char *name,
    size_t args, size_t at);
/* BUILD of object id with state: 0, or refuse. */
int pk_obj_build(struct pk_dec *d, size_t id, size_t state, size_t at);
/* The tagged tree of PK_OBJ node id (its payload converted at depth). */
int pk_obj_json(struct pk_dec *d, size_t id, int depth, json_t **out);
/* The JSON levels of its form (for the depth check). */
int pk_obj_levels(const struct pk_dec *d, size_t id);
/* Python's equality and hash of one as a set element or dict key: 1 or
 * 0; hash into *h, or refuse (unhashable, or equal to numbers of other
 * types). */
int pk_obj_eq(struct pk_dec *d, size_t a, size_t b);
int pk_obj_hash(struct pk_dec *d, size_t id, uint64_t *h);
/* The tag a flavored dict or list is wrapped in, around its plain form
 * j (stolen): {"$odict": j} ... */
int pk_flavor_json(struct pk_dec *d, size_t id, int depth, json_t **j);
int pk_flavor_levels(const struct pk_dec *d, size_t id);

/* value-pickle-scalar.c: numbers and text */
/* BINSTRING and SHORT_BINSTRING, pk_push_bin()'s str that must be ASCII */
#define PK_ASCII 100
int pk_push_str(
    struct pk_dec *d, const char *s, size_t n, int owned, size_t at);
int pk_unicode(struct pk_dec *d, const char *s, size_t n, size_t at);
int pk_string(struct pk_dec *d, const char *s, size_t n, size_t at);
int pk_push_bin(struct pk_dec *d, unsigned type, uint64_t n, size_t at);
int pk_push_int(struct pk_dec *d, int64_t v);
int pk_text_int(struct pk_dec *d, const char *s, size_t n, size_t at);
int pk_long(struct pk_dec *d, size_t n, size_t at);
int pk_push_float(struct pk_dec *d, double v);

int pk_text_float(struct pk_dec *d, const char *s, size_t n, size_t at);

/* value-pickle-numpy.c: numpy's dtypes, arrays and scalars */
/* The type char ('b', 'i', 'u', 'f', 'c', 'U', 'S') and item size of a
 * plain dtype's name ("f8", "U3"): 1, or 0 for any other name. */
int pk_np_name(const char *s, size_t n, int *type, int64_t *size);
int pk_numpy_reduce(struct pk_dec *d, unsigned ctor_kind, const char *name,
    const size_t *arg, size_t nargs, size_t at);
int pk_numpy_build(struct pk_dec *d, size_t id, size_t state, size_t at);
int pk_numpy_levels(const struct pk_dec *d, const struct pk_obj *o);
int pk_numpy_json(
    struct pk_dec *d, const struct pk_obj *o, int depth, json_t **out);

/* value-pickle-pandas.c: pandas' Timestamp, Timedelta and NaT */
int pk_pandas_reduce(struct pk_dec *d, unsigned ctor_kind, const char *name,
    const size_t *arg, size_t nargs, size_t at);
int pk_pandas_json(struct pk_dec *d, const struct pk_obj *o, json_t **out);

/* value-pickle-write.c: the encoder's state and its primitives */
struct pk_enc {
	struct blt_value_buf *out;
	size_t frame; /* offset of the open frame's header, or SIZE_MAX */
	size_t memo;  /* memo entries written */
	/* Memo indexes + 1 of CPython's shared objects: "", the one-char
	 * Latin-1 strs (index 256 is ""), and b"". */
	size_t str1[257], bytes0;
	/* ... and of "int", the attribute every uuid.UUID's state names */
	size_t uuid_int;
	/* Memo indexes + 1 of the globals and module names written (by
	 * the address of their name in pk_enc_global()'s table), and of the
	 * numpy dtypes, which numpy shares as Python shares classes. */
	size_t global[PK_ENC_GLOBALS], modules[PK_ENC_GLOBALS];
	size_t dtype_memo[PK_ENC_DTYPES];
	char dtype_name[PK_ENC_DTYPES][8];
	char path[512];
	size_t pathlen;
};
int pk_op(struct pk_enc *e, unsigned char op);
int pk_op_le(struct pk_enc *e, unsigned char op, uint64_t v, int n);
int pk_payload(struct pk_enc *e, unsigned char op, uint64_t n, int lenbytes,
    const void *p);
int pk_memoize(struct pk_enc *e);
int pk_memo_ref(struct pk_enc *e, size_t idx);
/* A message naming the path in the text ($.a[2]); returns -EINVAL. */
int pk_enc_err(struct pk_enc *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
size_t pk_path_push(struct pk_enc *e, const char *key, size_t i);
void pk_path_pop(struct pk_enc *e, size_t old);
int pk_enc_int(struct pk_enc *e, int64_t v);
int pk_enc_float(struct pk_enc *e, double v);
int pk_enc_str(struct pk_enc *e, const char *s, size_t n);
int pk_b64_decode(struct pk_enc *e, const json_t *v, const char *tag,
    unsigned char **out, size_t *olen);
int pk_enc_value(struct pk_enc *e, const json_t *v, int depth);
int pk_enc_hashable(struct pk_enc *e, const json_t *v, int depth);
int pk_enc_items(struct pk_enc *e, const json_t *a, int depth, int hashable);
int pk_enc_pair(struct pk_enc *e, const json_t *p, int depth);
int pk_enc_batches(struct pk_enc *e, const json_t *a, size_t n, int pairs,
    unsigned char op, int depth, int hashable);

/* value-pickle-write-object.c: Python's everyday types, as CPython
 * pickles them: 1 when tag is none of theirs, else 0 or an error. */
int pk_enc_object(
    struct pk_enc *e, const char *tag, const json_t *in, int depth);
/* The items of a dict of either form (an object, or a $dict tag) as
 * SETITEM or batches of SETITEMS. */
int pk_enc_dict_items(struct pk_enc *e, const json_t *v, int depth);
/* The globals pk_enc_global() writes, by their index in its table. */
enum {
	PK_G_DATETIME,
	PK_G_DATE,
	PK_G_TIME,
	PK_G_TIMEDELTA,
	PK_G_TIMEZONE,
	PK_G_DECIMAL,
	PK_G_UUID,
	PK_G_COMPLEX,
	PK_G_ODICT,
	PK_G_COUNTER,
	PK_G_DEFAULTDICT,
	PK_G_DEQUE,
	PK_G_FROMBUFFER,
	PK_G_SCALAR,
	PK_G_DTYPE,
	PK_G_PDTIMESTAMP,
	PK_G_PDTIMEDELTA,
	PK_G_NAT,
	PK_G_FACTORIES
};
/* A global as STACK_GLOBAL (or a GET of it), memoized as CPython does. */
int pk_enc_global(struct pk_enc *e, size_t i);
/* TUPLE1 to TUPLE3 of the n items just written, memoized. */
int pk_enc_tuple(struct pk_enc *e, unsigned n);
/* REDUCE, memoized. */
int pk_enc_reduce(struct pk_enc *e);
/* Bytes as CPython saves them, memoized. */
int pk_enc_bytes(struct pk_enc *e, const void *p, size_t n);
/* datetime.timezone of the offset off (µs). */
int pk_enc_timezone(struct pk_enc *e, int64_t off);
/* value-pickle-pandas.c: $pdtimestamp and $pdtimedelta. */
int pk_enc_pandas(struct pk_enc *e, const char *tag, const json_t *in);
/* value-pickle-write-numpy.c: $ndarray and $npscalar. */
int pk_enc_numpy(
    struct pk_enc *e, const char *tag, const json_t *in, int depth);

/* value-pickle-tree.c */
/* Count what one output node and its payload weigh: 0, or refused past
 * the cap. */
int pk_weigh(struct pk_dec *d, size_t payload);
int pk_too_deep(struct pk_dec *d);
/* The tagged tree of node id, inside depth JSON arrays and objects (0 for
 * the root). */
int pk_json(struct pk_dec *d, size_t id, int depth, json_t **out);

#endif
