/*
 * io.c alone touches the store file: opening and locking it, mapping it,
 * appending blocks, updating pointers, truncating and syncing; and its
 * name: a prune's new file is made, renamed over it and the rename synced
 * here too.
 *
 * Reads go through a shared memory map that is longer than the file, so it
 * follows the file as it grows without a remap per append; when the file
 * outgrows the window a larger map replaces it, and the old one lives on
 * until the last iterator that borrows from it lets go.  Appends use
 * pwrite(); the 6-byte pointer updates of linking are stores into the map
 * of a writable store, which costs no system call.
 *
 * Small pages for a writer (issue 58).  The kernel caches a file in folios
 * of up to 2 MiB, made as big as the write or the readahead that brings
 * them in, and a 6-byte store into one dirties all of it.  Once a store
 * is bigger than the kernel's dirty threshold (a tenth of RAM by default),
 * writeback cleans pages as fast as a bulk write dirties them again: an
 * overwrite of 8M keys under a 200 MB threshold wrote 557 GB to the disk
 * for a file of 2.5 GB, and took 310 s.  So a writable store's appends go
 * to the kernel a page at a time, and its map reads a page at a time
 * (MADV_RANDOM; scans ask for their readahead themselves, scan.c), which
 * keeps its folios at one page: the same overwrite wrote 12 GB, in 32 s.
 *
 * Tests can install a hook that sees every write and sync before it
 * happens, and every operation on a name (creating a prune's new file,
 * renaming it into place, syncing the directory, removing a leftover), and
 * may fail it, to simulate full disks, power cuts and failing renames.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define IO_WINDOW_MIN (UINT64_C(64) << 20)

static io_hook_fn *io_hook;
static void *io_hook_arg;

/* Install (or with NULL remove) the test hook called before each write. */
void
io_set_hook(io_hook_fn *fn, void *arg)
{
	io_hook = fn;
	io_hook_arg = arg;
}

/* What the hook says of op: 0, or the negative errno it fails op with. */
static int
io_hook_rc(int op, int fd, uint64_t off, size_t len)
{
	int rc;

	if (io_hook == NULL ||
	    (rc = io_hook(io_hook_arg, op, fd, off, len)) >= 0)
		return 0;
	return rc;
}

static int
io_hook_call(struct blt *db, int op, int fd, uint64_t off, size_t len)
{
	int rc;

	if ((rc = io_hook_rc(op, fd, off, len)) == 0)
		return 0;
	return err_set(rc, "%s: %s failed at offset %llu: %s", db->path,
	    op == IO_OP_SYNC ? "sync" : "write", (unsigned long long)off,
	    strerror(-rc));
}

static int
io_hooked(struct blt *db, int op, uint64_t off, size_t len)
{
	return io_hook_call(db, op, db->fd, off, len);
}

static void
io_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* Take booklet's flock (§12): shared for readers, exclusive for writers.
 * timeout < 0 waits forever, 0 fails at once, > 0 polls until it passes. */
int
io_lock(int fd, const char *path, int exclusive, double timeout)
{
	int op = exclusive ? LOCK_EX : LOCK_SH;
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		if (flock(fd, op | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return err_set(-errno, "%s: cannot lock: %s", path,
			    strerror(errno));
		if (timeout < 0) {
			if (flock(fd, op) == 0)
				return 0;
			if (errno == EINTR)
				continue;
			return err_set(-errno, "%s: cannot lock: %s", path,
			    strerror(errno));
		}
		if (timeout == 0)
			return err_set(-EWOULDBLOCK,
			    "%s: locked by another process", path);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec +
		        (now.tv_nsec - start.tv_nsec) / 1e9 >=
		    timeout)
			return err_set(-EWOULDBLOCK,
			    "%s: locked by another process past the lock "
			    "timeout (%s lock not granted within %g s)",
			    path, exclusive ? "exclusive" : "shared", timeout);
		io_sleep_ms(50 + rand() % 50);
	}
}

/* How often io_open() follows a store that prunes keep replacing. */
#define IO_REOPEN_MAX 1000

/* Open and lock path for mode; sets db->fd and db->size.  A prune puts a
 * new file in the store's place with rename(2) while it holds the lock, so
 * a process that waited for the lock may get it on the old file, which is
 * no longer the store: whatever it wrote there would be lost.  So once
 * locked, the file must still be the one at path, or path is opened
 * again. */
int
io_open(struct blt *db, const char *path, int mode)
{
	return io_open_locked(db, path, mode, mode != BLT_RDONLY);
}

