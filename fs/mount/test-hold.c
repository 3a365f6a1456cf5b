/*
 * Where a test holds a thread of the daemon (a lazy build, a rescan) to
 * look at the mount half-way: the test names a FIFO in the environment,
 * and the thread reads one byte from it there, once it has made the file
 * FIFO.held, which tells the test it is there.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
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
	char b, held[4096];
	int fd;

	if (fifo == NULL)
		return;
	snprintf(held, sizeof held, "%s.held", fifo);
	if ((fd = open(held, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) >= 0)
		close(fd);
	if ((fd = open(fifo, O_RDONLY | O_CLOEXEC)) < 0) {
		fs_log("%s %s: %s", var, fifo, strerror(errno));
		return;
	}
	if (read(fd, &b, 1) < 0)
		fs_log("%s %s: %s", var, fifo, strerror(errno));
	close(fd);
}
