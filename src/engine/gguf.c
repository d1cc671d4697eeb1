/* gguf.c -- GGUF v2/v3 reader (mmap, every field validated before use) and writer. */
#include "config.h"
#include "engine/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/i18n.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gguf.c reads little-endian files directly and needs a little-endian host"
#endif

static const unsigned char gguf_magic[4] = {'G', 'G', 'U', 'F'};

/* Smallest encodings, used to bound counts by the bytes left before allocating:
 * a key/value is a key length (8) + a type (4) + at least one byte of value; a tensor
 * info is a name length (8) + n_dims (4) + one dim (8) + type (4) + offset (8). */
enum {
    GGUF_MIN_KV_BYTES = 13,
    GGUF_MIN_TENSOR_BYTES = 32,
    GGUF_MIN_STR_BYTES = 8,
    GGUF_MIN_ARR_BYTES = 12,
};

/* ---- Value types ---------------------------------------------------------------------- */

static const char *const vtype_names[GGUF_VTYPE_COUNT_] = {
    "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
    "bool",  "string", "array", "uint64", "int64", "float64",
};

const char *gguf_vtype_name(enum gguf_vtype t)
{
    if ((unsigned)t >= GGUF_VTYPE_COUNT_)
        return "?";
    return vtype_names[t];
}

size_t gguf_vtype_size(enum gguf_vtype t)
{
    switch (t) {
    case GGUF_VTYPE_UINT8:
    case GGUF_VTYPE_INT8:
    case GGUF_VTYPE_BOOL:
        return 1;
    case GGUF_VTYPE_UINT16:
    case GGUF_VTYPE_INT16:
        return 2;
    case GGUF_VTYPE_UINT32:
    case GGUF_VTYPE_INT32:
    case GGUF_VTYPE_FLOAT32:
        return 4;
    case GGUF_VTYPE_UINT64:
    case GGUF_VTYPE_INT64:
    case GGUF_VTYPE_FLOAT64:
        return 8;
    default:
        return 0;
    }
}

static bool vtype_is_int(enum gguf_vtype t)
{
    switch (t) {
    case GGUF_VTYPE_UINT8:
    case GGUF_VTYPE_INT8:
    case GGUF_VTYPE_UINT16:
    case GGUF_VTYPE_INT16:
    case GGUF_VTYPE_UINT32:
    case GGUF_VTYPE_INT32:
    case GGUF_VTYPE_UINT64:
    case GGUF_VTYPE_INT64:
    case GGUF_VTYPE_BOOL:
        return true;
    default:
        return false;
    }
}