/* io_open() with the lock exclusive or shared as asked: a shared store
 * (share.c) opens its replaced file again with the lock it held. */
int
io_open_locked(struct blt *db, const char *path, int mode, int exclusive)
{
	int oflags = O_CLOEXEC | (mode == BLT_RDONLY ? O_RDONLY : O_RDWR);
	struct stat st, now;
	int rc;

	if (mode >= BLT_CREATE)
		oflags |= O_CREAT;
	for (int tries = 0;; tries++) {
		/* Reads leave the access time alone where the file's owner
		 * may ask so: a mount reads the store beside a writer, whose
		 * every write moves the change time, and relatime then wrote
		 * the inode at each read after it (touch_atime(), 6% of a
		 * read-only mount's time beside a pipeline) */
		if ((db->fd = open(path, oflags | O_NOATIME, 0644)) == -1 &&
		    errno == EPERM)
			db->fd = open(path, oflags, 0644);
		if (db->fd == -1)
			return err_set(-errno, "%s: %s", path, strerror(errno));
		if ((rc = io_lock(db->fd, path, exclusive, db->lock_timeout)) <
		    0)
			return rc;
		if (fstat(db->fd, &st) == -1)
			return err_set(-errno, "%s: %s", path, strerror(errno));
		if (!S_ISREG(st.st_mode))
			return err_set(
			    -EUCLEAN, "%s: not a regular file", path);
		if (stat(path, &now) == 0 && now.st_dev == st.st_dev &&
		    now.st_ino == st.st_ino)
			break;
		if (tries == IO_REOPEN_MAX)
			return err_set(-EAGAIN,
			    "%s: replaced by another process each time its "
			    "lock was granted (%d times)",
			    path, tries + 1);
		close(db->fd);
	}
	db->size = (uint64_t)st.st_size;
	/* A prune replaces the file, not a symbolic link to it: renamed over
	 * the link, the new file would leave the real one behind, stale. */
	if ((db->file = realpath(path, NULL)) == NULL &&
	    (db->file = strdup(path)) == NULL)
		return err_oom(path);
	return 0;
}

/* Take a reference on m. */
struct io_map *
io_map_ref(struct io_map *m)
{
	atomic_fetch_add(&m->refs, 1);
	return m;
}

/* Drop a reference on m (NULL is fine); the last one unmaps it. */
void
io_map_unref(struct io_map *m)
{
	if (m == NULL || atomic_fetch_sub(&m->refs, 1) != 1)
		return;
	munmap(m->base, m->len);
	free(m);
}

/* The least a copy out of the map asks the kernel to read ahead: below,
 * the system call would cost more than the page faults it saves when the
 * value is cached, as it usually is. */
#define IO_READ_AHEAD_MIN (64u << 10)

/* About to copy len bytes at p, a value in the map of db: ask the kernel
 * to read them in now, in big requests, since the map of a writable store
 * has no readahead (top of file) and would fault a big value in a page at
 * a time.  Only a hint. */
void
io_read_ahead(const struct blt *db, const unsigned char *p, uint64_t len)
{
	const unsigned char *base = db->map->base;
	uintptr_t mask = io_page_size() - 1, from;

	if (db->rdonly || len < IO_READ_AHEAD_MIN || p < base ||
	    p + len > base + db->map->len)
		return;
	from = (uintptr_t)p & ~mask;
	(void)madvise(
	    (void *)from, (size_t)((uintptr_t)p + len - from), MADV_WILLNEED);
}

/* Make sure the map covers [0, end); the caller holds the write lock or is
 * opening the store. */
int
io_map_cover(struct blt *db, uint64_t end)
{
	int prot = PROT_READ | (db->rdonly ? 0 : PROT_WRITE);
	uint64_t len = IO_WINDOW_MIN;
	struct io_map *m;
	void *base;

	if (db->map != NULL && db->map->len >= end)
		return 0;
	while (len < end * 2)
		len *= 2;
	if (len > SIZE_MAX)
		return err_set(-EFBIG, "%s: too large to map", db->path);
	base = mmap(NULL, (size_t)len, prot, MAP_SHARED, db->fd, 0);
	if (base == MAP_FAILED)
		return err_set(-errno, "%s: cannot map %llu bytes: %s",
		    db->path, (unsigned long long)len, strerror(errno));
	if (!db->rdonly) /* a hint: small folios (top of file) */
		(void)madvise(base, (size_t)len, MADV_RANDOM);
	if ((m = malloc(sizeof *m)) == NULL) {
		munmap(base, (size_t)len);
		return err_oom(db->path);
	}
	m->base = base;
	m->len = (size_t)len;
	atomic_init(&m->refs, 1);
	io_map_unref(db->map);
	db->map = m;
	return 0;
}

