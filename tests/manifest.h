/*
 * Test support: the reference fixtures' JSON manifests (see
 * /work/shared/fixtures/README.md) and SHA-256.
 *
 * manifest.c parses a manifest into a struct manifest whose items are sorted
 * by raw key bytes and decoded from hex, checking on the way that the
 * manifest is self-consistent (n_keys, value lengths and digests, the
 * timestamp flag), so that a suite comparing a store with it compares with
 * what the reference wrote and not with a misread file.  sha256.c hashes
 * values, since manifests give only a digest for values of 4096 bytes and
 * more.
 *
 * Failures return a negative errno and leave one line naming the file and
 * the cause in blt_errmsg(), as the engine does.
 */
#ifndef MANIFEST_H
#define MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "bltutil.h" /* json_parse(), the reader manifests are parsed with */

/* sha256.c */
#define SHA256_LEN 32

struct sha256 {
	uint32_t h[8];
	uint64_t len;
	unsigned char buf[64];
	size_t fill;
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t n);
void sha256_final(struct sha256 *s, unsigned char out[SHA256_LEN]);
void sha256(const void *data, size_t n, unsigned char out[SHA256_LEN]);

/* manifest.c: manifests */
#define MANIFEST_NO_TS INT64_C(-1) /* timestamp_us null: no timestamps */

struct manifest_item {
	const char *key_hex; /* as in the manifest (borrowed from the tree) */
	unsigned char *key;
	size_t klen;
	unsigned char *value; /* NULL when only the digest is given */
	uint64_t value_len;
	unsigned char sha256[SHA256_LEN];
	int64_t timestamp; /* µs, or MANIFEST_NO_TS */
};

/* The "layout" section: for information, as the reference read the file. */
struct manifest_layout {
	unsigned format_version;
	uint32_t n_buckets;
	uint64_t header_n_keys;
	uint64_t index_offset; /* effective values ... */
	uint64_t first_data;
	uint64_t index_offset_raw; /* ... and as stored */
	uint64_t first_data_raw;
	uint64_t file_size;
	int64_t file_timestamp; /* µs */
	unsigned char uuid[16];
};

struct manifest {
	char *path;       /* the manifest's own path */
	const char *file; /* the .blt file's name, e.g. "fixed.blt" */
	uint64_t n_keys;
	int fixed;                    /* 1 for "fixed" */
	uint32_t value_len;           /* fixed stores; 0 otherwise */
	const char *key_serializer;   /* name, or NULL for null */
	const char *value_serializer; /* name, or NULL for null */
	unsigned key_serializer_code;
	unsigned value_serializer_code;
	int timestamps;
	const struct json *metadata; /* NULL when null */
	int reserved_set[2];         /* slots 1 and 2 */
	unsigned char *reserved[2];
	size_t reserved_len[2];
	struct manifest_layout layout;
	size_t n_items; /* sorted by raw key bytes, keys unique */
	struct manifest_item *items;
	struct json *root; /* the whole document */
};

/* Read and check the manifest at path.  On success the caller owns *out;
 * see manifest_free().  Errors: the errno of a failed read, -EBADMSG (not
 * JSON, or a field missing, of the wrong type or inconsistent: the message
 * names it), -ENOMEM. */
int manifest_load(const char *path, struct manifest **out);

/* Free a manifest; safe on NULL. */
void manifest_free(struct manifest *m);

/* The item with key key, or NULL; borrowed from m. */
const struct manifest_item *manifest_find(
    const struct manifest *m, const void *key, size_t klen);

/* Decode 2n hex digits at hex into n bytes at out: 0, or -EBADMSG. */
int manifest_unhex(const char *hex, size_t n, unsigned char *out);

/* Write the hex of n bytes at p into buf (size bufsz), shortened with "..."
 * if it does not fit; returns buf, for messages. */
char *manifest_hex(const void *p, size_t n, char *buf, size_t bufsz);

#endif
