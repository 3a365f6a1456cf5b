/*
 * mount_fsx: random file operations on a mount and on a plain directory
 * side by side; every result must be the same on both.
 *
 *   mount_fsx [-v] [-k] [-F] [-s SEED] [-n OPS] REFDIR MOUNTDIR
 *   mount_fsx -c REFDIR MOUNTDIR      (compare the trees only)
 *
 * In the spirit of fsx: a few open files at a time, written, read back,
 * truncated, synced and closed in random order, through write(2), pwrite
 * and shared mappings; meanwhile truncate, unlink, rename, mkdir and rmdir
 * by path, and utimensat of closed files.  Return values, errno and every
 * byte read must agree, and so must the modification time of every file
 * whose time was set that way and not changed since (on the plain
 * directory, a time before 2020 says so).  A path is open through one
 * descriptor at a time, or through several that all may write (they share
 * their writes at once, as in a plain directory); it is read by path only
 * while it is not open, and truncated by path only while no reader has it
 * open, so the result is what close-to-open consistency promises
 * (bltfs(1)) and a plain directory gives as well.
 * Open files may be unlinked, renamed, replaced by a rename or moved with
 * their directory, and are then read, written and closed like any other.
 * At
 * the end, and with -c, the two trees must hold the same names, types and
 * bytes.  On a difference it prints the seed and the last operations, and
 * exits 1.  -v prints every operation as it goes.  -F: the mount is
 * -o flat, which has no directories: files in the root only.
 *
 * -k: for a crash of the daemon.  After the operations, the files still
 * open are not closed: in the plain directory each gets back the value it
 * had when it was last stored (its open, or its last fsync), or goes if it
 * was never stored, which is what the mount must show after a SIGKILL and
 * a remount.  Then "ready" is printed (or "failed", if the runs differed),
 * and mount_fsx waits for the end of its standard input before it exits.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define FSX_SLOTS 3
#define FSX_LOG 3000
#define FSX_MAX_WRITE 70000
#define FSX_MAX_SIZE (1u << 20)
/* utimensat sets times from 2001 on, and anything that changes a file
 * sets the time it happens: a time before this is one set and kept */
#define FSX_SET_FROM 978307200   /* 2001-01-01 */
#define FSX_SET_UNTIL 1577836800 /* 2020-01-01 */

static const char *const fsx_dirs[] = {"a", "a/b", "c"};
#define FSX_NDIRS (sizeof fsx_dirs / sizeof fsx_dirs[0])
/* every file name in the root and each directory */
static const char *const fsx_files[] = {"x", "y", "z"};
#define FSX_NFILES (sizeof fsx_files / sizeof fsx_files[0])
#define FSX_NPATHS ((FSX_NDIRS + 1) * FSX_NFILES)

struct fsx_slot {
	int used;
	char path[64]; /* where the open file is now; "" once unlinked */
	int fd[2];
	int flags;
	unsigned char *stored; /* the value the store has, if it has one */
	size_t stored_len;
	int is_stored;
};

static struct {
	int dirfd[2]; /* reference, mount */
	const char *root[2];
	uint64_t seed, rng;
	int verbose, crash, flat;
	unsigned long op;
	struct fsx_slot slot[FSX_SLOTS];
	const struct fsx_slot *cur; /* the slot of the operation, if any */
	char log[FSX_LOG][160];
	unsigned char *buf[2], *data;
} fsx;

static uint64_t
fsx_rand(void)
{
	uint64_t x = fsx.rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return fsx.rng = x;
}

static unsigned
fsx_below(unsigned n)
{
	return n ? (unsigned)(fsx_rand() % n) : 0;
}

static void
fsx_path(int i, char *out, size_t cap)
{
	int d = i / (int)FSX_NFILES;

	if (d == 0)
		snprintf(out, cap, "%s", fsx_files[i % FSX_NFILES]);
	else
		snprintf(out, cap, "%s/%s", fsx_dirs[d - 1],
		    fsx_files[i % FSX_NFILES]);
}

/* A path of a file to work on: in a flat mount, the root's only. */
static int
fsx_any_path(void)
{
	return (int)fsx_below(fsx.flat ? FSX_NFILES : FSX_NPATHS);
}

