/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the SigV4 signer: every case folder of the AWS test suite
 * in $XACCT_TESTDATA/sigv4 (canonical request, string to sign and
 * Authorization compared byte for byte), the S3 header and presigned-URL
 * examples from the S3 API reference, the signing-key cache, the
 * canonicalisation rules one by one, input validation, and the promise that
 * no secret reaches a result string.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "../../src/aws/sigv4_int.h"
#include "xacct/digest.h"
#include "xacct/sigv4.h"

/* The fixed parameters of the AWS suite (testdata/README.md, section 1). */
#define SUITE_AKID "AKIDEXAMPLE"
#define SUITE_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define SUITE_REGION "us-east-1"
#define SUITE_SERVICE "service"
#define SUITE_DATE "20150830T123600Z"

/* The S3 API reference examples use another secret (note '/' for '+'). */
#define S3_AKID "AKIAIOSFODNN7EXAMPLE"
#define S3_SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define S3_NOW ((time_t)1369353600) /* 20130524T000000Z */

#define MAX_FIXTURE (1024 * 1024)
#define MAX_REQ_HEADERS 64

static time_t parse_amz_date(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *end = strptime(s, "%Y%m%dT%H%M%SZ", &tm);
    assert_non_null(end);
    assert_int_equal(*end, '\0');
    return timegm(&tm);
}

/* Reads a whole file (NUL-terminated) or returns NULL. */
static char *read_file(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = malloc(MAX_FIXTURE + 1);
    size_t n = fread(buf, 1, MAX_FIXTURE + 1, f);
    fclose(f);
    if (n > MAX_FIXTURE) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    if (len_out != NULL)
        *len_out = n;
    return buf;
}

/* A raw HTTP request from a .req file. */
typedef struct raw_req {
    char *method;
    char *target; /* path[?query] exactly as written */
    char *names[MAX_REQ_HEADERS];
    char *values[MAX_REQ_HEADERS];
    size_t n;
    char *body;
    size_t body_len;
} raw_req_t;

static void raw_req_free(raw_req_t *r)
{
    free(r->method);
    free(r->target);
    for (size_t i = 0; i < r->n; i++) {
        free(r->names[i]);
        free(r->values[i]);
    }
    free(r->body);
    memset(r, 0, sizeof(*r));
}

/* Parses a .req file: request line, headers (obs-folded continuation lines
 * are unfolded into one space, RFC 9112 5.2), blank line, body. A leading
 * UTF-8 BOM (two suite files have one) is skipped. Returns 0 or -1. */
static int parse_req(const char *text, size_t len, raw_req_t *r)
{
    memset(r, 0, sizeof(*r));
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
        text += 3;
        len -= 3;
    }
    const char *end = text + len;
    const char *nl = memchr(text, '\n', len);
    const char *line_end = nl ? nl : end;
    const char *sp = memchr(text, ' ', (size_t)(line_end - text));
    const char *proto = NULL;
    for (const char *p = text; p + 6 <= line_end; p++)
        if (memcmp(p, " HTTP/", 6) == 0)
            proto = p;
    if (sp == NULL || proto == NULL || proto <= sp)
        return -1;
    r->method = strndup(text, (size_t)(sp - text));
    r->target = strndup(sp + 1, (size_t)(proto - sp - 1));

    const char *p = nl ? nl + 1 : end;
    while (p < end) {
        nl = memchr(p, '\n', (size_t)(end - p));
        line_end = nl ? nl : end;
        size_t ll = (size_t)(line_end - p);
        if (ll > 0 && p[ll - 1] == '\r')
            ll--;
        if (ll == 0) { /* blank line: the body follows */
            p = nl ? nl + 1 : end;
            r->body_len = (size_t)(end - p);
            r->body = strndup(p, r->body_len);
            return 0;
        }
        if (p[0] == ' ' || p[0] == '\t') {
            if (r->n == 0)
                return -1;
            const char *q = p;
            while (q < p + ll && (*q == ' ' || *q == '\t'))
                q++;
            char *old = r->values[r->n - 1];
            size_t ol = strlen(old), ql = (size_t)(p + ll - q);
            char *v = malloc(ol + 1 + ql + 1);
            memcpy(v, old, ol);
            v[ol] = ' ';
            memcpy(v + ol + 1, q, ql);
            v[ol + 1 + ql] = '\0';
            free(old);
            r->values[r->n - 1] = v;
        } else {
            const char *colon = memchr(p, ':', ll);
            if (colon == NULL || r->n == MAX_REQ_HEADERS)
                return -1;
            r->names[r->n] = strndup(p, (size_t)(colon - p));
            r->values[r->n] = strndup(colon + 1, (size_t)(p + ll - colon - 1));
            r->n++;
        }
        p = nl ? nl + 1 : end;
    }
    r->body = strdup("");
    return 0;
}

static const char *raw_header(const raw_req_t *r, const char *name)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcasecmp(r->names[i], name) == 0)
            return r->values[i];
    return NULL;
}

/* Tallies for one walk over the suite. */
typedef struct suite_stats {
    int folders; /* case folders found (directories without subdirectories) */
    int passed;  /* cases whose three outputs all matched */
    int failed;  /* cases that mismatched or could not be loaded */
} suite_stats_t;

static bool check_eq(const char *casename, const char *what, const char *want,
                     const char *got)
{
    if (got != NULL && strcmp(want, got) == 0)
        return true;
    print_error("%s: %s mismatch\n--- expected\n%s\n--- got\n%s\n", casename, what, want,
                got ? got : "(null)");
    return false;
}

