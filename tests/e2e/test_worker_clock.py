"""xacctd on a host whose clock has drifted 20 minutes from AWS's (which
allows 15): AWS refuses the first signature made with it, xacctd takes
AWS's time from the answer's Date header, signs again at once, and goes on
working (as the AWS SDKs correct clock skew) instead of failing every call
until NTP is fixed; it says so once in its log (aws.clock_skew)."""
import unittest

from harness import SharedWorkerTest


class ClockSkewTest(SharedWorkerTest):
    @classmethod
    def tearDownClass(cls):
        cls.env.ctl("POST", "/_fake/server", {"clock_skew": 0})
        super().tearDownClass()

    def test_create_answered_with_aws_clock_twenty_minutes_ahead(self):
        env, acct = self.env, "400000000201"
        ext = env.seed_customer(acct)  # signed here, before the clocks part
        env.ctl("DELETE", "/_fake/records")
        env.ctl("POST", "/_fake/server", {"clock_skew": 1200})
        stack = env.create_stack(acct, env.template(acct, ext))
        stack = env.wait_stack(stack["stack_id"], timeout=120)
        self.assertEqual(stack["status"], "CREATE_COMPLETE", stack.get("status_reason"))
        self.assertEqual(env.customer(acct)["state"], "active")
        refused = env.ctl("GET", "/_fake/records?kind=auth_failure")["records"]
        # The drift was met (and only as a signing time refused) ...
        self.assertGreaterEqual(len(refused), 1)
        self.assertEqual({r["code"] for r in refused}, {"SignatureDoesNotMatch"})
        # ... and corrected on the spot: no receive failed over it.
        log = env.worker_log(self.worker).decode()
        self.assertNotIn("sqs.receive_failed", log)
        # The operator is told once, with the offset and who taught it.
        told = [line for line in log.splitlines() if "event=aws.clock_skew" in line]
        self.assertEqual(len(told), 1, told)
        self.assertIn("level=warn", told[0])
        self.assertRegex(told[0], r" offset_s=(119\d|120\d) ")
        self.assertRegex(told[0], r"service=(sqs|sts|sns|s3)\b")


class HostAheadTest(SharedWorkerTest):
    def test_create_answered_with_the_host_ten_minutes_ahead_of_aws(self):
        """AWS still takes the host's signatures (10 minutes is within its
        15), but SQS dates each message with AWS's clock: the request's
        deadline (SentTimestamp + ServiceTimeout) is counted on AWS's time,
        taken from the receive's Date, not the host's, which would find a
        300-second deadline long past and answer FAILED at once."""
        env, acct = self.env, "400000000202"
        ext = env.seed_customer(acct)
        env.ctl("POST", "/_fake/server", {"clock_skew": -600})
        try:
            t = env.template(acct, ext)
            t["Resources"]["PhoneHome"]["Properties"]["ServiceTimeout"] = 300
            stack = env.wait_stack(env.create_stack(acct, t, name="host-ahead")["stack_id"],
                                   timeout=120)
        finally:
            env.ctl("POST", "/_fake/server", {"clock_skew": 0})
        self.assertEqual(stack["status"], "CREATE_COMPLETE", stack.get("status_reason"))
        self.assertEqual(env.last_answer(stack)["Status"], "SUCCESS")
        self.assertEqual(env.customer(acct)["state"], "active")


if __name__ == "__main__":
    unittest.main()
