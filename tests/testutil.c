/*
 * testutil.c: see testutil.h.
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "booklet.h"
#include "testutil.h"

/* Make a fresh temporary directory (in $TMPDIR, else /tmp) and put a store
 * path inside it. */
void
tu_tmpstore(char *path, size_t size)
{
	const char *tmp = getenv("TMPDIR");
	char dir[PATH_MAX];

	snprintf(dir, sizeof dir, "%s/blt-test-XXXXXX", tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		exit(2);
	}
	snprintf(path, size, "%s/store.blt", dir);
}

/* Remove the store at path, files beside it, and its directory. */
void
tu_rmstore(const char *path)
{
	char dir[PATH_MAX], *slash;
	struct dirent *e;
	DIR *d;

	snprintf(dir, sizeof dir, "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL)
		return;
	*slash = '\0';
	if ((d = opendir(dir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	rmdir(dir);
}

char tu_store[PATH_MAX];

void
tu_store_setup(void)
{
	tu_tmpstore(tu_store, PATH_MAX);
}

void
tu_store_teardown(void)
{
	tu_rmstore(tu_store);
}

/* A test case with one store per test. */
TCase *
tu_store_tcase(const char *name, double timeout)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, tu_store_setup, tu_store_teardown);
	tcase_set_timeout(tc, timeout);
	return tc;
}

/* A new store at tu_store with these options. */
struct blt *
tu_open_new(int fixed, uint32_t value_len, uint32_t n_buckets, uint16_t kser)
{
	struct blt_options o;
	struct blt *db;

	blt_options_default(&o);
	o.fixed = fixed;
	o.value_len = value_len;
	o.n_buckets = n_buckets;
	o.key_serializer = kser;
	ck_assert_msg(
	    blt_open(tu_store, BLT_TRUNC, &o, &db) == 0, "%s", blt_errmsg());
	return db;
}

/* The store at tu_store opened in mode. */
struct blt *
tu_reopen(int mode)
{
	struct blt *db;

	ck_assert_msg(
	    blt_open(tu_store, mode, NULL, &db) == 0, "%s", blt_errmsg());
	return db;
}

/* Put the string v under the string k. */
void
tu_put(struct blt *db, const char *k, const char *v, int64_t ts)
{
	ck_assert_msg(blt_put(db, k, strlen(k), v, strlen(v), ts) == 0, "%s",
	    blt_errmsg());
}

/* Decode hex into out. */
size_t
tu_unhex(const char *hex, unsigned char *out, size_t cap)
{
	size_t n = 0;

	while (hex[0] && hex[1] && n < cap) {
		unsigned v;

		sscanf(hex, "%2x", &v);
		out[n++] = (unsigned char)v;
		hex += 2;
	}
	return n;
}

/* The seed for randomized tests. */
unsigned
tu_seed(void)
{
	const char *env = getenv("BLT_SEED");
	unsigned seed = env ? (unsigned)strtoul(env, NULL, 0)
	                    : (unsigned)time(NULL) ^ (unsigned)getpid();

	fprintf(stderr, "BLT_SEED=%u\n", seed);
	return seed;
}

/* GCC says so by a macro, clang by a feature. */
#if defined(__SANITIZE_ADDRESS__)
#define TU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TU_ASAN 1
#endif
#endif
#ifndef TU_ASAN
#define TU_ASAN 0
#endif

int
tu_asan(void)
{
	return TU_ASAN;
}

/* The directory of the reference fixtures. */
const char *
tu_fixtures(void)
{
	const char *env = getenv("FIXTURES_DIR");

	return env ? env : FIXTURES_DIR;
}

/* Copy file from to to. */
int
tu_copy(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY), out;
	ssize_t n;

	if (in < 0)
		return -1;
	if ((out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0) {
		close(in);
		return -1;
	}
	while ((n = read(in, buf, sizeof buf)) > 0)
		if (write(out, buf, (size_t)n) != n) {
			n = -1;
			break;
		}
	close(in);
	close(out);
	return n < 0 ? -1 : 0;
}

/* Run suite s. */
int
tu_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
