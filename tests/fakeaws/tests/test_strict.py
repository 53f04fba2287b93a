"""Where the emulator is as strict as AWS beyond signatures: S3 PUTs without
Content-Length, ResponseURLs shaped like CloudFormation's (virtual-hosted,
X-Amz-Security-Token, the older SigV2 form), the Host header checked against
the endpoint, regional credential scopes, SQS's duplicate and unordered
delivery, idle keep-alive connections closed by the server, clock skew.

Run: cd tests/fakeaws && python3 -m unittest -v tests.test_strict
(as root: the emulator listens on port 443 of a loopback address).
"""
import http.client
import json
import socket
import sys
import time
import unittest
import uuid
from urllib.parse import parse_qs, quote, urlsplit

from fakeaws import sigv4
from fakeaws.testing import FakeAWS

from . import FORM, GET_CALLER_IDENTITY

FA = None


def setUpModule():
    global FA
    FA = FakeAWS.start(args=("--aws-address", "auto"), python=sys.executable)


def tearDownModule():
    FA.stop()


def raw_https(fa, method, target, headers, body_chunks=None, body=b""):
    """One request on a fresh connection to the https listener; a chunked
    body when body_chunks is given."""
    u = urlsplit(fa.https_url)
    c = http.client.HTTPSConnection(u.hostname, u.port, context=fa.ssl_context, timeout=30)
    try:
        if body_chunks is not None:
            c.request(method, target, body=iter(body_chunks), headers=headers, encode_chunked=True)
        else:
            c.request(method, target, body=body, headers=headers)
        r = c.getresponse()
        from fakeaws.testing import Result
        return Result(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        c.close()


def mint(fa, region="us-east-1", expires=None):
    stack = f"arn:aws:cloudformation:{region}:123456789012:stack/s/{uuid.uuid4()}"
    body = {"stack_id": stack, "logical_id": "PhoneHome", "request_id": str(uuid.uuid4()),
            "region": region}
    if expires:
        body["expires"] = expires
    st, doc = fa.control("POST", "/_fake/s3/response-urls", body)
    assert st == 200, doc
    return doc["url"], stack, body


def answer(stack, req):
    return json.dumps({"Status": "SUCCESS", "PhysicalResourceId": "p", "StackId": stack,
                       "RequestId": req["request_id"], "LogicalResourceId": "PhoneHome"}).encode()


class ContentLengthTest(unittest.TestCase):
    def test_chunked_put_is_411_missing_content_length(self):
        bucket = "strict-" + uuid.uuid4().hex[:8]
        self.assertEqual(FA.call("s3", "PUT", "/" + bucket).status, 200)
        target = f"/{bucket}/k.json"
        h = sigv4.sign("PUT", FA.https_url + target, {}, b"", FA.creds[0], FA.creds[1], FA.region,
                       "s3", payload_hash=sigv4.UNSIGNED_PAYLOAD)
        r = raw_https(FA, "PUT", target, h, body_chunks=[b'{"a":', b"1}"])
        self.assertEqual(r.status, 411, r)
        self.assertEqual(r.error_code(), "MissingContentLength")
        # The same PUT with Content-Length is stored.
        r = raw_https(FA, "PUT", target, h, body=b'{"a":1}')
        self.assertEqual(r.status, 200, r)

    def test_chunked_answer_to_a_response_url_is_411(self):
        url, stack, req = mint(FA)
        u = urlsplit(url)
        r = FA.aws_request(u.hostname, "PUT", u.path + "?" + u.query, body=iter([answer(stack, req)]),
                           headers={"Content-Type": ""}, encode_chunked=True)
        self.assertEqual(r.status, 411, r)
        self.assertEqual(r.error_code(), "MissingContentLength")
        self.assertFalse([a for a in FA.control("GET", "/_fake/s3/responses")[1]["responses"]
                          if a["key"].startswith(stack)])


class ResponseUrlTest(unittest.TestCase):
    def tearDown(self):
        FA.control("POST", "/_fake/s3/config", {"response_url_signing": "v4"})

    def test_virtual_hosted_with_security_token(self):
        url, stack, req = mint(FA)
        u = urlsplit(url)
        self.assertEqual(u.scheme, "https")
        self.assertEqual(u.netloc, "cloudformation-custom-resource-response-useast1.s3.amazonaws.com")
        self.assertTrue(u.path.startswith("/arn%3Aaws%3Acloudformation%3Aus-east-1%3A"), u.path)
        q = parse_qs(u.query)
        self.assertIn("X-Amz-Security-Token", q)
        self.assertTrue(q["X-Amz-Credential"][0].startswith("ASIA"))
        body = answer(stack, req)
        r = FA.aws_request(u.hostname, "PUT", u.path + "?" + u.query, body=body,
                           headers={"Content-Type": ""})
        self.assertEqual(r.status, 200, r)
        # Without the token the key is refused.
        bad = "&".join(p for p in u.query.split("&") if not p.startswith("X-Amz-Security-Token="))
        r = FA.aws_request(u.hostname, "PUT", u.path + "?" + bad, body=body,
                           headers={"Content-Type": ""})
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.error_code(), "InvalidToken")

    def test_other_region_uses_the_regional_name(self):
        url, stack, req = mint(FA, region="eu-west-1")
        u = urlsplit(url)
        self.assertEqual(u.netloc, "cloudformation-custom-resource-response-euwest1.s3.eu-west-1.amazonaws.com")
        r = FA.aws_request(u.hostname, "PUT", u.path + "?" + u.query, body=answer(stack, req),
                           headers={"Content-Type": ""})
        self.assertEqual(r.status, 200, r)

    def test_sigv2_form(self):
        FA.control("POST", "/_fake/s3/config", {"response_url_signing": "v2"})
        url, stack, req = mint(FA)
        u = urlsplit(url)
        q = parse_qs(u.query)
        self.assertEqual(set(q), {"AWSAccessKeyId", "Expires", "Signature"})
        body = answer(stack, req)
        target = u.path + "?" + u.query
        # Content-Type is part of what SigV2 signs: the URL was minted without one.
        r = FA.aws_request(u.hostname, "PUT", target, body=body,
                           headers={"Content-Type": "application/json"})
        self.assertEqual(r.status, 403, r)
        self.assertEqual(r.error_code(), "SignatureDoesNotMatch")
        # A changed signature.
        sig = q["Signature"][0]
        tampered = target.replace(u.query.split("Signature=")[1],
                                  ("A" if sig[0] != "A" else "B") + u.query.split("Signature=")[1][1:])
        r = FA.aws_request(u.hostname, "PUT", tampered, body=body, headers={"Content-Type": ""})
        self.assertEqual(r.error_code(), "SignatureDoesNotMatch", r)
        r = FA.aws_request(u.hostname, "PUT", target, body=body, headers={"Content-Type": ""})
        self.assertEqual(r.status, 200, r)
        rec = [a for a in FA.control("GET", "/_fake/s3/responses")[1]["responses"]
               if a["request_id"] == req["request_id"]]
        self.assertEqual(len(rec), 1)
        self.assertTrue(rec[0]["valid"], rec[0])

    def test_sigv2_expired(self):
        FA.control("POST", "/_fake/s3/config", {"response_url_signing": "v2"})
        url, stack, req = mint(FA, expires=1)
        u = urlsplit(url)
        deadline = int(parse_qs(u.query)["Expires"][0])
        while time.time() <= deadline + 0.5:
            time.sleep(0.2)
        r = FA.aws_request(u.hostname, "PUT", u.path + "?" + u.query, body=answer(stack, req),
                           headers={"Content-Type": ""})
        self.assertEqual(r.status, 403, r)
        self.assertEqual(r.error_code(), "AccessDenied")
        self.assertEqual(r.error_message(), "Request has expired")


