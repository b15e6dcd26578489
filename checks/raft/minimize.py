"""Shrink a failing Raft scenario line by line (checks/minimize.py does the deleting)."""

from __future__ import annotations

from checks.minimize import REPLAYS_MAX, Oracle, minimize_lines
from checks.raft.scenario import load, run
from impl.raft.node import RaftNode

__all__ = ["minimize", "REPLAYS_MAX"]


def minimize(lines: list[str], node_class: type[RaftNode], invariant_id: str) -> list[str]:
    """``lines`` is a whole failing scenario (the `cluster` line first); returns a shorter one."""
    def runner(text: str) -> str | None:
        violation = run(load(text, "<minimize>"), node_class).violation
        return violation.invariant.id if violation is not None else None
    return minimize_lines(lines, Oracle(runner, invariant_id))
