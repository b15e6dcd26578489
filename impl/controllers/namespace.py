"""The namespace controller: a namespace being deleted is emptied, then released.

Deleting a namespace only marks it: the API server sets its ``deletionTimestamp`` and
``status.phase: Terminating`` and keeps it while ``spec.finalizers`` holds ``kubernetes``
(impl/apiserver/writes.py, ``_marked_for_deletion``). This controller owns that finalizer.
Sources: kube ``pkg/controller/namespace/namespace_controller.go`` and
``deletion/namespaced_resources_deleter.go``, ``status_condition_utils.go``.

Rules kept:

- Only namespaces with a ``deletionTimestamp`` are queued. A reconcile reads the namespace
  live (a quorum GET: several controllers edit a terminating namespace), does nothing if it is
  gone or not being deleted, sets ``phase: Terminating`` through ``status`` if it is not yet,
  and does nothing once ``spec.finalizers`` is empty.
- Every namespaced resource type (``NAMESPACED_RESOURCES``, from the served types) in sorted
  order: for pods, first an estimate of the graceful termination left (the largest
  ``terminationGracePeriodSeconds`` of the pods not Succeeded or Failed); then one
  ``deletecollection`` with ``propagationPolicy: Background`` (so the API server adds no
  ``orphan`` finalizer: everything goes), or, where the server answers 404 or 405 to it, a
  list and one delete per item; then a list to verify. What remains is counted by type and by
  finalizer. Remaining items of a type with an estimate wait for it; remaining items with
  finalizers wait ``FINALIZER_ESTIMATE_TICKS`` (15 s, for the garbage collector); remaining
  items with neither are an error ("unexpected items still remain").
- The five deletion conditions are kept in ``status.conditions`` after every pass, written
  only when one changed: ``NamespaceDeletionDiscoveryFailure`` and
  ``NamespaceDeletionGroupVersionParsingFailure`` (always False here: the types are known),
  ``NamespaceDeletionContentFailure`` (True with ``ContentDeletionFailed`` when a type failed),
  ``NamespaceContentRemaining`` (``SomeResourcesRemain``: "pods. has 2 resource instances")
  and ``NamespaceFinalizersRemaining`` (``SomeFinalizerRemain``); the False variants carry the
  kube reasons ``ResourcesDiscovered``, ``ParsedGroupVersions``, ``ContentDeleted``,
  ``ContentRemoved``. A failed condition write is ignored, as kube's HandleError does.
- Errors requeue with the workqueue's backoff; content that remains with an estimate requeues
  after ``estimate // 2 + 1`` ticks (kube's ``ResourcesRemainingError``). When nothing
  remains, the ``kubernetes`` finalizer is removed through ``namespaces/NAME/finalize``
  (retried on conflict with a fresh read, giving up if the UID changed); the API server then
  deletes the namespace.

Left out: the 5 s delay before each event is processed (``namespaceDeletionGracePeriod``,
for HA API servers' admission caches to see the deletion; the workqueue mapping here cannot
delay, and the reference NamespaceLifecycle reads the namespace from storage on every create);
the cut-off of the pod estimate once the namespace has been terminating longer than it (a
reconcile has no clock); discovery (the types are the served ones); and the conditions'
``lastTransitionTime`` (no clock either).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import attrs

from impl.apiserver.resources import RESOURCES, ResourceType
from impl.controllers.api import Answer, Call, Request, Result, Watch
from impl.controllers.api import meta as _meta

__all__ = ["NamespaceController", "NAMESPACED_RESOURCES", "FINALIZER_TOKEN", "FINALIZER_ESTIMATE_TICKS",
           "CONDITION_TYPES", "ContentLeft"]

FINALIZER_TOKEN = "kubernetes"
FINALIZER_ESTIMATE_TICKS = 15  # finalizerEstimateSeconds
CONFLICT_RETRIES_MAX = 5  # kube retries without bound; a reconcile here gives up and requeues
NAMESPACED_RESOURCES: tuple[ResourceType, ...] = tuple(sorted((r for r in RESOURCES if r.namespaced),
                                                              key=lambda r: r.qualified))

# type -> (reason, message) when all is well (okReasons, okMessages)
CONDITION_TYPES: dict[str, tuple[str, str]] = {
    "NamespaceDeletionDiscoveryFailure": ("ResourcesDiscovered", "All resources successfully discovered"),
    "NamespaceDeletionGroupVersionParsingFailure": ("ParsedGroupVersions", "All legacy kube types successfully parsed"),
    "NamespaceDeletionContentFailure": ("ContentDeleted", "All content successfully deleted, may be waiting on "
                                                          "finalization"),
    "NamespaceContentRemaining": ("ContentRemoved", "All content successfully removed"),
    "NamespaceFinalizersRemaining": ("ContentRemoved", "All content successfully removed"),
}

Steps = Generator[Call, Answer, Any]


@attrs.define
class ContentLeft:
    """What one pass over the namespace's content found: the longest wait expected, the
    errors, and what remains by type and by finalizer."""

    estimate_ticks: int = 0
    errors: list[str] = attrs.Factory(list)
    remaining_by_type: dict[str, int] = attrs.Factory(dict)  # "pods." -> count ("deployments.apps")
    remaining_by_finalizer: dict[str, int] = attrs.Factory(dict)


def _being_deleted(obj: dict[str, Any] | None, cache: Any = None) -> list[Request]:
    """enqueueNamespace: only a namespace with a deletionTimestamp is queued."""
    if obj is None or not _meta(obj).get("deletionTimestamp"):
        return []
    return [Request("", _meta(obj).get("name", ""))]


def _error_message(answer: Answer) -> str:
    body = answer.body if isinstance(answer.body, dict) else {}
    return body.get("message") or ("no answer in time" if answer.unknown else f"code {answer.code}")


class NamespaceController:
    name = "namespace"
    watches = (Watch("namespaces", enqueue=_being_deleted),)
    resources: tuple[ResourceType, ...] = NAMESPACED_RESOURCES
    finalizer_token = FINALIZER_TOKEN

    def reconcile(self, request: Request, cache: Any, client: Any) -> Steps:
        if cache.get("namespaces", "", request.name) is None:
            return Result()  # gone from the cache: deleted already
        answer = yield client.get("namespaces", "", request.name)
        if answer.not_found:
            return Result()
        if not answer.ok:
            return Result(requeue=True)
        namespace = answer.body
        if not _meta(namespace).get("deletionTimestamp"):
            return Result()
        namespace = yield from self.ensure_terminating(namespace, client)
        if namespace is None:
            return Result(requeue=True)
        if self.finalized(namespace):
            return Result()
        left = yield from self.delete_all_content(namespace["metadata"]["name"], client)
        namespace = yield from self.update_conditions(namespace, left, client)
        if left.errors:
            return Result(requeue=True)
        if left.estimate_ticks > 0:
            return Result(requeue_after=self.requeue_ticks(left.estimate_ticks))
        finalized = yield from self.finalize(namespace, client)
        return Result() if finalized else Result(requeue=True)

    # ----- the namespace itself -----------------------------------------------------------

    @staticmethod
    def finalized(namespace: dict[str, Any]) -> bool:
        return not (namespace.get("spec") or {}).get("finalizers")

    @staticmethod
    def requeue_ticks(estimate_ticks: int) -> int:
        return estimate_ticks // 2 + 1

    def ensure_terminating(self, namespace: dict[str, Any], client: Any) -> Steps:
        """updateNamespaceStatusFunc: phase Terminating; the namespace as written (None on failure)."""
        def terminating(current: dict[str, Any]) -> Call | None:
            if (current.get("status") or {}).get("phase") == "Terminating":
                return None
            return client.update_status("namespaces", {**current, "status": {**(current.get("status") or {}),
                                                                              "phase": "Terminating"}})
        answer = yield from self.retry_on_conflict(namespace, terminating, client)
        return answer.body if answer is not None and answer.ok else None

    def finalize(self, namespace: dict[str, Any], client: Any) -> Steps:
        """finalizeNamespace: spec.finalizers without our token, through the finalize subresource."""
        def released(current: dict[str, Any]) -> Call:
            spec = current.get("spec") or {}
            wanted = sorted(set(spec.get("finalizers") or ()) - {self.finalizer_token})
            return client.update("namespaces", {**current, "spec": {**spec, "finalizers": wanted}}, "finalize")
        answer = yield from self.retry_on_conflict(namespace, released, client)
        return answer is not None and (answer.ok or answer.not_found)

    def retry_on_conflict(self, namespace: dict[str, Any], write, client: Any) -> Steps:
        """retryOnConflictError: the answer to ``write(namespace)`` (a Call; None: nothing to
        write), on a conflict again with a fresh read; None if that read failed or found another
        UID, or after ``CONFLICT_RETRIES_MAX`` conflicts."""
        for _ in range(CONFLICT_RETRIES_MAX):
            call = write(namespace)
            if call is None:
                return Answer(200, namespace)
            answer = yield call
            if not answer.conflict:
                return answer
            answer = yield client.get("namespaces", "", namespace["metadata"]["name"])
            if not answer.ok or _meta(answer.body).get("uid") != namespace["metadata"].get("uid"):
                return None
            namespace = answer.body
        return None

    # ----- content ------------------------------------------------------------------------

    def delete_all_content(self, namespace: str, client: Any) -> Steps:
        left = ContentLeft()
        for resource in self.resources:
            yield from self.delete_content_of(resource, namespace, client, left)
        return left

    def delete_content_of(self, resource: ResourceType, namespace: str, client: Any, left: ContentLeft) -> Steps:
        """deleteAllContentForGroupVersionResource: estimate, delete, verify."""
        estimate = 0
        if resource.plural == "pods" and resource.group == "":
            estimate = yield from self.estimate_pods(namespace, client)
            if estimate is None:
                left.errors.append(f"unable to estimate the graceful termination of pods in {namespace}")
                return
        failure = yield from self.delete_collection(resource, namespace, client)
        if failure:
            left.errors.append(failure)
            left.estimate_ticks = max(left.estimate_ticks, estimate)
            return
        answer = yield client.list(resource.qualified, namespace)
        if not answer.ok:
            left.errors.append(f"listing {resource.qualified} in {namespace}: {_error_message(answer)}")
            left.estimate_ticks = max(left.estimate_ticks, estimate)
            return
        self.count_remaining(resource, namespace, answer.body.get("items") or [], estimate, left)

    def count_remaining(self, resource: ResourceType, namespace: str, items: list[dict[str, Any]],
                        estimate: int, left: ContentLeft) -> None:
        if not items:
            return
        left.remaining_by_type[f"{resource.plural}.{resource.group}"] = len(items)
        finalizers: dict[str, int] = {}
        for item in items:
            for finalizer in _meta(item).get("finalizers") or ():
                finalizers[finalizer] = finalizers.get(finalizer, 0) + 1
        for finalizer, count in finalizers.items():
            left.remaining_by_finalizer[finalizer] = left.remaining_by_finalizer.get(finalizer, 0) + count
        if estimate:
            left.estimate_ticks = max(left.estimate_ticks, estimate)
        elif finalizers:
            left.estimate_ticks = max(left.estimate_ticks, FINALIZER_ESTIMATE_TICKS)
        else:
            left.errors.append(f"unexpected items still remain in namespace: {namespace} for gvr: "
                               f"{resource.api_version}, Resource={resource.plural}")

    def estimate_pods(self, namespace: str, client: Any) -> Steps:
        """estimateGracefulTerminationForPods: the longest grace period of a pod still running."""
        answer = yield client.list("pods", namespace)
        if not answer.ok:
            return None
        estimate = 0
        for pod in answer.body.get("items") or []:
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
            if isinstance(grace, int) and grace > estimate:
                estimate = grace
        return estimate

    def delete_collection(self, resource: ResourceType, namespace: str, client: Any) -> Steps:
        """deleteCollection, or deleteEachItem where it is not served; an error message or ""."""
        answer = yield Call("deletecollection", "DELETE", resource.path(namespace), body=self.delete_options(),
                            what=f"{resource.plural} in {namespace}")
        if answer.ok:
            return ""
        if answer.code not in (404, 405):
            return f"deleting {resource.qualified} in {namespace}: {_error_message(answer)}"
        return (yield from self.delete_each_item(resource, namespace, client))

    def delete_each_item(self, resource: ResourceType, namespace: str, client: Any) -> Steps:
        answer = yield client.list(resource.qualified, namespace)
        if answer.code in (404, 405):
            return ""  # not listable either: nothing the controller can do
        if not answer.ok:
            return f"listing {resource.qualified} in {namespace}: {_error_message(answer)}"
        for item in answer.body.get("items") or []:
            deleted = yield client.delete(resource.qualified, namespace, _meta(item)["name"], propagation="Background")
            if not (deleted.ok or deleted.code in (404, 405)):
                return f"deleting {resource.qualified} {namespace}/{_meta(item)['name']}: {_error_message(deleted)}"
        return ""

    @staticmethod
    def delete_options() -> dict[str, Any]:
        """Background: the API server must not add the orphan finalizer to what the namespace holds."""
        return {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}

    # ----- conditions ---------------------------------------------------------------------

    def conditions_for(self, left: ContentLeft) -> dict[str, dict[str, str]]:
        """namespaceConditionUpdater: each condition type, failing or its ok variant."""
        wanted = {kind: {"type": kind, "status": "False", "reason": reason, "message": message}
                  for kind, (reason, message) in CONDITION_TYPES.items()}
        if left.errors:
            wanted["NamespaceDeletionContentFailure"] = {
                "type": "NamespaceDeletionContentFailure", "status": "True", "reason": "ContentDeletionFailed",
                "message": f"Failed to delete all resource types, {len(left.errors)} remaining: "
                           f"{', '.join(sorted(left.errors))}"}
        if left.remaining_by_type:
            listed = sorted(f"{kind} has {n} resource instances" for kind, n in left.remaining_by_type.items())
            wanted["NamespaceContentRemaining"] = {
                "type": "NamespaceContentRemaining", "status": "True", "reason": "SomeResourcesRemain",
                "message": f"Some resources are remaining: {', '.join(listed)}"}
        if left.remaining_by_finalizer:
            listed = sorted(f"{f} in {n} resource instances" for f, n in left.remaining_by_finalizer.items())
            wanted["NamespaceFinalizersRemaining"] = {
                "type": "NamespaceFinalizersRemaining", "status": "True", "reason": "SomeFinalizerRemain",
                "message": f"Some finalizers are remaining: {', '.join(listed)}"}
        return wanted

    def update_conditions(self, namespace: dict[str, Any], left: ContentLeft, client: Any) -> Steps:
        """Write the conditions if one changed; the namespace as it now stands (as read if the
        write failed: kube only logs that)."""
        status = namespace.setdefault("status", {})
        conditions = [dict(c) for c in status.get("conditions") or []]
        changed = False
        for kind, condition in self.conditions_for(left).items():
            old = next((c for c in conditions if c.get("type") == kind), None)
            if old is None:
                conditions.append(condition)
                changed = True
            elif any(old.get(field) != condition[field] for field in ("status", "reason", "message")):
                old.update(condition)
                changed = True
        if not changed:
            return namespace
        answer = yield client.update_status("namespaces", {**namespace, "status": {**status, "conditions": conditions}})
        return answer.body if answer.ok else namespace
