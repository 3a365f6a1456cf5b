/*
 * engine-report.c: what bench_engine prints of a run: the sizes of the
 * stores, a table of the rates of both engines with their ratio and the
 * Python booklet's published figures, and the targets.
 */
#include "config.h"

#include <sys/stat.h>

#include <stdio.h>

#include "engine.h"

/* Published for the Python booklet, 50,000 items of 12 + 200 bytes. */
#define BENCH_PYTHON_N 50000u
const struct bench_op_info bench_ops[OP_COUNT] = {
    [OP_PUT] = {"bulk put + sync", 37e3},
    [OP_GET] = {"random get (hit)", 240e3},
    [OP_GET_MANY] = {"random get, 256 per call", 240e3},
    [OP_MISS] = {"get (miss)", 0},
    [OP_SCAN] = {"full scan", 390e3},
    [OP_OVERWRITE] = {"overwrite + sync", 0},
    [OP_PRUNE_OW] = {"prune after overwrite", 71e3},
    [OP_DEL] = {"delete half + sync", 0},
    [OP_PRUNE] = {"prune after delete half", 71e3},
};

/* "12.3 M", "456 K": easier to read than eight digits. */
static const char *
bench_fmt(char *buf, size_t len, double r)
{
	if (r < 0)
		snprintf(buf, len, "FAILED");
	else if (r == 0)
		snprintf(buf, len, "-");
	else if (r >= 1e6)
		snprintf(buf, len, "%.2f M", r / 1e6);
	else if (r >= 1e3)
		snprintf(buf, len, "%.1f K", r / 1e3);
	else
		snprintf(buf, len, "%.0f", r);
	return buf;
}

static const char *
bench_ratio(char *buf, size_t len, double a, double c)
{
	if (a <= 0 || c <= 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.2fx", a / c);
	return buf;
}

static long long
bench_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* The rates of every workload as a Markdown table. */
void
bench_table(const struct bench *b)
{
	char v[4][32];
	int op;

	printf("\n| operation | libbooklet ops/s | LMDB ops/s | ratio | "
	       "Python booklet ops/s (published) | ratio |\n");
	printf("| --- | ---: | ---: | ---: | ---: | ---: |\n");
	for (op = 0; op < OP_COUNT; op++) {
		const double *r = b->rate[op];

		printf("| %s | %s | %s | %s | %s | ", bench_ops[op].name,
		    bench_fmt(v[0], sizeof v[0], r[SIDE_BLT]),
		    bench_fmt(v[1], sizeof v[1], r[SIDE_MDB]),
		    bench_ratio(v[2], sizeof v[2], r[SIDE_BLT], r[SIDE_MDB]),
		    bench_fmt(v[3], sizeof v[3], bench_ops[op].python));
		printf("%s |\n", bench_ratio(v[0], sizeof v[0], r[SIDE_BLT],
		                     bench_ops[op].python));
	}
	printf("\nratio = libbooklet / peer; above 1 means libbooklet is "
	       "faster.\nPython booklet numbers are published ones (50,000 "
	       "items, same machines), not measured by this run.\n");
}

static void
bench_target(const char *what, double got, double want, const char *unit)
{
	if (got <= 0)
		printf("  %-44s %11s (want >= %.2f%s)  not measured\n", what,
		    "-", want, unit);
	else
		printf("  %-44s %10.2f%s (want >= %.2f%s)  %s\n", what, got,
		    unit, want, unit, got >= want ? "ok" : "MISSED");
}

/* The rates against the targets. */
void
bench_targets(const struct bench *b)
{
	const double *get = b->rate[OP_GET], *put = b->rate[OP_PUT];
	char what[64];
	int op;

	printf("\nTargets:\n");
	bench_target("random get vs LMDB",
	    get[SIDE_MDB] > 0 ? get[SIDE_BLT] / get[SIDE_MDB] : 0, 1.5, "x");
	bench_target("bulk put vs LMDB",
	    put[SIDE_MDB] > 0 ? put[SIDE_BLT] / put[SIDE_MDB] : 0, 1.0, "x");
	bench_target("full scan", b->rate[OP_SCAN][SIDE_BLT] / 1e6, 10, " M/s");
	/* The Python booklet's figures are for 50,000 items: a run of
	 * another size says nothing of the 20x target (a store of 1,000,000
	 * no longer fits the caches, whoever reads it). */
	if (b->n != BENCH_PYTHON_N) {
		printf("  %-44s %11s (run -n %u to compare)\n",
		    "vs Python booklet", "-", BENCH_PYTHON_N);
		return;
	}
	for (op = 0; op < OP_COUNT; op++) {
		if (bench_ops[op].python == 0)
			continue;
		snprintf(what, sizeof what, "%s vs Python booklet",
		    bench_ops[op].name);
		bench_target(what, b->rate[op][SIDE_BLT] / bench_ops[op].python,
		    20, "x");
	}
}

/* The name of a statfs() filesystem type. */
const char *
bench_fs_name(long type)
{
	switch ((unsigned long)type) {
	case 0xef53:
		return "ext2/3/4";
	case 0x58465342:
		return "xfs";
	case 0x9123683e:
		return "btrfs";
	case 0x01021994:
		return "tmpfs";
	case 0x794c7630:
		return "overlayfs";
	case 0x2fc12fc1:
		return "zfs";
	case 0xf2f52010:
		return "f2fs";
	default:
		return "unknown";
	}
}

/* The sizes of the store files now. */
void
bench_sizes(struct bench *b, const char *when)
{
	char path[PATH_MAX + 32];
	long long z;

	snprintf(path, sizeof path, "%s/data.mdb", b->mdb_dir);
	printf("  file bytes %s:", when);
	if ((z = bench_size(b->blt_path)) >= 0)
		printf(" libbooklet %lld", z);
	if ((z = bench_size(path)) >= 0)
		printf(" LMDB data.mdb %lld", z);
	if ((z = bench_size(b->mdb_copy)) >= 0)
		printf(" LMDB compact copy %lld", z);
	printf("\n");
}
