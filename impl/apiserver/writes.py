"""The write handlers: create, update, patch, delete, deletecollection and the subresources, each
running the admission steps in order before it persists.

Sources: k8s.io/apiserver ``pkg/endpoints/handlers`` (create.go, update.go, patch.go,
delete.go) and ``pkg/registry/generic/registry/store.go``. The order every write keeps:

    mutating admission (each plugin, then the mutating webhooks; reinvoked once if needed)
    -> prepare and schema validation (``BeforeCreate`` / ``BeforeUpdate``)
    -> validating admission (each plugin, the validating webhooks, ResourceQuota last)
    -> persist (one guarded txn on the store)

A refusal at any step ends the request with its Status; nothing was written. The steps are
data (``write_steps``), and each runs in ``run_step``, which records it in the audit event:
the record shows the order they really ran in.

Updates and patches follow ``GuaranteedUpdate`` as the watch cache's ``Cacher`` calls it: take
the instance's cached copy of the object (a read of the store only when the cache lacks it), run
the steps on it, write only if the object is still at that revision; if someone wrote in between,
a request that named a resourceVersion gets 409 Conflict, one that did not reads the store and
starts over. A refusal, or a resourceVersion that does not match, reached on a cached copy that
may be stale is tried again on a fresh read (etcd3 ``store.GuaranteedUpdate``: "It's possible we
were working with stale data"). Deleting an object
with finalizers only marks it (``deletionTimestamp``); the update that removes its last finalizer
deletes it.
"""

from __future__ import annotations

import json
from typing import Any

from impl.apiserver.admission.attributes import AdmissionAttributes
from impl.apiserver.decimal_text import is_decimal
from impl.apiserver.objectmeta import apply_defaults, prepare_for_create, prepare_for_update, timestamp
from impl.apiserver.patch import apply_patch
from impl.apiserver.plain import clone
from impl.apiserver.pipeline import Context, Reply
from impl.apiserver.resources import ResourceType
from impl.apiserver.schema import check_delete_options, check_types
from impl.apiserver.status import ApiError, success_status
from impl.apiserver.storage import UPDATE_ATTEMPTS_MAX, Deleted, Effects, ObjectStore, key_of
from impl.apiserver.validation import validate_create, validate_update

__all__ = ["Writes", "decode_body", "Persist"]

WEBHOOK_STEPS = ("MutatingAdmissionWebhook", "ValidatingAdmissionWebhook")


def decode_body(ctx: Context) -> Any:
    try:
        text = ctx.request.body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError("BadRequest", "the request body is not valid UTF-8") from None
    try:
        return json.loads(text)
    except ValueError as error:
        raise ApiError("BadRequest", f"the request body is not valid JSON: {error}") from None


def _rv(obj: dict[str, Any]) -> int:
    text = str((obj.get("metadata") or {}).get("resourceVersion") or "")
    if text and not is_decimal(text):
        raise ApiError("BadRequest", f'invalid resource version "{text}"')
    return int(text) if text else 0


def _finalizers(obj: dict[str, Any]) -> list:
    return list((obj.get("metadata") or {}).get("finalizers") or [])


def _blocked_by_finalizers(resource: ResourceType, obj: dict[str, Any]) -> bool:
    if _finalizers(obj):
        return True
    return resource.kind == "Namespace" and bool((obj.get("spec") or {}).get("finalizers"))


class Persist:
    """What the persist step does for one request: a closure over the storage call."""

    def __init__(self, run) -> None:
        self.run = run


