/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for src/core/log.c: the exact logfmt and JSON lines for a fixed time,
 * escaping of hostile values (no forged lines or fields), level filtering in
 * the macro (arguments not evaluated when the level is off), batching (whole
 * lines in one write, warnings at once), and URL redaction through libcurl's
 * parser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "xacct/buf.h"
#include "xacct/log.h"

/* 2026-11-21T02:38:40.123Z */
static const struct timespec fixed_ts = {.tv_sec = 1795228720, .tv_nsec = 123456789};

/* Formats one line at fixed_ts into a heap string (caller frees). */
static char *line_at(const xacct_log_t *log, xacct_log_level_t level, const char *event, ...)
{
    xacct_buf_t b;
    va_list ap;
    xacct_buf_init(&b, XACCT_LOG_LINE_MAX);
    va_start(ap, event);
    int rc = log_format_line(&b, log, level, &fixed_ts, event, ap);
    va_end(ap);
    assert_int_equal(rc, 0);
    return xacct_buf_steal(&b);
}

static size_t count_char(const char *s, char c)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == c;
    return n;
}

static void test_logfmt_exact(void **state)
{
    (void)state;
    xacct_log_t log;
    xacct_log_init(&log, XACCT_LOG_DEBUG, XACCT_LOG_LOGFMT, NULL);
    assert_ptr_equal(log.out, stderr);
    char *s = line_at(&log, XACCT_LOG_INFO, "message.acked", "queue", "q1", "reason",
                      "quoted value", "empty", "", "nil", NULL, NULL);
    assert_string_equal(s, "ts=2026-11-21T02:38:40.123Z level=info event=message.acked "
                           "queue=q1 reason=\"quoted value\" empty=\"\" nil=\"\"\n");
    free(s);

    log.prefix = "sqs worker";
    s = line_at(&log, XACCT_LOG_ERROR, "x", "k", "a=b", NULL);
    assert_string_equal(s, "ts=2026-11-21T02:38:40.123Z level=error event=x "
                           "component=\"sqs worker\" k=\"a=b\"\n");
    free(s);
}

static void test_logfmt_hostile(void **state)
{
    (void)state;
    xacct_log_t log;
    xacct_log_init(&log, XACCT_LOG_DEBUG, XACCT_LOG_LOGFMT, NULL);
    /* A value that tries to end the line and start a forged one, a quote
     * that tries to close the field early, a raw ESC, and non-ASCII (U+2028). */
    char *s = line_at(&log, XACCT_LOG_WARN, "evt\nlevel=error", "v",
                      "x\nts=2026 level=error event=forged", "q", "a\" admin=\"true",
                      "ctl", "\x1b[31m\t\r\\", "u", "\xe2\x80\xa8", "level", "fake",
                      "bad key", "v", NULL);
    assert_int_equal(count_char(s, '\n'), 1);
    assert_int_equal(s[strlen(s) - 1], '\n');
    assert_string_equal(s, "ts=2026-11-21T02:38:40.123Z level=warn event=evt_level_error "
                           "v=\"x\\nts=2026 level=error event=forged\" "
                           "q=\"a\\\" admin=\\\"true\" "
                           "ctl=\"\\x1b[31m\\t\\r\\\\\" "
                           "u=\"\\xe2\\x80\\xa8\" "
                           "_level=fake bad_key=v\n");
    free(s);
}

