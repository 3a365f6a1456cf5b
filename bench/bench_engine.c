/*
 * bench_engine: libbooklet and LMDB on the same data in one run.
 *
 * Both stores get the same keys and values, made by a seeded PRNG, in the
 * same order, and every workload runs on both back to back before the next
 * one starts, so that both see the same machine state.  The stores live in
 * one temporary directory (one filesystem) and nothing is dropped from the
 * page cache: both engines are measured warm.
 *
 * Durability is the same on both sides: a write workload ends with
 * blt_sync() (write plus fsync) for libbooklet and with mdb_txn_commit() of
 * one write transaction under LMDB's default, durable flags (fdatasync of
 * data and meta pages).  Read workloads run -r times, alternating between
 * the engines, and keep each one's best; write workloads change the stores
 * and run once.  After each write workload every key is read back from
 * both stores, untimed, and compared with what it should hold.
 *
 * Prune runs twice, each time on a store with half its blocks dead: after
 * the overwrite (every key's old value) and after the delete (half the
 * keys).  It has no LMDB equivalent and is compared with a compacting copy of
 * the LMDB environment (mdb_env_copyfd2 with MDB_CP_COMPACT, which is what
 * mdb_env_copy2 calls) into a new file that is then fsynced, since
 * blt_prune also writes a new file and fsyncs it.
 *
 * The Python column holds numbers published for the Python booklet package
 * on these machines (50,000 items); they are not measured here.
 *
 * This file makes the data and runs the workloads; engine-blt.c and
 * engine-lmdb.c are the two engines, engine-report.c prints the results.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/vfs.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>

#include "bench.h"
#include "booklet.h"
#include "engine.h"

static const char *const bench_sides[SIDE_COUNT] = {"libbooklet", "LMDB"};

/* Record why a workload failed; returns -1 for the caller to pass up. */
int
bench_fail(struct bench *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b->err, sizeof b->err, fmt, ap);
	va_end(ap);
	return -1;
}

/* Key i of the run: 8 bytes unique per i, then 4 more random bytes.  Keys
 * 0 .. n-1 are stored, n .. 2n-1 are the misses. */
static void
bench_make_key(const struct bench *b, uint64_t i, unsigned char *k)
{
	uint64_t x = (b->seed << 32) ^ i;
	uint64_t a = bench_mix(x), c = bench_mix(x ^ UINT64_C(0x5bd1e995));

	memcpy(k, &a, 8);
	memcpy(k + 8, &c, 4);
}

static void *
bench_alloc(size_t n)
{
	void *p;

	if ((p = malloc(n ? n : 1)) == NULL) {
		fprintf(stderr, "bench_engine: out of memory (%zu bytes)\n", n);
		exit(1);
	}
	return p;
}

static void
bench_make_data(struct bench *b)
{
	uint64_t s = b->seed ^ UINT64_C(0x13198a2e03707344), r;
	size_t pool_len = BENCH_POOL + b->vlen, i, j, t, left;

	b->keys = bench_alloc(b->n * BENCH_KLEN);
	b->shuf = bench_alloc(b->n * BENCH_KLEN);
	b->miss = bench_alloc(b->n * BENCH_KLEN);
	b->perm = bench_alloc(b->n * sizeof *b->perm);
	b->dead = calloc(b->n ? b->n : 1, 1);
	b->pool = bench_alloc(pool_len);
	b->buf = bench_alloc(b->vlen + 1);
	if (b->dead == NULL) {
		fprintf(stderr, "bench_engine: out of memory\n");
		exit(1);
	}
	for (i = 0; i < b->n; i++) {
		bench_make_key(b, i, b->keys + i * BENCH_KLEN);
		bench_make_key(b, b->n + i, b->miss + i * BENCH_KLEN);
		b->perm[i] = i;
	}
	for (i = 0; i < pool_len; i += sizeof r) {
		r = bench_mix(s++);
		left = pool_len - i;
		memcpy(b->pool + i, &r, left < sizeof r ? left : sizeof r);
	}
	/* Fisher-Yates; the modulo bias is irrelevant for a read order. */
	for (i = b->n; i > 1; i--) {
		j = bench_mix(s++) % i;
		t = b->perm[i - 1];
		b->perm[i - 1] = b->perm[j];
		b->perm[j] = t;
	}
	for (i = 0; i < b->n; i++) {
		memcpy(b->shuf + i * BENCH_KLEN, bench_key(b, b->perm[i]),
		    BENCH_KLEN);
		if (i < b->n / 2)
			b->dead[b->perm[i]] = 1;
	}
}

