/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes SigV4 canonicalisation: the URL split, canonical URI (both the
 * normalising rules and S3's), canonical query string, canonical headers
 * and value trimming, then a whole signature and a presigned URL. Input:
 * method, URL, then "name:value" header lines up to an empty line, then the
 * body. Property: signing is a pure function (same input, same signature).
 */
#include "fuzz_util.h"
#include "xacct/sigv4.h"
#include "../src/aws/sigv4_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size);
    char *f[16];
    size_t n = fuzz_split(s, f, 16);
    const char *method = f[0], *url = n > 1 ? f[1] : "";
    xacct_header_t hdrs[12];
    size_t nh = 0, i = 2;
    for (; i < n && f[i][0] != '\0' && nh < 12; i++) {
        char *colon = strchr(f[i], ':');
        if (colon == NULL)
            continue;
        *colon = '\0';
        hdrs[nh].name = f[i];
        hdrs[nh++].value = colon + 1;
    }
    const char *body = i + 1 < n ? f[i + 1] : "";

    xacct_buf_t b, names;
    xacct_buf_init(&b, 0);
    xacct_buf_init(&names, 0);
    xacct__sigv4_url_t u;
    if (xacct__sigv4_url_parse(url, &u) == 0) {
        (void)xacct__sigv4_canonical_uri(&b, u.path, u.path_len, false);
        xacct_buf_reset(&b);
        (void)xacct__sigv4_canonical_uri(&b, u.path, u.path_len, true);
        xacct_buf_reset(&b);
        (void)xacct__sigv4_canonical_query(&b, u.query, u.query_len);
        (void)xacct__sigv4_query_has(u.query, u.query_len, "X-Amz-Signature");
        xacct_buf_reset(&b);
    }
    (void)xacct__sigv4_canonical_headers(&b, &names, hdrs, nh);
    xacct_buf_reset(&b);
    (void)xacct_sigv4_uri_encode(&b, url, strlen(url), true);
    xacct_buf_destroy(&b);
    xacct_buf_destroy(&names);

    xacct_sigv4_cache_t *cache = xacct_sigv4_cache_new();
    const xacct_sigv4_credentials_t creds = {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                             "session-token", NULL};
    for (int s3 = 0; s3 < 2; s3++) {
        xacct_sigv4_request_t req = {
            .method = method, .url = url, .headers = hdrs, .nheaders = nh,
            .body = body, .body_len = strlen(body), .region = "us-east-1",
            .service = s3 ? "s3" : "sqs", .now = 1440938160, .s3 = s3 != 0,
        };
        xacct_sigv4_result_t r1 = {0}, r2 = {0};
        int rc1 = xacct_sigv4_sign(cache, &req, &creds, &r1);
        int rc2 = xacct_sigv4_sign(cache, &req, &creds, &r2);
        FUZZ_ASSERT(rc1 == rc2);
        if (rc1 == 0)
            FUZZ_ASSERT(strcmp(r1.authorization, r2.authorization) == 0);
        xacct_sigv4_result_destroy(&r1);
        xacct_sigv4_result_destroy(&r2);
        char *presigned = NULL;
        if (xacct_sigv4_presign(cache, &req, &creds, 900, &presigned) == 0)
            free(presigned);
    }
    xacct_sigv4_cache_free(cache);
    free(s);
    return 0;
}
