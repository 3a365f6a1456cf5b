/*
 * The door of fs/index/: keys as paths and the directory index, the tree
 * of names a mount shows, made from the store's keys.  The room knows no
 * mount, no FUSE and no store file: it maps bytes to names and keeps the
 * tree, and the rooms above it (fs/indexer/ fills it from a scan, fs/ops/
 * serves requests from it) decide what goes in.  Its insides (the node,
 * the listings, inode numbers) are fs/index/inode-tree.h's.
 *
 *	path.c		keys to paths and back, and their escapes (doc/keys.md)
 *	ino.c		inode numbers: a hash of where a node stands
 *	inode*.c	the tree: nodes, listings, changes, the bulk build,
 *			keys of nodes, readdir, the tree as bytes
 *
 * A function that fails "with a message" (or "message set") records it
 * with blt_errmsg_set(): the engine's one slot per thread.
 */
#ifndef FS_INDEX_H
#define FS_INDEX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* path.c */

/* Longest name of one path component, as Linux allows. */
#define PATH_NAME_MAX 255

/* The escape character, U+201B SINGLE HIGH-REVERSED-9 QUOTATION MARK, in
 * UTF-8.  Every escape in a name starts with it (doc/keys.md). */
#define PATH_ESC "\xe2\x80\x9b"
#define PATH_ESC_LEN 3

/* The name of the file whose key is its directory's own path (the key "dir"
 * when keys "dir/..." exist too); it is listed inside that directory. */
#define PATH_SELF PATH_ESC "."
#define PATH_SELF_LEN 4

/* How keys of one mount map to names: fixed at mount time. */
struct path_conf {
	unsigned key_ser; /* the store's key serializer code */
	int flat;       /* 1: no directory splitting (-o flat, integer keys) */
	int int_width;  /* integer keys: bytes per key, else 0 */
	int int_signed; /* integer keys: two's complement */
	char ctl[PATH_NAME_MAX + 1]; /* control directory name */
	size_t ctl_len;
	/* the length of the value of a directory marker the mount writes
	 * (blt_value_marker()): one of this length, or an empty one, makes
	 * a key "dir/" a marker (0: empty only) */
	size_t marker_len;
};

/* Kinds of path components, see struct path_walk. */
#define PATH_DIR 1  /* a directory: the key continues below it */
#define PATH_CONT 2 /* a piece of a segment over 255 bytes: a directory */
#define PATH_LEAF 3 /* the name of the key itself: a file */

/* Walks the components of one key's path, root first.  Fill it with
 * path_walk_start(), then call path_walk_next() until it returns 0.  The
 * key is borrowed for the whole walk. */
struct path_walk {
	const struct path_conf *pc;
	const unsigned char *key;
	size_t klen;
	size_t end;     /* key bytes the walk covers (a marker's '/' is not) */
	size_t seg;     /* start of the current segment */
	size_t seg_end; /* end of the current segment */
	size_t pos;     /* next byte of the segment to encode */
	size_t left;    /* encoded bytes of the segment not yet emitted */
	int depth;      /* segments done so far (0: at the root) */
	int mode;       /* how the current segment is encoded */
	int marker;     /* the key is a directory marker */
	int done;
	int kind; /* PATH_DIR, PATH_CONT or PATH_LEAF */
	size_t nlen;
	char name[PATH_NAME_MAX + 1]; /* NUL-terminated */
};

/* Set up pc for a store with key serializer key_ser; flat as -o flat; ctl
 * the control directory's name (NULL: BLTFS_CTL_NAME, bltfs.h).  Integer
 * serializers force flat.  -EINVAL (message set) for a bad ctl name. */
int path_is_ctl(const struct path_conf *pc, const char *name, size_t len);
int path_conf_init(
    struct path_conf *pc, unsigned key_ser, int flat, const char *ctl);

/* 1 if a key of klen bytes whose value is vlen bytes is a directory marker
 * (it ends in '/', its value is empty or pc->marker_len bytes long, the
 * mount is not flat); path_may_be_marker() says whether the key alone
 * could be one, whatever its value. */
