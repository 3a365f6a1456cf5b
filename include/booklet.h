/*
 * libbooklet: read and write booklet stores (the .blt format of the Python
 * booklet package, format v5; v3 and v4 are read and updated in place).
 *
 * A store is one file holding a persistent hash table of byte-string keys
 * and values.  Every function returns 0 or a count on success and a
 * negative errno on failure; blt_errmsg() then gives one line that names
 * the file or key and the cause.  Damage in a file is -EUCLEAN, a block
 * that fails its checksum (its digest is not its key's) included: there
 * is no -EBADMSG.  It is never a crash, a hang or an assert.
 *
 * Each function lists its errors.  "The write errors" are those of any
 * call that writes the file: -EIO once the store takes no more writes
 * (BLT_REINDEX_STUCK, BLT_TORN_TAIL), -EFBIG past the format's 2^48
 * bytes, -ENOMEM, and the errno of a failed pwrite(2), ftruncate(2),
 * mmap(2) or fdatasync(2) (-ENOSPC, -EDQUOT, -EFBIG past RLIMIT_FSIZE,
 * -EIO, ...).  "The errors of the flush" are blt_flush()'s, with its
 * outcome: the functions that flush the buffer first say so.
 *
 * Thread safety: every function may be called on one struct blt from many
 * threads at once.  Readers (get, find, read, exists, iterators) run in
 * parallel; writers take turns and hold out readers only while they change
 * the file's pointers.  An iterator or a blt_put_op is used by one thread
 * at a time.
 */
#ifndef BOOKLET_H
#define BOOKLET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct blt;
struct blt_iter;

/* Open modes, booklet's 'r', 'w', 'c' and 'n'. */
#define BLT_RDONLY 0 /* 'r': read only, shared lock */
#define BLT_RDWR 1   /* 'w': read and write, exclusive lock */
#define BLT_CREATE 2 /* 'c': as BLT_RDWR, creating a missing store */
#define BLT_TRUNC 3  /* 'n': as BLT_CREATE, emptying an existing store */

/* Timestamps are microseconds since the Unix epoch. */
#define BLT_NOW (-1)   /* as an argument: the current time */
#define BLT_NO_TS (-1) /* as a result: the store keeps no timestamps */
#define BLT_TS_MAX ((INT64_C(1) << 56) - 1)

#define BLT_KEY_MAX 65535u
#define BLT_VALUE_MAX 4294967295u
#define BLT_DEFAULT_BUCKETS 12007u
#define BLT_BUCKETS_MAX 20736017u /* the largest index booklet grows to */
#define BLT_GROW UINT32_MAX       /* blt_prune_opts.n_buckets: the next size */
#define BLT_FIT (UINT32_MAX - 1)  /* ... the size the keys need */

/* Serializer codes stored in the header (booklet's registry). */
#define BLT_SER_CUSTOM 0
#define BLT_SER_NONE 1 /* raw bytes */
#define BLT_SER_STR 2
#define BLT_SER_BYTES 32
#define BLT_SER_MAX 32

/* How a store is created.  Ignored for an existing store, whose header
 * decides, but checked at every open: n_buckets 0 or over BLT_BUCKETS_MAX,
 * or a serializer code over BLT_SER_MAX, is -EINVAL.  Only lock_timeout and
 * write_buffer (0: 4 MiB) apply to every open. */
struct blt_options {
	int fixed;               /* 1: fixed-length values of value_len bytes */
	uint32_t value_len;      /* fixed stores only */
	int timestamps;          /* variable stores: keep a timestamp per key */
	uint32_t n_buckets;      /* initial index size */
	uint16_t key_serializer; /* code, see BLT_SER_* */
	uint16_t value_serializer; /* code; fixed stores always store 0 */
	double lock_timeout; /* seconds; < 0 waits forever, 0 fails at once */
	size_t write_buffer; /* bytes of puts kept in memory before a flush */
};

/* What blt_stat() reports. */
struct blt_stat {
	unsigned version;        /* format version in the header */
	int fixed;               /* 1 for a fixed-length store */
	uint32_t value_len;      /* fixed stores */
	int timestamps;          /* 1 when keys carry timestamps */
	uint16_t key_serializer; /* header codes */
	uint16_t value_serializer;
	uint64_t n_keys; /* live user keys */
	uint32_t n_buckets;
	uint64_t index_offset; /* effective offsets (format §1) */
	uint64_t first_data;
	uint64_t file_bytes; /* size of the file */
	uint64_t live_bytes; /* bytes of live blocks, internal ones included */
	uint64_t dead_bytes; /* what a prune reclaims: tombstones, skip
	                        blocks, abandoned index space */
	int64_t created;     /* file creation time, µs */
	unsigned char uuid[16];
};

/* Where the value of one live key lies; see blt_find(). */
struct blt_entry {
	uint64_t value_off; /* file offset of the value bytes */
	uint64_t value_len;
	int64_t timestamp; /* µs, or BLT_NO_TS */
	uint64_t gen;      /* layout generation the offset belongs to */
};

/* One item of a scan.  key and value point into the store's memory map,
 * which the iterator holds: they stay valid until blt_iter_free() on the
 * same iterator, across later calls and whatever other threads do to the
 * store meanwhile (a scan may hand items to another thread while it reads
 * on). */
