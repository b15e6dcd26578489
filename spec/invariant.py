"""The Invariant value shared by every area, and the catalog that lists them all."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import attrs

__all__ = ["Invariant", "AREA_MODULES", "ANY_AREA", "CHECKED_AREAS", "all_invariants",
           "invariant_by_id"]

# One module per area; each exposes INVARIANTS, a tuple of Invariant. spec.general holds those of
# every simulated area.
AREA_MODULES: tuple[str, ...] = ("spec.general", "spec.raft", "spec.kv", "spec.rbac", "spec.apiserver",
                                 "spec.controllers")
# The areas that run the implementation on the simulated world (rbac proves, it does not run).
CHECKED_AREAS: tuple[str, ...] = ("raft", "etcd", "rbac", "apiserver", "controllers")
ANY_AREA = "any"  # the area of an invariant that every area checks
# An area whose harness runs another's whole (the controllers run on the API server harness) checks
# that area's invariants too.
ALSO_CHECKS: dict[str, tuple[str, ...]] = {"controllers": ("apiserver",)}


@attrs.frozen
class Invariant:
    """A property the reference must keep.

    ``statement`` is one paragraph a learner can follow; ``why`` says what breaks for users when
    it fails; ``source`` names the paper section or documentation page it comes from.
    ``predicate`` takes the area's plain observations and returns a list of violation messages
    (empty when the invariant holds); areas whose properties are proved (rbac) may leave it None.
    """

    id: str
    area: str
    statement: str
    source: str
    why: str = ""
    predicate: Callable[[Any], list[str]] | None = attrs.field(default=None, eq=False, repr=False)


def all_invariants(area: str | None = None) -> list[Invariant]:
    found: list[Invariant] = []
    for module_name in AREA_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as missing:
            if missing.name != module_name:
                raise
            continue  # an area not written yet
        found.extend(module.INVARIANTS)
    return [inv for inv in found if area is None or inv.area == area or inv.area in ALSO_CHECKS.get(area, ())
            or (inv.area == ANY_AREA and area in CHECKED_AREAS)]


def invariant_by_id(invariant_id: str) -> Invariant:
    for inv in all_invariants():
        if inv.id == invariant_id:
            return inv
    raise KeyError(invariant_id)
