/*
 * The directory index (fs/index/inode.c): building, lookup, inode numbers
 * (stable across changes, moves and mounts, never two alike), lookup references
 * and forget, a move holding reads below it, readers running beside a writer,
 * and a build of 1,000,000 keys that reports its time (measured, never
 * asserted).  Listings, rmdir, markers, clashes, renames and long names are
 * in check_inode_dir.c.
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

#include "booklet.h"
#include "index.h"
#include "testutil.h"
#include "inode-lib.h"

/* The offset a build is given for the block of key i: six bytes, all
 * used. */
#define FILE_AT(i) ((UINT64_C(0xfedcba98) << 16) + 64 * (uint64_t)(i))

START_TEST(build_and_lookup)
{
	static const char *const keys[] = {
	    "a/b/c.txt", "a/b/e.md", "a/d", "top", "deep/x/y/z", NULL};
	struct inode_tree *t = il_tree(0, keys);
	struct inode_info in, in2;

	ck_assert_uint_eq(inode_count(t), 5);
	ck_assert_int_eq(il_lookup_path(t, "a/b/c.txt", 0, &in), 0);
	ck_assert_int_eq(in.type, INODE_FILE);
	ck_assert_uint_eq(in.nlink, 1);
	ck_assert_int_eq(il_lookup_path(t, "a", 0, &in), 0);
	ck_assert_int_eq(in.type, INODE_DIR);
	ck_assert_uint_eq(in.nlink, 3); /* a/b */
	ck_assert_uint_eq(in.nchildren, 2);
	ck_assert_uint_eq(in.parent, INODE_ROOT);
	ck_assert_int_eq(inode_stat(t, INODE_ROOT, &in2), 0);
	ck_assert_uint_eq(in2.ino, 1);
	ck_assert_uint_eq(in2.nlink, 4);
	ck_assert_int_eq(il_lookup_path(t, "a/nope", 0, &in), -ENOENT);
	ck_assert_int_eq(il_lookup_path(t, "top/x", 0, &in), -ENOTDIR);
	il_assert_key(t, "deep/x/y/z", "deep/x/y/z");
	il_assert_key(t, "deep/x", "deep/x/");
	/* the same key again changes nothing */
	ck_assert_int_eq(inode_put_key(t, "a/d", 3, 9, &in, NULL), 0);
	ck_assert_uint_eq(in.nodeid, 0); /* a file has no node until asked */
	ck_assert_int_eq(il_lookup_path(t, "a/d", INODE_PEEK, &in2), 0);
	ck_assert_uint_eq(in2.nodeid, 0);
	ck_assert_uint_eq(in2.ino, in.ino);
	in2.nodeid = il_node(t, "a/d"); /* made now, and kept */
	ck_assert_uint_ne(in2.nodeid, 0);
	ck_assert_int_eq(inode_put_key(t, "a/d", 3, 9, &in, NULL), 0);
	ck_assert_uint_eq(in.nodeid, in2.nodeid);
	ck_assert_uint_eq(inode_count(t), 5);
	inode_tree_free(t);
}
END_TEST

START_TEST(inode_numbers_are_stable_and_unique)
{
	static const char *const keys[] = {"x/1", "x/2", "y", NULL};
	struct inode_tree *t = il_tree(0, keys);
	struct inode_info a, b, c;

	ck_assert_int_eq(il_lookup_path(t, "x/1", 0, &a), 0);
	ck_assert_int_eq(il_lookup_path(t, "x/2", 0, &b), 0);
	ck_assert_int_eq(il_lookup_path(t, "y", 0, &c), 0);
	ck_assert_uint_ne(a.ino, b.ino);
	ck_assert_uint_ne(a.ino, c.ino);
	ck_assert_uint_gt(a.ino, 1);
	ck_assert_int_eq(inode_put_key(t, "x/3", 3, 1, NULL, NULL), 0);
	ck_assert_int_eq(inode_del_key(t, "x/2", 3, NULL), 0);
	ck_assert_int_eq(il_lookup_path(t, "x/1", 0, &b), 0);
	ck_assert_uint_eq(a.ino, b.ino);
	ck_assert_uint_eq(a.nodeid, b.nodeid);
	inode_tree_free(t);
}
END_TEST

/* inode_tree_build() of a NULL-ended list, as a mount builds its tree. */
static int
list_next(
    void *arg, const void **key, size_t *klen, uint64_t *vlen, uint64_t *at)
{
	const char *const **k = arg;
	size_t len;

	if (**k == NULL)
		return 0;
	len = strlen(**k);
	*key = **k;
	*klen = len;
	*vlen = len > 0 && (**k)[len - 1] == '/' ? 0 : 1;
	*at = 0; /* as a scan that gives no offsets */
	(*k)++;
	return 1;
}

