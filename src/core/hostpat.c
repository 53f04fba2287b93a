/* SPDX-License-Identifier: MIT */
/*
 * Host allow-list patterns, matched one DNS label at a time (SPEC §6). This
 * is what decides which hosts a URL taken from a message may name, so it is
 * deliberately small: no '*' ever crosses a dot, an IP literal is matched
 * only by itself, and in sns.cert_hosts a '*' stands only for a region name.
 */
#include "xacct/hostpat.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "xacct/arn.h"

typedef struct host_pat {
    char host[XACCT_HOSTPAT_HOST_MAX + 1]; /* without brackets and trailing dot */
    int port;                              /* 443 when the pattern names none */
    bool wild;                             /* contains '*' */
    bool ip;                               /* an IP literal */
    int family;                            /* AF_INET / AF_INET6 when ip */
    unsigned char addr[16];                /* the address when ip */
} host_pat_t;

/* An IP literal in any form the resolver would take: inet_aton accepts
 * "127.1" and "0x7f000001" as well as dotted quads. */
static bool ip_literal(const char *s, unsigned char addr[16], int *family)
{
    struct in_addr a4;
    if (strchr(s, ':') != NULL) {
        *family = AF_INET6;
        return inet_pton(AF_INET6, s, addr) == 1;
    }
    if (inet_aton(s, &a4) != 0) {
        *family = AF_INET;
        memcpy(addr, &a4, sizeof(a4));
        return true;
    }
    return false;
}

static bool host_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '-' || c == '_';
}

static int parse_port(const char *s, int *port)
{
    long v = 0;
    if (*s == '\0' || strlen(s) > 5)
        return XACCT_EINVAL;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return XACCT_EINVAL;
        v = v * 10 + (*s - '0');
    }
    if (v < 1 || v > 65535)
        return XACCT_EINVAL;
    *port = (int)v;
    return 0;
}

/* Removes one trailing dot; false when what is left has an empty label. */
static bool trim_and_check_labels(char *h)
{
    size_t n = strlen(h);
    if (n > 0 && h[n - 1] == '.')
        h[--n] = '\0';
    if (n == 0 || h[0] == '.' || h[n - 1] == '.' || strstr(h, "..") != NULL)
        return false;
    return true;
}

static int parse_pattern(const char *s, bool port_required, unsigned flags, host_pat_t *hp)
{
    const char *host = s, *hend, *port = NULL;

    memset(hp, 0, sizeof(*hp));
    hp->port = 443;
    if (s == NULL)
        return XACCT_EINVAL;
    if (*s == '[') {
        host = s + 1;
        hend = strchr(host, ']');
        if (hend == NULL)
            return XACCT_EINVAL;
        if (hend[1] == ':')
            port = hend + 2;
        else if (hend[1] != '\0')
            return XACCT_EINVAL;
    } else {
        hend = strchr(s, ':');
        if (hend != NULL) {
            if (strchr(hend + 1, ':') != NULL)
                return XACCT_EINVAL; /* IPv6 literals go in brackets */
            port = hend + 1;
        } else {
            hend = s + strlen(s);
        }
    }
    if (hend == host || (size_t)(hend - host) > XACCT_HOSTPAT_HOST_MAX)
        return XACCT_EINVAL;
    if (port == NULL ? port_required : parse_port(port, &hp->port) != 0)
        return XACCT_EINVAL;
    memcpy(hp->host, host, (size_t)(hend - host));
    hp->host[hend - host] = '\0';
    if (*s == '[') {
        hp->ip = ip_literal(hp->host, hp->addr, &hp->family) && hp->family == AF_INET6;
        return hp->ip ? 0 : XACCT_EINVAL;
    }
    for (const char *c = hp->host; *c != '\0'; c++) {
        if (*c == '*')
            hp->wild = true;
        else if (!host_char((unsigned char)*c))
            return XACCT_EINVAL;
    }
    if (!trim_and_check_labels(hp->host))
        return XACCT_EINVAL;
    if (flags & XACCT_HOSTPAT_REGION) {
        /* One '*' per label, so what it stands for is unambiguous. */
        for (const char *l = hp->host; l != NULL;) {
            const char *dot = strchr(l, '.');
            size_t len = dot ? (size_t)(dot - l) : strlen(l);
            const char *star = memchr(l, '*', len);
            if (star != NULL && memchr(star + 1, '*', len - (size_t)(star - l) - 1) != NULL)
                return XACCT_EINVAL;
            l = dot ? dot + 1 : NULL;
        }
    }
    if (!hp->wild)
        hp->ip = ip_literal(hp->host, hp->addr, &hp->family);
    return 0;
}

