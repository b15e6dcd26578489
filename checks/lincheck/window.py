"""Explaining a failure: the shortest non-linearizable window.

"Not linearizable" over ten thousand operations tells a reader nothing. Like Knossos, which
reports the last configurations before the search died, and porcupine, which draws the longest
linearizable prefix, we point at the few operations that cannot be reconciled: a *window*, a
contiguous range of the (failing key's) calls in invocation order that is not linearizable on
its own.

Two cuts keep a window honest, so that a window which fails proves the history fails:

- **End**: the history truncated at a time T (the completion of a call). Calls invoked before T
  that complete after it become unknown-outcome calls, as if the recorder had stopped at T. A
  truncation of a linearizable history is linearizable, so "the truncation at T fails" only gets
  truer as T grows. The least failing T is found by bisection, after trying the failed search's
  frontier (the latest completion it could not get past), which is usually the answer.
- **Start**: calls before the window's first invocation are replaced by the model state
  ``UNKNOWN`` ("any value"), except those still open when the window starts: they become
  unknown-outcome calls (they may have taken effect before the window or inside it). A window
  that fails from any state is wrong whatever came before it: a stale read needs only the write it
  missed and itself. We take the latest start that still fails; when no start fails from
  ``UNKNOWN`` the failure depends on the initial state and the window starts at the first call.
  A window that fails from any state still fails when it starts earlier (more calls before it
  only constrain more), so the latest failing start is found by galloping back from the end
  (1, 2, 4, … calls) and then bisecting: a few searches, not one per start.

All the searches of one shrink share one configuration budget; when it runs out the window found
so far is reported (still failing, maybe not the shortest).
"""

from __future__ import annotations

import bisect
from collections.abc import Hashable, Sequence

import attrs

from checks.lincheck.history import NEVER, Call, drop_unobserved_unknowns
from checks.lincheck.search import CONFIGURATIONS_MAX, NOT_LINEARIZABLE, UNKNOWN, check_calls, part_model
from spec.kv.model import Model

__all__ = ["Window", "shortest_window", "cut"]


@attrs.frozen
class Window:
    """Calls ``start`` to ``end`` (exclusive) of ``key``'s calls in invocation order, cut at
    ``cut_time``. ``calls`` are those calls; ``open_before`` are earlier writes still open at the
    window's start whose value the window observes (treated as possibly applied); ``from_any_state`` is False when the window
    only fails from the initial state (so it starts at the first call)."""

    key: Hashable
    start: int
    end: int
    cut_time: float
    calls: tuple[Call, ...]
    open_before: tuple[Call, ...]
    from_any_state: bool
    total: int = 0  # calls of this key (of the history when not keyed)


def _unknown(call: Call, read_only: tuple[str, ...]) -> Call | None:
    """The call with its outcome unknown; None for a read, which then constrains nothing."""
    return None if call.f in read_only else attrs.evolve(call, completed=NEVER, outcome="info")


def cut(calls: Sequence[Call], start: int, cut_time: float, model: Model | None = None) -> list[Call]:
    """The window of ``calls`` (invocation order) from ``start`` to the truncation at ``cut_time``,
    without the unknown writes it leaves unobserved (see ``history.drop_unobserved_unknowns``).
    ``model`` says which functions are reads (default: ``read``)."""
    read_only = model.read_only if model is not None else ("read",)
    window_opens = calls[start].invoked if start < len(calls) else cut_time
    kept: list[Call] = []
    for position, call in enumerate(calls):
        if call.invoked >= cut_time:
            break
        if position < start and call.completed < window_opens:
            continue
        outside = position < start or call.completed > cut_time
        changed = _unknown(call, read_only) if outside else call
        if changed is not None:
            kept.append(changed)
    return drop_unobserved_unknowns(kept)


class _Budget:
    """Configurations left for all the searches one shrink may run, so that explaining a failure
    is bounded like finding it. Out of budget, shrinking stops with the best window so far."""

    def __init__(self, model: Model, configurations_max: int) -> None:
        self.model, self.left = part_model(model), configurations_max

    def fails(self, calls: Sequence[Call], initial: Hashable | None) -> bool | None:
        """True: fails; False: linearizable; None: the budget ran out first."""
        if self.left <= 0:
            return None
        verdict = check_calls(calls, self.model, initial, configurations_max=self.left)
        self.left -= verdict.configurations
        if verdict.result == UNKNOWN:
            return None
        return verdict.result == NOT_LINEARIZABLE


def _least_failing_cut(calls: Sequence[Call], budget: _Budget, frontier: float | None) -> float:
    """The least completion time T such that the history truncated at T fails (bisection),
    trying the search's frontier first as the upper end."""
    times = sorted(call.completed for call in calls if call.known)
    low, high = -1, len(times) - 1  # cut at times[high] fails (the whole history does); low passes
    if frontier is not None:  # usually exact: then one passing check just below it proves it least
        guess = bisect.bisect_right(times, frontier) - 1
        if 0 <= guess < high and budget.fails(cut(calls, 0, times[guess], budget.model), None):
            high = guess
        if high > 0 and budget.fails(cut(calls, 0, times[high - 1], budget.model), None) is False:
            low = high - 1
    while high - low > 1:
        middle = (low + high) // 2
        answer = budget.fails(cut(calls, 0, times[middle], budget.model), None)
        if answer is None:
            break
        low, high = (low, middle) if answer else (middle, high)
    return times[high]


def _latest_start(calls: Sequence[Call], end: int, cut_time: float, budget: _Budget) -> int | None:
    """The greatest start whose window fails from any state; None if none does within bounds.
    Gallops back from the end (1, 2, 4, … calls) to a failing start, then bisects between it and
    the last passing one: failing is monotone, an earlier start fails whenever a later one does."""
    passing, failing, back = end, None, 1
    while failing is None:
        start = max(end - back, 1)
        answer = budget.fails(cut(calls, start, cut_time, budget.model), budget.model.unknown_state())
        if answer is None:
            return None
        if answer:
            failing = start
        elif start == 1:
            return None
        else:
            passing, back = start, 2 * back
    while passing - failing > 1:
        middle = (passing + failing) // 2
        answer = budget.fails(cut(calls, middle, cut_time, budget.model), budget.model.unknown_state())
        if answer is None:
            break
        passing, failing = (passing, middle) if answer else (middle, failing)
    return failing


def shortest_window(calls: Sequence[Call], model: Model, key: Hashable = None,
                    configurations_max: int = CONFIGURATIONS_MAX, frontier: float | None = None) -> Window:
    """A short failing window of ``calls`` (one key's calls, in invocation order, known to fail).
    ``frontier`` (from the failed search's Verdict) is a first guess for the end."""
    calls = list(calls)
    budget = _Budget(model, configurations_max)
    cut_time = _least_failing_cut(calls, budget, frontier)
    end = sum(1 for call in calls if call.invoked < cut_time)
    start = _latest_start(calls, end, cut_time, budget)
    from_any_state = start is not None
    start = start if start is not None else 0
    survivors = {call.invoked for call in cut(calls, start, cut_time, budget.model)}
    open_before = tuple(call for call in calls[:start] if call.invoked in survivors)
    return Window(key, start, end, cut_time, tuple(calls[start:end]), open_before, from_any_state, len(calls))
