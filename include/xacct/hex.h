/* SPDX-License-Identifier: MIT */
/*
 * Hexadecimal digits in, bytes out: one spelling of the digit table for
 * every parser that reads hex (percent-escapes in SigV4 canonical URIs, the
 * SHA-256 hashes of the API tokens file). Pure functions, no allocation.
 */
#ifndef XACCT_HEX_H
#define XACCT_HEX_H

#include <stddef.h>

#include "xacct/common.h"

/* The value of one hex digit (0-9, a-f, A-F), or -1 for any other char. */
int xacct_hex_digit(char c);

/*
 * Decodes exactly 2 * n hex digits from hex into the n bytes at out.
 * Returns 0, or XACCT_EPARSE when a char is not a hex digit (out may then
 * hold part of the bytes). hex need not be NUL-terminated.
 */
int xacct_hex_decode(const char *hex, unsigned char *out, size_t n) XACCT_MUSTCHECK;

#endif
