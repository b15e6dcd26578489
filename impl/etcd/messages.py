"""What travels between etcd clients and members, and what a member writes into the Raft log.

etcd's gRPC services (etcdserverpb KV, Watch, Lease, Maintenance), reduced to the fields the
reference uses. Every value is immutable and has a short ``describe()`` for the trace.

- Client -> member: ``ClientRequest`` (a KV or lease request), ``WatchCreate``,
  ``WatchCancel``, ``WatchProgress`` (etcd's RequestProgress).
- Member -> client: ``ClientResponse`` (a response, an error, "not leader" with a hint, or an
  outcome the member cannot know) and ``WatchResponse``.
- Member -> member (beside Raft's own messages): ``ReadIndexRequest`` from a follower to the
  leader, ``ReadIndexReply`` back, and the leader's ``LeadershipProbe``/``LeadershipAck``
  round that confirms it is still the leader before it answers a linearizable read (Raft
  thesis §6.4; etcd-raft piggybacks the same round on heartbeats).
- In the log: ``Proposal``, a request with the client and request id it came from.
"""

from __future__ import annotations

from typing import Any

import attrs

from impl.etcd.keyspace import ALL_KEYS
from impl.etcd.types import (
    CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, Event, KeyValue, LeaseGrantResponse,
    LeaseKeepAliveResponse, LeaseLeasesResponse, LeaseRevokeResponse, LeaseTimeToLiveResponse, PutRequest,
    PutResponse, RangeRequest, RangeResponse, TxnRequest, TxnResponse,
)

__all__ = [
    "CompactionRequest", "LeaseGrantRequest", "LeaseRevokeRequest", "LeaseKeepAliveRequest",
    "LeaseTimeToLiveRequest",
    "ClientRequest", "ClientResponse", "WatchCreate", "WatchCancel", "WatchProgress",
    "WatchResponse", "ReadIndexRequest", "ReadIndexReply", "LeadershipProbe", "LeadershipAck",
    "Proposal", "describe_request", "describe_response", "EXPIRY",
]

EXPIRY = "lease-expiry"  # the client named in a Proposal the leader makes for an expired lease


@attrs.frozen
class CompactionRequest:
    revision: int


@attrs.frozen
class LeaseGrantRequest:
    ttl: int
    id: int = 0  # 0: the store chooses


@attrs.frozen
class LeaseRevokeRequest:
    id: int


@attrs.frozen
class LeaseKeepAliveRequest:
    id: int


@attrs.frozen
class LeaseTimeToLiveRequest:
    id: int
    keys: bool = False  # also list the attached keys


def _text(data: bytes) -> str:
    return data.decode(errors="backslashreplace")


def _span(key: bytes, range_end: bytes) -> str:
    if not range_end:
        return _text(key)
    end = "end" if range_end == ALL_KEYS else _text(range_end)
    return f"{_text(key)}..{end}"


def _flags(op: Any, names: tuple[str, ...]) -> str:
    return "".join(f" {name.replace('_', '-')}" for name in names if getattr(op, name))


def _describe_kv(op: Any) -> str:
    if isinstance(op, RangeRequest):
        options = (f" rev={op.revision}" if op.revision else "") + (f" limit={op.limit}" if op.limit else "")
        return (f"get {_span(op.key, op.range_end)}{options}"
                + _flags(op, ("count_only", "keys_only", "serializable")))
    if isinstance(op, PutRequest):
        return (f"put {_text(op.key)}={_text(op.value)}" + (f" lease={op.lease}" if op.lease else "")
                + _flags(op, ("prev_kv", "ignore_value", "ignore_lease")))
    if isinstance(op, DeleteRangeRequest):
        return f"delete {_span(op.key, op.range_end)}" + _flags(op, ("prev_kv",))
    compares = ",".join(f"{_span(c.key, c.range_end)}.{c.target.lower()}{_RELATIONS[c.result]}{c.operand!r}"
                        for c in op.compare)
    success = ";".join(_describe_kv(s) for s in op.success)
    failure = ";".join(_describe_kv(s) for s in op.failure)
    text = f"txn[{compares}]{{{success}}}" if compares else f"txn{{{success}}}"
    return text + (f" else {{{failure}}}" if failure else "")


