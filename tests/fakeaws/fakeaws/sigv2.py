"""S3's older query-string authentication (Signature Version 2), the form
of presigned URL CloudFormation used for ResponseURLs for years and that a
client must still handle:

    https://BUCKET.s3.amazonaws.com/KEY?AWSAccessKeyId=AKIA...&Expires=1466...&Signature=...

StringToSign = VERB \\n Content-MD5 \\n Content-Type \\n Expires \\n
CanonicalizedAmzHeaders CanonicalizedResource; Signature =
Base64(HMAC-SHA1(secret, StringToSign)), URL-encoded. The resource is
"/BUCKET/KEY" as sent (virtual-hosted: the bucket from the Host), so the
Content-Type a client sends is signed: a URL minted without one refuses a
PUT that carries one (403 SignatureDoesNotMatch, as S3 answers).
"""
import base64
import hashlib
import hmac
import time
import urllib.parse

from .sigv4 import MSG_SIGNATURE_S3, SigV4Error


def is_presigned(req):
    q = req.query
    return bool(q) and "AWSAccessKeyId=" in q and "Signature=" in q


def string_to_sign(method, content_md5, content_type, expires, amz_headers, resource):
    amz = "".join("%s:%s\n" % (k, v) for k, v in sorted(amz_headers.items()))
    return "%s\n%s\n%s\n%s\n%s%s" % (method, content_md5, content_type, expires, amz, resource)


def signature(secret, sts):
    mac = hmac.new(secret.encode(), sts.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def _resource(bucket, path):
    return "/" + bucket + path if bucket else path


def presign(method, url, access_key, secret, expires_at, bucket=None):
    """`url` ("https://host/path", path percent-encoded) with the SigV2
    query parameters for `method`, valid until the epoch `expires_at`, with
    no Content-Type and no Content-MD5. `bucket` names the bucket of a
    virtual-hosted URL (its path is then the key only)."""
    u = urllib.parse.urlsplit(url)
    sts = string_to_sign(method, "", "", int(expires_at), {}, _resource(bucket, u.path))
    q = urllib.parse.urlencode({"AWSAccessKeyId": access_key, "Expires": str(int(expires_at)),
                                "Signature": signature(secret, sts)})
    return "%s://%s%s?%s" % (u.scheme, u.netloc, u.path, q)


def verify(req, lookup, bucket, now=None):
    """Authenticates a SigV2 presigned S3 request or raises SigV4Error (the
    same error type: the codes are S3's). Sets req.service, req.identity,
    req.credentials; req.region stays None (SigV2 names no region)."""
    now = time.time() if now is None else now
    params = dict(urllib.parse.parse_qsl(req.query, keep_blank_values=True))
    akid = params.get("AWSAccessKeyId", "")
    sig = params.get("Signature", "")
    expires_s = params.get("Expires")
    if expires_s is None or not expires_s.isdigit():
        raise SigV4Error(403, "AccessDenied",
                         "Query-string authentication requires the Signature, Expires and "
                         "AWSAccessKeyId parameters", "s3")
    c = lookup(akid)
    if c is None:
        raise SigV4Error(403, "InvalidAccessKeyId",
                         "The AWS Access Key Id you provided does not exist in our records.", "s3",
                         {"AWSAccessKeyId": akid})
    token = params.get("x-amz-security-token") or req.headers.get("x-amz-security-token")
    if (c.session_token is not None or token is not None) and (
            c.session_token is None or token is None
            or not hmac.compare_digest(c.session_token.encode(), token.encode())):
        raise SigV4Error(400, "InvalidToken", "The provided token is malformed or otherwise invalid.",
                         "s3")
    if now > int(expires_s):
        raise SigV4Error(403, "AccessDenied", "Request has expired", "s3",
                         {"Expires": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(expires_s))),
                          "ServerTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))})
    amz = {}
    for k, v in req.header_list:
        lk = k.lower()
        if lk.startswith("x-amz-"):
            amz[lk] = amz[lk] + "," + v.strip() if lk in amz else v.strip()
    if token is not None and "x-amz-security-token" not in amz:
        amz["x-amz-security-token"] = token
    sts = string_to_sign(req.method, req.headers.get("content-md5", ""),
                         req.headers.get("content-type", ""), expires_s, amz,
                         _resource(bucket, req.path))
    expect = signature(c.secret_access_key, sts)
    if not hmac.compare_digest(expect.encode(), sig.encode()):
        raise SigV4Error(403, "SignatureDoesNotMatch", MSG_SIGNATURE_S3, "s3",
                         {"AWSAccessKeyId": akid, "StringToSign": sts,
                          "SignatureProvided": sig})
    req.service = "s3"
    req.region = None
    req.identity = c.identity
    req.credentials = c
    return c