static void
fsx_note(const char *fmt, ...)
{
	char *line = fsx.log[fsx.op % FSX_LOG];
	size_t n = 0;
	va_list ap;

	if (fsx.cur != NULL && fsx.cur->used)
		n = (size_t)snprintf(line, sizeof fsx.log[0], "[%s] ",
		    *fsx.cur->path ? fsx.cur->path : "(unlinked)");
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof fsx.log[0] - n, fmt, ap);
	va_end(ap);
	if (fsx.verbose)
		printf("%lu: %s\n", fsx.op, line);
}

static void
fsx_fail(const char *fmt, ...)
{
	va_list ap;
	unsigned long first = fsx.op >= FSX_LOG ? fsx.op - FSX_LOG + 1 : 0;

	fprintf(stderr,
	    "mount_fsx: seed %" PRIu64 ", operation %lu: ", fsx.seed, fsx.op);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nlast operations:\n", stderr);
	for (unsigned long i = first; i <= fsx.op; i++)
		fprintf(stderr, "  %lu: %s\n", i, fsx.log[i % FSX_LOG]);
	if (fsx.crash)
		printf("failed\n");
	exit(1);
}

/* The result of one call on each side: its return value, or -errno. */
static long
fsx_rc(long rc)
{
	return rc < 0 ? -errno : rc;
}

/* Both sides must have returned the same.  POSIX lets a rename onto a
 * directory that is not empty fail with either of two errors. */
static void
fsx_same(const char *what, long r0, long r1)
{
	if (r0 == -EEXIST)
		r0 = -ENOTEMPTY;
	if (r1 == -EEXIST)
		r1 = -ENOTEMPTY;
	if (r0 != r1)
		fsx_fail("%s: %ld (%s) on the directory, %ld (%s) on the mount",
		    what, r0, r0 < 0 ? strerror((int)-r0) : "ok", r1,
		    r1 < 0 ? strerror((int)-r1) : "ok");
}

static int fsx_slurp(const char *p, unsigned char **out, size_t *len);

static struct fsx_slot *
fsx_open_as(const char *path)
{
	for (int i = 0; i < FSX_SLOTS; i++)
		if (fsx.slot[i].used && strcmp(fsx.slot[i].path, path) == 0)
			return &fsx.slot[i];
	return NULL;
}

static int
fsx_writable(const struct fsx_slot *s)
{
	return (s->flags & O_ACCMODE) != O_RDONLY;
}

/* 1 if every descriptor open as path may write (and at least one is). */
static int
fsx_writers_only(const char *path)
{
	const struct fsx_slot *o = fsx_open_as(path);

	if (o == NULL)
		return 0;
	for (int i = 0; i < FSX_SLOTS; i++)
		if (fsx.slot[i].used && strcmp(fsx.slot[i].path, path) == 0 &&
		    !fsx_writable(&fsx.slot[i]))
			return 0;
	return 1;
}

/* An open file that another descriptor may share, or NULL. */
static struct fsx_slot *
fsx_shareable(void)
{
	unsigned first = fsx_below(FSX_SLOTS);

	for (unsigned i = 0; i < FSX_SLOTS; i++) {
		struct fsx_slot *s = &fsx.slot[(first + i) % FSX_SLOTS];

		if (s->used && *s->path && fsx_writers_only(s->path))
			return s;
	}
	return NULL;
}

/* The file open as path was stored (by a close, fsync or truncate of any
 * of its descriptors): what -k restores it to is its value now. */
static void
fsx_stored(const char *path)
{
	for (int i = 0; i < FSX_SLOTS; i++) {
		struct fsx_slot *s = &fsx.slot[i];

		if (!s->used || !*path || strcmp(s->path, path) != 0)
			continue;
		free(s->stored);
		s->is_stored = fsx_slurp(s->path, &s->stored, &s->stored_len);
	}
}

static void
fsx_bytes(
    const char *what, const unsigned char *a, const unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			fsx_fail("%s: byte %zu is %#x on the directory, %#x "
			         "on the mount",
			    what, i, a[i], b[i]);
}

static void
fsx_sizes(const char *what, struct fsx_slot *s)
{
	struct stat st[2];

	for (int k = 0; k < 2; k++)
		if (fstat(s->fd[k], &st[k]) != 0)
			fsx_fail("%s: fstat: %s", what, strerror(errno));
	if (st[0].st_size != st[1].st_size)
		fsx_fail("%s: size %lld on the directory, %lld on the mount",
		    what, (long long)st[0].st_size, (long long)st[1].st_size);
}

