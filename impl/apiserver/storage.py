"""Objects in the replicated store, as kube-apiserver's etcd3 storage layer keeps them.

Source: k8s.io/apiserver ``pkg/storage/etcd3/store.go``. The facts this module keeps:

- An object is stored as its JSON encoding under ``/registry/<resource>/[<namespace>/]<name>``
  (``impl/etcd/registry.py``); its ``metadata.resourceVersion`` is not stored but set, on every
  read, from the key's ``mod_revision``. So a resourceVersion *is* a store revision.
- Create is one txn: "if the key's create_revision is 0, put it" (else AlreadyExists).
- Update and delete are guarded by the key's mod_revision ("if mod_revision is still R"): two
  writers that read the same revision cannot both succeed; the loser gets a Conflict, or, for an
  unconditional update, reads again and retries (``GuaranteedUpdate``, in ``writes.py``: admission
  runs again on each attempt).
- A store error becomes a Status: a compacted revision is 410 Expired, a revision the store has
  not reached 504 Timeout ("Too large resource version"), an unavailable store 504 Timeout.

Every operation is a generator: it yields ``StoreCall`` effects and receives ``StoreAnswer``
values, so the same code runs against the simulated cluster (an instance sends the call and
resumes when the answer arrives) and in-process (``LocalStore``), sans-I/O.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from typing import Any

import attrs

from impl.apiserver.resources import ResourceType
from impl.apiserver.status import ApiError
from impl.etcd.errors import EtcdError
from impl.etcd.messages import describe_request
from impl.etcd.mvcc import Store
from impl.etcd.registry import list_range, storage_key
from impl.etcd.types import Compare, DeleteRangeRequest, KeyValue, PutRequest, RangeRequest, TxnRequest

__all__ = ["StoreCall", "StoreAnswer", "Deleted", "Effects", "encode", "decode", "key_of", "ObjectStore", "LocalStore",
           "UPDATE_ATTEMPTS_MAX", "COMPACTED", "FUTURE_REVISION"]

COMPACTED = "etcdserver: mvcc: required revision has been compacted"
FUTURE_REVISION = "etcdserver: mvcc: required revision is a future revision"
UPDATE_ATTEMPTS_MAX = 5  # GuaranteedUpdate's retries of an unconditional update under contention


@attrs.frozen
class StoreCall:
    op: Any

    def describe(self) -> str:
        return describe_request(self.op)


@attrs.frozen
class StoreAnswer:
    """The store's response, or why there is none: an etcd error message, or ``unavailable``
    (no member answered in time: the outcome of a write is unknown)."""

    response: Any = None
    error: str | None = None


@attrs.frozen
class Deleted:
    """What an update that ended in a deletion returns (the last finalizer removed from an
    object being deleted): the deletion's revision and the object as it was last stored."""

    revision: int
    last: dict[str, Any] = attrs.field(eq=False)


Effects = Generator[Any, Any, Any]  # yields effects (StoreCall, ...), receives their answers


def encode(obj: dict[str, Any]) -> bytes:
    """The stored bytes: the object without its resourceVersion (the store's revision is it)."""
    meta = dict(obj.get("metadata") or {})
    meta.pop("resourceVersion", None)
    return json.dumps({**obj, "metadata": meta}, sort_keys=True, separators=(",", ":")).encode()


def decode(kv: KeyValue) -> dict[str, Any]:
    obj = json.loads(kv.value)
    obj["metadata"]["resourceVersion"] = str(kv.mod_revision)
    return obj


def key_of(resource: ResourceType, namespace: str, name: str) -> bytes:
    return storage_key(resource.storage_resource, namespace if resource.namespaced else None, name)


def _store_error(error: str, resource: ResourceType, name: str) -> ApiError:
    if error == COMPACTED:
        return ApiError.gone("The resourceVersion for the provided watch or list is too old.")
    if error == FUTURE_REVISION:
        return ApiError("Timeout", "Too large resource version")
    if error.startswith("unavailable"):
        return ApiError("Timeout", f"the store did not answer in time ({error}); the outcome of a write is unknown")
    return ApiError("InternalError", f"{resource.qualified} {name!r}: {error}")


def _call(op: Any, resource: ResourceType, name: str) -> Effects:
    answer: StoreAnswer = yield StoreCall(op)
    if answer.error is not None:
        raise _store_error(answer.error, resource, name)
    return answer.response


class ObjectStore:
    """The storage operations of one resource type (etcd3 ``store``)."""

    def __init__(self, resource: ResourceType) -> None:
        self.resource = resource

    def key(self, namespace: str, name: str) -> bytes:
        return key_of(self.resource, namespace, name)

    def get(self, namespace: str, name: str, revision: int = 0) -> Effects:
        """(object or None, the store's revision)."""
        response = yield from _call(RangeRequest(self.key(namespace, name), revision=revision), self.resource, name)
        return (decode(response.kvs[0]) if response.kvs else None), response.revision

    def list(self, namespace: str | None, revision: int = 0, limit: int = 0, start: bytes = b"") -> Effects:
        """(objects, the revision read at, the last key read if more remain)."""
        key, end = list_range(self.resource.storage_resource, namespace if self.resource.namespaced else None)
        response = yield from _call(RangeRequest(start or key, end, limit=limit, revision=revision),
                                    self.resource, "")
        objects = [decode(kv) for kv in response.kvs]
        last = response.kvs[-1].key if response.more and response.kvs else None
        return objects, response.revision, last

    def create(self, namespace: str, name: str, obj: dict[str, Any]) -> Effects:
        key = self.key(namespace, name)
        txn = TxnRequest((Compare(key, "CREATE", "EQUAL", 0),), (PutRequest(key, encode(obj)),), ())
        response = yield from _call(txn, self.resource, name)
        if not response.succeeded:
            raise ApiError.already_exists(self.resource.plural, name, self.resource.group)
        return {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(response.revision)}}

    def write_if_unchanged(self, namespace: str, name: str, obj: dict[str, Any], revision: int) -> Effects:
        """Put ``obj`` if the key's mod_revision is still ``revision``: the new object, or None
        when someone wrote in between."""
        key = self.key(namespace, name)
        txn = TxnRequest((Compare(key, "MOD", "EQUAL", revision),), (PutRequest(key, encode(obj)),), ())
        response = yield from _call(txn, self.resource, name)
        if not response.succeeded:
            return None
        return {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(response.revision)}}

    def delete_if_unchanged(self, namespace: str, name: str, revision: int) -> Effects:
        """Delete the key if its mod_revision is still ``revision``: the deletion's revision, or
        None when someone wrote in between."""
        key = self.key(namespace, name)
        txn = TxnRequest((Compare(key, "MOD", "EQUAL", revision),), (DeleteRangeRequest(key),), ())
        response = yield from _call(txn, self.resource, name)
        return response.revision if response.succeeded else None

    def conflict(self, name: str) -> ApiError:
        return ApiError.conflict(self.resource.plural, name,
                                 "the object has been modified; please apply your changes to the latest version "
                                 "and try again", self.resource.group)


class LocalStore:
    """Runs storage generators against an in-process MVCC store: tests and benchmarks."""

    def __init__(self, store: Store | None = None) -> None:
        self.store = store or Store()

    def answer(self, call: StoreCall) -> StoreAnswer:
        try:
            return StoreAnswer(self.store.execute(call.op))
        except EtcdError as error:
            return StoreAnswer(error=str(error))
