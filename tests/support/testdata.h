/* SPDX-License-Identifier: MIT */
/*
 * Reading a file of the shared test data ($XACCT_TESTDATA, set by CTest) in a
 * cmocka test: the whole file, NUL-terminated, or the test fails.
 * Header-only, like the other helpers.
 */
#ifndef XACCT_TEST_TESTDATA_H
#define XACCT_TEST_TESTDATA_H

#include <stdio.h>
#include <stdlib.h>

#ifndef cmocka_unit_test
#error "include <cmocka.h> before testdata.h"
#endif

/* The file rel below $XACCT_TESTDATA (malloc'd, NUL-terminated; *len its
 * length without the NUL). */
static inline char *th_testdata(const char *rel, size_t *len)
{
    const char *base = getenv("XACCT_TESTDATA");
    if (base == NULL)
        fail_msg("XACCT_TESTDATA is not set");
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", base, rel);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

#endif
