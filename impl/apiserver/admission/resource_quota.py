"""ResourceQuota, the pure half: what a request uses, which quotas it touches, and each
quota's new ``status.used`` or the refusal.

The server does the rest, because it is asynchronous: it reads the namespace's quotas, calls
``charge_all`` (or ``charge`` per quota), and writes each returned quota back with a
compare-and-swap on its ``metadata.resourceVersion`` (kept untouched here, so a charge computed
from a stale quota fails the compare and is retried from a fresh read).

Rules (kube ``staging/src/k8s.io/apiserver/pkg/admission/plugin/resourcequota/controller.go``,
``pkg/quota/v1/evaluator/core``; "Resource Quotas"):

- Usage (``usage_of``): every object counts ``count/<plural>`` (``count/<plural>.<group>``
  outside the core group); pods also ``pods`` and, unless terminal (Succeeded/Failed), their
  compute: ``requests.cpu`` (alias ``cpu``), ``requests.memory`` (alias ``memory``),
  ``limits.cpu``, ``limits.memory``, ephemeral-storage alike, and extended ``requests.*``; the
  amounts are the pod's (containers summed, init containers as a floor, plus overhead). Note
  ``pods`` is also not counted for terminal pods. Services count ``services``,
  ``services.loadbalancers`` (type LoadBalancer) and ``services.nodeports`` (each port of a
  NodePort or LoadBalancer service; only ports with a nodePort when
  ``allocateLoadBalancerNodePorts`` is false). Claims count ``persistentvolumeclaims``,
  ``requests.storage`` and the same per storage class
  (``<class>.storageclass.storage.k8s.io/requests.storage``). Secrets, configmaps,
  resourcequotas and replicationcontrollers have their legacy count names too.
- Charged requests (``delta_of``): CREATE of anything (pods: main resource only); UPDATE of
  services and claims, charged ``new - old`` per resource, never below zero; zeros dropped.
- A quota applies when its ``status.hard`` names a resource the object's evaluator knows and
  its scopes match (``Terminating``, ``NotTerminating``, ``BestEffort``, ``NotBestEffort`` on
  pods; any other scope, or a ``scopeSelector``, is not modelled and the quota is skipped).
- Refusals (Forbidden, first quota in name order): ``status unknown for quota: q, resources:
  pods`` when ``status.used`` lacks a restricted resource; for pods, ``failed quota: q: must
  specify limits.cpu for: c1,c2; requests.cpu for: c1`` when a container leaves a restricted
  cpu/memory resource unset; ``exceeded quota: q, requested: pods=1, used: pods=2, limited:
  pods=2`` (sorted ``name=value``, joined by ``,``) when ``used + requested > hard`` for a
  requested resource. Otherwise ``status.used`` becomes ``used + requested``.
- Quantities print in the format of the quota's ``hard`` value for that resource.
"""

from __future__ import annotations

import copy
from fractions import Fraction
from typing import Any

from impl.apiserver.admission._objects import forbidden, pod_amounts
from impl.apiserver.admission.attributes import AdmissionAttributes
from impl.apiserver.admission.quantities import format_quantity, parse_quantity, quantity_format
from impl.apiserver.resources import ResourceType

__all__ = ["usage_of", "delta_of", "tracks", "restricted_resources", "quota_matches", "charge", "charge_all",
           "COMPUTE_NAMES", "UPDATE_CHARGED"]

Usage = dict[str, Fraction]
LEGACY_COUNTS = {"pods": "pods", "services": "services", "secrets": "secrets", "configmaps": "configmaps",
                 "persistentvolumeclaims": "persistentvolumeclaims", "resourcequotas": "resourcequotas",
                 "replicationcontrollers": "replicationcontrollers"}
COMPUTE_NAMES = ("cpu", "memory", "ephemeral-storage")
CONSTRAINED = ("cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory")
UPDATE_CHARGED = ("services", "persistentvolumeclaims")
STORAGE_CLASS_SUFFIX = ".storageclass.storage.k8s.io/"
POD_SCOPES = ("Terminating", "NotTerminating", "BestEffort", "NotBestEffort")
TERMINAL_PHASES = ("Succeeded", "Failed")


def _count_name(resource: ResourceType) -> str:
    return f"count/{resource.plural}" + (f".{resource.group}" if resource.group else "")


# -- usage ------------------------------------------------------------------------------------------

def usage_of(resource: ResourceType, obj: dict[str, Any]) -> Usage:
    usage: Usage = {_count_name(resource): Fraction(1)}
    if resource.group == "" and resource.plural in LEGACY_COUNTS:
        usage[LEGACY_COUNTS[resource.plural]] = Fraction(1)
    extra = {"pods": _pod_usage, "services": _service_usage, "persistentvolumeclaims": _claim_usage}
    if resource.group == "" and resource.plural in extra:
        usage = extra[resource.plural](obj, usage)
    return usage


