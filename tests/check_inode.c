/*
 * The directory index (fs/inode.c): building, lookup, readdir while the
 * directory changes, renames of files and subtrees, rmdir rules, markers,
 * clashes that appear at run time, lookup references and forget, readers
 * running beside a writer, and a build of 1,000,000 keys that reports its
 * time (measured, never asserted).
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs.h"

#define ESC PATH_ESC

static struct inode_tree *
tree(int flat, const char *const *keys)
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
static int
lookup_path(
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

static uint64_t
node(struct inode_tree *t, const char *path)
{
	struct inode_info in;

	ck_assert_msg(lookup_path(t, path, 0, &in) == 0, "%s: missing", path);
	return in.nodeid;
}

static void
assert_key(struct inode_tree *t, const char *path, const char *want)
{
	unsigned char *key;
	size_t klen;

	ck_assert_int_eq(inode_key(t, node(t, path), &key, &klen), 0);
	ck_assert_msg(klen == strlen(want) && memcmp(key, want, klen) == 0,
	    "%s: key '%.*s', want '%s'", path, (int)klen, key, want);
	free(key);
}

struct listing {
	char names[64][PATH_NAME_MAX + 1];
	off_t offs[64];
	int n;
	int max; /* entries to accept per call */
};

static int
take(void *arg, const char *name, size_t nlen, const struct inode_info *info,
    off_t off)
{
	struct listing *l = arg;

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

static int
listed(const struct listing *l, const char *name)
{
	int i, c = 0;

	for (i = 0; i < l->n; i++)
		c += strcmp(l->names[i], name) == 0;
	return c;
}

START_TEST(build_and_lookup)
{
	static const char *const keys[] = {
	    "a/b/c.txt", "a/b/e.md", "a/d", "top", "deep/x/y/z", NULL};
	struct inode_tree *t = tree(0, keys);
	struct inode_info in, in2;

	ck_assert_uint_eq(inode_count(t), 5);
	ck_assert_int_eq(lookup_path(t, "a/b/c.txt", 0, &in), 0);
	ck_assert_int_eq(in.type, INODE_FILE);
	ck_assert_uint_eq(in.nlink, 1);
	ck_assert_int_eq(lookup_path(t, "a", 0, &in), 0);
	ck_assert_int_eq(in.type, INODE_DIR);
	ck_assert_uint_eq(in.nlink, 3); /* a/b */
	ck_assert_uint_eq(in.nchildren, 2);
	ck_assert_uint_eq(in.parent, INODE_ROOT);
	ck_assert_int_eq(inode_stat(t, INODE_ROOT, &in2), 0);
	ck_assert_uint_eq(in2.ino, 1);
	ck_assert_uint_eq(in2.nlink, 4);
	ck_assert_int_eq(lookup_path(t, "a/nope", 0, &in), -ENOENT);
	ck_assert_int_eq(lookup_path(t, "top/x", 0, &in), -ENOTDIR);
	assert_key(t, "deep/x/y/z", "deep/x/y/z");
	assert_key(t, "deep/x", "deep/x/");
	/* the same key again changes nothing */
	ck_assert_int_eq(inode_put_key(t, "a/d", 3, 9, &in, NULL), 0);
	ck_assert_uint_eq(in.nodeid, node(t, "a/d"));
	ck_assert_uint_eq(inode_count(t), 5);
	inode_tree_free(t);
}
END_TEST

START_TEST(inode_numbers_are_stable_and_unique)
{
	static const char *const keys[] = {"x/1", "x/2", "y", NULL};
	struct inode_tree *t = tree(0, keys);
	struct inode_info a, b, c;

	ck_assert_int_eq(lookup_path(t, "x/1", 0, &a), 0);
	ck_assert_int_eq(lookup_path(t, "x/2", 0, &b), 0);
	ck_assert_int_eq(lookup_path(t, "y", 0, &c), 0);
	ck_assert_uint_ne(a.ino, b.ino);
	ck_assert_uint_ne(a.ino, c.ino);
	ck_assert_uint_gt(a.ino, 1);
	ck_assert_int_eq(inode_put_key(t, "x/3", 3, 1, NULL, NULL), 0);
	ck_assert_int_eq(inode_del_key(t, "x/2", 3, NULL), 0);
	ck_assert_int_eq(lookup_path(t, "x/1", 0, &b), 0);
	ck_assert_uint_eq(a.ino, b.ino);
	ck_assert_uint_eq(a.nodeid, b.nodeid);
	inode_tree_free(t);
}
END_TEST

/* inode_tree_build() of a NULL-ended list, as a mount builds its tree. */
static int
list_next(void *arg, const void **key, size_t *klen, uint64_t *vlen)
{
	const char *const **k = arg;
	size_t len;

	if (**k == NULL)
		return 0;
	len = strlen(**k);
	*key = **k;
	*klen = len;
	*vlen = len > 0 && (**k)[len - 1] == '/' ? 0 : 1;
	(*k)++;
	return 1;
}

static struct inode_tree *
built(const char *const *keys)
{
	struct path_conf pc;
	struct inode_tree *t;

	ck_assert_int_eq(path_conf_init(&pc, BLT_SER_STR, 0, NULL), 0);
	ck_assert_int_eq(inode_tree_build(&pc, 0, list_next, &keys, &t), 0);
	return t;
}

static uint64_t
ino_of(struct inode_tree *t, const char *path)
{
	struct inode_info in;

	ck_assert_msg(lookup_path(t, path, 0, &in) == 0, "%s: missing", path);
	return in.ino;
}

START_TEST(inode_numbers_survive_other_keys_changing)
{
	static const char *const before[] = {
	    "a/b/c", "a/b/d", "a/e", "f", "g/", "h/i", NULL};
	/* a later mount: keys gone, new ones, rewritten ones at the end of
	 * the scan, and "f" now also a directory (its file inside it) */
	static const char *const after[] = {
	    "n/1", "a/e", "h/i", "g/", "a/b/d", "f/x", "f", "m", NULL};
	static const char *const same[] = {
	    "a", "a/b", "a/b/d", "a/e", "g", "h", "h/i", NULL};
	struct inode_tree *t1 = built(before), *t2 = built(after);
	struct inode_tree *t3 = tree(0, before);

	for (const char *const *p = same; *p != NULL; p++)
		ck_assert_msg(ino_of(t1, *p) == ino_of(t2, *p),
		    "%s: %llu, then %llu", *p,
		    (unsigned long long)ino_of(t1, *p),
		    (unsigned long long)ino_of(t2, *p));
	/* puts after the mount number as the mount's build does */
	for (const char *const *p = before; *p != NULL; p++)
		ck_assert_uint_eq(ino_of(t1, *p), ino_of(t3, *p));
	ck_assert_uint_ne(ino_of(t2, "f"), ino_of(t1, "f")); /* a dir now */
	inode_tree_free(t1);
	inode_tree_free(t2);
	inode_tree_free(t3);
}
END_TEST

/* Every number the tree shows below dir, appended to v. */
struct numbers {
	uint64_t v[256];
	uint64_t dirs[256];
	int n, ndirs;
};

static int
take_number(void *arg, const char *name, size_t nlen,
    const struct inode_info *info, off_t off)
{
	struct numbers *w = arg;

	(void)off;
	if ((nlen == 1 && name[0] == '.') ||
	    (nlen == 2 && memcmp(name, "..", 2) == 0))
		return 0;
	if (w->n >= 256 || w->ndirs >= 256)
		abort();
	w->v[w->n++] = info->ino;
	if (info->type == INODE_DIR)
		w->dirs[w->ndirs++] = info->nodeid;
	return 0;
}

static void
assert_unique_numbers(struct inode_tree *t, const uint64_t *held, int nheld)
{
	struct numbers w = {.n = 0, .ndirs = 1};
	int i, j;

	w.dirs[0] = INODE_ROOT;
	for (i = 0; i < w.ndirs; i++)
		ck_assert_int_eq(
		    inode_readdir(t, w.dirs[i], 0, 0, take_number, &w), 0);
	for (i = 0; i < w.n; i++) {
		ck_assert_uint_gt(w.v[i], 1);
		for (j = i + 1; j < w.n; j++)
			ck_assert_msg(w.v[i] != w.v[j],
			    "two nodes numbered %llu",
			    (unsigned long long)w.v[i]);
		for (j = 0; j < nheld; j++)
			ck_assert_msg(w.v[i] != held[j],
			    "a node has the number of a "
			    "removed one still held");
	}
}

START_TEST(moved_nodes_keep_their_numbers)
{
	static const char *const keys[] = {"d/f", "d/g", "e", NULL};
	static const char *const names[] = {"a", "b", "c", "d", "e", "f"};
	struct inode_tree *t = tree(0, keys);
	uint64_t f = ino_of(t, "d/f"), d = ino_of(t, "d");
	uint64_t held[64], heldnode[64];
	struct inode_info in;
	int nheld = 0, step;

	/* a renamed file keeps its number; a new one where it was does not
	 * take it */
	ck_assert_int_eq(
	    inode_rename(t, node(t, "d"), "f", 1, INODE_ROOT, "x", 1, 0, NULL),
	    0);
	ck_assert_uint_eq(ino_of(t, "x"), f);
	ck_assert_int_eq(inode_put_key(t, "d/f", 3, 1, NULL, NULL), 0);
	ck_assert_uint_ne(ino_of(t, "d/f"), f);
	/* so does a directory, and what is in it */
	ck_assert_int_eq(
	    inode_rename(t, INODE_ROOT, "d", 1, INODE_ROOT, "d2", 2, 0, NULL),
	    0);
	ck_assert_uint_eq(ino_of(t, "d2"), d);
	ck_assert_int_eq(inode_put_key(t, "d/f", 3, 1, NULL, NULL), 0);
	ck_assert_uint_ne(ino_of(t, "d"), d);
	assert_unique_numbers(t, NULL, 0);
	/* a removed file still held keeps its number from new files; once
	 * forgotten, a new file of its name has it again */
	ck_assert_int_eq(lookup_path(t, "e", 1, &in), 0);
	ck_assert_int_eq(inode_del_key(t, "e", 1, NULL), 0);
	ck_assert_int_eq(inode_put_key(t, "e", 1, 1, NULL, NULL), 0);
	ck_assert_uint_ne(ino_of(t, "e"), in.ino);
	ck_assert_int_eq(inode_del_key(t, "e", 1, NULL), 0);
	inode_forget(t, in.nodeid, 1);
	ck_assert_int_eq(inode_put_key(t, "e", 1, 1, NULL, NULL), 0);
	ck_assert_uint_eq(ino_of(t, "e"), in.ino);

	/* random puts, removals, renames and held nodes: never two nodes
	 * with one number */
	srand(7);
	for (step = 0; step < 4000; step++) {
		char a[8], b[8];
		const char *n1 = names[rand() % 6], *n2 = names[rand() % 6];
		int op = rand() % 6;

		snprintf(a, sizeof a, "%s/%s", names[rand() % 3], n1);
		snprintf(b, sizeof b, "%s/%s", names[rand() % 3], n2);
		if (op == 0)
			inode_put_key(t, a, strlen(a), 1, NULL, NULL);
		else if (op == 1)
			inode_del_key(t, a, strlen(a), NULL);
		else if (op == 2 &&
		         lookup_path(t, names[rand() % 3], 0, &in) == 0) {
			uint64_t from = in.nodeid;

			if (lookup_path(t, names[rand() % 3], 0, &in) == 0)
				inode_rename(
				    t, from, n1, 1, in.nodeid, n2, 1, 0, NULL);
		} else if (op == 3)
			inode_rename(
			    t, INODE_ROOT, n1, 1, INODE_ROOT, n2, 1, 0, NULL);
		else if (op == 4 && nheld < 64 &&
		         lookup_path(t, a, 1, &in) == 0) {
			held[nheld] = in.ino;
			heldnode[nheld++] = in.nodeid;
		} else if (op == 5 && nheld > 0) {
			nheld--;
			inode_forget(t, heldnode[nheld], 1);
		}
		/* numbers of held nodes that are gone stay theirs */
		{
			uint64_t gone[64];
			int ngone = 0;

			for (int i = 0; i < nheld; i++)
				if (inode_stat(t, heldnode[i], &in) == -ESTALE)
					gone[ngone++] = held[i];
			assert_unique_numbers(t, gone, ngone);
		}
	}
	while (nheld > 0)
		inode_forget(t, heldnode[--nheld], 1);
	inode_tree_free(t);
}
END_TEST

/* 0 with the key of path and its version, or -EAGAIN while it moves */
static int
key_version(struct inode_tree *t, const char *path, uint64_t *ver)
{
	unsigned char *key;
	size_t klen;
	int rc;

	if ((rc = inode_key_version(t, node(t, path), &key, &klen, ver)) == 0) {
		ck_assert_msg(
		    klen == strlen(path) && memcmp(key, path, klen) == 0,
		    "%s: key '%.*s'", path, (int)klen, key);
		free(key);
	}
	return rc;
}

START_TEST(a_move_holds_reads_below_it_only)
{
	static const char *const keys[] = {"a/x", "a/b/y", "c/z", NULL};
	struct inode_tree *t = tree(0, keys);
	struct inode_info a;
	uint64_t vx, vz, v;

	ck_assert_int_eq(key_version(t, "a/x", &vx), 0);
	ck_assert_int_eq(lookup_path(t, "a", 1, &a), 0);
	inode_move_mark(t, a.nodeid); /* an unlink or rename of a begins */
	ck_assert_int_eq(key_version(t, "a/x", &v), -EAGAIN);
	ck_assert_int_eq(key_version(t, "a/b/y", &v), -EAGAIN);
	ck_assert_int_eq(key_version(t, "c/z", &vz), 0);
	ck_assert(!inode_key_still(t, node(t, "a/x"), vx));
	inode_move_mark(t, a.nodeid); /* and ends */
	ck_assert_int_eq(key_version(t, "a/x", &v), 0);
	/* a read by key that a whole move overlapped is done again */
	ck_assert(!inode_key_still(t, node(t, "a/x"), vx));
	ck_assert(inode_key_still(t, node(t, "a/x"), v));
	ck_assert(inode_key_still(t, node(t, "c/z"), vz));
	inode_forget(t, a.nodeid, 1);
	inode_tree_free(t);
}
END_TEST

START_TEST(readdir_offsets_survive_changes)
{
	static const char *const keys[] = {
	    "d/a", "d/b", "d/c", "d/e", "d/f", NULL};
	struct inode_tree *t = tree(0, keys);
	struct listing l = {.max = 3};
	uint64_t d = node(t, "d");
	off_t off;

	/* ".", "..", "a" */
	ck_assert_int_eq(inode_readdir(t, d, 0, 0, take, &l), 0);
	ck_assert_int_eq(l.n, 3);
	ck_assert_str_eq(l.names[0], ".");
	ck_assert_str_eq(l.names[1], "..");
	ck_assert_str_eq(l.names[2], "a");
	off = l.offs[2];
	/* change the directory between two calls */
	ck_assert_int_eq(inode_del_key(t, "d/a", 3, NULL), 0);
	ck_assert_int_eq(inode_del_key(t, "d/c", 3, NULL), 0);
	ck_assert_int_eq(inode_put_key(t, "d/g", 3, 1, NULL, NULL), 0);
	l.max = 2;
	ck_assert_int_eq(inode_readdir(t, d, off, 0, take, &l), 0);
	ck_assert_str_eq(l.names[3], "b");
	ck_assert_str_eq(l.names[4], "e");
	l.max = 100;
	ck_assert_int_eq(inode_readdir(t, d, l.offs[4], 0, take, &l), 0);
	ck_assert_int_eq(l.n, 7);
	ck_assert_str_eq(l.names[5], "f");
	ck_assert_str_eq(l.names[6], "g");
	/* nothing twice, nothing that stayed is missing */
	ck_assert_int_eq(
	    listed(&l, "b") + listed(&l, "e") + listed(&l, "f"), 3);
	ck_assert_int_eq(listed(&l, "c"), 0);
	/* a listing from an offset of a removed entry resumes after it */
	memset(&l, 0, sizeof l);
	l.max = 100;
	ck_assert_int_eq(inode_readdir(t, d, off, 0, take, &l), 0);
	ck_assert_int_eq(l.n, 4);
	inode_tree_free(t);
}
END_TEST

START_TEST(readdir_offsets_survive_compaction)
{
	struct inode_tree *t = tree(0, NULL);
	struct listing l;
	char key[32];
	uint64_t d;
	off_t off;
	int i;

	for (i = 0; i < 1000; i++) {
		snprintf(key, sizeof key, "d/%04d", i);
		ck_assert_int_eq(
		    inode_put_key(t, key, strlen(key), 1, NULL, NULL), 0);
	}
	d = node(t, "d");
	memset(&l, 0, sizeof l);
	l.max = 3;
	ck_assert_int_eq(inode_readdir(t, d, 500 + 2, 0, take, &l), 0);
	ck_assert_str_eq(l.names[0], "0500");
	off = l.offs[0];
	/* remove all but every tenth entry: the array is squeezed */
	for (i = 0; i < 1000; i++) {
		if (i % 10 == 0)
			continue;
		snprintf(key, sizeof key, "d/%04d", i);
		ck_assert_int_eq(inode_del_key(t, key, strlen(key), NULL), 0);
	}
	memset(&l, 0, sizeof l);
	l.max = 1;
	ck_assert_int_eq(inode_readdir(t, d, off, 0, take, &l), 0);
	ck_assert_str_eq(l.names[0], "0510");
	inode_tree_free(t);
}
END_TEST

START_TEST(readdir_plus_counts_references)
{
	static const char *const keys[] = {"f1", "f2", NULL};
	struct inode_tree *t = tree(0, keys);
	struct listing l = {.max = 3};
	struct inode_info in;
	uint64_t f1 = node(t, "f1"), f2 = node(t, "f2");

	/* ".", "..", "f1" accepted; "f2" did not fit */
	ck_assert_int_eq(inode_readdir(t, INODE_ROOT, 0, 1, take, &l), 0);
	ck_assert_int_eq(inode_del_key(t, "f1", 2, NULL), 0);
	ck_assert_int_eq(inode_del_key(t, "f2", 2, NULL), 0);
	/* f1 was referenced, so it is kept until forgotten; f2 is freed */
	ck_assert_int_eq(inode_stat(t, f1, &in), -ESTALE);
	ck_assert(in.flags & INODE_GONE);
	inode_forget(t, f1, 1);
	(void)f2;
	inode_tree_free(t);
}
END_TEST

/* How the kernel has used a directory decides how it is answered: the
 * listing is kept from its second opening, and readdirplus gives
 * attributes where a child was looked up (by the kernel: with ref). */
START_TEST(directories_remember_how_they_were_used)
{
	static const char *const keys[] = {"d/f", "g/f", NULL};
	struct inode_tree *t = tree(0, keys);
	struct inode_info in;
	uint64_t d = node(t, "d"), g = node(t, "g");

	ck_assert_uint_eq(inode_dir_seen(t, d, INODE_SEEN_LISTED), 0);
	ck_assert_uint_eq(inode_dir_seen(t, d, 0), INODE_SEEN_LISTED);
	ck_assert_uint_eq(inode_dir_seen(t, g, INODE_SEEN_LISTED), 0);

	/* lookups of our own (no ref) do not count */
	ck_assert_int_eq(lookup_path(t, "d/f", 0, &in), 0);
	ck_assert_uint_eq(inode_dir_seen(t, d, 0), INODE_SEEN_LISTED);
	ck_assert_int_eq(lookup_path(t, "d/f", 1, &in), 0);
	ck_assert_uint_eq(
	    inode_dir_seen(t, d, 0), INODE_SEEN_LISTED | INODE_SEEN_LOOKUP);
	ck_assert_uint_eq(inode_dir_seen(t, g, 0), INODE_SEEN_LISTED);
	/* the root had d looked up with a ref on the way */
	ck_assert_uint_eq(inode_dir_seen(t, INODE_ROOT, 0), INODE_SEEN_LOOKUP);
	/* a file is taken as seen every way */
	ck_assert_uint_eq(inode_dir_seen(t, in.nodeid, 0),
	    INODE_SEEN_LISTED | INODE_SEEN_LOOKUP);
	inode_forget(t, d, 1);
	inode_forget(t, in.nodeid, 1);
	inode_tree_free(t);
}
END_TEST

START_TEST(forget_frees_removed_nodes)
{
	static const char *const keys[] = {"a/b", "c", NULL};
	struct inode_tree *t = tree(0, keys);
	struct inode_info in;
	unsigned char *key;
	size_t klen;

	ck_assert_int_eq(lookup_path(t, "a/b", 1, &in), 0);
	ck_assert_int_eq(lookup_path(t, "a/b", 1, &in), 0);
	ck_assert_int_eq(inode_del_key(t, "a/b", 3, NULL), 0);
	ck_assert_int_eq(inode_stat(t, in.nodeid, &in), -ESTALE);
	ck_assert_int_eq(inode_key(t, in.nodeid, &key, &klen), -ESTALE);
	inode_forget(t, in.nodeid, 1);
	ck_assert_int_eq(inode_stat(t, in.nodeid, &in), -ESTALE);
	inode_forget(t, in.nodeid, 1); /* freed now; ASan/valgrind watch */
	/* a node still in the tree is not freed by forget */
	ck_assert_int_eq(lookup_path(t, "c", 1, &in), 0);
	inode_forget(t, in.nodeid, 1);
	ck_assert_int_eq(inode_stat(t, in.nodeid, &in), 0);
	/* a gone node still held at the end is freed with the tree */
	ck_assert_int_eq(lookup_path(t, "c", 1, &in), 0);
	ck_assert_int_eq(inode_del_key(t, "c", 1, NULL), 0);
	inode_forget(t, INODE_ROOT, 5); /* the root is never forgotten */
	inode_tree_free(t);
}
END_TEST

START_TEST(directories_stay_until_rmdir)
{
	static const char *const keys[] = {"a/b", "m/", "m/x", NULL};
	struct inode_tree *t = tree(0, keys);
	struct inode_info in;

	ck_assert_uint_eq(inode_count(t), 3);
	ck_assert_int_eq(inode_del_key(t, "a/b", 3, NULL), 0);
	ck_assert_int_eq(lookup_path(t, "a", 0, &in), 0);
	ck_assert_uint_eq(in.nchildren, 0);
	ck_assert_int_eq(inode_rmdir(t, INODE_ROOT, "m", 1), -ENOTEMPTY);
	ck_assert_int_eq(inode_rmdir(t, node(t, "m"), "x", 1), -ENOTDIR);
	ck_assert_int_eq(inode_rmdir(t, INODE_ROOT, "zz", 2), -ENOENT);
	ck_assert_int_eq(inode_del_key(t, "m/x", 3, NULL), 0);
	ck_assert_int_eq(lookup_path(t, "m", 0, &in), 0);
	ck_assert(in.flags & INODE_MARKER);
	assert_key(t, "m", "m/");
	ck_assert_int_eq(inode_rmdir(t, INODE_ROOT, "m", 1), 0);
	ck_assert_uint_eq(inode_count(t), 0);
	ck_assert_int_eq(inode_rmdir(t, INODE_ROOT, "a", 1), 0);
	ck_assert_int_eq(lookup_path(t, "a", 0, &in), -ENOENT);
	ck_assert_int_eq(inode_del_key(t, "a/b", 3, NULL), -ENOENT);
	inode_tree_free(t);
}
END_TEST

START_TEST(mkdir_marker_and_file_transitions)
{
	struct inode_tree *t = tree(0, NULL);
	struct inode_info in;
	struct inode_stale st;
	unsigned char *key;
	size_t klen;

	/* mkdir: the key a new directory gets is its marker */
	ck_assert_int_eq(
	    inode_child_key(t, INODE_ROOT, "new", 3, INODE_DIR, &key, &klen),
	    0);
	ck_assert_uint_eq(klen, 4);
	ck_assert_mem_eq(key, "new/", 4);
	ck_assert_int_eq(inode_put_key(t, key, klen, 0, &in, NULL), 0);
	free(key);
	ck_assert_int_eq(in.type, INODE_DIR);
	ck_assert(in.flags & INODE_MARKER);
	ck_assert_uint_eq(inode_count(t), 1);
	/* "new/" gets a value: a file named U+201B inside */
	ck_assert_int_eq(inode_put_key(t, "new/", 4, 5, &in, NULL), 0);
	ck_assert_int_eq(in.type, INODE_FILE);
	ck_assert_uint_eq(inode_count(t), 1);
	ck_assert_int_eq(lookup_path(t, "new", 0, &in), 0);
	ck_assert(!(in.flags & INODE_MARKER));
	assert_key(t, "new/" ESC, "new/");
	/* and back to empty: the marker again, the file gone */
	ck_assert_int_eq(inode_put_key(t, "new/", 4, 0, NULL, &st), 0);
	ck_assert(st.valid);
	ck_assert_str_eq(st.name, ESC);
	ck_assert_uint_eq(inode_count(t), 1);
	ck_assert_int_eq(lookup_path(t, "new/" ESC, 0, &in), -ENOENT);
	/* a flat mount has no directories */
	inode_tree_free(t);
	t = tree(1, NULL);
	ck_assert_int_eq(
	    inode_child_key(t, INODE_ROOT, "d", 1, INODE_DIR, &key, &klen),
	    -EPERM);
	inode_tree_free(t);
}
END_TEST

START_TEST(clash_moves_file_into_directory)
{
	static const char *const keys[] = {"dir", NULL};
	struct inode_tree *t = tree(0, keys);
	struct inode_info in, f;
	struct inode_stale st;
	unsigned char *key;
	size_t klen;

	ck_assert_int_eq(lookup_path(t, "dir", 1, &f), 0);
	ck_assert_int_eq(f.type, INODE_FILE);
	/* a job adds dir/file: the file "dir" moves to dir/U+201B. */
	ck_assert_int_eq(inode_put_key(t, "dir/file", 8, 1, NULL, &st), 0);
	ck_assert(st.valid);
	ck_assert_uint_eq(st.parent, INODE_ROOT);
	ck_assert_str_eq(st.name, "dir");
	ck_assert_uint_eq(st.nodeid, f.nodeid);
	ck_assert_int_eq(lookup_path(t, "dir", 0, &in), 0);
	ck_assert_int_eq(in.type, INODE_DIR);
	ck_assert_int_eq(lookup_path(t, "dir/" ESC ".", 0, &in), 0);
	ck_assert_uint_eq(in.nodeid, f.nodeid); /* same node, new place */
	ck_assert(in.flags & INODE_SELF);
	assert_key(t, "dir/" ESC ".", "dir");
	ck_assert_uint_eq(inode_count(t), 2);
	/* rmdir refuses while the file is inside */
	ck_assert_int_eq(inode_del_key(t, "dir/file", 8, NULL), 0);
	ck_assert_int_eq(inode_rmdir(t, INODE_ROOT, "dir", 3), -ENOTEMPTY);
	/* the self name can be created inside a directory only */
	ck_assert_int_eq(inode_child_key(t, node(t, "dir"), ESC ".", 4,
	                     INODE_FILE, &key, &klen),
	    0);
	ck_assert_uint_eq(klen, 3);
	free(key);
	ck_assert_int_eq(inode_del_key(t, "dir", 3, NULL), 0);
	ck_assert_int_eq(inode_rmdir(t, INODE_ROOT, "dir", 3), 0);
	ck_assert_uint_eq(inode_count(t), 0);
	inode_forget(t, f.nodeid, 1);
	inode_tree_free(t);
}
END_TEST

START_TEST(rename_file)
{
	static const char *const keys[] = {"a/f", "b/", "b/g", NULL};
	struct inode_tree *t = tree(0, keys);
	struct inode_info f, in;
	struct inode_stale st;

	ck_assert_int_eq(lookup_path(t, "a/f", 0, &f), 0);
	ck_assert_int_eq(inode_rename(t, node(t, "a"), "f", 1, node(t, "b"),
	                     "h", 1, 0, NULL),
	    0);
	ck_assert_int_eq(lookup_path(t, "b/h", 0, &in), 0);
	ck_assert_uint_eq(in.nodeid, f.nodeid);
	ck_assert_uint_eq(in.ino, f.ino);
	assert_key(t, "b/h", "b/h");
	ck_assert_int_eq(lookup_path(t, "a/f", 0, &in), -ENOENT);
	/* replacing a file, unless RENAME_NOREPLACE */
	ck_assert_int_eq(inode_rename(t, node(t, "b"), "h", 1, node(t, "b"),
	                     "g", 1, 1, NULL),
	    -EEXIST);
	ck_assert_int_eq(
	    inode_rename(t, node(t, "b"), "h", 1, node(t, "b"), "g", 1, 0, &st),
	    0);
	ck_assert(st.valid);
	ck_assert_str_eq(st.name, "g");
	ck_assert_uint_eq(inode_count(t), 2); /* b/ and b/g */
	/* a file over a directory, and names no key is listed as */
	ck_assert_int_eq(
	    inode_rename(t, node(t, "b"), "g", 1, INODE_ROOT, "a", 1, 0, NULL),
	    -EISDIR);
	ck_assert_int_eq(inode_rename(t, node(t, "b"), "g", 1, INODE_ROOT,
	                     ESC "41", 5, 0, NULL),
	    -EINVAL);
	/* the message says what the name stands for, and how to write it
	 * to mean the characters as typed */
	ck_assert_msg(strstr(blt_errmsg(), "listed as 'A'; to name these "
	                                   "characters as typed, write '" ESC
	                                   "E2" ESC "80" ESC "9B41'") != NULL,
	    "%s", blt_errmsg());
	ck_assert_int_eq(inode_rename(t, node(t, "b"), "g", 1, INODE_ROOT,
	                     ".bltfs", 6, 0, NULL),
	    -EEXIST);
	/* into a directory as its own key */
	ck_assert_int_eq(inode_rename(t, node(t, "b"), "g", 1, node(t, "a"),
	                     ESC ".", 4, 0, NULL),
	    0);
	assert_key(t, "a/" ESC ".", "a");
	ck_assert_int_eq(inode_rename(t, node(t, "a"), ESC ".", 4, INODE_ROOT,
	                     "z", 1, 0, NULL),
	    0);
	assert_key(t, "z", "z");
	ck_assert_int_eq(
	    inode_rename(t, INODE_ROOT, "z", 1, INODE_ROOT, "z", 1, 0, NULL),
	    0);
	ck_assert_int_eq(
	    inode_rename(t, INODE_ROOT, "q", 1, INODE_ROOT, "z", 1, 0, NULL),
	    -ENOENT);
	inode_tree_free(t);
}
END_TEST

struct keys {
	char k[16][64];
	int type[16];
	int n;
};

static int
gather(void *arg, const unsigned char *key, size_t klen, int type)
{
	struct keys *ks = arg;

	ck_assert_int_lt(ks->n, 16);
	memcpy(ks->k[ks->n], key, klen);
	ks->k[ks->n][klen] = '\0';
	ks->type[ks->n++] = type;
	return 0;
}

static int
has(const struct keys *ks, const char *k)
{
	int i;

	for (i = 0; i < ks->n; i++)
		if (strcmp(ks->k[i], k) == 0)
			return 1;
	return 0;
}

START_TEST(rename_subtree_moves_every_key)
{
	static const char *const keys[] = {
	    "src", "src/", "src/a", "src/s/b", "src/s/t/", "other", NULL};
	struct inode_tree *t;
	struct keys ks = {0};
	struct inode_info b, in;

	/* "src" and "src/" clash: the file is src/U+201B. */
	t = tree(0, keys);
	ck_assert_int_eq(inode_walk_keys(t, node(t, "src"), gather, &ks), 0);
	ck_assert_int_eq(ks.n, 5);
	ck_assert(has(&ks, "src/") && has(&ks, "src") && has(&ks, "src/a") &&
	          has(&ks, "src/s/b") && has(&ks, "src/s/t/"));
	ck_assert_int_eq(lookup_path(t, "src/s/b", 0, &b), 0);
	/* a directory cannot move into itself, nor over a non-empty one */
	ck_assert_int_eq(inode_rename(t, INODE_ROOT, "src", 3, node(t, "src/s"),
	                     "x", 1, 0, NULL),
	    -EINVAL);
	ck_assert_int_eq(inode_rename(t, INODE_ROOT, "src", 3, INODE_ROOT,
	                     "other", 5, 0, NULL),
	    -ENOTDIR);
	ck_assert_int_eq(inode_rename(t, INODE_ROOT, "src", 3, INODE_ROOT,
	                     "dst", 3, 0, NULL),
	    0);
	memset(&ks, 0, sizeof ks);
	ck_assert_int_eq(inode_walk_keys(t, node(t, "dst"), gather, &ks), 0);
	ck_assert_int_eq(ks.n, 5);
	ck_assert(has(&ks, "dst/") && has(&ks, "dst") && has(&ks, "dst/a") &&
	          has(&ks, "dst/s/b") && has(&ks, "dst/s/t/"));
	ck_assert_int_eq(lookup_path(t, "dst/s/b", 0, &in), 0);
	ck_assert_uint_eq(in.nodeid, b.nodeid);
	assert_key(t, "dst/s/b", "dst/s/b");
	assert_key(t, "dst/s/t", "dst/s/t/");
	ck_assert_int_eq(lookup_path(t, "src", 0, &in), -ENOENT);
	ck_assert_uint_eq(inode_count(t), 6);
	/* over an empty directory */
	ck_assert_int_eq(inode_put_key(t, "e/", 2, 0, NULL, NULL), 0);
	ck_assert_int_eq(
	    inode_rename(t, INODE_ROOT, "dst", 3, INODE_ROOT, "e", 1, 0, NULL),
	    0);
	ck_assert_uint_eq(inode_count(t), 6);
	assert_key(t, "e/a", "e/a");
	inode_tree_free(t);
}
END_TEST

static int
count_keys(void *arg, const unsigned char *key, size_t klen, int type)
{
	(void)key;
	ck_assert_uint_eq(klen, 302);
	ck_assert_int_eq(type, INODE_FILE);
	++*(int *)arg;
	return 0;
}

START_TEST(long_names_are_reachable)
{
	struct inode_tree *t = tree(0, NULL);
	unsigned char key[700];
	struct inode_info in;
	struct listing l = {.max = 10};
	unsigned char *k;
	int n = 0;
	size_t klen;

	memset(key, 'x', sizeof key);
	memcpy(key + 300, "/f", 2);
	ck_assert_int_eq(inode_put_key(t, key, 302, 1, &in, NULL), 0);
	ck_assert_int_eq(inode_readdir(t, INODE_ROOT, 0, 0, take, &l), 0);
	ck_assert_int_eq(l.n, 3);
	ck_assert_uint_eq(strlen(l.names[2]), 255);
	ck_assert_int_eq(
	    inode_lookup(t, INODE_ROOT, l.names[2], 255, 0, &in), 0);
	ck_assert(in.flags & INODE_CONT);
	ck_assert_int_eq(inode_key(t, in.nodeid, &k, &klen), -EINVAL);
	ck_assert_int_eq(inode_walk_keys(t, in.nodeid, count_keys, &n), 0);
	ck_assert_int_eq(n, 1);
	/* a piece cannot be renamed, nor made by hand */
	ck_assert_int_eq(inode_rename(t, INODE_ROOT, l.names[2], 255,
	                     INODE_ROOT, "y", 1, 0, NULL),
	    -EINVAL);
	ck_assert_int_eq(inode_child_key(t, INODE_ROOT, l.names[2], 255,
	                     INODE_DIR, &k, &klen),
	    -EINVAL);
	/* the rest of the segment is made inside the piece */
	ck_assert_int_eq(
	    inode_child_key(t, in.nodeid,
	        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 49,
	        INODE_DIR, &k, &klen),
	    0);
	ck_assert_uint_eq(klen, 301);
	ck_assert_int_eq(k[300], '/');
	free(k);
	/* but not a rest so short the segment would fit one name */
	ck_assert_int_eq(
	    inode_child_key(t, in.nodeid, "x", 1, INODE_FILE, &k, &klen),
	    -EINVAL);
	inode_tree_free(t);
}
END_TEST

/* mkdir of a piece (inode_add_piece()): an empty directory flagged as a
 * piece, made only where some long name would be cut, holding the rest. */
START_TEST(pieces_are_made_by_mkdir)
{
	struct inode_tree *t = tree(0, NULL);
	char name[256];
	struct inode_info in;
	unsigned char *k;
	size_t klen;

	memset(name, 'x', 251);
	memcpy(name + 251, ESC "+", 4);
	ck_assert_int_eq(inode_add_piece(t, INODE_ROOT, name, 255), 0);
	ck_assert_int_eq(inode_lookup(t, INODE_ROOT, name, 255, 0, &in), 0);
	ck_assert_int_eq(in.type, INODE_DIR);
	ck_assert(in.flags & INODE_CONT);
	ck_assert(!(in.flags & INODE_MARKER));
	ck_assert_uint_eq(inode_count(t), 0);
	ck_assert_int_eq(inode_add_piece(t, INODE_ROOT, name, 255), -EEXIST);
	ck_assert_int_eq(inode_child_key(t, in.nodeid, "tail-of-it", 10,
	                     INODE_FILE, &k, &klen),
	    0);
	ck_assert_uint_eq(klen, 261);
	free(k);
	/* 237 bytes: cut before a U+201B written as 15 bytes; 236: never */
	memcpy(name + 237, ESC "+", 4);
	ck_assert_int_eq(inode_add_piece(t, INODE_ROOT, name, 241), 0);
	ck_assert_int_eq(inode_rmdir(t, INODE_ROOT, name, 241), 0);
	memcpy(name + 236, ESC "+", 4);
	ck_assert_int_eq(inode_add_piece(t, INODE_ROOT, name, 240), -EINVAL);
	/* the piece must be spelled as the walk spells it */
	memcpy(name, ESC "78", 5); /* 'x' escaped */
	memcpy(name + 251, ESC "+", 4);
	ck_assert_int_eq(inode_add_piece(t, INODE_ROOT, name, 255), -EINVAL);
	inode_tree_free(t);
}
END_TEST

struct race {
	struct inode_tree *t;
	int stop;
};

static void *
reader(void *arg)
{
	struct race *r = arg;
	struct inode_info in;
	struct listing l;
	unsigned char *key;
	size_t klen;
	long n = 0;

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE) || n < 1000) {
		if (inode_lookup(r->t, INODE_ROOT, "d", 1, 0, &in) == 0) {
			memset(&l, 0, sizeof l);
			l.max = 60;
			/* no ck_assert here: each one writes to a file */
			if (inode_readdir(r->t, in.nodeid, 0, 0, take, &l) != 0)
				abort();
			if (inode_key(r->t, in.nodeid, &key, &klen) == 0)
				free(key);
		}
		n++;
	}
	return NULL;
}

