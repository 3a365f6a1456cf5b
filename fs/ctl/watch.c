/*
 * watch.c: a thread that tells the follow thread (follow.c) at once when
 * the store file is written, so that another process's flush shows in the
 * mount within milliseconds instead of at the next tick (up to 0.1 s
 * later).  It uses inotify, which sees writes made on this machine only:
 * a store on a network file system written from elsewhere, or a machine
 * out of inotify instances, is followed by the tick alone, as before.
 *
 * The watch is of the file, so a new file put in the store's place (a
 * prune's rename, a copy moved over it) ends it; it is then made again
 * on the path, for the new file.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "ctl-int.h"

#define WATCH_EVENTS (IN_MODIFY | IN_ATTRIB | IN_MOVE_SELF | IN_DELETE_SELF)
/* After telling of a write, the thread reads no events for this long:
 * Python's file object writes 8 KiB at a time, and a wake-up for each took
 * more of the daemon's CPU than following what they wrote.  The kernel
 * folds the writes meanwhile into one event. */
#define WATCH_QUIET_MS 10

struct watch {
	char *path;
	int ifd;  /* inotify */
	int stop; /* an eventfd: written to end the thread */
	int wd;   /* the watch of the file, or -1 */
	pthread_t thread;
	void (*fn)(void *);
	void *arg;
};

/* Watch the file at the path again (it may have been replaced: a rename
 * over the store changes its link count, IN_ATTRIB, and the old file is
 * deleted once the daemon lets it go); a path with no file for now is
 * left to the tick.  The same file keeps its watch. */
static void
watch_add(struct watch *w)
{
	int wd = inotify_add_watch(w->ifd, w->path, WATCH_EVENTS);

	if (w->wd >= 0 && wd != w->wd)
		(void)inotify_rm_watch(w->ifd, w->wd);
	w->wd = wd;
}

static void *
watch_main(void *arg)
{
	struct watch *w = arg;
	/* as inotify(7) has it, aligned for struct inotify_event */
	char buf[4096]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	struct pollfd p[2] = {{.fd = w->ifd, .events = POLLIN},
	    {.fd = w->stop, .events = POLLIN}};
	const struct inotify_event *ev;
	ssize_t n;
	char *at;
	int renew;

	for (;;) {
		if (poll(p, 2, w->wd < 0 ? 1000 : -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents != 0)
			break;
		renew = w->wd < 0;
		if (p[0].revents != 0) {
			if ((n = read(w->ifd, buf, sizeof buf)) <= 0 &&
			    errno != EINTR && errno != EAGAIN)
				break;
			for (at = buf; n > 0 && at < buf + n;
			     at += sizeof *ev + ev->len) {
				ev = (const void *)at;
				if (ev->mask & (IN_IGNORED | IN_MOVE_SELF |
				                   IN_DELETE_SELF | IN_ATTRIB))
					renew = 1;
			}
			w->fn(w->arg);
			/* the stop's eventfd ends this wait too */
			if (poll(p + 1, 1, WATCH_QUIET_MS) > 0)
				break;
		}
		if (renew) {
			int was = w->wd;

			watch_add(w);
			if (w->wd >= 0 && w->wd != was)
				w->fn(w->arg); /* a new file to look at */
		}
	}
	return NULL;
}

struct watch *
watch_start(const char *path, void (*fn)(void *), void *arg)
{
	struct watch *w;

	if ((w = calloc(1, sizeof *w)) == NULL)
		return NULL;
	w->ifd = w->stop = w->wd = -1;
	w->fn = fn;
	w->arg = arg;
	if ((w->path = strdup(path)) == NULL ||
	    (w->ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK)) < 0 ||
	    (w->stop = eventfd(0, EFD_CLOEXEC)) < 0)
		goto fail;
	watch_add(w);
	if (w->wd < 0 ||
	    (errno = pthread_create(&w->thread, NULL, watch_main, w)) != 0)
		goto fail;
	return w;
fail:
	fs_log("%s: watching for writes of other processes: %s (followed "
	       "every 0.1 s instead)",
	    path, strerror(errno));
	if (w->ifd >= 0)
		close(w->ifd);
	if (w->stop >= 0)
		close(w->stop);
	free(w->path);
	free(w);
	return NULL;
}

void
watch_stop(struct watch *w)
{
	uint64_t one = 1;

	if (w == NULL)
		return;
	/* an eventfd takes it: its count is far from its maximum */
	(void)!write(w->stop, &one, sizeof one);
	pthread_join(w->thread, NULL);
	close(w->ifd);
	close(w->stop);
	free(w->path);
	free(w);
}
