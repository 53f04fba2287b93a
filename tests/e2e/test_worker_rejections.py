"""xacctd end to end, the requests it must refuse (SPEC §4 steps 1-5): each
test asserts the CloudFormation answer (or that none was sent), the Redis
state and the dead set."""
import json
import time
import unittest

from harness import SharedWorkerTest, wait_for


class RejectionTest(SharedWorkerTest):
    env_options = {"propagation_timeout": 10}

    @classmethod
    def prepare(cls):
        # A topic that is subscribed to the queue but not in sns.topic_arns.
        cls.rogue = cls.env.create_topic(cls.env.regions[0], "rogue")
        cls.env.subscribe(cls.rogue, cls.env.regions[0])

    def stack(self, account, template, name="xacct-onboarding"):
        env = self.env
        return env.wait_stack(env.create_stack(account, template, name=name)["stack_id"])

    def first_answer(self, stack):
        return json.loads(stack["answers"][0]["body"])

    def test_insecure_role_is_rejected_and_rollback_offboards_nothing(self):
        env, acct = self.env, "300000000001"
        ext = env.seed_customer(acct)
        s = self.stack(acct, env.template(acct, ext, insecure=True))
        self.assertEqual(s["status"], "ROLLBACK_COMPLETE")
        first = self.first_answer(s)
        self.assertEqual(first["Status"], "FAILED")
        self.assertIn("without the external ID", first["Reason"])
        self.assertNotEqual(first["PhysicalResourceId"], f"xacct-{acct}")
        # The rollback Delete is answered SUCCESS and offboards nothing.
        self.assertEqual(env.last_answer(s)["Status"], "SUCCESS")
        c = env.customer(acct)
        self.assertEqual(c["state"], "rejected")
        self.assertIn("without the external ID", c["last_error"])
        self.assertEqual(env.jobs_for(acct), [])

    def test_external_id_mismatch(self):
        env, acct = self.env, "300000000002"
        ext = env.seed_customer(acct)
        s = self.stack(acct, env.template(acct, "guessed-" + ext[8:]))
        self.assertEqual(s["status"], "ROLLBACK_COMPLETE")
        first = self.first_answer(s)
        self.assertEqual(first["Status"], "FAILED")
        self.assertIn("ExternalID does not match", first["Reason"])
        self.assertNotIn(ext, first["Reason"])
        self.assertEqual(env.customer(acct)["state"], "pending")

    def test_account_never_onboarded(self):
        env, acct = self.env, "300000000003"
        env.allow_publish(env.topics[env.regions[0]][0], acct)
        s = self.stack(acct, env.template(acct, "00000000-0000-4000-8000-000000000000"))
        first = self.first_answer(s)
        self.assertEqual(first["Status"], "FAILED")
        self.assertIn("not been onboarded", first["Reason"])
        self.assertEqual(env.customer(acct), {})

    def test_account_id_is_not_the_stack_account(self):
        env, acct = self.env, "300000000004"
        ext = env.seed_customer(acct)
        t = env.template(acct, ext)
        t["Resources"]["PhoneHome"]["Properties"]["AccountID"] = "999988887777"
        s = self.stack(acct, t)
        first = self.first_answer(s)
        self.assertEqual(first["Status"], "FAILED")
        self.assertIn("is not the account", first["Reason"])
        self.assertEqual(env.customer(acct)["state"], "pending")

    def test_role_arn_in_another_account(self):
        env, acct = self.env, "300000000005"
        ext = env.seed_customer(acct)
        t = env.template(acct, ext)
        t["Resources"]["PhoneHome"]["Properties"]["RoleArn"] = \
            "arn:aws:iam::999988887777:role/XacctAccess"
        s = self.stack(acct, t)
        first = self.first_answer(s)
        self.assertEqual(first["Status"], "FAILED")
        self.assertIn("not an IAM role ARN in account", first["Reason"])
        self.assertEqual(env.customer(acct)["state"], "pending")

    def test_wrong_topic_goes_to_dead_set_unanswered(self):
        env, acct = self.env, "300000000006"
        ext = env.seed_customer(acct)
        env.allow_publish(self.rogue, acct)
        before = len(env.answers())
        env.create_stack(acct, env.template(acct, ext, topic_arn=self.rogue), name="rogue-topic")
        d = wait_for(lambda: next((x for x in env.dead() if "TopicArn" in x["reason"]), None),
                     30, "the rogue-topic message in the dead set")
        self.assertIn("sns.topic_arns", d["reason"])
        env.wait_queue_empty()
        self.assertEqual(len([a for a in env.answers()[before:]
                              if a["stack_id"].split("/")[1] == "rogue-topic"]), 0)
        self.assertEqual(env.customer(acct)["state"], "pending")

    def test_forged_delete_from_another_account_offboards_nothing(self):
        """Every onboarded account may publish to the topic: one that learnt
        another customer's StackId publishes a Delete for it. Without the
        victim's ExternalID it is answered SUCCESS, changes nothing and is
        audited."""
        import msgpack_check
        env, victim, attacker = self.env, "300000000010", "300000000011"
        v_ext = env.seed_customer(victim)
        a_ext = env.seed_customer(attacker)
        s = self.stack(victim, env.template(victim, v_ext))
        self.assertEqual(s["status"], "CREATE_COMPLETE", s.get("status_reason"))
        self.assertEqual(env.customer(victim)["state"], "active")
        env.wait_queue_empty()
        events_before = len(env.r.xrange(f"{env.PREFIX}events:{victim}"))

        topic = env.customer(attacker)["topic_arn"]
        minted = env.ctl("POST", "/_fake/s3/response-urls", {
            "stack_id": s["stack_id"], "logical_id": "PhoneHome",
            "request_id": "forged-delete-1", "request_type": "Delete"})
        for ext in (a_ext, None):
            props = {"ServiceToken": topic, "AccountID": victim,
                     "RoleArn": f"arn:aws:iam::{victim}:role/XacctAccess"}
            if ext is not None:
                props["ExternalID"] = ext
            env.publish_as(attacker, topic, json.dumps({
                "RequestType": "Delete", "ResponseURL": minted["url"],
                "StackId": s["stack_id"], "RequestId": f"forged-delete-{ext is None}",
                "LogicalResourceId": "PhoneHome", "ResourceType": "Custom::PhoneHome",
                "PhysicalResourceId": f"xacct-{victim}", "ResourceProperties": props}))
        answers = wait_for(lambda: (lambda a: a if len(a) == 2 else None)(
            [json.loads(a["body"]) for a in env.answers()
             if a["body"] and "forged-delete-" in a["body"]]), 30, "two answers to forged Deletes")
        for ans in answers:
            self.assertEqual(ans["Status"], "SUCCESS")
        env.wait_queue_empty()
        c = env.customer(victim)
        self.assertEqual(c["state"], "active")
        self.assertEqual(c["stack_id"], s["stack_id"])
        self.assertEqual(env.jobs_for(victim), [])
        new = [msgpack_check.decode_map(f[b"e"])
               for _, f in env.r.xrange(f"{env.PREFIX}events:{victim}")][events_before:]
        self.assertEqual(len(new), 2, new)
        for e in new:
            self.assertEqual(e.get("outcome"), "refused", e)
            self.assertIn("ExternalID", e.get("reason", ""))
            self.assertNotIn(v_ext, json.dumps(e))
            self.assertNotIn(a_ext, json.dumps(e))

        # The real stack's own Delete still offboards the customer.
        env.delete_stack(s["stack_id"])
        s = env.wait_stack(s["stack_id"])
        self.assertEqual(s["status"], "DELETE_COMPLETE")
        self.assertEqual(env.customer(victim)["state"], "offboarding")
        self.assertEqual(len(env.jobs_for(victim)), 1)

    def test_forged_create_naming_the_live_role_moves_nothing(self):
        """A Create from a stack that is not the customer's, naming its live
        role (with its ExternalID: however that leaked), is refused; the
        customer stays on its own stack, whose Delete still offboards it."""
        env, victim, attacker = self.env, "300000000020", "300000000021"
        v_ext = env.seed_customer(victim)
        env.seed_customer(attacker)
        s = self.stack(victim, env.template(victim, v_ext), name="victim-stack")
        self.assertEqual(s["status"], "CREATE_COMPLETE", s.get("status_reason"))
        live = env.customer(victim)
        env.wait_queue_empty()
        made_up = s["stack_id"].replace("victim-stack", "made-up").rsplit("/", 1)[0] + \
            "/11111111-2222-4333-8444-555555555555"
        topic = env.customer(attacker)["topic_arn"]
        minted = env.ctl("POST", "/_fake/s3/response-urls", {
            "stack_id": made_up, "logical_id": "PhoneHome",
            "request_id": "forged-create-1", "request_type": "Create"})
        env.publish_as(attacker, topic, json.dumps({
            "RequestType": "Create", "ResponseURL": minted["url"],
            "StackId": made_up, "RequestId": "forged-create-1",
            "LogicalResourceId": "PhoneHome", "ResourceType": "Custom::PhoneHome",
            "ResourceProperties": {"ServiceToken": topic, "AccountID": victim,
                                   "RoleArn": live["role_arn"], "ExternalID": v_ext}}))
        ans = wait_for(lambda: next((json.loads(a["body"]) for a in env.answers()
                                     if a["body"] and "forged-create-1" in a["body"]), None),
                       60, "the forged Create's answer")
        self.assertEqual(ans["Status"], "FAILED")
        self.assertIn("already connected through stack", ans["Reason"])
        env.wait_queue_empty()
        c = env.customer(victim)
        self.assertEqual((c["state"], c["stack_id"], c["role_arn"]),
                         ("active", s["stack_id"], live["role_arn"]))
        env.delete_stack(s["stack_id"])
        s = env.wait_stack(s["stack_id"])
        self.assertEqual(s["status"], "DELETE_COMPLETE")
        self.assertEqual(env.customer(victim)["state"], "offboarding")
        self.assertEqual(len(env.jobs_for(victim)), 1)

    def envelope(self, **overrides):
        e = {"Type": "Notification", "MessageId": "00000000-1111-4222-8333-444444444444",
             "TopicArn": self.env.topics[self.env.regions[0]][0],
             "Subject": "AWS CloudFormation custom resource request",
             "Message": json.dumps({"RequestType": "Create"}),
             "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
             "SignatureVersion": "1", "Signature": "AAAA" * 64,
             "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0.pem"}
        e.update(overrides)
        return json.dumps(e)

    def test_forged_signature(self):
        env = self.env
        # The emulator's real signing certificate, but a made-up signature.
        mid = env.send_raw(self.envelope(SigningCertURL=env.signing_cert_url()))
        d = env.wait_dead(mid)
        self.assertIn("SNS signature", d["reason"])

    def test_signing_cert_on_disallowed_host(self):
        env = self.env
        mid = env.send_raw(self.envelope(
            SigningCertURL="https://sns.us-east-1.amazonaws.com.evil.example/cert.pem"))
        d = env.wait_dead(mid)
        self.assertIn("SigningCertURL not allowed", d["reason"])

    def test_response_url_on_disallowed_host_or_ip(self):
        env, acct = self.env, "300000000007"
        ext = env.seed_customer(acct)
        topic = env.topics[env.regions[0]][0]
        before = len(env.answers())
        for url in ("https://169.254.169.254/latest/meta-data/", "https://evil.example.com/r",
                    f"http://127.0.0.1:{env.https_port}/r"):
            req = {"RequestType": "Create", "ResponseURL": url,
                   "StackId": f"arn:aws:cloudformation:us-east-1:{acct}:stack/s/1",
                   "RequestId": "r-" + url[-6:], "LogicalResourceId": "PhoneHome",
                   "ResourceType": "Custom::PhoneHome",
                   "ResourceProperties": {"ServiceToken": topic, "AccountID": acct,
                                          "RoleArn": f"arn:aws:iam::{acct}:role/R",
                                          "ExternalID": ext}}
            env.publish_as(acct, topic, json.dumps(req))
        wait_for(lambda: len([d for d in env.dead() if "ResponseURL" in d["reason"]]) >= 3, 30,
                 "three refused ResponseURLs in the dead set")
        self.assertEqual(len(env.answers()), before)
        self.assertEqual(env.customer(acct)["state"], "pending")


if __name__ == "__main__":
    unittest.main()
