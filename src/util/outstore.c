/*
 * The store that map --out makes (outstore.h): its mode is the mode of the
 * store the map reads, less a umask, where a store blt_open() made would
 * have 0644 less the umask, whatever the store it came from.
 */
#include "config.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bltutil.h"

/* Make the missing store path with the mode of source less mask. */
void
outstore_make(
    const char *path, const char *source, int mask, struct outstore *o)
{
	struct stat st;
	mode_t mode = 0600;
	int fd;

	o->made = 0;
	if (stat(source, &st) == 0)
		mode = st.st_mode & 0666;
	if (mask >= 0)
		mode &= ~(mode_t)mask;
	fd = open(
	    path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd == -1)
		return;
	/* the process's umask took its part: mask alone counts (a failure
	 * leaves the store closer still) */
	if (mask >= 0)
		(void)fchmod(fd, mode);
	if (fstat(fd, &st) == 0) {
		o->made = 1;
		o->dev = st.st_dev;
		o->ino = st.st_ino;
	}
	close(fd);
}

/* The removal holds the store's exclusive flock, as a writer does, so
 * that an open waiting for it gets it only once the name is gone, finds
 * the file it locked no longer at path, and makes a new one (io_open()).
 * A file that holds a whole header (200 bytes) is a store someone made
 * there. */
void
outstore_unmake(const char *path, const struct outstore *o)
{
	struct stat st, now;
	int fd;

	if (!o->made ||
	    (fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return;
	if (flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &st) == 0 &&
	    st.st_dev == o->dev && st.st_ino == o->ino && st.st_size < 200 &&
	    stat(path, &now) == 0 && now.st_dev == st.st_dev &&
	    now.st_ino == st.st_ino)
		unlink(path);
	close(fd);
}
