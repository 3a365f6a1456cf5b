/*
 * The list of files a map is given with --keys FILE: one path of the
 * mount per line (bltfs(1), JOBS).  The command opens it, in the request
 * that carries the command (keylist_open()); the job reads it when it
 * starts, in the job runner's thread (keylist_read()).  So a long list
 * holds neither a thread that serves the mount nor bltfs ctl, whose ioctl
 * no signal ends; a queued map holds an open file, not the keys it names;
 * and a cancel or an unmount stops the reading.  What can be known when
 * the command is given refuses it then: a FILE that cannot be opened, one
 * that is not a regular file (a FIFO would hold the request until someone
 * wrote it), a directory or a control file of the mount.  What is wrong
 * with its lines fails the job before it maps anything.
 *
 * A FILE of another file system stays open from the command on, and is
 * read whole whatever becomes of its name (bltfs ctl removes its copy of a
 * pipe once the command is answered).  One of the mount is read from the
 * store, as it was when last closed before the job started: read through
 * the mount, it would make the daemon wait on itself.
 *
 * Each line names one file, and each file is a key of the directory
 * index, so a list of distinct files has no more lines than the index has
 * keys: the job fails at the first line past that number.  The keys a list
 * gives a job so take no more memory than a map of the whole mount,
 * whatever the file holds, and a line no more than a path.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bltutil.h"
#include "ctl-int.h"

struct keylist {
	char *file;           /* FILE as the command gave it, resolved */
	int inside;           /* FILE is a file of this mount ... */
	char place[PATH_MAX]; /* ... at this path of it */
	int fd;               /* else FILE, open, or -1 */
};

/* The key of the file at l->place, into *key, which the caller frees:
 * -EINVAL, -ENOENT, -EISDIR, ..., with a message that names l->file. */
static int
keylist_find(
    struct fs *fs, const struct keylist *l, unsigned char **key, size_t *klen)
{
	struct inode_info in;
	int rc;

	if (resolve_in_ctl_dir(fs, l->place))
		return blt_errmsg_set(-EINVAL,
		    "map: --keys %s: a file of the control directory", l->file);
	if ((rc = resolve_node_key(fs, l->place, &in, key, klen)) < 0)
		return blt_errmsg_set(rc, "map: --keys %s: %s", l->file,
		    rc == -EINVAL ? blt_errmsg() : strerror(-rc));
	if (in.type == INODE_DIR)
		return blt_errmsg_set(-EISDIR,
		    "map: --keys %s: a directory, not a file", l->file);
	return 0;
}

/* The stored value of the file at l->place, into a buffer the caller
 * frees: what it held when last closed.  It is read from the store, not
 * through the mount, which would wait for this daemon to answer. */
static int
keylist_read_stored(
    struct fs *fs, const struct keylist *l, char **out, size_t *len)
{
	unsigned char *key = NULL;
	size_t klen, n;
	char *buf = NULL;
	ssize_t got = 0;
	int rc;

	if ((rc = keylist_find(fs, l, &key, &klen)) < 0)
		return rc;
	/* A put between the two gets changes the length: read again. */
	for (n = 0;; n = (size_t)got) {
		got = blt_get(fs->db, key, klen, buf, n, NULL);
		if (got == -ENOENT)
			got = 0; /* created, not stored yet */
		if (got < 0 || (size_t)got <= n)
			break;
		free(buf);
		if ((buf = malloc((size_t)got)) == NULL) {
			got = -ENOMEM;
			break;
		}
	}
	free(key);
	if (got < 0) {
		free(buf);
		return blt_errmsg_set((int)got, "map: --keys %s: %s", l->file,
		    got == -ENOMEM ? "out of memory" : blt_errmsg());
	}
	*out = buf;
	*len = (size_t)got;
	return 0;
}

/* Select the file a line of a --keys FILE names: a path of the mount
 * where it is mounted (as find(1) under the mount point writes it), else
 * a path from the mount's root. */
static int
keylist_select_line(struct fs *fs, const struct mountinfo *mi, const char *line,
    struct blt_map_keys *k)
{
	char *real = NULL, place[PATH_MAX];
	int rc = 0;

	if (line[0] == '/' &&
	    (rc = resolve_real_path(fs, mi, line, &real)) == 0)
		rc = resolve_place(fs, mi, real, place);
	free(real);
	if (rc < 0)
		return blt_errmsg_set(rc, "%s: %s", line, strerror(-rc));
	return resolve_select(fs, rc == 1 ? place : line, 0, k);
}

/* What st is, for a message. */
static const char *
keylist_file_type(const struct stat *st)
{
	if (S_ISDIR(st->st_mode))
		return "a directory";
	if (S_ISFIFO(st->st_mode))
		return "a FIFO";
	if (S_ISCHR(st->st_mode))
		return "a character device";
	if (S_ISBLK(st->st_mode))
		return "a block device";
	if (S_ISSOCK(st->st_mode))
		return "a socket";
	return "a special file";
}

/* A --keys FILE that is not a regular file (st): -EISDIR or -EINVAL. */
static int
keylist_not_regular(const char *file, const struct stat *st)
{
	if (S_ISDIR(st->st_mode))
		return blt_errmsg_set(
		    -EISDIR, "map: --keys %s: a directory, not a file", file);
	return blt_errmsg_set(-EINVAL,
	    "map: --keys %s: %s, not a regular file (bltfs ctl copies a pipe, "
	    "or standard input for -, into one)",
	    file, keylist_file_type(st));
}

