/*
 * Keys as paths (fs/index/path.c, with the clash rules of fs/index/inode.c):
 * the tricky fixtures' keys, large directories with clashes, a table of
 * expected names, integer keys, flat mounts, and randomized round trips
 * (BLT_SEED picks the seed; the seed used is printed).
 *
 * The central check, tree_check(), lists a directory index built from a
 * set of keys and verifies what doc/keys.md promises: every name is a valid
 * path component, every key is listed exactly once, and the name each key
 * is listed under is the one that creating it by name would accept.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "booklet.h"
#include "index.h"
#include "manifest.h"

#define ESC PATH_ESC

static unsigned long long seed;

/* One key of a test set. */
struct tkey {
	unsigned char *key;
	size_t klen;
	uint64_t vlen;
	int seen;
};

struct tset {
	struct tkey *v;
	size_t n, cap;
};

static void
tset_add(struct tset *s, const void *key, size_t klen, uint64_t vlen)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->v = realloc(s->v, s->cap * sizeof *s->v);
		ck_assert_ptr_nonnull(s->v);
	}
	s->v[s->n].key = malloc(klen + 1);
	ck_assert_ptr_nonnull(s->v[s->n].key);
	memcpy(s->v[s->n].key, key, klen);
	s->v[s->n].klen = klen;
	s->v[s->n].vlen = vlen;
	s->v[s->n].seen = 0;
	s->n++;
}

static void
tset_free(struct tset *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->v[i].key);
	free(s->v);
	memset(s, 0, sizeof *s);
}

static int
tkey_cmp(const void *a, const void *b)
{
	const struct tkey *x = a, *y = b;
	size_t n = x->klen < y->klen ? x->klen : y->klen;
	int c = memcmp(x->key, y->key, n);

	if (c != 0)
		return c;
	return (x->klen > y->klen) - (x->klen < y->klen);
}

/* Remove duplicate keys (the last put wins, as in a store). */
static void
tset_unique(struct tset *s)
{
	size_t i, j;

	qsort(s->v, s->n, sizeof *s->v, tkey_cmp);
	for (i = j = 0; i < s->n; i++) {
		if (j > 0 && tkey_cmp(&s->v[j - 1], &s->v[i]) == 0) {
			free(s->v[j - 1].key);
			s->v[j - 1] = s->v[i];
			continue;
		}
		s->v[j++] = s->v[i];
	}
	s->n = j;
}

static void
tset_from_manifest(struct tset *s, const char *name)
{
	char path[4096];
	struct manifest *m;
	size_t i;

	snprintf(path, sizeof path, "%s/%s", FIXTURES_DIR, name);
	ck_assert_msg(manifest_load(path, &m) == 0, "%s", blt_errmsg());
	for (i = 0; i < m->n_items; i++)
		tset_add(s, m->items[i].key, m->items[i].klen,
		    m->items[i].value_len);
	manifest_free(m);
}

static const char *
hex(const void *p, size_t n)
{
	static char buf[4][200];
	static int k;

	k = (k + 1) % 4;
	return manifest_hex(p, n, buf[k], sizeof buf[k]);
}

/* A valid Linux name: 1..255 bytes, no NUL or '/', not . or .. */
static void
check_name(const char *name, size_t nlen)
{
	ck_assert_msg(
	    nlen >= 1 && nlen <= PATH_NAME_MAX, "name of %zu bytes", nlen);
	ck_assert_msg(
	    memchr(name, '\0', nlen) == NULL, "NUL in %s", hex(name, nlen));
	ck_assert_msg(
	    memchr(name, '/', nlen) == NULL, "/ in %s", hex(name, nlen));
	ck_assert(!(nlen == 1 && name[0] == '.'));
	ck_assert(!(nlen == 2 && name[0] == '.' && name[1] == '.'));
}

static struct tkey *
tset_find(struct tset *s, const unsigned char *key, size_t klen)
{
	struct tkey k = {(unsigned char *)key, klen, 0, 0};

	return bsearch(&k, s->v, s->n, sizeof *s->v, tkey_cmp);
}

struct entries {
	char (*name)[PATH_NAME_MAX + 1];
	size_t *nlen;
	struct inode_info *info;
	size_t n, cap;
};

static int
collect(void *arg, const char *name, size_t nlen, const struct inode_info *info,
    off_t off)
{
	struct entries *e = arg;

	(void)off;
	if (nlen <= 2 && name[0] == '.' && (nlen == 1 || name[1] == '.'))
		return 0;
	if (e->n == e->cap) {
		e->cap = e->cap ? e->cap * 2 : 16;
		e->name = realloc(e->name, e->cap * sizeof *e->name);
		e->nlen = realloc(e->nlen, e->cap * sizeof *e->nlen);
		e->info = realloc(e->info, e->cap * sizeof *e->info);
		ck_assert(e->name && e->nlen && e->info);
	}
	memcpy(e->name[e->n], name, nlen);
	e->name[e->n][nlen] = '\0';
	e->nlen[e->n] = nlen;
	e->info[e->n] = *info;
	e->n++;
	return 0;
}

static void
entries_free(struct entries *e)
{
	free(e->name);
	free(e->nlen);
	free(e->info);
}