static uint16_t rd_u16(const unsigned char *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint32_t rd_u32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint64_t rd_u64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Decode one fixed-size scalar of type t at p into v (p holds gguf_vtype_size(t) bytes). */
static void scalar_decode(enum gguf_vtype t, const unsigned char *p, struct gguf_value *v)
{
    v->type = t;
    switch (t) {
    case GGUF_VTYPE_UINT8:
        v->v.u8 = p[0];
        break;
    case GGUF_VTYPE_INT8:
        v->v.i8 = (int8_t)p[0];
        break;
    case GGUF_VTYPE_BOOL:
        v->v.b = p[0] != 0;
        break;
    case GGUF_VTYPE_UINT16:
        v->v.u16 = rd_u16(p);
        break;
    case GGUF_VTYPE_INT16:
        memcpy(&v->v.i16, p, 2);
        break;
    case GGUF_VTYPE_UINT32:
        v->v.u32 = rd_u32(p);
        break;
    case GGUF_VTYPE_INT32:
        memcpy(&v->v.i32, p, 4);
        break;
    case GGUF_VTYPE_FLOAT32:
        memcpy(&v->v.f32, p, 4);
        break;
    case GGUF_VTYPE_UINT64:
        v->v.u64 = rd_u64(p);
        break;
    case GGUF_VTYPE_INT64:
        memcpy(&v->v.i64, p, 8);
        break;
    case GGUF_VTYPE_FLOAT64:
        memcpy(&v->v.f64, p, 8);
        break;
    default:
        break;
    }
}

/* Integer value of an integer (or BOOL) scalar; false for a u64 above INT64_MAX. */
static bool value_to_int(const struct gguf_value *v, int64_t *out)
{
    switch (v->type) {
    case GGUF_VTYPE_UINT8:
        *out = v->v.u8;
        return true;
    case GGUF_VTYPE_INT8:
        *out = v->v.i8;
        return true;
    case GGUF_VTYPE_BOOL:
        *out = v->v.b;
        return true;
    case GGUF_VTYPE_UINT16:
        *out = v->v.u16;
        return true;
    case GGUF_VTYPE_INT16:
        *out = v->v.i16;
        return true;
    case GGUF_VTYPE_UINT32:
        *out = v->v.u32;
        return true;
    case GGUF_VTYPE_INT32:
        *out = v->v.i32;
        return true;
    case GGUF_VTYPE_INT64:
        *out = v->v.i64;
        return true;
    case GGUF_VTYPE_UINT64:
        if (v->v.u64 > INT64_MAX)
            return false;
        *out = (int64_t)v->v.u64;
        return true;
    default:
        return false;
    }
}

static bool value_to_float(const struct gguf_value *v, double *out)
{
    int64_t i;
    if (v->type == GGUF_VTYPE_FLOAT32) {
        *out = v->v.f32;
        return true;
    }
    if (v->type == GGUF_VTYPE_FLOAT64) {
        *out = v->v.f64;
        return true;
    }
    if (v->type == GGUF_VTYPE_UINT64) {
        *out = (double)v->v.u64;
        return true;
    }
    if (value_to_int(v, &i)) {
        *out = (double)i;
        return true;
    }
    return false;
}

/* ---- Reader --------------------------------------------------------------------------- */

struct gguf_kv {
    char *name;           /* NUL-terminated copy */
    enum gguf_vtype type;
    uint64_t key_off;     /* file offset of the key's length field */
    uint64_t val_off;     /* file offset of the value */
    uint64_t val_bytes;   /* encoded size of the value */
    char *cstr;           /* STRING: NUL-terminated copy, NULL if it holds a NUL byte */
    uint64_t *str_offs;   /* array of STRING: file offset of each element's length field */
};

struct gguf_tensor {
    char *name;
    uint32_t type;
    uint32_t n_dims;
    uint64_t dims[GGUF_MAX_DIMS];
    uint64_t n_elements;
    size_t size;
    uint64_t offset;      /* relative to the data section */
    uint64_t info_off;    /* file offset of its tensor info (name length field) */
    uint64_t offset_off;  /* file offset of its offset field */
};

struct gguf {
    const unsigned char *base;
    size_t size;
    bool mapped;
    uint32_t version;
    size_t alignment;
    uint64_t data_off;
    int64_t n_kv;
    struct gguf_kv *kv;
    int64_t *kv_sorted;   /* kv indices sorted by name, for lookup */
    int64_t n_tensors;
    struct gguf_tensor *t;
    int64_t *t_sorted;    /* tensor indices sorted by name */
};

/* Parse cursor over the whole file; pos only grows. */
struct rd {
    const unsigned char *p;
    uint64_t size;
    uint64_t pos;
};

static uint64_t rd_left(const struct rd *r)
{
    return r->size - r->pos;
}

/* Copy s into buf (size n) with non-printable bytes as '?', cut with "..." when long,
 * so that names from a hostile file can be shown in a detail line. */
static const char *shown(const char *s, size_t len, char *buf, size_t n)
{
    size_t j = 0;
    for (size_t i = 0; i < len && j + 4 < n; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[j++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (len > 0 && j + 4 >= n && j < len) {
        memcpy(buf + j, "...", 3);
        j += 3;
    }
    buf[j] = '\0';
    return buf;
}

static enum status truncated(const struct rd *r, const char *what, uint64_t at)
{
    return status_detail_set(STATUS_TRUNCATED,
                             /* TRANSLATORS: %s names a field of a GGUF file, e.g.
                                "key 'general.name' value" */
                             _("%s at byte %" PRIu64 ": the file ends at byte %" PRIu64),
                             what, at, r->size);
}

/* Ensure n bytes are left at the cursor; describe the field otherwise. */
static enum status rd_need(const struct rd *r, uint64_t n, const char *what)
{
    if (n > rd_left(r))
        return truncated(r, what, r->pos);
    return STATUS_OK;
}

static enum status rd_u32_field(struct rd *r, uint32_t *out, const char *what)
{
    enum status st = rd_need(r, 4, what);
    if (st != STATUS_OK)
        return st;
    *out = rd_u32(r->p + r->pos);
    r->pos += 4;
    return STATUS_OK;
}

static enum status rd_u64_field(struct rd *r, uint64_t *out, const char *what)
{
    enum status st = rd_need(r, 8, what);
    if (st != STATUS_OK)
        return st;
    *out = rd_u64(r->p + r->pos);
    r->pos += 8;
    return STATUS_OK;
}

/* A string: its bytes at *ptr (not NUL-terminated), length *len. */
static enum status rd_str(struct rd *r, const char **ptr, uint64_t *len, const char *what)
{
    uint64_t at = r->pos, n;
    enum status st = rd_u64_field(r, &n, what);
    if (st != STATUS_OK)
        return st;
    if (n > (uint64_t)INT64_MAX)
        return status_detail_set(STATUS_OVERFLOW,
                                 _("%s at byte %" PRIu64 ": string length %" PRIu64
                                   " is out of range"),
                                 what, at, n);
    if (n > rd_left(r))
        return status_detail_set(STATUS_TRUNCATED,
                                 _("%s at byte %" PRIu64 ": string of %" PRIu64
                                   " bytes goes past the end of the file (%" PRIu64 " bytes)"),
                                 what, at, n, r->size);
    *ptr = (const char *)(r->p + r->pos);
    *len = n;
    r->pos += n;
    return STATUS_OK;
}

/* A name (key or tensor): non-empty, no NUL byte; *out a malloc'ed copy. */
static enum status rd_name(struct rd *r, char **out, const char *what)
{
    const char *s;
    uint64_t len, at = r->pos;
    enum status st = rd_str(r, &s, &len, what);
    if (st != STATUS_OK)
        return st;
    if (len == 0)
        return status_detail_set(STATUS_FORMAT, _("%s at byte %" PRIu64 ": empty name"), what,
                                 at);
    if (memchr(s, '\0', len))
        return status_detail_set(STATUS_FORMAT,
                                 _("%s at byte %" PRIu64 ": name contains a NUL byte"), what,
                                 at);
    char *c = malloc(len + 1);
    if (!c)
        return STATUS_NOMEM;
    memcpy(c, s, len);
    c[len] = '\0';
    *out = c;
    return STATUS_OK;
}

static enum status skip_array_body(struct rd *r, int depth, const char *what);

/* Validate and skip one value of type t (whose type field started at type_at); arrays
 * recurse up to GGUF_MAX_DEPTH.  what describes the value for details. */
static enum status skip_value(struct rd *r, enum gguf_vtype t, uint64_t type_at, int depth,
                              const char *what)
{
    if ((unsigned)t >= GGUF_VTYPE_COUNT_)
        return status_detail_set(STATUS_FORMAT,
                                 _("%s at byte %" PRIu64 ": unknown value type %u"), what,
                                 type_at, (unsigned)t);
    size_t sz = gguf_vtype_size(t);
    if (sz) {
        enum status st = rd_need(r, sz, what);
        if (st == STATUS_OK)
            r->pos += sz;
        return st;
    }
    if (t == GGUF_VTYPE_STRING) {
        const char *s;
        uint64_t len;
        return rd_str(r, &s, &len, what);
    }
    return skip_array_body(r, depth, what);
}

/* Validate and skip an array body: element type (u32), length (u64), elements.  An
 * element of an array of arrays is itself such a body. */
static enum status skip_array_body(struct rd *r, int depth, const char *what)
{
    if (depth >= GGUF_MAX_DEPTH)
        return status_detail_set(STATUS_FORMAT,
                                 _("%s at byte %" PRIu64 ": arrays nested deeper than %d"),
                                 what, r->pos, GGUF_MAX_DEPTH);
    uint32_t et;
    uint64_t len, et_at = r->pos, len_at;
    enum status st = rd_u32_field(r, &et, what);
    if (st != STATUS_OK)
        return st;
    if (et >= GGUF_VTYPE_COUNT_)
        return status_detail_set(STATUS_FORMAT,
                                 _("%s at byte %" PRIu64 ": unknown array element type %u"),
                                 what, et_at, (unsigned)et);
    len_at = r->pos;
    st = rd_u64_field(r, &len, what);
    if (st != STATUS_OK)
        return st;
    size_t min = gguf_vtype_size((enum gguf_vtype)et);
    if (!min)
        min = et == GGUF_VTYPE_STRING ? GGUF_MIN_STR_BYTES : GGUF_MIN_ARR_BYTES;
    if (len > UINT64_MAX / min || len > (uint64_t)INT64_MAX)
        return status_detail_set(STATUS_OVERFLOW,
                                 _("%s at byte %" PRIu64 ": array length %" PRIu64
                                   " is out of range"),
                                 what, len_at, len);
    if (len * min > rd_left(r))
        return status_detail_set(STATUS_TRUNCATED,
                                 _("%s at byte %" PRIu64 ": array of %" PRIu64 " %s elements"
                                   " goes past the end of the file (%" PRIu64 " bytes)"),
                                 what, len_at, len, gguf_vtype_name((enum gguf_vtype)et),
                                 r->size);
    if (gguf_vtype_size((enum gguf_vtype)et)) {
        r->pos += len * min;
        return STATUS_OK;
    }
    for (uint64_t i = 0; i < len && st == STATUS_OK; i++) {
        if (et == GGUF_VTYPE_STRING) {
            const char *s;
            uint64_t n;
            st = rd_str(r, &s, &n, what);
        } else {
            st = skip_array_body(r, depth + 1, what);
        }
    }
    return st;
}

/* Index a validated top-level array of strings: offsets of each element. */
static enum status index_str_array(struct gguf *g, struct gguf_kv *kv)
{
    uint64_t len = rd_u64(g->base + kv->val_off + 4);
    kv->str_offs = malloc((len ? len : 1) * sizeof *kv->str_offs);
    if (!kv->str_offs)
        return STATUS_NOMEM;
    uint64_t pos = kv->val_off + 12;
    for (uint64_t i = 0; i < len; i++) {
        kv->str_offs[i] = pos;
        pos += 8 + rd_u64(g->base + pos);
    }
    return STATUS_OK;
}

/* qsort has no context argument in C11: sort index arrays through a file-scope pointer
 * set for the duration of the sort (open is not re-entered from inside a comparison). */
static _Thread_local const struct gguf *sort_g;

static int cmp_kv_idx(const void *a, const void *b)
{
    int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
    int c = strcmp(sort_g->kv[i].name, sort_g->kv[j].name);
    return c ? c : (i < j ? -1 : i > j);
}

static int cmp_t_idx(const void *a, const void *b)
{
    int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
    int c = strcmp(sort_g->t[i].name, sort_g->t[j].name);
    return c ? c : (i < j ? -1 : i > j);
}

static int cmp_t_offset(const void *a, const void *b)
{
    int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
    uint64_t x = sort_g->t[i].offset, y = sort_g->t[j].offset;
    return x < y ? -1 : x > y ? 1 : (i < j ? -1 : i > j);
}

static enum status parse_kvs(struct gguf *g, struct rd *r)
{
    char what[160], nm[64];
    for (int64_t i = 0; i < g->n_kv; i++) {
        struct gguf_kv *kv = &g->kv[i];
        kv->key_off = r->pos;
        snprintf(what, sizeof what, _("key %" PRId64 " name"), i);
        enum status st = rd_name(r, &kv->name, what);
        if (st != STATUS_OK)
            return st;
        size_t nlen = strlen(kv->name);
        shown(kv->name, nlen, nm, sizeof nm);
        snprintf(what, sizeof what, _("key '%s' type"), nm);
        uint64_t type_at = r->pos;
        uint32_t t;
        st = rd_u32_field(r, &t, what);
        if (st != STATUS_OK)
            return st;
        snprintf(what, sizeof what, _("key '%s' value"), nm);
        kv->type = (enum gguf_vtype)t;
        kv->val_off = r->pos;
        st = skip_value(r, kv->type, type_at, 0, what);
        if (st != STATUS_OK)
            return st;
        kv->val_bytes = r->pos - kv->val_off;
        if (kv->type == GGUF_VTYPE_STRING) {
            uint64_t len = kv->val_bytes - 8;
            const char *s = (const char *)g->base + kv->val_off + 8;
            if (!memchr(s, '\0', len)) {
                kv->cstr = malloc(len + 1);
                if (!kv->cstr)
                    return STATUS_NOMEM;
                memcpy(kv->cstr, s, len);
                kv->cstr[len] = '\0';
            }
        } else if (kv->type == GGUF_VTYPE_ARRAY &&
                   rd_u32(g->base + kv->val_off) == GGUF_VTYPE_STRING) {
            st = index_str_array(g, kv);
            if (st != STATUS_OK)
                return st;
        }
    }
    /* Unique names: sort an index and compare neighbours. */
    for (int64_t i = 0; i < g->n_kv; i++)
        g->kv_sorted[i] = i;
    sort_g = g;
    qsort(g->kv_sorted, (size_t)g->n_kv, sizeof *g->kv_sorted, cmp_kv_idx);
    for (int64_t i = 1; i < g->n_kv; i++) {
        const struct gguf_kv *a = &g->kv[g->kv_sorted[i - 1]], *b = &g->kv[g->kv_sorted[i]];
        if (strcmp(a->name, b->name) == 0)
            return status_detail_set(STATUS_FORMAT,
                                     _("key '%s' at byte %" PRIu64 ": duplicate key (first at"
                                       " byte %" PRIu64 ")"),
                                     shown(b->name, strlen(b->name), nm, sizeof nm),
                                     b->key_off, a->key_off);
    }
    /* The alignment key, if present, must be a u32 power of two. */
    int64_t ai = gguf_find_key(g, "general.alignment");
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    if (ai >= 0) {
        const struct gguf_kv *kv = &g->kv[ai];
        if (kv->type != GGUF_VTYPE_UINT32)
            return status_detail_set(STATUS_FORMAT,
                                     _("key 'general.alignment' at byte %" PRIu64
                                       ": type %s, expected uint32"),
                                     kv->key_off, gguf_vtype_name(kv->type));
        uint32_t a = rd_u32(g->base + kv->val_off);
        if (a == 0 || (a & (a - 1)) != 0)
            return status_detail_set(STATUS_FORMAT,
                                     _("key 'general.alignment' at byte %" PRIu64
                                       ": alignment %" PRIu32 " is not a power of two"),
                                     kv->val_off, a);
        g->alignment = a;
    }
    return STATUS_OK;
}

static enum status parse_tensor_info(struct gguf *g, struct rd *r, int64_t i)
{
    struct gguf_tensor *t = &g->t[i];
    char what[160], nm[80];
    t->info_off = r->pos;
    snprintf(what, sizeof what, _("tensor %" PRId64 " name"), i);
    enum status st = rd_name(r, &t->name, what);
    if (st != STATUS_OK)
        return st;
    shown(t->name, strlen(t->name), nm, sizeof nm);
    snprintf(what, sizeof what, _("tensor '%s' info"), nm);
    uint64_t at = r->pos;
    st = rd_u32_field(r, &t->n_dims, what);
    if (st != STATUS_OK)
        return st;
    if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
        return status_detail_set(STATUS_FORMAT,
                                 _("tensor '%s' at byte %" PRIu64 ": %" PRIu32
                                   " dimensions (1 to %d allowed)"),
                                 nm, at, t->n_dims, GGUF_MAX_DIMS);
    uint64_t n = 1;
    bool overflow = false;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++)
        t->dims[d] = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        at = r->pos;
        st = rd_u64_field(r, &t->dims[d], what);
        if (st != STATUS_OK)
            return st;
        if (t->dims[d] == 0 || t->dims[d] > (uint64_t)INT64_MAX)
            return status_detail_set(STATUS_FORMAT,
                                     _("tensor '%s' at byte %" PRIu64 ": dimension %" PRIu32
                                       " is %" PRIu64 " (must be 1 or more)"),
                                     nm, at, d, t->dims[d]);
        if (n > (uint64_t)INT64_MAX / t->dims[d])
            overflow = true;
        else
            n *= t->dims[d];
    }
    if (overflow)
        return status_detail_set(STATUS_OVERFLOW,
                                 _("tensor '%s' at byte %" PRIu64
                                   ": the number of elements is out of range"),
                                 nm, t->info_off);
    t->n_elements = n;
    at = r->pos;
    st = rd_u32_field(r, &t->type, what);
    if (st != STATUS_OK)
        return st;
    if (!dtype_name(t->type))
        return status_detail_set(STATUS_UNSUPPORTED,
                                 _("tensor '%s' at byte %" PRIu64 ": unknown tensor type %" PRIu32),
                                 nm, at, t->type);
    size_t row;
    st = dtype_row_bytes(t->type, t->dims[0], &row);
    if (st == STATUS_INVALID)
        return status_detail_set(STATUS_FORMAT,
                                 _("tensor '%s' at byte %" PRIu64 ": first dimension %" PRIu64
                                   " is not a multiple of the %s block size %zu"),
                                 nm, t->info_off, t->dims[0], dtype_name(t->type),
                                 dtype_block_size(t->type));
    uint64_t rows = n / t->dims[0];
    if (st != STATUS_OK || (rows && row > SIZE_MAX / rows) ||
        (uint64_t)row * rows > (uint64_t)INT64_MAX)
        return status_detail_set(STATUS_OVERFLOW,
                                 _("tensor '%s' at byte %" PRIu64
                                   ": the data size is out of range"),
                                 nm, t->info_off);
    t->size = row * (size_t)rows;
    t->offset_off = r->pos;
    return rd_u64_field(r, &t->offset, what);
}

static enum status parse_tensors(struct gguf *g, struct rd *r)
{
    char nm[80];
    for (int64_t i = 0; i < g->n_tensors; i++) {
        enum status st = parse_tensor_info(g, r, i);
        if (st != STATUS_OK)
            return st;
    }
    uint64_t a = g->alignment;
    uint64_t pad = (a - r->pos % a) % a;
    g->data_off = r->pos + pad; /* r->pos <= size, so no overflow */
    if (g->n_tensors == 0)
        return STATUS_OK;

    for (int64_t i = 0; i < g->n_tensors; i++) {
        const struct gguf_tensor *t = &g->t[i];
        shown(t->name, strlen(t->name), nm, sizeof nm);
        if (t->offset % a != 0)
            return status_detail_set(STATUS_FORMAT,
                                     _("tensor '%s' at byte %" PRIu64 ": data offset %" PRIu64
                                       " not aligned to %" PRIu64),
                                     nm, t->offset_off, t->offset, a);
        if (t->offset > UINT64_MAX - g->data_off - t->size)
            return status_detail_set(STATUS_OVERFLOW,
                                     _("tensor '%s' at byte %" PRIu64 ": data offset %" PRIu64
                                       " is out of range"),
                                     nm, t->offset_off, t->offset);
        uint64_t end = g->data_off + t->offset + t->size;
        if (end > g->size)
            return status_detail_set(STATUS_TRUNCATED,
                                     _("tensor '%s' at byte %" PRIu64 ": data (%zu bytes at"
                                       " byte %" PRIu64 ") goes past the end of the file (%zu"
                                       " bytes)"),
                                     nm, t->offset_off, t->size, g->data_off + t->offset,
                                     g->size);
    }

    int64_t *idx = malloc((size_t)g->n_tensors * sizeof *idx);
    if (!idx)
        return STATUS_NOMEM;
    enum status st = STATUS_OK;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        idx[i] = i;
        g->t_sorted[i] = i;
    }
    sort_g = g;
    qsort(idx, (size_t)g->n_tensors, sizeof *idx, cmp_t_offset);
    for (int64_t i = 1; i < g->n_tensors && st == STATUS_OK; i++) {
        const struct gguf_tensor *p = &g->t[idx[i - 1]], *q = &g->t[idx[i]];
        if (p->offset + p->size > q->offset) {
            char nm2[80];
            st = status_detail_set(STATUS_FORMAT,
                                   _("tensor '%s' at byte %" PRIu64 ": its data overlaps that"
                                     " of tensor '%s'"),
                                   shown(q->name, strlen(q->name), nm, sizeof nm),
                                   q->offset_off,
                                   shown(p->name, strlen(p->name), nm2, sizeof nm2));
        }
    }
    free(idx);
    if (st != STATUS_OK)
        return st;
    qsort(g->t_sorted, (size_t)g->n_tensors, sizeof *g->t_sorted, cmp_t_idx);
    for (int64_t i = 1; i < g->n_tensors; i++) {
        const struct gguf_tensor *p = &g->t[g->t_sorted[i - 1]], *q = &g->t[g->t_sorted[i]];
        if (strcmp(p->name, q->name) == 0)
            return status_detail_set(STATUS_FORMAT,
                                     _("tensor '%s' at byte %" PRIu64 ": duplicate tensor name"
                                       " (first at byte %" PRIu64 ")"),
                                     shown(q->name, strlen(q->name), nm, sizeof nm),
                                     q->info_off, p->info_off);
    }
    return STATUS_OK;
}

