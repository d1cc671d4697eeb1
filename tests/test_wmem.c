/* test_wmem.c -- the huge-page copy of model weights. */
#include "config.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "test_util.h"

#include "engine/wmem.h"

static void fill(unsigned char *p, size_t n, uint32_t seed)
{
    uint32_t x = seed;
    for (size_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        p[i] = (unsigned char)(x >> 24);
    }
}

/* A heap buffer at an odd offset, larger than one copy chunk: the copy holds the same
 * bytes at the same offset within a page, and the source is left as it was. */
static void test_wmem_copy_heap(void **state)
{
    (void)state;
    size_t n = ((size_t)70 << 20) + 12345;
    unsigned char *buf = malloc(n + 100);
    unsigned char *ref = malloc(n);
    assert_non_null(buf);
    assert_non_null(ref);
    unsigned char *src = buf + 37;
    fill(src, n, 1);
    memcpy(ref, src, n);
    struct wmem *w = NULL;
    const void *dst = NULL;
    assert_int_equal(wmem_copy(src, n, false, &w, &dst), STATUS_OK);
    assert_non_null(w);
    assert_int_equal(wmem_size(w), n);
    assert_ptr_not_equal(dst, src);
    long page = sysconf(_SC_PAGESIZE);
    assert_int_equal((uintptr_t)dst % (uintptr_t)page, (uintptr_t)src % (uintptr_t)page);
    assert_memory_equal(dst, ref, n);
    assert_memory_equal(src, ref, n);
    /* huge pages are the kernel's choice; never more than the mapping */
    assert_true(wmem_huge_bytes(w) <= n + ((size_t)4 << 20));
    printf("# huge pages available: %s; %zu of %zu bytes in huge pages\n",
           wmem_huge_pages() ? "yes" : "no", wmem_huge_bytes(w), n);
    wmem_free(w);
    free(buf);
    free(ref);
}

/* A private file mapping: after the copy releases the source's pages, reading the
 * mapping again gives the file's bytes (read back from the file), and the copy is
 * intact. */
static void test_wmem_copy_file_mapping(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/w.bin", dir);
    size_t n = ((size_t)9 << 20) + 777;
    unsigned char *ref = malloc(n);
    assert_non_null(ref);
    fill(ref, n, 2);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(ref, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    unsigned char *map = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0);
    assert_true(map != MAP_FAILED);
    close(fd);
    /* copy from an unaligned point inside the mapping */
    const unsigned char *src = map + 1000;
    size_t len = n - 1000 - 50;
    assert_memory_equal(src, ref + 1000, len); /* fault it in first */
    struct wmem *w = NULL;
    const void *dst = NULL;
    assert_int_equal(wmem_copy(src, len, true, &w, &dst), STATUS_OK);
    assert_memory_equal(dst, ref + 1000, len);
    assert_memory_equal(map, ref, n);
    wmem_free(w);
    munmap(map, n);
    free(ref);
    test_rmtree(dir);
}

static void test_wmem_rejects_empty(void **state)
{
    (void)state;
    struct wmem *w = NULL;
    const void *dst = NULL;
    unsigned char b = 0;
    assert_int_equal(wmem_copy(&b, 0, false, &w, &dst), STATUS_INVALID);
    assert_null(w);
    assert_null(dst);
    wmem_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wmem_copy_heap),
        cmocka_unit_test(test_wmem_copy_file_mapping),
        cmocka_unit_test(test_wmem_rejects_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