static void test_logfmt_long_value_cut(void **state)
{
    (void)state;
    xacct_log_t log;
    xacct_log_init(&log, XACCT_LOG_DEBUG, XACCT_LOG_LOGFMT, NULL);
    char *big = malloc(XACCT_LOG_VALUE_MAX * 4);
    memset(big, 'a', XACCT_LOG_VALUE_MAX * 4 - 1);
    big[XACCT_LOG_VALUE_MAX * 4 - 1] = '\0';
    char *s = line_at(&log, XACCT_LOG_INFO, "e", "big", big, "after", "1", NULL);
    /* prefix + big="<VALUE_MAX a's>..." + after=1 */
    char *q = strstr(s, "big=\"");
    assert_non_null(q);
    q += 5;
    assert_int_equal(strspn(q, "a"), XACCT_LOG_VALUE_MAX);
    assert_memory_equal(q + XACCT_LOG_VALUE_MAX, "...\" after=1\n", 13);

    /* Enough big fields to pass the line cap: whole fields only, then a marker. */
    /* 20 fields of 1 KiB exceed 16 KiB. */
    char *t = line_at(&log, XACCT_LOG_INFO, "e", "a", big, "b", big, "c", big, "d", big, "e",
                    big, "f", big, "g", big, "h", big, "i", big, "j", big, "k", big, "l", big,
                    "m", big, "n", big, "o", big, "p", big, "q", big, "r", big, "s", big, "t",
                    big, NULL);
    size_t n = strlen(t);
    assert_true(n <= XACCT_LOG_LINE_MAX);
    assert_int_equal(count_char(t, '\n'), 1);
    assert_string_equal(t + n - strlen(" truncated=true\n"), " truncated=true\n");
    assert_null(strstr(t, " t=")); /* the last field did not fit */
    /* every field written is whole: each opened quote is closed */
    assert_int_equal(count_char(t, '"') % 2, 0);
    free(t);
    free(s);
    free(big);
}

static void test_json_line(void **state)
{
    (void)state;
    xacct_log_t log;
    xacct_log_init(&log, XACCT_LOG_DEBUG, XACCT_LOG_JSON, NULL);
    log.prefix = "cfn";
    char *s = line_at(&log, XACCT_LOG_DEBUG, "answer.sent", "status", "SUCCESS", "evil",
                      "a\"}\n{\"level\":\"error", "event", "fake", "bytes", "\xff\xfe ok",
                      "nil", NULL, NULL);
    assert_int_equal(count_char(s, '\n'), 1);
    assert_string_equal(s, "{\"ts\":\"2026-11-21T02:38:40.123Z\",\"level\":\"debug\","
                           "\"event\":\"answer.sent\",\"component\":\"cfn\","
                           "\"status\":\"SUCCESS\",\"evil\":\"a\\\"}\\n{\\\"level\\\":\\\"error\","
                           "\"_event\":\"fake\",\"bytes\":\"?? ok\",\"nil\":null}\n");
    /* It parses back, as one object, with the hostile value intact. */
    json_error_t jerr;
    json_t *o = json_loads(s, 0, &jerr);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "level")), "debug");
    assert_string_equal(json_string_value(json_object_get(o, "evil")), "a\"}\n{\"level\":\"error");
    json_decref(o);
    free(s);

    /* Valid UTF-8 is kept, as \u escapes. */
    s = line_at(&log, XACCT_LOG_INFO, "e", "name", "caf\xc3\xa9", NULL);
    assert_non_null(strstr(s, "\"name\":\"caf\\u00E9\""));
    free(s);
}

static int evaluated;
static const char *counted(const char *v)
{
    evaluated++;
    return v;
}

static char *read_all(FILE *f)
{
    long n;
    fflush(f);
    n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    char *s = calloc(1, (size_t)n + 1);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    return s;
}

static void test_level_filter(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    xacct_log_t log;
    xacct_log_init(&log, XACCT_LOG_WARN, XACCT_LOG_LOGFMT, f);
    evaluated = 0;
    XACCT_LOG_DEBUG(&log, "d", "k", counted("1"), NULL);
    XACCT_LOG_INFO(&log, "i", "k", counted("2"), NULL);
    assert_int_equal(evaluated, 0); /* the macro skipped its arguments */
    XACCT_LOG_WARN(&log, "w", "k", counted("3"), NULL);
    XACCT_LOG_ERROR(&log, "e", "k", counted("4"), NULL);
    assert_int_equal(evaluated, 2);
    /* emit checks the level too, for callers that bypass the macro */
    xacct__log_emit(&log, XACCT_LOG_INFO, "direct", NULL);
    XACCT_LOG_ERROR((const xacct_log_t *)NULL, "nolog", NULL); /* no crash */

    char *s = read_all(f);
    assert_int_equal(count_char(s, '\n'), 2);
    char *l1 = s, *l2 = strchr(s, '\n') + 1;
    /* real clock: ts=YYYY-MM-DDTHH:MM:SS.mmmZ */
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    assert_int_equal(strncmp(l1, "ts=", 3), 0);
    char *rest = strptime(l1 + 3, "%Y-%m-%dT%H:%M:%S", &tm);
    assert_non_null(rest);
    assert_true(rest[0] == '.' && rest[4] == 'Z' && rest[5] == ' ');
    assert_true(tm.tm_year + 1900 >= 2024);
    assert_non_null(strstr(l1, " level=warn event=w k=3\n"));
    assert_non_null(strstr(l2, " level=error event=e k=4\n"));
    assert_null(strstr(s, "direct"));
    free(s);
    fclose(f);
}

