/* SPDX-License-Identifier: MIT */
/*
 * SigV4 canonicalisation: URL splitting, the canonical URI, the canonical
 * query string and the canonical header block. Pure string work with no
 * crypto, kept apart from sigv4.c so each rule of the AWS specification can
 * be read (and unit-tested) on its own.
 */
#include "sigv4_int.h"
#include "xacct/hex.h"
#include "xacct/sigv4.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

int xacct_sigv4_uri_encode(xacct_buf_t *out, const char *s, size_t len, bool encode_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i = 0;
    while (i < len) {
        /* Runs of characters kept as they are go in with one append. */
        size_t run = i;
        while (run < len && (is_unreserved((unsigned char)s[run]) ||
                             (s[run] == '/' && !encode_slash)))
            run++;
        int rc = xacct_buf_append(out, s + i, run - i);
        if (rc == 0 && run < len) {
            unsigned char c = (unsigned char)s[run++];
            char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
            rc = xacct_buf_append(out, esc, sizeof(esc));
        }
        if (rc != 0)
            return rc;
        i = run;
    }
    return 0;
}

/* Percent-decodes s into out. A '%' not followed by two hex digits stands
 * for itself (the test suite's "%^" must come out as "%25%5E"), and '+' is
 * not a space: SigV4 follows RFC 3986, not HTML forms. */
static int pct_decode(xacct_buf_t *out, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        unsigned char byte;
        if (c == '%' && len - i >= 3 && xacct_hex_decode(s + i + 1, &byte, 1) == 0) {
            c = (char)byte;
            i += 2;
        }
        int rc = xacct_buf_putc(out, c);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int xacct__sigv4_url_parse(const char *url, xacct__sigv4_url_t *out)
{
    memset(out, 0, sizeof(*out));
    if (url == NULL)
        return XACCT_EINVAL;
    size_t total = strlen(url);
    if (total > XACCT_SIGV4_MAX_URL)
        return XACCT_ETOOBIG;

    const char *p;
    const char *default_port;
    if (strncasecmp(url, "https://", 8) == 0) {
        p = url + 8;
        default_port = "443";
    } else if (strncasecmp(url, "http://", 7) == 0) {
        p = url + 7;
        default_port = "80";
    } else {
        return XACCT_EINVAL;
    }

    size_t alen = strcspn(p, "/?");
    if (alen == 0 || memchr(p, '@', alen) != NULL)
        return XACCT_EINVAL; /* no host, or user info we would never sign */
    for (size_t i = 0; i < alen; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c <= ' ' || c >= 0x7f)
            return XACCT_EINVAL;
    }
    out->host = p;
    out->host_len = alen;
    /* A default port is left out of Host by HTTP clients (curl included), so
     * it must be left out of the signature too. The port is what follows the
     * last ':' after any IPv6 literal's ']'. */
    const char *rb = memchr(p, ']', alen);
    const char *scan = rb ? rb : p;
    const char *colon = NULL;
    for (const char *q = scan; q < p + alen; q++)
        if (*q == ':')
            colon = q;
    if (colon != NULL) {
        size_t plen = (size_t)(p + alen - colon - 1);
        if (plen == 0 || (plen == strlen(default_port) &&
                          memcmp(colon + 1, default_port, plen) == 0))
            out->host_len = (size_t)(colon - p);
        if (out->host_len == 0)
            return XACCT_EINVAL;
    }

    const char *rest = p + alen;
    size_t plen = strcspn(rest, "?");
    if (plen == 0) {
        out->path = "/";
        out->path_len = 1;
    } else {
        out->path = rest;
        out->path_len = plen;
    }
    if (rest[plen] == '?') {
        out->has_query = true;
        out->query = rest + plen + 1;
        out->query_len = strlen(out->query);
    } else {
        out->query = "";
        out->query_len = 0;
    }
    return 0;
}

/* One path segment, for normalisation. */
typedef struct seg {
    const char *p;
    size_t len;
} seg_t;