/* Validate a count read at byte at against the bytes left: absurd counts overflow,
 * counts the rest of the file cannot hold are truncation. */
static enum status check_count(const struct rd *r, uint64_t n, uint64_t min, uint64_t at,
                               const char *what)
{
    if (n > (uint64_t)INT64_MAX / min || n > SIZE_MAX / sizeof(struct gguf_tensor))
        return status_detail_set(STATUS_OVERFLOW,
                                 _("%s at byte %" PRIu64 ": count %" PRIu64 " is out of range"),
                                 what, at, n);
    if (n * min > rd_left(r))
        return status_detail_set(STATUS_TRUNCATED,
                                 _("%s at byte %" PRIu64 ": %" PRIu64 " entries cannot fit in"
                                   " the %" PRIu64 " bytes left in the file"),
                                 what, at, n, rd_left(r));
    return STATUS_OK;
}

static enum status parse(struct gguf *g)
{
    struct rd r = {g->base, g->size, 0};
    enum status st;
    if (g->size < 4)
        return truncated(&r, _("magic"), 0);
    if (memcmp(g->base, gguf_magic, 4) != 0)
        return status_detail_set(STATUS_FORMAT, _("not a GGUF file (bad magic at byte 0)"));
    r.pos = 4;
    st = rd_u32_field(&r, &g->version, _("version"));
    if (st != STATUS_OK)
        return st;
    if (g->version != 2 && g->version != 3)
        return status_detail_set(STATUS_UNSUPPORTED,
                                 _("GGUF version %" PRIu32 " at byte 4 (only 2 and 3 are"
                                   " supported)"),
                                 g->version);
    uint64_t nt, nkv;
    uint64_t nt_at = r.pos;
    st = rd_u64_field(&r, &nt, _("tensor count"));
    if (st != STATUS_OK)
        return st;
    uint64_t nkv_at = r.pos;
    st = rd_u64_field(&r, &nkv, _("key/value count"));
    if (st != STATUS_OK)
        return st;
    st = check_count(&r, nkv, GGUF_MIN_KV_BYTES, nkv_at, _("key/value count"));
    if (st != STATUS_OK)
        return st;
    g->n_kv = (int64_t)nkv;
    g->kv = calloc(nkv ? nkv : 1, sizeof *g->kv);
    g->kv_sorted = calloc(nkv ? nkv : 1, sizeof *g->kv_sorted);
    if (!g->kv || !g->kv_sorted)
        return STATUS_NOMEM;
    st = parse_kvs(g, &r);
    if (st != STATUS_OK)
        return st;
    /* The tensor count is checked against what is left after the key/values. */
    st = check_count(&r, nt, GGUF_MIN_TENSOR_BYTES, nt_at, _("tensor count"));
    if (st != STATUS_OK)
        return st;
    g->n_tensors = (int64_t)nt;
    g->t = calloc(nt ? nt : 1, sizeof *g->t);
    g->t_sorted = calloc(nt ? nt : 1, sizeof *g->t_sorted);
    if (!g->t || !g->t_sorted)
        return STATUS_NOMEM;
    return parse_tensors(g, &r);
}

