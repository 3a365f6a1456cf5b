/*
 * bench_fsgen: the data of bench/bench_fs.sh, made from a seed so that the
 * native tree and the booklet store hold the very same bytes.
 *
 *   bench_fsgen tree DIR [options]    files under DIR (which must exist)
 *   bench_fsgen store STORE [options] the same items as keys of a new store
 *   bench_fsgen keys STORE -n N       N small keys in N/1000 directories
 *
 * The tree: small/dNN/fNNNN (--dirs directories of --per-dir files of 100
 * to 2,000 bytes) and big/fNNN (--big files of --big-size bytes).  The
 * contents are lines of the letters a-p; every 1000th small file holds the
 * word "xyzzy" too, which nothing else can contain, for grep -r.
 *
 * The store is written with blt_put() straight through libbooklet: the
 * fastest honest way to fill it, and the same bytes `blt load` would put.
 * Copying the tree into a mount is measured by the benchmark itself.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "booklet.h"

struct gen {
	uint64_t seed;
	unsigned dirs, per_dir, big;
	size_t big_size;
	uint64_t nkeys;
	unsigned char *buf;
	struct blt *db; /* NULL: write files */
	const char *root;
};

/* Fill buf with n bytes of text: 4 bits of the generator per letter, a
 * newline about every 64 bytes. */
static void
gen_text(uint64_t *s, unsigned char *buf, size_t n)
{
	uint64_t r = 0;
	size_t i;
	int left = 0;

	for (i = 0; i < n; i++) {
		if (left == 0) {
			r = bench_next(s);
			left = 16;
		}
		buf[i] = (unsigned char)('a' + (r & 15));
		r >>= 4;
		left--;
		if ((i & 63) == 63)
			buf[i] = '\n';
	}
	if (n > 0)
		buf[n - 1] = '\n';
}

static void
gen_die(const char *what, const char *why)
{
	fprintf(stderr, "bench_fsgen: %s: %s\n", what, why);
	exit(2);
}

/* Store or write one item. */
static void
gen_item(struct gen *g, const char *name, const unsigned char *val, size_t n)
{
	char path[4096];
	int fd;

	if (g->db != NULL) {
		if (blt_put(g->db, name, strlen(name), val, n, BLT_NOW) < 0)
			gen_die(name, blt_errmsg());
		return;
	}
	snprintf(path, sizeof path, "%s/%s", g->root, name);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1)
		gen_die(path, strerror(errno));
	if (n > 0 && write(fd, val, n) != (ssize_t)n)
		gen_die(path, "short write");
	if (close(fd) == -1)
		gen_die(path, strerror(errno));
}

static void
gen_mkdir(struct gen *g, const char *name)
{
	char path[4096];

	if (g->db != NULL)
		return;
	snprintf(path, sizeof path, "%s/%s", g->root, name);
	if (mkdir(path, 0755) == -1 && errno != EEXIST)
		gen_die(path, strerror(errno));
}

/* The tree: the same sequence of generator calls for files and store. */
static void
gen_tree(struct gen *g)
{
	uint64_t s = g->seed;
	char name[256];
	unsigned d, f;
	size_t n;

	gen_mkdir(g, "small");
	for (d = 0; d < g->dirs; d++) {
		snprintf(name, sizeof name, "small/d%02u", d);
		gen_mkdir(g, name);
		for (f = 0; f < g->per_dir; f++) {
			n = 100 + bench_next(&s) % 1901;
			gen_text(&s, g->buf, n);
			if ((d * g->per_dir + f) % 1000 == 0)
				memcpy(g->buf + n / 2, "xyzzy", 5);
			snprintf(name, sizeof name, "small/d%02u/f%04u", d, f);
			gen_item(g, name, g->buf, n);
		}
	}
	gen_mkdir(g, "big");
	for (f = 0; f < g->big; f++) {
		gen_text(&s, g->buf, g->big_size);
		snprintf(name, sizeof name, "big/f%03u", f);
		gen_item(g, name, g->buf, g->big_size);
	}
}

/* Many small keys: dNNN/kNNNNNN, 1000 per directory. */
static void
gen_keys(struct gen *g)
{
	uint64_t s = g->seed, i;
	char name[64];
	size_t n;

	for (i = 0; i < g->nkeys; i++) {
		n = 16 + bench_next(&s) % 113;
		gen_text(&s, g->buf, n);
		snprintf(name, sizeof name, "d%03llu/k%07llu",
		    (unsigned long long)(i / 1000), (unsigned long long)i);
		gen_item(g, name, g->buf, n);
	}
}

static void
gen_usage(void)
{
	fprintf(stderr,
	    "usage: bench_fsgen tree DIR [options]\n"
	    "       bench_fsgen store STORE [options]\n"
	    "       bench_fsgen keys STORE [-n N] [--seed S]\n"
	    "options: --seed S (1), --dirs N (100), --per-dir N (1000),\n"
	    "         --big N (1000), --big-size BYTES (1048576)\n");
	exit(2);
}

/* bench_fsgen tree|store|keys TARGET [options]: see the top of the file. */
int
main(int argc, char **argv)
{
	struct gen g = {
	    1, 100, 1000, 1000, 1u << 20, 1000000, NULL, NULL, NULL};
	struct blt_options o;
	const char *mode, *target;
	int i;

	if (argc < 3)
		gen_usage();
	mode = argv[1];
	target = argv[2];
	for (i = 3; i < argc; i += 2) {
		unsigned long long v;

		if (i + 1 >= argc)
			gen_usage();
		v = strtoull(argv[i + 1], NULL, 0);
		if (strcmp(argv[i], "--seed") == 0)
			g.seed = v;
		else if (strcmp(argv[i], "--dirs") == 0)
			g.dirs = (unsigned)v;
		else if (strcmp(argv[i], "--per-dir") == 0)
			g.per_dir = (unsigned)v;
		else if (strcmp(argv[i], "--big") == 0)
			g.big = (unsigned)v;
		else if (strcmp(argv[i], "--big-size") == 0)
			g.big_size = (size_t)v;
		else if (strcmp(argv[i], "-n") == 0)
			g.nkeys = v;
		else
			gen_usage();
	}
	if ((g.buf = malloc(g.big_size > 4096 ? g.big_size : 4096)) == NULL)
		gen_die("buffer", strerror(ENOMEM));
	if (strcmp(mode, "tree") == 0) {
		g.root = target;
		gen_tree(&g);
	} else if (strcmp(mode, "store") == 0 || strcmp(mode, "keys") == 0) {
		blt_options_default(&o);
		o.write_buffer = 16u << 20;
		if (blt_open(target, BLT_TRUNC, &o, &g.db) < 0)
			gen_die(target, blt_errmsg());
		if (mode[0] == 's')
			gen_tree(&g);
		else
			gen_keys(&g);
		if (blt_close(g.db) < 0)
			gen_die(target, blt_errmsg());
	} else
		gen_usage();
	free(g.buf);
	return 0;
}
