/*
 * libbltutil: the helpers that blt, bltfs and the tests share, and that are
 * not libbooklet's API: JSON reading and writing, TIME arguments, the store
 * map --out makes, the note on a store just opened, the table of mounts,
 * who holds a store, and the progress line of a long command.  Built on the
 * public booklet.h only; failures are recorded with blt_errmsg_set(), so
 * callers read every layer's message from blt_errmsg().
 */
#ifndef BLTUTIL_H
#define BLTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "booklet.h"

/*
 * JSON for the tools (blt, bltfs ctl, the test suites): a strict reader
 * that builds a tree, and the writers of strings and hex that dump, stat,
 * map and the control files use.  Not part of libbooklet: booklet.h stays
 * the engine's only public header, and nothing here touches a store.
 *
 * The reader follows RFC 8259 strictly (no trailing commas, comments, NaN
 * or invalid UTF-8; JSON_PYTHON adds what Python's json.loads reads, for
 * libbltvalue), decodes escapes, allows NUL inside strings and keeps
 * numbers as text, since timestamps and offsets do not all fit a double.
 * Failures return a negative errno and leave one line, with the line and
 * column of the fault, in blt_errmsg().
 */

enum json_type {
	JSON_NULL,
	JSON_FALSE,
	JSON_TRUE,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT
};

/* One JSON value.  Strings are decoded to UTF-8 (they may hold NUL bytes,
 * hence len; str is NUL-terminated too, and the caller may rewrite its
 * bytes in place).  Numbers keep their source text in str, so 64-bit
 * integers survive, and their value as a double in num.  Arrays and objects
 * hold n kids; an object's kids carry their member name in key/klen, in
 * document order.  off is where the value starts in the text, for messages
 * about it that the parse itself cannot give (json_error_at()). */
struct json {
	enum json_type type;
	char *key;
	size_t klen;
	char *str;
	size_t len;
	double num;
	struct json *kids;
	size_t n;
	size_t off;
};

/* json_parse() flags: keep a lone surrogate escape (which Python's json
 * writes for a string that is not valid Unicode) as its 3-byte form instead
 * of failing. */
#define JSON_SURROGATES 0x1
/* json_parse() flags: the text is one line of a longer text, which the
 * caller names: the message of a failure gives the column alone ("column
 * C: why"). */
#define JSON_LINE 0x2
/* json_parse() flags: read what Python's json.loads reads beyond RFC 8259:
 * the words NaN, Infinity and -Infinity as numbers (their text kept in
 * str, num the double they name), and nesting to JSON_PYTHON_DEPTH levels
 * rather than JSON_DEPTH (Python's recursion limit, which libbltvalue holds
 * every codec to). */
#define JSON_PYTHON 0x4
/* json_parse() flags: the text is a record, one object whose members hold
 * values: it nests one level deeper than a value may (blt load's lines,
 * whose "value" reads as blt_value_encode() reads a value alone). */
#define JSON_RECORD 0x8

/* The deepest nesting of arrays and objects json_parse() reads, without
 * and with JSON_PYTHON; deeper text fails, so that hostile text cannot
 * exhaust the stack. */
#define JSON_DEPTH 512
#define JSON_PYTHON_DEPTH 1000

/* Parse len bytes of JSON text (one value, surrounding white space
 * allowed); the byte after len is never read.  On success the caller owns
 * *out, which holds its own copy of the text; see json_free().  Errors:
 * -EBADMSG (malformed text; the message gives line and column), -ENOMEM. */
int json_parse(const char *text, size_t len, int flags, struct json **out);

/* Free a tree from json_parse(); safe on NULL. */
void json_free(struct json *v);

/* Record a fault of the value at byte off of the len bytes of text (a
 * json_parse() text and flags; off from struct json) in the words of
 * json_parse()'s own: "line L column C: why (at 'c')"; returns -EBADMSG. */
int json_error_at(
    const char *text, size_t len, size_t off, int flags, const char *why);

/* The member name of object obj, the last one if the name is repeated
 * (NULL if obj is not an object or has no such member); borrowed from
 * obj. */