/* One pass of workload op on side s; ops counts what was done. */
static int
bench_pass(struct bench *b, enum bench_op op, enum bench_side s, uint64_t *ops)
{
	int blt = s == SIDE_BLT;

	*ops = 0;
	switch (op) {
	case OP_PUT:
		return blt ? bench_blt_put(b, 0, ops)
		           : bench_mdb_put(b, 0, ops);
	case OP_GET:
		return blt ? bench_blt_get(b, b->shuf, 1, ops)
		           : bench_mdb_get(b, b->shuf, 1, ops);
	case OP_GET_MANY: /* LMDB has no batch lookup: the same loop */
		return blt ? bench_blt_get_many(b, ops)
		           : bench_mdb_get(b, b->shuf, 1, ops);
	case OP_MISS:
		return blt ? bench_blt_get(b, b->miss, 0, ops)
		           : bench_mdb_get(b, b->miss, 0, ops);
	case OP_SCAN:
		return blt ? bench_blt_scan(b, ops) : bench_mdb_scan(b, ops);
	case OP_OVERWRITE:
		return blt ? bench_blt_put(b, 1, ops)
		           : bench_mdb_put(b, 1, ops);
	case OP_DEL:
		return blt ? bench_blt_del(b, ops) : bench_mdb_del(b, ops);
	case OP_PRUNE_OW:
	case OP_PRUNE:
		return blt ? bench_blt_prune(b, op == OP_PRUNE, ops)
		           : bench_mdb_compact(b, op == OP_PRUNE, ops);
	default:
		return bench_fail(b, "no such workload");
	}
}

static int
bench_check(struct bench *b, enum bench_side s, int gen, int deleted)
{
	if (!b->verify)
		return 0;
	return s == SIDE_BLT ? bench_blt_check(b, gen, deleted)
	                     : bench_mdb_check(b, gen, deleted);
}

static void
bench_failed(struct bench *b, enum bench_op op, enum bench_side s)
{
	printf("  %-10s %-22s FAILED: %s\n", bench_sides[s], bench_ops[op].name,
	    b->err);
	b->rate[op][s] = -1;
	b->broken[s] = 1;
}

/* Run op on both sides, then verify the stores.  Repetitions of a read
 * alternate between the sides, so that a burst of other work on the
 * machine hurts both alike; the best time of each side is kept. */
static void
bench_run(struct bench *b, enum bench_op op)
{
	int reads =
	    op == OP_GET || op == OP_GET_MANY || op == OP_MISS || op == OP_SCAN;
	int reps = reads ? b->reps : 1, i, s;
	double t0, dt, best[SIDE_COUNT] = {0};
	uint64_t n, ops[SIDE_COUNT] = {0};

	for (i = 0; i < reps; i++) {
		for (s = 0; s < SIDE_COUNT; s++) {
			if (!b->run[s] || b->broken[s])
				continue;
			t0 = bench_now();
			if (bench_pass(b, op, s, &n) < 0) {
				bench_failed(b, op, s);
				continue;
			}
			dt = bench_now() - t0;
			if (i == 0 || dt < best[s])
				best[s] = dt;
			ops[s] = n;
		}
	}
	for (s = 0; s < SIDE_COUNT; s++) {
		if (!b->run[s] || b->broken[s])
			continue;
		if (op == OP_SCAN && ops[s] != b->n) {
			bench_fail(b, "scan saw %" PRIu64 " of %zu keys",
			    ops[s], b->n);
			bench_failed(b, op, s);
			continue;
		}
		b->rate[op][s] = ops[s] / (best[s] > 0 ? best[s] : 1e-9);
		printf("  %-10s %-22s %10" PRIu64 " in %8.3f s  %12.0f /s",
		    bench_sides[s], bench_ops[op].name, ops[s], best[s],
		    b->rate[op][s]);
		if (op == OP_PUT || op == OP_OVERWRITE || op == OP_DEL)
			printf("  (%s %.3f s)",
			    s == SIDE_BLT ? "blt_sync" : "commit",
			    b->commit[s]);
		printf("\n");
		fflush(stdout);
		/* Untimed: every key after a write workload. */
		if (!reads &&
		    bench_check(b, s, op != OP_PUT, op >= OP_DEL) < 0) {
			printf("  %-10s verify after %s FAILED: %s\n",
			    bench_sides[s], bench_ops[op].name, b->err);
			b->broken[s] = 1;
		}
	}
}

