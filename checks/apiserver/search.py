"""Run the apiserver state machine under a time budget, in seeded chunks, until a violation is
found, then shrink the failing run as scenario lines (checks/search.py, checks/minimize.py)."""

from __future__ import annotations

from collections.abc import Callable

from checks.apiserver.cluster import ApiCluster, ApiParts
from checks.apiserver.machine import ApiMachine
from checks.apiserver.scenario import load, run
from checks.minimize import shrink_found
from checks.search import MachineCounter, SearchOutcome, search_machine
from checks.violation import InvariantViolated

__all__ = ["search", "shrink", "EXAMPLES_PER_CHUNK", "STEPS_PER_EXAMPLE", "REPLAYS_MAX"]

EXAMPLES_PER_CHUNK = 10
STEPS_PER_EXAMPLE = 25
REPLAYS_MAX = 800


def search(parts: ApiParts, seed: int, budget_seconds: float, progress: Callable[[int, float], None] | None = None,
           steps: int = STEPS_PER_EXAMPLE, examples_max: int | None = None) -> SearchOutcome:
    def machine_class(counter: MachineCounter) -> type[ApiMachine]:
        return type("ApiMachine", (ApiMachine,), {"parts": parts, "counter": counter})

    return search_machine(machine_class, lambda found, violation: shrink(found, parts, violation), seed,
                          budget_seconds, examples_per_chunk=EXAMPLES_PER_CHUNK, steps=steps, progress=progress,
                          examples_max=examples_max)


def shrink(found: ApiCluster, parts: ApiParts, violation: InvariantViolated) -> tuple[ApiCluster, InvariantViolated]:
    return shrink_found(found, violation, lambda text: run(load(text, "<minimize>"), parts, lenient=True), REPLAYS_MAX)
