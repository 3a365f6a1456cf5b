/*
 * Directories in the directory index (fs/index/inode.c): readdir while the
 * directory changes, how a directory was used, rmdir rules, markers,
 * clashes that appear at run time, renames of files and subtrees, names
 * too long for one path segment, and names of one hash in a built listing.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "booklet.h"
#include "index.h"
#include "testutil.h"
#include "inode-lib.h"
#include "inode-tree.h" /* idir_hash(), to find names that collide */

#define ESC PATH_ESC

static int
listed(const struct il_listing *l, const char *name)
{
	int i, c = 0;

	for (i = 0; i < l->n; i++)
		c += strcmp(l->names[i], name) == 0;
	return c;
}

START_TEST(readdir_offsets_survive_changes)
{
	static const char *const keys[] = {
	    "d/a", "d/b", "d/c", "d/e", "d/f", NULL};
	struct inode_tree *t = il_tree(0, keys);
	struct il_listing l = {.max = 3};
	uint64_t d = il_node(t, "d");
	off_t off;

	/* ".", "..", "a" */
	ck_assert_int_eq(inode_readdir(t, d, 0, 0, il_take, &l), 0);
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
	ck_assert_int_eq(inode_readdir(t, d, off, 0, il_take, &l), 0);
	ck_assert_str_eq(l.names[3], "b");
	ck_assert_str_eq(l.names[4], "e");
	l.max = 100;
	ck_assert_int_eq(inode_readdir(t, d, l.offs[4], 0, il_take, &l), 0);
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
	ck_assert_int_eq(inode_readdir(t, d, off, 0, il_take, &l), 0);
	ck_assert_int_eq(l.n, 4);
	inode_tree_free(t);
}
END_TEST

START_TEST(readdir_offsets_survive_compaction)
{
	struct inode_tree *t = il_tree(0, NULL);
	struct il_listing l;
	char key[32];
	uint64_t d;
	off_t off;
	int i;

	for (i = 0; i < 1000; i++) {
		snprintf(key, sizeof key, "d/%04d", i);
		ck_assert_int_eq(
		    inode_put_key(t, key, strlen(key), 1, NULL, NULL), 0);
	}
	d = il_node(t, "d");
	memset(&l, 0, sizeof l);
	l.max = 3;
	ck_assert_int_eq(inode_readdir(t, d, 500 + 2, 0, il_take, &l), 0);
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
	ck_assert_int_eq(inode_readdir(t, d, off, 0, il_take, &l), 0);
	ck_assert_str_eq(l.names[0], "0510");
	inode_tree_free(t);
}
END_TEST

START_TEST(readdir_plus_counts_references)
{
	static const char *const keys[] = {"f1", "f2", NULL};
	struct inode_tree *t = il_tree(0, keys);
	struct il_listing l = {.max = 3};
	struct inode_info in;
	uint64_t f1 = il_node(t, "f1"), f2 = il_node(t, "f2");

	/* ".", "..", "f1" accepted; "f2" did not fit */
	ck_assert_int_eq(inode_readdir(t, INODE_ROOT, 0, 1, il_take, &l), 0);
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
	struct inode_tree *t = il_tree(0, keys);
	struct inode_info in;
	uint64_t d = il_node(t, "d"), g = il_node(t, "g");

	ck_assert_uint_eq(inode_dir_seen(t, d, INODE_SEEN_LISTED), 0);
	ck_assert_uint_eq(inode_dir_seen(t, d, 0), INODE_SEEN_LISTED);
	ck_assert_uint_eq(inode_dir_seen(t, g, INODE_SEEN_LISTED), 0);

	/* lookups of our own (no ref) do not count */
	ck_assert_int_eq(il_lookup_path(t, "d/f", 0, &in), 0);
	ck_assert_uint_eq(inode_dir_seen(t, d, 0), INODE_SEEN_LISTED);
	ck_assert_int_eq(il_lookup_path(t, "d/f", 1, &in), 0);
	ck_assert_uint_eq(
	    inode_dir_seen(t, d, 0), INODE_SEEN_LISTED | INODE_SEEN_LOOKUP);
	ck_assert_uint_eq(inode_dir_seen(t, g, 0), INODE_SEEN_LISTED);
	/* the root had d looked up with a ref on the way */
	ck_assert_uint_eq(inode_dir_seen(t, INODE_ROOT, 0), INODE_SEEN_LOOKUP);
	/* a file is taken as seen every way */
	ck_assert_uint_eq(inode_dir_seen(t, in.nodeid, 0), INODE_SEEN_ALL);
	/* a name missed is remembered apart (op_lookup()) */
	ck_assert_uint_eq(
	    inode_dir_seen(t, g, INODE_SEEN_MISSED), INODE_SEEN_LISTED);
	ck_assert_uint_eq(
	    inode_dir_seen(t, g, 0), INODE_SEEN_LISTED | INODE_SEEN_MISSED);
	ck_assert_uint_eq(inode_dir_seen(t, d, 0) & INODE_SEEN_MISSED, 0);
	inode_forget(t, d, 1);
	inode_forget(t, in.nodeid, 1);
	inode_tree_free(t);
}
END_TEST

