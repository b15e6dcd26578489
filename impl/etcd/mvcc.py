"""A deterministic, sans-I/O multi-version key-value store with etcd v3.5's semantics.

What it keeps (etcd docs, "Data model" and "API"):

- A single revision counter for the whole keyspace. The store starts at revision 1. Every
  request that changes something (a put, a delete that deletes at least one key, a txn with at
  least one such operation) gets exactly one new revision; all keys changed by one txn share
  it. A request that changes nothing (deleting a missing key, a read) leaves it alone.
- Per key: create_revision (revision of its last creation), mod_revision (last change) and
  version (1 on creation, +1 per put, back to "absent" on deletion).
- Every past version, so a range can read the keyspace as of any revision not yet compacted.
  Compact(r) discards versions nobody may ask for: afterwards a read below r fails with
  ErrCompacted, as does a second compaction at or below r. A read or compaction above the
  current revision fails with ErrFutureRev.
- Txn: compares read the revision the txn starts from; then every operation of the chosen
  branch runs in order, each seeing the writes of the ones before it ("API guarantees":
  a txn is atomic and serializable). Each sub-response's revision is the one it observed.
- Watchers (watch.py), fed the events of each committed revision in the order they happened.
- Leases (lease.py; etcd "API" page, Lease API): a put naming a lease attaches its key, a put
  without one detaches it, ignore_lease keeps the key's lease, deleting the key detaches it.
  Revoking a lease, by a client or by the leader once `expired_leases` reports it, deletes its
  keys in one txn: one new revision (none if it had no keys) with one DELETE event per key, in
  key order (lessor.Revoke sorts them so every member writes the same history).

Range sorting and min/max revision filters are not modelled.

Reads and writes are methods that return immutable responses (types.py) or raise an
`EtcdError` (errors.py); `execute` takes a request value instead of keyword arguments.
"""

from __future__ import annotations

import bisect
from typing import Iterable

from impl.etcd.errors import (
    ErrCompacted,
    ErrFutureRev,
    ErrKeyNotFound,
    ErrLeaseNotFound,
)
from impl.etcd.keyspace import ALL_KEYS, KeyHistory
from impl.etcd.lease import MIN_LEASE_TTL, NO_LEASE, Lessor
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
    Request,
    Response,
    TxnRequest,
    TxnResponse,
)
from impl.etcd.validate import check_request
from impl.etcd.watch import Watcher

__all__ = ["Store", "FIRST_REVISION"]

FIRST_REVISION = 1  # a fresh etcd reports revision 1 before any write


