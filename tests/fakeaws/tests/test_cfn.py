"""The CloudFormation simulator with SNS and SQS, over real sockets: the
request that lands in the queue, answers at the ResponseURL, rollback,
update (in place, replacement, failed) and delete flows.

Run: cd tests/fakeaws && python3 -m unittest -v tests.test_cfn
"""
import json
import time
import unittest
import urllib.parse
import uuid
from urllib.parse import urlsplit

from fakeaws.testing import FakeAWS

FA = None
CUSTOMER_ID = "222233334444"
SUBJECT = "AWS CloudFormation custom resource request"
SQS_HEADERS = {"Content-Type": "application/x-amz-json-1.0"}


def setUpModule():
    global FA
    FA = FakeAWS.start()


def tearDownModule():
    FA.stop()


def template(topic_arn, external_id, role_name=None, extra_props=None, partner="111111111111"):
    role_props = {
        "AssumeRolePolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow",
                           "Principal": {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::%s:root" % partner}},
                           "Action": "sts:AssumeRole",
                           "Condition": {"StringEquals": {"sts:ExternalId": external_id}}}]},
        "Policies": [{"PolicyName": "xacct-read",
                      "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                          {"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}]}}],
    }
    if role_name is not None:
        role_props["RoleName"] = role_name
    props = {"ServiceToken": topic_arn,
             "AccountID": {"Ref": "AWS::AccountId"},
             "RoleArn": {"Fn::GetAtt": ["XacctRole", "Arn"]},
             "ExternalID": external_id,
             "StackName": {"Fn::Join": ["", [{"Ref": "AWS::StackName"}]]},
             "Region": {"Fn::Sub": "${AWS::Region}"},
             "TemplateVersion": 3,
             "Strict": True}
    props.update(extra_props or {})
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "xacct onboarding",
        "Resources": {
            # listed first on purpose: the implicit dependency orders it after the role
            "PhoneHome": {"Type": "Custom::PhoneHome", "Properties": props},
            "XacctRole": {"Type": "AWS::IAM::Role", "Properties": role_props},
        },
    }


