"""Amazon SNS, query protocol (Action=...&Version=2010-03-31, XML answers).

Topics with a resource policy held to SNS's quotas (100 statements, 30 KB,
200 principals per statement), AddPermission / RemovePermission editing
that same document, SQS subscriptions (raw or enveloped), and Publish
allowed only when the topic policy lets the caller's account publish (the
owner's own account may, as its identity policy would allow it, unless the
topic policy denies it explicitly).

Deliveries to SQS carry the Notification envelope signed as SNS signs it
(SignatureVersion 1: SHA1withRSA, 2: SHA256withRSA, over the canonical
string of the documented fields).  The signing certificate is served
unsigned at SigningCertURL; SubscribeURL / UnsubscribeURL work unsigned,
as on AWS.

Control (/_fake/sns/...):
  POST confirmation-mode   {"mode": "immediate" | "confirm"}: with
                           "confirm" new SQS subscriptions stay pending and
                           get a SubscriptionConfirmation in their queue.
  POST unsubscribe-confirmation {"topic_arn"}: a signed UnsubscribeConfirmation
                           (what SNS sends an HTTP endpoint it unsubscribes)
                           delivered to the topic's SQS subscriptions
  GET  topics              every topic (summary)
  GET  topics/<arn>        policy, attributes, subscriptions, counts
  POST topics              {"name", "account"?, "region"?}: create a topic

This file holds the service (requests, permissions, topics, the signing
key) and the control API; the wire is sns_protocol.py, a topic and its
policy sns_topic.py, subscriptions and publishing sns_delivery.py.
"""

import hashlib
import json
import re
import secrets
import time
import urllib.parse
import uuid

from . import core
from . import policy as policy_mod
from .sns_delivery import DeliveryOps
from .sns_protocol import (ACCOUNT_RE, LABEL_RE, SNS_ACTIONS, TOPIC_NAME_RE, VERSION, XMLNS,
                           SnsError, _invalid, _missing, _timestamp, _x, _xml_ok,
                           format_envelope)
from .sns_topic import Topic, validate_topic_policy


_ARN_REGION_RE = re.compile(r"arn:aws[a-z-]*:sns:([a-z0-9-]+):\d{12}:")