/* Walk directory dir of t: every key of s seen once, names canonical. */
static void
tree_walk(struct inode_tree *t, struct tset *s, uint64_t dir)
{
	struct entries e = {0};
	unsigned char *key, *ckey;
	size_t klen, cklen, i;
	struct tkey *k;
	int rc;

	ck_assert_int_eq(inode_readdir(t, dir, 0, 0, collect, &e), 0);
	for (i = 0; i < e.n; i++) {
		struct inode_info *in = &e.info[i], li;

		check_name(e.name[i], e.nlen[i]);
		ck_assert_int_eq(
		    inode_lookup(t, dir, e.name[i], e.nlen[i], 0, &li), 0);
		/* a file is listed without a node until one is asked for */
		if (in->nodeid == 0)
			ck_assert_int_eq(in->type, INODE_FILE);
		else
			ck_assert_uint_eq(li.nodeid, in->nodeid);
		ck_assert_uint_eq(li.ino, in->ino);
		*in = li;
		if (in->flags & INODE_CONT) {
			ck_assert_int_eq(in->type, INODE_DIR);
			ck_assert_int_eq(
			    inode_key(t, in->nodeid, &key, &klen), -EINVAL);
			/* mkdir would make it here: it exists */
			rc = inode_add_piece(t, dir, e.name[i], e.nlen[i]);
			ck_assert_msg(rc == -EEXIST, "piece '%s' refused: %s",
			    e.name[i], blt_errmsg());
			tree_walk(t, s, in->nodeid);
			continue;
		}
		ck_assert_int_eq(inode_key(t, in->nodeid, &key, &klen), 0);
		/* creating this name here must give the same key */
		rc = inode_child_key(
		    t, dir, e.name[i], e.nlen[i], in->type, &ckey, &cklen);
		ck_assert_msg(rc == 0, "'%s' (key %s) refused: %s", e.name[i],
		    hex(key, klen), blt_errmsg());
		ck_assert_msg(cklen == klen && memcmp(ckey, key, klen) == 0,
		    "'%s': listed for key %s, creates key %s", e.name[i],
		    hex(key, klen), hex(ckey, cklen));
		free(ckey);
		if (in->type == INODE_FILE || (in->flags & INODE_MARKER)) {
			k = tset_find(s, key, klen);
			ck_assert_msg(k != NULL,
			    "'%s': key %s is not in the set", e.name[i],
			    hex(key, klen));
			ck_assert_msg(k->seen == 0, "key %s listed twice",
			    hex(key, klen));
			k->seen = 1;
			if (in->type == INODE_DIR)
				ck_assert_uint_eq(k->vlen, 0);
		}
		free(key);
		if (in->type == INODE_DIR)
			tree_walk(t, s, in->nodeid);
	}
	entries_free(&e);
}

struct feed {
	struct tset *s;
	size_t i;
	int twice; /* give every key twice, as a scan racing a put may */
};

static int
feed_next(
    void *arg, const void **key, size_t *klen, uint64_t *vlen, uint64_t *at)
{
	struct feed *f = arg;
	size_t i = f->twice ? f->i / 2 : f->i;

	if (i == f->s->n)
		return 0;
	/* backwards, so that files often come before their directories */
	i = f->s->n - 1 - i;
	*key = f->s->v[i].key;
	*klen = f->s->v[i].klen;
	*vlen = f->s->v[i].vlen;
	*at = 4096 + i; /* an offset of a block, which names never depend on */
	f->i++;
	return 1;
}

/* Build a tree of s (made unique) under pc, by puts and by a bulk build
 * with and without repeated keys, and check it all. */
static void
tree_check(const struct path_conf *pc, struct tset *s)
{
	struct inode_tree *t;
	struct feed f = {s, 0, 0};
	size_t i;
	int how;

	tset_unique(s);
	for (how = 0; how < 3; how++) {
		if (how == 0) {
			ck_assert_int_eq(inode_tree_create(pc, s->n, &t), 0);
			for (i = 0; i < s->n; i++)
				ck_assert_msg(
				    inode_put_key(t, s->v[i].key, s->v[i].klen,
				        s->v[i].vlen, NULL, NULL) == 0,
				    "%s", blt_errmsg());
		} else {
			f.i = 0;
			f.twice = how == 2;
			ck_assert_msg(
			    inode_tree_build(pc, feed_next, &f, &t) == 0, "%s",
			    blt_errmsg());
		}
		ck_assert_uint_eq(inode_count(t), s->n);
		for (i = 0; i < s->n; i++)
			s->v[i].seen = 0;
		tree_walk(t, s, INODE_ROOT);
		for (i = 0; i < s->n; i++)
			ck_assert_msg(s->v[i].seen,
			    "key %s (%zu bytes) not listed",
			    hex(s->v[i].key, s->v[i].klen), s->v[i].klen);
		inode_tree_free(t);
	}
}

