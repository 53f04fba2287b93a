"""The CloudFormation simulator, driven through the control API.

    POST   /_fake/cfn/stacks            {"account_id", "region"?, "stack_name",
                                          "template": object or JSON text,
                                          "parameters"?: {name: value}}
                                         -> 201 {"stack_id"}
                                         "template_url" instead of "template":
                                         fetched as that account would
                                         (cfn_template_url.py); an S3 refusal
                                         is 400 ValidationError with s3_error
    GET    /_fake/cfn/stacks             every stack (summary)
    GET    /_fake/cfn/stacks/<name|id>   the stack: status, status_reason,
                                         resources, physical_ids, events,
                                         requests (sent), answers (received);
                                         ?wait=S waits up to S seconds for a
                                         status that is not *_IN_PROGRESS
    POST   /_fake/cfn/stacks/<name|id>/update  {"template" | "template_url", "parameters"?}
    DELETE /_fake/cfn/stacks/<name|id>
    GET/POST /_fake/cfn/config           {"response_timeout": seconds}
                                         (default answer timeout, 3600 like
                                         CloudFormation; tests use ~60)

Templates are JSON (YAML is not read).  Resource types: AWS::IAM::Role
(RoleName optional -> "<stack>-<logical id>-<13 random>", Path,
AssumeRolePolicyDocument, Policies, ManagedPolicyArns, MaxSessionDuration,
Description) and Custom::<name> / AWS::CloudFormation::CustomResource whose
ServiceToken is an SNS topic ARN in the stack's region.  Intrinsics: Ref
(pseudo parameters, parameters, logical ids), Fn::GetAtt (Role: Arn, RoleId;
custom: the keys of the answer's Data), Fn::Sub (both forms), Fn::Join,
Fn::Select, Fn::Split, Fn::ImportValue; DependsOn and implicit dependencies
order the work (one resource at a time, in dependency order).  The partner's
own resources (AWS::SQS::Queue, AWS::SQS::QueuePolicy, AWS::SNS::Topic,
AWS::SNS::Subscription, AWS::S3::Bucket, AWS::IAM::ManagedPolicy) and
Outputs / exports live in cfn_resources.py; GET stacks/<id> shows
"outputs".

Custom resources: the request is published with
sns.publish_as(stack account, ServiceToken, json, "AWS CloudFormation custom
resource request") and carries the fields CloudFormation sends
(RequestType, ServiceToken, ResponseURL, StackId, RequestId,
LogicalResourceId, ResourceType, [PhysicalResourceId], ResourceProperties
with ServiceToken and every scalar as a string, [OldResourceProperties]).
The answer is awaited at the presigned ResponseURL (s3.wait_response) for
ServiceTimeout seconds (1..3600) if the property is set, else the default.

Create: SUCCESS -> CREATE_COMPLETE.  FAILED, an invalid answer, a timeout or
a denied publish -> CREATE_FAILED and the stack rolls back
(ROLLBACK_IN_PROGRESS): every resource created or attempted is deleted in
reverse order; the failed custom resource gets a Delete carrying the
PhysicalResourceId its FAILED answer returned (when there was no usable
answer, a generated "<stack>-<logical id>-<random>" id, as CloudFormation
generates one); a FAILED Delete there -> ROLLBACK_FAILED, else
ROLLBACK_COMPLETE.

Update (from CREATE_COMPLETE, UPDATE_COMPLETE, UPDATE_ROLLBACK_COMPLETE):
a changed RoleName or Path replaces the role (new role first, old one deleted
at cleanup); a changed trust policy -> UpdateAssumeRolePolicy; inline and
managed policies are synchronised.  Custom resources whose resolved
properties changed get an Update with OldResourceProperties (a changed
ServiceToken fails, as in CloudFormation); a new PhysicalResourceId in the
answer is a replacement: the old id gets a Delete during
UPDATE_COMPLETE_CLEANUP_IN_PROGRESS.  Added resources are created, removed
ones deleted at cleanup.  No change at all is refused ("No updates are to be
performed.").  A failure -> UPDATE_ROLLBACK_IN_PROGRESS: the resources
touched so far (including the failed one) are put back in reverse order
(custom resources get an Update back to the old properties, roles get their
old trust policy, new resources are deleted), then UPDATE_ROLLBACK_COMPLETE
(UPDATE_ROLLBACK_FAILED if a rollback answer is FAILED).

Delete: a Delete request per custom resource (reverse order), roles deleted
with their policies; a FAILED or missing answer -> DELETE_FAILED (deleting
again retries what is left), else DELETE_COMPLETE.
"""

import asyncio
import copy
import json
import re
import secrets
import string
import time
import urllib.parse
import uuid

from . import cfn_resources as extra
from . import cfn_template_url
from . import core

SUBJECT = "AWS CloudFormation custom resource request"
ROLE = "AWS::IAM::Role"
CUSTOM = "AWS::CloudFormation::CustomResource"
_STACK_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
_LOGICAL_RE = re.compile(r"^[A-Za-z0-9]{1,255}$")
_CUSTOM_TYPE_RE = re.compile(r"^Custom::[A-Za-z0-9_@-]{1,52}$")
_SNS_ARN_RE = re.compile(r"^arn:aws[a-z-]*:sns:([a-z0-9-]+):(\d{12}):([A-Za-z0-9_-]{1,256})$")
_ROLE_PROPS = {"RoleName", "Path", "AssumeRolePolicyDocument", "Policies",
               "ManagedPolicyArns", "MaxSessionDuration", "Description",
               "Tags", "PermissionsBoundary"}
PSEUDO = ("AWS::AccountId", "AWS::Region", "AWS::StackId", "AWS::StackName",
          "AWS::Partition", "AWS::URLSuffix", "AWS::NoValue",
          "AWS::NotificationARNs")


class TemplateError(Exception):
    """The template cannot be used (CreateStack's ValidationError)."""


class ResourceFailed(Exception):
    """A resource operation failed; message is the status reason."""


_NOVALUE = object()


def _random_suffix(n=13):
    alphabet = string.ascii_uppercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(n))


