/* SPDX-License-Identifier: MIT */
/*
 * Integration tests for onboarding as library code, on a daemon context
 * (Redis reconnecting forever, AWS with the daemon's retries) against a real
 * redis-server and the emulator: onboard issues a pending record, allows the
 * account in its topic's policy and writes the template 0600; a second
 * onboard is refused with the state; rotate issues a new ID and rewrites the
 * template (an active customer's new ID waits as pending, the current one
 * kept); an unknown account is not found; callbacks never fire inside
 * the call; an onboarding still running when the context is freed reports
 * exactly once.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <sys/stat.h>

#include "aws_test_util.h"
#include "xacct/ctx.h"
#include "xacct/customers.h"
#include "xacct/deliver.h"
#include "xacct/onboard.h"
#include "xacct/publish.h"

typedef struct fixture {
    xacct_ctx_t *ctx;
    char topic[256];   /* the partner topic in us-east-1 */
    char partner[16];  /* its account */
    char dir[512];     /* template_dir */
} fixture_t;

/* The outcome of one call, copied out of the callback. */
typedef struct outcome {
    bool done;
    int calls;
    int status;
    char detail[512];
    char state[32];
    char external_id[64];
    char pending[64];
    char update_url[1024];
    char topic[256];
    char file[512];
    bool unfinished;
} outcome_t;

static void copy(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

static void onboard_cb(int status, const char *detail, const xacct_onboard_result_t *res,
                       void *arg)
{
    outcome_t *o = arg;
    o->calls++;
    o->status = status;
    copy(o->detail, sizeof(o->detail), detail);
    copy(o->state, sizeof(o->state), res->state);
    copy(o->external_id, sizeof(o->external_id), res->external_id);
    copy(o->pending, sizeof(o->pending), res->pending_external_id);
    copy(o->update_url, sizeof(o->update_url), res->update_url);
    copy(o->topic, sizeof(o->topic), res->topic_arn);
    copy(o->file, sizeof(o->file), res->template_file);
    o->unfinished = res->unfinished;
    o->done = true;
}

static void done_cb(int status, const char *detail, void *arg)
{
    outcome_t *o = arg;
    o->calls++;
    o->status = status;
    copy(o->detail, sizeof(o->detail), detail);
    o->done = true;
}

static char *control(fixture_t *f, const char *method, const char *path, const char *json)
{
    char *body = NULL;
    long st = fake_ctl(f->ctx->loop, f->ctx->http, method, path, json, &body);
    assert_true(st >= 200 && st < 300);
    return body;
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "%s/templates-%d", must_env("XACCT_TEST_TMPDIR"), rand());
    assert_int_equal(mkdir(f->dir, 0700), 0);
    /* A bootstrap context only to create the topic through the control API. */
    char text[2048];
    snprintf(text, sizeof(text), "[redis]\nurl = %s\n", must_env("XACCT_TEST_REDIS_URL"));
    xacct_config_t *cfg = NULL;
    char err[512];
    assert_int_equal(config_load_from("boot.conf", text, NULL, NULL, true, &cfg, err, sizeof(err)),
                     0);
    assert_int_equal(xacct_ctx_new(cfg, XACCT_CTX_AWS, &f->ctx, err, sizeof(err)), 0);
    char name[64];
    snprintf(name, sizeof(name), "{\"name\": \"onboard-%d\", \"region\": \"us-east-1\"}", rand());
    char *body = control(f, "POST", "/_fake/sns/topics", name);
    json_t *doc = json_loads(body, 0, NULL);
    free(body);
    copy(f->topic, sizeof(f->topic), json_string_value(json_object_get(doc, "arn")));
    json_decref(doc);
    assert_int_equal(sscanf(f->topic, "arn:aws:sns:us-east-1:%12[0-9]:", f->partner), 1);
    assert_int_equal(xacct_ctx_free(f->ctx), 0);

    snprintf(text, sizeof(text),
             "[aws]\nregion = us-east-1\npartner_account_id = %s\n"
             "[sns]\ntopic_arns = %s\n"
             "[redis]\nurl = %s\nprefix = onboard-test:\n"
             "[cloudformation]\ntemplate_dir = %s\nrole_policy_file = %s/config/role-policy.json\n",
             f->partner, f->topic, must_env("XACCT_TEST_REDIS_URL"), f->dir,
             must_env("XACCT_SOURCE_DIR"));
    assert_int_equal(config_load_from("test.conf", text, NULL, NULL, true, &cfg, err, sizeof(err)),
                     0);
    assert_int_equal(xacct_ctx_new(cfg, XACCT_CTX_DAEMON | XACCT_CTX_AWS | XACCT_CTX_STORE,
                                   &f->ctx, err, sizeof(err)),
                     0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(xacct_ctx_free(f->ctx), 0);
    free(f);
    return 0;
}

static void wait_for(fixture_t *f, outcome_t *o)
{
    assert_true(run_until(f->ctx->loop, &o->done, 60000));
    assert_int_equal(o->calls, 1);
}

static void onboard(fixture_t *f, const char *account, outcome_t *o)
{
    memset(o, 0, sizeof(*o));
    assert_int_equal(xacct_onboard_customer(f->ctx, account, NULL, "test", onboard_cb, o), 0);
    assert_false(o->done); /* never inside the call */
    wait_for(f, o);
}

static bool file_holds(const char *path, const char *needle, mode_t *mode)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return false;
    *mode = st.st_mode & 0777;
    FILE *fp = fopen(path, "r");
    char buf[16384];
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    return strstr(buf, needle) != NULL;
}