class Store:
    """The MVCC store: one keyspace, its history, and its watchers."""

    def __init__(self, min_lease_ttl: int = MIN_LEASE_TTL) -> None:
        self._lessor = Lessor(min_lease_ttl)
        self._revision = FIRST_REVISION
        self._compacted = -1  # etcd's compactMainRev before any compaction
        self._keys: list[bytes] = []  # sorted; every key with retained history
        self._histories: dict[bytes, KeyHistory] = {}
        self._events: list[Event] = []  # retained events in order, without prev_kv
        self._watchers: dict[int, Watcher] = {}
        self._next_watch_id = 0

    @property
    def revision(self) -> int:
        """The revision of the last change (1 if nothing ever changed)."""
        return self._revision

    @property
    def compact_revision(self) -> int:
        """The revision of the last compaction, 0 if there was none."""
        return max(self._compacted, 0)

    # ---- the API, one method per etcd RPC -------------------------------------------------

    def range(self, key: bytes, range_end: bytes = b"", *, limit: int = 0, revision: int = 0,
              count_only: bool = False, keys_only: bool = False,
              serializable: bool = False) -> RangeResponse:
        return self.execute(RangeRequest(key, range_end, limit, revision, count_only, keys_only,
                                         serializable))

    def put(self, key: bytes, value: bytes = b"", *, lease: int = 0, prev_kv: bool = False,
            ignore_value: bool = False, ignore_lease: bool = False) -> PutResponse:
        return self.execute(PutRequest(key, value, lease, prev_kv, ignore_value, ignore_lease))

    def delete_range(self, key: bytes, range_end: bytes = b"", *,
                     prev_kv: bool = False) -> DeleteRangeResponse:
        return self.execute(DeleteRangeRequest(key, range_end, prev_kv))

    def txn(self, compare: Iterable[Compare] = (), success: Iterable[Request] = (),
            failure: Iterable[Request] = ()) -> TxnResponse:
        return self.execute(TxnRequest(tuple(compare), tuple(success), tuple(failure)))

    def execute(self, request: Request) -> Response:
        """Serve one request atomically: validate it, run it, commit its changes (if any) as
        one new revision and hand the events to the watchers."""
        check_request(request)
        if isinstance(request, TxnRequest):
            return self._txn(request)
        self._check_against_state(request)
        write = _Write(self)
        response = write.apply(request)
        self._commit(write)
        return response

    def compact(self, revision: int) -> CompactionResponse:
        """Discard every version a read at `revision` or later cannot see ("Data model":
        compaction). The key's state at `revision` itself stays readable. The store compacts
        at once, as etcd does by the time a Compact with physical=true returns (without it
        etcd removes old versions in the background)."""
        if revision <= self._compacted:
            raise ErrCompacted()
        if revision > self._revision:
            raise ErrFutureRev()
        self._compacted = revision
        self._compact_histories(revision)
        self._events = _retained_events(self._events, revision)
        return CompactionResponse(self._revision)

    # ---- leases (etcd "API" page, Lease API; time in ticks passed by the caller) ----------

    def lease_grant(self, lease_id: int, ttl: int, *, now: int = 0) -> LeaseGrantResponse:
        """LeaseGrant: a lease due at now + ttl (ttl raised to the minimum); lease_id 0 lets
        the store choose. ErrLeaseExist if the ID is taken. Changes no revision."""
        lease = self._lessor.grant(lease_id, ttl, now)
        return LeaseGrantResponse(self._revision, lease.id, lease.ttl)

    def lease_keep_alive(self, lease_id: int, now: int) -> LeaseKeepAliveResponse:
        """LeaseKeepAlive: the lease is next due at now + its TTL. ErrLeaseNotFound if it does
        not exist or has already expired (its revocation is pending)."""
        lease = self._lessor.renew(lease_id, now)
        return LeaseKeepAliveResponse(self._revision, lease.id, lease.ttl)

    def lease_revoke(self, lease_id: int) -> LeaseRevokeResponse:
        """LeaseRevoke: delete every attached key in one new revision (one DELETE event per
        key, in key order), then forget the lease. No keys: no new revision."""
        self._delete_keys(sorted(self._lessor.get(lease_id).keys))
        self._lessor.remove(lease_id)
        return LeaseRevokeResponse(self._revision)

    def _delete_keys(self, keys: list[bytes]) -> None:
        """Delete these keys in one txn: one revision, one DELETE event each, in this order."""
        write = _Write(self)
        for key in keys:
            write.apply(DeleteRangeRequest(key))
        self._commit(write)

    def lease_time_to_live(self, lease_id: int, keys: bool = False, *,
                           now: int = 0) -> LeaseTimeToLiveResponse:
        """LeaseTimeToLive: ticks left and granted TTL; ttl -1 for a missing lease (etcd's
        gRPC layer answers so rather than failing); the attached keys, sorted, if asked."""
        lease = self._lessor.lookup(lease_id)
        if lease is None:
            return LeaseTimeToLiveResponse(self._revision, lease_id, -1)
        attached = tuple(sorted(lease.keys)) if keys else ()
        return LeaseTimeToLiveResponse(self._revision, lease_id, lease.remaining(now),
                                       lease.ttl, attached)

    def leases(self) -> LeaseLeasesResponse:
        """LeaseLeases: every lease ID, soonest expiry first."""
        ids = tuple(lease.id for lease in self._lessor.by_expiry())
        return LeaseLeasesResponse(self._revision, ids)

    def lease_due(self, lease_id: int, now: int) -> bool:
        """Whether the lease exists but its deadline has passed: its revocation is pending,
        and a keep-alive must wait for it (etcd's lessor.Renew waits on the lease's revokec)."""
        lease = self._lessor.lookup(lease_id)
        return lease is not None and lease.expired(now)

    def expired_leases(self, now: int) -> list[int]:
        """The leases due at or before tick `now`, soonest first. Only the leader asks; it
        then proposes `lease_revoke` for each, which every member applies from its log."""
        return self._lessor.expired(now)

    def lease_promote(self, now: int) -> None:
        """Called on the member that becomes leader: every deadline restarts at now + TTL, as
        etcd's lessor.Promote does (followers keep no deadlines of their own)."""
        self._lessor.promote(now)

    # ---- watch ------------------------------------------------------------------------------

    def watch(self, key: bytes, range_end: bytes = b"", *, start_revision: int = 0,
              prev_kv: bool = False) -> Watcher:
        """Create a watcher over `key` or [key, range_end) from `start_revision` (inclusive;
        0 means "from the next revision"). It immediately holds every retained event from the
        start on. A start below the compacted revision cancels it with compact_revision set."""
        start = start_revision if start_revision > 0 else self._revision + 1
        watcher = Watcher(self._next_watch_id, key, range_end, start, prev_kv)
        self._next_watch_id += 1
        if start < self._compacted:
            watcher.cancel(compact_revision=self._compacted)
            return watcher
        self._watchers[watcher.id] = watcher
        self._deliver(self._events, (watcher,))
        return watcher

    def cancel_watch(self, watcher: Watcher) -> None:
        """Stop feeding `watcher`; events not yet taken are dropped."""
        self._watchers.pop(watcher.id, None)
        watcher.cancel()

    # ---- reading ----------------------------------------------------------------------------

    def kvs_at(self, key: bytes, range_end: bytes, revision: int) -> list[KeyValue]:
        """Every live key in the range as of `revision`, sorted by key (no revision checks)."""
        states = (self._histories[name].at(revision) for name in self._keys_in(key, range_end))
        return [state for state in states if state is not None]

    def _keys_in(self, key: bytes, range_end: bytes) -> list[bytes]:
        start = bisect.bisect_left(self._keys, key)
        if not range_end:
            return self._keys[start:start + 1] if self._keys[start:start + 1] == [key] else []
        if range_end == ALL_KEYS:
            return self._keys[start:]
        return self._keys[start:max(start, bisect.bisect_left(self._keys, range_end))]

    def _check_read_revision(self, revision: int, current: int) -> None:
        if revision > current:
            raise ErrFutureRev()
        if revision < self._compacted:
            raise ErrCompacted()

    def _check_against_state(self, request: Request, in_txn: bool = False) -> None:
        """The checks etcd makes against the revision the request starts from. A put checks
        that its lease exists and, with ignore_value, that its key does; a plain put looks at
        the lease first, a put inside a txn at the key first (two code paths in etcd 3.5)."""
        if isinstance(request, RangeRequest) and request.revision > 0:
            self._check_read_revision(request.revision, self._revision)
        if not isinstance(request, PutRequest):
            return
        needs_key = request.ignore_value or request.ignore_lease
        lease_missing = request.lease and self._lessor.lookup(request.lease) is None
        if lease_missing and not in_txn:
            raise ErrLeaseNotFound()
        if needs_key and not self._latest(request.key):
            raise ErrKeyNotFound()
        if lease_missing:
            raise ErrLeaseNotFound()

    def _latest(self, key: bytes) -> KeyValue | None:
        history = self._histories.get(key)
        return history.latest() if history else None

    # ---- txn --------------------------------------------------------------------------------

    def _txn(self, request: TxnRequest) -> TxnResponse:
        succeeded = all(self._holds(compare) for compare in request.compare)
        operations = request.success if succeeded else request.failure
        self._check_branch(operations)
        write = _Write(self)
        responses = tuple(write.apply(operation) for operation in operations)
        self._commit(write)
        return TxnResponse(write.read_revision(), succeeded, responses)

    def _check_branch(self, operations: tuple[Request, ...]) -> None:
        """etcd checks the chosen branch against the starting revision in two passes: every
        put first (ignore_value needs the key, a lease must exist), then every range (its
        revision must be retained and not in the future). The first failure fails the txn."""
        for index, operation in enumerate(operations):
            if isinstance(operation, PutRequest):
                self._check_against_state(operation, in_txn=True)
                _check_not_deleted_earlier(operation, operations[:index])
        for operation in operations:
            if isinstance(operation, RangeRequest):
                self._check_against_state(operation)

    def _holds(self, compare: Compare) -> bool:
        """etcd's applyCompare: every key in the range must satisfy the compare; no key at all
        compares as a zero KeyValue, except that a VALUE compare then fails."""
        kvs = self.kvs_at(compare.key, compare.range_end, self._revision)
        if not kvs:
            return compare.target != "VALUE" and _compare_kv(compare, KeyValue(compare.key))
        return all(_compare_kv(compare, kv) for kv in kvs)

    # ---- writing ----------------------------------------------------------------------------

    @staticmethod
    def _page(kvs: list[KeyValue], limit: int) -> tuple[list[KeyValue], int, bool]:
        """A range's answer under ``limit`` (0: none): the first ``limit`` keys, how many keys
        the range holds in all (count), and whether some were left out (more)."""
        count = len(kvs)
        return (kvs[:limit] if limit > 0 else kvs), count, 0 < limit < count

    @staticmethod
    def _next_state(key: bytes, previous: KeyValue | None, value: bytes, lease: int,
                    revision: int) -> KeyValue:
        """The key after a put at ``revision``: a new incarnation (version 1, created now)
        when it was absent, even if it existed before a deletion; else one version more."""
        if previous is None:
            return KeyValue(key, revision, revision, 1, value, lease)
        return KeyValue(key, previous.create_revision, revision, previous.version + 1, value, lease)

    def _move_lease(self, key: bytes, old: int, new: int) -> None:
        """A put detaches the key from its old lease and attaches it to the new one (either
        may be NO_LEASE, or both the same lease)."""
        self._lessor.detach(old, key)
        self._lessor.attach(new, key)

    def _record(self, revision: int, key: bytes, state: KeyValue | None) -> None:
        if key not in self._histories:
            self._histories[key] = KeyHistory()
            bisect.insort(self._keys, key)
        self._histories[key].record(revision, state)

    def _commit(self, write: "_Write") -> None:
        if not write.events:
            return
        self._revision = write.revision
        self._events.extend(write.events)
        self._deliver(write.events, [self._watchers[i] for i in sorted(self._watchers)])

    def _deliver(self, events: list[Event], watchers: Iterable[Watcher]) -> None:
        for watcher in watchers:
            for event in events:
                if watcher.wants(event):
                    watcher.deliver(self._with_prev_kv(event, watcher.prev_kv))

    def _with_prev_kv(self, event: Event, wanted: bool) -> Event:
        """etcd's watch server fills prev_kv by reading the key at the event's revision - 1;
        when that revision is compacted the read fails and the event goes without it. A
        creation (a PUT whose create_revision is its mod_revision) never gets one, even when
        the same txn deleted an older incarnation of the key just before."""
        before = event.revision - 1
        is_create = event.type == "PUT" and event.kv.create_revision == event.kv.mod_revision
        if not wanted or is_create or before < self._compacted:
            return event
        history = self._histories.get(event.kv.key)
        previous = history.at(before) if history else None
        return Event(event.type, event.kv, previous)

    def _compact_histories(self, revision: int) -> None:
        for key in list(self._keys):
            history = self._histories[key]
            history.compact(revision)
            if history.is_empty():
                del self._histories[key]
                self._keys.remove(key)