_RELATIONS = {"EQUAL": "=", "NOT_EQUAL": "!=", "GREATER": ">", "LESS": "<"}
_LEASE_VERBS = {"LeaseRevokeRequest": "lease-revoke", "LeaseKeepAliveRequest": "keep-alive",
                "LeaseTimeToLiveRequest": "time-to-live"}


def describe_request(op: Any) -> str:
    """A short, stable rendering of a request for traces and logs."""
    if isinstance(op, (RangeRequest, PutRequest, DeleteRangeRequest, TxnRequest)):
        return _describe_kv(op)
    if isinstance(op, CompactionRequest):
        return f"compact {op.revision}"
    if isinstance(op, LeaseGrantRequest):
        return f"lease-grant ttl={op.ttl}" + (f" id={op.id}" if op.id else "")
    if type(op).__name__ in _LEASE_VERBS:
        return f"{_LEASE_VERBS[type(op).__name__]} {op.id}"
    return repr(op)


def _kv_text(kv: KeyValue) -> str:
    return _text(kv.key) + (f"={_text(kv.value)}" if kv.value else "")


def _describe_range(response: RangeResponse) -> str:
    """What a reader saw, values included: the point of most counterexamples is a read."""
    if not response.kvs:
        found = f"{response.count} keys (count only)" if response.count else "not found"
    else:
        found = ",".join(_kv_text(kv) for kv in response.kvs)
        if response.more or response.count != len(response.kvs):
            found += f" (count={response.count}{' more' if response.more else ''})"
    return f"{found} rev={response.revision}"


def _describe_kv_response(response: Any) -> str:
    if isinstance(response, RangeResponse):
        return _describe_range(response)
    if isinstance(response, PutResponse):
        was = f" was {_kv_text(response.prev_kv)}" if response.prev_kv is not None else ""
        return f"put rev={response.revision}{was}"
    if isinstance(response, DeleteRangeResponse):
        was = f" was {','.join(_kv_text(kv) for kv in response.prev_kvs)}" if response.prev_kvs else ""
        return f"deleted {response.deleted} rev={response.revision}{was}"
    branch = "succeeded" if response.succeeded else "failed"
    return f"txn {branch} rev={response.revision} {{{'; '.join(_describe_kv_response(r) for r in response.responses)}}}"


def describe_response(response: Any) -> str:
    """A short rendering of a response for traces: what a read saw ("not found" when nothing),
    what a write replaced, a lease's time left ("lease not found" for TTL -1)."""
    if isinstance(response, (RangeResponse, PutResponse, DeleteRangeResponse, TxnResponse)):
        return _describe_kv_response(response)
    if isinstance(response, CompactionResponse):
        return f"compacted rev={response.revision}"
    if isinstance(response, (LeaseGrantResponse, LeaseKeepAliveResponse)):
        return f"lease {response.id} ttl={response.ttl}"
    if isinstance(response, LeaseRevokeResponse):
        return f"revoked rev={response.revision}"
    if isinstance(response, LeaseTimeToLiveResponse):
        if response.ttl < 0:
            return f"lease {response.id} not found"
        keys = f" keys={','.join(_text(k) for k in response.keys)}" if response.keys else ""
        return f"lease {response.id} ttl={response.ttl} granted={response.granted_ttl}{keys}"
    if isinstance(response, LeaseLeasesResponse):
        return f"leases {','.join(map(str, response.ids)) or 'none'}"
    return repr(response)


# ---- client <-> member ----------------------------------------------------------------------

