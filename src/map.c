/*
 * map.c: blt_map(), the parent side of a map.  One loop in the caller's
 * thread does three things as each becomes possible: it reads items from
 * the store into batches for workers that have room (at most MAP_DEPTH
 * batches in flight each, so memory and the distance between reading and
 * writing stay bounded; idle workers are served first, and batches are cut
 * small enough that a short map still reaches every worker), it writes batches
 * out on each worker's socket without blocking, and it stores the results of
 * each reply as it comes. The workers (map-worker.c) are spawned with
 * posix_spawn, never a bare fork, because the caller may be the multi-threaded
 * daemon.
 *
 * A worker that dies takes its unanswered batches with it: what its commands
 * left running is killed (map_wait()), and the items are sent again one per
 * batch to its replacement, so that the one item that kills a worker again
 * is found and counted as an error and the others still get done (they may
 * thus run twice).  A worker whose reply does not
 * parse is killed and treated the same: every length in a reply is checked
 * as soon as it arrives, against the request it answers, and the buffer
 * for a reply grows only as its bytes come, so that a bad length can
 * neither make us allocate what was never sent nor wait for it forever.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

extern char **environ;

#define MAP_DEPTH 2            /* batches in flight per worker */
#define MAP_BATCH_BYTES 262144 /* a batch ends past this size ... */
#define MAP_EXEC_ITEMS 8       /* ... or with this many commands */
#define MAP_PLUGIN_ITEMS 2048  /* ... or plugin calls */
#define MAP_TICK_MS 200        /* progress is called at least this often */
#define MAP_MAX_WORKERS 1024

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

