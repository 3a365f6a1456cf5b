/*
 * The symbolic names of errnos, from the C library's own table: glibc 2.32
 * and later have strerrorname_np(3).  errname-list.c stands in for it
 * elsewhere; configure chooses.
 */
#include "config.h"

#include <string.h>

#include "fs.h"

/* The name of errno e ("EISDIR"), or "" for one the C library does not
 * know. */
const char *
errname_find(int e)
{
	const char *name = strerrorname_np(e);

	return name != NULL ? name : "";
}