int xacct__sigv4_canonical_uri(xacct_buf_t *out, const char *path, size_t len, bool s3)
{
    int rc = 0;
    seg_t *segs = NULL;
    xacct_buf_t tmp;
    xacct_buf_init(&tmp, XACCT_SIGV4_MAX_URL);

    if (len == 0) {
        rc = xacct_buf_putc(out, '/');
        goto out;
    }
    if (s3) {
        /* S3 signs the object key itself: the path is decoded (the caller
         * sends it encoded) and encoded exactly once, '/' kept, nothing
         * normalised -- "a//b" and "a/./b" are distinct keys. */
        if ((rc = pct_decode(&tmp, path, len)) != 0)
            goto out;
        if (tmp.len == 0 || tmp.data[0] != '/')
            if ((rc = xacct_buf_putc(out, '/')) != 0)
                goto out;
        rc = xacct_sigv4_uri_encode(out, tmp.data ? tmp.data : "", tmp.len, false);
        goto out;
    }

    /* Every other service: remove dot segments and empty segments (RFC 3986
     * 5.2.4 plus collapsing "//"), then encode each segment as it stands.
     * Since the path arrives already encoded, this is AWS's "double
     * encoding". */
    size_t nmax = 1;
    for (size_t i = 0; i < len; i++)
        nmax += path[i] == '/';
    segs = xacct_calloc(nmax, sizeof(*segs));
    size_t n = 0;
    bool trailing = path[len - 1] == '/';
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && path[j] != '/')
            j++;
        const char *s = path + i;
        size_t sl = j - i;
        bool last = j >= len;
        if (sl == 0) {
            /* repeated or leading slash */
        } else if (sl == 1 && s[0] == '.') {
            if (last)
                trailing = true;
        } else if (sl == 2 && s[0] == '.' && s[1] == '.') {
            if (n > 0)
                n--;
            if (last)
                trailing = true;
        } else {
            segs[n].p = s;
            segs[n].len = sl;
            n++;
        }
        i = j + 1;
    }
    if ((rc = xacct_buf_putc(out, '/')) != 0)
        goto out;
    for (size_t k = 0; k < n; k++) {
        if ((rc = xacct_sigv4_uri_encode(out, segs[k].p, segs[k].len, true)) != 0)
            goto out;
        if ((k + 1 < n || trailing) && (rc = xacct_buf_putc(out, '/')) != 0)
            goto out;
    }
out:
    free(segs);
    xacct_buf_destroy(&tmp);
    return rc;
}

/* One decoded-then-encoded query parameter. */
typedef struct qparam {
    xacct_buf_t key; /* canonical (encoded) name */
    xacct_buf_t val; /* canonical (encoded) value */
} qparam_t;

static int qparam_cmp(const void *a, const void *b)
{
    const qparam_t *x = a, *y = b;
    int c = strcmp(x->key.data, y->key.data);
    return c != 0 ? c : strcmp(x->val.data, y->val.data);
}

/* Decodes then re-encodes one component, so "a%20b" and "a b" agree. */
static int requote(xacct_buf_t *out, const char *s, size_t len)
{
    xacct_buf_t tmp;
    xacct_buf_init(&tmp, XACCT_SIGV4_MAX_URL);
    int rc = pct_decode(&tmp, s, len);
    if (rc == 0)
        rc = xacct_sigv4_uri_encode(out, tmp.data ? tmp.data : "", tmp.len, true);
    if (rc == 0)
        rc = xacct_buf_puts(out, ""); /* make data non-NULL for strcmp */
    xacct_buf_destroy(&tmp);
    return rc;
}

int xacct__sigv4_canonical_query(xacct_buf_t *out, const char *query, size_t len)
{
    int rc = 0;
    size_t n = 0, cap = 0;
    qparam_t *ps = NULL;

    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && query[j] != '&')
            j++;
        if (j > i) { /* "a&&b" and a trailing '&' carry no parameter */
            if (n >= XACCT_SIGV4_MAX_QUERY_PARAMS) {
                rc = XACCT_ETOOBIG;
                goto out;
            }
            if (n == cap) {
                cap = cap ? cap * 2 : 8;
                ps = xacct_realloc(ps, cap * sizeof(*ps));
            }
            qparam_t *q = &ps[n++];
            xacct_buf_init(&q->key, XACCT_SIGV4_MAX_URL);
            xacct_buf_init(&q->val, XACCT_SIGV4_MAX_URL);
            const char *eq = memchr(query + i, '=', j - i);
            size_t klen = eq ? (size_t)(eq - (query + i)) : j - i;
            if ((rc = requote(&q->key, query + i, klen)) != 0)
                goto out;
            /* A name without '=' has an empty value. */
            if (eq != NULL)
                rc = requote(&q->val, eq + 1, (size_t)(query + j - eq - 1));
            else
                rc = requote(&q->val, "", 0);
            if (rc != 0)
                goto out;
        }
        i = j + 1;
    }
    if (n > 1)
        qsort(ps, n, sizeof(*ps), qparam_cmp);
    for (size_t k = 0; k < n; k++) {
        if ((k > 0 && (rc = xacct_buf_putc(out, '&')) != 0) ||
            (rc = xacct_buf_append(out, ps[k].key.data, ps[k].key.len)) != 0 ||
            (rc = xacct_buf_putc(out, '=')) != 0 ||
            (rc = xacct_buf_append(out, ps[k].val.data, ps[k].val.len)) != 0)
            goto out;
    }
