/* SPDX-License-Identifier: MIT */
/*
 * One HTTP transfer: turns an xacct_http_request_t into a configured curl easy
 * handle (copies of everything, safety options that callers cannot switch
 * off, response body capped), captures the response, and translates curl's
 * result into an XACCT_E* code. The extra trust anchors of AWS_CA_BUNDLE are
 * loaded here too, because they are added to each new TLS context.
 */
#include "http_int.h"

#include "xacct/metrics.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const methods[] = {"GET", "PUT", "POST", "DELETE", "HEAD"};

static bool method_ok(const char *m)
{
    if (m == NULL)
        return false;
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(methods); i++)
        if (strcmp(m, methods[i]) == 0)
            return true;
    return false;
}

/* Visible ASCII only: what curl sends of such a path or query is the text
 * itself (it would percent-encode anything else). */
static bool visible_ascii(const char *p)
{
    for (; *p != '\0'; p++)
        if (*p < 0x21 || *p > 0x7e)
            return false;
    return true;
}

/*
 * The URL is checked with curl's own parser, so what we accept is exactly
 * what curl will connect to. For an https URL, *origin gets its origin
 * ("host:port", the port filled in when the URL has none) for the TLS gate.
 *
 * When such a URL has a query, *target gets its request target ("path?
 * query", as curl would send it) and *base the URL without its query, which
 * is what curl is then given. libcurl 7.88 formats a URL's query through its
 * own printf, a byte at a time, three times a transfer (the URL it keeps,
 * the target for authentication, the request line), and a presigned
 * ResponseURL's query is most of a kilobyte. https only: over a proxy it is
 * tunnelled, so the request line never needs the absolute URL.
 */
static bool url_parse_ok(const char *url, char **origin, char **target, char **base)
{
    bool ok = false;
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *query = NULL;
    CURLU *u = curl_url();

    *origin = *target = *base = NULL;
    if (u == NULL || url == NULL)
        goto out;
    /* PATH_AS_IS, as the transfer sets it: the path is not normalised. */
    if (curl_url_set(u, CURLUPART_URL, url, CURLU_PATH_AS_IS) != CURLUE_OK)
        goto out;
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
        goto out;
    ok = strcasecmp(scheme, "http") == 0;
    if (strcasecmp(scheme, "https") != 0)
        goto out;
    ok = curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
         curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK;
    if (!ok)
        goto out;
    *origin = xacct__http_origin_key(host, port);
    if (curl_url_get(u, CURLUPART_QUERY, &query, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK || !visible_ascii(path) ||
        !visible_ascii(query))
        goto out;
    if (curl_url_set(u, CURLUPART_QUERY, NULL, 0) != CURLUE_OK ||
        curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_URL, base, 0) != CURLUE_OK)
        goto out;
    *target = xacct_strjoin(path, "?", query, (char *)NULL);
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    /* A query may be a presigned URL's signature and session token, or a
     * federation request's credentials. */
    if (query != NULL)
        OPENSSL_cleanse(query, strlen(query));
    curl_free(query);
    curl_url_cleanup(u);
    return ok;
}

/* url_parse_ok, remembered for URLs without a query: the check is a pure
 * function of the string, and an AWS endpoint's URL is the same for every
 * call to it (each check is several curl URL parses and part copies). */
static bool url_ok(struct xacct_http *h, const char *url, char **origin, char **target,
                   char **base)
{
    *origin = *target = *base = NULL;
    if (url == NULL)
        return false;
    for (size_t i = 0; i < XACCT_HTTP_URL_MEMO; i++) {
        const xacct_http_url_memo_t *m = &h->_url_memo[i];
        if (m->url != NULL && strcmp(m->url, url) == 0) {
            *origin = m->origin != NULL ? xacct_strdup(m->origin) : NULL;
            return true;
        }
    }
    if (!url_parse_ok(url, origin, target, base))
        return false;
    if (*target == NULL && strlen(url) <= XACCT_HTTP_URL_MEMO_MAX_LEN) {
        xacct_http_url_memo_t *m = &h->_url_memo[h->_url_memo_next];
        h->_url_memo_next = (h->_url_memo_next + 1) % XACCT_HTTP_URL_MEMO;
        free(m->url);
        free(m->origin);
        m->url = xacct_strdup(url);
        m->origin = *origin != NULL ? xacct_strdup(*origin) : NULL;
    }
    return true;
}

