/*
 * The index cache: the directory index of a large store kept in a file of
 * the user's cache directory ($XDG_CACHE_HOME/bltfs, else ~/.cache/bltfs),
 * so that the next mount of the same, unchanged store reads its listings
 * back instead of scanning every key: at ten million keys a scan takes
 * twenty times as long as reading the store (doc/benchmarks.md, "The
 * index cache").
 *
 * A cache is a guess about another file, which any program may have
 * written since (the Python booklet, blt, another mount), so it is
 * trusted only if everything that a write moves is as it was when the
 * scan began: the store's device and inode number, size, modification
 * and change times (a change time cannot be set back) and its 200 header
 * bytes (key count, buckets, index place).  A write within the same tick
 * of the file system's clock as the scan's start would leave the times as
 * they were, so a store changed less than ICACHE_SETTLE seconds before
 * the scan is not cached; nor is one that changed during the scan.
 *
 * The file: a head (struct icache_head: this build, the store, the mount's
 * key options, the live bytes), the index as inode_tree_save() writes it,
 * and a 64-bit sum of both in chunks of ICACHE_CHUNK, which a file cut
 * short fails too.  A cache that is
 * not this build's or this store's is passed over; one whose sum or
 * contents are wrong is logged, removed and replaced.  It is written
 * beside its place and renamed there, so a reader sees a whole one or
 * none, by a thread of its own holding the index's read lock, which it
 * takes before the mount answers anything.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bltutil.h"
#include "indexer-int.h"

#define ICACHE_MAGIC "BLTFSIX\n"
/* Bump with any change of the bytes inode-save.c writes, of the head, or
 * of the hashes a listing's table is made with (idir_hash()). */
#define ICACHE_LAYOUT 2
#define ICACHE_ORDER 0x01020304 /* as this machine writes it */
#define ICACHE_CHUNK (1u << 20)
#define ICACHE_SETTLE 2       /* seconds; FAT's clock ticks every two */
#define ICACHE_STORE_HEAD 200 /* the booklet header (format §2) */

/* What a write to the store moves. */
struct icache_id {
	uint64_t dev, ino, size;
	int64_t mtime_s, mtime_ns, ctime_s, ctime_ns;
	unsigned char header[ICACHE_STORE_HEAD];
};

struct icache_head {
	char magic[8];
	uint32_t order, layout;
	char build[32]; /* PACKAGE_VERSION */
	struct icache_id id;
	/* how keys are paths (struct path_conf) */
	uint32_t key_ser, flat, int_width, int_signed, ctl_len;
	char ctl[PATH_NAME_MAX + 1];
	uint64_t live_bytes; /* blt_stat()'s, so that it needs no scan */
};

struct index_cache {
	char *path;              /* the cache file */
	char *hints_path;        /* its directory hints (dir-hints.c) */
	struct icache_head head; /* the store as the scan began */
	int from_cache;          /* the index was read from path */
	int64_t scanned_at;      /* µs: when the scan began */
	/* the save: its thread, and whether it holds the index's lock */
	pthread_t saver;
	int saving;
	/* the save of the directory hints: its thread, what it saves, and
	 * inode_dir_changes() when it began */
	pthread_t hinter;
	int hinting;
	uint64_t nkeys;
	uint64_t hinted_at;
	const struct blt_mark *mark; /* icache_mark() */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int locked;
	struct inode_tree *tree;
	/* the writer: a chunk at a time, summed as it goes */
	int fd;
	unsigned char *buf;
	size_t nbuf;
	uint64_t sum;
};

/* The sum of n bytes after sum (ino_hash_name()'s steps are one-to-one,
 * so a change of one word always changes the sum of its chunk). */
static uint64_t
icache_sum(uint64_t sum, const void *p, size_t n)
{
	return ino_hash_name(sum, p, n);
}

/* The cache directory: $XDG_CACHE_HOME/bltfs, or ~/.cache/bltfs; NULL if
 * neither is set to an absolute path. */
static char *
icache_dir(void)
{
	const char *x = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	char *d = NULL;

	if (x != NULL && x[0] == '/')
		return asprintf(&d, "%s/bltfs", x) < 0 ? NULL : d;
	if (home != NULL && home[0] == '/')
		return asprintf(&d, "%s/.cache/bltfs", home) < 0 ? NULL : d;
	return NULL;
}

