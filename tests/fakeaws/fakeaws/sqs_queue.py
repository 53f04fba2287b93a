"""An SQS queue's messages: arrival order, visibility, retention, and the
queue attributes' ranges and defaults (sqs.py serves the protocol)."""

import asyncio
import hashlib
import time

from . import ids

MAX_BODY = 262144
MAX_VISIBILITY = 43200
MAX_WAIT = 20

# Queue attributes that CreateQueue / SetQueueAttributes accept, with ranges.
INT_ATTRS = {
    "DelaySeconds": (0, 900, "0"),
    "MaximumMessageSize": (1024, MAX_BODY, str(MAX_BODY)),
    "MessageRetentionPeriod": (60, 1209600, "345600"),
    "ReceiveMessageWaitTimeSeconds": (0, MAX_WAIT, "0"),
    "VisibilityTimeout": (0, MAX_VISIBILITY, "30"),
}


def now_ms():
    return int(time.time() * 1000)


class Message:
    __slots__ = ("id", "body", "md5", "attrs", "sender_id", "sent_ms",
                 "visible_at", "receive_count", "first_receive_ms",
                 "receipt", "received_at", "deleted", "dlq_source", "copies",
                 "dup_pending")

    def __init__(self, body, attrs, sender_id, delay):
        self.id = ids.uuid4()
        self.body = body
        self.md5 = hashlib.md5(body.encode()).hexdigest()
        self.attrs = attrs or {}
        self.sender_id = sender_id
        self.sent_ms = now_ms()
        self.visible_at = time.time() + delay
        self.receive_count = 0
        self.first_receive_ms = None
        self.receipt = None       # the latest receipt handle
        self.received_at = None   # when it was last received
        self.deleted = False
        self.dlq_source = None
        self.copies = set()       # older handles of a duplicated delivery, still valid
        self.dup_pending = False  # a duplicate copy is visible now


class Queue:
    def __init__(self, region, account, name, url, attrs):
        self.region = region
        self.account = account
        self.name = name
        self.url = url
        self.arn = "arn:aws:sqs:%s:%s:%s" % (region, account, name)
        self.attrs = attrs
        now = int(time.time())
        self.created = now
        self.modified = now
        self.messages = {}        # id -> Message, in arrival order
        self.oldest_ms = None     # at most the oldest message's sent_ms (None: none since the last sweep)
        self._waiters = set()
        self.sent = 0
        self.deleted_count = 0
        self.moved_to_dlq = 0

    def int_attr(self, name):
        return int(self.attrs.get(name, INT_ATTRS[name][2]))

    def notify(self):
        for fut in list(self._waiters):
            if not fut.done():
                fut.set_result(None)
        self._waiters.clear()

    async def wait_change(self, timeout):
        fut = asyncio.get_running_loop().create_future()
        self._waiters.add(fut)
        try:
            await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            self._waiters.discard(fut)

    def add(self, m):
        """Appends a message (new, or moved here from its source queue)."""
        self.messages[m.id] = m
        if self.oldest_ms is None or m.sent_ms < self.oldest_ms:
            self.oldest_ms = m.sent_ms

    def expire(self):
        """Drops the messages past the retention period; scans them only
        when the oldest one can be due."""
        limit = now_ms() - self.int_attr("MessageRetentionPeriod") * 1000
        if self.oldest_ms is None or self.oldest_ms >= limit:
            return
        for mid in [m.id for m in self.messages.values() if m.sent_ms < limit]:
            self.messages[mid].deleted = True
            del self.messages[mid]
        self.oldest_ms = min((m.sent_ms for m in self.messages.values()), default=None)

    def counts(self):
        self.expire()
        now = time.time()
        visible = in_flight = delayed = 0
        for m in self.messages.values():
            if m.visible_at <= now:
                visible += 1
            elif m.receive_count:
                in_flight += 1
            else:
                delayed += 1
        return visible, in_flight, delayed

    def next_visible_at(self):
        now = time.time()
        later = [m.visible_at for m in self.messages.values()
                 if m.visible_at > now]
        return min(later) if later else None