class HostHeaderTest(unittest.TestCase):
    def whoami(self, host_header):
        h = sigv4.sign("POST", "https://" + host_header + "/", dict(FORM), GET_CALLER_IDENTITY,
                       FA.creds[0], FA.creds[1], FA.region, "sts")
        return raw_https(FA, "POST", "/", h, body=GET_CALLER_IDENTITY)

    def test_address_endpoint_needs_its_own_host(self):
        u = urlsplit(FA.https_url)
        self.assertEqual(self.whoami(u.netloc).status, 200)
        self.assertEqual(self.whoami(f"localhost:{u.port}").status, 200)
        self.assertEqual(self.whoami(f"127.0.0.1:{u.port + 1 if u.port < 65535 else 1}").status, 400)
        self.assertEqual(self.whoami("127.0.0.2:%d" % u.port).status, 400)
        self.assertEqual(self.whoami("example.com").status, 400)
        # An AWS name implies port 443, not this listener's port.
        self.assertEqual(self.whoami("sts.us-east-1.amazonaws.com").status, 400)
        kinds = [r["host"] for r in FA.records("bad_host")]
        self.assertIn("example.com", kinds)

    def test_sts_refuses_a_scope_for_another_region(self):
        body = GET_CALLER_IDENTITY
        r = FA.call_aws("sts.us-east-1.amazonaws.com", "sts", "POST", "/", body=body,
                        headers=dict(FORM), region="us-east-1")
        self.assertEqual(r.status, 200, r)
        r = FA.call_aws("sts.eu-west-1.amazonaws.com", "sts", "POST", "/", body=body,
                        headers=dict(FORM), region="eu-west-1")
        self.assertEqual(r.status, 200, r)
        r = FA.call_aws("sts.us-east-1.amazonaws.com", "sts", "POST", "/", body=body,
                        headers=dict(FORM), region="eu-west-1")
        self.assertEqual(r.status, 403, r)
        self.assertEqual(r.error_code(), "SignatureDoesNotMatch")
        self.assertEqual(r.error_message(), "Credential should be scoped to a valid region. ")
        # The global endpoint is us-east-1's.
        r = FA.call_aws("sts.amazonaws.com", "sts", "POST", "/", body=body, headers=dict(FORM),
                        region="us-west-2")
        self.assertEqual(r.error_code(), "SignatureDoesNotMatch", r)
        # Another service's endpoint.
        r = FA.call_aws("sqs.us-east-1.amazonaws.com", "sts", "POST", "/", body=body,
                        headers=dict(FORM), region="us-east-1")
        self.assertEqual(r.status, 403, r)
        self.assertIn("correct service: 'sqs'", r.error_message())


