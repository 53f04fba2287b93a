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

A Host that is an address names no service or region, yet AWS would have
been reached at one service's endpoint in one region, and refuses a scope
that names another. So there the request itself decides (check_scope):
the service is the one its protocol speaks to (the X-Amz-Target prefix of
a JSON call, the Version — else the Action — of a query call, S3 for REST),
and the region is the one of the resource it names, as the service knows it
(`scope_regions(req)`: an SQS queue URL's queue, an SNS topic ARN's region,
an S3 bucket's region); a request that names none may be signed for any
region AWS has (IAM: us-east-1, its global endpoint's).
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

# AWS's regions (partitions aws, aws-us-gov and aws-cn), which the emulator's
# certificate names (wildcards cover one label only) and a credential scope
# may name when no Host decides the region.
REGIONS = ("us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "ca-west-1",
           "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-central-2", "eu-north-1",
           "eu-south-1", "eu-south-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
           "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4",
           "ap-southeast-5", "ap-southeast-7", "ap-south-1", "ap-south-2", "ap-east-1",
           "ap-east-2", "sa-east-1", "mx-central-1", "me-south-1", "me-central-1",
           "il-central-1", "af-south-1", "us-gov-west-1", "us-gov-east-1")
CN_REGIONS = ("cn-north-1", "cn-northwest-1")
_ALL_REGIONS = frozenset(REGIONS + CN_REGIONS)

# The query protocol's API versions, and the operations of the query services
# the emulator has (for a call without a Version): which service's endpoint
# a call was meant for.
_QUERY_VERSIONS = {"2011-06-15": "sts", "2010-03-31": "sns", "2010-05-08": "iam",
                   "2010-05-15": "cloudformation", "2012-11-05": "sqs"}
_QUERY_ACTIONS = {
    "sts": ("AssumeRole", "AssumeRoleWithWebIdentity", "AssumeRoleWithSAML", "GetCallerIdentity",
            "GetSessionToken", "GetFederationToken", "GetAccessKeyInfo",
            "DecodeAuthorizationMessage"),
    "sns": ("CreateTopic", "DeleteTopic", "ListTopics", "GetTopicAttributes", "SetTopicAttributes",
            "AddPermission", "RemovePermission", "Subscribe", "ConfirmSubscription", "Unsubscribe",
            "ListSubscriptions", "ListSubscriptionsByTopic", "GetSubscriptionAttributes",
            "SetSubscriptionAttributes", "Publish", "PublishBatch"),
    "iam": ("CreateRole", "GetRole", "UpdateAssumeRolePolicy", "DeleteRole", "PutRolePolicy",
            "GetRolePolicy", "DeleteRolePolicy", "ListRolePolicies", "AttachRolePolicy",
            "DetachRolePolicy", "ListAttachedRolePolicies", "CreatePolicy", "DeletePolicy",
            "GetPolicy", "ListRoles", "UpdateRole", "TagRole"),
}
_ACTION_SERVICE = {a: svc for svc, acts in _QUERY_ACTIONS.items() for a in acts}
# JSON protocol: the X-Amz-Target prefix.
_JSON_TARGETS = {"AmazonSQS": "sqs"}


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


def is_region(name):
    """Whether `name` is one of AWS's regions."""
    return name in _ALL_REGIONS


def protocol_service(req):
    """The service whose endpoint a request is shaped for — the JSON
    protocol's X-Amz-Target prefix, the query protocol's Version (else its
    Action), S3 for the REST calls (neither a target nor an Action, nor a
    bare POST /) — or None when it cannot tell."""
    target = req.headers.get("x-amz-target")
    if target is not None:
        return _JSON_TARGETS.get(target.split(".", 1)[0])
    p = req.params()
    action = p.get("Action")
    if action is not None:
        return _QUERY_VERSIONS.get(p.get("Version")) or _ACTION_SERVICE.get(action)
    if req.method == "POST" and req.path == "/":
        return None
    return "s3"


def _scope_regions(req, world, service):
    """The regions a scope for `service` may name when no Host decides:
    IAM's us-east-1; the region of the resource the request names, as the
    service answers scope_regions(req); None: any of AWS's regions."""
    if service == "iam":
        return ("us-east-1",)
    svc = world.services.get(service)
    if svc is None and service == "cloudformation":
        svc = world.services.get("cfn")
    f = getattr(svc, "scope_regions", None)
    return f(req) if f is not None else None


def check_scope(req, world=None):
    """After SigV4 verification: a SigV4Error when the credential scope does
    not name the service and region of the endpoint the request was sent to
    (None when fine). For an AWS host name, its service and region; for an
    address (with `world`), the service the request's protocol addresses
    and the region of the resource it names."""
    if req.service is None:
        return None
    aws = req.aws_host
    if aws is not None:
        if aws.service == "s3" and aws.region is None:
            # S3's global names serve every region: the bucket decides (s3.py).
            return _scope_error(req, "s3", None, any_region=True)
        return _scope_error(req, aws.service, (aws.region or "us-east-1",))
    if world is None or req.local is None:
        return None  # an in-process call
    service = protocol_service(req)
    if service is None:
        return None  # the service it was routed to refuses it
    return _scope_error(req, service, _scope_regions(req, world, service),
                        default=getattr(world, "region", None))


def _scope_error(req, service, regions, any_region=False, default=None):
    """A SigV4Error unless req's scope names `service` and one of `regions`
    (None: one of AWS's regions, or `default`; any_region: any at all), as
    that service's endpoint refuses it."""
    scope_service = req.service
    if scope_service != service:
        if service == "s3":
            return sigv4.SigV4Error(400, "AuthorizationHeaderMalformed",
                                    "The authorization header is malformed; incorrect service "
                                    "\"%s\". This endpoint belongs to \"%s\"." % (scope_service, service),
                                    "s3")
        return sigv4.SigV4Error(403, "SignatureDoesNotMatch",
                                "Credential should be scoped to correct service: '%s'. " % service,
                                service)
    region = req.region
    if any_region:
        return None
    if regions is None:
        if is_region(region) or region == default:
            return None
        want = "us-east-1"
    elif region in regions:
        return None
    else:
        want = regions[0]
    if service == "s3":
        if not req.headers.get("authorization", "").startswith("AWS4-"):  # presigned
            return sigv4.SigV4Error(400, "AuthorizationQueryParametersError",
                                    "Error parsing the X-Amz-Credential parameter; the region '%s' "
                                    "is wrong; expecting '%s'" % (region, want), "s3",
                                    {"Region": want})
        return sigv4.SigV4Error(400, "AuthorizationHeaderMalformed",
                                "The authorization header is malformed; the region '%s' is "
                                "wrong; expecting '%s'" % (region, want), "s3",
                                {"Region": want})
    return sigv4.SigV4Error(403, "SignatureDoesNotMatch",
                            "Credential should be scoped to a valid region. ", service)
