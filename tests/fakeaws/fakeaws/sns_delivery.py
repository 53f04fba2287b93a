"""SNS subscriptions and publishing for the simulator: Subscribe (with its
confirmation), Unsubscribe, listing, Publish with its checks, and delivery
of signed notifications to SQS.  A mixin of sns.Service, which owns the
topics and the signing key."""

import base64
import json
import secrets
import uuid

from . import core
from .sns_protocol import (MAX_MESSAGE, SQS_ARN_RE, SnsError, _invalid, _timestamp, _x, _xml_ok,
                           format_envelope, string_to_sign)
from .sns_topic import Subscription


class DeliveryOps:
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
        return self._subscribe_result(self._add_subscription(t, endpoint,
                                                             req.identity.account_id, raw), p)

    def _add_subscription(self, t, endpoint, owner, raw):
        """A new subscription of t, confirmed at once or sent its
        confirmation, as the service is configured; recorded."""
        s = Subscription(t, endpoint, owner, raw)
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
        return self._add_subscription(t, endpoint, account_id, raw)

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