int path_may_be_marker(
    const struct path_conf *pc, const void *key, size_t klen);
int path_is_marker(
    const struct path_conf *pc, const void *key, size_t klen, uint64_t vlen);

/* Start walking the path of key; marker as path_is_marker() says. */
void path_walk_start(struct path_walk *w, const struct path_conf *pc,
    const void *key, size_t klen, int marker);

/* The next component into w->name/nlen/kind: 1, or 0 after the last one. */
int path_walk_next(struct path_walk *w);

/* The length of the segment of a key at s (n bytes to the key's end; depth
 * segments before it) if its name is its bytes as they are, else 0: then
 * path_walk_next() says what it is. */
size_t path_plain_segment(
    const struct path_conf *pc, const void *s, size_t n, int depth);

/* Decode one name into raw key bytes at out (room for nlen + 8 bytes)
 * and its kind: PATH_LEAF (plain; also for directories), PATH_CONT (a
 * continuation piece) or 0 for PATH_SELF.  Returns the byte count or
 * -EINVAL (message set) for a name that no key can have; whether the name
 * is canonical where it stands is for the caller (see inode_child_key()). */
ssize_t path_decode_name(const struct path_conf *pc, const char *name,
    size_t nlen, unsigned char *out, int *kind);

/* Whether name ends in U+201B '+', as the pieces of long segments do. */
int path_is_piece(const char *name, size_t nlen);

/* The whole path of key ("a/b/c"), NUL-terminated, for messages, tests and
 * the ctl interface; the caller frees *out.  -ENOMEM. */
int path_of_key(const struct path_conf *pc, const void *key, size_t klen,
    int marker, char **out, size_t *len);

/* ino.c */

/* The hash of a name that inode numbers are made of, seeded; the index
 * cache sums its files with it too (fs/indexer/). */
uint64_t ino_hash_name(uint64_t seed, const char *name, size_t nlen);

/* inode*.c */

/* The directory index: a tree of nodes made from the list of keys.  Every
 * function takes the tree's lock itself (readers in parallel, writers one at
 * a time, and ahead of new readers).  inode_readdir() calls its callback
 * without the lock; inode_walk_keys() holds the read lock around its
 * callback, which must not call any inode_* function.  Nodes are named by
 * nodeid, the number the kernel knows them by: INODE_ROOT for the root, stable
 * for the mount's life while the kernel holds a lookup reference (see
 * inode_forget()).  A file is a node only while something holds it; until
 * then it is a name in its directory's listing, which readdir gives with
 * nodeid 0 (see inode_lookup()). */
struct inode_tree;

#define INODE_ROOT 1 /* FUSE_ROOT_ID */

/* Node types. */
#define INODE_FILE 1 /* a key */
#define INODE_DIR 2  /* a directory: implied by keys below it, or a marker */

/* Node flags. */
#define INODE_MARKER 1 /* a directory with a marker key ("dir/", empty) */
#define INODE_CONT 2   /* a continuation piece of a long segment */
#define INODE_SELF 4   /* the file PATH_SELF: its key is its dir's path */
#define INODE_GONE 8   /* removed from the tree, kept for the kernel */

/* What the tree knows of one node, copied out under the lock. */
struct inode_info {
	uint64_t nodeid; /* for fuse_entry_param.ino and later calls */
	uint64_t ino;    /* st_ino: a hash of the path (fs/index/ino.c), unique
	                  * among the nodes of the mount */
	uint32_t gen;    /* generation: tells nodes at one nodeid apart */
	uint64_t parent; /* nodeid of the parent (the root's is the root) */
	int type;        /* INODE_FILE or INODE_DIR */
	unsigned flags;  /* INODE_* flags */
	uint32_t nlink;  /* 1 for files, 2 + subdirectories for dirs */
	uint64_t nchildren; /* entries of a directory */
	int attr;           /* a file whose size and ts the tree knows */
	uint64_t size;      /* with attr: the value's length */
	int64_t ts;         /* with attr: its timestamp, or BLT_NO_TS; a
	                     * directory's: when its entries last changed in
	                     * this mount, or BLT_NO_TS */
	uint32_t aver;      /* for inode_fill_attr() */
	uint64_t attr_sets; /* for inode_attr_recheck() */
	unsigned mode;      /* INODE_MODE_SET | the bits a create, mkdir or
	                     * chmod gave, or 0 for the mount's default;
	                     * INODE_UID_SET, INODE_GID_SET: uid, gid hold
	                     * the node's owner and group */
	uint32_t uid, gid;
};

