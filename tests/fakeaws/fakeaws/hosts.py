"""The Host header, checked against the endpoint the connection reached.

A request names its endpoint twice: by the address it connected to and by
its Host header (which SigV4 signs). AWS routes by the Host, so a client that
sends one endpoint's Host to another address, or signs for one region and
sends to another region's endpoint, fails there; the emulator is as strict:

  * a Host that is an address must be the address and port the connection
    reached (`127.0.0.1:PORT`; `localhost:PORT` too): the endpoint-override
    form, where one listener serves every service and region;
  * a Host that is an AWS name (`sts.eu-west-1.amazonaws.com`,
    `BUCKET.s3.amazonaws.com`, `BUCKET.s3.REGION.amazonaws.com`,
    `BUCKET.s3-REGION.amazonaws.com`, `sns.REGION.amazonaws.com[.cn]` ...)
    must have reached the port it implies (443 for https) — in the tests such
    names resolve to the emulator's `--aws-address` listener — and a signed
    request's credential scope must then name that host's service and region
    (STS: 403 SignatureDoesNotMatch "Credential should be scoped to a valid
    region."; S3: 400 AuthorizationHeaderMalformed);
  * anything else is a 400: nothing at this address answers to that name.
"""
import functools
import ipaddress
import re

from . import core, sigv4

_REGION = r"(?:[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d)"
_SUFFIX = r"amazonaws\.com(?:\.cn)?"
_S3_BUCKET = re.compile(r"^(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\.s3(?:[.-](?P<region>%s))?\.%s$"
                        % (_REGION, _SUFFIX))
_S3_PLAIN = re.compile(r"^s3(?:[.-](?P<region>%s))?\.%s$" % (_REGION, _SUFFIX))
_REGIONAL = re.compile(r"^(?P<service>[a-z0-9-]+)\.(?P<region>%s)\.%s$" % (_REGION, _SUFFIX))
_GLOBAL = re.compile(r"^(?P<service>iam|sts|cloudfront|route53|organizations)\.%s$" % _SUFFIX)

# Regions the emulator's certificate names (wildcards cover one label only).
REGIONS = ("us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "eu-west-1",
           "eu-west-2", "eu-west-3", "eu-central-1", "eu-north-1", "eu-south-1",
           "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-southeast-1",
           "ap-southeast-2", "ap-south-1", "sa-east-1", "me-south-1", "af-south-1",
           "us-gov-west-1", "us-gov-east-1")
CN_REGIONS = ("cn-north-1", "cn-northwest-1")


def certificate_names():
    """DNS names (wildcards included) the server certificate carries so a
    client that verifies TLS accepts the emulator under real AWS names."""
    names = ["*.amazonaws.com", "*.s3.amazonaws.com"]
    for r in REGIONS:
        names += [f"*.{r}.amazonaws.com", f"*.s3.{r}.amazonaws.com", f"*.s3-{r}.amazonaws.com"]
    for r in CN_REGIONS:
        names += [f"*.{r}.amazonaws.com.cn", f"*.s3.{r}.amazonaws.com.cn"]
    return names


class AwsHost:
    """Read-only: one instance serves every request with the same Host (_verdict caches it)."""

    __slots__ = ("name", "service", "region", "bucket")

    def __init__(self, name, service, region, bucket=None):
        self.name = name
        self.service = service    # "s3", "sts", "sns", ...
        self.region = region      # None: global endpoint (us-east-1 for signing)
        self.bucket = bucket      # virtual-hosted S3 bucket, or None

    def __repr__(self):
        return f"AwsHost({self.name}, {self.service}, {self.region}, {self.bucket})"


def parse_aws_name(name):
    """An AwsHost for a real AWS endpoint name, else None."""
    m = _S3_BUCKET.match(name)
    if m:
        return AwsHost(name, "s3", m.group("region"), m.group("bucket"))
    m = _S3_PLAIN.match(name)
    if m:
        return AwsHost(name, "s3", m.group("region"))
    m = _REGIONAL.match(name)
    if m:
        return AwsHost(name, m.group("service"), m.group("region"))
    m = _GLOBAL.match(name)
    if m:
        return AwsHost(name, m.group("service"), None)
    return None


