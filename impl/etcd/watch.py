"""Watchers at the store level (etcd "API" page, Watch; "API guarantees", Watch APIs).

A watcher names a key or a range and a start revision (inclusive). It first receives every
retained event from that revision on, then each new event as its txn commits: events come in
revision order, the events of one revision in the order the txn wrote them, none twice, none
skipped. If the start revision has been compacted the history it asks for is gone, so the
watcher is cancelled with `compact_revision` set; it must never quietly start later, because
the client would believe it had seen everything.

The store pushes events into `Watcher.pending`; the owner drains them with `take()`.
"""

from __future__ import annotations

import attrs

from impl.etcd.keyspace import in_range
from impl.etcd.types import Event

__all__ = ["Watcher"]


@attrs.define(eq=False)
class Watcher:
    """One watch. `start_revision` is the first revision it reports (after the store resolved
    0 to "the next revision"); `canceled` with a non-zero `compact_revision` means the start
    revision had been compacted and nothing was or will be delivered."""

    id: int
    key: bytes
    range_end: bytes
    start_revision: int
    prev_kv: bool
    canceled: bool = False
    compact_revision: int = 0
    pending: list[Event] = attrs.field(factory=list)

    def wants(self, event: Event) -> bool:
        """Whether this live watcher reports `event` (its key in range, revision not before
        the start)."""
        if self.canceled or event.revision < self.start_revision:
            return False
        return in_range(event.kv.key, self.key, self.range_end)

    def deliver(self, event: Event) -> None:
        assert self.wants(event), (self.id, event)
        assert not self.pending or self.pending[-1].revision <= event.revision, "ordered"
        self.pending.append(event)

    def cancel(self, compact_revision: int = 0) -> None:
        self.canceled = True
        self.compact_revision = compact_revision
        self.pending.clear()

    def take(self) -> list[Event]:
        """Hand over the events delivered since the last call, oldest first."""
        events, self.pending = self.pending, []
        return events
