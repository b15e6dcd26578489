"""The etcd-style store: a deterministic, sans-I/O MVCC key-value store with etcd v3.5's
semantics (revisions, versions, ranges at past revisions, txns, compaction) and store-level
watchers. See mvcc.py for the rules it keeps and the etcd documentation pages they come from.

Leases (lease.py) are kept with ticks passed in by the caller instead of a clock.

Not modelled yet: nested txns, range sorting and revision filters, progress notifications,
Raft replication, lease checkpoints.
"""

from impl.etcd.errors import (
    ErrCompacted,
    ErrDuplicateKey,
    ErrEmptyKey,
    ErrFutureRev,
    ErrKeyNotFound,
    ErrLeaseExist,
    ErrLeaseNotFound,
    ErrLeaseProvided,
    ErrLeaseTTLTooLarge,
    ErrTooManyOps,
    ErrValueProvided,
    EtcdError,
    error_from_message,
)
from impl.etcd.keyspace import ALL_KEYS, in_range, prefix_end
from impl.etcd.lease import MAX_LEASE_TTL, MIN_LEASE_TTL, NO_LEASE
from impl.etcd.mvcc import FIRST_REVISION, Store
from impl.etcd.types import (
    Compare,
    CompactionResponse,
    DeleteRangeRequest,
    DeleteRangeResponse,
    Event,
    KeyValue,
    LeaseGrantResponse,
    LeaseKeepAliveResponse,
    LeaseLeasesResponse,
    LeaseRevokeResponse,
    LeaseTimeToLiveResponse,
    PutRequest,
    PutResponse,
    RangeRequest,
    RangeResponse,
    TxnRequest,
    TxnResponse,
)
from impl.etcd.validate import MAX_TXN_OPS
from impl.etcd.watch import Watcher

__all__ = [
    "ALL_KEYS", "FIRST_REVISION", "MAX_TXN_OPS", "Store", "Watcher",
    "MAX_LEASE_TTL", "MIN_LEASE_TTL", "NO_LEASE",
    "LeaseGrantResponse", "LeaseKeepAliveResponse", "LeaseLeasesResponse",
    "LeaseRevokeResponse", "LeaseTimeToLiveResponse",
    "in_range", "prefix_end",
    "Compare", "CompactionResponse", "DeleteRangeRequest", "DeleteRangeResponse", "Event",
    "KeyValue", "PutRequest", "PutResponse", "RangeRequest", "RangeResponse", "TxnRequest",
    "TxnResponse",
    "EtcdError", "ErrCompacted", "ErrDuplicateKey", "ErrEmptyKey", "ErrFutureRev",
    "ErrKeyNotFound", "ErrLeaseExist", "ErrLeaseNotFound", "ErrLeaseProvided",
    "ErrLeaseTTLTooLarge", "ErrTooManyOps",
    "ErrValueProvided", "error_from_message",
]
