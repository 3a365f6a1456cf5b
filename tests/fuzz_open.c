/*
 * fuzz_open.c: the libFuzzer target for hostile stores.  Each input is taken
 * as a whole .blt file and put through everything a reader does with an
 * untrusted store: open read-only, stat, a full scan, a get of every
 * scanned key, the metadata, the reserved slots and a few misses; then
 * blt_check, a repair of a copy, and a writer's session on another copy.
 *
 * Besides "no crash, no hang, no leak" (the sanitizers' part) it holds the
 * engine to what it claims about a store, aborting when it does not:
 *   - whatever the store, a value that a get returns lies right after the
 *     requested key's bytes in the file, and an item that a scan returns
 *     starts with the digest of its key: a reader never passes off bytes of
 *     another (damaged) block as a key's value;
 *   - a store that blt_check calls sound opens, scans to the end, and every
 *     scanned key reads back with the value and timestamp the scan saw;
 *   - a store that blt_check can read at all can be repaired, and a
 *     repaired store is such a sound store;
 *   - writes on a sound store leave it sound.
 *
 * The read-only stages read the input from an in-memory file (memfd) through
 * its /proc/self/fd path; the writer's session needs a directory for
 * prune's rename, so it works in a temporary directory on /dev/shm (or
 * /tmp), made and removed for each input.
 * tests/fuzz_replay.c calls LLVMFuzzerTestOneInput() over the corpus in
 * make check, with any compiler.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "booklet.h"
#include "internal.h"

/* Keys whose gets are checked per input; scans go on past this. */
#define FUZZ_MAX_KEYS 128

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_key {
	unsigned char *key;
	size_t klen;
	unsigned char *value;
	size_t vlen;
	int64_t ts;
};

struct fuzz_keys {
	struct fuzz_key k[FUZZ_MAX_KEYS];
	size_t n;
	uint64_t scanned; /* all items, kept or not */
};

static char fuzz_dir[PATH_MAX];

/* An engine claim did not hold: say which and on what, and crash so that
 * libFuzzer (or the replay driver) reports the input. */
static void
fuzz_fail(const char *stage, const char *what, const char *path)
{
	fprintf(stderr, "fuzz_open: %s: %s (%s; last engine message: %s)\n",
	    stage, what, path, blt_errmsg());
	abort();
}

/* Remove the writer's directory and what prune may leave in it. */
static void
fuzz_rmdir(void)
{
	char p[PATH_MAX + 32];

	snprintf(p, sizeof p, "%s/w.blt", fuzz_dir);
	unlink(p);
	snprintf(p, sizeof p, "%s/w.blt.bltfs-tmp", fuzz_dir);
	unlink(p);
	rmdir(fuzz_dir);
}

/* An in-memory file holding size bytes of data; its path goes to path. */
static int
fuzz_memfd(const uint8_t *data, size_t size, char *path, size_t psize)
{
	int fd = memfd_create("blt-fuzz", MFD_CLOEXEC);
	size_t done = 0;

	if (fd < 0) {
		perror("memfd_create");
		abort();
	}
	while (done < size) {
		ssize_t n = write(fd, data + done, size - done);

		if (n <= 0) {
			perror("memfd write");
			abort();
		}
		done += (size_t)n;
	}
	snprintf(path, psize, "/proc/self/fd/%d", fd);
	return fd;
}

/* Does the file fd hold key's bytes right before its value at value_off? */
static int
fuzz_key_before(int fd, uint64_t value_off, const void *key, size_t klen)
{
	unsigned char *b;
	int same;

	if (value_off < klen || (b = malloc(klen + 1)) == NULL)
		return 0;
	same = pread(fd, b, klen, (off_t)(value_off - klen)) == (ssize_t)klen &&
	       memcmp(b, key, klen) == 0;
	free(b);
	return same;
}

/* Does the block at off of the file fd start with the digest of key? */
static int
fuzz_digest_at(int fd, uint64_t off, const void *key, size_t klen)
{
	unsigned char d[HASH_LEN], b[HASH_LEN];

	hash_digest(key, klen, d);
	return pread(fd, b, sizeof b, (off_t)off) == (ssize_t)sizeof b &&
	       memcmp(b, d, HASH_LEN) == 0;
}

