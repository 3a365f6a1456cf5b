/*
 * hash.c: key digests and bucket selection (§3), and the three internal
 * keys (§6.3) that scans hide and counts leave out.
 */
#include "config.h"

#include <blake2.h>
#include <pthread.h>

#include "internal.h"

const char *const hash_internal_keys[3] = {
    "adb01ebc1ba3433eb043527", /* metadata */
    "7c40d2ea915b4f3a8e6d201", /* reserved slot 1 */
    "f19a5c3d7e2b48069ab34c5", /* reserved slot 2 */
};

/* A BLAKE2s state set up for 13-byte digests, copied for every hash: the
 * parameter block is the same each time, and setting it up is a third of
 * the cost of hashing a short key. */
static blake2s_state hash_initial;
static pthread_once_t hash_once = PTHREAD_ONCE_INIT;

static void
hash_setup(void)
{
	blake2s_init(&hash_initial, HASH_LEN);
}

/* BLAKE2s with a 13-byte output over the serialized key (§3). */
void
hash_digest(const void *key, size_t klen, unsigned char out[HASH_LEN])
{
	blake2s_state st;

	pthread_once(&hash_once, hash_setup);
	st = hash_initial;
	if (klen > 0)
		blake2s_update(&st, key, klen);
	blake2s_final(&st, out, HASH_LEN);
}

/* The digest as a 104-bit little-endian integer, modulo n (§3): one
 * 128-bit division instead of the byte-at-a-time reduction. */
uint32_t
hash_bucket(const unsigned char d[HASH_LEN], uint32_t n)
{
	__extension__ typedef unsigned __int128 u128;
	u128 x = (u128)le_get(d + 8, HASH_LEN - 8) << 64 | le_get(d, 8);

	return (uint32_t)(x % n);
}

/* 1 when key is the metadata key or a reserved slot's key. */
int
hash_internal_key(const void *key, size_t klen)
{
	if (klen != INTERNAL_KEY_LEN)
		return 0;
	for (int i = 0; i < 3; i++)
		if (memcmp(key, hash_internal_keys[i], INTERNAL_KEY_LEN) == 0)
			return 1;
	return 0;
}
