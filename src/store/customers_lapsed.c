/* SPDX-License-Identifier: MIT */
/*
 * Reservations whose holder died (customers_onboard.c): a process killed
 * between reserving an external ID and committing or releasing it runs no
 * release, so the workers take the entries of the reservations zset whose
 * lease has ended and release each one in the same script, as its holder
 * would have: the index key deleted, the account taken off the topic it was
 * allowed on, and the template and the topic's policy queued for the
 * cleanup zset. A committed ID is left alone (the commit took the entry off
 * the zset, and a commit that comes after the release is refused).
 */
#include "xacct/customers.h"

#include "customers_int.h"
#include "xacct/store_op.h"

/* The script's lines are Lua's. */
/* clang-format off */
static const xacct_store_script_t lapsed_script = {
    "customer_release_lapsed",
    /* KEYS: 1 reservations, 2 cleanup; ARGV: 1 now_ms, 2 max, 3 prefix */
    XACCT__RELEASE_ID_LUA
    XACCT__STORE_LUA_DUE("due", "ARGV[1]", "ARGV[2]")
    "local n = 0\n"
    "for _, m in ipairs(due) do\n"
    "  local account, id, topic = string.match(m, '^(%d+)|([^|]+)|([^|]*)$')\n"
    "  local k = account and ARGV[3] .. 'external-id:' .. id\n"
    "  local lease = k and redis.call('GET', k) == account and redis.call('PTTL', k) or -1\n"
    /* The due time is the reserving host's clock; the lease is Redis's.
     * While the lease runs the holder may still commit: look again then. */
    "  if lease > 0 then\n"
    "    redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + lease, m)\n"
    "  else\n"
    "    redis.call('ZREM', KEYS[1], m)\n"
    /* The template may have been uploaded before the holder died. */
    "    if account and release_id(ARGV[3], account, id, topic, true, KEYS[2], ARGV[1]) ==\n"
    "       'released' then n = n + 1 end\n"
    "  end\n"
    "end\n"
    XACCT__STORE_LUA_DUE_REPLY("n, #due"),
};
/* clang-format on */

int xacct_customers_release_lapsed(xacct_store_t *s, int64_t now_ms, size_t max,
                                   xacct_customers_lapsed_cb cb, void *arg)
{
    if (s == NULL || cb == NULL || max == 0 || now_ms <= 0)
        return XACCT_EINVAL;
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_key(&a, s, "reservations");
    xacct_store_args_key(&a, s, "cleanup");
    xacct_store_args_ll(&a, (long long)now_ms);
    xacct_store_args_ll(&a, (long long)max);
    xacct_store_args_str(&a, xacct_store_prefix(s));
    return xacct__store_op_run(s, &lapsed_script, 2, &a, xacct__store_op_due_counts_reply,
                               XACCT_STORE_REPLY_ARRAY, XACCT__STORE_OP_FN(cb), arg);
}
