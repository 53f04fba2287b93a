"""Resource types of the CloudFormation simulator beyond the customer's
template: what a partner creates once (deploy/aws/).

    AWS::SQS::Queue          Ref: queue URL; GetAtt Arn, QueueName, QueueUrl
    AWS::SQS::QueuePolicy    Ref: generated id; sets each queue's Policy
    AWS::SNS::Topic          Ref: topic ARN; GetAtt TopicArn, TopicName
    AWS::SNS::Subscription   Ref: subscription ARN (sqs protocol only)
    AWS::S3::Bucket          Ref: bucket name; GetAtt Arn, DomainName,
                             RegionalDomainName
    AWS::IAM::ManagedPolicy  Ref: policy ARN; GetAtt PolicyArn

Properties are checked as CloudFormation's resource schemas check them
(an unknown property, a missing required one or a value of the wrong type
fails the resource: "Properties validation failed for resource X with
message: ..."), and each creates the real emulator resource, so a stack
deployed here is usable by xacctd.  Updates apply the new properties in
place; a change that CloudFormation answers with a replacement (a new
QueueName, TopicName, BucketName or ManagedPolicyName, a Subscription's
TopicArn / Endpoint / Protocol) is refused by the simulator.

Fn::GetAtt attributes are checked per type when the template is parsed;
Outputs (Value required, Description, Export.Name) are resolved when the
stack completes, exported names are unique per account and region, and
Fn::ImportValue reads them (it may not depend on a resource, as in
CloudFormation).
"""

import json
import re

from . import core
from . import policy as policy_mod

QUEUE = "AWS::SQS::Queue"
QUEUE_POLICY = "AWS::SQS::QueuePolicy"
TOPIC = "AWS::SNS::Topic"
SUBSCRIPTION = "AWS::SNS::Subscription"
BUCKET = "AWS::S3::Bucket"
MANAGED_POLICY = "AWS::IAM::ManagedPolicy"

_BOOL = "boolean"
_INT = "integer"
_STR = "string"
_OBJ = "object"
_LIST = "array"
_ANY = "any"

# type -> {property: json type}, required, attributes
SCHEMAS = {
    QUEUE: ({"QueueName": _STR, "VisibilityTimeout": _INT, "MessageRetentionPeriod": _INT,
             "DelaySeconds": _INT, "MaximumMessageSize": _INT,
             "ReceiveMessageWaitTimeSeconds": _INT, "RedrivePolicy": _OBJ,
             "RedriveAllowPolicy": _OBJ, "SqsManagedSseEnabled": _BOOL,
             "KmsMasterKeyId": _STR, "KmsDataKeyReusePeriodSeconds": _INT,
             "FifoQueue": _BOOL, "ContentBasedDeduplication": _BOOL,
             "DeduplicationScope": _STR, "FifoThroughputLimit": _STR, "Tags": _LIST},
            (), ("Arn", "QueueName", "QueueUrl")),
    QUEUE_POLICY: ({"PolicyDocument": _OBJ, "Queues": _LIST},
                   ("PolicyDocument", "Queues"), ("Id",)),
    TOPIC: ({"TopicName": _STR, "DisplayName": _STR, "Subscription": _LIST,
             "KmsMasterKeyId": _STR, "Tags": _LIST, "FifoTopic": _BOOL,
             "ContentBasedDeduplication": _BOOL, "DataProtectionPolicy": _OBJ,
             "SignatureVersion": _STR, "TracingConfig": _STR, "ArchivePolicy": _OBJ,
             "DeliveryStatusLogging": _LIST, "FifoThroughputScope": _STR},
            (), ("TopicArn", "TopicName")),
    SUBSCRIPTION: ({"Protocol": _STR, "TopicArn": _STR, "Endpoint": _STR,
                    "RawMessageDelivery": _BOOL, "FilterPolicy": _OBJ,
                    "FilterPolicyScope": _STR, "RedrivePolicy": _OBJ,
                    "DeliveryPolicy": _OBJ, "Region": _STR, "SubscriptionRoleArn": _STR,
                    "ReplayPolicy": _OBJ},
                   ("Protocol", "TopicArn"), ("Arn",)),
    BUCKET: ({"BucketName": _STR, "BucketEncryption": _OBJ,
              "PublicAccessBlockConfiguration": _OBJ, "LifecycleConfiguration": _OBJ,
              "VersioningConfiguration": _OBJ, "OwnershipControls": _OBJ, "Tags": _LIST,
              "LoggingConfiguration": _OBJ, "AccessControl": _STR,
              "ObjectLockEnabled": _BOOL, "NotificationConfiguration": _OBJ},
             (), ("Arn", "DomainName", "RegionalDomainName", "DualStackDomainName")),
    MANAGED_POLICY: ({"PolicyDocument": _OBJ, "ManagedPolicyName": _STR,
                      "Description": _STR, "Path": _STR, "Groups": _LIST, "Roles": _LIST,
                      "Users": _LIST},
                     ("PolicyDocument",), ("PolicyArn", "AttachmentCount", "CreateDate",
                                           "DefaultVersionId", "IsAttachable",
                                           "PolicyId", "UpdateDate")),
}
TYPES = tuple(SCHEMAS)

