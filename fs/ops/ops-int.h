/*
 * What the files of fs/ops/ share: the FUSE handlers of ops*.c, for
 * ops_table in ops.c, and the helpers they share; renames (move.c); open
 * files (handle.c), whose buffers are handle-int.h's; reads by a node's
 * key (node-read.c); and decode.c's texts.  The rest of the daemon sees
 * the room through its door, fs/ops.h.
 */
#ifndef FS_OPS_INT_H
#define FS_OPS_INT_H

#include <stdint.h>
#include <sys/types.h>

#include "bltvalue.h"
#include "indexer.h"
#include "index.h"
#include "ops.h"

/* move.c */

/* Rename name in parent to newname in newparent (a file or a whole subtree)
 * in the store, crash-safely, then in the index.  Holds: fs->wlock. */
int move_rename(struct fs *fs, uint64_t parent, const char *name,
    uint64_t newparent, const char *newname, unsigned flags);

/* handle.c */

/* An open file: reads from the store, or from the write buffer that all
 * the file's writers share once one of them wrote; handle_commit() stores
 * the buffer as one put. */
struct handle;

int handle_create(
    struct fs *fs, uint64_t nodeid, int flags, int fresh, struct handle **out);
void handle_free(struct handle *h);
int handle_release(struct handle *h);
int handle_is_open(struct fs *fs, uint64_t nodeid);
ssize_t handle_read(struct handle *h, void *buf, size_t n, uint64_t off);
int handle_direct(const struct handle *h);
/* Thread tid (a request's pid) opened h: the stats of the file by tid's
 * process give the size of the version a direct h reads, found here
 * (handle_told_size()).  -ENOENT if another process deleted the key
 * since the kernel looked its name up, else 0. */
int handle_opened_by(struct handle *h, pid_t tid);
/* 1 with *size and *ts the size and timestamp of the version a file read
 * past the page cache keeps (from its open, or the value's now if it kept
 * none), if thread tid's process has nodeid open so; else 0, or a
 * negative errno.  A program that reads as many bytes as fstat(2) says
 * (rsync, tar) reads that version whole, not the start of a longer one
 * that another process wrote between its stat and its first read, nor
 * fails because another process deleted the key since its open. */
int handle_told_size(
    struct fs *fs, uint64_t nodeid, pid_t tid, uint64_t *size, int64_t *ts);
int handle_turn(struct handle *h);
/* The name of nodeid has just been made by a create or mknod (under
 * fs->wlock): pending until handle_created() with the open file made for
 * it (h), or NULL if none was.  -ENOMEM. */
int handle_creating(struct fs *fs, uint64_t nodeid);
void handle_created(struct fs *fs, uint64_t nodeid, struct handle *h);
int handle_write(struct handle *h, const void *buf, size_t n, uint64_t off);
int handle_truncate(struct handle *h, uint64_t size);
int handle_commit(struct handle *h);
int handle_flush(struct handle *h);
/* Thread tid (a request's pid) changed the file through h. */
void handle_changed_by(struct handle *h, pid_t tid);
/* Whether a close of h by thread tid stores what h changed: not when
 * another process changed it and lives, whose copy of the descriptor tid
 * closes (a child's at its exec or exit, which a process that writes a
 * file and starts a command meanwhile makes): its own close, or the
 * release after the last, stores it, and nothing half written is stored
 * before (issue 66, finding 4). */
int handle_close_commits(struct handle *h, pid_t tid);
int handle_commit_release(struct handle *h);
int handle_find(struct fs *fs, uint64_t nodeid, uint64_t *size, int64_t *ts);
int handle_locate(struct handle *h, struct blt_entry *e);
int handle_set_time(struct fs *fs, uint64_t nodeid, int64_t ts);
int handle_keep(struct fs *fs, uint64_t nodeid);
void handle_orphan(struct fs *fs, const struct inode_info *in);
int handle_pin(struct handle *h);
int handle_unkept(struct fs *fs, uint64_t nodeid);

/* node-read.c */

/* Where the value of a file lies in the store, read by its key while no
 * unlink or rename changes that key; with hint, from the block the scan
 * found for it while that still holds its value (for its size and time).
 * -ESTALE once the file has no name, -ENOENT if it is not stored yet. */
int node_find(struct fs *fs, uint64_t nodeid, int hint, struct blt_entry *e);
/* Read up to n bytes at off of a file's stored value, the same way: the
 * byte count (0 at the end, and for a file not stored yet), or a negative
 * errno.  seen: for a file the kernel reads past its page cache, which
 * takes the bytes whole whatever size it holds (op_open()): the version
 * its reads give (handle-int.h); NULL for one it reads through the
 * cache. */
struct node_seen;
ssize_t node_read(struct fs *fs, uint64_t nodeid, struct node_seen *seen,
    void *buf, size_t n, uint64_t off);
/* Whether a file whose key the store has not (-ENOENT) reads as empty:
 * created through this mount and not stored yet, while the mount holds
 * the store; else it is gone (a key another process deleted, its name
 * not swept yet). */
int node_unstored(struct fs *fs, uint64_t nodeid);

/* decode.c */

