/*
 * plugin_test.c: map plugins for tests/check_map.c, built as
 * tests/plugin_test.so.  Each is a blt_map_fn.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "booklet.h"
#include "bltmap.h"

int plugin_upper(const unsigned char *key, size_t klen,
    const unsigned char *value, size_t vlen, struct blt_map_out *out);
int plugin_crash(const unsigned char *key, size_t klen,
    const unsigned char *value, size_t vlen, struct blt_map_out *out);
int plugin_verdict(const unsigned char *key, size_t klen,
    const unsigned char *value, size_t vlen, struct blt_map_out *out);
int plugin_reverse(const unsigned char *key, size_t klen,
    const unsigned char *value, size_t vlen, struct blt_map_out *out);
int plugin_stdout(const unsigned char *key, size_t klen,
    const unsigned char *value, size_t vlen, struct blt_map_out *out);
int plugin_garble(const unsigned char *key, size_t klen,
    const unsigned char *value, size_t vlen, struct blt_map_out *out);

/* Does key contain word? */
static int
plugin_has(const unsigned char *key, size_t klen, const char *word)
{
	size_t n = strlen(word);

	for (size_t i = 0; i + n <= klen; i++)
		if (memcmp(key + i, word, n) == 0)
			return 1;
	return 0;
}

/* The value in capitals, in a buffer kept from call to call. */
int
plugin_upper(const unsigned char *key, size_t klen, const unsigned char *value,
    size_t vlen, struct blt_map_out *out)
{
	static unsigned char *buf;
	static size_t cap;

	if (vlen > cap) {
		unsigned char *p = realloc(buf, vlen);

		if (p == NULL)
			return -ENOMEM;
		buf = p;
		cap = vlen;
	}
	for (size_t i = 0; i < vlen; i++)
		buf[i] = value[i] >= 'a' && value[i] <= 'z' ? value[i] - 32
		                                            : value[i];
	out->value = buf;
	out->vlen = vlen;
	return 0;
}

/* As plugin_upper, but a key containing "crash" kills the worker. */
int
plugin_crash(const unsigned char *key, size_t klen, const unsigned char *value,
    size_t vlen, struct blt_map_out *out)
{
	if (plugin_has(key, klen, "crash"))
		raise(SIGSEGV);
	return plugin_upper(key, klen, value, vlen, out);
}

/* Keys containing "skip" are skipped, "err" fail with a message, the rest
 * are written unchanged (out is left as it came). */
int
plugin_verdict(const unsigned char *key, size_t klen,
    const unsigned char *value, size_t vlen, struct blt_map_out *out)
{
	if (plugin_has(key, klen, "skip"))
		return BLT_MAP_SKIP;
	if (plugin_has(key, klen, "err")) {
		strcpy(out->err, "refused by plugin_verdict");
		return -EIO;
	}
	return 0;
}

/* The value reversed, in a malloc'd block handed over with to_free. */
int
plugin_reverse(const unsigned char *key, size_t klen,
    const unsigned char *value, size_t vlen, struct blt_map_out *out)
{
	unsigned char *p = malloc(vlen ? vlen : 1);

	if (p == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < vlen; i++)
		p[i] = value[vlen - 1 - i];
	out->value = p;
	out->vlen = vlen;
	out->to_free = p;
	return 0;
}

/* As plugin_upper, but prints to stdout on keys containing "stray5" (5
 * bytes) and "stray3" (3 bytes): a stdout shared with the worker's replies
 * would make of them a header with a wild length. */
int
plugin_stdout(const unsigned char *key, size_t klen, const unsigned char *value,
    size_t vlen, struct blt_map_out *out)
{
	if (plugin_has(key, klen, "stray5"))
		printf("stray");
	if (plugin_has(key, klen, "stray3"))
		printf("abc");
	fflush(stdout);
	return plugin_upper(key, klen, value, vlen, out);
}

/* Write a header of n items, code 0 and blen bytes to fd. */
static void
plugin_header(int fd, uint32_t n, uint64_t blen)
{
	unsigned char h[16] = {0};

	for (int i = 0; i < 4; i++)
		h[i] = (unsigned char)(n >> 8 * i);
	for (int i = 0; i < 8; i++)
		h[8 + i] = (unsigned char)(blen >> 8 * i);
	if (write(fd, h, sizeof h) != (ssize_t)sizeof h)
		abort();
}

/* As plugin_upper, but on keys containing "garble" breaks the protocol as
 * a broken worker could: it writes to fd 3, the worker's socket to its
 * parent (MAP_SOCK_FD), junk ("garble-junk"), a header that claims a body
 * too big for one item ("garble-huge"), or one whose length the outcomes
 * that follow do not fill ("garble-short"): none may make the parent
 * allocate or wait for what never comes. */
int
plugin_garble(const unsigned char *key, size_t klen, const unsigned char *value,
    size_t vlen, struct blt_map_out *out)
{
	if (plugin_has(key, klen, "garble-junk") && write(3, "stray", 5) != 5)
		abort();
	if (plugin_has(key, klen, "garble-huge"))
		plugin_header(3, 1, UINT64_C(1) << 40);
	if (plugin_has(key, klen, "garble-short"))
		plugin_header(3, 1, UINT64_C(1) << 28);
	return plugin_upper(key, klen, value, vlen, out);
}
