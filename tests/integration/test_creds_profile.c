/* SPDX-License-Identifier: MIT */
/*
 * The shared-config link of the credentials chain against fakeaws, with real
 * files in a temporary HOME: static keys from the credentials file (and a
 * signed GetCallerIdentity with them), "[profile NAME]" sections of the config
 * file and the credentials file winning over it, role_arn + source_profile
 * through a signed AssumeRole carrying external_id and role_session_name (and
 * AccessDenied with the wrong external ID; a clock STS refuses is corrected
 * from its answer and the AssumeRole signed again at once, the correction
 * shared with an AWS client), credential_process run without a
 * shell with its Expiration honoured by a refresh, its failures (an exit
 * status, a wrong Version, a command substitution, a missing program), the
 * marker it runs with and the refusal to run one under it, the region
 * of a profile, and the chain's order: environment keys and web identity
 * before the profile, the profile before container and instance metadata; a
 * named profile that is missing or asks for SSO stops the provider.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "aws_test_util.h"
#include "xacct/aws.h"
#include "xacct/aws_profile.h"
#include "xacct/creds.h"

#define SOURCE_ACCOUNT "222233334444"

typedef struct fixture {
    uv_loop_t loop;
    xacct_http_t *http;
    tenv_t env;
    xacct_creds_t *open;     /* provider still open, closed by teardown */
    xacct_aws_clock_t *clock; /* the provider's signing clock, or NULL (its own) */
    xacct_aws_clock_t shared; /* storage for one shared with a client */
    char home[512];
    char cfg_path[600];
    char creds_path[600];
} fixture_t;

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    aws_test_start(&f->loop, &f->http, true);
    /* A fresh HOME per test, with ~/.aws in it. */
    static int n;
    snprintf(f->home, sizeof(f->home), "%s/home-%d-%d", must_env("XACCT_TEST_TMPDIR"),
             (int)getpid(), ++n);
    assert_int_equal(mkdir(f->home, 0700), 0);
    char aws[560];
    snprintf(aws, sizeof(aws), "%s/.aws", f->home);
    assert_int_equal(mkdir(aws, 0700), 0);
    snprintf(f->cfg_path, sizeof(f->cfg_path), "%s/config", aws);
    snprintf(f->creds_path, sizeof(f->creds_path), "%s/credentials", aws);
    tenv_set(&f->env, "HOME", f->home);
    tenv_set(&f->env, "AWS_EC2_METADATA_DISABLED", "true");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    xacct_creds_free(f->open);
    aws_test_stop(&f->loop, f->http, &f->env);
    free(f);
    return 0;
}

static int try_provider(fixture_t *f, xacct_creds_t **out, char *err, size_t errlen)
{
    xacct_creds_options_t o = {
        .getenv = tenv_get,
        .getenv_arg = &f->env,
        .fetch_timeout_ms = 5000,
        .process_timeout_ms = 10000,
        .retry_base_ms = 50,
        .retry_max_ms = 500,
        .clock = f->clock,
    };
    return xacct_creds_new(&f->loop, f->http, &o, out, err, errlen);
}

static xacct_creds_t *provider(fixture_t *f)
{
    char err[512] = "";
    xacct_creds_t *c = NULL;
    int rc = try_provider(f, &c, err, sizeof(err));
    if (rc != 0)
        fail_msg("xacct_creds_new: %s (%s)", xacct_errname(rc), err);
    f->open = c;
    return c;
}

static void close_provider(fixture_t *f)
{
    xacct_creds_free(f->open);
    f->open = NULL;
    run_for(&f->loop, 10);
}

static void wait_for(fixture_t *f, xacct_creds_t *c, creds_wait_t *r)
{
    creds_wait_for(&f->loop, c, r, 20000);
}

