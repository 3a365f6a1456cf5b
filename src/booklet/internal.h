/*
 * libbooklet's internal index: constants of the format, the store handle,
 * and one prototype block per source file, in file order.  Section numbers
 * (§) refer to booklet-format.md.
 */
#ifndef BLT_INTERNAL_H
#define BLT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "booklet.h"

/* §0 */
#define HEADER_LEN 200
#define PTR_LEN 6
#define KLEN_LEN 2
#define VLEN_LEN 4
#define HASH_LEN 13
#define TS_LEN 7
#define PTR_TOMBSTONE 0
#define PTR_END 1
#define NKEYS_UNCLEAN 0xFFFFFFFFu
#define LEGACY_ABSENT UINT64_C(0x303030303030)
#define PTR_MAX ((UINT64_C(1) << 48) - 1)
#define INTERNAL_KEY_LEN 23

/* §2.1: where each header field starts.  The u16 and u32 fields are 2 and
 * 4 bytes wide. */
#define HDR_MAGIC_OFF 0 /* 16 bytes: the file type */
#define HDR_MAGIC_LEN 16
#define HDR_VERSION_OFF 16    /* u16 */
#define HDR_PTR_WIDTH_OFF 18  /* 1 byte: PTR_LEN */
#define HDR_KLEN_WIDTH_OFF 19 /* 1 byte: KLEN_LEN */
#define HDR_VLEN_WIDTH_OFF 20 /* 1 byte: VLEN_LEN, or 0 in a fixed file */
#define HDR_N_BUCKETS_OFF 21  /* u32 */
#define HDR_OBSOLETE_OFF 25   /* u32, always 0 (4 in booklet 0.3's v3) */
#define HDR_VALUE_SER_OFF 29  /* u16 */
#define HDR_KEY_SER_OFF 31    /* u16 */
#define HDR_N_KEYS_OFF 33     /* u32 */
#define HDR_VALUE_LEN_OFF 37  /* u32, fixed files only */
#define HDR_TS_FLAG_OFF 41    /* 1 byte */
#define HDR_CREATED_OFF 42    /* TS_LEN bytes */
#define HDR_UUID_OFF 49
#define HDR_UUID_LEN 16
#define HDR_INDEX_OFFSET_OFF 65   /* pointer: index_offset */
#define HDR_FIRST_DATA_POS_OFF 71 /* pointer: first_data_block_pos */
#define HDR_UNUSED_OFF 77         /* to HEADER_LEN: never read (§2.1) */

/* §5.1, §5.2: where each field of a block starts.  The value length is in
 * variable blocks only, and so is the timestamp, when the store has them. */
#define BLOCK_DIGEST_OFF 0
#define BLOCK_NEXT_OFF HASH_LEN
#define BLOCK_KLEN_OFF (BLOCK_NEXT_OFF + PTR_LEN)
#define BLOCK_VLEN_OFF (BLOCK_KLEN_OFF + KLEN_LEN)
#define FIX_FIXED_LEN BLOCK_VLEN_OFF              /* digest, next, key length */
#define VAR_FIXED_LEN (BLOCK_VLEN_OFF + VLEN_LEN) /* and value length */
#define BLOCK_TS_OFF VAR_FIXED_LEN

/* Our journal in the header bytes the reference never reads (§2.1: 77..199
 * are unused), so an interrupted reindex can be finished on open: a magic,
 * the op, five numbers whose widths header.c lists, and a digest of all
 * that. */
#define JOURNAL_OFF HDR_UNUSED_OFF
#define JOURNAL_LEN 48
#define JOURNAL_MAGIC_LEN 8
#define JOURNAL_OP_OFF JOURNAL_MAGIC_LEN
#define JOURNAL_ARGS_OFF (JOURNAL_OP_OFF + 1)
#define JOURNAL_SUM_OFF (JOURNAL_LEN - HASH_LEN)
#define JOURNAL_REINDEX 1
/* After it, where a shared store is marked open for writing (header.c,
 * hdr_mark_dirty()): the reference never reads these bytes, so it opens
 * a store a killed mount left marked, which our next open recovers. */
#define OPEN_MARK_OFF (JOURNAL_OFF + JOURNAL_LEN)
#define OPEN_MARK_LEN 8

