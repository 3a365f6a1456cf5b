/*
 * The door of fs/indexer/: the directory index of a mount, built from its
 * store.  The index is fs/index/'s tree; this room fills it: from one
 * scan of the store on a thread of its own, from the index cache kept for
 * an unchanged store, or (-o lazy) while the mount already answers, with
 * the directory hints and a sample of the keys to answer sooner.  Its
 * insides are fs/indexer/indexer-int.h's.
 *
 *	index-cache.c	where a mount's index comes from, and the cache
 *	scan.c		the scan that fills the tree, batch by batch
 *	lazy.c		-o lazy: the build while the mount answers
 *	dir-hints.c	a key below each directory, kept for the next build
 *	sample.c	a sample of the keys, for lookups during a build
 */
#ifndef FS_INDEXER_H
#define FS_INDEXER_H

#include <stdint.h>
#include <stdio.h>

#include "mount.h"
#include "index.h"

/* index-cache.c */

/* Fill fs->tree from the index cache when it holds this store as it is
 * now, else by scan_load_tree(); a scanned index of a store of min_keys
 * keys or more is then saved for the next mount, by a thread that holds
 * the index's read lock from before this returns.  on = 0: no cache.
 * scan_load_tree()'s errors, -ENOMEM. */
int index_cache_load_tree(struct fs *fs, const struct path_conf *pc, int on,
    uint64_t min_keys, int lazy);
/* The "index" member of status: where the index came from, and how many
 * nodes it holds. */
void index_cache_status_json(struct fs *fs, FILE *f);
/* The mount ends: keep the directory hints again if directories were made
 * or moved since (through the mount), so that the next lazy build knows
 * them.  Before lazy_stop(): not after a lazy build that did not end. */
void index_cache_unmount(struct fs *fs);
/* Wait for a save under way, and free ic; safe on NULL. */
void index_cache_free(struct index_cache *ic);

/* lazy.c */

/* Whether fs->tree is still being built (or its build failed or was
 * stopped); and whether its build failed. */
int lazy_building(struct fs *fs);
int lazy_failed(struct fs *fs);
/* How many times the build moved on (a batch of keys went into the tree,
 * its first pass ended); and wait until it moves again or ends: 0, or -EIO
 * if it failed or the session ended.  Only while building. */
unsigned long lazy_moves(struct fs *fs);
int lazy_wait_move(struct fs *fs, unsigned long seen);
/* Whether the tree holds every directory: the build's first pass is done
 * (or there is no build). */
int lazy_dirs_known(struct fs *fs);
/* For a lookup of a name the tree has not met while the first pass runs:
 * one step of the sample of the store's keys (sample.c), whose
 * directories go into the tree: 1, then look again; or 0 if the sample
 * has no more to give (then wait for the first pass). */
int lazy_sample(struct fs *fs);
/* Let the request in buf (as read from the session) be served: 0; or hold
 * it until the tree is built, and 1 if it was answered here (EIO: the
 * build failed).  While the tree is built, only what it answers as it
 * grows passes (lookups, attributes, opens and reads) and what needs no
 * tree (statfs, the status). */
int lazy_gate(
    struct fs *fs, struct fuse_session *se, const struct fuse_buf *buf);
/* The session ended: a lazy build stops at its next batch, and what
 * waits for it is answered EIO. */
void lazy_cancel(struct fs *fs);
/* Wait for the end of a lazy build and free what lazy_start() made. */
void lazy_stop(struct fs *fs);

#endif
