"""What the clients saw, in the order they saw it: the raw material of every client-side check.

``ClientLog`` is shared by all clients of one simulated cluster. Each operation is recorded
as an invocation and a completion (ok, fail or info, as in Jepsen's histories) with one global
sequence number, so "completed before invoked" is real time across clients. Each physical
watch stream is recorded with every response it received.
"""

from __future__ import annotations

from typing import Any

import attrs

from impl.etcd.messages import WatchResponse

__all__ = ["ClientLog", "HistoryEvent", "StreamRecord"]


@attrs.frozen
class HistoryEvent:
    """One line of a history. ``process`` is a client id (or client.key for the per-key
    parts of a multi-key txn); ``f`` is read, write, delete or cas for the operations the
    KV model knows, anything else (compact, lease-grant…) for the ones it does not;
    ``checked`` is false for what linearizability does not promise (serializable reads,
    keys attached to leases)."""

    index: int
    process: str
    type: str  # invoke | ok | fail | info
    f: str
    key: str
    value: Any
    checked: bool = True


@attrs.define
class StreamRecord:
    """One physical watch: requested on ``member`` by ``client`` as part of its logical
    watch ``logical``; ``responses`` in arrival order."""

    client: str
    logical: int
    watch_id: int
    member: str
    key: bytes
    range_end: bytes
    requested_start: int
    prev_kv: bool
    responses: list[WatchResponse] = attrs.field(factory=list)

    @property
    def created_revision(self) -> int | None:
        return next((r.header_revision for r in self.responses if r.created), None)


class ClientLog:
    def __init__(self) -> None:
        self.history: list[HistoryEvent] = []
        self.streams: list[StreamRecord] = []
        self._streams_by_id: dict[tuple[str, int], StreamRecord] = {}

    def record(self, process: str, type_: str, f: str, key: str, value: Any, checked: bool) -> None:
        self.history.append(HistoryEvent(len(self.history), process, type_, f, key, value, checked))

    def open_stream(self, record: StreamRecord) -> None:
        self.streams.append(record)
        self._streams_by_id[(record.client, record.watch_id)] = record

    def stream_response(self, client: str, response: WatchResponse) -> None:
        self._streams_by_id[(client, response.watch_id)].responses.append(response)