static void test_parse_names(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int level;
    } levels[] = {{"debug", XACCT_LOG_DEBUG}, {"INFO", XACCT_LOG_INFO},
                  {"warn", XACCT_LOG_WARN},   {"warning", XACCT_LOG_WARN},
                  {"error", XACCT_LOG_ERROR}, {"trace", -1},
                  {"", -1},                   {NULL, -1}};
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
        assert_int_equal(xacct_log_level_parse(levels[i].s), levels[i].level);
    assert_int_equal(xacct_log_format_parse("logfmt"), XACCT_LOG_LOGFMT);
    assert_int_equal(xacct_log_format_parse("JSON"), XACCT_LOG_JSON);
    assert_int_equal(xacct_log_format_parse("text"), -1);
    assert_string_equal(xacct_log_level_name(XACCT_LOG_WARN), "warn");
    assert_string_equal(xacct_log_level_name((xacct_log_level_t)9), "unknown");
    assert_string_equal(xacct_log_format_name(XACCT_LOG_JSON), "json");
}

static void test_redact_url(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want;
    } cases[] = {
        /* A CloudFormation ResponseURL: presigned, SigV4 query. */
        {"https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/"
         "arn%3Aaws%3Acloudformation%3Aus-east-1%3A123456789012%3Astack/s/id%7CRes%7Creq"
         "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20261121T023840Z"
         "&X-Amz-SignedHeaders=host&X-Amz-Expires=7200"
         "&X-Amz-Credential=AKIAEXAMPLE%2F20261121%2Fus-east-1%2Fs3%2Faws4_request"
         "&X-Amz-Security-Token=FQoGZXIvYXdzEXAMPLETOKEN"
         "&X-Amz-Signature=0123456789abcdef0123456789abcdef",
         "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/"
         "arn%3Aaws%3Acloudformation%3Aus-east-1%3A123456789012%3Astack/s/id%7CRes%7Creq?***"},
        /* A quick-create link: its presigned templateURL rides in the
         * fragment, which never survives. */
        {"https://console.aws.amazon.com/cloudformation/home?region=us-east-1"
         "#/stacks/quickcreate?templateURL=https%3A%2F%2Fs3.us-east-1.amazonaws.com%2Fb%2Fk"
         "%3FX-Amz-Credential%3DAKIAEXAMPLE%252F20261121%26X-Amz-Signature%3D0123abcd"
         "&stackName=xacct-onboarding",
         "https://console.aws.amazon.com/cloudformation/home?***"},
        /* Older SigV2-style presign. */
        {"https://bucket.s3.amazonaws.com/k?AWSAccessKeyId=AKIA&Expires=1&Signature=abc%3D",
         "https://bucket.s3.amazonaws.com/k?***"},
        /* Userinfo and fragment never survive; an explicit port does. */
        {"https://user:secret@example.com:8443/p/q?x=1#frag", "https://example.com:8443/p/q?***"},
        {"http://example.com", "http://example.com/"},
        {"https://example.com/path", "https://example.com/path"},
        {"https://[::1]:9000/a?b", "https://[::1]:9000/a?***"},
        {"not a url", "<unparseable-url>"},
        {"example.com/no-scheme?X-Amz-Signature=1", "<unparseable-url>"},
        {"", "<unparseable-url>"},
    };
    char out[XACCT_REDACT_URL_MAX];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_ptr_equal(xacct_redact_url(cases[i].in, out, sizeof(out)), out);
        assert_string_equal(out, cases[i].want);
        assert_null(strstr(out, "Signature"));
        assert_null(strstr(out, "Security-Token"));
        assert_null(strstr(out, "secret"));
    }
    assert_string_equal(xacct_redact_url(NULL, out, sizeof(out)), "<unparseable-url>");
    /* A short buffer is cut, still terminated, and never shows the query. */
    char small[24];
    xacct_redact_url("https://example.com/a/very/long/path?X-Amz-Signature=abc", small,
                     sizeof(small));
    assert_int_equal(strlen(small), sizeof(small) - 1);
    assert_string_equal(small, "https://example.com/a/v");

    assert_string_equal(xacct_redact_secret("AKIAXXXX"), "***");
    assert_string_equal(xacct_redact_secret(""), "");
    assert_string_equal(xacct_redact_secret(NULL), "");
}