void gguf_close(struct gguf *g)
{
    if (!g)
        return;
    if (g->kv) {
        for (int64_t i = 0; i < g->n_kv; i++) {
            free(g->kv[i].name);
            free(g->kv[i].cstr);
            free(g->kv[i].str_offs);
        }
    }
    if (g->t) {
        for (int64_t i = 0; i < g->n_tensors; i++)
            free(g->t[i].name);
    }
    free(g->kv);
    free(g->kv_sorted);
    free(g->t);
    free(g->t_sorted);
    if (g->mapped)
        munmap((void *)(uintptr_t)g->base, g->size);
    free(g);
}

enum status gguf_open_buffer(const void *data, size_t size, struct gguf **out)
{
    struct gguf *g = calloc(1, sizeof *g);
    if (!g)
        return STATUS_NOMEM;
    g->base = data;
    g->size = data ? size : 0;
    enum status st = parse(g);
    if (st != STATUS_OK)
        goto fail;
    *out = g;
    return STATUS_OK;
fail:
    gguf_close(g);
    return st;
}

enum status gguf_open(const char *path, struct gguf **out)
{
    struct gguf *g = NULL;
    enum status st;
    struct stat sb;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return status_detail_set(e == ENOENT ? STATUS_NOT_FOUND : STATUS_IO, "%s: %s", path,
                                 strerror(e));
    }
    if (fstat(fd, &sb) != 0) {
        st = status_detail_set(STATUS_IO, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(sb.st_mode)) {
        st = status_detail_set(STATUS_INVALID, _("%s: not a regular file"), path);
        goto fail;
    }
    if ((uint64_t)sb.st_size > SIZE_MAX) {
        st = status_detail_set(STATUS_OVERFLOW, _("%s: file too large"), path);
        goto fail;
    }
    g = calloc(1, sizeof *g);
    if (!g) {
        st = STATUS_NOMEM;
        goto fail;
    }
    g->size = (size_t)sb.st_size;
    if (g->size > 0) {
        void *p = mmap(NULL, g->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            st = status_detail_set(STATUS_IO, "%s: mmap: %s", path, strerror(errno));
            goto fail;
        }
        g->base = p;
        g->mapped = true;
    }
    close(fd);
    fd = -1;
    st = parse(g);
    if (st != STATUS_OK) {
        char detail[512];
        snprintf(detail, sizeof detail, "%s", status_detail());
        status_detail_set(st, "%s: %s", path, detail[0] ? detail : status_str(st));
        goto fail;
    }
    *out = g;
    return STATUS_OK;
fail:
    if (fd >= 0)
        close(fd);
    gguf_close(g);
    return st;
}

bool gguf_is_mapped(const struct gguf *g)
{
    return g->mapped;
}

uint32_t gguf_version(const struct gguf *g)
{
    return g->version;
}

size_t gguf_alignment(const struct gguf *g)
{
    return g->alignment;
}

uint64_t gguf_data_offset(const struct gguf *g)
{
    return g->data_off;
}

uint64_t gguf_file_size(const struct gguf *g)
{
    return g->size;
}

const void *gguf_base(const struct gguf *g)
{
    return g->base;
}

int64_t gguf_n_kv(const struct gguf *g)
{
    return g->n_kv;
}

