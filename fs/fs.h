/*
 * bltfs: the daemon's internal header.  It pins the FUSE API version and
 * reads like an index: one prototype block per source file of fs/.
 *
 * path.c maps keys to paths and back (doc/keys.md has the scheme); inode.c
 * keeps the directory index the FUSE operations in ops.c serve from, so that
 * no operation ever scans the store.
 *
 * A function that fails "with a message" (or "message set") records it
 * with blt_errmsg_set(), and blt_errmsg() gives it back: the engine's one
 * slot per thread, so that the daemon's messages and the engine's are
 * read the same way, and the last failure in a thread is the one it holds.
 */
#ifndef FS_H
#define FS_H

#define FUSE_USE_VERSION 310

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <fuse_lowlevel.h>

#include "booklet.h"
#include "bltmap.h"
#include "bltvalue.h"

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

/* Default name of the control directory in the mount root. */
#define PATH_CTL_DEFAULT ".bltfs"

/* How keys of one mount map to names: fixed at mount time. */
struct path_conf {
	unsigned key_ser; /* the store's key serializer code */
	int flat;       /* 1: no directory splitting (-o flat, integer keys) */
	int int_width;  /* integer keys: bytes per key, else 0 */
	int int_signed; /* integer keys: two's complement */
	char ctl[PATH_NAME_MAX + 1]; /* control directory name */
	size_t ctl_len;
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
 * the control directory's name (NULL: PATH_CTL_DEFAULT).  Integer
 * serializers force flat.  -EINVAL (message set) for a bad ctl name. */
int path_is_ctl(const struct path_conf *pc, const char *name, size_t len);
int path_conf_init(
    struct path_conf *pc, unsigned key_ser, int flat, const char *ctl);

/* 1 if a key of klen bytes whose value is vlen bytes is a directory marker
 * (it ends in '/', its value is empty, the mount is not flat). */
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

/* A set of inode numbers: those of nodes that moved away from the place
 * their number was made for (see fs/ino.c).  Zeroed is empty. */
struct ino_set {
	uint64_t *v; /* open addressing; 0 empty, 1 removed */
	size_t cap;  /* a power of two, or 0 */
	size_t n;    /* numbers in the set */
	size_t used; /* slots not empty (numbers and removed ones) */
};

uint64_t ino_hash_name(uint64_t seed, const char *name, size_t nlen);
uint64_t ino_home(uint64_t parent, int type, const char *name, size_t nlen);
int ino_set_has(const struct ino_set *s, uint64_t ino);
int ino_set_add(struct ino_set *s, uint64_t ino);
void ino_set_del(struct ino_set *s, uint64_t ino);
uint64_t ino_set_free_from(const struct ino_set *s, uint64_t ino);
void ino_set_free(struct ino_set *s);

/* The directory index: inode*.c, its API in inode.h (its node layout is
 * its own, in inode-tree.h). */
#include "inode.h"

/* main.c */

struct handle_set;
struct lazy;

/* The mount: what its operations, control files and jobs share.  All of
 * a mount's state is here or hangs from here, never in a process-wide
 * static (the log alone is the process's: log.c).  main.c sets it up
 * before the session starts and tears it down once the session and the
 * job runner have ended.  Meanwhile the settings and the pointers stay as
 * they are (the objects they point to have locks of their own); what
 * changes says what guards it. */
struct fs {
	struct blt *db;
	struct inode_tree *tree;
	struct fuse_session *se;
	struct handle_set *handles;
	pthread_mutex_t wlock; /* one change of the store and names at a time */
	int ro;
	int others;     /* allow_other or allow_root: not only its owner may
	                   enter the mount */
	int timestamps; /* the store keeps a timestamp per key */
	uid_t uid;      /* owner and mode bits shown for every node */
	gid_t gid;
	mode_t umask;
	/* others may enter and uid= (gid=) was not given: a node made in the
	 * mount belongs to its maker (inode_set_owner()) */
	int own_uid, own_gid;
	double timeout; /* entry and attribute timeouts, seconds */
	int64_t mtime;  /* µs: for directories and untimed keys */
	size_t spill;   /* write buffer bytes kept in memory per file */
	/* rfd and rgen: held for reading across a spliced reply, for
	 * writing to open the store file again (ops-file.c) */
	pthread_rwlock_t rlock;
	int rfd;       /* the store opened for reads by splice, or -1 */
	uint64_t rgen; /* blt_generation() when rfd was opened */
	/* blt_generation() when the index was scanned, or read from a cache
	 * of a scan of the unchanged store: the offsets of blocks that its
	 * entries keep are hints for blt_find_at() in this generation */
	uint64_t at_gen;
	/* where the last whole scan of the store left it (blt_iter_mark()),
	 * kept with the directory hints; all zero (end 0) if no scan did */
	struct blt_mark mark;
	/* reads by key that wait out an unlink or rename, or a prune's
	 * eviction, sleep on move_done (node-read.c) */
	pthread_mutex_t move_lock;
	pthread_cond_t move_done;
	struct ctl *ctl;       /* the control directory and the job runner */
	atomic_uint evict_seq; /* odd while a prune --older-than drops keys
	                          whose names are still in the index */
	atomic_int stuck_told; /* the log says why writes are refused */
	struct autoprune *autoprune; /* the daemon's own prunes */
	/* the mount point, as libfuse resolved it (realpath) */
	const char *mountpoint;
	dev_t dev; /* the mount's device, from mountinfo.c; 0 if not known */
	/* -o decode (decode.c): files show their values as text */
	int decode;               /* 1: decoded here (asked, and caps not 0) */
	int decode_asked;         /* -o decode was given */
	unsigned value_ser;       /* the store's value serializer code */
	int value_caps;           /* blt_value_caps(value_ser) */
	struct decode_cache *dec; /* decoded sizes and texts; NULL if raw */
	struct index_cache *icache; /* index-cache.c; NULL: none */
	struct lazy *lazy;          /* -o lazy: the build (lazy.c), or NULL */
};

/* index-cache.c */

/* Fill fs->tree from the index cache when it holds this store as it is
 * now, else by scan_load_tree(); a scanned index of a store of min_keys
 * keys or more is then saved for the next mount, by a thread that holds
 * the index's read lock from before this returns.  on = 0: no cache.
 * scan_load_tree()'s errors, -ENOMEM. */
int index_cache_load_tree(struct fs *fs, const struct path_conf *pc, int on,
    uint64_t min_keys, int lazy);
/* The scan of index_cache_load_tree(lazy) built the index: save it. */
void index_cache_built(struct fs *fs);
/* The "index" member of status: where the index came from, and how many
 * nodes it holds. */
void index_cache_status_json(struct fs *fs, FILE *f);
/* The mount ends: keep the directory hints again if directories were made
 * or moved since (through the mount), so that the next lazy build knows
 * them.  Before lazy_stop(): not after a lazy build that did not end. */
void index_cache_unmount(struct fs *fs);
/* Wait for a save under way, and free ic; safe on NULL. */
void index_cache_free(struct index_cache *ic);
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
/* Fill t, as inode_tree_begin() made it, from one scan of fs->db, read on
 * a thread of its own; with z, the lazy build's (lazy.c): told of each
 * batch of keys, and stopped by lazy_cancel().  With dirs_only, only the
 * directories the keys are in (inode_tree_fill_dirs()), from a scan that
 * checks no digest (blt_iter_create_unchecked()): the scan without it
 * checks them after; with since too, of the keys after that mark alone
 * (blt_iter_create_since()).  A whole scan that checks every block
 * leaves its mark in fs->mark.  Errors are logged, naming the store, but
 * for -ECANCELED, and -ESTALE of since (blt_errmsg() says why). */
int scan_fill(struct fs *fs, struct inode_tree *t, struct lazy *z,
    int dirs_only, const struct blt_mark *since);

/* lazy.c */

/* -o lazy: make fs->tree, empty, and fill it on threads of their own while
 * the mount answers, starting with the directories of the hints in the file
 * hints (dir_hints_load(); NULL: none, else it must outlast the build); then
 * index_cache_built().  Errors are logged. */
int lazy_start(struct fs *fs, const struct path_conf *pc, const char *hints);
/* Whether fs->tree is still being built (or its build failed or was
 * stopped); whether its build failed; and which of "building", "built",
 * "failed", "stopped" it is. */
int lazy_building(struct fs *fs);
int lazy_failed(struct fs *fs);
const char *lazy_state_name(struct fs *fs);
/* How many times the build moved on (a batch of keys went into the tree,
 * its first pass ended); and wait until it moves again or ends: 0, or -EIO
 * if it failed or the session ended.  Only while building. */
unsigned long lazy_moves(struct fs *fs);
int lazy_wait_move(struct fs *fs, unsigned long seen);
/* Whether the tree holds every directory: the build's first pass is done
 * (or there is no build). */
int lazy_dirs_known(struct fs *fs);
/* How many directories' hints the build confirmed (dir-hints.c), 0 if it
 * had none or has not got to them. */
int64_t lazy_hinted(struct fs *fs);
/* Whether the build found its directories in the hints and the keys
 * written since, without the first pass. */
int lazy_since(struct fs *fs);
/* For a lookup of a name the tree has not met while the first pass runs:
 * one step of the sample of the store's keys (sample.c), whose
 * directories go into the tree: 1, then look again; or 0 if the sample
 * has no more to give (then wait for the first pass). */
int lazy_sample(struct fs *fs);
/* How many keys the sample read. */
uint64_t lazy_sampled(struct fs *fs);
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

/* log.c */

/* Log one line: stderr in the foreground, syslog once daemonized; the
 * last 16 are kept for the status file. */
void fs_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Log to syslog from now on: the daemon has left its terminal. */
void fs_log_syslog(void);
/* Those lines, oldest first, as a JSON array of {"time", "message"}. */
void fs_log_recent(FILE *f);

/* While the store takes no more writes until it is mounted again (a
 * reindex failed half-way, BLT_REINDEX_STUCK, or a failed write left a
 * torn end, BLT_TORN_TAIL), why and what to do, in the
 * words of status, the log and jobs/ID; else NULL.  Any thread, no lock
 * needed. */
const char *fs_stuck(struct fs *fs);

/* Log that a read of key from the store failed with rc, naming the store,
 * the key and the cause (blt_errmsg()); nothing for -ENOENT and -ESTALE,
 * which are not failures of the store. */
void fs_log_read(struct fs *fs, const unsigned char *key, size_t klen, int rc);

/* Log why a change of the store failed (blt_errmsg(), after "what: " if
 * what is not NULL).  Once the store takes no more writes, the first
 * failure also logs that, with what to do, and later ones log nothing:
 * each would only say the same again. */
void fs_log_write(struct fs *fs, const char *what);

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
struct decode_text; /* an open file's decoded text (handle.c) */

/* Set up decoding for fs after its index is loaded: asked is -o decode,
 * ser the store's value serializer.  -ENOMEM. */
int decode_init(struct fs *fs, unsigned ser, int asked);
void decode_free(struct fs *fs);
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
/* status's "values" member. */
void decode_status_json(struct fs *fs, FILE *f);

/* resolve.c */

/* Paths of the mount, found in the directory index, never through the
 * kernel (which would wait for this daemon to answer), for the control
 * commands and a map's --keys FILE.  mi is the table of mounts
 * (mountinfo_read()), or NULL. */
struct mountinfo;

/* The node at path in the mount ("a/b", "/a/b", "" or "/" for the root).
 * A file the kernel does not hold is found without becoming a node: then
 * out->nodeid is 0.  Message set. */
int resolve_node(struct fs *fs, const char *path, struct inode_info *out);
/* resolve_node(), and for a file its key into *key, which the caller
 * frees (NULL for a directory). */
int resolve_node_key(struct fs *fs, const char *path, struct inode_info *out,
    unsigned char **key, size_t *klen);
/* Add to k the keys of the files at and below path: a file, or with dirs
 * a directory too (-EISDIR without).  Message set. */
int resolve_select(
    struct fs *fs, const char *path, int dirs, struct blt_map_keys *k);
/* Does path (absolute, resolved) lead into this mount, through any mount
 * of it?  1, with its path in the mount in place (PATH_MAX bytes) unless
 * place is NULL; 0; or -ENOENT, -ENAMETOOLONG (no message). */
int resolve_place(
    struct fs *fs, const struct mountinfo *mi, const char *path, char *place);
/* path with its symbolic links and dot-dots resolved, into *out (the
 * caller frees it), the names of this mount taken from its index.  A
 * negative errno, no message. */
int resolve_real_path(
    struct fs *fs, const struct mountinfo *mi, const char *path, char **out);
/* Is rest, a path of this mount, in its control directory? */
int resolve_in_ctl_dir(struct fs *fs, const char *rest);

/* loop.c */

/* Serve the session until it ends, with up to max_threads threads, the
 * one reading requests spinning spin_us µs before it blocks.  Returns 0 or
 * a negative errno. */
int loop_run(struct fs *fs, struct fuse_session *se, unsigned max_threads,
    unsigned spin_us);
/* Whether the request in buf (at least a header) opens a file for reading
 * alone, without truncating it. */
int loop_open_reads(const struct fuse_buf *buf);

/* move.c */

/* Rename name in parent to newname in newparent (a file or a whole subtree)
 * in the store, crash-safely, then in the index.  Holds: fs->wlock. */
int move_rename(struct fs *fs, uint64_t parent, const char *name,
    uint64_t newparent, const char *newname, unsigned flags);

/* ops.c */

/* The operations table for fuse_session_new(); userdata is struct fs. */
extern const struct fuse_lowlevel_ops ops_table;

/* ops-file.c */

/* After a prune: spliced reads go to the file that took the store's
 * place, and the old one is let go of in the caller's thread (a job's),
 * which then pays for freeing its pages rather than the next read. */
void ops_rfd_renew(struct fs *fs);

/* handle.c */

/* An open file: reads from the store, or from the write buffer that all
 * the file's writers share once one of them wrote; handle_commit() stores
 * the buffer as one put. */
struct handle;

/* Write buffers past this size move from memory to a temporary file. */
#define HANDLE_SPILL (8u << 20)

int handle_set_create(struct fs *fs, struct handle_set **out);
void handle_set_free(struct handle_set *s);
int handle_create(
    struct fs *fs, uint64_t nodeid, int flags, int fresh, struct handle **out);
void handle_free(struct handle *h);
int handle_release(struct handle *h);
int handle_is_open(struct fs *fs, uint64_t nodeid);
ssize_t handle_read(struct handle *h, void *buf, size_t n, uint64_t off);
int handle_write(struct handle *h, const void *buf, size_t n, uint64_t off);
int handle_truncate(struct handle *h, uint64_t size);
int handle_commit(struct handle *h);
int handle_flush(struct handle *h);
int handle_commit_release(struct handle *h);
int handle_find(struct fs *fs, uint64_t nodeid, uint64_t *size, int64_t *ts);
int handle_locate(struct handle *h, struct blt_entry *e);
int handle_set_time(struct fs *fs, uint64_t nodeid, int64_t ts);
int handle_keep(struct fs *fs, uint64_t nodeid);
void handle_orphan(struct fs *fs, const struct inode_info *in);
int handle_pin(struct handle *h);
int handle_unkept(struct fs *fs, uint64_t nodeid);
int handle_commit_all(struct fs *fs);

/* node-read.c */

/* Where the value of a file lies in the store, read by its key while no
 * unlink or rename changes that key; with hint, from the block the scan
 * found for it while that still holds its value (for its size and time).
 * -ESTALE once the file has no name, -ENOENT if it is not stored yet. */
int node_find(struct fs *fs, uint64_t nodeid, int hint, struct blt_entry *e);
/* Read up to n bytes at off of a file's stored value, the same way: the
 * byte count (0 at the end, and for a file not stored yet), or a negative
 * errno. */
ssize_t node_read(
    struct fs *fs, uint64_t nodeid, void *buf, size_t n, uint64_t off);

/* Wake the reads by key waiting for an unlink or rename, which has just
 * unmarked its nodes, or for a prune that evicts keys (fs->evict_seq). */
void node_moves_ended(struct fs *fs);

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

/* job.c */

/* One job runner per mount runs the jobs started through ctl.c, one at a
 * time, in order, in a thread of its own. */
struct job_runner;
struct bltfs_job;
struct bltfs_status;

/* What a job is to do: filled in by ctl-cmd.c from a command; job_submit()
 * takes over every pointer. */
struct job_spec {
	int kind;                 /* BLTFS_JOB_* */
	char *text;               /* the command as given, for jobs/ID */
	int64_t older_than;       /* prune: µs, 0 for no age limit */
	struct blt_map_keys keep; /* prune: kept whatever their age */
	uint32_t buckets;         /* reindex: 0 for the size the keys need */
	char *exec;               /* map: a command or "LIB.so:SYMBOL" */
	char *plugin;
	char *worker;          /* map: a long-lived --worker command, or NULL */
	char *launcher;        /* map: --launcher, or NULL */
	char *hosts;           /* map: --hosts, or NULL */
	unsigned item_timeout; /* map: --item-timeout, seconds or 0 */
	int decode;            /* map: --decode */
	char *to;              /* map: output key template, or NULL */
	char *out;             /* map: output store (absolute path), or NULL */
	int umask;             /* map: the user's, for a new --out; -1: ours */
	unsigned workers;      /* map: 0 for one per CPU */
	char *cwd; /* map: working directory (absolute), NULL for / */
	struct blt_map_keys keys; /* map: the selected keys (bltmap.h) */
	struct keylist *list;     /* map: --keys FILE, whose keys the job adds
	                           * when it starts; or NULL */
};

/* Free what s points to (not s); safe on a zeroed spec. */
void job_spec_free(struct job_spec *s);

/* Start the runner of fs.  -ENOMEM or pthread_create's error. */
int job_runner_create(struct fs *fs, struct job_runner **out);

/* Cancel the queued jobs and the running one (a prune or reindex runs to
 * its end) and join the thread.  Safe on NULL, and twice. */
void job_runner_stop(struct job_runner *r);

/* Stop, then free every job; safe on NULL. */
void job_runner_free(struct job_runner *r);

/* Queue a job; takes s's pointers (also on failure) and zeroes s.  *id
 * gets its number.  -ESHUTDOWN once stopped, -EBUSY while the most jobs
 * the runner queues wait to start (message set). */
int job_submit(struct job_runner *r, struct job_spec *s, uint64_t *id);

/* Cancel job id: a queued job at once, a running map as soon as it sees
 * it.  -ENOENT (no such job), -EALREADY (finished), -EBUSY (a running
 * prune or reindex, which cannot stop half-way); message set. */
int job_cancel(struct job_runner *r, uint64_t id);

/* Fill *out (its id set) with what job out->id did so far.  -ENOENT. */
int job_get(struct job_runner *r, struct bltfs_job *out);

/* jobs/ID: the job's JSON, NUL-terminated; the caller frees *out.
 * -ENOENT, -ENOMEM. */
int job_json(struct job_runner *r, uint64_t id, char **out, size_t *len);

/* The ids of the jobs the runner knows, oldest first; the caller frees
 * *ids.  -ENOMEM. */
int job_ids(struct job_runner *r, uint64_t **ids, size_t *n);

/* The runner's part of status: running, queued and last_job. */
void job_status(struct job_runner *r, struct bltfs_status *st);

/* Write the unfinished jobs as a JSON array to f, for status. */
void job_status_json(struct job_runner *r, FILE *f);

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
/* Its part of status, a JSON value, to f. */
void autoprune_status_json(struct fs *fs, FILE *f);

/* job-notes.c */

/* A change the kernel must hear of once the locks are released. */
struct job_note {
	int entry;       /* 1: name in parent, 0: node's contents */
	uint64_t parent; /* entry */
	uint64_t node;   /* contents */
	size_t nlen;
	char name[PATH_NAME_MAX + 1];
};

struct job_notes {
	struct job_note *v;
	size_t n, cap;
	uint64_t last_dir; /* the directory of the last job_note_dir() */
};

/* Tell the kernel what ns holds, and empty it; called with no lock held. */
void job_notify(struct fs *fs, struct job_notes *ns);

/* The kernel must drop its entry of name in directory parent. */
void job_note_entry(
    struct job_notes *ns, uint64_t parent, const char *name, size_t nlen);

/* The kernel must drop the name s holds, if any (inode_del_key()). */
void job_note_stale(struct job_notes *ns, const struct inode_stale *s);

/* Where key is in the index.  Returns 1 with the leaf's nodeid (0 for a
 * file that is no node: the kernel holds nothing of it), parent and name
 * if every name on its path exists; else 0 with the parent and name of the
 * first that does not, or of a file the path goes below.  Makes no node.
 * Holds: fs->wlock. */
int job_locate(struct inode_tree *t, const void *key, size_t klen, int marker,
    uint64_t *node, struct job_note *where);

/* A map stored key, of vlen bytes, in the mounted store: the index learns
 * it, and ns what the kernel must drop (the name, or the old value). */
void job_learn_key(struct fs *fs, const unsigned char *key, size_t klen,
    uint64_t vlen, struct job_notes *ns);

/* keylist.c */

/* A map's --keys FILE: opened when the command is given, read by the job
 * when it starts (the file says why). */
struct keylist;

/* Open file (absolute, resolved) into *out; mi is the table of mounts, or
 * NULL.  Refused, with a message that names it: a file that cannot be
 * opened, one that is not a regular file (-EINVAL; -EISDIR), a directory
 * or a file of the control directory of this mount. */
int keylist_open(struct fs *fs, const struct mountinfo *mi, const char *file,
    struct keylist **out);

/* Read l once, adding to k the key of each file it names, in the job's
 * thread.  -ECANCELED once *cancel is set; a bad line (too long, a NUL
 * byte, no such file, past the index's number of keys: -E2BIG), a read
 * error or -ENOMEM fail it, with a message that names FILE and the line. */
int keylist_read(struct fs *fs, struct keylist *l, const atomic_int *cancel,
    struct blt_map_keys *k);

/* Close l; safe on NULL. */
void keylist_close(struct keylist *l);

/* client.c */

/* bltfs ctl MOUNT COMMAND [--wait] [--json]: argv[0] is "ctl".  Returns
 * the exit status (bltfs(1), EXIT STATUS). */
int client_main(int argc, char **argv);

#endif