/* Signs one case folder and compares .creq, .sts and .authz. */
static bool run_case(xacct_sigv4_cache_t *cache, const char *dir, const char *name)
{
    char path[4096];
    char *files[4] = {NULL, NULL, NULL, NULL};
    static const char *const ext[4] = {"req", "creq", "sts", "authz"};
    size_t req_len = 0;
    bool ok = false;
    raw_req_t r;
    memset(&r, 0, sizeof(r));
    xacct_sigv4_result_t res;
    memset(&res, 0, sizeof(res));
    char *url = NULL;

    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof(path), "%s/%s.%s", dir, name, ext[i]);
        files[i] = read_file(path, i == 0 ? &req_len : NULL);
        if (files[i] == NULL) {
            print_error("%s: cannot load %s\n", name, path);
            goto out;
        }
    }
    if (parse_req(files[0], req_len, &r) != 0) {
        print_error("%s: cannot parse the request\n", name);
        goto out;
    }
    const char *host = raw_header(&r, "host");
    const char *date = raw_header(&r, "x-amz-date");
    const char *token = raw_header(&r, "x-amz-security-token");
    if (host == NULL || date == NULL || strcmp(date, SUITE_DATE) != 0) {
        print_error("%s: request lacks Host or the suite's X-Amz-Date\n", name);
        goto out;
    }

    /* X-Amz-Date and X-Amz-Security-Token are left for the signer to add:
     * the token comes in through the credentials (post-sts-header-before);
     * post-sts-header-after is the variant where it is added after signing,
     * i.e. signed without it. */
    xacct_header_t hdrs[MAX_REQ_HEADERS];
    size_t n = 0;
    for (size_t i = 0; i < r.n; i++) {
        if (strcasecmp(r.names[i], "x-amz-date") == 0 ||
            strcasecmp(r.names[i], "x-amz-security-token") == 0)
            continue;
        hdrs[n++] = (xacct_header_t){r.names[i], r.values[i]};
    }
    url = xacct_asprintf("https://%s%s", host, r.target);
    xacct_sigv4_request_t req = {
        .method = r.method,
        .url = url,
        .headers = hdrs,
        .nheaders = n,
        .body = r.body,
        .body_len = r.body_len,
        .region = SUITE_REGION,
        .service = SUITE_SERVICE,
        .now = parse_amz_date(SUITE_DATE),
    };
    xacct_sigv4_credentials_t creds = {SUITE_AKID, SUITE_SECRET, token, NULL};
    int rc = xacct_sigv4_sign(cache, &req, &creds, &res);
    if (rc != 0) {
        print_error("%s: sign failed: %s\n", name, xacct_errname(rc));
        goto out;
    }
    ok = check_eq(name, "canonical request", files[1], res.canonical_request);
    ok = check_eq(name, "string to sign", files[2], res.string_to_sign) && ok;
    ok = check_eq(name, "authorization", files[3], res.authorization) && ok;
    ok = check_eq(name, "x-amz-date", date, res.amz_date) && ok;
    if (token != NULL)
        ok = check_eq(name, "security token", token, res.security_token) && ok;
    else if (res.security_token != NULL)
        ok = false;
out:
    for (int i = 0; i < 4; i++)
        free(files[i]);
    free(url);
    raw_req_free(&r);
    xacct_sigv4_result_destroy(&res);
    return ok;
}

static void walk(xacct_sigv4_cache_t *cache, const char *dir, suite_stats_t *st)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    char **subs = NULL;
    size_t nsubs = 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char *p = xacct_asprintf("%s/%s", dir, de->d_name);
        struct stat sb;
        if (stat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            subs = realloc(subs, (nsubs + 1) * sizeof(*subs));
            subs[nsubs++] = p;
        } else {
            free(p);
        }
    }
    closedir(d);

    if (nsubs == 0) {
        /* A leaf directory is a case folder; group folders (normalize-path,
         * post-sts-token) only hold cases and prose notes. */
        const char *base = strrchr(dir, '/');
        base = base ? base + 1 : dir;
        st->folders++;
        if (run_case(cache, dir, base))
            st->passed++;
        else
            st->failed++;
    }
    for (size_t i = 0; i < nsubs; i++) {
        walk(cache, subs[i], st);
        free(subs[i]);
    }
    free(subs);
}

static void test_aws_suite(void **state)
{
    (void)state;
    const char *td = getenv("XACCT_TESTDATA");
    if (td == NULL || td[0] == '\0')
        fail_msg("XACCT_TESTDATA is not set");
    char *root = xacct_asprintf("%s/sigv4", td);
    struct stat sb;
    if (stat(root, &sb) != 0 || !S_ISDIR(sb.st_mode))
        fail_msg("no suite at %s", root);

    xacct_sigv4_cache_t *cache = xacct_sigv4_cache_new();
    suite_stats_t st = {0, 0, 0};
    walk(cache, root, &st);
    print_message("sigv4 suite: %d case folders, %d passed, %d failed\n", st.folders,
                  st.passed, st.failed);
    assert_true(st.folders > 0);
    assert_int_equal(st.failed, 0);
    assert_int_equal(st.passed, st.folders);

    /* Every case shares one scope, so all but the first reused the key. */
    unsigned long hits, misses;
    size_t used;
    xacct__sigv4_cache_stats(cache, &hits, &misses, &used);
    assert_int_equal(misses, 1);
    assert_int_equal(hits, (unsigned long)st.folders - 1);
    xacct_sigv4_cache_free(cache);
    free(root);
}

/* The S3 documentation's examples: GET examplebucket/test.txt on
 * 2013-05-24 in us-east-1. */
static xacct_sigv4_request_t s3_example_get(void)
{
    return (xacct_sigv4_request_t){
        .method = "GET",
        .url = "https://examplebucket.s3.amazonaws.com/test.txt",
        .region = "us-east-1",
        .service = "s3",
        .now = S3_NOW,
        .s3 = true,
    };
}

