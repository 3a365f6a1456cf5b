/*
 * inode-lib.h: what the directory index suites (check_inode*.c) share: a
 * tree made of keys, lookups by path, and a readdir callback that keeps
 * what it is given.
 */
#ifndef BLT_INODE_LIB_H
#define BLT_INODE_LIB_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "booklet.h"
#include "index.h"

/* A tree of keys (a NULL-ended list, or NULL), put one by one as after a
 * mount; keys ending in '/' are markers, the others have values.  flat:
 * a flat mount, with no directories.  Free it with inode_tree_free(). */
struct inode_tree *il_tree(int flat, const char *const *keys);

/* The node at path ("a/b"), looked up component by component (with a
 * reference on each when ref); 0 or the lookup's error. */
int il_lookup_path(
    struct inode_tree *t, const char *path, int ref, struct inode_info *out);

/* The node id at path, which must be there. */
uint64_t il_node(struct inode_tree *t, const char *path);

/* The node at path has the key want. */
void il_assert_key(struct inode_tree *t, const char *path, const char *want);

/* The offset of node nodeid's block that the build was given (the hint of
 * inode_key_version()), or 0. */
uint64_t il_at(struct inode_tree *t, uint64_t nodeid);

/* What il_take() was given by inode_readdir(). */
struct il_listing {
	char names[64][PATH_NAME_MAX + 1];
	off_t offs[64];
	int n;
	int max; /* entries to accept per call */
};

/* inode_readdir()'s callback: keep the entry in the struct il_listing at
 * arg, or say that it is full.  Aborts past 64 entries (readers call it
 * where ck_assert cannot be used). */
int il_take(void *arg, const char *name, size_t nlen,
    const struct inode_info *info, off_t off);

#endif
