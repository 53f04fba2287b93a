"""Amazon SQS, AWS JSON 1.0 protocol only (standard queues).

As strict as the real service where xacct depends on it: parameter ranges,
JSON member types, receipt handles that change on every receive, long
polling that returns as soon as a message is available, redrive to a
dead-letter queue, body size and character limits, and queues usable only
by the account that owns them.  SNS delivers with `deliver()`, which is
internal and bypasses the owner check, like the service principal does.

At-least-once, best-effort order: with POST /_fake/sqs/config
{"duplicate_rate": R, "reorder": true, "seed"?: N} a received message stays
visible with probability R, so it is delivered again (to any consumer, with
a new receipt handle; each of its handles then deletes it, as the copies of
a real standard queue do), and each receive picks the available messages in
random order. Off by default; the resilience tests turn it on.
GET /_fake/sqs/receives tells how many ReceiveMessage calls are being
answered now and the most there ever were at once (a consumer's receive
concurrency); {"receive_latency_ms": N} in the config holds each answer back
N ms, counted as being answered. {"entry_error_count": N}: the next N
entries of DeleteMessageBatch / ChangeMessageVisibilityBatch fail on the
service's side (Failed with SenderFault false, Code InternalError) and are
not applied, as a batch can partly fail on AWS (recorded `sqs.entry_fault`).

Queue policies: the `Policy` attribute (CreateQueue, SetQueueAttributes,
GetQueueAttributes) is a resource policy validated like SQS validates one
(well-formed, actions of the `sqs:` service).  SNS delivery names its topic,
and a queue with a policy then gets the message only when the policy
allows principal `sns.amazonaws.com` `sqs:SendMessage` on the queue with
`aws:SourceArn` = the topic (and `aws:SourceAccount` = the topic's owner),
as AWS decides it; otherwise the message is dropped and recorded as
`sqs.delivery_denied`.  A queue without a policy gets nothing from SNS, as
on AWS.  Queues made through the control API (test fixtures: what a partner
has set up) get, unless their attributes carry a Policy, one that lets SNS
topics of the queue's own account send.

This file holds the queues (create, list, attributes, purge, delete) and the
control API; the wire is sqs_protocol.py, the messages sqs_messages.py.
"""

import json
import random
import re
import time
import urllib.parse

from . import core, hosts
from . import policy as policy_mod
from .sqs_messages import MessageOps
from .sqs_protocol import (JSON_CT, QUEUE_NAME_RE, TARGET_PREFIX, SqsError,
                           _error_response, _invalid_value, _ok)
from .sqs_queue import INT_ATTRS as _INT_ATTRS, Queue

