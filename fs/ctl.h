/*
 * What the parts of the control interface share: ctl.c (the control
 * directory's nodes), ctl-ioctl.c (the ioctls), ctl-cmd.c (the commands
 * and the status replies) and keylist.c (a map's --keys FILE, which finds
 * paths as the commands do).  fs.h declares what the rest of the daemon
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
struct inode_info;
struct job_keys;
struct job_runner;
struct mountinfo;

struct ctl_snap;

struct ctl {
	struct fs *fs;
	struct job_runner *jobs;
	uid_t owner; /* the user who mounted */
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

/* The paths of commands, found in the directory index, never through the
 * kernel (which would wait for this daemon to answer); mi is the table of
 * mounts (mountinfo_read()), or NULL.  Each sets a message for
 * blt_errmsg() when it fails. */
/* The node at path in the mount ("a/b", "/a/b", "" or "/" for the root). */
int ctl_resolve(struct fs *fs, const char *path, struct inode_info *out);
/* Add to k the keys of the files at and below path: a file, or with dirs
 * a directory too (-EISDIR without). */
int ctl_select(struct fs *fs, const char *path, int dirs, struct job_keys *k);
/* Does path (absolute, resolved) lead into this mount, through any mount
 * of it?  1, with its path in the mount in place (PATH_MAX bytes) unless
 * place is NULL; 0; or -ENOENT, -ENAMETOOLONG. */
int ctl_place(
    struct fs *fs, const struct mountinfo *mi, const char *path, char *place);
/* path with its symbolic links and dot-dots resolved, into *out (the
 * caller frees it), the names of this mount taken from its index. */
int ctl_real_path(
    struct fs *fs, const struct mountinfo *mi, const char *path, char **out);
/* Is rest, a path of this mount, in its control directory? */
int ctl_in_ctl_dir(struct fs *fs, const char *rest);

#endif
