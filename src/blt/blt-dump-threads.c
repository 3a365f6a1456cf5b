/*
 * blt dump --decode on several threads.  Decoding (unpickling, inflating,
 * escaping) costs far more than reading the store, so the reading thread
 * copies items into batches, decoder threads turn whole batches into
 * lines, and the reading thread writes the batches out in the order it
 * made them: the output is the same as one thread's, byte for byte.
 *
 * Batches live in a ring of slots, two per decoder, so a decoder always
 * has work while the writer waits on the oldest.  A slot moves FREE ->
 * FILLED (reader) -> TAKEN (a decoder) -> DONE (the decoder) -> FREE (the
 * writer, after writing it).  Decoders take batches in order, so the slot
 * after the last taken is the next to take once it is FILLED.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "booklet.h"
#include "bltvalue.h"
#include "blt.h"

/* A batch is handed over at this many items or bytes of keys and values. */
#define BATCH_ITEMS 256
#define BATCH_BYTES ((size_t)1 << 20)

enum slot_state { SLOT_FREE, SLOT_FILLED, SLOT_TAKEN, SLOT_DONE };

struct batch_item {
	size_t koff, klen, voff, vlen;
	int64_t timestamp;
};

struct slot {
	enum slot_state state;
	struct blt_value_buf bytes; /* the keys and values, copied */
	struct batch_item items[BATCH_ITEMS];
	size_t nitems;
	/* The lines, written through f into out; both are kept from batch
	 * to batch, since making them again costs more than the work (large
	 * buffers are fresh pages from the kernel each time). */
	FILE *f;
	struct blt_value_buf out;
	int rc; /* the decoder's: 0 or the library's error */
};

struct pipeline {
	const struct cli *c;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	struct slot *slots;
	size_t nslots;
	size_t taken; /* batches decoders have taken */
	int closed;   /* no more batches: decoders leave when all are taken */
	struct progress *progress;
	uint64_t written, total; /* items out, of the store's */
};

int
cli_dump_threads_wanted(const struct cli *c)
{
	long n;

	if (c->threads > 0)
		return c->threads;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		return 1;
	return n > CLI_THREADS_DEFAULT_MAX ? CLI_THREADS_DEFAULT_MAX : (int)n;
}

/* Append n bytes to slot s's copies; their offset, or -ENOMEM. */
static int
slot_copy(struct slot *s, const void *p, size_t n, size_t *off)
{
	*off = s->bytes.len;
	return cli_buf_put(&s->bytes, p, n);
}

/* fopencookie's write: append to the slot's lines. */
static ssize_t
slot_out_write(void *cookie, const char *p, size_t n)
{
	struct slot *s = cookie;

	if (cli_buf_put(&s->out, p, n) < 0) {
		errno = ENOMEM;
		return -1;
	}
	return (ssize_t)n;
}

/* Turn slot s's items into lines in s->out. */
static void
slot_decode(const struct cli *c, struct slot *s, struct blt_value_buf *dec)
{
	struct blt_item item;
	size_t i;

	s->rc = 0;
	for (i = 0; i < s->nitems && s->rc == 0; i++) {
		struct batch_item *b = &s->items[i];

		memset(&item, 0, sizeof item);
		item.key = s->bytes.data + b->koff;
		item.klen = b->klen;
		item.value = s->bytes.data + b->voff;
		item.vlen = b->vlen;
		item.timestamp = b->timestamp;
		s->rc = cli_dump_line(s->f, c, &item, dec);
	}
	if ((fflush(s->f) != 0 || ferror(s->f)) && s->rc == 0)
		s->rc = -ENOMEM;
}

