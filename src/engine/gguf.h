/* gguf.h -- read and write GGUF (v2, v3) model files: metadata key/values and a tensor index.
 *
 * Layout of a GGUF file (all integers little-endian):
 *   1. magic "GGUF" (4 bytes)
 *   2. version (u32): 2 or 3 (1 used 32-bit counts and is refused as unsupported)
 *   3. n_tensors (u64), n_kv (u64)
 *   4. n_kv key/values: key (string), value type (u32), value
 *        string = length (u64) + that many bytes, no NUL terminator
 *        array  = element type (u32) + length (u64) + elements (arrays may nest)
 *   5. n_tensors tensor infos: name (string), n_dims (u32), dims (n_dims x u64, ne0 first),
 *        type (u32, a dtype id), offset (u64, relative to the data section, aligned)
 *   6. zero padding up to a multiple of the alignment (key general.alignment, u32, default 32)
 *   7. the data section: each tensor's bytes at its offset
 *
 * gguf_open() validates all of this (counts against the file size, string and array
 * lengths, nesting depth, unique keys and tensor names, known types, alignment, every
 * tensor's offset + size inside the file, no overlapping tensors) before it forms any
 * pointer, so every accessor below is safe on any opened file.  A failure returns
 * STATUS_FORMAT, STATUS_TRUNCATED, STATUS_OVERFLOW or STATUS_UNSUPPORTED with a
 * status_detail() naming the field and its byte offset in the file.
 *
 * Numbers inside the mapping are not aligned in general (a u32 array may follow a string
 * of odd length): read raw array data with memcpy, or use the element getters below.
 * The host must be little-endian (checked at compile time in gguf.c). */
#ifndef MEMLLM_GGUF_H
#define MEMLLM_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/dtype.h"
#include "util/status.h"

#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS 4
#define GGUF_MAX_DEPTH 8 /* arrays nested deeper than this are refused */

/* Metadata value types; the numbers are those written in the file. */
enum gguf_vtype {
    GGUF_VTYPE_UINT8 = 0,
    GGUF_VTYPE_INT8 = 1,
    GGUF_VTYPE_UINT16 = 2,
    GGUF_VTYPE_INT16 = 3,
    GGUF_VTYPE_UINT32 = 4,
    GGUF_VTYPE_INT32 = 5,
    GGUF_VTYPE_FLOAT32 = 6,
    GGUF_VTYPE_BOOL = 7,
    GGUF_VTYPE_STRING = 8,
    GGUF_VTYPE_ARRAY = 9,
    GGUF_VTYPE_UINT64 = 10,
    GGUF_VTYPE_INT64 = 11,
    GGUF_VTYPE_FLOAT64 = 12,
    GGUF_VTYPE_COUNT_
};

/* Lower-case name ("uint32", "string", "array"), or "?" for an unknown type. */
const char *gguf_vtype_name(enum gguf_vtype t);
/* Bytes of one element of a fixed-size type; 0 for STRING, ARRAY and unknown types. */
size_t gguf_vtype_size(enum gguf_vtype t);

/* ---- Reading ------------------------------------------------------------------------ */

struct gguf; /* opaque */

/* Map path read-only (MAP_PRIVATE) and validate it.  On failure the detail names the
 * file.  *out is set only on success; close it with gguf_close(). */
enum status gguf_open(const char *path, struct gguf **out);
/* The same over a borrowed buffer that must stay valid and unchanged until gguf_close().
 * Tensor data pointers are aligned only as far as data itself is aligned. */
enum status gguf_open_buffer(const void *data, size_t size, struct gguf **out);
void gguf_close(struct gguf *g); /* NULL is a no-op */
/* Whether g reads a private file mapping of its own (gguf_open) rather than a borrowed
 * buffer: only then may its pages be released with madvise(MADV_DONTNEED). */
bool gguf_is_mapped(const struct gguf *g);

uint32_t gguf_version(const struct gguf *g);   /* 2 or 3 */
size_t gguf_alignment(const struct gguf *g);   /* a power of two, default 32 */
uint64_t gguf_data_offset(const struct gguf *g); /* file offset of the data section */
uint64_t gguf_file_size(const struct gguf *g);
const void *gguf_base(const struct gguf *g);   /* start of the mapping; borrowed */

/* -- Key/values, by index 0 .. n_kv-1 -- */
int64_t gguf_n_kv(const struct gguf *g);
int64_t gguf_find_key(const struct gguf *g, const char *key); /* -1 if absent */
const char *gguf_key_name(const struct gguf *g, int64_t i);  /* NUL-terminated; borrowed */
enum gguf_vtype gguf_kv_type(const struct gguf *g, int64_t i);

/* A metadata value.  Fill one with gguf_kv_value() (or for the writer by hand);
 * arrays are walked with gguf_iter_*, which also descends into nested arrays. */