class Service(DeliveryOps):
    name = "sns"

    def __init__(self, world):
        self.world = world
        self.topics = {}          # arn -> Topic
        self.subscriptions = {}   # arn -> Subscription
        self.require_confirmation = False

    # ---- plumbing -------------------------------------------------------

    def _base_url(self, region=None):
        """Where SigningCertURL, SubscribeURL and UnsubscribeURL point: the
        topic's regional endpoint by its real name when the emulator serves
        AWS names (--aws-address), else its own https address."""
        if self.world.aws_address is not None and region:
            return "https://sns.%s.amazonaws.com%s" % (region, ".cn" if region.startswith("cn-") else "")
        return self.world.https_url.rstrip("/")

    def cert_name(self):
        pem = self._cert_pem()
        return "SimpleNotificationService-%s.pem" % hashlib.md5(
            pem).hexdigest()

    def signing_cert_url(self, region=None):
        return "%s/%s" % (self._base_url(region), self.cert_name())

    def _cert_pem(self):
        pem = self.world.pki.signing_cert_pem
        return pem if isinstance(pem, bytes) else pem.encode()

    def _sign(self, data, version):
        return self.world.pki.sign(
            data, "sha1" if version == "1" else "sha256")

    def accepts_unsigned(self, req):
        if req.aws_host is not None and req.aws_host.service != "sns":
            return False
        path = req.path.split("?")[0]
        if req.method == "GET" and path == "/" + self.cert_name():
            return True
        if req.method == "GET" and path == "/":
            action = urllib.parse.parse_qs(req.query).get("Action", [""])[0]
            return action in ("ConfirmSubscription", "Unsubscribe")
        return False

    def scope_regions(self, req):
        """The region of the topic or subscription ARN a request names
        (hosts.py checks the credential scope against it when the Host is
        an address: the call is for that region's endpoint); None when it
        names none."""
        p = req.params()
        for key in ("TopicArn", "TargetArn", "SubscriptionArn"):
            m = _ARN_REGION_RE.match(p.get(key) or "")
            if m:
                return (m.group(1),)
        return None

    async def handle(self, req):
        try:
            path = req.path.split("?")[0]
            if req.identity is None:
                return self._unsigned(req, path)
            if path != "/":
                raise SnsError("InvalidAction", "Unknown path %s" % path)
            if req.method == "POST":
                ctype = req.headers.get("content-type", "")
                if not ctype.lower().startswith(
                        "application/x-www-form-urlencoded"):
                    raise SnsError("InvalidAction",
                                   "SNS speaks the query protocol: a "
                                   "form-encoded POST")
            elif req.method != "GET":
                raise SnsError("InvalidAction", "Unsupported method")
            p = req.params()
            action = p.get("Action")
            if not action:
                raise SnsError("MissingAction", "Missing Action")
            fn = self._ops().get(action)
            if fn is None:
                raise SnsError("InvalidAction",
                               "Could not find operation %s for version %s"
                               % (action, p.get("Version", "")))
            if p.get("Version") != VERSION:
                raise SnsError("InvalidAction",
                               "Could not find operation %s for version %s"
                               % (action, p.get("Version", "")))
            return fn(req, p)
        except SnsError as e:
            return core.aws_query_error(e.code, e.message, e.status,
                                        sender=e.status < 500, xmlns=XMLNS)

    def _unsigned(self, req, path):
        if path == "/" + self.cert_name():
            return core.Response(200, self._cert_pem(),
                                 {"Content-Type": "application/x-x509-ca-cert"})
        p = urllib.parse.parse_qs(req.query)
        p = {k: v[0] for k, v in p.items()}
        if p.get("Action") == "ConfirmSubscription":
            return self.op_confirm_subscription(req, p)
        if p.get("Action") == "Unsubscribe":
            return self._unsubscribe(p, None)
        raise SnsError("InvalidAction", "unsigned request")

    def _ops(self):
        return {
            "CreateTopic": self.op_create_topic,
            "DeleteTopic": self.op_delete_topic,
            "ListTopics": self.op_list_topics,
            "GetTopicAttributes": self.op_get_topic_attributes,
            "SetTopicAttributes": self.op_set_topic_attributes,
            "AddPermission": self.op_add_permission,
            "RemovePermission": self.op_remove_permission,
            "Subscribe": self.op_subscribe,
            "ConfirmSubscription": self.op_confirm_subscription,
            "Unsubscribe": self.op_unsubscribe,
            "ListSubscriptionsByTopic": self.op_list_subscriptions_by_topic,
            "Publish": self.op_publish,
        }

    # ---- helpers --------------------------------------------------------

    @staticmethod
    def _req(p, name):
        v = p.get(name)
        if v is None:
            raise _missing(name)
        return v

    @staticmethod
    def _members(p, name):
        out = []
        i = 1
        while "%s.member.%d" % (name, i) in p:
            out.append(p["%s.member.%d" % (name, i)])
            i += 1
        return out

    @staticmethod
    def _entries(p, name):
        out = {}
        i = 1
        while "%s.entry.%d.key" % (name, i) in p:
            out[p["%s.entry.%d.key" % (name, i)]] = p.get(
                "%s.entry.%d.value" % (name, i), "")
            i += 1
        return out

    def _topic(self, req, p, key="TopicArn"):
        arn = self._req(p, key)
        t = self.topics.get(arn)
        if t is None:
            if not re.match(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]+$",
                            arn):
                raise _invalid(key)
            raise SnsError("NotFound", "Topic does not exist", 404)
        if req is not None and req.region and t.region != req.region:
            raise _invalid(key)
        return t

    @staticmethod
    def _principal(req):
        return req.identity.account_id, req.identity.arn

    def decide(self, topic, account, arn, action, secure=True):
        """Whether `account` (principal `arn`) may do SNS:<action> on the
        topic: the topic policy decides; the owner's own account is allowed
        unless the policy denies explicitly."""
        context = {
            "aws:SourceOwner": account,
            "aws:SourceAccount": account,
            "aws:SecureTransport": "true" if secure else "false",
            "aws:CurrentTime": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                             time.gmtime()),
        }
        d = policy_mod.evaluate(json.loads(topic.policy),
                                principal_account=account,
                                principal_arn=arn, action="SNS:" + action,
                                resource=topic.arn, context=context)
        if d == "Deny":
            return False
        return d == "Allow" or account == topic.owner

    def _authorize(self, req, topic, action):
        account, arn = self._principal(req)
        if not self.decide(topic, account, arn, action,
                           secure=req.scheme == "https"):
            raise SnsError("AuthorizationError",
                           "User: %s is not authorized to perform: SNS:%s on "
                           "resource: %s" % (arn, action, topic.arn), 403)

    # ---- topics ---------------------------------------------------------

    def create_topic(self, region, owner, name, attrs=None):
        if not TOPIC_NAME_RE.match(name or ""):
            raise _invalid("Topic Name")
        if name.endswith(".fifo") or "FifoTopic" in (attrs or {}):
            raise _invalid("FIFO topics are not supported by this emulator")
        arn = "arn:aws:sns:%s:%s:%s" % (region, owner, name)
        t = self.topics.get(arn)
        fresh = t is None
        if fresh:
            t = Topic(region, owner, name)
        for k, v in (attrs or {}).items():
            if not fresh:
                cur = t.policy if k == "Policy" else t.attrs.get(k)
                if cur != v:
                    raise _invalid("Attributes Reason: Topic already exists "
                                   "with different attributes")
            else:
                self._set_attr(t, k, v)
        if fresh:
            self.topics[arn] = t
            self.world.record("sns.create_topic", arn=arn)
        return t

    def op_create_topic(self, req, p):
        name = self._req(p, "Name")
        t = self.create_topic(req.region or self.world.region,
                              req.identity.account_id, name,
                              self._entries(p, "Attributes"))
        return _xml_ok("CreateTopic",
                       "    <TopicArn>%s</TopicArn>\n" % _x(t.arn))

    def op_delete_topic(self, req, p):
        t = self._topic(req, p)
        self._authorize(req, t, "DeleteTopic")
        del self.topics[t.arn]
        for s in t.subscriptions:
            self.subscriptions.pop(s.arn, None)
        return _xml_ok("DeleteTopic")

    def op_list_topics(self, req, p):
        region = req.region or self.world.region
        members = "".join(
            "      <member>\n        <TopicArn>%s</TopicArn>\n"
            "      </member>\n" % _x(t.arn)
            for t in sorted(self.topics.values(), key=lambda t: t.arn)
            if t.owner == req.identity.account_id and t.region == region)
        return _xml_ok("ListTopics",
                       "    <Topics>\n%s    </Topics>\n" % members)

    def _topic_attrs(self, t):
        confirmed = sum(1 for s in t.subscriptions if s.confirmed)
        pending = len(t.subscriptions) - confirmed
        out = {
            "Policy": t.policy,
            "Owner": t.owner,
            "TopicArn": t.arn,
            "SubscriptionsConfirmed": str(confirmed),
            "SubscriptionsPending": str(pending),
            "SubscriptionsDeleted": str(t.deleted_subscriptions),
            "EffectiveDeliveryPolicy": json.dumps({"http": {
                "defaultHealthyRetryPolicy": {
                    "minDelayTarget": 20, "maxDelayTarget": 20,
                    "numRetries": 3, "numMaxDelayRetries": 0,
                    "numNoDelayRetries": 0, "numMinDelayRetries": 0,
                    "backoffFunction": "linear"},
                "disableSubscriptionOverrides": False}},
                separators=(",", ":")),
        }
        out.update(t.attrs)
        return out

    def op_get_topic_attributes(self, req, p):
        t = self._topic(req, p)
        self._authorize(req, t, "GetTopicAttributes")
        entries = "".join(
            "      <entry>\n        <key>%s</key>\n        <value>%s</value>\n"
            "      </entry>\n" % (_x(k), _x(v))
            for k, v in self._topic_attrs(t).items())
        return _xml_ok("GetTopicAttributes",
                       "    <Attributes>\n%s    </Attributes>\n" % entries)

    def _set_attr(self, t, name, value):
        if name == "Policy":
            validate_topic_policy(value)
            t.policy = value
        elif name == "SignatureVersion":
            if value not in ("1", "2"):
                raise _invalid("SignatureVersion")
            t.attrs[name] = value
        elif name == "DisplayName":
            if len(value) > 100:
                raise _invalid("DisplayName")
            t.attrs[name] = value
        elif name in ("DeliveryPolicy", "TracingConfig"):
            t.attrs[name] = value
        else:
            raise _invalid("AttributeName")

    def op_set_topic_attributes(self, req, p):
        t = self._topic(req, p)
        self._authorize(req, t, "SetTopicAttributes")
        name = self._req(p, "AttributeName")
        self._set_attr(t, name, p.get("AttributeValue", ""))
        self.world.record("sns.set_topic_attributes", arn=t.arn,
                          attribute=name)
        return _xml_ok("SetTopicAttributes")

    def op_add_permission(self, req, p):
        t = self._topic(req, p)
        self._authorize(req, t, "AddPermission")
        label = self._req(p, "Label")
        accounts = self._members(p, "AWSAccountId")
        actions = self._members(p, "ActionName")
        if not LABEL_RE.match(label):
            raise _invalid("Label")
        if not accounts:
            raise _missing("AWSAccountId")
        if not actions:
            raise _missing("ActionName")
        for a in accounts:
            if not ACCOUNT_RE.match(a):
                raise _invalid("AWSAccountId")
        for a in actions:
            if a not in SNS_ACTIONS:
                raise _invalid("Policy statement action out of service "
                               "scope!")
        doc = json.loads(t.policy)
        sts = doc.get("Statement")
        sts = sts if isinstance(sts, list) else [sts]
        if any(isinstance(s, dict) and s.get("Sid") == label for s in sts):
            raise _invalid("Statement already exists")
        principals = ["arn:aws:iam::%s:root" % a for a in accounts]
        sts.append({
            "Sid": label,
            "Effect": "Allow",
            "Principal": {"AWS": principals[0] if len(principals) == 1
                          else principals},
            "Action": ("SNS:" + actions[0]) if len(actions) == 1
            else ["SNS:" + a for a in actions],
            "Resource": t.arn,
        })
        doc["Statement"] = sts
        text = json.dumps(doc, separators=(",", ":"))
        validate_topic_policy(text)
        t.policy = text
        return _xml_ok("AddPermission")

    def op_remove_permission(self, req, p):
        t = self._topic(req, p)
        self._authorize(req, t, "RemovePermission")
        label = self._req(p, "Label")
        doc = json.loads(t.policy)
        sts = doc.get("Statement")
        sts = sts if isinstance(sts, list) else [sts]
        kept = [s for s in sts if not (isinstance(s, dict)
                                       and s.get("Sid") == label)]
        if len(kept) == len(sts):
            raise _invalid("Label")
        doc["Statement"] = kept
        t.policy = json.dumps(doc, separators=(",", ":"))
        return _xml_ok("RemovePermission")

    # ---- control --------------------------------------------------------

    async def control(self, req, subpath):
        path = subpath.strip("/")
        if path == "confirmation-mode" and req.method == "POST":
            try:
                spec = json.loads(req.body or b"{}")
                mode = spec.get("mode")
            except (ValueError, AttributeError):
                mode = None
            if mode not in ("immediate", "confirm"):
                return core.json_response(
                    {"error": 'body must be {"mode": "immediate"|"confirm"}'},
                    status=400)
            self.require_confirmation = mode == "confirm"
            return core.json_response({"mode": mode})
        if path == "unsubscribe-confirmation" and req.method == "POST":
            # What SNS sends an HTTP(S) endpoint when it is unsubscribed,
            # signed like every message, delivered here to the topic's SQS
            # subscriptions: a consumer must recognise it and do nothing.
            try:
                spec = json.loads(req.body or b"{}")
                t = self.topics.get(spec.get("topic_arn"))
            except (ValueError, AttributeError):
                t = None
            if t is None:
                return core.json_response({"error": "topic_arn: no such topic"}, status=400)
            sqs = self.world.services.get("sqs")
            ids = []
            for sub in list(t.subscriptions):
                token = sub.token or secrets.token_hex(128)
                msg = {
                    "Type": "UnsubscribeConfirmation",
                    "MessageId": str(uuid.uuid4()),
                    "Token": token,
                    "TopicArn": t.arn,
                    "Message": "You have chosen to deactivate subscription %s.\nTo cancel this "
                               "operation and restore the subscription, visit the SubscribeURL "
                               "included in this message." % sub.arn,
                    "SubscribeURL": "%s/?Action=ConfirmSubscription&TopicArn=%s&Token=%s"
                                    % (self._base_url(t.arn.split(":")[3]), t.arn, token),
                    "Timestamp": _timestamp(),
                }
                self._signed(t, msg)
                if sqs is not None and sqs.deliver(sub.endpoint, format_envelope(msg)):
                    ids.append(msg["MessageId"])
            return core.json_response({"delivered": len(ids)})
        if path == "confirmation-mode" and req.method == "GET":
            return core.json_response(
                {"mode": "confirm" if self.require_confirmation
                 else "immediate"})
        if path == "topics" and req.method == "GET":
            return core.json_response(
                {"topics": [self._snapshot(t) for t in self.topics.values()]})
        if path == "topics" and req.method == "POST":
            try:
                spec = json.loads(req.body or b"{}")
                t = self.create_topic(
                    spec.get("region") or self.world.region,
                    spec.get("account") or self.world.partner_account,
                    spec.get("name"), spec.get("attributes") or {})
            except (ValueError, AttributeError):
                return core.json_response({"error": "bad JSON"}, status=400)
            except SnsError as e:
                return core.json_response({"error": e.code,
                                           "message": e.message}, status=400)
            return core.json_response(self._snapshot(t))
        if path.startswith("topics/") and req.method == "GET":
            arn = urllib.parse.unquote(path[len("topics/"):])
            t = self.topics.get(arn)
            if t is None:
                return core.json_response({"error": "no such topic"},
                                          status=404)
            return core.json_response(self._snapshot(t))
        return core.json_response({"error": "not found"}, status=404)

    def _snapshot(self, t):
        return {
            "arn": t.arn, "owner": t.owner, "region": t.region,
            "policy": json.loads(t.policy),
            "attributes": dict(t.attrs),
            "subscriptions": [
                {"arn": s.arn, "protocol": s.protocol,
                 "endpoint": s.endpoint, "confirmed": s.confirmed,
                 "raw": s.raw, "delivered": s.delivered}
                for s in t.subscriptions],
            "published": t.published, "denied": t.denied,
            "deliveries": t.deliveries,
        }
