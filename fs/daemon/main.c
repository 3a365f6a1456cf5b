/*
 * bltfs's entry point: options, startup, the session loop and shutdown.
 *
 * Startup opens the store, builds the directory index from one scan and
 * mounts; only then is the mount announced as ready (the parent of a
 * daemon exits 0, and -o ready_fd=N gets one byte).  Anything that fails
 * before that point is reported on stderr with a non-zero exit, so a bad
 * store never leaves a half-made mount behind.  To keep that promise while
 * daemonizing, the daemon forks first and does all of the work in the
 * child, whose parent waits for the verdict on a pipe: the store's lock is
 * taken by the process that keeps it.
 *
 * Shutdown (unmount, or SIGINT/SIGTERM/SIGHUP) commits what open files
 * still hold and closes the store, which flushes and syncs it.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bltmap.h"
#include "bltvalue.h"
#include "indexer.h"
#include "client.h"
#include "ctl.h"
#include "index.h"
#include "loop.h"
#include "mount.h"
#include "ops.h"
#include "bltutil.h"

/* How long to wait for the store's lock: long enough for a daemon that was
 * just unmounted to finish closing, short enough to report a store that is
 * in use by another writer. */
#define MAIN_LOCK_WAIT 2.0

/* How long a request waits for a store that another process holds
 * (-o lock_timeout): a Python writer's batch closes well within it, and a
 * read that waits longer says why (EBUSY, and the log names the holder)
 * rather than hang. */
#define MAIN_LOCK_TIMEOUT 10

/* Threads serving requests, unless -o max_threads says otherwise, and
 * the most it may say (libfuse's own bound, FUSE_LOOP_MT_MAX_THREADS). */
#define MAIN_THREADS 10
#define MAIN_THREADS_MAX 100000

/* µs the thread reading requests spins before it sleeps (-o spin=). */
#define MAIN_SPIN 50

/* Entry and attribute timeouts: the daemon is the only one changing the
 * store while it is mounted, and it tells the kernel when names or values
 * change behind its back. */
#define MAIN_TIMEOUT 86400.0

/* -o autoprune's defaults: a store whose file is half dead bytes, and at
 * least 64 MiB, is pruned by the daemon itself (autoprune.c).  Below that
 * size the space is small, and a prune's copy of the whole store not
 * worth it. */
#define MAIN_AUTOPRUNE 50
#define MAIN_AUTOPRUNE_MIN (UINT64_C(64) << 20)
/* Keys from which a store's index is cached (index-cache.c): below, a
 * scan takes under half a second. */
#define MAIN_INDEX_CACHE_MIN 1000000

struct main_conf {
	char *store;
	int nonopt;
	int ro;
	int flat;
	unsigned uid, gid, umask;
	int set_uid, set_gid, set_umask;
	char *ctl;
	int ready_fd;
	unsigned spin;
	unsigned long spill;
	int show_help;
	int fsname, subtype;
	int bad_mountpoint; /* a mount point that is not a directory */
	int others;         /* allow_other or allow_root */
	int decode;         /* -o decode: values shown as text (decode.c) */
	unsigned autoprune; /* percent of dead bytes, 0: off */
	uint64_t autoprune_min;
	int no_index_cache;       /* -o noindex_cache */
	uint64_t index_cache_min; /* -o index_cache=KEYS */
	int lazy;                 /* -o lazy: answer while the index builds */
	int exclusive;            /* -o exclusive: the lock held throughout */
	unsigned lock_timeout;    /* -o lock_timeout=SECONDS */
};

enum {
	MAIN_KEY_RO,
	MAIN_KEY_RW,
	MAIN_KEY_HELP,
	MAIN_KEY_FSNAME,
	MAIN_KEY_SUBTYPE,
	MAIN_KEY_OTHERS,
	MAIN_KEY_UID,
	MAIN_KEY_GID,
	MAIN_KEY_UMASK,
	MAIN_KEY_SPIN,
	MAIN_KEY_SPILL,
	MAIN_KEY_READY_FD,
	MAIN_KEY_THREADS,
	MAIN_KEY_AUTOPRUNE,
	MAIN_KEY_AUTOPRUNE_MIN,
	MAIN_KEY_INDEX_CACHE,
	MAIN_KEY_LOCK_TIMEOUT,
};

