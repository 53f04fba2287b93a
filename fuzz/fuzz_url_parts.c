/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes the URL parser every connection and allow-list check goes through.
 * Input: one URL. Properties of an accepted URL: the host is a DNS name the
 * resolver cannot read as a number, a dotted-quad IPv4 address or an IPv6
 * address; the port is in range; the path holds no '?' or '#' and the query
 * no '#'; path, query and fragment are the input's tail exactly as written;
 * the password lies where the parser says; the Host header names the host.
 */
#include <arpa/inet.h>

#include "fuzz_util.h"
#include "xacct/url_parts.h"

static bool dns_name(const char *h)
{
    for (const char *p = h; *p != '\0'; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.'))
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *url = fuzz_cstr(data, size);
    xacct_url_parts_t u;
    if (xacct_url_parse(url, &u) != 0) {
        FUZZ_ASSERT(u._mem == NULL && u.host == NULL);
        free(url);
        return 0;
    }
    size_t n = strlen(url);
    FUZZ_ASSERT(u.scheme[0] != '\0' && u.host[0] != '\0');
    struct in_addr a4;
    unsigned char a6[16];
    if (u.host_ipv6)
        FUZZ_ASSERT(inet_pton(AF_INET6, u.host, a6) == 1);
    else if (inet_pton(AF_INET, u.host, &a4) != 1)
        FUZZ_ASSERT(dns_name(u.host) && inet_aton(u.host, &a4) == 0);
    FUZZ_ASSERT(u.port >= -1 && u.port <= 65535);
    FUZZ_ASSERT(strpbrk(u.path, "?#") == NULL);
    FUZZ_ASSERT(u.query == NULL || strchr(u.query, '#') == NULL);

    /* The tail of the input is path ['?' query] ['#' fragment], verbatim. */
    size_t tail = strlen(u.path) + (u.query ? strlen(u.query) + 1 : 0) +
                  (u.fragment ? strlen(u.fragment) + 1 : 0);
    FUZZ_ASSERT(tail <= n);
    const char *t = url + n - tail;
    FUZZ_ASSERT(strncmp(t, u.path, strlen(u.path)) == 0);
    t += strlen(u.path);
    if (u.query != NULL) {
        FUZZ_ASSERT(*t == '?' && strncmp(t + 1, u.query, strlen(u.query)) == 0);
        t += 1 + strlen(u.query);
    }
    if (u.fragment != NULL)
        FUZZ_ASSERT(*t == '#' && strcmp(t + 1, u.fragment) == 0);

    if (u.password != NULL)
        FUZZ_ASSERT(u.password_off + u.password_len <= n &&
                    memcmp(url + u.password_off, u.password, u.password_len) == 0 &&
                    url[u.password_off - 1] == ':');
    else
        FUZZ_ASSERT(u.password_len == 0);

    char hh[400];
    size_t hn = xacct_url_host_header(&u, hh, sizeof(hh));
    if (hn > 0)
        FUZZ_ASSERT(strstr(hh, u.host) == hh + (u.host_ipv6 ? 1 : 0));
    xacct_url_parts_free(&u);
    free(url);
    return 0;
}
