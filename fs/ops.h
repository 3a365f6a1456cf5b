/*
 * The door of fs/ops/: the FUSE operations on the mount's files and
 * directories, and what they stand on: open files and the write buffers
 * their writers share, reads of the store by a node's key that wait out
 * renames, renames in the store, and -o decode's texts.  Its insides are
 * fs/ops/ops-int.h's and fs/ops/handle-int.h's.
 *
 *	ops.c		the operations table, attributes, lookups
 *	ops-file.c	opens, reads, writes, commits of files
 *	ops-dir.c	directories and names
 *	move.c		renames, in the store and then in the index
 *	handle.c	open files; filebuf.c, their write buffer
 *	node-read.c	reads of the store by a node's key
 *	decode.c	-o decode: values shown as text, text encoded back
 *
 * After a commit that stored something, the room calls fs->stored (see
 * struct fs), so that the room above it that prunes hears of it without
 * this one knowing it.
 */
#ifndef FS_OPS_H
#define FS_OPS_H

#include <stdio.h>

#include "mount.h"

/* ops.c */

/* The operations table for fuse_session_new(); userdata is struct fs. */
extern const struct fuse_lowlevel_ops ops_table;

/* ops-file.c */

/* After a prune: spliced reads go to the file that took the store's
 * place, and the old one is let go of in the caller's thread (a job's),
 * which then pays for freeing its pages rather than the next read. */
void ops_rfd_renew(struct fs *fs);

/* handle.c */

/* Write buffers past this size move from memory to a temporary file. */
#define HANDLE_SPILL (8u << 20)

/* The open files of fs, made before the session starts. */
int handle_set_create(struct fs *fs, struct handle_set **out);
void handle_set_free(struct handle_set *s);
/* Store what every open file holds (at unmount). */
int handle_commit_all(struct fs *fs);
/* Whether nodeid has changes not stored yet (a file being written, or
 * created and not closed): its name stays while they wait, whatever the
 * store holds. */
int handle_pending(struct fs *fs, uint64_t nodeid);
/* The names creates made that have no key yet: the index holds that many
 * names more than the store has keys, and no other process deleted them. */
uint64_t handle_unstored(struct fs *fs);
/* A close of the open file fh (a FUSE flush's) was refused the store's
 * lock: its writer was told the file is not stored, so what it holds is
 * not stored later either (at its release, or a close of another of its
 * descriptors), unless it is written again. */
void handle_refuse(uint64_t fh);

/* node-read.c */

/* Wake the reads by key waiting for an unlink or rename, which has just
 * unmarked its nodes, or for a prune that evicts keys (fs->evict_seq). */
void node_moves_ended(struct fs *fs);

/* decode.c */

/* A decode mount (-o decode): every file shows its value as text
 * (blt_value_decode()'s file form), and text written to a file is encoded
 * with the store's value serializer when it is committed.  The write
 * buffer of a file (filebuf.c) then holds text; reads of a file nobody
 * writes go through decode_read(), sizes through decode_size().  What was
 * decoded is kept per node, by the node's generation and aver (which
 * moves with every change of its value, inode.c), so a prune that moves
 * values but changes none keeps it, and a commit or a job's write drops
 * it. */
struct decode_cache;

/* Set up decoding for fs after its index is loaded: asked is -o decode,
 * ser the store's value serializer.  -ENOMEM. */
int decode_init(struct fs *fs, unsigned ser, int asked);
void decode_free(struct fs *fs);
/* status's "values" member. */
void decode_status_json(struct fs *fs, FILE *f);

#endif
