/* SPDX-License-Identifier: MIT */
/*
 * Codec tests: round trips of the three payloads, strict decoding (wrong
 * types, missing keys, duplicates, truncation, trailing bytes, size limits,
 * unknown keys tolerated) and the msgpack-to-JSON dump. Hostile inputs are
 * built with msgpack-c's packer so the bytes are exactly what a writer could
 * put in Redis.
 */
#include <jansson.h>
#include <msgpack.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "xacct/codec.h"

static const xacct_job_t sample_job = {
    .v = 1,
    .account_id = "123456789012",
    .role_arn = "arn:aws:iam::123456789012:role/xacct",
    .external_id = "6f1c3a52-1b2c-4d5e-8f90-a1b2c3d4e5f6",
    .stack_id = "arn:aws:cloudformation:eu-west-1:123456789012:stack/s/1",
    .region = "eu-west-1",
    .request_id = "req-1",
    .requested_at = 1700000000123LL,
};

static void test_job_round_trip(void **state)
{
    xacct_buf_t b;
    xacct_job_t j;
    xacct_buf_init(&b, 0);
    assert_int_equal(xacct_codec_job_encode(&sample_job, &b), 0);
    assert_int_equal(xacct_codec_job_decode(b.data, b.len, &j), 0);
    assert_int_equal(j.v, 1);
    assert_string_equal(j.account_id, sample_job.account_id);
    assert_string_equal(j.role_arn, sample_job.role_arn);
    assert_string_equal(j.external_id, sample_job.external_id);
    assert_string_equal(j.stack_id, sample_job.stack_id);
    assert_string_equal(j.region, sample_job.region);
    assert_string_equal(j.request_id, sample_job.request_id);
    assert_int_equal(j.requested_at, sample_job.requested_at);
    xacct_codec_job_destroy(&j);
    assert_null(j.account_id);
    xacct_buf_destroy(&b);
}

static void test_event_round_trip_and_optional(void **state)
{
    xacct_event_t ev = {.v = 1, .ts = -5, .type = "offboarding", .request_id = "r",
                        .stack_id = NULL, .outcome = "SUCCESS", .reason = "",
                        .actor = "cli"};
    xacct_event_t out;
    xacct_buf_t b;
    xacct_buf_init(&b, 0);
    assert_int_equal(xacct_codec_event_encode(&ev, &b), 0);
    assert_int_equal(xacct_codec_event_decode(b.data, b.len, &out), 0);
    assert_int_equal(out.ts, -5);
    assert_string_equal(out.type, "offboarding");
    assert_string_equal(out.request_id, "r");
    assert_null(out.stack_id);
    assert_string_equal(out.outcome, "SUCCESS");
    assert_string_equal(out.reason, "");
    assert_string_equal(out.actor, "cli");
    xacct_codec_event_destroy(&out);

    /* type is required */
    xacct_buf_reset(&b);
    ev.type = NULL;
    assert_int_equal(xacct_codec_event_encode(&ev, &b), XACCT_EINVAL);
    assert_int_equal(b.len, 0);
    xacct_buf_destroy(&b);
}

static void test_event_has_no_secret_field(void **state)
{
    xacct_event_t ev = {.v = 1, .ts = 1, .type = "rotated", .actor = "cli"};
    xacct_buf_t b;
    char *json = NULL;
    xacct_buf_init(&b, 0);
    assert_int_equal(xacct_codec_event_encode(&ev, &b), 0);
    assert_int_equal(xacct_codec_to_json(b.data, b.len, NULL, 0, &json), 0);
    assert_null(strstr(json, "external"));
    assert_non_null(strstr(json, "\"type\":\"rotated\""));
    free(json);
    xacct_buf_destroy(&b);
}

