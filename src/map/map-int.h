/*
 * The map pool's internal index: the wire protocol between blt_map() and
 * its workers, one blt_map() under way, and one prototype block per source
 * file.  Nothing here is libbooklet's: the pool uses booklet.h only.
 */
#ifndef MAP_INT_H
#define MAP_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <endian.h>
#include <signal.h>
#include <sys/types.h>

#include <spawn.h>

#include "bltmap.h"
#include "bltvalue.h"

/* The wire's integers are little-endian, at any alignment. */
static inline uint32_t
wire_get32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof v);
	return le32toh(v);
}

static inline uint64_t
wire_get64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof v);
	return le64toh(v);
}

static inline void
wire_put32(unsigned char *p, uint64_t v)
{
	uint32_t le = htole32((uint32_t)v);

	memcpy(p, &le, sizeof le);
}

static inline void
wire_put64(unsigned char *p, uint64_t v)
{
	uint64_t le = htole64(v);

	memcpy(p, &le, sizeof le);
}

/* Record that memory ran out while working on the store at path; return
 * -ENOMEM. */
int map_oom(const char *path);

/* The most workers a map runs. */
#define MAP_MAX_WORKERS 1024

/* The most workers of one host (of --hosts, or all those of a --launcher)
 * that may be starting at once, from their spawn to their hello: sshd
 * drops the connections past its MaxStartups, 10 unauthenticated by
 * default (and in the CIS benchmarks' 10:30:60), so a host's workers log
 * in in waves (map_start()). */
#define MAP_HOST_STARTS 8

/* The version of the worker protocol of doc/map.md (map-relay.c). */
#define MAP_PROTO_VERSION 2

/* map.c, map-proc.c, map-reply.c, map-worker.c: the messages between
 * blt_map() and its workers over a socket, which a worker finds as fd
 * MAP_SOCK_FD (never 0 or 1, where a plugin's stdio would reach it: its
 * stdin is /dev/null and its stdout the caller's stderr), and its working
 * directory as fd MAP_DIR_FD when it is given one.  Each message is a
 * header (u32 items or MAP_HELLO, u32 code, u64 body length,
 * little-endian) and a body.  Requests hold per item u32 key length, u32
 * value length, key, value; replies hold per item u32 outcome (MAP_R_*),
 * u32 length and the new value or an error message of at most MAP_MSG_MAX
 * bytes.  A worker first says hello: code 0, or an errno and a message of
 * at most MAP_MSG_MAX bytes in the body. */
#define MAP_WORKER_ARG "--blt-map-worker"
#define MAP_SOCK_FD 3
#define MAP_DIR_FD 4
#define MAP_HDR_LEN 16
#define MAP_MSG_MAX 1024
#define MAP_HELLO 0xFFFFFFFFu
#define MAP_R_WRITE 0
#define MAP_R_SKIP 1
#define MAP_R_ERROR 2
/* --worker only (map-relay.c): a result under another key, whose body is
 * u32 key length, key, value; and an item its worker could not do because
 * its host is gone, to be sent to another worker, whose body is why. */
#define MAP_R_WRITE_KEY 3
#define MAP_R_RETRY 4

/* The code of a --worker reply's header: the workers its relay replaced
 * while it served the batch (MAP_RESTARTS), and MAP_RETIRED when it gave
 * up its worker (its host is gone): it then exits, and is not replaced. */
#define MAP_RESTARTS 0xFFFFu
#define MAP_RETIRED 0x10000u

/* The arguments of a worker: PROG MAP_WORKER_ARG MODE SPEC STORE INFO
 * [DIR], where MODE is exec, plugin or worker and INFO the header text a
 * --worker gets (map_info()), which says --decode and the serializers to
 * the others too. */

/* Bytes of a failed command's stderr that go into its error message. */
#define MAP_STDERR_KEEP 400

/* A message buffer that one big item grew past this many bytes is shrunk
 * back to it once the item is done (map_buf_trim()): a result of a
 * gigabyte does not hold its memory, in the worker and in blt_map(), for
 * the rest of the map, and batches (MAP_BATCH_BYTES) of small items never
 * need more. */
#define MAP_BUF_KEEP (4u << 20)

