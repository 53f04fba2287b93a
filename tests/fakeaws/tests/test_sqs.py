"""SQS in fakeaws, over real sockets with SigV4-signed requests: the AWS JSON
1.0 protocol, long polling, visibility and receipt handles, batches,
redrive to a dead-letter queue, and who may use a queue."""

import json
import sys
import threading
import time
import unittest
import uuid

from fakeaws.testing import FakeAWS

JSON_CT = "application/x-amz-json-1.0"
OTHER_ACCOUNT = "222222222222"


def _name(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


class SqsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fa = FakeAWS.start(python=sys.executable)
        cls.other = cls.fa.new_account(OTHER_ACCOUNT)

    @classmethod
    def tearDownClass(cls):
        cls.fa.stop()

    # -- helpers -----------------------------------------------------------

    def sqs(self, op, body, creds=None, client=None, headers=None):
        h = {"Content-Type": JSON_CT, "X-Amz-Target": "AmazonSQS." + op}
        if headers is not None:
            h = headers
        return (client or self.fa).call("sqs", "POST", "/", headers=h,
                                        body=json.dumps(body), creds=creds)

    def ok(self, op, body, **kw):
        r = self.sqs(op, body, **kw)
        self.assertEqual(r.status, 200, r)
        return r.json()

    def assert_error(self, r, status, code):
        self.assertEqual(r.status, status, r)
        self.assertTrue(r.headers["content-type"].startswith(JSON_CT), r.headers)
        self.assertEqual(r.error_code(), code, r)
        self.assertTrue(r.error_message(), r)

    def create(self, name=None, **attrs):
        body = {"QueueName": name or _name("q")}
        if attrs:
            body["Attributes"] = {k: str(v) for k, v in attrs.items()}
        return self.ok("CreateQueue", body)["QueueUrl"]

    def send(self, url, text):
        return self.ok("SendMessage", {"QueueUrl": url, "MessageBody": text})

    def receive(self, url, **kw):
        body = {"QueueUrl": url, "WaitTimeSeconds": 0}
        body.update(kw)
        return self.ok("ReceiveMessage", body).get("Messages", [])

    def counts(self, url):
        a = self.ok("GetQueueAttributes", {
            "QueueUrl": url,
            "AttributeNames": ["ApproximateNumberOfMessages",
                               "ApproximateNumberOfMessagesNotVisible"]})["Attributes"]
        return (int(a["ApproximateNumberOfMessages"]),
                int(a["ApproximateNumberOfMessagesNotVisible"]))

    # -- tests ---------------------------------------------------------------

    def test_queue_url_and_arn(self):
        name = _name("shape")
        url = self.create(name)
        self.assertEqual(url, "%s/%s/%s" % (self.fa.https_url,
                                            self.fa.partner_account, name))
        self.assertEqual(self.ok("GetQueueUrl", {"QueueName": name})["QueueUrl"], url)
        attrs = self.ok("GetQueueAttributes", {"QueueUrl": url,
                                               "AttributeNames": ["All"]})["Attributes"]
        self.assertEqual(attrs["QueueArn"], "arn:aws:sqs:%s:%s:%s" % (
            self.fa.region, self.fa.partner_account, name))
        self.assertEqual(attrs["VisibilityTimeout"], "30")
        self.assert_error(self.sqs("GetQueueUrl", {"QueueName": _name("none")}),
                          400, "QueueDoesNotExist")
        self.assert_error(self.sqs("CreateQueue", {"QueueName": "bad name!"}),
                          400, "InvalidParameterValue")
        self.assert_error(self.sqs("CreateQueue", {
            "QueueName": _name("a"), "Attributes": {"VisibilityTimeout": "43201"}}),
            400, "InvalidAttributeValue")
        self.assert_error(self.sqs("CreateQueue", {
            "QueueName": _name("a"), "Attributes": {"NoSuchAttribute": "1"}}),
            400, "InvalidAttributeName")

    def test_long_poll_returns_as_soon_as_a_message_arrives(self):
        url = self.create()
        result = {}
        poller = FakeAWS(self.fa.info)   # its own connection

        def poll():
            t0 = time.monotonic()
            r = self.sqs("ReceiveMessage", {"QueueUrl": url, "WaitTimeSeconds": 20},
                         client=poller)
            result["elapsed"] = time.monotonic() - t0
            result["resp"] = r

        th = threading.Thread(target=poll)
        th.start()
        time.sleep(1.0)
        self.assertNotIn("resp", result, "the long poll returned before any message")
        self.send(url, "wake up")
        th.join(30)
        poller.close_connections()
        self.assertFalse(th.is_alive())
        self.assertEqual(result["resp"].status, 200, result["resp"])
        msgs = result["resp"].json()["Messages"]
        self.assertEqual([m["Body"] for m in msgs], ["wake up"])
        self.assertGreaterEqual(result["elapsed"], 0.9)
        # Well before its 20 s: the message ended it (room for a loaded machine).
        self.assertLess(result["elapsed"], 15.0, "long poll did not return early")

    def test_long_poll_waits_the_full_time_when_empty(self):
        url = self.create()
        t0 = time.monotonic()
        body = self.ok("ReceiveMessage", {"QueueUrl": url, "WaitTimeSeconds": 2})
        elapsed = time.monotonic() - t0
        self.assertNotIn("Messages", body)
        self.assertGreaterEqual(elapsed, 1.9)
        self.assertLess(elapsed, 4.0)
        t0 = time.monotonic()
        self.assertEqual(self.receive(url), [])
        self.assertLess(time.monotonic() - t0, 1.0, "short poll waited")

    def test_long_poll_wakes_when_a_message_becomes_visible_again(self):
        url = self.create()
        self.send(url, "again")
        self.assertEqual(len(self.receive(url, VisibilityTimeout=1)), 1)
        t0 = time.monotonic()
        msgs = self.receive(url, WaitTimeSeconds=10,
                            MessageSystemAttributeNames=["ApproximateReceiveCount"])
        elapsed = time.monotonic() - t0
        self.assertEqual([m["Attributes"]["ApproximateReceiveCount"] for m in msgs], ["2"])
        self.assertGreaterEqual(elapsed, 0.5)
        self.assertLess(elapsed, 4.0)

    def test_receive_parameter_limits(self):
        url = self.create()
        for k, v in (("MaxNumberOfMessages", 11), ("MaxNumberOfMessages", 0),
                     ("WaitTimeSeconds", 21), ("WaitTimeSeconds", -1),
                     ("VisibilityTimeout", 43201)):
            with self.subTest(**{k: v}):
                r = self.sqs("ReceiveMessage", {"QueueUrl": url, k: v})
                self.assert_error(r, 400, "InvalidParameterValue")
                self.assertIn(k, r.error_message())
                self.assertEqual(r.headers.get("x-amzn-query-error"),
                                 "InvalidParameterValue;Sender")
        self.assert_error(self.sqs("ReceiveMessage", {"QueueUrl": url,
                                                      "MaxNumberOfMessages": "5"}),
                          400, "SerializationException")
        self.assert_error(self.sqs("ReceiveMessage", {
            "QueueUrl": url, "MessageSystemAttributeNames": ["Bogus"]}),
            400, "InvalidAttributeName")
        # the edges are accepted
        self.ok("ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": 10,
                                   "WaitTimeSeconds": 0})

    def test_max_number_of_messages(self):
        url = self.create()
        for i in range(12):
            self.send(url, "m%d" % i)
        first = self.receive(url, MaxNumberOfMessages=10)
        self.assertEqual(len(first), 10)
        rest = self.receive(url, MaxNumberOfMessages=10)
        self.assertEqual(len(rest), 2)
        self.assertEqual(len({m["MessageId"] for m in first + rest}), 12)

    def test_visibility_redelivery_and_receipt_handles(self):
        url = self.create()
        sent = self.send(url, "payload")
        t_sent = int(time.time() * 1000)
        m1 = self.receive(url, VisibilityTimeout=1,
                          MessageSystemAttributeNames=["ApproximateReceiveCount",
                                                       "SentTimestamp"])
        self.assertEqual(len(m1), 1)
        m1 = m1[0]
        self.assertEqual(m1["MessageId"], sent["MessageId"])
        self.assertEqual(m1["MD5OfBody"], sent["MD5OfMessageBody"])
        self.assertEqual(m1["Attributes"]["ApproximateReceiveCount"], "1")
        self.assertLess(abs(int(m1["Attributes"]["SentTimestamp"]) - t_sent), 5000)
        self.assertEqual(set(m1["Attributes"]), {"ApproximateReceiveCount", "SentTimestamp"})
        self.assertEqual(self.receive(url), [], "an in-flight message was redelivered")
        self.assertEqual(self.counts(url), (0, 1))
        time.sleep(1.2)
        self.assertEqual(self.counts(url), (1, 0))
        # the legacy AttributeNames spelling works too
        m2 = self.receive(url, VisibilityTimeout=30, AttributeNames=["All"])[0]
        self.assertEqual(m2["MessageId"], m1["MessageId"])
        self.assertEqual(m2["Attributes"]["ApproximateReceiveCount"], "2")
        self.assertIn("ApproximateFirstReceiveTimestamp", m2["Attributes"])
        self.assertNotEqual(m2["ReceiptHandle"], m1["ReceiptHandle"])
        # the old handle: visibility changes fail, a delete "succeeds" but
        # leaves the message in place (as SQS documents)
        self.assert_error(self.sqs("ChangeMessageVisibility", {
            "QueueUrl": url, "ReceiptHandle": m1["ReceiptHandle"],
            "VisibilityTimeout": 0}), 400, "InvalidParameterValue")
        self.ok("DeleteMessage", {"QueueUrl": url, "ReceiptHandle": m1["ReceiptHandle"]})
        self.assertEqual(self.counts(url), (0, 1))
        self.ok("DeleteMessage", {"QueueUrl": url, "ReceiptHandle": m2["ReceiptHandle"]})
        self.assertEqual(self.counts(url), (0, 0))
        # deleting again with that handle is harmless; a made-up one is not
        self.ok("DeleteMessage", {"QueueUrl": url, "ReceiptHandle": m2["ReceiptHandle"]})
        self.assert_error(self.sqs("DeleteMessage", {"QueueUrl": url,
                                                     "ReceiptHandle": "AQEBnotahandle"}),
                          400, "ReceiptHandleIsInvalid")

    def test_change_visibility(self):
        url = self.create()
        self.send(url, "a")
        self.send(url, "b")
        msgs = self.receive(url, MaxNumberOfMessages=2, VisibilityTimeout=60)
        self.assertEqual(len(msgs), 2)
        self.assertEqual(self.receive(url), [])
        a, b = msgs
        self.assert_error(self.sqs("ChangeMessageVisibility", {
            "QueueUrl": url, "ReceiptHandle": a["ReceiptHandle"],
            "VisibilityTimeout": 43201}), 400, "InvalidParameterValue")
        self.ok("ChangeMessageVisibility", {"QueueUrl": url,
                                            "ReceiptHandle": a["ReceiptHandle"],
                                            "VisibilityTimeout": 0})
        again = self.receive(url, VisibilityTimeout=60)
        self.assertEqual([m["MessageId"] for m in again], [a["MessageId"]])
        res = self.ok("ChangeMessageVisibilityBatch", {"QueueUrl": url, "Entries": [
            {"Id": "new", "ReceiptHandle": again[0]["ReceiptHandle"], "VisibilityTimeout": 0},
            {"Id": "stale", "ReceiptHandle": a["ReceiptHandle"], "VisibilityTimeout": 0},
            {"Id": "b", "ReceiptHandle": b["ReceiptHandle"], "VisibilityTimeout": 120},
        ]})
        self.assertEqual(sorted(e["Id"] for e in res["Successful"]), ["b", "new"])
        self.assertEqual([e["Id"] for e in res["Failed"]], ["stale"])
        self.assertTrue(res["Failed"][0]["SenderFault"])
        self.assertEqual(self.counts(url), (1, 1))

    def test_delete_batch_partial_failure(self):
        url = self.create()
        for i in range(3):
            self.send(url, "m%d" % i)
        msgs = self.receive(url, MaxNumberOfMessages=3, VisibilityTimeout=60)
        self.assertEqual(len(msgs), 3)
        res = self.ok("DeleteMessageBatch", {"QueueUrl": url, "Entries": [
            {"Id": "one", "ReceiptHandle": msgs[0]["ReceiptHandle"]},
            {"Id": "two", "ReceiptHandle": msgs[1]["ReceiptHandle"]},
            {"Id": "bad", "ReceiptHandle": "garbage"},
        ]})
        self.assertEqual(sorted(e["Id"] for e in res["Successful"]), ["one", "two"])
        self.assertEqual(len(res["Failed"]), 1)
        failed = res["Failed"][0]
        self.assertEqual((failed["Id"], failed["Code"], failed["SenderFault"]),
                         ("bad", "ReceiptHandleIsInvalid", True))
        self.assertEqual(self.counts(url), (0, 1))
        h = msgs[2]["ReceiptHandle"]
        self.assert_error(self.sqs("DeleteMessageBatch", {"QueueUrl": url, "Entries": []}),
                          400, "EmptyBatchRequest")
        self.assert_error(self.sqs("DeleteMessageBatch", {"QueueUrl": url, "Entries": [
            {"Id": "x%d" % i, "ReceiptHandle": h} for i in range(11)]}),
            400, "TooManyEntriesInBatchRequest")
        self.assert_error(self.sqs("DeleteMessageBatch", {"QueueUrl": url, "Entries": [
            {"Id": "same", "ReceiptHandle": h}, {"Id": "same", "ReceiptHandle": h}]}),
            400, "BatchEntryIdsNotDistinct")
        self.assert_error(self.sqs("DeleteMessageBatch", {"QueueUrl": url, "Entries": [
            {"Id": "no spaces", "ReceiptHandle": h}]}), 400, "InvalidBatchEntryId")
        self.assertEqual(self.counts(url), (0, 1), "a rejected batch deleted something")

    def test_entry_fault_on_the_service_side(self):
        url = self.create()
        for i in range(2):
            self.send(url, "m%d" % i)
        msgs = self.receive(url, MaxNumberOfMessages=2, VisibilityTimeout=60)
        st, _ = self.fa.control("POST", "/_fake/sqs/config", {"entry_error_count": 1})
        self.assertEqual(st, 200)
        entries = [{"Id": "e%d" % i, "ReceiptHandle": m["ReceiptHandle"]}
                   for i, m in enumerate(msgs)]
        res = self.ok("DeleteMessageBatch", {"QueueUrl": url, "Entries": entries})
        self.assertEqual([e["Id"] for e in res["Successful"]], ["e1"])
        self.assertEqual([(e["Id"], e["Code"], e["SenderFault"]) for e in res["Failed"]],
                         [("e0", "InternalError", False)])
        self.assertEqual(self.counts(url), (0, 1), "the failed entry was not applied")
        res = self.ok("DeleteMessageBatch", {"QueueUrl": url, "Entries": entries[:1]})
        self.assertEqual([e["Id"] for e in res["Successful"]], ["e0"])
        self.assertEqual(self.counts(url), (0, 0))

    def test_batch_entry_ids(self):
        url = self.create()
        self.send(url, "m")
        h = self.receive(url, VisibilityTimeout=60)[0]["ReceiptHandle"]
        for bad in ("x" * 81, "id\n", "\u00efd", "a.b", ""):
            with self.subTest(id=bad):
                self.assert_error(self.sqs("DeleteMessageBatch", {"QueueUrl": url, "Entries": [
                    {"Id": bad, "ReceiptHandle": h}]}), 400, "InvalidBatchEntryId")
        self.assert_error(self.sqs("ChangeMessageVisibilityBatch", {"QueueUrl": url, "Entries": [
            {"Id": "a-1", "ReceiptHandle": h, "VisibilityTimeout": 5},
            {"Id": "a-1", "ReceiptHandle": h, "VisibilityTimeout": 5}]}),
            400, "BatchEntryIdsNotDistinct")
        self.assert_error(self.sqs("ChangeMessageVisibilityBatch", {"QueueUrl": url}),
                          400, "EmptyBatchRequest")
        self.assertEqual(self.counts(url), (0, 1))
        res = self.ok("DeleteMessageBatch", {"QueueUrl": url, "Entries": [
            {"Id": "A_z-" + "9" * 76, "ReceiptHandle": h}]})
        self.assertEqual(len(res["Successful"]), 1)
        self.assertEqual(self.counts(url), (0, 0))
        self.assert_error(self.sqs("CreateQueue", {"QueueName": _name("q") + "\n"}),
                          400, "InvalidParameterValue")

    def test_visibility_of_a_message_no_longer_in_flight(self):
        url = self.create()
        self.send(url, "m")
        m = self.receive(url, VisibilityTimeout=1)[0]
        time.sleep(1.3)
        r = self.sqs("ChangeMessageVisibility", {"QueueUrl": url, "ReceiptHandle": m["ReceiptHandle"],
                                                 "VisibilityTimeout": 30})
        self.assert_error(r, 400, "MessageNotInflight")
        self.assertEqual(r.headers.get("x-amzn-query-error"),
                         "AWS.SimpleQueueService.MessageNotInflight;Sender")
        self.assertEqual(self.counts(url), (1, 0), "the failed change hid the message")

    def test_visibility_is_capped_at_twelve_hours_from_the_receive(self):
        url = self.create()
        self.send(url, "m")
        h = self.receive(url, VisibilityTimeout=60)[0]["ReceiptHandle"]
        time.sleep(1.1)
        r = self.sqs("ChangeMessageVisibility", {"QueueUrl": url, "ReceiptHandle": h,
                                                 "VisibilityTimeout": 43200})
        self.assert_error(r, 400, "InvalidParameterValue")
        self.assertIn("43200", r.error_message())
        res = self.ok("ChangeMessageVisibilityBatch", {"QueueUrl": url, "Entries": [
            {"Id": "0", "ReceiptHandle": h, "VisibilityTimeout": 43200}]})
        self.assertEqual([(e["Id"], e["Code"]) for e in res["Failed"]],
                         [("0", "InvalidParameterValue")])
        self.ok("ChangeMessageVisibility", {"QueueUrl": url, "ReceiptHandle": h,
                                            "VisibilityTimeout": 43000})

    def test_dead_letter_redrive(self):
        dlq_name = _name("dlq")
        dlq = self.create(dlq_name)
        dlq_arn = "arn:aws:sqs:%s:%s:%s" % (self.fa.region, self.fa.partner_account, dlq_name)
        self.assert_error(self.sqs("CreateQueue", {"QueueName": _name("src"), "Attributes": {
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn + "-missing",
                                         "maxReceiveCount": 2})}}),
            400, "InvalidParameterValue")
        self.assert_error(self.sqs("CreateQueue", {"QueueName": _name("src"), "Attributes": {
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn,
                                         "maxReceiveCount": 0})}}),
            400, "InvalidParameterValue")
        name = _name("src")
        src = self.create(name, RedrivePolicy=json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}))
        mid = self.send(src, "poison")["MessageId"]
        for n in (1, 2):
            got = self.receive(src, VisibilityTimeout=0,
                               MessageSystemAttributeNames=["ApproximateReceiveCount"])
            self.assertEqual(len(got), 1)
            self.assertEqual(got[0]["Attributes"]["ApproximateReceiveCount"], str(n))
        self.assertEqual(self.receive(src), [], "received beyond maxReceiveCount")
        self.assertEqual(self.counts(src), (0, 0))
        moved = self.receive(dlq)
        self.assertEqual([(m["MessageId"], m["Body"]) for m in moved], [(mid, "poison")])
        st, snap = self.fa.control("GET", "/_fake/sqs/queues/" + name)
        self.assertEqual(st, 200, snap)
        self.assertEqual(snap["moved_to_dlq"], 1)

    def test_message_body_limits(self):
        url = self.create()
        self.send(url, "x" * 262144)
        self.send(url, "tab\tnewline\n\u00e9\U0001F600")
        r = self.sqs("SendMessage", {"QueueUrl": url, "MessageBody": "x" * 262145})
        self.assert_error(r, 400, "InvalidParameterValue")
        self.assertIn("262144", r.error_message())
        self.assert_error(self.sqs("SendMessage", {"QueueUrl": url, "MessageBody": "bad\x01"}),
                          400, "InvalidMessageContents")
        self.assert_error(self.sqs("SendMessage", {"QueueUrl": url, "MessageBody": "\ufffe"}),
                          400, "InvalidMessageContents")
        self.assert_error(self.sqs("SendMessage", {"QueueUrl": url, "MessageBody": ""}),
                          400, "MissingParameter")
        bodies = sorted(m["Body"] for m in self.receive(url, MaxNumberOfMessages=10))
        self.assertEqual(bodies, sorted(["x" * 262144, "tab\tnewline\n\u00e9\U0001F600"]))

    def test_protocol_is_json_only(self):
        url = self.create()
        form = self.fa.call("sqs", "POST", "/",
                            headers={"Content-Type": "application/x-www-form-urlencoded"},
                            body="Action=SendMessage&QueueUrl=%s&MessageBody=x" % url)
        self.assertEqual(form.status, 400, form)
        self.assertTrue(form.headers["content-type"].startswith(JSON_CT))
        self.assertIsNotNone(form.error_code())
        r = self.sqs("SendMessage", {"QueueUrl": url, "MessageBody": "x"},
                     headers={"Content-Type": JSON_CT})
        self.assertEqual(r.status, 400, r)
        self.assertIsNotNone(r.error_code())
        r = self.sqs("NoSuchOperation", {"QueueUrl": url})
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.error_code(), "UnknownOperationException")
        self.assertEqual(self.counts(url), (0, 0))

    def test_wrong_signature_rejected(self):
        url = self.create()
        akid = self.fa.creds[0]
        r = self.sqs("SendMessage", {"QueueUrl": url, "MessageBody": "forged"},
                     creds=(akid, "not-the-secret"))
        self.assertEqual(r.status, 403, r)
        self.assertEqual(r.error_code(), "SignatureDoesNotMatch")
        unsigned = self.fa.request("POST", "/", json.dumps(
            {"QueueUrl": url, "MessageBody": "anon"}).encode(),
            {"Content-Type": JSON_CT, "X-Amz-Target": "AmazonSQS.SendMessage"})
        self.assertEqual(unsigned.status, 403, unsigned)
        self.assertEqual(self.counts(url), (0, 0))

    def test_other_account_cannot_use_queue(self):
        name = _name("private")
        url = self.create(name)
        self.send(url, "mine")
        creds = (self.other["access_key_id"], self.other["secret_access_key"])
        for op, body in (("SendMessage", {"QueueUrl": url, "MessageBody": "theirs"}),
                         ("ReceiveMessage", {"QueueUrl": url}),
                         ("GetQueueAttributes", {"QueueUrl": url, "AttributeNames": ["All"]}),
                         ("PurgeQueue", {"QueueUrl": url}),
                         ("GetQueueUrl", {"QueueName": name,
                                          "QueueOwnerAWSAccountId": self.fa.partner_account})):
            with self.subTest(op=op):
                self.assert_error(self.sqs(op, body, creds=creds), 403, "AccessDenied")
        # the other account's own queue of that name is a different queue
        theirs = self.ok("CreateQueue", {"QueueName": name}, creds=creds)["QueueUrl"]
        self.assertNotEqual(theirs, url)
        self.assertEqual(self.counts(url), (1, 0))

    def test_control_counts_and_purge(self):
        name = _name("ctl")
        url = self.create(name)
        for i in range(3):
            self.send(url, "m%d" % i)
        self.receive(url, VisibilityTimeout=60)
        st, snap = self.fa.control("GET", "/_fake/sqs/queues/" + name)
        self.assertEqual(st, 200, snap)
        self.assertEqual((snap["visible"], snap["in_flight"]), (2, 1))
        self.assertEqual(snap["url"], url)
        st, _ = self.fa.control("POST", "/_fake/sqs/queues/%s/purge" % name)
        self.assertEqual(st, 200)
        self.assertEqual(self.counts(url), (0, 0))
        st, _ = self.fa.control("GET", "/_fake/sqs/queues/" + _name("absent"))
        self.assertEqual(st, 404)


if __name__ == "__main__":
    unittest.main()
