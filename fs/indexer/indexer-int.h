/*
 * What the files of fs/indexer/ share; the rest of the daemon sees the
 * build through its door, fs/indexer.h.
 */
#ifndef FS_INDEXER_INT_H
#define FS_INDEXER_INT_H

#include <stdint.h>
#include <sys/stat.h>

#include "indexer.h"

/* index-cache.c */

/* The scan of index_cache_load_tree(lazy) built the index: save it. */
void index_cache_built(struct fs *fs);
/* The files of the cache directory (also dir-hints.c's): open path for
 * reading if it is a regular file of the user's own, with *sb filled: its
 * descriptor, or -1.  Make path's replacement, private, beside it: its
 * descriptor, with *tmp its name, or -errno (blt_errmsg() says why).  Once
 * tmp is written and closed (rc: 0 if it went well), put it in path's
 * place and remove what saves by daemons that are gone left beside it, or
 * remove it: rc, or the rename's -errno.  Frees tmp. */
int index_cache_open_own(const char *path, struct stat *sb);
int index_cache_create_beside(const char *path, char **tmp);
int index_cache_put_in_place(const char *path, char *tmp, int rc);

/* dir-hints.c: a key below each directory of the last built index, which
 * the next lazy build confirms in the store's hash index and puts in
 * first. */
struct dir_hints;
/* Keep the witnesses of t's directories (inode_tree_witnesses()) at path
 * for a store of nkeys keys, with m (if not NULL), the mark of a scan
 * whose keys t holds; or none if the store has few keys a directory.
 * Errors are logged. */
void dir_hints_save(const char *path, struct inode_tree *t, uint64_t nkeys,
    const struct blt_mark *m);
/* The hints at path; NULL if there are none, or they are another user's,
 * or damaged (logged, and the file removed). */
struct dir_hints *dir_hints_load(const char *path);
/* Put in fs->tree, as a lazy build's first step, the directories of each
 * witness of h that fs->db still has: how many witnesses it had, or
 * -ENOMEM, or -ECANCELED once z is stopping. */
int64_t dir_hints_fill(struct fs *fs, struct dir_hints *h, struct lazy *z);
/* After dir_hints_fill(): 1 with *m the mark of the scan the hints came
 * from if every witness was confirmed, so that the directories of the
 * keys written since (blt_iter_create_since()) are the only ones
 * missing; else 0. */
int dir_hints_whole_mark(const struct dir_hints *h, struct blt_mark *m);
/* The mark the hints at path keep: 1 with *m set, or 0. */
int dir_hints_mark(const char *path, struct blt_mark *m);
void dir_hints_free(struct dir_hints *h);

/* scan.c */

/* Fill fs->tree from one scan of fs->db, read on a thread of its own;
 * errors are logged, naming the store. */
int scan_load_tree(struct fs *fs, const struct path_conf *pc);
struct progress;
/* Fill t, as inode_tree_begin() made it, from one scan of fs->db, read on
 * a thread of its own; with z, the lazy build's (lazy.c): told of each
 * batch of keys, and stopped by lazy_cancel(); with progress (may be
 * NULL), shown each batch, the keys read of the header's count.  With
 * dirs_only, only the directories the keys are in (inode_tree_fill_dirs()),
 * from a scan that checks no digest (blt_iter_create_unchecked()): the scan
 * without it checks them after; with since too, of the keys after that mark
 * alone (blt_iter_create_since()).  A whole scan that checks every block leaves
 * its mark in fs->mark.  Errors are logged, naming the store, but for
 * -ECANCELED, and -ESTALE of since (blt_errmsg() says why). */
int scan_fill(struct fs *fs, struct inode_tree *t, struct lazy *z,
    int dirs_only, const struct blt_mark *since, struct progress *progress);

/* lazy.c */

/* -o lazy: make fs->tree, empty, and fill it on threads of their own while
 * the mount answers, starting with the directories of the hints in the file
 * hints (dir_hints_load(); NULL: none, else it must outlast the build); then
 * index_cache_built().  Errors are logged. */
int lazy_start(struct fs *fs, const struct path_conf *pc, const char *hints);
/* Which of "building", "built", "failed", "stopped" the build is. */
const char *lazy_state_name(struct fs *fs);
/* How many directories' hints the build confirmed (dir-hints.c), 0 if it
 * had none or has not got to them. */
int64_t lazy_hinted(struct fs *fs);
/* Whether the build found its directories in the hints and the keys
 * written since, without the first pass. */
int lazy_since(struct fs *fs);
/* How many keys the sample read. */
uint64_t lazy_sampled(struct fs *fs);
/* For scan_fill(): n batches of its pass are in the tree; and whether to
 * stop. */
void lazy_moved(struct lazy *z, unsigned long n);
int lazy_stopping(struct lazy *z);

/* sample.c */

struct sample;
/* The sample of about keys keys of db (a 1,024th of them if keys < 0)
 * that lookups read while a lazy build's first pass runs: the keys of the
 * chains of the first buckets of its hash index
 * (blt_iter_create_sample()).  NULL: none (no keys, or it could not be
 * started: the first pass says why). */
struct sample *sample_open(struct blt *db, int64_t keys);
/* Put the directories of its next few keys into t: how many keys, or 0
 * when it has none left (its end, or damage, a key the tree refuses or no
 * memory, which the first pass meets too and says). */
int sample_step(struct sample *s, struct inode_tree *t);
/* Free it; safe on NULL. */
void sample_close(struct sample *s);

#endif