int64_t gguf_find_key(const struct gguf *g, const char *key)
{
    int64_t lo = 0, hi = g->n_kv;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(g->kv[g->kv_sorted[mid]].name, key);
        if (c == 0)
            return g->kv_sorted[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

const char *gguf_key_name(const struct gguf *g, int64_t i)
{
    return g->kv[i].name;
}

enum gguf_vtype gguf_kv_type(const struct gguf *g, int64_t i)
{
    return g->kv[i].type;
}

/* Decode a validated value of type t at p (encoded); *end gets the byte after it. */
static void value_decode(enum gguf_vtype t, const unsigned char *p, struct gguf_value *v,
                         const unsigned char **end);

/* Encoded size of a validated array body (element type, length, elements) at p. */
static uint64_t array_bytes(const unsigned char *p)
{
    enum gguf_vtype et = (enum gguf_vtype)rd_u32(p);
    uint64_t len = rd_u64(p + 4);
    size_t sz = gguf_vtype_size(et);
    if (sz)
        return 12 + len * sz;
    const unsigned char *q = p + 12;
    for (uint64_t i = 0; i < len; i++) {
        if (et == GGUF_VTYPE_STRING)
            q += 8 + rd_u64(q);
        else
            q += array_bytes(q);
    }
    return (uint64_t)(q - p);
}

static void value_decode(enum gguf_vtype t, const unsigned char *p, struct gguf_value *v,
                         const unsigned char **end)
{
    memset(v, 0, sizeof *v);
    v->type = t;
    size_t sz = gguf_vtype_size(t);
    if (sz) {
        scalar_decode(t, p, v);
        *end = p + sz;
    } else if (t == GGUF_VTYPE_STRING) {
        v->v.str.len = rd_u64(p);
        v->v.str.ptr = (const char *)p + 8;
        *end = p + 8 + v->v.str.len;
    } else {
        uint64_t bytes = array_bytes(p);
        v->v.arr.type = (enum gguf_vtype)rd_u32(p);
        v->v.arr.len = rd_u64(p + 4);
        v->v.arr.data = p + 12;
        v->v.arr.bytes = bytes - 12;
        v->v.arr.encoded = true;
        *end = p + bytes;
    }
}

void gguf_kv_value(const struct gguf *g, int64_t i, struct gguf_value *out)
{
    const struct gguf_kv *kv = &g->kv[i];
    const unsigned char *p = g->base + kv->val_off;
    if (kv->type != GGUF_VTYPE_ARRAY) {
        const unsigned char *end;
        value_decode(kv->type, p, out, &end);
        return;
    }
    /* the size is known from parsing: no walk over (say) 32000 strings per lookup */
    memset(out, 0, sizeof *out);
    out->type = GGUF_VTYPE_ARRAY;
    out->v.arr.type = (enum gguf_vtype)rd_u32(p);
    out->v.arr.len = rd_u64(p + 4);
    out->v.arr.data = p + 12;
    out->v.arr.bytes = kv->val_bytes - 12;
    out->v.arr.encoded = true;
}

void gguf_iter_init(struct gguf_iter *it, const struct gguf_value *arr)
{
    it->arr = arr;
    it->index = 0;
    it->pos = arr->v.arr.data;
}

bool gguf_iter_next(struct gguf_iter *it, struct gguf_value *out)
{
    const struct gguf_value *a = it->arr;
    if (a->type != GGUF_VTYPE_ARRAY || it->index >= a->v.arr.len)
        return false;
    enum gguf_vtype et = a->v.arr.type;
    if (a->v.arr.encoded) {
        value_decode(et, it->pos, out, &it->pos); /* ARRAY elements are array bodies */
    } else {
        size_t sz = gguf_vtype_size(et);
        memset(out, 0, sizeof *out);
        if (sz) {
            scalar_decode(et, (const unsigned char *)a->v.arr.data + it->index * sz, out);
        } else if (et == GGUF_VTYPE_STRING) {
            const char *s = ((const char *const *)a->v.arr.data)[it->index];
            out->type = GGUF_VTYPE_STRING;
            out->v.str.ptr = s;
            out->v.str.len = strlen(s);
        } else {
            *out = ((const struct gguf_value *)a->v.arr.data)[it->index];
        }
    }
    it->index++;
    return true;
}

/* Look up key; STATUS_NOT_FOUND if absent. */
static enum status find_value(const struct gguf *g, const char *key, struct gguf_value *v)
{
    int64_t i = gguf_find_key(g, key);
    if (i < 0)
        return STATUS_NOT_FOUND;
    gguf_kv_value(g, i, v);
    return STATUS_OK;
}

static enum status wrong_type(const char *key, enum gguf_vtype have, const char *want)
{
    return status_detail_set(STATUS_FORMAT, _("key '%s' has type %s, expected %s"), key,
                             gguf_vtype_name(have), want);
}

static enum status get_typed(const struct gguf *g, const char *key, enum gguf_vtype want,
                             struct gguf_value *v)
{
    enum status st = find_value(g, key, v);
    if (st != STATUS_OK)
        return st;
    if (v->type != want)
        return wrong_type(key, v->type, gguf_vtype_name(want));
    return STATUS_OK;
}

#define GGUF_GETTER(fn, ctype, vt, field)                                                   \
    enum status fn(const struct gguf *g, const char *key, ctype *out)                       \
    {                                                                                        \
        struct gguf_value v;                                                                 \
        enum status st = get_typed(g, key, vt, &v);                                          \
        if (st == STATUS_OK)                                                                 \
            *out = v.v.field;                                                                \
        return st;                                                                           \
    }

GGUF_GETTER(gguf_get_u8, uint8_t, GGUF_VTYPE_UINT8, u8)
GGUF_GETTER(gguf_get_i8, int8_t, GGUF_VTYPE_INT8, i8)
GGUF_GETTER(gguf_get_u16, uint16_t, GGUF_VTYPE_UINT16, u16)
GGUF_GETTER(gguf_get_i16, int16_t, GGUF_VTYPE_INT16, i16)
GGUF_GETTER(gguf_get_u32, uint32_t, GGUF_VTYPE_UINT32, u32)
GGUF_GETTER(gguf_get_i32, int32_t, GGUF_VTYPE_INT32, i32)
GGUF_GETTER(gguf_get_u64, uint64_t, GGUF_VTYPE_UINT64, u64)
GGUF_GETTER(gguf_get_i64, int64_t, GGUF_VTYPE_INT64, i64)
GGUF_GETTER(gguf_get_f32, float, GGUF_VTYPE_FLOAT32, f32)
GGUF_GETTER(gguf_get_f64, double, GGUF_VTYPE_FLOAT64, f64)
GGUF_GETTER(gguf_get_bool, bool, GGUF_VTYPE_BOOL, b)

enum status gguf_get_int(const struct gguf *g, const char *key, int64_t *out)
{
    struct gguf_value v;
    enum status st = find_value(g, key, &v);
    if (st != STATUS_OK)
        return st;
    if (!vtype_is_int(v.type))
        return wrong_type(key, v.type, _("an integer"));
    int64_t x;
    if (!value_to_int(&v, &x))
        return status_detail_set(STATUS_OVERFLOW, _("key '%s': value %" PRIu64 " is too large"),
                                 key, v.v.u64);
    *out = x;
    return STATUS_OK;
}

enum status gguf_get_float(const struct gguf *g, const char *key, double *out)
{
    struct gguf_value v;
    enum status st = find_value(g, key, &v);
    if (st != STATUS_OK)
        return st;
    double x;
    if (!value_to_float(&v, &x))
        return wrong_type(key, v.type, _("a number"));
    *out = x;
    return STATUS_OK;
}

enum status gguf_get_str(const struct gguf *g, const char *key, const char **out, size_t *len)
{
    struct gguf_value v;
    enum status st = get_typed(g, key, GGUF_VTYPE_STRING, &v);
    if (st != STATUS_OK)
        return st;
    *out = v.v.str.ptr;
    *len = (size_t)v.v.str.len;
    return STATUS_OK;
}

enum status gguf_get_cstr(const struct gguf *g, const char *key, const char **out)
{
    struct gguf_value v;
    enum status st = get_typed(g, key, GGUF_VTYPE_STRING, &v);
    if (st != STATUS_OK)
        return st;
    const char *c = g->kv[gguf_find_key(g, key)].cstr;
    if (!c)
        return status_detail_set(STATUS_FORMAT, _("key '%s': string contains a NUL byte"), key);
    *out = c;
    return STATUS_OK;
}

static enum status get_array(const struct gguf *g, const char *key, struct gguf_value *v)
{
    enum status st = find_value(g, key, v);
    if (st != STATUS_OK)
        return st;
    if (v->type != GGUF_VTYPE_ARRAY)
        return wrong_type(key, v->type, "array");
    return STATUS_OK;
}

enum status gguf_arr_type(const struct gguf *g, const char *key, enum gguf_vtype *out)
{
    struct gguf_value v;
    enum status st = get_array(g, key, &v);
    if (st == STATUS_OK)
        *out = v.v.arr.type;
    return st;
}

enum status gguf_arr_len(const struct gguf *g, const char *key, uint64_t *out)
{
    struct gguf_value v;
    enum status st = get_array(g, key, &v);
    if (st == STATUS_OK)
        *out = v.v.arr.len;
    return st;
}

enum status gguf_arr_data(const struct gguf *g, const char *key, const void **out)
{
    struct gguf_value v;
    enum status st = get_array(g, key, &v);
    if (st != STATUS_OK)
        return st;
    if (!gguf_vtype_size(v.v.arr.type))
        return status_detail_set(STATUS_FORMAT, _("key '%s': array of %s is not numeric"), key,
                                 gguf_vtype_name(v.v.arr.type));
    *out = v.v.arr.data;
    return STATUS_OK;
}

static enum status arr_index(const char *key, uint64_t i, uint64_t len)
{
    if (i >= len)
        return status_detail_set(STATUS_INVALID,
                                 _("key '%s': index %" PRIu64 " past the array's %" PRIu64
                                   " elements"),
                                 key, i, len);
    return STATUS_OK;
}

enum status gguf_arr_str(const struct gguf *g, const char *key, uint64_t i, const char **out,
                         size_t *len)
{
    struct gguf_value v;
    enum status st = get_array(g, key, &v);
    if (st != STATUS_OK)
        return st;
    if (v.v.arr.type != GGUF_VTYPE_STRING)
        return status_detail_set(STATUS_FORMAT, _("key '%s': array of %s, expected strings"),
                                 key, gguf_vtype_name(v.v.arr.type));
    st = arr_index(key, i, v.v.arr.len);
    if (st != STATUS_OK)
        return st;
    const struct gguf_kv *kv = &g->kv[gguf_find_key(g, key)];
    const unsigned char *p = g->base + kv->str_offs[i];
    *len = (size_t)rd_u64(p);
    *out = (const char *)p + 8;
    return STATUS_OK;
}

/* Element i of a numeric array as a decoded scalar. */
static enum status arr_elem(const struct gguf *g, const char *key, uint64_t i,
                            struct gguf_value *e)
{
    struct gguf_value v;
    enum status st = get_array(g, key, &v);
    if (st != STATUS_OK)
        return st;
    size_t sz = gguf_vtype_size(v.v.arr.type);
    if (!sz)
        return status_detail_set(STATUS_FORMAT, _("key '%s': array of %s is not numeric"), key,
                                 gguf_vtype_name(v.v.arr.type));
    st = arr_index(key, i, v.v.arr.len);
    if (st != STATUS_OK)
        return st;
    memset(e, 0, sizeof *e);
    scalar_decode(v.v.arr.type, (const unsigned char *)v.v.arr.data + i * sz, e);
    return STATUS_OK;
}

enum status gguf_arr_int(const struct gguf *g, const char *key, uint64_t i, int64_t *out)
{
    struct gguf_value e;
    enum status st = arr_elem(g, key, i, &e);
    if (st != STATUS_OK)
        return st;
    if (!vtype_is_int(e.type))
        return status_detail_set(STATUS_FORMAT, _("key '%s': array of %s, expected integers"),
                                 key, gguf_vtype_name(e.type));
    if (!value_to_int(&e, out))
        return status_detail_set(STATUS_OVERFLOW, _("key '%s': value %" PRIu64 " is too large"),
                                 key, e.v.u64);
    return STATUS_OK;
}

enum status gguf_arr_float(const struct gguf *g, const char *key, uint64_t i, double *out)
{
    struct gguf_value e;
    enum status st = arr_elem(g, key, i, &e);
    if (st != STATUS_OK)
        return st;
    if (!value_to_float(&e, out))
        return status_detail_set(STATUS_FORMAT, _("key '%s': array of %s, expected numbers"),
                                 key, gguf_vtype_name(e.type));
    return STATUS_OK;
}

int64_t gguf_n_tensors(const struct gguf *g)
{
    return g->n_tensors;
}

int64_t gguf_find_tensor(const struct gguf *g, const char *name)
{
    int64_t lo = 0, hi = g->n_tensors;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(g->t[g->t_sorted[mid]].name, name);
        if (c == 0)
            return g->t_sorted[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

const char *gguf_tensor_name(const struct gguf *g, int64_t i)
{
    return g->t[i].name;
}

enum dtype gguf_tensor_type(const struct gguf *g, int64_t i)
{
    return (enum dtype)g->t[i].type;
}

uint32_t gguf_tensor_n_dims(const struct gguf *g, int64_t i)
{
    return g->t[i].n_dims;
}

uint64_t gguf_tensor_dim(const struct gguf *g, int64_t i, uint32_t d)
{
    return d < GGUF_MAX_DIMS ? g->t[i].dims[d] : 1;
}

uint64_t gguf_tensor_n_elements(const struct gguf *g, int64_t i)
{
    return g->t[i].n_elements;
}

size_t gguf_tensor_size(const struct gguf *g, int64_t i)
{
    return g->t[i].size;
}

const void *gguf_tensor_data(const struct gguf *g, int64_t i)
{
    return g->base + g->data_off + g->t[i].offset;
}

uint64_t gguf_tensor_offset(const struct gguf *g, int64_t i)
{
    return g->data_off + g->t[i].offset;
}

/* ---- Writer --------------------------------------------------------------------------- */

/* Growable byte buffer. */
struct buf {
    unsigned char *p;
    size_t len, cap;
};

static enum status buf_put(struct buf *b, const void *data, size_t n)
{
    if (n > SIZE_MAX - b->len)
        return STATUS_OVERFLOW;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) {
            if (cap > SIZE_MAX / 2)
                return STATUS_OVERFLOW;
            cap *= 2;
        }
        unsigned char *p = realloc(b->p, cap);
        if (!p)
            return STATUS_NOMEM;
        b->p = p;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    return STATUS_OK;
}

static enum status buf_u32(struct buf *b, uint32_t v)
{
    return buf_put(b, &v, 4);
}

static enum status buf_u64(struct buf *b, uint64_t v)
{
    return buf_put(b, &v, 8);
}

static enum status buf_str(struct buf *b, const char *s, size_t len)
{
    enum status st = buf_u64(b, len);
    return st == STATUS_OK ? buf_put(b, s, len) : st;
}

struct wkv {
    char *key;
    struct buf val; /* encoded type + value */
};

struct wtensor {
    char *name;
    uint32_t type;
    uint32_t n_dims;
    uint64_t dims[GGUF_MAX_DIMS];
    const void *data;
    size_t size;
};

struct gguf_writer {
    struct wkv *kv;
    size_t n_kv, cap_kv;
    struct wtensor *t;
    size_t n_t, cap_t;
    uint32_t alignment;
};

enum status gguf_writer_new(struct gguf_writer **out)
{
    struct gguf_writer *w = calloc(1, sizeof *w);
    if (!w)
        return STATUS_NOMEM;
    w->alignment = GGUF_DEFAULT_ALIGNMENT;
    *out = w;
    return STATUS_OK;
}

void gguf_writer_free(struct gguf_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].val.p);
    }
    for (size_t i = 0; i < w->n_t; i++)
        free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w);
}