static struct inode_tree *
built(const char *const *keys)
{
	struct path_conf pc;
	struct inode_tree *t;

	ck_assert_int_eq(path_conf_init(&pc, BLT_SER_STR, 0, NULL), 0);
	ck_assert_int_eq(inode_tree_build(&pc, list_next, &keys, &t), 0);
	return t;
}

static uint64_t
ino_of(struct inode_tree *t, const char *path)
{
	struct inode_info in;

	ck_assert_msg(
	    il_lookup_path(t, path, 0, &in) == 0, "%s: missing", path);
	return in.ino;
}

/* The numbers of these names in every version of bltfs: backups (tar
 * --listed-incremental) know directories by them, and fs/index/ino.c's hash is
 * fixed for good.  Names of 1 to 19 bytes: each way its last word is read. */
START_TEST(inode_numbers_are_fixed_for_good)
{
	static const char *const keys[] = {"a", "abcdefg", "abcdefgh",
	    "abcdefghi", "000000123", "d042", "reports-2026-q1.txt", NULL};
	static const uint64_t inos[] = {UINT64_C(4838925103530228112),
	    UINT64_C(49382522712493869), UINT64_C(4637699380261959450),
	    UINT64_C(5413123096581661999), UINT64_C(1382432671687925759),
	    UINT64_C(819925592501467310), UINT64_C(6185574669942159342)};
	struct inode_tree *t = built(keys);
	char buf[300];
	uint64_t sum = 0;
	size_t i;

	for (i = 0; keys[i] != NULL; i++)
		ck_assert_msg(ino_of(t, keys[i]) == inos[i],
		    "%s: number %llu, was %llu", keys[i],
		    (unsigned long long)ino_of(t, keys[i]),
		    (unsigned long long)inos[i]);
	inode_tree_free(t);
	for (i = 0; i < sizeof buf; i++)
		buf[i] = (char)(i * 37 + 11);
	for (i = 0; i <= sizeof buf; i++)
		sum = sum * 31 + ino_hash_name(i, buf, i);
	ck_assert_uint_eq(sum, UINT64_C(0x997261209b7c32ff));
}
END_TEST

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
	struct inode_tree *t3 = il_tree(0, before);

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
	struct inode_tree *t = il_tree(0, keys);
	uint64_t f = ino_of(t, "d/f"), d = ino_of(t, "d");
	uint64_t held[64], heldnode[64];
	struct inode_info in;
	int nheld = 0, step;

	/* a renamed file keeps its number; a new one where it was does not
	 * take it */
	ck_assert_int_eq(inode_rename(t, il_node(t, "d"), "f", 1, INODE_ROOT,
	                     "x", 1, 0, NULL),
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
	ck_assert_int_eq(il_lookup_path(t, "e", 1, &in), 0);
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
		         il_lookup_path(t, names[rand() % 3], 0, &in) == 0) {
			uint64_t from = in.nodeid;

			if (il_lookup_path(t, names[rand() % 3], 0, &in) == 0)
				inode_rename(
				    t, from, n1, 1, in.nodeid, n2, 1, 0, NULL);
		} else if (op == 3)
			inode_rename(
			    t, INODE_ROOT, n1, 1, INODE_ROOT, n2, 1, 0, NULL);
		else if (op == 4 && nheld < 64 &&
		         il_lookup_path(t, a, 1, &in) == 0) {
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
	uint64_t at;
	int rc;

	if ((rc = inode_key_version(
	         t, il_node(t, path), &key, &klen, ver, &at)) == 0) {
		ck_assert_msg(
		    klen == strlen(path) && memcmp(key, path, klen) == 0,
		    "%s: key '%.*s'", path, (int)klen, key);
		ck_assert_uint_eq(at, 0); /* no scan gave an offset */
		free(key);
	}
	return rc;
}

START_TEST(a_move_holds_reads_below_it_only)
{
	static const char *const keys[] = {"a/x", "a/b/y", "c/z", NULL};
	struct inode_tree *t = il_tree(0, keys);
	struct inode_info a;
	uint64_t vx, vz, v;

	ck_assert_int_eq(key_version(t, "a/x", &vx), 0);
	ck_assert_int_eq(il_lookup_path(t, "a", 1, &a), 0);
	inode_move_mark(t, a.nodeid); /* an unlink or rename of a begins */
	ck_assert_int_eq(key_version(t, "a/x", &v), -EAGAIN);
	ck_assert_int_eq(key_version(t, "a/b/y", &v), -EAGAIN);
	ck_assert_int_eq(key_version(t, "c/z", &vz), 0);
	ck_assert(!inode_key_still(t, il_node(t, "a/x"), vx));
	inode_move_mark(t, a.nodeid); /* and ends */
	ck_assert_int_eq(key_version(t, "a/x", &v), 0);
	/* a read by key that a whole move overlapped is done again */
	ck_assert(!inode_key_still(t, il_node(t, "a/x"), vx));
	ck_assert(inode_key_still(t, il_node(t, "a/x"), v));
	ck_assert(inode_key_still(t, il_node(t, "c/z"), vz));
	inode_forget(t, a.nodeid, 1);
	inode_tree_free(t);
}
END_TEST

