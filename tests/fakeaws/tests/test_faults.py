"""Fault injection through the control API."""
import http.client
import time
import unittest

from tests import FakeAWSCase

SQS_JSON = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.ListQueues"}


class Faults(FakeAWSCase):
    def sqs(self):
        return self.fa.call("sqs", "POST", "/", headers=dict(SQS_JSON), body=b"{}")

    def test_error_rate_answers_500_and_503_in_the_query_shape(self):
        self.fa.set_faults("sts", error_rate=1)
        got = [self.whoami() for _ in range(4)]
        self.assertEqual(sorted({r.status for r in got}), [500, 503])
        codes = {r.status: r.error_code() for r in got}
        self.assertEqual(codes, {500: "InternalError", 503: "ServiceUnavailable"})
        root = got[0].xml()
        self.assertTrue(root.tag.endswith("ErrorResponse"))
        self.assertEqual(root.find("{https://sts.amazonaws.com/doc/2011-06-15/}Error/"
                                   "{https://sts.amazonaws.com/doc/2011-06-15/}Type").text, "Receiver")
        # other services are not affected, the control API never is
        self.assertNotIn(self.sqs().status, (500, 503))
        self.assertEqual(self.fa.control("GET", "/_fake/health")[0], 200)
        self.fa.clear_faults()
        self.assertEqual(self.whoami().status, 200)

    def test_throttling_in_each_shape(self):
        self.fa.set_faults("*", throttle_rate=1)
        r = self.whoami()
        self.assertEqual((r.status, r.error_code()), (400, "Throttling"))
        r = self.fa.call("s3", "GET", "/bucket/key")
        self.assertEqual((r.status, r.error_code()), (503, "SlowDown"))
        kinds = {e["fault"] for e in self.fa.records("fault")}
        self.assertIn("throttle", kinds)

    def test_sqs_throttles_with_each_of_its_errors(self):
        """SQS's JSON protocol has its generic ThrottlingException, and SQS
        its own RequestThrottled (403) and KmsThrottled (400), with their
        query-protocol codes in x-amzn-query-error."""
        want = {
            "ThrottlingException": (400, "com.amazon.coral.availability#ThrottlingException",
                                    "Throttling;Sender"),
            "RequestThrottled": (403, "com.amazonaws.sqs#RequestThrottled", "RequestThrottled;Sender"),
            "KmsThrottled": (400, "com.amazonaws.sqs#KmsThrottled", "KMS.ThrottlingException;Sender"),
        }
        self.fa.set_faults("sqs", throttle_rate=1)
        got = {}
        for _ in range(3):
            r = self.sqs()
            got[r.json()["__type"]] = (r.status, r.headers["x-amzn-query-error"])
            self.assertTrue(r.error_message(), r)
        self.assertEqual(got, {t: (st, q) for st, t, q in want.values()})
        codes = [e["code"] for e in self.fa.records("fault")
                 if e["service"] == "sqs" and e["fault"] == "throttle"][-3:]
        self.assertEqual(sorted(codes), sorted(want))
        # One of them only.
        for code, (status, json_type, query) in want.items():
            self.fa.set_faults("sqs", throttle_rate=1, throttle_code=code)
            for _ in range(2):
                r = self.sqs()
                self.assertEqual((r.status, r.json()["__type"], r.headers["x-amzn-query-error"]),
                                 (status, json_type, query))
        st, doc = self.fa.control("POST", "/_fake/faults", {"service": "sqs", "throttle_rate": 1,
                                                            "throttle_code": "SlowDown"})
        self.assertEqual(st, 400, doc)
        st, doc = self.fa.control("POST", "/_fake/faults", {"service": "sts", "throttle_rate": 1,
                                                            "throttle_code": "RequestThrottled"})
        self.assertEqual(st, 400, doc)

    def test_json_errors_for_sqs(self):
        self.fa.set_faults("sqs", error_rate=1)
        r = self.sqs()
        self.assertIn(r.status, (500, 503))
        self.assertTrue(r.json()["__type"].startswith("com.amazonaws.sqs#"))
        self.assertTrue(r.headers["x-amzn-query-error"].endswith(";Receiver"))

    def test_latency(self):
        self.fa.set_faults("sts", latency_ms=300)
        t = time.monotonic()
        self.assertEqual(self.whoami().status, 200)
        self.assertGreaterEqual(time.monotonic() - t, 0.3)
        self.fa.clear_faults()
        # Cleared: no delay is applied any more (an event, not a stopwatch:
        # a loaded machine can take 0.3 s for any request).
        before = len([r for r in self.fa.records("fault") if r.get("fault") == "latency"])
        self.assertGreaterEqual(before, 1)
        self.whoami()
        self.assertEqual(len([r for r in self.fa.records("fault") if r.get("fault") == "latency"]),
                         before)

    def test_dropped_connections(self):
        self.fa.set_faults("sts", drop_rate=1)
        self.fa.close_connections()
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionResetError)):
            self.whoami()
        self.assertEqual(self.fa.records("fault")[-1]["fault"], "drop")

    def test_count_limits_the_faults(self):
        self.fa.set_faults("sts", error_rate=1, count=2)
        self.assertEqual([self.whoami().status >= 500 for _ in range(4)], [True, True, False, False])

    def test_seed_makes_it_deterministic(self):
        runs = []
        for _ in range(2):
            self.fa.set_faults("sts", error_rate=0.5, seed=42)
            runs.append([self.whoami().status == 200 for _ in range(16)])
        self.assertEqual(runs[0], runs[1])
        self.assertIn(True, runs[0])
        self.assertIn(False, runs[0])

    def test_core_endpoints_can_fail_too(self):
        self.fa.set_faults("imds", error_rate=1)
        r = self.fa.request("PUT", "/latest/api/token", headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"},
                            base=self.fa.http_url)
        self.assertIn(r.status, (500, 503))

    def test_bad_rules_are_refused_and_listed_rules_cleared(self):
        for bad in ({"error_rate": 1}, {"service": "sts", "error_rate": 2}, {"service": "sts", "latency_ms": -1},
                    {"service": "sts", "error_rate": 0.6, "throttle_rate": 0.6}):
            self.assertEqual(self.fa.control("POST", "/_fake/faults", bad)[0], 400, bad)
        self.fa.set_faults("sts", latency_ms=5)
        st, doc = self.fa.control("GET", "/_fake/faults")
        self.assertEqual(doc["faults"]["sts"]["latency_ms"], 5)
        self.fa.control("DELETE", "/_fake/faults?service=sts")
        self.assertEqual(self.fa.control("GET", "/_fake/faults")[1]["faults"], {})


if __name__ == "__main__":
    unittest.main()
