"""An SNS topic and its subscriptions as the simulator keeps them, and the
topic policy validated as SNS validates one."""

import json
import uuid

from . import policy as policy_mod
from .sns_protocol import (DEFAULT_ACTIONS, MAX_POLICY_BYTES, MAX_PRINCIPALS, MAX_STATEMENTS,
                           _invalid, _policy_error)

class Subscription:
    def __init__(self, topic, endpoint, owner, raw):
        self.topic = topic
        self.arn = "%s:%s" % (topic.arn, uuid.uuid4())
        self.protocol = "sqs"
        self.endpoint = endpoint
        self.owner = owner
        self.raw = raw
        self.confirmed = False
        self.token = None
        self.delivered = 0


class Topic:
    def __init__(self, region, owner, name):
        self.region = region
        self.owner = owner
        self.name = name
        self.arn = "arn:aws:sns:%s:%s:%s" % (region, owner, name)
        self.policy = json.dumps(self.default_policy(), separators=(",", ":"))
        self.attrs = {"DisplayName": "", "SignatureVersion": "1"}
        self.subscriptions = []
        self.deleted_subscriptions = 0
        self.published = 0
        self.denied = 0
        self.deliveries = 0

    def default_policy(self):
        return {
            "Version": "2008-10-17",
            "Id": "__default_policy_ID",
            "Statement": [{
                "Sid": "__default_statement_ID",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": list(DEFAULT_ACTIONS),
                "Resource": self.arn,
                "Condition": {"StringEquals": {"AWS:SourceOwner": self.owner}},
            }],
        }


def validate_topic_policy(text):
    """Check a topic policy the way SetTopicAttributes does; returns the
    parsed document or raises SnsError(InvalidParameter)."""
    if len(text.encode("utf-8")) > MAX_POLICY_BYTES:
        raise _policy_error("Policy size %d bytes exceeds the limit of %d "
                            "bytes" % (len(text.encode("utf-8")),
                                       MAX_POLICY_BYTES))
    try:
        doc = json.loads(text)
    except ValueError:
        raise _policy_error("null")
    if not isinstance(doc, dict):
        raise _policy_error("null")
    if "Version" not in doc:
        raise _policy_error("Policy is missing required element - Version")
    if "Statement" not in doc:
        raise _policy_error("Policy is missing required element - Statement")
    sts = doc["Statement"]
    sts = sts if isinstance(sts, list) else [sts]
    if len(sts) > MAX_STATEMENTS:
        raise _policy_error("Policy has %d statements, more than the limit "
                            "of %d" % (len(sts), MAX_STATEMENTS))
    try:
        policy_mod.validate(doc, "resource")
    except policy_mod.MalformedPolicy as e:
        raise _policy_error(str(e))
    sids = set()
    for st in sts:
        sid = st.get("Sid")
        if sid is not None:
            if not isinstance(sid, str):
                raise _policy_error("Statement Id must be a string")
            if sid in sids:
                raise _policy_error("Statement IDs (SID) must be unique")
            sids.add(sid)
        acts = st.get("Action", st.get("NotAction"))
        for a in acts if isinstance(acts, list) else [acts]:
            if a != "*" and not a.lower().startswith("sns:"):
                raise _invalid("Policy statement action out of service "
                               "scope!")
        for key in ("Principal", "NotPrincipal"):
            p = st.get(key)
            if isinstance(p, dict):
                n = sum(len(v) if isinstance(v, list) else 1
                        for v in p.values())
                if n > MAX_PRINCIPALS:
                    raise _policy_error(
                        "Statement %s has %d principals, more than the "
                        "limit of %d" % (sid or "(no Sid)", n,
                                         MAX_PRINCIPALS))
    return doc
