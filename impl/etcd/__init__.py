"""The etcd-style store: a deterministic, sans-I/O MVCC key-value store with etcd v3.5's
semantics (revisions, versions, ranges at past revisions, txns, compaction) and store-level
watchers (mvcc.py, watch.py), leases kept in ticks passed in by the caller (lease.py), and the
replicated service around it: a member applies the store from its Raft log and serves reads,
writes, watches and leases (member.py, read_index.py, watch_streams.py); a client follows the
leader and records what it saw (client.py, client_log.py). registry.py lays out the API
server's keys; bugs.py holds the catalog.

Not modelled: nested txns, range sorting and revision filters, lease checkpoints, snapshots
(a restarted member replays its log from index 1), membership changes.
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
