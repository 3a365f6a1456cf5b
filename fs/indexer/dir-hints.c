/*
 * Directory hints: for each directory of a built index, one key below it
 * (its witness, inode_tree_witnesses()), kept beside the index cache
 * ($XDG_CACHE_HOME/bltfs/dirs-DEV-INO) when a build ends, and again at
 * unmount if directories were made or moved since (index-cache.c), so
 * that the next lazy build of the store (-o lazy, lazy.c) puts in the
 * directories it knew before anything else.  A witness the store still has
 * proves its directories are there: the hash index answers in a microsecond
 * where the build's first pass reads every key (a second at ten million), and a
 * path in a directory whose keys come late in the store answers without waiting
 * for it.
 *
 * Unlike the index cache, the hints need no unchanged store: each is
 * confirmed before it is used, so a store written since (by the Python
 * booklet, blt, another mount) loses only the hints whose witnesses went,
 * and those directories wait for the first pass as before.  Nor is a
 * damaged or foreign file a danger: at worst it names keys that are not
 * there.  It is still read only if it is the user's own, and its sum is
 * checked, so that damage is said in the log and the file replaced.
 *
 * The hints also keep where the scan they came from left the store (its
 * mark, blt_iter_mark()).  When every witness is confirmed and the store
 * can show that it only grew since (blt_iter_create_since(): not pruned,
 * cleared or replaced), the directories are those of the hints and those
 * of the keys written after the mark, so the lazy build reads only those
 * keys instead of its first pass: milliseconds for a pipeline that
 * appended, against seconds at tens of millions of keys.  A witness the
 * store lost may leave a directory that still holds other keys unknown,
 * so then the first pass runs, as it does without a mark.
 *
 * A store with fewer than DIR_HINTS_KEYS_PER keys a directory gets no
 * hints: confirming them would take about as long as the first pass.
 *
 * The file: struct dir_hints_head, then each witness as its length (32
 * bits) and bytes, then a 64-bit sum of all that.  It is written beside
 * its place and renamed there.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "indexer-int.h"

#define DIR_HINTS_MAGIC "BLTFSDH\n"
#define DIR_HINTS_LAYOUT 2
#define DIR_HINTS_ORDER 0x01020304 /* as this machine writes it */
#define DIR_HINTS_KEYS_PER 64
#define DIR_HINTS_STEP 1024 /* witnesses put in under one lock */

struct dir_hints_head {
	char magic[8];
	uint32_t order, layout;
	uint64_t count;       /* witnesses */
	uint64_t bytes;       /* of the witnesses, lengths included */
	uint32_t marked, pad; /* mark is set */
	struct blt_mark mark;
};

/* A witness the store has: where its key is in the file, and its value's
 * length (a marker is a marker by its empty value). */
struct dir_hints_live {
	size_t at;
	uint32_t klen;
	uint64_t vlen;
};

/* The witnesses, as read and then as confirmed. */
struct dir_hints {
	unsigned char *buf; /* the file */
	size_t len;
	uint64_t count;
	struct blt_mark mark;        /* all zero if none */
	struct dir_hints_live *live; /* confirmed */
	uint64_t nlive;
	uint64_t next; /* the fill's place */
	int later;     /* the fill let go of the lock at next */
	struct lazy *z;
};

/* The witnesses as the save collects them. */
struct dir_hints_out {
	unsigned char *buf;
	size_t len, cap;
	uint64_t count, max;
};

/* The sum of a file: its head, then its witnesses. */
static uint64_t
dir_hints_sum(const struct dir_hints_head *h, const unsigned char *w)
{
	return ino_hash_name(ino_hash_name(0, (const char *)h, sizeof *h),
	    (const char *)w, h->bytes);
}

/* inode_key_fn of the save: append one witness; 1 once there are too
 * many. */
