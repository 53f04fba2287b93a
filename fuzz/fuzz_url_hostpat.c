/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes host patterns and URL checks. Input: pattern, host and URL on three
 * lines. Properties: a wildcard pattern never admits an IP literal, and a URL
 * the default ResponseURL and certificate lists admit is https to an
 * amazonaws host.
 */
#include <arpa/inet.h>

#include "fuzz_util.h"
#include "xacct/config.h"
#include "xacct/hostpat.h"
#include "xacct/url.h"

static bool is_ip(const char *h)
{
    char buf[300];
    struct in_addr a4;
    unsigned char a6[16];
    size_t n = strlen(h);
    if (n >= sizeof(buf))
        return false;
    memcpy(buf, h, n + 1);
    if (n > 0 && buf[n - 1] == '.')
        buf[--n] = '\0';
    if (n >= 2 && buf[0] == '[' && buf[n - 1] == ']') {
        buf[n - 1] = '\0';
        return inet_pton(AF_INET6, buf + 1, a6) == 1;
    }
    return inet_aton(buf, &a4) != 0 || inet_pton(AF_INET6, buf, a6) == 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char *cert_items[] = {"sns.*.amazonaws.com", "sns.*.amazonaws.com.cn"};
    static const xacct_strlist_t cert = {cert_items, 2};
    static char *resp_items[] = {
        "cloudformation-custom-resource-response-*.s3*.amazonaws.com",
        "cloudformation-custom-resource-response-*.s3.*.amazonaws.com",
        "cloudformation-custom-resource-response-*.s3*.amazonaws.com.cn",
        "cloudformation-custom-resource-response-*.s3.*.amazonaws.com.cn",
    };
    static const xacct_strlist_t resp = {resp_items, 4};

    char *s = fuzz_cstr(data, size);
    char *f[3] = {"", "", ""};
    fuzz_split(s, f, 3);

    for (unsigned flags = 0; flags <= XACCT_HOSTPAT_REGION; flags += XACCT_HOSTPAT_REGION) {
        (void)xacct_hostpat_check(f[0], flags);
        bool m = xacct_hostpat_match(f[0], f[1], 443, flags);
        if (m && is_ip(f[1]))
            FUZZ_ASSERT(strchr(f[0], '*') == NULL);
    }
    char host[XACCT_HOSTPAT_HOST_MAX + 1];
    int port;
    if (xacct_hostpat_split(f[0], false, host, &port) == 0)
        FUZZ_ASSERT(port >= 1 && port <= 65535 && strchr(host, '*') == NULL);

    char err[512];
    char *h = NULL, *path = NULL;
    const char *url = f[2][0] != '\0' ? f[2] : f[0];
    if (xacct_url_check_allowed(url, &resp, 0, "response_hosts", &h, &path, err, sizeof(err)) ==
        0) {
        FUZZ_ASSERT(!is_ip(h) && strcasestr(h, "amazonaws") != NULL);
        free(h);
        free(path);
    }
    if (xacct_url_check_allowed(url, &cert, XACCT_HOSTPAT_REGION, "cert_hosts", &h, NULL, err,
                                sizeof(err)) == 0) {
        FUZZ_ASSERT(!is_ip(h) && strcasestr(h, "amazonaws") != NULL);
        free(h);
    }
    free(s);
    return 0;
}
