/*
 * The session's reads and writes of /dev/fuse go through here (libfuse's
 * custom I/O) for one reason: the reply to the kernel's INIT.  libfuse
 * 3.14 never puts FUSE_PARALLEL_DIROPS in it, though op_init() asks for
 * it and the kernel offers it; without it the kernel holds a directory's
 * mutex across each lookup and listing of it, so one slow lookup (a name
 * another process may have put a moment ago, looked for in the store)
 * held up every reader of that directory for seconds (doc/benchmarks.md,
 * "A writer beside busy readers").  The read notes the INIT request and
 * what the kernel offers; the write of its reply adds the flag.  Every
 * other read and write passes as libfuse would make it.
 */
#include "config.h"

#include <fcntl.h>
#include <linux/fuse.h>
#include <stddef.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "loop.h"

/* One session per process: the INIT request's unique (0: not read yet)
 * and the flags the kernel offered with it */
static uint64_t init_unique;
static uint32_t init_offered;
static int init_answered;

static ssize_t
session_read(int fd, void *buf, size_t len, void *userdata)
{
	const struct fuse_in_header *in = buf;
	const struct fuse_init_in *arg = (const void *)(in + 1);
	ssize_t n = read(fd, buf, len);

	(void)userdata;
	if (init_unique == 0 && n >= (ssize_t)(sizeof *in + sizeof *arg) &&
	    in->opcode == FUSE_INIT) {
		init_offered = arg->flags;
		init_unique = in->unique;
	}
	return n;
}

static ssize_t
session_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	const struct fuse_out_header *out = iov[0].iov_base;
	struct fuse_init_out reply;
	struct iovec patched[2];

	(void)userdata;
	if (init_answered || count != 2 || init_unique == 0 ||
	    iov[0].iov_len != sizeof *out || out->unique != init_unique ||
	    out->error != 0 || iov[1].iov_len > sizeof reply ||
	    iov[1].iov_len <
	        offsetof(struct fuse_init_out, flags) + sizeof reply.flags)
		return writev(fd, iov, count);
	init_answered = 1;
	memcpy(&reply, iov[1].iov_base, iov[1].iov_len);
	reply.flags |= init_offered & FUSE_PARALLEL_DIROPS;
	patched[0] = iov[0];
	patched[1].iov_base = &reply;
	patched[1].iov_len = iov[1].iov_len;
	return writev(fd, patched, 2);
}

static ssize_t
session_splice(int fdin, off_t *offin, int fdout, off_t *offout, size_t len,
    unsigned int flags, void *userdata)
{
	(void)userdata;
	return splice(fdin, offin, fdout, offout, len, flags);
}

int
session_io_start(struct fuse_session *se)
{
	static const struct fuse_custom_io io = {
	    .writev = session_writev,
	    .read = session_read,
	    .splice_send = session_splice,
	};

	return fuse_session_custom_io(se, &io, fuse_session_fd(se));
}
