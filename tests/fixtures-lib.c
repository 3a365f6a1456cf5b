/*
 * fixtures-lib.c: see fixtures-lib.h.  The fixtures are opened read-only in
 * place and must come out unchanged; the writable opens run on copies in a
 * temporary directory that fx_main() removes.
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "booklet.h"
#include "manifest.h"
#include "fixtures-lib.h"

#ifndef FIXTURES_DIR
#error "FIXTURES_DIR: Makefile.am gives it (configure --with-fixtures)"
#endif

#define FX_SHOW 20 /* problems printed per check */

const char *fx_dir;
char **fx_names;
size_t fx_n;
char fx_tmp[PATH_MAX];
static const char *fx_prog; /* for messages */

/* Note one mismatch; the check goes on so that one run shows them all. */
void
fx_problem(struct fx *f, const char *fmt, ...)
{
	char msg[640];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (f->nfail == 0)
		snprintf(f->first, sizeof f->first, "%s", msg);
	if (f->nfail < FX_SHOW)
		fprintf(stderr, "%s.blt (%s): %s\n", f->name, f->how, msg);
	else if (f->nfail == FX_SHOW)
		fprintf(stderr, "%s.blt (%s): more problems not shown\n",
		    f->name, f->how);
	f->nfail++;
}

/* Format a path into out, failing the test if it does not fit. */
void
fx_path(char *out, size_t outsz, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, outsz, fmt, ap);
	va_end(ap);
	ck_assert_msg(n >= 0 && (size_t)n < outsz, "path too long: %s", out);
}

/* malloc(n), failing the test when there is none. */
void *
fx_alloc(size_t n)
{
	void *p = malloc(n > 0 ? n : 1);

	ck_assert_msg(p != NULL, "out of memory for %zu bytes", n);
	return p;
}

/* Load the manifest of fixture i and open the store at path in mode. */
void
fx_begin(struct fx *f, int i, const char *path, int mode, const char *how)
{
	char json[PATH_MAX];
	int rc;

	memset(f, 0, sizeof *f);
	f->fd = -1;
	f->name = fx_names[i];
	f->how = how;
	fx_path(json, sizeof json, "%s/%s.json", fx_dir, f->name);
	rc = manifest_load(json, &f->m);
	ck_assert_msg(rc == 0, "%s", blt_errmsg());
	if (path == NULL)
		fx_path(f->path, sizeof f->path, "%s/%s.blt", fx_dir, f->name);
	else {
		fx_path(f->path, sizeof f->path, "%s", path);
		f->copy = 1;
	}
	rc = blt_open(f->path, mode, NULL, &f->db);
	ck_assert_msg(rc == 0, "%s.blt (%s): blt_open: %d %s", f->name, how, rc,
	    blt_errmsg());
	f->fd = open(f->path, O_RDONLY | O_CLOEXEC);
	ck_assert_msg(f->fd != -1, "%s: %s", f->path, strerror(errno));
}

/* Close the store (checking that close succeeds) and reopen it in mode,
 * to run the checks again on what a reopen sees. */
void
fx_reopen(struct fx *f, int mode, const char *how)
{
	int rc;

	rc = blt_close(f->db);
	f->db = NULL;
	if (rc != 0)
		fx_problem(f, "blt_close: %d %s", rc, blt_errmsg());
	f->how = how;
	rc = blt_open(f->path, mode, NULL, &f->db);
	ck_assert_msg(rc == 0,
	    "%s.blt (%s): blt_open: %d %s (after %d problems; first: %s)",
	    f->name, how, rc, blt_errmsg(), f->nfail, f->first);
}

/* Release everything, then fail the test if any problem was noted. */
void
fx_end(struct fx *f)
{
	int rc = blt_close(f->db);

	if (f->db != NULL && rc != 0)
		fx_problem(f, "blt_close: %d %s", rc, blt_errmsg());
	f->db = NULL;
	if (f->fd != -1)
		close(f->fd);
	manifest_free(f->m);
	f->m = NULL;
	ck_assert_msg(f->nfail == 0, "%s.blt: %d problem%s; first (%s): %s",
	    f->name, f->nfail, f->nfail == 1 ? "" : "s", f->how, f->first);
}