static void
bench_usage(FILE *f)
{
	fprintf(f,
	    "usage: bench_engine [-n KEYS] [-v VALUE_LEN] [-d DIR] [-r REPS]\n"
	    "                    [--seed N] [--buckets N] [--only blt|lmdb]\n"
	    "                    [--no-verify] [--keep]\n"
	    "  -n KEYS        keys of %d bytes (default 1000000)\n"
	    "  -v VALUE_LEN   value bytes (default 200)\n"
	    "  -d DIR         make the temporary stores under DIR "
	    "(default $TMPDIR or /tmp)\n"
	    "  -r REPS        repetitions of read workloads, best kept "
	    "(default 3)\n"
	    "  --seed N       PRNG seed (default 1)\n"
	    "  --buckets N    libbooklet initial index size "
	    "(default booklet's 12007)\n"
	    "  --only SIDE    run only libbooklet (blt) or only LMDB (lmdb)\n"
	    "  --no-verify    skip the untimed value checks after writes\n"
	    "  --keep         keep the temporary directory\n",
	    BENCH_KLEN);
}

static unsigned long long
bench_number(const char *opt, const char *s, unsigned long long max)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || end == s || *end != '\0' || v > max || *s == '-') {
		fprintf(stderr, "bench_engine: %s: bad number '%s'\n", opt, s);
		exit(2);
	}
	return v;
}

