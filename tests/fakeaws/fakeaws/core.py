"""Shared types of the emulator: requests, responses, identities, the world,
and AWS's error shapes.

Everything here is plain data; the server and the services build on it.
"""
import base64
import collections
import json
import secrets
import threading
import time
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape as _xml_escape

from . import ids

# Default XML namespaces of the query-protocol services' error documents.
XMLNS = {
    "sts": "https://sts.amazonaws.com/doc/2011-06-15/",
    "sns": "http://sns.amazonaws.com/doc/2010-03-31/",
    "iam": "https://iam.amazonaws.com/doc/2010-05-08/",
    "cloudformation": "http://cloudformation.amazonaws.com/doc/2010-05-15/",
    "sqs": "http://queue.amazonaws.com/doc/2012-11-05/",
}

JSON_CONTENT_TYPE = "application/x-amz-json-1.0"
# json.dumps(obj, separators=(",", ":")) without building an encoder per call
_compact_json = json.JSONEncoder(separators=(",", ":")).encode


def new_request_id():
    return ids.uuid4()


class AccessDenied(Exception):
    """Raised by a service helper when a policy does not allow an action."""

    def __init__(self, message="Access denied"):
        super().__init__(message)
        self.message = message


class Identity:
    """Who signed a request (set by authentication)."""

    __slots__ = ("account_id", "arn", "access_key_id", "temporary")

    def __init__(self, account_id, arn, access_key_id, temporary=False):
        self.account_id = account_id
        self.arn = arn
        self.access_key_id = access_key_id
        self.temporary = temporary

    def __repr__(self):
        return f"Identity({self.account_id!r}, {self.arn!r}, {self.access_key_id!r}, temporary={self.temporary})"


class Credentials:
    """A key pair the world knows, long-term or temporary."""

    __slots__ = ("access_key_id", "secret_access_key", "session_token",
                 "expires", "account_id", "arn", "identity", "chained")

    def __init__(self, access_key_id, secret_access_key, account_id, arn,
                 session_token=None, expires=None):
        self.access_key_id = access_key_id
        self.secret_access_key = secret_access_key
        self.session_token = session_token
        self.expires = expires  # epoch seconds, None for long-term keys
        self.chained = False    # issued to a role session (role chaining)
        self.account_id = account_id
        self.arn = arn
        self.identity = Identity(account_id, arn, access_key_id,
                                 temporary=session_token is not None)

    @property
    def temporary(self):
        return self.session_token is not None

    def expired(self, now=None):
        return self.expires is not None and (now if now is not None else time.time()) >= self.expires

    def expiration_iso(self):
        return iso8601(self.expires) if self.expires is not None else None


class Request:
    """One HTTP request as received.

    `path` is the raw request-target path (percent-encoded as received),
    `query` the raw query string without '?', `headers` maps lower-case names
    to values (repeated headers joined with ','), `header_list` keeps the raw
    (name, value) pairs in order.
    """

    __slots__ = ("method", "path", "query", "headers", "header_list", "body",
                 "scheme", "service", "region", "identity", "credentials",
                 "version", "peer", "local", "chunked", "aws_host", "parsed", "_params", "_query_list",
                 "_form_list")

    def __init__(self, method, path, query="", headers=None, header_list=None,
                 body=b"", scheme="http", version="HTTP/1.1", peer=None, local=None,
                 chunked=False):
        self.method = method
        self.path = path
        self.query = query
        self.header_list = list(header_list) if header_list is not None else \
            [(k, v) for k, v in (headers or {}).items()]
        if headers is None:
            headers = {}
            for k, v in self.header_list:
                k = k.lower()
                headers[k] = headers[k] + "," + v if k in headers else v
        self.headers = headers
        self.body = body
        self.scheme = scheme
        self.version = version
        self.peer = peer
        self.local = local        # (address, port) the connection reached
        self.chunked = chunked    # the body came chunked (no Content-Length)
        self.aws_host = None      # hosts.AwsHost when Host names an AWS endpoint
        self.parsed = None        # the body as a service read it, for its next reader
        self.service = None
        self.region = None
        self.identity = None
        self.credentials = None
        self._params = None
        self._query_list = None
        self._form_list = None

    def query_list(self):
        """The query string's (name, value) pairs, decoded; parsed once."""
        if self._query_list is None:
            self._query_list = parse_qsl(self.query, keep_blank_values=True)
        return self._query_list

    def form_list(self):
        """The body's (name, value) pairs read as a form, whatever its
        Content-Type (the caller decides whether it is one); parsed once."""
        if self._form_list is None:
            self._form_list = parse_qsl(self.body.decode("utf-8", "replace"),
                                        keep_blank_values=True) if self.body else []
        return self._form_list

    def params(self):
        """Query parameters, plus form fields of a form-encoded POST body
        (the query protocol), as a dict of first values."""
        if self._params is None:
            p = dict(self.query_list())
            ctype = self.headers.get("content-type", "")
            if self.body and ctype.startswith("application/x-www-form-urlencoded"):
                for k, v in self.form_list():
                    p.setdefault(k, v)
            self._params = p
        return self._params

    def json(self):
        """The body as JSON; raises ValueError when it is not."""
        return json.loads(self.body.decode("utf-8")) if self.body else {}

    def is_json_protocol(self):
        return self.headers.get("content-type", "").startswith("application/x-amz-json")

    def __repr__(self):
        return f"Request({self.method} {self.path}?{self.query})"