def generated_name(stack_name, logical_id, limit=64):
    """CloudFormation's generated physical names: stack-logical-RANDOM,
    with the stack and logical parts shortened to fit `limit`."""
    suffix = _random_suffix()
    room = limit - len(suffix) - 2
    s, l = stack_name, logical_id
    while len(s) + len(l) > room:
        if len(s) >= len(l):
            s = s[:-1]
        else:
            l = l[:-1]
    return "%s-%s-%s" % (s, l, suffix)


def stringify(v):
    """Custom resource properties reach the provider with every scalar as a
    string, as CloudFormation sends them."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, dict):
        return {k: stringify(x) for k, x in v.items()}
    if isinstance(v, list):
        return [stringify(x) for x in v]
    return v


# ------------------------------------------------------------- templates

_SUB_RE = re.compile(r"\$\{([^}]*)\}")


def _refs(node, out):
    """Collect the logical ids / parameters a property tree references."""
    if isinstance(node, dict):
        if len(node) == 1:
            (k, v), = node.items()
            if k == "Ref" and isinstance(v, str):
                out.add(v)
                return
            if k == "Fn::GetAtt":
                if isinstance(v, list) and v and isinstance(v[0], str):
                    out.add(v[0])
                elif isinstance(v, str):
                    out.add(v.split(".", 1)[0])
                return
            if k == "Fn::Sub":
                s = v[0] if isinstance(v, list) and v else v
                local = set(v[1].keys()) if isinstance(v, list) and len(v) > 1 \
                    and isinstance(v[1], dict) else set()
                if isinstance(s, str):
                    for name in _SUB_RE.findall(s):
                        if name.startswith("!"):
                            continue
                        base = name.split(".", 1)[0]
                        if base not in local:
                            out.add(base)
                if isinstance(v, list) and len(v) > 1:
                    _refs(v[1], out)
                return
        for x in node.values():
            _refs(x, out)
    elif isinstance(node, list):
        for x in node:
            _refs(x, out)


def parse_template(template, parameters=None):
    """Validate a template; returns (template dict, resolved parameters,
    creation order of logical ids)."""
    if isinstance(template, (str, bytes)):
        try:
            template = json.loads(template)
        except ValueError as e:
            raise TemplateError("Template format error: JSON not well-formed. (%s)" % e)
    if not isinstance(template, dict):
        raise TemplateError("Template format error: JSON not well-formed.")
    allowed = {"AWSTemplateFormatVersion", "Description", "Metadata",
               "Parameters", "Mappings", "Conditions", "Resources", "Outputs",
               "Transform", "Rules"}
    for k in template:
        if k not in allowed:
            raise TemplateError("Template format error: Invalid template "
                                "property or properties [%s]" % k)
    ver = template.get("AWSTemplateFormatVersion")
    if ver is not None and ver != "2010-09-09":
        raise TemplateError("Template format error: '%s' is not a valid "
                            "template version." % ver)
    if "Transform" in template or "Conditions" in template:
        raise TemplateError("fakeaws: Transform and Conditions are not "
                            "simulated")
    res = template.get("Resources")
    if not isinstance(res, dict) or not res:
        raise TemplateError("Template format error: At least one Resources "
                            "member must be defined.")
    params_def = template.get("Parameters") or {}
    params = {}
    given = dict(parameters or {})
    for name, d in params_def.items():
        if name in given:
            params[name] = str(given.pop(name))
        elif isinstance(d, dict) and "Default" in d:
            params[name] = str(d["Default"])
        else:
            raise TemplateError("Parameters: [%s] must have values" % name)
    if given:
        raise TemplateError("Parameters: [%s] do not exist in the template"
                            % ", ".join(sorted(given)))
    unknown_types = []
    deps = {}
    for lid, r in res.items():
        if not _LOGICAL_RE.match(lid):
            raise TemplateError("Template format error: Resource name %s is "
                                "non alphanumeric." % lid)
        if not isinstance(r, dict) or "Type" not in r:
            raise TemplateError("Template format error: [/Resources/%s] "
                                "Every Resources object must contain a Type "
                                "member." % lid)
        t = r["Type"]
        if not (t == ROLE or t == CUSTOM or t in extra.TYPES
                or (isinstance(t, str) and t.startswith("Custom::"))):
            unknown_types.append(str(t))
            continue
        if t.startswith("Custom::") and not _CUSTOM_TYPE_RE.match(t):
            raise TemplateError("Template format error: Unrecognized resource "
                                "types: [%s]" % t)
        for k in r:
            if k not in ("Type", "Properties", "DependsOn", "Metadata",
                         "DeletionPolicy", "UpdateReplacePolicy", "Condition",
                         "CreationPolicy", "UpdatePolicy", "Version"):
                raise TemplateError("Invalid template resource property '%s'" % k)
        if "Condition" in r:
            raise TemplateError("fakeaws: Conditions are not simulated")
        props = r.get("Properties", {})
        if not isinstance(props, dict):
            raise TemplateError("Template format error: [/Resources/%s/"
                                "Properties] must be an object" % lid)
        refs = set()
        _refs(props, refs)
        dep = r.get("DependsOn", [])
        dep = [dep] if isinstance(dep, str) else dep
        if not isinstance(dep, list) or not all(isinstance(x, str) for x in dep):
            raise TemplateError("Template format error: DependsOn must be a "
                                "string or list of strings")
        for d in dep:
            if d not in res:
                raise TemplateError("Template format error: Unresolved "
                                    "resource dependencies [%s] in the "
                                    "Resources block of the template" % d)
        unresolved = [x for x in refs if x not in res and x not in params
                      and x not in PSEUDO]
        if unresolved:
            raise TemplateError("Template format error: Unresolved resource "
                                "dependencies [%s] in the Resources block of "
                                "the template" % ", ".join(sorted(unresolved)))
        deps[lid] = {x for x in refs if x in res} | set(dep)
        if lid in deps[lid]:
            raise TemplateError("Circular dependency between resources: [%s]" % lid)
    if unknown_types:
        raise TemplateError("Template format error: Unrecognized resource "
                            "types: [%s]" % ", ".join(unknown_types))
    try:
        extra.check_template(template, _refs)
    except ValueError as e:
        raise TemplateError(str(e))
    order = []
    done = set()
    pending = list(res.keys())
    while pending:
        ready = [x for x in pending if deps[x] <= done]
        if not ready:
            raise TemplateError("Circular dependency between resources: [%s]"
                                % ", ".join(sorted(pending)))
        for x in ready:
            order.append(x)
            done.add(x)
            pending.remove(x)
    return template, params, order


def dependencies(template, order):
    """logical id -> the logical ids it depends on (explicit and implicit)."""
    res = template["Resources"]
    out = {}
    for lid in order:
        refs = set()
        _refs(res[lid].get("Properties", {}), refs)
        dep = res[lid].get("DependsOn", [])
        dep = [dep] if isinstance(dep, str) else dep
        out[lid] = {x for x in refs if x in res} | set(dep)
    return out


# ------------------------------------------------------------- the stack

class Stack:
    def __init__(self, account_id, region, name, template, params, order):
        self.account_id = account_id
        self.region = region
        self.name = name
        self.stack_id = "arn:aws:cloudformation:%s:%s:stack/%s/%s" % (
            region, account_id, name, uuid.uuid1())
        self.template = template
        self.params = params
        self.order = order
        self.status = "CREATE_IN_PROGRESS"
        self.reason = None
        # logical id -> {"type", "physical_id", "status", "reason",
        #                "properties" (resolved), "attributes", "template"}
        self.resources = {}
        self.events = []
        self.requests = []
        self.answers = []
        self.created = time.time()
        self.updated = None
        self.changed = asyncio.Event()
        self.task = None
        self.outputs = None   # name -> {"value", "description", "export_name"}

    def event(self, logical_id, rtype, physical_id, status, reason=None):
        self.events.append({
            "timestamp": core.iso8601(time.time()), "time": time.time(),
            "stack_id": self.stack_id, "stack_name": self.name,
            "logical_resource_id": logical_id, "resource_type": rtype,
            "physical_resource_id": physical_id, "resource_status": status,
            "resource_status_reason": reason})

    def set_status(self, status, reason=None):
        self.status = status
        self.reason = reason
        self.event(self.name, "AWS::CloudFormation::Stack", self.stack_id,
                   status, reason)
        ev = self.changed
        self.changed = asyncio.Event()
        ev.set()

    def to_json(self, full=True):
        out = {"stack_id": self.stack_id, "stack_name": self.name,
               "account_id": self.account_id, "region": self.region,
               "status": self.status, "status_reason": self.reason}
        if full:
            out["resources"] = {
                lid: {"type": r["type"], "physical_id": r["physical_id"],
                      "status": r["status"], "status_reason": r["reason"],
                      "properties": r["properties"],
                      "attributes": r["attributes"]}
                for lid, r in self.resources.items()}
            out["physical_ids"] = {lid: r["physical_id"]
                                   for lid, r in self.resources.items()}
            out["events"] = self.events
            out["requests"] = self.requests
            out["answers"] = self.answers
            out["outputs"] = self.outputs or {}
        return out


class Service:
    name = "cfn"

    def __init__(self, world):
        self.world = world
        self.stacks = []              # every stack, deleted ones included
        self.response_timeout = 3600.0
        self.managed_policies = {}    # arn -> {"document", "account"}

    # --------------------------------------------------------- resolution
    def _resolve(self, stack, node, resources):
        if isinstance(node, dict):
            if len(node) == 1:
                (k, v), = node.items()
                if k == "Ref":
                    return self._ref(stack, v, resources)
                if k == "Fn::GetAtt":
                    if isinstance(v, str):
                        v = v.split(".", 1)
                    if not (isinstance(v, list) and len(v) == 2):
                        raise ResourceFailed("Template error: every Fn::GetAtt "
                                             "object requires two non-empty "
                                             "parameters")
                    return self._getatt(stack, v[0], self._resolve(stack, v[1], resources), resources)
                if k == "Fn::Sub":
                    return self._sub(stack, v, resources)
                if k == "Fn::Join":
                    if not (isinstance(v, list) and len(v) == 2 and isinstance(v[0], str)):
                        raise ResourceFailed("Template error: every Fn::Join "
                                             "object requires two parameters")
                    items = self._resolve(stack, v[1], resources)
                    if not isinstance(items, list):
                        raise ResourceFailed("Template error: Fn::Join requires a list")
                    return v[0].join(str(stringify(x)) for x in items
                                     if x is not _NOVALUE)
                if k == "Fn::Select":
                    idx = int(self._resolve(stack, v[0], resources))
                    items = self._resolve(stack, v[1], resources)
                    if not isinstance(items, list) or not 0 <= idx < len(items):
                        raise ResourceFailed("Template error: Fn::Select cannot "
                                             "select nonexistent value at index %d" % idx)
                    return items[idx]
                if k == "Fn::ImportValue":
                    try:
                        return extra.import_value(self, stack, self._resolve(stack, v, resources))
                    except extra.Failed as e:
                        raise ResourceFailed(str(e))
                if k == "Fn::Split":
                    s = self._resolve(stack, v[1], resources)
                    return s.split(v[0])
                if k.startswith("Fn::") or k == "Condition":
                    raise ResourceFailed("Template error: fakeaws does not "
                                         "simulate %s" % k)
            out = {}
            for k, x in node.items():
                r = self._resolve(stack, x, resources)
                if r is not _NOVALUE:
                    out[k] = r
            return out
        if isinstance(node, list):
            return [r for r in (self._resolve(stack, x, resources) for x in node)
                    if r is not _NOVALUE]
        return node

    def _ref(self, stack, name, resources):
        pseudo = {
            "AWS::AccountId": stack.account_id, "AWS::Region": stack.region,
            "AWS::StackId": stack.stack_id, "AWS::StackName": stack.name,
            "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": [],
        }
        if name == "AWS::NoValue":
            return _NOVALUE
        if name in pseudo:
            return pseudo[name]
        if name in stack.params:
            return stack.params[name]
        r = resources.get(name)
        if r is None or r.get("physical_id") is None:
            raise ResourceFailed("Template error: resource %s is not available" % name)
        return r["physical_id"]

    def _getatt(self, stack, lid, attr, resources):
        r = resources.get(lid)
        if r is None:
            raise ResourceFailed("Template error: instance of Fn::GetAtt "
                                 "references undefined resource %s" % lid)
        attrs = r.get("attributes") or {}
        if attr not in attrs:
            if r["type"] != ROLE and r["type"] not in extra.TYPES:
                raise ResourceFailed("CustomResource attribute error: Vendor "
                                     "response doesn't contain %s key in "
                                     "object %s|%s|%s in S3 bucket "
                                     "cloudformation-custom-resource-storage-%s"
                                     % (attr, stack.stack_id, lid,
                                        r.get("last_request_id"),
                                        stack.region.replace("-", "")))
            raise ResourceFailed("Template error: resource %s does not "
                                 "support attribute type %s in Fn::GetAtt"
                                 % (lid, attr))
        return attrs[attr]

    def _sub(self, stack, v, resources):
        if isinstance(v, str):
            s, local = v, {}
        elif isinstance(v, list) and len(v) == 2 and isinstance(v[0], str) \
                and isinstance(v[1], dict):
            s = v[0]
            local = {k: self._resolve(stack, x, resources) for k, x in v[1].items()}
        else:
            raise ResourceFailed("Template error: One or more Fn::Sub "
                                 "intrinsic functions don't specify expected "
                                 "arguments.")

        def rep(m):
            name = m.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in local:
                return str(stringify(local[name]))
            if "." in name and name.split(".", 1)[0] in resources:
                lid, attr = name.split(".", 1)
                return str(self._getatt(stack, lid, attr, resources))
            val = self._ref(stack, name, resources)
            return str(stringify(val))
        return _SUB_RE.sub(rep, s)

    # ------------------------------------------------------------ helpers
    def _iam(self):
        return self.world.services["iam"]

    def _resource_props(self, stack, lid, template, resources):
        r = template["Resources"][lid]
        props = self._resolve(stack, r.get("Properties", {}), resources)
        return props

    async def _custom_request(self, stack, lid, rtype, request_type, props,
                              physical_id=None, old_props=None):
        """Publish one custom resource request and wait for its answer.
        Returns the answer record; raises ResourceFailed."""
        token = props.get("ServiceToken")
        if not isinstance(token, str) or not token:
            raise ResourceFailed("Property ServiceToken cannot be empty.")
        m = _SNS_ARN_RE.match(token)
        if not m:
            raise ResourceFailed("Invalid service token: fakeaws simulates "
                                 "SNS-backed custom resources only (%s)" % token)
        if m.group(1) != stack.region:
            raise ResourceFailed("Invalid service token: the SNS topic %s is "
                                 "not in the stack's region %s"
                                 % (token, stack.region))
        timeout = self.response_timeout
        if "ServiceTimeout" in props:
            try:
                timeout = int(str(props["ServiceTimeout"]))
            except ValueError:
                timeout = -1
            if not 1 <= timeout <= 3600:
                raise ResourceFailed("ServiceTimeout must be between 1 and 3600 seconds")
        request_id = str(uuid.uuid4())
        url, key = self.world.services["s3"].mint_response_url(
            stack.region, stack.stack_id, lid, request_id,
            request_type=request_type)
        req = {"RequestType": request_type, "ServiceToken": token,
               "ResponseURL": url, "StackId": stack.stack_id,
               "RequestId": request_id, "LogicalResourceId": lid,
               "ResourceType": rtype}
        if physical_id is not None:
            req["PhysicalResourceId"] = physical_id
        req["ResourceProperties"] = stringify(props)
        if old_props is not None:
            req["OldResourceProperties"] = stringify(old_props)
        rec = {"request": req, "key": key, "sent": time.time(),
               "published": False, "message_id": None, "error": None}
        stack.requests.append(rec)
        sns = self.world.services.get("sns")
        if sns is None:
            rec["error"] = "no SNS service"
            raise ResourceFailed("fakeaws: the SNS service is not loaded")
        try:
            rec["message_id"] = sns.publish_as(stack.account_id, token,
                                               json.dumps(req), SUBJECT)
            rec["published"] = True
        except core.AccessDenied as e:
            rec["error"] = e.message
            self.world.record("cfn.publish_denied", stack_id=stack.stack_id,
                              logical_id=lid, topic=token)
            raise ResourceFailed("Failed to publish the custom resource "
                                 "request to %s: %s" % (token, e.message))
        self.world.record("cfn.request", stack_id=stack.stack_id,
                          logical_id=lid, request_type=request_type,
                          request_id=request_id)
        ans = await self.world.services["s3"].wait_response(key, timeout)
        if ans is None:
            stack.answers.append({"request_id": request_id, "key": key,
                                  "timeout": True})
            raise ResourceFailed(
                "CloudFormation did not receive a response from your Custom "
                "Resource. Please check your custom resource in region %s to "
                "ensure that it is running and responding properly. "
                "(RequestId: %s)" % (stack.region, request_id))
        ans = dict(ans)
        ans["request_id_sent"] = request_id
        stack.answers.append(ans)
        return ans

    @staticmethod
    def _answer_failure(ans):
        """None for a usable SUCCESS answer, else the failure reason."""
        if not ans.get("valid"):
            return "; ".join(ans.get("problems") or ["Invalid response object"])
        if ans.get("status") == "FAILED":
            return ("Received response status [FAILED] from custom resource. "
                    "Message returned: %s (RequestId: %s)"
                    % (ans.get("reason") or "", ans.get("request_id")))
        return None

    # ----------------------------------------------------------- per type
    def _role_args(self, stack, lid, props, old=None):
        for k in props:
            if k not in _ROLE_PROPS:
                raise ResourceFailed("Encountered unsupported property %s" % k)
        trust = props.get("AssumeRolePolicyDocument")
        if trust is None:
            raise ResourceFailed("Property AssumeRolePolicyDocument cannot be empty.")
        if not isinstance(trust, (dict, str)):
            raise ResourceFailed("Value of property AssumeRolePolicyDocument "
                                 "must be an object")
        name = props.get("RoleName")
        if name is None:
            name = old["physical_id"] if old is not None and \
                old["properties"].get("RoleName") is None else \
                generated_name(stack.name, lid)
        policies = props.get("Policies", [])
        if not isinstance(policies, list):
            raise ResourceFailed("Value of property Policies must be of type List")
        inline = {}
        for p in policies:
            if not isinstance(p, dict) or "PolicyName" not in p or "PolicyDocument" not in p:
                raise ResourceFailed("Property PolicyName / PolicyDocument "
                                     "cannot be empty.")
            inline[p["PolicyName"]] = p["PolicyDocument"]
        managed = props.get("ManagedPolicyArns", [])
        if not isinstance(managed, list):
            raise ResourceFailed("Value of property ManagedPolicyArns must be "
                                 "of type List of String")
        return name, trust, inline, managed

    def _iam_call(self, fn, *a, **kw):
        from .iam import IamError
        try:
            return fn(*a, **kw)
        except IamError as e:
            raise ResourceFailed(
                "Resource handler returned message: \"%s\" (Service: Iam, "
                "Status Code: %d, Request ID: %s)"
                % (e.message, e.status, core.new_request_id()))

    def _create_role(self, stack, lid, props):
        name, trust, inline, managed = self._role_args(stack, lid, props)
        role = self._iam_call(
            self._iam().create_role, stack.account_id, name, trust,
            path=props.get("Path", "/"),
            description=props.get("Description"),
            max_session_duration=props.get("MaxSessionDuration", 3600),
            policies=inline, managed_policy_arns=managed)
        return name, {"Arn": role["arn"], "RoleId": role["role_id"]}

    def _delete_role(self, stack, name):
        iam = self._iam()
        if iam.get_role(stack.account_id, name) is None:
            return   # already gone: CloudFormation treats that as deleted
        self._iam_call(iam.delete_role, stack.account_id, name, force=True)

    def _update_role_in_place(self, stack, lid, old, props):
        name, trust, inline, managed = self._role_args(stack, lid, props, old)
        iam = self._iam()
        acct = stack.account_id
        if props.get("AssumeRolePolicyDocument") != old["properties"].get("AssumeRolePolicyDocument"):
            self._iam_call(iam.update_trust, acct, name, trust)
        role = iam.get_role(acct, name)
        for pname in list(role["inline_policies"]):
            if pname not in inline:
                self._iam_call(iam.delete_role_policy, acct, name, pname)
        for pname, doc in inline.items():
            self._iam_call(iam.put_role_policy, acct, name, pname, doc)
        for arn in list(role["managed_policy_arns"]):
            if arn not in managed:
                self._iam_call(iam.detach_role_policy, acct, name, arn)
        for arn in managed:
            self._iam_call(iam.attach_role_policy, acct, name, arn)
        return name, {"Arn": role["arn"], "RoleId": role["role_id"]}

    def _extra(self, fn, stack, lid, rtype, *args):
        """A partner-side resource (cfn_resources): its failure is the
        resource's."""
        try:
            return fn(self, stack, lid, rtype, *args, generated_name)
        except extra.Failed as e:
            raise ResourceFailed(str(e))

    @staticmethod
    def _role_needs_replacement(old_props, new_props):
        return (old_props.get("RoleName") != new_props.get("RoleName")
                or old_props.get("Path", "/") != new_props.get("Path", "/"))

    async def _delete_resource(self, stack, lid, r):
        """Delete one resource; raises ResourceFailed."""
        if r["physical_id"] is None:
            return
        if r["type"] == ROLE:
            self._delete_role(stack, r["physical_id"])
            return
        if r["type"] in extra.TYPES:
            try:
                extra.delete(self, stack, r)
            except extra.Failed as e:
                raise ResourceFailed(str(e))
            return
        ans = await self._custom_request(stack, lid, r["type"], "Delete",
                                         r["properties"], r["physical_id"])
        why = self._answer_failure(ans)
        if why:
            raise ResourceFailed(why)

    # ------------------------------------------------------------- create
    async def _run_create(self, stack):
        created = []  # logical ids, in order, that need deleting on rollback
        failed = None
        for lid in stack.order:
            rdef = stack.template["Resources"][lid]
            rtype = rdef["Type"]
            r = {"type": rtype, "physical_id": None, "status": "CREATE_IN_PROGRESS",
                 "reason": None, "properties": {}, "attributes": {},
                 "last_request_id": None}
            stack.resources[lid] = r
            stack.event(lid, rtype, None, "CREATE_IN_PROGRESS")
            try:
                props = self._resource_props(stack, lid, stack.template, stack.resources)
                r["properties"] = props
                if rtype == ROLE:
                    name, attrs = self._create_role(stack, lid, props)
                    r["physical_id"] = name
                    r["attributes"] = attrs
                elif rtype in extra.TYPES:
                    r["physical_id"], r["attributes"] = self._extra(
                        extra.create, stack, lid, rtype, props)
                else:
                    ans = await self._custom_request(stack, lid, rtype, "Create", props)
                    r["last_request_id"] = ans.get("request_id_sent")
                    why = self._answer_failure(ans)
                    pid = ans.get("physical_resource_id")
                    if isinstance(pid, str) and pid:
                        r["physical_id"] = pid
                    if why:
                        raise ResourceFailed(why)
                    r["attributes"] = dict(ans.get("data") or {})
                r["status"] = "CREATE_COMPLETE"
                stack.event(lid, rtype, r["physical_id"], "CREATE_COMPLETE")
                created.append(lid)
            except ResourceFailed as e:
                r["status"] = "CREATE_FAILED"
                r["reason"] = str(e)
                stack.event(lid, rtype, r["physical_id"], "CREATE_FAILED", str(e))
                if rtype != ROLE and any(q["request"]["LogicalResourceId"] == lid
                                         and q["published"] for q in stack.requests):
                    if r["physical_id"] is None:
                        r["physical_id"] = generated_name(stack.name, lid, 255)
                    created.append(lid)
                failed = (lid, str(e))
                break
        if failed is None:
            try:
                stack.outputs = extra.resolve_outputs(self, stack)
            except extra.Failed as e:
                failed = (stack.name, str(e))
        if failed is None:
            stack.set_status("CREATE_COMPLETE")
            return
        stack.set_status("ROLLBACK_IN_PROGRESS",
                         "The following resource(s) failed to create: [%s]. "
                         "Rollback requested by user." % failed[0])
        ok = True
        deps = dependencies(stack.template, stack.order)
        kept = set()   # resources whose deletion failed
        for lid in reversed(created):
            r = stack.resources[lid]
            if any(lid in deps.get(k, ()) for k in kept):
                kept.add(lid)
                continue
            stack.event(lid, r["type"], r["physical_id"], "DELETE_IN_PROGRESS")
            try:
                await self._delete_resource(stack, lid, r)
                r["status"] = "DELETE_COMPLETE"
                stack.event(lid, r["type"], r["physical_id"], "DELETE_COMPLETE")
            except ResourceFailed as e:
                r["status"] = "DELETE_FAILED"
                r["reason"] = str(e)
                stack.event(lid, r["type"], r["physical_id"], "DELETE_FAILED", str(e))
                kept.add(lid)
                ok = False
        if ok:
            stack.set_status("ROLLBACK_COMPLETE")
        else:
            stack.set_status("ROLLBACK_FAILED", "The following resource(s) "
                             "failed to delete: [%s]." % ", ".join(
                                 lid for lid in created
                                 if stack.resources[lid]["status"] == "DELETE_FAILED"))

    # ------------------------------------------------------------- update
    async def _run_update(self, stack, template, params, order):
        old_template, old_params, old_order = stack.template, stack.params, stack.order
        old_resources = copy.deepcopy(stack.resources)
        requests_before = len(stack.requests)
        stack.template, stack.params, stack.order = template, params, order
        touched = []     # (lid, kind, old record) for rollback: kind in created/updated/replaced
        cleanup = []     # (lid, record) old physical resources to delete at cleanup
        failed = None
        for lid in order:
            rtype = template["Resources"][lid]["Type"]
            old = old_resources.get(lid)
            if old is not None and old["type"] != rtype:
                failed = (lid, "Update of resource type is not permitted")
                stack.event(lid, rtype, old["physical_id"], "UPDATE_FAILED", failed[1])
                break
            try:
                props = self._resource_props(stack, lid, template, stack.resources)
            except ResourceFailed as e:
                failed = (lid, str(e))
                stack.event(lid, rtype, old and old["physical_id"],
                            "UPDATE_FAILED" if old else "CREATE_FAILED", str(e))
                break
            if old is None:
                r = {"type": rtype, "physical_id": None, "status": "CREATE_IN_PROGRESS",
                     "reason": None, "properties": props, "attributes": {},
                     "last_request_id": None}
                stack.resources[lid] = r
                stack.event(lid, rtype, None, "CREATE_IN_PROGRESS")
                touched.append((lid, "created", None))
                try:
                    if rtype == ROLE:
                        r["physical_id"], r["attributes"] = self._create_role(stack, lid, props)
                    elif rtype in extra.TYPES:
                        r["physical_id"], r["attributes"] = self._extra(
                            extra.create, stack, lid, rtype, props)
                    else:
                        ans = await self._custom_request(stack, lid, rtype, "Create", props)
                        pid = ans.get("physical_resource_id")
                        if isinstance(pid, str) and pid:
                            r["physical_id"] = pid
                        why = self._answer_failure(ans)
                        if why:
                            raise ResourceFailed(why)
                        r["attributes"] = dict(ans.get("data") or {})
                    r["status"] = "CREATE_COMPLETE"
                    stack.event(lid, rtype, r["physical_id"], "CREATE_COMPLETE")
                except ResourceFailed as e:
                    r["status"] = "CREATE_FAILED"
                    r["reason"] = str(e)
                    stack.event(lid, rtype, r["physical_id"], "CREATE_FAILED", str(e))
                    failed = (lid, str(e))
                    break
                continue
            if props == old["properties"]:
                continue
            r = stack.resources[lid]
            try:
                if rtype == ROLE:
                    if self._role_needs_replacement(old["properties"], props):
                        stack.event(lid, rtype, old["physical_id"], "UPDATE_IN_PROGRESS",
                                    "Requested update requires the creation of a new "
                                    "physical resource; hence creating one.")
                        touched.append((lid, "replaced", old))
                        r["properties"] = props
                        name, attrs = self._create_role(stack, lid, props)
                        r["physical_id"], r["attributes"] = name, attrs
                        cleanup.append((lid, old))
                    else:
                        stack.event(lid, rtype, old["physical_id"], "UPDATE_IN_PROGRESS")
                        touched.append((lid, "updated", old))
                        r["properties"] = props
                        r["physical_id"], r["attributes"] = self._update_role_in_place(
                            stack, lid, old, props)
                elif rtype in extra.TYPES:
                    stack.event(lid, rtype, old["physical_id"], "UPDATE_IN_PROGRESS")
                    touched.append((lid, "updated", old))
                    r["properties"] = props
                    r["physical_id"], r["attributes"] = self._extra(
                        extra.update, stack, lid, rtype, old, props)
                else:
                    stack.event(lid, rtype, old["physical_id"], "UPDATE_IN_PROGRESS")
                    if props.get("ServiceToken") != old["properties"].get("ServiceToken"):
                        raise ResourceFailed("Modifying service token is not allowed.")
                    touched.append((lid, "updated", old))
                    r["properties"] = props
                    ans = await self._custom_request(stack, lid, rtype, "Update", props,
                                                     old["physical_id"], old["properties"])
                    why = self._answer_failure(ans)
                    if why:
                        raise ResourceFailed(why)
                    pid = ans.get("physical_resource_id")
                    r["attributes"] = dict(ans.get("data") or {})
                    if pid != old["physical_id"]:
                        r["physical_id"] = pid
                        cleanup.append((lid, old))
                        stack.event(lid, rtype, pid, "UPDATE_IN_PROGRESS",
                                    "Requested update requires the creation of "
                                    "a new physical resource; hence creating one.")
                r["status"] = "UPDATE_COMPLETE"
                stack.event(lid, rtype, r["physical_id"], "UPDATE_COMPLETE")
            except ResourceFailed as e:
                r["status"] = "UPDATE_FAILED"
                r["reason"] = str(e)
                stack.event(lid, rtype, r["physical_id"], "UPDATE_FAILED", str(e))
                failed = (lid, str(e))
                break
        if failed is None:
            stack.set_status("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")
            # replaced physical resources, then resources removed from the template
            removed = [lid for lid in reversed(list(old_resources)) if lid not in template["Resources"]]
            for lid, old in cleanup:
                stack.event(lid, old["type"], old["physical_id"], "DELETE_IN_PROGRESS")
                try:
                    await self._delete_resource(stack, lid, old)
                    stack.event(lid, old["type"], old["physical_id"], "DELETE_COMPLETE")
                except ResourceFailed as e:
                    stack.event(lid, old["type"], old["physical_id"], "DELETE_FAILED", str(e))
            for lid in removed:
                old = stack.resources.pop(lid)
                stack.event(lid, old["type"], old["physical_id"], "DELETE_IN_PROGRESS")
                try:
                    await self._delete_resource(stack, lid, old)
                    stack.event(lid, old["type"], old["physical_id"], "DELETE_COMPLETE")
                except ResourceFailed as e:
                    stack.event(lid, old["type"], old["physical_id"], "DELETE_FAILED", str(e))
            try:
                stack.outputs = extra.resolve_outputs(self, stack)
            except extra.Failed as e:
                stack.event(stack.name, "AWS::CloudFormation::Stack", stack.stack_id,
                            "UPDATE_FAILED", str(e))
            stack.set_status("UPDATE_COMPLETE")
            return
        # ------------------------------------------------ update rollback
        stack.set_status("UPDATE_ROLLBACK_IN_PROGRESS",
                         "The following resource(s) failed to %s: [%s]." % (
                             "create" if failed[0] not in old_resources else "update",
                             failed[0]))
        stack.template, stack.params, stack.order = old_template, old_params, old_order
        ok = True
        new_cleanup = []   # (lid, record) physical resources made by the update
        for lid, kind, old in reversed(touched):
            r = stack.resources[lid]
            if kind == "created":
                stack.resources.pop(lid, None)
                published = r["type"] == ROLE or any(
                    q["request"]["LogicalResourceId"] == lid and q["published"]
                    for q in stack.requests[requests_before:])
                if r["physical_id"] is None and published and r["type"] != ROLE:
                    r["physical_id"] = generated_name(stack.name, lid, 255)
                if r["physical_id"] is not None:
                    new_cleanup.append((lid, r))
                continue
            if r["physical_id"] != old["physical_id"]:
                # Replaced: the old resource is intact; the new one goes.
                new_cleanup.append((lid, dict(r)))
                stack.resources[lid] = old
                continue
            stack.event(lid, r["type"], old["physical_id"], "UPDATE_IN_PROGRESS")
            try:
                if r["type"] == ROLE:
                    self._update_role_in_place(stack, lid, r, old["properties"])
                elif r["type"] in extra.TYPES:
                    self._extra(extra.update, stack, lid, r["type"], r, old["properties"])
                else:
                    ans = await self._custom_request(
                        stack, lid, r["type"], "Update", old["properties"],
                        r["physical_id"], r["properties"])
                    why = self._answer_failure(ans)
                    if why:
                        raise ResourceFailed(why)
                stack.resources[lid] = old
                old["status"] = "UPDATE_COMPLETE"
                stack.event(lid, old["type"], old["physical_id"], "UPDATE_COMPLETE")
            except ResourceFailed as e:
                ok = False
                r["status"] = "UPDATE_FAILED"
                r["reason"] = str(e)
                stack.event(lid, r["type"], r["physical_id"], "UPDATE_FAILED", str(e))
        if not ok:
            stack.set_status("UPDATE_ROLLBACK_FAILED")
            return
        stack.set_status("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS")
        for lid, r in new_cleanup:
            stack.event(lid, r["type"], r["physical_id"], "DELETE_IN_PROGRESS")
            try:
                await self._delete_resource(stack, lid, r)
                stack.event(lid, r["type"], r["physical_id"], "DELETE_COMPLETE")
            except ResourceFailed as e:
                stack.event(lid, r["type"], r["physical_id"], "DELETE_FAILED", str(e))
        stack.set_status("UPDATE_ROLLBACK_COMPLETE")

    # ------------------------------------------------------------- delete
    async def _run_delete(self, stack):
        failed = []
        deps = dependencies(stack.template, stack.order)
        for lid in reversed(stack.order):
            r = stack.resources.get(lid)
            if r is None or r["status"] == "DELETE_COMPLETE" or r["physical_id"] is None:
                continue
            # A resource goes only after everything that depends on it.
            blocked = [d for d, on in deps.items() if lid in on and d in stack.resources
                       and stack.resources[d]["status"] != "DELETE_COMPLETE"
                       and stack.resources[d]["physical_id"] is not None]
            if blocked:
                continue
            stack.event(lid, r["type"], r["physical_id"], "DELETE_IN_PROGRESS")
            try:
                await self._delete_resource(stack, lid, r)
                r["status"] = "DELETE_COMPLETE"
                r["reason"] = None
                stack.event(lid, r["type"], r["physical_id"], "DELETE_COMPLETE")
            except ResourceFailed as e:
                r["status"] = "DELETE_FAILED"
                r["reason"] = str(e)
                stack.event(lid, r["type"], r["physical_id"], "DELETE_FAILED", str(e))
                failed.append(lid)
        if failed:
            stack.set_status("DELETE_FAILED", "The following resource(s) failed "
                             "to delete: [%s]. " % ", ".join(failed))
        else:
            stack.set_status("DELETE_COMPLETE")

    # ------------------------------------------------------------ control
    def _find(self, ident):
        ident = urllib.parse.unquote(ident)
        if ident.startswith("arn:"):
            for s in self.stacks:
                if s.stack_id == ident:
                    return s
            return None
        for s in reversed(self.stacks):
            if s.name == ident and s.status != "DELETE_COMPLETE":
                return s
        return None

    def _spawn(self, stack, coro):
        async def runner():
            try:
                await coro
            except Exception as e:  # a simulator bug: make it visible
                stack.set_status(stack.status.replace("IN_PROGRESS", "FAILED"),
                                 "fakeaws internal error: %r" % e)
                raise
        stack.task = asyncio.get_running_loop().create_task(runner())

    async def _template_of(self, b):
        """The template of a CreateStack / UpdateStack body: "template", or
        the text read from "template_url" without the caller's keys."""
        if "template_url" not in b:
            return b.get("template")
        if "template" in b:
            raise TemplateError("Specify exactly one of TemplateBody or TemplateUrl.")
        return await cfn_template_url.fetch(self.world, b["template_url"])

    async def control(self, req, subpath):
        def j(obj, status=200):
            return core.json_response(obj, status, content_type="application/json")

        def err(code, msg, status=400):
            return j({"error": code, "message": msg}, status)

        def body():
            try:
                b = req.json()
            except ValueError:
                b = None
            if not isinstance(b, dict):
                raise TemplateError("a JSON object body is required")
            return b

        path = subpath.strip("/")
        try:
            if path == "config":
                if req.method == "POST":
                    b = body()
                    if "response_timeout" in b:
                        v = float(b["response_timeout"])
                        if v <= 0:
                            return err("ValidationError", "response_timeout must be > 0")
                        self.response_timeout = v
                return j({"response_timeout": self.response_timeout})
            if path == "stacks" and req.method == "GET":
                return j({"stacks": [s.to_json(False) for s in self.stacks]})
            if path == "stacks" and req.method == "POST":
                b = body()
                acct = b.get("account_id")
                if not isinstance(acct, str) or not re.match(r"^\d{12}$", acct):
                    return err("ValidationError", "account_id must be a 12-digit account id")
                region = b.get("region") or self.world.region
                name = b.get("stack_name")
                if not isinstance(name, str) or not _STACK_NAME_RE.match(name):
                    return err("ValidationError", "1 validation error detected: "
                               "Value '%s' at 'stackName' failed to satisfy "
                               "constraint: Member must satisfy regular "
                               "expression pattern: [a-zA-Z][-a-zA-Z0-9]*" % name)
                for s in self.stacks:
                    if s.name == name and s.account_id == acct and s.region == region \
                            and s.status != "DELETE_COMPLETE":
                        return err("AlreadyExistsException", "Stack [%s] already exists" % name)
                template, params, order = parse_template(await self._template_of(b),
                                                         b.get("parameters"))
                stack = Stack(acct, region, name, template, params, order)
                self.stacks.append(stack)
                stack.set_status("CREATE_IN_PROGRESS", "User Initiated")
                self.world.record("cfn.create_stack", stack_id=stack.stack_id)
                self._spawn(stack, self._run_create(stack))
                return j({"stack_id": stack.stack_id}, 201)
            m = re.match(r"^stacks/(.+?)(/update)?$", path)
            if m:
                stack = self._find(m.group(1))
                if stack is None:
                    return err("ValidationError", "Stack with id %s does not exist"
                               % urllib.parse.unquote(m.group(1)), 404)
                if m.group(2):
                    if req.method != "POST":
                        return err("MethodNotAllowed", "POST only", 405)
                    b = body()
                    if stack.status not in ("CREATE_COMPLETE", "UPDATE_COMPLETE",
                                            "UPDATE_ROLLBACK_COMPLETE"):
                        return err("ValidationError", "Stack:%s is in %s state and "
                                   "can not be updated." % (stack.stack_id, stack.status))
                    params = b.get("parameters")
                    text = await self._template_of(b)
                    if params is None:
                        params = dict(stack.params)
                        tdef = text
                        if isinstance(tdef, str):
                            try:
                                tdef = json.loads(tdef)
                            except ValueError:
                                tdef = {}
                        declared = (tdef or {}).get("Parameters") or {} if isinstance(tdef, dict) else {}
                        params = {k: v for k, v in params.items() if k in declared}
                    template, params, order = parse_template(text, params)
                    if template == stack.template and params == stack.params:
                        return err("ValidationError", "No updates are to be performed.")
                    stack.updated = time.time()
                    stack.set_status("UPDATE_IN_PROGRESS", "User Initiated")
                    self._spawn(stack, self._run_update(stack, template, params, order))
                    return j({"stack_id": stack.stack_id})
                if req.method == "GET":
                    q = urllib.parse.parse_qs(req.query)
                    wait = float(q.get("wait", ["0"])[0] or 0)
                    deadline = time.time() + min(wait, 600)
                    while stack.status.endswith("_IN_PROGRESS") and time.time() < deadline:
                        try:
                            await asyncio.wait_for(stack.changed.wait(),
                                                   deadline - time.time())
                        except asyncio.TimeoutError:
                            break
                    return j(stack.to_json())
                if req.method == "DELETE":
                    if stack.status.endswith("_IN_PROGRESS"):
                        return err("ValidationError", "Stack %s is in %s state and "
                                   "can not be deleted." % (stack.name, stack.status))
                    if stack.status == "DELETE_COMPLETE":
                        return j({"stack_id": stack.stack_id})
                    stack.set_status("DELETE_IN_PROGRESS", "User Initiated")
                    self._spawn(stack, self._run_delete(stack))
                    return j({"stack_id": stack.stack_id})
        except cfn_template_url.TemplateUrlError as e:
            return j({"error": "ValidationError", "message": e.message,
                      "s3_error": e.s3_error}, 400)
        except TemplateError as e:
            return err("ValidationError", str(e))
        except (ValueError, TypeError) as e:
            return err("ValidationError", str(e))
        return err("NotFound", subpath, 404)
