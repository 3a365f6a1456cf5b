/*
 * bench_stall: how long reads of small files stall while a big file is
 * written beside them.
 *
 *   bench_stall make DIR N        N files of 1,000 bytes in DIR/r/
 *   bench_stall run DIR N MIB     write DIR/big (MIB MiB, closed at the
 *                                 end) while a thread opens, reads and
 *                                 closes DIR/r/ files in turn
 *
 * "run" prints one line: the writer's time (write and close) and the
 * reader's latencies (median, 99th percentile, slowest).  After each pass
 * over the files the reader drops the kernel's caches (as root; skipped
 * otherwise), so that on a FUSE mount the next pass asks the daemon.  A
 * writer that held up the daemon's store while it committed the big file
 * shows as a slowest read as long as the commit.
 */
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

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what, const char *path)
{
	fprintf(
	    stderr, "bench_stall: %s %s: %s\n", what, path, strerror(errno));
	exit(1);
}

static void
make_files(const char *dir, long n)
{
	char p[4096], v[1000];

	memset(v, 'x', sizeof v);
	snprintf(p, sizeof p, "%s/r", dir);
	if (mkdir(p, 0755) == -1 && errno != EEXIST)
		die("mkdir", p);
	for (long i = 0; i < n; i++) {
		int fd;

		snprintf(p, sizeof p, "%s/r/f%06ld", dir, i);
		if ((fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1)
			die("create", p);
		if (write(fd, v, sizeof v) != (ssize_t)sizeof v)
			die("write", p);
		if (close(fd) == -1)
			die("close", p);
	}
}

struct reader {
	const char *dir;
	long n;
	atomic_int stop;
	double *lat;
	size_t n_lat, cap;
};

static void
drop_caches(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);

	if (fd != -1) {
		(void)!write(fd, "1", 1);
		close(fd);
	}
}

static void *
read_files(void *arg)
{
	struct reader *r = arg;
	char p[4096], buf[4096];

	for (long i = 0; !atomic_load(&r->stop); i++) {
		double t = now();
		int fd;

		snprintf(p, sizeof p, "%s/r/f%06ld", r->dir, i % r->n);
		if ((fd = open(p, O_RDONLY)) == -1)
			die("open", p);
		while (read(fd, buf, sizeof buf) > 0)
			;
		close(fd);
		if (r->n_lat == r->cap) {
			r->cap = r->cap ? r->cap * 2 : 65536;
			if ((r->lat = realloc(
			         r->lat, r->cap * sizeof *r->lat)) == NULL)
				die("realloc", "latencies");
		}
		r->lat[r->n_lat++] = now() - t;
		if ((i + 1) % r->n == 0)
			drop_caches();
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
run(const char *dir, long n, long mib)
{
	struct reader r = {.dir = dir, .n = n};
	static char chunk[1 << 20];
	char p[4096];
	pthread_t t;
	double t0, w;
	int fd;

	memset(chunk, 'b', sizeof chunk);
	snprintf(p, sizeof p, "%s/big", dir);
	drop_caches();
	if (pthread_create(&t, NULL, read_files, &r) != 0)
		die("start", "reader");
	t0 = now();
	if ((fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1)
		die("create", p);
	for (long i = 0; i < mib; i++)
		if (write(fd, chunk, sizeof chunk) != (ssize_t)sizeof chunk)
			die("write", p);
	if (close(fd) == -1)
		die("close", p);
	w = now() - t0;
	atomic_store(&r.stop, 1);
	pthread_join(t, NULL);
	if (unlink(p) == -1)
		die("unlink", p);
	if (r.n_lat == 0) {
		printf("write %.2f s, no read finished meanwhile\n", w);
		return;
	}
	qsort(r.lat, r.n_lat, sizeof *r.lat, cmp_double);
	printf("write %.2f s, %zu reads, p50 %.3f ms, p99 %.2f ms, "
	       "max %.1f ms\n",
	    w, r.n_lat, r.lat[r.n_lat / 2] * 1e3,
	    r.lat[r.n_lat * 99 / 100] * 1e3, r.lat[r.n_lat - 1] * 1e3);
	free(r.lat);
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
