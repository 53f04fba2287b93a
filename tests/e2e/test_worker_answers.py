"""xacctd end to end, the unhappy ends of answering CloudFormation (SPEC §4
steps 7 and 9): a ResponseURL that has expired (403: logged, acknowledged,
counted), one that keeps failing with 5xx or lost connections (not
acknowledged; the stored answer goes out on the redelivery), a connection
lost during the PUT (retried), and a Reason cut so the body fits
CloudFormation's 4,096 bytes on the wire.
"""
import calendar
import json
import time
import unittest
import uuid
from urllib.parse import parse_qs, urlsplit

from harness import Env, SharedWorkerTest, wait_for


class AnswerFailuresTest(SharedWorkerTest):
    env_options = {"visibility_timeout": 10}
    worker_options = {"metrics": True}

    @classmethod
    def prepare(cls):
        cls.topic = cls.env.topics[cls.env.regions[0]][0]

    def tearDown(self):
        self.env.ctl("DELETE", "/_fake/s3/responses/faults")

    # -- helpers -------------------------------------------------------------
    def request(self, acct, request_type="Create", expires=None, physical_id=None,
                external_id="not-issued", request_id=None, logical_id="PhoneHome"):
        """A request as CloudFormation publishes it, with a minted ResponseURL;
        returns (request dict, its key at the receiver)."""
        env = self.env
        stack_id = f"arn:aws:cloudformation:us-east-1:{acct}:stack/answers/{uuid.uuid4()}"
        request_id = request_id or str(uuid.uuid4())
        spec = {"stack_id": stack_id, "logical_id": logical_id, "request_id": request_id,
                "request_type": request_type}
        if expires:
            spec["expires"] = expires
        minted = env.ctl("POST", "/_fake/s3/response-urls", spec)
        req = {"RequestType": request_type, "ResponseURL": minted["url"], "StackId": stack_id,
               "RequestId": request_id, "LogicalResourceId": logical_id,
               "ResourceType": "Custom::PhoneHome", "ServiceToken": self.topic,
               "ResourceProperties": {"ServiceToken": self.topic, "AccountID": acct,
                                      "RoleArn": f"arn:aws:iam::{acct}:role/XacctAccess",
                                      "ExternalID": external_id}}
        if physical_id is not None:
            req["PhysicalResourceId"] = physical_id
        return req, minted["key"]

    def publish(self, acct, req):
        self.env.allow_publish(self.topic, acct)
        self.env.publish_as(acct, self.topic, json.dumps(req))

    def answers_for(self, req):
        return [a for a in self.env.answers() if a.get("request_id") == req["RequestId"]]

    def metric(self, name, **labels):
        _, _, text = Env.scrape(self.worker)
        return Env.parse_metrics(text).get((name, frozenset(labels.items())), 0.0)

    def message_id(self, req):
        """The SQS message id of the delivery of `req` (while it is queued)."""
        for m in self.env.queue()["messages"]:
            if req["RequestId"] in m["body"]:
                return m["id"]
        return None

    def log_lines(self, event, ident):
        """Log lines of `event` that name `ident` (a message or request id)."""
        return [line for line in self.env.worker_log(self.worker).splitlines()
                if f"{event} ".encode() in line + b" " and ident.encode() in line]

    # -- tests -----------------------------------------------------------------
    def test_expired_response_url_is_logged_acked_and_counted(self):
        env, acct = self.env, "820000000001"
        refused0 = self.metric("xacct_cfn_answers_total", status="FAILED", result="refused")
        req, key = self.request(acct, expires=1)
        # Published only once the URL has expired (its X-Amz-Date + 1 s).
        q = parse_qs(urlsplit(req["ResponseURL"]).query)
        signed = calendar.timegm(time.strptime(q["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ"))
        wait_for(lambda: time.time() > signed + 2, 10, "the ResponseURL to expire")
        since = env.fa.records("auth_failure")[-1]["seq"] if env.fa.records("auth_failure") else 0
        self.publish(acct, req)
        wait_for(lambda: b"request.answer_refused" in env.worker_log(self.worker), 60,
                 "the refused answer to be logged")
        # S3 refused it as expired: 403 AccessDenied at the receiver.
        fails = [r for r in env.fa.records("auth_failure") if r["seq"] > since]
        self.assertTrue(any(r["code"] == "AccessDenied" and acct in r["path"] for r in fails),
                        fails)
        line = [ln for ln in env.worker_log(self.worker).splitlines()
                if b"request.answer_refused" in ln][-1]
        self.assertIn(b"http_status=403", line)
        self.assertNotIn(b"X-Amz-Signature", env.worker_log(self.worker))
        # Acknowledged: the queue drains, nothing goes to the dead set.
        env.wait_queue_empty()
        self.assertFalse([d for d in env.dead() if req["RequestId"] in json.dumps(d)])
        self.assertEqual(self.answers_for(req), [])
        wait_for(lambda: self.metric("xacct_cfn_answers_total", status="FAILED",
                                     result="refused") == refused0 + 1, 10,
                 "xacct_cfn_answers_total{result=refused} to count it")

    def test_5xx_until_postponed_then_the_redelivery_sends_the_stored_answer(self):
        self.postponed_then_redelivered("820000000002", {"status": 503, "count": 100000})

    def test_lost_connections_until_postponed_then_the_redelivery_sends_it(self):
        self.postponed_then_redelivered("820000000005", {"drop": True, "count": 100000})

    def postponed_then_redelivered(self, acct, fault):
        env = self.env
        env.ctl("POST", "/_fake/s3/responses/faults", fault)
        req, _ = self.request(acct)
        self.publish(acct, req)
        mid = wait_for(lambda: self.message_id(req), 30, "the request on the queue")
        wait_for(lambda: self.log_lines("request.answer_postponed", mid), 180,
                 "the worker to postpone the answer")
        self.assertGreaterEqual(len(self.log_lines("request.answer_retry", mid)), 2)
        # Not acknowledged: the message is still on the queue.
        q = env.queue()
        self.assertEqual(q["visible"] + q["in_flight"], 1, q)
        self.assertEqual(self.answers_for(req), [])
        env.ctl("DELETE", "/_fake/s3/responses/faults")
        # It reappears after its visibility timeout; the claim holds the
        # answer, which is sent as it was built the first time.
        wait_for(lambda: self.answers_for(req), 120, "the answer after the redelivery")
        env.wait_queue_empty()
        got = self.answers_for(req)
        self.assertEqual(len(got), 1)
        self.assertEqual(got[0]["status"], "FAILED")
        self.assertTrue(got[0]["valid"], got[0])
        self.assertIn("not been onboarded", got[0]["reason"])
        self.assertTrue(self.log_lines("request.duplicate", req["RequestId"]))

    def test_sigv2_response_url(self):
        """The older form of ResponseURL (S3 query authentication v2:
        AWSAccessKeyId, Expires, Signature), whose signature covers the
        Content-Type: the answer must go out with an empty one."""
        env, acct = self.env, "820000000006"
        env.ctl("POST", "/_fake/s3/config", {"response_url_signing": "v2"})
        try:
            req, _ = self.request(acct)
        finally:
            env.ctl("POST", "/_fake/s3/config", {"response_url_signing": "v4"})
        self.assertIn("&Signature=", req["ResponseURL"])
        self.assertNotIn("X-Amz-", req["ResponseURL"])
        self.publish(acct, req)
        wait_for(lambda: self.answers_for(req), 60, "the answer")
        env.wait_queue_empty()
        a = self.answers_for(req)
        self.assertEqual(len(a), 1)
        self.assertTrue(a[0]["valid"], a[0])
        self.assertEqual(a[0]["status"], "FAILED")
        self.assertFalse([r for r in env.fa.records("auth_failure") if acct in r.get("path", "")])
        # The presigned query never reaches the log.
        self.assertNotIn(b"AWSAccessKeyId", env.worker_log(self.worker))

    def test_connection_lost_during_the_put_is_retried(self):
        env, acct = self.env, "820000000003"
        env.ctl("POST", "/_fake/s3/responses/faults", {"drop": True, "count": 2})
        since = max([r["seq"] for r in env.fa.records("s3.response_fault")] or [0])
        req, key = self.request(acct)
        self.publish(acct, req)
        wait_for(lambda: self.answers_for(req), 60, "the answer")
        env.wait_queue_empty()
        drops = [r for r in env.fa.records("s3.response_fault") if r["seq"] > since
                 and r["key"] == key]
        self.assertEqual(len(drops), 2, drops)
        self.assertTrue(all(r["drop"] for r in drops))
        self.assertEqual(len(self.answers_for(req)), 1)
        self.assertTrue(self.answers_for(req)[0]["valid"])

    def test_reason_is_cut_to_fit_4096_bytes_on_the_wire(self):
        env, acct = self.env, "820000000004"
        env.seed_customer(acct, topic_arn=self.topic)
        full_reason = (f"ExternalID does not match the one issued to account {acct}; use the "
                       "current template")
        # Identifiers of control characters: each is 6 bytes on the wire
        # (\u0001), so the answer only fits with the Reason cut. (A FAILED
        # Update answers with the request's PhysicalResourceId, which the
        # decision holds up to 319 bytes; RequestId and LogicalResourceId
        # may have 256.)
        pid, lid = "\x01" * 319, "\x02" * 256
        probe, _ = self.request(acct, "Update", physical_id=pid, logical_id=lid)

        def body_len(n, reason):
            return len(json.dumps({"Status": "FAILED", "Reason": reason,
                                   "PhysicalResourceId": pid, "StackId": probe["StackId"],
                                   "RequestId": "\x03" * n, "LogicalResourceId": lid,
                                   "Data": {"State": "pending"}}, separators=(",", ":")))
        n = max(k for k in range(1, 257) if body_len(k, "x" * 30) <= 4096)
        self.assertGreater(body_len(n, full_reason), 4096)
        req, _ = self.request(acct, "Update", physical_id=pid, logical_id=lid,
                              request_id="\x03" * n)
        self.publish(acct, req)
        wait_for(lambda: self.answers_for(req), 60, "the answer")
        a = self.answers_for(req)[0]
        self.assertTrue(a["valid"], a["problems"])
        self.assertFalse(a["too_large"])
        self.assertLessEqual(a["size"], 4096)
        self.assertEqual(a["status"], "FAILED")
        self.assertEqual(a["physical_resource_id"], pid)
        self.assertEqual(a["logical_resource_id"], lid)
        self.assertTrue(a["reason"].endswith("..."), a["reason"])
        self.assertTrue(full_reason.startswith(a["reason"][:-3]), a["reason"])
        self.assertGreater(len(a["reason"]), 3)
        env.wait_queue_empty()


if __name__ == "__main__":
    unittest.main()