/* The walk of one key on its own: valid names that decode back to it. */
static void
walk_roundtrip(
    const struct path_conf *pc, const void *key, size_t klen, int marker)
{
	unsigned char *buf = malloc(klen + 16);
	struct path_walk w;
	size_t o = 0;
	int kind, last = 0;
	ssize_t n;

	ck_assert_ptr_nonnull(buf);
	path_walk_start(&w, pc, key, klen, marker);
	while (path_walk_next(&w)) {
		ck_assert(!last);
		check_name(w.name, w.nlen);
		ck_assert_uint_eq(strlen(w.name), w.nlen);
		n = path_decode_name(pc, w.name, w.nlen, buf + o, &kind);
		ck_assert_msg(n >= 0, "'%s': %s", w.name, blt_errmsg());
		o += (size_t)n;
		ck_assert_uint_le(o, klen);
		ck_assert_int_eq(
		    kind, w.kind == PATH_CONT ? PATH_CONT : PATH_LEAF);
		if (w.kind == PATH_DIR)
			buf[o++] = '/';
		if (w.kind == PATH_LEAF || (w.kind == PATH_DIR && w.done))
			last = 1;
	}
	ck_assert(last);
	ck_assert_msg(o == klen && memcmp(buf, key, klen) == 0,
	    "key %s walks back to %s", hex(key, klen), hex(buf, o));
	free(buf);
}

static void
conf(struct path_conf *pc, unsigned ser, int flat, const char *ctl)
{
	ck_assert_msg(
	    path_conf_init(pc, ser, flat, ctl) == 0, "%s", blt_errmsg());
}

/* The path key is listed under in a tree of s: the name chain to it. */
static char *
listed_path(struct inode_tree *t, const void *key, size_t klen)
{
	struct inode_info in;
	unsigned char *k;
	size_t kl, len = 0;
	char *out = calloc(1, 65536 * 2);
	struct entries e = {0};
	uint64_t stack[4096];
	size_t sp = 0, i;

	/* breadth-first over the tree for the node whose key it is */
	(void)in;
	stack[sp++] = INODE_ROOT;
	while (sp > 0) {
		uint64_t dir = stack[--sp];

		e.n = 0;
		ck_assert_int_eq(inode_readdir(t, dir, 0, 0, collect, &e), 0);
		for (i = 0; i < e.n; i++) {
			if (e.info[i].type == INODE_DIR) {
				ck_assert_uint_lt(sp, 4096);
				stack[sp++] = e.info[i].nodeid;
			}
			if (e.info[i].nodeid == 0)
				ck_assert_int_eq(inode_lookup(t, dir, e.name[i],
				                     e.nlen[i], 0, &e.info[i]),
				    0);
			if (inode_key(t, e.info[i].nodeid, &k, &kl) < 0)
				continue;
			if (kl == klen && memcmp(k, key, klen) == 0 &&
			    (e.info[i].type == INODE_FILE ||
			        (e.info[i].flags & INODE_MARKER))) {
				uint64_t n = e.info[i].nodeid;
				struct inode_info pi;
				char *names[4096];
				size_t nn = 0, j;

				free(k);
				/* climb to the root through parents */
				for (;;) {
					struct entries pe = {0};
					size_t x;

					ck_assert_int_eq(
					    inode_stat(t, n, &pi), 0);
					if (n == INODE_ROOT)
						break;
					ck_assert_int_eq(
					    inode_readdir(t, pi.parent, 0, 0,
					        collect, &pe),
					    0);
					for (x = 0; x < pe.n; x++)
						if (pe.info[x].nodeid == n)
							names[nn++] =
							    strdup(pe.name[x]);
					entries_free(&pe);
					n = pi.parent;
				}
				for (j = nn; j-- > 0;) {
					len += (size_t)sprintf(out + len,
					    "%s%s", len ? "/" : "", names[j]);
					free(names[j]);
				}
				entries_free(&e);
				return out;
			}
			free(k);
		}
	}
	entries_free(&e);
	free(out);
	return NULL;
}

START_TEST(tricky_keys_listed_once_under_canonical_names)
{
	struct path_conf pc;
	struct tset s = {0};
	size_t i;

	conf(&pc, BLT_SER_STR, 0, NULL);
	tset_from_manifest(&s, "tricky_keys.json");
	ck_assert_uint_eq(s.n, 52);
	for (i = 0; i < s.n; i++)
		walk_roundtrip(&pc, s.v[i].key, s.v[i].klen,
		    path_is_marker(&pc, s.v[i].key, s.v[i].klen, s.v[i].vlen));
	tree_check(&pc, &s);
	tset_free(&s);
}
END_TEST

START_TEST(tricky_bytes_keys_listed_once_under_canonical_names)
{
	struct path_conf pc;
	struct tset s = {0};
	size_t i;

	conf(&pc, BLT_SER_NONE, 0, NULL);
	tset_from_manifest(&s, "tricky_bytes_keys.json");
	ck_assert_uint_eq(s.n, 41);
	for (i = 0; i < s.n; i++)
		walk_roundtrip(&pc, s.v[i].key, s.v[i].klen, 0);
	tree_check(&pc, &s);
	tset_free(&s);
}
END_TEST

START_TEST(tricky_keys_flat_listed_once)
{
	struct path_conf pc;
	struct tset s = {0};
	const char *fix[] = {"tricky_keys.json", "tricky_bytes_keys.json",
	    "small_str_bytes.json"};
	size_t i, f;

	conf(&pc, BLT_SER_STR, 1, NULL);
	for (f = 0; f < 3; f++) {
		tset_from_manifest(&s, fix[f]);
		for (i = 0; i < s.n; i++) {
			ck_assert(!path_is_marker(
			    &pc, s.v[i].key, s.v[i].klen, s.v[i].vlen));
			walk_roundtrip(&pc, s.v[i].key, s.v[i].klen, 0);
		}
		tree_check(&pc, &s);
		tset_free(&s);
	}
}
END_TEST