class Writes:
    def __init__(self, server: Any) -> None:
        self.server = server

    def serve(self, ctx: Context) -> Effects:
        info = ctx.info
        handler = {"status": self.update_status, "scale": self.update_scale, "binding": self.bind,
                   "finalize": self.finalize}.get(info.subresource) if info.subresource else None
        if handler is not None:
            return (yield from handler(ctx))
        return (yield from getattr(self, info.verb)(ctx))

    # ----- the body -----------------------------------------------------------------------

    def object_from_body(self, ctx: Context, resource: ResourceType) -> dict[str, Any]:
        body = decode_body(ctx)
        if not isinstance(body, dict):
            raise ApiError("BadRequest", f"the request body must be a {resource.kind} object")
        check_types(resource, body, ctx.info.subresource if ctx.info.subresource in ("scale", "binding") else "")
        if body.get("apiVersion", resource.api_version) != resource.api_version or \
                body.get("kind", resource.kind) != resource.kind:
            raise ApiError("BadRequest", f"the API version in the data ({body.get('apiVersion')}) and kind "
                                         f"({body.get('kind')}) do not match {resource.api_version} {resource.kind}")
        meta = body.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise ApiError("BadRequest", "metadata must be an object")
        body["apiVersion"], body["kind"] = resource.api_version, resource.kind
        self._place(ctx, resource, meta)
        return body

    @staticmethod
    def _place(ctx: Context, resource: ResourceType, meta: dict[str, Any]) -> None:
        namespace = ctx.info.namespace
        if resource.namespaced:
            if meta.get("namespace") not in (None, "", namespace):
                raise ApiError("BadRequest", "the namespace of the provided object does not match the namespace "
                                             "sent on the request")
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        if ctx.info.name and meta.get("name") not in (None, "", ctx.info.name):
            raise ApiError("BadRequest", f"the name of the object ({meta.get('name')}) does not match the name on "
                                         f"the URL ({ctx.info.name})")
        if ctx.info.name:
            meta["name"] = ctx.info.name

    def attributes(self, ctx: Context, operation: str, obj: dict | None, old: dict | None) -> AdmissionAttributes:
        info = ctx.info
        name = (obj or old or {}).get("metadata", {}).get("name", "") or info.name
        return AdmissionAttributes(operation, info.resource, info.subresource, info.namespace, name, ctx.user,
                                   obj, old, self.server.now)

    # ----- the steps ----------------------------------------------------------------------

    def write_steps(self, operation: str, resource: ResourceType) -> list[str]:
        """Every step of a write, in kube-apiserver's order (the escalation check exists in the
        RBAC registries only)."""
        admission = self.server.admission
        mutating = [f"mutating:{p.name}" for p in admission.mutating]  # DELETE too (delete.go admits it)
        escalation = ["escalation"] if resource.group == "rbac.authorization.k8s.io" else []
        validation = escalation + ["validation"] if operation != "DELETE" else []
        return mutating + validation + [f"validating:{p.name}" for p in admission.validating] + ["persist"]

    def run_steps(self, ctx: Context, attributes: AdmissionAttributes, persist: Persist) -> Effects:
        """Every step in order; what the persist step returned. Admission reads the instance's
        caches (webhook configurations, namespaces, limit ranges...): until they have synced,
        a write is refused, as kube's plugins do (``WaitForReady``: "not yet ready to handle
        request")."""
        if not self.server.ready():
            raise ApiError.forbidden(attributes.resource.plural, attributes.name,
                                     "not yet ready to handle request", attributes.resource.group)
        persisted = None
        for step in self.write_steps(attributes.operation, attributes.resource):
            result = yield from self.run_step(ctx, attributes, step, persist)
            if step == "persist":
                persisted = result
        return persisted

    def run_step(self, ctx: Context, attributes: AdmissionAttributes, step: str, persist: Persist) -> Effects:
        now = self.server.now
        try:
            if step == "persist":
                result = yield from persist.run(attributes)
                if result is None:  # the object moved on since it was read: nothing was written
                    ctx.audit.step("persist", "conflict", "the object changed since it was read", now)
                else:
                    ctx.audit.step("persist", "ok", f"revision {ctx.audit.persisted_revision}", now)
                return result
            outcome = yield from self.admission_step(ctx, attributes, step)
        except ApiError as error:
            ctx.audit.step(step, "refused", error.message, self.server.now)
            self._count(attributes, step, True)
            raise
        ctx.audit.step(step, outcome, "", now)
        if outcome != "skipped":
            self._count(attributes, step, False)
        yield from self.server.admission.reinvoke_if_needed(ctx, attributes)
        return None

    def _count(self, attributes: AdmissionAttributes, step: str, rejected: bool) -> None:
        kind, _, plugin = step.partition(":")
        if plugin:
            metrics = self.server.metrics
            metrics.child(metrics.admission, attributes.operation, plugin, kind, str(rejected).lower()).inc()

    def admission_step(self, ctx: Context, attributes: AdmissionAttributes, step: str) -> Effects:
        """Run one step; "ok", "changed" or "skipped" (the plugin does not handle this request)."""
        if step == "validation":
            self.validate(ctx, attributes)
            return "ok"
        if step == "escalation":
            return self.server.escalation.check(attributes)
        phase, _, name = step.partition(":")
        admission = self.server.admission
        plugin = admission.plugin(phase, name)
        if name in admission.async_steps:
            return (yield from admission.run_async(ctx, attributes, phase, plugin))
        if not plugin.handles(attributes):
            return "skipped"
        lookup = self.server.lookup(ctx)
        if phase == "mutating":
            before = clone(attributes.object)
            plugin.admit(attributes, lookup)
            return "changed" if attributes.object != before else "ok"
        plugin.validate(attributes, lookup)
        return "ok"

    def validate(self, ctx: Context, attributes: AdmissionAttributes) -> None:
        """``BeforeCreate`` / ``BeforeUpdate``: the server's own fields, then the schema."""
        resource, obj, old = attributes.resource, attributes.object, attributes.old_object
        if attributes.operation == "CREATE":
            prepare_for_create(resource, obj, self.server.now, self.server.rng)
            attributes.name = obj["metadata"].get("name", "")
            causes = validate_create(resource, obj)
        else:
            prepare_for_update(resource, attributes.subresource, obj, old)
            # binding, scale and finalize change one field, which their handlers checked
            causes = validate_update(resource, obj, old) if attributes.subresource in ("", "status") else []
        if causes:
            raise ApiError.invalid(resource.kind, obj["metadata"].get("name", ""), tuple(causes), resource.group)

    # ----- create -------------------------------------------------------------------------

    def create(self, ctx: Context) -> Effects:
        resource = ctx.info.resource
        obj = self.object_from_body(ctx, resource)
        if not obj["metadata"].get("name") and not obj["metadata"].get("generateName"):
            raise ApiError.invalid(resource.kind, "", (("metadata.name", "Required value: name or generateName is "
                                                        "required"),), resource.group)
        apply_defaults(resource, obj)
        if resource.namespaced:  # NamespaceLifecycle's live lookup: is the namespace terminating?
            yield from self.server.rest.fresh_get(ctx, "namespaces", "", ctx.info.namespace)
        attributes = self.attributes(ctx, "CREATE", obj, None)
        created = yield from self.run_steps(ctx, attributes, Persist(lambda a: self.persist_create(ctx, a)))
        return Reply(201, created)

    def persist_create(self, ctx: Context, attributes: AdmissionAttributes) -> Effects:
        obj = attributes.object
        meta = obj["metadata"]
        store = ObjectStore(attributes.resource)
        created = yield from store.create(meta.get("namespace", ""), meta["name"], obj)
        ctx.audit.persisted_revision = _rv(created)
        return created

    # ----- update and patch ---------------------------------------------------------------

    def update(self, ctx: Context) -> Effects:
        new = self.object_from_body(ctx, ctx.info.resource)
        apply_defaults(ctx.info.resource, new)
        precondition = _rv(new)
        result = yield from self.guaranteed_update(ctx, precondition, lambda current: clone(new))
        return result

    def patch(self, ctx: Context) -> Effects:
        body = ctx.request.body
        content_type = next((v for k, v in ctx.request.headers if k.lower() == "content-type"), "")
        resource = ctx.info.resource
        precondition = self._patch_precondition(body)

        def patched(current: dict[str, Any]) -> dict[str, Any]:
            obj = apply_patch(current, body, content_type.split(";")[0].strip(), resource.kind)
            if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict):
                raise ApiError("BadRequest", "the patch must leave an object with metadata")
            check_types(resource, obj)
            obj["apiVersion"], obj["kind"] = resource.api_version, resource.kind
            self._place(ctx, resource, obj["metadata"])
            return obj
        return (yield from self.guaranteed_update(ctx, precondition, patched))

    @staticmethod
    def _patch_precondition(body: bytes) -> int:
        """A patch that sets metadata.resourceVersion makes it a precondition, as kube does."""
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return 0  # the patch itself answers 400 when applied
        meta = data.get("metadata") if isinstance(data, dict) else None
        return _rv({"metadata": meta}) if isinstance(meta, dict) else 0

    def guaranteed_update(self, ctx: Context, precondition: int, transform) -> Effects:
        """kube's Cacher.GuaranteedUpdate: start from the instance's watch-cache copy (no read of
        the store), and read the store only when that copy may be why the request failed: a
        resourceVersion that does not match, a step that refused, or a write that lost its race."""
        info = ctx.info
        store = ObjectStore(info.resource)
        current, is_current = self.cached_copy(info), False
        if current is None:
            current, is_current = (yield from store.get(info.namespace, info.name))[0], True
        for _ in range(UPDATE_ATTEMPTS_MAX):
            if current is None:
                raise ApiError.not_found(info.plural, info.name, info.group)
            if precondition and _rv(current) != precondition:
                if is_current:
                    raise store.conflict(info.name)
                current, is_current = (yield from store.get(info.namespace, info.name))[0], True
                continue
            try:
                written = yield from self.update_once(ctx, current, transform)
            except ApiError:
                if is_current:
                    raise
                stale_rv = _rv(current)
                current, is_current = (yield from store.get(info.namespace, info.name))[0], True
                if current is not None and _rv(current) == stale_rv:
                    raise  # the copy was not stale: its refusal stands
                ctx.audit.step("retry", "stale", "refused on a cached copy that was stale; starting over",
                               self.server.now)
                continue
            if written is not None:
                return Reply(200, written.last if isinstance(written, Deleted) else written)
            if precondition:
                raise store.conflict(info.name)
            ctx.audit.step("retry", "conflict", "the object changed since it was read; starting over",
                           self.server.now)
            current, is_current = (yield from store.get(info.namespace, info.name))[0], True
        raise ApiError.conflict(info.plural, info.name, "too many concurrent writers; try again", info.group)

    def cached_copy(self, info: Any) -> dict[str, Any] | None:
        """The watch cache's copy of the object, if the cache has synced and holds it."""
        cache = self.server.cache(info.resource)
        cached = cache.get(key_of(info.resource, info.namespace, info.name)) if cache.ready else None
        return clone(cached) if cached is not None else None

    def update_once(self, ctx: Context, current: dict[str, Any], transform) -> Effects:
        """The steps on ``current`` transformed; what was written, or None if it moved on."""
        new = transform(current)
        attributes = self.attributes(ctx, "UPDATE", new, current)
        return (yield from self.run_steps(ctx, attributes, Persist(
            lambda a: self.persist_update(ctx, a, current))))

    def persist_update(self, ctx: Context, attributes: AdmissionAttributes, current: dict[str, Any]) -> Effects:
        """Write if the object is still at the revision read; None when it moved on. An object
        being deleted whose last finalizer this update removes is deleted instead."""
        obj, info = attributes.object, ctx.info
        store = ObjectStore(info.resource)
        meta = obj["metadata"]
        # kube's shouldDeleteDuringUpdate: no finalizer left and no grace period running (a pod on
        # a node waits for its kubelet)
        if meta.get("deletionTimestamp") and not _blocked_by_finalizers(info.resource, obj) \
                and not meta.get("deletionGracePeriodSeconds"):
            revision = yield from store.delete_if_unchanged(info.namespace, info.name, _rv(current))
            if revision is None:
                return None
            ctx.audit.persisted_revision = revision
            return Deleted(revision, obj)
        written = yield from store.write_if_unchanged(info.namespace, info.name, obj, _rv(current))
        if written is not None:
            ctx.audit.persisted_revision = _rv(written)
        return written

    # ----- delete -------------------------------------------------------------------------

    def delete(self, ctx: Context) -> Effects:
        options = self._delete_options(ctx)
        info = ctx.info
        result = yield from self.delete_one(ctx, info.namespace, info.name, options)
        return result

    def _delete_options(self, ctx: Context) -> dict[str, Any]:
        options = decode_body(ctx) if ctx.request.body else {}
        if not isinstance(options, dict):
            raise ApiError("BadRequest", "the request body must be DeleteOptions")
        check_delete_options(options)
        grace = ctx.request.query_value("gracePeriodSeconds")
        if grace is not None:
            if not is_decimal(grace.removeprefix("-")):
                raise ApiError("BadRequest", f'invalid gracePeriodSeconds "{grace}"')
            options["gracePeriodSeconds"] = int(grace)
        policy = ctx.request.query_value("propagationPolicy") or options.get("propagationPolicy")
        if policy not in (None, "Orphan", "Background", "Foreground"):
            raise ApiError("BadRequest", f'propagationPolicy "{policy}" is not one of Orphan, Background, Foreground')
        options["propagationPolicy"] = policy
        return options

    def delete_one(self, ctx: Context, namespace: str, name: str, options: dict[str, Any]) -> Effects:
        """The store's conditionalDelete: read, check the preconditions, delete (or mark) only
        if the object is still as read; if someone wrote in between, start over with what they
        wrote (a changed resourceVersion is a conflict only when the delete named one)."""
        info = ctx.info
        store = ObjectStore(info.resource)
        for _ in range(UPDATE_ATTEMPTS_MAX):
            current, _ = yield from store.get(namespace, name)
            if current is None:
                raise ApiError.not_found(info.plural, name, info.group)
            self._check_preconditions(ctx, current, options)
            attributes = self.attributes(ctx, "DELETE", None, current)
            attributes.name = name
            result = yield from self.run_steps(ctx, attributes, Persist(
                lambda a, current=current: self.persist_delete(ctx, current, options)))
            if result is not None:
                return result
            ctx.audit.step("retry", "conflict", "the object changed since it was read; starting over",
                           self.server.now)
        raise ApiError.conflict(info.plural, name, "too many concurrent writers; try again", info.group)

    def _check_preconditions(self, ctx: Context, current: dict[str, Any], options: dict[str, Any]) -> None:
        preconditions = options.get("preconditions") or {}
        if not isinstance(preconditions, dict):
            raise ApiError("BadRequest", "preconditions must be an object")
        meta = current["metadata"]
        wanted_uid, wanted_rv = preconditions.get("uid"), preconditions.get("resourceVersion")
        if wanted_uid and wanted_uid != meta.get("uid") or wanted_rv and str(wanted_rv) != meta.get("resourceVersion"):
            raise ApiError.conflict(ctx.info.plural, meta["name"], "Precondition failed: the object's uid or "
                                    "resourceVersion differs from the one given", ctx.info.group)

    def graceful(self, resource: ResourceType, obj: dict[str, Any], options: dict[str, Any]) -> bool:
        """A pod on a node is deleted gracefully (its kubelet confirms); others at once."""
        if resource.kind != "Pod" or not (obj.get("spec") or {}).get("nodeName"):
            return False
        grace = options.get("gracePeriodSeconds", (obj.get("spec") or {}).get("terminationGracePeriodSeconds", 30))
        return bool(grace) and grace > 0

    def persist_delete(self, ctx: Context, current: dict[str, Any], options: dict[str, Any]) -> Effects:
        info = ctx.info
        meta = current["metadata"]
        store = ObjectStore(info.resource)
        marked = self._marked_for_deletion(info.resource, current, options)
        if marked is not None:
            if marked is current:
                return Reply(200, current)  # already being deleted: nothing changes
            written = yield from store.write_if_unchanged(meta.get("namespace", ""), meta["name"], marked, _rv(current))
            if written is None:
                return None  # changed since it was read: delete_one starts over
            ctx.audit.persisted_revision = _rv(written)
            return Reply(200, written)
        revision = yield from store.delete_if_unchanged(meta.get("namespace", ""), meta["name"], _rv(current))
        if revision is None:
            return None
        ctx.audit.persisted_revision = revision
        return Reply(200, success_status({"name": meta["name"], "group": info.group, "kind": info.plural,
                                          "uid": meta.get("uid", "")}))

    def _marked_for_deletion(self, resource: ResourceType, current: dict[str, Any],
                             options: dict[str, Any]) -> dict[str, Any] | None:
        """The object with its deletionTimestamp set, if it cannot go at once (finalizers, a
        namespace's content, a running pod's grace period); ``current`` itself if it is already
        marked and this delete changes nothing; None if it can be deleted now."""
        if current["metadata"].get("deletionTimestamp"):
            return self._shortened_grace(resource, current, options)
        policy = options.get("propagationPolicy")
        extra = {"Foreground": "foregroundDeletion", "Orphan": "orphan"}.get(policy or "")
        if not (_blocked_by_finalizers(resource, current) or extra or self.graceful(resource, current, options)):
            return None
        marked = clone(current)
        meta = marked["metadata"]
        meta["deletionTimestamp"] = timestamp(self.server.now)
        graceful = self.graceful(resource, current, options)
        default_grace = (current.get("spec") or {}).get("terminationGracePeriodSeconds", 30) if graceful else 0
        meta["deletionGracePeriodSeconds"] = int(options.get("gracePeriodSeconds", default_grace) or 0)
        if extra and extra not in meta.get("finalizers", []):
            meta["finalizers"] = [*meta.get("finalizers", []), extra]
        if resource.kind == "Namespace":
            marked.setdefault("status", {})["phase"] = "Terminating"
        return marked

    @staticmethod
    def _shortened_grace(resource: ResourceType, current: dict[str, Any], options: dict[str, Any]) -> dict[str, Any] | None:
        """A delete of an object already being deleted (rest.BeforeDelete): only a shorter grace
        period changes anything. It replaces the one running, and 0 deletes the object now unless
        finalizers hold it (a kubelet confirming a pod's end, or ``kubectl delete --force``)."""
        grace = options.get("gracePeriodSeconds")
        running = current["metadata"].get("deletionGracePeriodSeconds")
        if grace is None or (running is not None and running <= grace):
            return current
        if grace == 0 and not _blocked_by_finalizers(resource, current):
            return None
        shortened = clone(current)
        shortened["metadata"]["deletionGracePeriodSeconds"] = int(grace)
        return shortened

    def deletecollection(self, ctx: Context) -> Effects:
        options = self._delete_options(ctx)
        listed = yield from self.server.rest.list(ctx)
        deleted = []
        for item in listed.body["items"]:
            meta = item["metadata"]
            try:
                yield from self.delete_one(ctx, meta.get("namespace", ""), meta["name"], options)
            except ApiError as error:
                if error.code != 404:  # gone meanwhile: nothing left to delete
                    raise
            deleted.append(item)
        return Reply(200, {**listed.body, "items": deleted})

    # ----- subresources -------------------------------------------------------------------

    def update_status(self, ctx: Context) -> Effects:
        if ctx.info.verb == "patch":
            return (yield from self.patch(ctx))
        return (yield from self.update(ctx))

    def finalize(self, ctx: Context) -> Effects:
        """namespaces/NAME/finalize: only spec.finalizers changes; a terminating namespace
        whose last finalizer goes is deleted."""
        new = self.object_from_body(ctx, ctx.info.resource)
        wanted = list((new.get("spec") or {}).get("finalizers") or [])

        def finalized(current: dict[str, Any]) -> dict[str, Any]:
            obj = clone(current)
            obj.setdefault("spec", {})["finalizers"] = wanted
            return obj
        return (yield from self.guaranteed_update(ctx, _rv(new), finalized))

    def get_scale(self, ctx: Context) -> Effects:
        info = ctx.info
        obj, _ = yield from ObjectStore(info.resource).get(info.namespace, info.name)
        if obj is None:
            raise ApiError.not_found(info.plural, info.name, info.group)
        return Reply(200, scale_of(obj))

    def update_scale(self, ctx: Context) -> Effects:
        body = decode_body(ctx)
        if ctx.info.verb != "patch" and isinstance(body, dict):
            check_types(ctx.info.resource, body, "scale")
        if ctx.info.verb == "patch":
            body = (body.get("spec") or {}) if isinstance(body, dict) else None
            replicas = body.get("replicas") if isinstance(body, dict) else None
            precondition = 0
        else:
            if not isinstance(body, dict) or not isinstance(body.get("spec"), dict):
                raise ApiError("BadRequest", "the request body must be an autoscaling/v1 Scale")
            replicas = body["spec"].get("replicas")
            precondition = _rv(body)
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise ApiError.invalid("Scale", ctx.info.name, (("spec.replicas", "must be a non-negative integer"),),
                                   "autoscaling")

        def scaled(current: dict[str, Any]) -> dict[str, Any]:
            obj = clone(current)
            obj.setdefault("spec", {})["replicas"] = replicas
            return obj
        reply = yield from self.guaranteed_update(ctx, precondition, scaled)
        return Reply(reply.code, scale_of(reply.body))

    def bind(self, ctx: Context) -> Effects:
        """pods/NAME/binding: set spec.nodeName once (409 if the pod is already bound)."""
        body = decode_body(ctx)
        if isinstance(body, dict):
            check_types(ctx.info.resource, body, "binding")
        target = body.get("target") if isinstance(body, dict) else None
        node = target.get("name") if isinstance(target, dict) else None
        if not isinstance(node, str) or not node:
            raise ApiError.invalid("Binding", ctx.info.name, (("target.name", "Required value"),))

        def bound(current: dict[str, Any]) -> dict[str, Any]:
            """setPodHostAndAnnotations: once, never to a pod being deleted, and PodScheduled."""
            already = (current.get("spec") or {}).get("nodeName")
            if current["metadata"].get("deletionTimestamp"):
                raise ApiError.conflict("pods/binding", ctx.info.name,
                                        f"pod {ctx.info.name} is being deleted, cannot be assigned to a host")
            if already:
                raise ApiError.conflict("pods/binding", ctx.info.name,
                                        f"pod {ctx.info.name} is already assigned to node \"{already}\"")
            obj = clone(current)
            obj.setdefault("spec", {})["nodeName"] = node
            _set_pod_condition(obj, "PodScheduled", "True", timestamp(self.server.now))
            return obj
        reply = yield from self.guaranteed_update(ctx, 0, bound)
        return Reply(201, success_status())


def _set_pod_condition(pod: dict[str, Any], kind: str, status: str, now: str) -> None:
    """podutil.UpdatePodCondition: replace the condition of that type; its transition time
    moves only when its status changes."""
    conditions = pod.setdefault("status", {}).setdefault("conditions", [])
    old = next((c for c in conditions if c.get("type") == kind), None)
    changed = old is None or old.get("status") != status
    condition = {"type": kind, "status": status, "lastProbeTime": None,
                 "lastTransitionTime": now if changed else old.get("lastTransitionTime")}
    if old is None:
        conditions.append(condition)
    else:
        conditions[conditions.index(old)] = condition


def scale_of(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    selector = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {"name": meta["name"], "namespace": meta.get("namespace", ""),
                         "resourceVersion": meta.get("resourceVersion", ""), "uid": meta.get("uid", "")},
            "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
            "status": {"replicas": (obj.get("status") or {}).get("replicas", 0),
                       "selector": ",".join(f"{k}={v}" for k, v in sorted(selector.items()))}}
