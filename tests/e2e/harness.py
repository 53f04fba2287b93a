"""End-to-end test bed: a real redis-server on a free port, fakeaws (the
local AWS emulator), SNS topics delivering to an SQS queue, a config file,
and real xacctd / xacct processes built in $XACCT_BUILD_DIR.

    env = Env(); env.start()
    acct = "210987654321"; ext = env.onboard(acct)
    env.start_worker()
    env.create_stack(acct, env.template(acct, ext))
    env.wait_stack("xacct-onboarding", acct)   # -> stack JSON
    env.stop()                                  # every process started, by pid

Everything it starts is stopped on every exit path (stop() is idempotent and
registered with atexit).

Real AWS names, real default host patterns. The config leaves
`sns.cert_hosts` and `cloudformation.response_hosts` at the product's
defaults, so the URLs that arrive in messages must look like AWS's:
`https://sns.us-east-1.amazonaws.com/SimpleNotificationService-….pem`,
`https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/…`
— port 443, no port in the URL. To make them reachable without touching
the product:
  * fakeaws listens on port 443 of a loopback address of its own
    (`--aws-address auto` picks a free 127.x.y.z: Linux routes all of 127/8
    to lo, so parallel test runs never compete for one port 443 and no
    network namespace is needed — which would also hide redis and the
    emulator's other ports from the processes under test), with a
    certificate for `*.s3.amazonaws.com`, `*.<region>.amazonaws.com`, ...
    from its own CA (trusted through AWS_CA_BUNDLE as for every endpoint);
  * xacctd and xacct run under `unshare --mount` with a private /etc/hosts
    (a bind mount visible to that process only) that maps those names to
    that address. Name resolution, the certificate check by name and the
    Host header are then exactly what they are against AWS.
API calls go to AWS_ENDPOINT_URL (the SDK-standard override), except with
Env(real_endpoints=True): no override at all, the queue URL shaped like a
real one, and every call made to the service's regional name.
Needs root (CI runs the suite as root): port 443 and a mount namespace.
"""
import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

SOURCE = os.environ.get("XACCT_SOURCE_DIR") or os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("XACCT_BUILD_DIR") or os.path.join(SOURCE, "build")
sys.path.insert(0, os.path.join(SOURCE, "tests", "fakeaws"))

from fakeaws.testing import FakeAWS  # noqa: E402
from fakeaws.hosts import CN_REGIONS, REGIONS  # noqa: E402

import redis  # noqa: E402  (Debian's python3-redis)

