/* SPDX-License-Identifier: MIT */
/*
 * A growable byte buffer with a hard maximum, for response bodies, JSON
 * output and canonical strings. It always keeps a NUL after the data so the
 * contents can be used as a C string. Old storage is wiped when the buffer
 * grows and when it is destroyed, so secrets leave no copies behind (what
 * xacct_buf_steal hands over is the caller's to wipe).
 */
#ifndef XACCT_BUF_H
#define XACCT_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "xacct/common.h"

typedef struct xacct_buf {
    char *data;   /* heap storage, NUL-terminated when non-NULL */
    size_t len;   /* bytes used, excluding the NUL */
    size_t cap;   /* bytes allocated */
    size_t max;   /* hard limit on len; 0 means XACCT_BUF_DEFAULT_MAX */
} xacct_buf_t;

#define XACCT_BUF_DEFAULT_MAX (64u * 1024u * 1024u)

/* Storage is provided by the caller; the buffer owns only ->data. */
void xacct_buf_init(xacct_buf_t *b, size_t max);
void xacct_buf_destroy(xacct_buf_t *b);
/* The same as destroy (which always wipes); names the intent at call sites
 * that hold secrets. */
void xacct_buf_destroy_secret(xacct_buf_t *b);
void xacct_buf_reset(xacct_buf_t *b);

/* Each returns 0 or XACCT_ETOOBIG (the buffer is left unchanged then). */
int xacct_buf_append(xacct_buf_t *b, const void *p, size_t n) XACCT_MUSTCHECK;
int xacct_buf_puts(xacct_buf_t *b, const char *s) XACCT_MUSTCHECK;
int xacct_buf_putc(xacct_buf_t *b, char c) XACCT_MUSTCHECK;
int xacct_buf_printf(xacct_buf_t *b, const char *fmt, ...) XACCT_PRINTF(2, 3) XACCT_MUSTCHECK;
int xacct_buf_vprintf(xacct_buf_t *b, const char *fmt, va_list ap) XACCT_MUSTCHECK;

/* Hands the data to the caller (who frees it) and resets the buffer. Never
 * returns NULL: an empty buffer yields "". */
char *xacct_buf_steal(xacct_buf_t *b);

#endif
