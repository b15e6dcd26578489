"""Key ranges and per-key history: the two small ideas the MVCC store is built from.

etcd's "Data model" page: the keyspace is flat and ordered by key bytes; every key keeps its
past versions, each tagged with the revision that wrote it, until compaction drops the ones
no reader may ask for any more. A deletion is recorded too (a tombstone), so a read at an older
revision still sees the key and a read at a newer one does not.
"""

from __future__ import annotations

import bisect

from impl.etcd.types import KeyValue

__all__ = ["ALL_KEYS", "in_range", "prefix_end", "KeyHistory"]

# range_end b"\0" means "every key >= key" (etcd "API" page, Range).
ALL_KEYS = b"\0"


def in_range(candidate: bytes, key: bytes, range_end: bytes) -> bool:
    """Whether `candidate` falls in the request's range: `key` alone when range_end is empty,
    every key >= key when range_end is b"\\0", else the half-open interval [key, range_end)."""
    if not range_end:
        return candidate == key
    if range_end == ALL_KEYS:
        return candidate >= key
    return key <= candidate < range_end


def prefix_end(prefix: bytes) -> bytes:
    """The range_end that selects every key starting with `prefix` (clientv3.GetPrefixRangeEnd):
    the prefix with its last byte below 0xff incremented; all keys when there is none."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return ALL_KEYS
    return stripped[:-1] + bytes([stripped[-1] + 1])


class KeyHistory:
    """One key's versions in revision order: (revision, KeyValue), or (revision, None) for a
    deletion. One entry per revision: when one txn writes a key twice (etcd allows a put after
    a delete of every key >= some key), readers at that revision see only the last write."""

    def __init__(self) -> None:
        self._revisions: list[int] = []
        self._states: list[KeyValue | None] = []

    def at(self, revision: int) -> KeyValue | None:
        """The key's state as of `revision`: its last write at or before it, None if absent."""
        index = bisect.bisect_right(self._revisions, revision)
        return self._states[index - 1] if index else None

    def latest(self) -> KeyValue | None:
        return self._states[-1] if self._states else None

    def record(self, revision: int, state: KeyValue | None) -> None:
        assert not self._revisions or self._revisions[-1] <= revision, "revisions only grow"
        if self._revisions and self._revisions[-1] == revision:
            self._states[-1] = state
            return
        self._revisions.append(revision)
        self._states.append(state)

    def compact(self, revision: int) -> None:
        """Drop versions no read at or after `revision` can see: keep the last write at or
        before it unless that write is a deletion (etcd removes such tombstones too)."""
        index = bisect.bisect_right(self._revisions, revision)
        keep_from = index - 1 if index and self._states[index - 1] is not None else index
        del self._revisions[:keep_from]
        del self._states[:keep_from]

    def is_empty(self) -> bool:
        return not self._revisions
