/*
 * The mounts of this process's mount namespace, as /proc/self/mountinfo
 * lists them (proc_pid_mountinfo(5)), and the one a path lies in.  The
 * daemon uses it for its ctl commands, and blt and bltfs to name the mount
 * that holds a store (holder.c).  A stat(2) of a path of the daemon's own
 * mount would wait for the daemon to answer; the table is only read from
 * the kernel, and tells which paths lead into the mount, through its mount
 * point or through any other mount of the same file system (a bind mount
 * of it, or of one of its directories).
 *
 * mountinfo_find() walks a path as the kernel does, one name at a time,
 * going into the mount made on a directory (the one on top, where mounts
 * are stacked) as it reaches it; the mounts of the table hang together by
 * their parents' numbers, so a mount hidden under another is never taken.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "bltutil.h"

/* What the kernel writes after the root of a mount whose directory was
 * removed since (a bind mount of it stays); no name holds "//". */
#define MOUNTINFO_DELETED "//deleted"

struct mountinfo {
	char *text; /* the table as read; the entries point into it */
	struct mountinfo_entry *v;
	size_t n;
};

/* Decode, in place, the octal escapes (\040 for a space) that the kernel
 * writes for blanks, newlines and backslashes. */
static void
mountinfo_unescape(char *s)
{
	char *o = s;

	for (; *s != '\0'; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' &&
		    s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 |
			              (s[3] - '0'));
			s += 3;
		} else
			*o++ = *s;
	}
	*o = '\0';
}

/* The next word of the line at *p, NUL-terminated; NULL at its end. */
static char *
mountinfo_word(char **p)
{
	char *w = *p + strspn(*p, " "), *e;

	if (*w == '\0')
		return NULL;
	e = w + strcspn(w, " ");
	*p = *e == '\0' ? e : e + 1;
	*e = '\0';
	return w;
}

/* Parse line (changed in place) into *e: 0, or -EINVAL for a line that is
 * not as proc_pid_mountinfo(5) says. */
static int
mountinfo_parse_line(char *line, struct mountinfo_entry *e)
{
	char *p = line, *w[5], *sep;
	unsigned major, minor;
	size_t n;

	for (int i = 0; i < 5; i++)
		if ((w[i] = mountinfo_word(&p)) == NULL)
			return -EINVAL;
	/* the mount options, then optional fields up to "-" */
	do
		sep = mountinfo_word(&p);
	while (sep != NULL && strcmp(sep, "-") != 0);
	if (sep == NULL || (e->type = mountinfo_word(&p)) == NULL ||
	    (e->source = mountinfo_word(&p)) == NULL ||
	    sscanf(w[0], "%d", &e->id) != 1 ||
	    sscanf(w[1], "%d", &e->parent) != 1 ||
	    sscanf(w[2], "%u:%u", &major, &minor) != 2)
		return -EINVAL;
	e->dev = makedev(major, minor);
	e->root = w[3];
	e->point = w[4];
	mountinfo_unescape(e->root);
	mountinfo_unescape(e->point);
	mountinfo_unescape(e->type);
	mountinfo_unescape(e->source);
	n = strlen(e->root);
	e->deleted = n > strlen(MOUNTINFO_DELETED) &&
	             strcmp(e->root + n - strlen(MOUNTINFO_DELETED),
	                 MOUNTINFO_DELETED) == 0;
	return 0;
}

/* Read a table from text, as /proc/self/mountinfo gives it, into *out (see
 * mountinfo_free()); takes text, also on failure.  0, -ENOMEM, or -EINVAL
 * for text that is not such a table. */
int
mountinfo_parse(char *text, struct mountinfo **out)
{
	struct mountinfo_entry *v;
	struct mountinfo *mi;
	char *line, *next;
	size_t cap = 0;
	int rc = 0;

	*out = NULL;
	if ((mi = calloc(1, sizeof *mi)) == NULL) {
		free(text);
		return -ENOMEM;
	}
	mi->text = text;
	for (line = text; rc == 0 && *line != '\0'; line = next) {
		next = line + strcspn(line, "\n");
		if (*next != '\0')
			*next++ = '\0';
		if (mi->n == cap) {
			cap = cap > 0 ? 2 * cap : 64;
			if ((v = realloc(mi->v, cap * sizeof *v)) == NULL) {
				rc = -ENOMEM;
				break;
			}
			mi->v = v;
		}
		rc = mountinfo_parse_line(line, &mi->v[mi->n++]);
	}
	if (rc < 0) {
		mountinfo_free(mi);
		return rc;
	}
	*out = mi;
	return 0;
}

/* Read /proc/self/mountinfo into *out (see mountinfo_free()): 0, or a
 * negative errno (-ENOENT without /proc). */
