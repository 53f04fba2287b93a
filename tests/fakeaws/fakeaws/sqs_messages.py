"""SQS message operations for the simulator: SendMessage, ReceiveMessage
(long polling, visibility, redrive to a dead-letter queue), DeleteMessage,
ChangeMessageVisibility and their batches, and deliver() for SNS.  A mixin
of sqs.Service, which owns the queues."""

import asyncio
import base64
import json
import time

from . import core, ids
from . import policy as policy_mod
from .sqs_protocol import (_FIFO_SYSTEM_ATTRS, _SYSTEM_ATTRS, ATTR_NAME_RE, BATCH_ID_RE,
                           SNS_SENDER_ID, SqsError, _check_body_chars, _invalid_value, _ok,
                           _sender_id, md5_of_message_attributes)
from .sqs_queue import MAX_VISIBILITY, MAX_WAIT, Message, now_ms as _now_ms


class MessageOps:
    # ---- messages -----------------------------------------------------

    def _validate_message_attrs(self, attrs):
        if not isinstance(attrs, dict):
            raise SqsError("SerializationException",
                           "MessageAttributes must be a map")
        if len(attrs) > 10:
            raise SqsError("InvalidParameterValue",
                           "Number of message attributes [%d] exceeds the "
                           "allowed maximum [10]." % len(attrs))
        size = 0
        for name, a in attrs.items():
            if not ATTR_NAME_RE.match(name) or name.lower().startswith(
                    ("aws.", "amazon.")) or ".." in name \
                    or name.startswith(".") or name.endswith("."):
                raise SqsError("InvalidParameterValue",
                               "Message attribute name '%s' is invalid."
                               % name)
            if not isinstance(a, dict) or not isinstance(
                    a.get("DataType"), str):
                raise SqsError("InvalidParameterValue",
                               "The message attribute '%s' must contain a "
                               "non-empty attribute type." % name)
            dt = a["DataType"]
            base = dt.split(".", 1)[0]
            if base not in ("String", "Number", "Binary"):
                raise SqsError("InvalidParameterValue",
                               "The type of message attribute '%s' is "
                               "invalid." % name)
            has_s = isinstance(a.get("StringValue"), str)
            has_b = isinstance(a.get("BinaryValue"), str)
            if base == "Binary" and not has_b or base != "Binary" and not has_s:
                raise SqsError("InvalidParameterValue",
                               "The message attribute '%s' must contain a "
                               "non-empty message attribute value." % name)
            if has_s:
                _check_body_chars(a["StringValue"])
                size += len(a["StringValue"].encode())
            else:
                try:
                    size += len(base64.b64decode(a["BinaryValue"],
                                                 validate=True))
                except ValueError:
                    raise SqsError("SerializationException",
                                   "BinaryValue is not base64")
            size += len(name.encode()) + len(dt.encode())
        return {k: {kk: vv for kk, vv in v.items()
                    if kk in ("DataType", "StringValue", "BinaryValue")}
                for k, v in attrs.items()}, size

    def _enqueue(self, q, body, attrs, sender_id, delay):
        m = Message(body, attrs, sender_id, delay)
        m.sent_ms = int(core.now(self.world) * 1000)  # SentTimestamp is AWS's clock
        q.add(m)
        q.sent += 1
        q.notify()
        return m

    async def op_send_message(self, req, p):
        q = self._queue_for(req, p)
        body = self._str(p, "MessageBody")
        if body is None or body == "":
            raise SqsError("MissingParameter",
                           "The request must contain the parameter "
                           "MessageBody.")
        delay = self._int(p, "DelaySeconds", 0, 900,
                          "DelaySeconds must be >= 0 and <= 900")
        for f in ("MessageGroupId", "MessageDeduplicationId"):
            if f in p:
                raise SqsError("InvalidParameterValue",
                               "The request include parameter that is not "
                               "valid for this queue type")
        attrs, asize = self._validate_message_attrs(
            p.get("MessageAttributes") or {})
        _check_body_chars(body)
        limit = q.int_attr("MaximumMessageSize")
        if len(body.encode()) + asize > limit:
            raise SqsError("InvalidParameterValue",
                           "One or more parameters are invalid. Reason: "
                           "Message must be shorter than %d bytes." % limit)
        if delay is None:
            delay = q.int_attr("DelaySeconds")
        m = self._enqueue(q, body, attrs, _sender_id(req.identity), delay)
        out = {"MD5OfMessageBody": m.md5, "MessageId": m.id}
        if attrs:
            out["MD5OfMessageAttributes"] = md5_of_message_attributes(attrs)
        return _ok(out)

    def deliver(self, queue_arn, body, attributes=None, source_arn=None):
        """Internal delivery (SNS).  Returns the message id, or None when
        the queue does not exist or its policy does not let `source_arn`
        (the topic) send (SNS then drops the message)."""
        q = self.queues.get(queue_arn)
        if q is None:
            return None
        if source_arn is not None and not self.sns_may_send(q, source_arn):
            self.world.record("sqs.delivery_denied", queue=q.arn, source_arn=source_arn)
            return None
        m = self._enqueue(q, body, attributes or {}, SNS_SENDER_ID,
                          q.int_attr("DelaySeconds"))
        return m.id

    def sns_may_send(self, q, topic_arn):
        """Whether the queue's policy lets SNS deliver from topic_arn."""
        text = q.attrs.get("Policy")
        if not text:
            return False
        owner = topic_arn.split(":")[4] if topic_arn.count(":") >= 5 else ""
        d = policy_mod.evaluate(text, principal_account=None,
                                principal_arn="sns.amazonaws.com",
                                action="sqs:SendMessage", resource=q.arn,
                                context={"aws:SourceArn": topic_arn,
                                         "aws:SourceAccount": owner,
                                         "aws:SecureTransport": "true"})
        return d == policy_mod.ALLOW

    def _new_handle(self, q, m):
        raw = ids.random_bytes(96) + m.id.encode()
        handle = "AQEB" + base64.b64encode(raw).decode()
        self.handles[handle] = (q.arn, m)
        return handle

    def _redrive_target(self, q):
        rp = q.attrs.get("RedrivePolicy")
        if not rp:
            return None, None
        rp = json.loads(rp)
        return self.queues.get(rp["deadLetterTargetArn"]), \
            int(rp["maxReceiveCount"])

    def _take(self, q, limit, visibility):
        q.expire()
        now = time.time()
        dlq, max_receives = self._redrive_target(q)
        got = []
        # a copy only where the loop reorders or moves messages to the DLQ
        candidates = list(q.messages.values()) if self.reorder or dlq is not None else q.messages.values()
        if self.reorder:
            self.rng.shuffle(candidates)
        for m in candidates:
            if len(got) >= limit:
                break
            if m.visible_at > now:
                continue
            if dlq is not None and m.receive_count >= max_receives:
                del q.messages[m.id]
                q.moved_to_dlq += 1
                m.visible_at = now
                m.receipt = None
                m.dlq_source = q.arn
                dlq.add(m)
                dlq.notify()
                self.world.record("sqs.redrive", queue=q.arn, dlq=dlq.arn,
                                  message_id=m.id)
                continue
            m.receive_count += 1
            if m.first_receive_ms is None:
                m.first_receive_ms = _now_ms()
            m.received_at = now
            if m.dup_pending and m.receipt is not None:
                m.copies.add(m.receipt)   # the first copy's handle stays valid
            else:
                m.copies = set()          # a plain redelivery: older handles go stale
            m.dup_pending = False
            m.visible_at = now + visibility
            m.receipt = self._new_handle(q, m)
            if self.duplicate_rate and self.rng.random() < self.duplicate_rate:
                # Another copy of the message is available at once.
                m.visible_at = now
                m.dup_pending = True
                self.world.record("sqs.duplicate", queue=q.arn, message_id=m.id)
            got.append(m)
        return got

    async def op_receive_message(self, req, p):
        q = self._queue_for(req, p)
        limit = self._int(p, "MaxNumberOfMessages", 1, 10,
                          "Must be between 1 and 10, if provided")
        wait = self._int(p, "WaitTimeSeconds", 0, MAX_WAIT,
                         "Must be >= 0 and <= 20, if provided")
        vis = self._int(p, "VisibilityTimeout", 0, MAX_VISIBILITY,
                        "Must be >= 0 and <= 43200, if provided")
        names = set(self._str_list(p, "AttributeNames")) | set(
            self._str_list(p, "MessageSystemAttributeNames"))
        for n in names:
            if n != "All" and n not in _SYSTEM_ATTRS \
                    and n not in _FIFO_SYSTEM_ATTRS:
                raise SqsError("InvalidAttributeName",
                               "Unknown Attribute %s." % n)
        mattr_names = self._str_list(p, "MessageAttributeNames")
        if "ReceiveRequestAttemptId" in p:
            raise SqsError("InvalidParameterValue",
                           "Value %s for parameter ReceiveRequestAttemptId "
                           "is invalid. The request include parameter that "
                           "is not valid for this queue type"
                           % p["ReceiveRequestAttemptId"])
        limit = limit or 1
        if wait is None:
            wait = q.int_attr("ReceiveMessageWaitTimeSeconds")
        if vis is None:
            vis = q.int_attr("VisibilityTimeout")
        self.receiving += 1
        self.receiving_max = max(self.receiving_max, self.receiving)
        try:
            if self.receive_latency_ms:
                await asyncio.sleep(self.receive_latency_ms / 1000.0)
            return await self._receive(q, limit, wait, vis, names, mattr_names)
        finally:
            self.receiving -= 1

    async def _receive(self, q, limit, wait, vis, names, mattr_names):
        deadline = time.monotonic() + wait
        while True:
            if self.queues.get(q.arn) is not q:
                raise SqsError("QueueDoesNotExist",
                               "The specified queue does not exist.")
            got = self._take(q, limit, vis)
            left = deadline - time.monotonic()
            if got or left <= 0:
                break
            nxt = q.next_visible_at()
            if nxt is not None:
                left = min(left, max(0.01, nxt - time.time()))
            await q.wait_change(left)
        if not got:
            return _ok({})
        return _ok({"Messages": [self._render(m, names, mattr_names)
                                 for m in got]})

    @staticmethod
    def _render(m, names, mattr_names):
        out = {"MessageId": m.id, "ReceiptHandle": m.receipt,
               "MD5OfBody": m.md5, "Body": m.body}
        want_all = "All" in names
        attrs = {}
        for n in _SYSTEM_ATTRS:
            if want_all or n in names:
                attrs[n] = {
                    "SenderId": m.sender_id,
                    "SentTimestamp": str(m.sent_ms),
                    "ApproximateReceiveCount": str(m.receive_count),
                    "ApproximateFirstReceiveTimestamp":
                        str(m.first_receive_ms),
                }[n]
        if m.dlq_source and (want_all or "DeadLetterQueueSourceArn" in names):
            attrs["DeadLetterQueueSourceArn"] = m.dlq_source
        if attrs:
            out["Attributes"] = attrs
        sel = {}
        for n, a in m.attrs.items():
            for pat in mattr_names:
                if pat in ("All", ".*") or n == pat or (
                        pat.endswith(".*") and n.startswith(pat[:-1])):
                    sel[n] = a
                    break
        if sel:
            out["MessageAttributes"] = sel
            out["MD5OfMessageAttributes"] = md5_of_message_attributes(sel)
        return out

    def _lookup_handle(self, q, handle):
        if not isinstance(handle, str) or handle == "":
            raise SqsError("MissingParameter",
                           "The request must contain the parameter "
                           "ReceiptHandle.")
        hit = self.handles.get(handle)
        if hit is None or hit[0] != q.arn:
            raise SqsError("ReceiptHandleIsInvalid",
                           'The input receipt handle "%s" is not a valid '
                           'receipt handle.' % handle)
        return hit[1]

    def _delete(self, q, handle):
        m = self._lookup_handle(q, handle)
        # Like SQS: an old handle (the message was received again since)
        # is accepted, but the message is not deleted.
        if m.deleted or (m.receipt != handle and handle not in m.copies):
            return
        if q.messages.pop(m.id, None) is not None:
            # no q.notify(): a deletion makes nothing receivable, and every
            # woken long poll would scan the queue for nothing
            m.deleted = True
            q.deleted_count += 1

    def _change(self, q, handle, timeout):
        m = self._lookup_handle(q, handle)
        now = time.time()
        if m.deleted or (m.receipt != handle and handle not in m.copies) \
                or m.id not in q.messages:
            raise SqsError(
                "InvalidParameterValue",
                "Value %s for parameter ReceiptHandle is invalid. Reason: "
                "Message does not exist or is not available for visibility "
                "timeout change." % handle)
        if m.visible_at <= now:
            raise SqsError("MessageNotInflight",
                           "The message referred to isn't in flight.")
        if now + timeout > m.received_at + MAX_VISIBILITY:
            raise SqsError(
                "InvalidParameterValue",
                "Value %d for parameter VisibilityTimeout is invalid. "
                "Reason: Total VisibilityTimeout for the message is beyond "
                "the limit [43200 seconds]" % timeout)
        m.visible_at = now + timeout
        q.notify()

    async def op_delete_message(self, req, p):
        q = self._queue_for(req, p)
        self._delete(q, self._str(p, "ReceiptHandle"))
        return _ok({})

    async def op_change_visibility(self, req, p):
        q = self._queue_for(req, p)
        handle = self._str(p, "ReceiptHandle")
        if "VisibilityTimeout" not in p:
            raise SqsError("MissingParameter",
                           "The request must contain the parameter "
                           "VisibilityTimeout.")
        t = self._int(p, "VisibilityTimeout", 0, MAX_VISIBILITY,
                      "Must be >= 0 and <= 43200, if provided")
        self._change(q, handle, t)
        return _ok({})

    def _batch_entries(self, p, kind):
        entries = p.get("Entries")
        if entries is None or entries == []:
            raise SqsError("EmptyBatchRequest",
                           "There should be at least one %sRequestEntry in "
                           "the request." % kind)
        if not isinstance(entries, list) or not all(
                isinstance(e, dict) for e in entries):
            raise SqsError("SerializationException",
                           "Entries must be a list of objects")
        if len(entries) > 10:
            raise SqsError("TooManyEntriesInBatchRequest",
                           "Maximum number of entries per request are 10. "
                           "You have sent %d." % len(entries))
        seen = set()
        for e in entries:
            eid = e.get("Id")
            if not isinstance(eid, str) or not BATCH_ID_RE.match(eid):
                raise SqsError("InvalidBatchEntryId",
                               "A batch entry id can only contain "
                               "alphanumeric characters, hyphens and "
                               "underscores. It can be at most 80 letters "
                               "long.")
            if eid in seen:
                raise SqsError("BatchEntryIdsNotDistinct",
                               "Id %s repeated." % eid)
            seen.add(eid)
        return entries

    def _entry_fault(self, e, failed, op):
        """An entry failing on the service's side (entry_error_count): the
        caller may send it again."""
        if self.entry_error_count <= 0:
            return False
        self.entry_error_count -= 1
        failed.append({"Id": e["Id"], "SenderFault": False, "Code": "InternalError",
                       "Message": "We encountered an internal error. Please try again."})
        self.world.record("sqs.entry_fault", op=op, id=e["Id"])
        return True

    @staticmethod
    def _batch_result(ok, failed):
        out = {}
        if ok:
            out["Successful"] = ok
        if failed:
            out["Failed"] = failed
        return _ok(out)

    async def op_delete_message_batch(self, req, p):
        q = self._queue_for(req, p)
        entries = self._batch_entries(p, "DeleteMessageBatch")
        ok, failed = [], []
        for e in entries:
            if self._entry_fault(e, failed, "DeleteMessageBatch"):
                continue
            try:
                self._delete(q, e.get("ReceiptHandle"))
                ok.append({"Id": e["Id"]})
            except SqsError as err:
                failed.append({"Id": e["Id"], "SenderFault": True,
                               "Code": err.code, "Message": err.message})
        return self._batch_result(ok, failed)

    async def op_change_visibility_batch(self, req, p):
        q = self._queue_for(req, p)
        entries = self._batch_entries(p, "ChangeMessageVisibilityBatch")
        ok, failed = [], []
        for e in entries:
            if self._entry_fault(e, failed, "ChangeMessageVisibilityBatch"):
                continue
            try:
                t = e.get("VisibilityTimeout")
                if isinstance(t, bool) or not isinstance(t, int):
                    raise SqsError("SerializationException" if t is not None
                                   else "MissingParameter",
                                   "VisibilityTimeout must be an integer")
                if not 0 <= t <= MAX_VISIBILITY:
                    raise _invalid_value("VisibilityTimeout", t,
                                         "Must be >= 0 and <= 43200")
                self._change(q, e.get("ReceiptHandle"), t)
                ok.append({"Id": e["Id"]})
            except SqsError as err:
                failed.append({"Id": e["Id"], "SenderFault": True,
                               "Code": err.code, "Message": err.message})
        return self._batch_result(ok, failed)
