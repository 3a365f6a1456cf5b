/*
 * mount_check: compare a mounted store with a fixture manifest.
 *
 *   mount_check [-F] [-L] MANIFEST.json MOUNTDIR
 *
 * The names each key must have come from the directory index built from
 * the manifest's keys alone (fs/index/inode.c, as bltfs builds it from a scan).
 * The mount is then walked name by name with openat(), so paths longer than
 * PATH_MAX work too: every directory must list exactly the expected names,
 * every file must have the value's size, SHA-256 and timestamp (µs), and
 * every directory marker must be a directory.  -F: the mount is -o flat.
 * -L: by lookups alone, for a mount whose index is being built (-o lazy):
 * the mount's listings are not read.
 * Prints each difference; exits 1 if there was one.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "booklet.h"
#include "index.h"
#include "manifest.h"

struct check {
	struct inode_tree *t;
	const struct manifest *m;
	int lookups; /* -L */
	size_t files, markers, errors;
};

struct check_names {
	char **v;
	uint64_t *nodeid;
	size_t n, cap;
};

static void __attribute__((format(printf, 3, 4)))
check_err(struct check *c, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("%s: ", path);
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	c->errors++;
}

static int
check_names_add(struct check_names *s, const char *name, uint64_t nodeid)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 32;
		char **v = realloc(s->v, cap * sizeof *v);
		uint64_t *id;

		if (v == NULL)
			return -ENOMEM;
		s->v = v;
		if ((id = realloc(s->nodeid, cap * sizeof *id)) == NULL)
			return -ENOMEM;
		s->nodeid = id;
		s->cap = cap;
	}
	if ((s->v[s->n] = strdup(name)) == NULL)
		return -ENOMEM;
	s->nodeid[s->n++] = nodeid;
	return 0;
}

static void
check_names_free(struct check_names *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	free(s->nodeid);
}

static int
check_has(const struct check_names *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->v[i], name) == 0)
			return 1;
	return 0;
}

static int
check_dirent(void *arg, const char *name, size_t nlen,
    const struct inode_info *info, off_t off)
{
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return 0;
	return check_names_add(arg, name, info->nodeid) < 0;
}

static const struct manifest_item *
check_item(struct check *c, uint64_t nodeid)
{
	const struct manifest_item *it;
	unsigned char *key;
	size_t klen;

	if (inode_key(c->t, nodeid, &key, &klen) < 0)
		return NULL;
	it = manifest_find(c->m, key, klen);
	free(key);
	return it;
}

static void
check_file(struct check *c, int dirfd, const char *name, const char *path,
    uint64_t nodeid)
{
	const struct manifest_item *it = check_item(c, nodeid);
	unsigned char buf[65536], sum[SHA256_LEN];
	struct sha256 s;
	struct stat st;
	uint64_t total = 0;
	int64_t us;
	ssize_t n;
	int fd;

	c->files++;
	if (it == NULL) {
		check_err(c, path, "%s", "no manifest item for this name");
		return;
	}
	if ((fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW)) == -1) {
		check_err(c, path, "open: %s", strerror(errno));
		return;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		check_err(c, path, "%s", "not a regular file");
		goto out;
	}
	if ((uint64_t)st.st_size != it->value_len)
		check_err(c, path, "%s", "size differs from value_len");
	us = (int64_t)st.st_mtim.tv_sec * 1000000 + st.st_mtim.tv_nsec / 1000;
	if (it->timestamp != MANIFEST_NO_TS && us != it->timestamp)
		check_err(c, path, "%s", "mtime differs from timestamp_us");
	sha256_init(&s);
	while ((n = read(fd, buf, sizeof buf)) > 0) {
		sha256_update(&s, buf, (size_t)n);
		total += (uint64_t)n;
	}
	if (n < 0)
		check_err(c, path, "read: %s", strerror(errno));
	sha256_final(&s, sum);
	if (total != it->value_len)
		check_err(c, path, "%s", "read a different length");
	else if (memcmp(sum, it->sha256, SHA256_LEN) != 0)
		check_err(c, path, "%s", "contents differ from value_sha256");
out:
	close(fd);
}

/* Read the listing of the directory at dirfd into got, and report the
 * names it has that want has not, and the other way round: 0, or -1 if it
 * cannot be read. */