/* Long-term keys of a fakeaws account. */
static void account_keys(fixture_t *f, const char *account, char *akid, size_t akid_len,
                         char *secret, size_t secret_len)
{
    char body[128], *resp = NULL;
    snprintf(body, sizeof(body), "{\"account_id\": \"%s\"}", account);
    assert_int_equal(fake_ctl(&f->loop, f->http, "POST", "/_fake/accounts", body, &resp), 200);
    json_error_t jerr;
    json_t *j = json_loads(resp, 0, &jerr);
    free(resp);
    assert_non_null(j);
    snprintf(akid, akid_len, "%s", json_string_value(json_object_get(j, "access_key_id")));
    snprintf(secret, secret_len, "%s", json_string_value(json_object_get(j, "secret_access_key")));
    json_decref(j);
}

static void sts_env(fixture_t *f)
{
    tenv_set(&f->env, "AWS_REGION", must_env("AWS_REGION"));
    tenv_set(&f->env, "AWS_ENDPOINT_URL_STS", must_env("FAKEAWS_URL"));
}

/* -------------------------------------------------------- static keys */

typedef struct call_result {
    bool done;
    int status;
    char body[2048];
} call_result_t;

static void on_call(int status, const char *detail, const xacct_http_response_t *resp,
                    const xacct_aws_error_t *err, void *arg)
{
    call_result_t *r = arg;
    XACCT_UNUSED(detail);
    XACCT_UNUSED(err);
    r->status = status;
    if (resp != NULL)
        snprintf(r->body, sizeof(r->body), "%.*s", (int)resp->body_len, resp->body);
    r->done = true;
}

/* GetCallerIdentity signed by the provider: proves the keys are real. */
static void caller_identity(fixture_t *f, xacct_creds_t *c, call_result_t *r)
{
    xacct_aws_options_t ao = {.getenv = tenv_get, .getenv_arg = &f->env, .max_attempts = 1};
    xacct_aws_t *aws = NULL;
    assert_int_equal(xacct_aws_new(&f->loop, f->http, c, &ao, &aws), 0);
    static const char form[] = "Action=GetCallerIdentity&Version=2011-06-15";
    const xacct_header_t h[] = {
        {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};
    xacct_aws_request_t req = {.service = "sts", .method = "POST", .headers = h,
                               .nheaders = 1, .body = form, .body_len = sizeof(form) - 1};
    assert_int_equal(xacct_aws_call(aws, &req, on_call, r, NULL), 0);
    assert_true(run_until(&f->loop, &r->done, 20000));
    xacct_aws_free(aws);
    run_for(&f->loop, 10);
}

static void test_static_keys_from_credentials_file(void **state)
{
    fixture_t *f = *state;
    char akid[64], secret[128], text[1024];
    account_keys(f, SOURCE_ACCOUNT, akid, sizeof(akid), secret, sizeof(secret));
    snprintf(text, sizeof(text),
             "[default]\naws_access_key_id = AKIADEFAULTDEFAULT00\naws_secret_access_key = x\n"
             "\n# the one in use\n[dev]\naws_access_key_id = %s\naws_secret_access_key = %s\n",
             akid, secret);
    write_file(f->creds_path, text);
    write_file(f->cfg_path, "[profile dev]\nregion = eu-west-3\n  s3 =\n    max_concurrent_requests = 4\n");
    tenv_set(&f->env, "AWS_PROFILE", "dev");
    sts_env(f);
    /* Container credentials come later in the chain: not used. */
    char url[512];
    snprintf(url, sizeof(url), "%s/_creds/container", must_env("FAKEAWS_HTTP_URL"));
    tenv_set(&f->env, "AWS_CONTAINER_CREDENTIALS_FULL_URI", url);

    xacct_creds_t *c = provider(f);
    assert_int_equal(xacct_creds_source(c), XACCT_CREDS_SOURCE_PROFILE);
    creds_wait_t r = {0};
    wait_for(f, c, &r);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.akid, akid);
    assert_false(r.has_token);
    assert_int_equal(xacct_creds_expiry(c), 0);

    call_result_t cr = {0};
    caller_identity(f, c, &cr);
    assert_int_equal(cr.status, 0);
    assert_non_null(strstr(cr.body, "<Account>" SOURCE_ACCOUNT "</Account>"));
    assert_int_equal(fake_count_records(&f->loop, f->http, "credentials_issued", NULL, NULL), 0);

    char *region = NULL, err[256];
    assert_int_equal(xacct_aws_profile_region(tenv_get, &f->env, &region, err, sizeof(err)), 0);
    assert_non_null(region);
    assert_string_equal(region, "eu-west-3");
    free(region);
}

