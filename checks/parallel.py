"""The seeded chunks of one search run in worker processes (`kinv check --jobs N`).

A chunk is one Hypothesis run whose seed is derived from the user's seed and the chunk number
(checks/search.py), so what a chunk does depends on nothing but those two numbers, not on the
process that runs it or on the chunks run before it. The workers therefore run chunks 0, 1, 2...
in any order and the parent reads their answers in chunk order: the search's answer is the
lowest-numbered failing chunk, as one process running them one after another would find it.
Workers report how many test cases a chunk ran and whether it failed, and of a failing chunk what
the area needs to shrink it (the failing run's scenario lines and its violation); the parent
shrinks those lines as `--jobs 1` would shrink the same run, so the counterexample is the one
`--jobs 1` writes, byte for byte. Only where a worker could not carry the run (or its lines do
not fail again) does the parent run the failing chunk once more itself.

While a counterexample shrinks, ``ReplayPool`` lets the shrinker replay the next candidates in
worker processes (checks/minimize.py decides them in order, as one process would).

Which chunks run at all is decided as `--jobs 1` decides it: a chunk runs if it started before the
time budget ran out (the wall clock decides when to stop, never what a chunk does) and, under
``examples_max``, if the chunks before it ran fewer test cases than that. Chunks started ahead of
that answer are cancelled and their workers stopped. A worker that dies (killed, out of memory)
takes the chunks of its pool with it: they run again on new workers, with the same answers.

Workers are forked from the parent when the search starts, so they run exactly the code the parent
would run: the machine class the area built (a closure), and whatever the parent's process holds
(a test's monkeypatched method, a user's controller). 'spawn' and 'forkserver' start a fresh
interpreter that has none of that (a test that patches impl/ then found nothing with --jobs 2),
and re-import the main module, which a script must then guard. The fork happens outside any
Hypothesis run, and a worker touches nothing a parent's thread may hold (it prints nothing).
"""

from __future__ import annotations

import concurrent.futures as futures
import contextlib
import contextvars
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import attrs

__all__ = ["JobSettings", "default_jobs", "use_jobs", "current_jobs", "ChunkRun", "ChunkPool", "first_failure",
           "ReplayPool"]

WAIT_SECONDS = 1.0  # how often the parent looks at the budget while every worker is busy
STOP_SECONDS = 5.0  # how long a stopped worker may take to exit
RESTARTS_MAX = 3  # new pools after a worker died, before the search gives up


def default_jobs() -> int:
    """The cores this process may run on (its affinity, as a container or `taskset` sets it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - platforms without sched_getaffinity
        return max(1, os.cpu_count() or 1)


@attrs.frozen
class JobSettings:
    jobs: int = 1
    # Told (busy workers, jobs) as the workers start and finish chunks, for the progress line.
    on_workers: Callable[[int, int], None] | None = None


_SETTINGS: contextvars.ContextVar[JobSettings] = contextvars.ContextVar("kinv_jobs", default=JobSettings())


@contextlib.contextmanager
def use_jobs(jobs: int, on_workers: Callable[[int, int], None] | None = None) -> Iterator[None]:
    """Every search started inside runs its chunks in ``jobs`` worker processes. The areas build
    their searches themselves (checks/<area>/search.py), so the CLI says it here, around them."""
    token = _SETTINGS.set(JobSettings(jobs, on_workers))
    try:
        yield
    finally:
        _SETTINGS.reset(token)


def current_jobs() -> JobSettings:
    return _SETTINGS.get()


@attrs.frozen
class ChunkRun:
    """What a worker reports of one chunk: the test cases it built and whether one failed."""

    chunk: int
    created: int
    failed: bool
    # Of a failing chunk, what the area's ``carry`` made of it (picklable), or None.
    found: Any = None


# One search's chunks, set in each worker by its initializer: (run_chunk, its arguments but the
# chunk, what to carry back of a failing chunk).
_WORKER_PLAN: tuple[Callable[..., Any], tuple, Callable[[Any, Exception], Any] | None] | None = None


def _start_worker(plan: tuple[Callable[..., Any], tuple, Callable[[Any, Exception], Any] | None]) -> None:
    global _WORKER_PLAN
    _WORKER_PLAN = plan  # forked: the parent's objects themselves, never pickled


def _run_in_worker(chunk: int) -> ChunkRun:
    assert _WORKER_PLAN is not None, "a chunk was sent to a worker that has no search"
    run_chunk, arguments, carry = _WORKER_PLAN
    counter, error = run_chunk(*arguments, chunk)
    found = carry(counter, error) if error is not None and carry is not None else None
    return ChunkRun(chunk, counter.created, error is not None, found)


def _stop(executor: futures.ProcessPoolExecutor) -> None:
    """Cancel what has not started and stop the workers, whatever they are running."""
    processes = list((getattr(executor, "_processes", None) or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(STOP_SECONDS)


class ChunkPool:
    """``jobs`` worker processes that run chunks of one search: ``run_chunk(*arguments, chunk)``
    returns (its MachineCounter, the error it raised or None); ``carry(counter, error)``, if
    given, what the parent needs of a failing chunk (``ChunkRun.found``: it must pickle)."""

    def __init__(self, jobs: int, run_chunk: Callable[..., Any], arguments: tuple,
                 carry: Callable[[Any, Exception], Any] | None = None) -> None:
        assert jobs >= 2, f"a pool of {jobs} worker: run the chunks in this process"
        self.jobs = jobs
        self.restarts = 0
        self._plan = (run_chunk, arguments, carry)
        self._executor = self._start()

    def _start(self) -> futures.ProcessPoolExecutor:
        return futures.ProcessPoolExecutor(self.jobs, mp_context=multiprocessing.get_context("fork"),
                                           initializer=_start_worker, initargs=(self._plan,))

    def restart(self) -> None:
        """New workers after one died (killed, out of memory): every chunk it had is lost with it."""
        self.restarts += 1
        if self.restarts > RESTARTS_MAX:
            raise RuntimeError(f"the search's worker processes died {self.restarts} times: run it with --jobs 1")
        self.stop()
        self._executor = self._start()

    def submit(self, chunk: int) -> futures.Future:
        return self._executor.submit(_run_in_worker, chunk)

    def stop(self) -> None:
        """Cancel what has not started and stop the workers, whatever they are running."""
        _stop(self._executor)

    def __enter__(self) -> "ChunkPool":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


@attrs.define
class _Ledger:
    """The chunks' answers, read in chunk order."""

    examples_max: int | None
    runs: dict[int, ChunkRun] = attrs.Factory(dict)
    accepted: int = 0  # chunks 0..accepted-1 ran, none failed
    examples: int = 0  # the test cases of those chunks
    failed: int | None = None  # the lowest-numbered failing chunk among the accepted ones
    closed: bool = False  # the chunks after ``accepted`` do not run (examples_max reached)

    def record(self, run: ChunkRun) -> None:
        self.runs[run.chunk] = run
        while not self.settled and self.accepted in self.runs:
            if self.examples_max is not None and self.examples >= self.examples_max:
                self.closed = True
                return
            chunk = self.runs[self.accepted]
            if chunk.failed:
                self.failed = chunk.chunk
                return
            self.examples += chunk.created
            self.accepted += 1

    @property
    def settled(self) -> bool:
        """The answer is known: a failing chunk, or the last chunk under examples_max."""
        return self.failed is not None or self.closed

    def worth_starting(self, chunk: int) -> bool:
        """False when the chunks before ``chunk`` are known to run examples_max test cases, or
        one of them failed: then ``chunk`` would never run with --jobs 1."""
        if self.settled or any(run.failed for number, run in self.runs.items() if number < chunk):
            return False
        if self.examples_max is None:
            return True
        return sum(run.created for number, run in self.runs.items() if number < chunk) < self.examples_max

    def seen_examples(self) -> int:
        """Every test case the workers ran so far, for the progress line."""
        return sum(run.created for run in self.runs.values())


