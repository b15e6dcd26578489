"""Histories by simulation: clients running concurrently against one real (sequential) store.

Each client thread invokes an operation, the store applies it at some later moment (its
linearization point), and the client learns the result later still; the steps of all threads
interleave at random. Such a history is linearizable by construction, which makes it the
reference for property tests (the checker must accept it) and for benchmarks.

Like Jepsen, a thread whose operation ends ``:info`` (applied or not: nobody knows) is retired
and continues as a new process (``process + threads``). Written values are unique (1, 2, 3, …),
so an injected *stale read*, one returning a value that a later completed write had already
replaced before the read began, is certainly not linearizable.
"""

from __future__ import annotations

import random
from collections.abc import Hashable
from typing import Any

import attrs

from checks.lincheck.edn import dumps
from checks.lincheck.history import Operation
from checks.lincheck.search import part_model
from spec.kv.model import Model

__all__ = ["Simulation", "simulate", "format_edn", "format_log", "APPEND_MIX"]

INFO_PERCENT = 3  # chance per completion that the client times out (outcome unknown)
APPEND_MIX = ("get",) * 5 + ("append",) * 5 + ("put",)  # as in porcupine's c50 history: about 9% puts


@attrs.frozen
class Simulation:
    """The history, and the position of the injected stale read's invocation (None: none)."""

    operations: tuple[Operation, ...]
    stale_read_index: int | None = None


@attrs.define
class _Pending:
    operation: Operation
    applied: bool = False
    outcome: str = "ok"
    result: Any = None


@attrs.define
class _World:
    """The real store, the threads, and the ok writes per key: (invoked, completed, value)."""

    model: Model
    rng: random.Random
    threads: int
    stale_after: int | None
    values: int | None = None
    info_percent: int = INFO_PERCENT
    functions: tuple[str, ...] = ()
    store: dict = attrs.Factory(dict)
    processes: list = attrs.Factory(list)
    pending: dict = attrs.Factory(dict)
    writes: dict = attrs.Factory(dict)
    events: list = attrs.Factory(list)
    next_value: int = 1
    invoked: int = 0
    stale_read_index: int | None = None


def _fresh_value(world: _World) -> Any:
    """The next unique value, or one of ``values`` small ones (as Jepsen's etcd test writes 0-4);
    an integer, or a string like porcupine's for the append model."""
    if world.values is None:
        value, world.next_value = world.next_value, world.next_value + 1
    else:
        value = world.rng.randrange(world.values)
    return f"x {value} y" if "append" in world.model.functions else value


def _other_value(world: _World) -> Any:
    """A value a compare-and-set may expect instead of the current one."""
    if world.values is None:
        return world.rng.randrange(1, world.next_value)
    return world.rng.randrange(world.values)


def _new_operation(world: _World, thread: int, keys: int) -> Operation:
    model, rng = world.model, world.rng
    f = rng.choice(world.functions or model.functions)
    key = f"k{rng.randrange(keys)}" if model.keyed else None
    value: Any = None
    if f not in model.read_only and f != "delete":
        value = _fresh_value(world)
    if f == "cas":
        current = world.store.get(key)
        value = (current if rng.random() < 0.6 else _other_value(world), value)
    return Operation(world.processes[thread], "invoke", f, value, key, len(world.events))


def _apply(world: _World, pending: _Pending) -> None:
    """The linearization point: the store answers the operation, as the model says."""
    op, model = pending.operation, part_model(world.model)
    current = world.store.get(op.key, model.initial)
    if op.f in model.read_only:
        stale = _stale_value(world, op) if _wants_stale(world, op) else None
        if stale is not None:
            world.stale_read_index = op.index
        pending.result = current if stale is None else stale
    else:
        ok, world.store[op.key] = model.step(current, op)
        pending.outcome = "ok" if ok else "fail"
        pending.result = world.store[op.key]
    pending.applied = True


def _wants_stale(world: _World, op: Operation) -> bool:
    return world.stale_read_index is None and world.stale_after is not None and op.index >= world.stale_after


def _stale_value(world: _World, op: Operation) -> Hashable:
    """A value certainly overwritten before ``op`` began: written by W1, which completed before
    W2 was invoked, W2 having completed before ``op`` was invoked. None if there is none."""
    done = [write for write in world.writes.get(op.key, []) if write[1] < op.index]
    if not done:
        return None
    second = max(done)
    earlier = [write for write in done if write[1] < second[0]]
    if not earlier:
        return None
    return max(earlier, key=lambda write: write[1])[2]


def _complete(world: _World, thread: int, pending: _Pending) -> None:
    op = pending.operation
    timed_out = world.rng.randrange(100) < world.info_percent and op.index != world.stale_read_index
    outcome = "info" if timed_out else pending.outcome
    reads = op.f in world.model.read_only
    value = pending.result if reads and outcome == "ok" else op.value
    world.events.append(attrs.evolve(op, type=outcome, value=value, index=len(world.events)))
    if outcome == "ok" and not reads and op.f != "delete":
        world.writes.setdefault(op.key, []).append((op.index, len(world.events) - 1, pending.result))
    del world.pending[thread]
    if timed_out:
        world.processes[thread] += world.threads


def _step(world: _World, thread: int, operations: int, keys: int) -> None:
    pending = world.pending.get(thread)
    if pending is None:
        if world.invoked < operations:
            op = _new_operation(world, thread, keys)
            world.events.append(op)
            world.pending[thread] = _Pending(op)
            world.invoked += 1
    elif not pending.applied:
        _apply(world, pending)
    else:
        _complete(world, thread, pending)


def simulate(rng: random.Random, model: Model, operations: int, threads: int = 4, keys: int = 1,
             stale_after: int | None = None, values: int | None = None,
             info_percent: int = INFO_PERCENT, functions: tuple[str, ...] = ()) -> Simulation:
    """A history of ``operations`` calls by ``threads`` concurrent clients over ``keys`` keys
    (keyed models); with ``stale_after``, the first read invoked at or after that position that
    can be made stale returns a value already overwritten (certainly so only with unique values:
    ``values`` None). ``values``: write values from ``range(values)`` instead of unique ones;
    ``info_percent``: the chance in percent that a completion is a timeout; ``functions``: what
    clients call, drawn uniformly (repeat one to weigh it; default: each of the model's)."""
    world = _World(model, rng, threads, stale_after, values, info_percent, functions, processes=list(range(threads)))
    steps_max = 3 * operations + 10 * threads  # each call needs three steps of its thread
    for _ in range(steps_max * threads):
        if world.invoked >= operations and not world.pending:
            break
        _step(world, rng.randrange(threads), operations, keys)
    while world.pending:  # drain in thread order; bounded: two steps finish any pending call
        thread = min(world.pending)
        _step(world, thread, operations, keys)
    return Simulation(tuple(world.events), world.stale_read_index)


def _wrapped(op: Operation, keyed: bool) -> Any:
    return (op.key, op.value) if keyed else op.value


def format_edn(operations, keyed: bool = False) -> str:
    """One Jepsen operation map per line."""
    return "".join(f"{{:process {op.process}, :type :{op.type}, :f :{op.f}, :value {dumps(_wrapped(op, keyed))}, "
                   f":index {op.index}}}\n" for op in operations)


def format_log(operations, keyed: bool = False) -> str:
    """Jepsen's ``jepsen.util`` log lines: process, type, f, value, tab separated."""
    return "".join(f"INFO  jepsen.util - {op.process}\t:{op.type}\t:{op.f}\t{dumps(_wrapped(op, keyed))}\n"
                   for op in operations)
