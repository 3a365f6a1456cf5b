/*
 * map-relay.c: --worker, a long-lived command per worker that speaks the
 * worker protocol of doc/map.md on its stdin and stdout.  The worker
 * process (map-worker.c) starts it once, in its commands' process group
 * (so that a cancel or the end of the map stops it as it stops --exec's
 * commands), and relays each batch from blt_map() to it: the items go out
 * with an id each (u32 id, u32 key length, u32 value length, key, value),
 * as many as its stdin pipe takes, while its replies are read as they
 * come, so that it always has items waiting and never waits for us.
 * Its replies come in the order of the items, and each names the id of
 * the item it answers: a reply that is not the one due (an extra, a
 * missing, a repeated or an unknown one) is caught where it stands, so a
 * result is never stored under another item's key.  The ids count the
 * items sent to one worker process, from 0.
 *
 * A worker that dies, breaks the protocol or sends no reply for the item
 * timeout is killed and started again.  The items it had without a reply
 * go to the new one one at a time, until it is done with them, so that
 * the item it dies on is known: that one fails with why (and the end of
 * its stderr).  One that breaks the protocol in a reply fails the item
 * whose reply was due, at once: the place is known.  Items may thus run
 * twice, but nothing is stored twice, as only replies are stored, and
 * each item has one.  A worker that cannot be started again (its host is
 * gone: ssh fails) makes the relay give up: the items it holds go back to
 * blt_map() for the other workers (MAP_R_RETRY) and the relay exits
 * (MAP_RETIRED).  One that cannot be started at all fails the map at the
 * start, with its message.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "map-int.h"

/* Items in flight to a worker at most, and bytes staged for its stdin:
 * enough to keep a fast worker busy, little enough to bound memory. */
#define MAP_RELAY_WINDOW 1024
#define MAP_RELAY_CHUNK (1u << 20)
#define MAP_RELAY_PIPE (1 << 20) /* the size asked for its pipes */
/* Milliseconds a worker has to exit once its input has ended. */
#define MAP_RELAY_GRACE_MS 2000
/* The most bytes of a worker's hello and of an error message it sends. */
#define MAP_RELAY_TEXT_MAX 65536u
/* Milliseconds a frame the worker has begun may wait for its next byte:
 * a reply that stops part way is a broken worker, also with no item
 * timeout (doc/map.md). */
#define MAP_RELAY_STALL_MS 10000
/* Breaks of the protocol after which a worker is given up: each fails
 * the item whose reply was due, and one that breaks it again and again
 * (after each start, say) would make each such item wait out a stall. */
#define MAP_RELAY_BREAKS 3
/* What ended a wait of map_relay_step() with nothing come. */
#define MAP_RELAY_WAIT_ITEM 0  /* the item timeout, or none */
#define MAP_RELAY_WAIT_STALL 1 /* a frame begun stalled */
#define MAP_RELAY_WAIT_START 2 /* no hello within the start timeout */
#define MAP_RELAY_WAIT_WHOLE 3 /* a reply begun not whole in time */
/* The hello's header: "BLTM" or "BLTW", u32 version, u32 length. */
#define MAP_RELAY_HELLO 12
/* An item's header: u32 id, u32 key length, u32 value length. */
#define MAP_RELAY_ITEM 12
/* A reply's header: u32 id, u32 kind, u32 key length, u32 value length. */
#define MAP_RELAY_REPLY 16
#define MAP_W_WRITE 0 /* the new key and value */
#define MAP_W_SKIP 1  /* leave the item as it is */
#define MAP_W_ERROR 2 /* the item failed: the value is why */
#define MAP_W_VALUE 3 /* the new value under the same key */

struct map_relay {
	unsigned char *hdr; /* the store's hello frame */
	size_t hdr_len;
	pid_t pid; /* the running worker's shell, or -1 */
	int pidfd;
	int to, from, err;  /* its stdin, stdout and stderr: our ends */
	int hello;          /* it answered the store's hello */
	unsigned char *out; /* bytes for its stdin */
	size_t out_len, out_off, out_cap;
	unsigned char *in; /* bytes from its stdout */
	size_t in_len, in_cap;
	int64_t in_ms;        /* when its stdout last gave bytes (map_ms()) */
	int64_t frame_ms;     /* ... the first of the frame begun in in */
	int reply_timeout_ms; /* a reply not whole this long after its first
	                       * byte kills it; 0: none */
	unsigned breaks;      /* the times it broke the protocol */
	int64_t start_ms;     /* when it was started (map_ms()) */
	int start_timeout_ms; /* no hello for this long kills it; 0: none */
	int start_timed_out;  /* ... and it did not say hello in time */
	uint32_t next_id;     /* the id of the next item it is sent */
	uint32_t answered;    /* the replies it sent */
	char tail[2 * MAP_STDERR_KEEP]; /* the end of its stderr */
	size_t tail_len;
	size_t *item; /* where each item of the request starts */
	size_t item_cap;
	int timeout_ms; /* no reply for this long kills it; -1: none */
	int timed_out;
	char bad[200]; /* why its output does not parse, or "" */
};

