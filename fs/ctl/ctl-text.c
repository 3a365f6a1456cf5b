/*
 * The texts of the control files status and jobs/ID: made when a file is
 * opened on a read-write mount (ctl.c keeps them with the open file), and
 * kept here as snapshots on a read-only one, where the kernel opens files
 * without asking the daemon and so no open file can hold them.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "bltfs.h"
#include "ctl-int.h"

/* The text of status or jobs/ID on a read-only mount, where the kernel
 * opens files without asking the daemon and so no open file can hold it.
 * It is made again whenever the kernel asks for the node's attributes,
 * which it never keeps (their timeout is 0): at every stat, and before
 * every read (auto_inval_data, op_init()).  The size is the text's; the
 * mtime moves only when the text changed, which has the kernel drop the
 * pages it cached, so a reader sees the present. */
struct ctl_snap {
	uint64_t node;
	char *buf;
	size_t len;
	struct timespec mtime;
	struct ctl_snap *next;
};

/* Take *p out of its list and free it. */
static void
ctl_snap_drop(struct ctl_snap **p)
{
	struct ctl_snap *n = *p;

	*p = n->next;
	free(n->buf);
	free(n);
}

/* The text of status or jobs/ID now, in *buf (*len bytes), which the
 * caller frees: 0 or a negative errno. */
int
ctl_text(struct fs *fs, uint64_t node, char **buf, size_t *len)
{
	if (node == CTL_STATUS)
		return ctl_status_json(fs, buf, len);
	return job_json(fs->ctl->jobs, ctl_node_job(node), buf, len);
}

/* node's snapshot; snap_lock held. */
static struct ctl_snap **
ctl_snap_find(struct ctl *c, uint64_t node)
{
	struct ctl_snap **p;

	for (p = &c->snaps; *p != NULL; p = &(*p)->next)
		if ((*p)->node == node)
			break;
	return p;
}

/* Is job id known to the runner (jobs/ID)? */
int
ctl_job_exists(struct fs *fs, uint64_t id)
{
	struct bltfs_job j;

	j.id = id;
	return job_get(fs->ctl->jobs, &j) == 0;
}

/* Drop the snapshots of jobs that are gone; snap_lock held.  Done when a
 * snapshot is added, so that there are never more than the jobs kept
 * (JOB_KEEP) and status, however many jobs a mount runs. */
static void
ctl_snap_sweep(struct fs *fs)
{
	struct ctl_snap **p = &fs->ctl->snaps;

	while (*p != NULL) {
		if ((*p)->node != CTL_STATUS &&
		    !ctl_job_exists(fs, ctl_node_job((*p)->node)))
			ctl_snap_drop(p);
		else
			p = &(*p)->next;
	}
}

/* Make node's snapshot again and give st its size and mtime.  A job that
 * is gone takes its snapshot along. */
int
ctl_snap_stat(struct fs *fs, uint64_t node, struct stat *st)
{
	struct ctl *c = fs->ctl;
	struct ctl_snap **p, *n;
	struct timespec now;
	char *buf;
	size_t len;
	int rc;

	rc = ctl_text(fs, node, &buf, &len);
	pthread_mutex_lock(&c->snap_lock);
	p = ctl_snap_find(c, node);
	if (rc < 0) {
		if (*p != NULL)
			ctl_snap_drop(p);
		pthread_mutex_unlock(&c->snap_lock);
		return rc;
	}
	if (*p == NULL) {
		ctl_snap_sweep(fs);
		p = ctl_snap_find(c, node);
	}
	if ((n = *p) == NULL && (n = calloc(1, sizeof *n)) != NULL) {
		n->node = node;
		*p = n;
	}
	if (n == NULL) {
		pthread_mutex_unlock(&c->snap_lock);
		free(buf);
		return -ENOMEM;
	}
	if (n->buf != NULL && n->len == len && memcmp(n->buf, buf, len) == 0)
		free(buf);
	else {
		free(n->buf);
		n->buf = buf;
		n->len = len;
		/* in microseconds, as the mount's times are (op_init()), and
		 * later than the last, even within one of them */
		clock_gettime(CLOCK_REALTIME, &now);
		now.tv_nsec -= now.tv_nsec % 1000;
		if (now.tv_sec < n->mtime.tv_sec ||
		    (now.tv_sec == n->mtime.tv_sec &&
		        now.tv_nsec <= n->mtime.tv_nsec)) {
			now = n->mtime;
			if ((now.tv_nsec += 1000) == 1000000000) {
				now.tv_sec++;
				now.tv_nsec = 0;
			}
		}
		n->mtime = now;
	}
	st->st_size = (off_t)n->len;
	st->st_mtim = n->mtime;
	st->st_atim = n->mtime;
	st->st_ctim = n->mtime;
	pthread_mutex_unlock(&c->snap_lock);
	return 0;
}

/* Reply to a read of node's snapshot, made now if the kernel never asked
 * for its attributes. */
void
ctl_snap_read(
    fuse_req_t req, struct fs *fs, uint64_t node, size_t size, off_t off)
{
	struct ctl *c = fs->ctl;
	struct ctl_snap *n;
	struct stat st;
	char *copy = NULL;
	size_t k = 0;
	int rc = 0;

	if (!ctl_has_text(node)) {
		fuse_reply_buf(req, NULL, 0); /* ctl: no command, no reply */
		return;
	}
	pthread_mutex_lock(&c->snap_lock);
	n = *ctl_snap_find(c, node);
	pthread_mutex_unlock(&c->snap_lock);
	if (n == NULL && (rc = ctl_snap_stat(fs, node, &st)) < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	pthread_mutex_lock(&c->snap_lock);
	if ((n = *ctl_snap_find(c, node)) != NULL && (uint64_t)off < n->len) {
		k = n->len - (size_t)off < size ? n->len - (size_t)off : size;
		if ((copy = malloc(k)) != NULL)
			memcpy(copy, n->buf + off, k);
	}
	pthread_mutex_unlock(&c->snap_lock);
	if (k > 0 && copy == NULL)
		fuse_reply_err(req, ENOMEM);
	else
		fuse_reply_buf(req, copy, copy != NULL ? k : 0);
	free(copy);
}

/* Free every snapshot of c. */
void
ctl_snaps_free(struct ctl *c)
{
	while (c->snaps != NULL)
		ctl_snap_drop(&c->snaps);
}
