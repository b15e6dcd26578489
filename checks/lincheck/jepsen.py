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
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from typing import Any

from checks.lincheck.edn import Keyword, flat_fields, flat_maps, hashable, parse_edn
from checks.lincheck.history import EVENT_TYPES, HistoryError, Operation

__all__ = ["Keyword", "parse_edn", "parse_history", "read_history"]

_LOG_LINE = re.compile(r"\bjepsen\.util(?:\s+-|:)?\s+(.*)$")  # "jepsen.util - ", "jepsen.util: ", "jepsen.util "
_PROCESS = re.compile(r"\d+(?:[\s,]|$)")  # a client operation's line starts with its process
_FIELDS = frozenset({":process", ":type", ":f", ":value", ":key", ":index", ":time"})  # what an Operation keeps


def _name(value: Any, field: str, filename: str, line: int) -> str:
    if isinstance(value, str) and value:
        return str(value)
    raise HistoryError(filename, line, f"{field} must be a keyword, got {value!r}")


def _operation(fields: dict, filename: str, line: int, position: int, keyed: bool) -> Operation | None:
    """One Operation from a Jepsen map's fields; None for a nemesis operation."""
    missing = [name for name in ("process", "type", "f") if name not in fields]
    if missing:
        raise HistoryError(filename, line, f"operation lacks :{', :'.join(missing)}")
    process = fields["process"]
    if isinstance(process, Keyword):
        return None  # :nemesis and friends inject faults; they are not client calls
    if not isinstance(process, int) or isinstance(process, bool):
        raise HistoryError(filename, line, f":process must be an integer, got {process!r}")
    kind = _name(fields["type"], ":type", filename, line)
    if kind not in EVENT_TYPES:
        raise HistoryError(filename, line, f":type must be one of :{', :'.join(EVENT_TYPES)}, got :{kind}")
    index = fields.get("index", position)
    if not isinstance(index, int):
        raise HistoryError(filename, line, f":index must be an integer, got {index!r}")
    key, value = _split_key(fields, keyed, kind, filename, line)
    return Operation(process, kind, _name(fields["f"], ":f", filename, line), value, key, index, line,
                     fields.get("time"))


def _split_key(fields: dict, keyed: bool, kind: str, filename: str, line: int) -> tuple[Hashable, Any]:
    """(key, value): the key is a ``:key`` field (porcupine's and 6.824's kv histories) or the
    first of Jepsen ``independent``'s ``[key value]``. A completion that is not :ok may carry
    anything instead (``:timed-out``): its key is the invocation's."""
    value = fields.get("value")
    if not keyed:
        return None, value
    if "key" in fields:
        return hashable(fields["key"]), value
    if isinstance(value, tuple) and len(value) == 2:
        return value[0], value[1]
    if kind in ("fail", "info"):
        return None, value
    raise HistoryError(filename, line, f"a kv operation's :value must be [key value] (or give :key), got {value!r}")


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


def _parse_log(lines: list[str], filename: str, keyed: bool) -> list[Operation]:
    operations: list[Operation] = []
    for number, text in enumerate(lines, start=1):
        match = _LOG_LINE.search(text)
        if match is None:
            continue  # other loggers' lines
        if not _PROCESS.match(match.group(1)):
            continue  # the nemesis, or another message of jepsen.util
        values = _log_fields(match.group(1), filename, number)
        mapping = dict(zip(("process", "type", "f", "value"), values))
        operation = _operation(mapping, filename, number, len(operations), keyed)
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


def parse_history(text: str, filename: str = "<history>", keyed: bool = False) -> list[Operation]:
    """The operations in ``text``, in either format, in history order."""
    lines = text.splitlines() if "jepsen.util" in text else []
    if any(_LOG_LINE.search(line) for line in lines):
        operations = _parse_log(lines, filename, keyed)
    else:
        operations = []
        for line, fields in flat_maps(text, _FIELDS) or _maps(parse_edn(text, filename), filename):
            operation = _operation(fields, filename, line, len(operations), keyed)
            if operation is not None:
                operations.append(operation)
    if not operations:
        raise HistoryError(filename, 1, "no client operations found")
    return _in_order(operations, filename)


def _in_order(operations: list[Operation], filename: str) -> list[Operation]:
    seen: set[int] = set()
    for operation in operations:
        if operation.index in seen:
            raise HistoryError(filename, operation.line, f":index {operation.index} appears twice")
        seen.add(operation.index)
    return sorted(operations, key=lambda operation: operation.index)


def read_history(path: str, keyed: bool = False) -> list[Operation]:
    """Read and parse a history file; HistoryError on unreadable or malformed input."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        raise HistoryError(path, 0, f"cannot read: {error}") from None
    return parse_history(text, path, keyed)