struct blt_item {
	const unsigned char *key;
	size_t klen;
	const unsigned char *value;
	size_t vlen;
	int64_t timestamp; /* µs, or BLT_NO_TS */
	uint64_t offset;   /* file offset of the block */
};

/* What prune drops besides dead blocks: live keys older than older_than
 * (µs, 0 for no age limit) that are not among the keep keys.  n_buckets
 * other than 0 grows the index of the new file — to that many buckets
 * (more than it has and at most BLT_BUCKETS_MAX, or -EINVAL) or, with
 * BLT_GROW, to booklet's next size: a reindex that, like a prune, never
 * holds up readers.  BLT_FIT grows it
 * to where booklet's own reindex would stop for the keys: the first size of
 * its sequence with no more keys than buckets, or its last, 20736017 (an
 * index that holds the keys already stays as it is); -EINVAL when the keys
 * outgrow an index that has the last size, or more, already. */
struct blt_prune_opts {
	int64_t older_than;
	size_t n_keep;
	const unsigned char *const *keep; /* n_keep keys ... */
	const size_t *keep_len;           /* ... and their lengths */
	uint32_t n_buckets;
};

/* Fill o with the defaults of the Python booklet: variable length, raw byte
 * keys and values, timestamps on, 12007 buckets, wait for the lock forever,
 * a 4 MiB write buffer. */
void blt_options_default(struct blt_options *o);

/* Open the store at path in mode (BLT_RDONLY ... BLT_TRUNC).  opt may be
 * NULL for the defaults.  On success the caller owns *out; see blt_close().
 * A store that was not closed cleanly is recovered when opened for writing
 * (BLT_RECOVERED is then set in blt_flags()); opened read-only, it is read
 * as it is if it is sound (BLT_UNCLEAN), else refused with -EUCLEAN.
 * Errors, with *out set to NULL: -EINVAL (an unknown mode, bad options),
 * -ENOENT (missing, without BLT_CREATE) and the other errors of open(2),
 * flock(2) and mmap(2), -EWOULDBLOCK (locked by another process past
 * lock_timeout), -EAGAIN (replaced by another process's prune each time
 * the lock was granted), -EUCLEAN (not a regular file or not a booklet
 * store, damaged, or unclean and opened read-only), -EPROTONOSUPPORT (a
 * format version we do not read), -ENOMEM, and for a writable open the
 * write errors of creating, emptying or recovering the store.  Nothing is
 * written then, except that a creation (BLT_CREATE of a missing or empty
 * file, BLT_TRUNC) may leave a partial file, which only BLT_TRUNC opens,
 * and a failed recovery leaves the store to the next writable open. */
int blt_open(const char *path, int mode, const struct blt_options *opt,
    struct blt **out);

/* Write what is buffered, make it durable, release the lock and free db.
 * Safe on NULL; 0 for a read-only store.  Errors: those of the flush and
 * the fsync (see blt_sync()), and -EIO for a store that takes no more
 * writes.  db is freed either way: the puts of a failed flush are lost,
 * and the store is left marked unclean, for the next writable open to
 * recover, unless the failure changed nothing in the file (a full disk),
 * which leaves it clean.  A blt_put_op of db must be ended or cancelled
 * before; an iterator may still be freed after. */
int blt_close(struct blt *db);

/* Write buffered puts into the file and link them, so that they survive a
 * crash of this process, and update the header.  No fsync; 0 at once for
 * a read-only store.  Errors: the write errors, and -EUCLEAN for a store
 * whose blocks do not parse to the end of the file (found before anything
 * is written) or a damaged chain met while linking.  A failure empties
 * the buffer: the puts not yet linked are lost (those linked before a
 * damaged chain stay stored, and the store is marked clean again).  The
 * exception is a failure of the automatic reindex that follows them:
 * blt_flags() then has BLT_REINDEX_STUCK, which it did not have before,
 * and the puts are stored.  The same holds for blt_put() of a value too
 * big for the buffer, which it writes at once. */
int blt_flush(struct blt *db);

/* blt_flush(), then fsync: everything written so far survives a power cut.
 * Errors: as blt_flush(), with its outcome, and those of fdatasync(2),
 * after which what survives a power cut is unknown. */
int blt_sync(struct blt *db);

/* Store value under key with timestamp ts (µs, or BLT_NOW).  The put is
 * buffered; readers in this process see it at once.  Errors: -EROFS
 * (read-only), -EINVAL (key too long, wrong length for a fixed store, an
 * internal key, bad timestamp), -EFBIG (value over BLT_VALUE_MAX),
 * -ENOMEM, the errors of the flush when the buffer is full, and those of
 * blt_put_begin() and blt_put_end() for a value too big for the buffer.
 * After an error the put is not stored (but see BLT_REINDEX_STUCK at
 * blt_flush()), and a failed flush lost the puts it carried. */
int blt_put(struct blt *db, const void *key, size_t klen, const void *value,
    size_t vlen, int64_t ts);

/* blt_put() of the value and timestamp of key from under key to (now, in
 * a store without timestamps), copied within the file: no memory the size
 * of the value is needed.  Flushes the buffer first.  Errors: those of
 * the flush, -ENOENT if from is missing, -EUCLEAN, and those of blt_put()
 * for to. */
