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
	PK_GLOBAL, /* a constructor of pk_ctors, to be called by REDUCE */
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
	unsigned proto; /* of the PROTO opcode; 0 without one */
	size_t built;   /* bytes REDUCE copied, capped by maxweight */
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
/* REDUCE: build a value from one with CPython's arguments, or refuse. */
int pk_reduce(struct pk_dec *d, size_t at);
/* Refuse a constructor on the stack above k (used as a value). */
int pk_no_global(struct pk_dec *d, size_t k);
/* At STOP: refuse a constructor never called. */
int pk_globals_called(struct pk_dec *d);

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

/* value-pickle-tree.c */
/* The tagged tree of node id, inside depth JSON arrays and objects (0 for
 * the root). */
int pk_json(struct pk_dec *d, size_t id, int depth, json_t **out);

#endif
