"""Admission webhook services as nodes of the world: what they answer, and how they fail.

Each behaviour is a pure function of the AdmissionReview request, so the checks can ask "what
would this webhook say of this object?" of a persisted object (ADMISSION-VALID):

- ``count-containers`` (mutating): sets label ``containers`` to the number of containers of a
  pod, so it must run again whenever a later webhook adds one (reinvocationPolicy IfNeeded);
- ``inject-sidecar`` (mutating): adds a ``sidecar`` container to a pod labelled
  ``inject=true`` that has none, as service-mesh injectors do;
- ``deny-forbidden`` (validating): refuses any object labelled ``forbidden=true``.

A service is ``up`` (answers on the next tick), ``slow`` (answers after ``slow_ticks``, later
than the caller waits), ``down`` (never answers) or ``wrong`` (answers for another request uid).
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from typing import Any

from impl.apiserver.messages import WebhookCall, WebhookReply
from impl.sim.world import Output

__all__ = ["WebhookService", "BEHAVIOURS", "MODES", "answer_review", "patched_object", "denies"]

MODES = ("up", "slow", "down", "wrong")


def _labels(obj: dict[str, Any] | None) -> dict[str, str]:
    return ((obj or {}).get("metadata") or {}).get("labels") or {}


def count_containers(obj: dict[str, Any]) -> dict[str, Any]:
    if obj.get("kind") != "Pod":
        return obj
    new = copy.deepcopy(obj)
    count = len((new.get("spec") or {}).get("containers") or [])
    new["metadata"].setdefault("labels", {})["containers"] = str(count)
    return new


def inject_sidecar(obj: dict[str, Any]) -> dict[str, Any]:
    if obj.get("kind") != "Pod" or _labels(obj).get("inject") != "true":
        return obj
    containers = (obj.get("spec") or {}).get("containers") or []
    if any(c.get("name") == "sidecar" for c in containers if isinstance(c, dict)):
        return obj
    new = copy.deepcopy(obj)
    new["spec"]["containers"] = [*containers, {"name": "sidecar", "image": "mesh/proxy:1.0"}]
    return new


MUTATIONS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "count-containers": count_containers, "inject-sidecar": inject_sidecar}


def denies(behaviour: str, obj: dict[str, Any] | None) -> str | None:
    """Why a validating behaviour refuses ``obj`` (None: it allows it)."""
    if behaviour == "deny-forbidden" and _labels(obj).get("forbidden") == "true":
        return 'objects labelled forbidden=true are not allowed here'
    return None


BEHAVIOURS = tuple(MUTATIONS) + ("deny-forbidden",)


def patched_object(behaviour: str, obj: dict[str, Any]) -> dict[str, Any]:
    return MUTATIONS[behaviour](obj) if behaviour in MUTATIONS else obj


def _replace_ops(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """A JSON Patch from old to new, top-level fields replaced whole (what injectors often send)."""
    return [{"op": "add" if key not in old else "replace", "path": f"/{key}", "value": value}
            for key, value in new.items() if old.get(key) != value]


def answer_review(behaviour: str, review: dict[str, Any]) -> dict[str, Any]:
    request = review.get("request") or {}
    response: dict[str, Any] = {"uid": request.get("uid"), "allowed": True}
    obj = request.get("object")
    why = denies(behaviour, obj)
    if why is not None:
        response = {"uid": request.get("uid"), "allowed": False, "status": {"code": 403, "message": why}}
    elif obj is not None and behaviour in MUTATIONS:
        ops = _replace_ops(obj, patched_object(behaviour, obj))
        if ops:
            response["patchType"] = "JSONPatch"
            response["patch"] = base64.b64encode(json.dumps(ops).encode()).decode()
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}


class WebhookService:
    """Serves every webhook configured to call it; ``behaviours`` maps webhook name -> behaviour."""

    def __init__(self, node_id: str, behaviours: dict[str, str], slow_ticks: int = 15) -> None:
        self.id = node_id
        self.behaviours = dict(behaviours)
        self.mode = "up"
        self.slow_ticks = slow_ticks
        self.now = 0
        self.delayed: list[tuple[int, str, WebhookReply]] = []

    def tick(self) -> Output:
        self.now += 1
        due = [d for d in self.delayed if d[0] <= self.now]
        self.delayed = [d for d in self.delayed if d[0] > self.now]
        return Output(messages=[(dst, reply) for _, dst, reply in due])

    def step(self, src: str, message: Any) -> Output:
        if not isinstance(message, WebhookCall) or self.mode == "down":
            return Output()
        review = answer_review(self.behaviours.get(message.webhook, ""), message.review)
        if self.mode == "wrong":
            review["response"]["uid"] = "not-" + str(review["response"].get("uid"))
        reply = WebhookReply(message.call_id, review)
        if self.mode == "slow":
            self.delayed.append((self.now + self.slow_ticks, src, reply))
            return Output()
        return Output(messages=[(src, reply)])