/* A get of key succeeded: its value must be the one of key's own block. */
static void
fuzz_found(
    struct blt *db, int fd, const void *key, size_t klen, const char *path)
{
	struct blt_entry e;

	if (blt_find(db, key, klen, &e) < 0)
		fuzz_fail("get", "find fails where get succeeds", path);
	if (!fuzz_key_before(fd, e.value_off, key, klen))
		fuzz_fail("get", "the value returned is not the key's", path);
}

static void
fuzz_keys_free(struct fuzz_keys *ks)
{
	for (size_t i = 0; i < ks->n; i++) {
		free(ks->k[i].key);
		free(ks->k[i].value);
	}
	ks->n = 0;
}

static void
fuzz_options(struct blt_options *o)
{
	blt_options_default(o);
	o->lock_timeout = 0; /* nobody else holds our files */
}

/* Scan db to its end, keeping the first keys and values in ks.  Returns
 * the scan's final code: 0 when it reached the end. */
static int
fuzz_scan(struct blt *db, int fd, struct fuzz_keys *ks, const char *path)
{
	struct blt_iter *it;
	struct blt_item item;
	int rc;

	ks->n = 0;
	ks->scanned = 0;
	if ((rc = blt_iter_create(db, &it)) < 0)
		return rc;
	while ((rc = blt_iter_next(it, &item)) > 0) {
		struct fuzz_key *k = &ks->k[ks->n];

		ks->scanned++;
		if (!fuzz_digest_at(fd, item.offset, item.key, item.klen))
			fuzz_fail("scan", "an item is not a whole block", path);
		if (ks->n == FUZZ_MAX_KEYS)
			continue;
		k->key = malloc(item.klen + 1);
		k->value = malloc(item.vlen + 1);
		if (k->key == NULL || k->value == NULL)
			abort();
		memcpy(k->key, item.key, item.klen);
		memcpy(k->value, item.value, item.vlen);
		k->klen = item.klen;
		k->vlen = item.vlen;
		k->ts = item.timestamp;
		ks->n++;
	}
	blt_iter_free(it);
	return rc;
}

/* Look up every kept key; with strict, each must give what the scan saw. */
static void
fuzz_gets(struct blt *db, int fd, const struct fuzz_keys *ks, int strict,
    const char *path)
{
	for (size_t i = 0; i < ks->n; i++) {
		const struct fuzz_key *k = &ks->k[i];
		unsigned char *buf = malloc(k->vlen + 1), part[8];
		struct blt_entry e;
		int64_t ts = 0;
		ssize_t n;

		if (buf == NULL)
			abort();
		n = blt_get(db, k->key, k->klen, buf, k->vlen, &ts);
		if (n >= 0)
			fuzz_found(db, fd, k->key, k->klen, path);
		if (strict &&
		    (n != (ssize_t)k->vlen ||
		        memcmp(buf, k->value, k->vlen) != 0 || ts != k->ts))
			fuzz_fail(
			    "sound store", "a get differs from the scan", path);
		free(buf);
		n = blt_read(
		    db, k->key, k->klen, k->vlen / 2, part, sizeof part);
		if (strict && n < 0)
			fuzz_fail("sound store", "a read fails", path);
		if (blt_exists(db, k->key, k->klen) != 1 && strict)
			fuzz_fail("sound store", "a scanned key does not exist",
			    path);
		(void)blt_get_timestamp(db, k->key, k->klen, &ts);
		if (blt_find(db, k->key, k->klen, &e) < 0 && strict)
			fuzz_fail("sound store", "find fails", path);
	}
}

/* blt_get_many()'s view of the kept keys, checked by fuzz_got(). */
struct fuzz_many {
	const struct fuzz_keys *ks;
	struct blt *db;
	int fd, strict;
	const char *path;
};