START_TEST(other_fixtures_listed_once)
{
	struct path_conf pc;
	struct tset s = {0};
	const char *fix[] = {"small_str_bytes.json", "deleted_overwritten.json",
	    "v4_genuine.json", "fixed.json"};
	size_t f;

	conf(&pc, BLT_SER_STR, 0, NULL);
	for (f = 0; f < 4; f++) {
		tset_from_manifest(&s, fix[f]);
		tree_check(&pc, &s);
		tset_free(&s);
	}
}
END_TEST

/* Expected listed paths of tricky keys (str keys, default ctl). */
static const struct {
	const char *key;
	size_t klen;
	uint64_t vlen;
	const char *path;
} table[] = {
    {"", 0, 1, ESC "/" ESC "."}, /* "" clashes with directory "/..." */
    {"/", 1, 1, ESC "/" ESC "/" ESC "."},
    {"//", 2, 1, ESC "/" ESC "/" ESC},
    {"/leading", 8, 1, ESC "/leading"},
    {".", 1, 1, ESC "2E/" ESC "."}, /* "./a" makes it a dir */
    {"..", 2, 1, ESC "2E."},
    {"...", 3, 1, "..."},
    {"./a", 3, 1, ESC "2E/a"},
    {"a/./b", 5, 1, "a/" ESC "2E/b"},
    {"x/../y", 6, 1, "x/" ESC "2E./y"},
    {"a//b", 4, 1, "a/" ESC "/b"},
    {"a/b", 3, 1, "a/b"},
    {"trailing/", 9, 1, "trailing/" ESC},
    {"emptydir/", 9, 0, "emptydir"},
    {"markerdir/", 10, 0, "markerdir"},
    {"markerdir/child", 15, 1, "markerdir/child"},
    {"nul\0byte", 8, 1, "nul" ESC "00byte"},
    {"new\nline", 8, 1, "new\nline"},
    {".bltfs", 6, 1, ESC "2Ebltfs/" ESC "."},
    {".bltfs/inner", 12, 1, ESC "2Ebltfs/inner"},
    {"name.bltfs", 10, 1, "name.bltfs"},
    {"dir", 3, 1, "dir/" ESC "."},
    {"dir/file", 8, 1, "dir/file"},
    {"dir/sub/file", 12, 1, "dir/sub/file"},
    {"%", 1, 1, "%"},
    {"%2F", 3, 1, "%2F"},
    {"%2f%00", 6, 1, "%2f%00"},
    {"report%20final.pdf", 18, 1, "report%20final.pdf"},
    {"back\\slash", 10, 1, "back\\slash"},
    {"\xef\xbb\xbf"
     "bom",
        6, 1,
        "\xef\xbb\xbf"
        "bom"},
    /* U+201B is itself unless it would read as an escape */
    {"quote" ESC "x", 9, 1, "quote" ESC "x"},
    {"trailing/." ESC ".tmp", 17, 1, "trailing/." ESC ".tmp"}, /* rsync */
    {ESC "2e", 5, 1, ESC "2e"},
    {"q" ESC "41", 6, 1, "q" ESC "E2" ESC "80" ESC "9B41"},
    {"q" ESC "+x", 6, 1, "q" ESC "E2" ESC "80" ESC "9B+x"},
    {"end" ESC, 6, 1, "end" ESC "E2" ESC "80" ESC "9B"},
    {"d/" ESC, 5, 1, "d/" ESC "E2" ESC "80" ESC "9B"},
    {"d/" ESC ".", 6, 1, "d/" ESC "E2" ESC "80" ESC "9B."},
    {"d/" ESC ".x", 7, 1, "d/" ESC ".x"},
    {ESC ESC "x", 7, 1, ESC ESC "x"},
    {"\xff", 1, 1, "\xff"},
    {"\xe2\x82", 2, 1, "\xe2\x82"},
    {"\0", 1, 1, ESC "00"},
    {"a/\xff/b", 5, 1, "a/\xff/b"},
};

/* Directories large enough to have tables (the tricky sets' hold a few
 * names each), with the clashes a bulk build settles once its tables are
 * made: a file that is also a directory going into it, at the root and
 * below, beside markers; tree_check() also gives every key twice. */
START_TEST(large_directories_with_clashes_listed_once)
{
	struct path_conf pc;
	struct tset s = {0};
	char key[64];
	unsigned d, f;

	conf(&pc, BLT_SER_STR, 0, NULL);
	for (d = 0; d < 200; d++) {
		for (f = 0; f < 100; f++) {
			snprintf(key, sizeof key, "d%03u/f%05u", d, f);
			tset_add(&s, key, strlen(key), 1);
			if (f % 9 == 0) { /* f is a directory too */
				snprintf(
				    key, sizeof key, "d%03u/f%05u/x", d, f);
				tset_add(&s, key, strlen(key), 1);
			}
		}
		if (d % 3 == 0) { /* and so is d, a file in the root */
			snprintf(key, sizeof key, "d%03u", d);
			tset_add(&s, key, strlen(key), 1);
		}
		if (d % 7 == 0) {
			snprintf(key, sizeof key, "d%03u/m/", d);
			tset_add(&s, key, strlen(key), 0);
		}
	}
	ck_assert_uint_gt(s.n, 20000);
	tree_check(&pc, &s);
	tset_free(&s);
}
END_TEST

