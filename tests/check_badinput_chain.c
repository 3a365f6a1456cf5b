/*
 * check_badinput_chain.c: damaged bucket chains: a bucket pointer past the
 * end of the file or into the header, chains that loop back to themselves
 * or between two blocks, a stray pointer in an empty store.  A get through
 * the chain must fail with -EUCLEAN and say why, nothing read may lie, the
 * check must find it and the repair must keep every untouched item.  See
 * badinput-lib.c for what is checked.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "booklet.h"
#include "internal.h"
#include "manifest.h"
#include "testutil.h"
#include "badinput-lib.h"

/* --- chains ------------------------------------------------------------ */

/* The slot of key's bucket in the store described by st. */
static uint64_t
bad_slot(const struct blt_stat *st, const void *key, size_t klen)
{
	unsigned char d[HASH_LEN];

	hash_digest(key, klen, d);
	return st->index_offset +
	       (uint64_t)PTR_LEN * hash_bucket(d, st->n_buckets);
}

/* The last block of the chain that starts at slot, in the file p. */
static uint64_t
bad_chain_tail(const char *p, uint64_t slot)
{
	uint64_t b = bad_peek_le(p, slot, PTR_LEN), next;

	ck_assert(b > PTR_END);
	while ((next = bad_peek_le(p, b + HASH_LEN, PTR_LEN)) != PTR_END)
		b = next;
	return b;
}

/* A key of no item whose bucket slot is slot: its lookup walks the whole
 * chain. */
static size_t
bad_missing_key(const struct blt_stat *st, const struct manifest *m,
    uint64_t slot, char *key, size_t size)
{
	for (unsigned i = 0;; i++) {
		size_t n = (size_t)snprintf(key, size, "missing %u", i);

		if (bad_slot(st, key, n) == slot && !manifest_find(m, key, n))
			return n;
	}
}

/* The first item of m after skip whose bucket lies at a different slot
 * than avoid. */
static const struct manifest_item *
bad_item(const struct manifest *m, const struct blt_stat *st, size_t skip,
    uint64_t avoid)
{
	for (size_t i = skip; i < m->n_items; i++)
		if (bad_slot(st, m->items[i].key, m->items[i].klen) != avoid)
			return &m->items[i];
	ck_abort_msg("no item");
	return NULL;
}

/* After damage d to the copy of name at tu_store, gets of key must fail with
 * -EUCLEAN and word, nothing read may lie, the check must find it, and the
 * repair must keep every untouched item. */
static void
bad_chain_damage(const char *name, const struct manifest *m,
    const struct bad_layout *l, const void *key, size_t klen, const char *word,
    const struct bad_damage *d)
{
	struct bad_result r;
	unsigned char buf[64];
	struct blt *db;
	int64_t ts;

	ck_assert_int_eq(blt_open(tu_store, BLT_RDONLY, NULL, &db), 0);
	ck_assert_msg(blt_get(db, key, klen, buf, sizeof buf, &ts) == -EUCLEAN,
	    "%s: a get through the damaged chain gives %s", name, blt_errmsg());
	bad_assert_msg(tu_store, word);
	ck_assert_int_eq(blt_exists(db, key, klen), -EUCLEAN);
	blt_close(db);
	bad_read(tu_store, m, d, &r);
	ck_assert_int_eq(r.open_rc, 0);
	bad_check_finds(tu_store);
	bad_put_refused(tu_store, key, klen, 0);
	ck_assert_int_ge(bad_repair(tu_store, l, d), 1);
	/* the repair links every live block: the refused put is not one */
	ck_assert_int_eq(blt_open(bad_repaired, BLT_RDONLY, NULL, &db), 0);
	ck_assert_msg(blt_get(db, key, klen, buf, sizeof buf, &ts) != 7 ||
	                  memcmp(buf, "refused", 7) != 0,
	    "%s: the repair made a refused put live", name);
	blt_close(db);
}

START_TEST(bucket_pointer_past_eof_is_euclean)
{
	const char *name = "no_timestamps.blt";
	struct manifest *m = bad_manifest(name);
	const struct manifest_item *it;
	struct bad_damage d = {0};
	struct bad_layout l;
	uint64_t slot;

	bad_copy_fixture(name, tu_store);
	bad_layout_load(tu_store, m, &l);
	it = bad_item(m, &l.st, 0, 0);
	slot = bad_slot(&l.st, it->key, it->klen);
	bad_poke_le(tu_store, slot, l.st.file_bytes + 1000, PTR_LEN);
	bad_damage_add(&d, slot, slot + PTR_LEN);
	bad_chain_damage(name, m, &l, it->key, it->klen, "outside", &d);
	bad_layout_free(&l);
	manifest_free(m);
}
END_TEST