static int
dir_hints_add(void *arg, const unsigned char *key, size_t klen, int type)
{
	struct dir_hints_out *o = arg;
	uint32_t len = (uint32_t)klen;
	unsigned char *nb;
	size_t cap;

	(void)type; /* the store says which, by the value's length */
	if (++o->count > o->max)
		return 1;
	if (o->len + sizeof len + klen > o->cap) {
		cap = (o->len + sizeof len + klen) * 2;
		if ((nb = realloc(o->buf, cap)) == NULL)
			return -ENOMEM;
		o->buf = nb;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, &len, sizeof len);
	memcpy(o->buf + o->len + sizeof len, key, klen);
	o->len += sizeof len + klen;
	return 0;
}

/* Write o to path, with m if not NULL, through a file beside it: 0 or
 * -errno. */
static int
dir_hints_write(
    const char *path, const struct dir_hints_out *o, const struct blt_mark *m)
{
	struct dir_hints_head h;
	uint64_t sum;
	char *tmp;
	FILE *f;
	int fd, rc = 0;

	memset(&h, 0, sizeof h);
	memcpy(h.magic, DIR_HINTS_MAGIC, sizeof h.magic);
	h.order = DIR_HINTS_ORDER;
	h.layout = DIR_HINTS_LAYOUT;
	h.count = o->count;
	h.bytes = o->len;
	if (m != NULL) {
		h.marked = 1;
		memcpy(&h.mark, m, sizeof h.mark);
	}
	sum = dir_hints_sum(&h, o->buf);
	if ((fd = index_cache_create_beside(path, &tmp)) < 0)
		return fd;
	if ((f = fdopen(fd, "w")) == NULL) {
		rc = -errno;
		close(fd);
		return index_cache_put_in_place(path, tmp, rc);
	}
	if (fwrite(&h, sizeof h, 1, f) != 1 ||
	    (o->len > 0 && fwrite(o->buf, o->len, 1, f) != 1) ||
	    fwrite(&sum, sizeof sum, 1, f) != 1)
		rc = -EIO;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	return index_cache_put_in_place(path, tmp, rc);
}

void
dir_hints_save(const char *path, struct inode_tree *t, uint64_t nkeys,
    const struct blt_mark *m)
{
	struct dir_hints_out o = {NULL, 0, 0, 0, nkeys / DIR_HINTS_KEYS_PER};
	int rc;

	rc = inode_tree_witnesses(t, dir_hints_add, &o);
	if (rc == 0 && o.count > 0)
		rc = dir_hints_write(path, &o, m);
	else if (rc >= 0) /* none, or too many: an older file would only
	                   * cost its lookups */
		(void)unlink(path);
	if (rc < 0)
		fs_log(
		    "directory hints %s: not saved: %s", path, strerror(-rc));
	free(o.buf);
}

/* A damaged file: say so and remove it (the build makes a new one). */
static struct dir_hints *
dir_hints_damaged(const char *path, struct dir_hints *h, const char *why)
{
	fs_log("directory hints %s: %s; not used", path, why);
	(void)unlink(path);
	dir_hints_free(h);
	return NULL;
}

/* Whether the witnesses of h, after its head, are as many as it says and
 * end where they should. */
static int
dir_hints_whole(const struct dir_hints *h, const struct dir_hints_head *hd)
{
	size_t off = sizeof *hd, end = sizeof *hd + hd->bytes;
	uint64_t i;
	uint32_t len;

	for (i = 0; i < hd->count; i++) {
		if (end - off < sizeof len)
			return 0;
		memcpy(&len, h->buf + off, sizeof len);
		if (len > BLT_KEY_MAX || end - off - sizeof len < len)
			return 0;
		off += sizeof len + len;
	}
	return off == end;
}

