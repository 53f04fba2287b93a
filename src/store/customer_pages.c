/* SPDX-License-Identifier: MIT */
/*
 * Customer pages: one script per page over the customers zset, walking
 * newest first from the cursor in batches of 100 and returning whole hashes
 * (with, for pending ones, when their current onboarding began). Ties (the
 * same millisecond) are ordered by account, descending, as ZREVRANGEBYSCORE
 * orders them, so "score:account" is a total order and a page never repeats
 * or skips a record that did not change meanwhile.
 *
 * A page ends at the first record that would not fit in it, not at the
 * limit-th: the walk only hands out a cursor when something in the state
 * asked for is left (or its budget ran out first), so the last page's cursor
 * is "" even when that page is exactly full. Records looked at and left out
 * (another state) are behind the cursor: the next page does not read them
 * again.
 */
#include "xacct/customer_pages.h"

#include <stdlib.h>
#include <string.h>

#include "xacct/store_op.h"

static const xacct_store_script_t page_script = {
    "customer_page",
    /* KEYS: 1 customers zset, 2 pending zset (expiry.h); ARGV: 1 prefix,
     * 2 state ('' = all), 3 limit, 4 cursor score ('' = none), 5 cursor
     * account, 6 entries to look at */
    "local limit, budget = tonumber(ARGV[3]), tonumber(ARGV[6])\n"
    "local max = ARGV[4] ~= '' and ARGV[4] or '+inf'\n"
    "local out, since, looked, offset, last_s, last_a, more = {}, {}, 0, 0, nil, nil, false\n"
    "repeat\n"
    "  local batch = redis.call('ZREVRANGEBYSCORE', KEYS[1], max, '-inf', 'WITHSCORES',\n"
    "                           'LIMIT', offset, 100)\n"
    "  offset = offset + #batch / 2\n"
    "  for i = 1, #batch, 2 do\n"
    "    local id, sc = batch[i], batch[i + 1]\n"
    "    if not (ARGV[4] ~= '' and tonumber(sc) == tonumber(ARGV[4]) and id >= ARGV[5]) then\n"
    "      if looked >= budget then more = true break end\n"
    "      looked = looked + 1\n"
    "      local ckey = ARGV[1] .. 'customer:' .. id\n"
    "      local st = redis.call('HGET', ckey, 'state')\n"
    "      if st and (ARGV[2] == '' or st == ARGV[2]) then\n"
    /* The first record past a full page: the next page starts with it. */
    "        if #out >= limit then more = true break end\n"
    "        out[#out + 1] = redis.call('HGETALL', ckey)\n"
    "        since[#out] = st == 'pending' and redis.call('ZSCORE', KEYS[2], id) or ''\n"
    "      end\n"
    "      last_s, last_a = sc, id\n"
    "    end\n"
    "  end\n"
    "until more or #batch < 200\n"
    "local cursor = ''\n"
    "if more and last_s then cursor = last_s .. ':' .. last_a end\n"
    "return {cursor, out, since}\n",
};

int xacct_customer_cursor_valid(const char *cursor)
{
    if (cursor == NULL || strlen(cursor) > XACCT_CUSTOMER_CURSOR_MAX)
        return 0;
    const char *colon = strchr(cursor, ':');
    if (colon == NULL || colon == cursor)
        return 0;
    for (const char *p = cursor; p < colon; p++)
        if (*p < '0' || *p > '9')
            return 0;
    if (strlen(colon + 1) != 12)
        return 0;
    for (const char *p = colon + 1; *p != '\0'; p++)
        if (*p < '0' || *p > '9')
            return 0;
    return 1;
}

static void page_reply(const xacct__store_op_t *op, int status, const char *detail,
                       const xacct_store_reply_t *r)
{
    xacct_customer_page_cb cb = (xacct_customer_page_cb)op->cb;
    const xacct_store_reply_t *cur = status == 0 ? xacct_store_reply_at(r, 0) : NULL;
    const xacct_store_reply_t *recs = status == 0 ? xacct_store_reply_at(r, 1) : NULL;
    const xacct_store_reply_t *since = status == 0 ? xacct_store_reply_at(r, 2) : NULL;
    if (status != 0 || cur == NULL || recs == NULL || recs->type != XACCT_STORE_REPLY_ARRAY ||
        since == NULL || since->type != XACCT_STORE_REPLY_ARRAY) {
        cb(status ? status : XACCT_EPARSE, status ? detail : "unexpected reply", NULL, 0, "",
           op->arg);
        return;
    }
    xacct_customer_t *out = xacct_calloc(recs->elements ? recs->elements : 1, sizeof(*out));
    for (size_t i = 0; i < recs->elements; i++) {
        const xacct_store_reply_t *h = &recs->element[i];
        xacct__customer_init(&out[i]);
        for (size_t j = 0; j + 1 < h->elements; j += 2)
            xacct__customer_set_field(&out[i], h->element[j].str ? h->element[j].str : "",
                                      h->element[j + 1].str);
        xacct__customer_set_pending_since(&out[i], xacct__store_op_reply_str(since, i));
    }
    cb(0, NULL, out, recs->elements, cur->str ? cur->str : "", op->arg);
    free(out);
}

int xacct_customer_page(xacct_store_t *s, const char *state, const char *cursor, size_t limit,
                        xacct_customer_page_cb cb, void *arg)
{
    if (cb == NULL || limit == 0 || limit > XACCT_CUSTOMER_PAGE_MAX)
        return XACCT_EINVAL;
    char score[XACCT_CUSTOMER_CURSOR_MAX + 1] = "";
    const char *account = "";
    if (cursor != NULL && cursor[0] != '\0') {
        if (!xacct_customer_cursor_valid(cursor))
            return XACCT_EINVAL;
        size_t n = (size_t)(strchr(cursor, ':') - cursor);
        memcpy(score, cursor, n);
        score[n] = '\0';
        account = cursor + n + 1;
    }
    xacct_store_args_t a;
    xacct_store_args_init(&a);
    xacct_store_args_key(&a, s, "customers");
    xacct_store_args_key(&a, s, "pending");
    xacct_store_args_str(&a, xacct_store_prefix(s));
    xacct_store_args_str(&a, state ? state : "");
    xacct_store_args_ll(&a, (long long)limit);
    xacct_store_args_str(&a, score);
    xacct_store_args_str(&a, account);
    xacct_store_args_ll(&a, (long long)limit * 10);
    return xacct__store_op_run(s, &page_script, 2, &a, page_reply, XACCT__STORE_OP_ANY,
                               XACCT__STORE_OP_FN(cb), arg);
}
