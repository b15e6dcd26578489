"""Small readers over plain JSON objects that several plugins share (private to admission)."""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Iterator

from impl.apiserver.admission.attributes import AdmissionAttributes
from impl.apiserver.admission.quantities import parse_quantity
from impl.apiserver.status import ApiError

__all__ = ["labels_of", "annotations_of", "pod_spec", "containers", "is_main", "is_kind", "forbidden", "aggregate",
           "pod_amounts"]

# kinds of container a pod spec holds, in the order kube's visitors walk them
CONTAINER_FIELDS = ("initContainers", "containers", "ephemeralContainers")


def labels_of(obj: dict[str, Any] | None) -> dict[str, str]:
    return dict(((obj or {}).get("metadata") or {}).get("labels") or {})


def annotations_of(obj: dict[str, Any] | None) -> dict[str, str]:
    return dict(((obj or {}).get("metadata") or {}).get("annotations") or {})


def pod_spec(pod: dict[str, Any]) -> dict[str, Any]:
    """The spec to read (not to edit: a missing spec reads as empty)."""
    return (pod or {}).get("spec") or {}


def containers(spec: dict[str, Any], fields: tuple[str, ...] = CONTAINER_FIELDS) -> Iterator[dict[str, Any]]:
    """Every container of a pod spec, init containers first (kube's ``VisitContainers`` order)."""
    for field in fields:
        for container in spec.get(field) or []:
            yield container


def is_main(attributes: AdmissionAttributes) -> bool:
    """A request on the main resource, not a subresource such as pods/status."""
    return attributes.subresource == ""


def is_kind(attributes: AdmissionAttributes, group: str, plural: str) -> bool:
    return attributes.resource.group == group and attributes.resource.plural == plural


def forbidden(attributes: AdmissionAttributes, why: str) -> ApiError:
    """admission.NewForbidden: names the object (its generateName before a name exists, else
    ``Unknown``) and its resource with the group."""
    meta = (attributes.object or {}).get("metadata") or {}
    name = attributes.name or meta.get("name") or meta.get("generateName") or "Unknown"
    return ApiError.forbidden(attributes.resource.plural, name, why, attributes.resource.group)


def aggregate(messages: list[str]) -> str:
    """utilerrors.NewAggregate(...).Error(): one message alone, several as ``[a, b]``."""
    return messages[0] if len(messages) == 1 else "[" + ", ".join(messages) + "]"


def _add(total: dict[str, Fraction], amounts: dict[str, Any]) -> None:
    for name, text in amounts.items():
        total[name] = total.get(name, Fraction(0)) + parse_quantity(text)


def pod_amounts(spec: dict[str, Any], field: str) -> dict[str, Fraction]:
    """What a pod asks for (``field`` is ``requests`` or ``limits``): the sum over its containers,
    at least each init container's amount, plus ``spec.overhead`` (resourcehelper.PodRequests,
    without sidecar init containers)."""
    total: dict[str, Fraction] = {}
    for container in spec.get("containers") or []:
        _add(total, (container.get("resources") or {}).get(field) or {})
    for container in spec.get("initContainers") or []:
        for name, text in ((container.get("resources") or {}).get(field) or {}).items():
            total[name] = max(total.get(name, Fraction(0)), parse_quantity(text))
    _add(total, spec.get("overhead") or {})
    return total
