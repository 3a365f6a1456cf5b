/*
 * A decode mount (-o decode): files show their values as text, and text
 * written to them is encoded back with the store's value serializer
 * (doc/values.md, "The decode mount").
 *
 * Decoding costs CPU at every read of a value, and the kernel asks for a
 * file's size (lookup, stat, readdirplus) before any read: so what was
 * decoded is kept.
 *  - sizes: a table with one slot per node (direct-mapped by nodeid, a
 *    collision overwrites), so that ls -l of a large directory decodes
 *    each value once, and again only after it changed;
 *  - texts: the last DECODE_RECENT small ones, so that the read that
 *    follows a lookup does not decode the value a second time; and each
 *    open file keeps the text of its value (struct decode_text), so that a
 *    value read in many read() calls is decoded once per open.
 * Both are keyed by the node's generation and aver: aver moves whenever
 * the index hears of a new value (a commit, a map's write, a utimensat),
 * never when a prune or reindex moves bytes without changing them.  The
 * kernel's pages of a file are dropped by the same notifications as on a
 * raw mount.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bltutil.h"
#include "handle-int.h"

/* Texts kept after a lookup for the read that follows, and the largest:
 * a bigger one is decoded again by its first read, which matters less
 * next to reading it. */
#define DECODE_RECENT 64
#define DECODE_RECENT_MAX (64u << 10)
/* Slots of the size table: twice the keys at mount, within these. */
#define DECODE_SLOTS_MIN 1024u
#define DECODE_SLOTS_MAX (1u << 21)
/* Values at most this long are read onto the stack. */
#define DECODE_STACK 4096

struct decode_slot {
	uint64_t nodeid; /* 0: empty */
	uint32_t gen, aver;
	uint64_t size;
};

struct decode_recent {
	uint64_t nodeid; /* 0: empty */
	uint32_t gen, aver;
	struct blt_value_buf text;
};

struct decode_cache {
	pthread_mutex_t lock;
	struct decode_slot *slot;
	size_t mask;
	struct decode_recent recent[DECODE_RECENT];
	unsigned next_recent;
	atomic_uint_fast64_t decodes;   /* values decoded */
	atomic_uint_fast64_t unchanged; /* commits that stored nothing */
	atomic_uint_fast64_t rejected;  /* texts that could not be encoded */
};

struct decode_text {
	pthread_mutex_t lock;
	int valid;
	uint32_t gen, aver;
	struct blt_value_buf text;
};

int
decode_init(struct fs *fs, unsigned ser, int asked)
{
	struct decode_cache *c;
	size_t n = DECODE_SLOTS_MIN;
	uint64_t keys;

	fs->decode_asked = asked;
	fs->value_ser = ser;
	fs->value_caps = blt_value_caps(ser);
	/* a serializer whose values are only their bytes (raw, bytes,
	 * custom): the file form is the bytes both ways, as a raw mount */
	fs->decode = asked && fs->value_caps != 0;
	if (!fs->decode)
		return 0;
	keys = inode_count(fs->tree);
	while (n < DECODE_SLOTS_MAX && n < 2 * keys)
		n *= 2;
	if ((c = calloc(1, sizeof *c)) == NULL ||
	    (c->slot = calloc(n, sizeof *c->slot)) == NULL) {
		free(c);
		fs_log("out of memory");
		return -ENOMEM;
	}
	c->mask = n - 1;
	pthread_mutex_init(&c->lock, NULL);
	fs->dec = c;
	return 0;
}

void
decode_free(struct fs *fs)
{
	struct decode_cache *c = fs->dec;

	if (c == NULL)
		return;
	for (unsigned i = 0; i < DECODE_RECENT; i++)
		blt_value_buf_free(&c->recent[i].text);
	pthread_mutex_destroy(&c->lock);
	free(c->slot);
	free(c);
	fs->dec = NULL;
}

int
decode_readonly(const struct fs *fs)
{
	return fs->decode && !(fs->value_caps & BLT_VALUE_CAN_ENCODE);
}

