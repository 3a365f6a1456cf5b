/*
 * map-cmd.c: what blt_map() (map.c) tells its workers besides the items:
 * the INFO text every worker gets as an argument, which a --worker's
 * command gets as the header of the protocol (doc/map.md), and the
 * command line each --worker runs: the command itself, under a launcher
 * (`ssh -T host`, `srun ...`), or on one of the ssh hosts of --hosts.
 * The command goes to a launcher as one quoted word, so that ssh, which
 * hands its words to the remote shell, gives it back whole.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "map-int.h"

/* A growing string; len excludes the NUL; NULL data once memory ran out. */
struct map_str {
	char *data;
	size_t len, cap;
	int oom;
};

static void
map_str_add(struct map_str *s, const char *t, size_t n)
{
	size_t cap = s->cap ? s->cap : 256;
	char *p;

	if (s->oom)
		return;
	while (cap < s->len + n + 1)
		cap *= 2;
	if (cap != s->cap) {
		if ((p = realloc(s->data, cap)) == NULL) {
			s->oom = 1;
			return;
		}
		s->data = p;
		s->cap = cap;
	}
	memcpy(s->data + s->len, t, n);
	s->len += n;
	s->data[s->len] = '\0';
}

static void
map_str_puts(struct map_str *s, const char *t)
{
	map_str_add(s, t, strlen(t));
}

/* Append t (n bytes) as one word of the shell: in single quotes, each
 * quote in it as '\''. */
static void
map_str_quote(struct map_str *s, const char *t, size_t n)
{
	const char *q;

	map_str_puts(s, "'");
	while ((q = memchr(t, '\'', n)) != NULL) {
		map_str_add(s, t, (size_t)(q - t));
		map_str_puts(s, "'\\''");
		n -= (size_t)(q - t) + 1;
		t = q + 1;
	}
	map_str_add(s, t, n);
	map_str_puts(s, "'");
}

/* Append "name=value\n"; a newline in value (a store's path may hold
 * one) becomes '?', as the header is made of lines. */
static void
map_str_field(struct map_str *s, const char *name, const char *value)
{
	map_str_puts(s, name);
	map_str_puts(s, "=");
	for (const char *v = value; *v; v++)
		map_str_add(s, *v == '\n' ? "?" : v, 1);
	map_str_puts(s, "\n");
}

static void
map_str_num(struct map_str *s, const char *name, unsigned long v)
{
	char num[32];

	snprintf(num, sizeof num, "%lu", v);
	map_str_field(s, name, num);
}

/* Make m->info: the header of the worker protocol (doc/map.md), which
 * every kind of worker gets, as --decode needs the serializers too. */
int
map_info(struct map *m, struct blt *db)
{
	struct blt_stat in, out;
	struct map_str s = {0};
	int rc;

	if ((rc = blt_info(db, &in)) < 0 || (rc = blt_info(m->out, &out)) < 0)
		return rc;
	map_str_num(&s, "version", MAP_PROTO_VERSION);
	map_str_field(&s, "store", blt_path(db));
	map_str_field(
	    &s, "key_serializer", blt_serializer_name(in.key_serializer));
	map_str_num(&s, "key_serializer_code", in.key_serializer);
	map_str_field(
	    &s, "value_serializer", blt_serializer_name(in.value_serializer));
	map_str_num(&s, "value_serializer_code", in.value_serializer);
	map_str_field(
	    &s, "out_key_serializer", blt_serializer_name(out.key_serializer));
	map_str_num(&s, "out_key_serializer_code", out.key_serializer);
	map_str_field(&s, "out_value_serializer",
	    blt_serializer_name(out.value_serializer));
	map_str_num(&s, "out_value_serializer_code", out.value_serializer);
	map_str_num(&s, "decode", m->o->decode ? 1 : 0);
	map_str_num(&s, "item_timeout", m->o->item_timeout);
	if (m->o->worker != NULL) /* 0: none */
		map_str_num(&s, "start_timeout",
		    m->o->start_timeout < 0    ? 0
		    : m->o->start_timeout == 0 ? BLT_MAP_START_TIMEOUT
		                               : (unsigned)m->o->start_timeout);
	if (m->o->worker != NULL) /* 0: none */
		map_str_num(&s, "reply_timeout",
		    m->o->reply_timeout < 0    ? 0
		    : m->o->reply_timeout == 0 ? BLT_MAP_REPLY_TIMEOUT
		                               : (unsigned)m->o->reply_timeout);
	if (s.oom) {
		free(s.data);
		return map_oom(blt_path(db));
	}
	m->info = s.data;
	return 0;
}

