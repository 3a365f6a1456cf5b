/*
 * The directory index saved and read back (fs/index/inode-save.c), as the index
 * cache does: the tree read back lists, numbers and changes exactly as the
 * one that was saved; a tree the mount changed is not saved (files the
 * kernel holds are no change: saved as files); and bytes cut
 * short or damaged anywhere are refused or make a tree that holds together,
 * never a crash (this suite runs under ASan in CI).
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

/* Keys of every kind a listing holds: nested directories, a marker, a
 * file and a directory of one path, a key that comes twice, a segment
 * over 255 bytes (continuation pieces), a directory big enough for a
 * table, names with bytes that need escaping. */
static char **
keys_of_every_kind(size_t *n)
{
	char **k = calloc(200, sizeof *k);
	char longseg[600];
	size_t i = 0, j;

	ck_assert_ptr_nonnull(k);
	memset(longseg, 'L', sizeof longseg - 1);
	longseg[sizeof longseg - 1] = '\0';
	k[i++] = strdup("top");
	k[i++] = strdup("a/b/c");
	k[i++] = strdup("a/b/d");
	k[i++] = strdup("a/e/");
	k[i++] = strdup("x");
	k[i++] = strdup("x/y");
	k[i++] = strdup("a/b/c"); /* twice */
	k[i++] = strdup(" sp ace/.hidden");
	ck_assert_int_ge(asprintf(&k[i++], "long/%s/end", longseg), 0);
	for (j = 0; j < 40; j++)
		ck_assert_int_ge(asprintf(&k[i++], "big/f%02zu", j), 0);
	*n = i;
	return k;
}

struct keys {
	char **k;
	size_t i, n;
};

/* The offset of the block of key i of keys_of_every_kind() that the build
 * is given: none for some, as puts leave files, so that the bytes saved
 * hold entries with and without one. */
#define KEY_AT(i) ((i) % 3 == 0 ? 0 : (UINT64_C(1) << 47) + (i))

static int
keys_next(
    void *arg, const void **key, size_t *klen, uint64_t *vlen, uint64_t *at)
{
	struct keys *g = arg;
	size_t len;

	if (g->i == g->n)
		return 0;
	*at = KEY_AT(g->i);
	*key = g->k[g->i];
	len = strlen(g->k[g->i++]);
	*klen = len;
	*vlen = len > 0 && ((const char *)*key)[len - 1] == '/' ? 0 : 1;
	return 1;
}

static struct inode_tree *
build(int flat)
{
	struct path_conf pc;
	struct inode_tree *t;
	struct keys g = {0};
	size_t i;

	g.k = keys_of_every_kind(&g.n);
	ck_assert_int_eq(path_conf_init(&pc, BLT_SER_STR, flat, NULL), 0);
	ck_assert_int_eq(inode_tree_build(&pc, keys_next, &g, &t), 0);
	for (i = 0; i < g.n; i++)
		free(g.k[i]);
	free(g.k);
	return t;
}

/* inode_put_fn into a growing buffer. */
struct buf {
	unsigned char *p;
	size_t n, cap;
};

static int
buf_put(void *arg, const void *p, size_t n)
{
	struct buf *b = arg;

	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2;
		b->p = realloc(b->p, b->cap);
		ck_assert_ptr_nonnull(b->p);
	}
	if (n > 0)
		memcpy(b->p + b->n, p, n);
	b->n += n;
	return 0;
}

static int locked_calls;

static void
count_locked(void *arg)
{
	(void)arg;
	locked_calls++;
}

static struct buf
save(struct inode_tree *t)
{
	struct buf b = {0};

	locked_calls = 0;
	ck_assert_int_eq(
	    inode_tree_save(t, buf_put, &b, count_locked, NULL), 0);
	ck_assert_int_eq(locked_calls, 1);
	return b;
}

/* The whole tree as text: every entry of every listing, depth first,
 * with its readdir offset, inode number, type and links. */
struct dump {
	struct inode_tree *t;
	int strict; /* every name listed looks up */
	char *text;
	size_t len;
	FILE *f;
};

struct entries {
	char name[64][PATH_NAME_MAX + 1];
	struct inode_info info[64];
	off_t off[64];
	int n;
};

static int
take(void *arg, const char *name, size_t nlen, const struct inode_info *info,
    off_t off)
{
	struct entries *e = arg;

	if (e->n == 64)
		abort(); /* not ck_assert: under the tree's lock */
	memcpy(e->name[e->n], name, nlen);
	e->name[e->n][nlen] = '\0';
	e->info[e->n] = *info;
	e->off[e->n++] = off;
	return 0;
}