int
mountinfo_read(struct mountinfo **out)
{
	char *text = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f;
	int rc;

	*out = NULL;
	if ((f = fopen("/proc/self/mountinfo", "re")) == NULL)
		return -errno;
	/* the whole of it in one go: it holds no NUL */
	errno = 0;
	n = getdelim(&text, &cap, '\0', f);
	rc = n >= 0 ? 0 : errno == ENOMEM ? -ENOMEM : -EIO;
	fclose(f);
	if (rc < 0) {
		free(text);
		return rc;
	}
	return mountinfo_parse(text, out);
}

/* Free the table; safe on NULL. */
void
mountinfo_free(struct mountinfo *mi)
{
	if (mi == NULL)
		return;
	free(mi->v);
	free(mi->text);
	free(mi);
}

/* The ith mount of the table, in its order; NULL past its end.  Borrowed
 * from mi. */
const struct mountinfo_entry *
mountinfo_at(const struct mountinfo *mi, size_t i)
{
	return i < mi->n ? &mi->v[i] : NULL;
}

/* The mount on top at the first len bytes of path, where m is: m itself,
 * or the last of the mounts stacked on it there. */
static const struct mountinfo_entry *
mountinfo_top(const struct mountinfo *mi, const struct mountinfo_entry *m,
    const char *path, size_t len)
{
	const struct mountinfo_entry *up;

	/* n steps at most: a table whose parents loop ends, too */
	for (size_t step = 0; step < mi->n; step++, m = up) {
		up = NULL;
		for (size_t i = 0; i < mi->n && up == NULL; i++)
			if (mi->v[i].parent == m->id && &mi->v[i] != m &&
			    strncmp(mi->v[i].point, path, len) == 0 &&
			    mi->v[i].point[len] == '\0')
				up = &mi->v[i];
		if (up == NULL)
			break;
	}
	return m;
}

/* The mount of "/": the one the table lists there whose parent it does
 * not list (that is outside the namespace, or past a chroot). */
static const struct mountinfo_entry *
mountinfo_root(const struct mountinfo *mi)
{
	for (size_t i = 0; i < mi->n; i++) {
		size_t j = 0;

		if (strcmp(mi->v[i].point, "/") != 0)
			continue;
		while (j < mi->n && mi->v[j].id != mi->v[i].parent)
			j++;
		if (j == mi->n)
			return &mi->v[i];
	}
	return NULL;
}

/* The mount that path lies in (absolute, without symbolic links, dot-dots
 * or doubled slashes); NULL for a table without a mount of "/".  Borrowed
 * from mi. */
const struct mountinfo_entry *
mountinfo_find(const struct mountinfo *mi, const char *path)
{
	const struct mountinfo_entry *m = mountinfo_root(mi);
	const char *p = path + 1;

	if (m == NULL || path[0] != '/')
		return NULL;
	m = mountinfo_top(mi, m, "/", 1);
	while (*p != '\0') {
		p += strcspn(p, "/");
		m = mountinfo_top(mi, m, path, (size_t)(p - path));
		p += strspn(p, "/");
	}
	return m;
}

/* A mount of the whole of file system dev (its root "/") that paths reach,
 * not hidden under another mount; NULL if there is none.  Borrowed from
 * mi. */
const struct mountinfo_entry *
mountinfo_whole(const struct mountinfo *mi, dev_t dev)
{
	for (size_t i = 0; i < mi->n; i++)
		if (mi->v[i].dev == dev && strcmp(mi->v[i].root, "/") == 0 &&
		    mountinfo_find(mi, mi->v[i].point) == &mi->v[i])
			return &mi->v[i];
	return NULL;
}

/* A mount of file system dev at another place than point, such as a bind
 * mount; NULL if there is none.  Borrowed from mi. */
const struct mountinfo_entry *
mountinfo_other(const struct mountinfo *mi, dev_t dev, const char *point)
{
	for (size_t i = 0; i < mi->n; i++)
		if (mi->v[i].dev == dev && strcmp(mi->v[i].point, point) != 0)
			return &mi->v[i];
	return NULL;
}

/* The device of the FUSE file system mounted at point (as realpath(3)
 * gives it) into *dev: 0, -ENOENT if the table has no such mount, or what
 * mountinfo_read() returns. */
int
mountinfo_fuse_dev(const char *point, dev_t *dev)
{
	const struct mountinfo_entry *m;
	struct mountinfo *mi;
	int rc;

	if ((rc = mountinfo_read(&mi)) < 0)
		return rc;
	m = mountinfo_find(mi, point);
	if (m != NULL && strcmp(m->point, point) == 0 &&
	    strcmp(m->root, "/") == 0 &&
	    (strcmp(m->type, "fuse") == 0 || strncmp(m->type, "fuse.", 5) == 0))
		*dev = m->dev;
	else
		rc = -ENOENT;
	mountinfo_free(mi);
	return rc;
}
