/*
 * Keys as paths: the mapping between a key's bytes and the names of the
 * path it is listed under, and back (doc/keys.md is the user's view).
 *
 * A key is cut at '/' into segments (not with -o flat, nor for integer
 * keys, where the whole key is one segment).  Each segment is encoded on
 * its own: bytes stand for themselves except NUL and '/' (flat mounts
 * only), which become PATH_ESC followed by two upper-case hex digits.  The
 * escape character U+201B stands for itself too, unless a reader could
 * take it for an escape (path_esc_escaped()); then each of its three bytes
 * is escaped.  A segment that is empty, "." or "..", or that
 * equals the control directory's name in the root, is escaped as a whole
 * (PATH_ESC alone; its first byte escaped).  An encoded segment longer
 * than PATH_NAME_MAX is cut into pieces of at most 251 bytes, each ending
 * in PATH_ESC "+", that are listed as directories holding the rest: the cut
 * never splits an escape or a UTF-8 character, so every piece displays.
 *
 * Nothing here depends on other keys; the clash of a file and a directory
 * of the same path is settled by inode-change.c (the file becomes PATH_SELF
 * inside the directory).  Decoding turns a name back into bytes; whether the
 * name is the canonical one for its place is checked by encoding the resulting
 * key again (inode_child_key()), which is what makes the mapping a
 * bijection.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bltfs.h"
#include "booklet.h"
#include "index.h"

#define PATH_CONT_SUFFIX PATH_ESC "+"
#define PATH_CONT_SUFFIX_LEN 4
/* Body bytes of a continuation piece: room is left for its suffix. */
#define PATH_PIECE_MAX (PATH_NAME_MAX - PATH_CONT_SUFFIX_LEN)
/* Encoded length of one escaped byte. */
#define PATH_XLEN (PATH_ESC_LEN + 2)

/* How the current segment is encoded. */
#define PATH_MODE_PLAIN 0   /* bytes, escaping only what must be */
#define PATH_MODE_FIRST 1   /* as plain, with the first byte escaped too */
#define PATH_MODE_ALL 2     /* every byte escaped (odd integer keys) */
#define PATH_MODE_DECIMAL 3 /* an integer key, in decimal */
#define PATH_MODE_EMPTY 4   /* the empty segment */

static const char path_hex[] = "0123456789ABCDEF";

/* Set up pc for a store with key serializer key_ser. */
int
path_conf_init(
    struct path_conf *pc, unsigned key_ser, int flat, const char *ctl)
{
	size_t len;

	memset(pc, 0, sizeof *pc);
	pc->key_ser = key_ser;
	pc->flat = flat != 0;
	pc->int_width = blt_int_key_width(key_ser, &pc->int_signed);
	if (pc->int_width != 0)
		pc->flat = 1;
	if (ctl == NULL)
		ctl = BLTFS_CTL_NAME;
	len = strlen(ctl);
	/* The control directory must be an ordinary name, or it could not
	 * be told from the names of keys. */
	if (len == 0 || len > 64 || strchr(ctl, '/') != NULL ||
	    strcmp(ctl, ".") == 0 || strcmp(ctl, "..") == 0 ||
	    strstr(ctl, PATH_ESC) != NULL)
		return blt_errmsg_set(-EINVAL,
		    "ctl=%s: the control directory needs a plain name of 1 "
		    "to 64 bytes without '/' or U+201B, not . or ..",
		    ctl);
	memcpy(pc->ctl, ctl, len + 1);
	pc->ctl_len = len;
	return 0;
}

int
path_may_be_marker(const struct path_conf *pc, const void *key, size_t klen)
{
	return !pc->flat && klen > 0 &&
	       ((const unsigned char *)key)[klen - 1] == '/';
}

/* 1 if the key is a directory marker: an empty value, as bltfs wrote them
 * before their values were ones the store's serializer reads back, or one
 * of the length of the mount's markers (doc/keys.md). */
