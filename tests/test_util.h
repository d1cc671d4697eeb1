/* test_util.h -- small helpers shared by the cmocka test programs. */
#ifndef MEMLLM_TEST_UTIL_H
#define MEMLLM_TEST_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/* A fresh private directory under $TMPDIR; owned, remove with test_rmtree(). */
static inline char *test_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char *path = malloc(4096);
    assert_non_null(path);
    snprintf(path, 4096, "%s/memllm-test-XXXXXX", base && base[0] ? base : "/tmp");
    assert_non_null(mkdtemp(path));
    return path;
}

static inline void test_rmtree(char *path)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    assert_int_equal(system(cmd), 0);
    free(path);
}

/* Path of a file in ../shared (owned), or NULL after printing a loud SKIP line when
 * the shared directory is not beside the checkout (as on a machine without it). */
static inline char *test_shared_path(const char *rel)
{
    const char *root = getenv("MEMLLM_SHARED");
    char *p = malloc(4096);
    assert_non_null(p);
    snprintf(p, 4096, "%s/%s", root && root[0] ? root : "../shared", rel);
    if (access(p, R_OK) != 0) {
        fprintf(stderr, "SKIP: %s not found (../shared is absent); golden test not run\n", p);
        free(p);
        return NULL;
    }
    return p;
}

#endif /* MEMLLM_TEST_UTIL_H */
