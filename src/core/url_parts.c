/* SPDX-License-Identifier: MIT */
/*
 * URLs split by uriparser. uriparser checks the RFC 3986 grammar and finds
 * the parts; this file adds what "a URL to connect to" needs on top of the
 * grammar (a scheme and a host, a host that cannot be read two ways, a port
 * in range) and copies the parts, as written, into one allocation.
 */
#include "xacct/url_parts.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <uriparser/Uri.h>

#define URL_MAX_LEN 8192u

static size_t range_len(const UriTextRangeA *r)
{
    return r->first != NULL && r->afterLast != NULL ? (size_t)(r->afterLast - r->first) : 0;
}

static int default_port(const char *scheme)
{
    if (strcmp(scheme, "https") == 0)
        return 443;
    if (strcmp(scheme, "http") == 0)
        return 80;
    if (strcmp(scheme, "redis") == 0 || strcmp(scheme, "rediss") == 0)
        return 6379;
    return -1;
}

/*
 * A registered name must be a DNS name. Names the C library would read as
 * an IPv4 address in another notation ("127.1", "0x7f.0.0.1", "010.0.0.1",
 * "2130706433") are refused: an allow-list compares names, the resolver would
 * connect to the number.
 */
static bool reg_name_ok(const char *h, size_t n)
{
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = h[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    char tmp[254];
    struct in_addr a;
    memcpy(tmp, h, n);
    tmp[n] = '\0';
    return inet_aton(tmp, &a) == 0;
}

/*
 * RFC 3986: query = *( pchar / "/" / "?" ), fragment the same, pchar =
 * unreserved / pct-encoded / sub-delims / ":" / "@". tail is "" or starts
 * with '?' or '#'; a '#' may follow a query once.
 */
static bool tail_ok(const char *tail)
{
    static const char pchar_etc[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                    "-._~"        /* unreserved */
                                    "!$&'()*+,;=" /* sub-delims */
                                    ":@/?";
    if (*tail == '\0')
        return true;
    bool in_fragment = *tail == '#';
    const char *p = tail + 1;
    for (;;) {
        p += strspn(p, pchar_etc);
        if (*p == '\0')
            return true;
        if (*p == '%' && isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2])) {
            p += 3;
        } else if (*p == '#' && !in_fragment) {
            in_fragment = true;
            p++;
        } else {
            return false;
        }
    }
}

/* Copies n bytes of s into the block at *at as a C string; returns it. */
static char *put(char **at, const char *s, size_t n)
{
    char *d = *at;
    if (n > 0)
        memcpy(d, s, n);
    d[n] = '\0';
    *at += n + 1;
    return d;
}

