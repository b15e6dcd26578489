"""Read histories in Jepsen's formats.

Two formats (Kingsbury, Jepsen; the ``history.edn`` files Knossos reads and ``jepsen.util``'s log):

- EDN operation maps, one per line or inside one EDN vector or list::

      {:process 0, :type :invoke, :f :write, :value 3}
      {:process 0, :type :ok, :f :cas, :value [1 2], :time 1234, :index 7}

  Newer Jepsen writes ``#jepsen.history.Op{...}``; the tag is ignored.
- log lines: process, type, f, value separated by tabs, or spaces in logs whose tabs were
  expanded (anything after is an error message), after the logger's prefix of any Jepsen
  generation::

      INFO  jepsen.util - 0	:invoke	:read	nil
      INFO  jepsen.util - 3   :info   :cas    :timed-out
      2017-03-01 12:00:00,001{GMT}	INFO	[jepsen worker 0] jepsen.util - 0	:ok	:read	3
      INFO [2021-02-23 10:31:11,242] jepsen worker 2 - jepsen.util 2	:invoke	:read	nil

  A ``jepsen.util`` line that does not start with a process (an integer) is not an operation
  (the nemesis's, or the logger's other messages) and is skipped.

Operations by the ``:nemesis`` process are faults, not client calls, and are skipped. For a keyed
model the key is a ``:key`` field (porcupine's kv histories) or the value is Jepsen
``independent``'s ``[key value]`` tuple. Values are EDN (``edn.py``).

``parse_operations`` reads the operations as written (a ``:key`` field is the key; a value is
never split), so that the model can be chosen from them (``choose.py``) before ``with_keys``
or ``without_keys`` gives them the model's reading; ``parse_history`` does both for a known model.
"""

from __future__ import annotations

import re
from typing import Any

import attrs

from checks.lincheck.edn import Keyword, flat_fields, flat_maps, flat_operation, hashable, parse_edn
from checks.lincheck.history import EVENT_TYPES, HistoryError, Operation

__all__ = ["Keyword", "parse_edn", "parse_history", "read_history", "parse_operations", "read_operations",
           "with_keys", "without_keys"]

# "jepsen.util - ", "jepsen.util: ", "jepsen.util " after a word boundary; the name comes first and
# the boundary is a look-behind so that the regex engine skips to the name by a literal search
# (a leading \b made it try every position: a third of the time of reading a log)
_LOG_LINE = re.compile(r"jepsen\.util(?<!\wjepsen\.util)(?:\s+-|:)?\s+(.*)$")
_PROCESS = re.compile(r"\d+(?:[\s,]|$)")  # a client operation's line starts with its process
_FIELDS = frozenset({":process", ":type", ":f", ":value", ":key", ":index", ":time"})  # what an Operation keeps


def _name(value: Any, field: str, filename: str, line: int) -> str:
    if isinstance(value, str) and value:
        return str(value)
    raise HistoryError(filename, line, f"{field} must be a keyword, got {value!r}")


def _operation(fields: dict, filename: str, line: int, position: int) -> Operation | None:
    """One Operation from a Jepsen map's fields, as written (the key is a ``:key`` field's); None
    for a nemesis operation."""
    try:
        process, kind, f = fields["process"], fields["type"], fields["f"]
    except KeyError:
        missing = [name for name in ("process", "type", "f") if name not in fields]
        raise HistoryError(filename, line, f"operation lacks :{', :'.join(missing)}") from None
    if isinstance(process, Keyword):
        return None  # :nemesis and friends inject faults; they are not client calls
    if not isinstance(process, int) or isinstance(process, bool):
        raise HistoryError(filename, line, f":process must be an integer, got {process!r}")
    if kind not in EVENT_TYPES:
        raise HistoryError(filename, line, f":type must be one of :{', :'.join(EVENT_TYPES)}, "
                                           f"got :{_name(kind, ':type', filename, line)}")
    index = fields.get("index", position)
    if not isinstance(index, int):
        raise HistoryError(filename, line, f":index must be an integer, got {index!r}")
    key = fields.get("key")
    return Operation(process, str(kind), _name(f, ":f", filename, line), fields.get("value"),
                     None if key is None else hashable(key), index, line, fields.get("time"))