/* Milliseconds of the monotonic clock. */
static int64_t
map_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The number of CPUs this process may run on. */
static unsigned
map_cpus(void)
{
	cpu_set_t set;
	long n;

	if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

/* Count an item as failed and keep the first few failures. */
static void
map_item_error(struct map *m, const unsigned char *key, size_t klen,
    const char *msg, size_t mlen)
{
	struct blt_map_stats *st = m->st;
	struct blt_map_error *e;

	st->errors++;
	st->processed++;
	if (st->n_errors >= BLT_MAP_ERRORS)
		return;
	e = &st->first_errors[st->n_errors++];
	e->klen = klen;
	memcpy(e->key, key, klen < sizeof e->key ? klen : sizeof e->key);
	if (mlen >= sizeof e->msg)
		mlen = sizeof e->msg - 1;
	memcpy(e->msg, msg, mlen);
	e->msg[mlen] = '\0';
}

/* A batch with room for cap bytes and an empty header. */
static struct map_batch *
map_batch_get(struct map *m)
{
	struct map_batch *b = m->spare;

	if (b != NULL) {
		m->spare = b->next;
	} else if ((b = calloc(1, sizeof *b)) == NULL) {
		return NULL;
	}
	b->next = NULL;
	b->len = MAP_HDR_LEN;
	b->n = 0;
	return b;
}

/* Give b back for reuse. */
static void
map_batch_put(struct map *m, struct map_batch *b)
{
	b->next = m->spare;
	m->spare = b;
}

/* Make room for n more bytes in b. */
static int
map_batch_grow(struct map_batch *b, size_t n)
{
	size_t cap = b->cap ? b->cap : 65536;
	unsigned char *p;

	if (b->len + n <= b->cap)
		return 0;
	while (cap < b->len + n)
		cap *= 2;
	if ((p = realloc(b->buf, cap)) == NULL)
		return -1;
	b->buf = p;
	b->cap = cap;
	return 0;
}

/* Append an item to b. */
static int
map_batch_add(struct map_batch *b, const unsigned char *key, size_t klen,
    const unsigned char *value, size_t vlen)
{
	if (map_batch_grow(b, 8 + klen + vlen) < 0)
		return -1;
	le_put(b->buf + b->len, klen, 4);
	le_put(b->buf + b->len + 4, vlen, 4);
	memcpy(b->buf + b->len + 8, key, klen);
	memcpy(b->buf + b->len + 8 + klen, value, vlen);
	b->len += 8 + klen + vlen;
	b->n++;
	return 0;
}

/* Write b's header once its items are in. */
static void
map_batch_seal(struct map_batch *b)
{
	le_put(b->buf, b->n, 4);
	le_put(b->buf + 4, 0, 4);
	le_put(b->buf + 8, b->len - MAP_HDR_LEN, 8);
}

/* blt_get_many()'s callback for map_read_keys(): add key first + i to the
 * batch, or fail it as an item when it cannot be read (it is not sent). */
struct map_keys {
	struct map *m;
	struct map_batch *b;
	size_t first, done;
};

static int
map_key_got(
    void *arg, size_t i, const void *value, size_t vlen, int64_t ts, int err)
{
	struct map_keys *k = arg;
	const struct blt_map_opts *o = k->m->o;
	const unsigned char *key = o->keys[k->first + i];
	size_t klen = o->key_lens[k->first + i];

	(void)ts;
	k->done = i + 1;
	if (err < 0) {
		map_item_error(
		    k->m, key, klen, blt_errmsg(), strlen(blt_errmsg()));
		return 0;
	}
	k->m->st->read++;
	if (map_batch_add(k->b, key, klen, value, vlen) < 0)
		return err_oom(blt_path(k->m->db));
	return k->b->len >= MAP_BATCH_BYTES; /* the batch is full */
}

/* The next items from a list of keys into b, looked up together, up to
 * limit items in all: 1, or 0 at the end. */
static int
map_read_keys(struct map *m, struct map_batch *b, unsigned limit)
{
	const struct blt_map_opts *o = m->o;
	struct map_keys k = {m, b, m->next_key, 0};
	size_t n = o->n_keys - m->next_key;
	const void **keys;
	int rc;

	if (n == 0)
		return 0;
	if (n > limit - b->n)
		n = limit - b->n;
	if ((keys = malloc(n * sizeof *keys)) == NULL)
		return err_oom(blt_path(m->db));
	for (size_t i = 0; i < n; i++)
		keys[i] = o->keys[k.first + i];
	rc = blt_get_many(
	    m->db, n, keys, o->key_lens + k.first, map_key_got, &k);
	free(keys);
	m->next_key += k.done;
	return rc < 0 ? rc : 1;
}

/* The next item of the scan under the prefix into b: 1, 0 at the end, or
 * the scan's error. */
static int
map_read_scan(struct map *m, struct map_batch *b)
{
	const struct blt_map_opts *o = m->o;
	struct blt_item item;
	int rc;

	while ((rc = blt_iter_next(m->it, &item)) > 0) {
		if (item.klen < o->prefix_len ||
		    (o->prefix_len > 0 &&
		        memcmp(item.key, o->prefix, o->prefix_len) != 0))
			continue;
		m->st->read++;
		if (map_batch_add(
		        b, item.key, item.klen, item.value, item.vlen) < 0)
			return err_oom(blt_path(m->db));
		return 1;
	}
	return rc;
}

/* How many items the next batch may hold.  A full batch keeps the cost of
 * a message small against the items' own, but the items must also spread
 * over all the workers: when the number left is known, each worker gets at
 * most its share of them (so 16 items on 8 workers are 8 batches of 2, and
 * the last batches of a long map shrink too); otherwise the first
 * MAP_DEPTH batches of each worker hold one item and the sizes then double
 * up to the full one. */
static unsigned
map_batch_limit(struct map *m)
{
	const struct blt_map_stats *st = m->st;
	uint64_t share, round = m->batches / m->n_procs;

	if (m->total_known) {
		if (m->o->keys != NULL)
			share = m->o->n_keys - m->next_key;
		else
			share = st->total > st->read ? st->total - st->read : 1;
		share = (share + m->n_procs - 1) / m->n_procs;
	} else if (round < MAP_DEPTH) {
		share = 1;
	} else if (round - MAP_DEPTH < 16) {
		share = (uint64_t)2 << (round - MAP_DEPTH);
	} else {
		share = m->batch_items;
	}
	return share < m->batch_items ? (unsigned)share : m->batch_items;
}

/* A new batch of at most limit items from the store, or NULL when there
 * are none (then m->src_done is set) or memory ran out (*rc then says
 * so). */
static struct map_batch *
map_read_batch(struct map *m, unsigned limit, int *rc)
{
	struct map_batch *b;
	int r = 1;

	*rc = 0;
	if (m->src_done)
		return NULL;
	if ((b = map_batch_get(m)) == NULL || map_batch_grow(b, 0) < 0) {
		*rc = err_oom(blt_path(m->db));
		return NULL;
	}
	while (b->n < limit && b->len < MAP_BATCH_BYTES) {
		r = m->o->keys ? map_read_keys(m, b, limit)
		               : map_read_scan(m, b);
		if (r <= 0)
			break;
	}
	if (r == -ENOMEM) {
		*rc = r;
		map_batch_put(m, b);
		return NULL;
	}
	if (r <= 0) {
		m->src_done = 1;
		m->src_rc = r;
		if (r < 0)
			snprintf(
			    m->src_msg, sizeof m->src_msg, "%s", blt_errmsg());
	}
	if (b->n == 0) {
		map_batch_put(m, b);
		return NULL;
	}
	map_batch_seal(b);
	m->batches++;
	return b;
}

/* fd moved above the descriptors a worker is given (so that no dup2() of
 * its spawn overwrites it first, or lands on it and keeps close-on-exec):
 * the new descriptor, or -1 with errno. */
static int
map_fd_above(int fd)
{
	int nfd, e;

	if (fd > MAP_DIR_FD)
		return fd;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, MAP_DIR_FD + 1);
	e = errno;
	close(fd);
	errno = e;
	return nfd;
}