/* Append n bytes to the bytes for the worker's stdin; 0 or -1. */
static int
map_relay_stage(struct map_relay *r, const void *p, size_t n)
{
	if (r->out_off > 0 && r->out_off == r->out_len)
		r->out_off = r->out_len = 0;
	if (map_worker_grow(&r->out, &r->out_cap, r->out_len, n) < 0)
		return -1;
	memcpy(r->out + r->out_len, p, n);
	r->out_len += n;
	return 0;
}

/* Close our ends of the worker's pipes. */
static void
map_relay_close(struct map_relay *r)
{
	int *fds[] = {&r->to, &r->from, &r->err, &r->pidfd};

	for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++) {
		if (*fds[i] != -1)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

/* Start the worker and stage the store's hello for it: 0, or -1 with why
 * in msg. */
static int
map_relay_start(struct map_worker *w, char *msg, size_t cap)
{
	struct map_relay *r = w->relay;
	int fds[3][2], rc; /* stdin, stdout, stderr */

	if (map_worker_pipes(fds, msg, cap) < 0)
		return -1;
	rc = map_worker_spawn(
	    w, fds[0][0], fds[1][1], fds[2][1], &r->pid, &r->pidfd, msg, cap);
	for (int i = 0; i < 3; i++)
		close(fds[i][i == 0 ? 0 : 1]);
	r->to = fds[0][1];
	r->from = fds[1][0];
	r->err = fds[2][0];
	if (rc < 0) {
		r->pid = -1;
		map_relay_close(r);
		return -1;
	}
	/* Bigger pipes: fewer wake-ups per item, for a fast worker (a
	 * failure, past the user's limit of pipe memory, is harmless). */
	fcntl(r->to, F_SETPIPE_SZ, MAP_RELAY_PIPE);
	fcntl(r->from, F_SETPIPE_SZ, MAP_RELAY_PIPE);
	fcntl(r->to, F_SETFL, O_NONBLOCK);
	fcntl(r->from, F_SETFL, O_NONBLOCK);
	fcntl(r->err, F_SETFL, O_NONBLOCK);
	r->hello = 0;
	r->timed_out = 0;
	r->start_timed_out = 0;
	r->start_ms = map_ms();
	r->bad[0] = '\0';
	r->tail_len = 0;
	r->out_len = r->out_off = r->in_len = 0;
	r->next_id = r->answered = 0;
	return map_relay_stage(r, r->hdr, r->hdr_len);
}

/* Keep the end of what the worker wrote on stderr. */
static void
map_relay_read_err(struct map_relay *r)
{
	char buf[4096];
	ssize_t n;
	size_t keep = MAP_STDERR_KEEP;

	while ((n = read(r->err, buf, sizeof buf)) > 0) {
		if (r->tail_len + (size_t)n > sizeof r->tail) {
			size_t from;

			if ((size_t)n >= keep) {
				memcpy(r->tail, buf + n - keep, keep);
				r->tail_len = keep;
				continue;
			}
			from = r->tail_len - (keep - (size_t)n);
			memmove(r->tail, r->tail + from, keep - (size_t)n);
			r->tail_len = keep - (size_t)n;
		}
		memcpy(r->tail + r->tail_len, buf, (size_t)n);
		r->tail_len += (size_t)n;
	}
}

/* Read what the worker's stdout has: 0, or 1 at its end or on an
 * error. */
static int
map_relay_read(struct map_relay *r)
{
	ssize_t n;

	for (;;) {
		if (r->in_len == r->in_cap &&
		    map_worker_grow(&r->in, &r->in_cap, r->in_len, 65536) < 0) {
			snprintf(r->bad, sizeof r->bad,
			    "sent more than memory holds");
			return 1;
		}
		n = read(r->from, r->in + r->in_len, r->in_cap - r->in_len);
		if (n > 0) {
			r->in_ms = map_ms();
			if (r->in_len == 0)
				r->frame_ms = r->in_ms;
			r->in_len += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		return n < 0 && errno == EAGAIN ? 0 : 1;
	}
}

static int map_relay_bad(struct map_relay *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Note why the worker's output does not parse; returns -1. */

static int
map_relay_bad(struct map_relay *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->bad, sizeof r->bad, fmt, ap);
	va_end(ap);
	return -1;
}

/* How long poll() may wait in map_relay_step(): before its hello, until
 * the start timeout; after it, the item timeout while a reply is awaited
 * (wait); and at most until a frame begun stalls.  *why says which. */
static int
map_relay_wait_ms(const struct map_relay *r, int wait, int *why)
{
	int ms = wait && r->hello ? r->timeout_ms : -1;
	int64_t left;

	*why = MAP_RELAY_WAIT_ITEM;
	if (!r->hello && r->start_timeout_ms > 0) {
		left = r->start_ms + r->start_timeout_ms - map_ms();
		ms = left < 0 ? 0 : (int)left;
		*why = MAP_RELAY_WAIT_START;
	}
	if (r->in_len == 0)
		return ms;
	left = r->in_ms + MAP_RELAY_STALL_MS - map_ms();
	if (left < 0)
		left = 0;
	if (ms < 0 || left < ms) {
		ms = (int)left;
		*why = MAP_RELAY_WAIT_STALL;
	}
	/* a reply that trickles in is bounded as a whole too */
	if (!r->hello || r->reply_timeout_ms <= 0)
		return ms;
	left = r->frame_ms + r->reply_timeout_ms - map_ms();
	if (left < 0)
		left = 0;
	if (left < ms) {
		ms = (int)left;
		*why = MAP_RELAY_WAIT_WHOLE;
	}
	return ms;
}

/* One round of talk with the worker: write what its stdin takes, read
 * what it sent.  wait says whether a reply is awaited (the item timeout
 * then runs).  Returns 0, or 1 when it is gone, timed out or stalled. */
static int
map_relay_step(struct map_relay *r, int wait)
{
	struct pollfd pfd[4];
	ssize_t n;
	int rc, why;

	pfd[0] = (struct pollfd){
	    .fd = r->out_off < r->out_len ? r->to : -1, .events = POLLOUT};
	pfd[1] = (struct pollfd){.fd = r->from, .events = POLLIN};
	pfd[2] = (struct pollfd){.fd = r->err, .events = POLLIN};
	pfd[3] = (struct pollfd){.fd = r->pidfd, .events = POLLIN};
	rc = poll(pfd, 4, map_relay_wait_ms(r, wait, &why));
	if (rc == 0 && why == MAP_RELAY_WAIT_START) {
		map_relay_bad(r,
		    "said no hello within %d s of its start (--start-timeout)",
		    r->start_timeout_ms / 1000);
		r->start_timed_out = 1;
		return 1;
	}
	if (rc == 0 && why == MAP_RELAY_WAIT_WHOLE) {
		map_relay_bad(r,
		    "was still sending a reply %d s after its first byte (%zu "
		    "bytes of it came; --reply-timeout)",
		    r->reply_timeout_ms / 1000, r->in_len);
		return 1;
	}
	if (rc == 0 && why == MAP_RELAY_WAIT_STALL) {
		map_relay_bad(r,
		    "stopped sending part way through %s (%zu bytes of it "
		    "came, then none for %d s)",
		    r->hello ? "a reply" : "its hello", r->in_len,
		    MAP_RELAY_STALL_MS / 1000);
		return 1;
	}
	if (rc == 0) {
		r->timed_out = 1;
		return 1;
	}
	if (rc < 0)
		return errno == EINTR ? 0 : 1;
	if (pfd[0].revents) {
		n = write(r->to, r->out + r->out_off, r->out_len - r->out_off);
		if (n > 0)
			r->out_off += (size_t)n;
		else if (n < 0 && errno != EAGAIN && errno != EINTR)
			return 1; /* EPIPE: it is gone */
	}
	if (pfd[2].revents)
		map_relay_read_err(r);
	if (pfd[1].revents && map_relay_read(r))
		return 1;
	/* Its shell ended; what it wrote is in the pipe. */
	return pfd[3].revents ? 1 : 0;
}

/* Check the worker's hello at the start of r->in: the bytes it takes, 0
 * while it is not whole, or -1 when it is wrong. */
static ssize_t
map_relay_hello(struct map_relay *r)
{
	uint32_t version, len;

	if (r->in_len >= 4 && memcmp(r->in, "BLTW", 4) != 0)
		return map_relay_bad(r,
		    "answered without the protocol's hello (\"BLTW\"): is it "
		    "a map worker?");
	if (r->in_len < MAP_RELAY_HELLO)
		return 0;
	version = wire_get32(r->in + 4);
	len = wire_get32(r->in + 8);
	if (version != MAP_PROTO_VERSION)
		return map_relay_bad(r,
		    "speaks version %u of the worker protocol, not %d, in "
		    "which each reply names its item (doc/map.md)",
		    version, MAP_PROTO_VERSION);
	if (len > MAP_RELAY_TEXT_MAX)
		return map_relay_bad(r, "sent a hello of %u bytes", len);
	if (r->in_len < MAP_RELAY_HELLO + (size_t)len)
		return 0;
	r->hello = 1;
	return MAP_RELAY_HELLO + (ssize_t)len;
}

/* Append one outcome with a key and a value to the reply. */
static int
map_relay_reply_key(struct map_worker *w, const unsigned char *key, size_t klen,
    const unsigned char *val, size_t vlen)
{
	unsigned char *p;

	if (map_worker_grow(
	        &w->rep, &w->rep_cap, w->rep_len, 12 + klen + vlen) < 0)
		return -1;
	p = w->rep + w->rep_len;
	wire_put32(p, MAP_R_WRITE_KEY);
	wire_put32(p + 4, 4 + klen + vlen);
	wire_put32(p + 8, klen);
	memcpy(p + 12, key, klen);
	memcpy(p + 12 + klen, val, vlen);
	w->rep_len += 12 + klen + vlen;
	return 0;
}

/* Turn one reply of the worker (kind, key, value) into the outcome of its
 * item; 0 or -1 when memory runs out. */
static int
map_relay_outcome(struct map_worker *w, uint32_t kind, const unsigned char *k,
    size_t klen, const unsigned char *v, size_t vlen)
{
	char msg[1024];

	if (kind == MAP_W_SKIP)
		return map_worker_reply(w, MAP_R_SKIP, NULL, 0);
	if (kind == MAP_W_ERROR)
		return map_worker_reply(
		    w, MAP_R_ERROR, v, vlen < MAP_MSG_MAX ? vlen : MAP_MSG_MAX);
	if (w->decode && map_worker_encode(w, &v, &vlen, msg, sizeof msg) < 0)
		return map_worker_reply(w, MAP_R_ERROR, msg, strlen(msg));
	if (kind == MAP_W_VALUE)
		return map_worker_reply(w, MAP_R_WRITE, v, vlen);
	return map_relay_reply_key(w, k, klen, v, vlen);
}

/* Say in r->bad what the reply to item id is, where the reply to the
 * item due (the oldest of the flight sent to it and not yet answered)
 * was expected; returns -1. */
static int
map_relay_misplaced(struct map_relay *r, uint32_t id, uint32_t flight)
{
	uint32_t due = r->next_id - flight;

	if (id - due < flight)
		return map_relay_bad(r,
		    "sent a reply to item %u where item %u's was due: one "
		    "reply per item, in the order of the items",
		    id, due);
	if (due - id <= r->answered)
		return map_relay_bad(r,
		    "sent a second reply to item %u where item %u's was due",
		    id, due);
	return map_relay_bad(r,
	    "sent a reply to item %u, which it was never sent, where item "
	    "%u's was due",
	    id, due);
}

/* Take the replies in r->in that are whole: the hello first, then one per
 * item, for items *done on, of which sent went out.  Returns 0, or -1
 * when the output does not parse (r->bad says why) or memory runs out. */
static int
map_relay_take(struct map_worker *w, uint32_t *done, uint32_t sent)
{
	struct map_relay *r = w->relay;
	size_t off = 0, a, b;
	uint32_t id, kind;
	ssize_t h;
	int rc = 0;

	if (!r->hello) {
		if ((h = map_relay_hello(r)) <= 0)
			return (int)h;
		off = (size_t)h;
	}
	while (rc == 0 && r->in_len - off >= MAP_RELAY_REPLY) {
		const unsigned char *p = r->in + off;

		id = wire_get32(p);
		kind = wire_get32(p + 4);
		a = wire_get32(p + 8);
		b = wire_get32(p + 12);
		if (kind > MAP_W_VALUE || (kind != MAP_W_WRITE && a != 0) ||
		    (kind == MAP_W_SKIP && b != 0) || a > BLT_KEY_MAX ||
		    b > BLT_VALUE_MAX ||
		    (kind == MAP_W_ERROR && b > MAP_RELAY_TEXT_MAX))
			rc = map_relay_bad(r,
			    "sent a malformed reply (kind %u, lengths %zu and "
			    "%zu)",
			    kind, a, b);
		else if (*done >= sent)
			rc = map_relay_bad(
			    r, "sent a reply to item %u when it had none", id);
		else if (id != r->next_id - (sent - *done))
			rc = map_relay_misplaced(r, id, sent - *done);
		else if (r->in_len - off - MAP_RELAY_REPLY < a + b)
			break; /* not whole yet */
		else if (map_relay_outcome(w, kind, p + MAP_RELAY_REPLY, a,
		             p + MAP_RELAY_REPLY + a, b) < 0)
			rc = map_relay_bad(r, "ran out of memory");
		else {
			(*done)++;
			r->answered++;
			off += MAP_RELAY_REPLY + a + b;
		}
	}
	memmove(r->in, r->in + off, r->in_len - off);
	r->in_len -= off;
	if (off > 0 && r->in_len > 0) /* begun in the last read, at most */
		r->frame_ms = r->in_ms;
	map_buf_trim(&r->in, &r->in_cap, r->in_len);
	return rc;
}

/* Kill the worker and reap it: its wait status, or -1.  What it wrote
 * stays in the pipes, to be read. */
static int
map_relay_reap(struct map_relay *r)
{
	int status;

	kill(-map_group_pg, SIGKILL);
	status = map_worker_wait(r->pid);
	r->pid = -1;
	return status;
}

/* Say in msg why the worker is gone, with the end of its stderr, and
 * close its pipes. */
static void
map_relay_why(struct map_worker *w, int status, char *msg, size_t cap)
{
	struct map_relay *r = w->relay;
	const char *cmd = w->cmd;
	size_t len, t;

	map_relay_read_err(r);
	if (r->bad[0] != '\0')
		snprintf(msg, cap, "its worker %.200s %s", cmd, r->bad);
	else if (r->timed_out)
		snprintf(msg, cap,
		    "its worker %.200s sent no reply for %d s and was killed",
		    cmd, r->timeout_ms / 1000);
	else if (status != -1 && WIFSIGNALED(status))
		snprintf(msg, cap, "its worker %.200s was killed by signal %d",
		    cmd, WTERMSIG(status));
	else if (status != -1)
		snprintf(msg, cap, "its worker %.200s exited with status %d",
		    cmd, WEXITSTATUS(status));
	else
		snprintf(msg, cap, "its worker %.200s is gone", cmd);
	t = r->tail_len;
	while (t > 0 && (r->tail[t - 1] == '\n' || r->tail[t - 1] == ' '))
		t--;
	len = strlen(msg);
	if (t > 0 && len < cap)
		snprintf(msg + len, cap - len, ": %.*s", (int)t, r->tail);
	map_relay_close(r);
	r->hello = 0;
}

/* The worker is gone, broke the protocol or timed out: kill it, take
 * the replies it wrote before, and say why in msg.  Returns whether it
 * had said its hello, or -1 when memory runs out. */
static int
map_relay_lost(
    struct map_worker *w, uint32_t *done, uint32_t sent, char *msg, size_t cap)
{
	struct map_relay *r = w->relay;
	int status = map_relay_reap(r), hello;

	if (r->bad[0] == '\0' && !r->timed_out) {
		map_relay_read(r);
		if (map_relay_take(w, done, sent) < 0 && r->bad[0] == '\0')
			return -1;
	}
	hello = r->hello;
	map_relay_why(w, status, msg, cap);
	return hello;
}

/* Index the items of the request of n items (len bytes): 0 or -1. */
static int
map_relay_index(struct map_worker *w, uint32_t n, size_t len)
{
	struct map_relay *r = w->relay;
	size_t off = 0, need;
	size_t *p;

	if (n + 1 > r->item_cap) {
		if ((p = realloc(r->item, (n + 1) * sizeof *p)) == NULL)
			return -1;
		r->item = p;
		r->item_cap = n + 1;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (len - off < 8)
			return -1;
		need = 8 + (size_t)wire_get32(w->req + off) +
		       (size_t)wire_get32(w->req + off + 4);
		if (len - off < need)
			return -1;
		r->item[i] = off;
		off += need;
	}
	r->item[n] = off;
	return 0;
}

/* Stage item i of the request for the worker, decoded with --decode. */
static int
map_relay_stage_item(struct map_worker *w, uint32_t i)
{
	struct map_relay *r = w->relay;
	const unsigned char *p = w->req + r->item[i], *v;
	size_t klen = wire_get32(p), vlen = wire_get32(p + 4);
	unsigned char h[MAP_RELAY_ITEM];

	wire_put32(h, r->next_id++);
	if (!w->decode)
		return map_relay_stage(r, h, 4) < 0 ||
		               map_relay_stage(
		                   r, p, r->item[i + 1] - r->item[i]) < 0
		           ? -1
		           : 0;
	v = p + 8 + klen;
	if (map_worker_decode(w, &v, &vlen) < 0 || vlen > BLT_VALUE_MAX)
		return -1;
	wire_put32(h + 4, klen);
	wire_put32(h + 8, vlen);
	if (map_relay_stage(r, h, sizeof h) < 0 ||
	    map_relay_stage(r, p + 8, klen) < 0 ||
	    map_relay_stage(r, v, vlen) < 0)
		return -1;
	return 0;
}

/* Has the worker ended since the last batch?  (A connection lost while
 * it had no item.) */
static int
map_relay_ended(struct map_relay *r)
{
	struct pollfd pfd = {.fd = r->pidfd, .events = POLLIN};

	return poll(&pfd, 1, 0) == 1;
}

/* Append an outcome with the message msg (cut to MAP_MSG_MAX). */
static int
map_relay_say(struct map_worker *w, uint32_t outcome, const char *msg)
{
	size_t len = strlen(msg);

	return map_worker_reply(
	    w, outcome, msg, len < MAP_MSG_MAX ? len : MAP_MSG_MAX);
}

/* Say in msg, which says why the worker broke the protocol last, that
 * it is given up. */
static void
map_relay_given_up(char *msg, size_t cap)
{
	size_t len = strlen(msg);

	if (len < cap)
		snprintf(msg + len, cap - len,
		    " (it broke the protocol %d times: given up)",
		    MAP_RELAY_BREAKS);
}

/* How many items may be in flight, done being answered: after a worker
 * died with the items up to careful unanswered, half of what is left of
 * them, so that each death halves the items it may have died on. */
static uint32_t
map_relay_window(uint32_t done, uint32_t careful)
{
	if (done >= careful)
		return MAP_RELAY_WINDOW;
	return careful - done > 2 ? (careful - done) / 2 : 1;
}

/* Serve one request of n items in w->req (len bytes) through the worker
 * into w->rep, with the code of the reply's header in *code.  Returns 0,
 * or -1 for a request that does not parse or memory running out. */
int
map_relay_serve(struct map_worker *w, uint32_t n, size_t len, uint32_t *code)
{
	struct map_relay *r = w->relay;
	uint32_t sent = 0, done = 0, restarts = 0, careful = 0;
	char msg[1024];
	int hello;

	*code = 0;
	if (map_relay_index(w, n, len) < 0)
		return -1;
	w->rep_len = MAP_HDR_LEN;
	if (r->out_off == r->out_len)
		r->out_off = r->out_len = 0;
	if (r->pid > 0 && map_relay_ended(r)) {
		/* gone with no item on it: nothing fails */
		if (map_relay_lost(w, &done, 0, msg, sizeof msg) < 0)
			return -1;
		restarts++;
	}
	while (done < n) {
		if (r->pid <= 0 && map_relay_start(w, msg, sizeof msg) < 0)
			break;
		while (sent < n &&
		       sent - done < map_relay_window(done, careful) &&
		       r->out_len - r->out_off < MAP_RELAY_CHUNK)
			if (map_relay_stage_item(w, sent++) < 0)
				return -1;
		if (!map_relay_step(r, 1) &&
		    map_relay_take(w, &done, sent) == 0)
			continue;
		if ((hello = map_relay_lost(w, &done, sent, msg, sizeof msg)) <
		    0)
			return -1;
		restarts++;
		/* Started anew and gone before its hello: it cannot be
		 * started again (ssh to a host that is down). */
		if (!hello)
			break;
		/* A reply that broke the protocol stood where the reply to
		 * the item due was: that item fails, the others go again.
		 * A worker that died may have been on any item without a
		 * reply, as it may answer a whole read at once: they go
		 * again, fewer at a time (map_relay_window()), until it
		 * dies with one, which is then the one (items may thus run
		 * twice). */
		if (r->bad[0] != '\0' && done < sent) {
			if (map_relay_say(w, MAP_R_ERROR, msg) < 0)
				return -1;
			done++;
			/* broken again and again: the others take its
			 * items, and with none left they fail with why */
			if (++r->breaks >= MAP_RELAY_BREAKS) {
				map_relay_given_up(msg, sizeof msg);
				sent = done;
				break;
			}
		} else if (sent - done > 1) {
			careful = sent;
		} else if (done < sent) {
			if (map_relay_say(w, MAP_R_ERROR, msg) < 0)
				return -1;
			done++;
		}
		sent = done;
	}
	if (done < n) {
		/* Its host is gone: the other workers take its items. */
		for (; done < n; done++)
			if (map_relay_say(w, MAP_R_RETRY, msg) < 0)
				return -1;
		*code |= MAP_RETIRED;
	}
	*code |= restarts < MAP_RESTARTS ? restarts : MAP_RESTARTS;
	wire_put32(w->rep, n);
	wire_put32(w->rep + 4, *code);
	wire_put64(w->rep + 8, w->rep_len - MAP_HDR_LEN);
	return 0;
}

/* Start the worker and wait for its hello: 0, or an errno with why in
 * msg (the map then fails at the start, as the worker cannot run). */
int
map_relay_init(struct map_worker *w, char *msg, size_t cap)
{
	struct map_relay *r;
	size_t len, n;
	uint32_t none = 0;
	int hello;

	if ((r = w->relay = calloc(1, sizeof *r)) == NULL) {
		snprintf(msg, cap, "out of memory");
		return ENOMEM;
	}
	r->pid = -1;
	r->to = r->from = r->err = r->pidfd = -1;
	r->timeout_ms = w->io.timeout_ms > 0 ? w->io.timeout_ms : -1;
	r->start_timeout_ms = w->start_timeout_ms;
	r->reply_timeout_ms = w->reply_timeout_ms;
	n = strlen(w->info);
	if ((r->hdr = malloc(MAP_RELAY_HELLO + n)) == NULL) {
		snprintf(msg, cap, "out of memory");
		return ENOMEM;
	}
	memcpy(r->hdr, "BLTM", 4);
	wire_put32(r->hdr + 4, MAP_PROTO_VERSION);
	wire_put32(r->hdr + 8, n);
	memcpy(r->hdr + MAP_RELAY_HELLO, w->info, n);
	r->hdr_len = MAP_RELAY_HELLO + n;
	if (map_relay_start(w, msg, cap) < 0)
		return ECHILD;
	while (!r->hello) {
		if (!map_relay_step(r, 1) && map_relay_take(w, &none, 0) == 0)
			continue;
		hello = map_relay_lost(w, &none, 0, msg, cap);
		if (hello < 0) {
			snprintf(msg, cap, "out of memory");
			return ENOMEM;
		}
		if (!hello && r->start_timed_out)
			return ETIMEDOUT;
		if (!hello) {
			len = strlen(msg);
			snprintf(msg + len, cap - len, " before its hello");
			return EPROTO;
		}
		/* said its hello and ended at once: it fails its items */
		return 0;
	}
	return 0;
}

/* The map is over: end the worker's input, give it a moment to exit
 * (over ssh, the end of input travels too), and free what the relay
 * holds; map_group_end() then stops what is left. */
void
map_relay_end(struct map_worker *w)
{
	struct map_relay *r = w->relay;
	struct pollfd pfd;

	if (r == NULL)
		return;
	if (r->pid > 0) {
		close(r->to);
		r->to = -1;
		pfd = (struct pollfd){.fd = r->pidfd, .events = POLLIN};
		while (
		    poll(&pfd, 1, MAP_RELAY_GRACE_MS) == -1 && errno == EINTR)
			;
	}
	map_relay_close(r);
	free(r->hdr);
	free(r->out);
	free(r->in);
	free(r->item);
	free(r);
	w->relay = NULL;
}