# A change of these properties makes CloudFormation replace the resource.
_REPLACING = {QUEUE: ("QueueName", "FifoQueue"), TOPIC: ("TopicName", "FifoTopic"),
              SUBSCRIPTION: ("TopicArn", "Endpoint", "Protocol", "Region"),
              BUCKET: ("BucketName",), MANAGED_POLICY: ("ManagedPolicyName", "Path"),
              QUEUE_POLICY: ()}

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_SQS_ARN_RE = re.compile(r"^arn:aws[a-z-]*:sqs:([a-z0-9-]+):(\d{12}):([A-Za-z0-9_-]{1,80})$")
_SNS_ARN_RE = re.compile(r"^arn:aws[a-z-]*:sns:([a-z0-9-]+):(\d{12}):([A-Za-z0-9_-]{1,256})$")


class Failed(Exception):
    """The resource failed; str() is the status reason."""


# ------------------------------------------------------------- template

def check_template(template, resources_of_type):
    """Checks done when the template is parsed: Fn::GetAtt names an
    attribute of the type, Outputs are well formed.  Raises ValueError
    with CloudFormation's message."""
    res = template["Resources"]

    def walk(node, where):
        if isinstance(node, dict):
            if len(node) == 1:
                (k, v), = node.items()
                if k == "Fn::GetAtt":
                    lid, attr = (v.split(".", 1) + [""])[:2] if isinstance(v, str) else \
                        (v + [None, None])[:2] if isinstance(v, list) else (None, None)
                    t = res.get(lid, {}).get("Type") if isinstance(lid, str) else None
                    if t in SCHEMAS and isinstance(attr, str) and attr not in SCHEMAS[t][2]:
                        raise ValueError("Template error: resource %s does not support "
                                         "attribute type %s in Fn::GetAtt" % (lid, attr))
                if k == "Fn::ImportValue":
                    refs = set()
                    resources_of_type(v, refs)
                    if any(r in res for r in refs):
                        raise ValueError("Template error: the attribute in Fn::ImportValue "
                                         "must not depend on any resources, imported values, "
                                         "or Fn::GetAZs")
            for x in node.values():
                walk(x, where)
        elif isinstance(node, list):
            for x in node:
                walk(x, where)

    walk(res, "Resources")
    outs = template.get("Outputs")
    if outs is None:
        return
    if not isinstance(outs, dict):
        raise ValueError("Template format error: Outputs must be an object")
    if len(outs) > 200:
        raise ValueError("Template format error: Number of outputs exceeds the limit 200")
    for name, o in outs.items():
        if not re.match(r"^[A-Za-z0-9]{1,255}$", name):
            raise ValueError("Template format error: Output %s is non alphanumeric." % name)
        if not isinstance(o, dict) or "Value" not in o:
            raise ValueError("Template format error: Every Outputs member must contain "
                             "a Value object")
        for k in o:
            if k not in ("Value", "Description", "Export", "Condition"):
                raise ValueError("Template format error: Invalid outputs property : [%s]" % k)
        if "Condition" in o:
            raise ValueError("fakeaws: Conditions are not simulated")
        if "Export" in o and (not isinstance(o["Export"], dict)
                              or set(o["Export"]) != {"Name"}):
            raise ValueError("Template format error: Output %s is malformed. The Export "
                             "element requires a single Name member" % name)
        refs = set()
        resources_of_type(o, refs)
        bad = [r for r in refs if r not in res and r not in (template.get("Parameters") or {})
               and not r.startswith("AWS::")]
        if bad:
            raise ValueError("Template format error: Unresolved resource dependencies "
                             "[%s] in the Outputs block of the template" % ", ".join(sorted(bad)))
        walk(o, "Outputs")


