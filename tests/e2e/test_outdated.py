"""Template versions end to end (SPEC §9.6) with xacctd, redis-server and the
emulator's CloudFormation: a stack created from the template xacct renders
records its TemplateVersion; changing role-policy.json changes today's
version, so `xacct outdated` lists the customer with today's template
uploaded and an update-stack link for its stack; once the stack is updated
with that template the customer is on today's version and no longer listed.
A stack whose template carries no version counts as outdated; pending
customers never appear.
"""
import json
import os
import shutil
import unittest
import urllib.parse

from harness import Env, SOURCE, wait_for

BUCKET = "xacct-templates"


class OutdatedTest(unittest.TestCase):
    def setUp(self):
        self.env = Env().start()
        self.addCleanup(self.env.stop)
        self.env.ctl("POST", "/_fake/s3/buckets", {"name": BUCKET})
        self.policy = os.path.join(self.env.tmp, "role-policy.json")
        shutil.copy(os.path.join(SOURCE, "config", "role-policy.json"), self.policy)
        self.env.write_config(cloudformation__template_bucket=BUCKET,
                              cloudformation__role_policy_file=self.policy)
        self.env.start_worker()

    def template(self, acct):
        r = self.env.xacct("template", acct, check=True)
        return json.loads(r.stdout)

    @staticmethod
    def version_of(tpl):
        return tpl["Resources"]["PhoneHome"]["Properties"]["TemplateVersion"]

    def outdated(self):
        r = self.env.xacct("outdated", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def connect(self, acct, tpl):
        stack = self.env.create_stack(acct, tpl)
        done = self.env.wait_stack(stack["stack_id"])
        self.assertEqual(done["status"], "CREATE_COMPLETE", done)
        self.assertEqual(self.env.customer(acct)["state"], "active")
        return stack["stack_id"]

    def test_versions_before_and_after_a_policy_change(self):
        acct, legacy, pending = "123456789012", "123456789013", "123456789014"
        self.env.onboard(acct)
        first = self.template(acct)
        v1 = self.version_of(first)
        self.assertRegex(v1, r"^[0-9a-f]{12}$")
        stack_id = self.connect(acct, first)
        self.assertEqual(self.env.customer(acct)["template_version"], v1)

        # A stack from a template without TemplateVersion records none.
        ext = self.env.onboard(legacy)
        self.connect(legacy, self.env.template(legacy, ext))
        self.assertEqual(self.env.customer(legacy)["template_version"], "")
        self.env.onboard(pending)

        rows = self.outdated()
        self.assertEqual([r["account_id"] for r in rows], [legacy], rows)
        self.assertEqual((rows[0]["template_version"], rows[0]["current_version"]), ("", v1))

        # The partner changes the role's permissions: today's version moves.
        with open(self.policy) as f:
            policy = json.load(f)
        policy["Statement"].append({"Sid": "ReadBilling", "Effect": "Allow",
                                    "Action": "ce:GetCostAndUsage", "Resource": "*"})
        with open(self.policy, "w") as f:
            json.dump(policy, f)
        second = self.template(acct)
        v2 = self.version_of(second)
        self.assertNotEqual(v1, v2)
        self.assertEqual(self.env.customer(acct)["template_version"], v1)

        rows = {r["account_id"]: r for r in self.outdated()}
        self.assertEqual(sorted(rows), [acct, legacy])
        row = rows[acct]
        self.assertEqual((row["state"], row["template_version"], row["current_version"],
                          row["stack_id"]), ("active", v1, v2, stack_id))
        # The link updates this stack, in its region, with today's template.
        u = urllib.parse.urlsplit(row["update_url"])
        self.assertEqual(u.netloc, "us-east-1.console.aws.amazon.com")
        self.assertEqual(urllib.parse.parse_qs(u.query)["region"], ["us-east-1"])
        route, _, frag_query = u.fragment.partition("?")
        self.assertEqual(route, "/stacks/update/template")
        q = urllib.parse.parse_qs(frag_query)
        self.assertEqual(q["stackId"], [stack_id])
        self.assertEqual(q["templateURL"], [row["template_url"]])
        self.assertIn("X-Amz-Signature=", row["template_url"])  # the bucket is private
        key = urllib.parse.urlsplit(row["template_url"]).path.split("/", 2)[2]
        st, body = self.env.fa.control("GET", "/_fake/s3/objects/%s/%s" % (BUCKET, key))
        self.assertEqual(st, 200)
        uploaded = body if isinstance(body, dict) else json.loads(body)
        self.assertEqual(self.version_of(uploaded), v2)

        # The text form lists the same customers.
        r = self.env.xacct("outdated")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.decode().splitlines()
        self.assertEqual(lines[0].split(), ["ACCOUNT_ID", "STATE", "VERSION", "UPDATE_URL"])
        self.assertEqual(sorted(line.split()[0] for line in lines[1:]), [acct, legacy])
        self.assertIn("2 of 2 connected customers", r.stderr.decode())

        # The customer updates its stack with today's template: on today's version.
        self.assertIn(key, self.bucket_keys())
        self.env.update_stack(stack_id, uploaded)
        done = self.env.wait_stack(stack_id)
        self.assertEqual(done["status"], "UPDATE_COMPLETE", done)
        self.assertEqual(self.env.customer(acct)["template_version"], v2)
        self.assertEqual([r["account_id"] for r in self.outdated()], [legacy])
        # The template uploaded for the Update has served: the worker deletes it.
        wait_for(lambda: key not in self.bucket_keys(), 60, "the Update's template to be deleted")

    def bucket_keys(self):
        return [o["key"] if isinstance(o, dict) else o
                for o in self.env.ctl("GET", f"/_fake/s3/buckets/{BUCKET}")["objects"]]

    def change_policy(self):
        with open(self.policy) as f:
            policy = json.load(f)
        policy["Statement"].append({"Sid": "ReadBilling", "Effect": "Allow",
                                    "Action": "ce:GetCostAndUsage", "Resource": "*"})
        with open(self.policy, "w") as f:
            json.dump(policy, f)

    def uploaded(self, row):
        key = urllib.parse.urlsplit(row["template_url"]).path.split("/", 2)[2]
        st, body = self.env.fa.control("GET", "/_fake/s3/objects/%s/%s" % (BUCKET, key))
        self.assertEqual(st, 200)
        return body if isinstance(body, dict) else json.loads(body)

    def test_pending_rotation_and_new_version_in_one_update(self):
        acct = "123456789012"
        self.env.onboard(acct)
        stack_id = self.connect(acct, self.template(acct))
        self.change_policy()
        r = self.env.xacct("rotate-external-id", acct, "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        pending = self.env.customer(acct)["pending_external_id"]
        self.assertTrue(pending)
        rows = self.outdated()
        self.assertEqual([x["account_id"] for x in rows], [acct])
        tpl = self.uploaded(rows[0])
        # Today's template for the stack's next update trusts the pending ID.
        self.assertEqual(tpl["Resources"]["PhoneHome"]["Properties"]["ExternalID"], pending)
        self.assertEqual(self.version_of(tpl), rows[0]["current_version"])
        self.env.update_stack(stack_id, tpl)
        done = self.env.wait_stack(stack_id)
        self.assertEqual(done["status"], "UPDATE_COMPLETE", done)
        c = self.env.customer(acct)
        self.assertEqual(c["external_id"], pending)
        self.assertEqual(c.get("pending_external_id", ""), "")
        self.assertEqual(c["template_version"], rows[0]["current_version"])
        self.assertEqual(self.outdated(), [])

    def test_pages_through_many_customers(self):
        """More customers than one page holds: each outdated one listed once,
        the others (current, or not connected) never."""
        self.env.onboard("100000000000")
        today = self.version_of(self.template("100000000000"))
        topic = self.env.topics["us-east-1"][0]
        p = self.env.PREFIX
        expected = []
        pipe = self.env.r.pipeline()
        for i in range(1, 251):
            acct = "2%011d" % i
            state = "offboarded" if i % 7 == 0 else ("degraded" if i % 5 == 0 else "active")
            version = today if i % 3 == 0 else "0123456789ab"
            if state != "offboarded" and version != today:
                expected.append(acct)
            pipe.hset(f"{p}customer:{acct}", mapping={
                "account_id": acct, "external_id": "ext-%d" % i, "state": state,
                "topic_arn": topic, "template_version": version,
                "role_arn": f"arn:aws:iam::{acct}:role/xacct",
                "stack_id": f"arn:aws:cloudformation:us-east-1:{acct}:stack/xacct-onboarding/"
                            "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
                "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"})
            pipe.zadd(f"{p}customers", {acct: 1_700_000_000_000 + i})
        pipe.execute()
        rows = self.outdated()
        listed = [r["account_id"] for r in rows]
        self.assertEqual(len(listed), len(set(listed)))
        self.assertEqual(sorted(listed), sorted(expected))
        self.assertGreater(len(expected), 100)
        self.assertTrue(all(r["update_url"] and r["current_version"] == today for r in rows))
        self.assertEqual({r["state"] for r in rows}, {"active", "degraded"})


if __name__ == "__main__":
    unittest.main()
