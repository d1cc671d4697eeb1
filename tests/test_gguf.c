/* test_gguf.c -- GGUF reader and writer: round trips, hostile inputs, golden files. */
#include "config.h"

#include "engine/gguf.h"
#include "test_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* ---- A byte builder for hand-assembled images ---- */

struct tb {
    unsigned char p[8192];
    size_t len;
};

static void tb_put(struct tb *b, const void *d, size_t n)
{
    assert_true(b->len + n <= sizeof b->p);
    memcpy(b->p + b->len, d, n);
    b->len += n;
}

static void tb_u32(struct tb *b, uint32_t v)
{
    tb_put(b, &v, 4);
}

static void tb_u64(struct tb *b, uint64_t v)
{
    tb_put(b, &v, 8);
}

static void tb_str(struct tb *b, const char *s)
{
    tb_u64(b, strlen(s));
    tb_put(b, s, strlen(s));
}

static void tb_hdr(struct tb *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
    b->len = 0;
    tb_put(b, "GGUF", 4);
    tb_u32(b, version);
    tb_u64(b, n_tensors);
    tb_u64(b, n_kv);
}

static void tb_kv_u32(struct tb *b, const char *key, uint32_t v)
{
    tb_str(b, key);
    tb_u32(b, GGUF_VTYPE_UINT32);
    tb_u32(b, v);
}

static void tb_tensor(struct tb *b, const char *name, uint32_t n_dims, const uint64_t *dims,
                      uint32_t type, uint64_t offset)
{
    tb_str(b, name);
    tb_u32(b, n_dims);
    for (uint32_t d = 0; d < n_dims; d++)
        tb_u64(b, dims[d]);
    tb_u32(b, type);
    tb_u64(b, offset);
}

static void tb_pad(struct tb *b, size_t a)
{
    while (b->len % a)
        b->p[b->len++] = 0;
}

static void tb_zeros(struct tb *b, size_t n)
{
    assert_true(b->len + n <= sizeof b->p);
    memset(b->p + b->len, 0, n);
    b->len += n;
}

/* Open b and expect status want with a detail containing text (if not NULL). */
static void expect_open(const struct tb *b, enum status want, const char *text)
{
    struct gguf *g = NULL;
    status_detail_clear();
    enum status st = gguf_open_buffer(b->p, b->len, &g);
    if (st != want)
        fail_msg("got %s (%s), expected %s", status_name(st), status_detail(), status_name(want));
    if (want == STATUS_OK) {
        assert_non_null(g);
        gguf_close(g);
        return;
    }
    assert_null(g);
    if (text && !strstr(status_detail(), text))
        fail_msg("detail '%s' lacks '%s'", status_detail(), text);
}

/* A valid image: one u32 key, two F32 tensors [4] and [8]. */
static void tb_valid(struct tb *b)
{
    const uint64_t d4[] = {4}, d8[] = {8};
    tb_hdr(b, 3, 2, 1);
    tb_kv_u32(b, "test.answer", 42);
    tb_tensor(b, "a", 1, d4, DTYPE_F32, 0);
    tb_tensor(b, "b", 1, d8, DTYPE_F32, 32);
    tb_pad(b, 32);
    for (int i = 0; i < 4; i++) {
        float f = (float)i;
        tb_put(b, &f, 4);
    }
    tb_zeros(b, 16);
    for (int i = 0; i < 8; i++) {
        float f = (float)(10 + i);
        tb_put(b, &f, 4);
    }
}

/* ---- Hand-assembled images ---- */

static void test_gguf_open_accepts_hand_assembled_file(void **state)
{
    (void)state;
    struct tb b;
    tb_valid(&b);
    struct gguf *g = NULL;
    assert_int_equal(gguf_open_buffer(b.p, b.len, &g), STATUS_OK);
    assert_int_equal(gguf_version(g), 3);
    assert_int_equal(gguf_alignment(g), 32);
    assert_int_equal(gguf_n_kv(g), 1);
    assert_string_equal(gguf_key_name(g, 0), "test.answer");
    uint32_t v = 0;
    assert_int_equal(gguf_get_u32(g, "test.answer", &v), STATUS_OK);
    assert_int_equal(v, 42);
    assert_int_equal(gguf_n_tensors(g), 2);
    int64_t bi = gguf_find_tensor(g, "b");
    assert_int_equal(bi, 1);
    assert_int_equal(gguf_find_tensor(g, "c"), -1);
    assert_int_equal(gguf_tensor_n_elements(g, bi), 8);
    assert_int_equal(gguf_tensor_size(g, bi), 32);
    assert_int_equal(gguf_tensor_offset(g, bi) % 32, 0);
    float f;
    memcpy(&f, (const unsigned char *)gguf_tensor_data(g, bi) + 4, 4);
    assert_true(f == 11.0f);
    assert_ptr_equal(gguf_tensor_data(g, bi),
                     (const unsigned char *)gguf_base(g) + gguf_tensor_offset(g, bi));
    gguf_close(g);
}

static void test_gguf_open_accepts_version_2(void **state)
{
    (void)state;
    struct tb b;
    tb_valid(&b);
    b.p[4] = 2;
    struct gguf *g = NULL;
    assert_int_equal(gguf_open_buffer(b.p, b.len, &g), STATUS_OK);
    assert_int_equal(gguf_version(g), 2);
    gguf_close(g);
}

static void test_gguf_open_rejects_bad_magic(void **state)
{
    (void)state;
    struct tb b;
    tb_valid(&b);
    b.p[0] = 'X';
    expect_open(&b, STATUS_FORMAT, "magic");
}

static void test_gguf_open_rejects_version_1_and_4(void **state)
{
    (void)state;
    struct tb b;
    tb_valid(&b);
    b.p[4] = 1;
    expect_open(&b, STATUS_UNSUPPORTED, "version 1");
    b.p[4] = 4;
    expect_open(&b, STATUS_UNSUPPORTED, "version 4");
}

static void test_gguf_open_rejects_every_truncation(void **state)
{
    (void)state;
    struct tb b;
    tb_valid(&b);
    for (size_t n = 0; n < b.len; n++) {
        struct gguf *g = NULL;
        enum status st = gguf_open_buffer(b.p, n, &g);
        if (st != STATUS_TRUNCATED && st != STATUS_FORMAT)
            fail_msg("prefix of %zu bytes: %s (%s)", n, status_name(st), status_detail());
        assert_null(g);
    }
    /* a prefix of a writer-made file too, up to the end of its last tensor's data */
    struct gguf_writer *w = NULL;
    assert_int_equal(gguf_writer_new(&w), STATUS_OK);
    const char *toks[] = {"<unk>", "a", "bc"};
    int32_t arr[] = {1, -2, 3};
    float data[6] = {1, 2, 3, 4, 5, 6};
    uint64_t dims[] = {3, 2};
    assert_int_equal(gguf_writer_set_str(w, "general.name", "t"), STATUS_OK);
    assert_int_equal(gguf_writer_set_arr_str(w, "tok", toks, 3), STATUS_OK);
    assert_int_equal(gguf_writer_set_arr(w, "ints", GGUF_VTYPE_INT32, arr, 3), STATUS_OK);
    assert_int_equal(gguf_writer_add_tensor(w, "w", DTYPE_F32, 2, dims, data, sizeof data),
                     STATUS_OK);
    void *buf;
    size_t size;
    assert_int_equal(gguf_writer_to_buffer(w, &buf, &size), STATUS_OK);
    struct gguf *g = NULL;
    assert_int_equal(gguf_open_buffer(buf, size, &g), STATUS_OK);
    size_t end = (size_t)(gguf_tensor_offset(g, 0) + gguf_tensor_size(g, 0));
    gguf_close(g);
    for (size_t n = 0; n < end; n++) {
        /* a fresh copy of exactly n bytes, so ASan sees any read past it */
        unsigned char *cut = malloc(n ? n : 1);
        memcpy(cut, buf, n);
        g = NULL;
        enum status st = gguf_open_buffer(cut, n, &g);
        if (st != STATUS_TRUNCATED && st != STATUS_FORMAT)
            fail_msg("prefix of %zu bytes: %s (%s)", n, status_name(st), status_detail());
        assert_null(g);
        free(cut);
    }
    free(buf);
    gguf_writer_free(w);
}

