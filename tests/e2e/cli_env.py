"""Test bed for the `xacct` CLI tests: redis-server (harness.Redis), the
fakeaws emulator (its testing.FakeAWS helper), topics in any regions, an
optional template bucket, a configuration file for xacct, and helpers to run
the binary from XACCT_BUILD_DIR and to act as customers in the emulator.

    env = CliEnv.start(topics=[("us-east-1", "phone-home-1")], bucket="templates")
    try:
        r = env.xacct("onboard", "123456789012", "--json")
    finally:
        env.stop()

Unlike harness.Env it starts no queue and no xacctd: the CLI tests drive the
state the worker would produce straight into Redis (activate,
enqueue_offboarding, heartbeat below, msgpack packed by Redis's own cmsgpack).
stop() stops everything by pid; tests call it from addCleanup /
tearDownClass so every exit path releases it.
"""
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.parse

import harness
from harness import FakeAWS

SOURCE_DIR = harness.SOURCE
XACCT = os.path.join(harness.BUILD, "xacct")


class CliEnv:
    """redis-server + fakeaws + a config file for xacct."""

    def __init__(self):
        self.redis = None
        self.fa = None
        self.tmp = tempfile.mkdtemp(prefix="xacct-cli-")
        self.config = os.path.join(self.tmp, "xacctd.conf")
        self.template_dir = os.path.join(self.tmp, "templates")
        os.mkdir(self.template_dir)
        os.mkdir(os.path.join(self.tmp, "redis"))
        self.topics = []

    @classmethod
    def start(cls, topics=(("us-east-1", "xacct-phone-home-1"),), bucket=None):
        env = cls()
        try:
            env.redis = harness.Redis(os.path.join(env.tmp, "redis"))
            env.redis.start()
            env.fa = FakeAWS.start(python=harness.PYTHON)
            for region, name in topics:
                st, doc = env.fa.control("POST", "/_fake/sns/topics", {"name": name, "region": region})
                if st != 200:
                    raise RuntimeError("cannot create topic: %s" % doc)
                env.topics.append(doc["arn"])
            if bucket:
                st, doc = env.fa.control("POST", "/_fake/s3/buckets", {"name": bucket})
                if st not in (200, 201):
                    raise RuntimeError("cannot create bucket: %s" % doc)
            env.write_config(bucket=bucket)
        except BaseException:
            env.stop()
            raise
        return env

    def write_config(self, bucket=None, redis_url=None):
        fa = self.fa
        sections = {
            "aws": {"region": fa.region, "partner_account_id": fa.partner_account},
            "queue": {"urls": "%s/%s/xacct-requests" % (fa.https_url, fa.partner_account)},
            "sns": {"topic_arns": list(self.topics)},
            "cloudformation": {
                "stack_name": "xacct-onboarding",
                "template_bucket": bucket or "",
                "role_policy_file": os.path.join(SOURCE_DIR, "config", "role-policy.json"),
                "template_dir": self.template_dir,
            },
            "console": {"federation_url": fa.https_url + "/federation",
                        "destination": "https://console.aws.amazon.com/ec2/"},
            "redis": {"url": redis_url or self.redis.url},
        }
        with open(self.config, "w") as f:
            for sec, kv in sections.items():
                f.write("[%s]\n" % sec)
                for k, v in kv.items():
                    # A list repeats its key, one item per line (inih caps line length).
                    for item in (v if isinstance(v, list) else [v]):
                        f.write("%s = %s\n" % (k, item))
                f.write("\n")

    def env(self, **overrides):
        e = {k: v for k, v in os.environ.items()
             if not k.startswith("AWS_") and
             (not k.startswith("XACCT_") or k in ("XACCT_BUILD_DIR", "XACCT_SOURCE_DIR"))}
        e.update({
            "XACCT_CONFIG": self.config,
            "AWS_ENDPOINT_URL": self.fa.https_url,
            "AWS_CA_BUNDLE": self.fa.ca_file,
            "AWS_ACCESS_KEY_ID": self.fa.creds[0],
            "AWS_SECRET_ACCESS_KEY": self.fa.creds[1],
            "AWS_REGION": self.fa.region,
            "AWS_EC2_METADATA_DISABLED": "true",
        })
        e.update(overrides)
        return e

    def xacct(self, *args, env=None, timeout=120):
        """Runs xacct; returns the CompletedProcess (text)."""
        return subprocess.run([XACCT, *args], env=env or self.env(), capture_output=True,
                              text=True, timeout=timeout)

    def redis_client(self):
        import redis  # Debian's python3-redis
        return redis.Redis(host="127.0.0.1", port=self.redis.port, db=0)

    # -- fakeaws helpers ---------------------------------------------------
    def topic(self, arn):
        st, doc = self.fa.control("GET", "/_fake/sns/topics/" + urllib.parse.quote(arn, safe=""))
        if st != 200:
            raise RuntimeError("topic %s: %s" % (arn, doc))
        return doc

    def topic_policy(self, arn):
        return self.topic(arn)["policy"]

    def account_keys(self, account):
        return self.fa.new_account(account)

    def publish_as(self, keys, topic_arn, message="hello"):
        """Publish signed with the account's keys; returns the Result."""
        region = topic_arn.split(":")[3]
        body = urllib.parse.urlencode({"Action": "Publish", "Version": "2010-03-31",
                                       "TopicArn": topic_arn, "Message": message})
        return self.fa.call("sns", "POST", "/", body=body, creds=keys, region=region,
                            headers={"Content-Type": "application/x-www-form-urlencoded"})

    def iam_call(self, keys, params):
        body = urllib.parse.urlencode(dict(params, Version="2010-05-08"))
        return self.fa.call("iam", "POST", "/", body=body, creds=keys, region="us-east-1",
                            headers={"Content-Type": "application/x-www-form-urlencoded"})

    def create_role(self, account, name, trust):
        res = self.iam_call(self.account_keys(account), {
            "Action": "CreateRole", "RoleName": name, "AssumeRolePolicyDocument": json.dumps(trust)})
        if res.status != 200:
            raise RuntimeError("CreateRole: %s" % res.text())
        return "arn:aws:iam::%s:role/%s" % (account, name)

    def assume_role(self, role_arn, external_id=None, creds=None):
        p = {"Action": "AssumeRole", "Version": "2011-06-15", "RoleArn": role_arn,
             "RoleSessionName": "e2e"}
        if external_id is not None:
            p["ExternalId"] = external_id
        return self.fa.call("sts", "POST", "/", body=urllib.parse.urlencode(p), creds=creds,
                            headers={"Content-Type": "application/x-www-form-urlencoded"})

    def stop(self):
        if self.fa is not None:
            self.fa.stop()
            self.fa = None
        if self.redis is not None:
            self.redis.stop()
            self.redis = None
        shutil.rmtree(self.tmp, ignore_errors=True)