static void test_heartbeat_round_trip(void **state)
{
    xacct_heartbeat_t hb = {.host = "h1", .pid = 4242, .version = "0.1.0",
                            .started_at = 1700000000000LL, .concurrency = 64,
                            .in_flight = 3, .processed = 99, .failed = 2,
                            .rss = 12345678, .quiet = true};
    xacct_heartbeat_t out;
    xacct_buf_t b;
    xacct_buf_init(&b, 0);
    assert_int_equal(xacct_codec_heartbeat_encode(&hb, &b), 0);
    assert_int_equal(xacct_codec_heartbeat_decode(b.data, b.len, &out), 0);
    assert_string_equal(out.host, "h1");
    assert_int_equal(out.pid, 4242);
    assert_string_equal(out.version, "0.1.0");
    assert_int_equal(out.started_at, 1700000000000LL);
    assert_int_equal(out.concurrency, 64);
    assert_int_equal(out.in_flight, 3);
    assert_int_equal(out.processed, 99);
    assert_int_equal(out.failed, 2);
    assert_int_equal(out.rss, 12345678);
    assert_true(out.quiet);
    xacct_codec_heartbeat_destroy(&out);
    xacct_buf_destroy(&b);
}

/* --- hand-built payloads ---------------------------------------------- */

typedef struct kv {
    const char *key;
    char kind;        /* 's' string, 'i' int, 'u' huge uint, 'b' bool, 'n' nil, 'B' bin,
                         'f' float, 'a' array */
    const char *s;
    int64_t i;
} kv_t;

static void pack_map(msgpack_sbuffer *sb, const kv_t *kvs, size_t n)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, n);
    for (size_t i = 0; i < n; i++) {
        msgpack_pack_str_with_body(&pk, kvs[i].key, strlen(kvs[i].key));
        switch (kvs[i].kind) {
        case 's':
            msgpack_pack_str_with_body(&pk, kvs[i].s, strlen(kvs[i].s));
            break;
        case 'i':
            msgpack_pack_int64(&pk, kvs[i].i);
            break;
        case 'u':
            msgpack_pack_uint64(&pk, UINT64_MAX);
            break;
        case 'b':
            msgpack_pack_true(&pk);
            break;
        case 'n':
            msgpack_pack_nil(&pk);
            break;
        case 'B':
            msgpack_pack_bin_with_body(&pk, kvs[i].s, strlen(kvs[i].s));
            break;
        case 'f':
            msgpack_pack_double(&pk, 1.5);
            break;
        case 'a':
            msgpack_pack_array(&pk, 0);
            break;
        }
    }
}

#define JOB_KVS(acct_kind, acct)                                                    \
    {"v", 'i', NULL, 1}, {"account_id", acct_kind, acct, 7}, {"role_arn", 's', "r", 0}, \
        {"external_id", 's', "e", 0}, {"stack_id", 's', "st", 0},                      \
        {"region", 's', "eu-west-1", 0}, {"request_id", 's', "q", 0},                  \
        {"requested_at", 'i', NULL, 5}