struct decode_text; /* an open file's decoded text (handle.c) */

/* A decode mount whose files cannot be written: the serializer's values
 * can be shown but not encoded from text. */
int decode_readonly(const struct fs *fs);
/* The text of nodeid's stored value into text (empty for a file not
 * stored yet), read while no unlink or rename changes its key.  -ESTALE
 * once the node has no name, -ENOMEM, or an error of the store. */
int decode_get(struct fs *fs, uint64_t nodeid, struct blt_value_buf *text);
/* The decoded size of in, a stored file, from the cache or decoded now. */
int decode_size(struct fs *fs, const struct inode_info *in, uint64_t *size);
/* Read up to n bytes at off of nodeid's text; *dt (may be NULL) keeps
 * the text for the next read of an open file, made on the first. */
ssize_t decode_read(struct fs *fs, uint64_t nodeid, struct decode_text **dt,
    void *buf, size_t n, uint64_t off);
/* An open file's text, for decode_read(); NULL without memory. */
struct decode_text *decode_text_new(void);
void decode_text_free(struct decode_text *dt);
/* 1 if text is what nodeid's stored value decodes to now (writing it
 * back would change nothing), else 0, or a negative errno. */
int decode_unchanged(
    struct fs *fs, uint64_t nodeid, const void *text, size_t len);
/* Encode text for nodeid into out.  -EINVAL (logged, naming the key and
 * the cause), -ENOMEM. */
int decode_encode(struct fs *fs, uint64_t nodeid, const void *text, size_t len,
    struct blt_value_buf *out);
/* A raw mount's value for nodeid, before it is stored: 0 if the store's
 * value serializer would read it back (blt_value_check()), else -EINVAL,
 * logged naming the file and why (a str store's value that is not UTF-8,
 * say), or -ENOMEM. */
int decode_check_raw(
    struct fs *fs, uint64_t nodeid, const void *val, size_t len);

/* ops.c */

/* ops.c */

/* Whether the index may lack a key the store has: another process's put
 * that the mount has not followed yet, or one a rescan has not reached. */
int ops_behind(struct fs *fs);
/* Put name in parent into the index if the store has it as a file's key
 * (ops_behind()): 0, -ENOENT if the store has no such key either, or
 * another negative errno.  Holds: fs->wlock. */
int ops_learn_behind(
    struct fs *fs, uint64_t parent, const char *name, size_t nlen);

/* The mount a request is for. */
static inline struct fs *
ops_fs(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* How long after another process was last seen at work on the store the
 * mount still reads as if it were (ops_others()). */
#define OPS_OTHERS_WITHIN 30.0

/* Whether another process writes the store, or did lately: the kernel's
 * caches of sizes and pages may then be older than the value a read
 * gets, which it would cut or mix (node_read()).  Files opened meanwhile
 * are read past the page cache (op_open()), and sizes are not kept. */
static inline int
ops_others(struct fs *fs)
{
	return blt_others_active(fs->db, OPS_OTHERS_WITHIN);
}

/* The open file of fi: NULL for a file a read-only mount opened without a
 * handle (op_open()). */
static inline struct handle *
ops_handle(const struct fuse_file_info *fi)
{
	return (struct handle *)(uintptr_t)fi->fh;
}

/* Fill e with the entry of the node in: 0 or a negative errno. */
int ops_entry(
    struct fs *fs, const struct inode_info *in, struct fuse_entry_param *e);
void ops_reply_entry(
    fuse_req_t req, struct fs *fs, const struct inode_info *in);
void ops_stale(struct fs *fs, const struct inode_stale *s, uint64_t parent,
    const char *name);
int ops_fail(int rc, const char *msg);

/* ops-file.c */

int ops_rfd_open(struct fs *fs, uint64_t *gen);
void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
    struct fuse_file_info *fi);
void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi);
void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
    off_t off, struct fuse_file_info *fi);
void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_fsync(
    fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);

/* ops-dir.c */

/* An empty directory is kept by a marker, the key "dir/" (doc/keys.md),
 * only while it is empty, so that a Python reader of the store meets
 * markers for empty directories alone.  Directory dir got an entry (a
 * directory made in it, a file's value stored, a name moved in): its
 * marker goes; a marker that cannot go stays, harmless.  dir lost its
 * last entry: a marker keeps it (none for a store whose serializer has no
 * marker value, fs->marker).  The root has none.  fs->wlock held. */
void ops_dir_filled(struct fs *fs, uint64_t dir);
void ops_dir_emptied(struct fs *fs, uint64_t dir);

int ops_new_node(struct fs *fs, const struct fuse_ctx *who, uint64_t parent,
    const char *name, int type, mode_t mode, int excl, int *existed,
    struct inode_info *in, struct inode_stale *s);
void op_readlink(fuse_req_t req, fuse_ino_t ino);
void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
    dev_t rdev);
void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void op_symlink(
    fuse_req_t req, const char *link, fuse_ino_t parent, const char *name);
void op_link(
    fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname);
void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
    fuse_ino_t newparent, const char *newname, unsigned int flags);
void op_fsyncdir(
    fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi);
void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi);

#endif