# The worker's side of the state machine, reproduced in Redis for CLI tests
# that need a customer further along than `xacct onboard` takes it.
_ACTIVATE_LUA = """
redis.call('HSET', KEYS[1], 'state', 'active', 'role_arn', ARGV[1], 'stack_id', ARGV[2],
           'region', ARGV[3], 'physical_id', 'xacct-' .. ARGV[4], 'last_request_id', ARGV[5])
return 1
"""

_OFFBOARD_LUA = """
local ext = redis.call('HGET', KEYS[1], 'external_id')
local job = cmsgpack.pack({v = 1, account_id = ARGV[1], role_arn = ARGV[2], external_id = ext,
                           stack_id = ARGV[3], region = ARGV[4], request_id = ARGV[5],
                           requested_at = tonumber(ARGV[6])})
redis.call('HSET', KEYS[1], 'state', 'offboarding')
pcall(redis.call, 'XGROUP', 'CREATE', KEYS[2], 'offboarders', '0', 'MKSTREAM')
return redis.call('XADD', KEYS[2], '*', 'job', job)
"""

_HEARTBEAT_LUA = """
local hb = cmsgpack.pack({host = ARGV[2], pid = tonumber(ARGV[3]), version = '0.1.0',
                          started_at = tonumber(ARGV[4]), concurrency = 64, in_flight = 3,
                          processed = 42, failed = 1, rss = 12345678, quiet = false})
redis.call('SET', KEYS[1], hb, 'EX', 30)
return 1
"""


def stack_arn(account, region="us-east-1", name="xacct-onboarding"):
    return "arn:aws:cloudformation:%s:%s:stack/%s/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0" % (
        region, account, name)


def activate(r, account, role_arn, region="us-east-1", prefix="xacct:"):
    """pending -> active with the role, as xacctd records a Create."""
    r.eval(_ACTIVATE_LUA, 1, prefix + "customer:" + account, role_arn, stack_arn(account, region),
           region, account, "req-create-" + account)


def enqueue_offboarding(r, account, role_arn, region="us-east-1", prefix="xacct:"):
    """active -> offboarding with a job, as xacctd records a Delete; returns the job id."""
    jid = r.eval(_OFFBOARD_LUA, 2, prefix + "customer:" + account, prefix + "jobs:offboard",
                 account, role_arn, stack_arn(account, region), region, "req-delete-" + account,
                 str(int(time.time() * 1000)))
    return jid.decode() if isinstance(jid, bytes) else jid


def heartbeat(r, worker_id, prefix="xacct:"):
    """A worker heartbeat started an hour ago."""
    r.eval(_HEARTBEAT_LUA, 1, prefix + "worker:" + worker_id, worker_id, "host-a", "4242",
           str(int(time.time() * 1000) - 3_600_000))