# ------------------------------------------------------------ properties

def _jtype(v):
    if isinstance(v, bool):
        return _BOOL
    if isinstance(v, int):
        return _INT
    if isinstance(v, str):
        return _STR
    if isinstance(v, dict):
        return _OBJ
    if isinstance(v, list):
        return _LIST
    return "null"


def _coerce(v, want):
    """CloudFormation accepts "30" for an integer and "true" for a boolean
    (template values are strings once parameters are substituted)."""
    if want == _INT and isinstance(v, str) and re.fullmatch(r"-?[0-9]+", v):
        return int(v)
    if want == _BOOL and isinstance(v, str) and v.lower() in ("true", "false"):
        return v.lower() == "true"
    return v


def validate(lid, rtype, props):
    """Returns the properties with scalars coerced; raises Failed."""
    allowed, required, _ = SCHEMAS[rtype]

    def fail(msg):
        raise Failed("Properties validation failed for resource %s with message: [%s]"
                     % (lid, msg))
    out = {}
    for k, v in props.items():
        if k not in allowed:
            fail("#: extraneous key [%s] is not permitted" % k)
        v = _coerce(v, allowed[k])
        if allowed[k] != _ANY and _jtype(v) != allowed[k]:
            fail("#/%s: expected type: %s, found: %s"
                 % (k, allowed[k].capitalize(), _jtype(v).capitalize()))
        out[k] = v
    missing = [k for k in required if k not in out]
    if missing:
        fail(", ".join("#: required key [%s] not found" % k for k in missing))
    _nested(rtype, out, fail)
    return out


def _keys(obj, allowed, path, fail, required=()):
    if not isinstance(obj, dict):
        fail("#/%s: expected type: JSONObject" % path)
    for k in obj:
        if k not in allowed:
            fail("#/%s: extraneous key [%s] is not permitted" % (path, k))
    for k in required:
        if k not in obj:
            fail("#/%s: required key [%s] not found" % (path, k))