void xacct__http_url_memo_free(struct xacct_http *h)
{
    for (size_t i = 0; i < XACCT_HTTP_URL_MEMO; i++) {
        free(h->_url_memo[i].url);
        free(h->_url_memo[i].origin);
        h->_url_memo[i].url = h->_url_memo[i].origin = NULL;
    }
}

/* RFC 9110 token characters; anything else in a name could smuggle a header. */
static bool header_name_ok(const char *n)
{
    if (n == NULL || *n == '\0')
        return false;
    for (; *n != '\0'; n++) {
        unsigned char c = (unsigned char)*n;
        if (!isalnum(c) && strchr("!#$%&'*+-.^_`|~", c) == NULL)
            return false;
    }
    return true;
}

static bool header_value_ok(const char *v)
{
    return v != NULL && strpbrk(v, "\r\n") == NULL;
}

static bool has_header(const xacct_http_request_t *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return true;
    return false;
}

static int append_header(struct curl_slist **list, const char *line)
{
    struct curl_slist *l = curl_slist_append(*list, line);
    if (l == NULL)
        return XACCT_ENOMEM;
    *list = l;
    return 0;
}

/* Builds the header list. curl's rules: "Name: value" sends a header,
 * "Name;" sends it with an empty value, "Name:" suppresses one curl would add. */
static int build_headers(const xacct_http_request_t *req, bool has_body,
                         struct curl_slist **out)
{
    struct curl_slist *list = NULL;
    char *line = NULL;
    int rc = 0;

    *out = NULL;
    for (size_t i = 0; i < req->nheaders; i++) {
        const xacct_header_t *hd = &req->headers[i];
        if (!header_name_ok(hd->name) || !header_value_ok(hd->value)) {
            rc = XACCT_EINVAL;
            goto out;
        }
        if (hd->value[0] == '\0')
            line = xacct_strjoin(hd->name, ";", (char *)NULL);
        else
            line = xacct_strjoin(hd->name, ": ", hd->value, (char *)NULL);
        rc = append_header(&list, line);
        /* curl_slist_append copied it; this copy may hold a token. */
        xacct_free_secret(line);
        line = NULL;
        if (rc != 0)
            goto out;
    }
    /* No "Expect: 100-continue" round trip for large bodies. */
    if (!has_header(req, "Expect") && (rc = append_header(&list, "Expect:")) != 0)
        goto out;
    /* With a body curl would claim application/x-www-form-urlencoded;
     * a request says its content type or sends none. */
    if (has_body && !has_header(req, "Content-Type") &&
        (rc = append_header(&list, "Content-Type:")) != 0)
        goto out;
    *out = list;
    list = NULL;
out:
    curl_slist_free_all(list);
    return rc;
}

static size_t write_cb(char *p, size_t size, size_t n, void *userp)
{
    struct xacct_http_req *r = userp;
    size_t len = size * n;

    /* The caller only needs the status: the transfer ends at the cap (a
     * peer sending an endless body must not turn an answered request into
     * a timeout, nor keep us reading). */
    if (r->_cut_body) {
        size_t room = r->_resp_body.max - r->_resp_body.len;
        if (len > room) {
            r->_cut = xacct_buf_append(&r->_resp_body, p, room) == 0;
            return len == 0 ? 1 : 0; /* any count but len aborts the transfer */
        }
    }
    if (xacct_buf_append(&r->_resp_body, p, len) != 0) {
        r->_abort_status = XACCT_ETOOBIG;
        return len == 0 ? 1 : 0; /* any count but len aborts the transfer */
    }
    return len;
}

/* Headers are parsed by curl (read back with curl_easy_nextheader); this
 * callback only enforces the cap on how much a server may send. */
