"""AWS Signature Version 4: signing (for the test clients) and strict
verification (for every request the emulator serves).

Both forms are verified: the Authorization header and the presigned query
string. Checked against the official test suite (testdata/sigv4). Errors
carry AWS's codes and message texts; `error_response` gives them the shape of
the service that was addressed.
"""
import calendar
import functools
import hashlib
import hmac
import time
from urllib.parse import unquote_to_bytes, urlsplit

from . import core

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
# Seconds either side of the server's clock a signing time may be: AWS allows
# 15 minutes (S3's MaxAllowedSkewMilliseconds 900000; STS "Signature expired:
# ... (NOW - 15 min.)").
MAX_SKEW = 900
MAX_PRESIGN_EXPIRES = 604800

MSG_SIGNATURE = ("The request signature we calculated does not match the signature you provided. "
                 "Check your AWS Secret Access Key and signing method. "
                 "Consult the service documentation for details.")
MSG_SIGNATURE_S3 = ("The request signature we calculated does not match the signature you provided. "
                    "Check your key and signing method.")
MSG_BAD_TOKEN = "The security token included in the request is invalid."
MSG_EXPIRED_TOKEN = "The security token included in the request is expired"
MSG_MISSING_AUTH = "Missing Authentication Token"


class SigV4Error(Exception):
    """A request that fails authentication. `service` is the credential
    scope's service when it could be read (it decides the error shape)."""

    def __init__(self, status, code, message, service=None, extra=None):
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.service = service
        self.extra = extra or {}


# ---------------------------------------------------------------------------
# canonical request

_UNRESERVED = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
_encode_tables = {}


def _encode_table(safe):
    """str.translate table: every byte (as a latin-1 code point) that is
    neither unreserved nor in `safe` becomes %XX (upper-case hex)."""
    t = _encode_tables.get(safe)
    if t is None:
        keep = _UNRESERVED + safe
        t = _encode_tables[safe] = {b: "%%%02X" % b for b in range(256) if b not in keep}
    return t


def uri_encode(raw: bytes, safe=b""):
    """RFC 3986 percent-encoding as SigV4 wants it (the same as
    urllib.parse.quote_from_bytes(raw, safe)), one C-level translate."""
    return raw.decode("latin-1").translate(_encode_table(safe))


def normalize_path(path):
    """Removes dot segments and empty segments (not for S3)."""
    if path in ("", "/"):
        return "/"
    out = []
    for seg in path.split("/"):
        if seg == "" or seg == ".":
            continue
        if seg == "..":
            if out:
                out.pop()
            continue
        out.append(seg)
    res = "/" + "/".join(out)
    last = path.rsplit("/", 1)[-1]
    if (path.endswith("/") or last in (".", "..")) and res != "/":
        res += "/"
    return res


_path_cache = {}


def canonical_uri(path, service):
    """`path` is the raw request-target path (latin-1 str of the wire bytes).
    Other services encode the normalized path as it is (so '%' becomes '%25',
    as the SDKs do); S3 neither normalizes nor double-encodes."""
    key = (path, service == "s3")
    r = _path_cache.get(key)
    if r is None:
        if not path:
            path = "/"
        if service == "s3":
            r = uri_encode(unquote_to_bytes(path), b"/~")
        else:
            r = uri_encode(normalize_path(path).encode("latin-1"), b"/~")
        if len(_path_cache) > 4096:
            _path_cache.clear()
        _path_cache[key] = r
    return r


def query_pairs(query):
    """(name, value) pairs of a raw query string, percent-decoded to bytes.
    '+' stays '+'; malformed escapes stay as they are."""
    pairs = []
    for part in query.split("&"):
        if not part:
            continue
        k, sep, v = part.partition("=")
        k = k.encode("latin-1")
        v = v.encode("latin-1")
        pairs.append((unquote_to_bytes(k) if b"%" in k else k, unquote_to_bytes(v) if b"%" in v else v))
    return pairs


def canonical_query(query, exclude=None, pairs=None):
    """`pairs`: query_pairs(query) when the caller already has them."""
    if not query:
        return ""
    table = _encode_table(b"")
    enc = []
    for k, v in (pairs if pairs is not None else query_pairs(query)):
        if exclude is not None and k == exclude:
            continue
        enc.append((k.decode("latin-1").translate(table), v.decode("latin-1").translate(table)))
    enc.sort()
    return "&".join([f"{k}={v}" for k, v in enc])


def _trim(v):
    return " ".join(v.split())


