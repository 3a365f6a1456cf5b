/*
 * bench_loadgen: the lines of `blt load` for bench/bench_write.sh, with the
 * rate at which the reader takes them.
 *
 *   bench_loadgen N STEP [FIRST]
 *
 * writes N lines (keys FIRST .. FIRST + N - 1) in bench_scale.sh's layout:
 * key "dDDD/NNNNNNNNN" in 1,000 directories, value the key's number in 100
 * digits.  After every STEP lines it prints to stderr the lines so far and
 * the rate of the last STEP.  A pipe holds only 64 KiB, so a line written
 * is a line the reader has nearly taken: the rate is the reader's.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	uint64_t n, step, first = 0;
	double t0, t;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: bench_loadgen N STEP [FIRST]\n");
		return 2;
	}
	n = strtoull(argv[1], NULL, 10);
	step = strtoull(argv[2], NULL, 10);
	if (argc == 4)
		first = strtoull(argv[3], NULL, 10);
	if (step == 0)
		step = n;
	t0 = t = now_s();
	for (uint64_t i = 0; i < n; i++) {
		uint64_t k = first + i;

		if (printf("{\"key\":\"d%03" PRIu64 "/%09" PRIu64
		           "\",\"value\":\"%0100" PRIu64 "\"}\n",
		        k % 1000, k, k) < 0)
			return 1;
		if ((i + 1) % step == 0 || i + 1 == n) {
			double was = t;

			fflush(stdout);
			t = now_s();
			fprintf(stderr, "step %" PRIu64 " %.3f %.0f\n", i + 1,
			    t - t0, (double)((i % step) + 1) / (t - was));
		}
	}
	return fflush(stdout) == 0 ? 0 : 1;
}
