"""Helpers for Python tests: start and stop fakeaws, call the control API,
and a small signing client over http.client with the CA trusted.

    fa = FakeAWS.start()             # or FakeAWS.from_ready_file(os.environ["FAKEAWS_READY"])
    r = fa.call("sts", "POST", "/", body=b"Action=GetCallerIdentity&Version=2011-06-15",
                headers={"Content-Type": "application/x-www-form-urlencoded"})
    r.status, r.headers["content-type"], r.body, r.json()
    fa.control("POST", "/_fake/faults", {"service": "sqs", "error_rate": 1})
    fa.stop()
"""
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

from . import sigv4

FAKEAWS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Result:
    """An HTTP answer: status, headers (lower-case names), body (bytes)."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def xml(self):
        return ET.fromstring(self.body)

    def text(self):
        return self.body.decode("utf-8", "replace")

    def error_code(self):
        """The AWS error code of a JSON, query or S3 error body (or None)."""
        ctype = self.headers.get("content-type", "")
        if "json" in ctype:
            t = self.json().get("__type", "")
            return t.rsplit("#", 1)[-1] or None
        try:
            root = self.xml()
        except ET.ParseError:
            return None
        for el in root.iter():
            if el.tag.rsplit("}", 1)[-1] == "Code":
                return el.text
        return None

    def error_message(self):
        ctype = self.headers.get("content-type", "")
        if "json" in ctype:
            return self.json().get("message")
        try:
            root = self.xml()
        except ET.ParseError:
            return None
        for el in root.iter():
            if el.tag.rsplit("}", 1)[-1] == "Message":
                return el.text
        return None

    def __repr__(self):
        return f"Result({self.status}, {self.body[:200]!r})"


def _creds_tuple(creds):
    if creds is None:
        return None
    if isinstance(creds, dict):
        return (creds.get("access_key_id") or creds["AccessKeyId"],
                creds.get("secret_access_key") or creds["SecretAccessKey"],
                creds.get("session_token") or creds.get("Token") or creds.get("SessionToken"))
    if isinstance(creds, (tuple, list)):
        return (creds[0], creds[1], creds[2] if len(creds) > 2 else None)
    return (creds.access_key_id, creds.secret_access_key, getattr(creds, "session_token", None))


class FakeAWS:
    """A running fakeaws: started here (start) or found via a ready file."""

    def __init__(self, info, proc=None, tmpdir=None):
        self.info = info
        self.proc = proc
        self.tmpdir = tmpdir
        self.https_url = info["https_url"]
        self.http_url = info["http_url"]
        self.ca_file = info["ca_file"]
        self.region = info["region"]
        self.partner_account = info["partner_account"]
        self.creds = (info["access_key_id"], info["secret_access_key"], None)
        self.aws_address = info.get("aws_address")  # serves real AWS names on :443, or None
        self._conns = {}
        self.ssl_context = ssl.create_default_context(cafile=self.ca_file)

    # -- lifecycle ---------------------------------------------------------
    @classmethod
    def start(cls, args=(), timeout=60.0, python=None, stderr=None):
        tmp = tempfile.mkdtemp(prefix="fakeaws-")
        ready = os.path.join(tmp, "ready.json")
        cmd = [python or sys.executable, "-m", "fakeaws", "--state-dir", os.path.join(tmp, "state"),
               "--ready-file", ready, *args]
        env = dict(os.environ)
        env["PYTHONPATH"] = FAKEAWS_DIR + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        errf = stderr if stderr is not None else open(os.path.join(tmp, "stderr.log"), "wb")
        proc = subprocess.Popen(cmd, cwd=FAKEAWS_DIR, env=env, stdout=subprocess.DEVNULL, stderr=errf)
        if stderr is None:
            errf.close()
        deadline = time.monotonic() + timeout
        while not os.path.exists(ready):
            if proc.poll() is not None:
                log = cls._read_log(tmp)
                shutil.rmtree(tmp, ignore_errors=True)
                raise RuntimeError(f"fakeaws exited with {proc.returncode}: {log}")
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                shutil.rmtree(tmp, ignore_errors=True)
                raise RuntimeError("fakeaws did not become ready")
            time.sleep(0.05)
        with open(ready) as f:
            info = json.load(f)
        return cls(info, proc, tmp)

    @staticmethod
    def _read_log(tmp):
        try:
            with open(os.path.join(tmp, "stderr.log"), "rb") as f:
                return f.read().decode("utf-8", "replace")[-2000:]
        except OSError:
            return ""

    def log(self):
        return self._read_log(self.tmpdir) if self.tmpdir else ""

    @classmethod
    def from_ready_file(cls, path):
        with open(path) as f:
            return cls(json.load(f))

    def stop(self, timeout=10.0):
        """Stops a fakeaws started here (SIGTERM, then SIGKILL); returns its exit status."""
        self.close_connections()
        rc = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            rc = self.proc.returncode
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        return rc

    def close_connections(self):
        for c in self._conns.values():
            c.close()
        self._conns.clear()

    # -- HTTP ----------------------------------------------------------------
    def _conn(self, base):
        c = self._conns.get(base)
        if c is None:
            u = urlsplit(base)
            if u.scheme == "https":
                c = http.client.HTTPSConnection(u.hostname, u.port, context=self.ssl_context, timeout=30)
            else:
                c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
            self._conns[base] = c
        return c

    def request(self, method, target, body=b"", headers=None, base=None):
        """A raw request on a kept-alive connection; retried once if the
        server had closed the idle connection."""
        base = base or self.https_url
        for attempt in (0, 1):
            c = self._conn(base)
            try:
                c.request(method, target, body=body, headers=headers or {})
                r = c.getresponse()
                data = r.read()
                res = Result(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
                if r.will_close:
                    c.close()
                    self._conns.pop(base, None)
                return res
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                    ssl.SSLEOFError, ssl.SSLZeroReturnError):
                # The server closed the kept-alive connection (idle timeout).
                c.close()
                self._conns.pop(base, None)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def call(self, service, method, path, query="", headers=None, body=b"", creds=None, region=None,
             base=None, amz_date=None, sign_token=True):
        """A SigV4-signed request (header form). `creds` defaults to the
        partner's long-term keys; a dict from the control API or a
        credentials document, or a (key, secret[, token]) tuple also do."""
        if isinstance(body, str):
            body = body.encode()
        base = base or self.https_url
        akid, secret, token = _creds_tuple(creds) or self.creds
        target = path + ("?" + query if query else "")
        h = sigv4.sign(method, base + target, headers or {}, body, akid, secret, region or self.region,
                       service, session_token=token, amz_date=amz_date, sign_token=sign_token)
        return self.request(method, target, body, h, base)

    def presign(self, service, method, path, query="", creds=None, region=None, expires=900,
                amz_date=None, base=None):
        """A presigned URL (query form) for `path?query`."""
        base = base or self.https_url
        akid, secret, token = _creds_tuple(creds) or self.creds
        return sigv4.presign(method, base + path + ("?" + query if query else ""), akid, secret,
                             region or self.region, service, expires=expires, session_token=token,
                             amz_date=amz_date)

    def aws_request(self, host, method, target, body=b"", headers=None, encode_chunked=False):
        """A raw request to the --aws-address listener under the AWS name
        `host` (SNI, certificate check and Host header all use the name, as
        a client that resolved it would), on a new connection."""
        if self.aws_address is None:
            raise RuntimeError("fakeaws was started without --aws-address")
        sock = socket.create_connection((self.aws_address, 443), timeout=30)
        c = http.client.HTTPSConnection(host, context=self.ssl_context, timeout=30)
        c.sock = self.ssl_context.wrap_socket(sock, server_hostname=host)
        try:
            c.request(method, target, body=body, headers=headers or {},
                      encode_chunked=encode_chunked)
            r = c.getresponse()
            return Result(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        finally:
            c.close()

    def call_aws(self, host, service, method, path, query="", headers=None, body=b"", creds=None,
                 region=None):
        """A SigV4-signed request sent to the AWS name `host` (see aws_request)."""
        if isinstance(body, str):
            body = body.encode()
        akid, secret, token = _creds_tuple(creds) or self.creds
        target = path + ("?" + query if query else "")
        h = sigv4.sign(method, "https://" + host + target, headers or {}, body, akid, secret,
                       region or self.region, service, session_token=token)
        return self.aws_request(host, method, target, body, h)

    def control(self, method, path, obj=None):
        """A control-API call; returns (status, decoded JSON)."""
        body = json.dumps(obj).encode() if obj is not None else b""
        r = self.request(method, path, body, {"Content-Type": "application/json"} if obj is not None else {},
                         base=self.http_url)
        try:
            return r.status, r.json()
        except ValueError:
            return r.status, r.text()

    def records(self, kind=None):
        st, doc = self.control("GET", "/_fake/records" + (f"?kind={kind}" if kind else ""))
        if st != 200:
            raise RuntimeError(f"records: {st} {doc}")
        return doc["records"]

    def set_faults(self, service, **rule):
        st, doc = self.control("POST", "/_fake/faults", dict(rule, service=service))
        if st != 200:
            raise RuntimeError(f"faults: {st} {doc}")
        return doc

    def clear_faults(self):
        self.control("DELETE", "/_fake/faults")

    def new_account(self, account_id):
        st, doc = self.control("POST", "/_fake/accounts", {"account_id": account_id})
        if st != 200:
            raise RuntimeError(f"accounts: {st} {doc}")
        return doc
