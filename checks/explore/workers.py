"""`kinv explore --jobs N`: the models (an area's configurations) are explored in N worker
processes, with the answer `--jobs 1` gives (engine.explore_levels).

**The split.** Worker w explores models w, w+N, w+2N... (at most one worker a model), a level of
each in turn, as one process explores all of them (engine._interleave). A model's search depends on
nothing but the model: the states it visits, in which order, and the first violating move of a
level are the same whichever process runs it and whatever runs beside it. After each level a
worker reports the model's figures (depth, states, transitions, seconds, whether nothing is left);
when it stops (a violation, the budget, nothing left to explore) it reports each model's figures
where it stopped and, for a violation, the violating state and the invariant, pickled.

**The answer.** `--jobs 1` reports the violation with the smallest (depth, model index): it
explores depth d of every model in index order before depth d+1 of any. The parent therefore takes
a violation at depth d in model i as the answer as soon as no other model can still beat it: every
model j < i explored depth d without a violation, every model j > i depth d-1, or was exhausted
(nothing left, or ``depth_max`` reached). A model that explored depth c can only break an
invariant at depth c+1 or later, so that is decided from the reports alone, whatever order they
arrive in; then the workers are stopped. Each model's figures are taken where `--jobs 1` stops it:
models before i at depth d, models after i at depth d-1 (the workers may have gone deeper), so the
figures, and not only the verdict, are those of `--jobs 1` (but for the seconds). With no
violation, every model runs to ``depth_max`` or exhaustion, as with `--jobs 1`. The violating state
comes back pickled; when it cannot be pickled (a class defined in a function), the parent explores
that model alone up to depth d once more, which reaches the same state. The area then builds its
report from it exactly as for `--jobs 1` (the raft area replays its scenario lines), so the report
folder is the same, byte for byte.

**Time.** The workers share the parent's budget (its clock started before the fork) and stop
themselves when it ends. When it ends before the answer is decided, the answer is what `--jobs 1`
would say at that point: held, unless a worker found a violation, which is then reported although
a model that did not get as deep might have held a shorter one (with `--jobs 1` the same time would
have explored less). A worker that dies (killed, out of memory) is started again on its share,
from the start, which gives the same reports; after ``RESTARTS_MAX`` deaths the exploration stops
with an error. A worker's exception (a defect of the suite) is raised again in the parent.

**Why by configuration, not by the states of a level.** Splitting one model's frontier keeps the
answer only if the workers reproduce the order of one process: the next level is the children in
the order of (parent's position, move), a state reached twice is admitted (or expanded again with
fewer moves asleep) depending on which arrived first, and the counterexample is the first
violating move in that order. It would take a state store partitioned by the state's name (each
worker owns the names that hash to it, as in distributed TLC), every child shipped to its owner
with its path of move numbers, the owners admitting children sorted by path, a barrier at the end
of each level, and the smallest violating path across workers. Each child shipped is a pickled run,
and copying runs is already most of the cost of a move, so on the 2 to 4 cores this runs on it
would gain little over one worker a configuration (raft has four), and a model that dwarfs the
others would be the case to do it for.

Workers are forked, as for `kinv check --jobs` (checks/parallel.py): they run the parent's models
themselves (a bug's node class, a test's patched method), never pickled ones.
"""

from __future__ import annotations

import multiprocessing
import pickle
import traceback
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection, wait
from typing import Any

import attrs

from checks.budget import Budget
from checks.explore.engine import ExploreOutcome, Model, Played, _interleave, _Search, explore_levels
from checks.parallel import RESTARTS_MAX, STOP_SECONDS, WAIT_SECONDS
from checks.violation import InvariantViolated

__all__ = ["explore_in_workers", "Level", "End", "Failed"]

_UNBOUNDED_SECONDS = 1e9
_INITIAL = ExploreOutcome(1, 0, 0, 0.0, False)  # a model before its first level: its initial state


@attrs.frozen
class Level:
    """A worker's report: ``model`` explored to ``outcome.depth`` completely, without a violation."""

    model: int
    outcome: ExploreOutcome  # figures only: no violation, no state


@attrs.frozen
class End:
    """A worker's last report: each of its models' figures where it stopped, and the model whose
    move broke an invariant, if one did, with that move's ``Played`` (state and violation)
    pickled, or None if it cannot be."""

    outcomes: dict[int, ExploreOutcome]
    found: int | None = None
    payload: bytes | None = None