int
path_is_marker(
    const struct path_conf *pc, const void *key, size_t klen, uint64_t vlen)
{
	return path_may_be_marker(pc, key, klen) &&
	       (vlen == 0 || (pc->marker_len > 0 && vlen == pc->marker_len));
}

/* Length of a structurally valid UTF-8 sequence at p (at most n bytes),
 * or 1 for a byte that starts none: it is only used to keep characters
 * whole when a long segment is cut. */
static size_t
path_utf8_len(const unsigned char *p, size_t n)
{
	size_t len, i;

	if (p[0] < 0xc2 || p[0] > 0xf4)
		return 1;
	len = p[0] < 0xe0 ? 2 : p[0] < 0xf0 ? 3 : 4;
	if (len > n)
		return 1;
	for (i = 1; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 1;
	return len;
}

/* 1 if the escape character starts at p (n bytes left). */
static int
path_is_esc(const unsigned char *p, size_t n)
{
	return n >= PATH_ESC_LEN && memcmp(p, PATH_ESC, PATH_ESC_LEN) == 0;
}

static int
path_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Whether the escape character at p (n bytes left in the segment, first:
 * at its start) is written escaped: where path_decode_name() would read
 * it as the start of an escape, that is, before two upper-case hex digits
 * or '+', at the end of the segment, or as the name of a directory's own
 * key ("‛.").  Anywhere else it is itself, so that names such as rsync's
 * temporary ".‛.XXXXXX" and "it‛s" can be created as they are. */
static int
path_esc_escaped(const unsigned char *p, size_t n, int first)
{
	const unsigned char *a = p + PATH_ESC_LEN;
	size_t left = n - PATH_ESC_LEN;

	return left == 0 || a[0] == '+' ||
	       (left >= 2 && path_hexval(a[0]) >= 0 &&
	           path_hexval(a[1]) >= 0) ||
	       (first && left == 1 && a[0] == '.');
}

/* The next atom of the segment at p (n bytes left, first: at the start of
 * the segment): the raw bytes it takes (*raw) and its encoded length. */
static size_t
path_atom(const struct path_walk *w, const unsigned char *p, size_t n,
    int first, size_t *raw)
{
	int mode = w->mode;

	if (mode == PATH_MODE_ALL || (mode == PATH_MODE_FIRST && first) ||
	    p[0] == '\0' || p[0] == '/') {
		*raw = 1;
		return PATH_XLEN;
	}
	if (path_is_esc(p, n)) {
		*raw = PATH_ESC_LEN;
		return path_esc_escaped(p, n, first) ? PATH_ESC_LEN * PATH_XLEN
		                                     : PATH_ESC_LEN;
	}
	*raw = path_utf8_len(p, n);
	return *raw;
}

/* Append the encoding of raw bytes p (as one atom) to w->name. */
static void
path_put_atom(
    struct path_walk *w, const unsigned char *p, size_t raw, size_t elen)
{
	size_t i;

	if (elen == raw) {
		memcpy(w->name + w->nlen, p, raw);
		w->nlen += raw;
		return;
	}
	for (i = 0; i < raw; i++) {
		memcpy(w->name + w->nlen, PATH_ESC, PATH_ESC_LEN);
		w->name[w->nlen + PATH_ESC_LEN] = path_hex[p[i] >> 4];
		w->name[w->nlen + PATH_ESC_LEN + 1] = path_hex[p[i] & 15];
		w->nlen += PATH_XLEN;
	}
}

/* The decimal form of an integer key of the store's width. */
static size_t
path_decimal(const struct path_conf *pc, const unsigned char *key, char *out)
{
	uint64_t u = 0;
	int i;

	for (i = pc->int_width - 1; i >= 0; i--)
		u = u << 8 | key[i];
	if (pc->int_signed && pc->int_width < 8 &&
	    (u >> (pc->int_width * 8 - 1)) != 0)
		u |= ~UINT64_C(0) << (pc->int_width * 8);
	if (pc->int_signed)
		return (size_t)sprintf(out, "%" PRId64, (int64_t)u);
	return (size_t)sprintf(out, "%" PRIu64, u);
}

/* Whether the segment s of n bytes, depth segments into its key, has its
 * first byte escaped: ".", "..", and the control directory's name in the
 * root. */
static int
path_first_escaped(
    const struct path_conf *pc, const unsigned char *s, size_t n, int depth)
{
	return (n == 1 && s[0] == '.') ||
	       (n == 2 && s[0] == '.' && s[1] == '.') ||
	       (depth == 0 && path_is_ctl(pc, (const char *)s, n));
}

/* Choose how the segment [w->seg, w->seg_end) is encoded and measure it. */
static void
path_segment_start(struct path_walk *w)
{
	const struct path_conf *pc = w->pc;
	const unsigned char *s = w->key + w->seg;
	size_t n = w->seg_end - w->seg, pos;
	char dec[32];

	w->pos = w->seg;
	w->mode = PATH_MODE_PLAIN;
	if (pc->int_width != 0) {
		w->mode = PATH_MODE_ALL;
		if (n == (size_t)pc->int_width) {
			size_t dlen = path_decimal(pc, s, dec);

			if (dlen != pc->ctl_len || memcmp(dec, pc->ctl, dlen))
				w->mode = PATH_MODE_DECIMAL;
		}
	} else if (path_first_escaped(pc, s, n, w->depth))
		w->mode = PATH_MODE_FIRST;
	if (n == 0)
		w->mode = PATH_MODE_EMPTY;
	switch (w->mode) {
	case PATH_MODE_EMPTY:
		w->left = PATH_ESC_LEN;
		return;
	case PATH_MODE_DECIMAL:
		w->left = path_decimal(pc, s, dec);
		return;
	case PATH_MODE_ALL:
		w->left = n * PATH_XLEN;
		return;
	}
	/* the same sum as over path_atom(), without minding characters,
	 * which only matter where a long segment is cut */
	w->left = w->mode == PATH_MODE_FIRST ? PATH_XLEN - 1 : 0;
	for (pos = 0; pos < n; pos++) {
		if (s[pos] == '\0' || s[pos] == '/')
			w->left += PATH_XLEN;
		else if (s[pos] == 0xe2 && path_is_esc(s + pos, n - pos)) {
			w->left += path_esc_escaped(s + pos, n - pos, pos == 0)
			               ? PATH_ESC_LEN * PATH_XLEN
			               : PATH_ESC_LEN;
			pos += PATH_ESC_LEN - 1;
		} else
			w->left++;
	}
}

/* Start walking the path of key. */
void
path_walk_start(struct path_walk *w, const struct path_conf *pc,
    const void *key, size_t klen, int marker)
{
	memset(w, 0, offsetof(struct path_walk, name));
	w->pc = pc;
	w->key = key;
	w->klen = klen;
	w->end = marker && klen > 0 ? klen - 1 : klen;
	w->marker = marker && klen > 0;
	w->name[0] = '\0';
	w->left = 0;
	w->seg = 0;
	w->seg_end = (size_t)-1; /* no segment started yet */
}

/* The length of the segment at s (up to its '/' or the end, n bytes),
 * if the walk's name for it would be its bytes as they are: no byte to
 * escape, not the empty, ".", ".." or control name, short enough to be one
 * name.  0 when it is not, or when only the walk can tell (U+201B's first
 * byte, integer keys).  Most keys' segments are such: a bulk build takes
 * them straight from the key, where path_walk_next() would copy them out
 * a byte at a time after measuring them twice. */
size_t
path_plain_segment(
    const struct path_conf *pc, const void *s, size_t n, int depth)
{
	const unsigned char *b = s;
	size_t i;

	if (pc->int_width != 0)
		return 0;
	if (n > PATH_NAME_MAX + 1)
		n = PATH_NAME_MAX + 1; /* enough to see it is too long */
	for (i = 0; i < n; i++) {
		if (b[i] == '/') {
			if (pc->flat)
				return 0;
			break;
		}
		if (b[i] == '\0' || b[i] == 0xe2)
			return 0;
	}
	if (i == 0 || i > PATH_NAME_MAX || path_first_escaped(pc, b, i, depth))
		return 0;
	return i;
}

/* The next component of the walk. */
int
path_walk_next(struct path_walk *w)
{
	const unsigned char *end;
	size_t raw, elen;
	int last;

	if (w->done)
		return 0;
	if (w->seg_end == (size_t)-1) {
		/* a new segment: up to the next '/' or the end */
		end = NULL;
		if (!w->pc->flat)
			end = memchr(w->key + w->seg, '/', w->end - w->seg);
		w->seg_end = end != NULL ? (size_t)(end - w->key) : w->end;
		path_segment_start(w);
	}
	last = w->seg_end == w->end;
	w->nlen = 0;
	if (w->left > PATH_NAME_MAX) {
		/* a continuation piece, cut between atoms */
		while (w->pos < w->seg_end) {
			elen = path_atom(w, w->key + w->pos,
			    w->seg_end - w->pos, w->pos == w->seg, &raw);
			if (w->nlen + elen > PATH_PIECE_MAX)
				break;
			path_put_atom(w, w->key + w->pos, raw, elen);
			w->pos += raw;
			w->left -= elen;
		}
		memcpy(
		    w->name + w->nlen, PATH_CONT_SUFFIX, PATH_CONT_SUFFIX_LEN);
		w->nlen += PATH_CONT_SUFFIX_LEN;
		w->name[w->nlen] = '\0';
		w->kind = PATH_CONT;
		return 1;
	}
	switch (w->mode) {
	case PATH_MODE_EMPTY:
		memcpy(w->name, PATH_ESC, PATH_ESC_LEN);
		w->nlen = PATH_ESC_LEN;
		break;
	case PATH_MODE_DECIMAL:
		w->nlen = path_decimal(w->pc, w->key + w->seg, w->name);
		break;
	default:
		if (w->left == w->seg_end - w->pos) {
			/* nothing to escape */
			memcpy(w->name, w->key + w->pos, w->left);
			w->nlen = w->left;
			w->pos = w->seg_end;
			break;
		}
		while (w->pos < w->seg_end) {
			elen = path_atom(w, w->key + w->pos,
			    w->seg_end - w->pos, w->pos == w->seg, &raw);
			path_put_atom(w, w->key + w->pos, raw, elen);
			w->pos += raw;
		}
	}
	w->name[w->nlen] = '\0';
	w->kind = last && !w->marker ? PATH_LEAF : PATH_DIR;
	w->depth++;
	if (last)
		w->done = 1;
	else
		w->seg = w->seg_end + 1;
	w->seg_end = (size_t)-1;
	return 1;
}

/* Parse a decimal integer key name into its little-endian bytes. */
static ssize_t
path_decode_decimal(const struct path_conf *pc, const char *name, size_t nlen,
    unsigned char *out)
{
	int neg = 0, bits = pc->int_width * 8, i;
	uint64_t v = 0, limit;
	size_t p = 0;

	if (nlen > 0 && name[0] == '-' && pc->int_signed) {
		neg = 1;
		p = 1;
	}
	if (p == nlen || nlen > 21)
		goto bad;
	if (name[p] == '0' && (nlen - p > 1 || neg))
		goto bad; /* leading zeros and -0 are not canonical */
	if (pc->int_signed)
		limit = (UINT64_C(1) << (bits - 1)) - 1 + (uint64_t)neg;
	else
		limit = bits == 64 ? ~UINT64_C(0) : (UINT64_C(1) << bits) - 1;
	for (; p < nlen; p++) {
		unsigned d = (unsigned char)name[p] - '0';

		if (d > 9 || v > (limit - d) / 10)
			goto bad;
		v = v * 10 + d;
	}
	if (neg)
		v = -v;
	for (i = 0; i < pc->int_width; i++)
		out[i] = (unsigned char)(v >> (8 * i));
	return pc->int_width;
bad:
	return blt_errmsg_set(-EINVAL,
	    "'%.*s': not a canonical decimal in range for %sint%d keys",
	    (int)nlen, name, pc->int_signed ? "" : "u", pc->int_width);
}

/* Decode one name into raw key bytes. */
ssize_t
path_decode_name(const struct path_conf *pc, const char *name, size_t nlen,
    unsigned char *out, int *kind)
{
	const unsigned char *p = (const unsigned char *)name;
	size_t i, o = 0;

	*kind = PATH_LEAF;
	if (nlen == 0 || nlen > PATH_NAME_MAX)
		return blt_errmsg_set(nlen ? -ENAMETOOLONG : -EINVAL,
		    "a name of %zu bytes", nlen);
	if (memchr(name, '\0', nlen) || memchr(name, '/', nlen))
		return blt_errmsg_set(
		    -EINVAL, "'%.*s': NUL or '/' in a name", (int)nlen, name);
	if (nlen == PATH_SELF_LEN && memcmp(name, PATH_SELF, nlen) == 0) {
		if (pc->flat)
			return blt_errmsg_set(-EINVAL,
			    "'%s' names a directory's own key, and a flat "
			    "mount has no directories",
			    PATH_SELF);
		*kind = 0;
		return 0;
	}
	if (nlen == PATH_ESC_LEN && memcmp(name, PATH_ESC, nlen) == 0)
		return 0; /* the empty segment */
	if (path_is_piece(name, nlen)) {
		*kind = PATH_CONT;
		nlen -= PATH_CONT_SUFFIX_LEN;
	}
	if (pc->int_width != 0 && *kind == PATH_LEAF &&
	    memchr(name, 0xe2, nlen) == NULL)
		return path_decode_decimal(pc, name, nlen, out);
	if (memchr(name, 0xe2, nlen) == NULL) {
		memcpy(out, name, nlen);
		return (ssize_t)nlen;
	}
	for (i = 0; i < nlen;) {
		/* not before two hex digits: the character itself, which
		 * the caller's check finds escaped where it must be */
		if (!path_is_esc(p + i, nlen - i) || nlen - i < PATH_XLEN ||
		    path_hexval(p[i + 3]) < 0 || path_hexval(p[i + 4]) < 0) {
			out[o++] = p[i++];
			continue;
		}
		out[o++] = (unsigned char)(path_hexval(p[i + 3]) << 4 |
		                           path_hexval(p[i + 4]));
		i += PATH_XLEN;
	}
	return (ssize_t)o;
}

/* Does name end in U+201B '+', the mark of a piece of a long segment? */
int
path_is_piece(const char *name, size_t nlen)
{
	return nlen > PATH_CONT_SUFFIX_LEN &&
	       memcmp(name + nlen - PATH_CONT_SUFFIX_LEN, PATH_CONT_SUFFIX,
	           PATH_CONT_SUFFIX_LEN) == 0;
}

/* Is name (len bytes) the control directory's name? */
int
path_is_ctl(const struct path_conf *pc, const char *name, size_t len)
{
	return pc->ctl_len > 0 && len == pc->ctl_len &&
	       memcmp(name, pc->ctl, len) == 0;
}

/* The whole path of key, for messages, tests and the ctl interface. */
int
path_of_key(const struct path_conf *pc, const void *key, size_t klen,
    int marker, char **out, size_t *len)
{
	struct path_walk w;
	char *buf = NULL, *nbuf;
	size_t n = 0, cap = 0;

	path_walk_start(&w, pc, key, klen, marker);
	while (path_walk_next(&w)) {
		if (n + w.nlen + 2 > cap) {
			cap = (n + w.nlen + 2) * 2;
			if ((nbuf = realloc(buf, cap)) == NULL) {
				free(buf);
				return blt_errmsg_set(-ENOMEM, "out of memory");
			}
			buf = nbuf;
		}
		if (n > 0)
			buf[n++] = '/';
		memcpy(buf + n, w.name, w.nlen);
		n += w.nlen;
	}
	if (buf == NULL && (buf = malloc(1)) == NULL)
		return blt_errmsg_set(-ENOMEM, "out of memory");
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}
