"""The error a harness raises when an invariant breaks, shared by every simulated area."""

from __future__ import annotations

from spec.invariant import Invariant

__all__ = ["InvariantViolated"]


class InvariantViolated(AssertionError):
    def __init__(self, invariant: Invariant, message: str) -> None:
        super().__init__(f"{invariant.id}: {message}")
        self.invariant = invariant
        self.message = message