int blt_copy(
    struct blt *db, const void *from, size_t flen, const void *to, size_t tlen);

/* blt_put(), but only if key still holds the oldlen bytes at old: returns
 * 1 when stored, 0 when key holds another value or none (nothing is
 * written), or an error as for blt_put() or -EUCLEAN from the lookup.  The
 * check and the put are one step for every thread of this process. */
int blt_put_if(struct blt *db, const void *key, size_t klen, const void *old,
    size_t oldlen, const void *value, size_t vlen, int64_t ts);

/* Copy up to cap bytes of key's value into buf and return the value's full
 * length (which may exceed cap).  *ts (if not NULL) gets the timestamp.
 * Errors: -ENOENT when the key is missing (or longer than BLT_KEY_MAX),
 * -EUCLEAN; buf and *ts are then untouched.
 *
 * Once lookups of an open store have found as many keys as a quarter of
 * its keys (and 256 more), the next one builds an index of the live keys
 * in this process's memory: 16 to 32 bytes a key, for stores of up to
 * about 16 million keys.  Lookups then skip the key's BLAKE2s digest and
 * the file's bucket index (the gains are in doc/benchmarks.md, "the
 * keydir").  blt_read(), blt_find(), blt_exists(), blt_get_timestamp() and
 * blt_get_many() use it too.  Writes keep it up to date and a prune or
 * clear drops it; a process that looks up only a few keys never builds
 * it, and one short of memory goes on without it. */
ssize_t blt_get(struct blt *db, const void *key, size_t klen, void *buf,
    size_t cap, int64_t *ts);

/* What blt_get_many() passes its callback for key i of the batch: the
 * value in place (readable during the call only) and its timestamp, or an
 * error in err (-ENOENT for a missing key, -EUCLEAN), with value NULL.  A
 * non-zero return stops the batch, and blt_get_many() returns it. */
typedef int blt_get_fn(
    void *arg, size_t i, const void *value, size_t vlen, int64_t ts, int err);

/* Look up n keys and call fn for each, in order.  The keys are taken a few
 * at a time, and the memory reads of their lookups overlap instead of
 * waiting one after another: for random keys, faster than n calls of
 * blt_get() (doc/benchmarks.md).  fn runs under the store's read lock: it
 * must not call a function that writes or flushes db, which would
 * deadlock.  Returns 0, or what fn returned; a lookup's error goes to fn
 * only. */
int blt_get_many(struct blt *db, size_t n, const void *const *keys,
    const size_t *klens, blt_get_fn *fn, void *arg);

/* Copy up to n bytes of key's value starting at byte off into buf; returns
 * the bytes copied (0 at or past the end).  Errors: -ENOENT when missing,
 * -EUCLEAN. */
ssize_t blt_read(struct blt *db, const void *key, size_t klen, uint64_t off,
    void *buf, size_t n);
/* blt_read() given a hint, as blt_find_at() is. */
ssize_t blt_read_at(struct blt *db, const void *key, size_t klen, uint64_t at,
    uint64_t gen, uint64_t off, void *buf, size_t n);

/* Fill *e with where key's value lies in the file.  The offset stays right
 * while blt_generation() returns e->gen (a prune or clear moves values).
 * Flushes the buffer first if it holds puts.  Errors: those of the flush,
 * -ENOENT when missing, -EUCLEAN; *e is then not set. */
int blt_find(struct blt *db, const void *key, size_t klen, struct blt_entry *e);

/* blt_find() helped by a hint: at is where a scan of this open store
 * found key's block (blt_item.offset), while blt_generation() was gen.  The
 * buffer is flushed first, as by blt_find(); then, if the layout is still of
 * gen and the block there is live and holds key, *e comes from it: one read
 * where a lookup waits on the index and the chain in turn.  Otherwise (a prune
 * or clear ran since, the key was written again or deleted, or the hint is
 * wrong) it is blt_find().  A hint never changes the answer, only its cost; 0
 * is no hint. */
int blt_find_at(struct blt *db, const void *key, size_t klen, uint64_t at,
    uint64_t gen, struct blt_entry *e);

/* blt_find() that never waits for another process's lock: within
 * blt_hold_peek(), -EAGAIN where blt_find() would wait for it (a caller
 * holding a lock of its own that the store's followers may want). */
int blt_find_nowait(
    struct blt *db, const void *key, size_t klen, struct blt_entry *e);

/* 1 if key is live, 0 if not, or -EUCLEAN. */
int blt_exists(struct blt *db, const void *key, size_t klen);