START_TEST(tricky_keys_have_documented_names)
{
	struct path_conf pc;
	struct inode_tree *t;
	size_t i;
	char *p;

	conf(&pc, BLT_SER_STR, 0, NULL);
	ck_assert_int_eq(inode_tree_create(&pc, 0, &t), 0);
	for (i = 0; i < sizeof table / sizeof table[0]; i++)
		ck_assert_int_eq(inode_put_key(t, table[i].key, table[i].klen,
		                     table[i].vlen, NULL, NULL),
		    0);
	for (i = 0; i < sizeof table / sizeof table[0]; i++) {
		p = listed_path(t, table[i].key, table[i].klen);
		ck_assert_msg(p != NULL, "key %s not found",
		    hex(table[i].key, table[i].klen));
		ck_assert_msg(strcmp(p, table[i].path) == 0,
		    "key %s: listed as '%s', want '%s'",
		    hex(table[i].key, table[i].klen), p, table[i].path);
		free(p);
	}
	inode_tree_free(t);
}
END_TEST

START_TEST(long_segments_become_continuation_pieces)
{
	struct path_conf pc;
	unsigned char key[1200];
	char *p;
	size_t len;

	conf(&pc, BLT_SER_STR, 0, NULL);
	/* exactly 255 bytes: one name */
	memset(key, 'n', 255);
	ck_assert_int_eq(path_of_key(&pc, key, 255, 0, &p, &len), 0);
	ck_assert_uint_eq(len, 255);
	free(p);
	/* 256 bytes: 251 + the suffix, then the 5 left */
	memset(key, 'm', 256);
	ck_assert_int_eq(path_of_key(&pc, key, 256, 0, &p, &len), 0);
	ck_assert_uint_eq(len, 255 + 1 + 5);
	ck_assert_mem_eq(p + 251, ESC "+/mmmmm", 9);
	free(p);
	/* 200 x e-acute: characters are never cut */
	for (len = 0; len < 400; len += 2)
		memcpy(key + len, "\xc3\xa9", 2);
	ck_assert_int_eq(path_of_key(&pc, key, 400, 0, &p, &len), 0);
	ck_assert_uint_eq(len, 250 + 4 + 1 + 150);
	ck_assert_mem_eq(p + 250, ESC "+/", 5);
	free(p);
	walk_roundtrip(&pc, key, 400, 0);
	/* NULs escape to 5 bytes each: 1000 of them take 20 pieces */
	memset(key, 0, 1000);
	walk_roundtrip(&pc, key, 1000, 0);
	ck_assert_int_eq(path_of_key(&pc, key, 1000, 0, &p, &len), 0);
	ck_assert_uint_eq(len, 5000 + 19 * 4 + 19); /* suffixes, slashes */
	free(p);
}
END_TEST

/* A U+201B is escaped where two hex digits follow it, and the cut of a
 * long segment can fall between it and them: the piece then ends in the
 * escaped character (and one of the digits), and is a piece that mkdir
 * makes again (tree_check() walks it).  Found by random_keys_round_trip,
 * BLT_SEED=1795391984. */
START_TEST(pieces_end_where_an_escape_needs_what_follows)
{
	static const size_t lead[] = {235, 236};
	unsigned char key[600];
	struct path_conf pc;
	struct tset s = {0};
	size_t klen, i;
	char *p;
	size_t len;

	conf(&pc, BLT_SER_STR, 0, NULL);
	for (i = 0; i < 2; i++) {
		/* 235 + 15 + "4": the piece ends after the 4; 236 + 15: it
		 * ends with the escaped U+201B */
		memset(key, 'a', lead[i]);
		klen = lead[i];
		memcpy(key + klen,
		    "\xe2\x80\x9b"
		    "4A",
		    5);
		klen += 5;
		memset(key + klen, 'b', 300);
		klen += 300;
		ck_assert_int_eq(path_of_key(&pc, key, klen, 0, &p, &len), 0);
		ck_assert_mem_eq(p + 235,
		    i == 0 ? ESC "E2" ESC "80" ESC "9B4" ESC "+/"
		           : "a" ESC "E2" ESC "80" ESC "9B" ESC "+/",
		    i == 0 ? 21 : 21);
		free(p);
		walk_roundtrip(&pc, key, klen, 0);
		tset_add(&s, key, klen, 1);
	}
	tree_check(&pc, &s);
	tset_free(&s);
}
END_TEST