static int
fuzz_got(
    void *arg, size_t i, const void *value, size_t vlen, int64_t ts, int err)
{
	const struct fuzz_many *fm = arg;
	const struct fuzz_key *k = &fm->ks->k[i];

	if (err == 0)
		fuzz_found(fm->db, fm->fd, k->key, k->klen, fm->path);
	if (fm->strict &&
	    (err != 0 || vlen != k->vlen ||
	        memcmp(value, k->value, vlen) != 0 || ts != k->ts))
		fuzz_fail(
		    "sound store", "get_many differs from the scan", fm->path);
	return 0;
}

/* The kept keys again, all in one blt_get_many(). */
static void
fuzz_get_many(struct blt *db, int fd, const struct fuzz_keys *ks, int strict,
    const char *path)
{
	struct fuzz_many fm = {ks, db, fd, strict, path};
	const void *keys[FUZZ_MAX_KEYS];
	size_t lens[FUZZ_MAX_KEYS];

	for (size_t i = 0; i < ks->n; i++) {
		keys[i] = ks->k[i].key;
		lens[i] = ks->k[i].klen;
	}
	(void)blt_get_many(db, ks->n, keys, lens, fuzz_got, &fm);
}

/* Keys that no small store holds, and the internal slots. */
static void
fuzz_misses(struct blt *db, int fd, const char *path)
{
	static const char *const miss[] = {
	    "", "fuzz/missing", "a", "adb01ebc1ba3433eb043527"};
	unsigned char buf[64];
	int64_t ts;

	for (size_t i = 0; i < sizeof miss / sizeof *miss; i++)
		if (blt_get(db, miss[i], strlen(miss[i]), buf, sizeof buf,
		        &ts) >= 0)
			fuzz_found(db, fd, miss[i], strlen(miss[i]), path);
	(void)blt_get_meta(db, buf, sizeof buf, &ts);
	(void)blt_get_reserved(db, 1, buf, sizeof buf, &ts);
	(void)blt_get_reserved(db, 2, buf, sizeof buf, &ts);
}

/* Everything a reader does.  With strict the store is known sound, so
 * every step must succeed and agree with the others. */
static void
fuzz_read(const char *path, int fd, int strict, const char *stage)
{
	struct blt_options o;
	struct fuzz_keys *ks;
	struct blt_stat st;
	struct blt *db;
	int rc;

	fuzz_options(&o);
	if (blt_open(path, BLT_RDONLY, &o, &db) < 0) {
		if (strict)
			fuzz_fail(stage, "a sound store does not open", path);
		return;
	}
	if ((ks = calloc(1, sizeof *ks)) == NULL)
		abort();
	rc = blt_stat(db, &st);
	if (strict && rc < 0)
		fuzz_fail(stage, "stat fails", path);
	rc = fuzz_scan(db, fd, ks, path);
	if (strict && rc != 0)
		fuzz_fail(stage, "the scan does not reach the end", path);
	if (strict &&
	    ((int64_t)ks->scanned != blt_count(db) || ks->scanned != st.n_keys))
		fuzz_fail(stage, "the scan and the key count disagree", path);
	fuzz_gets(db, fd, ks, strict, path);
	fuzz_get_many(db, fd, ks, strict, path);
	fuzz_misses(db, fd, path);
	fuzz_keys_free(ks);
	free(ks);
	blt_close(db);
}

struct fuzz_report {
	int n;
};

static void
fuzz_report(void *arg, uint64_t offset, const char *problem)
{
	struct fuzz_report *r = arg;

	(void)offset;
	if (problem == NULL || problem[0] == '\0')
		fuzz_fail("check", "a problem without a description", "-");
	r->n++;
}

/* blt_check path with flags; the count it returns must match the reports. */
static int
fuzz_check(const char *path, int flags)
{
	struct fuzz_report r = {0};
	int rc = blt_check(path, flags, fuzz_report, &r);

	if (rc >= 0 && rc != r.n)
		fuzz_fail(
		    "check", "returned count differs from the reports", path);
	return rc;
}

/* A writer's session on the store at path: a put, an overwrite, a
 * delete, metadata, a reindex and a prune.  On a sound store these must
 * leave it sound whatever they return. */
