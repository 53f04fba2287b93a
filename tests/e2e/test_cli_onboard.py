"""`xacct onboard` end to end against redis-server and fakeaws: many
concurrent onboardings get distinct external IDs and every account may
publish to its topic by the emulator's own evaluation of the topic policies,
which it holds to SNS's quotas, so the first topic fills up and onboarding
spills to the next topic of the region; the templates handed out are valid
and their trust policy works as intended in the emulator's STS.
"""
import json
import os
import re
import stat
import threading
import unittest
import urllib.parse

import cli_env

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
# How many accounts the many-accounts test onboards (SNS fits about 890 per
# topic policy, so 1000 spills over to the second topic).
COUNT = int(os.environ.get("XACCT_E2E_ONBOARD_COUNT", "1000"))
PARALLEL = 4
MAX_POLICY = 30 * 1024


def account(i):
    return "%012d" % (300000000000 + i)


class OnboardManyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = cli_env.CliEnv.start(topics=[("us-east-1", "phone-home-a"),
                                            ("us-east-1", "phone-home-b"),
                                            ("us-east-1", "phone-home-c"),
                                            ("eu-west-1", "phone-home-eu")])
        try:
            cls.results = {}
            cls.failures = []
            lock = threading.Lock()

            def runner(k):
                for i in range(k, COUNT, PARALLEL):
                    r = cls.env.xacct("onboard", account(i), "--json")
                    with lock:
                        if r.returncode != 0:
                            cls.failures.append((account(i), r.returncode, r.stderr))
                        else:
                            cls.results[account(i)] = json.loads(r.stdout)

            threads = [threading.Thread(target=runner, args=(k,)) for k in range(PARALLEL)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            cls.eu = {}
            for i in range(3):
                acct = "%012d" % (400000000000 + i)
                r = cls.env.xacct("onboard", acct, "--region", "eu-west-1", "--json")
                if r.returncode != 0:
                    cls.failures.append((acct, r.returncode, r.stderr))
                else:
                    cls.eu[acct] = json.loads(r.stdout)
        except BaseException:
            cls.env.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.env.stop()

    def test_every_onboarding_succeeded(self):
        self.assertEqual(self.failures, [])
        self.assertEqual(len(self.results), COUNT)
        for acct, info in self.results.items():
            self.assertEqual(info["account_id"], acct)
            self.assertEqual(info["state"], "pending")
            self.assertRegex(info["external_id"], UUID4)
            self.assertTrue(os.path.isfile(info["template_file"]))

    def test_external_ids_are_distinct_and_indexed(self):
        ids = [info["external_id"] for info in self.results.values()]
        self.assertEqual(len(set(ids)), COUNT)
        r = self.env.redis_client()
        pipe = r.pipeline()
        for acct, info in self.results.items():
            pipe.get("xacct:external-id:" + info["external_id"])
            pipe.hget("xacct:customer:" + acct, "external_id")
        out = pipe.execute()
        for (acct, info), owner, stored in zip(self.results.items(), out[0::2], out[1::2]):
            self.assertEqual(owner.decode(), acct)
            self.assertEqual(stored.decode(), info["external_id"])

    def test_topics_fill_in_order_and_spill_over(self):
        a, b, c, eu = self.env.topics
        r = self.env.redis_client()
        na, nb, nc = (r.scard("xacct:topic:" + t) for t in (a, b, c))
        self.assertEqual(na + nb + nc, COUNT)
        self.assertEqual(nc, 0)
        by_topic = {}
        for acct, info in self.results.items():
            by_topic.setdefault(info["topic_arn"], set()).add(acct)
            self.assertEqual(r.hget("xacct:customer:" + acct, "topic_arn").decode(), info["topic_arn"])
        self.assertEqual(by_topic.get(a, set()), {m.decode() for m in r.smembers("xacct:topic:" + a)})
        pa = json.dumps(self.env.topic_policy(a), separators=(",", ":"))
        self.assertLessEqual(len(pa.encode()), MAX_POLICY)
        if COUNT >= 1000:
            # The first topic is full: one more account ARN would not fit.
            self.assertGreater(nb, 0)
            self.assertGreater(len(pa.encode()) + len('"arn:aws:iam::123456789012:root",'), MAX_POLICY)
        self.assertEqual({acct for acct in self.eu}, {m.decode() for m in r.smembers("xacct:topic:" + eu)})
        for acct, info in self.eu.items():
            self.assertEqual(info["topic_arn"], eu)
            self.assertEqual(info["region"], "eu-west-1")
            # The pending record carries its region before any stack reports.
            self.assertEqual(r.hget("xacct:customer:" + acct, "region"), b"eu-west-1")

    def test_policies_keep_other_statements_and_hold_the_accounts(self):
        for arn in self.env.topics:
            doc = self.env.topic_policy(arn)
            sids = [st.get("Sid") for st in doc["Statement"]]
            self.assertEqual(sids[0], "__default_statement_ID")
            self.assertLessEqual(len(sids), 100)
            allowed = set()
            for st in doc["Statement"][1:]:
                self.assertRegex(st["Sid"], r"^xacct-publish-\d+$")
                self.assertEqual(st["Action"], "SNS:Publish")
                self.assertEqual(st["Resource"], arn)
                self.assertLessEqual(len(st["Principal"]["AWS"]), 200)
                allowed |= {p.split(":")[4] for p in st["Principal"]["AWS"]}
            expected = {a for a, i in list(self.results.items()) + list(self.eu.items())
                        if i["topic_arn"] == arn}
            self.assertEqual(allowed, expected)

    def test_every_account_may_publish_to_its_topic_only(self):
        a, b, c, eu = self.env.topics
        denied_elsewhere = 0
        for n, (acct, info) in enumerate(self.results.items()):
            keys = self.env.account_keys(acct)
            res = self.env.publish_as(keys, info["topic_arn"])
            self.assertEqual(res.status, 200, (acct, res.text()))
            if n % 50 == 0:
                other = b if info["topic_arn"] == a else a
                res = self.env.publish_as(keys, other)
                self.assertEqual(res.status, 403, (acct, res.text()))
                self.assertEqual(res.error_code(), "AuthorizationError")
                denied_elsewhere += 1
        self.assertGreater(denied_elsewhere, 0)
        for acct, info in self.eu.items():
            self.assertEqual(self.env.publish_as(self.env.account_keys(acct), eu).status, 200)
        stranger = self.env.account_keys("999999999999")
        for arn in self.env.topics:
            self.assertEqual(self.env.publish_as(stranger, arn).status, 403)

    def test_topics_command_reports_counts_and_room(self):
        r = self.env.xacct("topics", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = {row["topic_arn"]: row for row in json.loads(r.stdout)}
        red = self.env.redis_client()
        for arn in self.env.topics:
            row = rows[arn]
            self.assertEqual(row["region"], arn.split(":")[3])
            self.assertEqual(row["accounts"], red.scard("xacct:topic:" + arn))
            self.assertEqual(row["room"], row["capacity"] - row["accounts"])
            self.assertTrue(row["configured"])
        a, b, c, eu = self.env.topics
        self.assertEqual(rows[c]["accounts"], 0)
        self.assertGreater(rows[c]["room"], 800)
        if COUNT >= 1000:
            self.assertEqual(rows[a]["room"], 0)
        table = self.env.xacct("topics")
        self.assertEqual(table.returncode, 0, table.stderr)
        self.assertIn("ROOM", table.stdout.splitlines()[0])
        self.assertIn(c, table.stdout)


class FullRegionTest(unittest.TestCase):
    """Topics whose policies carry large statements of their own have room for
    a few accounts only: onboarding fills them in order, keeps the operator's
    statements, and fails clearly once the region is full."""

    def setUp(self):
        self.env = cli_env.CliEnv.start(topics=[("us-east-1", "small-a"), ("us-east-1", "small-b")])
        self.addCleanup(self.env.stop)
        for arn in self.env.topics:
            doc = self.env.topic_policy(arn)
            pad = {"Sid": "operator-pad", "Effect": "Deny", "Principal": {"AWS": "*"},
                   "Action": "SNS:Subscribe", "Resource": arn,
                   "Condition": {"StringEquals": {"aws:SourceVpce": []}}}
            doc["Statement"].append(pad)
            vpces = pad["Condition"]["StringEquals"]["aws:SourceVpce"]
            # Leave about 250 bytes: room for a handful of accounts.
            while len(json.dumps(doc, separators=(",", ":"))) < MAX_POLICY - 250:
                vpces.append("vpce-%017x" % len(vpces))
            body = urllib.parse.urlencode({
                "Action": "SetTopicAttributes", "Version": "2010-03-31", "TopicArn": arn,
                "AttributeName": "Policy", "AttributeValue": json.dumps(doc, separators=(",", ":"))})
            res = self.env.fa.call("sns", "POST", "/", body=body,
                                   headers={"Content-Type": "application/x-www-form-urlencoded"})
            self.assertEqual(res.status, 200, res.text())

    def test_spill_then_full(self):
        r = self.env.xacct("topics", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        room = {row["topic_arn"]: row["room"] for row in json.loads(r.stdout)}
        a, b = self.env.topics
        self.assertTrue(1 <= room[a] <= 5 and room[a] == room[b], room)
        total = room[a] + room[b]
        placed = []
        for i in range(total):
            res = self.env.xacct("onboard", account(i), "--json")
            self.assertEqual(res.returncode, 0, res.stderr)
            placed.append(json.loads(res.stdout)["topic_arn"])
        self.assertEqual(placed, [a] * room[a] + [b] * room[b])
        res = self.env.xacct("onboard", account(total))
        self.assertEqual(res.returncode, 1)
        self.assertEqual(len(res.stderr.splitlines()), 1, res.stderr)
        self.assertIn("every topic of region us-east-1 is full", res.stderr)
        # Nothing is half-done: no record, no ID indexed for it.
        r = self.env.redis_client()
        self.assertFalse(r.exists("xacct:customer:" + account(total)))
        self.assertNotIn(account(total).encode(),
                         [r.get(k) for k in r.scan_iter("xacct:external-id:*")])
        after = {row["topic_arn"]: row for row in json.loads(self.env.xacct("topics", "--json").stdout)}
        self.assertEqual((after[a]["room"], after[b]["room"]), (0, 0))
        for arn in self.env.topics:
            sids = [st.get("Sid") for st in self.env.topic_policy(arn)["Statement"]]
            self.assertEqual(sids, ["__default_statement_ID", "operator-pad", "xacct-publish-1"])
        for i in range(total):
            keys = self.env.account_keys(account(i))
            self.assertEqual(self.env.publish_as(keys, placed[i]).status, 200)


class TemplateTest(unittest.TestCase):
    BUCKET = "xacct-customer-templates"

    def setUp(self):
        self.env = cli_env.CliEnv.start(topics=[("us-east-1", "phone-home")], bucket=self.BUCKET)
        self.addCleanup(self.env.stop)

    def object_body(self, key):
        st, doc = self.env.fa.control("GET", "/_fake/s3/objects/%s/%s" % (self.BUCKET, key))
        return st, doc

    def test_uploaded_template_launch_url_and_trust_policy(self):
        acct = "123456789012"
        r = self.env.xacct("onboard", acct, "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        info = json.loads(r.stdout)
        for k in ("account_id", "external_id", "state", "topic_arn", "launch_url", "template_url"):
            self.assertIn(k, info)

        # The launch URL is the quick-create link for the uploaded template.
        u = urllib.parse.urlsplit(info["launch_url"])
        self.assertEqual((u.scheme, u.netloc, u.path),
                         ("https", "us-east-1.console.aws.amazon.com", "/cloudformation/home"))
        self.assertEqual(urllib.parse.parse_qs(u.query), {"region": ["us-east-1"]})
        route, _, q = u.fragment.partition("?")
        self.assertEqual(route, "/stacks/quickcreate")
        params = urllib.parse.parse_qs(q)
        self.assertEqual(params["stackName"], ["xacct-onboarding"])
        self.assertEqual(params["templateURL"], [info["template_url"]])
        key_path = urllib.parse.urlsplit(info["template_url"]).path
        self.assertTrue(key_path.startswith("/%s/templates/%s/" % (self.BUCKET, acct)))
        key = key_path[len(self.BUCKET) + 2:]
        self.assertRegex(key, r"^templates/%s/[0-9a-f]{64}\.json$" % acct)
        self.assertNotIn(info["external_id"], key)

        # The object is the template `xacct template` renders.
        st, body = self.object_body(key)
        self.assertEqual(st, 200)
        tpl = body if isinstance(body, dict) else json.loads(body)
        shown = self.env.xacct("template", acct)
        self.assertEqual(shown.returncode, 0, shown.stderr)
        self.assertEqual(json.loads(shown.stdout), tpl)

        self.assertEqual(tpl["AWSTemplateFormatVersion"], "2010-09-09")
        self.assertNotIn("Parameters", tpl)
        role = tpl["Resources"]["XacctRole"]
        phone = tpl["Resources"]["PhoneHome"]
        self.assertEqual(role["Type"], "AWS::IAM::Role")
        self.assertEqual(phone["Type"], "Custom::PhoneHome")
        self.assertEqual(phone["Properties"]["ServiceToken"], info["topic_arn"])
        self.assertEqual(phone["Properties"]["ExternalID"], info["external_id"])
        self.assertEqual(phone["Properties"]["AccountID"], {"Ref": "AWS::AccountId"})
        self.assertEqual(phone["Properties"]["RoleArn"], {"Fn::GetAtt": ["XacctRole", "Arn"]})
        with open(os.path.join(cli_env.SOURCE_DIR, "config", "role-policy.json")) as f:
            self.assertEqual(role["Properties"]["Policies"][0]["PolicyDocument"], json.load(f))

        # The emulator's IAM and STS: the role made from the template trusts
        # the partner only with the external ID.
        keys = self.env.account_keys(acct)
        trust = role["Properties"]["AssumeRolePolicyDocument"]
        res = self.env.iam_call(keys, {"Action": "CreateRole", "RoleName": "xacct-access",
                                       "AssumeRolePolicyDocument": json.dumps(trust)})
        self.assertEqual(res.status, 200, res.text())
        arn = "arn:aws:iam::%s:role/xacct-access" % acct
        denied = self.env.assume_role(arn)
        self.assertEqual(denied.status, 403)
        self.assertEqual(denied.error_code(), "AccessDenied")
        self.assertEqual(self.env.assume_role(arn, "not-" + info["external_id"]).status, 403)
        ok = self.env.assume_role(arn, info["external_id"])
        self.assertEqual(ok.status, 200, ok.text())
        # Another account cannot assume it even with the ID.
        other = self.env.account_keys("222222222222")
        self.assertEqual(self.env.assume_role(arn, info["external_id"], creds=other).status, 403)

    def test_cloudformation_simulator_accepts_the_template(self):
        acct = "123456789013"
        r = self.env.xacct("onboard", acct, "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        info = json.loads(r.stdout)
        # No xacctd answers here: the custom resource times out after the
        # template's ServiceTimeout (set short through the configuration) and
        # the stack rolls back, but only after the role was created and the
        # request was published to the partner topic as the customer's account.
        tpl = json.loads(self.env.xacct("template", acct, env=self.env.env(
            XACCT_CLOUDFORMATION_SERVICE_TIMEOUT="2")).stdout)
        self.assertEqual(tpl["Resources"]["PhoneHome"]["Properties"]["ServiceTimeout"], 2)
        st, doc = self.env.fa.control("POST", "/_fake/cfn/stacks", {
            "account_id": acct, "region": "us-east-1", "stack_name": "xacct-onboarding",
            "template": tpl})
        self.assertIn(st, (200, 201), doc)
        st, stack = self.env.fa.control("GET", "/_fake/cfn/stacks/xacct-onboarding?wait=30")
        self.assertEqual(st, 200, stack)
        topic = self.env.fa.control("GET", "/_fake/sns/topics/" + urllib.parse.quote(info["topic_arn"], safe=""))[1]
        self.assertEqual(topic["denied"], 0)
        self.assertGreaterEqual(topic["published"], 1)
        reqs = stack.get("requests") or []
        self.assertTrue(any(q["published"] and
                            q["request"]["ResourceProperties"].get("ExternalID") == info["external_id"]
                            for q in reqs), reqs)
        role_id = stack["physical_ids"].get("XacctRole")
        self.assertTrue(role_id, stack)

    def test_template_file_without_bucket(self):
        self.env.write_config(bucket=None)
        acct = "123456789014"
        r = self.env.xacct("onboard", acct)
        self.assertEqual(r.returncode, 0, r.stderr)
        path = os.path.join(self.env.template_dir, "xacct-%s.json" % acct)
        self.assertIn(path, r.stdout)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        with open(path) as f:
            tpl = json.load(f)
        shown = json.loads(self.env.xacct("template", acct).stdout)
        self.assertEqual(tpl, shown)
        ext = self.env.redis_client().hget("xacct:customer:" + acct, "external_id").decode()
        cond = tpl["Resources"]["XacctRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]
        self.assertEqual(cond, {"StringEquals": {"sts:ExternalId": ext}})

    def test_json_without_bucket_still_names_launch_url(self):
        # SPEC §6: onboard --json prints at least account_id, external_id,
        # state and launch_url; with no bucket there is no link: null.
        self.env.write_config(bucket=None)
        acct = "123456789015"
        r = self.env.xacct("onboard", acct, "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        info = json.loads(r.stdout)
        for k in ("account_id", "external_id", "state", "launch_url", "template_url"):
            self.assertIn(k, info)
        self.assertIsNone(info["launch_url"])
        self.assertIsNone(info["template_url"])
        self.assertTrue(os.path.isfile(info["template_file"]))
        self.assertEqual((info["account_id"], info["state"]), (acct, "pending"))


class RepeatAndRegionTest(unittest.TestCase):
    """SPEC §7 (the route runs `xacct onboard`'s code): repeating the
    onboarding of a pending customer returns the same record; a region no
    partner topic serves is refused before anything is stored."""

    BUCKET = "xacct-customer-templates"

    def setUp(self):
        self.env = cli_env.CliEnv.start(topics=[("us-east-1", "phone-home")], bucket=self.BUCKET)
        self.addCleanup(self.env.stop)

    def test_repeat_for_pending_returns_the_same_record(self):
        acct = "123456789020"
        first = self.env.xacct("onboard", acct, "--json")
        self.assertEqual(first.returncode, 0, first.stderr)
        a = json.loads(first.stdout)
        second = self.env.xacct("onboard", acct, "--json")
        self.assertEqual(second.returncode, 0, second.stderr)
        b = json.loads(second.stdout)
        for k in ("account_id", "external_id", "state", "region", "topic_arn"):
            self.assertEqual(a[k], b[k], k)
        self.assertEqual(b["state"], "pending")
        self.assertTrue(b["launch_url"])
        # The same template object, a link to it signed again.
        self.assertEqual(urllib.parse.urlsplit(a["template_url"]).path,
                         urllib.parse.urlsplit(b["template_url"]).path)
        r = self.env.redis_client()
        self.assertEqual(r.get("xacct:external-id:" + a["external_id"]), acct.encode())
        self.assertEqual(r.hget("xacct:customer:" + acct, "external_id").decode(), a["external_id"])
        self.assertEqual(r.scard("xacct:topic:" + a["topic_arn"]), 1)
        # One onboarding event, not two.
        self.assertEqual(r.xlen("xacct:events:" + acct), 1)

    def test_an_onboarding_aws_failed_leaves_nothing_and_the_repeat_does_it(self):
        """SNS failing the allow-list update, then S3 failing the template's
        upload, each fail the onboarding (exit 1, saying what failed) and
        leave nothing behind (SPEC §7): no record, no external ID indexed, no
        event, the account in no topic set; repeating `xacct onboard` once
        AWS answers onboards it as new."""
        acct = "123456789022"
        r = self.env.redis_client()
        outbox = r.xlen("xacct:outbox")
        for service, what in (("sns", "GetTopicAttributes"), ("s3", "uploading the template to s3://")):
            self.env.fa.control("POST", "/_fake/faults", {"service": service, "error_rate": 1.0})
            try:
                failed = self.env.xacct("onboard", acct, "--json")
            finally:
                self.env.fa.control("DELETE", "/_fake/faults?service=" + service)
            self.assertEqual(failed.returncode, 1, failed.stdout)
            self.assertIn(what, failed.stderr)
            self.assertNotIn("again to finish", failed.stderr)
            self.assertFalse(r.exists("xacct:customer:" + acct), service)
            self.assertFalse(r.exists("xacct:events:" + acct), service)
            self.assertNotIn(acct.encode(), [r.get(k) for k in r.scan_iter("xacct:external-id:*")])
            for k in r.scan_iter("xacct:topic:*"):
                self.assertFalse(r.sismember(k, acct), (service, k))
            self.assertEqual(r.xlen("xacct:outbox"), outbox, service)
        again = self.env.xacct("onboard", acct, "--json")
        self.assertEqual(again.returncode, 0, again.stderr)
        info = json.loads(again.stdout)
        self.assertEqual(info["state"], "pending")
        key = urllib.parse.urlsplit(info["template_url"]).path[len(self.BUCKET) + 2:]
        st, _ = self.env.fa.control("GET", "/_fake/s3/objects/%s/%s" % (self.BUCKET, key))
        self.assertEqual(st, 200)
        res = self.env.publish_as(self.env.account_keys(acct), info["topic_arn"])
        self.assertEqual(res.status, 200, res.text())
        self.assertEqual(r.xlen("xacct:events:" + acct), 1)
        self.assertEqual(r.get("xacct:external-id:" + info["external_id"]).decode(), acct)
        self.assertEqual(r.pttl("xacct:external-id:" + info["external_id"]), -1)  # kept for good
        self.assertEqual(r.xlen("xacct:outbox"), outbox + 1)

    def test_region_without_a_topic_stores_nothing(self):
        acct = "123456789021"
        res = self.env.xacct("onboard", acct, "--region", "eu-west-1", "--json")
        self.assertEqual(res.returncode, 2, res.stderr)
        self.assertIn("eu-west-1", res.stderr)
        self.assertEqual(len(res.stderr.splitlines()), 1, res.stderr)
        r = self.env.redis_client()
        self.assertFalse(r.exists("xacct:customer:" + acct))
        self.assertEqual(r.keys("xacct:external-id:*"), [])
        # The home region without a topic: the same, as a configuration fault.
        res = self.env.xacct("onboard", acct, env=self.env.env(XACCT_AWS_REGION="eu-west-1"))
        self.assertEqual(res.returncode, 1, res.stderr)
        self.assertIn("eu-west-1", res.stderr)
        self.assertFalse(r.exists("xacct:customer:" + acct))


class RepeatOtherRegionTest(unittest.TestCase):
    """`xacct onboard` runs POST /v1/customers' code: a repeat for a pending
    customer that names another region than its onboarding has is refused
    (exit 1, the region it has named), nothing changed; the same region or
    none hands out the same record."""

    def setUp(self):
        self.env = cli_env.CliEnv.start(topics=[("us-east-1", "phone-home"),
                                                ("eu-west-1", "phone-home-eu")])
        self.addCleanup(self.env.stop)

    def test_repeat_naming_another_region_is_refused(self):
        acct = "123456789030"
        first = self.env.xacct("onboard", acct, "--region", "us-east-1", "--json")
        self.assertEqual(first.returncode, 0, first.stderr)
        a = json.loads(first.stdout)
        r = self.env.redis_client()
        before = (r.hgetall("xacct:customer:" + acct), r.xlen("xacct:events:" + acct),
                  r.xlen("xacct:outbox"))
        res = self.env.xacct("onboard", acct, "--region", "eu-west-1", "--json")
        self.assertEqual(res.returncode, 1, res.stderr)
        self.assertIn("us-east-1", res.stderr)
        self.assertIn("pending", res.stderr)
        self.assertEqual(res.stdout, "")
        self.assertEqual((r.hgetall("xacct:customer:" + acct), r.xlen("xacct:events:" + acct),
                          r.xlen("xacct:outbox")), before)
        self.assertEqual(r.keys("xacct:topic:*eu-west-1*"), [])
        for args in (("--region", "us-east-1"), ()):
            res = self.env.xacct("onboard", acct, *args, "--json")
            self.assertEqual(res.returncode, 0, res.stderr)
            b = json.loads(res.stdout)
            self.assertEqual((b["external_id"], b["region"]), (a["external_id"], "us-east-1"))

    def test_degraded_is_refused_with_what_to_do(self):
        acct = "123456789031"
        self.assertEqual(self.env.xacct("onboard", acct).returncode, 0)
        r = self.env.redis_client()
        r.hset("xacct:customer:" + acct, "state", "degraded")
        res = self.env.xacct("onboard", acct)
        self.assertEqual(res.returncode, 1, res.stderr)
        self.assertIn("degraded", res.stderr)
        self.assertNotIn("offboarding", res.stderr)

    def test_unknown_state_is_not_reopened(self):
        # SPEC §5: only offboarded, expired, cancelled and rejected records
        # go back to pending; a state the SPEC does not name is left alone.
        acct = "123456789032"
        self.assertEqual(self.env.xacct("onboard", acct).returncode, 0)
        r = self.env.redis_client()
        key = "xacct:customer:" + acct
        r.hset(key, "state", "retired")
        before = r.hget(key, "external_id")
        res = self.env.xacct("onboard", acct, "--json")
        self.assertEqual(res.returncode, 1, res.stderr)
        self.assertEqual(res.stdout, "")
        self.assertIn("retired", res.stderr)
        self.assertNotIn("wait until offboarding", res.stderr)
        self.assertEqual(r.hget(key, "state"), b"retired")
        self.assertEqual(r.hget(key, "external_id"), before)


if __name__ == "__main__":
    unittest.main()