/* struct inode_info's mode holds bits of its own. */
#define INODE_MODE_SET 0x8000
#define INODE_UID_SET 0x4000
#define INODE_GID_SET 0x2000
#define INODE_NO_ID UINT32_MAX /* inode_set_owner(): unchanged */

/* A name that changed without the kernel asking (a key added or removed by
 * a job, a file moved into its directory as PATH_SELF).  The caller should
 * pass it to fuse_lowlevel_notify_inval_entry() once the call returned. */
struct inode_stale {
	int valid;       /* 0: nothing to tell */
	uint64_t parent; /* nodeid of the directory */
	uint64_t nodeid; /* the node that had the name */
	size_t nlen;
	char name[PATH_NAME_MAX + 1];
};

/* One entry for inode_readdir(); off is the offset of the next entry.
 * Return 0 to go on, 1 if it did not fit (the entry is not counted). */
typedef int inode_dirent_fn(void *arg, const char *name, size_t nlen,
    const struct inode_info *info, off_t off);

/* One key of a subtree for inode_walk_keys(): a file's key, or a marker key
 * (type INODE_DIR).  The key is borrowed until the callback returns; a
 * nonzero return stops the walk and is returned. */
typedef int inode_key_fn(
    void *arg, const unsigned char *key, size_t klen, int type);

/* Create an empty tree (just the root) using pc (copied); size_hint is the
 * expected number of keys (0 if unknown).  -ENOMEM. */
int inode_tree_create(
    const struct path_conf *pc, size_t size_hint, struct inode_tree **out);

/* One key for inode_tree_build(): set *key (borrowed until the next call),
 * *klen, *vlen (the value's length) and *at (the offset of its block in
 * the store, blt_item.offset, or 0) and return 1; 0 at the end, or a
 * negative errno to stop the build.  INODE_NEXT_LATER (no key) lets go of
 * the tree's lock until the next call, which may wait for keys. */
#define INODE_NEXT_LATER 2
typedef int inode_next_fn(
    void *arg, const void **key, size_t *klen, uint64_t *vlen, uint64_t *at);

/* Build a tree from every key next gives (a scan of the store at mount
 * time): the same tree as inode_tree_create() and inode_put_key() for each
 * key, several times faster and smaller for a large store.  Files keep no
 * size or time: stat asks the store, once per node, at the offset of the
 * key's block if next gave one.  Returns next's error,
 * -ENOMEM or -EINVAL (a key over BLT_KEY_MAX). */
int inode_tree_build(const struct path_conf *pc, inode_next_fn *next, void *arg,
    struct inode_tree **out);

/* inode_tree_build() in steps, for a mount that answers while its tree is
 * built (-o lazy, scan.c): begin makes the tree, empty and building, which
 * may be shared at once; fill_dirs may put in the directories of every key
 * first, so that lookups find them sooner (lazy.c); fill puts every key in
 * and settles the tree.  Both hold its write lock for a batch of keys at a
 * time.  Until the tree is settled, inode_lookup() answers only for the
 * directories met so far and the files looked up (-EAGAIN for any other
 * name); directories show a link count of 1.  (Whether the mount's tree
 * is still building is lazy.c's to say.)  A fill that failed leaves the
 * tree building, for inode_tree_free() alone. */
int inode_tree_begin(const struct path_conf *pc, struct inode_tree **out);
int inode_tree_fill_dirs(struct inode_tree *t, inode_next_fn *next, void *arg);
int inode_tree_fill(struct inode_tree *t, inode_next_fn *next, void *arg);

