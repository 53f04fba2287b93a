/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes the msgpack codec: the strict decoders of jobs, audit events and
 * heartbeats, and the msgpack-to-JSON dumper the CLI shows. Property: what
 * decodes encodes and decodes again to the same values.
 */
#include "fuzz_util.h"
#include "xacct/codec.h"

static bool same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    xacct_job_t job, job2;
    if (xacct_codec_job_decode(data, size, &job) == 0) {
        xacct_buf_t b;
        xacct_buf_init(&b, XACCT_CODEC_MAX_INPUT);
        if (xacct_codec_job_encode(&job, &b) == 0) {
            FUZZ_ASSERT(xacct_codec_job_decode(b.data, b.len, &job2) == 0);
            FUZZ_ASSERT(same(job.account_id, job2.account_id) &&
                        same(job.external_id, job2.external_id) &&
                        job.requested_at == job2.requested_at);
            xacct_codec_job_destroy(&job2);
        }
        xacct_buf_destroy(&b);
        xacct_codec_job_destroy(&job);
    }
    xacct_event_t ev, ev2;
    if (xacct_codec_event_decode(data, size, &ev) == 0) {
        xacct_buf_t b;
        xacct_buf_init(&b, XACCT_CODEC_MAX_INPUT);
        if (xacct_codec_event_encode(&ev, &b) == 0) {
            FUZZ_ASSERT(xacct_codec_event_decode(b.data, b.len, &ev2) == 0);
            FUZZ_ASSERT(same(ev.type, ev2.type) && same(ev.reason, ev2.reason) &&
                        ev.ts == ev2.ts);
            xacct_codec_event_destroy(&ev2);
        }
        xacct_buf_destroy(&b);
        xacct_codec_event_destroy(&ev);
    }
    xacct_heartbeat_t hb;
    if (xacct_codec_heartbeat_decode(data, size, &hb) == 0)
        xacct_codec_heartbeat_destroy(&hb);
    static const char *const redact[] = {"external_id", NULL};
    char *json = NULL;
    if (xacct_codec_to_json(data, size, redact, XACCT_CODEC_JSON_PRETTY, &json) == 0) {
        FUZZ_ASSERT(json != NULL);
        free(json);
    }
    return 0;
}
