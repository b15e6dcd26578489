"""The model a history was written for, chosen from its operations (``kinv lincheck --model auto``).

A Jepsen store holds the histories of several workloads side by side, so one process checking
them all must choose each file's model itself. The functions a history calls and whether its
operations carry keys say it, with no guess:

- the candidates are the models that have every function the history calls (``:append`` is only
  kv-append's, ``:cas`` cas-register's and kv's, ``:delete`` only kv's);
- a history carries keys when some operation has a ``:key`` field (porcupine's and 6.824's kv
  histories) or when every invocation and :ok completion holds Jepsen ``independent``'s
  ``[key value]`` (for a compare-and-set ``[key [old new]]``: its own value is already a pair).
  Completions that are not :ok are not looked at: Jepsen writes ``:timed-out`` there;
- of the candidates with keys (or without), the one with the fewest functions: a history of
  reads and writes is a register's, not a cas-register's that happens to have no :cas.

A function no model has, functions that no one model has together (``:read`` beside ``:get``),
or a history whose functions need keys it does not carry (``:delete`` on a single register) is a
HistoryError naming the line, like any input the checker cannot read. A register whose values
are themselves two-element vectors on every line reads as independent keys: give its model.
"""

from __future__ import annotations

from collections.abc import Sequence

from checks.lincheck.history import HistoryError, Operation
from spec.kv.model import MODELS, Model

__all__ = ["AUTO", "choose_model", "carries_keys"]

AUTO = "auto"  # the --model value that chooses per file


def _first_lines(operations: Sequence[Operation]) -> dict[str, int]:
    """Each function called, with the line of its first operation, in the order first called."""
    lines: dict[str, int] = {}
    for op in operations:
        lines.setdefault(op.f, op.line)
    return lines


def _independent_pair(op: Operation) -> bool:
    value = op.value
    if not (isinstance(value, tuple) and len(value) == 2):
        return False
    return op.f != "cas" or (isinstance(value[1], tuple) and len(value[1]) == 2)


def carries_keys(operations: Sequence[Operation]) -> bool:
    """Does the history name a key on its operations (a ``:key`` field, or ``[key value]`` on
    every invocation and :ok completion)?"""
    if any(op.key is not None for op in operations):
        return True
    looked_at = [op for op in operations if op.type in ("invoke", "ok")]
    return bool(looked_at) and all(_independent_pair(op) for op in looked_at)


def _named(functions) -> str:
    return ", ".join(f":{f}" for f in functions)


def choose_model(operations: Sequence[Operation], filename: str) -> Model:
    """The model of the history (see the module's docstring); HistoryError when none fits."""
    lines = _first_lines(operations)
    for f, line in lines.items():
        if not any(f in model.functions for model in MODELS.values()):
            raise HistoryError(filename, line, f"operation :{f} is in no model ({_models_and_functions()})")
    candidates = [model for model in MODELS.values() if set(lines) <= set(model.functions)]
    if not candidates:
        raise HistoryError(filename, max(lines.values()), f"operations {_named(lines)} are in no one model "
                                                          f"({_models_and_functions()})")
    keyed = carries_keys(operations)
    fitting = [model for model in candidates if model.keyed == keyed]
    if not fitting:
        need = "a key on each operation (a :key field or [key value] values)" if not keyed else "no keys"
        owners = " or ".join(f"{model.name}'s" for model in candidates)
        raise HistoryError(filename, min(lines.values()), f"operations {_named(lines)} are {owners}, which needs {need}")
    return min(fitting, key=lambda model: (len(model.functions), model.name))


def _models_and_functions() -> str:
    return "; ".join(f"{model.name}: {_named(model.functions)}" for model in sorted(MODELS.values(),
                                                                                    key=lambda m: m.name))
