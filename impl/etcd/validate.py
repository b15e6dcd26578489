"""Checks etcd makes on a request before it touches the store (the gRPC layer's
checkRangeRequest, checkPutRequest, checkDeleteRequest, checkTxnRequest and checkIntervals).

They depend on the request alone, so a request that fails them changes nothing and costs no
revision. The checks that need the store's state (a range at a compacted or future revision,
ignore_value on a missing key) are made in mvcc.py, against the revision the txn starts from.
"""

from __future__ import annotations

from impl.etcd.errors import (
    ErrDuplicateKey,
    ErrEmptyKey,
    ErrLeaseProvided,
    ErrTooManyOps,
    ErrValueProvided,
)
from impl.etcd.keyspace import ALL_KEYS, in_range
from impl.etcd.types import DeleteRangeRequest, PutRequest, Request, TxnRequest

__all__ = ["MAX_TXN_OPS", "check_request"]

# etcd's --max-txn-ops default: compares, and operations per branch, each at most this many.
MAX_TXN_OPS = 128


def check_request(request: Request) -> None:
    """Raise the error etcd's gRPC layer answers for a malformed request; None if well formed."""
    if isinstance(request, TxnRequest):
        _check_txn(request)
        return
    if not request.key:
        raise ErrEmptyKey()
    if isinstance(request, PutRequest):
        _check_put(request)


def _check_put(request: PutRequest) -> None:
    if request.ignore_value and request.value:
        raise ErrValueProvided()
    if request.ignore_lease and request.lease:
        raise ErrLeaseProvided()


def _check_txn(request: TxnRequest) -> None:
    branches = (request.success, request.failure)
    if len(request.compare) > MAX_TXN_OPS or any(len(ops) > MAX_TXN_OPS for ops in branches):
        raise ErrTooManyOps()
    for operation in request.success + request.failure:
        if isinstance(operation, TxnRequest):
            raise NotImplementedError("nested txns are not supported by this store")
        check_request(operation)
    for operation_list in branches:
        _check_disjoint_writes(operation_list)


def _check_disjoint_writes(operations: tuple[Request, ...]) -> None:
    """One branch may not put a key twice, nor put a key that one of its deletes covers.

    A delete whose range_end is b"\\0" is exempt: etcd checks overlap with an interval tree in
    which b"\\0" is an ordinary (tiny) end, not "to the end of the keyspace", so such a delete
    never overlaps a put and the txn writes the key twice, in order."""
    deletes = [op for op in operations if isinstance(op, DeleteRangeRequest)]
    seen: set[bytes] = set()
    for operation in operations:
        if not isinstance(operation, PutRequest):
            continue
        if operation.key in seen or any(_covers(delete, operation.key) for delete in deletes):
            raise ErrDuplicateKey()
        seen.add(operation.key)


def _covers(delete: DeleteRangeRequest, key: bytes) -> bool:
    if delete.range_end == ALL_KEYS:
        return False
    return in_range(key, delete.key, delete.range_end)