static off_t
fsx_size(struct fsx_slot *s)
{
	struct stat st;

	if (fstat(s->fd[0], &st) != 0)
		fsx_fail("fstat: %s", strerror(errno));
	return st.st_size;
}

/* The value of p in the plain directory, if it is a file there. */
static int
fsx_slurp(const char *p, unsigned char **out, size_t *len)
{
	int fd = openat(fsx.dirfd[0], p, O_RDONLY);
	size_t n = 0;
	ssize_t r;

	*out = NULL;
	*len = 0;
	if (fd < 0)
		return 0;
	if ((*out = malloc(FSX_MAX_SIZE + 1)) == NULL)
		fsx_fail("out of memory");
	while ((r = read(fd, *out + n, FSX_MAX_SIZE + 1 - n)) > 0)
		n += (size_t)r;
	close(fd);
	*len = n;
	return 1;
}

static void
fsx_open(struct fsx_slot *s)
{
	static const int modes[] = {O_RDONLY, O_WRONLY, O_RDWR};
	static const int extra[] = {0, O_CREAT, O_CREAT | O_TRUNC, O_TRUNC,
	    O_APPEND, O_CREAT | O_APPEND, O_CREAT | O_EXCL};
	struct fsx_slot *o;
	unsigned char *stored;
	size_t stored_len;
	char p[64];
	int flags, fd[2], is_stored;

	if (fsx_below(4) == 0 && (o = fsx_shareable()) != NULL) {
		/* another writer of an open file: what is stored is the
		 * same for both */
		memcpy(p, o->path, sizeof p);
		flags = modes[1 + fsx_below(2)] | extra[fsx_below(7)];
		is_stored = o->is_stored;
		stored_len = o->stored_len;
		stored = NULL;
		if (is_stored && (stored = malloc(stored_len + 1)) == NULL)
			fsx_fail("out of memory");
		if (is_stored)
			memcpy(stored, o->stored, stored_len);
	} else {
		do
			fsx_path(fsx_any_path(), p, sizeof p);
		while (fsx_open_as(p) != NULL);
		flags = modes[fsx_below(3)] | extra[fsx_below(7)];
		is_stored = fsx_slurp(p, &stored, &stored_len);
	}
	if ((flags & O_ACCMODE) == O_RDONLY)
		flags &= ~O_APPEND;
	fsx_note("open %s flags %#x", p, flags);
	for (int k = 0; k < 2; k++)
		fd[k] = (int)fsx_rc(openat(fsx.dirfd[k], p, flags, 0644));
	if ((fd[0] < 0) != (fd[1] < 0))
		fsx_same("open", fd[0] < 0 ? fd[0] : 0, fd[1] < 0 ? fd[1] : 0);
	if (fd[0] < 0) {
		fsx_same("open", fd[0], fd[1]);
		free(stored);
		return;
	}
	*s = (struct fsx_slot){
	    1, "", {fd[0], fd[1]}, flags, stored, stored_len, is_stored};
	memcpy(s->path, p, sizeof p);
	fsx_sizes("open", s);
}

static void
fsx_write(struct fsx_slot *s)
{
	off_t size = fsx_size(s), off;
	size_t n = 1 + fsx_below(fsx_below(8) ? 4000 : FSX_MAX_WRITE);
	int how = (int)fsx_below(3);
	long r[2];

	off = fsx_below((unsigned)size + 5000);
	if ((uint64_t)off + n > FSX_MAX_SIZE)
		off = 0;
	for (size_t i = 0; i < n; i++)
		fsx.data[i] = (unsigned char)fsx_rand();
	fsx_note("%s %zu at %lld", how ? "pwrite" : "write", n, (long long)off);
	for (int k = 0; k < 2; k++) {
		if (how)
			r[k] = fsx_rc(pwrite(s->fd[k], fsx.data, n, off));
		else if (lseek(s->fd[k], off, SEEK_SET) < 0)
			r[k] = -errno;
		else
			r[k] = fsx_rc(write(s->fd[k], fsx.data, n));
	}
	fsx_same("write", r[0], r[1]);
	fsx_sizes("write", s);
}

