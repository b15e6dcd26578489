"""A corpus of histories written the way Jepsen stores hold them, for tests and benchmarks.

Real Jepsen files are not tidy: a timed-out call completes as ``:info :cas :timed-out`` (the
value replaced by the error), a read that timed out as ``:fail :read :timed-out`` or ``:info``,
a client that timed out is retired and its thread continues as a new process (``process +
concurrency``), nemesis faults are interleaved as ``:nemesis`` operations, log lines come in three
generations of Jepsen's logger (and some with their tabs expanded to spaces), and EDN files carry
``:time``, ``:index``, ``:error`` and the ``#jepsen.history.Op`` tag. Each file here is a
simulated history (``generate.simulate``) written in one of those shapes, chosen from a seed:

- ``etcd``: a cas-register of Jepsen's etcd test (5 clients, values 0-4, many timeouts) as
  ``jepsen.util`` log lines, like the logs porcupine and Knossos are tested on;
- ``independent``: Jepsen ``independent`` keys over cas-registers, ``[key value]`` values, EDN;
- ``append``: MIT 6.824 / porcupine key-value histories with ``:get``, ``:put`` and ``:append``
  and a ``:key`` field, 10 to 50 clients;
- ``register``: one register under 8 clients, ``#jepsen.history.Op`` maps in one vector.

A file is linearizable by construction unless a stale read was injected (``stale``): with
unique values the stale read makes it certainly not linearizable; with etcd's five values it
may or may not (``expected`` None: only a checker can say).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs

from checks.lincheck.edn import dumps
from checks.lincheck.generate import APPEND_MIX, simulate
from checks.lincheck.history import Operation
from checks.lincheck.search import LINEARIZABLE, NOT_LINEARIZABLE
from spec.kv.model import CAS_REGISTER, KV, KV_APPEND, Model

__all__ = ["CorpusFile", "FAMILIES", "corpus", "write_corpus", "append_edn"]

STALE_PERCENT = 30  # files with an injected stale read, per family
OPERATIONS_MIN = 20  # the smallest file, whatever the scale


@attrs.frozen
class CorpusFile:
    """One file: its name, text, the model to check it with (``kinv lincheck --model``) and the
    answer known by construction (None when only a checker can tell)."""

    name: str
    text: str
    model: str
    expected: str | None


@attrs.frozen
class _Family:
    """How to simulate and write one kind of file. ``shape(rng)`` draws (operations, threads,
    keys); ``values`` bounds the written values (None: unique)."""

    name: str
    model: Model
    extension: str
    shape: Callable[[random.Random], tuple[int, int, int]]
    values: int | None
    info_percent: int
    write: Callable[[list[Operation], random.Random], str]
    functions: tuple[str, ...] = ()


# --- values and lines as Jepsen prints them --------------------------------------------------

def _key(op: Operation) -> Any:
    """Jepsen independent keys are integers: ``k3`` is written 3."""
    return int(op.key[1:]) if isinstance(op.key, str) and op.key[1:].isdigit() else op.key


def _log_value(op: Operation, keyed: bool) -> str:
    if op.type == "info" or (op.type == "fail" and op.f == "read"):
        return ":timed-out"  # Jepsen's etcd client puts the error where the value was
    return dumps((_key(op), op.value) if keyed else op.value)


_LOG_PREFIXES = (
    lambda process, tick: "INFO  jepsen.util - ",
    lambda process, tick: f"2017-03-01 12:{tick // 60000 % 60:02d}:{tick // 1000 % 60:02d},{tick % 1000:03d}{{GMT}}\t"
                          f"INFO\t[jepsen worker {process}] jepsen.util - ",
    lambda process, tick: f"INFO [2021-02-23 10:{tick // 60000 % 60:02d}:{tick // 1000 % 60:02d},{tick % 1000:03d}] "
                          f"jepsen worker {process} - jepsen.util ",
)


def _log_lines(operations: list[Operation], rng: random.Random, keyed: bool = False) -> str:
    """``jepsen.util`` lines in one of three generations of Jepsen's logger, a nemesis now and
    then, and in a quarter of the files the tabs expanded to spaces."""
    prefix, spaces = rng.choice(_LOG_PREFIXES), rng.randrange(4) == 0
    lines, tick = [], 0
    for op in operations:
        tick += rng.randrange(1, 40)
        if rng.randrange(200) == 0:
            fault = rng.choice([":start\tnil", ':stop\t"fully connected"', ':start\t"Cut off {:n1 #{:n3 :n2}}"'])
            lines.append(prefix("nemesis", tick) + f":nemesis\t:info\t{fault}")
        kind = "fail" if op.type == "info" and op.f == "read" and rng.randrange(2) else op.type
        lines.append(prefix(op.process % 10, tick) + f"{op.process}\t:{kind}\t:{op.f}\t{_log_value(op, keyed)}")
    text = "\n".join(lines) + "\n"
    return text.expandtabs(8) if spaces else text


def _edn_map(op: Operation, fields: list[tuple[str, str]], tick: int, tagged: bool) -> str:
    extra = ", :error :timeout" if op.type == "info" else ""
    body = ", ".join(f"{name} {value}" for name, value in fields)
    return ("#jepsen.history.Op" if tagged else "") + f"{{:type :{op.type}, :f :{op.f}, {body}, :time {tick}, " \
           f":process {op.process}, :index {op.index}{extra}}}"


def _edn_maps(operations: list[Operation], rng: random.Random, fields: Callable[[Operation], list],
              tagged: bool = False, vector: bool = False) -> str:
    tick, lines = 0, []
    for op in operations:
        tick += rng.randrange(100_000, 5_000_000)  # nanoseconds, as Jepsen's :time
        lines.append(_edn_map(op, fields(op), tick, tagged))
    if vector:
        return "[" + "\n ".join(lines) + "]\n"
    return "\n".join(lines) + "\n"


def _independent(operations: list[Operation], rng: random.Random) -> str:
    return _edn_maps(operations, rng, lambda op: [(":value", dumps((_key(op), op.value)))])


def append_edn(operations: list[Operation], rng: random.Random) -> str:
    """Porcupine's kv histories: ``:key`` "3" a field of its own."""
    return _edn_maps(operations, rng, lambda op: [(":key", dumps(op.key[1:])), (":value", dumps(op.value))])


