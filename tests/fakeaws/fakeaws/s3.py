"""S3 (path-style /<bucket>/<key>, and virtual-hosted <bucket>.s3[.<region>].amazonaws.com
when the request reached the --aws-address listener under that name) and
CloudFormation's presigned ResponseURL receiver. A PUT must carry
Content-Length: a chunked one gets 411 MissingContentLength, as S3 answers.

Requests are SigV4-signed (header form with x-amz-content-sha256, which may
be UNSIGNED-PAYLOAD, or the presigned query form); the server verifies the
signature.  Operations: CreateBucket, DeleteBucket, HeadBucket,
ListObjectsV2, PutObject, GetObject, HeadObject, DeleteObject (204 also
when the key is absent, as S3 does).  A bucket belongs to the account that
created it; other accounts get AccessDenied.  Errors have S3's XML shape.

ResponseURLs.  The CloudFormation simulator mints, for every custom
resource request, a URL like CloudFormation's. With an --aws-address it is
virtual-hosted, as real ones are:

    https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/<quoted StackId>%7C<LogicalResourceId>%7C<RequestId>?...
    https://cloudformation-custom-resource-response-euwest1.s3.eu-west-1.amazonaws.com/...

(without one, path-style at <https_url>/<bucket>/<key>, for clients that
cannot resolve those names). Signed, per `response_url_signing`, either
"v4": SigV4 query form (SignedHeaders=host, X-Amz-Expires=7200 by default)
with temporary keys of a CloudFormation-owned account, so the URL carries
X-Amz-Security-Token like CloudFormation's; or "v2": the older S3 query
authentication (AWSAccessKeyId, Expires, Signature; sigv2.py) with a
long-term key. The receiver:
  * accepts a PUT whose presigned query verifies (the server checks it:
    a tampered URL is 403 SignatureDoesNotMatch, an expired one 403
    AccessDenied "Request has expired");
  * rejects a non-empty Content-Type with 403 SignatureDoesNotMatch, since
    CloudFormation signs its URLs without one;
  * records every answer: status code, raw body, parsed Status, Reason,
    PhysicalResourceId, Data, NoEcho, and `problems` -- what CloudFormation
    would refuse: a body over 4096 bytes, invalid JSON, Status other than
    SUCCESS / FAILED, StackId / RequestId / LogicalResourceId different from
    the request, a missing PhysicalResourceId ...; `valid` is false then;
  * stores the body as the object (a second PUT overwrites, like S3) and
    wakes `await wait_response(key, timeout)` (key = the object key,
    "<StackId>|<LogicalResourceId>|<RequestId>").

Control API (/_fake/s3/...):
    GET    responses                 every answer received, oldest first
    DELETE responses                 forget them
    POST   responses/faults          {"status": 503, "count": N,
                                      "code"?: "...", "message"?: "..."}:
                                     the next N response PUTs get that error
                                     (nothing recorded as an answer);
                                     {"drop": true, "count": N}: the next N
                                     lose their connection instead, the
                                     request read and no response sent
    DELETE responses/faults          forget the pending ones
    POST   response-urls             {"stack_id", "logical_id", "request_id",
                                      "region"?, "expires"?} -> {"url", "key"}
    POST   config                    {"response_url_expires": seconds,
                                      "response_url_signing": "v4" | "v2"}
    POST   buckets                   {"name", "account_id"?, "region"?,
                                      "object_lock"?: true -- PutObject then
                                      needs Content-MD5 or x-amz-checksum-*,
                                      as S3 wants under Object Lock; also
                                      CreateBucket with
                                      x-amz-bucket-object-lock-enabled: true}
    GET    buckets/<name>            the objects (key, size, etag, content_type)
    GET    objects/<bucket>/<key>    the raw object body
"""

import asyncio
import base64
import hashlib
import json
import re
import time
import urllib.parse
import zlib

from . import core, ids, sigv2, sigv4

