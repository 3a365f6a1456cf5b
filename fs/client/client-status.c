/*
 * bltfs ctl MOUNT status: a summary for people, made from the status file
 * (bltfs(1), CONTROL INTERFACE), whose JSON --json prints as it is.  The
 * summary names the store, its keys, its live and dead bytes, whether it
 * takes writes, what the daemon's own prunes do, and the jobs that have
 * not finished.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "client-int.h"

/* The unsigned integer member name of v, or 0. */
static uint64_t
client_num(const struct json *v, const char *name)
{
	uint64_t n = 0;

	if (json_int(json_get(v, name), 0, UINT64_MAX, NULL, &n) < 0)
		return 0;
	return n;
}

/* The string member name of v, or NULL. */
static const char *
client_str(const struct json *v, const char *name)
{
	const struct json *s = json_get(v, name);

	return s != NULL && s->type == JSON_STRING ? s->str : NULL;
}

/* n bytes for people: "512 bytes", "1.5 MiB". */
static void
client_bytes(char *out, size_t cap, uint64_t n)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)n;
	size_t u = 0;

	if (n < 1024) {
		snprintf(out, cap, "%" PRIu64 " bytes", n);
		return;
	}
	v /= 1024;
	while (v >= 1024 && u + 1 < sizeof units / sizeof *units) {
		v /= 1024;
		u++;
	}
	snprintf(out, cap, "%.1f %s", v, units[u]);
}

/* The jobs line(s): each unfinished job, or "none". */
static void
client_print_jobs(const struct json *jobs)
{
	const struct json *j;
	const char *kind, *state;

	if (jobs == NULL || jobs->type != JSON_ARRAY || jobs->n == 0) {
		printf("jobs      none running or queued\n");
		return;
	}
	for (size_t i = 0; i < jobs->n; i++) {
		j = &jobs->kids[i];
		kind = client_str(j, "kind");
		state = client_str(j, "state");
		printf("%s%" PRIu64 " %s, %s",
		    i == 0 ? "jobs      " : "          ", client_num(j, "id"),
		    kind != NULL ? kind : "?", state != NULL ? state : "?");
		if (client_num(j, "total") > 1)
			printf(": %" PRIu64 " of %" PRIu64 " done",
			    client_num(j, "done"), client_num(j, "total"));
		putchar('\n');
	}
}

/* Print the summary of c's mount: CLIENT_OK, or CLIENT_REFUSED with a
 * message. */
/* The store's lock and the changes of other processes followed (a mount
 * that shares its store), or that the mount holds it (-o exclusive). */
static void
client_print_sharing(const struct json *v)
{
	const struct json *f = json_get(v, "followed");
	const char *lock = client_str(v, "lock");
	const char *rescan = client_str(f, "rescan");

	if (lock == NULL || strcmp(lock, "held") == 0) {
		printf("lock      held from mount to unmount (-o exclusive)\n");
		return;
	}
	printf("lock      %s now; taken %" PRIu64 " times (%" PRIu64
	       " to follow, %" PRIu64 " by reads that waited), let go %" PRIu64
	       " (once idle)",
	    lock, client_num(v, "lock_taken"),
	    client_num(v, "lock_taken_to_follow"),
	    client_num(v, "lock_taken_by_reads"), client_num(v, "lock_let_go"));
	if (client_num(v, "lock_timeouts") > 0)
		printf(
		    ", %" PRIu64 " timeouts", client_num(v, "lock_timeouts"));
	if (client_num(v, "lock_waiting") > 0)
		printf(", changes waiting for another process's lock: %" PRIu64,
		    client_num(v, "lock_waiting"));
	putchar('\n');
	printf("followed  %" PRIu64 " changes of other processes: %" PRIu64
	       " grown, %" PRIu64 " rescanned (%" PRIu64
	       " files put in their place); %" PRIu64 " keys put, %" PRIu64
	       " gone\n",
	    client_num(f, "grew") + client_num(f, "whole"),
	    client_num(f, "grew"), client_num(f, "whole"),
	    client_num(f, "replaced"), client_num(f, "keys_put"),
	    client_num(f, "keys_gone"));
	printf("          %" PRIu64 " keys and %" PRIu64
	       " prunes or clears read without the lock; %" PRIu64
	       " sweeps of names\n",
	    client_num(f, "keys_unlocked"), client_num(f, "relaid_unlocked"),
	    client_num(f, "sweeps"));
	if (client_num(f, "failures") > 0)
		printf("          %" PRIu64 " changes could not be followed; "
		       "the last: %s\n",
		    client_num(f, "failures"), client_str(f, "last_failure"));
	if (rescan != NULL && strcmp(rescan, "none") != 0)
		printf("          rescan under way (%s)\n",
		    strcmp(rescan, "reading") == 0
		        ? "reading the store"
		        : "dropping the names of keys gone");
}