def canonical_headers(header_list, signed):
    """`signed` is the list of lower-case names. Values of repeated headers
    are joined with ',' in order; whitespace runs collapse to one space."""
    vals = {n: [] for n in signed}
    for k, v in header_list:
        lk = k.lower()
        if lk in vals:
            vals[lk].append(_trim(v))
    return "".join(f"{n}:{','.join(vals[n])}\n" for n in signed)


def canonical_request(method, path, query, header_list, signed, payload_hash, service,
                      exclude_query=None, pairs=None):
    return "\n".join((
        method,
        canonical_uri(path, service),
        canonical_query(query, exclude_query, pairs),
        canonical_headers(header_list, signed),
        ";".join(signed),
        payload_hash,
    ))


_key_cache = {}


def signing_key(secret, date, region, service):
    ck = (secret, date, region, service)
    k = _key_cache.get(ck)
    if k is None:
        k = hmac.digest(("AWS4" + secret).encode(), date.encode(), "sha256")
        k = hmac.digest(k, region.encode(), "sha256")
        k = hmac.digest(k, service.encode(), "sha256")
        k = hmac.digest(k, b"aws4_request", "sha256")
        if len(_key_cache) > 4096:
            _key_cache.clear()
        _key_cache[ck] = k
    return k


def string_to_sign(amz_date, scope, creq):
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{hashlib.sha256(creq.encode('utf-8')).hexdigest()}"


def signature(secret, date, region, service, sts):
    return hmac.digest(signing_key(secret, date, region, service), sts.encode("utf-8"), "sha256").hex()


# ---------------------------------------------------------------------------
# signing (clients)

def amz_now(now=None):
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))


def sign(method, url, headers, body, access_key, secret, region, service,
         session_token=None, amz_date=None, sign_token=True, payload_hash=None):
    """Returns the headers (a new dict) for a header-signed request.
    `url` is "scheme://host[:port]/path?query" (path and query already
    encoded as they will go on the wire). For s3 the x-amz-content-sha256
    header is added."""
    u = urlsplit(url)
    amz_date = amz_date or amz_now()
    out = {k: v for k, v in (headers or {}).items()}
    lower = {k.lower(): k for k in out}
    if "host" not in lower:
        out["Host"] = u.netloc
    out["X-Amz-Date"] = amz_date
    if payload_hash is None:
        payload_hash = hashlib.sha256(body or b"").hexdigest()
    if service == "s3":
        out["x-amz-content-sha256"] = payload_hash
    if session_token and sign_token:
        out["X-Amz-Security-Token"] = session_token
    hl = list(out.items())
    signed = sorted({k.lower() for k, _ in hl if k.lower() not in ("authorization", "user-agent", "expect")})
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    creq = canonical_request(method, u.path or "/", u.query, hl, signed, payload_hash, service)
    sig = signature(secret, amz_date[:8], region, service, string_to_sign(amz_date, scope, creq))
    out["Authorization"] = (f"{ALGORITHM} Credential={access_key}/{scope}, "
                            f"SignedHeaders={';'.join(signed)}, Signature={sig}")
    if session_token and not sign_token:
        out["X-Amz-Security-Token"] = session_token
    return out


def presign(method, url, access_key, secret, region, service, expires=900,
            session_token=None, amz_date=None, headers=None):
    """Returns `url` with the presigned query parameters (host signed, plus
    any `headers` given). The payload is UNSIGNED-PAYLOAD for s3, else the
    hash of an empty body."""
    u = urlsplit(url)
    amz_date = amz_date or amz_now()
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    hl = [("host", u.netloc)] + [(k, v) for k, v in (headers or {}).items()]
    signed = sorted({k.lower() for k, _ in hl})
    params = [("X-Amz-Algorithm", ALGORITHM), ("X-Amz-Credential", f"{access_key}/{scope}"),
              ("X-Amz-Date", amz_date), ("X-Amz-Expires", str(expires)),
              ("X-Amz-SignedHeaders", ";".join(signed))]
    if session_token:
        params.append(("X-Amz-Security-Token", session_token))
    q = "&".join(f"{uri_encode(k.encode())}={uri_encode(v.encode())}" for k, v in params)
    query = (u.query + "&" + q) if u.query else q
    payload = UNSIGNED_PAYLOAD if service == "s3" else EMPTY_SHA256
    creq = canonical_request(method, u.path or "/", query, hl, signed, payload, service)
    sig = signature(secret, amz_date[:8], region, service, string_to_sign(amz_date, scope, creq))
    return f"{u.scheme}://{u.netloc}{u.path or '/'}?{query}&X-Amz-Signature={sig}"