class Response:
    """An HTTP response. `headers` is a dict (name → value); `drop` closes the
    connection without answering (fault injection)."""

    __slots__ = ("status", "body", "headers", "drop", "close")

    def __init__(self, status, body=b"", headers=None):
        self.status = status
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.body = body
        self.headers = dict(headers) if headers else {}
        self.drop = False
        self.close = False

    def __repr__(self):
        return f"Response({self.status}, {self.body[:80]!r})"


def json_response(obj, status=200, headers=None, content_type=JSON_CONTENT_TYPE):
    h = {"Content-Type": content_type, "x-amzn-RequestId": new_request_id()}
    if headers:
        h.update(headers)
    return Response(status, _compact_json(obj).encode(), h)


def xml_response(xml, status=200, headers=None):
    h = {"Content-Type": "text/xml", "x-amzn-RequestId": new_request_id()}
    if headers:
        h.update(headers)
    return Response(status, xml, h)


def xml_escape(s):
    return _xml_escape(str(s), {'"': "&quot;"})


def aws_json_error(type, message, status=400, query_error=None):
    """AWS JSON 1.0 error: {"__type": "com.amazonaws.sqs#QueueDoesNotExist",
    "message": ...}. The x-amzn-query-error header carries the query-protocol
    code (`query_error`, else the part of `type` after '#') and its fault."""
    code = query_error or type.rsplit("#", 1)[-1]
    fault = "Sender" if status < 500 else "Receiver"
    rid = new_request_id()
    body = _compact_json({"__type": type, "message": message}).encode()
    return Response(status, body, {
        "Content-Type": JSON_CONTENT_TYPE,
        "x-amzn-RequestId": rid,
        "x-amzn-query-error": f"{code};{fault}",
    })


def aws_query_error(code, message, status=400, sender=True, xmlns=XMLNS["sts"]):
    """Query-protocol error document (STS, SNS, IAM, CloudFormation)."""
    rid = new_request_id()
    body = (f'<ErrorResponse xmlns="{xmlns}">\n'
            f'  <Error>\n'
            f'    <Type>{"Sender" if sender else "Receiver"}</Type>\n'
            f'    <Code>{xml_escape(code)}</Code>\n'
            f'    <Message>{xml_escape(message)}</Message>\n'
            f'  </Error>\n'
            f'  <RequestId>{rid}</RequestId>\n'
            f'</ErrorResponse>\n')
    return Response(status, body, {"Content-Type": "text/xml", "x-amzn-RequestId": rid})


def s3_error(code, message, status=400, **extra):
    """S3's REST error document."""
    rid = ids.random_bytes(8).hex().upper()
    fields = "".join(f"<{k}>{xml_escape(v)}</{k}>" for k, v in extra.items())
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{xml_escape(code)}</Code><Message>{xml_escape(message)}</Message>"
            f"{fields}<RequestId>{rid}</RequestId><HostId>{base64.b64encode(ids.random_bytes(24)).decode()}</HostId></Error>")
    return Response(status, body, {"Content-Type": "application/xml", "x-amz-request-id": rid})


