"""Rotation without downtime (SPEC §9.3) end to end: a real xacctd with the
portal API on, a real redis-server, and the emulator's IAM, STS, S3 and
CloudFormation. A connected customer's external ID is rotated; at every step
(after the rotation, after rotating again, after an Update still carrying the
old ID, after an Update with the new ID whose role does not trust it, after
the Update that switches) the partner assumes the customer's role with the ID
xacct considers current, and it works: access is never cut. The swap happens
once, atomically, with its one lifecycle event and the old ID unindexed. The
API's rotate route answers 200 with the pending ID and the update-stack link,
and 409 in a state that allows no rotation. A stack update that fails after
the switch rolls PhoneHome back with the old ID: that Update is refused, and
the retired ID never comes back.

CloudFormation changes the role's trust policy before it sends the Update, so
for a while only the pending ID works (WindowTest): `xacct check`, `xacct
console`, `xacct credentials` and re-verification then use the pending ID,
the customer stays active and verified, and the Update that follows swaps
the IDs as before."""
import copy
import hashlib
import http.client
import json
import os
import unittest
import urllib.parse

import msgpack_check
from harness import Env, free_port, wait_for

BUCKET = "xacct-templates"
TOKEN = "portal-token-" + "r" * 40


class Helpers:
    """What both test classes share; self.env is the class's Env."""

    def xacct_json(self, *args):
        r = self.env.xacct(*args, "--json")
        self.assertEqual(r.returncode, 0, (args, r.stderr))
        return r, json.loads(r.stdout)

    def current_id(self, acct):
        """The external ID xacct considers current (what its checks use)."""
        return self.env.customer(acct)["external_id"]

    def assume(self, role_arn, external_id):
        """AssumeRole as the partner (its own keys), with external_id."""
        body = urllib.parse.urlencode({
            "Action": "AssumeRole", "Version": "2011-06-15", "RoleArn": role_arn,
            "RoleSessionName": "partner", "ExternalId": external_id})
        return self.env.fa.call("sts", "POST", "/", body=body,
                                headers={"Content-Type": "application/x-www-form-urlencoded"}).status

    def assert_access(self, acct, role_arn, step):
        """The partner's access with the ID xacct considers current works."""
        self.assertEqual(self.assume(role_arn, self.current_id(acct)), 200, step)

    def s3_key(self, url):
        return urllib.parse.urlsplit(url).path[len(BUCKET) + 2:]

    def s3_template(self, url):
        st, doc = self.env.fa.control("GET", f"/_fake/s3/objects/{BUCKET}/{self.s3_key(url)}")
        return st, doc

    @staticmethod
    def trusted_id(template):
        stmt = template["Resources"]["XacctRole"]["Properties"]["AssumeRolePolicyDocument"][
            "Statement"][0]
        return stmt["Condition"]["StringEquals"]["sts:ExternalId"]

    def outbox(self, acct):
        out = []
        for _, f in self.env.r.xrange(f"{self.env.PREFIX}outbox"):
            ev = json.loads(f[b"event"])
            if ev["account_id"] == acct:
                out.append(ev)
        return out

    def index(self, ext):
        v = self.env.r.get(f"{self.env.PREFIX}external-id:{ext}")
        return v.decode() if v is not None else None

    def connect(self, acct):
        """Onboarded with the CLI, its stack launched from the uploaded
        template, active."""
        env = self.env
        _, info = self.xacct_json("onboard", acct)
        st, template = self.s3_template(info["template_url"])
        self.assertEqual(st, 200)
        s = env.wait_stack(env.create_stack(acct, template)["stack_id"])
        self.assertEqual(s["status"], "CREATE_COMPLETE", s.get("status_reason"))
        c = env.customer(acct)
        self.assertEqual(c["state"], "active")
        return s["stack_id"], c["role_arn"], info["external_id"]

    def connect_and_rotate(self, acct):
        """connect(), then a rotation pending: also the new ID, the CLI's
        answer and the rotation's template."""
        stack_id, role, old = self.connect(acct)
        _, out = self.xacct_json("rotate-external-id", acct)
        new = self.env.customer(acct)["pending_external_id"]
        st, tpl = self.s3_template(out["template_url"])
        self.assertEqual(st, 200)
        return stack_id, role, old, new, out, tpl

    def update(self, stack_id, template, want):
        env = self.env
        env.update_stack(stack_id, template)
        s = env.wait_stack(stack_id)
        self.assertEqual(s["status"], want, s.get("status_reason"))
        return s


