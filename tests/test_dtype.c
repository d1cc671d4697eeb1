/* test_dtype.c -- GGUF element type table. */
#include "config.h"

#include "engine/dtype.h"
#include "test_util.h"

static void test_dtype_block_layouts(void **state)
{
    (void)state;
    /* sizes from the block definitions: scale(s) plus packed values */
    assert_int_equal(dtype_type_size(DTYPE_Q8_0), 2 + 32);
    assert_int_equal(dtype_type_size(DTYPE_Q4_0), 2 + 16);
    assert_int_equal(dtype_type_size(DTYPE_Q4_K), 2 + 2 + 12 + 128);
    assert_int_equal(dtype_type_size(DTYPE_Q5_K), 2 + 2 + 12 + 32 + 128);
    assert_int_equal(dtype_type_size(DTYPE_Q6_K), 128 + 64 + 16 + 2);
    assert_int_equal(dtype_type_size(DTYPE_Q8_K), 4 + 256 + 2 * 16);
    assert_int_equal(dtype_block_size(DTYPE_Q6_K), 256);
    assert_int_equal(dtype_block_size(DTYPE_F16), 1);
    assert_int_equal(dtype_type_size(DTYPE_BF16), 2);
}

static void test_dtype_unknown_ids(void **state)
{
    (void)state;
    assert_int_equal(dtype_block_size(4), 0); /* removed Q4_2 */
    assert_null(dtype_name(5));
    assert_null(dtype_name(1000));
    assert_false(dtype_is_supported(DTYPE_Q2_K));
    assert_true(dtype_is_supported(DTYPE_Q4_K));
    assert_int_equal(dtype_from_name("q6_k"), DTYPE_Q6_K);
    assert_int_equal(dtype_from_name("nope"), -1);
}

static void test_dtype_row_bytes_checks_multiple_and_overflow(void **state)
{
    (void)state;
    size_t b = 0;
    assert_int_equal(dtype_row_bytes(DTYPE_Q4_K, 4096, &b), STATUS_OK);
    assert_int_equal(b, 16 * 144);
    assert_int_equal(dtype_row_bytes(DTYPE_F32, 3, &b), STATUS_OK);
    assert_int_equal(b, 12);
    b = 7;
    assert_int_equal(dtype_row_bytes(DTYPE_Q8_0, 33, &b), STATUS_INVALID);
    assert_int_equal(b, 7);
    assert_int_equal(dtype_row_bytes(DTYPE_F32, UINT64_MAX / 2, &b), STATUS_OVERFLOW);
    assert_int_equal(dtype_row_bytes(99, 32, &b), STATUS_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtype_block_layouts),
        cmocka_unit_test(test_dtype_unknown_ids),
        cmocka_unit_test(test_dtype_row_bytes_checks_multiple_and_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