RESPONSE_BUCKET_PREFIX = "cloudformation-custom-resource-response-"
CFN_ACCOUNT = "000000000000"          # owns the response buckets
MAX_RESPONSE_BODY = 4096

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def _http_date(epoch):
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(epoch))


def response_bucket(region):
    return RESPONSE_BUCKET_PREFIX + region.replace("-", "")


# x-amz-checksum-<algorithm> headers S3 checks against the body; CRC32C
# and CRC64NVME (no standard-library implementation) only count as present.
_CHECKSUMS = {
    "sha256": lambda b: hashlib.sha256(b).digest(),
    "sha1": lambda b: hashlib.sha1(b).digest(),
    "crc32": lambda b: zlib.crc32(b).to_bytes(4, "big"),
}
_CHECKSUM_NAMES = ("crc32", "crc32c", "crc64nvme", "sha1", "sha256")


def _check_integrity(req, bucket):
    """PutObject's integrity headers: each x-amz-checksum-* must match the
    body, and a bucket with Object Lock wants Content-MD5 or one of them."""
    present = False
    for name in _CHECKSUM_NAMES:
        v = req.headers.get("x-amz-checksum-" + name)
        if v is None:
            continue
        present = True
        fn = _CHECKSUMS.get(name)
        if fn is not None and v != base64.b64encode(fn(req.body)).decode():
            return core.s3_error("BadDigest", "The %s you specified did not match the "
                                 "calculated checksum." % name.upper(), 400)
    if bucket.get("object_lock") and not present and "content-md5" not in req.headers:
        return core.s3_error("InvalidRequest", "Content-MD5 OR x-amz-checksum- HTTP header "
                             "is required for Put Object requests with Object Lock "
                             "parameters", 400)
    return None


