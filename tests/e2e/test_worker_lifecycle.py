"""xacctd end to end: a customer's stack is created, updated and deleted
through the emulator's CloudFormation simulator; each step is checked in the
CloudFormation answer, the Redis record and the queue."""
import json
import unittest

import msgpack_check
from harness import Env, SharedWorkerTest

ACCT = "210987654321"


class LifecycleTest(SharedWorkerTest):
    @classmethod
    def prepare(cls):
        cls.ext = cls.env.seed_customer(ACCT)

    def test_create_update_delete(self):
        env = self.env
        # The template reads the answer's Data with Fn::GetAtt (SPEC §4 step 7):
        # a role created after the custom resource is described by it.
        t = env.template(ACCT, self.ext)
        t["Resources"]["Reader"] = {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": "DataReader",
                "Description": {"Fn::Sub": "${PhoneHome.State} ${PhoneHome.RoleArn}"},
                "AssumeRolePolicyDocument": t["Resources"]["XacctRole"]["Properties"][
                    "AssumeRolePolicyDocument"]}}
        s = env.wait_stack(env.create_stack(ACCT, t)["stack_id"])
        self.assertEqual(s["status"], "CREATE_COMPLETE", s.get("status_reason"))
        ans = env.last_answer(s)
        self.assertEqual(ans["Status"], "SUCCESS")
        self.assertEqual(ans["PhysicalResourceId"], f"xacct-{ACCT}")
        self.assertEqual(set(ans), {"Status", "PhysicalResourceId", "StackId", "RequestId",
                                    "LogicalResourceId", "Data"})
        self.assertEqual(ans["Data"], {"RoleArn": f"arn:aws:iam::{ACCT}:role/XacctAccess",
                                       "State": "active"})
        reader = env.ctl("GET", f"/_fake/iam/roles/{ACCT}/DataReader")
        self.assertEqual(reader.get("description"),
                         f"active arn:aws:iam::{ACCT}:role/XacctAccess", reader)
        c = env.customer(ACCT)
        self.assertEqual(c["state"], "active")
        self.assertEqual(c["role_arn"], f"arn:aws:iam::{ACCT}:role/XacctAccess")
        self.assertEqual(c["stack_id"], s["stack_id"])
        self.assertEqual(c["physical_id"], f"xacct-{ACCT}")
        env.wait_queue_empty()

        # Update to a new role ARN: still the same physical id, record follows.
        env.update_stack(s["stack_id"], env.template(ACCT, self.ext, role_name="XacctAccess2"))
        s = env.wait_stack(s["stack_id"])
        self.assertEqual(s["status"], "UPDATE_COMPLETE", s.get("status_reason"))
        self.assertEqual(env.last_answer(s)["PhysicalResourceId"], f"xacct-{ACCT}")
        self.assertEqual(env.last_answer(s)["Data"],
                         {"RoleArn": f"arn:aws:iam::{ACCT}:role/XacctAccess2", "State": "active"})
        c = env.customer(ACCT)
        self.assertEqual(c["state"], "active")
        self.assertEqual(c["role_arn"], f"arn:aws:iam::{ACCT}:role/XacctAccess2")
        env.wait_queue_empty()

        # Delete: SUCCESS, offboarding, exactly one job.
        env.delete_stack(s["stack_id"])
        s = env.wait_stack(s["stack_id"])
        self.assertEqual(s["status"], "DELETE_COMPLETE", s.get("status_reason"))
        self.assertEqual(env.last_answer(s)["Status"], "SUCCESS")
        self.assertEqual(env.last_answer(s)["Data"]["State"], "offboarding")
        self.assertEqual(env.customer(ACCT)["state"], "offboarding")
        jobs = env.r.xrange(f"{env.PREFIX}jobs:offboard")
        self.assertEqual(len(jobs), 1)
        job = msgpack_check.decode_map(jobs[0][1][b"job"])
        self.assertEqual(job["account_id"], ACCT)
        self.assertEqual(job["role_arn"], f"arn:aws:iam::{ACCT}:role/XacctAccess2")
        self.assertEqual(job["external_id"], self.ext)
        env.wait_queue_empty()

        # The audit trail has one event per request, and never the external ID.
        events = env.r.xrange(f"{env.PREFIX}events:{ACCT}")
        self.assertGreaterEqual(len(events), 3)
        for _, fields in events:
            self.assertNotIn(self.ext.encode(), fields[b"e"])
        # Nor do the logs.
        self.assertNotIn(self.ext.encode(), env.worker_log(self.worker))
        self.assertNotIn(b"X-Amz-Signature", env.worker_log(self.worker))

        # SIGTERM on an idle worker: a clean exit 0 (under ASan: no leaks).
        self.assertEqual(env.stop_worker(self.worker), 0, env.worker_log(self.worker)[-3000:])
        self.assertIn(b"daemon.stopped", env.worker_log(self.worker))


if __name__ == "__main__":
    unittest.main()


class NoCoreDumpTest(SharedWorkerTest):
    def test_its_core_limit_is_zero(self):
        """The keys, session tokens, external IDs and presigned URLs in a
        worker's memory never reach a core file: it sets its own core limit
        to 0, soft and hard, whatever it was started with."""
        with open(f"/proc/{self.worker.pid}/limits") as f:
            line = next(x for x in f if x.startswith("Max core file size"))
        self.assertEqual(line.split()[4:6], ["0", "0"], line)


