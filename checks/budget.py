"""A wall-clock budget for searches. Time decides only when to stop looking, never what a test
case does: a seed still reproduces every test case, and a violation found within the budget is
found the same way on any machine."""

from __future__ import annotations

import time

__all__ = ["Budget", "monotonic_seconds"]


def monotonic_seconds() -> float:
    """The one clock checks/ reads: for budgets and for reporting how long something took."""
    return time.monotonic()


class Budget:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._start = monotonic_seconds()

    def elapsed(self) -> float:
        return monotonic_seconds() - self._start

    def exhausted(self) -> bool:
        return self.elapsed() >= self.seconds
