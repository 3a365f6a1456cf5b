/*
 * crashpoint.so: preloaded into bltfs by tests/mount-rename-crash.sh to kill
 * it at a chosen write.  Every pwrite, fsync, fdatasync and ftruncate of
 * the process is counted; with BLT_KILL_AT=N the process SIGKILLs itself
 * just before call N, so calls 1 to N-1 are all that happened.  With
 * BLT_COUNT_TO=FILE the count is written to FILE when the process exits
 * normally, which tells the test how many crash points there are.
 *
 * With BLT_HOLD_BYTES=N, BLT_HOLD_FILE=STORE and BLT_HOLD_FIFO=PATH, the
 * first pwrite of N bytes or more to the file STORE is held instead, for
 * tests/mount-hold.sh: the thread making it writes a line to the FIFO
 * PATH.held (so the test knows), then reads the FIFO PATH.go to its end
 * (until the test lets it go), then writes.
 *
 * With BLT_FAIL_CALL=NAME (pwrite, fsync, fdatasync or ftruncate), every
 * call of NAME fails with EIO and changes nothing: a disk failing for
 * good, for tests/blt-dump.sh, which preloads it into blt, and for
 * tests/mount-stuck.sh, which preloads it into bltfs.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static long crash_calls;

/* Is fd open on the file path? */
static int
crash_is_file(int fd, const char *path)
{
	char link[64], got[4096];
	ssize_t n;

	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	if ((n = readlink(link, got, sizeof got - 1)) < 0)
		return 0;
	got[n] = 0;
	return strcmp(got, path) == 0;
}

/* Hold the first write of BLT_HOLD_BYTES or more to BLT_HOLD_FILE until
 * the test says. */
static void
crash_hold(int fd, size_t n)
{
	static int held;
	const char *bytes = getenv("BLT_HOLD_BYTES");
	const char *file = getenv("BLT_HOLD_FILE");
	const char *fifo = getenv("BLT_HOLD_FIFO");
	char path[4096], c;
	int f;

	if (bytes == NULL || file == NULL || fifo == NULL ||
	    n < (size_t)atol(bytes) || !crash_is_file(fd, file) ||
	    __atomic_exchange_n(&held, 1, __ATOMIC_SEQ_CST))
		return;
	snprintf(path, sizeof path, "%s.held", fifo);
	if ((f = open(path, O_WRONLY)) != -1) {
		(void)!write(f, "held\n", 5);
		close(f);
	}
	snprintf(path, sizeof path, "%s.go", fifo);
	if ((f = open(path, O_RDONLY)) != -1) {
		while (read(f, &c, 1) > 0)
			;
		close(f);
	}
}

static void
crash_point(void)
{
	static long at = -2;

	if (at == -2) {
		const char *s = getenv("BLT_KILL_AT");

		at = s != NULL ? atol(s) : -1;
	}
	if (++crash_calls == at)
		raise(SIGKILL);
}

/* Whether the call name is to fail (BLT_FAIL_CALL); errno is set. */
static int
crash_fails(const char *name)
{
	const char *fail = getenv("BLT_FAIL_CALL");

	if (fail == NULL || strcmp(fail, name) != 0)
		return 0;
	errno = EIO;
	return 1;
}

/* The next definition of name: libc's. */
static void *
crash_real(const char *name)
{
	void *f = dlsym(RTLD_NEXT, name);

	if (f == NULL)
		abort();
	return f;
}

/* Define name, with parameters params and libc's arguments args, as a
 * crash point in front of libc's name. */
#define CRASH_WRAP(ret, name, params, args)                                    \
	ret name params                                                        \
	{                                                                      \
		static ret(*real) params;                                      \
                                                                               \
		if (real == NULL)                                              \
			real = (ret(*) params)crash_real(#name);               \
		crash_point();                                                 \
		if (crash_fails(#name))                                        \
			return -1;                                             \
		return real args;                                              \
	}

/* pwrite, with its hold */
ssize_t
pwrite(int fd, const void *buf, size_t n, off_t off)
{
	static ssize_t (*real)(int, const void *, size_t, off_t);

	if (real == NULL)
		real = (ssize_t(*)(int, const void *, size_t, off_t))crash_real(
		    "pwrite");
	crash_point();
	if (crash_fails("pwrite"))
		return -1;
	crash_hold(fd, n);
	return real(fd, buf, n, off);
}
CRASH_WRAP(int, fdatasync, (int fd), (fd))
CRASH_WRAP(int, fsync, (int fd), (fd))
CRASH_WRAP(int, ftruncate, (int fd, off_t len), (fd, len))

/* The same call on a 64-bit system, where off_t has 64 bits already. */
ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
    __attribute__((alias("pwrite")));

__attribute__((destructor)) static void
crash_report(void)
{
	const char *to = getenv("BLT_COUNT_TO");
	FILE *f;

	if (to != NULL && (f = fopen(to, "w")) != NULL) {
		fprintf(f, "%ld\n", crash_calls);
		fclose(f);
	}
}