/* During a build, the file name in parent, which the caller found in the
 * store (its key, as inode_child_key() makes it), before the scan has
 * listed it: inode_lookup() with ref 1 of a node made for it now, which
 * the scan's entry of the key later joins.  -EAGAIN once the build has
 * ended (look it up again), -ENOTDIR, -ENOMEM. */
int inode_lookup_unscanned(struct inode_tree *t, uint64_t parent,
    const char *name, size_t nlen, struct inode_info *out);

/* Bytes of a saved tree for inode_tree_save(): 0, or a negative errno
 * with blt_errmsg() set, which ends the save. */
typedef int inode_put_fn(void *arg, const void *p, size_t n);

/* Write t through put (inode-save.c), holding its read lock; locked(larg)
 * is called (if not NULL) once the lock is held, before anything can
 * change t.  Only a tree as inode_tree_build() left it is saved:
 * -EAGAIN if the mount changed it; put's error; -ENOMEM. */
int inode_tree_save(struct inode_tree *t, inode_put_fn *put, void *arg,
    void (*locked)(void *), void *larg);

/* The tree of the len bytes at p, which inode_tree_save() wrote with this
 * build, checked through (file names them in messages): -EINVAL if they
 * do not make one, -ENOMEM. */
int inode_tree_load(const struct path_conf *pc, const void *p, size_t len,
    const char *file, struct inode_tree **out);

/* Free the tree and every node; safe on NULL. */
void inode_tree_free(struct inode_tree *t);

/* The size and timestamp a file's value has now (a commit): its info gets
 * attr.  inode_put_key() drops them (the caller did not say the ts). */
void inode_set_attr(
    struct inode_tree *t, uint64_t nodeid, uint64_t size, int64_t ts);

/* Keep mode (its permission bits) as nodeid's for the mount's life:
 * inode_info's mode from now on.  Never stored. */
void inode_set_mode(struct inode_tree *t, uint64_t nodeid, unsigned mode);
/* The same for nodeid's owner and group (INODE_NO_ID: unchanged). */
void inode_set_owner(
    struct inode_tree *t, uint64_t nodeid, uint32_t uid, uint32_t gid);

/* Set a directory's time (utimensat): the listings' times are the
 * mount's, never stored. */
void inode_set_dir_time(struct inode_tree *t, uint64_t nodeid, int64_t ts);

/* The size and timestamp the store gave for a file whose info had no
 * attr, with the aver that info had: kept only if nothing changed the
 * node since. */
void inode_fill_attr(struct inode_tree *t, uint64_t nodeid, uint32_t aver,
    uint64_t size, int64_t ts);

/* Read in's size and timestamp again if a commit recorded any file's
 * since in was filled (after handle_find() found the file clean). */
void inode_attr_recheck(struct inode_tree *t, struct inode_info *in);

/* Drop what the tree knows of nodeid's size and timestamp. */
void inode_forget_attr(struct inode_tree *t, uint64_t nodeid);
/* The value whose size and timestamp a stat of nodeid told the kernel:
 * where it lay in the store (an entry's value_off; 0: none known;
 * INODE_TOLD_SIZE: its size alone, from the index), its length and
 * timestamp.  inode_told() gives them back: 1, or 0 if none.  For
 * INODE_TOLD_SIZE it gives INODE_TOLD_AT | the block where the scan found
 * the key, when the tree knew it at the tell: the version told lies there
 * while that block stands (blt_value_off()), though the key was written
 * again since. */
#define INODE_TOLD_SIZE 1 /* no value lies there: byte 1 is the header's */
#define INODE_TOLD_AT (UINT64_C(1) << 63) /* past any file's end */
void inode_tell(struct inode_tree *t, uint64_t nodeid, uint64_t off,
    uint64_t size, int64_t ts);
int inode_told(struct inode_tree *t, uint64_t nodeid, uint64_t *off,
    uint64_t *size, int64_t *ts);

/* The mapping the tree uses (borrowed for the tree's life). */
const struct path_conf *inode_conf(struct inode_tree *t);

/* Record that key exists with a value of vlen bytes (a mount scan, a put, a
 * job's write): adds its node and the directories above it, or turns a
 * marker into a file and back as vlen says.  O(path length).  out (may be
 * NULL) gets the node; stale (may be NULL) a name that moved.  -ENOMEM,
 * -EINVAL (key longer than BLT_KEY_MAX). */