int
io_stopped(struct blt *db)
{
	int flags = blt_flags(db), rc;

	if ((rc = share_writable(db)) < 0)
		return rc;
	if (flags & BLT_REINDEX_STUCK)
		return err_set(-EIO,
		    "%s: a reindex failed half-way; reopen the store to "
		    "finish or undo it",
		    db->path);
	if (flags & BLT_FLUSH_STUCK)
		return err_set(-EIO,
		    "%s: a flush failed after marking values live; reopen "
		    "the store to link them",
		    db->path);
	if (flags & BLT_TORN_TAIL)
		return err_set(-EIO,
		    "%s: a write failed and what it left could not be cut "
		    "off; reopen the store to recover it",
		    db->path);
	return 0;
}

/* The system's page: the size of the pieces in which a writable store's
 * appends reach the kernel (top of file). */
size_t
io_page_size(void)
{
	static size_t page;

	if (page == 0) {
		long n = sysconf(_SC_PAGESIZE);

		page = n > 0 ? (size_t)n : 4096;
	}
	return page;
}

/* pwrite all of buf at off through fd, in writes that do not cross a
 * multiple of piece. */
static int
io_pwrite_in(struct blt *db, int fd, uint64_t off, const void *buf, size_t len,
    size_t piece)
{
	const unsigned char *p = buf;
	size_t done = 0;
	int rc;

	if ((rc = io_hook_call(db, IO_OP_WRITE, fd, off, len)) < 0)
		return rc;
	while (done < len) {
		size_t want = len - done;
		ssize_t n;

		if (want > piece - (off + done) % piece)
			want = piece - (off + done) % piece;
		n = pwrite(fd, p + done, want, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return err_set(n < 0 ? -errno : -EIO,
			    "%s: write of %zu bytes at %llu failed: %s",
			    db->path, len, (unsigned long long)off,
			    n < 0 ? strerror(errno) : "no progress");
		done += (size_t)n;
	}
	return 0;
}

/* pwrite all of buf at off through fd, the store's descriptor or a
 * duplicate of it.  A writer filling a reserved block (io_reserve) calls
 * this without the write lock, through a duplicate taken under it, since a
 * prune may close the original meanwhile; nothing of db but its path is
 * read.  A big value goes to the kernel whole: nothing stores into it
 * later but into its first page, which the block's head was written to
 * alone. */
int
io_pwrite(struct blt *db, int fd, uint64_t off, const void *buf, size_t len)
{
	return io_pwrite_in(db, fd, off, buf, len, SIZE_MAX);
}

/* Note that the file now ends at end: what we append (or reserve, for a
 * block whose head we wrote) is whole, so it extends the verified prefix;
 * grow the map to cover it. */
static int
io_grown(struct blt *db, uint64_t end)
{
	if (end <= db->size)
		return 0;
	if (__atomic_load_n(&db->trusted, __ATOMIC_RELAXED) >= db->size)
		scan_trust(db, end);
	db->size = end;
	db->unsynced = 1;
	return io_map_cover(db, db->size);
}

/* pwrite all of buf at off in pieces of piece bytes, growing the
 * recorded size and the map. */
static int
io_write_in(
    struct blt *db, uint64_t off, const void *buf, size_t len, size_t piece)
{
	int rc;

	if ((rc = io_stopped(db)) < 0)
		return rc;
	if ((rc = io_pwrite_in(db, db->fd, off, buf, len, piece)) < 0)
		return rc;
	return io_grown(db, off + len);
}

/* pwrite all of buf at off, growing the recorded size and the map. */
int
io_write(struct blt *db, uint64_t off, const void *buf, size_t len)
{
	return io_write_in(db, off, buf, len, SIZE_MAX);
}

/* A duplicate of the store's descriptor, or a negative errno with the
 * message set.  It stays open on this file when a prune puts a new one in
 * place and closes db->fd. */
int
io_dup(struct blt *db)
{
	int fd = fcntl(db->fd, F_DUPFD_CLOEXEC, 0);

	if (fd == -1)
		return err_set(-errno,
		    "%s: cannot duplicate its descriptor: %s", db->path,
		    strerror(errno));
	return fd;
}

/* Append, at end, an extent of len bytes of whole blocks of a variable
 * store, whose first n bytes are buf's (the rest a reserved value, left
 * a hole for now), so that a kill between any two of its writes leaves a
 * file whose blocks all parse.  Written in pieces of a page, as appends
 * are, a kill between two would leave a block that runs past the end of
 * the file; the reference, which opens a store left unclean without
 * cutting a torn end, appends after it, and its own items() then stop
 * there and miss every key put later (tests/blt-crash-append.sh).  So the
 * extent is first one dead block (§5.6), in steps that each leave the
 * file parsing:
 *   1. a skip block of s bytes at end, s chosen so that len - s is a
 *      whole number of minimal blocks of zeros;
 *   2. the file grown to end + len: those zeros, each a dead block;
 *   3. the skip block's value length stretched over all len bytes;
 *   4. buf's bytes past its first page, under that skip block;
 *   5. the first page last: the kernel writes one page of one write
 *      whole, and with it the first block's head replaces the skip's.
 * A file that cannot grow by a truncate (a size limit) takes the old way.
 * Three writes more than an append within one page, which needs none;
 * peek.c's readers without the lock wait at a skip block that ends the
 * file.  0, a negative errno, or 1 for an extent that cannot be sealed
 * (a fixed store's blocks have no value length to stretch, a file that
 * cannot grow so): the caller appends it the old way. */
static int
io_append_sealed(struct blt *db, uint64_t end, const unsigned char *buf,
    size_t n, uint64_t len)
{
	uint64_t head = VAR_FIXED_LEN + db->h.ts_len;
	size_t page = io_page_size(), first = page - end % page;
	unsigned char skip[2 * (VAR_FIXED_LEN + TS_LEN)] = {0};
	uint64_t s;
	int rc;

	if (db->h.fixed || len <= head || len - head - 1 > UINT32_MAX)
		return 1;
	if ((rc = io_stopped(db)) < 0)
		return rc;
	s = head + 1 + (len - head - 1) % head;
	/* a first page too short for a head: the head's two pages last */
	if (first < head)
		first += page;
	if (first > n)
		first = n;
	le_put(skip + BLOCK_KLEN_OFF, 1, KLEN_LEN);
	le_put(skip + BLOCK_VLEN_OFF, s - head - 1, VLEN_LEN);
	if ((rc = io_pwrite_in(db, db->fd, end, skip, (size_t)s, SIZE_MAX)) < 0)
		return rc;
	if (ftruncate(db->fd, (off_t)(end + len)) == -1) {
		/* a file that cannot grow so (a size limit, a file system
		 * that fails it): an append is written the old way, over the
		 * skip block, and its write says why it fails, if it does */
		if (n == len)
			return 1;
		return err_set(-errno, "%s: cannot grow to %llu bytes: %s",
		    db->path, (unsigned long long)(end + len), strerror(errno));
	}
	le_put(skip + BLOCK_VLEN_OFF, len - head - 1, VLEN_LEN);
	if ((rc = io_pwrite_in(db, db->fd, end + BLOCK_VLEN_OFF,
	         skip + BLOCK_VLEN_OFF, VLEN_LEN, SIZE_MAX)) < 0 ||
	    (n > first && (rc = io_pwrite_in(db, db->fd, end + first,
	                       buf + first, n - first, page)) < 0) ||
	    (rc = io_pwrite_in(db, db->fd, end, buf, first, SIZE_MAX)) < 0)
		return rc;
	return io_grown(db, end + len);
}

/* Append buf at the end of the file.  If that fails (a full disk, say),
 * what part of buf reached the file is cut off again: the next append
 * must start where this one did, or the torn block would swallow it. */
int
io_append(struct blt *db, const void *buf, size_t len)
{
	uint64_t end = db->size;
	size_t page = io_page_size();
	int rc = 1;

	if (db->size + len > PTR_MAX)
		return err_set(-EFBIG,
		    "%s: the format's 2^48-byte limit "
		    "would be passed",
		    db->path);
	/* within one page: one write the kernel makes whole */
	if (len > page - end % page)
		rc = io_append_sealed(db, end, buf, len, len);
	if (rc == 1)
		rc = io_write_in(db, end, buf, len, page);
	if (rc < 0)
		io_cut_back(db, end);
	return rc;
}

/* Append the head of a block of size bytes and let the file grow past
 * the rest, which the caller writes later (io_pwrite) while appends go on
 * after it.  The file grows with a hole, not with allocated zeros: on
 * tmpfs those would cost as much as writing the value under the lock.
 * Sealed as an append is (io_append_sealed()), so that a kill leaves no
 * head running past the end; the growth is no hooked write: a crash
 * that loses it leaves a torn tail, which our next open cuts as it would
 * an interrupted append. */
int
io_reserve(struct blt *db, const void *head, size_t hlen, uint64_t size)
{
	uint64_t q = db->size;
	int rc;

	if (q + size > PTR_MAX)
		return err_set(-EFBIG,
		    "%s: the format's 2^48-byte limit would be passed",
		    db->path);
	if ((rc = io_append_sealed(db, q, head, hlen, size)) != 1) {
		if (rc < 0)
			io_cut_back(db, q);
		return rc;
	}
	if ((rc = io_append(db, head, hlen)) < 0)
		return rc;
	if (ftruncate(db->fd, (off_t)(q + size)) == -1)
		rc = err_set(-errno, "%s: cannot grow to %llu bytes: %s",
		    db->path, (unsigned long long)(q + size), strerror(errno));
	if (rc == 0 && (rc = io_grown(db, q + size)) == 0)
		return 0;
	io_cut_back(db, q);
	return rc;
}

void
io_stop_writes(struct blt *db, int why)
{
	/* blt_flags() may read it meanwhile, without the lock: the daemon
	 * reports the state from a thread that is not writing */
	__atomic_fetch_or(&db->flags, why, __ATOMIC_RELAXED);
}

/* After a failed write at the end of the file, cut it back to len bytes,
 * keeping the failure's message.  If even that fails, the bytes left would
 * lie under the next appends: the store takes no more writes (BLT_TORN_TAIL),
 * stays marked unclean, and its next open cuts the torn tail. */
void
io_cut_back(struct blt *db, uint64_t len)
{
	char msg[1024];

	snprintf(msg, sizeof msg, "%s", blt_errmsg());
	if (io_truncate(db, len) < 0)
		io_stop_writes(db, BLT_TORN_TAIL);
	(void)err_set(-EIO, "%s", msg); /* the message; callers keep rc */
}

/* Write count copies of the pointer ptr at off (a fresh index), streamed in
 * chunks so that a huge index needs no huge buffer (§2.3), and in pieces
 * of a page, as appends are: its slots are stored into at random. */
int
io_fill(struct blt *db, uint64_t off, uint64_t count, uint64_t ptr)
{
	enum { CHUNK = 10922 }; /* pointers per 64 KiB */
	unsigned char *chunk;
	int rc = 0;

	if ((chunk = malloc(CHUNK * PTR_LEN)) == NULL)
		return err_oom(db->path);
	for (size_t i = 0; i < CHUNK; i++)
		le_put(chunk + i * PTR_LEN, ptr, PTR_LEN);
	while (count > 0 && rc == 0) {
		size_t n = count < CHUNK ? (size_t)count : CHUNK;

		rc = io_write_in(db, off, chunk, n * PTR_LEN, io_page_size());
		off += n * PTR_LEN;
		count -= n;
	}
	free(chunk);
	return rc;
}

/* Store a 6-byte pointer at off, which lies inside the file. */
int
io_put_ptr(struct blt *db, uint64_t off, uint64_t v)
{
	int rc;

	if ((rc = io_stopped(db)) < 0)
		return rc;
	if (off + PTR_LEN > db->size)
		return err_set(-EUCLEAN,
		    "%s: pointer at %llu lies past the "
		    "end of the file",
		    db->path, (unsigned long long)off);
	if ((rc = io_hooked(db, IO_OP_WRITE, off, PTR_LEN)) < 0)
		return rc;
	le_put(db->map->base + off, v, PTR_LEN);
	return 0;
}

/* Start writing [off, off + len) to the disk without waiting for it, so
 * that a later io_sync() of a big file has less left to wait for.  Only a
 * hint: errors show at io_sync(). */
void
io_start_writeback(struct blt *db, uint64_t off, uint64_t len)
{
	(void)sync_file_range(
	    db->fd, (off_t)off, (off_t)len, SYNC_FILE_RANGE_WRITE);
}

/* Make everything written so far durable (the map's stores included). */
int
io_sync(struct blt *db)
{
	int rc;

	if ((rc = io_hooked(db, IO_OP_SYNC, 0, 0)) < 0)
		return rc;
	if (fdatasync(db->fd) == -1)
		return err_set(
		    -errno, "%s: fsync: %s", db->path, strerror(errno));
	db->unsynced = 0;
	return 0;
}

/* Cut the file to len bytes. */
int
io_truncate(struct blt *db, uint64_t len)
{
	int rc;

	if ((rc = io_hooked(db, IO_OP_TRUNCATE, len, 0)) < 0)
		return rc;
	if (ftruncate(db->fd, (off_t)len) == -1)
		return err_set(
		    -errno, "%s: truncate: %s", db->path, strerror(errno));
	db->size = len;
	if (__atomic_load_n(&db->trusted, __ATOMIC_RELAXED) > len)
		__atomic_store_n(&db->trusted, len, __ATOMIC_RELAXED);
	return 0;
}

#define IO_NEW (O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC)

/* Make the new file nb->path beside the store db, for a prune to fill and
 * rename into place (io_rename), and lock it; sets nb->fd.  It is a new
 * file, never one put in the way (a symbolic link to another file would be
 * written and then renamed over the store); a name left by a crash is
 * removed first.  It takes the store's owner (where allowed: root, or a
 * group of ours) and mode, so that the prune does not take the store from
 * its owner. */
int
io_create(struct blt *db, struct blt *nb)
{
	struct stat st;
	int rc;

	if ((rc = io_hook_rc(IO_OP_CREATE, -1, 0, 0)) == 0 &&
	    (nb->fd = open(nb->path, IO_NEW, 0600)) == -1)
		rc = -errno;
	if (rc == -EEXIST && (rc = io_unlink(nb->path)) == 0 &&
	    (nb->fd = open(nb->path, IO_NEW, 0600)) == -1)
		rc = -errno;
	if (rc < 0)
		return err_set(rc, "%s: cannot make the new file: %s", nb->path,
		    strerror(-rc));
	if (fstat(db->fd, &st) == 0) {
		int ignored = fchown(nb->fd, st.st_uid, st.st_gid);

		(void)ignored;
		(void)fchmod(nb->fd, st.st_mode & 07777);
	}
	if (flock(nb->fd, LOCK_EX | LOCK_NB) == -1)
		return err_set(
		    -errno, "%s: cannot lock: %s", nb->path, strerror(errno));
	return 0;
}

/* Put the file from in the place of to, db's file, with rename(2).  The
 * rename is durable once io_sync_dir() of to has returned. */
int
io_rename(struct blt *db, const char *from, const char *to)
{
	int rc;

	if ((rc = io_hook_rc(IO_OP_RENAME, -1, 0, 0)) == 0 &&
	    rename(from, to) == -1)
		rc = -errno;
	if (rc < 0)
		return err_set(rc, "%s: cannot rename %s into place: %s",
		    db->path, from, strerror(-rc));
	return 0;
}

/* fsync the directory holding path, so that a rename in it is durable. */
int
io_sync_dir(const char *path)
{
	char *copy = strdup(path);
	int fd = -1, rc;

	if (copy == NULL)
		return err_oom(path);
	if ((rc = io_hook_rc(IO_OP_SYNC_DIR, -1, 0, 0)) == 0 &&
	    ((fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	            -1 ||
	        fsync(fd) == -1))
		rc = -errno;
	if (rc < 0)
		rc = err_set(
		    rc, "%s: fsync of its directory: %s", path, strerror(-rc));
	if (fd != -1)
		close(fd);
	free(copy);
	return rc;
}

/* Remove the file at path: 0 or a negative errno, and no message, for a
 * caller that cleans up after a failure whose message it keeps, or that
 * says what the removal was for. */
int
io_unlink(const char *path)
{
	int rc;

	if ((rc = io_hook_rc(IO_OP_UNLINK, -1, 0, 0)) < 0)
		return rc;
	return unlink(path) == -1 ? -errno : 0;
}

/* Close fd, a duplicate of a store's descriptor (io_dup()).  Nothing on
 * the disk changes, and the store's lock stays with its own descriptor. */
void
io_close_dup(int fd)
{
	if (fd >= 0)
		close(fd);
}

/* Unmap and close; the lock goes with the descriptor. */
void
io_close(struct blt *db)
{
	io_map_unref(db->map);
	db->map = NULL;
	if (db->fd >= 0 && io_hook != NULL)
		(void)io_hook(io_hook_arg, IO_OP_CLOSE, db->fd, 0, 0);
	if (db->fd >= 0)
		close(db->fd);
	db->fd = -1;
	free(db->file);
	db->file = NULL;
}