static void test_gguf_open_rejects_oversized_counts(void **state)
{
    (void)state;
    struct tb b;
    tb_hdr(&b, 3, 0, (uint64_t)1 << 62);
    tb_kv_u32(&b, "x", 1);
    expect_open(&b, STATUS_OVERFLOW, "key/value count");
    tb_hdr(&b, 3, (uint64_t)1 << 62, 0);
    tb_zeros(&b, 64);
    expect_open(&b, STATUS_OVERFLOW, "tensor count");
    /* a plausible count the file cannot hold */
    tb_hdr(&b, 3, 0, 1000);
    tb_kv_u32(&b, "x", 1);
    expect_open(&b, STATUS_TRUNCATED, "key/value count");
}

static void test_gguf_open_rejects_huge_string_length(void **state)
{
    (void)state;
    struct tb b;
    tb_hdr(&b, 3, 0, 1);
    tb_u64(&b, UINT64_MAX - 3); /* key length */
    tb_zeros(&b, 16);
    expect_open(&b, STATUS_OVERFLOW, "key 0 name at byte 24");
    tb_hdr(&b, 3, 0, 1);
    tb_str(&b, "k");
    tb_u32(&b, GGUF_VTYPE_STRING);
    tb_u64(&b, 1000); /* longer than the file */
    tb_put(&b, "abc", 3);
    expect_open(&b, STATUS_TRUNCATED, "key 'k' value");
}

static void test_gguf_open_rejects_array_length_overflow(void **state)
{
    (void)state;
    struct tb b;
    tb_hdr(&b, 3, 0, 1);
    tb_str(&b, "arr");
    tb_u32(&b, GGUF_VTYPE_ARRAY);
    tb_u32(&b, GGUF_VTYPE_UINT32);
    tb_u64(&b, (uint64_t)1 << 62); /* 2^62 * 4 bytes overflows 64 bits */
    tb_zeros(&b, 16);
    expect_open(&b, STATUS_OVERFLOW, "array length");
    /* an array of strings longer than the file */
    tb_hdr(&b, 3, 0, 1);
    tb_str(&b, "arr");
    tb_u32(&b, GGUF_VTYPE_ARRAY);
    tb_u32(&b, GGUF_VTYPE_STRING);
    tb_u64(&b, 100);
    tb_str(&b, "one");
    expect_open(&b, STATUS_TRUNCATED, "key 'arr' value");
}

static void test_gguf_open_rejects_bad_value_types(void **state)
{
    (void)state;
    struct tb b;
    tb_hdr(&b, 3, 0, 1);
    tb_str(&b, "k");
    tb_u32(&b, 13);
    tb_zeros(&b, 8);
    expect_open(&b, STATUS_FORMAT, "unknown value type 13");
    tb_hdr(&b, 3, 0, 1);
    tb_str(&b, "k");
    tb_u32(&b, GGUF_VTYPE_ARRAY);
    tb_u32(&b, 99);
    tb_u64(&b, 1);
    tb_zeros(&b, 8);
    expect_open(&b, STATUS_FORMAT, "unknown array element type 99");
}

static void test_gguf_open_rejects_deep_nesting(void **state)
{
    (void)state;
    struct tb b;
    tb_hdr(&b, 3, 0, 1);
    tb_str(&b, "deep");
    tb_u32(&b, GGUF_VTYPE_ARRAY);
    for (int i = 0; i < GGUF_MAX_DEPTH + 2; i++) {
        tb_u32(&b, GGUF_VTYPE_ARRAY);
        tb_u64(&b, 1);
    }
    tb_u32(&b, GGUF_VTYPE_UINT8);
    tb_u64(&b, 0);
    expect_open(&b, STATUS_FORMAT, "nested deeper");
}

static void test_gguf_open_rejects_duplicate_keys(void **state)
{
    (void)state;
    struct tb b;
    tb_hdr(&b, 3, 0, 3);
    tb_kv_u32(&b, "a", 1);
    tb_kv_u32(&b, "b", 2);
    tb_kv_u32(&b, "a", 3);
    expect_open(&b, STATUS_FORMAT, "duplicate key");
}

static void test_gguf_open_rejects_bad_names(void **state)
{
    (void)state;
    struct tb b;
    tb_hdr(&b, 3, 0, 1);
    tb_kv_u32(&b, "", 1);
    expect_open(&b, STATUS_FORMAT, "empty name");
    tb_hdr(&b, 3, 0, 1);
    tb_u64(&b, 3);
    tb_put(&b, "a\0b", 3);
    tb_u32(&b, GGUF_VTYPE_UINT8);
    tb_zeros(&b, 1);
    expect_open(&b, STATUS_FORMAT, "NUL");
}

static void test_gguf_open_rejects_bad_alignment(void **state)
{
    (void)state;
    struct tb b;
    tb_hdr(&b, 3, 0, 1);
    tb_kv_u32(&b, "general.alignment", 3);
    expect_open(&b, STATUS_FORMAT, "not a power of two");
    tb_hdr(&b, 3, 0, 1);
    tb_kv_u32(&b, "general.alignment", 0);
    expect_open(&b, STATUS_FORMAT, "general.alignment");
    tb_hdr(&b, 3, 0, 1);
    tb_str(&b, "general.alignment");
    tb_u32(&b, GGUF_VTYPE_UINT64);
    tb_u64(&b, 64);
    expect_open(&b, STATUS_FORMAT, "expected uint32");
    /* a valid non-default alignment is used for the data section */
    const uint64_t d4[] = {4};
    tb_hdr(&b, 3, 1, 1);
    tb_kv_u32(&b, "general.alignment", 64);
    tb_tensor(&b, "t", 1, d4, DTYPE_F32, 0);
    tb_pad(&b, 64);
    size_t data_at = b.len;
    tb_zeros(&b, 16);
    struct gguf *g = NULL;
    assert_int_equal(gguf_open_buffer(b.p, b.len, &g), STATUS_OK);
    assert_int_equal(gguf_alignment(g), 64);
    assert_int_equal(gguf_data_offset(g), data_at);
    gguf_close(g);
}

static void test_gguf_open_rejects_misaligned_tensor_offset(void **state)
{
    (void)state;
    struct tb b;
    const uint64_t d4[] = {4};
    tb_hdr(&b, 3, 1, 0);
    tb_tensor(&b, "blk.0.attn_q.weight", 1, d4, DTYPE_F32, 123);
    tb_pad(&b, 32);
    tb_zeros(&b, 256);
    /* the offset field is the last 8 bytes of the info, which starts at byte 24 */
    char want[128];
    snprintf(want, sizeof want, "tensor 'blk.0.attn_q.weight' at byte %zu: data offset 123 not "
             "aligned to 32", (size_t)24 + 8 + 19 + 4 + 8 + 4);
    expect_open(&b, STATUS_FORMAT, want);
}

