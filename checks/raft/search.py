"""Run the Raft state machine under a time budget, in seeded chunks, until a violation is found.

Each chunk is one Hypothesis run with its own seed derived from the user's seed and the chunk
number, so a seed names one exact sequence of test cases. Hypothesis shrinks the first failure;
its final replay leaves the shrunk run on the last machine it built.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
from hypothesis import HealthCheck, Phase, Verbosity, settings
from hypothesis.stateful import run_state_machine_as_test

from checks.budget import Budget
from checks.raft.cluster import InvariantViolated, RaftCluster
from checks.raft.machine import MachineCounter, RaftMachine
from impl.raft.node import RaftNode

__all__ = ["SearchOutcome", "search", "EXAMPLES_PER_CHUNK", "STEPS_PER_EXAMPLE"]

EXAMPLES_PER_CHUNK = 25
STEPS_PER_EXAMPLE = 60
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
                    report_multiple_bugs=False, phases=[Phase.generate, Phase.shrink],
                    suppress_health_check=list(HealthCheck))


def _machine_class(node_class: type[RaftNode], counter: MachineCounter) -> type[RaftMachine]:
    return type("RaftMachine", (RaftMachine,), {"node_class": node_class, "counter": counter})


def chunk_seed(seed: int, chunk: int) -> int:
    return seed * 1_000_003 + chunk


def search(node_class: type[RaftNode], seed: int, budget_seconds: float,
           progress: Callable[[int, float], None] | None = None,
           steps: int = STEPS_PER_EXAMPLE) -> SearchOutcome:
    budget = Budget(budget_seconds)
    examples = 0
    for chunk in range(CHUNKS_MAX):
        if budget.exhausted():
            break
        counter = MachineCounter()
        machine = _machine_class(node_class, counter)
        machine._hypothesis_internal_use_seed = chunk_seed(seed, chunk)
        try:
            run_state_machine_as_test(machine, settings=_chunk_settings(steps))
        except InvariantViolated as violation:
            failed = counter.last.cluster
            return SearchOutcome(examples + _examples_until_failure(counter), budget.elapsed(),
                                 failed.violation or violation, failed)
        examples += counter.created
        if progress is not None:
            progress(examples, budget.elapsed())
    return SearchOutcome(examples, budget.elapsed())


def _examples_until_failure(counter: MachineCounter) -> int:
    return counter.first_failure_at or counter.created
