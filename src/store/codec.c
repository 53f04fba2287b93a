/* SPDX-License-Identifier: MIT */
/*
 * msgpack payloads (jobs, audit events, heartbeats) and the msgpack-to-JSON
 * dumper; the only file that includes msgpack. Each payload is described by
 * one field table (key, kind, required, offset) that drives both the encoder
 * and the strict decoder, so the two cannot drift apart.
 */
#include "xacct/codec.h"

#include <jansson.h>
#include <math.h>
#include <msgpack.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 32
/* Longest key a non-string map key may render to (see to_json). */
#define JSON_MAX_KEY 1024

typedef enum field_kind { F_STR, F_OPTSTR, F_INT, F_BOOL } field_kind_t;

typedef struct field {
    const char *key;   /* map key */
    field_kind_t kind; /* F_OPTSTR may be nil/absent; all others required */
    size_t off;        /* offset of the member in the struct */
    int secret;        /* wipe on destroy */
} field_t;

#define FSTR(t, m) {#m, F_STR, offsetof(t, m), 0}
#define FOPT(t, m) {#m, F_OPTSTR, offsetof(t, m), 0}
#define FINT(t, m) {#m, F_INT, offsetof(t, m), 0}
#define FBOOL(t, m) {#m, F_BOOL, offsetof(t, m), 0}

static const field_t job_fields[] = {
    FINT(xacct_job_t, v),
    FSTR(xacct_job_t, account_id),
    FSTR(xacct_job_t, role_arn),
    {"external_id", F_STR, offsetof(xacct_job_t, external_id), 1},
    FSTR(xacct_job_t, stack_id),
    FSTR(xacct_job_t, region),
    FSTR(xacct_job_t, request_id),
    FINT(xacct_job_t, requested_at),
};

static const field_t event_fields[] = {
    FINT(xacct_event_t, v),          FINT(xacct_event_t, ts),
    FSTR(xacct_event_t, type),       FOPT(xacct_event_t, request_id),
    FOPT(xacct_event_t, stack_id),   FOPT(xacct_event_t, outcome),
    FOPT(xacct_event_t, reason),     FOPT(xacct_event_t, actor),
};

static const field_t heartbeat_fields[] = {
    FSTR(xacct_heartbeat_t, host),        FINT(xacct_heartbeat_t, pid),
    FSTR(xacct_heartbeat_t, version),     FINT(xacct_heartbeat_t, started_at),
    FINT(xacct_heartbeat_t, concurrency), FINT(xacct_heartbeat_t, in_flight),
    FINT(xacct_heartbeat_t, processed),   FINT(xacct_heartbeat_t, failed),
    FINT(xacct_heartbeat_t, rss),         FBOOL(xacct_heartbeat_t, quiet),
};

#define MAX_FIELDS 16

/* ------------------------------------------------------------------ */
/* Encoding                                                             */

static int buf_write(void *data, const char *p, size_t n)
{
    return xacct_buf_append(data, p, n) == 0 ? 0 : -1;
}

static int encode(const field_t *fields, size_t n, const void *obj, xacct_buf_t *out)
{
    msgpack_packer pk;
    size_t start = out->len;
    int rc = 0;

    for (size_t i = 0; i < n; i++) {
        const char *s = *(const char *const *)((const char *)obj + fields[i].off);
        if (fields[i].kind == F_STR && s == NULL)
            return XACCT_EINVAL;
        if ((fields[i].kind == F_STR || fields[i].kind == F_OPTSTR) && s != NULL &&
            strlen(s) > XACCT_CODEC_MAX_STRING)
            return XACCT_ETOOBIG;
    }
    msgpack_packer_init(&pk, out, buf_write);
    if (msgpack_pack_map(&pk, n) != 0)
        goto toobig;
    for (size_t i = 0; i < n; i++) {
        const field_t *f = &fields[i];
        const char *base = (const char *)obj + f->off;
        size_t kl = strlen(f->key);
        if (msgpack_pack_str_with_body(&pk, f->key, kl) != 0)
            goto toobig;
        switch (f->kind) {
        case F_STR:
        case F_OPTSTR: {
            const char *s = *(const char *const *)base;
            if (s == NULL)
                rc = msgpack_pack_nil(&pk);
            else
                rc = msgpack_pack_str_with_body(&pk, s, strlen(s));
            break;
        }
        case F_INT:
            rc = msgpack_pack_int64(&pk, *(const int64_t *)base);
            break;
        case F_BOOL:
            rc = *(const bool *)base ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
            break;
        }
        if (rc != 0)
            goto toobig;
    }
    return 0;
toobig:
    /* Leave the buffer as it was: no half-written payloads. */
    if (out->data != NULL) {
        out->len = start;
        out->data[start] = '\0';
    }
    return XACCT_ETOOBIG;
}

