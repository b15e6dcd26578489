"""The PersistentVolume binder: binds each Pending PersistentVolumeClaim to the smallest Available
PersistentVolume that satisfies it, and releases (or deletes) a volume whose claim is gone.

The seed's "Session 2" material lists a "PersistentVolume Controller" among the
kube-controller-manager's loops (beside Node, Namespace, ServiceAccount and Job); what it does is
kube's ``pkg/controller/volume/persistentvolume``: ``pv_controller.go`` (``syncClaim``,
``syncUnboundClaim``, ``syncBoundClaim``, ``syncVolume``, ``bind``, ``bindVolumeToClaim``,
``bindClaimToVolume``, ``reclaimVolume``), ``index.go`` (``findByClaim``,
``allPossibleMatchingAccessModes``), ``pkg/controller/volume/persistentvolume/util``
(``FindMatchingVolume``, ``IsVolumeBoundToClaim``) and the Persistent Volumes concepts page
("Binding", "Reclaiming"). The rules kept:

- A claim matches a volume whose access modes include all of the claim's, whose storage class
  (``spec.storageClassName``, or the beta annotation) is the claim's ("" matches ""), whose
  volume mode is the claim's (Filesystem by default), whose labels satisfy the claim's selector,
  which is not being deleted, has no ``claimRef``, and whose capacity is at least the request.
  Among the matches the one with the fewest access modes is preferred (kube searches its
  access-mode index from the closest set of modes up), then the smallest capacity. A volume
  whose ``claimRef`` already names this claim (pre-bound, or half-bound by a crash) wins.
- Binding takes four writes, in kube's order: the volume's ``spec.claimRef`` (the claim's
  namespace, name and uid; annotation ``pv.kubernetes.io/bound-by-controller``), the volume's
  phase Bound, the claim's ``spec.volumeName`` (annotations ``pv.kubernetes.io/bind-completed``
  and ``bound-by-controller``), the claim's phase Bound with the volume's access modes and
  capacity. Why the volume first: the volume is what two claims can contend for, and its
  ``claimRef`` written under the read ``resourceVersion`` is the compare-and-swap that decides
  which claim gets it; a claim that chose the same volume from a stale cache gets 409 Conflict
  and chooses again. A claim written first would name a volume that another claim can still
  take. And a crash after the first write leaves a volume pointing at a claim that does not
  point back: the claim's next sync finds that volume as its pre-bound match and completes the
  remaining steps, each of which is skipped when already done.
- A claim whose ``spec.volumeName`` names a volume that is gone is Lost; one whose volume is
  bound to another claim is Lost too. A volume without a ``claimRef`` is Available.
- A volume whose ``claimRef`` names a claim that no longer exists (absent, or present with
  another uid: deleted and re-created) becomes Released; the cache's word is checked with a
  GET first, as kube does, since a claim missing from a lagging cache is not a deleted claim.
  Then the reclaim policy: Retain (the default) keeps it Released for an administrator; Delete
  deletes the volume object. A volume whose bound claim names another volume is unbound again
  when the controller had bound it.

Left out, and why: dynamic provisioning (StorageClass provisioners, ``WaitForFirstConsumer``
delayed binding: no provisioners here), the Recycle policy (deprecated; kept Released), the
storage asset behind a Delete (notional here), claim expansion, ``volumeAttributesClassName``,
node affinity (the scheduler's side), events and metrics. Kube re-queues every claim on a
15 s resync to retry Pending ones; here a volume that becomes Available wakes the Pending claims
instead, so an idle binder has nothing queued.
"""

from __future__ import annotations

from typing import Any

from impl.apiserver.quantity import parse_quantity
from impl.apiserver.selectors import label_selector_from_object
from impl.controllers.api import Cache, Client, Request, Result, Watch
from impl.controllers.api import meta as _meta

__all__ = ["VolumeBinder", "best_match", "BOUND_BY_CONTROLLER", "BIND_COMPLETED", "CLASS_ANNOTATION"]

BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"