static void
fsx_read(struct fsx_slot *s)
{
	off_t size = fsx_size(s), off = fsx_below((unsigned)size + 100);
	size_t n = fsx_below(fsx_below(4) ? 5000 : FSX_MAX_SIZE);
	long r[2];

	fsx_note("pread %zu at %lld", n, (long long)off);
	for (int k = 0; k < 2; k++)
		r[k] = fsx_rc(pread(s->fd[k], fsx.buf[k], n, off));
	fsx_same("pread", r[0], r[1]);
	if (r[0] > 0)
		fsx_bytes("pread", fsx.buf[0], fsx.buf[1], (size_t)r[0]);
}

static void
fsx_ftruncate(struct fsx_slot *s)
{
	off_t size = fsx_size(s), to = fsx_below((unsigned)size * 2 + 100);
	long r[2];

	fsx_note("ftruncate to %lld", (long long)to);
	for (int k = 0; k < 2; k++)
		r[k] = fsx_rc(ftruncate(s->fd[k], to));
	fsx_same("ftruncate", r[0], r[1]);
	fsx_sizes("ftruncate", s);
}

/* Change a few bytes through a shared mapping of the file. */
static void
fsx_mapwrite(struct fsx_slot *s)
{
	off_t size = fsx_size(s);
	size_t len = (size_t)size;
	unsigned char *m[2];
	unsigned n = 1 + fsx_below(20);

	if ((s->flags & O_ACCMODE) != O_RDWR || size == 0)
		return;
	fsx_note("mmap write %u bytes", n);
	for (int k = 0; k < 2; k++) {
		m[k] = mmap(
		    NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd[k], 0);
		if (m[k] == MAP_FAILED)
			fsx_fail("mmap: %s", strerror(errno));
	}
	fsx_bytes("mmap", m[0], m[1], len);
	for (unsigned i = 0; i < n; i++) {
		size_t at = fsx_below((unsigned)len);
		unsigned char v = (unsigned char)fsx_rand();

		m[0][at] = m[1][at] = v;
	}
	for (int k = 0; k < 2; k++)
		munmap(m[k], len);
}

/* fsync stores the value, as close does. */
static void
fsx_fsync(struct fsx_slot *s)
{
	long r[2];

	fsx_note("fsync");
	for (int k = 0; k < 2; k++)
		r[k] = fsx_rc(fsync(s->fd[k]));
	fsx_same("fsync", r[0], r[1]);
	fsx_stored(s->path);
}

static void
fsx_close(struct fsx_slot *s)
{
	long r[2];

	if (fsx_below(3) == 0)
		fsx_fsync(s);
	fsx_note("close");
	for (int k = 0; k < 2; k++)
		r[k] = fsx_rc(close(s->fd[k]));
	fsx_same("close", r[0], r[1]);
	free(s->stored);
	s->stored = NULL;
	s->used = 0;
	if (fsx_writable(s))
		fsx_stored(s->path); /* the file's other writers */
}

/* Whether a slot before slot i has the same path: the writers of one file
 * share what is stored of it (fsx_stored()), and it is put back once. */
static int
fsx_crash_done(int i)
{
	for (int j = 0; j < i; j++)
		if (fsx.slot[j].used &&
		    strcmp(fsx.slot[j].path, fsx.slot[i].path) == 0)
			return 1;
	return 0;
}

/* -k: the plain directory as the mount must be after a crash now. */
static void
fsx_crash(void)
{
	for (int i = 0; i < FSX_SLOTS; i++) {
		struct fsx_slot *s = &fsx.slot[i];
		int fd;

		if (!s->used || !*s->path || fsx_crash_done(i))
			continue;
		fsx_note("crash: %s back to %zu bytes%s", s->path,
		    s->stored_len, s->is_stored ? "" : " (gone)");
		if (!s->is_stored) {
			if (unlinkat(fsx.dirfd[0], s->path, 0) != 0)
				fsx_fail(
				    "unlink %s: %s", s->path, strerror(errno));
			continue;
		}
		fd = openat(fsx.dirfd[0], s->path, O_WRONLY | O_TRUNC);
		if (fd < 0 ||
		    (s->stored_len > 0 && write(fd, s->stored, s->stored_len) !=
		                              (ssize_t)s->stored_len))
			fsx_fail("restore %s: %s", s->path, strerror(errno));
		close(fd);
	}
}

/* Whole-file reads of a path no descriptor has open, through read(2) and
 * through a private mapping; and its time, if one was set and kept. */
