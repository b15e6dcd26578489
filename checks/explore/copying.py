"""Copies of runs for the explorer: pickle, with immutable values shared between the copies.

The explorer plays every move on its own copy of a run. Pickle copies a run ten times faster
than deepcopy; what is left of the cost is rebuilding the many small immutable values (log
entries, messages). Those are passed by reference instead (pickle's persistent ids): each
distinct value is kept once, in a table keyed by the value, and every copy points at it.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

__all__ = ["RunCopier"]


class _Pickler(pickle.Pickler):
    def __init__(self, buffer: io.BytesIO, copier: "RunCopier") -> None:
        super().__init__(buffer, protocol=pickle.HIGHEST_PROTOCOL)
        self.copier = copier

    def persistent_id(self, obj: Any) -> int | None:
        if type(obj) in self.copier.immutable:
            return self.copier.position(obj)
        return None


class _Unpickler(pickle.Unpickler):
    def __init__(self, buffer: io.BytesIO, copier: "RunCopier") -> None:
        super().__init__(buffer)
        self.copier = copier

    def persistent_load(self, pid: int) -> Any:
        return self.copier.values[pid]


class RunCopier:
    """``immutable``: the value types (frozen, hashable) that copies may share."""

    def __init__(self, immutable: tuple[type, ...]) -> None:
        self.immutable = frozenset(immutable)
        self.values: list[Any] = []
        self._positions: dict[Any, int] = {}

    def position(self, value: Any) -> int:
        found = self._positions.get(value)
        if found is None:
            found = self._positions[value] = len(self.values)
            self.values.append(value)
        return found

    def dumps(self, run: Any) -> bytes:
        buffer = io.BytesIO()
        _Pickler(buffer, self).dump(run)
        return buffer.getvalue()

    def loads(self, data: bytes) -> Any:
        return _Unpickler(io.BytesIO(data), self).load()
