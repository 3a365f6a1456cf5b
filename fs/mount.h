/*
 * The door of fs/mount/, the room every other room of the daemon stands
 * on: it pins the FUSE API version, holds struct fs (the mount: what its
 * rooms share), and the log.  It includes no other room's header: the
 * objects that hang from struct fs are opaque here.
 *
 *	log.c		the daemon's log, and what it says of a store that
 *			takes no more writes or a read that failed
 *	request.c	what a request as read from the session asks, for
 *			the loop and the lazy build, which look before
 *			libfuse does
 *	test-hold.c	where a test holds a thread of the daemon
 *
 * A function that fails "with a message" (or "message set") records it
 * with blt_errmsg_set(), and blt_errmsg() gives it back: the engine's one
 * slot per thread, so that the daemon's messages and the engine's are
 * read the same way, and the last failure in a thread is the one it holds.
 */
#ifndef FS_MOUNT_H
#define FS_MOUNT_H

#define FUSE_USE_VERSION 310

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <fuse_lowlevel.h>

#include "booklet.h"

/* The objects of the rooms above, which hang from the mount: each is
 * opaque here and known only in its room. */
struct autoprune;
struct ctl;
struct decode_cache;
struct follow;
struct handle_set;
struct index_cache;
struct inode_tree;
struct lazy;

/* The mount: what its operations, control files and jobs share.  All of
 * a mount's state is here or hangs from here, never in a process-wide
 * static (the log alone is the process's: log.c).  fs/daemon/main.c sets
 * it up before the session starts and tears it down once the session and
 * the job runner have ended.  Meanwhile the settings and the pointers stay as
 * they are (the objects they point to have locks of their own); what
 * changes says what guards it. */
/* struct fs's rescan: until a rescan has read the store, a lookup of a
 * name the index lacks asks the store; until it has swept the index too,
 * a name whose key is gone is no file. */
#define FS_RESCAN_NONE 0
#define FS_RESCAN_READING 1  /* every key of the store put into the index */
#define FS_RESCAN_SWEEPING 2 /* then the names of keys gone dropped */

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
	/* called by fs/ops/ after a commit that stored something, once the
	 * request is answered, with no lock of the mount held: how a room
	 * above hears of it (main.c gives autoprune_check()); or NULL */
	void (*stored)(struct fs *fs);
	/* called by fs/ops/ in a request the loop held without the store's
	 * lock, to wait for it as a change would (a handle's first write):
	 * 0, or the negative errno to answer; NULL until the loop runs */
	int (*turn)(struct fs *fs);
	/* the mount point, as libfuse resolved it (realpath) */
	const char *mountpoint;
	dev_t dev; /* the mount's device, from mountinfo.c; 0 if not known */
	/* -o decode (decode.c): files show their values as text */
	int decode;         /* 1: decoded here (asked, and caps not 0) */
	int decode_asked;   /* -o decode was given */
	unsigned value_ser; /* the store's value serializer code */
	/* the value of a directory marker (blt_value_marker()), or NULL: a
	 * store whose serializer reads back no value of its own (pandas,
	 * custom, a fixed-size store) keeps no empty directory */
	const unsigned char *marker;
	size_t marker_len;
	int value_caps;             /* blt_value_caps(value_ser) */
	struct decode_cache *dec;   /* decoded sizes and texts; NULL if raw */
	struct index_cache *icache; /* index-cache.c; NULL: none */
	struct lazy *lazy;          /* -o lazy: the build (lazy.c), or NULL */
	struct follow *follow; /* the store shared (fs/ctl/follow.c), or NULL
	                          with -o exclusive */
	double lock_timeout;   /* -o lock_timeout: seconds a request waits
	                          for a store another process holds */
	/* a rescan of the store under way (fs/ctl/rescan.c): FS_RESCAN_* */
	atomic_int rescan;
	/* tests: the FIFO that holds each lookup of the name "held"
	 * (BLTFS_LOOKUP_HOLD, tests/mount-lookups.sh), or NULL */
	const char *lookup_hold;
};

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

/* test-hold.c */

/* Now on the monotonic clock, in µs: for the daemon's time budgets. */
uint64_t fs_now_us(void);

/* Wait for a byte from fifo, the FIFO that the environment variable var
 * named (NULL: none, no wait); a failure is logged, and not waited on. */
void fs_test_hold(const char *var, const char *fifo);

/* request.c */

/* Whether the request in buf (at least a header) opens a file for reading
 * alone, without truncating it. */
int request_open_reads(const struct fuse_buf *buf);

/* What the request in buf needs of the store (a shared store's lock,
 * fs/ctl/follow.c), on a mount that is read-only or not (ro): nothing,
 * being served from memory (forgets, a read-only open and its release, an
 * ioctl not of bltfs, what no operation here takes), so that the loop's
 * leader answers it itself; to read, without the lock (blt_hold_peek():
 * whoever holds it, a reader never waits for it); to change only what the
 * mount holds in memory (a file created, written: its name and buffer,
 * stored at its close or fsync), held as a read; to change the
 * store, with the exclusive lock; or nothing, being the session's own. */
#define REQUEST_QUICK 0
#define REQUEST_READS 1
#define REQUEST_WRITES 2
#define REQUEST_SESSION 3
#define REQUEST_BUFFERS 4
int request_store_use(const struct fuse_buf *buf, int ro);

/* The open file (fh) of the flush request in buf, or 0 for another
 * request. */
uint64_t request_flush_fh(const struct fuse_buf *buf);

/* The command of the ioctl request in buf (at least a header, opcode
 * FUSE_IOCTL); BLTFS_IOC_CMD, which waits for everything, for one cut
 * short. */
uint32_t request_ioctl_cmd(const struct fuse_buf *buf);

/* Answer the request in buf (at least a header) with the negative errno
 * err, here: libfuse has not seen it. */
void request_answer(
    struct fuse_session *se, const struct fuse_buf *buf, int err);

#endif
