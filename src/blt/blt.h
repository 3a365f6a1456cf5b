/*
 * blt, the command-line tool: what its files share.  blt.c parses the
 * command line into one struct cli and dispatches; each command talks to
 * the store through the public API of booklet.h only.
 *
 *   blt.c        options, help texts, main(), and the helpers every
 *                command uses (errors, opening the store)
 *   blt-keys.c   how keys are spelled on the command line and shown
 *   blt-cmd.c    create, put, get, del, ls, stat, check, prune, reindex
 *   blt-dump.c   dump and load (JSON Lines, read with json.c)
 *   blt-map.c    map, which parses its own options
 *
 * Names take the prefix cli_ because blt_ is the library's namespace.
 */
#ifndef BLT_H
#define BLT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bltutil.h"
#include "booklet.h"

#define CLI_OK 0
#define CLI_MISSING 1 /* a missing key, or check found problems */
#define CLI_ERROR 2   /* bad usage and every other failure */
#define CLI_LOCKED 3  /* the store is held by another process */

#define CLI_CHUNK 65536 /* bytes per read of a value for get */

/* Which options a command accepts. */
#define CLI_O_TIMEOUT 0x001
#define CLI_O_HEX 0x002
#define CLI_O_ESCAPED 0x004
#define CLI_O_MAKE 0x008 /* creation options: --fixed ... */
#define CLI_O_CREATE 0x010
#define CLI_O_FORCE 0x020
#define CLI_O_TIMESTAMP 0x040
#define CLI_O_PRUNE 0x080 /* --older-than, --keep */
#define CLI_O_BUCKETS 0x100
#define CLI_O_REPAIR 0x200
#define CLI_O_LIST 0x400     /* -0, -l */
#define CLI_O_DECODE 0x800   /* --decode */
#define CLI_O_ENCODE 0x1000  /* --encode */
#define CLI_O_THREADS 0x2000 /* --threads */
#define CLI_O_SCAN 0x4000    /* stat --scan */

/* getopt values of the options without a short form. */
enum {
	CLI_L_TIMEOUT = 256,
	CLI_L_FIXED,
	CLI_L_NO_TS,
	CLI_L_BUCKETS,
	CLI_L_KEY_SER,
	CLI_L_VALUE_SER,
	CLI_L_TIMESTAMP,
	CLI_L_OLDER,
	CLI_L_KEEP,
	CLI_L_REPAIR,
	CLI_L_DECODE,
	CLI_L_ENCODE,
	CLI_L_COUNT,
	CLI_L_THREADS,
	CLI_L_SCAN
};

struct cli;
struct blt_value_buf;

struct cli_cmd {
	const char *name;
	int (*run)(struct cli *);
	int opts;     /* CLI_O_* */
	int min_args; /* operands, STORE included */
	int max_args;
	const char *help; /* see cli_help_create */
};

/* One invocation: the parsed command line and the open store. */
struct cli {
	const struct cli_cmd *cmd;
	char **args; /* operands; args[0] is the store */
	int nargs;
	const char *store;

	double timeout;
	int hex;
	int escaped;
	int nul;
	int longfmt;
	int force;
	int create;
	int repair;
	int decode;  /* --decode: values as data (bltvalue.h) */
	int encode;  /* --encode: values from data */
	int count;   /* prune --count */
	int threads; /* dump --threads; 0: one per processor */
	int scan;    /* stat --scan: live and dead bytes too */
	int have_ts;
	int64_t ts;
	int have_older;
	int64_t older;
	char **keep;
	size_t n_keep;
	int have_buckets;
	uint32_t buckets;
	struct blt_options make; /* for create and load --create */
	int make_set;            /* a creation option was given */
	int value_ser_set;

	struct blt *db;
	struct blt_stat st;
	int have_st;
};

/* blt.c */
/* Report rc from the library for name (a store or file); returns 2, or 3
 * for -EWOULDBLOCK (the store is held). */
