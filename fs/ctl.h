/*
 * The door of fs/ctl/: the control interface of a mount and the jobs it
 * starts.  The control directory (/.bltfs) and the ioctls of bltfs.h take
 * commands and give status; the job runner runs prunes, reindexes, syncs
 * and maps over engine calls, one at a time, in a thread of its own; the
 * daemon's own prunes (-o autoprune) are jobs too.  Its insides are
 * fs/ctl/ctl-int.h's.
 *
 *	ctl.c		the control directory's nodes, over the operations
 *	ctl-ioctl.c	the ioctls
 *	ctl-cmd.c	the commands, and status
 *	ctl-text.c	the texts of status and jobs/ID
 *	resolve.c	a path of the mount to its node and key
 *	job.c		the job runner; job-notes.c, what the kernel must
 *			hear of a job's changes
 *	keylist.c	a map's --keys FILE
 *	autoprune.c	the prunes the daemon starts itself
 *	follow.c	the store shared with other processes: its lock let
 *			go when idle, their changes followed; rescan.c,
 *			the rescan in steps of a store pruned or cleared
 */
#ifndef FS_CTL_H
#define FS_CTL_H

#include <stdint.h>
#include <stdio.h>

#include "mount.h"

/* ctl.c */

/* The control directory (/.bltfs) and the ioctls of bltfs.h.  Its nodes
 * are not in the directory index: ctl_ops() wraps the operations table so
 * that requests for them never reach ops.c. */
struct ctl;

/* Set up the control interface of fs, wrapping the operations table base
 * (ops_table), before the session is made: its requests reach ctl.c
 * first.  Message set.  -ENOMEM. */
int ctl_create(
    struct fs *fs, const struct fuse_lowlevel_ops *base, struct ctl **out);

/* The table to give fuse_session_new(): base, with the control nodes and
 * the ioctls answered by ctl.c.  Userdata is struct fs, as for base;
 * fs->ctl must be c before the first request. */
const struct fuse_lowlevel_ops *ctl_ops(struct ctl *c);

/* Start the job runner, once the store is open.  Message set.  -ENOMEM,
 * or pthread_create's error. */
int ctl_start(struct ctl *c);

/* Cancel what the job runner does and wait for it: once this returns, no
 * job touches the store or the kernel any more.  Safe on NULL, and twice. */
void ctl_stop(struct ctl *c);

/* Stop (see ctl_stop()) and free; safe on NULL. */
void ctl_free(struct ctl *c);

/* autoprune.c */

/* The prunes the daemon starts itself (-o autoprune): see autoprune.c. */
struct autoprune;

/* Prune once pct percent of the store file (0: never), of at least min
 * bytes, is dead.  -ENOMEM (message set). */
int autoprune_create(unsigned pct, uint64_t min, struct autoprune **out);
/* Free; safe on NULL. */
void autoprune_free(struct autoprune *a);
/* After a commit that stored something, with no lock of the mount held:
 * start a prune job if one is due.  Cheap when none is. */
void autoprune_check(struct fs *fs);

/* follow.c */

/* The store shared with other processes: every request and job holds it
 * (blt_hold()) while it runs, a thread lets its lock go once the mount
 * has been idle for half a second, and what other processes changed is
 * followed into the directory index and told to the kernel.  Sets
 * fs->follow, and leaves the store held once for the caller, who builds
 * the index, until its blt_unhold().  Message set.  -ENOMEM, blt_share()'s
 * errors, or pthread_create's. */
struct follow;
int follow_start(struct fs *fs);
/* A request or job could not hold the store: blt_hold() failed with rc.
 * Logs why, naming the process that holds the store (at most once a
 * second), and returns the errno to answer: -EBUSY past the lock timeout,
 * else -EIO. */
int follow_refused(struct fs *fs, int rc, int writes);
/* Stop the thread: the lock stays as it is from then on.  Safe on NULL. */
void follow_stop(struct follow *f);
/* Stop and free; safe on NULL. */
void follow_free(struct follow *f);
/* The lock and what was followed, as members of status's JSON object
 * (each after ",\n"). */
void follow_status(struct fs *fs, FILE *out);

#endif