_SETTABLE = set(_INT_ATTRS) | {"RedrivePolicy", "SqsManagedSseEnabled", "Policy"}
_READ_ONLY = {
    "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed", "CreatedTimestamp",
    "LastModifiedTimestamp", "QueueArn",
}
class Service(MessageOps):
    name = "sqs"

    def __init__(self, world):
        self.world = world
        self.queues = {}      # arn -> Queue
        self.handles = {}     # receipt handle -> (queue arn, message)
        self.duplicate_rate = 0.0
        self.reorder = False
        self.receiving = 0        # ReceiveMessage calls being answered now
        self.receive_latency_ms = 0.0
        self.entry_error_count = 0  # batch entries still to fail on our side
        self.receiving_max = 0    # the most at once
        self.rng = random.Random()
        self.ops = self._ops()    # operation name -> handler

    # ---- plumbing -------------------------------------------------------

    def accepts_unsigned(self, req):
        return False

    def _base_url(self):
        return self.world.https_url.rstrip("/")

    def queue_url(self, account, name):
        return "%s/%s/%s" % (self._base_url(), account, name)

    async def handle(self, req):
        try:
            if req.method != "POST" or req.path.split("?")[0] != "/":
                raise SqsError("UnknownOperationException",
                               "SQS speaks the AWS JSON 1.0 protocol: "
                               "POST / only")
            ctype = req.headers.get("content-type", "")
            if ctype.split(";")[0].strip().lower() != JSON_CT:
                raise SqsError("UnknownOperationException",
                               "Content-Type must be %s" % JSON_CT)
            target = req.headers.get("x-amz-target", "")
            if not target.startswith(TARGET_PREFIX):
                raise SqsError("UnknownOperationException",
                               "missing or foreign X-Amz-Target")
            op = target[len(TARGET_PREFIX):]
            fn = self.ops.get(op)
            if fn is None:
                raise SqsError("UnknownOperationException",
                               "unknown operation %s" % op)
            params = _json_body(req)
            if not isinstance(params, dict):
                raise SqsError("SerializationException",
                               "request body must be a JSON object")
            ident = req.identity
            if ident is None:
                raise SqsError("AccessDenied", "request is not signed")
            return await fn(req, params)
        except SqsError as e:
            return _error_response(e.code, e.message, e.status)

    def _ops(self):
        return {
            "CreateQueue": self.op_create_queue,
            "GetQueueUrl": self.op_get_queue_url,
            "ListQueues": self.op_list_queues,
            "DeleteQueue": self.op_delete_queue,
            "PurgeQueue": self.op_purge_queue,
            "GetQueueAttributes": self.op_get_queue_attributes,
            "SetQueueAttributes": self.op_set_queue_attributes,
            "SendMessage": self.op_send_message,
            "ReceiveMessage": self.op_receive_message,
            "DeleteMessage": self.op_delete_message,
            "DeleteMessageBatch": self.op_delete_message_batch,
            "ChangeMessageVisibility": self.op_change_visibility,
            "ChangeMessageVisibilityBatch": self.op_change_visibility_batch,
        }

    # ---- parameter helpers ----------------------------------------------

    @staticmethod
    def _str(params, name, required=False):
        v = params.get(name)
        if v is None:
            if required:
                raise SqsError("MissingParameter",
                               "The request must contain the parameter %s."
                               % name)
            return None
        if not isinstance(v, str):
            raise SqsError("SerializationException",
                           "%s must be a string" % name)
        return v

    @staticmethod
    def _int(params, name, lo, hi, reason):
        v = params.get(name)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int):
            raise SqsError("SerializationException",
                           "%s must be an integer" % name)
        if not lo <= v <= hi:
            raise _invalid_value(name, v, reason)
        return v

    @staticmethod
    def _str_list(params, name):
        v = params.get(name)
        if v is None:
            return []
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise SqsError("SerializationException",
                           "%s must be a list of strings" % name)
        return v

    @staticmethod
    def _str_map(params, name):
        v = params.get(name)
        if v is None:
            return {}
        if not isinstance(v, dict) or not all(
                isinstance(x, str) for x in v.values()):
            raise SqsError("SerializationException",
                           "%s must be a map of strings" % name)
        return v

    def _queue_for(self, req, params):
        url = self._str(params, "QueueUrl", required=True)
        parsed = urllib.parse.urlsplit(url)
        parts = parsed.path.strip("/").split("/")
        if len(parts) != 2 or not re.fullmatch(r"[0-9]{12}", parts[0]):
            raise SqsError("QueueDoesNotExist",
                           "The specified queue does not exist.")
        account, name = parts
        base = urllib.parse.urlsplit(self._base_url())
        http = urllib.parse.urlsplit(self.world.http_url)
        # A queue URL names the emulator's address, or (when it serves AWS
        # names) the queue's real regional endpoint, sqs.<region>.amazonaws.com.
        aws = hosts.parse_aws_name((parsed.hostname or "").lower()) \
            if self.world.aws_address is not None and parsed.port is None else None
        if aws is not None and aws.service != "sqs":
            aws = None
        if parsed.netloc not in (base.netloc, http.netloc) and aws is None:
            raise SqsError("QueueDoesNotExist",
                           "The specified queue does not exist.")
        q = self._owned(req, account, name)
        if aws is not None and aws.region != q.region:
            raise SqsError("QueueDoesNotExist",
                           "The specified queue does not exist.")
        return q

    def scope_regions(self, req):
        """The regions whose endpoint a request's QueueUrl names (hosts.py
        checks the credential scope against them when the Host is an
        address): a queue URL's own region, else where a queue of its
        account and name is; None when it names no queue the emulator has."""
        try:
            params = _json_body(req)
        except SqsError:
            return None
        url = params.get("QueueUrl") if isinstance(params, dict) else None
        if not isinstance(url, str):
            return None
        parsed = urllib.parse.urlsplit(url)
        aws = hosts.parse_aws_name((parsed.hostname or "").lower()) \
            if parsed.port is None else None
        if aws is not None:
            return (aws.region,) if aws.service == "sqs" and aws.region else None
        parts = parsed.path.strip("/").split("/")
        if len(parts) != 2:
            return None
        account, name = parts
        if "arn:aws:sqs:%s:%s:%s" % (req.region, account, name) in self.queues:
            return (req.region,)
        regions = tuple(sorted({q.region for q in self.queues.values()
                                if q.account == account and q.name == name}))
        return regions or None

    def _owned(self, req, account, name):
        if account != req.identity.account_id:
            raise SqsError(
                "AccessDenied",
                "Access to the resource %s is denied."
                % self.queue_url(account, name))
        region = req.region or self.world.region
        q = self.queues.get("arn:aws:sqs:%s:%s:%s" % (region, account, name))
        if q is None:
            raise SqsError("QueueDoesNotExist",
                           "The specified queue does not exist.")
        return q

    def _validate_attrs(self, attrs, existing_region=None, account=None):
        out = {}
        for k, v in attrs.items():
            if k in _READ_ONLY or k not in _SETTABLE:
                raise SqsError("InvalidAttributeName",
                               "Unknown Attribute %s." % k)
            if k in _INT_ATTRS:
                lo, hi, _ = _INT_ATTRS[k]
                if not re.fullmatch(r"-?[0-9]+", v) or not lo <= int(v) <= hi:
                    raise SqsError("InvalidAttributeValue",
                                   "Invalid value for the parameter %s." % k)
                out[k] = str(int(v))
            elif k == "SqsManagedSseEnabled":
                if v not in ("true", "false"):
                    raise SqsError("InvalidAttributeValue",
                                   "Invalid value for the parameter %s." % k)
                out[k] = v
            elif k == "RedrivePolicy":
                out[k] = self._validate_redrive(v, existing_region, account)
            elif k == "Policy":
                out[k] = _validate_queue_policy(v)
        return out

    def _validate_redrive(self, text, region, account):
        if text == "":
            return ""
        try:
            rp = json.loads(text)
        except ValueError:
            rp = None
        if not isinstance(rp, dict):
            raise _invalid_value("RedrivePolicy", text,
                                 "Invalid value for RedrivePolicy")
        extra = set(rp) - {"deadLetterTargetArn", "maxReceiveCount"}
        if extra:
            raise _invalid_value("RedrivePolicy", text,
                                 "Unknown member %s" % sorted(extra)[0])
        arn = rp.get("deadLetterTargetArn")
        mrc = rp.get("maxReceiveCount")
        if not isinstance(arn, str):
            raise _invalid_value("RedrivePolicy", text,
                                 "Redrive policy does not contain mandatory "
                                 "attribute: deadLetterTargetArn")
        if mrc is None:
            raise _invalid_value("RedrivePolicy", text,
                                 "Redrive policy does not contain mandatory "
                                 "attribute: maxReceiveCount")
        if isinstance(mrc, str) and re.fullmatch(r"[0-9]+", mrc):
            mrc = int(mrc)
        if isinstance(mrc, bool) or not isinstance(mrc, int) \
                or not 1 <= mrc <= 1000:
            raise _invalid_value("RedrivePolicy", text,
                                 "Invalid value for maxReceiveCount: %s, "
                                 "valid values are from 1 to 1000 both "
                                 "inclusive" % mrc)
        dlq = self.queues.get(arn)
        if dlq is None or dlq.account != account or dlq.region != region:
            raise _invalid_value("RedrivePolicy", text,
                                 "Dead letter target does not exist")
        return json.dumps({"deadLetterTargetArn": arn,
                           "maxReceiveCount": mrc}, separators=(",", ":"))

    # ---- queue operations -----------------------------------------------

    def create_queue(self, region, account, name, attrs=None):
        """Create (or return) a queue; shared by the API and control."""
        if not QUEUE_NAME_RE.match(name or ""):
            raise SqsError(
                "InvalidParameterValue",
                "Can only include alphanumeric characters, hyphens, or "
                "underscores. 1 to 80 in length")
        clean = self._validate_attrs(attrs or {}, region, account)
        arn = "arn:aws:sqs:%s:%s:%s" % (region, account, name)
        q = self.queues.get(arn)
        if q is not None:
            for k, v in clean.items():
                if q.attrs.get(k, _INT_ATTRS.get(k, (0, 0, None))[2]) != v:
                    raise SqsError(
                        "QueueNameExists",
                        "A queue already exists with the same name and a "
                        "different value for attribute %s" % k)
            return q
        q = Queue(region, account, name, self.queue_url(account, name),
                  {k: v for k, v in clean.items() if v != ""})
        self.queues[arn] = q
        self.world.record("sqs.create_queue", arn=arn)
        return q

    async def op_create_queue(self, req, p):
        name = self._str(p, "QueueName", required=True)
        attrs = self._str_map(p, "Attributes")
        if name.endswith(".fifo") or "FifoQueue" in attrs:
            raise SqsError("UnsupportedOperation",
                           "FIFO queues are not supported by this emulator")
        if "tags" in p and not isinstance(p["tags"], dict):
            raise SqsError("SerializationException", "tags must be a map")
        q = self.create_queue(req.region or self.world.region,
                              req.identity.account_id, name, attrs)
        return _ok({"QueueUrl": q.url})

    async def op_get_queue_url(self, req, p):
        name = self._str(p, "QueueName", required=True)
        owner = self._str(p, "QueueOwnerAWSAccountId") \
            or req.identity.account_id
        q = self._owned(req, owner, name)
        return _ok({"QueueUrl": q.url})

    async def op_list_queues(self, req, p):
        prefix = self._str(p, "QueueNamePrefix") or ""
        region = req.region or self.world.region
        urls = sorted(q.url for q in self.queues.values()
                      if q.account == req.identity.account_id
                      and q.region == region and q.name.startswith(prefix))
        return _ok({"QueueUrls": urls} if urls else {})

    async def op_delete_queue(self, req, p):
        q = self._queue_for(req, p)
        del self.queues[q.arn]
        for m in q.messages.values():
            m.deleted = True
        q.messages.clear()
        q.notify()
        return _ok({})

    async def op_purge_queue(self, req, p):
        q = self._queue_for(req, p)
        self.purge(q)
        return _ok({})

    def purge(self, q):
        for m in q.messages.values():
            m.deleted = True
        q.messages.clear()
        q.notify()

    def _queue_attr_values(self, q):
        visible, in_flight, delayed = q.counts()
        vals = {
            "QueueArn": q.arn,
            "ApproximateNumberOfMessages": str(visible),
            "ApproximateNumberOfMessagesNotVisible": str(in_flight),
            "ApproximateNumberOfMessagesDelayed": str(delayed),
            "CreatedTimestamp": str(q.created),
            "LastModifiedTimestamp": str(q.modified),
            "SqsManagedSseEnabled": q.attrs.get("SqsManagedSseEnabled",
                                                "true"),
        }
        for k, (_, _, default) in _INT_ATTRS.items():
            vals[k] = q.attrs.get(k, default)
        if q.attrs.get("RedrivePolicy"):
            vals["RedrivePolicy"] = q.attrs["RedrivePolicy"]
        if q.attrs.get("Policy"):
            vals["Policy"] = q.attrs["Policy"]
        return vals

    async def op_get_queue_attributes(self, req, p):
        q = self._queue_for(req, p)
        names = self._str_list(p, "AttributeNames")
        vals = self._queue_attr_values(q)
        known = set(vals) | _SETTABLE | {"Policy", "RedriveAllowPolicy",
                                         "KmsMasterKeyId",
                                         "KmsDataKeyReusePeriodSeconds"}
        out = {}
        for n in names:
            if n == "All":
                out.update(vals)
            elif n not in known:
                raise SqsError("InvalidAttributeName",
                               "Unknown Attribute %s." % n)
            elif n in vals:
                out[n] = vals[n]
        return _ok({"Attributes": out} if out else {})

    async def op_set_queue_attributes(self, req, p):
        q = self._queue_for(req, p)
        attrs = self._str_map(p, "Attributes")
        clean = self._validate_attrs(attrs, q.region, q.account)
        for k, v in clean.items():
            if v == "":
                q.attrs.pop(k, None)
            else:
                q.attrs[k] = v
        q.modified = int(time.time())
        q.notify()
        return _ok({})

    # ---- control --------------------------------------------------------

    def _find_by_name(self, name, query):
        qs = urllib.parse.parse_qs(query or "")
        account = (qs.get("account") or [None])[0]
        found = [q for q in self.queues.values() if q.name == name
                 and (account is None or q.account == account)]
        return found[0] if len(found) == 1 else None, len(found)

    async def control(self, req, subpath):
        parts = [urllib.parse.unquote(x) for x in subpath.strip("/").split("/")
                 if x]
        if parts == ["config"]:
            if req.method == "POST":
                try:
                    spec = json.loads(req.body or b"{}")
                    rate = float(spec.get("duplicate_rate", self.duplicate_rate))
                    if not 0 <= rate <= 1:
                        raise ValueError("duplicate_rate must be within [0, 1]")
                    self.duplicate_rate = rate
                    self.reorder = bool(spec.get("reorder", self.reorder))
                    lat = float(spec.get("receive_latency_ms", self.receive_latency_ms))
                    if not 0 <= lat <= 60000:
                        raise ValueError("receive_latency_ms must be within [0, 60000]")
                    self.receive_latency_ms = lat
                    n = int(spec.get("entry_error_count", self.entry_error_count))
                    if n < 0:
                        raise ValueError("entry_error_count must be >= 0")
                    self.entry_error_count = n
                    if "seed" in spec:
                        self.rng.seed(spec["seed"])
                except (ValueError, TypeError, AttributeError) as e:
                    return core.json_response({"error": str(e)}, status=400)
            elif req.method != "GET":
                return core.json_response({"error": "method not allowed"}, status=405)
            return core.json_response({"duplicate_rate": self.duplicate_rate,
                                       "reorder": self.reorder,
                                       "receive_latency_ms": self.receive_latency_ms,
                                       "entry_error_count": self.entry_error_count})
        if parts == ["receives"] and req.method == "GET":
            return core.json_response({"in_progress": self.receiving,
                                       "max_concurrent": self.receiving_max})
        if parts == ["queues"] and req.method == "GET":
            return core.json_response(
                {"queues": [self._snapshot(q, False)
                            for q in self.queues.values()]})
        if parts == ["queues"] and req.method == "POST":
            try:
                spec = json.loads(req.body or b"{}")
                region = spec.get("region") or self.world.region
                account = spec.get("account") or self.world.partner_account
                attrs = dict(spec.get("attributes") or {})
                if "Policy" not in attrs and isinstance(spec.get("name"), str):
                    attrs["Policy"] = _own_topics_policy(region, account, spec["name"])
                q = self.create_queue(region, account, spec.get("name"), attrs)
            except (ValueError, AttributeError):
                return core.json_response({"error": "bad JSON"}, status=400)
            except SqsError as e:
                return core.json_response({"error": e.code,
                                           "message": e.message}, status=400)
            return core.json_response(self._snapshot(q, False))
        if len(parts) in (2, 3) and parts[0] == "queues":
            q, n = self._find_by_name(parts[1], req.query)
            if q is None:
                return core.json_response(
                    {"error": "no such queue" if n == 0 else
                     "ambiguous name: add ?account="}, status=404)
            if len(parts) == 2 and req.method == "GET":
                return core.json_response(self._snapshot(q, True))
            if parts[2:] == ["purge"] and req.method == "POST":
                self.purge(q)
                return core.json_response(self._snapshot(q, False))
        return core.json_response({"error": "not found"}, status=404)

    def _snapshot(self, q, with_messages):
        visible, in_flight, delayed = q.counts()
        out = {"name": q.name, "account": q.account, "region": q.region,
               "arn": q.arn, "url": q.url, "attributes": dict(q.attrs),
               "visible": visible, "in_flight": in_flight,
               "delayed": delayed, "sent": q.sent,
               "deleted": q.deleted_count, "moved_to_dlq": q.moved_to_dlq}
        if with_messages:
            now = time.time()
            out["messages"] = [
                {"id": m.id, "body": m.body,
                 "receive_count": m.receive_count,
                 "visible": m.visible_at <= now,
                 "visible_at_ms": int(m.visible_at * 1000),
                 "sent_timestamp": m.sent_ms}
                for m in q.messages.values()]
        return out


