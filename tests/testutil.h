/*
 * testutil.h: helpers shared by the Check suites — temporary stores, hex,
 * seeds, and the runner every suite's main() calls.
 */
#ifndef BLT_TESTUTIL_H
#define BLT_TESTUTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include "booklet.h"

/* A timestamp (microseconds) for tests whose bytes must not depend on the
 * clock. */
#define TU_T0 INT64_C(1700000000000000)

/* Make a fresh temporary directory and put a store path inside it. */
void tu_tmpstore(char *path, size_t size);

/* Remove the store at path, files beside it, and its directory. */
void tu_rmstore(const char *path);

/* A Check fixture for suites with one store per test: tu_store_setup()
 * puts a new temporary store path in tu_store, tu_store_teardown()
 * removes what is there. */
extern char tu_store[];
void tu_store_setup(void);
void tu_store_teardown(void);

/* A test case named name with that fixture, whose tests each fail after
 * timeout seconds. */
TCase *tu_store_tcase(const char *name, double timeout);

/* A new store at tu_store, made over whatever is there, with these
 * options; fails the test if it does not open.  The caller closes it. */
struct blt *tu_open_new(
    int fixed, uint32_t value_len, uint32_t n_buckets, uint16_t kser);

/* The store at tu_store opened in mode; fails the test if it does not
 * open.  The caller closes it. */
struct blt *tu_reopen(int mode);

/* Put the string v under the string k; fails the test if the put fails. */
void tu_put(struct blt *db, const char *k, const char *v, int64_t ts);

/* Decode hex into out (at most cap bytes); returns the bytes written. */
size_t tu_unhex(const char *hex, unsigned char *out, size_t cap);

/* The seed for randomized tests: $BLT_SEED or the time; printed. */
unsigned tu_seed(void);

/* The directory of the reference fixtures. */
const char *tu_fixtures(void);

/* Copy file from to to; 0 or -1. */
int tu_copy(const char *from, const char *to);

/* 1 in a build under AddressSanitizer, whose allocator keeps freed memory
 * (quarantine), so that a test of memory given back has nothing to see. */
int tu_asan(void);

/* Run suite s and return main()'s exit status. */
int tu_run(Suite *s);

#endif