static void
dump_dir(struct dump *d, uint64_t dir, const char *path)
{
	struct entries *e = calloc(1, sizeof *e);
	struct inode_info in;
	char sub[4096];
	int i;

	ck_assert_ptr_nonnull(e);
	ck_assert_int_eq(inode_readdir(d->t, dir, 0, 0, take, e), 0);
	for (i = 0; i < e->n; i++) {
		if (strcmp(e->name[i], ".") == 0 ||
		    strcmp(e->name[i], "..") == 0)
			continue;
		if (inode_lookup(d->t, dir, e->name[i], strlen(e->name[i]),
		        INODE_PEEK, &in) != 0) {
			ck_assert_msg(!d->strict, "%s/%s does not look up",
			    path, e->name[i]);
			continue;
		}
		fprintf(d->f, "%s/%s off %lld ino %llu type %d nlink %u\n",
		    path, e->name[i], (long long)e->off[i],
		    (unsigned long long)in.ino, in.type, in.nlink);
		snprintf(sub, sizeof sub, "%s/%s", path, e->name[i]);
		if (in.type == INODE_DIR)
			dump_dir(d, in.nodeid, sub);
	}
	free(e);
}

static char *
dump_as(struct inode_tree *t, int strict)
{
	struct dump d = {.t = t, .strict = strict};

	d.f = open_memstream(&d.text, &d.len);
	ck_assert_ptr_nonnull(d.f);
	fprintf(d.f, "keys %llu\n", (unsigned long long)inode_count(t));
	dump_dir(&d, INODE_ROOT, "");
	fclose(d.f);
	return d.text;
}

static char *
dump(struct inode_tree *t)
{
	return dump_as(t, 1);
}

/* The same changes to a tree: puts, deletes, a rename, an rmdir. */
static void
change(struct inode_tree *t)
{
	struct inode_info in;

	ck_assert_int_eq(inode_put_key(t, "big/new", 7, 1, NULL, NULL), 0);
	ck_assert_int_eq(inode_put_key(t, "n/m/o", 5, 1, NULL, NULL), 0);
	ck_assert_int_eq(inode_del_key(t, "big/f07", 7, NULL), 0);
	ck_assert_int_eq(inode_del_key(t, "top", 3, NULL), 0);
	ck_assert_int_eq(il_lookup_path(t, "a", 0, &in), 0);
	ck_assert_int_eq(
	    inode_rename(t, in.nodeid, "b", 1, INODE_ROOT, "B", 1, 0, NULL), 0);
	ck_assert_int_eq(inode_del_key(t, "a/e/", 4, NULL), 0);
	ck_assert_int_eq(inode_rmdir(t, in.nodeid, "e", 1), 0);
}

/* The files big/f00 .. big/f39 of t and of u, its copy through a save,
 * have the offsets the build was given. */
static void
assert_offsets_kept(struct inode_tree *t, struct inode_tree *u)
{
	struct inode_info a, b;
	char path[16];

	for (size_t j = 0; j < 40; j++) {
		snprintf(path, sizeof path, "big/f%02zu", j);
		ck_assert_int_eq(il_lookup_path(t, path, 1, &a), 0);
		ck_assert_int_eq(il_lookup_path(u, path, 1, &b), 0);
		/* 9 keys come before big/f00 in keys_of_every_kind() */
		ck_assert_uint_eq(il_at(t, a.nodeid), KEY_AT(9 + j));
		ck_assert_uint_eq(il_at(u, b.nodeid), KEY_AT(9 + j));
		inode_forget(t, a.nodeid, 1);
		inode_forget(u, b.nodeid, 1);
	}
}

START_TEST(a_saved_index_reads_back_the_same)
{
	int flat = _i;
	struct inode_tree *t = build(flat), *u;
	struct path_conf pc;
	struct buf b = save(t);
	char *want, *got;

	ck_assert_int_eq(path_conf_init(&pc, BLT_SER_STR, flat, NULL), 0);
	ck_assert_int_eq(inode_tree_load(&pc, b.p, b.n, "test", &u), 0);
	want = dump(t);
	got = dump(u);
	ck_assert_str_eq(got, want);
	free(want);
	free(got);
	if (!flat) {
		assert_offsets_kept(t, u);
		/* and it changes as the one saved does */
		change(t);
		change(u);
		want = dump(t);
		got = dump(u);
		ck_assert_ptr_nonnull(strstr(want, "/B/c "));
		ck_assert_str_eq(got, want);
		free(want);
		free(got);
	}
	inode_tree_free(t);
	inode_tree_free(u);
	free(b.p);
}
END_TEST