PYTHON = os.environ.get("XACCT_PYTHON") or "/usr/bin/python3"
REDIS_SERVER = os.environ.get("XACCT_REDIS_SERVER") or shutil.which("redis-server") \
    or "/usr/bin/redis-server"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def until_close(port, data, wait=10):
    """Sends data on a new connection to 127.0.0.1:port; everything the
    server sent until it closed the connection (AssertionError if it kept
    it open for wait seconds)."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
        s.sendall(data)
        got = b""
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                raise AssertionError(f"the connection stayed open: {data[:80]!r} {got[:300]!r}")
            if not chunk:
                return got
            got += chunk


def wait_for(pred, timeout, what, interval=0.1):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Redis:
    """A throwaway redis-server."""

    def __init__(self, tmp, name="redis"):
        self.tmp = tmp
        self.name = name
        self.port = None
        self.proc = None

    def start(self, port=None, extra=()):
        """extra: more redis-server arguments (TLS, replicaof, ACL users)."""
        self.port = port or self.port or free_port()
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.tmp, "--dbfilename", f"{self.name}.rdb",
             "--logfile", os.path.join(self.tmp, f"{self.name}.log"), *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self._up, 10, self.name)

    def _up(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"


class Env:
    PARTNER = "111111111111"
    PREFIX = "xacct:"

    def __init__(self, regions=("us-east-1",), topics_per_region=1, propagation_timeout=20,
                 raw_delivery=False, max_receives=5, visibility_timeout=30, grace_seconds=10,
                 extra_conf="", prefix=None, real_endpoints=False):
        self.regions = regions
        self.topics_per_region = topics_per_region
        self.propagation_timeout = propagation_timeout
        self.raw_delivery = raw_delivery
        self.max_receives = max_receives
        self.visibility_timeout = visibility_timeout
        self.grace_seconds = grace_seconds
        self.extra_conf = extra_conf
        if prefix is not None:
            self.PREFIX = prefix  # redis.prefix
        # No AWS_ENDPOINT_URL: xacctd/xacct reach every service by its real
        # name (sts.<region>.amazonaws.com, the queue's sqs.<region>...).
        self.real_endpoints = real_endpoints
        self.tmp = None
        self.redis = None
        self.fa = None
        self.workers = []
        self.topics = {}  # region -> [arn]
        self.queue_url = None
        self.queue_name = "xacct-requests"
        self._stopped = False
        self._allowed = {}  # topic -> accounts allowed by allow_publish
        self.conf_overrides = {}

    # ---- lifecycle ------------------------------------------------------
    def start(self):
        atexit.register(self.stop)
        self.tmp = tempfile.mkdtemp(prefix="xacct-e2e-")
        self.redis = Redis(self.tmp)
        self.redis.start()
        self.fa = FakeAWS.start(python=PYTHON, args=("--partner-account", self.PARTNER,
                                                     "--aws-address", "auto"))
        self.write_hosts()
        self.https_port = urllib.parse.urlsplit(self.fa.https_url).port
        self.ctl("POST", "/_fake/cfn/config", {"response_timeout": 120})
        q = self.ctl("POST", "/_fake/sqs/queues",
                            {"name": self.queue_name,
                             "attributes": {"VisibilityTimeout": str(self.visibility_timeout)}})
        self.queue_url, self.queue_arn = q["url"], q["arn"]
        for region in self.regions:
            for i in range(self.topics_per_region):
                arn = self.create_topic(region, f"xacct-phone-home-{i + 1}")
                self.topics.setdefault(region, []).append(arn)
                self.subscribe(arn, region)
        self.write_config()
        self.r = redis.Redis(host="127.0.0.1", port=self.redis.port)
        return self

    def stop_after(self, worker):
        """A test class's tear-down: the worker must stop cleanly (exit 0,
        its log's end shown when not), then everything stops."""
        try:
            rc = self.stop_worker(worker)
            # Read after the stop: its last lines (a sanitizer's report at
            # exit) are what explain a non-zero status.
            assert rc == 0, self.worker_log(worker)[-3000:]
        finally:
            self.stop()

    def stop(self):
        if self._stopped:
            return
        self._stopped = True
        for p in self.workers:
            if p.poll() is None:
                p.kill()
                p.wait()
        if self.fa is not None:
            self.fa.stop()
        if self.redis is not None:
            self.redis.stop()
        if self.tmp and not os.environ.get("XACCT_KEEP_TMP"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- AWS set-up ---------------------------------------------------------
    def ctl(self, method, path, obj=None):
        """A control-API call that must succeed; returns the decoded JSON."""
        status, doc = self.fa.control(method, path, obj)
        if not 200 <= status < 300:
            raise AssertionError(f"fakeaws {method} {path}: {status} {doc}")
        return doc

    def sns(self, region, **params):
        params.setdefault("Version", "2010-03-31")
        body = urllib.parse.urlencode(params).encode()
        r = self.fa.call("sns", "POST", "/", body=body, region=region,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        if r.status != 200:
            raise AssertionError(f"SNS {params.get('Action')}: {r.status} {r.text()}")
        return r

    def create_topic(self, region, name):
        r = self.sns(region, Action="CreateTopic", Name=name)
        for el in r.xml().iter():
            if el.tag.endswith("TopicArn"):
                return el.text
        raise AssertionError("CreateTopic returned no TopicArn")

    def subscribe(self, topic_arn, region):
        self.sns(region, Action="Subscribe", TopicArn=topic_arn, Protocol="sqs",
                 Endpoint=self.queue_arn, **({"Attributes.entry.1.key": "RawMessageDelivery",
                                               "Attributes.entry.1.value": "true"}
                                              if self.raw_delivery else {}))

    def topic_policy(self, topic_arn):
        region = topic_arn.split(":")[3]
        r = self.sns(region, Action="GetTopicAttributes", TopicArn=topic_arn)
        entries = {}
        key = None
        for el in r.xml().iter():
            tag = el.tag.rsplit("}", 1)[-1]
            if tag == "key":
                key = el.text
            elif tag == "value" and key is not None:
                entries[key] = el.text
                key = None
        return json.loads(entries.get("Policy") or "{}")

    def allow_publish(self, topic_arn, account):
        """What onboarding's allow-list step does, for tests that bypass the
        CLI: the topic's policy gets statements of up to 200 accounts each."""
        accounts = self._allowed.setdefault(topic_arn, [])
        if account in accounts:
            return
        accounts.append(account)
        policy = self.topic_policy(topic_arn)
        kept = [st for st in policy.get("Statement", [])
                if not str(st.get("Sid", "")).startswith("test-publish-")]
        for i in range(0, len(accounts), 200):
            kept.append({"Sid": f"test-publish-{i // 200}", "Effect": "Allow",
                         "Principal": {"AWS": [f"arn:aws:iam::{a}:root"
                                               for a in accounts[i:i + 200]]},
                         "Action": "SNS:Publish", "Resource": topic_arn})
        policy["Version"] = policy.get("Version", "2012-10-17")
        policy["Statement"] = kept
        region = topic_arn.split(":")[3]
        self.sns(region, Action="SetTopicAttributes", TopicArn=topic_arn,
                 AttributeName="Policy", AttributeValue=json.dumps(policy))

    # ---- AWS names -------------------------------------------------------------
    @staticmethod
    def aws_names(region):
        """The AWS host names a message may carry for `region`: its SNS
        endpoint (SigningCertURL, SubscribeURL) and CloudFormation's
        response bucket."""
        suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
        bucket = "cloudformation-custom-resource-response-" + region.replace("-", "")
        s3 = f"{bucket}.s3.{suffix}" if region == "us-east-1" else f"{bucket}.s3.{region}.{suffix}"
        return [f"sns.{region}.{suffix}", s3] + [f"{svc}.{region}.{suffix}"
                                                for svc in ("sqs", "sts", "s3", "iam")]

    @property
    def hosts_path(self):
        return os.path.join(self.tmp, "hosts")

    def write_hosts(self):
        """The /etc/hosts the processes under test see: the machine's own,
        plus the AWS names of every region on the emulator's address."""
        try:
            with open("/etc/hosts") as f:
                base = f.read()
        except OSError:
            base = "127.0.0.1 localhost\n"
        names = [n for r in REGIONS + CN_REGIONS for n in self.aws_names(r)]
        names += ["sts.amazonaws.com", "iam.amazonaws.com", "s3.amazonaws.com"]
        with open(self.hosts_path, "w") as f:
            f.write(base.rstrip("\n") + "\n# fakeaws\n")
            for i in range(0, len(names), 8):
                f.write(self.fa.aws_address + " " + " ".join(names[i:i + 8]) + "\n")

    def wrap(self, argv):
        """argv run with the test's /etc/hosts: a private mount namespace
        (unshare execs, and so does sh, so the pid is the program's own and
        signals reach it directly)."""
        return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                'mount --bind "$0" /etc/hosts && exec "$@"', self.hosts_path, *argv]

    def signing_cert_url(self, region=None):
        import hashlib
        with open(self.fa.info["signing_cert_file"], "rb") as f:
            name = f"SimpleNotificationService-{hashlib.md5(f.read()).hexdigest()}.pem"
        return f"https://sns.{region or self.regions[0]}.amazonaws.com/{name}"

    # ---- configuration ------------------------------------------------------
    @property
    def config_path(self):
        return os.path.join(self.tmp, "xacctd.conf")

    def write_config(self, **overrides):
        topics = ", ".join(a for arns in self.topics.values() for a in arns)
        conf = {
            "aws": {"region": self.regions[0], "partner_account_id": self.PARTNER},
            "queue": {"urls": self.config_queue_url, "wait_seconds": "1", "max_messages": "10",
                      "visibility_timeout": str(self.visibility_timeout),
                      "max_in_flight": "64", "max_receives": str(self.max_receives)},
            "sns": {"topic_arns": topics, "verify_signatures": "true",
                    "raw_delivery": "true" if self.raw_delivery else "false"},
            "cloudformation": {"template_dir": self.tmp,
                               "role_policy_file": os.path.join(SOURCE, "config",
                                                                "role-policy.json")},
            "check": {"propagation_timeout": str(self.propagation_timeout)},
            "console": {"federation_url": f"{self.fa.https_url}/federation"},
            "redis": {"url": self.redis.url, "prefix": self.PREFIX},
            "metrics": {"listen": ""},
            "log": {"level": "info", "format": "logfmt"},
            "shutdown": {"grace_seconds": str(self.grace_seconds)},
        }
        self.conf_overrides.update(overrides)
        for k, v in self.conf_overrides.items():
            section, key = k.split("__", 1)
            conf.setdefault(section, {})[key] = v
        with open(self.config_path, "w") as f:
            for section, kv in conf.items():
                f.write(f"[{section}]\n")
                for k, v in kv.items():
                    # Long lists go one item per line (list keys accumulate).
                    items = [x.strip() for x in str(v).split(",")] if len(str(v)) > 150 else [v]
                    for item in items:
                        f.write(f"{k} = {item}\n")
            f.write(self.extra_conf)

    @property
    def config_queue_url(self):
        """The queue URL xacctd polls: the emulator's, or with real_endpoints
        the shape of a real one."""
        if not self.real_endpoints:
            return self.queue_url
        return f"https://sqs.{self.regions[0]}.amazonaws.com/{self.PARTNER}/{self.queue_name}"

    def process_env(self, extra=None):
        env = dict(os.environ)
        env.update({
            "AWS_ENDPOINT_URL": self.fa.https_url,
            "AWS_CA_BUNDLE": self.fa.ca_file,
            "AWS_ACCESS_KEY_ID": self.fa.creds[0],
            "AWS_SECRET_ACCESS_KEY": self.fa.creds[1],
            "AWS_REGION": self.regions[0],
            "AWS_EC2_METADATA_DISABLED": "true",
            "XACCT_CONFIG": self.config_path,
        })
        env.pop("AWS_SESSION_TOKEN", None)
        if self.real_endpoints:
            for k in [k for k in env if k.startswith("AWS_ENDPOINT_URL")]:
                del env[k]
        if extra:
            env.update(extra)
        return env

    # ---- processes --------------------------------------------------------
    def start_worker(self, extra_env=None, wait_ready=True, metrics=False):
        """metrics=True gives the worker its own metrics.listen port; its
        endpoint is then p.metrics_url (see scrape())."""
        n = len(self.workers) + 1
        metrics_url = None
        if metrics:
            port = free_port()
            extra_env = dict(extra_env or {}, XACCT_METRICS_LISTEN=f"127.0.0.1:{port}")
            metrics_url = f"http://127.0.0.1:{port}"
        log = open(os.path.join(self.tmp, f"xacctd-{n}.log"), "wb")
        p = subprocess.Popen(self.wrap([os.path.join(BUILD, "xacctd"), "--config", self.config_path]),
                             env=self.process_env(extra_env), stdout=log, stderr=log)
        log.close()
        p.log_path = os.path.join(self.tmp, f"xacctd-{n}.log")
        p.metrics_url = metrics_url
        self.workers.append(p)
        if wait_ready:
            wait_for(lambda: b"sqs.polling" in self.worker_log(p) or p.poll() is not None, 20,
                     "xacctd to start polling")
            if p.poll() is not None:
                raise AssertionError(f"xacctd exited {p.returncode}: {self.worker_log(p)!r}")
            if metrics:
                # "sqs.polling" can be written before the metrics listener
                # is up: the worker starts polling first.
                wait_for(lambda: port_open(port) or p.poll() is not None, 20,
                         "the metrics listener")
        return p

    @staticmethod
    def scrape(p, path="/metrics", method="GET"):
        """(status, headers, body text) of one request to the worker's
        metrics endpoint."""
        import urllib.error
        import urllib.request
        req = urllib.request.Request(p.metrics_url + path, method=method)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, dict(r.headers), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read().decode()

    @staticmethod
    def parse_metrics(text):
        """{(name, frozenset(labels.items())): value} from Prometheus text."""
        import re
        out = {}
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)', line)
            if m is None:
                raise AssertionError(f"not a sample line: {line!r}")
            labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"',
                                     m.group(2) or ""))
            out[(m.group(1), frozenset(labels.items()))] = float(m.group(3))
        return out

    def worker_log(self, p):
        with open(p.log_path, "rb") as f:
            return f.read()

    def stop_worker(self, p, sig=signal.SIGTERM, timeout=60):
        p.send_signal(sig)
        return p.wait(timeout)

    def xacct(self, *args, check=False, input=None):
        r = subprocess.run(self.wrap([os.path.join(BUILD, "xacct"), "--config", self.config_path, *args]),
                           env=self.process_env(), capture_output=True, input=input, timeout=120)
        if check and r.returncode != 0:
            raise AssertionError(f"xacct {args}: {r.returncode} {r.stderr!r}")
        return r

    # ---- customers ----------------------------------------------------------
    def onboard(self, account, region=None):
        """Onboards through the CLI: returns the external ID."""
        r = self.xacct("onboard", account, "--region", region or self.regions[0], "--json",
                       check=True)
        return json.loads(r.stdout)["external_id"]

    def seed_customer(self, account, topic_arn=None, external_id=None):
        """A pending customer written straight into Redis (the layout of SPEC
        §5) and allowed to publish: for worker tests that do not exercise the
        CLI. Returns the external ID."""
        import uuid
        ext = external_id or str(uuid.uuid4())
        topic_arn = topic_arn or self.topics[self.regions[0]][0]
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        p = self.PREFIX
        self.r.hset(f"{p}customer:{account}", mapping={
            "account_id": account, "external_id": ext, "state": "pending",
            "topic_arn": topic_arn, "created_at": now, "updated_at": now})
        self.r.set(f"{p}external-id:{ext}", account)
        self.r.zadd(f"{p}customers", {account: int(time.time() * 1000)})
        self.r.sadd(f"{p}topic:{topic_arn}", account)
        self.allow_publish(topic_arn, account)
        return ext

    def customer(self, account):
        h = self.r.hgetall(f"{self.PREFIX}customer:{account}")
        return {k.decode(): v.decode() for k, v in h.items()}

    def template(self, account, external_id, topic_arn=None, insecure=False,
                 role_name="XacctAccess"):
        """A template like the one onboarding renders (insecure: the trust policy
        does not require the external ID)."""
        topic_arn = topic_arn or self.topics[self.regions[0]][0]
        cond = {} if insecure else {"Condition": {"StringEquals": {"sts:ExternalId": external_id}}}
        return {
            "AWSTemplateFormatVersion": "2010-09-09",
            "Resources": {
                "XacctRole": {
                    "Type": "AWS::IAM::Role",
                    "Properties": {
                        "RoleName": role_name,
                        "AssumeRolePolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [dict({
                                "Effect": "Allow",
                                "Principal": {"AWS": f"arn:aws:iam::{self.PARTNER}:root"},
                                "Action": "sts:AssumeRole"}, **cond)]},
                    },
                },
                "PhoneHome": {
                    "Type": "Custom::PhoneHome",
                    "Properties": {
                        "ServiceToken": topic_arn,
                        "AccountID": {"Ref": "AWS::AccountId"},
                        "RoleArn": {"Fn::GetAtt": ["XacctRole", "Arn"]},
                        "ExternalID": external_id,
                    },
                },
            },
        }

    # ---- stacks ---------------------------------------------------------------
    def create_stack(self, account, template, name="xacct-onboarding", region=None):
        return self.ctl("POST", "/_fake/cfn/stacks", {
            "account_id": account, "region": region or self.regions[0],
            "stack_name": name, "template": template})

    @staticmethod
    def template_url_of(link):
        """The templateURL a CloudFormation console link (quick-create or
        update-stack) carries in its fragment, decoded once."""
        route, _, query = urllib.parse.urlsplit(link).fragment.partition("?")
        urls = urllib.parse.parse_qs(query).get("templateURL")
        assert urls and len(urls) == 1, f"no templateURL in {route}"
        return urls[0]

    def create_stack_from_link(self, account, link, name="xacct-onboarding", region=None):
        """What a customer does with a quick-create link: CloudFormation in
        the customer's account reads the template from the link's
        templateURL (no partner credentials). Returns (status, answer) of the
        simulator's CreateStack: 201 with stack_id, or 400 ValidationError
        with s3_error when S3 refused the URL."""
        region = region or urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)["region"][0]
        return self.fa.control("POST", "/_fake/cfn/stacks", {
            "account_id": account, "region": region, "stack_name": name,
            "template_url": self.template_url_of(link)})

    def update_stack_from_link(self, link):
        """What a customer does with an update-stack link."""
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(link).fragment.partition("?")[2])
        return self.fa.control(
            "POST", f"/_fake/cfn/stacks/{urllib.parse.quote(q['stackId'][0], safe='')}/update",
            {"template_url": self.template_url_of(link)})

    def update_stack(self, stack_id, template):
        return self.ctl("POST", f"/_fake/cfn/stacks/{urllib.parse.quote(stack_id, safe='')}/update",
                               {"template": template})

    def delete_stack(self, stack_id):
        return self.ctl("DELETE", f"/_fake/cfn/stacks/{urllib.parse.quote(stack_id, safe='')}")

    def wait_stack(self, stack_id, timeout=90):
        q = urllib.parse.quote(stack_id, safe="")
        deadline = time.monotonic() + timeout
        while True:
            s = self.ctl("GET", f"/_fake/cfn/stacks/{q}?wait=5")
            if not s["status"].endswith("_IN_PROGRESS"):
                return s
            if time.monotonic() > deadline:
                raise AssertionError(f"stack still {s['status']} after {timeout}s")

    @staticmethod
    def last_answer(stack):
        """The body of the last answer the stack received, as sent."""
        assert stack["answers"], f"stack {stack['stack_name']} got no answer"
        return json.loads(stack["answers"][-1]["body"])

    def send_raw(self, body):
        """Puts body on the queue directly (SQS SendMessage as the partner),
        bypassing SNS: how forged or foreign messages reach the worker."""
        r = self.fa.call("sqs", "POST", "/", body=json.dumps({
            "QueueUrl": self.queue_url, "MessageBody": body}).encode(),
            headers={"Content-Type": "application/x-amz-json-1.0",
                     "X-Amz-Target": "AmazonSQS.SendMessage"}, region=self.regions[0])
        if r.status != 200:
            raise AssertionError(f"SendMessage: {r.status} {r.text()}")
        return r.json()["MessageId"]

    def publish_as(self, account, topic_arn, message):
        """SNS Publish signed with the customer account's own keys."""
        keys = self.fa.new_account(account)
        creds = (keys["access_key_id"], keys["secret_access_key"], None)
        region = topic_arn.split(":")[3]
        body = urllib.parse.urlencode({"Action": "Publish", "Version": "2010-03-31",
                                       "TopicArn": topic_arn, "Message": message,
                                       "Subject": "AWS CloudFormation custom resource request"})
        r = self.fa.call("sns", "POST", "/", body=body.encode(), creds=creds, region=region,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        if r.status != 200:
            raise AssertionError(f"Publish: {r.status} {r.text()}")

    def dead(self):
        return [{k.decode(): v.decode("utf-8", "replace") for k, v in f.items()}
                for _, f in self.r.xrange(f"{self.PREFIX}dead")]

    def wait_dead(self, message_id, timeout=30):
        return wait_for(lambda: next((d for d in self.dead() if d.get("message_id") == message_id),
                                     None), timeout, f"message {message_id} in the dead set")

    def jobs_for(self, account):
        import msgpack
        out = []
        for _, f in self.r.xrange(f"{self.PREFIX}jobs:offboard"):
            job = msgpack.unpackb(f[b"job"], raw=False)
            if job.get("account_id") == account:
                out.append(job)
        return out

    def answers(self):
        return self.ctl("GET", "/_fake/s3/responses")["responses"]

    def queue(self):
        return self.ctl("GET", f"/_fake/sqs/queues/{self.queue_name}")

    def wait_queue_empty(self, timeout=60):
        return wait_for(lambda: (lambda q: q if q["visible"] == 0 and q["in_flight"] == 0
                                 else None)(self.queue()), timeout, "the queue to drain")


class SharedWorkerTest(unittest.TestCase):
    """Tests sharing one Env and one running xacctd per class. A class sets
    env_options (Env's keywords) and worker_options (start_worker's), and
    prepare() for what must exist before the worker starts; the worker must
    stop cleanly at the end (stop_after)."""

    env_options = {}
    worker_options = {}

    @classmethod
    def prepare(cls):
        pass

    @classmethod
    def setUpClass(cls):
        cls.env = Env(**cls.env_options).start()
        try:
            cls.prepare()
            cls.worker = cls.env.start_worker(**cls.worker_options)
        except BaseException:
            cls.env.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.env.stop_after(cls.worker)


class SharedEnvTest(unittest.TestCase):
    """Tests sharing one Env (Redis, the emulator, a configuration) per class,
    which run xacctd to its end with environment overrides."""

    @classmethod
    def setUpClass(cls):
        cls.env = Env().start()

    @classmethod
    def tearDownClass(cls):
        cls.env.stop()

    def run_xacctd(self, **env):
        return subprocess.run([os.path.join(BUILD, "xacctd"), "--config", self.env.config_path],
                              env=self.env.process_env(env), capture_output=True, timeout=60)