static void test_gguf_open_rejects_tensor_past_end(void **state)
{
    (void)state;
    struct tb b;
    const uint64_t d[] = {64};
    tb_hdr(&b, 3, 1, 0);
    tb_tensor(&b, "t", 1, d, DTYPE_F32, 0);
    tb_pad(&b, 32);
    tb_zeros(&b, 255); /* one byte short */
    expect_open(&b, STATUS_TRUNCATED, "goes past the end");
    tb_hdr(&b, 3, 1, 0);
    tb_tensor(&b, "t", 1, d, DTYPE_F32, UINT64_MAX - 31);
    tb_pad(&b, 32);
    tb_zeros(&b, 256);
    expect_open(&b, STATUS_OVERFLOW, "data offset");
}

static void test_gguf_open_rejects_bad_tensor_shapes(void **state)
{
    (void)state;
    struct tb b;
    const uint64_t d0[] = {0}, d5[] = {1, 1, 1, 1, 1}, d33[] = {33};
    const uint64_t big[] = {(uint64_t)1 << 32, (uint64_t)1 << 32};

    tb_hdr(&b, 3, 1, 0);
    tb_tensor(&b, "t", 1, d0, DTYPE_F32, 0);
    tb_zeros(&b, 64);
    expect_open(&b, STATUS_FORMAT, "dimension 0");

    tb_hdr(&b, 3, 1, 0);
    tb_tensor(&b, "t", 5, d5, DTYPE_F32, 0);
    tb_zeros(&b, 64);
    expect_open(&b, STATUS_FORMAT, "5 dimensions");

    tb_hdr(&b, 3, 1, 0);
    tb_tensor(&b, "t", 0, d5, DTYPE_F32, 0);
    tb_zeros(&b, 64);
    expect_open(&b, STATUS_FORMAT, "0 dimensions");

    tb_hdr(&b, 3, 1, 0);
    tb_tensor(&b, "t", 1, d33, DTYPE_Q8_0, 0);
    tb_zeros(&b, 128);
    expect_open(&b, STATUS_FORMAT, "block size");

    tb_hdr(&b, 3, 1, 0);
    tb_tensor(&b, "t", 2, big, DTYPE_F32, 0); /* 2^64 elements */
    tb_zeros(&b, 64);
    expect_open(&b, STATUS_OVERFLOW, "tensor 't'");
}

static void test_gguf_open_rejects_unknown_tensor_type(void **state)
{
    (void)state;
    struct tb b;
    const uint64_t d[] = {4};
    tb_hdr(&b, 3, 1, 0);
    tb_tensor(&b, "t", 1, d, 5, 0); /* removed Q4_3 */
    tb_zeros(&b, 64);
    expect_open(&b, STATUS_UNSUPPORTED, "unknown tensor type 5");
}

static void test_gguf_open_rejects_overlap_and_duplicate_tensors(void **state)
{
    (void)state;
    struct tb b;
    const uint64_t d16[] = {16}, d4[] = {4};
    tb_hdr(&b, 3, 2, 0);
    tb_tensor(&b, "a", 1, d16, DTYPE_F32, 0); /* 64 bytes */
    tb_tensor(&b, "b", 1, d4, DTYPE_F32, 32);
    tb_pad(&b, 32);
    tb_zeros(&b, 128);
    expect_open(&b, STATUS_FORMAT, "overlaps");

    tb_hdr(&b, 3, 2, 0);
    tb_tensor(&b, "a", 1, d4, DTYPE_F32, 0);
    tb_tensor(&b, "a", 1, d4, DTYPE_F32, 32);
    tb_pad(&b, 32);
    tb_zeros(&b, 64);
    expect_open(&b, STATUS_FORMAT, "duplicate tensor name");
}

