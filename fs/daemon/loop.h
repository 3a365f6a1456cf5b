/*
 * The daemon's top, fs/daemon/: main.c (options, start-up, shutdown) and
 * the session loop that main.c runs.  Nothing below includes this.
 */
#ifndef FS_DAEMON_LOOP_H
#define FS_DAEMON_LOOP_H

#include "mount.h"

/* loop.c */

/* Serve the session until it ends, with up to max_threads threads, the
 * one reading requests spinning spin_us µs before it blocks.  Returns 0 or
 * a negative errno. */
int loop_run(struct fs *fs, struct fuse_session *se, unsigned max_threads,
    unsigned spin_us);

/* session-io.c */

/* Read and write the mounted session's device through session-io.c, which
 * has the kernel's INIT answered with FUSE_PARALLEL_DIROPS.  Call after
 * fuse_session_mount().  0 or a negative errno. */
int session_io_start(struct fuse_session *se);

#endif