def service_error(service, code, message, status, req=None, json_type=None):
    """An error in the shape the given service answers with: S3's REST
    document, AWS JSON 1.0 for a JSON-protocol request, else the query
    protocol's ErrorResponse. `json_type` overrides the JSON __type."""
    if service == "s3":
        return s3_error(code, message, status)
    if req is not None and req.is_json_protocol():
        prefix = "com.amazonaws.sqs#" if service == "sqs" and json_type is None else ""
        return aws_json_error(json_type or (prefix + code if prefix else f"com.amazon.coral.service#{code}"),
                              message, status, query_error=code)
    return aws_query_error(code, message, status, sender=status < 500,
                           xmlns=XMLNS.get(service, XMLNS["sts"]))


def iso8601(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def new_access_key_id(temporary=False):
    # base32 of 10 random bytes: 16 characters of A-Z2-7, as AWS's key ids
    return ("ASIA" if temporary else "AKIA") + base64.b32encode(ids.random_bytes(10)).decode()


def new_secret_access_key():
    return base64.b64encode(ids.random_bytes(30)).decode()


def new_session_token():
    return "FQoGZXIvYXdzE" + base64.b64encode(ids.random_bytes(160)).decode()


def now(world):
    """The emulator's clock: the host's plus the configured skew."""
    return time.time() + (world.clock_skew if world is not None else 0.0)


class World:
    """State shared by the server, the control API and every service."""

    def __init__(self, region="us-east-1", partner_account="111111111111", pki=None):
        self.services = {}
        self.region = region
        self.partner_account = partner_account
        self.pki = pki
        self.loop = None
        self.https_url = None
        self.http_url = None
        self.aws_address = None  # loopback address serving AWS host names on 443, or None
        self.idle_timeout = 20.0  # seconds an idle keep-alive connection stays open
        self.clock_skew = 0.0     # seconds the emulator's clock is ahead (negative: behind)
        self.faults = None  # faults.Faults, set by the server
        self.core = {}      # name → object for core helpers (credentials, federation)
        self._creds = {}
        self._records = {}
        # kinds kept as a ring (a benchmark must not grow memory without bound)
        self.record_limits = {"request": 10000, "auth_failure": 10000}
        self._seq = 0
        self._lock = threading.Lock()
        self.partner_keys = self.new_long_term_keys(partner_account)

    # -- credentials -------------------------------------------------------
    def register_credentials(self, access_key_id, secret_access_key, account_id, arn,
                             session_token=None, expires=None):
        """Makes a key pair valid for signing; returns its `Credentials`.
        Temporary credentials carry a session token and an expiry (epoch)."""
        c = Credentials(access_key_id, secret_access_key, account_id, arn, session_token, expires)
        self._creds[access_key_id] = c
        return c

    def lookup_access_key(self, access_key_id):
        """The `Credentials` for a key id, or None (expired ones included:
        the verifier reports ExpiredToken for them)."""
        return self._creds.get(access_key_id)

    def new_long_term_keys(self, account_id, arn=None):
        return self.register_credentials(new_access_key_id(), new_secret_access_key(), account_id,
                                         arn or f"arn:aws:iam::{account_id}:user/fake")

    def issue_temporary(self, account_id, arn, duration):
        """New temporary credentials for an assumed-role ARN, valid for
        `duration` seconds."""
        return self.register_credentials(new_access_key_id(True), new_secret_access_key(), account_id,
                                         arn, new_session_token(), time.time() + duration)

    def find_session(self, access_key_id, secret_access_key, session_token):
        """The temporary `Credentials` matching all three values, unexpired, else None."""
        c = self._creds.get(access_key_id)
        if (c is None or c.session_token is None or c.expired()
                or not secrets.compare_digest(c.secret_access_key, secret_access_key or "")
                or not secrets.compare_digest(c.session_token, session_token or "")):
            return None
        return c

    # -- records -----------------------------------------------------------
    def record(self, kind, **fields):
        """Appends an event that tests can read with GET /_fake/records?kind=K."""
        with self._lock:
            self._seq += 1
            ev = {"kind": kind, "seq": self._seq, "time": time.time()}
            ev.update(fields)
            q = self._records.get(kind)
            if q is None:
                q = self._records[kind] = collections.deque(maxlen=self.record_limits.get(kind))
            q.append(ev)
        return ev

    def records(self, kind=None):
        with self._lock:
            if kind is None:
                out = [e for evs in self._records.values() for e in evs]
                out.sort(key=lambda e: e["seq"])
                return out
            return list(self._records.get(kind, ()))

    def clear_records(self, kind=None):
        with self._lock:
            if kind is None:
                self._records.clear()
            else:
                self._records.pop(kind, None)
