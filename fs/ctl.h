/*
 * What the parts of the control interface share: ctl.c (the control
 * directory's nodes), ctl-ioctl.c (the ioctls) and ctl-cmd.c (the commands
 * and the status replies).  fs.h declares what the rest of the daemon
 * sees, and must come first.
 */
#ifndef CTL_H
#define CTL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct bltfs_status;
struct fs;
struct job_runner;

struct ctl_snap;

struct ctl {
	struct fs *fs;
	struct job_runner *jobs; /* NULL until ctl_start() */
	uid_t owner;             /* the user who mounted */
	/* ops.c's table, and the one ctl_ops() gives: base, wrapped */
	const struct fuse_lowlevel_ops *base;
	struct fuse_lowlevel_ops table;
	/* read-only mounts: the texts of status and jobs/ID (ctl.c) */
	pthread_mutex_t snap_lock;
	struct ctl_snap *snaps;
};

/* ctl-ioctl.c */
/* The ioctl operation of the control interface (ctl_ops()). */
void ctl_op_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
    struct fuse_file_info *fi, unsigned flags, const void *in_buf,
    size_t in_bufsz, size_t out_bufsz);

/* ctl-cmd.c */
/* Run the command text for user uid: the reply (cap bytes) says what
 * happened, *job is the job started (or 0).  0 or a negative errno. */
int ctl_command(struct fs *fs, uid_t uid, const char *text, char *reply,
    size_t cap, uint64_t *job);
/* Fill *out for the BLTFS_IOC_STATUS ioctl: 0 or a negative errno. */
int ctl_status(struct fs *fs, struct bltfs_status *out);
/* The status file's JSON in *out (*len bytes), which the caller frees: 0,
 * or a negative errno. */
int ctl_status_json(struct fs *fs, char **out, size_t *len);

#endif
