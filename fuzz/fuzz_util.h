/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the libFuzzer harnesses: NUL-terminated copies of the
 * input and splitting it into fields, so one input can drive a function
 * that takes several strings. Each harness is one LLVMFuzzerTestOneInput.
 */
#ifndef XACCT_FUZZ_UTIL_H
#define XACCT_FUZZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A heap copy of (data, size) with a NUL after it (the input may hold NULs
 * too: the length is what counts). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL)
        abort();
    if (size > 0)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* Splits the NUL-terminated text s in place at each '\n' into at most max
 * fields; returns how many (at least 1). */
static inline size_t fuzz_split(char *s, char **fields, size_t max)
{
    size_t n = 0;
    fields[n++] = s;
    for (char *p = s; *p != '\0' && n < max; p++) {
        if (*p == '\n') {
            *p = '\0';
            fields[n++] = p + 1;
        }
    }
    return n;
}

/* A property the harness checks failed: crash, so libFuzzer keeps the input. */
#define FUZZ_ASSERT(cond)                                                           \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                \
        }                                                                           \
    } while (0)

#endif