static size_t header_cb(char *p, size_t size, size_t n, void *userp)
{
    struct xacct_http_req *r = userp;
    size_t len = size * n;

    XACCT_UNUSED(p);
    r->_header_bytes += len;
    if (r->_header_bytes > XACCT_HTTP_MAX_HEADER_BYTES) {
        r->_abort_status = XACCT_ETOOBIG;
        return len == 0 ? 1 : 0;
    }
    return len;
}

/*
 * Every TLS connection verifies against the client's one trust store (see
 * xacct__http_trust_new). libcurl is told to load no CA file or directory
 * itself: with Debian's libcurl 7.88 it would parse the whole system bundle
 * again for every new connection (about 17 ms of CPU and 1 MB each), as its
 * CA cache does not apply while a CA directory is configured.
 */
static CURLcode ssl_ctx_cb(CURL *easy, void *sslctx, void *userp)
{
    struct xacct_http_req *r = NULL;

    SSL_CTX_set1_cert_store((SSL_CTX *)sslctx, (X509_STORE *)userp); /* takes a reference */
    if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&r) == CURLE_OK && r != NULL)
        xacct__http_gate_watch(r, (SSL_CTX *)sslctx);
    return CURLE_OK;
}

/* libcurl's built-in CA file and directory (what it would have loaded). */
static void curl_ca_defaults(char **file, char **dir)
{
    *file = *dir = NULL;
    CURL *easy = curl_easy_init();
    if (easy == NULL)
        return;
    char *p = NULL;
    if (curl_easy_getinfo(easy, CURLINFO_CAINFO, &p) == CURLE_OK && p != NULL)
        *file = xacct_strdup(p);
    p = NULL;
    if (curl_easy_getinfo(easy, CURLINFO_CAPATH, &p) == CURLE_OK && p != NULL)
        *dir = xacct_strdup(p);
    curl_easy_cleanup(easy);
}

/* True when dir holds OpenSSL's hashed names (c_rehash, Debian's
 * update-ca-certificates): "<8 hex digits>.<n>". */
static bool hashed_ca_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return false;
    bool hashed = false;
    struct dirent *e;
    while (!hashed && (e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        size_t i = 0;
        while (i < 8 && isxdigit((unsigned char)n[i]))
            i++;
        hashed = i == 8 && n[8] == '.' && isdigit((unsigned char)n[9]);
    }
    closedir(d);
    return hashed;
}

int xacct__http_trust_new(const char *ca_bundle, X509_STORE **out)
{
    int rc = XACCT_ECONFIG;
    STACK_OF(X509) *extra = NULL;
    char *file = NULL, *dir = NULL;
    X509_STORE *store = NULL;

    *out = NULL;
    if (ca_bundle != NULL && ca_bundle[0] != '\0' &&
        (rc = xacct__http_ca_load(ca_bundle, &extra)) != 0)
        goto out;
    rc = XACCT_ECONFIG;
    if ((store = X509_STORE_new()) == NULL) {
        rc = XACCT_ENOMEM;
        goto out;
    }
    /* The system trust, as libcurl would use it; OpenSSL's own defaults
     * (which honour SSL_CERT_FILE and SSL_CERT_DIR) if libcurl names none. */
    curl_ca_defaults(&file, &dir);
    if (file == NULL && dir == NULL) {
        if (X509_STORE_set_default_paths(store) != 1)
            goto out;
    } else if (dir != NULL && hashed_ca_dir(dir)) {
        /* The directory alone when it is hashed: OpenSSL reads a CA from it
         * when a chain needs one (and keeps it), where the file would be
         * parsed whole at start — ~750 KB of heap for Debian's ~140 CAs that
         * AWS's few chains never use. Debian builds both from one set. */
        if (X509_STORE_load_path(store, dir) != 1)
            goto out;
    } else {
        /* A missing file or directory leaves only what the other holds. */
        if (file != NULL && X509_STORE_load_file(store, file) != 1)
            ERR_clear_error();
        if (dir != NULL && X509_STORE_load_path(store, dir) != 1)
            ERR_clear_error();
    }
    /* AWS_CA_BUNDLE extends the system trust rather than replacing it. */
    for (int i = 0; i < sk_X509_num(extra); i++) {
        if (X509_STORE_add_cert(store, sk_X509_value(extra, i)) != 1)
            goto out;
    }
    *out = store;
    store = NULL;
    rc = 0;
out:
    if (rc != 0)
        ERR_clear_error();
    X509_STORE_free(store);
    sk_X509_pop_free(extra, X509_free);
    free(file);
    free(dir);
    return rc;
}