static void
fsx_cat(const char *p)
{
	struct stat st[2];
	long r[2], n[2] = {0, 0};
	int fd[2];

	fsx_note("cat %s", p);
	for (int k = 0; k < 2; k++)
		fd[k] = (int)fsx_rc(openat(fsx.dirfd[k], p, O_RDONLY));
	fsx_same("open to read", fd[0] < 0 ? fd[0] : 0, fd[1] < 0 ? fd[1] : 0);
	if (fd[0] < 0)
		return;
	for (int k = 0; k < 2; k++) {
		while ((r[k] = fsx_rc(read(fd[k], fsx.buf[k] + n[k],
		            FSX_MAX_SIZE + 1 - (size_t)n[k]))) > 0)
			n[k] += r[k];
		if (r[k] < 0)
			fsx_fail("read %s: %s", p, strerror((int)-r[k]));
	}
	fsx_same("bytes read", n[0], n[1]);
	fsx_bytes(p, fsx.buf[0], fsx.buf[1], (size_t)n[0]);
	for (int k = 0; k < 2; k++)
		if (fstat(fd[k], &st[k]) != 0)
			fsx_fail("fstat %s: %s", p, strerror(errno));
	if (st[0].st_mtim.tv_sec < FSX_SET_UNTIL &&
	    (st[0].st_mtim.tv_sec != st[1].st_mtim.tv_sec ||
	        st[0].st_mtim.tv_nsec != st[1].st_mtim.tv_nsec))
		fsx_fail("%s: modified at %lld.%09ld in the directory, "
		         "%lld.%09ld on the mount",
		    p, (long long)st[0].st_mtim.tv_sec, st[0].st_mtim.tv_nsec,
		    (long long)st[1].st_mtim.tv_sec, st[1].st_mtim.tv_nsec);
	if (n[1] > 0) {
		void *m =
		    mmap(NULL, (size_t)n[1], PROT_READ, MAP_PRIVATE, fd[1], 0);

		if (m == MAP_FAILED)
			fsx_fail("mmap %s: %s", p, strerror(errno));
		fsx_bytes(p, fsx.buf[0], m, (size_t)n[1]);
		munmap(m, (size_t)n[1]);
	}
	for (int k = 0; k < 2; k++)
		close(fd[k]);
}

/* rename from to (a file or a directory) succeeded: the open files follow;
 * one that to named is unlinked.  to == NULL: from was unlinked. */
static void
fsx_moved(const char *from, const char *to)
{
	size_t n = strlen(from);
	char p[64];

	for (int i = 0; i < FSX_SLOTS; i++) {
		struct fsx_slot *s = &fsx.slot[i];

		if (!s->used || !*s->path)
			continue;
		if (to != NULL && strcmp(s->path, to) == 0) {
			*s->path = '\0';
		} else if (strncmp(s->path, from, n) == 0 &&
		           (s->path[n] == '\0' || s->path[n] == '/')) {
			if (to == NULL) {
				*s->path = '\0';
				continue;
			}
			snprintf(p, sizeof p, "%s%s", to, s->path + n);
			memcpy(s->path, p, sizeof p);
		}
	}
}

