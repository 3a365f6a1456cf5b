/*
 * engine.h: the parts of bench_engine (libbooklet against LMDB; see
 * bench_engine.c): the run's data and state, the workloads, and one block
 * of functions per file.  engine-blt.c and engine-lmdb.c run each workload
 * on their engine and verify its store; engine-report.c prints the table
 * and the targets.
 */
#ifndef BENCH_ENGINE_H
#define BENCH_ENGINE_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <lmdb.h>

#include "bench.h"
#include "booklet.h"

#define BENCH_KLEN 12
/* Values are cut from a pool of random bytes that stays in the L2 cache,
 * so that fetching them costs the harness next to nothing. */
#define BENCH_POOL (1u << 20)

enum bench_op {
	OP_PUT,
	OP_GET,
	OP_GET_MANY,
	OP_MISS,
	OP_SCAN,
	OP_OVERWRITE,
	OP_PRUNE_OW,
	OP_DEL,
	OP_PRUNE,
	OP_COUNT
};

enum bench_side { SIDE_BLT, SIDE_MDB, SIDE_COUNT };

/* What each workload is called, and the ops/s published for the Python
 * booklet (0 when nothing was published). */
struct bench_op_info {
	const char *name;
	double python;
};
extern const struct bench_op_info bench_ops[OP_COUNT];

/* The data set and the state of one run. */
struct bench {
	size_t n;    /* keys in the store */
	size_t vlen; /* value bytes */
	uint64_t seed;
	int reps;         /* repetitions of read workloads */
	int verify;       /* check every value after each write workload */
	uint32_t buckets; /* libbooklet's initial index size, 0: default */
	int run[SIDE_COUNT];
	int broken[SIDE_COUNT]; /* a workload failed: skip the rest */
	char *dir;              /* temporary directory, removed at the end */
	int keep;               /* keep it */
	unsigned char *keys;    /* n keys in insertion order */
	unsigned char *shuf;    /* the same keys in the random read order */
	unsigned char *miss;    /* n keys that are never stored */
	size_t *perm;        /* shuf holds keys[perm[0]], keys[perm[1]] ... */
	unsigned char *dead; /* dead[i]: keys[i] is deleted (perm[0..n/2)) */
	unsigned char *pool; /* BENCH_POOL + vlen random bytes */
	unsigned char *buf;  /* get buffer, vlen + 1 bytes */
	uint64_t sink;       /* keeps read loops from being optimised out */
	double commit[SIDE_COUNT]; /* seconds in the last sync or commit */
	double rate[OP_COUNT][SIDE_COUNT]; /* ops/s, < 0 failed, 0 not run */
	/* libbooklet */
	char blt_path[PATH_MAX];
	struct blt *blt;
	/* LMDB */
	char mdb_dir[PATH_MAX];
	char mdb_copy[PATH_MAX];
	MDB_env *env;
	MDB_dbi dbi;
	char err[512]; /* why the last workload failed */
};

/* The value of key i in generation gen (0 first put, 1 overwrite). */
static inline const unsigned char *
bench_value(const struct bench *b, size_t i, int gen)
{
	uint64_t h = bench_mix(b->seed ^ ((uint64_t)i << 1 | (uint64_t)gen) ^
	                       UINT64_C(0x243f6a8885a308d3));

	return b->pool + h % (BENCH_POOL + 1);
}

/* Key i of the run, in insertion order. */
static inline const unsigned char *
bench_key(const struct bench *b, size_t i)
{
	return b->keys + i * BENCH_KLEN;
}

/* bench_engine.c */
/* Record why a workload failed; returns -1 for the caller to pass up. */
int bench_fail(struct bench *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * engine-blt.c and engine-lmdb.c: each workload on one engine.  A write
 * workload ends with a durable sync or commit (timed in b->commit too);
 * ops gets what was done.  Each returns 0, or -1 with b->err set.  The
 * check functions verify, untimed, that every key holds its value of
 * generation gen, or is gone when deleted.
 */
int bench_blt_open(struct bench *b);
int bench_blt_put(struct bench *b, int gen, uint64_t *ops);
int bench_blt_get(
    struct bench *b, const unsigned char *keys, int hit, uint64_t *ops);
int bench_blt_get_many(struct bench *b, uint64_t *ops);
int bench_blt_scan(struct bench *b, uint64_t *ops);
int bench_blt_del(struct bench *b, uint64_t *ops);
int bench_blt_prune(struct bench *b, int deleted, uint64_t *ops);
int bench_blt_check(struct bench *b, int gen, int deleted);

int bench_mdb_open(struct bench *b);
int bench_mdb_put(struct bench *b, int gen, uint64_t *ops);
int bench_mdb_get(
    struct bench *b, const unsigned char *keys, int hit, uint64_t *ops);
int bench_mdb_scan(struct bench *b, uint64_t *ops);
int bench_mdb_del(struct bench *b, uint64_t *ops);
int bench_mdb_compact(struct bench *b, int deleted, uint64_t *ops);
int bench_mdb_check(struct bench *b, int gen, int deleted);

/* engine-report.c */
/* The name of a statfs() filesystem type. */
const char *bench_fs_name(long type);
/* Print the sizes of the store files now ("after put", "at the end"). */
void bench_sizes(struct bench *b, const char *when);
/* Print the rates of every workload as a table, then the targets. */
void bench_table(const struct bench *b);
void bench_targets(const struct bench *b);

#endif
