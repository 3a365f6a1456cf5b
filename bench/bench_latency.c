/*
 * bench_latency: what one dependent random load costs on this machine, for
 * working sets from 1 MiB to 256 MiB.  A lookup in a store is two such
 * loads (the bucket slot, then the block it points to) that cannot overlap,
 * so this is the floor under a single get, whatever the engine does: the
 * figure to set beside bench_engine's "random get (hit)".
 *
 * The loads are a pointer chase through one cache line in each 64 bytes,
 * in a random cyclic order, so that no load can start before the one
 * before it ends and no prefetcher can guess the next address.  Each size
 * is measured with the memory in 4 KiB pages and again with huge pages
 * asked for (MADV_HUGEPAGE; whether the kernel gave them is printed).
 *
 * usage: bench_latency [-s MIB]... [-n LOADS]
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bench.h"

#define LINE 64
#define HUGE_PAGE (2u << 20)

/* Huge pages backing [p, p + len), from /proc/self/smaps, in KiB; -1 if
 * it cannot be read. */
static long
huge_kib(const void *p, size_t len)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[256];
	uintptr_t lo, hi, at = (uintptr_t)p;
	long kib = -1;
	int in = 0;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL) {
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR, &lo, &hi) == 2 &&
		    strchr(line, '-') < strchr(line, ' '))
			in = lo <= at && at + len <= hi;
		else if (in && sscanf(line, "AnonHugePages: %ld", &kib) == 1)
			break;
	}
	fclose(f);
	return kib;
}

/* Nanoseconds per load of a chase through mib MiB; -1 on failure. */
static double
chase(size_t mib, int huge, long loads, long *huge_got)
{
	size_t len = mib << 20, n = len / LINE, i, j, *order, at;
	unsigned char *map, *p;
	uint64_t seed = 1;
	double t;

	map = mmap(NULL, len + HUGE_PAGE, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED)
		return -1;
	p = (unsigned char *)(((uintptr_t)map + HUGE_PAGE - 1) &
	                      ~(uintptr_t)(HUGE_PAGE - 1));
	(void)madvise(p, len, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	if ((order = malloc(n * sizeof *order)) == NULL) {
		munmap(map, len + HUGE_PAGE);
		return -1;
	}
	for (i = 0; i < n; i++)
		order[i] = i;
	for (i = n - 1; i > 0; i--) {
		j = (size_t)(bench_next(&seed) % (i + 1));
		at = order[i];
		order[i] = order[j];
		order[j] = at;
	}
	/* one cycle through every line: line order[i] points to order[i+1] */
	for (i = 0; i < n; i++)
		memcpy(p + order[i] * LINE,
		    &(size_t){order[(i + 1) % n] * LINE}, sizeof(size_t));
	free(order);
	*huge_got = huge_kib(p, len);

	at = 0;
	for (i = 0; i < n; i++) /* one round to warm the caches and TLB */
		memcpy(&at, p + at, sizeof at);
	t = bench_now();
	for (long k = 0; k < loads; k++)
		memcpy(&at, p + at, sizeof at);
	t = bench_now() - t;
	munmap(map, len + HUGE_PAGE);
	/* keep the chase from being optimized away */
	return at == SIZE_MAX ? -1 : t / (double)loads * 1e9;
}

int
main(int argc, char **argv)
{
	size_t sizes[16] = {1, 2, 4, 8, 12, 16, 32, 64, 256};
	size_t nsizes = 9, user = 0;
	long loads = 10000000, got[2];
	double ns[2];
	int i;

	for (i = 1; i < argc; i++) {
		char *end = NULL;

		if (strcmp(argv[i], "-s") == 0 && i + 1 < argc && user < 16)
			sizes[user++] = strtoul(argv[++i], &end, 10);
		else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
			loads = strtol(argv[++i], &end, 10);
		if (end == NULL || *end != '\0' || end == argv[i] ||
		    loads <= 0 || (user > 0 && sizes[user - 1] == 0)) {
			fprintf(stderr,
			    "bench_latency: %s: want -s MIB (at most 16 "
			    "times) and -n LOADS, both positive numbers\n",
			    argv[i]);
			return 2;
		}
	}
	if (user > 0)
		nsizes = user;
	printf("| working set | ns per dependent load, 4 KiB pages | "
	       "ns, huge pages asked | huge pages given |\n");
	printf("| ---: | ---: | ---: | ---: |\n");
	for (size_t s = 0; s < nsizes; s++) {
		for (i = 0; i < 2; i++)
			if ((ns[i] = chase(sizes[s], i, loads, &got[i])) < 0) {
				fprintf(stderr, "bench_latency: %zu MiB: %s\n",
				    sizes[s], strerror(errno ? errno : ENOMEM));
				return 1;
			}
		printf("| %zu MiB | %.1f | %.1f | ", sizes[s], ns[0], ns[1]);
		if (got[1] < 0)
			printf("? |\n");
		else
			printf("%ld MiB |\n", got[1] / 1024);
	}
	return 0;
}