struct gguf_value {
    enum gguf_vtype type;
    union {
        uint8_t u8;
        int8_t i8;
        uint16_t u16;
        int16_t i16;
        uint32_t u32;
        int32_t i32;
        uint64_t u64;
        int64_t i64;
        float f32;
        double f64;
        bool b;
        struct {
            const char *ptr; /* NOT NUL-terminated; borrowed */
            uint64_t len;
        } str;
        struct {
            enum gguf_vtype type; /* element type */
            uint64_t len;         /* number of elements */
            /* Elements.  From the reader (encoded = true): the file's encoding,
             * numeric elements packed little-endian (possibly unaligned).  Built by a
             * caller for the writer (encoded = false): a packed C array for numeric
             * types (`bool` for BOOL), `const char *const *` (NUL-terminated) for STRING, and
             * `const struct gguf_value *` for ARRAY.  Borrowed. */
            const void *data;
            uint64_t bytes; /* encoded size in bytes (reader only) */
            bool encoded;
        } arr;
    } v;
};

/* The value of key/value i (borrowed from g). */
void gguf_kv_value(const struct gguf *g, int64_t i, struct gguf_value *out);

/* Walks the elements of an array value in order. */
struct gguf_iter {
    const struct gguf_value *arr;
    uint64_t index; /* index of the next element */
    const unsigned char *pos;
};
void gguf_iter_init(struct gguf_iter *it, const struct gguf_value *arr);
/* Next element into *out; false at the end.  Nested arrays come out as ARRAY values
 * that can be walked with their own iterator. */
bool gguf_iter_next(struct gguf_iter *it, struct gguf_value *out);

/* Typed getters by key name.  STATUS_NOT_FOUND when the key is absent, STATUS_FORMAT
 * (with a detail naming key and types) when it has another type; *out untouched then. */
enum status gguf_get_u8(const struct gguf *g, const char *key, uint8_t *out);
enum status gguf_get_i8(const struct gguf *g, const char *key, int8_t *out);
enum status gguf_get_u16(const struct gguf *g, const char *key, uint16_t *out);
enum status gguf_get_i16(const struct gguf *g, const char *key, int16_t *out);
enum status gguf_get_u32(const struct gguf *g, const char *key, uint32_t *out);
enum status gguf_get_i32(const struct gguf *g, const char *key, int32_t *out);
enum status gguf_get_u64(const struct gguf *g, const char *key, uint64_t *out);
enum status gguf_get_i64(const struct gguf *g, const char *key, int64_t *out);
enum status gguf_get_f32(const struct gguf *g, const char *key, float *out);
enum status gguf_get_f64(const struct gguf *g, const char *key, double *out);
enum status gguf_get_bool(const struct gguf *g, const char *key, bool *out);
/* Any integer type (and BOOL as 0/1); STATUS_OVERFLOW for a u64 above INT64_MAX. */
enum status gguf_get_int(const struct gguf *g, const char *key, int64_t *out);
/* FLOAT32 or FLOAT64 (and any integer type, converted). */
enum status gguf_get_float(const struct gguf *g, const char *key, double *out);
/* A string: pointer into the mapping (NOT NUL-terminated) and its length. */
enum status gguf_get_str(const struct gguf *g, const char *key, const char **out, size_t *len);
/* A string as a NUL-terminated view, borrowed until gguf_close().  STATUS_FORMAT if the
 * string contains a NUL byte (it could not be used as a C string). */
enum status gguf_get_cstr(const struct gguf *g, const char *key, const char **out);

/* Arrays by key name.  Absent key: STATUS_NOT_FOUND; not an array: STATUS_FORMAT. */
enum status gguf_arr_type(const struct gguf *g, const char *key, enum gguf_vtype *out);
enum status gguf_arr_len(const struct gguf *g, const char *key, uint64_t *out);
/* Raw elements of a numeric (or BOOL) array: packed little-endian, NOT aligned; borrowed.
 * STATUS_FORMAT for arrays of strings or arrays. */
enum status gguf_arr_data(const struct gguf *g, const char *key, const void **out);
/* Element i of an array of strings (pointer into the mapping, not NUL-terminated).
 * O(1): string arrays are indexed at open.  STATUS_INVALID if i >= length. */
enum status gguf_arr_str(const struct gguf *g, const char *key, uint64_t i, const char **out,
                         size_t *len);
/* Element i of a numeric array, converted: any integer (and BOOL) type for _int,
 * FLOAT32/FLOAT64 (and integers) for _float. */
enum status gguf_arr_int(const struct gguf *g, const char *key, uint64_t i, int64_t *out);
enum status gguf_arr_float(const struct gguf *g, const char *key, uint64_t i, double *out);

