/* SPDX-License-Identifier: MIT */
/*
 * SQS over the AWS JSON 1.0 protocol: requests and responses are JSON
 * documents built and read with jansson; the operation is named by the
 * X-Amz-Target header.
 */
#include "xacct/sqs.h"

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include "xacct/arn.h"
#include "xacct/digest.h"
#include "xacct/jdoc.h"
#include "xacct/utf8.h"

/* Ten messages of SQS's largest (1 MiB), each escaped again in the JSON
 * answer (quotes and backslashes double): a receive is never refused for
 * its size, so a few large messages published by any account allowed to
 * publish cannot hold up the ones beside them. Grown as data arrives. */
#define SQS_MAX_RESPONSE (24u * 1024u * 1024u)

void xacct_sqs_message_free(xacct_sqs_message_t *m)
{
    if (m == NULL)
        return;
    free(m->message_id);
    free(m->receipt_handle);
    free(m->body);
    free(m);
}

void xacct_sqs_queue_region(const char *queue_url, const char *fallback, char region[32])
{
    snprintf(region, 32, "%s", fallback ? fallback : "");
    CURLU *u = curl_url();
    char *host = NULL;
    if (u != NULL && curl_url_set(u, CURLUPART_URL, queue_url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        char cand[32] = "";
        const char *dot = strchr(host, '.');
        if (strncmp(host, "sqs.", 4) == 0) {
            const char *r = host + 4;
            const char *end = strchr(r, '.');
            if (end != NULL && (size_t)(end - r) < sizeof(cand))
                snprintf(cand, sizeof(cand), "%.*s", (int)(end - r), r);
        } else if (dot != NULL && strncmp(dot, ".queue.amazonaws.com", 20) == 0 &&
                   (size_t)(dot - host) < sizeof(cand)) {
            snprintf(cand, sizeof(cand), "%.*s", (int)(dot - host), host);
        } else if (strcasecmp(host, "queue.amazonaws.com") == 0) {
            /* The oldest form, without a region: us-east-1's queues. */
            snprintf(cand, sizeof(cand), "us-east-1");
        }
        if (xacct_region_valid(cand))
            snprintf(region, 32, "%s", cand);
    }
    curl_free(host);
    curl_url_cleanup(u);
}

/* ---- one JSON call ------------------------------------------------------ */

typedef enum { OP_RECEIVE, OP_BATCH } op_kind_t;

typedef struct sqs_op {
    op_kind_t kind;
    size_t n;                    /* batch entries */
    xacct_sqs_receive_cb rcb;
    xacct_sqs_batch_cb bcb;
    void *arg;
    /* A batch, to send again the entries SQS failed on its side. */
    xacct_aws_t *aws;            /* borrowed */
    char *target, *queue_url, *region; /* owned */
    char *handles[XACCT_SQS_MAX_BATCH]; /* owned receipt handles */
    int visibility_s;            /* -1: none */
    bool resent;                 /* the second batch is the answer */
    int results[XACCT_SQS_MAX_BATCH];   /* merged over both batches */
    char codes[XACCT_SQS_MAX_BATCH][XACCT_SQS_CODE_MAX];
} sqs_op_t;

static void op_free(sqs_op_t *op)
{
    if (op == NULL)
        return;
    free(op->target);
    free(op->queue_url);
    free(op->region);
    for (size_t i = 0; i < XACCT_ARRAY_SIZE(op->handles); i++)
        free(op->handles[i]);
    free(op);
}

static int submit(xacct_aws_t *aws, const char *region, const char *target, json_t *body,
                  long timeout_ms, int attempts, xacct_aws_done_cb done, sqs_op_t *op,
                  xacct_aws_call_t **handle)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (text == NULL)
        return XACCT_EINVAL;
    char target_hdr[64];
    snprintf(target_hdr, sizeof(target_hdr), "AmazonSQS.%s", target);
    xacct_header_t headers[] = {
        {"Content-Type", "application/x-amz-json-1.0"},
        {"X-Amz-Target", target_hdr},
    };
    /* libcurl arms its connect timer even on a reused connection and it
     * fires into an idle long poll; with the connect deadline at the
     * request's own, an idle worker wakes up only when the poll returns. */
    bool long_poll = strcmp(target, "ReceiveMessage") == 0;
    xacct_aws_request_t req = {
        .service = "sqs",
        .region = region,
        .method = "POST",
        .path = "/",
        .headers = headers,
        .nheaders = 2,
        .body = text,
        .body_len = strlen(text),
        .timeout_ms = timeout_ms,
        .connect_timeout_ms = long_poll ? timeout_ms : 0,
        .max_body = SQS_MAX_RESPONSE,
        .max_attempts = attempts,
    };
    int rc = xacct_aws_call(aws, &req, done, op, handle);
    free(text);
    return rc;
}