/* map.c: one blt_map() under way, shared with map-proc.c and map-reply.c. */
#define MAP_DEPTH 2 /* batches in flight per worker */

/* A request: the message as sent, kept until its reply is stored. */
struct map_batch {
	unsigned char *buf;
	size_t len, cap;
	uint32_t n;
	struct map_batch *next;
};

/* One worker process and its socket. */
struct map_proc {
	pid_t pid; /* -1 when there is none */
	int fd;
	int hello;                      /* it said it is ready */
	struct map_batch *q[MAP_DEPTH]; /* in flight, oldest first */
	unsigned nq, nsent;             /* batches queued, of them sent */
	size_t off;                     /* bytes of q[nsent] sent */
	unsigned char *in;              /* bytes of replies received */
	size_t in_len, in_cap;
	size_t need;    /* the message in[] starts, once its header checks */
	size_t scan;    /* where in[] the next unchecked outcome starts */
	uint32_t items; /* outcomes checked */
	char bad[160];  /* why its last message does not parse, or "" */
	char *cmd;      /* --worker: the command line its relay runs */
	int host;       /* --worker: its host's index, or -1 (this one) */
	int retired;    /* --worker: its host is gone; not replaced */
};

/* A host of --hosts, or the one of a --launcher. */
struct map_host {
	int up;            /* a worker there has said hello */
	unsigned starting; /* map_start()'s count of its workers not yet up */
};

/* One blt_map() under way. */
struct map {
	struct blt *db, *out;
	const struct blt_map_opts *o;
	struct blt_map_stats *st;
	char *argv[8];
	char *info;                       /* the INFO argument (map_info()) */
	char retire_msg[MAP_MSG_MAX + 1]; /* why the last worker retired */
	unsigned batch_items;             /* the most items a batch holds */
	int total_known;  /* st->total counts what will be read */
	uint64_t batches; /* batches read from the store so far */
	struct blt_iter *it;
	size_t keys_read;        /* of o->keys ... */
	size_t keys_at;          /* ... and where the next one is */
	int src_done;            /* no more items to read */
	int src_rc;              /* why: 0 or the scan's error ... */
	char src_msg[1024];      /* ... and its message */
	struct map_batch *spare; /* free batches */
	struct map_batch *retry, **retry_tail; /* single items to send again */
	struct map_proc *procs;
	unsigned n_procs;
	struct map_host *hosts; /* what the procs' host indexes name */
	unsigned n_hosts;
	unsigned waiting;    /* procs with no worker, to start */
	int dirfd;           /* o->dir, opened once for every worker, or -1 */
	unsigned char *okey; /* an output key made from the template */
	size_t okey_cap;
	int okey_width;    /* of every key of out: an integer's, or 0 for any */
	unsigned okey_ser; /* out's key serializer */
	int64_t last_progress;
	int64_t t0; /* map_ms() when blt_map() was called */
};

void map_item_error(struct map *m, const unsigned char *key, size_t klen,
    const char *msg, size_t mlen);
struct map_batch *map_batch_get(struct map *m);
void map_batch_put(struct map *m, struct map_batch *b);
int map_batch_grow(struct map_batch *b, size_t n);
void map_batch_seal(struct map_batch *b);

/* map-cmd.c */
int map_info(struct map *m, struct blt *db);
int map_hosts(struct map *m);
int map_worker_cmds(struct map *m);

/* map-proc.c */
int map_fd_above(int fd);
int map_spawn(struct map *m, struct map_proc *p);
int map_start(struct map *m);
void map_stop(struct map_proc *p, int sig);
int map_wait(struct map_proc *p);
void map_drop_queue(struct map *m, struct map_proc *p);
int map_proc_died(struct map *m, struct map_proc *p);
int map_retry_item(struct map *m, const unsigned char *item, size_t len);
void map_proc_retire(struct map *m, struct map_proc *p);

/* map-reply.c */
void map_buf_trim(unsigned char **buf, size_t *cap, size_t len);
int map_receive(struct map *m, struct map_proc *p, int *committed);

/* map-group.c: the process group of a worker's commands. */
/* Our commands' process group: the worker's pid, or 0 in a plugin's
 * worker, which runs no commands. */