class SecondStackTest(SharedWorkerTest):
    """A connected customer launches its template again. While the recorded
    stack's role still opens with the external ID the new stack is refused;
    once it is gone (the first stack rolled back after its answer never
    reached CloudFormation, or was deleted unheard) the new stack connects
    the customer in its place."""
    env_options = {"propagation_timeout": 10}
    ACCT = "210987654399"

    @classmethod
    def prepare(cls):
        cls.ext = cls.env.seed_customer(cls.ACCT)

    def launch(self, name, role):
        env = self.env
        return env.wait_stack(env.create_stack(
            self.ACCT, env.template(self.ACCT, self.ext, role_name=role), name=name)["stack_id"])

    def lifecycle(self):
        out = []
        for _, f in self.env.r.xrange(f"{self.env.PREFIX}outbox"):
            ev = json.loads(f[b"event"])
            if ev["account_id"] == self.ACCT:
                out.append((ev["type"], ev["stack_id"]))
        return out

    def test_a_new_stack_replaces_only_a_stack_that_is_gone(self):
        env, acct = self.env, self.ACCT
        first = self.launch("first", "XacctAccess")
        self.assertEqual(first["status"], "CREATE_COMPLETE", first.get("status_reason"))

        second = self.launch("second", "XacctAccessSecond")
        self.assertEqual(second["status"], "ROLLBACK_COMPLETE")
        ans = json.loads(second["answers"][0]["body"])  # the Create's; then the rollback's
        self.assertEqual(ans["Status"], "FAILED")
        self.assertIn("already connected through stack", ans["Reason"])
        c = env.customer(acct)
        self.assertEqual((c["state"], c["stack_id"]), ("active", first["stack_id"]))

        env.ctl("DELETE", f"/_fake/iam/roles/{acct}/XacctAccess")
        third = self.launch("third", "XacctAccessThird")
        self.assertEqual(third["status"], "CREATE_COMPLETE", third.get("status_reason"))
        c = env.customer(acct)
        self.assertEqual((c["state"], c["stack_id"]), ("active", third["stack_id"]))
        self.assertEqual(c["role_arn"], f"arn:aws:iam::{acct}:role/XacctAccessThird")
        self.assertEqual(self.lifecycle(), [("customer.connected", first["stack_id"]),
                                            ("customer.connected", third["stack_id"])])
        self.assertIn(b"event=check.recorded_role_gone", env.worker_log(self.worker))


class TemplateCleanupTest(unittest.TestCase):
    """With cloudformation.template_bucket set, onboarding uploads the
    customer's template and the worker deletes it once the stack's Create
    has succeeded."""

    def test_template_deleted_after_create(self):
        env = Env().start()
        try:
            env.ctl("POST", "/_fake/s3/buckets", {"name": "xacct-templates"})
            env.write_config(cloudformation__template_bucket="xacct-templates")
            acct = "210987650001"
            r = env.xacct("onboard", acct, "--json", check=True)
            ext = json.loads(r.stdout)["external_id"]
            objects = env.ctl("GET", "/_fake/s3/buckets/xacct-templates")["objects"]
            self.assertEqual(len(objects), 1)
            w = env.start_worker()
            s = env.wait_stack(env.create_stack(acct, env.template(acct, ext))["stack_id"])
            self.assertEqual(s["status"], "CREATE_COMPLETE")
            from harness import wait_for
            wait_for(lambda: not env.ctl("GET", "/_fake/s3/buckets/xacct-templates")["objects"],
                     20, "the template to be deleted")
            # The worker logs once S3 has answered, just after the object went.
            wait_for(lambda: b"template.deleted" in env.worker_log(w), 20,
                     "the deletion to be logged")
            self.assertEqual(env.stop_worker(w), 0)
        finally:
            env.stop()


class HeartbeatTest(unittest.TestCase):
    """worker:<id> stays fresh while the worker is idle (it rides on the long
    polls' completions, no timer of its own) and its TTL covers the gap
    between two of them."""

    def test_idle_heartbeat_is_refreshed(self):
        env = Env().start()
        try:
            env.write_config(queue__wait_seconds="3")
            w = env.start_worker()
            from harness import wait_for
            key = wait_for(lambda: next(iter(env.r.keys(f"{env.PREFIX}worker:*")), None), 20,
                           "the first heartbeat")
            # wait_seconds + 5 s + 30 s: more than the longest idle gap.
            ttl0 = env.r.pttl(key)
            self.assertGreater(ttl0, 20000)
            self.assertLessEqual(ttl0, 38000)
            hb = msgpack_check.decode_map(env.r.get(key))
            self.assertEqual(hb["pid"], w.pid)
            self.assertEqual(hb["in_flight"], 0)
            # A refresh while idle is seen as the TTL going back up (an
            # event, not a stopwatch: without one it only ever falls).
            last = [ttl0]

            def refreshed():
                t = env.r.pttl(key)
                up, last[0] = t > last[0], t
                return up
            wait_for(refreshed, 30, "the idle heartbeat to be refreshed", interval=0.5)
            self.assertEqual(msgpack_check.decode_map(env.r.get(key))["in_flight"], 0)
            self.assertEqual(env.stop_worker(w), 0, env.worker_log(w)[-3000:])
        finally:
            env.stop()