struct io_map;
struct keydir;
struct keyfilter;
struct put_if;
struct peek_hints;

/* The header as parsed (§2) plus the effective layout (§1). */
struct hdr {
	unsigned version;
	int fixed;
	unsigned ts_len; /* 7 or 0 */
	uint32_t value_len;
	uint32_t n_buckets;
	uint16_t key_ser;
	uint16_t value_ser;
	uint32_t n_keys_raw; /* as stored; NKEYS_UNCLEAN after a crash */
	int64_t created;
	unsigned char uuid[16];
	uint64_t index_off;  /* effective */
	uint64_t first_data; /* effective */
};

/* One parsed data block (§5). */
struct block {
	uint64_t off;
	uint64_t size;
	const unsigned char *digest;
	uint64_t next;
	const unsigned char *key;
	size_t klen;
	const unsigned char *value;
	uint64_t vlen;
	int64_t ts; /* BLT_NO_TS when the store has none */
};

/* A put waiting in the write buffer. */
struct pend {
	unsigned char digest[HASH_LEN];
	uint64_t boff; /* offset of the block inside the buffer */
};

/* A read-only or read-write mapping of the store file, possibly longer than
 * the file so that it follows the file as it grows.  Counted references
 * keep it alive while iterators borrow from it. */
struct io_map {
	unsigned char *base;
	size_t len;
	atomic_int refs;
};

struct blt {
	char *path;
	char *file; /* the file itself, path's symbolic links followed: where
	             * a prune makes its new file and renames it */
	int fd;
	int rdonly;
	int flags; /* BLT_RECOVERED ...; read and set atomically once open */
	pthread_rwlock_t lock;

	struct io_map *map;
	uint64_t size;    /* bytes in the file (the buffer not included) */
	uint64_t trusted; /* blocks below: written or verified by us (atomic) */
	uint64_t gen;
	struct hdr h;
	uint64_t n_keys; /* live user keys in the file */
	int dirty;       /* NKEYS_UNCLEAN is on disk */
	/* blocks appended since the last io_sync(): an overwrite syncs
	 * before it links, and the blocks it replaced wait in bury for
	 * their tombstones until the links are durable (write.c) */
	int unsynced;
	uint64_t *bury;
	size_t n_bury, cap_bury;

	/* write buffer (§7.1) and an open-addressing set of its digests */
	unsigned char *buf;
	size_t buf_len, buf_cap, buf_limit;
	struct pend *pend;
	size_t n_pend, pend_cap;
	uint32_t *pset; /* index + 1 into pend, 0 = empty */
	size_t pset_cap;

	int usage_known;
	uint64_t live_bytes;  /* dead bytes derive from it (blt_stat) */
	uint64_t usage_epoch; /* moves with every change of the live bytes,
	                       * known or not: a scan that saw none counted
	                       * them (iter.c) */
	pthread_mutex_t prune_lock; /* one online prune at a time */
	/* while an online prune copies the file, the end of what it copies
	 * (never 0: the header lies before it), else 0.  Meanwhile no reindex
	 * runs (the appended range must hold blocks only), and a big put
	 * placed before it is placed again (put.c). */
	uint64_t prune_eof;
	uint64_t ts_writes; /* timestamps set in the file, for a prune's
	                       catch-up */
	double lock_timeout;

	/* keydir.c: the index in memory, published once built; lookups
	 * through the file that found their key since the last try; a
	 * build is due; one runs */
	struct keydir *kd;
	uint64_t kd_lookups;
	int kd_due, kd_building;
	/* keyfilter.c: the digests of every key linked since the reindex
	 * to the most buckets, or NULL; under the write lock */
	struct keyfilter *kf;

	/* share.c: the store shared with other processes (blt_share()) */
	struct share *share;
	/* peek.c: where reads without the lock last found keys (atomic) */
	struct peek_hints *peek_hints;
};

/* Read a little-endian integer of n bytes.  n is a constant wherever
 * this is inlined, so the sizes the format uses become one or two loads
 * (on a little-endian machine) instead of a loop of byte shifts: a chain
 * walk reads a 6-byte pointer per block. */
