/*
 * progress.c: how far a long command is, drawn on stderr where it is a
 * terminal (blt's map, load, dump, check, prune and reindex, bltfs's scan
 * at mount), redrawn in place at most ten times a second: done of total, the
 * rate and the time left, as bltfs ctl --wait shows a job.  The last state
 * stays on its line as a summary.  Where stderr is no terminal nothing is
 * drawn, so scripts and logs see what they always saw.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bltutil.h"

#define PROGRESS_MS 100 /* the least time between two redraws */
/* A pass shows its rate and the time left once it has run this long: a
 * rate taken over the first moments says little. */
#define PROGRESS_RATE_MS 500

/* The progress whose line is on the terminal, for a message to clear it
 * (progress_interrupt()): the terminal is the process's. */
static struct progress *progress_line;

static int64_t
progress_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A count for people, into buf: 1234567 as "1,234,567", or with bytes
 * set, in MiB with one decimal. */
static const char *
progress_num(uint64_t v, int bytes, char *buf, size_t cap)
{
	char digits[32];
	size_t n, o = 0;

	if (bytes) {
		snprintf(buf, cap, "%.1f MiB", (double)v / (1 << 20));
		return buf;
	}
	n = (size_t)snprintf(digits, sizeof digits, "%" PRIu64, v);
	for (size_t i = 0; i < n && o + 2 < cap; i++) {
		if (i > 0 && (n - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = digits[i];
	}
	buf[o] = '\0';
	return buf;
}

/* Draw p's line as it stands. */
static void
progress_draw(struct progress *p, int64_t now)
{
	char d[40], t[40], r[40];
	double secs = (double)(now - p->start_ms) / 1000, rate = 0;

	if (now - p->pass_ms >= PROGRESS_RATE_MS)
		rate = (double)p->done * 1000 / (double)(now - p->pass_ms);
	fprintf(stderr, "\r%s: %s", p->what,
	    progress_num(p->done, p->bytes, d, sizeof d));
	if (p->total > 0 && p->done <= p->total)
		fprintf(stderr, " of %s",
		    progress_num(p->total, p->bytes, t, sizeof t));
	if (!p->bytes)
		fprintf(stderr, " %s", p->unit);
	if (p->total > 0 && p->done <= p->total)
		fprintf(
		    stderr, " (%u%%)", (unsigned)(p->done * 100 / p->total));
	if (rate > 0)
		fprintf(stderr, ", %s/s",
		    progress_num((uint64_t)rate, p->bytes, r, sizeof r));
	if (p->ended)
		fprintf(stderr, " in %.1f s", secs);
	else if (rate > 0 && p->total > p->done) {
		uint64_t left = (uint64_t)((double)(p->total - p->done) / rate);

		fprintf(stderr, ", %" PRIu64 ":%02" PRIu64 " left", left / 60,
		    left % 60);
	}
	fputs("\033[K", stderr); /* the rest of an older, longer line */
	if (p->ended)
		fputc('\n', stderr);
	fflush(stderr);
	p->last_ms = now;
	p->shown = 1;
	p->drawn = !p->ended;
	progress_line = p->drawn ? p : NULL;
}

/* Begin p for a command doing what, counting unit ("items", "buckets"),
 * or bytes where unit is NULL.  It draws only where stderr is a
 * terminal. */
void
progress_start(struct progress *p, const char *what, const char *unit)
{
	memset(p, 0, sizeof *p);
	p->what = what;
	p->unit = unit;
	p->bytes = unit == NULL;
	p->on = isatty(2);
	p->start_ms = p->pass_ms = progress_ms();
	p->last_ms = p->start_ms - PROGRESS_MS;
}

/* done of total (0: not known) are done: redraw if it is time. */
void
progress_show(struct progress *p, uint64_t done, uint64_t total)
{
	int64_t now;

	if (!p->on || p->ended)
		return;
	now = progress_ms();
	if (done < p->done) /* another pass: its own rate */
		p->pass_ms = now;
	p->done = done;
	p->total = total;
	if (now - p->last_ms >= PROGRESS_MS && now - p->start_ms >= p->quiet_ms)
		progress_draw(p, now);
}

/* Clear p's line, for another message to take it (it is drawn again at
 * the next redraw). */
void
progress_clear(struct progress *p)
{
	if (p->drawn && !p->ended) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
		p->last_ms = 0; /* redraw at the next show */
		p->drawn = 0;
		progress_line = NULL;
	}
}

/* A message goes to stderr: clear the progress line it would follow. */
void
progress_interrupt(void)
{
	if (progress_line != NULL)
		progress_clear(progress_line);
}

/* The command is over: its last state stays as a summary line. */
void
progress_end(struct progress *p)
{
	if (!p->on || p->ended)
		return;
	p->ended = 1;
	if (p->quiet_ms == 0 || p->shown)
		progress_draw(p, progress_ms());
}

/* A blt_progress_fn (booklet.h) that shows the engine's progress: in
 * MiB when it counts bytes, else in its unit. */
void
progress_fn(void *arg, const char *unit, uint64_t done, uint64_t total)
{
	struct progress *p = arg;

	p->bytes = strcmp(unit, "bytes") == 0;
	p->unit = unit;
	progress_show(p, done, total);
}