/* A put in steps, for a value big enough that writing it should hold up
 * nothing else (blt_put() takes them by itself for a value larger than
 * the write buffer).  blt_put_begin() checks the arguments as blt_put()
 * does and makes room for the value at the end of the file;
 * blt_put_fill() writes the value there, holding no lock, so readers and
 * writers of the store go on meanwhile; blt_put_end() makes it the key's
 * value and blt_put_cancel() leaves the key as it was, each freeing p.
 * Until the end the key keeps its old value.  value must stay valid until
 * blt_put_end(), which writes it again if a prune or clear replaced the
 * file in between.  Like a buffered put, the end survives a crash of the
 * process once blt_flush() returns, a power cut once blt_sync() does.
 *
 * blt_put_begin() flushes the buffer first.  Errors: those of blt_put()'s
 * checks and of the flush, the write errors, -EMFILE (no descriptor for
 * the fill); *p is then NULL and the file as it was.  blt_put_fill()
 * returns the errno of pwrite(2) (-ENOSPC, -EIO, ...) and keeps it in p:
 * blt_put_end() returns it again and must still be called, or
 * blt_put_cancel().  blt_put_end() errors: the fill's, -EINVAL (no
 * blt_put_fill() of a value that is not empty), the write errors and
 * -EUCLEAN (a damaged chain); the key then keeps its old value, except
 * after a failure of the automatic reindex, as for blt_flush().
 * blt_put_cancel() is safe on NULL. */
struct blt_put_op;
int blt_put_begin(struct blt *db, const void *key, size_t klen, size_t vlen,
    int64_t ts, struct blt_put_op **p);
int blt_put_fill(struct blt_put_op *p, const void *value);
int blt_put_end(struct blt_put_op *p);
void blt_put_cancel(struct blt_put_op *p);

/* Delete key.  Errors: -EROFS, -ENOENT if it is missing, -EUCLEAN, the
 * write errors, and those of the flush made first when the key has a
 * buffered put.  After an error the key is not deleted (though a failed
 * flush lost its buffered put). */
int blt_del(struct blt *db, const void *key, size_t klen);

/* Get or set key's timestamp.  Errors: -ENOTSUP for a store without
 * timestamps, -ENOENT when the key is missing, -EUCLEAN; *ts is then not
 * set.  Setting it also: -EROFS, -EINVAL (out of range), the write errors,
 * after which the timestamp is as it was.  A stored key's timestamp is
 * written in place, with no flush. */
int blt_get_timestamp(
    struct blt *db, const void *key, size_t klen, int64_t *ts);
int blt_set_timestamp(struct blt *db, const void *key, size_t klen, int64_t ts);

/* Number of live user keys (metadata and reserved slots not counted),
 * buffered puts included.  Nothing is flushed or written.  Errors:
 * -EUCLEAN (a damaged chain, met looking up the key of a buffered put);
 * the puts stay buffered. */
int64_t blt_count(struct blt *db);

/* Changes whenever values move in the file (prune, clear). */
uint64_t blt_generation(struct blt *db);

/* A new descriptor (close-on-exec) of the file the store is in now, and
 * in *gen its generation: taken together under the lock, so that the two
 * always belong to each other, though a prune may meanwhile put a new
 * file in the store's place.  For reading values where blt_find() says
 * they lie (positional reads only: the file offset is shared).  The
 * caller closes it.  Errors: those of fcntl(2) (-EMFILE); *gen is set
 * all the same. */
int blt_dup_fd(struct blt *db, uint64_t *gen);

/* The path the store was opened with (owned by db, until blt_close()). */
const char *blt_path(struct blt *db);

/* Fill *st.  Flushes the buffer first.  Live and dead bytes come from a
 * scan the first time (none is needed after a blt_iter scan that ran to
 * the end while no key was put or deleted), which holds out readers and
 * writers, and are kept up to date afterwards.  Returns 0, or 1 where the
 * thread holds the store without the lock (blt_hold_peek()), no count is
 * kept, and the file changed since it was followed (or changed under the
 * scan): *st is then blt_info()'s.
 * Errors: those of the flush, -EUCLEAN (damage the scan met); *st is then
 * not set. */
int blt_stat(struct blt *db, struct blt_stat *st);

/* Give db the live bytes an earlier scan counted in the file as it is now
 * (a cache the caller checked is of this very file, unchanged), so that
 * blt_stat() needs no scan.  Taken only before anything is put or
 * deleted; -EINVAL if they cannot be right (more than the file holds),
 * or come too late. */
int blt_set_live_bytes(struct blt *db, uint64_t live_bytes);

/* Fill *st from the header alone: no scan and no flush, so live_bytes and
 * dead_bytes are 0 and n_keys leaves out buffered puts.  Never fails. */
int blt_info(struct blt *db, struct blt_stat *st);

/* Start a scan of live user keys in file order.  Keys put after the scan
 * started may or may not be seen; a key deleted before the scan reaches it
 * is not.  A prune or clear in between ends the scan with -ESTALE.
 * Flushes the buffer first.  On success the caller owns *out; see
 * blt_iter_free().  Errors: -ENOMEM, those of the flush; *out is then
 * NULL. */
int blt_iter_create(struct blt *db, struct blt_iter **out);

/* blt_iter_create() of a scan that checks each block's lengths and next
 * pointer but not its digest, the format's only checksum: a block whose
 * key bytes were damaged in place comes out as an item.  Faster the first
 * time a process scans a store, as it hashes no key (a mount's -o lazy
 * finds its directories this way before the scan that checks every
 * block); it vouches for no block, so a scan after it checks them. */
int blt_iter_create_unchecked(struct blt *db, struct blt_iter **out);

/* Fill *item with the next live key: 1, 0 at the end, or an error:
 * -ESTALE (a prune or clear ran since blt_iter_create()), -EUCLEAN (a
 * damaged block, or fewer keys than the header counts, found at the end).
 * *item is set only on 1; after an error each later call fails alike. */
