"""Run the Raft state machine under a time budget, in seeded chunks, until a violation is found,
then shrink the failing run as scenario lines (checks/search.py, checks/raft/minimize.py)."""

from __future__ import annotations

from collections.abc import Callable

from checks.raft.cluster import RaftCluster
from checks.raft.machine import RaftMachine
from checks.raft.minimize import minimize
from checks.raft.scenario import load, run
from checks.search import MachineCounter, SearchOutcome, search_machine
from checks.violation import InvariantViolated
from impl.raft.node import RaftNode

__all__ = ["SearchOutcome", "search", "EXAMPLES_PER_CHUNK", "STEPS_PER_EXAMPLE"]

EXAMPLES_PER_CHUNK = 25
STEPS_PER_EXAMPLE = 30


def search(node_class: type[RaftNode], seed: int, budget_seconds: float,
           progress: Callable[[int, float], None] | None = None,
           steps: int = STEPS_PER_EXAMPLE, examples_max: int | None = None) -> SearchOutcome:
    def machine_class(counter: MachineCounter) -> type[RaftMachine]:
        return type("RaftMachine", (RaftMachine,), {"node_class": node_class, "counter": counter})

    def shrink(found: RaftCluster, violation: InvariantViolated) -> tuple[RaftCluster, InvariantViolated]:
        lines = minimize(found.lines, node_class, violation.signature)
        outcome = run(load("\n".join(lines), "<counterexample>"), node_class)
        if outcome.violation is None:  # cannot happen for a deterministic run; keep what was found
            return found, violation
        return outcome.cluster, outcome.violation

    return search_machine(machine_class, shrink, seed, budget_seconds, examples_per_chunk=EXAMPLES_PER_CHUNK,
                          steps=steps, progress=progress, examples_max=examples_max)