def _json_body(req):
    """The request body as JSON, read once (scope_regions reads it before
    handle); raises SqsError when it is not JSON."""
    if req.parsed is None:
        try:
            req.parsed = json.loads(req.body.decode("utf-8") or "{}")
        except (UnicodeDecodeError, ValueError):
            raise SqsError("SerializationException",
                           "request body is not valid JSON")
    return req.parsed


def _own_topics_policy(region, account, name):
    """The policy a fixture queue gets: SNS topics of its own account may send."""
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "fixture-own-topics", "Effect": "Allow",
        "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
        "Resource": "arn:aws:sqs:%s:%s:%s" % (region, account, name),
        "Condition": {"StringEquals": {"aws:SourceAccount": account}}}]})


def _validate_queue_policy(text):
    """A queue policy as SetQueueAttributes checks it; returns it compact."""
    try:
        doc = policy_mod.validate(text, "resource")
    except policy_mod.MalformedPolicy as e:
        raise SqsError("InvalidAttributeValue",
                       "Invalid value for the parameter Policy. Reason: %s" % e)
    sts = doc["Statement"] if isinstance(doc["Statement"], list) else [doc["Statement"]]
    for st in sts:
        acts = st.get("Action", st.get("NotAction"))
        for a in acts if isinstance(acts, list) else [acts]:
            if a != "*" and not a.lower().startswith("sqs:"):
                raise SqsError("InvalidAttributeValue",
                               "Invalid value for the parameter Policy. Reason: "
                               "Policy statement action out of service scope!")
    return json.dumps(doc, separators=(",", ":"))