int blt_iter_next(struct blt_iter *it, struct blt_item *item);

/* blt_iter_next() of up to max (1 or more) items at once, into items[]:
 * the number filled, 0 at the end, or an error (-EINVAL for max < 1).
 * They stay valid as blt_item says; an error met after some
 * items comes with the next call.  For scans of many keys: the store's
 * lock is taken once per call, not per item. */
int blt_iter_next_many(struct blt_iter *it, struct blt_item *items, int max);

/* Free it; safe on NULL. */
void blt_iter_free(struct blt_iter *it);

/* blt_iter_create_unchecked() of the live keys in the chains of the first
 * buckets buckets of the store's index (all of it if it has fewer), in
 * that order.  As keys are spread over the buckets by their hash, they are
 * a random sample of the keys, in which every group of many keys shows up
 * early: a lazy mount finds the directories of a store it meets for the
 * first time this way.  It vouches for no block, and it ends quietly, as
 * if at its end, at a chain it cannot follow; it follows at most 64 blocks
 * of a chain.  Errors: those of blt_iter_create(), and -ESTALE after a
 * prune or clear. */
int blt_iter_create_sample(
    struct blt *db, uint32_t buckets, struct blt_iter **out);

/* Where a whole scan left the store: the file's end when it started, the
 * last block before that end, and the header fields by which a later open
 * tells whether any block before that end moved or went since.  Plain
 * data, for a caller that keeps what the scan found (a mount's directory
 * hints) and later wants only what came after. */
struct blt_mark {
	uint64_t end;                  /* the file's end */
	uint64_t last, last_size;      /* the last block before end */
	unsigned char last_digest[13]; /* its digest (format §5) */
	uint32_t n_buckets;            /* the header's, when the scan began */
	uint64_t first_data;           /* effective */
	int64_t created;
	unsigned char uuid[16];
};

/* The mark of it, a scan that came to its end (blt_iter_next() gave 0)
 * with no prune or clear meanwhile: 0, or -EINVAL (a scan not at its
 * end, or of blt_iter_create_since()), -ESTALE, -ENODATA (no block),
 * -EOPNOTSUPP (a store whose header cannot tell a later prune or clear,
 * see blt_iter_create_since(), so that no mark of it would be taken). */
int blt_iter_mark(const struct blt_iter *it, struct blt_mark *m);

/* blt_iter_create_unchecked() of the blocks after m->end alone: the keys
 * put since the scan that made m, provided that the store can show that
 * no block before m->end moved or went meanwhile, so that the keys of
 * that scan and those of this one are every key the store has (but for
 * those deleted since).  Only a prune or a clear moves or drops blocks
 * (format §9, §13), and either leaves the header's first data position
 * at 200 or at 200 + 6N, N the buckets then, where nothing else puts it
 * again; so it can show this when that position is as it was and was
 * neither then: a store grown past its first index and never pruned, as
 * the reference's stores of more than 12,007 keys are.  The last block
 * before m->end must also be where it was, whole, with its digest, which
 * a file put in its place from an older copy is unlikely to have.
 * -ESTALE when it cannot show it (a store in its first index, one pruned
 * before or since, cleared, rewritten, another store's file), and the
 * other errors of blt_iter_create(). */
int blt_iter_create_since(
    struct blt *db, const struct blt_mark *m, struct blt_iter **out);

/* Sharing an open store with other processes (a mount beside the Python
 * pipeline that owns the store).  An open store holds booklet's lock (§12
 * of the format) until it is closed.  After blt_share() it holds it only
 * while a caller needs it: between blt_hold() and blt_unhold(), shared to
 * read, exclusive to write, and until blt_let_go() finds it idle.  While
 * it is let go, other processes read and write the store as they would
 * any other; the next blt_hold() sees what they did.  Every call of the
 * store must lie between blt_hold() and blt_unhold() (one that writes
 * without the exclusive lock fails with -ENOLCK); those two pair up per
 * call, not per thread, and a caller that holds must not call blt_hold()
 * again before its blt_unhold(). */

/* How another process changed the store while its lock was let go. */
#define BLT_SAME 0
#define BLT_GREW 1 /* blocks appended; nothing before old_end moved */
#define BLT_CHANGED                                                            \
	2 /* anything else: keys deleted, pruned, cleared, or                  \
	     another file put in its place; every offset of a                  \
	     key found before is void (blt_generation()) */

struct blt_change {
	int how;           /* BLT_GREW or BLT_CHANGED */
	uint64_t old_end;  /* the file's end when the lock was let go */
	uint64_t old_keys; /* blt_count() then */
	uint64_t new_keys; /* and now */
	/* how far blt_peek_follow() has passed the keys of the file as it
	 * is now (from where the lock was let go, or from the first data
	 * of a prune or clear it followed), 0 if it has not: the follow
	 * function knows those keys already */
	uint64_t peeked_to;
	/* a prune or clear that blt_peek_follow() has not read: it reads
	 * every key of the file again, from its first data on, at its next
	 * call, as after one it follows itself */
	int reread;
};

/* Told of a change by the blt_hold() that found it, before it or any
 * other caller goes on: the store is read again already, and holds the
 * lock; the function may read the store but not call blt_hold(). */