int xacct_codec_job_encode(const xacct_job_t *job, xacct_buf_t *out)
{
    return encode(job_fields, XACCT_ARRAY_SIZE(job_fields), job, out);
}

int xacct_codec_event_encode(const xacct_event_t *ev, xacct_buf_t *out)
{
    return encode(event_fields, XACCT_ARRAY_SIZE(event_fields), ev, out);
}

int xacct_codec_heartbeat_encode(const xacct_heartbeat_t *hb, xacct_buf_t *out)
{
    return encode(heartbeat_fields, XACCT_ARRAY_SIZE(heartbeat_fields), hb, out);
}

/* ------------------------------------------------------------------ */
/* Decoding                                                             */

static void destroy(const field_t *fields, size_t n, void *obj, size_t size)
{
    for (size_t i = 0; i < n; i++) {
        if (fields[i].kind != F_STR && fields[i].kind != F_OPTSTR)
            continue;
        char **p = (char **)((char *)obj + fields[i].off);
        if (*p != NULL) {
            if (fields[i].secret)
                xacct_free_secret(*p);
            else
                free(*p);
        }
    }
    memset(obj, 0, size);
}

static uint64_t be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/*
 * msgpack-c allocates room for all of an array's or a map's elements when it
 * reads the header, before it has seen one of them: five bytes "dd ff ff ff
 * ff" ask for 2^32 objects (128 GiB). Its C API has no limits (unlike the
 * C++ unpack_limit), so this walks the headers first, without building
 * anything, and refuses a document that announces more values than it has
 * bytes left (every value takes at least one).
 */
XACCT_STATIC bool xacct__codec_counts_fit(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t need = 1; /* values still to come */
    size_t i = 0;

    while (need > 0) {
        if (i >= len || need > len - i)
            return false;
        unsigned c = p[i++];
        need--;
        int lb = 0;          /* bytes of a length or count that follow */
        uint64_t skip = 0;   /* payload bytes after them */
        uint64_t items = 0;  /* values a container adds */
        int per = 0;         /* 1 for arrays, 2 for maps, 0 for payloads */
        if (c <= 0x7f || c >= 0xe0 || (c >= 0xc0 && c <= 0xc3)) {
            continue;
        } else if (c <= 0x8f) {
            items = c & 0x0f, per = 2;
        } else if (c <= 0x9f) {
            items = c & 0x0f, per = 1;
        } else if (c <= 0xbf) {
            skip = c & 0x1f;
        } else {
            switch (c) {
            case 0xc4: case 0xd9: lb = 1; break;            /* bin8, str8 */
            case 0xc5: case 0xda: lb = 2; break;            /* bin16, str16 */
            case 0xc6: case 0xdb: lb = 4; break;            /* bin32, str32 */
            case 0xc7: lb = 1, skip = 1; break;             /* ext8 + type */
            case 0xc8: lb = 2, skip = 1; break;             /* ext16 + type */
            case 0xc9: lb = 4, skip = 1; break;             /* ext32 + type */
            case 0xca: case 0xce: case 0xd2: skip = 4; break;
            case 0xcb: case 0xcf: case 0xd3: skip = 8; break;
            case 0xcc: case 0xd0: skip = 1; break;
            case 0xcd: case 0xd1: skip = 2; break;
            case 0xd4: skip = 2; break;                     /* fixext1 */
            case 0xd5: skip = 3; break;
            case 0xd6: skip = 5; break;
            case 0xd7: skip = 9; break;
            case 0xd8: skip = 17; break;
            case 0xdc: lb = 2, per = 1; break;              /* array16 */
            case 0xdd: lb = 4, per = 1; break;              /* array32 */
            case 0xde: lb = 2, per = 2; break;              /* map16 */
            case 0xdf: lb = 4, per = 2; break;              /* map32 */
            default: return false;
            }
        }
        if (lb > 0) {
            if ((size_t)lb > len - i)
                return false;
            uint64_t v = be(p + i, lb);
            i += (size_t)lb;
            if (per > 0)
                items = v;
            else
                skip += v;
        }
        if (skip > len - i)
            return false;
        i += (size_t)skip;
        need += items * (uint64_t)per;
    }
    return true;
}

/* Unpacks exactly one value from data into *u (caller destroys *u). */
static int unpack_one(const void *data, size_t len, msgpack_unpacked *u)
{
    size_t off = 0;
    if (data == NULL || len == 0)
        return XACCT_EPARSE;
    if (len > XACCT_CODEC_MAX_INPUT)
        return XACCT_ETOOBIG;
    if (!xacct__codec_counts_fit(data, len))
        return XACCT_EPARSE;
    msgpack_unpack_return r = msgpack_unpack_next(u, data, len, &off);
    /* msgpack-c also reports nesting deeper than its fixed parse stack
     * (MSGPACK_EMBED_STACK_SIZE) as NOMEM: a limit, not an allocation failure. */
    if (r == MSGPACK_UNPACK_NOMEM_ERROR)
        return XACCT_ETOOBIG;
    if (r != MSGPACK_UNPACK_SUCCESS || off != len)
        return XACCT_EPARSE;
    return 0;
}