static int decode_job_kvs(const kv_t *kvs, size_t n)
{
    msgpack_sbuffer sb;
    xacct_job_t j;
    msgpack_sbuffer_init(&sb);
    pack_map(&sb, kvs, n);
    int rc = xacct_codec_job_decode(sb.data, sb.size, &j);
    if (rc == 0)
        xacct_codec_job_destroy(&j);
    else
        assert_null(j.role_arn); /* zeroed on failure */
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

static void test_job_strict_types(void **state)
{
    const kv_t good[] = {JOB_KVS('s', "123456789012")};
    assert_int_equal(decode_job_kvs(good, XACCT_ARRAY_SIZE(good)), 0);

    const kv_t as_int[] = {JOB_KVS('i', NULL)};
    assert_int_equal(decode_job_kvs(as_int, XACCT_ARRAY_SIZE(as_int)), XACCT_EPARSE);
    const kv_t as_bin[] = {JOB_KVS('B', "123456789012")};
    assert_int_equal(decode_job_kvs(as_bin, XACCT_ARRAY_SIZE(as_bin)), XACCT_EPARSE);
    const kv_t as_nil[] = {JOB_KVS('n', NULL)};
    assert_int_equal(decode_job_kvs(as_nil, XACCT_ARRAY_SIZE(as_nil)), XACCT_EPARSE);
    const kv_t as_float[] = {JOB_KVS('f', NULL)};
    assert_int_equal(decode_job_kvs(as_float, XACCT_ARRAY_SIZE(as_float)), XACCT_EPARSE);
    const kv_t as_array[] = {JOB_KVS('a', NULL)};
    assert_int_equal(decode_job_kvs(as_array, XACCT_ARRAY_SIZE(as_array)), XACCT_EPARSE);

    /* integer fields: strings, bools and out-of-range values refused */
    kv_t t[] = {JOB_KVS('s', "1")};
    t[7].kind = 's';
    t[7].s = "5";
    assert_int_equal(decode_job_kvs(t, XACCT_ARRAY_SIZE(t)), XACCT_EPARSE);
    t[7].kind = 'b';
    assert_int_equal(decode_job_kvs(t, XACCT_ARRAY_SIZE(t)), XACCT_EPARSE);
    t[7].kind = 'u';
    assert_int_equal(decode_job_kvs(t, XACCT_ARRAY_SIZE(t)), XACCT_EPARSE);
    /* version must be >= 1 */
    t[7].kind = 'i';
    t[0].i = 0;
    assert_int_equal(decode_job_kvs(t, XACCT_ARRAY_SIZE(t)), XACCT_EPARSE);
}

static void test_job_missing_duplicate_unknown(void **state)
{
    const kv_t full[] = {JOB_KVS('s', "1")};
    /* each required key missing in turn */
    for (size_t skip = 0; skip < XACCT_ARRAY_SIZE(full); skip++) {
        kv_t less[XACCT_ARRAY_SIZE(full)];
        size_t n = 0;
        for (size_t i = 0; i < XACCT_ARRAY_SIZE(full); i++)
            if (i != skip)
                less[n++] = full[i];
        assert_int_equal(decode_job_kvs(less, n), XACCT_EPARSE);
    }
    kv_t dup[XACCT_ARRAY_SIZE(full) + 1];
    memcpy(dup, full, sizeof(full));
    dup[XACCT_ARRAY_SIZE(full)] = (kv_t){"region", 's', "us-east-1", 0};
    assert_int_equal(decode_job_kvs(dup, XACCT_ARRAY_SIZE(dup)), XACCT_EPARSE);

    kv_t extra[XACCT_ARRAY_SIZE(full) + 2];
    memcpy(extra, full, sizeof(full));
    extra[XACCT_ARRAY_SIZE(full)] = (kv_t){"future_field", 'a', NULL, 0};
    extra[XACCT_ARRAY_SIZE(full) + 1] = (kv_t){"other", 'B', "x", 0};
    assert_int_equal(decode_job_kvs(extra, XACCT_ARRAY_SIZE(extra)), 0);
}

static void test_truncated_trailing_and_not_a_map(void **state)
{
    xacct_buf_t b;
    xacct_job_t j;
    xacct_buf_init(&b, 0);
    assert_int_equal(xacct_codec_job_encode(&sample_job, &b), 0);
    for (size_t n = 0; n < b.len; n++)
        assert_int_equal(xacct_codec_job_decode(b.data, n, &j), XACCT_EPARSE);
    /* trailing garbage */
    assert_int_equal(xacct_buf_putc(&b, '\x01'), 0);
    assert_int_equal(xacct_codec_job_decode(b.data, b.len, &j), XACCT_EPARSE);
    /* an array is not a map */
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_int(&pk, 1);
    assert_int_equal(xacct_codec_job_decode(sb.data, sb.size, &j), XACCT_EPARSE);
    msgpack_sbuffer_destroy(&sb);
    assert_int_equal(xacct_codec_job_decode(NULL, 0, &j), XACCT_EPARSE);
    /* garbage byte 0xc1 is never valid msgpack */
    assert_int_equal(xacct_codec_job_decode("\xc1", 1, &j), XACCT_EPARSE);
    xacct_buf_destroy(&b);
}

static void test_size_limits(void **state)
{
    /* input larger than the cap */
    size_t big = XACCT_CODEC_MAX_INPUT + 1;
    char *p = calloc(1, big);
    xacct_job_t j;
    assert_int_equal(xacct_codec_job_decode(p, big, &j), XACCT_ETOOBIG);
    free(p);

    /* a string field over the per-string cap */
    char *s = malloc(XACCT_CODEC_MAX_STRING + 2);
    memset(s, 'a', XACCT_CODEC_MAX_STRING + 1);
    s[XACCT_CODEC_MAX_STRING + 1] = '\0';
    kv_t t[] = {JOB_KVS('s', "1")};
    t[2].s = s;
    assert_int_equal(decode_job_kvs(t, XACCT_ARRAY_SIZE(t)), XACCT_ETOOBIG);
    /* the encoder refuses it as well */
    xacct_job_t big_job = sample_job;
    big_job.role_arn = s;
    xacct_buf_t b;
    xacct_buf_init(&b, 0);
    assert_int_equal(xacct_codec_job_encode(&big_job, &b), XACCT_ETOOBIG);
    free(s);

    /* the output buffer's cap is honoured and nothing is left half-written */
    xacct_buf_t small;
    xacct_buf_init(&small, 16);
    assert_int_equal(xacct_codec_job_encode(&sample_job, &small), XACCT_ETOOBIG);
    assert_int_equal(small.len, 0);
    xacct_buf_destroy(&small);
    xacct_buf_destroy(&b);
}

static void test_json_dump(void **state)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    char *out = NULL;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 8);
    msgpack_pack_str_with_body(&pk, "s", 1);
    msgpack_pack_str_with_body(&pk, "q\"\n\xc3\xa9", 5);
    msgpack_pack_str_with_body(&pk, "n", 1);
    msgpack_pack_int64(&pk, -42);
    msgpack_pack_str_with_body(&pk, "a", 1);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_true(&pk);
    msgpack_pack_nil(&pk);
    msgpack_pack_double(&pk, 2.5);
    msgpack_pack_str_with_body(&pk, "bin", 3);
    msgpack_pack_bin_with_body(&pk, "\x00\xff", 2);
    msgpack_pack_str_with_body(&pk, "bad", 3);
    msgpack_pack_str_with_body(&pk, "\xff", 1);
    msgpack_pack_int(&pk, 7); /* non-string key */
    msgpack_pack_str_with_body(&pk, "seven", 5);
    msgpack_pack_str_with_body(&pk, "external_id", 11);
    msgpack_pack_str_with_body(&pk, "secret", 6);
    msgpack_pack_str_with_body(&pk, "big", 3);
    msgpack_pack_uint64(&pk, UINT64_MAX);

    const char *redact[] = {"external_id", NULL};
    assert_int_equal(xacct_codec_to_json(sb.data, sb.size, redact, 0, &out), 0);

    /* Check by parsing the output back, not by string matching. */
    json_error_t err;
    json_t *j = json_loads(out, 0, &err);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "s")), "q\"\n\xc3\xa9");
    assert_int_equal(json_integer_value(json_object_get(j, "n")), -42);
    json_t *a = json_object_get(j, "a");
    assert_int_equal(json_array_size(a), 3);
    assert_true(json_is_true(json_array_get(a, 0)));
    assert_true(json_is_null(json_array_get(a, 1)));
    assert_true(json_real_value(json_array_get(a, 2)) == 2.5);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "bin"), "$bin")),
                        "AP8=");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "bad"), "$bin")),
                        "/w==");
    assert_string_equal(json_string_value(json_object_get(j, "7")), "seven");
    assert_string_equal(json_string_value(json_object_get(j, "external_id")), "***");
    assert_null(strstr(out, "secret"));
    assert_true(json_is_real(json_object_get(j, "big")));
    json_decref(j);
    free(out);

    /* pretty output is still the same JSON */
    assert_int_equal(xacct_codec_to_json(sb.data, sb.size, NULL, XACCT_CODEC_JSON_PRETTY, &out),
                     0);
    assert_non_null(strchr(out, '\n'));
    j = json_loads(out, 0, &err);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "external_id")), "secret");
    json_decref(j);
    free(out);

    /* truncated input */
    assert_int_equal(xacct_codec_to_json(sb.data, sb.size - 1, NULL, 0, &out), XACCT_EPARSE);
    assert_null(out);
    msgpack_sbuffer_destroy(&sb);
}