class Service:
    name = "s3"

    def __init__(self, world):
        self.world = world
        self.buckets = {}        # name -> {"owner", "region", "objects", "created"}
        self.responses = []      # every answer PUT, in order
        self.latest = {}         # key -> latest answer record
        self.minted = {}         # key -> request metadata
        self._waiters = {}       # key -> [Future]
        self._faults = []        # [{"status", "code", "message", "count"}]
        self.response_url_expires = 7200
        self.response_url_signing = "v4"
        self.cfn_credentials = world.register_credentials(
            core.new_access_key_id(), core.new_secret_access_key(),
            CFN_ACCOUNT, "arn:aws:iam::%s:user/cloudformation" % CFN_ACCOUNT)

    # ------------------------------------------------------------ buckets
    def create_bucket(self, name, account_id, region, object_lock=False):
        b = self.buckets.get(name)
        if b is not None:
            return b
        b = {"owner": account_id, "region": region, "objects": {},
             "created": time.time(), "object_lock": bool(object_lock)}
        self.buckets[name] = b
        return b

    def _response_bucket(self, region):
        return self.create_bucket(response_bucket(region), CFN_ACCOUNT, region)

    # ------------------------------------------------------- ResponseURLs
    def mint_response_url(self, region, stack_id, logical_id, request_id,
                          request_type=None, expires=None):
        """A presigned ResponseURL for one custom resource request; returns
        (url, key)."""
        bucket = response_bucket(region)
        self._response_bucket(region)
        key = "%s|%s|%s" % (stack_id, logical_id, request_id)
        qkey = urllib.parse.quote(key, safe="/")
        expires = int(expires or self.response_url_expires)
        if self.world.aws_address is not None:
            host = bucket + (".s3.amazonaws.com" if region == "us-east-1" else
                             ".s3.%s.amazonaws.com%s" % (region, ".cn" if region.startswith("cn-") else ""))
            url, vbucket = "https://%s/%s" % (host, qkey), bucket
        else:
            base = self.world.https_url or self.world.http_url
            url, vbucket = "%s/%s/%s" % (base, bucket, qkey), None
        if self.response_url_signing == "v2":
            c = self.cfn_credentials
            signed = sigv2.presign("PUT", url, c.access_key_id, c.secret_access_key,
                                   time.time() + expires, bucket=vbucket)
        else:
            # CloudFormation signs with a role's temporary keys: the URL
            # carries X-Amz-Security-Token.
            t = self.world.issue_temporary(
                CFN_ACCOUNT, "arn:aws:sts::%s:assumed-role/cloudformation/responses" % CFN_ACCOUNT,
                expires + 3600)
            signed = sigv4.presign("PUT", url, t.access_key_id, t.secret_access_key, region, "s3",
                                   expires=expires, session_token=t.session_token)
        self.minted[key] = {"stack_id": stack_id, "logical_id": logical_id,
                            "request_id": request_id,
                            "request_type": request_type, "bucket": bucket,
                            "url": signed}
        return signed, key

    async def wait_response(self, key, timeout):
        """The answer PUT at the ResponseURL `key` (the latest one when there
        are several), waiting up to `timeout` seconds; None on timeout."""
        if key in self.latest:
            return self.latest[key]
        fut = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(key, []).append(fut)
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        except asyncio.TimeoutError:
            return self.latest.get(key)
        finally:
            lst = self._waiters.get(key)
            if lst and fut in lst:
                lst.remove(fut)
                if not lst:
                    del self._waiters[key]

    def _check_answer(self, key, body):
        rec = {"key": key, "time": time.time(), "size": len(body),
               "body": body.decode("utf-8", "replace"), "status": None,
               "reason": None, "physical_resource_id": None, "data": None,
               "no_echo": None, "problems": [], "too_large": False}
        meta = self.minted.get(key) or {}
        rec["request_type"] = meta.get("request_type")
        if len(body) > MAX_RESPONSE_BODY:
            rec["too_large"] = True
            rec["problems"].append("Response object is too long.")
        try:
            doc = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            doc = None
        if not isinstance(doc, dict):
            rec["problems"].append("Invalid response object: the body is not a JSON object")
            rec["valid"] = False
            return rec
        rec["status"] = doc.get("Status")
        rec["reason"] = doc.get("Reason")
        rec["physical_resource_id"] = doc.get("PhysicalResourceId")
        rec["data"] = doc.get("Data")
        rec["no_echo"] = doc.get("NoEcho")
        rec["stack_id"] = doc.get("StackId")
        rec["request_id"] = doc.get("RequestId")
        rec["logical_resource_id"] = doc.get("LogicalResourceId")
        if rec["status"] not in ("SUCCESS", "FAILED"):
            rec["problems"].append("Invalid response object: Status must be SUCCESS or FAILED")
        for field, mk in (("StackId", "stack_id"), ("RequestId", "request_id"),
                          ("LogicalResourceId", "logical_id")):
            if field not in doc:
                rec["problems"].append("Invalid response object: missing %s" % field)
            elif meta and doc[field] != meta[mk]:
                rec["problems"].append("Invalid response object: %s does not "
                                       "match the request" % field)
        pid = doc.get("PhysicalResourceId")
        if pid is None:
            rec["problems"].append("Invalid PhysicalResourceId")
        elif not isinstance(pid, str) or not pid or len(pid.encode()) > 1024:
            rec["problems"].append("Invalid PhysicalResourceId")
        if "Data" in doc and not isinstance(doc["Data"], dict):
            rec["problems"].append("Invalid response object: Data must be an object")
        if "NoEcho" in doc and not isinstance(doc["NoEcho"], bool):
            rec["problems"].append("Invalid response object: NoEcho must be a boolean")
        if "Reason" in doc and not isinstance(doc["Reason"], str):
            rec["problems"].append("Invalid response object: Reason must be a string")
        elif rec["status"] == "FAILED" and not doc.get("Reason"):
            # crpg-ref-responses: Reason is required if Status is FAILED.
            rec["problems"].append("Invalid response object: Reason is required "
                                   "when Status is FAILED")
        rec["valid"] = not rec["problems"]
        return rec

    def _receive_answer(self, req, bucket, key):
        ctype = req.headers.get("content-type")
        if ctype is not None and ctype.strip() != "":
            self.world.record("s3.response_rejected", key=key,
                              reason="content-type", content_type=ctype)
            return core.s3_error("SignatureDoesNotMatch",
                                 sigv4.MSG_SIGNATURE_S3, 403,
                                 AWSAccessKeyId=req.identity.access_key_id)
        if self._faults:
            f = self._faults[0]
            f["count"] -= 1
            if f["count"] <= 0:
                self._faults.pop(0)
            self.world.record("s3.response_fault", key=key, status=f["status"],
                              drop=f.get("drop", False))
            if f.get("drop"):
                r = core.Response(500)
                r.drop = True
                return r
            return core.s3_error(f["code"], f["message"], f["status"])
        rec = self._check_answer(key, req.body)
        rec["http_status"] = 200
        rec["content_type"] = ctype
        self.responses.append(rec)
        self.latest[key] = rec
        etag = self._put_object(bucket, key, req.body, "binary/octet-stream", {})
        self.world.record("s3.response", key=key, status=rec["status"],
                          valid=rec["valid"], size=rec["size"])
        for fut in self._waiters.pop(key, []):
            if not fut.done():
                fut.set_result(rec)
        return core.Response(200, b"", {"ETag": etag,
                                        "x-amz-request-id": ids.random_bytes(8).hex().upper()})

    # ------------------------------------------------------------ objects
    def _put_object(self, bucket, key, body, ctype, meta):
        etag = '"%s"' % hashlib.md5(body).hexdigest()
        bucket["objects"][key] = {"body": body, "etag": etag,
                                  "content_type": ctype, "meta": meta,
                                  "modified": time.time()}
        return etag

    def _object_headers(self, obj):
        h = {"ETag": obj["etag"], "Content-Type": obj["content_type"],
             "Last-Modified": _http_date(obj["modified"]),
             "Accept-Ranges": "bytes",
             "x-amz-request-id": ids.random_bytes(8).hex().upper()}
        for k, v in obj["meta"].items():
            h["x-amz-meta-" + k] = v
        return h

    # ----------------------------------------------------------- protocol
    def accepts_unsigned(self, req):
        # Anonymous requests to a bucket we know get S3's AccessDenied.
        if req.aws_host is not None and req.aws_host.service != "s3":
            return False
        if req.aws_host is not None and req.aws_host.service == "s3" and req.aws_host.bucket:
            seg = req.aws_host.bucket
        else:
            seg = req.path.lstrip("/").split("/", 1)[0]
        return bool(seg) and (seg in self.buckets or
                              seg.startswith(RESPONSE_BUCKET_PREFIX))

    def scope_regions(self, req):
        """The region of the bucket a path-style request names (hosts.py
        checks the credential scope against it when the Host is an
        address); None when it names none we have, or creates one."""
        bname, _, rawkey = req.path.lstrip("/").partition("/")
        b = self.buckets.get(urllib.parse.unquote(bname)) if bname else None
        if b is None or (req.method == "PUT" and not rawkey):
            return None
        return (b["region"],)

    async def handle(self, req):
        if req.method == "PUT" and "content-length" not in req.headers:
            return core.s3_error("MissingContentLength",
                                 "You must provide the Content-Length HTTP header.", 411)
        if req.identity is None:
            return core.s3_error("AccessDenied", "Access Denied", 403)
        raw = req.path.lstrip("/")
        if req.aws_host is not None and req.aws_host.bucket:
            bname, rawkey = req.aws_host.bucket, raw
        else:
            bname, _, rawkey = raw.partition("/")
        bname = urllib.parse.unquote(bname)
        key = urllib.parse.unquote(rawkey)
        if not bname:
            if req.method == "GET":
                return self._list_buckets(req)
            return core.s3_error("MethodNotAllowed", "The specified method is "
                                 "not allowed against this resource.", 405)
        if not _BUCKET_RE.match(bname):
            if req.method == "PUT" and not rawkey:
                return core.s3_error("InvalidBucketName", "The specified "
                                     "bucket is not valid.", 400,
                                     BucketName=bname)
            return core.s3_error("NoSuchBucket", "The specified bucket does "
                                 "not exist", 404, BucketName=bname)
        acct = req.identity.account_id
        b = self.buckets.get(bname)
        if not rawkey and req.method == "PUT":
            return self._create_bucket(req, bname, acct)
        if b is None:
            return core.s3_error("NoSuchBucket", "The specified bucket does "
                                 "not exist", 404, BucketName=bname)
        if b["owner"] != acct:
            return core.s3_error("AccessDenied", "Access Denied", 403)
        if req.region is not None and req.region != b["region"]:
            return core.s3_error(
                "AuthorizationHeaderMalformed", "The authorization header is "
                "malformed; the region '%s' is wrong; expecting '%s'"
                % (req.region, b["region"]), 400, Region=b["region"])
        if not rawkey:
            if req.method == "DELETE":
                if b["objects"]:
                    return core.s3_error("BucketNotEmpty", "The bucket you "
                                         "tried to delete is not empty", 409,
                                         BucketName=bname)
                del self.buckets[bname]
                return core.Response(204)
            if req.method == "HEAD":
                return core.Response(200, b"", {"x-amz-bucket-region": b["region"]})
            if req.method == "GET":
                return self._list_objects(bname, b, urllib.parse.parse_qs(req.query, keep_blank_values=True))
            return core.s3_error("MethodNotAllowed", "The specified method is "
                                 "not allowed against this resource.", 405)
        if len(key.encode()) > 1024:
            return core.s3_error("KeyTooLongError", "Your key is too long", 400)
        if req.method == "PUT":
            if bname.startswith(RESPONSE_BUCKET_PREFIX):
                return self._receive_answer(req, b, key)
            if "x-amz-copy-source" in req.headers:
                return core.s3_error("NotImplemented", "CopyObject is not "
                                     "emulated", 501)
            err = _check_integrity(req, b)
            if err is not None:
                return err
            md5 = req.headers.get("content-md5")
            if md5 is not None:
                try:
                    want = base64.b64decode(md5, validate=True)
                except ValueError:
                    want = b""
                if len(want) != 16:
                    return core.s3_error("InvalidDigest", "The Content-MD5 you "
                                         "specified was invalid.", 400)
                if want != hashlib.md5(req.body).digest():
                    return core.s3_error("BadDigest", "The Content-MD5 you "
                                         "specified did not match what we "
                                         "received.", 400)
            meta = {k[len("x-amz-meta-"):]: v for k, v in req.headers.items()
                    if k.startswith("x-amz-meta-")}
            etag = self._put_object(b, key, req.body,
                                    req.headers.get("content-type") or
                                    "binary/octet-stream", meta)
            self.world.record("s3.put_object", bucket=bname, key=key,
                              size=len(req.body), account=acct)
            return core.Response(200, b"", {"ETag": etag,
                                            "x-amz-request-id": ids.random_bytes(8).hex().upper()})
        if req.method in ("GET", "HEAD"):
            obj = b["objects"].get(key)
            if obj is None:
                if req.method == "HEAD":
                    return core.Response(404, b"", {"x-amz-request-id": ids.random_bytes(8).hex().upper()})
                return core.s3_error("NoSuchKey", "The specified key does not "
                                     "exist.", 404, Key=key)
            h = self._object_headers(obj)
            if req.method == "HEAD":
                h["Content-Length"] = str(len(obj["body"]))
                return core.Response(200, b"", h)
            return core.Response(200, obj["body"], h)
        if req.method == "DELETE":
            existed = b["objects"].pop(key, None) is not None
            self.world.record("s3.delete_object", bucket=bname, key=key,
                              existed=existed, account=acct)
            return core.Response(204, b"", {"x-amz-request-id": ids.random_bytes(8).hex().upper()})
        return core.s3_error("MethodNotAllowed", "The specified method is not "
                             "allowed against this resource.", 405)

    def _create_bucket(self, req, bname, acct):
        region = req.region
        loc = None
        if req.body.strip():
            m = re.search(rb"<LocationConstraint>([^<]*)</LocationConstraint>", req.body)
            if m is None and b"CreateBucketConfiguration" not in req.body:
                return core.s3_error("MalformedXML", "The XML you provided was "
                                     "not well-formed or did not validate "
                                     "against our published schema", 400)
            loc = m.group(1).decode() if m else None
        if loc is None and region != "us-east-1":
            return core.s3_error("IllegalLocationConstraintException",
                                 "The unspecified location constraint is "
                                 "incompatible for the region specific "
                                 "endpoint this request was sent to.", 400)
        if loc is not None and loc != region:
            return core.s3_error("IllegalLocationConstraintException",
                                 "The %s location constraint is incompatible "
                                 "for the region specific endpoint this "
                                 "request was sent to." % loc, 400)
        b = self.buckets.get(bname)
        if b is not None:
            if b["owner"] == acct:
                return core.s3_error("BucketAlreadyOwnedByYou", "Your previous "
                                     "request to create the named bucket "
                                     "succeeded and you already own it.", 409,
                                     BucketName=bname)
            return core.s3_error("BucketAlreadyExists", "The requested bucket "
                                 "name is not available. The bucket namespace "
                                 "is shared by all users of the system. Please "
                                 "select a different name and try again.", 409,
                                 BucketName=bname)
        lock = req.headers.get("x-amz-bucket-object-lock-enabled", "").strip().lower() == "true"
        self.create_bucket(bname, acct, region, object_lock=lock)
        return core.Response(200, b"", {"Location": "/" + bname})

    def _list_buckets(self, req):
        acct = req.identity.account_id
        items = "".join(
            "<Bucket><Name>%s</Name><CreationDate>%s</CreationDate></Bucket>"
            % (core.xml_escape(n), time.strftime("%Y-%m-%dT%H:%M:%S.000Z",
                                                 time.gmtime(b["created"])))
            for n, b in sorted(self.buckets.items()) if b["owner"] == acct)
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<ListAllMyBucketsResult '
                'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>%s</ID>'
                '</Owner><Buckets>%s</Buckets></ListAllMyBucketsResult>'
                % (acct, items))
        return core.Response(200, body, {"Content-Type": "application/xml"})

    def _list_objects(self, bname, b, q):
        prefix = q.get("prefix", [""])[0]
        keys = sorted(k for k in b["objects"] if k.startswith(prefix))
        items = "".join(
            "<Contents><Key>%s</Key><LastModified>%s</LastModified><ETag>%s"
            "</ETag><Size>%d</Size><StorageClass>STANDARD</StorageClass>"
            "</Contents>" % (core.xml_escape(k), time.strftime(
                "%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(b["objects"][k]["modified"])),
                core.xml_escape(b["objects"][k]["etag"]),
                len(b["objects"][k]["body"])) for k in keys)
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult '
                'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>%s</Name>'
                '<Prefix>%s</Prefix><KeyCount>%d</KeyCount><MaxKeys>1000</MaxKeys>'
                '<IsTruncated>false</IsTruncated>%s</ListBucketResult>'
                % (core.xml_escape(bname), core.xml_escape(prefix), len(keys), items))
        return core.Response(200, body, {"Content-Type": "application/xml"})

    # ------------------------------------------------------------ control
    async def control(self, req, subpath):
        parts = subpath.strip("/").split("/", 2) if subpath.strip("/") else []

        def j(obj, status=200):
            return core.json_response(obj, status, content_type="application/json")

        def body():
            try:
                b = req.json()
            except ValueError:
                b = None
            if not isinstance(b, dict):
                raise ValueError("a JSON object body is required")
            return b
        try:
            if parts == ["responses"]:
                if req.method == "GET":
                    return j({"responses": self.responses})
                if req.method == "DELETE":
                    self.responses.clear()
                    self.latest.clear()
                    return j({"ok": True})
            if parts == ["responses", "faults"] and req.method == "DELETE":
                self._faults.clear()
                return j({"ok": True, "pending": 0})
            if parts == ["responses", "faults"] and req.method == "POST" and body().get("drop"):
                count = int(body().get("count", 1))
                if count < 1:
                    raise ValueError("count >= 1")
                self._faults.append({"drop": True, "count": count, "status": None})
                return j({"ok": True, "pending": sum(f["count"] for f in self._faults)})
            if parts == ["responses", "faults"] and req.method == "POST":
                b = body()
                status = int(b.get("status", 503))
                count = int(b.get("count", 1))
                if not (400 <= status <= 599) or count < 1:
                    raise ValueError("status must be 4xx/5xx and count >= 1")
                code = b.get("code") or ("ServiceUnavailable" if status == 503 else
                                         "InternalError" if status >= 500 else
                                         "AccessDenied")
                msg = b.get("message") or ("Please reduce your request rate."
                                           if status == 503 else
                                           "We encountered an internal error. Please try again."
                                           if status >= 500 else "Access Denied")
                self._faults.append({"status": status, "count": count,
                                     "code": code, "message": msg})
                return j({"ok": True, "pending": sum(f["count"] for f in self._faults)})
            if parts == ["response-urls"] and req.method == "POST":
                b = body()
                for f in ("stack_id", "logical_id", "request_id"):
                    if not isinstance(b.get(f), str) or not b[f]:
                        raise ValueError("%s is required" % f)
                url, key = self.mint_response_url(
                    b.get("region") or self.world.region, b["stack_id"],
                    b["logical_id"], b["request_id"],
                    request_type=b.get("request_type"), expires=b.get("expires"))
                return j({"url": url, "key": key})
            if parts == ["config"]:
                if req.method == "POST":
                    b = body()
                    if "response_url_signing" in b:
                        if b["response_url_signing"] not in ("v4", "v2"):
                            raise ValueError("response_url_signing is v4 or v2")
                        self.response_url_signing = b["response_url_signing"]
                    if "response_url_expires" in b:
                        v = int(b["response_url_expires"])
                        if v < 1 or v > sigv4.MAX_PRESIGN_EXPIRES:
                            raise ValueError("response_url_expires out of range")
                        self.response_url_expires = v
                return j({"response_url_expires": self.response_url_expires,
                          "response_url_signing": self.response_url_signing})
            if parts == ["buckets"] and req.method == "POST":
                b = body()
                name = b.get("name")
                if not isinstance(name, str) or not _BUCKET_RE.match(name):
                    raise ValueError("invalid bucket name")
                bk = self.create_bucket(name, b.get("account_id") or self.world.partner_account,
                                        b.get("region") or self.world.region,
                                        object_lock=bool(b.get("object_lock")))
                return j({"name": name, "owner": bk["owner"], "region": bk["region"],
                          "object_lock": bk["object_lock"]}, 201)
            if len(parts) == 2 and parts[0] == "buckets" and req.method == "GET":
                bk = self.buckets.get(urllib.parse.unquote(parts[1]))
                if bk is None:
                    return j({"error": "NoSuchBucket"}, 404)
                return j({"name": parts[1], "owner": bk["owner"], "region": bk["region"],
                          "objects": [{"key": k, "size": len(o["body"]), "etag": o["etag"],
                                       "content_type": o["content_type"]}
                                      for k, o in sorted(bk["objects"].items())]})
            if len(parts) == 3 and parts[0] == "objects" and req.method == "GET":
                bk = self.buckets.get(urllib.parse.unquote(parts[1]))
                obj = bk and bk["objects"].get(urllib.parse.unquote(parts[2]))
                if not obj:
                    return j({"error": "NoSuchKey"}, 404)
                return core.Response(200, obj["body"], {"Content-Type": obj["content_type"]})
        except (ValueError, TypeError) as e:
            return j({"error": "BadRequest", "message": str(e)}, 400)
        return j({"error": "NotFound", "message": subpath}, 404)