static inline uint64_t
le_get(const unsigned char *p, unsigned n)
{
	uint64_t v = 0;
	uint32_t lo;
	uint16_t hi;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	switch (n) {
	case 2:
		memcpy(&hi, p, 2);
		return hi;
	case 4:
		memcpy(&lo, p, 4);
		return lo;
	case 6:
		memcpy(&lo, p, 4);
		memcpy(&hi, p + 4, 2);
		return (uint64_t)hi << 32 | lo;
	case 8:
		memcpy(&v, p, 8);
		return v;
	default:
		break;
	}
#endif
	(void)lo;
	(void)hi;
	while (n-- > 0)
		v = v << 8 | p[n];
	return v;
}

/* Write v as a little-endian integer of n bytes. */
static inline void
le_put(unsigned char *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++, v >>= 8)
		p[i] = (unsigned char)v;
}

/* err.c: the engine records its messages with the public
 * blt_errmsg_set(), blt_errmsg_append() and blt_errmsg_key(), under the
 * short names the rest of the engine uses. */
#define err_set blt_errmsg_set
#define err_append blt_errmsg_append
#define err_key blt_errmsg_key
int err_oom(const char *path);
int err_missing(const char *path);

/* progress.c */
/* Bytes a scan goes between two reports of its progress. */
#define PROGRESS_SCAN_BYTES (16u << 20)
/* Buckets a rewiring of the index goes between two reports. */
#define PROGRESS_BUCKETS (1u << 16)
void progress_note(const char *unit, uint64_t done, uint64_t total);

/* hash.c */
void hash_digest(const void *key, size_t klen, unsigned char out[HASH_LEN]);
uint32_t hash_bucket(const unsigned char d[HASH_LEN], uint32_t n);
/* hash-lanes.c: up to HASH_LANES digests in one pass */
#define HASH_LANES 8
void hash_digest_many(const unsigned char *const keys[], const size_t klens[],
    int n, unsigned char out[][HASH_LEN]);
void hash_digest_lanes(int wide, const unsigned char *const keys[],
    const size_t klens[], int n, unsigned char out[][HASH_LEN]);
int hash_internal_key(const void *key, size_t klen);
extern const char *const hash_internal_keys[3];

/* io.c */
int io_open(struct blt *db, const char *path, int mode);
int io_open_locked(struct blt *db, const char *path, int mode, int exclusive);
int io_map_cover(struct blt *db, uint64_t end);
void io_map_unref(struct io_map *m);
struct io_map *io_map_ref(struct io_map *m);
int io_append(struct blt *db, const void *buf, size_t len);
int io_fill(struct blt *db, uint64_t off, uint64_t count, uint64_t ptr);
int io_write(struct blt *db, uint64_t off, const void *buf, size_t len);
int io_pwrite(
    struct blt *db, int fd, uint64_t off, const void *buf, size_t len);
int io_reserve(struct blt *db, const void *head, size_t hlen, uint64_t size);
int io_dup(struct blt *db);
int io_put_ptr(struct blt *db, uint64_t off, uint64_t v);
size_t io_page_size(void);
void io_read_ahead(const struct blt *db, const unsigned char *p, uint64_t len);
int io_sync(struct blt *db);
void io_start_writeback(struct blt *db, uint64_t off, uint64_t len);
int io_truncate(struct blt *db, uint64_t len);
void io_cut_back(struct blt *db, uint64_t len);
void io_close(struct blt *db);
int io_lock(int fd, const char *path, int exclusive, double timeout);
int io_create(struct blt *db, struct blt *nb);
int io_rename(struct blt *db, const char *from, const char *to);
int io_sync_dir(const char *path);
int io_unlink(const char *path);
void io_close_dup(int fd);
/* Called before every write, truncate and sync of the store's files, and
 * before each operation on their names; a negative errno fails the
 * operation as if the system had returned it (the return of IO_OP_CLOSE is
 * ignored).  fd is -1 for the operations on names. */
