/* SPDX-License-Identifier: MIT */
/*
 * Hex decoding shared by the parsers that meet hex digits: the value of one
 * digit, and a fixed-length run of digit pairs into bytes.
 */
#include "xacct/hex.h"

int xacct_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int xacct_hex_decode(const char *hex, unsigned char *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int hi = xacct_hex_digit(hex[2 * i]), lo = xacct_hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return XACCT_EPARSE;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}
