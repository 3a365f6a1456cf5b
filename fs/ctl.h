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
 */
#ifndef FS_CTL_H
#define FS_CTL_H

#include <stdint.h>

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

#endif