static void test_json_depth_limit(void **state)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    char *out = NULL;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    for (int i = 0; i < 30; i++)
        msgpack_pack_array(&pk, 1);
    msgpack_pack_int(&pk, 1);
    assert_int_equal(xacct_codec_to_json(sb.data, sb.size, NULL, 0, &out), 0);
    free(out);
    msgpack_sbuffer_clear(&sb);
    for (int i = 0; i < 200; i++)
        msgpack_pack_array(&pk, 1);
    msgpack_pack_int(&pk, 1);
    int rc = xacct_codec_to_json(sb.data, sb.size, NULL, 0, &out);
    assert_true(rc == XACCT_EPARSE || rc == XACCT_ETOOBIG);
    assert_null(out);
    msgpack_sbuffer_destroy(&sb);
}

/* Maps whose keys are maps, 30 deep: each level's key is the JSON of the
 * level below, escaped again, so the text would double per level. A key
 * rendering to more than 1 KB makes the whole map unrenderable; a short
 * non-string key chain still renders. */
static void test_json_nested_keys_bounded(void **state)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    char *out = NULL;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    for (int i = 0; i < 30; i++)
        msgpack_pack_map(&pk, 1); /* the key of each map is the next map */
    msgpack_pack_str_with_body(&pk, "k\"\\", 3);
    for (int i = 0; i < 30; i++)
        msgpack_pack_str_with_body(&pk, "v", 1);
    assert_int_equal(xacct_codec_to_json(sb.data, sb.size, NULL, 0, &out), XACCT_EPARSE);
    assert_null(out);

    msgpack_sbuffer_clear(&sb);
    for (int i = 0; i < 3; i++)
        msgpack_pack_map(&pk, 1);
    msgpack_pack_int(&pk, 7);
    for (int i = 0; i < 3; i++)
        msgpack_pack_str_with_body(&pk, "v", 1);
    assert_int_equal(xacct_codec_to_json(sb.data, sb.size, NULL, 0, &out), 0);
    json_t *j = json_loads(out, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_object_size(j), 1);
    json_decref(j);
    free(out);
    msgpack_sbuffer_destroy(&sb);
}

