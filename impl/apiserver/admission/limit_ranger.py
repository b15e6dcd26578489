"""LimitRanger: default and bound the resources of pods and PersistentVolumeClaims by the
LimitRange objects of their namespace.

Rules (kube ``plugin/pkg/admission/limitranger``; "Limit Ranges"; ``SetDefaults_LimitRangeItem``):

- Applies to pods on CREATE (their containers are immutable afterwards) and to PVCs on CREATE
  and UPDATE; subresources are exempt. LimitRanges are read sorted by name.
- Defaults, items of type ``Container``: a container lacking a limit gets ``default``; lacking a
  request, ``defaultRequest``. As the API defaults a stored LimitRange item, ``default`` falls
  back to ``max`` and ``defaultRequest`` to ``default``, then to ``min`` (applied here on read, so
  a LimitRange stored without API defaulting behaves the same). Init containers too. The pod is
  annotated ``kubernetes.io/limit-ranger: LimitRanger plugin set: cpu, memory request for
  container c; cpu limit for container c`` when anything was set; a second run sets nothing.
- Bounds, per container (``Container``), per pod (``Pod``: sums, init containers as a floor) and
  per claim (``PersistentVolumeClaim``: ``spec.resources.requests``; its ``max`` reads the request
  as the limit, as kube does):
  ``minimum cpu usage per Container is 100m, but request is 50m`` (or ``.  No request is
  specified``, or ``but limit is``), ``maximum cpu usage per Container is 1, but limit is 2``
  (or ``.  No limit is specified``, or ``but request is``), ``cpu max limit to request ratio
  per Container is 2, but provided ratio is 4.000000`` (or ``but no request is specified or
  request is 0`` / ``but no limit is specified or limit is 0``).
- The first LimitRange with violations refuses: Forbidden, its messages aggregated
  (``[a, b]`` when several). Comparisons are exact (kube compares milli-units).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Callable

from impl.apiserver.admission._objects import aggregate, forbidden, is_kind, is_main, pod_amounts
from impl.apiserver.admission.attributes import AdmissionAttributes, Lookup
from impl.apiserver.admission.quantities import canonical, format_quantity, parse_quantity

__all__ = ["LimitRanger", "ANNOTATION", "item_with_defaults", "min_violation", "max_violation",
           "ratio_violation"]

ANNOTATION = "kubernetes.io/limit-ranger"
Amounts = dict[str, Any]  # resource name -> quantity text, as in a ResourceList


def item_with_defaults(item: dict[str, Any]) -> dict[str, Any]:
    """A LimitRange item as API defaulting stores it (only ``Container`` items get defaults)."""
    if item.get("type") != "Container":
        return item
    default = dict(item.get("default") or {})
    for name, value in (item.get("max") or {}).items():
        default.setdefault(name, value)
    request = dict(item.get("defaultRequest") or {})
    for name, value in [*default.items(), *(item.get("min") or {}).items()]:
        request.setdefault(name, value)
    return {**item, "default": default, "defaultRequest": request}


# -- the three bounds, as kube's minConstraint / maxConstraint / limitRequestRatioConstraint ------

def min_violation(kind: str, name: str, enforced: Any, requests: Amounts, limits: Amounts) -> str | None:
    bound = parse_quantity(enforced)
    head = f"minimum {name} usage per {kind} is {canonical(enforced)}"
    if name not in requests:
        return f"{head}.  No request is specified"
    if parse_quantity(requests[name]) < bound:
        return f"{head}, but request is {canonical(requests[name])}"
    if name in limits and parse_quantity(limits[name]) < bound:
        return f"{head}, but limit is {canonical(limits[name])}"
    return None


def max_violation(kind: str, name: str, enforced: Any, requests: Amounts, limits: Amounts) -> str | None:
    bound = parse_quantity(enforced)
    head = f"maximum {name} usage per {kind} is {canonical(enforced)}"
    if name not in limits:
        return f"{head}.  No limit is specified"
    if parse_quantity(limits[name]) > bound:
        return f"{head}, but limit is {canonical(limits[name])}"
    if name in requests and parse_quantity(requests[name]) > bound:
        return f"{head}, but request is {canonical(requests[name])}"
    return None


def ratio_violation(kind: str, name: str, enforced: Any, requests: Amounts, limits: Amounts) -> str | None:
    head = f"{name} max limit to request ratio per {kind} is {canonical(enforced)}"
    request = parse_quantity(requests[name]) if name in requests else Fraction(0)
    limit = parse_quantity(limits[name]) if name in limits else Fraction(0)
    if request == 0:
        return f"{head}, but no request is specified or request is 0"
    if limit == 0:
        return f"{head}, but no limit is specified or limit is 0"
    ratio = limit / request
    if ratio > parse_quantity(enforced):
        return f"{head}, but provided ratio is {float(ratio):.6f}"
    return None


Check = Callable[[str, str, Any, Amounts, Amounts], "str | None"]
BOUNDS: tuple[tuple[str, Check], ...] = (("min", min_violation), ("max", max_violation),
                                         ("maxLimitRequestRatio", ratio_violation))


def _resources(container: dict[str, Any]) -> tuple[Amounts, Amounts]:
    resources = container.get("resources") or {}
    return dict(resources.get("requests") or {}), dict(resources.get("limits") or {})


class LimitRanger:
    name = "LimitRanger"

    def handles(self, attributes: AdmissionAttributes) -> bool:
        if not is_main(attributes):
            return False
        if is_kind(attributes, "", "pods"):
            return attributes.operation == "CREATE"
        return is_kind(attributes, "", "persistentvolumeclaims") and attributes.operation in ("CREATE", "UPDATE")

    def limit_ranges(self, attributes: AdmissionAttributes, lookup: Lookup) -> list[dict[str, Any]]:
        ranges = lookup.list("limitranges", attributes.namespace)
        return sorted(ranges, key=lambda r: (r.get("metadata") or {}).get("name", ""))

    def items(self, limit_range: dict[str, Any], kind: str) -> list[dict[str, Any]]:
        return [item_with_defaults(item) for item in (limit_range.get("spec") or {}).get("limits") or []
                if item.get("type") == kind]

    # -- mutation --------------------------------------------------------------------------------

    def admit(self, attributes: AdmissionAttributes, lookup: Lookup) -> None:
        if not is_kind(attributes, "", "pods") or attributes.object is None:
            return
        for limit_range in self.limit_ranges(attributes, lookup):
            defaults = self.container_defaults(limit_range)
            if defaults != ({}, {}):
                self.apply_defaults(attributes.object, *defaults)

    def container_defaults(self, limit_range: dict[str, Any]) -> tuple[Amounts, Amounts]:
        """(default requests, default limits) of one LimitRange; a later item wins a resource."""
        requests: Amounts = {}
        limits: Amounts = {}
        for item in self.items(limit_range, "Container"):
            requests.update({k: canonical(v) for k, v in (item.get("defaultRequest") or {}).items()})
            limits.update({k: canonical(v) for k, v in (item.get("default") or {}).items()})
        return requests, limits

    def apply_defaults(self, pod: dict[str, Any], requests: Amounts, limits: Amounts) -> None:
        notes: list[str] = []
        spec = pod.get("spec") or {}
        for field, label in (("containers", "container"), ("initContainers", "init container")):
            for container in spec.get(field) or []:
                notes += self.default_container(container, requests, limits, label)
        if notes:
            annotations = pod.setdefault("metadata", {}).setdefault("annotations", {})
            annotations[ANNOTATION] = "LimitRanger plugin set: " + "; ".join(notes)

    def default_container(self, container: dict[str, Any], requests: Amounts, limits: Amounts,
                          label: str) -> list[str]:
        notes = []
        for field, defaults, word in (("requests", requests, "request"), ("limits", limits, "limit")):
            current = (container.get("resources") or {}).get(field) or {}
            missing = sorted(name for name in defaults if name not in current)
            if missing:
                target = container.setdefault("resources", {}).setdefault(field, {})
                target.update({name: defaults[name] for name in missing})
                notes.append(f"{', '.join(missing)} {word} for {label} {container.get('name', '')}")
        return notes

    # -- validation ------------------------------------------------------------------------------

    def validate(self, attributes: AdmissionAttributes, lookup: Lookup) -> None:
        if attributes.object is None:
            return
        for limit_range in self.limit_ranges(attributes, lookup):
            messages = self.violations(attributes, limit_range)
            if messages:
                raise forbidden(attributes, aggregate(messages))

    def violations(self, attributes: AdmissionAttributes, limit_range: dict[str, Any]) -> list[str]:
        obj = attributes.object or {}
        if is_kind(attributes, "", "pods"):
            return self.container_violations(obj, limit_range) + self.pod_violations(obj, limit_range)
        return self.claim_violations(obj, limit_range)

    def bound_violations(self, kind: str, item: dict[str, Any], requests: Amounts, limits: Amounts) -> list[str]:
        found = []
        for field, check in BOUNDS:
            for name, enforced in sorted((item.get(field) or {}).items()):
                message = check(kind, name, enforced, requests, limits)
                if message is not None:
                    found.append(message)
        return found

    def container_violations(self, pod: dict[str, Any], limit_range: dict[str, Any]) -> list[str]:
        found = []
        spec = pod.get("spec") or {}
        for item in self.items(limit_range, "Container"):
            for container in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
                found += self.bound_violations("Container", item, *_resources(container))
        return found

    def pod_violations(self, pod: dict[str, Any], limit_range: dict[str, Any]) -> list[str]:
        spec = pod.get("spec") or {}
        requests = _as_text(pod_amounts(spec, "requests"))
        limits = _as_text(pod_amounts(spec, "limits"))
        found = []
        for item in self.items(limit_range, "Pod"):
            found += self.bound_violations("Pod", item, requests, limits)
        return found

    def claim_violations(self, claim: dict[str, Any], limit_range: dict[str, Any]) -> list[str]:
        requests = dict(((claim.get("spec") or {}).get("resources") or {}).get("requests") or {})
        found = []
        for item in self.items(limit_range, "PersistentVolumeClaim"):
            for name, enforced in sorted((item.get("min") or {}).items()):
                found.append(min_violation("PersistentVolumeClaim", name, enforced, requests, {}))
            for name, enforced in sorted((item.get("max") or {}).items()):
                found.append(max_violation("PersistentVolumeClaim", name, enforced, {}, requests))
        return [message for message in found if message is not None]


def _as_text(amounts: dict[str, Fraction]) -> dict[str, str]:
    return {name: format_quantity(value) for name, value in amounts.items()}
