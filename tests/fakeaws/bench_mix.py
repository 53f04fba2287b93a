#!/usr/bin/python3
"""CPU seconds fakeaws spends per request, on the mix of calls xacctd makes.

Starts fakeaws, sets up a customer account with a role the partner may
assume (external ID), a queue, a bucket and a CloudFormation ResponseURL,
fills the queue with a backlog (the depth a worker drains), then repeats one
round of signed requests on kept-alive connections: SQS SendMessage,
ReceiveMessage and DeleteMessage (JSON protocol), the safety check's three
AssumeRole probes (with the external ID, without one, with a wrong one: two
AccessDenied), S3 PutObject, and the PUT of a custom-resource answer to the
presigned ResponseURL. Reads the emulator's user and system CPU time from
/proc before and after. Every answer is checked, so a request the emulator
refuses fails the bench instead of making it faster. Prints each run and the
median of the runs in microseconds of CPU per request.

    /usr/bin/python3 bench_mix.py [--rounds 1500] [--runs 5] [--backlog 2000] [--http] [-- fakeaws args...]
"""
import argparse
import json
import os
import statistics
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fakeaws.testing import FakeAWS  # noqa: E402

CUSTOMER = "222200000000"
EXTERNAL_ID = "bench-external-id"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON_CT = "application/x-amz-json-1.0"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """(user, system) CPU seconds of process `pid`."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICKS, int(fields[12]) / TICKS


def check(r, what, status=200):
    if r.status != status:
        raise SystemExit(f"bench: {what} answered {r.status}: {r.text()[:500]}")
    return r


class Mix:
    def __init__(self, fa, base):
        self.fa = fa
        self.base = base
        self.customer = fa.new_account(CUSTOMER)
        st, doc = fa.control("POST", "/_fake/iam/config", {"propagation_seconds": 0})
        if st != 200:
            raise SystemExit(f"bench: iam config: {st} {doc}")
        trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{fa.partner_account}:root"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}}}]}
        body = urllib.parse.urlencode({"Action": "CreateRole", "RoleName": "xacct-bench",
                                       "AssumeRolePolicyDocument": json.dumps(trust),
                                       "Version": "2010-05-08"})
        check(fa.call("iam", "POST", "/", body=body, headers=FORM, creds=self.customer, base=base),
              "CreateRole")
        self.role_arn = f"arn:aws:iam::{CUSTOMER}:role/xacct-bench"
        self.queue_url = self.sqs("CreateQueue", {"QueueName": "xacct-bench"}).json()["QueueUrl"]
        self.bucket = "xacct-bench-bucket"
        check(fa.call("s3", "PUT", "/" + self.bucket, base=base), "CreateBucket")
        self.stack_id = f"arn:aws:cloudformation:{fa.region}:{CUSTOMER}:stack/xacct-onboarding/bench"
        st, doc = fa.control("POST", "/_fake/s3/response-urls", {
            "stack_id": self.stack_id, "logical_id": "PhoneHome", "request_id": "bench-request"})
        if st != 200:
            raise SystemExit(f"bench: response-urls: {st} {doc}")
        u = urllib.parse.urlsplit(doc["url"])
        self.response_target = u.path + "?" + u.query
        self.answer = json.dumps({"Status": "SUCCESS", "PhysicalResourceId": "xacct-" + CUSTOMER,
                                  "StackId": self.stack_id, "RequestId": "bench-request",
                                  "LogicalResourceId": "PhoneHome",
                                  "Data": {"RoleArn": self.role_arn}}).encode()
        self.n = 0

    def fill(self, backlog):
        """`backlog` messages waiting behind the one each round sends: the
        queue depth of a worker draining a batch (the bench's 2000-3000)."""
        for i in range(backlog):
            self.sqs("SendMessage", {"QueueUrl": self.queue_url, "MessageBody": "backlog %d" % i})

    def sqs(self, op, body):
        h = {"Content-Type": JSON_CT, "X-Amz-Target": "AmazonSQS." + op}
        return check(self.fa.call("sqs", "POST", "/", headers=h, body=json.dumps(body), base=self.base), op)

    def round(self):
        """One round: 8 requests."""
        self.n += 1
        fa = self.fa
        self.sqs("SendMessage", {"QueueUrl": self.queue_url, "MessageBody": "message %d" % self.n})
        # the oldest message: a backlog one, replaced by the one just sent
        msgs = self.sqs("ReceiveMessage", {"QueueUrl": self.queue_url, "WaitTimeSeconds": 0,
                                           "MaxNumberOfMessages": 1}).json().get("Messages", [])
        if len(msgs) != 1:
            raise SystemExit(f"bench: ReceiveMessage gave {len(msgs)} messages")
        self.sqs("DeleteMessage", {"QueueUrl": self.queue_url, "ReceiptHandle": msgs[0]["ReceiptHandle"]})
        # the safety check's three probes: with the external ID, without one, with a wrong one
        for ext, status in ((EXTERNAL_ID, 200), (None, 403), ("wrong-%d" % self.n, 403)):
            p = {"Action": "AssumeRole", "RoleArn": self.role_arn, "RoleSessionName": "xacct-%d" % self.n,
                 "Version": "2011-06-15"}
            if ext is not None:
                p["ExternalId"] = ext
            check(fa.call("sts", "POST", "/", body=urllib.parse.urlencode(p), headers=FORM, base=self.base),
                  "AssumeRole", status)
        check(fa.call("s3", "PUT", "/%s/objects/%d.json" % (self.bucket, self.n % 16), body=self.answer,
                      headers={"Content-Type": "application/json"}, base=self.base), "PutObject")
        # the URL names (and signs) the TLS listener's host, so it always goes there
        check(fa.request("PUT", self.response_target, self.answer, {}, base=fa.https_url), "ResponseURL PUT")
        return 8


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=1500)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--backlog", type=int, default=2000, help="messages kept waiting in the queue")
    ap.add_argument("--http", action="store_true", help="plain HTTP instead of TLS (but for the ResponseURL)")
    ap.add_argument("fakeaws_args", nargs="*", help="extra arguments for python3 -m fakeaws")
    a = ap.parse_args()
    fa = FakeAWS.start(args=a.fakeaws_args, python=sys.executable)
    try:
        base = fa.http_url if a.http else fa.https_url
        mix = Mix(fa, base)
        mix.fill(a.backlog)
        for _ in range(50):  # warm-up: caches, connections
            mix.round()
        per = []
        for i in range(a.runs):
            fa.control("DELETE", "/_fake/s3/responses")
            fa.control("DELETE", "/_fake/records")
            u0, s0 = cpu_seconds(fa.proc.pid)
            n = sum(mix.round() for _ in range(a.rounds))
            u1, s1 = cpu_seconds(fa.proc.pid)
            used = (u1 - u0) + (s1 - s0)
            per.append(used / n * 1e6)
            print(f"run {i + 1}: {n} requests, {used:.2f} s CPU ({u1 - u0:.2f} user, {s1 - s0:.2f} system), "
                  f"{per[-1]:.0f} us/request", flush=True)
        print(f"median of {a.runs}: {statistics.median(per):.0f} us of emulator CPU per request "
              f"({'http' if a.http else 'https'}, keep-alive, SQS send/receive/delete "
              f"({a.backlog} waiting), 3 AssumeRole probes, S3 PUT, ResponseURL PUT)")
        return 0
    finally:
        fa.stop()


if __name__ == "__main__":
    sys.exit(main())
