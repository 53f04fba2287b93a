"""The CloudFormation simulator's partner-side resource types
(cfn_resources.py): property validation as CloudFormation's schemas do it,
GetAtt attributes per type, Outputs and exports, Fn::ImportValue, the real
emulated resources created, updated in place and deleted, and SNS delivery
that obeys the queue policy.

Run: cd tests/fakeaws && python3 -m unittest -v tests.test_cfn_resources
"""
import unittest
import uuid

from fakeaws.testing import FakeAWS

FA = None
ACCT = "111111111111"


def setUpModule():
    global FA
    FA = FakeAWS.start()


def tearDownModule():
    FA.stop()


def queue_template(extra=None, outputs=None):
    t = {"Resources": {"Q": {"Type": "AWS::SQS::Queue",
                             "Properties": {"VisibilityTimeout": 45}}}}
    t["Resources"].update(extra or {})
    if outputs is not None:
        t["Outputs"] = outputs
    return t


class CfnResourcesTest(unittest.TestCase):
    def create(self, tmpl, name=None, params=None, expect=201):
        name = name or "s" + uuid.uuid4().hex[:10]
        st, doc = FA.control("POST", "/_fake/cfn/stacks", {
            "account_id": ACCT, "stack_name": name, "template": tmpl,
            "parameters": params or {}})
        self.assertEqual(st, expect, doc)
        return doc

    def settle(self, stack_id):
        st, doc = FA.control("GET", "/_fake/cfn/stacks/%s?wait=20"
                             % stack_id.replace("/", "%2F").replace(":", "%3A"))
        self.assertEqual(st, 200, doc)
        return doc

    def failed_reason(self, doc):
        return [e["resource_status_reason"] for e in doc["events"]
                if e["resource_status"] == "CREATE_FAILED"][0]

    def test_unknown_and_missing_properties_fail_the_resource(self):
        doc = self.settle(self.create(queue_template({"P": {
            "Type": "AWS::SQS::QueuePolicy", "Properties": {"Queues": [{"Ref": "Q"}]}}}))["stack_id"])
        self.assertEqual(doc["status"], "ROLLBACK_COMPLETE")
        self.assertIn("required key [PolicyDocument] not found", self.failed_reason(doc))
        doc = self.settle(self.create({"Resources": {"B": {
            "Type": "AWS::S3::Bucket", "Properties": {"BucketNam": "x"}}}})["stack_id"])
        self.assertIn("extraneous key [BucketNam] is not permitted", self.failed_reason(doc))
        doc = self.settle(self.create({"Resources": {"Q": {
            "Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": "soon"}}}})["stack_id"])
        self.assertIn("#/VisibilityTimeout: expected type: Integer", self.failed_reason(doc))
        doc = self.settle(self.create({"Resources": {"B": {
            "Type": "AWS::S3::Bucket", "Properties": {"LifecycleConfiguration": {
                "Rules": [{"Prefix": "x/", "ExpirationInDays": 1}]}}}}})["stack_id"])
        self.assertIn("required key [Status] not found", self.failed_reason(doc))

    def test_template_errors(self):
        doc = self.create(queue_template(outputs={"X": {"Value": {"Fn::GetAtt": ["Q", "Nope"]}}}),
                          expect=400)
        self.assertIn("does not support attribute type Nope", doc["message"])
        doc = self.create(queue_template(outputs={"X": {"Description": "no value"}}), expect=400)
        self.assertIn("must contain a Value", doc["message"])
        doc = self.create(queue_template({"T": {"Type": "AWS::SNS::Topic", "Properties": {
            "DisplayName": {"Fn::ImportValue": {"Fn::GetAtt": ["Q", "Arn"]}}}}}), expect=400)
        self.assertIn("Fn::ImportValue", doc["message"])

    def test_outputs_exports_and_import(self):
        name = "exp" + uuid.uuid4().hex[:8]
        doc = self.settle(self.create(queue_template(outputs={
            "Url": {"Value": {"Ref": "Q"}},
            "Arn": {"Value": {"Fn::GetAtt": ["Q", "Arn"]}, "Export": {"Name": name}}}))["stack_id"])
        self.assertEqual(doc["status"], "CREATE_COMPLETE")
        arn = doc["outputs"]["Arn"]["value"]
        self.assertTrue(arn.startswith("arn:aws:sqs:us-east-1:%s:s" % ACCT), arn)
        self.assertEqual(doc["outputs"]["Url"]["value"], doc["physical_ids"]["Q"])
        st, q = FA.control("GET", "/_fake/sqs/queues/" + arn.rsplit(":", 1)[1])
        self.assertEqual(q["attributes"]["VisibilityTimeout"], "45")
        # a second stack reads the export; a third may not export the same name
        doc2 = self.settle(self.create({"Resources": {"T": {"Type": "AWS::SNS::Topic"}, "S": {
            "Type": "AWS::SNS::Subscription", "Properties": {
                "TopicArn": {"Ref": "T"}, "Protocol": "sqs",
                "Endpoint": {"Fn::ImportValue": name}}}}})["stack_id"])
        self.assertEqual(doc2["status"], "CREATE_COMPLETE", doc2["status_reason"])
        st, t = FA.control("GET", "/_fake/sns/topics/" + doc2["physical_ids"]["T"])
        self.assertEqual([s["endpoint"] for s in t["subscriptions"]], [arn])
        doc3 = self.settle(self.create(queue_template(outputs={
            "Arn": {"Value": "x", "Export": {"Name": name}}}))["stack_id"])
        self.assertEqual(doc3["status"], "ROLLBACK_COMPLETE")
        missing = self.settle(self.create({"Resources": {"T": {"Type": "AWS::SNS::Topic",
                                                               "Properties": {"DisplayName": {
                                                                   "Fn::ImportValue": "nope"}}}}})
                              ["stack_id"])
        self.assertIn("No export named nope found.", self.failed_reason(missing))

    def test_queue_policy_decides_sns_delivery(self):
        name = "qp" + uuid.uuid4().hex[:8]
        tmpl = queue_template({
            "T": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": name}},
            "S": {"Type": "AWS::SNS::Subscription", "Properties": {
                "TopicArn": {"Ref": "T"}, "Protocol": "sqs",
                "Endpoint": {"Fn::GetAtt": ["Q", "Arn"]}}},
            "P": {"Type": "AWS::SQS::QueuePolicy", "Properties": {
                "Queues": [{"Ref": "Q"}],
                "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage", "Resource": {"Fn::GetAtt": ["Q", "Arn"]},
                    "Condition": {"ArnEquals": {"aws:SourceArn": {"Ref": "AllowedTopic"}}}}]}}}})
        tmpl["Parameters"] = {"AllowedTopic": {"Type": "String"}}
        topic = "arn:aws:sns:us-east-1:%s:%s" % (ACCT, name)
        sname = "qp" + uuid.uuid4().hex[:8]
        doc = self.settle(self.create(tmpl, name=sname, params={"AllowedTopic": topic})["stack_id"])
        self.assertEqual(doc["status"], "CREATE_COMPLETE", doc["events"][-3:])
        qname = doc["resources"]["Q"]["attributes"]["QueueName"]

        def publish_and_count():
            body = "Action=Publish&Version=2010-03-31&TopicArn=%s&Message=hi" % topic
            r = FA.call("sns", "POST", "/", body=body.encode(),
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
            self.assertEqual(r.status, 200, r.text())
            return FA.control("GET", "/_fake/sqs/queues/" + qname)[1]["sent"]
        self.assertEqual(publish_and_count(), 1)
        # update the policy to name another topic: the message is dropped
        st, up = FA.control("POST", "/_fake/cfn/stacks/%s/update" % sname,
                            {"template": tmpl, "parameters": {"AllowedTopic": topic + "-other"}})
        self.assertEqual(st, 200, up)
        self.assertEqual(self.settle(up["stack_id"])["status"], "UPDATE_COMPLETE")
        self.assertEqual(publish_and_count(), 1)
        st, recs = FA.control("GET", "/_fake/records?kind=sqs.delivery_denied")
        self.assertIn(topic, [r["source_arn"] for r in recs["records"]])
        # delete removes the queue, the topic and its subscription
        FA.control("DELETE", "/_fake/cfn/stacks/%s" % sname)
        self.assertEqual(self.settle(doc["stack_id"])["status"], "DELETE_COMPLETE")
        self.assertEqual(FA.control("GET", "/_fake/sqs/queues/" + qname)[0], 404)
        self.assertEqual(FA.control("GET", "/_fake/sns/topics/" + topic)[0], 404)

    def test_queue_without_policy_gets_nothing_from_sns(self):
        """As on AWS: SNS needs the queue's policy; none, no delivery."""
        doc = self.settle(self.create(queue_template({
            "T": {"Type": "AWS::SNS::Topic"},
            "S": {"Type": "AWS::SNS::Subscription", "Properties": {
                "TopicArn": {"Ref": "T"}, "Protocol": "sqs",
                "Endpoint": {"Fn::GetAtt": ["Q", "Arn"]}}}}))["stack_id"])
        self.assertEqual(doc["status"], "CREATE_COMPLETE")
        topic = doc["physical_ids"]["T"]
        body = "Action=Publish&Version=2010-03-31&TopicArn=%s&Message=hi" % topic
        r = FA.call("sns", "POST", "/", body=body.encode(),
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 200, r.text())
        qname = doc["resources"]["Q"]["attributes"]["QueueName"]
        self.assertEqual(FA.control("GET", "/_fake/sqs/queues/" + qname)[1]["sent"], 0)

    def test_bucket_and_managed_policy(self):
        bucket = "b-" + uuid.uuid4().hex[:12]
        sname = "bp" + uuid.uuid4().hex[:8]
        doc = self.settle(self.create({"Resources": {
            "B": {"Type": "AWS::S3::Bucket", "Properties": {
                "BucketName": bucket,
                "PublicAccessBlockConfiguration": {"BlockPublicAcls": True}}},
            "M": {"Type": "AWS::IAM::ManagedPolicy", "Properties": {
                "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Action": "s3:PutObject",
                    "Resource": {"Fn::Sub": "${B.Arn}/*"}}]}}}},
            "Outputs": {"P": {"Value": {"Ref": "M"}}}}, name=sname)["stack_id"])
        self.assertEqual(doc["status"], "CREATE_COMPLETE", doc["events"][-3:])
        self.assertTrue(doc["outputs"]["P"]["value"].startswith("arn:aws:iam::%s:policy/" % ACCT))
        self.assertEqual(doc["resources"]["M"]["properties"]["PolicyDocument"]["Statement"][0]
                         ["Resource"], "arn:aws:s3:::%s/*" % bucket)
        r = FA.call("s3", "PUT", "/%s/k" % bucket, body=b"x")
        self.assertEqual(r.status, 200, r.text())
        # a bucket with objects cannot be deleted, as in CloudFormation
        FA.control("DELETE", "/_fake/cfn/stacks/%s" % sname)
        gone = self.settle(doc["stack_id"])
        self.assertEqual(gone["status"], "DELETE_FAILED")
        self.assertIn("not empty", gone["resources"]["B"]["status_reason"])
        # an identity policy names no principal
        bad = self.settle(self.create({"Resources": {"M": {
            "Type": "AWS::IAM::ManagedPolicy", "Properties": {"PolicyDocument": {
                "Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Principal": "*", "Action": "s3:*",
                    "Resource": "*"}]}}}}})["stack_id"])
        self.assertIn("should not specify a principal", self.failed_reason(bad))


if __name__ == "__main__":
    unittest.main()