int xacct__http_ca_load(const char *path, STACK_OF(X509) **out)
{
    int rc = XACCT_ECONFIG;
    BIO *bio = NULL;
    STACK_OF(X509_INFO) *infos = NULL;
    STACK_OF(X509) *cas = NULL;

    *out = NULL;
    /* The certificates are handed to OpenSSL's store directly, so libcurl
     * must be using OpenSSL (Debian's libcurl4-openssl does). */
    const curl_version_info_data *vi = curl_version_info(CURLVERSION_NOW);
    if (vi == NULL || vi->ssl_version == NULL || strncmp(vi->ssl_version, "OpenSSL/", 8) != 0)
        goto out;
    if (path == NULL || (bio = BIO_new_file(path, "r")) == NULL)
        goto out;
    if ((infos = PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL)) == NULL)
        goto out;
    if ((cas = sk_X509_new_null()) == NULL) {
        rc = XACCT_ENOMEM;
        goto out;
    }
    for (int i = 0; i < sk_X509_INFO_num(infos); i++) {
        X509_INFO *info = sk_X509_INFO_value(infos, i);
        if (info->x509 == NULL)
            continue;
        if (sk_X509_push(cas, info->x509) <= 0) {
            rc = XACCT_ENOMEM;
            goto out;
        }
        info->x509 = NULL; /* now owned by cas */
    }
    if (sk_X509_num(cas) == 0)
        goto out;
    *out = cas;
    cas = NULL;
    rc = 0;
out:
    if (rc != 0)
        ERR_clear_error();
    sk_X509_pop_free(cas, X509_free);
    sk_X509_INFO_pop_free(infos, X509_INFO_free);
    BIO_free(bio);
    return rc;
}

bool xacct__http_addr_forbidden(const struct sockaddr *sa)
{
    const unsigned char *v4 = NULL;
    if (sa->sa_family == AF_INET) {
        v4 = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
    } else if (sa->sa_family == AF_INET6) {
        const unsigned char *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b};
        static const unsigned char ec2_imds[16] = {0xfd, 0x00, 0x0e, 0xc2, [14] = 0x02, 0x54};
        if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
            return true; /* fe80::/10 */
        if (memcmp(a, ec2_imds, 16) == 0)
            return true; /* fd00:ec2::254 */
        if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0)
            v4 = a + 12;
    }
    return v4 != NULL && v4[0] == 169 && v4[1] == 254;
}

/*
 * libcurl asks here for every socket it opens, after name resolution and
 * before connecting, so the address checked is the one that would be
 * reached: a name that resolves (or is rebound) to the metadata service is
 * caught however it is spelt. Refusing one address lets curl try the next.
 */
/* Every connection socket is opened here, so that the client knows it will
 * come back through xacct__http_close_socket; an untrusted URL's address is
 * checked first. */
static curl_socket_t open_socket_cb(void *clientp, curlsocktype purpose,
                                    struct curl_sockaddr *a)
{
    struct xacct_http_req *r = clientp;
    if (r->_untrusted && purpose == CURLSOCKTYPE_IPCXN && xacct__http_addr_forbidden(&a->addr)) {
        r->_abort_status = XACCT_EFORBIDDEN;
        return CURL_SOCKET_BAD;
    }
    curl_socket_t fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
    if (fd != CURL_SOCKET_BAD)
        xacct__http_socket_opened(r->_h, fd);
    return fd;
}

