/* SPDX-License-Identifier: MIT */
/*
 * What the customer record's files share (customers_apply.c,
 * customers_onboard.c, customers_topics.c, customers_read.c,
 * customers_audit.c, customers_lapsed.c) and nothing else: reading a
 * script's {word, text} answer, spelling a number into the Lua text, and
 * the Lua that gives a reserved external ID up.
 */
#ifndef XACCT_CUSTOMERS_INT_H
#define XACCT_CUSTOMERS_INT_H

#include "xacct/store.h"

#define XACCT__STR_(x) #x
#define XACCT__XSTR(x) XACCT__STR_(x)

/* Scripts answer {word, text...}; this reads the first two (text is a copy
 * for the caller to free). */
static inline void xacct__customers_word_text(const xacct_store_reply_t *r,
                                              const xacct_store_reply_t **word, char **text)
{
    *word = xacct_store_reply_at(r, 0);
    *text = xacct_store_reply_strdup(xacct_store_reply_at(r, 1));
}

/*
 * release_id(prefix, account, id, topic, template_left, cleanup, now_ms):
 * gives up the reservation of external ID id for account (the caller has
 * taken it off the reservations zset). Answers 'kept' when the record holds
 * the ID after all (committed: nothing to undo), else 'released': the index
 * key is deleted if it is still the account's, the account leaves the topic
 * set ('' none) unless its record is open on that topic, and what AWS may
 * still hold goes to the cleanup zset (expiry.h), due at now_ms: the
 * topic's policy (written with the account in it) when the account left the
 * set, and the ID's template when template_left.
 */
#define XACCT__RELEASE_ID_LUA                                                                      \
    "local function release_id(prefix, account, id, topic, template_left, cleanup, now)\n"         \
    "  local h = redis.call('HMGET', prefix .. 'customer:' .. account, 'state',\n"                 \
    "                       'external_id', 'pending_external_id', 'topic_arn')\n"                  \
    "  if h[2] == id or h[3] == id then return 'kept' end\n"                                       \
    "  local k = prefix .. 'external-id:' .. id\n"                                                 \
    "  if redis.call('GET', k) == account then redis.call('DEL', k) end\n"                         \
    "  local open = {pending = true, active = true, degraded = true, rejected = true,\n"           \
    "                offboarding = true}\n"                                                        \
    "  local left = ''\n"                                                                          \
    "  if topic ~= '' and not (h[1] and open[h[1]] and h[4] == topic) and\n"                       \
    "     redis.call('SREM', prefix .. 'topic:' .. topic, account) == 1 then\n"                    \
    "    left = topic\n"                                                                           \
    "  end\n"                                                                                      \
    "  local tid = template_left and id or ''\n"                                                   \
    "  if tid ~= '' or left ~= '' then\n"                                                          \
    "    redis.call('ZADD', cleanup, now, account .. '|' .. tid .. '|' .. left)\n"                 \
    "  end\n"                                                                                      \
    "  return 'released'\n"                                                                        \
    "end\n"

#endif
