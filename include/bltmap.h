/*
 * libbltmap, the map pool: apply a shell command or a C plugin to many
 * values of a booklet store on a pool of worker processes, writing each
 * result as it arrives (doc/map.md).  A client of booklet.h only: it reads
 * and writes stores through the public API, and its failures come back as
 * a negative errno with blt_errmsg(), as the engine's do.
 *
 * The workers are exec'd copies of a program whose main() calls
 * blt_map_worker_main() first thing; by default the calling program itself
 * (/proc/self/exe), so blt, bltfs and any other caller of blt_map() must do
 * so.  The caller's process never forks without exec, so it may have
 * threads.  A plugin includes this header for struct blt_map_out and
 * blt_map_fn.
 */
#ifndef BLTMAP_H
#define BLTMAP_H

#include <stddef.h>
#include <stdint.h>

#include "booklet.h"

/* An --exec command's exit status and a plugin's return value that leave
 * the item as it was and count it as skipped (as `git bisect run`). */
#define BLT_MAP_SKIP 125

/* Where a plugin puts its result.  value and vlen start as the input value,
 * so a plugin that leaves them writes the value unchanged.  value may point
 * at memory the plugin keeps (valid until its next call) or at a malloc'd
 * block it hands over by also setting to_free, which the worker frees.  On
 * an error the plugin may write a message (NUL-terminated) into err. */
struct blt_map_out {
	const void *value;
	size_t vlen;
	void *to_free;
	char err[256];
};

/* A plugin, named as LIB.so:SYMBOL and loaded once per worker process.
 * Called once per item, from one thread.  Returns 0 to write out->value,
 * BLT_MAP_SKIP to leave the item as it was, anything else (a negative errno
 * by convention) for an error that leaves the item as it was too.  A plugin
 * that crashes fails its item only; its worker is replaced.  Its stdout goes
 * to the caller's stderr, its stdin is /dev/null; fd 3 is its worker's and
 * must be left alone. */
typedef int blt_map_fn(const unsigned char *key, size_t klen,
    const unsigned char *value, size_t vlen, struct blt_map_out *out);

#define BLT_MAP_ERRORS 8 /* errors kept in struct blt_map_stats */

/* The seconds a --worker has to say hello unless told otherwise. */
#define BLT_MAP_START_TIMEOUT 60
/* Seconds a --worker has to send the whole of a reply it has begun. */
#define BLT_MAP_REPLY_TIMEOUT 60

/* One failed item: the first bytes of its key and what went wrong. */
struct blt_map_error {
	unsigned char key[256]; /* the first min(klen, 256) bytes */
	size_t klen;            /* the key's full length */
	char msg[512];          /* the cause, with the command's stderr */
};

/* What a map did so far.  processed = written + skipped + errors. */
struct blt_map_stats {
	uint64_t total;     /* items selected, when known at the start, or 0 */
	uint64_t read;      /* items read from the store and sent to workers */
	uint64_t processed; /* items whose outcome is final */
	uint64_t written;   /* results stored */
	uint64_t skipped;   /* BLT_MAP_SKIP */
	uint64_t errors;    /* failed items, left as they were */
	uint64_t restarts;  /* workers replaced after they died */
	/* Milliseconds from the call to the first worker's hello: what the
	 * workers' start cost (an ssh login, a Slurm job's wait), or 0
	 * before it. */
	uint64_t start_ms;
	unsigned workers;  /* size of the pool */
	unsigned starting; /* workers started that have not said hello */
	unsigned n_errors; /* entries used in first_errors */
	struct blt_map_error first_errors[BLT_MAP_ERRORS];
};

/* Called from blt_map()'s thread after each batch of results and at least
 * every 200 ms; a nonzero return cancels the map. */
typedef int blt_map_progress_fn(void *arg, const struct blt_map_stats *st);

/* Called from blt_map()'s thread after each result is stored (in out when
 * it is set), with the key it was stored under (valid during the call), the
 * value's length and its timestamp. */
typedef void blt_map_written_fn(
    void *arg, const unsigned char *key, size_t klen, size_t vlen, int64_t ts);

/* A list of keys to map, packed one after another (each after its
 * length), so that a list of every key of a big store costs about the
 * keys' own bytes.  Zero it, then add keys; buf, len and cap are the
 * functions' own, n counts the keys. */
struct blt_map_keys {
	unsigned char *buf;
	size_t len, cap;
	size_t n;
};

/* Append a copy of key (klen bytes) to k: 0, or -ENOMEM with k as it
 * was. */