/* Set up a worker's descriptors: the socket sock as MAP_SOCK_FD, the
 * working directory as MAP_DIR_FD, and for stdin /dev/null and for stdout
 * our stderr, so that a plugin's stdio is harmless and what it prints is
 * seen where its diagnostics are. */
static void
map_spawn_fds(struct map *m, posix_spawn_file_actions_t *fa, int sock)
{
	posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0);
	if (fcntl(2, F_GETFD) != -1)
		posix_spawn_file_actions_adddup2(fa, 2, 1);
	else
		posix_spawn_file_actions_addopen(
		    fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(fa, sock, MAP_SOCK_FD);
	if (m->dirfd != -1)
		posix_spawn_file_actions_adddup2(fa, m->dirfd, MAP_DIR_FD);
}

/* Start a worker in p. */
static int
map_spawn(struct map *m, struct map_proc *p)
{
	static const int sigs[] = {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT,
	    SIGCHLD, SIGUSR1, SIGUSR2};
	const char *exe =
	    m->o->worker_exe ? m->o->worker_exe : "/proc/self/exe";
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t def, none;
	int sv[2], e;

	p->pid = -1;
	p->fd = -1;
	p->hello = 0;
	p->nq = p->nsent = 0;
	p->off = 0;
	p->in_len = 0;
	p->need = 0;
	p->bad[0] = '\0';
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		return err_set(-errno, "%s: map: socketpair: %s",
		    blt_path(m->db), strerror(errno));
	if ((sv[1] = map_fd_above(sv[1])) == -1) {
		e = errno;
		close(sv[0]);
		return err_set(-e, "%s: map: %s", blt_path(m->db), strerror(e));
	}
	sigemptyset(&def);
	sigemptyset(&none);
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaddset(&def, sigs[i]);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigdefault(&attr, &def);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setflags(
	    &attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
	posix_spawn_file_actions_init(&fa);
	map_spawn_fds(m, &fa, sv[1]);
	e = posix_spawn(&p->pid, exe, &fa, &attr, m->argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(sv[1]);
	if (e != 0) {
		p->pid = -1;
		close(sv[0]);
		return err_set(-e, "%s: map: cannot start the worker %s: %s",
		    blt_path(m->db), exe, strerror(e));
	}
	p->fd = sv[0];
	return 0;
}

/* Close p's socket, and with sig != 0 signal its worker. */
static void
map_stop(struct map_proc *p, int sig)
{
	if (p->fd != -1)
		close(p->fd);
	p->fd = -1;
	if (sig != 0 && p->pid > 0)
		kill(p->pid, sig);
}

/* Wait for p's worker to end, kill what is left in its commands' process
 * group, then reap it: its wait status, or -1 when there was none.  The
 * group's id is the worker's pid, which stays the worker's until it is
 * reaped, so the kill cannot reach a group that merely took up the id.
 * A worker that ends well or is stopped has ended its group already; one
 * killed (by us, the OOM killer, a user) had no time to. */
static int
map_wait(struct map_proc *p)
{
	siginfo_t si;
	int status = -1, rc;

	if (p->pid <= 0)
		return -1;
	while (
	    (rc = waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOWAIT)) == -1 &&
	    errno == EINTR)
		;
	if (rc == 0)
		kill(-p->pid, SIGKILL);
	while (waitpid(p->pid, &status, 0) == -1 && errno == EINTR)
		;
	p->pid = -1;
	return status;
}

/* Put back p's batches in flight: nothing of them is done. */
static void
map_drop_queue(struct map *m, struct map_proc *p)
{
	for (unsigned i = 0; i < p->nq; i++)
		if (p->q[i] != NULL)
			map_batch_put(m, p->q[i]);
	p->nq = p->nsent = 0;
	p->off = 0;
}

/* Queue one item of a dead worker's batch to be sent again alone. */
static int
map_retry_item(struct map *m, const unsigned char *item, size_t len)
{
	struct map_batch *b = map_batch_get(m);

	if (b == NULL || map_batch_grow(b, len) < 0)
		return err_oom(blt_path(m->db));
	memcpy(b->buf + b->len, item, len);
	b->len += len;
	b->n = 1;
	map_batch_seal(b);
	*m->retry_tail = b;
	m->retry_tail = &b->next;
	return 0;
}

/* p's worker has died or broken the protocol: reap it, fail the item it
 * died on or queue its items again, and start a replacement. */
static int
map_proc_died(struct map *m, struct map_proc *p)
{
	const char *path = blt_path(m->db);
	int status, rc = 0;
	char why[256];

	map_stop(p, SIGKILL);
	status = map_wait(p);
	if (p->bad[0] != '\0')
		snprintf(why, sizeof why, "its worker %s", p->bad);
	else if (status == -1)
		snprintf(why, sizeof why, "its worker vanished");
	else if (WIFSIGNALED(status))
		snprintf(why, sizeof why,
		    "its worker was killed by signal %d "
		    "(%s)",
		    WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(why, sizeof why, "its worker exited with status %d",
		    WEXITSTATUS(status));
	if (!p->hello) {
		map_drop_queue(m, p);
		return err_set(-ENOEXEC,
		    "%s: map: the worker program %s did not start (%s): its "
		    "main() must call blt_map_worker_main()",
		    path,
		    m->o->worker_exe ? m->o->worker_exe : "/proc/self/exe",
		    why + strlen("its worker "));
	}
	/* It died on its oldest batch; the later ones never started. */
	for (unsigned i = 0; i < p->nq && rc == 0; i++) {
		struct map_batch *b = p->q[i];
		const unsigned char *q = b->buf + MAP_HDR_LEN;

		if (i > 0) {
			*m->retry_tail = b;
			m->retry_tail = &b->next;
			p->q[i] = NULL;
			continue;
		}
		for (uint32_t j = 0; j < b->n && rc == 0; j++) {
			size_t klen = (size_t)le_get(q, 4);
			size_t len = 8 + klen + (size_t)le_get(q + 4, 4);

			if (b->n == 1)
				map_item_error(
				    m, q + 8, klen, why, strlen(why));
			else
				rc = map_retry_item(m, q, len);
			q += len;
		}
	}
	map_drop_queue(m, p);
	m->st->restarts++;
	if (rc == 0)
		rc = map_spawn(m, p);
	return rc;
}

/* Make the output key for key from the template into m->okey. */
static int
map_out_key(struct map *m, const unsigned char *key, size_t klen,
    const unsigned char **out, size_t *olen)
{
	const char *t = m->o->to, *s;
	size_t len = 0, need = 0;
	unsigned char *p;

	if (t == NULL) {
		*out = key;
		*olen = klen;
		return 0;
	}
	for (s = t; *s; s++) {
		if (strncmp(s, "{key}", 5) == 0) {
			need += klen;
			s += 4;
		} else {
			need++;
		}
	}
	if (need > m->okey_cap) {
		if ((p = realloc(m->okey, need)) == NULL)
			return err_oom(blt_path(m->db));
		m->okey = p;
		m->okey_cap = need;
	}
	for (s = t; *s; s++) {
		if (strncmp(s, "{key}", 5) == 0) {
			memcpy(m->okey + len, key, klen);
			len += klen;
			s += 4;
		} else {
			m->okey[len++] = (unsigned char)*s;
		}
	}
	*out = m->okey;
	*olen = len;
	return 0;
}

/* 0 if key k (klen bytes) can be a key of the output store: in one whose
 * keys are integers, only a key of the integer's width can (a template
 * such as {key}.gz makes longer ones, and so does a source whose keys are
 * wider or not integers).  Else -EINVAL with a message naming the key. */
static int
map_key_fits(struct map *m, const unsigned char *k, size_t klen)
{
	if (m->okey_width == 0 || klen == (size_t)m->okey_width)
		return 0;
	return err_set(-EINVAL,
	    "%s: map: result key %s is %zu bytes long; %s keys are %d bytes",
	    blt_path(m->out), err_key(k, klen), klen,
	    blt_serializer_name(m->okey_ser), m->okey_width);
}

/* Store the outcomes of reply body (n items, checked by map_check_items())
 * for request b.  Returns 0, or a store's error. */
static int
map_commit(
    struct map *m, struct map_batch *b, const unsigned char *body, uint32_t n)
{
	const struct blt_map_opts *o = m->o;
	const unsigned char *q = b->buf + MAP_HDR_LEN, *r = body;
	const unsigned char *key, *okey = NULL;
	size_t klen, olen = 0, len;
	uint32_t what;
	int64_t ts = blt_now(); /* one clock reading per batch is enough */
	int rc, same;

	for (uint32_t i = 0; i < n; i++) {
		const unsigned char *val;
		size_t vlen;

		klen = (size_t)le_get(q, 4);
		vlen = (size_t)le_get(q + 4, 4);
		key = q + 8;
		val = key + klen;
		q += 8 + klen + vlen;
		what = (uint32_t)le_get(r, 4);
		len = (size_t)le_get(r + 4, 4);
		r += 8;
		if (what == MAP_R_SKIP) {
			m->st->skipped++;
			m->st->processed++;
		} else if (what != MAP_R_WRITE) {
			map_item_error(m, key, klen, (const char *)r, len);
		} else {
			if ((rc = map_out_key(m, key, klen, &okey, &olen)) < 0)
				return rc;
			/* A result for the key it came from is stored only
			 * over the value it was made from: a write or delete
			 * since then stands, and the item is skipped. */
			same = m->out == m->db && okey == key;
			if ((rc = map_key_fits(m, okey, olen)) < 0)
				; /* refused, as a result the store refuses */
			else if (same)
				rc = blt_put_if(
				    m->out, key, klen, val, vlen, r, len, ts);
			else
				rc = blt_put(m->out, okey, olen, r, len, ts);
			/* A result the store refuses fails its item; a store
			 * that fails ends the map. */
			if (same && rc == 0) {
				m->st->skipped++;
				m->st->processed++;
			} else if (rc == -EINVAL || rc == -EFBIG) {
				map_item_error(m, key, klen, blt_errmsg(),
				    strlen(blt_errmsg()));
			} else if (rc < 0) {
				return rc;
			} else {
				m->st->written++;
				m->st->processed++;
				if (o->written != NULL)
					o->written(o->arg, okey, olen, len, ts);
			}
		}
		r += len;
	}
	return 0;
}

/* Note that the message p's worker sends does not parse, and why;
 * returns 1, as for a worker that is gone: it is killed and replaced. */
static int map_bad(struct map_proc *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
map_bad(struct map_proc *p, const char *fmt, ...)
{
	size_t len = (size_t)snprintf(
	    p->bad, sizeof p->bad, "sent a malformed message (");
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->bad + len, sizeof p->bad - len, fmt, ap);
	va_end(ap);
	len = strlen(p->bad);
	snprintf(p->bad + len, sizeof p->bad - len, ")");
	return 1;
}

/* Check the header of a reply (n items, code, blen bytes) at the start of
 * p->in: it answers p's oldest request in flight, with as many items, and
 * has no more bytes than they can hold.  Returns 0, or 1 when it does not
 * parse. */
static int
map_check_reply(struct map_proc *p, uint32_t n, uint32_t code, uint64_t blen)
{
	if (!p->hello)
		return map_bad(p, "a reply before its hello");
	if (p->nsent == 0)
		return map_bad(p, "a reply to no request");
	if (n != p->q[0]->n)
		return map_bad(p, "a reply of %" PRIu32 " items to %" PRIu32, n,
		    p->q[0]->n);
	/* n is at most a batch's items: no overflow */
	if (code != 0 || blen < 8 * (uint64_t)n ||
	    blen > n * (8 + (uint64_t)BLT_VALUE_MAX) ||
	    blen > SIZE_MAX - MAP_HDR_LEN)
		return map_bad(p,
		    "a reply of code %" PRIu32 " and %" PRIu64
		    " bytes for %" PRIu32 " items",
		    code, blen, n);
	return 0;
}

/* Check the header at the start of p->in against what p's worker may send
 * now: one hello first, then replies.  Sets p->need.  Returns 0, or 1
 * when it does not parse. */
static int
map_check_header(struct map_proc *p)
{
	uint32_t n = (uint32_t)le_get(p->in, 4);
	uint32_t code = (uint32_t)le_get(p->in + 4, 4);
	uint64_t blen = le_get(p->in + 8, 8);

	if (n == MAP_HELLO && p->hello)
		return map_bad(p, "a second hello");
	if (n == MAP_HELLO && (code > 4095 || blen > MAP_MSG_MAX))
		return map_bad(p,
		    "a hello of code %" PRIu32 " and %" PRIu64 " bytes", code,
		    blen);
	if (n != MAP_HELLO && map_check_reply(p, n, code, blen))
		return 1;
	p->need = MAP_HDR_LEN + (size_t)blen;
	p->scan = MAP_HDR_LEN;
	p->items = 0;
	return 0;
}

/* Check the outcomes of the reply in p->in that have arrived: each of a
 * known kind, a skip empty, a message short, and their lengths adding up
 * to the reply's.  Returns 0, or 1 when it does not parse. */
static int
map_check_items(struct map_proc *p)
{
	uint32_t n = (uint32_t)le_get(p->in, 4), what;
	size_t len, left;

	while (p->items < n && p->in_len >= p->scan + 8) {
		what = (uint32_t)le_get(p->in + p->scan, 4);
		len = (size_t)le_get(p->in + p->scan + 4, 4);
		/* what follows this outcome's header; by the checks below,
		 * always room for the other outcomes' headers */
		left = p->need - p->scan - 8;
		if (what > MAP_R_ERROR || (what == MAP_R_SKIP && len != 0) ||
		    (what == MAP_R_ERROR && len > MAP_MSG_MAX) || len > left ||
		    left - len < 8 * (size_t)(n - p->items - 1))
			return map_bad(p,
			    "outcome %" PRIu32 " of %zu bytes for item %" PRIu32
			    " of %" PRIu32 " in a reply of %zu bytes",
			    what, len, p->items + 1, n, p->need - MAP_HDR_LEN);
		p->scan += 8 + len;
		p->items++;
	}
	if (p->items == n && p->scan != p->need)
		return map_bad(p,
		    "a reply of %zu bytes whose %" PRIu32 " items end at %zu",
		    p->need - MAP_HDR_LEN, n, p->scan - MAP_HDR_LEN);
	return 0;
}

/* Make room in p->in for what its worker sends next: up to the end of the
 * message under way, but never more than twice what came of it, so that
 * memory follows the bytes that arrive, not the lengths they claim.
 * Returns 0, or 1 when memory runs out: then the worker is replaced as
 * one that broke the protocol, and the map goes on. */
static int
map_in_room(struct map_proc *p)
{
	size_t want = 65536, cap;
	unsigned char *np;

	if (p->need > p->in_len + want) {
		want = p->need - p->in_len;
		if (want > p->in_len)
			want = p->in_len > 65536 ? p->in_len : 65536;
	}
	if (p->in_len + want <= p->in_cap)
		return 0;
	cap = p->in_cap ? p->in_cap : 65536;
	while (cap < p->in_len + want)
		cap *= 2;
	if ((np = realloc(p->in, cap)) == NULL) {
		snprintf(p->bad, sizeof p->bad,
		    "sent more than memory holds (%zu bytes)",
		    p->in_len + want);
		return 1;
	}
	p->in = np;
	p->in_cap = cap;
	return 0;
}

/* Shrink *buf, holding len bytes, to MAP_BUF_KEEP bytes if it grew past
 * that and len fits (see internal.h).  Kept as it is if realloc fails. */
void
map_buf_trim(unsigned char **buf, size_t *cap, size_t len)
{
	unsigned char *p;

	if (*cap <= MAP_BUF_KEEP || len > MAP_BUF_KEEP)
		return;
	if ((p = realloc(*buf, MAP_BUF_KEEP)) != NULL) {
		*buf = p;
		*cap = MAP_BUF_KEEP;
	}
}

/* Act on the whole, checked message at the start of p->in: a hello, or
 * the reply to p's oldest request, whose results are stored.  Returns 0
 * or an error that ends the map. */
static int
map_take(struct map *m, struct map_proc *p, int *committed)
{
	const unsigned char *h = p->in;
	uint32_t n = (uint32_t)le_get(h, 4);
	int code = (int)le_get(h + 4, 4), rc;

	if (n == MAP_HELLO) {
		if (code != 0)
			return err_set(-code, "%s: map: %.*s", blt_path(m->db),
			    (int)(p->need - MAP_HDR_LEN),
			    (const char *)h + MAP_HDR_LEN);
		p->hello = 1;
		return 0;
	}
	rc = map_commit(m, p->q[0], h + MAP_HDR_LEN, n);
	if (rc < 0)
		return rc;
	map_batch_put(m, p->q[0]);
	memmove(p->q, p->q + 1, (p->nq - 1) * sizeof p->q[0]);
	p->nq--;
	p->nsent--;
	*committed = 1;
	return 0;
}

/* Check and act on the messages in p->in as far as they have arrived.
 * Returns 0, 1 when p's worker broke the protocol, or an error that ends
 * the map. */
static int
map_parse(struct map *m, struct map_proc *p, int *committed)
{
	int rc;

	for (;;) {
		if (p->need == 0 && p->in_len < MAP_HDR_LEN)
			return 0;
		if (p->need == 0 && map_check_header(p))
			return 1;
		if (le_get(p->in, 4) != MAP_HELLO && map_check_items(p))
			return 1;
		if (p->in_len < p->need)
			return 0;
		if ((rc = map_take(m, p, committed)) < 0)
			return rc;
		p->in_len -= p->need;
		memmove(p->in, p->in + p->need, p->in_len);
		p->need = 0;
		map_buf_trim(&p->in, &p->in_cap, p->in_len);
	}
}

/* Take in what p's worker sent: hellos and replies, each checked as it
 * arrives and stored as soon as it is whole.  Returns 0, 1 when p's worker
 * is gone or broke the protocol, or an error that ends the map. */
static int
map_receive(struct map *m, struct map_proc *p, int *committed)
{
	ssize_t r;
	int rc;

	for (;;) {
		if (map_in_room(p))
			return 1;
		r = recv(p->fd, p->in + p->in_len, p->in_cap - p->in_len,
		    MSG_DONTWAIT);
		if (r == 0)
			return 1;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return 1;
		}
		p->in_len += (size_t)r;
		if ((rc = map_parse(m, p, committed)) != 0)
			return rc;
	}
}

/* Write what p may take of its queued batches.  Returns 0, or 1 when its
 * worker is gone. */
static int
map_send(struct map_proc *p)
{
	struct map_batch *b;
	ssize_t r;

	while (p->nsent < p->nq) {
		b = p->q[p->nsent];
		r = send(p->fd, b->buf + p->off, b->len - p->off,
		    MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : 1;
		}
		p->off += (size_t)r;
		if (p->off == b->len) {
			p->nsent++;
			p->off = 0;
		}
	}
	return 0;
}

/* Give the workers batches, round by round: first one to each idle
 * worker, then one more to each worker with one, and so on up to
 * MAP_DEPTH, so that no worker gets a second batch while another has
 * none.  The batches of a round are all cut to the same size.  Items to
 * retry go first, then new ones from the store. */
static int
map_feed(struct map *m)
{
	struct map_batch *b;
	unsigned limit;
	int rc;

	for (unsigned depth = 1; depth <= MAP_DEPTH; depth++) {
		limit = map_batch_limit(m);
		for (unsigned i = 0; i < m->n_procs; i++) {
			struct map_proc *p = &m->procs[i];

			if (p->pid <= 0 || p->nq >= depth)
				continue;
			if ((b = m->retry) != NULL) {
				if ((m->retry = b->next) == NULL)
					m->retry_tail = &m->retry;
				b->next = NULL;
			} else if ((b = map_read_batch(m, limit, &rc)) ==
			           NULL) {
				return rc;
			}
			p->q[p->nq++] = b;
		}
	}
	return 0;
}

/* Tell the caller how far we are; -ECANCELED if it wants us to stop. */
static int
map_progress(struct map *m, int force)
{
	int64_t now;

	if (m->o->progress == NULL)
		return 0;
	now = map_ms();
	if (!force && now - m->last_progress < MAP_TICK_MS)
		return 0;
	m->last_progress = now;
	if (m->o->progress(m->o->arg, m->st) != 0)
		return err_set(
		    -ECANCELED, "%s: map cancelled", blt_path(m->db));
	return 0;
}

/* The loop: feed, send, receive and store until every item is done. */
static int
map_run(struct map *m)
{
	struct pollfd *pfd;
	int rc = 0, busy, committed;

	if ((pfd = calloc(m->n_procs, sizeof *pfd)) == NULL)
		return err_oom(blt_path(m->db));
	for (;;) {
		if ((rc = map_feed(m)) < 0)
			break;
		busy = 0;
		for (unsigned i = 0; i < m->n_procs; i++) {
			struct map_proc *p = &m->procs[i];

			pfd[i].fd = p->fd;
			pfd[i].events = POLLIN;
			pfd[i].revents = 0;
			if (p->nsent < p->nq)
				pfd[i].events |= POLLOUT;
			busy |= p->nq > 0;
		}
		if (!busy)
			break;
		if (poll(pfd, m->n_procs, MAP_TICK_MS) == -1 &&
		    errno != EINTR) {
			rc = err_set(-errno, "%s: map: poll: %s",
			    blt_path(m->db), strerror(errno));
			break;
		}
		committed = 0;
		for (unsigned i = 0; i < m->n_procs && rc == 0; i++) {
			struct map_proc *p = &m->procs[i];
			int gone = 0;

			if (pfd[i].revents & POLLOUT)
				gone = map_send(p);
			/* A worker that is gone may have left replies. */
			if (gone || (pfd[i].revents & ~POLLOUT)) {
				if ((rc = map_receive(m, p, &committed)) < 0)
					break;
				gone |= rc;
			}
			rc = gone ? map_proc_died(m, p) : 0;
		}
		if (rc == 0)
			rc = map_progress(m, committed);
		if (rc < 0)
			break;
	}
	free(pfd);
	return rc;
}

/* Open o->dir once for all the workers, those that replace dead ones too:
 * they enter it with fchdir(), which works after it is removed. */
static int
map_open_dir(struct map *m)
{
	int fd = open(m->o->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (fd == -1 || (fd = map_fd_above(fd)) == -1)
		return err_set(-errno, "%s: map: cannot run in %s: %s",
		    blt_path(m->db), m->o->dir, strerror(errno));
	m->dirfd = fd;
	return 0;
}

/* Check o and fill in m. */
static int
map_setup(struct map *m, struct blt *db, const struct blt_map_opts *o)
{
	const char *path = blt_path(db);
	struct blt_stat st;
	int rc;

	m->db = db;
	m->out = o->out ? o->out : db;
	m->o = o;
	m->retry_tail = &m->retry;
	if ((o->exec == NULL) == (o->plugin == NULL))
		return err_set(-EINVAL,
		    "%s: map: give either a command or a plugin", path);
	if (o->plugin != NULL && (strrchr(o->plugin, ':') == NULL ||
	                             strrchr(o->plugin, ':')[1] == '\0'))
		return err_set(-EINVAL, "%s: map: plugin %s is not LIB:SYMBOL",
		    path, o->plugin);
	if (o->to != NULL && strstr(o->to, "{key}") == NULL)
		return err_set(-EINVAL,
		    "%s: map: the output template %s has no {key}", path,
		    o->to);
	if (o->n_keys > 0 && (o->keys == NULL || o->key_lens == NULL))
		return err_set(
		    -EINVAL, "%s: map: keys without their lengths", path);
	if (o->prefix_len > 0 && o->prefix == NULL)
		return err_set(-EINVAL,
		    "%s: map: a prefix length without a "
		    "prefix",
		    path);
	if (blt_flags(m->out) & BLT_READONLY)
		return err_set(-EROFS, "%s: map: the store is open read-only",
		    blt_path(m->out));
	if ((rc = blt_info(m->out, &st)) < 0)
		return rc;
	m->okey_ser = st.key_serializer;
	m->okey_width = blt_int_key_width(st.key_serializer, NULL);
	m->argv[0] = (char *)"blt-map-worker";
	m->argv[1] = (char *)MAP_WORKER_ARG;
	m->argv[2] = (char *)(o->exec ? "exec" : "plugin");
	m->argv[3] = (char *)(o->exec ? o->exec : o->plugin);
	m->argv[4] = (char *)path;
	m->argv[5] = (char *)o->dir;
	m->argv[6] = NULL;
	m->batch_items = o->exec ? MAP_EXEC_ITEMS : MAP_PLUGIN_ITEMS;
	m->n_procs = o->workers ? o->workers : map_cpus();
	if (m->n_procs > MAP_MAX_WORKERS)
		m->n_procs = MAP_MAX_WORKERS;
	m->st->workers = m->n_procs;
	m->total_known = o->keys != NULL || o->prefix_len == 0;
	if (o->keys != NULL)
		m->st->total = o->n_keys;
	else if (o->prefix_len == 0)
		m->st->total = blt_count(db);
	if ((m->procs = calloc(m->n_procs, sizeof *m->procs)) == NULL)
		return err_oom(path);
	for (unsigned i = 0; i < m->n_procs; i++) {
		m->procs[i].pid = -1;
		m->procs[i].fd = -1;
	}
	return o->dir != NULL ? map_open_dir(m) : 0;
}

/* Free what m holds; its workers are gone. */
static void
map_free(struct map *m)
{
	struct map_batch *b;

	for (unsigned i = 0; m->procs != NULL && i < m->n_procs; i++) {
		map_drop_queue(m, &m->procs[i]);
		free(m->procs[i].in);
	}
	free(m->procs);
	while ((b = m->retry) != NULL) {
		m->retry = b->next;
		map_batch_put(m, b);
	}
	while ((b = m->spare) != NULL) {
		m->spare = b->next;
		free(b->buf);
		free(b);
	}
	blt_iter_free(m->it);
	free(m->okey);
	if (m->dirfd != -1)
		close(m->dirfd);
}

/* Map over db's selected items; see booklet.h. */
int
blt_map(struct blt *db, const struct blt_map_opts *o, struct blt_map_stats *st)
{
	struct map m;
	char msg[1024];
	int rc, frc, sig;

	memset(st, 0, sizeof *st);
	memset(&m, 0, sizeof m);
	m.st = st;
	m.dirfd = -1;
	if ((rc = map_setup(&m, db, o)) < 0)
		goto out;
	if (o->keys == NULL && (rc = blt_iter_create(db, &m.it)) < 0)
		goto out;
	for (unsigned i = 0; i < m.n_procs && rc == 0; i++)
		rc = map_spawn(&m, &m.procs[i]);
	if (rc == 0)
		rc = map_run(&m);
	if (rc == 0 && m.src_rc < 0)
		rc = err_set(m.src_rc, "%s", m.src_msg);
out:
	/* After a clean end the workers exit when their socket closes; after
	 * an error or a cancel they are stopped, with their commands.  All
	 * are told before any is waited for, so that their commands' grace
	 * periods run side by side. */
	snprintf(msg, sizeof msg, "%s", blt_errmsg());
	sig = rc == 0 ? 0 : o->exec ? SIGTERM : SIGKILL;
	for (unsigned i = 0; m.procs != NULL && i < m.n_procs; i++)
		map_stop(&m.procs[i], sig);
	for (unsigned i = 0; m.procs != NULL && i < m.n_procs; i++)
		(void)map_wait(&m.procs[i]);
	map_free(&m);
	frc = m.out != NULL ? blt_flush(m.out) : 0;
	if (rc == 0 && frc < 0)
		return frc;
	if (rc < 0)
		err_set(rc, "%s", msg);
	if (rc == 0 && o->progress != NULL)
		o->progress(o->arg, st);
	return rc;
}
