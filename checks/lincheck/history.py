"""Histories: the operations clients invoked and what became of them, paired into calls.

A history (Herlihy & Wing 1990; Jepsen's format) is a sequence of events. A client process
*invokes* an operation (``:invoke``) and later learns its *completion*:

- ``:ok``   it happened, and for a read the completion carries the value read;
- ``:fail`` it certainly did not happen (a compare-and-set whose comparison failed, a request
  the server refused); the checker drops it;
- ``:info`` the outcome is unknown (a timeout, a leader lost mid-request). It may have taken
  effect at any point after its invocation, or never, so it stays open until the end of time.
  A process that saw ``:info`` is never heard from again; Jepsen gives its thread a new process.

An invocation never completed by the end of the history is treated as ``:info``. A read whose
outcome is unknown constrains nothing and is dropped too.

``pair_calls`` turns events into ``Call`` values: one per operation that may have happened,
with the positions (in history order) of its invocation and completion.

Unknown-outcome calls are what makes the search explode: each stays open forever, so every later
call is concurrent with it (the cost Knossos is known for). ``drop_unobserved_unknowns`` removes
those that cannot matter: an unknown write (or compare-and-set) of a value that no read returns
and no compare-and-set expects, an unknown put that no get starts with, an unknown append that
no get contains (``observers``). With Jepsen's mostly distinct values, most of them go; the
search retires the others once their observers are linearized.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Any

import attrs

from spec.kv.model import Model

__all__ = ["Operation", "Call", "HistoryError", "EVENT_TYPES", "pair_calls", "NEVER", "drop_unobserved_unknowns",
           "observers"]

EVENT_TYPES: tuple[str, ...] = ("invoke", "ok", "fail", "info")
NEVER = float("inf")  # the completion position of a call whose outcome is unknown


class HistoryError(ValueError):
    """Malformed input: ``file:line: message``, one line (``file: message`` when no line applies)."""

    def __init__(self, filename: str, line: int, message: str) -> None:
        super().__init__(f"{filename}:{line}: {message}" if line > 0 else f"{filename}: {message}")
        self.filename, self.line, self.message = filename, line, message


@attrs.frozen
class Operation:
    """One event of a history, as Jepsen records it.

    ``index`` is its position in the history (Jepsen's ``:index`` when given, else the order
    read); ``key`` is set for keyed models, where Jepsen's ``independent`` wraps values as
    ``[key value]``; ``line`` is where it was read, for error messages.
    """

    process: Hashable
    type: str
    f: str
    value: Any = None
    key: Hashable = None
    index: int = 0
    line: int = 0
    time: int | None = None


@attrs.frozen
class Call:
    """An operation that may have happened: its invocation paired with its completion.

    ``value`` is what the model must agree with: the value written, the ``(old, new)`` of a
    compare-and-set, or the value a read returned. ``completed`` is the completion's position,
    ``NEVER`` when the outcome is unknown (``outcome == "info"``).
    """

    id: int
    process: Hashable
    f: str
    value: Any
    key: Hashable
    invoked: int
    completed: float
    outcome: str
    line: int

    @property
    def known(self) -> bool:
        return self.outcome == "ok"


def _check_value(op: Operation, model: Model, filename: str) -> None:
    """The function must be the model's; the value is checked where it means something: on an
    invocation (what was asked) and on a read's :ok (what was read). A completion's value is
    otherwise ignored, as Knossos does: Jepsen writes ``:timed-out`` or an error there."""
    if op.f not in model.functions:
        raise HistoryError(filename, op.line, f"operation :{op.f} is not in the {model.name} model "
                           f"(it has {', '.join(':' + f for f in model.functions)})")
    reads = op.f in model.read_only
    if (op.type == "invoke" and not reads) or (op.type == "ok" and reads):
        message = model.validate(op.f, op.value)
        if message is not None:
            raise HistoryError(filename, op.line, message)


def _call(op: Operation, invocation: Operation, completed: float, outcome: str, call_id: int,
          model: Model) -> Call:
    reads = op.f in model.read_only
    value = op.value if (reads or invocation.value is None) else invocation.value
    return Call(call_id, op.process, op.f, value, invocation.key, invocation.index, completed, outcome,
                invocation.line)


def _complete(op: Operation, pending: dict, found: list, filename: str, model: Model) -> None:
    """Pair ``op`` with its invocation; what may have happened goes into ``found`` as
    (completion, invocation, completed at, outcome)."""
    invocation = pending.pop(op.process, None)
    if invocation is None:
        raise HistoryError(filename, op.line, f"process {op.process!r} completes :{op.f} without invoking it")
    if invocation.key != op.key and op.type == "ok":
        raise HistoryError(filename, op.line, f"process {op.process!r} invoked key {invocation.key!r} "
                           f"but completes key {op.key!r}")
    if invocation.f != op.f:
        raise HistoryError(filename, op.line, f"process {op.process!r} invoked :{invocation.f} "
                           f"but completes :{op.f}")
    if op.type == "fail" or (op.type == "info" and op.f in model.read_only):
        return  # did not happen, or a read nobody saw: no constraint
    found.append((op, invocation, op.index if op.type == "ok" else NEVER, op.type))


def pair_calls(operations: Iterable[Operation], model: Model, filename: str = "<history>") -> list[Call]:
    """Pair each invocation with its process's next completion; return the calls that may
    have happened, in invocation order. Raises HistoryError on an impossible history."""
    pending: dict[Hashable, Operation] = {}
    found: list[tuple[Operation, Operation, float, str]] = []
    for op in operations:
        _check_value(op, model, filename)
        if op.type == "invoke":
            if op.process in pending:
                raise HistoryError(filename, op.line, f"process {op.process!r} invokes :{op.f} while its "
                                   f":{pending[op.process].f} (line {pending[op.process].line}) is pending")
            pending[op.process] = op
        else:
            _complete(op, pending, found, filename, model)
    for process in sorted(pending, key=repr):
        invocation = pending[process]
        if invocation.f not in model.read_only:
            found.append((invocation, invocation, NEVER, "info"))
    found.sort(key=lambda item: item[1].index)
    return [_call(op, invocation, completed, outcome, number, model)
            for number, (op, invocation, completed, outcome) in enumerate(found)]


def observers(calls: Sequence[Call]) -> list[list[int] | None]:
    """For each unknown-outcome call, the positions of the calls that could observe its effect:
    the reads of the value a write or cas leaves and the cas expecting it; the gets that start
    with a put's value or contain an append's. None for other functions (a delete: always kept),
    [] for a known call. Applying an unknown call none of whose observers is left puts the
    register in a state from which no read and no compare-and-set can succeed, only writes
    (puts, appends), which succeed anyway; so a linearization that applies it is still one
    without it."""
    values: dict[tuple[Hashable, Hashable], list[int]] = {}
    strings: dict[Hashable, list[tuple[int, str]]] = {}
    for position, call in enumerate(calls):
        if call.f in ("read", "cas"):
            values.setdefault((call.key, call.value[0] if call.f == "cas" else call.value), []).append(position)
        elif call.f == "get":
            strings.setdefault(call.key, []).append((position, "" if call.value is None else call.value))
    return [_observers_of(call, values, strings) for call in calls]


def _observers_of(call: Call, values: dict, strings: dict) -> list[int] | None:
    if call.known:
        return []
    if call.f in ("write", "cas"):
        return values.get((call.key, call.value[1] if call.f == "cas" else call.value), [])
    if call.f == "put":
        return [position for position, read in strings.get(call.key, ()) if read.startswith(call.value)]
    if call.f == "append":
        return [position for position, read in strings.get(call.key, ()) if call.value in read]
    return None


def drop_unobserved_unknowns(calls: list[Call]) -> list[Call]:
    """The calls without the unknown-outcome ones whose effect nobody could observe (per key;
    see ``observers``), renumbered in invocation order."""
    kept = [call for call, seen in zip(calls, observers(calls)) if seen is None or seen or call.known]
    return [call if call.id == number else attrs.evolve(call, id=number) for number, call in enumerate(kept)]