typedef int io_hook_fn(void *arg, int op, int fd, uint64_t off, size_t len);
void io_set_hook(io_hook_fn *fn, void *arg);
#define IO_OP_WRITE 1
#define IO_OP_SYNC 2
#define IO_OP_TRUNCATE 3
#define IO_OP_CLOSE 4
#define IO_OP_CREATE 5   /* a prune's new file (io_create) */
#define IO_OP_RENAME 6   /* it goes into place (io_rename) */
#define IO_OP_SYNC_DIR 7 /* the rename made durable (io_sync_dir) */
#define IO_OP_UNLINK 8   /* a prune's leftover file removed (io_unlink) */
/* Take no more writes until the store is reopened, which repairs what the
 * failure left; why is BLT_REINDEX_STUCK, BLT_TORN_TAIL or BLT_FLUSH_STUCK,
 * added to
 * blt_flags(). */
void io_stop_writes(struct blt *db, int why);
/* -EIO with the reason once io_stop_writes() was called, else 0: any
 * thread, no lock needed. */
int io_stopped(struct blt *db);

static inline uint64_t
io_get_ptr(const struct blt *db, uint64_t off)
{
	return le_get(db->map->base + off, PTR_LEN);
}

/* header.c */
int hdr_parse(struct blt *db, const unsigned char *b);
void hdr_build(unsigned char *b, const struct blt_options *o);
int hdr_write_layout(struct blt *db);
int hdr_write_nkeys(struct blt *db, uint32_t n);
int hdr_mark_dirty(struct blt *db);
int hdr_open_marked(const unsigned char *b);
int hdr_journal_write(struct blt *db, int op, uint64_t a, uint32_t b,
    uint64_t c, uint32_t d, uint64_t e);
int hdr_journal_read(const unsigned char *b, uint64_t v[5]);
int hdr_journal_clear(struct blt *db);
uint32_t hdr_next_buckets(uint32_t n);
int hdr_check_buckets(const char *path, uint32_t n);

/* block.c */
int block_parse(const struct blt *db, const unsigned char *base, uint64_t off,
    uint64_t end, struct block *b);
int block_live_at(const struct blt *db, uint64_t off, const void *key,
    size_t klen, struct block *b);
void block_prefetch(const struct blt *db, uint64_t off);
size_t block_size(const struct blt *db, size_t klen, uint64_t vlen);
uint64_t block_size_at(const struct blt *db, const unsigned char *p);
void block_encode(const struct blt *db, unsigned char *out,
    const unsigned char *digest, uint64_t next, const void *key, size_t klen,
    const void *value, uint64_t vlen, int64_t ts);
int block_skip_fill(struct blt *db, uint64_t off, uint64_t len);
int block_is_skip(const struct blt *db, const struct block *b);
int block_keyed(const struct block *b);

/* index.c */
uint64_t index_slot(const struct blt *db, const unsigned char *digest);
int index_bad_ptr(const struct blt *db, uint64_t p, uint64_t from);
int index_walk(struct blt *db, uint64_t slot, uint64_t p,
    const unsigned char *digest, const void *key, size_t klen, struct block *b,
    uint64_t *prev);
int index_push(struct blt *db, uint64_t slot, uint64_t q);
int index_find(struct blt *db, const unsigned char *digest, const void *key,
    size_t klen, struct block *b, uint64_t *prev);
int read_newest(struct blt *db, const unsigned char *digest, const void *key,
    size_t klen, struct block *b);
/* index_link()'s way with an overwrite: the old block tombstoned at
 * once, left live (the caller tombstones it once the new one is
 * durable), or left alone for a caller that must sync first. */
#define INDEX_TOMB_NOW 0
#define INDEX_TOMB_LATER 1
#define INDEX_TOMB_ASK 2
#define INDEX_NEEDS_SYNC 2 /* index_link(): an overwrite, nothing written */
int index_link(struct blt *db, uint64_t slot, const unsigned char *digest,
    uint64_t q, struct block *old, int tomb);
int index_unlink(struct blt *db, struct block *b, uint64_t prev);

/* keydir.c */
#define KEYDIR_UNKNOWN (-1) /* keydir_find(): not built, or puts buffered */
int keydir_find(struct blt *db, const void *key, size_t klen, struct block *b);
int keydir_ahead(struct blt *db, const void *key, size_t klen, uint64_t *h);
uint64_t keydir_block_of(const struct blt *db, uint64_t h);
int keydir_find_ahead(
    struct blt *db, uint64_t h, const void *key, size_t klen, struct block *b);
void keydir_note_hit(struct blt *db);
void keydir_build(struct blt *db);
void keydir_drop(struct blt *db);
void keydir_link(
    struct blt *db, const void *key, size_t klen, uint64_t old, uint64_t q);