START_TEST(bucket_pointer_into_the_header_is_euclean)
{
	const char *name = "no_timestamps.blt";
	struct manifest *m = bad_manifest(name);
	const struct manifest_item *it;
	struct bad_damage d = {0};
	struct bad_layout l;
	uint64_t slot;

	bad_copy_fixture(name, tu_store);
	bad_layout_load(tu_store, m, &l);
	it = bad_item(m, &l.st, 3, 0);
	slot = bad_slot(&l.st, it->key, it->klen);
	bad_poke_le(tu_store, slot, 50, PTR_LEN);
	bad_damage_add(&d, slot, slot + PTR_LEN);
	bad_chain_damage(name, m, &l, it->key, it->klen, "outside", &d);
	bad_layout_free(&l);
	manifest_free(m);
}
END_TEST

START_TEST(chain_that_leads_to_itself_loops_with_euclean)
{
	const char *name = "no_timestamps.blt";
	struct manifest *m = bad_manifest(name);
	const struct manifest_item *it;
	struct bad_damage d = {0};
	struct bad_layout l;
	uint64_t slot, tail;
	char key[64];
	size_t klen;

	bad_copy_fixture(name, tu_store);
	bad_layout_load(tu_store, m, &l);
	it = bad_item(m, &l.st, 5, 0);
	slot = bad_slot(&l.st, it->key, it->klen);
	tail = bad_chain_tail(tu_store, slot);
	bad_poke_le(tu_store, tail + HASH_LEN, tail, PTR_LEN);
	bad_damage_add(&d, tail + HASH_LEN, tail + HASH_LEN + PTR_LEN);
	klen = bad_missing_key(&l.st, m, slot, key, sizeof key);
	bad_chain_damage(name, m, &l, key, klen, "loops", &d);
	bad_layout_free(&l);
	manifest_free(m);
}
END_TEST

START_TEST(chain_of_two_blocks_that_lead_to_each_other_loops_with_euclean)
{
	const char *name = "deleted_overwritten.blt";
	struct manifest *m = bad_manifest(name);
	const struct manifest_item *a, *b;
	struct bad_damage d = {0};
	struct bad_layout l;
	uint64_t sa, ta, tb;
	char key[64];
	size_t klen;

	bad_copy_fixture(name, tu_store);
	bad_layout_load(tu_store, m, &l);
	a = bad_item(m, &l.st, 10, 0);
	sa = bad_slot(&l.st, a->key, a->klen);
	b = bad_item(m, &l.st, 11, sa);
	ta = bad_chain_tail(tu_store, sa);
	tb = bad_chain_tail(tu_store, bad_slot(&l.st, b->key, b->klen));
	bad_poke_le(tu_store, ta + HASH_LEN, tb, PTR_LEN);
	bad_poke_le(tu_store, tb + HASH_LEN, ta, PTR_LEN);
	bad_damage_add(&d, ta + HASH_LEN, ta + HASH_LEN + PTR_LEN);
	bad_damage_add(&d, tb + HASH_LEN, tb + HASH_LEN + PTR_LEN);
	klen = bad_missing_key(&l.st, m, sa, key, sizeof key);
	bad_chain_damage(name, m, &l, key, klen, "loops", &d);
	bad_layout_free(&l);
	manifest_free(m);
}
END_TEST

/* A store with no live block at all, whose bucket leads into the index. */
START_TEST(stray_bucket_pointer_in_an_empty_store_is_found)
{
	const char *name = "empty.blt";
	struct manifest *m = bad_manifest(name);
	struct bad_damage d = {0};
	struct bad_layout l;
	struct bad_result r;
	struct bad_report rep;

	bad_copy_fixture(name, tu_store);
	bad_layout_load(tu_store, m, &l);
	bad_poke_le(tu_store, HEADER_LEN, HEADER_LEN, PTR_LEN);
	bad_damage_add(&d, HEADER_LEN, HEADER_LEN + PTR_LEN);
	bad_read(tu_store, m, &d, &r);
	ck_assert_int_eq(r.open_rc, 0);
	ck_assert_int_ge(bad_check(tu_store, 0, &rep), 1);
	ck_assert_uint_eq(rep.first_off, HEADER_LEN);
	ck_assert_int_ge(bad_repair(tu_store, &l, &d), 1);
	bad_layout_free(&l);
	manifest_free(m);
}
END_TEST

static Suite *
badinput_chain_suite(void)
{
	Suite *s = suite_create("badinput_chain");
	TCase *tc = tu_store_tcase("damage", BAD_TIMEOUT);

	tcase_add_test(tc, bucket_pointer_past_eof_is_euclean);
	tcase_add_test(tc, bucket_pointer_into_the_header_is_euclean);
	tcase_add_test(tc, chain_that_leads_to_itself_loops_with_euclean);
	tcase_add_test(
	    tc, chain_of_two_blocks_that_lead_to_each_other_loops_with_euclean);
	tcase_add_test(tc, stray_bucket_pointer_in_an_empty_store_is_found);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(badinput_chain_suite());
}
