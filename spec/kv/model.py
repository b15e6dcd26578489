"""Sequential models: what a single copy of a register or a key-value map would answer.

A linearizability checker (Herlihy & Wing 1990; the search of Wing & Gong 1993) asks whether the
operations of a concurrent history can be put in one order, consistent with real time, in which
each operation gets exactly the answer this *sequential* model gives. The model is therefore the
whole definition of "correct"; the checker knows nothing about registers or keys.

A model is a pure value: ``initial`` is the starting state and ``step(state, op)`` returns
``(ok, new_state)``, where ``ok`` says whether the model could have produced the operation's
recorded result. States are hashable because the search memoizes (linearized set, state) pairs,
as Lowe (2017) and Jepsen's Knossos and porcupine do. ``step`` reads only the operation's ``f``,
``key`` and ``value``: two operations that agree on those are interchangeable, which the search
uses to try only one of several identical operations whose outcome is unknown.

An operation ``op`` is any value with attributes ``f`` (``"read"``, ``"write"``, ``"cas"``,
``"delete"``; ``"get"``, ``"put"``, ``"append"`` for ``kv-append``), ``value`` (the value
written, the value a read returned, or ``(old, new)`` for a compare-and-set) and, for keyed
models, ``key``. ``None`` is Jepsen's ``nil``: the initial value of a register, and the value of
a key that is absent.

Optional parts of a model, each with a default, tell the checker more:

- ``read_only``: the functions that never change the state (reads). The search linearizes an
  available read as soon as it fits, with no other choice to try at that point.
- ``single_key``: for a keyed model, the model of one key's value alone, which the checker uses
  after splitting a history per key (a smaller state, a faster step).
- ``validate(f, value)``: a message when an operation's value cannot be right for this model
  (a compare-and-set without ``[old new]``), checked on invocations and on read results.
- ``canonical(operations)``: given the operations to check, a function from a state to one
  representative of all the states those operations cannot tell apart. For kv-append, a string
  that no get of the history starts with can never be read again (only a put ends it), so all
  such strings are one state, ``FORGOTTEN``: the orders of appends that a put will erase unread
  then count once in the memo, not once per order.

``UNKNOWN`` is a state no real register is ever in: "any value at all". Starting from it lets a
checker ask whether a window cut out of the middle of a history is wrong *whatever* came
before it; the first read or compare-and-set pins it down.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import attrs

__all__ = ["Model", "UNKNOWN", "FORGOTTEN", "REGISTER", "CAS_REGISTER", "KV", "KV_APPEND", "MODELS", "model_by_name"]


class _Unknown:
    """The "any value" state; a singleton with a readable repr."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()

Step = Callable[[Hashable, Any], "tuple[bool, Hashable]"]
Validate = Callable[[str, Any], "str | None"]


def _any_value(f: str, value: Any) -> str | None:
    return None


@attrs.frozen
class Model:
    """A sequential specification: its name, the operations it knows, its initial state, its step.

    ``keyed`` models read each operation's ``key`` and keep one register per key; a checker may
    then split the history per key and check each part alone (Jepsen's ``independent`` checker,
    and porcupine's partitioned models), which turns one exponential search into many small ones.
    The last three fields are optional (see the module's docstring).
    """

    name: str
    functions: tuple[str, ...]
    initial: Hashable
    step: Step = attrs.field(repr=False)
    keyed: bool = False
    read_only: tuple[str, ...] = ()
    single_key: Model | None = attrs.field(default=None, repr=False)
    validate: Validate = attrs.field(default=_any_value, repr=False)
    canonical: Callable[[Sequence[Any]], Callable[[Hashable], Hashable]] | None = attrs.field(default=None,
                                                                                              repr=False)

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


def _validate_cas(f: str, value: Any) -> str | None:
    if f == "cas" and not (isinstance(value, tuple) and len(value) == 2):
        return f":cas needs a value [old new], got {value!r}"
    return None


def _kv_register_step(state: Hashable, op: Any) -> tuple[bool, Hashable]:
    """One key of the kv model: a compare-and-set register that delete empties (None)."""
    if op.f == "delete":
        return True, None
    return _cas_register_step(state, op)


def _kv_lookup(state: tuple, key: Hashable, absent: Hashable = None) -> Hashable:
    for stored_key, value in state:
        if stored_key == key:
            return value
    return absent


