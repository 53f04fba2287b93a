/* SPDX-License-Identifier: MIT */
/*
 * Event logging and redaction. Each event becomes exactly one line on the
 * sink, in logfmt or JSON (built with jansson), whatever bytes its values
 * hold: control characters, quotes and non-ASCII bytes are escaped, so a
 * hostile value can neither start a second line nor pose as another field.
 * URLs are redacted through libcurl's URL parser, never by string scraping.
 */
#include "xacct/log.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "xacct/buf.h"

static const char *const level_names[] = {"debug", "info", "warn", "error"};
static const char *const format_names[] = {"logfmt", "json"};

/* Field names the line itself uses; a caller's field of the same name is
 * written with a leading underscore. */
static const char *const reserved_keys[] = {"ts", "level", "event", "component"};

void xacct_log_init(xacct_log_t *log, xacct_log_level_t level, xacct_log_format_t format,
                    FILE *out)
{
    log->level = level;
    log->format = format;
    log->out = out != NULL ? out : stderr;
    log->prefix = NULL;
    log->batch = NULL;
}

static FILE *sink(const xacct_log_t *log)
{
    return log->out != NULL ? log->out : stderr;
}

void xacct_log_batch_start(xacct_log_t *log)
{
    if (log->batch != NULL)
        return;
    log->batch = xacct_malloc(sizeof(*log->batch));
    /* room for one more line past the flush mark */
    xacct_buf_init(log->batch, XACCT_LOG_BATCH_MAX + XACCT_LOG_LINE_MAX);
}

bool xacct_log_pending(const xacct_log_t *log)
{
    return log != NULL && log->batch != NULL && log->batch->len > 0;
}

void xacct_log_flush(const xacct_log_t *log)
{
    xacct_buf_t *b = log != NULL ? log->batch : NULL;
    if (b == NULL || b->len == 0)
        return;
    FILE *out = sink(log);
    fwrite(b->data, 1, b->len, out);
    fflush(out);
    xacct_buf_reset(b);
}

void xacct_log_batch_stop(xacct_log_t *log)
{
    if (log->batch == NULL)
        return;
    xacct_log_flush(log);
    xacct_buf_destroy(log->batch);
    free(log->batch);
    log->batch = NULL;
}

int xacct_log_level_parse(const char *s)
{
    if (s == NULL)
        return -1;
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(level_names); i++)
        if (strcasecmp(s, level_names[i]) == 0)
            return (int)i;
    if (strcasecmp(s, "warning") == 0)
        return XACCT_LOG_WARN;
    return -1;
}

int xacct_log_format_parse(const char *s)
{
    if (s == NULL)
        return -1;
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(format_names); i++)
        if (strcasecmp(s, format_names[i]) == 0)
            return (int)i;
    return -1;
}

const char *xacct_log_level_name(xacct_log_level_t level)
{
    if ((int)level < 0 || (size_t)level >= XACCT_ARRAY_SIZE(level_names))
        return "unknown";
    return level_names[level];
}

const char *xacct_log_format_name(xacct_log_format_t format)
{
    if ((int)format < 0 || (size_t)format >= XACCT_ARRAY_SIZE(format_names))
        return "unknown";
    return format_names[format];
}

static bool is_name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == '-';
}

/*
 * Keys and event names come from our code, but they are still reduced to a
 * safe alphabet so that no mistake can break the line structure. The result
 * is written into name (LOG_NAME_MAX bytes).
 */
#define LOG_NAME_MAX 64
static void safe_name(const char *in, bool is_field, char name[LOG_NAME_MAX])
{
    size_t n = 0;
    if (in == NULL || *in == '\0')
        in = "_";
    if (is_field) {
        for (size_t i = 0; i < XACCT_ARRAY_SIZE(reserved_keys); i++) {
            if (strcmp(in, reserved_keys[i]) == 0) {
                name[n++] = '_';
                break;
            }
        }
    }
    for (; *in != '\0' && n < LOG_NAME_MAX - 1; in++)
        name[n++] = is_name_char((unsigned char)*in) ? *in : '_';
    name[n] = '\0';
}

/* Cuts a value to XACCT_LOG_VALUE_MAX bytes; *cut says whether it did. */
static size_t value_len(const char *v, bool *cut)
{
    size_t n = strnlen(v, XACCT_LOG_VALUE_MAX + 1);
    *cut = n > XACCT_LOG_VALUE_MAX;
    return *cut ? XACCT_LOG_VALUE_MAX : n;
}

