"""Run the etcd state machine under a time budget, in seeded chunks, until a violation is found,
then shrink the failing run as scenario lines. The same scheme as checks/raft/search.py."""

from __future__ import annotations

from collections.abc import Callable

import attrs
from hypothesis import HealthCheck, Phase, Verbosity, settings
from hypothesis.stateful import run_state_machine_as_test

from checks.budget import Budget
from checks.determinism import without_local_constants
from checks.etcd.cluster import EtcdCluster, InvariantViolated
from impl.etcd.parts import EtcdParts
from checks.etcd.machine import EtcdMachine, MachineCounter
from checks.etcd.scenario import load, run
from checks.minimize import Oracle, minimize_lines

__all__ = ["SearchOutcome", "search", "EXAMPLES_PER_CHUNK", "STEPS_PER_EXAMPLE", "REPLAYS_MAX"]

EXAMPLES_PER_CHUNK = 20
STEPS_PER_EXAMPLE = 30
CHUNKS_MAX = 1_000_000
REPLAYS_MAX = 1_500  # etcd runs are longer than Raft's: fewer replays keep shrinking quick


@attrs.frozen
class SearchOutcome:
    examples: int
    seconds: float
    violation: InvariantViolated | None = None
    cluster: EtcdCluster | None = None


def _settings(steps: int) -> settings:
    return settings(max_examples=EXAMPLES_PER_CHUNK, stateful_step_count=steps, deadline=None,
                    database=None, derandomize=False, verbosity=Verbosity.quiet, print_blob=False,
                    report_multiple_bugs=False, phases=[Phase.generate],
                    suppress_health_check=list(HealthCheck))


def search(parts: EtcdParts, seed: int, budget_seconds: float,
           progress: Callable[[int, float], None] | None = None,
           steps: int = STEPS_PER_EXAMPLE, examples_max: int | None = None) -> SearchOutcome:
    without_local_constants()
    budget = Budget(budget_seconds)
    examples = 0
    for chunk in range(CHUNKS_MAX):
        if budget.exhausted() or (examples_max is not None and examples >= examples_max):
            break
        counter = MachineCounter()
        machine = type("EtcdMachine", (EtcdMachine,), {"parts": parts, "counter": counter})
        machine._hypothesis_internal_use_seed = seed * 1_000_003 + chunk
        try:
            run_state_machine_as_test(machine, settings=_settings(steps))
        except InvariantViolated as violation:
            found = counter.last.cluster
            cluster, shrunk = shrink(found, parts, found.violation or violation)
            return SearchOutcome(examples + max(1, counter.created - 1), budget.elapsed(), shrunk, cluster)
        examples += counter.created
        if progress is not None:
            progress(examples, budget.elapsed())
    return SearchOutcome(examples, budget.elapsed())


def shrink(found: EtcdCluster, parts: EtcdParts,
           violation: InvariantViolated) -> tuple[EtcdCluster, InvariantViolated]:
    def runner(text: str) -> str | None:
        broken = run(load(text, "<minimize>"), parts).violation
        return broken.invariant.id if broken is not None else None
    lines = minimize_lines(found.lines, Oracle(runner, violation.invariant.id, REPLAYS_MAX))
    outcome = run(load("\n".join(lines), "<counterexample>"), parts)
    if outcome.violation is None:
        return found, violation
    return outcome.cluster, outcome.violation
