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
"""

import base64
import hashlib
import json
import re
import secrets
import time
import urllib.parse
import uuid

from . import core
from . import policy as policy_mod

VERSION = "2010-03-31"
XMLNS = core.XMLNS["sns"]
MAX_MESSAGE = 262144
MAX_POLICY_BYTES = 30 * 1024
MAX_STATEMENTS = 100
MAX_PRINCIPALS = 200
TOPIC_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
LABEL_RE = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
ACCOUNT_RE = re.compile(r"^\d{12}$")
SQS_ARN_RE = re.compile(
    r"^arn:aws[a-z-]*:sqs:([a-z0-9-]+):(\d{12}):([A-Za-z0-9_-]{1,80})$")
SNS_ACTIONS = ("GetTopicAttributes", "SetTopicAttributes", "AddPermission",
               "RemovePermission", "DeleteTopic", "Subscribe",
               "ListSubscriptionsByTopic", "Publish", "Receive")
DEFAULT_ACTIONS = ["SNS:GetTopicAttributes", "SNS:SetTopicAttributes",
                   "SNS:AddPermission", "SNS:RemovePermission",
                   "SNS:DeleteTopic", "SNS:Subscribe",
                   "SNS:ListSubscriptionsByTopic", "SNS:Publish"]


class SnsError(Exception):
    def __init__(self, code, message, status=400):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def _invalid(what):
    return SnsError("InvalidParameter", "Invalid parameter: %s" % what)


def _policy_error(what):
    return SnsError("InvalidParameter",
                    "Invalid parameter: Policy Error: %s" % what)


def _missing(name):
    return SnsError("ValidationError",
                    "1 validation error detected: Value null at '%s' failed "
                    "to satisfy constraint: Member must not be null"
                    % (name[0].lower() + name[1:]))


def _x(s):
    return core.xml_escape(s)


def _xml_ok(action, result_xml=None):
    rid = core.new_request_id()
    body = '<%sResponse xmlns="%s">\n' % (action, XMLNS)
    if result_xml is None:
        pass
    else:
        body += "  <%sResult>\n%s  </%sResult>\n" % (action, result_xml,
                                                    action)
    body += ("  <ResponseMetadata>\n    <RequestId>%s</RequestId>\n"
             "  </ResponseMetadata>\n</%sResponse>\n" % (rid, action))
    return core.xml_response(body)


def _timestamp():
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + \
        ".%03dZ" % (int(t * 1000) % 1000)


def string_to_sign(msg):
    """The canonical string SNS signs (testdata/README.md section 2)."""
    if msg["Type"] == "Notification":
        keys = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn",
                "Type"]
    else:
        keys = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token",
                "TopicArn", "Type"]
    out = []
    for k in keys:
        if msg.get(k) is None:
            continue
        out.append("%s\n%s\n" % (k, msg[k]))
    return "".join(out).encode("utf-8")


def format_envelope(msg):
    """JSON laid out like SNS's own: `"Key" : value`, two-space indent.
    Non-ASCII characters travel as \\u escapes (surrogate pairs beyond the
    BMP), as in the delivered messages we have seen: a consumer has to
    decode them before it can check the signature."""
    lines = []
    for k, v in msg.items():
        if k == "MessageAttributes":
            inner = ",\n".join(
                '    %s : %s' % (json.dumps(n),
                                 json.dumps(a, separators=(",", ":")))
                for n, a in v.items())
            lines.append('  "MessageAttributes" : {\n%s\n  }' % inner)
        else:
            lines.append("  %s : %s" % (json.dumps(k), json.dumps(v)))
    return "{\n" + ",\n".join(lines) + "\n}"


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


class Service:
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

    # ---- subscriptions --------------------------------------------------

    def op_subscribe(self, req, p):
        t = self._topic(req, p)
        self._authorize(req, t, "Subscribe")
        protocol = self._req(p, "Protocol")
        endpoint = p.get("Endpoint")
        if protocol != "sqs":
            raise _invalid("Invalid protocol type: %s" % protocol
                           if protocol not in ("http", "https", "email",
                                               "email-json", "sms",
                                               "application", "lambda",
                                               "firehose")
                           else "Unsupported protocol in this emulator: %s"
                           % protocol)
        if not endpoint or not SQS_ARN_RE.match(endpoint):
            raise _invalid("SQS endpoint ARN")
        attrs = self._entries(p, "Attributes")
        raw = False
        for k, v in attrs.items():
            if k == "RawMessageDelivery":
                if v not in ("true", "false"):
                    raise _invalid("Attributes Reason: RawMessageDelivery: "
                                   "Invalid value [%s]. Must be true or "
                                   "false." % v)
                raw = v == "true"
            else:
                raise _invalid("Attributes Reason: Unsupported attribute "
                               "%s" % k)
        for s in t.subscriptions:
            if s.endpoint == endpoint:
                if s.raw != raw:
                    raise _invalid("Attributes Reason: Subscription already "
                                   "exists with different attributes")
                return self._subscribe_result(s, p)
        s = Subscription(t, endpoint, req.identity.account_id, raw)
        t.subscriptions.append(s)
        self.subscriptions[s.arn] = s
        if self.require_confirmation:
            s.token = secrets.token_hex(128)
            self._send_confirmation(s)
        else:
            s.confirmed = True
        self.world.record("sns.subscribe", topic=t.arn, subscription=s.arn,
                          endpoint=endpoint, confirmed=s.confirmed)
        return self._subscribe_result(s, p)

    def subscribe_as(self, account_id, topic_arn, endpoint, raw=False):
        """Subscribe an SQS queue on behalf of `account_id` (the
        CloudFormation simulator); returns the Subscription.  Raises
        SnsError as Subscribe would."""
        t = self.topics.get(topic_arn)
        if t is None:
            raise SnsError("NotFound", "Topic does not exist", 404)
        if not self.decide(t, account_id, "arn:aws:iam::%s:root" % account_id,
                           "Subscribe"):
            raise SnsError("AuthorizationError", "User: arn:aws:iam::%s:root is not "
                           "authorized to perform: SNS:Subscribe on resource: %s"
                           % (account_id, t.arn), 403)
        for s in t.subscriptions:
            if s.endpoint == endpoint:
                return s
        s = Subscription(t, endpoint, account_id, raw)
        t.subscriptions.append(s)
        self.subscriptions[s.arn] = s
        if self.require_confirmation:
            s.token = secrets.token_hex(128)
            self._send_confirmation(s)
        else:
            s.confirmed = True
        self.world.record("sns.subscribe", topic=t.arn, subscription=s.arn,
                          endpoint=endpoint, confirmed=s.confirmed)
        return s

    @staticmethod
    def _subscribe_result(s, p):
        show = s.confirmed or p.get("ReturnSubscriptionArn") == "true"
        arn = s.arn if show else "pending confirmation"
        return _xml_ok("Subscribe", "    <SubscriptionArn>%s</SubscriptionArn>\n"
                       % _x(arn))

    def op_confirm_subscription(self, req, p):
        t = self._topic(None, p)
        token = self._req(p, "Token")
        for s in t.subscriptions:
            if s.token is not None and secrets.compare_digest(
                    s.token, token):
                if not s.confirmed:
                    s.confirmed = True
                    self.world.record("sns.confirm", subscription=s.arn)
                return _xml_ok("ConfirmSubscription",
                               "    <SubscriptionArn>%s</SubscriptionArn>\n"
                               % _x(s.arn))
        raise _invalid("Invalid token")

    def _unsubscribe(self, p, req):
        arn = self._req(p, "SubscriptionArn")
        s = self.subscriptions.get(arn)
        if s is None:
            raise SnsError("NotFound", "Subscription does not exist", 404)
        if req is not None and req.identity.account_id not in (
                s.owner, s.topic.owner):
            raise SnsError("AuthorizationError",
                           "User: %s is not authorized to perform: "
                           "SNS:Unsubscribe on resource: %s"
                           % (req.identity.arn, arn), 403)
        del self.subscriptions[arn]
        s.topic.subscriptions.remove(s)
        s.topic.deleted_subscriptions += 1
        return _xml_ok("Unsubscribe")

    def op_unsubscribe(self, req, p):
        return self._unsubscribe(p, req)

    def op_list_subscriptions_by_topic(self, req, p):
        t = self._topic(req, p)
        self._authorize(req, t, "ListSubscriptionsByTopic")
        members = "".join(
            "      <member>\n"
            "        <TopicArn>%s</TopicArn>\n"
            "        <Protocol>%s</Protocol>\n"
            "        <SubscriptionArn>%s</SubscriptionArn>\n"
            "        <Owner>%s</Owner>\n"
            "        <Endpoint>%s</Endpoint>\n"
            "      </member>\n"
            % (_x(t.arn), s.protocol,
               _x(s.arn if s.confirmed else "PendingConfirmation"),
               s.owner, _x(s.endpoint))
            for s in t.subscriptions)
        return _xml_ok("ListSubscriptionsByTopic",
                       "    <Subscriptions>\n%s    </Subscriptions>\n"
                       % members)

    # ---- publishing -----------------------------------------------------

    @staticmethod
    def _check_subject(subject):
        if subject is None:
            return
        if subject == "" or len(subject) > 100:
            raise _invalid("Subject")
        for ch in subject:
            if ord(ch) < 0x20 or ord(ch) > 0x7E:
                raise _invalid("Subject")
        if not (subject[0].isalnum() or subject[0] in
                "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"):
            raise _invalid("Subject")

    @staticmethod
    def _check_message(message):
        if message is None or message == "":
            raise _invalid("Empty message")
        if len(message.encode("utf-8", "surrogatepass")) > MAX_MESSAGE:
            raise _invalid("Message too long")
        for ch in message:
            if 0xD800 <= ord(ch) <= 0xDFFF:
                raise _invalid("Message contains invalid characters")

    def _message_attributes(self, p):
        out = {}
        i = 1
        while "MessageAttributes.entry.%d.Name" % i in p:
            pre = "MessageAttributes.entry.%d." % i
            name = p[pre + "Name"]
            dt = p.get(pre + "Value.DataType")
            if not dt or dt.split(".")[0] not in ("String", "Number",
                                                 "Binary", "String.Array"):
                raise _invalid("The message attribute '%s' has an invalid "
                               "message attribute type, the set of "
                               "supported type prefixes is Binary, Number, "
                               "and String." % name)
            if dt.startswith("Binary"):
                val = p.get(pre + "Value.BinaryValue")
            else:
                val = p.get(pre + "Value.StringValue")
            if val is None:
                raise _invalid("The message attribute '%s' must contain "
                               "non-empty message attribute value." % name)
            out[name] = (dt, val)
            i += 1
        if len(out) > 10:
            raise _invalid("Too many message attributes")
        return out

    def op_publish(self, req, p):
        if "PhoneNumber" in p or "TargetArn" in p and "TopicArn" not in p:
            raise _invalid("only TopicArn targets are supported")
        t = self._topic(req, p)
        message = p.get("Message")
        subject = p.get("Subject")
        self._check_message(message)
        self._check_subject(subject)
        structure = p.get("MessageStructure")
        if structure not in (None, "json"):
            raise _invalid("MessageStructure")
        if structure == "json":
            try:
                m = json.loads(message)
            except ValueError:
                m = None
            if not isinstance(m, dict) or not isinstance(m.get("default"),
                                                         str):
                raise _invalid("Message Structure - No default entry in "
                               "JSON message body")
            message = m.get("sqs", m["default"])
        attrs = self._message_attributes(p)
        account, arn = self._principal(req)
        if not self.decide(t, account, arn, "Publish",
                           secure=req.scheme == "https"):
            t.denied += 1
            self.world.record("sns.publish_denied", topic=t.arn,
                              account=account)
            raise SnsError("AuthorizationError",
                           "User: %s is not authorized to perform: "
                           "SNS:Publish on resource: %s" % (arn, t.arn), 403)
        mid = self._publish(t, message, subject, attrs, account)
        return _xml_ok("Publish", "    <MessageId>%s</MessageId>\n" % mid)

    def publish_as(self, account_id, topic_arn, message, subject=None):
        """Publish on behalf of `account_id` (the CloudFormation simulator).
        Returns the message id; raises core.AccessDenied when the topic
        policy does not allow that account to publish."""
        t = self.topics.get(topic_arn)
        if t is None:
            raise core.AccessDenied("Topic does not exist: %s" % topic_arn)
        try:
            self._check_message(message)
            self._check_subject(subject)
        except SnsError as e:
            raise core.AccessDenied(e.message)
        principal = "arn:aws:iam::%s:root" % account_id
        if not self.decide(t, account_id, principal, "Publish"):
            t.denied += 1
            self.world.record("sns.publish_denied", topic=t.arn,
                              account=account_id)
            raise core.AccessDenied(
                "User: %s is not authorized to perform: SNS:Publish on "
                "resource: %s" % (principal, t.arn))
        return self._publish(t, message, subject, {}, account_id)

    def _publish(self, t, message, subject, attrs, account):
        mid = str(uuid.uuid4())
        t.published += 1
        self.world.record("sns.publish", topic=t.arn, message_id=mid,
                          account=account)
        sqs = self.world.services.get("sqs")
        for s in list(t.subscriptions):
            if not s.confirmed or sqs is None:
                continue
            if s.raw:
                body = message
                qattrs = {}
                for n, (dt, v) in attrs.items():
                    key = "BinaryValue" if dt.startswith("Binary") \
                        else "StringValue"
                    qattrs[n] = {"DataType": dt, key: v}
            else:
                body = self.notification(t, s, mid, message, subject, attrs)
                qattrs = {}
            if sqs.deliver(s.endpoint, body, qattrs or None,
                           source_arn=t.arn) is not None:
                s.delivered += 1
                t.deliveries += 1
        return mid

    def _signed(self, t, msg):
        version = t.attrs.get("SignatureVersion", "1")
        msg["SignatureVersion"] = version
        sig = self._sign(string_to_sign(msg), version)
        msg["Signature"] = base64.b64encode(sig).decode()
        msg["SigningCertURL"] = self.signing_cert_url(t.arn.split(":")[3])
        return msg

    def notification(self, t, s, mid, message, subject, attrs=None):
        msg = {"Type": "Notification", "MessageId": mid, "TopicArn": t.arn}
        if subject is not None:
            msg["Subject"] = subject
        msg["Message"] = message
        msg["Timestamp"] = _timestamp()
        self._signed(t, msg)
        msg["UnsubscribeURL"] = "%s/?Action=Unsubscribe&SubscriptionArn=%s" % (
            self._base_url(t.arn.split(":")[3]), s.arn)
        if attrs:
            msg["MessageAttributes"] = {
                n: {"Type": dt, "Value": v} for n, (dt, v) in attrs.items()}
        return format_envelope(msg)

    def _send_confirmation(self, s):
        t = s.topic
        msg = {
            "Type": "SubscriptionConfirmation",
            "MessageId": str(uuid.uuid4()),
            "Token": s.token,
            "TopicArn": t.arn,
            "Message": "You have chosen to subscribe to the topic %s.\n"
                       "To confirm the subscription, visit the SubscribeURL "
                       "included in this message." % t.arn,
            "SubscribeURL": "%s/?Action=ConfirmSubscription&TopicArn=%s"
                            "&Token=%s" % (self._base_url(t.arn.split(":")[3]), t.arn, s.token),
            "Timestamp": _timestamp(),
        }
        self._signed(t, msg)
        sqs = self.world.services.get("sqs")
        if sqs is not None:
            sqs.deliver(s.endpoint, format_envelope(msg), source_arn=t.arn)

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
