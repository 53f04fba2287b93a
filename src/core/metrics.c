/* SPDX-License-Identifier: MIT */
/*
 * Metric families from XACCT_METRICS_MAP, their series, and the Prometheus
 * text rendering. A family has a few series at most (a handful of queues,
 * request types, services and statuses), so series are found by a linear
 * scan in insertion order, which is also the order they are rendered in.
 */
#include "xacct/metrics.h"

#include <assert.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xacct/utf8.h"

typedef enum { COUNTER, GAUGE, HISTOGRAM } family_type_t;

typedef struct family_def {
    family_type_t type;
    const char *name;
    const char *help;
    const char *labels[2];
} family_def_t;

static const family_def_t defs[XACCT_M__COUNT] = {
#define XACCT_METRICS_DEF(id, type, name, help, l1, l2) [XACCT_M_##id] = {type, name, help, {l1, l2}},
    XACCT_METRICS_MAP(XACCT_METRICS_DEF)
#undef XACCT_METRICS_DEF
};

static const double bucket_bounds[] = XACCT_METRICS_BUCKETS;
#define NBUCKETS XACCT_ARRAY_SIZE(bucket_bounds)

typedef struct series {
    char *values[2];            /* label values, owned; NULL when unused */
    double value;               /* counter or gauge */
    uint64_t buckets[NBUCKETS]; /* histogram: observations <= bound (not cumulative) */
    uint64_t count;             /* histogram: all observations */
    double sum;                 /* histogram: their sum */
} series_t;

typedef struct family {
    series_t **series;
    size_t n, cap;
} family_t;

struct xacct_metrics {
    family_t families[XACCT_M__COUNT];
};

static size_t nlabels(xacct_metric_id_t id)
{
    return (size_t)(defs[id].labels[0] != NULL) + (defs[id].labels[1] != NULL);
}

static bool labels_match(const series_t *s, const char *l1, const char *l2)
{
    const char *want[2] = {l1, l2};
    for (int i = 0; i < 2; i++) {
        if ((s->values[i] == NULL) != (want[i] == NULL))
            return false;
        if (s->values[i] != NULL && strcmp(s->values[i], want[i]) != 0)
            return false;
    }
    return true;
}

static series_t *find(const xacct_metrics_t *m, xacct_metric_id_t id, const char *l1,
                      const char *l2, size_t *index)
{
    const family_t *f = &m->families[id];
    for (size_t i = 0; i < f->n; i++) {
        if (labels_match(f->series[i], l1, l2)) {
            if (index != NULL)
                *index = i;
            return f->series[i];
        }
    }
    return NULL;
}

/* Checks the call against the family's definition: every label it has gets
 * a value and no other value is passed. */
static bool valid_call(const xacct_metrics_t *m, xacct_metric_id_t id, const char *l1,
                       const char *l2)
{
    if (m == NULL || (unsigned)id >= XACCT_M__COUNT)
        return false;
    bool ok = (defs[id].labels[0] != NULL) == (l1 != NULL) &&
              (defs[id].labels[1] != NULL) == (l2 != NULL);
    assert(ok && "metric label values do not match the family");
    return ok;
}

/* Prometheus rejects a whole scrape over one label value that is not UTF-8,
 * and the series limit only bounds memory if each value is small too. */
static bool label_ok(const char *v)
{
    if (v == NULL)
        return true;
    size_t len = strlen(v);
    return len <= XACCT_METRICS_MAX_LABEL_LEN && xacct_utf8_valid(v, len);
}

static series_t *get_or_add(xacct_metrics_t *m, xacct_metric_id_t id, const char *l1,
                            const char *l2)
{
    series_t *s = find(m, id, l1, l2, NULL);
    if (s != NULL)
        return s;
    family_t *f = &m->families[id];
    if (f->n >= XACCT_METRICS_MAX_SERIES || !label_ok(l1) || !label_ok(l2)) {
        if (id != XACCT_M_DROPPED)
            xacct_metrics_inc(m, XACCT_M_DROPPED, NULL, NULL);
        return NULL;
    }
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 4;
        f->series = xacct_realloc(f->series, f->cap * sizeof(*f->series));
    }
    s = xacct_calloc(1, sizeof(*s));
    s->values[0] = l1 ? xacct_strdup(l1) : NULL;
    s->values[1] = l2 ? xacct_strdup(l2) : NULL;
    f->series[f->n++] = s;
    return s;
}