START_TEST(readers_run_beside_a_writer)
{
	struct race r = {tree(0, NULL), 0};
	pthread_t th[3];
	char key[32];
	int i;

	for (i = 0; i < 3; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, reader, &r), 0);
	for (i = 0; i < 5000; i++) {
		snprintf(key, sizeof key, "d/%d", i % 50);
		if (i % 100 < 50)
			ck_assert_int_eq(
			    inode_put_key(r.t, key, strlen(key), 1, NULL, NULL),
			    0);
		else
			ck_assert_int_eq(
			    inode_del_key(r.t, key, strlen(key), NULL), 0);
	}
	__atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	inode_tree_free(r.t);
}
END_TEST

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts); /* the host is shared */
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct gen {
	char (*keys)[48];
	size_t i, n;
};

static int
gen_next(void *arg, const void **key, size_t *klen, uint64_t *vlen)
{
	struct gen *g = arg;

	if (g->i == g->n)
		return 0;
	*key = g->keys[g->i];
	*klen = strlen(g->keys[g->i++]);
	*vlen = 1;
	return 1;
}

START_TEST(build_one_million_keys)
{
	struct path_conf pc;
	struct inode_tree *t;
	struct gen g;
	size_t n = 1000000, i;
	double t0, t1;
	int flat;

	g.keys = malloc(n * sizeof *g.keys);
	g.n = n;
	ck_assert_ptr_nonnull(g.keys);
	/* 1000 directories of 20 subdirectories, visited round robin */
	for (i = 0; i < n; i++)
		snprintf(g.keys[i], sizeof g.keys[i],
		    "dir%03zu/sub%02zu/file%07zu.dat", i % 1000, i / 1000 % 20,
		    i);
	for (flat = 0; flat < 2; flat++) {
		ck_assert_int_eq(path_conf_init(&pc, 2, flat, NULL), 0);
		g.i = 0;
		t0 = now();
		ck_assert_int_eq(inode_tree_build(&pc, n, gen_next, &g, &t), 0);
		t1 = now();
		ck_assert_uint_eq(inode_count(t), n);
		printf("check_inode: built %zu keys (%s) in %.3f s CPU, "
		       "%.0f ns per key\n",
		    n, flat ? "flat" : "3 levels", t1 - t0,
		    (t1 - t0) * 1e9 / (double)n);
		/* puts one by one, as changes arrive after the mount */
		t0 = now();
		for (i = 0; i < 100000; i++) {
			g.keys[i][0] = 'D';
			if (inode_put_key(t, g.keys[i], strlen(g.keys[i]), 1,
			        NULL, NULL) != 0)
				ck_abort_msg("%s", blt_errmsg());
		}
		t1 = now();
		printf(
		    "check_inode: then 100000 puts in %.3f s CPU\n", t1 - t0);
		for (i = 0; i < 100000; i++)
			g.keys[i][0] = 'd';
		t0 = now();
		inode_tree_free(t);
		printf("check_inode: freed in %.3f s CPU\n", now() - t0);
	}
	free(g.keys);
}
END_TEST