/* The head this store and these options give now.  -errno. */
static int
icache_identify(
    struct fs *fs, const struct path_conf *pc, struct icache_head *h)
{
	struct stat sb;
	uint64_t gen;
	int fd, rc = 0;

	memset(&sb, 0, sizeof sb);
	memset(h, 0, sizeof *h);
	memcpy(h->magic, ICACHE_MAGIC, sizeof h->magic);
	h->order = ICACHE_ORDER;
	h->layout = ICACHE_LAYOUT;
	snprintf(h->build, sizeof h->build, "%s", PACKAGE_VERSION);
	h->key_ser = pc->key_ser;
	h->flat = (uint32_t)pc->flat;
	h->int_width = (uint32_t)pc->int_width;
	h->int_signed = (uint32_t)pc->int_signed;
	h->ctl_len = (uint32_t)pc->ctl_len;
	memcpy(h->ctl, pc->ctl, pc->ctl_len);
	if ((fd = blt_dup_fd(fs->db, &gen)) < 0)
		return fd;
	if (fstat(fd, &sb) < 0)
		rc = -errno;
	else if (pread(fd, h->id.header, sizeof h->id.header, 0) !=
	         (ssize_t)sizeof h->id.header)
		rc = -EIO;
	close(fd);
	h->id.dev = (uint64_t)sb.st_dev;
	h->id.ino = (uint64_t)sb.st_ino;
	h->id.size = (uint64_t)sb.st_size;
	h->id.mtime_s = (int64_t)sb.st_mtim.tv_sec;
	h->id.mtime_ns = (int64_t)sb.st_mtim.tv_nsec;
	h->id.ctime_s = (int64_t)sb.st_ctim.tv_sec;
	h->id.ctime_ns = (int64_t)sb.st_ctim.tv_nsec;
	return rc;
}

/* Whether head a (a cache's) is head b (the store's now), live bytes
 * aside. */
static int
icache_same(const struct icache_head *a, const struct icache_head *b)
{
	return memcmp(a, b, offsetof(struct icache_head, live_bytes)) == 0;
}

/* A damaged cache: say so and remove it (a scan makes a new one). */
static int
icache_damaged(const struct index_cache *ic, const char *why)
{
	fs_log("index cache %s: %s; scanning the store instead", ic->path, why);
	(void)unlink(ic->path);
	return 0;
}

/* Read the index from ic->path into *tree if it is of the store as ic's
 * head says it is now: 1, else 0 (nothing there, another store's or
 * another build's, damaged), or -ENOMEM. */
static int
icache_read(struct index_cache *ic, const struct path_conf *pc,
    struct inode_tree **tree)
{
	struct icache_head h;
	struct stat sb;
	const unsigned char *p;
	uint64_t sum = 0, want;
	size_t len, off, n;
	int fd, rc = 0;

	if ((fd = index_cache_open_own(ic->path, &sb)) < 0)
		return 0;
	if ((uint64_t)sb.st_size < sizeof h + sizeof sum ||
	    pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h) {
		close(fd);
		return 0;
	}
	if (!icache_same(&h, &ic->head)) { /* the store changed: normal */
		close(fd);
		return 0;
	}
	len = (size_t)sb.st_size;
	p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return 0;
	(void)madvise((void *)p, len, MADV_SEQUENTIAL); /* hints, not flags */
	(void)madvise((void *)p, len, MADV_WILLNEED);
	for (off = 0; off < len - sizeof sum; off += n) {
		n = len - sizeof sum - off;
		n = n > ICACHE_CHUNK ? ICACHE_CHUNK : n;
		sum = icache_sum(sum, p + off, n);
	}
	memcpy(&want, p + len - sizeof sum, sizeof want);
	if (sum != want)
		rc = icache_damaged(ic, "its sum is wrong");
	else if ((rc = inode_tree_load(pc, p + sizeof h,
	              len - sizeof h - sizeof sum, "its index", tree)) ==
	         -EINVAL)
		rc = icache_damaged(ic, blt_errmsg());
	else if (rc == 0) {
		ic->head.live_bytes = h.live_bytes;
		rc = 1;
	}
	munmap((void *)p, len);
	return rc;
}

/* --- the save ---------------------------------------------------------- */