class RotationTest(Helpers, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = env = Env(propagation_timeout=5).start()
        env.ctl("POST", "/_fake/s3/buckets", {"name": BUCKET})
        tokens = os.path.join(env.tmp, "api-tokens")
        with open(tokens, "w") as f:
            f.write(f"portal:{hashlib.sha256(TOKEN.encode()).hexdigest()}\n")
        cls.port = free_port()
        env.write_config(cloudformation__template_bucket=BUCKET,
                         api__listen=f"127.0.0.1:{cls.port}", api__tokens_file=tokens)
        cls.worker = env.start_worker()
        wait_for(cls._reachable, 20, "the API to listen")

    @classmethod
    def tearDownClass(cls):
        cls.env.stop_after(cls.worker)

    @classmethod
    def _reachable(cls):
        try:
            cls.api("GET", "/v1/openapi.json")
            return True
        except OSError:
            return False

    @classmethod
    def api(cls, method, path):
        c = http.client.HTTPConnection("127.0.0.1", cls.port, timeout=60)
        c.request(method, path, headers={"Authorization": f"Bearer {TOKEN}"})
        r = c.getresponse()
        doc = json.loads(r.read() or b"null")
        c.close()
        return r.status, doc

    # ---- tests ------------------------------------------------------------
    def test_a_rejected_customer_rotated_through_the_api_gets_a_launch_link(self):
        # SPEC §7: the route runs the CLI's core: a rejected customer, whose
        # stack was rolled back, is handed the new ID's quick-create link.
        env, acct = self.env, "510000000011"
        r, out = self.xacct_json("onboard", acct)
        bad = env.create_stack(acct, env.template(acct, out["external_id"], insecure=True),
                               name="first-try")
        env.wait_stack(bad["stack_id"])
        self.assertEqual(env.customer(acct)["state"], "rejected")
        st, doc = self.api("POST", f"/v1/customers/{acct}/rotate-external-id")
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc["state"], "rejected")
        self.assertNotEqual(doc["external_id"], out["external_id"])
        self.assertIsNotNone(doc["launch_url"], doc)
        st, tpl = self.s3_template(doc["template_url"])
        self.assertEqual(st, 200)
        self.assertEqual(self.trusted_id(tpl), doc["external_id"])
        status, stack = env.create_stack_from_link(acct, doc["launch_url"])
        self.assertEqual(status, 201, stack)
        stack = env.wait_stack(stack["stack_id"], timeout=120)
        self.assertEqual(stack["status"], "CREATE_COMPLETE", stack["status_reason"])
        self.assertEqual(env.customer(acct)["state"], "active")

    def test_access_uninterrupted_throughout_a_rotation(self):
        env, acct = self.env, "510000000001"
        stack_id, role, old = self.connect(acct)
        self.assert_access(acct, role, "connected")
        self.assertEqual(self.current_id(acct), old)

        # Rotate: the new ID is pending; the current one stays in use.
        r, out = self.xacct_json("rotate-external-id", acct)
        c = env.customer(acct)
        first = c["pending_external_id"]
        self.assertNotEqual(first, old)
        self.assertEqual(c["external_id"], old)
        self.assertEqual(c["state"], "active")
        self.assertEqual(out["pending_external_id"], "set")
        self.assertEqual(out["state"], "active")
        self.assertNotIn(first, (r.stdout + r.stderr).decode())
        self.assertNotIn(old, (r.stdout + r.stderr).decode())
        self.assertEqual(self.index(first), acct)
        self.assertEqual(self.index(old), acct)
        # The update-stack link of the customer's stack with the new template.
        link = urllib.parse.urlsplit(out["update_url"])
        self.assertEqual((link.scheme, link.netloc, link.path),
                         ("https", env.regions[0] + ".console.aws.amazon.com",
                          "/cloudformation/home"))
        self.assertEqual(urllib.parse.parse_qs(link.query), {"region": [env.regions[0]]})
        route, _, query = link.fragment.partition("?")
        self.assertEqual(route, "/stacks/update/template")
        q = urllib.parse.parse_qs(query)
        self.assertEqual(q, {"stackId": [stack_id], "templateURL": [out["template_url"]]})
        st, tpl_first = self.s3_template(out["template_url"])
        self.assertEqual(st, 200)
        self.assertEqual(self.trusted_id(tpl_first), first)  # only the new ID
        self.assertNotIn(old, json.dumps(tpl_first))
        self.assertEqual(self.assume(role, first), 403)  # not in use yet
        self.assert_access(acct, role, "after the rotation")
        self.assertEqual(json.loads(env.xacct("show", acct, "--json", check=True).stdout)
                         ["pending_external_id"], "set")
        self.assertEqual([e for e in self.outbox(acct)
                          if e["type"] == "customer.external_id_rotated"], [])

        # Rotating again replaces the pending ID, unindexes the previous one
        # and removes its template (the text handout this time).
        text = env.xacct("rotate-external-id", acct)
        self.assertEqual(text.returncode, 0, text.stderr)
        self.assertIn("update URL:   https://%s.console.aws.amazon.com/" % env.regions[0],
                      text.stdout.decode())
        self.assertIn("Access continues", text.stdout.decode())
        c = env.customer(acct)
        second = c["pending_external_id"]
        self.assertNotIn(second, (first, old))
        self.assertNotIn(second, (text.stdout + text.stderr).decode())
        self.assertEqual(c["external_id"], old)
        self.assertIsNone(self.index(first))
        self.assertEqual(self.index(second), acct)
        self.assertEqual(self.s3_template(out["template_url"])[0], 404)
        self.assert_access(acct, role, "after rotating twice")
        _, out = self.xacct_json("rotate-external-id", acct)
        new = env.customer(acct)["pending_external_id"]
        self.assertIsNone(self.index(second))
        st, tpl_new = self.s3_template(out["template_url"])
        self.assertEqual(st, 200)
        self.assertEqual(self.trusted_id(tpl_new), new)
        # `xacct template` hands out the pending ID's template; --current the other.
        self.assertEqual(self.trusted_id(json.loads(env.xacct("template", acct, check=True).stdout)),
                         new)
        self.assertEqual(self.trusted_id(json.loads(
            env.xacct("template", acct, "--current", check=True).stdout)), old)
        self.assert_access(acct, role, "after rotating three times")

        # An Update still carrying the old ID: handled as before.
        tpl_old = json.loads(env.xacct("template", acct, "--current", check=True).stdout)
        tpl_old["Resources"]["PhoneHome"]["Properties"]["Note"] = "an unrelated change"
        s = self.update(stack_id, tpl_old, "UPDATE_COMPLETE")
        self.assertEqual(env.last_answer(s)["Status"], "SUCCESS")
        c = env.customer(acct)
        self.assertEqual((c["external_id"], c["pending_external_id"]), (old, new))
        self.assert_access(acct, role, "after an Update with the old ID")

        # An Update with the new ID whose role still trusts only the old one:
        # refused (the stack rolls back), the old ID stays current.
        broken = copy.deepcopy(tpl_new)
        broken["Resources"]["XacctRole"]["Properties"]["AssumeRolePolicyDocument"] = \
            tpl_old["Resources"]["XacctRole"]["Properties"]["AssumeRolePolicyDocument"]
        s = self.update(stack_id, broken, "UPDATE_ROLLBACK_COMPLETE")
        failed = [json.loads(a["body"]) for a in s["answers"]
                  if json.loads(a["body"])["Status"] == "FAILED"]
        self.assertEqual(len(failed), 1, s["answers"])
        self.assertIn("current ID stays in use", failed[0]["Reason"])
        self.assertNotIn(new, failed[0]["Reason"])
        c = env.customer(acct)
        self.assertEqual((c["external_id"], c["pending_external_id"]), (old, new))
        self.assertEqual(c["state"], "active")
        self.assertEqual(self.index(old), acct)
        self.assert_access(acct, role, "after a refused Update with the new ID")

        # The customer follows the update link: the stack gets the new
        # template (read through the link's presigned templateURL, as the
        # customer's account), the Update carries the new ID and passes,
        # xacct switches.
        status, doc = env.update_stack_from_link(out["update_url"])
        self.assertEqual(status, 200, doc)
        s = env.wait_stack(stack_id)
        self.assertEqual(s["status"], "UPDATE_COMPLETE", s.get("status_reason"))
        self.assertEqual(env.last_answer(s)["Status"], "SUCCESS")
        c = env.customer(acct)
        self.assertEqual(c["external_id"], new)
        self.assertNotIn("pending_external_id", c)
        self.assertEqual(c["state"], "active")
        self.assertIsNone(self.index(old))
        self.assertEqual(self.index(new), acct)
        self.assert_access(acct, role, "after the Update with the new ID")
        self.assertEqual(self.assume(role, old), 403)  # the role trusts only the new ID
        rotated = [e for e in self.outbox(acct) if e["type"] == "customer.external_id_rotated"]
        self.assertEqual(len(rotated), 1)
        self.assertEqual(rotated[0]["state"], "active")
        for e in self.outbox(acct):
            for ext in (old, first, second, new):
                self.assertNotIn(ext, json.dumps(e))
        # Its template has served its purpose.
        wait_for(lambda: self.s3_template(out["template_url"])[0] == 404, 30,
                 "the rotation's template to be deleted")
        # xacct's own check agrees with the new ID.
        _, check = self.xacct_json("check", acct)
        self.assertEqual(check["result"], "secure")
        for ext in (old, first, second, new):
            self.assertNotIn(ext.encode(), env.worker_log(self.worker))

    def test_a_retired_id_never_comes_back(self):
        """A stack update that fails after PhoneHome switched the IDs: the
        rollback's Update carries the old ID (OldResourceProperties the new
        one) and is refused like any Update with a wrong ID; the new ID stays
        in use and the old one stays unindexed."""
        env, acct = self.env, "510000000004"
        stack_id, _, old, new, _, tpl = self.connect_and_rotate(acct)
        # A resource the customer added, created after PhoneHome, that fails.
        tpl["Resources"]["Extra"] = {
            "Type": "AWS::SQS::QueuePolicy", "DependsOn": "PhoneHome",
            "Properties": {
                "Queues": [f"https://sqs.{env.regions[0]}.amazonaws.com/{acct}/no-such-queue"],
                "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{acct}:root"},
                    "Action": "sqs:SendMessage", "Resource": "*"}]}}}
        s = self.update(stack_id, tpl, "UPDATE_ROLLBACK_FAILED")
        bodies = [json.loads(a["body"]) for a in s["answers"]]
        self.assertEqual([b["Status"] for b in bodies[-2:]], ["SUCCESS", "FAILED"], bodies)
        self.assertNotIn(old, bodies[-1]["Reason"])
        self.assertNotIn(new, bodies[-1]["Reason"])
        c = env.customer(acct)
        self.assertEqual(c["external_id"], new)
        self.assertNotIn("pending_external_id", c)
        self.assertIsNone(self.index(old))
        self.assertEqual(self.index(new), acct)
        rotated = [e for e in self.outbox(acct) if e["type"] == "customer.external_id_rotated"]
        self.assertEqual(len(rotated), 1)

    def test_deleting_the_stack_removes_a_pending_rotations_template(self):
        """A rotation never applied when the stack goes away: the Delete
        that offboards also removes the rotation's template, and the one
        the current ID's Update was handed (`xacct outdated` uploads one
        for an Update that may never come), so none outlives the stack."""
        env, acct = self.env, "510000000007"
        stack_id, _, old, new, out, _ = self.connect_and_rotate(acct)
        # A template for the current ID, as `xacct outdated` uploads one for
        # an Update that never comes.
        digest = hashlib.sha256(b"xacct-template-key\n" + old.encode()).hexdigest()
        current_key = f"templates/{acct}/{digest}.json"
        self.assertNotEqual(current_key, self.s3_key(out["template_url"]))
        r = env.fa.call("s3", "PUT", f"/{BUCKET}/{current_key}", body=b"{}",
                        headers={"Content-Type": "application/json"})
        self.assertEqual(r.status, 200)
        self.assertEqual(env.fa.control("GET", f"/_fake/s3/objects/{BUCKET}/{current_key}")[0], 200)
        env.delete_stack(stack_id)
        s = env.wait_stack(stack_id)
        self.assertEqual(s["status"], "DELETE_COMPLETE", s.get("status_reason"))
        wait_for(lambda: env.customer(acct)["state"] == "offboarding", 30, "offboarding")
        wait_for(lambda: self.s3_template(out["template_url"])[0] == 404, 30,
                 "the pending rotation's template to be deleted")
        wait_for(lambda: env.fa.control("GET", f"/_fake/s3/objects/{BUCKET}/{current_key}")[0]
                 == 404, 30, "the current ID's template to be deleted")

    def test_api_rotate_200_and_409(self):
        env, acct = self.env, "510000000002"
        stack_id, role, old = self.connect(acct)
        st, doc = self.api("POST", f"/v1/customers/{acct}/rotate-external-id")
        self.assertEqual(st, 200, doc)
        c = env.customer(acct)
        self.assertEqual(doc["external_id"], old)
        self.assertEqual(doc["pending_external_id"], c["pending_external_id"])
        self.assertNotEqual(doc["pending_external_id"], old)
        self.assertEqual(doc["state"], "active")
        self.assertIsNone(doc["launch_url"])
        frag = urllib.parse.urlsplit(doc["update_url"]).fragment
        q = urllib.parse.parse_qs(frag.partition("?")[2])
        self.assertEqual(q["stackId"], [stack_id])
        self.assertEqual(q["templateURL"], [doc["template_url"]])
        st, tpl = self.s3_template(doc["template_url"])
        self.assertEqual(st, 200)
        self.assertEqual(self.trusted_id(tpl), doc["pending_external_id"])
        # Every read gives the link again, its templateURL presigned afresh.
        st, again = self.api("GET", f"/v1/customers/{acct}")
        self.assertEqual(st, 200, again)
        self.assertEqual(self.s3_key(again["template_url"]), self.s3_key(doc["template_url"]))
        self.assertIn("X-Amz-Signature=", again["template_url"])
        self.assertEqual(env.template_url_of(again["update_url"]), again["template_url"])
        self.assert_access(acct, role, "after the API rotation")
        # The customer's CloudFormation reads the new template through it.
        status, upd = env.update_stack_from_link(again["update_url"])
        self.assertEqual(status, 200, upd)
        self.assertEqual(env.wait_stack(stack_id)["status"], "UPDATE_COMPLETE")
        wait_for(lambda: env.customer(acct)["external_id"] == doc["pending_external_id"], 30,
                 "the rotation to complete")

        # A state that allows no rotation: 409 (CLI: exit 1), nothing changes.
        env.r.hset(f"{env.PREFIX}customer:{acct}", "state", "offboarding")
        before = env.customer(acct)
        st, doc = self.api("POST", f"/v1/customers/{acct}/rotate-external-id")
        self.assertEqual(st, 409, doc)
        self.assertIn("offboarding", doc["detail"])
        r = env.xacct("rotate-external-id", acct)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("is offboarding", r.stderr.decode())
        self.assertEqual(env.customer(acct), before)


