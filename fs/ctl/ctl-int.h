/*
 * What the files of fs/ctl/ share: the control interface (ctl.c, the
 * control directory's nodes; ctl-ioctl.c, the ioctls; ctl-cmd.c, the
 * commands and the status replies; ctl-text.c, their texts), paths of the
 * mount (resolve.c), and the job runner (job.c, job-notes.c, keylist.c,
 * autoprune.c).  The rest of the daemon sees the room through its door,
 * fs/ctl.h.
 */
#ifndef FS_CTL_INT_H
#define FS_CTL_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bltmap.h"
#include "ctl.h"
#include "index.h"

struct bltfs_status;
struct job_runner;
struct stat;

struct ctl_snap;

/* The nodeids of the control directory: the top bit set, which no node of
 * the index (whose nodeids are addresses) has; a job's file has the next
 * bit set too, and the job's id below. */
#define CTL_BIT (UINT64_C(1) << 63)
#define CTL_JOB_BIT (UINT64_C(1) << 62)
#define CTL_DIR (CTL_BIT | 1)
#define CTL_CTL (CTL_BIT | 2)
#define CTL_STATUS (CTL_BIT | 3)
#define CTL_JOBS (CTL_BIT | 4)

/* Is nodeid a node of the control directory? */
static inline int
ctl_is(uint64_t nodeid)
{
	return (nodeid & CTL_BIT) != 0;
}

/* The node of job id's file, jobs/ID. */
static inline uint64_t
ctl_job_node(uint64_t id)
{
	return CTL_BIT | CTL_JOB_BIT | id;
}

/* The job whose file is node. */
static inline uint64_t
ctl_node_job(uint64_t node)
{
	return node & ~(CTL_BIT | CTL_JOB_BIT);
}

/* Does node have a text made by the daemon (status, jobs/ID)? */
static inline int
ctl_has_text(uint64_t node)
{
	return node == CTL_STATUS || (node & CTL_JOB_BIT);
}

struct ctl {
	struct fs *fs;
	struct job_runner *jobs; /* NULL until ctl_start() */
	uid_t owner;             /* the user who mounted */
	/* ops.c's table, and the one ctl_ops() gives: base, wrapped */
	const struct fuse_lowlevel_ops *base;
	struct fuse_lowlevel_ops table;
	/* read-only mounts: the texts of status and jobs/ID (ctl-text.c) */
	pthread_mutex_t snap_lock;
	struct ctl_snap *snaps;
	/* the control files open now, freed by ctl_free() if the kernel
	 * never released them: an unmount while a client held one open */
	pthread_mutex_t files_lock;
	struct ctl_file *files;
};

/* ctl-text.c */
/* The text of status or jobs/ID now, in *buf (*len bytes), which the
 * caller frees: 0 or a negative errno. */
int ctl_text(struct fs *fs, uint64_t node, char **buf, size_t *len);
/* Is job id known to the runner (jobs/ID)? */
int ctl_job_exists(struct fs *fs, uint64_t id);
/* Read-only mounts: make node's snapshot again and give st its size and
 * mtime.  0 or a negative errno. */
int ctl_snap_stat(struct fs *fs, uint64_t node, struct stat *st);
/* Read-only mounts: reply to a read of node's snapshot. */
void ctl_snap_read(
    fuse_req_t req, struct fs *fs, uint64_t node, size_t size, off_t off);
/* Free every snapshot of c. */
void ctl_snaps_free(struct ctl *c);

/* ctl-ioctl.c */
/* The ioctl operation of the control interface (ctl_ops()). */
void ctl_op_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
    struct fuse_file_info *fi, unsigned flags, const void *in_buf,
    size_t in_bufsz, size_t out_bufsz);

/* ctl-cmd.c */
/* Run the command text for user uid: the reply (cap bytes) says what
 * happened, *job is the job started (or 0).  0 or a negative errno. */
int ctl_command(struct fs *fs, uid_t uid, const char *text, char *reply,
    size_t cap, uint64_t *job);
/* Fill *out for the BLTFS_IOC_STATUS ioctl: 0; 1 if its live and dead
 * bytes are not counted yet (0 while -o lazy builds the index); or a
 * negative errno. */
int ctl_status(struct fs *fs, struct bltfs_status *out);
/* The status file's JSON in *out (*len bytes), which the caller frees: 0,
 * or a negative errno. */
int ctl_status_json(struct fs *fs, char **out, size_t *len);

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
	int start_timeout;     /* map: --start-timeout, seconds; 0: the
	                        * default; -1: none */
	int reply_timeout;     /* map: --reply-timeout, as start_timeout */
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