static void test_config_file_profile_sections(void **state)
{
    fixture_t *f = *state;
    /* In the config file a bare [ops] is not the profile: only [profile ops]. */
    write_file(f->cfg_path,
               "[ops]\naws_access_key_id = AKIAWRONGSECTION0000\naws_secret_access_key = w\n"
               "[profile   ops]\naws_access_key_id = AKIACONFIGFILE000000\n"
               "aws_secret_access_key = from-config\naws_session_token = tok;en#1\n"
               "region = ap-south-1\n");
    tenv_set(&f->env, "AWS_PROFILE", "ops");
    xacct_creds_t *c = provider(f);
    assert_int_equal(xacct_creds_source(c), XACCT_CREDS_SOURCE_PROFILE);
    const xacct_sigv4_credentials_t *cur = xacct_creds_current(c);
    assert_non_null(cur);
    assert_string_equal(cur->access_key_id, "AKIACONFIGFILE000000");
    /* No inline comments: the value runs to the end of the line. */
    assert_string_equal(cur->session_token, "tok;en#1");
    close_provider(f);

    /* The credentials file wins over the config file, key by key. */
    write_file(f->creds_path, "[ops]\naws_access_key_id = AKIACREDENTIALSFILE0\n");
    c = provider(f);
    cur = xacct_creds_current(c);
    assert_non_null(cur);
    assert_string_equal(cur->access_key_id, "AKIACREDENTIALSFILE0");
    assert_string_equal(cur->secret_access_key, "from-config");
    close_provider(f);

    /* AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE move the files. */
    char other[700];
    snprintf(other, sizeof(other), "%s/elsewhere", f->home);
    write_file(other, "[ops]\naws_access_key_id = AKIAELSEWHERE0000000\naws_secret_access_key = e\n");
    tenv_set(&f->env, "AWS_SHARED_CREDENTIALS_FILE", other);
    c = provider(f);
    cur = xacct_creds_current(c);
    assert_non_null(cur);
    assert_string_equal(cur->access_key_id, "AKIAELSEWHERE0000000");
    close_provider(f);
}

static void test_chain_order(void **state)
{
    fixture_t *f = *state;
    write_file(f->creds_path, "[default]\naws_access_key_id = AKIAPROFILE000000000\n"
                              "aws_secret_access_key = p\n");
    /* The default profile beats instance metadata. */
    tenv_set(&f->env, "AWS_EC2_METADATA_DISABLED", "false");
    tenv_set(&f->env, "AWS_EC2_METADATA_SERVICE_ENDPOINT", must_env("FAKEAWS_HTTP_URL"));
    xacct_creds_t *c = provider(f);
    assert_int_equal(xacct_creds_source(c), XACCT_CREDS_SOURCE_PROFILE);
    close_provider(f);

    /* Environment keys beat a profile, even a named one. */
    tenv_set(&f->env, "AWS_PROFILE", "default");
    tenv_set(&f->env, "AWS_ACCESS_KEY_ID", "AKIAENVIRONMENT00000");
    tenv_set(&f->env, "AWS_SECRET_ACCESS_KEY", "e");
    c = provider(f);
    assert_int_equal(xacct_creds_source(c), XACCT_CREDS_SOURCE_ENV);
    close_provider(f);

    /* Web identity beats the profile too. */
    tenv_set(&f->env, "AWS_ACCESS_KEY_ID", "");
    tenv_set(&f->env, "AWS_SECRET_ACCESS_KEY", "");
    char tok[600];
    snprintf(tok, sizeof(tok), "%s/token", f->home);
    write_file(tok, "t0ken");
    tenv_set(&f->env, "AWS_WEB_IDENTITY_TOKEN_FILE", tok);
    tenv_set(&f->env, "AWS_ROLE_ARN", "arn:aws:iam::111111111111:role/none");
    sts_env(f);
    c = provider(f);
    assert_int_equal(xacct_creds_source(c), XACCT_CREDS_SOURCE_WEB_IDENTITY);
    close_provider(f);

    /* Without the default profile the chain goes on to instance metadata. */
    tenv_set(&f->env, "AWS_WEB_IDENTITY_TOKEN_FILE", "");
    tenv_set(&f->env, "AWS_ROLE_ARN", "");
    tenv_set(&f->env, "AWS_PROFILE", "");
    write_file(f->creds_path, "[someone-else]\naws_access_key_id = A\naws_secret_access_key = b\n");
    c = provider(f);
    assert_int_equal(xacct_creds_source(c), XACCT_CREDS_SOURCE_IMDS);
    close_provider(f);
}