INTERVAL = 3  # WindowTest's check.reverify_interval, seconds
SLACK = 30    # a loaded machine's slack on top of the intervals waited for


class WindowTest(Helpers, unittest.TestCase):
    """CloudFormation changes the role's trust policy before it sends the
    Update: until the Update arrives (seconds, or as long as the message waits
    in the queue) the role trusts only the pending ID. The partner's access
    must not stop meanwhile, and nothing but the Update swaps the IDs."""

    @classmethod
    def setUpClass(cls):
        cls.env = env = Env(propagation_timeout=5).start()
        env.ctl("POST", "/_fake/s3/buckets", {"name": BUCKET})
        env.write_config(cloudformation__template_bucket=BUCKET,
                         check__reverify_interval=str(INTERVAL), check__reverify_rate="50")
        cls.worker = env.start_worker()

    @classmethod
    def tearDownClass(cls):
        cls.env.stop_after(cls.worker)

    def audit(self, acct):
        return [msgpack_check.decode_map(f[b"e"])
                for _, f in self.env.r.xrange(f"{self.env.PREFIX}events:{acct}")]

    def ids_tried(self, role):
        """AssumeRole calls on role per external ID since the last reset."""
        roles = self.env.ctl("GET", "/_fake/sts/assume-role-counts?role_arn="
                             + urllib.parse.quote(role, safe=""))["roles"]
        return roles.get(role, {}).get("external_ids", {})

    def test_access_while_the_role_trusts_only_the_pending_id(self):
        env, acct = self.env, "510000000003"
        stack_id, role, old, new, out, tpl_new = self.connect_and_rotate(acct)
        outputs = []

        # While the role trusts the current ID, the pending one is never tried.
        env.ctl("DELETE", "/_fake/sts/assume-role-counts")
        r, check = self.xacct_json("check", acct)
        outputs.append(r)
        self.assertEqual((check["result"], check["external_id_used"]), ("secure", "current"))
        r = env.xacct("console", acct)
        outputs.append(r)
        self.assertEqual(r.returncode, 0, r.stderr)
        tried = self.ids_tried(role)
        self.assertGreaterEqual(tried.get(old, 0), 2, tried)
        self.assertNotIn(new, tried)

        # The window: the stack update has moved the role to the pending ID
        # (CloudFormation's first step) and its Update has not been sent.
        before = env.customer(acct)
        self.assertEqual(before["state"], "active")
        doc = tpl_new["Resources"]["XacctRole"]["Properties"]["AssumeRolePolicyDocument"]
        env.ctl("PUT", f"/_fake/iam/roles/{acct}/{role.rsplit('/', 1)[1]}/trust-policy",
                {"trust_policy": doc})
        wait_for(lambda: self.assume(role, old) == 403 and self.assume(role, new) == 200, 30,
                 "the role to trust only the pending ID")

        # xacct check: secure, with the pending ID.
        r, check = self.xacct_json("check", acct)
        outputs.append(r)
        self.assertEqual((check["result"], check["secure"], check["external_id_used"]),
                         ("secure", True, "pending"), check)
        self.assertIn("pending", check["detail"])
        # xacct console: a sign-in URL, from a session the role let in.
        r = env.xacct("console", acct)
        outputs.append(r)
        self.assertEqual(r.returncode, 0, r.stderr)
        url = r.stdout.decode().strip()
        self.assertTrue(url.startswith(f"{env.fa.https_url}/federation?"), url)
        self.assertIn("Action=login", url)
        # xacct credentials: keys for the operator, from the same fallback.
        r = env.xacct("credentials", acct, "--operator", "alice", "--reason", "in the window")
        outputs.append(r)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["Version"], 1)
        self.assertTrue(json.loads(r.stdout)["AccessKeyId"])
        self.assertNotIn(b"SourceIdentity", r.stderr)  # the new template allows it

        # Re-verification (twice): secure with the pending ID, so the
        # customer stays active, verified_at moves on, nothing else changes.
        def passes():
            return [e for e in self.audit(acct) if e["type"] == "reverified"]
        wait_for(lambda: len(passes()) >= 2, 3 * INTERVAL + SLACK,
                 "two re-verifications with the pending ID")
        self.assertEqual(passes()[0]["outcome"], "success")
        self.assertIn("pending external ID", passes()[0]["reason"])
        c = env.customer(acct)
        self.assertEqual(c["state"], "active")
        self.assertEqual(c["last_error"], "")
        self.assertGreater(c["verified_at"], before["verified_at"])
        self.assertEqual((c["external_id"], c["pending_external_id"]), (old, new))
        self.assertEqual(self.index(old), acct)
        self.assertEqual([e["type"] for e in self.outbox(acct)
                          if e["type"] in ("customer.degraded", "customer.external_id_rotated")],
                         [])
        self.assertNotIn("degraded", [e["type"] for e in self.audit(acct)])
        self.assertIn(b"reverify.pending_trusted", env.worker_log(self.worker))

        # The Update arrives: it carries the pending ID, passes, and swaps.
        s = self.update(stack_id, tpl_new, "UPDATE_COMPLETE")
        self.assertEqual(env.last_answer(s)["Status"], "SUCCESS")
        c = env.customer(acct)
        self.assertEqual(c["external_id"], new)
        self.assertNotIn("pending_external_id", c)
        self.assertEqual(c["state"], "active")
        self.assertIsNone(self.index(old))
        self.assertEqual(self.index(new), acct)
        rotated = [e for e in self.outbox(acct) if e["type"] == "customer.external_id_rotated"]
        self.assertEqual(len(rotated), 1)
        r, check = self.xacct_json("check", acct)
        outputs.append(r)
        self.assertEqual((check["result"], check["external_id_used"]), ("secure", "current"))

        # Neither ID in any output, log or audit event.
        for ext in (old, new):
            self.assertNotIn(ext.encode(), env.worker_log(self.worker))
            for r in outputs:
                self.assertNotIn(ext.encode(), r.stdout + r.stderr)
            for e in self.audit(acct):
                self.assertNotIn(ext, json.dumps(e, default=str))


