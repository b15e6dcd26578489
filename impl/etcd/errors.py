"""The store's typed errors, each carrying etcd v3.5's exact message and its gRPC status code.

etcd reports errors as gRPC statuses whose message is a fixed string ("etcdserver: mvcc:
required revision has been compacted"); clients match on that string (see the etcd "API" page,
and `rpctypes` in the Go client). Keeping the exact text lets the differential test compare
our errors with a real server's, and lets a learner grep etcd's documentation for them.

Any exception raised by the store that is not an `EtcdError` is a bug in the store.
"""

from __future__ import annotations

__all__ = [
    "EtcdError",
    "ErrCompacted",
    "ErrFutureRev",
    "ErrEmptyKey",
    "ErrKeyNotFound",
    "ErrDuplicateKey",
    "ErrTooManyOps",
    "ErrLeaseNotFound",
    "ErrLeaseExist",
    "ErrLeaseTTLTooLarge",
    "ErrValueProvided",
    "ErrLeaseProvided",
    "error_from_message",
]


class EtcdError(Exception):
    """Base of the family. `message` is etcd's text, `code` the gRPC status code name."""

    message = "etcdserver: unknown error"
    code = "Unknown"

    def __init__(self) -> None:
        super().__init__(self.message)

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other)

    def __hash__(self) -> int:
        return hash(type(self))

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class ErrCompacted(EtcdError):
    """A range, watch or compaction asked for a revision that compaction already discarded."""

    message = "etcdserver: mvcc: required revision has been compacted"
    code = "OutOfRange"


class ErrFutureRev(EtcdError):
    """A range or compaction asked for a revision the store has not reached yet."""

    message = "etcdserver: mvcc: required revision is a future revision"
    code = "OutOfRange"


class ErrEmptyKey(EtcdError):
    """A put, range or delete without a key (an empty key is never valid)."""

    message = "etcdserver: key is not provided"
    code = "InvalidArgument"


class ErrKeyNotFound(EtcdError):
    """A put with ignore_value on a key that does not exist: there is no value to keep."""

    message = "etcdserver: key not found"
    code = "InvalidArgument"


class ErrDuplicateKey(EtcdError):
    """One txn branch writes a key twice (two puts, or a put inside a deleted range)."""

    message = "etcdserver: duplicate key given in txn request"
    code = "InvalidArgument"


class ErrTooManyOps(EtcdError):
    """A txn with more compares or operations per branch than the limit (128 by default)."""

    message = "etcdserver: too many operations in txn request"
    code = "InvalidArgument"


class ErrLeaseNotFound(EtcdError):
    """A put, keep-alive or revoke names a lease that was never granted, or was revoked or
    has expired (etcd "API" page, Lease API)."""

    message = "etcdserver: requested lease not found"
    code = "NotFound"


class ErrLeaseExist(EtcdError):
    """A grant names an ID that an existing lease already has."""

    message = "etcdserver: lease already exists"
    code = "FailedPrecondition"


class ErrLeaseTTLTooLarge(EtcdError):
    """A grant asks for a TTL above etcd's maximum (9,000,000,000 seconds)."""

    message = "etcdserver: too large lease TTL"
    code = "OutOfRange"


class ErrValueProvided(EtcdError):
    """A put with ignore_value that also carries a value: the two contradict each other."""

    message = "etcdserver: value is provided"
    code = "InvalidArgument"


class ErrLeaseProvided(EtcdError):
    """A put with ignore_lease that also names a lease."""

    message = "etcdserver: lease is provided"
    code = "InvalidArgument"


_BY_MESSAGE = {cls.message: cls for cls in (
    ErrCompacted, ErrFutureRev, ErrEmptyKey, ErrKeyNotFound, ErrDuplicateKey, ErrTooManyOps,
    ErrLeaseNotFound, ErrLeaseExist, ErrLeaseTTLTooLarge, ErrValueProvided, ErrLeaseProvided,
)}


def error_from_message(message: str) -> EtcdError | None:
    """The typed error whose etcd text is `message`, or None when the text is not one of ours."""
    cls = _BY_MESSAGE.get(message)
    return cls() if cls else None