/* Numbers are parsed by main_opt_proc(), not by fuse_opt's scanf
 * formats, which take "umask=0800" for 0 and "uid=-5" for 4294967291. */
static const struct fuse_opt main_opts[] = {
    {"flat", offsetof(struct main_conf, flat), 1},
    {"decode", offsetof(struct main_conf, decode), 1},
    {"lazy", offsetof(struct main_conf, lazy), 1},
    {"exclusive", offsetof(struct main_conf, exclusive), 1},
    FUSE_OPT_KEY("lock_timeout=", MAIN_KEY_LOCK_TIMEOUT),
    {"noindex_cache", offsetof(struct main_conf, no_index_cache), 1},
    FUSE_OPT_KEY("index_cache=", MAIN_KEY_INDEX_CACHE),
    FUSE_OPT_KEY("uid=", MAIN_KEY_UID),
    FUSE_OPT_KEY("gid=", MAIN_KEY_GID),
    FUSE_OPT_KEY("umask=", MAIN_KEY_UMASK),
    {"ctl=%s", offsetof(struct main_conf, ctl), 1},
    FUSE_OPT_KEY("ready_fd=", MAIN_KEY_READY_FD),
    FUSE_OPT_KEY("max_threads=", MAIN_KEY_THREADS),
    FUSE_OPT_KEY("spin=", MAIN_KEY_SPIN),
    FUSE_OPT_KEY("spill=", MAIN_KEY_SPILL),
    FUSE_OPT_KEY("autoprune=", MAIN_KEY_AUTOPRUNE),
    FUSE_OPT_KEY("autoprune_min=", MAIN_KEY_AUTOPRUNE_MIN),
    FUSE_OPT_KEY("ro", MAIN_KEY_RO),
    FUSE_OPT_KEY("rw", MAIN_KEY_RW),
    FUSE_OPT_KEY("fsname=", MAIN_KEY_FSNAME),
    FUSE_OPT_KEY("subtype=", MAIN_KEY_SUBTYPE),
    FUSE_OPT_KEY("allow_other", MAIN_KEY_OTHERS),
    FUSE_OPT_KEY("allow_root", MAIN_KEY_OTHERS),
    FUSE_OPT_KEY("-h", MAIN_KEY_HELP),
    FUSE_OPT_KEY("--help", MAIN_KEY_HELP),
    FUSE_OPT_END,
};

static void
main_usage(const char *prog)
{
	printf("usage: %s STORE MOUNTPOINT [options]\n"
	       "       %s ctl MOUNTPOINT COMMAND [ARGS...]\n\n",
	    prog, prog);
	printf("Mount the booklet store STORE (created if missing) at "
	       "MOUNTPOINT.\n"
	       "bltfs ctl runs a command on a mount (prune, reindex, sync, "
	       "map, cancel,\n"
	       "status, job, unmount): bltfs ctl --help lists them.\n"
	       "A store another process holds is refused with exit status 3, "
	       "naming it.\n\n"
	       "bltfs options:\n"
	       "    -o ro                  read-only, with a shared lock\n"
	       "    -o flat                no directories: every key in "
	       "the root\n"
	       "    -o decode              show values as text (JSON, "
	       "decimal, ...) and\n"
	       "                           encode text written back\n"
	       "    -o uid=N, -o gid=N     owner of every file\n"
	       "    -o umask=M             mode of files and directories "
	       "(octal, default 022,\n"
	       "                           077 with allow_other)\n"
	       "    -o ctl=NAME            name of the control directory "
	       "(default .bltfs)\n"
	       "    -o ready_fd=N          write one byte to fd N once "
	       "mounted\n"
	       "    -o spin=US             wait for requests spinning this "
	       "long\n"
	       "                           before sleeping (default 50; 0: "
	       "never spin)\n"
	       "    -o spill=BYTES         bytes an open file holds in memory "
	       "before\n"
	       "                           its writes go to a temporary file "
	       "(default 8M)\n"
	       "    -o autoprune=PCT       prune once PCT%% of the store is "
	       "dead bytes\n"
	       "                           (default 50; 0: never)\n"
	       "    -o autoprune_min=BYTES ... and the store holds this much "
	       "(default 64M)\n"
	       "    -o index_cache=KEYS    keep the index of stores of this "
	       "many keys\n"
	       "                           for the next mount (default "
	       "1000000)\n"
	       "    -o noindex_cache       neither read nor keep one\n"
	       "    -o lazy                mount before the index is built: "
	       "files are found\n"
	       "                           by key at once, listings and "
	       "changes wait\n"
	       "    -o lock_timeout=SECS   how long a request waits for a "
	       "store another\n"
	       "                           process holds before it fails "
	       "with EBUSY\n"
	       "                           (default 10)\n"
	       "    -o exclusive           hold the store's lock from mount "
	       "to unmount\n"
	       "                           (else only while requests need "
	       "it)\n\n"
	       "bltfs serves requests in its own loop: of libfuse's options "
	       "below,\n"
	       "clone_fd and max_idle_threads are accepted and ignored.\n\n");
	fuse_cmdline_help();
	fuse_lowlevel_help();
}