def _nested(rtype, p, fail):
    if rtype == BUCKET:
        if "BucketName" in p and (not _BUCKET_RE.match(p["BucketName"])
                                  or ".." in p["BucketName"]):
            fail("#/BucketName: failed validation constraint for keyword [pattern]")
        if "PublicAccessBlockConfiguration" in p:
            pab = p["PublicAccessBlockConfiguration"]
            _keys(pab, ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls",
                        "RestrictPublicBuckets"), "PublicAccessBlockConfiguration", fail)
            for k, v in pab.items():
                if _coerce(v, _BOOL) not in (True, False):
                    fail("#/PublicAccessBlockConfiguration/%s: expected type: Boolean" % k)
        if "BucketEncryption" in p:
            enc = p["BucketEncryption"]
            _keys(enc, ("ServerSideEncryptionConfiguration",), "BucketEncryption", fail,
                  ("ServerSideEncryptionConfiguration",))
            rules = enc["ServerSideEncryptionConfiguration"]
            if not isinstance(rules, list) or not rules:
                fail("#/BucketEncryption/ServerSideEncryptionConfiguration: expected "
                     "minimum item count: 1")
            for r in rules:
                _keys(r, ("ServerSideEncryptionByDefault", "BucketKeyEnabled"),
                      "BucketEncryption/ServerSideEncryptionConfiguration", fail)
                d = r.get("ServerSideEncryptionByDefault")
                if d is not None:
                    _keys(d, ("SSEAlgorithm", "KMSMasterKeyID"),
                          "ServerSideEncryptionByDefault", fail, ("SSEAlgorithm",))
                    if d["SSEAlgorithm"] not in ("AES256", "aws:kms", "aws:kms:dsse"):
                        fail("#/BucketEncryption/ServerSideEncryptionConfiguration/0/"
                             "ServerSideEncryptionByDefault/SSEAlgorithm: %s is not a "
                             "valid enum value" % d["SSEAlgorithm"])
        if "LifecycleConfiguration" in p:
            lc = p["LifecycleConfiguration"]
            _keys(lc, ("Rules", "TransitionDefaultMinimumObjectSize"),
                  "LifecycleConfiguration", fail, ("Rules",))
            if not isinstance(lc["Rules"], list):
                fail("#/LifecycleConfiguration/Rules: expected type: JSONArray")
            for r in lc["Rules"]:
                _keys(r, ("Id", "Status", "Prefix", "ExpirationInDays", "ExpirationDate",
                          "AbortIncompleteMultipartUpload", "NoncurrentVersionExpiration",
                          "NoncurrentVersionExpirationInDays", "Transitions",
                          "NoncurrentVersionTransitions", "TagFilters",
                          "ExpiredObjectDeleteMarker", "ObjectSizeGreaterThan",
                          "ObjectSizeLessThan"), "LifecycleConfiguration/Rules", fail,
                      ("Status",))
                if r["Status"] not in ("Enabled", "Disabled"):
                    fail("#/LifecycleConfiguration/Rules/Status: %s is not a valid enum "
                         "value" % r["Status"])
                if "ExpirationInDays" in r and (_coerce(r["ExpirationInDays"], _INT)
                                                in (True, False)
                                                or not isinstance(_coerce(
                                                    r["ExpirationInDays"], _INT), int)
                                                or _coerce(r["ExpirationInDays"], _INT) < 1):
                    fail("#/LifecycleConfiguration/Rules/ExpirationInDays: expected "
                         "minimum value: 1")
        if "VersioningConfiguration" in p:
            _keys(p["VersioningConfiguration"], ("Status",), "VersioningConfiguration", fail,
                  ("Status",))
        if "OwnershipControls" in p:
            _keys(p["OwnershipControls"], ("Rules",), "OwnershipControls", fail, ("Rules",))
    elif rtype == SUBSCRIPTION:
        if p["Protocol"] not in ("http", "https", "email", "email-json", "sms", "sqs",
                                 "application", "lambda", "firehose"):
            fail("#/Protocol: %s is not a valid enum value" % p["Protocol"])
    elif rtype == QUEUE:
        if p.get("FifoQueue") or p.get("QueueName", "").endswith(".fifo"):
            fail("#/FifoQueue: fakeaws does not simulate FIFO queues")
    elif rtype == TOPIC:
        if p.get("FifoTopic"):
            fail("#/FifoTopic: fakeaws does not simulate FIFO topics")
        for s in p.get("Subscription", []):
            _keys(s, ("Endpoint", "Protocol"), "Subscription", fail, ("Endpoint", "Protocol"))


# ------------------------------------------------------- create / delete

def _sqs_call(fn, *a, **kw):
    from .sqs import SqsError
    try:
        return fn(*a, **kw)
    except SqsError as e:
        raise Failed("Resource handler returned message: \"%s\" (Service: Sqs, Status Code: "
                     "400, Request ID: %s)" % (e.message, core.new_request_id()))


def _sns_call(fn, *a, **kw):
    from .sns import SnsError
    try:
        return fn(*a, **kw)
    except SnsError as e:
        raise Failed("Resource handler returned message: \"%s\" (Service: Sns, Status Code: "
                     "%d, Request ID: %s)" % (e.message, e.status, core.new_request_id()))


def _queue_attrs(p):
    attrs = {}
    for k in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds",
              "MaximumMessageSize", "ReceiveMessageWaitTimeSeconds"):
        if k in p:
            attrs[k] = str(p[k])
    if "SqsManagedSseEnabled" in p:
        attrs["SqsManagedSseEnabled"] = "true" if p["SqsManagedSseEnabled"] else "false"
    if "RedrivePolicy" in p:
        attrs["RedrivePolicy"] = json.dumps(p["RedrivePolicy"])
    return attrs