static void
bench_cleanup(struct bench *b)
{
	char path[PATH_MAX + 32];

	blt_close(b->blt);
	b->blt = NULL;
	if (b->env != NULL)
		mdb_env_close(b->env);
	b->env = NULL;
	if (b->keep) {
		printf("kept %s\n", b->dir);
		return;
	}
	unlink(b->blt_path);
	unlink(b->mdb_copy);
	snprintf(path, sizeof path, "%s/data.mdb", b->mdb_dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/lock.mdb", b->mdb_dir);
	unlink(path);
	rmdir(b->mdb_dir);
	if (rmdir(b->dir) == -1)
		fprintf(
		    stderr, "bench_engine: %s: %s\n", b->dir, strerror(errno));
}

/* Make the data, run every workload on both stores, print the table. */
int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"seed", required_argument, NULL, 'S'},
	    {"buckets", required_argument, NULL, 'B'},
	    {"only", required_argument, NULL, 'O'},
	    {"no-verify", no_argument, NULL, 'V'},
	    {"keep", no_argument, NULL, 'K'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct bench b = {.n = 1000000,
	    .vlen = 200,
	    .seed = 1,
	    .reps = 3,
	    .verify = 1,
	    .run = {1, 1}};
	const char *parent = getenv("TMPDIR");
	struct blt_stat bst;
	struct statfs sfs;
	int c, op, major, minor, patch;
	double t0;

	if (parent == NULL || *parent == '\0')
		parent = "/tmp";
	while (
	    (c = getopt_long(argc, argv, "n:v:d:r:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			b.n = bench_number("-n", optarg, UINT32_MAX / 2);
			break;
		case 'v':
			b.vlen = bench_number("-v", optarg, 64u << 20);
			break;
		case 'd':
			parent = optarg;
			break;
		case 'r':
			b.reps = bench_number("-r", optarg, 1000);
			if (b.reps == 0)
				b.reps = 1;
			break;
		case 'S':
			b.seed = bench_number("--seed", optarg, UINT32_MAX);
			break;
		case 'B':
			b.buckets =
			    bench_number("--buckets", optarg, UINT32_MAX);
			break;
		case 'O':
			if (strcmp(optarg, "blt") == 0)
				b.run[SIDE_MDB] = 0;
			else if (strcmp(optarg, "lmdb") == 0)
				b.run[SIDE_BLT] = 0;
			else {
				fprintf(stderr,
				    "bench_engine: --only: "
				    "'%s' is not blt or lmdb\n",
				    optarg);
				return 2;
			}
			break;
		case 'V':
			b.verify = 0;
			break;
		case 'K':
			b.keep = 1;
			break;
		case 'h':
			bench_usage(stdout);
			return 0;
		default:
			bench_usage(stderr);
			return 2;
		}
	}
	if (optind != argc || b.n < 2) {
		bench_usage(stderr);
		return 2;
	}

	if (asprintf(&b.dir, "%s/bench-engine.XXXXXX", parent) == -1 ||
	    mkdtemp(b.dir) == NULL) {
		fprintf(stderr,
		    "bench_engine: %s: cannot make a temporary "
		    "directory: %s\n",
		    parent, strerror(errno));
		return 1;
	}
	snprintf(b.blt_path, sizeof b.blt_path, "%s/store.blt", b.dir);
	snprintf(b.mdb_dir, sizeof b.mdb_dir, "%s/lmdb", b.dir);
	snprintf(b.mdb_copy, sizeof b.mdb_copy, "%s/lmdb-compact.mdb", b.dir);

	printf("bench_engine: %zu keys of %d bytes, values of %zu bytes, "
	       "seed %" PRIu64 ", best of %d for reads\n",
	    b.n, BENCH_KLEN, b.vlen, b.seed, b.reps);
	if (statfs(b.dir, &sfs) == 0)
		printf("directory %s on %s (statfs type 0x%lx)\n", b.dir,
		    bench_fs_name(sfs.f_type), (unsigned long)sfs.f_type);
	printf("%s; durability: blt_sync = write + fsync, LMDB commit "
	       "with default flags (fdatasync)\n",
	    mdb_version(&major, &minor, &patch));
	t0 = bench_now();
	bench_make_data(&b);
	printf("data made in %.2f s\n\n", bench_now() - t0);
	fflush(stdout);

	if (b.run[SIDE_BLT] && bench_blt_open(&b) < 0) {
		printf("  libbooklet FAILED to open: %s\n", b.err);
		b.rate[OP_PUT][SIDE_BLT] = -1;
		b.broken[SIDE_BLT] = 1;
	}
	if (b.run[SIDE_MDB] && bench_mdb_open(&b) < 0) {
		printf("  LMDB FAILED to open: %s\n", b.err);
		b.rate[OP_PUT][SIDE_MDB] = -1;
		b.broken[SIDE_MDB] = 1;
	}
	for (op = 0; op < OP_COUNT; op++) {
		bench_run(&b, op);
		if (op == OP_PUT) {
			bench_sizes(&b, "after put");
			if (b.blt != NULL && blt_stat(b.blt, &bst) == 0)
				printf("  libbooklet index: %" PRIu32
				       " buckets\n",
				    bst.n_buckets);
		}
	}
	bench_sizes(&b, "at the end");
	bench_table(&b);
	bench_targets(&b);
	bench_cleanup(&b);
	free(b.keys);
	free(b.shuf);
	free(b.miss);
	free(b.perm);
	free(b.dead);
	free(b.pool);
	free(b.buf);
	free(b.dir);
	return 0;
}