@attrs.frozen
class Failed:
    """A worker raised an exception: a defect of the suite, not a finding."""

    text: str


# ----- in a worker -------------------------------------------------------------------------------

def _portable(played: Played) -> bytes | None:
    try:
        return pickle.dumps(played, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # a class defined in a function, a lambda, a lock...: the parent explores again
        return None


def _work(models: list[Model], share: tuple[int, ...], depth_max: int, budget: Budget, symmetric: bool,
          sleep_sets: bool, connection: Connection) -> None:
    """Explore the models of ``share`` a level of each in turn, reporting to ``connection``."""
    try:
        searches = [(index, _Search(models[index], symmetric, sleep_sets)) for index in share]
        found = _interleave(searches, depth_max, budget,
                            lambda index, search: connection.send(Level(index, search.outcome())))
        outcomes = {index: search.outcome() for index, search in searches}
        if found is None:
            connection.send(End(outcomes))
        else:
            connection.send(End(outcomes, found[0], _portable(found[1])))
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group: the parent reports it
        pass
    except Exception:
        connection.send(Failed(traceback.format_exc()))
    finally:
        connection.close()


# ----- in the parent -----------------------------------------------------------------------------

@attrs.define
class _Ledger:
    """What the workers reported, and the answer `--jobs 1` gives once it is decided."""

    models: int
    depth_max: int
    levels: list[dict[int, ExploreOutcome]] = attrs.Factory(lambda self: [{} for _ in range(self.models)],
                                                            takes_self=True)  # model -> depth -> figures
    ends: dict[int, ExploreOutcome] = attrs.Factory(dict)  # model -> figures where its worker stopped
    found: dict[int, tuple[ExploreOutcome, bytes | None]] = attrs.Factory(dict)  # model -> its violation

    def record(self, message: Level | End) -> list[tuple[int, ExploreOutcome]]:
        """Record a report (a restarted worker reports its levels again: the first one stays);
        returns the levels not seen before, for the progress lines."""
        if isinstance(message, Level):
            if message.outcome.depth in self.levels[message.model]:
                return []
            self.levels[message.model][message.outcome.depth] = message.outcome
            return [(message.model, message.outcome)]
        for index, outcome in message.outcomes.items():
            self.ends.setdefault(index, outcome)
        if message.found is not None:
            self.found.setdefault(message.found, (message.outcomes[message.found], message.payload))
        return []

    def completed(self, model: int) -> int:
        """The deepest level of ``model`` explored completely without a violation."""
        return max(self.levels[model], default=0)

    def _finished(self, model: int) -> bool:
        depth = self.completed(model)
        return depth >= self.depth_max or (depth > 0 and self.levels[model][depth].exhausted)

    def _earliest(self, model: int) -> tuple[int, int] | None:
        """The smallest (depth, model) a violation of ``model`` can have, or None if it has none."""
        if model in self.found:
            return self.found[model][0].depth + 1, model
        if self._finished(model):
            return None
        return self.completed(model) + 1, model

    @property
    def best(self) -> tuple[int, int] | None:
        """(depth, model) of the shortest violation reported, the lowest model among equals."""
        return min(((outcome.depth + 1, model) for model, (outcome, _) in self.found.items()), default=None)

    @property
    def settled(self) -> bool:
        """No model can still beat the best violation (or, without one, break an invariant)."""
        best = self.best
        for model in range(self.models):
            earliest = self._earliest(model)
            if earliest is not None and (best is None or earliest < best):
                return False
        return True

    def figures_at(self, model: int, depth: int) -> ExploreOutcome:
        """``model``'s figures once it explored ``depth`` (or all it had, if it was exhausted before)."""
        explored = [d for d in self.levels[model] if d <= depth]
        return self.levels[model][max(explored)] if explored else _INITIAL

    def outcomes(self) -> list[ExploreOutcome]:
        """Each model's figures where `--jobs 1` stops it (the violating model's without its violation)."""
        best = self.best
        if self.settled and best is not None:
            depth, violating = best
            return [self.found[model][0] if model == violating
                    else self.figures_at(model, depth if model < violating else depth - 1)
                    for model in range(self.models)]
        if self.settled:
            return [self.figures_at(model, self.completed(model)) for model in range(self.models)]
        # The budget ended first: each model where its worker stopped (within its last level).
        return [self.found[model][0] if best is not None and model == best[1]
                else self.ends.get(model, self.figures_at(model, self.completed(model)))
                for model in range(self.models)]


class _Crew:
    """The worker processes, one a share of the models, each reporting on its own pipe."""

    def __init__(self, work: Callable[[tuple[int, ...], Connection], None]) -> None:
        self._work = work
        self._context = multiprocessing.get_context("fork")
        self._workers: dict[Connection, tuple[tuple[int, ...], Any]] = {}
        self.restarts = 0

    def start(self, share: tuple[int, ...]) -> None:
        reader, writer = self._context.Pipe(duplex=False)
        process = self._context.Process(target=self._work, args=(share, writer), daemon=True)
        process.start()
        writer.close()  # the worker holds the only writer: its end (or death) is the reader's EOF
        self._workers[reader] = (share, process)

    def restart(self, share: tuple[int, ...]) -> None:
        """A worker died (killed, out of memory): its share starts again on a new one."""
        self.restarts += 1
        if self.restarts > RESTARTS_MAX:
            raise RuntimeError(f"the exploration's worker processes died {self.restarts} times: "
                               "run it with --jobs 1")
        self.start(share)

    @property
    def running(self) -> bool:
        return bool(self._workers)

    def receive(self, timeout: float) -> Iterator[tuple[tuple[int, ...], Level | End | Failed | None]]:
        """(share, report) for each worker that reported; None as the report of a worker that died."""
        for reader in wait(list(self._workers), timeout):
            share, process = self._workers[reader]
            try:
                message = reader.recv()
            except (EOFError, OSError):
                message = None
            if not isinstance(message, Level):
                del self._workers[reader]
                reader.close()
                process.join(STOP_SECONDS)
            yield share, message

    def stop(self) -> None:
        for reader, (_, process) in self._workers.items():
            process.terminate()
        for reader, (_, process) in self._workers.items():
            process.join(STOP_SECONDS)
            if process.is_alive():
                process.kill()
                process.join()
            reader.close()
        self._workers.clear()


def _restored(payload: bytes | None) -> Played | None:
    if payload is None:
        return None
    try:
        played = pickle.loads(payload)
    except Exception:  # a value whose class does not unpickle: the parent explores again
        return None
    return played if isinstance(played, Played) and isinstance(played.violation, InvariantViolated) else None


def explore_in_workers(models: list[Model], depth_max: int, budget_seconds: float, workers: int,
                       symmetric: bool = True, sleep_sets: bool = True,
                       progress: Callable[[int, int, int, float], None] | None = None) -> list[ExploreOutcome]:
    """engine.explore_levels in ``workers`` processes (2 to len(models)): the same outcomes."""
    assert 2 <= workers <= len(models), f"{workers} workers for {len(models)} models"
    budget = Budget(budget_seconds)  # started before the fork: the workers stop when the parent would
    ledger = _Ledger(len(models), depth_max)
    crew = _Crew(lambda share, connection: _work(models, share, depth_max, budget, symmetric, sleep_sets,
                                                  connection))
    try:
        for first in range(workers):
            crew.start(tuple(range(first, len(models), workers)))
        while crew.running and not ledger.settled:
            if budget.elapsed() > budget.seconds + STOP_SECONDS:
                break  # a worker overran the budget by a long move: stop it where it is
            for share, message in crew.receive(WAIT_SECONDS):
                if isinstance(message, Failed):
                    raise RuntimeError(f"an exploration worker failed:\n{message.text}")
                if message is None:
                    if not budget.exhausted():
                        crew.restart(share)
                    continue
                for index, outcome in ledger.record(message):
                    if progress is not None:
                        progress(index, outcome.depth, outcome.states, outcome.seconds)
    finally:
        crew.stop()
    outcomes = ledger.outcomes()
    best = ledger.best
    if best is None:
        return outcomes
    depth, violating = best
    played = _restored(ledger.found[violating][1])
    if played is None:  # the state cannot be pickled: the model alone reaches it again, a level at a time
        [again] = explore_levels([models[violating]], depth, _UNBOUNDED_SECONDS, symmetric, sleep_sets)
        if again.violation is None:
            raise RuntimeError(f"model {violating} broke an invariant at depth {depth} in a worker, "
                               "but not when explored again")
        played = Played(again.state, again.violation)
    outcomes[violating] = attrs.evolve(outcomes[violating], violation=played.violation, state=played.state)
    return outcomes