const struct json *json_get(const struct json *obj, const char *name);

/* 1 if a and b are the same JSON value: objects as sets of members (order
 * ignored, the last of a repeated name counts), numbers equal as text or
 * as doubles.  Otherwise 0, and where (if not NULL) gets a path to the
 * first difference such as "$.nested.list[2]". */
int json_same(
    const struct json *a, const struct json *b, char *where, size_t wsize);

/* The integer number v in [min, max]: 0 with *sval (if not NULL) and *uval
 * (if not NULL, 0 when negative) set, or -1 when v is not a number, has a
 * fraction or an exponent, or is out of range. */
int json_int(const struct json *v, int64_t min, uint64_t max, int64_t *sval,
    uint64_t *uval);

/* "null", "a boolean", "a number" ... for messages. */
const char *json_type_name(enum json_type t);

/* The length of the valid UTF-8 sequence at p (n bytes available) with its
 * code point in *cp, or 0 for what Python's strict decoder refuses:
 * overlong forms, surrogates, code points above U+10FFFF. */
size_t json_utf8_decode(const unsigned char *p, size_t n, uint32_t *cp);

/* Encode code point c as UTF-8 at out (room for 4); returns the length.
 * Surrogates come out in their 3-byte forms. */
size_t json_utf8_encode(uint32_t c, unsigned char *out);

/* 1 for characters a terminal would act on or hide: controls and the
 * invisible format characters (bidi overrides, zero widths, BOM). */
int json_invisible(uint32_t c);

#define JSON_ESCAPE_MAX 12 /* bytes of an escape with its NUL */

/* What json_put_escaped() writes instead of the character c (len bytes at
 * p; c is UINT32_MAX for a byte that is not valid UTF-8): an escape in
 * esc, or nothing (esc[0] left 0) to keep the bytes as they are. */
typedef void json_escape_fn(
    const unsigned char *p, size_t len, uint32_t c, char esc[JSON_ESCAPE_MAX]);

/* Write n bytes at p, each character as escape says.  Runs of kept bytes
 * go out in one piece. */
void json_put_escaped(FILE *f, const void *p, size_t n, json_escape_fn *escape);

/* The escapes JSON and blt's key spelling share: backslash, newline, tab
 * and carriage return.  1 if c is one of them (esc filled). */
int json_escape_common(uint32_t c, char esc[JSON_ESCAPE_MAX]);

/* Write n bytes at p as a JSON string with its quotes.  Controls and
 * invisible characters become \u escapes; a byte that is not valid UTF-8
 * becomes U+FFFD, so callers wanting to keep such bytes check with
 * json_utf8_valid() first and write hex instead. */
void json_put_str(FILE *f, const void *p, size_t n);

/* 1 if the n bytes at p are valid UTF-8 as json_utf8_decode() reads it. */
int json_utf8_valid(const void *p, size_t n);

/* Write n bytes at p as lower-case hex digits (no quotes). */
void json_put_hex(FILE *f, const void *p, size_t n);

/* Decode the n hex digits at s into out (which may be s itself); the
 * number of bytes, or -1 for an odd count or a bad digit. */
ssize_t json_unhex(const char *s, size_t n, unsigned char *out);

/*
 * TIME arguments of blt and of the mount's control commands: parsing and
 * printing timestamps in microseconds since the epoch (doc/blt.1, TIME).
 * Not part of libbooklet; it uses the public booklet.h only.
 */

/* timearg_parse() flags: also accept an age such as 7d, 12h, 30m, 45s or
 * 2w, meaning that long before now. */
#define TIMEARG_AGE 0x1

/* Parse TIME s: "now", microseconds since the epoch, or ISO-8601 with a
 * UTC offset (Z or +HH:MM), as the Python booklet accepts.  Returns NULL
 * with *out set, or a static message saying what is wrong. */
const char *timearg_parse(const char *s, int flags, int64_t *out);

/* Write ts (microseconds) into buf (size n) as ISO-8601 in UTC, or as the
 * number when the system cannot break it down. */