out:
    for (size_t k = 0; k < n; k++) {
        xacct_buf_destroy(&ps[k].key);
        xacct_buf_destroy(&ps[k].val);
    }
    free(ps);
    return rc;
}

bool xacct__sigv4_query_has(const char *query, size_t len, const char *name)
{
    size_t nlen = strlen(name);
    bool found = false;
    xacct_buf_t key;
    xacct_buf_init(&key, XACCT_SIGV4_MAX_URL);
    size_t i = 0;
    while (i < len && !found) {
        size_t j = i;
        while (j < len && query[j] != '&')
            j++;
        const char *eq = memchr(query + i, '=', j - i);
        size_t klen = eq ? (size_t)(eq - (query + i)) : j - i;
        xacct_buf_reset(&key);
        if (pct_decode(&key, query + i, klen) == 0 && key.len == nlen &&
            memcmp(key.data, name, nlen) == 0)
            found = true;
        i = j + 1;
    }
    xacct_buf_destroy(&key);
    return found;
}

/* RFC 9110 token characters, the only ones a header name may hold. */
static bool is_tchar(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

int xacct__sigv4_trim_value(xacct_buf_t *out, const char *v)
{
    /* Trim, and collapse every inner run of blanks to one space ("a   b"
     * signs as "a b"). A folded value reaches us with its folds already
     * replaced by spaces, as RFC 9112 5.2 prescribes; CR and LF here would
     * be header injection and are refused. */
    bool pending_space = false;
    for (const char *p = v; *p != '\0'; p++) {
        char c = *p;
        if (c == '\r' || c == '\n')
            return XACCT_EINVAL;
        if (c == ' ' || c == '\t') {
            pending_space = out->len > 0;
            continue;
        }
        int rc;
        if (pending_space && (rc = xacct_buf_putc(out, ' ')) != 0)
            return rc;
        pending_space = false;
        if ((rc = xacct_buf_putc(out, c)) != 0)
            return rc;
    }
    return xacct_buf_puts(out, ""); /* data non-NULL even when empty */
}

/* One header being canonicalised. */
typedef struct chdr {
    char *name;        /* lower-cased copy, owned */
    size_t order;      /* position in the input, to keep duplicates in order */
    xacct_buf_t value; /* trimmed value */
} chdr_t;

static int chdr_cmp(const void *a, const void *b)
{
    const chdr_t *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c != 0)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

int xacct__sigv4_canonical_headers(xacct_buf_t *canon, xacct_buf_t *signed_names,
                                   const xacct_header_t *h, size_t n)
{
    int rc = 0;
    if (n > XACCT_SIGV4_MAX_HEADERS)
        return XACCT_ETOOBIG;
    chdr_t *hs = xacct_calloc(n, sizeof(*hs));
    for (size_t i = 0; i < n; i++)
        xacct_buf_init(&hs[i].value, XACCT_SIGV4_MAX_HEADER_VALUE);

    for (size_t i = 0; i < n; i++) {
        chdr_t *c = &hs[i];
        c->order = i;
        if (h[i].name == NULL || h[i].value == NULL || h[i].name[0] == '\0') {
            rc = XACCT_EINVAL;
            goto out;
        }
        c->name = xacct_strdup(h[i].name);
        for (char *p = c->name; *p != '\0'; p++) {
            if (!is_tchar((unsigned char)*p)) {
                rc = XACCT_EINVAL;
                goto out;
            }
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        }
        if ((rc = xacct__sigv4_trim_value(&c->value, h[i].value)) != 0)
            goto out;
    }
    if (n > 1)
        qsort(hs, n, sizeof(*hs), chdr_cmp);

    for (size_t i = 0; i < n; i++) {
        bool first = i == 0 || strcmp(hs[i - 1].name, hs[i].name) != 0;
        bool last = i + 1 == n || strcmp(hs[i + 1].name, hs[i].name) != 0;
        if (first) {
            if ((signed_names->len > 0 && (rc = xacct_buf_putc(signed_names, ';')) != 0) ||
                (rc = xacct_buf_puts(signed_names, hs[i].name)) != 0 ||
                (rc = xacct_buf_puts(canon, hs[i].name)) != 0 ||
                (rc = xacct_buf_putc(canon, ':')) != 0)
                goto out;
        } else if ((rc = xacct_buf_putc(canon, ',')) != 0) {
            goto out; /* a repeated name: values joined in order of appearance */
        }
        if ((rc = xacct_buf_append(canon, hs[i].value.data, hs[i].value.len)) != 0)
            goto out;
        if (last && (rc = xacct_buf_putc(canon, '\n')) != 0)
            goto out;
    }
out:
    for (size_t i = 0; i < n; i++) {
        free(hs[i].name);
        xacct_buf_destroy(&hs[i].value);
    }
    free(hs);
    return rc;
}