SQS_JSON = {"Content-Type": "application/x-amz-json-1.0"}


class AddressScopeTest(unittest.TestCase):
    """At an address (AWS_ENDPOINT_URL's form) the Host names no service or
    region, yet AWS refuses a scope that does not name the endpoint the
    call is for: its protocol's service, the region of what it names."""

    def sqs(self, op, body, service="sqs", region=None, creds=None):
        return FA.call(service, "POST", "/", headers=dict(SQS_JSON, **{"X-Amz-Target": "AmazonSQS." + op}),
                       body=json.dumps(body), region=region, creds=creds)

    def sns(self, params, region=None, service="sns"):
        body = "&".join("%s=%s" % (k, quote(v, safe="")) for k, v in
                        dict(params, Version="2010-03-31").items())
        return FA.call(service, "POST", "/", headers=dict(FORM), body=body, region=region)

    def assert_service(self, r, service):
        self.assertEqual(r.status, 403, r)
        self.assertEqual(r.error_code(), "SignatureDoesNotMatch", r)
        self.assertEqual(r.error_message(), "Credential should be scoped to correct service: '%s'. " % service)

    def assert_region(self, r):
        self.assertEqual(r.status, 403, r)
        self.assertEqual(r.error_code(), "SignatureDoesNotMatch", r)
        self.assertEqual(r.error_message(), "Credential should be scoped to a valid region. ")

    def test_the_protocol_decides_the_service(self):
        self.assertEqual(self.sqs("ListQueues", {}).status, 200)
        # An SQS JSON call signed for SNS, STS or S3.
        r = self.sqs("ListQueues", {}, service="sns")
        self.assert_service(r, "sqs")
        self.assertTrue(r.headers["content-type"].startswith("application/x-amz-json-1.0"), r.headers)
        self.assert_service(self.sqs("ListQueues", {}, service="sts"), "sqs")
        # A query call: its Version, else its Action, names the service.
        self.assert_service(FA.call("sqs", "POST", "/", headers=dict(FORM), body=GET_CALLER_IDENTITY),
                            "sts")
        self.assert_service(FA.call("sns", "POST", "/", headers=dict(FORM),
                                    body=b"Action=GetCallerIdentity"), "sts")
        self.assert_service(self.sns({"Action": "ListTopics"}, service="sts"), "sns")
        self.assertEqual(self.sns({"Action": "ListTopics"}).status, 200)
        # REST is S3's: S3 answers a scope for another service.
        bucket = "scope-" + uuid.uuid4().hex[:8]
        self.assertEqual(FA.call("s3", "PUT", "/" + bucket).status, 200)
        r = FA.call("sts", "GET", "/" + bucket)
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.error_code(), "AuthorizationHeaderMalformed", r)
        self.assertIn('This endpoint belongs to "s3"', r.error_message())
        self.assertEqual(FA.call("s3", "GET", "/" + bucket).status, 200)
        kinds = {(a["code"], a["service"]) for a in FA.records("auth_failure")}
        self.assertIn(("SignatureDoesNotMatch", "sqs"), kinds)

    def test_sts_takes_any_region_aws_has(self):
        for region in ("us-east-1", "eu-west-1", "ap-southeast-4", "us-gov-west-1", "cn-north-1"):
            r = FA.call("sts", "POST", "/", headers=dict(FORM), body=GET_CALLER_IDENTITY, region=region)
            self.assertEqual(r.status, 200, (region, r))
        for region in ("us-east-7", "local", "eu-west-1 "):
            self.assert_region(FA.call("sts", "POST", "/", headers=dict(FORM), body=GET_CALLER_IDENTITY,
                                       region=region))

    def test_iam_is_us_east_1s(self):
        body = b"Action=ListRoles&Version=2010-05-08"
        self.assert_region(FA.call("iam", "POST", "/", headers=dict(FORM), body=body, region="eu-west-1"))

    def test_sqs_queue_region(self):
        st, q = FA.control("POST", "/_fake/sqs/queues", {"name": "scope-" + uuid.uuid4().hex[:8],
                                                         "region": "eu-west-1"})
        self.assertEqual(st, 200, q)
        body = {"QueueUrl": q["url"], "AttributeNames": ["QueueArn"]}
        r = self.sqs("GetQueueAttributes", body, region="eu-west-1")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["Attributes"]["QueueArn"], q["arn"])
        # Signed for the region the client is configured for, not the queue's.
        self.assert_region(self.sqs("GetQueueAttributes", body, region="us-east-1"))
        self.assert_region(self.sqs("SendMessage", {"QueueUrl": q["url"], "MessageBody": "x"},
                                    region="us-west-2"))
        # A queue URL by its AWS name carries its region.
        aws_url = "https://sqs.eu-west-1.amazonaws.com/%s/%s" % (q["account"], q["name"])
        self.assert_region(self.sqs("GetQueueAttributes", dict(body, QueueUrl=aws_url), region="us-east-1"))
        # A queue no region has: the service's own answer.
        r = self.sqs("GetQueueAttributes", dict(body, QueueUrl=q["url"] + "-none"), region="us-east-1")
        self.assertEqual(r.error_code(), "QueueDoesNotExist", r)
        # Calls that name no queue: any region AWS has.
        self.assertEqual(self.sqs("ListQueues", {}, region="eu-west-1").status, 200)
        self.assert_region(self.sqs("ListQueues", {}, region="eu-west-9"))

    def test_sns_topic_region(self):
        st, t = FA.control("POST", "/_fake/sns/topics", {"name": "scope-" + uuid.uuid4().hex[:8],
                                                         "region": "eu-west-1"})
        self.assertEqual(st, 200, t)
        p = {"Action": "GetTopicAttributes", "TopicArn": t["arn"]}
        self.assertEqual(self.sns(p, region="eu-west-1").status, 200)
        self.assert_region(self.sns(p, region="us-east-1"))
        self.assert_region(self.sns({"Action": "Publish", "TopicArn": t["arn"], "Message": "m"},
                                    region="us-east-1"))

    def test_s3_bucket_region(self):
        bucket = "scope-" + uuid.uuid4().hex[:8]
        st, b = FA.control("POST", "/_fake/s3/buckets", {"name": bucket, "region": "eu-west-1"})
        self.assertEqual(st, 201, b)
        self.assertEqual(FA.call("s3", "GET", "/" + bucket, region="eu-west-1").status, 200)
        # Refused for its region before anything is authorized.
        other = FA.new_account("333333333333")
        for creds in (None, other):
            r = FA.call("s3", "GET", "/%s/k" % bucket, region="us-east-1", creds=creds)
            self.assertEqual(r.status, 400, r)
            self.assertEqual(r.error_code(), "AuthorizationHeaderMalformed", r)
            self.assertEqual(r.error_message(), "The authorization header is malformed; the region "
                             "'us-east-1' is wrong; expecting 'eu-west-1'")
            self.assertIn(b"<Region>eu-west-1</Region>", r.body)
        # A presigned URL says so in its own terms.
        url = FA.presign("s3", "GET", "/%s/k" % bucket, region="us-west-2")
        u = urlsplit(url)
        r = FA.request("GET", u.path + "?" + u.query)
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.error_code(), "AuthorizationQueryParametersError", r)
        self.assertEqual(r.error_message(), "Error parsing the X-Amz-Credential parameter; the region "
                         "'us-west-2' is wrong; expecting 'eu-west-1'")