static void expect_config_error(fixture_t *f, const char *needle)
{
    xacct_creds_t *c = NULL;
    char err[512] = "";
    assert_int_equal(try_provider(f, &c, err, sizeof(err)), XACCT_ECONFIG);
    assert_null(c);
    if (strstr(err, needle) == NULL)
        fail_msg("expected \"%s\" in \"%s\"", needle, err);
}

static void test_named_profile_errors(void **state)
{
    fixture_t *f = *state;
    write_file(f->cfg_path,
               "[profile sso]\nsso_session = corp\nsso_account_id = 111111111111\n"
               "[profile lonely-role]\nrole_arn = arn:aws:iam::111111111111:role/r\n"
               "[profile chained]\nrole_arn = arn:aws:iam::111111111111:role/r\n"
               "source_profile = lonely-role\n"
               "[profile half]\naws_access_key_id = AKIAHALF000000000000\n"
               "[profile broken\n");
    tenv_set(&f->env, "AWS_PROFILE", "nope");
    expect_config_error(f, "config:11: not an INI line");
    write_file(f->cfg_path,
               "[profile sso]\nsso_session = corp\nsso_account_id = 111111111111\n"
               "[profile lonely-role]\nrole_arn = arn:aws:iam::111111111111:role/r\n"
               "[profile chained]\nrole_arn = arn:aws:iam::111111111111:role/r\n"
               "source_profile = lonely-role\n"
               "[profile half]\naws_access_key_id = AKIAHALF000000000000\n");
    expect_config_error(f, "profile nope (AWS_PROFILE) is in neither");
    tenv_set(&f->env, "AWS_PROFILE", "sso");
    expect_config_error(f, "uses sso_session, which xacct does not support");
    tenv_set(&f->env, "AWS_PROFILE", "lonely-role");
    expect_config_error(f, "role_arn needs source_profile");
    tenv_set(&f->env, "AWS_PROFILE", "chained");
    expect_config_error(f, "is itself a role");
    tenv_set(&f->env, "AWS_PROFILE", "half");
    expect_config_error(f, "must both be set");
    /* An ExternalId STS would refuse on every fetch is refused by name. */
    write_file(f->creds_path, "[base]\naws_access_key_id = AKIABASE000000000000\n"
                              "aws_secret_access_key = s3cr3t\n");
    write_file(f->cfg_path, "[profile spaced]\nrole_arn = arn:aws:iam::111111111111:role/r\n"
                            "source_profile = base\nexternal_id = has space\n"
                            "[profile short]\nrole_arn = arn:aws:iam::111111111111:role/r\n"
                            "source_profile = base\nexternal_id = x\n");
    tenv_set(&f->env, "AWS_PROFILE", "spaced");
    expect_config_error(f, "profile spaced: external_id must be 2-1224 characters");
    tenv_set(&f->env, "AWS_PROFILE", "short");
    expect_config_error(f, "profile short: external_id must be 2-1224 characters");
}

