"""Watch streams on a member (etcd's watchServer and watchableStore). Mixed into EtcdMember.

A client opens a watch on any member; the member's store feeds the watcher as entries apply,
and the member sends the events on, a revision's events always in one response (Atomic). A
watch that starts in the past catches up a few revisions per tick, as etcd's unsynced
watchers do; a progress notification at revision r promises every event <= r was sent
(Bookmarkable), so it waits until the stream has caught up. A member that loses its leader
cancels its streams ("etcdserver: no leader", as with clientv3.WithRequireLeader, which the
Kubernetes API server uses); the client resumes elsewhere from its last revision + 1.
"""

from __future__ import annotations

import attrs

from impl.etcd.messages import WatchCancel, WatchCreate, WatchProgress, WatchResponse
from impl.etcd.types import Event
from impl.etcd.watch import Watcher

__all__ = ["WatchStreamsMixin", "Stream"]


@attrs.define
class Stream:
    client: str
    watch_id: int
    watcher: Watcher
    progress_notify: bool
    queue: list[tuple[Event, ...]] = attrs.field(factory=list)  # one group per response
    last_sent: int = 0
    progress_owed: bool = False
    seq: int = 0  # the next response's sequence number


class WatchStreamsMixin:
    def _init_watches(self) -> None:
        self._streams: dict[tuple[str, int], Stream] = {}

    @property
    def open_watch_streams(self) -> int:
        """How many watch streams this member is serving (not cancelled)."""
        return len(self._streams)

    # ----- requests -----------------------------------------------------------------------

    def _on_WatchCreate(self, src: str, message: WatchCreate) -> None:
        if self.raft.leader_id is None:
            self._out.messages.append((src, WatchResponse(message.watch_id, 0, self.store.revision, canceled=True,
                                                          cancel_reason="etcdserver: no leader")))
            return
        watcher = self.store.watch(message.key, message.range_end,
                                   start_revision=message.start_revision, prev_kv=message.prev_kv)
        stream = Stream(src, message.watch_id, watcher, message.progress_notify, last_sent=self.now)
        self._send_watch(stream, created=True)
        if watcher.canceled:
            self._send_watch(stream, canceled=True, compact_revision=watcher.compact_revision)
            return
        self._streams[(src, message.watch_id)] = stream
        self._enqueue(stream)

    def _on_WatchCancel(self, src: str, message: WatchCancel) -> None:
        stream = self._streams.pop((src, message.watch_id), None)
        if stream is not None:
            self.store.cancel_watch(stream.watcher)
            self._send_watch(stream, canceled=True, cancel_reason="canceled by the client")

    def _on_WatchProgress(self, src: str, message: WatchProgress) -> None:
        for key in sorted(self._streams):
            if key[0] == src:
                self._notify_progress(self._streams[key])

    # ----- feeding and sending ------------------------------------------------------------

    def _feed_streams(self) -> None:
        for key in sorted(self._streams):
            self._enqueue(self._streams[key])

    def _enqueue(self, stream: Stream) -> None:
        stream.queue.extend(self._group(stream.watcher.take()))

    @staticmethod
    def _group(events: list[Event]) -> list[tuple[Event, ...]]:
        """One group per revision: a txn's events travel together."""
        groups: list[list[Event]] = []
        for event in events:
            if groups and groups[-1][0].revision == event.revision:
                groups[-1].append(event)
            else:
                groups.append([event])
        return [tuple(group) for group in groups]

    def _next_batch(self, stream: Stream) -> list[tuple[Event, ...]]:
        batch = stream.queue[:self.config.watch_batch_revisions]
        del stream.queue[:len(batch)]
        return batch

    def _flush(self, stream: Stream) -> None:
        batch = self._next_batch(stream)
        if batch:
            events = tuple(event for group in batch for event in group)
            self._send_watch(stream, events=events)
        if stream.progress_owed and self._synced(stream):
            self._notify_progress(stream)

    def _synced(self, stream: Stream) -> bool:
        """Everything the store has committed for this watch has been sent."""
        return not stream.queue

    def _notify_progress(self, stream: Stream) -> None:
        if not self._synced(stream):
            stream.progress_owed = True  # answered once the stream has caught up
            return
        stream.progress_owed = False
        self._send_watch(stream, progress=True)

    def _tick_watches(self) -> None:
        for key in sorted(self._streams):
            stream = self._streams[key]
            self._flush(stream)
            idle = self.now - stream.last_sent >= self.config.progress_notify_ticks
            if stream.progress_notify and idle:
                self._notify_progress(stream)

    def _cancel_streams(self, reason: str) -> None:
        for key in sorted(self._streams):
            stream = self._streams.pop(key)
            self.store.cancel_watch(stream.watcher)
            self._send_watch(stream, canceled=True, cancel_reason=reason)

    def _send_watch(self, stream: Stream, **fields) -> None:
        """Send the stream's next response, at the store's current revision."""
        response = WatchResponse(stream.watch_id, stream.seq, self.store.revision, **fields)
        stream.seq += 1
        stream.last_sent = self.now
        self._out.messages.append((stream.client, response))
