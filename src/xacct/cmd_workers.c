/* SPDX-License-Identifier: MIT */
/*
 * `xacct workers`: the live xacctd workers, from their heartbeat keys
 * (worker:<id>, msgpack, SPEC §5), with their uptime and how long until the
 * heartbeat expires if the worker stops beating.
 */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "commands.h"
#include "xacct/workers.h"

typedef struct workers_op {
    cli_res_t r;
    json_t *rows;
} workers_op_t;

static void workers_done(int status, const char *detail, const xacct_worker_info_t *items,
                         size_t n, void *arg)
{
    workers_op_t *op = arg;
    if (status == 0) {
        int64_t now = xacct_store_now_ms();
        op->rows = json_array();
        for (size_t i = 0; i < n; i++) {
            const xacct_worker_info_t *w = &items[i];
            char expires[32];
            cli_duration(w->ttl_ms, expires);
            json_t *row = json_pack("{s:s, s:b, s:s, s:I}", "id", w->id, "valid", w->valid,
                                    "expires_in", expires, "expires_in_ms",
                                    (json_int_t)w->ttl_ms);
            if (w->valid) {
                char started[32], uptime[32];
                cli_iso(w->hb.started_at, started);
                cli_duration(now - w->hb.started_at, uptime);
                json_t *hb = json_pack("{s:s, s:I, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, "
                                   "s:b}",
                                   "host", w->hb.host, "pid", (json_int_t)w->hb.pid, "version",
                                   w->hb.version, "started_at", started, "uptime", uptime,
                                   "uptime_ms", (json_int_t)(now - w->hb.started_at),
                                   "concurrency", (json_int_t)w->hb.concurrency, "in_flight",
                                   (json_int_t)w->hb.in_flight, "processed",
                                   (json_int_t)w->hb.processed, "failed",
                                   (json_int_t)w->hb.failed, "rss", (json_int_t)w->hb.rss,
                                   "quiet", w->hb.quiet);
                json_object_update(row, hb);
                json_decref(hb);
            }
            json_array_append_new(op->rows, row);
        }
    }
    cli_res_set(&op->r, status, detail);
}

int xacct_cmd_workers(cli_t *c, int argc, char **argv)
{
    int rc = cli_args(c, argc, argv, NULL, NULL, 0, 0);
    if (rc != 0 || (rc = cli_store(c)) != 0)
        return rc;
    workers_op_t op = {0};
    if ((rc = xacct_workers_list(c->store, workers_done, &op)) != 0)
        return cli_fail_store(c, rc, NULL, "listing workers");
    cli_wait(c, &op.r.done);
    if (op.r.status != 0) {
        rc = cli_fail_store(c, op.r.status, op.r.detail, "listing workers");
        cli_res_clear(&op.r);
        return rc;
    }
    cli_res_clear(&op.r);
    if (c->json) {
        cli_print_json(c, op.rows);
    } else {
        static const char *const cols[] = {"id", "version", "uptime", "in_flight", "processed",
                                           "failed", "quiet", "expires_in"};
        cli_print_table(c, op.rows, cols, XACCT_ARRAY_SIZE(cols));
        json_decref(op.rows);
    }
    return CLI_OK;
}