int
client_status_print(struct client *c)
{
	const struct json *opts, *ap, *w, *lb, *idx, *known, *since;
	const char *store, *problem, *state;
	char size[32], live[32], dead[32], min[32], found[128] = "";
	uint64_t file, dbytes, hinted, sampled;
	struct json *v;
	int err;

	if ((err = client_status(c, &v)) != 0) {
		fprintf(stderr, "bltfs ctl: %s: status: %s\n", c->mount,
		    strerror(err));
		return CLIENT_REFUSED;
	}
	opts = json_get(v, "options");
	store = client_str(v, "store");
	printf("store     %s (format v%" PRIu64 ", %" PRIu64 " buckets)\n",
	    store != NULL ? store : "?", client_num(v, "version"),
	    client_num(v, "buckets"));
	printf("keys      %" PRIu64 "\n", client_num(v, "keys"));
	file = client_num(v, "file_bytes");
	dbytes = client_num(v, "dead_bytes");
	client_bytes(size, sizeof size, file);
	client_bytes(live, sizeof live, client_num(v, "live_bytes"));
	client_bytes(dead, sizeof dead, dbytes);
	lb = json_get(v, "live_bytes");
	if (lb != NULL && lb->type == JSON_NULL) /* -o lazy, building */
		printf("size      %s (%" PRIu64 " bytes): live and dead bytes "
		       "once the index is built\n",
		    size, file);
	else
		printf("size      %s (%" PRIu64
		       " bytes): %s live, %s dead (%u%%)\n",
		    size, file, live, dead,
		    file > 0 ? (unsigned)(dbytes * 100 / file) : 0u);
	w = json_get(v, "writable");
	problem = client_str(v, "problem");
	if (w != NULL && w->type == JSON_TRUE)
		printf("writable  yes\n");
	else if (problem != NULL)
		printf("writable  no: %s\n", problem);
	else
		printf("writable  no (mounted read-only)\n");
	ap = json_get(opts, "autoprune");
	if (ap == NULL || ap->type != JSON_OBJECT)
		printf("autoprune off\n");
	else {
		client_bytes(min, sizeof min, client_num(ap, "min_bytes"));
		printf("autoprune at %" PRIu64 "%% dead bytes, from %s; "
		       "%" PRIu64 " started",
		    client_num(ap, "percent"), min, client_num(ap, "started"));
		if (client_num(ap, "paused_seconds") > 0)
			printf(", paused %" PRIu64 " s after %" PRIu64
			       " failed",
			    client_num(ap, "paused_seconds"),
			    client_num(ap, "failures"));
		putchar('\n');
	}
	client_print_sharing(v);
	/* -o lazy: said only until the index is built */
	idx = json_get(v, "index");
	state = client_str(idx, "state");
	known = json_get(idx, "directories_known");
	since = json_get(idx, "directories_since_hints");
	if (since != NULL && since->type == JSON_TRUE)
		snprintf(found, sizeof found,
		    ", every directory found: from hints and the keys written "
		    "since");
	else if (known != NULL && known->type == JSON_TRUE)
		snprintf(found, sizeof found, ", every directory found");
	else if ((hinted = client_num(idx, "directories_hinted")) > 0)
		snprintf(found, sizeof found,
		    ", %" PRIu64 " directories from hints", hinted);
	if ((known == NULL || known->type != JSON_TRUE) &&
	    (sampled = client_num(idx, "keys_sampled")) > 0)
		snprintf(found + strlen(found), sizeof found - strlen(found),
		    ", a sample of %" PRIu64 " keys read", sampled);
	if (state != NULL && strcmp(state, "built") != 0)
		printf(
		    "index     %s (-o lazy%s): listings and changes wait for "
		    "it\n",
		    state, found);
	client_print_jobs(json_get(v, "jobs"));
	json_free(v);
	return CLIENT_OK;
}