def _queue_by_url(world, stack, url):
    sqs = world.services["sqs"]
    for q in sqs.queues.values():
        if q.url == url or (q.account == stack.account_id and
                            url.rstrip("/").endswith("/%s/%s" % (q.account, q.name))):
            return q
    raise Failed("Resource handler returned message: \"The specified queue does not "
                 "exist.\" (Service: Sqs, Status Code: 400)")


def _policy_doc(lid, doc, kind):
    try:
        return policy_mod.validate(doc, kind)
    except policy_mod.MalformedPolicy as e:
        raise Failed("Resource handler returned message: \"%s\" (Service: %s)" % (e, lid))


def _validate_identity_policy(doc):
    """An IAM identity policy: no Principal; Action and Resource required."""
    if not isinstance(doc, dict) or "Statement" not in doc:
        raise Failed("Resource handler returned message: \"Syntax errors in policy.\" "
                     "(Service: Iam, Status Code: 400)")
    if doc.get("Version") not in ("2012-10-17", "2008-10-17"):
        raise Failed("Resource handler returned message: \"The policy must contain a "
                     "valid version string\" (Service: Iam, Status Code: 400)")
    sts = doc["Statement"] if isinstance(doc["Statement"], list) else [doc["Statement"]]
    for st in sts:
        if not isinstance(st, dict) or "Principal" in st or "NotPrincipal" in st:
            raise Failed("Resource handler returned message: \"Policy document should "
                         "not specify a principal.\" (Service: Iam, Status Code: 400)")
        # Borrow the resource-policy checks with a placeholder principal.
        probe = dict(st, Principal="*")
        try:
            policy_mod.validate({"Version": doc["Version"], "Statement": [probe]}, "resource")
        except policy_mod.MalformedPolicy as e:
            raise Failed("Resource handler returned message: \"%s\" (Service: Iam, "
                         "Status Code: 400)" % e)
    if len(json.dumps(doc, separators=(",", ":"))) > 6144:
        raise Failed("Resource handler returned message: \"Cannot exceed quota for "
                     "PolicySize: 6144\" (Service: Iam, Status Code: 409)")


