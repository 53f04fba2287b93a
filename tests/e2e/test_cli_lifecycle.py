"""A customer's whole life driven by the operator CLI with a real xacctd:
`xacct onboard` hands out the template, the emulator's CloudFormation
launches it (the role is created and PhoneHome publishes through the topic
policy xacct wrote), xacctd activates the customer, `xacct check` and
`xacct console` work on the role the stack made, deleting the stack opens an
offboarding job, and `xacct jobs done` closes it and revokes publishing.
"""
import json
import unittest

import cli_env
import harness


class LifecycleTest(unittest.TestCase):
    def setUp(self):
        self.env = harness.Env().start()
        self.addCleanup(self.env.stop)

    def xacct_json(self, *args):
        r = self.env.xacct(*args, "--json")
        self.assertEqual(r.returncode, 0, (args, r.stderr))
        return json.loads(r.stdout)

    def test_onboard_launch_check_console_offboard(self):
        acct = "210987654321"
        info = self.xacct_json("onboard", acct)
        self.assertEqual(info["state"], "pending")
        template = json.loads(self.env.xacct("template", acct, check=True).stdout)
        self.env.start_worker()

        stack_id = self.env.create_stack(acct, template)["stack_id"]
        stack = self.env.wait_stack(stack_id)
        self.assertEqual(stack["status"], "CREATE_COMPLETE", stack.get("status_reason"))
        rec = self.xacct_json("show", acct)
        self.assertEqual(rec["state"], "active")
        self.assertEqual(rec["role_arn"],
                         "arn:aws:iam::%s:role/%s" % (acct, stack["physical_ids"]["XacctRole"]))
        self.assertEqual(rec["topic_arn"], info["topic_arn"])

        check = self.xacct_json("check", acct)
        self.assertEqual(check["result"], "secure")
        login = self.xacct_json("console", acct)
        self.assertIn("Action=login", login["login_url"])

        self.env.delete_stack(stack_id)
        stack = self.env.wait_stack(stack_id)
        self.assertEqual(stack["status"], "DELETE_COMPLETE", stack.get("status_reason"))
        jobs = harness.wait_for(lambda: self.xacct_json("jobs"), 30, "the offboarding job")
        self.assertEqual([j["account_id"] for j in jobs], [acct])
        self.assertEqual(self.xacct_json("show", acct)["state"], "offboarding")
        # Its ID is retired: no template to hand out any more.
        tpl = self.env.xacct("template", acct)
        self.assertEqual(tpl.returncode, 1)
        self.assertEqual(tpl.stdout, b"")
        self.assertIn(b"customer %s is offboarding: its external ID is retired" % acct.encode(),
                      tpl.stderr)

        done = self.xacct_json("jobs", "done", jobs[0]["id"])
        self.assertEqual(done["state"], "offboarded")
        self.assertEqual(self.xacct_json("show", acct)["state"], "offboarded")
        self.assertNotIn(acct, json.dumps(self.env.topic_policy(info["topic_arn"])))
        with self.assertRaises(AssertionError):
            self.env.publish_as(acct, info["topic_arn"], "{}")
        events = self.xacct_json("events", acct)
        types = [e["type"] for e in events]
        self.assertEqual(types[0], "offboarded")
        # An operator's action: "ok", as onboard, cancel and rotate record it.
        self.assertEqual(events[0]["outcome"], "ok")
        self.assertEqual(events[types.index("onboarded")]["outcome"], "ok")

    def test_jobs_done_while_sns_fails_is_finished_by_the_workers(self):
        """Closing the job commits offboarded and queues the policy rewrite
        in the same script, so SNS failing during `jobs done` leaves durable
        work instead of an account allowed to publish with nothing left to
        retry it (the job is gone): the command warns, exits 0, and the
        workers revoke publishing once SNS is back."""
        env, p = self.env, self.env.PREFIX
        acct = "210987654322"
        topic = self.xacct_json("onboard", acct)["topic_arn"]
        role = "arn:aws:iam::%s:role/xacct-access" % acct
        cli_env.activate(env.r, acct, role, region=env.regions[0], prefix=p)
        jid = cli_env.enqueue_offboarding(env.r, acct, role, region=env.regions[0], prefix=p)
        env.fa.set_faults("sns", error_rate=1.0)
        try:
            r = env.xacct("jobs", "done", jid, "--json")
            self.assertEqual(r.returncode, 0, r.stderr)
            out = json.loads(r.stdout)
            self.assertEqual((out["state"], out["removed_from_topic"], out["policy_rewritten"]),
                             ("offboarded", topic, False))
            self.assertIn(b"xacctd retries", r.stderr)
            self.assertEqual(env.r.zrange(p + "cleanup", 0, -1),
                             [("%s||%s" % (acct, topic)).encode()])
        finally:
            env.fa.clear_faults()
        self.assertIn(acct, json.dumps(env.topic_policy(topic)))
        self.assertEqual(self.xacct_json("show", acct)["state"], "offboarded")
        env.start_worker()
        harness.wait_for(lambda: acct not in json.dumps(env.topic_policy(topic)), 60,
                         "the workers to rewrite the topic policy")
        harness.wait_for(lambda: env.r.zcard(p + "cleanup") == 0, 30, "the entry to go")
        with self.assertRaises(AssertionError):
            env.publish_as(acct, topic, "{}")


if __name__ == "__main__":
    unittest.main()