static bool md5_matches(const char *body, size_t len, const char *want)
{
    if (want == NULL)
        return true; /* older endpoints may omit it */
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (xacct_digest(XACCT_DIGEST_MD5, body, len, md, &mdlen) != 0 || mdlen != 16)
        return false;
    static const char digits[] = "0123456789abcdef";
    char hex[33];
    for (unsigned i = 0; i < 16; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[32] = '\0';
    return strcmp(hex, want) == 0;
}

static long attr_long(const xacct_jval_t *attrs, const char *name)
{
    const char *v = xacct_jval_string(xacct_jval_get(attrs, name), NULL);
    return v != NULL ? strtol(v, NULL, 10) : 0;
}

XACCT_STATIC int xacct__sqs_parse_receive(const char *body, size_t len, xacct_sqs_message_t ***out,
                                          size_t *n_out, size_t *corrupt_out)
{
    *out = NULL;
    *n_out = *corrupt_out = 0;
    xacct_jdoc_t *doc;
    const xacct_jval_t *root;
    if (xacct_jdoc_parse_object(body, len, &doc, &root) != 0)
        return XACCT_EPARSE;
    const xacct_jval_t *arr = xacct_jval_get(root, "Messages");
    if (arr != NULL && xacct_jval_type(arr) != XACCT_JDOC_ARRAY) {
        xacct_jdoc_free(doc);
        return XACCT_EPARSE;
    }
    xacct_sqs_message_t **msgs = xacct_calloc(xacct_jval_count(arr) + 1, sizeof(*msgs));
    size_t n = 0, corrupt = 0;
    for (const xacct_jval_t *m = xacct_jval_first(arr); m != NULL; m = xacct_jval_next(m)) {
        size_t text_len = 0;
        const char *text = xacct_jval_string(xacct_jval_get(m, "Body"), &text_len);
        const char *id = xacct_jval_string(xacct_jval_get(m, "MessageId"), NULL);
        const char *rh = xacct_jval_string(xacct_jval_get(m, "ReceiptHandle"), NULL);
        const char *md5 = xacct_jval_string(xacct_jval_get(m, "MD5OfBody"), NULL);
        if (text == NULL || id == NULL || rh == NULL || !md5_matches(text, text_len, md5)) {
            corrupt++;
            continue;
        }
        xacct_sqs_message_t *msg = xacct_calloc(1, sizeof(*msg));
        msg->message_id = xacct_strdup(id);
        msg->receipt_handle = xacct_strdup(rh);
        msg->body = xacct_strndup(text, text_len);
        msg->body_len = text_len;
        const xacct_jval_t *attrs = xacct_jval_get(m, "Attributes");
        msg->receive_count = (int)attr_long(attrs, "ApproximateReceiveCount");
        msg->sent_ms = attr_long(attrs, "SentTimestamp");
        msgs[n++] = msg;
    }
    xacct_jdoc_free(doc);
    *out = msgs;
    *n_out = n;
    *corrupt_out = corrupt;
    return 0;
}

/* How far AWS's clock (the response's Date, whole seconds) is ahead of this
 * host's, in ms; 0 when they agree within DATE_SLACK_MS (the Date's
 * truncation to the second and the answer's way here) or there is no Date. */
#define DATE_SLACK_MS 2000
static int64_t aws_clock_ahead_ms(const xacct_http_response_t *resp)
{
    const char *date = xacct_http_response_header(resp, "date");
    time_t server = date != NULL ? curl_getdate(date, NULL) : -1;
    if (server <= 0)
        return 0;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    int64_t ahead = (int64_t)server * 1000 - ((int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000);
    return llabs(ahead) >= DATE_SLACK_MS ? ahead : 0;
}

static void receive_done(int status, const char *detail, const xacct_http_response_t *resp,
                         const xacct_aws_error_t *err, void *arg)
{
    (void)err;
    sqs_op_t *op = arg;
    xacct_sqs_message_t **msgs = NULL;
    size_t n = 0, corrupt = 0;
    if (status == 0 &&
        xacct__sqs_parse_receive(resp->body, resp->body_len, &msgs, &n, &corrupt) != 0) {
        status = XACCT_EPARSE;
        detail = "ReceiveMessage response is not the expected JSON";
    }
    if (status == 0 && n > 0) {
        int64_t ahead = aws_clock_ahead_ms(resp);
        for (size_t i = 0; i < n; i++)
            if (msgs[i]->sent_ms > 0)
                msgs[i]->sent_ms -= ahead;
    }
    op->rcb(status, detail, msgs, n, corrupt, op->arg);
    free(msgs);
    op_free(op);
}

int xacct_sqs_receive(xacct_aws_t *aws, const char *queue_url, const char *region, int max,
                      int wait_s, int visibility_s, xacct_sqs_receive_cb cb, void *arg,
                      xacct_aws_call_t **handle)
{
    if (max < 1 || max > XACCT_SQS_MAX_BATCH || wait_s < 0 || wait_s > 20 || visibility_s < 0)
        return XACCT_EINVAL;
    json_t *body = json_pack("{s:s, s:i, s:i, s:i, s:[s,s]}", "QueueUrl", queue_url,
                             "MaxNumberOfMessages", max, "WaitTimeSeconds", wait_s,
                             "VisibilityTimeout", visibility_s, "MessageSystemAttributeNames",
                             "ApproximateReceiveCount", "SentTimestamp");
    if (body == NULL)
        return XACCT_EINVAL;
    sqs_op_t *op = xacct_calloc(1, sizeof(*op));
    op->kind = OP_RECEIVE;
    op->rcb = cb;
    op->arg = arg;
    /* The long poll holds the connection for wait_s: allow for it. */
    int rc = submit(aws, region, "ReceiveMessage", body, (long)(wait_s + 15) * 1000, 1,
                    receive_done, op, handle);
    if (rc != 0)
        op_free(op);
    return rc;
}

/* The first element of the array named key in obj (NULL when there is no
 * such array). */
static const xacct_jval_t *array_first(const xacct_jval_t *obj, const char *key)
{
    const xacct_jval_t *a = xacct_jval_get(obj, key);
    return xacct_jval_type(a) == XACCT_JDOC_ARRAY ? xacct_jval_first(a) : NULL;
}

XACCT_STATIC int xacct__sqs_parse_batch(const char *body, size_t len, size_t n, int *results,
                                        char (*codes)[XACCT_SQS_CODE_MAX])
{
    for (size_t i = 0; i < n; i++) {
        results[i] = XACCT_EAWS; /* an entry in neither list did not succeed */
        snprintf(codes[i], XACCT_SQS_CODE_MAX, "Missing");
    }
    xacct_jdoc_t *doc;
    const xacct_jval_t *root;
    if (xacct_jdoc_parse_object(body, len, &doc, &root) != 0)
        return XACCT_EPARSE;
    for (const xacct_jval_t *e = array_first(root, "Successful"); e != NULL;
         e = xacct_jval_next(e)) {
        const char *id = xacct_jval_string(xacct_jval_get(e, "Id"), NULL);
        long k = id ? strtol(id, NULL, 10) : -1;
        if (k >= 0 && (size_t)k < n) {
            results[k] = 0;
            codes[k][0] = '\0';
        }
    }
    for (const xacct_jval_t *e = array_first(root, "Failed"); e != NULL;
         e = xacct_jval_next(e)) {
        const char *id = xacct_jval_string(xacct_jval_get(e, "Id"), NULL);
        const char *code = xacct_jval_string(xacct_jval_get(e, "Code"), NULL);
        const xacct_jval_t *sender = xacct_jval_get(e, "SenderFault");
        long k = id ? strtol(id, NULL, 10) : -1;
        if (k >= 0 && (size_t)k < n) {
            /* Only a plain false says SQS's side failed; absent is the caller's. */
            results[k] = xacct_jval_type(sender) == XACCT_JDOC_FALSE ? XACCT_EAGAIN : XACCT_EAWS;
            xacct_utf8_copy(codes[k], XACCT_SQS_CODE_MAX, code ? code : "Unknown");
        }
    }
    xacct_jdoc_free(doc);
    return 0;
}

static int send_entries(sqs_op_t *op, const bool *only);

/* The callback with the merged results; the op goes with it. */
static void batch_finish(sqs_op_t *op, int status, const char *detail)
{
    const char *code_ptrs[XACCT_SQS_MAX_BATCH];
    for (size_t i = 0; i < op->n; i++)
        code_ptrs[i] = op->codes[i];
    op->bcb(status, detail, op->results, code_ptrs, op->n, op->arg);
    op_free(op);
}

static void batch_done(int status, const char *detail, const xacct_http_response_t *resp,
                       const xacct_aws_error_t *err, void *arg)
{
    (void)err;
    sqs_op_t *op = arg;
    int results[XACCT_SQS_MAX_BATCH];
    char codes[XACCT_SQS_MAX_BATCH][XACCT_SQS_CODE_MAX];
    if (status == 0 &&
        xacct__sqs_parse_batch(resp->body, resp->body_len, op->n, results, codes) != 0) {
        status = XACCT_EPARSE;
        detail = "batch response is not JSON";
    }
    if (!op->resent) {
        if (status != 0) {
            for (size_t i = 0; i < op->n; i++) {
                op->results[i] = XACCT_EAWS;
                snprintf(op->codes[i], XACCT_SQS_CODE_MAX, "Missing");
            }
            batch_finish(op, status, detail);
            return;
        }
        memcpy(op->results, results, op->n * sizeof(results[0]));
        memcpy(op->codes, codes, op->n * sizeof(codes[0]));
        /* Entries SQS failed on its side go once more, on their own. */
        bool again[XACCT_SQS_MAX_BATCH] = {false};
        bool any = false;
        for (size_t i = 0; i < op->n; i++) {
            again[i] = results[i] == XACCT_EAGAIN;
            any = any || again[i];
        }
        op->resent = true;
        if (any && send_entries(op, again) == 0)
            return;
        batch_finish(op, 0, NULL);
        return;
    }
    /* The second batch: it had only the entries still XACCT_EAGAIN. A call
     * that failed leaves them so; the first batch's answer stands. */
    for (size_t i = 0; i < op->n && status == 0; i++) {
        if (op->results[i] != XACCT_EAGAIN)
            continue;
        op->results[i] = results[i];
        memcpy(op->codes[i], codes[i], XACCT_SQS_CODE_MAX);
    }
    batch_finish(op, 0, NULL);
}

/* Sends the op's entries (only those marked in only, when given), each
 * with its index as Id. Returns what xacct_aws_call did; the op is kept. */
static int send_entries(sqs_op_t *op, const bool *only)
{
    json_t *entries = json_array();
    for (size_t i = 0; i < op->n; i++) {
        if (only != NULL && !only[i])
            continue;
        char id[24];
        snprintf(id, sizeof(id), "%zu", i);
        json_t *e = json_pack("{s:s, s:s}", "Id", id, "ReceiptHandle", op->handles[i]);
        if (e == NULL) {
            json_decref(entries);
            return XACCT_EINVAL;
        }
        if (op->visibility_s >= 0)
            json_object_set_new(e, "VisibilityTimeout", json_integer(op->visibility_s));
        json_array_append_new(entries, e);
    }
    json_t *body = json_pack("{s:s, s:o}", "QueueUrl", op->queue_url, "Entries", entries);
    return submit(op->aws, op->region, op->target, body, 0, 0, batch_done, op, NULL);
}

static int batch(xacct_aws_t *aws, const char *target, const char *queue_url, const char *region,
                 const char *const *handles, size_t n, int visibility_s, xacct_sqs_batch_cb cb,
                 void *arg)
{
    if (n == 0 || n > XACCT_SQS_MAX_BATCH || queue_url == NULL)
        return XACCT_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (handles[i] == NULL)
            return XACCT_EINVAL;
    sqs_op_t *op = xacct_calloc(1, sizeof(*op));
    op->kind = OP_BATCH;
    op->n = n;
    op->bcb = cb;
    op->arg = arg;
    op->aws = aws;
    op->target = xacct_strdup(target);
    op->queue_url = xacct_strdup(queue_url);
    op->region = region != NULL ? xacct_strdup(region) : NULL;
    for (size_t i = 0; i < n; i++)
        op->handles[i] = xacct_strdup(handles[i]);
    op->visibility_s = visibility_s;
    int rc = send_entries(op, NULL);
    if (rc != 0)
        op_free(op);
    return rc;
}

int xacct_sqs_delete_batch(xacct_aws_t *aws, const char *queue_url, const char *region,
                           const char *const *receipt_handles, size_t n, xacct_sqs_batch_cb cb,
                           void *arg)
{
    return batch(aws, "DeleteMessageBatch", queue_url, region, receipt_handles, n, -1, cb, arg);
}

int xacct_sqs_change_visibility_batch(xacct_aws_t *aws, const char *queue_url, const char *region,
                                      const char *const *receipt_handles, size_t n,
                                      int visibility_s, xacct_sqs_batch_cb cb, void *arg)
{
    if (visibility_s < 0 || visibility_s > 43200)
        return XACCT_EINVAL;
    return batch(aws, "ChangeMessageVisibilityBatch", queue_url, region, receipt_handles, n,
                 visibility_s, cb, arg);
}