/* ----------------------------------------------------------- role_arn */

static void make_role(fixture_t *f, const char *name, const char *external_id, char *arn,
                      size_t arnlen)
{
    char body[1024], *resp = NULL;
    snprintf(body, sizeof(body),
             "{\"role_name\": \"%s\", \"trust_policy\": {\"Version\": \"2012-10-17\", "
             "\"Statement\": [{\"Effect\": \"Allow\", \"Principal\": {\"AWS\": "
             "\"arn:aws:iam::" SOURCE_ACCOUNT ":root\"}, \"Action\": \"sts:AssumeRole\", "
             "\"Condition\": {\"StringEquals\": {\"sts:ExternalId\": \"%s\"}}}]}}",
             name, external_id);
    long st = fake_ctl(&f->loop, f->http, "POST", "/_fake/iam/roles", body, &resp);
    if (st != 201)
        fail_msg("create role: %ld %s", st, resp ? resp : "");
    json_error_t jerr;
    json_t *j = json_loads(resp, 0, &jerr);
    free(resp);
    snprintf(arn, arnlen, "%s", json_string_value(json_object_get(j, "arn")));
    json_decref(j);
}

static void role_files(fixture_t *f, const char *arn, const char *external_id)
{
    char akid[64], secret[128], text[2048];
    account_keys(f, SOURCE_ACCOUNT, akid, sizeof(akid), secret, sizeof(secret));
    snprintf(text, sizeof(text), "[base]\naws_access_key_id = %s\naws_secret_access_key = %s\n",
             akid, secret);
    write_file(f->creds_path, text);
    snprintf(text, sizeof(text),
             "[profile deploy]\nrole_arn = %s\nsource_profile = base\nexternal_id = %s\n"
             "role_session_name = ops-laptop\nduration_seconds = 1800\n",
             arn, external_id);
    write_file(f->cfg_path, text);
    tenv_set(&f->env, "AWS_PROFILE", "deploy");
    sts_env(f);
}

/* The last sts.assume_role record's field, as JSON. */
static json_t *last_assume_record(fixture_t *f)
{
    char *body = NULL;
    assert_int_equal(fake_ctl(&f->loop, f->http, "GET", "/_fake/records?kind=sts.assume_role",
                              NULL, &body), 200);
    json_error_t jerr;
    json_t *root = json_loads(body, 0, &jerr);
    free(body);
    json_t *recs = json_object_get(root, "records");
    assert_true(json_array_size(recs) >= 1);
    json_t *last = json_incref(json_array_get(recs, json_array_size(recs) - 1));
    json_decref(root);
    return last;
}

static void test_role_with_source_profile(void **state)
{
    fixture_t *f = *state;
    char arn[256];
    make_role(f, "xacct-profile-role", "ext-7f3a", arn, sizeof(arn));
    role_files(f, arn, "ext-7f3a");
    xacct_creds_t *c = provider(f);
    assert_int_equal(xacct_creds_source(c), XACCT_CREDS_SOURCE_PROFILE_ROLE);
    creds_wait_t r = {0};
    wait_for(f, c, &r);
    if (r.status != 0)
        fail_msg("%s: %s", xacct_errname(r.status), r.detail);
    assert_true(r.has_token);
    int64_t now_ms = (int64_t)time(NULL) * 1000;
    assert_true(xacct_creds_expiry(c) > now_ms + 1700 * 1000LL);
    assert_true(xacct_creds_expiry(c) <= now_ms + 1801 * 1000LL);

    json_t *rec = last_assume_record(f);
    assert_string_equal(json_string_value(json_object_get(rec, "outcome")), "Allow");
    assert_string_equal(json_string_value(json_object_get(rec, "session_name")), "ops-laptop");
    assert_string_equal(json_string_value(json_object_get(rec, "caller_account")),
                        SOURCE_ACCOUNT);
    assert_string_equal(json_string_value(json_object_get(rec, "access_key_id")), r.akid);
    assert_true(json_is_true(json_object_get(rec, "external_id_matched")));
    assert_int_equal(json_integer_value(json_object_get(rec, "duration")), 1800);
    json_decref(rec);

    /* The assumed role's keys sign calls as the role. */
    call_result_t cr = {0};
    caller_identity(f, c, &cr);
    assert_int_equal(cr.status, 0);
    assert_non_null(strstr(cr.body, ":assumed-role/xacct-profile-role/ops-laptop"));
}