@attrs.frozen
class ClientRequest:
    request_id: int
    op: Any

    def describe(self) -> str:
        return f"#{self.request_id} {describe_request(self.op)}"


@attrs.frozen
class ClientResponse:
    """Exactly one of: ``response`` (it happened), ``error`` (a definite error: it did not
    happen), ``not_leader`` (nothing was proposed; try ``leader_hint``), ``unknown`` (it was
    proposed but this member cannot say whether it committed)."""

    request_id: int
    response: Any = None
    error: str | None = None
    not_leader: bool = False
    leader_hint: str | None = None
    unknown: str | None = None

    def describe(self) -> str:
        if self.not_leader:
            return f"#{self.request_id} not leader (hint {self.leader_hint or '-'})"
        if self.error is not None:
            return f"#{self.request_id} error: {self.error}"
        if self.unknown is not None:
            return f"#{self.request_id} unknown: {self.unknown}"
        return f"#{self.request_id} {describe_response(self.response)}"


@attrs.frozen
class WatchCreate:
    watch_id: int
    key: bytes
    range_end: bytes = b""
    start_revision: int = 0
    prev_kv: bool = False
    progress_notify: bool = True

    def describe(self) -> str:
        return f"watch w{self.watch_id} {_span(self.key, self.range_end)} from {self.start_revision}"


@attrs.frozen
class WatchCancel:
    watch_id: int

    def describe(self) -> str:
        return f"cancel w{self.watch_id}"


@attrs.frozen
class WatchProgress:
    """etcd's RequestProgress: ask for a progress notification on every watch of the stream."""

    def describe(self) -> str:
        return "progress?"


@attrs.frozen
class WatchResponse:
    """``seq`` numbers the responses of one watch from 0: a gRPC stream runs over one TCP
    connection, which loses, repeats and reorders nothing; the simulated network may, so the
    client treats a response out of sequence as the connection breaking."""

    watch_id: int
    seq: int
    header_revision: int
    events: tuple[Event, ...] = ()
    created: bool = False
    canceled: bool = False
    compact_revision: int = 0
    cancel_reason: str = ""
    progress: bool = False

    def describe(self) -> str:
        if self.created:
            return f"w{self.watch_id} created @{self.header_revision}"
        if self.canceled:
            why = f"compacted@{self.compact_revision}" if self.compact_revision else self.cancel_reason
            return f"w{self.watch_id} canceled ({why})"
        if self.progress:
            return f"w{self.watch_id} progress @{self.header_revision}"
        shown = ",".join(f"{e.type.lower()} {_kv_text(e.kv)}@{e.kv.mod_revision}" for e in self.events)
        return f"w{self.watch_id} [{shown}]"


# ---- member <-> member ----------------------------------------------------------------------

@attrs.frozen
class ReadIndexRequest:
    seq: int

    def describe(self) -> str:
        return f"ReadIndex? #{self.seq}"


@attrs.frozen
class ReadIndexReply:
    seq: int
    index: int  # 0: refused (not the leader)

    def describe(self) -> str:
        return f"ReadIndex #{self.seq} = {self.index}" if self.index else f"ReadIndex #{self.seq} refused"


@attrs.frozen
class LeadershipProbe:
    term: int
    seq: int

    def describe(self) -> str:
        return f"Leader? t{self.term} #{self.seq}"


@attrs.frozen
class LeadershipAck:
    term: int  # the acknowledger's term; the probe counts only if it is not above the leader's
    seq: int

    def describe(self) -> str:
        return f"LeaderAck t{self.term} #{self.seq}"


# ---- the log --------------------------------------------------------------------------------

@attrs.frozen
class Proposal:
    """One request in the Raft log, with who asked (``EXPIRY`` for the leader's own revoke
    of an expired lease) so the member that proposed it can answer once it applies."""

    client: str
    request_id: int
    op: Any

    def __str__(self) -> str:
        return f"{self.client}#{self.request_id} {describe_request(self.op)}"