class ClockSkewTest(unittest.TestCase):
    def test_s3_request_time_too_skewed(self):
        bucket = "skew-" + uuid.uuid4().hex[:8]
        self.assertEqual(FA.call("s3", "PUT", "/" + bucket).status, 200)
        for off in (-840, 840):
            ok = FA.call("s3", "GET", "/" + bucket, amz_date=sigv4.amz_now(time.time() + off))
            self.assertEqual(ok.status, 200, ok)
        for off in (-960, 960):
            r = FA.call("s3", "GET", "/" + bucket, amz_date=sigv4.amz_now(time.time() + off))
            self.assertEqual(r.status, 403, r)
            self.assertEqual(r.error_code(), "RequestTimeTooSkewed")

    def test_sqs_signature_expired(self):
        r = FA.call("sqs", "POST", "/", body=b"{}", amz_date=sigv4.amz_now(time.time() - 960),
                    headers={"Content-Type": "application/x-amz-json-1.0",
                             "X-Amz-Target": "AmazonSQS.ListQueues"})
        self.assertEqual(r.status, 403, r)
        self.assertEqual(r.error_code(), "SignatureDoesNotMatch")
        self.assertTrue(r.error_message().startswith("Signature expired: "))


class SqsDeliveryTest(unittest.TestCase):
    def setUp(self):
        st, q = FA.control("POST", "/_fake/sqs/queues", {"name": "strict-" + uuid.uuid4().hex[:8]})
        self.assertEqual(st, 200, q)
        self.url = q["url"]

    def tearDown(self):
        FA.control("POST", "/_fake/sqs/config", {"duplicate_rate": 0, "reorder": False})

    def sqs(self, op, **params):
        r = FA.call("sqs", "POST", "/", body=json.dumps(dict(params, QueueUrl=self.url)).encode(),
                    headers={"Content-Type": "application/x-amz-json-1.0",
                             "X-Amz-Target": "AmazonSQS." + op})
        self.assertEqual(r.status, 200, r)
        return r.json()

    def test_duplicate_delivery(self):
        FA.control("POST", "/_fake/sqs/config", {"duplicate_rate": 1.0})
        mid = self.sqs("SendMessage", MessageBody="once")["MessageId"]
        a = self.sqs("ReceiveMessage", MaxNumberOfMessages=1, VisibilityTimeout=60)["Messages"][0]
        FA.control("POST", "/_fake/sqs/config", {"duplicate_rate": 0})
        b = self.sqs("ReceiveMessage", MaxNumberOfMessages=1, VisibilityTimeout=60)["Messages"][0]
        self.assertEqual(a["MessageId"], mid)
        self.assertEqual(b["MessageId"], mid)
        self.assertNotEqual(a["ReceiptHandle"], b["ReceiptHandle"])
        self.assertTrue(any(r["message_id"] == mid for r in FA.records("sqs.duplicate")))
        # Either copy's handle deletes it.
        self.sqs("DeleteMessage", ReceiptHandle=a["ReceiptHandle"])
        self.assertEqual(self.sqs("ReceiveMessage", WaitTimeSeconds=0).get("Messages"), None)

    def test_out_of_order(self):
        FA.control("POST", "/_fake/sqs/config", {"reorder": True, "seed": 7})
        sent = [self.sqs("SendMessage", MessageBody=str(i))["MessageId"] for i in range(20)]
        got = []
        while len(got) < 20:
            for m in self.sqs("ReceiveMessage", MaxNumberOfMessages=10,
                              VisibilityTimeout=60).get("Messages", []):
                got.append(m["MessageId"])
        self.assertEqual(sorted(got), sorted(sent))
        self.assertNotEqual(got, sent)