static int
icache_flush(struct index_cache *ic)
{
	size_t done = 0;
	ssize_t w;

	ic->sum = icache_sum(ic->sum, ic->buf, ic->nbuf);
	while (done < ic->nbuf) {
		if ((w = write(ic->fd, ic->buf + done, ic->nbuf - done)) < 0) {
			if (errno == EINTR)
				continue;
			return blt_errmsg_set(-errno, "%s", strerror(errno));
		}
		done += (size_t)w;
	}
	ic->nbuf = 0;
	return 0;
}

/* inode_put_fn: through the buffer, so that the sum's chunks are whole. */
static int
icache_put(void *arg, const void *p, size_t n)
{
	struct index_cache *ic = arg;
	const unsigned char *b = p;
	size_t k;
	int rc;

	while (n > 0) {
		k = ICACHE_CHUNK - ic->nbuf;
		k = k > n ? n : k;
		memcpy(ic->buf + ic->nbuf, b, k);
		ic->nbuf += k;
		b += k;
		n -= k;
		if (ic->nbuf == ICACHE_CHUNK && (rc = icache_flush(ic)) < 0)
			return rc;
	}
	return 0;
}

/* Called by inode_tree_save() once it holds the index's read lock. */
static void
icache_locked(void *arg)
{
	struct index_cache *ic = arg;

	pthread_mutex_lock(&ic->mu);
	ic->locked = 1;
	pthread_cond_signal(&ic->cv);
	pthread_mutex_unlock(&ic->mu);
}

/* Write the whole file to ic->fd: head, index, sum. */
static int
icache_write(struct index_cache *ic)
{
	int rc;

	if ((rc = icache_put(ic, &ic->head, sizeof ic->head)) < 0 ||
	    (rc = inode_tree_save(
	         ic->tree, icache_put, ic, icache_locked, ic)) < 0 ||
	    (rc = icache_flush(ic)) < 0)
		return rc;
	if (write(ic->fd, &ic->sum, sizeof ic->sum) != (ssize_t)sizeof ic->sum)
		return blt_errmsg_set(-EIO, "cannot write its sum");
	return 0;
}

/* Remove what saves of path by daemons that are gone left beside it (path
 * followed by '.' and their process number): a daemon killed while it
 * saved the index of 100 million keys leaves 3.5 GB. */
static void
icache_remove_orphans(const char *path)
{
	const char *base = strrchr(path, '/') + 1;
	size_t blen = strlen(base);
	struct dirent *e;
	char *dir, *end;
	DIR *d;
	long pid;

	if ((dir = strndup(path, (size_t)(base - path))) == NULL)
		return;
	if ((d = opendir(dir)) != NULL) {
		while ((e = readdir(d)) != NULL) {
			if (strncmp(e->d_name, base, blen) != 0 ||
			    e->d_name[blen] != '.')
				continue;
			pid = strtol(e->d_name + blen + 1, &end, 10);
			/* a live process may be saving it now */
			if (*end == '\0' && pid > 0 && pid != (long)getpid() &&
			    kill((pid_t)pid, 0) < 0 && errno == ESRCH)
				(void)unlinkat(dirfd(d), e->d_name, 0);
		}
		closedir(d);
	}
	free(dir);
}

int
index_cache_open_own(const char *path, struct stat *sb)
{
	int fd;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return -1;
	/* only ours: another user's file is not read, whatever it says */
	if (fstat(fd, sb) < 0 || !S_ISREG(sb->st_mode) ||
	    sb->st_uid != geteuid()) {
		close(fd);
		return -1;
	}
	return fd;
}

int
index_cache_create_beside(const char *path, char **tmp)
{
	int fd;

	if (asprintf(tmp, "%s.%ld", path, (long)getpid()) < 0) {
		*tmp = NULL;
		return blt_errmsg_set(-ENOMEM, "out of memory");
	}
	fd = open(
	    *tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		fd = blt_errmsg_set(-errno, "%s", strerror(errno));
		free(*tmp);
		*tmp = NULL;
	}
	return fd;
}

int
index_cache_put_in_place(const char *path, char *tmp, int rc)
{
	if (rc == 0 && rename(tmp, path) < 0)
		rc = blt_errmsg_set(-errno, "%s", strerror(errno));
	if (rc < 0)
		(void)unlink(tmp);
	else
		icache_remove_orphans(path);
	free(tmp);
	return rc;
}

/* The saver's thread: write the index beside ic->path, then rename it
 * there.  Whatever happens, the mount waits no longer than for the lock. */
