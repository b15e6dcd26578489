"""Shrink a failing Raft scenario line by line (checks/minimize.py does the deleting)."""

from __future__ import annotations

from checks.minimize import REPLAYS_MAX, Oracle, minimize_strict
from checks.raft.scenario import load, run
from impl.raft.node import RaftNode

__all__ = ["minimize", "REPLAYS_MAX"]


def minimize(lines: list[str], node_class: type[RaftNode], signature: str) -> list[str]:
    """``lines`` is a whole failing scenario (the `cluster` line first); returns a shorter one that
    replays strictly: a line left with nothing to do is deleted, or marked `maybe`."""
    def runner(text: str) -> str | None:
        violation = run(load(text, "<minimize>"), node_class, lenient=True).violation
        return violation.signature if violation is not None else None

    def replay_marked(lines: list[str]) -> list[str]:
        return run(load("\n".join(lines), "<minimize>"), node_class, lenient=True).cluster.lines
    return minimize_strict(lines, Oracle(runner, signature), replay_marked)