int cli_fail(const char *name, int rc);
/* Report errno err for name; returns 2. */
int cli_syserr(const char *name, int err);
/* Report a usage error of c's command; returns 2. */
int cli_usage(struct cli *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Flush standard output: CLI_OK, or 2 after a message. */
int cli_flush_stdout(void);
/* Handle -x, -e, -0 or --timeout: CLI_OK, 2 after a usage message, or -1
 * when ch is another option. */
int cli_opt_shared(struct cli *c, int ch, const char *arg);
/* Read the header's facts into c->st once (no scan): CLI_OK or 2. */
int cli_info(struct cli *c);
/* Open c->store into c->db with mode (BLT_RDONLY ...): CLI_OK or 2. */
int cli_open(struct cli *c, int mode);
/* blt_open() with options o, waiting up to timeout seconds (< 0: for ever)
 * for a locked store, and saying so on stderr when it has to wait. */
int cli_open_store(const char *path, int mode, struct blt_options *o,
    double timeout, struct blt **out);
/* Say on stderr that path is locked, by whom (holder_describe()), and
 * that blt waits for it, up to timeout seconds (< 0: for ever). */
void cli_say_waiting(const char *path, double timeout);
/* Set blt_errmsg() to say who holds path and, if blt did not wait
 * (timeout 0), how to wait, else that it waited timeout seconds for an
 * exclusive or shared lock; returns -EWOULDBLOCK. */
int cli_locked(const char *path, int exclusive, double timeout);

/* blt-keys.c */
/* Write bytes the way ls shows keys. */
void cli_put_escaped(FILE *f, const unsigned char *p, size_t n);
/* Write an integer key as decimal into buf; 0 if k is not one. */
int cli_int_decode(
    unsigned code, const unsigned char *k, size_t klen, char *buf, size_t n);
/* Turn a key argument into its bytes in a buffer the caller frees:
 * CLI_OK, or 2 after a message. */
int cli_key(struct cli *c, const char *arg, unsigned char **out, size_t *len);
/* CLI_OK if key k has the width of the store's integer key serializer,
 * if it has one; else 2 after a message. */
int cli_key_fits(struct cli *c, const unsigned char *k, size_t klen);
/* Show a key in the spelling c's options ask for. */
void cli_key_show(struct cli *c, FILE *f, const unsigned char *k, size_t klen);
/* The message for a key that is not in the store; returns 1. */
int cli_missing(struct cli *c, const char *arg);

/* blt-cmd.c */
/* Read all of fd (named name) into a buffer the caller frees: CLI_OK, or
 * 2 after a message. */
int cli_slurp(
    int fd, const char *name, uint64_t max, unsigned char **out, size_t *len);
int cli_create(struct cli *c);
int cli_put(struct cli *c);
int cli_get(struct cli *c);
int cli_del(struct cli *c);
int cli_ls(struct cli *c);
int cli_stat(struct cli *c);
int cli_check(struct cli *c);
int cli_prune(struct cli *c);
int cli_reindex(struct cli *c);

/* blt-dump.c */
int cli_dump(struct cli *c);
int cli_load(struct cli *c);
/* Append n bytes at p to b, which grows by doubling: 0 or -ENOMEM. */
int cli_buf_put(struct blt_value_buf *b, const void *p, size_t n);
/* Write item as dump's line to f, its value decoded into dec under
 * --decode: 0, or the library's error. */
int cli_dump_line(FILE *f, const struct cli *c, const struct blt_item *item,
    struct blt_value_buf *dec);

/* blt-dump-threads.c */
/* How many threads dump --decode runs: --threads, else one per processor
 * (at most CLI_THREADS_MAX). */
#define CLI_THREADS_MAX 64
#define CLI_THREADS_DEFAULT_MAX 8
int cli_dump_threads_wanted(const struct cli *c);
/* The items left in it as dump's lines on standard output, in order,
 * decoded on cli_dump_threads_wanted() threads: 0 or the library's error. */
int cli_dump_threads(const struct cli *c, struct blt_iter *it,
    struct progress *progress, uint64_t total);

/* blt-map.c */
int cli_map(struct cli *c);

#endif
