"""xacctd and xacct end to end with no endpoint override at all: every call
goes to the service's real name (sqs.us-east-1.amazonaws.com for the queue,
sts.<stack region>.amazonaws.com for the safety check, sns.<topic
region>.amazonaws.com for onboarding), resolved to the emulator by the test's
/etc/hosts. The emulator checks each Host against the credential scope, so a
call signed for one region and sent to another region's endpoint fails here
as it fails on AWS."""
import unittest

from harness import Env


class RealEndpointsTest(unittest.TestCase):
    def test_two_regions_by_their_real_names(self):
        env = Env(regions=("us-east-1", "eu-west-1"), real_endpoints=True).start()
        try:
            self.assertTrue(env.config_queue_url.startswith("https://sqs.us-east-1.amazonaws.com/"))
            self.assertNotIn("AWS_ENDPOINT_URL", env.process_env())
            since = max([r["seq"] for r in env.fa.records("request")] or [0])
            failures_before = len(env.fa.records("auth_failure"))
            w = env.start_worker()
            for region, acct in (("us-east-1", "860000000001"), ("eu-west-1", "860000000002")):
                ext = env.onboard(acct, region=region)
                topic = env.customer(acct)["topic_arn"]
                self.assertEqual(topic.split(":")[3], region)
                s = env.wait_stack(env.create_stack(
                    acct, env.template(acct, ext, topic_arn=topic), region=region)["stack_id"])
                self.assertEqual(s["status"], "CREATE_COMPLETE", s.get("status_reason"))
                self.assertEqual(env.customer(acct)["state"], "active")
                url = env.answers()[-1]["key"]
                self.assertTrue(url)
            self.assertEqual(env.stop_worker(w), 0, env.worker_log(w)[-3000:])

            calls = [r for r in env.fa.records("request")
                     if r["seq"] > since and not r.get("unsigned") and r.get("host")]
            self.assertTrue(calls)
            # Every signed call named its service's real endpoint in the region it signed for.
            for r in calls:
                host = r["host"]
                self.assertFalse(host[0].isdigit(), r)
                if r["service"] == "s3":
                    continue  # response buckets: checked below
                self.assertEqual(host, f"{r['service']}.{r['region']}.amazonaws.com", r)
            sts = {r["host"] for r in calls if r["service"] == "sts"}
            self.assertEqual(sts, {"sts.us-east-1.amazonaws.com", "sts.eu-west-1.amazonaws.com"})
            self.assertIn("sqs.us-east-1.amazonaws.com", {r["host"] for r in calls})
            self.assertIn("sns.eu-west-1.amazonaws.com", {r["host"] for r in calls})
            answered = {r["host"] for r in calls if r["service"] == "s3"}
            self.assertEqual(answered, {
                "cloudformation-custom-resource-response-useast1.s3.amazonaws.com",
                "cloudformation-custom-resource-response-euwest1.s3.eu-west-1.amazonaws.com"})
            self.assertEqual(len(env.fa.records("auth_failure")), failures_before)
            self.assertEqual(env.fa.records("bad_host"), [])
        finally:
            env.stop()


if __name__ == "__main__":
    unittest.main()
