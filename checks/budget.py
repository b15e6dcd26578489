"""A wall-clock budget for searches. Time decides only when to stop looking, never what a test
case does: a seed still reproduces every test case, and a violation found within the budget is
found the same way on any machine."""

from __future__ import annotations

import time

__all__ = ["Budget"]


class Budget:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._start = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self._start

    def exhausted(self) -> bool:
        return self.elapsed() >= self.seconds
