"""An etcd client (clientv3, reduced): one request at a time, any member, follows the leader.

- A request goes to the member last known to lead (or the one named). "Not leader" is a
  definite refusal (nothing was proposed), so the client retries at the hinted leader or the
  next member. An error is a definite failure. A timeout, a lost connection or a proposal
  replaced by a new leader leaves the outcome *unknown*: recorded as ``info``, never as
  ``fail``, and never retried (a retry could apply twice).
- A watch is logical: the client resumes it on another member from its last revision + 1
  when its stream is cancelled (not for compaction: that ends it) or goes silent for too long
  (the member crashed or is cut off). Periodic progress notifications keep a quiet stream
  from looking dead.

Everything the client sees is recorded in the shared ``ClientLog``.
"""

from __future__ import annotations

from typing import Any

import attrs

from impl.etcd.client_log import CallRecord, ClientLog, StreamRecord
from impl.etcd.messages import (
    ClientRequest, ClientResponse, CompactionRequest, LeaseGrantRequest, LeaseKeepAliveRequest,
    LeaseRevokeRequest, LeaseTimeToLiveRequest, WatchCancel, WatchCreate, WatchProgress, WatchResponse,
)
from impl.etcd.types import Compare, DeleteRangeRequest, PutRequest, RangeRequest, TxnRequest
from impl.sim.world import Output

__all__ = ["EtcdClient", "ClientConfig", "LogicalWatch"]


@attrs.frozen
class ClientConfig:
    request_timeout_ticks: int = 30
    watch_silence_ticks: int = 25  # more than two progress intervals without a word
    watch_retry_ticks: int = 3
    redirects_max: int = 6


@attrs.define
class _Call:
    request_id: int
    op: Any
    parts: tuple[tuple[str, str, str, Any], ...]  # (process, f, key, value) recorded per part
    checked: bool
    target: str
    sent_at: int
    record: CallRecord
    redirects: int = 0


@attrs.define
class LogicalWatch:
    id: int
    key: bytes
    range_end: bytes
    prev_kv: bool
    start_revision: int  # as requested; 0 means "from the next revision"
    member: str
    physical: int | None = None
    resolved_start: int = 0  # the first revision of the first stream, once it was created
    last_revision: int = 0  # of the last event received
    caught_up_to: int = 0  # the stream has delivered everything up to here (events or progress)
    last_header: int = 0  # the highest header revision of any response: a member's revision then
    last_heard: int = 0
    retry_at: int | None = None
    ended: bool = False
    expected_seq: int = 0  # of the current stream's next response


def _text(data: bytes) -> str:
    return data.decode(errors="backslashreplace")


