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
struct stat;

struct ctl_snap;

/* The nodeids of the control directory: the top bit set, which no node of
 * the index (whose nodeids are addresses) has; a job's file has the next
 * bit set too, and the job's id below. */
#define CTL_BIT (UINT64_C(1) << 63)
#define CTL_JOB_BIT (UINT64_C(1) << 62)
#define CTL_DIR (CTL_BIT | 1)
#define CTL_CTL (CTL_BIT | 2)
#define CTL_STATUS (CTL_BIT | 3)
#define CTL_JOBS (CTL_BIT | 4)

/* Is nodeid a node of the control directory? */
static inline int
ctl_is(uint64_t nodeid)
{
	return (nodeid & CTL_BIT) != 0;
}

/* The node of job id's file, jobs/ID. */
static inline uint64_t
ctl_job_node(uint64_t id)
{
	return CTL_BIT | CTL_JOB_BIT | id;
}

/* The job whose file is node. */
static inline uint64_t
ctl_node_job(uint64_t node)
{
	return node & ~(CTL_BIT | CTL_JOB_BIT);
}

/* Does node have a text made by the daemon (status, jobs/ID)? */
static inline int
ctl_has_text(uint64_t node)
{
	return node == CTL_STATUS || (node & CTL_JOB_BIT);
}

struct ctl {
	struct fs *fs;
	struct job_runner *jobs; /* NULL until ctl_start() */
	uid_t owner;             /* the user who mounted */
	/* ops.c's table, and the one ctl_ops() gives: base, wrapped */
	const struct fuse_lowlevel_ops *base;
	struct fuse_lowlevel_ops table;
	/* read-only mounts: the texts of status and jobs/ID (ctl-text.c) */
	pthread_mutex_t snap_lock;
	struct ctl_snap *snaps;
	/* the control files open now, freed by ctl_free() if the kernel
	 * never released them: an unmount while a client held one open */
	pthread_mutex_t files_lock;
	struct ctl_file *files;
};

/* ctl-text.c */
/* The text of status or jobs/ID now, in *buf (*len bytes), which the
 * caller frees: 0 or a negative errno. */
int ctl_text(struct fs *fs, uint64_t node, char **buf, size_t *len);
/* Is job id known to the runner (jobs/ID)? */
int ctl_job_exists(struct fs *fs, uint64_t id);
/* Read-only mounts: make node's snapshot again and give st its size and
 * mtime.  0 or a negative errno. */
int ctl_snap_stat(struct fs *fs, uint64_t node, struct stat *st);
/* Read-only mounts: reply to a read of node's snapshot. */
void ctl_snap_read(
    fuse_req_t req, struct fs *fs, uint64_t node, size_t size, off_t off);
/* Free every snapshot of c. */
void ctl_snaps_free(struct ctl *c);

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
/* Fill *out for the BLTFS_IOC_STATUS ioctl: 0; 1 if its live and dead
 * bytes are not counted yet (0 while -o lazy builds the index); or a
 * negative errno. */
int ctl_status(struct fs *fs, struct bltfs_status *out);
/* The status file's JSON in *out (*len bytes), which the caller frees: 0,
 * or a negative errno. */
int ctl_status_json(struct fs *fs, char **out, size_t *len);

#endif
