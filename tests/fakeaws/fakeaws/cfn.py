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

This file holds the control API, the stacks, intrinsic resolution, the
custom-resource requests and the role calls; templates are read by
cfn_template.py and the runs themselves are cfn_runs.py.
"""

import asyncio
import json
import re
import time
import urllib.parse
import uuid

from . import cfn_resources as extra
from . import cfn_template_url
from . import core
from .cfn_runs import ResourceFailed, StackRuns
from .cfn_template import (_NOVALUE, _ROLE_PROPS, _SNS_ARN_RE, _STACK_NAME_RE, _SUB_RE, ROLE,
                           TemplateError, generated_name, parse_template, stringify)

SUBJECT = "AWS CloudFormation custom resource request"

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


class Service(StackRuns):
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
        req = {"RequestType": request_type, "ServiceToken": token}
        if "ServiceTimeout" in props:
            # Sent beside ServiceToken, as CloudFormation does (and kept in
            # ResourceProperties below).
            req["ServiceTimeout"] = str(timeout)
        req.update({
               "ResponseURL": url, "StackId": stack.stack_id,
               "RequestId": request_id, "LogicalResourceId": lid,
               "ResourceType": rtype})
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
