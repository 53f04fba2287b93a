"""xacctd end to end, the SNS side of SPEC §3 and §4 steps 1-2: messages
signed with SignatureVersion 2 (SHA256withRSA), a signing certificate the
SNS host cannot serve for the moment or does not have, a ConfirmSubscription
that SNS fails or refuses, an UnsubscribeConfirmation,
a SubscriptionConfirmation from a topic that is not ours, and
sns.verify_signatures = false."""
import json
import time
import unittest
import uuid

from harness import Env, SharedWorkerTest, wait_for


def queued(env, pred):
    """The first queued message (the emulator's view) whose body passes pred."""
    return next((m for m in env.queue()["messages"] if pred(m["body"])), None)


def unsigned_sns_calls(env, path="/"):
    """Unsigned requests to SNS at `path` (SubscribeURL / UnsubscribeURL visits)."""
    return [r for r in env.fa.records("request")
            if r.get("service") == "sns" and r.get("unsigned") and r.get("path") == path]


class SignatureVersion2Test(unittest.TestCase):
    def test_sha256_signed_messages(self):
        env = Env(propagation_timeout=20).start()
        try:
            region = env.regions[0]
            topic = env.topics[region][0]
            env.sns(region, Action="SetTopicAttributes", TopicArn=topic,
                    AttributeName="SignatureVersion", AttributeValue="2")
            acct = "830000000001"
            ext = env.seed_customer(acct)
            s = env.create_stack(acct, env.template(acct, ext))
            # The request is on the queue, signed with version 2, before any
            # worker runs.
            m = wait_for(lambda: queued(env, lambda b: s["stack_id"] in b), 30, "the request")
            envelope = json.loads(m["body"])
            self.assertEqual(envelope["SignatureVersion"], "2")
            # The same message claiming version 1 (SHA1withRSA) must not verify.
            forged = dict(envelope, SignatureVersion="1")
            forged_id = env.send_raw(json.dumps(forged))
            w = env.start_worker()
            s = env.wait_stack(s["stack_id"])
            self.assertEqual(s["status"], "CREATE_COMPLETE", s.get("status_reason"))
            self.assertEqual(env.customer(acct)["state"], "active")
            d = env.wait_dead(forged_id)
            self.assertIn("signature does not verify", d["reason"])
            self.assertEqual(env.stop_worker(w), 0, env.worker_log(w)[-3000:])
        finally:
            env.stop()


class SigningCertificateFetchTest(unittest.TestCase):
    def test_unavailable_certificate_is_retried_a_missing_one_is_dead(self):
        """A signing certificate the SNS host cannot serve for the moment
        (5xx) leaves its message waiting and retried, nothing cached; one
        the host does not have (404: a SigningCertURL altered in transit,
        as it is outside the signed string) sends its message to the dead
        set, answered to no one."""
        env = Env(propagation_timeout=20).start()
        self.addCleanup(env.stop)
        acct = "830000000003"
        ext = env.seed_customer(acct)
        s = env.create_stack(acct, env.template(acct, ext))
        m = wait_for(lambda: queued(env, lambda b: s["stack_id"] in b), 30, "the request")
        envelope = json.loads(m["body"])
        env.ctl("POST", "/_fake/faults", {"service": "sns", "error_rate": 1.0})
        w = env.start_worker()
        wait_for(lambda: b"signing certificate fetch returned HTTP 50" in env.worker_log(w), 30,
                 "a retry for the certificate fetch")
        self.assertIn(b"event=message.retry", env.worker_log(w))
        self.assertEqual(env.customer(acct)["state"], "pending")
        self.assertEqual(env.dead(), [])
        env.ctl("DELETE", "/_fake/faults?service=sns")
        s = env.wait_stack(s["stack_id"])
        self.assertEqual(s["status"], "CREATE_COMPLETE", s.get("status_reason"))
        self.assertEqual(env.customer(acct)["state"], "active")

        # The same signed message pointing at a certificate the host lacks.
        base = envelope["SigningCertURL"].rsplit("/", 1)[0]
        forged = dict(envelope, SigningCertURL=f"{base}/SimpleNotificationService-{'0' * 32}.pem")
        forged_id = env.send_raw(json.dumps(forged))
        d = env.wait_dead(forged_id)
        self.assertIn("signing certificate fetch returned HTTP 404", d["reason"])
        self.assertEqual(env.customer(acct)["state"], "active")
        self.assertEqual(env.stop_worker(w), 0, env.worker_log(w)[-3000:])


    def test_an_outage_past_max_receives_ends_in_the_dead_set(self):
        """A certificate fetch still failing after five calls leaves its
        message to SQS, so it counts its receives instead of holding a place
        in flight for ever; one delivered past queue.max_receives that still
        fails goes to the dead set."""
        env = Env(visibility_timeout=2, max_receives=2).start()
        self.addCleanup(env.stop)
        acct = "830000000004"
        ext = env.seed_customer(acct)
        s = env.create_stack(acct, env.template(acct, ext))
        m = wait_for(lambda: queued(env, lambda b: s["stack_id"] in b), 30, "the request")
        env.ctl("POST", "/_fake/faults", {"service": "sns", "error_rate": 1.0})
        w = env.start_worker()
        d = env.wait_dead(m["id"], timeout=180)
        self.assertIn("signing certificate", d["reason"])
        log = env.worker_log(w)
        self.assertGreaterEqual(log.count(b"event=sns.verification_deferred"), 2, log[-3000:])
        self.assertEqual(env.customer(acct)["state"], "pending")
        self.assertEqual(env.stop_worker(w), 0, env.worker_log(w)[-3000:])