/* Encode value v (type field first when with_type) into b. */
static enum status encode_value(struct buf *b, const struct gguf_value *v, bool with_type,
                                int depth)
{
    enum status st = STATUS_OK;
    if ((unsigned)v->type >= GGUF_VTYPE_COUNT_)
        return status_detail_set(STATUS_INVALID, _("unknown value type %u"), (unsigned)v->type);
    if (with_type && (st = buf_u32(b, (uint32_t)v->type)) != STATUS_OK)
        return st;
    size_t sz = gguf_vtype_size(v->type);
    if (sz) {
        unsigned char tmp[8];
        if (v->type == GGUF_VTYPE_BOOL)
            tmp[0] = v->v.b ? 1 : 0;
        else
            memcpy(tmp, &v->v, sz); /* all scalar members start at the union's address */
        return buf_put(b, tmp, sz);
    }
    if (v->type == GGUF_VTYPE_STRING)
        return buf_str(b, v->v.str.len ? v->v.str.ptr : "", (size_t)v->v.str.len);
    /* ARRAY */
    if (depth >= GGUF_MAX_DEPTH)
        return status_detail_set(STATUS_INVALID, _("arrays nested deeper than %d"),
                                 GGUF_MAX_DEPTH);
    enum gguf_vtype et = v->v.arr.type;
    if ((unsigned)et >= GGUF_VTYPE_COUNT_)
        return status_detail_set(STATUS_INVALID, _("unknown value type %u"), (unsigned)et);
    if ((st = buf_u32(b, (uint32_t)et)) != STATUS_OK || (st = buf_u64(b, v->v.arr.len)))
        return st;
    size_t esz = gguf_vtype_size(et);
    if (v->v.arr.encoded)
        return buf_put(b, v->v.arr.data, (size_t)v->v.arr.bytes);
    if (esz) {
        if (v->v.arr.len > SIZE_MAX / esz)
            return STATUS_OVERFLOW;
        if (et != GGUF_VTYPE_BOOL)
            return buf_put(b, v->v.arr.data, (size_t)v->v.arr.len * esz);
        const bool *bs = v->v.arr.data;
        for (uint64_t i = 0; i < v->v.arr.len && st == STATUS_OK; i++) {
            uint8_t x = bs[i] ? 1 : 0;
            st = buf_put(b, &x, 1);
        }
        return st;
    }
    struct gguf_iter it;
    struct gguf_value e;
    gguf_iter_init(&it, v);
    while (st == STATUS_OK && gguf_iter_next(&it, &e)) {
        if (e.type != et)
            return status_detail_set(STATUS_INVALID,
                                     _("array element of type %s in an array of %s"),
                                     gguf_vtype_name(e.type), gguf_vtype_name(et));
        st = encode_value(b, &e, false, depth + 1);
    }
    return st;
}

