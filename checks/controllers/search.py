"""Run the controllers state machine under a time budget, in seeded chunks, until a violation is
found, then shrink the failing run as scenario lines (checks/search.py, checks/minimize.py).

A test case is long (a few hundred ticks of a whole cluster, then the fault-free phase, and a
twin run after perturbations): a chunk holds few of them, and the shrinker has a small budget of
replays (each costs seconds): a few halvings of the 10-20 lines a test case has, which is already
under the 30 lines a counterexample may have. With --jobs N the shrinker replays the next N
candidates at once (checks/minimize.py), deciding them in order: the same counterexample."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from checks.controllers.cluster import ControllersCluster, ControllersOptions
from checks.controllers.machine import ControllersMachine
from checks.controllers.scenario import load, run
from checks.minimize import shrink_found
from checks.parallel import current_jobs
from checks.search import MachineCounter, SearchOutcome, search_machine
from checks.violation import InvariantViolated
from impl.controllers.parts import ControllersParts
from spec.controllers.invariants import LEVEL_TRIGGERED

__all__ = ["search", "shrink", "EXAMPLES_PER_CHUNK", "STEPS_PER_EXAMPLE", "REPLAYS_MAX"]

# The `cluster` words the cluster line always writes, at their defaults: dropping one replays the
# same run, and took up to 3 of the 8 replays the shrinker has (the shrinker leaves the first
# word alone).
DEFAULT_WORDS = frozenset(f"{option}={getattr(ControllersOptions(), option)}"
                          for option in ("members", "apiservers", "managers", "nodes"))
EXAMPLES_PER_CHUNK = 2
STEPS_PER_EXAMPLE = 12
REPLAYS_MAX = 8
# A counterexample a reader can follow has at most this many steps. One still longer when the
# replays ran out (45 steps in a catalog search, from about 60) gets this many in all.
STEPS_WANTED = 30
LONG_REPLAYS_MAX = 16


def search(parts: ControllersParts, seed: int, budget_seconds: float,
           progress: Callable[[int, float], None] | None = None, steps: int = STEPS_PER_EXAMPLE,
           examples_max: int | None = None, controller: str = "",
           manifests: tuple[dict[str, Any], ...] = ()) -> SearchOutcome:
    def machine_class(counter: MachineCounter) -> type[ControllersMachine]:
        return type("ControllersMachine", (ControllersMachine,),
                    {"parts": parts, "counter": counter, "controller": controller, "manifests": manifests})

    return search_machine(machine_class, lambda found, violation: shrink(found, parts, violation), seed,
                          budget_seconds, examples_per_chunk=EXAMPLES_PER_CHUNK, steps=steps, progress=progress,
                          examples_max=examples_max)


def shrink(found: ControllersCluster, parts: ControllersParts,
           violation: InvariantViolated) -> tuple[ControllersCluster, InvariantViolated]:
    # The twin runs only after every other judgement has passed, and can only break
    # CTRL-LEVEL-TRIGGERED: shrinking anything else, a replay without it decides the same, and a
    # candidate that no longer fails (half of them) costs half as much.
    twin = violation.invariant.id == LEVEL_TRIGGERED.id
    # A replay costs seconds: with --jobs N, the next candidates replay side by side.
    return shrink_found(found, violation, lambda text: run(load(text, "<minimize>"), parts, lenient=True, twin=twin),
                        REPLAYS_MAX, jobs=current_jobs().jobs, defaults=DEFAULT_WORDS,
                        long=(STEPS_WANTED, LONG_REPLAYS_MAX))