void keydir_unlink(struct blt *db, const void *key, size_t klen, uint64_t off);

/* keyfilter.c */
void keyfilter_start(struct blt *db, uint32_t n_buckets);
void keyfilter_drop(struct blt *db);
/* Put digest in; 1 if it surely was not in before (no filter: 0). */
int keyfilter_add(struct blt *db, const unsigned char *digest);
int keyfilter_surely_new(const struct blt *db, const unsigned char *digest);
void keyfilter_prefetch(const struct blt *db, const unsigned char *digest);

/* scan.c */
struct scan {
	const struct blt *db;
	const unsigned char *base;
	uint64_t pos, end;
	uint64_t next_start, next_end; /* the second region, or 0 0 */
	int all;                       /* return tombstones too */
	int lax;   /* return live blocks whose next pointer is out of range */
	int fresh; /* no live block of this region checked yet */
	uint64_t trusted; /* db->trusted when the scan started */
	uint64_t eof;     /* the file's end, for progress_note() */
	uint64_t last;    /* where the last block passed starts, or 0 */
	uint64_t ahead;   /* read ahead up to here (scan_read_ahead) */
};
void scan_init(struct scan *s, const struct blt *db, const unsigned char *base,
    uint64_t index_off, uint32_t n_buckets, uint64_t first_data, uint64_t eof);
int scan_next(struct scan *s, struct block *b);
int scan_bad_next(const struct blt *db, const struct block *b);
int scan_whole(const struct blt *db, const struct block *b);
void scan_trust(struct blt *db, uint64_t end);
int scan_check_end(struct blt *db);
int scan_usage(struct blt *db);

/* write.c */
int write_flush(struct blt *db, int durable);
int write_pending_find(
    const struct blt *db, const unsigned char *digest, struct block *b);
void write_free(struct blt *db);
int write_check_key(struct blt *db, const void *key, size_t klen);
int write_block(struct blt *db, const unsigned char *digest, const void *key,
    size_t klen, const void *value, uint64_t vlen, int64_t ts);
int write_del_locked(struct blt *db, const void *key, size_t klen, int quiet);
int write_reclean(struct blt *db, int rc);
int write_link(
    struct blt *db, uint64_t slot, const unsigned char *digest, uint64_t q);
int write_put_args(struct blt *db, const void *key, size_t klen, uint64_t vlen,
    int64_t *ts, unsigned char digest[HASH_LEN]);
int64_t write_timestamp(int64_t ts);
int write_holds(struct blt *db, const unsigned char *digest, const void *key,
    size_t klen, const struct put_if *cond);
void write_discard(struct blt *db);
int write_bury(struct blt *db);

/* put.c */
/* The value a conditional put expects its key to hold (blt_put_if()). */
struct put_if {
	const void *old;
	size_t oldlen;
};
int put_direct(struct blt *db, const unsigned char *digest, const void *key,
    size_t klen, const void *value, uint64_t vlen, int64_t ts,
    const struct put_if *cond);

/* reindex.c */
int reindex_run(struct blt *db, uint32_t n1, int *undone);
int reindex_auto(struct blt *db);
int reindex_finish(struct blt *db, const uint64_t j[5]);
int reindex_target(struct blt *db, uint32_t want, uint32_t *out);

/* prune.c */
/* The name of the new file a prune of the store file writes before it
 * renames it into place (malloc'd), or NULL if memory runs out. */
char *prune_file_name(const char *file);
int64_t prune_run(struct blt *db, const struct blt_prune_opts *o,
    uint32_t n_buckets, int clear);
int64_t prune_online(struct blt *db, const struct blt_prune_opts *o);

/* check.c */
int check_layout_sound(struct blt *db);
int check_readable_as_is(struct blt *db, uint64_t *n_keys);

/* share.c */
int share_may_write(const struct blt *db);
int share_writable(struct blt *db);
void share_free(struct blt *db);
/* A read without the lock that could not be trusted (a writer moving
 * what it read) waits for the writer without it: 0 to read again,
 * -EAGAIN to read with the lock (share_peek_lock()): the file stood
 * still while the read kept failing, or no other process holds the lock,
 * so no writer is at work that waiting would outlast; -EBUSY past the
 * lock timeout.  w starts zeroed,
 * one for each read. */