# ---------------------------------------------------------------------------
# verification (the emulator)

def is_signed(req):
    """True for a SigV4 Authorization header (or another AWS4 algorithm,
    which verify() refuses) or presigned query parameters. Other schemes
    (the container endpoint's token) are not SigV4."""
    a = req.headers.get("authorization")
    if a is not None and (a.startswith("AWS4-") or "Credential=" in a):
        return True
    q = req.query
    return bool(q) and ("X-Amz-Credential=" in q or "X-Amz-Signature=" in q or "X-Amz-Algorithm=" in q)


_date_cache = {}


def parse_amz_date(s):
    """Epoch seconds of YYYYMMDDTHHMMSSZ, or None."""
    r = _date_cache.get(s)
    if r is None:
        if len(s) != 16 or s[8] != "T" or s[15] != "Z" or not (s[:8] + s[9:15]).isdigit():
            return None
        try:
            r = calendar.timegm((int(s[0:4]), int(s[4:6]), int(s[6:8]),
                                 int(s[9:11]), int(s[11:13]), int(s[13:15]), 0, 0, 0))
            time.strptime(s, "%Y%m%dT%H%M%SZ")  # range check once, then cached
        except ValueError:
            return None
        if len(_date_cache) > 1024:
            _date_cache.clear()
        _date_cache[s] = r
    return r


def _parse_http_date(s):
    from email.utils import parsedate_to_datetime
    try:
        d = parsedate_to_datetime(s)
    except (TypeError, ValueError, IndexError):
        return None, None
    ep = calendar.timegm(d.utctimetuple())
    return ep, time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(ep))


def _fmt(ep):
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(ep))


def _parse_authorization(value):
    if not value.startswith(ALGORITHM + " "):
        alg = value.split(" ", 1)[0]
        raise SigV4Error(400 if alg else 403, "IncompleteSignature",
                         f"Unsupported AWS 'algorithm': '{alg}'")
    parts = {}
    for item in value[len(ALGORITHM) + 1:].split(","):
        item = item.strip()
        if not item:
            continue
        k, sep, v = item.partition("=")
        if not sep:
            raise SigV4Error(403, "IncompleteSignature",
                             f"'{item}' not a valid key=value pair (missing equal-sign) in Authorization header: '{value}'.")
        parts[k] = v
    missing = [n for n in ("Credential", "SignedHeaders", "Signature") if n not in parts]
    if missing:
        raise SigV4Error(403, "IncompleteSignature",
                         " ".join(f"Authorization header requires '{n}' parameter." for n in missing)
                         + f" Authorization={value}")
    return parts["Credential"], parts["SignedHeaders"], parts["Signature"]


def _first_values(pairs):
    """{name: first value} of query pairs, values decoded as UTF-8."""
    out = {}
    for k, v in pairs:
        if k not in out:
            out[k] = v.decode("utf-8", "replace")
    return out


@functools.lru_cache(maxsize=256)
def _signed_headers(signed_str):
    """The SignedHeaders names as a tuple, or None unless they are sorted,
    non-empty and lower-case (clients send the same few lists again and again)."""
    signed = tuple(signed_str.split(";"))
    if list(signed) != sorted(signed) or any(not n or n != n.lower() for n in signed):
        return None
    return signed


