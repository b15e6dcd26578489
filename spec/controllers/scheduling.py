"""CTRL-NODE-FITS: what the pods bound to a node request, against what the node has.

A pod's request is what kube's NodeResourcesFit counts (computePodResourceRequest): the sum of its
containers' requests (a container's limit where it requests nothing, as the API server's defaulting
fills it), or its largest init container's where that is more, and one pod. A node has its
``status.allocatable`` (cpu, memory, pods; a resource it does not name is not judged).
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from typing import Any

from spec.controllers.desired import meta

__all__ = ["ENDED_PHASES", "overcommit_problems", "pod_request", "pods_on", "quantity"]

ENDED_PHASES = ("Succeeded", "Failed")  # such pods hold nothing on their node
_SUFFIXES = {"": 1, "m": Fraction(1, 1000), "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15,
             "E": 10**18, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}


def quantity(text: Any) -> Fraction:
    """A Quantity ("500m", "1.5", "2Gi", "1e3") as a number; ValueError for anything else."""
    text = str(text).strip()
    number = text.rstrip("kMGTPEim")
    suffix = text[len(number):]
    if suffix not in _SUFFIXES:
        raise ValueError(f"not a quantity: {text!r}")
    return Fraction(number) * _SUFFIXES[suffix]


def _container(container: dict[str, Any]) -> tuple[Fraction, Fraction]:
    resources = container.get("resources") or {}
    amounts = []
    for name in ("cpu", "memory"):
        value = (resources.get("requests") or {}).get(name, (resources.get("limits") or {}).get(name, 0))
        amounts.append(quantity(value))
    return amounts[0], amounts[1]


def pod_request(pod: dict[str, Any]) -> tuple[Fraction, Fraction]:
    """(cpu in cores, memory in bytes) that ``pod`` asks of its node."""
    spec = pod.get("spec") or {}
    cpu = memory = Fraction(0)
    for container in spec.get("containers") or ():
        more = _container(container)
        cpu, memory = cpu + more[0], memory + more[1]
    for container in spec.get("initContainers") or ():
        init = _container(container)
        cpu, memory = max(cpu, init[0]), max(memory, init[1])
    return cpu, memory


def pods_on(node_name: str, pods: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Of ``pods``, those bound to ``node_name`` that have not ended: what the node holds room for."""
    return [p for p in pods if (p.get("spec") or {}).get("nodeName") == node_name
            and (p.get("status") or {}).get("phase") not in ENDED_PHASES]


def overcommit_problems(node_name: str, node: dict[str, Any], pods: Iterable[dict[str, Any]]) -> list[str]:
    """What the pods bound to ``node_name`` that have not ended (``pods``: every pod) request more
    of than the node has."""
    bound = pods_on(node_name, pods)
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    requests = [pod_request(p) for p in bound]
    asked = {"cpu": sum((r[0] for r in requests), Fraction(0)), "memory": sum((r[1] for r in requests), Fraction(0)),
             "pods": Fraction(len(bound))}
    over = [f"{name} {float(asked[name]):g} of {allocatable[name]}" for name in ("cpu", "memory", "pods")
            if name in allocatable and asked[name] > quantity(allocatable[name])]
    if not over:
        return []
    names = ", ".join(sorted(meta(p).get("name", "") for p in bound))
    return [f"node {node_name}: its {len(bound)} pods ({names}) request {'; '.join(over)} allocatable"]