int blt_map_keys_add(struct blt_map_keys *k, const void *key, size_t klen);

/* The key at offset *at of k (0 for the first), which then moves to the
 * next one: 1, with *key pointing into k; 0 after the last. */
int blt_map_keys_next(const struct blt_map_keys *k, size_t *at,
    const unsigned char **key, size_t *klen);

/* Free what k holds; k is empty again. */
void blt_map_keys_free(struct blt_map_keys *k);

/* What to map; zero it, then set exec, plugin or worker.  Selection: keys
 * if set (in their order; none if it is empty), else the keys beginning
 * with prefix (a directory is a prefix such as "dir/"), else every key. */
struct blt_map_opts {
	const char *exec;   /* a command for /bin/sh -c, or NULL */
	const char *plugin; /* "LIB.so:SYMBOL", or NULL */
	const void *prefix;
	size_t prefix_len;
	const struct blt_map_keys *keys;
	const char *to;         /* output key template ("{key}.gz"), or NULL */
	struct blt *out;        /* output store open for writing, or NULL */
	unsigned workers;       /* 0: one per CPU */
	const char *worker_exe; /* worker program, NULL: /proc/self/exe */
	const char *dir;        /* workers' and commands' working directory,
	                         * NULL: the caller's */
	blt_map_progress_fn *progress; /* may be NULL */
	blt_map_written_fn *written;   /* may be NULL */
	void *arg;                     /* for progress and written */
	/* A long-lived command for /bin/sh -c, one per worker, that reads
	 * items and writes results on its stdin and stdout in the worker
	 * protocol of doc/map.md, or NULL. */
	const char *worker;
	/* worker only: a command line each worker runs under, with worker
	 * appended as one quoted word ("ssh -T host", "srun -N1 -n1 --quiet
	 * sh -c"), or NULL; with hosts, the ssh command (NULL: "ssh -T"). */
	const char *launcher;
	/* worker only: "h1,h2:4,:2", the workers spread over ssh hosts, N
	 * on host:N (1 by default), "[ADDRESS]:N" for an IPv6 address, an
	 * empty host being this one; the pool is their sum (workers is then
	 * ignored), or NULL. */
	const char *hosts;
	/* exec and worker: seconds a command may take over an item (up to
	 * 86400) before it is killed, with what it started, and the item
	 * fails; 0: no limit. */
	unsigned item_timeout;
	/* worker only: seconds a worker has to say hello, from its start
	 * (an ssh login, a busy machine) to its hello, before the map fails
	 * naming it and the end of its stderr (or, for one started again
	 * mid-map, it retires and the others take its items);
	 * 0: BLT_MAP_START_TIMEOUT, -1: no limit (a Slurm queue), up to
	 * 86400. */
	int start_timeout;
	/* worker only: seconds a worker has from the first byte of a reply
	 * to its last, however it trickles, before it is killed and the
	 * item fails (also, it has at most 10 s between two bytes of one);
	 * 0: BLT_MAP_REPLY_TIMEOUT, -1: no limit, up to 86400. */
	int reply_timeout;
	/* exec and worker: the command gets each value decoded as text
	 * (bltvalue.h's file form) and its output is encoded back; an output
	 * that does not encode fails its item. */
	int decode;
};

/* Map over db's selected items as o says, storing results in o->out (or
 * db) under the same key or the key o->to makes of it ({key} stands for
 * the key's bytes), and fill *st.  The scan covers the keys present when
 * it starts (those deleted before it reaches them are left out); items
 * failing is not an error of the map, whose counts are in *st.  A result
 * the store refuses fails its item, and so does one whose key is not as
 * long as the keys of an output store with an integer key serializer
 * (codes 6 to 15): {key} is the key's bytes.  What was
 * stored stays on every return and is flushed.  Errors: -EINVAL (bad
 * options), -EROFS, -ECANCELED (progress asked to stop), -ESTALE (db was
 * pruned or cleared meanwhile), -ENOEXEC (the worker program does not run
 * map workers), -ELIBACC (the plugin does not load), open(2)'s or
 * fchdir(2)'s error for a dir the workers cannot work in, or a store's
 * error. */
int blt_map(
    struct blt *db, const struct blt_map_opts *o, struct blt_map_stats *st);

/* In a worker process: if argv[1] is the worker mark blt_map() spawns
 * workers with, serve the parent and return the exit status for main() to
 * return; otherwise return -1 at once and do nothing. */
int blt_map_worker_main(int argc, char **argv);

#endif
