"""What the ReplicaSet and Deployment controllers share: pod templates and their hash, owner
references and the adopt/release rules, pod readiness and availability, and a write that turns a
refused answer into a requeue.

Sources (kube ``pkg/controller``):

- ``controller_utils.go`` ``ComputeHash``: FNV-32a over the template's printed form, then the
  collision count as 8 little-endian bytes, the decimal sum encoded with
  ``rand.SafeEncodeString`` (each byte of the decimal string picks a character of the alphabet
  without vowels, so a hash never spells a word). Here the printed form is the template's
  canonical JSON (sorted keys, no spaces): the same shape, not Go's ``%#v`` bytes.
- ``controller_utils.go`` ``IsPodActive`` (not Succeeded, not Failed, no deletionTimestamp) and
  ``pkg/api/v1/pod`` ``IsPodReady`` and ``IsPodAvailable`` (ready, and either no
  minReadySeconds or Ready since more than minReadySeconds: strictly before now).
- ``controller_ref_manager.go`` ``ClaimObject``: an object whose controller reference names the
  owner's UID is the owner's while it matches the selector, and is released (the reference
  removed by a strategic merge patch) when it no longer matches, unless the owner is being
  deleted; an orphan that matches is adopted (the reference added, after one uncached read of the
  owner confirms it is the same object and not being deleted: ``RecheckDeletionTimestamp``);
  an object controlled by anyone else, or being deleted, is left alone. Owners are compared by
  UID, never by name.
- ``deployment/util`` ``EqualIgnoreHash``: two templates are the same if they differ only in
  the ``pod-template-hash`` label (empty and missing maps are equal, as in Semantic.DeepEqual).
- ``GetPodFromTemplate``: a pod gets the template's labels, annotations, finalizers and spec,
  ``generateName: <owner>-`` and the controller reference.

Times are ticks; a timestamp written by the API server or a kubelet is read back with
``tick_of`` (one tick is one second).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Generator
from typing import Any

from impl.apiserver.objectmeta import tick_of
from impl.apiserver.selectors import label_selector_from_object
from impl.controllers.api import Answer, Cache, Call, Client, Request, controller_owner, meta, request_for

__all__ = ["POD_TEMPLATE_HASH_LABEL", "SAFE_ALPHABET", "WriteRefused", "write", "meta", "key_of",
           "fnv32a", "safe_encode", "compute_hash", "templates_equal_ignoring_hash", "controller_reference",
           "controlled_by", "owners_to_wake", "selector_matches", "pod_from_template", "pod_is_active", "pod_is_ready",
           "pod_ready_since", "pod_is_available", "pod_available_at", "claim", "normalized"]

POD_TEMPLATE_HASH_LABEL = "pod-template-hash"  # apps.DefaultDeploymentUniqueLabelKey
SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery/pkg/util/rand: no vowels, no 0/1/3
FNV32_OFFSET, FNV32_PRIME = 0x811C9DC5, 0x01000193


class WriteRefused(Exception):
    """A write the API server did not apply (or whose outcome is unknown): the reconcile stops
    and requeues with backoff, as a kube sync returning an error does. Never escapes a reconcile."""

    def __init__(self, what: str, answer: Answer) -> None:
        super().__init__(f"{what}: {answer.code}")
        self.answer = answer


def write(call: Call) -> Generator[Call, Answer, dict[str, Any] | None]:
    """Yield ``call``; the object the server answered, or WriteRefused."""
    answer = yield call
    if not answer.ok:
        raise WriteRefused(call.describe(), answer)
    return answer.object


def key_of(obj: dict[str, Any]) -> str:
    """namespace/name, as client-go's MetaNamespaceKeyFunc."""
    return f"{meta(obj).get('namespace', '')}/{meta(obj).get('name', '')}"


# ----- the template hash -----------------------------------------------------------------------

def fnv32a(data: bytes, start: int = FNV32_OFFSET) -> int:
    value = start
    for byte in data:
        value = ((value ^ byte) * FNV32_PRIME) & 0xFFFFFFFF
    return value


def safe_encode(text: str) -> str:
    """rand.SafeEncodeString: each byte picks ``SAFE_ALPHABET[byte % 27]``."""
    return "".join(SAFE_ALPHABET[byte % len(SAFE_ALPHABET)] for byte in text.encode())