class ConfirmSubscriptionFailuresTest(unittest.TestCase):
    """A SubscriptionConfirmation from one of our topics whose
    ConfirmSubscription fails. Signatures are not checked here, so the
    ConfirmSubscription is the only request to SNS a confirmation makes."""

    def setUp(self):
        self.env = Env(visibility_timeout=2).start()
        self.addCleanup(self.env.stop)
        self.region = self.env.regions[0]

    def queue_confirmation(self):
        """A new topic of ours, subscribed with confirmation: its
        SubscriptionConfirmation waits on the queue for a worker."""
        env = self.env
        topic = env.create_topic(self.region, "confirm-" + uuid.uuid4().hex[:6])
        env.topics[self.region].append(topic)
        env.write_config(sns__verify_signatures="false")
        env.ctl("POST", "/_fake/sns/confirmation-mode", {"mode": "confirm"})
        try:
            env.subscribe(topic, self.region)
        finally:
            env.ctl("POST", "/_fake/sns/confirmation-mode", {"mode": "immediate"})
        wait_for(lambda: queued(env, lambda b: "SubscriptionConfirmation" in b and topic in b),
                 30, "the SubscriptionConfirmation")
        return topic

    def confirmed(self, topic):
        import urllib.parse
        t = self.env.ctl("GET", "/_fake/sns/topics/" + urllib.parse.quote(topic, safe=""))
        return [s["confirmed"] for s in t["subscriptions"]]

    def start_with_sns_failing(self, **fault):
        """A queued confirmation, SNS failing as fault says, a worker."""
        topic = self.queue_confirmation()
        self.env.ctl("POST", "/_fake/faults", dict(fault, service="sns", error_rate=1.0))
        return topic, self.env.start_worker()

    def test_failures_that_may_pass_are_retried(self):
        env = self.env
        # One call makes five attempts (the AWS client's own retries): seven
        # failures fail the first call and two attempts of the second.
        topic, w = self.start_with_sns_failing(count=7)
        wait_for(lambda: self.confirmed(topic) == [True], 30, "the subscription confirmed")
        self.assertEqual(len(unsigned_sns_calls(env)), 8)
        log = env.worker_log(w)
        self.assertEqual(log.count(b"event=message.retry"), 1, log[-3000:])
        self.assertIn(b"ConfirmSubscription", log)
        self.assertIn(b"sns.subscription_confirmed", log)
        env.wait_queue_empty()
        self.assertEqual(env.dead(), [])
        self.assertEqual(env.stop_worker(w), 0)

    def test_an_outage_longer_than_one_delivery_leaves_the_message_to_sqs(self):
        env = self.env
        topic, w = self.start_with_sns_failing()
        wait_for(lambda: b"sns.confirmation_deferred" in env.worker_log(w), 60,
                 "the confirmation left for SQS to deliver again")
        self.assertEqual(self.confirmed(topic), [False])
        self.assertEqual(env.dead(), [])
        env.ctl("DELETE", "/_fake/faults?service=sns")
        wait_for(lambda: self.confirmed(topic) == [True], 60, "the subscription confirmed")
        env.wait_queue_empty()
        self.assertEqual(env.dead(), [])
        self.assertEqual(env.stop_worker(w), 0)

    def test_a_token_sns_refuses_is_dead_after_one_try(self):
        env = self.env
        topic = self.queue_confirmation()
        real = json.loads(queued(env, lambda b: "SubscriptionConfirmation" in b and topic in b)["body"])
        bogus = "0" * len(real["Token"])
        forged = dict(real, Token=bogus,
                      SubscribeURL=real["SubscribeURL"].replace(real["Token"], bogus))
        forged_id = env.send_raw(json.dumps(forged))
        w = env.start_worker()
        d = env.wait_dead(forged_id)
        self.assertIn("SubscribeURL refused the confirmation", d["reason"])
        self.assertIn("Invalid token", d["reason"])
        wait_for(lambda: self.confirmed(topic) == [True], 30, "the real one confirmed")
        env.wait_queue_empty()
        self.assertEqual(len(unsigned_sns_calls(env)), 2)  # one each, no retry
        self.assertNotIn(b"event=message.retry", env.worker_log(w))
        self.assertEqual(env.stop_worker(w), 0)