/* The decimal number after the '=' of option arg, from min to max: 0, or
 * -1 with a message when it is not such a number. */
static int
main_opt_number(const char *arg, uint64_t min, uint64_t max, uint64_t *v)
{
	if (timearg_number(strchr(arg, '=') + 1, max, v) == 0 && *v >= min)
		return 0;
	fprintf(stderr, "bltfs: -o %s: expected a number from %llu to %llu\n",
	    arg, (unsigned long long)min, (unsigned long long)max);
	return -1;
}

/* A number of bytes after the '=' of option arg, with an optional K, M
 * or G (powers of 1024): 0, or -1 with a message. */
static int
main_opt_bytes(const char *arg, uint64_t *v)
{
	const char *s = strchr(arg, '=') + 1, *units = "KMG", *u;
	size_t n = strlen(s);
	char digits[32];
	unsigned shift = 0;

	if (n > 0 && n < sizeof digits &&
	    (u = strchr(units, s[n - 1])) != NULL && *u != '\0') {
		shift = 10 * (unsigned)(u - units + 1);
		n--;
	}
	if (n < sizeof digits) {
		memcpy(digits, s, n);
		digits[n] = '\0';
		if (timearg_number(digits, ULONG_MAX >> shift, v) == 0) {
			*v <<= shift;
			return 0;
		}
	}
	fprintf(stderr,
	    "bltfs: -o %s: expected a number of bytes, with K, M or G for "
	    "KiB, MiB or GiB, up to %lu\n",
	    arg, ULONG_MAX);
	return -1;
}

/* uid= or gid=: the number into *id, and *set.  0, or -1 with a message.
 * (uid_t)-1 means "unchanged" to chown(2): never an owner. */
static int
main_opt_id(const char *arg, unsigned *id, int *set)
{
	uint64_t v;

	if (main_opt_number(arg, 0, UINT32_MAX - 1, &v) < 0)
		return -1;
	*id = (unsigned)v;
	*set = 1;
	return 0;
}

/* ready_fd=N: N must be open for writing now, not when the mount is up
 * and the store made.  0, or -1 with a message. */
static int
main_opt_ready_fd(const char *arg, int *fd)
{
	uint64_t v;
	int fl;

	if (main_opt_number(arg, 0, INT_MAX, &v) < 0)
		return -1;
	if ((fl = fcntl((int)v, F_GETFL)) == -1) {
		fprintf(stderr,
		    "bltfs: -o %s: file descriptor %d is not open (the "
		    "byte that says the mount is ready goes to it)\n",
		    arg, (int)v);
		return -1;
	}
	if ((fl & O_ACCMODE) == O_RDONLY) {
		fprintf(stderr,
		    "bltfs: -o %s: file descriptor %d is open for reading "
		    "only (the byte that says the mount is ready is written "
		    "to it)\n",
		    arg, (int)v);
		return -1;
	}
	*fd = (int)v;
	return 0;
}

