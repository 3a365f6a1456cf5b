/*
 * map-keys.c: a list of keys for blt_map(), packed one after another, each
 * after its length as a LEB128 number: a key of 14 bytes costs 15, where a
 * block and a pointer and a length of its own cost 48.  The lists a map is
 * given grow with the store (every key of a mount of 100M keys), and are
 * only ever read from the first to the last.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bltmap.h"

/* Bytes a LEB128 length of a size_t takes at most. */
#define MAP_KEYS_LEN_MAX ((sizeof(size_t) * 8 + 6) / 7)

int
blt_map_keys_add(struct blt_map_keys *k, const void *key, size_t klen)
{
	size_t need = k->len + MAP_KEYS_LEN_MAX + klen, cap, v = klen;
	unsigned char *p;

	if (need > k->cap) {
		/* doubling: a big buffer grows by mremap, never copied */
		cap = k->cap ? k->cap : 256;
		while (cap < need)
			cap *= 2;
		if ((p = realloc(k->buf, cap)) == NULL)
			return -ENOMEM;
		k->buf = p;
		k->cap = cap;
	}
	p = k->buf + k->len;
	do {
		*p++ = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v != 0);
	if (klen > 0)
		memcpy(p, key, klen);
	k->len = (size_t)(p - k->buf) + klen;
	k->n++;
	return 0;
}

int
blt_map_keys_next(const struct blt_map_keys *k, size_t *at,
    const unsigned char **key, size_t *klen)
{
	size_t i = *at, v = 0;
	unsigned shift = 0;
	unsigned char c;

	if (i >= k->len)
		return 0;
	do { /* the list is ours: its lengths are whole and fit */
		c = k->buf[i++];
		v |= (size_t)(c & 0x7f) << shift;
		shift += 7;
	} while (c & 0x80);
	*key = k->buf + i;
	*klen = v;
	*at = i + v;
	return 1;
}

void
blt_map_keys_free(struct blt_map_keys *k)
{
	free(k->buf);
	memset(k, 0, sizeof *k);
}