/* The raw value of nodeid into *raw (stack, or *heap which the caller
 * frees), its length into *len; 0 with *len 0 for a file not stored. */
static int
decode_raw(struct fs *fs, uint64_t nodeid, unsigned char *stack,
    unsigned char **heap, const unsigned char **raw, size_t *len, int *missing)
{
	struct node_read r;
	ssize_t got, again;
	int rc;

	*heap = NULL;
	for (;;) {
		if ((rc = node_key(fs, nodeid, &r)) < 0)
			return rc;
		got = blt_get(fs->db, r.key, r.klen, stack, DECODE_STACK, NULL);
		*raw = stack;
		if (got > DECODE_STACK) {
			free(*heap);
			if ((*heap = malloc((size_t)got)) == NULL) {
				free(r.key);
				return -ENOMEM;
			}
			/* a map may change the value between the two */
			again = blt_get(
			    fs->db, r.key, r.klen, *heap, (size_t)got, NULL);
			*raw = *heap;
			if (again != got) {
				free(r.key);
				continue;
			}
		}
		if (node_read_again(fs, nodeid, &r, got < 0 ? (int)got : 0))
			continue;
		if ((*missing = got == -ENOENT && node_unstored(fs, nodeid)))
			got = 0;
		if (got < 0) {
			if (got != -ENOENT)
				fs_log("%s", blt_errmsg());
			free(*heap);
			*heap = NULL;
			return (int)got;
		}
		*len = (size_t)got;
		return 0;
	}
}

int
decode_get(struct fs *fs, uint64_t nodeid, struct blt_value_buf *text)
{
	unsigned char stack[DECODE_STACK], *heap;
	const unsigned char *raw;
	size_t len = 0;
	int rc, missing;

	if ((rc = decode_raw(fs, nodeid, stack, &heap, &raw, &len, &missing)) <
	    0)
		return rc;
	if (missing) {
		/* not stored yet: an empty file, as on a raw mount */
		text->len = 0;
		free(heap);
		return 0;
	}
	rc = blt_value_decode(fs->value_ser, raw, len, 0, text);
	free(heap);
	if (fs->dec != NULL)
		atomic_fetch_add(&fs->dec->decodes, 1);
	return rc == -ENOMEM ? rc : 0;
}

/* Keep the size of in's text; c->lock held. */
static void
decode_slot_put(
    struct decode_cache *c, const struct inode_info *in, uint64_t size)
{
	struct decode_slot *s = &c->slot[handle_hash(in->nodeid) & c->mask];

	s->nodeid = in->nodeid;
	s->gen = in->gen;
	s->aver = in->aver;
	s->size = size;
}

/* The recent text of in, or NULL; c->lock held. */
static struct decode_recent *
decode_recent_find(struct decode_cache *c, const struct inode_info *in)
{
	for (unsigned i = 0; i < DECODE_RECENT; i++) {
		struct decode_recent *r = &c->recent[i];

		if (r->nodeid == in->nodeid && r->gen == in->gen &&
		    r->aver == in->aver)
			return r;
	}
	return NULL;
}

/* Keep text (taken: *text is left empty) as in's recent one. */
static void
decode_recent_put(struct decode_cache *c, const struct inode_info *in,
    struct blt_value_buf *text)
{
	struct decode_recent *r;
	struct blt_value_buf old;

	pthread_mutex_lock(&c->lock);
	decode_slot_put(c, in, text->len);
	if (text->len > DECODE_RECENT_MAX || decode_recent_find(c, in)) {
		pthread_mutex_unlock(&c->lock);
		return;
	}
	r = &c->recent[c->next_recent++ % DECODE_RECENT];
	old = r->text;
	r->nodeid = in->nodeid;
	r->gen = in->gen;
	r->aver = in->aver;
	r->text = *text;
	pthread_mutex_unlock(&c->lock);
	*text = old;
}