/* A connection libcurl opened for this transfer, by its handshake. */
static void count_connection(struct xacct_http_req *r)
{
    long fresh = 0;
    const struct curl_tlssessioninfo *tls = NULL;
    const char *kind = "none";

    if (curl_easy_getinfo(r->_easy, CURLINFO_NUM_CONNECTS, &fresh) != CURLE_OK || fresh <= 0)
        return;
    if (curl_easy_getinfo(r->_easy, CURLINFO_TLS_SSL_PTR, &tls) == CURLE_OK && tls != NULL &&
        tls->backend == CURLSSLBACKEND_OPENSSL && tls->internals != NULL)
        kind = SSL_session_reused((SSL *)tls->internals) ? "resumed" : "full";
    xacct_metrics_inc(r->_h->_metrics, XACCT_M_HTTP_CONNECTIONS, kind, NULL);
}

/* Whether the connection's peer is an address an untrusted URL may reach. */
static int untrusted_peer_check(struct xacct_http_req *r, const char *primary_ip)
{
    struct sockaddr_storage ss = {0};
    char ip[INET6_ADDRSTRLEN];
    bool parsed = false;

    size_t len = primary_ip != NULL ? strlen(primary_ip) : sizeof(ip);
    if (len < sizeof(ip)) {
        memcpy(ip, primary_ip, len + 1);
        ip[strcspn(ip, "%")] = '\0'; /* a scope, were one ever given */
        if (strchr(ip, ':') != NULL) {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
            s6->sin6_family = AF_INET6;
            parsed = inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1;
        } else {
            struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
            s4->sin_family = AF_INET;
            parsed = inet_pton(AF_INET, ip, &s4->sin_addr) == 1;
        }
    }
    /* An address that cannot be read is refused too. */
    if (!parsed || xacct__http_addr_forbidden((struct sockaddr *)&ss)) {
        r->_abort_status = XACCT_EFORBIDDEN;
        return CURL_PREREQFUNC_ABORT;
    }
    return CURL_PREREQFUNC_OK;
}

int xacct__http_prereq_cb(void *clientp, char *primary_ip, char *local_ip, int primary_port,
                          int local_port)
{
    struct xacct_http_req *r = clientp;

    XACCT_UNUSED(local_ip);
    XACCT_UNUSED(primary_port);
    XACCT_UNUSED(local_port);
    if (r->_h->_metrics != NULL)
        count_connection(r);
    return r->_untrusted ? untrusted_peer_check(r, primary_ip) : CURL_PREREQFUNC_OK;
}

/* Sets one option; a failure means this libcurl lacks a feature we rely on. */
#define SETOPT(opt, val)                                        \
    do {                                                        \
        if (curl_easy_setopt(r->_easy, (opt), (val)) != CURLE_OK) { \
            rc = XACCT_EHTTP;                                   \
            goto out;                                           \
        }                                                       \
    } while (0)

