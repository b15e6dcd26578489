"""What the clients saw, in the order they saw it: the raw material of every client-side check.

``ClientLog`` is shared by all clients of one simulated cluster. Each operation is recorded
as an invocation and a completion (ok, fail or info, as in Jepsen's histories) with one global
sequence number, so "completed before invoked" is real time across clients. Each request is
also kept whole (``CallRecord``): what was sent and the full response or error that came
back, for the checks that judge every field. Each physical watch stream is recorded with
every response it received.
"""

from __future__ import annotations

from typing import Any

import attrs

from impl.etcd.messages import WatchResponse

__all__ = ["ClientLog", "HistoryEvent", "StreamRecord", "CallRecord"]


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
class CallRecord:
    """One request as its client saw it. ``invoked`` and ``completed`` are positions in the
    history (the number of history events recorded before), so they order calls in real
    time. ``outcome`` is ok (``response`` holds the answer, also a txn whose compare failed),
    fail (``error`` holds the etcd error), info (unknown: it may have happened) or refused
    (no member took it: it certainly did not happen); None while pending."""

    client: str
    request_id: int
    op: Any
    checked: bool  # its history parts are judged by the KV model (KV-LINEARIZABLE)
    invoked: int
    completed: int | None = None
    outcome: str | None = None
    response: Any = None
    error: str | None = None


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
        self.calls: list[CallRecord] = []
        self._streams_by_id: dict[tuple[str, int], StreamRecord] = {}

    def record(self, process: str, type_: str, f: str, key: str, value: Any, checked: bool) -> None:
        self.history.append(HistoryEvent(len(self.history), process, type_, f, key, value, checked))

    def start_call(self, client: str, request_id: int, op: Any, checked: bool) -> CallRecord:
        record = CallRecord(client, request_id, op, checked, len(self.history))
        self.calls.append(record)
        return record

    def finish_call(self, record: CallRecord, outcome: str, response: Any = None,
                    error: str | None = None) -> None:
        record.completed, record.outcome = len(self.history), outcome
        record.response, record.error = response, error

    def open_stream(self, record: StreamRecord) -> None:
        self.streams.append(record)
        self._streams_by_id[(record.client, record.watch_id)] = record

    def stream_response(self, client: str, response: WatchResponse) -> None:
        self._streams_by_id[(client, response.watch_id)].responses.append(response)
