/*
 * names.c: the names of booklet's serializer codes (§2.4), for messages and
 * for `blt stat`, and the widths of the integer ones.  Codes are only ever
 * appended upstream, so they are stable.
 */
#include "config.h"

#include "internal.h"

static const char *const names_serializers[BLT_SER_MAX + 1] = {
    "custom",
    "None",
    "str",
    "pickle",
    "json",
    "orjson",
    "uint1",
    "int1",
    "uint2",
    "int2",
    "uint4",
    "int4",
    "uint5",
    "int5",
    "uint8",
    "int8",
    "pickle_zstd",
    "orjson_zstd",
    "numpy_int1",
    "numpy_int2",
    "numpy_int4",
    "numpy_int8",
    "numpy_int2_zstd",
    "numpy_int4_zstd",
    "numpy_int8_zstd",
    "pd_zstd",
    "gpd_zstd",
    "zstd",
    "wkb",
    "wkb_zstd",
    "msgpack",
    "msgpack_zstd",
    "bytes",
};

/* The name of a serializer code, or "unknown". */
const char *
blt_serializer_name(unsigned code)
{
	return code <= BLT_SER_MAX ? names_serializers[code] : "unknown";
}

int
blt_int_key_width(unsigned code, int *is_signed)
{
	static const int width[] = {1, 1, 2, 2, 4, 4, 5, 5, 8, 8};
	int in = code >= 6 && code <= 15;

	if (is_signed != NULL)
		*is_signed = in && (code - 6) % 2 == 1;
	return in ? width[code - 6] : 0;
}
