"""An operator of the kind people write: copy one ConfigMap into every namespace that asks.

The source is ConfigMap ``settings`` in namespace ``kinv-system``. Every active namespace labelled
``kinv.dev/settings: copy`` gets a copy named ``settings`` with the same data, labelled
``kinv.dev/copied-from: kinv-system.settings`` so the operator knows which ConfigMaps are its own.
A namespace that loses the label, or a source that goes away, loses its copies.

It is level-triggered, as controller-runtime asks: ``reconcile`` is told only *which* namespace to
look at, reads what it should be from the caches, and makes it so. It never asks what event woke
it, so a missed, merged or repeated event changes nothing about where it ends up. Every decision is
one small method, so a variant can change one (``settings_copier_buggy.py``).

Written against ``impl.controllers.api``: ``cache.get/list`` read the informer caches (possibly
behind), ``yield client.create/update/delete(...)`` makes a request and resumes with its answer.
"""

from __future__ import annotations

from typing import Any

from impl.controllers.api import Answer, Request, Result, Watch

__all__ = ["SettingsCopier", "SOURCE_NAMESPACE", "SOURCE_NAME", "OPT_IN", "COPIED_FROM"]

SOURCE_NAMESPACE, SOURCE_NAME = "kinv-system", "settings"
OPT_IN = ("kinv.dev/settings", "copy")
COPIED_FROM = ("kinv.dev/copied-from", f"{SOURCE_NAMESPACE}.{SOURCE_NAME}")


def _every_namespace(obj: dict[str, Any], cache) -> list[Request]:
    """The source changed: every namespace may need its copy written or removed."""
    return [Request("", ns["metadata"]["name"]) for ns in cache.list("namespaces")]


def _namespace_of_copy(obj: dict[str, Any], cache) -> list[Request]:
    meta = obj.get("metadata") or {}
    if meta.get("namespace") == SOURCE_NAMESPACE and meta.get("name") == SOURCE_NAME:
        return _every_namespace(obj, cache)
    if (meta.get("labels") or {}).get(COPIED_FROM[0]) == COPIED_FROM[1]:
        return [Request("", meta["namespace"])]
    return []


class SettingsCopier:
    name = "settings-copier"
    watches = (Watch("namespaces"), Watch("configmaps", enqueue=_namespace_of_copy))

    def reconcile(self, request: Request, cache, client):
        namespace = request.name
        if namespace == SOURCE_NAMESPACE:
            return Result()
        wanted = self.wanted_copy(namespace, cache)
        current = cache.get("configmaps", namespace, SOURCE_NAME)
        if current is not None and not self.is_ours(current):
            return Result()  # someone else's ConfigMap of that name: never touch it
        if wanted is None:
            if current is not None:
                answer = yield client.delete("configmaps", namespace, SOURCE_NAME, uid=current["metadata"]["uid"])
                return self.after(answer)
            return Result()
        if current is None:
            answer = yield client.create("configmaps", wanted)
            return self.after(answer)
        if current.get("data") != wanted.get("data"):
            current["data"] = wanted.get("data")
            answer = yield client.update("configmaps", current)  # its resourceVersion guards it
            return self.after(answer)
        return Result()

    def wanted_copy(self, namespace: str, cache) -> dict[str, Any] | None:
        """The copy this namespace should have, or None."""
        source = cache.get("configmaps", SOURCE_NAMESPACE, SOURCE_NAME)
        ns = cache.get("namespaces", "", namespace)
        if source is None or ns is None or not self.opted_in(ns):
            return None
        return {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": SOURCE_NAME, "namespace": namespace, "labels": {COPIED_FROM[0]: COPIED_FROM[1]}},
                "data": dict(source.get("data") or {})}

    @staticmethod
    def opted_in(namespace: dict[str, Any]) -> bool:
        meta = namespace.get("metadata") or {}
        active = not meta.get("deletionTimestamp") and (namespace.get("status") or {}).get("phase", "Active") == "Active"
        return active and (meta.get("labels") or {}).get(OPT_IN[0]) == OPT_IN[1]

    @staticmethod
    def is_ours(configmap: dict[str, Any]) -> bool:
        return ((configmap.get("metadata") or {}).get("labels") or {}).get(COPIED_FROM[0]) == COPIED_FROM[1]

    @staticmethod
    def after(answer: Answer) -> Result:
        """Done when it worked or the world already agrees; otherwise try again with backoff."""
        if answer.ok or answer.not_found or answer.already_exists:
            return Result()
        return Result(requeue=True)