int xacct__http_req_new(struct xacct_http *h, const xacct_http_request_t *req,
                        xacct_http_done_cb cb, void *arg, struct xacct_http_req **out)
{
    struct xacct_http_req *r = NULL;
    char *origin = NULL, *target = NULL, *base = NULL;
    int rc = 0;

    *out = NULL;
    if (req == NULL || cb == NULL || !method_ok(req->method) || !url_ok(h, req->url, &origin, &target, &base) ||
        (req->nheaders > 0 && req->headers == NULL) ||
        (req->body_len > 0 && req->body == NULL) || req->timeout_ms < 0 ||
        req->connect_timeout_ms < 0) {
        rc = XACCT_EINVAL;
        goto out;
    }
    bool head = strcmp(req->method, "HEAD") == 0;
    bool get = strcmp(req->method, "GET") == 0;
    /* A body only goes with methods whose semantics define one. */
    if ((head || get) && req->body_len > 0) {
        rc = XACCT_EINVAL;
        goto out;
    }
    bool has_body = strcmp(req->method, "POST") == 0 || strcmp(req->method, "PUT") == 0 ||
                    req->body_len > 0;

    r = xacct_calloc(1, sizeof(*r));
    r->_h = h;
    r->_cb = cb;
    r->_arg = arg;
    r->_url = base != NULL ? xacct_strdup(base) : xacct_strdup(req->url);
    r->_origin_key = origin;
    origin = NULL;
    r->_target = target;
    target = NULL;
    r->_method = xacct_strdup(req->method);
    r->_body_len = req->body_len;
    r->_body = xacct_malloc(req->body_len + 1);
    if (req->body_len > 0)
        memcpy(r->_body, req->body, req->body_len);
    r->_body[req->body_len] = '\0';
    size_t max_body = req->max_body ? req->max_body : XACCT_HTTP_DEFAULT_MAX_BODY;
    xacct_buf_init(&r->_resp_body, max_body);
    if ((rc = build_headers(req, has_body, &r->_headers)) != 0)
        goto out;
    /* A finished transfer's handle, reset, saves curl_easy_init's set-up
     * and a fresh receive buffer. */
    r->_easy = h->_nspare > 0 ? h->_spare[--h->_nspare] : curl_easy_init();
    if (r->_easy == NULL) {
        rc = XACCT_ENOMEM;
        goto out;
    }

    SETOPT(CURLOPT_PRIVATE, (void *)r);
    if (h->_share != NULL)
        SETOPT(CURLOPT_SHARE, h->_share);
    SETOPT(CURLOPT_ERRORBUFFER, r->_errbuf);
    SETOPT(CURLOPT_URL, r->_url);
    /* Send the path exactly as given: SigV4 signs it as given. */
    SETOPT(CURLOPT_PATH_AS_IS, 1L);
    if (r->_target != NULL)
        SETOPT(CURLOPT_REQUEST_TARGET, r->_target);
    SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
    SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
    SETOPT(CURLOPT_CAINFO, NULL);
    SETOPT(CURLOPT_CAPATH, NULL);
    SETOPT(CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb);
    SETOPT(CURLOPT_SSL_CTX_DATA, (void *)h->_trust);
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    /* The socket's poll handle goes with it (http.c keeps one per socket). */
    SETOPT(CURLOPT_CLOSESOCKETFUNCTION, xacct__http_close_socket);
    SETOPT(CURLOPT_CLOSESOCKETDATA, (void *)h);
    SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
    r->_timeout_ms = req->timeout_ms ? (long)req->timeout_ms : XACCT_HTTP_DEFAULT_TIMEOUT_MS;
    SETOPT(CURLOPT_TIMEOUT_MS, r->_timeout_ms);
    SETOPT(CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms ? req->connect_timeout_ms
                                                              : XACCT_HTTP_DEFAULT_CONNECT_TIMEOUT_MS);
    /* libcurl copies every HTTPS request into an upload buffer it allocates
     * for the transfer and frees when it is done: at the smallest size it
     * allows it comes from the heap, not a mapping of 64 KB made and
     * unmapped per request (http_int.h). Requests are far smaller. */
    SETOPT(CURLOPT_UPLOAD_BUFFERSIZE, (long)XACCT_HTTP_UPLOAD_BUFFER);
    SETOPT(CURLOPT_BUFFERSIZE, (long)XACCT_HTTP_RECEIVE_BUFFER);
    SETOPT(CURLOPT_USERAGENT, h->_user_agent);
    SETOPT(CURLOPT_HTTPHEADER, r->_headers);
    SETOPT(CURLOPT_WRITEFUNCTION, write_cb);
    SETOPT(CURLOPT_WRITEDATA, (void *)r);
    SETOPT(CURLOPT_HEADERFUNCTION, header_cb);
    SETOPT(CURLOPT_HEADERDATA, (void *)r);
    /* Refuses early a body whose Content-Length is over the cap; bodies of
     * unknown length are stopped by write_cb. */
    if (!req->cut_body)
        SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max_body);
    if (h->_resolve != NULL)
        SETOPT(CURLOPT_RESOLVE, h->_resolve);
    if (!h->_proxy_env) {
        SETOPT(CURLOPT_PROXY, "");   /* none: libcurl does not read the environment */
        SETOPT(CURLOPT_NOPROXY, ""); /* nor no_proxy */
    }
    r->_untrusted = req->untrusted_url;
    r->_cut_body = req->cut_body;
    r->_status_is_answer = req->status_is_answer;
    /* A kept-alive connection is reused without a socket being opened: an
     * untrusted URL's address is checked again once libcurl has chosen the
     * connection, new or reused, before anything is sent. */
    if (r->_untrusted || h->_metrics != NULL) {
        SETOPT(CURLOPT_PREREQFUNCTION, xacct__http_prereq_cb);
        SETOPT(CURLOPT_PREREQDATA, (void *)r);
    }
    SETOPT(CURLOPT_OPENSOCKETFUNCTION, open_socket_cb);
    SETOPT(CURLOPT_OPENSOCKETDATA, (void *)r);
    if (req->untrusted_url) {
        /* A proxy would connect on our behalf, past the check above. */
        SETOPT(CURLOPT_NOPROXY, "*");
    }

    if (head) {
        SETOPT(CURLOPT_NOBODY, 1L);
    } else if (get) {
        SETOPT(CURLOPT_HTTPGET, 1L);
    } else {
        if (strcmp(req->method, "POST") != 0)
            SETOPT(CURLOPT_CUSTOMREQUEST, r->_method);
        if (has_body) {
            SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->_body_len);
            SETOPT(CURLOPT_POSTFIELDS, r->_body);
        }
    }
    *out = r;
    r = NULL;