typedef void blt_follow_fn(void *arg, const struct blt_change *c);

/* Share db from now on; follow (may be NULL) hears of changes.  The
 * lock of the open stays held until blt_let_go().  lock_timeout is how
 * long blt_hold() waits for it (seconds; < 0 forever, 0 not at all).
 * -EINVAL if shared already, -ENOMEM, and fstat(2)'s errors. */
int blt_share(
    struct blt *db, double lock_timeout, blt_follow_fn *follow, void *arg);

/* Hold the store to read (write 0) or write, taking its lock if it is
 * not held in that mode, waiting at most blt_share()'s lock_timeout.  A
 * shared lock is converted to the exclusive one only while no caller
 * holds the store.  0 (also for a store not shared), or: -EWOULDBLOCK (a
 * process held the lock past the timeout; so do the callers that waited
 * for the same try), -ESTALE and -EUCLEAN (the file is no booklet store
 * any more, or one that reads wrong), the errors of open(2) for a file put
 * in the store's place. */
int blt_hold(struct blt *db, int write);
void blt_unhold(struct blt *db);
/* blt_hold() that never waits for another process: -EWOULDBLOCK at once
 * while one holds the lock (not counted as a timeout), for a caller with
 * other things to do meanwhile. */
int blt_hold_try(struct blt *db, int write);
/* blt_unhold() of a hold that is no use of the store to keep it locked:
 * blt_let_go()'s idle time runs on from the last blt_unhold(), so that
 * a caller working through the store in the background (a mount's rescan)
 * lets others in between its steps while nobody else uses it. */
void blt_unhold_unused(struct blt *db);

/* Hold the store to read without its lock (src/booklet/peek.c): if this
 * store holds the lock for writing now, as blt_hold(db, 0); otherwise
 * (held shared too, so that readers never keep it from going) the calling
 * thread reads the file as it is, whoever holds the lock, until its
 * blt_unhold().  blt_read(), blt_get(), blt_find(), blt_find_at(),
 * blt_exists() and blt_get_timestamp() then read with pread(2), check that
 * the key's block stood unchanged around the read, and only where a check
 * keeps failing (a prune by another process under way) wait for the lock
 * as blt_hold() does; blt_stat() scans only a file as it was followed.  An
 * entry they give has gen BLT_GEN_PEEK: its offset is no place to read
 * from later.  No other call of the store may be made meanwhile.  Always
 * 0. */
int blt_hold_peek(struct blt *db);
#define BLT_GEN_PEEK UINT64_MAX
/* Whether the calling thread holds db without its lock (blt_hold_peek()
 * that did not find the lock held by this store). */
int blt_peeking(struct blt *db);
/* Read up to n bytes at off of the value of key that an entry gave (its
 * value_off, value_len and timestamp), live or overwritten since, as long
 * as its block stays where it was, checked as blt_read() checks (a value
 * the kernel holds the size of is read whole, not cut at that size);
 * within blt_hold_peek() without the lock, or with it (a version another
 * process replaced before the lock was taken).  The bytes read, or
 * -ESTALE where that block is gone (a prune moved it), and pread(2)'s
 * errors. */
ssize_t blt_read_version(struct blt *db, const void *key, size_t klen,
    const struct blt_entry *e, uint64_t off, void *buf, size_t n);
/* The value_off of the entry of a block at at (a blt_item.offset) that
 * holds a key of klen bytes: with its value_len and timestamp, what
 * blt_read_version() reads a version by, for a caller that kept only
 * where the block lay and what the value's size was. */
uint64_t blt_value_off(const struct blt *db, uint64_t at, size_t klen);

/* What blt_peek_follow() passes for each live key appended: where its
 * block starts, and its value's length. */
typedef void blt_peek_fn(
    void *arg, const void *key, size_t klen, uint64_t vlen, uint64_t at);

/* While the lock is let go, whoever holds it: read the blocks another
 * process appended since the last look (or since the lock was let go),
 * without the lock, and pass fn each live key among them, with no lock of
 * the store held and the calling thread holding it as blt_hold_peek()
 * would.  Blocks not yet whole are left for the next call.  After a prune
 * or clear by that process, every live key is passed again, from the new
 * layout on (blt_share_stat()'s rebased); its deletes are not passed.
 * *n_keys gets the key count the header gives (UINT64_MAX if none it can
 * trust), which falls short of the keys passed so far when that process
 * deleted some.  The number of keys passed, or -ESTALE when another file
 * was put in the store's place (for blt_poll() and blt_hold() to follow,
 * once the lock can be had), -ENOMEM, or pread(2)'s errors. */
int64_t blt_peek_follow(
    struct blt *db, blt_peek_fn *fn, void *arg, uint64_t *n_keys);

/* Let the lock go if no caller has held the store for idle seconds:
 * the buffer is flushed and the key count written back first (with an
 * fsync if it was marked unclean), as blt_close() would.  1 if let go, 0
 * if not (busy, let go already, not shared), -EIO if writing back failed
 * (blt_errmsg() says why; the lock is kept). */
int blt_let_go(struct blt *db, double idle);

