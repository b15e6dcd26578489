"""The replicated log: 1-based indexes, index 0 is the empty prefix with term 0."""

from __future__ import annotations

from impl.raft.messages import Entry

__all__ = ["RaftLog"]


class RaftLog:
    def __init__(self, entries: list[Entry] | None = None) -> None:
        self._entries: list[Entry] = list(entries or [])
        self.first_unpersisted: int | None = None  # lowest index changed since the last persist
        self.version = 0  # changes on every mutation, so observers can cache what they derive

    @property
    def last_index(self) -> int:
        return len(self._entries)

    @property
    def last_term(self) -> int:
        return self.term_at(self.last_index)

    def term_at(self, index: int) -> int:
        """Term of the entry at ``index``; 0 for index 0. Asking beyond the end is a bug."""
        assert 0 <= index <= self.last_index, f"term_at({index}) outside log of {self.last_index}"
        return self._entries[index - 1].term if index else 0

    def entry(self, index: int) -> Entry:
        assert 1 <= index <= self.last_index, f"entry({index}) outside log of {self.last_index}"
        return self._entries[index - 1]

    def entries(self, start: int, count: int) -> tuple[Entry, ...]:
        """Up to ``count`` entries from index ``start``."""
        return tuple(self._entries[start - 1: start - 1 + count])

    def all(self) -> tuple[Entry, ...]:
        return tuple(self._entries)

    def matches(self, index: int, term: int) -> bool:
        return index <= self.last_index and self.term_at(index) == term

    def append(self, entry: Entry) -> int:
        self._entries.append(entry)
        self._mark_changed(self.last_index)
        return self.last_index

    def put(self, index: int, entry: Entry) -> None:
        """Write ``entry`` at ``index`` (at most one past the end), keeping what follows."""
        assert 1 <= index <= self.last_index + 1, f"put({index}) leaves a hole after {self.last_index}"
        if index == self.last_index + 1:
            self._entries.append(entry)
        else:
            self._entries[index - 1] = entry
        self._mark_changed(index)

    def truncate_after(self, index: int) -> None:
        """Delete every entry after ``index``."""
        assert 0 <= index <= self.last_index
        del self._entries[index:]
        self._mark_changed(index + 1)

    def _mark_changed(self, index: int) -> None:
        self.version += 1
        if self.first_unpersisted is None or index < self.first_unpersisted:
            self.first_unpersisted = index

    def take_unpersisted(self) -> tuple[int, tuple[Entry, ...]] | None:
        """What changed since the last call: (first changed index, entries from there to the end)."""
        first = self.first_unpersisted
        if first is None:
            return None
        self.first_unpersisted = None
        return first, tuple(self._entries[first - 1:])

    def find_conflict_by_term(self, index: int, term: int) -> int:
        """The largest index <= ``index`` whose term is <= ``term`` (etcd-raft's findConflictByTerm).

        Terms never decrease along a log, so every index after the answer has a term greater
        than ``term`` and cannot match an entry of that term: the leader can skip them at once.
        """
        index = min(index, self.last_index)
        while index > 0 and self.term_at(index) > term:
            index -= 1
        return index