START_TEST(a_changed_index_is_not_saved)
{
	struct inode_tree *t = build(0);
	struct buf b = {0};

	/* a listing that changed */
	ck_assert_int_eq(inode_put_key(t, "big/new", 7, 1, NULL, NULL), 0);
	ck_assert_int_eq(inode_tree_save(t, buf_put, &b, NULL, NULL), -EAGAIN);
	ck_assert_ptr_nonnull(strstr(blt_errmsg(), "changed since the mount"));
	inode_tree_free(t);

	/* a directory that lost a file, though none came in its place */
	t = build(0);
	ck_assert_int_eq(inode_del_key(t, "big/f07", 7, NULL), 0);
	ck_assert_int_eq(inode_put_key(t, "big/f07", 7, 1, NULL, NULL), 0);
	b.n = 0;
	ck_assert_int_eq(inode_tree_save(t, buf_put, &b, NULL, NULL), -EAGAIN);
	inode_tree_free(t);
	free(b.p);
}
END_TEST

/* Files the kernel holds (nodes, with and without the offset of their
 * block, as a lazy build leaves them) are saved as the files they are. */
START_TEST(files_with_nodes_are_saved_as_files)
{
	struct inode_tree *t = build(0), *u;
	struct inode_info c, top, f;
	struct path_conf pc;
	struct buf b;
	char *want, *got;

	want = dump(t);
	ck_assert_int_eq(il_lookup_path(t, "a/b/c", 1, &c), 0);
	ck_assert_int_eq(il_lookup_path(t, "top", 1, &top), 0);
	ck_assert_int_eq(il_lookup_path(t, "big/f03", 1, &f), 0);
	b = save(t);
	ck_assert_int_eq(path_conf_init(&pc, BLT_SER_STR, 0, NULL), 0);
	ck_assert_int_eq(inode_tree_load(&pc, b.p, b.n, "test", &u), 0);
	got = dump(u);
	ck_assert_str_eq(got, want);
	ck_assert_int_eq(il_lookup_path(u, "a/b/c", INODE_PEEK, &c), 0);
	ck_assert_uint_eq(c.nodeid, 0); /* a file without a node */
	assert_offsets_kept(t, u);
	free(want);
	free(got);
	free(b.p);
	inode_tree_free(t);
	inode_tree_free(u);
}
END_TEST

/* A tree that loaded from damaged bytes can be used: every listing
 * reads.  (A name may not look up: a table that lost it to a changed
 * entry is not looked for, which the cache's sum is there to catch.) */
static void
holds_together(struct inode_tree *u)
{
	free(dump_as(u, 0));
}

START_TEST(damaged_bytes_are_refused_or_hold_together)
{
	struct inode_tree *t = build(0), *u;
	struct path_conf pc;
	struct buf b = save(t);
	unsigned char *p = malloc(b.n);
	size_t i, refused = 0, loaded = 0;
	int rc;

	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(path_conf_init(&pc, BLT_SER_STR, 0, NULL), 0);
	/* every length short of the whole */
	for (i = 0; i < b.n; i++) {
		memcpy(p, b.p, i);
		ck_assert_int_eq(
		    inode_tree_load(&pc, p, i, "cut", &u), -EINVAL);
		ck_assert_ptr_null(u);
	}
	ck_assert_ptr_nonnull(strstr(blt_errmsg(), "cut: "));
	/* every byte changed, in three ways */
	for (i = 0; i < 3 * b.n; i++) {
		static const unsigned char how[] = {0xff, 0x01, 0x80};

		memcpy(p, b.p, b.n);
		p[i / 3] ^= how[i % 3];
		rc = inode_tree_load(&pc, p, b.n, "flip", &u);
		if (rc == 0) {
			holds_together(u);
			inode_tree_free(u);
			loaded++;
		} else {
			ck_assert_int_eq(rc, -EINVAL);
			refused++;
		}
	}
	printf("check_inode_save: %zu bytes; of their changes %zu refused, "
	       "%zu made another tree\n",
	    b.n, refused, loaded);
	ck_assert_uint_gt(refused, 0);
	free(p);
	free(b.p);
	inode_tree_free(t);
}
END_TEST

static Suite *
save_suite(void)
{
	Suite *s = suite_create("inode-save");
	TCase *tc = tcase_create("save");

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, a_saved_index_reads_back_the_same, 0, 2);
	tcase_add_test(tc, a_changed_index_is_not_saved);
	tcase_add_test(tc, files_with_nodes_are_saved_as_files);
	tcase_add_test(tc, damaged_bytes_are_refused_or_hold_together);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(save_suite());
}
