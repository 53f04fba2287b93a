/* SPDX-License-Identifier: MIT */
/*
 * UTF-8 validation and cutting on character boundaries, with the same rules
 * as jansson's decoder (RFC 3629): a text that passes here is accepted by
 * json_string(), so an answer built from it cannot fail.
 */
#include "xacct/utf8.h"

#include <string.h>

#include "xacct/common.h"

size_t xacct_utf8_char_len(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    if (n == 0)
        return 0;
    unsigned char c = u[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c < 0x80)
        return 1;
    if (c < 0xC2)
        return 0; /* continuation byte, or an overlong 2-byte form */
    if (c < 0xE0) {
        len = 2;
    } else if (c < 0xF0) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* U+D800..U+DFFF, surrogates */
    } else if (c < 0xF5) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else {
        return 0; /* F5..FF never start a character */
    }
    if (n < len || u[1] < lo || u[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((u[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

bool xacct_utf8_valid(const char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        /* ASCII without NUL, the common case, eight bytes at a time: no byte
         * has its high bit set, and none is zero. */
        if (len - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if ((w & 0x8080808080808080ull) == 0 &&
                ((w - 0x0101010101010101ull) & ~w & 0x8080808080808080ull) == 0) {
                i += 8;
                continue;
            }
        }
        size_t k = xacct_utf8_char_len(s + i, len - i);
        if (k == 0 || s[i] == '\0')
            return false;
        i += k;
    }
    return true;
}

size_t xacct_utf8_prefix(const char *s, size_t len, size_t max)
{
    size_t i = 0;
    if (len <= max)
        return len;
    while (i < max) {
        size_t k = xacct_utf8_char_len(s + i, len - i);
        if (k == 0)
            k = 1;
        if (i + k > max)
            break;
        i += k;
    }
    return i;
}

size_t xacct_utf8_copy(char *dst, size_t cap, const char *src)
{
    if (cap == 0)
        return 0;
    size_t n = xacct_utf8_prefix(src, strlen(src), cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
    return n;
}

char *xacct_utf8_sanitize(const char *s)
{
    size_t n = strlen(s);
    char *o = xacct_malloc(n + 1);
    for (size_t i = 0; i < n;) {
        size_t k = xacct_utf8_char_len(s + i, n - i);
        if (k == 0) {
            o[i++] = '?';
        } else {
            memcpy(o + i, s + i, k);
            i += k;
        }
    }
    o[n] = '\0';
    return o;
}