enum status gguf_writer_set_value(struct gguf_writer *w, const char *key,
                                  const struct gguf_value *v)
{
    if (!key || !key[0])
        return status_detail_set(STATUS_INVALID, _("empty key name"));
    bool is_align = strcmp(key, "general.alignment") == 0;
    if (is_align && (v->type != GGUF_VTYPE_UINT32 || v->v.u32 == 0 ||
                     (v->v.u32 & (v->v.u32 - 1)) != 0))
        return status_detail_set(STATUS_INVALID,
                                 _("general.alignment must be a uint32 power of two"));
    struct buf b = {0};
    enum status st = encode_value(&b, v, true, 0);
    if (st != STATUS_OK) {
        free(b.p);
        return st;
    }
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, key) == 0) {
            free(w->kv[i].val.p);
            w->kv[i].val = b;
            if (is_align)
                w->alignment = v->v.u32;
            return STATUS_OK;
        }
    }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? 2 * w->cap_kv : 16;
        struct wkv *p = realloc(w->kv, cap * sizeof *p);
        if (!p)
            goto nomem;
        w->kv = p;
        w->cap_kv = cap;
    }
    char *k = strdup(key);
    if (!k)
        goto nomem;
    w->kv[w->n_kv].key = k;
    w->kv[w->n_kv].val = b;
    w->n_kv++;
    if (is_align)
        w->alignment = v->v.u32;
    return STATUS_OK;
nomem:
    free(b.p);
    return STATUS_NOMEM;
}

void gguf_writer_remove(struct gguf_writer *w, const char *key)
{
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, key) == 0) {
            free(w->kv[i].key);
            free(w->kv[i].val.p);
            memmove(&w->kv[i], &w->kv[i + 1], (w->n_kv - i - 1) * sizeof *w->kv);
            w->n_kv--;
            if (strcmp(key, "general.alignment") == 0)
                w->alignment = GGUF_DEFAULT_ALIGNMENT;
            return;
        }
    }
}

#define GGUF_SETTER(fn, ctype, vt, field)                                                   \
    enum status fn(struct gguf_writer *w, const char *key, ctype x)                         \
    {                                                                                        \
        struct gguf_value v;                                                                 \
        memset(&v, 0, sizeof v);                                                             \
        v.type = vt;                                                                         \
        v.v.field = x;                                                                       \
        return gguf_writer_set_value(w, key, &v);                                            \
    }

GGUF_SETTER(gguf_writer_set_u8, uint8_t, GGUF_VTYPE_UINT8, u8)
GGUF_SETTER(gguf_writer_set_i8, int8_t, GGUF_VTYPE_INT8, i8)
GGUF_SETTER(gguf_writer_set_u16, uint16_t, GGUF_VTYPE_UINT16, u16)
GGUF_SETTER(gguf_writer_set_i16, int16_t, GGUF_VTYPE_INT16, i16)
GGUF_SETTER(gguf_writer_set_u32, uint32_t, GGUF_VTYPE_UINT32, u32)
GGUF_SETTER(gguf_writer_set_i32, int32_t, GGUF_VTYPE_INT32, i32)
GGUF_SETTER(gguf_writer_set_u64, uint64_t, GGUF_VTYPE_UINT64, u64)
GGUF_SETTER(gguf_writer_set_i64, int64_t, GGUF_VTYPE_INT64, i64)
GGUF_SETTER(gguf_writer_set_f32, float, GGUF_VTYPE_FLOAT32, f32)
GGUF_SETTER(gguf_writer_set_f64, double, GGUF_VTYPE_FLOAT64, f64)
GGUF_SETTER(gguf_writer_set_bool, bool, GGUF_VTYPE_BOOL, b)

enum status gguf_writer_set_strn(struct gguf_writer *w, const char *key, const char *s,
                                 size_t len)
{
    struct gguf_value v;
    memset(&v, 0, sizeof v);
    v.type = GGUF_VTYPE_STRING;
    v.v.str.ptr = s;
    v.v.str.len = len;
    return gguf_writer_set_value(w, key, &v);
}

enum status gguf_writer_set_str(struct gguf_writer *w, const char *key, const char *s)
{
    return gguf_writer_set_strn(w, key, s, strlen(s));
}

enum status gguf_writer_set_arr(struct gguf_writer *w, const char *key, enum gguf_vtype type,
                                const void *data, size_t n)
{
    if (!gguf_vtype_size(type))
        return status_detail_set(STATUS_INVALID, _("array of %s is not numeric"),
                                 gguf_vtype_name(type));
    struct gguf_value v;
    memset(&v, 0, sizeof v);
    v.type = GGUF_VTYPE_ARRAY;
    v.v.arr.type = type;
    v.v.arr.len = n;
    v.v.arr.data = data;
    return gguf_writer_set_value(w, key, &v);
}

enum status gguf_writer_set_arr_str(struct gguf_writer *w, const char *key,
                                    const char *const *strs, size_t n)
{
    struct gguf_value v;
    memset(&v, 0, sizeof v);
    v.type = GGUF_VTYPE_ARRAY;
    v.v.arr.type = GGUF_VTYPE_STRING;
    v.v.arr.len = n;
    v.v.arr.data = strs;
    return gguf_writer_set_value(w, key, &v);
}

enum status gguf_writer_copy_kv(struct gguf_writer *w, const struct gguf *g,
                                const char *skip_prefix)
{
    size_t plen = skip_prefix ? strlen(skip_prefix) : 0;
    for (int64_t i = 0; i < g->n_kv; i++) {
        if (plen && strncmp(g->kv[i].name, skip_prefix, plen) == 0)
            continue;
        struct gguf_value v;
        gguf_kv_value(g, i, &v);
        enum status st = gguf_writer_set_value(w, g->kv[i].name, &v);
        if (st != STATUS_OK)
            return st;
    }
    return STATUS_OK;
}