def with_keys(operations: list[Operation], filename: str) -> list[Operation]:
    """The operations as a keyed model reads them: the key is a ``:key`` field (porcupine's and
    6.824's kv histories) or the first of Jepsen ``independent``'s ``[key value]``. A completion
    that is not :ok may carry anything instead (``:timed-out``): its key is the invocation's."""
    keyed = []
    for op in operations:
        value = op.value
        if op.key is None and isinstance(value, tuple) and len(value) == 2:
            op = Operation(op.process, op.type, op.f, value[1], value[0], op.index, op.line, op.time)
        elif op.key is None and op.type not in ("fail", "info"):
            raise HistoryError(filename, op.line, f"a kv operation's :value must be [key value] (or give :key), "
                                                  f"got {value!r}")
        keyed.append(op)
    return keyed


def without_keys(operations: list[Operation]) -> list[Operation]:
    """The operations as a model without keys reads them: a ``:key`` field is ignored."""
    if all(op.key is None for op in operations):
        return operations
    return [op if op.key is None else attrs.evolve(op, key=None) for op in operations]


def _maps(forms: list[tuple[int, Any]], filename: str) -> list[tuple[int, dict]]:
    """The operation maps: the forms themselves, or the items of one top-level vector or list."""
    items = forms
    if len(forms) == 1 and isinstance(forms[0][1], tuple):
        items = [(getattr(item, "line", forms[0][0]), item) for item in forms[0][1]]
    for line, value in items:
        if not isinstance(value, dict):
            raise HistoryError(filename, line, f"expected an operation map {{:process …, :type …, :f …}}, "
                               f"got {value!r}")
    return items


def _parse_log(lines: list[str], filename: str) -> list[Operation]:
    operations: list[Operation] = []
    for number, text in enumerate(lines, start=1):
        match = _LOG_LINE.search(text)
        if match is None:
            continue  # other loggers' lines
        usual = flat_operation(text, match.start(1))
        if usual is not None:  # checked by its grammar: nothing left to check
            process, kind, f, value = usual
            operations.append(Operation(process, kind, f, value, None, len(operations), number))
            continue
        if not _PROCESS.match(match.group(1)):
            continue  # the nemesis, or another message of jepsen.util
        values = _log_fields(match.group(1), filename, number)
        mapping = dict(zip(("process", "type", "f", "value"), values))
        operation = _operation(mapping, filename, number, len(operations))
        if operation is not None:
            operations.append(operation)
    return operations


def _log_fields(text: str, filename: str, line: int) -> list[Any]:
    """Process, type, f and value: the first four forms, separated by tabs (``jepsen.util``
    writes tabs) or spaces (logs whose tabs were expanded); what follows is an error message."""
    values = flat_fields(text)
    if values is None:
        try:
            values = [value for _, value in parse_edn(text, filename, forms_max=4)]
        except HistoryError as error:
            raise HistoryError(filename, line, error.message) from None
    if len(values) < 3:
        raise HistoryError(filename, line, "a jepsen.util line needs process, type, f and value "
                                           "separated by tabs or spaces")
    return values


def parse_operations(text: str, filename: str = "<history>") -> list[Operation]:
    """The operations in ``text``, in either format, in history order, as written: the key is a
    ``:key`` field's (None without one) and a ``[key value]`` value is not split."""
    lines = text.splitlines() if "jepsen.util" in text else []
    if any(_LOG_LINE.search(line) for line in lines):
        operations = _parse_log(lines, filename)
    else:
        operations = []
        for line, fields in flat_maps(text, _FIELDS) or _maps(parse_edn(text, filename), filename):
            operation = _operation(fields, filename, line, len(operations))
            if operation is not None:
                operations.append(operation)
    if not operations:
        raise HistoryError(filename, 1, "no client operations found")
    return _in_order(operations, filename)


def parse_history(text: str, filename: str = "<history>", keyed: bool = False) -> list[Operation]:
    """The operations in ``text``, in either format, in history order, as a model with keys
    (``keyed``) or without reads them."""
    operations = parse_operations(text, filename)
    return with_keys(operations, filename) if keyed else without_keys(operations)


def _in_order(operations: list[Operation], filename: str) -> list[Operation]:
    seen: set[int] = set()
    for operation in operations:
        if operation.index in seen:
            raise HistoryError(filename, operation.line, f":index {operation.index} appears twice")
        seen.add(operation.index)
    return sorted(operations, key=lambda operation: operation.index)


def read_operations(path: str) -> list[Operation]:
    """Read and parse a history file, its operations as written (``parse_operations``);
    HistoryError on unreadable or malformed input."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        raise HistoryError(path, 0, f"cannot read: {error}") from None
    return parse_operations(text, path)


def read_history(path: str, keyed: bool = False) -> list[Operation]:
    """Read and parse a history file for a model with keys (``keyed``) or without; HistoryError
    on unreadable or malformed input."""
    operations = read_operations(path)
    return with_keys(operations, path) if keyed else without_keys(operations)
