/*
 * Where a test holds a thread of the daemon (a lazy build, a rescan) to
 * look at the mount half-way: the test names a FIFO in the environment,
 * and the thread reads one byte from it there.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mount.h"

uint64_t
fs_now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000 + (uint64_t)t.tv_nsec / 1000;
}

void
fs_test_hold(const char *var, const char *fifo)
{
	char b;
	int fd;

	if (fifo == NULL)
		return;
	if ((fd = open(fifo, O_RDONLY | O_CLOEXEC)) < 0) {
		fs_log("%s %s: %s", var, fifo, strerror(errno));
		return;
	}
	if (read(fd, &b, 1) < 0)
		fs_log("%s %s: %s", var, fifo, strerror(errno));
	close(fd);
}