START_TEST(control_name_is_escaped_only_in_the_root)
{
	struct path_conf pc;
	char *p;
	size_t len;

	conf(&pc, BLT_SER_STR, 0, "ctl");
	ck_assert_int_eq(path_of_key(&pc, "ctl", 3, 0, &p, &len), 0);
	ck_assert_str_eq(p, ESC "63tl");
	free(p);
	ck_assert_int_eq(path_of_key(&pc, "a/ctl", 5, 0, &p, &len), 0);
	ck_assert_str_eq(p, "a/ctl");
	free(p);
	ck_assert_int_eq(path_of_key(&pc, ".bltfs", 6, 0, &p, &len), 0);
	ck_assert_str_eq(p, ".bltfs");
	free(p);
	ck_assert_int_eq(path_conf_init(&pc, 2, 0, ""), -EINVAL);
	ck_assert_int_eq(path_conf_init(&pc, 2, 0, "a/b"), -EINVAL);
	ck_assert_int_eq(path_conf_init(&pc, 2, 0, ".."), -EINVAL);
	ck_assert_int_eq(path_conf_init(&pc, 2, 0, "x" ESC), -EINVAL);
	ck_assert(strstr(blt_errmsg(), "ctl=") != NULL);
}
END_TEST

START_TEST(flat_mount_escapes_slashes)
{
	struct path_conf pc;
	char *p;
	size_t len;
	unsigned char key[4404];

	conf(&pc, BLT_SER_STR, 1, NULL);
	ck_assert_int_eq(path_of_key(&pc, "a/b", 3, 0, &p, &len), 0);
	ck_assert_str_eq(p, "a" ESC "2Fb");
	free(p);
	ck_assert_int_eq(path_of_key(&pc, "emptydir/", 9, 0, &p, &len), 0);
	ck_assert_str_eq(p, "emptydir" ESC "2F");
	free(p);
	ck_assert_int_eq(path_of_key(&pc, ".bltfs", 6, 0, &p, &len), 0);
	ck_assert_str_eq(p, ESC "2Ebltfs");
	free(p);
	memset(key, 's', sizeof key);
	ck_assert_int_eq(path_of_key(&pc, key, sizeof key, 0, &p, &len), 0);
	ck_assert_uint_eq(len, 4404 + 17 * 5); /* 17 pieces, 18 names */
	free(p);
	walk_roundtrip(&pc, key, sizeof key, 0);
}
END_TEST

START_TEST(integer_keys_are_decimal)
{
	static const struct {
		unsigned ser;
		const char *name;
		int ok;
	} names[] = {
	    {10, "0", 1},
	    {10, "4294967295", 1},
	    {10, "4294967296", 0},
	    {10, "007", 0},
	    {10, "-1", 0},
	    {10, "+1", 0},
	    {10, "1e3", 0},
	    {10, "", 0},
	    {6, "255", 1},
	    {6, "256", 0},
	    {7, "-128", 1},
	    {7, "-129", 0},
	    {7, "127", 1},
	    {7, "128", 0},
	    {7, "-0", 0},
	    {9, "-32768", 1},
	    {12, "1099511627775", 1},
	    {12, "1099511627776", 0},
	    {13, "-549755813888", 1},
	    {13, "-549755813889", 0},
	    {14, "18446744073709551615", 1},
	    {14, "18446744073709551616", 0},
	    {15, "-9223372036854775808", 1},
	    {15, "9223372036854775807", 1},
	    {15, "9223372036854775808", 0},
	    {15, "-9223372036854775809", 0},
	};
	struct path_conf pc;
	struct inode_tree *t;
	unsigned char *key;
	size_t klen, i;
	char *p;
	int rc;

	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		conf(&pc, names[i].ser, 0, NULL);
		ck_assert(pc.flat);
		ck_assert_int_eq(inode_tree_create(&pc, 0, &t), 0);
		rc = names[i].name[0] == '\0'
		         ? -EINVAL
		         : inode_child_key(t, INODE_ROOT, names[i].name,
		               strlen(names[i].name), INODE_FILE, &key, &klen);
		ck_assert_msg((rc == 0) == names[i].ok, "code %u '%s': %d %s",
		    names[i].ser, names[i].name, rc, blt_errmsg());
		if (rc == 0) {
			ck_assert_uint_eq(klen, (size_t)pc.int_width);
			ck_assert_int_eq(
			    path_of_key(&pc, key, klen, 0, &p, &klen), 0);
			ck_assert_str_eq(p, names[i].name);
			free(p);
			free(key);
		} else
			ck_assert_int_eq(rc, -EINVAL);
		inode_tree_free(t);
	}
	/* a key of the wrong width is shown byte by byte, still reachable */
	conf(&pc, 10, 0, NULL);
	ck_assert_int_eq(path_of_key(&pc, "abc", 3, 0, &p, &klen), 0);
	ck_assert_str_eq(p, ESC "61" ESC "62" ESC "63");
	free(p);
	/* a number equal to the control directory's name, too */
	conf(&pc, 6, 0, "7");
	ck_assert_int_eq(path_of_key(&pc, "\x07", 1, 0, &p, &klen), 0);
	ck_assert_str_eq(p, ESC "07");
	free(p);
}
END_TEST

START_TEST(uint4_fixture_listed_as_decimals)
{
	struct path_conf pc;
	struct tset s = {0};
	char path[4096], *p;
	struct manifest *m;
	size_t i, len;

	conf(&pc, 10, 0, NULL);
	snprintf(path, sizeof path, "%s/uint4_keys.json", FIXTURES_DIR);
	ck_assert_msg(manifest_load(path, &m) == 0, "%s", blt_errmsg());
	for (i = 0; i < m->n_items; i++) {
		const struct json *it, *dec;

		it = &json_get(m->root, "items")->kids[i];
		dec = json_get(it, "key_decoded");
		ck_assert_ptr_nonnull(dec);
		ck_assert_int_eq(path_of_key(&pc, m->items[i].key,
		                     m->items[i].klen, 0, &p, &len),
		    0);
		/* items are sorted in both, by the same raw bytes */
		ck_assert_str_eq(p, dec->str);
		free(p);
		tset_add(&s, m->items[i].key, m->items[i].klen,
		    m->items[i].value_len);
	}
	manifest_free(m);
	tree_check(&pc, &s);
	tset_free(&s);
}
END_TEST