class _Write:
    """The writes of one request or txn, applied to the histories at `revision` (the next
    one) as they happen so later operations of the same txn read them. Its events are handed
    to the store's commit; if there are none the revision is never used."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.revision = store.revision + 1
        self.events: list[Event] = []

    def read_revision(self) -> int:
        """The revision an operation reads at: the new one once something changed."""
        return self.revision if self.events else self.revision - 1

    def apply(self, request: Request) -> Response:
        if isinstance(request, RangeRequest):
            return self._range(request)
        if isinstance(request, PutRequest):
            return self._put(request)
        assert isinstance(request, DeleteRangeRequest), request
        return self._delete(request)

    def _range(self, request: RangeRequest) -> RangeResponse:
        current = self.read_revision()
        revision = request.revision if request.revision > 0 else current
        self.store._check_read_revision(revision, current)
        kvs = self.store.kvs_at(request.key, request.range_end, revision)
        if request.count_only:
            return RangeResponse(current, (), len(kvs), False)
        kvs, count, more = self.store._page(kvs, request.limit)
        if request.keys_only:
            kvs = [KeyValue(kv.key, kv.create_revision, kv.mod_revision, kv.version, b"", kv.lease)
                   for kv in kvs]
        return RangeResponse(current, tuple(kvs), count, more)

    def _put(self, request: PutRequest) -> PutResponse:
        previous = self.store._latest(request.key)
        value = previous.value if request.ignore_value and previous else request.value
        lease = previous.lease if request.ignore_lease and previous else request.lease
        kv = self.store._next_state(request.key, previous, value, lease, self.revision)
        self.store._move_lease(request.key, previous.lease if previous else NO_LEASE, lease)
        self.store._record(self.revision, request.key, kv)
        self.events.append(Event("PUT", kv))
        return PutResponse(self.revision, previous if request.prev_kv else None)

    def _delete(self, request: DeleteRangeRequest) -> DeleteRangeResponse:
        doomed = self.store.kvs_at(request.key, request.range_end, self.read_revision())
        for kv in doomed:
            self.store._lessor.detach(kv.lease, kv.key)
            self.store._record(self.revision, kv.key, None)
            self.events.append(Event("DELETE", KeyValue(kv.key, mod_revision=self.revision)))
        prev_kvs = tuple(doomed) if request.prev_kv else ()
        return DeleteRangeResponse(self.read_revision(), len(doomed), prev_kvs)


def _check_not_deleted_earlier(operation: Request, earlier: tuple[Request, ...]) -> None:
    """A put with ignore_value needs the key's current value. A delete of every key >= k
    earlier in the same branch escapes etcd's overlap check (validate.py), so the key may be
    gone by the time the put runs: etcd 3.5.1 then panics ("unexpected error during txn",
    found by the differential test). This store refuses such a txn up front instead."""
    if not isinstance(operation, PutRequest):
        return
    if not (operation.ignore_value or operation.ignore_lease):
        return
    for previous in earlier:
        if (isinstance(previous, DeleteRangeRequest) and previous.range_end == ALL_KEYS
                and operation.key >= previous.key):
            raise ErrKeyNotFound()


def _compare_kv(compare: Compare, kv: KeyValue) -> bool:
    """etcd's compareKV: order the key's target against the operand, then test the relation."""
    actual = {"VALUE": kv.value, "VERSION": kv.version, "CREATE": kv.create_revision,
              "MOD": kv.mod_revision}[compare.target]
    order = (actual > compare.operand) - (actual < compare.operand)
    return {"EQUAL": order == 0, "NOT_EQUAL": order != 0, "GREATER": order > 0,
            "LESS": order < 0}[compare.result]


def _retained_events(events: list[Event], revision: int) -> list[Event]:
    """The events a watch may still replay after compacting at `revision`: all later ones,
    and of the events at `revision` itself, each key's last one when it is a PUT (compaction
    keeps a key's version at `revision` but removes a deletion's tombstone)."""
    later = [event for event in events if event.revision > revision]
    at_revision = [event for event in events if event.revision == revision]
    last_by_key = {event.kv.key: event for event in at_revision}
    kept = [event for event in at_revision
            if last_by_key[event.kv.key] is event and event.type == "PUT"]
    return kept + later
