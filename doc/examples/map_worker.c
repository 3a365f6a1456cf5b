/*
 * map_worker.c: a map worker in C for `blt map --worker` (doc/map.md, "The
 * worker protocol"): it upper-cases each value's ASCII letters and skips
 * empty values; with -i it gives each value back as it is.
 *
 *   cc -O2 -o map_worker map_worker.c
 *   blt map --worker ./map_worker --workers 2 STORE
 *
 * It reads what its stdin has (up to 1 MiB at a time), answers every
 * whole item in it into one buffer and writes that buffer before it reads
 * again: replies in the order of the items, each naming its item's id,
 * and never a read while replies wait in a buffer (the store may be
 * waiting for them).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK (1 << 20)

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

/* Read exactly n bytes, or exit. */
static void
read_full(unsigned char *p, size_t n)
{
	ssize_t r;

	for (; n > 0; p += r, n -= (size_t)r)
		if ((r = read(0, p, n)) <= 0)
			exit(r == 0 ? 0 : 1);
}

static void
write_full(const unsigned char *p, size_t n)
{
	ssize_t r;

	for (; n > 0; p += r, n -= (size_t)r)
		if ((r = write(1, p, n)) <= 0)
			exit(1);
}

/* Make room for n more bytes at the end of *buf. */
static unsigned char *
room(unsigned char **buf, size_t *cap, size_t len, size_t n)
{
	if (len + n > *cap) {
		while (len + n > *cap)
			*cap = *cap ? *cap * 2 : CHUNK;
		if ((*buf = realloc(*buf, *cap)) == NULL)
			exit(1);
	}
	return *buf + len;
}

int
main(int argc, char **argv)
{
	int identity = argc > 1 && strcmp(argv[1], "-i") == 0;
	unsigned char h[12], *in = NULL, *out = NULL, *p;
	size_t in_len = 0, in_cap = 0, out_cap = 0, out_len, off;
	ssize_t r;

	/* The store's hello: "BLTM", version, the header's length; the
	 * header (the serializers, ...) is not needed here. */
	read_full(h, 12);
	if (memcmp(h, "BLTM", 4) != 0 || get32(h + 4) != 2)
		return 1;
	for (uint32_t n = get32(h + 8); n > 0; n--)
		read_full(h, 1);
	/* Ours: "BLTW", version 2, and a name. */
	memcpy(h, "BLTW", 4);
	put32(h + 4, 2);
	put32(h + 8, 10);
	write_full(h, 12);
	write_full((const unsigned char *)"map_worker", 10);
	for (;;) {
		room(&in, &in_cap, in_len, CHUNK);
		if ((r = read(0, in + in_len, CHUNK)) <= 0) {
			free(in); /* the end of the map: we are done */
			free(out);
			return r == 0 ? 0 : 1;
		}
		in_len += (size_t)r;
		out_len = 0;
		/* an item: id, key length, value length, key, value */
		for (off = 0; in_len - off >= 12;) {
			uint32_t id = get32(in + off),
			         klen = get32(in + off + 4),
			         vlen = get32(in + off + 8);
			unsigned char *v = in + off + 12 + klen;

			if (in_len - off - 12 < (size_t)klen + vlen)
				break; /* not whole yet */
			off += 12 + (size_t)klen + vlen;
			/* a reply: the item's id, kind, key length, value
			 * length, key, value */
			p = room(&out, &out_cap, out_len, 16 + vlen);
			put32(p, id);
			if (vlen == 0 && !identity) {
				put32(p + 4, 1); /* skip */
				put32(p + 8, 0);
				put32(p + 12, 0);
				out_len += 16;
				continue;
			}
			put32(p + 4, 3); /* a value for the same key */
			put32(p + 8, 0);
			put32(p + 12, vlen);
			for (uint32_t i = 0; i < vlen; i++)
				p[16 + i] =
				    !identity && v[i] >= 'a' && v[i] <= 'z'
				        ? (unsigned char)(v[i] - 32)
				        : v[i];
			out_len += 16 + vlen;
		}
		memmove(in, in + off, in_len - off);
		in_len -= off;
		write_full(out, out_len);
	}
}