out:
    free(origin);
    xacct_free_secret(target);
    curl_free(base);
    xacct__http_req_free(r);
    return rc;
}

#undef SETOPT

void xacct__http_spare_free(struct xacct_http *h)
{
    while (h->_nspare > 0)
        curl_easy_cleanup(h->_spare[--h->_nspare]);
}

void xacct__http_req_free(struct xacct_http_req *r)
{
    if (r == NULL)
        return;
    if (r->_easy != NULL) {
        struct xacct_http *h = r->_h;
        if (h != NULL && !h->_freeing && h->_nspare < XACCT_HTTP_SPARE_EASY) {
            /* Every option goes back to its default; the next transfer sets
             * its own. Connections, sessions and DNS live in the multi and
             * the share, not here. */
            curl_easy_reset(r->_easy);
            h->_spare[h->_nspare++] = r->_easy;
        } else {
            curl_easy_cleanup(r->_easy);
        }
    }
    /* Header lines carry X-Amz-Security-Token and container tokens. */
    for (struct curl_slist *l = r->_headers; l != NULL; l = l->next)
        OPENSSL_cleanse(l->data, strlen(l->data));
    curl_slist_free_all(r->_headers);
    free(r->_rhdrs);
    /* Request and response bodies may hold secrets (an ExternalId form,
     * credentials from STS or instance metadata): both are wiped. */
    xacct_buf_destroy_secret(&r->_resp_body);
    /* The target keeps the query (see url_parse_ok); so may the URL. */
    xacct_free_secret(r->_url);
    free(r->_origin_key);
    xacct_free_secret(r->_target);
    free(r->_method);
    if (r->_body != NULL)
        xacct_freezero(r->_body, r->_body_len + 1);
    free(r);
}

static int transfer_status(const struct xacct_http_req *r, CURLcode result)
{
    switch (result) {
    case CURLE_OK:
        return 0;
    case CURLE_OPERATION_TIMEDOUT:
        return XACCT_ETIMEOUT;
    case CURLE_COULDNT_CONNECT:
        /* open_socket_cb refused an address (and no other one connected). */
        return r->_abort_status == XACCT_EFORBIDDEN ? XACCT_EFORBIDDEN : XACCT_ECONNREFUSED;
    case CURLE_FILESIZE_EXCEEDED:
        return XACCT_ETOOBIG;
    case CURLE_WRITE_ERROR:
        if (r->_cut)
            return 0; /* stopped on purpose at the cap: the answer is complete */
        return r->_abort_status ? r->_abort_status : XACCT_EHTTP;
    case CURLE_ABORTED_BY_CALLBACK:
        return r->_abort_status ? r->_abort_status : XACCT_EHTTP;
    case CURLE_OUT_OF_MEMORY:
        return XACCT_ENOMEM;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED:
        return XACCT_ETLS;
    default:
        return XACCT_EHTTP;
    }
}