xacct_metrics_t *xacct_metrics_new(void)
{
    xacct_metrics_t *m = xacct_calloc(1, sizeof(*m));
    /* Unlabelled counters start at 0 so that a rate() works from the first
     * scrape; labelled series appear when first used. */
    for (int id = 0; id < XACCT_M__COUNT; id++)
        if (defs[id].type == COUNTER && nlabels((xacct_metric_id_t)id) == 0)
            (void)get_or_add(m, (xacct_metric_id_t)id, NULL, NULL);
    return m;
}

static void series_free(series_t *s)
{
    free(s->values[0]);
    free(s->values[1]);
    free(s);
}

void xacct_metrics_free(xacct_metrics_t *m)
{
    if (m == NULL)
        return;
    for (int id = 0; id < XACCT_M__COUNT; id++) {
        family_t *f = &m->families[id];
        for (size_t i = 0; i < f->n; i++)
            series_free(f->series[i]);
        free(f->series);
    }
    free(m);
}

void xacct_metrics_add(xacct_metrics_t *m, xacct_metric_id_t id, const char *l1, const char *l2,
                       double v)
{
    if (!valid_call(m, id, l1, l2))
        return;
    bool ok = defs[id].type != HISTOGRAM && (defs[id].type == GAUGE || v >= 0);
    assert(ok && "counters only go up; histograms take observe()");
    if (!ok)
        return;
    series_t *s = get_or_add(m, id, l1, l2);
    if (s != NULL)
        s->value += v;
}

void xacct_metrics_inc(xacct_metrics_t *m, xacct_metric_id_t id, const char *l1, const char *l2)
{
    xacct_metrics_add(m, id, l1, l2, 1);
}

void xacct_metrics_set(xacct_metrics_t *m, xacct_metric_id_t id, const char *l1, const char *l2,
                       double v)
{
    if (!valid_call(m, id, l1, l2))
        return;
    assert(defs[id].type != HISTOGRAM);
    if (defs[id].type == HISTOGRAM)
        return;
    series_t *s = get_or_add(m, id, l1, l2);
    if (s != NULL)
        s->value = v;
}

void xacct_metrics_unset(xacct_metrics_t *m, xacct_metric_id_t id, const char *l1, const char *l2)
{
    if (!valid_call(m, id, l1, l2))
        return;
    size_t i;
    series_t *s = find(m, id, l1, l2, &i);
    if (s == NULL)
        return;
    family_t *f = &m->families[id];
    memmove(&f->series[i], &f->series[i + 1], (f->n - i - 1) * sizeof(*f->series));
    f->n--;
    series_free(s);
}

void xacct_metrics_observe(xacct_metrics_t *m, xacct_metric_id_t id, const char *l1,
                           const char *l2, double v)
{
    if (!valid_call(m, id, l1, l2))
        return;
    assert(defs[id].type == HISTOGRAM);
    if (defs[id].type != HISTOGRAM || isnan(v))
        return;
    series_t *s = get_or_add(m, id, l1, l2);
    if (s == NULL)
        return;
    for (size_t b = 0; b < NBUCKETS; b++) {
        if (v <= bucket_bounds[b]) {
            s->buckets[b]++;
            break;
        }
    }
    s->count++;
    s->sum += v;
}

double xacct_metrics_get(const xacct_metrics_t *m, xacct_metric_id_t id, const char *l1,
                         const char *l2)
{
    if (m == NULL || (unsigned)id >= XACCT_M__COUNT)
        return 0;
    const series_t *s = find(m, id, l1, l2, NULL);
    if (s == NULL)
        return 0;
    return defs[id].type == HISTOGRAM ? (double)s->count : s->value;
}

/* ---- rendering (text format 0.0.4) ---- */

/* Integral values print without a fraction or exponent; others with the
 * fewest digits (15, else 17) that read back as the same double. */