class CfnTest(unittest.TestCase):
    def setUp(self):
        self.fa = FA
        self.fa.control("POST", "/_fake/cfn/config", {"response_timeout": 60})
        tag = uuid.uuid4().hex[:8]
        st, q = self.fa.control("POST", "/_fake/sqs/queues", {"name": "xacct-requests-" + tag})
        self.assertEqual(st, 200, q)
        self.queue_url, self.queue_arn = q["url"], q["arn"]
        st, t = self.fa.control("POST", "/_fake/sns/topics", {"name": "xacct-onboarding-" + tag})
        self.assertEqual(st, 200, t)
        self.topic = t["arn"]
        self.sns({"Action": "Subscribe", "TopicArn": self.topic, "Protocol": "sqs",
                  "Endpoint": self.queue_arn})
        self.allow_publish([CUSTOMER_ID])
        self.stack_name = "xacct-onboarding-" + tag
        self.external_id = str(uuid.uuid4())

    # ---------------------------------------------------------------- helpers
    def sns(self, params):
        body = urllib.parse.urlencode(dict(params, Version="2010-03-31"))
        r = self.fa.call("sns", "POST", "/", body=body,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 200, r.text())
        return r

    def allow_publish(self, accounts):
        pol = {"Version": "2008-10-17", "Statement": [
            {"Sid": "owner", "Effect": "Allow", "Principal": {"AWS": "*"},
             "Action": ["SNS:Publish", "SNS:Subscribe", "SNS:SetTopicAttributes",
                        "SNS:GetTopicAttributes"],
             "Resource": self.topic,
             "Condition": {"StringEquals": {"AWS:SourceOwner": self.fa.partner_account}}}]}
        if accounts:
            pol["Statement"].append({"Sid": "xacct-publish-0", "Effect": "Allow",
                                     "Principal": {"AWS": accounts}, "Action": "SNS:Publish",
                                     "Resource": self.topic})
        self.sns({"Action": "SetTopicAttributes", "TopicArn": self.topic,
                  "AttributeName": "Policy", "AttributeValue": json.dumps(pol)})

    def next_request(self, timeout=10):
        """The next CloudFormation request delivered to the queue (deleted from it)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            body = json.dumps({"QueueUrl": self.queue_url, "MaxNumberOfMessages": 1,
                               "WaitTimeSeconds": 1})
            r = self.fa.call("sqs", "POST", "/", body=body,
                             headers=dict(SQS_HEADERS, **{"X-Amz-Target": "AmazonSQS.ReceiveMessage"}))
            self.assertEqual(r.status, 200, r.text())
            msgs = r.json().get("Messages") or []
            if msgs:
                m = msgs[0]
                self.fa.call("sqs", "POST", "/", body=json.dumps(
                    {"QueueUrl": self.queue_url, "ReceiptHandle": m["ReceiptHandle"]}),
                    headers=dict(SQS_HEADERS, **{"X-Amz-Target": "AmazonSQS.DeleteMessage"}))
                env = json.loads(m["Body"])
                self.assertEqual(env["Type"], "Notification")
                self.assertEqual(env["TopicArn"], self.topic)
                self.assertEqual(env["Subject"], SUBJECT)
                return json.loads(env["Message"])
        self.fail("no CloudFormation request arrived within %ss" % timeout)

    def no_request(self, wait=1.5):
        body = json.dumps({"QueueUrl": self.queue_url, "WaitTimeSeconds": 1})
        end = time.time() + wait
        while time.time() < end:
            r = self.fa.call("sqs", "POST", "/", body=body,
                             headers=dict(SQS_HEADERS, **{"X-Amz-Target": "AmazonSQS.ReceiveMessage"}))
            self.assertEqual(r.json().get("Messages") or [], [], "unexpected request")

    def respond(self, req, status="SUCCESS", physical_id=None, reason=None, data=None):
        doc = {"Status": status, "StackId": req["StackId"], "RequestId": req["RequestId"],
               "LogicalResourceId": req["LogicalResourceId"],
               "PhysicalResourceId": physical_id or req.get("PhysicalResourceId")
               or "xacct-" + CUSTOMER_ID}
        if reason is not None:
            doc["Reason"] = reason
        if data is not None:
            doc["Data"] = data
        u = urlsplit(req["ResponseURL"])
        r = self.fa.request("PUT", u.path + "?" + u.query, json.dumps(doc).encode(), {})
        self.assertEqual(r.status, 200, r.text())

    def create_stack(self, tmpl, name=None):
        st, doc = self.fa.control("POST", "/_fake/cfn/stacks", {
            "account_id": CUSTOMER_ID, "region": self.fa.region,
            "stack_name": name or self.stack_name, "template": tmpl})
        self.assertEqual(st, 201, doc)
        return doc["stack_id"]

    def stack(self, wait=0):
        st, doc = self.fa.control("GET", "/_fake/cfn/stacks/%s?wait=%s"
                                  % (urllib.parse.quote(self.stack_id, safe=""), wait))
        self.assertEqual(st, 200, doc)
        return doc

    def settled(self, want, timeout=15):
        doc = self.stack(wait=timeout)
        self.assertEqual(doc["status"], want, json.dumps(doc["events"][-6:], indent=1))
        return doc

    def role(self, name):
        st, doc = self.fa.control("GET", "/_fake/iam/roles/%s/%s" % (CUSTOMER_ID, name))
        return doc if st == 200 else None

    def update(self, tmpl):
        st, doc = self.fa.control("POST", "/_fake/cfn/stacks/%s/update" % self.stack_name,
                                  {"template": tmpl})
        self.assertEqual(st, 200, doc)

    def delete(self):
        st, doc = self.fa.control("DELETE", "/_fake/cfn/stacks/%s" % self.stack_name)
        self.assertEqual(st, 200, doc)

    def created(self, tmpl=None):
        """Create the stack and answer its Create; returns the Create request."""
        self.stack_id = self.create_stack(tmpl or template(self.topic, self.external_id))
        req = self.next_request()
        self.respond(req)
        self.settled("CREATE_COMPLETE")
        return req

    # ------------------------------------------------------------------ tests
    def test_create_sends_the_request_cloudformation_sends(self):
        self.stack_id = self.create_stack(template(self.topic, self.external_id))
        self.assertRegex(self.stack_id, r"^arn:aws:cloudformation:%s:%s:stack/%s/[0-9a-f-]{36}$"
                         % (self.fa.region, CUSTOMER_ID, self.stack_name))
        req = self.next_request()
        self.assertEqual(list(req), ["RequestType", "ServiceToken", "ResponseURL", "StackId",
                                     "RequestId", "LogicalResourceId", "ResourceType",
                                     "ResourceProperties"])
        self.assertEqual(req["RequestType"], "Create")
        self.assertEqual(req["ServiceToken"], self.topic)
        self.assertEqual(req["StackId"], self.stack_id)
        self.assertRegex(req["RequestId"], r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$")
        self.assertEqual(req["LogicalResourceId"], "PhoneHome")
        self.assertEqual(req["ResourceType"], "Custom::PhoneHome")
        u = urlsplit(req["ResponseURL"])
        self.assertEqual("%s://%s" % (u.scheme, u.netloc), self.fa.https_url)
        self.assertTrue(u.path.startswith("/cloudformation-custom-resource-response-%s/arn%%3Aaws%%3Acloudformation"
                                          % self.fa.region.replace("-", "")))
        self.assertTrue(u.path.endswith("%7CPhoneHome%7C" + req["RequestId"]))
        # The role exists before the request is sent, with a generated name.
        st = self.stack()
        self.assertEqual(st["status"], "CREATE_IN_PROGRESS")
        role_name = st["physical_ids"]["XacctRole"]
        self.assertRegex(role_name, r"^%s-XacctRole-[A-Z0-9]{13}$" % self.stack_name)
        role = self.role(role_name)
        self.assertIsNotNone(role)
        self.assertEqual(role["trust_policy"]["Statement"][0]["Condition"],
                         {"StringEquals": {"sts:ExternalId": self.external_id}})
        self.assertEqual(role["trust_policy"]["Statement"][0]["Principal"],
                         {"AWS": "arn:aws:iam::%s:root" % self.fa.partner_account})
        self.assertIn("xacct-read", role["inline_policies"])
        props = req["ResourceProperties"]
        self.assertEqual(props, {
            "ServiceToken": self.topic, "AccountID": CUSTOMER_ID, "RoleArn": role["arn"],
            "ExternalID": self.external_id, "StackName": self.stack_name,
            "Region": self.fa.region, "TemplateVersion": "3", "Strict": "true"})

        self.respond(req, physical_id="xacct-" + CUSTOMER_ID, data={"Answer": "42"})
        st = self.settled("CREATE_COMPLETE")
        self.assertEqual(st["physical_ids"]["PhoneHome"], "xacct-" + CUSTOMER_ID)
        self.assertEqual(st["resources"]["PhoneHome"]["status"], "CREATE_COMPLETE")
        self.assertEqual(st["answers"][0]["status"], "SUCCESS")
        statuses = [(e["logical_resource_id"], e["resource_status"]) for e in st["events"]]
        self.assertLess(statuses.index(("XacctRole", "CREATE_COMPLETE")),
                        statuses.index(("PhoneHome", "CREATE_IN_PROGRESS")))
        self.no_request()

    def test_failed_create_rolls_back_with_the_failed_physical_id(self):
        self.stack_id = self.create_stack(template(self.topic, self.external_id))
        req = self.next_request()
        role_name = self.stack()["physical_ids"]["XacctRole"]
        self.respond(req, "FAILED", physical_id="rejected-" + req["RequestId"],
                     reason="the role can be assumed without an external ID")
        rollback = self.next_request()
        self.assertEqual(rollback["RequestType"], "Delete")
        self.assertEqual(rollback["PhysicalResourceId"], "rejected-" + req["RequestId"])
        self.assertEqual(rollback["ResourceProperties"], req["ResourceProperties"])
        self.assertNotEqual(rollback["RequestId"], req["RequestId"])
        self.assertEqual(list(rollback), ["RequestType", "ServiceToken", "ResponseURL", "StackId",
                                          "RequestId", "LogicalResourceId", "ResourceType",
                                          "PhysicalResourceId", "ResourceProperties"])
        self.assertEqual(self.stack()["status"], "ROLLBACK_IN_PROGRESS")
        self.respond(rollback)
        st = self.settled("ROLLBACK_COMPLETE")
        failed = [e for e in st["events"] if e["resource_status"] == "CREATE_FAILED"]
        self.assertEqual(len(failed), 1)
        self.assertIn("the role can be assumed without an external ID",
                      failed[0]["resource_status_reason"])
        self.assertIsNone(self.role(role_name))
        # A rolled-back stack cannot be updated; deleting it sends nothing.
        st, doc = self.fa.control("POST", "/_fake/cfn/stacks/%s/update" % self.stack_name,
                                  {"template": template(self.topic, "x" + self.external_id)})
        self.assertEqual(st, 400)
        self.delete()
        self.settled("DELETE_COMPLETE")
        self.no_request(1)

    def test_no_answer_times_out_and_rolls_back(self):
        tmpl = template(self.topic, self.external_id, extra_props={"ServiceTimeout": 1})
        self.stack_id = self.create_stack(tmpl)
        req = self.next_request()
        self.assertEqual(req["ResourceProperties"]["ServiceTimeout"], "1")
        self.assertEqual(req["ServiceTimeout"], "1")
        self.assertEqual(list(req)[:3], ["RequestType", "ServiceToken", "ServiceTimeout"])
        rollback = self.next_request(timeout=10)
        self.assertEqual(rollback["RequestType"], "Delete")
        self.assertTrue(rollback["PhysicalResourceId"])
        self.respond(rollback)
        st = self.settled("ROLLBACK_COMPLETE")
        reasons = [e["resource_status_reason"] for e in st["events"]
                   if e["resource_status"] == "CREATE_FAILED"]
        self.assertIn("did not receive a response", reasons[0])

    def test_invalid_answer_fails_the_resource(self):
        self.stack_id = self.create_stack(template(self.topic, self.external_id))
        req = self.next_request()
        u = urlsplit(req["ResponseURL"])
        body = json.dumps({"Status": "SUCCESS", "StackId": req["StackId"],
                           "RequestId": req["RequestId"], "LogicalResourceId": "PhoneHome",
                           "PhysicalResourceId": "p", "Reason": "x" * 5000}).encode()
        self.assertEqual(self.fa.request("PUT", u.path + "?" + u.query, body, {}).status, 200)
        rollback = self.next_request()
        self.assertEqual(rollback["RequestType"], "Delete")
        self.respond(rollback)
        st = self.settled("ROLLBACK_COMPLETE")
        self.assertTrue(st["answers"][0]["too_large"])

    def test_publish_denied_by_topic_policy(self):
        self.allow_publish([])
        self.stack_id = self.create_stack(template(self.topic, self.external_id))
        st = self.settled("ROLLBACK_COMPLETE")
        reasons = [e["resource_status_reason"] for e in st["events"]
                   if e["resource_status"] == "CREATE_FAILED"]
        self.assertIn("not authorized", reasons[0])
        self.assertIsNone(self.role(st["physical_ids"]["XacctRole"]))
        self.no_request(1)

    def test_update_in_place(self):
        create = self.created()
        role_name = self.stack()["physical_ids"]["XacctRole"]
        new_ext = str(uuid.uuid4())
        self.update(template(self.topic, new_ext))
        req = self.next_request()
        self.assertEqual(list(req), ["RequestType", "ServiceToken", "ResponseURL", "StackId",
                                     "RequestId", "LogicalResourceId", "ResourceType",
                                     "PhysicalResourceId", "ResourceProperties",
                                     "OldResourceProperties"])
        self.assertEqual(req["RequestType"], "Update")
        self.assertEqual(req["PhysicalResourceId"], "xacct-" + CUSTOMER_ID)
        self.assertEqual(req["OldResourceProperties"], create["ResourceProperties"])
        self.assertEqual(req["ResourceProperties"]["ExternalID"], new_ext)
        self.assertEqual(req["ResourceProperties"]["RoleArn"], create["ResourceProperties"]["RoleArn"])
        # The trust policy was changed in place before the request.
        role = self.role(role_name)
        self.assertEqual(role["trust_policy"]["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"],
                         new_ext)
        self.respond(req)
        self.settled("UPDATE_COMPLETE")
        self.no_request(1)
        # Same template again: nothing to do.
        st, doc = self.fa.control("POST", "/_fake/cfn/stacks/%s/update" % self.stack_name,
                                  {"template": template(self.topic, new_ext)})
        self.assertEqual((st, doc["message"]), (400, "No updates are to be performed."))

    def test_update_with_replacement(self):
        create = self.created()
        old_role = self.stack()["physical_ids"]["XacctRole"]
        new_role = "xacct-" + uuid.uuid4().hex[:10]
        self.update(template(self.topic, self.external_id, role_name=new_role))
        req = self.next_request()
        self.assertEqual(req["RequestType"], "Update")
        self.assertEqual(req["ResourceProperties"]["RoleArn"],
                         "arn:aws:iam::%s:role/%s" % (CUSTOMER_ID, new_role))
        self.assertEqual(req["OldResourceProperties"]["RoleArn"], create["ResourceProperties"]["RoleArn"])
        self.assertIsNotNone(self.role(new_role))
        self.assertIsNotNone(self.role(old_role), "the old role goes only at cleanup")
        self.respond(req, physical_id="xacct-new-id")
        cleanup = self.next_request()
        self.assertEqual(cleanup["RequestType"], "Delete")
        self.assertEqual(cleanup["PhysicalResourceId"], "xacct-" + CUSTOMER_ID)
        self.assertEqual(cleanup["ResourceProperties"], create["ResourceProperties"])
        self.assertEqual(self.stack()["status"], "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")
        self.respond(cleanup)
        st = self.settled("UPDATE_COMPLETE")
        self.assertEqual(st["physical_ids"], {"PhoneHome": "xacct-new-id", "XacctRole": new_role})
        self.assertIsNone(self.role(old_role))

    def test_failed_update_rolls_back(self):
        create = self.created()
        role_name = self.stack()["physical_ids"]["XacctRole"]
        new_ext = str(uuid.uuid4())
        self.update(template(self.topic, new_ext))
        req = self.next_request()
        self.respond(req, "FAILED", reason="external ID does not match")
        back = self.next_request()
        self.assertEqual(back["RequestType"], "Update")
        self.assertEqual(back["ResourceProperties"], create["ResourceProperties"])
        self.assertEqual(back["OldResourceProperties"], req["ResourceProperties"])
        self.assertEqual(back["PhysicalResourceId"], "xacct-" + CUSTOMER_ID)
        self.assertEqual(self.stack()["status"], "UPDATE_ROLLBACK_IN_PROGRESS")
        self.respond(back)
        self.settled("UPDATE_ROLLBACK_COMPLETE")
        role = self.role(role_name)
        self.assertEqual(role["trust_policy"]["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"],
                         self.external_id)
        self.no_request(1)

    def test_delete(self):
        create = self.created()
        role_name = self.stack()["physical_ids"]["XacctRole"]
        self.delete()
        req = self.next_request()
        self.assertEqual(req["RequestType"], "Delete")
        self.assertEqual(req["PhysicalResourceId"], "xacct-" + CUSTOMER_ID)
        self.assertEqual(req["ResourceProperties"], create["ResourceProperties"])
        self.assertIsNotNone(self.role(role_name), "the role goes after the custom resource")
        self.respond(req)
        self.settled("DELETE_COMPLETE")
        self.assertIsNone(self.role(role_name))
        # The name is free again.
        st, _ = self.fa.control("GET", "/_fake/cfn/stacks/%s" % self.stack_name)
        self.assertEqual(st, 404)

    def test_failed_delete_then_retry(self):
        self.created()
        role_name = self.stack()["physical_ids"]["XacctRole"]
        self.delete()
        req = self.next_request()
        self.respond(req, "FAILED", reason="busy")
        st = self.settled("DELETE_FAILED")
        self.assertEqual(st["resources"]["PhoneHome"]["status"], "DELETE_FAILED")
        self.assertIsNotNone(self.role(role_name))
        self.delete()
        again = self.next_request()
        self.assertEqual(again["RequestType"], "Delete")
        self.assertNotEqual(again["RequestId"], req["RequestId"])
        self.respond(again)
        self.settled("DELETE_COMPLETE")
        self.assertIsNone(self.role(role_name))

    def test_template_validation(self):
        base = template(self.topic, self.external_id)
        bad = json.loads(json.dumps(base))
        bad["Resources"]["Bucket"] = {"Type": "AWS::EC2::Instance"}
        cases = [
            (bad, "Unrecognized resource types: [AWS::EC2::Instance]"),
            ({"Resources": {}}, "At least one Resources member"),
            ("{not json", "JSON not well-formed"),
        ]
        ref = json.loads(json.dumps(base))
        ref["Resources"]["PhoneHome"]["Properties"]["X"] = {"Ref": "Nowhere"}
        cases.append((ref, "Unresolved resource dependencies [Nowhere]"))
        long = json.loads(json.dumps(base))
        long["Description"] = "x" * 1025
        cases.append((long, "'Description' length is greater than 1024"))
        cyc = json.loads(json.dumps(base))
        cyc["Resources"]["XacctRole"]["DependsOn"] = "PhoneHome"
        cases.append((cyc, "Circular dependency"))
        for tmpl, msg in cases:
            with self.subTest(msg=msg):
                st, doc = self.fa.control("POST", "/_fake/cfn/stacks", {
                    "account_id": CUSTOMER_ID, "stack_name": self.stack_name, "template": tmpl})
                self.assertEqual(st, 400, doc)
                self.assertEqual(doc["error"], "ValidationError")
                self.assertIn(msg, doc["message"])
        # JSON text works as well as an object, and names are unique while the stack lives.
        self.stack_id = self.create_stack(json.dumps(base))
        st, doc = self.fa.control("POST", "/_fake/cfn/stacks", {
            "account_id": CUSTOMER_ID, "stack_name": self.stack_name, "template": base})
        self.assertEqual((st, doc["error"]), (400, "AlreadyExistsException"))
        self.respond(self.next_request())
        self.settled("CREATE_COMPLETE")


if __name__ == "__main__":
    unittest.main()