START_TEST(directories_stay_until_rmdir)
{
	static const char *const keys[] = {"a/b", "m/", "m/x", NULL};
	struct inode_tree *t = il_tree(0, keys);
	struct inode_info in;

	ck_assert_uint_eq(inode_count(t), 3);
	ck_assert_int_eq(inode_del_key(t, "a/b", 3, NULL), 0);
	ck_assert_int_eq(il_lookup_path(t, "a", 0, &in), 0);
	ck_assert_uint_eq(in.nchildren, 0);
	ck_assert_int_eq(inode_rmdir(t, INODE_ROOT, "m", 1), -ENOTEMPTY);
	ck_assert_int_eq(inode_rmdir(t, il_node(t, "m"), "x", 1), -ENOTDIR);
	ck_assert_int_eq(inode_rmdir(t, INODE_ROOT, "zz", 2), -ENOENT);
	ck_assert_int_eq(inode_del_key(t, "m/x", 3, NULL), 0);
	ck_assert_int_eq(il_lookup_path(t, "m", 0, &in), 0);
	ck_assert(in.flags & INODE_MARKER);
	il_assert_key(t, "m", "m/");
	ck_assert_int_eq(inode_rmdir(t, INODE_ROOT, "m", 1), 0);
	ck_assert_uint_eq(inode_count(t), 0);
	ck_assert_int_eq(inode_rmdir(t, INODE_ROOT, "a", 1), 0);
	ck_assert_int_eq(il_lookup_path(t, "a", 0, &in), -ENOENT);
	ck_assert_int_eq(inode_del_key(t, "a/b", 3, NULL), -ENOENT);
	inode_tree_free(t);
}
END_TEST

START_TEST(mkdir_marker_and_file_transitions)
{
	struct inode_tree *t = il_tree(0, NULL);
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
	ck_assert_int_eq(il_lookup_path(t, "new", 0, &in), 0);
	ck_assert(!(in.flags & INODE_MARKER));
	il_assert_key(t, "new/" ESC, "new/");
	/* and back to empty: the marker again, the file gone */
	ck_assert_int_eq(inode_put_key(t, "new/", 4, 0, NULL, &st), 0);
	ck_assert(st.valid);
	ck_assert_str_eq(st.name, ESC);
	ck_assert_uint_eq(inode_count(t), 1);
	ck_assert_int_eq(il_lookup_path(t, "new/" ESC, 0, &in), -ENOENT);
	/* a flat mount has no directories */
	inode_tree_free(t);
	t = il_tree(1, NULL);
	ck_assert_int_eq(
	    inode_child_key(t, INODE_ROOT, "d", 1, INODE_DIR, &key, &klen),
	    -EPERM);
	inode_tree_free(t);
}
END_TEST

/* The keys of many_next(): c/f0000000, c/f0000001, ... */
#define MANY_FILES 300000

static int
many_next(
    void *arg, const void **key, size_t *klen, uint64_t *vlen, uint64_t *at)
{
	static char buf[16];
	uint32_t *i = arg;

	if (*i == MANY_FILES)
		return 0;
	snprintf(buf, sizeof buf, "c/f%07u", (unsigned)(*i)++);
	*key = buf;
	*klen = strlen(buf);
	*vlen = 1;
	*at = 0;
	return 1;
}

