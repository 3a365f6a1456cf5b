/*
 * badinput-lib.h: what the bad-input suites (check_badinput*.c) share:
 * reading and poking files, the checks that a damaged store fails with a
 * message and never lies, and the repair that must keep what the damage
 * did not touch.  The store a test damages is tu_store.  See
 * badinput-lib.c for what "never lies" means.
 */
#ifndef BLT_BADINPUT_LIB_H
#define BLT_BADINPUT_LIB_H

#include <check.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "booklet.h"
#include "manifest.h"

/* Where bad_repair() puts the repaired copy of a store: beside it. */
extern char bad_repaired[PATH_MAX + 8];

/* The timeout of the "damage" test cases, generous for valgrind; a hang
 * still fails. */
#define BAD_TIMEOUT 300

/* --- files ------------------------------------------------------------- */

/* The path of fixture name ("fixed.blt") in out. */
void bad_fixture_path(const char *name, char *out, size_t size);

/* Copy fixture name (e.g. "fixed.blt") to p. */
void bad_copy_fixture(const char *name, const char *p);

/* The manifest of fixture name ("fixed.blt" reads "fixed.json"). */
struct manifest *bad_manifest(const char *name);

/* Make p a file of the n bytes at data. */
void bad_write_file(const char *p, const void *data, size_t n);

/* Read the whole file p; the caller frees. */
unsigned char *bad_read_file(const char *p, size_t *size);

/* Write the n bytes at b at off of p. */
void bad_poke(const char *p, uint64_t off, const void *b, size_t n);

/* Write v as an n-byte little-endian field at off of p. */
void bad_poke_le(const char *p, uint64_t off, uint64_t v, unsigned n);

/* The n-byte little-endian field at off of p. */
uint64_t bad_peek_le(const char *p, uint64_t off, unsigned n);

/* Cut p to len bytes. */
void bad_truncate(const char *p, uint64_t len);

/* --- messages and reports ---------------------------------------------- */

/* What blt_check() reported. */
struct bad_report {
	int n;
	int with_offset; /* problems with an offset inside the file */
	uint64_t size;
	uint64_t first_off;
	char first[512];
};

/* The last engine message names p and says word. */
void bad_assert_msg(const char *p, const char *word);

/* blt_check p with flags; fills *r. */
int bad_check(const char *p, int flags, struct bad_report *r);

/* blt_check finds at least one problem in p, with an offset. */
void bad_check_finds(const char *p);

/* Opening p fails with rc and a message naming p and word, for readers,
 * writers and blt_check alike. */
void bad_open_refused(const char *p, int rc, const char *word);

/* bad_open_refused(), and a repair fails the same way and leaves the file
 * as it was. */
void bad_open_fails(const char *p, int rc, const char *word);

/* --- what a damaged store may return ----------------------------------- */

/* Byte ranges [lo, hi) that the damage changed. */
struct bad_damage {
	size_t n;
	uint64_t lo[16], hi[16];
	int enoent_ok; /* a damaged chain may lose a key */
};

/* What reading a damaged store gave. */
struct bad_result {
	int open_rc;
	int scan_rc;
	size_t scanned;
	size_t got, euclean, enoent;
};

/* Add [lo, hi) to the damaged ranges. */
void bad_damage_add(struct bad_damage *d, uint64_t lo, uint64_t hi);

/* Bytes before the key in a block of the store at p. */
uint64_t bad_head_len(const char *p);

/* rc of what (an open, a get ...) of p is -EUCLEAN (or -ENOENT when
 * enoent_ok) with a message that names p and a cause. */
void bad_assert_error(const char *p, int rc, int enoent_ok, const char *what);

/* Read the store at p as a reader would: open, stat, scan and a get of
 * every item of m; errors must name p, and nothing read may lie. */
void bad_read(const char *p, const struct manifest *m,
    const struct bad_damage *d, struct bad_result *r);

/* A put of key into the damaged store at p fails with -EUCLEAN naming p,
 * and leaves the store no worse (byte for byte the same when same). */
void bad_put_refused(const char *p, const void *key, size_t klen, int same);

/* --- the layout of a fixture ------------------------------------------- */

/* A live block of a pristine fixture. */
struct bad_block {
	uint64_t off, end;
	const struct manifest_item *item;
};

struct bad_layout {
	struct blt_stat st;
	size_t n;
	struct bad_block *b; /* in file order */
};

/* Where the live blocks of the pristine store at p lie; see
 * bad_layout_free(). */
void bad_layout_load(
    const char *p, const struct manifest *m, struct bad_layout *l);
void bad_layout_free(struct bad_layout *l);

/* --- repair ------------------------------------------------------------ */

/* Repair a copy of the damaged store at p (in bad_repaired): it must be
 * sound and keep every item of l that d did not touch.  Returns the
 * problems the repair reported. */
int bad_repair(
    const char *p, const struct bad_layout *l, const struct bad_damage *d);

#endif
