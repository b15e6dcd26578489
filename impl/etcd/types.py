"""The store's values: key-values, requests, responses and watch events, all immutable.

They mirror etcd's protobuf messages (etcdserverpb and mvccpb, described on the etcd "API"
page) field for field, with two simplifications: keys and values are `bytes`, and a response's
header is reduced to its `revision` (the store's revision when the request was served). Fields
left out of a request take the protobuf default (zero, empty, false), exactly as in etcd.
"""

from __future__ import annotations

import attrs

__all__ = [
    "KeyValue",
    "RangeRequest",
    "PutRequest",
    "DeleteRangeRequest",
    "Compare",
    "TxnRequest",
    "RangeResponse",
    "PutResponse",
    "DeleteRangeResponse",
    "TxnResponse",
    "CompactionResponse",
    "Event",
    "LeaseGrantResponse",
    "LeaseRevokeResponse",
    "LeaseKeepAliveResponse",
    "LeaseTimeToLiveResponse",
    "LeaseLeasesResponse",
    "Request",
    "Response",
    "TARGETS",
    "RESULTS",
]

# Compare targets and results, named as in etcdserverpb.Compare.
TARGETS = ("VERSION", "CREATE", "MOD", "VALUE")
RESULTS = ("EQUAL", "GREATER", "LESS", "NOT_EQUAL")


@attrs.frozen
class KeyValue:
    """One key's state at a revision ("Data model": create_revision is the revision of the
    key's last creation, mod_revision of its last modification, version counts modifications
    since creation and is reset by deletion). A DELETE event's kv carries only key and
    mod_revision (the deletion's revision); keys_only ranges leave value empty."""

    key: bytes
    create_revision: int = 0
    mod_revision: int = 0
    version: int = 0
    value: bytes = b""
    lease: int = 0


@attrs.frozen
class RangeRequest:
    """Read `key`, or [key, range_end) when range_end is set; range_end b"\\0" means every key
    >= key, so key b"\\0" with range_end b"\\0" reads all keys. revision 0 reads the current
    revision; limit 0 means no limit."""

    key: bytes
    range_end: bytes = b""
    limit: int = 0
    revision: int = 0
    count_only: bool = False
    keys_only: bool = False
    serializable: bool = False  # a single store answers the same either way


@attrs.frozen
class PutRequest:
    key: bytes
    value: bytes = b""
    lease: int = 0
    prev_kv: bool = False
    ignore_value: bool = False
    ignore_lease: bool = False


@attrs.frozen
class DeleteRangeRequest:
    key: bytes
    range_end: bytes = b""
    prev_kv: bool = False


@attrs.frozen
class Compare:
    """One txn guard: `target` of every key in [key, range_end) (or of `key` alone) stands in
    relation `result` to `operand` (an int for VERSION/CREATE/MOD, bytes for VALUE). A missing
    key compares as version, create and mod revision 0; a VALUE compare on it is false."""

    key: bytes
    target: str
    result: str
    operand: int | bytes
    range_end: bytes = b""

    def __attrs_post_init__(self) -> None:
        assert self.target in TARGETS, self.target
        assert self.result in RESULTS, self.result
        assert isinstance(self.operand, bytes) == (self.target == "VALUE"), self


@attrs.frozen
class TxnRequest:
    """If every compare holds, run `success`, else `failure`; all in one revision."""

    compare: tuple[Compare, ...] = ()
    success: tuple["Request", ...] = ()
    failure: tuple["Request", ...] = ()


@attrs.frozen
class RangeResponse:
    revision: int
    kvs: tuple[KeyValue, ...] = ()
    count: int = 0
    more: bool = False


@attrs.frozen
class PutResponse:
    revision: int
    prev_kv: KeyValue | None = None


@attrs.frozen
class DeleteRangeResponse:
    revision: int
    deleted: int = 0
    prev_kvs: tuple[KeyValue, ...] = ()


@attrs.frozen
class TxnResponse:
    revision: int
    succeeded: bool = False
    responses: tuple["Response", ...] = ()


@attrs.frozen
class CompactionResponse:
    revision: int


@attrs.frozen
class LeaseGrantResponse:
    """The granted lease: its ID (chosen by the store when the request said 0) and its TTL
    (raised to the minimum when the request asked for less)."""

    revision: int
    id: int
    ttl: int


@attrs.frozen
class LeaseRevokeResponse:
    """revision is the store's revision after the attached keys were deleted."""

    revision: int


@attrs.frozen
class LeaseKeepAliveResponse:
    revision: int
    id: int
    ttl: int


@attrs.frozen
class LeaseTimeToLiveResponse:
    """ttl is the time left (-1 when the lease does not exist, as etcd's gRPC layer answers),
    granted_ttl the TTL it was granted; keys the attached keys, sorted, when asked for."""

    revision: int
    id: int
    ttl: int
    granted_ttl: int = 0
    keys: tuple[bytes, ...] = ()


@attrs.frozen
class LeaseLeasesResponse:
    """Every lease's ID, soonest expiry first."""

    revision: int
    ids: tuple[int, ...] = ()


@attrs.frozen
class Event:
    """One change seen by a watcher: `type` is "PUT" or "DELETE"; prev_kv is the key's state
    just before (only when the watcher asked for it and that state is still retained)."""

    type: str
    kv: KeyValue
    prev_kv: KeyValue | None = None

    @property
    def revision(self) -> int:
        return self.kv.mod_revision


Request = RangeRequest | PutRequest | DeleteRangeRequest | TxnRequest
Response = RangeResponse | PutResponse | DeleteRangeResponse | TxnResponse
