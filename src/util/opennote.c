/*
 * The note blt and bltfs give on a store that was not closed cleanly
 * (opennote.h).
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>

#include "bltutil.h"

const char *
open_note(struct blt *db, const char *path, char *buf, size_t cap)
{
	int flags = blt_flags(db);

	if (flags & BLT_RECOVERED)
		snprintf(buf, cap,
		    "%s: was not closed cleanly; recovered: its chains rebuilt "
		    "from its data, %" PRId64 " keys",
		    path, blt_count(db));
	else if (flags & BLT_UNCLEAN)
		snprintf(buf, cap,
		    "%s: was not closed cleanly; read as it is (its chains are "
		    "sound), %" PRId64 " keys; a writable open marks it clean",
		    path, blt_count(db));
	else
		return NULL;
	return buf;
}
