/*
 * inode-lib.c: see inode-lib.h.
 */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "booklet.h"
#include "index.h"
#include "inode-lib.h"

/* A tree of keys, put one by one. */
struct inode_tree *
il_tree(int flat, const char *const *keys)
{
	struct path_conf pc;
	struct inode_tree *t;

	ck_assert_int_eq(path_conf_init(&pc, BLT_SER_STR, flat, NULL), 0);
	ck_assert_int_eq(inode_tree_create(&pc, 0, &t), 0);
	for (; keys != NULL && *keys != NULL; keys++) {
		size_t len = strlen(*keys);
		/* keys ending in '/' are markers, the others have values */
		uint64_t vlen = len > 0 && (*keys)[len - 1] == '/' ? 0 : 1;

		ck_assert_int_eq(
		    inode_put_key(t, *keys, len, vlen, NULL, NULL), 0);
	}
	return t;
}

/* The node at path ("a/b"), looked up component by component. */
int
il_lookup_path(
    struct inode_tree *t, const char *path, int ref, struct inode_info *out)
{
	uint64_t dir = INODE_ROOT;
	char buf[4096], *s, *save = NULL;
	int rc;

	out->nodeid = INODE_ROOT;
	snprintf(buf, sizeof buf, "%s", path);
	for (s = strtok_r(buf, "/", &save); s != NULL;
	     s = strtok_r(NULL, "/", &save)) {
		if ((rc = inode_lookup(t, dir, s, strlen(s), ref, out)) < 0)
			return rc;
		dir = out->nodeid;
	}
	return 0;
}

/* The node id at path. */
uint64_t
il_node(struct inode_tree *t, const char *path)
{
	struct inode_info in;

	ck_assert_msg(
	    il_lookup_path(t, path, 0, &in) == 0, "%s: missing", path);
	return in.nodeid;
}

/* The node at path has the key want. */
void
il_assert_key(struct inode_tree *t, const char *path, const char *want)
{
	unsigned char *key;
	size_t klen;

	ck_assert_int_eq(inode_key(t, il_node(t, path), &key, &klen), 0);
	ck_assert_msg(klen == strlen(want) && memcmp(key, want, klen) == 0,
	    "%s: key '%.*s', want '%s'", path, (int)klen, key, want);
	free(key);
}

uint64_t
il_at(struct inode_tree *t, uint64_t nodeid)
{
	unsigned char *key;
	size_t klen;
	uint64_t ver, at;

	ck_assert_int_eq(
	    inode_key_version(t, nodeid, &key, &klen, &ver, &at), 0);
	free(key);
	return at;
}

/* inode_readdir()'s callback: keep the entry. */
int
il_take(void *arg, const char *name, size_t nlen, const struct inode_info *info,
    off_t off)
{
	struct il_listing *l = arg;

	(void)info;
	if (l->max-- <= 0)
		return 1;
	if (l->n >= 64) /* not ck_assert: readers call this in a loop */
		abort();
	memcpy(l->names[l->n], name, nlen);
	l->names[l->n][nlen] = '\0';
	l->offs[l->n++] = off;
	return 0;
}
