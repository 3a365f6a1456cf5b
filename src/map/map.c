/*
 * map.c: blt_map(), the parent side of a map.  One loop in the caller's
 * thread does three things as each becomes possible: it reads items from
 * the store into batches for workers that have room (at most MAP_DEPTH
 * batches in flight each, so memory and the distance between reading and
 * writing stay bounded; idle workers are served first, and batches are cut
 * small enough that a short map still reaches every worker), it writes batches
 * out on each worker's socket without blocking, and it stores the results of
 * each reply as it comes (map-reply.c).  The workers are started, stopped
 * and replaced by map-proc.c.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "map-int.h"

#define MAP_BATCH_BYTES 262144 /* a batch ends past this size ... */
#define MAP_EXEC_ITEMS 8       /* ... or with this many commands */
#define MAP_PLUGIN_ITEMS 2048  /* ... or plugin calls */
#define MAP_TICK_MS 200        /* progress is called at least this often */

/* Milliseconds of the monotonic clock. */
int64_t
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

/* Record that memory ran out while working on the store at path; return
 * -ENOMEM. */
int
map_oom(const char *path)
{
	return blt_errmsg_set(-ENOMEM, "%s: out of memory", path);
}

/* Count an item as failed and keep the first few failures; msg is mlen
 * bytes, not a string. */
void
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

/* A batch with an empty header, from the spares or new, or NULL when
 * memory runs out; its buffer may not exist yet (map_batch_grow()). */
struct map_batch *
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

/* Give b back for reuse: takes b. */
void
map_batch_put(struct map *m, struct map_batch *b)
{
	b->next = m->spare;
	m->spare = b;
}

/* Make room for n more bytes in b: 0, or -1 when memory runs out (no
 * message set). */
int
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
	wire_put32(b->buf + b->len, klen);
	wire_put32(b->buf + b->len + 4, vlen);
	memcpy(b->buf + b->len + 8, key, klen);
	memcpy(b->buf + b->len + 8 + klen, value, vlen);
	b->len += 8 + klen + vlen;
	b->n++;
	return 0;
}

/* Write b's header once its items are in. */
void
map_batch_seal(struct map_batch *b)
{
	wire_put32(b->buf, b->n);
	wire_put32(b->buf + 4, 0);
	wire_put64(b->buf + 8, b->len - MAP_HDR_LEN);
}

/* blt_get_many()'s callback for map_read_keys(): add key i of the batch
 * to it, or fail it as an item when it cannot be read (it is not sent). */
struct map_keys {
	struct map *m;
	struct map_batch *b;
	const void **keys; /* the batch's keys, pointing into o->keys */
	size_t *lens;
	size_t done;
};

static int
map_key_got(
    void *arg, size_t i, const void *value, size_t vlen, int64_t ts, int err)
{
	struct map_keys *k = arg;
	const unsigned char *key = k->keys[i];
	size_t klen = k->lens[i];

	(void)ts;
	k->done = i + 1;
	if (err < 0) {
		map_item_error(
		    k->m, key, klen, blt_errmsg(), strlen(blt_errmsg()));
		return 0;
	}
	k->m->st->read++;
	if (map_batch_add(k->b, key, klen, value, vlen) < 0)
		return map_oom(blt_path(k->m->db));
	return k->b->len >= MAP_BATCH_BYTES; /* the batch is full */
}

/* The next items from a list of keys into b, looked up together, up to
 * limit items in all: 1, or 0 at the end. */
