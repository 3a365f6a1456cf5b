/*
 * bench_stall: how long reads and creates of small files stall while a
 * big file is written beside them.
 *
 *   bench_stall make DIR N        N files of 1,000 bytes in DIR/r/
 *   bench_stall run DIR N MIB     write DIR/big (MIB MiB, closed at the
 *                                 end) while one thread reads DIR/r/
 *                                 files in turn and another creates files
 *                                 in DIR/w/
 *
 * "run" prints one line: the writer's time (write and close), then the
 * latencies (median, 99th percentile, slowest) of a thread that reads the
 * small files in turn and of one that creates new files of 1,000 bytes
 * (removed at the end).  The reads use O_DIRECT where the file system
 * takes it, so that on a FUSE mount each asks the daemon.  A daemon that
 * held up its store or its names while it committed the big file shows as
 * a slowest read or create as long as the commit.
 */
#define _GNU_SOURCE /* O_DIRECT */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

static void
die(const char *what, const char *path)
{
	fprintf(
	    stderr, "bench_stall: %s %s: %s\n", what, path, strerror(errno));
	exit(1);
}

/* Create the file p holding 1,000 bytes of c. */
static void
write_small(const char *p, char c)
{
	char v[1000];
	int fd;

	memset(v, c, sizeof v);
	if ((fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1)
		die("create", p);
	if (write(fd, v, sizeof v) != (ssize_t)sizeof v)
		die("write", p);
	if (close(fd) == -1)
		die("close", p);
}

static void
make_files(const char *dir, long n)
{
	char p[4096];

	snprintf(p, sizeof p, "%s/r", dir);
	if (mkdir(p, 0755) == -1 && errno != EEXIST)
		die("mkdir", p);
	for (long i = 0; i < n; i++) {
		snprintf(p, sizeof p, "%s/r/f%06ld", dir, i);
		write_small(p, 'x');
	}
}

/* One thread's work beside the big write, and how long each step took. */
struct side {
	const char *dir;
	long n;
	int creates; /* 0: read DIR/r/ files; 1: create files in DIR/w/ */
	atomic_int *stop;
	double *lat;
	size_t n_lat, cap;
};

static void
side_note(struct side *s, double t)
{
	if (s->n_lat == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 65536;
		if ((s->lat = realloc(s->lat, s->cap * sizeof *s->lat)) == NULL)
			die("realloc", "latencies");
	}
	s->lat[s->n_lat++] = bench_now() - t;
}

/* Open, read and close one of the small files; with O_DIRECT where the
 * file system takes it (not tmpfs), so that on a FUSE mount every read
 * asks the daemon. */
static void
side_read(struct side *s, long i)
{
	static _Alignas(4096) char buf[4096];
	char p[4096];
	int fd;

	snprintf(p, sizeof p, "%s/r/f%06ld", s->dir, i % s->n);
	if ((fd = open(p, O_RDONLY | O_DIRECT)) == -1 && errno == EINVAL)
		fd = open(p, O_RDONLY);
	if (fd == -1)
		die("open", p);
	while (read(fd, buf, sizeof buf) > 0)
		;
	close(fd);
}

/* Create, write and close a new file of 1,000 bytes. */
static void
side_create(struct side *s, long i)
{
	char p[4096];

	snprintf(p, sizeof p, "%s/w/f%06ld", s->dir, i);
	write_small(p, 'w');
}

static void *
side_run(void *arg)
{
	struct side *s = arg;

	for (long i = 0; !atomic_load(s->stop); i++) {
		double t = bench_now();

		if (s->creates)
			side_create(s, i);
		else
			side_read(s, i);
		side_note(s, t);
	}
	return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void
side_print(struct side *s, const char *what)
{
	if (s->n_lat == 0) {
		printf(", no %s finished", what);
		return;
	}
	qsort(s->lat, s->n_lat, sizeof *s->lat, cmp_double);
	printf("; %zu %s: p50 %.3f ms, p99 %.2f ms, max %.1f ms", s->n_lat,
	    what, s->lat[s->n_lat / 2] * 1e3, s->lat[s->n_lat * 99 / 100] * 1e3,
	    s->lat[s->n_lat - 1] * 1e3);
	free(s->lat);
}

/* Remove DIR/w/ and what the creating side made in it. */
static void
clean_created(const char *dir, size_t n)
{
	char p[4096];

	for (size_t i = 0; i < n; i++) {
		snprintf(p, sizeof p, "%s/w/f%06zu", dir, i);
		if (unlink(p) == -1)
			die("unlink", p);
	}
	snprintf(p, sizeof p, "%s/w", dir);
	if (rmdir(p) == -1)
		die("rmdir", p);
}

static void
run(const char *dir, long n, long mib)
{
	atomic_int stop = 0;
	struct side rd = {.dir = dir, .n = n, .stop = &stop};
	struct side cr = {.dir = dir, .n = n, .creates = 1, .stop = &stop};
	static char chunk[1 << 20];
	char p[4096];
	pthread_t tr, tc;
	double t0, w;
	int fd;

	memset(chunk, 'b', sizeof chunk);
	snprintf(p, sizeof p, "%s/w", dir);
	if (mkdir(p, 0755) == -1)
		die("mkdir", p);
	snprintf(p, sizeof p, "%s/big", dir);
	if (pthread_create(&tr, NULL, side_run, &rd) != 0 ||
	    pthread_create(&tc, NULL, side_run, &cr) != 0)
		die("start", "threads");
	t0 = bench_now();
	if ((fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1)
		die("create", p);
	for (long i = 0; i < mib; i++)
		if (write(fd, chunk, sizeof chunk) != (ssize_t)sizeof chunk)
			die("write", p);
	if (close(fd) == -1)
		die("close", p);
	w = bench_now() - t0;
	atomic_store(&stop, 1);
	pthread_join(tr, NULL);
	pthread_join(tc, NULL);
	if (unlink(p) == -1)
		die("unlink", p);
	clean_created(dir, cr.n_lat);
	printf("write %.2f s", w);
	side_print(&rd, "reads");
	side_print(&cr, "creates");
	printf("\n");
}

int
main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "make") == 0)
		make_files(argv[2], atol(argv[3]));
	else if (argc == 5 && strcmp(argv[1], "run") == 0)
		run(argv[2], atol(argv[3]), atol(argv[4]));
	else {
		fprintf(stderr, "usage: bench_stall make DIR N\n"
		                "       bench_stall run DIR N MIB\n");
		return 2;
	}
	return 0;
}