class PendingReissueRaceTest(Helpers, unittest.TestCase):
    """A pending customer's ID is replaced at once by rotate-external-id. When
    that happens while a worker checks a Create carrying the old ID, the check
    proved the old ID only: the customer must not become active with the new
    one, which its role does not trust. The Create is decided again from the
    fresh record (FAILED: not the issued ID) and the customer stays pending
    with the new ID."""

    @classmethod
    def setUpClass(cls):
        cls.env = Env(propagation_timeout=30).start()
        cls.worker = cls.env.start_worker()

    @classmethod
    def tearDownClass(cls):
        cls.env.stop_after(cls.worker)

    def test_create_checked_with_a_replaced_id_does_not_connect(self):
        env, acct = self.env, "510000000009"
        old = env.onboard(acct)
        role = f"arn:aws:iam::{acct}:role/XacctAccess"
        env.ctl("POST", "/_fake/iam/config", {"propagation_seconds": 6})
        try:
            s = env.create_stack(acct, env.template(acct, old))
            # The worker's probe (a) is being denied while the role propagates.
            wait_for(lambda: any(c.get("role_arn") == role for c in
                                 env.ctl("GET", "/_fake/sts/assume-role-calls")["calls"]),
                     30, "the check to start")
            self.xacct_json("rotate-external-id", acct)
            new = self.current_id(acct)
            self.assertNotEqual(new, old)
            s = env.wait_stack(s["stack_id"], timeout=120)
        finally:
            env.ctl("POST", "/_fake/iam/config", {"propagation_seconds": 0})
        answer = json.loads(s["answers"][0]["body"])
        self.assertEqual(answer["Status"], "FAILED", answer)
        c = env.customer(acct)
        self.assertEqual(c["state"], "pending")
        self.assertEqual(c["external_id"], new)
        self.assertEqual(self.index(new), acct)
        self.assertIsNone(self.index(old))
        self.assertNotIn("customer.connected", [e["type"] for e in self.outbox(acct)])


if __name__ == "__main__":
    unittest.main()
