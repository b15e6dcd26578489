"""A linearizability checker for histories recorded anywhere: our store's, or a real etcd's
through Jepsen's formats.

    operations = read_history("history.edn", keyed=model.keyed)   # jepsen.py
    outcome = check_history(operations, model_by_name("register")) # history.py, search.py, window.py

The modules: ``history`` (operations and how invocations pair with completions), ``jepsen``
(the EDN and log-line readers), ``search`` (Wing & Gong / Lowe search with memoization),
``window`` (the shortest failing window), ``generate`` (linearizable histories by simulation,
for tests and benchmarks).
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from checks.lincheck.history import Call, HistoryError, Operation, drop_unobserved_unknowns, pair_calls
from checks.lincheck.jepsen import parse_history, read_history
from checks.lincheck.search import (CONFIGURATIONS_MAX, LINEARIZABLE, NOT_LINEARIZABLE, UNKNOWN, Verdict,
                                    check_partitioned, partition_by_key)
from checks.lincheck.window import Window, shortest_window
from spec.kv.model import Model

WINDOW_CONFIGURATIONS_MIN = 50_000  # the least budget for explaining a failure with its window

__all__ = ["Outcome", "check_history", "check_operations", "HistoryError", "Operation", "Call", "Window",
           "parse_history", "read_history", "LINEARIZABLE", "NOT_LINEARIZABLE", "UNKNOWN"]


@attrs.frozen
class Outcome:
    """The answer for a whole history: the verdict, how many calls it checked, and on a failure
    the shortest window that fails on its own."""

    verdict: Verdict
    calls: int
    window: Window | None = None

    @property
    def result(self) -> str:
        return self.verdict.result


def check_operations(calls: Sequence[Call], model: Model,
                     configurations_max: int = CONFIGURATIONS_MAX) -> Outcome:
    """Check paired calls (after dropping unknown writes nobody observed); explain a failure
    with its window, found within a budget proportionate to the search that found the failure
    (at least WINDOW_CONFIGURATIONS_MIN): explaining costs a few times deciding, not more."""
    calls = drop_unobserved_unknowns(list(calls))
    verdict = check_partitioned(calls, model, configurations_max)
    if verdict.result != NOT_LINEARIZABLE:
        return Outcome(verdict, len(calls))
    part = partition_by_key(calls)[verdict.key] if model.keyed else list(calls)
    budget = min(configurations_max, max(WINDOW_CONFIGURATIONS_MIN, 2 * verdict.configurations))
    return Outcome(verdict, len(calls), shortest_window(part, model, verdict.key, budget, verdict.frontier))


def check_history(operations: Sequence[Operation], model: Model, filename: str = "<history>",
                  configurations_max: int = CONFIGURATIONS_MAX) -> Outcome:
    """Pair the operations into calls (HistoryError if impossible) and check them."""
    return check_operations(pair_calls(operations, model, filename), model, configurations_max)