void timearg_format(int64_t ts, char *buf, size_t n);

/* Parse s, only decimal digits, as a number in [0, max]: 0, or -1. */
int timearg_number(const char *s, uint64_t max, uint64_t *out);

/*
 * The store that map --out makes, made the same way by blt map and by the
 * mount's map job: what a map writes is then no more open than the store
 * it read, nor than the files the user makes.  Not part of libbooklet; it
 * uses system calls only, before blt_open() fills the store in.
 */

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

/*
 * What blt and bltfs say of a store they have just opened, when the open
 * did more than open it: the same words from both, which their tests and
 * users look for.  Not part of libbooklet, which says nothing on its own.
 */

/* The note (without the program's name) on db, opened from path, into buf
 * of cap bytes: that it was recovered, or read as it is though it was not
 * closed cleanly (blt_flags()).  buf, or NULL when there is nothing to
 * say. */
const char *open_note(struct blt *db, const char *path, char *buf, size_t cap);

/*
 * The mounts of this process's mount namespace (mountinfo.c), for bltfs
 * and its ctl commands, and for naming the mount that holds a store
 * (holder.c).
 */

/* One mount of this process's mount namespace, as /proc/self/mountinfo
 * lists it (proc_pid_mountinfo(5)), with the escapes of its paths decoded.
 * The strings are borrowed from the table, until mountinfo_free(). */
struct mountinfo_entry {
	int id, parent; /* its number, and that of the mount it is made on */
	dev_t dev;      /* of its file system */
	char *root;     /* the directory of its file system that it shows */
	char *point;    /* where it is mounted */
	char *type;     /* "ext4", "fuse.bltfs", ... */
	char *source;   /* what was mounted: a device, for bltfs the store */
	int deleted;    /* root was removed since (a bind mount of it stays) */
};

/* The table: mountinfo_read() or mountinfo_parse() make one. */
struct mountinfo;

int mountinfo_parse(char *text, struct mountinfo **out);
int mountinfo_read(struct mountinfo **out);
void mountinfo_free(struct mountinfo *mi);
const struct mountinfo_entry *mountinfo_find(
    const struct mountinfo *mi, const char *path);
const struct mountinfo_entry *mountinfo_whole(
    const struct mountinfo *mi, dev_t dev);
const struct mountinfo_entry *mountinfo_other(
    const struct mountinfo *mi, dev_t dev, const char *point);
int mountinfo_fuse_dev(const char *point, dev_t *dev);
const struct mountinfo_entry *mountinfo_at(
    const struct mountinfo *mi, size_t i);

/* Who holds the lock of the store at path, for a message that says why it
 * cannot be opened, into buf (cap bytes): "held by bltfs (pid 1234,
 * mounted on /mnt/kv)", "held by python3 (pid 77)", or, when /proc does
 * not tell, "locked by another process".  Returns buf. */
const char *holder_describe(const char *path, char *buf, size_t cap);

/*
 * progress.c: how far a long command is, on stderr where it is a terminal
 * (blt's map, load, dump, check, prune, reindex; bltfs's scan of the
 * store at mount), redrawn in place at most ten times a second.  Nothing
 * is drawn where stderr is no terminal.
 */
struct progress {
	const char *what; /* the command: "map", "load" ... */
	const char *unit; /* what done counts: "items" ..., NULL for bytes */
	int on;           /* stderr is a terminal */
	int bytes;        /* done and total count bytes, not items */
	int ended;
	int drawn; /* a line is on the terminal */
	int shown; /* a line was drawn, ever */
	int64_t start_ms, pass_ms, last_ms;
	int64_t quiet_ms; /* nothing is drawn before this long: a command
	                   * done sooner leaves no line (0 by default) */
	uint64_t done, total;
};
void progress_start(struct progress *p, const char *what, const char *unit);
void progress_show(struct progress *p, uint64_t done, uint64_t total);
void progress_clear(struct progress *p);
void progress_interrupt(void);
void progress_end(struct progress *p);
void progress_fn(void *arg, const char *unit, uint64_t done, uint64_t total);

#endif
