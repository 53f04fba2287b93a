"""The SNS wire as the simulator speaks it: the query protocol's names and
limits, its errors and XML answers, and the two texts of a signed message
(the string to sign and the JSON envelope SQS receives)."""

import json
import re
import time

from . import core

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