static void test_gguf_open_file_errors_name_the_file(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char path[4200];
    struct gguf *g = NULL;
    snprintf(path, sizeof path, "%s/missing.gguf", dir);
    assert_int_equal(gguf_open(path, &g), STATUS_NOT_FOUND);
    assert_non_null(strstr(status_detail(), "missing.gguf"));

    snprintf(path, sizeof path, "%s/bad.gguf", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs("GGUX nonsense", f);
    fclose(f);
    assert_int_equal(gguf_open(path, &g), STATUS_FORMAT);
    assert_non_null(strstr(status_detail(), "bad.gguf"));
    assert_non_null(strstr(status_detail(), "magic"));

    snprintf(path, sizeof path, "%s/empty.gguf", dir);
    f = fopen(path, "wb");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(gguf_open(path, &g), STATUS_TRUNCATED);
    assert_null(g);
    test_rmtree(dir);
}

/* ---- Writer round trips ---- */

static struct gguf *reopen(struct gguf_writer *w, void **buf)
{
    size_t size;
    struct gguf *g = NULL;
    assert_int_equal(gguf_writer_to_buffer(w, buf, &size), STATUS_OK);
    enum status st = gguf_open_buffer(*buf, size, &g);
    if (st != STATUS_OK)
        fail_msg("reopen: %s (%s)", status_name(st), status_detail());
    return g;
}

static void test_gguf_writer_round_trips_every_scalar_type(void **state)
{
    (void)state;
    struct gguf_writer *w = NULL;
    assert_int_equal(gguf_writer_new(&w), STATUS_OK);
    assert_int_equal(gguf_writer_set_u8(w, "u8", 250), STATUS_OK);
    assert_int_equal(gguf_writer_set_i8(w, "i8", -100), STATUS_OK);
    assert_int_equal(gguf_writer_set_u16(w, "u16", 65000), STATUS_OK);
    assert_int_equal(gguf_writer_set_i16(w, "i16", -30000), STATUS_OK);
    assert_int_equal(gguf_writer_set_u32(w, "u32", 4000000000u), STATUS_OK);
    assert_int_equal(gguf_writer_set_i32(w, "i32", -2000000000), STATUS_OK);
    assert_int_equal(gguf_writer_set_u64(w, "u64", UINT64_MAX), STATUS_OK);
    assert_int_equal(gguf_writer_set_i64(w, "i64", INT64_MIN), STATUS_OK);
    assert_int_equal(gguf_writer_set_f32(w, "f32", 1e-5f), STATUS_OK);
    assert_int_equal(gguf_writer_set_f64(w, "f64", -2.5e300), STATUS_OK);
    assert_int_equal(gguf_writer_set_bool(w, "bool", true), STATUS_OK);
    assert_int_equal(gguf_writer_set_str(w, "str", "h\xc3\xa9llo"), STATUS_OK);
    assert_int_equal(gguf_writer_set_strn(w, "nul", "a\0b", 3), STATUS_OK);
    assert_int_equal(gguf_writer_set_str(w, "empty", ""), STATUS_OK);
    /* setting a key again replaces it in place */
    assert_int_equal(gguf_writer_set_u32(w, "replaced", 1), STATUS_OK);
    assert_int_equal(gguf_writer_set_u32(w, "replaced", 2), STATUS_OK);

    void *buf;
    struct gguf *g = reopen(w, &buf);
    assert_int_equal(gguf_n_kv(g), 15);
    assert_int_equal(gguf_n_tensors(g), 0);
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
    assert_int_equal(gguf_get_u8(g, "u8", &u8), STATUS_OK);
    assert_int_equal(u8, 250);
    assert_int_equal(gguf_get_i8(g, "i8", &i8), STATUS_OK);
    assert_int_equal(i8, -100);
    assert_int_equal(gguf_get_u16(g, "u16", &u16), STATUS_OK);
    assert_int_equal(u16, 65000);
    assert_int_equal(gguf_get_i16(g, "i16", &i16), STATUS_OK);
    assert_int_equal(i16, -30000);
    assert_int_equal(gguf_get_u32(g, "u32", &u32), STATUS_OK);
    assert_int_equal(u32, 4000000000u);
    assert_int_equal(gguf_get_i32(g, "i32", &i32), STATUS_OK);
    assert_int_equal(i32, -2000000000);
    assert_int_equal(gguf_get_u64(g, "u64", &u64), STATUS_OK);
    assert_true(u64 == UINT64_MAX);
    assert_int_equal(gguf_get_i64(g, "i64", &i64), STATUS_OK);
    assert_true(i64 == INT64_MIN);
    assert_int_equal(gguf_get_f32(g, "f32", &f32), STATUS_OK);
    assert_true(f32 == 1e-5f);
    assert_int_equal(gguf_get_f64(g, "f64", &f64), STATUS_OK);
    assert_true(f64 == -2.5e300);
    assert_int_equal(gguf_get_bool(g, "bool", &b), STATUS_OK);
    assert_true(b);
    const char *s;
    size_t len;
    assert_int_equal(gguf_get_str(g, "str", &s, &len), STATUS_OK);
    assert_int_equal(len, 6);
    assert_memory_equal(s, "h\xc3\xa9llo", 6);
    assert_int_equal(gguf_get_cstr(g, "str", &s), STATUS_OK);
    assert_string_equal(s, "h\xc3\xa9llo");
    assert_int_equal(gguf_get_str(g, "nul", &s, &len), STATUS_OK);
    assert_int_equal(len, 3);
    assert_int_equal(gguf_get_cstr(g, "nul", &s), STATUS_FORMAT);
    assert_int_equal(gguf_get_cstr(g, "empty", &s), STATUS_OK);
    assert_string_equal(s, "");
    assert_int_equal(gguf_get_u32(g, "replaced", &u32), STATUS_OK);
    assert_int_equal(u32, 2);
    assert_int_equal(gguf_find_key(g, "replaced"), 14);
    assert_string_equal(gguf_key_name(g, 0), "u8");
    assert_int_equal(gguf_kv_type(g, 11), GGUF_VTYPE_STRING);

    /* typed getters check the type; the lenient ones convert */
    assert_int_equal(gguf_get_u32(g, "i32", &u32), STATUS_FORMAT);
    assert_non_null(strstr(status_detail(), "int32"));
    assert_int_equal(gguf_get_u32(g, "absent", &u32), STATUS_NOT_FOUND);
    assert_int_equal(gguf_get_int(g, "u16", &i64), STATUS_OK);
    assert_int_equal(i64, 65000);
    assert_int_equal(gguf_get_int(g, "i8", &i64), STATUS_OK);
    assert_int_equal(i64, -100);
    assert_int_equal(gguf_get_int(g, "u64", &i64), STATUS_OVERFLOW);
    assert_int_equal(gguf_get_int(g, "f32", &i64), STATUS_FORMAT);
    assert_int_equal(gguf_get_float(g, "f32", &f64), STATUS_OK);
    assert_true((float)f64 == 1e-5f);
    assert_int_equal(gguf_get_float(g, "u32", &f64), STATUS_OK);
    assert_true(f64 == 4000000000.0);
    assert_int_equal(gguf_get_float(g, "str", &f64), STATUS_FORMAT);
    gguf_close(g);
    free(buf);
    gguf_writer_free(w);
}

static void test_gguf_writer_round_trips_arrays_and_nesting(void **state)
{
    (void)state;
    struct gguf_writer *w = NULL;
    assert_int_equal(gguf_writer_new(&w), STATUS_OK);
    const float scores[] = {0.0f, -1.5f, 3.25f};
    const int32_t types[] = {2, 3, 6, 1};
    const bool flags[] = {true, false, true};
    const uint64_t big[] = {1, UINT64_MAX};
    const char *toks[] = {"<unk>", "<s>", "", "\xe2\x96\x81the"};
    assert_int_equal(gguf_writer_set_arr(w, "scores", GGUF_VTYPE_FLOAT32, scores, 3), STATUS_OK);
    assert_int_equal(gguf_writer_set_arr(w, "types", GGUF_VTYPE_INT32, types, 4), STATUS_OK);
    assert_int_equal(gguf_writer_set_arr(w, "flags", GGUF_VTYPE_BOOL, flags, 3), STATUS_OK);
    assert_int_equal(gguf_writer_set_arr(w, "big", GGUF_VTYPE_UINT64, big, 2), STATUS_OK);
    assert_int_equal(gguf_writer_set_arr(w, "none", GGUF_VTYPE_UINT8, NULL, 0), STATUS_OK);
    assert_int_equal(gguf_writer_set_arr_str(w, "toks", toks, 4), STATUS_OK);
    assert_int_equal(gguf_writer_set_arr(w, "bad", GGUF_VTYPE_STRING, toks, 4), STATUS_INVALID);

    /* nested: [[1, 2], ["x", "yz"], [[7]]] */
    const uint16_t inner_nums[] = {1, 2};
    const char *inner_strs[] = {"x", "yz"};
    const int8_t innermost[] = {7};
    struct gguf_value deepest = {.type = GGUF_VTYPE_ARRAY};
    deepest.v.arr.type = GGUF_VTYPE_INT8;
    deepest.v.arr.len = 1;
    deepest.v.arr.data = innermost;
    struct gguf_value items[3];
    memset(items, 0, sizeof items);
    items[0].type = items[1].type = items[2].type = GGUF_VTYPE_ARRAY;
    items[0].v.arr.type = GGUF_VTYPE_UINT16;
    items[0].v.arr.len = 2;
    items[0].v.arr.data = inner_nums;
    items[1].v.arr.type = GGUF_VTYPE_STRING;
    items[1].v.arr.len = 2;
    items[1].v.arr.data = inner_strs;
    items[2].v.arr.type = GGUF_VTYPE_ARRAY;
    items[2].v.arr.len = 1;
    items[2].v.arr.data = &deepest;
    struct gguf_value outer = {.type = GGUF_VTYPE_ARRAY};
    outer.v.arr.type = GGUF_VTYPE_ARRAY;
    outer.v.arr.len = 3;
    outer.v.arr.data = items;
    assert_int_equal(gguf_writer_set_value(w, "nested", &outer), STATUS_OK);

    void *buf;
    struct gguf *g = reopen(w, &buf);
    enum gguf_vtype t;
    uint64_t n;
    const void *raw;
    double d;
    int64_t i64;
    assert_int_equal(gguf_arr_type(g, "scores", &t), STATUS_OK);
    assert_int_equal(t, GGUF_VTYPE_FLOAT32);
    assert_int_equal(gguf_arr_len(g, "scores", &n), STATUS_OK);
    assert_int_equal(n, 3);
    assert_int_equal(gguf_arr_data(g, "scores", &raw), STATUS_OK);
    assert_memory_equal(raw, scores, sizeof scores);
    assert_int_equal(gguf_arr_float(g, "scores", 2, &d), STATUS_OK);
    assert_true(d == 3.25);
    assert_int_equal(gguf_arr_float(g, "scores", 3, &d), STATUS_INVALID);
    assert_int_equal(gguf_arr_int(g, "types", 2, &i64), STATUS_OK);
    assert_int_equal(i64, 6);
    assert_int_equal(gguf_arr_int(g, "scores", 0, &i64), STATUS_FORMAT);
    assert_int_equal(gguf_arr_int(g, "flags", 1, &i64), STATUS_OK);
    assert_int_equal(i64, 0);
    assert_int_equal(gguf_arr_int(g, "flags", 2, &i64), STATUS_OK);
    assert_int_equal(i64, 1);
    assert_int_equal(gguf_arr_int(g, "big", 1, &i64), STATUS_OVERFLOW);
    assert_int_equal(gguf_arr_len(g, "none", &n), STATUS_OK);
    assert_int_equal(n, 0);
    assert_int_equal(gguf_arr_len(g, "absent", &n), STATUS_NOT_FOUND);

    const char *s;
    size_t len;
    assert_int_equal(gguf_arr_len(g, "toks", &n), STATUS_OK);
    assert_int_equal(n, 4);
    for (uint64_t i = 0; i < 4; i++) {
        assert_int_equal(gguf_arr_str(g, "toks", i, &s, &len), STATUS_OK);
        assert_int_equal(len, strlen(toks[i]));
        assert_memory_equal(s, toks[i], len);
    }
    assert_int_equal(gguf_arr_str(g, "toks", 4, &s, &len), STATUS_INVALID);
    assert_int_equal(gguf_arr_str(g, "scores", 0, &s, &len), STATUS_FORMAT);
    assert_int_equal(gguf_arr_data(g, "toks", &raw), STATUS_FORMAT);

    /* walk the nested array with iterators */
    int64_t ni = gguf_find_key(g, "nested");
    assert_true(ni >= 0);
    assert_int_equal(gguf_kv_type(g, ni), GGUF_VTYPE_ARRAY);
    struct gguf_value v, e, e2, e3;
    gguf_kv_value(g, ni, &v);
    assert_int_equal(v.v.arr.type, GGUF_VTYPE_ARRAY);
    assert_int_equal(v.v.arr.len, 3);
    struct gguf_iter it, it2, it3;
    gguf_iter_init(&it, &v);
    assert_true(gguf_iter_next(&it, &e));
    assert_int_equal(e.type, GGUF_VTYPE_ARRAY);
    assert_int_equal(e.v.arr.type, GGUF_VTYPE_UINT16);
    gguf_iter_init(&it2, &e);
    assert_true(gguf_iter_next(&it2, &e2));
    assert_int_equal(e2.v.u16, 1);
    assert_true(gguf_iter_next(&it2, &e2));
    assert_int_equal(e2.v.u16, 2);
    assert_false(gguf_iter_next(&it2, &e2));
    assert_true(gguf_iter_next(&it, &e));
    assert_int_equal(e.v.arr.type, GGUF_VTYPE_STRING);
    gguf_iter_init(&it2, &e);
    assert_true(gguf_iter_next(&it2, &e2));
    assert_int_equal(e2.type, GGUF_VTYPE_STRING);
    assert_int_equal(e2.v.str.len, 1);
    assert_memory_equal(e2.v.str.ptr, "x", 1);
    assert_true(gguf_iter_next(&it2, &e2));
    assert_memory_equal(e2.v.str.ptr, "yz", 2);
    assert_true(gguf_iter_next(&it, &e));
    assert_int_equal(e.v.arr.type, GGUF_VTYPE_ARRAY);
    gguf_iter_init(&it2, &e);
    assert_true(gguf_iter_next(&it2, &e2));
    assert_int_equal(e2.v.arr.type, GGUF_VTYPE_INT8);
    gguf_iter_init(&it3, &e2);
    assert_true(gguf_iter_next(&it3, &e3));
    assert_int_equal(e3.v.i8, 7);
    assert_false(gguf_iter_next(&it3, &e3));
    assert_false(gguf_iter_next(&it, &e));

    /* a reader value (nested included) copies into another file unchanged */
    struct gguf_writer *w2 = NULL;
    assert_int_equal(gguf_writer_new(&w2), STATUS_OK);
    assert_int_equal(gguf_writer_copy_kv(w2, g, "to"), STATUS_OK);
    void *buf2;
    struct gguf *g2 = reopen(w2, &buf2);
    assert_int_equal(gguf_n_kv(g2), gguf_n_kv(g) - 1); /* "toks" skipped */
    assert_int_equal(gguf_find_key(g2, "toks"), -1);
    struct gguf_value v2;
    gguf_kv_value(g2, gguf_find_key(g2, "nested"), &v2);
    assert_int_equal(v2.v.arr.bytes, v.v.arr.bytes);
    assert_memory_equal(v2.v.arr.data, v.v.arr.data, v.v.arr.bytes);
    gguf_close(g2);
    free(buf2);
    gguf_writer_free(w2);

    gguf_close(g);
    free(buf);
    gguf_writer_free(w);
}

static void test_gguf_writer_round_trips_tensors(void **state)
{
    (void)state;
    struct gguf_writer *w = NULL;
    assert_int_equal(gguf_writer_new(&w), STATUS_OK);
    assert_int_equal(gguf_writer_set_u32(w, "general.alignment", 64), STATUS_OK);
    float a[3 * 2];
    for (int i = 0; i < 6; i++)
        a[i] = (float)i * 0.5f;
    unsigned char q[2 * 34];
    for (size_t i = 0; i < sizeof q; i++)
        q[i] = (unsigned char)(i * 7);
    uint16_t h[5] = {1, 2, 3, 4, 5};
    const uint64_t da[] = {3, 2}, dq[] = {32, 2}, dh[] = {5, 1, 1, 1}, bad[] = {33};
    assert_int_equal(gguf_writer_add_tensor(w, "a", DTYPE_F32, 2, da, a, sizeof a), STATUS_OK);
    assert_int_equal(gguf_writer_add_tensor(w, "q", DTYPE_Q8_0, 2, dq, q, sizeof q), STATUS_OK);
    assert_int_equal(gguf_writer_add_tensor(w, "h", DTYPE_F16, 4, dh, h, sizeof h), STATUS_OK);
    /* refused: duplicate, wrong size, bad row length, bad dims, unknown type */
    assert_int_equal(gguf_writer_add_tensor(w, "a", DTYPE_F32, 2, da, a, sizeof a),
                     STATUS_EXISTS);
    assert_int_equal(gguf_writer_add_tensor(w, "x", DTYPE_F32, 2, da, a, 4), STATUS_INVALID);
    assert_int_equal(gguf_writer_add_tensor(w, "x", DTYPE_Q8_0, 1, bad, q, 34), STATUS_INVALID);
    assert_int_equal(gguf_writer_add_tensor(w, "x", DTYPE_F32, 0, da, a, 4), STATUS_INVALID);
    assert_int_equal(gguf_writer_add_tensor(w, "x", (enum dtype)5, 1, da, a, 12),
                     STATUS_INVALID);
    assert_int_equal(gguf_writer_set_u32(w, "general.alignment", 48), STATUS_INVALID);

    void *buf;
    struct gguf *g = reopen(w, &buf);
    assert_int_equal(gguf_alignment(g), 64);
    assert_int_equal(gguf_n_tensors(g), 3);
    assert_int_equal(gguf_data_offset(g) % 64, 0);
    int64_t qi = gguf_find_tensor(g, "q");
    assert_int_equal(qi, 1);
    assert_string_equal(gguf_tensor_name(g, qi), "q");
    assert_int_equal(gguf_tensor_type(g, qi), DTYPE_Q8_0);
    assert_int_equal(gguf_tensor_n_dims(g, qi), 2);
    assert_int_equal(gguf_tensor_dim(g, qi, 0), 32);
    assert_int_equal(gguf_tensor_dim(g, qi, 1), 2);
    assert_int_equal(gguf_tensor_dim(g, qi, 2), 1);
    assert_int_equal(gguf_tensor_n_elements(g, qi), 64);
    assert_int_equal(gguf_tensor_size(g, qi), sizeof q);
    assert_memory_equal(gguf_tensor_data(g, qi), q, sizeof q);
    int64_t hi = gguf_find_tensor(g, "h");
    assert_int_equal(gguf_tensor_n_dims(g, hi), 4);
    assert_memory_equal(gguf_tensor_data(g, hi), h, sizeof h);
    for (int64_t i = 0; i < 3; i++)
        assert_int_equal(gguf_tensor_offset(g, i) % 64, 0);
    assert_memory_equal(gguf_tensor_data(g, gguf_find_tensor(g, "a")), a, sizeof a);
    /* padding between tensors is zero */
    const unsigned char *p = gguf_tensor_data(g, 0);
    for (size_t i = sizeof a; i < 64; i++)
        assert_int_equal(p[i], 0);
    gguf_close(g);
    free(buf);
    gguf_writer_free(w);
}

static void test_gguf_writer_write_is_atomic(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char path[4200], tmp[4300];
    snprintf(path, sizeof path, "%s/out.gguf", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    struct gguf_writer *w = NULL;
    assert_int_equal(gguf_writer_new(&w), STATUS_OK);
    float d[32] = {0};
    d[31] = 9.0f;
    const uint64_t dims[] = {32};
    assert_int_equal(gguf_writer_set_str(w, "general.architecture", "llama"), STATUS_OK);
    assert_int_equal(gguf_writer_add_tensor(w, "t", DTYPE_F32, 1, dims, d, sizeof d),
                     STATUS_OK);
    assert_int_equal(gguf_writer_write(w, path), STATUS_OK);
    struct stat sb;
    assert_int_not_equal(stat(tmp, &sb), 0);

    struct gguf *g = NULL;
    assert_int_equal(gguf_open(path, &g), STATUS_OK);
    const char *arch;
    assert_int_equal(gguf_get_cstr(g, "general.architecture", &arch), STATUS_OK);
    assert_string_equal(arch, "llama");
    assert_memory_equal(gguf_tensor_data(g, 0), d, sizeof d);
    /* the mapping is page aligned, so tensor data is aligned in memory too */
    assert_int_equal((uintptr_t)gguf_tensor_data(g, 0) % 32, 0);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(gguf_file_size(g), (uint64_t)sb.st_size);
    gguf_close(g);

    /* a write that cannot happen leaves nothing behind */
    snprintf(path, sizeof path, "%s/no/such/dir/out.gguf", dir);
    assert_int_equal(gguf_writer_write(w, path), STATUS_IO);
    assert_int_not_equal(stat(path, &sb), 0);
    gguf_writer_free(w);
    test_rmtree(dir);
}

/* Entries of dir other than "." and "..". */
static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static struct gguf_writer *small_writer(float *d, size_t n, float mark)
{
    struct gguf_writer *w = NULL;
    assert_int_equal(gguf_writer_new(&w), STATUS_OK);
    for (size_t i = 0; i < n; i++)
        d[i] = mark;
    const uint64_t dims[] = {n};
    assert_int_equal(gguf_writer_set_str(w, "general.architecture", "llama"), STATUS_OK);
    assert_int_equal(gguf_writer_add_tensor(w, "t", DTYPE_F32, 1, dims, d, n * sizeof *d),
                     STATUS_OK);
    return w;
}

/* A stale "<path>.tmp" (here a link to another file, and then a directory) left by a
 * crashed writer neither blocks the write nor gets written through. */
static void test_gguf_writer_write_ignores_stale_tmp(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char path[4200], tmp[4300], victim[4300];
    snprintf(path, sizeof path, "%s/out.gguf", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    snprintf(victim, sizeof victim, "%s/victim.txt", dir);
    FILE *f = fopen(victim, "w");
    assert_non_null(f);
    fputs("keep me", f);
    fclose(f);
    assert_int_equal(symlink(victim, tmp), 0);
    float d[16];
    struct gguf_writer *w = small_writer(d, 16, 3.0f);
    assert_int_equal(gguf_writer_write(w, path), STATUS_OK);
    char got[32] = "";
    f = fopen(victim, "r");
    assert_non_null(f);
    assert_non_null(fgets(got, sizeof got, f));
    fclose(f);
    assert_string_equal(got, "keep me");
    struct stat sb;
    assert_int_equal(lstat(path, &sb), 0);
    assert_true(S_ISREG(sb.st_mode));
    assert_int_equal(lstat(tmp, &sb), 0);
    assert_true(S_ISLNK(sb.st_mode)); /* not ours: left alone */
    assert_int_equal(dir_entries(dir), 3); /* out.gguf, the link, victim.txt */

    assert_int_equal(unlink(tmp), 0);
    assert_int_equal(mkdir(tmp, 0700), 0);
    gguf_writer_free(w);
    w = small_writer(d, 16, 4.0f);
    assert_int_equal(gguf_writer_write(w, path), STATUS_OK);
    struct gguf *g = NULL;
    assert_int_equal(gguf_open(path, &g), STATUS_OK);
    assert_memory_equal(gguf_tensor_data(g, 0), d, sizeof d);
    gguf_close(g);
    assert_int_equal(dir_entries(dir), 3);
    gguf_writer_free(w);
    test_rmtree(dir);
}

/* The file gets mode 0666 less the umask, as a file made by fopen() would; a failed rename
 * removes the temporary file. */
static void test_gguf_writer_write_mode_and_cleanup(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/out.gguf", dir);
    float d[8];
    struct gguf_writer *w = small_writer(d, 8, 1.0f);
    mode_t old = umask(027);
    assert_int_equal(gguf_writer_write(w, path), STATUS_OK);
    umask(old);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0640);
    assert_int_equal(unlink(path), 0);

    /* path is a non-empty directory: the rename fails and nothing is left behind */
    char inner[4300];
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(inner, sizeof inner, "%s/x", path);
    assert_int_equal(mkdir(inner, 0700), 0);
    assert_int_equal(gguf_writer_write(w, path), STATUS_IO);
    assert_non_null(strstr(status_detail(), "out.gguf"));
    assert_int_equal(dir_entries(dir), 1);
    gguf_writer_free(w);
    test_rmtree(dir);
}

/* Several processes writing the same file at once all succeed, and the file is always one
 * of theirs, whole. */
static void test_gguf_writer_write_concurrent_writers(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/out.gguf", dir);
    enum { N_PROC = 4, N_WRITES = 25, N_VALUES = 4096 };
    pid_t pids[N_PROC];
    for (int p = 0; p < N_PROC; p++) {
        pids[p] = fork();
        assert_true(pids[p] >= 0);
        if (pids[p] == 0) {
            static float d[N_VALUES];
            struct gguf_writer *w = small_writer(d, N_VALUES, (float)(p + 1));
            int bad = 0;
            for (int i = 0; i < N_WRITES; i++)
                bad += gguf_writer_write(w, path) != STATUS_OK;
            gguf_writer_free(w);
            _exit(bad ? 1 : 0);
        }
    }
    for (int p = 0; p < N_PROC; p++) {
        int ws = 0;
        assert_int_equal(waitpid(pids[p], &ws, 0), pids[p]);
        assert_true(WIFEXITED(ws));
        assert_int_equal(WEXITSTATUS(ws), 0);
    }
    struct gguf *g = NULL;
    assert_int_equal(gguf_open(path, &g), STATUS_OK);
    const float *t = gguf_tensor_data(g, 0);
    assert_int_equal(gguf_tensor_size(g, 0), N_VALUES * sizeof(float));
    assert_true(t[0] >= 1.0f && t[0] <= (float)N_PROC);
    for (size_t i = 1; i < N_VALUES; i++)
        assert_true(t[i] == t[0]);
    gguf_close(g);
    assert_int_equal(dir_entries(dir), 1);
    test_rmtree(dir);
}

/* ---- Golden files (../shared/golden, llama.cpp-written) ---- */

struct golden {
    const char *file;
    uint64_t dim, n_ff, n_head_kv, rope_dim, n_vocab;
    char model; /* 'a' or 'c' */
    enum dtype big, embd, out;
};

/* Expected type of a tensor per README section 2's table. */
static enum dtype golden_type(const struct golden *gd, const char *name)
{
    if (strstr(name, "norm"))
        return DTYPE_F32;
    if (strcmp(name, "output.weight") == 0)
        return gd->out;
    if (strcmp(name, "token_embd.weight") == 0)
        return gd->embd;
    if (gd->model == 'c' && (strcmp(name, "blk.1.attn_v.weight") == 0 ||
                             strcmp(name, "blk.1.ffn_down.weight") == 0))
        return DTYPE_Q6_K;
    return gd->big;
}

static void golden_check(const struct golden *gd)
{
    char rel[256];
    snprintf(rel, sizeof rel, "golden/%s", gd->file);
    char *path = test_shared_path(rel);
    if (!path)
        return;
    struct gguf *g = NULL;
    enum status st = gguf_open(path, &g);
    if (st != STATUS_OK)
        fail_msg("%s: %s (%s)", path, status_name(st), status_detail());
    assert_int_equal(gguf_version(g), 3);
    assert_int_equal(gguf_alignment(g), 32);
    const char *s;
    assert_int_equal(gguf_get_cstr(g, "general.architecture", &s), STATUS_OK);
    assert_string_equal(s, "llama");
    assert_int_equal(gguf_get_cstr(g, "tokenizer.ggml.model", &s), STATUS_OK);
    assert_string_equal(s, "llama");
    int64_t v;
    assert_int_equal(gguf_get_int(g, "llama.embedding_length", &v), STATUS_OK);
    assert_int_equal(v, gd->dim);
    assert_int_equal(gguf_get_int(g, "llama.block_count", &v), STATUS_OK);
    assert_int_equal(v, 2);
    assert_int_equal(gguf_get_int(g, "llama.attention.head_count", &v), STATUS_OK);
    assert_int_equal(v, 4);
    assert_int_equal(gguf_get_int(g, "llama.attention.head_count_kv", &v), STATUS_OK);
    assert_int_equal(v, gd->n_head_kv);
    assert_int_equal(gguf_get_int(g, "llama.feed_forward_length", &v), STATUS_OK);
    assert_int_equal(v, gd->n_ff);
    assert_int_equal(gguf_get_int(g, "llama.context_length", &v), STATUS_OK);
    assert_int_equal(v, 256);
    assert_int_equal(gguf_get_int(g, "llama.rope.dimension_count", &v), STATUS_OK);
    assert_int_equal(v, gd->rope_dim);
    float f;
    assert_int_equal(gguf_get_f32(g, "llama.rope.freq_base", &f), STATUS_OK);
    assert_true(f == 10000.0f);
    assert_int_equal(gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &f), STATUS_OK);
    assert_true(f == 1e-5f);
    assert_int_equal(gguf_get_int(g, "tokenizer.ggml.bos_token_id", &v), STATUS_OK);
    assert_int_equal(v, 1);
    assert_int_equal(gguf_get_int(g, "tokenizer.ggml.eos_token_id", &v), STATUS_OK);
    assert_int_equal(v, 2);
    assert_int_equal(gguf_get_int(g, "tokenizer.ggml.unknown_token_id", &v), STATUS_OK);
    assert_int_equal(v, 0);
    bool b;
    assert_int_equal(gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b), STATUS_OK);
    assert_true(b);
    uint64_t n;
    assert_int_equal(gguf_arr_len(g, "tokenizer.ggml.tokens", &n), STATUS_OK);
    assert_int_equal(n, gd->n_vocab);
    assert_int_equal(gguf_arr_len(g, "tokenizer.ggml.scores", &n), STATUS_OK);
    assert_int_equal(n, gd->n_vocab);
    assert_int_equal(gguf_arr_len(g, "tokenizer.ggml.token_type", &n), STATUS_OK);
    assert_int_equal(n, gd->n_vocab);
    size_t len;
    assert_int_equal(gguf_arr_str(g, "tokenizer.ggml.tokens", 1, &s, &len), STATUS_OK);
    assert_int_equal(len, 3);
    assert_memory_equal(s, "<s>", 3);
    assert_int_equal(gguf_arr_str(g, "tokenizer.ggml.tokens", 3 + 0x2E, &s, &len), STATUS_OK);
    assert_int_equal(len, 6);
    assert_memory_equal(s, "<0x2E>", 6);
    /* every token reachable by index (and quickly: the tokenizer loads them this way) */
    uint64_t total = 0;
    for (uint64_t i = 0; i < gd->n_vocab; i++) {
        assert_int_equal(gguf_arr_str(g, "tokenizer.ggml.tokens", i, &s, &len), STATUS_OK);
        total += len;
    }
    assert_true(total > gd->n_vocab);
    assert_int_equal(gguf_arr_int(g, "tokenizer.ggml.token_type", 5, &v), STATUS_OK);
    assert_int_equal(v, 6); /* a byte token */

    /* 2 blocks x 9 tensors + token_embd, output_norm, output */
    assert_int_equal(gguf_n_tensors(g), 21);
    static const char *const per_block[] = {"attn_norm", "attn_q", "attn_k", "attn_v",
                                            "attn_output", "ffn_norm", "ffn_gate", "ffn_up",
                                            "ffn_down"};
    uint64_t hd = gd->dim / 4;
    for (int blk = 0; blk < 2; blk++) {
        for (size_t k = 0; k < sizeof per_block / sizeof *per_block; k++) {
            char name[64];
            snprintf(name, sizeof name, "blk.%d.%s.weight", blk, per_block[k]);
            int64_t i = gguf_find_tensor(g, name);
            if (i < 0)
                fail_msg("%s: tensor %s missing", gd->file, name);
            if (gguf_tensor_type(g, i) != golden_type(gd, name))
                fail_msg("%s: %s has type %s", gd->file, name,
                         dtype_name(gguf_tensor_type(g, i)));
            uint64_t d0 = gguf_tensor_dim(g, i, 0), d1 = gguf_tensor_dim(g, i, 1);
            const char *nm = per_block[k];
            if (strstr(nm, "norm")) {
                assert_int_equal(gguf_tensor_n_dims(g, i), 1);
                assert_int_equal(d0, gd->dim);
                continue;
            }
            assert_int_equal(gguf_tensor_n_dims(g, i), 2);
            if (strcmp(nm, "attn_q") == 0) {
                assert_int_equal(d0, gd->dim);
                assert_int_equal(d1, 4 * hd);
            } else if (strcmp(nm, "attn_k") == 0 || strcmp(nm, "attn_v") == 0) {
                assert_int_equal(d0, gd->dim);
                assert_int_equal(d1, gd->n_head_kv * hd);
            } else if (strcmp(nm, "attn_output") == 0) {
                assert_int_equal(d0, 4 * hd);
                assert_int_equal(d1, gd->dim);
            } else if (strcmp(nm, "ffn_down") == 0) {
                assert_int_equal(d0, gd->n_ff);
                assert_int_equal(d1, gd->dim);
            } else {
                assert_int_equal(d0, gd->dim);
                assert_int_equal(d1, gd->n_ff);
            }
        }
    }
    static const char *const top[] = {"token_embd.weight", "output.weight"};
    for (int k = 0; k < 2; k++) {
        int64_t i = gguf_find_tensor(g, top[k]);
        assert_true(i >= 0);
        assert_int_equal(gguf_tensor_type(g, i), golden_type(gd, top[k]));
        assert_int_equal(gguf_tensor_dim(g, i, 0), gd->dim);
        assert_int_equal(gguf_tensor_dim(g, i, 1), gd->n_vocab);
    }
    int64_t on = gguf_find_tensor(g, "output_norm.weight");
    assert_true(on >= 0);
    assert_int_equal(gguf_tensor_dim(g, on, 0), gd->dim);

    /* every tensor's data lies inside the file, aligned */
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        assert_true(gguf_tensor_offset(g, i) >= gguf_data_offset(g));
        assert_true(gguf_tensor_offset(g, i) + gguf_tensor_size(g, i) <= gguf_file_size(g));
        assert_int_equal(gguf_tensor_offset(g, i) % 32, 0);
    }
    gguf_close(g);
    free(path);
}