class IdleConnectionTest(unittest.TestCase):
    def tearDown(self):
        FA.control("POST", "/_fake/server", {"idle_timeout": 20})

    def test_idle_keep_alive_connection_is_closed(self):
        FA.control("POST", "/_fake/server", {"idle_timeout": 0.5})
        u = urlsplit(FA.https_url)
        sock = FA.ssl_context.wrap_socket(socket.create_connection((u.hostname, u.port), timeout=30),
                                          server_hostname=u.hostname)
        h = sigv4.sign("POST", FA.https_url + "/", dict(FORM), GET_CALLER_IDENTITY, FA.creds[0],
                       FA.creds[1], FA.region, "sts")
        req = "POST / HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items()) + \
              f"Content-Length: {len(GET_CALLER_IDENTITY)}\r\n\r\n"
        sock.sendall(req.encode() + GET_CALLER_IDENTITY)
        data = b""
        while True:  # read until the server closes: keep-alive, then idle
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        sock.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 200 "), data[:100])
        self.assertNotIn(b"Connection: close", data)
        self.assertTrue(FA.records("idle_close"))

    def test_a_long_poll_is_not_idle(self):
        FA.control("POST", "/_fake/server", {"idle_timeout": 0.5})
        st, q = FA.control("POST", "/_fake/sqs/queues", {"name": "idle-" + uuid.uuid4().hex[:8]})
        FA.close_connections()
        r = FA.call("sqs", "POST", "/", body=json.dumps({"QueueUrl": q["url"],
                                                         "WaitTimeSeconds": 2}).encode(),
                    headers={"Content-Type": "application/x-amz-json-1.0",
                             "X-Amz-Target": "AmazonSQS.ReceiveMessage"})
        self.assertEqual(r.status, 200, r)


if __name__ == "__main__":
    unittest.main()