def _spec(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("spec") or {}


def _phase(obj: dict[str, Any]) -> str:
    return (obj.get("status") or {}).get("phase", "")


def storage_class(obj: dict[str, Any]) -> str:
    """GetPersistentVolumeClass / GetPersistentVolumeClaimClass: the beta annotation first."""
    annotations = _meta(obj).get("annotations") or {}
    if CLASS_ANNOTATION in annotations:
        return annotations[CLASS_ANNOTATION]
    return _spec(obj).get("storageClassName") or ""


def _capacity(volume: dict[str, Any]):
    return parse_quantity(str((_spec(volume).get("capacity") or {}).get("storage", "0")))


def _request(claim: dict[str, Any]):
    return parse_quantity(str(((_spec(claim).get("resources") or {}).get("requests") or {}).get("storage", "0")))


def bound_to_claim(volume: dict[str, Any], claim: dict[str, Any]) -> bool:
    """IsVolumeBoundToClaim: the claimRef names the claim, and its uid if it has one."""
    ref = _spec(volume).get("claimRef")
    meta = _meta(claim)
    if not ref or ref.get("name") != meta.get("name") or ref.get("namespace") != meta.get("namespace"):
        return False
    return not ref.get("uid") or ref.get("uid") == meta.get("uid")


def _fits(volume: dict[str, Any], claim: dict[str, Any]) -> bool:
    """The filters of FindMatchingVolume for a volume not bound to this claim."""
    selector = _spec(claim).get("selector")
    if _spec(volume).get("claimRef"):
        return False
    if selector is not None and not label_selector_from_object(selector).matches(_meta(volume).get("labels")):
        return False
    return storage_class(volume) == storage_class(claim)


def _matching_volume(claim: dict[str, Any], volumes: list[dict[str, Any]]) -> dict[str, Any] | None:
    """FindMatchingVolume over one access-mode group: a volume pre-bound to the claim, else the
    smallest one that fits."""
    requested, smallest = _request(claim), None
    mode = _spec(claim).get("volumeMode") or "Filesystem"
    for volume in sorted(volumes, key=lambda v: _meta(v).get("name", "")):
        if _meta(volume).get("deletionTimestamp") or (_spec(volume).get("volumeMode") or "Filesystem") != mode:
            continue
        capacity = _capacity(volume)
        if bound_to_claim(volume, claim):
            if capacity >= requested:
                return volume
            continue
        if _fits(volume, claim) and capacity >= requested and (smallest is None or _capacity(smallest) > capacity):
            smallest = volume
    return smallest


def best_match(claim: dict[str, Any], volumes: list[dict[str, Any]]) -> dict[str, Any] | None:
    """findByClaim: volumes grouped by their set of access modes, the groups holding all the
    claim's modes searched from the fewest modes up; the first group with a match wins."""
    wanted = set(_spec(claim).get("accessModes") or ())
    groups: dict[frozenset, list[dict[str, Any]]] = {}
    for volume in volumes:
        modes = frozenset(_spec(volume).get("accessModes") or ())
        if wanted <= modes:
            groups.setdefault(modes, []).append(volume)
    for modes in sorted(groups, key=lambda m: (len(m), sorted(m))):
        match = _matching_volume(claim, groups[modes])
        if match is not None:
            return match
    return None


def _claim_and_its_volumes(claim: dict[str, Any], cache: Cache) -> list[Request]:
    meta = _meta(claim)
    requests = [Request(meta.get("namespace", ""), meta.get("name", ""))]
    for volume in cache.list("persistentvolumes"):
        ref = _spec(volume).get("claimRef") or {}
        if ref.get("namespace") == meta.get("namespace") and ref.get("name") == meta.get("name"):
            requests.append(Request("", _meta(volume)["name"]))
    return requests


def _volume_and_its_claims(volume: dict[str, Any], cache: Cache) -> list[Request]:
    """The volume, the claim it names, and, when it is free, every Pending claim (kube's 15 s
    resync does the latter)."""
    requests = [Request("", _meta(volume).get("name", ""))]
    ref = _spec(volume).get("claimRef")
    if ref:
        requests.append(Request(ref.get("namespace", ""), ref.get("name", "")))
    elif not _meta(volume).get("deletionTimestamp"):
        requests += [Request(_meta(c)["namespace"], _meta(c)["name"]) for c in cache.list("persistentvolumeclaims")
                     if not _spec(c).get("volumeName")]
    return requests


class VolumeBinder:
    name = "persistentvolume-binder"
    watches = (Watch("persistentvolumeclaims", enqueue=_claim_and_its_volumes),
               Watch("persistentvolumes", enqueue=_volume_and_its_claims))

    def reconcile(self, request: Request, cache: Cache, client: Client):
        if request.namespace:
            claim = cache.get("persistentvolumeclaims", request.namespace, request.name)
            done = True if claim is None else (yield from self.sync_claim(claim, cache, client))
        else:
            volume = cache.get("persistentvolumes", "", request.name)
            done = True if volume is None else (yield from self.sync_volume(volume, cache, client))
        return Result() if done else Result(requeue=True)

    # ----- claims ------------------------------------------------------------------------------

    def sync_claim(self, claim: dict[str, Any], cache: Cache, client: Client):
        """syncUnboundClaim / syncBoundClaim; whether every write went through."""
        volume_name = _spec(claim).get("volumeName")
        if not volume_name:
            volume = best_match(claim, cache.list("persistentvolumes"))
            return True if volume is None else (yield from self.bind(volume, claim, client))
        volume = cache.get("persistentvolumes", "", volume_name)
        if volume is None or (_spec(volume).get("claimRef") and not bound_to_claim(volume, claim)):
            return (yield from self.set_phase("persistentvolumeclaims", claim, "Lost", client))
        return (yield from self.bind(volume, claim, client))

    def bind(self, volume: dict[str, Any], claim: dict[str, Any], client: Client):
        """The four writes, volume first; each skipped when already done."""
        for step in (self.bind_volume_to_claim, self.mark_volume_bound, self.bind_claim_to_volume,
                     self.mark_claim_bound):
            written = yield from step(volume, claim, client)
            if written is None:
                return False
            volume, claim = written
        return True

    @staticmethod
    def claim_ref(claim: dict[str, Any]) -> dict[str, Any]:
        meta = _meta(claim)
        return {"kind": "PersistentVolumeClaim", "apiVersion": "v1", "namespace": meta["namespace"],
                "name": meta["name"], "uid": meta["uid"], "resourceVersion": meta.get("resourceVersion", "")}

    def bind_volume_to_claim(self, volume: dict[str, Any], claim: dict[str, Any], client: Client):
        ref = _spec(volume).get("claimRef")
        if ref and ref.get("uid") == _meta(claim).get("uid") and bound_to_claim(volume, claim):
            return volume, claim
        volume = {**volume, "spec": {**_spec(volume), "claimRef": self.claim_ref(claim)}}
        if not ref:  # the controller chose it (a user's pre-binding keeps its own annotations)
            annotations = {**(_meta(volume).get("annotations") or {}), BOUND_BY_CONTROLLER: "yes"}
            volume["metadata"] = {**_meta(volume), "annotations": annotations}
        answer = yield client.update("persistentvolumes", volume)
        return (answer.object, claim) if answer.object is not None else None

    @staticmethod
    def mark_volume_bound(volume: dict[str, Any], claim: dict[str, Any], client: Client):
        if _phase(volume) == "Bound":
            return volume, claim
        answer = yield client.update_status("persistentvolumes", {**volume, "status": {"phase": "Bound"}})
        return (answer.object, claim) if answer.object is not None else None

    @staticmethod
    def bind_claim_to_volume(volume: dict[str, Any], claim: dict[str, Any], client: Client):
        annotations = dict(_meta(claim).get("annotations") or {})
        name = _meta(volume)["name"]
        if _spec(claim).get("volumeName") == name and BIND_COMPLETED in annotations:
            return volume, claim
        if not _spec(claim).get("volumeName"):
            annotations[BOUND_BY_CONTROLLER] = "yes"
        annotations[BIND_COMPLETED] = "yes"
        claim = {**claim, "metadata": {**_meta(claim), "annotations": annotations},
                 "spec": {**_spec(claim), "volumeName": name}}
        answer = yield client.update("persistentvolumeclaims", claim)
        return (volume, answer.object) if answer.object is not None else None

    @staticmethod
    def mark_claim_bound(volume: dict[str, Any], claim: dict[str, Any], client: Client):
        status = {"phase": "Bound", "accessModes": list(_spec(volume).get("accessModes") or ()),
                  "capacity": dict(_spec(volume).get("capacity") or {})}
        if all((claim.get("status") or {}).get(k) == v for k, v in status.items()):
            return volume, claim
        answer = yield client.update_status("persistentvolumeclaims", {**claim, "status": status})
        return (volume, answer.object) if answer.object is not None else None

    @staticmethod
    def set_phase(resource: str, obj: dict[str, Any], phase: str, client: Client):
        if _phase(obj) == phase:
            return True
        answer = yield client.update_status(resource, {**obj, "status": {**(obj.get("status") or {}), "phase": phase}})
        return answer.ok

    # ----- volumes -----------------------------------------------------------------------------

    def sync_volume(self, volume: dict[str, Any], cache: Cache, client: Client):
        """syncVolume; whether every write went through."""
        ref = _spec(volume).get("claimRef")
        if not ref or not ref.get("uid"):  # free, or pre-bound by a user and waiting for its claim
            return (yield from self.set_phase("persistentvolumes", volume, "Available", client))
        claim = cache.get("persistentvolumeclaims", ref.get("namespace", ""), ref.get("name", ""))
        if claim is None or _meta(claim).get("uid") != ref.get("uid"):
            answer = yield client.get("persistentvolumeclaims", ref.get("namespace", ""), ref.get("name", ""))
            if not (answer.ok or answer.not_found):
                return False
            claim = answer.object
        if claim is None or _meta(claim).get("uid") != ref.get("uid"):
            return (yield from self.release(volume, client))
        volume_name = _spec(claim).get("volumeName")
        if not volume_name:
            return True  # binding in progress: the claim's sync completes it
        if volume_name == _meta(volume)["name"]:
            return (yield from self.set_phase("persistentvolumes", volume, "Bound", client))
        return (yield from self.unbind(volume, client))

    @staticmethod
    def reclaim_policy(volume: dict[str, Any]) -> str:
        return _spec(volume).get("persistentVolumeReclaimPolicy") or "Retain"

    def release(self, volume: dict[str, Any], client: Client):
        """The claim is gone: Released, then the reclaim policy."""
        if _phase(volume) not in ("Released", "Failed"):
            answer = yield client.update_status("persistentvolumes", {**volume, "status": {"phase": "Released"}})
            if answer.object is None:
                return False
            volume = answer.object
        if self.reclaim_policy(volume) != "Delete":
            return True
        meta = _meta(volume)
        answer = yield client.delete("persistentvolumes", "", meta["name"], uid=meta.get("uid", ""))
        return answer.ok or answer.not_found

    @staticmethod
    def unbind(volume: dict[str, Any], client: Client):
        """unbindVolume: the claim is bound elsewhere. A volume the controller bound is freed; a
        user's pre-binding keeps its name and loses only the uid."""
        annotations = dict(_meta(volume).get("annotations") or {})
        spec = dict(_spec(volume))
        if annotations.pop(BOUND_BY_CONTROLLER, None) is not None:
            spec.pop("claimRef", None)
        else:
            spec["claimRef"] = {k: v for k, v in spec["claimRef"].items() if k not in ("uid", "resourceVersion")}
        metadata = {**_meta(volume), "annotations": annotations}
        answer = yield client.update("persistentvolumes", {**volume, "metadata": metadata, "spec": spec})
        return answer.ok
