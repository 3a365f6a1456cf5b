/*
 * hash-lanes.c: the digests of several short keys at once.  A scan checks
 * the digest of every live block it returns (scan.c), and a mount's scan of
 * 10 million keys spent two thirds of its time in BLAKE2s, one key after
 * the other.  Keys are short — paths of a few dozen bytes, one 64-byte
 * block of BLAKE2s — so eight of them go through one compression side by
 * side, one key in each 32-bit lane of a vector: the same rounds, eight
 * digests.  Measured on the machine of doc/benchmarks.md: 260 ns a digest
 * through libb2, 100 ns in lanes of SSE2, 75 ns with AVX2.
 *
 * This is BLAKE2s (RFC 7693) for one final block, unkeyed, with the
 * parameter block of a 13-byte digest; tests/check_engine compares both
 * of its versions with libb2 on keys of 0 to 130 bytes.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "internal.h"

typedef uint32_t lanes __attribute__((vector_size(4 * HASH_LANES)));
_Static_assert(HASH_LANES == 8, "lanes_digest() fills eight lanes");

static const uint32_t blake2s_iv[8] = {0x6A09E667, 0xBB67AE85, 0x3C6EF372,
    0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19};

static const uint8_t blake2s_sigma[10][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4},
    {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13},
    {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11},
    {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5},
    {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
};

/* Word 0 of the parameter block: digest length, no key, fanout and depth
 * 1 (RFC 7693 §2.5). */
#define BLAKE2S_PARAM0 (0x01010000u | HASH_LEN)

#define ROTR(x, n) ((x) >> (n) | (x) << (32 - (n)))

#define G(a, b, c, d, x, y)                                                    \
	do {                                                                   \
		a += b + (x);                                                  \
		d = ROTR(d ^ a, 16);                                           \
		c += d;                                                        \
		b = ROTR(b ^ c, 12);                                           \
		a += b + (y);                                                  \
		d = ROTR(d ^ a, 8);                                            \
		c += d;                                                        \
		b = ROTR(b ^ c, 7);                                            \
	} while (0)

/* The first four words of the chaining value after the one and final
 * compression of message words m, t bytes long, in every lane.  Inlined
 * always, so that each compiled version of hash_digest_many() gets the
 * rounds in its own instructions. */
static inline __attribute__((always_inline)) void
lanes_compress(const lanes m[16], const lanes *t, lanes h[4])
{
	lanes v[16];

	for (int i = 0; i < 8; i++)
		v[i] = v[i + 8] = (lanes){0} + blake2s_iv[i];
	v[0] ^= BLAKE2S_PARAM0;
	v[12] ^= *t;
	v[14] = ~v[14]; /* the final block */
	for (int r = 0; r < 10; r++) {
		const uint8_t *s = blake2s_sigma[r];

		G(v[0], v[4], v[8], v[12], m[s[0]], m[s[1]]);
		G(v[1], v[5], v[9], v[13], m[s[2]], m[s[3]]);
		G(v[2], v[6], v[10], v[14], m[s[4]], m[s[5]]);
		G(v[3], v[7], v[11], v[15], m[s[6]], m[s[7]]);
		G(v[0], v[5], v[10], v[15], m[s[8]], m[s[9]]);
		G(v[1], v[6], v[11], v[12], m[s[10]], m[s[11]]);
		G(v[2], v[7], v[8], v[13], m[s[12]], m[s[13]]);
		G(v[3], v[4], v[9], v[14], m[s[14]], m[s[15]]);
	}
	h[0] = ((lanes){0} + (blake2s_iv[0] ^ BLAKE2S_PARAM0)) ^ v[0] ^ v[8];
	for (int i = 1; i < 4; i++)
		h[i] = ((lanes){0} + blake2s_iv[i]) ^ v[i] ^ v[i + 8];
}

/* Word i of key j's block. */
#define WORD(j, i) ((uint32_t)le_get(rows[j] + 4 * (i), 4))

/* The digests of n <= HASH_LANES keys: those of one block side by side,
 * longer ones one by one.  Inlined into a version for the machine's
 * baseline and one for AVX2, which hash_digest_many() picks. */
static inline __attribute__((always_inline)) void
lanes_digest(const unsigned char *const keys[], const size_t klens[], int n,
    unsigned char out[][HASH_LEN])
{
	unsigned char rows[HASH_LANES][64]; /* each key's block, zero-padded */
	lanes m[16], t = {0}, h[4];
	uint32_t words[4][HASH_LANES];
	int lane[HASH_LANES], used = 0;

	memset(rows, 0, sizeof rows);
	for (int j = 0; j < n && j < HASH_LANES; j++) {
		if (klens[j] > sizeof rows[0]) {
			hash_digest(keys[j], klens[j], out[j]);
			continue;
		}
		if (klens[j] > 0)
			memcpy(rows[used], keys[j], klens[j]);
		t[used] = (uint32_t)klens[j];
		lane[used++] = j;
	}
	if (used == 0)
		return;
	/* word i of every key into vector i, built from its eight words
	 * at once: stored lane by lane and loaded whole, the vector waited
	 * for the stores (a fifth of the time) */
	for (int i = 0; i < 16; i++)
		m[i] = (lanes){WORD(0, i), WORD(1, i), WORD(2, i), WORD(3, i),
		    WORD(4, i), WORD(5, i), WORD(6, i), WORD(7, i)};
	lanes_compress(m, &t, h);
	memcpy(words, h, sizeof words); /* once, not a lane at a time */
	for (int j = 0; j < used; j++) {
		unsigned char d[16];

		for (int i = 0; i < 4; i++)
			le_put(d + 4 * i, words[i][j], 4);
		memcpy(out[lane[j]], d, HASH_LEN);
	}
}

static void
digest_baseline(const unsigned char *const keys[], const size_t klens[], int n,
    unsigned char out[][HASH_LEN])
{
	lanes_digest(keys, klens, n, out);
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2"))) static void
digest_avx2(const unsigned char *const keys[], const size_t klens[], int n,
    unsigned char out[][HASH_LEN])
{
	lanes_digest(keys, klens, n, out);
}
#endif

/* The digests through the version for the machine's baseline (wide 0) or
 * for AVX2 (wide 1, if the machine has it): the tests compare both with
 * libb2.  Asking the processor costs a load of what libgcc read at start;
 * GCC's target_clones would choose at load time, but clang 14 leaves the
 * plain name undefined for callers in other files. */
void
hash_digest_lanes(int wide, const unsigned char *const keys[],
    const size_t klens[], int n, unsigned char out[][HASH_LEN])
{
#if defined(__x86_64__) && defined(__GNUC__)
	if (wide && __builtin_cpu_supports("avx2")) {
		digest_avx2(keys, klens, n, out);
		return;
	}
#endif
	(void)wide;
	digest_baseline(keys, klens, n, out);
}

/* The digests of n <= HASH_LANES keys, the widest way the machine has. */
void
hash_digest_many(const unsigned char *const keys[], const size_t klens[], int n,
    unsigned char out[][HASH_LEN])
{
	hash_digest_lanes(1, keys, klens, n, out);
}