int xacct_hostpat_check(const char *pattern, unsigned flags)
{
    host_pat_t hp;
    return parse_pattern(pattern, false, flags, &hp);
}

int xacct_hostpat_split(const char *s, bool port_required, char host[XACCT_HOSTPAT_HOST_MAX + 1],
                        int *port)
{
    host_pat_t hp;
    int rc = parse_pattern(s, port_required, 0, &hp);
    if (rc == 0 && hp.wild)
        rc = XACCT_EINVAL;
    if (rc != 0)
        return rc;
    memcpy(host, hp.host, sizeof(hp.host));
    *port = hp.port;
    return 0;
}

static bool ieq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i]))
            return false;
    return true;
}

static bool is_region(const char *s, size_t n)
{
    char r[32];
    if (n == 0 || n >= sizeof(r))
        return false;
    for (size_t i = 0; i < n; i++)
        r[i] = (char)tolower((unsigned char)s[i]);
    r[n] = '\0';
    return xacct_region_valid(r);
}

/* Glob within one label: each '*' stands for zero or more characters. The
 * single-backtrack-point algorithm is exact for '*'-only wildcards. */
static bool glob_label(const char *p, size_t pn, const char *h, size_t hn)
{
    size_t pi = 0, hi = 0, star = SIZE_MAX, mark = 0;
    while (hi < hn) {
        if (pi < pn && p[pi] == '*') {
            star = pi++;
            mark = hi;
        } else if (pi < pn && tolower((unsigned char)p[pi]) == tolower((unsigned char)h[hi])) {
            pi++;
            hi++;
        } else if (star != SIZE_MAX) {
            pi = star + 1;
            hi = ++mark;
        } else {
            return false;
        }
    }
    while (pi < pn && p[pi] == '*')
        pi++;
    return pi == pn;
}

static bool label_match(const char *p, size_t pn, const char *h, size_t hn, bool region)
{
    const char *star = memchr(p, '*', pn);
    if (star == NULL)
        return pn == hn && ieq(p, h, pn);
    if (pn == 1)
        return !region || is_region(h, hn); /* one whole label (never empty here) */
    if (!region)
        return glob_label(p, pn, h, hn);
    /* prefix '*' suffix, the middle a region name (one '*', see parse_pattern). */
    size_t pre = (size_t)(star - p), suf = pn - pre - 1;
    return hn > pre + suf && ieq(p, h, pre) && ieq(star + 1, h + hn - suf, suf) &&
           is_region(h + pre, hn - pre - suf);
}

bool xacct_hostpat_match(const char *pattern, const char *host, int port, unsigned flags)
{
    host_pat_t hp;
    char h[XACCT_HOSTPAT_HOST_MAX + 1];
    unsigned char addr[16];
    int family;
    size_t n;

    if (pattern == NULL || host == NULL || parse_pattern(pattern, false, flags, &hp) != 0)
        return false;
    if (port != hp.port)
        return false;
    n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        host++;
        n -= 2;
    }
    if (n == 0 || n > XACCT_HOSTPAT_HOST_MAX)
        return false;
    memcpy(h, host, n);
    h[n] = '\0';
    if (ip_literal(h, addr, &family)) {
        /* Only the very same address, never a wildcard. */
        return hp.ip && hp.family == family &&
               memcmp(hp.addr, addr, family == AF_INET ? 4 : 16) == 0;
    }
    for (const char *c = h; *c != '\0'; c++)
        if (!host_char((unsigned char)*c))
            return false;
    if (!trim_and_check_labels(h))
        return false;
    /* "127.0.0.1." is still that address to the resolver. */
    if (ip_literal(h, addr, &family))
        return hp.ip && hp.family == family &&
               memcmp(hp.addr, addr, family == AF_INET ? 4 : 16) == 0;
    if (hp.ip)
        return false;

    const char *p = hp.host, *q = h;
    for (;;) {
        const char *pd = strchr(p, '.'), *qd = strchr(q, '.');
        size_t pn = pd ? (size_t)(pd - p) : strlen(p);
        size_t qn = qd ? (size_t)(qd - q) : strlen(q);
        if (!label_match(p, pn, q, qn, (flags & XACCT_HOSTPAT_REGION) != 0))
            return false;
        if (pd == NULL || qd == NULL)
            return pd == NULL && qd == NULL; /* same number of labels */
        p = pd + 1;
        q = qd + 1;
    }
}

bool xacct_hostpat_allowed(const xacct_strlist_t *patterns, const char *host, int port,
                           unsigned flags)
{
    if (patterns == NULL)
        return false;
    for (size_t i = 0; i < patterns->n; i++)
        if (xacct_hostpat_match(patterns->items[i], host, port, flags))
            return true;
    return false;
}