/* While the lock is let go: if the file changed since, and not only as
 * far as blt_peek_follow() has read it already (which a caller that
 * follows calls first), take the shared lock if it is free, follow the
 * change (blt_share()'s follow function) and let it go again.  For a
 * caller that follows the store on its own, not only when asked: cheap
 * (two stat calls and a header read) when nothing changed.  1 if a
 * change was followed, 0 if none was (none, the lock held by this store or
 * by a writer still at work), or the errors of blt_hold() and
 * blt_let_go(). */
int blt_poll(struct blt *db);

/* Whether another process was seen at work on the shared store within the
 * last within seconds: holding the lock that this store wanted, or
 * changing the file while this store let the lock go (blt_peek_follow()
 * looks).  0 for a store not shared. */
int blt_others_active(struct blt *db, double within);

/* What sharing did so far.  The struct grows at its end, from one release
 * to the next; blt_share_stat() fills as much of it as the caller says it
 * has, so a program built against an older header keeps working. */
struct blt_share_stat {
	int mode;         /* the lock held now: 0 none, 1 shared, 2 exclusive */
	unsigned holds;   /* callers holding the store now */
	uint64_t taken;   /* times the lock was taken again */
	uint64_t let_go;  /* ... and let go */
	uint64_t grew;    /* changes followed by reading what was appended */
	uint64_t changed; /* ... by reading the store again */
	uint64_t replaced;     /* of those, another file in the store's place */
	uint64_t timeouts;     /* holds that failed past the lock timeout */
	uint64_t rebased;      /* prunes and clears of another process read
	                          without the lock (blt_peek_follow()) */
	uint64_t polled;       /* of taken: by blt_poll() */
	uint64_t reads_locked; /* of taken: by reads without the lock that
	                          could not be trusted and waited for it */
	unsigned waiting;      /* holds waiting for another process's lock
	                          now (a write through a mount) */
};
/* Fill the first size bytes of *st (pass sizeof *st); the fields past
 * them are left alone.  -EINVAL for a store not shared. */
int blt_share_stat(struct blt *db, struct blt_share_stat *st, size_t size);

/* blt_iter_create_unchecked() of the blocks after c->old_end alone, for a
 * follow function told of a BLT_GREW change: what other processes put;
 * after c->peeked_to when set (also of a BLT_CHANGED one): what they put
 * that blt_peek_follow() has not passed. */
int blt_iter_create_grown(
    struct blt *db, const struct blt_change *c, struct blt_iter **out);
/* For the same function: the dead blocks of user keys before c->old_end
 * (deleted or overwritten, in file order; their keys as items), among
 * which are the keys other processes deleted: a delete writes no block,
 * but makes the key's live block a tombstone in place (format §7.3). */
int blt_iter_create_dead(
    struct blt *db, const struct blt_change *c, struct blt_iter **out);

/* Metadata: a JSON text kept beside the keys (variable stores only), as
 * given: it is not parsed.  blt_get_meta() works as blt_get(); -ENOENT
 * when none is set or for a fixed store.  blt_set_meta() buffers it as
 * blt_put() does, with its errors, and -ENOTSUP for a fixed store. */
ssize_t blt_get_meta(struct blt *db, void *buf, size_t cap, int64_t *ts);
int blt_set_meta(struct blt *db, const void *json, size_t len, int64_t ts);

/* Reserved slots 1 and 2: raw bytes for applications (variable stores),
 * read and written as the metadata; -EINVAL for another slot. */
ssize_t blt_get_reserved(
    struct blt *db, int slot, void *buf, size_t cap, int64_t *ts);
int blt_set_reserved(
    struct blt *db, int slot, const void *data, size_t len, int64_t ts);

/* Grow the index to n_buckets buckets (more than it has, at most
 * BLT_BUCKETS_MAX), or as BLT_GROW (also 0: the next size in booklet's
 * sequence) or BLT_FIT (the size the keys need; an index that holds them
 * already stays as it is) say; see blt_prune_opts.  Auto-reindex happens by
 * itself on flush, exactly when booklet does it.  Flushes the buffer first, and
 * holds out readers and writers while it runs (a prune with n_buckets does
 * not).  Errors: -EROFS, -EINVAL for a size that would not grow the index or is
 * over BLT_BUCKETS_MAX, those of the flush, the write errors and -EUCLEAN (a
 * damaged chain).  After an error the index is as it was, unless
 * blt_flags() gained BLT_REINDEX_STUCK. */
int blt_reindex(struct blt *db, uint32_t n_buckets);

/* Compact the store: write a new file holding only live blocks (minus
 * those opts drops; opts may be NULL), fsync it and rename it into place.
 * Readers and writers carry on meanwhile: the copy is made under short
 * read locks, and what changed during it is carried over while the write
 * lock is held for the swap.  Returns the number of blocks removed, as
 * booklet counts them.  Flushes the buffer before the copy and before the
 * swap.  Errors: -EROFS, -EINVAL (opts->n_buckets), those of the flushes,
 * -EUCLEAN (damage met by the copy), the write errors, and those of
 * open(2) for the new file beside the store (-EACCES for a directory we
 * may not write) and of rename(2).  After an error the store is as it was
 * and the new file gone, except for an error of the fsync of the
 * directory after the rename (the compacted store is in place, but may
 * not survive a power cut) or of the automatic reindex that follows (as
 * for blt_flush()). */
