/* SPDX-License-Identifier: MIT */
/*
 * UTF-8 as jansson (and so every JSON answer) accepts it: shortest forms
 * only, no surrogates, nothing above U+10FFFF. Cutting text that goes into a
 * JSON document must keep whole characters, or the document cannot be built.
 */
#ifndef XACCT_UTF8_H
#define XACCT_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length (1-4) of the valid character at s (n bytes available), or 0 when
 * the bytes there are not one: a stray continuation byte, an overlong form,
 * a surrogate, a code point above U+10FFFF or a character cut short. */
size_t xacct_utf8_char_len(const char *s, size_t n);

/* True when s (len bytes) is valid UTF-8 with no NUL byte. */
bool xacct_utf8_valid(const char *s, size_t len);

/* The length of the longest prefix of s (len bytes) no longer than max that
 * ends on a character boundary (counted from the start of s, so invalid
 * bytes are single characters). */
size_t xacct_utf8_prefix(const char *s, size_t len, size_t max);

/* Copies the longest prefix of src that fits in cap-1 bytes and ends on a
 * character boundary into dst, NUL-terminated (cap > 0). Returns the bytes
 * copied. */
size_t xacct_utf8_copy(char *dst, size_t cap, const char *src);

/* A heap copy of s (which the caller frees) with every byte that is not part
 * of a valid character replaced by '?'; the length does not change. */
char *xacct_utf8_sanitize(const char *s);

#endif