/* A sink that records each write it gets, as the kernel would see them. */
typedef struct {
    int writes;
    char data[4 * XACCT_LOG_BATCH_MAX];
    size_t len;
    bool partial_line; /* a write that did not end a line */
} sink_t;

static ssize_t sink_write(void *cookie, const char *buf, size_t n)
{
    sink_t *k = cookie;
    k->writes++;
    if (n == 0 || buf[n - 1] != '\n')
        k->partial_line = true;
    size_t room = sizeof(k->data) - 1 - k->len;
    memcpy(k->data + k->len, buf, n < room ? n : room);
    k->len += n < room ? n : room;
    k->data[k->len] = '\0';
    return (ssize_t)n;
}

static FILE *sink_open(sink_t *k)
{
    memset(k, 0, sizeof(*k));
    cookie_io_functions_t io = {.write = sink_write};
    FILE *f = fopencookie(k, "w", io);
    assert_non_null(f);
    setvbuf(f, NULL, _IONBF, 0); /* each fwrite reaches sink_write as it is */
    return f;
}

static void test_batch(void **state)
{
    (void)state;
    sink_t k;
    FILE *f = sink_open(&k);
    xacct_log_t log;
    xacct_log_init(&log, XACCT_LOG_DEBUG, XACCT_LOG_LOGFMT, f);
    xacct_log_flush(&log); /* nothing batched: nothing to do */

    xacct_log_batch_start(&log);
    XACCT_LOG_DEBUG(&log, "one", NULL);
    XACCT_LOG_INFO(&log, "two", NULL);
    assert_int_equal(k.writes, 0); /* held */
    /* A warning goes out at once, behind what came before, in one write. */
    XACCT_LOG_WARN(&log, "three", NULL);
    assert_int_equal(k.writes, 1);
    assert_int_equal(count_char(k.data, '\n'), 3);
    char *one = strstr(k.data, "event=one"), *two = strstr(k.data, "event=two");
    char *three = strstr(k.data, "event=three");
    assert_true(one != NULL && two != NULL && three != NULL && one < two && two < three);

    assert_false(xacct_log_pending(&log));
    XACCT_LOG_INFO(&log, "four", NULL);
    assert_int_equal(k.writes, 1);
    assert_true(xacct_log_pending(&log));
    xacct_log_flush(&log);
    assert_false(xacct_log_pending(&log));
    assert_int_equal(k.writes, 2);
    assert_non_null(strstr(k.data, "event=four"));
    xacct_log_flush(&log); /* empty again: no write */
    assert_int_equal(k.writes, 2);

    /* Lines enough to pass the mark go out without a flush, whole. */
    char value[200];
    memset(value, 'v', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0';
    size_t lines = 0;
    while (k.writes == 2) {
        XACCT_LOG_INFO(&log, "bulk", "value", value, NULL);
        lines++;
        assert_true(lines < 2 * XACCT_LOG_BATCH_MAX / sizeof(value));
    }
    assert_int_equal(k.writes, 3);
    assert_int_equal(count_char(k.data, '\n'), 4 + lines);
    assert_true(lines * sizeof(value) >= XACCT_LOG_BATCH_MAX / 2);

    /* Stopping writes the rest; then every line goes out by itself. */
    XACCT_LOG_INFO(&log, "five", NULL);
    xacct_log_batch_stop(&log);
    assert_int_equal(k.writes, 4);
    assert_null(log.batch);
    XACCT_LOG_INFO(&log, "six", NULL);
    assert_int_equal(k.writes, 5);
    assert_non_null(strstr(k.data, "event=six"));
    assert_false(k.partial_line);
    fclose(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logfmt_exact),     cmocka_unit_test(test_logfmt_hostile),
        cmocka_unit_test(test_logfmt_long_value_cut), cmocka_unit_test(test_json_line),
        cmocka_unit_test(test_level_filter),     cmocka_unit_test(test_parse_names),
        cmocka_unit_test(test_redact_url),       cmocka_unit_test(test_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