START_TEST(forget_frees_removed_nodes)
{
	static const char *const keys[] = {"a/b", "c", NULL};
	struct inode_tree *t = il_tree(0, keys);
	struct inode_info in;
	unsigned char *key;
	size_t klen;

	ck_assert_int_eq(il_lookup_path(t, "a/b", 1, &in), 0);
	ck_assert_int_eq(il_lookup_path(t, "a/b", 1, &in), 0);
	ck_assert_int_eq(inode_del_key(t, "a/b", 3, NULL), 0);
	ck_assert_int_eq(inode_stat(t, in.nodeid, &in), -ESTALE);
	ck_assert_int_eq(inode_key(t, in.nodeid, &key, &klen), -ESTALE);
	inode_forget(t, in.nodeid, 1);
	ck_assert_int_eq(inode_stat(t, in.nodeid, &in), -ESTALE);
	inode_forget(t, in.nodeid, 1); /* freed now; ASan/valgrind watch */
	/* a directory still in the tree is not freed by forget */
	ck_assert_int_eq(il_lookup_path(t, "a", 1, &in), 0);
	inode_forget(t, in.nodeid, 1);
	ck_assert_int_eq(inode_stat(t, in.nodeid, &in), 0);
	/* a file is freed, but stays as an entry of its directory */
	ck_assert_int_eq(il_lookup_path(t, "c", 1, &in), 0);
	inode_forget(t, in.nodeid, 1);
	ck_assert_int_eq(il_lookup_path(t, "c", INODE_PEEK, &in), 0);
	ck_assert_uint_eq(in.nodeid, 0);
	/* a gone node still held at the end is freed with the tree */
	ck_assert_int_eq(il_lookup_path(t, "c", 1, &in), 0);
	ck_assert_int_eq(inode_del_key(t, "c", 1, NULL), 0);
	inode_forget(t, INODE_ROOT, 5); /* the root is never forgotten */
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
	struct il_listing l;
	unsigned char *key;
	size_t klen;
	long n = 0;

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE) || n < 1000) {
		if (inode_lookup(r->t, INODE_ROOT, "d", 1, 0, &in) == 0) {
			memset(&l, 0, sizeof l);
			l.max = 60;
			/* no ck_assert here: each one writes to a file */
			if (inode_readdir(r->t, in.nodeid, 0, 0, il_take, &l) !=
			    0)
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
	struct race r = {il_tree(0, NULL), 0};
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
gen_next(
    void *arg, const void **key, size_t *klen, uint64_t *vlen, uint64_t *at)
{
	struct gen *g = arg;

	if (g->i == g->n)
		return 0;
	*at = FILE_AT(g->i);
	*key = g->keys[g->i];
	*klen = strlen(g->keys[g->i++]);
	*vlen = 1;
	return 1;
}

/* Every entry of a listing, with what readdir said of it. */
struct seen {
	char name[300][32];
	uint64_t nodeid[300], ino[300];
	off_t off[300];
	int n, max;
};

static int
seen_take(void *arg, const char *name, size_t nlen,
    const struct inode_info *info, off_t off)
{
	struct seen *s = arg;

	if (name[0] == '.' || s->n == s->max)
		return s->n == s->max;
	if (s->n == 300 || nlen >= 32)
		abort();
	memcpy(s->name[s->n], name, nlen + 1);
	s->nodeid[s->n] = info->nodeid;
	s->ino[s->n] = info->ino;
	s->off[s->n++] = off;
	return 0;
}

static int
seen_find(const struct seen *s, const char *name)
{
	for (int i = 0; i < s->n; i++)
		if (strcmp(s->name[i], name) == 0)
			return i;
	return -1;
}

/* Keys d/f000 ... d/f199 for a bulk build, each with the offset a scan
 * would give for its block. */
static int
files_next(
    void *arg, const void **key, size_t *klen, uint64_t *vlen, uint64_t *at)
{
	static char buf[16];
	int *i = arg;

	if (*i == 200)
		return 0;
	*at = FILE_AT(*i);
	snprintf(buf, sizeof buf, "d/f%03d", (*i)++);
	*key = buf;
	*klen = strlen(buf);
	*vlen = 1;
	return 1;
}

static struct inode_tree *
files_tree(void)
{
	struct path_conf pc;
	struct inode_tree *t;
	int i = 0;

	ck_assert_int_eq(path_conf_init(&pc, 2, 0, NULL), 0);
	ck_assert_int_eq(inode_tree_build(&pc, files_next, &i, &t), 0);
	return t;
}

/* A file is an entry of its directory, without a node, until something
 * asks for its node; a node the kernel forgets goes back to being one,
 * unless it holds something of its own (issue 39). */
START_TEST(files_are_nodes_only_while_asked_for)
{
	struct inode_tree *t = files_tree();
	struct inode_info d, in, peek;
	struct seen s = {.max = 300};
	uint64_t node;
	int i;

	ck_assert_uint_eq(inode_count(t), 200);
	ck_assert_int_eq(il_lookup_path(t, "d", 1, &d), 0);
	ck_assert_uint_eq(d.nchildren, 200);
	ck_assert_int_eq(inode_readdir(t, d.nodeid, 0, 0, seen_take, &s), 0);
	ck_assert_int_eq(s.n, 200);
	for (i = 0; i < s.n; i++) {
		ck_assert_uint_eq(s.nodeid[i], 0);
		ck_assert_int_eq(inode_lookup(t, d.nodeid, s.name[i],
		                     strlen(s.name[i]), INODE_PEEK, &peek),
		    0);
		ck_assert_uint_eq(peek.nodeid, 0);
		ck_assert_uint_eq(peek.ino, s.ino[i]);
	}
	/* a lookup with a reference makes a node, with the same number */
	ck_assert_int_eq(inode_lookup(t, d.nodeid, "f005", 4, 1, &in), 0);
	ck_assert_uint_ne(in.nodeid, 0);
	ck_assert_uint_eq(in.ino, s.ino[seen_find(&s, "f005")]);
	{
		unsigned char *key;
		size_t klen;

		ck_assert_int_eq(inode_key(t, in.nodeid, &key, &klen), 0);
		ck_assert(klen == 6 && memcmp(key, "d/f005", 6) == 0);
		free(key);
	}
	s.n = 0;
	ck_assert_int_eq(inode_readdir(t, d.nodeid, 0, 0, seen_take, &s), 0);
	ck_assert_uint_eq(s.nodeid[seen_find(&s, "f005")], in.nodeid);
	/* forgotten: an entry again, then a new node with the same number */
	node = in.nodeid;
	inode_forget(t, node, 1);
	s.n = 0;
	ck_assert_int_eq(inode_readdir(t, d.nodeid, 0, 0, seen_take, &s), 0);
	ck_assert_uint_eq(s.nodeid[seen_find(&s, "f005")], 0);
	ck_assert_int_eq(inode_lookup(t, d.nodeid, "f005", 4, 1, &in), 0);
	ck_assert_uint_eq(in.ino, s.ino[seen_find(&s, "f005")]);
	/* a mode of its own keeps it */
	inode_set_mode(t, in.nodeid, 0600);
	node = in.nodeid;
	inode_forget(t, node, 1);
	ck_assert_int_eq(inode_stat(t, node, &in), 0);
	ck_assert_uint_eq(in.mode & 07777, 0600);
	/* a lookup without a reference keeps its node: the caller holds
	 * the nodeid without one */
	ck_assert_int_eq(inode_lookup(t, d.nodeid, "f006", 4, 0, &in), 0);
	ck_assert_int_eq(inode_lookup(t, d.nodeid, "f006", 4, 1, &peek), 0);
	ck_assert_uint_eq(peek.nodeid, in.nodeid);
	inode_forget(t, peek.nodeid, 1);
	ck_assert_int_eq(inode_stat(t, in.nodeid, &peek), 0);
	il_assert_key(t, "d/f006", "d/f006");
	/* readdirplus hands out nodes, each with a reference */
	s.n = 0;
	ck_assert_int_eq(inode_readdir(t, d.nodeid, 0, 1, seen_take, &s), 0);
	ck_assert_int_eq(s.n, 200);
	for (i = 0; i < s.n; i++) {
		ck_assert_uint_ne(s.nodeid[i], 0);
		inode_forget(t, s.nodeid[i], 1);
	}
	inode_tree_free(t);
}
END_TEST

/* Each file of a build keeps the offset of its key's block that the scan
 * gave, for its first stat (blt_find_at()): through readdirplus, lookups
 * and the squeezing of its listing.  A file whose value changed since, or
 * that a put made, has none. */
START_TEST(files_keep_the_offsets_of_their_blocks)
{
	struct inode_tree *t = files_tree();
	struct seen s = {.max = 300};
	struct inode_info d, in;
	char key[16];
	int i;

	ck_assert_int_eq(il_lookup_path(t, "d", 1, &d), 0);
	ck_assert_int_eq(inode_readdir(t, d.nodeid, 0, 1, seen_take, &s), 0);
	ck_assert_int_eq(s.n, 200);
	for (i = 0; i < s.n; i++) {
		ck_assert_uint_eq(
		    il_at(t, s.nodeid[i]), FILE_AT(atoi(s.name[i] + 1)));
		inode_forget(t, s.nodeid[i], 1);
	}
	for (i = 0; i < 200; i++) {
		snprintf(key, sizeof key, "d/f%03d", i);
		if (i % 9 != 0)
			ck_assert_int_eq(
			    inode_del_key(t, key, strlen(key), NULL), 0);
	}
	for (i = 0; i < 200; i += 9) {
		snprintf(key, sizeof key, "d/f%03d", i);
		ck_assert_int_eq(il_lookup_path(t, key, 1, &in), 0);
		ck_assert_uint_eq(il_at(t, in.nodeid), FILE_AT(i));
		inode_forget(t, in.nodeid, 1);
	}
	/* a commit stored a new value; a job's put did.  The entry a
	 * forgotten node goes back to forgets the old offset too. */
	ck_assert_int_eq(il_lookup_path(t, "d/f009", 1, &in), 0);
	inode_set_attr(t, in.nodeid, 5, BLT_NO_TS);
	ck_assert_uint_eq(il_at(t, in.nodeid), 0);
	inode_forget(t, in.nodeid, 1);
	ck_assert_int_eq(il_lookup_path(t, "d/f009", INODE_PEEK, &in), 0);
	ck_assert_uint_eq(in.nodeid, 0); /* an entry again */
	ck_assert_int_eq(il_lookup_path(t, "d/f009", 1, &in), 0);
	ck_assert_uint_eq(il_at(t, in.nodeid), 0);
	inode_forget(t, in.nodeid, 1);
	ck_assert_int_eq(il_lookup_path(t, "d/f018", 1, &in), 0);
	ck_assert_int_eq(inode_put_key(t, "d/f018", 6, 3, NULL, NULL), 0);
	ck_assert_uint_eq(il_at(t, in.nodeid), 0);
	inode_forget(t, in.nodeid, 1);
	ck_assert_int_eq(inode_put_key(t, "d/new", 5, 1, NULL, NULL), 0);
	ck_assert_int_eq(il_lookup_path(t, "d/new", 1, &in), 0);
	ck_assert_uint_eq(il_at(t, in.nodeid), 0);
	inode_forget(t, in.nodeid, 1);
	inode_tree_free(t);
}
END_TEST

/* A lazy build (-o lazy, inode_tree_fill()): the keys come in two batches,
 * and between them, with the tree's lock let go as INODE_NEXT_LATER asks,
 * the test looks names up as the mount does. */
struct lazy_feed {
	const char *const *keys; /* NULL-ended; "" ends the first batch */
	int i, later;
	struct inode_tree *t;
	uint64_t d_c, k_file, d_b; /* nodes made between the batches */
};

/* Between the batches: only nodes are found, files through the store. */
static void
lazy_between(struct lazy_feed *f)
{
	struct inode_tree *t = f->t;
	struct inode_info d, in;

	ck_assert_int_eq(il_lookup_path(t, "d", 1, &d), 0);
	ck_assert_int_eq(d.type, INODE_DIR);
	ck_assert_uint_eq(d.nlink, 1); /* not counted yet */
	/* scanned already, but files are no index of names yet */
	ck_assert_int_eq(inode_lookup(t, d.nodeid, "b", 1, 1, &in), -EAGAIN);
	ck_assert_int_eq(inode_lookup_unscanned(t, d.nodeid, "b", 1, &in), 0);
	ck_assert_int_eq(in.type, INODE_FILE);
	f->d_b = in.nodeid;
	/* not scanned yet; found again by its node */
	ck_assert_int_eq(inode_lookup_unscanned(t, d.nodeid, "c", 1, &in), 0);
	f->d_c = in.nodeid;
	ck_assert_int_eq(inode_lookup(t, d.nodeid, "c", 1, 1, &in), 0);
	ck_assert_uint_eq(in.nodeid, f->d_c);
	inode_forget(t, f->d_c, 1);
	/* a key that the next batch makes a directory too */
	ck_assert_int_eq(inode_lookup_unscanned(t, INODE_ROOT, "k", 1, &in), 0);
	f->k_file = in.nodeid;
	ck_assert_int_eq(il_lookup_path(t, "late", 1, &in), -EAGAIN);
	/* the kernel forgets one: it goes back to being an entry */
	inode_forget(t, f->d_b, 1);
	ck_assert_int_eq(inode_lookup(t, d.nodeid, "b", 1, 1, &in), -EAGAIN);
	inode_forget(t, d.nodeid, 1);
}

static int
lazy_next(
    void *arg, const void **key, size_t *klen, uint64_t *vlen, uint64_t *at)
{
	struct lazy_feed *f = arg;
	const char *k = f->keys[f->i];

	if (k != NULL && *k == '\0') {
		if (!f->later) {
			f->later = 1;
			return INODE_NEXT_LATER;
		}
		lazy_between(f); /* the lock is let go */
		k = f->keys[++f->i];
	}
	if (k == NULL)
		return 0;
	*key = k;
	*klen = strlen(k);
	*vlen = 1;
	*at = FILE_AT(f->i++);
	return 1;
}

START_TEST(a_lazy_build_answers_lookups_as_it_goes)
{
	static const char *const keys[] = {
	    "d/a", "d/b", "x", "", "d/c", "k", "k/z", "late/y", NULL};
	struct lazy_feed f = {.keys = keys};
	struct seen s = {.max = 300};
	struct path_conf pc;
	struct inode_info in, d, self;

	ck_assert_int_eq(path_conf_init(&pc, BLT_SER_STR, 0, NULL), 0);
	ck_assert_int_eq(inode_tree_begin(&pc, &f.t), 0);
	ck_assert_int_eq(inode_tree_fill(f.t, lazy_next, &f), 0);
	ck_assert_int_eq(f.later, 1);
	/* built: a lookup by key has nothing to add */
	ck_assert_int_eq(
	    inode_lookup_unscanned(f.t, INODE_ROOT, "x", 1, &in), -EAGAIN);
	ck_assert_uint_eq(inode_count(f.t), 7);
	/* each file of d once, c by the node its lookup made, with the
	 * offset of the block the scan gave */
	ck_assert_int_eq(il_lookup_path(f.t, "d", 1, &d), 0);
	ck_assert_uint_eq(d.nlink, 2);
	ck_assert_int_eq(inode_readdir(f.t, d.nodeid, 0, 0, seen_take, &s), 0);
	ck_assert_int_eq(s.n, 3);
	ck_assert_int_ge(seen_find(&s, "a"), 0);
	ck_assert_int_ge(seen_find(&s, "b"), 0);
	ck_assert_int_ge(seen_find(&s, "c"), 0);
	ck_assert_int_eq(il_lookup_path(f.t, "d/c", 1, &in), 0);
	ck_assert_uint_eq(in.nodeid, f.d_c);
	ck_assert_uint_eq(il_at(f.t, in.nodeid), FILE_AT(4));
	inode_forget(f.t, in.nodeid, 2);
	ck_assert_int_eq(il_lookup_path(f.t, "d/b", 1, &in), 0);
	ck_assert_uint_eq(il_at(f.t, in.nodeid), FILE_AT(1));
	inode_forget(f.t, in.nodeid, 1);
	/* k is a directory, its key k's PATH_SELF; the file node the lookup
	 * made is gone, and freed once the kernel forgets it */
	ck_assert_int_eq(il_lookup_path(f.t, "k", 1, &in), 0);
	ck_assert_int_eq(in.type, INODE_DIR);
	ck_assert_int_eq(
	    inode_lookup(f.t, in.nodeid, PATH_SELF, PATH_SELF_LEN, 1, &self),
	    0);
	ck_assert_int_eq(self.type, INODE_FILE);
	il_assert_key(f.t, "k/z", "k/z");
	inode_forget(f.t, self.nodeid, 1);
	inode_forget(f.t, in.nodeid, 1);
	ck_assert_int_eq(inode_stat(f.t, f.k_file, &in), -ESTALE);
	inode_forget(f.t, f.k_file, 1);
	ck_assert_int_eq(il_lookup_path(f.t, "late/y", 0, &in), 0);
	ck_assert_int_eq(il_lookup_path(f.t, "x", 0, &in), 0);
	ck_assert_int_eq(inode_stat(f.t, INODE_ROOT, &in), 0);
	ck_assert_uint_eq(in.nlink, 5); /* d, k, late */
	inode_forget(f.t, d.nodeid, 1);
	inode_tree_free(f.t);
}
END_TEST

/* -o lazy's first pass (inode_tree_fill_dirs()) puts in the directories
 * of every key and no file, so that a lookup of any directory needs no
 * more; a file node a lookup made where a directory is found goes, as in
 * a build of every key; and the second pass, inode_tree_fill(), makes the
 * tree a build of every key makes. */
START_TEST(a_first_pass_finds_every_directory)
{
	static const char *const keys[] = {
	    "d/a", "k", "x", "deep/er/y", "m/", "k/z", NULL};
	struct lazy_feed f = {.keys = keys};
	struct path_conf pc;
	struct inode_info in, self;
	uint64_t k_file;

	ck_assert_int_eq(path_conf_init(&pc, BLT_SER_STR, 0, NULL), 0);
	ck_assert_int_eq(inode_tree_begin(&pc, &f.t), 0);
	ck_assert_int_eq(
	    inode_lookup_unscanned(f.t, INODE_ROOT, "k", 1, &in), 0);
	k_file = in.nodeid;
	ck_assert_int_eq(inode_tree_fill_dirs(f.t, lazy_next, &f), 0);
	ck_assert_uint_eq(inode_count(f.t), 0); /* no key counted yet */
	ck_assert_int_eq(il_lookup_path(f.t, "d", 0, &in), 0);
	ck_assert_int_eq(in.type, INODE_DIR);
	ck_assert_int_eq(il_lookup_path(f.t, "deep/er", 0, &in), 0);
	ck_assert_int_eq(in.type, INODE_DIR);
	ck_assert_int_eq(il_lookup_path(f.t, "m", 0, &in), 0);
	ck_assert_int_eq(in.type, INODE_DIR);
	ck_assert_int_eq(il_lookup_path(f.t, "k", 0, &in), 0);
	ck_assert_int_eq(in.type, INODE_DIR);
	/* the key k, found in the store, as k's PATH_SELF file: its key is
	 * k's path, and the scan's entry of k joins it */
	ck_assert_int_eq(inode_lookup_unscanned(
	                     f.t, in.nodeid, PATH_SELF, PATH_SELF_LEN, &self),
	    0);
	il_assert_key(f.t, "k/" PATH_SELF, "k");
	ck_assert_int_eq(inode_stat(f.t, k_file, &in), -ESTALE);
	inode_forget(f.t, k_file, 1);
	/* files come with the second pass, or through the store */
	ck_assert_int_eq(il_lookup_path(f.t, "x", 0, &in), -EAGAIN);
	ck_assert_int_eq(il_lookup_path(f.t, "deep/er/y", 0, &in), -EAGAIN);

	f.i = 0;
	ck_assert_int_eq(inode_tree_fill(f.t, lazy_next, &f), 0);
	ck_assert_uint_eq(inode_count(f.t), 6);
	il_assert_key(f.t, "d/a", "d/a");
	il_assert_key(f.t, "deep/er/y", "deep/er/y");
	il_assert_key(f.t, "x", "x");
	il_assert_key(f.t, "k/z", "k/z");
	ck_assert_int_eq(il_lookup_path(f.t, "k", 0, &in), 0);
	ck_assert_int_eq(
	    inode_lookup(f.t, in.nodeid, PATH_SELF, PATH_SELF_LEN, 0, &in), 0);
	ck_assert_uint_eq(in.nodeid, self.nodeid);
	il_assert_key(f.t, "k/" PATH_SELF, "k");
	inode_forget(f.t, self.nodeid, 1);
	ck_assert_int_eq(il_lookup_path(f.t, "m", 0, &in), 0);
	ck_assert_int_eq(in.type, INODE_DIR);
	ck_assert_int_eq(inode_stat(f.t, INODE_ROOT, &in), 0);
	ck_assert_uint_eq(in.nlink, 6); /* d, k, deep, m */
	inode_tree_free(f.t);
}
END_TEST

/* inode_tree_witnesses(): collects each witness as a string. */
struct witnesses {
	char *key[16];
	int n;
};

static int
witness_add(void *arg, const unsigned char *key, size_t klen, int type)
{
	struct witnesses *w = arg;

	ck_assert_int_lt(w->n, 16);
	ck_assert_int_eq(
	    type, klen > 0 && key[klen - 1] == '/' ? INODE_DIR : INODE_FILE);
	w->key[w->n++] = strndup((const char *)key, klen);
	return 0;
}

/* The witnesses of a built tree are keys of it, one for each directory
 * holding a key itself (files, a marker, a piece of a long name), none for
 * the root, a directory of directories or a key that is a directory too:
 * and the first pass of a build given them alone makes every directory
 * (dir-hints.c's step before a lazy build). */
START_TEST(witnesses_stand_for_every_directory)
{
	static char longkey[5 + 300 + 3];
	static const char *keys[] = {"d/a", "d/b", "x", "k", "k/z", "m/",
	    "deep/er/y", "deep/er/z", longkey, NULL};
	static const char *const dirs[] = {
	    "d", "k", "m", "deep", "deep/er", "long", NULL};
	struct witnesses w = {.n = 0};
	struct inode_tree *t;
	struct path_conf pc;
	struct inode_info in;
	const char *const *p;
	int i, j;

	memcpy(longkey, "long/", 5);
	memset(longkey + 5, 'a', 300);
	memcpy(longkey + 305, "/f", 3);
	t = built(keys);
	ck_assert_int_eq(inode_tree_witnesses(t, witness_add, &w), 0);
	/* d, k (k/z), m, deep/er, and long's piece */
	ck_assert_int_eq(w.n, 5);
	for (i = 0; i < w.n; i++) {
		for (j = 0; keys[j] != NULL && strcmp(keys[j], w.key[i]); j++)
			;
		ck_assert_msg(keys[j] != NULL, "%s: not a key", w.key[i]);
		ck_assert_str_ne(w.key[i], "x");
		ck_assert_str_ne(w.key[i], "k");
	}
	inode_tree_free(t);

	ck_assert_int_eq(path_conf_init(&pc, BLT_SER_STR, 0, NULL), 0);
	ck_assert_int_eq(inode_tree_begin(&pc, &t), 0);
	w.key[w.n] = NULL;
	p = (const char *const *)w.key;
	ck_assert_int_eq(inode_tree_fill_dirs(t, list_next, &p), 0);
	for (p = dirs; *p != NULL; p++) {
		ck_assert_msg(il_lookup_path(t, *p, 0, &in) == 0, "%s", *p);
		ck_assert_int_eq(in.type, INODE_DIR);
	}
	ck_assert_int_eq(il_lookup_path(t, "x", 0, &in), -EAGAIN);
	inode_tree_free(t);
	for (i = 0; i < w.n; i++)
		free(w.key[i]);
}
END_TEST

/* Listing offsets stay valid while most of a directory goes, through the
 * squeezing of its holes; a new file where a moved one's number is kept
 * gets another number. */
START_TEST(listings_survive_removals_and_numbers_stay_unique)
{
	struct inode_tree *t = files_tree();
	struct seen s = {.max = 50}, rest = {.max = 300};
	struct inode_info d, in, moved;
	char key[16];
	int i;

	ck_assert_int_eq(il_lookup_path(t, "d", 1, &d), 0);
	ck_assert_int_eq(inode_readdir(t, d.nodeid, 0, 0, seen_take, &s), 0);
	ck_assert_int_eq(s.n, 50);
	/* remove every file but the multiples of 7 after the 50 listed */
	for (i = 0; i < 200; i++) {
		if (i >= 50 && i % 7 == 0)
			continue;
		snprintf(key, sizeof key, "d/f%03d", i);
		ck_assert_int_eq(inode_del_key(t, key, strlen(key), NULL), 0);
	}
	ck_assert_int_eq(
	    inode_readdir(t, d.nodeid, s.off[49], 0, seen_take, &rest), 0);
	ck_assert_int_eq(rest.n, 21); /* 56, 63, ... 196 */
	for (i = 0; i < rest.n; i++) {
		snprintf(key, sizeof key, "f%03d", 56 + 7 * i);
		ck_assert_str_eq(rest.name[i], key);
	}
	ck_assert_int_eq(il_lookup_path(t, "d/f049", 0, &in), -ENOENT);
	/* f056 moves to g: its number stays with it, and a new f056 gets
	 * another */
	ck_assert_int_eq(inode_lookup(t, d.nodeid, "f056", 4, 1, &moved), 0);
	ck_assert_int_eq(
	    inode_rename(t, d.nodeid, "f056", 4, d.nodeid, "g", 1, 0, NULL), 0);
	ck_assert_int_eq(inode_put_key(t, "d/f056", 6, 1, &in, NULL), 0);
	ck_assert_int_eq(il_lookup_path(t, "d/f056", INODE_PEEK, &in), 0);
	ck_assert_uint_ne(in.ino, moved.ino);
	ck_assert_int_eq(il_lookup_path(t, "d/g", 0, &in), 0);
	ck_assert_uint_eq(in.ino, moved.ino);
	il_assert_key(t, "d/g", "d/g");
	inode_forget(t, moved.nodeid, 1);
	inode_tree_free(t);
}
END_TEST

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
		ck_assert_int_eq(inode_tree_build(&pc, gen_next, &g, &t), 0);
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
	tcase_add_test(tc, inode_numbers_are_fixed_for_good);
	tcase_add_test(tc, inode_numbers_survive_other_keys_changing);
	tcase_add_test(tc, moved_nodes_keep_their_numbers);
	tcase_add_test(tc, a_move_holds_reads_below_it_only);
	tcase_add_test(tc, forget_frees_removed_nodes);
	tcase_add_test(tc, readers_run_beside_a_writer);
	tcase_add_test(tc, files_are_nodes_only_while_asked_for);
	tcase_add_test(tc, listings_survive_removals_and_numbers_stay_unique);
	tcase_add_test(tc, files_keep_the_offsets_of_their_blocks);
	tcase_add_test(tc, a_lazy_build_answers_lookups_as_it_goes);
	tcase_add_test(tc, a_first_pass_finds_every_directory);
	tcase_add_test(tc, witnesses_stand_for_every_directory);
	tcase_add_test(tc, build_one_million_keys);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(inode_suite());
}