struct share_wait {
	int64_t start, still; /* µs, monotonic */
	int64_t size;
	struct timespec mtime;
	int naps;
};
int share_peek_wait(struct blt *db, struct share_wait *w);
int share_peek_lock(struct blt *db);
uint64_t share_peek_from(struct blt *db);
struct peek_layout;
/* Whether the file, its header in the layout l the mount's thread last
 * read others' appends by, is shorter than what that thread read: cut
 * with the header as it was, which only a prune or clear under way does
 * (format §9 cuts the file before it writes the header), whose walks
 * prove nothing gone. */
int share_peek_cut(struct blt *db, const struct peek_layout *l);
void share_peek_unlock(struct blt *db);
/* 1 if the file is as the store last followed it (its size, times and
 * header), read without the lock: the map may be scanned as it is. */
int share_unchanged(struct blt *db);

/* peek.c */
void peek_enter(struct blt *db);
void peek_leave(void);
int peek_held(const struct blt *db);
void peek_free(struct blt *db);
void peek_hint_put(
    struct blt *db, const unsigned char *digest, uint64_t epoch, uint64_t off);
/* The prunes and clears of another process followed without the lock so
 * far: each moved every block (share.c). */
uint64_t share_peek_epoch(struct blt *db);
/* The hint at of peek_read() and peek_find_entry() is where the key's
 * block was, or 0, taken in generation gen: when peek_at_sure() says it
 * is of the layout the file has had since, other bytes there show a prune
 * in place under way (peek_find()).  A read that cannot be trusted waits
 * for the writer without the lock (share_peek_wait()): -EAGAIN is for a
 * read to make with the lock (share_peek_lock()). */
ssize_t peek_read(struct blt *db, const void *key, size_t klen, uint64_t at,
    uint64_t gen, uint64_t off, void *buf, size_t n);
ssize_t peek_get(struct blt *db, const void *key, size_t klen, void *buf,
    size_t cap, int64_t *ts);
int peek_find_entry(struct blt *db, const void *key, size_t klen, uint64_t at,
    uint64_t gen, struct blt_entry *e);
/* peek_find_entry() with no hint that waits for nobody: -EAGAIN when it
 * cannot tell (blt_find_nowait()). */
int peek_find_now(
    struct blt *db, const void *key, size_t klen, struct blt_entry *e);
/* Whether a hint of generation gen, taken while this store held the lock,
 * is of the layout the file has now: no prune or clear of this store or,
 * followed without the lock, of another process since (share.c). */
int peek_at_sure(struct blt *db, uint64_t gen);
/* The layout of a store as its header says, and the file's size. */
struct peek_layout {
	uint64_t index_off;
	uint64_t first_data;
	uint32_t n_buckets;
	uint64_t size;
	uint64_t n_keys;       /* the header's, UINT64_MAX if unclean */
	struct timespec mtime; /* of the look (peek_layout()), else 0 */
};
int peek_layout_parse(
    const unsigned char *h, uint64_t size, struct peek_layout *l);
/* The header's facts in st (blt_stat()) as the file has them now, read
 * without the lock: another process changed it since it was followed. */
void peek_info(struct blt *db, struct blt_stat *st);
/* The keys a look at others' appends found: records of a key length
 * (KLEN_LEN bytes), a value length and a block offset (8 bytes each), then
 * the key. */
#define PEEK_REC (KLEN_LEN + 16)
struct peek_batch {
	size_t len;
	unsigned char buf[256 * 1024];
};
int peek_appended(struct blt *db, uint64_t *pos, struct peek_batch *batch);
int peek_batch_next(const struct peek_batch *batch, size_t *off,
    const unsigned char **key, size_t *klen, uint64_t *vlen, uint64_t *at);

/* birth.c: before blt_open() opens path in mode: a missing store is put
 * back from a prune's new file, or made whole under another name first
 * (BLT_CREATE).  0, or a negative errno naming what is wrong. */
int birth_prepare(const char *path, int mode, const struct blt_options *opt);

/* store.c */
int store_recover(struct blt *db);
int store_rebuild_index(struct blt *db);

#endif