/* An operation on names. */
static void
fsx_names(void)
{
	char p[64], q[64];
	int a = fsx_any_path(), b = fsx_any_path();
	int d = (int)fsx_below(FSX_NDIRS), e = (int)fsx_below(FSX_NDIRS);
	long r[2];

	fsx_path(a, p, sizeof p);
	fsx_path(b, q, sizeof q);
	switch (fsx_below(8)) {
	case 0: {
		if (fsx_open_as(p) != NULL && !fsx_writers_only(p))
			return;
		off_t to = fsx_below(fsx_below(2) ? 100 : 20000);

		fsx_note("truncate %s to %lld", p, (long long)to);
		for (int k = 0; k < 2; k++) {
			int fd = openat(fsx.dirfd[k], p, O_WRONLY);

			r[k] = fd < 0 ? -errno : fsx_rc(ftruncate(fd, to));
			if (fd >= 0 && close(fd) != 0 && r[k] == 0)
				r[k] = -errno;
		}
		fsx_same("truncate", r[0], r[1]);
		if (r[0] == 0)
			fsx_stored(p);
		return;
	}
	case 1:
		fsx_note("unlink %s", p);
		for (int k = 0; k < 2; k++)
			r[k] = fsx_rc(unlinkat(fsx.dirfd[k], p, 0));
		fsx_same("unlink", r[0], r[1]);
		if (r[0] == 0)
			fsx_moved(p, NULL);
		return;
	case 2:
		fsx_note("rename %s %s", p, q);
		for (int k = 0; k < 2; k++)
			r[k] =
			    fsx_rc(renameat(fsx.dirfd[k], p, fsx.dirfd[k], q));
		fsx_same("rename", r[0], r[1]);
		if (r[0] == 0 && a != b)
			fsx_moved(p, q);
		return;
	case 3:
		/* whole directories, with what they hold, open or not */
		if (fsx.flat)
			return;
		fsx_note("rename %s %s", fsx_dirs[d], fsx_dirs[e]);
		for (int k = 0; k < 2; k++)
			r[k] = fsx_rc(renameat(fsx.dirfd[k], fsx_dirs[d],
			    fsx.dirfd[k], fsx_dirs[e]));
		fsx_same("rename", r[0], r[1]);
		if (r[0] == 0 && d != e)
			fsx_moved(fsx_dirs[d], fsx_dirs[e]);
		return;
	case 4:
		if (fsx.flat)
			return;
		fsx_note("mkdir %s", fsx_dirs[d]);
		for (int k = 0; k < 2; k++)
			r[k] = fsx_rc(mkdirat(fsx.dirfd[k], fsx_dirs[d], 0755));
		fsx_same("mkdir", r[0], r[1]);
		return;
	case 5:
		if (fsx.flat)
			return;
		fsx_note("rmdir %s", fsx_dirs[d]);
		for (int k = 0; k < 2; k++)
			r[k] = fsx_rc(
			    unlinkat(fsx.dirfd[k], fsx_dirs[d], AT_REMOVEDIR));
		fsx_same("rmdir", r[0], r[1]);
		return;
	case 6: {
		struct timespec t[2] = {{.tv_nsec = UTIME_OMIT},
		    {FSX_SET_FROM + fsx_below(FSX_SET_UNTIL - FSX_SET_FROM),
		        1000 * (long)fsx_below(1000000)}};

		if (fsx_open_as(p) != NULL)
			return;
		fsx_note("utimensat %s %lld.%09ld", p, (long long)t[1].tv_sec,
		    t[1].tv_nsec);
		for (int k = 0; k < 2; k++)
			r[k] = fsx_rc(utimensat(fsx.dirfd[k], p, t, 0));
		fsx_same("utimensat", r[0], r[1]);
		return;
	}
	default:
		if (fsx_open_as(p) == NULL)
			fsx_cat(p);
	}
}

static void
fsx_step(void)
{
	struct fsx_slot *s = &fsx.slot[fsx_below(FSX_SLOTS)];
	int w;

	fsx.cur = s;
	if (!s->used) {
		if (fsx_below(3) == 0) {
			fsx.cur = NULL;
			fsx_names();
		} else
			fsx_open(s);
		return;
	}
	w = fsx_writable(s);
	switch (fsx_below(9)) {
	case 0:
	case 1:
	case 2:
		if (w) {
			fsx_write(s);
			return;
		}
		/* fall through */
	case 3:
		if ((s->flags & O_ACCMODE) != O_WRONLY)
			fsx_read(s);
		return;
	case 4:
		if (w)
			fsx_ftruncate(s);
		return;
	case 5:
		fsx_mapwrite(s);
		return;
	case 6:
		fsx.cur = NULL;
		fsx_names();
		return;
	case 7:
		if (w && fsx_below(2) == 0) {
			fsx_fsync(s);
			return;
		}
		/* fall through */
	default:
		fsx_close(s);
	}
}

