/*
 * bench.h: what the benchmark programs share: the clock they time with and
 * the generator their data comes from (splitmix64, so that a seed makes
 * the same data in every program and on every machine).
 */
#ifndef BENCH_H
#define BENCH_H

#include <stdint.h>
#include <time.h>

/* Seconds on the monotonic clock. */
static inline double
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* splitmix64's finaliser of z plus its increment: a bijection, so distinct
 * inputs give distinct outputs. */
static inline uint64_t
bench_mix(uint64_t z)
{
	z += UINT64_C(0x9e3779b97f4a7c15);
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* The next number of the splitmix64 generator whose state is *s. */
static inline uint64_t
bench_next(uint64_t *s)
{
	uint64_t z = bench_mix(*s);

	*s += UINT64_C(0x9e3779b97f4a7c15);
	return z;
}

#endif
