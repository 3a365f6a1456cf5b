/*
 * The ioctls of bltfs.h, on any file or directory of the mount: a command,
 * as the ctl file runs it, and what jobs/ID and status tell.  Only the
 * user who mounted and root may see those; a command says itself who may
 * not run it (ctl_command()).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "bltfs.h"
#include "ctl-int.h"

/* May the user of req see status and jobs?  The user who mounted and root,
 * as the modes of the files say: the kernel checks those against the same
 * uid, but not an ioctl, which reaches the daemon from any file of the
 * mount. */
static int
ctl_may_see(fuse_req_t req, const struct fs *fs)
{
	uid_t uid = fuse_req_ctx(req)->uid;

	return uid == 0 || uid == fs->ctl->owner;
}

void
ctl_op_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
    struct fuse_file_info *fi, unsigned flags, const void *in_buf,
    size_t in_bufsz, size_t out_bufsz)
{
	struct fs *fs = fuse_req_userdata(req);
	union {
		struct bltfs_cmd c;
		struct bltfs_job j;
		struct bltfs_status s;
	} * u;
	char reply[BLTFS_TEXT_MAX];
	uint64_t job;
	int rc;

	/* every other request, lsattr's and chattr's among them */
	if (cmd != BLTFS_IOC_CMD && cmd != BLTFS_IOC_JOB &&
	    cmd != BLTFS_IOC_STATUS) {
		fuse_reply_err(req, ENOTTY);
		return;
	}
	if (out_bufsz != _IOC_SIZE(cmd) ||
	    ((_IOC_DIR(cmd) & _IOC_WRITE) && in_bufsz != _IOC_SIZE(cmd))) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	/* a command says itself who may not run it (ctl_command()) */
	if (cmd != BLTFS_IOC_CMD && !ctl_may_see(req, fs)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if ((u = calloc(1, sizeof *u)) == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	switch (cmd) {
	case BLTFS_IOC_CMD:
		memcpy(&u->c, in_buf, sizeof u->c);
		u->c.text[sizeof u->c.text - 1] = '\0';
		rc = ctl_command(fs, fuse_req_ctx(req)->uid, u->c.text, reply,
		    sizeof reply, &job);
		memset(&u->c, 0, sizeof u->c);
		snprintf(u->c.text, sizeof u->c.text, "%s", reply);
		u->c.status = rc;
		u->c.job = job;
		/* a failed command: the ioctl fails, the reply says why */
		fuse_reply_ioctl(req, rc < 0 ? rc : 0, &u->c, sizeof u->c);
		break;
	case BLTFS_IOC_JOB:
		memcpy(&u->j, in_buf, sizeof u->j);
		if ((rc = job_get(fs->ctl->jobs, &u->j)) < 0)
			fuse_reply_err(req, -rc);
		else
			fuse_reply_ioctl(req, 0, &u->j, sizeof u->j);
		break;
	case BLTFS_IOC_STATUS:
		if ((rc = ctl_status(fs, &u->s)) < 0)
			fuse_reply_err(req, -rc);
		else
			fuse_reply_ioctl(req, 0, &u->s, sizeof u->s);
		break;
	}
	free(u);
}