static int
fsx_by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The same names, types and bytes under dir on both sides. */
static void
fsx_compare(const char *dir)
{
	char **names[2] = {NULL, NULL}, p[128];
	size_t n[2] = {0, 0};

	for (int k = 0; k < 2; k++) {
		int fd = openat(
		    fsx.dirfd[k], *dir ? dir : ".", O_RDONLY | O_DIRECTORY);
		DIR *d = fd < 0 ? NULL : fdopendir(fd);
		struct dirent *de;

		if (d == NULL)
			fsx_fail("open directory %s/%s: %s", fsx.root[k], dir,
			    strerror(errno));
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			names[k] =
			    realloc(names[k], (n[k] + 1) * sizeof(char *));
			if (names[k] == NULL ||
			    (names[k][n[k]++] = strdup(de->d_name)) == NULL)
				fsx_fail("out of memory");
		}
		closedir(d);
		if (n[k] > 1) /* an empty directory has no array at all */
			qsort(names[k], n[k], sizeof(char *), fsx_by_name);
	}
	fsx_note("compare %s/", dir);
	if (n[0] != n[1])
		fsx_fail("%s/ lists %zu names in the directory, %zu on the "
		         "mount",
		    dir, n[0], n[1]);
	for (size_t i = 0; i < n[0]; i++) {
		struct stat st[2];

		if (strcmp(names[0][i], names[1][i]) != 0)
			fsx_fail("%s/ lists %s in the directory, %s on the "
			         "mount",
			    dir, names[0][i], names[1][i]);
		snprintf(
		    p, sizeof p, "%s%s%s", dir, *dir ? "/" : "", names[0][i]);
		for (int k = 0; k < 2; k++)
			if (fstatat(fsx.dirfd[k], p, &st[k],
			        AT_SYMLINK_NOFOLLOW) != 0)
				fsx_fail("stat %s: %s", p, strerror(errno));
		if ((st[0].st_mode & S_IFMT) != (st[1].st_mode & S_IFMT))
			fsx_fail("%s has another type on the mount", p);
		if (S_ISDIR(st[0].st_mode)) {
			fsx_compare(p);
		} else {
			if (st[0].st_size != st[1].st_size)
				fsx_fail("%s: size %lld on the directory, "
				         "%lld on the mount",
				    p, (long long)st[0].st_size,
				    (long long)st[1].st_size);
			fsx_cat(p);
		}
		free(names[0][i]);
		free(names[1][i]);
	}
	free(names[0]);
	free(names[1]);
}

int
main(int argc, char **argv)
{
	unsigned long ops = 2000;
	int c, compare_only = 0;

	fsx.seed = 1;
	while ((c = getopt(argc, argv, "cFks:n:v")) != -1) {
		switch (c) {
		case 'F':
			fsx.flat = 1;
			break;
		case 'k':
			fsx.crash = 1;
			break;
		case 'v':
			fsx.verbose = 1;
			break;
		case 'c':
			compare_only = 1;
			break;
		case 's':
			fsx.seed = strtoull(optarg, NULL, 10);
			break;
		case 'n':
			ops = strtoul(optarg, NULL, 10);
			break;
		default:
			goto usage;
		}
	}
	if (argc - optind != 2)
		goto usage;
	fsx.rng = fsx.seed * 0x9e3779b97f4a7c15u + 1;
	for (int k = 0; k < 2; k++) {
		fsx.root[k] = argv[optind + k];
		fsx.dirfd[k] = open(fsx.root[k], O_RDONLY | O_DIRECTORY);
		if (fsx.dirfd[k] < 0) {
			fprintf(stderr, "mount_fsx: %s: %s\n", fsx.root[k],
			    strerror(errno));
			return 2;
		}
		fsx.buf[k] = malloc(FSX_MAX_SIZE + 1);
	}
	fsx.data = malloc(FSX_MAX_WRITE);
	if (!fsx.buf[0] || !fsx.buf[1] || !fsx.data)
		return 2;
	if (!compare_only) {
		printf("mount_fsx: seed %" PRIu64 ", %lu operations\n",
		    fsx.seed, ops);
		for (fsx.op = 0; fsx.op < ops; fsx.op++)
			fsx_step();
		fsx.cur = NULL;
		if (fsx.crash) {
			char byte;

			fsx_crash();
			printf("ready\n");
			fflush(stdout);
			while (read(0, &byte, 1) > 0)
				;
			return 0;
		}
		for (int i = 0; i < FSX_SLOTS; i++)
			if ((fsx.cur = &fsx.slot[i])->used)
				fsx_close(&fsx.slot[i]);
		fsx.cur = NULL;
	}
	fsx_compare("");
	for (int k = 0; k < 2; k++) {
		close(fsx.dirfd[k]);
		free(fsx.buf[k]);
	}
	free(fsx.data);
	return 0;
usage:
	fputs("usage: mount_fsx [-v] [-k] [-F] [-s SEED] [-n OPS] REFDIR "
	      "MOUNTDIR\n"
	      "       mount_fsx -c REFDIR MOUNTDIR\n",
	    stderr);
	return 2;
}
