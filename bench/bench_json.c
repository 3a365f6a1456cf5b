/*
 * bench_json: the JSON reader of blt load (src/util/json.c, ours) against
 * jansson's on the same lines, to decide whether jansson can take over
 * (issue 30: replace the hand-written parser where it does the same job,
 * unless blt load gets slower).  The lines are what blt dump writes: a key
 * as text and hex, a value in hex, a timestamp.  Also says which of the
 * lines blt load must read each parser refuses.
 *
 *   bench_json [-n LINES] [-v VALUE_BYTES] [-r RUNS]
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "bench-json.h"
#include "bltutil.h"

/* n lines of dump output with values of vbytes bytes, one after another
 * in one buffer; *offs gets where each starts (n + 1 entries). */
static char *
bench_json_lines(size_t n, size_t vbytes, size_t **offs)
{
	size_t cap = n * (2 * vbytes + 200) + 1, len = 0;
	char *buf = malloc(cap);
	uint64_t s = 42;

	*offs = malloc((n + 1) * sizeof **offs);
	if (buf == NULL || *offs == NULL)
		exit(1);
	for (size_t i = 0; i < n; i++) {
		char key[64];
		int kl = snprintf(
		    key, sizeof key, "dir%zu/caf\\u00e9/file_%zu", i % 97, i);

		(*offs)[i] = len;
		len += (size_t)snprintf(buf + len, cap - len,
		    "{\"key\": \"%s\", \"key_hex\": \"", key);
		for (int j = 0; j < kl; j++)
			len += (size_t)snprintf(buf + len, cap - len, "%02x",
			    (unsigned char)key[j]);
		len += (size_t)snprintf(
		    buf + len, cap - len, "\", \"value_hex\": \"");
		for (size_t j = 0; j < vbytes; j++)
			len += (size_t)snprintf(buf + len, cap - len, "%02x",
			    (unsigned)(bench_next(&s) & 0xff));
		len += (size_t)snprintf(buf + len, cap - len,
		    "\", \"timestamp\": %llu}",
		    1700000000000000ULL + (unsigned long long)i);
	}
	(*offs)[n] = len;
	return buf;
}

/* Seconds to parse every line with ours, reading the fields load uses. */
static double
bench_json_ours(const char *buf, const size_t *offs, size_t n)
{
	double t0 = bench_now();
	size_t sum = 0;

	for (size_t i = 0; i < n; i++) {
		struct json *v;

		if (json_parse(buf + offs[i], offs[i + 1] - offs[i], JSON_LINE,
		        &v) < 0)
			exit(2);
		sum += json_get(v, "value_hex")->len + json_get(v, "key")->len;
		json_free(v);
	}
	if (sum == 0)
		exit(2);
	return bench_now() - t0;
}

/* Lines blt load must read that not both parsers take. */
static void
bench_json_refusals(void)
{
	static const char *const lines[] = {
	    /* Python's json.dumps of a key holding a lone surrogate, as
	     * booklet's str keys made with surrogateescape do */
	    "{\"key\": \"bad\\udc80\", \"value_hex\": \"00\"}",
	    /* a key with a NUL byte */
	    "{\"key\": \"a\\u0000b\", \"value_hex\": \"00\"}",
	    /* a timestamp past int64 (refused by load, but with its line
	     * and column) */
	    "{\"key\": \"k\", \"value_hex\": \"00\", \"timestamp\": "
	    "18446744073709551616}",
	};

	for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) {
		struct json *v = NULL;
		int ours = json_parse(lines[i], strlen(lines[i]),
		    JSON_LINE | JSON_SURROGATES, &v);

		printf("%s\n  ours: %s; jansson: %s\n", lines[i],
		    ours == 0 ? "reads it" : "refuses it",
		    bench_json_jansson_refusal(lines[i]));
		json_free(v);
	}
}

int
main(int argc, char **argv)
{
	size_t n = 200000, vbytes = 100, *offs;
	double best_ours = 1e9, best_jansson = 1e9;
	int runs = 3, opt;
	char *buf;

	while ((opt = getopt(argc, argv, "n:v:r:")) != -1) {
		if (opt == 'n')
			n = strtoul(optarg, NULL, 10);
		else if (opt == 'v')
			vbytes = strtoul(optarg, NULL, 10);
		else if (opt == 'r')
			runs = atoi(optarg);
		else {
			fprintf(stderr,
			    "usage: bench_json [-n LINES] [-v VALUE_BYTES] "
			    "[-r RUNS]\n");
			return 2;
		}
	}
	buf = bench_json_lines(n, vbytes, &offs);
	for (int r = 0; r < runs; r++) {
		double a = bench_json_ours(buf, offs, n);
		double b = bench_json_jansson(buf, offs, n);

		best_ours = a < best_ours ? a : best_ours;
		best_jansson = b < best_jansson ? b : best_jansson;
	}
	printf("%zu dump lines, values of %zu bytes, best of %d\n", n, vbytes,
	    runs);
	printf("ours (src/util/json.c)  %8.3f s  %10.0f lines/s\n", best_ours,
	    (double)n / best_ours);
	printf("jansson                 %8.3f s  %10.0f lines/s  (%.2fx ours' "
	       "time)\n",
	    best_jansson, (double)n / best_jansson, best_jansson / best_ours);
	bench_json_refusals();
	free(buf);
	free(offs);
	return 0;
}