static int
by_hash(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* A build compares two names only when their hashes are equal: names of
 * one hash and different bytes must both be kept.  300,000 names give some
 * ten pairs of equal 32-bit hashes; each of them is looked up. */
START_TEST(names_of_one_hash_are_both_kept)
{
	struct path_conf pc;
	struct inode_tree *t;
	struct inode_info a, b;
	uint64_t *h = malloc(MANY_FILES * sizeof *h);
	char name[16], pa[24], pb[24];
	uint32_t i = 0, pairs = 0;

	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(path_conf_init(&pc, BLT_SER_STR, 0, NULL), 0);
	ck_assert_int_eq(inode_tree_build(&pc, many_next, &i, &t), 0);
	ck_assert_uint_eq(inode_count(t), MANY_FILES);
	/* hash << 32 | number, sorted: equal hashes side by side */
	for (i = 0; i < MANY_FILES; i++) {
		snprintf(name, sizeof name, "f%07u", (unsigned)i);
		h[i] = (uint64_t)idir_hash(name, strlen(name)) << 32 | i;
	}
	qsort(h, MANY_FILES, sizeof *h, by_hash);
	for (i = 1; i < MANY_FILES; i++) {
		if (h[i] >> 32 != h[i - 1] >> 32)
			continue;
		snprintf(pa, sizeof pa, "c/f%07u",
		    (unsigned)(h[i - 1] & 0xffffffffu));
		snprintf(
		    pb, sizeof pb, "c/f%07u", (unsigned)(h[i] & 0xffffffffu));
		ck_assert_int_eq(il_lookup_path(t, pa, 0, &a), 0);
		ck_assert_int_eq(il_lookup_path(t, pb, 0, &b), 0);
		ck_assert_uint_ne(a.nodeid, b.nodeid);
		il_assert_key(t, pa, pa);
		il_assert_key(t, pb, pb);
		pairs++;
	}
	ck_assert_uint_gt(pairs, 0);
	free(h);
	inode_tree_free(t);
}
END_TEST

START_TEST(clash_moves_file_into_directory)
{
	static const char *const keys[] = {"dir", NULL};
	struct inode_tree *t = il_tree(0, keys);
	struct inode_info in, f;
	struct inode_stale st;
	unsigned char *key;
	size_t klen;

	ck_assert_int_eq(il_lookup_path(t, "dir", 1, &f), 0);
	ck_assert_int_eq(f.type, INODE_FILE);
	/* a job adds dir/file: the file "dir" moves to dir/U+201B. */
	ck_assert_int_eq(inode_put_key(t, "dir/file", 8, 1, NULL, &st), 0);
	ck_assert(st.valid);
	ck_assert_uint_eq(st.parent, INODE_ROOT);
	ck_assert_str_eq(st.name, "dir");
	ck_assert_uint_eq(st.nodeid, f.nodeid);
	ck_assert_int_eq(il_lookup_path(t, "dir", 0, &in), 0);
	ck_assert_int_eq(in.type, INODE_DIR);
	ck_assert_int_eq(il_lookup_path(t, "dir/" ESC ".", 0, &in), 0);
	ck_assert_uint_eq(in.nodeid, f.nodeid); /* same node, new place */
	ck_assert(in.flags & INODE_SELF);
	il_assert_key(t, "dir/" ESC ".", "dir");
	ck_assert_uint_eq(inode_count(t), 2);
	/* rmdir refuses while the file is inside */
	ck_assert_int_eq(inode_del_key(t, "dir/file", 8, NULL), 0);
	ck_assert_int_eq(inode_rmdir(t, INODE_ROOT, "dir", 3), -ENOTEMPTY);
	/* the self name can be created inside a directory only */
	ck_assert_int_eq(inode_child_key(t, il_node(t, "dir"), ESC ".", 4,
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
	struct inode_tree *t = il_tree(0, keys);
	struct inode_info f, in;
	struct inode_stale st;

	ck_assert_int_eq(il_lookup_path(t, "a/f", 0, &f), 0);
	ck_assert_int_eq(inode_rename(t, il_node(t, "a"), "f", 1,
	                     il_node(t, "b"), "h", 1, 0, NULL),
	    0);
	ck_assert_int_eq(il_lookup_path(t, "b/h", 0, &in), 0);
	ck_assert_uint_eq(in.nodeid, f.nodeid);
	ck_assert_uint_eq(in.ino, f.ino);
	il_assert_key(t, "b/h", "b/h");
	ck_assert_int_eq(il_lookup_path(t, "a/f", 0, &in), -ENOENT);
	/* replacing a file, unless RENAME_NOREPLACE */
	ck_assert_int_eq(inode_rename(t, il_node(t, "b"), "h", 1,
	                     il_node(t, "b"), "g", 1, 1, NULL),
	    -EEXIST);
	ck_assert_int_eq(inode_rename(t, il_node(t, "b"), "h", 1,
	                     il_node(t, "b"), "g", 1, 0, &st),
	    0);
	ck_assert(st.valid);
	ck_assert_str_eq(st.name, "g");
	ck_assert_uint_eq(inode_count(t), 2); /* b/ and b/g */
	/* a file over a directory, and names no key is listed as */
	ck_assert_int_eq(inode_rename(t, il_node(t, "b"), "g", 1, INODE_ROOT,
	                     "a", 1, 0, NULL),
	    -EISDIR);
	ck_assert_int_eq(inode_rename(t, il_node(t, "b"), "g", 1, INODE_ROOT,
	                     ESC "41", 5, 0, NULL),
	    -EINVAL);
	/* the message says what the name stands for, and how to write it
	 * to mean the characters as typed */
	ck_assert_msg(strstr(blt_errmsg(), "listed as 'A'; to name these "
	                                   "characters as typed, write '" ESC
	                                   "E2" ESC "80" ESC "9B41'") != NULL,
	    "%s", blt_errmsg());
	ck_assert_int_eq(inode_rename(t, il_node(t, "b"), "g", 1, INODE_ROOT,
	                     ".bltfs", 6, 0, NULL),
	    -EEXIST);
	/* into a directory as its own key */
	ck_assert_int_eq(inode_rename(t, il_node(t, "b"), "g", 1,
	                     il_node(t, "a"), ESC ".", 4, 0, NULL),
	    0);
	il_assert_key(t, "a/" ESC ".", "a");
	ck_assert_int_eq(inode_rename(t, il_node(t, "a"), ESC ".", 4,
	                     INODE_ROOT, "z", 1, 0, NULL),
	    0);
	il_assert_key(t, "z", "z");
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
	t = il_tree(0, keys);
	ck_assert_int_eq(inode_walk_keys(t, il_node(t, "src"), gather, &ks), 0);
	ck_assert_int_eq(ks.n, 5);
	ck_assert(has(&ks, "src/") && has(&ks, "src") && has(&ks, "src/a") &&
	          has(&ks, "src/s/b") && has(&ks, "src/s/t/"));
	ck_assert_int_eq(il_lookup_path(t, "src/s/b", 0, &b), 0);
	/* a directory cannot move into itself, nor over a non-empty one */
	ck_assert_int_eq(inode_rename(t, INODE_ROOT, "src", 3,
	                     il_node(t, "src/s"), "x", 1, 0, NULL),
	    -EINVAL);
	ck_assert_int_eq(inode_rename(t, INODE_ROOT, "src", 3, INODE_ROOT,
	                     "other", 5, 0, NULL),
	    -ENOTDIR);
	ck_assert_int_eq(inode_rename(t, INODE_ROOT, "src", 3, INODE_ROOT,
	                     "dst", 3, 0, NULL),
	    0);
	memset(&ks, 0, sizeof ks);
	ck_assert_int_eq(inode_walk_keys(t, il_node(t, "dst"), gather, &ks), 0);
	ck_assert_int_eq(ks.n, 5);
	ck_assert(has(&ks, "dst/") && has(&ks, "dst") && has(&ks, "dst/a") &&
	          has(&ks, "dst/s/b") && has(&ks, "dst/s/t/"));
	ck_assert_int_eq(il_lookup_path(t, "dst/s/b", 0, &in), 0);
	ck_assert_uint_eq(in.nodeid, b.nodeid);
	il_assert_key(t, "dst/s/b", "dst/s/b");
	il_assert_key(t, "dst/s/t", "dst/s/t/");
	ck_assert_int_eq(il_lookup_path(t, "src", 0, &in), -ENOENT);
	ck_assert_uint_eq(inode_count(t), 6);
	/* over an empty directory */
	ck_assert_int_eq(inode_put_key(t, "e/", 2, 0, NULL, NULL), 0);
	ck_assert_int_eq(
	    inode_rename(t, INODE_ROOT, "dst", 3, INODE_ROOT, "e", 1, 0, NULL),
	    0);
	ck_assert_uint_eq(inode_count(t), 6);
	il_assert_key(t, "e/a", "e/a");
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
	struct inode_tree *t = il_tree(0, NULL);
	unsigned char key[700];
	struct inode_info in;
	struct il_listing l = {.max = 10};
	unsigned char *k;
	int n = 0;
	size_t klen;

	memset(key, 'x', sizeof key);
	memcpy(key + 300, "/f", 2);
	ck_assert_int_eq(inode_put_key(t, key, 302, 1, &in, NULL), 0);
	ck_assert_int_eq(inode_readdir(t, INODE_ROOT, 0, 0, il_take, &l), 0);
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
	struct inode_tree *t = il_tree(0, NULL);
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

static Suite *
inode_dir_suite(void)
{
	Suite *s = suite_create("inode_dir");
	TCase *tc = tcase_create("index");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, readdir_offsets_survive_changes);
	tcase_add_test(tc, readdir_offsets_survive_compaction);
	tcase_add_test(tc, readdir_plus_counts_references);
	tcase_add_test(tc, directories_remember_how_they_were_used);
	tcase_add_test(tc, directories_stay_until_rmdir);
	tcase_add_test(tc, mkdir_marker_and_file_transitions);
	tcase_add_test(tc, clash_moves_file_into_directory);
	tcase_add_test(tc, rename_file);
	tcase_add_test(tc, rename_subtree_moves_every_key);
	tcase_add_test(tc, long_names_are_reachable);
	tcase_add_test(tc, pieces_are_made_by_mkdir);
	tcase_add_test(tc, names_of_one_hash_are_both_kept);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(inode_dir_suite());
}
