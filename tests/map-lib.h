/*
 * map-lib.h: what the map suites (check_map*.c) share: a store of numbered
 * keys to map, its values before and after an upper-casing map, the test
 * plugins, and the main() that is also the map's worker.
 */
#ifndef BLT_MAP_LIB_H
#define BLT_MAP_LIB_H

#include <check.h>
#include <limits.h>
#include <stdint.h>

#include "booklet.h"
#include "bltmap.h"

/* Keys in the stores of the big maps. */
#define ML_N_ITEMS 10000

/* A test's store is tu_store; ml_out is a second one beside it (for a map
 * into another store).  The fixture of ml_tcase() sets both, and removes
 * their directory after the test. */
extern char ml_out[PATH_MAX];

/* The test case of a map suite: that fixture, and a timeout for maps of
 * tens of thousands of items under valgrind. */
TCase *ml_tcase(void);

/* main() of a map suite: run as a map's worker, or else run suite(). */
int ml_main(int argc, char **argv, Suite *(*suite)(void));

/* The store at p opened in mode; fails the test if it does not open. */
struct blt *ml_open(const char *p, int mode);

/* A new store at tu_store with n keys "k<i>", plus names from extra (a
 * NULL-ended list, or NULL), whose values are "abc". */
struct blt *ml_fill(int n, const char *const *extra);

/* key's value as a string (static), or NULL if it is missing. */
const char *ml_get(struct blt *db, const char *key);

/* The value ml_fill() gives k<i>, and the one it has after an
 * upper-casing map (both static). */
const char *ml_lower_of(int i);
const char *ml_upper_of(int i);

/* Close db, check the file, reopen it and return it. */
struct blt *ml_close_check_reopen(struct blt *db, const char *p);

/* The map's counts are these, and processed is their sum. */
void ml_assert_counts(const struct blt_map_stats *st, uint64_t written,
    uint64_t skipped, uint64_t errors);

/* blt_map() succeeds. */
void ml_map_ok(
    struct blt *db, const struct blt_map_opts *o, struct blt_map_stats *st);

/* "plugin_test.so:sym", the function sym of the test plugins (static). */
const char *ml_plugin_sym(const char *sym);

/* The keys names[0], ..., names[n - 1] (strings) as a list for
 * blt_map_opts.keys; free it with blt_map_keys_free(). */
struct blt_map_keys ml_keys(const char *const *names, size_t n);

/* Lines in the file at p (0 if it is missing). */
int ml_count_lines(const char *p);

#endif