static void *
icache_save(void *arg)
{
	struct index_cache *ic = arg;
	char *tmp = NULL;
	int rc = -ENOMEM;

	ic->fd = -1;
	if ((ic->buf = malloc(ICACHE_CHUNK)) != NULL) {
		ic->fd = index_cache_create_beside(ic->path, &tmp);
		rc = ic->fd < 0 ? ic->fd : icache_write(ic);
	}
	if (!ic->locked) /* nothing written: the mount may go on */
		icache_locked(ic);
	if (ic->fd >= 0 && close(ic->fd) < 0 && rc == 0)
		rc = blt_errmsg_set(-errno, "%s", strerror(errno));
	if (tmp != NULL)
		rc = index_cache_put_in_place(ic->path, tmp, rc);
	/* a mount that changed the index first has nothing to save */
	if (rc < 0 && rc != -EAGAIN && rc != -ENOMEM)
		fs_log("index cache %s: not saved: %s", ic->path, blt_errmsg());
	free(ic->buf);
	ic->buf = NULL;
	return NULL;
}

/* Start saving fs->tree if the store is as the scan found it and has been
 * for a while, and wait until the saver holds the index's lock. */
static void
icache_save_start(
    struct fs *fs, struct index_cache *ic, const struct path_conf *pc)
{
	struct icache_head now;
	struct blt_stat st;

	if (icache_identify(fs, pc, &now) < 0 || !icache_same(&now, &ic->head))
		return; /* written meanwhile */
	if ((ic->head.id.ctime_s + ICACHE_SETTLE) * 1000000 > ic->scanned_at)
		return; /* a write in the same tick would not show */
	if (blt_stat(fs->db, &st) < 0) /* no scan: this one counted */
		return;
	ic->head.live_bytes = st.live_bytes;
	if (pthread_create(&ic->saver, NULL, icache_save, ic) != 0)
		return;
	ic->saving = 1;
	pthread_mutex_lock(&ic->mu);
	while (!ic->locked)
		pthread_cond_wait(&ic->cv, &ic->mu);
	pthread_mutex_unlock(&ic->mu);
}

/* --- the mount's side -------------------------------------------------- */

/* ic for fs, or NULL if there is no cache directory (it is made, private,
 * if it is not there) or it is not the user's own and theirs alone to
 * write. */
static struct index_cache *
icache_new(struct fs *fs, const struct path_conf *pc)
{
	struct index_cache *ic;
	char *dir = icache_dir(), *slash;
	struct stat sb;

	if (dir == NULL)
		return NULL;
	/* its parent too ($HOME/.cache may not be there yet) */
	slash = strrchr(dir, '/');
	*slash = '\0';
	(void)mkdir(dir, 0700);
	*slash = '/';
	(void)mkdir(dir, 0700);
	/* where others may put or swap files, nothing is read or kept */
	if (lstat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode) ||
	    sb.st_uid != geteuid() || (sb.st_mode & 022) != 0) {
		fs_log("index cache %s: not a directory of the user's own that "
		       "only they may write; no index is kept",
		    dir);
		free(dir);
		return NULL;
	}
	if ((ic = calloc(1, sizeof *ic)) == NULL) {
		free(dir);
		return NULL;
	}
	pthread_mutex_init(&ic->mu, NULL);
	pthread_cond_init(&ic->cv, NULL);
	ic->scanned_at = blt_now();
	if (icache_identify(fs, pc, &ic->head) < 0 ||
	    asprintf(&ic->path, "%s/index-%llx-%llx", dir,
	        (unsigned long long)ic->head.id.dev,
	        (unsigned long long)ic->head.id.ino) < 0)
		ic->path = NULL;
	else if (asprintf(&ic->hints_path, "%s/dirs-%llx-%llx", dir,
	             (unsigned long long)ic->head.id.dev,
	             (unsigned long long)ic->head.id.ino) < 0)
		ic->hints_path = NULL;
	if (ic->hints_path == NULL) {
		index_cache_free(ic);
		ic = NULL;
	}
	free(dir);
	return ic;
}