int inode_put_key(struct inode_tree *t, const void *key, size_t klen,
    uint64_t vlen, struct inode_info *out, struct inode_stale *stale);

/* vlen for inode_put_key() of a file whose value is not stored yet: a file
 * even where its key ends in '/', which an empty value makes a marker. */
#define INODE_VLEN_UNSTORED UINT64_MAX

/* Record that key is gone: removes its file node, or the marker flag of its
 * directory (directories stay until inode_rmdir()).  -ENOENT if the tree
 * has no such key. */
int inode_del_key(struct inode_tree *t, const void *key, size_t klen,
    struct inode_stale *stale);

/* Find name in directory parent; with ref 1, count a lookup reference
 * (FUSE lookup, create, mkdir).  A file is a node only once looked up:
 * ref 0 makes its node and keeps it while the file is in the tree, so
 * that the nodeid stays valid without a reference; ref INODE_PEEK makes
 * none, and out->nodeid is 0 for a file that has none (nothing the
 * kernel holds).  -ENOENT, -ENOTDIR, -ENOMEM. */
#define INODE_PEEK 2
int inode_lookup(struct inode_tree *t, uint64_t parent, const char *name,
    size_t nlen, int ref, struct inode_info *out);

/* What the tree knows of nodeid.  -ESTALE for a node no longer in the tree
 * (still valid until forgotten, with INODE_GONE set in out). */
int inode_stat(struct inode_tree *t, uint64_t nodeid, struct inode_info *out);

/* How the kernel has used a directory, which decides how to answer it. */
#define INODE_SEEN_LISTED 1 /* opened for listing */
#define INODE_SEEN_LOOKUP 2 /* a child looked up (inode_lookup() with ref) */
/* a lookup was told there is no such name, which the kernel may keep
 * (op_lookup()) */
#define INODE_SEEN_MISSED 4
#define INODE_SEEN_ALL 7

/* Mark directory dir as used so (0: no new use), and return how it was used
 * before: INODE_SEEN_* bits, all of them for a node that is not a
 * directory. */
unsigned inode_dir_seen(struct inode_tree *t, uint64_t dir, unsigned how);

/* Drop n lookup references (FUSE forget); frees a removed node at 0. */
void inode_forget(struct inode_tree *t, uint64_t nodeid, uint64_t n);

/* The key of nodeid: a file's key, or a directory's marker key ("dir/",
 * "" for the root).  The caller frees *key.  -ESTALE for a removed node,
 * -EINVAL for a continuation piece (it has no key of its own). */
int inode_key(
    struct inode_tree *t, uint64_t nodeid, unsigned char **key, size_t *klen);

/* inode_key() for a read of the store by key, with the version of the
 * node's path: -EAGAIN while an unlink or rename (inode_move_mark())
 * changes it or a directory above it; after the read, inode_key_still()
 * says whether the key still named the node's value throughout.  *at is
 * where the scan found a file's block, or 0: a hint for blt_find_at(). */
int inode_key_version(struct inode_tree *t, uint64_t nodeid,
    unsigned char **key, size_t *klen, uint64_t *ver, uint64_t *at);
int inode_key_still(struct inode_tree *t, uint64_t nodeid, uint64_t ver);

/* Begin, then end, a change of the keys at and below nodeid (an unlink
 * or rename, which changes the store before the index); the caller holds
 * a lookup reference on the node meanwhile. */
void inode_move_mark(struct inode_tree *t, uint64_t nodeid);

/* The key that a new child name of parent would have: a file's key for
 * INODE_FILE, the marker key for INODE_DIR.  Checks that the name is the
 * one the key would be listed as: -EINVAL (message names the reason) if
 * not, -EPERM for a directory in a flat mount, -ENAMETOOLONG.  The caller
 * frees *key. */
int inode_child_key(struct inode_tree *t, uint64_t parent, const char *name,
    size_t nlen, int type, unsigned char **key, size_t *klen);

