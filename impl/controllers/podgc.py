"""The pod garbage collector: pods bound to a node that no longer exists are deleted.

When a Node object is deleted (the machine is gone: ``kubectl delete node``, a cloud provider's
node controller), nothing will ever run or report its pods again; they would stay ``Running`` in
the store forever and their ReplicaSet would count them. Source: kube
``pkg/controller/podgc/gc_controller.go`` (``gcOrphaned``, ``gcUnscheduledTerminating``).

Rules kept:

- A pod bound to a node missing from the node cache is *quarantined* for ``QUARANTINE_TICKS``
  (40 s, kube's ``quarantineTime``) from when this process first saw the node missing: a node
  deleted and re-registered in that time keeps its pods. Then the node's absence is confirmed
  with a live GET (the cache may be behind a node that was just created) and the pod is deleted
  at once (grace period 0: no kubelet is left to confirm a graceful end), guarded by its UID.
- A pod being deleted that was never bound has no kubelet to finish it: deleted at once too.

Left out: ``gcTerminated`` (the cap of 12,500 finished pods) and the out-of-service taint; kube
also sets a ``DisruptionTarget`` condition before deleting, which nothing here reads.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from impl.controllers.api import Answer, Call, Request, Result, Watch, request_for
from impl.controllers.api import meta as _meta

__all__ = ["PodGarbageCollector", "QUARANTINE_TICKS"]

QUARANTINE_TICKS = 40


def _node_name(pod: dict[str, Any]) -> str:
    return (pod.get("spec") or {}).get("nodeName") or ""


class PodGarbageCollector:
    name = "pod-garbage-collector"

    def __init__(self, clock) -> None:
        self.clock = clock
        self.missing_since: dict[str, int] = {}  # node name -> when this process first saw it missing
        self.watches = (Watch("pods"), Watch("nodes", enqueue=self._pods_of_node))

    @staticmethod
    def _pods_of_node(node: dict[str, Any], cache: Any) -> list[Request]:
        name = _meta(node).get("name")
        return [request_for(pod) for pod in cache.list("pods") if _node_name(pod) == name]

    def reconcile(self, request: Request, cache: Any, client: Any) -> Generator[Call, Answer, Result]:
        pod = cache.get("pods", request.namespace, request.name)
        if pod is None:
            return Result()
        node = _node_name(pod)
        if not node:
            if _meta(pod).get("deletionTimestamp"):
                return (yield from self._delete(client, pod))
            return Result()
        if cache.get("nodes", "", node) is not None:
            self.missing_since.pop(node, None)
            return Result()
        since = self.missing_since.setdefault(node, self.clock())
        left = since + QUARANTINE_TICKS - self.clock()
        if left > 0:
            return Result(requeue_after=left)
        answer = yield client.get("nodes", "", node)
        if not answer.not_found:
            return Result(requeue=not answer.ok)  # the node exists after all: the cache was behind
        return (yield from self._delete(client, pod))

    @staticmethod
    def _delete(client: Any, pod: dict[str, Any]) -> Generator[Call, Answer, Result]:
        answer = yield client.delete("pods", _meta(pod).get("namespace", ""), _meta(pod)["name"],
                                     uid=_meta(pod).get("uid", ""), grace_period_seconds=0)
        return Result(requeue=not (answer.ok or answer.not_found or answer.conflict))