static void test_gguf_golden_model_a_f32(void **state)
{
    (void)state;
    const struct golden gd = {"tiny-mistral-a-f32.gguf", 64, 192, 2, 16, 32000, 'a',
                              DTYPE_F32, DTYPE_F32, DTYPE_F32};
    golden_check(&gd);
}

static void test_gguf_golden_model_a_q8_0(void **state)
{
    (void)state;
    const struct golden gd = {"tiny-mistral-a-Q8_0.gguf", 64, 192, 2, 16, 32000, 'a',
                              DTYPE_Q8_0, DTYPE_Q8_0, DTYPE_Q8_0};
    golden_check(&gd);
}

static void test_gguf_golden_model_a_q4_0(void **state)
{
    (void)state;
    const struct golden gd = {"tiny-mistral-a-Q4_0.gguf", 64, 192, 2, 16, 32000, 'a',
                              DTYPE_Q4_0, DTYPE_Q4_0, DTYPE_Q8_0};
    golden_check(&gd);
}

static void test_gguf_golden_model_c_q4_k_m(void **state)
{
    (void)state;
    const struct golden gd = {"tiny-mistral-c-Q4_K_M.gguf", 256, 768, 1, 64, 8192, 'c',
                              DTYPE_Q4_K, DTYPE_Q4_K, DTYPE_Q6_K};
    golden_check(&gd);
}

