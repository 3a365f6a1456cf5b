/*
 * What a request asks, read from its bytes as the session gave them,
 * before libfuse parses it: the loop (fs/daemon/loop.c) answers some
 * requests on the thread that read them, and a lazy build
 * (fs/build/lazy.c) lets some pass while it holds the rest.
 */
#include "config.h"

#include <fcntl.h>
#include <linux/fuse.h>

#include "mount.h"

int
request_open_reads(const struct fuse_buf *buf)
{
	const struct fuse_in_header *in = buf->mem;
	const struct fuse_open_in *o = (const void *)(in + 1);

	return buf->size >= sizeof *in + sizeof *o && in->opcode == FUSE_OPEN &&
	       (o->flags & (O_ACCMODE | O_TRUNC)) == O_RDONLY;
}