static void *
decoder_main(void *arg)
{
	struct pipeline *p = arg;
	struct blt_value_buf dec = {0};
	struct slot *s;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		s = &p->slots[p->taken % p->nslots];
		if (s->state == SLOT_FILLED) {
			s->state = SLOT_TAKEN;
			p->taken++;
			pthread_mutex_unlock(&p->lock);
			slot_decode(p->c, s, &dec);
			pthread_mutex_lock(&p->lock);
			s->state = SLOT_DONE;
			pthread_cond_broadcast(&p->changed);
		} else if (p->closed)
			break;
		else
			pthread_cond_wait(&p->changed, &p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	blt_value_buf_free(&dec);
	return NULL;
}

/* Wait for slot s, if it holds a batch, and write it out: 0, 1 when
 * standard output failed (cli_flush_stdout() says so), or the error its
 * decoder met. */
static int
slot_write(struct pipeline *p, struct slot *s)
{
	int rc;

	pthread_mutex_lock(&p->lock);
	while (s->state == SLOT_FILLED || s->state == SLOT_TAKEN)
		pthread_cond_wait(&p->changed, &p->lock);
	pthread_mutex_unlock(&p->lock);
	if (s->state == SLOT_FREE)
		return 0;
	rc = s->rc;
	if (rc == 0 && s->out.len > 0 &&
	    fwrite(s->out.data, 1, s->out.len, stdout) != s->out.len)
		rc = 1;
	p->written += s->nitems;
	progress_show(p->progress, p->written, p->total);
	s->out.len = 0;
	s->nitems = 0;
	s->bytes.len = 0;
	s->state = SLOT_FREE;
	return rc;
}

/* Hand slot s to the decoders. */
static void
slot_fill_done(struct pipeline *p, struct slot *s)
{
	pthread_mutex_lock(&p->lock);
	s->state = SLOT_FILLED;
	pthread_cond_broadcast(&p->changed);
	pthread_mutex_unlock(&p->lock);
}

/* Read the store into slots, in turn, writing each slot's previous batch
 * out before filling it again.  A read that fails ends the reading, but
 * the items read before it are still written, as one thread would have
 * written them before it met the error. */
static int
pipeline_read(struct pipeline *p, struct blt_iter *it)
{
	struct blt_item item;
	struct slot *s;
	size_t made = 0;
	int rc = 0, read_rc = 1;

	while (read_rc > 0) {
		s = &p->slots[made % p->nslots];
		if ((rc = slot_write(p, s)) != 0)
			return rc < 0 ? rc : 0;
		while (s->nitems < BATCH_ITEMS && s->bytes.len < BATCH_BYTES) {
			struct batch_item *b = &s->items[s->nitems];

			if ((read_rc = blt_iter_next(it, &item)) <= 0)
				break;
			if ((read_rc = slot_copy(
			         s, item.key, item.klen, &b->koff)) < 0 ||
			    (read_rc = slot_copy(
			         s, item.value, item.vlen, &b->voff)) < 0)
				break;
			read_rc = 1;
			b->klen = item.klen;
			b->vlen = item.vlen;
			b->timestamp = item.timestamp;
			s->nitems++;
		}
		if (s->nitems == 0)
			break;
		slot_fill_done(p, s);
		made++;
	}
	/* The batches still out, oldest first. */
	for (size_t i = 0; i < p->nslots; i++)
		if ((rc = slot_write(p, &p->slots[(made + i) % p->nslots])) !=
		    0)
			return rc < 0 ? rc : 0;
	return read_rc < 0 ? read_rc : 0;
}

int
cli_dump_threads(const struct cli *c, struct blt_iter *it,
    struct progress *progress, uint64_t total)
{
	struct pipeline p;
	pthread_t *tids;
	int n = cli_dump_threads_wanted(c), started = 0, rc;

	memset(&p, 0, sizeof p);
	p.c = c;
	p.progress = progress;
	p.total = total;
	p.nslots = 2 * (size_t)n;
	p.slots = calloc(p.nslots, sizeof *p.slots);
	tids = calloc((size_t)n, sizeof *tids);
	if (p.slots == NULL || tids == NULL) {
		free(p.slots);
		free(tids);
		return -ENOMEM;
	}
	for (size_t i = 0; i < p.nslots; i++) {
		cookie_io_functions_t io = {.write = slot_out_write};

		if ((p.slots[i].f = fopencookie(&p.slots[i], "w", io)) == NULL)
			n = 0; /* freed below */
	}
	pthread_mutex_init(&p.lock, NULL);
	pthread_cond_init(&p.changed, NULL);
	for (; started < n; started++)
		if (pthread_create(&tids[started], NULL, decoder_main, &p) != 0)
			break;
	rc = started > 0 ? pipeline_read(&p, it) : -ENOMEM;
	/* After an error, batches may still be out: decoders finish them
	 * before they see closed, and nobody writes them. */
	pthread_mutex_lock(&p.lock);
	p.closed = 1;
	pthread_cond_broadcast(&p.changed);
	pthread_mutex_unlock(&p.lock);
	while (started > 0)
		pthread_join(tids[--started], NULL);
	for (size_t i = 0; i < p.nslots; i++) {
		if (p.slots[i].f != NULL)
			fclose(p.slots[i].f);
		blt_value_buf_free(&p.slots[i].bytes);
		blt_value_buf_free(&p.slots[i].out);
	}
	pthread_cond_destroy(&p.changed);
	pthread_mutex_destroy(&p.lock);
	free(p.slots);
	free(tids);
	return rc;
}
