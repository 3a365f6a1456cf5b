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

#include "bltmap.h"

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
};

/* One blt_map() under way. */
struct map {
	struct blt *db, *out;
	const struct blt_map_opts *o;
	struct blt_map_stats *st;
	char *argv[7];
	unsigned batch_items; /* the most items a batch holds */
	int total_known;      /* st->total counts what will be read */
	uint64_t batches;     /* batches read from the store so far */
	struct blt_iter *it;
	size_t next_key;         /* in o->keys */
	int src_done;            /* no more items to read */
	int src_rc;              /* why: 0 or the scan's error ... */
	char src_msg[1024];      /* ... and its message */
	struct map_batch *spare; /* free batches */
	struct map_batch *retry, **retry_tail; /* single items to send again */
	struct map_proc *procs;
	unsigned n_procs;
	int dirfd;           /* o->dir, opened once for every worker, or -1 */
	unsigned char *okey; /* an output key made from the template */
	size_t okey_cap;
	int okey_width;    /* of every key of out: an integer's, or 0 for any */
	unsigned okey_ser; /* out's key serializer */
	int64_t last_progress;
};

void map_item_error(struct map *m, const unsigned char *key, size_t klen,
    const char *msg, size_t mlen);
struct map_batch *map_batch_get(struct map *m);
void map_batch_put(struct map *m, struct map_batch *b);
int map_batch_grow(struct map_batch *b, size_t n);
void map_batch_seal(struct map_batch *b);

/* map-proc.c */
int map_fd_above(int fd);
int map_spawn(struct map *m, struct map_proc *p);
void map_stop(struct map_proc *p, int sig);
int map_wait(struct map_proc *p);
void map_drop_queue(struct map *m, struct map_proc *p);
int map_proc_died(struct map *m, struct map_proc *p);

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
	char err[MAP_STDERR_KEEP]; /* the first bytes of stderr ... */
	size_t err_len;            /* ... this many */
	uint64_t err_total;        /* all bytes of stderr read */
};
int map_worker_pump(struct map_worker_io *io, int *in, int *out, int err,
    int pidfd, const unsigned char *value, size_t vlen);

#endif
