"""Watch validation for the reference store: adapters from impl/etcd to the plain data of
spec/kv/watch.py, and ``validate`` that runs every guarantee on one stream.

``HistoryRecorder`` records a store's committed history with a watcher over every key (the
store feeds each committed revision to its watchers), plus the compactions it runs.
``WatchRecorder`` wraps one watcher and turns what it hands over into responses: each
``poll()`` is one response (the store hands a revision's events over together), and
``progress()`` models etcd's RequestProgress on a synced watcher: a notification at the
store's current revision once everything pending was taken (the store has none of its own;
the replicated members send them, impl/etcd/watch_streams.py).
"""

from __future__ import annotations

from impl.etcd import ALL_KEYS, Event, KeyValue, Store
from spec.kv import watch as spec

__all__ = ["to_kv", "to_event", "HistoryRecorder", "WatchRecorder", "validate",
           "validate_resumed"]


def to_kv(kv: KeyValue | None) -> spec.KV | None:
    if kv is None:
        return None
    return spec.KV(kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version, kv.lease)


def to_event(event: Event) -> spec.Event:
    return spec.Event(event.type, to_kv(event.kv), to_kv(event.prev_kv))


class HistoryRecorder:
    """The committed history of ``store`` from now on: every event of every later revision,
    the live keys now (for the first events' prev_kv), and each compaction run through
    ``compact``."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._initial = [to_kv(kv) for kv in store.kvs_at(ALL_KEYS, ALL_KEYS, store.revision)]
        self._watcher = store.watch(ALL_KEYS, ALL_KEYS)
        self._events: list[spec.Event] = []
        self._compactions: list[spec.Compaction] = []

    def compact(self, revision: int):
        """Compact the store and remember it (errors propagate, nothing is recorded)."""
        response = self.store.compact(revision)
        self._compactions.append(spec.Compaction(revision, self.store.revision))
        return response

    def history(self) -> spec.History:
        self._events += [to_event(event) for event in self._watcher.take()]
        return spec.complete_history(self._events, self._initial, self._compactions)


class WatchRecorder:
    """One watch on ``store`` and the responses it produced."""

    def __init__(self, store: Store, key: bytes, range_end: bytes = b"", *,
                 start_revision: int = 0, prev_kv: bool = False) -> None:
        self.store = store
        self.created_revision = store.revision
        self.watcher = store.watch(key, range_end, start_revision=start_revision,
                                   prev_kv=prev_kv)
        self.responses: list[spec.Response] = []
        if self.watcher.canceled:
            self.responses.append(spec.Response(header_revision=store.revision, canceled=True,
                                                compact_revision=self.watcher.compact_revision))

    def poll(self) -> None:
        events = tuple(to_event(event) for event in self.watcher.take())
        if events:
            self.responses.append(spec.Response(events, self.store.revision))

    def progress(self) -> None:
        self.poll()
        if not self.watcher.canceled:
            self.responses.append(spec.Response(header_revision=self.store.revision,
                                                progress=True))

    def close(self) -> None:
        self.poll()
        self.store.cancel_watch(self.watcher)

    def stream(self) -> spec.WatchStream:
        self.poll()
        w = self.watcher
        return spec.WatchStream(w.key, w.range_end, w.start_revision, w.prev_kv,
                                self.created_revision, tuple(self.responses))


def validate(history: spec.History, stream: spec.WatchStream) -> list[str]:
    """Every single-stream guarantee of spec/kv/watch.py; the violations, empty if none."""
    problems: list[str] = []
    for _, check in spec.STREAM_GUARANTEES:
        problems += check(history, stream)
    return problems


def validate_resumed(history: spec.History, first: spec.WatchStream,
                     second: spec.WatchStream) -> list[str]:
    """Both streams on their own, then the resumable guarantee on the pair."""
    return (validate(history, first) + validate(history, second)
            + spec.check_resumable(history, first, second))