static void test_role_wrong_external_id(void **state)
{
    fixture_t *f = *state;
    char arn[256];
    make_role(f, "xacct-profile-role-2", "the-right-one", arn, sizeof(arn));
    role_files(f, arn, "a-wrong-one");
    xacct_creds_t *c = provider(f);
    creds_wait_t r = {0};
    wait_for(f, c, &r);
    assert_int_equal(r.status, XACCT_EACCESSDENIED);
    assert_non_null(strstr(r.detail, "AccessDenied"));
    assert_null(strstr(r.detail, "a-wrong-one"));
    json_t *rec = last_assume_record(f);
    assert_string_equal(json_string_value(json_object_get(rec, "outcome")), "AccessDenied");
    assert_true(json_is_false(json_object_get(rec, "external_id_matched")));
    json_decref(rec);
}

/* The host's clock 20 minutes behind AWS's: STS refuses the AssumeRole
 * signed with it ("Signature expired"); the provider's clock takes STS's
 * time from the answer's Date and the AssumeRole is signed again at once, so
 * the caller waiting gets the role's keys. An AWS client sharing that clock
 * signs on time at its first attempt. */
static void test_role_after_clock_skew(void **state)
{
    fixture_t *f = *state;
    char arn[256];
    make_role(f, "xacct-profile-role-skew", "ext-skew", arn, sizeof(arn));
    role_files(f, arn, "ext-skew");
    assert_int_equal(fake_ctl(&f->loop, f->http, "POST", "/_fake/server",
                              "{\"clock_skew\": 1200}", NULL), 200);
    xacct_aws_clock_init(&f->shared, NULL, NULL);
    f->clock = &f->shared;
    xacct_creds_t *c = provider(f);
    creds_wait_t r = {0};
    wait_for(f, c, &r);
    if (r.status != 0)
        fail_msg("%s: %s", xacct_errname(r.status), r.detail);
    assert_true(r.has_token);
    if (f->shared.offset_s < 1190 || f->shared.offset_s > 1210)
        fail_msg("offset %lld", (long long)f->shared.offset_s);
    assert_int_equal(fake_count_records(&f->loop, f->http, "auth_failure", "code",
                                        "SignatureDoesNotMatch"), 1);
    json_t *rec = last_assume_record(f);
    assert_string_equal(json_string_value(json_object_get(rec, "outcome")), "Allow");
    assert_string_equal(json_string_value(json_object_get(rec, "access_key_id")), r.akid);
    json_decref(rec);

    xacct_aws_options_t ao = {.getenv = tenv_get, .getenv_arg = &f->env, .max_attempts = 1,
                              .clock = &f->shared};
    xacct_aws_t *aws = NULL;
    assert_int_equal(xacct_aws_new(&f->loop, f->http, c, &ao, &aws), 0);
    static const char form[] = "Action=GetCallerIdentity&Version=2011-06-15";
    const xacct_header_t h[] = {
        {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};
    xacct_aws_request_t req = {.service = "sts", .method = "POST", .headers = h,
                               .nheaders = 1, .body = form, .body_len = sizeof(form) - 1};
    call_result_t cr = {0};
    assert_int_equal(xacct_aws_call(aws, &req, on_call, &cr, NULL), 0);
    assert_true(run_until(&f->loop, &cr.done, 20000));
    xacct_aws_free(aws);
    assert_int_equal(cr.status, 0);
    assert_non_null(strstr(cr.body, ":assumed-role/xacct-profile-role-skew/ops-laptop"));
    assert_int_equal(fake_count_records(&f->loop, f->http, "auth_failure", "code",
                                        "SignatureDoesNotMatch"), 1);
}

/* -------------------------------------------------- credential_process */

/* A credential process in Python: prints keys numbered by a counter file,
 * with the Expiration given on its command line ("-" for none), or misbehaves
 * as told. */
static const char process_script[] =
    "import json, os, sys\n"
    "counter, expiry, mode = sys.argv[1], sys.argv[2], sys.argv[3]\n"
    "try:\n"
    "    n = int(open(counter).read()) + 1\n"
    "except FileNotFoundError:\n"
    "    n = 1\n"
    "open(counter, 'w').write(str(n))\n"
    "if mode == 'fail':\n"
    "    sys.stderr.write('login required\\n')\n"
    "    sys.exit(3)\n"
    "doc = {'Version': 2 if mode == 'v2' else 1, 'AccessKeyId': 'ASIAPROCESS%06d' % n,\n"
    "       'SecretAccessKey': 'process-secret', 'SessionToken': 'process-token'}\n"
    "if mode == 'crlf':\n"
    "    doc['SessionToken'] = 'process-token\\r\\nX-Injected: 1'\n"
    "if mode == 'marker':\n"
    "    doc['SessionToken'] = 'marker-' + os.environ.get('XACCT_CREDENTIAL_PROCESS', 'unset')\n"
    "if expiry != '-':\n"
    "    doc['Expiration'] = expiry\n"
    "print(json.dumps(doc))\n";

static void process_profile(fixture_t *f, const char *expiry, const char *mode, char *counter,
                            size_t counter_len)
{
    char script[700], text[2400];
    snprintf(script, sizeof(script), "%s/cred process.py", f->home);
    write_file(script, process_script);
    snprintf(counter, counter_len, "%s/count", f->home);
    unlink(counter);
    /* The path has a blank in it: quoting must work as in a shell. */
    snprintf(text, sizeof(text),
             "[default]\ncredential_process = %s '%s' %s %s %s\n", must_env("XACCT_PYTHON"),
             script, counter, expiry, mode);
    write_file(f->cfg_path, text);
}

static int read_counter(const char *path)
{
    FILE *fp = fopen(path, "r");
    int n = 0;
    if (fp == NULL)
        return 0;
    if (fscanf(fp, "%d", &n) != 1)
        n = 0;
    fclose(fp);
    return n;
}

static void test_credential_process_expiration(void **state)
{
    fixture_t *f = *state;
    char counter[700], expiry[64];
    /* Six seconds of life: refreshed at half of it. */
    time_t exp = time(NULL) + 6;
    struct tm tm;
    gmtime_r(&exp, &tm);
    strftime(expiry, sizeof(expiry), "%Y-%m-%dT%H:%M:%SZ", &tm);
    process_profile(f, expiry, "ok", counter, sizeof(counter));
    xacct_creds_t *c = provider(f);
    assert_int_equal(xacct_creds_source(c), XACCT_CREDS_SOURCE_PROCESS);
    creds_wait_t r = {0};
    wait_for(f, c, &r);
    if (r.status != 0)
        fail_msg("%s: %s", xacct_errname(r.status), r.detail);
    assert_string_equal(r.akid, "ASIAPROCESS000001");
    assert_true(r.has_token);
    assert_int_equal(xacct_creds_expiry(c), (int64_t)exp * 1000);
    assert_int_equal(read_counter(counter), 1);

    /* The refresh runs the process again before the keys expire. */
    for (int i = 0; i < 200 && xacct_creds_fetch_count(c) < 2; i++)
        run_for(&f->loop, 100);
    assert_int_equal(xacct_creds_fetch_count(c), 2);
    assert_int_equal(read_counter(counter), 2);
    const xacct_sigv4_credentials_t *cur = xacct_creds_current(c);
    assert_non_null(cur);
    assert_string_equal(cur->access_key_id, "ASIAPROCESS000002");
    close_provider(f);

    /* Without an Expiration the keys never expire and are not refetched. */
    process_profile(f, "-", "ok", counter, sizeof(counter));
    c = provider(f);
    creds_wait_t r2 = {0};
    wait_for(f, c, &r2);
    assert_int_equal(r2.status, 0);
    assert_int_equal(xacct_creds_expiry(c), 0);
    run_for(&f->loop, 300);
    assert_int_equal(read_counter(counter), 1);
}

static void test_credential_process_failures(void **state)
{
    fixture_t *f = *state;
    char counter[700];
    process_profile(f, "-", "fail", counter, sizeof(counter));
    xacct_creds_t *c = provider(f);
    creds_wait_t r = {0};
    wait_for(f, c, &r);
    assert_int_equal(r.status, XACCT_ENOCREDS);
    assert_non_null(strstr(r.detail, "exited with status 3"));
    close_provider(f);

    process_profile(f, "-", "v2", counter, sizeof(counter));
    c = provider(f);
    creds_wait_t r2 = {0};
    wait_for(f, c, &r2);
    assert_int_equal(r2.status, XACCT_EPARSE);
    assert_non_null(strstr(r2.detail, "Version"));
    close_provider(f);

    /* A token that would end its header and start another is not used. */
    process_profile(f, "-", "crlf", counter, sizeof(counter));
    c = provider(f);
    creds_wait_t r5 = {0};
    wait_for(f, c, &r5);
    assert_int_equal(r5.status, XACCT_EPARSE);
    assert_non_null(strstr(r5.detail, "control character"));
    assert_null(strstr(r5.detail, "X-Injected"));
    assert_null(xacct_creds_current(c));
    close_provider(f);

    /* Command substitution is refused, not run. */
    write_file(f->cfg_path, "[default]\ncredential_process = /bin/echo $(id)\n");
    c = provider(f);
    creds_wait_t r3 = {0};
    wait_for(f, c, &r3);
    assert_int_equal(r3.status, XACCT_ECONFIG);
    close_provider(f);

    /* A program that does not exist cannot be spawned. */
    write_file(f->cfg_path, "[default]\ncredential_process = /nonexistent/helper --json\n");
    c = provider(f);
    creds_wait_t r4 = {0};
    wait_for(f, c, &r4);
    assert_int_equal(r4.status, XACCT_ECONFIG);
    assert_non_null(strstr(r4.detail, "cannot start"));
}

/* An xacct running inside a credential_process that xacct started refuses
 * to run one itself; the process xacct runs is told so in its environment. */
static void test_credential_process_inside_one(void **state)
{
    fixture_t *f = *state;
    char counter[700];
    process_profile(f, "-", "marker", counter, sizeof(counter));
    xacct_creds_t *c = provider(f);
    creds_wait_t r = {0};
    wait_for(f, c, &r);
    if (r.status != 0)
        fail_msg("%s: %s", xacct_errname(r.status), r.detail);
    const xacct_sigv4_credentials_t *cur = xacct_creds_current(c);
    assert_non_null(cur);
    assert_string_equal(cur->session_token, "marker-1");
    close_provider(f);
    assert_int_equal(read_counter(counter), 1);

    /* Started as such a process itself, the provider does not start. */
    tenv_set(&f->env, XACCT__CREDS_PROCESS_MARKER, "1");
    expect_config_error(f, "profile default has a credential_process, but this xacct already runs "
                           "inside one that xacct started");
    assert_int_equal(read_counter(counter), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_static_keys_from_credentials_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_file_profile_sections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chain_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_named_profile_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_role_with_source_profile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_role_wrong_external_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_role_after_clock_skew, setup, teardown),
        cmocka_unit_test_setup_teardown(test_credential_process_expiration, setup, teardown),
        cmocka_unit_test_setup_teardown(test_credential_process_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_credential_process_inside_one, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