def create(cfn, stack, lid, rtype, props, generated_name):
    """Creates the resource; returns (physical id, attributes)."""
    world = cfn.world
    p = validate(lid, rtype, props)
    acct, region = stack.account_id, stack.region
    if rtype == QUEUE:
        name = p.get("QueueName") or generated_name(stack.name, lid, 80)
        sqs = world.services["sqs"]
        if "arn:aws:sqs:%s:%s:%s" % (region, acct, name) in sqs.queues:
            raise Failed("Resource handler returned message: \"%s already exists\"" % name)
        q = _sqs_call(sqs.create_queue, region, acct, name, _queue_attrs(p))
        return q.url, {"Arn": q.arn, "QueueName": q.name, "QueueUrl": q.url}
    if rtype == QUEUE_POLICY:
        doc = _policy_doc(lid, p["PolicyDocument"], "resource")
        text = json.dumps(doc, separators=(",", ":"))
        for url in p["Queues"]:
            q = _queue_by_url(world, stack, url)
            from .sqs import _validate_queue_policy
            q.attrs["Policy"] = _sqs_call(_validate_queue_policy, text)
        return generated_name(stack.name, lid, 255), {}
    if rtype == TOPIC:
        name = p.get("TopicName") or generated_name(stack.name, lid, 256)
        sns = world.services["sns"]
        if "arn:aws:sns:%s:%s:%s" % (region, acct, name) in sns.topics:
            raise Failed("Resource handler returned message: \"%s already exists\"" % name)
        attrs = {}
        if "DisplayName" in p:
            attrs["DisplayName"] = p["DisplayName"]
        if "SignatureVersion" in p:
            attrs["SignatureVersion"] = p["SignatureVersion"]
        t = _sns_call(sns.create_topic, region, acct, name, attrs)
        for s in p.get("Subscription", []):
            _subscribe(world, acct, t.arn, s["Protocol"], s["Endpoint"], False)
        return t.arn, {"TopicArn": t.arn, "TopicName": t.name}
    if rtype == SUBSCRIPTION:
        m = _SNS_ARN_RE.match(p["TopicArn"])
        if not m:
            raise Failed("Resource handler returned message: \"Invalid parameter: "
                         "TopicArn\" (Service: Sns, Status Code: 400)")
        if m.group(1) != p.get("Region", region):
            # SNS is regional: a topic of another region needs Region.
            raise Failed("Resource handler returned message: \"Invalid parameter: "
                         "TopicArn\" (Service: Sns, Status Code: 400)")
        s = _subscribe(world, acct, p["TopicArn"], p["Protocol"], p.get("Endpoint"),
                       p.get("RawMessageDelivery", False))
        return s.arn, {"Arn": s.arn}
    if rtype == BUCKET:
        name = p.get("BucketName") or generated_name(stack.name, lid, 63).lower()
        s3 = world.services["s3"]
        if name in s3.buckets:
            raise Failed("%s already exists" % name)
        b = s3.create_bucket(name, acct, region)
        b["configuration"] = {k: v for k, v in p.items() if k != "BucketName"}
        suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
        return name, {"Arn": "arn:aws:s3:::" + name, "DomainName": "%s.s3.%s" % (name, suffix),
                      "RegionalDomainName": "%s.s3.%s.%s" % (name, region, suffix),
                      "DualStackDomainName": "%s.s3.dualstack.%s.%s" % (name, region, suffix)}
    if rtype == MANAGED_POLICY:
        _validate_identity_policy(p["PolicyDocument"])
        name = p.get("ManagedPolicyName") or generated_name(stack.name, lid, 128)
        path = p.get("Path", "/")
        arn = "arn:aws:iam::%s:policy%s%s" % (acct, path, name)
        store = cfn.managed_policies
        if arn in store:
            raise Failed("Resource handler returned message: \"A policy called %s "
                         "already exists. Duplicate names are not allowed.\" (Service: "
                         "Iam, Status Code: 409)" % name)
        store[arn] = {"document": p["PolicyDocument"], "account": acct}
        return arn, {"PolicyArn": arn, "PolicyId": "ANPA" + core.new_request_id()[:17].upper(),
                     "DefaultVersionId": "v1", "IsAttachable": "true", "AttachmentCount": "0"}
    raise Failed("fakeaws: %s is not simulated" % rtype)


def _subscribe(world, acct, topic_arn, protocol, endpoint, raw):
    if protocol != "sqs":
        raise Failed("fakeaws simulates sqs subscriptions only (%s)" % protocol)
    if not endpoint or not _SQS_ARN_RE.match(endpoint):
        raise Failed("Resource handler returned message: \"Invalid parameter: SQS endpoint "
                     "ARN\" (Service: Sns, Status Code: 400)")
    sns = world.services["sns"]
    s = _sns_call(sns.subscribe_as, acct, topic_arn, endpoint, raw)
    return s