def _register(operations: list[Operation], rng: random.Random) -> str:
    return _edn_maps(operations, rng, lambda op: [(":value", dumps(op.value))], tagged=True, vector=True)


FAMILIES: tuple[_Family, ...] = (
    _Family("etcd", CAS_REGISTER, "log", lambda rng: (rng.randrange(100, 400), 5, 1), 5, 8,
            lambda operations, rng: _log_lines(operations, rng)),
    _Family("independent", KV, "edn", lambda rng: (rng.randrange(500, 1500), 10, rng.randrange(5, 20)), None, 3,
            _independent),
    _Family("append", KV_APPEND, "edn", lambda rng: (rng.randrange(300, 1500), rng.choice([10, 20, 50]), 10), None, 2,
            append_edn, APPEND_MIX),
    _Family("register", CAS_REGISTER, "edn", lambda rng: (rng.randrange(200, 1000), 8, 1), None, 3, _register),
)


def _file(family: _Family, number: int, rng: random.Random, scale: float) -> CorpusFile:
    operations, threads, keys = family.shape(rng)
    operations = max(OPERATIONS_MIN, int(operations * scale))
    stale = rng.randrange(100) < STALE_PERCENT
    simulation = simulate(rng, family.model, operations, threads, keys, stale_after=operations if stale else None,
                          values=family.values, info_percent=family.info_percent, functions=family.functions)
    expected: str | None = LINEARIZABLE
    if simulation.stale_read_index is not None:
        expected = NOT_LINEARIZABLE if family.values is None else None
    name = f"{family.name}-{number:03d}{'-stale' if simulation.stale_read_index is not None else ''}.{family.extension}"
    return CorpusFile(name, family.write(list(simulation.operations), rng), family.model.name, expected)


def corpus(seed: int = 1, files: int = 300, scale: float = 1.0) -> Iterator[CorpusFile]:
    """``files`` files, the families taking turns, of the families' sizes times ``scale``; the
    same arguments give the same files."""
    rng = random.Random(seed)
    for number in range(files):
        yield _file(FAMILIES[number % len(FAMILIES)], number, random.Random(rng.randrange(2**32)), scale)


def write_corpus(directory: Path, seed: int = 1, files: int = 300, scale: float = 1.0) -> list[CorpusFile]:
    """Write the corpus into ``directory``; the files, in order."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for item in corpus(seed, files, scale):
        (directory / item.name).write_text(item.text, encoding="utf-8")
        written.append(item)
    return written
