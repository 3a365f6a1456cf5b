/*
 * bltfs.h: the ioctls a bltfs mount answers on any of its files and
 * directories (bltfs(1), CONTROL INTERFACE).  They do what the control
 * directory does: BLTFS_IOC_CMD runs one command as written to its ctl
 * file, BLTFS_IOC_JOB and BLTFS_IOC_STATUS give what jobs/ID and status
 * hold.
 *
 * FUSE passes only ioctls whose size is encoded in the request number, so
 * each takes one fixed-size struct of fixed-width fields and no pointers;
 * the layout is the same for 32-bit and 64-bit callers.  Strings are
 * NUL-terminated.  Only the user who mounted the store (or root) may use
 * them, as only they may read status and jobs/ID: the others get EPERM.
 * Anything else, such as the flag ioctls of lsattr(1) and chattr(1), fails
 * with ENOTTY.
 */
#ifndef BLTFS_H
#define BLTFS_H

#include <stdint.h>
#include <sys/ioctl.h>

#define BLTFS_IOC_MAGIC 0xb1

/* The control directory's name in the mount's root, unless the mount was
 * given -o ctl=NAME (status names it, in "options"). */
#define BLTFS_CTL_NAME ".bltfs"

/* Room for one command and for its reply. */
#define BLTFS_TEXT_MAX 4096

/* One command ("prune --older-than 7d", "cancel 3", ...).  The ioctl
 * returns 0 when the command was accepted; otherwise it fails with the
 * errno in status, and text still holds the message that says why. */
struct bltfs_cmd {
	char text[BLTFS_TEXT_MAX]; /* in: the command; out: the reply */
	int32_t status;            /* out: 0 or a negative errno */
	uint32_t reserved;         /* zero */
	uint64_t job;              /* out: the job started, or 0 */
};

/* Job kinds and states, as jobs/ID names them. */
#define BLTFS_JOB_PRUNE 1
#define BLTFS_JOB_REINDEX 2
#define BLTFS_JOB_SYNC 3
#define BLTFS_JOB_MAP 4

#define BLTFS_STATE_QUEUED 1
#define BLTFS_STATE_RUNNING 2
#define BLTFS_STATE_DONE 3
#define BLTFS_STATE_FAILED 4
#define BLTFS_STATE_CANCELLED 5

/* What one job did so far.  Set id; the rest is filled in.  ENOENT for a
 * job the daemon does not know (it keeps the 100 that finished last). */
struct bltfs_job {
	uint64_t id;       /* in */
	uint32_t kind;     /* BLTFS_JOB_* */
	uint32_t state;    /* BLTFS_STATE_* */
	int32_t error;     /* a failed job's negative errno, else 0 */
	uint32_t workers;  /* map: size of the pool */
	uint64_t done;     /* items whose outcome is final */
	uint64_t total;    /* items to do, 0 while unknown */
	uint64_t written;  /* map: results stored */
	uint64_t skipped;  /* map: items left as they were on request */
	uint64_t errors;   /* map: failed items */
	uint64_t restarts; /* map: workers replaced after they died */
	uint64_t removed;  /* prune: blocks removed */
	int64_t created;   /* µs since the epoch; 0 when not yet */
	int64_t started;
	int64_t finished;
	char message[512]; /* why a job failed, or "" */
};

/* Flags of struct bltfs_status.  While one is set the store takes no more
 * writes (EIO) until it is unmounted and mounted again. */
/* A reindex failed half-way. */
#define BLTFS_STATUS_REINDEX_STUCK 1
/* A failed write left bytes at the end of the store that could not be cut
 * off. */
#define BLTFS_STATUS_TORN_TAIL 2
/* A flush failed after it had begun to mark its values live. */
#define BLTFS_STATUS_FLUSH_STUCK 4

/* The store and the job runner. */
struct bltfs_status {
	uint32_t version;    /* format version of the store */
	uint32_t n_buckets;  /* index size */
	uint64_t n_keys;     /* live keys */
	uint64_t file_bytes; /* size of the store file */
	uint64_t live_bytes; /* bytes of live blocks (0 while -o lazy builds
	                      * its index: not counted yet) */
	uint64_t dead_bytes; /* what a prune would reclaim */
	uint64_t running;    /* id of the running job, or 0 */
	uint32_t queued;     /* jobs waiting behind it */
	uint32_t ro;         /* 1 when mounted read-only */
	uint64_t last_job;   /* highest job id given out, or 0 */
	char ctl[256];       /* name of the control directory */
	uint32_t flags;      /* BLTFS_STATUS_*, or 0 */
	uint32_t reserved;   /* zero */
};

#define BLTFS_IOC_CMD _IOWR(BLTFS_IOC_MAGIC, 1, struct bltfs_cmd)
#define BLTFS_IOC_JOB _IOWR(BLTFS_IOC_MAGIC, 2, struct bltfs_job)
#define BLTFS_IOC_STATUS _IOR(BLTFS_IOC_MAGIC, 3, struct bltfs_status)

#endif
