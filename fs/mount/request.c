/*
 * What a request asks, read from its bytes as the session gave them,
 * before libfuse parses it: the loop (fs/daemon/loop.c) answers some
 * requests on the thread that read them, and a lazy build
 * (fs/indexer/lazy.c) lets some pass while it holds the rest.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <string.h>
#include <unistd.h>

#include "bltfs.h"
#include "mount.h"

int
request_open_reads(const struct fuse_buf *buf)
{
	const struct fuse_in_header *in = buf->mem;
	const struct fuse_open_in *o = (const void *)(in + 1);

	return buf->size >= sizeof *in + sizeof *o && in->opcode == FUSE_OPEN &&
	       (o->flags & (O_ACCMODE | O_TRUNC)) == O_RDONLY;
}

uint32_t
request_ioctl_cmd(const struct fuse_buf *buf)
{
	const struct fuse_in_header *in = buf->mem;
	const struct fuse_ioctl_in *io = (const void *)(in + 1);

	return buf->size >= sizeof *in + sizeof *io ? io->cmd : BLTFS_IOC_CMD;
}

uint64_t
request_flush_fh(const struct fuse_buf *buf)
{
	const struct fuse_in_header *in = buf->mem;
	const struct fuse_flush_in *f = (const void *)(in + 1);

	return buf->size >= sizeof *in + sizeof *f && in->opcode == FUSE_FLUSH
	           ? f->fh
	           : 0;
}

int
request_store_use(const struct fuse_buf *buf, int ro)
{
	const struct fuse_in_header *in = buf->mem;

	if (buf->size < sizeof *in)
		return REQUEST_SESSION;
	switch (in->opcode) {
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
		return REQUEST_QUICK;
	case FUSE_RELEASE: {
		/* a read-only open and its release (noflush spares them a
		 * flush) are served from memory */
		const struct fuse_release_in *r = (const void *)(in + 1);

		return buf->size >= sizeof *in + sizeof *r &&
		               (r->flags & O_ACCMODE) == O_RDONLY
		           ? REQUEST_QUICK
		           : REQUEST_WRITES;
	}
	case FUSE_INIT:
	case FUSE_DESTROY:
	case FUSE_INTERRUPT:
	case FUSE_NOTIFY_REPLY:
		return REQUEST_SESSION;
	case FUSE_LOOKUP:
	case FUSE_GETATTR:
	case FUSE_READ:
	case FUSE_READDIR:
	case FUSE_READDIRPLUS:
	case FUSE_OPENDIR:
	case FUSE_RELEASEDIR:
	case FUSE_STATFS:
	case FUSE_ACCESS:
	case FUSE_GETXATTR:
	case FUSE_LISTXATTR:
	case FUSE_READLINK:
	case FUSE_LSEEK:
	case FUSE_POLL:
		return REQUEST_READS;
	case FUSE_OPEN:
		/* an open to write waits for the lock as before: one that
		 * truncates must fail whole, or the emptied file would be
		 * stored once the lock is free */
		return request_open_reads(buf) ? REQUEST_QUICK : REQUEST_WRITES;
	case FUSE_IOCTL: {
		/* isatty(), which Python's open() asks, gets ENOTTY; a job's
		 * or the status text reads; a command may change the store */
		uint32_t cmd = request_ioctl_cmd(buf);

		if (cmd == BLTFS_IOC_CMD)
			return REQUEST_WRITES;
		return cmd == BLTFS_IOC_JOB || cmd == BLTFS_IOC_STATUS
		           ? REQUEST_READS
		           : REQUEST_QUICK;
	}
	case FUSE_FLUSH:
	case FUSE_FSYNC:
	case FUSE_FSYNCDIR:
		/* a read-only mount has nothing to commit: its flush answers
		 * ENOSYS, which must reach the kernel for it to stop sending
		 * them (op_flush()), and not wait for a writer's lock first */
		return ro ? REQUEST_READS : REQUEST_WRITES;
	case FUSE_SETATTR:
	case FUSE_SYMLINK:
	case FUSE_MKNOD:
	case FUSE_MKDIR:
	case FUSE_UNLINK:
	case FUSE_RMDIR:
	case FUSE_RENAME:
	case FUSE_RENAME2:
	case FUSE_LINK:
		return REQUEST_WRITES; /* a change, or a control command */
	case FUSE_WRITE:
	case FUSE_CREATE:
		/* into the file's buffer, and a name not stored yet: a
		 * create waiting for the lock kept the kernel's lock of its
		 * directory, and every lookup there waited with it.  A
		 * handle's first write waits for the lock (fs->turn), and a
		 * create that truncates a key the store has (op_create()) */
		return REQUEST_BUFFERS;
	default:
		/* what no operation here takes (FUSE_STATX, which stat(1)
		 * sends for a birth time; locks, fallocate, xattrs set):
		 * libfuse answers ENOSYS at once, and the kernel asks no
		 * more.  Held for, the answer waited for another process's
		 * lock and was EBUSY, so the kernel kept asking */
		return REQUEST_QUICK;
	}
}

void
request_answer(struct fuse_session *se, const struct fuse_buf *buf, int err)
{
	const struct fuse_in_header *in = buf->mem;
	struct fuse_out_header out;

	out.len = sizeof out;
	out.error = err;
	out.unique = in->unique;
	/* ENOENT: the request was interrupted; ENODEV: the mount is gone */
	if (write(fuse_session_fd(se), &out, sizeof out) < 0 &&
	    errno != ENOENT && errno != ENODEV)
		fs_log("answering a request: %s", strerror(errno));
}
