/*
 * Paths of the mount, for the control commands (ctl-cmd.c) and a map's
 * --keys FILE (keylist.c), which both call down into it: the node at a
 * path, the keys of the files at and below it, whether an absolute path
 * leads into this mount, and a path with its symbolic links resolved.
 *
 * Names of the mount are found in the directory index, never through the
 * kernel, which would wait for this daemon to answer, with no thread left
 * to do so under -o max_threads=1.  Each function that fails sets a
 * message for blt_errmsg() unless it says it returns a bare errno.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bltutil.h"
#include "ctl-int.h"

/* The node at path in the mount ("a/b", "/a/b", "" or "/" for the root),
 * and with key, a file's key.  Names are peeked at: a file the kernel does
 * not hold is no node, and is found without becoming one, which it would
 * stay to the unmount (a --keys file of 500,000 lines made as many nodes,
 * 110 MB); its out->nodeid is 0. */
int
resolve_node_key(struct fs *fs, const char *path, struct inode_info *out,
    unsigned char **key, size_t *klen)
{
	const char *p = path, *e, *name = NULL;
	uint64_t node = INODE_ROOT, parent = INODE_ROOT;
	size_t nlen = 0;
	int rc;

	if (key != NULL)
		*key = NULL;
	if ((rc = inode_stat(fs->tree, INODE_ROOT, out)) < 0)
		return blt_errmsg_set(rc, "%s: %s", path, strerror(-rc));
	while (*p != '\0') {
		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		e = strchr(p, '/');
		if (e == NULL)
			e = p + strlen(p);
		if (e - p == 2 && p[0] == '.' && p[1] == '.')
			return blt_errmsg_set(-EINVAL,
			    "%s: '..' is not allowed in a path of the mount",
			    path);
		if (!(e - p == 1 && p[0] == '.')) {
			/* below a file with no node, as below any file */
			rc = out->nodeid == 0
			         ? -ENOTDIR
			         : inode_lookup(fs->tree, node, p,
			               (size_t)(e - p), INODE_PEEK, out);
			if (rc < 0)
				return blt_errmsg_set(rc, "%s: %s in the mount",
				    path,
				    rc == -ENOENT ? "no such file or directory"
				                  : strerror(-rc));
			parent = node;
			name = p;
			nlen = (size_t)(e - p);
			node = out->nodeid;
		}
		p = e;
	}
	if (key == NULL || out->type != INODE_FILE)
		return 0;
	rc = out->nodeid != 0 ? inode_key(fs->tree, out->nodeid, key, klen)
	                      : inode_child_key(fs->tree, parent, name, nlen,
	                            INODE_FILE, key, klen);
	if (rc < 0)
		return blt_errmsg_set(rc, "%s: %s", path,
		    rc == -EINVAL ? blt_errmsg() : strerror(-rc));
	return 0;
}

int
resolve_node(struct fs *fs, const char *path, struct inode_info *out)
{
	return resolve_node_key(fs, path, out, NULL, NULL);
}

/* An inode_walk_keys() callback: collect the keys of files in arg, a
 * struct blt_map_keys. */
static int
resolve_select_file(void *arg, const unsigned char *key, size_t klen, int type)
{
	if (type != INODE_FILE)
		return 0; /* directory markers are not values to map */
	return blt_map_keys_add(arg, key, klen);
}

/* Add the keys of the files at and below path. */
int
resolve_select(
    struct fs *fs, const char *path, int dirs, struct blt_map_keys *k)
{
	struct inode_info in;
	unsigned char *key;
	size_t klen;
	int rc;

	if ((rc = resolve_node_key(fs, path, &in, &key, &klen)) < 0)
		return rc;
	if (in.type == INODE_DIR && !dirs)
		return blt_errmsg_set(
		    -EISDIR, "%s: a directory, not a file", path);
	if (key != NULL) { /* a file */
		rc = blt_map_keys_add(k, key, klen);
		free(key);
		return rc < 0 ? blt_errmsg_set(rc, "out of memory") : 0;
	}
	rc = inode_walk_keys(fs->tree, in.nodeid, resolve_select_file, k);
	if (rc == -ENOMEM)
		return blt_errmsg_set(rc, "out of memory");
	if (rc < 0)
		return blt_errmsg_set(rc, "%s: %s", path, strerror(-rc));
	return 0;
}

/* dir without the mount point, if dir is under it ("" for its root);
 * else NULL. */
static const char *
resolve_in_mount(struct fs *fs, const char *dir)
{
	size_t n = fs->mountpoint != NULL ? strlen(fs->mountpoint) : 0;

	if (n == 0)
		return NULL;
	if (strcmp(fs->mountpoint, "/") == 0)
		return dir;
	if (strncmp(dir, fs->mountpoint, n) == 0 &&
	    (dir[n] == '/' || dir[n] == '\0'))
		return dir + n;
	return NULL;
}

