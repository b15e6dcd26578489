"""Shrink a failing Raft scenario line by line (delta debugging, Zeller & Hildebrandt 2002).

A scenario is a deterministic program: the same lines give the same run. So a counterexample
can be made shorter by deleting lines, chunks first and then single lines, keeping each deletion
after which the same invariant still breaks; then by dropping options from the `cluster` line.
The number of replays is bounded, so the result is the same on every machine.
"""

from __future__ import annotations

from checks.raft.scenario import load, run
from checks.scenario import ScenarioError
from impl.raft.node import RaftNode

__all__ = ["minimize", "REPLAYS_MAX"]

REPLAYS_MAX = 4_000


class _Oracle:
    def __init__(self, node_class: type[RaftNode], invariant_id: str) -> None:
        self.node_class = node_class
        self.invariant_id = invariant_id
        self.replays = 0

    def exhausted(self) -> bool:
        return self.replays >= REPLAYS_MAX

    def fails(self, header: str, steps: list[str]) -> bool:
        if self.exhausted():
            return False
        self.replays += 1
        try:
            scenario = load("\n".join([header, *steps]), "<minimize>")
        except ScenarioError:
            return False
        violation = run(scenario, self.node_class).violation
        return violation is not None and violation.invariant.id == self.invariant_id


def _delete_chunks(oracle: _Oracle, header: str, steps: list[str]) -> list[str]:
    chunk = max(1, len(steps) // 2)
    while chunk >= 1 and not oracle.exhausted():
        index = 0
        while index < len(steps) and not oracle.exhausted():
            candidate = steps[:index] + steps[index + chunk:]
            if candidate != steps and oracle.fails(header, candidate):
                steps = candidate
            else:
                index += chunk
        chunk //= 2
    return steps


def _simplify_header(oracle: _Oracle, header: str, steps: list[str]) -> str:
    words = header.split()
    for word in list(words[2:]):
        if word.startswith("seed="):
            continue
        candidate = [w for w in words if w != word]
        if oracle.fails(" ".join(candidate), steps):
            words = candidate
    return " ".join(words)


def minimize(lines: list[str], node_class: type[RaftNode], invariant_id: str) -> list[str]:
    """``lines`` is a whole failing scenario (the `cluster` line first); returns a shorter one."""
    oracle = _Oracle(node_class, invariant_id)
    header, steps = lines[0], list(lines[1:])
    if not oracle.fails(header, steps):
        return lines  # not reproducible from its lines alone: keep it as it is
    while not oracle.exhausted():  # to a fixpoint: one deletion can enable another
        before = (header, len(steps))
        header = _simplify_header(oracle, header, steps)  # fewer random faults: steps shrink better
        steps = _delete_chunks(oracle, header, steps)
        if (header, len(steps)) == before:
            break
    return [header, *steps]