static int decode(const field_t *fields, size_t n, const void *data, size_t len, void *obj,
                  size_t size)
{
    msgpack_unpacked u;
    int seen[MAX_FIELDS] = {0};
    int rc;

    memset(obj, 0, size);
    msgpack_unpacked_init(&u);
    rc = unpack_one(data, len, &u);
    if (rc != 0)
        goto out;
    rc = XACCT_EPARSE;
    if (u.data.type != MSGPACK_OBJECT_MAP)
        goto out;
    const msgpack_object_map *m = &u.data.via.map;
    for (uint32_t k = 0; k < m->size; k++) {
        const msgpack_object *key = &m->ptr[k].key;
        const msgpack_object *val = &m->ptr[k].val;
        if (key->type != MSGPACK_OBJECT_STR)
            goto out;
        size_t i;
        for (i = 0; i < n; i++)
            if (strlen(fields[i].key) == key->via.str.size &&
                memcmp(fields[i].key, key->via.str.ptr, key->via.str.size) == 0)
                break;
        if (i == n)
            continue; /* unknown keys are allowed, for forward compatibility */
        if (seen[i]++)
            goto out; /* a duplicate key is ambiguous */
        char *base = (char *)obj + fields[i].off;
        switch (fields[i].kind) {
        case F_OPTSTR:
            if (val->type == MSGPACK_OBJECT_NIL)
                break;
            /* fall through */
        case F_STR:
            if (val->type != MSGPACK_OBJECT_STR)
                goto out;
            if (val->via.str.size > XACCT_CODEC_MAX_STRING) {
                rc = XACCT_ETOOBIG;
                goto out;
            }
            /* msgpack-c gives an empty string a NULL pointer. */
            if (val->via.str.size > 0 &&
                memchr(val->via.str.ptr, '\0', val->via.str.size) != NULL)
                goto out;
            *(char **)base = xacct_strndup(val->via.str.ptr, val->via.str.size);
            break;
        case F_INT:
            if (val->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
                if (val->via.u64 > (uint64_t)INT64_MAX)
                    goto out;
                *(int64_t *)base = (int64_t)val->via.u64;
            } else if (val->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
                *(int64_t *)base = val->via.i64;
            } else {
                goto out;
            }
            break;
        case F_BOOL:
            if (val->type != MSGPACK_OBJECT_BOOLEAN)
                goto out;
            *(bool *)base = val->via.boolean;
            break;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (!seen[i] && fields[i].kind != F_OPTSTR)
            goto out;
    rc = 0;
out:
    msgpack_unpacked_destroy(&u);
    if (rc != 0)
        destroy(fields, n, obj, size);
    return rc;
}

int xacct_codec_job_decode(const void *data, size_t len, xacct_job_t *out)
{
    int rc = decode(job_fields, XACCT_ARRAY_SIZE(job_fields), data, len, out, sizeof(*out));
    if (rc == 0 && out->v < 1) {
        xacct_codec_job_destroy(out);
        rc = XACCT_EPARSE;
    }
    return rc;
}

int xacct_codec_event_decode(const void *data, size_t len, xacct_event_t *out)
{
    int rc = decode(event_fields, XACCT_ARRAY_SIZE(event_fields), data, len, out, sizeof(*out));
    if (rc == 0 && out->v < 1) {
        xacct_codec_event_destroy(out);
        rc = XACCT_EPARSE;
    }
    return rc;
}

int xacct_codec_heartbeat_decode(const void *data, size_t len, xacct_heartbeat_t *out)
{
    return decode(heartbeat_fields, XACCT_ARRAY_SIZE(heartbeat_fields), data, len, out,
                  sizeof(*out));
}

void xacct_codec_job_destroy(xacct_job_t *job)
{
    if (job != NULL)
        destroy(job_fields, XACCT_ARRAY_SIZE(job_fields), job, sizeof(*job));
}

void xacct_codec_event_destroy(xacct_event_t *ev)
{
    if (ev != NULL)
        destroy(event_fields, XACCT_ARRAY_SIZE(event_fields), ev, sizeof(*ev));
}

void xacct_codec_heartbeat_destroy(xacct_heartbeat_t *hb)
{
    if (hb != NULL)
        destroy(heartbeat_fields, XACCT_ARRAY_SIZE(heartbeat_fields), hb, sizeof(*hb));
}

/* ------------------------------------------------------------------ */
/* JSON                                                                 */

static json_t *base64(const char *p, size_t n)
{
    size_t outlen = 4 * ((n + 2) / 3) + 1;
    unsigned char *tmp = xacct_malloc(outlen);
    int w = EVP_EncodeBlock(tmp, (const unsigned char *)p, (int)n);
    json_t *j = json_stringn((const char *)tmp, (size_t)w);
    free(tmp);
    return j;
}

static json_t *wrap(const char *tag, json_t *v)
{
    json_t *o = json_object();
    json_object_set_new(o, tag, v);
    return o;
}

static int redacted(const char *key, size_t n, const char *const *redact)
{
    for (; redact != NULL && *redact != NULL; redact++)
        if (strlen(*redact) == n && memcmp(*redact, key, n) == 0)
            return 1;
    return 0;
}

static json_t *to_json(const msgpack_object *o, const char *const *redact, int depth)
{
    if (depth > JSON_MAX_DEPTH)
        return NULL;
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        return json_null();
    case MSGPACK_OBJECT_BOOLEAN:
        return json_boolean(o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (o->via.u64 > (uint64_t)INT64_MAX)
            return json_real((double)o->via.u64);
        return json_integer((json_int_t)o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return json_integer((json_int_t)o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        if (!isfinite(o->via.f64))
            return json_null();
        return json_real(o->via.f64);
    case MSGPACK_OBJECT_STR: {
        /* msgpack-c gives an empty string a NULL pointer. */
        json_t *s = json_stringn(o->via.str.size > 0 ? o->via.str.ptr : "", o->via.str.size);
        /* jansson refuses invalid UTF-8; keep the bytes, visibly encoded. */
        return s != NULL ? s : wrap("$bin", base64(o->via.str.ptr, o->via.str.size));
    }
    case MSGPACK_OBJECT_BIN:
        return wrap("$bin", base64(o->via.bin.ptr, o->via.bin.size));
    case MSGPACK_OBJECT_EXT: {
        json_t *e = wrap("$ext", json_integer(o->via.ext.type));
        json_object_set_new(e, "data", base64(o->via.ext.ptr, o->via.ext.size));
        return e;
    }
    case MSGPACK_OBJECT_ARRAY: {
        json_t *a = json_array();
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            json_t *v = to_json(&o->via.array.ptr[i], redact, depth + 1);
            if (v == NULL) {
                json_decref(a);
                return NULL;
            }
            json_array_append_new(a, v);
        }
        return a;
    }
    case MSGPACK_OBJECT_MAP: {
        json_t *m = json_object();
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object *k = &o->via.map.ptr[i].key;
            char *key = NULL;
            if (k->type == MSGPACK_OBJECT_STR) {
                key = xacct_strndup(k->via.str.ptr, k->via.str.size);
            } else {
                json_t *kj = to_json(k, NULL, depth + 1);
                if (kj != NULL)
                    key = json_dumps(kj, JSON_ENCODE_ANY | JSON_COMPACT);
                json_decref(kj);
                /* A key written as JSON inside a key is escaped again at
                 * each level, so nested non-string keys double in length
                 * per level: a few hundred bytes of input would grow to
                 * gigabytes. Such a map is reported as unrenderable. */
                if (key != NULL && strlen(key) > JSON_MAX_KEY) {
                    free(key);
                    key = NULL;
                }
            }
            json_t *v = NULL;
            if (key != NULL && k->type == MSGPACK_OBJECT_STR &&
                redacted(k->via.str.ptr, k->via.str.size, redact))
                v = json_string("***");
            else if (key != NULL)
                v = to_json(&o->via.map.ptr[i].val, redact, depth + 1);
            /* A key with an embedded NUL or invalid UTF-8 cannot be a JSON
             * object key; such a map is reported as unrenderable. */
            if (v == NULL || json_object_set_new(m, key, v) != 0) {
                free(key);
                json_decref(m);
                return NULL;
            }
            free(key);
        }
        return m;
    }
    }
    return NULL;
}

int xacct_codec_to_json(const void *data, size_t len, const char *const *redact, int flags,
                        char **out)
{
    msgpack_unpacked u;
    json_t *j = NULL;
    int rc;

    *out = NULL;
    msgpack_unpacked_init(&u);
    rc = unpack_one(data, len, &u);
    if (rc != 0)
        goto out;
    j = to_json(&u.data, redact, 0);
    if (j == NULL) {
        rc = XACCT_EPARSE;
        goto out;
    }
    size_t jf = JSON_ENCODE_ANY | JSON_PRESERVE_ORDER |
                ((flags & XACCT_CODEC_JSON_PRETTY) ? JSON_INDENT(2) : JSON_COMPACT);
    char *text = json_dumps(j, jf);
    if (text == NULL) {
        rc = XACCT_EPARSE;
        goto out;
    }
    *out = xacct_strdup(text);
    free(text);
    rc = 0;
out:
    json_decref(j);
    msgpack_unpacked_destroy(&u);
    return rc;
}
