/*
 * fixtures-lib.h: the harness of the fixture suites (check_fixtures*.c),
 * which compare every reference fixture with its manifest.  Each test is a
 * loop over the fixtures found in FIXTURES_DIR (the environment variable,
 * else the path compiled in), so one run tells which fixture fails which
 * check.  A check does not stop at the first mismatch: it notes up to
 * FX_SHOW problems on stderr, each naming the fixture, how it was opened,
 * the key and the field, and fx_end() then fails with the count and the
 * first one.
 */
#ifndef BLT_FIXTURES_LIB_H
#define BLT_FIXTURES_LIB_H

#include <check.h>
#include <limits.h>
#include <stddef.h>
#include <sys/stat.h>

#include "booklet.h"
#include "manifest.h"

#define FX_TIMEOUT 600 /* seconds: a hang guard, not a time limit */

extern const char *fx_dir;
extern char **fx_names; /* fixture names without ".blt", sorted */
extern size_t fx_n;
extern char fx_tmp[PATH_MAX]; /* scratch directory for copies */

/* One fixture under test. */
struct fx {
	const char *name;
	char path[PATH_MAX]; /* the store opened: the fixture or a copy */
	const char *how;     /* how it was opened, for messages */
	struct manifest *m;
	struct blt *db;
	int fd; /* path, for reading values behind blt_find()'s back */
	int copy;
	int nfail;
	char first[768];
};

/* --- fixtures-lib.c ------------------------------------------------------ */

/* Note one mismatch; the check goes on so that one run shows them all. */
void fx_problem(struct fx *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Format a path into out, failing the test if it does not fit. */
void fx_path(char *out, size_t outsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* malloc(n), failing the test when there is no memory; the caller frees. */
void *fx_alloc(size_t n);

/* Load the manifest of fixture i and open the store at path (NULL: the
 * fixture itself) in mode; how says so in messages.  See fx_end(). */
void fx_begin(struct fx *f, int i, const char *path, int mode, const char *how);

/* Close the store (checking that close succeeds) and reopen it in mode. */
void fx_reopen(struct fx *f, int mode, const char *how);

/* Release everything, then fail the test if any problem was noted. */
void fx_end(struct fx *f);

/* The digest of the whole file at path, and its stat, for "unchanged"
 * checks. */
void fx_file_digest(
    const char *path, unsigned char d[SHA256_LEN], struct stat *sb);

/* Copy fixture i to the scratch directory as NAME-tag.blt, named in out. */
void fx_copy(int i, const char *tag, char *out, size_t outsz);

/* main() of a fixture suite called prog: find the fixtures, make the
 * scratch directory, run suite() and remove the directory. */
int fx_main(const char *prog, Suite *(*suite)(void));

/* --- fixtures-compare.c -------------------------------------------------- */

/* blt_stat() and friends against the file-level fields and "layout". */
void fx_check_stat(struct fx *f);

/* blt_get() of every item: length, bytes (or digest), timestamp, and that
 * nothing is written past the value in the caller's buffer. */
void fx_check_items(struct fx *f);

/* exists, get_timestamp, find (checked against the file's own bytes),
 * read slices and a get into a short buffer, for every item. */
void fx_check_lookups(struct fx *f);

/* A full scan yields each manifest key exactly once, with its value and
 * timestamp, and nothing else. */
void fx_check_scan(struct fx *f);

/* The metadata and the reserved slots against the manifest. */
void fx_check_meta(struct fx *f);
void fx_check_reserved(struct fx *f);

/* Keys near the stored ones and unrelated ones are all -ENOENT. */
void fx_check_missing(struct fx *f);

/* Every check above. */
void fx_check_all(struct fx *f);

#endif
