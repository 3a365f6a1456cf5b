/*
 * plugin_identity.c: the cheapest map plugin, for bench/bench_map.sh: it
 * leaves out as it came, so every value is written back unchanged.
 */
#include "config.h"

#include "booklet.h"
#include "bltmap.h"

int plugin_identity(const unsigned char *key, size_t klen,
    const unsigned char *value, size_t vlen, struct blt_map_out *out);

/* Write the value back as it is. */
int
plugin_identity(const unsigned char *key, size_t klen,
    const unsigned char *value, size_t vlen, struct blt_map_out *out)
{
	return 0;
}
