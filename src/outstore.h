/*
 * The store that map --out makes, made the same way by blt map and by the
 * mount's map job: what a map writes is then no more open than the store
 * it read, nor than the files the user makes.  Not part of libbooklet; it
 * uses system calls only, before blt_open() fills the store in.
 */
#ifndef OUTSTORE_H
#define OUTSTORE_H

/* Make the missing store file path, empty, for blt_open() with BLT_CREATE
 * to fill in: with the mode of the store file source (0600 where it cannot
 * be seen) less mask, or less the process's umask where mask is -1.  Only a
 * new name is made, never through a symbolic link.  1 when made here,
 * which the caller removes should blt_open() then fail; 0 for a name there
 * already, left as it is, and for one that cannot be made, which
 * blt_open() then reports. */
int outstore_make(const char *path, const char *source, int mask);

#endif
