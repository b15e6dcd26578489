"""Run the Raft state machine under a time budget, in seeded chunks, until a violation is found.

Each chunk is one Hypothesis run with its own seed derived from the user's seed and the chunk
number, so a seed names one exact sequence of test cases. Hypothesis stops at the first failure
(its generate phase only) and its final replay leaves the failing run on the last machine it
built. That run is then shrunk as scenario lines (minimize.py): faster than shrinking
Hypothesis' choices, and shorter.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
from hypothesis import HealthCheck, Phase, Verbosity, settings
from hypothesis.stateful import run_state_machine_as_test

from checks.budget import Budget
from checks.determinism import without_local_constants
from checks.raft.cluster import InvariantViolated, RaftCluster
from checks.raft.machine import MachineCounter, RaftMachine
from checks.raft.minimize import minimize
from checks.raft.scenario import load, run
from impl.raft.node import RaftNode

__all__ = ["SearchOutcome", "search", "EXAMPLES_PER_CHUNK", "STEPS_PER_EXAMPLE"]

EXAMPLES_PER_CHUNK = 25
STEPS_PER_EXAMPLE = 30
CHUNKS_MAX = 1_000_000  # a bound for the loop; the budget ends it long before


@attrs.frozen
class SearchOutcome:
    examples: int
    seconds: float
    violation: InvariantViolated | None = None
    cluster: RaftCluster | None = None  # the shrunk failing run


def _chunk_settings(steps: int) -> settings:
    return settings(max_examples=EXAMPLES_PER_CHUNK, stateful_step_count=steps, deadline=None,
                    database=None, derandomize=False, verbosity=Verbosity.quiet, print_blob=False,
                    report_multiple_bugs=False, phases=[Phase.generate],
                    suppress_health_check=list(HealthCheck))


def _machine_class(node_class: type[RaftNode], counter: MachineCounter) -> type[RaftMachine]:
    return type("RaftMachine", (RaftMachine,), {"node_class": node_class, "counter": counter})


def chunk_seed(seed: int, chunk: int) -> int:
    return seed * 1_000_003 + chunk


def search(node_class: type[RaftNode], seed: int, budget_seconds: float,
           progress: Callable[[int, float], None] | None = None,
           steps: int = STEPS_PER_EXAMPLE, examples_max: int | None = None) -> SearchOutcome:
    """Search until a violation, the time budget, or ``examples_max`` test cases (a bound that,
    unlike time, gives the same answer on any machine: tests use it)."""
    without_local_constants()
    budget = Budget(budget_seconds)
    examples = 0
    for chunk in range(CHUNKS_MAX):
        if budget.exhausted() or (examples_max is not None and examples >= examples_max):
            break
        counter = MachineCounter()
        machine = _machine_class(node_class, counter)
        machine._hypothesis_internal_use_seed = chunk_seed(seed, chunk)
        try:
            run_state_machine_as_test(machine, settings=_chunk_settings(steps))
        except InvariantViolated as violation:
            found = counter.last.cluster
            found_violation = found.violation or violation
            cluster, shrunk_violation = _shrink(found, node_class, found_violation)
            return SearchOutcome(examples + _examples_until_failure(counter), budget.elapsed(),
                                 shrunk_violation, cluster)
        examples += counter.created
        if progress is not None:
            progress(examples, budget.elapsed())
    return SearchOutcome(examples, budget.elapsed())


def _shrink(found: RaftCluster, node_class: type[RaftNode],
            violation: InvariantViolated) -> tuple[RaftCluster, InvariantViolated]:
    lines = minimize(found.lines, node_class, violation.invariant.id)
    outcome = run(load("\n".join(lines), "<counterexample>"), node_class)
    if outcome.violation is None:  # cannot happen for a deterministic run; keep what was found
        return found, violation
    return outcome.cluster, outcome.violation


def _examples_until_failure(counter: MachineCounter) -> int:
    """Hypothesis runs the failing test case once more to raise its error: not a new example."""
    return max(1, counter.created - 1)
