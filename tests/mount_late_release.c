/*
 * mount_late_release: stat through a writer while another descriptor's
 * release stores the file.
 *
 *   mount_late_release DIR ROUNDS [STORE]
 *
 * Four processes, each on its own file in DIR, repeat ROUNDS times: open
 * the file to write (A) and to write again (C), empty it through a third
 * open with O_TRUNC and write 34 bytes, close that and C, write 384 bytes
 * at 4427 through A and fstat A, which must say 4811 bytes.  The kernel
 * sends C's release after close(2) returns, so it reaches the daemon at
 * any moment of A's write and fstat, and stores what A wrote: a stat that
 * took the file's size from before that store, and then found its buffer
 * stored, said 34 (a mount_fsx -k failure).  The race is narrow: with
 * that bug, one of the four workers failed within 355 to 11,250 rounds in
 * each of five runs.
 *
 * With STORE, the mounted store file, one process does the rounds, and
 * the store file must not grow between the close of C and that of A: the
 * release stores only what changed through its own handle, and A's write
 * is A's to store, at its close (or fsync).  Stored by C's release, it
 * would be there after a crash of the daemon that should find the file
 * as its last close left it (a mount_fsx -k failure).
 *
 * Exits 1 on a wrong size or a store that grew, 2 on another error.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define WORKERS 4
#define SHORT 34
#define AT 4427
#define LONG 384

static int
fail(const char *path, const char *what)
{
	fprintf(stderr, "mount_late_release: %s: %s: %s\n", path, what,
	    strerror(errno));
	return 2;
}

/* The size of store, or -1 if it is NULL. */
static long long
store_size(const char *store)
{
	struct stat st;

	if (store == NULL)
		return -1;
	return stat(store, &st) == 0 ? (long long)st.st_size : -2;
}

/* One worker's rounds on path: 0, 1 on a wrong size or a store that grew
 * (store: NULL or the store file, see above), 2 on an error. */
static int
rounds(const char *path, long n, const char *store)
{
	static char bytes[LONG];
	struct stat st;
	long long before;
	int a, b, c;

	memset(bytes, 'x', sizeof bytes);
	for (long i = 0; i < n; i++) {
		if ((a = open(path, O_RDWR | O_CREAT, 0644)) == -1 ||
		    (c = open(path, O_WRONLY)) == -1 ||
		    (b = open(path, O_WRONLY | O_TRUNC)) == -1)
			return fail(path, "open");
		if (write(b, bytes, SHORT) != SHORT || close(b) != 0 ||
		    close(c) != 0)
			return fail(path, "write and close");
		before = store_size(store);
		if (pwrite(a, bytes, LONG, AT) != LONG || fstat(a, &st) != 0)
			return fail(path, "pwrite and fstat");
		if (st.st_size != AT + LONG) {
			fprintf(stderr,
			    "mount_late_release: %s: round %ld: fstat "
			    "says %lld bytes after a write to %d\n",
			    path, i, (long long)st.st_size, AT + LONG);
			return 1;
		}
		if (store_size(store) != before) {
			fprintf(stderr,
			    "mount_late_release: %s: round %ld: the store "
			    "grew before the writer's close\n",
			    path, i);
			return 1;
		}
		if (close(a) != 0)
			return fail(path, "close");
	}
	return 0;
}

int
main(int argc, char **argv)
{
	char path[4096];
	const char *store = argc == 4 ? argv[3] : NULL;
	int status, rc = 0, workers = store != NULL ? 1 : WORKERS;
	pid_t pid[WORKERS];

	if (argc != 3 && argc != 4) {
		fprintf(
		    stderr, "usage: mount_late_release DIR ROUNDS [STORE]\n");
		return 2;
	}
	for (int w = 0; w < workers; w++) {
		snprintf(path, sizeof path, "%s/late%d", argv[1], w);
		if ((pid[w] = fork()) == -1)
			return fail(path, "fork");
		if (pid[w] == 0)
			_exit(rounds(path, atol(argv[2]), store));
	}
	for (int w = 0; w < workers; w++) {
		if (waitpid(pid[w], &status, 0) == -1)
			return fail(argv[1], "waitpid");
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			rc = rc == 1             ? 1
			     : WIFEXITED(status) ? WEXITSTATUS(status)
			                         : 2;
	}
	return rc;
}