/* Append src's notes to dst's, and empty src (its array freed). */
void job_notes_move(struct job_notes *dst, struct job_notes *src);

/* The kernel must drop its entry of name in directory parent. */
void job_note_entry(
    struct job_notes *ns, uint64_t parent, const char *name, size_t nlen);

/* The kernel must drop its pages and attributes of node. */
void job_note_node(struct job_notes *ns, uint64_t node);

/* The kernel must drop the name s holds, if any (inode_del_key()). */
void job_note_stale(struct job_notes *ns, const struct inode_stale *s);

/* Where key is in the index.  Returns 1 with the leaf's nodeid (0 for a
 * file that is no node: the kernel holds nothing of it), parent and name
 * if every name on its path exists; else 0 with the parent and name of the
 * first that does not, or of a file the path goes below.  Makes no node.
 * Holds: fs->wlock. */
int job_locate(struct inode_tree *t, const void *key, size_t klen, int marker,
    uint64_t *node, struct job_note *where);

/* The names of the index that should have a key in the store: all but
 * those of files created through the mount and not stored yet
 * (handle_unstored()), which no other process deleted. */
uint64_t job_keyed_names(struct fs *fs);

/* key is gone from the mounted store (a prune dropped it, another process
 * deleted it): if the store has no such key and the index does, the index
 * loses it, and ns gets what the kernel must drop (the name, its
 * directory's listing).  1 if it went, 0 if not, -EAGAIN if the store,
 * read without the lock, could not tell (blt_find_nowait()).  fs->wlock
 * held. */
int job_forget_key(
    struct fs *fs, const unsigned char *key, size_t klen, struct job_notes *ns);
/* job_forget_key() of a key another process deleted: a directory it
 * leaves with no entry and no marker key goes too (job_drop_emptied()).
 * A job of the mount's own keeps it, as an unlink does. */
int job_forget_deleted(
    struct fs *fs, const unsigned char *key, size_t klen, struct job_notes *ns);

/* A map stored key, of vlen bytes, in the mounted store: the index learns
 * it, and ns what the kernel must drop (the name, or the old value). */
void job_learn_key(struct fs *fs, const unsigned char *key, size_t klen,
    uint64_t vlen, struct job_notes *ns);
/* job_learn_key() of a key another process appended, read without the
 * lock (blt_peek_follow()): its block is live, and may not be linked yet,
 * so the store is not asked again.  The caller holds fs->wlock. */
void job_learn_appended(struct fs *fs, const unsigned char *key, size_t klen,
    uint64_t vlen, struct job_notes *ns);

/* watch.c: a thread that calls fn(arg) whenever the file at path is
 * written, by any process of this machine (inotify), until watch_stop();
 * NULL, logged, where it cannot watch (the caller's tick is all then). */
struct watch;
struct watch *watch_start(const char *path, void (*fn)(void *), void *arg);
void watch_stop(struct watch *w);

/* follow.c: a change of another process that could not be followed (a
 * damaged store, blt_errmsg() says how), logged and kept for status with
 * then, what it leaves, appended. */
void follow_failed(struct fs *fs, const char *then);

/* rescan.c */

/* The index brought back in line with a store another process changed
 * as its appended keys cannot tell, in steps while the mount answers. */
struct rescan;

/* NULL if out of memory. */
struct rescan *rescan_new(struct fs *fs);
void rescan_free(struct rescan *r);
/* Start again, in state (FS_RESCAN_READING, or FS_RESCAN_SWEEPING when every
 * key of the store is in the index already); the store held.  From any
 * thread: the state is set at once, and the rest waits for the follow
 * thread's rescan_catch_up(). */
void rescan_start(struct rescan *r, int state);
/* Make the start asked for last, if any; on the follow thread, before a
 * step. */
void rescan_catch_up(struct rescan *r);
/* One step, on the follow thread, the store held: the kernel's notes into
 * ns, the keys put and names dropped added to *put and *gone.  0 if there
 * was nothing to do. */
int rescan_step(
    struct rescan *r, struct job_notes *ns, uint64_t *put, uint64_t *gone);
/* After a step, the store let go: a test may hold a rescan there after
 * its first step (BLTFS_FOLLOW_HOLD). */
void rescan_hold(struct rescan *r);
/* The rescan just started is not held by BLTFS_FOLLOW_HOLD. */
void rescan_no_hold(struct rescan *r);
/* How many sweeps of the rescan under way ended with names whose keys
 * they could not tell of, without the lock: the sweep goes over them all
 * again, once more without it after the writer went quiet, then with it
 * (follow_rescan_step()). */
int rescan_untold_sweeps(const struct rescan *r);

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

#endif
