"""A budgeted, seeded search with a Hypothesis state machine, shared by every simulated area.

The search runs in chunks, each one Hypothesis run with its own seed derived from the user's seed
and the chunk number, so a seed names one exact sequence of test cases. Hypothesis stops at the
first failure (its generate phase only) and its final replay leaves the failing run on the last
machine it built; the area then shrinks that run as scenario lines (checks/minimize.py), which is
faster than shrinking Hypothesis' choices, and shorter.

With ``jobs`` above 1 (`kinv check --jobs N`) the chunks run in worker processes
(checks/parallel.py) and the answer is the same: the lowest-numbered failing chunk, whose worker
sends its failing run's lines (``FoundRun``) here to be shrunk.

A machine class takes part by having a ``counter`` class attribute (a ``MachineCounter``) that
its ``__init__`` updates, and a ``cluster`` attribute whose ``violation`` is the one it found.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import attrs
from hypothesis import HealthCheck, Phase, Verbosity, settings
from hypothesis.stateful import run_state_machine_as_test

from checks.budget import Budget
from checks.determinism import without_local_constants
from checks.parallel import ChunkPool, JobSettings, current_jobs, first_failure
from checks.violation import InvariantViolated

__all__ = ["MachineCounter", "SearchOutcome", "FoundRun", "search_machine", "run_chunk", "CHUNKS_MAX"]

CHUNKS_MAX = 1_000_000  # a bound for the loop; the budget ends it long before


@attrs.define
class MachineCounter:
    """Counts the test cases a search ran and keeps the last machine (the failing run)."""

    created: int = 0
    last: Any = None

    def saw(self, machine: Any) -> None:
        self.created += 1
        self.last = machine


@attrs.frozen
class SearchOutcome:
    examples: int
    seconds: float
    violation: InvariantViolated | None = None
    cluster: Any = None  # the shrunk failing run


# One chunk in this many also runs Hypothesis' targeted phase: it mutates the chunk's test cases
# that scored highest on the machine's rare-state targets (higher terms, more elections, logs that
# disagree...). Measured on the Raft catalog, targeting in every chunk found most bugs in as many
# test cases and one in three times as many; in a share of chunks it adds depth without that cost.
TARGETED_CHUNK_EVERY = 4


def _chunk_settings(examples: int, steps: int, targeted: bool = False) -> settings:
    phases = [Phase.generate, Phase.target] if targeted else [Phase.generate]
    return settings(max_examples=examples, stateful_step_count=steps, deadline=None,
                    database=None, derandomize=False, verbosity=Verbosity.quiet, print_blob=False,
                    report_multiple_bugs=False, phases=phases, suppress_health_check=list(HealthCheck))


def _shrunk(shrink: Callable[[Any, Any], tuple], found: Any, violation: InvariantViolated, created: int,
            budget: Budget) -> SearchOutcome:
    cluster, shrunk = shrink(found, violation)
    # Hypothesis runs the failing test case once more to raise its error: not a new example.
    return SearchOutcome(max(1, created - 1), budget.elapsed(), shrunk, cluster)


def run_chunk(machine_class: Callable[[MachineCounter], type], seed: int, examples_per_chunk: int, steps: int,
              chunk: int) -> tuple[MachineCounter, Exception | None]:
    """Run one chunk: its test cases depend on ``seed`` and ``chunk`` alone. Returns its counter
    (the last machine is the failing run) and the error a test case raised, or None."""
    counter = MachineCounter()
    machine = machine_class(counter)
    machine._hypothesis_internal_use_seed = seed * 1_000_003 + chunk
    targeted = chunk % TARGETED_CHUNK_EVERY == TARGETED_CHUNK_EVERY - 1
    try:
        run_state_machine_as_test(machine, settings=_chunk_settings(examples_per_chunk, steps, targeted))
    except Exception as error:  # noqa: BLE001 - sorted out by _found
        return counter, error
    return counter, None


def _violation_of(found: Any, error: Exception) -> InvariantViolated:
    if isinstance(error, InvariantViolated):
        return found.violation or error
    return found.exception_raised(error)  # out of impl/: an IMPL-EXCEPTION finding; ours: re-raised


def _found(shrink: Callable[[Any, Any], tuple], counter: MachineCounter, error: Exception, examples_before: int,
           budget: Budget) -> SearchOutcome:
    found = counter.last.cluster
    return _shrunk(shrink, found, _violation_of(found, error), examples_before + counter.created, budget)


@attrs.frozen
class FoundRun:
    """A failing run as a worker sends it to the parent: what an area's shrink reads of a run."""

    lines: tuple[str, ...]
    violation: InvariantViolated