extern volatile pid_t map_group_pg;
void map_group_reap(pid_t pg);
void map_group_reap_strays(void);
void map_group_end(void);
void map_group_stop_set(sigset_t *set);
void map_group_signals(void);

/* map-worker.c: what a command wrote, as map_worker_pump() collects it. */
struct map_worker_io {
	size_t limit;       /* the most bytes of stdout taken */
	unsigned char *out; /* stdout (malloc'd, kept from item to item) */
	size_t out_len, out_cap;
	int over;                  /* stdout went on past limit */
	int timeout_ms;            /* --item-timeout, 0 for none */
	int timed_out;             /* ... and the command ran past it */
	char err[MAP_STDERR_KEEP]; /* the first bytes of stderr ... */
	size_t err_len;            /* ... this many */
	uint64_t err_total;        /* all bytes of stderr read */
};
int map_worker_pump(struct map_worker_io *io, int *in, int *out, int err,
    int pidfd, const unsigned char *value, size_t vlen);

/* The most stderr pipes of earlier commands a worker keeps open for the
 * processes they left running; past it, the oldest is closed. */
#define MAP_WORKER_OLD_ERR 64

struct map_relay;

/* A worker process: what it runs and its buffers. */
struct map_worker {
	const char *cmd; /* --exec, or NULL */
	blt_map_fn *fn;  /* --plugin */
	void *lib;
	const char *spec; /* as given, for messages */

	unsigned char *req; /* the request being served */
	size_t req_cap;
	unsigned char *rep; /* its reply, header first */
	size_t rep_len, rep_cap;

	char **envp; /* environ without our names, then ours, then NULL */
	char *store_var;
	size_t env_key; /* index of BLT_KEY= in envp; BLT_KEY_HEX= follows */
	char *key_var, *hex_var;
	size_t key_var_cap, hex_var_cap;
	int old_err[MAP_WORKER_OLD_ERR]; /* earlier commands' stderr pipes */
	unsigned n_old;                  /* oldest first */
	pid_t home_pg;                   /* the process group we run in */
	int attr_made;                   /* attr is initialised */
	posix_spawnattr_t attr;
	sigset_t stop_sigs; /* blocked while we are in our commands' group */
	struct map_worker_io io;

	struct map_relay *relay; /* --worker: the long-lived command */
	int start_timeout_ms;    /* --start-timeout, 0 for none */
	int reply_timeout_ms;    /* --reply-timeout, 0 for none */
	int decode;              /* --decode: values as text (bltvalue.h) */
	unsigned vser, oser;     /* the value serializers, source and out */
	const char *info;        /* the INFO argument */
	struct blt_value_buf dec, enc; /* --decode's text and bytes */

	const char *dir; /* the working directory we were given, or NULL */
	dev_t dir_dev;   /* and what it was when we entered it */
	ino_t dir_ino;
};

int map_worker_read_full(int fd, void *buf, size_t n);
int map_worker_write_full(int fd, const void *buf, size_t n);
int map_worker_grow(unsigned char **buf, size_t *cap, size_t len, size_t n);
int map_worker_reply(
    struct map_worker *w, uint32_t outcome, const void *data, size_t len);
int map_worker_pipes(int fds[3][2], char *msg, size_t cap);
int map_worker_spawn(struct map_worker *w, int in, int out, int err, pid_t *pid,
    int *pidfd, char *msg, size_t cap);
int map_worker_wait(pid_t pid);
int map_worker_hello(int code, const char *msg);
int map_worker_decode(
    struct map_worker *w, const unsigned char **value, size_t *vlen);
int map_worker_encode(struct map_worker *w, const unsigned char **res,
    size_t *rlen, char *msg, size_t cap);
const char *map_info_get(const char *info, const char *name, size_t *len);
int64_t map_ms(void);

/* map-relay.c: a --worker, a long-lived command that speaks the worker
 * protocol of doc/map.md on its stdin and stdout, run by a worker process
 * that relays its batches to it. */
int map_relay_init(struct map_worker *w, char *msg, size_t cap);
int map_relay_serve(
    struct map_worker *w, uint32_t n, size_t len, uint32_t *code);
void map_relay_end(struct map_worker *w);

#endif