int64_t blt_prune(struct blt *db, const struct blt_prune_opts *opts);

/* Remove every key, the metadata and the reserved slots, and drop the
 * buffered puts, by putting a new empty file in the store's place as
 * blt_prune() does.  Errors: -EROFS, and blt_prune()'s but the flushes.
 * After an error the stored keys are as they were, but the buffered puts
 * are dropped all the same. */
int blt_clear(struct blt *db);

/* Flags for blt_check(). */
#define BLT_CHECK_REPAIR 1 /* rebuild the index from the data blocks */

/* Called by blt_check() for every problem found: offset (or 0) and text. */
typedef void blt_report_fn(void *arg, uint64_t offset, const char *problem);

/* Verify the store at path (it must not be open in this process).  A store
 * another process holds fails at once with -EWOULDBLOCK.  report
 * (may be NULL) hears of each problem.  Returns the number of problems
 * found (0 for a sound store) or a negative errno if the file could not be
 * checked at all: those of open(2) (-ENOENT, ...), -EWOULDBLOCK,
 * -EUCLEAN (not a booklet store, or a header that cannot be read or
 * mended), -EPROTONOSUPPORT, -ENOMEM.  Without BLT_CHECK_REPAIR nothing is
 * written.  With it the index and header are rebuilt from a scan of the
 * data blocks, and the return value counts the problems that were found
 * before the repair; a write that fails returns the write errors (-EIO
 * for one that covered damage) and leaves the store marked unclean, for
 * a writable open or another repair. */
int blt_check(const char *path, int flags, blt_report_fn *report, void *arg);

/* Flags of an open store. */
#define BLT_RECOVERED 1 /* recovered from an unclean close when opened */
#define BLT_READONLY 2
/* A reindex failed half-way (explicit, or the automatic one after a flush;
 * the call that ran it returned its error).  What was flushed before it
 * is stored, but the store takes no more writes (flushes, deletes,
 * timestamps, prunes, clears and reindexes fail with -EIO; a put is still
 * buffered, and its flush fails) and stays marked unclean: opened again
 * for writing, it finishes or undoes the reindex. */
#define BLT_REINDEX_STUCK 4
/* A write at the end of the file failed and what it left there could not
 * be cut off (a disk failing for good, say).  As with BLT_REINDEX_STUCK,
 * what was stored before is kept and the store takes no more writes
 * (-EIO); opened again for writing, it cuts the torn end off. */
#define BLT_TORN_TAIL 8
/* Opened read-only, the store was not closed cleanly (its key count is
 * the unclean sentinel), and it was checked and found to read right as it
 * is: every block whole, every live block reached from its bucket.  Its
 * keys were counted; the file is left as it was.  One that does not read
 * right is refused with -EUCLEAN, to be recovered by a writable open. */
#define BLT_UNCLEAN 16
/* A flush failed after it had begun to mark its puts live in the file (an
 * fsync or a pointer write failed in its second or third step): those
 * puts are neither surely stored nor surely lost, and some may be live but
 * not reached from their buckets.  As with BLT_REINDEX_STUCK, what was
 * stored before is kept, the store takes no more writes (-EIO) and stays
 * marked unclean; opened again for writing, it links every live block, so
 * the puts of the failed flush come back. */
#define BLT_FLUSH_STUCK 32
/* The flags above; safe to call from any thread, also while another one
 * writes. */
int blt_flags(struct blt *db);

/* The message of the last failure in this thread: a call that succeeds
 * leaves it as it was, the next failure in this thread overwrites it. */
const char *blt_errmsg(void);

/* For code built on libbooklet (the map pool, the tools, the daemon):
 * record the one-line message blt_errmsg() returns in this thread, naming
 * the file or key and the cause, and return rc, so that every layer's
 * failures reach the user through one channel.  Never fails. */
int blt_errmsg_set(int rc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Add to the message of the failure just recorded in this thread; return
 * rc.  Never fails. */
int blt_errmsg_append(int rc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A printable rendering of key for messages: its text in quotes, with
 * non-printable bytes as \xNN, cut after 80 bytes.  Valid until the next
 * call in this thread. */
const char *blt_errmsg_key(const void *key, size_t klen);

/* The current time in µs since the epoch. */
int64_t blt_now(void);

/* Called now and then, in the calling thread, by a long call (blt_check,
 * blt_prune, blt_reindex, blt_stat's scan) with how far it is: done of
 * total, counted in unit, "bytes" (of the file) or "buckets" (of the
 * index); a call may go through several passes, each from 0.  It must not
 * call the library. */
typedef void blt_progress_fn(
    void *arg, const char *unit, uint64_t done, uint64_t total);

/* Set the progress function of this thread (NULL: none, the default). */
void blt_progress_set(blt_progress_fn *fn, void *arg);

/* The name of a serializer code ("str", "uint4", ...), or "unknown". */
const char *blt_serializer_name(unsigned code);

/* The width in bytes of every key of an integer key serializer (codes 6 to
 * 15: uint1, int1 ... uint8, int8, little-endian), or 0 for another code;
 * *is_signed (if not NULL) says whether it is an int. */
int blt_int_key_width(unsigned code, int *is_signed);

#endif