def split_host(value):
    """(name, port or None) of a Host header value; name lower-case, one
    trailing dot removed. Raises ValueError when malformed."""
    v = value.strip().lower()
    if v.startswith("["):
        end = v.find("]")
        if end < 0:
            raise ValueError("bad IPv6 literal")
        name, rest = v[1:end], v[end + 1:]
        if rest and not rest.startswith(":"):
            raise ValueError("bad host")
        port = rest[1:] if rest else None
    else:
        name, sep, port = v.rpartition(":")
        if not sep:
            name, port = v, None
    if port is not None and (not port.isdigit() or not 0 < int(port) < 65536):
        raise ValueError("bad port")
    if name.endswith("."):
        name = name[:-1]
    if not name:
        raise ValueError("empty host")
    return name, int(port) if port is not None else None


def _bad_host(why):
    return core.Response(400, ("Bad Request: the Host header %s\n" % why).encode(),
                         {"Content-Type": "text/plain"})


def check(req):
    """None when the Host header names the endpoint `req` reached (and sets
    req.aws_host for AWS names), else the 400 to answer."""
    value = req.headers.get("host")
    if value is None:
        return None  # HTTP/1.0 without Host: the server already refused it for 1.1
    local_addr, local_port = (req.local or (None, None))[:2]
    why, aws = _verdict(value, req.scheme, local_addr, local_port)
    if why is not None:
        return _bad_host(why)
    req.aws_host = aws
    return None


@functools.lru_cache(maxsize=1024)
def _verdict(value, scheme, local_addr, local_port):
    """(why the Host is refused or None, AwsHost or None): a pure function
    of its arguments, so clients that send the same Host on every request
    are checked once."""
    try:
        name, port = split_host(value)
    except ValueError:
        return "is malformed", None
    if local_port is None:
        return None, None  # not a socket (in-process call)
    if (port or (443 if scheme == "https" else 80)) != local_port:
        return ("names port %s; this endpoint is port %d" % (port or "(default)", local_port)), None
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        ip = None
    if ip is not None:
        if str(ip) != local_addr:
            return "names %s; this endpoint is %s" % (ip, local_addr), None
        return None, None
    if name == "localhost":
        return (None if ipaddress.ip_address(local_addr).is_loopback else "is localhost"), None
    aws = parse_aws_name(name)
    if aws is None:
        return "names %s, which is not an AWS endpoint" % name, None
    return None, aws


def check_scope(req):
    """After SigV4 verification: a SigV4Error when the credential scope does
    not name the service and region of the AWS host the request was sent to
    (None when fine or when the Host was an address)."""
    aws = req.aws_host
    if aws is None or req.service is None:
        return None
    scope_service = req.service
    if scope_service != aws.service:
        if scope_service == "s3" or aws.service == "s3":
            return sigv4.SigV4Error(400, "AuthorizationHeaderMalformed",
                                    "The authorization header is malformed; incorrect service "
                                    "\"%s\". This endpoint belongs to \"%s\"." % (scope_service, aws.service),
                                    "s3")
        return sigv4.SigV4Error(403, "SignatureDoesNotMatch",
                                "Credential should be scoped to correct service: '%s'. " % aws.service,
                                scope_service)
    want = aws.region or ("us-east-1" if aws.service != "s3" else None)
    if want is not None and req.region != want:
        if aws.service == "s3":
            return sigv4.SigV4Error(400, "AuthorizationHeaderMalformed",
                                    "The authorization header is malformed; the region '%s' is "
                                    "wrong; expecting '%s'" % (req.region, want), "s3",
                                    {"Region": want})
        return sigv4.SigV4Error(403, "SignatureDoesNotMatch",
                                "Credential should be scoped to a valid region. ", scope_service)
    return None
