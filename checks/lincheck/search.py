"""The linearizability search: Wing & Gong's algorithm with Lowe's memoization.

A history is linearizable (Herlihy & Wing 1990) when each call can be given one instant between
its invocation and its completion such that, taken in the order of those instants, the calls get
exactly the answers of the sequential model. Wing & Gong (1993) search for that order depth
first: repeatedly pick a *minimal* call (one invoked before any pending call completed), apply
it to the model, and backtrack when the model disagrees. Lowe ("Testing for linearizability",
2017) made it practical with two ideas used here, as in porcupine and Knossos:

- **Just-in-time linearization.** Walk the calls and completions in history order as a doubly
  linked list. At an invocation, try to linearize that call now; at a completion whose call is
  not linearized yet, the current choice is wrong: it must have taken effect before it returned,
  so backtrack. Linearized calls are unlinked (dancing links), and the walk restarts.
- **Memoization.** Two search paths that linearized the same *set* of calls and reached the same
  model state have the same future. The set is a bitset (a Python int) and the state is
  hashable, so ``(set, state)`` pairs already explored are skipped.

Calls whose outcome is unknown (``:info``) complete "never": they may be linearized at any point
after their invocation, or not at all, so the search succeeds as soon as every *known* call is
linearized. A history whose calls each touch one key is split per key first: each key is an object of its
own, and linearizability is *local* (Herlihy & Wing 1990: a history is linearizable iff each
object's sub-history is; Horn & Kroening 2015 call the general idea P-compositionality), which
turns one search exponential in the history into many small ones.

Every search is bounded: past ``configurations_max`` attempted steps it answers ``UNKNOWN``
("search too large") instead of running on.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import attrs

from checks.lincheck.history import NEVER, Call
from spec.kv.model import Model

__all__ = ["Verdict", "LINEARIZABLE", "NOT_LINEARIZABLE", "UNKNOWN", "CONFIGURATIONS_MAX", "check_calls",
           "check_partitioned", "partition_by_key", "sorted_keys"]

LINEARIZABLE, NOT_LINEARIZABLE, UNKNOWN = "linearizable", "not linearizable", "unknown"
CONFIGURATIONS_MAX = 2_000_000  # model steps tried before a search gives up as too large


@attrs.frozen
class Verdict:
    """The search's answer for some calls: ``result`` is one of LINEARIZABLE, NOT_LINEARIZABLE,
    UNKNOWN; ``configurations`` counts model steps tried; ``key`` names the failing partition;
    ``frontier`` is the latest completion at which the search had to backtrack: where a failing
    history's trouble most likely is (a hint for the window, not a proof)."""

    result: str
    configurations: int
    key: Hashable = None
    frontier: float = 0


class _Links:
    """The calls' invocations and completions as a doubly linked list in history order.

    Entry 0 is the head sentinel; entry ``2*i+1`` invokes call ``i`` and ``2*i+2`` completes it.
    Unlinking a call removes both of its entries; relinking in reverse order restores them.
    """

    def __init__(self, calls: Sequence[Call]) -> None:
        events = sorted([(call.invoked, 0, 2 * number + 1) for number, call in enumerate(calls)]
                        + [(call.completed, 1, 2 * number + 2) for number, call in enumerate(calls)])
        size = 2 * len(calls) + 1
        self.next, self.previous = [0] * size, [0] * size
        order = [0] + [entry for _, _, entry in events]
        for position in range(len(order) - 1):
            self.next[order[position]] = order[position + 1]
            self.previous[order[position + 1]] = order[position]
        self.next[order[-1]] = -1

    def unlink(self, entry: int) -> None:
        for item in (entry, entry + 1):
            before, after = self.previous[item], self.next[item]
            self.next[before] = after
            if after != -1:
                self.previous[after] = before

    def relink(self, entry: int) -> None:
        for item in (entry + 1, entry):
            before, after = self.previous[item], self.next[item]
            self.next[before] = item
            if after != -1:
                self.previous[after] = item


def check_calls(calls: Sequence[Call], model: Model, initial: Hashable | None = None,
                configurations_max: int = CONFIGURATIONS_MAX) -> Verdict:
    """Is this set of calls linearizable from ``initial`` (default: the model's initial state)?"""
    links = _Links(calls)
    state = model.initial if initial is None else initial
    known_left = sum(1 for call in calls if call.known)
    linearized, tried, frontier = 0, 0, 0
    stack: list[tuple[int, Hashable]] = []  # (invocation entry, state before it) per linearized call
    seen: set[tuple[int, Hashable]] = set()
    entry = links.next[0]
    while known_left > 0:  # bounded: each pass either tries a step (counted) or backtracks one
        call = calls[(entry - 1) // 2]
        if entry % 2 == 0:  # a completion before its call was linearized: undo the last choice
            frontier = max(frontier, call.completed)
            if not stack:
                return Verdict(NOT_LINEARIZABLE, tried, frontier=frontier)
            entry, state = stack.pop()
            call = calls[(entry - 1) // 2]
            linearized &= ~(1 << ((entry - 1) // 2))
            known_left += call.known
            links.relink(entry)
            entry = links.next[entry]
            continue
        tried += 1
        if tried > configurations_max:
            return Verdict(UNKNOWN, tried, frontier=frontier)
        ok, after = model.step(state, call)
        candidate = (linearized | (1 << ((entry - 1) // 2)), after)
        if ok and candidate not in seen:
            seen.add(candidate)
            stack.append((entry, state))
            linearized, state = candidate
            known_left -= call.known
            links.unlink(entry)
            entry = links.next[0]
        else:
            entry = links.next[entry]
    return Verdict(LINEARIZABLE, tried, frontier=frontier)


def partition_by_key(calls: Sequence[Call]) -> dict[Hashable, list[Call]]:
    """The calls of each key, in invocation order (the search numbers calls by position)."""
    parts: dict[Hashable, list[Call]] = {}
    for call in calls:
        parts.setdefault(call.key, []).append(call)
    return parts


def sorted_keys(keys) -> list:
    """Keys in a deterministic order, whatever their types."""
    return sorted(keys, key=lambda key: (type(key).__name__, repr(key)))


def check_partitioned(calls: Sequence[Call], model: Model,
                      configurations_max: int = CONFIGURATIONS_MAX) -> Verdict:
    """Check each key's calls alone (keyed models) or all calls together; the first failing
    key in sorted order, else UNKNOWN if any search was too large, else LINEARIZABLE."""
    parts = partition_by_key(calls) if model.keyed else {None: list(calls)}
    total, unknown_key = 0, _NO_KEY
    for key in sorted_keys(parts):
        verdict = check_calls(parts[key], model, configurations_max=configurations_max)
        total += verdict.configurations
        if verdict.result == NOT_LINEARIZABLE:
            return Verdict(NOT_LINEARIZABLE, total, key, verdict.frontier)
        if verdict.result == UNKNOWN and unknown_key is _NO_KEY:
            unknown_key = key
    if unknown_key is not _NO_KEY:
        return Verdict(UNKNOWN, total, unknown_key)
    return Verdict(LINEARIZABLE, total)


_NO_KEY = object()