/* An array or map announcing more elements than the input has bytes is
 * refused before msgpack-c allocates room for them ("dd ff ff ff ff" would
 * ask for 128 GiB). */
static void test_counts_bounded_by_input(void **state)
{
    (void)state;
    static const struct {
        const char *bytes;
        size_t len;
        bool fits;
    } cases[] = {
        {"\xdd\xff\xff\xff\xff", 5, false},             /* array32, 2^32-1 elements */
        {"\xdf\xff\xff\xff\xff", 5, false},             /* map32 */
        {"\x81\xa1k\xdd\x00\x01\x00\x00\x01", 9, false}, /* nested array of 65,536 */
        {"\xdc\x00\x03\x01\x02", 5, false},             /* array16 of 3, two present */
        {"\x82\xa1" "a\x01\xa1" "b", 6, false},                /* map of 2, 3 values */
        {"\xc6\xff\xff\xff\xff", 5, false},             /* bin32 longer than the input */
        {"\xdc\x00\x03\x01\x02\x03", 6, true},
        {"\x82\xa1" "a\x01\xa1" "b\xc0", 7, true},
        {"\x91\xd8\x01" "0123456789abcdef", 19, true}, /* fixext16 in an array */
        {"\x80", 1, true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (xacct__codec_counts_fit(cases[i].bytes, cases[i].len) != cases[i].fits)
            fail_msg("case %zu: counts_fit is %d", i, !cases[i].fits);

    char *out = NULL;
    xacct_job_t job;
    assert_int_equal(xacct_codec_to_json("\xdd\xff\xff\xff\xff", 5, NULL, 0, &out),
                     XACCT_EPARSE);
    assert_null(out);
    assert_int_equal(xacct_codec_job_decode("\xdf\xff\xff\xff\xff", 5, &job), XACCT_EPARSE);
}

/* msgpack-c hands an empty string over as a NULL pointer: an empty map key
 * or value renders as "" (and nothing copies from NULL). */
static void test_empty_strings(void **state)
{
    (void)state;
    char *out = NULL;
    assert_int_equal(xacct_codec_to_json("\x82\xa0\xa0\xa1k\xa0", 6, NULL, 0, &out), 0);
    assert_string_equal(out, "{\"\":\"\",\"k\":\"\"}");
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_job_round_trip),
        cmocka_unit_test(test_event_round_trip_and_optional),
        cmocka_unit_test(test_event_has_no_secret_field),
        cmocka_unit_test(test_heartbeat_round_trip),
        cmocka_unit_test(test_job_strict_types),
        cmocka_unit_test(test_job_missing_duplicate_unknown),
        cmocka_unit_test(test_truncated_trailing_and_not_a_map),
        cmocka_unit_test(test_size_limits),
        cmocka_unit_test(test_json_dump),
        cmocka_unit_test(test_json_depth_limit),
        cmocka_unit_test(test_json_nested_keys_bounded),
        cmocka_unit_test(test_counts_bounded_by_input),
        cmocka_unit_test(test_empty_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