static int
map_read_keys(struct map *m, struct map_batch *b, unsigned limit)
{
	const struct blt_map_opts *o = m->o;
	struct map_keys k = {m, b, NULL, NULL, 0};
	size_t n = o->keys->n - m->keys_read, at = m->keys_at;
	const unsigned char *key;
	int rc;

	if (n == 0)
		return 0;
	if (n > limit - b->n)
		n = limit - b->n;
	k.keys = malloc(n * sizeof *k.keys);
	k.lens = malloc(n * sizeof *k.lens);
	if (k.keys == NULL || k.lens == NULL) {
		rc = map_oom(blt_path(m->db));
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		blt_map_keys_next(o->keys, &at, &key, &k.lens[i]);
		k.keys[i] = key;
	}
	rc = blt_get_many(m->db, n, k.keys, k.lens, map_key_got, &k);
	if (k.done > 0) { /* on past the last key the batch took */
		m->keys_at =
		    (size_t)((const unsigned char *)k.keys[k.done - 1] -
		             o->keys->buf) +
		    k.lens[k.done - 1];
		m->keys_read += k.done;
	}
out:
	free(k.keys);
	free(k.lens);
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
			return map_oom(blt_path(m->db));
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
			share = m->o->keys->n - m->keys_read;
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
		*rc = map_oom(blt_path(m->db));
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

/* The workers started that have not said hello yet. */
static unsigned
map_starting(const struct map *m)
{
	unsigned n = 0;

	for (unsigned i = 0; i < m->n_procs; i++)
		n += m->procs[i].pid > 0 && !m->procs[i].hello &&
		     !m->procs[i].retired;
	return n;
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
	m->st->starting = map_starting(m);
	if (m->o->progress(m->o->arg, m->st) != 0)
		return blt_errmsg_set(
		    -ECANCELED, "%s: map cancelled", blt_path(m->db));
	return 0;
}

/* The workers not retired. */
static unsigned
map_alive(struct map *m)
{
	unsigned n = 0;

	for (unsigned i = 0; i < m->n_procs; i++)
		n += !m->procs[i].retired;
	return n;
}

/* Fail the items of batch b, as no worker is left to do them. */
static void
map_fail_batch(struct map *m, struct map_batch *b, const char *why)
{
	const unsigned char *q = b->buf + MAP_HDR_LEN;

	for (uint32_t j = 0; j < b->n; j++) {
		size_t klen = (size_t)wire_get32(q);

		map_item_error(m, q + 8, klen, why, strlen(why));
		q += 8 + klen + (size_t)wire_get32(q + 4);
	}
	map_batch_put(m, b);
}

/* Every worker retired (the hosts of --hosts are all gone): fail the
 * items to retry and those not read yet, so that the counts say what was
 * not done.  0, or an error that ends the map. */
static int
map_fail_rest(struct map *m)
{
	struct map_batch *b;
	char why[MAP_MSG_MAX + 64];
	int rc;

	snprintf(why, sizeof why, "no worker is left: %s", m->retire_msg);
	while ((b = m->retry) != NULL) {
		m->retry = b->next;
		map_fail_batch(m, b, why);
	}
	m->retry_tail = &m->retry;
	while ((b = map_read_batch(m, m->batch_items, &rc)) != NULL)
		map_fail_batch(m, b, why);
	return rc;
}

/* The loop: feed, send, receive and store until every item is done. */
static int
map_run(struct map *m)
{
	struct pollfd *pfd;
	int rc = 0, busy, committed;

	if ((pfd = calloc(m->n_procs, sizeof *pfd)) == NULL)
		return map_oom(blt_path(m->db));
	for (;;) {
		if (map_alive(m) == 0) {
			rc = map_fail_rest(m);
			break;
		}
		if ((rc = map_start(m)) < 0 || (rc = map_feed(m)) < 0)
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
			rc = blt_errmsg_set(-errno, "%s: map: poll: %s",
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
			/* retired: its items went to the others, and it
			 * exits (gone or not yet) */
			if (p->retired && p->pid > 0) {
				map_proc_retire(m, p);
				gone = 0;
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
		return blt_errmsg_set(-errno, "%s: map: cannot run in %s: %s",
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
	int64_t count;
	int rc;

	m->db = db;
	m->out = o->out ? o->out : db;
	m->o = o;
	m->retry_tail = &m->retry;
	if ((o->exec != NULL) + (o->plugin != NULL) + (o->worker != NULL) != 1)
		return blt_errmsg_set(-EINVAL,
		    "%s: map: give one of a command, a plugin and a worker",
		    path);
	if (o->worker == NULL && (o->launcher != NULL || o->hosts != NULL))
		return blt_errmsg_set(-EINVAL,
		    "%s: map: a launcher and hosts are for a worker", path);
	if (o->plugin != NULL && o->item_timeout)
		return blt_errmsg_set(-EINVAL,
		    "%s: map: an item timeout is for a command or a worker",
		    path);
	if (o->worker == NULL && o->start_timeout != 0)
		return blt_errmsg_set(
		    -EINVAL, "%s: map: a start timeout is for a worker", path);
	if (o->worker == NULL && o->reply_timeout != 0)
		return blt_errmsg_set(
		    -EINVAL, "%s: map: a reply timeout is for a worker", path);
	if (o->reply_timeout > 86400 || o->reply_timeout < -1)
		return blt_errmsg_set(-EINVAL,
		    "%s: map: a reply timeout of %d s: at most 86400, or -1 "
		    "for none",
		    path, o->reply_timeout);
	if (o->start_timeout > 86400 || o->start_timeout < -1)
		return blt_errmsg_set(-EINVAL,
		    "%s: map: a start timeout of %d s: at most 86400, or -1 "
		    "for none",
		    path, o->start_timeout);
	if (o->item_timeout > 86400)
		return blt_errmsg_set(-EINVAL,
		    "%s: map: an item timeout of %u s: at most 86400", path,
		    o->item_timeout);
	if (o->plugin != NULL && o->decode)
		return blt_errmsg_set(-EINVAL,
		    "%s: map: --decode is for a command or a worker", path);
	if (o->plugin != NULL && (strrchr(o->plugin, ':') == NULL ||
	                             strrchr(o->plugin, ':')[1] == '\0'))
		return blt_errmsg_set(-EINVAL,
		    "%s: map: plugin %s is not LIB:SYMBOL", path, o->plugin);
	if (o->to != NULL && strstr(o->to, "{key}") == NULL)
		return blt_errmsg_set(-EINVAL,
		    "%s: map: the output template %s has no {key}", path,
		    o->to);
	if (o->prefix_len > 0 && o->prefix == NULL)
		return blt_errmsg_set(-EINVAL,
		    "%s: map: a prefix length without a "
		    "prefix",
		    path);
	if (blt_flags(m->out) & BLT_READONLY)
		return blt_errmsg_set(-EROFS,
		    "%s: map: the store is open read-only", blt_path(m->out));
	if ((rc = blt_info(m->out, &st)) < 0)
		return rc;
	m->okey_ser = st.key_serializer;
	m->okey_width = blt_int_key_width(st.key_serializer, NULL);
	if ((rc = map_info(m, db)) < 0)
		return rc;
	m->argv[0] = (char *)"blt-map-worker";
	m->argv[1] = (char *)MAP_WORKER_ARG;
	m->argv[2] = (char *)(o->exec     ? "exec"
	                      : o->plugin ? "plugin"
	                                  : "worker");
	m->argv[3] = (char *)(o->exec ? o->exec : o->plugin);
	m->argv[4] = (char *)path;
	m->argv[5] = m->info;
	m->argv[6] = (char *)o->dir;
	m->argv[7] = NULL;
	m->batch_items = o->exec ? MAP_EXEC_ITEMS : MAP_PLUGIN_ITEMS;
	m->n_procs = o->workers ? o->workers : map_cpus();
	if (o->hosts != NULL && (rc = map_hosts(m)) < 0)
		return rc;
	if (m->n_procs > MAP_MAX_WORKERS)
		m->n_procs = MAP_MAX_WORKERS;
	m->st->workers = m->n_procs;
	m->total_known = o->keys != NULL || o->prefix_len == 0;
	if (o->keys != NULL)
		m->st->total = o->keys->n;
	else if (o->prefix_len == 0 && (count = blt_count(db)) >= 0)
		m->st->total = (uint64_t)count; /* else not known (0) */
	if ((m->procs = calloc(m->n_procs, sizeof *m->procs)) == NULL)
		return map_oom(path);
	for (unsigned i = 0; i < m->n_procs; i++) {
		m->procs[i].pid = -1;
		m->procs[i].fd = -1;
		m->procs[i].host = -1;
	}
	m->waiting = m->n_procs;
	if (o->worker != NULL && (rc = map_worker_cmds(m)) < 0)
		return rc;
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
		free(m->procs[i].cmd);
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
	free(m->hosts);
	free(m->okey);
	free(m->info);
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
	m.t0 = map_ms();
	m.st = st;
	m.dirfd = -1;
	if ((rc = map_setup(&m, db, o)) < 0)
		goto out;
	if (o->keys == NULL && (rc = blt_iter_create(db, &m.it)) < 0)
		goto out;
	rc = map_run(&m);
	if (rc == 0 && m.src_rc < 0)
		rc = blt_errmsg_set(m.src_rc, "%s", m.src_msg);
out:
	/* After a clean end the workers exit when their socket closes; after
	 * an error or a cancel they are stopped, with their commands.  All
	 * are told before any is waited for, so that their commands' grace
	 * periods run side by side. */
	snprintf(msg, sizeof msg, "%s", blt_errmsg());
	sig = rc == 0 ? 0 : o->plugin ? SIGKILL : SIGTERM;
	for (unsigned i = 0; m.procs != NULL && i < m.n_procs; i++)
		map_stop(&m.procs[i], sig);
	for (unsigned i = 0; m.procs != NULL && i < m.n_procs; i++)
		(void)map_wait(&m.procs[i]);
	map_free(&m);
	frc = m.out != NULL ? blt_flush(m.out) : 0;
	if (rc == 0 && frc < 0)
		return frc;
	if (rc < 0)
		blt_errmsg_set(rc, "%s", msg);
	st->starting = 0; /* every worker is gone */
	if (rc == 0 && o->progress != NULL)
		o->progress(o->arg, st);
	return rc;
}