def _pod_usage(pod: dict[str, Any], usage: Usage) -> Usage:
    if (pod.get("status") or {}).get("phase") in TERMINAL_PHASES:
        del usage["pods"]
        return usage
    return usage | compute_usage(pod_amounts(pod.get("spec") or {}, "requests"),
                                 pod_amounts(pod.get("spec") or {}, "limits"))


def compute_usage(requests: Usage, limits: Usage) -> Usage:
    """podComputeUsageHelper: ``pods`` plus each request and limit under its quota names."""
    usage: Usage = {"pods": Fraction(1)}
    for name, amount in requests.items():
        if name in COMPUTE_NAMES:
            usage[name] = amount
        if name in COMPUTE_NAMES or "/" in name or name.startswith("hugepages-"):
            usage[f"requests.{name}"] = amount
    for name, amount in limits.items():
        if name in COMPUTE_NAMES:
            usage[f"limits.{name}"] = amount
    return usage


def _service_usage(service: dict[str, Any], usage: Usage) -> Usage:
    spec = service.get("spec") or {}
    ports = spec.get("ports") or []
    if spec.get("type") == "NodePort":
        usage["services.nodeports"] = Fraction(len(ports))
    if spec.get("type") == "LoadBalancer":
        counted = ports if spec.get("allocateLoadBalancerNodePorts") is not False else [
            p for p in ports if p.get("nodePort")]
        usage["services.nodeports"] = Fraction(len(counted))
        usage["services.loadbalancers"] = Fraction(1)
    return usage


def _claim_usage(claim: dict[str, Any], usage: Usage) -> Usage:
    spec = claim.get("spec") or {}
    storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
    klass = spec.get("storageClassName") or ""
    if klass:
        usage[f"{klass}{STORAGE_CLASS_SUFFIX}persistentvolumeclaims"] = Fraction(1)
    if storage is not None:
        usage["requests.storage"] = parse_quantity(storage)
        if klass:
            usage[f"{klass}{STORAGE_CLASS_SUFFIX}requests.storage"] = parse_quantity(storage)
    return usage


def tracks(resource: ResourceType, name: str) -> bool:
    """Whether the evaluator for ``resource`` knows the quota resource ``name`` (MatchingResources)."""
    if name == _count_name(resource) or (resource.group == "" and LEGACY_COUNTS.get(resource.plural) == name):
        return True
    if resource.group != "":
        return False
    if resource.plural == "pods":
        return name in COMPUTE_NAMES or name.startswith(("requests.", "limits.", "hugepages-"))
    if resource.plural == "services":
        return name in ("services.nodeports", "services.loadbalancers")
    if resource.plural == "persistentvolumeclaims":
        return name == "requests.storage" or (STORAGE_CLASS_SUFFIX in name and name.endswith(
            ("/requests.storage", "/persistentvolumeclaims")))
    return False


# -- what a request charges -------------------------------------------------------------------------

def delta_of(attributes: AdmissionAttributes) -> Usage:
    """The usage a request adds: all of it on CREATE, the growth on UPDATE of services and claims."""
    resource, obj = attributes.resource, attributes.object
    if obj is None or attributes.subresource != "":
        return {}
    if attributes.operation == "CREATE":
        delta = usage_of(resource, obj)
    elif attributes.operation == "UPDATE" and resource.group == "" and resource.plural in UPDATE_CHARGED:
        old = usage_of(resource, attributes.old_object) if attributes.old_object is not None else {}
        delta = {name: max(amount - old.get(name, Fraction(0)), Fraction(0)) for name, amount in
                 usage_of(resource, obj).items()}
    else:
        return {}
    return {name: amount for name, amount in delta.items() if amount != 0}


# -- which quotas -----------------------------------------------------------------------------------

def _hard(quota: dict[str, Any]) -> dict[str, Any]:
    return dict((quota.get("status") or {}).get("hard") or {})


def _used(quota: dict[str, Any]) -> dict[str, Any]:
    return dict((quota.get("status") or {}).get("used") or {})


def restricted_resources(quota: dict[str, Any], resource: ResourceType) -> list[str]:
    return sorted(name for name in _hard(quota) if tracks(resource, name))


def _best_effort(pod: dict[str, Any]) -> bool:
    spec = pod.get("spec") or {}
    for container in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        resources = container.get("resources") or {}
        if any(name in ("cpu", "memory") for field in ("requests", "limits") for name in resources.get(field) or {}):
            return False
    return True


def _scope_matches(scope: str, pod: dict[str, Any]) -> bool:
    terminating = (pod.get("spec") or {}).get("activeDeadlineSeconds") is not None
    return {"Terminating": terminating, "NotTerminating": not terminating,
            "BestEffort": _best_effort(pod), "NotBestEffort": not _best_effort(pod)}[scope]