static bool logfmt_needs_quotes(const char *v, size_t n)
{
    if (n == 0)
        return true;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c <= ' ' || c >= 0x7f || c == '=' || c == '"' || c == '\\')
            return true;
    }
    return false;
}

/*
 * logfmt value: bare when it is plain printable ASCII without '=', '"' or
 * spaces; otherwise quoted, with '"' and '\' backslash-escaped, the usual
 * \n \r \t, and every other byte outside 0x20..0x7e as \xHH. Non-ASCII bytes
 * are escaped too: some viewers treat U+0085 or U+2028 as line breaks.
 */
static int logfmt_value(xacct_buf_t *b, const char *v)
{
    bool cut;
    size_t n;
    int rc;

    if (v == NULL)
        v = "";
    n = value_len(v, &cut);
    if (!cut && !logfmt_needs_quotes(v, n))
        return xacct_buf_append(b, v, n);
    if ((rc = xacct_buf_putc(b, '"')) != 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        const char *esc = c == '"'    ? "\\\""
                          : c == '\\' ? "\\\\"
                          : c == '\n'  ? "\\n"
                          : c == '\r'  ? "\\r"
                          : c == '\t'  ? "\\t"
                                        : NULL;
        if (esc != NULL)
            rc = xacct_buf_puts(b, esc);
        else if (c < 0x20 || c >= 0x7f)
            rc = xacct_buf_printf(b, "\\x%02x", c);
        else
            rc = xacct_buf_putc(b, (char)c);
        if (rc != 0)
            return rc;
    }
    if (cut && (rc = xacct_buf_puts(b, "...")) != 0)
        return rc;
    return xacct_buf_putc(b, '"');
}

static int format_ts(char out[32], const struct timespec *ts)
{
    struct tm tm;
    if (gmtime_r(&ts->tv_sec, &tm) == NULL)
        return XACCT_EINVAL;
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    if (n == 0)
        return XACCT_EINVAL;
    snprintf(out + n, 32 - n, ".%03ldZ", (long)(ts->tv_nsec / 1000000));
    return 0;
}

/* The next field of the NULL-terminated key/value list, its key made a safe
 * field name; false at the end. */
static bool next_field(va_list *ap, char name[LOG_NAME_MAX], const char **value)
{
    const char *k = va_arg(*ap, const char *);
    if (k == NULL)
        return false;
    *value = va_arg(*ap, const char *);
    safe_name(k, true, name);
    return true;
}

static int logfmt_line(xacct_buf_t *b, const xacct_log_t *log, xacct_log_level_t level,
                       const char *ts, const char *event, va_list *ap)
{
    char name[LOG_NAME_MAX];
    size_t mark;
    int rc;

    safe_name(event, false, name);
    rc = xacct_buf_printf(b, "ts=%s level=%s event=%s", ts, xacct_log_level_name(level), name);
    if (rc != 0)
        return rc;
    if (log->prefix != NULL) {
        if ((rc = xacct_buf_puts(b, " component=")) != 0 ||
            (rc = logfmt_value(b, log->prefix)) != 0)
            return rc;
    }
    const char *v;
    while (next_field(ap, name, &v)) {
        mark = b->len;
        if ((rc = xacct_buf_printf(b, " %s=", name)) != 0 || (rc = logfmt_value(b, v)) != 0) {
            /* Keep the fields that fit, whole, and say that some did not. */
            b->len = mark;
            b->data[mark] = '\0';
            break;
        }
    }
    if (rc != 0 && (rc = xacct_buf_puts(b, " truncated=true")) != 0)
        return rc;
    return xacct_buf_putc(b, '\n');
}

/* jansson insists on valid UTF-8; a value that is not becomes ASCII with '?'
 * for every byte above 0x7f. */
static json_t *json_value(const char *v)
{
    bool cut;
    size_t n;
    json_t *s;

    if (v == NULL)
        return json_null();
    n = value_len(v, &cut);
    char *copy = xacct_malloc(n + 4);
    memcpy(copy, v, n);
    if (cut)
        memcpy(copy + n, "...", 3), n += 3;
    copy[n] = '\0';
    s = json_stringn(copy, n);
    if (s == NULL) {
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)copy[i] >= 0x80)
                copy[i] = '?';
        s = json_stringn(copy, n);
    }
    free(copy);
    return s;
}