def first_failure(pool: ChunkPool, budget_exhausted: Callable[[], bool], examples_max: int | None,
                  progress: Callable[[int, int], None] | None = None) -> tuple[ChunkRun | None, int]:
    """Run chunks 0, 1, 2... on the pool until the answer is known. Returns (the lowest-numbered
    failing chunk's run or None, the test cases of the chunks before it). ``progress(examples,
    busy)`` after each chunk."""
    ledger = _Ledger(examples_max)
    running: dict[futures.Future, int] = {}
    next_chunk = 0
    answered = False  # a chunk answered since the last progress line
    while True:
        while (len(running) < pool.jobs and not budget_exhausted() and ledger.worth_starting(next_chunk)):
            running[pool.submit(next_chunk)] = next_chunk
            next_chunk += 1
        if progress is not None and answered:
            progress(ledger.seen_examples(), len(running))  # after refilling: the workers busy now
        if ledger.settled or not running:  # settled on a failure: every chunk before it has answered
            break
        done, _ = futures.wait(running, timeout=WAIT_SECONDS, return_when=futures.FIRST_COMPLETED)
        broken = [future for future in done if isinstance(future.exception(), BrokenProcessPool)]
        for future in sorted(set(done) - set(broken), key=running.__getitem__):
            del running[future]
            ledger.record(future.result())
        if broken:
            running = _rerun(pool, running)
        answered = bool(done)
    return (None if ledger.failed is None else ledger.runs[ledger.failed]), ledger.examples


def _rerun(pool: ChunkPool, running: dict[futures.Future, int]) -> dict[futures.Future, int]:
    """A worker died: the pool is broken and every chunk it was running is lost. The same chunks
    on new workers give the same answers (a chunk depends on its seed alone)."""
    pool.restart()
    return {pool.submit(chunk): chunk for chunk in sorted(running.values())}


# A shrinker's replay, set in each replay worker by its initializer: forked, never pickled.
_REPLAY: Callable[[str], Any] | None = None


def _start_replayer(replay: Callable[[str], Any]) -> None:
    global _REPLAY
    _REPLAY = replay


def _replay_in_worker(text: str) -> Any:
    assert _REPLAY is not None, "a scenario was sent to a worker that has no replay"
    return _REPLAY(text)


class ReplayPool:
    """``jobs`` worker processes that replay scenarios for a shrinker: ``answers(texts)`` is
    ``[replay(text) for text in texts]`` (each answer must pickle), run side by side. Forked,
    as the chunk workers are, so ``replay`` may be a closure over the area's parts."""

    def __init__(self, jobs: int, replay: Callable[[str], Any]) -> None:
        assert jobs >= 2, f"a pool of {jobs} worker: replay in this process"
        self.jobs = jobs
        self._executor = futures.ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork"),
                                                     initializer=_start_replayer, initargs=(replay,))

    def answers(self, texts: list[str]) -> list[Any]:
        return list(self._executor.map(_replay_in_worker, texts))

    def __enter__(self) -> "ReplayPool":
        return self

    def __exit__(self, *exc) -> None:
        _stop(self._executor)
