/*
 * The FUSE handlers of ops*.c, for ops_table in ops.c, and the helpers
 * they share: ops.c (what is shared, attributes, the table), ops-file.c
 * (open files) and ops-dir.c (directories and names).  fs.h declares what
 * the rest of the daemon sees: ops_table, and ops_rfd_renew() for jobs.
 */
#ifndef OPS_H
#define OPS_H

#include <stdint.h>
#include <sys/types.h>

#include "fs.h"

/* ops.c */

/* The mount a request is for. */
static inline struct fs *
ops_fs(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* The open file of fi: NULL for a file the kernel opened without asking (a
 * read-only mount, op_open()). */
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