static void
fuzz_session(const char *path, int sound)
{
	static const char val[] = "fuzz value 0123456789abcdef";
	struct blt_options o;
	struct blt_stat st;
	struct blt_iter *it;
	struct blt_item item;
	struct blt *db;
	size_t vlen;

	fuzz_options(&o);
	memset(&st, 0, sizeof st);
	if (blt_open(path, BLT_RDWR, &o, &db) < 0) {
		if (sound)
			fuzz_fail("write", "a sound store does not open", path);
		return;
	}
	if (blt_stat(db, &st) < 0 && sound)
		fuzz_fail("write", "stat fails", path);
	vlen = st.fixed ? st.value_len : sizeof val - 1;
	if (vlen <= sizeof val - 1) {
		(void)blt_put(db, "fuzz/new", 8, val, vlen, BLT_NOW);
		(void)blt_put(db, "fuzz/new", 8, val + 1, vlen, 12345);
		(void)blt_put(db, "fuzz/gone", 9, val, vlen, BLT_NOW);
		(void)blt_flush(db);
		(void)blt_del(db, "fuzz/gone", 9);
	}
	if (blt_iter_create(db, &it) == 0) {
		/* Delete the first key the scan finds. */
		if (blt_iter_next(it, &item) > 0) {
			unsigned char k[64];
			size_t klen = item.klen < sizeof k ? item.klen : 0;

			memcpy(k, item.key, klen);
			blt_iter_free(it);
			it = NULL;
			if (klen > 0)
				(void)blt_del(db, k, klen);
		}
		blt_iter_free(it);
	}
	(void)blt_set_meta(db, "{\"fuzz\": 1}", 11, BLT_NOW);
	(void)blt_reindex(db, st.n_buckets + 3);
	(void)blt_prune(db, NULL);
	if (vlen <= sizeof val - 1)
		(void)blt_put(db, "fuzz/after", 10, val, vlen, BLT_NOW);
	blt_close(db);
	if (sound && fuzz_check(path, 0) != 0)
		fuzz_fail("write", "writes left a sound store unsound", path);
}

/* Run the writer's session on a copy of the input in a fresh directory,
 * removed afterwards unless the session failed (then it is kept for a
 * look). */
static void
fuzz_write(const uint8_t *data, size_t size, int sound)
{
	char path[PATH_MAX + 16];
	FILE *f;

	snprintf(fuzz_dir, sizeof fuzz_dir, "/dev/shm/blt-fuzz-XXXXXX");
	if (mkdtemp(fuzz_dir) == NULL) {
		snprintf(fuzz_dir, sizeof fuzz_dir, "/tmp/blt-fuzz-XXXXXX");
		if (mkdtemp(fuzz_dir) == NULL) {
			perror("mkdtemp");
			abort();
		}
	}
	snprintf(path, sizeof path, "%s/w.blt", fuzz_dir);
	if ((f = fopen(path, "wb")) == NULL ||
	    fwrite(data, 1, size, f) != size || fclose(f) != 0) {
		perror(path);
		abort();
	}
	fuzz_session(path, sound);
	fuzz_rmdir();
}

/* libFuzzer's entry: one input is one store file. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64], copy[64];
	int fd, fd2, sound, checked, rc;

	fd = fuzz_memfd(data, size, path, sizeof path);
	checked = fuzz_check(path, 0);
	sound = checked == 0;
	fuzz_read(path, fd, sound, "sound store");

	/* A repaired store must be a sound one. */
	fd2 = fuzz_memfd(data, size, copy, sizeof copy);
	if ((rc = fuzz_check(copy, BLT_CHECK_REPAIR)) >= 0) {
		if (sound && rc != 0)
			fuzz_fail("repair",
			    "repair finds problems that the "
			    "check did not",
			    copy);
		fuzz_read(copy, fd2, 1, "repaired store");
		if (fuzz_check(copy, 0) != 0)
			fuzz_fail("repair",
			    "a repaired store still has "
			    "problems",
			    copy);
	} else if (checked >= 0) {
		fuzz_fail("repair",
		    "repair fails on a store that the check "
		    "could read",
		    copy);
	}
	close(fd2);
	close(fd);

	fuzz_write(data, size, sound);
	return 0;
}