/* The value of field name in info (its length in *len), or NULL. */
const char *
map_info_get(const char *info, const char *name, size_t *len)
{
	size_t n = strlen(name);
	const char *p = info, *e;

	while (*p) {
		e = strchr(p, '\n');
		if (e == NULL)
			e = p + strlen(p);
		if ((size_t)(e - p) > n && memcmp(p, name, n) == 0 &&
		    p[n] == '=') {
			*len = (size_t)(e - p) - n - 1;
			return p + n + 1;
		}
		p = *e ? e + 1 : e;
	}
	return NULL;
}

/* The host of one entry of --hosts, as ssh takes it, into host: the text
 * before the entry's last ':' (so that user@host works), or an IPv6
 * address in brackets, which ssh wants without them ([::1]:2 is ::1).
 * The text after the host, "" or ":N", into *rest.  0, or -EINVAL with
 * why in why. */
static int
map_host_name(const char *e, size_t len, struct map_str *host,
    const char **rest, const char **why)
{
	const char *open = memchr(e, '[', len), *close, *colon = NULL;

	if (open != NULL) {
		close = memchr(open, ']', len - (size_t)(open - e));
		if (close == NULL || close == open + 1 ||
		    (open > e && open[-1] != '@') ||
		    memchr(e, ']', (size_t)(open - e)) != NULL) {
			*why = "expected [ADDRESS] or USER@[ADDRESS]";
			return -EINVAL;
		}
		map_str_add(host, e, (size_t)(open - e));
		map_str_add(host, open + 1, (size_t)(close - open - 1));
		*rest = close + 1;
		return 0;
	}
	for (size_t i = 0; i < len; i++)
		if (e[i] == ':')
			colon = e + i;
	*rest = colon ? colon : e + len;
	if (memchr(e, ':', (size_t)(*rest - e)) != NULL) {
		*why = "an IPv6 address goes in brackets: [ADDRESS]:N";
		return -EINVAL;
	}
	if (*rest > e && e[0] == '-') {
		*why = "a host cannot begin with '-', which ssh takes as an "
		       "option";
		return -EINVAL;
	}
	map_str_add(host, e, (size_t)(*rest - e));
	return 0;
}

/* One entry of --hosts, HOST or HOST:N (an empty HOST is this machine):
 * its host, as ssh takes it, into host and the count into *n; 0, or
 * -EINVAL. */
static int
map_host_parse(struct map *m, const char *e, size_t len, struct map_str *host,
    unsigned long *n)
{
	const char *rest, *end = e + len, *why = NULL;
	char *num_end;

	*n = 1;
	if (map_host_name(e, len, host, &rest, &why) == 0 && rest < end) {
		if (*rest != ':')
			why = "expected ':' after the address";
		else if (rest + 1 < end) {
			*n = strtoul(rest + 1, &num_end, 10);
			if (num_end != end || *n == 0 || *n > MAP_MAX_WORKERS ||
			    rest[1] < '0' || rest[1] > '9')
				return blt_errmsg_set(-EINVAL,
				    "%s: map: --hosts entry '%.*s': expected "
				    "HOST or HOST:N, N from 1 to %d",
				    blt_path(m->db), (int)len, e,
				    MAP_MAX_WORKERS);
		} /* "host:" and ":" are one worker */
	}
	if (why != NULL)
		return blt_errmsg_set(-EINVAL,
		    "%s: map: --hosts entry '%.*s': %s", blt_path(m->db),
		    (int)len, e, why);
	return 0;
}