static int put_number(xacct_buf_t *out, double v)
{
    if (isnan(v))
        return xacct_buf_puts(out, "NaN");
    if (isinf(v))
        return xacct_buf_puts(out, v > 0 ? "+Inf" : "-Inf");
    if (v == floor(v) && fabs(v) < 9007199254740992.0)
        return xacct_buf_printf(out, "%.0f", v);
    char tmp[40];
    snprintf(tmp, sizeof(tmp), "%.15g", v);
    if (strtod(tmp, NULL) != v)
        snprintf(tmp, sizeof(tmp), "%.17g", v);
    return xacct_buf_puts(out, tmp);
}

/* In label values \, " and newline are escaped; in HELP only \ and newline. */
static int put_escaped(xacct_buf_t *out, const char *s, bool quote)
{
    int rc = 0;
    for (; *s && rc == 0; s++) {
        if (*s == '\\')
            rc = xacct_buf_puts(out, "\\\\");
        else if (*s == '\n')
            rc = xacct_buf_puts(out, "\\n");
        else if (*s == '"' && quote)
            rc = xacct_buf_puts(out, "\\\"");
        else
            rc = xacct_buf_putc(out, *s);
    }
    return rc;
}

/* name{l1="v1",l2="v2",le="x"} — le only for histogram buckets. */
static int put_series_name(xacct_buf_t *out, const family_def_t *d, const char *suffix,
                           const series_t *s, const char *le)
{
    int rc = xacct_buf_printf(out, "%s%s", d->name, suffix);
    bool any = false;
    for (int i = 0; i < 2 && rc == 0; i++) {
        if (d->labels[i] == NULL)
            continue;
        rc = xacct_buf_printf(out, "%s%s=\"", any ? "," : "{", d->labels[i]);
        if (rc == 0)
            rc = put_escaped(out, s->values[i], true);
        if (rc == 0)
            rc = xacct_buf_putc(out, '"');
        any = true;
    }
    if (rc == 0 && le != NULL) {
        rc = xacct_buf_printf(out, "%sle=\"%s\"", any ? "," : "{", le);
        any = true;
    }
    if (rc == 0 && any)
        rc = xacct_buf_putc(out, '}');
    return rc == 0 ? xacct_buf_putc(out, ' ') : rc;
}

static int put_sample(xacct_buf_t *out, const family_def_t *d, const char *suffix,
                      const series_t *s, const char *le, double v)
{
    int rc = put_series_name(out, d, suffix, s, le);
    if (rc == 0)
        rc = put_number(out, v);
    return rc == 0 ? xacct_buf_putc(out, '\n') : rc;
}

static int put_histogram(xacct_buf_t *out, const family_def_t *d, const series_t *s)
{
    int rc = 0;
    uint64_t cumulative = 0;
    char le[32];
    for (size_t b = 0; b < NBUCKETS && rc == 0; b++) {
        cumulative += s->buckets[b];
        snprintf(le, sizeof(le), "%g", bucket_bounds[b]);
        rc = put_sample(out, d, "_bucket", s, le, (double)cumulative);
    }
    if (rc == 0)
        rc = put_sample(out, d, "_bucket", s, "+Inf", (double)s->count);
    if (rc == 0)
        rc = put_sample(out, d, "_sum", s, NULL, s->sum);
    if (rc == 0)
        rc = put_sample(out, d, "_count", s, NULL, (double)s->count);
    return rc;
}

int xacct_metrics_render(const xacct_metrics_t *m, xacct_buf_t *out)
{
    static const char *type_names[] = {"counter", "gauge", "histogram"};
    if (m == NULL)
        return 0;
    int rc = 0;
    for (int id = 0; id < XACCT_M__COUNT && rc == 0; id++) {
        const family_def_t *d = &defs[id];
        const family_t *f = &m->families[id];
        rc = xacct_buf_printf(out, "# HELP %s ", d->name);
        if (rc == 0)
            rc = put_escaped(out, d->help, false);
        if (rc == 0)
            rc = xacct_buf_printf(out, "\n# TYPE %s %s\n", d->name, type_names[d->type]);
        for (size_t i = 0; i < f->n && rc == 0; i++) {
            if (d->type == HISTOGRAM)
                rc = put_histogram(out, d, f->series[i]);
            else
                rc = put_sample(out, d, "", f->series[i], NULL, f->series[i]->value);
        }
    }
    return rc;
}
