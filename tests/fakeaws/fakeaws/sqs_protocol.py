"""The SQS wire as the simulator speaks it: the AWS JSON 1.0 protocol's
names, limits and error codes (with the legacy query code SQS sends in
x-amzn-query-error), the body's character rule, the MD5 of message
attributes as SQS computes it, and the SenderId a caller gets."""

import base64
import hashlib
import re
import struct

from . import core

JSON_CT = "application/x-amz-json-1.0"
TARGET_PREFIX = "AmazonSQS."

# \Z, not $: Python's $ also matches before a trailing newline.
QUEUE_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,80}\Z")
BATCH_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,80}\Z")
ATTR_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,256}\Z")
SNS_SENDER_ID = "AIDAIT2UOQQY3AUEKVGXU"


_SYSTEM_ATTRS = ("SenderId", "SentTimestamp", "ApproximateReceiveCount",
                 "ApproximateFirstReceiveTimestamp")
_FIFO_SYSTEM_ATTRS = ("MessageDeduplicationId", "MessageGroupId",
                      "SequenceNumber", "AWSTraceHeader",
                      "DeadLetterQueueSourceArn")

# Error type -> (x-amzn-query-error code, HTTP status).  The JSON protocol
# of SQS is "query compatible": the legacy code travels in that header.
_ERRORS = {
    "QueueDoesNotExist": ("AWS.SimpleQueueService.NonExistentQueue", 400),
    "QueueNameExists": ("QueueAlreadyExists", 400),
    "InvalidParameterValue": ("InvalidParameterValue", 400),
    "InvalidAttributeName": ("InvalidAttributeName", 400),
    "InvalidAttributeValue": ("InvalidAttributeValue", 400),
    "InvalidMessageContents": ("InvalidMessageContents", 400),
    "MissingParameter": ("MissingParameter", 400),
    "ReceiptHandleIsInvalid": ("ReceiptHandleIsInvalid", 400),
    "MessageNotInflight": ("AWS.SimpleQueueService.MessageNotInflight", 400),
    "EmptyBatchRequest": ("AWS.SimpleQueueService.EmptyBatchRequest", 400),
    "TooManyEntriesInBatchRequest":
        ("AWS.SimpleQueueService.TooManyEntriesInBatchRequest", 400),
    "BatchEntryIdsNotDistinct":
        ("AWS.SimpleQueueService.BatchEntryIdsNotDistinct", 400),
    "InvalidBatchEntryId": ("AWS.SimpleQueueService.InvalidBatchEntryId", 400),
    "UnsupportedOperation": ("AWS.SimpleQueueService.UnsupportedOperation", 400),
    "AccessDenied": ("AccessDenied", 403),
    "PurgeQueueInProgress":
        ("AWS.SimpleQueueService.PurgeQueueInProgress", 403),
}
_COMMON = {  # not SQS-modelled: coral's own shapes
    "UnknownOperationException": "com.amazon.coral.service#",
    "SerializationException": "com.amazon.coral.service#",
    "InvalidAction": "com.amazon.coral.service#",
}


class SqsError(Exception):
    def __init__(self, code, message, status=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def _error_response(code, message, status=None):
    query_code, default_status = _ERRORS.get(code, (code, 400))
    prefix = _COMMON.get(code, "com.amazonaws.sqs#")
    return core.aws_json_error(prefix + code, message,
                               status or default_status,
                               query_error=query_code)


def _ok(obj):
    return core.json_response(obj)


def _invalid_value(name, value, reason):
    return SqsError("InvalidParameterValue",
                    "Value %s for parameter %s is invalid. Reason: %s."
                    % (value, name, reason))


_BAD_BODY_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _check_body_chars(text):
    bad = _BAD_BODY_CHAR.search(text)
    if bad is not None:
        o = ord(bad.group())
        raise SqsError(
            "InvalidMessageContents",
            "Invalid binary character '#x%X' was found in the message body, "
            "the set of allowed characters is #x9 | #xA | #xD | #x20 to "
            "#xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF" % o)


def md5_of_message_attributes(attrs):
    """MD5 over message attributes as SQS computes it (sorted by name)."""
    buf = bytearray()

    def put(b):
        buf.extend(struct.pack(">I", len(b)))
        buf.extend(b)

    for name in sorted(attrs):
        a = attrs[name]
        put(name.encode())
        put(a["DataType"].encode())
        if "StringValue" in a:
            buf.append(1)
            put(a["StringValue"].encode())
        else:
            buf.append(2)
            put(base64.b64decode(a["BinaryValue"]))
    return hashlib.md5(bytes(buf)).hexdigest()


def _sender_id(identity):
    if identity is None:
        return SNS_SENDER_ID
    digest = hashlib.sha1((identity.arn or "").encode()).hexdigest().upper()
    prefix = "AROA" if ":assumed-role/" in (identity.arn or "") else "AIDA"
    sid = prefix + digest[:17]
    if prefix == "AROA":
        sid += ":" + identity.arn.rsplit("/", 1)[-1]
    return sid
