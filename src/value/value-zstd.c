/*
 * zstd frames as Python's zstandard writes them (zstd.compress(x, 1)):
 * decompression streams into a growing buffer with a cap, because a frame's
 * content size may be absent or lie, and a few bytes can claim gigabytes
 * (a "zip bomb"); compression is one frame at level 1, with the content
 * size, like zstandard's.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>

#include <zstd.h>

#include "bltvalue.h"
#include "value-int.h"

size_t value_zstd_max = VALUE_ZSTD_MAX;

/* The most a frame's header may claim for it to be decompressed in one
 * call into a buffer of that size. */
#define VALUE_ZSTD_ONESHOT ((unsigned long long)16 << 20)

/* One decompression stream per thread, kept between values: making one
 * allocates its window and tables, which cost more than decompressing a
 * value of a few KiB (a dump of 20,000 such values took 3 times as long). */
static pthread_key_t value_zstd_key;
static pthread_once_t value_zstd_once = PTHREAD_ONCE_INIT;

static void
value_zstd_free_stream(void *ds)
{
	ZSTD_freeDStream(ds);
}

static void
value_zstd_make_key(void)
{
	(void)pthread_key_create(&value_zstd_key, value_zstd_free_stream);
}

/* This thread's stream, reset for a new frame, or NULL. */
static ZSTD_DStream *
value_zstd_stream(void)
{
	ZSTD_DStream *ds;

	pthread_once(&value_zstd_once, value_zstd_make_key);
	if ((ds = pthread_getspecific(value_zstd_key)) == NULL) {
		if ((ds = ZSTD_createDStream()) == NULL)
			return NULL;
		if (pthread_setspecific(value_zstd_key, ds) != 0) {
			ZSTD_freeDStream(ds);
			return NULL;
		}
	}
	if (ZSTD_isError(ZSTD_initDStream(ds)))
		return NULL;
	return ds;
}

/* Decompress with stream ds (reset) into out. */
static int
value_zstd_run(ZSTD_DStream *ds, const void *p, size_t n,
    struct blt_value_buf *out, char *why, size_t whylen)
{
	ZSTD_inBuffer in = {p, n, 0};
	size_t ret = 1, step = ZSTD_DStreamOutSize();
	int rc = 0;

	out->len = 0;
	if (n == 0) {
		snprintf(why, whylen, "empty, not a zstd frame");
		rc = -EINVAL;
		goto out;
	}
	/* One frame whose header gives a modest size: decompressed straight
	 * into the buffer, without the stream's copy through its window.  A
	 * header that lies makes it fail, and the stream below decides. */
	unsigned long long size = ZSTD_getFrameContentSize(p, n);
	if (size <= VALUE_ZSTD_ONESHOT && size <= value_zstd_max &&
	    ZSTD_findFrameCompressedSize(p, n) == n) {
		if ((rc = value_buf_reserve(out, size ? size : 1)) < 0)
			goto out;
		ret = ZSTD_decompressDCtx(ds, out->data, size, p, n);
		if (!ZSTD_isError(ret)) {
			out->len = ret;
			goto out;
		}
		if (ZSTD_isError(ZSTD_initDStream(ds))) {
			rc = -ENOMEM;
			goto out;
		}
		ret = 1;
	}
	while (in.pos < in.size || ret != 0) {
		size_t room = value_zstd_max - out->len;
		ZSTD_outBuffer ob;

		if (room == 0) {
			snprintf(why, whylen,
			    "decompresses to more than %zu bytes",
			    value_zstd_max);
			rc = -EINVAL;
			goto out;
		}
		if ((rc = value_buf_reserve(out, step < room ? step : room)) <
		    0)
			goto out;
		ob.dst = out->data + out->len;
		ob.size =
		    out->cap - out->len < room ? out->cap - out->len : room;
		ob.pos = 0;
		size_t before = in.pos;
		ret = ZSTD_decompressStream(ds, &ob, &in);
		out->len += ob.pos;
		if (ZSTD_isError(ret)) {
			snprintf(why, whylen, "not a zstd frame: %s",
			    ZSTD_getErrorName(ret));
			rc = -EINVAL;
			goto out;
		}
		if (in.pos == in.size && ob.pos == 0 && before == in.pos &&
		    ret != 0) {
			snprintf(why, whylen, "a truncated zstd frame");
			rc = -EINVAL;
			goto out;
		}
		/* Grow the buffer as it fills, doubling, so that a large
		 * value costs few reallocations. */
		if (out->len == out->cap && step < (size_t)1 << 24)
			step *= 2;
	}
out:
	return rc;
}

int
value_zstd_decompress(const void *p, size_t n, struct blt_value_buf *out,
    char *why, size_t whylen)
{
	struct blt_value_buf scratch = {0};
	ZSTD_DStream *ds = value_zstd_stream();
	int rc;

	if (ds == NULL)
		return -ENOMEM;
	rc = value_zstd_run(ds, p, n, out, why, whylen);
	if (rc != -EINVAL)
		return rc;
	/* Which error zstd names for a bad frame depends on the buffers its
	 * stream kept from earlier values and on the room in out: the same
	 * value must always say the same, so it is decompressed again from
	 * a clean state for the message. */
	if ((ds = ZSTD_createDStream()) == NULL)
		return -ENOMEM;
	rc = ZSTD_isError(ZSTD_initDStream(ds))
	         ? -ENOMEM
	         : value_zstd_run(ds, p, n, &scratch, why, whylen);
	ZSTD_freeDStream(ds);
	if (rc == 0) { /* (never seen: the clean state decides) */
		blt_value_buf_free(out);
		*out = scratch;
		return 0;
	}
	blt_value_buf_free(&scratch);
	out->len = 0;
	return rc;
}

int
value_zstd_compress(const void *p, size_t n, struct blt_value_buf *out)
{
	size_t bound = ZSTD_compressBound(n), r;
	int rc;

	out->len = 0;
	if ((rc = value_buf_reserve(out, bound)) < 0)
		return rc;
	r = ZSTD_compress(out->data, out->cap, p, n, 1);
	if (ZSTD_isError(r))
		return -ENOMEM;
	out->len = r;
	return 0;
}
