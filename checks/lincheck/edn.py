"""EDN (extensible data notation), as much of it as Jepsen histories use: maps, vectors, lists,
sets, keywords, symbols, integers, floats, strings, nil, true and false, ``;`` comments, and tags
(``#jepsen.history.Op``), which are ignored.

``parse_edn`` reads any of it with an explicit stack, so deep nesting cannot overflow. Histories
are long and regular, though (a Jepsen store holds hundreds of files of thousands of lines), so
two fast readers handle the usual shapes with one regular expression per line and answer None
for anything else, for the general reader to take over with its exact error messages:
``flat_maps`` reads a text of one flat operation map per line (values: atoms, strings and
vectors of them), ``flat_fields`` the whitespace-separated fields of a log line, and
``flat_operation`` the usual log line's operation in one match. All build the same values as
``parse_edn``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Hashable
from typing import Any

from checks.lincheck.history import HistoryError

__all__ = ["Keyword", "parse_edn", "flat_maps", "flat_fields", "flat_operation", "hashable", "dumps", "NESTING_MAX"]

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
        return _Map(line, {hashable(items[i]): items[i + 1] for i in range(0, len(items), 2)})
    if opener == "#{":
        return frozenset(hashable(item) for item in items)
    return tuple(items)


class _Map(dict):
    """An EDN map that remembers the line it starts on; hashable (by its items) so that a map
    may be a value a model stores."""

    def __init__(self, line: int, items: dict) -> None:
        super().__init__(items)
        self.line = line

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items(), key=repr)))


def hashable(value: Any) -> Hashable:
    """A map as the sorted tuple of its items (a set member or map key must hash); else the value."""
    if isinstance(value, dict):
        return tuple(sorted(value.items(), key=repr))
    return value


_CLOSERS = {"{": "}", "#{": "}", "[": "]", "(": ")"}


def parse_edn(text: str, filename: str = "<edn>", forms_max: int | None = None) -> list[tuple[int, Any]]:
    """Every top-level form of ``text`` with the line it starts on (only the first ``forms_max``
    when given: the rest of the text is not read)."""
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
            if not stack and len(forms) == forms_max:
                return forms
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



def dumps(value: Any) -> str:
    """A value as EDN, as Jepsen prints it: nil, true, :keyword, "string", [vector], numbers."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "[" + " ".join(dumps(item) for item in value) + "]"
    if isinstance(value, Keyword):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


# --- the fast readers ------------------------------------------------------------------------

_ATOM = r'[^\s,;"\[\](){}#]+'
_STRING = r'"(?:[^"\\]|\\.)*"'
_VECTOR = r'\[[^\[\](){}#;]*\]'  # a vector of atoms and strings
_FLAT_VALUE = rf'(?:{_STRING}|\[(?:[^\[\](){{}}#;]|{_VECTOR})*\]|{_ATOM})'  # vectors nest once: [k [old new]]
_PAIR = re.compile(rf'(:{_ATOM})[\s,]+({_FLAT_VALUE})')
_FLAT_MAP = re.compile(rf'[\s,]*(?:\#[A-Za-z_][\w.\-/]*)?\{{[\s,]*(?:(?::{_ATOM})[\s,]+{_FLAT_VALUE}[\s,]*)*\}}[\s,]*')
_ITEM = re.compile(rf'{_STRING}|{_VECTOR}|[^\s,"\[\]]+')
_FIELDS = re.compile(rf'[\s,]*({_ATOM})[\s,]+({_ATOM})[\s,]+({_ATOM})(?:[\s,]+({_FLAT_VALUE}))?(?=[\s,;]|$)')
_OPERATION = re.compile(rf'(\d+)[\s,]+:(invoke|ok|fail|info)[\s,]+:({_ATOM})(?:[\s,]+({_FLAT_VALUE}))?(?=[\s,;]|$)')


def _flat_value(text: str) -> Any:
    if text.isdigit():
        return int(text)  # :index and :time: new on every line, not worth remembering
    return _remembered_value(text)


@functools.lru_cache(maxsize=1 << 16)
def _remembered_value(text: str) -> Any:
    """Keywords, values and whole vectors recur line after line: read each once."""
    if text[0] == '"':
        return _string(text) if "\\" in text else text[1:-1]
    if text[0] == "[":
        return tuple(_flat_value(item) for item in _ITEM.findall(text[1:-1]))
    return _atom(text)