/* The digest of the whole file at path, for "unchanged" checks. */
void
fx_file_digest(const char *path, unsigned char d[SHA256_LEN], struct stat *sb)
{
	unsigned char buf[65536];
	struct sha256 s;
	ssize_t r;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_msg(fd != -1, "%s: %s", path, strerror(errno));
	ck_assert_msg(fstat(fd, sb) == 0, "%s: %s", path, strerror(errno));
	sha256_init(&s);
	while ((r = read(fd, buf, sizeof buf)) > 0)
		sha256_update(&s, buf, (size_t)r);
	ck_assert_msg(r == 0, "%s: %s", path, strerror(errno));
	close(fd);
	sha256_final(&s, d);
}

/* Copy fixture i to the scratch directory as NAME-tag.blt. */
void
fx_copy(int i, const char *tag, char *out, size_t outsz)
{
	char src[PATH_MAX], buf[65536];
	ssize_t r;
	int in, o;

	fx_path(src, sizeof src, "%s/%s.blt", fx_dir, fx_names[i]);
	fx_path(out, outsz, "%s/%s-%s.blt", fx_tmp, fx_names[i], tag);
	in = open(src, O_RDONLY | O_CLOEXEC);
	ck_assert_msg(in != -1, "%s: %s", src, strerror(errno));
	o = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_msg(o != -1, "%s: %s", out, strerror(errno));
	while ((r = read(in, buf, sizeof buf)) > 0)
		ck_assert_msg(write(o, buf, (size_t)r) == r, "%s: %s", out,
		    strerror(errno));
	ck_assert_msg(r == 0, "%s: %s", src, strerror(errno));
	close(in);
	ck_assert_msg(close(o) == 0, "%s: %s", out, strerror(errno));
}

static int
fx_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* List the NAME.blt files of the fixture directory. */
static void
fx_discover(void)
{
	struct dirent *de;
	size_t len, cap = 0;
	DIR *d;

	if ((d = opendir(fx_dir)) == NULL) {
		fprintf(
		    stderr, "%s: %s: %s\n", fx_prog, fx_dir, strerror(errno));
		return;
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len <= 4 || strcmp(de->d_name + len - 4, ".blt") != 0)
			continue;
		if (fx_n == cap) {
			cap = cap ? 2 * cap : 32;
			fx_names = realloc(fx_names, cap * sizeof *fx_names);
			if (fx_names == NULL)
				abort();
		}
		if ((fx_names[fx_n] = strndup(de->d_name, len - 4)) == NULL)
			abort();
		fx_n++;
	}
	closedir(d);
	if (fx_n > 1)
		qsort(fx_names, fx_n, sizeof *fx_names, fx_name_cmp);
}

static int
fx_rm(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	return type == FTW_DP ? rmdir(path) : unlink(path);
}

/* main() of a fixture suite called prog. */
int
fx_main(const char *prog, Suite *(*suite)(void))
{
	const char *tmp = getenv("TMPDIR");
	SRunner *sr;
	size_t i;
	int failed, n;

	fx_prog = prog;
	if ((fx_dir = getenv("FIXTURES_DIR")) == NULL || *fx_dir == '\0')
		fx_dir = FIXTURES_DIR;
	fx_discover();
	n = snprintf(fx_tmp, sizeof fx_tmp, "%s/%s.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp", prog);
	if (n < 0 || (size_t)n >= sizeof fx_tmp || mkdtemp(fx_tmp) == NULL) {
		fprintf(stderr, "%s: %s: %s\n", prog, fx_tmp, strerror(errno));
		return EXIT_FAILURE;
	}
	sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	/* copies left behind by failed tests go too */
	nftw(fx_tmp, fx_rm, 16, FTW_DEPTH | FTW_PHYS);
	for (i = 0; i < fx_n; i++)
		free(fx_names[i]);
	free(fx_names);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
