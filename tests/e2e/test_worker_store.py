"""xacctd and xacct end to end, the Redis layout of SPEC §5: a non-default
redis.prefix keeps every key under it, and the audit stream events:<account>
stays capped."""
import json
import unittest
import uuid

import msgpack_check
from harness import Env, wait_for

CAP = 1000          # XACCT_EVENTS_MAXLEN: MAXLEN ~ 1000 per account
NODE = 100          # Redis trims whole stream nodes (stream-node-max-entries)


class PrefixTest(unittest.TestCase):
    def test_non_default_prefix_end_to_end(self):
        env = Env(prefix="acme-onboarding:").start()
        try:
            acct = "850000000001"
            ext = env.onboard(acct)          # through the CLI
            w = env.start_worker()
            s = env.wait_stack(env.create_stack(acct, env.template(acct, ext))["stack_id"])
            self.assertEqual(s["status"], "CREATE_COMPLETE", s.get("status_reason"))
            r = env.xacct("show", acct, "--json", check=True)
            self.assertEqual(json.loads(r.stdout)["state"], "active")
            wait_for(lambda: env.r.keys("acme-onboarding:worker:*"), 20, "the heartbeat")
            keys = sorted(k.decode() for k in env.r.keys("*"))
            self.assertTrue(keys)
            self.assertEqual([k for k in keys if not k.startswith("acme-onboarding:")], [])
            for k in (f"customer:{acct}", f"events:{acct}", "customers"):
                self.assertIn("acme-onboarding:" + k, keys)
            self.assertEqual(env.stop_worker(w), 0, env.worker_log(w)[-3000:])
        finally:
            env.stop()


class EventsCapTest(unittest.TestCase):
    def test_audit_stream_is_capped(self):
        env = Env().start()
        try:
            acct = "850000000002"
            env.seed_customer(acct)
            key = f"{env.PREFIX}events:{acct}"
            # An audit trail already well past the cap.
            pipe = env.r.pipeline()
            for i in range(CAP + 5 * NODE):
                pipe.xadd(key, {"e": b"\x80", "n": str(i)})
            pipe.execute()
            first_old = env.r.xrange(key, count=1)[0][0]
            w = env.start_worker()
            # One more event, from the worker: a Create with the wrong ExternalID.
            topic = env.topics[env.regions[0]][0]
            stack_id = f"arn:aws:cloudformation:us-east-1:{acct}:stack/cap/{uuid.uuid4()}"
            request_id = str(uuid.uuid4())
            url = env.ctl("POST", "/_fake/s3/response-urls", {
                "stack_id": stack_id, "logical_id": "PhoneHome", "request_id": request_id})["url"]
            env.publish_as(acct, topic, json.dumps({
                "RequestType": "Create", "ResponseURL": url, "StackId": stack_id,
                "RequestId": request_id, "LogicalResourceId": "PhoneHome",
                "ResourceType": "Custom::PhoneHome",
                "ResourceProperties": {"ServiceToken": topic, "AccountID": acct,
                                       "RoleArn": f"arn:aws:iam::{acct}:role/R",
                                       "ExternalID": "not-the-issued-one"}}))
            wait_for(lambda: [a for a in env.answers() if a.get("request_id") == request_id],
                     30, "the answer")
            length = env.r.xlen(key)
            self.assertLess(length, CAP + NODE + 1)   # trimmed (approximately, by whole nodes)
            self.assertGreaterEqual(length, CAP)
            newest = env.r.xrevrange(key, count=1)[0][1]
            event = msgpack_check.decode_map(newest[b"e"])
            self.assertEqual(event["request_id"], request_id)
            self.assertEqual(event["outcome"], "failed")
            self.assertNotEqual(env.r.xrange(key, count=1)[0][0], first_old)
            self.assertEqual(env.stop_worker(w), 0, env.worker_log(w)[-3000:])
        finally:
            env.stop()


if __name__ == "__main__":
    unittest.main()