def quota_matches(quota: dict[str, Any], resource: ResourceType, obj: dict[str, Any]) -> bool:
    if not restricted_resources(quota, resource):
        return False
    spec = quota.get("spec") or {}
    scopes = spec.get("scopes") or []
    if spec.get("scopeSelector") or any(scope not in POD_SCOPES for scope in scopes):
        return False  # not modelled: PriorityClass, CrossNamespacePodAffinity, scopeSelector
    if not scopes:
        return True
    is_pod = resource.group == "" and resource.plural == "pods"
    return is_pod and all(_scope_matches(scope, obj) for scope in scopes)


# -- the charge -------------------------------------------------------------------------------------

def _format(value: Fraction, reference: Any) -> str:
    return format_quantity(value, quantity_format(reference) if reference is not None else "DecimalSI")


def _listing(amounts: dict[str, Fraction], hard: dict[str, Any]) -> str:
    return ",".join(f"{name}={_format(amounts[name], hard.get(name))}" for name in sorted(amounts))


def missing_requests(quota: dict[str, Any], attributes: AdmissionAttributes) -> str | None:
    """Pods only: the restricted cpu/memory names each container leaves unset (enforcePodContainerConstraints)."""
    required = [n for n in restricted_resources(quota, attributes.resource) if n in CONSTRAINED]
    missing: dict[str, list[str]] = {}
    spec = (attributes.object or {}).get("spec") or {}
    for container in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        resources = container.get("resources") or {}
        has = compute_usage({n: Fraction(0) for n in resources.get("requests") or {}},
                            {n: Fraction(0) for n in resources.get("limits") or {}})
        for name in required:
            if name not in has:
                missing.setdefault(name, []).append(container.get("name", ""))
    if not missing:
        return None
    return "must specify " + "; ".join(f"{name} for: {','.join(sorted(set(names)))}"
                                       for name, names in sorted(missing.items()))


def check_constraints(quota: dict[str, Any], attributes: AdmissionAttributes) -> None:
    name = (quota.get("metadata") or {}).get("name", "")
    restricted = restricted_resources(quota, attributes.resource)
    unknown = [r for r in restricted if r not in _used(quota)]
    if unknown:
        raise forbidden(attributes, f"status unknown for quota: {name}, resources: {','.join(unknown)}")
    if attributes.resource.group == "" and attributes.resource.plural == "pods" and attributes.operation == "CREATE":
        why = missing_requests(quota, attributes)
        if why is not None:
            raise forbidden(attributes, f"failed quota: {name}: {why}")


def charge(quota: dict[str, Any], delta: Usage, attributes: AdmissionAttributes) -> dict[str, Any]:
    """The quota with ``status.used`` raised by the part of ``delta`` it limits; raises
    Forbidden ``exceeded quota: ...`` when that goes over ``status.hard``. The input is not
    edited; ``metadata`` (so resourceVersion) is copied unchanged."""
    hard, used_text = _hard(quota), _used(quota)
    requested = {name: amount for name, amount in delta.items() if name in hard}
    if not requested:
        return quota
    used = {name: parse_quantity(text) for name, text in used_text.items()}
    new_used = {name: used.get(name, Fraction(0)) + amount for name, amount in requested.items()}
    exceeded = sorted(name for name, amount in new_used.items() if amount > parse_quantity(hard[name]))
    if exceeded:
        name = (quota.get("metadata") or {}).get("name", "")
        raise forbidden(attributes, f"exceeded quota: {name}, "
                                    f"requested: {_listing({n: requested[n] for n in exceeded}, hard)}, "
                                    f"used: {_listing({n: used[n] for n in exceeded if n in used}, hard)}, "
                                    f"limited: {_listing({n: parse_quantity(hard[n]) for n in exceeded}, hard)}")
    charged = copy.deepcopy(quota)
    charged["status"]["used"] = used_text | {n: _format(v, hard.get(n)) for n, v in new_used.items()}
    return charged


def charge_all(quotas: list[dict[str, Any]], attributes: AdmissionAttributes) -> list[dict[str, Any]]:
    """Every quota this request changes, charged, in name order; raises at the first refusal.
    Quotas left unchanged are not returned (the server writes only what changed)."""
    delta = delta_of(attributes)
    if not delta:
        return []
    changed = []
    for quota in sorted(quotas, key=lambda q: (q.get("metadata") or {}).get("name", "")):
        if not quota_matches(quota, attributes.resource, attributes.object or {}):
            continue
        check_constraints(quota, attributes)
        charged = charge(quota, delta, attributes)
        if charged is not quota:
            changed.append(charged)
    return changed