int xacct__http_req_status(const struct xacct_http_req *r, CURLcode result)
{
    int rc = transfer_status(r, result);
    long code = 0;
    /* The peer answered, then the transfer failed (CURLE_PARTIAL_FILE for a
     * connection closed before the body's end, a reset, a timeout): a
     * caller that acts on the status alone has its answer. Our own
     * cancelling is never one. */
    if (rc != 0 && rc != XACCT_ECANCELED && r->_status_is_answer &&
        curl_easy_getinfo(r->_easy, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code >= 200)
        return 0;
    return rc;
}

/* Copies the final response's headers (not those of 1xx responses or
 * trailers), names lower-cased, into one allocation: the array first, then
 * each "name\0value" (a response has a handful; one malloc, not one each). */
static int collect_headers(struct xacct_http_req *r)
{
    struct curl_header *hd = NULL;
    size_t n = 0, bytes = 0;

    while ((hd = curl_easy_nextheader(r->_easy, CURLH_HEADER, -1, hd)) != NULL) {
        if (++n > XACCT_HTTP_MAX_HEADERS)
            return XACCT_ETOOBIG;
        bytes += strlen(hd->name) + strlen(hd->value) + 2;
    }
    if (n == 0)
        return 0;
    r->_rhdrs = xacct_malloc(n * sizeof(*r->_rhdrs) + bytes);
    char *s = (char *)(r->_rhdrs + n);
    size_t i = 0;
    while (i < n && (hd = curl_easy_nextheader(r->_easy, CURLH_HEADER, -1, hd)) != NULL) {
        size_t nl = strlen(hd->name), vl = strlen(hd->value);
        r->_rhdrs[i].name = s;
        for (size_t k = 0; k < nl; k++)
            s[k] = (char)tolower((unsigned char)hd->name[k]);
        s[nl] = '\0';
        r->_rhdrs[i].value = s + nl + 1;
        memcpy(s + nl + 1, hd->value, vl + 1);
        s += nl + vl + 2;
        i++;
    }
    r->_resp.nheaders = i;
    return 0;
}

void xacct__http_req_collect(struct xacct_http_req *r, int status)
{
    if (status == 0) {
        long code = 0;
        double secs = 0;
        curl_easy_getinfo(r->_easy, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_getinfo(r->_easy, CURLINFO_TOTAL_TIME, &secs);
        r->_resp.status = code;
        r->_resp.total_seconds = secs;
        r->_resp.body = r->_resp_body.data ? r->_resp_body.data : "";
        r->_resp.body_len = r->_resp_body.len;
        status = collect_headers(r);
        r->_resp.headers = r->_rhdrs;
    }
    r->_status = status;
    switch (status) {
    case 0:
        r->_detail = NULL;
        break;
    case XACCT_ECANCELED:
        r->_detail = "transfer canceled";
        break;
    case XACCT_ETOOBIG:
        r->_detail = "response exceeds its size limit";
        break;
    default:
        r->_detail = r->_errbuf[0] ? r->_errbuf : xacct_strerror(status);
        break;
    }
}

void xacct__http_req_fire(struct xacct_http_req *r)
{
    r->_done = true;
    r->_cb(r->_status, r->_detail, r->_status == 0 ? &r->_resp : NULL, r->_arg);
}

const char *xacct_http_response_header(const xacct_http_response_t *resp, const char *name)
{
    if (resp == NULL || name == NULL)
        return NULL;
    for (size_t i = 0; i < resp->nheaders; i++)
        if (strcasecmp(resp->headers[i].name, name) == 0)
            return resp->headers[i].value;
    return NULL;
}