def compute_hash(template: dict[str, Any], collision_count: int | None = None) -> str:
    """The pod-template-hash of ``template`` (deterministic: the same template, the same hash)."""
    value = fnv32a(json.dumps(template, sort_keys=True, separators=(",", ":")).encode())
    if collision_count is not None:
        value = fnv32a((collision_count & 0xFFFFFFFF).to_bytes(4, "little") + bytes(4), value)
    return safe_encode(str(value))


def normalized(value: Any) -> Any:
    """``value`` without empty maps and lists, nulls and zeros in maps: what Go's typed structs
    (and Semantic.DeepEqual) cannot tell apart from absent."""
    if isinstance(value, dict):
        kept = {k: normalized(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in (None, {}, [], 0, "")}
    if isinstance(value, list):
        return [normalized(item) for item in value]
    return value


def templates_equal_ignoring_hash(one: dict[str, Any], other: dict[str, Any]) -> bool:
    def without_hash(template: dict[str, Any]) -> Any:
        template = copy.deepcopy(template or {})
        (meta(template).get("labels") or {}).pop(POD_TEMPLATE_HASH_LABEL, None)
        return normalized(template)
    return without_hash(one) == without_hash(other)


# ----- owners --------------------------------------------------------------------------------

OWNER_KINDS = {"replicasets": ("apps/v1", "ReplicaSet"), "deployments": ("apps/v1", "Deployment")}


def controller_reference(owner: dict[str, Any], owner_resource: str) -> dict[str, Any]:
    """metav1.NewControllerRef for an owner of ``owner_resource`` (replicasets, deployments)."""
    api_version, kind = OWNER_KINDS[owner_resource]
    return {"apiVersion": api_version, "kind": kind, "name": meta(owner)["name"], "uid": meta(owner)["uid"],
            "controller": True, "blockOwnerDeletion": True}


def controlled_by(obj: dict[str, Any], owner_uid: str) -> bool:
    ref = controller_owner(obj)
    return ref is not None and ref.get("uid") == owner_uid


def owners_to_wake(obj: dict[str, Any], cache: Cache, owner_resource: str) -> list[Request]:
    """Which owners an event of ``obj`` queues: with a controller reference of the owner's kind,
    that owner only (found by name, and only if the UID is the referenced one); an orphan, every
    owner in its namespace whose selector matches its labels (one may adopt it)."""
    namespace, ref = meta(obj).get("namespace", ""), controller_owner(obj)
    if ref is not None:
        if ref.get("kind") != OWNER_KINDS[owner_resource][1]:
            return []
        owner = cache.get(owner_resource, namespace, ref.get("name", ""))
        return [request_for(owner)] if owner is not None and meta(owner).get("uid") == ref.get("uid") else []
    return [request_for(owner) for owner in cache.list(owner_resource, namespace)
            if selector_matches((owner.get("spec") or {}).get("selector"), meta(obj).get("labels"))]


def selector_matches(selector: dict[str, Any] | None, labels: dict[str, str] | None) -> bool:
    """An empty or malformed selector matches nothing here (a controller must not claim the
    whole namespace; validation refuses both)."""
    if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        return False
    try:
        return label_selector_from_object(selector).matches(labels or {})
    except ValueError:
        return False


def pod_from_template(template: dict[str, Any], owner: dict[str, Any], owner_resource: str = "replicasets") -> dict[str, Any]:
    template_meta = meta(template)
    pod_meta: dict[str, Any] = {"generateName": f"{meta(owner)['name']}-", "namespace": meta(owner)["namespace"],
                                "ownerReferences": [controller_reference(owner, owner_resource)]}
    for field in ("labels", "annotations", "finalizers"):
        if template_meta.get(field):
            pod_meta[field] = copy.deepcopy(template_meta[field])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": copy.deepcopy(template.get("spec") or {})}


# ----- pods ----------------------------------------------------------------------------------

def pod_is_active(pod: dict[str, Any]) -> bool:
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not meta(pod).get("deletionTimestamp")


def _ready_condition(pod: dict[str, Any]) -> dict[str, Any] | None:
    return next((c for c in (pod.get("status") or {}).get("conditions") or () if c.get("type") == "Ready"), None)


def pod_is_ready(pod: dict[str, Any]) -> bool:
    condition = _ready_condition(pod)
    return condition is not None and condition.get("status") == "True"


def pod_ready_since(pod: dict[str, Any]) -> int | None:
    """The tick the pod became Ready (its condition's lastTransitionTime); None if not ready or
    the time is missing or unreadable."""
    if not pod_is_ready(pod):
        return None
    try:
        return tick_of(_ready_condition(pod).get("lastTransitionTime") or "")
    except ValueError:
        return None


def pod_available_at(pod: dict[str, Any], min_ready_seconds: int) -> int | None:
    """The first tick at which the pod counts as available (ready for more than
    minReadySeconds), or None if it is not ready."""
    if not pod_is_ready(pod):
        return None
    if not min_ready_seconds:
        return -1
    since = pod_ready_since(pod)
    return None if since is None else since + min_ready_seconds + 1


def pod_is_available(pod: dict[str, Any], min_ready_seconds: int, now: int) -> bool:
    at = pod_available_at(pod, min_ready_seconds)
    return at is not None and at <= now


# ----- adopt and release (ControllerRefManager) ------------------------------------------------------

def _adopt_patch(obj: dict[str, Any], owner: dict[str, Any], owner_resource: str) -> dict[str, Any]:
    return {"metadata": {"ownerReferences": [controller_reference(owner, owner_resource)], "uid": meta(obj)["uid"]}}


def _release_patch(obj: dict[str, Any], owner: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": meta(owner)["uid"]}],
                         "uid": meta(obj)["uid"]}}


