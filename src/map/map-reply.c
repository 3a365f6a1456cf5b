/*
 * map-reply.c: the replies of blt_map()'s workers (map.c), checked and
 * stored.  A worker whose reply does not parse is killed and treated as
 * one that died (map_proc_died(), map-proc.c): every length in a reply is
 * checked as soon as it arrives, against the request it answers, and the
 * buffer for a reply grows only as its bytes come, so that a bad length can
 * neither make us allocate what was never sent nor wait for it forever.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "map-int.h"

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
			return map_oom(blt_path(m->db));
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
	return blt_errmsg_set(-EINVAL,
	    "%s: map: result key %s is %zu bytes long; %s keys are %d bytes",
	    blt_path(m->out), blt_errmsg_key(k, klen), klen,
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

		klen = (size_t)wire_get32(q);
		vlen = (size_t)wire_get32(q + 4);
		key = q + 8;
		val = key + klen;
		q += 8 + klen + vlen;
		what = (uint32_t)wire_get32(r);
		len = (size_t)wire_get32(r + 4);
		r += 8;
		if (what == MAP_R_SKIP) {
			m->st->skipped++;
			m->st->processed++;
		} else if (what == MAP_R_RETRY) {
			/* its host is gone: another worker takes it */
			if (map_retry_item(m, key - 8, 8 + klen + vlen) < 0)
				return -ENOMEM;
			snprintf(m->retire_msg, sizeof m->retire_msg, "%.*s",
			    (int)len, (const char *)r);
		} else if (what == MAP_R_WRITE_KEY &&
		           (size_t)wire_get32(r) > len - 4) {
			map_item_error(m, key, klen,
			    "its worker sent a key longer than its result",
			    strlen("its worker sent a key longer than its "
			           "result"));
		} else if (what != MAP_R_WRITE && what != MAP_R_WRITE_KEY) {
			map_item_error(m, key, klen, (const char *)r, len);
		} else {
			const unsigned char *rkey = key, *res = r;
			size_t rklen = klen, rlen = len;

			if (what == MAP_R_WRITE_KEY) {
				/* the worker's key, which --to then uses */
				rklen = (size_t)wire_get32(r);
				rkey = r + 4;
				res = rkey + rklen;
				rlen = len - 4 - rklen;
				if (rklen == klen &&
				    memcmp(rkey, key, klen) == 0)
					rkey = key;
			}
			rc = map_out_key(m, rkey, rklen, &okey, &olen);
			if (rc < 0)
				return rc;
			/* A result for the key it came from is stored only
			 * over the value it was made from: a write or delete
			 * since then stands, and the item is skipped. */
			same = m->out == m->db && okey == key;
			if ((rc = map_key_fits(m, okey, olen)) < 0)
				; /* refused, as a result the store refuses */
			else if (same)
				rc = blt_put_if(m->out, key, klen, val, vlen,
				    res, rlen, ts);
			else
				rc = blt_put(m->out, okey, olen, res, rlen, ts);
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
					o->written(
					    o->arg, okey, olen, rlen, ts);
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
	if ((code & ~(MAP_RESTARTS | MAP_RETIRED)) != 0 ||
	    blen < 8 * (uint64_t)n ||
	    blen > n * (12 + (uint64_t)BLT_KEY_MAX + BLT_VALUE_MAX) ||
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
	uint32_t n = (uint32_t)wire_get32(p->in);
	uint32_t code = (uint32_t)wire_get32(p->in + 4);
	uint64_t blen = wire_get64(p->in + 8);

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
	uint32_t n = (uint32_t)wire_get32(p->in), what;
	size_t len, left;

	while (p->items < n && p->in_len >= p->scan + 8) {
		what = (uint32_t)wire_get32(p->in + p->scan);
		len = (size_t)wire_get32(p->in + p->scan + 4);
		/* what follows this outcome's header; by the checks below,
		 * always room for the other outcomes' headers */
		left = p->need - p->scan - 8;
		if (what > MAP_R_RETRY || (what == MAP_R_SKIP && len != 0) ||
		    ((what == MAP_R_ERROR || what == MAP_R_RETRY) &&
		        len > MAP_MSG_MAX) ||
		    (what == MAP_R_WRITE_KEY && len < 4) || len > left ||
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
	uint32_t n = (uint32_t)wire_get32(h);
	int code = (int)wire_get32(h + 4), rc;

	if (n == MAP_HELLO) {
		int why_len = (int)(p->need - MAP_HDR_LEN);
		const char *why = (const char *)h + MAP_HDR_LEN;

		/* A worker that cannot start fails the map, unless another
		 * of its host has started (it is one of a later wave, or
		 * replaces one): then the host went away meanwhile, and it
		 * retires as a worker whose host is gone does. */
		if (code != 0) {
			if (p->host < 0 || !m->hosts[p->host].up)
				return blt_errmsg_set(-code, "%s: map: %.*s",
				    blt_path(m->db), why_len, why);
			snprintf(m->retire_msg, sizeof m->retire_msg, "%.*s",
			    why_len, why);
			p->retired = 1; /* map_run() retires it */
			return 0;
		}
		p->hello = 1;
		if (p->host >= 0)
			m->hosts[p->host].up = 1;
		/* at least 1: 0 says no worker has started yet */
		if (m->st->start_ms == 0) {
			int64_t ms = map_ms() - m->t0;
			m->st->start_ms = ms > 0 ? (uint64_t)ms : 1;
		}
		return 0;
	}
	rc = map_commit(m, p->q[0], h + MAP_HDR_LEN, n);
	if (rc < 0)
		return rc;
	m->st->restarts += (uint32_t)code & MAP_RESTARTS;
	if ((uint32_t)code & MAP_RETIRED)
		p->retired = 1; /* map_run() retires it */
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
		if (wire_get32(p->in) != MAP_HELLO && map_check_items(p))
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
 * is gone or broke the protocol, or an error that ends the map.  Sets
 * *committed when results were stored. */
int
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