int xacct_url_parse(const char *url, xacct_url_parts_t *out)
{
    memset(out, 0, sizeof(*out));
    if (url == NULL)
        return XACCT_EPARSE;
    size_t len = strlen(url);
    if (len == 0 || len > URL_MAX_LEN)
        return XACCT_EPARSE;

    /* uriparser reads scheme, authority and path; the query and fragment
     * after them (most of a presigned URL's length, where uriparser spends
     * ~30 instructions a byte) only have to be RFC 3986 characters. */
    const char *tail = url + strcspn(url, "?#");
    if (!tail_ok(tail))
        return XACCT_EPARSE;
    UriUriA u;
    const char *errpos = NULL;
    if (uriParseSingleUriExA(&u, url, tail, &errpos) != URI_SUCCESS)
        return XACCT_EPARSE;

    int rc = XACCT_EPARSE;
    size_t scheme_n = range_len(&u.scheme);
    size_t host_n = range_len(&u.hostText);
    if (scheme_n == 0 || u.hostText.first == NULL || host_n == 0 ||
        u.hostData.ipFuture.first != NULL)
        goto out;
    bool v6 = u.hostData.ip6 != NULL;
    if (v6) {
        /* A zone ("%25eth0") or anything but the address itself is refused. */
        if (memchr(u.hostText.first, '%', host_n) != NULL)
            goto out;
    } else if (u.hostData.ip4 == NULL && !reg_name_ok(u.hostText.first, host_n)) {
        goto out;
    }

    size_t port_n = range_len(&u.portText);
    long port_num = -1;
    if (port_n > 0) {
        if (port_n > 5)
            goto out;
        port_num = 0;
        for (size_t i = 0; i < port_n; i++)
            port_num = port_num * 10 + (u.portText.first[i] - '0');
        if (port_num > 65535)
            goto out;
    }

    /* The authority ends after the port (or the ':' of an empty one), else
     * after the host and, for IPv6, its closing bracket. What follows is
     * the path up to '?' or '#', the query up to '#', and the fragment. */
    const char *auth_end =
        u.portText.first != NULL ? u.portText.afterLast : u.hostText.afterLast + (v6 ? 1 : 0);
    const char *end = url + len;
    const char *path = auth_end, *p = auth_end;
    while (p < end && *p != '?' && *p != '#')
        p++;
    size_t path_n = (size_t)(p - path);
    const char *query = NULL, *frag = NULL;
    size_t query_n = 0, frag_n = 0;
    if (p < end && *p == '?') {
        query = ++p;
        while (p < end && *p != '#')
            p++;
        query_n = (size_t)(p - query);
    }
    if (p < end && *p == '#') {
        frag = ++p;
        frag_n = (size_t)(end - frag);
    }

    size_t ui_n = range_len(&u.userInfo);
    const char *colon = u.userInfo.first != NULL ? memchr(u.userInfo.first, ':', ui_n) : NULL;

    /* Every part, NUL-terminated, in one block no longer than the URL plus
     * one terminator each. */
    char *mem = malloc(len + 8);
    if (mem == NULL) {
        rc = XACCT_ENOMEM;
        goto out;
    }
    char *at = mem;
    out->_mem = mem;
    out->scheme = put(&at, u.scheme.first, scheme_n);
    for (char *s = out->scheme; *s != '\0'; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
    if (u.userInfo.first != NULL) {
        size_t user_n = colon != NULL ? (size_t)(colon - u.userInfo.first) : ui_n;
        out->user = put(&at, u.userInfo.first, user_n);
        if (colon != NULL) {
            out->password = put(&at, colon + 1, ui_n - user_n - 1);
            out->password_off = (size_t)(colon + 1 - url);
            out->password_len = ui_n - user_n - 1;
        }
    }
    out->host = put(&at, u.hostText.first, host_n);
    out->host_ipv6 = v6;
    out->port_given = port_num >= 0;
    out->port = port_num >= 0 ? (int)port_num : default_port(out->scheme);
    out->path = put(&at, path, path_n);
    if (query != NULL)
        out->query = put(&at, query, query_n);
    if (frag != NULL)
        out->fragment = put(&at, frag, frag_n);
    rc = 0;
out:
    uriFreeUriMembersA(&u);
    return rc;
}

void xacct_url_parts_free(xacct_url_parts_t *u)
{
    if (u == NULL)
        return;
    free(u->_mem);
    memset(u, 0, sizeof(*u));
}

size_t xacct_url_host_header(const xacct_url_parts_t *u, char *buf, size_t len)
{
    size_t hn = strlen(u->host);
    bool show_port = u->port_given && u->port != default_port(u->scheme);
    size_t need = hn + (u->host_ipv6 ? 2 : 0) + (show_port ? 6 : 0) + 1;
    if (need > len)
        return 0;
    char *d = buf;
    if (u->host_ipv6)
        *d++ = '[';
    memcpy(d, u->host, hn);
    d += hn;
    if (u->host_ipv6)
        *d++ = ']';
    if (show_port) {
        char digits[6];
        int n = 0;
        unsigned v = (unsigned)u->port;
        do {
            digits[n++] = (char)('0' + v % 10);
            v /= 10;
        } while (v != 0);
        *d++ = ':';
        while (n > 0)
            *d++ = digits[--n];
    }
    *d = '\0';
    return (size_t)(d - buf);
}

char *xacct_url_escape(const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = malloc(len * 3 + 1);
    if (out == NULL)
        return NULL;
    char *d = out;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            *d++ = (char)c;
        } else {
            *d++ = '%';
            *d++ = hex[c >> 4];
            *d++ = hex[c & 15];
        }
    }
    *d = '\0';
    return out;
}