int
decode_size(struct fs *fs, const struct inode_info *in, uint64_t *size)
{
	struct decode_cache *c = fs->dec;
	struct blt_value_buf text = {0};
	struct decode_slot *s;
	int rc;

	pthread_mutex_lock(&c->lock);
	s = &c->slot[handle_hash(in->nodeid) & c->mask];
	if (s->nodeid == in->nodeid && s->gen == in->gen &&
	    s->aver == in->aver) {
		*size = s->size;
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	pthread_mutex_unlock(&c->lock);
	/* in's aver was read before the value: a change meanwhile moves
	 * it, and what is kept here under the old one is never used */
	if ((rc = decode_get(fs, in->nodeid, &text)) == -ESTALE)
		rc = 0; /* removed meanwhile: empty, as ops_file_attr() */
	if (rc == 0) {
		*size = text.len;
		decode_recent_put(c, in, &text);
	}
	blt_value_buf_free(&text);
	return rc;
}

/* Copy up to n bytes at off of text into buf. */
static size_t
decode_copy(const struct blt_value_buf *text, void *buf, size_t n, uint64_t off)
{
	if (off >= text->len)
		return 0;
	if (n > text->len - off)
		n = (size_t)(text->len - off);
	memcpy(buf, text->data + off, n);
	return n;
}

/* in's text into text: a recent one, or decoded now. */
static int
decode_fill(
    struct fs *fs, const struct inode_info *in, struct blt_value_buf *text)
{
	struct decode_cache *c = fs->dec;
	struct decode_recent *r;
	int rc;

	pthread_mutex_lock(&c->lock);
	if ((r = decode_recent_find(c, in)) != NULL) {
		text->len = 0;
		if (r->text.len > text->cap) {
			void *p = realloc(text->data, r->text.len);

			if (p == NULL) {
				pthread_mutex_unlock(&c->lock);
				return -ENOMEM;
			}
			text->data = p;
			text->cap = r->text.len;
		}
		if (r->text.len)
			memcpy(text->data, r->text.data, r->text.len);
		text->len = r->text.len;
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	pthread_mutex_unlock(&c->lock);
	if ((rc = decode_get(fs, in->nodeid, text)) < 0)
		return rc;
	pthread_mutex_lock(&c->lock);
	decode_slot_put(c, in, text->len);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

ssize_t
decode_read(struct fs *fs, uint64_t nodeid, struct decode_text **dtp, void *buf,
    size_t n, uint64_t off)
{
	struct blt_value_buf tmp = {0};
	struct decode_text *dt;
	struct inode_info in;
	ssize_t got;
	int rc;

	if ((rc = inode_stat(fs->tree, nodeid, &in)) < 0 && rc != -ESTALE)
		return rc;
	if (dtp == NULL) {
		/* no open file to keep it (a read-only mount's reads may
		 * come without one): the recent texts are all there is */
		if ((rc = decode_fill(fs, &in, &tmp)) < 0)
			return rc;
		got = (ssize_t)decode_copy(&tmp, buf, n, off);
		decode_recent_put(fs->dec, &in, &tmp);
		blt_value_buf_free(&tmp);
		return got;
	}
	if ((dt = *dtp) == NULL)
		return -EIO; /* made with the handle (decode_text_new()) */
	pthread_mutex_lock(&dt->lock);
	if (!dt->valid || dt->gen != in.gen || dt->aver != in.aver) {
		dt->valid = 0;
		if ((rc = decode_fill(fs, &in, &dt->text)) < 0) {
			pthread_mutex_unlock(&dt->lock);
			return rc;
		}
		dt->valid = 1;
		dt->gen = in.gen;
		dt->aver = in.aver;
	}
	got = (ssize_t)decode_copy(&dt->text, buf, n, off);
	pthread_mutex_unlock(&dt->lock);
	return got;
}

struct decode_text *
decode_text_new(void)
{
	struct decode_text *dt = calloc(1, sizeof *dt);

	if (dt != NULL)
		pthread_mutex_init(&dt->lock, NULL);
	return dt;
}

void
decode_text_free(struct decode_text *dt)
{
	if (dt == NULL)
		return;
	blt_value_buf_free(&dt->text);
	pthread_mutex_destroy(&dt->lock);
	free(dt);
}

int
decode_unchanged(struct fs *fs, uint64_t nodeid, const void *text, size_t len)
{
	struct blt_value_buf now = {0};
	unsigned char *key;
	size_t klen;
	int rc, same;

	/* a file not stored yet is a change, whatever its text */
	if ((rc = inode_key(fs->tree, nodeid, &key, &klen)) < 0)
		return rc;
	rc = blt_exists(fs->db, key, klen);
	free(key);
	if (rc <= 0)
		return rc;
	if ((rc = decode_get(fs, nodeid, &now)) < 0) {
		blt_value_buf_free(&now);
		return rc;
	}
	same = now.len == len && (len == 0 || memcmp(now.data, text, len) == 0);
	blt_value_buf_free(&now);
	if (same)
		atomic_fetch_add(&fs->dec->unchanged, 1);
	return same;
}

/* Log that what was written to nodeid was not stored, and why
 * (blt_errmsg()), naming the file by its path in the mount. */
static void
decode_refused(struct fs *fs, uint64_t nodeid, const char *what)
{
	unsigned char *key;
	char *path = NULL;
	size_t klen, plen;

	if (inode_key(fs->tree, nodeid, &key, &klen) == 0) {
		(void)path_of_key(
		    inode_conf(fs->tree), key, klen, 0, &path, &plen);
		free(key);
	}
	fs_log("%s: %s not stored, as %s %s: %s",
	    path != NULL ? path : "(a removed file)", what,
	    blt_serializer_name(fs->value_ser),
	    fs->decode ? "cannot hold it" : "would not read it back",
	    blt_errmsg());
	free(path);
}

int
decode_encode(struct fs *fs, uint64_t nodeid, const void *text, size_t len,
    struct blt_value_buf *out)
{
	int rc;

	if ((rc = blt_value_encode(fs->value_ser, text, len, 0, out)) == 0)
		return 0;
	if (rc == -ENOTSUP)
		rc = -EINVAL; /* open refuses writes already: never here */
	if (rc != -EINVAL)
		return rc;
	atomic_fetch_add(&fs->dec->rejected, 1);
	decode_refused(fs, nodeid, "text");
	return rc;
}

int
decode_check_raw(struct fs *fs, uint64_t nodeid, const void *val, size_t len)
{
	int rc;

	if ((rc = blt_value_check(fs->value_ser, val, len)) == -EINVAL)
		decode_refused(fs, nodeid, "value");
	return rc;
}

void
decode_status_json(struct fs *fs, FILE *f)
{
	struct blt_stat st;
	const char *k, *v;

	(void)blt_info(fs->db, &st);
	k = blt_serializer_name(st.key_serializer);
	v = blt_serializer_name(fs->value_ser);
	fputs("  \"values\": {\"key_serializer\": ", f);
	json_put_str(f, k, strlen(k));
	fputs(", \"value_serializer\": ", f);
	json_put_str(f, v, strlen(v));
	fprintf(f,
	    ", \"decode\": %s, \"decoded\": %s, \"writable\": %s, "
	    "\"decodes\": %llu, \"unchanged_writes\": %llu, "
	    "\"rejected_writes\": %llu},\n",
	    fs->decode_asked ? "true" : "false", fs->decode ? "true" : "false",
	    decode_readonly(fs) ? "false" : "true",
	    fs->dec ? (unsigned long long)atomic_load(&fs->dec->decodes) : 0ULL,
	    fs->dec ? (unsigned long long)atomic_load(&fs->dec->unchanged)
	            : 0ULL,
	    fs->dec ? (unsigned long long)atomic_load(&fs->dec->rejected)
	            : 0ULL);
}