/* -- Tensors, by index 0 .. n_tensors-1, in file order -- */
int64_t gguf_n_tensors(const struct gguf *g);
int64_t gguf_find_tensor(const struct gguf *g, const char *name); /* -1 if absent */
const char *gguf_tensor_name(const struct gguf *g, int64_t i);    /* NUL-terminated; borrowed */
enum dtype gguf_tensor_type(const struct gguf *g, int64_t i);
uint32_t gguf_tensor_n_dims(const struct gguf *g, int64_t i);   /* 1 .. GGUF_MAX_DIMS */
/* Size of dimension d, ne0 (the contiguous one) first; 1 for d >= n_dims. */
uint64_t gguf_tensor_dim(const struct gguf *g, int64_t i, uint32_t d);
uint64_t gguf_tensor_n_elements(const struct gguf *g, int64_t i);
size_t gguf_tensor_size(const struct gguf *g, int64_t i);       /* bytes of its data */
const void *gguf_tensor_data(const struct gguf *g, int64_t i);  /* into the mapping; borrowed */
uint64_t gguf_tensor_offset(const struct gguf *g, int64_t i);   /* absolute file offset */

/* ---- Writing ------------------------------------------------------------------------ */

/* Collects key/values and tensors and writes a GGUF v3 file.  Values are copied when set;
 * tensor data is borrowed until the write.  Setting a key again replaces its value
 * (keeping its position).  Setting general.alignment (UINT32, a power of two) changes
 * the alignment used for the data section. */
struct gguf_writer; /* opaque */

enum status gguf_writer_new(struct gguf_writer **out);
void gguf_writer_free(struct gguf_writer *w); /* NULL is a no-op */

enum status gguf_writer_set_u8(struct gguf_writer *w, const char *key, uint8_t v);
enum status gguf_writer_set_i8(struct gguf_writer *w, const char *key, int8_t v);
enum status gguf_writer_set_u16(struct gguf_writer *w, const char *key, uint16_t v);
enum status gguf_writer_set_i16(struct gguf_writer *w, const char *key, int16_t v);
enum status gguf_writer_set_u32(struct gguf_writer *w, const char *key, uint32_t v);
enum status gguf_writer_set_i32(struct gguf_writer *w, const char *key, int32_t v);
enum status gguf_writer_set_u64(struct gguf_writer *w, const char *key, uint64_t v);
enum status gguf_writer_set_i64(struct gguf_writer *w, const char *key, int64_t v);
enum status gguf_writer_set_f32(struct gguf_writer *w, const char *key, float v);
enum status gguf_writer_set_f64(struct gguf_writer *w, const char *key, double v);
enum status gguf_writer_set_bool(struct gguf_writer *w, const char *key, bool v);
enum status gguf_writer_set_str(struct gguf_writer *w, const char *key, const char *s);
enum status gguf_writer_set_strn(struct gguf_writer *w, const char *key, const char *s,
                                 size_t len);
/* A numeric (or BOOL) array: n packed host values of the given type. */
enum status gguf_writer_set_arr(struct gguf_writer *w, const char *key, enum gguf_vtype type,
                                const void *data, size_t n);
enum status gguf_writer_set_arr_str(struct gguf_writer *w, const char *key,
                                    const char *const *strs, size_t n);
/* Any value, from a reader (gguf_kv_value) or built by hand (nested arrays included). */
enum status gguf_writer_set_value(struct gguf_writer *w, const char *key,
                                  const struct gguf_value *v);
/* Copy every key/value of g, except those whose name starts with skip_prefix (NULL:
 * copy all), so that a rewritten model keeps its metadata. */
enum status gguf_writer_copy_kv(struct gguf_writer *w, const struct gguf *g,
                                const char *skip_prefix);
/* Remove a key if present. */
void gguf_writer_remove(struct gguf_writer *w, const char *key);

/* Add a tensor: dims ne0 first, 1 .. GGUF_MAX_DIMS of them, dims[0] a multiple of the
 * type's block size; size must equal the computed byte size.  data is borrowed until
 * gguf_writer_write()/gguf_writer_to_buffer() returns.  Duplicate names are refused. */
enum status gguf_writer_add_tensor(struct gguf_writer *w, const char *name, enum dtype type,
                                   uint32_t n_dims, const uint64_t *dims, const void *data,
                                   size_t size);

/* Write to path via a new temporary file beside it ("<path>.XXXXXX", created exclusively
 * with mode 0666 less the umask) + fsync + rename, so a failure never leaves a partial file
 * (the temporary file is removed) and writers of the same path, or a stale temporary file
 * of a crashed one, never meet.  Whatever path names is replaced, a link included. */
enum status gguf_writer_write(struct gguf_writer *w, const char *path);
/* The whole file in memory: *out owned, free() it. */
enum status gguf_writer_to_buffer(struct gguf_writer *w, void **out, size_t *size);

#endif /* MEMLLM_GGUF_H */
