"""What the server itself writes into an object's metadata and defaults, on create and update.

Sources: k8s.io/apiserver ``pkg/registry/rest`` (``BeforeCreate``, ``BeforeUpdate``,
``FillObjectMetaSystemFields``), ``pkg/registry/*/strategy.go`` (``PrepareForCreate``,
``PrepareForUpdate``) and ``pkg/apis/*/v1/defaults.go``. The facts kept:

- On create the server sets ``uid`` and ``creationTimestamp``, drops any ``deletionTimestamp``
  and ``resourceVersion`` the client sent, generates the name from ``generateName`` (five
  characters from an alphabet without vowels), sets ``generation`` to 1 and, for a resource with
  a status subresource, discards the status the client sent (it is the controllers' to write).
- On update ``uid``, ``creationTimestamp``, ``deletionTimestamp`` and ``generation`` come from
  the stored object; ``generation`` grows by one when the spec changed. Through the main
  resource the status cannot change; through ``/status`` only the status can.
- No new finalizer may be added to an object that is being deleted.

Timestamps are ticks after a fixed epoch, written as RFC 3339 like Kubernetes writes them.
"""

from __future__ import annotations

import copy
import datetime
import random
from typing import Any

from impl.apiserver.resources import ResourceType
from impl.apiserver.status import ApiError

__all__ = ["timestamp", "tick_of", "prepare_for_create", "prepare_for_update", "generate_name", "new_uid", "apply_defaults",
           "NAME_ALPHABET", "EPOCH"]

EPOCH = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery/pkg/util/rand: no vowels, no 0/1/3
GENERATED_SUFFIX = 5
GENERATED_PREFIX_MAX = 63 - GENERATED_SUFFIX


def timestamp(tick: int) -> str:
    """A tick as Kubernetes writes times: one tick is one second after EPOCH."""
    return (EPOCH + datetime.timedelta(seconds=tick)).strftime("%Y-%m-%dT%H:%M:%SZ")


def tick_of(stamp: str) -> int:
    """The tick a timestamp written by ``timestamp`` stands for (ValueError if it is not one)."""
    moment = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    return int((moment - EPOCH).total_seconds())


def generate_name(prefix: str, rng: random.Random) -> str:
    return prefix[:GENERATED_PREFIX_MAX] + "".join(rng.choice(NAME_ALPHABET) for _ in range(GENERATED_SUFFIX))


def new_uid(rng: random.Random) -> str:
    """A version-4-shaped UUID drawn from the world's RNG (deterministic per seed)."""
    digits = f"{rng.getrandbits(128):032x}"
    return f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-a{digits[17:20]}-{digits[20:]}"


def _has_status(resource: ResourceType) -> bool:
    return "status" in resource.subresources


# ----- defaults (pkg/apis/*/v1/defaults.go, reduced) ----------------------------------------

def _pod_defaults(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    for container in spec.get("containers") or []:
        if isinstance(container, dict):
            container.setdefault("imagePullPolicy", "Always" if str(container.get("image", "")).endswith(":latest")
                                 or ":" not in str(container.get("image", "")) else "IfNotPresent")
            container.setdefault("terminationMessagePath", "/dev/termination-log")


def _deployment_defaults(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
    if strategy.get("type", "RollingUpdate") == "RollingUpdate":
        strategy.setdefault("type", "RollingUpdate")
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)


def _replicaset_defaults(obj: dict[str, Any]) -> None:
    obj.setdefault("spec", {}).setdefault("replicas", 1)


def _job_defaults(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("completions", 1)
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 6)


def _service_defaults(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")


def _namespace_defaults(obj: dict[str, Any]) -> None:
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])


_DEFAULTS = {"Pod": _pod_defaults, "Deployment": _deployment_defaults, "ReplicaSet": _replicaset_defaults,
             "Job": _job_defaults, "Service": _service_defaults, "Namespace": _namespace_defaults}

# The status a new object starts with, where the registry sets one (PrepareForCreate).
_INITIAL_STATUS = {"Pod": {"phase": "Pending"}, "Namespace": {"phase": "Active"},
                   "PersistentVolumeClaim": {"phase": "Pending"}, "PersistentVolume": {"phase": "Pending"}}


def apply_defaults(resource: ResourceType, obj: dict[str, Any]) -> None:
    """Defaulting happens when the body is decoded, before admission sees the object."""
    if isinstance(obj.get("spec", {}), dict) and resource.kind in _DEFAULTS:
        _DEFAULTS[resource.kind](obj)


# ----- create and update --------------------------------------------------------------------

# A kubelet registers its Node with capacity, allocatable and conditions in one create:
# nodeStrategy.PrepareForCreate keeps the status, where most strategies reset it.
_STATUS_KEPT_ON_CREATE = frozenset({"Node"})


def prepare_for_create(resource: ResourceType, obj: dict[str, Any], now: int, rng: random.Random) -> None:
    meta = obj.setdefault("metadata", {})
    for field in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
        meta.pop(field, None)
    if not meta.get("name") and meta.get("generateName"):
        meta["name"] = generate_name(str(meta["generateName"]), rng)
    meta["uid"] = new_uid(rng)
    meta["creationTimestamp"] = timestamp(now)
    meta["generation"] = 1
    if (_has_status(resource) and resource.kind not in _STATUS_KEPT_ON_CREATE) or resource.kind in _INITIAL_STATUS:
        obj.pop("status", None)
        if resource.kind in _INITIAL_STATUS:
            obj["status"] = copy.deepcopy(_INITIAL_STATUS[resource.kind])


_SYSTEM_FIELDS = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation")


def prepare_for_update(resource: ResourceType, subresource: str, new: dict[str, Any], old: dict[str, Any]) -> None:
    """Carry the system fields over, keep what the endpoint may not change, and count spec
    changes in ``generation``."""
    meta, old_meta = new.setdefault("metadata", {}), old.get("metadata", {})
    for field in _SYSTEM_FIELDS:
        if field == "uid" and meta.get("uid"):
            continue  # kube uses the stored uid only when none is sent; another one is refused as immutable
        if field in old_meta:
            meta[field] = old_meta[field]
        else:
            meta.pop(field, None)
    if subresource == "status":
        for field in list(new):
            if field not in ("status", "metadata", "apiVersion", "kind"):
                del new[field]
        new.update({k: copy.deepcopy(v) for k, v in old.items() if k not in ("status", "metadata")})
        new["metadata"] = {**copy.deepcopy(old_meta), "resourceVersion": meta.get("resourceVersion", "")}
        return
    if _has_status(resource):
        new.pop("status", None)
        if "status" in old:
            new["status"] = copy.deepcopy(old["status"])
    if new.get("spec") != old.get("spec"):
        meta["generation"] = int(old_meta.get("generation", 1)) + 1
    _refuse_new_finalizers(resource, new, old)


def _refuse_new_finalizers(resource: ResourceType, new: dict[str, Any], old: dict[str, Any]) -> None:
    if not old.get("metadata", {}).get("deletionTimestamp"):
        return
    added = set(new["metadata"].get("finalizers") or []) - set(old["metadata"].get("finalizers") or [])
    if added:
        name = new["metadata"].get("name", "")
        raise ApiError.forbidden(resource.plural, name, "no new finalizers can be added if the object is being "
                                 f"deleted, found new finalizers {sorted(added)}", resource.group)