enum status gguf_writer_add_tensor(struct gguf_writer *w, const char *name, enum dtype type,
                                   uint32_t n_dims, const uint64_t *dims, const void *data,
                                   size_t size)
{
    if (!name || !name[0])
        return status_detail_set(STATUS_INVALID, _("empty tensor name"));
    if (!dtype_name((uint32_t)type))
        return status_detail_set(STATUS_INVALID, _("tensor '%s': unknown type %u"), name,
                                 (unsigned)type);
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS)
        return status_detail_set(STATUS_INVALID, _("tensor '%s': %" PRIu32 " dimensions"),
                                 name, n_dims);
    uint64_t rows = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (dims[d] == 0 || dims[d] > (uint64_t)INT64_MAX)
            return status_detail_set(STATUS_INVALID, _("tensor '%s': dimension %" PRIu32
                                                       " is %" PRIu64),
                                     name, d, dims[d]);
        if (d == 0)
            continue;
        if (rows > (uint64_t)INT64_MAX / dims[d])
            return status_detail_set(STATUS_OVERFLOW, _("tensor '%s': too many elements"),
                                     name);
        rows *= dims[d];
    }
    size_t row;
    enum status st = dtype_row_bytes((uint32_t)type, dims[0], &row);
    if (st != STATUS_OK || rows > SIZE_MAX / row)
        return status_detail_set(st == STATUS_INVALID ? STATUS_INVALID : STATUS_OVERFLOW,
                                 _("tensor '%s': %" PRIu64 " is not a valid row length for %s"),
                                 name, dims[0], dtype_name((uint32_t)type));
    if (row * rows != size)
        return status_detail_set(STATUS_INVALID,
                                 _("tensor '%s': %zu bytes of data given, %zu expected"), name,
                                 size, row * (size_t)rows);
    for (size_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return status_detail_set(STATUS_EXISTS, _("tensor '%s' added twice"), name);
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? 2 * w->cap_t : 16;
        struct wtensor *p = realloc(w->t, cap * sizeof *p);
        if (!p)
            return STATUS_NOMEM;
        w->t = p;
        w->cap_t = cap;
    }
    struct wtensor *t = &w->t[w->n_t];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    if (!t->name)
        return STATUS_NOMEM;
    t->type = (uint32_t)type;
    t->n_dims = n_dims;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++)
        t->dims[d] = d < n_dims ? dims[d] : 1;
    t->data = data;
    t->size = size;
    w->n_t++;
    return STATUS_OK;
}

static uint64_t pad_to(uint64_t n, uint64_t a)
{
    return (a - n % a) % a;
}

/* Header, key/values, tensor infos and padding up to the data section; *data_size gets
 * the size of the data section (each tensor padded to the alignment). */
static enum status build_header(const struct gguf_writer *w, struct buf *b, uint64_t *data_size)
{
    static const unsigned char zeros[256];
    enum status st;
    if ((st = buf_put(b, gguf_magic, 4)) || (st = buf_u32(b, 3)) ||
        (st = buf_u64(b, w->n_t)) || (st = buf_u64(b, w->n_kv)))
        return st;
    for (size_t i = 0; i < w->n_kv; i++) {
        if ((st = buf_str(b, w->kv[i].key, strlen(w->kv[i].key))) ||
            (st = buf_put(b, w->kv[i].val.p, w->kv[i].val.len)))
            return st;
    }
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        const struct wtensor *t = &w->t[i];
        if ((st = buf_str(b, t->name, strlen(t->name))) || (st = buf_u32(b, t->n_dims)))
            return st;
        for (uint32_t d = 0; d < t->n_dims; d++)
            if ((st = buf_u64(b, t->dims[d])))
                return st;
        if ((st = buf_u32(b, t->type)) || (st = buf_u64(b, off)))
            return st;
        off += t->size + pad_to(t->size, w->alignment);
    }
    for (uint64_t p = pad_to(b->len, w->alignment); p > 0;) {
        size_t n = p < sizeof zeros ? (size_t)p : sizeof zeros;
        if ((st = buf_put(b, zeros, n)))
            return st;
        p -= n;
    }
    *data_size = off;
    return STATUS_OK;
}

enum status gguf_writer_to_buffer(struct gguf_writer *w, void **out, size_t *size)
{
    struct buf b = {0};
    uint64_t data_size;
    enum status st = build_header(w, &b, &data_size);
    if (st != STATUS_OK)
        goto fail;
    if (data_size > SIZE_MAX - b.len) {
        st = STATUS_OVERFLOW;
        goto fail;
    }
    size_t total = b.len + (size_t)data_size;
    unsigned char *p = realloc(b.p, total ? total : 1);
    if (!p) {
        st = STATUS_NOMEM;
        goto fail;
    }
    b.p = p;
    size_t pos = b.len;
    for (size_t i = 0; i < w->n_t; i++) {
        const struct wtensor *t = &w->t[i];
        memcpy(p + pos, t->data, t->size);
        pos += t->size;
        size_t pad = (size_t)pad_to(t->size, w->alignment);
        memset(p + pos, 0, pad);
        pos += pad;
    }
    *out = p;
    *size = total;
    return STATUS_OK;
fail:
    free(b.p);
    return st;
}

/* Make the rename durable: fsync the directory holding path[0..len) (best effort; tmp is
 * a scratch copy of the path that may be modified). */
static void sync_parent_dir(char *tmp, size_t len)
{
    while (len > 0 && tmp[len - 1] != '/')
        len--;
    if (len == 0) {
        tmp[0] = '.';
        tmp[1] = '\0';
    } else {
        tmp[len] = '\0';
    }
    int fd = open(tmp, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

static bool write_all(FILE *f, const void *p, size_t n)
{
    return fwrite(p, 1, n, f) == n;
}

/* Create a new file "<path>.XXXXXX" beside path (so the rename stays on one file system)
 * with a name no other writer uses: O_EXCL makes the creation fail rather than open a
 * file, a stale one or a link, that is already there.  Mode 0666 less the umask, as
 * fopen() would give the final file (mkstemp() would make it 0600, and setting it back
 * needs the umask, which cannot be read without changing it for every thread).
 * *tmp_out is owned (free()); the descriptor is returned in *fd_out. */
static enum status create_temp(const char *path, char **tmp_out, int *fd_out)
{
    static const char digits[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    static unsigned long counter;
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 8);
    if (!tmp)
        return STATUS_NOMEM;
    memcpy(tmp, path, plen);
    tmp[plen] = '.';
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^
                 ((uint64_t)getpid() << 20) ^ (uint64_t)(uintptr_t)tmp;
    x += __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED) * 0x9E3779B97F4A7C15ull;
    for (int attempt = 0; attempt < 100; attempt++) {
        x ^= x >> 31; /* splitmix64 step: a fresh 64-bit value for each name */
        x *= 0xBF58476D1CE4E5B9ull;
        x ^= x >> 27;
        uint64_t y = x;
        for (size_t i = 0; i < 6; i++) {
            tmp[plen + 1 + i] = digits[y % (sizeof digits - 1)];
            y /= sizeof digits - 1;
        }
        tmp[plen + 7] = '\0';
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd >= 0) {
            *tmp_out = tmp;
            *fd_out = fd;
            return STATUS_OK;
        }
        if (errno != EEXIST)
            break;
        x += 0x9E3779B97F4A7C15ull;
    }
    enum status st = status_detail_set(STATUS_IO, "%s: %s", tmp, strerror(errno));
    free(tmp);
    return st;
}

enum status gguf_writer_write(struct gguf_writer *w, const char *path)
{
    static const unsigned char zeros[256];
    struct buf b = {0};
    uint64_t data_size;
    char *tmp = NULL;
    FILE *f = NULL;
    int fd = -1;
    enum status st = build_header(w, &b, &data_size);
    if (st != STATUS_OK)
        goto fail;
    size_t plen = strlen(path);
    if ((st = create_temp(path, &tmp, &fd)) != STATUS_OK)
        goto fail;
    f = fdopen(fd, "wb");
    if (!f) {
        st = status_detail_set(STATUS_IO, "%s: %s", tmp, strerror(errno));
        goto fail_unlink;
    }
    fd = -1; /* f owns it now */
    bool ok = write_all(f, b.p, b.len);
    for (size_t i = 0; ok && i < w->n_t; i++) {
        const struct wtensor *t = &w->t[i];
        ok = write_all(f, t->data, t->size);
        for (size_t pad = (size_t)pad_to(t->size, w->alignment); ok && pad > 0;) {
            size_t n = pad < sizeof zeros ? pad : sizeof zeros;
            ok = write_all(f, zeros, n);
            pad -= n;
        }
    }
    if (ok)
        ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    int e = errno;
    if (fclose(f) != 0 && ok) {
        ok = false;
        e = errno;
    }
    f = NULL;
    if (!ok) {
        st = status_detail_set(STATUS_IO, "%s: %s", tmp, strerror(e));
        goto fail_unlink;
    }
    if (rename(tmp, path) != 0) {
        st = status_detail_set(STATUS_IO, "%s: %s", path, strerror(errno));
        goto fail_unlink;
    }
    sync_parent_dir(tmp, plen);
    free(tmp);
    free(b.p);
    return STATUS_OK;
fail_unlink:
    if (f)
        fclose(f);
    f = NULL;
    if (fd >= 0)
        close(fd);
    unlink(tmp);
fail:
    free(tmp);
    free(b.p);
    return st;
}
