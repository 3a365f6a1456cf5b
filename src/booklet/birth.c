/*
 * birth.c: a store's path before it is opened.  Two moments leave a store
 * without a whole file at its path when the power goes or the process
 * dies: the making of a new store, and a prune's rename of its new file
 * into place on a file system whose rename is not atomic (a FUSE file
 * system, LazyFS).
 *
 * A new store is made under a temporary name, synced, and linked into
 * place whole: a crash leaves no store or an empty whole one, never a
 * 0-byte file or a torn header that no repair can mend.  The temporary
 * name a crash left goes at the next making of that store.
 *
 * A store path that is missing beside a prune's new file (PATH.bltfs-tmp)
 * is that file's to take: a prune syncs its new file before it renames it,
 * so one that reads as a sound store is put in place, never replaced by a
 * new empty store (which would then drop it as a leftover, store.c).  One
 * that does not read as sound is left alone, and the open fails, naming
 * it.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* Put the prune's file tmp in the place of the missing store path, if it
 * reads as a sound store.  0, or -EUCLEAN naming both. */
static int
birth_take_prune_file(const char *path, const char *tmp)
{
	char why[512];
	int rc;

	rc = blt_check(tmp, 0, NULL, NULL);
	if (rc != 0) {
		snprintf(why, sizeof why, "%s",
		    rc > 0 ? "it has problems: see blt check" : blt_errmsg());
		return err_set(-EUCLEAN,
		    "%s: missing, and %s beside it, the new file of a prune "
		    "cut short, is no sound store (%s): move it into place by "
		    "hand or remove it",
		    path, tmp, why);
	}
	if (rename(tmp, path) == -1)
		return err_set(-errno, "%s: cannot put %s in its place: %s",
		    path, tmp, strerror(errno));
	return io_sync_dir(path);
}

/* Remove the temporary names that makings of path killed before their
 * end left beside it (PATH.bltfs-new.PID of a process that is gone): each
 * is an unfinished new store, or a second name of the one linked into
 * place.  A process of another machine on a shared file system is taken
 * for gone: only one host makes a given store (booklet.3). */
static void
birth_sweep(const char *path)
{
	static const char mark[] = ".bltfs-new.";
	const char *slash = strrchr(path, '/'), *base;
	char dir[4096];
	struct dirent *e;
	size_t blen;
	DIR *d;

	base = slash == NULL ? path : slash + 1;
	if (slash == NULL)
		snprintf(dir, sizeof dir, ".");
	else if ((size_t)snprintf(dir, sizeof dir, "%.*s",
	             slash == path ? 1 : (int)(slash - path),
	             path) >= sizeof dir)
		return;
	if ((d = opendir(dir)) == NULL)
		return;
	blen = strlen(base);
	while ((e = readdir(d)) != NULL) {
		const char *p = e->d_name;
		char *end;
		long pid;

		if (strncmp(p, base, blen) != 0 ||
		    strncmp(p + blen, mark, sizeof mark - 1) != 0)
			continue;
		errno = 0;
		pid = strtol(p + blen + sizeof mark - 1, &end, 10);
		if (errno != 0 || *end != '\0' || pid <= 0 ||
		    pid == (long)getpid() || kill((pid_t)pid, 0) == 0 ||
		    errno != ESRCH)
			continue;
		(void)unlinkat(dirfd(d), p, 0);
	}
	closedir(d);
}

/* Make a new store at the missing path, as blt_open(BLT_CREATE) would,
 * under a temporary name first.  0 (also if another process made path
 * meanwhile), or a negative errno.  1 where the temporary file cannot be
 * made or the file system makes no hard links: the caller makes the store
 * in place, and says why it cannot, by path. */
static int
birth_make(const char *path, const struct blt_options *opt)
{
	char tmp[4096];
	struct blt *db;
	int rc;

	if ((size_t)snprintf(tmp, sizeof tmp, "%s.bltfs-new.%ld", path,
	        (long)getpid()) >= sizeof tmp)
		return err_set(-ENAMETOOLONG, "%s: path too long", path);
	(void)unlink(tmp); /* a crash of a process with our pid */
	birth_sweep(path);
	if (blt_open(tmp, BLT_TRUNC, opt, &db) < 0)
		return 1;
	rc = blt_close(db);
	if (rc == 0 && link(tmp, path) == -1 && errno != EEXIST)
		rc = errno == EPERM || errno == ENOTSUP || errno == EXDEV ||
		             errno == EMLINK
		         ? 1
		         : err_set(-errno, "%s: cannot link %s into place: %s",
		               path, tmp, strerror(errno));
	(void)unlink(tmp);
	if (rc == 0)
		rc = io_sync_dir(path);
	return rc;
}

int
birth_prepare(const char *path, int mode, const struct blt_options *opt)
{
	struct stat st;
	char *tmp;
	int rc = 0, prune_left;

	if (mode == BLT_TRUNC || lstat(path, &st) == 0 || errno != ENOENT)
		return 0; /* there, or for open() to say why not */
	if ((tmp = prune_file_name(path)) == NULL)
		return err_oom(path);
	prune_left = lstat(tmp, &st) == 0;
	if (prune_left && mode == BLT_RDONLY)
		rc = err_set(-ENOENT,
		    "%s: missing, but %s beside it may be the store (a prune "
		    "cut short): open it for writing to put it in place",
		    path, tmp);
	else if (prune_left)
		rc = birth_take_prune_file(path, tmp);
	else if (mode == BLT_CREATE && (rc = birth_make(path, opt)) > 0)
		rc = 0; /* made in place by the open */
	free(tmp);
	return rc;
}