static Suite *
inode_suite(void)
{
	Suite *s = suite_create("inode");
	TCase *tc = tcase_create("index");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, build_and_lookup);
	tcase_add_test(tc, inode_numbers_are_stable_and_unique);
	tcase_add_test(tc, inode_numbers_survive_other_keys_changing);
	tcase_add_test(tc, moved_nodes_keep_their_numbers);
	tcase_add_test(tc, a_move_holds_reads_below_it_only);
	tcase_add_test(tc, readdir_offsets_survive_changes);
	tcase_add_test(tc, readdir_offsets_survive_compaction);
	tcase_add_test(tc, readdir_plus_counts_references);
	tcase_add_test(tc, directories_remember_how_they_were_used);
	tcase_add_test(tc, forget_frees_removed_nodes);
	tcase_add_test(tc, directories_stay_until_rmdir);
	tcase_add_test(tc, mkdir_marker_and_file_transitions);
	tcase_add_test(tc, clash_moves_file_into_directory);
	tcase_add_test(tc, rename_file);
	tcase_add_test(tc, rename_subtree_moves_every_key);
	tcase_add_test(tc, long_names_are_reachable);
	tcase_add_test(tc, pieces_are_made_by_mkdir);
	tcase_add_test(tc, readers_run_beside_a_writer);
	tcase_add_test(tc, build_one_million_keys);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(inode_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