/* Add the directory name, a piece of a long segment (path_is_piece()),
 * under parent, as mkdir does: nothing is stored, as the keys below it
 * are what make it.  -EINVAL (message set) unless a long name would be cut
 * there, -EEXIST, -ENOTDIR, -ENOENT, -ENAMETOOLONG. */
int inode_add_piece(
    struct inode_tree *t, uint64_t parent, const char *name, size_t nlen);

/* List directory dir from offset off: ".", "..", then the entries in the
 * order they were added.  Offsets stay valid while entries come and go.
 * With plus, each entry fn accepted gains a lookup reference (readdirplus),
 * and fn runs without the tree's lock, so it may call inode_* functions.
 * Without, fn runs under the read lock, must not call them, and the node an
 * entry names may be gone once fn has returned.  Returns 0 or -ENOTDIR,
 * -ESTALE. */
int inode_readdir(struct inode_tree *t, uint64_t dir, off_t off, int plus,
    inode_dirent_fn *fn, void *arg);

/* From an inode_readdir() fn without plus, under the read lock: a lookup
 * reference on the node of the entry info, which keeps it, removed or not,
 * until inode_forget() drops it.  A sweep that lists a directory later
 * needs it (tests/mount-fsx.sh met one freed by an rmdir meanwhile). */
void inode_hold_entry(struct inode_tree *t, const struct inode_info *info);

/* Every key at and below nodeid (a file: its key; a directory: its marker,
 * its PATH_SELF file and everything below), for renaming or removing a
 * subtree in the store.  Returns 0, fn's nonzero return, or -ESTALE. */
int inode_walk_keys(
    struct inode_tree *t, uint64_t nodeid, inode_key_fn *fn, void *arg);

/* A witness of each directory but the root that holds a key itself: the
 * key of one of its files, or its marker (type INODE_DIR) if it has no
 * file; a directory holding only directories has its subdirectories'.
 * While a witness is in the store, its directories are there (dir-hints.c
 * keeps them for the next lazy build).  Holds the read lock; returns 0,
 * fn's nonzero return or -ENOMEM. */
int inode_tree_witnesses(struct inode_tree *t, inode_key_fn *fn, void *arg);
/* How many times a directory was made or moved since the tree was built
 * or loaded: the witnesses may have changed since it was last this. */
uint64_t inode_dir_changes(struct inode_tree *t);

/* Move name in parent to newname in newparent, keeping the node (and the
 * nodeids below it): the keys of the whole subtree change with it.  flags
 * as renameat2(): RENAME_NOREPLACE gives -EEXIST; RENAME_EXCHANGE is
 * -EINVAL.  An existing target is replaced as rename(2) says (-EISDIR,
 * -ENOTDIR, -ENOTEMPTY); stale (may be NULL) gets the replaced node.  The
 * store must be changed first: see inode_walk_keys().  -EINVAL also for a
 * name the new key would not be listed as (see inode_child_key()). */
int inode_rename(struct inode_tree *t, uint64_t parent, const char *name,
    size_t nlen, uint64_t newparent, const char *newname, size_t newnlen,
    unsigned flags, struct inode_stale *stale);

/* Remove directory dir if it has no entry and no marker key: all that
 * made it was keys below it, and another process deleted the last of
 * them.  Returns the nodeid of its parent (stale gets its name), or 0 if
 * dir stays. */
uint64_t inode_drop_emptied(
    struct inode_tree *t, uint64_t dir, struct inode_stale *stale);

/* Remove the empty directory name from parent (its marker key, if any, must
 * be deleted from the store first).  -ENOTEMPTY, -ENOTDIR, -ENOENT, -EBUSY
 * for the root. */
int inode_rmdir(
    struct inode_tree *t, uint64_t parent, const char *name, size_t nlen);

/* Number of keys in the tree (files and markers). */
uint64_t inode_count(struct inode_tree *t);
/* Number of nodes: the directories, and the files the kernel holds or
 * that keep what their directory's entry cannot (about 240 bytes each,
 * where a file that is an entry costs 20 to 30). */
uint64_t inode_nodes(struct inode_tree *t);

#endif
