/*
 * bltfs ctl MOUNT unmount: an unmount that returns once the store is
 * closed.
 *
 * fusermount3 -u returns as soon as the kernel has let go of the mount:
 * the kernel sends a FUSE mount that is not a block device's no request
 * at unmount, so the daemon learns of it only then, and stores what open
 * files hold, syncs and closes the store just after.  A script that copies
 * the store, or opens it, right away may find it still locked or not yet
 * marked closed.  Here the unmount is followed by a wait for the daemon
 * to end (its pid, from the status file, held as a pidfd from before the
 * unmount), and then by a read-only open of the store, which says whether
 * its close was clean.  The daemon's lock alone does not tell the close
 * is over: a mount that shares its store lets the lock go while idle, and
 * takes it again to close (tests/install.sh: a blt get right after the
 * unmount found the store held).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "booklet.h"
#include "client-int.h"
#include "bltutil.h"

extern char **environ;

/* Another mount of the file system at point, which would keep the daemon
 * and its lock after point goes: its path into other (cap bytes), 1; 0
 * when there is none or the table cannot be read. */
static int
client_unmount_other(const char *point, char *other, size_t cap)
{
	const struct mountinfo_entry *m;
	struct mountinfo *mi;
	struct stat st;
	int found;

	if (stat(point, &st) == -1 || mountinfo_read(&mi) < 0)
		return 0;
	m = mountinfo_other(mi, st.st_dev, point);
	if ((found = m != NULL))
		snprintf(other, cap, "%s", m->point);
	mountinfo_free(mi);
	return found;
}

/* fusermount3 -u point, which checks that the caller may unmount it and
 * says why not.  Returns 0 when it succeeded. */
static int
client_unmount_run(const char *point)
{
	/* posix_spawnp() takes char *const[]; it writes none of them */
	char *argv[] = {(char *)"fusermount3", (char *)"-u", (char *)"--",
	    (char *)point, NULL};
	pid_t pid;
	int rc, st;

	if ((rc = posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ)) !=
	    0) {
		fprintf(stderr, "bltfs ctl: %s: fusermount3: %s\n", point,
		    strerror(rc));
		return -1;
	}
	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* After the unmount of point: store, opened read-only, which waits for
 * the daemon's lock, held until its close has synced.  CLIENT_OK when it
 * was closed cleanly, else CLIENT_REFUSED after a message (gone: the
 * daemon had ended before the unmount). */
static int
client_unmount_closed(const char *point, const char *store, int gone)
{
	const char *how = gone ? " (its daemon had ended)" : "";
	struct blt_options o;
	struct blt *db;
	int unclean;

	blt_options_default(&o);
	o.lock_timeout = -1; /* the daemon's close takes what it takes */
	if (blt_open(store, BLT_RDONLY, &o, &db) < 0) {
		fprintf(stderr, "bltfs ctl: %s: unmounted%s, but %s\n", point,
		    how, blt_errmsg());
		return CLIENT_REFUSED;
	}
	unclean = blt_flags(db) & BLT_UNCLEAN;
	blt_close(db);
	if (unclean) {
		fprintf(stderr,
		    "bltfs ctl: %s: unmounted%s, but %s was not closed "
		    "cleanly%s; the next mount for writing recovers it\n",
		    point, how, store,
		    gone ? "" : " (the daemon's log says why)");
		return CLIENT_REFUSED;
	}
	return CLIENT_OK;
}

/* Wait until the process of pidfd (-1: none known) has ended. */
static void
client_wait_end(int pidfd)
{
	struct pollfd p = {.fd = pidfd, .events = POLLIN};

	if (pidfd < 0)
		return;
	while (poll(&p, 1, -1) == -1 && errno == EINTR)
		;
	close(pidfd);
}

/* Unmount the bltfs mount at point (resolved) and wait until its daemon,
 * pid (0 if unknown), has ended and closed store: CLIENT_OK, or
 * CLIENT_REFUSED after a message. */
static int
client_unmount_wait(const char *point, const char *store, long pid)
{
	char other[PATH_MAX];
	int pidfd;

	if (client_unmount_other(point, other, sizeof other)) {
		fprintf(stderr,
		    "bltfs ctl: %s: the store is mounted at %s too, and stays "
		    "open until that goes (fusermount3 -u unmounts one of "
		    "them)\n",
		    point, other);
		return CLIENT_REFUSED;
	}
	/* held from before the unmount, so that no other process can take
	 * the pid meanwhile */
	pidfd = pid > 0 ? (int)syscall(SYS_pidfd_open, (pid_t)pid, 0) : -1;
	if (client_unmount_run(point) < 0) {
		if (pidfd >= 0)
			close(pidfd);
		return CLIENT_REFUSED;
	}
	client_wait_end(pidfd);
	return client_unmount_closed(point, store, 0);
}

/* A mount whose daemon has ended answers ENOTCONN to everything, status
 * too; the table of mounts still names its store (bltfs mounts it as the
 * source).  Unmount it and say what the next mount finds.  An exit
 * status, or -1 when mount is not such a mount. */
int
client_unmount_gone(const char *mount)
{
	char point[PATH_MAX], *store = NULL;
	const struct mountinfo_entry *m;
	struct mountinfo *mi;
	struct stat st;
	int rc;

	if (stat(mount, &st) == 0 || errno != ENOTCONN ||
	    client_resolve(mount, point, sizeof point) != 0 ||
	    mountinfo_read(&mi) < 0)
		return -1;
	m = mountinfo_find(mi, point);
	if (m != NULL && strcmp(m->point, point) == 0 &&
	    strcmp(m->type, "fuse.bltfs") == 0)
		store = strdup(m->source);
	mountinfo_free(mi);
	if (store == NULL)
		return -1;
	rc = client_unmount_run(point) < 0
	         ? CLIENT_REFUSED
	         : client_unmount_closed(point, store, 1);
	free(store);
	return rc;
}

/* unmount: the path must be the mount point, and the store's path comes
 * from the status file, read while the mount is there. */
int
client_unmount(struct client *c)
{
	char real[PATH_MAX], *store = NULL;
	const struct json *s, *p;
	struct json *v;
	long pid = 0;
	int rc;

	if (realpath(c->mount, real) == NULL ||
	    strcmp(real, c->root[0] != '\0' ? c->root : "/") != 0) {
		fprintf(stderr,
		    "bltfs ctl: %s: not a mount point (the mount is at %s)\n",
		    c->mount, c->root[0] != '\0' ? c->root : "/");
		return CLIENT_REFUSED;
	}
	if ((rc = client_status(c, &v)) == 0) {
		if ((s = json_get(v, "store")) != NULL &&
		    s->type == JSON_STRING)
			store = strdup(s->str);
		if ((p = json_get(v, "pid")) != NULL && p->type == JSON_NUMBER)
			pid = (long)p->num;
		json_free(v);
	}
	if (store == NULL) {
		fprintf(stderr,
		    "bltfs ctl: %s: its status names no store: %s\n", c->mount,
		    strerror(rc != 0 ? rc : EBADMSG));
		return CLIENT_REFUSED;
	}
	/* an open directory of the mount would keep it busy */
	close(c->fd);
	c->fd = -1;
	rc = client_unmount_wait(real, store, pid);
	free(store);
	return rc;
}