/* Open --keys FILE, outside the mount, into *out.  Only a regular file: a
 * FIFO (or a device) would hold this thread until someone writes it, and
 * the client with it, in an ioctl that no signal ends.  Its type is
 * looked at before the open, which so never touches a device, and again
 * after it, since the name may have changed meanwhile; the open does not
 * block, whatever is there by then. */
static int
keylist_open_file(const char *file, int *out)
{
	struct stat st;
	int fd, rc;

	if (stat(file, &st) == 0 && !S_ISREG(st.st_mode))
		return keylist_not_regular(file, &st);
	fd = open(file, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd == -1)
		return blt_errmsg_set(
		    -errno, "map: --keys %s: %s", file, strerror(errno));
	if (fstat(fd, &st) == -1)
		rc = blt_errmsg_set(
		    -errno, "map: --keys %s: %s", file, strerror(errno));
	else if (!S_ISREG(st.st_mode))
		rc = keylist_not_regular(file, &st);
	else {
		*out = fd;
		return 0;
	}
	close(fd);
	return rc;
}

/* Open --keys file for a map. */
int
keylist_open(struct fs *fs, const struct mountinfo *mi, const char *file,
    struct keylist **out)
{
	unsigned char *key;
	struct keylist *l;
	size_t klen;
	int rc;

	if ((l = calloc(1, sizeof *l)) == NULL ||
	    (l->file = strdup(file)) == NULL) {
		free(l);
		return blt_errmsg_set(-ENOMEM, "out of memory");
	}
	l->fd = -1;
	if ((rc = resolve_place(fs, mi, file, l->place)) < 0)
		rc = blt_errmsg_set(
		    rc, "map: --keys %s: %s", file, strerror(-rc));
	else if ((l->inside = rc) == 1) {
		/* there now, or the command is refused */
		if ((rc = keylist_find(fs, l, &key, &klen)) == 0)
			free(key);
	} else
		rc = keylist_open_file(file, &l->fd);
	if (rc < 0) {
		keylist_close(l);
		return rc;
	}
	*out = l;
	return 0;
}

/* Read the list l, adding the key of each file it names to k.  A line
 * longer than a path, a NUL byte, a read error, a path that names no file
 * and more lines than the index has keys fail it, naming the line, rather
 * than end the list there. */
int
keylist_read(struct fs *fs, struct keylist *l, const atomic_int *cancel,
    struct blt_map_keys *k)
{
	char line[PATH_MAX], *stored = NULL;
	struct mountinfo *mi = NULL;
	uint64_t most = inode_count(fs->tree), named = 0;
	size_t no = 1, n = 0, len = 0;
	FILE *f;
	int rc = 0, ch;

	if (l->inside) {
		rc = keylist_read_stored(fs, l, &stored, &len);
		if (rc < 0 || len == 0)
			return rc;
		f = fmemopen(stored, len, "r");
	} else if ((f = fdopen(l->fd, "r")) != NULL)
		l->fd = -1; /* f's now */
	if (f == NULL) {
		rc = blt_errmsg_set(
		    -errno, "map: --keys %s: %s", l->file, strerror(errno));
		free(stored);
		return rc;
	}
	/* read now, as mounts come and go; without it, only the mount point
	 * is known to lead into the mount */
	(void)mountinfo_read(&mi);
	for (;;) {
		errno = 0; /* what a failed read leaves is its cause */
		if ((ch = getc_unlocked(f)) == EOF && ferror(f)) {
			rc = errno ? -errno : -EIO;
			rc = blt_errmsg_set(rc, "map: --keys %s, line %zu: %s",
			    l->file, no, strerror(-rc));
			break;
		}
		if (ch == EOF || ch == '\n') {
			line[n] = '\0';
			if (atomic_load(cancel)) {
				rc = blt_errmsg_set(-ECANCELED, "cancelled");
				break;
			}
			/* past most, a file is listed twice: unless files
			 * were made meanwhile */
			if (n > 0 && ++named > most &&
			    (most = inode_count(fs->tree)) < named) {
				rc = blt_errmsg_set(-E2BIG,
				    "map: --keys %s, line %zu: more lines than "
				    "the mount has keys (%" PRIu64 "), so a "
				    "file is listed twice",
				    l->file, no, most);
				break;
			}
			if (n > 0 &&
			    (rc = keylist_select_line(fs, mi, line, k)) < 0) {
				rc = blt_errmsg_set(rc,
				    "map: --keys %s, line %zu: %s", l->file, no,
				    blt_errmsg());
				break;
			}
			if (ch == EOF)
				break;
			n = 0;
			no++;
		} else if (ch == '\0') {
			rc = blt_errmsg_set(-EINVAL,
			    "map: --keys %s, line %zu: a NUL byte, which no "
			    "path has",
			    l->file, no);
			break;
		} else if (n == sizeof line - 1) {
			rc = blt_errmsg_set(-ENAMETOOLONG,
			    "map: --keys %s, line %zu: longer than %zu bytes, "
			    "which no path is",
			    l->file, no, sizeof line - 1);
			break;
		} else
			line[n++] = (char)ch;
	}
	mountinfo_free(mi);
	fclose(f);
	free(stored);
	return rc;
}

/* Close l. */
void
keylist_close(struct keylist *l)
{
	if (l == NULL)
		return;
	if (l->fd != -1)
		close(l->fd);
	free(l->file);
	free(l);
}