/* The entries of dir whose names start with prefix. */
static int count_entries(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

static void onboard_allows_and_delivers(void **state)
{
    fixture_t *f = *state;
    outcome_t o;
    /* A symlink planted where a predictable temporary name would be (the
     * account and this process's pid) is never written through. */
    char victim[600], planted[600];
    snprintf(victim, sizeof(victim), "%s/victim", f->dir);
    snprintf(planted, sizeof(planted), "%s/.xacct-111122223333.json.%d", f->dir, (int)getpid());
    FILE *vf = fopen(victim, "w");
    assert_non_null(vf);
    fputs("untouched\n", vf);
    fclose(vf);
    assert_int_equal(symlink(victim, planted), 0);
    onboard(f, "111122223333", &o);
    assert_int_equal(o.status, 0);
    assert_string_equal(o.state, "pending");
    assert_int_equal(strlen(o.external_id), 36);
    assert_string_equal(o.topic, f->topic);
    mode_t mode = 0;
    assert_true(file_holds(o.file, o.external_id, &mode));
    assert_int_equal(mode, 0600);
    assert_true(file_holds(victim, "untouched", &mode));
    /* Only the planted link is left: the temporary file became the template. */
    assert_int_equal(count_entries(f->dir, ".xacct-"), 1);
    assert_int_equal(unlink(planted), 0);
    assert_int_equal(unlink(victim), 0);

    /* The account is in the topic's policy now. */
    char path[512];
    char *esc = curl_easy_escape(NULL, f->topic, 0);
    snprintf(path, sizeof(path), "/_fake/sns/topics/%s", esc);
    curl_free(esc);
    char *body = control(f, "GET", path, NULL);
    assert_non_null(strstr(body, "111122223333"));
    free(body);

    /* Again: refused, and the state says why. */
    outcome_t again;
    onboard(f, "111122223333", &again);
    assert_int_equal(again.status, XACCT_ESTATE);
    assert_string_equal(again.state, "pending");
    assert_false(again.unfinished);
}

static void rotate_issues_a_new_id(void **state)
{
    fixture_t *f = *state;
    outcome_t first, o;
    onboard(f, "444455556666", &first);
    assert_int_equal(first.status, 0);
    memset(&o, 0, sizeof(o));
    assert_int_equal(xacct_onboard_rotate(f->ctx, "444455556666", "test", onboard_cb, &o), 0);
    assert_false(o.done);
    wait_for(f, &o);
    assert_int_equal(o.status, 0);
    assert_string_equal(o.state, "pending");
    assert_string_not_equal(o.external_id, first.external_id);
    assert_string_equal(o.topic, f->topic);
    mode_t mode = 0;
    assert_true(file_holds(o.file, o.external_id, &mode));

    memset(&o, 0, sizeof(o));
    assert_int_equal(xacct_onboard_rotate(f->ctx, "777788889999", "test", onboard_cb, &o), 0);
    wait_for(f, &o);
    assert_int_equal(o.status, XACCT_ENOTFOUND);
    assert_string_equal(o.detail, "no customer 777788889999");
}

static void apply_cb(int status, const char *detail, xacct_apply_result_t result,
                     const char *prev_state, void *arg)
{
    (void)result;
    (void)prev_state;
    done_cb(status, detail, arg);
}

static void get_cb(int status, const char *detail, const xacct_customer_t *c, void *arg)
{
    outcome_t *o = arg;
    done_cb(status, detail, arg);
    if (c != NULL) {
        copy(o->external_id, sizeof(o->external_id), c->external_id);
        copy(o->pending, sizeof(o->pending), c->pending_external_id);
        copy(o->state, sizeof(o->state), xacct_customer_state_name(c->state));
    }
}

/* An active customer's rotation (SPEC §9.3): the new ID is pending, the
 * current one stays; the template (a file: no bucket, so no update link)
 * trusts the new one. */
static void rotate_active_keeps_the_current_id(void **state)
{
    fixture_t *f = *state;
    const char *acct = "555566667777";
    outcome_t first, o;
    onboard(f, acct, &first);
    assert_int_equal(first.status, 0);
    xacct_event_t ev = xacct_onboard_event("create", "success", NULL, "test");
    xacct_customer_apply_t in = {
        .account_id = acct, .request_type = "Create", .request_id = "req-1",
        .to_state = "active", .role_arn = "arn:aws:iam::555566667777:role/XacctAccess",
        .stack_id = "arn:aws:cloudformation:us-east-1:555566667777:stack/xacct-onboarding/1",
        .region = "us-east-1", .physical_id = "xacct-555566667777", .event = &ev};
    memset(&o, 0, sizeof(o));
    assert_int_equal(xacct_customers_apply(f->ctx->store, &in, apply_cb, &o), 0);
    wait_for(f, &o);
    assert_int_equal(o.status, 0);

    memset(&o, 0, sizeof(o));
    assert_int_equal(xacct_onboard_rotate(f->ctx, acct, "test", onboard_cb, &o), 0);
    wait_for(f, &o);
    assert_int_equal(o.status, 0);
    assert_string_equal(o.state, "active");
    assert_string_equal(o.external_id, ""); /* nothing replaced yet */
    assert_int_equal(strlen(o.pending), 36);
    assert_string_not_equal(o.pending, first.external_id);
    assert_string_equal(o.update_url, "");
    mode_t mode = 0;
    assert_true(file_holds(o.file, o.pending, &mode));
    assert_false(file_holds(o.file, first.external_id, &mode));
    char pending[64];
    copy(pending, sizeof(pending), o.pending);

    memset(&o, 0, sizeof(o));
    assert_int_equal(xacct_customers_get(f->ctx->store, acct, get_cb, &o), 0);
    wait_for(f, &o);
    assert_string_equal(o.state, "active");
    assert_string_equal(o.external_id, first.external_id);
    assert_string_equal(o.pending, pending);
}

static void bad_input(void **state)
{
    fixture_t *f = *state;
    outcome_t o = {0};
    assert_int_equal(xacct_onboard_customer(f->ctx, "12345", NULL, "test", onboard_cb, &o),
                     XACCT_EINVAL);
    assert_int_equal(xacct_onboard_customer(f->ctx, "123456789012", "mars-1", "test", onboard_cb,
                                            &o),
                     XACCT_EINVAL);
    /* A well-formed region no partner topic is in: refused before anything
     * is stored, so no pending customer is left that no stack can report. */
    assert_int_equal(xacct_onboard_customer(f->ctx, "123456789012", "eu-west-1", "test",
                                            onboard_cb, &o),
                     XACCT_EINVAL);
    assert_false(o.done);
    /* Reported through the callback, from the loop. */
    assert_int_equal(xacct_publish_sync(f->ctx, "arn:aws:sqs:us-east-1:1:q", done_cb, &o), 0);
    assert_false(o.done);
    wait_for(f, &o);
    assert_int_equal(o.status, XACCT_EINVAL);
    char text_err[256];
    char *text = NULL;
    assert_int_equal(xacct_deliver_render(f->ctx->cfg, "123456789012", "id", "", &text, text_err,
                                          sizeof(text_err)),
                     XACCT_ENOTFOUND);
    assert_null(text);
}

static void freed_context_reports_once(void **state)
{
    fixture_t *f = *state;
    outcome_t o = {0};
    assert_int_equal(xacct_onboard_customer(f->ctx, "222233334444", NULL, "test", onboard_cb, &o),
                     0);
    assert_int_equal(xacct_ctx_free(f->ctx), 0);
    f->ctx = NULL;
    assert_true(o.done);
    assert_int_equal(o.calls, 1);
    assert_int_not_equal(o.status, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(onboard_allows_and_delivers, setup, teardown),
        cmocka_unit_test_setup_teardown(rotate_issues_a_new_id, setup, teardown),
        cmocka_unit_test_setup_teardown(rotate_active_keeps_the_current_id, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(freed_context_reports_once, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