def flat_maps(text: str, wanted: frozenset[str]) -> list[tuple[int, dict]] | None:
    """Each line's operation map with its line number, when every line holds one flat map (the
    whole text may be one vector of them; blank and comment lines are skipped); else None. Only
    the ``wanted`` keys (``":process"``…) are read; the maps' keys are their names (``"process"``)."""
    lines = text.split("\n")
    opened = next((number for number, line in enumerate(lines) if line.strip()), None)
    closed = next((number for number in range(len(lines) - 1, -1, -1) if lines[number].strip()), None)
    if opened is None or closed is None:
        return None
    if lines[opened].lstrip().startswith("[") and lines[closed].rstrip().endswith("]"):
        lines[opened] = lines[opened].lstrip()[1:]
        lines[closed] = lines[closed].rstrip()[:-1]
    shapes = _Shapes(wanted)
    maps = []
    try:
        for number, line in enumerate(lines, start=1):
            if not line.strip() or line.lstrip().startswith(";"):
                continue
            fields = shapes.read(line)
            if fields is None:
                return None
            maps.append((number, fields))
    except ValueError:
        return None  # an atom the general reader will report
    return maps


class _Shapes:
    """Reads flat maps line by line. A history writes its keys in the same order on almost every
    line, so after a line is read in general (the map's grammar, then its pairs) its sequence of
    keys becomes one regular expression that checks and captures a line of that shape in one
    match: half the cost of the general reading. A line of another shape (an :info with an
    :error) is read in general and teaches its own shape."""

    SHAPES_MAX = 8  # key sequences remembered per text; beyond, lines are read in general

    def __init__(self, wanted: frozenset[str]) -> None:
        self.wanted = wanted
        self.shapes: dict[tuple[str, ...], tuple[re.Pattern, tuple[str, ...]]] = {}
        self.latest: tuple[re.Pattern, tuple[str, ...]] | None = None

    def read(self, line: str) -> dict | None:
        """The wanted fields of the line's map, by name; None when the line is not one flat map."""
        if self.latest is not None:
            match = self.latest[0].fullmatch(line)
            if match is not None:
                return dict(zip(self.latest[1], map(_flat_value, match.groups())))
        if not _FLAT_MAP.fullmatch(line):
            return None
        pairs = _PAIR.findall(line)
        self._learn(tuple(key for key, _ in pairs))
        return {key[1:]: _flat_value(value) for key, value in pairs if key in self.wanted}

    def _learn(self, keys: tuple[str, ...]) -> None:
        if keys not in self.shapes and len(self.shapes) < self.SHAPES_MAX:
            fields = r"[\s,]+".join(re.escape(key) + (rf"[\s,]+({_FLAT_VALUE})" if key in self.wanted
                                                      else rf"[\s,]+{_FLAT_VALUE}") for key in keys)
            pattern = re.compile(rf"[\s,]*(?:\#[A-Za-z_][\w.\-/]*)?\{{[\s,]*{fields}[\s,]*\}}[\s,]*")
            self.shapes[keys] = (pattern, tuple(key[1:] for key in keys if key in self.wanted))
        self.latest = self.shapes.get(keys, self.latest)


def flat_fields(text: str) -> list[Any] | None:
    """The first three or four forms of ``text`` when they are atoms, strings or flat vectors
    (what follows them is not read); else None."""
    match = _FIELDS.match(text)
    if match is None or (match.group(4) is None and text[match.end():].strip(" \t\r\n,")):
        return None  # not this shape, or a fourth form this reader cannot read
    try:
        return [_flat_value(group) for group in match.groups() if group is not None]
    except ValueError:
        return None


def flat_operation(text: str, start: int) -> tuple[int, str, str, Any] | None:
    """Process, type, f and value of the operation at ``start`` of a log line, when it is the
    usual one (an integer process, an event type, a keyword function, a flat value or none, and
    nothing unreadable after them); else None, for ``flat_fields`` and the checks of the reader
    to take over. One match instead of four fields read one by one: half the cost of a line."""
    match = _OPERATION.match(text, start)
    if match is None:
        return None
    process, kind, f, value = match.groups()
    if value is None:
        if text[match.end():].strip(" \t\r\n,"):
            return None  # a fourth form this reader cannot read
        return int(process), kind, f, None
    try:
        return int(process), kind, f, _flat_value(value)
    except ValueError:
        return None