def _carry(counter: MachineCounter, error: Exception) -> FoundRun | None:
    """In a worker, its failing chunk's run, or None where it cannot travel: the parent then runs
    the chunk again itself (an error of the suite's own is raised there, as with --jobs 1)."""
    try:
        found = counter.last.cluster
        run = FoundRun(tuple(found.lines), _violation_of(found, error))
        pickle.dumps(run)
    except Exception:  # noqa: BLE001 - anything: the parent's run of the chunk says what
        return None
    return run


def search_machine(machine_class: Callable[[MachineCounter], type], shrink: Callable[[Any, Any], tuple],
                   seed: int, budget_seconds: float, *, examples_per_chunk: int, steps: int,
                   progress: Callable[[int, float], None] | None = None,
                   examples_max: int | None = None, jobs: int | None = None) -> SearchOutcome:
    """Search until a violation, the time budget, or ``examples_max`` test cases (a bound that,
    unlike time, gives the same answer on any machine: tests use it). ``machine_class(counter)``
    builds the machine class for a chunk; ``shrink(cluster, violation)`` returns the shrunk
    (cluster, violation). ``jobs`` worker processes run the chunks (default: what
    ``checks.parallel.use_jobs`` set, else 1); the answer is the same for any number."""
    without_local_constants()
    budget = Budget(budget_seconds)
    job_settings = current_jobs()
    if (job_settings.jobs if jobs is None else jobs) > 1:
        job_settings = JobSettings(job_settings.jobs if jobs is None else jobs, job_settings.on_workers)
        return _search_in_workers(machine_class, shrink, seed, budget, examples_per_chunk, steps, progress,
                                  examples_max, job_settings)
    examples = 0
    for chunk in range(CHUNKS_MAX):
        if budget.exhausted() or (examples_max is not None and examples >= examples_max):
            break
        counter, error = run_chunk(machine_class, seed, examples_per_chunk, steps, chunk)
        if error is not None:
            return _found(shrink, counter, error, examples, budget)
        examples += counter.created
        if progress is not None:
            progress(examples, budget.elapsed())
    return SearchOutcome(examples, budget.elapsed())


def _search_in_workers(machine_class: Callable[[MachineCounter], type], shrink: Callable[[Any, Any], tuple],
                       seed: int, budget: Budget, examples_per_chunk: int, steps: int,
                       progress: Callable[[int, float], None] | None, examples_max: int | None,
                       job_settings: JobSettings) -> SearchOutcome:
    """The chunks in worker processes (checks/parallel.py); the failing run of the lowest-numbered
    failing chunk is shrunk here from the lines its worker sent, as `--jobs 1` would have shrunk
    it. Should they not fail again here, the chunk runs again here and its run is shrunk."""
    arguments = (machine_class, seed, examples_per_chunk, steps)

    def report(examples: int, busy: int) -> None:
        if job_settings.on_workers is not None:
            job_settings.on_workers(busy, job_settings.jobs)
        if progress is not None:
            progress(examples, budget.elapsed())
    with ChunkPool(job_settings.jobs, run_chunk, arguments, carry=_carry) as pool:
        failed, examples = first_failure(pool, budget.exhausted, examples_max, report)
    if failed is None:
        return SearchOutcome(examples, budget.elapsed())
    if failed.found is not None:
        outcome = _shrunk(shrink, failed.found, failed.found.violation, examples + failed.created, budget)
        if outcome.cluster is not failed.found:  # its lines failed again here: shrunk as --jobs 1 would
            return outcome
    counter, error = run_chunk(*arguments, failed.chunk)
    assert error is not None, (f"chunk {failed.chunk} of seed {seed} failed in a worker but not when run again here: "
                               "a test case depends on something besides its seed")
    return _found(shrink, counter, error, examples, budget)
