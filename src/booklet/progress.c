/*
 * progress.c owns the progress function of a thread: a long call of the
 * engine (blt_check, blt_prune, blt_reindex, blt_stat's scan) tells it
 * now and then how far it is, so that a tool can show it on a terminal.
 * Kept per thread, like the error message: the daemon's jobs set none and
 * pay one load of a null pointer per report.
 */
#include "config.h"

#include "internal.h"

static _Thread_local blt_progress_fn *progress_fn;
static _Thread_local void *progress_arg;

/* Set this thread's progress function (NULL: none). */
void
blt_progress_set(blt_progress_fn *fn, void *arg)
{
	progress_fn = fn;
	progress_arg = arg;
}

/* Tell this thread's progress function that done of total units are
 * done. */
void
progress_note(const char *unit, uint64_t done, uint64_t total)
{
	if (progress_fn != NULL)
		progress_fn(progress_arg, unit, done, total);
}
