"""Read histories in Jepsen's formats.

Two formats (Kingsbury, Jepsen; the ``history.edn`` files Knossos reads and ``jepsen.util``'s log):

- EDN operation maps, one per line or inside one EDN vector or list::

      {:process 0, :type :invoke, :f :write, :value 3}
      {:process 0, :type :ok, :f :cas, :value [1 2], :time 1234, :index 7}

  Newer Jepsen writes ``#jepsen.history.Op{...}``; the tag is ignored.
- log lines, tab separated: process, type, f, value (anything after is a comment)::

      INFO  jepsen.util - 0	:invoke	:read	nil

Operations by the ``:nemesis`` process are faults, not client calls, and are skipped. For a keyed
model the value is Jepsen ``independent``'s ``[key value]`` tuple. The EDN reader covers what
histories use: maps, vectors, lists, sets, keywords, symbols, integers, floats, strings, nil,
true and false, and ``;`` comments. It keeps an explicit stack, so deep nesting cannot overflow.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from typing import Any

from checks.lincheck.history import EVENT_TYPES, HistoryError, Operation

__all__ = ["Keyword", "parse_edn", "parse_history", "read_history"]

NESTING_MAX = 100  # far deeper than any history needs; also bounds printing and hashing values
_TOKEN = re.compile(r'''
    (?P<space>[\s,]+|;[^\n]*)
  | (?P<open>\#\{|[\[({])
  | (?P<close>[\])}])
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<tag>\#[A-Za-z_][\w.\-/]*)
  | (?P<atom>[^\s,;"\[\](){}]+)
''', re.VERBOSE | re.DOTALL)
_INTEGER = re.compile(r"[+-]?\d+N?")
_FLOAT = re.compile(r"[+-]?\d+\.\d*(?:[eE][+-]?\d+)?M?|[+-]?\d+[eE][+-]?\d+M?")
_LOG_LINE = re.compile(r"\bjepsen\.util(?:\s+-|:)\s+(.*)$")  # "jepsen.util - " (also "jepsen.util: ")
_STRING_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


class Keyword(str):
    """An EDN keyword such as ``:write``; compares equal to its name, prints with its colon."""

    def __repr__(self) -> str:
        return ":" + str(self)


def _atom(text: str) -> Any:
    if text == "nil":
        return None
    if text in ("true", "false"):
        return text == "true"
    if text.startswith(":") and len(text) > 1:
        return Keyword(text[1:])
    if _INTEGER.fullmatch(text):
        return int(text.rstrip("N"))
    if _FLOAT.fullmatch(text):
        return float(text.rstrip("M"))
    return Keyword(text) if text[0].isalpha() else _bad_atom(text)


def _bad_atom(text: str) -> Any:
    raise ValueError(f"cannot read {text!r}")


def _string(text: str) -> str:
    return re.sub(r"\\(.)", lambda match: _STRING_ESCAPES.get(match.group(1), match.group(1)), text[1:-1])


def _collection(opener: str, items: list, line: int) -> Any:
    if opener == "{":
        if len(items) % 2:
            raise ValueError(f"map opened on line {line} has an odd number of forms")
        return _Map(line, {_hashable(items[i]): items[i + 1] for i in range(0, len(items), 2)})
    if opener == "#{":
        return frozenset(_hashable(item) for item in items)
    return tuple(items)


class _Map(dict):
    """An EDN map that remembers the line it starts on; hashable (by its items) so that a map
    may be a value a model stores."""

    def __init__(self, line: int, items: dict) -> None:
        super().__init__(items)
        self.line = line

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items(), key=repr)))


def _hashable(value: Any) -> Hashable:
    if isinstance(value, dict):
        return tuple(sorted(value.items(), key=repr))
    return value


_CLOSERS = {"{": "}", "#{": "}", "[": "]", "(": ")"}


def parse_edn(text: str, filename: str = "<edn>") -> list[tuple[int, Any]]:
    """Every top-level form of ``text`` with the line it starts on."""
    forms: list[tuple[int, Any]] = []
    stack: list[tuple[str, int, list]] = []  # (opener, line, items so far)
    line, position = 1, 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise HistoryError(filename, line, f"cannot read {text[position:position + 20]!r}")
        kind, token = match.lastgroup, match.group()
        try:
            value = _token_value(kind, token, stack, line)
        except ValueError as error:
            raise HistoryError(filename, line, str(error)) from None
        if value is not _NOTHING:
            (stack[-1][2] if stack else forms).append(value if stack else (line, value))
        line += token.count("\n")
        position = match.end()
    if stack:
        raise HistoryError(filename, stack[-1][1], f"{stack[-1][0]!r} is never closed")
    return forms


_NOTHING = object()


def _token_value(kind: str, token: str, stack: list, line: int) -> Any:
    """The value a token completes, or _NOTHING; pushes and pops ``stack``."""
    if kind in ("space", "tag"):
        return _NOTHING
    if kind == "open":
        if len(stack) >= NESTING_MAX:
            raise ValueError(f"nested deeper than {NESTING_MAX}")
        stack.append((token, line, []))
        return _NOTHING
    if kind == "close":
        if not stack or _CLOSERS[stack[-1][0]] != token:
            raise ValueError(f"unexpected {token!r}")
        opener, start, items = stack.pop()
        return _collection(opener, items, start)
    if kind == "string":
        return _string(token)
    return _atom(token)


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
    key, value = _split_key(fields.get("value"), keyed, filename, line)
    return Operation(process, kind, _name(fields["f"], ":f", filename, line), value, key, index, line,
                     fields.get("time"))


def _split_key(value: Any, keyed: bool, filename: str, line: int) -> tuple[Hashable, Any]:
    if not keyed:
        return None, value
    if not (isinstance(value, tuple) and len(value) == 2):
        raise HistoryError(filename, line, f"a kv operation's :value must be [key value], got {value!r}")
    return value[0], value[1]


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
        fields = match.group(1).rstrip("\r").split("\t")
        if len(fields) < 3:
            raise HistoryError(filename, number, "a jepsen.util line needs process, type, f and value separated by tabs")
        values = [_log_field(field, filename, number) for field in fields[:4]]
        mapping = dict(zip(("process", "type", "f", "value"), values))
        operation = _operation(mapping, filename, number, len(operations), keyed)
        if operation is not None:
            operations.append(operation)
    return operations


def _log_field(text: str, filename: str, line: int) -> Any:
    try:
        forms = parse_edn(text.strip(), filename)
    except HistoryError as error:
        raise HistoryError(filename, line, error.message) from None
    if len(forms) != 1:
        raise HistoryError(filename, line, f"cannot read field {text!r}")
    return forms[0][1]


def parse_history(text: str, filename: str = "<history>", keyed: bool = False) -> list[Operation]:
    """The operations in ``text``, in either format, in history order."""
    lines = text.splitlines()
    if any(_LOG_LINE.search(line) for line in lines):
        operations = _parse_log(lines, filename, keyed)
    else:
        operations = []
        for line, fields in _maps(parse_edn(text, filename), filename):
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