def verify(req, lookup, now=None, max_skew=MAX_SKEW):
    """Authenticates `req` (a core.Request) or raises SigV4Error.

    `lookup(access_key_id)` returns core.Credentials or None. On success
    sets req.service, req.region, req.identity, req.credentials and returns
    the credentials."""
    now = time.time() if now is None else now
    h = req.headers
    auth = h.get("authorization")
    if auth is not None and not (auth.startswith("AWS4-") or "Credential=" in auth):
        auth = None
    presigned = auth is None
    service = None
    pairs = None
    if presigned:
        pairs = query_pairs(req.query)
        q = _first_values(pairs)
        alg = q.get(b"X-Amz-Algorithm")
        cred = q.get(b"X-Amz-Credential")
        if alg is None and cred is None:
            raise SigV4Error(403, "MissingAuthenticationToken", MSG_MISSING_AUTH)
        amz_date = q.get(b"X-Amz-Date")
        signed_str = q.get(b"X-Amz-SignedHeaders")
        sig = q.get(b"X-Amz-Signature")
        expires_s = q.get(b"X-Amz-Expires")
        token = q.get(b"X-Amz-Security-Token")
        service = cred.split("/")[3] if cred and cred.count("/") >= 4 else None
        missing = [n for n, v in (("X-Amz-Algorithm", alg), ("X-Amz-Credential", cred),
                                  ("X-Amz-Signature", sig), ("X-Amz-Date", amz_date),
                                  ("X-Amz-SignedHeaders", signed_str), ("X-Amz-Expires", expires_s)) if v is None]
        if missing or alg != ALGORITHM:
            what = ", ".join(missing) if missing else f"X-Amz-Algorithm only supports \"{ALGORITHM}\""
            if service == "s3":
                raise SigV4Error(400, "AuthorizationQueryParametersError",
                                 f"Query-string authentication version 4 requires the {what} parameters.", service)
            raise SigV4Error(403, "IncompleteSignature",
                             f"AWS query-string parameters must include {what}.", service)
    else:
        cred, signed_str, sig = _parse_authorization(auth)
        service = cred.split("/")[3] if cred.count("/") >= 4 else None
        token = h.get("x-amz-security-token")
        amz_date = h.get("x-amz-date")
        expires_s = None

    # credential scope: AKID/date/region/service/aws4_request
    scope_parts = cred.split("/")
    if len(scope_parts) != 5 or not all(scope_parts):
        raise SigV4Error(403, "IncompleteSignature" if service != "s3" else "AuthorizationHeaderMalformed",
                         f"Credential should be scoped to a valid region, not '{cred}'. ", service)
    akid, scope_date, region, service, term = scope_parts
    if term != "aws4_request":
        raise SigV4Error(403 if service != "s3" else 400,
                         "SignatureDoesNotMatch" if service != "s3" else "AuthorizationHeaderMalformed",
                         f"Credential should be scoped with a valid terminator: 'aws4_request', not '{term}'.",
                         service)
    s3 = service == "s3"

    # the key
    c = lookup(akid)
    if c is None:
        if s3:
            raise SigV4Error(403, "InvalidAccessKeyId",
                             "The AWS Access Key Id you provided does not exist in our records.", service,
                             {"AWSAccessKeyId": akid})
        raise SigV4Error(403, "InvalidClientTokenId", MSG_BAD_TOKEN, service)

    # session token: required (and equal) for temporary keys, refused for long-term ones
    if c.session_token is not None or token is not None:
        if c.session_token is None or token is None or not hmac.compare_digest(
                c.session_token.encode(), token.encode()):
            if s3:
                raise SigV4Error(400, "InvalidToken", "The provided token is malformed or otherwise invalid.",
                                 service)
            raise SigV4Error(403, "InvalidClientTokenId", MSG_BAD_TOKEN, service)
        if c.expired(now):
            if s3:
                raise SigV4Error(400, "ExpiredToken", "The provided token has expired.", service)
            raise SigV4Error(403, "ExpiredToken", MSG_EXPIRED_TOKEN, service)

    # the date
    if amz_date is not None:
        when = parse_amz_date(amz_date)
        if when is None:
            raise SigV4Error(403 if not s3 else 400, "IncompleteSignature" if not s3 else "AccessDenied",
                             f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'. "
                             "See http://en.wikipedia.org/wiki/ISO_8601", service)
    elif h.get("date") is not None:
        when, amz_date = _parse_http_date(h["date"])
        if when is None:
            raise SigV4Error(403, "IncompleteSignature", f"Invalid date header: '{h['date']}'", service)
    else:
        raise SigV4Error(403, "IncompleteSignature" if not s3 else "AccessDenied",
                         "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
                         service)
    if scope_date != amz_date[:8]:
        if s3:
            raise SigV4Error(400, "AuthorizationHeaderMalformed",
                             "The authorization header is malformed; Invalid credential date. "
                             "Date is not the same as X-Amz-Date.", service)
        raise SigV4Error(403, "SignatureDoesNotMatch",
                         f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
                         f"from HTTP: '{scope_date}' != '{amz_date[:8]}', from '{amz_date}'.", service)

    if presigned:
        try:
            expires = int(expires_s)
        except ValueError:
            expires = -1
        if expires < 1 or expires > MAX_PRESIGN_EXPIRES:
            raise SigV4Error(400 if s3 else 403, "AuthorizationQueryParametersError",
                             "X-Amz-Expires must be less than a week (in seconds) that is 604800"
                             if expires > 0 else "X-Amz-Expires must be non-negative", service)
        if now > when + expires:
            raise SigV4Error(403, "AccessDenied", "Request has expired", service,
                             {"X-Amz-Expires": str(expires), "Expires": _fmt(when + expires),
                              "ServerTime": _fmt(now)})
        if when > now + max_skew:
            raise SigV4Error(403, "AccessDenied", "Request is not valid yet", service)
    else:
        if when < now - max_skew:
            if s3:
                raise SigV4Error(403, "RequestTimeTooSkewed",
                                 "The difference between the request time and the current time is too large.",
                                 service, {"RequestTime": amz_date, "ServerTime": _fmt(now)})
            raise SigV4Error(403, "SignatureDoesNotMatch",
                             f"Signature expired: {amz_date} is now earlier than {_fmt(now - max_skew)} "
                             f"({_fmt(now)} - {max_skew // 60} min.)", service)
        if when > now + max_skew:
            if s3:
                raise SigV4Error(403, "RequestTimeTooSkewed",
                                 "The difference between the request time and the current time is too large.",
                                 service, {"RequestTime": amz_date, "ServerTime": _fmt(now)})
            raise SigV4Error(403, "SignatureDoesNotMatch",
                             f"Signature not yet current: {amz_date} is still later than {_fmt(now + max_skew)} "
                             f"({_fmt(now)} + {max_skew // 60} min.)", service)

    # signed headers
    signed = _signed_headers(signed_str)
    if signed is None:
        raise SigV4Error(403, "SignatureDoesNotMatch",
                         MSG_SIGNATURE_S3 if s3 else MSG_SIGNATURE, service)
    if "host" not in signed and ":authority" not in signed:
        if s3:
            raise SigV4Error(403, "AccessDenied", "There were headers present in the request which were not signed",
                             service, {"HeadersNotSigned": "host"})
        raise SigV4Error(403, "IncompleteSignature",
                         "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.", service)
    if s3 and not presigned:
        unsigned = sorted({k.lower() for k, _ in req.header_list
                           if k.lower().startswith("x-amz-") and k.lower() not in signed})
        if unsigned:
            raise SigV4Error(403, "AccessDenied", "There were headers present in the request which were not signed",
                             service, {"HeadersNotSigned": ", ".join(unsigned)})

    # payload
    body_hash = None
    if s3:
        payload = h.get("x-amz-content-sha256")
        if payload is None:
            if not presigned:
                raise SigV4Error(400, "InvalidRequest",
                                 "Missing required header for this request: x-amz-content-sha256", service)
            payload = UNSIGNED_PAYLOAD
        elif payload != UNSIGNED_PAYLOAD:
            if len(payload) != 64 or payload.strip("0123456789abcdef"):
                raise SigV4Error(400, "InvalidArgument", "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
                                 "or a valid sha256 value.", service)
    else:
        payload = body_hash = hashlib.sha256(req.body).hexdigest()

    creq = canonical_request(req.method, req.path, req.query, req.header_list, signed, payload, service,
                             exclude_query=b"X-Amz-Signature" if presigned else None,
                             pairs=pairs)
    scope = f"{scope_date}/{region}/{service}/aws4_request"
    sts = string_to_sign(amz_date, scope, creq)
    expect = signature(c.secret_access_key, scope_date, region, service, sts)
    if not hmac.compare_digest(expect, sig):
        if s3:
            raise SigV4Error(403, "SignatureDoesNotMatch", MSG_SIGNATURE_S3, service,
                             {"AWSAccessKeyId": akid, "StringToSign": sts, "CanonicalRequest": creq})
        raise SigV4Error(403, "SignatureDoesNotMatch",
                         f"{MSG_SIGNATURE}\n\nThe Canonical String for this request should have been\n'{creq}'\n\n"
                         f"The String-to-Sign should have been\n'{sts}'\n", service)

    if s3 and payload != UNSIGNED_PAYLOAD:
        body_hash = hashlib.sha256(req.body).hexdigest()
        if body_hash != payload:
            raise SigV4Error(400, "XAmzContentSHA256Mismatch",
                             "The provided 'x-amz-content-sha256' header does not match what was computed.",
                             service, {"ClientComputedContentSHA256": payload,
                                       "S3ComputedContentSHA256": body_hash})

    req.service = service
    req.region = region
    req.identity = c.identity
    req.credentials = c
    return c


def error_response(err, req=None):
    """The core.Response for a SigV4Error, in the addressed service's shape."""
    service = err.service
    if service == "s3":
        return core.s3_error(err.code, err.message, err.status, **err.extra)
    if req is not None and req.is_json_protocol():
        return core.aws_json_error(f"com.amazon.coral.service#{err.code}", err.message, err.status,
                                   query_error=err.code)
    return core.aws_query_error(err.code, err.message, err.status, sender=True,
                                xmlns=core.XMLNS.get(service or "", core.XMLNS["sts"]))