static int json_line(xacct_buf_t *b, const xacct_log_t *log, xacct_log_level_t level,
                     const char *ts, const char *event, va_list *ap)
{
    char name[LOG_NAME_MAX];
    json_t *obj = json_object();
    char *text = NULL;
    int rc = XACCT_ENOMEM;

    if (obj == NULL)
        goto out;
    safe_name(event, false, name);
    if (json_object_set_new(obj, "ts", json_string(ts)) != 0 ||
        json_object_set_new(obj, "level", json_string(xacct_log_level_name(level))) != 0 ||
        json_object_set_new(obj, "event", json_string(name)) != 0)
        goto out;
    if (log->prefix != NULL && json_object_set_new(obj, "component", json_value(log->prefix)) != 0)
        goto out;
    const char *v;
    while (next_field(ap, name, &v))
        if (json_object_set_new(obj, name, json_value(v)) != 0)
            goto out;
    /* ENSURE_ASCII: \u escapes for everything non-ASCII, as in logfmt. */
    text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    if (text == NULL)
        goto out;
    if (strlen(text) + 1 > b->max - b->len) {
        rc = xacct_buf_printf(b, "{\"ts\":\"%s\",\"level\":\"%s\",\"event\":", ts,
                              xacct_log_level_name(level));
        free(text);
        text = json_dumps(json_object_get(obj, "event"), JSON_ENCODE_ANY);
        if (rc != 0 || text == NULL ||
            (rc = xacct_buf_printf(b, "%s,\"truncated\":true}\n", text)) != 0)
            goto out;
        rc = 0;
        goto out;
    }
    if ((rc = xacct_buf_puts(b, text)) != 0)
        goto out;
    rc = xacct_buf_putc(b, '\n');
out:
    free(text);
    json_decref(obj);
    return rc;
}

XACCT_STATIC int log_format_line(xacct_buf_t *b, const xacct_log_t *log, xacct_log_level_t level,
                                 const struct timespec *ts, const char *event, va_list ap)
{
    char tsbuf[32];
    int rc;

    if ((rc = format_ts(tsbuf, ts)) != 0)
        return rc;
    va_list fields;
    va_copy(fields, ap);
    if (log->format == XACCT_LOG_JSON)
        rc = json_line(b, log, level, tsbuf, event, &fields);
    else
        rc = logfmt_line(b, log, level, tsbuf, event, &fields);
    va_end(fields);
    return rc;
}

void xacct__log_emit(const xacct_log_t *log, xacct_log_level_t level, const char *event, ...)
{
    struct timespec now;
    xacct_buf_t b;
    va_list ap;
    int rc;

    if (log == NULL || level < log->level)
        return;
    clock_gettime(CLOCK_REALTIME, &now);
    xacct_buf_init(&b, XACCT_LOG_LINE_MAX);
    va_start(ap, event);
    rc = log_format_line(&b, log, level, &now, event, ap);
    va_end(ap);
    if (rc == 0 && b.len > 0) {
        xacct_buf_t *batch = log->batch;
        if (batch != NULL && xacct_buf_append(batch, b.data, b.len) == 0) {
            if (level >= XACCT_LOG_WARN || batch->len >= XACCT_LOG_BATCH_MAX)
                xacct_log_flush(log);
        } else {
            /* One fwrite per line (or per batch of whole lines), so lines
             * from one process never interleave. */
            xacct_log_flush(log);
            FILE *out = sink(log);
            fwrite(b.data, 1, b.len, out);
            fflush(out);
        }
    }
    xacct_buf_destroy(&b);
}

char *xacct_redact_url(const char *url, char *out, size_t outlen)
{
    static const char bad[] = "<unparseable-url>";
    CURLU *u = NULL;
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *query = NULL;
    bool ok = false;

    if (out == NULL || outlen == 0)
        return out;
    out[0] = '\0';
    if (url == NULL || (u = curl_url()) == NULL)
        goto out;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
        goto out;
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
        goto out;
    /* Only a port written in the URL is returned, and a missing one is fine. */
    (void)curl_url_get(u, CURLUPART_PORT, &port, 0);
    if (curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
        goto out;
    (void)curl_url_get(u, CURLUPART_QUERY, &query, 0);
    /* Userinfo and fragment are never copied; the query only as "***". */
    snprintf(out, outlen, "%s://%s%s%s%s%s", scheme, host, port ? ":" : "", port ? port : "",
             path, query != NULL && *query != '\0' ? "?***" : "");
    ok = true;
out:
    if (!ok)
        snprintf(out, outlen, "%s", bad);
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_free(query);
    curl_url_cleanup(u);
    return out;
}

const char *xacct_redact_secret(const char *secret)
{
    return secret != NULL && *secret != '\0' ? "***" : "";
}