static int
check_listing(struct check *c, int dirfd, const char *path,
    const struct check_names *want, struct check_names *got)
{
	struct dirent *de;
	size_t i;
	DIR *d;
	int fd;

	if ((fd = dup(dirfd)) == -1 || (d = fdopendir(fd)) == NULL) {
		check_err(c, path, "opendir: %s", strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			check_names_add(got, de->d_name, 0);
	closedir(d);
	for (i = 0; i < got->n; i++)
		if (!check_has(want, got->v[i]))
			check_err(c, path, "extra name '%s'", got->v[i]);
	for (i = 0; i < want->n; i++)
		if (!check_has(got, want->v[i]))
			check_err(c, path, "missing name '%s'", want->v[i]);
	return 0;
}

static void
check_dir(struct check *c, int dirfd, uint64_t nodeid, const char *path)
{
	struct check_names want = {0}, got = {0};
	struct inode_info in;
	char *sub;
	size_t i;
	int fd;

	if (inode_readdir(c->t, nodeid, 0, 0, check_dirent, &want) < 0) {
		check_err(c, path, "%s", "index readdir failed");
		return;
	}
	if (!c->lookups && check_listing(c, dirfd, path, &want, &got) < 0)
		goto out;
	for (i = 0; i < want.n; i++) {
		if (!c->lookups && !check_has(&got, want.v[i]))
			continue; /* missing, said */
		if (asprintf(&sub, "%s/%s", path, want.v[i]) == -1)
			break;
		/* a file is listed without a node: look it up for one */
		if (inode_lookup(c->t, nodeid, want.v[i], strlen(want.v[i]), 0,
		        &in) < 0) {
			check_err(c, sub, "%s", "index lookup failed");
			free(sub);
			continue;
		}
		if (in.type == INODE_FILE)
			check_file(c, dirfd, want.v[i], sub, in.nodeid);
		else if ((fd = openat(
		              dirfd, want.v[i], O_RDONLY | O_DIRECTORY)) == -1)
			check_err(c, sub, "open dir: %s", strerror(errno));
		else {
			if (in.flags & INODE_MARKER) {
				if (check_item(c, in.nodeid) == NULL)
					check_err(c, sub, "%s",
					    "marker not in manifest");
				c->markers++;
			}
			check_dir(c, fd, in.nodeid, sub);
			close(fd);
		}
		free(sub);
	}
out:
	check_names_free(&want);
	check_names_free(&got);
}

/* mount_check [-F] [-L] MANIFEST.json MOUNTDIR: see the top of this file. */
int
main(int argc, char **argv)
{
	struct check c = {0};
	struct path_conf pc;
	struct manifest *m;
	int opt, flat = 0, fd;
	size_t i;

	while ((opt = getopt(argc, argv, "FL")) != -1) {
		if (opt == 'F')
			flat = 1;
		else if (opt == 'L')
			c.lookups = 1;
		else
			goto usage;
	}
	if (argc - optind != 2)
		goto usage;
	if (manifest_load(argv[optind], &m) < 0) {
		fprintf(stderr, "mount_check: %s\n", blt_errmsg());
		return 2;
	}
	c.m = m;
	if (path_conf_init(&pc, m->key_serializer_code, flat, NULL) < 0 ||
	    inode_tree_create(&pc, m->n_items, &c.t) < 0) {
		fprintf(stderr, "mount_check: %s\n", blt_errmsg());
		return 2;
	}
	for (i = 0; i < m->n_items; i++)
		if (inode_put_key(c.t, m->items[i].key, m->items[i].klen,
		        m->items[i].value_len, NULL, NULL) < 0) {
			fprintf(stderr, "mount_check: %s\n", blt_errmsg());
			return 2;
		}
	if ((fd = open(argv[optind + 1], O_RDONLY | O_DIRECTORY)) == -1) {
		fprintf(stderr, "mount_check: %s: %s\n", argv[optind + 1],
		    strerror(errno));
		return 2;
	}
	check_dir(&c, fd, INODE_ROOT, argv[optind + 1]);
	close(fd);
	if (c.files + c.markers != m->n_items) {
		printf("%s: %zu files and %zu markers for %zu keys\n",
		    argv[optind + 1], c.files, c.markers, m->n_items);
		c.errors++;
	}
	inode_tree_free(c.t);
	manifest_free(m);
	return c.errors > 0;
usage:
	fprintf(
	    stderr, "usage: mount_check [-F] [-L] MANIFEST.json MOUNTDIR\n");
	return 2;
}
