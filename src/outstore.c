/*
 * The store that map --out makes (outstore.h): its mode is the mode of the
 * store the map reads, less a umask, where a store blt_open() made would
 * have 0644 less the umask, whatever the store it came from.
 */
#include "config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "outstore.h"

/* Make the missing store path with the mode of source less mask. */
int
outstore_make(const char *path, const char *source, int mask)
{
	struct stat st;
	mode_t mode = 0600;
	int fd;

	if (stat(source, &st) == 0)
		mode = st.st_mode & 0666;
	if (mask >= 0)
		mode &= ~(mode_t)mask;
	fd = open(
	    path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd == -1)
		return 0;
	/* the process's umask took its part: mask alone counts (a failure
	 * leaves the store closer still) */
	if (mask >= 0)
		(void)fchmod(fd, mode);
	close(fd);
	return 1;
}