def _kv_store(state: tuple, key: Hashable, value: Hashable, absent: Hashable = None) -> tuple:
    """The map with key set to value (``absent`` deletes it); pairs kept in a canonical order."""
    others = tuple(pair for pair in state if pair[0] != key)
    pairs = others if value == absent else others + ((key, value),)
    return tuple(sorted(pairs, key=lambda pair: (type(pair[0]).__name__, repr(pair[0]))))


def _keyed(step_one: Step, absent: Hashable) -> Step:
    """A map of registers from one register's step: each operation steps its own key's value."""

    def step(state: tuple, op: Any) -> tuple[bool, Hashable]:
        ok, value = step_one(_kv_lookup(state, op.key, absent), op)
        if not ok:
            return False, state
        return True, _kv_store(state, op.key, value, absent)

    return step


# --- kv-append: Jepsen-style get, put and append on strings (porcupine's kv model) ---------------

class _Forgotten:
    """A kv-append string no get of the history can return before a put replaces it."""

    def __repr__(self) -> str:
        return "FORGOTTEN"


FORGOTTEN = _Forgotten()


@attrs.frozen
class _Suffix:
    """"Any string ending with ``text``": UNKNOWN after appends, when a window starts mid-history."""

    text: str


def _append_get(state: Hashable, read: Any) -> tuple[bool, Hashable]:
    value = "" if read is None else read  # a get of an absent key: nil in Jepsen, "" in porcupine
    if state is FORGOTTEN:
        return False, state
    if isinstance(state, _Suffix):
        return value.endswith(state.text), value
    return _matches(state, value), value


def _append_step(state: Hashable, op: Any) -> tuple[bool, Hashable]:
    """get v: ok when the value is v (nil reads as ""); put v: the value is now v; append v:
    v is added at the end. A key never written holds ""."""
    if op.f == "get":
        return _append_get(state, op.value)
    if op.f == "put":
        return True, op.value
    if op.f == "append":
        if state is FORGOTTEN:
            return True, state
        if state is UNKNOWN:
            return True, _Suffix(op.value)
        if isinstance(state, _Suffix):
            return True, _Suffix(state.text + op.value)
        return True, state + op.value
    raise ValueError(f"kv-append model has no operation {op.f!r}")


def _append_canonical(operations: Sequence[Any]) -> Callable[[Hashable], Hashable]:
    """FORGOTTEN for a string that no get of ``operations`` starts with (found by bisection in the
    sorted values read: the strings starting with s follow s in sorted order)."""
    values = sorted({"" if op.value is None else op.value for op in operations if op.f == "get"})

    def canonical(state: Hashable) -> Hashable:
        if not isinstance(state, str):
            return state
        position = bisect.bisect_left(values, state)
        return state if position < len(values) and values[position].startswith(state) else FORGOTTEN

    return canonical


def _validate_append(f: str, value: Any) -> str | None:
    if f in ("put", "append") and not isinstance(value, str):
        return f":{f} needs a string value, got {value!r}"
    if f == "get" and not (value is None or isinstance(value, str)):
        return f":get returns a string or nil, got {value!r}"
    return None


REGISTER = Model("register", ("read", "write"), None, _register_step, read_only=("read",))
CAS_REGISTER = Model("cas-register", ("read", "write", "cas"), None, _cas_register_step, read_only=("read",),
                     validate=_validate_cas)
_KV_KEY = Model("kv key", ("read", "write", "cas", "delete"), None, _kv_register_step, read_only=("read",),
                validate=_validate_cas)
KV = Model("kv", _KV_KEY.functions, (), _keyed(_kv_register_step, None), keyed=True, read_only=("read",),
           single_key=_KV_KEY, validate=_validate_cas)
_APPEND_KEY = Model("kv-append key", ("get", "put", "append"), "", _append_step, read_only=("get",),
                    validate=_validate_append, canonical=_append_canonical)
KV_APPEND = Model("kv-append", _APPEND_KEY.functions, (), _keyed(_append_step, ""), keyed=True,
                  read_only=("get",), single_key=_APPEND_KEY, validate=_validate_append)

MODELS: dict[str, Model] = {model.name: model for model in (REGISTER, CAS_REGISTER, KV, KV_APPEND)}


def model_by_name(name: str) -> Model:
    """The model called ``name``; KeyError names the known ones."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; models are {', '.join(sorted(MODELS))}")
    return MODELS[name]