class EtcdClient:
    def __init__(self, client_id: str, members: tuple[str, ...], log: ClientLog,
                 config: ClientConfig = ClientConfig()) -> None:
        self.id = client_id
        self.members = tuple(sorted(members))
        self.log = log
        self.config = config
        self.now = 0
        self.current: _Call | None = None
        self.leader_guess = self.members[0]
        self.lease_id = 0
        self.watches: dict[int, LogicalWatch] = {}
        self._physical: dict[int, int] = {}  # physical watch id -> logical id
        self._next_request = 0
        self._next_watch = 0
        self._out = Output()

    @property
    def idle(self) -> bool:
        return self.current is None

    # ----- operations (each returns the Output to send) -----------------------------------

    def get(self, key: bytes, serializable: bool = False, member: str | None = None) -> Output:
        op = RangeRequest(key, serializable=serializable)
        return self._start(op, ((self.id, "read", _text(key), None),), not serializable, member)

    def put(self, key: bytes, value: bytes, member: str | None = None, with_lease: bool = False) -> Output:
        """A put, attached to the client's lease if asked: still a plain write of the value
        (the lease's revocation or expiry deletes the key later, as the log records)."""
        op = PutRequest(key, value, lease=self.lease_id if with_lease else 0)
        return self._start(op, ((self.id, "write", _text(key), _text(value)),), True, member)

    def delete(self, key: bytes, member: str | None = None) -> Output:
        return self._start(DeleteRangeRequest(key), ((self.id, "delete", _text(key), None),), True, member)

    def cas(self, key: bytes, old: bytes | None, new: bytes, member: str | None = None) -> Output:
        """Put ``new`` if the key holds ``old`` (None: if it is absent), as one txn."""
        guard = (Compare(key, "CREATE", "EQUAL", 0) if old is None else Compare(key, "VALUE", "EQUAL", old))
        op = TxnRequest((guard,), (PutRequest(key, new),), ())
        value = (None if old is None else _text(old), _text(new))
        return self._start(op, ((self.id, "cas", _text(key), value),), True, member)

    def txn(self, writes: tuple[tuple[bytes, bytes], ...], member: str | None = None) -> Output:
        """Put several keys in one txn: one revision, so a watch must see them together."""
        op = TxnRequest((), tuple(PutRequest(k, v) for k, v in writes), ())
        parts = tuple((f"{self.id}.{_text(k)}", "write", _text(k), _text(v)) for k, v in writes)
        return self._start(op, parts, True, member)

    def compact(self, revision: int, member: str | None = None) -> Output:
        return self._start(CompactionRequest(revision), ((self.id, "compact", "", revision),), False, member)

    def lease_grant(self, ttl: int, member: str | None = None) -> Output:
        return self._start(LeaseGrantRequest(ttl), ((self.id, "lease-grant", "", ttl),), False, member)

    def keep_alive(self, member: str | None = None) -> Output:
        return self._start(LeaseKeepAliveRequest(self.lease_id),
                           ((self.id, "keep-alive", "", self.lease_id),), False, member)

    def revoke(self, member: str | None = None) -> Output:
        return self._start(LeaseRevokeRequest(self.lease_id),
                           ((self.id, "lease-revoke", "", self.lease_id),), False, member)

    def time_to_live(self, keys: bool = False, member: str | None = None) -> Output:
        return self._start(LeaseTimeToLiveRequest(self.lease_id, keys),
                           ((self.id, "time-to-live", "", self.lease_id),), False, member)

    def send(self, op: Any, parts: tuple[tuple[str, str, str, Any], ...], checked: bool,
             member: str | None = None) -> Output:
        """Any request, recorded as ``parts`` ((process, f, key, value) per part) in the
        history; ``checked`` when the KV model can judge those parts by their values."""
        return self._start(op, parts, checked, member)

    def _start(self, op: Any, parts: tuple, checked: bool, member: str | None) -> Output:
        assert self.idle, f"{self.id} already has a request in flight"
        self._next_request += 1
        target = member or self.leader_guess
        record = self.log.start_call(self.id, self._next_request, op, checked)
        self.current = _Call(self._next_request, op, parts, checked, target, self.now, record)
        for process, f, key, value in parts:
            self.log.record(process, "invoke", f, key, value, checked)
        self._send_current()
        return self._ready()

    def _send_current(self) -> None:
        call = self.current
        call.sent_at = self.now
        self._out.messages.append((call.target, ClientRequest(call.request_id, call.op)))

    # ----- watches ------------------------------------------------------------------------

    def watch(self, key: bytes, range_end: bytes = b"", start_revision: int = 0, prev_kv: bool = False,
              member: str | None = None) -> Output:
        self._next_watch += 1
        logical = LogicalWatch(self._next_watch, key, range_end, prev_kv, start_revision,
                               member or self.leader_guess, last_heard=self.now)
        self.watches[logical.id] = logical
        self._open_stream(logical)
        return self._ready()

    def request_progress(self) -> Output:
        for member in sorted({w.member for w in self.watches.values() if w.physical is not None}):
            self._out.messages.append((member, WatchProgress()))
        return self._ready()

    def _resume_revision(self, logical: LogicalWatch) -> int:
        """Where a reopened stream starts: right after the last event seen, so nothing is
        missed and nothing repeats (clientv3's watchGrpcStream.resume)."""
        if logical.last_revision:
            return logical.last_revision + 1
        return logical.resolved_start or logical.start_revision

    def _open_stream(self, logical: LogicalWatch) -> None:
        self._next_watch += 1
        watch_id = self._next_watch
        start = self._resume_revision(logical)
        logical.physical, logical.retry_at, logical.last_heard = watch_id, None, self.now
        logical.expected_seq = 0
        self._physical[watch_id] = logical.id
        request = self._watch_request(logical, watch_id, start)
        self.log.open_stream(StreamRecord(self.id, logical.id, watch_id, logical.member, request.key,
                                          request.range_end, request.start_revision, request.prev_kv))
        self._out.messages.append((logical.member, request))

    @staticmethod
    def _watch_request(logical: LogicalWatch, watch_id: int, start: int) -> WatchCreate:
        """Every stream of a logical watch asks for the same range with the same options."""
        return WatchCreate(watch_id, logical.key, logical.range_end, start, logical.prev_kv)

    def _abandon(self, logical: LogicalWatch, wait: int) -> None:
        """Give up this stream and reopen on the next member after ``wait`` ticks."""
        logical.physical = None
        logical.member = self._next_member(logical.member)
        logical.retry_at = self.now + wait

    # ----- inputs -------------------------------------------------------------------------

    def tick(self) -> Output:
        self.now += 1
        call = self.current
        if call is not None and self.now - call.sent_at >= self.config.request_timeout_ticks:

            self._finish("info")
        for logical_id in sorted(self.watches):
            self._tick_watch(self.watches[logical_id])
        return self._ready()

    def _tick_watch(self, logical: LogicalWatch) -> None:
        if logical.ended:
            return
        if logical.physical is not None and self.now - logical.last_heard >= self.config.watch_silence_ticks:
            self._out.messages.append((logical.member, WatchCancel(logical.physical)))
            self._abandon(logical, 0)
        if logical.physical is None and logical.retry_at is not None and self.now >= logical.retry_at:
            self._open_stream(logical)

    def step(self, src: str, message: Any) -> Output:
        if isinstance(message, ClientResponse):
            self._on_response(src, message)
        elif isinstance(message, WatchResponse):
            self._on_watch_response(message)
        return self._ready()

    def _on_response(self, src: str, response: ClientResponse) -> None:
        call = self.current
        if call is None or response.request_id != call.request_id or src != call.target:
            return  # an answer to a request we already gave up on
        if response.not_leader:
            self._redirect(call, response.leader_hint)
        elif response.unknown is not None:
            self._finish("info")
        elif response.error is not None:
            self._finish("fail", error=response.error)
        else:
            self.leader_guess = src
            self._finish_ok(call, response.response)

    def _redirect(self, call: _Call, hint: str | None) -> None:
        if call.redirects >= self.config.redirects_max:
            self._finish("fail", refused=True)  # never proposed anywhere: it certainly did not happen
            return
        call.redirects += 1
        call.target = hint if hint is not None and hint != call.target else self._next_member(call.target)
        self.leader_guess = call.target
        self._send_current()

    def _next_member(self, member: str) -> str:
        return self.members[(self.members.index(member) + 1) % len(self.members)]

    def _finish_ok(self, call: _Call, response: Any) -> None:
        if isinstance(call.op, TxnRequest) and call.op.compare and not response.succeeded:
            self._finish("fail", response=response)  # the compare did not hold: nothing changed
            return
        if isinstance(call.op, LeaseGrantRequest):
            self.lease_id = response.id
        if isinstance(call.op, RangeRequest):
            value = _text(response.kvs[0].value) if response.kvs else None
            self._finish("ok", value, response=response)
            return
        self._finish("ok", response=response)

    def _finish(self, outcome: str, read_value: Any = None, response: Any = None,
                error: str | None = None, refused: bool = False) -> None:
        call, self.current = self.current, None
        whole = "refused" if refused else "ok" if response is not None else outcome
        self.log.finish_call(call.record, whole, response, error)
        for process, f, key, value in call.parts:
            self.log.record(process, outcome, f, key, read_value if f == "read" else value, call.checked)

    def _on_watch_response(self, response: WatchResponse) -> None:
        logical_id = self._physical.get(response.watch_id)
        logical = self.watches.get(logical_id) if logical_id is not None else None
        if logical is None or logical.physical != response.watch_id:
            return  # a stream we already left
        if response.seq != logical.expected_seq:  # the connection broke: something was lost
            self._out.messages.append((logical.member, WatchCancel(response.watch_id)))
            self._abandon(logical, 0)
            return
        logical.expected_seq += 1
        self.log.stream_response(self.id, response)
        logical.last_heard = self.now
        logical.last_header = max(logical.last_header, response.header_revision)
        if response.created and not logical.resolved_start:
            logical.resolved_start = logical.start_revision or response.header_revision + 1
        if response.events:
            logical.last_revision = response.events[-1].revision
            logical.caught_up_to = max(logical.caught_up_to, logical.last_revision)
        if response.progress:  # sent only once the stream has caught up
            logical.caught_up_to = max(logical.caught_up_to, response.header_revision)
        if response.canceled:
            if response.compact_revision:
                logical.ended = True  # clientv3 reports ErrCompacted; the watch is over
                logical.physical = None
            else:
                self._abandon(logical, self.config.watch_retry_ticks)

    def _ready(self) -> Output:
        out, self._out = self._out, Output()
        return out