/* The octal mode after the '=' of option arg: 0, or -1 with a message. */
static int
main_opt_mode(const char *arg, unsigned *mode)
{
	const char *s = strchr(arg, '=') + 1;
	unsigned v = 0;

	for (; *s >= '0' && *s <= '7' && v <= 0777; s++)
		v = v * 8 + (unsigned)(*s - '0');
	if (s != strchr(arg, '=') + 1 && *s == '\0' && v <= 0777) {
		*mode = v;
		return 0;
	}
	fprintf(stderr, "bltfs: -o %s: expected an octal mode from 0 to 777\n",
	    arg);
	return -1;
}

/* The mount point must be a directory: the kernel mounts on a regular
 * file too, and every access to the mount would then fail. */
static int
main_mountpoint_ok(const char *path)
{
	struct stat st;

	if (stat(path, &st) == -1) {
		fs_log("mount point %s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fs_log("mount point %s: not a directory", path);
		return -1;
	}
	return 0;
}

static int
main_opt_proc(void *data, const char *arg, int key, struct fuse_args *out)
{
	struct main_conf *c = data;
	uint64_t v;

	switch (key) {
	case FUSE_OPT_KEY_NONOPT:
		if (c->nonopt++ == 0) {
			if ((c->store = strdup(arg)) == NULL)
				return -1;
			return 0;
		}
		if (c->nonopt == 2 && main_mountpoint_ok(arg) < 0) {
			c->bad_mountpoint = 1;
			return -1;
		}
		return 1; /* the mount point, for fuse_parse_cmdline() */
	case MAIN_KEY_RO:
		c->ro = 1;
		return 1; /* the kernel refuses writes too */
	case MAIN_KEY_RW:
		c->ro = 0;
		return 1;
	case MAIN_KEY_HELP:
		c->show_help = 1;
		return 0;
	case MAIN_KEY_FSNAME:
		c->fsname = 1;
		return 1;
	case MAIN_KEY_SUBTYPE:
		c->subtype = 1;
		return 1;
	case MAIN_KEY_OTHERS:
		c->others = 1;
		return 1;
	case MAIN_KEY_UID:
		return main_opt_id(arg, &c->uid, &c->set_uid);
	case MAIN_KEY_GID:
		return main_opt_id(arg, &c->gid, &c->set_gid);
	case MAIN_KEY_UMASK:
		if (main_opt_mode(arg, &c->umask) < 0)
			return -1;
		c->set_umask = 1;
		return 0;
	case MAIN_KEY_SPIN:
		if (main_opt_number(arg, 0, 1000000, &v) < 0)
			return -1;
		c->spin = (unsigned)v;
		return 0;
	case MAIN_KEY_SPILL:
		if (main_opt_bytes(arg, &v) < 0)
			return -1;
		c->spill = (unsigned long)v;
		return 0;
	case MAIN_KEY_AUTOPRUNE:
		if (main_opt_number(arg, 0, 100, &v) < 0)
			return -1;
		c->autoprune = (unsigned)v;
		return 0;
	case MAIN_KEY_AUTOPRUNE_MIN:
		if (main_opt_bytes(arg, &v) < 0)
			return -1;
		c->autoprune_min = v;
		return 0;
	case MAIN_KEY_INDEX_CACHE:
		if (main_opt_number(arg, 0, UINT64_C(1) << 62, &v) < 0)
			return -1;
		c->index_cache_min = v;
		return 0;
	case MAIN_KEY_LOCK_TIMEOUT:
		if (main_opt_number(arg, 0, 86400, &v) < 0)
			return -1;
		c->lock_timeout = (unsigned)v;
		return 0;
	case MAIN_KEY_READY_FD:
		return main_opt_ready_fd(arg, &c->ready_fd);
	case MAIN_KEY_THREADS:
		/* checked here, then left for fuse_parse_cmdline(): 0 was
		 * taken for "not given", and its scanf format takes "-1" for
		 * 4294967295 */
		if (main_opt_number(arg, 1, MAIN_THREADS_MAX, &v) < 0)
			return -1;
		return 1;
	}
	return 1;
}

/* Must the kernel check permissions against the modes we show?  Only if
 * they can say no to someone it lets in: other users (allow_other,
 * allow_root), or the mounting user, the only one let in otherwise, when
 * uid= makes it someone else or umask= takes an owner's permission away.
 * The checks are not free: the kernel drops a directory's attributes
 * whenever it changes, and checking the next path through it asks for
 * them again, a GETATTR after every file a copy creates. */
static int
main_kernel_checks(const struct main_conf *c)
{
	return c->others || (c->set_uid && c->uid != getuid()) ||
	       (c->set_umask && (c->umask & 0700) != 0);
}

/* The store's absolute path: the daemon changes directory, and the engine
 * renames files next to the store (prune). */
static char *
main_abspath(const char *path)
{
	char cwd[PATH_MAX], *out;

	if (path[0] == '/')
		return strdup(path);
	if (getcwd(cwd, sizeof cwd) == NULL)
		return NULL;
	if ((out = malloc(strlen(cwd) + strlen(path) + 2)) == NULL)
		return NULL;
	sprintf(out, "%s/%s", cwd, path);
	return out;
}

/* Name the mount after the store, as df and /proc/mounts show it. */
static int
main_fsname(struct fuse_args *args, const char *store)
{
	char *name, *opts = NULL;
	int rc = -1;

	if ((name = malloc(strlen(store) + sizeof "fsname=")) == NULL)
		return -1;
	sprintf(name, "fsname=%s", store);
	if (fuse_opt_add_opt_escaped(&opts, name) == 0 &&
	    fuse_opt_add_arg(args, "-o") == 0 &&
	    fuse_opt_add_arg(args, opts) == 0)
		rc = 0;
	free(opts);
	free(name);
	return rc;
}

/* Fork; the parent waits for the child to mount and exits with its
 * verdict.  Returns the write end of the pipe the child reports on. */
static int
main_fork(void)
{
	int p[2], status;
	char c;
	pid_t pid;

	if (pipe(p) == -1) {
		fs_log("pipe: %s", strerror(errno));
		exit(1);
	}
	if ((pid = fork()) == -1) {
		fs_log("fork: %s", strerror(errno));
		exit(1);
	}
	if (pid == 0) {
		close(p[0]);
		if (setsid() == -1)
			fs_log("setsid: %s", strerror(errno));
		return p[1];
	}
	close(p[1]);
	if (read(p[0], &c, 1) == 1)
		_exit(0);
	/* the child failed before it was ready, and said why on stderr */
	if (waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	    WEXITSTATUS(status) != 0)
		_exit(WEXITSTATUS(status));
	_exit(1);
}

/* Leave the terminal: the daemon's output goes to syslog from now on. */
static void
main_detach(void)
{
	int fd;

	if (chdir("/") == -1)
		fs_log("chdir /: %s", strerror(errno));
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	fs_log_syslog();
}

/* Tell whoever waits that the mount is ready. */
static void
main_ready(int fd)
{
	if (fd < 0)
		return;
	if (write(fd, "1", 1) != 1)
		fs_log("ready fd %d: %s", fd, strerror(errno));
	close(fd);
}

/* Open the store and set up everything the operations use. */
static int
main_open(struct fs *fs, const struct main_conf *c)
{
	char note[PATH_MAX + 256];
	struct blt_options o;
	struct blt_stat st;
	struct path_conf pc;
	struct stat sb;
	int rc;

	blt_options_default(&o);
	o.lock_timeout = MAIN_LOCK_WAIT;
	rc = blt_open(c->store, c->ro ? BLT_RDONLY : BLT_CREATE, &o, &fs->db);
	if (rc == -EWOULDBLOCK &&
	    strstr(blt_errmsg(), "locked by another process") != NULL) {
		/* who holds it, as blt says it (-EAGAIN, the same number, is
		 * a store that prunes kept replacing, with its own words) */
		char who[PATH_MAX + 128];

		fs_log("%s: %s past the lock timeout (%s lock not granted "
		       "within %g s)",
		    c->store, holder_describe(c->store, who, sizeof who),
		    c->ro ? "shared" : "exclusive", MAIN_LOCK_WAIT);
		return rc;
	}
	if (rc < 0) {
		fs_log("%s", blt_errmsg());
		return rc;
	}
	if (open_note(fs->db, c->store, note, sizeof note) != NULL)
		fs_log("%s", note);
	fs->lock_timeout = c->lock_timeout;
	/* shared from here on, and held until the index is built */
	if (!c->exclusive && (rc = follow_start(fs)) < 0) {
		fs_log("%s: %s", c->store, blt_errmsg());
		return rc;
	}
	/* the header is enough: a scan for blt_stat()'s byte counts would
	 * read the whole store once more than the directory index does */
	(void)blt_info(fs->db, &st);
	if ((rc = path_conf_init(&pc, st.key_serializer, c->flat, c->ctl)) <
	    0) {
		fs_log("%s", blt_errmsg());
		return rc;
	}
	/* an empty directory's marker holds a value the serializer reads
	 * back (doc/keys.md) */
	if (!st.fixed)
		fs->marker =
		    blt_value_marker(st.value_serializer, &fs->marker_len);
	pc.marker_len = fs->marker != NULL ? fs->marker_len : 0;
	fs->ro = c->ro;
	fs->others = c->others;
	fs->uid = c->set_uid ? (uid_t)c->uid : getuid();
	fs->gid = c->set_gid ? (gid_t)c->gid : getgid();
	/* the store keeps no modes: where others may enter, what it held
	 * before the mount is its owner's alone unless umask= says else */
	fs->umask = c->set_umask ? (mode_t)(c->umask & 0777)
	            : c->others  ? 077
	                         : 022;
	fs->own_uid = c->others && !c->set_uid;
	fs->own_gid = c->others && !c->set_gid;
	fs->timeout = MAIN_TIMEOUT;
	fs->timestamps = st.timestamps;
	fs->spill = c->spill;
	/* what directories, and keys of stores without timestamps, show */
	if (stat(c->store, &sb) == 0)
		fs->mtime = (int64_t)sb.st_mtim.tv_sec * 1000000 +
		            sb.st_mtim.tv_nsec / 1000;
	else
		fs->mtime = blt_now();
	if ((rc = autoprune_create(c->ro ? 0 : c->autoprune, c->autoprune_min,
	         &fs->autoprune)) < 0) {
		fs_log("%s", blt_errmsg());
		return rc;
	}
	fs->stored = autoprune_check; /* fs/ops/ tells it of each commit */
	if ((rc = handle_set_create(fs, &fs->handles)) < 0) {
		fs_log("out of memory");
		return rc;
	}
	if ((rc = index_cache_load_tree(
	         fs, &pc, !c->no_index_cache, c->index_cache_min, c->lazy)) < 0)
		return rc;
	return decode_init(fs, st.value_serializer, c->decode);
}

/* Close the store and free what main_open() made; returns the store's
 * final error, if any. */
static int
main_close(struct fs *fs)
{
	int rc = 0;

	/* the last words with the store: its lock taken again if let go,
	 * and what other processes did followed first */
	follow_stop(fs->follow);
	if (fs->follow != NULL && blt_hold(fs->db, !fs->ro) < 0)
		fs_log("%s: at unmount: %s", blt_path(fs->db), blt_errmsg());
	index_cache_unmount(fs); /* lazy_stop() forgets how a build ended */
	lazy_stop(fs); /* a lazy build fills the index until it ends */
	if (fs->handles != NULL && handle_commit_all(fs) < 0)
		rc = -EIO;
	handle_set_free(fs->handles);
	decode_free(fs);
	autoprune_free(fs->autoprune);
	index_cache_free(fs->icache); /* it reads the index */
	inode_tree_free(fs->tree);
	if (fs->db != NULL && blt_close(fs->db) < 0) {
		fs_log("closing the store: %s", blt_errmsg());
		rc = -EIO;
	}
	follow_free(fs->follow);
	fs->follow = NULL;
	return rc;
}

/* Set up the locks of fs (struct fs says what each guards): 0, or -1
 * with none set up. */
static int
main_locks_init(struct fs *fs)
{
	if (pthread_mutex_init(&fs->wlock, NULL) != 0)
		return -1;
	if (pthread_rwlock_init(&fs->rlock, NULL) != 0)
		goto wlock;
	if (pthread_mutex_init(&fs->move_lock, NULL) != 0)
		goto rlock;
	if (pthread_cond_init(&fs->move_done, NULL) != 0)
		goto move_lock;
	return 0;
move_lock:
	pthread_mutex_destroy(&fs->move_lock);
rlock:
	pthread_rwlock_destroy(&fs->rlock);
wlock:
	pthread_mutex_destroy(&fs->wlock);
	fs_log("out of locks");
	return -1;
}

/* Tear down what main_locks_init() set up. */
static void
main_locks_destroy(struct fs *fs)
{
	pthread_cond_destroy(&fs->move_done);
	pthread_mutex_destroy(&fs->move_lock);
	pthread_rwlock_destroy(&fs->rlock);
	pthread_mutex_destroy(&fs->wlock);
}

/* Refuse a mount point that is one already: a mount made on top would
 * hide the one below, which would go on (a second bltfs of a store taken
 * read-only, say) unseen until the top one is unmounted.  0, or -1 after
 * a message; a table that cannot be read refuses nothing. */
static int
main_mountpoint_free(const char *point)
{
	const struct mountinfo_entry *m;
	struct mountinfo *mi;
	int rc = 0;

	if (mountinfo_read(&mi) < 0)
		return 0;
	m = mountinfo_find(mi, point);
	if (m != NULL && strcmp(m->point, point) == 0) {
		fs_log("mount point %s: already a mount point (%s, %s); "
		       "unmount it first",
		    point, m->type, m->source);
		rc = -1;
	}
	mountinfo_free(mi);
	return rc;
}

/* Learn the device of the mount just made, by which ctl commands know
 * paths that lead into it under other mounts of it (bind mounts) too.  It
 * comes from the table of mounts, since a stat of the mount point would
 * wait for this daemon to answer, which it does not yet.  Without it, only
 * paths under the mount point are known to be in it. */
static void
main_own_dev(struct fs *fs)
{
	int rc;

	if ((rc = mountinfo_fuse_dev(fs->mountpoint, &fs->dev)) < 0)
		fs_log("%s: not in /proc/self/mountinfo (%s): ctl commands "
		       "will not know bind mounts of it",
		    fs->mountpoint, strerror(-rc));
}

static int
main_loop(
    struct fs *fs, const struct fuse_cmdline_opts *o, const struct main_conf *c)
{
	unsigned threads = o->max_threads;

	/* libfuse's "not given" is UINT_MAX or 0, by version */
	if (threads == 0 || threads == UINT_MAX)
		threads = MAIN_THREADS;
	return loop_run(fs, fs->se, o->singlethread ? 1 : threads, c->spin);
}

/* bltfs STORE MOUNTPOINT [options]: see bltfs(1). */
int
main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts o;
	struct main_conf c;
	struct fs fs;
	char *abs;
	int ready = -1, locks = 0, rc, status = 1;

	/* map workers are copies of this program (blt_map()) */
	if ((rc = blt_map_worker_main(argc, argv)) >= 0)
		return rc;
	if (argc > 1 && strcmp(argv[1], "ctl") == 0)
		return client_main(argc - 1, argv + 1);
	/* past a file size limit (ulimit -f), writes of the store fail with
	 * EFBIG and are refused like those on a full disk: the signal that
	 * would come with them must not end the mount */
	signal(SIGXFSZ, SIG_IGN);
	memset(&c, 0, sizeof c);
	memset(&o, 0, sizeof o);
	memset(&fs, 0, sizeof fs);
	fs.rfd = -1;
	atomic_init(&fs.evict_seq, 0);
	atomic_init(&fs.stuck_told, 0);
	c.ready_fd = -1;
	c.index_cache_min = MAIN_INDEX_CACHE_MIN;
	c.spin = MAIN_SPIN;
	c.lock_timeout = MAIN_LOCK_TIMEOUT;
	c.spill = HANDLE_SPILL;
	c.autoprune = MAIN_AUTOPRUNE;
	c.autoprune_min = MAIN_AUTOPRUNE_MIN;
	/* from here to the session, a failure is a usage error: 2 */
	status = 2;
	if (fuse_opt_parse(&args, &c, main_opts, main_opt_proc) == -1 ||
	    fuse_parse_cmdline(&args, &o) == -1) {
		if (c.bad_mountpoint)
			status = 1;
		goto out;
	}
	if (c.show_help) {
		main_usage(argv[0]);
		status = 0;
		goto out;
	}
	if (o.show_version) {
		printf("bltfs %s, libfuse %s\n", PACKAGE_VERSION,
		    fuse_pkgversion());
		/* before fusermount3 --version, which libfuse runs next and
		 * which writes straight to the same output */
		fflush(stdout);
		fuse_lowlevel_version();
		status = 0;
		goto out;
	}
	if (c.store == NULL || o.mountpoint == NULL) {
		fprintf(
		    stderr, "usage: %s STORE MOUNTPOINT [options]\n", argv[0]);
		goto out;
	}
	fs.mountpoint = o.mountpoint;
	if (main_mountpoint_free(o.mountpoint) < 0) {
		status = 1;
		goto out;
	}
	if ((abs = main_abspath(c.store)) == NULL) {
		fs_log("%s: %s", c.store, strerror(errno));
		status = 1;
		goto out;
	}
	free(c.store);
	c.store = abs;
	/* libfuse names the type fuse.bltfs only when neither is given */
	if ((main_kernel_checks(&c) &&
	        fuse_opt_add_arg(&args, "-odefault_permissions") == -1) ||
	    (c.fsname && !c.subtype &&
	        fuse_opt_add_arg(&args, "-osubtype=bltfs") == -1) ||
	    (!c.fsname && main_fsname(&args, c.store) < 0))
		goto out;
	if (ctl_create(&fs, &ops_table, &fs.ctl) < 0) {
		fs_log("%s", blt_errmsg());
		status = 1;
		goto out;
	}
	/* before the store is opened (or made): libfuse refuses options it
	 * does not know here */
	fs.se = fuse_session_new(&args, ctl_ops(fs.ctl), sizeof ops_table, &fs);
	if (fs.se == NULL)
		goto out;
	status = 1;

	if (!o.foreground)
		ready = main_fork();
	if (main_locks_init(&fs) < 0)
		goto destroy;
	locks = 1;
	if ((rc = main_open(&fs, &c)) < 0) {
		if (rc == -EWOULDBLOCK)
			status = 3; /* held by another process, as blt says */
		goto destroy;
	}
	if (fs.follow != NULL)
		blt_unhold(fs.db); /* follow_start()'s: the index is built */
	if (ctl_start(fs.ctl) < 0) {
		fs_log("%s", blt_errmsg());
		goto destroy;
	}
	if (fuse_set_signal_handlers(fs.se) == -1)
		goto destroy;
	if (fuse_session_mount(fs.se, o.mountpoint) == -1)
		goto signals;
	if ((rc = session_io_start(fs.se)) < 0)
		fs_log("%s: lookups of one directory wait for each other: %s",
		    o.mountpoint, strerror(-rc));
	main_own_dev(&fs);
	if (!o.foreground)
		main_detach();
	main_ready(ready);
	main_ready(c.ready_fd);
	rc = main_loop(&fs, &o, &c);
	ctl_stop(fs.ctl); /* no job may touch the session past here */
	status = rc < 0 || lazy_failed(&fs) ? 1 : 0;
	if (rc < 0)
		fs_log("%s: session ended: %s", o.mountpoint, strerror(-rc));
	fuse_session_unmount(fs.se);
      signals:
	fuse_remove_signal_handlers(fs.se);
destroy:
	/* the follow thread tells the kernel through the session */
	follow_stop(fs.follow);
	fuse_session_destroy(fs.se);
	ctl_free(fs.ctl);
	fs.ctl = NULL;
	if (main_close(&fs) < 0)
		status = 1;
	if (locks)
		main_locks_destroy(&fs);
out:
	ctl_free(fs.ctl); /* made, but no session */
	free(c.store);
	free(c.ctl);
	free(o.mountpoint);
	fuse_opt_free_args(&args);
	return status;
}
