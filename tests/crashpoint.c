/*
 * crashpoint.so: preloaded into bltfs by tests/mount-rename-crash.sh to kill
 * it at a chosen write.  Every pwrite, fsync, fdatasync and ftruncate of
 * the process is counted; with BLT_KILL_AT=N the process SIGKILLs itself
 * just before call N, so calls 1 to N-1 are all that happened.  With
 * BLT_COUNT_TO=FILE the count is written to FILE when the process exits
 * normally, which tells the test how many crash points there are.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

static long crash_calls;

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
		return real args;                                              \
	}

CRASH_WRAP(ssize_t, pwrite, (int fd, const void *buf, size_t n, off_t off),
    (fd, buf, n, off))
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
