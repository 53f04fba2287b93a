/* SPDX-License-Identifier: MIT */
/*
 * Amazon SQS client, AWS JSON 1.0 protocol: ReceiveMessage (long polling,
 * system attributes ApproximateReceiveCount and SentTimestamp, MD5 of the
 * body checked), DeleteMessageBatch and ChangeMessageVisibilityBatch.
 * Requests go to the SQS endpoint of the queue's region with the QueueUrl in
 * the body, as the SDKs do.
 */
#ifndef XACCT_SQS_H
#define XACCT_SQS_H

#include <stddef.h>
#include <stdint.h>

#include "xacct/aws.h"
#include "xacct/common.h"

#define XACCT_SQS_MAX_BATCH 10
#define XACCT_SQS_CODE_MAX 128 /* longest error code kept per batch entry */

typedef struct xacct_sqs_message {
    char *message_id;       /* owned */
    char *receipt_handle;   /* owned */
    char *body;             /* owned, NUL-terminated */
    size_t body_len;
    int receive_count;      /* ApproximateReceiveCount, 0 if absent */
    int64_t sent_ms;        /* SentTimestamp (epoch ms), 0 if absent, on this host's
                               clock: SQS stamps it with AWS's, so when the receive's
                               Date says the two clocks are 2 s or more apart it is
                               moved by the difference (a deadline counted from it is
                               then counted right on a host whose clock is off) */
} xacct_sqs_message_t;

void xacct_sqs_message_free(xacct_sqs_message_t *m);

/*
 * The region of a queue URL (https://sqs.<region>.amazonaws.com[.cn]/...,
 * or the legacy https://<region>.queue.amazonaws.com/...) copied into
 * region[32]; fallback when the host has neither form (a local endpoint).
 */
void xacct_sqs_queue_region(const char *queue_url, const char *fallback, char region[32]);

/*
 * Receive completion. On status 0, msgs[0..n) are heap messages whose
 * ownership passes to the callback (free each with xacct_sqs_message_free);
 * the array itself is freed after the callback returns. Messages whose body
 * does not match MD5OfBody are dropped (they reappear after the visibility
 * timeout) and counted in corrupt. Statuses as in aws.h.
 */
typedef void (*xacct_sqs_receive_cb)(int status, const char *detail, xacct_sqs_message_t **msgs,
                                     size_t n, size_t corrupt, void *arg);

/* Long-polls queue_url: up to max (1..10) messages, waiting wait_s (0..20)
 * seconds, hiding them for visibility_s. One attempt; the caller decides
 * about backoff. */
int xacct_sqs_receive(xacct_aws_t *aws, const char *queue_url, const char *region, int max,
                      int wait_s, int visibility_s, xacct_sqs_receive_cb cb, void *arg,
                      xacct_aws_call_t **handle) XACCT_MUSTCHECK;

/*
 * Batch completion: status is the call's (0 when SQS answered); on 0,
 * results[i] is 0 for each entry that succeeded, XACCT_EAGAIN for one that
 * failed on SQS's side (SenderFault false) even when sent again, else
 * XACCT_EAWS, and failed_codes[i] its error code ("" on success). An entry
 * failed on SQS's side is sent once more, in a batch of such entries, before
 * the callback (AWS: retry those; the others would fail the same). Both
 * arrays borrowed.
 */
typedef void (*xacct_sqs_batch_cb)(int status, const char *detail, const int *results,
                                   const char *const *failed_codes, size_t n, void *arg);

/* Deletes up to 10 messages by receipt handle. */
int xacct_sqs_delete_batch(xacct_aws_t *aws, const char *queue_url, const char *region,
                           const char *const *receipt_handles, size_t n, xacct_sqs_batch_cb cb,
                           void *arg) XACCT_MUSTCHECK;

/* Sets the visibility timeout (0..43200 s) of up to 10 messages. */
int xacct_sqs_change_visibility_batch(xacct_aws_t *aws, const char *queue_url, const char *region,
                                      const char *const *receipt_handles, size_t n,
                                      int visibility_s, xacct_sqs_batch_cb cb,
                                      void *arg) XACCT_MUSTCHECK;

#ifdef XACCT_UNIT_TESTING
/* The response parsers (sqs.c internals, for tests and fuzzing).
 * parse_receive: *out is a NULL-terminated array the caller frees, each
 * message with xacct_sqs_message_free. parse_batch: fills n results and
 * codes, an entry's Id being its index; entries absent from the answer are
 * XACCT_EAWS "Missing". Both return 0 or XACCT_EPARSE. */
int xacct__sqs_parse_receive(const char *body, size_t len, xacct_sqs_message_t ***out,
                             size_t *n_out, size_t *corrupt_out);
int xacct__sqs_parse_batch(const char *body, size_t len, size_t n, int *results,
                           char (*codes)[XACCT_SQS_CODE_MAX]);
#endif

/* ---- GetQueueAttributes (sqs_attributes.c) ------------------------------ */

/* status 0 with the queue's ARN and its Policy (NULL when it has none), both
 * borrowed for the callback; or aws.h's statuses (XACCT_EAWS with
 * "QueueDoesNotExist: ..."), XACCT_EPARSE. */
typedef void (*xacct_sqs_attributes_cb)(int status, const char *detail, const char *queue_arn,
                                        const char *policy, void *arg);

/* Reads QueueArn and Policy of queue_url in region (NULL = the client's).
 * The callback fires exactly once, never from inside this call; a nonzero
 * return means it never will. */
int xacct_sqs_get_attributes(xacct_aws_t *aws, const char *queue_url, const char *region,
                             xacct_sqs_attributes_cb cb, void *arg) XACCT_MUSTCHECK;

#endif