/* Rewriting a golden file with copied metadata and tensors gives an identical index. */
static void test_gguf_golden_rewrite_keeps_everything(void **state)
{
    (void)state;
    char *path = test_shared_path("golden/tiny-mistral-c-Q4_K_M.gguf");
    if (!path)
        return;
    struct gguf *g = NULL;
    assert_int_equal(gguf_open(path, &g), STATUS_OK);
    struct gguf_writer *w = NULL;
    assert_int_equal(gguf_writer_new(&w), STATUS_OK);
    assert_int_equal(gguf_writer_copy_kv(w, g, NULL), STATUS_OK);
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        uint64_t dims[GGUF_MAX_DIMS];
        for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++)
            dims[d] = gguf_tensor_dim(g, i, d);
        assert_int_equal(gguf_writer_add_tensor(w, gguf_tensor_name(g, i), gguf_tensor_type(g, i),
                                                gguf_tensor_n_dims(g, i), dims,
                                                gguf_tensor_data(g, i), gguf_tensor_size(g, i)),
                         STATUS_OK);
    }
    void *buf;
    struct gguf *g2 = reopen(w, &buf);
    assert_int_equal(gguf_n_kv(g2), gguf_n_kv(g));
    for (int64_t i = 0; i < gguf_n_kv(g); i++) {
        assert_string_equal(gguf_key_name(g2, i), gguf_key_name(g, i));
        struct gguf_value a, b;
        gguf_kv_value(g, i, &a);
        gguf_kv_value(g2, i, &b);
        assert_int_equal(a.type, b.type);
        if (a.type == GGUF_VTYPE_ARRAY) {
            assert_int_equal(a.v.arr.bytes, b.v.arr.bytes);
            assert_memory_equal(a.v.arr.data, b.v.arr.data, a.v.arr.bytes);
        }
    }
    assert_int_equal(gguf_n_tensors(g2), gguf_n_tensors(g));
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        assert_string_equal(gguf_tensor_name(g2, i), gguf_tensor_name(g, i));
        assert_int_equal(gguf_tensor_size(g2, i), gguf_tensor_size(g, i));
        assert_memory_equal(gguf_tensor_data(g2, i), gguf_tensor_data(g, i),
                            gguf_tensor_size(g, i));
    }
    gguf_close(g2);
    free(buf);
    gguf_writer_free(w);
    gguf_close(g);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gguf_open_accepts_hand_assembled_file),
        cmocka_unit_test(test_gguf_open_accepts_version_2),
        cmocka_unit_test(test_gguf_open_rejects_bad_magic),
        cmocka_unit_test(test_gguf_open_rejects_version_1_and_4),
        cmocka_unit_test(test_gguf_open_rejects_every_truncation),
        cmocka_unit_test(test_gguf_open_rejects_oversized_counts),
        cmocka_unit_test(test_gguf_open_rejects_huge_string_length),
        cmocka_unit_test(test_gguf_open_rejects_array_length_overflow),
        cmocka_unit_test(test_gguf_open_rejects_bad_value_types),
        cmocka_unit_test(test_gguf_open_rejects_deep_nesting),
        cmocka_unit_test(test_gguf_open_rejects_duplicate_keys),
        cmocka_unit_test(test_gguf_open_rejects_bad_names),
        cmocka_unit_test(test_gguf_open_rejects_bad_alignment),
        cmocka_unit_test(test_gguf_open_rejects_misaligned_tensor_offset),
        cmocka_unit_test(test_gguf_open_rejects_tensor_past_end),
        cmocka_unit_test(test_gguf_open_rejects_bad_tensor_shapes),
        cmocka_unit_test(test_gguf_open_rejects_unknown_tensor_type),
        cmocka_unit_test(test_gguf_open_rejects_overlap_and_duplicate_tensors),
        cmocka_unit_test(test_gguf_open_file_errors_name_the_file),
        cmocka_unit_test(test_gguf_writer_round_trips_every_scalar_type),
        cmocka_unit_test(test_gguf_writer_round_trips_arrays_and_nesting),
        cmocka_unit_test(test_gguf_writer_round_trips_tensors),
        cmocka_unit_test(test_gguf_writer_write_is_atomic),
        cmocka_unit_test(test_gguf_writer_write_ignores_stale_tmp),
        cmocka_unit_test(test_gguf_writer_write_mode_and_cleanup),
        cmocka_unit_test(test_gguf_writer_write_concurrent_writers),
        cmocka_unit_test(test_gguf_golden_model_a_f32),
        cmocka_unit_test(test_gguf_golden_model_a_q8_0),
        cmocka_unit_test(test_gguf_golden_model_a_q4_0),
        cmocka_unit_test(test_gguf_golden_model_c_q4_k_m),
        cmocka_unit_test(test_gguf_golden_rewrite_keeps_everything),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