struct dir_hints *
dir_hints_load(const char *path)
{
	struct dir_hints_head hd;
	struct dir_hints *h;
	struct stat sb;
	uint64_t sum;
	ssize_t r;
	int fd;

	if ((fd = index_cache_open_own(path, &sb)) < 0)
		return NULL;
	if ((h = calloc(1, sizeof *h)) == NULL) {
		close(fd);
		return NULL;
	}
	h->len = (size_t)sb.st_size;
	if ((h->buf = malloc(h->len + 1)) == NULL) {
		close(fd);
		dir_hints_free(h);
		return NULL;
	}
	r = pread(fd, h->buf, h->len, 0);
	close(fd);
	if (r != (ssize_t)h->len || h->len < sizeof hd + sizeof sum)
		return dir_hints_damaged(path, h, "it is cut short");
	memcpy(&hd, h->buf, sizeof hd);
	if (memcmp(hd.magic, DIR_HINTS_MAGIC, sizeof hd.magic) != 0 ||
	    hd.order != DIR_HINTS_ORDER || hd.layout != DIR_HINTS_LAYOUT)
		return dir_hints_damaged(
		    path, h, "not a hints file of this build");
	memcpy(&sum, h->buf + h->len - sizeof sum, sizeof sum);
	if (hd.bytes != h->len - sizeof hd - sizeof sum ||
	    dir_hints_sum(&hd, h->buf + sizeof hd) != sum)
		return dir_hints_damaged(path, h, "its sum is wrong");
	if (!dir_hints_whole(h, &hd))
		return dir_hints_damaged(
		    path, h, "its witnesses do not add up");
	h->count = hd.count;
	if (hd.marked)
		h->mark = hd.mark;
	return h;
}

/* Keep the witnesses the store has, in h->live. */
static int
dir_hints_confirm(struct fs *fs, struct dir_hints *h)
{
	struct blt_entry e;
	size_t off = sizeof(struct dir_hints_head);
	uint64_t i;
	uint32_t len;

	if ((h->live = calloc(h->count + 1, sizeof *h->live)) == NULL)
		return -ENOMEM;
	for (i = 0; i < h->count; i++, off += len) {
		memcpy(&len, h->buf + off, sizeof len);
		off += sizeof len;
		/* a damaged block is not this step's to say: the build
		 * meets it and says where */
		if (blt_find(fs->db, h->buf + off, len, &e) == 0)
			h->live[h->nlive++] =
			    (struct dir_hints_live){off, len, e.value_len};
	}
	return 0;
}

/* inode_next_fn of the fill: the confirmed witnesses, letting go of the
 * index's lock every DIR_HINTS_STEP of them. */
static int
dir_hints_next(
    void *arg, const void **key, size_t *klen, uint64_t *vlen, uint64_t *at)
{
	struct dir_hints *h = arg;
	const struct dir_hints_live *w;

	if (h->next == h->nlive)
		return 0;
	if (h->next > 0 && h->next % DIR_HINTS_STEP == 0 && !h->later) {
		h->later = 1;
		return INODE_NEXT_LATER;
	}
	if (h->later && lazy_stopping(h->z))
		return blt_errmsg_set(-ECANCELED, "unmounted");
	h->later = 0;
	w = &h->live[h->next++];
	*key = h->buf + w->at;
	*klen = w->klen;
	*vlen = w->vlen;
	*at = 0;
	return 1;
}

int64_t
dir_hints_fill(struct fs *fs, struct dir_hints *h, struct lazy *z)
{
	int rc;

	h->z = z;
	if ((rc = dir_hints_confirm(fs, h)) < 0 ||
	    (rc = inode_tree_fill_dirs(fs->tree, dir_hints_next, h)) < 0)
		return rc;
	return (int64_t)h->nlive;
}

int
dir_hints_whole_mark(const struct dir_hints *h, struct blt_mark *m)
{
	if (h->mark.end == 0 || h->live == NULL || h->nlive != h->count)
		return 0;
	*m = h->mark;
	return 1;
}

int
dir_hints_mark(const char *path, struct blt_mark *m)
{
	struct dir_hints *h = dir_hints_load(path);
	int marked = h != NULL && h->mark.end != 0;

	if (marked)
		*m = h->mark;
	dir_hints_free(h);
	return marked;
}

void
dir_hints_free(struct dir_hints *h)
{
	if (h == NULL)
		return;
	free(h->buf);
	free(h->live);
	free(h);
}
