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
#include "xacct/heartbeats.h"

static void workers_done(int status, const char *detail, const xacct_heartbeats_item_t *items,
                         size_t n, void *arg)
{
    cli_list_t *l = arg;
    if (status == 0) {
        int64_t now = xacct_store_now_ms();
        for (size_t i = 0; i < n; i++) {
            const xacct_heartbeats_item_t *w = &items[i];
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
            json_array_append_new(l->rows, row);
        }
    }
    cli_list_done(l, status, detail);
}

int xacct_cmd_workers(cli_t *c, int argc, char **argv)
{
    int rc = cli_args(c, argc, argv, NULL, NULL, 0, 0);
    if (rc != 0 || (rc = cli_store(c)) != 0)
        return rc;
    static const char *const cols[] = {"id", "version", "uptime", "in_flight", "processed",
                                       "failed", "quiet", "expires_in"};
    cli_list_t l;
    cli_list_init(&l);
    int submitted = xacct_heartbeats_list(c->ctx->store, workers_done, &l);
    return cli_list_print(c, submitted, &l, "listing workers", cols, XACCT_ARRAY_SIZE(cols));
}
