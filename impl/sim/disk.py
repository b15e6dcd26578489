"""A node's disk: writes are buffered until synced; a crash keeps only what was synced."""

from __future__ import annotations

from typing import Any

__all__ = ["Disk"]


class Disk:
    """Key-value storage with an explicit sync barrier, like a file and its fsync."""

    def __init__(self) -> None:
        self._synced: dict[str, Any] = {}
        self._pending: dict[str, Any] = {}
        self.durable_version = 0  # changes whenever what would survive a crash changes

    def write(self, key: str, value: Any) -> None:
        self._pending[key] = value

    def sync(self) -> None:
        if self._pending:
            self._synced.update(self._pending)
            self._pending.clear()
            self.durable_version += 1

    def crash(self) -> None:
        """Power loss: every write since the last sync is gone."""
        self._pending.clear()

    def read(self, key: str, default: Any = None) -> Any:
        """What a running process reads back: its own writes, synced or not."""
        if key in self._pending:
            return self._pending[key]
        return self._synced.get(key, default)

    def durable(self, key: str, default: Any = None) -> Any:
        """What would survive a crash now."""
        return self._synced.get(key, default)

    def durable_snapshot(self) -> dict[str, Any]:
        return dict(self._synced)
