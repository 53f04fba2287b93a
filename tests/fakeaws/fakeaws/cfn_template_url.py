"""CreateStack / UpdateStack with a TemplateURL: the simulator fetches the
template the way CloudFormation does for the account that launches the
stack -- with that account's identity, never the bucket owner's.  The
customer's account holds no right to the partner's private bucket, so only
a URL that carries its own authorization (a presigned GetObject URL) can
work.  The fetch is a real HTTP GET over a socket to the emulator's own S3
endpoint, so it passes the same checks as any client: an anonymous GET of a
private object is 403 AccessDenied; an expired, tampered or foreign-key
presigned URL is refused with S3's codes (sigv4.verify).

CloudFormation's rules applied here: the URL must name an S3 object
(https on an S3 endpoint -- here also the emulator's own listeners, which
stand for S3); the template may not exceed 1 MB; an S3 error becomes
CreateStack's ValidationError "S3 error: <message>".  The answer keeps S3's
status, code and message (`s3_error`) for tests.
"""
import asyncio
import http.client
import re
import socket
import ssl
import urllib.parse
import xml.etree.ElementTree as ET

from . import hosts

MAX_TEMPLATE_URL_BODY = 1000000   # TemplateURL: 1 MB (TemplateBody: 51,200 bytes)
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class TemplateUrlError(Exception):
    """The template cannot be read from the URL (ValidationError)."""

    def __init__(self, message, s3_error=None):
        super().__init__(message)
        self.message = message
        self.s3_error = s3_error


def _target(world, url):
    """(scheme, connect host, connect port, server name, Host header, path+query)
    for an S3 URL the simulator may fetch, else TemplateUrlError."""
    u = urllib.parse.urlsplit(url)
    if u.scheme not in ("https", "http") or not u.hostname or u.username or u.password:
        raise TemplateUrlError("TemplateURL must be a supported URL.")
    own = {}
    for base in (world.https_url, world.http_url):
        if base:
            b = urllib.parse.urlsplit(base)
            own[(b.scheme, b.netloc)] = (b.hostname, b.port)
    target = u.path + ("?" + u.query if u.query else "")
    if (u.scheme, u.netloc) in own:
        # Only S3 objects (/<bucket>/<key>), never the emulator's own
        # routes (/_fake control API, /_creds, /federation).
        bucket, _, key = u.path.lstrip("/").partition("/")
        if not key or not _BUCKET_RE.match(bucket):
            raise TemplateUrlError("TemplateURL must be a supported URL.")
        host, port = own[(u.scheme, u.netloc)]
        return u.scheme, host, port, host, u.netloc, target
    aws = hosts.parse_aws_name(u.hostname.lower())
    if (u.scheme == "https" and aws is not None and aws.service == "s3"
            and world.aws_address is not None and u.port in (None, 443)):
        return "https", world.aws_address, 443, u.hostname, u.hostname, target
    raise TemplateUrlError("TemplateURL must be a supported URL.")


def _get(world, scheme, host, port, server_name, host_header, target):
    """One GET, no credentials of any account; (status, body bytes)."""
    if scheme == "https":
        ctx = ssl.create_default_context(cafile=world.pki.ca_file)
        raw = socket.create_connection((host, port), timeout=30)
        try:
            sock = ctx.wrap_socket(raw, server_hostname=server_name)
        except Exception:
            raw.close()
            raise
        conn = http.client.HTTPSConnection(server_name, port, timeout=30, context=ctx)
        conn.sock = sock
    else:
        conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.putrequest("GET", target, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host_header)
        conn.putheader("User-Agent", "AWS CloudFormation")
        conn.endheaders()
        r = conn.getresponse()
        return r.status, r.read(MAX_TEMPLATE_URL_BODY + 1)
    finally:
        conn.close()


def _s3_error(status, body):
    code = message = None
    try:
        root = ET.fromstring(body)
        code = root.findtext("Code")
        message = root.findtext("Message")
    except ET.ParseError:
        pass
    return {"status": status, "code": code, "message": message}


async def fetch(world, url):
    """The template text at `url`, fetched as the launching account would
    (no credentials); raises TemplateUrlError."""
    if not isinstance(url, str) or not url:
        raise TemplateUrlError("TemplateURL must be a supported URL.")
    target = _target(world, url)
    try:
        status, body = await asyncio.to_thread(_get, world, *target)
    except (OSError, http.client.HTTPException) as e:
        raise TemplateUrlError("S3 error: %s" % e)
    if status != 200:
        err = _s3_error(status, body)
        world.record("cfn.template_url", status=status, code=err["code"])
        raise TemplateUrlError("S3 error: %s" % (err["message"] or "HTTP %d" % status), err)
    if len(body) > MAX_TEMPLATE_URL_BODY:
        raise TemplateUrlError("Template may not exceed %d bytes in size."
                               % MAX_TEMPLATE_URL_BODY)
    world.record("cfn.template_url", status=status, code=None)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise TemplateUrlError("Template format error: the template is not UTF-8")
