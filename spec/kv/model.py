"""Sequential models: what a single copy of a register or a key-value map would answer.

A linearizability checker (Herlihy & Wing 1990; the search of Wing & Gong 1993) asks whether the
operations of a concurrent history can be put in one order, consistent with real time, in which
each operation gets exactly the answer this *sequential* model gives. The model is therefore the
whole definition of "correct"; the checker knows nothing about registers or keys.

A model is a pure value: ``initial`` is the starting state and ``step(state, op)`` returns
``(ok, new_state)``, where ``ok`` says whether the model could have produced the operation's
recorded result. States are hashable because the search memoizes (linearized set, state) pairs,
as Lowe (2017) and Jepsen's Knossos and porcupine do.

An operation ``op`` is any value with attributes ``f`` (``"read"``, ``"write"``, ``"cas"``,
``"delete"``), ``value`` (the value written, the value a read returned, or ``(old, new)`` for a
compare-and-set) and, for the ``kv`` model, ``key``. ``None`` is Jepsen's ``nil``: the initial
value of a register, and the value of a key that is absent.

``UNKNOWN`` is a state no real register is ever in: "any value at all". Starting from it lets a
checker ask whether a window cut out of the middle of a history is wrong *whatever* came
before it; the first read or compare-and-set pins it down.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import attrs

__all__ = ["Model", "UNKNOWN", "REGISTER", "CAS_REGISTER", "KV", "MODELS", "model_by_name"]


class _Unknown:
    """The "any value" state; a singleton with a readable repr."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()

Step = Callable[[Hashable, Any], "tuple[bool, Hashable]"]


@attrs.frozen
class Model:
    """A sequential specification: its name, the operations it knows, its initial state, its step.

    ``keyed`` models read each operation's ``key`` and keep one register per key; a checker may
    then split the history per key and check each part alone (Jepsen's ``independent`` checker,
    and porcupine's partitioned models), which turns one exponential search into many small ones.
    """

    name: str
    functions: tuple[str, ...]
    initial: Hashable
    step: Step = attrs.field(repr=False)
    keyed: bool = False

    def unknown_state(self, keys: tuple = ()) -> Hashable:
        """A state in which every register (one per key in ``keys`` when keyed) holds UNKNOWN."""
        if self.keyed:
            return tuple((key, UNKNOWN) for key in keys)
        return UNKNOWN


def _matches(current: Hashable, expected: Hashable) -> bool:
    return current is UNKNOWN or current == expected


def _register_step(state: Hashable, op: Any) -> tuple[bool, Hashable]:
    """read v: ok when the register holds v; write v: always ok, the register now holds v."""
    if op.f == "read":
        return _matches(state, op.value), op.value
    if op.f == "write":
        return True, op.value
    raise ValueError(f"register model has no operation {op.f!r}")


def _cas_register_step(state: Hashable, op: Any) -> tuple[bool, Hashable]:
    """As the register, plus cas (old, new): ok only when the register holds old; then holds new."""
    if op.f == "cas":
        old, new = op.value
        if not _matches(state, old):
            return False, state
        return True, new
    return _register_step(state, op)


def _kv_lookup(state: tuple, key: Hashable) -> Hashable:
    for stored_key, value in state:
        if stored_key == key:
            return value
    return None


def _kv_store(state: tuple, key: Hashable, value: Hashable) -> tuple:
    """The map with key set to value (None deletes it); pairs kept in a canonical order."""
    others = tuple(pair for pair in state if pair[0] != key)
    pairs = others if value is None else others + ((key, value),)
    return tuple(sorted(pairs, key=lambda pair: (type(pair[0]).__name__, repr(pair[0]))))


def _kv_step(state: tuple, op: Any) -> tuple[bool, Hashable]:
    """Per key: read (get), write (put), delete, cas; like etcd's single-key range, put,
    delete-range and a txn comparing one key's value. A read of an absent key returns None."""
    current = _kv_lookup(state, op.key)
    if op.f == "delete":
        return True, _kv_store(state, op.key, None)
    ok, value = _cas_register_step(current, op)
    if not ok:
        return False, state
    return True, _kv_store(state, op.key, value)


REGISTER = Model("register", ("read", "write"), None, _register_step)
CAS_REGISTER = Model("cas-register", ("read", "write", "cas"), None, _cas_register_step)
KV = Model("kv", ("read", "write", "cas", "delete"), (), _kv_step, keyed=True)

MODELS: dict[str, Model] = {model.name: model for model in (REGISTER, CAS_REGISTER, KV)}


def model_by_name(name: str) -> Model:
    """The model called ``name``; KeyError names the known ones."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; models are {', '.join(sorted(MODELS))}")
    return MODELS[name]