def update(cfn, stack, lid, rtype, old, props, generated_name):
    """Applies changed properties in place; returns (physical id, attrs)."""
    p = validate(lid, rtype, props)
    for k in _REPLACING[rtype]:
        if p.get(k) != old["properties"].get(k):
            raise Failed("fakeaws: a change of %s replaces %s; replacements of %s are not "
                         "simulated" % (k, lid, rtype))
    world = cfn.world
    pid = old["physical_id"]
    if rtype == QUEUE:
        q = _queue_by_url(world, stack, pid)
        attrs = _queue_attrs(p)
        for k in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds",
                  "MaximumMessageSize", "ReceiveMessageWaitTimeSeconds", "RedrivePolicy"):
            attrs.setdefault(k, "")   # removed from the template: back to the default
        clean = _sqs_call(world.services["sqs"]._validate_attrs, attrs, q.region, q.account)
        for k, v in clean.items():
            if v == "":
                q.attrs.pop(k, None)
            else:
                q.attrs[k] = v
    elif rtype == QUEUE_POLICY:
        for url in old["properties"].get("Queues", []):
            if url not in p["Queues"]:
                _queue_by_url(world, stack, url).attrs.pop("Policy", None)
        create(cfn, stack, lid, rtype, props, lambda *a: pid)
    elif rtype == TOPIC:
        t = world.services["sns"].topics.get(pid)
        if t is None:
            raise Failed("Topic does not exist")
        t.attrs["DisplayName"] = p.get("DisplayName", "")
    elif rtype == BUCKET:
        world.services["s3"].buckets[pid]["configuration"] = {
            k: v for k, v in p.items() if k != "BucketName"}
    elif rtype == MANAGED_POLICY:
        _validate_identity_policy(p["PolicyDocument"])
        cfn.managed_policies[pid]["document"] = p["PolicyDocument"]
    elif rtype == SUBSCRIPTION:
        s = world.services["sns"].subscriptions.get(pid)
        if s is not None:
            s.raw = bool(p.get("RawMessageDelivery", False))
    return pid, old["attributes"]


def delete(cfn, stack, r):
    """Deletes the resource; a resource already gone counts as deleted."""
    world = cfn.world
    rtype, pid = r["type"], r["physical_id"]
    if rtype == QUEUE:
        sqs = world.services["sqs"]
        for arn, q in list(sqs.queues.items()):
            if q.url == pid:
                del sqs.queues[arn]
    elif rtype == QUEUE_POLICY:
        for url in r["properties"].get("Queues", []):
            try:
                _queue_by_url(world, stack, url).attrs.pop("Policy", None)
            except Failed:
                pass
    elif rtype == TOPIC:
        sns = world.services["sns"]
        t = sns.topics.pop(pid, None)
        if t is not None:
            for s in t.subscriptions:
                sns.subscriptions.pop(s.arn, None)
    elif rtype == SUBSCRIPTION:
        sns = world.services["sns"]
        s = sns.subscriptions.pop(pid, None)
        if s is not None and s in s.topic.subscriptions:
            s.topic.subscriptions.remove(s)
    elif rtype == BUCKET:
        b = world.services["s3"].buckets.get(pid)
        if b is not None:
            if b["objects"]:
                raise Failed("Resource handler returned message: \"The bucket you tried to "
                             "delete is not empty (Service: S3, Status Code: 409)\"")
            del world.services["s3"].buckets[pid]
    elif rtype == MANAGED_POLICY:
        cfn.managed_policies.pop(pid, None)


# ---------------------------------------------------------------- outputs

def resolve_outputs(cfn, stack):
    """{name: {"value", "description"?, "export_name"?}}; raises Failed when
    an export name is taken by another stack."""
    outs = {}
    for name, o in (stack.template.get("Outputs") or {}).items():
        try:
            value = cfn._resolve(stack, o["Value"], stack.resources)
        except Exception as e:   # ResourceFailed from the resolver
            raise Failed(str(e))
        if isinstance(value, list):
            value = ",".join(str(x) for x in value)
        entry = {"value": str(value)}
        if "Description" in o:
            entry["description"] = o["Description"]
        if "Export" in o:
            try:
                ename = cfn._resolve(stack, o["Export"]["Name"], stack.resources)
            except Exception as e:
                raise Failed(str(e))
            for other in cfn.stacks:
                if other is stack or other.account_id != stack.account_id or \
                        other.region != stack.region or other.status.startswith("DELETE"):
                    continue
                if any(x.get("export_name") == ename for x in (other.outputs or {}).values()):
                    raise Failed("Export with name %s is already exported by stack %s"
                                 % (ename, other.name))
            entry["export_name"] = ename
        outs[name] = entry
    return outs


def import_value(cfn, stack, name):
    for other in cfn.stacks:
        if other.account_id != stack.account_id or other.region != stack.region \
                or other.status.startswith("DELETE") or other is stack:
            continue
        for o in (other.outputs or {}).values():
            if o.get("export_name") == name:
                return o["value"]
    raise Failed("No export named %s found." % name)