int
index_cache_load_tree(struct fs *fs, const struct path_conf *pc, int on,
    uint64_t min_keys, int lazy)
{
	struct index_cache *ic = NULL;
	struct blt_stat st;
	int rc;

	/* the layout the offsets of blocks in the index belong to: a cache
	 * is read only for a store whose blocks are where its scan found
	 * them, and a prune during a scan would move on the generation */
	fs->at_gen = blt_generation(fs->db);
	(void)blt_info(fs->db, &st);
	if (on && st.n_keys >= min_keys)
		ic = icache_new(fs, pc);
	fs->icache = ic;
	if (ic != NULL && (rc = icache_read(ic, pc, &fs->tree)) != 0) {
		if (rc < 0)
			return rc;
		ic->from_cache = 1;
		(void)blt_set_live_bytes(fs->db, ic->head.live_bytes);
		return 0;
	}
	if (lazy)
		return lazy_start(fs, pc, ic != NULL ? ic->hints_path : NULL);
	if ((rc = scan_load_tree(fs, pc)) < 0)
		return rc;
	index_cache_built(fs);
	return 0;
}

/* The mark to keep with the directory hints: that of the scan that built
 * the index, or NULL if it could make none. */
static const struct blt_mark *
icache_mark(const struct fs *fs)
{
	return fs->mark.end != 0 ? &fs->mark : NULL;
}

/* The hints' thread: the walk of every directory takes 0.2 s at 156,000
 * of them, which the mount need not wait for. */
static void *
icache_save_hints(void *arg)
{
	struct index_cache *ic = arg;

	dir_hints_save(ic->hints_path, ic->tree, ic->nkeys, ic->mark);
	return NULL;
}

void
index_cache_built(struct fs *fs)
{
	struct index_cache *ic = fs->icache;
	struct blt_stat st;

	if (ic == NULL)
		return;
	ic->tree = fs->tree;
	ic->hinted_at = inode_dir_changes(fs->tree);
	ic->mark = icache_mark(fs);
	if (blt_info(fs->db, &st) == 0) {
		ic->nkeys = st.n_keys;
		ic->hinting = pthread_create(&ic->hinter, NULL,
		                  icache_save_hints, ic) == 0;
	}
	icache_save_start(fs, ic, inode_conf(fs->tree));
}

void
index_cache_unmount(struct fs *fs)
{
	struct index_cache *ic = fs->icache;
	const struct blt_mark *m;
	struct blt_mark kept;
	struct blt_stat st;

	/* a build stopped half-way would keep the hints of half the tree */
	if (ic == NULL || fs->tree == NULL || lazy_building(fs))
		return;
	if (ic->hinting) {
		pthread_join(ic->hinter, NULL);
		ic->hinting = 0;
	}
	if (inode_dir_changes(fs->tree) == ic->hinted_at ||
	    blt_info(fs->db, &st) < 0)
		return;
	/* An index read from the cache was made by no scan of this mount;
	 * the mark the hints have goes with them again, as the tree holds the
	 * keys before it that the store still has. */
	m = !ic->from_cache                         ? icache_mark(fs)
	    : dir_hints_mark(ic->hints_path, &kept) ? &kept
	                                            : NULL;
	dir_hints_save(ic->hints_path, fs->tree, st.n_keys, m);
}

void
index_cache_status_json(struct fs *fs, FILE *f)
{
	const struct index_cache *ic = fs->icache;

	fprintf(f, "  \"index\": {\"from\": \"%s\", \"cache\": ",
	    ic != NULL && ic->from_cache ? "cache" : "scan");
	if (ic != NULL)
		json_put_str(f, ic->path, strlen(ic->path));
	else
		fputs("null", f);
	fprintf(f,
	    ", \"nodes\": %" PRIu64 ", \"state\": \"%s\", "
	    "\"directories_known\": %s, \"directories_hinted\": %" PRId64
	    ", \"directories_since_hints\": %s, \"keys_sampled\": %" PRIu64
	    "},\n",
	    inode_nodes(fs->tree), lazy_state_name(fs),
	    lazy_dirs_known(fs) ? "true" : "false", lazy_hinted(fs),
	    lazy_since(fs) ? "true" : "false", lazy_sampled(fs));
}

void
index_cache_free(struct index_cache *ic)
{
	if (ic == NULL)
		return;
	if (ic->saving)
		pthread_join(ic->saver, NULL);
	if (ic->hinting)
		pthread_join(ic->hinter, NULL);
	pthread_cond_destroy(&ic->cv);
	pthread_mutex_destroy(&ic->mu);
	free(ic->path);
	free(ic->hints_path);
	free(ic);
}
