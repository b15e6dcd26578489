"""The controllers' specification: their desired state (``spec.controllers.desired``), the safety
rules that hold while they work (``spec.controllers.safety``), and the invariants that state both
(``spec.controllers.invariants``)."""

from spec.controllers.invariants import INVARIANTS

__all__ = ["INVARIANTS"]
