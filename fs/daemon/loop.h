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

#endif