START_TEST(names_with_stray_escapes_are_refused)
{
	static const char *bad[] = {
	    ESC "41",         /* 'A' needs no escape */
	    ESC "2F",         /* '/' is a separator, not escaped */
	    "." ESC "2E",     /* ".." escapes its first dot */
	    "a" ESC,          /* U+201B at the end must be escaped */
	    ESC ESC,          /* so must the second one */
	    "q" ESC ESC "41", /* and one before two hex digits */
	    "x" ESC "+",      /* a piece too short to be one */
	    ESC "+",          /* piece suffix alone */
	    ".",              /* not a name */
	    ".bltfs",         /* the control directory */
	};
	struct path_conf pc;
	struct inode_tree *t;
	unsigned char *key;
	size_t klen, i;

	conf(&pc, BLT_SER_STR, 0, NULL);
	ck_assert_int_eq(inode_tree_create(&pc, 0, &t), 0);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc = inode_child_key(t, INODE_ROOT, bad[i], strlen(bad[i]),
		    INODE_FILE, &key, &klen);

		ck_assert_msg(rc < 0, "'%s' accepted", bad[i]);
		ck_assert(blt_errmsg()[0] != '\0');
	}
	/* the self name only inside a directory */
	ck_assert_int_eq(inode_child_key(t, INODE_ROOT, PATH_SELF,
	                     PATH_SELF_LEN, INODE_FILE, &key, &klen),
	    -EINVAL);
	inode_tree_free(t);
}
END_TEST

/* Random key bytes from an alphabet rich in what needs escaping. */
static size_t
random_key(unsigned char *key, size_t max)
{
	static const unsigned char alpha[] = {'/', '/', '.', '.', 0, 'a', 'b',
	    0xe2, 0x80, 0x9b, 0xff, 0xc3, 0xa9, ' ', '%'};
	size_t n, i, r = (size_t)rand() % 100;

	n = r < 70   ? (size_t)rand() % 12
	    : r < 95 ? (size_t)rand() % 300
	             : (size_t)rand() % max;
	for (i = 0; i < n; i++) {
		if (rand() % 7 == 0 && i + 3 <= n) {
			memcpy(key + i, PATH_ESC, 3);
			i += 2;
		} else if (rand() % 3 == 0)
			key[i] = (unsigned char)rand();
		else
			key[i] = alpha[(size_t)rand() % sizeof alpha];
	}
	if (n >= 6 && rand() % 20 == 0)
		memcpy(key, ".bltfs", 6);
	return n;
}

/* Wherever path_plain_segment() takes a segment for its own name, the
 * walk names it so, with the same kind: the bulk build's short cut
 * (inode-build.c) makes the walk's tree.  Returns the segments taken. */
static int
plain_matches_walk(
    const struct path_conf *pc, const unsigned char *key, size_t klen)
{
	struct path_walk w;
	size_t pos = 0, len;
	int depth = 0;

	path_walk_start(&w, pc, key, klen, 0);
	while (pos <= klen && (len = path_plain_segment(
	                           pc, key + pos, klen - pos, depth)) > 0) {
		ck_assert(path_walk_next(&w));
		ck_assert_msg(
		    w.nlen == len && memcmp(w.name, key + pos, len) == 0,
		    "key %s: segment %d taken as it is, walked as '%s'",
		    hex(key, klen), depth, w.name);
		ck_assert_int_eq(
		    w.kind, pos + len == klen ? PATH_LEAF : PATH_DIR);
		pos += len + 1;
		depth++;
	}
	return depth;
}

START_TEST(plain_segments_are_named_as_the_walk_names_them)
{
	static const char *const keys[] = {"a", "a/b", "dir/000000001",
	    ".bltfs", ".bltfs/x", "x/.bltfs", ".", "./a", "a/..", "...",
	    ".a/..b", "a//b", "/a", "a/", "caf\xc3\xa9/x", "it\xe2\x80\x9bs",
	    "\xff\xfe/\x01"};
	static const int taken[] = {
	    1, 2, 2, 0, 0, 2, 0, 0, 1, 1, 2, 1, 0, 1, 2, 0, 2};
	static const unsigned sers[] = {2, 2, 6, 9, 10, 13, 15};
	unsigned char key[2000];
	struct path_conf pc;
	size_t i, klen, n;
	int round, seen = 0;

	conf(&pc, BLT_SER_STR, 0, NULL);
	for (i = 0; i < sizeof keys / sizeof *keys; i++)
		ck_assert_int_eq(
		    plain_matches_walk(
		        &pc, (const unsigned char *)keys[i], strlen(keys[i])),
		    taken[i]);
	/* a segment of 255 bytes is one name; of 256, pieces */
	for (n = 254; n <= 257; n++) {
		memset(key, 'x', n);
		memcpy(key + n, "/y", 2);
		ck_assert_int_eq(
		    plain_matches_walk(&pc, key, n + 2), n <= 255 ? 2 : 0);
	}
	conf(&pc, BLT_SER_STR, 1, NULL); /* flat: '/' is a byte to escape */
	ck_assert_int_eq(
	    plain_matches_walk(&pc, (const unsigned char *)"a/b", 3), 0);
	ck_assert_int_eq(
	    plain_matches_walk(&pc, (const unsigned char *)"ab", 2), 1);
	for (round = 0; round < 14; round++) {
		conf(&pc, sers[round % 7], round >= 7 && sers[round % 7] == 2,
		    NULL);
		for (i = 0; i < 3000; i++) {
			klen = random_key(key, sizeof key);
			seen += plain_matches_walk(&pc, key, klen);
		}
	}
	ck_assert_int_gt(seen, 1000); /* the short cut was tried */
}
END_TEST