/* S3 API reference, "Authenticating Requests: Using the Authorization
 * Header", Example: GET Object (first 10 bytes of examplebucket/test.txt). */
static void test_s3_get_object_example(void **state)
{
    (void)state;
    const xacct_header_t hdrs[] = {{"Range", "bytes=0-9"}};
    xacct_sigv4_request_t req = s3_example_get();
    req.headers = hdrs;
    req.nheaders = 1;
    xacct_sigv4_credentials_t creds = {S3_AKID, S3_SECRET, NULL, NULL};
    xacct_sigv4_result_t res;
    assert_int_equal(xacct_sigv4_sign(NULL, &req, &creds, &res), 0);
    assert_string_equal(res.canonical_request,
                        "GET\n/test.txt\n\n"
                        "host:examplebucket.s3.amazonaws.com\n"
                        "range:bytes=0-9\n"
                        "x-amz-content-sha256:"
                        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
                        "x-amz-date:20130524T000000Z\n\n"
                        "host;range;x-amz-content-sha256;x-amz-date\n"
                        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_string_equal(res.string_to_sign,
                        "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
                        "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
    assert_string_equal(res.authorization,
                        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
                        "aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
                        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    assert_string_equal(res.content_sha256,
                        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_string_equal(res.amz_date, "20130524T000000Z");
    assert_null(res.security_token);
    xacct_sigv4_result_destroy(&res);

    /* The same request with UNSIGNED-PAYLOAD signs that literal instead. */
    req.payload_hash = XACCT_SIGV4_UNSIGNED_PAYLOAD;
    assert_int_equal(xacct_sigv4_sign(NULL, &req, &creds, &res), 0);
    assert_string_equal(res.content_sha256, "UNSIGNED-PAYLOAD");
    assert_non_null(strstr(res.canonical_request, "x-amz-content-sha256:UNSIGNED-PAYLOAD\n"));
    assert_non_null(strstr(res.canonical_request, "\nUNSIGNED-PAYLOAD"));
    assert_null(strstr(res.authorization, "f0e8bdb87c96"));
    xacct_sigv4_result_destroy(&res);
}

/* S3 API reference, "Authenticating Requests: Using Query Parameters",
 * the presigned GET of examplebucket/test.txt valid for 86400 s. */
static void test_s3_presign_example(void **state)
{
    (void)state;
    xacct_sigv4_request_t req = s3_example_get();
    xacct_sigv4_credentials_t creds = {S3_AKID, S3_SECRET, NULL, NULL};
    char *url = NULL;
    assert_int_equal(xacct_sigv4_presign(NULL, &req, &creds, 86400, &url), 0);
    assert_string_equal(
        url, "https://examplebucket.s3.amazonaws.com/test.txt"
             "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
             "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
             "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
             "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
    free(url);
}

static void test_presign_expires_bounds(void **state)
{
    (void)state;
    xacct_sigv4_request_t req = s3_example_get();
    xacct_sigv4_credentials_t creds = {S3_AKID, S3_SECRET, NULL, NULL};
    const long bad[] = {0, -1, 604801, 100000000L};
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(bad); i++) {
        char *url = (char *)"sentinel";
        assert_int_equal(xacct_sigv4_presign(NULL, &req, &creds, bad[i], &url), XACCT_EINVAL);
        assert_null(url);
    }
    const long good[] = {1, 604800};
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(good); i++) {
        char *url = NULL;
        char want[64];
        assert_int_equal(xacct_sigv4_presign(NULL, &req, &creds, good[i], &url), 0);
        snprintf(want, sizeof(want), "&X-Amz-Expires=%ld&", good[i]);
        assert_non_null(strstr(url, want));
        free(url);
    }
}

static void test_presign_query_token_headers(void **state)
{
    (void)state;
    const xacct_header_t hdrs[] = {{"Content-Type", "application/json"}};
    xacct_sigv4_request_t req = {
        .method = "PUT",
        .url = "https://examplebucket.s3.amazonaws.com/a%20b.json?partNumber=1&uploadId=x",
        .headers = hdrs,
        .nheaders = 1,
        .region = "eu-west-1",
        .service = "s3",
        .now = S3_NOW,
        .s3 = true,
    };
    xacct_sigv4_credentials_t creds = {S3_AKID, S3_SECRET, "tok/en+=", NULL};
    char *with = NULL, *without = NULL;
    assert_int_equal(xacct_sigv4_presign(NULL, &req, &creds, 900, &with), 0);
    /* The original URL is kept and the parameters follow with '&'. */
    const char *prefix =
        "https://examplebucket.s3.amazonaws.com/a%20b.json?partNumber=1&uploadId=x"
        "&X-Amz-Algorithm=AWS4-HMAC-SHA256&";
    assert_memory_equal(with, prefix, strlen(prefix));
    assert_non_null(strstr(with, "&X-Amz-SignedHeaders=content-type%3Bhost&"));
    assert_non_null(strstr(with, "&X-Amz-Security-Token=tok%2Fen%2B%3D&X-Amz-Signature="));
    assert_non_null(strstr(with, "%2Feu-west-1%2Fs3%2Faws4_request&"));

    creds.session_token = NULL;
    assert_int_equal(xacct_sigv4_presign(NULL, &req, &creds, 900, &without), 0);
    assert_null(strstr(without, "X-Amz-Security-Token"));
    /* The token is signed: the two signatures differ. */
    const char *s1 = strstr(with, "X-Amz-Signature=");
    const char *s2 = strstr(without, "X-Amz-Signature=");
    assert_non_null(s1);
    assert_non_null(s2);
    assert_string_not_equal(s1, s2);
    free(with);
    free(without);

    /* A URL that already carries SigV4 parameters is refused. */
    char *url = NULL;
    req.url = "https://examplebucket.s3.amazonaws.com/k?X-Amz-Signature=00";
    assert_int_equal(xacct_sigv4_presign(NULL, &req, &creds, 900, &url), XACCT_EINVAL);
    assert_null(url);
    /* "?" alone: nothing doubled. */
    req.url = "https://examplebucket.s3.amazonaws.com/k?";
    assert_int_equal(xacct_sigv4_presign(NULL, &req, &creds, 900, &url), 0);
    assert_non_null(strstr(url, "/k?X-Amz-Algorithm="));
    free(url);
}

static void test_presign_non_s3_signs_body_hash(void **state)
{
    (void)state;
    /* Not S3: no UNSIGNED-PAYLOAD, the (empty) body's hash is signed, and
     * the path is normalised. A signature must be 64 hex digits. */
    xacct_sigv4_request_t req = {
        .method = "GET",
        .url = "https://sts.us-east-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15",
        .region = "us-east-1",
        .service = "sts",
        .now = S3_NOW,
    };
    xacct_sigv4_credentials_t creds = {S3_AKID, S3_SECRET, NULL, NULL};
    char *url = NULL;
    assert_int_equal(xacct_sigv4_presign(NULL, &req, &creds, 60, &url), 0);
    const char *sig = strstr(url, "&X-Amz-Signature=");
    assert_non_null(sig);
    sig += strlen("&X-Amz-Signature=");
    assert_int_equal(strlen(sig), 64);
    assert_int_equal(strspn(sig, "0123456789abcdef"), 64);
    free(url);
    req.payload_hash = XACCT_SIGV4_UNSIGNED_PAYLOAD;
    assert_int_equal(xacct_sigv4_presign(NULL, &req, &creds, 60, &url), XACCT_EINVAL);
    assert_null(url);
}

static void hex32(const unsigned char k[32], char out[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", k[i]);
}

/* The 2012-02-15 us-east-1 IAM key for secret, through cache c. */
static void iam_key(xacct_sigv4_cache_t *c, const char *secret, unsigned char out[32])
{
    assert_int_equal(
        xacct__sigv4_signing_key(c, SUITE_AKID, secret, "20120215", "us-east-1", "iam", out), 0);
}

static void assert_cache(xacct_sigv4_cache_t *c, unsigned long hits, unsigned long misses,
                         size_t *used)
{
    unsigned long h, m;
    xacct__sigv4_cache_stats(c, &h, &m, used);
    assert_int_equal(h, hits);
    assert_int_equal(m, misses);
}

static void test_signing_key_cache(void **state)
{
    (void)state;
    unsigned char k1[32], k2[32], k3[32], ref[32];
    char hex[65];
    unsigned long hits, misses;
    size_t used;

    /* AWS's published derivation example (IAM, 20120215). */
    iam_key(NULL, SUITE_SECRET, ref);
    hex32(ref, hex);
    assert_string_equal(hex, "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");

    xacct_sigv4_cache_t *c = xacct_sigv4_cache_new();
    iam_key(c, SUITE_SECRET, k1);
    assert_cache(c, 0, 1, &used);
    assert_int_equal(used, 1);
    assert_memory_equal(k1, ref, 32);

    /* Same tuple: served from the cache, same bytes. */
    memset(k2, 0, sizeof(k2));
    iam_key(c, SUITE_SECRET, k2);
    assert_cache(c, 1, 1, &used);
    assert_memory_equal(k2, ref, 32);

    /* Each element of the tuple matters. */
    struct {
        const char *akid, *secret, *date, *region, *service;
    } other[] = {
        {SUITE_AKID, SUITE_SECRET, "20120216", "us-east-1", "iam"},
        {SUITE_AKID, SUITE_SECRET, "20120215", "eu-west-1", "iam"},
        {SUITE_AKID, SUITE_SECRET, "20120215", "us-east-1", "sts"},
        {SUITE_AKID, "another-secret", "20120215", "us-east-1", "iam"},
    };
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(other); i++) {
        assert_int_equal(xacct__sigv4_signing_key(c, other[i].akid, other[i].secret,
                                                  other[i].date, other[i].region,
                                                  other[i].service, k3),
                         0);
        assert_memory_not_equal(k3, ref, 32);
        assert_cache(c, 1, 2 + i, &used);
    }
    /* Bounded: five distinct tuples, at most XACCT_SIGV4_CACHE_SLOTS kept. */
    assert_int_equal(used, XACCT_SIGV4_CACHE_SLOTS);

    /* Least recently used goes first: the last tuple is still there, the
     * first (oldest) one was evicted. */
    iam_key(c, "another-secret", k3);
    xacct__sigv4_cache_stats(c, &hits, &misses, &used);
    assert_int_equal(hits, 2);
    iam_key(c, SUITE_SECRET, k3);
    assert_cache(c, 2, 6, &used);
    assert_memory_equal(k3, ref, 32);
    xacct_sigv4_cache_free(c);
    xacct_sigv4_cache_free(NULL);
}

static void test_sign_with_cache_is_stable(void **state)
{
    (void)state;
    xacct_sigv4_request_t req = {
        .method = "POST",
        .url = "https://sqs.us-east-1.amazonaws.com/",
        .body = "{}",
        .body_len = 2,
        .region = "us-east-1",
        .service = "sqs",
        .now = S3_NOW,
    };
    xacct_sigv4_credentials_t creds = {S3_AKID, S3_SECRET, NULL, NULL};
    xacct_sigv4_cache_t *c = xacct_sigv4_cache_new();
    xacct_sigv4_result_t a, b, u;
    assert_int_equal(xacct_sigv4_sign(c, &req, &creds, &a), 0);
    assert_int_equal(xacct_sigv4_sign(c, &req, &creds, &b), 0);
    assert_int_equal(xacct_sigv4_sign(NULL, &req, &creds, &u), 0);
    assert_string_equal(a.authorization, b.authorization);
    assert_string_equal(a.authorization, u.authorization);
    unsigned long hits, misses;
    size_t used;
    xacct__sigv4_cache_stats(c, &hits, &misses, &used);
    assert_int_equal(hits, 1);
    assert_int_equal(misses, 1);

    /* A day later the scope (and so the key) changes. */
    req.now += 86400;
    xacct_sigv4_result_t d;
    assert_int_equal(xacct_sigv4_sign(c, &req, &creds, &d), 0);
    assert_non_null(strstr(d.authorization, "/20130525/us-east-1/sqs/aws4_request"));
    assert_string_not_equal(d.authorization, a.authorization);
    xacct__sigv4_cache_stats(c, &hits, &misses, &used);
    assert_int_equal(misses, 2);
    xacct_sigv4_result_destroy(&a);
    xacct_sigv4_result_destroy(&b);
    xacct_sigv4_result_destroy(&u);
    xacct_sigv4_result_destroy(&d);
    xacct_sigv4_cache_free(c);
}

/* Credentials that bring their secret's SHA-256 sign exactly as those that
 * do not, are found in the cache by it (a second signature is a hit), and
 * a rotated secret under the same key id brings a new digest and misses. */
static void test_sign_with_secret_digest(void **state)
{
    (void)state;
    xacct_sigv4_request_t req = {
        .method = "POST",
        .url = "https://sts.us-east-1.amazonaws.com/",
        .body = "Action=GetCallerIdentity&Version=2011-06-15",
        .body_len = strlen("Action=GetCallerIdentity&Version=2011-06-15"),
        .region = "us-east-1",
        .service = "sts",
        .now = S3_NOW,
    };
    unsigned char fp[32], fp2[32];
    unsigned int n = 0;
    assert_int_equal(xacct_digest(XACCT_DIGEST_SHA256, S3_SECRET, strlen(S3_SECRET), fp, &n), 0);
    assert_int_equal(xacct_digest(XACCT_DIGEST_SHA256, "rotated", 7, fp2, &n), 0);
    xacct_sigv4_credentials_t plain = {S3_AKID, S3_SECRET, NULL, NULL};
    xacct_sigv4_credentials_t given = {S3_AKID, S3_SECRET, NULL, fp};
    xacct_sigv4_credentials_t rotated = {S3_AKID, "rotated", NULL, fp2};
    xacct_sigv4_credentials_t rotated_plain = {S3_AKID, "rotated", NULL, NULL};
    xacct_sigv4_cache_t *c = xacct_sigv4_cache_new();
    xacct_sigv4_result_t ref, a, b, r, rref;
    unsigned long hits, misses;
    size_t used;

    assert_int_equal(xacct_sigv4_sign(NULL, &req, &plain, &ref), 0);
    assert_int_equal(xacct_sigv4_sign(c, &req, &given, &a), 0);
    assert_int_equal(xacct_sigv4_sign(c, &req, &plain, &b), 0);
    assert_string_equal(a.authorization, ref.authorization);
    assert_string_equal(b.authorization, ref.authorization);
    xacct__sigv4_cache_stats(c, &hits, &misses, &used);
    assert_int_equal(misses, 1);
    assert_int_equal(hits, 1);

    assert_int_equal(xacct_sigv4_sign(c, &req, &rotated, &r), 0);
    assert_int_equal(xacct_sigv4_sign(NULL, &req, &rotated_plain, &rref), 0);
    assert_string_equal(r.authorization, rref.authorization);
    assert_string_not_equal(r.authorization, ref.authorization);
    xacct__sigv4_cache_stats(c, &hits, &misses, &used);
    assert_int_equal(misses, 2);
    assert_int_equal(used, 2);

    xacct_sigv4_result_destroy(&ref);
    xacct_sigv4_result_destroy(&a);
    xacct_sigv4_result_destroy(&b);
    xacct_sigv4_result_destroy(&r);
    xacct_sigv4_result_destroy(&rref);
    xacct_sigv4_cache_free(c);
}

static void enc(const char *in, bool slash, const char *want)
{
    xacct_buf_t b;
    xacct_buf_init(&b, 0);
    assert_int_equal(xacct_sigv4_uri_encode(&b, in, strlen(in), slash), 0);
    assert_string_equal(b.len ? b.data : "", want);
    xacct_buf_destroy(&b);
}

static void test_uri_encode(void **state)
{
    (void)state;
    enc("AZaz09-._~", true, "AZaz09-._~");
    enc("a b", true, "a%20b");
    enc("a/b", true, "a%2Fb");
    enc("a/b", false, "a/b");
    enc("+*=&%", true, "%2B%2A%3D%26%25");
    enc("\xE1\x88\xB4", true, "%E1%88%B4"); /* UTF-8, upper-case hex */
    enc("", true, "");
    /* Embedded NUL is data, not an end. */
    xacct_buf_t b;
    xacct_buf_init(&b, 0);
    assert_int_equal(xacct_sigv4_uri_encode(&b, "a\0b", 3, true), 0);
    assert_string_equal(b.data, "a%00b");
    xacct_buf_destroy(&b);
    /* The buffer's cap is honoured. */
    xacct_buf_init(&b, 4);
    assert_int_equal(xacct_sigv4_uri_encode(&b, "  ", 2, true), XACCT_ETOOBIG);
    xacct_buf_destroy(&b);
}

static void curi(const char *path, bool s3, const char *want)
{
    xacct_buf_t b;
    xacct_buf_init(&b, 0);
    assert_int_equal(xacct__sigv4_canonical_uri(&b, path, strlen(path), s3), 0);
    assert_string_equal(b.data, want);
    xacct_buf_destroy(&b);
}

static void test_canonical_uri(void **state)
{
    (void)state;
    curi("/", false, "/");
    curi("", false, "/");
    curi("//", false, "/");
    curi("//example//", false, "/example/");
    curi("/./example", false, "/example");
    curi("/example/..", false, "/");
    curi("/a/b/../c/./d", false, "/a/c/d");
    curi("/a/b/..", false, "/a/");
    curi("/../../x", false, "/x");
    curi("/example space/", false, "/example%20space/");
    curi("/a%20b", false, "/a%2520b"); /* encoded once more: "double encoding" */
    curi("/123456789012/queue-name", false, "/123456789012/queue-name");
    /* S3: not normalised, encoded exactly once. */
    curi("/my-object//example//photo.user", true, "/my-object//example//photo.user");
    curi("/a/./b/../c", true, "/a/./b/../c");
    curi("/a%20b", true, "/a%20b");
    curi("/a b+c", true, "/a%20b%2Bc");
    curi("/%E1%88%B4", true, "/%E1%88%B4");
}

static void cquery(const char *q, const char *want)
{
    xacct_buf_t b;
    xacct_buf_init(&b, 0);
    assert_int_equal(xacct__sigv4_canonical_query(&b, q, strlen(q)), 0);
    assert_string_equal(b.len ? b.data : "", want);
    xacct_buf_destroy(&b);
}

static void test_canonical_query(void **state)
{
    (void)state;
    cquery("", "");
    cquery("b=2&a=1", "a=1&b=2");
    cquery("Param1=value2&Param1=Value1", "Param1=Value1&Param1=value2");
    cquery("a&b=", "a=&b=");
    cquery("a=1&&b=2&", "a=1&b=2");
    cquery("k=a%20b", "k=a%20b");
    cquery("k=a b", "k=a%20b");
    cquery("k=a+b", "k=a%2Bb");
    cquery("k=%7e%2f", "k=~%2F");
    cquery("k=100%", "k=100%25");
    cquery("k=v=w", "k=v%3Dw");
    /* Sorted by encoded key, then value: "%2B" < "%40" < "A" < "a". */
    cquery("a=1&A=1&@=1&+=1", "%2B=1&%40=1&A=1&a=1");
    cquery("a=b&a=", "a=&a=b");

    /* Capped. */
    xacct_buf_t big, out;
    xacct_buf_init(&big, 0);
    xacct_buf_init(&out, 0);
    for (unsigned i = 0; i <= XACCT_SIGV4_MAX_QUERY_PARAMS; i++)
        assert_int_equal(xacct_buf_printf(&big, "p%u=v&", i), 0);
    assert_int_equal(xacct__sigv4_canonical_query(&out, big.data, big.len), XACCT_ETOOBIG);
    xacct_buf_destroy(&big);
    xacct_buf_destroy(&out);

    assert_true(xacct__sigv4_query_has("a=1&X-Amz-Date=2", 16, "X-Amz-Date"));
    assert_true(xacct__sigv4_query_has("X%2DAmz-Date", 12, "X-Amz-Date"));
    assert_false(xacct__sigv4_query_has("x-amz-date=1", 12, "X-Amz-Date"));
}

static void test_canonical_headers(void **state)
{
    (void)state;
    const xacct_header_t h[] = {
        {"My-Header1", "value2"},      {"Host", "example.amazonaws.com"},
        {"my-header1", " value1 "},    {"X-Amz-Date", "20150830T123600Z"},
        {"My-Header2", "\t\"a   b \t c\"  "}, {"Empty", ""},
    };
    xacct_buf_t c, s;
    xacct_buf_init(&c, 0);
    xacct_buf_init(&s, 0);
    assert_int_equal(xacct__sigv4_canonical_headers(&c, &s, h, XACCT_ARRAY_SIZE(h)), 0);
    assert_string_equal(c.data, "empty:\n"
                                "host:example.amazonaws.com\n"
                                "my-header1:value2,value1\n"
                                "my-header2:\"a b c\"\n"
                                "x-amz-date:20150830T123600Z\n");
    assert_string_equal(s.data, "empty;host;my-header1;my-header2;x-amz-date");
    xacct_buf_destroy(&c);
    xacct_buf_destroy(&s);

    const xacct_header_t bad[][1] = {
        {{"X-Inject", "a\r\nX-Evil: 1"}},
        {{"Bad Name", "v"}},
        {{"", "v"}},
        {{"Colon:", "v"}},
        {{"Nul", NULL}},
    };
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(bad); i++) {
        xacct_buf_init(&c, 0);
        xacct_buf_init(&s, 0);
        assert_int_equal(xacct__sigv4_canonical_headers(&c, &s, bad[i], 1), XACCT_EINVAL);
        xacct_buf_destroy(&c);
        xacct_buf_destroy(&s);
    }
}

static void test_url_parse(void **state)
{
    (void)state;
    xacct__sigv4_url_t u;
    assert_int_equal(xacct__sigv4_url_parse("https://h.example:443/p?q=1", &u), 0);
    assert_int_equal(u.host_len, 9);
    assert_memory_equal(u.host, "h.example", 9);
    assert_int_equal(u.path_len, 2);
    assert_string_equal(u.query, "q=1");
    assert_true(u.has_query);
    assert_int_equal(xacct__sigv4_url_parse("http://127.0.0.1:4566", &u), 0);
    assert_int_equal(u.host_len, strlen("127.0.0.1:4566"));
    assert_memory_equal(u.path, "/", 1);
    assert_false(u.has_query);
    assert_int_equal(xacct__sigv4_url_parse("http://h:80?x", &u), 0);
    assert_int_equal(u.host_len, 1);
    assert_string_equal(u.query, "x");
    assert_int_equal(xacct__sigv4_url_parse("https://[::1]:8443/", &u), 0);
    assert_int_equal(u.host_len, strlen("[::1]:8443"));
    assert_int_equal(xacct__sigv4_url_parse("https://[::1]/", &u), 0);
    assert_int_equal(u.host_len, strlen("[::1]"));

    const char *bad[] = {"ftp://h/", "https://", "https:///p", "https://user@h/", "h/p",
                         "https://h h/", "https://:443/"};
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(bad); i++)
        assert_int_equal(xacct__sigv4_url_parse(bad[i], &u), XACCT_EINVAL);
}

static void test_host_from_url(void **state)
{
    (void)state;
    xacct_sigv4_credentials_t creds = {S3_AKID, S3_SECRET, NULL, NULL};
    xacct_sigv4_request_t req = {
        .method = "GET",
        .url = "http://127.0.0.1:4566/",
        .region = "us-east-1",
        .service = "sqs",
        .now = S3_NOW,
    };
    xacct_sigv4_result_t res;
    assert_int_equal(xacct_sigv4_sign(NULL, &req, &creds, &res), 0);
    assert_non_null(strstr(res.canonical_request, "\nhost:127.0.0.1:4566\n"));
    xacct_sigv4_result_destroy(&res);
    req.url = "https://sqs.us-east-1.amazonaws.com:443/";
    assert_int_equal(xacct_sigv4_sign(NULL, &req, &creds, &res), 0);
    assert_non_null(strstr(res.canonical_request, "\nhost:sqs.us-east-1.amazonaws.com\n"));
    xacct_sigv4_result_destroy(&res);
    /* A Host header given by the caller wins over the URL's. */
    const xacct_header_t h[] = {{"Host", "other.example"}};
    req.headers = h;
    req.nheaders = 1;
    assert_int_equal(xacct_sigv4_sign(NULL, &req, &creds, &res), 0);
    assert_non_null(strstr(res.canonical_request, "\nhost:other.example\n"));
    assert_null(strstr(res.canonical_request, "amazonaws"));
    xacct_sigv4_result_destroy(&res);
}

static void test_owned_headers(void **state)
{
    (void)state;
    xacct_sigv4_credentials_t creds = {SUITE_AKID, SUITE_SECRET, "TOKEN", NULL};
    xacct_header_t h[2] = {{"X-Amz-Date", SUITE_DATE}, {"X-Amz-Security-Token", " TOKEN"}};
    xacct_sigv4_request_t req = {
        .method = "POST",
        .url = "https://example.amazonaws.com/",
        .headers = h,
        .nheaders = 2,
        .region = SUITE_REGION,
        .service = SUITE_SERVICE,
        .now = parse_amz_date(SUITE_DATE),
    };
    xacct_sigv4_result_t res;
    /* Copies that agree with the signer's are accepted and not repeated. */
    assert_int_equal(xacct_sigv4_sign(NULL, &req, &creds, &res), 0);
    const char *p = strstr(res.canonical_request, "x-amz-date:");
    assert_non_null(p);
    assert_null(strstr(p + 1, "x-amz-date:"));
    assert_non_null(strstr(res.canonical_request, "\nx-amz-security-token:TOKEN\n"));
    assert_non_null(strstr(res.authorization, "SignedHeaders=host;x-amz-date;x-amz-security-token,"));
    assert_string_equal(res.security_token, "TOKEN");
    assert_null(res.content_sha256);
    xacct_sigv4_result_destroy(&res);

    /* Disagreeing copies are refused, and *out is left empty. */
    h[0].value = "20150830T123601Z";
    memset(&res, 0xab, sizeof(res));
    assert_int_equal(xacct_sigv4_sign(NULL, &req, &creds, &res), XACCT_EINVAL);
    assert_null(res.authorization);
    assert_null(res.canonical_request);
    h[0].value = SUITE_DATE;
    h[1].value = "OTHER";
    assert_int_equal(xacct_sigv4_sign(NULL, &req, &creds, &res), XACCT_EINVAL);
    h[1] = (xacct_header_t){"Authorization", "AWS4-HMAC-SHA256 ..."};
    assert_int_equal(xacct_sigv4_sign(NULL, &req, &creds, &res), XACCT_EINVAL);

    /* S3: X-Amz-Content-Sha256 is signed and must agree with the payload. */
    creds.session_token = NULL;
    req.s3 = true;
    req.service = "s3";
    req.body = "Welcome to Amazon S3.";
    req.body_len = strlen(req.body);
    h[1] = (xacct_header_t){"x-amz-content-sha256", "UNSIGNED-PAYLOAD"};
    assert_int_equal(xacct_sigv4_sign(NULL, &req, &creds, &res), XACCT_EINVAL);
    req.payload_hash = XACCT_SIGV4_UNSIGNED_PAYLOAD;
    assert_int_equal(xacct_sigv4_sign(NULL, &req, &creds, &res), 0);
    assert_non_null(strstr(res.authorization, "SignedHeaders=host;x-amz-content-sha256;x-amz-date,"));
    xacct_sigv4_result_destroy(&res);
    req.nheaders = 1;
    req.payload_hash = NULL;
    assert_int_equal(xacct_sigv4_sign(NULL, &req, &creds, &res), 0);
    assert_string_equal(res.content_sha256,
                        "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    xacct_sigv4_result_destroy(&res);
}

static void test_invalid_input(void **state)
{
    (void)state;
    xacct_sigv4_credentials_t creds = {S3_AKID, S3_SECRET, NULL, NULL};
    xacct_sigv4_request_t good = {
        .method = "GET",
        .url = "https://example.amazonaws.com/",
        .region = "us-east-1",
        .service = "sqs",
        .now = S3_NOW,
    };
    xacct_sigv4_result_t res;
    assert_int_equal(xacct_sigv4_sign(NULL, &good, &creds, &res), 0);
    xacct_sigv4_result_destroy(&res);

    xacct_sigv4_request_t r;
#define EXPECT_INVAL(mutation)                                                    \
    do {                                                                          \
        r = good;                                                                 \
        mutation;                                                                 \
        assert_int_equal(xacct_sigv4_sign(NULL, &r, &creds, &res), XACCT_EINVAL); \
        assert_null(res.authorization);                                           \
    } while (0)
    EXPECT_INVAL(r.url = NULL);
    EXPECT_INVAL(r.url = "example.amazonaws.com/");
    EXPECT_INVAL(r.method = NULL);
    EXPECT_INVAL(r.method = "get");
    EXPECT_INVAL(r.method = "");
    EXPECT_INVAL(r.region = NULL);
    EXPECT_INVAL(r.region = "us/east-1");
    EXPECT_INVAL(r.service = "");
    EXPECT_INVAL(r.now = -1);
    EXPECT_INVAL(r.payload_hash = XACCT_SIGV4_UNSIGNED_PAYLOAD); /* not S3 */
    EXPECT_INVAL(r.payload_hash = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855");
    EXPECT_INVAL(r.payload_hash = "e3b0");
    EXPECT_INVAL(r.body_len = 3);
    EXPECT_INVAL(r.nheaders = 1);
#undef EXPECT_INVAL

    xacct_sigv4_credentials_t bad[] = {
        {NULL, S3_SECRET, NULL, NULL},
        {"", S3_SECRET, NULL, NULL},
        {"AKID/X", S3_SECRET, NULL, NULL},
        {S3_AKID, NULL, NULL, NULL},
        {S3_AKID, "", NULL, NULL},
        {S3_AKID, S3_SECRET, "tok\r\nen", NULL},
        {S3_AKID, S3_SECRET, "", NULL},
    };
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(bad); i++)
        assert_int_equal(xacct_sigv4_sign(NULL, &good, &bad[i], &res), XACCT_EINVAL);
    assert_int_equal(xacct_sigv4_sign(NULL, &good, &creds, NULL), XACCT_EINVAL);
    assert_int_equal(xacct_sigv4_sign(NULL, NULL, &creds, &res), XACCT_EINVAL);
    assert_int_equal(xacct_sigv4_presign(NULL, &good, &creds, 60, NULL), XACCT_EINVAL);

    xacct_sigv4_result_destroy(NULL);
    memset(&res, 0, sizeof(res));
    xacct_sigv4_result_destroy(&res);

    char hex[65];
    xacct_sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    xacct_sha256_hex(NULL, 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void assert_no_secret(const char *s, const char *secret, const char *keyhex)
{
    if (s == NULL)
        return;
    assert_null(strstr(s, secret));
    assert_null(strstr(s, keyhex));
}

static void test_no_secret_in_results(void **state)
{
    (void)state;
    const char *secret = "s3cr3t-K3Y/with+chars";
    xacct_sigv4_credentials_t creds = {"AKIDSECRETTEST", secret, "session-token", NULL};
    unsigned char key[32];
    char keyhex[65];
    assert_int_equal(xacct__sigv4_signing_key(NULL, creds.access_key_id, secret, "20130524",
                                              "us-east-1", "s3", key),
                     0);
    hex32(key, keyhex);

    char *encoded_secret;
    {
        xacct_buf_t b;
        xacct_buf_init(&b, 0);
        assert_int_equal(xacct_sigv4_uri_encode(&b, secret, strlen(secret), true), 0);
        encoded_secret = xacct_buf_steal(&b);
    }
    const xacct_header_t h[] = {{"X-Note", "hello"}};
    xacct_sigv4_request_t req = {
        .method = "PUT",
        .url = "https://bucket.s3.amazonaws.com/k?acl",
        .headers = h,
        .nheaders = 1,
        .body = "data",
        .body_len = 4,
        .region = "us-east-1",
        .service = "s3",
        .now = S3_NOW,
        .s3 = true,
    };
    xacct_sigv4_result_t res;
    assert_int_equal(xacct_sigv4_sign(NULL, &req, &creds, &res), 0);
    const char *all[] = {res.authorization,  res.amz_date,          res.security_token,
                         res.content_sha256, res.canonical_request, res.string_to_sign};
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(all); i++) {
        assert_no_secret(all[i], secret, keyhex);
        assert_no_secret(all[i], encoded_secret, keyhex);
    }
    xacct_sigv4_result_destroy(&res);

    char *url = NULL;
    assert_int_equal(xacct_sigv4_presign(NULL, &req, &creds, 3600, &url), 0);
    assert_no_secret(url, secret, keyhex);
    assert_no_secret(url, encoded_secret, keyhex);
    free(url);
    free(encoded_secret);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aws_suite),
        cmocka_unit_test(test_s3_get_object_example),
        cmocka_unit_test(test_s3_presign_example),
        cmocka_unit_test(test_presign_expires_bounds),
        cmocka_unit_test(test_presign_query_token_headers),
        cmocka_unit_test(test_presign_non_s3_signs_body_hash),
        cmocka_unit_test(test_signing_key_cache),
        cmocka_unit_test(test_sign_with_cache_is_stable),
        cmocka_unit_test(test_sign_with_secret_digest),
        cmocka_unit_test(test_uri_encode),
        cmocka_unit_test(test_canonical_uri),
        cmocka_unit_test(test_canonical_query),
        cmocka_unit_test(test_canonical_headers),
        cmocka_unit_test(test_url_parse),
        cmocka_unit_test(test_host_from_url),
        cmocka_unit_test(test_owned_headers),
        cmocka_unit_test(test_invalid_input),
        cmocka_unit_test(test_no_secret_in_results),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
