/* SPDX-License-Identifier: MIT */
/*
 * Customer pages: one script per page over the customers zset, walking
 * newest first from the cursor in batches of 100 and returning whole hashes.
 * Ties (the same millisecond) are ordered by account, descending, as
 * ZREVRANGEBYSCORE orders them, so "score:account" is a total order and a
 * page never repeats or skips a record that did not change meanwhile.
 */
#include "xacct/customer_pages.h"

#include <stdlib.h>
#include <string.h>

static const xacct_store_script_t page_script = {
    "customer_page",
    /* KEYS: 1 customers zset; ARGV: 1 prefix, 2 state ('' = all), 3 limit,
     * 4 cursor score ('' = none), 5 cursor account, 6 entries to look at */
    "local limit, budget = tonumber(ARGV[3]), tonumber(ARGV[6])\n"
    "local max = ARGV[4] ~= '' and ARGV[4] or '+inf'\n"
    "local out, looked, offset, last_s, last_a, done = {}, 0, 0, nil, nil, false\n"
    "while #out < limit and looked < budget do\n"
    "  local batch = redis.call('ZREVRANGEBYSCORE', KEYS[1], max, '-inf', 'WITHSCORES',\n"
    "                           'LIMIT', offset, 100)\n"
    "  if #batch == 0 then done = true break end\n"
    "  offset = offset + #batch / 2\n"
    "  for i = 1, #batch, 2 do\n"
    "    local id, sc = batch[i], batch[i + 1]\n"
    "    if not (ARGV[4] ~= '' and tonumber(sc) == tonumber(ARGV[4]) and id >= ARGV[5]) then\n"
    "      looked = looked + 1\n"
    "      last_s, last_a = sc, id\n"
    "      local h = redis.call('HGETALL', ARGV[1] .. 'customer:' .. id)\n"
    "      if #h > 0 then\n"
    "        local st = nil\n"
    "        for j = 1, #h, 2 do if h[j] == 'state' then st = h[j + 1] end end\n"
    "        if ARGV[2] == '' or st == ARGV[2] then out[#out + 1] = h end\n"
    "      end\n"
    "      if #out >= limit or looked >= budget then break end\n"
    "    end\n"
    "  end\n"
    "  if #batch < 200 and #out < limit and looked < budget then done = true break end\n"
    "end\n"
    "local cursor = ''\n"
    "if not done and last_s then cursor = last_s .. ':' .. last_a end\n"
    "return {cursor, out}\n",
};

typedef struct page_op {
    xacct_customer_page_cb cb;
    void *arg;
} page_op_t;

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

static void page_reply(int status, const char *detail, const xacct_store_reply_t *r, void *arg)
{
    page_op_t op = *(page_op_t *)arg;
    free(arg);
    const xacct_store_reply_t *cur = status == 0 ? xacct_store_reply_at(r, 0) : NULL;
    const xacct_store_reply_t *recs = status == 0 ? xacct_store_reply_at(r, 1) : NULL;
    if (status != 0 || cur == NULL || recs == NULL || recs->type != XACCT_STORE_REPLY_ARRAY) {
        op.cb(status ? status : XACCT_EPARSE, status ? detail : "unexpected reply", NULL, 0, "",
              op.arg);
        return;
    }
    size_t total = 0;
    for (size_t i = 0; i < recs->elements; i++)
        total += recs->element[i].elements / 2;
    xacct_customer_record_t *out = xacct_calloc(recs->elements ? recs->elements : 1,
                                                sizeof(*out));
    xacct_header_t *fields = xacct_calloc(total ? total : 1, sizeof(*fields));
    size_t used = 0;
    for (size_t i = 0; i < recs->elements; i++) {
        const xacct_store_reply_t *h = &recs->element[i];
        out[i].fields = fields + used;
        for (size_t j = 0; j + 1 < h->elements; j += 2) {
            fields[used].name = h->element[j].str ? h->element[j].str : "";
            fields[used].value = h->element[j + 1].str ? h->element[j + 1].str : "";
            used++;
        }
        out[i].n = (size_t)(fields + used - out[i].fields);
    }
    op.cb(0, NULL, out, recs->elements, cur->str ? cur->str : "", op.arg);
    free(fields);
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
    xacct_store_args_str(&a, xacct_store_prefix(s));
    xacct_store_args_str(&a, state ? state : "");
    xacct_store_args_ll(&a, (long long)limit);
    xacct_store_args_str(&a, score);
    xacct_store_args_str(&a, account);
    xacct_store_args_ll(&a, (long long)limit * 10);
    page_op_t *op = xacct_calloc(1, sizeof(*op));
    op->cb = cb;
    op->arg = arg;
    int rc = xacct_store_eval(s, &page_script, 1, &a, page_reply, op);
    xacct_store_args_destroy(&a);
    if (rc != 0)
        free(op);
    return rc;
}