START_TEST(random_keys_round_trip)
{
	static const unsigned sers[] = {2, 2, 6, 9, 10, 13, 15};
	unsigned char key[2000];
	struct path_conf pc;
	struct tset s = {0};
	size_t i, klen;
	int round;

	for (round = 0; round < 14; round++) {
		unsigned ser = sers[round % 7];

		conf(&pc, ser, round >= 7 && ser == 2, NULL);
		for (i = 0; i < 600; i++) {
			klen = random_key(key, sizeof key);
			if (pc.int_width && rand() % 4 != 0) {
				klen = (size_t)pc.int_width;
				if (rand() % 5 == 0)
					memset(
					    key, rand() % 2 ? 0 : 0xff, klen);
			}
			walk_roundtrip(&pc, key, klen, 0);
			tset_add(&s, key, klen, (uint64_t)(rand() % 2));
		}
		/* key sets full of clashes list every key once */
		tree_check(&pc, &s);
		tset_free(&s);
	}
}
END_TEST

START_TEST(random_names_round_trip)
{
	struct path_conf pc;
	struct inode_tree *t;
	unsigned char *key;
	char name[PATH_NAME_MAX + 1], *p;
	size_t klen, nlen, i, j, plen;
	int rc, accepted = 0;

	conf(&pc, BLT_SER_STR, 0, NULL);
	ck_assert_int_eq(inode_tree_create(&pc, 0, &t), 0);
	for (i = 0; i < 20000; i++) {
		nlen = 1 + (size_t)rand() % (i % 10 == 0 ? 255 : 12);
		for (j = 0; j < nlen; j++) {
			do
				name[j] = (char)(rand() % 4 ? 32 + rand() % 95
				                            : rand());
			while (name[j] == '\0' || name[j] == '/');
			if (rand() % 50 == 0 && j + 3 <= nlen) {
				memcpy(name + j, PATH_ESC, 3);
				j += 2;
			}
		}
		name[nlen] = '\0';
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			continue;
		rc = inode_child_key(
		    t, INODE_ROOT, name, nlen, INODE_FILE, &key, &klen);
		if (rc < 0) {
			/* only names with U+201B or the ctl name are refused */
			ck_assert_msg(strstr(name, PATH_ESC) != NULL ||
			                  strcmp(name, ".bltfs") == 0,
			    "'%s' refused: %s", name, blt_errmsg());
			continue;
		}
		accepted++;
		ck_assert_int_eq(path_of_key(&pc, key, klen, 0, &p, &plen), 0);
		ck_assert_msg(plen == nlen && memcmp(p, name, nlen) == 0,
		    "'%s' creates a key listed as '%s'", name, p);
		free(p);
		free(key);
	}
	ck_assert_int_gt(accepted, 15000);
	inode_tree_free(t);
}
END_TEST

static Suite *
path_suite(void)
{
	Suite *s = suite_create("path");
	TCase *tc = tcase_create("mapping");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, tricky_keys_listed_once_under_canonical_names);
	tcase_add_test(tc, tricky_bytes_keys_listed_once_under_canonical_names);
	tcase_add_test(tc, tricky_keys_flat_listed_once);
	tcase_add_test(tc, other_fixtures_listed_once);
	tcase_add_test(tc, large_directories_with_clashes_listed_once);
	tcase_add_test(tc, tricky_keys_have_documented_names);
	tcase_add_test(tc, long_segments_become_continuation_pieces);
	tcase_add_test(tc, pieces_end_where_an_escape_needs_what_follows);
	tcase_add_test(tc, control_name_is_escaped_only_in_the_root);
	tcase_add_test(tc, flat_mount_escapes_slashes);
	tcase_add_test(tc, integer_keys_are_decimal);
	tcase_add_test(tc, uint4_fixture_listed_as_decimals);
	tcase_add_test(tc, names_with_stray_escapes_are_refused);
	tcase_add_test(tc, random_keys_round_trip);
	tcase_add_test(tc, plain_segments_are_named_as_the_walk_names_them);
	tcase_add_test(tc, random_names_round_trip);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	const char *env = getenv("BLT_SEED");
	SRunner *sr;
	int failed;

	seed = env != NULL ? strtoull(env, NULL, 0)
	                   : (unsigned long long)time(NULL);
	printf("check_path: BLT_SEED=%llu\n", seed);
	srand((unsigned)seed);
	sr = srunner_create(path_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