class ConfirmationsTest(SharedWorkerTest):
    def test_unsubscribe_confirmation_is_acknowledged_and_nothing_else(self):
        env = self.env
        topic = env.topics[env.regions[0]][0]
        visits = len(unsigned_sns_calls(env))
        sent = env.queue()["sent"]
        r = env.ctl("POST", "/_fake/sns/unsubscribe-confirmation", {"topic_arn": topic})
        self.assertEqual(r["delivered"], 1)
        wait_for(lambda: b"sns.unsubscribed" in env.worker_log(self.worker), 30,
                 "the UnsubscribeConfirmation to be handled")
        env.wait_queue_empty()
        self.assertEqual(env.queue()["sent"], sent + 1)
        # Acknowledged, not dead, and its SubscribeURL (which would undo the
        # unsubscription) never visited.
        self.assertFalse([d for d in env.dead() if "Unsubscribe" in json.dumps(d)])
        self.assertEqual(len(unsigned_sns_calls(env)), visits)

    def test_subscription_confirmation_from_a_foreign_topic_is_not_confirmed(self):
        env = self.env
        region = env.regions[0]
        foreign = env.create_topic(region, "not-ours-" + uuid.uuid4().hex[:6])
        visits = len(unsigned_sns_calls(env))
        env.ctl("POST", "/_fake/sns/confirmation-mode", {"mode": "confirm"})
        try:
            env.subscribe(foreign, region)
        finally:
            env.ctl("POST", "/_fake/sns/confirmation-mode", {"mode": "immediate"})
        d = wait_for(lambda: next((d for d in env.dead()
                                   if "sns.topic_arns" in d.get("reason", "")), None), 30,
                     "the confirmation in the dead set")
        self.assertIn("TopicArn is not in sns.topic_arns", d["reason"])
        import urllib.parse
        t = env.ctl("GET", "/_fake/sns/topics/" + urllib.parse.quote(foreign, safe=""))
        self.assertEqual([s["confirmed"] for s in t["subscriptions"]], [False])
        self.assertEqual(len(unsigned_sns_calls(env)), visits)
        self.assertNotIn(b"sns.subscription_confirmed", env.worker_log(self.worker))


class LargeMessagesTest(unittest.TestCase):
    def test_large_messages_do_not_block_a_receive(self):
        """Any account allowed to publish can put large bodies on the queue;
        ten of them, escaped again in one ReceiveMessage answer, are more than
        4 MiB. The receive still goes through and each is dealt with (not an
        SNS envelope: the dead set), instead of the batch coming back until
        its receive counts run out."""
        env = Env().start()
        self.addCleanup(env.stop)
        ids = [env.send_raw('"' * 230000 + str(i)) for i in range(10)]
        worker = env.start_worker()
        for mid in ids:
            env.wait_dead(mid, timeout=90)
        env.wait_queue_empty()
        self.assertNotIn(b"exceeds", env.worker_log(worker))
        self.assertEqual(env.stop_worker(worker), 0)


class VerifySignaturesOffTest(unittest.TestCase):
    def test_unverified_envelopes_are_processed_topics_still_checked(self):
        env = Env().start()
        try:
            env.write_config(sns__verify_signatures="false")
            w = env.start_worker()
            region = env.regions[0]
            topic = env.topics[region][0]
            acct = "830000000002"
            stack_id = f"arn:aws:cloudformation:{region}:{acct}:stack/s/{uuid.uuid4()}"
            request_id = str(uuid.uuid4())
            url = env.ctl("POST", "/_fake/s3/response-urls", {
                "stack_id": stack_id, "logical_id": "PhoneHome", "request_id": request_id})["url"]
            req = {"RequestType": "Create", "ResponseURL": url, "StackId": stack_id,
                   "RequestId": request_id, "LogicalResourceId": "PhoneHome",
                   "ResourceType": "Custom::PhoneHome",
                   "ResourceProperties": {"ServiceToken": topic, "AccountID": acct,
                                          "RoleArn": f"arn:aws:iam::{acct}:role/R",
                                          "ExternalID": "x"}}

            def envelope(topic_arn):
                return json.dumps({
                    "Type": "Notification", "MessageId": str(uuid.uuid4()), "TopicArn": topic_arn,
                    "Subject": "AWS CloudFormation custom resource request",
                    "Message": json.dumps(req),
                    "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                    "SignatureVersion": "1", "Signature": "AAAA" * 64,
                    "SigningCertURL": env.signing_cert_url()})
            # A made-up signature is not checked: the request is answered.
            env.send_raw(envelope(topic))
            a = wait_for(lambda: next((a for a in env.answers()
                                       if a.get("request_id") == request_id), None), 30,
                         "the answer")
            self.assertEqual(a["status"], "FAILED")
            self.assertIn("not been onboarded", a["reason"])
            # The topic allow-list still holds.
            foreign = f"arn:aws:sns:{region}:{Env.PARTNER}:someone-else"
            mid = env.send_raw(envelope(foreign))
            self.assertIn("TopicArn is not in sns.topic_arns", env.wait_dead(mid)["reason"])
            # No signing certificate was fetched.
            self.assertFalse([r for r in env.fa.records("request") if r.get("service") == "sns"
                              and r.get("path", "").endswith(".pem")])
            env.wait_queue_empty()
            self.assertEqual(env.stop_worker(w), 0, env.worker_log(w)[-3000:])
        finally:
            env.stop()


if __name__ == "__main__":
    unittest.main()