def claim(owner: dict[str, Any], owner_resource: str, resource: str, candidates: list[dict[str, Any]],
          selector: dict[str, Any], client: Client) -> Generator[Call, Answer, list[dict[str, Any]]]:
    """ClaimObjects: the candidates the owner controls after adopting the matching orphans and
    releasing its own that no longer match (in name order). A refused adoption raises
    WriteRefused after the others were tried; a vanished object is simply not claimed."""
    owner_uid, deleting = meta(owner)["uid"], bool(meta(owner).get("deletionTimestamp"))
    claimed: list[dict[str, Any]] = []
    refused: WriteRefused | None = None
    may_adopt: bool | None = None  # the uncached recheck, made once before the first adoption
    for obj in sorted(candidates, key=lambda o: meta(o).get("name", "")):
        matches = selector_matches(selector, meta(obj).get("labels"))
        ref = controller_owner(obj)
        if ref is not None:
            if ref.get("uid") != owner_uid:
                continue
            if matches:
                claimed.append(obj)
            elif not deleting:
                answer = yield client.patch(resource, meta(obj)["namespace"], meta(obj)["name"],
                                              _release_patch(obj, owner), "strategic")
                if not (answer.ok or answer.not_found or answer.code == 422):
                    refused = WriteRefused(f"release {key_of(obj)}", answer)
            continue
        if deleting or not matches or meta(obj).get("deletionTimestamp"):
            continue
        if may_adopt is None:
            may_adopt = yield from _owner_still_there(owner, owner_resource, client)
        if not may_adopt:
            refused = refused or WriteRefused(f"adopt {key_of(obj)}: the owner changed", Answer(409))
            continue
        answer = yield client.patch(resource, meta(obj)["namespace"], meta(obj)["name"], _adopt_patch(obj, owner, owner_resource),
                                    "strategic")
        if answer.ok and answer.object is not None:
            claimed.append(answer.object)
        elif not answer.not_found:
            refused = WriteRefused(f"adopt {key_of(obj)}", answer)
    if refused is not None:
        raise refused
    return claimed


def _owner_still_there(owner: dict[str, Any], owner_resource: str, client: Client) -> Generator[Call, Answer, bool]:
    """RecheckDeletionTimestamp: a quorum read of the owner; adopt only for the same, live one."""
    answer = yield client.get(owner_resource, meta(owner)["namespace"], meta(owner)["name"])
    fresh = answer.object
    return fresh is not None and meta(fresh).get("uid") == meta(owner)["uid"] \
        and not meta(fresh).get("deletionTimestamp")