/* The command line of a worker on host (hlen bytes; none: this one). */
static char *
map_host_cmd(struct map *m, const char *host, size_t hlen)
{
	const struct blt_map_opts *o = m->o;
	struct map_str s = {0};

	if (hlen > 0 || (o->hosts == NULL && o->launcher != NULL)) {
		map_str_puts(&s, o->launcher ? o->launcher
		                 : hlen > 0  ? "ssh -T"
		                             : "");
		if (hlen > 0) {
			map_str_puts(&s, " ");
			map_str_quote(&s, host, hlen);
		}
		map_str_puts(&s, " ");
		map_str_quote(&s, o->worker, strlen(o->worker));
	} else {
		map_str_puts(&s, o->worker);
	}
	if (s.oom) {
		free(s.data);
		return NULL;
	}
	return s.data;
}

/* Give procs[i] its host's index: that of the first worker with the same
 * command line (the same host, as the launcher and the worker are the
 * same for all), or the next one. */
static void
map_host_index(struct map *m, unsigned i)
{
	struct map_proc *p = &m->procs[i];

	for (unsigned j = 0; j < i; j++)
		if (m->procs[j].host >= 0 &&
		    strcmp(m->procs[j].cmd, p->cmd) == 0) {
			p->host = m->procs[j].host;
			return;
		}
	p->host = (int)m->n_hosts++;
}

/* Go through --hosts: with fill 0, count the workers into m->n_procs;
 * else give each worker its command line and its host's index. */
static int
map_hosts_walk(struct map *m, int fill)
{
	const char *h = m->o->hosts, *e;
	unsigned long n, total = 0;
	size_t len;
	int rc;

	for (;; h = e + 1) {
		e = strchr(h, ',');
		len = e ? (size_t)(e - h) : strlen(h);
		if (len == 0 && (e != NULL || total == 0))
			return blt_errmsg_set(-EINVAL,
			    "%s: map: --hosts %s has an empty entry",
			    blt_path(m->db), m->o->hosts);
		if (len > 0) {
			struct map_str host = {0};

			rc = map_host_parse(m, h, len, &host, &n);
			for (unsigned long i = 0; rc == 0 && fill && i < n; i++)
				if (host.oom ||
				    (m->procs[total + i].cmd = map_host_cmd(
				         m, host.data, host.len)) == NULL)
					rc = map_oom(blt_path(m->db));
				else if (host.len > 0)
					map_host_index(
					    m, (unsigned)(total + i));
			free(host.data);
			if (rc < 0)
				return rc;
			total += n;
			if (total > MAP_MAX_WORKERS)
				return blt_errmsg_set(-EINVAL,
				    "%s: map: --hosts %s: more than %d "
				    "workers",
				    blt_path(m->db), m->o->hosts,
				    MAP_MAX_WORKERS);
		}
		if (e == NULL)
			break;
	}
	m->n_procs = (unsigned)total;
	return 0;
}

/* Count the workers of --hosts into m->n_procs. */
int
map_hosts(struct map *m)
{
	return map_hosts_walk(m, 0);
}

/* Give each --worker its command line and its host: one of --hosts, the
 * launcher's (one for all its workers), or none (-1, this machine); and
 * make the hosts' counts, with which map_start() paces their logins. */
int
map_worker_cmds(struct map *m)
{
	int rc;

	if (m->o->hosts != NULL) {
		if ((rc = map_hosts_walk(m, 1)) < 0)
			return rc;
	} else {
		for (unsigned i = 0; i < m->n_procs; i++) {
			m->procs[i].cmd = map_host_cmd(m, NULL, 0);
			if (m->procs[i].cmd == NULL)
				return map_oom(blt_path(m->db));
			if (m->o->launcher != NULL)
				m->procs[i].host = 0;
		}
		m->n_hosts = m->o->launcher != NULL;
	}
	if (m->n_hosts > 0 &&
	    (m->hosts = calloc(m->n_hosts, sizeof *m->hosts)) == NULL)
		return map_oom(blt_path(m->db));
	return 0;
}