/* Does path (absolute, without symbolic links, dot-dots or doubled
 * slashes) lead into this mount's file system, through its mount point or
 * through any other mount of it in mi: a bind mount of it, or of one of
 * its directories, which the kernel would send to this daemon all the
 * same?  Then 1, with its path from the root of the file system in place
 * (PATH_MAX bytes, "" for the root) unless place is NULL; else 0, also for
 * a path under another file system mounted inside one of those.  -ENOENT
 * under a bind mount of a directory removed since.  Without mi, or the
 * mount's device (main.c), only the mount point is known. */
int
resolve_place(
    struct fs *fs, const struct mountinfo *mi, const char *path, char *place)
{
	const struct mountinfo_entry *m = NULL;
	const char *root = "", *rest;

	if (mi != NULL && fs->dev != 0)
		m = mountinfo_find(mi, path);
	if (m == NULL)
		rest = resolve_in_mount(fs, path);
	else if (m->dev != fs->dev)
		return 0;
	else if (m->deleted)
		return -ENOENT;
	else {
		rest =
		    path + (strcmp(m->point, "/") == 0 ? 0 : strlen(m->point));
		if (strcmp(m->root, "/") != 0)
			root = m->root;
	}
	if (rest == NULL)
		return 0;
	if (place != NULL &&
	    snprintf(place, PATH_MAX, "%s%s", root, rest) >= PATH_MAX)
		return -ENAMETOOLONG;
	return 1;
}

/* The absolute path with its symbolic links and dot-dots resolved, as
 * realpath(3) gives it, into *out (the caller frees it), where the daemon
 * opens it itself (--keys, --cwd, --out); mi is the table of mounts, or
 * NULL.  But a name in this mount, under any mount of it (resolve_place()), is
 * never looked at through the kernel, which would wait for this daemon to
 * answer, with no thread left to do so under -o max_threads=1; the mount
 * has no links, so its names are taken as written.  From a name that
 * cannot be looked at (missing, say) on, the path is kept as written, for
 * the open to fail on. */
int
resolve_real_path(
    struct fs *fs, const struct mountinfo *mi, const char *path, char **out)
{
	char done[PATH_MAX] = "", todo[PATH_MAX], link[PATH_MAX];
	char next[2 * PATH_MAX + 1];
	const char *p, *e;
	size_t n, len = 0;
	ssize_t ln;
	struct stat st;
	int links = 0, rc;

	if (snprintf(todo, sizeof todo, "%s", path) >= (int)sizeof todo)
		return -ENAMETOOLONG;
	for (p = todo; *p != '\0'; p = e) {
		p += strspn(p, "/");
		e = p + strcspn(p, "/");
		n = (size_t)(e - p);
		if (n == 0 || (n == 1 && p[0] == '.'))
			continue;
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			while (len > 0 && done[--len] != '/')
				;
			done[len] = '\0';
			continue;
		}
		if (len + 1 + n >= sizeof done)
			return -ENAMETOOLONG;
		done[len++] = '/';
		memcpy(done + len, p, n);
		done[len += n] = '\0';
		if ((rc = resolve_place(fs, mi, done, NULL)) < 0)
			return rc;
		if (rc == 1)
			continue;
		if (lstat(done, &st) == -1) {
			if (len + strlen(e) >= sizeof done)
				return -ENAMETOOLONG;
			strcpy(done + len, e);
			break;
		}
		if (!S_ISLNK(st.st_mode))
			continue;
		if (++links > 40)
			return -ELOOP;
		if ((ln = readlink(done, link, sizeof link - 1)) < 0)
			return -errno;
		link[ln] = '\0';
		/* go on with the link's target, then what followed it */
		if (snprintf(next, sizeof next, "%s%s", link, e) >=
		    (int)sizeof todo)
			return -ENAMETOOLONG;
		strcpy(todo, next);
		e = todo;
		if (link[0] == '/')
			len = 0;
		else
			while (len > 0 && done[--len] != '/')
				;
		done[len] = '\0';
	}
	if ((*out = strdup(len > 0 ? done : "/")) == NULL)
		return -ENOMEM;
	return 0;
}

/* Is rest, a path of this mount, in its control directory? */
int
resolve_in_ctl_dir(struct fs *fs, const char *rest)
{
	size_t n;

	rest += strspn(rest, "/");
	n = strcspn(rest, "/");
	return n > 0 && path_is_ctl(inode_conf(fs->tree), rest, n);
}
