/*
 * What blt and bltfs say of a store they have just opened, when the open
 * did more than open it: the same words from both, which their tests and
 * users look for.  Not part of libbooklet, which says nothing on its own.
 */
#ifndef OPENNOTE_H
#define OPENNOTE_H

#include <stddef.h>

#include "booklet.h"

/* The note (without the program's name) on db, opened from path, into buf
 * of cap bytes: that it was recovered, or read as it is though it was not
 * closed cleanly (blt_flags()).  buf, or NULL when there is nothing to
 * say. */
const char *open_note(struct blt *db, const char *path, char *buf, size_t cap);

#endif
