"""Run the etcd state machine under a time budget, in seeded chunks, until a violation is found,
then shrink the failing run as scenario lines (checks/search.py, checks/minimize.py)."""

from __future__ import annotations

from collections.abc import Callable

from checks.etcd.cluster import EtcdCluster
from checks.etcd.machine import EtcdMachine
from checks.etcd.scenario import load, run
from checks.minimize import shrink_found
from checks.search import MachineCounter, SearchOutcome, search_machine
from checks.violation import InvariantViolated
from impl.etcd.parts import EtcdParts

__all__ = ["SearchOutcome", "search", "shrink", "EXAMPLES_PER_CHUNK", "STEPS_PER_EXAMPLE", "REPLAYS_MAX"]

EXAMPLES_PER_CHUNK = 20
STEPS_PER_EXAMPLE = 30
REPLAYS_MAX = 1_500  # etcd runs are longer than Raft's: fewer replays keep shrinking quick


def search(parts: EtcdParts, seed: int, budget_seconds: float,
           progress: Callable[[int, float], None] | None = None,
           steps: int = STEPS_PER_EXAMPLE, examples_max: int | None = None) -> SearchOutcome:
    def machine_class(counter: MachineCounter) -> type[EtcdMachine]:
        return type("EtcdMachine", (EtcdMachine,), {"parts": parts, "counter": counter})

    return search_machine(machine_class, lambda found, violation: shrink(found, parts, violation), seed,
                          budget_seconds, examples_per_chunk=EXAMPLES_PER_CHUNK, steps=steps,
                          progress=progress, examples_max=examples_max)


def shrink(found: EtcdCluster, parts: EtcdParts, violation: InvariantViolated) -> tuple[EtcdCluster, InvariantViolated]:
    return shrink_found(found, violation, lambda text: run(load(text, "<minimize>"), parts, lenient=True), REPLAYS_MAX)
