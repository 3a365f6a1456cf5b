/*
 * The store that map --out makes, made the same way by blt map and by the
 * mount's map job: what a map writes is then no more open than the store
 * it read, nor than the files the user makes.  Not part of libbooklet; it
 * uses system calls only, before blt_open() fills the store in.
 */
#ifndef OUTSTORE_H
#define OUTSTORE_H

#include <sys/types.h>

/* The file outstore_make() made, to tell it from one made there since. */
struct outstore {
	int made;
	dev_t dev;
	ino_t ino;
};

/* Make the missing store file path, empty, for blt_open() with BLT_CREATE
 * to fill in: with the mode of the store file source (0600 where it cannot
 * be seen) less mask, or less the process's umask where mask is -1.  Only a
 * new name is made, never through a symbolic link.  *o says which file was
 * made, for outstore_unmake() should blt_open() then fail; a name there
 * already is left as it is, and one that cannot be made is blt_open()'s
 * to report. */
void outstore_make(
    const char *path, const char *source, int mask, struct outstore *o);

/* After blt_open() of the store *o made at path failed: remove it, unless
 * another process has taken it since (a second map --out to the same name
 * opened it, holds its lock or wrote a store there), so that nothing it
 * wrote is lost.  Nothing to do if outstore_make() made nothing. */
void outstore_unmake(const char *path, const struct outstore *o);

#endif
