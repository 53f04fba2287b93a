"""The CloudFormation simulator's runs: a stack's Create (and its rollback),
Update (and its update rollback, cleanup of replaced and removed
resources) and Delete, one resource at a time in dependency order.  A mixin
of cfn.Service, whose resolution, custom-resource requests and role calls
the runs use; the rules they follow are in cfn.py's docstring."""

import copy

from . import cfn_resources as extra
from .cfn_template import ROLE, dependencies, generated_name


class ResourceFailed(Exception):
    """A resource operation failed; message is the status reason."""


class StackRuns:
    @staticmethod
    def _mark_failed(stack, lid, rtype, r, status, e):
        """r failed (status e.g. CREATE_FAILED) for the reason e: on the
        record and in the stack's events."""
        r["status"] = status
        r["reason"] = str(e)
        stack.event(lid, rtype, r["physical_id"], status, str(e))

    async def _delete_logged(self, stack, lid, r):
        """Deletes r between its DELETE_IN_PROGRESS and DELETE_COMPLETE (or
        DELETE_FAILED) events; returns the failure, or None."""
        stack.event(lid, r["type"], r["physical_id"], "DELETE_IN_PROGRESS")
        try:
            await self._delete_resource(stack, lid, r)
        except ResourceFailed as e:
            stack.event(lid, r["type"], r["physical_id"], "DELETE_FAILED", str(e))
            return e
        stack.event(lid, r["type"], r["physical_id"], "DELETE_COMPLETE")
        return None

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
                self._mark_failed(stack, lid, rtype, r, "CREATE_FAILED", e)
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
            err = await self._delete_logged(stack, lid, r)
            if err is None:
                r["status"] = "DELETE_COMPLETE"
            else:
                r["status"], r["reason"] = "DELETE_FAILED", str(err)
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
                    self._mark_failed(stack, lid, rtype, r, "CREATE_FAILED", e)
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
                self._mark_failed(stack, lid, rtype, r, "UPDATE_FAILED", e)
                failed = (lid, str(e))
                break
        if failed is None:
            stack.set_status("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")
            # replaced physical resources, then resources removed from the template
            removed = [lid for lid in reversed(list(old_resources)) if lid not in template["Resources"]]
            for lid, old in cleanup:
                await self._delete_logged(stack, lid, old)
            for lid in removed:
                old = stack.resources.pop(lid)
                await self._delete_logged(stack, lid, old)
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
                self._mark_failed(stack, lid, r["type"], r, "UPDATE_FAILED", e)
        if not ok:
            stack.set_status("UPDATE_ROLLBACK_FAILED")
            return
        stack.set_status("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS")
        for lid, r in new_cleanup:
            await self._delete_logged(stack, lid, r)
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
            err = await self._delete_logged(stack, lid, r)
            if err is None:
                r["status"], r["reason"] = "DELETE_COMPLETE", None
            else:
                r["status"], r["reason"] = "DELETE_FAILED", str(err)
                failed.append(lid)
        if failed:
            stack.set_status("DELETE_FAILED", "The following resource(s) failed "
                             "to delete: [%s]. " % ", ".join(failed))
        else:
            stack.set_status("DELETE_COMPLETE")
